//! One cache entry: where it lives, how it is checked on a hit, and how a download is written to
//! a temporary file, hashed on the way, before it may become the entry.

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use indicatif::ProgressBar;
use safevenv_index::DownloadSink;
use sha2::Digest;
use tempfile::NamedTempFile;
use tracing::debug;

use crate::{ArtifactRequest, FetchError, Sha256};

/// Bytes buffered before a write to the temporary file, and read at once when re-hashing. Large,
/// so that a download costs few system calls.
const BUFFER: usize = 1024 * 1024;
/// Temporary files start with this; artifact file names never start with a dot.
const TEMP_PREFIX: &str = ".tmp";
/// A temporary file older than this was left by a crash: no download stalls that long (the index
/// client's read timeout ends it first), so removing it cannot hurt a live writer.
const STALE_TEMP_AGE: Duration = Duration::from_secs(60 * 60);

/// The entry of `request` in the archive bucket: `sha256/<first two hex digits>/<hex>/<filename>`.
///
/// The directory IS the pinned digest, so a present entry can only have been put there after its
/// bytes were checked against that digest (see [`EntrySink::finish`]). The file keeps its name
/// because the installer reads the wheel's tags from it. The two-digit level keeps directories
/// small.
pub(crate) fn entry_path(
    archives: &Path,
    request: &ArtifactRequest,
) -> Result<PathBuf, FetchError> {
    // The file name comes from a lockfile or an index page, both untrusted: as a path it must be
    // exactly one plain component, or `../x` or `/etc/x` would write outside the cache. A leading
    // dot is refused too, so that no artifact is ever mistaken for (and cleaned as) a temporary
    // file.
    let filename = request.filename.as_str();
    let mut components = Path::new(filename).components();
    let plain = matches!(components.next(), Some(Component::Normal(name)) if name == filename)
        && components.next().is_none()
        && !filename.starts_with('.')
        && !filename.contains(['\\', '/', '\0']);
    if !plain {
        return Err(FetchError::InvalidFilename {
            url: request.url.clone(),
            filename: request.filename.clone(),
        });
    }
    let hex = request.expected.to_string();
    Ok(archives
        .join("sha256")
        .join(&hex[..2])
        .join(&hex)
        .join(filename))
}

/// A file is given a record of its identity only if it had not changed for this long when
/// hashing began: file systems stamp changes with a clock that ticks in milliseconds, so a write
/// made in the same tick as an earlier one leaves the times as they were.
const SETTLED: Duration = Duration::from_secs(1);
/// The record beside an entry: `.hashed-<filename>`. The dot keeps it from ever being taken for
/// an artifact; it is not [`TEMP_PREFIX`], so it is never cleaned as a temporary file.
const RECORD_PREFIX: &str = ".hashed-";

/// The SHA-256 and length of the entry's file at `path`, or `None` when there is no such file.
///
/// The file is hashed unless the record beside it still describes it: the digest and size it
/// was hashed to, and the file's identity then (device, inode, size, modification and change
/// times). After a hash that finds `expected`, a record is written for the next use.
///
/// SECURITY INVARIANT: the record is trusted only while the file's change time (`ctime`) and
/// inode are the ones it names. Writing, truncating or `chmod`-ing a file, or setting its times
/// (`touch -d`), sets its change time to the present, which no unprivileged process can set
/// back; replacing or restoring the file (a CI cache, `cp -a`) gives it another inode. A record
/// is written only for a file unchanged for [`SETTLED`] before the hash began, so that a write
/// during or after the hash cannot share the change time of the bytes hashed. What it cannot
/// see: bytes changed under the file system (a failing disk, a raw device write by root).
pub(crate) fn check_file(
    path: &Path,
    expected: &Sha256,
) -> Result<Option<(Sha256, u64)>, FetchError> {
    check_file_settled(path, expected, SETTLED)
}

/// [`check_file`], with how long the file must have been unchanged to get a record.
fn check_file_settled(
    path: &Path,
    expected: &Sha256,
    settled_for: Duration,
) -> Result<Option<(Sha256, u64)>, FetchError> {
    if let Some(recorded) = recorded_hash(path).filter(|(sha256, _)| sha256 == expected) {
        return Ok(Some(recorded));
    }
    let started = std::time::SystemTime::now();
    let Some((sha256, size, metadata)) = hash_file(path)? else {
        return Ok(None);
    };
    let settled = started.checked_sub(settled_for);
    if sha256 == *expected
        && let Some(identity) = Identity::of(&metadata)
        && settled.is_some_and(|settled| identity.changed < settled)
    {
        let record = format!("{sha256} {size} {identity}\n");
        // A record that cannot be written only means hashing again next time.
        if let Err(error) = safevenv_cache::write_atomic(&record_path(path), record.as_bytes()) {
            debug!("{error}");
        }
    }
    Ok(Some((sha256, size)))
}

/// The record of the entry's file at `path`, when the file is still the one it describes.
fn recorded_hash(path: &Path) -> Option<(Sha256, u64)> {
    let record = fs_err::read_to_string(record_path(path)).ok()?;
    let metadata = fs_err::symlink_metadata(path).ok()?;
    let current = Identity::of(&metadata)?;
    let mut fields = record.trim_end().splitn(3, ' ');
    let sha256 = Sha256::from_str(fields.next()?).ok()?;
    let size: u64 = fields.next()?.parse().ok()?;
    (fields.next()? == current.to_string() && size == metadata.len()).then_some((sha256, size))
}

fn record_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{RECORD_PREFIX}{name}"))
}

/// What identifies a regular file's content to the file system (see [`check_file`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    device: u64,
    inode: u64,
    size: u64,
    modified: std::time::SystemTime,
    changed: std::time::SystemTime,
}

impl Identity {
    /// `None` for anything but a regular file, and where the change time is not kept.
    #[cfg(unix)]
    fn of(metadata: &std::fs::Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let at = |seconds: i64, nanos: i64| {
            let seconds = u64::try_from(seconds).ok()?;
            let nanos = u32::try_from(nanos).ok()?;
            std::time::UNIX_EPOCH.checked_add(Duration::new(seconds, nanos))
        };
        metadata.file_type().is_file().then_some(())?;
        Some(Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: at(metadata.mtime(), metadata.mtime_nsec())?,
            changed: at(metadata.ctime(), metadata.ctime_nsec())?,
        })
    }

    #[cfg(not(unix))]
    fn of(_metadata: &std::fs::Metadata) -> Option<Self> {
        None
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nanos = |time: std::time::SystemTime| {
            time.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos())
        };
        write!(
            f,
            "{} {} {} {} {}",
            self.device,
            self.inode,
            self.size,
            nanos(self.modified),
            nanos(self.changed)
        )
    }
}

/// The SHA-256 and length of the file at `path`, and its metadata once read, or `None` when
/// there is no such file.
fn hash_file(path: &Path) -> Result<Option<(Sha256, u64, std::fs::Metadata)>, FetchError> {
    let read_error = |source| FetchError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match fs_err::File::open(path) {
        Ok(file) => file,
        // A file where a directory of the path should be also means "no entry"; creating the
        // directory then fails with an error naming it.
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(read_error(error)),
    };
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; BUFFER];
    let mut length = 0u64;
    loop {
        let count = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(read_error(error)),
        };
        hasher.update(&buffer[..count]);
        length += count as u64;
    }
    let metadata = file.metadata().map_err(read_error)?;
    Ok(Some((Sha256::finish(hasher), length, metadata)))
}

/// Stream the local file at `path` into `sink`, as a download would be.
pub(crate) fn copy_local(path: &Path, sink: &mut EntrySink<'_>) -> Result<(), FetchError> {
    let read_error = |source| FetchError::ReadLocal {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs_err::File::open(path).map_err(read_error)?;
    let length = file.metadata().map_err(read_error)?.len();
    sink.start(Some(length))?;
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let count = match file.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(count) => count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(read_error(error)),
        };
        sink.write(&buffer[..count])?;
    }
}

/// Remove the temporary files a crashed safevenv left in `dir`. Best effort: a file we cannot
/// remove is only wasted space, and is never read as an entry.
pub(crate) fn clean_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
            && entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > STALE_TEMP_AGE));
        if stale {
            match fs_err::remove_file(entry.path()) {
                Ok(()) => debug!(
                    "removed the stale temporary file `{}`",
                    entry.path().display()
                ),
                Err(error) => debug!("{error}"),
            }
        }
    }
}

/// A download on its way into the cache: a temporary file in the entry's own directory (the same
/// file system, so the final rename is atomic), and the SHA-256 of every byte written to it.
pub(crate) struct EntrySink<'a> {
    request: &'a ArtifactRequest,
    entry: &'a Path,
    max_size: u64,
    file: BufWriter<NamedTempFile>,
    hasher: sha2::Sha256,
    received: u64,
    bar: &'a ProgressBar,
}

impl<'a> EntrySink<'a> {
    /// A new temporary file next to `entry`, whose directory must exist.
    pub(crate) fn new(
        request: &'a ArtifactRequest,
        entry: &'a Path,
        max_size: u64,
        bar: &'a ProgressBar,
    ) -> Result<Self, FetchError> {
        let dir = entry.parent().unwrap_or(entry);
        // Dropped on any error or cancellation, the temporary file is deleted with it.
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(|source| FetchError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(Self {
            request,
            entry,
            max_size,
            file: BufWriter::with_capacity(BUFFER, temp),
            hasher: sha2::Sha256::new(),
            received: 0,
            bar,
        })
    }

    fn write_error(&self, source: std::io::Error) -> FetchError {
        FetchError::Write {
            path: self.entry.to_path_buf(),
            source,
        }
    }

    fn size_mismatch(&self, expected: u64, actual: u64) -> FetchError {
        FetchError::SizeMismatch {
            url: self.request.url.clone(),
            filename: self.request.filename.clone(),
            expected,
            actual,
        }
    }

    fn too_large(&self) -> FetchError {
        FetchError::TooLarge {
            url: self.request.url.clone(),
            filename: self.request.filename.clone(),
            limit: self.max_size,
        }
    }

    /// Flush and hand back the temporary file, the digest of everything written to it and its
    /// length. The caller compares the digest with the pinned one before the file may become the
    /// entry.
    pub(crate) fn finish(self) -> Result<(NamedTempFile, Sha256, u64), FetchError> {
        if let Some(expected) = self.request.size
            && self.received != expected
        {
            return Err(self.size_mismatch(expected, self.received));
        }
        let Self {
            file,
            hasher,
            received,
            entry,
            ..
        } = self;
        let temp = file.into_inner().map_err(|error| FetchError::Write {
            path: entry.to_path_buf(),
            source: error.into_error(),
        })?;
        Ok((temp, Sha256::finish(hasher), received))
    }
}

impl DownloadSink for EntrySink<'_> {
    type Error = FetchError;

    fn start(&mut self, length: Option<u64>) -> Result<(), FetchError> {
        // A retry starts over: forget the bytes and the hash of the broken try, so that the hash
        // always covers exactly the bytes in the file.
        if self.received > 0 {
            self.file
                .seek(SeekFrom::Start(0))
                .and_then(|_| self.file.get_ref().as_file().set_len(0))
                .map_err(|error| self.write_error(error))?;
            self.hasher = sha2::Sha256::new();
            self.received = 0;
            self.bar.set_position(0);
        }
        if let Some(length) = length {
            // Refuse before writing a byte when the server announces another size than the
            // index advertised, or more than we ever store.
            if let Some(expected) = self.request.size
                && length != expected
            {
                return Err(self.size_mismatch(expected, length));
            }
            if length > self.max_size {
                return Err(self.too_large());
            }
            self.bar.set_length(length);
        }
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        let received = self.received + chunk.len() as u64;
        // A server that sends more than advertised (or without end) is cut off at once rather
        // than filling the disk.
        if let Some(expected) = self.request.size
            && received > expected
        {
            return Err(self.size_mismatch(expected, received));
        }
        if received > self.max_size {
            return Err(self.too_large());
        }
        // Every byte that reaches the file is hashed on the way: the digest checked before the
        // rename is the digest of the file's whole content. Writes go to the page cache through
        // a 1 MiB buffer and take microseconds; an async file would add a thread hop per chunk.
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .map_err(|error| self.write_error(error))?;
        self.received = received;
        self.bar.inc(chunk.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use safevenv_index::DisplaySafeUrl;
    use uv_normalize::PackageName;
    use uv_pep440::Version;

    use super::*;

    fn request(filename: &str) -> ArtifactRequest {
        ArtifactRequest {
            name: PackageName::from_str("demo").unwrap(),
            version: Version::from_str("1.0").unwrap(),
            filename: filename.to_string(),
            url: DisplaySafeUrl::parse("http://index.example/files/demo-1.0-py3-none-any.whl")
                .unwrap(),
            expected: Sha256::from_hex(&"ab".repeat(32)).unwrap(),
            size: None,
        }
    }

    #[test]
    fn entry_path_is_the_digest_then_the_file_name() {
        let path = entry_path(Path::new("/cache/archives-v1"), &request("demo-1.0.whl")).unwrap();
        let hex = "ab".repeat(32);
        assert_eq!(
            path,
            Path::new("/cache/archives-v1/sha256/ab")
                .join(&hex)
                .join("demo-1.0.whl")
        );
    }

    #[test]
    fn entry_path_refuses_names_that_are_not_one_plain_component() {
        for name in [
            "",
            ".",
            "..",
            "../evil.whl",
            "/etc/evil.whl",
            "dir/evil.whl",
            "dir\\evil.whl",
            ".tmp-looks-like-a-temp-file",
            "nul\0.whl",
        ] {
            let error = entry_path(Path::new("/cache"), &request(name)).unwrap_err();
            assert!(
                matches!(error, FetchError::InvalidFilename { ref filename, .. } if filename == name),
                "{name:?}: {error:?}"
            );
        }
    }

    #[test]
    fn stale_temporary_files_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".tmpSTALE");
        let fresh = dir.path().join(".tmpFRESH");
        let artifact = dir.path().join("demo-1.0.whl");
        for path in [&stale, &fresh, &artifact] {
            fs_err::write(path, b"x").unwrap();
        }
        let old = std::time::SystemTime::now() - 2 * STALE_TEMP_AGE;
        fs_err::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        fs_err::File::options()
            .write(true)
            .open(&artifact)
            .unwrap()
            .set_modified(old)
            .unwrap();
        clean_stale_temp_files(dir.path());
        assert!(!stale.exists());
        assert!(fresh.exists(), "a live writer's file is kept");
        assert!(artifact.exists(), "entries are never cleaned");
    }

    #[test]
    fn hash_file_reports_a_missing_file_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(hash_file(&dir.path().join("missing")).unwrap().is_none());
        let path = dir.path().join("present");
        fs_err::write(&path, b"abc").unwrap();
        let (digest, length, _) = hash_file(&path).unwrap().unwrap();
        assert_eq!(length, 3);
        assert_eq!(
            digest.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// A file of `content` at `dir/demo.whl`, left to settle for a moment.
    fn settled_file(dir: &Path, content: &[u8]) -> (PathBuf, Sha256) {
        let path = dir.join("demo.whl");
        fs_err::write(&path, content).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        (path, Sha256::finish(sha2::Sha256::new_with_prefix(content)))
    }

    const SETTLED_IN_TESTS: Duration = Duration::from_millis(50);

    #[test]
    fn a_settled_file_that_hashes_as_expected_gets_a_record_that_is_then_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let (path, digest) = settled_file(dir.path(), b"wheel bytes");
        assert!(recorded_hash(&path).is_none());
        let checked = check_file_settled(&path, &digest, SETTLED_IN_TESTS).unwrap();
        assert_eq!(checked, Some((digest, 11)));
        assert_eq!(recorded_hash(&path), Some((digest, 11)));
        assert_eq!(
            check_file_settled(&path, &digest, SETTLED_IN_TESTS).unwrap(),
            Some((digest, 11))
        );
    }

    #[test]
    fn a_file_changed_in_the_last_moments_gets_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let (path, digest) = settled_file(dir.path(), b"wheel bytes");
        check_file_settled(&path, &digest, Duration::from_secs(60)).unwrap();
        assert!(recorded_hash(&path).is_none());
        assert!(!record_path(&path).exists());
    }

    #[test]
    fn a_file_of_another_digest_gets_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = settled_file(dir.path(), b"wheel bytes");
        let other = Sha256::finish(sha2::Sha256::new_with_prefix(b"other bytes"));
        check_file_settled(&path, &other, SETTLED_IN_TESTS).unwrap();
        assert!(!record_path(&path).exists());
    }

    /// A record made for `content`, then `change` applied to the file: the record must no
    /// longer be trusted, and checking hashes the file again.
    fn assert_change_is_seen(change: impl FnOnce(&Path)) {
        let dir = tempfile::tempdir().unwrap();
        let (path, digest) = settled_file(dir.path(), b"wheel bytes");
        check_file_settled(&path, &digest, SETTLED_IN_TESTS).unwrap();
        assert!(recorded_hash(&path).is_some());
        change(&path);
        assert_eq!(recorded_hash(&path), None);
        let (actual, _) = check_file_settled(&path, &digest, SETTLED_IN_TESTS)
            .unwrap()
            .unwrap();
        assert_ne!(actual, digest, "the changed bytes were hashed");
    }

    #[test]
    fn a_file_written_in_place_after_its_record_is_hashed_again() {
        assert_change_is_seen(|path| fs_err::write(path, b"other bytes").unwrap());
    }

    #[test]
    fn a_file_written_with_its_times_put_back_is_hashed_again() {
        assert_change_is_seen(|path| {
            let before = fs_err::metadata(path).unwrap();
            fs_err::write(path, b"other bytes").unwrap();
            let file = fs_err::File::options().write(true).open(path).unwrap();
            file.set_times(
                std::fs::FileTimes::new()
                    .set_modified(before.modified().unwrap())
                    .set_accessed(before.accessed().unwrap()),
            )
            .unwrap();
            assert_eq!(
                fs_err::metadata(path).unwrap().modified().unwrap(),
                before.modified().unwrap()
            );
        });
    }

    #[test]
    fn a_file_replaced_by_a_copy_is_hashed_again() {
        assert_change_is_seen(|path| {
            let copy = path.with_file_name("copy");
            fs_err::write(&copy, b"other bytes").unwrap();
            fs_err::rename(&copy, path).unwrap();
        });
    }

    #[test]
    fn a_record_naming_another_digest_is_not_used_for_this_one() {
        let dir = tempfile::tempdir().unwrap();
        let (path, digest) = settled_file(dir.path(), b"wheel bytes");
        check_file_settled(&path, &digest, SETTLED_IN_TESTS).unwrap();
        let other = Sha256::finish(sha2::Sha256::new_with_prefix(b"other bytes"));
        let record = fs_err::read_to_string(record_path(&path)).unwrap();
        fs_err::write(
            record_path(&path),
            record.replace(&digest.to_string(), &other.to_string()),
        )
        .unwrap();
        assert_eq!(recorded_hash(&path), Some((other, 11)));
        assert_eq!(
            check_file_settled(&path, &digest, SETTLED_IN_TESTS).unwrap(),
            Some((digest, 11)),
        );
        assert_eq!(
            recorded_hash(&path),
            Some((digest, 11)),
            "hashed and recorded anew"
        );
    }
}
