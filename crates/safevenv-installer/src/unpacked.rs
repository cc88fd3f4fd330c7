//! A persistent cache of unpacked wheels that transactions hard-link from, so that a warm
//! install creates almost no new inodes (the file system's inode allocation, not copying, is
//! what an install spends most of its time on).
//!
//! An entry is `<cache>/<key>/`, the wheel's archive paths as [`VerifiedWheel::unpack_into`]
//! writes them. The key is a digest of the [`VerifiedWheel`]'s file list (each file's path,
//! size, SHA-256 and executable bit), not of the archive: it names exactly the facts an entry is
//! checked against before use, so the check needs nothing but the wheel in hand, and no
//! provenance from the fetch stage has to be carried (or trusted) here. Two archives with the
//! same content share an entry.
//!
//! An entry is filled in a temporary directory beside it (`.tmp-*`, never a key) and renamed
//! into place whole, so neither a concurrent safevenv nor a crash leaves a half entry under a
//! key. Installed files share their inode with the entry, so an installed file modified in
//! place (or a tampered entry) would flow into the next environment: every entry is checked
//! against the wheel before anything links from it ([`check_entry`]).

use std::collections::HashMap;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::{InstallError, VerifiedWheel};
use safevenv_wheel::WheelFile;

/// The format of an entry and of its key; bump it when either changes.
const KEY_DOMAIN: &[u8] = b"safevenv unpacked wheel v1\n";
const TEMP_PREFIX: &str = ".tmp-";
const TRASH_PREFIX: &str = ".trash-";

/// Where unpacked wheels are kept (the cache's `wheels-v1` bucket). It should be on the
/// environments' file system: across file systems files are copied instead of linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedCache {
    dir: PathBuf,
}

/// Why an entry was not used: what differs from the wheel's verified file list.
#[derive(Debug, thiserror::Error)]
pub enum EntryMismatch {
    /// A file of the wheel is missing.
    #[error("`{0}` is missing")]
    Missing(PathBuf),
    /// A path that should be a regular file (or a directory) is a symlink or a special file.
    #[error("`{0}` is not a regular file or directory")]
    NotRegular(PathBuf),
    /// A file the wheel does not have.
    #[error("`{0}` is not in the wheel")]
    Extra(PathBuf),
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
    /// A file's content differs.
    #[error("`{0}` does not match the wheel's SHA-256")]
    Content(PathBuf),
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
    /// Reading the entry failed (the message names the path).
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl UnpackedCache {
    /// A cache in `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry of `wheel`, as a directory to link from: an existing entry that passes
    /// [`check_entry`], else a fresh one unpacked from the wheel's verified bytes. A failed
    /// check discards the entry (it is never linked from) and unpacks afresh.
    pub(crate) fn entry<R: Read + Seek>(
        &self,
        wheel: &mut VerifiedWheel<R>,
    ) -> Result<PathBuf, InstallError> {
        let entry = self.dir.join(key(wheel.files()));
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| InstallError::UnpackedCache { path, source }
        };
        if self.usable(&entry, wheel.files()) {
            return Ok(entry);
        }
        fs_err::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempdir_in(&self.dir)
            .map_err(io_error(&self.dir))?;
        wheel
            .unpack_into(temp.path())
            .map_err(|source| InstallError::Unpack {
                wheel: wheel.filename().to_string(),
                source: Box::new(source),
            })?;
        // Two tries: a concurrent safevenv may have renamed its own fill into place first, and
        // that one is used only if it passes the check like any other entry.
        for _ in 0..2 {
            match fs_err::rename(temp.path(), &entry) {
                Ok(()) => {
                    // The temporary directory is now the entry: nothing left to delete.
                    let _ = temp.keep();
                    debug!("unpacked `{}` into `{}`", wheel.name(), entry.display());
                    return Ok(entry);
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists
                    ) =>
                {
                    if self.usable(&entry, wheel.files()) {
                        return Ok(entry);
                    }
                }
                Err(err) => return Err(io_error(&entry)(err)),
            }
        }
        Err(io_error(&entry)(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "another process keeps replacing this cache entry",
        )))
    }

    /// Whether `entry` exists and passes the check; a failing entry is moved aside and deleted.
    fn usable(&self, entry: &Path, files: &[WheelFile]) -> bool {
        match fs_err::symlink_metadata(entry) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => return false,
            _ => {}
        }
        match check_entry(entry, files) {
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
        let trash = self.dir.join(format!(
            "{TRASH_PREFIX}{}-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
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

/// Delete a tree that may hold symlinks or read-only directories (as a tampered entry may).
fn remove_tree(path: &Path) -> io::Result<()> {
    if fs_err::symlink_metadata(path)?.is_dir() {
        fs_err::remove_dir_all(path)
    } else {
        fs_err::remove_file(path)
    }
}

/// The entry name of a wheel with `files`: SHA-256 over each file's path, size, SHA-256 and
/// executable bit, in path order (paths hold no NUL: the wheel reader refuses control
/// characters).
pub(crate) fn key(files: &[WheelFile]) -> String {
    let mut sorted: Vec<&WheelFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Sha256::new();
    hasher.update(KEY_DOMAIN);
    for file in sorted {
        hasher.update(file.path.as_bytes());
        hasher.update([0]);
        hasher.update(file.size.to_le_bytes());
        hasher.update(file.sha256);
        hasher.update([u8::from(file.executable)]);
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// The mode [`VerifiedWheel::unpack_into`] gives a file.
fn unpacked_mode(file: &WheelFile) -> u32 {
    if file.executable { 0o755 } else { 0o644 }
}

/// Check that `entry` holds exactly the wheel's `files`, as [`VerifiedWheel::unpack_into`]
/// writes them.
///
/// Invariant: nothing is linked into an environment from an entry unless every file of the
/// wheel is there as a regular file (not a symlink, nor a special file) with the size, SHA-256
/// and mode that the verified wheel records, and the entry holds no other file. Threat: an
/// entry's files share their inode with every environment that links them, so a file modified
/// in place in one environment (an editor, a buggy tool, `pip` writing into it), a damaged
/// entry, or a file planted in the cache would otherwise be installed into the next
/// environment as if it were the wheel's — unverified code imported from site-packages. The
/// check reads every byte (from the page cache when warm), which costs far less than the
/// inodes linking saves. It does not stop a process that rewrites the entry between this check
/// and the link: such a process can write the environment itself.
pub fn check_entry(entry: &Path, files: &[WheelFile]) -> Result<(), EntryMismatch> {
    let mut expected: HashMap<&str, &WheelFile> = files
        .iter()
        .map(|file| (file.path.as_str(), file))
        .collect();
    let metadata = fs_err::symlink_metadata(entry)?;
    if !metadata.is_dir() {
        return Err(EntryMismatch::NotRegular(entry.to_path_buf()));
    }
    walk(entry, "", &mut expected)?;
    if let Some(path) = expected.keys().min() {
        return Err(EntryMismatch::Missing(entry.join(path)));
    }
    Ok(())
}

/// Check every path below `entry/relative`, removing each file found from `expected`.
fn walk(
    entry: &Path,
    relative: &str,
    expected: &mut HashMap<&str, &WheelFile>,
) -> Result<(), EntryMismatch> {
    for child in fs_err::read_dir(entry.join(relative))? {
        let child = child?;
        let name = child.file_name();
        let Some(name) = name.to_str() else {
            return Err(EntryMismatch::Extra(child.path()));
        };
        let path = if relative.is_empty() {
            name.to_string()
        } else {
            format!("{relative}/{name}")
        };
        // `DirEntry::file_type` does not follow symlinks.
        let file_type = child.file_type()?;
        if file_type.is_dir() {
            // Directories carry no content; what they hold is checked.
            walk(entry, &path, expected)?;
        } else if !file_type.is_file() {
            return Err(EntryMismatch::NotRegular(child.path()));
        } else {
            let Some(file) = expected.remove(path.as_str()) else {
                return Err(EntryMismatch::Extra(child.path()));
            };
            check_file(&child.path(), file)?;
        }
    }
    Ok(())
}

fn check_file(path: &Path, file: &WheelFile) -> Result<(), EntryMismatch> {
    let mut handle = fs_err::File::open(path)?;
    // The handle's own metadata: a path swapped for a symlink or a FIFO after the listing is
    // seen here, and what is hashed is what was measured.
    let metadata = handle.metadata()?;
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
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut read = 0u64;
    loop {
        let n = handle.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        hasher.update(&buffer[..n]);
    }
    if read != file.size || hasher.finalize().as_slice() != file.sha256 {
        return Err(EntryMismatch::Content(path.to_path_buf()));
    }
    Ok(())
}
