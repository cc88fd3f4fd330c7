//! `safevenv uninstall`: remove distributions through the installer's journal, refuse to break
//! what other installed distributions require, and keep the lockfile in step.
//!
//! Steps:
//! 1. every name asked for is installed (else nothing is removed);
//! 2. the distributions that stay are read for what they require (`Requires-Dist` whose marker
//!    holds for the environment's interpreter, without extras: which extras a distribution was
//!    installed with is not recorded); a requirement on one being removed refuses the whole run,
//!    naming the requirers, unless `force`;
//! 3. the distributions are removed as one transaction (`Environment::uninstall_all`): a crash
//!    leaves all of them installed or none, and a `RECORD` row outside the environment, in
//!    safevenv's state or naming the environment's own files is refused before anything moves;
//! 4. the lockfile, when there is one, drops their packages and the recorded requirements that
//!    name them.
//!
//! Dependencies that nothing requires any more are left installed and locked, as pip leaves
//! them: they are reported (`orphaned`) so that they can be removed by name. Removing them
//! silently could take away what the user imports directly without having asked for it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;

use safevenv_cache::Cache;
use safevenv_installer::InstalledDist;
use safevenv_lock::Lock;
use safevenv_python::Interpreter;
use serde_json::{Value, json};
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::Requirement;
use uv_pypi_types::ResolutionMetadata;

use crate::error::OpsError;
use crate::lock::{recorded_requirements, write_if_changed};
use crate::subject::{open_environment, read_lockfile};

/// Everything `safevenv uninstall` needs.
#[derive(Debug, Clone)]
pub struct UninstallSettings {
    /// The distributions to remove.
    pub names: Vec<PackageName>,
    /// `--env PATH`; default: the active environment, then `.venv` here.
    pub environment: Option<PathBuf>,
    /// The lockfile to update, if it exists; `None` for `--no-lockfile`.
    pub lockfile: Option<PathBuf>,
    /// Remove even what other installed distributions require.
    pub force: bool,
    /// Caches (the interpreter's probe).
    pub cache: Cache,
    /// Where relative paths are.
    pub working_dir: PathBuf,
}

/// What `safevenv uninstall` did.
#[derive(Debug)]
pub struct UninstallOutcome {
    /// The environment.
    pub environment: PathBuf,
    /// The distributions removed.
    pub removed: Vec<(PackageName, Version)>,
    /// With `force`: the installed distributions that still require a removed one, as
    /// `(requirer, removed)`.
    pub broken: Vec<(PackageName, PackageName)>,
    /// Installed dependencies of the removed ones that nothing requires any more and nobody
    /// asked for: left installed.
    pub orphaned: Vec<(PackageName, Version)>,
    /// The lockfile updated, and whether its content changed.
    pub lockfile: Option<(PathBuf, bool)>,
    /// File operations the transaction ran.
    pub operations: usize,
}

impl UninstallOutcome {
    /// The JSON form for `--format json`.
    pub fn to_json(&self) -> Value {
        let dists = |list: &[(PackageName, Version)]| {
            list.iter()
                .map(|(name, version)| json!({"name": name.as_ref(), "version": version.to_string()}))
                .collect::<Vec<_>>()
        };
        json!({
            "environment": self.environment.display().to_string(),
            "removed": dists(&self.removed),
            "broken": self.broken.iter().map(|(requirer, removed)| json!({"requirer": requirer.as_ref(), "requires": removed.as_ref()})).collect::<Vec<_>>(),
            "orphaned": dists(&self.orphaned),
            "lockfile": self.lockfile.as_ref().map(|(path, changed)| json!({"path": path.display().to_string(), "changed": changed})),
            "operations": self.operations,
        })
    }
}

/// Why an uninstall was refused before anything changed.
#[derive(Debug, thiserror::Error)]
pub enum UninstallError {
    /// Another installed distribution requires one asked for removal.
    #[error("{} required by {}", removed_names(.required), requirer_names(.required))]
    Required {
        /// `(requirer, the requirement as written, the distribution it requires)`.
        required: Vec<(PackageName, String, PackageName)>,
    },
    /// An installed distribution's `METADATA` could not be read for its requirements.
    #[error("cannot read the requirements of `{}`", path.display())]
    Metadata {
        /// The `METADATA` file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn removed_names(required: &[(PackageName, String, PackageName)]) -> String {
    let names: BTreeSet<&PackageName> = required.iter().map(|(_, _, removed)| removed).collect();
    let names: Vec<String> = names.iter().map(|name| format!("`{name}` is")).collect();
    names.join(", ")
}

fn requirer_names(required: &[(PackageName, String, PackageName)]) -> String {
    let names: Vec<String> = required
        .iter()
        .map(|(requirer, requirement, _)| format!("`{requirer}` (`{requirement}`)"))
        .collect();
    names.join(", ")
}

/// Remove `settings.names` from the environment (see the module's steps).
pub fn uninstall(settings: &UninstallSettings) -> Result<UninstallOutcome, OpsError> {
    let env_path = settings
        .environment
        .as_ref()
        .map(|path| settings.working_dir.join(path));
    let (interpreter, environment) =
        open_environment(env_path.as_deref(), &settings.working_dir, &settings.cache)?;
    let lockfile =
        crate::subject::present_lockfile(settings.lockfile.as_ref(), &settings.working_dir);
    // Read before anything changes: a lockfile that cannot be read stops the run here.
    let lock = lockfile
        .as_ref()
        .map(|path| read_lockfile(path).map(|lock| (path.clone(), lock)))
        .transpose()?;
    let installed = environment.installed()?;
    // (1):
    let names: BTreeSet<PackageName> = settings.names.iter().cloned().collect();
    if let Some(missing) = names
        .iter()
        .find(|name| !installed.iter().any(|dist| &dist.name == *name))
    {
        return Err(safevenv_installer::InstallError::NotInstalled {
            name: missing.to_string(),
            prefix: environment.layout().prefix.clone(),
        }
        .into());
    }
    // (2):
    let requires = requirements_of(&installed, &interpreter)?;
    let required: Vec<(PackageName, String, PackageName)> = requires
        .iter()
        .filter(|(requirer, _)| !names.contains(*requirer))
        .flat_map(|(requirer, requirements)| {
            requirements
                .iter()
                .filter(|(name, _)| names.contains(name))
                .map(|(name, text)| ((*requirer).clone(), text.clone(), name.clone()))
        })
        .collect();
    if !required.is_empty() && !settings.force {
        return Err(UninstallError::Required { required }.into());
    }
    // (3):
    let names: Vec<PackageName> = names.into_iter().collect();
    let applied = environment.uninstall_all(&names, &mut |_| {})?;
    // (4):
    let lockfile = match lock {
        Some((path, mut lock)) => {
            forget(&mut lock, &names);
            let changed =
                write_if_changed(&path, &lock.to_toml_string()).map_err(|err| match err {
                    OpsError::Write { path, source } => OpsError::LockfileAfterInstall {
                        path,
                        installed: 0,
                        removed: applied.removed.len(),
                        source,
                    },
                    other => other,
                })?;
            Some((path, changed))
        }
        None => None,
    };
    Ok(UninstallOutcome {
        environment: environment.layout().prefix.clone(),
        removed: applied.removed,
        broken: required
            .into_iter()
            .map(|(requirer, _, removed)| (requirer, removed))
            .collect(),
        orphaned: orphaned(&installed, &requires, &names),
        lockfile,
        operations: applied.operations,
    })
}

/// Each installed distribution's requirements for this interpreter: `(name, as written)`.
type RequirementsOf<'a> = BTreeMap<&'a PackageName, Vec<(PackageName, String)>>;

/// What each installed distribution requires for this interpreter.
fn requirements_of<'a>(
    installed: &'a [InstalledDist],
    interpreter: &Interpreter,
) -> Result<RequirementsOf<'a>, UninstallError> {
    let mut requires = BTreeMap::new();
    for dist in installed {
        let path = dist.dist_info.join("METADATA");
        let unreadable = |reason: String| UninstallError::Metadata {
            path: path.clone(),
            reason,
        };
        let bytes = fs_err::read(&path).map_err(|err| unreadable(err.to_string()))?;
        let metadata = ResolutionMetadata::parse_metadata(&bytes)
            .map_err(|err| unreadable(err.to_string()))?;
        let list = metadata
            .requires_dist
            .iter()
            .filter(|requirement| requirement.marker.evaluate(interpreter.markers(), &[]))
            .map(|requirement| (requirement.name.clone(), requirement.to_string()))
            .collect();
        requires.insert(&dist.name, list);
    }
    Ok(requires)
}

/// Installed dependencies of `removed` that no remaining distribution requires and that were
/// not asked for (no `REQUESTED`).
fn orphaned(
    installed: &[InstalledDist],
    requires: &BTreeMap<&PackageName, Vec<(PackageName, String)>>,
    removed: &[PackageName],
) -> Vec<(PackageName, Version)> {
    let of_removed: BTreeSet<&PackageName> = removed
        .iter()
        .filter_map(|name| requires.get(name))
        .flatten()
        .map(|(name, _)| name)
        .collect();
    let still_required: BTreeSet<&PackageName> = requires
        .iter()
        .filter(|(requirer, _)| !removed.contains(requirer))
        .flat_map(|(_, list)| list.iter().map(|(name, _)| name))
        .collect();
    installed
        .iter()
        .filter(|dist| {
            of_removed.contains(&dist.name)
                && !still_required.contains(&dist.name)
                && !removed.contains(&dist.name)
                && !dist.requested
        })
        .map(|dist| (dist.name.clone(), dist.version.clone()))
        .collect()
}

/// Drop `names` from the lockfile: their packages, and the recorded requirements naming them
/// (else the next `install` would bring them back).
fn forget(lock: &mut Lock, names: &[PackageName]) {
    lock.packages
        .retain(|package| !names.contains(&package.name));
    let kept: Vec<toml::Value> = recorded_requirements(lock)
        .into_iter()
        .filter(|text| {
            Requirement::<uv_pypi_types::VerbatimParsedUrl>::from_str(text)
                .ok()
                .is_none_or(|requirement| !names.contains(&requirement.name))
        })
        .map(toml::Value::String)
        .collect();
    if let Some(requirements) = lock
        .tool
        .as_mut()
        .and_then(|tool| tool.get_mut("safevenv"))
        .and_then(toml::Value::as_table_mut)
        .and_then(|safevenv| safevenv.get_mut("requirements"))
    {
        *requirements = toml::Value::Array(kept);
    }
}
