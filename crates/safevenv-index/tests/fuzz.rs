//! Fuzz targets: index project pages, PEP 503 HTML and PEP 691 JSON, and a wheel's METADATA as
//! the resolver reads it (issue #12 §9). Runs in the
//! default test run; `SAFEVENV_FUZZ_CASES=N` for a longer hand run (see the README).
//!
//! Invariants: no page panics; every entry a page yields is a file of the project asked for, and
//! every one of its methods can be called.

use std::str::FromStr;

use proptest::prelude::*;
use std::io::{Cursor, Write};

use safevenv_index::{DisplaySafeUrl, IndexUrl, ProjectPage, wheel_dist_metadata};
use safevenv_test_index::fuzz::{config, mutated, mutated_text, seeds, vectors};
use url::Url;
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;

const DIGEST: &str = "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233";

/// The pages in pip's test data, and pages of every feature we read.
fn html_corpus() -> Vec<Vec<u8>> {
    let mut corpus = seeds(
        &vectors("malformed-wheels/pip-test-data/indexes"),
        &[".html"],
    );
    corpus.push(format!(
        r#"<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"></head><body>
        <a href="../../files/demo-1.0-py3-none-any.whl#sha256={DIGEST}" data-requires-python="&gt;=3.8,&lt;4"
           data-core-metadata="sha256={DIGEST}" data-yanked="broken">demo-1.0-py3-none-any.whl</a><br/>
        <a href="https://files.example/demo-1.1.tar.gz">demo-1.1.tar.gz</a>
        <a href="demo-2.0-py3-none-any.whl#md5=00" data-dist-info-metadata="true">demo-2.0-py3-none-any.whl</a>
        </body></html>"#
    ).into_bytes());
    corpus
}

fn json_corpus() -> Vec<Vec<u8>> {
    let mut corpus = seeds(&vectors("packse-scenarios/scenarios/examples"), &[".json"]);
    corpus.push(
        format!(
            r#"{{"meta": {{"api-version": "1.1"}}, "name": "demo", "versions": ["1.0"], "files": [
          {{"filename": "demo-1.0-py3-none-any.whl", "url": "../../files/demo-1.0-py3-none-any.whl",
            "hashes": {{"sha256": "{DIGEST}"}}, "requires-python": ">=3.8,<4", "size": 10,
            "upload-time": "2025-01-01T00:00:00Z",
            "core-metadata": {{"sha256": "{DIGEST}"}}, "yanked": "broken"}},
          {{"filename": "demo-1.1.tar.gz", "url": "https://files.example/demo-1.1.tar.gz",
            "hashes": {{}}, "yanked": false, "dist-info-metadata": true}}
        ]}}"#
        )
        .into_bytes(),
    );
    corpus
}

fn check(page: Result<ProjectPage, safevenv_index::IndexError>) -> Result<(), TestCaseError> {
    let page = match page {
        Ok(page) => page,
        Err(error) => {
            let _ = error.to_string();
            return Ok(());
        }
    };
    let _ = page.versions();
    for file in &page.files {
        let _ = (
            file.sha256(),
            file.is_wheel(),
            file.yanked.is_yanked(),
            file.metadata_url(),
        );
        let _ = file.requires_python_specifiers();
    }
    Ok(())
}

fn context() -> (Url, PackageName, IndexUrl) {
    (
        Url::parse("https://index.example/simple/demo/").unwrap(),
        PackageName::from_str("demo").unwrap(),
        IndexUrl::parse("https://index.example/simple/").unwrap(),
    )
}

/// A wheel holding only `METADATA`: what the resolver reads of a wheel it has whole.
fn wheel_with_metadata(metadata: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(
        "demo-1.0.dist-info/METADATA",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(metadata).unwrap();
    zip.finish().unwrap().into_inner()
}

fn metadata_corpus() -> Vec<Vec<u8>> {
    [
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: lib>=1 ; extra == 'x'\nProvides-Extra: x\nRequires-Python: >=3.8\n\nbody\n",
        "Metadata-Version: 2.4\nName: Demo\nVersion: 1.0\nRequires-Dist: a[b,c] (>=1,<2) ; python_version < '3.10' and sys_platform == 'linux'\nDynamic: Requires-Dist\n",
        "Metadata-Version: 1.0\nName: demo\nVersion: 1.0\nSummary: =?utf-8?q?x?=\n  continued\n",
    ]
    .map(|text| text.as_bytes().to_vec())
    .to_vec()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn wheel_metadata_never_panics(metadata in mutated(metadata_corpus())) {
        let url = DisplaySafeUrl::parse("https://files.example/demo-1.0-py3-none-any.whl").unwrap();
        let filename = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
        if let Err(error) = wheel_dist_metadata(Cursor::new(wheel_with_metadata(&metadata)), &url, &filename) {
            let _ = error.to_string();
        }
    }

    #[test]
    fn html_pages_never_panic(body in mutated_text(html_corpus())) {
        let (url, name, index) = context();
        check(ProjectPage::from_html(&body, &url, &name, &index))?;
    }

    #[test]
    fn json_pages_never_panic(body in mutated_text(json_corpus())) {
        let (url, name, index) = context();
        check(ProjectPage::from_json(&body, &url, &name, &index))?;
    }
}

/// The targets reach the parsers' depths: the hand-written seeds parse to their files.
#[test]
fn the_hand_written_pages_parse() {
    let (url, name, index) = context();
    let html = html_corpus().pop().unwrap();
    let page =
        ProjectPage::from_html(&String::from_utf8(html).unwrap(), &url, &name, &index).unwrap();
    assert_eq!(page.files.len(), 3, "{page:?}");
    let json = json_corpus().pop().unwrap();
    let page =
        ProjectPage::from_json(&String::from_utf8(json).unwrap(), &url, &name, &index).unwrap();
    assert_eq!(page.files.len(), 2, "{page:?}");
    let url = DisplaySafeUrl::parse("https://files.example/demo-1.0-py3-none-any.whl").unwrap();
    let filename = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
    for metadata in metadata_corpus() {
        wheel_dist_metadata(Cursor::new(wheel_with_metadata(&metadata)), &url, &filename).unwrap();
    }
}
