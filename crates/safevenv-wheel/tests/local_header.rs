//! Local headers read as a streaming reader and a directory reader would: they must agree.
//!
//! The ZIP64 record (APPNOTE 4.5.3): every size a reader could take for an entry must be the
//! same number. Wheels written by the real writer, Python's `zipfile` (each pyenv CPython
//! 3.8+, seekable and streaming), are accepted and verified; generated variants whose
//! readings differ, or whose record is malformed, are refused. The UTF-8 flag must agree
//! only where it changes a name.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use safevenv_test_index::WheelSpec;
use safevenv_wheel::{Limits, Wheel, WheelError};
use sha2::{Digest, Sha256};
use uv_distribution_filename::WheelFilename;

const FILENAME: &str = "demo-1.0-py3-none-any.whl";
/// The entry whose local header the variants change; its deflated size differs from its size.
const TARGET: &str = "demo/__init__.py";

fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (TARGET, b"x = 1\n".repeat(40)),
        (
            "demo-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n".to_vec(),
        ),
        (
            "demo-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ]
}

fn record() -> Vec<u8> {
    let mut record = String::new();
    for (name, content) in files() {
        let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(&content));
        record.push_str(&format!("{name},sha256={digest},{}\n", content.len()));
    }
    record.push_str("demo-1.0.dist-info/RECORD,,\n");
    record.into_bytes()
}

fn open(bytes: Vec<u8>) -> Result<(), WheelError> {
    let filename = WheelFilename::from_str(FILENAME).unwrap();
    Wheel::from_reader(Cursor::new(bytes), FILENAME, &filename, &Limits::default()).map(|_| ())
}

/// The real sizes of the target entry, from which a variant builds its local header.
#[derive(Clone, Copy)]
struct Sizes {
    size: u64,
    compressed: u64,
}

/// The target entry's local header fields and what follows its data.
struct Local {
    size32: u32,
    compressed32: u32,
    extra: Vec<u8>,
    /// Bit 3: zero CRC placeholder, and this descriptor (signature included) after the data.
    descriptor: Option<Vec<u8>>,
}

impl Local {
    fn sizes(size32: u64, compressed32: u64, extra: Vec<u8>) -> Self {
        Self {
            size32: u32::try_from(size32).unwrap(),
            compressed32: u32::try_from(compressed32).unwrap(),
            extra,
            descriptor: None,
        }
    }
}

/// A ZIP64 extra record holding `values`.
fn zip64(values: &[u64]) -> Vec<u8> {
    zip64_declaring(u16::try_from(8 * values.len()).unwrap(), values)
}

/// A ZIP64 extra record whose header declares `len` bytes, followed by `values`.
fn zip64_declaring(len: u16, values: &[u64]) -> Vec<u8> {
    let mut record = 0x0001u16.to_le_bytes().to_vec();
    record.extend(len.to_le_bytes());
    for value in values {
        record.extend(value.to_le_bytes());
    }
    record
}

const MARKER: u64 = 0xFFFF_FFFF;

/// A wheel of [`files`] (deflated) and its RECORD; `local` gives the target's local header.
/// The central directory always holds the real 32-bit values.
fn wheel(local: impl Fn(Sizes) -> Local) -> Vec<u8> {
    let mut entries = files();
    entries.push(("demo-1.0.dist-info/RECORD", record()));
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, content) in &entries {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(content).unwrap();
        let data = encoder.finish().unwrap();
        let crc = crc32fast::hash(content);
        let sizes = Sizes {
            size: content.len() as u64,
            compressed: data.len() as u64,
        };
        let header = if *name == TARGET {
            local(sizes)
        } else {
            Local::sizes(sizes.size, sizes.compressed, Vec::new())
        };
        let offset = u32::try_from(out.len()).unwrap();
        let flags: u16 = if header.descriptor.is_some() { 8 } else { 0 };
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend(45u16.to_le_bytes());
        out.extend(flags.to_le_bytes());
        out.extend(8u16.to_le_bytes());
        out.extend([0; 4]);
        out.extend(if header.descriptor.is_some() { 0 } else { crc }.to_le_bytes());
        out.extend(header.compressed32.to_le_bytes());
        out.extend(header.size32.to_le_bytes());
        out.extend(u16::try_from(name.len()).unwrap().to_le_bytes());
        out.extend(u16::try_from(header.extra.len()).unwrap().to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(&header.extra);
        out.extend(&data);
        if let Some(descriptor) = &header.descriptor {
            out.extend(descriptor);
        }

        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(0x032du16.to_le_bytes());
        central.extend(45u16.to_le_bytes());
        central.extend(flags.to_le_bytes());
        central.extend(8u16.to_le_bytes());
        central.extend([0; 4]);
        central.extend(crc.to_le_bytes());
        central.extend(u32::try_from(sizes.compressed).unwrap().to_le_bytes());
        central.extend(u32::try_from(sizes.size).unwrap().to_le_bytes());
        central.extend(u16::try_from(name.len()).unwrap().to_le_bytes());
        central.extend([0; 8]);
        central.extend((0o100_644u32 << 16).to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).unwrap();
    let count = u16::try_from(entries.len()).unwrap();
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0; 4]);
    out.extend(count.to_le_bytes());
    out.extend(count.to_le_bytes());
    out.extend(u32::try_from(central.len()).unwrap().to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend([0; 2]);
    out
}

/// A data descriptor with its signature: 8-byte sizes when `wide`.
fn descriptor(crc: u32, sizes: Sizes, wide: bool) -> Vec<u8> {
    let mut bytes = 0x0807_4b50u32.to_le_bytes().to_vec();
    bytes.extend(crc.to_le_bytes());
    if wide {
        bytes.extend(sizes.compressed.to_le_bytes());
        bytes.extend(sizes.size.to_le_bytes());
    } else {
        bytes.extend(u32::try_from(sizes.compressed).unwrap().to_le_bytes());
        bytes.extend(u32::try_from(sizes.size).unwrap().to_le_bytes());
    }
    bytes
}

fn target_crc() -> u32 {
    crc32fast::hash(&files()[0].1)
}

#[test]
fn every_honest_local_zip64_layout_is_accepted() {
    type Layout = fn(Sizes) -> Local;
    let layouts: &[(&str, Layout)] = &[
        ("no ZIP64 record", |s| {
            Local::sizes(s.size, s.compressed, Vec::new())
        }),
        // protobuf's wheels and Python's zipfile before 3.11.
        ("real 32-bit sizes and a record holding the same two", |s| {
            Local::sizes(s.size, s.compressed, zip64(&[s.size, s.compressed]))
        }),
        // Python's zipfile from 3.11.
        ("both marked, a record holding both", |s| {
            Local::sizes(MARKER, MARKER, zip64(&[s.size, s.compressed]))
        }),
        // malo's accept/normal_deflate_zip64_extra.
        ("compressed size marked, a record holding it", |s| {
            Local::sizes(s.size, MARKER, zip64(&[s.compressed]))
        }),
        ("size marked, a record holding it", |s| {
            Local::sizes(MARKER, s.compressed, zip64(&[s.size]))
        }),
        // Read either way, a 16-byte record gives the same two sizes.
        ("size marked, a record holding both", |s| {
            Local::sizes(MARKER, s.compressed, zip64(&[s.size, s.compressed]))
        }),
        // Python's zipfile writing to an unseekable stream with force_zip64.
        ("data descriptor, zero placeholders in both", |s| Local {
            size32: 0,
            compressed32: 0,
            extra: zip64(&[0, 0]),
            descriptor: Some(descriptor(target_crc(), s, true)),
        }),
        ("data descriptor, real sizes in both", |s| Local {
            size32: u32::try_from(s.size).unwrap(),
            compressed32: u32::try_from(s.compressed).unwrap(),
            extra: zip64(&[s.size, s.compressed]),
            descriptor: Some(descriptor(target_crc(), s, true)),
        }),
        // malo's accept/data_descriptor_zip64: an empty record, 8-byte descriptor.
        ("data descriptor, empty record", |s| Local {
            size32: 0,
            compressed32: 0,
            extra: zip64(&[]),
            descriptor: Some(descriptor(target_crc(), s, true)),
        }),
    ];
    for (layout, local) in layouts {
        if let Err(error) = open(wheel(local)) {
            panic!("{layout}: refused: {error}");
        }
    }
}

/// The readings of a local header that can disagree with the central directory.
#[derive(Debug, Clone, Copy)]
enum Wrong {
    /// The 32-bit size, with a ZIP64 record holding the real two.
    Classic32Size,
    Classic32Compressed,
    /// The record's size (the 32-bit fields real, or marked).
    Zip64Size,
    Zip64Compressed,
    /// The record's two sizes swapped (they differ: the entry is deflated).
    Zip64Swapped,
}

#[test]
fn local_zip64_records_that_any_reader_reads_differently_are_refused() {
    let mut refused = 0;
    for delta in [1u64, 7, 0x1_0000_0000] {
        for marked in [false, true] {
            for wrong in [
                Wrong::Classic32Size,
                Wrong::Classic32Compressed,
                Wrong::Zip64Size,
                Wrong::Zip64Compressed,
                Wrong::Zip64Swapped,
            ] {
                let classic_wrong =
                    matches!(wrong, Wrong::Classic32Size | Wrong::Classic32Compressed);
                // The 32-bit fields cannot be wrong when marked, nor by more than they hold.
                if classic_wrong && (marked || delta > 0xFFFF) {
                    continue;
                }
                let bytes = wheel(|s| {
                    let (mut size32, mut compressed32) = if marked {
                        (MARKER, MARKER)
                    } else {
                        (s.size, s.compressed)
                    };
                    let (mut size, mut compressed) = (s.size, s.compressed);
                    match wrong {
                        Wrong::Classic32Size => size32 += delta,
                        Wrong::Classic32Compressed => compressed32 += delta,
                        Wrong::Zip64Size => size += delta,
                        Wrong::Zip64Compressed => compressed += delta,
                        Wrong::Zip64Swapped => (size, compressed) = (compressed, size),
                    }
                    Local::sizes(size32, compressed32, zip64(&[size, compressed]))
                });
                let result = open(bytes);
                assert!(
                    matches!(result, Err(WheelError::LocalHeaderMismatch { .. })),
                    "{wrong:?} by {delta}, marked {marked}: {result:?}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 22);
}

#[test]
fn a_16_byte_record_is_read_both_ways_and_both_must_agree() {
    // malo's iffy/zip64_extra_too_long: the size marked, the record's second value is not
    // the 32-bit compressed size a marked-fields reader keeps.
    let too_long = open(wheel(|s| {
        Local::sizes(MARKER, s.compressed, zip64(&[s.size, 0]))
    }));
    assert!(
        matches!(&too_long, Err(WheelError::LocalHeaderMismatch { field, .. })
            if field.contains("both sizes")),
        "{too_long:?}"
    );
    // The compressed size marked: a marked-fields reader takes the first value as the
    // compressed size, a both-sizes reader as the size.
    let compressed_first = open(wheel(|s| {
        Local::sizes(s.size, MARKER, zip64(&[s.size, s.compressed]))
    }));
    assert!(
        matches!(
            compressed_first,
            Err(WheelError::LocalHeaderMismatch { .. })
        ),
        "{compressed_first:?}"
    );
    // malo's malicious/short_usize_zip64: nothing marked, the record lengthens the file.
    let lengthened = open(wheel(|s| {
        Local::sizes(s.size, s.compressed, zip64(&[s.compressed, s.compressed]))
    }));
    assert!(
        matches!(lengthened, Err(WheelError::LocalHeaderMismatch { .. })),
        "{lengthened:?}"
    );
}

#[test]
fn malformed_local_zip64_records_are_refused() {
    type Layout = fn(Sizes) -> Local;
    let layouts: &[(&str, Layout)] = &[
        ("one size only, none marked", |s| {
            Local::sizes(s.size, s.compressed, zip64(&[s.size]))
        }),
        ("one size only, both marked", |s| {
            Local::sizes(MARKER, MARKER, zip64(&[s.size]))
        }),
        ("empty, both marked", |_| {
            Local::sizes(MARKER, MARKER, zip64(&[]))
        }),
        ("empty, size marked", |s| {
            Local::sizes(MARKER, s.compressed, zip64(&[]))
        }),
        ("three values, none marked", |s| {
            Local::sizes(s.size, s.compressed, zip64(&[s.size, s.compressed, 0]))
        }),
        ("three values, both marked", |s| {
            Local::sizes(MARKER, MARKER, zip64(&[s.size, s.compressed, 0]))
        }),
        ("a size marked, no record", |s| {
            Local::sizes(MARKER, s.compressed, Vec::new())
        }),
        ("both marked, no record", |_| {
            Local::sizes(MARKER, MARKER, Vec::new())
        }),
        ("declares 16 bytes, holds 8", |s| {
            Local::sizes(s.size, s.compressed, zip64_declaring(16, &[s.size]))
        }),
        ("declares 16 bytes, holds 15", |s| {
            let mut extra = zip64(&[s.size, s.compressed]);
            extra.pop();
            let mut declared = zip64_declaring(16, &[]);
            declared.extend(&extra[4..]);
            Local::sizes(s.size, s.compressed, declared)
        }),
        ("declares 8 bytes, holds 16", |s| {
            let mut extra = zip64_declaring(8, &[s.size]);
            extra.extend(s.compressed.to_le_bytes());
            Local::sizes(s.size, s.compressed, extra)
        }),
        ("a record header cut short", |s| {
            let mut extra = zip64(&[s.size, s.compressed]);
            extra.extend([1, 0]);
            Local::sizes(s.size, s.compressed, extra)
        }),
        ("two records", |s| {
            let mut extra = zip64(&[s.size, s.compressed]);
            extra.extend(zip64(&[s.size, s.compressed]));
            Local::sizes(s.size, s.compressed, extra)
        }),
    ];
    for (layout, local) in layouts {
        let result = open(wheel(local));
        assert!(
            matches!(
                result,
                Err(WheelError::MalformedExtraField { .. } | WheelError::DuplicateExtraField { .. })
            ),
            "{layout}: {result:?}"
        );
    }
}

#[test]
fn descriptor_placeholders_do_not_hide_a_disagreement() {
    for (layout, wrong_extra) in [
        ("record one larger", [1u64, 0]),
        ("record's compressed size one larger", [0, 1]),
    ] {
        let result = open(wheel(|s| Local {
            size32: 0,
            compressed32: 0,
            extra: zip64(&[s.size + wrong_extra[0], s.compressed + wrong_extra[1]]),
            descriptor: Some(descriptor(target_crc(), s, true)),
        }));
        assert!(
            matches!(result, Err(WheelError::LocalHeaderMismatch { .. })),
            "{layout}: {result:?}"
        );
    }
    let result = open(wheel(|s| Local {
        size32: 0,
        compressed32: 0,
        extra: zip64(&[0, 0]),
        descriptor: Some(descriptor(
            target_crc(),
            Sizes {
                size: s.size + 1,
                compressed: s.compressed,
            },
            true,
        )),
    }));
    assert!(
        matches!(result, Err(WheelError::DataDescriptorMismatch { .. })),
        "{result:?}"
    );
}

/// Writes, with Python's own `zipfile` and `force_zip64=True` for every entry, the wheel of
/// [`files`] twice: `seekable.whl` (headers rewritten with the real sizes) and `streaming.whl`
/// (an unseekable output: zero placeholders and 8-byte data descriptors).
const WRITER: &str = r#"
import base64, hashlib, json, os, sys, zipfile

files = json.loads(sys.argv[2])
out = sys.argv[1]

def write(zf):
    record = []
    for name, text in files:
        data = text.encode()
        with zf.open(name, "w", force_zip64=True) as f:
            f.write(data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}\n")
    record.append("demo-1.0.dist-info/RECORD,,\n")
    with zf.open("demo-1.0.dist-info/RECORD", "w", force_zip64=True) as f:
        f.write("".join(record).encode())

with zipfile.ZipFile(os.path.join(out, "seekable.whl"), "w", zipfile.ZIP_DEFLATED) as zf:
    write(zf)

class Unseekable:
    def __init__(self, f):
        self.f = f
    def write(self, data):
        return self.f.write(data)
    def flush(self):
        self.f.flush()

with open(os.path.join(out, "streaming.whl"), "wb") as raw:
    with zipfile.ZipFile(Unseekable(raw), "w", zipfile.ZIP_DEFLATED) as zf:
        write(zf)
"#;

/// Every pyenv CPython 3.8+: `(minor, python)`.
fn pyenv_interpreters() -> Vec<(u32, PathBuf)> {
    safevenv_test_index::pyenv_pythons()
        .into_iter()
        .map(|found| (found.minor, found.python))
        .collect()
}

/// The local header of `name`: its offset, 32-bit compressed size and size, and extra field.
fn local_header(bytes: &[u8], name: &str) -> (usize, u32, u32, Vec<u8>) {
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let at = (0..bytes.len())
        .find(|&at| {
            bytes[at..].starts_with(b"PK\x03\x04") && bytes[at + 30..].starts_with(name.as_bytes())
        })
        .unwrap();
    let extra_start = at + 30 + u16_at(at + 26);
    let extra = bytes[extra_start..extra_start + u16_at(at + 28)].to_vec();
    (at, u32_at(at + 18), u32_at(at + 22), extra)
}

fn open_file(path: &Path) -> Result<(), WheelError> {
    let filename = WheelFilename::from_str(FILENAME).unwrap();
    let inspected = Wheel::inspect(path, &filename)?;
    inspected.verify()?;
    let mut wheel = Wheel::open(path, &filename)?;
    let staging = tempfile::tempdir().unwrap();
    wheel.unpack_into(staging.path())?;
    assert_eq!(
        fs_err::read(staging.path().join(TARGET)).unwrap(),
        files()[0].1
    );
    Ok(())
}

#[test]
fn wheels_pythons_zipfile_writes_with_zip64_locals_install() {
    let interpreters = pyenv_interpreters();
    assert!(
        !interpreters.is_empty(),
        "no pyenv CPython 3.8+ found: this test needs the real writer, Python's zipfile"
    );
    let texts: Vec<(&str, String)> = files()
        .into_iter()
        .map(|(name, content)| (name, String::from_utf8(content).unwrap()))
        .collect();
    let argument = serde_json::to_string(&texts).unwrap();
    let mut real_sizes_seen = false;
    let mut markers_seen = false;
    for (minor, python) in &interpreters {
        let out = tempfile::tempdir().unwrap();
        let done = Command::new(python)
            .args(["-c", WRITER])
            .arg(out.path())
            .arg(&argument)
            .output()
            .unwrap();
        assert!(
            done.status.success(),
            "3.{minor}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        let seekable = out.path().join("seekable.whl");
        let streaming = out.path().join("streaming.whl");
        for path in [&seekable, &streaming] {
            if let Err(error) = open_file(path) {
                panic!("3.{minor}: {} refused: {error}", path.display());
            }
        }

        // What the writer wrote: both sizes in the record, 32-bit fields real or marked.
        let bytes = fs_err::read(&seekable).unwrap();
        let (at, compressed32, size32, extra) = local_header(&bytes, TARGET);
        assert_eq!(&extra[..4], &[1, 0, 16, 0], "3.{minor}: {extra:?}");
        let size = u64::from_le_bytes(extra[4..12].try_into().unwrap());
        let compressed = u64::from_le_bytes(extra[12..20].try_into().unwrap());
        if (u64::from(size32), u64::from(compressed32)) == (size, compressed) {
            real_sizes_seen = true;
        } else {
            assert_eq!((size32, compressed32), (u32::MAX, u32::MAX), "3.{minor}");
            markers_seen = true;
        }

        // The writer's own bytes with one record value changed (same length): refused.
        let values_at = at + 30 + TARGET.len() + 4;
        for (field, offset, delta) in [("size", 0, 1u64), ("compressed size", 8, 1)] {
            let mut hostile = bytes.clone();
            let value = u64::from_le_bytes(
                hostile[values_at + offset..values_at + offset + 8]
                    .try_into()
                    .unwrap(),
            );
            hostile[values_at + offset..values_at + offset + 8]
                .copy_from_slice(&(value + delta).to_le_bytes());
            let result = open(hostile);
            assert!(
                matches!(result, Err(WheelError::LocalHeaderMismatch { .. })),
                "3.{minor}: record {field} changed: {result:?}"
            );
        }
    }
    // Each layout is covered only if some interpreter writes it: before 3.11 and after.
    let minors: Vec<u32> = interpreters.iter().map(|(minor, _)| *minor).collect();
    assert_eq!(
        real_sizes_seen,
        minors.iter().any(|&minor| minor < 11),
        "{minors:?}"
    );
    assert_eq!(
        markers_seen,
        minors.iter().any(|&minor| minor >= 11),
        "{minors:?}"
    );
}

/// Sets or clears the UTF-8 flag (bit 11) of `name`'s local header or central record.
fn set_utf8_flag(bytes: &mut [u8], name: &str, central: bool, on: bool) {
    let (signature, name_at): (&[u8], usize) = if central {
        (b"PK\x01\x02", 46)
    } else {
        (b"PK\x03\x04", 30)
    };
    let at = (0..bytes.len())
        .find(|&at| {
            bytes[at..].starts_with(signature) && bytes[at + name_at..].starts_with(name.as_bytes())
        })
        .unwrap();
    let flags_at = at + if central { 8 } else { 6 };
    let mut flags = u16::from_le_bytes([bytes[flags_at], bytes[flags_at + 1]]);
    if on {
        flags |= 1 << 11;
    } else {
        flags &= !(1 << 11);
    }
    bytes[flags_at..flags_at + 2].copy_from_slice(&flags.to_le_bytes());
}

#[test]
fn the_utf8_flag_must_agree_only_where_it_changes_the_name() {
    let non_ascii = "demo/caf\u{e9}.py";
    let built = WheelSpec::new("demo", "1.0")
        .file(TARGET, "x = 1\n")
        .file(non_ascii, "y = 2\n")
        .build()
        .unwrap();
    assert!(open(built.bytes.clone()).is_ok());
    // An ASCII name reads the same under CP437 and UTF-8: a flag on one side only is harmless.
    for central in [false, true] {
        let mut bytes = built.bytes.clone();
        set_utf8_flag(&mut bytes, TARGET, central, true);
        let result = open(bytes);
        assert!(
            result.is_ok(),
            "ASCII, flag set in central {central}: {result:?}"
        );
    }
    // A non-ASCII name flagged on one side only is two names.
    let mut bytes = built.bytes.clone();
    set_utf8_flag(&mut bytes, non_ascii, false, false);
    let result = open(bytes);
    assert!(
        matches!(
            result,
            Err(WheelError::LocalHeaderMismatch { field: "flags", .. })
        ),
        "{result:?}"
    );
}
