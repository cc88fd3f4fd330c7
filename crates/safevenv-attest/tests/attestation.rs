//! PEP 740 attestations and PyPI provenance objects from PyPI's production and Sigstore's staging
//! instances (the pypi-attestations test assets), each check proven by a tampered copy made here.

use std::path::PathBuf;

use base64::Engine as _;
use safevenv_attest::{
    Artifact, AttestError, Attestation, IdentityPolicy, Publisher, Sha256Digest, TrustRoot,
    same_publisher, verify_attestation, verify_provenance,
};
use serde_json::Value;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/sigstore")
}

fn asset(name: &str) -> Vec<u8> {
    let path = vectors().join("pypi-attestations").join(name);
    fs_err::read(&path).unwrap()
}

fn production() -> TrustRoot {
    TrustRoot::production().unwrap()
}

fn staging() -> TrustRoot {
    TrustRoot::from_file(&vectors().join("trusted-roots/sigstore-python_staging_trusted_root.json"))
        .unwrap()
}

const SDIST: &str = "pypi_attestations-0.0.19.tar.gz";
const GITLAB_SDIST: &str = "gitlab_oidc_project-0.0.3.tar.gz";
const STAGING_WHEEL: &str = "rfc8785-0.1.2-py3-none-any.whl";

fn github_attestation() -> Value {
    serde_json::from_slice(&asset(&format!("{SDIST}.publish.attestation"))).unwrap()
}

/// Verify `attestation` (JSON) for `filename` with the artifact bytes from the assets.
fn verify(
    filename: &str,
    artifact: &[u8],
    attestation: &Value,
    root: &TrustRoot,
    policy: &IdentityPolicy,
) -> Result<Publisher, AttestError> {
    let attestation = Attestation::from_json(attestation.to_string().as_bytes())?;
    verify_attestation(
        filename,
        Artifact::Bytes(artifact),
        &attestation,
        root,
        policy,
    )
    .map(|verified| verified.publisher().clone())
}

fn verify_github(attestation: &Value) -> Result<Publisher, AttestError> {
    verify(
        SDIST,
        &asset(SDIST),
        attestation,
        &production(),
        &IdentityPolicy::any_publisher(),
    )
}

/// Flip one bit of the base64 field at `pointer`, at byte `index` of its decoded content
/// (counted from the end when negative).
fn flip_base64(attestation: &mut Value, pointer: &str, index: isize) {
    let engine = base64::engine::general_purpose::STANDARD;
    let field = attestation.pointer_mut(pointer).unwrap();
    let mut bytes = engine.decode(field.as_str().unwrap()).unwrap();
    let index = if index < 0 {
        bytes.len() - index.unsigned_abs()
    } else {
        index.unsigned_abs()
    };
    bytes[index] ^= 0x01;
    *field = Value::String(engine.encode(bytes));
}

#[test]
fn github_publish_attestation_verifies() {
    let publisher = verify_github(&github_attestation()).unwrap();
    assert_eq!(
        publisher,
        Publisher::GitHub {
            repository: "trailofbits/pypi-attestations".to_string(),
            workflow: "release.yml".to_string(),
            environment: None,
        }
    );
    assert_eq!(
        publisher.to_string(),
        "GitHub `trailofbits/pypi-attestations`, workflow `release.yml`"
    );
    let table = publisher.to_identity_table();
    assert_eq!(table["kind"], "GitHub");
    assert!(same_publisher(
        &Publisher::from_identity_table(&table).unwrap(),
        &publisher
    ));
}

#[test]
fn artifact_may_be_given_by_digest() {
    let attestation =
        Attestation::from_json(&asset(&format!("{SDIST}.publish.attestation"))).unwrap();
    let digest =
        Sha256Digest::from_hex("9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3")
            .unwrap();
    let verified = verify_attestation(
        SDIST,
        Artifact::Sha256(digest),
        &attestation,
        &production(),
        &IdentityPolicy::any_publisher(),
    )
    .unwrap();
    assert_eq!(verified.sha256(), Sha256Digest::of(&asset(SDIST)));
    assert_eq!(verified.subject_name(), SDIST);
}

#[test]
fn gitlab_publish_attestation_verifies_and_wrong_workflow_is_refused() {
    let attestation: Value =
        serde_json::from_slice(&asset(&format!("{GITLAB_SDIST}.publish.attestation"))).unwrap();
    let artifact = asset(GITLAB_SDIST);
    let policy = IdentityPolicy::any_publisher()
        .expect_repository("facutuesca/gitlab-oidc-project")
        .expect_workflow(".gitlab-ci.yml");
    let publisher = verify(
        GITLAB_SDIST,
        &artifact,
        &attestation,
        &production(),
        &policy,
    )
    .unwrap();
    assert!(matches!(
        &publisher,
        Publisher::GitLab { repository, workflow_filepath, .. }
            if repository == "facutuesca/gitlab-oidc-project" && workflow_filepath == ".gitlab-ci.yml"
    ));

    let wrong = IdentityPolicy::any_publisher().expect_workflow("wrong.yml");
    let err = verify(GITLAB_SDIST, &artifact, &attestation, &production(), &wrong).unwrap_err();
    let AttestError::IdentityMismatch { expected, actual } = &err else {
        panic!("{err}");
    };
    assert_eq!(expected, "workflow `wrong.yml`");
    assert!(actual.contains(".gitlab-ci.yml"), "{actual}");
}

#[test]
fn actions_attest_attestation_verifies_and_wrong_workflow_is_refused() {
    let name = "pypi_attestation_models-0.0.4a2.tar.gz";
    let attestation: Value =
        serde_json::from_slice(&asset(&format!("{name}.attestation"))).unwrap();
    let good = IdentityPolicy::any_publisher()
        .expect_repository("trailofbits/pypi-attestation-models")
        .expect_workflow("release.yml");
    verify(name, &asset(name), &attestation, &production(), &good).unwrap();
    let wrong = IdentityPolicy::any_publisher().expect_workflow("other.yml");
    let err = verify(name, &asset(name), &attestation, &production(), &wrong).unwrap_err();
    assert!(matches!(err, AttestError::IdentityMismatch { .. }), "{err}");
}

#[test]
fn wrong_repository_is_refused_naming_both() {
    let policy = IdentityPolicy::any_publisher().expect_repository("evil/pypi-attestations");
    let err = verify(
        SDIST,
        &asset(SDIST),
        &github_attestation(),
        &production(),
        &policy,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the publisher is GitHub `trailofbits/pypi-attestations`, workflow `release.yml`, \
         expected repository `evil/pypi-attestations`"
    );
}

#[test]
fn pinned_publisher_is_required() {
    let pinned = Publisher::GitHub {
        repository: "trailofbits/pypi-attestations".to_string(),
        workflow: "release.yml".to_string(),
        environment: None,
    };
    let ok = IdentityPolicy::any_publisher().expect_publisher(pinned);
    verify(
        SDIST,
        &asset(SDIST),
        &github_attestation(),
        &production(),
        &ok,
    )
    .unwrap();
    let changed = IdentityPolicy::any_publisher().expect_publisher(Publisher::GitHub {
        repository: "trailofbits/pypi-attestations".to_string(),
        workflow: "publish.yml".to_string(),
        environment: None,
    });
    let err = verify(
        SDIST,
        &asset(SDIST),
        &github_attestation(),
        &production(),
        &changed,
    )
    .unwrap_err();
    assert!(matches!(err, AttestError::IdentityMismatch { .. }), "{err}");
}

#[test]
fn flipped_artifact_byte_is_refused() {
    let mut artifact = asset(SDIST);
    artifact[100] ^= 0x01;
    let err = verify(
        SDIST,
        &artifact,
        &github_attestation(),
        &production(),
        &IdentityPolicy::any_publisher(),
    )
    .unwrap_err();
    let AttestError::DigestMismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(
        expected,
        "9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3"
    );
    assert_eq!(actual, &Sha256Digest::of(&artifact).to_hex());
}

#[test]
fn subject_name_for_another_file_is_refused() {
    let err = verify(
        "pypi_attestations-0.0.20.tar.gz",
        &asset(SDIST),
        &github_attestation(),
        &production(),
        &IdentityPolicy::any_publisher(),
    )
    .unwrap_err();
    let AttestError::SubjectNameMismatch { expected, actual } = &err else {
        panic!("{err}");
    };
    assert_eq!(expected, "pypi_attestations-0.0.20.tar.gz");
    assert_eq!(actual, SDIST);
}

#[test]
fn flipped_certificate_byte_is_refused() {
    let mut attestation = github_attestation();
    // A byte inside the signature of the certificate (its last bytes).
    flip_base64(&mut attestation, "/verification_material/certificate", -5);
    let err = verify_github(&attestation).unwrap_err();
    assert!(matches!(err, AttestError::Certificate { .. }), "{err}");
}

#[test]
fn flipped_signature_byte_is_refused() {
    let mut attestation = github_attestation();
    flip_base64(&mut attestation, "/envelope/signature", 20);
    let err = verify_github(&attestation).unwrap_err();
    assert!(matches!(err, AttestError::Signature { .. }), "{err}");
}

#[test]
fn flipped_statement_byte_is_refused() {
    let mut attestation = github_attestation();
    // Inside the predicate type, so the statement is still JSON.
    flip_base64(&mut attestation, "/envelope/statement", -20);
    let err = verify_github(&attestation).unwrap_err();
    assert!(matches!(err, AttestError::Signature { .. }), "{err}");
}

#[test]
fn flipped_inclusion_proof_hash_is_refused() {
    let mut attestation = github_attestation();
    let entry = "/verification_material/transparency_entries/0";
    let hash = format!("{entry}/inclusionProof/hashes/0");
    flip_base64(&mut attestation, &hash, 3);
    let err = verify_github(&attestation).unwrap_err();
    assert!(matches!(err, AttestError::TransparencyLog { .. }), "{err}");
}

#[test]
fn flipped_checkpoint_is_refused() {
    let mut attestation = github_attestation();
    let pointer =
        "/verification_material/transparency_entries/0/inclusionProof/checkpoint/envelope";
    let envelope = attestation.pointer_mut(pointer).unwrap();
    // Change the tree size line: the checkpoint's signature no longer covers it.
    let text = envelope.as_str().unwrap().to_string();
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    lines[1] = format!("{}1", lines[1]);
    *envelope = Value::String(lines.join("\n"));
    let err = verify_github(&attestation).unwrap_err();
    assert!(matches!(err, AttestError::TransparencyLog { .. }), "{err}");
}

#[test]
fn flipped_signed_entry_timestamp_is_refused() {
    let mut attestation = github_attestation();
    let pointer =
        "/verification_material/transparency_entries/0/inclusionPromise/signedEntryTimestamp";
    flip_base64(&mut attestation, pointer, 20);
    let err = verify_github(&attestation).unwrap_err();
    assert!(matches!(err, AttestError::TransparencyLog { .. }), "{err}");
}

#[test]
fn slsa_provenance_is_not_a_publish_attestation() {
    let attestation: Value =
        serde_json::from_slice(&asset(&format!("{SDIST}.slsa.attestation"))).unwrap();
    let err = verify_github(&attestation).unwrap_err();
    let AttestError::PredicateType { actual, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(actual, "https://slsa.dev/provenance/v1");
}

#[test]
fn extra_keys_are_allowed_as_pep_740_says() {
    let mut attestation = github_attestation();
    attestation["extra"] = Value::Bool(true);
    attestation["envelope"]["extra"] = Value::Bool(true);
    verify_github(&attestation).unwrap();
}

#[test]
fn malformed_attestations_are_refused() {
    let mut missing_key = github_attestation();
    missing_key["envelope"]
        .as_object_mut()
        .unwrap()
        .remove("signature");
    let mut version_2 = github_attestation();
    version_2["version"] = Value::from(2);
    let mut two_entries = github_attestation();
    let entries = two_entries
        .pointer_mut("/verification_material/transparency_entries")
        .unwrap();
    let entry = entries[0].clone();
    entries.as_array_mut().unwrap().push(entry);
    let mut bad_base64 = github_attestation();
    bad_base64["envelope"]["signature"] = Value::String("not base64!".to_string());

    for (attestation, expected) in [
        (missing_key, "malformed"),
        (version_2, "version"),
        (two_entries, "entries"),
        (bad_base64, "malformed"),
    ] {
        let err = Attestation::from_json(attestation.to_string().as_bytes()).unwrap_err();
        let matched = match expected {
            "malformed" => matches!(err, AttestError::AttestationMalformed { .. }),
            "version" => matches!(err, AttestError::AttestationVersion { version: 2 }),
            _ => matches!(err, AttestError::TransparencyEntryCount { count: 2 }),
        };
        assert!(matched, "{expected}: {err}");
    }
}

#[test]
fn staging_wheel_verifies_with_the_staging_root_only() {
    let wheel = asset(STAGING_WHEEL);
    for suffix in ["publish.attestation", "attestation"] {
        let attestation: Value =
            serde_json::from_slice(&asset(&format!("{STAGING_WHEEL}.{suffix}"))).unwrap();
        let publisher = verify(
            STAGING_WHEEL,
            &wheel,
            &attestation,
            &staging(),
            &IdentityPolicy::any_publisher(),
        )
        .unwrap();
        assert_eq!(
            publisher,
            Publisher::Other {
                identity: "william@yossarian.net".to_string(),
                issuer: "https://github.com/login/oauth".to_string(),
            }
        );
        // Not a Trusted Publisher: refused by a policy that asks for one.
        let err = verify(
            STAGING_WHEEL,
            &wheel,
            &attestation,
            &staging(),
            &IdentityPolicy::any_publisher().trusted_publishers_only(),
        )
        .unwrap_err();
        assert!(matches!(err, AttestError::IdentityMismatch { .. }), "{err}");
        // Staging's log and CAs are not in the production root.
        let err = verify(
            STAGING_WHEEL,
            &wheel,
            &attestation,
            &production(),
            &IdentityPolicy::any_publisher(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                AttestError::TransparencyLog { .. } | AttestError::Certificate { .. }
            ),
            "{err}"
        );
    }
}

#[test]
fn production_attestation_fails_with_the_staging_root() {
    let err = verify(
        SDIST,
        &asset(SDIST),
        &github_attestation(),
        &staging(),
        &IdentityPolicy::any_publisher(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::TransparencyLog { .. } | AttestError::Certificate { .. }
        ),
        "{err}"
    );
}

#[test]
fn wheel_tag_order_is_normalised() {
    let attested = "spt3g-1.0-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
    let attestation =
        Attestation::from_json(&asset(&format!("{attested}.publish.attestation"))).unwrap();
    let digest =
        Sha256Digest::from_hex("d2772f9a5199f05ed1be8d9aa78b879e51772e3ead9d73fe8057257b1aec7cf8")
            .unwrap();
    for filename in [
        attested,
        "spt3g-1.0-cp310-cp310-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    ] {
        verify_attestation(
            filename,
            Artifact::Sha256(digest),
            &attestation,
            &staging(),
            &IdentityPolicy::any_publisher(),
        )
        .unwrap();
    }
    // Another platform is another wheel.
    let err = verify_attestation(
        "spt3g-1.0-cp310-cp310-manylinux2014_x86_64.whl",
        Artifact::Sha256(digest),
        &attestation,
        &staging(),
        &IdentityPolicy::any_publisher(),
    )
    .unwrap_err();
    assert!(
        matches!(err, AttestError::SubjectNameMismatch { .. }),
        "{err}"
    );
}

fn provenance() -> Value {
    serde_json::from_slice(&asset(&format!("{SDIST}.provenance"))).unwrap()
}

fn verify_provenance_json(provenance: &Value) -> Result<Vec<Publisher>, AttestError> {
    verify_provenance(
        SDIST,
        Sha256Digest::of(&asset(SDIST)),
        provenance.to_string().as_bytes(),
        &production(),
        &IdentityPolicy::any_publisher(),
    )
    .map(|verified| verified.publishers().into_iter().cloned().collect())
}

#[test]
fn provenance_object_verifies() {
    let publishers = verify_provenance_json(&provenance()).unwrap();
    assert_eq!(
        publishers,
        [Publisher::GitHub {
            repository: "trailofbits/pypi-attestations".to_string(),
            workflow: "release.yml".to_string(),
            environment: None,
        }]
    );
}

#[test]
fn provenance_declaring_another_publisher_is_refused() {
    let mut provenance = provenance();
    provenance["attestation_bundles"][0]["publisher"]["workflow"] =
        Value::String("other.yml".to_string());
    let err = verify_provenance_json(&provenance).unwrap_err();
    assert!(
        matches!(err, AttestError::ProvenancePublisherMismatch { .. }),
        "{err}"
    );
}

#[test]
fn provenance_with_a_bad_attestation_is_refused() {
    let mut provenance = provenance();
    let bundle = &mut provenance["attestation_bundles"][0];
    let good = bundle["attestations"][0].clone();
    let mut bad = good.clone();
    flip_base64(&mut bad, "/envelope/signature", 20);
    bundle["attestations"] = Value::Array(vec![good, bad]);
    let err = verify_provenance_json(&provenance).unwrap_err();
    assert!(matches!(err, AttestError::Signature { .. }), "{err}");
}

#[test]
fn empty_provenance_is_refused() {
    let mut provenance = provenance();
    provenance["attestation_bundles"][0]["attestations"] = Value::Array(Vec::new());
    let err = verify_provenance_json(&provenance).unwrap_err();
    assert!(matches!(err, AttestError::ProvenanceEmpty), "{err}");
    provenance["attestation_bundles"] = Value::Array(Vec::new());
    let err = verify_provenance_json(&provenance).unwrap_err();
    assert!(matches!(err, AttestError::ProvenanceEmpty), "{err}");
}
