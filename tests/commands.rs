//! `safevenv uninstall`, `list` and `freeze` end to end: a real environment, a local index, the
//! installer's journal, and `RECORD` files that lie.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestContext, assert_unchanged, snapshot, stderr, stdout};
use safevenv_test_index::TestIndex;
use serde_json::Value;

/// An environment at `work/.venv` holding `app` (requested) and `lib` (its dependency), and the
/// lockfile that records them.
fn installed() -> (TestContext, TestIndex) {
    let context = TestContext::with_environment();
    let index = common::app_and_lib_index();
    let output = context.run_with_index(&index, &["install", "app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    (context, index)
}

fn run(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context.run_with_index(index, args)
}

fn venv(context: &TestContext) -> PathBuf {
    context.work().join(".venv")
}

fn site_packages(context: &TestContext) -> PathBuf {
    let lib = venv(context).join("lib");
    let python = fs_err::read_dir(&lib)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("python")
        })
        .expect("lib/pythonX.Y");
    python.join("site-packages")
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|err| panic!("not JSON ({err}):\n{}\n{}", stdout(output), stderr(output)))
}

fn lockfile(context: &TestContext) -> String {
    fs_err::read_to_string(context.work().join("pylock.toml")).unwrap()
}

/// The sha256 the lockfile records for `wheel` (its file name).
fn locked_sha256(context: &TestContext, wheel: &str) -> String {
    let lock = safevenv_lock::Lock::from_path(context.work().join("pylock.toml")).unwrap();
    lock.iter()
        .flat_map(|package| package.wheels())
        .find(|entry| entry.name.as_deref() == Some(wheel))
        .and_then(|entry| entry.hashes.0.get("sha256").cloned())
        .unwrap_or_else(|| panic!("`{wheel}` is not in the lockfile"))
}

#[test]
fn uninstall_refuses_a_required_distribution_and_names_the_requirer() {
    let (context, index) = installed();
    let before = snapshot(&venv(&context));
    let lock_before = lockfile(&context);
    let output = run(&context, &index, &["uninstall", "lib"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("`lib` is required by `app`"), "{message}");
    assert!(message.contains("lib>=1"), "{message}");
    assert!(message.contains("--force"), "{message}");
    assert_unchanged(&before, &snapshot(&venv(&context)));
    assert_eq!(lockfile(&context), lock_before);
}

#[test]
fn uninstall_with_force_removes_a_required_distribution_and_says_what_it_breaks() {
    let (context, index) = installed();
    let output = run(&context, &index, &["uninstall", "lib", "--force"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("Removed lib 1.0"), "{message}");
    assert!(message.contains("`app` requires `lib`"), "{message}");
    let site = site_packages(&context);
    assert!(!site.join("lib").exists());
    assert!(!site.join("lib-1.0.dist-info").exists());
    assert!(site.join("app/__init__.py").is_file());
    // `app`'s entry still names `lib` among its dependencies; `lib`'s own entry is gone.
    let lock = lockfile(&context);
    assert!(!lock.contains("[[packages]]\nname = \"lib\""), "{lock}");
    assert!(lock.contains("[[packages]]\nname = \"app\""), "{lock}");
}

#[test]
fn uninstall_removes_files_and_scripts_keeps_unneeded_dependencies_and_updates_the_lockfile() {
    let (context, index) = installed();
    let output = run(&context, &index, &["uninstall", "app", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["removed"][0]["name"], "app");
    assert_eq!(report["orphaned"][0]["name"], "lib");
    assert_eq!(report["lockfile"]["changed"], true);
    let message = stderr(&output);
    assert!(message.contains("Kept lib 1.0"), "{message}");
    let site = site_packages(&context);
    assert!(!site.join("app").exists());
    assert!(!site.join("app-1.0.dist-info").exists());
    assert!(!venv(&context).join("bin/app-tool").exists());
    assert!(site.join("lib/__init__.py").is_file());
    let lock = lockfile(&context);
    assert!(!lock.contains("name = \"app\""), "{lock}");
    assert!(lock.contains("name = \"lib\""), "{lock}");
    // The recorded requirement goes too: the next `install` does not bring `app` back.
    let parsed = safevenv_lock::Lock::from_path(context.work().join("pylock.toml")).unwrap();
    let requirements = &parsed.tool.as_ref().unwrap()["safevenv"]["requirements"];
    assert_eq!(requirements.as_array().map(Vec::len), Some(0), "{lock}");

    // Nothing installed by that name any more.
    let again = run(&context, &index, &["uninstall", "app"]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("`app` is not installed"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn quiet_uninstall_prints_nothing() {
    let (context, index) = installed();
    let output = run(&context, &index, &["-q", "uninstall", "app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    assert_eq!(stdout(&output), "");
}

#[test]
fn an_uninstall_killed_midway_is_rolled_back_by_the_next_run() {
    let (context, index) = installed();
    let before = snapshot(&venv(&context));
    let crashed = context
        .safevenv()
        .args(["uninstall", "app", "lib"])
        .env("SAFEVENV_INDEX_URL", index.url())
        .env("SAFEVENV_TEST_CRASH_AFTER_OPS", "2")
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the run was meant to abort");
    assert_ne!(snapshot(&venv(&context)), before, "the crash hit mid-way");
    // The next run recovers first: the environment is back as it was, with both installed.
    let listed = run(&context, &index, &["list", "--format", "json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let report = json(&listed);
    let names: Vec<&str> = report["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dist| dist["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "lib"]);
    assert_unchanged(&before, &snapshot(&venv(&context)));
}

/// Append `row` to `app`'s `RECORD`.
fn tamper_record(context: &TestContext, row: &str) {
    let record = site_packages(context).join("app-1.0.dist-info/RECORD");
    let mut text = fs_err::read_to_string(&record).unwrap();
    text.push_str(&format!("{row},,\n"));
    fs_err::write(&record, text).unwrap();
}

/// `uninstall app` must be refused, naming `row`, with nothing changed and `victim` kept.
fn assert_hostile_record_refused(row: &str, victim: impl Fn(&TestContext) -> PathBuf) {
    let (context, index) = installed();
    let victim = victim(&context);
    if !victim.exists() {
        fs_err::create_dir_all(victim.parent().unwrap()).unwrap();
        fs_err::write(&victim, "keep me").unwrap();
    }
    tamper_record(&context, row);
    let before = snapshot(&venv(&context));
    let lock_before = lockfile(&context);
    let output = run(&context, &index, &["uninstall", "app"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(row), "{message}");
    assert!(message.contains("nothing was removed"), "{message}");
    assert!(
        fs_err::symlink_metadata(&victim).is_ok(),
        "the victim was removed"
    );
    assert_unchanged(&before, &snapshot(&venv(&context)));
    assert_eq!(lockfile(&context), lock_before);
}

#[test]
fn hostile_record_climbing_out_of_the_environment_is_refused() {
    assert_hostile_record_refused("../../../../victim.txt", |context| {
        context.work().join("victim.txt")
    });
}

#[test]
fn hostile_record_with_an_absolute_path_outside_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    fs_err::write(&victim, "keep me").unwrap();
    let row = victim.display().to_string();
    assert_hostile_record_refused(&row, |_| victim.clone());
}

#[test]
fn hostile_record_into_the_state_directory_is_refused() {
    assert_hostile_record_refused("../../../.safevenv/lock", |context| {
        venv(context).join(".safevenv/lock")
    });
}

#[test]
fn hostile_record_naming_the_interpreter_is_refused() {
    assert_hostile_record_refused("../../../bin/python", |context| {
        venv(context).join("bin/python")
    });
}

#[test]
fn list_shows_name_version_and_source_in_every_format() {
    let (context, index) = installed();
    let output = run(&context, &index, &["list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("name"), "{table}");
    assert!(lines[1].starts_with("app"), "{table}");
    assert!(
        lines[1].contains("1.0") && lines[1].contains("index"),
        "{table}"
    );
    assert!(
        lines[1].contains(index.url().trim_end_matches('/')),
        "{table}"
    );
    assert!(lines[2].starts_with("lib"), "{table}");

    let output = run(&context, &index, &["list", "--format", "json"]);
    let report = json(&output);
    let app = &report["distributions"][0];
    assert_eq!(app["name"], "app");
    assert_eq!(app["version"], "1.0");
    assert_eq!(app["source"], "index");
    assert_eq!(app["installer"], "safevenv");
    assert_eq!(app["requested"], true);
    assert_eq!(report["distributions"][1]["requested"], false);
    assert_eq!(
        app["sha256"].as_str(),
        Some(locked_sha256(&context, "app-1.0-py3-none-any.whl").as_str())
    );

    let output = run(&context, &index, &["-q", "list", "--format", "freeze"]);
    assert_eq!(stderr(&output), "");
    assert!(stdout(&output).starts_with("app==1.0 \\\n    --hash=sha256:"));
}

/// A distribution another installer put there: a `.dist-info` without safevenv's receipt.
fn add_foreign_dist(context: &TestContext) {
    let dist_info = site_packages(context).join("foreign-2.0.dist-info");
    fs_err::create_dir_all(&dist_info).unwrap();
    fs_err::write(
        dist_info.join("METADATA"),
        "Metadata-Version: 2.1\nName: foreign\nVersion: 2.0\n",
    )
    .unwrap();
    fs_err::write(dist_info.join("INSTALLER"), "pip\n").unwrap();
    fs_err::write(
        dist_info.join("RECORD"),
        "foreign-2.0.dist-info/METADATA,,\n",
    )
    .unwrap();
}

#[test]
fn freeze_pins_with_the_installed_archive_hash_and_says_when_it_is_unknown() {
    let (context, index) = installed();
    add_foreign_dist(&context);
    let output = run(&context, &index, &["freeze"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let app = locked_sha256(&context, "app-1.0-py3-none-any.whl");
    let lib = locked_sha256(&context, "lib-1.0-py3-none-any.whl");
    assert_eq!(
        stdout(&output),
        format!(
            "app==1.0 \\\n    --hash=sha256:{app}\n\
             # hash unknown for foreign: safevenv did not install it (no receipt)\n\
             foreign==2.0\n\
             lib==1.0 \\\n    --hash=sha256:{lib}\n"
        )
    );
    assert!(stderr(&output).contains("1 distribution(s) without a known hash"));

    // What freeze prints is a requirements file pip reads, hashes and all.
    let pins = context.work().join("pins.txt");
    fs_err::write(&pins, stdout(&output).replace("foreign==2.0\n", "")).unwrap();
    let checked = pip_reads(&pins);
    assert_eq!(checked, ["app==1.0", "lib==1.0"], "pip read {checked:?}");

    let output = run(&context, &index, &["freeze", "--format", "json"]);
    let report = json(&output);
    let foreign = &report["distributions"][1];
    assert_eq!(foreign["name"], "foreign");
    assert_eq!(foreign["installer"], "pip");
    assert_eq!(foreign["sha256"], Value::Null);
    assert_eq!(
        foreign["sha256_unknown"],
        "safevenv did not install it (no receipt)"
    );
}

#[test]
fn a_changed_file_voids_the_hash_freeze_prints() {
    let (context, index) = installed();
    let module = site_packages(&context).join("lib/__init__.py");
    fs_err::write(&module, "VALUE = 2\n").unwrap();
    let output = run(&context, &index, &["freeze"]);
    let text = stdout(&output);
    assert!(
        text.contains("# hash unknown for lib: its files or RECORD changed since safevenv installed it\nlib==1.0\n"),
        "{text}"
    );
}

/// The requirements pip's own parser reads from `path` (name==version of each), with their
/// hashes checked to be there.
fn pip_reads(path: &Path) -> Vec<String> {
    let code = format!(
        "from pip._internal.req.req_file import parse_requirements\n\
         from pip._internal.network.session import PipSession\n\
         for r in parse_requirements({:?}, session=PipSession()):\n\
         \x20   assert r.options['hashes']['sha256'], r\n\
         \x20   print(r.requirement)\n",
        path.display().to_string()
    );
    let output = std::process::Command::new("python3")
        .args(["-c", &code])
        .output()
        .expect("run python3");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|line| line.trim().to_string())
        .collect()
}
