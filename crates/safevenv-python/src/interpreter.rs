//! One interpreter, as reported by one run of the probe script, and the cache of those reports.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Instant, UNIX_EPOCH};

use safevenv_cache::{Cache, CacheBucket};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tracing::{debug, warn};
use uv_pep440::Version;
use uv_pep508::{MarkerEnvironment, MarkerEnvironmentBuilder};
use uv_platform_tags::{Arch, Os, Platform, Tags, TagsOptions};

mod derived;

/// The probe script. It runs with `-I` (isolated: neither the current directory, `PYTHONPATH` nor
/// the user's site directory reach `sys.path`, so nothing next to the user can inject code into it)
/// and `-B` (no `.pyc` written into the interpreter's tree).
const PROBE_SCRIPT: &str = include_str!("probe.py");

/// The probe output format this code reads; a cached entry of another schema is ignored.
/// Schema 2 added `install_paths` (the interpreter's own scheme, for `--system`).
const PROBE_SCHEMA: u32 = 2;

/// The oldest Python safevenv supports.
pub const MIN_PYTHON: (u8, u8) = (3, 8);

/// How much of a failed probe's stderr an error shows.
const STDERR_EXCERPT: usize = 400;

/// A failure to probe one interpreter.
#[derive(Debug, Error)]
pub enum ProbeError {
    /// The path does not exist.
    #[error("`{}` does not exist", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The path exists but could not be inspected (permissions, a broken symlink, ...).
    #[error("cannot inspect `{}`", path.display())]
    Inspect {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The interpreter could not be started.
    #[error("cannot run `{}`", path.display())]
    Spawn {
        /// The interpreter.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The probe script exited with an error.
    #[error("probing `{}` failed ({status}): {stderr}", path.display())]
    Failed {
        /// The interpreter.
        path: PathBuf,
        /// How the process ended.
        status: std::process::ExitStatus,
        /// The end of its stderr.
        stderr: String,
    },
    /// The probe script printed something that is not the expected JSON.
    #[error("probing `{}` printed unexpected output: {stdout}", path.display())]
    InvalidOutput {
        /// The interpreter.
        path: PathBuf,
        /// The start of what it printed.
        stdout: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The interpreter's version is a Python safevenv does not support.
    #[error(
        "`{}` is Python {version}, which is not supported (safevenv needs Python {}.{} or newer)",
        path.display(), MIN_PYTHON.0, MIN_PYTHON.1
    )]
    Unsupported {
        /// The interpreter.
        path: PathBuf,
        /// Its version, as far as it could be learnt.
        version: String,
    },
    /// The interpreter reported a version or marker value that is not valid PEP 440.
    #[error("`{}` reported an invalid version `{version}`", path.display())]
    InvalidVersion {
        /// The interpreter.
        path: PathBuf,
        /// The value reported.
        version: String,
        /// The parse error.
        #[source]
        source: uv_pep440::VersionParseError,
    },
    /// The interpreter reported an installation layout that does not stay inside a new environment.
    #[error("`{}` reported the install path `{value}` for `{key}`, which is not a relative path inside the environment", path.display())]
    InvalidScheme {
        /// The interpreter.
        path: PathBuf,
        /// The scheme key (`purelib`, `scripts`, ...).
        key: &'static str,
        /// The value reported.
        value: String,
    },
    /// The interpreter reported one of its own install paths as a relative path.
    #[error("`{}` reported the relative path `{}` for its own `{key}` directory", path.display(), value.display())]
    RelativeInstallPath {
        /// The interpreter.
        path: PathBuf,
        /// The scheme key (`stdlib`, `purelib`, ...).
        key: &'static str,
        /// The value reported.
        value: PathBuf,
    },
    /// The interpreter's probe did not say which base interpreter a new environment should use.
    #[error("`{}` is a virtual environment whose base interpreter cannot be found", path.display())]
    NoBaseExecutable {
        /// The interpreter.
        path: PathBuf,
    },
}

/// A failure to compute an interpreter's compatible wheel tags.
#[derive(Debug, Error)]
pub enum TagsError {
    /// `platform.machine()` names an architecture wheel tags do not know.
    #[error("unknown architecture `{machine}` reported by `{}`", path.display())]
    UnknownArch {
        /// The interpreter.
        path: PathBuf,
        /// The value of `platform.machine()`.
        machine: String,
    },
    /// `sys.platform` names an operating system wheel tags do not support.
    #[error("unsupported platform `{sys_platform}` reported by `{}`", path.display())]
    UnsupportedPlatform {
        /// The interpreter.
        path: PathBuf,
        /// The value of `sys.platform`.
        sys_platform: String,
    },
    /// A Linux interpreter with neither glibc nor musl detected.
    #[error("cannot tell which C library `{}` uses (neither glibc nor musl was detected)", path.display())]
    UnknownLibc {
        /// The interpreter.
        path: PathBuf,
    },
    /// An operating system version (glibc, musl, macOS) that is not `major.minor`.
    #[error("cannot read the {what} version `{version}` reported by `{}`", path.display())]
    InvalidOsVersion {
        /// The interpreter.
        path: PathBuf,
        /// What the version is of.
        what: &'static str,
        /// The value reported.
        version: String,
    },
    /// The tag computation itself failed.
    #[error("cannot compute the wheel tags of `{}`", path.display())]
    Tags {
        /// The interpreter.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: uv_platform_tags::TagsError,
    },
}

/// The first fields of the probe's output, present even when the interpreter is too old.
#[derive(Deserialize)]
struct ProbeHeader {
    schema: u32,
    version_info: (u8, u8, u8, String, u8),
    supported: bool,
}

/// Everything the probe reports about a supported interpreter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ProbeInfo {
    schema: u32,
    version_info: (u8, u8, u8, String, u8),
    executable: PathBuf,
    base_executable: Option<PathBuf>,
    prefix: PathBuf,
    base_prefix: PathBuf,
    base_exec_prefix: PathBuf,
    is_venv: bool,
    implementation_name: String,
    implementation_version: String,
    pointer_size: u8,
    gil_disabled: bool,
    debug_enabled: bool,
    scheme: RawScheme,
    install_paths: InstallPaths,
    sys_path_dirs: Vec<PathBuf>,
    markers: RawMarkers,
    libc: Option<Libc>,
    macos_version: Option<String>,
    default_index_url: Option<String>,
}

/// The environment layout, relative to the environment's root (`""` is the root itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RawScheme {
    purelib: Option<String>,
    platlib: Option<String>,
    scripts: Option<String>,
    include: Option<String>,
    data: Option<String>,
}

/// Where the interpreter itself installs: `sysconfig.get_paths()` with its default scheme, as
/// absolute paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct InstallPaths {
    /// The scheme's name: `posix_prefix`, Debian's `posix_local`, `venv`, `nt`, ...
    scheme: String,
    stdlib: PathBuf,
    purelib: PathBuf,
    platlib: PathBuf,
    scripts: PathBuf,
    include: PathBuf,
    data: PathBuf,
}

/// The PEP 508 marker values, as strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RawMarkers {
    implementation_name: String,
    implementation_version: String,
    os_name: String,
    platform_machine: String,
    platform_python_implementation: String,
    platform_release: String,
    platform_system: String,
    platform_version: String,
    python_full_version: String,
    python_version: String,
    sys_platform: String,
}

/// The C library a Linux interpreter is linked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Libc {
    /// `glibc` or `musl`.
    name: String,
    version: String,
}

/// Where an environment's files go, as absolute paths (see [`Interpreter::scheme_paths_for`] and
/// [`Interpreter::install_paths`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemePaths {
    /// Pure-Python packages (`lib/pythonX.Y/site-packages`).
    pub purelib: PathBuf,
    /// Packages with compiled code (the same directory as `purelib` on most systems).
    pub platlib: PathBuf,
    /// Console scripts and the interpreter links (`bin`).
    pub scripts: PathBuf,
    /// C headers (`include/pythonX.Y`).
    pub include: PathBuf,
    /// A wheel's `.data/data` files: the environment's root.
    pub data: PathBuf,
}

/// A Python interpreter, as its probe described it.
#[derive(Debug, Clone)]
pub struct Interpreter {
    path: PathBuf,
    info: ProbeInfo,
    version: Version,
    markers: MarkerEnvironment,
}

impl Interpreter {
    /// Probe the interpreter at `path`, reusing a cached probe when the executable is unchanged.
    ///
    /// The probe runs the interpreter once in isolated mode. Its result is cached in the
    /// [`CacheBucket::Interpreters`] bucket, keyed by `path` and checked against the executable's
    /// resolved path, size and modification time (and those of the directories on its `sys.path`,
    /// where pip lives). Launcher scripts such as pyenv shims are never cached (see [`is_script`]).
    ///
    /// A new virtual environment of a CPython 3.11+ is not probed: its facts are derived from its
    /// base interpreter's probe when they provably match (see `derived`).
    pub fn query(path: &Path, cache: &Cache) -> Result<Self, ProbeError> {
        Self::query_with(path, cache, true)
    }

    /// [`Interpreter::query`], always from a probe (run now or cached), never derived.
    fn query_probed(path: &Path, cache: &Cache) -> Result<Self, ProbeError> {
        Self::query_with(path, cache, false)
    }

    fn query_with(path: &Path, cache: &Cache, derive: bool) -> Result<Self, ProbeError> {
        let path = std::path::absolute(path).map_err(|source| ProbeError::Inspect {
            path: path.to_path_buf(),
            source,
        })?;
        let fingerprint = Fingerprint::of(&path)?;
        let entry_path = fingerprint
            .as_ref()
            .and_then(|_| cache_entry_path(cache, &path));
        // A cached report that no longer validates is a miss like any other.
        if let (Some(fingerprint), Some(entry_path)) = (&fingerprint, &entry_path)
            && let Some(info) = read_cache_entry(entry_path, &path, fingerprint)
            && let Ok(interpreter) = Self::from_info(path.clone(), info)
        {
            debug!("cached probe of `{}`", path.display());
            return Ok(interpreter);
        }
        // Not cached: derived reports are cheap to derive again, so they are not cached either.
        if derive
            && fingerprint.is_some()
            && let Some(info) = derived::derive(&path, cache)
        {
            return Self::from_info(path, info);
        }
        let info = probe(&path)?;
        let interpreter = Self::from_info(path, info)?;
        if let (Some(fingerprint), Some(entry_path)) = (fingerprint, entry_path) {
            write_cache_entry(&entry_path, &interpreter, fingerprint);
        }
        Ok(interpreter)
    }

    /// Validate a probe's report and parse its version and markers.
    fn from_info(path: PathBuf, info: ProbeInfo) -> Result<Self, ProbeError> {
        let version_info = (info.version_info.0, info.version_info.1);
        if version_info < MIN_PYTHON {
            return Err(ProbeError::Unsupported {
                path,
                version: info.markers.python_full_version.clone(),
            });
        }
        let invalid_version = |version: &str, source| ProbeError::InvalidVersion {
            path: path.clone(),
            version: version.to_string(),
            source,
        };
        let full = &info.markers.python_full_version;
        let version = Version::from_str(full).map_err(|source| invalid_version(full, source))?;
        let markers = &info.markers;
        let markers = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: &markers.implementation_name,
            implementation_version: &markers.implementation_version,
            os_name: &markers.os_name,
            platform_machine: &markers.platform_machine,
            platform_python_implementation: &markers.platform_python_implementation,
            platform_release: &markers.platform_release,
            platform_system: &markers.platform_system,
            platform_version: &markers.platform_version,
            python_full_version: &markers.python_full_version,
            python_version: &markers.python_version,
            sys_platform: &markers.sys_platform,
        })
        .map_err(|source| invalid_version(&info.markers.implementation_version, source))?;
        // The scheme paths are joined onto a new environment's root: a path that is absolute or
        // climbs out with `..` would make an install write outside the environment.
        for (key, value) in info.scheme.entries() {
            let inside = value.is_some_and(|value| {
                Path::new(value)
                    .components()
                    .all(|component| matches!(component, Component::Normal(_)))
            });
            if !inside {
                return Err(ProbeError::InvalidScheme {
                    path,
                    key,
                    value: value.unwrap_or("<outside the prefix>").to_string(),
                });
            }
        }
        // Used as they are (never joined onto anything): relative ones would be read against
        // safevenv's working directory instead of the interpreter's installation.
        for (key, value) in info.install_paths.entries() {
            if !value.is_absolute() {
                return Err(ProbeError::RelativeInstallPath {
                    path,
                    key,
                    value: value.to_path_buf(),
                });
            }
        }
        if info.base_executable.is_none() {
            return Err(ProbeError::NoBaseExecutable { path });
        }
        Ok(Self {
            path,
            info,
            version,
            markers,
        })
    }

    /// The path this interpreter was found at (absolute, not resolved: it may be a symlink or a
    /// launcher script).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `sys.executable`.
    pub fn sys_executable(&self) -> &Path {
        &self.info.executable
    }

    /// The interpreter a new environment should point at: for a virtual environment, its base
    /// interpreter; otherwise `sys.executable` (never a launcher script such as a pyenv shim, which
    /// runs the real interpreter).
    pub fn base_executable(&self) -> &Path {
        self.info
            .base_executable
            .as_deref()
            .unwrap_or(&self.info.executable)
    }

    /// `sys.prefix`.
    pub fn sys_prefix(&self) -> &Path {
        &self.info.prefix
    }

    /// `sys.base_prefix`.
    pub fn sys_base_prefix(&self) -> &Path {
        &self.info.base_prefix
    }

    /// Whether this interpreter runs inside a virtual environment (`sys.prefix != sys.base_prefix`).
    pub fn is_venv(&self) -> bool {
        self.info.is_venv
    }

    /// The full Python version (`python_full_version`).
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// `(major, minor)`, e.g. `(3, 12)`.
    pub fn python_minor(&self) -> (u8, u8) {
        (self.info.version_info.0, self.info.version_info.1)
    }

    /// `(major, minor, micro)`, e.g. `(3, 12, 1)`.
    pub fn python_patch(&self) -> (u8, u8, u8) {
        let (major, minor, micro, ..) = self.info.version_info;
        (major, minor, micro)
    }

    /// `sys.implementation.name`: `cpython`, `pypy`, ...
    pub fn implementation_name(&self) -> &str {
        &self.info.implementation_name
    }

    /// Whether this is a free-threaded build (`3.13t`).
    pub fn gil_disabled(&self) -> bool {
        self.info.gil_disabled
    }

    /// Whether pointers are 64-bit.
    pub fn is_64bit(&self) -> bool {
        self.info.pointer_size == 64
    }

    /// The PEP 508 marker environment.
    pub fn markers(&self) -> &MarkerEnvironment {
        &self.markers
    }

    /// The default index URL of the pip this interpreter ships, or `None` without pip. It is read
    /// from the interpreter, never written in safevenv.
    pub fn default_index_url(&self) -> Option<&str> {
        self.info.default_index_url.as_deref()
    }

    /// The wheel tags this interpreter accepts, most preferred first.
    pub fn tags(&self) -> Result<Tags, TagsError> {
        let platform = self.platform()?;
        let manylinux = matches!(platform.os(), Os::Manylinux { .. });
        let implementation_version =
            major_minor(&self.info.implementation_version).unwrap_or(self.python_minor());
        Tags::from_env(
            platform,
            self.python_minor(),
            &self.info.implementation_name,
            implementation_version,
            TagsOptions {
                manylinux_compatible: manylinux,
                gil_disabled: self.info.gil_disabled,
                debug_enabled: self.info.debug_enabled,
                is_cross: false,
            },
        )
        .map_err(|source| TagsError::Tags {
            path: self.path.clone(),
            source,
        })
    }

    /// The operating system and architecture for wheel tags.
    fn platform(&self) -> Result<Platform, TagsError> {
        let path = || self.path.clone();
        let machine = &self.info.markers.platform_machine;
        let arch = match machine.to_ascii_lowercase().as_str() {
            "amd64" | "x86_64" => Arch::X86_64,
            "arm64" | "aarch64" => Arch::Aarch64,
            "i386" | "i486" | "i586" | "i686" | "x86" => Arch::X86,
            other => Arch::from_str(other).map_err(|_| TagsError::UnknownArch {
                path: path(),
                machine: machine.clone(),
            })?,
        };
        // A 32-bit interpreter on a 64-bit kernel reports the kernel's machine; it needs 32-bit wheels.
        let arch = match (arch, self.info.pointer_size) {
            (Arch::X86_64, 32) => Arch::X86,
            (Arch::Aarch64, 32) => Arch::Armv7L,
            (arch, _) => arch,
        };
        let sys_platform = self.info.markers.sys_platform.as_str();
        let release = || self.info.markers.platform_release.clone();
        let os_version = |what: &'static str, version: &str| {
            major_minor(version).ok_or_else(|| TagsError::InvalidOsVersion {
                path: path(),
                what,
                version: version.to_string(),
            })
        };
        let os = if sys_platform.starts_with("linux") {
            match &self.info.libc {
                Some(libc) if libc.name == "glibc" => {
                    let (major, minor) = os_version("glibc", &libc.version)?;
                    Os::Manylinux {
                        major: major.into(),
                        minor: minor.into(),
                    }
                }
                Some(libc) if libc.name == "musl" => {
                    let (major, minor) = os_version("musl", &libc.version)?;
                    Os::Musllinux {
                        major: major.into(),
                        minor: minor.into(),
                    }
                }
                _ => return Err(TagsError::UnknownLibc { path: path() }),
            }
        } else if sys_platform == "darwin" {
            let version = self.info.macos_version.as_deref().unwrap_or_default();
            let (major, minor) = os_version("macOS", version)?;
            Os::Macos {
                major: major.into(),
                minor: minor.into(),
            }
        } else if sys_platform == "win32" {
            Os::Windows
        } else if sys_platform.starts_with("freebsd") {
            Os::FreeBsd { release: release() }
        } else if sys_platform.starts_with("netbsd") {
            Os::NetBsd { release: release() }
        } else if sys_platform.starts_with("openbsd") {
            Os::OpenBsd { release: release() }
        } else {
            return Err(TagsError::UnsupportedPlatform {
                path: path(),
                sys_platform: sys_platform.to_string(),
            });
        };
        Ok(Platform::new(os, arch))
    }

    /// Where a new environment rooted at `prefix` keeps its packages, scripts and headers, from the
    /// interpreter's own install scheme (`venv` on 3.11+, `posix_prefix`/`nt` before).
    pub fn scheme_paths_for(&self, prefix: &Path) -> SchemePaths {
        // `from_info` checked that every entry is a relative path below the root.
        let join = |value: &Option<String>| prefix.join(value.as_deref().unwrap_or_default());
        let scheme = &self.info.scheme;
        SchemePaths {
            purelib: join(&scheme.purelib),
            platlib: join(&scheme.platlib),
            scripts: join(&scheme.scripts),
            include: join(&scheme.include),
            data: join(&scheme.data),
        }
    }

    /// Where the interpreter itself installs (what `--system` installs into): its default
    /// scheme's paths, absolute. On Debian's system Python that is `posix_local`
    /// (`/usr/local/lib/python3.X/dist-packages`); inside an environment, the environment's.
    pub fn install_paths(&self) -> SchemePaths {
        let paths = &self.info.install_paths;
        SchemePaths {
            purelib: paths.purelib.clone(),
            platlib: paths.platlib.clone(),
            scripts: paths.scripts.clone(),
            include: paths.include.clone(),
            data: paths.data.clone(),
        }
    }

    /// The name of the scheme [`Interpreter::install_paths`] come from (`posix_local`, ...).
    pub fn install_scheme(&self) -> &str {
        &self.info.install_paths.scheme
    }

    /// `sysconfig.get_path("stdlib")`: where PEP 668's `EXTERNALLY-MANAGED` marker lives.
    pub fn stdlib(&self) -> &Path {
        &self.info.install_paths.stdlib
    }
}

impl InstallPaths {
    fn entries(&self) -> [(&'static str, &Path); 6] {
        [
            ("stdlib", &self.stdlib),
            ("purelib", &self.purelib),
            ("platlib", &self.platlib),
            ("scripts", &self.scripts),
            ("include", &self.include),
            ("data", &self.data),
        ]
    }
}

impl RawScheme {
    fn entries(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("purelib", self.purelib.as_deref()),
            ("platlib", self.platlib.as_deref()),
            ("scripts", self.scripts.as_deref()),
            ("include", self.include.as_deref()),
            ("data", self.data.as_deref()),
        ]
    }
}

/// `"2.36"` or `"14.2.1"` → `(2, 36)` / `(14, 2)`; a lone major (`"14"`) has minor 0.
fn major_minor(version: &str) -> Option<(u8, u8)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(minor) => minor.parse().ok()?,
        None => 0,
    };
    Some((major, minor))
}

/// Run the probe script.
fn probe(path: &Path) -> Result<ProbeInfo, ProbeError> {
    let start = Instant::now();
    let output = Command::new(path)
        .args(["-I", "-B", "-c", PROBE_SCRIPT])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ProbeError::Spawn {
            path: path.to_path_buf(),
            source,
        })?;
    debug!("probed `{}` in {:?}", path.display(), start.elapsed());
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Python 2 (and 3 before 3.4) has no `-I`. `-V` runs no code, so it is safe to ask for the
        // version this way to report it.
        if stderr.contains("Unknown option: -I") || stderr.contains("unknown option -I") {
            return Err(ProbeError::Unsupported {
                path: path.to_path_buf(),
                version: version_from_dash_v(path).unwrap_or_else(|| "2 or older".to_string()),
            });
        }
        return Err(ProbeError::Failed {
            path: path.to_path_buf(),
            status: output.status,
            stderr: excerpt_tail(&stderr),
        });
    }
    let invalid = |source| ProbeError::InvalidOutput {
        path: path.to_path_buf(),
        stdout: String::from_utf8_lossy(&output.stdout)
            .chars()
            .take(STDERR_EXCERPT)
            .collect(),
        source,
    };
    let header: ProbeHeader = serde_json::from_slice(&output.stdout).map_err(invalid)?;
    if !header.supported {
        let (major, minor, micro, ..) = header.version_info;
        return Err(ProbeError::Unsupported {
            path: path.to_path_buf(),
            version: format!("{major}.{minor}.{micro}"),
        });
    }
    if header.schema != PROBE_SCHEMA {
        // Cannot happen with our own script; kept as a parse failure rather than a panic.
        return Err(invalid(serde::de::Error::custom(format!(
            "probe schema {} instead of {PROBE_SCHEMA}",
            header.schema
        ))));
    }
    serde_json::from_slice(&output.stdout).map_err(invalid)
}

/// `python -V` → `2.7.18` (Python 2 prints it on stderr, Python 3 on stdout).
fn version_from_dash_v(path: &Path) -> Option<String> {
    let output = Command::new(path)
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = [output.stdout, output.stderr].concat();
    let text = String::from_utf8_lossy(&text);
    let version = text.trim().strip_prefix("Python ")?;
    Some(version.to_string())
}

/// The last [`STDERR_EXCERPT`] bytes of `stderr`, trimmed, on one line.
fn excerpt_tail(stderr: &str) -> String {
    let trimmed = stderr.trim();
    let start = trimmed
        .char_indices()
        .map(|(index, _)| index)
        .find(|&index| trimmed.len() - index <= STDERR_EXCERPT)
        .unwrap_or(trimmed.len());
    let tail = &trimmed[start..];
    let tail = tail.split_whitespace().collect::<Vec<_>>().join(" ");
    if start > 0 {
        format!("…{tail}")
    } else {
        tail
    }
}

/// Whether `path` is a launcher script (`#!`) rather than an interpreter binary.
///
/// A pyenv shim (`~/.pyenv/shims/python3`) is a shell script that runs whichever interpreter
/// `pyenv global`, `.python-version` or `PYENV_VERSION` selects at that moment: the script's own
/// path, size and modification time do not change when its target does, so a cached probe keyed on
/// them would go stale silently. Such scripts are therefore never cached; the interpreter they run
/// is (its `sys.executable` is a real binary, and that is what a new environment links to).
///
/// A file that cannot be read (execute-only) counts as a script too: it is probed, not cached.
fn is_script(canonical: &Path) -> bool {
    let mut magic = [0u8; 2];
    let read = fs_err::File::open(canonical).and_then(|mut file| file.read_exact(&mut magic));
    read.is_err() || &magic == b"#!"
}

/// What a cached probe is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fingerprint {
    /// The executable with every symlink resolved. A virtual environment's `bin/python` is a
    /// symlink to its base interpreter, so this alone is not the key (the environment changes
    /// `sys.prefix`): the key is the path as given, and this records where it led.
    canonical: PathBuf,
    size: u64,
    modified: Option<(u64, u32)>,
}

impl Fingerprint {
    /// The fingerprint of `path`, or `None` when the probe of `path` must not be cached.
    fn of(path: &Path) -> Result<Option<Self>, ProbeError> {
        let canonical = fs_err::canonicalize(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ProbeError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                ProbeError::Inspect {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let metadata = fs_err::metadata(&canonical).map_err(|source| ProbeError::Inspect {
            path: canonical.clone(),
            source,
        })?;
        if !metadata.is_file() || is_script(&canonical) {
            return Ok(None);
        }
        Ok(Some(Self {
            canonical,
            size: metadata.len(),
            modified: modified(&metadata),
        }))
    }
}

fn modified(metadata: &std::fs::Metadata) -> Option<(u64, u32)> {
    let since_epoch = metadata.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((since_epoch.as_secs(), since_epoch.subsec_nanos()))
}

/// One cached probe.
#[derive(Serialize, Deserialize)]
struct CacheEntry {
    /// The path the probe was for (the cache file name is its hash; this guards against collisions).
    path: PathBuf,
    fingerprint: Fingerprint,
    /// The modification time of each directory on the interpreter's `sys.path` at probe time.
    dirs: Vec<(PathBuf, Option<(u64, u32)>)>,
    info: ProbeInfo,
}

impl CacheEntry {
    /// Whether this entry still describes the interpreter at `path`, now fingerprinted as `current`.
    fn is_fresh(&self, path: &Path, current: &Fingerprint) -> bool {
        self.path == path
            && self.fingerprint == *current
            && self.info.schema == PROBE_SCHEMA
            && self
                .dirs
                .iter()
                .all(|(dir, then)| dir_modified(dir) == *then)
    }
}

fn dir_modified(dir: &Path) -> Option<(u64, u32)> {
    fs_err::metadata(dir).ok().as_ref().and_then(modified)
}

/// `<bucket>/<sha256 of the path>.json`, or `None` if the bucket cannot be created (then nothing is
/// cached, and the probe still runs).
fn cache_entry_path(cache: &Cache, path: &Path) -> Option<PathBuf> {
    let bucket = cache
        .bucket(CacheBucket::Interpreters)
        .inspect_err(|error| warn!("not caching interpreter probes: {error}"))
        .ok()?;
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    let name: String = digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Some(bucket.join(format!("{name}.json")))
}

/// The cached probe of `path`, if there is one and it is still fresh. A missing, unreadable, corrupt
/// or stale entry is a miss (and is rewritten after the probe).
fn read_cache_entry(entry_path: &Path, path: &Path, current: &Fingerprint) -> Option<ProbeInfo> {
    let bytes = fs_err::read(entry_path).ok()?;
    let entry: CacheEntry = serde_json::from_slice(&bytes)
        .inspect_err(|error| debug!("ignoring `{}`: {error}", entry_path.display()))
        .ok()?;
    if !entry.is_fresh(path, current) {
        debug!("stale probe cache `{}`", entry_path.display());
        return None;
    }
    Some(entry.info)
}

/// Cache a probe. A failure only costs a later probe, so it is logged, not returned.
fn write_cache_entry(entry_path: &Path, interpreter: &Interpreter, fingerprint: Fingerprint) {
    let entry = CacheEntry {
        path: interpreter.path.clone(),
        fingerprint,
        dirs: interpreter
            .info
            .sys_path_dirs
            .iter()
            .map(|dir| (dir.clone(), dir_modified(dir)))
            .collect(),
        info: interpreter.info.clone(),
    };
    let result = serde_json::to_vec(&entry)
        .map_err(|error| error.to_string())
        .and_then(|bytes| {
            safevenv_cache::write_atomic(entry_path, &bytes).map_err(|error| error.to_string())
        });
    if let Err(error) = result {
        warn!(
            "cannot cache the probe of `{}`: {error}",
            interpreter.path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint() -> Fingerprint {
        Fingerprint {
            canonical: PathBuf::from("/opt/python/bin/python3.12"),
            size: 17600,
            modified: Some((1_700_000_000, 5)),
        }
    }

    fn info() -> ProbeInfo {
        serde_json::from_str(include_str!("../tests/data/probe-3.12.json")).unwrap()
    }

    fn entry() -> CacheEntry {
        CacheEntry {
            path: PathBuf::from("/venv/bin/python"),
            fingerprint: fingerprint(),
            dirs: Vec::new(),
            info: info(),
        }
    }

    #[test]
    fn fresh_entry_is_used() {
        assert!(entry().is_fresh(Path::new("/venv/bin/python"), &fingerprint()));
    }

    #[test]
    fn entry_is_stale_when_the_executable_changes() {
        let entry = entry();
        let path = Path::new("/venv/bin/python");
        let mut changed = fingerprint();
        changed.modified = Some((1_700_000_001, 5));
        assert!(!entry.is_fresh(path, &changed));
        let mut changed = fingerprint();
        changed.size += 1;
        assert!(!entry.is_fresh(path, &changed));
        // The same path now leads elsewhere (a venv re-created on another base interpreter).
        let mut changed = fingerprint();
        changed.canonical = PathBuf::from("/opt/python/bin/python3.13");
        assert!(!entry.is_fresh(path, &changed));
        // Another path with the same target (hash collision guard).
        assert!(!entry.is_fresh(Path::new("/other/bin/python"), &fingerprint()));
    }

    #[test]
    fn entry_is_stale_when_a_sys_path_dir_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut entry = entry();
        entry.dirs = vec![(dir.path().to_path_buf(), dir_modified(dir.path()))];
        assert!(entry.is_fresh(Path::new("/venv/bin/python"), &fingerprint()));
        entry.dirs = vec![(dir.path().to_path_buf(), Some((1, 0)))];
        assert!(!entry.is_fresh(Path::new("/venv/bin/python"), &fingerprint()));
    }

    #[test]
    fn scheme_outside_the_environment_is_refused() {
        for bad in ["/usr/lib/python3.12/site-packages", "../lib", "lib/../../x"] {
            let mut info = info();
            info.scheme.purelib = Some(bad.to_string());
            let error = Interpreter::from_info(PathBuf::from("/p/python"), info).unwrap_err();
            assert!(
                matches!(error, ProbeError::InvalidScheme { key: "purelib", .. }),
                "{bad}: {error}"
            );
        }
        let interpreter = Interpreter::from_info(PathBuf::from("/p/python"), info()).unwrap();
        let paths = interpreter.scheme_paths_for(Path::new("/env"));
        assert_eq!(
            paths.purelib,
            Path::new("/env/lib/python3.12/site-packages")
        );
        assert_eq!(paths.scripts, Path::new("/env/bin"));
        assert_eq!(paths.include, Path::new("/env/include/python3.12"));
        assert_eq!(paths.data, Path::new("/env"));
    }

    #[test]
    fn install_paths_are_the_interpreters_own_and_must_be_absolute() {
        let mut debian = info();
        debian.install_paths = InstallPaths {
            scheme: "posix_local".to_string(),
            stdlib: PathBuf::from("/usr/lib/python3.12"),
            purelib: PathBuf::from("/usr/local/lib/python3.12/dist-packages"),
            platlib: PathBuf::from("/usr/local/lib/python3.12/dist-packages"),
            scripts: PathBuf::from("/usr/local/bin"),
            include: PathBuf::from("/usr/include/python3.12"),
            data: PathBuf::from("/usr/local"),
        };
        let interpreter =
            Interpreter::from_info(PathBuf::from("/usr/bin/python3"), debian.clone()).unwrap();
        assert_eq!(interpreter.install_scheme(), "posix_local");
        assert_eq!(interpreter.stdlib(), Path::new("/usr/lib/python3.12"));
        let paths = interpreter.install_paths();
        assert_eq!(
            paths.purelib,
            Path::new("/usr/local/lib/python3.12/dist-packages")
        );
        assert_eq!(paths.scripts, Path::new("/usr/local/bin"));
        assert_eq!(paths.data, Path::new("/usr/local"));

        debian.install_paths.stdlib = PathBuf::from("lib/python3.12");
        let error = Interpreter::from_info(PathBuf::from("/usr/bin/python3"), debian).unwrap_err();
        assert!(
            matches!(error, ProbeError::RelativeInstallPath { key: "stdlib", .. }),
            "{error}"
        );
    }

    #[test]
    fn a_cached_report_of_the_previous_schema_is_not_read() {
        let mut entry = entry();
        entry.info.schema = PROBE_SCHEMA - 1;
        assert!(!entry.is_fresh(Path::new("/venv/bin/python"), &fingerprint()));
    }

    #[test]
    fn old_python_is_refused_from_info() {
        let mut info = info();
        info.version_info.1 = 7;
        info.markers.python_full_version = "3.7.16".to_string();
        let error = Interpreter::from_info(PathBuf::from("/p/python"), info).unwrap_err();
        assert!(error.to_string().contains("3.7.16"), "{error}");
    }

    #[test]
    fn platform_mapping() {
        let interpreter = Interpreter::from_info(PathBuf::from("/p/python"), info()).unwrap();
        let platform = interpreter.platform().unwrap();
        assert_eq!(platform.arch(), Arch::X86_64);
        assert_eq!(
            platform.os(),
            &Os::Manylinux {
                major: 2,
                minor: 36
            }
        );

        let mut mac = info();
        mac.markers.sys_platform = "darwin".to_string();
        mac.markers.platform_machine = "arm64".to_string();
        mac.libc = None;
        mac.macos_version = Some("14.2.1".to_string());
        let mac = Interpreter::from_info(PathBuf::from("/p/python"), mac).unwrap();
        let platform = mac.platform().unwrap();
        assert_eq!(platform.arch(), Arch::Aarch64);
        assert_eq!(
            platform.os(),
            &Os::Macos {
                major: 14,
                minor: 2
            }
        );

        let mut i686 = info();
        i686.pointer_size = 32;
        let i686 = Interpreter::from_info(PathBuf::from("/p/python"), i686).unwrap();
        assert_eq!(i686.platform().unwrap().arch(), Arch::X86);

        let mut nolibc = info();
        nolibc.libc = None;
        let nolibc = Interpreter::from_info(PathBuf::from("/p/python"), nolibc).unwrap();
        assert!(matches!(nolibc.tags(), Err(TagsError::UnknownLibc { .. })));
    }

    #[test]
    fn excerpt_keeps_the_end() {
        let long = format!("{}\nTraceback: the end", "x".repeat(1000));
        let excerpt = excerpt_tail(&long);
        assert!(excerpt.ends_with("Traceback: the end"));
        assert!(excerpt.starts_with('…'));
        assert!(excerpt.len() <= STDERR_EXCERPT + '…'.len_utf8());
        assert_eq!(excerpt_tail("  short\n"), "short");
    }
}
