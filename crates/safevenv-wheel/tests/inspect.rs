//! The two-step API: `Wheel::inspect` (structure, names, RECORD rows, small text files), then
//! `InspectedWheel::verify` or `InspectedWheel::unpack_verified` (every file's content).

use std::collections::BTreeSet;
use std::io::{Cursor, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use safevenv_test_index::WheelSpec;
use safevenv_wheel::{InspectedWheel, Limits, Wheel, WheelError};
use sha2::{Digest, Sha256};
use uv_distribution_filename::WheelFilename;
use zip::write::SimpleFileOptions;

type Inspected = InspectedWheel<Cursor<Vec<u8>>>;

const FILENAME: &str = "demo-1.0-py3-none-any.whl";

fn spec() -> WheelSpec {
    WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "x = 1\n")
        .file("demo/sub/mod.py", "y = 2\n")
        .data_file("scripts/tool", "#!python\n")
        .unix_mode("demo-1.0.data/scripts/tool", 0o755)
}

fn inspect_bytes(bytes: Vec<u8>, filename: &str) -> Result<Inspected, WheelError> {
    let parsed = WheelFilename::from_str(filename).unwrap();
    Wheel::inspect_reader(Cursor::new(bytes), filename, &parsed, &Limits::default())
}

fn inspect_spec(spec: &WheelSpec) -> Result<Inspected, WheelError> {
    let built = spec.build().unwrap();
    inspect_bytes(built.bytes, &built.filename)
}

fn record_hash(bytes: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

/// `spec` with its generated RECORD passed through `edit`.
fn with_record(spec: &WheelSpec, edit: impl FnOnce(String) -> String) -> WheelSpec {
    spec.clone().record_override(&edit(spec.generated_record()))
}

/// `spec` whose RECORD row for `path` (holding `content`) names the digest of `claimed`, a
/// different content of the same size, so only the digest is wrong.
fn with_wrong_digest(spec: &WheelSpec, content: &str, claimed: &str) -> WheelSpec {
    assert_eq!(content.len(), claimed.len());
    let right = record_hash(content.as_bytes());
    with_record(spec, |record| {
        assert!(record.contains(&right));
        record.replace(&right, &record_hash(claimed.as_bytes()))
    })
}

/// A `demo-1.0` wheel written entry by entry: `dirs` as directory entries, then `files`, all
/// listed in a correct RECORD.
fn hand_wheel(dirs: &[&str], files: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for dir in dirs {
        writer
            .add_directory(*dir, SimpleFileOptions::default())
            .unwrap();
    }
    let mut record = String::new();
    for (name, contents) in files {
        writer
            .start_file(*name, SimpleFileOptions::default())
            .unwrap();
        writer.write_all(contents.as_bytes()).unwrap();
        let hash = record_hash(contents.as_bytes());
        record.push_str(&format!("{name},{hash},{}\n", contents.len()));
    }
    writer
        .start_file("demo-1.0.dist-info/RECORD", SimpleFileOptions::default())
        .unwrap();
    record.push_str("demo-1.0.dist-info/RECORD,,\n");
    writer.write_all(record.as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

const WHEEL: &str =
    "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn modified(path: &Path) -> SystemTime {
    fs_err::metadata(path).unwrap().modified().unwrap()
}

/// Every regular file and directory below `root`, as `/`-separated relative paths.
fn walk(root: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_str().unwrap();
            let relative = relative.replace('\\', "/");
            let kind = fs_err::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                dirs.insert(relative);
                pending.push(path);
            } else {
                assert!(kind.is_file(), "{relative} is neither file nor directory");
                files.insert(relative);
            }
        }
    }
    (files, dirs)
}

#[test]
fn inspect_gives_the_same_facts_as_open() {
    let spec = spec()
        .file("demo-init.pth", "import os; os.getcwd()\n/opt/extra\n")
        .file("single.py", "z = 3\n")
        .data_file("purelib/extra_mod.py", "w = 4\n")
        .console_script("tool", "demo:main")
        .gui_script("gtool", "demo:main");
    let built = spec.build().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join(&built.filename);
    fs_err::write(&path, &built.bytes).unwrap();
    let filename = WheelFilename::from_str(&built.filename).unwrap();

    let inspected = Wheel::inspect(&path, &filename).unwrap();
    let opened = Wheel::open(&path, &filename).unwrap();

    assert_eq!(inspected.files(), opened.files());
    assert_eq!(inspected.files().len(), 10);
    assert_eq!(inspected.metadata(), opened.metadata());
    assert!(inspected.metadata().contains("Name: demo"));
    assert_eq!(inspected.entry_points(), opened.entry_points());
    assert_eq!(inspected.entry_points().console_scripts.len(), 1);
    assert_eq!(inspected.pth_files(), opened.pth_files());
    assert_eq!(inspected.pth_files().len(), 1);
    assert!(inspected.pth_files()[0].executes_code());
    assert_eq!(inspected.top_level_names(), opened.top_level_names());
    let names: Vec<String> = inspected.top_level_names().into_iter().collect();
    assert_eq!(names, ["demo", "extra_mod", "single"]);
    assert_eq!(inspected.directories(), opened.directories());
    assert_eq!(inspected.dist_info(), opened.dist_info());
    assert_eq!(inspected.data_dir(), opened.data_dir());
    assert_eq!(inspected.root_is_purelib(), opened.root_is_purelib());
    assert_eq!(inspected.wheel_version(), opened.wheel_version());
    assert_eq!(inspected.compressed_size(), opened.compressed_size());
    // Declared sizes while inspecting; inflated sizes once verified: equal for a good wheel.
    assert_eq!(inspected.uncompressed_size(), opened.uncompressed_size());
}

#[test]
fn content_that_breaks_its_record_row_passes_inspect_but_fails_verify_and_unpack() {
    let hostile = with_wrong_digest(&spec(), "x = 1\n", "x = 9\n");
    let bytes = hostile.build().unwrap().bytes;

    // `demo/__init__.py` is not inflated while inspecting: its content is not yet checked.
    let inspected = inspect_bytes(bytes.clone(), FILENAME).unwrap();
    assert!(matches!(
        inspected.verify(),
        Err(WheelError::RecordHashMismatch { entry, .. }) if entry == "demo/__init__.py"
    ));

    let inspected = inspect_bytes(bytes, FILENAME).unwrap();
    let staging = tempfile::tempdir().unwrap();
    let result = inspected.unpack_verified(staging.path(), None);
    assert!(matches!(
        result,
        Err(WheelError::RecordHashMismatch { entry, .. }) if entry == "demo/__init__.py"
    ));

    // The good wheel passes both.
    assert!(inspect_spec(&spec()).unwrap().verify().is_ok());
    let staging = tempfile::tempdir().unwrap();
    let good = inspect_spec(&spec()).unwrap();
    assert!(good.unpack_verified(staging.path(), None).is_ok());
}

#[test]
fn inspect_refuses_a_metadata_name_that_is_not_the_file_name() {
    let files = |metadata| {
        hand_wheel(
            &[],
            &[
                ("demo/__init__.py", "x = 1\n"),
                ("demo-1.0.dist-info/METADATA", metadata),
                ("demo-1.0.dist-info/WHEEL", WHEEL),
            ],
        )
    };
    let other = files("Metadata-Version: 2.1\nName: other\nVersion: 1.0\n");
    assert!(matches!(
        inspect_bytes(other, FILENAME),
        Err(WheelError::MetadataNameMismatch { metadata, .. }) if metadata == "other"
    ));
    let good = files("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n");
    assert!(inspect_bytes(good, FILENAME).is_ok());
}

#[test]
fn inspect_refuses_a_file_not_in_record() {
    let planted = spec().raw_entry("demo/backdoor.py", "import os\n");
    assert!(matches!(
        inspect_spec(&planted),
        Err(WheelError::NotInRecord { entry, .. }) if entry == "demo/backdoor.py"
    ));
    let dropped = with_record(&spec(), |record| {
        record
            .lines()
            .filter(|line| !line.starts_with("demo/sub/mod.py,"))
            .map(|line| format!("{line}\n"))
            .collect()
    });
    assert!(matches!(
        inspect_spec(&dropped),
        Err(WheelError::NotInRecord { entry, .. }) if entry == "demo/sub/mod.py"
    ));
    assert!(inspect_spec(&spec()).is_ok());
}

#[test]
fn unpack_verified_writes_every_file_once_with_its_mode_and_the_given_time() {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    let inspected = inspect_spec(&spec()).unwrap();
    let expected_files: BTreeSet<String> =
        inspected.files().iter().map(|f| f.path.clone()).collect();
    let expected_dirs: BTreeSet<String> = inspected
        .directories()
        .into_iter()
        .map(str::to_string)
        .collect();
    let staging = tempfile::tempdir().unwrap();
    let root = staging.path();
    let verified = inspected.unpack_verified(root, Some(time)).unwrap();

    let (files, dirs) = walk(root);
    assert_eq!(files, expected_files);
    assert_eq!(dirs, expected_dirs);
    assert!(dirs.contains("demo/sub") && dirs.contains("demo-1.0.data/scripts"));
    assert_eq!(
        fs_err::read_to_string(root.join("demo/sub/mod.py")).unwrap(),
        "y = 2\n"
    );
    assert_eq!(
        fs_err::read_to_string(root.join("demo-1.0.data/scripts/tool")).unwrap(),
        "#!python\n"
    );
    for file in verified.files() {
        let path = root.join(&file.path);
        let want = if file.executable { 0o755 } else { 0o644 };
        assert_eq!(mode(&path), want, "{}", file.path);
        assert_eq!(modified(&path), time, "{}", file.path);
        assert_eq!(fs_err::metadata(&path).unwrap().len(), file.size);
    }
    assert_eq!(mode(&root.join("demo-1.0.data/scripts/tool")), 0o755);
    for dir in &dirs {
        assert_eq!(modified(&root.join(dir)), time, "{dir}");
    }
    assert_eq!(modified(root), time);
}

#[test]
fn unpack_verified_without_a_time_leaves_the_file_system_times() {
    let before = SystemTime::now() - Duration::from_secs(60);
    let inspected = inspect_spec(&spec()).unwrap();
    let staging = tempfile::tempdir().unwrap();
    let root = staging.path();
    inspected.unpack_verified(root, None).unwrap();
    let (files, dirs) = walk(root);
    assert!(!files.is_empty() && !dirs.is_empty());
    // The archive's entries carry the 1980 zip epoch; the written files are new.
    for path in files.iter().chain(&dirs) {
        assert!(modified(&root.join(path)) >= before, "{path}");
    }
    assert!(modified(root) >= before);
}

#[test]
fn directories_include_the_parents_of_directory_entries() {
    let bytes = hand_wheel(
        &["demo/", "extra/empty/", "pkg/inner/"],
        &[
            ("demo/__init__.py", "x = 1\n"),
            ("pkg/inner/m.py", "m = 1\n"),
            (
                "demo-1.0.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
            ),
            ("demo-1.0.dist-info/WHEEL", WHEEL),
        ],
    );
    let inspected = inspect_bytes(bytes, FILENAME).unwrap();
    let expected: BTreeSet<String> = inspected
        .directories()
        .into_iter()
        .map(str::to_string)
        .collect();
    let staging = tempfile::tempdir().unwrap();
    inspected
        .unpack_verified(staging.path(), Some(SystemTime::UNIX_EPOCH))
        .unwrap();
    let (_, dirs) = walk(staging.path());
    assert_eq!(dirs, expected);
    for dir in ["extra", "extra/empty", "pkg", "pkg/inner"] {
        assert!(dirs.contains(dir), "{dir}");
    }
    for dir in &dirs {
        assert_eq!(
            modified(&staging.path().join(dir)),
            SystemTime::UNIX_EPOCH,
            "{dir}"
        );
    }
}

#[test]
fn unpack_verified_refuses_a_staging_directory_that_is_not_empty() {
    let staging = tempfile::tempdir().unwrap();
    fs_err::write(staging.path().join("planted"), "x").unwrap();
    let error = inspect_spec(&spec())
        .unwrap()
        .unpack_verified(staging.path(), None)
        .unwrap_err();
    assert!(matches!(error, WheelError::StagingNotEmpty { .. }));
    assert!(error.is_io());
    // Nothing was written next to the planted file.
    assert_eq!(walk(staging.path()).0.len(), 1);

    let hostile = with_wrong_digest(&spec(), "x = 1\n", "x = 9\n");
    let mismatch = inspect_spec(&hostile).unwrap().verify().unwrap_err();
    assert!(matches!(mismatch, WheelError::RecordHashMismatch { .. }));
    assert!(!mismatch.is_io());
}

#[test]
fn content_digest_names_the_content_and_modes() {
    let digest = |spec: &WheelSpec| inspect_spec(spec).unwrap().content_digest();
    let base = digest(&spec());
    assert_eq!(base, digest(&spec()));

    // Same size, other bytes: only the RECORD digest differs.
    let edited = WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "x = 1\n")
        .file("demo/sub/mod.py", "y = 3\n")
        .data_file("scripts/tool", "#!python\n")
        .unix_mode("demo-1.0.data/scripts/tool", 0o755);
    assert_ne!(base, digest(&edited));

    let executable = spec().unix_mode("demo/sub/mod.py", 0o755);
    let inspected = inspect_spec(&executable).unwrap();
    let file = |path: &str| inspected.files().iter().find(|f| f.path == path).cloned();
    assert!(file("demo/sub/mod.py").unwrap().executable);
    assert_ne!(base, inspected.content_digest());
}

#[test]
fn inspect_refuses_a_pth_file_that_breaks_its_record_row() {
    let content = "import os\n";
    let with_pth = spec().file("demo-init.pth", content);
    let hostile = with_wrong_digest(&with_pth, content, "import re\n");
    assert!(matches!(
        inspect_spec(&hostile),
        Err(WheelError::RecordHashMismatch { entry, .. }) if entry == "demo-init.pth"
    ));
    let good = inspect_spec(&with_pth).unwrap();
    assert_eq!(good.pth_files().len(), 1);
    assert!(good.pth_files()[0].executes_code());
}

/// Part `n` of [`large_spec`]: 256 KiB of its own lines.
fn part(n: usize) -> String {
    (0..256 * 1024 / 15)
        .map(|line| format!("{n:04} {line:09}\n"))
        .collect::<String>()
        .chars()
        .take(256 * 1024)
        .collect()
}

/// A wheel large enough to be unpacked by several threads: 48 files of 256 KiB (12 MiB).
fn large_spec() -> WheelSpec {
    (0..48).fold(spec(), |spec, n| {
        spec.file(&format!("demo/data/part{n:02}.txt"), part(n))
    })
}

#[test]
fn a_large_wheel_is_unpacked_by_several_threads_each_file_whole() {
    let built = large_spec().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(&built.filename);
    fs_err::write(&path, &built.bytes).unwrap();
    let filename = WheelFilename::from_str(&built.filename).unwrap();
    let seal = SystemTime::now() - Duration::from_secs(3600);

    // Through the file reader the pipeline uses (clones of one open file).
    let inspected = Wheel::inspect(&path, &filename).unwrap();
    let staging = dir.path().join("staging");
    fs_err::create_dir(&staging).unwrap();
    let verified = inspected.unpack_verified(&staging, Some(seal)).unwrap();

    let mut archive = zip::ZipArchive::new(Cursor::new(built.bytes)).unwrap();
    for (file, sha256) in verified.files().iter().zip(verified.sha256s()) {
        let mut expected = Vec::new();
        archive
            .by_name(&file.path)
            .unwrap()
            .read_to_end(&mut expected)
            .unwrap();
        let written = staging.join(&file.path);
        assert_eq!(fs_err::read(&written).unwrap(), expected, "{}", file.path);
        assert_eq!(*sha256, <[u8; 32]>::from(Sha256::digest(&expected)));
        assert_eq!(modified(&written), seal, "{}", file.path);
    }
    for directory in verified.directories() {
        assert_eq!(modified(&staging.join(directory)), seal, "{directory}");
    }
    assert_eq!(modified(&staging), seal);
}

#[test]
fn a_large_wheel_with_one_file_off_its_record_row_is_refused() {
    // The row of part 17 names part 18's content: same size, another digest.
    let hostile = with_record(&large_spec(), |record| {
        record.replace(
            &record_hash(part(17).as_bytes()),
            &record_hash(part(18).as_bytes()),
        )
    });
    let built = hostile.build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(&built.filename);
    fs_err::write(&path, &built.bytes).unwrap();
    let filename = WheelFilename::from_str(&built.filename).unwrap();
    let inspected = Wheel::inspect(&path, &filename).unwrap();
    let staging = dir.path().join("staging");
    fs_err::create_dir(&staging).unwrap();
    let result = inspected.unpack_verified(&staging, None);
    assert!(
        matches!(
            &result,
            Err(WheelError::RecordHashMismatch { entry, .. }) if entry == "demo/data/part17.txt"
        ),
        "{result:?}"
    );
}

/// XORed into data at any offset, these bytes leave its CRC-32 unchanged: they are the CRC-32
/// generator polynomial (x^32 + ...) in the bit order of the zip CRC, so the difference is a
/// multiple of the polynomial and divides out.
const CRC_NEUTRAL: [u8; 5] = [0x41, 0x06, 0x71, 0xdb, 0x01];

const HONEST_METADATA: &str =
    "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: an honest demo\n";

/// A `demo-1.0` wheel written to `dir` whose METADATA is stored (its bytes appear as they are
/// in the file), after a stored 256 KiB file: the reader's 64 KiB block cannot hold both, so
/// reading METADATA during unpacking reads the file again.
fn wheel_with_stored_metadata(dir: &Path) -> (std::path::PathBuf, WheelFilename) {
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let big = part(0);
    let files = [
        ("demo/big.txt", big.as_str()),
        ("demo-1.0.dist-info/METADATA", HONEST_METADATA),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ];
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut record = String::new();
    for (name, contents) in files {
        writer.start_file(name, stored).unwrap();
        writer.write_all(contents.as_bytes()).unwrap();
        let hash = record_hash(contents.as_bytes());
        record.push_str(&format!("{name},{hash},{}\n", contents.len()));
    }
    writer
        .start_file("demo-1.0.dist-info/RECORD", stored)
        .unwrap();
    record.push_str("demo-1.0.dist-info/RECORD,,\n");
    writer.write_all(record.as_bytes()).unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let path = dir.join(FILENAME);
    fs_err::write(&path, bytes).unwrap();
    (path, WheelFilename::from_str(FILENAME).unwrap())
}

#[test]
fn a_file_read_by_inspect_and_changed_before_unpacking_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, filename) = wheel_with_stored_metadata(dir.path());

    // Good: unchanged, it unpacks.
    let staging = dir.path().join("good");
    fs_err::create_dir(&staging).unwrap();
    Wheel::inspect(&path, &filename)
        .unwrap()
        .unpack_verified(&staging, None)
        .unwrap();
    assert_eq!(
        fs_err::read_to_string(staging.join("demo-1.0.dist-info/METADATA")).unwrap(),
        HONEST_METADATA
    );

    // Inspected (METADATA read and checked), then rewritten in place in the same open file:
    // same length and same CRC-32, so the zip checks (sizes, CRC) all pass and only the
    // SHA-256 of what inspect read can tell the bytes apart.
    let inspected = Wheel::inspect(&path, &filename).unwrap();
    let mut bytes = fs_err::read(&path).unwrap();
    let at = bytes
        .windows(HONEST_METADATA.len())
        .position(|window| window == HONEST_METADATA.as_bytes())
        .unwrap()
        + HONEST_METADATA.find("honest").unwrap();
    for (byte, flip) in bytes[at..].iter_mut().zip(CRC_NEUTRAL) {
        *byte ^= flip;
    }
    let mut file = fs_err::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(at as u64)).unwrap();
    file.write_all(&bytes[at..at + CRC_NEUTRAL.len()]).unwrap();
    drop(file);
    // The zip crate reads the changed archive without complaint: the CRC-32 still matches.
    let mut changed = Vec::new();
    zip::ZipArchive::new(Cursor::new(fs_err::read(&path).unwrap()))
        .unwrap()
        .by_name("demo-1.0.dist-info/METADATA")
        .unwrap()
        .read_to_end(&mut changed)
        .unwrap();
    assert_ne!(changed, HONEST_METADATA.as_bytes());

    let staging = dir.path().join("changed");
    fs_err::create_dir(&staging).unwrap();
    let result = inspected.unpack_verified(&staging, None);
    assert!(
        matches!(
            &result,
            Err(WheelError::ChangedSinceVerification { entry, .. })
                if entry == "demo-1.0.dist-info/METADATA"
        ),
        "{:?}",
        result.as_ref().err()
    );
}
