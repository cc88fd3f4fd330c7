//! `safevenv create` end to end: the binary makes an environment that works as `venv`'s does.

mod common;

use std::process::Command;

use common::{TestContext, pyenv_python, run_ok, stderr, stdout};

/// Runs `python -c code` inside the environment and returns its stdout.
fn python_in(env: &std::path::Path, code: &str) -> String {
    stdout(&run_ok(
        Command::new(env.join("bin/python")).args(["-c", code]),
    ))
}

fn pyvenv_cfg(env: &std::path::Path) -> Vec<(String, String)> {
    fs_err::read_to_string(env.join("pyvenv.cfg"))
        .expect("read pyvenv.cfg")
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn assert_working_environment(env: &std::path::Path, expected_minor: &str) {
    let env = fs_err::canonicalize(env).expect("canonical path");
    let report = python_in(
        &env,
        "import sys, site; print(sys.prefix); print(sys.base_prefix); \
         print('%d.%d' % sys.version_info[:2]); print(any(p.endswith('site-packages') and p.startswith(sys.prefix) for p in sys.path))",
    );
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[0],
        env.to_str().unwrap(),
        "sys.prefix is the environment"
    );
    assert_ne!(
        lines[0], lines[1],
        "sys.prefix differs from sys.base_prefix"
    );
    assert_eq!(lines[2], expected_minor);
    assert_eq!(
        lines[3], "True",
        "the environment's site-packages is on sys.path"
    );

    let cfg = pyvenv_cfg(&env);
    for key in [
        "home",
        "include-system-site-packages",
        "version",
        "executable",
        "command",
    ] {
        assert!(
            cfg.iter().any(|(k, _)| k == key),
            "pyvenv.cfg has `{key}`: {cfg:?}"
        );
    }
    assert!(cfg.contains(&("include-system-site-packages".into(), "false".into())));

    // Sourcing `activate` in bash sets VIRTUAL_ENV and puts the environment's python first.
    let activated = stdout(&run_ok(Command::new("bash").arg("-c").arg(format!(
        "source '{}/bin/activate' && echo \"$VIRTUAL_ENV\" && command -v python",
        env.display()
    ))));
    let lines: Vec<&str> = activated.lines().collect();
    assert_eq!(lines[0], env.to_str().unwrap());
    assert_eq!(lines[1], env.join("bin/python").to_str().unwrap());
}

#[test]
fn creates_a_working_environment_with_the_default_interpreter() {
    let context = TestContext::new();
    let output = run_ok(context.safevenv().arg("create"));
    assert!(
        stderr(&output).contains("Created environment at `"),
        "{}",
        stderr(&output)
    );
    let default_minor =
        stdout(&run_ok(Command::new("python3").args([
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2])",
        ])));
    assert_working_environment(&context.work().join(".venv"), default_minor.trim());
}

#[test]
fn creates_an_environment_from_a_pyenv_interpreter_by_version() {
    let context = TestContext::new();
    assert!(
        pyenv_python("3.12").is_some(),
        "this test needs a pyenv Python 3.12 (the CI machine has one)"
    );
    run_ok(
        context
            .safevenv()
            .args(["create", "--python", "3.12", "env312"]),
    );
    assert_working_environment(&context.work().join("env312"), "3.12");
}

#[test]
fn creates_an_environment_from_an_interpreter_path_with_prompt_and_system_site_packages() {
    let context = TestContext::new();
    let python = pyenv_python("3.13").expect("this test needs a pyenv Python 3.13");
    run_ok(
        context
            .safevenv()
            .args([
                "create",
                "--prompt",
                "demo",
                "--system-site-packages",
                "--python",
            ])
            .arg(&python)
            .arg("env"),
    );
    let cfg = pyvenv_cfg(&context.work().join("env"));
    assert!(cfg.contains(&("prompt".into(), "demo".into())), "{cfg:?}");
    assert!(
        cfg.contains(&("include-system-site-packages".into(), "true".into())),
        "{cfg:?}"
    );
    let version = python_in(
        &context.work().join("env"),
        "import sys; print('%d.%d' % sys.version_info[:2])",
    );
    assert_eq!(version.trim(), "3.13");
}

#[test]
fn refuses_a_directory_that_is_not_an_environment_and_leaves_it_untouched() {
    let context = TestContext::new();
    let project = context.work().join("project");
    fs_err::create_dir_all(&project).unwrap();
    fs_err::write(project.join("precious.txt"), "keep me").unwrap();

    for clear in [false, true] {
        let mut command = context.safevenv();
        command.args(["create", "project"]);
        if clear {
            command.arg("--clear");
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let message = stderr(&output);
        assert!(
            message.contains("project` is a non-empty directory that is not an environment"),
            "{message}"
        );
        assert!(message.contains("hint:"), "{message}");
    }
    let entries: Vec<_> = fs_err::read_dir(&project).unwrap().collect();
    assert_eq!(entries.len(), 1, "nothing was added or removed");
    assert_eq!(
        fs_err::read_to_string(project.join("precious.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn an_existing_environment_needs_clear_to_be_replaced() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "env"]));
    let marker = context.work().join("env/marker");
    fs_err::write(&marker, "old").unwrap();

    let output = context.safevenv().args(["create", "env"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--clear"), "{}", stderr(&output));
    assert!(marker.exists(), "refused create leaves the old environment");

    run_ok(context.safevenv().args(["create", "--clear", "env"]));
    assert!(!marker.exists(), "--clear replaced the environment");
    let minor = python_in(
        &context.work().join("env"),
        "import sys; print('%d.%d' % sys.version_info[:2])",
    );
    assert_working_environment(&context.work().join("env"), minor.trim());
}

#[test]
fn an_unknown_interpreter_is_a_clear_error_naming_what_was_tried() {
    let context = TestContext::new();
    let output = context
        .safevenv()
        .args(["create", "--python", "3.99", "env"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("error: no interpreter satisfies `3.99`"),
        "{message}"
    );
    assert!(message.contains("hint:"), "{message}");
    assert!(!context.work().join("env").exists(), "nothing was made");
}
