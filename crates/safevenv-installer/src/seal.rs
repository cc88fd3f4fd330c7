//! The secret behind the seals of the cache of unpacked wheels and the receipts of installed
//! distributions.
//!
//! A seal (`<key>.seal`, beside a cache entry) and a receipt (`SAFEVENV-RECEIPT`, in an
//! installed `.dist-info`) are HMAC-SHA-256 tags over what an entry or an installed
//! distribution is: its paths, sizes, modes, modification times and the device and inode of
//! every file. Only a holder of the key can make one, so a tree that safevenv did not write
//! and check itself, or one changed since, has no valid tag.
//!
//! The key is 64 random bytes (one HMAC-SHA-256 block) in a file of its own, mode 0600, in a
//! directory of mode 0700, both owned by the user, *outside* the cache: by default
//! `$XDG_STATE_HOME/safevenv/seal-key` (`~/.local/state/safevenv/seal-key`), which
//! `safevenv_cache::seal_key_file` chooses. Threat: a CI cache is a directory that other jobs
//! (a pull request's, say) can write and that is restored whole onto a fresh runner. Were the
//! key inside it, whoever poisoned the cache would also choose the key, and could tag any tree
//! (inode numbers on a freshly restored runner are not a secret). Outside it, a restored cache
//! brings entries whose seals no key of this machine made: every entry is unpacked afresh from
//! its archive, which is re-hashed against its pin, and what a CI cache then saves is the
//! download. Caching the state directory too would hand the key to the cache's writers, which
//! is why it is a directory of its own.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::warn;

use crate::InstallError;

/// An HMAC-SHA-256 block: a key of this length is used as it is.
const KEY_LEN: usize = 64;

/// HMAC-SHA-256, keyed by a [`SealKey`].
pub(crate) type Tagger = Hmac<Sha256>;

/// The secret that seals and receipts are made with (see the module's documentation). It is
/// never displayed.
#[derive(Clone)]
pub struct SealKey {
    bytes: Arc<[u8; KEY_LEN]>,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<secret>)")
    }
}

/// Why an existing key file is not used (it is replaced by a fresh key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unfit {
    NotRegular,
    NotOwned,
    Mode(u32),
    Size(u64),
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRegular => f.write_str("it is not a regular file"),
            Self::NotOwned => f.write_str("another user owns it"),
            Self::Mode(mode) => write!(f, "its mode is {mode:o}, not 600"),
            Self::Size(size) => write!(f, "it has {size} bytes, not {KEY_LEN}"),
        }
    }
}

impl SealKey {
    /// The key in `path`, made (random, mode 0600, atomically) if there is none.
    ///
    /// Steps:
    /// 1. the key's directory is created with mode 0700 if missing, and refused
    ///    ([`InstallError::SealKeyDirectory`]) unless it is a directory (not a link) owned by
    ///    the user that no one else can write: anyone who can write it can replace the key;
    /// 2. an existing key file is used only if it is a regular file (opened without following
    ///    a link) owned by the user, of mode 0600 and exactly 64 bytes. Anything else — a key
    ///    someone else could have read or written, or planted — is replaced by a fresh key: a
    ///    new key only makes every seal and receipt invalid, so entries are unpacked afresh and
    ///    distributions reinstalled, which is safe;
    /// 3. a fresh key is 64 bytes from the operating system's random source, written to a
    ///    temporary file (created 0600) in the directory, synced, and linked to `path` only if
    ///    no key is there yet: of two processes making a key at once, both use the first one.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, InstallError> {
        let path = path.as_ref();
        let io_error = |source| InstallError::SealKey {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .ok_or_else(|| {
                io_error(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the key file's path has no directory",
                ))
            })?;
        // (1):
        create_private_dir(dir).map_err(io_error)?;
        check_dir(dir)?;
        // (2):
        match read_key(path).map_err(io_error)? {
            Some(Ok(bytes)) => return Ok(Self::from_bytes(bytes)),
            Some(Err(unfit)) => {
                warn!(
                    "replacing the seal key `{}`: {unfit}; the cache's entries will be unpacked \
                     again and installed distributions reinstalled on their next sync",
                    path.display()
                );
                fs_err::remove_file(path).map_err(io_error)?;
            }
            None => {}
        }
        // (3):
        let mut bytes = [0; KEY_LEN];
        getrandom::getrandom(&mut bytes)
            .map_err(|err| io_error(io::Error::other(format!("no random bytes: {err}"))))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".seal-key-")
            .tempfile_in(dir)
            .map_err(io_error)?;
        temp.write_all(&bytes).map_err(io_error)?;
        temp.as_file().sync_all().map_err(io_error)?;
        match temp.persist_noclobber(path) {
            Ok(_) => Ok(Self::from_bytes(bytes)),
            Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => {
                match read_key(path).map_err(io_error)? {
                    Some(Ok(bytes)) => Ok(Self::from_bytes(bytes)),
                    Some(Err(unfit)) => Err(io_error(io::Error::other(format!(
                        "another process wrote a key that cannot be used: {unfit}"
                    )))),
                    None => Err(io_error(io::ErrorKind::NotFound.into())),
                }
            }
            Err(err) => Err(io_error(err.error)),
        }
    }

    fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self {
            bytes: Arc::new(bytes),
        }
    }

    /// A tagger keyed by this key, its input begun with `domain` so that a tag made for one
    /// purpose (a seal) is never valid for another (a receipt).
    pub(crate) fn tagger(&self, domain: &str) -> Tagger {
        let mut tagger = <Tagger as KeyInit>::new(&(*self.bytes).into());
        tagger.update(domain.as_bytes());
        tagger.update(&[0]);
        tagger
    }
}

/// Whether `tag` (hex, as written in a seal or receipt) is what `tagger` computed, compared in
/// constant time.
pub(crate) fn tag_matches(tagger: Tagger, tag: &str) -> bool {
    let Some(bytes) = unhex(tag.trim()) else {
        return false;
    };
    tagger.verify_slice(&bytes).is_ok()
}

/// The tag `tagger` computed, as hex.
pub(crate) fn tag_hex(tagger: Tagger) -> String {
    hex(&tagger.finalize().into_bytes())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            text.get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(err) => Err(io::Error::new(
            err.kind(),
            format!("cannot create `{}`: {err}", dir.display()),
        )),
    }
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs_err::create_dir_all(dir)
}

/// (1): the key's directory is the user's own and no one else can write it.
#[cfg(unix)]
fn check_dir(dir: &Path) -> Result<(), InstallError> {
    use std::os::unix::fs::MetadataExt;
    let refuse = |reason: &'static str| InstallError::SealKeyDirectory {
        path: dir.to_path_buf(),
        reason,
    };
    let metadata = fs_err::symlink_metadata(dir).map_err(|source| InstallError::SealKey {
        path: dir.to_path_buf(),
        source,
    })?;
    if !metadata.is_dir() {
        return Err(refuse("it is not a directory"));
    }
    if metadata.uid() != rustix::process::geteuid().as_raw() {
        return Err(refuse("another user owns it"));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(refuse("other users can write it"));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_dir(_dir: &Path) -> Result<(), InstallError> {
    Ok(())
}

/// (2): the key in `path`, `None` when there is no file, or why the file is unfit.
#[cfg(unix)]
fn read_key(path: &Path) -> io::Result<Option<Result<[u8; KEY_LEN], Unfit>>> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::MetadataExt;
    let file = fs_err::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        // A symbolic link (`O_NOFOLLOW` refuses it) is unfit, not an error.
        Err(_) if fs_err::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) => {
            return Ok(Some(Err(Unfit::NotRegular)));
        }
        Err(err) => return Err(err),
    };
    let metadata = file.metadata()?;
    let unfit = if !metadata.is_file() {
        Some(Unfit::NotRegular)
    } else if metadata.uid() != rustix::process::geteuid().as_raw() {
        Some(Unfit::NotOwned)
    } else if metadata.mode() & 0o777 != 0o600 {
        Some(Unfit::Mode(metadata.mode() & 0o777))
    } else if metadata.len() != KEY_LEN as u64 {
        Some(Unfit::Size(metadata.len()))
    } else {
        None
    };
    if let Some(unfit) = unfit {
        return Ok(Some(Err(unfit)));
    }
    let mut bytes = [0; KEY_LEN];
    file.read_exact(&mut bytes)?;
    Ok(Some(Ok(bytes)))
}

#[cfg(not(unix))]
fn read_key(path: &Path) -> io::Result<Option<Result<[u8; KEY_LEN], Unfit>>> {
    match fs_err::read(path) {
        Ok(bytes) => Ok(Some(
            <[u8; KEY_LEN]>::try_from(bytes.as_slice())
                .map_err(|_| Unfit::Size(bytes.len() as u64)),
        )),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}
