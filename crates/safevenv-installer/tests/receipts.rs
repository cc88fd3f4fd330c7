//! `sync` keeps an installed distribution only when its receipt shows that safevenv installed
//! it from the wanted archive and that its `RECORD` and files are as installed; anything else
//! of the wanted name and version is reinstalled.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use safevenv_installer::{EnvironmentLayout, Install, SealKey, Unkept};
use safevenv_test_index::WheelSpec;

use common::{apply, approve, install, make_env, open, verified, wanted};

fn demo() -> WheelSpec {
    WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "VALUE = 1\n")
        .file("demo/data/table.txt", "row\n")
        .console_script("demo", "demo:main")
}

/// The same name and version from another wheel (as another index or a local build has it).
fn other_demo() -> WheelSpec {
    WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "VALUE = 666\n")
        .file("demo/evil.py", "import os\n")
}

fn module(layout: &EnvironmentLayout) -> std::path::PathBuf {
    layout.scheme.purelib.join("demo/__init__.py")
}

fn dist_info(layout: &EnvironmentLayout) -> std::path::PathBuf {
    layout.scheme.purelib.join("demo-1.0.dist-info")
}

/// How the environment is changed after safevenv installed `demo`, and what the next sync must
/// then say.
struct Case {
    what: &'static str,
    change: fn(&EnvironmentLayout, &Path),
    /// The archive the sync wants (the install recorded none).
    wanted_artifact: Option<[u8; 32]>,
    /// Plan with another key than the one the install used.
    other_key: bool,
    expected: Unkept,
}

fn want(artifact: Option<[u8; 32]>) -> Vec<Install> {
    let mut want = wanted(&[("demo", "1.0", true)]);
    want[0].artifact_sha256 = artifact;
    want
}

/// Install `demo`, apply the case's change, and sync: `demo` must be reinstalled for the
/// expected reason, hold the wheel's content afterwards, and be kept by the sync after that.
fn assert_reinstalled(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    install(&layout, dir.path(), &[(demo(), "demo", "1.0")]);
    (case.change)(&layout, dir.path());
    let env = open(&layout);
    let key = if case.other_key {
        SealKey::open(dir.path().join("other-key/seal-key")).unwrap()
    } else {
        common::key(&layout)
    };
    let want = want(case.wanted_artifact);
    let plan = env.plan(&want, true, &key).unwrap();
    let what = case.what;
    assert!(plan.keep.is_empty(), "{what}: kept");
    assert_eq!(plan.remove.len(), 1, "{what}");
    assert_eq!(plan.install, want, "{what}");
    assert_eq!(
        plan.not_intact,
        [(want[0].name.clone(), case.expected.clone())],
        "{what}"
    );
    apply(
        &env,
        &plan,
        &approve(&want),
        &[verified(dir.path(), &demo())],
        &common::unpacked(&layout),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        fs_err::read_to_string(module(&layout)).unwrap(),
        "VALUE = 1\n",
        "{what}"
    );
    assert!(
        !layout.scheme.purelib.join("demo/evil.py").exists(),
        "{what}"
    );
    if !case.other_key {
        let again = env.plan(&want, true, &key).unwrap();
        assert!(again.is_empty(), "{what}: {:?}", again.not_intact);
    }
}

/// `pip` from the machine's `python3`, installing `wheel` into the environment as `pip
/// install --prefix` does: over our `.dist-info` and files, same name and version.
fn pip_install_over(layout: &EnvironmentLayout, wheel: &Path) {
    let output = Command::new(common::interpreter().sys_executable())
        .args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "--ignore-installed",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--prefix",
        ])
        .arg(&layout.prefix)
        .arg(wheel)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pip failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_same_version_that_pip_installed_over_it_from_another_wheel_is_reinstalled() {
    assert_reinstalled(&Case {
        what: "pip over it",
        change: |layout, root| {
            let other = root.join("other");
            fs_err::create_dir(&other).unwrap();
            let built = other_demo().build().unwrap();
            let wheel = other.join(&built.filename);
            fs_err::write(&wheel, &built.bytes).unwrap();
            pip_install_over(layout, &wheel);
            assert_eq!(
                fs_err::read_to_string(module(layout)).unwrap(),
                "VALUE = 666\n"
            );
            assert_eq!(
                fs_err::read_to_string(dist_info(layout).join("INSTALLER")).unwrap(),
                "pip\n"
            );
        },
        wanted_artifact: None,
        other_key: false,
        expected: Unkept::Changed,
    });
}

fn writable(path: &Path) {
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn a_distribution_changed_since_it_was_installed_is_reinstalled() {
    let cases = [
        Case {
            what: "a file edited in place, same size",
            change: |layout, _| {
                writable(&module(layout));
                fs_err::write(module(layout), "VALUE = 2\n").unwrap();
            },
            wanted_artifact: None,
            other_key: false,
            expected: Unkept::Changed,
        },
        Case {
            what: "a file replaced by a copy with its mode and times",
            change: |layout, root| {
                let copy = root.join("copy.py");
                let status = Command::new("cp")
                    .arg("-p")
                    .arg(module(layout))
                    .arg(&copy)
                    .status()
                    .unwrap();
                assert!(status.success());
                fs_err::rename(&copy, module(layout)).unwrap();
            },
            wanted_artifact: None,
            other_key: false,
            expected: Unkept::Changed,
        },
        Case {
            what: "a file made executable",
            change: |layout, _| {
                fs_err::set_permissions(module(layout), std::fs::Permissions::from_mode(0o755))
                    .unwrap();
            },
            wanted_artifact: None,
            other_key: false,
            expected: Unkept::Changed,
        },
        Case {
            what: "a file deleted",
            change: |layout, _| {
                fs_err::remove_file(layout.scheme.purelib.join("demo/data/table.txt")).unwrap();
            },
            wanted_artifact: None,
            other_key: false,
            expected: Unkept::Changed,
        },
        Case {
            what: "RECORD rewritten to hide a file",
            change: |layout, _| {
                let record = dist_info(layout).join("RECORD");
                let text = fs_err::read_to_string(&record).unwrap();
                let kept: String = text
                    .lines()
                    .filter(|line| !line.starts_with("demo/data/table.txt"))
                    .map(|line| format!("{line}\n"))
                    .collect();
                assert_ne!(kept, text);
                fs_err::write(&record, kept).unwrap();
            },
            wanted_artifact: None,
            other_key: false,
            expected: Unkept::Changed,
        },
        Case {
            what: "the receipt deleted (as pip's uninstall does)",
            change: |layout, _| {
                fs_err::remove_file(dist_info(layout).join("SAFEVENV-RECEIPT")).unwrap();
            },
            wanted_artifact: None,
            other_key: false,
            expected: Unkept::NoReceipt,
        },
        Case {
            what: "the receipt of another environment copied in",
            change: |layout, root| {
                let twin = make_env(&root.join("twin"));
                let twin_dir = root.join("twin-wheels");
                fs_err::create_dir(&twin_dir).unwrap();
                install(&twin, &twin_dir, &[(demo(), "demo", "1.0")]);
                fs_err::copy(
                    dist_info(&twin).join("SAFEVENV-RECEIPT"),
                    dist_info(layout).join("SAFEVENV-RECEIPT"),
                )
                .unwrap();
            },
            wanted_artifact: None,
            other_key: false,
            expected: Unkept::Changed,
        },
        Case {
            what: "a receipt in another format",
            change: |layout, _| {
                let receipt = dist_info(layout).join("SAFEVENV-RECEIPT");
                let text = fs_err::read_to_string(&receipt).unwrap();
                fs_err::write(&receipt, text.replace("-v1", "-v2")).unwrap();
            },
            wanted_artifact: None,
            other_key: false,
            expected: Unkept::Unreadable,
        },
        Case {
            what: "installed from another archive than the one wanted",
            change: |_, _| {},
            wanted_artifact: Some([7; 32]),
            other_key: false,
            expected: Unkept::OtherArtifact,
        },
        Case {
            what: "a receipt that this user's key did not make",
            change: |_, _| {},
            wanted_artifact: None,
            other_key: true,
            expected: Unkept::Changed,
        },
    ];
    for case in &cases {
        assert_reinstalled(case);
    }
}

#[test]
fn an_untouched_install_is_kept_even_after_it_ran() {
    for artifact in [None, Some([3; 32])] {
        let dir = tempfile::tempdir().unwrap();
        let layout = make_env(&dir.path().join("env"));
        let env = open(&layout);
        let want = want(artifact);
        let plan = env.plan(&want, true, &common::key(&layout)).unwrap();
        apply(
            &env,
            &plan,
            &approve(&want),
            &[verified(dir.path(), &demo())],
            &common::unpacked(&layout),
            &mut |_| {},
        )
        .unwrap();
        drop(env);
        // Running it writes bytecode no RECORD lists.
        common::python(&layout, &["-c", "import demo"]);
        assert!(layout.scheme.purelib.join("demo/__pycache__").is_dir());
        let env = open(&layout);
        let plan = env.plan(&want, true, &common::key(&layout)).unwrap();
        assert!(plan.is_empty(), "{:?}", plan.not_intact);
        assert_eq!(plan.keep.len(), 1);
        assert!(plan.not_intact.is_empty());
    }
}
