//! `safevenv verify`: is the environment still what was installed, and what the lockfile says?
//!
//! Steps:
//! 1. every file each distribution's `RECORD` lists is hashed (in parallel) and compared with
//!    the recorded digest; `RECORD`'s own line and `.pyc` files under `__pycache__` carry no
//!    hash by PEP 376 and are not hashed (Python rewrites them itself);
//! 2. every file in `site-packages` that no `RECORD` owns is reported: a dropped-in `.pth` runs
//!    at every interpreter start, and nothing else would notice it. A `.pyc` under
//!    `__pycache__` whose `.py` exists belongs with that `.py`;
//! 3. with a lockfile, the installed distributions are compared with the locked ones.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use safevenv_cache::Cache;
use safevenv_installer::{Environment, InstalledDist};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::error::OpsError;
use crate::subject::{open_environment, read_lockfile};

/// The most threads hashing at once; more only contend for the disk.
const MAX_THREADS: usize = 8;

/// Everything `safevenv verify` needs.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// `--env PATH`; default: the active environment, then `.venv` here.
    pub environment: Option<PathBuf>,
    /// `--lockfile FILE`: also compare the installed distributions with it.
    pub lockfile: Option<PathBuf>,
    /// Caches (the interpreter's probe).
    pub cache: Cache,
    /// Where relative paths are.
    pub working_dir: PathBuf,
}

/// One way the environment differs from its `RECORD` files or its lockfile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// A file whose digest is not the recorded one.
    Modified {
        /// `name version` of its distribution.
        distribution: String,
        /// The file, relative to the environment.
        path: PathBuf,
        /// `algorithm=digest` as recorded.
        expected: String,
        /// `algorithm=digest` as found.
        actual: String,
    },
    /// A file `RECORD` lists that is gone.
    Missing {
        /// `name version` of its distribution.
        distribution: String,
        /// The file, relative to the environment.
        path: PathBuf,
    },
    /// A `RECORD` line without a hash for a file that must have one.
    Unhashed {
        /// `name version` of its distribution.
        distribution: String,
        /// The file, relative to the environment.
        path: PathBuf,
    },
    /// A `RECORD` hash in an algorithm safevenv does not check (only SHA-2 is accepted).
    UnknownAlgorithm {
        /// `name version` of its distribution.
        distribution: String,
        /// The file, relative to the environment.
        path: PathBuf,
        /// The algorithm named.
        algorithm: String,
    },
    /// A `RECORD` entry that is a symbolic link, or resolves outside the environment: it is
    /// not read, so verification cannot be made to read elsewhere.
    Unsafe {
        /// `name version` of its distribution.
        distribution: String,
        /// The entry as written.
        entry: String,
    },
    /// A file that could not be read.
    Unreadable {
        /// The file, relative to the environment.
        path: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// A distribution whose `RECORD` is missing or unreadable: none of its files can be checked.
    NoRecord {
        /// `name version`.
        distribution: String,
        /// Why.
        reason: String,
    },
    /// A file in `site-packages` that no `RECORD` lists.
    Unowned {
        /// The file, relative to the environment.
        path: PathBuf,
    },
    /// A locked distribution that is not installed.
    NotInstalled {
        /// The project.
        name: String,
        /// The locked version.
        locked: String,
    },
    /// An installed distribution the lockfile does not list.
    NotLocked {
        /// The project.
        name: String,
        /// The installed version.
        installed: String,
    },
    /// An installed distribution at another version than the locked one.
    WrongVersion {
        /// The project.
        name: String,
        /// The locked version.
        locked: String,
        /// The installed version.
        installed: String,
    },
}

impl Problem {
    /// A stable name for `--format json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Modified { .. } => "modified",
            Self::Missing { .. } => "missing",
            Self::Unhashed { .. } => "unhashed",
            Self::UnknownAlgorithm { .. } => "unknown-algorithm",
            Self::Unsafe { .. } => "unsafe-entry",
            Self::Unreadable { .. } => "unreadable",
            Self::NoRecord { .. } => "no-record",
            Self::Unowned { .. } => "unowned",
            Self::NotInstalled { .. } => "not-installed",
            Self::NotLocked { .. } => "not-locked",
            Self::WrongVersion { .. } => "wrong-version",
        }
    }

    fn to_json(&self) -> Value {
        let path = |path: &Path| path.display().to_string();
        let mut value = match self {
            Self::Modified {
                distribution,
                path: file,
                expected,
                actual,
            } => {
                json!({"distribution": distribution, "path": path(file), "expected": expected, "actual": actual})
            }
            Self::Missing {
                distribution,
                path: file,
            }
            | Self::Unhashed {
                distribution,
                path: file,
            } => json!({"distribution": distribution, "path": path(file)}),
            Self::UnknownAlgorithm {
                distribution,
                path: file,
                algorithm,
            } => json!({"distribution": distribution, "path": path(file), "algorithm": algorithm}),
            Self::Unsafe {
                distribution,
                entry,
            } => json!({"distribution": distribution, "entry": entry}),
            Self::Unreadable { path: file, reason } => {
                json!({"path": path(file), "reason": reason})
            }
            Self::NoRecord {
                distribution,
                reason,
            } => json!({"distribution": distribution, "reason": reason}),
            Self::Unowned { path: file } => json!({"path": path(file)}),
            Self::NotInstalled { name, locked } => json!({"name": name, "locked": locked}),
            Self::NotLocked { name, installed } => json!({"name": name, "installed": installed}),
            Self::WrongVersion {
                name,
                locked,
                installed,
            } => json!({"name": name, "locked": locked, "installed": installed}),
        };
        value["kind"] = json!(self.kind());
        value
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Modified {
                distribution,
                path,
                expected,
                actual,
            } => write!(
                f,
                "modified: `{}` ({distribution}): RECORD says `{expected}`, the file has `{actual}`",
                path.display()
            ),
            Self::Missing { distribution, path } => {
                write!(f, "missing: `{}` ({distribution})", path.display())
            }
            Self::Unhashed { distribution, path } => write!(
                f,
                "unhashed: `{}` ({distribution}) has no hash in RECORD",
                path.display()
            ),
            Self::UnknownAlgorithm {
                distribution,
                path,
                algorithm,
            } => write!(
                f,
                "unchecked: `{}` ({distribution}) is recorded with `{algorithm}`, not SHA-2",
                path.display()
            ),
            Self::Unsafe {
                distribution,
                entry,
            } => write!(
                f,
                "unsafe RECORD entry: `{entry}` ({distribution}) is a symbolic link or leaves the environment"
            ),
            Self::Unreadable { path, reason } => {
                write!(f, "unreadable: `{}`: {reason}", path.display())
            }
            Self::NoRecord {
                distribution,
                reason,
            } => write!(f, "no RECORD: {distribution}: {reason}"),
            Self::Unowned { path } => {
                write!(f, "not installed by any distribution: `{}`", path.display())
            }
            Self::NotInstalled { name, locked } => {
                write!(f, "not installed: {name} {locked} is locked")
            }
            Self::NotLocked { name, installed } => {
                write!(f, "not locked: {name} {installed} is installed")
            }
            Self::WrongVersion {
                name,
                locked,
                installed,
            } => write!(
                f,
                "wrong version: {name} {installed} is installed, {locked} is locked"
            ),
        }
    }
}

/// What `safevenv verify` found.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// The environment.
    pub environment: PathBuf,
    /// The lockfile compared with, if any.
    pub lockfile: Option<PathBuf>,
    /// Installed distributions.
    pub distributions: usize,
    /// Files hashed.
    pub files_hashed: usize,
    /// Every difference, sorted.
    pub problems: Vec<Problem>,
    /// How long it took.
    pub elapsed: Duration,
}

impl VerifyOutcome {
    /// The JSON form for `--format json`.
    pub fn to_json(&self) -> Value {
        json!({
            "environment": self.environment.display().to_string(),
            "lockfile": self.lockfile.as_ref().map(|path| path.display().to_string()),
            "distributions": self.distributions,
            "files_hashed": self.files_hashed,
            "clean": self.problems.is_empty(),
            "problems": self.problems.iter().map(Problem::to_json).collect::<Vec<_>>(),
        })
    }
}

/// One file to hash.
struct Job {
    distribution: String,
    relative: PathBuf,
    path: PathBuf,
    algorithm: String,
    expected: String,
}

/// Check the environment against its `RECORD` files and, if given, a lockfile.
pub fn verify(settings: &VerifySettings) -> Result<VerifyOutcome, OpsError> {
    let started = Instant::now();
    let lock = settings
        .lockfile
        .as_ref()
        .map(|path| {
            let path = settings.working_dir.join(path);
            read_lockfile(&path).map(|lock| (path, lock))
        })
        .transpose()?;
    let env_path = settings
        .environment
        .as_ref()
        .map(|path| settings.working_dir.join(path));
    let (interpreter, environment) =
        open_environment(env_path.as_deref(), &settings.working_dir, &settings.cache)?;
    let installed = environment.installed()?;
    let prefix = environment.layout().prefix.clone();
    let canonical_prefix = fs_err::canonicalize(&prefix).map_err(|source| OpsError::Verify {
        path: prefix.clone(),
        source,
    })?;

    let mut problems = Vec::new();
    let mut owned: HashSet<PathBuf> = HashSet::new();
    let mut jobs = Vec::new();
    // (1): read every RECORD; what it lists is owned whether or not it can be hashed.
    for dist in &installed {
        read_record(
            dist,
            &prefix,
            &canonical_prefix,
            &mut owned,
            &mut jobs,
            &mut problems,
        );
        own_dist_info(&environment, dist, &mut owned, &mut problems);
    }
    let files_hashed = jobs.len();
    problems.extend(hash_all(jobs));

    // (2):
    let site_packages: BTreeSet<&PathBuf> = [
        &environment.layout().scheme.purelib,
        &environment.layout().scheme.platlib,
    ]
    .into_iter()
    .collect();
    for dir in site_packages {
        unowned_files(dir, &prefix, &owned, &mut problems);
    }

    // (3):
    if let Some((_, lock)) = &lock {
        let markers = interpreter.markers();
        let locked: Vec<_> = lock
            .iter()
            .filter(|package| package.marker.evaluate(markers, &[]))
            .collect();
        for package in &locked {
            let version = package
                .version
                .as_ref()
                .map_or_else(|| "(no version)".to_string(), ToString::to_string);
            match installed.iter().find(|dist| dist.name == package.name) {
                None => problems.push(Problem::NotInstalled {
                    name: package.name.to_string(),
                    locked: version,
                }),
                Some(dist) if package.version.as_ref() != Some(&dist.version) => {
                    problems.push(Problem::WrongVersion {
                        name: package.name.to_string(),
                        locked: version,
                        installed: dist.version.to_string(),
                    });
                }
                Some(_) => {}
            }
        }
        for dist in &installed {
            if !locked.iter().any(|package| package.name == dist.name) {
                problems.push(Problem::NotLocked {
                    name: dist.name.to_string(),
                    installed: dist.version.to_string(),
                });
            }
        }
    }
    problems.sort();
    problems.dedup();
    Ok(VerifyOutcome {
        environment: prefix,
        lockfile: lock.map(|(path, _)| path),
        distributions: installed.len(),
        files_hashed,
        problems,
        elapsed: started.elapsed(),
    })
}

/// `.pyc` files under `__pycache__`: written by Python itself (and by installers, without a
/// hash as PEP 376 allows), rewritten whenever their source changes.
fn is_cached_bytecode(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "pyc")
        && path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|dir| dir == "__pycache__")
}

/// The `.py` a cached `.pyc` was compiled from: `pkg/__pycache__/mod.cpython-312.pyc` →
/// `pkg/mod.py`.
fn bytecode_source(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.split('.').next()?;
    Some(path.parent()?.parent()?.join(format!("{stem}.py")))
}

/// Resolve `.` and `..` lexically; `None` when `..` climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir | Component::Normal(_) => {
                out.push(component.as_os_str());
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
        }
    }
    Some(out)
}

fn read_record(
    dist: &InstalledDist,
    prefix: &Path,
    canonical_prefix: &Path,
    owned: &mut HashSet<PathBuf>,
    jobs: &mut Vec<Job>,
    problems: &mut Vec<Problem>,
) {
    let distribution = format!("{} {}", dist.name, dist.version);
    let no_record = |reason: String| Problem::NoRecord {
        distribution: distribution.clone(),
        reason,
    };
    let Some(record) = &dist.record else {
        problems.push(no_record(format!(
            "`{}` is missing",
            dist.dist_info.join("RECORD").display()
        )));
        return;
    };
    let file = match fs_err::File::open(record) {
        Ok(file) => file,
        Err(err) => {
            problems.push(no_record(err.to_string()));
            return;
        }
    };
    let site_packages = dist.dist_info.parent().unwrap_or(prefix);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                problems.push(no_record(format!("`{}`: {err}", record.display())));
                return;
            }
        };
        let Some(entry) = row.get(0).filter(|entry| !entry.is_empty()) else {
            continue;
        };
        let unsafe_entry = || Problem::Unsafe {
            distribution: distribution.clone(),
            entry: entry.to_string(),
        };
        // Security: a RECORD is written by whoever installed the distribution. An entry that
        // leaves the environment (`../../../etc/shadow`, an absolute path, a path through a
        // symbolic link) is reported and not read: verification reads only the environment.
        let Some(path) =
            normalize(&site_packages.join(entry)).filter(|path| path.starts_with(prefix))
        else {
            problems.push(unsafe_entry());
            continue;
        };
        let relative = path.strip_prefix(prefix).unwrap_or(&path).to_path_buf();
        owned.insert(path.clone());
        let hash = row.get(1).unwrap_or_default();
        if path == *record || is_cached_bytecode(&path) {
            continue;
        }
        match fs_err::symlink_metadata(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                problems.push(Problem::Missing {
                    distribution: distribution.clone(),
                    path: relative,
                });
                continue;
            }
            Err(err) => {
                problems.push(Problem::Unreadable {
                    path: relative,
                    reason: err.to_string(),
                });
                continue;
            }
            Ok(metadata) if metadata.file_type().is_symlink() => {
                problems.push(unsafe_entry());
                continue;
            }
            Ok(metadata) if metadata.is_dir() => continue,
            Ok(_) => {}
        }
        let inside = path
            .parent()
            .and_then(|parent| fs_err::canonicalize(parent).ok())
            .is_some_and(|parent| parent.starts_with(canonical_prefix));
        if !inside {
            problems.push(unsafe_entry());
            continue;
        }
        let Some((algorithm, expected)) = hash.split_once('=') else {
            problems.push(Problem::Unhashed {
                distribution: distribution.clone(),
                path: relative,
            });
            continue;
        };
        jobs.push(Job {
            distribution: distribution.clone(),
            relative,
            path,
            algorithm: algorithm.to_ascii_lowercase(),
            expected: expected.trim_end_matches('=').to_string(),
        });
    }
}

/// Everything inside a `.dist-info` belongs to its distribution (`INSTALLER`, `REQUESTED`, ...
/// are written after `RECORD`, or are listed without a hash).
fn own_dist_info(
    environment: &Environment,
    dist: &InstalledDist,
    owned: &mut HashSet<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    let mut stack = vec![dist.dist_info.clone()];
    while let Some(dir) = stack.pop() {
        let entries = match fs_err::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) => {
                problems.push(Problem::Unreadable {
                    path: relative_to(&dir, &environment.layout().prefix),
                    reason: err.to_string(),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                stack.push(path);
            } else {
                owned.insert(path);
            }
        }
    }
}

fn relative_to(path: &Path, prefix: &Path) -> PathBuf {
    path.strip_prefix(prefix).unwrap_or(path).to_path_buf()
}

/// Files below `dir` that no RECORD owns. Symbolic links are reported, not followed.
fn unowned_files(dir: &Path, prefix: &Path, owned: &HashSet<PathBuf>, problems: &mut Vec<Problem>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs_err::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                problems.push(Problem::Unreadable {
                    path: relative_to(&dir, prefix),
                    reason: err.to_string(),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                stack.push(path);
                continue;
            }
            if owned.contains(&path) {
                continue;
            }
            if is_cached_bytecode(&path)
                && bytecode_source(&path).is_some_and(|source| source.exists())
            {
                continue;
            }
            problems.push(Problem::Unowned {
                path: relative_to(&path, prefix),
            });
        }
    }
}

/// Hash every job on up to [`MAX_THREADS`] threads; the problems found.
fn hash_all(jobs: Vec<Job>) -> Vec<Problem> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, MAX_THREADS)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut found = Vec::new();
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    if let Some(problem) = check(job, &mut buffer) {
                        found.push(problem);
                    }
                }
                problems
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(found);
            });
        }
    });
    problems
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn check(job: &Job, buffer: &mut [u8]) -> Option<Problem> {
    let digest = match job.algorithm.as_str() {
        "sha256" => digest_file::<Sha256>(&job.path, buffer),
        "sha384" => digest_file::<Sha384>(&job.path, buffer),
        "sha512" => digest_file::<Sha512>(&job.path, buffer),
        _ => {
            return Some(Problem::UnknownAlgorithm {
                distribution: job.distribution.clone(),
                path: job.relative.clone(),
                algorithm: job.algorithm.clone(),
            });
        }
    };
    match digest {
        Ok(actual) if actual == job.expected => None,
        Ok(actual) => Some(Problem::Modified {
            distribution: job.distribution.clone(),
            path: job.relative.clone(),
            expected: format!("{}={}", job.algorithm, job.expected),
            actual: format!("{}={actual}", job.algorithm),
        }),
        Err(err) => Some(Problem::Unreadable {
            path: job.relative.clone(),
            reason: err.to_string(),
        }),
    }
}

/// The file's digest as RECORD writes it: URL-safe base64 without padding (PEP 376, PEP 427).
fn digest_file<D: Digest>(path: &Path, buffer: &mut [u8]) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = D::new();
    loop {
        let read = file.read(buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(URL_SAFE_NO_PAD.encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytecode_belongs_with_its_source() {
        let pyc = Path::new("/env/lib/pkg/__pycache__/mod.cpython-312.pyc");
        assert!(is_cached_bytecode(pyc));
        assert_eq!(
            bytecode_source(pyc).unwrap(),
            Path::new("/env/lib/pkg/mod.py")
        );
        assert!(!is_cached_bytecode(Path::new("/env/lib/pkg/mod.pyc")));
    }

    #[test]
    fn normalize_refuses_climbing_above_the_root() {
        assert_eq!(
            normalize(Path::new("/env/lib/site/../../bin/tool")).unwrap(),
            Path::new("/env/bin/tool")
        );
        assert!(normalize(Path::new("a/../../b")).is_none());
    }
}
