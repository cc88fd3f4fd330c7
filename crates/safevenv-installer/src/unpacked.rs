//! A persistent cache of unpacked wheels that transactions hard-link from, so that a warm
//! install creates almost no new inodes and inflates nothing (the file system's inode
//! allocation and inflating, not copying, are what an install spends its time on).
//!
//! An entry is `<cache>/<key>/`, the wheel's archive paths as
//! [`InspectedWheel::unpack_verified`] writes them. The key is the wheel's
//! [`InspectedWheel::content_digest`]: every file's path, size, executable bit and the digest
//! its content is checked against. It names exactly what an entry is verified against, so no
//! provenance from the fetch stage has to be carried (or trusted) here, and two archives with
//! the same content share an entry.
//!
//! An entry is filled in a temporary directory beside it (`.tmp-*`, never a key), verified
//! while it is written, *sealed* (every file and directory, and the entry itself, given one
//! modification time ten seconds in the past) and renamed into place whole, so neither a
//! concurrent safevenv nor a crash leaves a half entry under a key. Beside it, an empty file
//! `<key>.sealed-<inode>` records that this machine sealed the directory with that inode. See
//! [`check_entry`] for why the seal and its record are what a warm install checks.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tracing::{debug, warn};

use crate::InstallError;
use safevenv_wheel::{InspectedWheel, WheelFile, WheelInfo};

const TEMP_PREFIX: &str = ".tmp-";
/// Between an entry's key and its directory's inode in the name of its seal record.
const RECORD_INFIX: &str = ".sealed-";
const TRASH_PREFIX: &str = ".trash-";
/// A fill's temporary directory untouched for this long was left by a process that died: no
/// fill takes an hour.
const STALE_FILL_AGE: Duration = Duration::from_secs(60 * 60);
/// How far in the past a fill's seal is set (see [`check_entry`]).
const SEAL_AGE: Duration = Duration::from_secs(10);
/// Free space that fills leave on the cache's file system, for everything else on it.
pub(crate) const SPACE_RESERVE: u64 = 256 << 20;

/// Where unpacked wheels are kept (the cache's `wheels-v2` bucket). It should be on the
/// environments' file system: across file systems files are copied instead of linked.
#[derive(Debug)]
pub struct UnpackedCache {
    dir: PathBuf,
    /// Whether this process already swept what killed fills left behind.
    swept: std::sync::Once,
    /// Bytes the fills of this process may still take: measured on the first fill (free space
    /// less [`SPACE_RESERVE`]) unless set by [`UnpackedCache::with_space`].
    space: Mutex<Option<Space>>,
}

/// What fills may still write, and the block size files are rounded up to.
#[derive(Debug, Clone, Copy)]
struct Space {
    left: u64,
    block: u64,
}

/// A wheel ready to install: its facts, and a cache entry holding its verified files.
///
/// Only [`UnpackedCache::prepare`] makes one, after the entry was filled from the wheel's
/// verified content or passed [`check_entry`] against the wheel's facts.
#[derive(Debug, Clone)]
pub struct ReadyWheel {
    info: WheelInfo,
    entry: PathBuf,
}

impl ReadyWheel {
    /// The cache entry the installer links from.
    pub fn entry(&self) -> &Path {
        &self.entry
    }

    /// The key of the entry: the hex digest of the verified content it holds
    /// ([`InspectedWheel::content_digest`]), which the policy's approval names.
    pub fn content_key(&self) -> String {
        self.entry
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl std::ops::Deref for ReadyWheel {
    type Target = WheelInfo;

    fn deref(&self) -> &WheelInfo {
        &self.info
    }
}

/// Why an entry was not used: what differs from the wheel or from the entry's seal.
#[derive(Debug, thiserror::Error)]
pub enum EntryMismatch {
    /// No record that safevenv on this machine sealed the entry: a tree copied or restored
    /// into the cache (a CI cache, an archive of someone's cache), whatever its times say.
    #[error("`{0}` has no seal record of its own: it was copied or restored into the cache")]
    Unrecorded(PathBuf),
    /// A file or directory of the wheel is missing.
    #[error("`{0}` is missing")]
    Missing(PathBuf),
    /// A name the wheel does not have.
    #[error("`{0}` is not in the wheel")]
    Extra(PathBuf),
    /// A path that should be a regular file (or a directory) is a symlink or something else.
    #[error("`{0}` is not a regular file or directory")]
    NotRegular(PathBuf),
    /// A file's size differs.
    #[error("`{path}` has {actual} bytes, the wheel's file {expected}")]
    Size {
        /// The file.
        path: PathBuf,
        /// The wheel's size.
        expected: u64,
        /// The entry's size.
        actual: u64,
    },
    /// A file's permission bits differ.
    #[error("`{path}` has mode {actual:o}, the wheel's file {expected:o}")]
    Mode {
        /// The file.
        path: PathBuf,
        /// What unpacking sets.
        expected: u32,
        /// What the entry has.
        actual: u32,
    },
    /// A file was written, or a directory's listing changed, after the entry was sealed.
    #[error("`{0}` changed after the entry was verified (its modification time is not the seal's)")]
    Modified(PathBuf),
    /// Reading the entry failed (the message names the path).
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl UnpackedCache {
    /// A cache in `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            swept: std::sync::Once::new(),
            space: Mutex::new(None),
        }
    }

    /// A cache in `dir` whose fills may take `bytes` in all, instead of what the file system
    /// has free.
    pub fn with_space(dir: impl Into<PathBuf>, bytes: u64) -> Self {
        Self {
            space: Mutex::new(Some(Space {
                left: bytes,
                block: 4096,
            })),
            ..Self::new(dir)
        }
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The wheel, ready to install from its entry: an existing entry that passes
    /// [`check_entry`], else a fresh one unpacked from the archive and verified as it is
    /// written ([`InspectedWheel::unpack_verified`]). A failed check discards the entry (it is
    /// never linked from) and unpacks afresh. A wheel whose content fails verification is
    /// [`InstallError::Unpack`], and nothing of it is kept.
    pub fn prepare<R: Read + Seek + Clone + Send>(
        &self,
        wheel: InspectedWheel<R>,
    ) -> Result<ReadyWheel, InstallError> {
        let entry = self.dir.join(hex(&wheel.content_digest()));
        if self.usable(&entry, &wheel) {
            debug!("`{}` is unpacked in `{}`", wheel.name(), entry.display());
            return Ok(ReadyWheel {
                info: WheelInfo::clone(&wheel),
                entry,
            });
        }
        fs_err::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        self.swept.call_once(|| self.sweep());
        let taken = self.take_space(&wheel)?;
        self.fill(wheel, entry)
            .inspect_err(|_| self.give_back(taken))
    }

    /// Unpacks `wheel` into a temporary directory, verified, seals it and renames it to `entry`.
    fn fill<R: Read + Seek + Clone + Send>(
        &self,
        wheel: InspectedWheel<R>,
        entry: PathBuf,
    ) -> Result<ReadyWheel, InstallError> {
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempdir_in(&self.dir)
            .map_err(io_error(&self.dir))?;
        // The seal: a time before now, so that any later write, which sets "now", breaks it,
        // by more than the coarsest timestamps a file system keeps (2 s) or its clock ticks.
        let seal = SystemTime::now()
            .checked_sub(SEAL_AGE)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let name = wheel.filename().to_string();
        let verified = wheel
            .unpack_verified(temp.path(), Some(seal))
            .map_err(|source| InstallError::Unpack {
                wheel: name,
                source: Box::new(source),
            })?;
        let info = verified.into_info();
        // The record that this machine sealed the tree, named for the directory's inode, which
        // the rename keeps: written first, so the entry is never under its key without it.
        let record = seal_record(
            &entry,
            &fs_err::symlink_metadata(temp.path()).map_err(io_error(temp.path()))?,
        );
        fs_err::write(&record, b"").map_err(io_error(&record))?;
        // Two tries: a concurrent safevenv may have renamed its own fill into place first, and
        // that one is used only if it passes the check like any other entry.
        for _ in 0..2 {
            match fs_err::rename(temp.path(), &entry) {
                Ok(()) => {
                    // The temporary directory is now the entry: nothing left to delete.
                    let _ = temp.keep();
                    debug!("unpacked `{}` into `{}`", info.name(), entry.display());
                    return Ok(ReadyWheel { info, entry });
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists
                    ) =>
                {
                    // Another fill won: this one's record names an inode that is not the entry.
                    let _ = fs_err::remove_file(&record);
                    if self.usable(&entry, &info) {
                        return Ok(ReadyWheel { info, entry });
                    }
                    fs_err::write(&record, b"").map_err(io_error(&record))?;
                }
                Err(err) => return Err(io_error(&entry)(err)),
            }
        }
        Err(io_error(&entry)(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "another process keeps replacing this cache entry",
        )))
    }

    /// Takes what unpacking `wheel` will write from the space left to fills, or refuses before
    /// anything is written. Invariant: fills of one process, together, leave [`SPACE_RESERVE`]
    /// free of what the file system had at the first; every wheel of a run is unpacked before
    /// the gate judges it, so without this a set the policy would refuse could still fill the
    /// disk. A wheel cannot write more than this: it inflates to its declared sizes at most.
    fn take_space(&self, wheel: &WheelInfo) -> Result<u64, InstallError> {
        let mut space = self.space.lock().unwrap_or_else(PoisonError::into_inner);
        let Space { left, block } = *space.get_or_insert_with(|| free_space(&self.dir));
        let needed = footprint(wheel, block);
        if needed > left {
            return Err(InstallError::NoSpaceToUnpack {
                wheel: wheel.filename().to_string(),
                dir: self.dir.clone(),
                needed,
                left,
            });
        }
        *space = Some(Space {
            left: left - needed,
            block,
        });
        Ok(needed)
    }

    /// Returns space taken for a fill that failed (its files are deleted with it).
    fn give_back(&self, taken: u64) {
        let mut space = self.space.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(space) = space.as_mut() {
            space.left = space.left.saturating_add(taken);
        }
    }

    /// Whether `entry` exists and passes the check; a failing entry is moved aside and deleted.
    fn usable(&self, entry: &Path, wheel: &WheelInfo) -> bool {
        match fs_err::symlink_metadata(entry) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => return false,
            _ => {}
        }
        match check_entry(entry, wheel) {
            Ok(()) => true,
            Err(mismatch) => {
                warn!(
                    "discarding the cached unpacked wheel `{}`: {mismatch}",
                    entry.display()
                );
                self.discard(entry);
                false
            }
        }
    }

    /// Move `entry` aside (one rename, so no process links from a half-deleted entry), then
    /// delete it. Failures are logged: a leftover `.trash-*` directory is never read.
    fn discard(&self, entry: &Path) {
        let Some(name) = entry.file_name() else {
            return;
        };
        if let Ok(metadata) = fs_err::symlink_metadata(entry) {
            let _ = fs_err::remove_file(seal_record(entry, &metadata));
        }
        let trash = self.dir.join(format!(
            "{TRASH_PREFIX}{}-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default()
        ));
        match fs_err::rename(entry, &trash) {
            Ok(()) => {}
            // Another process discarded it first.
            Err(err) if err.kind() == io::ErrorKind::NotFound => return,
            Err(err) => {
                warn!("could not move aside `{}`: {err}", entry.display());
                return;
            }
        }
        if let Err(err) = remove_tree(&trash) {
            warn!("could not delete `{}`: {err}", trash.display());
        }
    }
}

impl UnpackedCache {
    /// Delete what killed processes left: fills untouched for [`STALE_FILL_AGE`] and discarded
    /// entries not yet deleted (`.trash-*`, never read). Once per process, on the first fill, so
    /// warm installs never list the cache. Failures are logged: a leftover is never read.
    fn sweep(&self) {
        let Ok(children) = fs_err::read_dir(&self.dir) else {
            return;
        };
        for child in children.flatten() {
            let name = child.file_name();
            let name = name.to_string_lossy();
            if let Some((key, _)) = name.split_once(RECORD_INFIX) {
                let entry = self.dir.join(key);
                let current = fs_err::symlink_metadata(&entry)
                    .is_ok_and(|metadata| seal_record(&entry, &metadata) == child.path());
                if !current {
                    let _ = fs_err::remove_file(child.path());
                }
                continue;
            }
            let stale = name.starts_with(TRASH_PREFIX)
                || (name.starts_with(TEMP_PREFIX)
                    && child
                        .metadata()
                        .and_then(|metadata| metadata.modified())
                        .is_ok_and(|modified| {
                            modified.elapsed().is_ok_and(|age| age > STALE_FILL_AGE)
                        }));
            if stale {
                match remove_tree(&child.path()) {
                    Ok(()) => debug!(
                        "removed `{}`, left by a killed fill",
                        child.path().display()
                    ),
                    // Another process may be deleting it at the same time.
                    Err(err) => debug!("could not remove `{}`: {err}", child.path().display()),
                }
            }
        }
    }
}

/// What fills may write on the file system of `dir`: the bytes free to an unprivileged writer
/// less [`SPACE_RESERVE`]; unlimited where that cannot be asked.
#[cfg(unix)]
fn free_space(dir: &Path) -> Space {
    match rustix::fs::statvfs(dir) {
        Ok(stat) => Space {
            left: stat
                .f_bavail
                .saturating_mul(stat.f_frsize)
                .saturating_sub(SPACE_RESERVE),
            block: stat.f_frsize.max(512),
        },
        Err(err) => {
            debug!("cannot ask the free space of `{}`: {err}", dir.display());
            UNLIMITED
        }
    }
}

#[cfg(not(unix))]
fn free_space(_dir: &Path) -> Space {
    UNLIMITED
}

const UNLIMITED: Space = Space {
    left: u64::MAX,
    block: 4096,
};

/// What unpacking `wheel` takes on a file system of `block`-byte blocks: each file's size
/// rounded up to whole blocks, and a block for each directory.
fn footprint(wheel: &WheelInfo, block: u64) -> u64 {
    let files: u64 = wheel
        .files()
        .iter()
        .map(|file| file.size.div_ceil(block).saturating_mul(block))
        .fold(0, u64::saturating_add);
    let directories = wheel.directories().len() as u64 + 1;
    files.saturating_add(directories.saturating_mul(block))
}

/// An error of the cache at `path`, for `map_err`.
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |source| InstallError::UnpackedCache { path, source }
}

/// Delete a tree that may hold symlinks or read-only directories (as a tampered entry may).
fn remove_tree(path: &Path) -> io::Result<()> {
    if fs_err::symlink_metadata(path)?.is_dir() {
        fs_err::remove_dir_all(path)
    } else {
        fs_err::remove_file(path)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// The mode unpacking gives a file.
fn unpacked_mode(file: &WheelFile) -> u32 {
    if file.executable { 0o755 } else { 0o644 }
}

/// The file recording that this machine sealed `entry` as the directory `metadata` describes.
fn seal_record(entry: &Path, metadata: &std::fs::Metadata) -> PathBuf {
    let name = entry
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    entry.with_file_name(format!("{name}{RECORD_INFIX}{}", inode(metadata)))
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_metadata: &std::fs::Metadata) -> u64 {
    0
}

/// Check that `entry` is still the sealed tree unpacking wrote for `wheel`.
///
/// Invariant: nothing is linked into an environment from an entry unless
/// 1. safevenv on this machine filled it: the seal record beside it names the entry
///    directory's inode. A tree copied or restored into the cache (a CI cache, which anyone able
///    to write that cache could have poisoned, keeps its times but gets new inodes) is unpacked
///    afresh from its archive, which is re-hashed against its pin on every use;
/// 2. the fill verified every file against its RECORD row as it was written;
/// 3. every directory holds exactly the names the wheel puts there (uv's installer links every
///    file it finds), and every file of the wheel is a regular file with the size and mode
///    unpacking gives it;
/// 4. by its seal, nothing has been written since: every directory and file carries the
///    entry's own modification time, set ten seconds in the past when it was filled.
///
/// Threat: an entry's files share their inode with every environment that links them, so a
/// file modified in place in one environment (an editor, a buggy tool, `pip` writing into
/// it), or a file planted in the entry, would otherwise be installed into the next environment
/// as if it were the wheel's — unverified code imported from site-packages. Writing a file sets
/// its modification time to the present, which cannot match a seal set in the past. What the
/// seal cannot see is a process of the user's that writes a file in place and deliberately
/// puts the old time back (`touch -d`, `cp -p` onto a linked file); such a process can write
/// the environment itself, and `safevenv verify` re-hashes every installed file against RECORD.
/// Checking costs one listing per directory and one `stat` per path, relative to the directory
/// being listed, where re-hashing would cost reading every byte (more than uv's whole warm
/// install).
pub fn check_entry(entry: &Path, wheel: &WheelInfo) -> Result<(), EntryMismatch> {
    let root = fs_err::symlink_metadata(entry)?;
    if !root.is_dir() {
        return Err(EntryMismatch::NotRegular(entry.to_path_buf()));
    }
    // (1):
    if !seal_record(entry, &root).is_file() {
        return Err(EntryMismatch::Unrecorded(entry.to_path_buf()));
    }
    let seal = root.modified()?;
    // (3): the names each directory must hold, the root's under "", and what each must be.
    // In path order, so that a parent's listing (which finds a changed directory by its time)
    // comes before the directory's own, and the mismatch reported is the same every time.
    let mut expected: BTreeMap<&str, HashMap<&str, Expected<'_>>> = BTreeMap::new();
    expected.insert("", HashMap::new());
    let directories = wheel.directories();
    for dir in &directories {
        expected.entry(dir).or_default();
    }
    let children = directories
        .iter()
        .map(|dir| (*dir, Expected::Directory))
        .chain(
            wheel
                .files()
                .iter()
                .map(|file| (file.path.as_str(), Expected::File(file))),
        );
    for (path, kind) in children {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        expected.entry(parent).or_default().insert(name, kind);
    }
    let listings: Vec<(&str, &HashMap<&str, Expected<'_>>)> =
        expected.iter().map(|(dir, names)| (*dir, names)).collect();
    // A large wheel's directories are shared out among threads: the check is one system call
    // per path, waiting on the file system, and a warm install waits for the largest wheel.
    let paths = directories.len() + wheel.files().len();
    let threads = if paths < 2048 {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(4)
    };
    if threads == 1 {
        return listings
            .iter()
            .try_for_each(|(dir, names)| check_directory(entry, dir, names, seal));
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|first| {
                let listings = &listings;
                scope.spawn(move || {
                    listings
                        .iter()
                        .skip(first)
                        .step_by(threads)
                        .try_for_each(|(dir, names)| check_directory(entry, dir, names, seal))
                })
            })
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

/// What a name in an entry's directory must be.
#[derive(Debug, Clone, Copy)]
enum Expected<'a> {
    Directory,
    File(&'a WheelFile),
}

/// (3) and (4) for the directory `dir` of `entry` (relative; "" for the entry itself): it
/// holds exactly `names`, each what the wheel says, carrying the seal's time. Each child is
/// looked at through its directory's listing (a `stat` relative to the open directory), so the
/// entry's every path is looked at once.
fn check_directory(
    entry: &Path,
    dir: &str,
    names: &HashMap<&str, Expected<'_>>,
    seal: SystemTime,
) -> Result<(), EntryMismatch> {
    let path = entry.join(dir);
    let mut found = 0;
    for child in fs_err::read_dir(&path)? {
        let child = child?;
        let name = child.file_name();
        let Some(kind) = name.to_str().and_then(|name| names.get(name)) else {
            return Err(EntryMismatch::Extra(child.path()));
        };
        found += 1;
        let metadata = match child.metadata() {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(EntryMismatch::Missing(child.path()));
            }
            Err(err) => return Err(EntryMismatch::Io(err)),
        };
        match kind {
            Expected::Directory if !metadata.is_dir() => {
                return Err(EntryMismatch::NotRegular(child.path()));
            }
            Expected::Directory => {}
            Expected::File(file) => check_file(&child.path(), file, &metadata)?,
        }
        // (4):
        if metadata.modified()? != seal {
            return Err(EntryMismatch::Modified(child.path()));
        }
    }
    if found != names.len() {
        let missing = names
            .keys()
            .find(|name| !path.join(name).exists())
            .map_or_else(|| path.clone(), |name| path.join(name));
        return Err(EntryMismatch::Missing(missing));
    }
    Ok(())
}

/// (3) for one file: a regular file of the wheel's size and the mode unpacking gives it.
fn check_file(
    path: &Path,
    file: &WheelFile,
    metadata: &std::fs::Metadata,
) -> Result<(), EntryMismatch> {
    if !metadata.is_file() {
        return Err(EntryMismatch::NotRegular(path.to_path_buf()));
    }
    if metadata.len() != file.size {
        return Err(EntryMismatch::Size {
            path: path.to_path_buf(),
            expected: file.size,
            actual: metadata.len(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let actual = metadata.permissions().mode() & 0o7777;
        let expected = unpacked_mode(file);
        if actual != expected {
            return Err(EntryMismatch::Mode {
                path: path.to_path_buf(),
                expected,
                actual,
            });
        }
    }
    Ok(())
}
