//! Direct wheels end to end: `name @ https://.../x.whl#sha256=...` and local wheel files reach the
//! policy gate (`sources.direct-url`, `sources.path`) instead of being refused at input, install
//! with PEP 610 `direct_url.json`, shadow the index for their name, and round-trip through the
//! lockfile. A repository, which safevenv does not build yet, is refused with a clear error
//! (sdists and source trees: `tests/build.rs`).

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{TestContext, assert_unchanged, run_ok, snapshot, stderr};
use safevenv_test_index::{IndexFile, RawArtifact, TestIndex, WheelSpec};

/// The wheel named directly: `app` 1.0, depending on `lib` from the index.
fn direct_wheel() -> safevenv_test_index::BuiltWheel {
    WheelSpec::new("app", "1.0")
        .requires_dist("lib>=1")
        .file(
            "app/__init__.py",
            b"from lib import VALUE\nDIRECT = True\n".to_vec(),
        )
        .build()
        .expect("build the wheel")
}

struct Setup {
    context: TestContext,
    index: TestIndex,
    /// `app`'s direct URL, without a fragment.
    url: String,
    sha256: String,
    /// The files URL prefix (`http://127.0.0.1:PORT/files/`).
    files: String,
}

/// An environment, and an index that lists `lib` and a look-alike `app` 9.0, and serves the
/// direct `app` 1.0 at a plain URL that no project page lists.
fn setup() -> Setup {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let wheel = direct_wheel();
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("lib", "1.0").file("lib/__init__.py", b"VALUE = 1\n".to_vec()))
        .wheel(WheelSpec::new("app", "9.0").file("app/__init__.py", b"DIRECT = False\n".to_vec()))
        .file(IndexFile::raw(
            "unlisted",
            RawArtifact {
                filename: wheel.filename.clone(),
                bytes: wheel.bytes.clone(),
            },
        ))
        .start()
        .expect("start the test index");
    let url = index.file_url(&wheel.filename);
    let files = index.file_url("");
    Setup {
        context,
        index,
        url,
        sha256: wheel.sha256,
        files,
    }
}

fn safevenv(setup: &Setup, args: &[&str]) -> Output {
    setup
        .context
        .safevenv()
        .args(args)
        .env("SAFEVENV_INDEX_URL", setup.index.url())
        .env("SAFEVENV_INDEX_TTL", "0")
        .output()
        .expect("run safevenv")
}

fn venv(setup: &Setup) -> PathBuf {
    setup.context.work().join(".venv")
}

fn write_policy(setup: &Setup, text: &str) {
    fs_err::write(setup.context.work().join("safevenv.toml"), text).unwrap();
}

fn allow_url(setup: &Setup, prefix: &str) {
    write_policy(
        setup,
        &format!("[sources]\ndirect-url-allow = [{{ package = \"app\", url = \"{prefix}\" }}]\n"),
    );
}

fn site_packages(setup: &Setup) -> PathBuf {
    let lib = venv(setup).join("lib");
    let python = fs_err::read_dir(&lib)
        .unwrap()
        .flatten()
        .find(|entry| entry.file_name().to_string_lossy().starts_with("python"))
        .expect("lib/pythonX.Y");
    python.path().join("site-packages")
}

fn pinned(setup: &Setup) -> String {
    format!("app @ {}#sha256={}", setup.url, setup.sha256)
}

#[test]
fn a_direct_url_without_an_allowlist_is_refused_by_the_policy_and_nothing_changes() {
    let setup = setup();
    let before = snapshot(&venv(&setup));
    let output = safevenv(&setup, &["install", &pinned(&setup)]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("sources.direct-url"), "{message}");
    assert!(message.contains("direct-url-allow"), "{message}");
    assert_unchanged(&before, &snapshot(&venv(&setup)));
}

#[test]
fn an_allowlisted_direct_url_installs_shadowing_the_index_and_round_trips_through_the_lockfile() {
    let setup = setup();
    allow_url(&setup, &setup.files);
    let output = safevenv(&setup, &["install", &pinned(&setup)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let message = stderr(&output);
    // The direct wheel, never the index's higher `app` 9.0; its dependency from the index.
    assert!(message.contains("Installed app 1.0"), "{message}");
    assert!(message.contains("Installed lib 1.0"), "{message}");
    assert!(
        !setup
            .index
            .requests()
            .iter()
            .any(|request| request.path.starts_with("/simple/app")),
        "the index is not asked about a direct wheel's name: {:?}",
        setup.index.requests()
    );

    let site = site_packages(&setup);
    let direct_url = fs_err::read_to_string(site.join("app-1.0.dist-info/direct_url.json"))
        .expect("PEP 610 direct_url.json");
    assert!(direct_url.contains(&setup.url), "{direct_url}");
    assert!(
        direct_url.contains(&format!("sha256={}", setup.sha256)),
        "{direct_url}"
    );
    assert!(
        !site.join("lib-1.0.dist-info/direct_url.json").exists(),
        "an index distribution has no direct_url.json"
    );

    let lock = fs_err::read_to_string(setup.context.work().join("pylock.toml")).unwrap();
    let app = lock
        .split("[[packages]]")
        .find(|package| package.contains("name = \"app\""))
        .expect("app is locked");
    assert!(!app.contains("index ="), "{app}");
    assert!(
        app.contains(&setup.url) && app.contains(&setup.sha256),
        "{app}"
    );
    assert!(lock.contains(&format!("app @ {}", setup.url)), "{lock}");

    // A later install keeps `app` from its wheel (recorded in the lockfile), not from the index.
    let output = safevenv(&setup, &["install", "lib"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lock = fs_err::read_to_string(setup.context.work().join("pylock.toml")).unwrap();
    assert!(lock.contains(&setup.url), "{lock}");
    assert!(!lock.contains("app-9.0"), "{lock}");

    // The lockfile installs into a new environment, judged again: without the allowlist the
    // same lockfile is refused.
    fs_err::remove_dir_all(venv(&setup)).unwrap();
    run_ok(setup.context.safevenv().args(["create", "-q"]));
    write_policy(&setup, "");
    let output = safevenv(&setup, &["sync"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("sources.direct-url"),
        "{}",
        stderr(&output)
    );
    allow_url(&setup, &setup.files);
    let output = safevenv(&setup, &["sync"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        site_packages(&setup)
            .join("app-1.0.dist-info/direct_url.json")
            .exists()
    );

    // `--frozen`: the lockfile satisfies the direct requirement only with the same wheel.
    let requirements = setup.context.work().join("requirements.txt");
    fs_err::write(&requirements, format!("{}\n", pinned(&setup))).unwrap();
    let output = safevenv(&setup, &["sync", "--frozen", "-r", "requirements.txt"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let other = format!("app @ {}#sha256={}\n", setup.url, "1".repeat(64));
    fs_err::write(&requirements, other).unwrap();
    let output = safevenv(&setup, &["sync", "--frozen", "-r", "requirements.txt"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not locked from that wheel"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_look_alike_url_prefix_is_refused() {
    let setup = setup();
    // `.../file` is a string prefix of `.../files/app-1.0...`, but not a path prefix.
    allow_url(
        &setup,
        setup.files.trim_end_matches('/').trim_end_matches('s'),
    );
    let before = snapshot(&venv(&setup));
    let output = safevenv(&setup, &["install", &pinned(&setup)]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("sources.direct-url"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(&before, &snapshot(&venv(&setup)));
}

#[test]
fn a_direct_url_without_a_pinned_sha256_is_refused_with_the_fix() {
    let setup = setup();
    allow_url(&setup, &setup.files);
    let output = safevenv(&setup, &["install", &format!("app @ {}", setup.url)]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("without a pinned sha256"), "{message}");
    assert!(message.contains("#sha256="), "{message}");
    assert!(
        !setup
            .index
            .requests()
            .iter()
            .any(|request| request.path.starts_with("/files/")),
        "nothing is downloaded without a pin"
    );
}

#[test]
fn a_direct_url_whose_bytes_do_not_match_the_pin_is_refused() {
    let setup = setup();
    allow_url(&setup, &setup.files);
    let before = snapshot(&venv(&setup));
    let wrong = format!("app @ {}#sha256={}", setup.url, "0".repeat(64));
    let output = safevenv(&setup, &["install", &wrong]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("SHA-256"), "{message}");
    assert!(message.contains(&"0".repeat(64)), "{message}");
    assert_unchanged(&before, &snapshot(&venv(&setup)));
}

#[test]
fn a_local_wheel_installs_only_with_a_path_allowlist() {
    let setup = setup();
    let wheel = direct_wheel();
    let dist = setup.context.work().join("dist");
    fs_err::create_dir_all(&dist).unwrap();
    fs_err::write(dist.join(&wheel.filename), &wheel.bytes).unwrap();
    let requirement = format!("./dist/{}", wheel.filename);

    let before = snapshot(&venv(&setup));
    let output = safevenv(&setup, &["install", &requirement]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("sources.path"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(&before, &snapshot(&venv(&setup)));

    write_policy(
        &setup,
        "[sources]\npath-allow = [{ package = \"app\", path = \"dist\" }]\n",
    );
    let output = safevenv(&setup, &["install", &requirement]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Installed app 1.0"),
        "{}",
        stderr(&output)
    );
    let direct_url =
        fs_err::read_to_string(site_packages(&setup).join("app-1.0.dist-info/direct_url.json"))
            .unwrap();
    assert!(direct_url.contains("file://"), "{direct_url}");
    let lock = fs_err::read_to_string(setup.context.work().join("pylock.toml")).unwrap();
    assert!(
        lock.contains(&format!("path = \"dist/{}\"", wheel.filename)),
        "a wheel beside the lockfile is locked by a relative path: {lock}"
    );
}

#[test]
fn a_repository_requirement_is_refused_as_not_buildable_yet() {
    let setup = setup();
    let output = safevenv(
        &setup,
        &["install", "app @ git+https://git.example/org/app@v1.0"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("cannot build here"), "{message}");
    assert!(message.contains("not supported yet"), "{message}");
}

/// Issue #12 §8: a direct URL whose query carries a token (a signed link) installs, but the
/// token reaches neither `direct_url.json`, nor the lockfile, nor any message.
#[test]
fn a_token_in_a_direct_urls_query_is_masked_in_direct_url_json_the_lockfile_and_messages() {
    for (key, secret) in [
        ("token", "s3cretQueryValue"),
        ("X-Amz-Signature", "f00dfeedSignature"),
    ] {
        let setup = setup();
        allow_url(&setup, &setup.files);
        let url = format!("{}?{key}={secret}&v=1", setup.url);
        let requirement = format!("app @ {url}#sha256={}", setup.sha256);
        let output = safevenv(&setup, &["install", &requirement]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(!stderr(&output).contains(secret), "{}", stderr(&output));
        let site = site_packages(&setup);
        let direct_url =
            fs_err::read_to_string(site.join("app-1.0.dist-info/direct_url.json")).unwrap();
        assert!(!direct_url.contains(secret), "{direct_url}");
        assert!(direct_url.contains(&format!("{key}=****")), "{direct_url}");
        let lock = fs_err::read_to_string(setup.context.work().join("pylock.toml")).unwrap();
        assert!(!lock.contains(secret), "{lock}");
        assert!(lock.contains(&format!("{key}=****")), "{lock}");

        // A refusal naming the URL masks it too.
        let wrong = format!("app @ {url}#sha256={}", "1".repeat(64));
        let output = safevenv(&setup, &["install", &wrong]);
        assert!(!output.status.success());
        assert!(!stderr(&output).contains(secret), "{}", stderr(&output));
    }
}
