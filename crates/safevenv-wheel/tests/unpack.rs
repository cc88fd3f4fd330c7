//! Unpacking a verified wheel into a staging directory, and its throughput.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use safevenv_test_index::WheelSpec;
use safevenv_wheel::{Limits, Wheel, WheelError};
use uv_distribution_filename::WheelFilename;

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn spec() -> WheelSpec {
    WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "x = 1\n")
        .file("demo/sub/mod.py", "y = 2\n")
        .data_file("scripts/tool", "#!python\n")
        .unix_mode("demo-1.0.data/scripts/tool", 0o755)
}

fn write_wheel(dir: &Path, spec: &WheelSpec) -> (std::path::PathBuf, WheelFilename) {
    let built = spec.build().unwrap();
    let path = dir.join(&built.filename);
    fs_err::write(&path, &built.bytes).unwrap();
    (path, WheelFilename::from_str(&built.filename).unwrap())
}

#[test]
fn unpacks_into_an_empty_directory_with_safe_modes() {
    let temp = tempfile::tempdir().unwrap();
    let (path, filename) = write_wheel(temp.path(), &spec());
    let mut wheel = Wheel::open(&path, &filename).unwrap();
    let staging = temp.path().join("staging");
    fs_err::create_dir(&staging).unwrap();
    let unpacked = wheel.unpack_into(&staging).unwrap();

    assert_eq!(unpacked.files(), wheel.files().len());
    assert_eq!(unpacked.bytes(), wheel.uncompressed_size());
    assert_eq!(
        fs_err::read_to_string(staging.join("demo/sub/mod.py")).unwrap(),
        "y = 2\n"
    );
    assert_eq!(mode(&staging.join("demo/sub/mod.py")), 0o644);
    assert_eq!(mode(&staging.join("demo-1.0.data/scripts/tool")), 0o755);
    assert!(staging.join("demo-1.0.dist-info/RECORD").is_file());
}

#[test]
fn never_applies_setuid_setgid_or_sticky() {
    let built = spec().build().unwrap();
    let mut bytes = built.bytes;
    let name = b"demo-1.0.data/scripts/tool";
    let central = (0..bytes.len())
        .find(|&at| bytes[at..].starts_with(b"PK\x01\x02") && bytes[at + 46..].starts_with(name))
        .unwrap();
    bytes[central + 38..central + 42].copy_from_slice(&(0o107_755u32 << 16).to_le_bytes());
    let filename = WheelFilename::from_str(&built.filename).unwrap();
    let mut wheel =
        Wheel::from_reader(Cursor::new(bytes), "setuid", &filename, &Limits::default()).unwrap();
    let temp = tempfile::tempdir().unwrap();
    wheel.unpack_into(temp.path()).unwrap();
    assert_eq!(mode(&temp.path().join("demo-1.0.data/scripts/tool")), 0o755);
}

#[test]
fn refuses_a_staging_directory_that_is_not_empty() {
    let built = spec().build().unwrap();
    let filename = WheelFilename::from_str(&built.filename).unwrap();
    let mut wheel =
        Wheel::from_reader(Cursor::new(built.bytes), "w", &filename, &Limits::default()).unwrap();
    let temp = tempfile::tempdir().unwrap();
    // A planted link would redirect a write if we followed it.
    fs_err::os::unix::fs::symlink("/tmp", temp.path().join("demo")).unwrap();
    assert!(matches!(
        wheel.unpack_into(temp.path()),
        Err(WheelError::StagingNotEmpty { .. })
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(wheel.unpack_into(empty.path()).is_ok());
}

#[test]
fn unpacks_the_verified_file_even_if_the_path_is_replaced() {
    let temp = tempfile::tempdir().unwrap();
    let (path, filename) = write_wheel(temp.path(), &spec());
    let mut wheel = Wheel::open(&path, &filename).unwrap();
    // Replace the path by rename: the kept handle still reads the verified file.
    let other = WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "import evil\n")
        .build()
        .unwrap();
    let replacement = temp.path().join("replacement");
    fs_err::write(&replacement, &other.bytes).unwrap();
    fs_err::rename(&replacement, &path).unwrap();
    let staging = tempfile::tempdir().unwrap();
    wheel.unpack_into(staging.path()).unwrap();
    assert_eq!(
        fs_err::read_to_string(staging.path().join("demo/__init__.py")).unwrap(),
        "x = 1\n"
    );
}

#[test]
fn fails_if_the_file_changes_in_place_after_verification() {
    let temp = tempfile::tempdir().unwrap();
    let (path, filename) = write_wheel(temp.path(), &spec());
    let mut wheel = Wheel::open(&path, &filename).unwrap();
    // Same length, different content, written into the same inode.
    let mut bytes = fs_err::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0xff;
    fs_err::write(&path, &bytes).unwrap();
    let staging = tempfile::tempdir().unwrap();
    // Either the change is seen (the bytes read again fail their verified hash), or the bytes
    // are still the verified ones (a small wheel's read buffer holds them): never the changed
    // content.
    if wheel.unpack_into(staging.path()).is_ok() {
        assert_eq!(
            fs_err::read_to_string(staging.path().join("demo/sub/mod.py")).unwrap(),
            "y = 2\n"
        );
        assert_eq!(
            fs_err::read_to_string(staging.path().join("demo/__init__.py")).unwrap(),
            "x = 1\n"
        );
    }
}

#[test]
fn fails_if_a_large_file_changes_in_place_after_verification() {
    let temp = tempfile::tempdir().unwrap();
    // Larger than the reader's buffer, so unpacking reads the file again.
    let spec = spec().file("demo/big.txt", filler(1 << 20, 7));
    let (path, filename) = write_wheel(temp.path(), &spec);
    let mut wheel = Wheel::open(&path, &filename).unwrap();
    let mut bytes = fs_err::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0xff;
    fs_err::write(&path, &bytes).unwrap();
    let staging = tempfile::tempdir().unwrap();
    assert!(wheel.unpack_into(staging.path()).is_err());
}

/// Deterministic text-like bytes that deflate about 3:1, like source code.
fn filler(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "def ", "return ", "self", ".value", " = ", "(x)", "\n    ", "import ", "if ", "None", ": ",
    ];
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.extend_from_slice(WORDS[(state >> 59) as usize % WORDS.len()].as_bytes());
        out.extend_from_slice(format!("{:x}", state >> 48).as_bytes());
    }
    out.truncate(len);
    out
}

/// Builds a ~50 MB wheel, then measures verification and unpacking. Prints MB/s of
/// inflated content; asserts only correctness, since speed depends on the machine.
#[test]
fn unpack_throughput_on_a_50_mb_wheel() {
    let mut spec = WheelSpec::new("big", "1.0");
    for index in 0..10u64 {
        spec = spec.file(&format!("big/part{index}.py"), filler(5 << 20, index));
    }
    let temp = tempfile::tempdir().unwrap();
    let (path, filename) = write_wheel(temp.path(), &spec);
    let archive_size = fs_err::metadata(&path).unwrap().len();

    let start = Instant::now();
    let mut wheel = Wheel::open(&path, &filename).unwrap();
    let verify = start.elapsed();
    let staging = temp.path().join("staging");
    fs_err::create_dir(&staging).unwrap();
    let start = Instant::now();
    let unpacked = wheel.unpack_into(&staging).unwrap();
    let unpack = start.elapsed();

    let megabytes = unpacked.bytes() as f64 / 1e6;
    println!(
        "50 MB wheel ({:.1} MB compressed): verify {:.0} MB/s, unpack {:.0} MB/s",
        archive_size as f64 / 1e6,
        megabytes / verify.as_secs_f64(),
        megabytes / unpack.as_secs_f64()
    );
    assert!(unpacked.bytes() >= 50 << 20);
    assert_eq!(
        fs_err::read(staging.join("big/part7.py")).unwrap(),
        filler(5 << 20, 7)
    );
}
