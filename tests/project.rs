//! Projects end to end: `lock`, `install` and `sync --frozen` with no `-r` read `pyproject.toml`
//! (extras, PEP 735 groups), and `add`/`remove` edit it, then lock and sync.

mod common;

use std::process::Output;

use common::{TestContext, stderr};
use safevenv_lock::Lock;
use safevenv_test_index::{TestIndex, WheelSpec};

fn safevenv(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context.run_with_index(index, args)
}

fn index() -> TestIndex {
    TestIndex::builder()
        .wheel(WheelSpec::new("lib", "1.0").requires_dist("helper"))
        .wheel(WheelSpec::new("lib", "2.0").requires_dist("helper"))
        .wheel(WheelSpec::new("helper", "1.0"))
        .wheel(WheelSpec::new("speedup", "1.0"))
        .wheel(WheelSpec::new("pytest", "8.0"))
        .wheel(WheelSpec::new("ruff", "0.5"))
        .wheel(WheelSpec::new("rich", "13.0"))
        .start()
        .expect("start the test index")
}

const PYPROJECT: &str = r#"# The demo project.
[project]
name = "demo"
version = "0.1"
requires-python = ">=3.8"
dependencies = [
    "lib<2",  # the core
]

[project.optional-dependencies]
fast = ["speedup"]

[dependency-groups]
lint = ["ruff"]
dev = ["pytest", { include-group = "lint" }]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"#;

fn project(context: &TestContext) {
    fs_err::write(context.work().join("pyproject.toml"), PYPROJECT).unwrap();
}

fn locked(context: &TestContext) -> Lock {
    Lock::from_path(context.work().join("pylock.toml")).unwrap()
}

fn version(lock: &Lock, name: &str) -> Option<String> {
    lock.packages
        .iter()
        .find(|package| package.name.as_str() == name)
        .and_then(|package| package.version.as_ref().map(ToString::to_string))
}

fn names(lock: &Lock) -> Vec<String> {
    let mut names: Vec<String> = lock.packages.iter().map(|p| p.name.to_string()).collect();
    names.sort();
    names
}

fn installed(context: &TestContext) -> Vec<String> {
    let site = fs_err::read_dir(context.work().join(".venv/lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    let mut names: Vec<String> = fs_err::read_dir(site)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".dist-info")
                .map(|stem| stem.split('-').next().unwrap().to_string())
        })
        .collect();
    names.sort();
    names
}

fn marker(lock: &Lock, name: &str) -> Option<String> {
    lock.packages
        .iter()
        .find(|package| package.name.as_str() == name)
        .and_then(|package| package.marker.try_to_string())
}

fn strings<T: ToString>(items: Option<&Vec<T>>) -> Option<Vec<String>> {
    items.map(|items| items.iter().map(ToString::to_string).collect())
}

#[test]
fn lock_holds_every_extra_and_group_marked_as_pep_751_says() {
    let context = TestContext::new();
    let index = index();
    project(&context);
    let output = safevenv(&context, &index, &["lock"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lock = locked(&context);
    assert_eq!(
        names(&lock),
        ["helper", "lib", "pytest", "ruff", "speedup"],
        "dependencies, every extra and every group"
    );
    assert_eq!(version(&lock, "lib"), Some("1.0".to_string()));
    assert_eq!(
        strings(lock.extras.as_ref()),
        Some(vec!["fast".to_string()])
    );
    assert_eq!(
        strings(lock.dependency_groups.as_ref()),
        Some(vec!["dev".to_string(), "lint".to_string()])
    );
    assert_eq!(
        strings(lock.default_groups.as_ref()),
        Some(vec!["dev".to_string()])
    );
    assert_eq!(marker(&lock, "lib"), None, "the project's own dependency");
    assert_eq!(marker(&lock, "helper"), None, "needed by a dependency");
    assert_eq!(
        marker(&lock, "speedup").as_deref(),
        Some("'fast' in extras")
    );
    assert_eq!(
        marker(&lock, "pytest").as_deref(),
        Some("'dev' in dependency_groups")
    );
    let ruff = marker(&lock, "ruff").unwrap();
    assert!(
        ruff.contains("'dev' in dependency_groups") && ruff.contains("'lint' in dependency_groups"),
        "{ruff}"
    );
    let message = stderr(&output);
    assert!(
        message.contains("`demo` itself is not installed")
            && message.contains("safevenv install -e ."),
        "{message}"
    );

    let output = safevenv(&context, &index, &["lock", "--only-group", "lint"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lock = locked(&context);
    assert_eq!(names(&lock), ["ruff"]);
    assert_eq!(
        strings(lock.default_groups.as_ref()),
        Some(vec!["lint".to_string()])
    );
}

#[test]
fn lock_refuses_unknown_extras_and_groups_dynamic_dependencies_and_a_file_without_a_project() {
    let context = TestContext::new();
    let index = index();
    project(&context);
    let output = safevenv(&context, &index, &["lock", "--group", "docs"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no dependency group `docs`"),
        "{}",
        stderr(&output)
    );
    let output = safevenv(&context, &index, &["lock", "--extra", "slow"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no extra `slow`"),
        "{}",
        stderr(&output)
    );
    assert!(!context.work().join("pylock.toml").exists());

    fs_err::write(
        context.work().join("pyproject.toml"),
        "[project]\nname = \"demo\"\ndynamic = [\"dependencies\"]\n",
    )
    .unwrap();
    let output = safevenv(&context, &index, &["lock"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is dynamic"),
        "{}",
        stderr(&output)
    );

    fs_err::write(context.work().join("pyproject.toml"), "[tool.black]\n").unwrap();
    let output = safevenv(&context, &index, &["lock"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no `[project]` table"),
        "{}",
        stderr(&output)
    );
    assert!(!context.work().join("pylock.toml").exists());
}

#[test]
fn lock_refuses_an_interpreter_outside_requires_python() {
    let context = TestContext::new();
    let index = index();
    fs_err::write(
        context.work().join("pyproject.toml"),
        PYPROJECT.replace(">=3.8", "<3.0"),
    )
    .unwrap();
    let output = safevenv(&context, &index, &["lock"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("requires Python `<3.0`"),
        "{}",
        stderr(&output)
    );
    assert!(!context.work().join("pylock.toml").exists());
}

#[test]
fn install_and_sync_choose_extras_and_groups_from_one_lockfile() {
    let context = TestContext::with_environment();
    let index = index();
    project(&context);
    let output = safevenv(&context, &index, &["install"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        installed(&context),
        ["helper", "lib", "pytest", "ruff"],
        "`dev` by default"
    );
    assert_eq!(
        names(&locked(&context)),
        ["helper", "lib", "pytest", "ruff", "speedup"]
    );

    let output = safevenv(
        &context,
        &index,
        &["sync", "--extra", "fast", "--no-default-groups"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(installed(&context), ["helper", "lib", "speedup"]);

    let output = safevenv(
        &context,
        &index,
        &["sync", "--no-default-groups", "--group", "lint"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(installed(&context), ["helper", "lib", "ruff"]);

    let output = safevenv(&context, &index, &["sync", "--all-extras"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        installed(&context),
        ["helper", "lib", "pytest", "ruff", "speedup"]
    );

    let output = safevenv(&context, &index, &["sync", "--extra", "slow"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("holds no extra `slow`"),
        "{}",
        stderr(&output)
    );
    let output = safevenv(&context, &index, &["sync", "--only-group", "lint"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot leave them out"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        installed(&context),
        ["helper", "lib", "pytest", "ruff", "speedup"],
        "untouched"
    );
}

#[test]
fn sync_frozen_checks_the_lockfile_against_the_project() {
    let context = TestContext::with_environment();
    let index = index();
    project(&context);
    let output = safevenv(&context, &index, &["lock"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = safevenv(&context, &index, &["sync", "--frozen"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(installed(&context), ["helper", "lib", "pytest", "ruff"]);

    // Changing a specifier (still satisfied by the pins) is an edit the lockfile does not record.
    let edited = PYPROJECT.replace("\"lib<2\"", "\"lib<3\"");
    fs_err::write(context.work().join("pyproject.toml"), edited).unwrap();
    let output = safevenv(&context, &index, &["sync", "--frozen"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("lib<3"), "{message}");
    assert!(message.contains("no longer"), "{message}");
}

#[test]
fn add_and_remove_edit_the_project_keeping_comments_then_lock_and_sync() {
    let context = TestContext::with_environment();
    let index = index();
    project(&context);
    let output = safevenv(&context, &index, &["add", "rich>=13"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = fs_err::read_to_string(context.work().join("pyproject.toml")).unwrap();
    assert_eq!(
        text,
        PYPROJECT.replace(
            "    \"lib<2\",  # the core\n",
            "    \"lib<2\",  # the core\n    \"rich>=13\",\n"
        )
    );
    assert!(names(&locked(&context)).contains(&"rich".to_string()));
    assert!(installed(&context).contains(&"rich".to_string()));

    // An add of a declared dependency replaces its specifier.
    let output = safevenv(&context, &index, &["add", "LIB>=2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(version(&locked(&context), "lib"), Some("2.0".to_string()));

    let output = safevenv(&context, &index, &["remove", "Rich"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = fs_err::read_to_string(context.work().join("pyproject.toml")).unwrap();
    assert_eq!(text, PYPROJECT.replace("\"lib<2\"", "\"LIB>=2\""));
    assert!(
        !installed(&context).contains(&"rich".to_string()),
        "sync removed it"
    );

    let output = safevenv(&context, &index, &["add", "--optional", "fast", "rich"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        marker(&locked(&context), "rich").as_deref(),
        Some("'fast' in extras")
    );
    assert!(
        installed(&context).contains(&"rich".to_string()),
        "the extra edited is installed"
    );

    let output = safevenv(&context, &index, &["remove", "ruff", "--group", "lint"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!names(&locked(&context)).contains(&"ruff".to_string()));
}

#[test]
fn add_that_cannot_resolve_or_is_refused_leaves_the_project_and_lockfile_as_they_were() {
    let context = TestContext::with_environment();
    let index = index();
    project(&context);
    let output = safevenv(&context, &index, &["lock"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let pyproject = fs_err::read_to_string(context.work().join("pyproject.toml")).unwrap();
    let lockfile = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();

    let output = safevenv(&context, &index, &["add", "absent-project"]);
    assert!(!output.status.success());
    assert_eq!(
        fs_err::read_to_string(context.work().join("pyproject.toml")).unwrap(),
        pyproject
    );
    assert_eq!(
        fs_err::read_to_string(context.work().join("pylock.toml")).unwrap(),
        lockfile
    );

    // The policy refuses the new dependency at the gate: nothing is kept either.
    fs_err::write(
        context.work().join("safevenv.toml"),
        "[packages]\ndeny = [\"rich\"]\n",
    )
    .unwrap();
    let output = safevenv(&context, &index, &["add", "rich"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        fs_err::read_to_string(context.work().join("pyproject.toml")).unwrap(),
        pyproject
    );
    assert_eq!(
        fs_err::read_to_string(context.work().join("pylock.toml")).unwrap(),
        lockfile
    );
    assert!(!installed(&context).contains(&"rich".to_string()));

    let output = safevenv(&context, &index, &["remove", "absent-project"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is not in `project.dependencies`"),
        "{}",
        stderr(&output)
    );
}
