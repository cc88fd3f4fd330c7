//! PEP 668: a Python installation that another tool manages (the operating system's package
//! manager, typically) says so with an `EXTERNALLY-MANAGED` file in its standard library
//! directory, `sysconfig.get_path("stdlib")`. Installers must not install into it outside a
//! virtual environment, and should show the file's `[externally-managed] Error` message.

use std::io::Read;
use std::path::{Path, PathBuf};

use tracing::debug;

use crate::Interpreter;

/// The marker's file name.
pub const MARKER: &str = "EXTERNALLY-MANAGED";

/// More than any distributor's message; a larger file is read only this far.
const MAX_MARKER_SIZE: u64 = 64 * 1024;

/// An installation's PEP 668 marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternallyManaged {
    /// The marker file.
    pub marker: PathBuf,
    /// Its `[externally-managed] Error` message, when it has one that could be read. Localized
    /// `Error-<lang>` keys are not used.
    pub message: Option<String>,
}

impl ExternallyManaged {
    /// The marker in the standard library directory `stdlib`, if there is one.
    ///
    /// Fails closed: a marker whose existence cannot be checked (permissions) counts as present,
    /// and one that cannot be read or parsed still marks the installation, only without a message.
    pub fn find(stdlib: &Path) -> Option<Self> {
        let marker = stdlib.join(MARKER);
        match marker.try_exists() {
            Ok(false) => return None,
            Ok(true) => {}
            Err(error) => debug!("cannot check `{}`: {error}", marker.display()),
        }
        let message = read_message(&marker);
        Some(Self { marker, message })
    }
}

impl Interpreter {
    /// The PEP 668 marker of this interpreter's installation, if it has one. Whether it applies is
    /// the caller's decision: PEP 668 exempts virtual environments, whose standard library
    /// directory is their base interpreter's.
    pub fn externally_managed(&self) -> Option<ExternallyManaged> {
        ExternallyManaged::find(self.stdlib())
    }
}

fn read_message(marker: &Path) -> Option<String> {
    let mut bytes = Vec::new();
    let read = fs_err::File::open(marker)
        .and_then(|file| file.take(MAX_MARKER_SIZE).read_to_end(&mut bytes));
    if let Err(error) = read {
        debug!("cannot read `{}`: {error}", marker.display());
        return None;
    }
    error_message(&String::from_utf8_lossy(&bytes))
}

/// The `Error` key of the `[externally-managed]` section, read as Python's `configparser` (which
/// PEP 668 names) reads it: keys are case-insensitive, `=` or `:` separates, a more indented line
/// continues the value, `#`/`;` lines are comments, and blank lines inside a value are kept.
///
/// The message is printed on the user's terminal: control characters other than newlines and
/// tabs are replaced, so that a marker file cannot send escape sequences to it.
pub(crate) fn error_message(text: &str) -> Option<String> {
    let mut section: Option<&str> = None;
    // The value being read: its key's indentation, and whether it is the one wanted.
    let mut current: Option<(usize, bool)> = None;
    let mut lines: Option<Vec<&str>> = None;
    for line in text.lines() {
        let stripped = line.trim();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if stripped.is_empty() {
            if let (Some((_, true)), Some(lines)) = (current, lines.as_mut()) {
                lines.push("");
            }
            continue;
        }
        if let Some((key_indent, wanted)) = current
            && indent > key_indent
        {
            if wanted && let Some(lines) = lines.as_mut() {
                lines.push(stripped);
            }
            continue;
        }
        if lines.is_some() && current.is_some_and(|(_, wanted)| wanted) {
            // The wanted value ended; the first `Error` in the section is the one shown.
            break;
        }
        if let Some(header) = stripped.strip_prefix('[')
            && let Some(end) = header.rfind(']')
        {
            section = Some(&header[..end]);
            current = None;
            continue;
        }
        let Some(split) = stripped.find(['=', ':']) else {
            // Not an option: `configparser` would reject the file; the marker still counts.
            current = None;
            continue;
        };
        let key = stripped[..split].trim();
        let wanted = section == Some("externally-managed") && key.eq_ignore_ascii_case("error");
        current = Some((indent, wanted));
        if wanted {
            let first = stripped[split + 1..].trim();
            lines = Some(if first.is_empty() {
                Vec::new()
            } else {
                vec![first]
            });
        }
    }
    let mut lines = lines?;
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    while lines.first().is_some_and(|line| line.is_empty()) {
        lines.remove(0);
    }
    let message: String = lines
        .join("\n")
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect();
    (!message.is_empty()).then_some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's marker, shortened.
    const DEBIAN: &str = "\
[externally-managed]
Error=To install Python packages system-wide, try apt install
 python3-xyz, where xyz is the package you are trying to
 install.

 If you wish to install a non-Debian-packaged Python package,
 create a virtual environment using python3 -m venv path/to/venv.
";

    #[test]
    fn reads_a_multiline_message_with_paragraphs() {
        assert_eq!(
            error_message(DEBIAN).unwrap(),
            "To install Python packages system-wide, try apt install\n\
             python3-xyz, where xyz is the package you are trying to\n\
             install.\n\
             \n\
             If you wish to install a non-Debian-packaged Python package,\n\
             create a virtual environment using python3 -m venv path/to/venv."
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_other_keys_and_sections_are_ignored() {
        let text = "\
# a comment
[other]
Error = not this one
[externally-managed]
Error-de_DE = Nicht diese
ERROR: this one
  continued
; a comment
Other = unrelated
";
        assert_eq!(error_message(text).unwrap(), "this one\ncontinued");
    }

    #[test]
    fn no_message_without_the_section_or_key() {
        assert_eq!(error_message(""), None);
        assert_eq!(error_message("[externally-managed]\n"), None);
        assert_eq!(error_message("[externally-managed]\nError =\n"), None);
        assert_eq!(error_message("Error = outside any section\n"), None);
        assert_eq!(error_message("[other]\nError = x\n"), None);
    }

    #[test]
    fn control_characters_are_replaced() {
        let text = "[externally-managed]\nError = red \x1b[31m text\tand tab\n";
        assert_eq!(
            error_message(text).unwrap(),
            "red \u{fffd}[31m text\tand tab"
        );
    }

    #[test]
    fn finds_the_marker_in_the_stdlib_directory() {
        let stdlib = tempfile::tempdir().unwrap();
        assert_eq!(ExternallyManaged::find(stdlib.path()), None);

        let marker = stdlib.path().join(MARKER);
        fs_err::write(&marker, DEBIAN).unwrap();
        let found = ExternallyManaged::find(stdlib.path()).unwrap();
        assert_eq!(found.marker, marker);
        assert!(found.message.unwrap().starts_with("To install Python"));

        // An empty marker still marks the installation.
        fs_err::write(&marker, "").unwrap();
        let found = ExternallyManaged::find(stdlib.path()).unwrap();
        assert_eq!(found.message, None);
    }
}
