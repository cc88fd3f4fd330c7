//! `safevenv show` end to end: release history, yanks, attested and unattested releases (a real
//! staging attestation from `../shared/vectors/sigstore`), vulnerabilities from an offline
//! database, metadata of an installed distribution.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestContext, stderr, stdout};
use safevenv_test_index::{IndexFile, RawArtifact, TestIndex, WheelSpec};
use serde_json::Value;

const WHEEL: &str = "rfc8785-0.1.2-py3-none-any.whl";
/// The staging wheel's signer: an email identity, not a Trusted Publisher.
const WHEEL_SIGNER: &str = "william@yossarian.net";

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/sigstore")
}

fn attestations(file: &str) -> PathBuf {
    vectors().join("pypi-attestations").join(file)
}

fn staging_root() -> String {
    vectors()
        .join("trusted-roots/sigstore-python_staging_trusted_root.json")
        .display()
        .to_string()
}

/// An RFC 3339 time `days` before now (from the machine's Python: the tests have no date crate).
fn days_ago(days: u32) -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            &format!(
                "import datetime; print((datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days={days})).strftime('%Y-%m-%dT%H:%M:%SZ'))"
            ),
        ])
        .output()
        .expect("run python3");
    stdout(&output).trim().to_string()
}

/// `rfc8785`: 0.1.0 yanked (2020), 0.1.1 without provenance (2021), 0.1.2 — the real staging
/// wheel with its provenance — ten days ago.
fn history_index() -> TestIndex {
    let attestation =
        fs_err::read_to_string(attestations(&format!("{WHEEL}.publish.attestation"))).unwrap();
    let provenance = format!(
        r#"{{"version": 1, "attestation_bundles": [{{"publisher": {{"kind": "Other", "identity": "{WHEEL_SIGNER}", "issuer": "https://github.com/login/oauth"}}, "attestations": [{attestation}]}}]}}"#
    );
    TestIndex::builder()
        .file(
            IndexFile::from(WheelSpec::new("rfc8785", "0.1.0"))
                .yanked(Some("broken"))
                .upload_time("2020-01-02T03:04:05Z"),
        )
        .file(
            IndexFile::from(WheelSpec::new("rfc8785", "0.1.1")).upload_time("2021-06-01T00:00:00Z"),
        )
        .file(
            IndexFile::raw(
                "rfc8785",
                RawArtifact {
                    filename: WHEEL.to_string(),
                    bytes: fs_err::read(attestations(WHEEL)).unwrap(),
                },
            )
            .provenance(provenance.into_bytes())
            .upload_time(&days_ago(10)),
        )
        .start()
        .expect("start the test index")
}

fn show(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context
        .safevenv()
        .arg("show")
        .args(args)
        .args(["--trusted-root", &staging_root()])
        .env("SAFEVENV_INDEX_URL", index.url())
        .env("SAFEVENV_INDEX_TTL", "0")
        .output()
        .expect("run safevenv")
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|err| panic!("not JSON ({err}):\n{}\n{}", stdout(output), stderr(output)))
}

#[test]
fn show_reports_history_yanks_and_the_publisher_of_the_newest_release() {
    let context = TestContext::new();
    let index = history_index();
    let output = show(&context, &index, &["rfc8785", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["installed"], Value::Null);
    assert_eq!(report["newest"], "0.1.2");
    assert_eq!(report["described"], "0.1.2");
    let releases = &report["releases"];
    assert_eq!(releases["count"], 3);
    assert_eq!(releases["first_upload"], "2020-01-02T03:04:05Z");
    assert_eq!(releases["yanked"], serde_json::json!(["0.1.0"]));
    assert_eq!(releases["last_year"], 1);
    assert_eq!(releases["days_since_last"], 10);
    let history = releases["history"].as_array().unwrap();
    assert_eq!(history[1]["with_provenance"], 0);
    assert_eq!(history[2]["with_provenance"], 1);
    let attestations = &report["attestations"];
    assert_eq!(attestations["artifacts"], 1);
    assert_eq!(attestations["verified"], 1);
    let publishers = attestations["publishers"].as_array().unwrap();
    assert_eq!(publishers.len(), 1);
    assert!(
        publishers[0].as_str().unwrap().contains(WHEEL_SIGNER),
        "{publishers:?}"
    );
    // No database given: not checked, which is not "none known".
    assert_eq!(report["vulnerabilities"], Value::Null);

    let output = show(&context, &index, &["rfc8785"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let screen = stdout(&output);
    assert!(screen.contains("yanked:           0.1.0"), "{screen}");
    assert!(
        screen.contains("1 of 1 artifact(s) of 0.1.2 verified"),
        "{screen}"
    );
    assert!(screen.contains(WHEEL_SIGNER), "{screen}");
    assert!(
        screen.contains("releases:         3 (1 in the last year)"),
        "{screen}"
    );
    assert!(screen.contains("since the last:   10 days"), "{screen}");
    assert!(
        screen.contains("not checked (pass `--audit-db PATH`)"),
        "{screen}"
    );
}

#[test]
fn show_of_an_unattested_release_says_it_has_no_provenance() {
    let context = TestContext::new();
    let index = TestIndex::builder()
        .file(IndexFile::from(WheelSpec::new("plain", "1.0")).upload_time("2022-01-01T00:00:00Z"))
        .start()
        .unwrap();
    let output = show(&context, &index, &["plain", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["attestations"]["verified"], 0);
    assert_eq!(report["attestations"]["absent"], 1);
    assert_eq!(report["attestations"]["publishers"], serde_json::json!([]));
}

fn app_index() -> TestIndex {
    TestIndex::builder()
        .wheel(
            WheelSpec::new("app", "1.0")
                .requires_dist("lib>=1")
                .requires_dist("extra-only; extra == 'docs'")
                .metadata_field("License-Expression", "MIT")
                .metadata_field("Project-URL", "Source, https://example.invalid/app")
                .file("app/__init__.py", b"".to_vec()),
        )
        .wheel(
            WheelSpec::new("lib", "1.0")
                .requires_dist("base")
                .file("lib/__init__.py", b"".to_vec()),
        )
        .wheel(WheelSpec::new("base", "1.0").file("base/__init__.py", b"".to_vec()))
        .wheel(
            WheelSpec::new("app", "1.1")
                .requires_dist("lib>=1")
                .file("app/__init__.py", b"".to_vec()),
        )
        .start()
        .expect("start the test index")
}

#[test]
fn show_of_an_installed_distribution_reads_its_metadata_tree_and_vulnerabilities() {
    let context = TestContext::with_environment();
    let index = app_index();
    let output = context.run_with_index(&index, &["install", "app==1.0"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let db = context.work().join("advisories.json");
    fs_err::write(
        &db,
        serde_json::json!({
            "id": "GHSA-app-test-0001",
            "modified": "2024-01-01T00:00:00Z",
            "summary": "app runs anything",
            "affected": [{
                "package": {"ecosystem": "PyPI", "name": "app"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1"}]}],
            }],
        })
        .to_string(),
    )
    .unwrap();
    let db = db.display().to_string();
    let output = show(
        &context,
        &index,
        &["app", "--audit-db", &db, "--format", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["installed"], "1.0");
    assert_eq!(report["locked"], "1.0");
    assert_eq!(report["newest"], "1.1");
    assert_eq!(report["described"], "1.0");
    assert_eq!(report["license"], "MIT");
    assert_eq!(
        report["urls"],
        serde_json::json!([{"label": "Source", "url": "https://example.invalid/app"}])
    );
    // `extra-only` is an extra's: not a dependency of the installed distribution.
    assert_eq!(report["dependencies"], serde_json::json!(["lib>=1"]));
    assert_eq!(report["dependency_tree"], 2);
    assert_eq!(report["vulnerabilities"][0]["id"], "GHSA-app-test-0001");
    assert_eq!(report["vulnerabilities"][0]["fix"], "1.1");
    // The test index serves no upload times: unknown, not made up.
    assert_eq!(report["releases"]["first_upload"], Value::Null);
    assert_eq!(report["releases"]["days_since_last"], Value::Null);

    let output = show(&context, &index, &["app", "--audit-db", &db]);
    let screen = stdout(&output);
    assert!(
        screen.contains("GHSA-app-test-0001 (fixed in 1.1)"),
        "{screen}"
    );
    assert!(
        screen.contains("1 direct, 2 installed in its tree"),
        "{screen}"
    );
    assert!(screen.contains("license:          MIT"), "{screen}");
    assert!(screen.contains("first upload:     unknown"), "{screen}");
    assert!(
        screen.contains("Source:           https://example.invalid/app"),
        "{screen}"
    );

    // Fixed in the newest: a database that knows the project but not this version.
    let output = show(
        &context,
        &index,
        &["base", "--audit-db", &db, "--format", "json"],
    );
    assert_eq!(json(&output)["vulnerabilities"], serde_json::json!([]));
}
