//! What can go wrong while installing into an environment.

use std::io;
use std::path::PathBuf;

/// An installation, uninstallation or recovery failed. Unless the variant says otherwise, the
/// environment was left as it was before the call (or restored to it).
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The interpreter's install scheme puts a directory outside the environment, so a transaction
    /// could not stage it on the same file system.
    #[error("the environment's `{kind}` directory `{path}` is outside its prefix `{prefix}`")]
    SchemeOutsidePrefix {
        /// `purelib`, `platlib`, `scripts`, `include` or `data`.
        kind: &'static str,
        /// The scheme directory.
        path: PathBuf,
        /// The environment's root.
        prefix: PathBuf,
    },
    /// The environment's root is not a directory.
    #[error("the environment `{prefix}` does not exist")]
    MissingPrefix {
        /// The environment's root.
        prefix: PathBuf,
    },
    /// The installer's state directory (`.safevenv/`) or its lock file could not be created.
    #[error("could not prepare the environment's state directory")]
    StateDir(#[source] io::Error),
    /// Another safevenv process holds the environment's lock and the caller asked not to wait.
    #[error("the environment is in use by another safevenv process (lock `{path}`)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Taking the lock failed for a reason other than contention.
    #[error("could not lock the environment with `{path}`")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Listing the installed distributions failed.
    #[error("could not read the installed distributions")]
    Scan(#[source] io::Error),
    /// A `.dist-info` directory has no readable name and version.
    #[error("the installed distribution `{path}` has invalid metadata: {reason}")]
    InvalidDistInfo {
        /// The `.dist-info` directory.
        path: PathBuf,
        /// Why it was not understood.
        reason: String,
    },
    /// The distribution to remove has no `RECORD`, so its files are unknown.
    #[error("cannot remove `{name}`: its `RECORD` file `{path}` is missing")]
    MissingRecord {
        /// The distribution's name.
        name: String,
        /// Where the `RECORD` should be.
        path: PathBuf,
    },
    /// A `RECORD` file is not valid CSV.
    #[error("the `RECORD` file `{path}` is invalid")]
    RecordCsv {
        /// The `RECORD` file.
        path: PathBuf,
        /// The parser's complaint.
        #[source]
        source: csv::Error,
    },
    /// A `RECORD` entry points outside the environment (`..` past the prefix, an absolute path
    /// elsewhere, or a symbolic link leading out). Removing it could delete files that are not
    /// the distribution's.
    #[error(
        "the `RECORD` file `{record}` lists `{entry}`, which is outside the environment `{prefix}`"
    )]
    RecordPathOutsideEnvironment {
        /// The `RECORD` file.
        record: PathBuf,
        /// The entry as written.
        entry: String,
        /// The environment's root.
        prefix: PathBuf,
    },
    /// A `RECORD` entry points into safevenv's own state (`.safevenv/`: journal, lock, backups).
    #[error("the `RECORD` file `{record}` lists `{entry}`, which is safevenv's own state")]
    RecordPathInStateDir {
        /// The `RECORD` file.
        record: PathBuf,
        /// The entry as written.
        entry: String,
    },
    /// A `RECORD` entry names one of the environment's own files (its interpreter, its
    /// `pyvenv.cfg`, an activation script) or the interpreter's library outside site-packages.
    #[error("the `RECORD` file `{record}` lists `{entry}`, which is {what}")]
    RecordPathEnvironmentFile {
        /// The `RECORD` file.
        record: PathBuf,
        /// The entry as written.
        entry: String,
        /// What of the environment it names.
        what: &'static str,
    },
    /// A distribution asked for removal is not installed.
    #[error("`{name}` is not installed in `{prefix}`")]
    NotInstalled {
        /// The name asked for.
        name: String,
        /// The environment's root.
        prefix: PathBuf,
    },
    /// The plan installs a distribution that the policy did not approve.
    #[error("`{name}=={version}` was not approved by the policy")]
    NotApproved {
        /// The distribution's name.
        name: String,
        /// Its version.
        version: String,
    },
    /// The wheel given for a distribution is not the content the policy judged.
    #[error("the wheel given for `{name}=={version}` is not the one the policy judged")]
    NotApprovedContent {
        /// The distribution's name.
        name: String,
        /// Its version.
        version: String,
    },
    /// Staging produced a file the policy's approval does not name (or one that would land
    /// through a link leading outside the environment, or in safevenv's state directory).
    #[error("staging produced `{path}`, which the policy did not approve; nothing was installed")]
    Unapproved {
        /// The file's final path, relative to the environment's root.
        path: String,
    },
    /// Reading the staged tree back failed.
    #[error("could not check the staged files")]
    StageCheck(#[source] std::io::Error),
    /// The plan installs a distribution for which no verified wheel was given.
    #[error("no verified wheel was given for `{name}=={version}`")]
    MissingWheel {
        /// The distribution's name.
        name: String,
        /// Its version.
        version: String,
    },
    /// A verified wheel could not be unpacked into the cache of unpacked wheels.
    #[error("could not unpack `{wheel}`")]
    Unpack {
        /// The wheel's file name.
        wheel: String,
        /// What went wrong (boxed: the wheel's errors are large).
        #[source]
        source: Box<safevenv_wheel::WheelError>,
    },
    /// Unpacking a wheel would leave the cache's file system with less than the reserve free.
    #[error(
        "not enough free space to unpack `{wheel}` into `{}`: it needs {} MiB and {} MiB can be used (safevenv leaves {} MiB free); free some space, or point `--cache-dir` at a larger disk on the environment's file system",
        dir.display(), needed.div_ceil(1 << 20), left >> 20, crate::unpacked::SPACE_RESERVE >> 20
    )]
    NoSpaceToUnpack {
        /// The wheel's file name.
        wheel: String,
        /// The cache of unpacked wheels.
        dir: PathBuf,
        /// Bytes its files and directories take.
        needed: u64,
        /// Bytes fills may still take.
        left: u64,
    },
    /// The cache of unpacked wheels could not be read or written.
    #[error("could not use the unpacked wheel cache at `{path}`")]
    UnpackedCache {
        /// The cache directory or entry.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// The seal key's directory is not the user's own, or others can write it: whoever can
    /// write it could replace the key and forge seals and receipts.
    #[error("the seal key's directory `{path}` cannot be trusted: {reason}")]
    SealKeyDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The seal key could not be read or made.
    #[error("could not read or make the seal key `{path}`")]
    SealKey {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// A cache entry the transaction linked from changed between its check and the commit
    /// (what is staged may not be the wheel's); nothing was changed in the environment.
    #[error(
        "the cached unpacked wheel `{entry}` changed while `{wheel}` was being installed: {mismatch}"
    )]
    EntryChangedWhileStaging {
        /// The wheel's file name.
        wheel: String,
        /// The cache entry.
        entry: PathBuf,
        /// What differs now.
        #[source]
        mismatch: Box<crate::EntryMismatch>,
    },
    /// A staged file is a hard link to something that is not a checked file of a cache entry
    /// (it was swapped while staging); nothing was changed in the environment.
    #[error("the staged file `{path}` is linked to a file that is not a checked cached one")]
    StagedLinkUnknown {
        /// The staged file.
        path: PathBuf,
    },
    /// uv's wheel installer refused or failed while staging a wheel.
    #[error("could not stage `{wheel}`")]
    Stage {
        /// The wheel's file name.
        wheel: String,
        /// What went wrong (boxed: uv's errors are large).
        #[source]
        source: Box<uv_install_wheel::Error>,
    },
    /// Preparing the transaction (staging directory, scanning targets) failed.
    #[error("could not prepare the transaction in `{txn}`")]
    Prepare {
        /// The transaction directory.
        txn: PathBuf,
        /// What went wrong (the message names the path).
        #[source]
        source: io::Error,
    },
    /// A new file would replace a directory that no removed distribution owns.
    #[error(
        "`{path}` is a directory in the environment, but a new distribution installs a file there"
    )]
    PathConflict {
        /// The directory in the environment.
        path: PathBuf,
    },
    /// A path in the environment or the wheel cannot be written to the journal (not UTF-8).
    #[error("the path `{path}` is not valid UTF-8 and cannot be journaled")]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// Writing or syncing the journal or the commit marker failed.
    #[error("could not write the transaction journal in `{txn}`")]
    Journal {
        /// The transaction directory.
        txn: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// A journal left in the state directory does not carry a valid MAC under the environment's
    /// key: safevenv did not write it (or the key is gone), so it is not replayed. Recovery
    /// would move files; it is left in place for a person to look at.
    #[error(
        "the transaction journal `{path}` was not written by safevenv for this environment (its MAC does not verify); it was not replayed and is left in place: inspect its directory, then remove it"
    )]
    JournalUnauthenticated {
        /// The journal file.
        path: PathBuf,
    },
    /// The environment's journal key cannot be used.
    #[error("the environment's journal key `{path}` cannot be used: {reason}")]
    JournalKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Syncing a changed directory failed: the transaction was undone rather than committed
    /// without durability.
    #[error("could not sync `{path}` to disk; the environment was restored")]
    Sync {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// A journal left by an interrupted transaction could not be read.
    #[error("the transaction journal `{path}` is unreadable: {reason}")]
    JournalCorrupt {
        /// The journal file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A file operation of the transaction failed; the transaction was rolled back and the
    /// environment is as it was before.
    #[error("could not {action} `{path}`; the environment was restored")]
    Apply {
        /// `move aside`, `remove directory`, `create directory` or `move into place`.
        action: &'static str,
        /// The path in the environment.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A file operation failed and so did the rollback: the journal is kept, and the next run
    /// (which recovers before doing anything) retries the rollback.
    #[error("{cause}; rolling back also failed, the next safevenv run will retry")]
    RollbackFailed {
        /// The first failure.
        cause: Box<InstallError>,
        /// Why the rollback failed.
        #[source]
        rollback: io::Error,
    },
    /// Recovering an interrupted transaction failed; the journal is kept for the next run.
    #[error("could not recover the interrupted transaction `{txn}`")]
    Recover {
        /// The transaction directory.
        txn: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// Cleaning up after a committed transaction failed (the environment is in its new state).
    #[error("could not remove the finished transaction `{txn}`")]
    Cleanup {
        /// The transaction directory.
        txn: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
}
