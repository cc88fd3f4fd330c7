//! Each check of `Wheel::open` with a hostile wheel it refuses and a good one it accepts.

use std::io::{Cursor, Read, Write};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use safevenv_test_index::WheelSpec;
use safevenv_wheel::{
    Category, DataCategory, Limits, PthLineKind, VerifiedWheel, Wheel, WheelError,
};
use sha2::{Digest, Sha256, Sha512};
use uv_distribution_filename::WheelFilename;
use zip::write::SimpleFileOptions;

type Verified = VerifiedWheel<Cursor<Vec<u8>>>;

fn open_as(bytes: Vec<u8>, filename: &str, limits: &Limits) -> Result<Verified, WheelError> {
    let parsed = WheelFilename::from_str(filename).unwrap();
    Wheel::from_reader(Cursor::new(bytes), filename, &parsed, limits)
}

fn open(bytes: Vec<u8>) -> Result<Verified, WheelError> {
    open_as(bytes, "demo-1.0-py3-none-any.whl", &Limits::default())
}

fn bytes_of(spec: &WheelSpec) -> Vec<u8> {
    spec.build().unwrap().bytes
}

fn open_spec(spec: &WheelSpec) -> Result<Verified, WheelError> {
    let built = spec.build().unwrap();
    open_as(built.bytes, &built.filename, &Limits::default())
}

fn demo() -> WheelSpec {
    WheelSpec::new("demo", "1.0")
}

fn record_hash(bytes: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

const METADATA: &str = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n";
const WHEEL: &str =
    "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";

/// A wheel written entry by entry, with a correct RECORD for `demo-1.0.dist-info`.
fn hand_wheel(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut record = String::new();
    for (name, contents) in entries {
        writer
            .start_file(*name, SimpleFileOptions::default())
            .unwrap();
        writer.write_all(contents.as_bytes()).unwrap();
        record.push_str(&format!(
            "{name},{},{}\n",
            record_hash(contents.as_bytes()),
            contents.len()
        ));
    }
    writer
        .start_file("demo-1.0.dist-info/RECORD", SimpleFileOptions::default())
        .unwrap();
    record.push_str("demo-1.0.dist-info/RECORD,,\n");
    writer.write_all(record.as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

fn hand_demo(wheel: &str, metadata: &str) -> Vec<u8> {
    hand_wheel(&[
        ("demo/__init__.py", "x = 1\n"),
        ("demo-1.0.dist-info/METADATA", metadata),
        ("demo-1.0.dist-info/WHEEL", wheel),
    ])
}

/// Offsets of the local header and central directory record of entry `name`.
fn headers_of(bytes: &[u8], name: &str) -> (usize, usize) {
    let find = |signature: &[u8], name_at: usize| {
        (0..bytes.len() - name_at - name.len())
            .find(|&at| {
                bytes[at..].starts_with(signature)
                    && bytes[at + name_at..].starts_with(name.as_bytes())
            })
            .unwrap()
    };
    (find(b"PK\x03\x04", 30), find(b"PK\x01\x02", 46))
}

fn replace_all(bytes: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mut at = 0;
    while let Some(found) = bytes[at..]
        .windows(from.len())
        .position(|w| w == from.as_bytes())
    {
        bytes[at + found..at + found + to.len()].copy_from_slice(to.as_bytes());
        at += found + to.len();
    }
}

fn record_of(spec: &WheelSpec) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes_of(spec))).unwrap();
    let mut file = archive.by_name("demo-1.0.dist-info/RECORD").unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text
}

fn with_record(
    spec: &WheelSpec,
    edit: impl FnOnce(String) -> String,
) -> Result<Verified, WheelError> {
    let record = edit(record_of(spec));
    open_spec(&spec.clone().record_override(&record))
}

#[test]
fn good_wheel_is_accepted_with_its_facts() {
    let spec = WheelSpec::new("Demo.Pkg", "1.0")
        .file("demo_pkg/__init__.py", "def main(): pass\n")
        .file("single.py", "x = 1\n")
        .file("ext.cpython-312-x86_64-linux-gnu.so", vec![0u8; 64])
        .file(
            "demo_pkg-init.pth",
            "import os; os.getcwd()\n/opt/extra\n# comment\n",
        )
        .data_file("scripts/tool", "#!python\nprint(1)\n")
        .data_file("purelib/extra_mod.py", "y = 2\n")
        .unix_mode("demo_pkg-1.0.data/scripts/tool", 0o755)
        .console_script("tool", "demo_pkg:main")
        .gui_script("gtool", "demo_pkg:main");
    let wheel = open_spec(&spec).unwrap();

    assert_eq!(wheel.dist_info(), "demo_pkg-1.0.dist-info");
    assert_eq!(wheel.data_dir(), Some("demo_pkg-1.0.data"));
    assert!(wheel.root_is_purelib());
    assert_eq!(wheel.wheel_version(), (1, 0));
    assert!(!wheel.is_newer_minor_version());
    let names: Vec<String> = wheel.top_level_names().into_iter().collect();
    assert_eq!(names, ["demo_pkg", "ext", "extra_mod", "single"]);

    let pth = wheel.pth_files();
    assert_eq!(pth.len(), 1);
    assert!(pth[0].executes_code());
    let kinds: Vec<PthLineKind> = pth[0].lines.iter().map(|line| line.kind).collect();
    assert_eq!(
        kinds,
        [
            PthLineKind::Executable,
            PthLineKind::Path,
            PthLineKind::Skipped
        ]
    );

    assert_eq!(wheel.entry_points().console_scripts[0].name, "tool");
    assert_eq!(wheel.entry_points().gui_scripts[0].target, "demo_pkg:main");
    assert!(wheel.metadata().contains("Name: Demo.Pkg"));

    let (tool, tool_sha256) = wheel
        .files()
        .iter()
        .zip(wheel.sha256s())
        .find(|(f, _)| f.path.ends_with("scripts/tool"))
        .unwrap();
    assert_eq!(tool.category, Category::Data(DataCategory::Scripts));
    assert_eq!(tool.install_path, "tool");
    assert!(tool.executable);
    assert_eq!(
        *tool_sha256,
        <[u8; 32]>::from(Sha256::digest(b"#!python\nprint(1)\n"))
    );
    let init = wheel
        .files()
        .iter()
        .find(|f| f.path == "demo_pkg/__init__.py")
        .unwrap();
    assert_eq!(init.category, Category::Root);
    assert!(!init.executable);
    let record = wheel
        .files()
        .iter()
        .find(|f| f.path.ends_with("RECORD"))
        .unwrap();
    assert_eq!(record.category, Category::DistInfo);
    let total: u64 = wheel.files().iter().map(|f| f.size).sum();
    assert_eq!(wheel.uncompressed_size(), total);
    assert!(wheel.compressed_size() > 0);
}

// `.pth` files are read from their bytes, the way site.py reads them.

#[test]
fn pth_files_are_split_at_every_line_end_python_knows() {
    // Python 3.8 to 3.12 end a line at a bare `\r`, 3.13 also at `\x0c`, and 3.13 strips a BOM:
    // each hides an `import` line from a reader splitting at `\n` only.
    let hostile: [&[u8]; 4] = [
        b"/opt/x\rimport os; os.system('id')\n",
        b"# note\x0cimport os; os.system('id')\n",
        b"\xef\xbb\xbfimport os; os.system('id')\n",
        // Not UTF-8: a locale decoding decides where its lines end (0x85 is U+0085 in Latin-1).
        b"/opt/x\x85import os; os.system('id')\n",
    ];
    for content in hostile {
        let spec = demo()
            .file("demo/__init__.py", "")
            .file("demo.pth", content);
        let wheel = open_spec(&spec).unwrap();
        assert!(wheel.pth_files()[0].executes_code(), "{content:?}");
    }
    let honest = demo()
        .file("demo/__init__.py", "")
        .file("demo.pth", "\u{feff}/opt/caf\u{e9}\r\n# import os\r\n\r\n");
    let wheel = open_spec(&honest).unwrap();
    let kinds: Vec<PthLineKind> = wheel.pth_files()[0]
        .lines
        .iter()
        .map(|line| line.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            PthLineKind::Path,
            PthLineKind::Skipped,
            PthLineKind::Skipped
        ]
    );
}

#[test]
fn dist_info_text_that_is_not_utf8_is_refused() {
    let spec = demo().file("demo/__init__.py", "").file(
        "demo-1.0.dist-info/entry_points.txt",
        b"[console_scripts]\n\xff = x:y\n".to_vec(),
    );
    assert!(matches!(
        open_spec(&spec),
        Err(WheelError::NotUtf8 { entry, .. }) if entry == "demo-1.0.dist-info/entry_points.txt"
    ));
    let spec = demo().file("demo/__init__.py", "").file(
        "demo-1.0.dist-info/entry_points.txt",
        "[console_scripts]\nx = x:y\n",
    );
    assert!(open_spec(&spec).is_ok());
}

// (1): a real zip.

#[test]
fn refuses_what_is_not_a_zip() {
    assert!(matches!(
        open(b"<html>not found</html>".repeat(4)),
        Err(WheelError::NotAZip { .. })
    ));
    let mut truncated = bytes_of(&demo());
    truncated.truncate(truncated.len() - 10);
    assert!(matches!(open(truncated), Err(WheelError::NotAZip { .. })));
}

#[test]
fn refuses_prefixed_and_concatenated_archives() {
    let good = bytes_of(&demo());
    let mut prefixed = b"#!/bin/sh\nexit 0\n".to_vec();
    prefixed.extend_from_slice(&good);
    let error = open(prefixed).unwrap_err();
    assert!(
        matches!(error, WheelError::UnaccountedBytes { .. }),
        "{error:?}"
    );
    let mut twice = good.clone();
    twice.extend_from_slice(&good);
    // The first archive's bytes belong to no entry of the second.
    let error = open(twice).unwrap_err();
    assert!(
        matches!(
            error,
            WheelError::UnaccountedBytes { .. } | WheelError::BadSignature { .. }
        ),
        "{error:?}"
    );
    // An archive comment hiding another end record is ambiguous.
    let mut hidden = good.clone();
    let comment = b"PK\x05\x06 hidden end record";
    let at = hidden.len() - 2;
    hidden[at..].copy_from_slice(&(comment.len() as u16).to_le_bytes());
    hidden.extend_from_slice(comment);
    assert!(matches!(open(hidden), Err(WheelError::AmbiguousEnd { .. })));
    let mut commented = good.clone();
    let comment = b"built by test";
    commented[at..].copy_from_slice(&(comment.len() as u16).to_le_bytes());
    commented.extend_from_slice(comment);
    assert!(open(commented).is_ok());
    assert!(open(good).is_ok());
}

#[test]
fn refuses_corrupt_entry_data() {
    let spec = demo().file("demo/__init__.py", "print('hello')\n".repeat(50));
    let mut bytes = bytes_of(&spec);
    let (local, _) = headers_of(&bytes, "demo/__init__.py");
    let data = local + 30 + "demo/__init__.py".len() + 5;
    bytes[data] ^= 0x55;
    let error = open(bytes).unwrap_err();
    assert!(
        matches!(
            error,
            WheelError::Inflate { .. }
                | WheelError::CrcMismatch { .. }
                | WheelError::SizeMismatch { .. }
                | WheelError::CompressedSizeMismatch { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn refuses_encrypted_entries_and_unknown_methods() {
    let good = bytes_of(&demo());
    let (local, central) = headers_of(&good, "demo/__init__.py");

    let mut encrypted = good.clone();
    encrypted[local + 6] |= 1;
    encrypted[central + 8] |= 1;
    assert!(matches!(open(encrypted), Err(WheelError::Encrypted { .. })));

    let mut bzip2 = good.clone();
    bzip2[local + 8] = 12;
    bzip2[central + 10] = 12;
    assert!(matches!(
        open(bzip2),
        Err(WheelError::UnsupportedCompression { method: 12, .. })
    ));
}

#[test]
fn refuses_local_header_that_disagrees_with_central_directory() {
    let mut bytes = bytes_of(&demo());
    let (local, _) = headers_of(&bytes, "demo/__init__.py");
    bytes[local + 30] = b'x';
    assert!(matches!(
        open(bytes),
        Err(WheelError::LocalHeaderMismatch { field: "name", .. })
    ));
}

#[test]
fn refuses_overlapping_entries() {
    let spec = demo()
        .file("demo/__init__.py", "a")
        .file("demo/other.py", "b");
    let mut bytes = bytes_of(&spec);
    let (_, central) = headers_of(&bytes, "demo/other.py");
    bytes[central + 42..central + 46].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        open(bytes),
        Err(WheelError::OverlappingEntries { .. })
    ));
}

#[test]
fn refuses_a_header_that_understates_the_size() {
    let spec = demo().file("demo/__init__.py", "x".repeat(100));
    let mut bytes = bytes_of(&spec);
    let (local, central) = headers_of(&bytes, "demo/__init__.py");
    bytes[local + 22..local + 26].copy_from_slice(&10u32.to_le_bytes());
    bytes[central + 24..central + 28].copy_from_slice(&10u32.to_le_bytes());
    // Caught while inflating, after 10 bytes — not by trusting the header.
    assert!(matches!(
        open(bytes),
        Err(WheelError::SizeMismatch { declared: 10, .. })
    ));
}

// (2): entry names.

/// Whether an error is the expected variant.
type Expect = fn(&WheelError) -> bool;

#[test]
fn refuses_unsafe_names() {
    let cases: &[(&str, Expect)] = &[
        ("../evil.py", |e| {
            matches!(e, WheelError::PathTraversal { .. })
        }),
        ("demo/../../evil.py", |e| {
            matches!(e, WheelError::PathTraversal { .. })
        }),
        ("/etc/evil.py", |e| {
            matches!(e, WheelError::AbsolutePath { .. })
        }),
        ("demo\\..\\evil.py", |e| {
            matches!(e, WheelError::Backslash { .. })
        }),
        ("C:/evil.py", |e| matches!(e, WheelError::Colon { .. })),
        ("demo/a\u{0}b.py", |e| {
            matches!(e, WheelError::ControlCharacter { .. })
        }),
        ("demo/\u{1b}[2J.py", |e| {
            matches!(e, WheelError::ControlCharacter { .. })
        }),
        ("demo//a.py", |e| {
            matches!(e, WheelError::EmptyComponent { .. })
        }),
        ("./demo/a.py", |e| {
            matches!(e, WheelError::EmptyComponent { .. })
        }),
        ("demo/Init.py", |e| {
            matches!(e, WheelError::CaseCollision { .. })
        }),
        ("demo", |e| {
            matches!(e, WheelError::FileDirectoryConflict { .. })
        }),
    ];
    for (name, expected) in cases {
        let spec = demo()
            .file("demo/__init__.py", "")
            .file("demo/init.py", "")
            .raw_entry(name, "x");
        let error = open_spec(&spec).unwrap_err();
        assert!(expected(&error), "{name:?}: {error:?}");
    }
}

/// Issue #12 §8: within one wheel, names one by Unicode normalisation (and case) collide.
#[test]
fn refuses_names_that_differ_only_by_normalisation() {
    for (first, second) in [
        ("demo/caf\u{e9}.py", "demo/cafe\u{301}.py"),
        ("demo/Caf\u{e9}.py", "demo/cafe\u{301}.py"),
        ("demo/\u{c5}/x.py", "demo/\u{212b}/x.py"),
        ("demo/\u{212a}.py", "demo/k.py"),
    ] {
        let spec = demo()
            .file("demo/__init__.py", "")
            .file(first, "")
            .file(second, "");
        let error = open_spec(&spec).unwrap_err();
        assert!(
            matches!(error, WheelError::CaseCollision { .. }),
            "{first:?} {second:?}: {error:?}"
        );
    }
    // Different letters are different files.
    let spec = demo()
        .file("demo/__init__.py", "")
        .file("demo/caf\u{e9}.py", "")
        .file("demo/cafe.py", "");
    assert!(open_spec(&spec).is_ok());
}

#[test]
fn refuses_names_too_long_for_the_file_system() {
    let long_component = format!("demo/{}.py", "a".repeat(253));
    let long_name = format!("demo/{}/x.py", vec!["b".repeat(200); 6].join("/"));
    for (name, what) in [
        (long_component.as_str(), "a path component"),
        (long_name.as_str(), "the name"),
    ] {
        let spec = demo().file("demo/__init__.py", "").raw_entry(name, "x");
        let error = open_spec(&spec).unwrap_err();
        assert!(
            matches!(&error, WheelError::NameTooLong { what: found, .. } if *found == what),
            "{error:?}"
        );
        // The same rule holds for RECORD paths.
        let listed = with_record(&demo(), |r| format!("{r}{name},{},1\n", record_hash(b"x")));
        assert!(
            matches!(&listed, Err(WheelError::UnsafeRecordPath { rule, .. })
                if matches!(**rule, WheelError::NameTooLong { .. })),
            "{listed:?}"
        );
    }
}

#[test]
fn accepts_names_at_the_length_limits() {
    // 255-byte components, 1024 bytes in all.
    let component = format!("demo/{}.py", "a".repeat(252));
    let mut name = format!("demo/{}/", vec!["b".repeat(255); 3].join("/"));
    name.push_str(&"c".repeat(1024 - name.len()));
    assert_eq!(component.len() - "demo/".len(), 255);
    assert_eq!(name.len(), 1024);
    let spec = demo()
        .file("demo/__init__.py", "")
        .file(&component, "1")
        .file(&name, "2");
    let mut wheel = open_spec(&spec).unwrap();
    assert!(wheel.files().iter().any(|f| f.path == component));
    assert!(wheel.files().iter().any(|f| f.path == name));
    // And the file system takes them.
    let staging = tempfile::tempdir().unwrap();
    wheel.unpack_into(staging.path()).unwrap();
    assert!(staging.path().join(&name).is_file());
}

#[test]
fn refuses_duplicate_names() {
    let spec = demo().file("demo/a.py", "1").file("demo/b.py", "2");
    let mut bytes = bytes_of(&spec);
    replace_all(&mut bytes, "demo/b.py", "demo/a.py");
    assert!(matches!(
        open(bytes),
        Err(WheelError::DuplicateEntry { .. })
    ));
}

#[test]
fn refuses_non_ascii_names_without_the_utf8_flag() {
    let spec = demo().file("demo/__init__.py", "").file("demo/xyz.py", "1");
    let mut bytes = bytes_of(&spec);
    let (local, central) = headers_of(&bytes, "demo/xyz.py");
    bytes[local + 35] = 0xe9;
    bytes[central + 51] = 0xe9;
    assert!(matches!(
        open(bytes),
        Err(WheelError::AmbiguousNameEncoding { .. })
    ));
}

#[test]
fn accepts_utf8_names() {
    let spec = demo()
        .file("demo/__init__.py", "")
        .file("demo/café.py", "1");
    let wheel = open_spec(&spec).unwrap();
    assert!(wheel.files().iter().any(|f| f.path == "demo/café.py"));
}

// (3): entry types.

#[test]
fn refuses_symlinks() {
    let spec = demo().symlink_entry("demo/passwd", "/etc/passwd");
    assert!(matches!(open_spec(&spec), Err(WheelError::Symlink { .. })));
}

fn with_mode(mode: u32) -> Vec<u8> {
    let spec = demo().file("demo/__init__.py", "").file("demo/node", "x");
    let mut bytes = bytes_of(&spec);
    let (_, central) = headers_of(&bytes, "demo/node");
    bytes[central + 5] = 3; // made on unix
    bytes[central + 38..central + 42].copy_from_slice(&(mode << 16).to_le_bytes());
    bytes
}

#[test]
fn refuses_devices_and_fifos() {
    assert!(matches!(
        open(with_mode(0o010_644)),
        Err(WheelError::SpecialFile { .. })
    ));
    assert!(matches!(
        open(with_mode(0o020_644)),
        Err(WheelError::SpecialFile { .. })
    ));
    assert!(open(with_mode(0o100_644)).is_ok());
}

// (4): bomb limits.

#[test]
fn enforces_entry_and_size_limits() {
    let spec = demo().file("demo/__init__.py", "x".repeat(1000));
    let few = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let built = spec.build().unwrap();
    assert!(matches!(
        open_as(built.bytes.clone(), &built.filename, &few),
        Err(WheelError::TooManyEntries { .. })
    ));
    let small = Limits {
        max_total_uncompressed: 500,
        ..Limits::default()
    };
    assert!(matches!(
        open_as(built.bytes.clone(), &built.filename, &small),
        Err(WheelError::TooLarge { .. })
    ));
    let tiny_text = Limits {
        max_text_file: 10,
        ..Limits::default()
    };
    assert!(matches!(
        open_as(built.bytes.clone(), &built.filename, &tiny_text),
        Err(WheelError::TextFileTooLarge { .. })
    ));
    assert!(open_as(built.bytes, &built.filename, &Limits::default()).is_ok());
}

/// The central directory's size as the end record (the archive's last 22 bytes, no comment)
/// declares it.
fn declared_central_directory_size(bytes: &[u8]) -> u64 {
    let end = &bytes[bytes.len() - 22..];
    assert_eq!(&end[..4], b"PK\x05\x06", "an end record without a comment");
    u64::from(u32::from_le_bytes([end[12], end[13], end[14], end[15]]))
}

/// Issue #12 §8: the central directory is read into memory whole, so its declared size is
/// bounded by `Limits` before that read, for honest sizes just past the limit and forged ones.
#[test]
fn a_central_directory_past_the_limit_is_refused_before_it_is_read() {
    for files in [1, 7, 60] {
        let mut spec = demo().file("demo/__init__.py", "");
        for index in 0..files {
            spec = spec.file(&format!("demo/module_{index}.py"), "x = 1\n");
        }
        let built = spec.build().unwrap();
        let size = declared_central_directory_size(&built.bytes);
        let just_below = Limits {
            max_central_directory: size - 1,
            ..Limits::default()
        };
        assert!(
            matches!(
                open_as(built.bytes.clone(), &built.filename, &just_below),
                Err(WheelError::CentralDirectoryTooLarge { size: declared, .. }) if declared == size
            ),
            "{files} files"
        );
        let exact = Limits {
            max_central_directory: size,
            ..Limits::default()
        };
        assert!(open_as(built.bytes.clone(), &built.filename, &exact).is_ok());

        // A forged size, far past the file itself, is refused by the limit, not read.
        let mut forged = built.bytes.clone();
        let at = forged.len() - 22 + 12;
        forged[at..at + 4].copy_from_slice(&0xFFFF_FF00_u32.to_le_bytes());
        assert!(matches!(
            open_as(forged, &built.filename, &Limits::default()),
            Err(WheelError::CentralDirectoryTooLarge { .. })
        ));
    }
}

#[test]
fn enforces_the_compression_ratio() {
    let spec = demo()
        .file("demo/__init__.py", "")
        .file("demo/zeros.bin", vec![0u8; 4 << 20]);
    let built = spec.build().unwrap();
    let strict = Limits {
        ratio_threshold: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    assert!(matches!(
        open_as(built.bytes.clone(), &built.filename, &strict),
        Err(WheelError::CompressionRatio { .. })
    ));
    assert!(open_as(built.bytes, &built.filename, &Limits::default()).is_ok());
}

// (5): the .dist-info and .data directories.

#[test]
fn refuses_a_second_dist_info() {
    let spec = demo().raw_entry("other-1.0.dist-info/METADATA", METADATA);
    assert!(matches!(
        open_spec(&spec),
        Err(WheelError::MultipleDistInfo { .. })
    ));
}

#[test]
fn refuses_dist_info_of_another_distribution() {
    let bytes = bytes_of(&demo());
    let error = open_as(
        bytes.clone(),
        "other-1.0-py3-none-any.whl",
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, WheelError::DirectoryNameMismatch { .. }),
        "{error:?}"
    );
    let error = open_as(
        bytes.clone(),
        "demo-2.0-py3-none-any.whl",
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, WheelError::DirectoryNameMismatch { .. }),
        "{error:?}"
    );
    // Normalization: `Demo` and `1.0.0` name the same distribution as `demo-1.0`.
    assert!(open_as(bytes, "Demo-1.0.0-py3-none-any.whl", &Limits::default()).is_ok());
}

#[test]
fn refuses_bad_data_directories() {
    let wrong = demo().raw_entry("wrong-2.0.data/scripts/x", "x");
    assert!(matches!(
        open_spec(&wrong),
        Err(WheelError::DirectoryNameMismatch { .. })
    ));
    let two = demo()
        .data_file("scripts/x", "x")
        .raw_entry("demo-1.0.0.data/scripts/y", "y");
    assert!(matches!(
        open_spec(&two),
        Err(WheelError::MultipleDataDirs { .. })
    ));
    let unknown = demo().data_file("bogus/x", "x");
    assert!(matches!(
        open_spec(&unknown),
        Err(WheelError::UnknownDataCategory { .. })
    ));
    let loose = demo().data_file("x", "x");
    assert!(matches!(
        open_spec(&loose),
        Err(WheelError::UnknownDataCategory { .. })
    ));
    let good = demo()
        .data_file("headers/demo.h", "int x;")
        .data_file("data/share/demo.txt", "t");
    assert!(open_spec(&good).is_ok());
}

#[test]
fn refuses_missing_dist_info_files() {
    let no_dist_info = hand_wheel(&[("demo/__init__.py", "")]);
    // hand_wheel adds only RECORD, which makes the dist-info; strip it to a bare zip.
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file("demo/__init__.py", SimpleFileOptions::default())
        .unwrap();
    let bare = writer.finish().unwrap().into_inner();
    assert!(matches!(open(bare), Err(WheelError::NoDistInfo { .. })));
    assert!(matches!(
        open(no_dist_info),
        Err(WheelError::MissingDistInfoFile { file, .. }) if file.ends_with("/WHEEL")
    ));
}

// (6): WHEEL.

#[test]
fn checks_wheel_version_and_root_is_purelib() {
    let two = hand_demo("Wheel-Version: 2.0\nRoot-Is-Purelib: true\n", METADATA);
    assert!(matches!(
        open(two),
        Err(WheelError::UnsupportedWheelVersion { .. })
    ));
    let bad = hand_demo("Wheel-Version: 1.0\nRoot-Is-Purelib: maybe\n", METADATA);
    assert!(matches!(
        open(bad),
        Err(WheelError::InvalidRootIsPurelib { .. })
    ));
    let missing = hand_demo("Root-Is-Purelib: true\n", METADATA);
    assert!(matches!(
        open(missing),
        Err(WheelError::WheelFieldMissing {
            field: "Wheel-Version",
            ..
        })
    ));

    let newer = open(hand_demo(
        "Wheel-Version: 1.9\nRoot-Is-Purelib: false\n",
        METADATA,
    ))
    .unwrap();
    assert_eq!(newer.wheel_version(), (1, 9));
    assert!(newer.is_newer_minor_version());
    assert!(!newer.root_is_purelib());
}

// (7): METADATA.

#[test]
fn checks_metadata_name_and_version() {
    let other = hand_demo(WHEEL, "Metadata-Version: 2.1\nName: other\nVersion: 1.0\n");
    assert!(matches!(
        open(other),
        Err(WheelError::MetadataNameMismatch { .. })
    ));
    let newer = hand_demo(WHEEL, "Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n");
    assert!(matches!(
        open(newer),
        Err(WheelError::MetadataVersionMismatch { .. })
    ));
    let nameless = hand_demo(WHEEL, "Metadata-Version: 2.1\nVersion: 1.0\n");
    assert!(matches!(
        open(nameless),
        Err(WheelError::MetadataFieldMissing { field: "Name", .. })
    ));
    // Same distribution, spelled differently.
    assert!(
        open(hand_demo(
            WHEEL,
            "Metadata-Version: 2.1\nName: DEMO\nVersion: 1.0.0\n"
        ))
        .is_ok()
    );
}

// (8): RECORD.

#[test]
fn refuses_files_missing_from_record() {
    let spec = demo().raw_entry("demo/backdoor.py", "import os");
    assert!(
        matches!(open_spec(&spec), Err(WheelError::NotInRecord { entry, .. }) if entry == "demo/backdoor.py")
    );
    let dropped = with_record(&demo(), |record| {
        record
            .lines()
            .filter(|l| !l.starts_with("demo/__init__.py"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    assert!(matches!(dropped, Err(WheelError::NotInRecord { .. })));
}

#[test]
fn refuses_record_rows_for_absent_files() {
    let result = with_record(&demo(), |record| {
        format!("{record}demo/ghost.py,{},1\n", record_hash(b"x"))
    });
    assert!(matches!(result, Err(WheelError::MissingFromArchive { .. })));
}

#[test]
fn refuses_hash_and_size_mismatches() {
    let init = "__version__ = \"1.0\"\n";
    let right = record_hash(init.as_bytes());
    let wrong = with_record(&demo(), |r| r.replace(&right, &record_hash(b"other")));
    assert!(matches!(wrong, Err(WheelError::RecordHashMismatch { .. })));
    let size = with_record(&demo(), |r| {
        r.replace(&format!("{right},{}", init.len()), &format!("{right},999"))
    });
    assert!(matches!(
        size,
        Err(WheelError::RecordSizeMismatch { expected: 999, .. })
    ));
}

#[test]
fn refuses_weak_hex_and_missing_hashes() {
    let init = "__version__ = \"1.0\"\n";
    let right = record_hash(init.as_bytes());
    let md5 = with_record(&demo(), |r| r.replace(&right, "md5=1B2M2Y8AsgTpgAmY7PhCfg"));
    assert!(matches!(md5, Err(WheelError::WeakHashAlgorithm { .. })));
    let sha1 = with_record(&demo(), |r| {
        r.replace(&right, "sha1=2jmj7l5rSw0yVb_vlWAYkK_YBwk")
    });
    assert!(matches!(sha1, Err(WheelError::WeakHashAlgorithm { .. })));
    let hex: String = Sha256::digest(init.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hexed = with_record(&demo(), |r| r.replace(&right, &format!("sha256={hex}")));
    assert!(matches!(hexed, Err(WheelError::HexDigest { .. })));
    let missing = with_record(&demo(), |r| r.replace(&right, ""));
    assert!(matches!(missing, Err(WheelError::MissingHash { .. })));
}

#[test]
fn refuses_duplicate_unsafe_and_malformed_record_rows() {
    let dup = with_record(&demo(), |r| {
        let first = r.lines().next().unwrap().to_string();
        format!("{r}{first}\n")
    });
    assert!(matches!(dup, Err(WheelError::RecordDuplicate { .. })));
    let traversal = with_record(&demo(), |r| {
        format!("{r}../evil.py,{},1\n", record_hash(b"x"))
    });
    assert!(matches!(
        traversal,
        Err(WheelError::UnsafeRecordPath { rule, .. }) if matches!(*rule, WheelError::PathTraversal { .. })
    ));
    let absolute = with_record(&demo(), |r| {
        format!("{r}/etc/passwd,{},1\n", record_hash(b"x"))
    });
    assert!(matches!(absolute, Err(WheelError::UnsafeRecordPath { .. })));
    let syntax = with_record(&demo(), |r| format!("{r}a,b\n"));
    assert!(matches!(syntax, Err(WheelError::RecordSyntax { .. })));
}

#[test]
fn accepts_stronger_hashes_crlf_directories_and_signatures() {
    let init = "__version__ = \"1.0\"\n";
    let sha512 = format!(
        "sha512={}",
        URL_SAFE_NO_PAD.encode(Sha512::digest(init.as_bytes()))
    );
    let spec = demo().raw_entry("demo-1.0.dist-info/RECORD.jws", "{}");
    let wheel = with_record(&spec, |r| {
        let r = r.replace(&record_hash(init.as_bytes()), &sha512);
        format!("demo/,,\n{}", r.replace('\n', "\r\n"))
    })
    .unwrap();
    assert!(wheel.files().iter().any(|f| f.path.ends_with("RECORD.jws")));
    // A wrong sha512 is still caught.
    let wrong = format!(
        "sha512={}",
        URL_SAFE_NO_PAD.encode(Sha512::digest(b"other"))
    );
    let refused = with_record(&demo(), |r| {
        r.replace(&record_hash(init.as_bytes()), &wrong)
    });
    assert!(
        matches!(refused, Err(WheelError::RecordHashMismatch { expected, .. }) if expected.starts_with("sha512="))
    );
}
