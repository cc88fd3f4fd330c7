//! The pyenv interpreters of this machine, for differential tests against the real consumer.

use std::path::PathBuf;

/// One pyenv CPython 3.8 or newer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyenvPython {
    /// Its version, as pyenv names it (`3.11.7`).
    pub version: String,
    /// Its minor version (`11`).
    pub minor: u32,
    /// Its `bin/python3`.
    pub python: PathBuf,
}

/// Every pyenv CPython 3.8+ (`$PYENV_ROOT`, else `~/.pyenv`), oldest first. Differential tests
/// assert this is not empty: a test that silently ran against no interpreter proves nothing.
pub fn pyenv_pythons() -> Vec<PyenvPython> {
    let root = std::env::var_os("PYENV_ROOT").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".pyenv"),
        PathBuf::from,
    );
    let Ok(entries) = fs_err::read_dir(root.join("versions")) else {
        return Vec::new();
    };
    let mut found: Vec<PyenvPython> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().into_owned();
            let mut parts = version.split('.');
            let minor: u32 = match (parts.next(), parts.next()) {
                (Some("3"), Some(minor)) => minor.parse().ok()?,
                _ => return None,
            };
            let python = entry.path().join("bin").join("python3");
            (minor >= 8 && python.is_file()).then_some(PyenvPython {
                version,
                minor,
                python,
            })
        })
        .collect();
    found.sort_by(|a, b| (a.minor, &a.version).cmp(&(b.minor, &b.version)));
    found
}
