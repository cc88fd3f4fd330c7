//! Our own reading of the zip structure (APPNOTE 6.3.10), cross-checked against the `zip` crate.
//!
//! Hand-written because the `zip` crate trusts the central directory alone: it does not compare
//! local headers and data descriptors with it, does not notice bytes that belong to no entry
//! (a prefix, a hidden entry between two listed ones, a second archive after the first), and
//! collapses duplicate names. Each of those lets two zip readers see two different wheels —
//! the "parser differential" the malo corpus is about — so we refuse all of them.
//!
//! Every rule here says, where it is enforced, which two readers it keeps from disagreeing
//! (a reader that walks local headers from the start, as streaming installers do; one that
//! trusts the central directory, as Python's `zipfile` and pip do; one that searches for the
//! end record from the back or from the front; ...). A layout that is merely unusual but
//! that every reader reads the same way is accepted: refusing it would protect nothing.
//! The few rules that guard something else (limits, encryption, methods) say so.

use std::io::{Read, Seek, SeekFrom};

use crate::{Limits, WheelError};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_RECORD: u32 = 0x0605_4b50;
const ZIP64_END_RECORD: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;

const ZIP64_EXTRA: u16 = 0x0001;
const UNICODE_PATH_EXTRA: u16 = 0x7075;

const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const FLAG_UTF8: u16 = 1 << 11;
const FLAG_MASKED_HEADERS: u16 = 1 << 13;

/// One entry as the central directory and its local header agree on it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The name, valid UTF-8 (not yet checked against the name rules of (2)).
    pub(crate) name: String,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    pub(crate) header_offset: u64,
    pub(crate) data_start: u64,
    version_made_by: u16,
    external_attributes: u32,
    flags: u16,
}

impl Entry {
    /// The unix mode, when the archive was made on unix (host system 3).
    pub(crate) fn unix_mode(&self) -> Option<u32> {
        (self.version_made_by >> 8 == 3).then_some(self.external_attributes >> 16)
    }

    pub(crate) fn external_attributes(&self) -> u32 {
        self.external_attributes
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

/// The verified structure of an archive.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Entries in central directory order.
    pub(crate) entries: Vec<Entry>,
    pub(crate) central_directory_start: u64,
    pub(crate) compressed_total: u64,
}

/// Reads fixed-width little-endian fields from a byte slice.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut array = [0; 8];
        array.copy_from_slice(b);
        Some(u64::from_le_bytes(array))
    }
}

struct Reader<'r, R> {
    inner: &'r mut R,
    wheel: &'r str,
    len: u64,
}

impl<R: Read + Seek> Reader<'_, R> {
    fn io(&self, source: std::io::Error) -> WheelError {
        WheelError::Io {
            wheel: self.wheel.to_string(),
            source,
        }
    }

    /// Reads exactly `len` bytes at `offset`, or reports `structure` as truncated.
    fn read_at(
        &mut self,
        offset: u64,
        len: u64,
        structure: &'static str,
    ) -> Result<Vec<u8>, WheelError> {
        let truncated = || WheelError::Truncated {
            wheel: self.wheel.to_string(),
            structure,
            offset,
        };
        let end = offset.checked_add(len).ok_or_else(truncated)?;
        if end > self.len {
            return Err(truncated());
        }
        let len = usize::try_from(len).map_err(|_| truncated())?;
        self.inner
            .seek(SeekFrom::Start(offset))
            .map_err(|source| self.io(source))?;
        let mut buf = vec![0; len];
        self.inner
            .read_exact(&mut buf)
            .map_err(|source| self.io(source))?;
        Ok(buf)
    }
}

/// The end of the central directory, after resolving ZIP64.
struct End {
    entries: u64,
    cd_size: u64,
    cd_offset: u64,
    /// Where the central directory must end: the ZIP64 end record or the classic end record.
    cd_end: u64,
}

/// Reads and cross-checks the whole zip structure, without inflating anything.
pub(crate) fn read_layout<R: Read + Seek>(
    inner: &mut R,
    wheel: &str,
    limits: &Limits,
) -> Result<Layout, WheelError> {
    let len = inner
        .seek(SeekFrom::End(0))
        .map_err(|source| WheelError::Io {
            wheel: wheel.to_string(),
            source,
        })?;
    let mut reader = Reader { inner, wheel, len };
    let end = read_end(&mut reader)?;

    // (4): refuse a huge directory before allocating for it. A resource limit, not a
    // differential. Threat: the end record's entry count and directory size are the archive's
    // own word; read as they are, a forged size makes us allocate as much as the file (or the
    // ZIP64 field's 2^64) says, before any other limit has looked at a byte. Both are bounded
    // here, before the read below.
    if end.entries > limits.max_entries {
        return Err(WheelError::TooManyEntries {
            wheel: wheel.to_string(),
            count: end.entries,
            limit: limits.max_entries,
        });
    }
    if end.cd_size > limits.max_central_directory {
        return Err(WheelError::CentralDirectoryTooLarge {
            wheel: wheel.to_string(),
            size: end.cd_size,
            limit: limits.max_central_directory,
        });
    }
    // The central directory ends exactly where the end record starts. Prevents: a reader
    // that finds the directory by its offset and one that finds it by its size back from the
    // end record (as readers that correct for a prefix do) reading different directories.
    match end.cd_offset.checked_add(end.cd_size) {
        Some(cd_stop) if cd_stop == end.cd_end => {}
        Some(cd_stop) if cd_stop < end.cd_end => {
            return Err(WheelError::UnaccountedBytes {
                wheel: wheel.to_string(),
                start: cd_stop,
                end: end.cd_end,
            });
        }
        _ => {
            return Err(WheelError::Truncated {
                wheel: wheel.to_string(),
                structure: "central directory",
                offset: end.cd_offset,
            });
        }
    }
    let directory = reader.read_at(end.cd_offset, end.cd_size, "central directory")?;
    let mut entries = read_central_directory(&directory, &end, wheel)?;
    let compressed_total = read_local_headers(&mut reader, &mut entries, end.cd_offset)?;
    Ok(Layout {
        entries,
        central_directory_start: end.cd_offset,
        compressed_total,
    })
}

fn read_end<R: Read + Seek>(reader: &mut Reader<'_, R>) -> Result<End, WheelError> {
    let wheel = reader.wheel.to_string();
    let not_a_zip = || WheelError::NotAZip {
        wheel: wheel.clone(),
    };
    const END_LEN: u64 = 22;
    if reader.len < END_LEN {
        return Err(not_a_zip());
    }
    let tail_len = reader.len.min(END_LEN + u64::from(u16::MAX));
    let tail_start = reader.len - tail_len;
    let tail = reader.read_at(tail_start, tail_len, "end of central directory")?;

    // An end record is only genuine if its comment reaches exactly the end of the file; a
    // second record that also fits means a zip was appended to (or hidden in) another.
    // Prevents: readers that search from the back and stop at the first signature, and
    // readers that check the comment length, taking different end records and so different
    // archives (malo `zipinzip`, `dupe_eocd`; a signature hidden in the comment).
    let mut candidates = (0..=tail.len() - END_LEN as usize).rev().filter(|&at| {
        let mut fields = Fields::new(&tail[at..]);
        fields.u32() == Some(END_RECORD)
            && fields.take(16).is_some()
            && fields
                .u16()
                .is_some_and(|comment| at + END_LEN as usize + usize::from(comment) == tail.len())
    });
    let at = candidates.next().ok_or_else(not_a_zip)?;
    let comment = &tail[at + END_LEN as usize..];
    if candidates.next().is_some() || comment.windows(4).any(|w| w == END_RECORD.to_le_bytes()) {
        return Err(WheelError::AmbiguousEnd { wheel });
    }
    let eocd_offset = tail_start + at as u64;
    let mut fields = Fields::new(&tail[at + 4..]);
    let (
        Some(disk),
        Some(cd_disk),
        Some(disk_entries),
        Some(entries),
        Some(cd_size),
        Some(cd_offset),
    ) = (
        fields.u16(),
        fields.u16(),
        fields.u16(),
        fields.u16(),
        fields.u32(),
        fields.u32(),
    )
    else {
        return Err(not_a_zip());
    };
    // Prevents: readers that ignore disk numbers and readers that look for the other disks
    // (or refuse) reading different entries. A wheel is always one file.
    if disk != 0 || cd_disk != 0 || disk_entries != entries {
        return Err(WheelError::MultiDisk { wheel });
    }

    let has_locator = eocd_offset >= 20
        && reader.read_at(eocd_offset - 20, 4, "ZIP64 locator")? == ZIP64_LOCATOR.to_le_bytes();
    if !has_locator {
        return Ok(End {
            entries: u64::from(entries),
            cd_size: u64::from(cd_size),
            cd_offset: u64::from(cd_offset),
            cd_end: eocd_offset,
        });
    }

    let locator_offset = eocd_offset - 20;
    let locator = reader.read_at(locator_offset, 20, "ZIP64 locator")?;
    let mut fields = Fields::new(&locator[4..]);
    let (Some(record_disk), Some(record_offset), Some(disks)) =
        (fields.u32(), fields.u64(), fields.u32())
    else {
        return Err(not_a_zip());
    };
    if record_disk != 0 || disks > 1 {
        return Err(WheelError::MultiDisk { wheel });
    }
    // The ZIP64 end record is 56 bytes when it carries no extensible data; we refuse that
    // data because readers that do and do not honour it would see different archives, and
    // bytes between the record and its locator, which no reader accounts for (malo
    // `zip64_eocd_confusion` hides a second directory there).
    const ZIP64_END_LEN: u64 = 56;
    match record_offset.checked_add(ZIP64_END_LEN) {
        Some(stop) if stop == locator_offset => {}
        Some(stop) if stop < locator_offset => {
            return Err(WheelError::UnaccountedBytes {
                wheel,
                start: stop,
                end: locator_offset,
            });
        }
        _ => {
            return Err(WheelError::Zip64Inconsistent {
                wheel,
                field: "record offset",
            });
        }
    }
    let record = reader.read_at(record_offset, ZIP64_END_LEN, "ZIP64 end record")?;
    let mut fields = Fields::new(&record);
    if fields.u32() != Some(ZIP64_END_RECORD) {
        return Err(WheelError::BadSignature {
            wheel,
            structure: "ZIP64 end record",
            offset: record_offset,
        });
    }
    let inconsistent = |field| WheelError::Zip64Inconsistent {
        wheel: wheel.clone(),
        field,
    };
    if fields.u64() != Some(ZIP64_END_LEN - 12) {
        return Err(inconsistent("extensible data"));
    }
    fields.take(4);
    let (
        Some(disk64),
        Some(cd_disk64),
        Some(disk_entries64),
        Some(entries64),
        Some(cd_size64),
        Some(cd_offset64),
    ) = (
        fields.u32(),
        fields.u32(),
        fields.u64(),
        fields.u64(),
        fields.u64(),
        fields.u64(),
    )
    else {
        return Err(inconsistent("length"));
    };
    if disk64 != 0 || cd_disk64 != 0 || disk_entries64 != entries64 {
        return Err(WheelError::MultiDisk { wheel });
    }
    // A classic field either holds its all-ones marker or the same value as the ZIP64 field.
    // Prevents: a reader without ZIP64 (classic fields) and one with it (ZIP64 fields)
    // finding different directories.
    if entries != u16::MAX && u64::from(entries) != entries64 {
        return Err(inconsistent("entries"));
    }
    if cd_size != u32::MAX && u64::from(cd_size) != cd_size64 {
        return Err(inconsistent("central directory size"));
    }
    if cd_offset != u32::MAX && u64::from(cd_offset) != cd_offset64 {
        return Err(inconsistent("central directory offset"));
    }
    Ok(End {
        entries: entries64,
        cd_size: cd_size64,
        cd_offset: cd_offset64,
        cd_end: record_offset,
    })
}

/// Splits an extra field into `(id, data)` records, refusing truncated and repeated ones.
///
/// Prevents: readers that stop at a truncated record, skip it or read past it taking
/// different records; and, for a repeated id, readers that take the first and readers that
/// take the last (malo `second_unicode_extra`, `unicode_extra_chain`).
fn parse_extra<'a>(
    extra: &'a [u8],
    wheel: &str,
    entry: &str,
) -> Result<Vec<(u16, &'a [u8])>, WheelError> {
    let malformed = |reason| WheelError::MalformedExtraField {
        wheel: wheel.to_string(),
        entry: entry.to_string(),
        reason,
    };
    let mut fields = Fields::new(extra);
    let mut records: Vec<(u16, &[u8])> = Vec::new();
    while fields.pos < extra.len() {
        let (Some(id), Some(len)) = (fields.u16(), fields.u16()) else {
            return Err(malformed("a record header is cut short"));
        };
        let data = fields
            .take(usize::from(len))
            .ok_or_else(|| malformed("a record runs past the extra field"))?;
        if records.iter().any(|(seen, _)| *seen == id) {
            return Err(WheelError::DuplicateExtraField {
                wheel: wheel.to_string(),
                entry: entry.to_string(),
                id,
            });
        }
        records.push((id, data));
    }
    Ok(records)
}

/// Decodes an entry name: UTF-8 when flagged, otherwise ASCII only.
fn decode_name(raw: &[u8], flags: u16, wheel: &str) -> Result<String, WheelError> {
    let lossy = || String::from_utf8_lossy(raw).into_owned();
    if flags & FLAG_UTF8 == 0 && !raw.is_ascii() {
        // Without the flag the name is CP437 by the letter of APPNOTE, but many readers
        // decode it as UTF-8: the same bytes would name two different files. (ASCII reads
        // the same either way.)
        return Err(WheelError::AmbiguousNameEncoding {
            wheel: wheel.to_string(),
            entry: lossy(),
        });
    }
    // Prevents: readers that replace invalid UTF-8, that fall back to CP437 and that refuse
    // naming the file three ways.
    String::from_utf8(raw.to_vec()).map_err(|_| WheelError::NonUtf8Name {
        wheel: wheel.to_string(),
        entry: lossy(),
    })
}

fn read_central_directory(
    directory: &[u8],
    end: &End,
    wheel: &str,
) -> Result<Vec<Entry>, WheelError> {
    let mut fields = Fields::new(directory);
    let mut entries = Vec::new();
    while fields.pos < directory.len() {
        let offset = end.cd_offset + fields.pos as u64;
        let truncated = || WheelError::Truncated {
            wheel: wheel.to_string(),
            structure: "central directory record",
            offset,
        };
        // Prevents: readers that stop at the first bad record and readers that trust the end
        // record's count seeing different entry lists (with the count check below).
        if fields.u32() != Some(CENTRAL_HEADER) {
            return Err(WheelError::BadSignature {
                wheel: wheel.to_string(),
                structure: "central directory record",
                offset,
            });
        }
        let (
            Some(version_made_by),
            Some(_version_needed),
            Some(flags),
            Some(method),
            Some(_time),
            Some(_date),
            Some(crc32),
            Some(compressed32),
            Some(size32),
            Some(name_len),
            Some(extra_len),
            Some(comment_len),
            Some(disk16),
            Some(_internal),
            Some(external_attributes),
            Some(offset32),
        ) = (
            fields.u16(),
            fields.u16(),
            fields.u16(),
            fields.u16(),
            fields.u16(),
            fields.u16(),
            fields.u32(),
            fields.u32(),
            fields.u32(),
            fields.u16(),
            fields.u16(),
            fields.u16(),
            fields.u16(),
            fields.u16(),
            fields.u32(),
            fields.u32(),
        )
        else {
            return Err(truncated());
        };
        let raw_name = fields.take(usize::from(name_len)).ok_or_else(truncated)?;
        let extra = fields.take(usize::from(extra_len)).ok_or_else(truncated)?;
        fields
            .take(usize::from(comment_len))
            .ok_or_else(truncated)?;
        let name = decode_name(raw_name, flags, wheel)?;

        // (1): encrypted entries cannot be verified; other methods are not allowed in wheels.
        // Not a differential: content we cannot inflate is content no hash vouches for.
        if flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED_HEADERS) != 0 {
            return Err(WheelError::Encrypted {
                wheel: wheel.to_string(),
                entry: name,
            });
        }
        if method != 0 && method != 8 {
            return Err(WheelError::UnsupportedCompression {
                wheel: wheel.to_string(),
                entry: name,
                method,
            });
        }

        let records = parse_extra(extra, wheel, &name)?;
        check_unicode_path(&records, &name, wheel)?;
        // APPNOTE 4.5.3: the ZIP64 record holds exactly the fields whose classic value is
        // all ones, in this order; any other length lets readers pick different values.
        // Prevents: a reader that takes the marked fields in order and one that reads the
        // record's fields at fixed places (as some readers did) taking different sizes or
        // offsets. (The local header's record has a second reading APPNOTE itself gives, both
        // sizes always; see `local_size_readings`.)
        let needs_size = size32 == u32::MAX;
        let needs_compressed = compressed32 == u32::MAX;
        let needs_offset = offset32 == u32::MAX;
        let needs_disk = disk16 == u16::MAX;
        let expected_len = 8
            * (usize::from(needs_size) + usize::from(needs_compressed) + usize::from(needs_offset))
            + 4 * usize::from(needs_disk);
        let zip64 = records
            .iter()
            .find(|(id, _)| *id == ZIP64_EXTRA)
            .map(|(_, data)| *data);
        let (mut size, mut compressed_size, mut header_offset) = (
            u64::from(size32),
            u64::from(compressed32),
            u64::from(offset32),
        );
        match zip64 {
            Some(data) if data.len() == expected_len => {
                let mut values = Fields::new(data);
                let mut next = |needed: bool, value: &mut u64| {
                    if needed && let Some(wide) = values.u64() {
                        *value = wide;
                    }
                };
                next(needs_size, &mut size);
                next(needs_compressed, &mut compressed_size);
                next(needs_offset, &mut header_offset);
            }
            Some(_) => {
                return Err(WheelError::MalformedExtraField {
                    wheel: wheel.to_string(),
                    entry: name,
                    reason: "the ZIP64 record does not hold exactly the fields marked as ZIP64",
                });
            }
            None if expected_len != 0 => {
                return Err(WheelError::MalformedExtraField {
                    wheel: wheel.to_string(),
                    entry: name,
                    reason: "a field is marked as ZIP64 but there is no ZIP64 record",
                });
            }
            None => {}
        }
        // Prevents: as the end record's disk numbers.
        if needs_disk {
            return Err(WheelError::MultiDisk {
                wheel: wheel.to_string(),
            });
        }
        entries.push(Entry {
            name,
            method,
            crc32,
            compressed_size,
            size,
            header_offset,
            data_start: 0,
            version_made_by,
            external_attributes,
            flags,
        });
    }
    // Prevents: readers that trust the end record's count and readers that walk the
    // directory seeing different numbers of entries.
    if entries.len() as u64 != end.entries {
        return Err(WheelError::EntryCountMismatch {
            wheel: wheel.to_string(),
            declared: end.entries,
            found: entries.len() as u64,
        });
    }
    Ok(entries)
}

/// The Info-ZIP Unicode path field (0x7075) overrides the name in some readers only.
///
/// Prevents: readers that honour the field and readers that ignore it writing the entry
/// under two names; so the field may only repeat the name.
fn check_unicode_path(records: &[(u16, &[u8])], name: &str, wheel: &str) -> Result<(), WheelError> {
    let Some((_, data)) = records.iter().find(|(id, _)| *id == UNICODE_PATH_EXTRA) else {
        return Ok(());
    };
    // Layout: version (1 byte), CRC-32 of the header name (4 bytes), UTF-8 name.
    let other = data.get(5..).unwrap_or_default();
    if other == name.as_bytes() {
        Ok(())
    } else {
        Err(WheelError::UnicodePathMismatch {
            wheel: wheel.to_string(),
            entry: name.to_string(),
            other: String::from_utf8_lossy(other).into_owned(),
        })
    }
}

/// Walks the entries in file order: each local header must start where the previous entry
/// ended, agree with its central record, and the last must end where the directory starts.
/// Returns the sum of compressed sizes.
///
/// Prevents: a streaming reader, which walks local headers from the first byte, finding
/// entries (in a prefix, a gap, or after the last entry) that a directory reader never
/// sees (malo `cd_missing_entry`), and both reading the same bytes as two entries
/// (overlapping entries, as in overlapping-file zip bombs).
fn read_local_headers<R: Read + Seek>(
    reader: &mut Reader<'_, R>,
    entries: &mut [Entry],
    cd_offset: u64,
) -> Result<u64, WheelError> {
    let wheel = reader.wheel.to_string();
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].header_offset);
    let mut cursor = 0u64;
    let mut compressed_total = 0u64;
    let mut previous: Option<usize> = None;
    for &index in &order {
        let entry = &entries[index];
        if entry.header_offset > cursor {
            return Err(WheelError::UnaccountedBytes {
                wheel,
                start: cursor,
                end: entry.header_offset,
            });
        }
        if entry.header_offset < cursor {
            let other = previous
                .map(|p| entries[p].name.clone())
                .unwrap_or_default();
            return Err(WheelError::OverlappingEntries {
                wheel,
                entry: entry.name.clone(),
                other,
            });
        }
        let stop = read_local_header(reader, &mut entries[index])?;
        compressed_total = compressed_total.saturating_add(entries[index].compressed_size);
        cursor = stop;
        previous = Some(index);
    }
    if cursor < cd_offset {
        return Err(WheelError::UnaccountedBytes {
            wheel,
            start: cursor,
            end: cd_offset,
        });
    }
    if cursor > cd_offset {
        let entry = previous
            .map(|p| entries[p].name.clone())
            .unwrap_or_default();
        return Err(WheelError::OverlappingEntries {
            wheel,
            entry,
            other: "<central directory>".to_string(),
        });
    }
    Ok(compressed_total)
}

/// Checks one local header (and data descriptor) against the central record; sets
/// `data_start` and returns the offset just past the entry.
fn read_local_header<R: Read + Seek>(
    reader: &mut Reader<'_, R>,
    entry: &mut Entry,
) -> Result<u64, WheelError> {
    let wheel = reader.wheel.to_string();
    let offset = entry.header_offset;
    let header = reader.read_at(offset, 30, "local header")?;
    let mut fields = Fields::new(&header);
    if fields.u32() != Some(LOCAL_HEADER) {
        return Err(WheelError::BadSignature {
            wheel,
            structure: "local header",
            offset,
        });
    }
    let (
        Some(_version),
        Some(flags),
        Some(method),
        Some(_time),
        Some(_date),
        Some(crc32),
        Some(compressed32),
        Some(size32),
        Some(name_len),
        Some(extra_len),
    ) = (
        fields.u16(),
        fields.u16(),
        fields.u16(),
        fields.u16(),
        fields.u16(),
        fields.u32(),
        fields.u32(),
        fields.u32(),
        fields.u16(),
        fields.u16(),
    )
    else {
        return Err(WheelError::Truncated {
            wheel,
            structure: "local header",
            offset,
        });
    };
    let variable = reader.read_at(
        offset + 30,
        u64::from(name_len) + u64::from(extra_len),
        "local header",
    )?;
    let (raw_name, extra) = variable.split_at(usize::from(name_len));
    let mismatch = |field, local: String, central: String| WheelError::LocalHeaderMismatch {
        wheel: wheel.clone(),
        entry: entry.name.clone(),
        field,
        local,
        central,
    };
    // Prevents: a streaming reader (local name) and a directory reader (central name)
    // writing the entry under two names.
    if raw_name != entry.name.as_bytes() {
        return Err(mismatch(
            "name",
            String::from_utf8_lossy(raw_name).into_owned(),
            entry.name.clone(),
        ));
    }
    // The flags that change how the entry is read must agree. Bit 3 (data descriptor) is
    // a property of the local record only: writers commonly leave it clear in the directory.
    // Prevents: a streaming and a directory reader decrypting one and not the other, or
    // decoding the name differently. The UTF-8 flag can change nothing in an ASCII name
    // (CP437 and UTF-8 agree on ASCII), so it must only agree when the name is not ASCII.
    let significant =
        FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | if entry.name.is_ascii() { 0 } else { FLAG_UTF8 };
    if flags & significant != entry.flags & significant {
        return Err(mismatch(
            "flags",
            format!("{flags:#06x}"),
            format!("{:#06x}", entry.flags),
        ));
    }
    // Prevents: a streaming reader inflating what a directory reader copies, or the reverse.
    if method != entry.method {
        return Err(mismatch(
            "method",
            method.to_string(),
            entry.method.to_string(),
        ));
    }
    let records = parse_extra(extra, &wheel, &entry.name)?;
    check_unicode_path(&records, &entry.name, &wheel)?;
    // Prevents: readers that take sizes from the 32-bit fields, from the ZIP64 record read
    // as the marked sizes, or from it read as both sizes, taking different sizes and so
    // different bytes. A record that cannot be read both ways the same is refused.
    let zip64 = records
        .iter()
        .find(|(id, _)| *id == ZIP64_EXTRA)
        .map(|(_, data)| *data);
    let readings = local_size_readings(size32, compressed32, zip64).map_err(|reason| {
        WheelError::MalformedExtraField {
            wheel: wheel.clone(),
            entry: entry.name.clone(),
            reason,
        }
    })?;

    let uses_descriptor = flags & FLAG_DATA_DESCRIPTOR != 0;
    // With a data descriptor the local fields may be zero (written before the data was);
    // every reader that honours bit 3 then takes the descriptor's values, which must equal
    // the directory's below. Any other value must agree.
    let agrees = |local: u64, central: u64| local == central || (uses_descriptor && local == 0);
    // Prevents: a streaming reader checking the data against one CRC and a directory reader
    // against another (content that passes one reader's check only).
    if !agrees(u64::from(crc32), u64::from(entry.crc32)) {
        return Err(mismatch(
            "crc32",
            format!("{crc32:#010x}"),
            format!("{:#010x}", entry.crc32),
        ));
    }
    // Invariant: every size any reader can take for this entry (the 32-bit local fields,
    // the local ZIP64 record read either way APPNOTE allows, the central directory, the
    // data descriptor) is the same number. Threat: a streaming reader that trusts the
    // local header and an installer that trusts the directory extracting different bytes
    // (malo `short_usize_zip64`: a ZIP64 record that silently lengthens a file).
    for reading in &readings {
        let central = match reading.size {
            SizeField::Uncompressed => entry.size,
            SizeField::Compressed => entry.compressed_size,
        };
        if !agrees(reading.value, central) {
            return Err(mismatch(
                reading.field,
                reading.value.to_string(),
                central.to_string(),
            ));
        }
    }

    let data_start = offset + 30 + u64::from(name_len) + u64::from(extra_len);
    entry.data_start = data_start;
    // Not a differential: data running past the file is a truncated archive.
    let data_end = data_start
        .checked_add(entry.compressed_size)
        .filter(|&end| end <= reader.len)
        .ok_or_else(|| WheelError::Truncated {
            wheel: wheel.clone(),
            structure: "entry data",
            offset: data_start,
        })?;
    if !uses_descriptor {
        return Ok(data_end);
    }

    // APPNOTE 4.3.9: optional signature, CRC-32, then both sizes, 8 bytes each when the
    // local header has a ZIP64 record. Prevents: a streaming reader, which takes the sizes
    // and CRC from the descriptor, and a directory reader disagreeing on them (malo
    // `data_descriptor_bad_*`); and, with the walk's contiguity, readers that disagree on
    // the descriptor's width or its optional signature ending the entry at different places.
    let width: u64 = if zip64.is_some() { 8 } else { 4 };
    let available = (reader.len - data_end).min(4 + 4 + 2 * width);
    let descriptor = reader.read_at(data_end, available, "data descriptor")?;
    let mut fields = Fields::new(&descriptor);
    let mut len = 4 + 2 * width;
    let mut first = fields.u32();
    if first == Some(DATA_DESCRIPTOR) {
        len += 4;
        first = fields.u32();
    }
    let mut wide = || {
        if width == 8 {
            fields.u64()
        } else {
            fields.u32().map(u64::from)
        }
    };
    let (Some(d_crc), Some(d_compressed), Some(d_size)) = (first, wide(), wide()) else {
        return Err(WheelError::Truncated {
            wheel,
            structure: "data descriptor",
            offset: data_end,
        });
    };
    for (field, descriptor, central) in [
        ("crc32", u64::from(d_crc), u64::from(entry.crc32)),
        ("compressed size", d_compressed, entry.compressed_size),
        ("size", d_size, entry.size),
    ] {
        if descriptor != central {
            return Err(WheelError::DataDescriptorMismatch {
                wheel,
                entry: entry.name.clone(),
                field,
                descriptor,
                central,
            });
        }
    }
    Ok(data_end + len)
}

/// Which of an entry's two sizes a local reading gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeField {
    Uncompressed,
    Compressed,
}

/// One size a reader could take for an entry from its local header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SizeReading {
    /// How the reader got it, as named in [`WheelError::LocalHeaderMismatch`].
    field: &'static str,
    size: SizeField,
    value: u64,
}

/// Every size a reader could take from a local header, or why its ZIP64 record is malformed.
///
/// APPNOTE 4.5.3 allows two readings of a local ZIP64 record, and readers exist for each:
/// "fields only appear if the corresponding field is set to 0xFFFFFFFF", in order (Python's
/// `zipfile`, the `zip` crate, uv), and "this entry in the Local header MUST include BOTH
/// original and compressed file size fields" (Commons Compress and Ant read the two sizes
/// at fixed places). A reader without ZIP64 takes the 32-bit fields. So the readings are:
/// the 32-bit fields not set to the 0xFFFFFFFF marker; the marked sizes, in order, from the
/// record; and, for a 16-byte record, its two sizes at their fixed places. The caller
/// requires all of them to equal the central directory's: then no two readers disagree.
/// That accepts each layout real writers produce (Python's `zipfile` before 3.11 and
/// protobuf's wheels: real 32-bit sizes and a record holding the same two; 3.11 and later:
/// markers and a record holding both; the malo corpus: a record holding just the marked
/// one) and refuses a record whose values differ from the 32-bit fields or the directory.
///
/// Malformed, because readers would part ways on where its values are: a record of any
/// other length (too short for the marked sizes, one size only when none is marked, or
/// longer than both sizes: the local header has no offset or disk field to extend), and a
/// marked size with no record at all.
fn local_size_readings(
    size32: u32,
    compressed32: u32,
    zip64: Option<&[u8]>,
) -> Result<Vec<SizeReading>, &'static str> {
    let reading = |field, size, value| SizeReading { field, size, value };
    let mut readings = Vec::new();
    let mut marked = Vec::new();
    for (value, size, field) in [
        (size32, SizeField::Uncompressed, "size"),
        (compressed32, SizeField::Compressed, "compressed size"),
    ] {
        if value == u32::MAX {
            marked.push(size);
        } else {
            readings.push(reading(field, size, u64::from(value)));
        }
    }
    let Some(data) = zip64 else {
        return if marked.is_empty() {
            Ok(readings)
        } else {
            Err("a size is marked as ZIP64 but there is no local ZIP64 record")
        };
    };
    const BOTH_SIZES: usize = 16;
    if data.len() != 8 * marked.len() && data.len() != BOTH_SIZES {
        return Err(
            "the local ZIP64 record holds neither exactly the sizes marked as ZIP64 nor both sizes",
        );
    }
    let mut values = Fields::new(data);
    for size in &marked {
        let field = match size {
            SizeField::Uncompressed => "ZIP64 size",
            SizeField::Compressed => "ZIP64 compressed size",
        };
        if let Some(value) = values.u64() {
            readings.push(reading(field, *size, value));
        }
    }
    if data.len() == BOTH_SIZES && marked.len() < 2 {
        let mut fixed = Fields::new(data);
        if let (Some(size), Some(compressed)) = (fixed.u64(), fixed.u64()) {
            readings.push(reading(
                "ZIP64 size (read as both sizes)",
                SizeField::Uncompressed,
                size,
            ));
            readings.push(reading(
                "ZIP64 compressed size (read as both sizes)",
                SizeField::Compressed,
                compressed,
            ));
        }
    }
    Ok(readings)
}
