//! The environment's journal key: 32 random bytes in `<prefix>/.safevenv/journal-key` (0600),
//! made when the environment is first opened. Every journal carries an HMAC-SHA256 under it.
//!
//! Invariant: recovery replays only journals this environment's safevenv wrote. Threat:
//! recovery moves files (`backup/<n>` back over any path of the environment) before any policy
//! is consulted, so a journal planted by anything else — a wheel's data files (which the gate
//! also refuses), a restored archive of the environment, another tool — would be an arbitrary
//! file write. A planted journal cannot carry a valid MAC without the key, which nothing but
//! safevenv, under the environment's lock, reads or writes.

use std::io::{self, Read, Write};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::InstallError;
use crate::seal::hex;

const KEY_FILE: &str = "journal-key";
const KEY_LEN: usize = 32;
/// Domain separation: a MAC made under this key for anything else is never a journal's.
const DOMAIN: &[u8] = b"safevenv journal v2\0";

/// The key, read once per [`crate::Environment::open`].
pub(crate) struct JournalKey {
    bytes: [u8; KEY_LEN],
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never displayed.
        f.write_str("JournalKey(..)")
    }
}

impl JournalKey {
    /// The key of the environment whose state directory is `state`, if it has one.
    pub(crate) fn load(state: &Path) -> Result<Option<Self>, InstallError> {
        let path = state.join(KEY_FILE);
        let invalid = |reason: String| InstallError::JournalKey {
            path: path.clone(),
            reason,
        };
        let mut file = match open_no_follow(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(invalid(err.to_string())),
        };
        let metadata = file.metadata().map_err(|err| invalid(err.to_string()))?;
        if !metadata.is_file() || metadata.len() != KEY_LEN as u64 {
            return Err(invalid(format!(
                "it is not a regular file of {KEY_LEN} bytes"
            )));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(invalid(format!(
                    "its mode is {mode:o}: anyone who can read it could forge a journal"
                )));
            }
            let user = rustix::process::geteuid().as_raw();
            if metadata.uid() != user {
                return Err(invalid(format!(
                    "it belongs to user {}, not to the user running safevenv ({user})",
                    metadata.uid()
                )));
            }
        }
        let mut bytes = [0u8; KEY_LEN];
        file.read_exact(&mut bytes)
            .map_err(|err| invalid(err.to_string()))?;
        Ok(Some(Self { bytes }))
    }

    /// The key of `state`, made (random, 0600, written whole before it appears under its name)
    /// if there is none. The caller holds the environment's lock.
    pub(crate) fn load_or_create(state: &Path) -> Result<Self, InstallError> {
        if let Some(key) = Self::load(state)? {
            return Ok(key);
        }
        let path = state.join(KEY_FILE);
        let failed = |source: io::Error| InstallError::JournalKey {
            path: path.clone(),
            reason: source.to_string(),
        };
        let mut bytes = [0u8; KEY_LEN];
        getrandom::getrandom(&mut bytes)
            .map_err(|err| failed(io::Error::other(err.to_string())))?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".journal-key-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        }
        let mut temp = builder.tempfile_in(state).map_err(failed)?;
        temp.write_all(&bytes).map_err(failed)?;
        temp.as_file().sync_all().map_err(failed)?;
        temp.persist_noclobber(&path)
            .map_err(|err| failed(err.error))?;
        crate::txn::sync_dir(state).map_err(failed)?;
        Ok(Self { bytes })
    }

    /// The MAC of the operations `ops` (their JSON) of the transaction named `txn`.
    pub(crate) fn sign(&self, txn: &str, ops: &[u8]) -> String {
        hex(&self.mac(txn, ops).finalize().into_bytes())
    }

    /// Whether `mac` (hex) is the MAC of `ops` of `txn`, compared in constant time.
    pub(crate) fn verify(&self, txn: &str, ops: &[u8], mac: &str) -> bool {
        let Some(expected) = unhex(mac) else {
            return false;
        };
        self.mac(txn, ops).verify_slice(&expected).is_ok()
    }

    fn mac(&self, txn: &str, ops: &[u8]) -> Hmac<Sha256> {
        // `new_from_slice` accepts any key length; 32 bytes it always gets.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.bytes)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(DOMAIN);
        mac.update(txn.as_bytes());
        mac.update(b"\0");
        mac.update(ops);
        mac
    }
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<fs_err::File> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    fs_err::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> io::Result<fs_err::File> {
    fs_err::File::open(path)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{JournalKey, KEY_FILE};

    fn key_path(state: &Path) -> PathBuf {
        state.join(KEY_FILE)
    }

    #[test]
    fn a_journal_verifies_only_under_its_key_transaction_and_operations() {
        let dir = tempfile::tempdir().unwrap();
        let key = JournalKey::load_or_create(dir.path()).unwrap();
        let mac = key.sign("txn-1", b"[ops]");
        assert!(key.verify("txn-1", b"[ops]", &mac));
        assert!(!key.verify("txn-2", b"[ops]", &mac));
        assert!(!key.verify("txn-1", b"[ops2]", &mac));
        assert!(!key.verify("txn-1", b"[ops]", &"0".repeat(64)));
        assert!(!key.verify("txn-1", b"[ops]", "not hex"));
        // The same key is read back; another environment's key does not verify it.
        let again = JournalKey::load_or_create(dir.path()).unwrap();
        assert!(again.verify("txn-1", b"[ops]", &mac));
        let other = tempfile::tempdir().unwrap();
        let other = JournalKey::load_or_create(other.path()).unwrap();
        assert!(!other.verify("txn-1", b"[ops]", &mac));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_anyone_else_could_read_or_a_link_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        JournalKey::load_or_create(dir.path()).unwrap();
        let path = key_path(dir.path());
        let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(JournalKey::load(dir.path()).is_err());

        let linked = tempfile::tempdir().unwrap();
        fs_err::os::unix::fs::symlink(&path, key_path(linked.path())).unwrap();
        assert!(JournalKey::load(linked.path()).is_err());

        let short = tempfile::tempdir().unwrap();
        fs_err::write(key_path(short.path()), b"short").unwrap();
        fs_err::set_permissions(
            key_path(short.path()),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert!(JournalKey::load(short.path()).is_err());
    }
}
