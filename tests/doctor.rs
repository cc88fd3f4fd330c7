//! `safevenv doctor` end to end: a project that breaks practices is refused (exit 3) with each
//! finding's rule, and one that follows them passes. Each rule's refusing and passing cases are
//! unit tests of `safevenv-ops` (`doctor::tests`), with injected facts.

mod common;

use std::process::Command;

use common::{TestContext, stderr, stdout};
use serde_json::Value;

fn git_init(context: &TestContext) {
    let status = Command::new("git")
        .arg("-C")
        .arg(context.work())
        .args(["init", "-q"])
        .status()
        .expect("run git");
    assert!(status.success());
}

fn rules(json: &Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| finding["rule"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_project_that_breaks_practices_is_refused() {
    let context = TestContext::with_environment();
    git_init(&context);
    let work = context.work();
    fs_err::write(
        work.join("requirements.txt"),
        "requests>=2\n--extra-index-url https://user:hunter2@index.example/simple\n",
    )
    .unwrap();
    fs_err::write(work.join(".env"), "TOKEN=1\n").unwrap();
    let site = fs_err::read_dir(work.join(".venv/lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    fs_err::write(site.join("hook.pth"), "import os\n").unwrap();

    let output = context
        .safevenv()
        .args(["doctor", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let found = rules(&json);
    for rule in [
        "requirements.unpinned",
        "requirements.unhashed",
        "lockfile.missing",
        "secrets.env-file",
        "secrets.credentials-in-url",
        "environment.pth-exec",
        "environment.drift",
        "vulnerabilities.unchecked",
    ] {
        assert!(
            found.iter().any(|found| found == rule),
            "no {rule} in {found:?}"
        );
    }
    // The secret is masked everywhere it is reported.
    assert!(!stdout(&output).contains("hunter2"));

    let text = context.safevenv().arg("doctor").output().unwrap();
    assert_eq!(text.status.code(), Some(3));
    assert!(
        stderr(&text).contains("error[secrets.env-file]"),
        "{}",
        stderr(&text)
    );
    assert!(!stderr(&text).contains("hunter2"));

    let sarif = context
        .safevenv()
        .args(["doctor", "--format", "sarif"])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_str(&stdout(&sarif)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(!sarif["runs"][0]["results"].as_array().unwrap().is_empty());
}

#[test]
fn a_project_that_follows_the_practices_passes() {
    let context = TestContext::new();
    git_init(&context);
    let work = context.work();
    fs_err::write(
        work.join("requirements.txt"),
        "idna==3.7 --hash=sha256:82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0\n",
    )
    .unwrap();
    fs_err::write(work.join(".gitignore"), ".env\n").unwrap();
    fs_err::write(work.join(".env"), "TOKEN=1\n").unwrap();
    fs_err::write(work.join("safevenv.toml"), "extends = \"strict\"\n").unwrap();

    let output = context
        .safevenv()
        .args(["doctor", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let found = rules(&json);
    // No environment and no lockfile here: reported, but not errors.
    for finding in json["findings"].as_array().unwrap() {
        assert_ne!(finding["severity"], "error", "{finding}");
    }
    assert!(
        !found.iter().any(|rule| rule.starts_with("secrets.")
            || rule.starts_with("requirements.")
            || rule == "policy.looser-than-strict"),
        "{found:?}"
    );
}

#[test]
fn completions_for_each_shell() {
    let context = TestContext::new();
    for shell in ["bash", "zsh", "fish"] {
        let output = context
            .safevenv()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stdout(&output).contains("doctor"), "{shell}");
    }
    let output = context
        .safevenv()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_top_level_help_describes_safevenv() {
    let context = TestContext::new();
    let output = context.safevenv().arg("--help").output().unwrap();
    let help = stdout(&output);
    assert!(
        help.starts_with("safevenv creates Python virtual environments"),
        "{help}"
    );
    assert!(!help.contains("Command-line argument types"));
}

/// A requirement `install` refuses (a VCS source) is judged, not a reason to stop the checks.
#[test]
fn a_vcs_requirement_is_reported_as_unpinned() {
    let context = TestContext::new();
    git_init(&context);
    fs_err::write(
        context.work().join("requirements.txt"),
        "mylib @ git+https://git.example/org/mylib@v1\n",
    )
    .unwrap();
    let output = context
        .safevenv()
        .args(["doctor", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let found = rules(&json);
    assert!(
        found.iter().any(|rule| rule == "requirements.unpinned"),
        "{found:?}"
    );
}
