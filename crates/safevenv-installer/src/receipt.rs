//! Receipts: what lets `sync` keep an installed distribution without re-hashing it.
//!
//! When safevenv installs a distribution it writes `SAFEVENV-RECEIPT` into its `.dist-info`:
//! the SHA-256 of the archive it was installed from, and an HMAC-SHA-256 tag, by this user's
//! [`SealKey`], over the `.dist-info`'s name, the archive's digest, the SHA-256 of the
//! installed `RECORD` and, for each `RECORD` row in order, the path and its kind, size, mode,
//! modification time, device and inode. `RECORD` itself is not tagged by its facts but by its
//! content; the receipt is not in `RECORD` (it could not tag itself) and goes with the
//! `.dist-info` when the distribution is removed.
//!
//! A distribution is kept by [`check`] only when its receipt is there, names the archive that
//! is wanted now, and its tag is what the key gives for the files as they are. Threat: a
//! same-version distribution installed over ours by `pip` from another wheel (its own
//! `RECORD` and files: no receipt, or a tag over other inodes), a file edited or replaced since
//! (another time or inode), a `RECORD` rewritten to hide a file (another digest), or a receipt
//! copied from another environment or written by a wheel (no key) — each would otherwise be
//! kept, and reported unchanged, by a name and version alone. Checking costs reading `RECORD`
//! and one `stat` per row: no file's content is read. A distribution without a receipt
//! (installed by another tool, or by an older safevenv) is reinstalled once. What the tag
//! cannot see is a write in place that deliberately puts the old modification time back;
//! `safevenv verify` re-hashes every file when that is the question.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::seal::{SealKey, Tagger, hex, tag_hex, tag_matches};
use crate::unpacked::tag_metadata;

/// The receipt's name in `.dist-info`.
pub(crate) const RECEIPT: &str = "SAFEVENV-RECEIPT";
/// The receipt's first line (its format's version).
const FORMAT: &str = "safevenv-receipt-v1";
/// The tagger's domain for receipts (seals use another).
const DOMAIN: &str = "safevenv installed distribution receipt v1";

/// Why an installed distribution of the wanted name and version is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unkept {
    /// No receipt: another installer put it there, or an older safevenv.
    NoReceipt,
    /// The receipt is not one this safevenv writes.
    Unreadable,
    /// It was installed from another archive than the one wanted now.
    OtherArtifact,
    /// Its `RECORD`, a file it lists, or the receipt changed since it was installed (or the
    /// receipt was not made with this user's key).
    Changed,
}

impl fmt::Display for Unkept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoReceipt => "safevenv did not install it (no receipt)",
            Self::Unreadable => "its receipt is unreadable",
            Self::OtherArtifact => "it was installed from another archive",
            Self::Changed => "its files or RECORD changed since safevenv installed it",
        })
    }
}

/// Write the receipt of the distribution at `dist_info` (below a staging tree or an
/// environment: `RECORD` paths are read relative to its parent), installed from the archive
/// whose SHA-256 is `artifact`.
pub(crate) fn write(
    key: &SealKey,
    dist_info: &Path,
    artifact: Option<&[u8; 32]>,
) -> io::Result<()> {
    let artifact = artifact.map_or_else(|| "-".to_string(), |digest| hex(digest));
    let tag = tag_hex(tagger(key, dist_info, &artifact)?);
    fs_err::write(
        dist_info.join(RECEIPT),
        format!("{FORMAT}\nartifact {artifact}\ntag {tag}\n"),
    )
}

/// Whether the distribution at `dist_info` is as safevenv installed it, from the archive whose
/// SHA-256 is `wanted` (any archive when it is not known).
pub(crate) fn check(
    key: &SealKey,
    dist_info: &Path,
    wanted: Option<&[u8; 32]>,
) -> Result<(), Unkept> {
    let (artifact, tag) = read(dist_info)?;
    if let Some(wanted) = wanted
        && artifact != hex(wanted)
    {
        return Err(Unkept::OtherArtifact);
    }
    authentic(key, dist_info, &artifact, &tag)
}

/// The SHA-256 (hex) of the archive the distribution at `dist_info` was installed from, when
/// its receipt holds under `key` (`None` when safevenv installed it from an archive of unknown
/// digest). What `freeze` prints as the distribution's hash: only a receipt that verifies says
/// which archive the files came from.
pub(crate) fn artifact(key: &SealKey, dist_info: &Path) -> Result<Option<String>, Unkept> {
    let (artifact, tag) = read(dist_info)?;
    authentic(key, dist_info, &artifact, &tag)?;
    Ok((artifact != "-").then_some(artifact))
}

fn authentic(key: &SealKey, dist_info: &Path, artifact: &str, tag: &str) -> Result<(), Unkept> {
    let tagger = tagger(key, dist_info, artifact).map_err(|_| Unkept::Changed)?;
    if !tag_matches(tagger, tag) {
        return Err(Unkept::Changed);
    }
    Ok(())
}

/// The receipt's archive digest and tag, as written.
fn read(dist_info: &Path) -> Result<(String, String), Unkept> {
    let text = match fs_err::read_to_string(dist_info.join(RECEIPT)) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(Unkept::NoReceipt),
        Err(_) => return Err(Unkept::Unreadable),
    };
    let mut lines = text.lines();
    let (Some(FORMAT), Some(artifact), Some(tag), None) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err(Unkept::Unreadable);
    };
    let (Some(artifact), Some(tag)) =
        (artifact.strip_prefix("artifact "), tag.strip_prefix("tag "))
    else {
        return Err(Unkept::Unreadable);
    };
    Ok((artifact.to_string(), tag.to_string()))
}

/// The receipt's tagger over the distribution at `dist_info` as it is now.
fn tagger(key: &SealKey, dist_info: &Path, artifact: &str) -> io::Result<Tagger> {
    let mut tagger = key.tagger(DOMAIN);
    let name = dist_info
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    tagger.update(name.as_bytes());
    tagger.update(&[0]);
    tagger.update(artifact.as_bytes());
    tagger.update(&[0]);
    let record_path = dist_info.join("RECORD");
    let record = fs_err::read(&record_path)?;
    tagger.update(&Sha256::digest(&record));
    let site_packages = dist_info.parent().unwrap_or(dist_info);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(record.as_slice());
    for row in reader.records() {
        let row = row.map_err(io::Error::other)?;
        let Some(path) = row.get(0).filter(|path| !path.is_empty()) else {
            continue;
        };
        let full: PathBuf = site_packages.join(path);
        let mut facts = Sha256::new();
        facts.update(path.as_bytes());
        facts.update([0]);
        // `RECORD` is tagged by its content above; its own facts change as it is rewritten.
        if full != record_path {
            match fs_err::symlink_metadata(&full) {
                Ok(metadata) => tag_metadata(&mut facts, &metadata),
                Err(err) if err.kind() == io::ErrorKind::NotFound => facts.update(b"missing"),
                Err(err) => return Err(err),
            }
        }
        tagger.update(&facts.finalize());
    }
    Ok(tagger)
}
