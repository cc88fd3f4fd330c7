//! Finding an interpreter that satisfies a request (`--python`).

use std::ffi::OsString;
use std::fmt;
use std::path::{MAIN_SEPARATOR, Path, PathBuf};
use std::str::FromStr;

use safevenv_cache::Cache;
use thiserror::Error;
use tracing::debug;
use uv_pep440::Version;

use crate::interpreter::{Interpreter, MIN_PYTHON, ProbeError};

/// A request for an interpreter, as given to `--python`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonRequest {
    /// A version: `3`, `3.12` or `3.12.1`.
    Version(VersionRequest),
    /// A path to an interpreter, or to an environment or installation directory.
    Path(PathBuf),
    /// An executable name looked up on `PATH` and in pyenv installs: `python3.12`, `pypy3`.
    Name(String),
}

/// A version request: a major version, optionally a minor, optionally a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRequest {
    /// `3` in `3.12.1`.
    pub major: u8,
    /// `12` in `3.12.1`.
    pub minor: Option<u8>,
    /// `1` in `3.12.1`.
    pub patch: Option<u8>,
}

/// A request that cannot be understood.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    /// The request is empty.
    #[error("the interpreter request is empty")]
    Empty,
    /// The request looks like a version but is not one safevenv can match.
    #[error("`{0}` is not a version of the form `3`, `3.12` or `3.12.1`")]
    InvalidVersion(String),
}

impl PythonRequest {
    /// Parse `--python`'s value: digits and dots are a version, anything with a path separator
    /// (or an existing path) is a path, anything else an executable name.
    pub fn parse(request: &str) -> Result<Self, RequestError> {
        if request.is_empty() {
            return Err(RequestError::Empty);
        }
        if request.starts_with(|c: char| c.is_ascii_digit()) && !request.contains(MAIN_SEPARATOR) {
            return VersionRequest::from_str(request).map(Self::Version);
        }
        if request.contains(MAIN_SEPARATOR) || request.contains('/') || Path::new(request).exists()
        {
            return Ok(Self::Path(PathBuf::from(request)));
        }
        Ok(Self::Name(request.to_string()))
    }
}

impl fmt::Display for PythonRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(version) => write!(f, "{version}"),
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::Name(name) => write!(f, "{name}"),
        }
    }
}

impl FromStr for VersionRequest {
    type Err = RequestError;

    fn from_str(request: &str) -> Result<Self, Self::Err> {
        let invalid = || RequestError::InvalidVersion(request.to_string());
        let parts = request
            .split('.')
            .map(|part| {
                // `u8::from_str` accepts a leading `+`; a version component is digits only.
                if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(invalid());
                }
                part.parse::<u8>().map_err(|_| invalid())
            })
            .collect::<Result<Vec<_>, _>>()?;
        match parts[..] {
            [major] => Ok(Self {
                major,
                minor: None,
                patch: None,
            }),
            [major, minor] => Ok(Self {
                major,
                minor: Some(minor),
                patch: None,
            }),
            [major, minor, patch] => Ok(Self {
                major,
                minor: Some(minor),
                patch: Some(patch),
            }),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for VersionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.major)?;
        if let Some(minor) = self.minor {
            write!(f, ".{minor}")?;
        }
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

impl VersionRequest {
    /// Whether `(major, minor, micro)` satisfies this request.
    pub fn matches(&self, (major, minor, patch): (u8, u8, u8)) -> bool {
        self.major == major
            && self.minor.is_none_or(|wanted| wanted == minor)
            && self.patch.is_none_or(|wanted| wanted == patch)
    }

    /// Whether a version string such as a pyenv directory name (`3.12.1`) satisfies this request.
    fn matches_str(&self, version: &str) -> bool {
        let Ok(version) = Version::from_str(version) else {
            return false;
        };
        let release = version.release();
        let part = |index: usize| release.get(index).and_then(|&part| u8::try_from(part).ok());
        match (part(0), part(1), part(2)) {
            (Some(major), minor, patch) => {
                self.major == major
                    && self.minor.is_none_or(|wanted| Some(wanted) == minor)
                    && self.patch.is_none_or(|wanted| Some(wanted) == patch)
            }
            _ => false,
        }
    }
}

/// Why one candidate interpreter was not chosen.
#[derive(Debug)]
pub enum Rejection {
    /// Probing it failed, including "does not exist" and "Python 2 or older than 3.8".
    Probe(ProbeError),
    /// It works but is not the version asked for.
    WrongVersion {
        /// The interpreter.
        path: PathBuf,
        /// Its version.
        version: Version,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Probe(error) => write!(f, "{error}"),
            Self::WrongVersion { path, version } => {
                write!(f, "`{}` is Python {version}", path.display())
            }
        }
    }
}

/// No interpreter satisfies the request. Its message lists every interpreter tried and why each
/// was rejected, one per line; [`DiscoveryError::hint`] says what to do.
#[derive(Debug, Error)]
pub struct DiscoveryError {
    /// The request, or `None` for the default search.
    pub request: Option<PythonRequest>,
    /// Every candidate tried, in order, with the reason it was rejected.
    pub tried: Vec<Rejection>,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request {
            Some(request) => write!(f, "no interpreter satisfies `{request}`")?,
            None => write!(f, "no supported interpreter found")?,
        }
        if self.tried.is_empty() {
            write!(f, " (no candidate on `PATH` or in pyenv)")?;
        }
        for rejection in &self.tried {
            write!(f, "\n  - {rejection}")?;
        }
        Ok(())
    }
}

impl DiscoveryError {
    /// The fix to suggest, one line.
    pub fn hint(&self) -> String {
        match &self.request {
            Some(PythonRequest::Version(version)) => format!(
                "install Python {version} (e.g. `pyenv install {version}`), or pass an installed one with `--python <path>`"
            ),
            Some(PythonRequest::Path(_)) => format!(
                "pass the path of a Python {}.{}+ interpreter, or a version such as `--python 3.12`",
                MIN_PYTHON.0, MIN_PYTHON.1
            ),
            _ => format!(
                "install Python {}.{} or newer, or choose one with `--python 3.12` or `--python <path>`",
                MIN_PYTHON.0, MIN_PYTHON.1
            ),
        }
    }
}

/// Where discovery looks. [`SearchPaths::from_env`] reads the process environment; tests build
/// their own.
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    /// `VIRTUAL_ENV`: an active environment, whose interpreter is the default choice.
    pub virtual_env: Option<PathBuf>,
    /// `PATH`.
    pub path: Option<OsString>,
    /// The pyenv root: `PYENV_ROOT`, else `~/.pyenv`.
    pub pyenv_root: Option<PathBuf>,
    /// The directory relative paths and `PATH` entries are resolved against.
    pub cwd: PathBuf,
}

impl SearchPaths {
    /// The search paths of this process.
    pub fn from_env() -> Self {
        let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        let pyenv_root = non_empty("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".pyenv")));
        Self {
            virtual_env: non_empty("VIRTUAL_ENV").map(PathBuf::from),
            path: non_empty("PATH"),
            pyenv_root,
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }

    /// Every executable called `name` on `PATH`, in `PATH` order.
    fn on_path(&self, name: &str) -> Vec<PathBuf> {
        let Some(path) = &self.path else {
            return Vec::new();
        };
        which::which_in_all(name, Some(path), &self.cwd)
            .map(Iterator::collect)
            .unwrap_or_default()
    }

    /// pyenv's installs (`versions/<name>`), newest version first; names that are not versions
    /// (`pypy3.10-7.3.12`, `miniconda3`) come last, in name order.
    fn pyenv_versions(&self) -> Vec<(String, PathBuf)> {
        let Some(root) = &self.pyenv_root else {
            return Vec::new();
        };
        let Ok(entries) = fs_err::read_dir(root.join("versions")) else {
            return Vec::new();
        };
        let mut versions: Vec<(Option<Version>, String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                Some((Version::from_str(&name).ok(), name, entry.path()))
            })
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        versions
            .into_iter()
            .map(|(_, name, path)| (name, path))
            .collect()
    }
}

/// Find an interpreter for `request` (the default search when `None`) in this process's
/// environment. See [`find_interpreter_in`].
pub fn find_interpreter(
    request: Option<&PythonRequest>,
    cache: &Cache,
) -> Result<Interpreter, DiscoveryError> {
    find_interpreter_in(request, cache, &SearchPaths::from_env())
}

/// Find an interpreter for `request`, probing candidates in order until one fits:
///
/// - no request: `VIRTUAL_ENV`'s interpreter, then `python3` and `python` on `PATH`, then pyenv
///   installs, newest first;
/// - a version: `python3.X`, `python3`, `python` on `PATH`, then the pyenv installs of that
///   version, newest patch first;
/// - a name: that name on `PATH`, then in pyenv installs;
/// - a path: that interpreter, or `bin/python3` / `bin/python` inside that directory.
///
/// Interpreters older than Python 3.8 are always rejected.
pub fn find_interpreter_in(
    request: Option<&PythonRequest>,
    cache: &Cache,
    search: &SearchPaths,
) -> Result<Interpreter, DiscoveryError> {
    let version = match request {
        Some(PythonRequest::Version(version)) => Some(*version),
        _ => None,
    };
    let mut tried = Vec::new();
    let mut seen = Vec::new();
    for candidate in candidates(request, search) {
        let candidate = search.cwd.join(candidate);
        if seen.contains(&candidate) {
            continue;
        }
        seen.push(candidate.clone());
        debug!("trying `{}`", candidate.display());
        match Interpreter::query(&candidate, cache) {
            Ok(interpreter) => match version {
                Some(version) if !version.matches(interpreter.python_patch()) => {
                    tried.push(Rejection::WrongVersion {
                        path: candidate,
                        version: interpreter.version().clone(),
                    });
                }
                _ => return Ok(interpreter),
            },
            Err(error) => tried.push(Rejection::Probe(error)),
        }
    }
    Err(DiscoveryError {
        request: request.cloned(),
        tried,
    })
}

/// The candidates for `request`, in the order they are tried (duplicates removed by the caller).
fn candidates(request: Option<&PythonRequest>, search: &SearchPaths) -> Vec<PathBuf> {
    let pyenv_bins = |name: &str, version: Option<VersionRequest>| -> Vec<PathBuf> {
        search
            .pyenv_versions()
            .into_iter()
            .filter(|(dir_name, _)| version.is_none_or(|version| version.matches_str(dir_name)))
            .map(|(_, dir)| dir.join("bin").join(name))
            .filter(|path| path.is_file())
            .collect()
    };
    match request {
        None => {
            let mut candidates = Vec::new();
            if let Some(venv) = &search.virtual_env {
                candidates.push(venv.join("bin").join("python"));
            }
            candidates.extend(search.on_path("python3"));
            candidates.extend(search.on_path("python"));
            candidates.extend(pyenv_bins("python3", None));
            candidates
        }
        Some(PythonRequest::Version(version)) => {
            let mut names = Vec::new();
            if let Some(minor) = version.minor {
                names.push(format!("python{}.{minor}", version.major));
            }
            names.push(format!("python{}", version.major));
            names.push("python".to_string());
            let mut candidates: Vec<PathBuf> =
                names.iter().flat_map(|name| search.on_path(name)).collect();
            candidates.extend(pyenv_bins(
                &format!("python{}", version.major),
                Some(*version),
            ));
            candidates
        }
        Some(PythonRequest::Name(name)) => {
            let mut candidates = search.on_path(name);
            candidates.extend(pyenv_bins(name, None));
            candidates
        }
        Some(PythonRequest::Path(path)) => {
            let path = search.cwd.join(path);
            if path.is_dir() {
                vec![
                    path.join("bin").join("python3"),
                    path.join("bin").join("python"),
                ]
            } else {
                vec![path]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_versions() {
        let version = |major, minor, patch| {
            PythonRequest::Version(VersionRequest {
                major,
                minor,
                patch,
            })
        };
        assert_eq!(PythonRequest::parse("3"), Ok(version(3, None, None)));
        assert_eq!(PythonRequest::parse("3.12"), Ok(version(3, Some(12), None)));
        assert_eq!(
            PythonRequest::parse("3.12.1"),
            Ok(version(3, Some(12), Some(1)))
        );
        for bad in ["3.", "3..1", "3.12.1.4", "3.x", "3.+1", "3.300"] {
            assert_eq!(
                PythonRequest::parse(bad),
                Err(RequestError::InvalidVersion(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(PythonRequest::parse(""), Err(RequestError::Empty));
    }

    #[test]
    fn parse_paths_and_names() {
        assert_eq!(
            PythonRequest::parse("/usr/bin/python3"),
            Ok(PythonRequest::Path(PathBuf::from("/usr/bin/python3")))
        );
        assert_eq!(
            PythonRequest::parse("./python"),
            Ok(PythonRequest::Path(PathBuf::from("./python")))
        );
        assert_eq!(
            PythonRequest::parse("python3.12"),
            Ok(PythonRequest::Name("python3.12".to_string()))
        );
        assert_eq!(
            PythonRequest::parse("pypy3"),
            Ok(PythonRequest::Name("pypy3".to_string()))
        );
        // An existing relative path without a separator is a path.
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("mypython");
        fs_err::write(&existing, "").unwrap();
        assert!(matches!(
            PythonRequest::parse(existing.to_str().unwrap()),
            Ok(PythonRequest::Path(_))
        ));
    }

    #[test]
    fn version_matching() {
        let request = VersionRequest::from_str("3.12").unwrap();
        assert!(request.matches((3, 12, 1)));
        assert!(!request.matches((3, 11, 7)));
        assert!(!request.matches((3, 1, 2)));
        assert!(request.matches_str("3.12.1"));
        assert!(!request.matches_str("3.1.2"));
        assert!(!request.matches_str("pypy3.12-7.3"));
        let request = VersionRequest::from_str("3.12.1").unwrap();
        assert!(request.matches((3, 12, 1)));
        assert!(!request.matches((3, 12, 2)));
        assert!(!request.matches_str("3.12"));
    }

    #[test]
    fn pyenv_versions_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for name in ["3.9.18", "3.12.1", "3.12.10", "miniconda3", "3.10.13"] {
            fs_err::create_dir_all(root.path().join("versions").join(name).join("bin")).unwrap();
            fs_err::write(
                root.path()
                    .join("versions")
                    .join(name)
                    .join("bin")
                    .join("python3"),
                "",
            )
            .unwrap();
        }
        let search = SearchPaths {
            pyenv_root: Some(root.path().to_path_buf()),
            ..SearchPaths::default()
        };
        let names: Vec<_> = search
            .pyenv_versions()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            ["3.12.10", "3.12.1", "3.10.13", "3.9.18", "miniconda3"]
        );
        let request = PythonRequest::parse("3.12").unwrap();
        let found = candidates(Some(&request), &search);
        assert_eq!(
            found,
            [
                root.path().join("versions/3.12.10/bin/python3"),
                root.path().join("versions/3.12.1/bin/python3"),
            ]
        );
    }
}
