//! Fuzz targets: the zip reader, and the wheel's text files the gate reads — METADATA,
//! `entry_points.txt`, `.pth`, RECORD — each through the public inspection API, in a wheel
//! generated around the fuzzed file (issue #12 §9). Run in the default test run;
//! `SAFEVENV_FUZZ_CASES=N` for a longer hand run (see the README).
//!
//! Invariants: no input panics, and inspecting and then verifying an archive never allocates
//! past the limits (a small `Limits` makes a bomb fail fast instead of slowly).

use std::io::{Cursor, Write};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use safevenv_test_index::WheelSpec;
use safevenv_test_index::fuzz::{config, mutated, seeds, vectors};
use safevenv_wheel::{Limits, Wheel};
use sha2::{Digest, Sha256};
use uv_distribution_filename::WheelFilename;
use zip::write::SimpleFileOptions;

const FILENAME: &str = "demo-1.0-py3-none-any.whl";

/// Limits small enough that no case takes long, large enough for every seed.
fn limits() -> Limits {
    Limits {
        max_total_uncompressed: 64 << 20,
        max_text_file: 1 << 20,
        ..Limits::default()
    }
}

/// Inspect, then verify: every check, and every fact the gate reads.
fn inspect(bytes: Vec<u8>) {
    let filename = WheelFilename::from_str(FILENAME).unwrap();
    match Wheel::inspect_reader(Cursor::new(bytes), FILENAME, &filename, &limits()) {
        Ok(inspected) => {
            let _ = (
                inspected.top_level_names(),
                inspected.pth_files().len(),
                inspected.entry_points().console_scripts.len(),
                inspected.metadata().len(),
                inspected.directories().len(),
                inspected.content_digest(),
            );
            if let Err(error) = inspected.verify() {
                let _ = error.to_string();
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

/// A wheel of `files` (in order) with a RECORD that vouches for each, so that the inspection
/// reaches the parsing of every file instead of refusing it as unlisted.
fn wheel_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut record = String::new();
    for (path, bytes) in files {
        zip.start_file(*path, options).unwrap();
        zip.write_all(bytes).unwrap();
        let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!("{path},sha256={digest},{}\n", bytes.len()));
    }
    record.push_str("demo-1.0.dist-info/RECORD,,\n");
    zip.start_file("demo-1.0.dist-info/RECORD", options)
        .unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

const WHEEL: &[u8] =
    b"Wheel-Version: 1.0\nGenerator: fuzz\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
const METADATA: &[u8] = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n";

/// The demo wheel's files with `path` holding `contents` (replacing the generated one).
fn wheel_with(path: &str, contents: Vec<u8>) -> Vec<u8> {
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("demo/__init__.py", b"".to_vec()),
        ("demo-1.0.dist-info/WHEEL", WHEEL.to_vec()),
        ("demo-1.0.dist-info/METADATA", METADATA.to_vec()),
    ];
    files.retain(|(name, _)| *name != path);
    files.push((path, contents));
    wheel_of(&files)
}

/// Real wheels, the malformed-zip corpus, and wheels generated with every feature.
fn zip_corpus() -> Vec<Vec<u8>> {
    let mut corpus = seeds(&vectors("malformed-wheels"), &[".whl", ".zip"]);
    let generated = WheelSpec::new("demo", "1.0")
        .requires_dist("lib>=1 ; python_version >= '3.8'")
        .file("demo/__init__.py", "x = 1\n")
        .file("demo.pth", "import demo\n")
        .data_file("scripts/tool", "#!python\n")
        .console_script("demo", "demo:main")
        .build()
        .unwrap();
    corpus.push(generated.bytes);
    corpus
}

fn text_seeds(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|text| text.as_bytes().to_vec()).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn zip_reader_never_panics(bytes in mutated(zip_corpus())) {
        inspect(bytes);
    }

    #[test]
    fn metadata_never_panics(text in mutated(text_seeds(&[
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: lib>=1 ; extra == 'x'\nProvides-Extra: x\nRequires-Python: >=3.8\nLicense-Expression: MIT OR Apache-2.0\n\nLong description\n",
        "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-File: LICENSE\nClassifier: License :: OSI Approved :: MIT License\nDynamic: license\n",
        "Metadata-Version: 1.0\nName: Demo\nVersion: 1.0\nSummary: =?utf-8?q?x?=\n  continued\n",
    ]))) {
        inspect(wheel_with("demo-1.0.dist-info/METADATA", text));
    }

    #[test]
    fn entry_points_never_panic(text in mutated(text_seeds(&[
        "[console_scripts]\ndemo = demo:main\nother = demo.cli:run [extra]\n\n[gui_scripts]\ng = demo:gui\n",
        "[console_scripts]\n; comment\n# comment\npip = demo:main\n[demo.plugins]\nx = demo.x\n",
        "[console_scripts]\ndemo =\n  demo:main\n\u{e9} = demo:main\n../x = demo:main\n",
    ]))) {
        inspect(wheel_with("demo-1.0.dist-info/entry_points.txt", text));
    }

    #[test]
    fn pth_files_never_panic(text in mutated(text_seeds(&[
        "import os; os.environ.setdefault('X', '1')\n",
        "# comment\n../lib\n/abs/path\nimport\tsys\n  import x\n",
        "demo\r\nsub/dir\n\u{feff}import x\n",
    ]))) {
        inspect(wheel_with("demo.pth", text));
    }

    #[test]
    fn record_never_panics(text in mutated(text_seeds(&[
        "demo/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\ndemo-1.0.dist-info/RECORD,,\n",
        "\"demo/a,b.py\",sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\ndemo/x.py,md5=00,1\n",
        "demo/../x.py,sha512=AAAA,12\n/abs,,\ndemo/y.py,sha256=,\n",
    ]))) {
        // RECORD itself is fuzzed: the wheel's other files are listed by it or not at all.
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        for (path, bytes) in [
            ("demo/__init__.py", &b""[..]),
            ("demo-1.0.dist-info/WHEEL", WHEEL),
            ("demo-1.0.dist-info/METADATA", METADATA),
            ("demo-1.0.dist-info/RECORD", &text[..]),
        ] {
            zip.start_file(path, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        inspect(zip.finish().unwrap().into_inner());
    }
}

/// The targets reach the parsers: their unmutated wheels pass every check.
#[test]
fn the_generated_wheels_are_valid() {
    let filename = WheelFilename::from_str(FILENAME).unwrap();
    for (path, contents) in [
        ("demo-1.0.dist-info/METADATA", METADATA),
        (
            "demo-1.0.dist-info/entry_points.txt",
            &b"[console_scripts]\ndemo = demo:main\n"[..],
        ),
        ("demo.pth", &b"import demo\n"[..]),
    ] {
        let bytes = wheel_with(path, contents.to_vec());
        let inspected = Wheel::inspect_reader(Cursor::new(bytes), FILENAME, &filename, &limits())
            .unwrap_or_else(|err| panic!("{path}: {err}"));
        inspected.verify().unwrap();
    }
}
