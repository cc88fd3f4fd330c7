//! `sync --frozen`: the lockfile must still satisfy the requirements, or nothing is installed.

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use safevenv_lock::Lock;
use safevenv_python::Interpreter;
use uv_pep508::{Requirement, VersionOrUrl};

use crate::direct::{locked_location, same_location, show};
use crate::error::OpsError;
use crate::input::Inputs;
use crate::install::SyncSettings;
use crate::lock::recorded_requirements;

/// Every requirement that applies to this interpreter names a locked package at a version it
/// accepts. Checks the top-level requirements: their dependencies were resolved when the
/// lockfile was made, and the lockfile pins them.
///
/// Without `-r` files or specifiers, a lockfile made from a project is checked against the
/// project as it was locked (every extra and group, or its `--only-group` groups), and the
/// project's requirements must also be the very ones the lockfile was made from: a dependency
/// removed or changed in `pyproject.toml` makes the lockfile stale even when its pins would
/// still satisfy the rest.
pub(crate) fn check(
    lock: &Lock,
    lockfile: &Path,
    settings: &SyncSettings,
    interpreter: &Interpreter,
) -> Result<(), OpsError> {
    let project = crate::project::read_as_locked(
        lock,
        settings.project.as_ref(),
        &settings.requirement_files,
        &settings.specifiers,
        &settings.working_dir,
    )?;
    if settings.requirement_files.is_empty() && settings.specifiers.is_empty() && project.is_none()
    {
        return Err(OpsError::FrozenWithoutRequirements);
    }
    let inputs = Inputs::read_with(
        &settings.requirement_files,
        &[],
        &settings.specifiers,
        &[],
        &settings.working_dir,
        project.as_ref().map(|project| project.entries.clone()),
    )?;
    let mut stale = stale(lock, lockfile, &inputs, interpreter)?;
    if let Some(project) = &project {
        stale.extend(changed_since_locked(lock, &inputs, &project.input.path)?);
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(OpsError::Frozen {
            lockfile: lockfile.to_path_buf(),
            stale,
        })
    }
}

/// The requirements of `inputs` (for this interpreter) that `lock` does not satisfy, each as a
/// line for people; empty when the lockfile is up to date. `doctor` reports the same list.
pub(crate) fn stale(
    lock: &Lock,
    lockfile: &Path,
    inputs: &Inputs,
    interpreter: &Interpreter,
) -> Result<Vec<String>, OpsError> {
    let mut stale = Vec::new();
    // Every package the lockfile holds counts, whichever extra or group needs it.
    let held = crate::project::Chosen::held(lock);
    for requirement in inputs.requirements()? {
        if !requirement.marker.evaluate(interpreter.markers(), &[]) {
            continue;
        }
        let locked = lock
            .packages_named(&requirement.name)
            .filter(|package| held.selects(package.marker, interpreter.markers()))
            .find_map(|package| package.version.as_ref());
        let satisfied = match (locked, &requirement.version_or_url) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(version), Some(VersionOrUrl::VersionSpecifier(specifiers))) => {
                specifiers.contains(version)
            }
            (Some(_), Some(VersionOrUrl::Url(_))) => false,
        };
        if !satisfied {
            stale.push(match locked {
                Some(version) => format!("`{requirement}` (locked: {version})"),
                None => format!("`{requirement}` (not locked)"),
            });
        }
    }
    // A direct wheel is satisfied only by the same wheel, locked without an index.
    let lock_dir = lockfile.parent().unwrap_or(Path::new(""));
    for request in &inputs.direct {
        if !request.marker.evaluate(interpreter.markers(), &[]) {
            continue;
        }
        let satisfied = lock.packages_named(&request.name).any(|package| {
            package.index.is_none()
                && package.wheels().iter().any(|wheel| {
                    locked_location(wheel, lock_dir)
                        .is_some_and(|locked| same_location(&locked, &request.location))
                        && request.sha256.as_ref().is_none_or(|pin| {
                            wheel.hashes.0.get("sha256").is_some_and(|hex| hex == pin)
                        })
                })
        });
        if !satisfied {
            stale.push(format!(
                "`{} @ {}` (not locked from that wheel)",
                request.name,
                show(&request.location)
            ));
        }
    }
    Ok(stale)
}

/// The project's index requirements that the lockfile's recorded ones lack, and the recorded
/// ones the project no longer declares (requirements by URL are judged by the wheel check).
fn changed_since_locked(
    lock: &Lock,
    inputs: &Inputs,
    pyproject: &Path,
) -> Result<Vec<String>, OpsError> {
    let current: BTreeSet<String> = inputs
        .requirements()?
        .iter()
        .map(ToString::to_string)
        .collect();
    let recorded: BTreeSet<String> = recorded_requirements(lock)
        .into_iter()
        .filter(|text| {
            Requirement::<url::Url>::from_str(text).is_ok_and(|requirement| {
                !matches!(requirement.version_or_url, Some(VersionOrUrl::Url(_)))
            })
        })
        .collect();
    let path = pyproject.display();
    let mut stale: Vec<String> = current
        .difference(&recorded)
        .map(|text| format!("`{text}` (in `{path}`, not in the lockfile's requirements)"))
        .collect();
    stale.extend(
        recorded
            .difference(&current)
            .map(|text| format!("`{text}` (locked, no longer in `{path}`)")),
    );
    Ok(stale)
}
