//! Core metadata of wheels: from a PEP 658 `.metadata` file, from a few HTTP range requests on the
//! wheel's zip, or from the whole wheel.

use std::io::{self, Read, Seek, SeekFrom};
use std::str::FromStr;

use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pypi_types::ResolutionMetadata;
use uv_redacted::DisplaySafeUrl;
use zip::ZipArchive;
use zip::result::ZipError;

use crate::error::IndexError;

/// The largest core metadata file we read (16 MiB); real ones are a few KiB.
pub(crate) const METADATA_LIMIT: u64 = 16 * 1024 * 1024;

/// A wheel's core metadata: the `METADATA` file as served, and the fields resolution needs.
#[derive(Debug, Clone)]
pub struct WheelMetadata {
    /// The `METADATA` file's bytes.
    pub raw: Vec<u8>,
    /// `Name`, `Version`, `Requires-Dist`, `Requires-Python` and `Provides-Extra`, parsed.
    pub resolution: ResolutionMetadata,
    /// Where the bytes came from.
    pub source: MetadataSource,
}

/// How a wheel's metadata was obtained (for `-v` output and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataSource {
    /// The PEP 658/714 `.metadata` file next to the wheel.
    MetadataFile,
    /// HTTP range requests on the wheel.
    RangeRequests,
    /// The whole wheel (the server ignored ranges, or the zip needed it).
    WholeWheel,
    /// The on-disk cache.
    Cache,
}

/// Parse `raw` and check that it describes the wheel it came from.
///
/// Security: the metadata's `Name` and `Version` must equal the wheel file name's, or a wheel named
/// `a-1.0` could bring the dependencies (and, at install time, the identity) of another project.
pub(crate) fn parse_wheel_metadata(
    raw: Vec<u8>,
    source: MetadataSource,
    url: &DisplaySafeUrl,
    filename: &WheelFilename,
) -> Result<WheelMetadata, IndexError> {
    let resolution =
        ResolutionMetadata::parse_metadata(&raw).map_err(|source| IndexError::Metadata {
            url: url.clone(),
            filename: filename.to_string(),
            source: Box::new(source),
        })?;
    if resolution.name != filename.name || resolution.version != filename.version {
        return Err(IndexError::MetadataMismatch {
            url: url.clone(),
            filename: filename.to_string(),
            name: resolution.name,
            version: resolution.version,
        });
    }
    Ok(WheelMetadata {
        raw,
        resolution,
        source,
    })
}

/// Where reading the zip stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZipStage {
    /// Finding and reading the central directory.
    Directory,
    /// Reading the `METADATA` entry's local header and data.
    Entry,
}

/// Whether `dir` (a top-level `*.dist-info` directory name) is the wheel's own: its stem is
/// `<name>-<version>` with the wheel's normalized name and version.
fn is_own_dist_info(dir: &str, name: &PackageName, version: &Version) -> bool {
    let Some(stem) = dir.strip_suffix(".dist-info") else {
        return false;
    };
    let Some((dir_name, dir_version)) = stem.rsplit_once('-') else {
        return false;
    };
    PackageName::from_str(dir_name).is_ok_and(|dir_name| dir_name == *name)
        && Version::from_str(dir_version).is_ok_and(|dir_version| dir_version == *version)
}

/// Read `<name>-<version>.dist-info/METADATA` from a wheel, through the `zip` crate.
///
/// Refuses a wheel with more than one top-level `.dist-info/METADATA` (the wheel spec allows
/// one; with two, the metadata used for resolution and the one an installer reads could differ)
/// and one whose only `.dist-info` belongs to another name or version.
pub(crate) fn read_wheel_metadata<R: Read + Seek>(
    reader: R,
    url: &DisplaySafeUrl,
    filename: &WheelFilename,
) -> Result<Vec<u8>, (ZipStage, IndexError)> {
    let zip_error = |stage, source| {
        (
            stage,
            IndexError::Zip {
                url: url.clone(),
                source,
            },
        )
    };
    let mut archive =
        ZipArchive::new(reader).map_err(|source| zip_error(ZipStage::Directory, source))?;
    let candidates: Vec<String> = archive
        .file_names()
        .filter(|path| {
            path.split_once('/')
                .is_some_and(|(dir, rest)| dir.ends_with(".dist-info") && rest == "METADATA")
        })
        .map(str::to_string)
        .collect();
    let expected = format!(
        "{}-{}.dist-info",
        filename.name.as_dist_info_name(),
        filename.version
    );
    if candidates.len() > 1 {
        return Err((
            ZipStage::Directory,
            IndexError::AmbiguousDistInfo {
                url: url.clone(),
                dirs: candidates
                    .iter()
                    .map(|path| format!("`{}`", path.trim_end_matches("/METADATA")))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        ));
    }
    let Some(path) = candidates.into_iter().find(|path| {
        path.split_once('/')
            .is_some_and(|(dir, _)| is_own_dist_info(dir, &filename.name, &filename.version))
    }) else {
        return Err((
            ZipStage::Directory,
            IndexError::MissingDistInfo {
                url: url.clone(),
                expected,
            },
        ));
    };
    let entry = archive
        .by_name(&path)
        .map_err(|source| zip_error(ZipStage::Entry, source))?;
    let mut raw = Vec::new();
    entry
        .take(METADATA_LIMIT + 1)
        .read_to_end(&mut raw)
        .map_err(|source| zip_error(ZipStage::Entry, ZipError::Io(source)))?;
    if raw.len() as u64 > METADATA_LIMIT {
        return Err((
            ZipStage::Entry,
            IndexError::TooLarge {
                url: url.clone(),
                limit: METADATA_LIMIT,
            },
        ));
    }
    Ok(raw)
}

/// A file of known length of which only some byte ranges were fetched.
///
/// The `zip` crate reads it like a file; a read of bytes not fetched fails and records where the
/// first such gap starts, so the caller can fetch it and parse again (parsing is cheap: the
/// central directory and one entry). This keeps all zip parsing in the `zip` crate rather than in
/// hand-written code facing a hostile server.
#[derive(Debug)]
pub(crate) struct SparseFile {
    len: u64,
    /// Non-overlapping `(start, bytes)`, sorted by start.
    segments: Vec<(u64, Vec<u8>)>,
    position: u64,
    gap: Option<u64>,
}

impl SparseFile {
    pub(crate) fn new(len: u64) -> Self {
        Self {
            len,
            segments: Vec::new(),
            position: 0,
            gap: None,
        }
    }

    /// Add fetched bytes at `start`. Callers fetch only gaps, so segments never overlap; a segment
    /// that would is cut to the gap.
    pub(crate) fn insert(&mut self, start: u64, mut bytes: Vec<u8>) {
        let end = self.next_start(start);
        if self.covers(start) {
            return;
        }
        bytes.truncate(usize::try_from(end - start).unwrap_or(usize::MAX));
        let index = self.segments.partition_point(|(other, _)| *other < start);
        self.segments.insert(index, (start, bytes));
    }

    fn covers(&self, offset: u64) -> bool {
        self.segments
            .iter()
            .any(|(start, bytes)| *start <= offset && offset < start + bytes.len() as u64)
    }

    /// The start of the first fetched segment after `offset`, or the file's length.
    pub(crate) fn next_start(&self, offset: u64) -> u64 {
        self.segments
            .iter()
            .map(|(start, _)| *start)
            .find(|start| *start > offset)
            .unwrap_or(self.len)
    }

    /// The first gap read since the last call, forgetting it.
    pub(crate) fn take_gap(&mut self) -> Option<u64> {
        self.position = 0;
        self.gap.take()
    }
}

impl Read for SparseFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let position = self.position;
        let Some((start, bytes)) = self
            .segments
            .iter()
            .find(|(start, bytes)| *start <= position && position < start + bytes.len() as u64)
        else {
            self.gap.get_or_insert(position);
            return Err(io::Error::other(format!("bytes at {position} not fetched")));
        };
        let offset = usize::try_from(position - start).unwrap_or(usize::MAX);
        let available = &bytes[offset..];
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.position += count as u64;
        Ok(count)
    }
}

impl Seek for SparseFile {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        let target = match position {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        self.position = target;
        Ok(target)
    }
}

/// A parsed `Content-Range: bytes <first>-<last>/<complete-length>` (RFC 9110 §14.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) total: u64,
}

pub(crate) fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let range = ContentRange {
        first: first.trim().parse().ok()?,
        last: last.trim().parse().ok()?,
        total: total.trim().parse().ok()?,
    };
    (range.first <= range.last && range.last < range.total).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn wheel(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, contents) in entries {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(contents).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn filename() -> WheelFilename {
        WheelFilename::from_str("demo_pkg-1.0-py3-none-any.whl").unwrap()
    }

    fn url() -> DisplaySafeUrl {
        DisplaySafeUrl::parse("https://index.example/demo_pkg-1.0-py3-none-any.whl").unwrap()
    }

    const METADATA: &[u8] =
        b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\nRequires-Dist: six\n";

    #[test]
    fn reads_own_dist_info() {
        let bytes = wheel(&[
            ("demo_pkg/__init__.py", b""),
            ("demo_pkg-1.0.dist-info/METADATA", METADATA),
        ]);
        let raw = read_wheel_metadata(Cursor::new(bytes), &url(), &filename()).unwrap();
        assert_eq!(raw, METADATA);
        let parsed =
            parse_wheel_metadata(raw, MetadataSource::WholeWheel, &url(), &filename()).unwrap();
        assert_eq!(parsed.resolution.requires_dist.len(), 1);
    }

    #[test]
    fn refuses_two_dist_info_dirs() {
        let bytes = wheel(&[
            ("demo_pkg-1.0.dist-info/METADATA", METADATA),
            ("evil-1.0.dist-info/METADATA", b"Name: evil\nVersion: 1.0\n"),
        ]);
        let (_, error) = read_wheel_metadata(Cursor::new(bytes), &url(), &filename()).unwrap_err();
        assert!(
            matches!(error, IndexError::AmbiguousDistInfo { .. }),
            "{error}"
        );
    }

    #[test]
    fn refuses_foreign_dist_info() {
        let bytes = wheel(&[("other-1.0.dist-info/METADATA", METADATA)]);
        let (_, error) = read_wheel_metadata(Cursor::new(bytes), &url(), &filename()).unwrap_err();
        assert!(
            matches!(error, IndexError::MissingDistInfo { .. }),
            "{error}"
        );
        let bytes = wheel(&[("demo_pkg-2.0.dist-info/METADATA", METADATA)]);
        let (_, error) = read_wheel_metadata(Cursor::new(bytes), &url(), &filename()).unwrap_err();
        assert!(
            matches!(error, IndexError::MissingDistInfo { .. }),
            "{error}"
        );
    }

    #[test]
    fn refuses_metadata_of_another_distribution() {
        let raw = b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n".to_vec();
        let error =
            parse_wheel_metadata(raw, MetadataSource::WholeWheel, &url(), &filename()).unwrap_err();
        assert!(
            matches!(error, IndexError::MetadataMismatch { .. }),
            "{error}"
        );
        let raw = b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.1\n".to_vec();
        let error =
            parse_wheel_metadata(raw, MetadataSource::WholeWheel, &url(), &filename()).unwrap_err();
        assert!(
            matches!(error, IndexError::MetadataMismatch { .. }),
            "{error}"
        );
    }

    #[test]
    fn sparse_file_reports_the_first_gap() {
        let bytes = wheel(&[("demo_pkg-1.0.dist-info/METADATA", METADATA)]);
        let len = bytes.len() as u64;
        let mut sparse = SparseFile::new(len);
        // Only the last 30 bytes: not even the whole end-of-central-directory record's context.
        let tail = len - 30;
        sparse.insert(tail, bytes[tail as usize..].to_vec());
        assert!(read_wheel_metadata(&mut sparse, &url(), &filename()).is_err());
        let gap = sparse.take_gap().unwrap();
        assert!(gap < tail);
        // Fill everything before the tail: now it parses.
        sparse.insert(0, bytes[..tail as usize].to_vec());
        let raw = read_wheel_metadata(&mut sparse, &url(), &filename()).unwrap();
        assert_eq!(raw, METADATA);
    }

    #[test]
    fn content_range_is_validated() {
        assert_eq!(
            parse_content_range("bytes 10-19/100"),
            Some(ContentRange {
                first: 10,
                last: 19,
                total: 100
            })
        );
        assert_eq!(parse_content_range("bytes 10-19/*"), None);
        assert_eq!(parse_content_range("bytes 19-10/100"), None);
        assert_eq!(parse_content_range("bytes 10-100/100"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
