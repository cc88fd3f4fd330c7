//! The summary every install and sync ends with.

mod common;

use common::{TestContext, stderr, stdout};
use serde_json::Value;

/// The summary of an install names the policy layers in force and the time taken (JSON and
/// text), next to the attestation counts.
#[test]
fn an_install_summary_names_the_policy_in_force() {
    use safevenv_test_index::{TestIndex, WheelSpec};
    let context = TestContext::with_environment();
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("lib", "1.0").file("lib/__init__.py", b"VALUE = 1\n".to_vec()))
        .start()
        .expect("start the test index");
    fs_err::write(
        context.work().join("safevenv.toml"),
        "extends = \"default\"\n",
    )
    .unwrap();
    let output = context.run_with_index(&index, &["install", "lib", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let layers = json["policy"].as_array().expect("policy layers");
    assert_eq!(layers.len(), 1);
    assert!(
        layers[0].as_str().unwrap().ends_with("safevenv.toml`"),
        "{layers:?}"
    );
    assert!(json["elapsed_seconds"].as_f64().is_some());
    assert!(json["attestations"].is_object());
    assert!(stderr(&output).contains("Policy"), "{}", stderr(&output));
    assert!(json["bytes_downloaded"].as_u64().unwrap() > 0, "{json}");

    // A second environment gets the same wheel from the cache: nothing downloaded.
    let output = context
        .safevenv()
        .args(["create", "-q", "second"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = context.run_with_index(
        &index,
        &[
            "install",
            "lib",
            "--python",
            "second/bin/python",
            "--no-lockfile",
            "--format",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["bytes_downloaded"], 0, "{json}");
}
