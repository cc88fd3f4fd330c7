//! `safevenv outdated` against the local index: yanked releases and pre-releases are not
//! offered, and the policy's release age decides the newest allowed version.

mod common;

use std::process::Output;

use common::{TestContext, run_ok, stderr, stdout};
use safevenv_test_index::{IndexFile, TestIndex, WheelSpec};
use serde_json::Value;

fn wheel(version: &str, uploaded: &str) -> IndexFile {
    IndexFile::from(WheelSpec::new("demo", version).file("demo/__init__.py", b"".to_vec()))
        .upload_time(uploaded)
}

fn index() -> TestIndex {
    TestIndex::builder()
        .file(wheel("1.0", "2020-01-01T00:00:00.000000Z"))
        .file(wheel("1.1", "2020-02-01T00:00:00.000000Z"))
        // Never old enough for a waiting period.
        .file(wheel("1.2", "2099-01-01T00:00:00.000000Z"))
        .file(wheel("2.0", "2020-03-01T00:00:00.000000Z").yanked(Some("broken")))
        .file(wheel("3.0rc1", "2020-03-01T00:00:00.000000Z"))
        .wheel(WheelSpec::new("current", "1.0"))
        .start()
        .unwrap()
}

fn safevenv(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context.run_with_index(index, args)
}

fn rows(output: &Output) -> Vec<(String, String, String, Option<String>)> {
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    report["outdated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["name"].as_str().unwrap().to_string(),
                row["current"].as_str().unwrap().to_string(),
                row["latest"].as_str().unwrap().to_string(),
                row["latest_allowed"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn newer_versions_are_listed_without_yanked_or_pre_releases_and_with_the_cooldown_apart() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = index();
    let output = safevenv(&context, &index, &["install", "demo==1.0", "current"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Default policy: no release age, so the newest is allowed.
    let output = safevenv(
        &context,
        &index,
        &["outdated", "--env", ".venv", "--format", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        rows(&output),
        [(
            "demo".into(),
            "1.0".into(),
            "1.2".into(),
            Some("1.2".into())
        )]
    );

    // A 7-day release age: 1.2 is too new, 1.1 is the newest allowed.
    fs_err::write(
        context.work().join("safevenv.toml"),
        "[releases]\nmin-release-age = \"7 days\"\n",
    )
    .unwrap();
    // The lockfile `install` wrote is the default subject.
    let output = safevenv(&context, &index, &["outdated", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        rows(&output),
        [(
            "demo".into(),
            "1.0".into(),
            "1.2".into(),
            Some("1.1".into())
        )]
    );
    let output = safevenv(&context, &index, &["outdated"]);
    let table = stdout(&output);
    assert!(table.contains("latest allowed"), "{table}");
    assert!(
        table.lines().any(
            |line| line.split_whitespace().collect::<Vec<_>>() == ["demo", "1.0", "1.2", "1.1"]
        ),
        "{table}"
    );
}

#[test]
fn a_pre_release_is_compared_with_pre_releases() {
    let context = TestContext::new();
    let index = index();
    fs_err::write(
        context.work().join("pylock.toml"),
        format!(
            "lock-version = \"1.0\"\ncreated-by = \"test\"\n\n[[packages]]\nname = \"demo\"\nversion = \"1.0rc1\"\nindex = \"{}\"\nwheels = [\n    {{ name = \"demo-1.0rc1-py3-none-any.whl\", url = \"{}\", hashes = {{ sha256 = \"{}\" }} }},\n]\n",
            index.url(),
            index.file_url("demo-1.0rc1-py3-none-any.whl"),
            "0".repeat(64)
        ),
    )
    .unwrap();
    let output = safevenv(
        &context,
        &index,
        &["outdated", "pylock.toml", "--format", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        rows(&output),
        [(
            "demo".into(),
            "1.0rc1".into(),
            "3.0rc1".into(),
            Some("3.0rc1".into())
        )]
    );
}

#[test]
fn list_outdated_reports_the_environment_as_outdated_does() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = index();
    let output = safevenv(&context, &index, &["install", "demo==1.0", "current"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = safevenv(&context, &index, &["list", "--outdated"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.lines().any(
            |line| line.split_whitespace().collect::<Vec<_>>() == ["demo", "1.0", "1.2", "1.2"]
        ),
        "{table}"
    );
    assert!(
        !table.lines().any(|line| line.starts_with("current ")),
        "only the outdated ones: {table}"
    );
}
