//! What `audit`, `outdated` and `sbom` look at: a lockfile, an environment, or pinned
//! requirements, chosen once and read into a plain list of distributions.

use std::path::{Path, PathBuf};

use safevenv_cache::Cache;
use safevenv_installer::{Environment, EnvironmentLayout, InstalledDist, LockMode};
use safevenv_lock::Lock;
use safevenv_python::{Interpreter, ProbeError};
use safevenv_requirements::{ParseOptions, RequirementSource, RequirementsError, RequirementsTxt};
use tracing::warn;
use uv_normalize::PackageName;
use uv_pep440::{Operator, Version};

use crate::error::OpsError;
use crate::target::target_environment;

/// The lockfile looked for in the working directory when no subject is named.
pub const DEFAULT_LOCKFILE: &str = "pylock.toml";

/// Which distributions a report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `pylock.toml` in the working directory if there is one, else the active environment
    /// (`VIRTUAL_ENV`), else `.venv` in the working directory.
    Auto,
    /// A lockfile: every package it lists, whatever its marker.
    Lockfile(PathBuf),
    /// The environment at this path: what is installed.
    Environment(PathBuf),
    /// A requirements file whose requirements are all pinned with `==`.
    Requirements(PathBuf),
}

/// Why the subject could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    /// `--env PATH` is not an environment.
    #[error("`{}` is not an environment: it has no `pyvenv.cfg`", path.display())]
    NotAnEnvironment {
        /// The path given.
        path: PathBuf,
    },
    /// The environment's interpreter could not be run.
    #[error("cannot use the environment at `{}`", path.display())]
    Interpreter {
        /// The environment.
        path: PathBuf,
        /// Why.
        #[source]
        source: ProbeError,
    },
    /// The requirements file could not be read.
    #[error(transparent)]
    Requirements(#[from] RequirementsError),
    /// A requirement that does not name one version: what it would install is not known.
    #[error(
        "{origin}: `{requirement}` is not pinned with `==`; only pinned requirements can be audited"
    )]
    Unpinned {
        /// The requirement as written.
        requirement: String,
        /// Where it is.
        origin: String,
    },
    /// A requirement from a URL, a repository or a path: no version to look up.
    #[error(
        "{origin}: `{requirement}` does not come from an index; only `name==version` can be audited"
    )]
    NotFromIndex {
        /// The requirement as written.
        requirement: String,
        /// Where it is.
        origin: String,
    },
}

/// The distributions of a subject.
#[derive(Debug)]
pub(crate) struct Listed {
    /// What was read, for messages and reports: the lockfile, environment or requirements file.
    pub(crate) label: PathBuf,
    /// The distributions, sorted by name and version, without duplicates.
    pub(crate) distributions: Vec<(PackageName, Version)>,
    /// Packages that could not be listed with a version (a lockfile's source trees).
    pub(crate) skipped: Vec<PackageName>,
    /// The lockfile, when the subject is one.
    pub(crate) lock: Option<Lock>,
    /// The interpreter of the environment, when the subject is one.
    pub(crate) interpreter: Option<Interpreter>,
}

/// Read `subject` into a list of distributions.
pub(crate) fn list(
    subject: &Subject,
    working_dir: &Path,
    cache: &Cache,
) -> Result<Listed, OpsError> {
    match subject {
        Subject::Auto => {
            let lockfile = working_dir.join(DEFAULT_LOCKFILE);
            if lockfile.is_file() {
                list_lockfile(&lockfile)
            } else {
                let (interpreter, environment) = open_environment(None, working_dir, cache)?;
                list_environment(interpreter, &environment)
            }
        }
        Subject::Lockfile(path) => list_lockfile(&working_dir.join(path)),
        Subject::Environment(path) => {
            let (interpreter, environment) =
                open_environment(Some(&working_dir.join(path)), working_dir, cache)?;
            list_environment(interpreter, &environment)
        }
        Subject::Requirements(path) => list_requirements(&working_dir.join(path), working_dir),
    }
}

pub(crate) fn read_lockfile(path: &Path) -> Result<Lock, OpsError> {
    Lock::from_path(path).map_err(|source| OpsError::LockfileRead {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

fn list_lockfile(path: &Path) -> Result<Listed, OpsError> {
    let lock = read_lockfile(path)?;
    let mut distributions = Vec::new();
    let mut skipped = Vec::new();
    for package in lock.iter() {
        match &package.version {
            Some(version) => distributions.push((package.name.clone(), version.clone())),
            None => skipped.push(package.name.clone()),
        }
    }
    distributions.sort();
    distributions.dedup();
    Ok(Listed {
        label: path.to_path_buf(),
        distributions,
        skipped,
        lock: Some(lock),
        interpreter: None,
    })
}

fn list_environment(
    interpreter: Interpreter,
    environment: &Environment,
) -> Result<Listed, OpsError> {
    let mut distributions: Vec<(PackageName, Version)> = environment
        .installed()?
        .into_iter()
        .map(|dist: InstalledDist| (dist.name, dist.version))
        .collect();
    distributions.sort();
    distributions.dedup();
    Ok(Listed {
        label: environment.layout().prefix.clone(),
        distributions,
        skipped: Vec::new(),
        lock: None,
        interpreter: Some(interpreter),
    })
}

fn list_requirements(path: &Path, working_dir: &Path) -> Result<Listed, OpsError> {
    let options = ParseOptions {
        working_dir: Some(working_dir.to_path_buf()),
        ..ParseOptions::default()
    };
    let parsed = RequirementsTxt::parse_file(path, &options).map_err(SubjectError::from)?;
    let mut distributions = Vec::with_capacity(parsed.requirements.len());
    for entry in &parsed.requirements {
        let requirement = &entry.requirement;
        let written = || match &requirement.name {
            Some(name) => match &requirement.source {
                RequirementSource::Registry { specifier } => format!("{name}{specifier}"),
                _ => name.to_string(),
            },
            None => "an unnamed requirement".to_string(),
        };
        let (Some(name), RequirementSource::Registry { specifier }) =
            (&requirement.name, &requirement.source)
        else {
            return Err(SubjectError::NotFromIndex {
                requirement: written(),
                origin: entry.origin.to_string(),
            }
            .into());
        };
        // Only `==` without a wildcard names one version; anything else is a range whose
        // installed version the file does not say.
        let pinned = match specifier.iter().collect::<Vec<_>>().as_slice() {
            [only] if *only.operator() == Operator::Equal => Some(only.version().clone()),
            _ => None,
        };
        let Some(version) = pinned else {
            return Err(SubjectError::Unpinned {
                requirement: written(),
                origin: entry.origin.to_string(),
            }
            .into());
        };
        distributions.push((name.clone(), version));
    }
    distributions.sort();
    distributions.dedup();
    Ok(Listed {
        label: path.to_path_buf(),
        distributions,
        skipped: Vec::new(),
        lock: None,
        interpreter: None,
    })
}

/// The environment at `path` (`--env`), or the active or `.venv` one, opened under its lock so
/// that a running install is waited for rather than read half-done.
/// The lockfile `path` names (relative to `working_dir`), if there is one: the commands that read
/// an environment use its lockfile when present and go on without it otherwise.
pub(crate) fn present_lockfile(path: Option<&PathBuf>, working_dir: &Path) -> Option<PathBuf> {
    path.map(|path| working_dir.join(path))
        .filter(|path| path.is_file())
}

pub(crate) fn open_environment(
    path: Option<&Path>,
    working_dir: &Path,
    cache: &Cache,
) -> Result<(Interpreter, Environment), OpsError> {
    let (interpreter, prefix) =
        match path {
            Some(path) => {
                if !path.join("pyvenv.cfg").is_file() {
                    return Err(SubjectError::NotAnEnvironment {
                        path: path.to_path_buf(),
                    }
                    .into());
                }
                let interpreter = Interpreter::query(&path.join("bin").join("python"), cache)
                    .map_err(|source| SubjectError::Interpreter {
                        path: path.to_path_buf(),
                        source,
                    })?;
                let prefix = interpreter.sys_prefix().to_path_buf();
                (interpreter, prefix)
            }
            None => target_environment(None, working_dir, cache)?,
        };
    let layout = EnvironmentLayout::for_environment(&interpreter, &prefix);
    let environment = Environment::open(layout, LockMode::Wait, &mut |lock: &Path| {
        warn!(
            "waiting for another safevenv process to finish with this environment (lock `{}`)",
            lock.display()
        );
    })?;
    Ok((interpreter, environment))
}
