//! `install --system` and `sync --system`: installing into an interpreter that is not an
//! environment's, and PEP 668's `EXTERNALLY-MANAGED` refusal.
//!
//! Never the machine's own system interpreter: each test makes a throwaway Python installation
//! from a pyenv interpreter (its binary and standard library hard-linked into the sandbox) and
//! installs into that.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{TestContext, assert_unchanged, run_ok, snapshot, stderr, stdout};
use safevenv_test_index::{TestIndex, WheelSpec};

/// A Python installation of its own below the sandbox: `<root>/python/bin/python3` whose
/// `sys.prefix` is `<root>/python` (CPython finds its prefix from its standard library next to
/// the binary). The files are hard links to a pyenv install when both are on one file system
/// (copies otherwise): installing only adds directory entries and renames into directories of
/// the copy, so the pyenv install is never written to. Its tests and `site-packages` are left
/// out; `site-packages` starts empty.
struct Installation {
    prefix: PathBuf,
    stdlib: PathBuf,
}

impl Installation {
    fn new(context: &TestContext) -> Option<Self> {
        let Some(python) = ["3.12", "3.13", "3.11"]
            .into_iter()
            .find_map(common::pyenv_python)
        else {
            eprintln!("skipped: no pyenv 3.11-3.13 interpreter");
            return None;
        };
        let source = python.parent()?.parent()?.to_path_buf();
        let ask = |code: &str| {
            stdout(&run_ok(Command::new(&python).args(["-I", "-c", code])))
                .trim()
                .to_string()
        };
        let minor = ask("import sys; print('%d.%d' % sys.version_info[:2])");
        let library = format!("python{minor}");
        let prefix = context.root.path().join("python");
        let stdlib = prefix.join("lib").join(&library);
        fs_err::create_dir_all(prefix.join("bin")).unwrap();
        link_or_copy(
            &source.join("bin").join(&library),
            &prefix.join("bin").join(&library),
        );
        fs_err::os::unix::fs::symlink(&library, prefix.join("bin/python3")).unwrap();
        link_tree(&source.join("lib").join(&library), &stdlib);
        let installation = Self { prefix, stdlib };
        let reported = installation.python_out("import sys; print(sys.prefix)");
        assert_eq!(
            Path::new(&reported),
            installation.prefix,
            "a prefix of its own"
        );
        Some(installation)
    }

    fn python(&self) -> PathBuf {
        self.prefix.join("bin/python3")
    }

    fn python_out(&self, code: &str) -> String {
        let output = run_ok(Command::new(self.python()).args(["-I", "-B", "-c", code]));
        stdout(&output).trim().to_string()
    }

    fn site_packages(&self) -> PathBuf {
        self.stdlib.join("site-packages")
    }

    /// What installing can change: the packages and the scripts.
    fn snapshot(&self) -> [std::collections::BTreeMap<PathBuf, String>; 2] {
        [
            snapshot(&self.site_packages()),
            snapshot(&self.prefix.join("bin")),
        ]
    }

    fn mark_externally_managed(&self, text: &str) {
        fs_err::write(self.stdlib.join("EXTERNALLY-MANAGED"), text).unwrap();
    }
}

fn link_or_copy(from: &Path, to: &Path) {
    if fs_err::hard_link(from, to).is_err() {
        fs_err::copy(from, to).unwrap();
    }
}

/// `from`'s tree at `to`, files linked, without the test suite and with `site-packages` empty.
fn link_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let target = to.join(&name);
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            if name == "test" {
                continue;
            }
            if name == "site-packages" {
                fs_err::create_dir(&target).unwrap();
                continue;
            }
            link_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            let link = fs_err::read_link(entry.path()).unwrap();
            fs_err::os::unix::fs::symlink(link, target).unwrap();
        } else {
            link_or_copy(&entry.path(), &target);
        }
    }
}

fn demo_index() -> TestIndex {
    TestIndex::builder()
        .wheel(
            WheelSpec::new("sysdemo", "1.0")
                .file("sysdemo/__init__.py", b"VALUE = 7\n".to_vec())
                .console_script("sysdemo-tool", "sysdemo:main"),
        )
        .wheel(WheelSpec::new("other", "1.0").file("other/__init__.py", b"X = 1\n".to_vec()))
        .start()
        .expect("start the test index")
}

fn safevenv(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context.run_with_index(index, args)
}

const DEBIAN_STYLE: &str = "\
[externally-managed]
Error=To install Python packages system-wide, try apt install
 python3-xyz, where xyz is the package you are trying to
 install.
";

#[test]
fn system_installs_into_the_interpreters_own_installation_until_pep_668_marks_it() {
    let context = TestContext::new();
    let Some(installation) = Installation::new(&context) else {
        return;
    };
    let index = demo_index();
    let python = installation.python();
    let python = python.to_str().unwrap();

    // Without `--system`, an interpreter that is not an environment's is refused, naming the flag.
    let before = installation.snapshot();
    let output = safevenv(
        &context,
        &index,
        &["install", "--python", python, "sysdemo"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("is not a virtual environment's interpreter"),
        "{message}"
    );
    assert!(message.contains("`--system`"), "{message}");
    assert_eq!(before, installation.snapshot());

    // With it, into the installation's own scheme, scripts pointing at its interpreter.
    let output = safevenv(
        &context,
        &index,
        &[
            "install",
            "--system",
            "--python",
            python,
            "sysdemo",
            "--no-lockfile",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Installed sysdemo 1.0"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        installation.python_out("import sysdemo; print(sysdemo.VALUE)"),
        "7"
    );
    assert!(
        installation
            .site_packages()
            .join("sysdemo-1.0.dist-info")
            .is_dir()
    );
    let script = fs_err::read_to_string(installation.prefix.join("bin/sysdemo-tool")).unwrap();
    assert!(
        script.starts_with(&format!("#!{python}\n")),
        "the script runs the installation's interpreter: {script}"
    );

    // Marked externally managed: refused before any change, with the marker's message.
    installation.mark_externally_managed(DEBIAN_STYLE);
    let before = installation.snapshot();
    let output = safevenv(
        &context,
        &index,
        &[
            "install",
            "--system",
            "--python",
            python,
            "other",
            "--no-lockfile",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("externally managed installation (PEP 668"),
        "{message}"
    );
    assert!(message.contains("EXTERNALLY-MANAGED`"), "{message}");
    assert!(
        message.contains("caused by: To install Python packages system-wide, try apt install\n    python3-xyz, where"),
        "{message}"
    );
    assert!(
        message.contains("hint: create an environment with `safevenv create`"),
        "{message}"
    );
    assert_unchanged(&before[0], &installation.snapshot()[0]);
    assert_unchanged(&before[1], &installation.snapshot()[1]);

    // `sync --system` is refused the same way.
    let lockfile = context.work().join("pylock.toml");
    let output = safevenv(&context, &index, &["lock", "--python", python, "other"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(lockfile.is_file());
    let output = safevenv(&context, &index, &["sync", "--system", "--python", python]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("PEP 668"), "{}", stderr(&output));
    assert_unchanged(&before[0], &installation.snapshot()[0]);

    // A marker without a message refuses too.
    installation.mark_externally_managed("");
    let output = safevenv(&context, &index, &["sync", "--system", "--python", python]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_unchanged(&before[0], &installation.snapshot()[0]);
}

#[test]
fn system_with_an_environments_interpreter_installs_into_the_environment() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = demo_index();
    let python = context.work().join(".venv/bin/python");
    let output = safevenv(
        &context,
        &index,
        &[
            "install",
            "--system",
            "--python",
            python.to_str().unwrap(),
            "sysdemo",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let imported =
        run_ok(Command::new(&python).args(["-c", "import sysdemo; print(sysdemo.VALUE)"]));
    assert_eq!(stdout(&imported).trim(), "7");

    // A `sync --system` of the lockfile just written finds nothing to do.
    let output = safevenv(
        &context,
        &index,
        &["sync", "--system", "--python", python.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("already holds all 1 distributions"),
        "{}",
        stderr(&output)
    );
}
