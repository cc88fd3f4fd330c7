//! Install wheels into an environment atomically.
//!
//! An [`Environment`] is opened under an exclusive lock (`<prefix>/.safevenv/lock`), which first
//! finishes or rolls back any transaction a killed process left behind. [`Environment::plan`]
//! compares what is installed with what is wanted; [`Environment::apply`] carries the plan out
//! as one transaction, and only for distributions the policy approved ([`PolicyApproved`]) from
//! wheels unpacked into the cache with their `RECORD` hashes checked ([`ReadyWheel`]).
//!
//! Whatever happens — an error, a refusal, `kill -9` at any point — the environment ends up in
//! its old state or its new state, never a mix. How: `docs/install.md`.

mod destinations;
mod error;
mod installed;
mod key;
mod layout;
mod parallel;
mod plan;
mod receipt;
mod seal;
mod staged;
mod txn;
mod unpacked;

use std::collections::BTreeSet;
use std::fs::TryLockError;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};
use uv_install_wheel::{InstallState, LinkMode};
use uv_normalize::PackageName;
use uv_pep440::Version;

pub use destinations::{Destinations, LinkEscape};
pub use error::InstallError;
pub use installed::InstalledDist;
pub use layout::EnvironmentLayout;
pub use plan::{Install, Plan};
pub use receipt::Unkept;
pub use safevenv_policy::PolicyApproved;
pub use safevenv_wheel::{InspectedWheel, VerifiedWheel};
pub use seal::SealKey;
pub use txn::Recovered;
pub use unpacked::{EntryMismatch, ReadyWheel, UnpackedCache};

use crate::txn::Transaction;

/// safevenv's own state inside an environment: the lock and transactions.
pub(crate) const STATE_DIR: &str = ".safevenv";

/// What goes into each installed distribution's `INSTALLER` file.
const INSTALLER: &str = "safevenv";

/// What to do when another safevenv process holds the environment's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Wait for it to finish (after telling the caller, so it can say so).
    Wait,
    /// Fail at once with [`InstallError::Locked`].
    FailFast,
}

/// Progress of [`Environment::apply`] and [`Environment::uninstall`], for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<'a> {
    /// A wheel is being staged in the transaction.
    Staging {
        /// The distribution's name.
        name: &'a PackageName,
        /// Its version.
        version: &'a Version,
    },
    /// The environment is being changed: `done` of `total` file operations finished.
    Applying {
        /// Operations finished.
        done: usize,
        /// Operations in the transaction.
        total: usize,
    },
}

/// What a transaction changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Distributions installed, as `(name, version)`.
    pub installed: Vec<(PackageName, Version)>,
    /// Distributions removed (including the old versions of upgraded ones).
    pub removed: Vec<(PackageName, Version)>,
    /// File operations the transaction journaled and ran.
    pub operations: usize,
}

/// An environment opened for installing: it holds the environment's lock until dropped.
#[derive(Debug)]
pub struct Environment {
    layout: EnvironmentLayout,
    recovered: Vec<(PathBuf, Recovered)>,
    key: key::JournalKey,
    // Held for the lock; the operating system releases it when the file closes. It also
    // records the one transaction whose journal may be replayed (see `txn::Outstanding`).
    lock: fs_err::File,
}

impl Environment {
    /// Lock the environment and recover from any transaction a killed process left behind.
    ///
    /// With [`LockMode::Wait`], `on_wait` is called with the lock file's path before waiting for
    /// another safevenv process to finish.
    pub fn open(
        layout: EnvironmentLayout,
        mode: LockMode,
        on_wait: &mut dyn FnMut(&Path),
    ) -> Result<Self, InstallError> {
        layout.check()?;
        if !layout.prefix.is_dir() {
            return Err(InstallError::MissingPrefix {
                prefix: layout.prefix,
            });
        }
        let state = layout.prefix.join(STATE_DIR);
        fs_err::create_dir_all(&state).map_err(InstallError::StateDir)?;
        let path = state.join("lock");
        let lock = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(InstallError::StateDir)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => match mode {
                LockMode::FailFast => return Err(InstallError::Locked { path }),
                LockMode::Wait => {
                    on_wait(&path);
                    lock.lock().map_err(|source| InstallError::Lock {
                        path: path.clone(),
                        source,
                    })?;
                }
            },
            Err(TryLockError::Error(source)) => return Err(InstallError::Lock { path, source }),
        }
        // Recovery trusts only journals signed with the key made when the environment was first
        // opened (none yet means no journal can be trusted), and the key is made afterwards.
        let recovered = txn::recover(
            &layout.prefix,
            key::JournalKey::load(&state)?.as_ref(),
            &txn::Outstanding::new(&lock),
        )?;
        let key = key::JournalKey::load_or_create(&state)?;
        Ok(Self {
            layout,
            recovered,
            key,
            lock,
        })
    }

    /// The environment's layout.
    pub fn layout(&self) -> &EnvironmentLayout {
        &self.layout
    }

    /// The interrupted transactions that [`Environment::open`] finished or rolled back.
    pub fn recovered(&self) -> &[(PathBuf, Recovered)] {
        &self.recovered
    }

    /// The distributions installed, sorted by name.
    pub fn installed(&self) -> Result<Vec<InstalledDist>, InstallError> {
        installed::scan(&self.layout)
    }

    /// The files `dist` owns, as absolute paths: its `RECORD` entries that exist and everything
    /// in its `.dist-info`. A `RECORD` entry outside the environment is refused, as when
    /// uninstalling.
    pub fn files_of(&self, dist: &InstalledDist) -> Result<Vec<PathBuf>, InstallError> {
        Ok(installed::owned_files(&self.layout, dist)?
            .into_iter()
            .map(|relative| self.layout.prefix.join(relative))
            .collect())
    }

    /// What to do so that the environment holds `wanted` (and, with `remove_extraneous`,
    /// nothing else). An installed distribution with the wanted name and version is kept as it
    /// is only when its receipt, checked with `key`, shows that safevenv installed it from the
    /// wanted archive and that its `RECORD` and files are as installed (see `receipt`); else it
    /// is reinstalled. When everything is kept the plan is empty and applying it touches
    /// nothing.
    pub fn plan(
        &self,
        wanted: &[Install],
        remove_extraneous: bool,
        key: &SealKey,
    ) -> Result<Plan, InstallError> {
        let intact = |dist: &InstalledDist, want: &Install| {
            receipt::check(key, &dist.dist_info, want.artifact_sha256.as_ref()).inspect_err(
                |unkept| warn!("reinstalling {} {}: {unkept}", dist.name, dist.version),
            )
        };
        Ok(Plan::new(
            self.installed()?,
            wanted,
            remove_extraneous,
            &intact,
        ))
    }

    /// Carry `plan` out as one transaction.
    ///
    /// Steps:
    /// 1. every distribution to install is approved by `approved` and has a wheel in `wheels`;
    /// 2. the files of every distribution to remove are read from its `RECORD`, refusing entries
    ///    outside the environment;
    /// 3. each wheel is installed from its cache entry by uv's installer into the transaction's
    ///    staging tree, which mirrors the environment (`REQUESTED`, `INSTALLER`,
    ///    `direct_url.json`), by hard links to the entry, and given its receipt;
    /// 4. the file operations are worked out; just before they are journaled, what was staged
    ///    is checked again against the entries (`staged::recheck`); then they are journaled, run
    ///    and committed (`txn`).
    ///
    /// On any error the environment is left, or put back, as it was.
    pub fn apply(
        &self,
        plan: &Plan,
        approved: &PolicyApproved,
        wheels: &[ReadyWheel],
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<Applied, InstallError> {
        if plan.is_empty() {
            return Ok(Applied::default());
        }
        // (1): the approval names this distribution, and the very content it judged.
        let mut chosen = Vec::with_capacity(plan.install.len());
        let mut approved_files: BTreeSet<&str> = BTreeSet::new();
        for install in &plan.install {
            let Some(approval) = approved.get(&install.name, &install.version) else {
                return Err(InstallError::NotApproved {
                    name: install.name.to_string(),
                    version: install.version.to_string(),
                });
            };
            let wheel = wheels
                .iter()
                .position(|wheel| {
                    let filename = wheel.filename();
                    filename.name == install.name && filename.version == install.version
                })
                .ok_or_else(|| InstallError::MissingWheel {
                    name: install.name.to_string(),
                    version: install.version.to_string(),
                })?;
            approved_files.extend(approval.files().iter().map(String::as_str));
            chosen.push((install, wheel));
        }
        // Invariant: the facts the gate approved are the facts of the very wheels linked from
        // (content keys, final paths, `.pth` code, start-up modules, files of the environment),
        // recomputed here from those wheels by the same destination model. Threat: approving
        // one wheel's facts and installing another wheel of the same name and version, or
        // facts a caller made up rather than read.
        let keyed: Vec<(&safevenv_wheel::WheelInfo, String)> = chosen
            .iter()
            .map(|&(_, index)| (&*wheels[index], wheels[index].content_key()))
            .collect();
        let recomputed = Destinations::new(&self.layout).contents_facts(&keyed);
        for ((install, _), contents) in chosen.iter().zip(&recomputed) {
            let approval = approved.get(&install.name, &install.version);
            if approval.and_then(|approval| approval.contents_digest())
                != Some(contents.digest().as_str())
            {
                return Err(InstallError::NotApprovedContent {
                    name: install.name.to_string(),
                    version: install.version.to_string(),
                });
            }
        }
        // (2):
        let removed = self.owned_files(&plan.remove)?;
        // (3):
        let txn = Transaction::create(&self.layout.prefix)?;
        let staged = self.stage(&txn, &chosen, wheels, progress).and_then(|()| {
            destinations::check_staged(
                &txn.staged(),
                &Destinations::new(&self.layout),
                &approved_files,
            )
        });
        if let Err(err) = staged {
            txn.discard();
            return Err(err);
        }
        if let Err(err) = self.write_receipts(&txn, &chosen, wheels) {
            txn.discard();
            return Err(err);
        }
        let staged_from: Vec<&ReadyWheel> =
            chosen.iter().map(|&(_, index)| &wheels[index]).collect();
        // (4):
        let applied = Applied {
            installed: plan
                .install
                .iter()
                .map(|install| (install.name.clone(), install.version.clone()))
                .collect(),
            removed: plan
                .remove
                .iter()
                .map(|dist| (dist.name.clone(), dist.version.clone()))
                .collect(),
            operations: 0,
        };
        self.commit(txn, &removed, applied, &staged_from, progress)
    }

    /// Remove one installed distribution, as a transaction of its own.
    pub fn uninstall(
        &self,
        name: &PackageName,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<Applied, InstallError> {
        self.uninstall_all(std::slice::from_ref(name), progress)
    }

    /// The SHA-256 (hex) of the archive safevenv installed `dist` from, when its receipt holds
    /// under `key` (see `receipt`): `Ok(None)` when it was installed from an archive of unknown
    /// digest, `Err` with why no receipt vouches for it (another installer, a change since).
    pub fn installed_from(
        &self,
        dist: &InstalledDist,
        key: &SealKey,
    ) -> Result<Option<String>, Unkept> {
        receipt::artifact(key, &dist.dist_info)
    }

    /// Remove every distribution in `names` as one transaction: all of them go, or none.
    pub fn uninstall_all(
        &self,
        names: &[PackageName],
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<Applied, InstallError> {
        let installed = self.installed()?;
        if let Some(name) = names
            .iter()
            .find(|name| !installed.iter().any(|dist| &dist.name == *name))
        {
            return Err(InstallError::NotInstalled {
                name: name.to_string(),
                prefix: self.layout.prefix.clone(),
            });
        }
        let dists: Vec<InstalledDist> = installed
            .into_iter()
            .filter(|dist| names.contains(&dist.name))
            .collect();
        let removed = self.owned_files(&dists)?;
        let txn = Transaction::create(&self.layout.prefix)?;
        let applied = Applied {
            installed: Vec::new(),
            removed: dists
                .iter()
                .map(|dist| (dist.name.clone(), dist.version.clone()))
                .collect(),
            operations: 0,
        };
        self.commit(txn, &removed, applied, &[], progress)
    }

    fn owned_files(&self, dists: &[InstalledDist]) -> Result<BTreeSet<PathBuf>, InstallError> {
        let mut removed = BTreeSet::new();
        for dist in dists {
            removed.extend(installed::owned_files(&self.layout, dist)?);
        }
        Ok(removed)
    }

    /// Stage every wheel below the transaction's mirror of the prefix.
    fn stage(
        &self,
        txn: &Transaction,
        chosen: &[(&Install, usize)],
        wheels: &[ReadyWheel],
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<(), InstallError> {
        let root = txn.staged();
        let layout = self.layout.staging_layout(&root);
        let prepare = |source| InstallError::Prepare {
            txn: txn.dir().to_path_buf(),
            source,
        };
        for dir in [&layout.scheme.purelib, &layout.scheme.platlib] {
            fs_err::create_dir_all(dir).map_err(prepare)?;
        }
        let Some(&(_, first)) = chosen.first() else {
            return Ok(());
        };
        let link_mode = link_mode_between(wheels[first].entry(), &root).map_err(prepare)?;
        for &(install, _) in chosen {
            progress(Progress::Staging {
                name: &install.name,
                version: &install.version,
            });
        }
        // Linking thousands of files is system calls waiting on the file system: every core at
        // once when each wheel writes its own paths (uv's installer creates shared directories
        // idempotently). Wheels that write the same path (a policy may allow overwriting) are
        // staged one after another in plan order, so the last one wins as it always has.
        let state = InstallState::default();
        let threads = if overlap(chosen.iter().map(|&(_, index)| &*wheels[index])) {
            1
        } else {
            usize::MAX
        };
        let mut order = chosen.to_vec();
        if threads > 1 {
            // The wheels with the most files first, so that the largest does not start last.
            order.sort_by_key(|&(_, index)| std::cmp::Reverse(wheels[index].files().len()));
        }
        let staged = parallel::parallel_map(order, threads, |(install, index)| {
            let wheel = &wheels[index];
            let (filename, entry) = (wheel.filename(), wheel.entry());
            let started = std::time::Instant::now();
            let stage_error = |source| InstallError::Stage {
                wheel: filename.to_string(),
                source: Box::new(source),
            };
            // uv links every file but `RECORD` (which it copies, as it rewrites it) and writes
            // what it changes (`INSTALLER`, `REQUESTED`, `direct_url.json`, scripts whose
            // shebang it rewrites) as new files renamed into the staging tree: nothing writes
            // through a link into the entry (`tests/unpacked_cache.rs` checks it).
            uv_install_wheel::install_wheel(
                &layout,
                false,
                entry,
                filename,
                install.direct_url.as_ref(),
                None::<&()>,
                None::<&()>,
                Some(INSTALLER),
                true,
                link_mode,
                &state,
            )
            .map_err(stage_error)?;
            if !install.requested {
                let dist_info = uv_install_wheel::installed_dist_info_path(&layout, entry)
                    .map_err(stage_error)?;
                unrequest(&dist_info).map_err(prepare)?;
            }
            debug!("staged {filename} in {:?}", started.elapsed());
            Ok(())
        });
        staged.into_iter().collect()
    }

    /// Each staged distribution's receipt (see `receipt`), once every wheel is staged (a later
    /// wheel may overwrite an earlier one's file), with the archive it comes from.
    fn write_receipts(
        &self,
        txn: &Transaction,
        chosen: &[(&Install, usize)],
        wheels: &[ReadyWheel],
    ) -> Result<(), InstallError> {
        let layout = self.layout.staging_layout(&txn.staged());
        for &(install, index) in chosen {
            let wheel = &wheels[index];
            let receipt_error = |source| InstallError::Prepare {
                txn: txn.dir().to_path_buf(),
                source,
            };
            let dist_info = uv_install_wheel::installed_dist_info_path(&layout, wheel.entry())
                .map_err(|err| InstallError::Stage {
                    wheel: wheel.filename().to_string(),
                    source: Box::new(err),
                })?;
            receipt::write(wheel.key(), &dist_info, install.artifact_sha256.as_ref())
                .map_err(receipt_error)?;
        }
        Ok(())
    }

    /// `staged_from`: the wheels whose entries the staged tree was linked from, checked again
    /// just before the journal is written.
    fn commit(
        &self,
        txn: Transaction,
        removed: &BTreeSet<PathBuf>,
        mut applied: Applied,
        staged_from: &[&ReadyWheel],
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<Applied, InstallError> {
        let ops = match txn.plan_ops(removed, &self.stop_dirs()) {
            Ok(ops) => ops,
            Err(err) => {
                txn.discard();
                return Err(err);
            }
        };
        let total = ops.len();
        debug!("transaction `{}`: {total} operations", txn.dir().display());
        progress(Progress::Applying { done: 0, total });
        if let Err(err) = staged::recheck(&self.layout, &txn, staged_from) {
            txn.discard();
            return Err(err);
        }
        txn.run(
            &ops,
            &self.key,
            &txn::Outstanding::new(&self.lock),
            &mut |done| progress(Progress::Applying { done, total }),
        )?;
        applied.operations = total;
        Ok(applied)
    }

    /// Directories never removed when a removal empties them: the prefix, the scheme's
    /// directories, and the directories between them.
    fn stop_dirs(&self) -> BTreeSet<PathBuf> {
        let mut stop = BTreeSet::new();
        for (_, dir) in self.layout.scheme_dirs() {
            if let Some(relative) = self.layout.relative(dir) {
                for up in relative.ancestors() {
                    stop.insert(up.to_path_buf());
                }
            }
        }
        stop
    }
}

/// Whether two of `wheels` install a file to the same place.
fn overlap<'a>(wheels: impl Iterator<Item = &'a safevenv_wheel::WheelInfo>) -> bool {
    use safevenv_wheel::{Category, DataCategory};
    let mut seen = std::collections::HashSet::new();
    for wheel in wheels {
        let site_packages = if wheel.root_is_purelib() {
            DataCategory::Purelib
        } else {
            DataCategory::Platlib
        };
        for file in wheel.files() {
            let scheme = match file.category {
                Category::Root | Category::DistInfo => site_packages,
                Category::Data(category) => category,
            };
            // Purelib and platlib are one directory in a virtual environment's usual layout.
            let scheme = match scheme {
                DataCategory::Platlib => DataCategory::Purelib,
                other => other,
            };
            if !seen.insert((scheme, file.install_path.as_str())) {
                return true;
            }
        }
    }
    false
}

/// Hard links when the cache entry and the staging tree share a file system; across file
/// systems a link is impossible and uv's fallback would warn, so copy from the start.
#[cfg(unix)]
fn link_mode_between(entry: &Path, staging: &Path) -> std::io::Result<LinkMode> {
    use std::os::unix::fs::MetadataExt;
    let same = fs_err::metadata(entry)?.dev() == fs_err::metadata(staging)?.dev();
    Ok(if same {
        LinkMode::Hardlink
    } else {
        LinkMode::Copy
    })
}

#[cfg(not(unix))]
fn link_mode_between(_entry: &Path, _staging: &Path) -> std::io::Result<LinkMode> {
    Ok(LinkMode::Copy)
}

/// Drop `REQUESTED` (which uv's installer always writes) for a distribution installed only as a
/// dependency, with its line in `RECORD`.
fn unrequest(dist_info: &Path) -> std::io::Result<()> {
    let Some(name) = dist_info.file_name().and_then(|name| name.to_str()) else {
        return Ok(());
    };
    fs_err::remove_file(dist_info.join("REQUESTED"))?;
    let record = dist_info.join("RECORD");
    let text = fs_err::read_to_string(&record)?;
    // uv writes the path unquoted: it is `<name>-<version>.dist-info/REQUESTED`, which has no
    // character CSV would quote.
    let line = format!("{name}/REQUESTED,");
    let kept: String = text
        .split_inclusive('\n')
        .filter(|row| !row.starts_with(&line))
        .collect();
    fs_err::write(record, kept)
}
