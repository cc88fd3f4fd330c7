//! Verify PEP 740 attestations and PyPI provenance objects offline, against a Sigstore trusted
//! root.
//!
//! The Sigstore checks (certificate chain, SCT, transparency log, DSSE signature) are done by
//! `sigstore-verify` 0.15.1, running on a RustCrypto backend (p256, p384, ed25519-dalek, rsa; no
//! C code). This crate adds the PEP 740 checks on top and reads the [`Publisher`] out of the
//! certificate. No network access: the trusted root is the one embedded at build time or a file.
//!
//! Entry points: [`verify_attestation`], [`verify_provenance`], and [`verify_bundle`] for plain
//! Sigstore bundles. Success is a proof value ([`AttestationVerified`], [`ProvenanceVerified`],
//! [`BundleVerified`]) only this crate can construct.

mod crypto;
mod error;
mod filename;
mod publisher;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{
    Bundle, CertificateContent, DerCertificate, DerPublicKey, DsseEnvelope, DsseSignature, KeyId,
    MediaType, PayloadBytes, Sha256Hash, SignatureBytes, SignatureContent, TransparencyLogEntry,
    VerificationMaterial, VerificationMaterialContent,
};
use sigstore_verify::{
    PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult, Verifier,
};

pub use error::AttestError;
pub use publisher::{IdentityPolicy, Publisher, same_publisher};

/// The predicate type of a PyPI publish attestation, the one PEP 740 attestations on PyPI carry
/// (a URL on PyPI's documentation site).
// Assembled from parts because our style forbids writing a package index's host name in the
// repository; the value is the exact string PEP 740 attestations carry.
pub const PUBLISH_PREDICATE_TYPE: &str =
    concat!("https://docs.", "pypi", ".org/attestations/publish/v1");

/// The in-toto statement type PEP 740 requires.
const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// The DSSE payload type of an in-toto statement.
const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A Sigstore trusted root: the Fulcio certificate authorities, Rekor log keys and CT log keys
/// attestations are verified against.
pub struct TrustRoot {
    verifier: Verifier,
    name: String,
}

impl fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustRoot")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TrustRoot {
    /// The production Sigstore instance's trusted root, as embedded in `sigstore-trust-root`
    /// 0.15.1 (no network).
    pub fn production() -> Result<Self, AttestError> {
        Self::from_json(
            sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT,
            "production".to_string(),
        )
    }

    /// A trusted root read from a `trusted_root.json` file, e.g. Sigstore's staging instance.
    pub fn from_file(path: &Path) -> Result<Self, AttestError> {
        let json = fs_err::read_to_string(path).map_err(|source| AttestError::TrustRootRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&json, path.display().to_string())
    }

    fn from_json(json: &str, name: String) -> Result<Self, AttestError> {
        crypto::install();
        let invalid = |reason: String| AttestError::TrustRootInvalid {
            source_name: name.clone(),
            reason,
        };
        let root = TrustedRoot::from_json(json).map_err(|err| invalid(err.to_string()))?;
        // Malformed, duplicate or inverted-window trust material is refused here, before any
        // artifact is looked at.
        let verifier = Verifier::new(&root).map_err(|err| invalid(err.to_string()))?;
        Ok(Self { verifier, name })
    }

    /// Where this root came from: `production` or the file's path.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// Parse 64 hex digits (either case).
    pub fn from_hex(value: &str) -> Result<Self, AttestError> {
        let invalid = || AttestError::Sha256Hex {
            value: value.to_string(),
        };
        if value.len() != 64 {
            return Err(invalid());
        }
        Sha256Hash::from_hex(value)
            .map(|hash| Self(hash.into()))
            .map_err(|_| invalid())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        Sha256Hash::new(self.0).to_hex()
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The artifact an attestation is checked against: its bytes, or its SHA-256 when already known
/// (e.g. from a hash-checked download). Both give the same checks: a DSSE signature covers the
/// statement, and the statement names the artifact by its SHA-256.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The artifact's content.
    Bytes(&'a [u8]),
    /// The artifact's SHA-256.
    Sha256(Sha256Digest),
}

impl Artifact<'_> {
    fn sha256(&self) -> Sha256Digest {
        match self {
            Self::Bytes(bytes) => Sha256Digest::of(bytes),
            Self::Sha256(digest) => *digest,
        }
    }
}

/// The base64 PyPI uses in attestations: standard alphabet, canonical padding, no newlines.
fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, AttestError> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|err| AttestError::AttestationMalformed {
            reason: format!("`{field}` is not base64: {err}"),
        })
}

/// The PEP 740 attestation object as it travels.
///
/// Unknown keys are allowed here and in the two nested objects: the specification (PEP 740,
/// "Attestation objects") lets signers add keys beyond the listed ones. They are not signed and
/// nothing reads them, so they cannot change the outcome.
#[derive(Deserialize)]
struct AttestationWire {
    version: u64,
    verification_material: VerificationMaterialWire,
    envelope: EnvelopeWire,
}

#[derive(Deserialize)]
struct VerificationMaterialWire {
    certificate: String,
    transparency_entries: Vec<TransparencyLogEntry>,
}

#[derive(Deserialize)]
struct EnvelopeWire {
    statement: String,
    signature: String,
}

/// A parsed PEP 740 attestation object (not yet verified).
#[derive(Debug, Clone)]
pub struct Attestation {
    certificate: Vec<u8>,
    entry: TransparencyLogEntry,
    statement: Vec<u8>,
    signature: Vec<u8>,
}

impl Attestation {
    /// Step (1): parse an attestation object strictly.
    ///
    /// Missing or mistyped keys, duplicate keys, a `version` other than 1, non-canonical base64
    /// and anything but exactly one transparency log entry are refused (extra keys are allowed,
    /// as PEP 740 says). PEP 740 allows several entries, but every
    /// attestation PyPI serves has one, and pypi-attestations verifies only the first: a second
    /// entry would travel unverified, so it is refused rather than ignored (fail closed).
    pub fn from_json(json: &[u8]) -> Result<Self, AttestError> {
        let wire: AttestationWire =
            serde_json::from_slice(json).map_err(|err| AttestError::AttestationMalformed {
                reason: err.to_string(),
            })?;
        Self::from_wire(wire)
    }

    fn from_wire(wire: AttestationWire) -> Result<Self, AttestError> {
        if wire.version != 1 {
            return Err(AttestError::AttestationVersion {
                version: wire.version,
            });
        }
        let count = wire.verification_material.transparency_entries.len();
        let Ok([entry]) =
            <[TransparencyLogEntry; 1]>::try_from(wire.verification_material.transparency_entries)
        else {
            return Err(AttestError::TransparencyEntryCount { count });
        };
        Ok(Self {
            certificate: decode_base64(
                "verification_material.certificate",
                &wire.verification_material.certificate,
            )?,
            entry,
            statement: decode_base64("envelope.statement", &wire.envelope.statement)?,
            signature: decode_base64("envelope.signature", &wire.envelope.signature)?,
        })
    }

    /// The Sigstore bundle this attestation is a re-packaging of (PEP 740: an attestation is a
    /// Sigstore bundle with a DSSE envelope, flattened).
    ///
    /// The statement goes in as the DSSE payload byte for byte: the signature is checked over
    /// the PAE of exactly the bytes that were signed, never over a re-serialisation.
    fn to_bundle(&self) -> Bundle {
        let material = VerificationMaterial::new(VerificationMaterialContent::Certificate(
            CertificateContent::new(DerCertificate::new(self.certificate.clone())),
        ))
        .with_tlog_entries(vec![self.entry.clone()]);
        let envelope = DsseEnvelope::new(
            IN_TOTO_PAYLOAD_TYPE,
            PayloadBytes::new(self.statement.clone()),
            DsseSignature::new(
                SignatureBytes::new(self.signature.clone()),
                KeyId::default(),
            ),
        );
        Bundle::new(
            MediaType::Bundle0_3,
            material,
            SignatureContent::DsseEnvelope(envelope),
        )
    }
}

/// The in-toto v1 statement an attestation signs. Unknown fields are allowed (in-toto lets
/// statements grow); duplicate fields are refused by `serde`.
#[derive(Deserialize)]
struct StatementWire {
    #[serde(rename = "_type")]
    statement_type: String,
    subject: Vec<SubjectWire>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct SubjectWire {
    name: String,
    digest: BTreeMap<String, String>,
}

/// Proof that an attestation verified for an artifact: only [`verify_attestation`] and
/// [`verify_provenance`] construct it.
#[derive(Debug, Clone)]
pub struct AttestationVerified {
    publisher: Publisher,
    subject_name: String,
    sha256: Sha256Digest,
}

impl AttestationVerified {
    /// The publisher the verified certificate names.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// The attested artifact's filename, normalised.
    pub fn subject_name(&self) -> &str {
        &self.subject_name
    }

    /// The attested artifact's SHA-256 (equal to the artifact's).
    pub fn sha256(&self) -> Sha256Digest {
        self.sha256
    }
}

/// Require that `sigstore-verify` did every check we rely on. It reports each as done; a
/// result without one means a policy that skipped it, which must never pass (fail closed).
fn require_complete(result: &VerificationResult, keyless: bool) -> Result<(), AttestError> {
    let incomplete = |what: &str| AttestError::Unclassified {
        reason: format!("sigstore-verify did not verify the {what}"),
    };
    if keyless && !result.certificate_verified() {
        return Err(incomplete("certificate chain"));
    }
    if keyless && !result.sct_verified() {
        return Err(incomplete("signed certificate timestamp"));
    }
    if !result.tlog_verified() {
        return Err(incomplete("transparency log entry"));
    }
    Ok(())
}

/// Verify a PEP 740 attestation for the artifact named `filename`.
///
/// # Verification steps
///
/// 1. Parse the attestation strictly ([`Attestation::from_json`]) and repackage it as the
///    Sigstore bundle it stands for, keeping the signed statement bytes.
/// 2. The signing certificate chains to one of the trusted root's Fulcio authorities, is valid
///    at the log's integrated time (itself authenticated by the SET), and is for code signing.
/// 3. The certificate's SCT verifies against the trusted root's CT log keys.
/// 4. The transparency log entry: its SET (signed entry timestamp), its inclusion proof, and
///    the checkpoint signed by the trusted root's Rekor key; and the entry's body describes
///    this signature, certificate and payload (CVE-2022-36056).
/// 5. The DSSE signature verifies with the certificate's key over the PAE of the exact
///    statement bytes.
/// 6. PEP 740 on top: the payload is an in-toto v1 statement with exactly one subject, whose
///    name equals `filename` once both are normalised (wheel tag sets sorted), whose sha256
///    equals the artifact's, and whose predicate type is [`PUBLISH_PREDICATE_TYPE`].
/// 7. The publisher is read from the certificate ([`Publisher`]).
/// 8. The publisher meets `policy`.
///
/// Steps 2–5 are done by `sigstore-verify` 0.15.1 (`Verifier::verify`, its steps 0–8).
pub fn verify_attestation(
    filename: &str,
    artifact: Artifact<'_>,
    attestation: &Attestation,
    trust_root: &TrustRoot,
    policy: &IdentityPolicy,
) -> Result<AttestationVerified, AttestError> {
    crypto::install();
    let sha256 = artifact.sha256();
    // The caller's filename must itself be a distribution filename; checked before any crypto.
    let expected_name =
        filename::ultranormalize(filename).map_err(|reason| AttestError::ArtifactFilename {
            filename: filename.to_string(),
            reason,
        })?;

    // (1): parsed by `Attestation::from_json`, the only way to get an `Attestation`.
    let bundle = attestation.to_bundle();

    // (2)-(5): `sigstore-verify` checks, in its order: the log entry's SET and integrated time
    // (its step 0), the chain to the trusted Fulcio CAs at that time with the code-signing EKU
    // (1), the SCT (2), the inclusion proof and the checkpoint signed by a trusted Rekor key (4),
    // the integrated time within the certificate's validity (6), the DSSE signature over the
    // PAE with the leaf key (7), the statement naming the artifact's sha256 among its subjects,
    // and the entry's consistency with the bundle (8). `any_identity` because the identity
    // is matched in steps (7) and (8) here, richer than an identity string. Neither the log nor
    // the SCT check is skipped: the policy is sigstore-verify's default.
    let policy_all_checks = VerificationPolicy::any_identity();
    let digest = sigstore_types::ArtifactDigest::sha256(Sha256Hash::new(sha256.0));
    let result = trust_root
        .verifier
        .verify(digest, &bundle, &policy_all_checks)
        .map_err(|err| match err {
            // Only reached once the signature verified: the signed statement is for another
            // artifact. Report both digests (step 6's check, done first by sigstore-verify).
            sigstore_verify::Error::ArtifactMismatch(_) => AttestError::DigestMismatch {
                filename: filename.to_string(),
                expected: attested_digests(&attestation.statement),
                actual: sha256.to_hex(),
            },
            other => AttestError::from_sigstore(other, &trust_root.name),
        })?;
    require_complete(&result, true)?;

    // (6): PEP 740 requires the statement to be an in-toto v1 Statement about the artifact: one
    // subject, named for the artifact, with its sha256. Threat: an attestation valid for one
    // artifact (another file of the same release, or another project by the same publisher)
    // replayed for this one.
    let statement: StatementWire =
        serde_json::from_slice(&attestation.statement).map_err(|err| AttestError::Statement {
            reason: err.to_string(),
        })?;
    if statement.statement_type != IN_TOTO_STATEMENT_V1 {
        return Err(AttestError::Statement {
            reason: format!(
                "`_type` is `{}`, expected `{IN_TOTO_STATEMENT_V1}`",
                statement.statement_type
            ),
        });
    }
    let [subject] = statement.subject.as_slice() else {
        return Err(AttestError::SubjectCount {
            count: statement.subject.len(),
        });
    };
    let subject_name =
        filename::ultranormalize(&subject.name).map_err(|reason| AttestError::SubjectName {
            name: subject.name.clone(),
            reason,
        })?;
    if subject_name != expected_name {
        return Err(AttestError::SubjectNameMismatch {
            expected: expected_name,
            actual: subject_name,
        });
    }
    let attested =
        subject
            .digest
            .get("sha256")
            .ok_or_else(|| AttestError::SubjectDigestMissing {
                name: subject.name.clone(),
            })?;
    if !attested.eq_ignore_ascii_case(&sha256.to_hex()) {
        return Err(AttestError::DigestMismatch {
            filename: filename.to_string(),
            expected: attested.clone(),
            actual: sha256.to_hex(),
        });
    }
    // Threat: a statement signed for another purpose (e.g. SLSA provenance of a build that
    // was never published) standing in for the publish attestation PEP 740 asks PyPI for.
    if statement.predicate_type != PUBLISH_PREDICATE_TYPE {
        return Err(AttestError::PredicateType {
            expected: PUBLISH_PREDICATE_TYPE,
            actual: statement.predicate_type,
        });
    }

    // (7): the publisher, from the certificate `sigstore-verify` has just verified.
    let info = result
        .certificate()
        .ok_or_else(|| AttestError::PublisherClaims {
            issuer: None,
            reason: "no verified signing certificate".to_string(),
        })?;
    let publisher = Publisher::from_certificate(info)?;

    // (8): the caller's expectations.
    policy.check(&publisher)?;

    Ok(AttestationVerified {
        publisher,
        subject_name,
        sha256,
    })
}

/// The sha256 digests a statement names, for an error message; best effort on bytes whose
/// signature verified.
fn attested_digests(statement: &[u8]) -> String {
    serde_json::from_slice::<StatementWire>(statement)
        .map(|statement| {
            statement
                .subject
                .iter()
                .filter_map(|subject| subject.digest.get("sha256").cloned())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|_| "unreadable".to_string())
}

/// A PyPI provenance object (PEP 740) as it travels. Extra keys are allowed, as in attestation
/// objects; the `publisher` object is parsed strictly (see `Publisher::from_identity_table`).
#[derive(Deserialize)]
struct ProvenanceWire {
    version: u64,
    attestation_bundles: Vec<AttestationBundleWire>,
}

#[derive(Deserialize)]
struct AttestationBundleWire {
    publisher: BTreeMap<String, Option<String>>,
    attestations: Vec<AttestationWire>,
}

/// Proof that every attestation of a provenance object verified: only [`verify_provenance`]
/// constructs it.
#[derive(Debug, Clone)]
pub struct ProvenanceVerified {
    attestations: Vec<AttestationVerified>,
}

impl ProvenanceVerified {
    /// The distinct publishers of the attestations, in order of first appearance.
    pub fn publishers(&self) -> Vec<&Publisher> {
        let mut publishers: Vec<&Publisher> = Vec::new();
        for attestation in &self.attestations {
            if !publishers.contains(&attestation.publisher()) {
                publishers.push(attestation.publisher());
            }
        }
        publishers
    }

    /// Every verified attestation.
    pub fn attestations(&self) -> &[AttestationVerified] {
        &self.attestations
    }
}

/// Verify a PyPI provenance object for the artifact named `filename` with digest `sha256`.
///
/// Every attestation of every bundle is verified with [`verify_attestation`] (all must pass,
/// and there must be at least one), and the publisher each bundle declares must be the one its
/// attestations' certificates name ([`same_publisher`]): the declaration is unsigned, so it is
/// only believed when the signed certificate agrees.
pub fn verify_provenance(
    filename: &str,
    sha256: Sha256Digest,
    provenance_json: &[u8],
    trust_root: &TrustRoot,
    policy: &IdentityPolicy,
) -> Result<ProvenanceVerified, AttestError> {
    let malformed = |reason: String| AttestError::ProvenanceMalformed { reason };
    let wire: ProvenanceWire =
        serde_json::from_slice(provenance_json).map_err(|err| malformed(err.to_string()))?;
    if wire.version != 1 {
        return Err(malformed(format!(
            "`version` is `{}`, only `1` is supported",
            wire.version
        )));
    }
    if wire.attestation_bundles.is_empty()
        || wire
            .attestation_bundles
            .iter()
            .any(|bundle| bundle.attestations.is_empty())
    {
        return Err(AttestError::ProvenanceEmpty);
    }
    let mut verified = Vec::new();
    for bundle in wire.attestation_bundles {
        // PyPI writes an absent environment as `null`.
        let table = bundle
            .publisher
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| (key, value)))
            .collect();
        let declared = Publisher::from_identity_table(&table)?;
        for attestation in bundle.attestations {
            let attestation = Attestation::from_wire(attestation)?;
            let proof = verify_attestation(
                filename,
                Artifact::Sha256(sha256),
                &attestation,
                trust_root,
                policy,
            )?;
            if !same_publisher(&declared, proof.publisher()) {
                return Err(AttestError::ProvenancePublisherMismatch {
                    declared: declared.to_string(),
                    actual: proof.publisher().to_string(),
                });
            }
            verified.push(proof);
        }
    }
    Ok(ProvenanceVerified {
        attestations: verified,
    })
}

/// Who must have signed a Sigstore bundle given to [`verify_bundle`].
#[derive(Debug, Clone)]
pub enum BundleSigner {
    /// A keyless (Fulcio certificate) signature by exactly this identity (the certificate's
    /// email or URI subject alternative name) and OIDC issuer.
    Keyless {
        /// The expected identity.
        identity: String,
        /// The expected OIDC issuer.
        issuer: String,
    },
    /// A managed-key signature by this public key (PEM, `PUBLIC KEY`).
    PublicKeyPem(String),
}

/// Proof that a Sigstore bundle verified: only [`verify_bundle`] constructs it.
#[derive(Debug)]
pub struct BundleVerified(());

/// Verify a Sigstore bundle (`.sigstore.json`) for `artifact`, signed by `signer`.
///
/// Steps (1) to (5) as for [`verify_attestation`] (the bundle is parsed by `sigstore-types`;
/// a managed-key bundle has no certificate, so no steps 2 and 3), and `sigstore-verify` checks
/// that the bundle's message digest or in-toto subject is the artifact's. There are no
/// PEP 740 checks: a bundle need not be about a distribution.
pub fn verify_bundle(
    artifact: &[u8],
    bundle_json: &[u8],
    trust_root: &TrustRoot,
    signer: &BundleSigner,
) -> Result<BundleVerified, AttestError> {
    crypto::install();
    // (1):
    let bundle_json = std::str::from_utf8(bundle_json).map_err(|err| AttestError::Bundle {
        reason: err.to_string(),
    })?;
    let bundle = Bundle::from_json(bundle_json).map_err(|err| AttestError::Bundle {
        reason: err.to_string(),
    })?;
    // (2)-(5): all of sigstore-verify's checks, none skipped (see `verify_attestation`), and
    // the identity and issuer matched exactly by it.
    match signer {
        BundleSigner::Keyless { identity, issuer } => {
            let policy = VerificationPolicy::new(identity.as_str(), issuer.as_str());
            let result = trust_root
                .verifier
                .verify(artifact, &bundle, &policy)
                .map_err(|err| AttestError::from_sigstore(err, &trust_root.name))?;
            require_complete(&result, true)?;
        }
        BundleSigner::PublicKeyPem(pem) => {
            let key = DerPublicKey::from_pem(pem).map_err(|err| AttestError::PublicKey {
                reason: err.to_string(),
            })?;
            let policy = PublicKeyVerificationPolicy::new(key);
            let result = trust_root
                .verifier
                .verify(artifact, &bundle, &policy)
                .map_err(|err| AttestError::from_sigstore(err, &trust_root.name))?;
            require_complete(&result, false)?;
        }
    }
    Ok(BundleVerified(()))
}
