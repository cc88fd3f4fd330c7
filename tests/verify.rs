//! `safevenv verify` end to end: an environment installed from the local index, then tampered
//! with in each way verification must notice.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{TestContext, run_ok, stderr, stdout};
use safevenv_test_index::{TestIndex, WheelSpec};
use serde_json::Value;

/// An environment holding `app` and its dependency `lib`, and the lockfile of that install.
fn installed() -> (TestContext, TestIndex) {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder()
        .wheel(
            WheelSpec::new("app", "1.0")
                .requires_dist("lib>=1")
                .file("app/__init__.py", b"from lib import VALUE\n".to_vec())
                .file("app/data.txt", b"data\n".to_vec())
                .console_script("app-tool", "app:main"),
        )
        .wheel(WheelSpec::new("lib", "1.0").file("lib/__init__.py", b"VALUE = 1\n".to_vec()))
        .wheel(WheelSpec::new("extra", "2.0").file("extra/__init__.py", b"".to_vec()))
        .start()
        .expect("start the test index");
    let output = install(&context, &index, &["app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    (context, index)
}

fn install(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context
        .safevenv()
        .arg("install")
        .args(args)
        .env("SAFEVENV_INDEX_URL", index.url())
        .output()
        .expect("run safevenv")
}

fn verify(context: &TestContext, args: &[&str]) -> Output {
    context
        .safevenv()
        .arg("verify")
        .args(args)
        .output()
        .expect("run safevenv")
}

fn site_packages(context: &TestContext) -> PathBuf {
    let output = Command::new(context.work().join(".venv/bin/python"))
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .unwrap();
    PathBuf::from(stdout(&output).trim())
}

/// The problems of `--format json`, as `kind path-or-name` lines.
fn problems(output: &Output) -> Vec<String> {
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| {
            let subject = problem["path"]
                .as_str()
                .or(problem["name"].as_str())
                .unwrap_or_default();
            format!("{} {subject}", problem["kind"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn a_clean_environment_passes_even_after_python_compiled_its_bytecode() {
    let (context, _index) = installed();
    // Importing writes `__pycache__/*.pyc` that no RECORD lists: they belong with their `.py`.
    let imported = Command::new(context.work().join(".venv/bin/python"))
        .args(["-c", "import app"])
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .env_remove("PYTHONPYCACHEPREFIX")
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", stderr(&imported));
    assert!(site_packages(&context).join("app/__pycache__").is_dir());

    let output = verify(&context, &["--lockfile", "pylock.toml"]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stderr(&output).contains("match their RECORD and the lockfile"));
    let output = verify(&context, &["--env", ".venv", "--format", "json"]);
    assert!(output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["clean"], true);
    assert!(report["files_hashed"].as_u64().unwrap() >= 4, "{report}");
}

#[test]
fn a_modified_a_deleted_and_a_dropped_in_file_are_each_reported() {
    let (context, _index) = installed();
    let site = site_packages(&context);
    fs_err::write(site.join("lib/__init__.py"), "VALUE = 666\n").unwrap();
    fs_err::remove_file(site.join("app/data.txt")).unwrap();
    fs_err::write(site.join("evil.pth"), "import os; os.system('true')\n").unwrap();
    // A console script is outside site-packages, and checked all the same.
    fs_err::write(context.work().join(".venv/bin/app-tool"), "#!/bin/sh\n").unwrap();

    let output = verify(&context, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let found = problems(&output);
    let site_rel = site
        .strip_prefix(context.work().join(".venv").canonicalize().unwrap())
        .or_else(|_| site.strip_prefix(context.work().join(".venv")))
        .unwrap()
        .to_path_buf();
    let at = |file: &str| site_rel.join(file).display().to_string();
    let mut expected = vec![
        format!("modified {}", at("lib/__init__.py")),
        format!("missing {}", at("app/data.txt")),
        format!("unowned {}", at("evil.pth")),
        "modified bin/app-tool".to_string(),
    ];
    expected.sort();
    let mut found_sorted = found.clone();
    found_sorted.sort();
    assert_eq!(found_sorted, expected);

    // The table names the same problems for people.
    let output = verify(&context, &[]);
    assert_eq!(output.status.code(), Some(3));
    let table = stdout(&output);
    assert!(
        table.contains("modified: `") && table.contains("lib/__init__.py"),
        "{table}"
    );
    assert!(table.contains("not installed by any distribution: `") && table.contains("evil.pth"));
    assert!(
        stderr(&output).contains("4 problem(s)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_record_entry_outside_the_environment_is_reported_and_not_read() {
    let (context, _index) = installed();
    let site = site_packages(&context);
    let record = site.join("lib-1.0.dist-info/RECORD");
    let mut text = fs_err::read_to_string(&record).unwrap();
    text.push_str("../../../../../../../../../../etc/passwd,sha256=AAAA,1\n");
    fs_err::write(&record, text).unwrap();
    let output = verify(&context, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0]["kind"], "unsafe-entry");
    assert!(
        problems[0]["entry"]
            .as_str()
            .unwrap()
            .ends_with("etc/passwd")
    );
}

#[test]
fn lockfile_drift_lists_missing_extra_and_wrong_versions() {
    let (context, index) = installed();
    let output = install(&context, &index, &["extra", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lockfile = context.work().join("pylock.toml");
    let text = fs_err::read_to_string(&lockfile).unwrap();
    let text = text.replace(
        "name = \"lib\"\nversion = \"1.0\"",
        "name = \"lib\"\nversion = \"9.9\"",
    );
    let text = text.replace("lib-1.0-py3-none-any.whl", "lib-9.9-py3-none-any.whl");
    assert!(text.contains("version = \"9.9\""), "{text}");
    let text = format!(
        "{text}\n[[packages]]\nname = \"ghost\"\nversion = \"1.0\"\nindex = \"{}\"\nwheels = [\n    {{ name = \"ghost-1.0-py3-none-any.whl\", url = \"{}\", hashes = {{ sha256 = \"{}\" }} }},\n]\n",
        index.url(),
        index.file_url("ghost-1.0-py3-none-any.whl"),
        "0".repeat(64)
    );
    fs_err::write(&lockfile, text).unwrap();

    let output = verify(&context, &["--lockfile", "pylock.toml", "--format", "json"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let mut found = problems(&output);
    found.sort();
    assert_eq!(
        found,
        [
            "not-installed ghost",
            "not-locked extra",
            "wrong-version lib"
        ]
    );
    let output = verify(&context, &["--lockfile", "pylock.toml"]);
    let table = stdout(&output);
    assert!(
        table.contains("wrong version: lib 1.0 is installed, 9.9 is locked"),
        "{table}"
    );
}

#[test]
fn a_path_that_is_not_an_environment_is_refused() {
    let context = TestContext::new();
    let output = verify(&context, &["--env", "nowhere"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("nowhere"), "{}", stderr(&output));
}
