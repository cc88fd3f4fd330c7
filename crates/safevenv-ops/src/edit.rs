//! `safevenv add` and `safevenv remove`: edit the project's `pyproject.toml` (the stage in
//! `safevenv-project`, which keeps formatting and comments), then the lock stage and the sync
//! stage, for one interpreter and one policy.
//!
//! ```text
//! pyproject.toml edited → lock (resolve, publishers) → sync (fetch, verify, gate, install)
//! ```
//!
//! Invariant: the edit holds only if the whole run succeeds. When resolution, the policy gate or
//! any later stage refuses, `pyproject.toml` and the lockfile are put back byte for byte, and the
//! environment is untouched (the sync stage is journaled).

use std::path::PathBuf;
use std::time::Instant;

use safevenv_lock::Lock;
use safevenv_project::{EditTarget, PYPROJECT, ProjectError, find_root, write_atomic};
use uv_normalize::PackageName;

use crate::error::OpsError;
use crate::input::InputError;
use crate::install::{InstallOutcome, SyncSettings, load_policy, sync_lock};
use crate::lock::{LockOutcome, LockSettings, lock_for, write_if_changed};
use crate::target::install_target;

/// What `safevenv add` or `safevenv remove` changes.
#[derive(Debug, Clone)]
pub enum ProjectEdit {
    /// Requirements to add (or whose entry to replace).
    Add(Vec<String>),
    /// Projects to remove.
    Remove(Vec<PackageName>),
}

/// Everything `safevenv add`/`remove` needs.
#[derive(Debug, Clone)]
pub struct EditSettings {
    /// The change.
    pub edit: ProjectEdit,
    /// Which array: `project.dependencies`, an extra, a group.
    pub target: EditTarget,
    /// How to lock afterwards (`working_dir` is where the project is looked for; the run works
    /// in the project's root, where its lockfile and policy are).
    pub lock: LockSettings,
    /// How to sync afterwards (its `project` chooses the extras and groups installed).
    pub sync: SyncSettings,
}

/// What `add`/`remove` did.
#[derive(Debug)]
pub struct EditOutcome {
    /// The `pyproject.toml` edited.
    pub pyproject: PathBuf,
    /// Whether its text changed.
    pub changed: bool,
    /// The lock stage.
    pub lock: LockOutcome,
    /// The sync stage.
    pub sync: InstallOutcome,
}

/// Edits the project's `pyproject.toml`, locks it and syncs the environment to the new lockfile;
/// on any failure after the edit, puts the file and the lockfile back as they were.
pub fn edit_project(settings: &EditSettings) -> Result<EditOutcome, OpsError> {
    let started = Instant::now();
    let start = &settings.lock.working_dir;
    let root = find_root(start).ok_or_else(|| {
        InputError::Project(ProjectError::NotFound {
            start: start.clone(),
        })
    })?;
    let pyproject = root.join(PYPROJECT);
    let original = fs_err::read_to_string(&pyproject).map_err(|source| {
        InputError::Project(ProjectError::Io {
            path: pyproject.clone(),
            source,
        })
    })?;
    let edited = match &settings.edit {
        ProjectEdit::Add(requirements) => {
            safevenv_project::add(&pyproject, &original, requirements, &settings.target)
        }
        ProjectEdit::Remove(names) => {
            safevenv_project::remove(&pyproject, &original, names, &settings.target)
        }
    }
    .map_err(InputError::Project)?;

    let lock_settings = LockSettings {
        working_dir: root.clone(),
        ..settings.lock.clone()
    };
    let sync_settings = SyncSettings {
        working_dir: root.clone(),
        ..settings.sync.clone()
    };
    // Found and read before the edit: nothing is written until the run can begin.
    let (interpreter, layout) = install_target(
        sync_settings.python.as_deref(),
        &root,
        &sync_settings.cache,
        sync_settings.system,
    )?;
    let policy = load_policy(&root, sync_settings.policy.clone())?;
    let lockfile = root.join(&sync_settings.lockfile);
    let previous_lock = fs_err::read_to_string(&lockfile).ok();

    let changed = edited != original;
    if changed {
        write_atomic(&pyproject, &edited).map_err(InputError::Project)?;
    }
    let run = || -> Result<(LockOutcome, InstallOutcome), OpsError> {
        let locked = lock_for(&lock_settings, interpreter.clone(), &policy, started)?;
        let lock = Lock::from_path(&lockfile).map_err(|source| OpsError::LockfileRead {
            path: lockfile.clone(),
            source: Box::new(source),
        })?;
        let synced = sync_lock(
            &sync_settings,
            &lock,
            &lockfile,
            interpreter,
            layout,
            &policy,
            started,
        )?;
        Ok((locked, synced))
    };
    match run() {
        Ok((lock, sync)) => Ok(EditOutcome {
            pyproject,
            changed,
            lock,
            sync,
        }),
        Err(err) => {
            // Put back what the run changed, before reporting why it failed.
            if changed {
                write_atomic(&pyproject, &original).map_err(InputError::Project)?;
            }
            match &previous_lock {
                Some(text) => {
                    write_if_changed(&lockfile, text)?;
                }
                None if lockfile.exists() => {
                    fs_err::remove_file(&lockfile).map_err(|source| OpsError::Write {
                        path: lockfile.clone(),
                        source,
                    })?;
                }
                None => {}
            }
            Err(err)
        }
    }
}
