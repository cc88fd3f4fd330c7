//! Installing into a real environment (the machine's `python3`, a hand-made venv in a temporary
//! directory): imports, console scripts, metadata, upgrades, sync, refusals, failures.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use safevenv_installer::{InstallError, LockMode, Progress, Recovered};
use safevenv_test_index::WheelSpec;
use uv_normalize::PackageName;
use uv_pypi_types::{DirInfo, DirectUrl};

use common::{apply, approve, install, make_env, open, snapshot, unpacked, verified, wanted};

fn demo_v1() -> WheelSpec {
    WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "def main():\n    print('demo 1.0')\n")
        .file("demo/old.py", "OLD = 1\n")
        .console_script("demo", "demo:main")
        .data_file("data/share/demo/readme.txt", "v1\n")
        .data_file("headers/demo.h", "/* v1 */\n")
}

fn demo_v2() -> WheelSpec {
    WheelSpec::new("demo", "2.0")
        .file("demo/__init__.py", "def main():\n    print('demo 2.0')\n")
        .file("demo/sub/__init__.py", "NEW = 2\n")
        .console_script("demo", "demo:main")
        .data_file("scripts/demo-tool", "#!python\nprint('tool 2.0')\n")
}

fn other() -> WheelSpec {
    WheelSpec::new("other", "1.0").file("other.py", "OTHER = 1\n")
}

fn name(name: &str) -> PackageName {
    PackageName::from_str(name).unwrap()
}

#[test]
fn install_makes_importable_modules_and_runnable_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let env = open(&layout);
    let mut want = wanted(&[("demo", "1.0", true), ("helper", "1.0", false)]);
    want[0].direct_url = Some(DirectUrl::LocalDirectory {
        url: "file:///src/demo".to_string(),
        dir_info: DirInfo { editable: None },
        subdirectory: None,
    });
    let wheels = vec![
        verified(dir.path(), &demo_v1()),
        verified(dir.path(), &WheelSpec::new("helper", "1.0")),
    ];
    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
    assert_eq!(plan.install.len(), 2);
    let mut staged = Vec::new();
    let applied = apply(
        &env,
        &plan,
        &approve(&want),
        &wheels,
        &unpacked(&layout),
        &mut |progress| {
            if let Progress::Staging { name, .. } = progress {
                staged.push(name.to_string());
            }
        },
    )
    .unwrap();
    assert_eq!(staged, ["demo", "helper"]);
    assert!(applied.operations > 0);

    // Python imports both from the environment, and the console script runs.
    let out = common::python(
        &layout,
        &[
            "-c",
            "import demo, helper; print(demo.__file__); print(helper.__version__)",
        ],
    );
    assert!(
        out.starts_with(&layout.scheme.purelib.display().to_string()),
        "{out}"
    );
    assert!(out.ends_with("1.0\n"), "{out}");
    let script = layout.scheme.scripts.join("demo");
    assert_eq!(common::run(&script, &[]), "demo 1.0\n");
    let script_text = fs_err::read_to_string(&script).unwrap();
    assert_eq!(
        script_text.lines().next().unwrap(),
        format!("#!{}", layout.sys_executable.display())
    );

    // `.data/` went to the scheme's places.
    let prefix = &layout.prefix;
    assert_eq!(
        fs_err::read_to_string(prefix.join("share/demo/readme.txt")).unwrap(),
        "v1\n"
    );
    assert!(layout.scheme.include.join("demo/demo.h").is_file());

    // PEP 376 metadata: INSTALLER, REQUESTED only for the requested one, direct_url.json.
    let installed = env.installed().unwrap();
    let demo = installed
        .iter()
        .find(|dist| dist.name == name("demo"))
        .unwrap();
    let helper = installed
        .iter()
        .find(|dist| dist.name == name("helper"))
        .unwrap();
    assert_eq!(demo.installer.as_deref(), Some("safevenv"));
    assert_eq!(helper.installer.as_deref(), Some("safevenv"));
    assert!(demo.requested);
    assert!(!helper.requested);
    let direct_url = fs_err::read_to_string(demo.dist_info.join("direct_url.json")).unwrap();
    assert!(direct_url.contains("file:///src/demo"), "{direct_url}");
    assert!(!helper.dist_info.join("direct_url.json").exists());

    // RECORD lists every installed file with its true hash, by paths relative to site-packages.
    for dist in [demo, helper] {
        let record = fs_err::read_to_string(dist.record.as_ref().unwrap()).unwrap();
        let mut listed = Vec::new();
        for line in record.lines() {
            let mut fields = line.split(',');
            let path = fields.next().unwrap();
            let hash = fields.next().unwrap();
            let file = layout.scheme.purelib.join(path);
            assert!(file.is_file(), "{} lists missing `{path}`", dist.name);
            if let Some(digest) = hash.strip_prefix("sha256=") {
                use base64::Engine as _;
                use sha2::Digest as _;
                let actual = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(fs_err::read(&file).unwrap()));
                assert_eq!(digest, actual, "hash of `{path}`");
            } else {
                assert!(path.ends_with("RECORD"), "`{path}` has no hash");
            }
            listed.push(path.to_string());
        }
        let dist_info = dist
            .dist_info
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(listed.contains(&format!("{dist_info}/INSTALLER")));
        assert_eq!(
            listed.contains(&format!("{dist_info}/REQUESTED")),
            dist.requested,
            "{listed:?}"
        );
    }
    let files = env.files_of(demo).unwrap();
    for expected in [
        layout.scheme.scripts.join("demo"),
        layout.scheme.purelib.join("demo/__init__.py"),
        demo.dist_info.join("RECORD"),
        prefix.join("share/demo/readme.txt"),
    ] {
        assert!(
            files.contains(&expected),
            "{} not in {files:?}",
            expected.display()
        );
    }
    assert!(files.iter().all(|file| file.starts_with(prefix)));
    let demo_record = fs_err::read_to_string(demo.record.as_ref().unwrap()).unwrap();
    assert!(
        demo_record.contains("../../../bin/demo,sha256="),
        "{demo_record}"
    );
    assert!(common::leftovers(prefix).is_empty());
}

#[test]
fn upgrade_removes_old_files_and_adds_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    install(&layout, dir.path(), &[(demo_v1(), "demo", "1.0")]);
    // Bytecode that no RECORD lists, as running the code leaves it.
    common::python(&layout, &["-c", "import demo.old"]);
    let site = &layout.scheme.purelib;
    assert!(site.join("demo/__pycache__").is_dir());

    let env = open(&layout);
    let want = wanted(&[("demo", "2.0", true)]);
    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
    assert_eq!(plan.remove.len(), 1);
    let wheels = vec![verified(dir.path(), &demo_v2())];
    let applied = apply(
        &env,
        &plan,
        &approve(&want),
        &wheels,
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(applied.removed, [(name("demo"), "1.0".parse().unwrap())]);
    assert_eq!(applied.installed, [(name("demo"), "2.0".parse().unwrap())]);

    for gone in [
        site.join("demo/old.py"),
        site.join("demo/__pycache__"),
        site.join("demo-1.0.dist-info"),
        layout.prefix.join("share/demo"),
        layout.scheme.include.join("demo"),
    ] {
        assert!(!gone.exists(), "`{}` is still there", gone.display());
    }
    assert!(site.join("demo/sub/__init__.py").is_file());
    assert_eq!(
        common::run(&layout.scheme.scripts.join("demo"), &[]),
        "demo 2.0\n"
    );
    // `#!python` in `.data/scripts` was pointed at the environment's interpreter.
    assert_eq!(
        common::run(&layout.scheme.scripts.join("demo-tool"), &[]),
        "tool 2.0\n"
    );
    let versions: Vec<String> = env
        .installed()
        .unwrap()
        .iter()
        .map(|dist| format!("{}=={}", dist.name, dist.version))
        .collect();
    assert_eq!(versions, ["demo==2.0"]);
}

#[test]
fn sync_removes_extraneous_distributions_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    install(
        &layout,
        dir.path(),
        &[(demo_v1(), "demo", "1.0"), (other(), "other", "1.0")],
    );
    common::python(&layout, &["-c", "import demo.old, other"]);
    let env = open(&layout);
    let want = wanted(&[("demo", "1.0", true)]);
    assert!(
        env.plan(&want, false, &common::key(env.layout()))
            .unwrap()
            .is_empty()
    );

    let before = snapshot(&layout.prefix);
    let plan = env.plan(&want, true, &common::key(env.layout())).unwrap();
    assert_eq!(plan.remove.len(), 1);
    assert!(plan.install.is_empty());
    let applied = apply(
        &env,
        &plan,
        &approve(&[]),
        &[],
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(applied.removed, [(name("other"), "1.0".parse().unwrap())]);
    let after = snapshot(&layout.prefix);
    let changed = common::diff(&before, &after);
    // Only `other` went: its files, its bytecode and the `__pycache__` it alone used.
    assert!(
        changed.iter().all(|line| line.starts_with("- ")
            && (line.contains("other") || line.ends_with("site-packages/__pycache__"))),
        "{changed:?}"
    );
    assert!(
        changed
            .iter()
            .any(|line| line.contains("__pycache__/other.")),
        "{changed:?}"
    );
    assert!(!layout.scheme.purelib.join("other.py").exists());
    assert!(layout.scheme.purelib.join("demo/__pycache__").is_dir());
    // demo is untouched and still works.
    assert_eq!(
        common::run(&layout.scheme.scripts.join("demo"), &[]),
        "demo 1.0\n"
    );
}

#[test]
fn uninstall_removes_one_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let empty = snapshot(&layout.prefix);
    install(&layout, dir.path(), &[(demo_v1(), "demo", "1.0")]);
    let env = open(&layout);
    env.uninstall(&name("demo"), &mut |_| {}).unwrap();
    // Back to the empty environment, but for the scheme directories uv created.
    let changed = common::diff(&empty, &snapshot(&layout.prefix));
    assert!(
        changed
            .iter()
            .all(|line| line.starts_with("+ ") && !line.contains("demo")),
        "{changed:?}"
    );
    let err = env.uninstall(&name("demo"), &mut |_| {}).unwrap_err();
    assert!(matches!(err, InstallError::NotInstalled { .. }), "{err}");
}

/// Install `other` into a new environment, then append `entry` to its RECORD.
fn other_with_record_entry(
    dir: &Path,
    entry: impl Fn(&safevenv_installer::EnvironmentLayout) -> String,
) -> safevenv_installer::EnvironmentLayout {
    let layout = make_env(&dir.join("env"));
    install(&layout, dir, &[(other(), "other", "1.0")]);
    let entry = entry(&layout);
    let record = layout.scheme.purelib.join("other-1.0.dist-info/RECORD");
    let mut text = fs_err::read_to_string(&record).unwrap();
    text.push_str(&format!("{entry},,\n"));
    fs_err::write(&record, text).unwrap();
    layout
}

/// Uninstalling `other` must fail with `expected`, and change nothing anywhere.
fn assert_refused(layout: &safevenv_installer::EnvironmentLayout, victim: &Path, expected: &str) {
    let before = snapshot(&layout.prefix);
    let env = open(layout);
    let err = env.uninstall(&name("other"), &mut |_| {}).unwrap_err();
    let debug = format!("{err:?}");
    assert!(debug.starts_with(expected), "{debug}");
    assert!(victim.is_file(), "the victim file was removed");
    assert_eq!(snapshot(&layout.prefix), before);
    assert!(common::leftovers(&layout.prefix).is_empty());
}

#[test]
fn hostile_record_climbing_out_of_the_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    fs_err::write(&victim, "keep me").unwrap();
    let layout = other_with_record_entry(dir.path(), |layout| {
        let depth = layout.scheme.purelib.components().count();
        format!(
            "{}{}",
            "../".repeat(depth),
            victim.strip_prefix("/").unwrap().display()
        )
    });
    assert_refused(&layout, &victim, "RecordPathOutsideEnvironment");
}

#[test]
fn hostile_record_with_an_absolute_path_outside_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    fs_err::write(&victim, "keep me").unwrap();
    let layout = other_with_record_entry(dir.path(), |_| victim.display().to_string());
    assert_refused(&layout, &victim, "RecordPathOutsideEnvironment");
}

#[test]
fn hostile_record_through_a_symlink_out_of_the_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs_err::create_dir(&outside).unwrap();
    let victim = outside.join("victim.txt");
    fs_err::write(&victim, "keep me").unwrap();
    let layout = other_with_record_entry(dir.path(), |_| "escape/victim.txt".to_string());
    fs_err::os::unix::fs::symlink(&outside, layout.scheme.purelib.join("escape")).unwrap();
    assert_refused(&layout, &victim, "RecordPathOutsideEnvironment");
}

#[test]
fn hostile_record_naming_the_installer_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = other_with_record_entry(dir.path(), |layout| {
        let site = layout.scheme.purelib.strip_prefix(&layout.prefix).unwrap();
        format!("{}.safevenv/lock", "../".repeat(site.components().count()))
    });
    let lock = layout.prefix.join(".safevenv/lock");
    assert_refused(&layout, &lock, "RecordPathInStateDir");
}

#[test]
fn hostile_record_naming_the_interpreter_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = other_with_record_entry(dir.path(), |layout| {
        let site = layout.scheme.purelib.strip_prefix(&layout.prefix).unwrap();
        format!("{}bin/python", "../".repeat(site.components().count()))
    });
    // `make_env` links the interpreter there: the link is what removal would delete.
    let python = layout.scheme.scripts.join("python");
    assert_refused(&layout, &python, "RecordPathEnvironmentFile");
    assert!(fs_err::symlink_metadata(&python).unwrap().is_symlink());
}

#[test]
fn hostile_record_naming_pyvenv_cfg_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = other_with_record_entry(dir.path(), |layout| {
        let site = layout.scheme.purelib.strip_prefix(&layout.prefix).unwrap();
        format!("{}pyvenv.cfg", "../".repeat(site.components().count()))
    });
    let cfg = layout.prefix.join("pyvenv.cfg");
    assert_refused(&layout, &cfg, "RecordPathEnvironmentFile");
}

#[test]
fn record_with_absolute_paths_inside_the_environment_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    install(&layout, dir.path(), &[(other(), "other", "1.0")]);
    // Older installers wrote absolute paths; inside the prefix they are fine.
    let record = layout.scheme.purelib.join("other-1.0.dist-info/RECORD");
    let module = layout.scheme.purelib.join("other.py");
    let text = fs_err::read_to_string(&record)
        .unwrap()
        .replace("other.py,", &format!("{},", module.display()));
    fs_err::write(&record, text).unwrap();
    let env = open(&layout);
    env.uninstall(&name("other"), &mut |_| {}).unwrap();
    assert!(!module.exists());
    assert!(env.installed().unwrap().is_empty());
}

#[test]
fn a_failed_operation_rolls_back_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    install(&layout, dir.path(), &[(other(), "other", "1.0")]);
    let before = snapshot(&layout.prefix);
    let bin = layout.scheme.scripts.clone();
    let _guard = ReadOnly::new(&bin);

    // Removing `other` (site-packages) runs first; placing `bin/demo` then fails.
    let env = open(&layout);
    let want = wanted(&[("demo", "1.0", true)]);
    let plan = env.plan(&want, true, &common::key(env.layout())).unwrap();
    let wheels = vec![verified(dir.path(), &demo_v1())];
    let mut applied_ops = 0;
    let err = apply(
        &env,
        &plan,
        &approve(&want),
        &wheels,
        &unpacked(&layout),
        &mut |progress| {
            if let Progress::Applying { done, .. } = progress {
                applied_ops = done;
            }
        },
    )
    .unwrap_err();
    let InstallError::Apply { path, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, &bin.join("demo"));
    assert!(err.to_string().contains("bin/demo"), "{err}");
    assert!(applied_ops > 0, "the failure came before any change");
    drop(_guard);
    assert_eq!(
        common::diff(&before, &snapshot(&layout.prefix)),
        Vec::<String>::new()
    );
    assert!(common::leftovers(&layout.prefix).is_empty());
}

/// Make a directory unwritable for this process: `chmod 555`, or (as root, which ignores
/// permissions) the immutable attribute. Undone on drop.
struct ReadOnly<'a> {
    dir: &'a Path,
    immutable: bool,
}

impl<'a> ReadOnly<'a> {
    fn new(dir: &'a Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = dir.join(".probe");
        let immutable = fs_err::write(&probe, "").is_ok();
        if immutable {
            fs_err::remove_file(&probe).unwrap();
            let status = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .unwrap();
            assert!(
                status.success(),
                "cannot make `{}` read-only",
                dir.display()
            );
            assert!(fs_err::write(&probe, "").is_err());
        }
        Self { dir, immutable }
    }
}

impl Drop for ReadOnly<'_> {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(self.dir)
                .status();
        }
        let _ = fs_err::set_permissions(self.dir, std::fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn unapproved_or_missing_wheels_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let before = snapshot(&layout.prefix);
    let env = open(&layout);
    let want = wanted(&[("demo", "1.0", true), ("other", "1.0", true)]);
    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
    let wheels = vec![
        verified(dir.path(), &demo_v1()),
        verified(dir.path(), &other()),
    ];

    let err = apply(
        &env,
        &plan,
        &approve(&want[..1]),
        &wheels,
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(&err, InstallError::NotApproved { name, .. } if name == "other"),
        "{err:?}"
    );

    let err = apply(
        &env,
        &plan,
        &approve(&want),
        &wheels[..1],
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(&err, InstallError::MissingWheel { name, .. } if name == "other"),
        "{err:?}"
    );
    assert_eq!(snapshot(&layout.prefix), before);
    assert!(common::leftovers(&layout.prefix).is_empty());

    // The same inputs, approved and complete, go through.
    apply(
        &env,
        &plan,
        &approve(&want),
        &wheels,
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(env.installed().unwrap().len(), 2);
}

/// The approval is bound to what was judged: another wheel of the same name and version (other
/// content) is refused, and so are facts that leave out a file the wheel installs (facts made
/// up rather than read from the wheel). Nothing changes either time.
#[test]
fn an_approval_covers_only_the_content_and_files_it_judged() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let before = snapshot(&layout.prefix);
    let env = open(&layout);
    let want = wanted(&[("demo", "1.0", true)]);
    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
    let cache = unpacked(&layout);
    for sub in ["judged", "swapped"] {
        fs_err::create_dir(dir.path().join(sub)).unwrap();
    }
    let judged = verified(&dir.path().join("judged"), &demo_v1());
    let swapped = verified(
        &dir.path().join("swapped"),
        &demo_v1().file("demo/extra.py", "EXTRA = 1\n"),
    );
    let judged_ready = vec![cache.prepare(judged.inspect()).unwrap()];
    let swapped_ready = vec![cache.prepare(swapped.inspect()).unwrap()];
    let approved = approve(&want).judge(&layout, &judged_ready);
    let err = env
        .apply(&plan, &approved, &swapped_ready, &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(&err, InstallError::NotApprovedContent { name, .. } if name == "demo"),
        "{err:?}"
    );
    assert_eq!(snapshot(&layout.prefix), before);

    let site = layout
        .scheme
        .purelib
        .strip_prefix(&layout.prefix)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for unjudged in [
        format!("{site}/demo/__init__.py"),
        format!("{site}/demo-1.0.dist-info/INSTALLER"),
    ] {
        let err = apply(
            &env,
            &plan,
            &common::approve_without(&want, &unjudged),
            std::slice::from_ref(&judged),
            &cache,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(&err, InstallError::NotApprovedContent { name, .. } if name == "demo"),
            "{unjudged}: {err:?}"
        );
        assert_eq!(snapshot(&layout.prefix), before);
        assert!(common::leftovers(&layout.prefix).is_empty());
    }

    // The judged wheel, with its facts whole, goes through.
    env.apply(&plan, &approved, &judged_ready, &mut |_| {})
        .unwrap();
    assert_eq!(env.installed().unwrap().len(), 1);
}

#[test]
fn lock_serialises_concurrent_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let first = open(&layout);
    let err =
        safevenv_installer::Environment::open(layout.clone(), LockMode::FailFast, &mut |_| {})
            .unwrap_err();
    assert!(matches!(err, InstallError::Locked { .. }), "{err:?}");

    let (waiting_tx, waiting_rx) = std::sync::mpsc::channel();
    let second = std::thread::spawn({
        let layout = layout.clone();
        let wheels_dir = dir.path().to_path_buf();
        move || {
            let env = safevenv_installer::Environment::open(layout, LockMode::Wait, &mut |path| {
                waiting_tx.send(path.to_path_buf()).unwrap();
            })
            .unwrap();
            let want = wanted(&[("other", "1.0", true)]);
            let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
            let wheels = vec![verified(&wheels_dir, &other())];
            apply(
                &env,
                &plan,
                &approve(&want),
                &wheels,
                &unpacked(env.layout()),
                &mut |_| {},
            )
            .unwrap();
        }
    });
    let lock = waiting_rx.recv().unwrap();
    assert_eq!(lock, layout.prefix.join(".safevenv/lock"));
    // The second process waits while the first installs.
    let want = wanted(&[("demo", "1.0", true)]);
    let plan = first
        .plan(&want, false, &common::key(first.layout()))
        .unwrap();
    let wheels = vec![verified(dir.path(), &demo_v1())];
    apply(
        &first,
        &plan,
        &approve(&want),
        &wheels,
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap();
    assert!(!second.is_finished());
    drop(first);
    second.join().unwrap();

    let env = open(&layout);
    let names: Vec<String> = env
        .installed()
        .unwrap()
        .iter()
        .map(|d| d.name.to_string())
        .collect();
    assert_eq!(names, ["demo", "other"]);
    assert!(env.recovered().is_empty());
    assert!(common::leftovers(&layout.prefix).is_empty());
}

#[test]
fn no_op_sync_is_near_instant() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let names: Vec<String> = (0..40).map(|n| format!("pkg{n}")).collect();
    let specs: Vec<(WheelSpec, &str, &str)> = names
        .iter()
        .map(|name| (WheelSpec::new(name, "1.0"), name.as_str(), "1.0"))
        .collect();
    let start = Instant::now();
    install(&layout, dir.path(), &specs);
    let install_time = start.elapsed();
    let before = snapshot(&layout.prefix);

    let want = wanted(
        &names
            .iter()
            .map(|name| (name.as_str(), "1.0", true))
            .collect::<Vec<_>>(),
    );
    let start = Instant::now();
    let env = open(&layout);
    let plan = env.plan(&want, true, &common::key(env.layout())).unwrap();
    let applied = apply(
        &env,
        &plan,
        &approve(&want),
        &[],
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap();
    let no_op = start.elapsed();
    eprintln!("installing 40 distributions: {install_time:?}; no-op sync of 40: {no_op:?}");
    assert!(plan.is_empty());
    assert_eq!(plan.keep.len(), 40);
    assert_eq!(applied.operations, 0);
    assert_eq!(snapshot(&layout.prefix), before);
    assert!(no_op.as_millis() < 500, "no-op took {no_op:?}");
}

#[test]
fn interrupted_staging_is_discarded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let before = snapshot(&layout.prefix);
    // A process died while staging: no journal yet, the environment untouched.
    let txn = layout.prefix.join(".safevenv/txn-1-1");
    fs_err::create_dir_all(txn.join("staged/lib")).unwrap();
    fs_err::write(txn.join("staged/lib/x.py"), "").unwrap();
    let env = open(&layout);
    assert_eq!(env.recovered(), [(txn, Recovered::RolledBack)]);
    assert!(common::leftovers(&layout.prefix).is_empty());
    assert_eq!(snapshot(&layout.prefix), before);
}

#[test]
fn corrupt_journal_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    // The environment has its key once it was opened.
    drop(open(&layout));
    let before = snapshot(&layout.prefix);
    let txn = layout.prefix.join(".safevenv/txn-1-1");
    fs_err::create_dir_all(txn.join("backup")).unwrap();
    fs_err::write(txn.join("backup/0"), "#!/bin/sh\nevil\n").unwrap();
    let site = layout.scheme.purelib.strip_prefix(&layout.prefix).unwrap();
    let interpreter = layout.scheme.scripts.strip_prefix(&layout.prefix).unwrap();
    // Journals nobody signed with this environment's key, each of which "rolls back" a planted
    // backup over a file of the environment: of every shape, with a MAC of every kind.
    for ops in [
        format!(
            r#"[{{"op":"backup","path":"{}/python","backup":"0"}}]"#,
            interpreter.display()
        ),
        format!(
            r#"[{{"op":"backup","path":"{}/evil.pth","backup":"0"}}]"#,
            site.display()
        ),
        r#"[{"op":"place","path":"pyvenv.cfg"}]"#.to_string(),
    ] {
        for mac in [
            String::new(),
            "0".repeat(64),
            "zz".repeat(32),
            "ab".to_string(),
        ] {
            fs_err::write(
                txn.join("journal.json"),
                format!(r#"{{"version":2,"ops":{ops},"mac":"{mac}"}}"#),
            )
            .unwrap();
            let err = safevenv_installer::Environment::open(
                layout.clone(),
                LockMode::FailFast,
                &mut |_| {},
            )
            .unwrap_err();
            assert!(
                matches!(err, InstallError::JournalUnauthenticated { .. }),
                "{ops} {mac:?}: {err:?}"
            );
            assert!(txn.join("journal.json").is_file());
            assert!(txn.join("backup/0").is_file());
            assert_eq!(snapshot(&layout.prefix), before);
        }
    }
    // A journal of the earlier, unsigned format is refused with its reason, and kept.
    fs_err::write(
        txn.join("journal.json"),
        r#"{"version":1,"ops":[{"op":"place","path":"lib/x.py"}]}"#,
    )
    .unwrap();
    let err =
        safevenv_installer::Environment::open(layout.clone(), LockMode::FailFast, &mut |_| {})
            .unwrap_err();
    assert!(
        matches!(&err, InstallError::JournalCorrupt { reason, .. } if reason.contains("version 1")),
        "{err:?}"
    );
    assert!(txn.join("journal.json").is_file());
    assert_eq!(snapshot(&layout.prefix), before);
}

#[test]
fn scheme_outside_the_prefix_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = make_env(&dir.path().join("env"));
    layout.scheme.purelib = dir.path().join("elsewhere");
    let err =
        safevenv_installer::Environment::open(layout, LockMode::FailFast, &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            InstallError::SchemeOutsidePrefix {
                kind: "purelib",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_new_file_over_a_directory_that_stays_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    install(
        &layout,
        dir.path(),
        &[(WheelSpec::new("thing", "1.0"), "thing", "1.0")],
    );
    let before = snapshot(&layout.prefix);
    // `clash` installs a file named `thing`, where `thing`'s package directory is.
    let clash = WheelSpec::new("clash", "1.0").file("thing", "not a package\n");
    let env = open(&layout);
    let want = wanted(&[("thing", "1.0", true), ("clash", "1.0", true)]);
    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
    let wheels = vec![verified(dir.path(), &clash)];
    let err = apply(
        &env,
        &plan,
        &approve(&want),
        &wheels,
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap_err();
    let InstallError::PathConflict { path } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, &layout.scheme.purelib.join("thing"));
    assert_eq!(snapshot(&layout.prefix), before);
    assert!(common::leftovers(&layout.prefix).is_empty());
}

#[test]
fn a_stray_file_where_a_wheel_puts_a_package_tree_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    // Owned by no distribution, where `nested` puts its package directory.
    fs_err::write(layout.scheme.purelib.join("nested"), "stray\n").unwrap();
    let nested = WheelSpec::new("nested", "1.0")
        .file("nested/__init__.py", "TOP = 1\n")
        .file("nested/sub/deeper/mod.py", "DEEP = 2\n");
    install(&layout, dir.path(), &[(nested, "nested", "1.0")]);
    let package = layout.scheme.purelib.join("nested");
    assert!(package.is_dir());
    assert_eq!(
        fs_err::read_to_string(package.join("sub/deeper/mod.py")).unwrap(),
        "DEEP = 2\n"
    );
    assert!(common::leftovers(&layout.prefix).is_empty());
}

#[test]
fn a_missing_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = safevenv_installer::EnvironmentLayout::for_environment(
        common::interpreter(),
        &dir.path().join("nowhere"),
    );
    let err =
        safevenv_installer::Environment::open(layout, LockMode::FailFast, &mut |_| {}).unwrap_err();
    assert!(matches!(err, InstallError::MissingPrefix { .. }), "{err:?}");
    assert!(!dir.path().join("nowhere").exists());
}

#[test]
fn wheels_writing_the_same_path_are_staged_in_plan_order() {
    // A policy may allow one distribution to overwrite another's file: the later one in the
    // plan wins, every time.
    for _ in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let layout = make_env(&dir.path().join("env"));
        let env = open(&layout);
        let want = wanted(&[("first", "1.0", true), ("second", "1.0", true)]);
        let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
        let wheels = vec![
            verified(
                dir.path(),
                &WheelSpec::new("first", "1.0").file("shared/data.txt", "first\n"),
            ),
            verified(
                dir.path(),
                &WheelSpec::new("second", "1.0").file("shared/data.txt", "second\n"),
            ),
        ];
        apply(
            &env,
            &plan,
            &common::approve_overwrites(&want),
            &wheels,
            &unpacked(&layout),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            fs_err::read_to_string(layout.scheme.purelib.join("shared/data.txt")).unwrap(),
            "second\n"
        );
    }
}
