//! Why an attestation, a provenance object or a bundle was refused: one variant per broken rule.

use std::path::PathBuf;

/// Why verification failed.
///
/// Variants carrying a `reason` wrap the detail `sigstore-verify` reports for a check it
/// performs; the variant says which check.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The trusted root file could not be read.
    #[error("cannot read the trusted root `{}`", path.display())]
    TrustRootRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The trusted root is not valid Sigstore trust material.
    #[error("the trusted root `{source_name}` is invalid: {reason}")]
    TrustRootInvalid {
        /// The file, or `production` for the embedded root.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Step (1): the attestation is not a PEP 740 attestation object.
    #[error("the attestation is malformed: {reason}")]
    AttestationMalformed {
        /// What does not parse.
        reason: String,
    },
    /// Step (1): the attestation's `version` is not 1, the only one PEP 740 defines.
    #[error("the attestation has version `{version}`, only version `1` is supported")]
    AttestationVersion {
        /// The version found.
        version: u64,
    },
    /// Step (1): the attestation does not carry exactly one transparency log entry.
    #[error("the attestation has {count} transparency log entries, expected exactly 1")]
    TransparencyEntryCount {
        /// How many it has.
        count: usize,
    },
    /// Step (1): the provenance object is not a PEP 740 provenance object.
    #[error("the provenance object is malformed: {reason}")]
    ProvenanceMalformed {
        /// What does not parse.
        reason: String,
    },
    /// Step (1): the Sigstore bundle is malformed, or uses content `sigstore-verify` does not
    /// support.
    #[error("the Sigstore bundle is malformed or unsupported: {reason}")]
    Bundle {
        /// What is wrong with it.
        reason: String,
    },
    /// Step (2): the signing certificate does not chain to the trusted root's Fulcio authorities
    /// at the signing time, is malformed, or lacks the code-signing usage.
    #[error("the signing certificate is invalid: {reason}")]
    Certificate {
        /// Why it was refused.
        reason: String,
    },
    /// Step (3): the certificate's signed certificate timestamp is missing or invalid.
    #[error("the signing certificate's SCT is invalid: {reason}")]
    Sct {
        /// Why it was refused.
        reason: String,
    },
    /// Step (4): the transparency log entry, its inclusion proof, checkpoint or signed entry
    /// timestamp does not verify against the trusted root's log keys, or does not describe
    /// this signature.
    #[error("the transparency log entry is invalid: {reason}")]
    TransparencyLog {
        /// Why it was refused.
        reason: String,
    },
    /// Step (4): an RFC 3161 timestamp is invalid, or no trusted signing time exists.
    #[error("the signing time is not established: {reason}")]
    Timestamp {
        /// Why it was refused.
        reason: String,
    },
    /// Step (5): the signature does not verify over the envelope (or artifact) with the
    /// certificate's key.
    #[error("the signature is invalid: {reason}")]
    Signature {
        /// Why it was refused.
        reason: String,
    },
    /// Step (5): a key or algorithm could not be used.
    #[error("a cryptographic operation failed: {reason}")]
    Crypto {
        /// Why.
        reason: String,
    },
    /// Step (6): the DSSE payload is not a JSON in-toto v1 statement.
    #[error("the attested statement is invalid: {reason}")]
    Statement {
        /// What is wrong with it.
        reason: String,
    },
    /// Step (6): the statement does not have exactly one subject.
    #[error("the attested statement has {count} subjects, PEP 740 requires exactly 1")]
    SubjectCount {
        /// How many it has.
        count: usize,
    },
    /// Step (6): the artifact filename given by the caller is not a wheel or sdist filename.
    #[error("`{filename}` is not a wheel or sdist filename: {reason}")]
    ArtifactFilename {
        /// The filename.
        filename: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Step (6): the statement's subject name is not a wheel or sdist filename.
    #[error("the attested subject name `{name}` is not a wheel or sdist filename: {reason}")]
    SubjectName {
        /// The subject name.
        name: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Step (6): the attestation is for another artifact.
    #[error("the attestation is for `{actual}`, not for `{expected}`")]
    SubjectNameMismatch {
        /// The artifact's filename, normalised.
        expected: String,
        /// The subject name, normalised.
        actual: String,
    },
    /// Step (6): the statement's subject has no SHA-256 digest.
    #[error("the attested subject `{name}` has no sha256 digest")]
    SubjectDigestMissing {
        /// The subject name.
        name: String,
    },
    /// Step (6): the artifact's SHA-256 is not the one attested.
    #[error("the artifact `{filename}` has sha256 `{actual}`, the attestation is for `{expected}`")]
    DigestMismatch {
        /// The artifact's filename.
        filename: String,
        /// The attested digest (hex).
        expected: String,
        /// The artifact's digest (hex).
        actual: String,
    },
    /// Step (6): the statement is not a PyPI publish attestation.
    #[error("the attestation has predicate type `{actual}`, expected `{expected}`")]
    PredicateType {
        /// The PEP 740 publish predicate type.
        expected: &'static str,
        /// The type found.
        actual: String,
    },
    /// Step (7): the certificate's claims do not describe a publisher.
    #[error("the signing certificate does not identify a publisher (issuer {}): {reason}", issuer.as_deref().map_or("none".to_string(), |issuer| format!("`{issuer}`")))]
    PublisherClaims {
        /// The certificate's OIDC issuer, if any.
        issuer: Option<String>,
        /// What is missing or inconsistent.
        reason: String,
    },
    /// Step (8): the publisher is not the expected one.
    #[error("the publisher is {actual}, expected {expected}")]
    IdentityMismatch {
        /// What was expected.
        expected: String,
        /// The publisher the certificate names.
        actual: String,
    },
    /// A provenance object's `publisher` is not the one the attestation's certificate names.
    #[error(
        "the provenance object names publisher {declared}, but its attestation was signed by {actual}"
    )]
    ProvenancePublisherMismatch {
        /// The publisher the provenance object declares.
        declared: String,
        /// The publisher the certificate names.
        actual: String,
    },
    /// A provenance object has no attestation bundles, or a bundle has no attestations.
    #[error("the provenance object has no attestations")]
    ProvenanceEmpty,
    /// An `attestation-identities` entry lacks a key its kind requires.
    #[error("the publisher identity{} has no `{key}` key", kind.map(|kind| format!(" of kind `{kind}`")).unwrap_or_default())]
    IdentityTableMissingKey {
        /// The kind, once known.
        kind: Option<&'static str>,
        /// The missing key.
        key: &'static str,
    },
    /// An `attestation-identities` entry has a kind this version does not know.
    #[error(
        "the publisher kind `{kind}` is not supported (known: `GitHub`, `GitLab`, `Google`, `Other`)"
    )]
    IdentityTableKind {
        /// The kind.
        kind: String,
    },
    /// An `attestation-identities` entry has a key its kind does not have.
    #[error("the publisher identity of kind `{kind}` has an unknown key `{key}`")]
    IdentityTableUnknownKey {
        /// The kind.
        kind: String,
        /// The unknown key.
        key: String,
    },
    /// A SHA-256 digest given as hex is not 64 hex digits.
    #[error("`{value}` is not a sha256 digest (64 hex digits)")]
    Sha256Hex {
        /// The value given.
        value: String,
    },
    /// A bundle verification was refused for its certificate identity or issuer.
    #[error("the bundle was signed by `{actual}`, expected `{expected}`")]
    BundleIdentityMismatch {
        /// The expected identity or issuer.
        expected: String,
        /// The certificate's identity or issuer.
        actual: String,
    },
    /// Step (6) for a bundle: the bundle's message digest or in-toto subject is not the artifact's.
    #[error("the bundle is not for this artifact: {reason}")]
    ArtifactMismatch {
        /// What does not match.
        reason: String,
    },
    /// The public key given for a managed-key bundle cannot be read.
    #[error("the public key is invalid: {reason}")]
    PublicKey {
        /// Why.
        reason: String,
    },
    /// `sigstore-verify` reported a failure of a kind this version does not classify.
    #[error("verification failed: {reason}")]
    Unclassified {
        /// The failure.
        reason: String,
    },
}

impl AttestError {
    /// Classify a `sigstore-verify` failure by the step that failed. `root` names the trusted
    /// root in use, for failures that are about it.
    pub(crate) fn from_sigstore(err: sigstore_verify::Error, root: &str) -> Self {
        use sigstore_verify::{CertificateError, Error};
        match err {
            Error::IdentityMismatch { expected, actual } => Self::BundleIdentityMismatch {
                expected: expected.to_string(),
                actual: actual.map_or_else(|| "no identity".to_string(), |a| a.to_string()),
            },
            Error::IssuerMismatch { expected, actual } => Self::BundleIdentityMismatch {
                expected,
                actual: actual.unwrap_or_else(|| "no issuer".to_string()),
            },
            Error::SignatureInvalid(reason) => Self::Signature { reason },
            Error::Certificate(CertificateError::Sct(reason)) => Self::Sct { reason },
            Error::Certificate(err) => Self::Certificate {
                reason: err.to_string(),
            },
            Error::TransparencyLog(err) => Self::TransparencyLog {
                reason: err.to_string(),
            },
            Error::Timestamp(err) => Self::Timestamp {
                reason: err.to_string(),
            },
            Error::Crypto(err) => Self::Crypto {
                reason: err.to_string(),
            },
            Error::ArtifactMismatch(reason) => Self::ArtifactMismatch { reason },
            err @ (Error::UnsupportedArtifact(_)
            | Error::InvalidBundle(_)
            | Error::UnsupportedBundle(_)
            | Error::Types(_)
            | Error::Bundle(_)) => Self::Bundle {
                reason: err.to_string(),
            },
            err @ (Error::InvalidTrustRoot(_)
            | Error::TrustRoot(_)
            | Error::TrustedCertificate(_)) => Self::TrustRootInvalid {
                source_name: root.to_string(),
                reason: err.to_string(),
            },
            // `sigstore_verify::Error` is non-exhaustive: a new kind of failure is still a
            // failure (fail closed), reported as it is.
            err => Self::Unclassified {
                reason: err.to_string(),
            },
        }
    }
}
