//! The gate judges files where they land (issue: one model of destinations, shared by the gate
//! and the installer). Each class of bypass is tried in several variants — the wheel's root,
//! `.data/purelib`, `.data/platlib`, `.data/data` reaching site-packages, the interpreter's
//! directory, the scripts directory, the environment's own files and safevenv's state, through
//! the environment's `lib64` link, with case and Unicode variants — and must be refused with its
//! rule, leaving the environment (and its state directory) byte-identical. The honest
//! counterparts install.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestContext, assert_unchanged, snapshot, stderr};
use safevenv_test_index::{TestIndex, WheelSpec};

fn venv(context: &TestContext) -> PathBuf {
    context.work().join(".venv")
}

fn install(context: &TestContext, index: &TestIndex, name: &str) -> Output {
    context.run_with_index(index, &["install", "--no-lockfile", name])
}

/// `lib/python3.X` of the environment, as `safevenv create` made it.
fn python_dir(context: &TestContext) -> String {
    let lib = venv(context).join("lib");
    let name = fs_err::read_dir(&lib)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("python3."))
        .expect("lib/python3.X in the environment");
    format!("lib/{name}")
}

/// Every path below `.safevenv/` but the lock file, which every run holds, and the journal key,
/// which the first run makes.
fn state(context: &TestContext) -> Vec<PathBuf> {
    let root = venv(context).join(".safevenv");
    let mut found: Vec<PathBuf> = walk(&root)
        .into_iter()
        .map(|path| path.strip_prefix(&root).unwrap().to_path_buf())
        .filter(|relative| relative != Path::new("lock") && relative != Path::new("journal-key"))
        .collect();
    found.sort();
    found
}

/// One hostile wheel per variant, each named `v<n>`, with the rule that must refuse it.
struct Variants {
    specs: Vec<(WheelSpec, &'static str, String)>,
}

impl Variants {
    fn new() -> Self {
        Self { specs: Vec::new() }
    }

    fn add(
        &mut self,
        rule: &'static str,
        what: String,
        build: impl FnOnce(WheelSpec) -> WheelSpec,
    ) {
        let name = format!("v{}", self.specs.len());
        self.specs
            .push((build(WheelSpec::new(&name, "1.0")), rule, what));
    }
}

#[test]
fn files_are_judged_where_they_land_and_every_bypass_is_refused() {
    let context = TestContext::with_environment();
    let py = python_dir(&context);
    let site = format!("{py}/site-packages");
    let marker = context.root.path().join("ran");
    let code = format!(
        "import os; open({:?}, 'w').write('x')\n",
        marker.display().to_string()
    );
    let hook = format!("open({:?}, 'w').write('x')\n", marker.display().to_string());

    let mut variants = Variants::new();
    // `.pth` files with code, wherever the wheel keeps them, as long as they land in
    // site-packages (directly, through `.data/data`, through the `lib64` link, any case).
    for (place, path) in [
        ("root", "evil.pth".to_string()),
        ("root, upper case", "EVIL.PTH".to_string()),
        ("purelib", "purelib/evil.pth".to_string()),
        ("platlib", "platlib/evil.pth".to_string()),
        ("data to site-packages", format!("data/{site}/evil.pth")),
        (
            "data through lib64",
            format!("data/{}/evil.pth", site.replacen("lib/", "lib64/", 1)),
        ),
        (
            "data to another Python's site-packages",
            "data/lib/python3.99/site-packages/evil.pth".to_string(),
        ),
    ] {
        let code = code.clone();
        variants.add(
            "contents.pth-exec",
            format!(".pth in {place}"),
            move |spec| {
                if place.starts_with("root") {
                    spec.file(&path, code)
                } else {
                    spec.data_file(&path, code)
                }
            },
        );
    }
    // A file named exactly `.pth` (`site.py` before 3.13 reads dot files).
    variants.add("contents.pth-exec", ".pth named `.pth`".to_string(), {
        let code = code.clone();
        move |spec| spec.file(".pth", code)
    });
    variants.add(
        "contents.pth-exec",
        "`.pth` named `.pth` through .data/data".to_string(),
        {
            let code = code.clone();
            let site = site.clone();
            move |spec| spec.data_file(&format!("data/{site}/.pth"), code)
        },
    );
    // Path lines that put code no rule sees on the path: an archive, an absolute path, a path
    // out of the environment.
    for (what, line) in [
        ("a zip the wheel ships", "hooks.zip"),
        ("an absolute path", "/tmp/shared-by-everyone"),
        (
            "a path out of the environment",
            "../../../../../../../tmp/x",
        ),
    ] {
        variants.add(
            "contents.pth-exec",
            format!(".pth adding {what}"),
            move |spec| {
                spec.file("adds.pth", format!("{line}\n"))
                    .file("hooks.zip", "PK\x05\x06".to_string() + &"\0".repeat(18))
            },
        );
    }
    // Modules Python imports by itself at every start.
    for (place, path, data) in [
        ("root", "sitecustomize.py".to_string(), false),
        (
            "root, package",
            "usercustomize/__init__.py".to_string(),
            false,
        ),
        ("root, odd case", "SiteCustomize.py".to_string(), false),
        ("purelib", "purelib/sitecustomize.py".to_string(), true),
        (
            "data to site-packages",
            format!("data/{site}/usercustomize.py"),
            true,
        ),
    ] {
        let hook = hook.clone();
        variants.add(
            "contents.startup-hook",
            format!("start-up module in {place}"),
            move |spec| {
                if data {
                    spec.data_file(&path, hook)
                } else {
                    spec.file(&path, hook)
                }
            },
        );
    }
    // A path-only `.pth` (allowed) that puts a directory with a `sitecustomize` on the path.
    {
        let hook = hook.clone();
        variants.add(
            "contents.startup-hook",
            "start-up module in a directory a .pth adds".to_string(),
            move |spec| {
                spec.file("extra.pth", "extra_dir\n")
                    .file("extra_dir/sitecustomize.py", hook)
            },
        );
    }
    // Start-up modules anywhere: an earlier install's `.pth` (or `PYTHONPATH`) can put any
    // directory on the path.
    for path in [
        "plain_dir/sitecustomize.py",
        "data/share/x/usercustomize/__init__.py",
        "data/LIB/python3.99/site-packages/sitecustomize.py",
        "nested/__pycache__/sitecustomize.cpython-312.pyc",
    ] {
        let hook = hook.clone();
        variants.add(
            "contents.startup-hook",
            format!("start-up module at {path}"),
            move |spec| {
                if let Some(data) = path.strip_prefix("data/") {
                    spec.data_file(&format!("data/{data}"), hook)
                } else {
                    spec.file(path, hook)
                }
            },
        );
    }
    // Files the environment owns.
    for (what, path) in [
        ("pyvenv.cfg", "data/pyvenv.cfg".to_string()),
        ("the interpreter", "data/bin/python".to_string()),
        (
            "a versioned interpreter",
            format!("data/bin/{}", py.trim_start_matches("lib/")),
        ),
        (
            "the interpreter, as a script",
            "scripts/python3".to_string(),
        ),
        ("an activation script", "data/bin/activate".to_string()),
        (
            "the fish activation script",
            "data/bin/activate.fish".to_string(),
        ),
        ("the standard library directory", format!("data/{py}/os.py")),
        (
            "the standard library through lib64",
            format!("data/{}/os.py", py.replacen("lib/", "lib64/", 1)),
        ),
        (
            "a journal in the state directory",
            "data/.safevenv/txn-0/journal.json".to_string(),
        ),
        (
            "a backup in the state directory",
            "data/.safevenv/txn-0/backup/0".to_string(),
        ),
        (
            "the state directory in upper case",
            "data/.SAFEVENV/txn-0/journal.json".to_string(),
        ),
        (
            "the state directory with a long s",
            "data/.\u{17f}afevenv/txn-0/journal.json".to_string(),
        ),
        (
            "a pyvenv.cfg beside the interpreter",
            "scripts/pyvenv.cfg".to_string(),
        ),
        (
            "a pyvenv.cfg beside the interpreter, through data",
            "data/bin/pyvenv.cfg".to_string(),
        ),
        (
            "the interpreter in another case",
            "data/BIN/Python3".to_string(),
        ),
        (
            "a free-threaded interpreter",
            "scripts/python3.13t".to_string(),
        ),
        (
            "another implementation's interpreter",
            "scripts/pypy3".to_string(),
        ),
        (
            "an interpreter named as a script",
            "scripts/graalpy.py".to_string(),
        ),
        (
            "pyvenv.cfg replaced by a directory",
            "data/pyvenv.cfg/x".to_string(),
        ),
        (
            "an activation script replaced by a directory",
            "data/bin/activate/x".to_string(),
        ),
        (
            "the lib64 link replaced by a file",
            "data/lib64".to_string(),
        ),
        (
            "the environment's .gitignore",
            "data/.gitignore".to_string(),
        ),
    ] {
        variants.add("contents.environment", what.to_string(), move |spec| {
            spec.data_file(&path, "{\"version\": 1, \"ops\": []}\n")
        });
    }
    // Empty directory entries where the environment has files, and a console script named
    // like the environment's configuration.
    for (what, dir) in [
        ("an empty directory over pyvenv.cfg", "pyvenv.cfg/"),
        ("an empty directory over bin/activate", "bin/activate/"),
    ] {
        variants.add("contents.environment", what.to_string(), move |spec| {
            let name = spec.filename();
            let stem = name.split('-').next().unwrap();
            spec.directory_entry(&format!("{stem}-1.0.data/data/{dir}"))
        });
    }
    variants.add(
        "contents.environment",
        "a console script named pyvenv.cfg".to_string(),
        |spec| {
            spec.file("m.py", "def main(): pass\n")
                .console_script("pyvenv.cfg", "m:main")
        },
    );
    // Layouts uv's installer cannot install, refused before anything is staged.
    variants.add(
        "contents.archive",
        "a subdirectory of .data/scripts".to_string(),
        |spec| spec.data_file("scripts/sub/tool", "#!/bin/sh\n"),
    );
    // A RECORD row marked as a directory that names another distribution's file (uninstalling
    // would delete it).
    variants.add(
        "contents.archive",
        "a RECORD directory row naming a file".to_string(),
        |spec| {
            let spec = spec.file("own/__init__.py", "");
            let record = spec.generated_record() + "victim/__init__.py/,,\n";
            spec.record_override(&record)
        },
    );
    // A script that lands in the scripts directory from `.data/data`.
    variants.add(
        "contents.script-clash",
        "pip from .data/data/bin".to_string(),
        |spec| spec.data_file("data/bin/pip", "#!/bin/sh\n"),
    );

    let mut builder = TestIndex::builder();
    for (spec, _, _) in &variants.specs {
        builder = builder.wheel(spec.clone());
    }
    let index = builder.start().unwrap();
    let before = snapshot(&venv(&context));
    let state_before = state(&context);
    for (n, (_, rule, what)) in variants.specs.iter().enumerate() {
        let output = install(&context, &index, &format!("v{n}"));
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(3), "{what}: {message}");
        assert!(
            message.contains(&format!("refused[{rule}]")),
            "{what}: expected {rule}: {message}"
        );
        assert_unchanged(&before, &snapshot(&venv(&context)));
        assert_eq!(
            state(&context),
            state_before,
            "{what}: the state directory changed"
        );
    }
    assert!(!marker.exists(), "no hostile code ran");
}

#[test]
fn honest_files_outside_site_packages_install_where_the_scheme_puts_them() {
    let context = TestContext::with_environment();
    let py = python_dir(&context);
    let site = format!("{py}/site-packages");
    let index = TestIndex::builder()
        .wheel(
            WheelSpec::new("honest", "1.0")
                .file("honest/__init__.py", "VALUE = 1\n")
                // A path-only `.pth` at the top, and one reached through `.data/data`.
                .file("honest.pth", "honest_extra\n")
                .data_file(
                    &format!("data/{site}/honest-data.pth"),
                    "# a comment\nhonest_more\n",
                )
                .data_file("data/share/man/man1/honest.1", ".TH HONEST 1\n")
                .data_file("data/etc/honest/config.toml", "x = 1\n")
                .data_file("headers/honest.h", "#define HONEST 1\n")
                .data_file("scripts/honest-tool", "#!python\nprint('hi')\n")
                // Names close to the guarded ones, which are not them.
                .file("sitecustom.py", "A = 1\n")
                .data_file("data/bin/python-honest", "#!/bin/sh\n")
                .data_file("data/safevenv-notes.txt", "notes\n")
                .data_file("data/etc/honest/pyvenv.cfg", "home = /nowhere\n")
                .data_file("data/share/honest/activate.sh", "echo hi\n")
                .directory_entry("honest-1.0.data/data/share/honest-empty/")
                .directory_entry("honest/")
                .console_script("honest", "honest:main"),
        )
        .start()
        .unwrap();
    let output = install(&context, &index, "honest");
    assert!(output.status.success(), "{}", stderr(&output));
    let venv = venv(&context);
    for path in [
        format!("{site}/honest/__init__.py"),
        format!("{site}/honest.pth"),
        format!("{site}/honest-data.pth"),
        format!("{site}/sitecustom.py"),
        "share/man/man1/honest.1".to_string(),
        "etc/honest/config.toml".to_string(),
        "bin/honest-tool".to_string(),
        "bin/honest".to_string(),
        "bin/python-honest".to_string(),
        "safevenv-notes.txt".to_string(),
        "etc/honest/pyvenv.cfg".to_string(),
        "share/honest/activate.sh".to_string(),
    ] {
        assert!(venv.join(&path).is_file(), "{path} was not installed");
    }
    assert!(
        venv.join("share/honest-empty").is_dir(),
        "the empty directory entry"
    );
    let headers: Vec<_> = walk(&venv.join("include"))
        .into_iter()
        .filter(|path| path.ends_with("honest.h"))
        .collect();
    assert_eq!(headers.len(), 1, "the header lands once, below include/");
}

/// Every path below `root` (none when it does not exist).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}
