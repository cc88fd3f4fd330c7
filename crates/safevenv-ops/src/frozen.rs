//! `sync --frozen`: the lockfile must still satisfy the requirements, or nothing is installed.

use std::path::Path;

use safevenv_lock::Lock;
use safevenv_python::Interpreter;
use uv_pep508::VersionOrUrl;

use crate::direct::{locked_location, same_location, show};
use crate::error::OpsError;
use crate::input::Inputs;
use crate::install::SyncSettings;

/// Every requirement that applies to this interpreter names a locked package at a version it
/// accepts. Checks the top-level requirements: their dependencies were resolved when the
/// lockfile was made, and the lockfile pins them.
pub(crate) fn check(
    lock: &Lock,
    lockfile: &Path,
    settings: &SyncSettings,
    interpreter: &Interpreter,
) -> Result<(), OpsError> {
    if settings.requirement_files.is_empty() && settings.specifiers.is_empty() {
        return Err(OpsError::FrozenWithoutRequirements);
    }
    let inputs = Inputs::read(
        &settings.requirement_files,
        &[],
        &settings.specifiers,
        &[],
        &settings.working_dir,
    )?;
    let stale = stale(lock, lockfile, &inputs, interpreter)?;
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
    for requirement in inputs.requirements()? {
        if !requirement.marker.evaluate(interpreter.markers(), &[]) {
            continue;
        }
        let locked = lock
            .packages_named(&requirement.name)
            .filter(|package| package.marker.evaluate(interpreter.markers(), &[]))
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
