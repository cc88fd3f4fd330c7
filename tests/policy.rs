//! The policy gate end to end: `safevenv policy init | check | explain`, refusals as JSON, the
//! policy file found from the project directory, hostile wheels built with the test index, and
//! the shared malformed-wheel vectors served from it. Every refusal leaves the environment
//! exactly as it was.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{
    TestContext, add_hostile_dependency, assert_unchanged, run_ok, snapshot, stderr, stdout,
};
use safevenv_test_index::{IndexFile, RawArtifact, TestIndex, WheelSpec};

fn with_environment() -> TestContext {
    TestContext::with_environment()
}

fn safevenv(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    safevenv_in(context, &context.work(), index, args)
}

fn safevenv_in(context: &TestContext, dir: &Path, index: &TestIndex, args: &[&str]) -> Output {
    context
        .safevenv()
        .current_dir(dir)
        .args(args)
        .env("SAFEVENV_INDEX_URL", index.url())
        .env("SAFEVENV_INDEX_TTL", "0")
        .output()
        .expect("run safevenv")
}

fn venv(context: &TestContext) -> PathBuf {
    context.work().join(".venv")
}

fn demo_index() -> TestIndex {
    TestIndex::builder()
        .wheel(
            WheelSpec::new("app", "1.0")
                .requires_dist("lib>=1")
                .file("app/__init__.py", b"from lib import VALUE\n".to_vec()),
        )
        .wheel(WheelSpec::new("lib", "1.0").file("lib/__init__.py", b"VALUE = 1\n".to_vec()))
        .start()
        .expect("start the test index")
}

/// Asserts a refusal (exit 3) naming `rule`, and returns the report.
#[track_caller]
fn assert_refused(output: &Output, rule: &str) -> String {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(3), "{message}");
    assert!(message.contains(&format!("refused[{rule}]")), "{message}");
    message
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {}", stdout(output)))
}

#[test]
fn policy_init_writes_a_starter_file_and_replaces_it_only_with_force() {
    let context = TestContext::new();
    let path = context.work().join("safevenv.toml");
    run_ok(context.safevenv().args(["policy", "init"]));
    let written = fs_err::read_to_string(&path).unwrap();
    assert!(written.contains("\nextends = \"default\"\n"), "{written}");

    fs_err::write(&path, "# mine\n").unwrap();
    let output = context
        .safevenv()
        .args(["policy", "init", "--preset", "strict"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));
    assert_eq!(fs_err::read_to_string(&path).unwrap(), "# mine\n");

    run_ok(
        context
            .safevenv()
            .args(["policy", "init", "--preset", "strict", "--force"]),
    );
    let written = fs_err::read_to_string(&path).unwrap();
    assert!(written.contains("\nextends = \"strict\"\n"), "{written}");
}

#[test]
fn policy_explain_prints_a_rule_and_lists_the_rules_for_an_unknown_one() {
    let context = TestContext::new();
    let output = run_ok(
        context
            .safevenv()
            .args(["policy", "explain", "contents.pth-exec"]),
    );
    assert!(
        stdout(&output).starts_with("contents.pth-exec:"),
        "{}",
        stdout(&output)
    );

    let output = context
        .safevenv()
        .args(["policy", "explain", "contents.nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("unknown policy rule `contents.nope`"),
        "{message}"
    );
    assert!(
        message.contains("sources.index") && message.contains("vulnerabilities"),
        "{message}"
    );
}

#[test]
fn policy_check_judges_requirements_and_installs_nothing() {
    let context = with_environment();
    let marker = context.root.path().join("pwned");
    let index = demo_index();
    add_hostile_dependency(&index, &marker);
    fs_err::write(context.work().join("bad.in"), "good\n").unwrap();
    fs_err::write(context.work().join("ok.in"), "app\n").unwrap();
    let before = snapshot(&venv(&context));

    let output = safevenv(
        &context,
        &index,
        &["policy", "check", "-r", "bad.in", "--format", "json"],
    );
    let message = assert_refused(&output, "contents.pth-exec");
    assert!(message.contains("`evil` 1.0"), "{message}");
    let verdict = json(&output);
    assert_eq!(verdict["approved"], false);
    assert_eq!(verdict["refusals"][0]["rule"], "contents.pth-exec");
    assert_eq!(verdict["refusals"][0]["package"], "evil");
    assert_eq!(verdict["distributions"].as_array().unwrap().len(), 3);

    let output = safevenv(&context, &index, &["policy", "check", "-r", "ok.in"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Approved 2 distributions"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(&before, &snapshot(&venv(&context)));
    assert!(!marker.exists(), "the .pth code never ran");
    assert!(
        !context.work().join("pylock.toml").exists(),
        "a check writes no lockfile"
    );
}

#[test]
fn the_project_policy_file_is_found_and_lock_does_not_gate_but_check_install_and_sync_do() {
    let context = with_environment();
    let index = demo_index();
    fs_err::write(
        context.work().join("safevenv.toml"),
        "[packages]\ndeny = [\"lib<2\"]\n",
    )
    .unwrap();
    let before = snapshot(&venv(&context));

    // Locking is not installing: the lockfile is written, and judged when it is installed.
    let output = safevenv(&context, &index, &["lock", "app"]);
    assert!(output.status.success(), "{}", stderr(&output));

    let output = safevenv(&context, &index, &["install", "app", "--format", "json"]);
    let message = assert_refused(&output, "packages.deny");
    assert!(message.contains("`lib` 1.0"), "{message}");
    assert!(
        message.contains("`[packages] deny`"),
        "the fix names the key: {message}"
    );
    assert!(message.contains("safevenv.toml"), "and the file: {message}");
    let report = json(&output);
    assert_eq!(report["refusals"][0]["rule"], "packages.deny");
    assert_eq!(report["refusals"][0]["package"], "lib");
    assert_eq!(report["refusals"][0]["version"], "1.0");

    let output = safevenv(&context, &index, &["sync", "--format", "json"]);
    assert_refused(&output, "packages.deny");
    assert_eq!(json(&output)["refusals"][0]["rule"], "packages.deny");

    // Found walking up from a subdirectory, with no environment there: judged all the same.
    let sub = context.work().join("sub");
    fs_err::create_dir_all(&sub).unwrap();
    let output = safevenv_in(
        &context,
        &sub,
        &index,
        &["policy", "check", "../pylock.toml"],
    );
    assert_refused(&output, "packages.deny");
    assert_unchanged(&before, &snapshot(&venv(&context)));

    // The good counterpart: a release the deny list does not match passes.
    index.add(WheelSpec::new("lib", "2.0")).unwrap();
    let output = safevenv(&context, &index, &["install", "app", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Installed lib 2.0"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_wheel_shipping_another_installed_distributions_module_is_refused() {
    let context = with_environment();
    let index = demo_index();
    index
        .add(
            WheelSpec::new("hijack", "1.0")
                .file("hijack/__init__.py", b"".to_vec())
                .file("lib/__init__.py", b"VALUE = 666\n".to_vec()),
        )
        .unwrap();
    index
        .add(WheelSpec::new("neighbour", "1.0").file("neighbour/__init__.py", b"".to_vec()))
        .unwrap();
    run_ok(
        context
            .safevenv()
            .args(["install", "app", "--no-lockfile"])
            .env("SAFEVENV_INDEX_URL", index.url()),
    );
    let before = snapshot(&venv(&context));
    let output = safevenv(&context, &index, &["install", "hijack", "--no-lockfile"]);
    let message = assert_refused(&output, "contents.overwrite");
    assert!(message.contains("lib/__init__.py"), "{message}");
    assert_unchanged(&before, &snapshot(&venv(&context)));

    let output = safevenv(&context, &index, &["install", "neighbour", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_pth_import_behind_a_bare_carriage_return_is_refused_and_python_would_run_it() {
    // Python ends a `.pth` line at a bare `\r` (universal newlines before 3.13, `splitlines`
    // after): a reader splitting at `\n` sees one path line here.
    let context = with_environment();
    let marker = context.root.path().join("pwned");
    let content = format!(
        "opt_none\rimport os; open({:?}, 'w').write('ran')\n",
        marker.display().to_string()
    );
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("sneaky", "1.0").file("sneaky.pth", content.into_bytes()))
        .wheel(
            WheelSpec::new("paths", "1.0").file("paths.pth", b"opt_none\ropt_other\r\n".to_vec()),
        )
        .start()
        .unwrap();
    let before = snapshot(&venv(&context));
    let output = safevenv(&context, &index, &["install", "sneaky", "--no-lockfile"]);
    let message = assert_refused(&output, "contents.pth-exec");
    assert!(
        message.contains("`sneaky.pth`") && message.contains("line 2"),
        "{message}"
    );
    assert_unchanged(&before, &snapshot(&venv(&context)));
    assert!(!marker.exists());

    // A `.pth` of paths only passes.
    let output = safevenv(&context, &index, &["install", "paths", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Allowed after review, it installs, and the environment's Python runs the hidden line.
    fs_err::write(
        context.work().join("safevenv.toml"),
        "[contents]\npth-exec-allow = [{ package = \"sneaky\", file = \"sneaky.pth\" }]\n",
    )
    .unwrap();
    let output = safevenv(&context, &index, &["install", "sneaky", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let python = venv(&context).join("bin/python");
    run_ok(std::process::Command::new(python).args(["-c", "pass"]));
    assert_eq!(fs_err::read_to_string(&marker).unwrap(), "ran");
}

#[test]
fn console_scripts_named_python_or_pip_are_refused_together() {
    let context = with_environment();
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("fakepip", "1.0").console_script("pip", "fakepip:main"))
        .wheel(WheelSpec::new("fakepy", "1.0").console_script("python", "fakepy:main"))
        .wheel(WheelSpec::new("tooly", "1.0").console_script("tooly", "tooly:main"))
        .start()
        .unwrap();
    let before = snapshot(&venv(&context));
    let output = safevenv(
        &context,
        &index,
        &["install", "fakepip", "fakepy", "--no-lockfile"],
    );
    let message = assert_refused(&output, "contents.script-clash");
    assert!(
        message.contains("`fakepip` 1.0") && message.contains("`fakepy` 1.0"),
        "both refusals in one report: {message}"
    );
    assert_unchanged(&before, &snapshot(&venv(&context)));

    let output = safevenv(&context, &index, &["install", "tooly", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(venv(&context).join("bin/tooly").exists());
}

/// The RECORD of `spec`'s wheel, as built.
fn record_of(spec: &WheelSpec) -> String {
    let built = spec.build().unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(built.bytes)).unwrap();
    let name = archive
        .file_names()
        .find(|name| name.ends_with(".dist-info/RECORD"))
        .unwrap()
        .to_string();
    let mut record = String::new();
    archive
        .by_name(&name)
        .unwrap()
        .read_to_string(&mut record)
        .unwrap();
    record
}

#[test]
fn a_record_whose_hash_does_not_match_the_file_is_refused() {
    let context = with_environment();
    let spec = |name: &str| {
        WheelSpec::new(name, "1.0").file(&format!("{name}/__init__.py"), b"VALUE = 1\n".to_vec())
    };
    // RECORD claims the module has the digest of METADATA: same size field, wrong content.
    let good_record = record_of(&spec("tampered"));
    let rows: Vec<&str> = good_record.lines().collect();
    let digest = |row: &str| row.split(',').nth(1).unwrap().to_string();
    let module = rows
        .iter()
        .find(|row| row.starts_with("tampered/"))
        .unwrap();
    let metadata = rows.iter().find(|row| row.contains("/METADATA,")).unwrap();
    let bad_record = good_record.replacen(&digest(module), &digest(metadata), 1);
    assert_ne!(bad_record, good_record);

    let index = TestIndex::builder()
        .wheel(spec("tampered").record_override(&bad_record))
        .wheel(spec("intact"))
        .start()
        .unwrap();
    let before = snapshot(&venv(&context));
    let output = safevenv(&context, &index, &["install", "tampered", "--no-lockfile"]);
    let message = assert_refused(&output, "contents.archive");
    assert!(message.contains("tampered/__init__.py"), "{message}");
    assert_unchanged(&before, &snapshot(&venv(&context)));

    let output = safevenv(&context, &index, &["install", "intact", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/malformed-wheels")
}

/// A vector served under `filename` as the only file of `project`, with minimal PEP 658
/// metadata so that resolution picks it whatever its bytes are (the archive is judged after
/// download, which is what this exercises).
fn vector_file(project: &str, version: &str, filename: &str, source: &Path) -> IndexFile {
    IndexFile::raw(
        project,
        RawArtifact {
            filename: filename.to_string(),
            bytes: fs_err::read(source).expect("read the vector"),
        },
    )
    .core_metadata(&format!(
        "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
    ))
}

/// The shared malformed wheels through the whole pipeline: each is refused by
/// `contents.archive` and the environment is unchanged; a wheel from the same corpus that the
/// reader accepts installs. Path traversal, absolute paths and symlinks have no wheel-named
/// vector in the corpus, so those are built with the test index.
#[test]
fn the_malformed_wheel_vectors_are_refused_and_an_accepted_one_installs() {
    let context = with_environment();
    let root = vectors();
    // (project, version, served as, vector, what it is, what the refusal says)
    let cases = [
        (
            "corruptwheel",
            "1.0",
            "corruptwheel-1.0-py2.py3-none-any.whl",
            "pip-test-data/corruptwheel-1.0-py2.py3-none-any.whl",
            "not a zip",
            "is not a zip archive",
        ),
        (
            "simplewheel",
            "2.0",
            "simplewheel-2.0-1-py2.py3-none-any.whl",
            "pip-test-data/simplewheel-2.0-1-py2.py3-none-any.whl",
            "RECORD names files the archive does not hold",
            "which the archive does not hold",
        ),
        (
            "brokenwheel",
            "1.0",
            "brokenwheel-1.0-py2.py3-none-any.whl",
            "pip-test-data/brokenwheel-1.0-py2.py3-none-any.whl",
            ".dist-info named for another distribution",
            "does not match the file name",
        ),
        (
            "validation",
            "3.0.0",
            "validation-3.0.0-py3-none-any.whl",
            "uv-test-links/validation-3.0.0-py3-none-any.whl",
            "two .dist-info directories",
            "more than one `.dist-info` directory",
        ),
        (
            "basic-package",
            "0.1.0",
            "basic_package-0.1.0-py3-none-any.whl",
            "uv-test-links/basic_package-0.1.0-py3-none-any.whl",
            "hex RECORD digests",
            "has a hex digest",
        ),
        (
            "zipinzip",
            "1.0",
            "zipinzip-1.0-py3-none-any.whl",
            "malo-zip-corpus/malicious/zipinzip.zip",
            "malo: a zip hidden inside a zip",
            "more than one end-of-central-directory record",
        ),
    ];
    let mut builder = TestIndex::builder()
        .serve_metadata_files(true)
        .wheel(WheelSpec::new("linky", "1.0").symlink_entry("linky/passwd", "/etc/passwd"))
        .wheel(WheelSpec::new("rooted", "1.0").raw_entry("/tmp/rooted.txt", b"x".to_vec()))
        .wheel(WheelSpec::new("climber", "1.0").raw_entry("../../climbed.txt", b"x".to_vec()));
    for (project, version, filename, vector, _, _) in &cases {
        builder = builder.file(vector_file(project, version, filename, &root.join(vector)));
    }
    let index = builder
        .file(vector_file(
            "ok",
            "1.0.0",
            "ok-1.0.0-py3-none-any.whl",
            &root.join("uv-test-links/ok-1.0.0-py3-none-any.whl"),
        ))
        .start()
        .unwrap();

    let before = snapshot(&venv(&context));
    let built = [
        ("linky", "symlink", "is a symbolic link"),
        ("rooted", "absolute path", "is an absolute path"),
        ("climber", "path traversal", "escapes the target directory"),
    ];
    for (project, what, expect) in cases
        .iter()
        .map(|(project, _, _, _, what, expect)| (*project, *what, *expect))
        .chain(built)
    {
        let output = safevenv(&context, &index, &["install", project, "--no-lockfile"]);
        let message = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{project} ({what}): {message}"
        );
        assert!(
            message.contains("refused[contents.archive]") && message.contains(expect),
            "{project} ({what}): {message}"
        );
        assert_unchanged(&before, &snapshot(&venv(&context)));
    }
    assert!(!context.root.path().join("climbed.txt").exists());

    let output = safevenv(&context, &index, &["install", "ok", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Installed ok 1.0.0"),
        "{}",
        stderr(&output)
    );
}

/// A wheel of `name` whose `entry_points.txt` is `text`, verbatim.
fn with_entry_points(name: &str, text: &str) -> WheelSpec {
    WheelSpec::new(name, "1.0")
        .file(&format!("{name}/__init__.py"), "def main(): pass\n")
        .file(&format!("{name}-1.0.dist-info/entry_points.txt"), text)
}

#[test]
fn reserved_scripts_hidden_from_a_strict_reader_of_entry_points_are_refused() {
    // Each writes (uv) or lists (Python) a reserved script a line-by-line reader misses.
    let hostile = [
        ("junkhead", "[console_scripts]x\npip = evil:main\n"),
        (
            "commenthead",
            "[console_scripts] ; the CLI\npip = evil:main\n",
        ),
        (
            "spacedhead",
            "[console_scripts]  # the CLI\npip3 = evil:main\n",
        ),
        ("lonecr", "[console_scripts]\rpip = evil:main\r"),
        (
            "defaults",
            "[DEFAULT]\npip = evil:main\n[console_scripts]\nok = evil:main\n",
        ),
        ("uppercase", "[console_scripts]\nPip = evil:main\n"),
        (
            "indented",
            "[console_scripts]\nok = evil:main\n  pip = evil:main\n",
        ),
    ];
    let mut builder = TestIndex::builder();
    for (name, text) in hostile {
        builder = builder.wheel(with_entry_points(name, text));
    }
    let index = builder
        .wheel(with_entry_points(
            "honest",
            "# The CLI.\n[console_scripts]\nhonest-tool = honest:main ; comment\n\n[gui_scripts]\nhonest-gui=honest:main\n",
        ))
        .start()
        .unwrap();
    let context = with_environment();
    let before = snapshot(&venv(&context));
    let mut args = vec!["install", "--no-lockfile"];
    args.extend(hostile.iter().map(|(name, _)| *name));
    let output = safevenv(&context, &index, &args);
    let message = assert_refused(&output, "contents.script-clash");
    // Judged by the script rule, not refused as unreadable.
    assert!(!message.contains("refused[contents.archive]"), "{message}");
    for (name, _) in hostile {
        assert!(
            message.contains(&format!("`{name}` 1.0")),
            "{name} refused: {message}"
        );
    }
    assert_unchanged(&before, &snapshot(&venv(&context)));

    let output = safevenv(&context, &index, &["install", "honest", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
    for script in ["honest-tool", "honest-gui"] {
        assert!(venv(&context).join("bin").join(script).exists(), "{script}");
    }
}
