//! Discovery over a hermetic `PATH` of symlinks to real interpreters, and the machine's pyenv.

use std::path::{Path, PathBuf};

use safevenv_cache::Cache;
use safevenv_python::{PythonRequest, Rejection, SearchPaths, find_interpreter_in};

fn pyenv_root() -> PathBuf {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".pyenv"))
}

fn pyenv_bin(prefix: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs_err::read_dir(pyenv_root().join("versions"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
        .map(|entry| entry.path().join("bin"))
        .collect();
    found.sort();
    found.pop()
}

/// A `PATH` directory with `links` (name → target).
fn path_dir(dir: &Path, links: &[(&str, PathBuf)]) -> SearchPaths {
    let bin = dir.join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    for (name, target) in links {
        fs_err::os::unix::fs::symlink(target, bin.join(name)).unwrap();
    }
    SearchPaths {
        virtual_env: None,
        path: Some(bin.into_os_string()),
        pyenv_root: None,
        cwd: dir.to_path_buf(),
    }
}

#[test]
fn version_request_prefers_the_exact_name() {
    let (Some(py312), Some(py311)) = (pyenv_bin("3.12."), pyenv_bin("3.11.")) else {
        eprintln!("skipped: needs pyenv 3.12 and 3.11");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let search = path_dir(
        dir.path(),
        &[
            ("python3", py311.join("python3")),
            ("python3.12", py312.join("python3")),
        ],
    );
    let cache = Cache::new(dir.path().join("cache"));
    let request = PythonRequest::parse("3.12").unwrap();
    let found = find_interpreter_in(Some(&request), &cache, &search).unwrap();
    assert_eq!(found.python_minor(), (3, 12));
    assert_eq!(found.path(), dir.path().join("bin/python3.12"));

    // With no request, `python3` comes first.
    let found = find_interpreter_in(None, &cache, &search).unwrap();
    assert_eq!(found.python_minor(), (3, 11));
}

#[test]
fn version_request_falls_back_to_pyenv_and_names_every_rejection() {
    let Some(py311) = pyenv_bin("3.11.") else {
        eprintln!("skipped: needs pyenv 3.11");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut search = path_dir(dir.path(), &[("python3", py311.join("python3"))]);
    let cache = Cache::new(dir.path().join("cache"));

    // Not on PATH, but in pyenv.
    search.pyenv_root = Some(pyenv_root());
    if pyenv_bin("3.12.").is_some() {
        let request = PythonRequest::parse("3.12").unwrap();
        let found = find_interpreter_in(Some(&request), &cache, &search).unwrap();
        assert_eq!(found.python_minor(), (3, 12));
        assert!(found.path().starts_with(pyenv_root()));
    }

    // Nowhere: the error names what was tried and why.
    let request = PythonRequest::parse("3.99").unwrap();
    let error = find_interpreter_in(Some(&request), &cache, &search).unwrap_err();
    assert!(matches!(
        &error.tried[..],
        [Rejection::WrongVersion { path, .. }] if path.ends_with("bin/python3")
    ));
    let message = error.to_string();
    assert!(
        message.starts_with("no interpreter satisfies `3.99`"),
        "{message}"
    );
    assert!(message.contains("bin/python3` is Python 3.11"), "{message}");
    assert!(error.hint().contains("3.99"));
}

#[test]
fn old_versions_are_rejected_with_the_reason() {
    let Some(py37) = pyenv_bin("3.7.") else {
        eprintln!("skipped: needs pyenv 3.7");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut links = vec![("python3", py37.join("python3"))];
    if let Some(py27) = pyenv_bin("2.7.") {
        links.push(("python", py27.join("python")));
    }
    let search = path_dir(dir.path(), &links);
    let cache = Cache::new(dir.path().join("cache"));
    let error = find_interpreter_in(None, &cache, &search).unwrap_err();
    assert_eq!(error.tried.len(), links.len());
    let message = error.to_string();
    assert!(message.contains("is Python 3.7."), "{message}");
    assert!(message.contains("not supported"), "{message}");
    if links.len() == 2 {
        assert!(message.contains("is Python 2.7."), "{message}");
    }

    let request = PythonRequest::parse("3.7").unwrap();
    let error = find_interpreter_in(Some(&request), &cache, &search).unwrap_err();
    assert!(error.to_string().contains("not supported"), "{error}");
}

#[test]
fn virtual_env_comes_first_and_paths_are_probed() {
    let (Some(py312), Some(py311)) = (pyenv_bin("3.12."), pyenv_bin("3.11.")) else {
        eprintln!("skipped: needs pyenv 3.12 and 3.11");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("active");
    let status = std::process::Command::new(py312.join("python3"))
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success());
    let mut search = path_dir(dir.path(), &[("python3", py311.join("python3"))]);
    search.virtual_env = Some(venv.clone());
    let cache = Cache::new(dir.path().join("cache"));
    let found = find_interpreter_in(None, &cache, &search).unwrap();
    assert!(found.is_venv());
    assert_eq!(found.python_minor(), (3, 12));
    assert!(found.base_executable().starts_with(&py312));

    // A directory request looks in its `bin`.
    let request = PythonRequest::Path(venv.clone());
    let found = find_interpreter_in(Some(&request), &cache, &search).unwrap();
    assert_eq!(found.path(), venv.join("bin/python3"));

    let request = PythonRequest::Path(dir.path().join("missing/python"));
    let error = find_interpreter_in(Some(&request), &cache, &search).unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
}
