//! Open, validate and unpack wheel archives safely.
//!
//! Two steps, each a type only this crate constructs:
//! - [`Wheel::inspect`] reads the archive's directories and its small text files and returns an
//!   [`InspectedWheel`]: "this archive is structurally sound and its RECORD vouches for every
//!   file". It carries the facts the installer and the policy gate need ([`WheelInfo`]: files
//!   and where they go, importable names, `.pth` files, entry points, METADATA).
//! - [`InspectedWheel::verify`] (or [`InspectedWheel::unpack_verified`], which also writes the
//!   files, inflating each once) checks every file's content and returns a [`VerifiedWheel`]:
//!   "… and every file matches its RECORD row". [`Wheel::open`] does both.
//!
//! [`VerifiedWheel::unpack_into`] extracts a verified wheel into an empty staging directory.
//! This crate does not install and does not decide policy: its refusals are the structural
//! ones that are always errors.
//!
//! [`verify_archive`] runs the zip-level checks alone (1–4), for archives that are not wheels.

mod block;
mod dist_info;
mod entry_points;
mod error;
mod inflate;
mod layout;
mod names;
mod pth;
mod record;
mod unpack;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use uv_distribution_filename::WheelFilename;
use zip::ZipArchive;

pub use block::{BlockReader, SharedFile};
pub use entry_points::{EntryPoint, EntryPoints};
pub use error::WheelError;
pub use pth::{PthFile, PthLine, PthLineKind};
pub use unpack::UnpackedWheel;

use unpack::Unpacker;

use inflate::{Algorithm, Pass, Streamed};
use layout::{Entry, Layout};

/// How [`Wheel::open`] and [`Wheel::inspect`] read a wheel file: buffered, and cloneable for
/// unpacking its entries in parallel.
pub type WheelReader = BlockReader<SharedFile>;

/// Bounds on what an archive may make us read and inflate (check 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most entries an archive may declare.
    pub max_entries: u64,
    /// Largest central directory an archive may declare, in bytes (it is read into memory
    /// whole, so this bounds that allocation).
    pub max_central_directory: u64,
    /// Most bytes all entries together may inflate to.
    pub max_total_uncompressed: u64,
    /// Most an entry may inflate per compressed byte, once it is past `ratio_threshold`.
    pub max_ratio: u64,
    /// Inflated size of one entry below which the ratio is not checked (small files of
    /// repeated text compress very well and are harmless).
    pub ratio_threshold: u64,
    /// Largest text file read into memory (METADATA, RECORD, WHEEL, `entry_points.txt`, `.pth`).
    pub max_text_file: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            // 100,000 entries with 300-byte names and a little extra data stay well below this.
            max_central_directory: 64 << 20,
            max_total_uncompressed: 4 << 30,
            // Deflate cannot exceed ~1032:1; 250:1 on multi-megabyte files is already a run of
            // nearly identical bytes, which no real package ships at that size.
            max_ratio: 250,
            ratio_threshold: 16 << 20,
            max_text_file: 64 << 20,
        }
    }
}

/// What the zip-level checks established about an archive that is not necessarily a wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Entries, directories included.
    pub entries: usize,
    /// Sum of compressed sizes.
    pub compressed_size: u64,
    /// Bytes inflated.
    pub uncompressed_size: u64,
}

/// Runs checks (1)–(4) of [`Wheel::open`] on any zip archive, inflating every entry.
/// `name` is used in errors.
pub fn verify_archive<R: Read + Seek>(
    mut reader: R,
    name: &str,
    limits: &Limits,
) -> Result<ArchiveSummary, WheelError> {
    let (layout, mut archive) = open_zip(&mut reader, name, limits)?;
    let mut pass = Pass::new(name, limits);
    for (index, entry) in layout.entries.iter().enumerate() {
        pass.stream(&mut archive, index, entry, Algorithm::Sha256, &mut |_| {
            Ok(())
        })?;
    }
    Ok(ArchiveSummary {
        entries: layout.entries.len(),
        compressed_size: layout.compressed_total,
        uncompressed_size: pass.total,
    })
}

/// (1): our layout check; (2) and (3) on its entries; then the `zip` crate's reading, which
/// must agree with ours.
fn open_zip<R: Read + Seek>(
    reader: R,
    name: &str,
    limits: &Limits,
) -> Result<(Layout, ZipArchive<R>), WheelError> {
    let mut reader = reader;
    let layout = layout::read_layout(&mut reader, name, limits)?;
    // (2), (3): before the zip crate reads names, which it would silently de-duplicate.
    check_entries(&layout.entries, name)?;
    let archive = ZipArchive::new(reader).map_err(|source| WheelError::Zip {
        wheel: name.to_string(),
        source,
    })?;
    let disagreement = |field| WheelError::ParserDisagreement {
        wheel: name.to_string(),
        index: archive.len(),
        field,
    };
    // The zip crate keys entries by name: a smaller count means it dropped a duplicate.
    if archive.len() != layout.entries.len() {
        return Err(disagreement("entry count"));
    }
    if archive.central_directory_start() != layout.central_directory_start || archive.offset() != 0
    {
        return Err(disagreement("central directory offset"));
    }
    Ok((layout, archive))
}

/// (2) and (3) over every entry, then the whole-archive name collisions.
fn check_entries(entries: &[Entry], wheel: &str) -> Result<(), WheelError> {
    for entry in entries {
        names::check_name(&entry.name, wheel)?;
        names::check_type(entry, wheel)?;
    }
    names::check_collisions(entries, wheel)
}

/// Where a file of the wheel is installed (binary distribution format, "Installing").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// The wheel's root: purelib or platlib, as [`VerifiedWheel::root_is_purelib`] says.
    Root,
    /// The `.dist-info` directory (installed beside the root).
    DistInfo,
    /// A subdirectory of `{name}-{version}.data/`.
    Data(DataCategory),
}

/// The install schemes a `.data` subdirectory maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataCategory {
    /// `scripts`: the environment's `bin` (or `Scripts`).
    Scripts,
    /// `headers`: C headers.
    Headers,
    /// `data`: the environment's prefix.
    Data,
    /// `purelib`: site-packages for pure Python.
    Purelib,
    /// `platlib`: site-packages for platform-specific code.
    Platlib,
}

impl DataCategory {
    fn from_dir(name: &str) -> Option<Self> {
        match name {
            "scripts" => Some(Self::Scripts),
            "headers" => Some(Self::Headers),
            "data" => Some(Self::Data),
            "purelib" => Some(Self::Purelib),
            "platlib" => Some(Self::Platlib),
            _ => None,
        }
    }
}

/// One regular file of a wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFile {
    /// Its path in the archive (and in the staging directory).
    pub path: String,
    /// Where it is installed.
    pub category: Category,
    /// Its path relative to its category's directory (for `.data` files, without the
    /// `{name}-{version}.data/{category}/` prefix).
    pub install_path: String,
    /// Inflated size in bytes (checked against the data when the content is verified).
    pub size: u64,
    /// Whether the archive marks it executable (any unix `x` bit).
    pub executable: bool,
    index: usize,
}

/// Namespace for opening wheels.
#[derive(Debug)]
pub struct Wheel;

impl Wheel {
    /// Opens the wheel at `path` with default [`Limits`] and verifies all of it; see
    /// [`Wheel::from_reader`] for the checks. The file handle is kept for
    /// [`VerifiedWheel::unpack_into`].
    pub fn open(
        path: &Path,
        filename: &WheelFilename,
    ) -> Result<VerifiedWheel<WheelReader>, WheelError> {
        Self::open_with_limits(path, filename, &Limits::default())
    }

    /// [`Wheel::open`] with explicit limits.
    pub fn open_with_limits(
        path: &Path,
        filename: &WheelFilename,
        limits: &Limits,
    ) -> Result<VerifiedWheel<WheelReader>, WheelError> {
        Self::inspect_with_limits(path, filename, limits)?.verify()
    }

    /// Opens the wheel at `path` with default [`Limits`] and runs every check that needs no
    /// more than the archive's directories and its small text files; see
    /// [`Wheel::inspect_reader`]. The file handle is kept for the content checks.
    pub fn inspect(
        path: &Path,
        filename: &WheelFilename,
    ) -> Result<InspectedWheel<WheelReader>, WheelError> {
        Self::inspect_with_limits(path, filename, &Limits::default())
    }

    /// [`Wheel::inspect`] with explicit limits.
    pub fn inspect_with_limits(
        path: &Path,
        filename: &WheelFilename,
        limits: &Limits,
    ) -> Result<InspectedWheel<WheelReader>, WheelError> {
        let name = path.display().to_string();
        let file = fs_err::File::open(path).map_err(|source| WheelError::Io {
            wheel: name.clone(),
            source,
        })?;
        Self::inspect_reader(
            BlockReader::new(SharedFile::new(file)),
            &name,
            filename,
            limits,
        )
    }

    /// Reads the archive, streaming each entry through CRC-32, SHA-256 and a size counter, and
    /// returns the proof that it passed every check: [`Wheel::inspect_reader`], then
    /// [`InspectedWheel::verify`]. `name` is used in errors.
    ///
    /// Checks (each marked `// (n):` where it is enforced):
    /// 1. a real zip: an unambiguous end record (no zip-in-zip), no prefix, gap or trailing
    ///    bytes, local headers and data descriptors equal to the central directory, no
    ///    overlapping entries, no encryption, only stored or deflate, CRC-32 and sizes equal
    ///    to the inflated data, and the `zip` crate's reading equal to ours. Stops parser
    ///    differentials: two tools seeing two different wheels in the same bytes.
    /// 2. entry names: UTF-8 (flagged when non-ASCII), not empty, not absolute, no `..`, `.`
    ///    or empty components, no backslash or `:`, no control characters, no duplicates, no
    ///    file that is also a directory, no two paths equal but for case, no component over
    ///    255 bytes nor name over 1024. Stops writes outside the target, files that overwrite
    ///    each other on some systems, and names no file system can create.
    /// 3. entry types: no symlinks, devices, FIFOs or sockets (unix mode bits), no directory
    ///    entry with data. Stops writes through links and hangs on special files.
    /// 4. bomb limits ([`Limits`]), enforced on inflated bytes as they are produced: entry
    ///    count, total size, per-entry ratio, text files read into memory. Stops exhausting
    ///    the disk or memory.
    /// 5. exactly one top-level `.dist-info` directory, at most one `.data` directory, both
    ///    named for the file name's distribution and version; `.data` files only in the five
    ///    known categories. Stops a wheel that installs another distribution's metadata.
    /// 6. `WHEEL`: `Wheel-Version` major 1 and a valid `Root-Is-Purelib`. Stops installing a
    ///    format whose rules we do not know.
    /// 7. `METADATA`: `Name` and `Version` equal the file name's (normalized). Stops a wheel
    ///    that is not the distribution the lockfile names.
    /// 8. `RECORD`: every file listed exactly once (except RECORD and its signatures), every
    ///    listed file present, safe paths, sha256/sha384/sha512 in urlsafe base64 without
    ///    padding, each digest and size equal to the inflated content. Stops content that no
    ///    hash vouches for (PEP 427: installers "MUST verify the hashes in RECORD").
    pub fn from_reader<R: Read + Seek>(
        reader: R,
        name: &str,
        filename: &WheelFilename,
        limits: &Limits,
    ) -> Result<VerifiedWheel<R>, WheelError> {
        Self::inspect_reader(reader, name, filename, limits)?.verify()
    }

    /// Every check of [`Wheel::from_reader`] but the content of most files: (1) without the
    /// CRC-32 and sizes of the entries not yet inflated, (2), (3), (5), (6), (7), and (8) for
    /// RECORD's rows. Inflated now, under (4) and checked against their RECORD rows: RECORD,
    /// `WHEEL`, `METADATA`, `entry_points.txt`, the `.pth` files at the top of site-packages
    /// and RECORD's signatures. The other files' content is checked by
    /// [`InspectedWheel::verify`] or [`InspectedWheel::unpack_verified`]; until then the
    /// result is facts to judge, never something to install.
    pub fn inspect_reader<R: Read + Seek>(
        reader: R,
        name: &str,
        filename: &WheelFilename,
        limits: &Limits,
    ) -> Result<InspectedWheel<R>, WheelError> {
        let wheel = name;
        // (1): structure, and the zip crate's agreement with it.
        // (2), (3): names and types, checked inside `open_zip`.
        let (layout, mut archive) = open_zip(reader, wheel, limits)?;
        // (4): the declared sizes are a cheap first bound; the real one is enforced while
        // inflating, because headers can lie (and are then caught by (1)).
        let declared: u64 = layout
            .entries
            .iter()
            .map(|e| e.size)
            .fold(0, u64::saturating_add);
        if declared > limits.max_total_uncompressed {
            return Err(WheelError::TooLarge {
                wheel: wheel.to_string(),
                entry: "<all entries>".to_string(),
                limit: limits.max_total_uncompressed,
            });
        }

        // (5): the .dist-info and .data directories.
        let dirs = Directories::find(&layout.entries, filename, wheel)?;
        let mut files = Vec::new();
        for (index, entry) in layout.entries.iter().enumerate() {
            if entry.is_dir() {
                continue;
            }
            let (category, install_path) = dirs.categorize(&entry.name, wheel)?;
            files.push(WheelFile {
                path: entry.name.clone(),
                category,
                install_path,
                size: entry.size,
                executable: entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0),
                index,
            });
        }
        let file_index: HashMap<String, usize> = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.clone(), i))
            .collect();
        let required = |file: &str| {
            let path = format!("{}/{file}", dirs.dist_info);
            match file_index.get(path.as_str()) {
                Some(&i) => Ok(i),
                None => Err(WheelError::MissingDistInfoFile {
                    wheel: wheel.to_string(),
                    file: path,
                }),
            }
        };
        let record_file = required("RECORD")?;
        let wheel_file = required("WHEEL")?;
        let metadata_file = required("METADATA")?;
        let entry_points_file = file_index
            .get(format!("{}/entry_points.txt", dirs.dist_info).as_str())
            .copied();
        let signatures = [
            format!("{}/RECORD", dirs.dist_info),
            format!("{}/RECORD.jws", dirs.dist_info),
            format!("{}/RECORD.p7s", dirs.dist_info),
        ];

        let mut pass = Pass::new(wheel, limits);
        let mut inflated: Vec<Option<[u8; 32]>> = vec![None; files.len()];
        // (8): RECORD first: it says how every other file is checked.
        let (streamed, record_text) = inflate_file(
            &mut pass,
            &mut archive,
            &layout.entries,
            &files[record_file],
            Algorithm::Sha256,
            true,
        )?;
        inflated[record_file] = Some(streamed.sha256);
        let record_text = utf8_text(&record_text.unwrap_or_default(), wheel, &files[record_file])?;
        let rows = record::parse(&record_text, wheel)?;
        let directories: HashSet<&str> = layout
            .entries
            .iter()
            .filter(|entry| entry.is_dir())
            .map(|entry| entry.name.trim_end_matches('/'))
            .collect();
        let implicit_directories: HashSet<&str> = files
            .iter()
            .flat_map(|file| file.path.match_indices('/').map(|(at, _)| &file.path[..at]))
            .collect();
        let mut listed: HashMap<String, Listed> = HashMap::new();
        for row in rows {
            names::check_name(&row.path, wheel).map_err(|rule| WheelError::UnsafeRecordPath {
                wheel: wheel.to_string(),
                path: row.path.clone(),
                rule: Box::new(rule),
            })?;
            // The spec lets RECORD list directories; they carry no content to verify. A row
            // marked as a directory must name one of the archive's: uninstalling deletes what
            // RECORD lists, and `victim/__init__.py/` would otherwise make another
            // distribution's file "ours" (readers disagree on the trailing `/`).
            let trimmed = row.path.trim_end_matches('/');
            if directories.contains(trimmed) || implicit_directories.contains(trimmed) {
                continue;
            }
            if row.path.ends_with('/') {
                return Err(WheelError::MissingFromArchive {
                    wheel: wheel.to_string(),
                    entry: row.path,
                });
            }
            if listed.contains_key(&row.path) {
                return Err(WheelError::RecordDuplicate {
                    wheel: wheel.to_string(),
                    entry: row.path,
                });
            }
            if !file_index.contains_key(row.path.as_str()) {
                return Err(WheelError::MissingFromArchive {
                    wheel: wheel.to_string(),
                    entry: row.path,
                });
            }
            let is_record = row.path == signatures[0];
            let hash = if row.hash.is_empty() {
                if !signatures.contains(&row.path) {
                    return Err(WheelError::MissingHash {
                        wheel: wheel.to_string(),
                        entry: row.path,
                    });
                }
                None
            } else if is_record {
                // RECORD cannot contain its own hash; whatever is written there is ignored.
                None
            } else {
                Some(record::parse_hash(&row.hash, &row.path, wheel)?)
            };
            let size = if row.size.is_empty() || is_record {
                None
            } else {
                Some(
                    row.size
                        .parse::<u64>()
                        .map_err(|_| WheelError::InvalidRecordSize {
                            wheel: wheel.to_string(),
                            entry: row.path.clone(),
                            value: row.size.clone(),
                        })?,
                )
            };
            listed.insert(row.path, Listed { hash, size });
        }
        // (8): content no RECORD row vouches for is refused before anything more is inflated.
        for (i, file) in files.iter().enumerate() {
            if i != record_file
                && !listed.contains_key(&file.path)
                && !signatures.contains(&file.path)
            {
                return Err(WheelError::NotInRecord {
                    wheel: wheel.to_string(),
                    entry: file.path.clone(),
                });
            }
        }

        // The files read into memory, and RECORD's signatures, which no row vouches for: their
        // digests stand in for RECORD's when the content is checked later.
        let mut captured: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        for i in 0..files.len() {
            let capture = i == wheel_file
                || i == metadata_file
                || Some(i) == entry_points_file
                || may_be_processed_pth(&files[i]);
            if i == record_file || !(capture || signatures.contains(&files[i].path)) {
                continue;
            }
            let expected = listed.get(&files[i].path);
            let (streamed, content) = inflate_file(
                &mut pass,
                &mut archive,
                &layout.entries,
                &files[i],
                Listed::algorithm(expected),
                capture,
            )?;
            if let Some(expected) = expected {
                expected.check(&streamed, wheel, &files[i].path)?;
            }
            inflated[i] = Some(streamed.sha256);
            if let Some(content) = content {
                captured.insert(i, content);
            }
        }

        let bytes = |i: usize| captured.get(&i).map_or(&[][..], Vec::as_slice);
        // The dist-info files must be UTF-8.
        let text = |i: usize| utf8_text(bytes(i), wheel, &files[i]);
        // (6): WHEEL.
        let fields = dist_info::parse_wheel(&text(wheel_file)?, wheel)?;
        // (7): METADATA.
        let metadata = text(metadata_file)?;
        dist_info::check_metadata(&metadata, filename, wheel)?;
        let entry_points = match entry_points_file {
            Some(i) => entry_points::parse_entry_points(&text(i)?, wheel)?,
            None => EntryPoints::default(),
        };
        let pth_files = files
            .iter()
            .enumerate()
            .filter(|(_, file)| may_be_processed_pth(file))
            // Classified from their bytes: Python may read them in the locale encoding, so one
            // that is not UTF-8 is judged, not refused unread.
            .map(|(i, file)| PthFile::parse(&file.path, bytes(i)))
            .collect();
        let claims = files
            .iter()
            .zip(inflated)
            .map(|(file, inflated)| match inflated {
                Some(sha256) => Claim::Inflated { sha256 },
                // Every file not inflated has a row (checked above); `default` is unreachable.
                None => Claim::Record(listed.remove(&file.path).unwrap_or_default()),
            })
            .collect();
        let directories = layout
            .entries
            .iter()
            .filter(|entry| entry.is_dir())
            .map(|entry| entry.name.trim_end_matches('/').to_string())
            .collect();

        Ok(InspectedWheel {
            info: WheelInfo {
                name: wheel.to_string(),
                filename: filename.clone(),
                dist_info: dirs.dist_info,
                data_dir: dirs.data_dir,
                wheel_version: fields.version,
                root_is_purelib: fields.root_is_purelib,
                files,
                directory_entries: directories,
                metadata,
                entry_points,
                pth_files,
                compressed_size: layout.compressed_total,
                uncompressed_size: declared,
            },
            archive,
            entries: layout.entries,
            claims,
            limits: limits.clone(),
        })
    }
}

/// Inflates `file` (under the pass's limits), keeping its bytes when `capture` is set.
fn inflate_file<R: Read + Seek>(
    pass: &mut Pass<'_>,
    archive: &mut ZipArchive<R>,
    entries: &[Entry],
    file: &WheelFile,
    algorithm: Algorithm,
    capture: bool,
) -> Result<(Streamed, Option<Vec<u8>>), WheelError> {
    let wheel = pass.wheel;
    let limits = pass.limits;
    let entry = &entries[file.index];
    if capture && entry.size > limits.max_text_file {
        return Err(WheelError::TextFileTooLarge {
            wheel: wheel.to_string(),
            entry: entry.name.clone(),
            size: entry.size,
            limit: limits.max_text_file,
        });
    }
    let mut text = Vec::new();
    let streamed = pass.stream(archive, file.index, entry, algorithm, &mut |chunk| {
        if capture {
            text.extend_from_slice(chunk);
        }
        Ok(())
    })?;
    Ok((streamed, capture.then_some(text)))
}

/// The content of a dist-info text file, which must be UTF-8.
fn utf8_text(content: &[u8], wheel: &str, file: &WheelFile) -> Result<String, WheelError> {
    std::str::from_utf8(content)
        .map(str::to_string)
        .map_err(|_| WheelError::NotUtf8 {
            wheel: wheel.to_string(),
            entry: file.path.clone(),
        })
}

/// What RECORD promises about one file.
#[derive(Debug, Default)]
struct Listed {
    hash: Option<(Algorithm, Vec<u8>)>,
    size: Option<u64>,
}

impl Listed {
    /// The algorithm a file is hashed with besides SHA-256: the one its row names.
    fn algorithm(listed: Option<&Self>) -> Algorithm {
        listed
            .and_then(|listed| listed.hash.as_ref().map(|(algorithm, _)| *algorithm))
            .unwrap_or(Algorithm::Sha256)
    }

    /// (8): the inflated content has the row's digest and size.
    fn check(&self, streamed: &Streamed, wheel: &str, path: &str) -> Result<(), WheelError> {
        if let Some((algorithm, digest)) = &self.hash {
            let actual: &[u8] = match &streamed.other_digest {
                Some(other) => other,
                None => &streamed.sha256,
            };
            if actual != digest.as_slice() {
                return Err(WheelError::RecordHashMismatch {
                    wheel: wheel.to_string(),
                    entry: path.to_string(),
                    expected: record::format_hash(*algorithm, digest),
                    actual: record::format_hash(*algorithm, actual),
                });
            }
        }
        if let Some(expected) = self.size
            && expected != streamed.size
        {
            return Err(WheelError::RecordSizeMismatch {
                wheel: wheel.to_string(),
                entry: path.to_string(),
                expected,
                actual: streamed.size,
            });
        }
        Ok(())
    }
}

/// What a file's content is checked against once it is inflated.
#[derive(Debug)]
enum Claim {
    /// Inflated while inspecting: the content must be those bytes again.
    Inflated { sha256: [u8; 32] },
    /// Its RECORD row.
    Record(Listed),
}

impl Claim {
    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Inflated { .. } => Algorithm::Sha256,
            Self::Record(listed) => Listed::algorithm(Some(listed)),
        }
    }

    fn check(&self, streamed: &Streamed, wheel: &str, path: &str) -> Result<(), WheelError> {
        match self {
            Self::Inflated { sha256 } if *sha256 != streamed.sha256 => {
                Err(WheelError::ChangedSinceVerification {
                    wheel: wheel.to_string(),
                    entry: path.to_string(),
                    expected: hex(sha256),
                    actual: hex(&streamed.sha256),
                })
            }
            Self::Inflated { .. } => Ok(()),
            Self::Record(listed) => listed.check(streamed, wheel, path),
        }
    }
}

/// Whether `file` may be a `.pth` file that `site.py` processes, wherever in the wheel it is:
/// which ones are depends on where they land (`.data/data/lib/pythonX.Y/site-packages/x.pth`
/// is one), which the installer's destination model decides. So the text of every file named
/// `*.pth` (without case) is read, within the text-file limit, for the gate to judge.
fn may_be_processed_pth(file: &WheelFile) -> bool {
    file.category != Category::DistInfo
        && file.path.rsplit('/').next().is_some_and(|name| {
            let name = name.as_bytes();
            // `.pth` itself counts: `site.py` before 3.13 reads dot files too.
            name.len() >= 4 && name[name.len() - 4..].eq_ignore_ascii_case(b".pth")
        })
}

/// The `.dist-info` and `.data` directories of check (5).
struct Directories {
    dist_info: String,
    data_dir: Option<String>,
}

impl Directories {
    fn find(entries: &[Entry], filename: &WheelFilename, wheel: &str) -> Result<Self, WheelError> {
        let top_dirs: BTreeSet<&str> = entries
            .iter()
            .filter_map(|entry| entry.name.split_once('/').map(|(top, _)| top))
            .collect();
        let expected = format!("{}-{}", filename.name.as_dist_info_name(), filename.version);
        let with_suffix = |suffix: &str| -> Vec<String> {
            top_dirs
                .iter()
                .filter(|dir| dir.ends_with(suffix))
                .map(|dir| (*dir).to_string())
                .collect()
        };
        let check_stem = |dir: &str, suffix: &str| {
            let stem = dir.strip_suffix(suffix).unwrap_or(dir);
            if dist_info::stem_matches(stem, filename) {
                Ok(())
            } else {
                Err(WheelError::DirectoryNameMismatch {
                    wheel: wheel.to_string(),
                    directory: dir.to_string(),
                    expected: expected.clone(),
                })
            }
        };

        let mut dist_infos = with_suffix(".dist-info");
        let dist_info = match dist_infos.len() {
            0 => {
                return Err(WheelError::NoDistInfo {
                    wheel: wheel.to_string(),
                });
            }
            1 => dist_infos.remove(0),
            _ => {
                return Err(WheelError::MultipleDistInfo {
                    wheel: wheel.to_string(),
                    found: dist_infos,
                });
            }
        };
        check_stem(&dist_info, ".dist-info")?;
        let mut data_dirs = with_suffix(".data");
        let data_dir = match data_dirs.len() {
            0 => None,
            1 => Some(data_dirs.remove(0)),
            _ => {
                return Err(WheelError::MultipleDataDirs {
                    wheel: wheel.to_string(),
                    found: data_dirs,
                });
            }
        };
        if let Some(data_dir) = &data_dir {
            check_stem(data_dir, ".data")?;
        }
        Ok(Self {
            dist_info,
            data_dir,
        })
    }

    /// The category of a file path and its path inside that category.
    fn categorize(&self, path: &str, wheel: &str) -> Result<(Category, String), WheelError> {
        let (top, rest) = path.split_once('/').unwrap_or(("", path));
        if top == self.dist_info {
            return Ok((Category::DistInfo, path.to_string()));
        }
        if self.data_dir.as_deref() == Some(top) {
            let unknown = || WheelError::UnknownDataCategory {
                wheel: wheel.to_string(),
                entry: path.to_string(),
            };
            let (sub, inner) = rest.split_once('/').ok_or_else(unknown)?;
            let category = DataCategory::from_dir(sub).ok_or_else(unknown)?;
            return Ok((Category::Data(category), inner.to_string()));
        }
        Ok((Category::Root, path.to_string()))
    }
}

/// What a wheel is and would write: the facts the installer and the policy gate need, read
/// from the archive's directories and its small text files.
#[derive(Debug, Clone)]
pub struct WheelInfo {
    name: String,
    filename: WheelFilename,
    dist_info: String,
    data_dir: Option<String>,
    wheel_version: (u64, u64),
    root_is_purelib: bool,
    files: Vec<WheelFile>,
    directory_entries: Vec<String>,
    metadata: String,
    entry_points: EntryPoints,
    pth_files: Vec<PthFile>,
    compressed_size: u64,
    uncompressed_size: u64,
}

impl WheelInfo {
    /// The name given when opening (the path, for [`Wheel::open`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parsed file name it was checked against.
    pub fn filename(&self) -> &WheelFilename {
        &self.filename
    }

    /// The `.dist-info` directory, e.g. `foo_bar-1.0.dist-info`.
    pub fn dist_info(&self) -> &str {
        &self.dist_info
    }

    /// The `.data` directory, if any.
    pub fn data_dir(&self) -> Option<&str> {
        self.data_dir.as_deref()
    }

    /// `Wheel-Version` as `(major, minor)`; major is always 1.
    pub fn wheel_version(&self) -> (u64, u64) {
        self.wheel_version
    }

    /// Whether `Wheel-Version` is newer than 1.0, the version this crate knows. PEP 427:
    /// installers "should warn if Wheel-Version is greater than the version it supports".
    pub fn is_newer_minor_version(&self) -> bool {
        self.wheel_version.1 > 0
    }

    /// `Root-Is-Purelib`: whether [`Category::Root`] files go to purelib (else platlib).
    pub fn root_is_purelib(&self) -> bool {
        self.root_is_purelib
    }

    /// Every regular file, in archive order.
    pub fn files(&self) -> &[WheelFile] {
        &self.files
    }

    /// Every directory unpacking creates: the archive's directory entries, their parents and
    /// every file's parents, as archive paths without a trailing `/`.
    pub fn directories(&self) -> BTreeSet<&str> {
        let mut directories: BTreeSet<&str> =
            self.directory_entries.iter().map(String::as_str).collect();
        let paths = self.directory_entries.iter().map(String::as_str);
        for path in paths.chain(self.files.iter().map(|file| file.path.as_str())) {
            let mut rest = path;
            // No early stop at a known directory: a directory entry is known before its parents.
            while let Some((parent, _)) = rest.rsplit_once('/') {
                directories.insert(parent);
                rest = parent;
            }
        }
        directories
    }

    /// The directories the archive lists as entries, without their trailing `/`.
    pub fn directory_entries(&self) -> &[String] {
        &self.directory_entries
    }

    /// Top-level importable names: packages (directories) and modules (`.py`, `.pyc`,
    /// `.so`, `.pyd`) at the top of site-packages (the root and `.data/purelib|platlib`).
    pub fn top_level_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for file in &self.files {
            if !matches!(
                file.category,
                Category::Root | Category::Data(DataCategory::Purelib | DataCategory::Platlib)
            ) {
                continue;
            }
            let name = match file.install_path.split_once('/') {
                Some((package, _)) => package,
                None => {
                    let is_module = [".py", ".pyc", ".so", ".pyd"]
                        .iter()
                        .any(|suffix| file.install_path.ends_with(suffix));
                    if !is_module {
                        continue;
                    }
                    // `mod.cpython-312-x86_64-linux-gnu.so` imports as `mod`.
                    file.install_path.split('.').next().unwrap_or_default()
                }
            };
            let is_identifier = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if is_identifier {
                names.insert(name.to_string());
            }
        }
        names
    }

    /// Every file named `*.pth` outside `.dist-info` (see [`Self::files`] for where each is),
    /// with its lines classified: the caller's destination model decides which of them land
    /// where `site.py` processes them.
    pub fn pth_files(&self) -> &[PthFile] {
        &self.pth_files
    }

    /// `console_scripts` and `gui_scripts` from `entry_points.txt`.
    pub fn entry_points(&self) -> &EntryPoints {
        &self.entry_points
    }

    /// The METADATA text.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// Sum of compressed entry sizes.
    pub fn compressed_size(&self) -> u64 {
        self.compressed_size
    }

    /// Sum of inflated entry sizes (as declared, and equal to the content once verified).
    pub fn uncompressed_size(&self) -> u64 {
        self.uncompressed_size
    }
}

/// A wheel that passed [`Wheel::inspect_reader`]: its structure, names and RECORD rows are
/// sound and its facts known, but most files' content is not yet checked. Only this crate
/// constructs it; the way on is [`InspectedWheel::verify`] or
/// [`InspectedWheel::unpack_verified`].
#[derive(Debug)]
pub struct InspectedWheel<R> {
    info: WheelInfo,
    archive: ZipArchive<R>,
    entries: Vec<Entry>,
    /// One per file of `info.files`.
    claims: Vec<Claim>,
    limits: Limits,
}

impl<R> std::ops::Deref for InspectedWheel<R> {
    type Target = WheelInfo;

    fn deref(&self) -> &WheelInfo {
        &self.info
    }
}

impl<R: Read + Seek> InspectedWheel<R> {
    /// A digest of everything the content will be checked against: each file's path, size,
    /// executable bit, and its RECORD digest (or, for the files inflated while inspecting, the
    /// SHA-256 of what was read), and every directory entry. Two wheels with the same content
    /// digest unpack, once verified, to the same tree, so it names a cache of unpacked wheels'
    /// entries.
    pub fn content_digest(&self) -> [u8; 32] {
        let mut order: Vec<usize> = (0..self.info.files.len()).collect();
        order.sort_by(|&a, &b| self.info.files[a].path.cmp(&self.info.files[b].path));
        let mut hasher = Sha256::new();
        hasher.update(b"safevenv wheel content v2\n");
        for i in order {
            let file = &self.info.files[i];
            // Paths hold no NUL: check (2) refuses control characters.
            hasher.update(file.path.as_bytes());
            hasher.update([0]);
            hasher.update(file.size.to_le_bytes());
            hasher.update([u8::from(file.executable)]);
            match &self.claims[i] {
                Claim::Inflated { sha256 } => {
                    hasher.update(b"sha256=");
                    hasher.update(sha256);
                }
                Claim::Record(listed) => {
                    if let Some((algorithm, digest)) = &listed.hash {
                        hasher.update(algorithm.name().as_bytes());
                        hasher.update(b"=");
                        hasher.update(digest);
                    }
                }
            }
        }
        // Empty directories are part of the tree too: the same files with another directory
        // entry must not share an entry whose check would not expect it.
        for directory in self.info.directories() {
            hasher.update(b"/");
            hasher.update(directory.as_bytes());
            hasher.update([0]);
        }
        hasher.finalize().into()
    }

    /// Inflates every file and checks it: CRC-32 and sizes (1) under the limits (4), and its
    /// RECORD row or inspected bytes (8). Writes nothing.
    pub fn verify(self) -> Result<VerifiedWheel<R>, WheelError> {
        let Self {
            info,
            mut archive,
            entries,
            claims,
            limits,
        } = self;
        let all: Vec<usize> = (0..info.files.len()).collect();
        let stop = AtomicBool::new(false);
        let checked = check_files(
            &info,
            &mut archive,
            &entries,
            &claims,
            &limits,
            &all,
            None,
            &stop,
        )?;
        Ok(VerifiedWheel {
            sha256: checked.into_iter().map(|(_, sha256)| sha256).collect(),
            info,
            archive,
            entries,
            limits,
        })
    }
}

impl<R: Read + Seek + Clone + Send> InspectedWheel<R> {
    /// [`InspectedWheel::verify`] and [`VerifiedWheel::unpack_into`] in one pass: each file is
    /// inflated once, written into `dir` (which must exist and be empty) and checked; a large
    /// wheel's files are shared out among threads, each reading the archive through a clone of
    /// its reader. With `modified`, every file and directory written, and `dir`, get that
    /// modification time. On error, `dir` holds a partial tree of unverified files: the caller
    /// discards it.
    pub fn unpack_verified(
        self,
        dir: &Path,
        modified: Option<SystemTime>,
    ) -> Result<VerifiedWheel<R>, WheelError> {
        let Self {
            info,
            mut archive,
            entries,
            claims,
            limits,
        } = self;
        let unpacker = Unpacker::new(&info.name, dir, modified, &entries, &info.files)?;
        // The largest files dealt out first, one to each thread in turn, for even shares.
        let mut order: Vec<usize> = (0..info.files.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(info.files[i].size));
        let threads = unpack_threads(&info);
        let shares: Vec<Vec<usize>> = (0..threads)
            .map(|first| order.iter().copied().skip(first).step_by(threads).collect())
            .collect();
        let stop = AtomicBool::new(false);
        let outcomes: Vec<Result<Checked, WheelError>> = if threads == 1 {
            vec![check_files(
                &info,
                &mut archive,
                &entries,
                &claims,
                &limits,
                &order,
                Some(&unpacker),
                &stop,
            )]
        } else {
            std::thread::scope(|scope| {
                let workers: Vec<_> = shares
                    .iter()
                    .map(|share| {
                        let mut archive = archive.clone();
                        let (info, entries, claims, limits, unpacker, stop) =
                            (&info, &entries, &claims, &limits, &unpacker, &stop);
                        scope.spawn(move || {
                            check_files(
                                info,
                                &mut archive,
                                entries,
                                claims,
                                limits,
                                share,
                                Some(unpacker),
                                stop,
                            )
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
            })
        };
        // Any error first: a share cut short by `stop` looks whole (see `check_files`).
        let shares = outcomes
            .into_iter()
            .collect::<Result<Vec<Checked>, WheelError>>()?;
        let mut sha256 = vec![[0; 32]; info.files.len()];
        for (i, digest) in shares.into_iter().flatten() {
            sha256[i] = digest;
        }
        unpacker.finish()?;
        Ok(VerifiedWheel {
            info,
            archive,
            entries,
            sha256,
            limits,
        })
    }
}

/// The SHA-256 of each file checked, with its index in [`WheelInfo::files`].
type Checked = Vec<(usize, [u8; 32])>;

/// Threads to unpack a wheel with: one per core (at most four) for a wheel large enough to
/// repay them, else one.
fn unpack_threads(info: &WheelInfo) -> usize {
    const WORTH_A_THREAD: u64 = 8 << 20;
    if info.uncompressed_size < WORTH_A_THREAD || info.files.len() < 32 {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(4)
}

/// Inflates the files at `indexes` of `info.files`, writing each through `unpacker` when given,
/// and checks each against its claim: (1) and (4) in the stream, (8) after it. Returns each
/// file's SHA-256 with its index.
///
/// Shares of one wheel run side by side with one `stop`: the first to fail raises it and the
/// others return what they have done so far, unfinished. Invariant: `stop` is raised only with
/// an error returned, so the caller, which returns any share's error first, never takes an
/// unfinished share for a whole one.
#[allow(clippy::too_many_arguments)]
fn check_files<R: Read + Seek>(
    info: &WheelInfo,
    archive: &mut ZipArchive<R>,
    entries: &[Entry],
    claims: &[Claim],
    limits: &Limits,
    indexes: &[usize],
    unpacker: Option<&Unpacker<'_>>,
    stop: &AtomicBool,
) -> Result<Checked, WheelError> {
    // Each pass counts its own inflated total; together they stay within the declared sizes,
    // which inspection held to the limit, because no entry may inflate past its own.
    let mut pass = Pass::new(&info.name, limits);
    let mut checked = Vec::with_capacity(indexes.len());
    for &i in indexes {
        if stop.load(Ordering::Relaxed) {
            // Another share failed, and its error is what the wheel's unpacking returns.
            return Ok(checked);
        }
        let file = &info.files[i];
        let entry = &entries[file.index];
        let claim = &claims[i];
        let streamed = match unpacker {
            Some(unpacker) => unpacker.write(&mut pass, archive, file, entry, claim.algorithm()),
            None => pass.stream(archive, file.index, entry, claim.algorithm(), &mut |_| {
                Ok(())
            }),
        };
        if let Err(err) = streamed.and_then(|streamed| {
            claim.check(&streamed, &info.name, &file.path)?;
            checked.push((i, streamed.sha256));
            Ok(())
        }) {
            stop.store(true, Ordering::Relaxed);
            return Err(err);
        }
    }
    Ok(checked)
}

/// A wheel that passed every check of [`Wheel::from_reader`]; only this crate constructs it.
///
/// It keeps the source it was read from (for a file, the same open handle) so that
/// [`VerifiedWheel::unpack_into`] unpacks the very bytes that were verified.
#[derive(Debug)]
pub struct VerifiedWheel<R> {
    info: WheelInfo,
    archive: ZipArchive<R>,
    entries: Vec<Entry>,
    /// The SHA-256 of each file of `info.files`, as verified.
    sha256: Vec<[u8; 32]>,
    limits: Limits,
}

impl<R> std::ops::Deref for VerifiedWheel<R> {
    type Target = WheelInfo;

    fn deref(&self) -> &WheelInfo {
        &self.info
    }
}

impl<R> VerifiedWheel<R> {
    /// The facts, without the archive.
    pub fn into_info(self) -> WheelInfo {
        self.info
    }

    /// The verified SHA-256 of each file, in the order of [`WheelInfo::files`].
    pub fn sha256s(&self) -> &[[u8; 32]] {
        &self.sha256
    }
}

/// Lowercase hex, for messages.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::str::FromStr;

    use safevenv_test_index::WheelSpec;

    use super::*;

    const FILENAME: &str = "demo-1.0-py3-none-any.whl";

    fn inspected(spec: WheelSpec) -> InspectedWheel<Cursor<Vec<u8>>> {
        let built = spec.build().unwrap();
        let filename = WheelFilename::from_str(FILENAME).unwrap();
        Wheel::inspect_reader(
            Cursor::new(built.bytes),
            FILENAME,
            &filename,
            &Limits::default(),
        )
        .unwrap()
    }

    fn spec() -> WheelSpec {
        WheelSpec::new("demo", "1.0")
            .file("demo/__init__.py", "x = 1\n")
            .file("demo/b.py", "y = 2\n")
    }

    fn check_all(
        wheel: &mut InspectedWheel<Cursor<Vec<u8>>>,
        stop: &AtomicBool,
    ) -> Result<Checked, WheelError> {
        let all: Vec<usize> = (0..wheel.info.files.len()).collect();
        check_files(
            &wheel.info,
            &mut wheel.archive,
            &wheel.entries,
            &wheel.claims,
            &wheel.limits,
            &all,
            None,
            stop,
        )
    }

    #[test]
    fn a_share_checks_every_file_while_no_other_has_failed() {
        let mut wheel = inspected(spec());
        let stop = AtomicBool::new(false);
        let checked = check_all(&mut wheel, &stop).unwrap();
        assert_eq!(checked.len(), wheel.info.files.len());
        assert!(!stop.load(Ordering::Relaxed));
    }

    #[test]
    fn a_share_stops_once_another_has_failed() {
        let mut wheel = inspected(spec());
        let stop = AtomicBool::new(true);
        assert_eq!(check_all(&mut wheel, &stop).unwrap(), Vec::new());
    }

    #[test]
    fn a_failing_share_stops_the_others() {
        // RECORD claims another digest for `demo/b.py` than its content has.
        let record = spec().generated_record();
        let row = record
            .lines()
            .find(|line| line.starts_with("demo/b.py,"))
            .unwrap();
        let other = record_digest(b"y = 3\n");
        let hostile = record.replace(row, &format!("demo/b.py,sha256={other},6"));
        let mut wheel = inspected(spec().record_override(&hostile));
        let stop = AtomicBool::new(false);
        let result = check_all(&mut wheel, &stop);
        assert!(
            matches!(&result, Err(WheelError::RecordHashMismatch { entry, .. }) if entry == "demo/b.py"),
            "{result:?}"
        );
        assert!(stop.load(Ordering::Relaxed));
    }

    /// A RECORD digest: urlsafe base64 of the SHA-256, unpadded.
    fn record_digest(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
    }
}
