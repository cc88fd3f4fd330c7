//! `safevenv lock` end to end, against a local index the test starts.

mod common;

use std::process::Output;

use common::{TestContext, run_ok, stderr, stdout};
use safevenv_test_index::{BuiltWheel, IndexFile, TestIndex, WheelSpec};

fn index_with(wheels: Vec<WheelSpec>) -> TestIndex {
    let mut builder = TestIndex::builder();
    for wheel in wheels {
        builder = builder.wheel(wheel);
    }
    builder.start().expect("start the test index")
}

/// `safevenv lock` against `index`, for the machine's python3, revalidating pages on every run.
fn lock(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context
        .safevenv()
        .arg("lock")
        .args(["--index-url", &index.url(), "--python", "python3"])
        .args(args)
        .env("SAFEVENV_INDEX_TTL", "0")
        .output()
        .expect("run safevenv lock")
}

fn pylock(context: &TestContext) -> String {
    fs_err::read_to_string(context.work().join("pylock.toml")).expect("read pylock.toml")
}

fn built(spec: WheelSpec) -> BuiltWheel {
    spec.build().expect("build wheel")
}

#[test]
fn locks_requirements_with_their_dependencies_hashes_and_index() {
    let context = TestContext::new();
    let app = built(WheelSpec::new("app", "1.0").requires_dist("lib>=2"));
    let lib = built(WheelSpec::new("lib", "2.1"));
    let index = TestIndex::builder()
        .built(app.clone())
        .built(lib.clone())
        .wheel(WheelSpec::new("lib", "1.0"))
        .start()
        .unwrap();
    let output = lock(&context, &index, &["app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Resolved 2 packages"),
        "{}",
        stderr(&output)
    );

    let text = pylock(&context);
    let lock =
        safevenv_lock::Lock::from_toml_str(&text, "pylock.toml").expect("a valid PEP 751 lockfile");
    assert_eq!(lock.created_by, "safevenv");
    let names: Vec<String> = lock
        .iter()
        .map(|p| format!("{}=={}", p.name, p.version.as_ref().unwrap()))
        .collect();
    assert_eq!(names, ["app==1.0", "lib==2.1"]);
    for (package, wheel) in lock.iter().zip([&app, &lib]) {
        assert_eq!(
            package.index.as_ref().map(ToString::to_string).as_deref(),
            Some(index.url().as_str())
        );
        let locked = &package.wheels()[0];
        assert_eq!(
            locked.hashes.get("sha256"),
            Some(wheel.sha256.as_str()),
            "the index's hash is pinned"
        );
        assert_eq!(locked.size, Some(wheel.bytes.len() as u64));
        assert_eq!(locked.file_name().as_deref(), Some(wheel.filename.as_str()));
    }
    assert!(
        text.contains("dependencies = [\n    { name = \"lib\" },\n]"),
        "{text}"
    );
}

#[test]
fn locking_twice_gives_the_same_bytes() {
    let context = TestContext::new();
    let index = index_with(vec![
        WheelSpec::new("app", "1.0")
            .requires_dist("lib")
            .requires_dist("zed"),
        WheelSpec::new("lib", "1.0"),
        WheelSpec::new("zed", "3.0"),
    ]);
    run_ok(
        context
            .safevenv()
            .arg("lock")
            .args(["--index-url", &index.url(), "app"]),
    );
    let first = pylock(&context);
    fs_err::remove_file(context.work().join("pylock.toml")).unwrap();
    run_ok(
        context
            .safevenv()
            .arg("lock")
            .args(["--index-url", &index.url(), "app"]),
    );
    assert_eq!(first, pylock(&context), "byte-identical");
    let again = run_ok(
        context
            .safevenv()
            .arg("lock")
            .args(["--index-url", &index.url(), "app"]),
    );
    assert!(stderr(&again).contains("Unchanged"), "{}", stderr(&again));
}

#[test]
fn an_existing_lockfile_pins_versions_until_upgraded() {
    let context = TestContext::new();
    let index = index_with(vec![
        WheelSpec::new("app", "1.0").requires_dist("lib"),
        WheelSpec::new("lib", "1.0"),
    ]);
    assert!(lock(&context, &index, &["app"]).status.success());
    index.add(WheelSpec::new("lib", "2.0")).unwrap();
    index
        .add(WheelSpec::new("app", "1.1").requires_dist("lib"))
        .unwrap();

    let output = lock(&context, &index, &["app"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = pylock(&context);
    assert!(
        text.contains("name = \"lib\"\nversion = \"1.0\""),
        "kept: {text}"
    );
    assert!(
        text.contains("name = \"app\"\nversion = \"1.0\""),
        "kept: {text}"
    );

    let output = lock(&context, &index, &["app", "--upgrade-package", "lib"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = pylock(&context);
    assert!(
        text.contains("name = \"lib\"\nversion = \"2.0\""),
        "lib upgraded: {text}"
    );
    assert!(
        text.contains("name = \"app\"\nversion = \"1.0\""),
        "app kept: {text}"
    );

    let output = lock(&context, &index, &["app", "--upgrade"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(pylock(&context).contains("name = \"app\"\nversion = \"1.1\""));
}

#[test]
fn exports_hashed_requirements_to_standard_output() {
    let context = TestContext::new();
    let app = built(WheelSpec::new("app", "1.0").requires_dist("lib"));
    let lib = built(WheelSpec::new("lib", "1.0"));
    let index = TestIndex::builder()
        .built(app.clone())
        .built(lib.clone())
        .start()
        .unwrap();
    let output = lock(&context, &index, &["app", "--format", "requirements.txt"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("app==1.0 \\\n    --hash=sha256:{}\n", app.sha256)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "lib==1.0 \\\n    --hash=sha256:{}\n    # via app\n",
            lib.sha256
        )),
        "{text}"
    );
    assert!(!context.work().join("pylock.toml").exists());

    // The export is accepted back as hash-checked input, and gives the same pins.
    fs_err::write(context.work().join("pinned.txt"), &text).unwrap();
    let output = lock(
        &context,
        &index,
        &["-r", "pinned.txt", "--require-hashes-is-not-an-option"],
    );
    assert!(!output.status.success(), "unknown flags are refused");
    let output = lock(
        &context,
        &index,
        &[
            "-r",
            "pinned.txt",
            "-o",
            "-",
            "--format",
            "requirements.txt",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let pins = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(pins(&stdout(&output)), pins(&text));
}

#[test]
fn a_hash_pin_that_the_index_artifact_does_not_match_is_refused() {
    let context = TestContext::new();
    let index = index_with(vec![WheelSpec::new("lib", "1.0")]);
    let wrong = "0".repeat(64);
    fs_err::write(
        context.work().join("requirements.txt"),
        format!("lib==1.0 --hash=sha256:{wrong}\n"),
    )
    .unwrap();
    let output = lock(&context, &index, &["-r", "requirements.txt"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("matches none of the hashes pinned for `lib`"),
        "{message}"
    );
    assert!(
        !context.work().join("pylock.toml").exists(),
        "nothing written"
    );
}

#[test]
fn requirements_refused_at_input_are_refused_with_their_line() {
    let context = TestContext::new();
    let index = index_with(vec![WheelSpec::new("lib", "1.0")]);
    // Direct wheels reach the policy gate (`tests/direct.rs`), but only pinned by hash; what
    // needs building never does.
    for (line, kind) in [
        (
            "lib @ https://files.example/lib-1.0-py3-none-any.whl",
            "without a pinned sha256",
        ),
        (
            "lib @ git+https://git.example/lib.git@main",
            "version control",
        ),
    ] {
        fs_err::write(
            context.work().join("requirements.txt"),
            format!("# pins\n{line}\n"),
        )
        .unwrap();
        let output = lock(&context, &index, &["-r", "requirements.txt"]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains("at line 2"), "{message}");
        assert!(message.contains(kind), "{message}");
        assert!(message.contains("hint:"), "{message}");
    }
}

#[test]
fn a_requirements_file_cannot_switch_the_index() {
    let context = TestContext::new();
    let index = index_with(vec![WheelSpec::new("lib", "1.0")]);
    fs_err::write(
        context.work().join("requirements.txt"),
        "--index-url https://mirror.example/simple/\nlib\n",
    )
    .unwrap();
    let output = lock(&context, &index, &["-r", "requirements.txt"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("names the index `https://mirror.example/simple/`"),
        "{message}"
    );
    assert!(
        message.contains("--index-url https://mirror.example/simple/"),
        "the hint says how: {message}"
    );

    // Naming the configured index is fine.
    fs_err::write(
        context.work().join("requirements.txt"),
        format!("--index-url {}\nlib\n", index.url()),
    )
    .unwrap();
    let output = lock(&context, &index, &["-r", "requirements.txt"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn an_unsatisfiable_set_is_explained() {
    let context = TestContext::new();
    let index = index_with(vec![
        WheelSpec::new("app", "1.0").requires_dist("lib>=2"),
        WheelSpec::new("lib", "1.0"),
    ]);
    let output = lock(&context, &index, &["app"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("app"), "{message}");
    assert!(message.contains("lib>=2"), "{message}");
    assert!(!message.contains("Range"), "no debug dump: {message}");
}

#[test]
fn yanked_versions_are_skipped_unless_pinned() {
    let context = TestContext::new();
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("lib", "1.0"))
        .file(IndexFile::from(WheelSpec::new("lib", "2.0")).yanked(Some("broken")))
        .start()
        .unwrap();
    assert!(lock(&context, &index, &["lib"]).status.success());
    assert!(pylock(&context).contains("version = \"1.0\""));
    assert!(lock(&context, &index, &["lib==2.0"]).status.success());
    assert!(pylock(&context).contains("version = \"2.0\""));
}

#[test]
fn credentials_in_the_index_url_never_reach_the_lockfile_or_the_terminal() {
    let context = TestContext::new();
    let index = index_with(vec![WheelSpec::new("lib", "1.0")]);
    let with_credentials = index.url().replace("http://", "http://alice:s3cr3t@");
    let output = context
        .safevenv()
        .args(["lock", "--index-url", &with_credentials, "lib", "nothere"])
        .output()
        .unwrap();
    assert!(!stderr(&output).contains("s3cr3t"), "{}", stderr(&output));
    let output = context
        .safevenv()
        .args(["lock", "-v", "--index-url", &with_credentials, "lib"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("s3cr3t"), "{}", stderr(&output));
    assert!(!pylock(&context).contains("s3cr3t"));
    assert!(!pylock(&context).contains("alice"));
}

#[test]
fn offline_locking_uses_the_cache_and_says_when_it_cannot() {
    let context = TestContext::new();
    let index = index_with(vec![WheelSpec::new("lib", "1.0")]);
    let output = context
        .safevenv()
        .args(["lock", "--offline", "--index-url", &index.url(), "lib"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--offline"),
        "the hint names the fix: {}",
        stderr(&output)
    );

    run_ok(
        context
            .safevenv()
            .args(["lock", "--index-url", &index.url(), "lib"]),
    );
    let online = pylock(&context);
    fs_err::remove_file(context.work().join("pylock.toml")).unwrap();
    index.clear_requests();
    run_ok(
        context
            .safevenv()
            .args(["lock", "--offline", "--index-url", &index.url(), "lib"]),
    );
    assert!(
        index.requests().is_empty(),
        "no request offline: {:?}",
        index.requests()
    );
    assert_eq!(pylock(&context), online);
}
