//! Probing real interpreters on this machine: the `python3` on `PATH` and pyenv installs.
//!
//! Every test uses its own cache directory. Tests that need a pyenv version skip (with a message)
//! when the machine has none.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use safevenv_cache::{Cache, CacheBucket};
use safevenv_python::{Interpreter, ProbeError};

fn pyenv_root() -> PathBuf {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".pyenv"))
}

/// The newest pyenv install whose name starts with `prefix` (`"3.12."`), as `bin/python3`
/// (`bin/python` for Python 2).
fn pyenv_python(prefix: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs_err::read_dir(pyenv_root().join("versions"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
        .map(|entry| entry.path().join("bin"))
        .collect();
    found.sort();
    let bin = found.pop()?;
    ["python3", "python"]
        .into_iter()
        .map(|name| bin.join(name))
        .find(|path| path.is_file())
}

/// Ask the interpreter directly, without the probe: `python -I -c <code>`.
fn ask(python: &Path, code: &str) -> (bool, String) {
    let output = Command::new(python)
        .args(["-I", "-c", code])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap().trim().to_string(),
    )
}

fn cache_entries(cache: &Cache) -> Vec<PathBuf> {
    let bucket = cache.bucket(CacheBucket::Interpreters).unwrap();
    let mut entries: Vec<PathBuf> = fs_err::read_dir(bucket)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    entries.sort();
    entries
}

/// Check a probe against what the interpreter says about itself.
fn check_against_ground_truth(python: &Path, interpreter: &Interpreter) {
    let (_, version) = ask(python, "import platform; print(platform.python_version())");
    assert_eq!(interpreter.version().to_string(), version);
    assert_eq!(
        interpreter.markers().python_full_version().to_string(),
        version
    );
    let (_, minor) = ask(python, "import sys; print('%d %d' % sys.version_info[:2])");
    let (major, minor) = minor.split_once(' ').unwrap();
    assert_eq!(
        interpreter.python_minor(),
        (major.parse().unwrap(), minor.parse().unwrap())
    );
    let (_, executable) = ask(python, "import sys; print(sys.executable)");
    assert_eq!(interpreter.sys_executable(), Path::new(&executable));

    // The interpreter's own install scheme (for `--system`), as `sysconfig` reports it.
    let (_, paths) = ask(
        python,
        "import sysconfig; p = sysconfig.get_paths(); \
         print('|'.join(p[k] for k in ('stdlib', 'purelib', 'platlib', 'scripts', 'include', 'data')))",
    );
    let own = interpreter.install_paths();
    let reported: Vec<&Path> = vec![
        interpreter.stdlib(),
        &own.purelib,
        &own.platlib,
        &own.scripts,
        &own.include,
        &own.data,
    ];
    let expected: Vec<&Path> = paths.split('|').map(Path::new).collect();
    assert_eq!(reported, expected);

    let tags = interpreter.tags().unwrap();
    assert_eq!(
        tags.python_tag().unwrap().to_string(),
        format!("cp{major}{minor}")
    );
    assert!(tags.platform_tag().is_some());

    let (has_pip, _) = ask(python, "import pip");
    let index = interpreter.default_index_url();
    assert_eq!(index.is_some(), has_pip, "{index:?}");
    if let Some(index) = index {
        assert!(
            index.starts_with("https://") && index.ends_with("/simple"),
            "{index}"
        );
    }
}

#[test]
fn probes_the_python3_on_path() {
    let python = which::which("python3").expect("python3 on PATH");
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let interpreter = Interpreter::query(&python, &cache).unwrap();
    check_against_ground_truth(&python, &interpreter);
}

#[test]
fn probes_the_oldest_and_newest_supported_pythons_own_install_paths() {
    for version in ["3.8.", "3.13."] {
        let Some(python) = pyenv_python(version) else {
            eprintln!("skipped: no pyenv {version}");
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let interpreter = Interpreter::query(&python, &cache).unwrap();
        check_against_ground_truth(&python, &interpreter);
        assert_eq!(interpreter.install_scheme(), "posix_prefix");
        assert!(interpreter.stdlib().join("os.py").is_file());
    }
}

/// Read-only: the machine's own `/usr/bin/python3`, when it is a distribution's interpreter with a
/// PEP 668 marker (Debian, Ubuntu, Fedora), reports the marker and its message. Nothing is
/// installed anywhere.
#[test]
fn reads_the_distribution_pythons_pep_668_marker() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipped: no /usr/bin/python3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let interpreter = Interpreter::query(python, &cache).unwrap();
    check_against_ground_truth(python, &interpreter);
    let (_, expected) = ask(
        python,
        "import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))",
    );
    let managed = interpreter.externally_managed();
    assert_eq!(managed.is_some(), expected == "True", "{managed:?}");
    if let Some(managed) = managed {
        assert_eq!(
            managed.marker,
            interpreter.stdlib().join("EXTERNALLY-MANAGED")
        );
        // The message as `configparser` (which PEP 668 names, and pip uses) reads it.
        let (_, message) = ask(
            python,
            &format!(
                "import configparser; p = configparser.ConfigParser(interpolation=None); \
                 p.read({:?}, encoding='utf-8'); \
                 print(p.get('externally-managed', 'Error', fallback=''))",
                managed.marker.display().to_string()
            ),
        );
        assert_eq!(managed.message.unwrap_or_default(), message);
    }
}

#[test]
fn probes_pyenv_3_12() {
    let Some(python) = pyenv_python("3.12.") else {
        eprintln!("skipped: no pyenv 3.12");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let interpreter = Interpreter::query(&python, &cache).unwrap();
    check_against_ground_truth(&python, &interpreter);
    assert_eq!(interpreter.python_minor(), (3, 12));
    assert!(!interpreter.is_venv());
    assert_eq!(interpreter.base_executable(), python);
    let paths = interpreter.scheme_paths_for(Path::new("/env"));
    assert_eq!(
        paths.purelib,
        Path::new("/env/lib/python3.12/site-packages")
    );
    assert_eq!(paths.scripts, Path::new("/env/bin"));
}

#[test]
fn cache_hit_skips_the_probe_and_is_faster() {
    let Some(python) = pyenv_python("3.12.") else {
        eprintln!("skipped: no pyenv 3.12");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let start = Instant::now();
    let first = Interpreter::query(&python, &cache).unwrap();
    let uncached = start.elapsed();
    let [entry] = &cache_entries(&cache)[..] else {
        panic!("expected one cache entry");
    };

    // Tamper with the cached report: if the next query returns the tampered value, it did not run
    // the interpreter.
    let text = fs_err::read_to_string(entry).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["info"]["default_index_url"] = "https://index.example/from-the-cache/simple".into();
    fs_err::write(entry, serde_json::to_vec(&json).unwrap()).unwrap();

    let start = Instant::now();
    let second = Interpreter::query(&python, &cache).unwrap();
    let cached = start.elapsed();
    assert_eq!(
        second.default_index_url(),
        Some("https://index.example/from-the-cache/simple")
    );
    assert_eq!(second.version(), first.version());
    eprintln!(
        "probe of {}: uncached {uncached:?}, cached {cached:?}",
        python.display()
    );
    assert!(
        cached < uncached,
        "cached {cached:?} >= uncached {uncached:?}"
    );
}

#[test]
fn corrupt_cache_entry_is_ignored_and_rewritten() {
    let Some(python) = pyenv_python("3.12.") else {
        eprintln!("skipped: no pyenv 3.12");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    Interpreter::query(&python, &cache).unwrap();
    let [entry] = &cache_entries(&cache)[..] else {
        panic!("expected one cache entry");
    };
    fs_err::write(entry, b"{ not json").unwrap();
    let interpreter = Interpreter::query(&python, &cache).unwrap();
    assert_eq!(interpreter.python_minor(), (3, 12));
    let rewritten = fs_err::read(entry).unwrap();
    serde_json::from_slice::<serde_json::Value>(&rewritten).expect("entry rewritten as JSON");
}

/// Two supported pyenv installs of different minor versions, if the machine has them.
fn two_pythons() -> Option<(PathBuf, PathBuf)> {
    let a = pyenv_python("3.12.")?;
    let b = ["3.11.", "3.13.", "3.10.", "3.9.", "3.8."]
        .into_iter()
        .find_map(pyenv_python)?;
    Some((a, b))
}

#[test]
fn cache_entry_is_stale_when_the_symlink_target_changes() {
    let Some((a, b)) = two_pythons() else {
        eprintln!("skipped: needs two pyenv versions");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let link = dir.path().join("python");
    fs_err::os::unix::fs::symlink(&a, &link).unwrap();
    let first = Interpreter::query(&link, &cache).unwrap();
    assert_eq!(first.python_minor(), (3, 12));

    fs_err::remove_file(&link).unwrap();
    fs_err::os::unix::fs::symlink(&b, &link).unwrap();
    let second = Interpreter::query(&link, &cache).unwrap();
    assert_ne!(second.python_minor(), (3, 12));
    assert_eq!(
        second.version().to_string(),
        ask(&b, "import platform; print(platform.python_version())").1
    );
}

/// A launcher script (like a pyenv shim) whose target changes must never be answered from the
/// cache.
#[test]
fn launcher_scripts_are_never_cached() {
    let Some((a, b)) = two_pythons() else {
        eprintln!("skipped: needs two pyenv versions");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let shim = dir.path().join("python3");
    // Every version of the shim has the same size and modification time, as a pyenv shim does
    // when `pyenv global` changes: only not caching scripts keeps the probe right.
    let modified =
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let write_shim = |target: &Path| {
        let script = format!("#!/bin/sh\nexec '{}' \"$@\"\n", target.display());
        let script = format!("{script:#<300}\n");
        fs_err::write(&shim, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = fs_err::File::options().write(true).open(&shim).unwrap();
        file.file().set_modified(modified).unwrap();
    };
    write_shim(&a);
    let first = Interpreter::query(&shim, &cache).unwrap();
    assert_eq!(first.python_minor(), (3, 12));
    // The new environment must link to the real interpreter, not to the script.
    assert_eq!(first.base_executable(), a);
    assert!(cache_entries(&cache).is_empty());

    write_shim(&b);
    let second = Interpreter::query(&shim, &cache).unwrap();
    assert_ne!(second.python_minor(), (3, 12));
}

#[test]
fn venv_interpreter_is_not_confused_with_its_base() {
    let Some(python) = pyenv_python("3.8.").or_else(|| pyenv_python("3.12.")) else {
        eprintln!("skipped: no pyenv 3.8 or 3.12");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let status = Command::new(&python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success());
    let cache = Cache::new(dir.path().join("cache"));
    let base = Interpreter::query(&python, &cache).unwrap();
    let inside = Interpreter::query(&venv.join("bin").join("python"), &cache).unwrap();
    assert!(!base.is_venv());
    assert!(inside.is_venv());
    assert_eq!(inside.sys_prefix(), venv);
    assert_eq!(inside.sys_base_prefix(), base.sys_prefix());
    // The base a new environment links to is the real interpreter, not the venv's symlink.
    assert_eq!(
        fs_err::canonicalize(inside.base_executable()).unwrap(),
        fs_err::canonicalize(&python).unwrap()
    );
    assert!(!inside.base_executable().starts_with(&venv));
    // Cached separately and still told apart.
    assert_eq!(cache_entries(&cache).len(), 2);
    assert!(
        Interpreter::query(&venv.join("bin").join("python"), &cache)
            .unwrap()
            .is_venv()
    );
    assert!(!Interpreter::query(&python, &cache).unwrap().is_venv());
}

#[test]
fn old_pythons_are_refused_cleanly() {
    let mut checked = 0;
    for (prefix, version) in [("2.7.", "2.7"), ("3.6.", "3.6"), ("3.7.", "3.7")] {
        let Some(python) = pyenv_python(prefix) else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let error = Interpreter::query(&python, &cache).unwrap_err();
        assert!(
            matches!(&error, ProbeError::Unsupported { version: found, .. } if found.starts_with(version)),
            "{python:?}: {error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("not supported") && message.contains("3.8"),
            "{message}"
        );
        checked += 1;
    }
    if checked == 0 {
        eprintln!("skipped: no Python 2.7, 3.6 or 3.7 in pyenv");
    }
}

#[test]
fn missing_and_broken_interpreters_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let missing = dir.path().join("no-such-python");
    assert!(matches!(
        Interpreter::query(&missing, &cache),
        Err(ProbeError::NotFound { path }) if path == missing
    ));

    let broken = dir.path().join("python3");
    fs_err::write(
        &broken,
        "#!/bin/sh\necho 'boom: not a python' >&2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let error = Interpreter::query(&broken, &cache).unwrap_err();
    assert!(matches!(error, ProbeError::Failed { .. }), "{error}");
    assert!(error.to_string().contains("boom: not a python"), "{error}");

    let garbage = dir.path().join("python-garbage");
    fs_err::write(&garbage, "#!/bin/sh\necho 'hello'\n").unwrap();
    fs_err::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    let error = Interpreter::query(&garbage, &cache).unwrap_err();
    assert!(matches!(error, ProbeError::InvalidOutput { .. }), "{error}");
}
