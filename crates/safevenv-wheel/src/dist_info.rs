//! The `.dist-info` text files: WHEEL (6), METADATA (7) and `entry_points.txt`.

use std::str::FromStr;

use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::WheelError;

/// The header block of an email-style file (WHEEL, METADATA): `Key: value` lines up to the
/// first empty line; continuation lines (leading whitespace) are skipped.
fn headers(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines()
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| !line.starts_with([' ', '\t']))
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim(), value.trim()))
}

fn first_header<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    headers(text)
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, value)| value)
}

/// What (6) establishes from WHEEL.
pub(crate) struct WheelFields {
    pub(crate) version: (u64, u64),
    pub(crate) root_is_purelib: bool,
}

/// (6): `Wheel-Version` must be `1.x` (PEP 427: "a wheel installer should ... fail if
/// Wheel-Version is greater than the version it supports"; a new major means an
/// incompatible layout), and `Root-Is-Purelib` says where the root goes.
pub(crate) fn parse_wheel(text: &str, wheel: &str) -> Result<WheelFields, WheelError> {
    let missing = |field| WheelError::WheelFieldMissing {
        wheel: wheel.to_string(),
        field,
    };
    let value = first_header(text, "Wheel-Version").ok_or_else(|| missing("Wheel-Version"))?;
    let invalid = || WheelError::InvalidWheelVersion {
        wheel: wheel.to_string(),
        value: value.to_string(),
    };
    let (major, minor) = value.split_once('.').ok_or_else(invalid)?;
    let major: u64 = major.parse().map_err(|_| invalid())?;
    let minor: u64 = minor.parse().map_err(|_| invalid())?;
    if major != 1 {
        return Err(WheelError::UnsupportedWheelVersion {
            wheel: wheel.to_string(),
            value: value.to_string(),
        });
    }
    let purelib =
        first_header(text, "Root-Is-Purelib").ok_or_else(|| missing("Root-Is-Purelib"))?;
    let root_is_purelib = if purelib.eq_ignore_ascii_case("true") {
        true
    } else if purelib.eq_ignore_ascii_case("false") {
        false
    } else {
        return Err(WheelError::InvalidRootIsPurelib {
            wheel: wheel.to_string(),
            value: purelib.to_string(),
        });
    };
    Ok(WheelFields {
        version: (major, minor),
        root_is_purelib,
    })
}

/// (7): METADATA's `Name` and `Version` must be the file name's, so the installed
/// distribution is the one the resolver chose and the lockfile records.
pub(crate) fn check_metadata(
    text: &str,
    filename: &WheelFilename,
    wheel: &str,
) -> Result<(), WheelError> {
    let missing = |field| WheelError::MetadataFieldMissing {
        wheel: wheel.to_string(),
        field,
    };
    let name = first_header(text, "Name").ok_or_else(|| missing("Name"))?;
    if PackageName::from_str(name).ok().as_ref() != Some(&filename.name) {
        return Err(WheelError::MetadataNameMismatch {
            wheel: wheel.to_string(),
            metadata: name.to_string(),
            filename: filename.name.to_string(),
        });
    }
    let version = first_header(text, "Version").ok_or_else(|| missing("Version"))?;
    if Version::from_str(version).ok().as_ref() != Some(&filename.version) {
        return Err(WheelError::MetadataVersionMismatch {
            wheel: wheel.to_string(),
            metadata: version.to_string(),
            filename: filename.version.to_string(),
        });
    }
    Ok(())
}

/// Whether `{name}-{version}` (a `.dist-info` or `.data` stem) names the file name's
/// distribution, comparing normalized names and parsed versions.
pub(crate) fn stem_matches(stem: &str, filename: &WheelFilename) -> bool {
    let Some((name, version)) = stem.rsplit_once('-') else {
        return false;
    };
    PackageName::from_str(name).ok().as_ref() == Some(&filename.name)
        && Version::from_str(version).ok().as_ref() == Some(&filename.version)
}

/// One entry point: `name = target` (`module:attribute [extras]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// The script name, as installed in the environment's `bin` (or `Scripts`).
    pub name: String,
    /// The object reference, verbatim.
    pub target: String,
}

/// The script entry points of `entry_points.txt`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPoints {
    /// `[console_scripts]`.
    pub console_scripts: Vec<EntryPoint>,
    /// `[gui_scripts]`.
    pub gui_scripts: Vec<EntryPoint>,
}

/// Parses the INI-style `entry_points.txt`; only the two script sections are kept (and
/// checked), other groups are plugin registrations the installer does not act on.
pub(crate) fn parse_entry_points(text: &str, wheel: &str) -> Result<EntryPoints, WheelError> {
    let mut entry_points = EntryPoints::default();
    let mut section: Option<&mut Vec<EntryPoint>> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            section = match name.trim() {
                "console_scripts" => Some(&mut entry_points.console_scripts),
                "gui_scripts" => Some(&mut entry_points.gui_scripts),
                _ => None,
            };
            continue;
        }
        let Some(scripts) = section.as_deref_mut() else {
            continue;
        };
        let parsed = trimmed
            .split_once('=')
            .map(|(name, target)| (name.trim(), target.trim()))
            .filter(|(name, target)| !name.is_empty() && !target.is_empty());
        let Some((name, target)) = parsed else {
            return Err(WheelError::EntryPointSyntax {
                wheel: wheel.to_string(),
                line: number + 1,
                text: line.to_string(),
            });
        };
        scripts.push(EntryPoint {
            name: name.to_string(),
            target: target.to_string(),
        });
    }
    Ok(entry_points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_keep_script_sections() {
        let text = "[console_scripts]\ntool = pkg.cli:main\n\n[pytest11]\nplug = x\n[gui_scripts]\ng=pkg:gui [extra]\n";
        let parsed = parse_entry_points(text, "w").unwrap();
        assert_eq!(
            parsed.console_scripts,
            vec![EntryPoint {
                name: "tool".into(),
                target: "pkg.cli:main".into()
            }]
        );
        assert_eq!(parsed.gui_scripts[0].target, "pkg:gui [extra]");
        assert!(matches!(
            parse_entry_points("[console_scripts]\nbroken\n", "w"),
            Err(WheelError::EntryPointSyntax { line: 2, .. })
        ));
    }

    #[test]
    fn wheel_versions() {
        let ok = parse_wheel("Wheel-Version: 1.0\nRoot-Is-Purelib: true\n", "w").unwrap();
        assert_eq!(ok.version, (1, 0));
        assert!(ok.root_is_purelib);
        let newer = parse_wheel("Wheel-Version: 1.9\nRoot-Is-Purelib: false\n", "w").unwrap();
        assert_eq!(newer.version, (1, 9));
        assert!(matches!(
            parse_wheel("Wheel-Version: 2.0\nRoot-Is-Purelib: true\n", "w"),
            Err(WheelError::UnsupportedWheelVersion { .. })
        ));
        assert!(matches!(
            parse_wheel("Wheel-Version: one\nRoot-Is-Purelib: true\n", "w"),
            Err(WheelError::InvalidWheelVersion { .. })
        ));
        assert!(matches!(
            parse_wheel("Wheel-Version: 1.0\nRoot-Is-Purelib: yes\n", "w"),
            Err(WheelError::InvalidRootIsPurelib { .. })
        ));
        assert!(matches!(
            parse_wheel("Wheel-Version: 1.0\n", "w"),
            Err(WheelError::WheelFieldMissing {
                field: "Root-Is-Purelib",
                ..
            })
        ));
    }
}
