//! A lockfile is input, not trust: a tampered `pylock.toml` (a wheel's `url` pointed at another
//! server serving a hostile wheel of the same name and version, its `sha256`/`size` changed to
//! match) is refused by `sync`, `sync --frozen` and `policy check` before anything is fetched,
//! naming the package, the URL and the rule; the honest lockfile still syncs. Two local servers
//! on 127.0.0.1: the index, and the attacker's.

mod common;

use std::process::Output;

use common::{TestContext, assert_unchanged, run_ok, snapshot, stderr};
use safevenv_test_index::{BuiltWheel, TestIndex, WheelSpec};

const LIB: &str = "lib-1.0-py3-none-any.whl";

fn honest_index() -> TestIndex {
    TestIndex::builder()
        .wheel(
            WheelSpec::new("app", "1.0")
                .requires_dist("lib>=1")
                .file("app/__init__.py", b"from lib import VALUE\n".to_vec()),
        )
        .wheel(WheelSpec::new("lib", "1.0").file("lib/__init__.py", b"VALUE = 1\n".to_vec()))
        .start()
        .unwrap()
}

/// The attacker's wheel: same name, same version, other code.
fn hostile_wheel() -> BuiltWheel {
    let built = WheelSpec::new("lib", "1.0")
        .file("lib/__init__.py", b"VALUE = 666\n".to_vec())
        .build()
        .unwrap();
    assert_eq!(built.filename, LIB);
    built
}

/// A sandbox with an environment, a `requirements.txt` naming `app`, and `pylock.toml` locked
/// from `index`.
fn locked(index: &TestIndex) -> TestContext {
    let context = TestContext::with_environment();
    fs_err::write(context.work().join("requirements.txt"), "app\n").unwrap();
    let output = context.run_with_index(index, &["lock", "-r", "requirements.txt"]);
    assert!(output.status.success(), "{}", stderr(&output));
    context
}

fn lockfile(context: &TestContext) -> String {
    fs_err::read_to_string(context.work().join("pylock.toml")).unwrap()
}

/// The lockfile with `lib`'s wheel moved to `url`, with the hostile wheel's sha256 and size, and
/// (if given) `lib`'s `index` changed too.
fn tampered(
    honest: &str,
    index: &TestIndex,
    url: &str,
    hostile: &BuiltWheel,
    lib_index: Option<&str>,
) -> String {
    let honest_wheel = safevenv_test_index::sha256_hex(
        &WheelSpec::new("lib", "1.0")
            .file("lib/__init__.py", b"VALUE = 1\n".to_vec())
            .build()
            .unwrap()
            .bytes,
    );
    let listed = index.file_url(LIB);
    assert!(honest.contains(&listed), "{honest}");
    assert!(honest.contains(&honest_wheel), "{honest}");
    let mut text = honest
        .replace(&listed, url)
        .replace(&honest_wheel, &hostile.sha256);
    // The size of `lib`'s wheel (the only wheel of that size in the lockfile is not guaranteed,
    // so the line after the URL is rewritten).
    text = text
        .lines()
        .map(|line| {
            if line.contains(url) && line.contains("size = ") {
                let start = line.find("size = ").unwrap() + "size = ".len();
                let end = start
                    + line[start..]
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(line.len() - start);
                format!("{}{}{}", &line[..start], hostile.bytes.len(), &line[end..])
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    if let Some(lib_index) = lib_index {
        let package = text.find("name = \"lib\"").expect("lib is locked");
        let from = package + text[package..].find("index = \"").unwrap() + "index = \"".len();
        let to = from + text[from..].find('"').unwrap();
        text.replace_range(from..to, lib_index);
    }
    assert_ne!(text, honest);
    assert!(
        text.contains(url) && text.contains(&hostile.sha256),
        "{text}"
    );
    text
}

/// Runs each command that installs or judges a lockfile.
fn commands() -> [(&'static str, Vec<&'static str>); 3] {
    [
        ("sync", vec!["sync"]),
        (
            "sync --frozen",
            vec!["sync", "--frozen", "-r", "requirements.txt"],
        ),
        ("policy check", vec!["policy", "check", "pylock.toml"]),
    ]
}

#[track_caller]
fn assert_refused(output: &Output, case: &str, rules: &[&str], url: &str) {
    assert_eq!(output.status.code(), Some(3), "{case}: {}", stderr(output));
    let message = stderr(output);
    assert!(message.contains("`lib`"), "{case}: {message}");
    // Reports mask query strings.
    let shown = url.split('?').next().unwrap_or(url);
    assert!(message.contains(shown), "{case}: {message}");
    for rule in rules {
        assert!(message.contains(&format!("[{rule}]")), "{case}: {message}");
    }
}

#[test]
fn a_locked_wheel_moved_to_another_server_is_refused_before_anything_is_fetched() {
    let index = honest_index();
    let hostile = hostile_wheel();
    let attacker = TestIndex::builder().built(hostile.clone()).start().unwrap();
    let attacker_port = attacker.address().port();
    let index_port = index.address().port();
    let variants = [
        // Another server (the attacker's, really serving the hostile wheel).
        ("other server", attacker.file_url(LIB)),
        (
            "other host name",
            format!("http://localhost:{attacker_port}/files/{LIB}"),
        ),
        // The index's own host, another path.
        (
            "same host, other path",
            format!("http://127.0.0.1:{index_port}/uploads/{LIB}"),
        ),
        (
            "same URL, another query",
            format!("{}?v=2", index.file_url(LIB)),
        ),
        // `https` to a host the index does not list; plain `http` to another machine.
        (
            "https elsewhere",
            format!("https://127.0.0.1:{attacker_port}/files/{LIB}"),
        ),
        (
            "plain http to another machine",
            format!("http://files.example/{LIB}"),
        ),
    ];
    for (case, url) in &variants {
        let context = locked(&index);
        let honest = lockfile(&context);
        fs_err::write(
            context.work().join("pylock.toml"),
            tampered(&honest, &index, url, &hostile, None),
        )
        .unwrap();
        let before = snapshot(&context.work().join(".venv"));
        for (command, args) in commands() {
            attacker.clear_requests();
            index.clear_requests();
            let output = context.run_with_index(&index, &args);
            let case = format!("{case}, {command}");
            assert_refused(&output, &case, &["sources.artifact-url"], url);
            assert!(
                attacker.requests().is_empty(),
                "{case}: nothing is fetched from the attacker: {:?}",
                attacker.requests()
            );
            assert!(
                index
                    .requests()
                    .iter()
                    .all(|request| !request.path.starts_with("/files/")),
                "{case}: nothing is fetched before the refusal: {:?}",
                index.requests()
            );
            assert_unchanged(&before, &snapshot(&context.work().join(".venv")));
        }
        // Plain http to a machine other than this one is refused for that, by name.
        if url.starts_with("http://files.example") {
            let output = context.run_with_index(&index, &["sync"]);
            assert!(
                stderr(&output).contains("plain `http`"),
                "{}",
                stderr(&output)
            );
        }
    }
}

#[test]
fn the_untampered_lockfile_syncs_and_policy_check_approves_it() {
    let index = honest_index();
    let context = locked(&index);
    for (command, args) in commands() {
        let output = context.run_with_index(&index, &args);
        assert!(output.status.success(), "{command}: {}", stderr(&output));
    }
    let imported = std::process::Command::new(context.work().join(".venv/bin/python"))
        .args(["-c", "import app; print(app.VALUE)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&imported.stdout).trim(), "1");
}

#[test]
fn a_host_the_policy_allows_for_the_package_may_serve_it() {
    let index = honest_index();
    let hostile = hostile_wheel();
    let mirror = TestIndex::builder().built(hostile.clone()).start().unwrap();
    let url = mirror.file_url(LIB);
    let context = locked(&index);
    let honest = lockfile(&context);
    fs_err::write(
        context.work().join("pylock.toml"),
        tampered(&honest, &index, &url, &hostile, None),
    )
    .unwrap();
    let prefix = url.trim_end_matches(LIB);
    // For another package the entry does not count.
    fs_err::write(
        context.work().join("safevenv.toml"),
        format!("[sources]\ndirect-url-allow = [{{ package = \"app\", url = \"{prefix}\" }}]\n"),
    )
    .unwrap();
    let output = context.run_with_index(&index, &["sync"]);
    assert_refused(
        &output,
        "allowed for app only",
        &["sources.artifact-url"],
        &url,
    );
    fs_err::write(
        context.work().join("safevenv.toml"),
        format!("[sources]\ndirect-url-allow = [{{ package = \"lib\", url = \"{prefix}\" }}]\n"),
    )
    .unwrap();
    let output = context.run_with_index(&index, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        mirror
            .requests()
            .iter()
            .any(|request| request.path == format!("/files/{LIB}")),
        "{:?}",
        mirror.requests()
    );
}

#[test]
fn a_lockfile_naming_an_index_the_policy_does_not_allow_is_refused_and_that_index_never_asked() {
    let index = honest_index();
    let hostile = hostile_wheel();
    let attacker = TestIndex::builder().built(hostile.clone()).start().unwrap();
    let context = locked(&index);
    let honest = lockfile(&context);
    let attacker_index = attacker.url();
    let url = attacker.file_url(LIB);
    fs_err::write(
        context.work().join("pylock.toml"),
        tampered(&honest, &index, &url, &hostile, Some(&attacker_index)),
    )
    .unwrap();
    let before = snapshot(&context.work().join(".venv"));
    for (command, args) in commands() {
        attacker.clear_requests();
        let output = context.run_with_index(&index, &args);
        assert_refused(
            &output,
            command,
            &["sources.index", "sources.artifact-url"],
            &url,
        );
        assert!(
            attacker.requests().is_empty(),
            "{command}: the index a tampered lockfile names is not asked anything: {:?}",
            attacker.requests()
        );
        assert_unchanged(&before, &snapshot(&context.work().join(".venv")));
    }
}

/// `sync` asks the lockfile's index for each package's page (its URL and its provenance), not
/// the configured one: a private name locked from a private index is never sent elsewhere.
#[test]
fn sync_asks_the_lockfiles_index_and_not_the_configured_one() {
    let private = honest_index();
    let configured = TestIndex::builder().start().unwrap();
    let context = locked(&private);
    assert!(lockfile(&context).contains(&format!("index = \"{}\"", private.url())));
    run_ok(context.safevenv().args(["create", "-q", "--clear"]));

    // The policy does not allow the private index: refused, and nobody is asked.
    let output = context.run_with_index(&configured, &["sync"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("[sources.index]"),
        "{}",
        stderr(&output)
    );
    assert!(
        configured.requests().is_empty(),
        "{:?}",
        configured.requests()
    );

    // Allowed: the pages and files come from the private index; the configured one hears
    // nothing of `app` or `lib`.
    fs_err::write(
        context.work().join("safevenv.toml"),
        format!("[sources]\nindexes = [\"{}\"]\n", private.url()),
    )
    .unwrap();
    private.clear_requests();
    let output = context.run_with_index(&configured, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        configured.requests().is_empty(),
        "the configured index is asked nothing: {:?}",
        configured.requests()
    );
    let asked: Vec<String> = private.requests().into_iter().map(|r| r.path).collect();
    assert!(
        asked.iter().any(|path| path == "/simple/lib/")
            && asked.iter().any(|path| path == &format!("/files/{LIB}")),
        "{asked:?}"
    );
}
