//! A sandbox per test: its own HOME, cache and working directory, and a `safevenv` command that
//! sees only them (house style 12: hermetic tests; no user configuration leaks in).

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestContext {
    pub root: tempfile::TempDir,
}

impl TestContext {
    pub fn new() -> Self {
        let root = tempfile::tempdir().expect("create a temporary directory");
        for dir in ["home", "cache", "work"] {
            fs_err::create_dir_all(root.path().join(dir)).expect("create sandbox directories");
        }
        Self { root }
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    pub fn cache(&self) -> PathBuf {
        self.root.path().join("cache")
    }

    /// The working directory commands run in.
    pub fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }

    /// A sandbox with an environment at `work/.venv`, made by `safevenv create`.
    pub fn with_environment() -> Self {
        let context = Self::new();
        run_ok(context.safevenv().args(["create", "-q"]));
        context
    }

    /// `safevenv ARGS` reading `index` and revalidating its pages on every run.
    pub fn run_with_index(&self, index: &safevenv_test_index::TestIndex, args: &[&str]) -> Output {
        self.safevenv()
            .args(args)
            .env("SAFEVENV_INDEX_URL", index.url())
            .env("SAFEVENV_INDEX_TTL", "0")
            .output()
            .expect("run safevenv")
    }

    /// `safevenv` with a clean environment: our HOME and cache, the machine's PATH (to find
    /// interpreters), and no variables that would point at the user's environments or config.
    pub fn safevenv(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_safevenv"));
        command
            .current_dir(self.work())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("SAFEVENV_CACHE_DIR", self.cache())
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("NO_COLOR", "1");
        if let Some(root) = pyenv_root() {
            command.env("PYENV_ROOT", root);
        }
        command
    }
}

/// Where pyenv keeps interpreters on this machine, if it has any.
pub fn pyenv_root() -> Option<PathBuf> {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")))
        .filter(|root| root.join("versions").is_dir())
}

/// The newest pyenv interpreter of `minor` (e.g. "3.12"), found on the machine, not hard-coded.
pub fn pyenv_python(minor: &str) -> Option<PathBuf> {
    let versions = pyenv_root()?.join("versions");
    let mut found: Vec<PathBuf> = fs_err::read_dir(&versions)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.strip_prefix(minor)
                        .is_some_and(|rest| rest.starts_with('.'))
                })
        })
        .map(|path| path.join("bin").join("python3"))
        .filter(|python| python.exists())
        .collect();
    // Newest patch release: compare numerically, so 3.12.10 sorts after 3.12.9.
    found.sort_by_key(|python| {
        python
            .components()
            .rev()
            .nth(2)
            .and_then(|version| version.as_os_str().to_str())
            .map(|version| {
                version
                    .split('.')
                    .map(|part| part.parse::<u32>().unwrap_or(0))
                    .collect::<Vec<_>>()
            })
    });
    found.pop()
}

/// Runs `command`, asserting success, and returns its output.
#[track_caller]
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("run the command");
    assert!(
        output.status.success(),
        "command failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every path below `root` with what it is: file contents, link target, or a directory marker.
/// Two snapshots are equal exactly when nothing was added, removed or changed. safevenv's own
/// state directory (`.safevenv/`: the environment's lock file and transaction journals) is left
/// out: it is not part of what the environment holds.
pub fn snapshot(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut entries = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).expect("read directory") {
            let path = entry.expect("directory entry").path();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            if relative.starts_with(".safevenv") {
                continue;
            }
            let meta = fs_err::symlink_metadata(&path).expect("metadata");
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", fs_err::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else {
                use std::os::unix::fs::PermissionsExt;
                let bytes = fs_err::read(&path).expect("read file");
                format!(
                    "{:o} {}",
                    meta.permissions().mode() & 0o777,
                    String::from_utf8_lossy(&bytes)
                )
            };
            entries.insert(relative, what);
        }
    }
    entries
}

/// Asserts two snapshots are equal, naming only the paths that differ.
#[track_caller]
pub fn assert_unchanged(
    before: &std::collections::BTreeMap<PathBuf, String>,
    after: &std::collections::BTreeMap<PathBuf, String>,
) {
    let differing: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    assert!(
        differing.is_empty(),
        "the environment changed at: {differing:?}"
    );
}

/// Adds to `index` a good-looking `good` 1.0 that depends on `evil` 1.0, whose `.pth` file would
/// write `marker` if Python ever ran it (with `lib`, which the index must serve).
pub fn add_hostile_dependency(index: &safevenv_test_index::TestIndex, marker: &Path) {
    let code = format!(
        "import os; open({:?}, 'w').write('ran')\n",
        marker.display().to_string()
    );
    index
        .add(safevenv_test_index::WheelSpec::new("evil", "1.0").file("evil.pth", code.into_bytes()))
        .expect("add evil");
    index
        .add(
            safevenv_test_index::WheelSpec::new("good", "1.0")
                .requires_dist("evil")
                .requires_dist("lib"),
        )
        .expect("add good");
}

/// A local index with `app` 1.0 (requires `lib>=1`, a console script `app-tool`) and `lib` 1.0.
pub fn app_and_lib_index() -> safevenv_test_index::TestIndex {
    use safevenv_test_index::{TestIndex, WheelSpec};
    TestIndex::builder()
        .wheel(
            WheelSpec::new("app", "1.0")
                .requires_dist("lib>=1")
                .file("app/__init__.py", b"from lib import VALUE\n".to_vec())
                .console_script("app-tool", "app:main"),
        )
        .wheel(WheelSpec::new("lib", "1.0").file("lib/__init__.py", b"VALUE = 1\n".to_vec()))
        .start()
        .expect("start the test index")
}
