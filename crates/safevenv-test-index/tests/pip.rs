//! The proof the test index is a real index: pip installs and downloads from it.
//!
//! python3 with pip is on every machine of this project; without it these tests fail (they
//! must not pass by skipping).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use safevenv_test_index::{IndexFile, TestIndex, WheelSpec};

/// The interpreter's real path, found with the caller's environment: the tests then change HOME,
/// which would mislead a version manager's shim.
fn python() -> PathBuf {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap_or_else(|error| {
            panic!("python3 (with pip) is required by these tests and could not be run: {error}")
        });
    assert!(
        output.status.success(),
        "python3 is required by these tests and failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Runs `python3 -m pip` against `index` only: no config file, no `PIP_*` settings from the
/// caller (a `PIP_FIND_LINKS` would offer other wheels), a temporary HOME, no cache.
fn pip(index: &TestIndex, home: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(python());
    command.args(["-m", "pip"]).args(args).args([
        "--index-url",
        &index.url(),
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
    ]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PIP_") {
            command.env_remove(name);
        }
    }
    command
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("HOME", home)
        .env("PYTHONNOUSERSITE", "1");
    command.output().expect("pip runs")
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "pip failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn install_with_dependency(serve_json: bool) {
    let index = TestIndex::builder()
        .wheel(
            WheelSpec::new("demo", "1.0")
                .requires_dist("dep>=1.1")
                .file("demo/__init__.py", "VALUE = 'demo'\n")
                .console_script("demo-tool", "demo:main"),
        )
        .wheel(WheelSpec::new("demo", "0.5"))
        .wheel(WheelSpec::new("dep", "1.0"))
        .wheel(WheelSpec::new("dep", "1.2"))
        .serve_json(serve_json)
        .serve_metadata_files(true)
        .start()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let output = pip(
        &index,
        home.path(),
        &[
            "install",
            "--target",
            &target.path().to_string_lossy(),
            "demo==1.0",
        ],
    );
    assert_success(&output);

    let root = target.path();
    assert_eq!(
        fs_err::read_to_string(root.join("demo/__init__.py")).unwrap(),
        "VALUE = 'demo'\n"
    );
    assert!(root.join("dep/__init__.py").is_file());
    assert!(root.join("demo-1.0.dist-info/METADATA").is_file());
    assert!(
        root.join("dep-1.2.dist-info/METADATA").is_file(),
        "pip picks the newest dep"
    );
    assert!(!root.join("dep-1.0.dist-info").exists());
    assert!(root.join("bin/demo-tool").is_file());

    let requests = index.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert!(paths.contains(&"/simple/demo/"), "{paths:?}");
    assert!(paths.contains(&"/simple/dep/"), "{paths:?}");
    assert!(
        paths.contains(&"/files/dep-1.2-py3-none-any.whl"),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|path| path.ends_with(".whl.metadata")),
        "pip reads advertised metadata files first: {paths:?}"
    );
    let page_accept = requests
        .iter()
        .find(|r| r.path == "/simple/demo/")
        .and_then(|r| r.accept.clone())
        .unwrap_or_default();
    assert!(
        page_accept.contains("application/vnd.pypi.simple.v1+json"),
        "{page_accept}"
    );
}

#[test]
fn pip_installs_a_wheel_and_its_dependency_from_json_pages() {
    install_with_dependency(true);
}

#[test]
fn pip_installs_a_wheel_and_its_dependency_from_html_pages() {
    install_with_dependency(false);
}

fn downloaded(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn download_respects_yanked_and_requires_python(serve_json: bool) {
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("demo", "1.0"))
        .file(IndexFile::from(WheelSpec::new("demo", "2.0")).yanked(Some("broken")))
        .wheel(WheelSpec::new("demo", "3.0").requires_python(">=4"))
        .serve_json(serve_json)
        .start()
        .unwrap();
    let home = tempfile::tempdir().unwrap();

    let unpinned = tempfile::tempdir().unwrap();
    let dest = unpinned.path().to_string_lossy().into_owned();
    assert_success(&pip(
        &index,
        home.path(),
        &["download", "--no-deps", "-d", &dest, "demo"],
    ));
    assert_eq!(downloaded(unpinned.path()), ["demo-1.0-py3-none-any.whl"]);

    // PEP 592: a yanked file is still chosen for an exact pin.
    let pinned = tempfile::tempdir().unwrap();
    let dest = pinned.path().to_string_lossy().into_owned();
    let output = pip(
        &index,
        home.path(),
        &["download", "--no-deps", "-d", &dest, "demo==2.0"],
    );
    assert_success(&output);
    assert_eq!(downloaded(pinned.path()), ["demo-2.0-py3-none-any.whl"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken"),
        "pip reports the yank reason: {stderr}"
    );
}

#[test]
fn pip_download_skips_yanked_and_too_new_python_from_json_pages() {
    download_respects_yanked_and_requires_python(true);
}

#[test]
fn pip_download_skips_yanked_and_too_new_python_from_html_pages() {
    download_respects_yanked_and_requires_python(false);
}
