//! One transaction: stage, journal, apply, commit — or roll back. The design and the crash
//! argument are in `docs/install.md`.
//!
//! A transaction lives in `<prefix>/.safevenv/txn-<id>/`:
//!
//! - `staged/` mirrors the prefix and holds every new file, already in its final form;
//! - `backup/<n>` holds the environment's files that the transaction moved aside;
//! - `journal.json` lists every operation, written (and synced) before the first one runs;
//! - `COMMITTED` appears (synced) once every operation ran.
//!
//! Every operation is one rename, `mkdir` or `rmdir` on one file system, and its undo reads the
//! file system to see whether the operation happened. So rollback needs no progress records: it
//! undoes every journaled operation in reverse, and undoing one that never ran (or was already
//! undone) does nothing. A crash during rollback is recovered by rolling back again.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::key::JournalKey;
use crate::{InstallError, STATE_DIR};

/// The journal's format version; a journal with another version is refused, not guessed at.
/// Version 2 carries a MAC under the environment's key ([`JournalKey`]).
const JOURNAL_VERSION: u32 = 2;
const JOURNAL: &str = "journal.json";
const COMMITTED: &str = "COMMITTED";
const STAGED: &str = "staged";
const BACKUP: &str = "backup";
const TXN_PREFIX: &str = "txn-";
const TRASH_PREFIX: &str = "trash-";

/// Test-only (see `docs/install.md`): abort the process after this many journaled operations,
/// the way `kill -9` would, so tests can check recovery at every point.
const CRASH_AFTER_OPS: &str = "SAFEVENV_TEST_CRASH_AFTER_OPS";

/// One journaled file operation. Paths are relative to the prefix (and below it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub(crate) enum Op {
    /// Move `path` to `backup/<backup>`.
    Backup { path: String, backup: String },
    /// Remove the directory `path`, empty once the backups ran.
    RemoveDir { path: String, mode: Option<u32> },
    /// Create the directory `path`, which did not exist.
    CreateDir { path: String },
    /// Move `staged/<path>` to `path`.
    Place { path: String },
}

impl Op {
    fn path(&self) -> &str {
        match self {
            Self::Backup { path, .. }
            | Self::RemoveDir { path, .. }
            | Self::CreateDir { path }
            | Self::Place { path } => path,
        }
    }

    fn action(&self) -> &'static str {
        match self {
            Self::Backup { .. } => "move aside",
            Self::RemoveDir { .. } => "remove directory",
            Self::CreateDir { .. } => "create directory",
            Self::Place { .. } => "move into place",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    version: u32,
    ops: Vec<Op>,
    /// HMAC-SHA256 (hex) over the transaction's directory name and the JSON of `ops`.
    mac: String,
}

/// The one transaction of the environment whose journal may be replayed, recorded in the lock
/// file (which only the process holding the environment's lock writes).
///
/// Invariant: recovery replays a journal only while it is the outstanding transaction's; the
/// name is recorded (and synced) before the journal is written and cleared once the
/// transaction is finished. Threat: a signed journal kept from an earlier transaction, put
/// back with other backups, would otherwise verify and "roll back" files it no longer owns.
pub(crate) struct Outstanding<'f> {
    lock: &'f fs_err::File,
}

impl<'f> Outstanding<'f> {
    pub(crate) fn new(lock: &'f fs_err::File) -> Self {
        Self { lock }
    }

    fn record(&self, txn: &str) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let mut file = self.lock;
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        io::Write::write_all(&mut file, txn.as_bytes())?;
        file.sync_data()
    }

    /// Forget the outstanding transaction (not synced: a stale name names a finished,
    /// renamed directory, and is replaced by the next transaction's).
    fn clear(&self) {
        if let Err(err) = self.lock.set_len(0) {
            debug!("could not clear the outstanding transaction: {err}");
        }
    }

    fn name(&self) -> io::Result<String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self.lock;
        file.seek(SeekFrom::Start(0))?;
        let mut name = String::new();
        // A transaction's name is short; more is not one safevenv wrote.
        file.take(256).read_to_string(&mut name)?;
        Ok(name)
    }
}

/// A transaction directory being prepared.
pub(crate) struct Transaction {
    prefix: PathBuf,
    dir: PathBuf,
}

impl Transaction {
    /// Create a fresh transaction directory. The caller holds the environment's lock and has run
    /// recovery, so no other transaction exists.
    pub(crate) fn create(prefix: &Path) -> Result<Self, InstallError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let dir = prefix
            .join(STATE_DIR)
            .join(format!("{TXN_PREFIX}{}-{nanos}", std::process::id()));
        fs_err::create_dir_all(dir.join(STAGED))
            .and_then(|()| fs_err::create_dir(dir.join(BACKUP)))
            .map_err(|source| InstallError::Prepare {
                txn: dir.clone(),
                source,
            })?;
        Ok(Self {
            prefix: prefix.to_path_buf(),
            dir,
        })
    }

    /// The transaction's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root that mirrors the prefix, where new files are staged.
    pub(crate) fn staged(&self) -> PathBuf {
        self.dir.join(STAGED)
    }

    fn prepare_error(&self, source: io::Error) -> InstallError {
        InstallError::Prepare {
            txn: self.dir.clone(),
            source,
        }
    }

    /// Work out the operations that replace `removed` (files owned by distributions going away,
    /// relative to the prefix) with what is staged. `stop_dirs` are directories never removed
    /// even when emptied (the prefix, the scheme directories and the ones between them).
    pub(crate) fn plan_ops(
        &self,
        removed: &BTreeSet<PathBuf>,
        stop_dirs: &BTreeSet<PathBuf>,
    ) -> Result<Vec<Op>, InstallError> {
        let mut survey = Survey::default();
        survey
            .walk(&self.staged(), &self.prefix, Path::new(""), false)
            .map_err(|err| self.prepare_error(err))?;
        let Survey {
            existing_dirs,
            replaced_dirs,
            new_trees,
            files,
            fresh_files,
        } = survey;

        let mut backups: BTreeSet<PathBuf> = removed.clone();
        // What is in the way of a new file or directory and not owned by a removed distribution
        // is moved aside too (and restored on rollback), as pip overwrites it.
        backups.extend(replaced_dirs.iter().cloned());
        for file in &files {
            match fs_err::symlink_metadata(self.prefix.join(file)) {
                Ok(metadata) if metadata.is_dir() => {
                    // Decided below, once the emptied directories are known.
                }
                Ok(_) => {
                    if !backups.contains(file) {
                        warn!(
                            "`{}` exists and is not owned by a removed distribution; replacing it",
                            self.prefix.join(file).display()
                        );
                        backups.insert(file.clone());
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(self.prepare_error(err)),
            }
        }
        // A path below one that is moved aside moves with it.
        let mut backups: BTreeSet<PathBuf> = backups
            .iter()
            .filter(|path| !path.ancestors().skip(1).any(|up| backups.contains(up)))
            .cloned()
            .collect();
        // The bytecode of a removed module (`__pycache__/<stem>.*.pyc`), which `RECORD` rarely
        // lists because Python writes it later, goes with the module.
        let mut pycache_listings = BTreeMap::new();
        let mut bytecode = Vec::new();
        for path in &backups {
            let (Some(parent), Some(stem)) = (path.parent(), path.file_stem()) else {
                continue;
            };
            if path.extension().is_none_or(|ext| ext != "py") {
                continue;
            }
            let pycache = parent.join("__pycache__");
            if !pycache_listings.contains_key(&pycache) {
                let listing =
                    list_dir(&self.prefix.join(&pycache)).map_err(|err| self.prepare_error(err))?;
                pycache_listings.insert(pycache.clone(), listing);
            }
            let prefix = format!("{}.", stem.to_string_lossy());
            for name in &pycache_listings[&pycache] {
                let name_text = name.to_string_lossy();
                if name_text.starts_with(&prefix) && name_text.ends_with(".pyc") {
                    bytecode.push(pycache.join(name));
                }
            }
        }
        backups.extend(bytecode);

        // Directories left empty by the backups are removed, deepest first, up to `stop_dirs`,
        // unless new files go there.
        let mut candidates = BTreeSet::new();
        for path in &backups {
            for dir in path.ancestors().skip(1) {
                if dir.as_os_str().is_empty() || stop_dirs.contains(dir) {
                    break;
                }
                candidates.insert(dir.to_path_buf());
            }
        }
        let mut candidates: Vec<PathBuf> = candidates
            .into_iter()
            .filter(|dir| !existing_dirs.contains(dir))
            .collect();
        candidates.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
        let mut emptied = BTreeSet::new();
        let mut remove_dirs = Vec::new();
        for dir in candidates {
            let full = self.prefix.join(&dir);
            match fs_err::symlink_metadata(&full) {
                Ok(metadata) if metadata.is_dir() => {
                    let listing = list_dir(&full).map_err(|err| self.prepare_error(err))?;
                    let empty = listing.iter().all(|name| {
                        let child = dir.join(name);
                        backups.contains(&child) || emptied.contains(&child)
                    });
                    if empty {
                        emptied.insert(dir.clone());
                        remove_dirs.push((dir, mode(&metadata)));
                    }
                }
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(self.prepare_error(err)),
            }
        }
        // A new file where a directory stays is a conflict, not something to overwrite.
        for file in &files {
            let full = self.prefix.join(file);
            if fs_err::symlink_metadata(&full).is_ok_and(|metadata| metadata.is_dir())
                && !emptied.contains(file)
                && !backups.contains(file)
            {
                return Err(InstallError::PathConflict { path: full });
            }
        }

        let mut ops = Vec::new();
        for (n, path) in backups.iter().enumerate() {
            ops.push(Op::Backup {
                path: utf8(path)?,
                backup: n.to_string(),
            });
        }
        for (dir, mode) in remove_dirs {
            ops.push(Op::RemoveDir {
                path: utf8(&dir)?,
                mode,
            });
        }
        // The walk's order puts a parent before its children.
        for dir in replaced_dirs {
            ops.push(Op::CreateDir { path: utf8(&dir)? });
        }
        // A staged directory missing from the environment moves in whole, with one rename:
        // only the topmost of them are operations, not every directory and file below (a
        // distribution like botocore has thousands), which keeps the journal short and the
        // directories to sync few. `Place` renames a directory as it renames a file, and its
        // undo moves it back whole.
        let places: BTreeSet<PathBuf> = files
            .into_iter()
            .chain(fresh_files)
            .chain(new_trees)
            .collect();
        for path in places {
            ops.push(Op::Place { path: utf8(&path)? });
        }
        Ok(ops)
    }

    /// Journal `ops`, run them, and commit. On an error every operation is undone before
    /// returning it. `on_op` is told each finished operation.
    pub(crate) fn run(
        self,
        ops: &[Op],
        key: &JournalKey,
        outstanding: &Outstanding<'_>,
        on_op: &mut dyn FnMut(usize),
    ) -> Result<(), InstallError> {
        let crash_after = crash_after_ops();
        // (1): the transaction is recorded as the outstanding one, and its journal is
        // complete, signed and synced, before the environment changes.
        outstanding
            .record(&txn_name(&self.dir))
            .map_err(|source| InstallError::Journal {
                txn: self.dir.clone(),
                source,
            })?;
        self.write_journal(ops, key)?;
        // (2): the operations, in order.
        let mut touched = BTreeSet::new();
        for (done, op) in ops.iter().enumerate() {
            if crash_after == Some(done) {
                std::process::abort();
            }
            if let Err(source) = apply(&self.prefix, &self.dir, op) {
                let cause = InstallError::Apply {
                    action: op.action(),
                    path: self.prefix.join(op.path()),
                    source,
                };
                return Err(self.undo_all(ops, cause));
            }
            if let Some(parent) = Path::new(op.path()).parent() {
                touched.insert(self.prefix.join(parent));
            }
            on_op(done + 1);
        }
        if crash_after == Some(ops.len()) {
            std::process::abort();
        }
        // (3): the renames are durable before the commit marker is, so a power cut cannot keep
        // the marker and lose a rename.
        touched.insert(self.dir.join(BACKUP));
        for dir in &touched {
            match sync_dir(dir) {
                Ok(()) => {}
                // A directory this transaction removed (its parent is synced too).
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                // A file system that cannot sync directories at all gives no durability to
                // wait for; that is not a failure of this transaction.
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::Unsupported | io::ErrorKind::InvalidInput
                    ) =>
                {
                    debug!("`{}` cannot be synced: {err}", dir.display());
                }
                // Any other failure means the renames may not survive a power cut: committing
                // would promise what the disk has not got, so the transaction is undone.
                Err(source) => {
                    let cause = InstallError::Sync {
                        path: dir.clone(),
                        source,
                    };
                    return Err(self.undo_all(ops, cause));
                }
            }
        }
        // (4): commit. From here on the environment is in its new state.
        let journal_error = |source| InstallError::Journal {
            txn: self.dir.clone(),
            source,
        };
        let marker = fs_err::File::create(self.dir.join(COMMITTED)).map_err(journal_error)?;
        marker.sync_all().map_err(journal_error)?;
        sync_dir(&self.dir).map_err(journal_error)?;
        if crash_after == Some(ops.len() + 1) {
            std::process::abort();
        }
        let finished = finish(&self.dir).map_err(|source| InstallError::Cleanup {
            txn: self.dir.clone(),
            source,
        });
        outstanding.clear();
        finished
    }

    /// Undo every operation after `cause` stopped the transaction, and return what to report:
    /// `cause` once the environment is back as it was, or both failures.
    fn undo_all(self, ops: &[Op], cause: InstallError) -> InstallError {
        match rollback(&self.prefix, &self.dir, ops) {
            Ok(()) => {
                self.discard();
                cause
            }
            Err(rollback) => InstallError::RollbackFailed {
                cause: Box::new(cause),
                rollback,
            },
        }
    }

    /// Write the journal atomically: a reader sees all of it or none of it.
    fn write_journal(&self, ops: &[Op], key: &JournalKey) -> Result<(), InstallError> {
        let journal_error = |source| InstallError::Journal {
            txn: self.dir.clone(),
            source,
        };
        let signed = serde_json::to_vec(ops).map_err(|err| journal_error(err.into()))?;
        let journal = Journal {
            version: JOURNAL_VERSION,
            ops: ops.to_vec(),
            mac: key.sign(&txn_name(&self.dir), &signed),
        };
        let bytes = serde_json::to_vec(&journal).map_err(|err| journal_error(err.into()))?;
        let partial = self.dir.join(format!("{JOURNAL}.partial"));
        let mut options = fs_err::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use fs_err::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&partial).map_err(journal_error)?;
        io::Write::write_all(&mut file, &bytes).map_err(journal_error)?;
        file.sync_all().map_err(journal_error)?;
        fs_err::rename(&partial, self.dir.join(JOURNAL)).map_err(journal_error)?;
        sync_dir(&self.dir).map_err(journal_error)
    }

    /// Remove a transaction that changed nothing (or was rolled back), logging a failure: the
    /// next recovery finishes the job.
    pub(crate) fn discard(self) {
        if let Err(err) = finish(&self.dir) {
            warn!("could not remove `{}`: {err}", self.dir.display());
        }
    }
}

fn mode(metadata: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(metadata.permissions().mode())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        None
    }
}

fn utf8(path: &Path) -> Result<String, InstallError> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| InstallError::NonUtf8Path {
            path: path.to_path_buf(),
        })
}

/// The names in `dir`; none when it does not exist.
fn list_dir(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    match fs_err::read_dir(dir) {
        Ok(entries) => entries.map(|entry| Ok(entry?.file_name())).collect(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

/// What the staged tree meets in the prefix. Paths are relative to both.
#[derive(Debug, Default)]
struct Survey {
    /// Staged directories the prefix has as directories (or links to one).
    existing_dirs: BTreeSet<PathBuf>,
    /// Staged directories where the prefix has something else: moved aside, then created.
    replaced_dirs: Vec<PathBuf>,
    /// The topmost staged directories missing from the prefix: each moves in whole.
    new_trees: BTreeSet<PathBuf>,
    /// Staged non-directories in directories the prefix has: what is there is looked at.
    files: BTreeSet<PathBuf>,
    /// Staged non-directories in replaced directories, where nothing of the prefix is.
    fresh_files: BTreeSet<PathBuf>,
}

impl Survey {
    /// Walks `staged/dir` and `prefix/dir` together, going down only where a staged directory
    /// already exists in the prefix: below a missing one there is nothing of the prefix to look
    /// at, as it moves in whole. For a new environment that is a few hundred `lstat`s, not one
    /// for each of the tens of thousands of staged paths. `replaced`: `prefix/dir` is not a
    /// directory (it is moved aside and `dir` created afresh).
    fn walk(&mut self, staged: &Path, prefix: &Path, dir: &Path, replaced: bool) -> io::Result<()> {
        for entry in fs_err::read_dir(staged.join(dir))? {
            let entry = entry?;
            let relative = dir.join(entry.file_name());
            if !entry.file_type()?.is_dir() {
                if replaced {
                    self.fresh_files.insert(relative);
                } else {
                    self.files.insert(relative);
                }
                continue;
            }
            if replaced {
                self.new_trees.insert(relative);
                continue;
            }
            let target = prefix.join(&relative);
            match fs_err::symlink_metadata(&target) {
                // A link to a directory (`lib64` -> `lib`) is used as the directory it names.
                Ok(metadata) if metadata.is_dir() || target.is_dir() => {
                    self.existing_dirs.insert(relative.clone());
                    self.walk(staged, prefix, &relative, false)?;
                }
                Ok(_) => {
                    self.replaced_dirs.push(relative.clone());
                    self.walk(staged, prefix, &relative, true)?;
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    self.new_trees.insert(relative);
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

fn apply(prefix: &Path, txn: &Path, op: &Op) -> io::Result<()> {
    match op {
        Op::Backup { path, backup } => {
            fs_err::rename(prefix.join(path), txn.join(BACKUP).join(backup))
        }
        // Empty by construction; if something was written there since planning, this fails
        // and the transaction rolls back rather than delete what it does not know.
        Op::RemoveDir { path, .. } => fs_err::remove_dir(prefix.join(path)),
        Op::CreateDir { path } => fs_err::create_dir(prefix.join(path)),
        Op::Place { path } => fs_err::rename(txn.join(STAGED).join(path), prefix.join(path)),
    }
}

/// Undo `op` if it happened. Each branch looks at the file system, so undoing an operation that
/// never ran, or undoing one twice, does nothing.
fn undo(prefix: &Path, txn: &Path, op: &Op) -> io::Result<()> {
    match op {
        Op::Place { path } => {
            let staged = txn.join(STAGED).join(path);
            let target = prefix.join(path);
            // The staged file is consumed only by this rename: gone means it ran.
            if !exists(&staged)? && exists(&target)? {
                fs_err::rename(target, staged)?;
            }
        }
        Op::CreateDir { path } => match fs_err::remove_dir(prefix.join(path)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) if err.kind() == io::ErrorKind::DirectoryNotEmpty => {
                // Something other than this transaction wrote there; keep it.
                warn!("keeping `{}`: {err}", prefix.join(path).display());
            }
            Err(err) => return Err(err),
        },
        Op::RemoveDir { path, mode } => {
            let dir = prefix.join(path);
            if !exists(&dir)? {
                fs_err::create_dir(&dir)?;
                set_mode(&dir, *mode)?;
            }
        }
        Op::Backup { path, backup } => {
            let saved = txn.join(BACKUP).join(backup);
            // The backup is created only by this rename: present means it ran.
            if exists(&saved)? {
                fs_err::rename(saved, prefix.join(path))?;
            }
        }
    }
    Ok(())
}

fn set_mode(dir: &Path, mode: Option<u32>) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (dir, mode);
    Ok(())
}

fn exists(path: &Path) -> io::Result<bool> {
    match fs_err::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

fn rollback(prefix: &Path, txn: &Path, ops: &[Op]) -> io::Result<()> {
    for op in ops.iter().rev() {
        undo(prefix, txn, op)?;
    }
    Ok(())
}

/// Remove a finished transaction directory. It is first renamed out of the `txn-` namespace in
/// one step, so a crash while deleting can never leave a half-deleted journal that recovery
/// would mistake for an unfinished transaction.
fn finish(txn: &Path) -> io::Result<()> {
    let Some(name) = txn.file_name().and_then(|name| name.to_str()) else {
        return fs_err::remove_dir_all(txn);
    };
    let trash = txn.with_file_name(name.replacen(TXN_PREFIX, TRASH_PREFIX, 1));
    fs_err::rename(txn, &trash)?;
    if let Some(parent) = trash.parent() {
        sync_dir(parent)?;
    }
    fs_err::remove_dir_all(trash)
}

/// The name of a transaction's directory (`txn-<pid>-<nanos>`), which its journal's MAC covers:
/// a journal moved into another transaction's directory does not verify.
fn txn_name(dir: &Path) -> String {
    dir.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// What recovery did to one leftover transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovered {
    /// The transaction had committed: its leftovers were removed, the new state stays.
    Finished,
    /// The transaction had not committed: its operations were undone, the old state is back.
    RolledBack,
}

/// Finish or roll back every transaction left in `<prefix>/.safevenv/` by a process that died.
/// The caller holds the environment's lock.
///
/// A journal is replayed only when its MAC verifies under `key` (see [`JournalKey`]); one that
/// does not, or any journal while the environment has no key, is refused and left in place.
pub(crate) fn recover(
    prefix: &Path,
    key: Option<&JournalKey>,
    outstanding: &Outstanding<'_>,
) -> Result<Vec<(PathBuf, Recovered)>, InstallError> {
    let outstanding_name = outstanding.name().map_err(InstallError::StateDir)?;
    let state = prefix.join(STATE_DIR);
    let mut leftovers = Vec::new();
    let entries = match fs_err::read_dir(&state) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(InstallError::StateDir(err)),
    };
    for entry in entries {
        let entry = entry.map_err(InstallError::StateDir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TXN_PREFIX) || name.starts_with(TRASH_PREFIX) {
            leftovers.push((entry.path(), name.starts_with(TRASH_PREFIX)));
        }
    }
    leftovers.sort();
    let mut recovered = Vec::new();
    for (txn, is_trash) in leftovers {
        let recover_error = |source| InstallError::Recover {
            txn: txn.clone(),
            source,
        };
        if is_trash {
            fs_err::remove_dir_all(&txn).map_err(recover_error)?;
            continue;
        }
        let outcome = if txn.join(COMMITTED).exists() {
            Recovered::Finished
        } else {
            let journal = txn.join(JOURNAL);
            // No journal: the process died while staging, before touching the environment.
            if journal.exists() {
                let name = txn_name(&txn);
                let ops = read_journal(&journal, &name, key, name == outstanding_name)?;
                rollback(prefix, &txn, &ops).map_err(recover_error)?;
            }
            Recovered::RolledBack
        };
        finish(&txn).map_err(recover_error)?;
        if txn_name(&txn) == outstanding_name {
            outstanding.clear();
        }
        debug!("recovered `{}`: {outcome:?}", txn.display());
        recovered.push((txn, outcome));
    }
    Ok(recovered)
}

/// Read a journal, refusing any operation whose path is not a plain relative path below the
/// prefix: the journal is ours, but recovery moves files, so it fails closed on anything odd.
///
/// `outstanding`: whether `txn` is the environment's outstanding transaction ([`Outstanding`]);
/// any other journal is refused however it is signed.
fn read_journal(
    path: &Path,
    txn: &str,
    key: Option<&JournalKey>,
    outstanding: bool,
) -> Result<Vec<Op>, InstallError> {
    let corrupt = |reason: String| InstallError::JournalCorrupt {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs_err::read(path).map_err(|err| corrupt(err.to_string()))?;
    // The version alone first, so that an older journal gets a clear reason.
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let versioned: Versioned =
        serde_json::from_slice(&bytes).map_err(|err| corrupt(err.to_string()))?;
    if versioned.version != JOURNAL_VERSION {
        return Err(corrupt(format!(
            "version {} is not {JOURNAL_VERSION}",
            versioned.version
        )));
    }
    let journal: Journal =
        serde_json::from_slice(&bytes).map_err(|err| corrupt(err.to_string()))?;
    // The operations replayed are exactly the ones the MAC covers: it is checked over their
    // serialisation, not over the file's bytes, so nothing in the file outside them matters.
    let signed = serde_json::to_vec(&journal.ops).map_err(|err| corrupt(err.to_string()))?;
    let authentic = outstanding && key.is_some_and(|key| key.verify(txn, &signed, &journal.mac));
    if !authentic {
        return Err(InstallError::JournalUnauthenticated {
            path: path.to_path_buf(),
        });
    }
    let mut backups = BTreeSet::new();
    for op in &journal.ops {
        let plain = |path: &str| {
            let path = Path::new(path);
            !path.as_os_str().is_empty()
                && path
                    .components()
                    .all(|part| matches!(part, std::path::Component::Normal(_)))
                && !path.starts_with(STATE_DIR)
        };
        if !plain(op.path()) {
            return Err(corrupt(format!("the path `{}` is not allowed", op.path())));
        }
        // Backups only under the names a transaction gives them: `0`, `1`, ... once each.
        if let Op::Backup { backup, .. } = op
            && (backup.is_empty()
                || !backup.bytes().all(|byte| byte.is_ascii_digit())
                || !backups.insert(backup.clone()))
        {
            return Err(corrupt(format!(
                "the backup name `{backup}` is not allowed"
            )));
        }
    }
    Ok(journal.ops)
}

/// The crash point asked for by the test-only variable, if any.
fn crash_after_ops() -> Option<usize> {
    std::env::var(CRASH_AFTER_OPS).ok()?.parse().ok()
}
