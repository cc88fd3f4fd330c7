//! The `.dist-info` text files: WHEEL (6) and METADATA (7) (`entry_points.txt`:
//! [`crate::entry_points`]; `.pth` files: [`crate::pth`]).

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

#[cfg(test)]
mod tests {
    use super::*;

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
