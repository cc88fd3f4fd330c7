//! Creating environments with real interpreters and checking them from inside Python and bash.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use safevenv_cache::Cache;
use safevenv_python::Interpreter;
use safevenv_venv::{Venv, VenvError, VenvOptions, create_venv};

fn pyenv_python(prefix: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".pyenv"));
    let mut found: Vec<PathBuf> = fs_err::read_dir(root.join("versions"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
        .map(|entry| entry.path().join("bin").join("python3"))
        .filter(|path| path.is_file())
        .collect();
    found.sort();
    found.pop()
}

struct Sandbox {
    dir: tempfile::TempDir,
    cache: Cache,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        Self { dir, cache }
    }

    fn interpreter(&self, python: &Path) -> Interpreter {
        Interpreter::query(python, &self.cache).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn machine_python() -> PathBuf {
    which::which("python3").expect("python3 on PATH")
}

/// Run `<python> -c <code>` (not isolated: the environment's own start-up is what is tested).
fn run(python: &Path, code: &str) -> String {
    let output = Command::new(python)
        .args(["-c", code])
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn pyvenv_cfg(venv: &Venv) -> Vec<(String, String)> {
    fs_err::read_to_string(venv.root.join("pyvenv.cfg"))
        .unwrap()
        .lines()
        .map(|line| {
            let (key, value) = line.split_once(" = ").unwrap();
            (key.to_string(), value.to_string())
        })
        .collect()
}

fn cfg_value(venv: &Venv, key: &str) -> Option<String> {
    pyvenv_cfg(venv)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The environment as seen from its own interpreter.
fn check_from_inside(venv: &Venv) {
    let prefix = run(&venv.python, "import sys; print(sys.prefix)");
    assert_eq!(Path::new(&prefix), venv.root);
    let base_prefix = run(&venv.python, "import sys; print(sys.base_prefix)");
    assert_ne!(base_prefix, prefix);
    let path = run(&venv.python, "import sys; print('\\n'.join(sys.path))");
    assert!(
        path.lines()
            .any(|entry| Path::new(entry) == venv.site_packages),
        "{} not on sys.path:\n{path}",
        venv.site_packages.display()
    );
}

fn create_and_check(python: &Path) {
    let sandbox = Sandbox::new();
    let interpreter = sandbox.interpreter(python);
    let root = sandbox.path("env");
    let options = VenvOptions {
        command: Some("safevenv create env".to_string()),
        ..VenvOptions::default()
    };
    let venv = create_venv(&root, &interpreter, &options).unwrap();
    assert_eq!(venv.root, root);
    assert_eq!(venv.python, root.join("bin/python"));
    assert_eq!(venv.scripts, root.join("bin"));
    check_from_inside(&venv);

    let (major, minor, micro) = interpreter.python_patch();
    assert_eq!(
        cfg_value(&venv, "version"),
        Some(format!("{major}.{minor}.{micro}"))
    );
    assert_eq!(
        cfg_value(&venv, "include-system-site-packages").as_deref(),
        Some("false")
    );
    assert_eq!(
        cfg_value(&venv, "home").map(PathBuf::from).as_deref(),
        interpreter.base_executable().parent()
    );
    assert_eq!(
        cfg_value(&venv, "executable").map(PathBuf::from),
        Some(fs_err::canonicalize(interpreter.base_executable()).unwrap())
    );
    assert_eq!(
        cfg_value(&venv, "command").as_deref(),
        Some("safevenv create env")
    );
    assert_eq!(
        cfg_value(&venv, "safevenv").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(cfg_value(&venv, "prompt"), None);
    // No staging or aside directories are left next to it.
    assert_no_leftovers(sandbox.dir.path());
}

/// No staging or aside directory (`.<name>.safevenv-...`) is left in `parent`.
fn assert_no_leftovers(parent: &Path) {
    let leftovers: Vec<_> = fs_err::read_dir(parent)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".safevenv-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn creates_with_the_machine_python() {
    create_and_check(&machine_python());
}

#[test]
fn creates_with_pyenv_3_12() {
    let Some(python) = pyenv_python("3.12.") else {
        eprintln!("skipped: no pyenv 3.12");
        return;
    };
    create_and_check(&python);
}

/// `(kind, relative path, link target)` for every entry under `root`, skipping what legitimately
/// differs (activation scripts' text is ours; `.gitignore` exists only on 3.13+ `venv`).
fn layout(root: &Path) -> BTreeSet<(char, String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<(char, String, String)>) {
        for entry in fs_err::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let metadata = fs_err::symlink_metadata(&path).unwrap();
            if metadata.file_type().is_symlink() {
                let target = fs_err::read_link(&path).unwrap();
                out.insert(('l', relative, target.to_string_lossy().into_owned()));
            } else if metadata.is_dir() {
                out.insert(('d', relative, String::new()));
                walk(root, &path, out);
            } else if relative != ".gitignore" {
                out.insert(('f', relative, String::new()));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn layout_matches_python_venv() {
    for python in [
        pyenv_python("3.12."),
        pyenv_python("3.13."),
        Some(machine_python()),
    ]
    .into_iter()
    .flatten()
    {
        let sandbox = Sandbox::new();
        let interpreter = sandbox.interpreter(&python);
        let ours =
            create_venv(&sandbox.path("ours"), &interpreter, &VenvOptions::default()).unwrap();
        let theirs = sandbox.path("theirs");
        let status = Command::new(interpreter.base_executable())
            .args(["-m", "venv", "--without-pip"])
            .arg(&theirs)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(layout(&ours.root), layout(&theirs), "{}", python.display());

        // Every key `venv` writes is there (with the same value, except `command`).
        let ours_cfg = pyvenv_cfg(&ours);
        let theirs_cfg = fs_err::read_to_string(theirs.join("pyvenv.cfg")).unwrap();
        for line in theirs_cfg.lines() {
            let (key, value) = line.split_once(" = ").unwrap();
            if key == "command" {
                continue;
            }
            assert!(
                ours_cfg.iter().any(|(k, v)| k == key && v == value),
                "{}: `{line}` missing from {ours_cfg:?}",
                python.display()
            );
        }
    }
}

/// bash: `source bin/activate` in a directory whose name has spaces, quotes and `$`.
#[test]
fn bash_activate_and_deactivate_with_a_hostile_path() {
    let sandbox = Sandbox::new();
    let interpreter = sandbox.interpreter(&machine_python());
    let root = sandbox.path("it's a $HOME `x` dir").join(".venv");
    let venv = create_venv(&root, &interpreter, &VenvOptions::default()).unwrap();
    let script = r#"
        PS1='$ '
        old_path="$PATH"
        source "$1/bin/activate" || exit 1
        echo "$VIRTUAL_ENV"
        command -v python
        echo "$VIRTUAL_ENV_PROMPT"
        echo "$PS1"
        python -c 'import sys; print(sys.prefix)'
        deactivate
        [ "$PATH" = "$old_path" ] && echo path-restored
        [ -z "${VIRTUAL_ENV+set}" ] && echo unset
        echo "$PS1"
        declare -F deactivate >/dev/null || echo no-deactivate
    "#;
    let output = Command::new("bash")
        .args(["-c", script, "bash"])
        .arg(&root)
        .env("PYTHONHOME", "/nonexistent-must-be-unset")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let root = root.to_string_lossy();
    assert_eq!(
        lines,
        [
            &*root,
            &*format!("{root}/bin/python"),
            ".venv",
            "(.venv) $ ",
            &*root,
            "path-restored",
            "unset",
            "$ ",
            "no-deactivate",
        ],
        "{stderr}"
    );
    assert!(venv.python.starts_with(&*root));
}

#[test]
fn prompt_option_reaches_cfg_and_scripts() {
    let sandbox = Sandbox::new();
    let interpreter = sandbox.interpreter(&machine_python());
    let options = VenvOptions {
        prompt: Some("my project".to_string()),
        ..VenvOptions::default()
    };
    let venv = create_venv(&sandbox.path("env"), &interpreter, &options).unwrap();
    assert_eq!(cfg_value(&venv, "prompt").as_deref(), Some("my project"));
    let output = Command::new("bash")
        .args([
            "-c",
            "PS1='> '; source \"$1/bin/activate\"; echo \"$PS1\"",
            "bash",
        ])
        .arg(&venv.root)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "(my project) > \n"
    );
    for script in ["activate.fish", "activate.csh", "Activate.ps1"] {
        let text = fs_err::read_to_string(venv.scripts.join(script)).unwrap();
        assert!(text.contains("'my project'"), "{script}");
    }

    let hostile = VenvOptions {
        prompt: Some("$(touch pwned)".to_string()),
        ..VenvOptions::default()
    };
    let error = create_venv(&sandbox.path("env2"), &interpreter, &hostile).unwrap_err();
    assert!(
        matches!(error, VenvError::UnsafePrompt { character: '$', .. }),
        "{error}"
    );
    assert!(!sandbox.path("env2").exists());

    let injected = VenvOptions {
        prompt: Some("x\nhome = /elsewhere".to_string()),
        ..VenvOptions::default()
    };
    let error = create_venv(&sandbox.path("env3"), &interpreter, &injected).unwrap_err();
    assert!(
        matches!(error, VenvError::ControlCharacter { .. }),
        "{error}"
    );
    assert!(!sandbox.path("env3").exists());
}

#[test]
fn system_site_packages_is_seen_from_inside() {
    let Some(python) = pyenv_python("3.12.") else {
        eprintln!("skipped: no pyenv 3.12");
        return;
    };
    let sandbox = Sandbox::new();
    let interpreter = sandbox.interpreter(&python);
    let base_site = run(
        &python,
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    );
    let sys_path = |venv: &Venv| run(&venv.python, "import sys; print('\\n'.join(sys.path))");

    let isolated = create_venv(
        &sandbox.path("isolated"),
        &interpreter,
        &VenvOptions::default(),
    )
    .unwrap();
    assert!(!sys_path(&isolated).lines().any(|line| line == base_site));

    let options = VenvOptions {
        system_site_packages: true,
        ..VenvOptions::default()
    };
    let shared = create_venv(&sandbox.path("shared"), &interpreter, &options).unwrap();
    assert_eq!(
        cfg_value(&shared, "include-system-site-packages").as_deref(),
        Some("true")
    );
    let path = sys_path(&shared);
    assert!(path.lines().any(|line| line == base_site), "{path}");
    check_from_inside(&shared);
}

#[test]
fn a_directory_that_is_not_an_environment_is_never_touched() {
    let sandbox = Sandbox::new();
    let interpreter = sandbox.interpreter(&machine_python());
    let project = sandbox.path("project");
    fs_err::create_dir(&project).unwrap();
    fs_err::write(project.join("important.txt"), "keep me").unwrap();
    for clear in [false, true] {
        let options = VenvOptions {
            clear,
            ..VenvOptions::default()
        };
        let error = create_venv(&project, &interpreter, &options).unwrap_err();
        assert!(
            matches!(error, VenvError::NotAnEnvironment { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("pyvenv.cfg"));
    }
    let entries: Vec<_> = fs_err::read_dir(&project).unwrap().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        fs_err::read_to_string(project.join("important.txt")).unwrap(),
        "keep me"
    );

    // A `pyvenv.cfg` that is a symlink does not make a directory an environment.
    fs_err::os::unix::fs::symlink(project.join("important.txt"), project.join("pyvenv.cfg"))
        .unwrap();
    let options = VenvOptions {
        clear: true,
        ..VenvOptions::default()
    };
    let error = create_venv(&project, &interpreter, &options).unwrap_err();
    assert!(
        matches!(error, VenvError::NotAnEnvironment { .. }),
        "{error}"
    );
    assert_eq!(
        fs_err::read_to_string(project.join("important.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn files_and_symlinks_are_refused() {
    let sandbox = Sandbox::new();
    let interpreter = sandbox.interpreter(&machine_python());
    let file = sandbox.path("file");
    fs_err::write(&file, "data").unwrap();
    let options = VenvOptions {
        clear: true,
        ..VenvOptions::default()
    };
    let error = create_venv(&file, &interpreter, &options).unwrap_err();
    assert!(matches!(error, VenvError::NotADirectory { .. }), "{error}");
    assert_eq!(fs_err::read_to_string(&file).unwrap(), "data");

    // Even a symlink to a real environment: clearing through it would delete its target.
    let real = create_venv(&sandbox.path("real"), &interpreter, &VenvOptions::default()).unwrap();
    let marker = real.site_packages.join("marker.txt");
    fs_err::write(&marker, "still here").unwrap();
    let link = sandbox.path("link");
    fs_err::os::unix::fs::symlink(&real.root, &link).unwrap();
    let error = create_venv(&link, &interpreter, &options).unwrap_err();
    assert!(matches!(error, VenvError::SymlinkTarget { .. }), "{error}");
    assert_eq!(fs_err::read_to_string(&marker).unwrap(), "still here");
    assert!(
        fs_err::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn clear_replaces_an_environment_and_only_with_clear() {
    let sandbox = Sandbox::new();
    let interpreter = sandbox.interpreter(&machine_python());
    let root = sandbox.path("env");
    let old = create_venv(&root, &interpreter, &VenvOptions::default()).unwrap();
    let marker = old.site_packages.join("old-package.txt");
    fs_err::write(&marker, "old").unwrap();

    let error = create_venv(&root, &interpreter, &VenvOptions::default()).unwrap_err();
    assert!(matches!(error, VenvError::AlreadyExists { .. }), "{error}");
    assert!(marker.exists());

    let options = VenvOptions {
        clear: true,
        prompt: Some("fresh".to_string()),
        ..VenvOptions::default()
    };
    let new = create_venv(&root, &interpreter, &options).unwrap();
    assert!(!marker.exists());
    assert_eq!(cfg_value(&new, "prompt").as_deref(), Some("fresh"));
    check_from_inside(&new);
    // The base interpreter the old environment linked to is still there.
    assert!(interpreter.base_executable().exists());
    assert_no_leftovers(sandbox.dir.path());
}

#[test]
fn an_empty_directory_becomes_an_environment() {
    let sandbox = Sandbox::new();
    let interpreter = sandbox.interpreter(&machine_python());
    let root = sandbox.path("empty");
    fs_err::create_dir(&root).unwrap();
    let venv = create_venv(&root, &interpreter, &VenvOptions::default()).unwrap();
    check_from_inside(&venv);
}

/// A failure while building leaves nothing behind: here the base interpreter disappears between
/// the probe and the creation.
#[test]
fn a_failed_create_leaves_nothing() {
    let Some(python) = pyenv_python("3.12.") else {
        eprintln!("skipped: no pyenv 3.12");
        return;
    };
    let sandbox = Sandbox::new();
    let link = sandbox.path("python3");
    fs_err::os::unix::fs::symlink(&python, &link).unwrap();
    let interpreter = sandbox.interpreter(&link);
    assert_eq!(interpreter.base_executable(), link);
    fs_err::remove_file(&link).unwrap();

    let parent = sandbox.path("envs");
    fs_err::create_dir(&parent).unwrap();
    let error =
        create_venv(&parent.join("env"), &interpreter, &VenvOptions::default()).unwrap_err();
    assert!(matches!(error, VenvError::Inspect { .. }), "{error}");
    assert_eq!(fs_err::read_dir(&parent).unwrap().count(), 0);

    // The same failure with `clear` keeps the old environment as it was.
    fs_err::os::unix::fs::symlink(&python, &link).unwrap();
    let old = create_venv(&parent.join("env"), &interpreter, &VenvOptions::default()).unwrap();
    fs_err::remove_file(&link).unwrap();
    let options = VenvOptions {
        clear: true,
        ..VenvOptions::default()
    };
    create_venv(&old.root, &interpreter, &options).unwrap_err();
    assert!(old.root.join("pyvenv.cfg").is_file());
    assert_eq!(fs_err::read_dir(&parent).unwrap().count(), 1);
}
