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
//! while it is written, made read-only (files 0444, or 0555 when executable), given one
//! modification time ten seconds in the past (every file and directory, and the entry itself),
//! *sealed* and renamed into place whole, so neither a concurrent safevenv nor a crash leaves a
//! half entry under a key. The seal is `<key>.seal-<inode>` beside it: an HMAC-SHA-256 tag, by
//! this user's [`SealKey`], over the key and every path's kind, size, mode, modification time,
//! device and inode. See [`UnpackedCache::check_entry`] for why it is what a warm install checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tracing::{debug, warn};

use crate::InstallError;
use crate::seal::{SealKey, Tagger, hex, tag_hex, tag_matches};
use safevenv_wheel::{InspectedWheel, WheelFile, WheelInfo};

const TEMP_PREFIX: &str = ".tmp-";
/// Between an entry's key and its directory's inode in the name of its seal.
const SEAL_INFIX: &str = ".seal-";
/// What a seal holds before its tag (the format's version).
const SEAL_FORMAT: &str = "safevenv-seal-v1 ";
/// The tagger's domain for seals (receipts use another).
const SEAL_DOMAIN: &str = "safevenv unpacked wheel seal v1";
/// The empty seal records of an older safevenv (`<key>.sealed-<inode>`): never trusted, swept.
const LEGACY_RECORD_INFIX: &str = ".sealed-";
const TRASH_PREFIX: &str = ".trash-";
/// A fill's temporary directory untouched for this long was left by a process that died: no
/// fill takes an hour.
const STALE_FILL_AGE: Duration = Duration::from_secs(60 * 60);
/// How far in the past a fill's seal is set (see [`UnpackedCache::check_entry`]).
const SEAL_AGE: Duration = Duration::from_secs(10);
/// Free space that fills leave on the cache's file system, for everything else on it.
pub(crate) const SPACE_RESERVE: u64 = 256 << 20;

/// Where unpacked wheels are kept (the cache's `wheels-v2` bucket). It should be on the
/// environments' file system: across file systems files are copied instead of linked.
#[derive(Debug)]
pub struct UnpackedCache {
    dir: PathBuf,
    /// What seals are made and checked with.
    key: SealKey,
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
/// verified content or passed [`UnpackedCache::check_entry`] against the wheel's facts.
#[derive(Debug, Clone)]
pub struct ReadyWheel {
    info: WheelInfo,
    entry: PathBuf,
    key: SealKey,
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

    /// [`UnpackedCache::check_entry`] again, as just before a transaction commits, returning
    /// the device and inode of each of the entry's files (what a staged hard link must be).
    pub(crate) fn recheck(&self) -> Result<BTreeSet<FileId>, EntryMismatch> {
        verify(&self.entry, &self.info, &self.key)
    }

    /// The key that sealed the entry, which receipts are made with too.
    pub(crate) fn key(&self) -> &SealKey {
        &self.key
    }
}

/// A file's device and inode: what a hard link shares.
pub(crate) type FileId = (u64, u64);

impl std::ops::Deref for ReadyWheel {
    type Target = WheelInfo;

    fn deref(&self) -> &WheelInfo {
        &self.info
    }
}

/// Why an entry was not used: what differs from the wheel or from the entry's seal.
#[derive(Debug, thiserror::Error)]
pub enum EntryMismatch {
    /// No seal for the entry's directory: a tree copied or restored into the cache (a CI
    /// cache, an archive of someone's cache), or one an older safevenv sealed.
    #[error("`{0}` has no seal of its own: it was copied or restored into the cache")]
    Unrecorded(PathBuf),
    /// The seal's tag is not this user's key's over what the entry is now: a forged or
    /// restored seal, or a tree whose files were replaced (other inodes) or changed.
    #[error("the seal of `{0}` does not match it: it was not sealed here as it is now")]
    Forged(PathBuf),
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
    /// A cache in `dir` (created on first use) whose entries are sealed with `key`, which
    /// must not be kept in `dir` (see [`SealKey`]).
    pub fn new(dir: impl Into<PathBuf>, key: SealKey) -> Self {
        Self {
            dir: dir.into(),
            key,
            swept: std::sync::Once::new(),
            space: Mutex::new(None),
        }
    }

    /// A cache in `dir` whose fills may take `bytes` in all, instead of what the file system
    /// has free.
    pub fn with_space(dir: impl Into<PathBuf>, key: SealKey, bytes: u64) -> Self {
        Self {
            space: Mutex::new(Some(Space {
                left: bytes,
                block: 4096,
            })),
            ..Self::new(dir, key)
        }
    }

    /// The key entries are sealed with.
    pub fn key(&self) -> &SealKey {
        &self.key
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The wheel, ready to install from its entry: an existing entry that passes
    /// [`UnpackedCache::check_entry`], else a fresh one unpacked from the archive and verified as it is
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
                key: self.key.clone(),
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
        let unsealed = |mismatch: EntryMismatch| {
            io_error(temp.path())(io::Error::other(format!(
                "the fresh entry does not match its wheel: {mismatch}"
            )))
        };
        make_read_only(temp.path(), &info).map_err(io_error(temp.path()))?;
        // The seal, named for the directory's inode, which the rename keeps: written first, so
        // the entry is never under its key without it.
        let root = fs_err::symlink_metadata(temp.path()).map_err(io_error(temp.path()))?;
        let scanned = scan(temp.path(), &info).map_err(unsealed)?;
        let seal = format!(
            "{SEAL_FORMAT}{}\n",
            tag_hex(seal_tagger(&self.key, &entry, &scanned))
        );
        let record = seal_path(&entry, &root);
        fs_err::write(&record, &seal).map_err(io_error(&record))?;
        let ready = |info, entry| ReadyWheel {
            info,
            entry,
            key: self.key.clone(),
        };
        // Two tries: a concurrent safevenv may have renamed its own fill into place first, and
        // that one is used only if it passes the check like any other entry.
        for _ in 0..2 {
            match fs_err::rename(temp.path(), &entry) {
                Ok(()) => {
                    // The temporary directory is now the entry: nothing left to delete.
                    let _ = temp.keep();
                    debug!("unpacked `{}` into `{}`", info.name(), entry.display());
                    return Ok(ready(info, entry));
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists
                    ) =>
                {
                    // Another fill won: this one's seal names an inode that is not the entry.
                    let _ = fs_err::remove_file(&record);
                    if self.usable(&entry, &info) {
                        return Ok(ready(info, entry));
                    }
                    fs_err::write(&record, &seal).map_err(io_error(&record))?;
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
        match self.check_entry(entry, wheel) {
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
            let _ = fs_err::remove_file(seal_path(entry, &metadata));
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
    /// Delete what killed processes left: fills untouched for [`STALE_FILL_AGE`], discarded
    /// entries not yet deleted (`.trash-*`, never read), seals of no current entry and the
    /// records of an older safevenv. Once per process, on the first fill, so
    /// warm installs never list the cache. Failures are logged: a leftover is never read.
    fn sweep(&self) {
        let Ok(children) = fs_err::read_dir(&self.dir) else {
            return;
        };
        for child in children.flatten() {
            let name = child.file_name();
            let name = name.to_string_lossy();
            if name.contains(LEGACY_RECORD_INFIX) {
                let _ = fs_err::remove_file(child.path());
                continue;
            }
            if let Some((key, _)) = name.split_once(SEAL_INFIX) {
                let entry = self.dir.join(key);
                let current = fs_err::symlink_metadata(&entry)
                    .is_ok_and(|metadata| seal_path(&entry, &metadata) == child.path());
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

/// The mode a cache entry gives a file: read-only, so that an installed file hard-linked from
/// the entry cannot be written through casually (an editor, `pip`, a build tool writing next
/// to its sources would change every environment linked to it). `RECORD` keeps 0644: uv's
/// installer copies it (it rewrites it), never links it, and writes the copy.
fn entry_mode(wheel: &WheelInfo, file: &WheelFile) -> u32 {
    if is_record(wheel, file) {
        0o644
    } else if file.executable {
        0o555
    } else {
        0o444
    }
}

fn is_record(wheel: &WheelInfo, file: &WheelFile) -> bool {
    file.path
        .strip_prefix(wheel.dist_info())
        .is_some_and(|rest| rest == "/RECORD")
}

/// Give every file of a fresh fill at `dir` its [`entry_mode`]. A change of mode leaves the
/// modification times, and so the seal's time, as they are.
#[cfg(unix)]
fn make_read_only(dir: &Path, wheel: &WheelInfo) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for file in wheel.files() {
        fs_err::set_permissions(
            dir.join(&file.path),
            std::fs::Permissions::from_mode(entry_mode(wheel, file)),
        )?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_read_only(_dir: &Path, _wheel: &WheelInfo) -> io::Result<()> {
    Ok(())
}

/// The seal of `entry` as the directory `metadata` describes.
fn seal_path(entry: &Path, metadata: &std::fs::Metadata) -> PathBuf {
    let name = entry
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    entry.with_file_name(format!("{name}{SEAL_INFIX}{}", identity(metadata).1))
}

/// A path's device and inode.
#[cfg(unix)]
pub(crate) fn identity(metadata: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
pub(crate) fn identity(_metadata: &std::fs::Metadata) -> FileId {
    (0, 0)
}

/// What a seal or receipt tags of one path: its kind, size, mode, modification time (to the
/// nanosecond), device and inode.
pub(crate) fn tag_metadata(hasher: &mut impl sha2::Digest, metadata: &std::fs::Metadata) {
    let kind: u8 = if metadata.is_dir() {
        b'd'
    } else if metadata.is_file() {
        b'f'
    } else {
        b'o'
    };
    let (dev, ino) = identity(metadata);
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.update([kind]);
    hasher.update(metadata.len().to_le_bytes());
    hasher.update(mode_of(metadata).to_le_bytes());
    hasher.update(modified.to_le_bytes());
    hasher.update(dev.to_le_bytes());
    hasher.update(ino.to_le_bytes());
}

#[cfg(unix)]
fn mode_of(metadata: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode()
}

#[cfg(not(unix))]
fn mode_of(metadata: &std::fs::Metadata) -> u32 {
    u32::from(metadata.permissions().readonly())
}

/// What one look at an entry found: the root's facts and each directory's digest of its
/// children (in path order), and every file's device and inode.
struct Scanned<'a> {
    root: std::fs::Metadata,
    directories: Vec<(&'a str, [u8; 32])>,
    files: BTreeSet<FileId>,
}

/// The seal's tagger over `scanned`, the entry found at `entry`: its key (the entry's name,
/// which the content digest of the wheel's files and RECORD digests is), then the root's and
/// every path's facts.
fn seal_tagger(key: &SealKey, entry: &Path, scanned: &Scanned<'_>) -> Tagger {
    use hmac::Mac;
    use sha2::Digest;
    let mut tagger = key.tagger(SEAL_DOMAIN);
    let name = entry
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    tagger.update(name.as_bytes());
    tagger.update(&[0]);
    let mut root = sha2::Sha256::new();
    tag_metadata(&mut root, &scanned.root);
    tagger.update(&root.finalize());
    for (dir, digest) in &scanned.directories {
        tagger.update(dir.as_bytes());
        tagger.update(&[0]);
        tagger.update(digest);
    }
    tagger
}

impl UnpackedCache {
    /// Check that `entry` is still the sealed tree unpacking wrote for `wheel`.
    ///
    /// Invariant: nothing is linked into an environment from an entry unless
    /// 1. its seal is there: a file beside it named for the entry directory's inode (a tree
    ///    copied or restored into the cache gets new inodes, and an older safevenv's empty
    ///    records are not seals);
    /// 2. the fill verified every file against its RECORD row as it was written;
    /// 3. every directory holds exactly the names the wheel puts there (uv's installer links
    ///    every file it finds), and every file of the wheel is a regular file with the size and
    ///    the read-only mode the fill gave it;
    /// 4. by its time, nothing has been written since: every directory and file carries the
    ///    entry's own modification time, set ten seconds in the past when it was filled;
    /// 5. the seal's tag is the HMAC, by this user's [`SealKey`], of the entry's key and of
    ///    every path's kind, size, mode, modification time, device and inode as they are now.
    ///
    /// Threat: an entry's files share their inode with every environment that links them, so a
    /// file modified in place in one environment (an editor, a buggy tool, `pip` writing into
    /// it), or a file planted in the entry, would otherwise be installed into the next
    /// environment as if it were the wheel's — unverified code imported from site-packages.
    /// Writing a file sets its modification time to the present, which cannot match a seal set
    /// in the past (4). A tree someone else wrote — a poisoned CI cache restored onto the
    /// runner, with a seal made for it by whoever poisoned it — fails (5): the key never
    /// travels with the cache, and the tag binds the inodes that only this file system gave.
    /// A file replaced by another with the old time put back (`touch -d`) has another inode
    /// and fails (5) too. What the check cannot see is a process of the user's that writes a
    /// file in place (through its read-only mode) and deliberately puts the old time back;
    /// such a process can write the environment itself, and `safevenv verify` re-hashes every
    /// installed file against RECORD. Checking costs one listing per directory and one `stat`
    /// per path, relative to the directory being listed, and hashing those facts (no file's
    /// content), where re-hashing would cost reading every byte (more than uv's whole warm
    /// install).
    pub fn check_entry(&self, entry: &Path, wheel: &WheelInfo) -> Result<(), EntryMismatch> {
        verify(entry, wheel, &self.key).map(|_| ())
    }
}

/// [`UnpackedCache::check_entry`], returning the device and inode of each of the entry's files.
fn verify(
    entry: &Path,
    wheel: &WheelInfo,
    key: &SealKey,
) -> Result<BTreeSet<FileId>, EntryMismatch> {
    let root = fs_err::symlink_metadata(entry)?;
    if !root.is_dir() {
        return Err(EntryMismatch::NotRegular(entry.to_path_buf()));
    }
    // (1):
    let seal = match fs_err::read_to_string(seal_path(entry, &root)) {
        Ok(seal) => seal,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(EntryMismatch::Unrecorded(entry.to_path_buf()));
        }
        Err(err) => return Err(EntryMismatch::Io(err)),
    };
    // (3) and (4):
    let scanned = scan(entry, wheel)?;
    // (5):
    let tag = seal.strip_prefix(SEAL_FORMAT).unwrap_or_default();
    if !tag_matches(seal_tagger(key, entry, &scanned), tag) {
        return Err(EntryMismatch::Forged(entry.to_path_buf()));
    }
    Ok(scanned.files)
}

/// (3) and (4) for the tree at `entry`, and what the seal tags of it.
fn scan<'a>(entry: &Path, wheel: &'a WheelInfo) -> Result<Scanned<'a>, EntryMismatch> {
    let root = fs_err::symlink_metadata(entry)?;
    if !root.is_dir() {
        return Err(EntryMismatch::NotRegular(entry.to_path_buf()));
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
    let check = |(dir, names): &(&'a str, &HashMap<&str, Expected<'_>>)| {
        check_directory(entry, dir, names, wheel, seal).map(|found| (*dir, found))
    };
    let found: Vec<(&'a str, Listed)> = if threads == 1 {
        listings.iter().map(check).collect::<Result<_, _>>()?
    } else {
        type Share<'a> = Result<Vec<(usize, (&'a str, Listed))>, (usize, EntryMismatch)>;
        let shares: Vec<Share<'a>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|first| {
                    let (listings, check) = (&listings, &check);
                    scope.spawn(move || {
                        listings
                            .iter()
                            .enumerate()
                            .skip(first)
                            .step_by(threads)
                            .map(|(at, listing)| {
                                check(listing)
                                    .map(|found| (at, found))
                                    .map_err(|err| (at, err))
                            })
                            .collect()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        // The first mismatch in path order, as one thread would report it.
        let mut found: Vec<(usize, (&'a str, Listed))> = Vec::with_capacity(listings.len());
        let mut first_error: Option<(usize, EntryMismatch)> = None;
        for share in shares {
            match share {
                Ok(share) => found.extend(share),
                Err((at, err)) => {
                    if first_error.as_ref().is_none_or(|(first, _)| at < *first) {
                        first_error = Some((at, err));
                    }
                }
            }
        }
        if let Some((_, err)) = first_error {
            return Err(err);
        }
        found.sort_by_key(|(at, _)| *at);
        found.into_iter().map(|(_, found)| found).collect()
    };
    let mut files = BTreeSet::new();
    let mut digests = Vec::with_capacity(found.len());
    for (dir, listed) in found {
        files.extend(listed.files);
        digests.push((dir, listed.digest));
    }
    Ok(Scanned {
        root,
        directories: digests,
        files,
    })
}

/// What the check found in one directory: a digest of its children's facts (by name) and the
/// device and inode of each of its files.
struct Listed {
    digest: [u8; 32],
    files: Vec<FileId>,
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
    wheel: &WheelInfo,
    seal: SystemTime,
) -> Result<Listed, EntryMismatch> {
    use sha2::Digest;
    let path = entry.join(dir);
    let mut children = Vec::with_capacity(names.len());
    for child in fs_err::read_dir(&path)? {
        let child = child?;
        let name = child.file_name();
        let Some((name, kind)) = name.to_str().and_then(|name| names.get_key_value(name)) else {
            return Err(EntryMismatch::Extra(child.path()));
        };
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
            Expected::File(file) => check_file(&child.path(), wheel, file, &metadata)?,
        }
        // (4):
        if metadata.modified()? != seal {
            return Err(EntryMismatch::Modified(child.path()));
        }
        children.push((*name, metadata));
    }
    if children.len() != names.len() {
        let missing = names
            .keys()
            .find(|name| !path.join(name).exists())
            .map_or_else(|| path.clone(), |name| path.join(name));
        return Err(EntryMismatch::Missing(missing));
    }
    children.sort_unstable_by_key(|(name, _)| *name);
    let mut digest = sha2::Sha256::new();
    let mut files = Vec::new();
    for (name, metadata) in &children {
        digest.update(name.as_bytes());
        digest.update([0]);
        tag_metadata(&mut digest, metadata);
        if metadata.is_file() {
            files.push(identity(metadata));
        }
    }
    Ok(Listed {
        digest: digest.finalize().into(),
        files,
    })
}

/// (3) for one file: a regular file of the wheel's size and the mode the fill gives it.
fn check_file(
    path: &Path,
    wheel: &WheelInfo,
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
        let actual = mode_of(metadata) & 0o7777;
        let expected = entry_mode(wheel, file);
        if actual != expected {
            return Err(EntryMismatch::Mode {
                path: path.to_path_buf(),
                expected,
                actual,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = wheel;
    Ok(())
}
