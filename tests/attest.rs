//! PEP 740 attestations end to end, with real Sigstore vectors from `../shared/vectors/sigstore`:
//! `safevenv attest verify` on local files, and `lock`/`install`/`sync` pinning the publisher of
//! a real attested wheel served by the local index.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestContext, run_ok, stderr, stdout};
use safevenv_test_index::{IndexFile, RawArtifact, TestIndex};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/sigstore")
}

fn attestations(file: &str) -> PathBuf {
    vectors().join("pypi-attestations").join(file)
}

fn staging_root() -> PathBuf {
    vectors().join("trusted-roots/sigstore-python_staging_trusted_root.json")
}

const SDIST: &str = "pypi_attestations-0.0.19.tar.gz";
const WHEEL: &str = "rfc8785-0.1.2-py3-none-any.whl";
/// The staging wheel's signer: an email identity, not a Trusted Publisher.
const WHEEL_SIGNER: &str = "william@yossarian.net";

fn verify(context: &TestContext, args: &[&str]) -> Output {
    context
        .safevenv()
        .args(["attest", "verify"])
        .args(args)
        .output()
        .expect("run safevenv")
}

fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

#[test]
fn a_production_github_attestation_verifies_and_names_its_publisher() {
    let context = TestContext::new();
    let output = verify(
        &context,
        &[
            path(&attestations(SDIST)),
            "--attestation",
            path(&attestations(&format!("{SDIST}.publish.attestation"))),
            "--repository",
            "trailofbits/pypi-attestations",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("publisher: GitHub `trailofbits/pypi-attestations`, workflow `release.yml`"),
        "{out}"
    );
    assert!(
        out.contains(r#"kind = "GitHub""#)
            && out.contains(r#"repository = "trailofbits/pypi-attestations""#),
        "{out}"
    );
    assert!(stderr(&output).contains("`production` trusted root"));
}

#[test]
fn a_provenance_object_verifies_like_its_attestation() {
    let context = TestContext::new();
    let output = verify(
        &context,
        &[
            path(&attestations(SDIST)),
            "--provenance",
            path(&attestations(&format!("{SDIST}.provenance"))),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("GitHub `trailofbits/pypi-attestations`"));
}

#[test]
fn an_artifact_with_one_flipped_byte_is_refused() {
    let context = TestContext::new();
    let mut bytes = fs_err::read(attestations(SDIST)).unwrap();
    bytes[1000] ^= 0x01;
    // The same file name, so only the content differs.
    let tampered = context.work().join(SDIST);
    fs_err::write(&tampered, bytes).unwrap();
    let output = verify(
        &context,
        &[
            path(&tampered),
            "--attestation",
            path(&attestations(&format!("{SDIST}.publish.attestation"))),
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("does not verify"), "{message}");
    // The attested digest is named next to the artifact's.
    assert!(message.contains("9bb1add0"), "{message}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn a_wrong_workflow_is_refused_naming_both() {
    let context = TestContext::new();
    let output = verify(
        &context,
        &[
            path(&attestations(SDIST)),
            "--attestation",
            path(&attestations(&format!("{SDIST}.publish.attestation"))),
            "--workflow",
            "wrong.yml",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("`wrong.yml`") && message.contains("`release.yml`"),
        "{message}"
    );
}

#[test]
fn the_staging_wheel_verifies_with_the_staging_root_only() {
    let context = TestContext::new();
    let attestation = attestations(&format!("{WHEEL}.publish.attestation"));
    let staging = verify(
        &context,
        &[
            path(&attestations(WHEEL)),
            "--attestation",
            path(&attestation),
            "--trusted-root",
            path(&staging_root()),
        ],
    );
    assert!(staging.status.success(), "{}", stderr(&staging));
    assert!(
        stdout(&staging).contains(WHEEL_SIGNER),
        "{}",
        stdout(&staging)
    );

    // The production root does not know the staging log: refused.
    let production = verify(
        &context,
        &[
            path(&attestations(WHEEL)),
            "--attestation",
            path(&attestation),
        ],
    );
    assert_eq!(production.status.code(), Some(2), "{}", stderr(&production));
}

#[test]
fn a_missing_trusted_root_file_is_refused_as_input() {
    let context = TestContext::new();
    let output = verify(
        &context,
        &[
            path(&attestations(WHEEL)),
            "--attestation",
            path(&attestations(&format!("{WHEEL}.publish.attestation"))),
            "--trusted-root",
            "no-such-root.json",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("no-such-root.json"));
}

// Through the local index: the real staging wheel `rfc8785-0.1.2` (its exact bytes), with a
// provenance object wrapping its real staging attestation, as an index would serve it.

/// The provenance object (PEP 740) for the staging wheel: one bundle, declaring the publisher
/// its certificate names.
fn wheel_provenance() -> Vec<u8> {
    let attestation =
        fs_err::read_to_string(attestations(&format!("{WHEEL}.publish.attestation"))).unwrap();
    format!(
        r#"{{"version": 1, "attestation_bundles": [{{"publisher": {{"kind": "Other", "identity": "{WHEEL_SIGNER}", "issuer": "https://github.com/login/oauth"}}, "attestations": [{attestation}]}}]}}"#
    )
    .into_bytes()
}

fn wheel_file(with_provenance: bool) -> IndexFile {
    let file = IndexFile::raw(
        "rfc8785",
        RawArtifact {
            filename: WHEEL.to_string(),
            bytes: fs_err::read(attestations(WHEEL)).unwrap(),
        },
    );
    if with_provenance {
        file.provenance(wheel_provenance())
    } else {
        file
    }
}

/// Another artifact under the staging wheel's name, published without an attestation: what an
/// attacker who controls the index, but not the publisher's identity, could offer.
fn impostor_file() -> IndexFile {
    let built = safevenv_test_index::WheelSpec::new("rfc8785", "0.1.2")
        .file("rfc8785/__init__.py", "print('not the publisher')\n")
        .build()
        .unwrap();
    assert_eq!(built.filename, WHEEL);
    IndexFile::raw(
        "rfc8785",
        RawArtifact {
            filename: WHEEL.to_string(),
            bytes: built.bytes,
        },
    )
}

fn safevenv(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context
        .safevenv()
        .args(args)
        .args(["--trusted-root", path(&staging_root())])
        .env("SAFEVENV_INDEX_URL", index.url())
        .env("SAFEVENV_INDEX_TTL", "0")
        .output()
        .expect("run safevenv")
}

fn lockfile(context: &TestContext) -> String {
    fs_err::read_to_string(context.work().join("pylock.toml")).unwrap()
}

#[test]
fn lock_pins_the_publisher_and_refuses_a_vanished_attestation() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder().file(wheel_file(true)).start().unwrap();

    let output = safevenv(&context, &index, &["lock", "rfc8785"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let locked = lockfile(&context);
    assert!(
        locked.contains("attestation-identities")
            && locked.contains(&format!(r#"identity = "{WHEEL_SIGNER}""#))
            && locked.contains(r#"kind = "Other""#),
        "{locked}"
    );

    // The same artifact, its attestation no longer offered: the provenance verified before
    // still vouches for these very bytes, so the pin holds.
    index.add(wheel_file(false)).unwrap();
    let output = safevenv(&context, &index, &["lock", "rfc8785"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lockfile(&context), locked);

    // Another artifact under the same name, without an attestation: a downgrade, refused.
    index.add(impostor_file()).unwrap();
    let output = safevenv(&context, &index, &["lock", "rfc8785", "--upgrade"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("carries no attestation") && message.contains(WHEEL_SIGNER),
        "{message}"
    );
    assert!(
        message.contains("--accept-publisher-change rfc8785"),
        "{message}"
    );
    assert_eq!(lockfile(&context), locked, "a refused lock writes nothing");

    // Accepted: the lockfile no longer pins a publisher.
    let output = safevenv(
        &context,
        &index,
        &["lock", "rfc8785", "--accept-publisher-change", "rfc8785"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!lockfile(&context).contains("attestation-identities"));
}

#[test]
fn install_pins_the_publisher_and_the_gate_refuses_a_vanished_attestation() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder().file(wheel_file(true)).start().unwrap();

    let output = safevenv(&context, &index, &["install", "rfc8785"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(lockfile(&context).contains(WHEEL_SIGNER));

    // A fresh environment, and the index offers another artifact without an attestation: the
    // policy gate refuses before anything is written.
    run_ok(context.safevenv().args(["create", "-q", "--clear"]));
    index.add(impostor_file()).unwrap();
    let output = safevenv(&context, &index, &["install", "rfc8785", "--upgrade"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("attestations.publisher-change") && message.contains(WHEEL_SIGNER),
        "{message}"
    );
    assert!(
        message.contains("--accept-publisher-change rfc8785"),
        "{message}"
    );

    let output = safevenv(
        &context,
        &index,
        &["install", "rfc8785", "--accept-publisher-change", "rfc8785"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!lockfile(&context).contains("attestation-identities"));
}

#[test]
fn sync_refuses_another_publisher_than_the_lockfile_pins_naming_both() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder().file(wheel_file(true)).start().unwrap();
    let output = safevenv(&context, &index, &["lock", "rfc8785"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // The lockfile pins another publisher (as if the project had been published from a GitHub
    // workflow before): the verified one differs.
    let pinned = lockfile(&context);
    let identity_line = pinned
        .lines()
        .find(|line| line.contains(WHEEL_SIGNER))
        .expect("an identity line")
        .to_string();
    let github =
        r#"    { kind = "GitHub", repository = "example/rfc8785", workflow = "release.yml" },"#;
    fs_err::write(
        context.work().join("pylock.toml"),
        pinned.replace(&identity_line, github),
    )
    .unwrap();

    let output = safevenv(&context, &index, &["sync"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("`example/rfc8785`") && message.contains(WHEEL_SIGNER),
        "{message}"
    );

    let output = safevenv(
        &context,
        &index,
        &["sync", "--accept-publisher-change", "rfc8785"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("Installed rfc8785 0.1.2"));
}

#[test]
fn an_attestation_that_does_not_verify_is_refused_unless_the_mode_is_off() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder().file(wheel_file(true)).start().unwrap();
    // Without the staging root the staging attestation does not verify (its log is unknown to
    // the production root): as a forged attestation would.
    let production = |args: &[&str]| {
        context
            .safevenv()
            .args(args)
            .env("SAFEVENV_INDEX_URL", index.url())
            .env("SAFEVENV_INDEX_TTL", "0")
            .output()
            .expect("run safevenv")
    };
    let output = production(&["lock", "rfc8785"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("does not verify"),
        "{}",
        stderr(&output)
    );
    assert!(!context.work().join("pylock.toml").exists());

    let output = production(&["install", "rfc8785", "--no-lockfile"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("attestation that does not verify"),
        "{}",
        stderr(&output)
    );

    // With the policy's mode `off` nothing is fetched or judged, and nothing is pinned.
    fs_err::write(
        context.work().join("safevenv.toml"),
        "[attestations]\nmode = \"off\"\n",
    )
    .unwrap();
    let provenance_requests = || {
        index
            .requests()
            .iter()
            .filter(|request| request.path.starts_with("/provenance/"))
            .count()
    };
    let before = provenance_requests();
    let output = production(&["lock", "rfc8785"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!lockfile(&context).contains("attestation-identities"));
    assert_eq!(provenance_requests(), before, "mode `off` fetches nothing");
}

// Absence is visible and not forgeable: "no provenance offered" is what the index page read in
// the run says of that very artifact; no record outlives the page.

/// [`safevenv`] with the given page TTL (seconds) and, if given, another cache directory.
fn safevenv_with(
    context: &TestContext,
    index: &TestIndex,
    args: &[&str],
    ttl: &str,
    cache: Option<&Path>,
) -> Output {
    let mut command = context.safevenv();
    command
        .args(args)
        .args(["--trusted-root", path(&staging_root())])
        .env("SAFEVENV_INDEX_URL", index.url())
        .env("SAFEVENV_INDEX_TTL", ttl);
    if let Some(cache) = cache {
        command.env("SAFEVENV_CACHE_DIR", cache);
    }
    command.output().expect("run safevenv")
}

fn provenance_requests(index: &TestIndex) -> usize {
    index
        .requests()
        .iter()
        .filter(|request| request.path.starts_with("/provenance/"))
        .count()
}

#[test]
fn a_package_that_later_has_provenance_is_not_downgraded_by_an_earlier_absence() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder()
        .file(wheel_file(false))
        .start()
        .unwrap();
    let output = safevenv_with(&context, &index, &["lock", "rfc8785"], "3600", None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!lockfile(&context).contains("attestation-identities"));
    assert!(
        stderr(&output).contains(
            "0 artifacts verified (0 with the publisher pinned in the lockfile), 1 artifact with none offered by the index"
        ),
        "{}",
        stderr(&output)
    );

    // The same bytes, now with provenance. While the cached page is fresh it is what the index
    // said, absence included (that is the page TTL's promise).
    index.add(wheel_file(true)).unwrap();
    let output = safevenv_with(&context, &index, &["lock", "rfc8785"], "3600", None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!lockfile(&context).contains("attestation-identities"));
    assert_eq!(provenance_requests(&index), 0);

    // Once the page is asked again, the absence seen before is gone with it: the provenance is
    // fetched, verified and pinned.
    let output = safevenv_with(&context, &index, &["lock", "rfc8785"], "0", None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        lockfile(&context).contains(WHEEL_SIGNER),
        "{}",
        lockfile(&context)
    );
    assert_eq!(provenance_requests(&index), 1);
    assert!(
        stderr(&output).contains(
            "1 artifact verified (1 with the publisher pinned in the lockfile), 0 artifacts with none offered by the index"
        ),
        "{}",
        stderr(&output)
    );

    // `sync` says the same of what it fetched, in text and in JSON.
    let output = safevenv(&context, &index, &["sync", "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1 artifact verified (1 with the publisher pinned"),
        "{}",
        stderr(&output)
    );
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    assert_eq!(
        json["attestations"],
        serde_json::json!({"verified": 1, "publishers_pinned": 1, "none_offered": 0, "not_checked": 0}),
        "{json}"
    );
}

#[test]
fn install_counts_the_artifacts_the_index_offered_no_provenance_for() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder()
        .file(wheel_file(false))
        .start()
        .unwrap();
    let output = safevenv(
        &context,
        &index,
        &["install", "rfc8785", "--format", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("0 artifacts verified (0 with the publisher pinned in the lockfile), 1 artifact with none offered by the index"),
        "{}",
        stderr(&output)
    );
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    assert_eq!(json["attestations"]["none_offered"], 1, "{json}");
    assert_eq!(json["attestations"]["verified"], 0, "{json}");
    assert_eq!(json["installed"][0]["name"], "rfc8785", "{json}");

    // With provenance offered: verified, and pinned in the lockfile written.
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder().file(wheel_file(true)).start().unwrap();
    let output = safevenv(
        &context,
        &index,
        &["install", "rfc8785", "--format", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    assert_eq!(
        json["attestations"],
        serde_json::json!({"verified": 1, "publishers_pinned": 1, "none_offered": 0, "not_checked": 0}),
        "{json}"
    );
    // `lock` reports the same counts, as JSON when asked.
    let output = safevenv(
        &context,
        &index,
        &["lock", "rfc8785", "-o", "again.toml", "--report", "json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    assert_eq!(
        json["attestations"],
        serde_json::json!({"verified": 1, "publishers_pinned": 1, "none_offered": 0, "not_checked": 0}),
        "{json}"
    );
    assert_eq!(json["packages"], 1, "{json}");
    let output = safevenv(
        &context,
        &index,
        &["lock", "rfc8785", "-o", "-", "--report", "json"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // Without a lockfile nothing is pinned, and the summary says so.
    run_ok(context.safevenv().args(["create", "-q", "--clear"]));
    let output = safevenv(&context, &index, &["install", "rfc8785", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1 artifact verified (0 with the publisher pinned"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn another_index_offering_provenance_for_the_same_bytes_is_not_hidden_by_an_earlier_absence() {
    let context = TestContext::new();
    run_ok(context.safevenv().args(["create", "-q"]));
    let index = TestIndex::builder()
        .file(wheel_file(false))
        .start()
        .unwrap();
    let output = safevenv(&context, &index, &["lock", "rfc8785"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!lockfile(&context).contains("attestation-identities"));

    // Another index serving the same bytes with provenance, same cache: found and pinned.
    let other = TestIndex::builder().file(wheel_file(true)).start().unwrap();
    let output = safevenv(&context, &other, &["lock", "rfc8785"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        lockfile(&context).contains(WHEEL_SIGNER),
        "{}",
        lockfile(&context)
    );
    assert_eq!(provenance_requests(&other), 1);
}

/// A page cached before the upload (or listing other bytes under the name) does not list the
/// locked artifact: `sync` asks the index for the page again before it judges the lockfile, and
/// then finds the provenance the index offers.
#[test]
fn a_page_cached_before_the_upload_is_asked_again_for_a_locked_artifact() {
    let older = safevenv_test_index::WheelSpec::new("rfc8785", "0.1.1")
        .file("rfc8785/__init__.py", "")
        .build()
        .unwrap();
    for (case, before) in [
        ("not listed", IndexFile::from(older)),
        ("other bytes", impostor_file()),
    ] {
        let context = TestContext::new();
        run_ok(context.safevenv().args(["create", "-q"]));
        let index = TestIndex::builder().file(before).start().unwrap();
        // The page is cached, and stays fresh for an hour.
        let output = safevenv_with(&context, &index, &["lock", "rfc8785"], "3600", None);
        assert!(output.status.success(), "{case}: {}", stderr(&output));

        // The real wheel is uploaded with provenance; a lockfile made elsewhere pins it.
        index.add(wheel_file(true)).unwrap();
        fs_err::remove_file(context.work().join("pylock.toml")).unwrap();
        let elsewhere = context.home().join("elsewhere-cache");
        let output = safevenv_with(
            &context,
            &index,
            &["lock", "rfc8785"],
            "0",
            Some(&elsewhere),
        );
        assert!(output.status.success(), "{case}: {}", stderr(&output));
        assert!(lockfile(&context).contains(WHEEL_SIGNER), "{case}");

        // The cached page is fresh for an hour but does not list these bytes: asked again.
        index.clear_requests();
        let output = safevenv_with(&context, &index, &["sync"], "3600", None);
        assert!(output.status.success(), "{case}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("Installed rfc8785 0.1.2")
                && stderr(&output).contains("1 artifact verified (1 with the publisher pinned"),
            "{case}: {}",
            stderr(&output)
        );
        assert!(
            index
                .requests()
                .iter()
                .any(|request| request.path == "/simple/rfc8785/"),
            "{case}: {:?}",
            index.requests()
        );
    }
}
