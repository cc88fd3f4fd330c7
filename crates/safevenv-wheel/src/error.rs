//! Why a wheel was refused: one variant per broken rule, each naming the wheel and the entry.

use std::path::PathBuf;

/// A wheel failed one of the checks of [`crate::Wheel::open`], or could not be unpacked.
///
/// `wheel` is the name the caller gave the archive (its path or file name); `entry` is the
/// zip entry (or RECORD path) the rule is about.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    // (1): a real, unambiguous zip archive.
    /// The archive could not be read.
    #[error("cannot read wheel `{wheel}`")]
    Io {
        /// The wheel.
        wheel: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// No end-of-central-directory record: not a zip archive, or truncated.
    #[error("wheel `{wheel}` is not a zip archive (no end-of-central-directory record)")]
    NotAZip {
        /// The wheel.
        wheel: String,
    },
    /// More than one end-of-central-directory record could be the real one (a zip inside a
    /// zip, or a record hidden in the archive comment): readers would disagree on the contents.
    #[error("wheel `{wheel}` holds more than one end-of-central-directory record")]
    AmbiguousEnd {
        /// The wheel.
        wheel: String,
    },
    /// A zip structure runs past the end of the file.
    #[error("wheel `{wheel}` is truncated: the {structure} at offset {offset} runs past the end")]
    Truncated {
        /// The wheel.
        wheel: String,
        /// Which structure (`central directory`, `local header`, ...).
        structure: &'static str,
        /// Where it starts.
        offset: u64,
    },
    /// A zip structure does not start with its signature.
    #[error("wheel `{wheel}` has no {structure} signature at offset {offset}")]
    BadSignature {
        /// The wheel.
        wheel: String,
        /// Which structure was expected there.
        structure: &'static str,
        /// Where it was expected.
        offset: u64,
    },
    /// Bytes that belong to no entry: a prefix, a gap between entries, data after the
    /// central directory. Such bytes can hide an entry that only some readers see.
    #[error("wheel `{wheel}` has bytes {start}..{end} that belong to no entry")]
    UnaccountedBytes {
        /// The wheel.
        wheel: String,
        /// First such byte.
        start: u64,
        /// One past the last.
        end: u64,
    },
    /// The ZIP64 records contradict the classic end record, or carry extensible data.
    #[error("wheel `{wheel}` has an inconsistent ZIP64 end record (field `{field}`)")]
    Zip64Inconsistent {
        /// The wheel.
        wheel: String,
        /// The field that disagrees.
        field: &'static str,
    },
    /// Split (multi-disk) archives are not wheels.
    #[error("wheel `{wheel}` is a multi-disk zip archive")]
    MultiDisk {
        /// The wheel.
        wheel: String,
    },
    /// The end record's entry count disagrees with the central directory.
    #[error("wheel `{wheel}` declares {declared} entries but its central directory holds {found}")]
    EntryCountMismatch {
        /// The wheel.
        wheel: String,
        /// Entries the end record declares.
        declared: u64,
        /// Entries parsed before the directory ended.
        found: u64,
    },
    /// An extra field is cut short or malformed.
    #[error("entry `{entry}` of wheel `{wheel}` has a malformed extra field: {reason}")]
    MalformedExtraField {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same extra field appears twice (readers pick different ones).
    #[error("entry `{entry}` of wheel `{wheel}` repeats extra field {id:#06x}")]
    DuplicateExtraField {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// The extra field's header id.
        id: u16,
    },
    /// The local header disagrees with the central directory.
    #[error(
        "entry `{entry}` of wheel `{wheel}`: local header {field} `{local}` differs from the central directory's `{central}`"
    )]
    LocalHeaderMismatch {
        /// The wheel.
        wheel: String,
        /// The entry (central directory name).
        entry: String,
        /// The field (`name`, `flags`, `method`, `crc32`, `compressed size`, `size`), or the
        /// reading of the ZIP64 record that disagrees (`ZIP64 size`, `ZIP64 compressed size`,
        /// and either `(read as both sizes)`).
        field: &'static str,
        /// The local header's value.
        local: String,
        /// The central directory's value.
        central: String,
    },
    /// The data descriptor disagrees with the central directory.
    #[error(
        "entry `{entry}` of wheel `{wheel}`: data descriptor {field} `{descriptor}` differs from the central directory's `{central}`"
    )]
    DataDescriptorMismatch {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// The field (`crc32`, `compressed size`, `size`).
        field: &'static str,
        /// The descriptor's value.
        descriptor: u64,
        /// The central directory's value.
        central: u64,
    },
    /// Two central directory records point into the same bytes.
    #[error("entries `{entry}` and `{other}` of wheel `{wheel}` overlap")]
    OverlappingEntries {
        /// The wheel.
        wheel: String,
        /// One entry.
        entry: String,
        /// The entry it overlaps.
        other: String,
    },
    /// Encrypted entries cannot be verified.
    #[error("entry `{entry}` of wheel `{wheel}` is encrypted")]
    Encrypted {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// Only stored (0) and deflate (8) are allowed.
    #[error("entry `{entry}` of wheel `{wheel}` uses compression method {method}")]
    UnsupportedCompression {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// The zip method number.
        method: u16,
    },
    /// The inflated bytes do not match the CRC-32 of the central directory.
    #[error(
        "entry `{entry}` of wheel `{wheel}` has CRC-32 {actual:#010x}, expected {expected:#010x}"
    )]
    CrcMismatch {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// From the central directory.
        expected: u32,
        /// Computed.
        actual: u32,
    },
    /// The inflated size differs from the declared one.
    #[error("entry `{entry}` of wheel `{wheel}` inflates to {actual} bytes, declared {declared}")]
    SizeMismatch {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// From the central directory.
        declared: u64,
        /// Inflated (stops counting one past `declared`).
        actual: u64,
    },
    /// The deflate stream did not use exactly the declared compressed bytes.
    #[error(
        "entry `{entry}` of wheel `{wheel}`: deflate stream used {consumed} of {declared} compressed bytes"
    )]
    CompressedSizeMismatch {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// From the central directory.
        declared: u64,
        /// Consumed by the decoder.
        consumed: u64,
    },
    /// The compressed data is corrupt.
    #[error("entry `{entry}` of wheel `{wheel}` cannot be inflated")]
    Inflate {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// What the decoder said.
        #[source]
        source: std::io::Error,
    },
    /// The zip library refused the archive.
    #[error("wheel `{wheel}` is not a valid zip archive")]
    Zip {
        /// The wheel.
        wheel: String,
        /// What the zip library said.
        #[source]
        source: zip::result::ZipError,
    },
    /// The zip library reads the archive differently from our own parser.
    #[error("wheel `{wheel}` is read differently by two zip parsers ({field} of entry {index})")]
    ParserDisagreement {
        /// The wheel.
        wheel: String,
        /// The index of the entry in the central directory.
        index: usize,
        /// What differs.
        field: &'static str,
    },
    /// A directory entry carries data.
    #[error("directory entry `{entry}` of wheel `{wheel}` holds {size} bytes")]
    DirectoryWithData {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// Its declared size.
        size: u64,
    },

    // (2): entry names.
    /// A name that is not UTF-8 (with the UTF-8 flag set).
    #[error("an entry name of wheel `{wheel}` is not UTF-8: `{entry}`")]
    NonUtf8Name {
        /// The wheel.
        wheel: String,
        /// The name, lossily decoded.
        entry: String,
    },
    /// A non-ASCII name without the UTF-8 flag: readers decode it as CP437 or UTF-8.
    #[error("entry `{entry}` of wheel `{wheel}` has a non-ASCII name without the UTF-8 flag")]
    AmbiguousNameEncoding {
        /// The wheel.
        wheel: String,
        /// The name, lossily decoded.
        entry: String,
    },
    /// The Info-ZIP Unicode path extra field names another file than the header.
    #[error("entry `{entry}` of wheel `{wheel}` has a Unicode path extra field naming `{other}`")]
    UnicodePathMismatch {
        /// The wheel.
        wheel: String,
        /// The header's name.
        entry: String,
        /// The extra field's name.
        other: String,
    },
    /// An empty name.
    #[error("wheel `{wheel}` has an entry with an empty name")]
    EmptyName {
        /// The wheel.
        wheel: String,
    },
    /// A name starting with `/`.
    #[error("entry `{entry}` of wheel `{wheel}` is an absolute path")]
    AbsolutePath {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// A `..` component.
    #[error("entry `{entry}` of wheel `{wheel}` escapes the target directory (`..`)")]
    PathTraversal {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// A `\` in a name.
    #[error("entry `{entry}` of wheel `{wheel}` contains a backslash")]
    Backslash {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// A `:` in a name (drive letters, NTFS alternate data streams).
    #[error("entry `{entry}` of wheel `{wheel}` contains `:` (drive letter or stream name)")]
    Colon {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// A NUL or other control character in a name.
    #[error("entry `{entry}` of wheel `{wheel}` contains a control character")]
    ControlCharacter {
        /// The wheel.
        wheel: String,
        /// The entry (control characters escaped).
        entry: String,
    },
    /// An empty or `.` component (`a//b`, `./a`).
    #[error("entry `{entry}` of wheel `{wheel}` has an empty or `.` path component")]
    EmptyComponent {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// A path component or the whole name longer than the file system accepts: unpacking
    /// would fail with "name too long" instead of refusing the wheel.
    #[error(
        "entry `{entry}` of wheel `{wheel}` is too long: {what} of {length} bytes, more than the limit of {limit}"
    )]
    NameTooLong {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// `a path component` or `the name`.
        what: &'static str,
        /// Its length in bytes.
        length: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The same name twice.
    #[error("entry `{entry}` appears twice in wheel `{wheel}`")]
    DuplicateEntry {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// Two names equal but for case: one overwrites the other on case-insensitive file systems.
    #[error("entries `{entry}` and `{other}` of wheel `{wheel}` differ only by case")]
    CaseCollision {
        /// The wheel.
        wheel: String,
        /// One path.
        entry: String,
        /// The colliding path.
        other: String,
    },
    /// A file whose path is also a directory of another entry.
    #[error("entry `{entry}` of wheel `{wheel}` is both a file and a directory")]
    FileDirectoryConflict {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
    },

    // (3): entry types.
    /// A symbolic link entry.
    #[error("entry `{entry}` of wheel `{wheel}` is a symbolic link")]
    Symlink {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// A device, FIFO or socket entry.
    #[error("entry `{entry}` of wheel `{wheel}` is a special file (mode {mode:#o})")]
    SpecialFile {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// The unix mode from the external attributes.
        mode: u32,
    },

    // (4): bomb limits.
    /// More entries than [`crate::Limits::max_entries`].
    #[error("wheel `{wheel}` has {count} entries, more than the limit of {limit}")]
    TooManyEntries {
        /// The wheel.
        wheel: String,
        /// Declared entries.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// A central directory larger than [`crate::Limits::max_central_directory`].
    #[error(
        "wheel `{wheel}` declares a central directory of {size} bytes, more than the limit of {limit}"
    )]
    CentralDirectoryTooLarge {
        /// The wheel.
        wheel: String,
        /// Declared size of the central directory.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More inflated bytes than [`crate::Limits::max_total_uncompressed`].
    #[error("wheel `{wheel}` inflates past the limit of {limit} bytes (at entry `{entry}`)")]
    TooLarge {
        /// The wheel.
        wheel: String,
        /// The entry being inflated when the limit was hit.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// An entry inflates more than [`crate::Limits::max_ratio`] times its compressed size.
    #[error(
        "entry `{entry}` of wheel `{wheel}` inflates more than {limit} times its compressed size"
    )]
    CompressionRatio {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// The ratio limit.
        limit: u64,
    },
    /// A text file read into memory (METADATA, RECORD, ...) is larger than
    /// [`crate::Limits::max_text_file`].
    #[error("entry `{entry}` of wheel `{wheel}` is {size} bytes, more than the limit of {limit}")]
    TextFileTooLarge {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },

    // (5): the .dist-info and .data directories.
    /// No `*.dist-info` directory.
    #[error("wheel `{wheel}` has no `.dist-info` directory")]
    NoDistInfo {
        /// The wheel.
        wheel: String,
    },
    /// More than one top-level `*.dist-info` directory.
    #[error("wheel `{wheel}` has more than one `.dist-info` directory: {}", found.join(", "))]
    MultipleDistInfo {
        /// The wheel.
        wheel: String,
        /// The directories.
        found: Vec<String>,
    },
    /// The `.dist-info` (or `.data`) directory names another distribution than the file name.
    #[error(
        "directory `{directory}` of wheel `{wheel}` does not match the file name (`{expected}`)"
    )]
    DirectoryNameMismatch {
        /// The wheel.
        wheel: String,
        /// The directory.
        directory: String,
        /// `name-version` from the file name.
        expected: String,
    },
    /// More than one top-level `*.data` directory.
    #[error("wheel `{wheel}` has more than one `.data` directory: {}", found.join(", "))]
    MultipleDataDirs {
        /// The wheel.
        wheel: String,
        /// The directories.
        found: Vec<String>,
    },
    /// A `.data` entry outside `scripts`, `headers`, `data`, `purelib` and `platlib`.
    #[error("entry `{entry}` of wheel `{wheel}` is in no known `.data` category")]
    UnknownDataCategory {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// `WHEEL`, `METADATA` or `RECORD` is missing.
    #[error("wheel `{wheel}` has no `{file}`")]
    MissingDistInfoFile {
        /// The wheel.
        wheel: String,
        /// The missing file.
        file: String,
    },
    /// A dist-info text file is not UTF-8.
    #[error("entry `{entry}` of wheel `{wheel}` is not UTF-8 text")]
    NotUtf8 {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },

    // (6): WHEEL.
    /// A required `WHEEL` field is missing.
    #[error("`WHEEL` of wheel `{wheel}` has no `{field}` field")]
    WheelFieldMissing {
        /// The wheel.
        wheel: String,
        /// The field.
        field: &'static str,
    },
    /// `Wheel-Version` is not `major.minor`.
    #[error("`WHEEL` of wheel `{wheel}` has an invalid `Wheel-Version`: `{value}`")]
    InvalidWheelVersion {
        /// The wheel.
        wheel: String,
        /// The value.
        value: String,
    },
    /// `Wheel-Version` 2 or later: the format changed in ways this installer cannot know.
    #[error("wheel `{wheel}` has `Wheel-Version` `{value}`; only major version 1 is supported")]
    UnsupportedWheelVersion {
        /// The wheel.
        wheel: String,
        /// The value.
        value: String,
    },
    /// `Root-Is-Purelib` is neither `true` nor `false`.
    #[error("`WHEEL` of wheel `{wheel}` has an invalid `Root-Is-Purelib`: `{value}`")]
    InvalidRootIsPurelib {
        /// The wheel.
        wheel: String,
        /// The value.
        value: String,
    },

    // (7): METADATA.
    /// A required `METADATA` field is missing.
    #[error("`METADATA` of wheel `{wheel}` has no `{field}` field")]
    MetadataFieldMissing {
        /// The wheel.
        wheel: String,
        /// The field.
        field: &'static str,
    },
    /// `Name` differs from the file name's.
    #[error("`METADATA` of wheel `{wheel}` names `{metadata}`, the file name `{filename}`")]
    MetadataNameMismatch {
        /// The wheel.
        wheel: String,
        /// `Name` in METADATA.
        metadata: String,
        /// The file name's name.
        filename: String,
    },
    /// `Version` differs from the file name's.
    #[error("`METADATA` of wheel `{wheel}` has version `{metadata}`, the file name `{filename}`")]
    MetadataVersionMismatch {
        /// The wheel.
        wheel: String,
        /// `Version` in METADATA.
        metadata: String,
        /// The file name's version.
        filename: String,
    },

    // Entry points: what uv-install-wheel refuses (`crate::entry_points`).
    /// `entry_points.txt` is not an INI file the installer's `configparser` reads (a `[` with
    /// no `]`, an empty key).
    #[error("`entry_points.txt` of wheel `{wheel}` is malformed: {reason}")]
    EntryPointSyntax {
        /// The wheel.
        wheel: String,
        /// The parser's message, naming the line.
        reason: String,
    },
    /// A key of `console_scripts` or `gui_scripts` has no `=`.
    #[error("`entry_points.txt` of wheel `{wheel}` has `{name}` in `[{section}]` without a value")]
    EntryPointWithoutValue {
        /// The wheel.
        wheel: String,
        /// `console_scripts` or `gui_scripts`.
        section: &'static str,
        /// The key.
        name: String,
    },
    /// A script's value is not `module:function [extras]`.
    #[error(
        "`entry_points.txt` of wheel `{wheel}` has a script `{name}` in `[{section}]` whose target `{target}` is not `module:function`"
    )]
    EntryPointTarget {
        /// The wheel.
        wheel: String,
        /// `console_scripts` or `gui_scripts`.
        section: &'static str,
        /// The script name.
        name: String,
        /// The value.
        target: String,
    },
    /// A script name is not one plain file name (`/`, `\\`, `.`, `..`): the installer would
    /// write a file whose name is not the one judged.
    #[error(
        "`entry_points.txt` of wheel `{wheel}` has a script `{name}` in `[{section}]` that is not a plain file name"
    )]
    EntryPointName {
        /// The wheel.
        wheel: String,
        /// `console_scripts` or `gui_scripts`.
        section: &'static str,
        /// The script name.
        name: String,
    },

    // (8): RECORD.
    /// RECORD is not valid CSV of three fields.
    #[error("`RECORD` of wheel `{wheel}` is malformed at line {line}: {reason}")]
    RecordSyntax {
        /// The wheel.
        wheel: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A RECORD path breaks a name rule (absolute, `..`, ...).
    #[error("`RECORD` of wheel `{wheel}` lists an unsafe path `{path}`")]
    UnsafeRecordPath {
        /// The wheel.
        wheel: String,
        /// The path.
        path: String,
        /// The rule it breaks.
        #[source]
        rule: Box<WheelError>,
    },
    /// A path listed twice in RECORD.
    #[error("`RECORD` of wheel `{wheel}` lists `{entry}` twice")]
    RecordDuplicate {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
    },
    /// An archive file RECORD does not list (content no hash vouches for).
    #[error("entry `{entry}` of wheel `{wheel}` is not listed in `RECORD`")]
    NotInRecord {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
    },
    /// A RECORD path the archive does not hold.
    #[error("`RECORD` of wheel `{wheel}` lists `{entry}`, which the archive does not hold")]
    MissingFromArchive {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
    },
    /// A RECORD row without a hash (only RECORD and its signatures may have none).
    #[error("`RECORD` of wheel `{wheel}` has no hash for `{entry}`")]
    MissingHash {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
    },
    /// md5, sha1 or sha224: PEP 427 requires sha256 or stronger.
    #[error("`RECORD` of wheel `{wheel}` hashes `{entry}` with weak algorithm `{algorithm}`")]
    WeakHashAlgorithm {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
        /// The algorithm.
        algorithm: String,
    },
    /// An algorithm that is not a SHA-2 hash.
    #[error("`RECORD` of wheel `{wheel}` hashes `{entry}` with unknown algorithm `{algorithm}`")]
    UnknownHashAlgorithm {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
        /// The algorithm.
        algorithm: String,
    },
    /// A hex digest where the spec requires urlsafe-base64-nopad.
    #[error(
        "`RECORD` of wheel `{wheel}` has a hex digest for `{entry}`; the format requires urlsafe base64 without padding"
    )]
    HexDigest {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
    },
    /// A digest that is not canonical urlsafe-base64-nopad of the right length.
    #[error("`RECORD` of wheel `{wheel}` has a malformed hash `{value}` for `{entry}`")]
    MalformedDigest {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
        /// The hash field.
        value: String,
    },
    /// The content does not match RECORD's digest.
    #[error("entry `{entry}` of wheel `{wheel}` has hash `{actual}`, `RECORD` says `{expected}`")]
    RecordHashMismatch {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// From RECORD (`algorithm=digest`).
        expected: String,
        /// Computed, same form.
        actual: String,
    },
    /// The size field is not a number.
    #[error("`RECORD` of wheel `{wheel}` has an invalid size `{value}` for `{entry}`")]
    InvalidRecordSize {
        /// The wheel.
        wheel: String,
        /// The path.
        entry: String,
        /// The size field.
        value: String,
    },
    /// The content's size does not match RECORD's.
    #[error("entry `{entry}` of wheel `{wheel}` is {actual} bytes, `RECORD` says {expected}")]
    RecordSizeMismatch {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// From RECORD.
        expected: u64,
        /// Inflated.
        actual: u64,
    },

    // Unpacking.
    /// The staging directory is not empty (or not a directory).
    #[error("staging directory `{}` is not empty", dir.display())]
    StagingNotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// Writing the unpacked wheel failed.
    #[error("cannot unpack entry `{entry}` of wheel `{wheel}`")]
    Unpack {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// What the file system said (naming the path).
        #[source]
        source: std::io::Error,
    },
    /// The bytes unpacked differ from the bytes verified: the archive changed in between.
    #[error(
        "entry `{entry}` of wheel `{wheel}` changed between verification and unpacking (sha256 `{actual}`, verified `{expected}`)"
    )]
    ChangedSinceVerification {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// Hex sha256 at verification.
        expected: String,
        /// Hex sha256 while unpacking.
        actual: String,
    },
}

impl WheelError {
    /// Whether the file system failed (reading the archive, writing the unpacked files), rather
    /// than the wheel breaking a rule.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            Self::Io { .. } | Self::Unpack { .. } | Self::StagingNotEmpty { .. }
        )
    }
}
