//! `safevenv sbom`: a lockfile becomes a deterministic CycloneDX 1.5 document.

mod common;

use common::{TestContext, run_ok, stderr};
use serde_json::Value;

const LOCKFILE: &str = r#"lock-version = "1.0"
created-by = "test"

[[packages]]
name = "demo"
version = "1.0+local"
index = "https://index.example/simple/"
wheels = [
    { name = "demo-1.0+local-py3-none-any.whl", url = "https://index.example/files/demo-1.0+local-py3-none-any.whl", hashes = { sha256 = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB" } },
]
attestation-identities = [
    { kind = "GitHub", repository = "org/demo", workflow = "release.yml" },
]

[[packages]]
name = "alpha-lib"
version = "2.0"
index = "https://index.example/simple/"
wheels = [
    { name = "alpha_lib-2.0-py3-none-any.whl", url = "https://index.example/files/alpha_lib-2.0-py3-none-any.whl", hashes = { sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" } },
]
"#;

#[test]
fn a_lockfile_becomes_cyclonedx_with_purls_hashes_and_publishers_byte_identical_twice() {
    let context = TestContext::new();
    fs_err::write(context.work().join("pylock.toml"), LOCKFILE).unwrap();
    let first = run_ok(context.safevenv().args(["sbom", "pylock.toml"]));
    let second = run_ok(context.safevenv().arg("sbom"));
    assert_eq!(
        first.stdout, second.stdout,
        "the same lockfile gives the same bytes"
    );
    run_ok(context.safevenv().args(["sbom", "-o", "bom.json"]));
    assert_eq!(
        fs_err::read(context.work().join("bom.json")).unwrap(),
        first.stdout
    );

    let bom: Value = serde_json::from_slice(&first.stdout).expect("JSON");
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert!(
        bom["serialNumber"]
            .as_str()
            .unwrap()
            .starts_with("urn:uuid:")
    );
    assert_eq!(
        bom["metadata"]["tools"]["components"][0]["name"],
        "safevenv"
    );
    assert!(
        bom["metadata"].get("timestamp").is_none(),
        "no clock in a reproducible document"
    );

    let components = bom["components"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str, &str)> = components
        .iter()
        .map(|component| {
            assert_eq!(component["type"], "library");
            (
                component["name"].as_str().unwrap(),
                component["version"].as_str().unwrap(),
                component["purl"].as_str().unwrap(),
                component["hashes"][0]["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "alpha-lib",
                "2.0",
                "pkg:pypi/alpha-lib@2.0",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            ),
            (
                "demo",
                "1.0+local",
                "pkg:pypi/demo@1.0%2Blocal",
                "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
            ),
        ]
    );
    assert_eq!(components[0]["hashes"][0]["alg"], "SHA-256");
    let demo = &components[1];
    assert_eq!(
        demo["properties"][0]["value"],
        "GitHub repository=org/demo workflow=release.yml"
    );
    let references: Vec<(&str, &str)> = demo["externalReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reference| {
            (
                reference["type"].as_str().unwrap(),
                reference["url"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        references.contains(&("vcs", "https://github.com/org/demo")),
        "{references:?}"
    );
    assert!(
        references.contains(&(
            "distribution",
            "https://index.example/files/demo-1.0+local-py3-none-any.whl"
        )),
        "{references:?}"
    );
}

#[test]
fn a_different_lockfile_gets_a_different_serial_number() {
    let context = TestContext::new();
    fs_err::write(context.work().join("pylock.toml"), LOCKFILE).unwrap();
    let one: Value =
        serde_json::from_slice(&run_ok(context.safevenv().arg("sbom")).stdout).unwrap();
    let changed = LOCKFILE.replace(&"a".repeat(64), &"c".repeat(64));
    fs_err::write(context.work().join("pylock.toml"), changed).unwrap();
    let two: Value =
        serde_json::from_slice(&run_ok(context.safevenv().arg("sbom")).stdout).unwrap();
    assert_ne!(one["serialNumber"], two["serialNumber"]);
}

#[test]
fn an_invalid_lockfile_is_refused() {
    let context = TestContext::new();
    fs_err::write(context.work().join("pylock.toml"), "lock-version = 1\n").unwrap();
    let output = context.safevenv().arg("sbom").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("pylock.toml"));
}
