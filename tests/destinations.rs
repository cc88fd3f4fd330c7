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
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            let relative = path.strip_prefix(&root).unwrap().to_path_buf();
            if relative != Path::new("lock") && relative != Path::new("journal-key") {
                found.push(relative);
            }
        }
    }
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
    ] {
        variants.add("contents.environment", what.to_string(), move |spec| {
            spec.data_file(&path, "{\"version\": 1, \"ops\": []}\n")
        });
    }
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
    ] {
        assert!(venv.join(&path).is_file(), "{path} was not installed");
    }
    let headers: Vec<_> = walk(&venv.join("include"))
        .into_iter()
        .filter(|path| path.ends_with("honest.h"))
        .collect();
    assert_eq!(headers.len(), 1, "the header lands once, below include/");
}

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
