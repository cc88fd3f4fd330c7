//! `kill -9` at every point of a transaction: afterwards, opening the environment (which
//! recovers) must leave it exactly as it was before, or exactly as the finished transaction
//! leaves it — every path, content and mode.
//!
//! The crash is real: this test binary runs itself again (`crash_child`, filtered by name) with
//! the test-only `SAFEVENV_TEST_CRASH_AFTER_OPS=N`, and the installer calls
//! `std::process::abort()` after `N` journaled operations.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use safevenv_installer::{Install, Plan, Recovered};
use safevenv_test_index::WheelSpec;

use common::{apply, approve, install, make_env, open, snapshot, unpacked, verified, wanted};

/// Tells the re-run test binary which scenario to crash, and where.
const CHILD: &str = "SAFEVENV_INSTALLER_TEST_CHILD";

fn demo(version: &str) -> WheelSpec {
    let spec = WheelSpec::new("demo", version)
        .file(
            "demo/__init__.py",
            format!("def main():\n    print('demo {version}')\n"),
        )
        .console_script("demo", "demo:main");
    if version == "1.0" {
        spec.file("demo/old.py", "OLD = 1\n")
            .data_file("data/share/demo/readme.txt", "v1\n")
            .data_file("headers/demo.h", "/* v1 */\n")
    } else {
        spec.file("demo/sub/__init__.py", "NEW = 2\n")
            .data_file("scripts/demo-tool", "#!python\nprint('tool')\n")
    }
}

fn other() -> WheelSpec {
    WheelSpec::new("other", "1.0").file("other.py", "OTHER = 1\n")
}

fn helper() -> WheelSpec {
    WheelSpec::new("helper", "1.0")
}

/// A scenario: what is installed before, and the transaction that is crashed.
struct Scenario {
    before: Vec<(WheelSpec, &'static str, &'static str)>,
    want: Vec<Install>,
    wheels: Vec<WheelSpec>,
    remove_extraneous: bool,
}

fn scenario(name: &str) -> Scenario {
    match name {
        // New distributions (scripts, data, headers, a dependency) next to an existing one.
        "install" => Scenario {
            before: vec![(other(), "other", "1.0")],
            want: wanted(&[
                ("other", "1.0", true),
                ("demo", "1.0", true),
                ("helper", "1.0", false),
            ]),
            wheels: vec![demo("1.0"), helper()],
            remove_extraneous: false,
        },
        // An upgrade (files kept, replaced, removed, added) and a sync removing `other`.
        "upgrade" => Scenario {
            before: vec![
                (demo("1.0"), "demo", "1.0"),
                (other(), "other", "1.0"),
                (helper(), "helper", "1.0"),
            ],
            want: wanted(&[("demo", "2.0", true), ("helper", "1.0", true)]),
            wheels: vec![demo("2.0")],
            remove_extraneous: true,
        },
        _ => panic!("unknown scenario `{name}`"),
    }
}

/// What the scenario asks of `env`, by names and versions alone. The crashed transactions run
/// on copies of one environment, whose files have new inodes, so no receipt would hold and
/// `Environment::plan` would reinstall everything: what is tested here is the transaction.
fn plan_by_version(env: &safevenv_installer::Environment, scenario: &Scenario) -> Plan {
    let mut plan = Plan::default();
    for dist in env.installed().unwrap() {
        let wanted = |exact: bool| {
            scenario
                .want
                .iter()
                .any(|want| want.name == dist.name && (!exact || want.version == dist.version))
        };
        if wanted(true) || !wanted(false) && !scenario.remove_extraneous {
            plan.keep.push(dist);
        } else {
            plan.remove.push(dist);
        }
    }
    for want in &scenario.want {
        if !plan.keep.iter().any(|dist| dist.name == want.name) {
            plan.install.push(want.clone());
        }
    }
    plan
}

/// Run the scenario's transaction on the environment at `prefix`.
fn run_transaction(prefix: &Path, name: &str, wheels_dir: &Path) -> usize {
    let scenario = scenario(name);
    let layout =
        safevenv_installer::EnvironmentLayout::for_environment(common::interpreter(), prefix);
    let env = open(&layout);
    let plan = plan_by_version(&env, &scenario);
    let wheels: Vec<_> = scenario
        .wheels
        .iter()
        .map(|spec| verified(wheels_dir, spec))
        .collect();
    apply(
        &env,
        &plan,
        &approve(&scenario.want),
        &wheels,
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap()
    .operations
}

/// The crashing half: does nothing unless run by `crash_at_every_point`.
#[test]
fn crash_child() {
    let Ok(task) = std::env::var(CHILD) else {
        return;
    };
    let (name, prefix) = task.split_once(':').unwrap();
    let wheels = tempfile::tempdir().unwrap();
    run_transaction(Path::new(prefix), name, wheels.path());
    // Reaching here means the crash point was past the end of the transaction.
    std::process::exit(3);
}

/// Crash `name` at every point; return the number of crash points.
fn crash_at_every_point(name: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("env");
    let template = dir.path().join("template");
    let layout = make_env(&prefix);
    let scenario = scenario(name);
    install(&layout, dir.path(), &scenario.before);
    // Bytecode no RECORD lists, as running the code leaves it.
    let modules: Vec<&str> = scenario.before.iter().map(|(_, name, _)| *name).collect();
    common::python(&layout, &["-c", &format!("import {}", modules.join(", "))]);
    common::copy_tree(&prefix, &template);
    let before = snapshot(&prefix);

    // The transaction without a crash: the new state and its number of operations.
    let ops = run_transaction(&prefix, name, dir.path());
    let after = snapshot(&prefix);
    assert_ne!(before, after);
    assert!(ops > 5, "only {ops} operations");

    let start = Instant::now();
    // Points 0..=ops crash before the commit marker; ops + 1 crashes just after it.
    for point in 0..=ops + 1 {
        fs_err::remove_dir_all(&prefix).unwrap();
        common::copy_tree(&template, &prefix);
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, format!("{name}:{}", prefix.display()))
            .env("SAFEVENV_TEST_CRASH_AFTER_OPS", point.to_string())
            .output()
            .unwrap();
        assert_aborted(&output, point);
        // The process died with its transaction half done: open recovers it.
        let env = open(&layout);
        let expected = if point <= ops {
            Recovered::RolledBack
        } else {
            Recovered::Finished
        };
        let recovered: Vec<Recovered> = env.recovered().iter().map(|(_, what)| *what).collect();
        assert_eq!(recovered, [expected], "crash point {point}");
        let now = snapshot(&prefix);
        let wanted = if point <= ops { &before } else { &after };
        assert!(
            &now == wanted,
            "crash point {point} of {ops}: differs from the {} state: {:?}",
            if point <= ops { "old" } else { "new" },
            common::diff(wanted, &now)
        );
        assert!(common::leftovers(&prefix).is_empty(), "crash point {point}");
        drop(env);
    }
    eprintln!(
        "{name}: {} crash points ({ops} operations) in {:?}",
        ops + 2,
        start.elapsed()
    );
    ops + 2
}

fn assert_aborted(output: &std::process::Output, point: usize) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        output.status.signal(),
        Some(6),
        "crash point {point}: the child did not abort ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn crash_at_every_operation_of_an_install() {
    assert!(crash_at_every_point("install") > 5);
}

#[test]
fn crash_at_every_operation_of_an_upgrade_and_sync() {
    assert!(crash_at_every_point("upgrade") > 5);
}

/// Rollback is idempotent: replaying an interrupted transaction's journal a second time, over
/// the environment the first rollback restored, changes nothing. (This is what makes a crash
/// during recovery safe: the next run replays the same journal.)
#[test]
fn replaying_a_rollback_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prefix: PathBuf = dir.path().join("env");
    let layout = make_env(&prefix);
    install(&layout, dir.path(), &scenario("upgrade").before);
    let before = snapshot(&prefix);
    let template = dir.path().join("template");
    common::copy_tree(&prefix, &template);
    let ops = run_transaction(&prefix, "upgrade", dir.path());
    fs_err::remove_dir_all(&prefix).unwrap();
    common::copy_tree(&template, &prefix);

    let output = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("upgrade:{}", prefix.display()))
        .env("SAFEVENV_TEST_CRASH_AFTER_OPS", (ops / 2).to_string())
        .output()
        .unwrap();
    assert_aborted(&output, ops / 2);
    let txn = fs_err::read_dir(prefix.join(".safevenv"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("txn-")
        })
        .unwrap();
    let copy = dir.path().join("txn-copy");
    common::copy_tree(&txn, &copy);
    // The lock file records the outstanding transaction (the one a journal may be replayed for).
    let lock = prefix.join(".safevenv/lock");
    let outstanding = fs_err::read(&lock).unwrap();
    drop(open(&layout));
    assert_eq!(snapshot(&prefix), before);

    // The journal, backups and staged files as the crash left them, and the record of the
    // outstanding transaction (as a crash during recovery leaves it), recovered once more.
    common::copy_tree(&copy, &txn);
    fs_err::write(&lock, &outstanding).unwrap();
    let env = open(&layout);
    assert_eq!(env.recovered().len(), 1);
    assert_eq!(
        common::diff(&before, &snapshot(&prefix)),
        Vec::<String>::new()
    );
}

/// Opening the environment refuses the journal left in its state directory, and keeps it.
#[track_caller]
fn assert_journal_refused(layout: &safevenv_installer::EnvironmentLayout) {
    let err = safevenv_installer::Environment::open(
        layout.clone(),
        safevenv_installer::LockMode::FailFast,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            safevenv_installer::InstallError::JournalUnauthenticated { .. }
        ),
        "{err:?}"
    );
}

/// A journal is replayed only in the environment and the transaction it was written for: the
/// MAC covers the transaction's name under the environment's own key. A genuine journal moved
/// to another transaction's name, or into another environment, is refused and left in place;
/// put back, it recovers as usual.
#[test]
fn a_journal_replays_only_in_its_own_environment_and_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let prefix: PathBuf = dir.path().join("env");
    let layout = make_env(&prefix);
    install(&layout, dir.path(), &scenario("upgrade").before);
    let before = snapshot(&prefix);
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("upgrade:{}", prefix.display()))
        .env("SAFEVENV_TEST_CRASH_AFTER_OPS", "3")
        .output()
        .unwrap();
    assert_aborted(&output, 3);
    let state = prefix.join(".safevenv");
    let txn = fs_err::read_dir(&state)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("txn-")
        })
        .unwrap();

    // Under another transaction's name in the same environment.
    let renamed = state.join("txn-1-1");
    fs_err::rename(&txn, &renamed).unwrap();
    assert_journal_refused(&layout);
    assert!(renamed.join("journal.json").is_file());

    // In another environment, with its own key.
    let other_prefix = dir.path().join("other");
    let other = make_env(&other_prefix);
    drop(open(&other));
    let planted = other_prefix
        .join(".safevenv")
        .join(txn.file_name().unwrap());
    common::copy_tree(&renamed, &planted);
    let other_before = snapshot(&other_prefix);
    assert_journal_refused(&other);
    assert_eq!(snapshot(&other_prefix), other_before);

    // Back under its own name, in its own environment: rolled back.
    let kept = dir.path().join("kept");
    common::copy_tree(&renamed, &kept);
    fs_err::rename(&renamed, &txn).unwrap();
    let env = open(&layout);
    assert_eq!(env.recovered(), [(txn.clone(), Recovered::RolledBack)]);
    drop(env);

    // Once recovered, the same signed journal put back (with backups of anyone's choosing)
    // is no longer the outstanding transaction's: refused, not replayed.
    common::copy_tree(&kept, &txn);
    fs_err::write(txn.join("backup/0"), "planted\n").unwrap();
    assert_journal_refused(&layout);
    fs_err::remove_dir_all(&txn).unwrap();
    assert_eq!(
        common::diff(&before, &snapshot(&prefix)),
        Vec::<String>::new()
    );
}
