//! `safevenv install` and `safevenv sync` end to end: a real environment, a local index, and the
//! guarantee that a refused or failed run leaves the environment exactly as it was.

mod common;

use std::process::{Command, Output};

use common::{
    TestContext, add_hostile_dependency, assert_unchanged, run_ok, snapshot, stderr, stdout,
};
use safevenv_test_index::{TestIndex, WheelSpec};

/// A context with an environment at `work/.venv`.
fn with_environment() -> TestContext {
    TestContext::with_environment()
}

fn safevenv(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context.run_with_index(index, args)
}

fn python(context: &TestContext, code: &str) -> Output {
    Command::new(context.work().join(".venv/bin/python"))
        .args(["-c", code])
        .output()
        .expect("run the environment's python")
}

#[test]
fn installs_a_requirement_with_its_dependencies_and_writes_the_lockfile() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    let output = safevenv(&context, &index, &["install", "app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("Installed app 1.0"), "{message}");
    assert!(message.contains("Installed lib 1.0"), "{message}");

    let imported = python(&context, "import app; print(app.VALUE)");
    assert_eq!(stdout(&imported).trim(), "1", "{}", stderr(&imported));
    assert!(
        context.work().join(".venv/bin/app-tool").exists(),
        "console script installed"
    );

    let site = stdout(&python(
        &context,
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ));
    let dist_info = std::path::Path::new(site.trim()).join("app-1.0.dist-info");
    assert_eq!(
        fs_err::read_to_string(dist_info.join("INSTALLER"))
            .unwrap()
            .trim(),
        "safevenv"
    );
    assert!(dist_info.join("REQUESTED").exists(), "app was requested");
    assert!(
        !std::path::Path::new(site.trim())
            .join("lib-1.0.dist-info/REQUESTED")
            .exists(),
        "lib is only a dependency"
    );

    let lock = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();
    assert!(
        lock.contains("name = \"app\"") && lock.contains("name = \"lib\""),
        "{lock}"
    );
    assert!(
        lock.contains("[tool]\nsafevenv = { requirements = [\"app\"] }"),
        "{lock}"
    );
}

#[test]
fn a_second_install_and_a_sync_of_the_same_set_change_nothing_and_sync_reads_no_index() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    assert!(
        safevenv(&context, &index, &["install", "app"])
            .status
            .success()
    );
    let before = snapshot(&context.work().join(".venv"));

    let output = safevenv(&context, &index, &["install", "app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("already holds all 2 distributions"),
        "{}",
        stderr(&output)
    );

    index.clear_requests();
    let output = safevenv(&context, &index, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        index.requests().is_empty(),
        "a no-op sync needs no network: {:?}",
        index.requests()
    );
    assert_unchanged(&before, &snapshot(&context.work().join(".venv")));
}

#[test]
fn a_warm_sync_into_a_fresh_environment_reads_no_index_while_the_pages_are_fresh() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    let output = safevenv(&context, &index, &["install", "app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let installed = snapshot(&context.work().join(".venv"));

    // Everything is cached: the archives (re-hashed against the lockfile), their unpacked
    // entries, and the index pages that vouch for each locked URL and say what provenance the
    // index offers (fresh for the default page TTL).
    run_ok(context.safevenv().args(["create", "-q", "--clear"]));
    index.clear_requests();
    let output = context
        .safevenv()
        .arg("sync")
        .env("SAFEVENV_INDEX_URL", index.url())
        .output()
        .expect("run safevenv");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        index.requests().is_empty(),
        "a warm sync needs no network: {:?}",
        index.requests()
    );
    let synced = snapshot(&context.work().join(".venv"));
    let packages = |snapshot: &std::collections::BTreeMap<std::path::PathBuf, String>| {
        snapshot
            .keys()
            .filter(|path| path.to_string_lossy().contains("site-packages"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(packages(&synced), packages(&installed));

    // Once the pages are stale (TTL 0) they are asked again, and only they: no file is
    // downloaded twice.
    run_ok(context.safevenv().args(["create", "-q", "--clear"]));
    index.clear_requests();
    let output = safevenv(&context, &index, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let paths: Vec<String> = index.requests().into_iter().map(|r| r.path).collect();
    assert!(
        !paths.is_empty() && paths.iter().all(|path| path.starts_with("/simple/")),
        "{paths:?}"
    );
}

#[test]
fn sync_installs_the_lockfile_exactly_and_removes_what_it_does_not_list() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    index.add(WheelSpec::new("extra", "2.0")).unwrap();
    assert!(
        safevenv(&context, &index, &["install", "app"])
            .status
            .success()
    );
    let locked = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();
    assert!(
        safevenv(&context, &index, &["install", "extra", "--no-lockfile"])
            .status
            .success()
    );
    assert_eq!(
        stdout(&python(&context, "import extra; print('ok')")).trim(),
        "ok"
    );

    let output = safevenv(&context, &index, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Removed extra 2.0"),
        "{}",
        stderr(&output)
    );
    assert!(
        !python(&context, "import extra").status.success(),
        "extra is gone"
    );
    assert_eq!(
        stdout(&python(&context, "import app; print(app.VALUE)")).trim(),
        "1"
    );
    assert_eq!(
        fs_err::read_to_string(context.work().join("pylock.toml")).unwrap(),
        locked
    );
}

#[test]
fn sync_into_a_fresh_environment_reproduces_the_locked_one() {
    let first = with_environment();
    let index = common::app_and_lib_index();
    assert!(
        safevenv(&first, &index, &["install", "app"])
            .status
            .success()
    );

    let second = with_environment();
    fs_err::copy(
        first.work().join("pylock.toml"),
        second.work().join("pylock.toml"),
    )
    .unwrap();
    let output = safevenv(&second, &index, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let site = |context: &TestContext| {
        let lib = stdout(&python(
            context,
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ));
        snapshot(std::path::Path::new(lib.trim()))
            .into_iter()
            .filter(|(path, _)| {
                !path.starts_with("__pycache__") && !path.to_string_lossy().contains("__pycache__")
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (one, two) = (site(&first), site(&second));
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        two.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_pth_file_that_runs_code_is_refused_and_never_runs_and_nothing_changes() {
    let context = with_environment();
    let marker = context.root.path().join("pwned");
    let index = common::app_and_lib_index();
    add_hostile_dependency(&index, &marker);
    assert!(
        safevenv(&context, &index, &["install", "app"])
            .status
            .success()
    );
    let before = snapshot(&context.work().join(".venv"));
    let lock_before = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();

    // The hostile package is a transitive dependency of a good-looking one.
    let output = safevenv(&context, &index, &["install", "good"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("contents.pth-exec"), "{message}");
    assert!(message.contains("evil"), "{message}");
    assert!(
        message.contains("the environment was not changed"),
        "{message}"
    );

    assert_unchanged(&before, &snapshot(&context.work().join(".venv")));
    assert_eq!(
        fs_err::read_to_string(context.work().join("pylock.toml")).unwrap(),
        lock_before
    );
    assert!(python(&context, "import sys").status.success());
    assert!(!marker.exists(), "the .pth code never ran");
}

#[test]
fn every_refusal_of_a_run_is_reported_together() {
    let context = with_environment();
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("one", "1.0").file("one.pth", b"import sys\n".to_vec()))
        .wheel(WheelSpec::new("two", "1.0").file("json/__init__.py", b"".to_vec()))
        .start()
        .unwrap();
    let before = snapshot(&context.work().join(".venv"));
    let output = safevenv(&context, &index, &["install", "one", "two"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("contents.pth-exec"), "{message}");
    assert!(message.contains("contents.stdlib-shadow"), "{message}");
    assert_unchanged(&before, &snapshot(&context.work().join(".venv")));
}

#[test]
fn an_artifact_the_index_now_lists_with_another_hash_is_refused_before_it_is_fetched() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    assert!(
        safevenv(&context, &index, &["lock", "app"])
            .status
            .success()
    );
    // The index now serves different bytes under the same file name (and says so).
    index
        .add(WheelSpec::new("lib", "1.0").file("lib/__init__.py", b"VALUE = 2\n".to_vec()))
        .unwrap();
    let before = snapshot(&context.work().join(".venv"));
    index.clear_requests();
    let output = safevenv(&context, &index, &["sync"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("lib-1.0-py3-none-any.whl")
            && message.contains("sources.artifact-url")
            && message.contains("not the lockfile's"),
        "{message}"
    );
    assert!(
        index
            .requests()
            .iter()
            .all(|request| !request.path.starts_with("/files/")),
        "nothing is fetched: {:?}",
        index.requests()
    );
    assert_unchanged(&before, &snapshot(&context.work().join(".venv")));
}

#[test]
fn a_wheel_with_a_path_traversal_entry_is_refused() {
    let context = with_environment();
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("sneaky", "1.0").raw_entry("../../escape.txt", b"x".to_vec()))
        .start()
        .unwrap();
    let before = snapshot(&context.work().join(".venv"));
    let output = safevenv(&context, &index, &["install", "sneaky"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("contents.archive"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(&before, &snapshot(&context.work().join(".venv")));
    assert!(!context.root.path().join("escape.txt").exists());
}

#[test]
fn sync_frozen_refuses_a_lockfile_that_no_longer_satisfies_the_requirements() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    index.add(WheelSpec::new("lib", "2.0")).unwrap();
    fs_err::write(context.work().join("requirements.in"), "app\nlib<2\n").unwrap();
    assert!(
        safevenv(&context, &index, &["lock", "-r", "requirements.in"])
            .status
            .success()
    );
    let output = safevenv(
        &context,
        &index,
        &["sync", "--frozen", "-r", "requirements.in"],
    );
    assert!(output.status.success(), "{}", stderr(&output));

    fs_err::write(context.work().join("requirements.in"), "app\nlib>=2\n").unwrap();
    let before = snapshot(&context.work().join(".venv"));
    let output = safevenv(
        &context,
        &index,
        &["sync", "--frozen", "-r", "requirements.in"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("no longer satisfies"), "{message}");
    assert!(message.contains("lib>=2"), "{message}");
    assert_unchanged(&before, &snapshot(&context.work().join(".venv")));
}

#[test]
fn a_lockfile_for_another_python_is_refused() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    assert!(
        safevenv(&context, &index, &["lock", "app"])
            .status
            .success()
    );
    let lock = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();
    let (major_minor, _) = lock
        .split_once("requires-python = \"==")
        .unwrap()
        .1
        .split_once(".*")
        .unwrap();
    let other = lock.replace(major_minor, "3.1");
    fs_err::write(context.work().join("pylock.toml"), other).unwrap();
    let output = safevenv(&context, &index, &["sync"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is not for this environment"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn without_an_environment_install_says_how_to_make_one() {
    let context = TestContext::new();
    let index = common::app_and_lib_index();
    let output = safevenv(&context, &index, &["install", "app"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("safevenv create"),
        "{}",
        stderr(&output)
    );

    let output = safevenv(&context, &index, &["install", "app", "--python", "python3"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not a virtual environment"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_install_killed_midway_is_repaired_by_the_next_run() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    let output = context
        .safevenv()
        .args(["install", "app", "--no-lockfile"])
        .env("SAFEVENV_INDEX_URL", index.url())
        .env("SAFEVENV_TEST_CRASH_AFTER_OPS", "3")
        .output()
        .unwrap();
    assert!(!output.status.success(), "the run was aborted");

    // The next run first rolls the interrupted transaction back, then does its own work.
    let output = safevenv(&context, &index, &["install", "app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("interrupted"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        stdout(&python(&context, "import app; print(app.VALUE)")).trim(),
        "1"
    );
    let leftovers: Vec<_> = fs_err::read_dir(context.work().join(".venv/.safevenv"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != "lock" && name != "journal-key")
        .collect();
    assert!(
        leftovers.is_empty(),
        "no transaction left behind: {leftovers:?}"
    );
}

/// The lockfile is part of the install's outcome: when it cannot be written after the
/// transaction committed, the run fails and says the environment holds the new set, and how
/// to write the lockfile (rather than reading as if nothing had happened).
#[test]
fn a_lockfile_that_cannot_be_written_after_commit_is_reported_with_the_way_out() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    // A lockfile in a directory that does not exist: nothing to read before, nowhere to write
    // after (root can write anywhere it may, so a permission cannot stand in for this).
    let output = safevenv(
        &context,
        &index,
        &["install", "app", "--lockfile", "missing/pylock.toml"],
    );
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(
        message.contains("the environment was updated (2 installed, 0 removed)"),
        "{message}"
    );
    assert!(message.contains("safevenv lock"), "{message}");
    // It was: both distributions are there, and importable.
    assert!(python(&context, "import app").status.success());
}

#[test]
fn sync_reinstalls_a_same_version_that_pip_put_there_from_another_wheel() {
    let context = with_environment();
    let index = common::app_and_lib_index();
    assert!(
        safevenv(&context, &index, &["install", "app"])
            .status
            .success()
    );
    // `pip install --target --upgrade` of another `lib` 1.0 (as another index, or a local
    // build, has it) replaces safevenv's files and `.dist-info` with its own.
    let built = WheelSpec::new("lib", "1.0")
        .file("lib/__init__.py", b"VALUE = 666\n".to_vec())
        .build()
        .unwrap();
    let wheel = context.work().join(&built.filename);
    fs_err::write(&wheel, &built.bytes).unwrap();
    let site = stdout(&python(
        &context,
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ));
    let pip = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "--upgrade",
            "--disable-pip-version-check",
            "--target",
            site.trim(),
        ])
        .arg(&wheel)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(pip.status.success(), "{}", stderr(&pip));
    assert_eq!(
        stdout(&python(&context, "import app; print(app.VALUE)")).trim(),
        "666"
    );

    let output = safevenv(&context, &index, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Reinstalled lib 1.0"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        stdout(&python(&context, "import app; print(app.VALUE)")).trim(),
        "1"
    );
    // Reinstalled with a receipt of its own: the next sync keeps everything.
    let output = safevenv(&context, &index, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("already holds all 2 distributions"),
        "{}",
        stderr(&output)
    );
}
