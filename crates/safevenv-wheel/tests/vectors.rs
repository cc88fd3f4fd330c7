//! The shared malformed-wheel vectors: the malo zip corpus against uv's verdicts, the full
//! malo zip set, and the wheels of pip's and uv's test data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use safevenv_wheel::{Limits, Wheel, verify_archive};
use uv_distribution_filename::WheelFilename;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/malformed-wheels")
}

fn accepts(path: &Path) -> bool {
    let file = fs_err::File::open(path).unwrap();
    verify_archive(file, &path.display().to_string(), &Limits::default()).is_ok()
}

/// Where we deliberately differ from uv, with the reason. Every other case must agree.
const DIVERGENCES_FROM_UV: &[(&str, &str)] = &[(
    "iffy/extra3byte.zip",
    "stricter: a 3-byte extra field cannot hold a record header; uv skips it, we refuse \
     any extra field that does not split into whole records",
)];

#[test]
fn malo_corpus_agrees_with_uv() {
    let corpus = vectors().join("malo-zip-corpus");
    let expected: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(corpus.join("uv-expected.json")).unwrap())
            .unwrap();
    let cases = expected["cases"].as_object().unwrap();
    let documented: BTreeMap<&str, &str> = DIVERGENCES_FROM_UV.iter().copied().collect();

    let mut agree = 0;
    let mut divergences = BTreeSet::new();
    for (case, runs) in cases {
        let run = &runs[0];
        let verdict = run["uv_expect"].as_str().unwrap();
        let uv_accepts = verdict == "ok"
            || (verdict.starts_with("iffy")
                && run["uv_snapshot"].as_str().unwrap().starts_with("Ok("));
        let ours = accepts(&corpus.join(case));
        let group = case.split('/').next().unwrap();
        match group {
            "accept" => assert!(ours, "{case} must be accepted"),
            "reject" | "malicious" => assert!(!ours, "{case} must be refused"),
            _ => {}
        }
        if ours == uv_accepts {
            agree += 1;
        } else {
            divergences.insert(case.as_str());
        }
    }
    println!(
        "malo corpus: {agree}/{} agree with uv; divergences: {divergences:?}",
        cases.len()
    );
    for case in &divergences {
        println!(
            "  {case}: {}",
            documented.get(case).unwrap_or(&"UNDOCUMENTED")
        );
    }
    assert_eq!(
        divergences,
        documented.keys().copied().collect::<BTreeSet<_>>()
    );
    assert_eq!(cases.len(), 37, "the corpus index changed");
}

/// The `iffy` archives we accept from the full malo set: valid by the spec and unambiguous.
/// Every other `iffy` archive is refused (uv refuses most of them too).
const ACCEPTED_IFFY: &[&str] = &[
    // Two entries whose CRC-32 collide: each is still checked against its own CRC, and a
    // wheel's RECORD sha256 tells them apart.
    "crc_collision_empty_nonempty.zip",
    "crc_collision_two_nonempty.zip",
    // Content whose CRC-32 happens to be zero.
    "crc_zero_nonempty.zip",
    // A file in a directory without a directory entry: how most wheels are written.
    "nosubdir.zip",
];

#[test]
fn full_malo_zip_set() {
    let root = vectors().join("malo-full/zip");
    let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut accepted_iffy = BTreeSet::new();
    for group in ["accept", "iffy", "malicious", "reject"] {
        for entry in fs_err::read_dir(root.join(group)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let ours = accepts(&path);
            match group {
                "accept" => assert!(ours, "accept/{name} must be accepted"),
                "reject" | "malicious" => assert!(!ours, "{group}/{name} must be refused"),
                _ if ours => {
                    accepted_iffy.insert(name);
                }
                _ => {}
            }
            let counts = tally.entry(group).or_default();
            if ours {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
        }
    }
    for (group, (accepted, refused)) in &tally {
        println!("malo-full/zip/{group}: {accepted} accepted, {refused} refused");
    }
    let expected: BTreeSet<String> = ACCEPTED_IFFY.iter().map(|s| (*s).to_string()).collect();
    assert_eq!(accepted_iffy, expected);
    assert_eq!(
        tally.values().map(|(a, r)| a + r).sum::<usize>(),
        79,
        "the malo zip set changed"
    );
}

/// pip's and uv's test wheels: `Ok`, the error variant we refuse with, or `filename` when the
/// file name itself does not parse (the caller never gets as far as opening it).
const WHEELS: &[(&str, &str)] = &[
    (
        "pip-test-data/brokenwheel-1.0-py2.py3-none-any.whl",
        "DirectoryNameMismatch",
    ),
    (
        "pip-test-data/corruptwheel-1.0-py2.py3-none-any.whl",
        "NotAZip",
    ),
    ("pip-test-data/has.script-1.0-py2.py3-none-any.whl", "Ok"),
    ("pip-test-data/invalid.whl", "filename"),
    ("pip-test-data/invalid_version-1.0-py3-none-any.whl", "Ok"),
    (
        "pip-test-data/invalid_version-2010i-py3-none-any.whl",
        "filename",
    ),
    (
        "pip-test-data/require_invalid_version-0.1-py3-none-any.whl",
        "Ok",
    ),
    // Its Requires-Dist is invalid: that is the resolver's concern, not the archive's.
    (
        "pip-test-data/require_invalid_version-1.0-py3-none-any.whl",
        "Ok",
    ),
    // `Wheel-Version: 0.1`: no such format was published; pip only refuses majors above 1.
    (
        "pip-test-data/simple.dist-0.1-py1-none-invalid.whl",
        "UnsupportedWheelVersion",
    ),
    ("pip-test-data/simplewheel-1.0-py2.py3-none-any.whl", "Ok"),
    // RECORD lists `simplewheel-2.0-1.dist-info/...`, the archive holds `simplewheel-2.0.dist-info/`.
    (
        "pip-test-data/simplewheel-2.0-1-py2.py3-none-any.whl",
        "MissingFromArchive",
    ),
    (
        "pip-test-data/simplewheel-2.0-py3-fakeabi-fakeplat.whl",
        "Ok",
    ),
    // Divergence from uv (which does not check RECORD digests): hex digests, as uv_build
    // 0.8.12 wrote them, are not the urlsafe-base64-nopad the format requires.
    (
        "uv-test-links/basic_package-0.1.0-py3-none-any.whl",
        "HexDigest",
    ),
    ("uv-test-links/build_tag-1.0.0-1-py2.py3-none-any.whl", "Ok"),
    ("uv-test-links/build_tag-1.0.0-3-py2.py3-none-any.whl", "Ok"),
    ("uv-test-links/build_tag-1.0.0-5-py2.py3-none-any.whl", "Ok"),
    // Divergence from uv: RECORD rows without hashes leave the content unverified (PEP 427:
    // installers MUST verify RECORD hashes).
    (
        "uv-test-links/multi_abi_package-1.0.0-cp314-cp314t.abi3-manylinux_2_17_x86_64.whl",
        "MissingHash",
    ),
    ("uv-test-links/ok-1.0.0-py3-none-any.whl", "Ok"),
    ("uv-test-links/ok-2.0.0-py3-none-any.whl", "Ok"),
    (
        "uv-test-links/validation-1.0.0-py3-none-any.whl",
        "MissingHash",
    ),
    (
        "uv-test-links/validation-2.0.0-py3-none-any.whl",
        "MissingHash",
    ),
    (
        "uv-test-links/validation-3.0.0-py3-none-any.whl",
        "MultipleDistInfo",
    ),
    (
        "uv-test-links/wheel_tag_test-0.1.0-py3-none-win_amd64.whl",
        "Ok",
    ),
];

#[test]
fn pip_and_uv_test_wheels() {
    let root = vectors();
    let mut on_disk = BTreeSet::new();
    for dir in ["pip-test-data", "uv-test-links"] {
        for entry in fs_err::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "whl") {
                on_disk.insert(format!(
                    "{dir}/{}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    let listed: BTreeSet<String> = WHEELS.iter().map(|(name, _)| (*name).to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "every vector wheel has an expected verdict"
    );

    let (mut accepted, mut refused) = (0, 0);
    for (name, expected) in WHEELS {
        let path = root.join(name);
        let file_name = path.file_name().unwrap().to_string_lossy().to_string();
        let verdict = match WheelFilename::from_str(&file_name) {
            Err(_) => "filename".to_string(),
            Ok(filename) => match Wheel::open(&path, &filename) {
                Ok(_) => "Ok".to_string(),
                Err(error) => {
                    let debug = format!("{error:?}");
                    debug.split([' ', '(', '{']).next().unwrap().to_string()
                }
            },
        };
        assert_eq!(&verdict, expected, "{name}");
        if verdict == "Ok" {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    println!("pip/uv test wheels: {accepted} accepted, {refused} refused");
}
