//! The last look at a transaction's staged tree before the journal is written.
//!
//! A cache entry is checked when a wheel is made ready, and linked from when it is staged,
//! later. Threat: whoever can write the cache (the user's other processes, or anyone a shared
//! cache lets in) could write an entry's file in that window, or swap it for another and back,
//! or plant a file that uv's installer links with the rest, and the environment would get
//! what the check never saw. So [`recheck`], once everything is staged and just before the
//! journal:
//! 1. checks every entry linked from again, seal and all ([`ReadyWheel::recheck`]): a write
//!    since the first check changed a time or an inode;
//! 2. requires every staged regular file to be one of those entries' checked files (the same
//!    device and inode: a hard link), or the `RECORD` or receipt of a staged distribution, or
//!    a file whose content is what its staged `RECORD` row's digest says (what uv wrote — a
//!    rewritten script, `INSTALLER`, `direct_url.json` — and, when the cache is on another
//!    file system, every copied file). A file swapped in and out of the entry, or planted in
//!    it, is none of these. Anything that is not a regular file or directory is refused.
//!
//! What is left is the time between this look and the renames, and the life of the
//! environment after: an installed file *is* the entry's file, so a write to one is a write
//! to the other. Entries' files are read-only (0444/0555) so that nothing writes them
//! casually; the receipt then sees any write at the next `sync`.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::layout::EnvironmentLayout;
use crate::receipt::RECEIPT;
use crate::txn::Transaction;
use crate::unpacked::{FileId, identity};
use crate::{InstallError, ReadyWheel};

/// A digest a `RECORD` row gives (PEP 376: `<algorithm>=<urlsafe-base64-nopad digest>`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listed {
    Sha256(Vec<u8>),
    Sha384(Vec<u8>),
    Sha512(Vec<u8>),
    /// No digest, or one of an algorithm safevenv does not compute: never enough.
    Unverifiable,
}

/// See the module's documentation: steps (1) and (2) for the wheels `staged_from`.
pub(crate) fn recheck(
    layout: &EnvironmentLayout,
    txn: &Transaction,
    staged_from: &[&ReadyWheel],
) -> Result<(), InstallError> {
    if staged_from.is_empty() {
        return Ok(());
    }
    let prepare = |source| InstallError::Prepare {
        txn: txn.dir().to_path_buf(),
        source,
    };
    // (1) on this thread and, meanwhile, the walk of (2) on another: both wait on the file
    // system, one `stat` per path.
    let (linked, staged) = std::thread::scope(|scope| {
        let walk = scope.spawn(|| staged_files(&txn.staged()));
        let linked = recheck_entries(staged_from);
        let staged = walk
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (linked, staged)
    });
    let linked = linked?;
    // (2): the staged files that are not links to a checked file.
    let unlinked: Vec<PathBuf> = staged
        .map_err(|err| match err {
            Walked::NotRegular(path) => InstallError::StagedLinkUnknown { path },
            Walked::Io(source) => prepare(source),
        })?
        .into_iter()
        .filter(|(_, id)| !linked.contains(id))
        .map(|(path, _)| path)
        .collect();
    if unlinked.is_empty() {
        return Ok(());
    }
    // The staged `RECORD`s: what each of those files must be.
    let staging = layout.staging_layout(&txn.staged());
    let mut listed: HashMap<PathBuf, Listed> = HashMap::new();
    let mut own: BTreeSet<PathBuf> = BTreeSet::new();
    for wheel in staged_from {
        let dist_info = uv_install_wheel::installed_dist_info_path(&staging, wheel.entry())
            .map_err(|err| InstallError::Stage {
                wheel: wheel.filename().to_string(),
                source: Box::new(err),
            })?;
        let record = dist_info.join("RECORD");
        read_record(&record, &mut listed).map_err(prepare)?;
        own.insert(record);
        own.insert(dist_info.join(RECEIPT));
    }
    for path in unlinked {
        if own.contains(&path) {
            continue;
        }
        let verified = match listed.get(&path) {
            Some(digest) => content_matches(&path, digest).map_err(prepare)?,
            None => false,
        };
        if !verified {
            return Err(InstallError::StagedLinkUnknown { path });
        }
    }
    Ok(())
}

/// (1): every entry linked from, checked again; the device and inode of their files.
fn recheck_entries(staged_from: &[&ReadyWheel]) -> Result<BTreeSet<FileId>, InstallError> {
    let mut linked = BTreeSet::new();
    for wheel in staged_from {
        let files = wheel
            .recheck()
            .map_err(|mismatch| InstallError::EntryChangedWhileStaging {
                wheel: wheel.filename().to_string(),
                entry: wheel.entry().to_path_buf(),
                mismatch: Box::new(mismatch),
            })?;
        linked.extend(files);
    }
    Ok(linked)
}

/// Why the walk of the staged tree stopped.
enum Walked {
    /// Something that is neither a regular file nor a directory.
    NotRegular(PathBuf),
    Io(io::Error),
}

/// Every regular file below `root`, with its device and inode, looked at through its
/// directory's listing.
fn staged_files(root: &Path) -> Result<Vec<(PathBuf, FileId)>, Walked> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for child in fs_err::read_dir(&dir).map_err(Walked::Io)? {
            let child = child.map_err(Walked::Io)?;
            let metadata = child.metadata().map_err(Walked::Io)?;
            if metadata.is_dir() {
                pending.push(child.path());
            } else if metadata.is_file() {
                files.push((child.path(), identity(&metadata)));
            } else {
                return Err(Walked::NotRegular(child.path()));
            }
        }
    }
    Ok(files)
}

/// Add the rows of the staged `RECORD` at `record` to `listed`, by absolute staged path.
fn read_record(record: &Path, listed: &mut HashMap<PathBuf, Listed>) -> io::Result<()> {
    let site_packages = record
        .parent()
        .and_then(Path::parent)
        .unwrap_or(record)
        .to_path_buf();
    let bytes = fs_err::read(record)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    for row in reader.records() {
        let row = row.map_err(io::Error::other)?;
        let Some(path) = row.get(0).filter(|path| !path.is_empty()) else {
            continue;
        };
        let digest = row
            .get(1)
            .and_then(|hash| hash.split_once('='))
            .and_then(|(algorithm, encoded)| {
                let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(encoded.trim_end_matches('='))
                    .ok()?;
                Some(match algorithm {
                    "sha256" => Listed::Sha256(digest),
                    "sha384" => Listed::Sha384(digest),
                    "sha512" => Listed::Sha512(digest),
                    _ => Listed::Unverifiable,
                })
            })
            .unwrap_or(Listed::Unverifiable);
        listed.insert(normalize(&site_packages.join(path)), digest);
    }
    Ok(())
}

/// `path` with `..` and `.` resolved lexically (`RECORD` names scripts as
/// `../../../bin/demo`), as the staged tree's walk names them.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether the file at `path` has the content `listed` names.
fn content_matches(path: &Path, listed: &Listed) -> io::Result<bool> {
    fn digest<D: sha2::Digest>(path: &Path) -> io::Result<Vec<u8>> {
        let mut file = fs_err::File::open(path)?;
        let mut hasher = D::new();
        let mut buffer = vec![0; 64 << 10];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                return Ok(hasher.finalize().to_vec());
            }
            hasher.update(&buffer[..read]);
        }
    }
    Ok(match listed {
        Listed::Sha256(expected) => digest::<sha2::Sha256>(path)? == *expected,
        Listed::Sha384(expected) => digest::<sha2::Sha384>(path)? == *expected,
        Listed::Sha512(expected) => digest::<sha2::Sha512>(path)? == *expected,
        Listed::Unverifiable => false,
    })
}
