//! The RustCrypto backend for `sigstore-crypto`.
//!
//! `sigstore-crypto` 0.15.1 ships only an `aws-lc-rs` provider, which builds C code. With its
//! default features off it asks for a [`CryptoProvider`] instead; this one verifies with the
//! pure-Rust `p256`, `p384`, `ed25519-dalek` and `rsa` crates. It is hand-written because no
//! published crate provides this glue. It only verifies: signing and key generation keep the
//! trait's defaults, which refuse.

use std::sync::Once;

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use sha2::Digest as _;
use sigstore_crypto::{CryptoProvider, Error, HashContext, Result, SigningScheme};
use sigstore_types::HashAlgorithm;

/// The provider, installed once for the whole process before any verification.
static PROVIDER: RustCryptoProvider = RustCryptoProvider;
static INSTALL: Once = Once::new();

/// Install [`RustCryptoProvider`] as `sigstore-crypto`'s process-wide provider.
///
/// Called at the start of every verification. If another provider was installed first (only
/// possible for a program that links `sigstore-crypto` itself), that one stays: both verify the
/// same algorithms, and `sigstore-crypto` offers no way to replace it.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        // An `Err` means a provider is already installed, which is fine (see above).
        let _ = sigstore_crypto::install_default_provider(&PROVIDER);
    });
}

#[derive(Debug)]
struct RustCryptoProvider;

/// One running hash of any of the three SHA-2 sizes Sigstore uses.
enum Sha2Context {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl HashContext for Sha2Context {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(hasher) => hasher.update(data),
            Self::Sha384(hasher) => hasher.update(data),
            Self::Sha512(hasher) => hasher.update(data),
        }
    }

    fn finalize(self: Box<Self>) -> Vec<u8> {
        match *self {
            Self::Sha256(hasher) => hasher.finalize().to_vec(),
            Self::Sha384(hasher) => hasher.finalize().to_vec(),
            Self::Sha512(hasher) => hasher.finalize().to_vec(),
        }
    }
}

fn invalid(scheme: SigningScheme) -> Error {
    Error::Verification(format!("{} signature invalid", scheme.name()))
}

fn unsupported(scheme: SigningScheme) -> Error {
    Error::UnsupportedAlgorithm(format!(
        "{} is not supported by safevenv's RustCrypto provider",
        scheme.name()
    ))
}

/// The digest `data` gets under `algorithm`, for schemes that sign a hash of the message.
fn digest(algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>> {
    match algorithm {
        HashAlgorithm::Sha2256 => Ok(sha2::Sha256::digest(data).to_vec()),
        HashAlgorithm::Sha2384 => Ok(sha2::Sha384::digest(data).to_vec()),
        HashAlgorithm::Sha2512 => Ok(sha2::Sha512::digest(data).to_vec()),
        other => Err(Error::UnsupportedAlgorithm(format!(
            "cannot compute {other} digests"
        ))),
    }
}

/// Verify an ECDSA (ASN.1 DER signature) or RSA signature over a precomputed digest.
///
/// The digest length was checked against the scheme by the caller in `sigstore-crypto`
/// (`verify_prehashed`) or computed here with the scheme's own hash (`verify_raw`).
fn verify_digest(scheme: SigningScheme, key: &[u8], digest: &[u8], signature: &[u8]) -> Result<()> {
    match scheme {
        SigningScheme::EcdsaP256Sha256 | SigningScheme::EcdsaP256Sha384 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| Error::InvalidKey("invalid P-256 public key".to_string()))?;
            let signature =
                p256::ecdsa::Signature::from_der(signature).map_err(|_| invalid(scheme))?;
            key.verify_prehash(digest, &signature)
                .map_err(|_| invalid(scheme))
        }
        SigningScheme::EcdsaP384Sha256 | SigningScheme::EcdsaP384Sha384 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| Error::InvalidKey("invalid P-384 public key".to_string()))?;
            let signature =
                p384::ecdsa::Signature::from_der(signature).map_err(|_| invalid(scheme))?;
            key.verify_prehash(digest, &signature)
                .map_err(|_| invalid(scheme))
        }
        SigningScheme::RsaPkcs1Sha256
        | SigningScheme::RsaPkcs1Sha384
        | SigningScheme::RsaPkcs1Sha512
        | SigningScheme::RsaPssSha256
        | SigningScheme::RsaPssSha384
        | SigningScheme::RsaPssSha512 => verify_rsa(scheme, key, digest, signature),
        _ => Err(unsupported(scheme)),
    }
}

fn verify_rsa(scheme: SigningScheme, key: &[u8], digest: &[u8], signature: &[u8]) -> Result<()> {
    use rsa::{pkcs1v15, pss};
    let key = rsa::RsaPublicKey::from_pkcs1_der(key)
        .map_err(|_| Error::InvalidKey("invalid RSA public key".to_string()))?;
    let pkcs1 = || pkcs1v15::Signature::try_from(signature).map_err(|_| invalid(scheme));
    let pss = || pss::Signature::try_from(signature).map_err(|_| invalid(scheme));
    let verified = match scheme {
        SigningScheme::RsaPkcs1Sha256 => {
            pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key).verify_prehash(digest, &pkcs1()?)
        }
        SigningScheme::RsaPkcs1Sha384 => {
            pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key).verify_prehash(digest, &pkcs1()?)
        }
        SigningScheme::RsaPkcs1Sha512 => {
            pkcs1v15::VerifyingKey::<sha2::Sha512>::new(key).verify_prehash(digest, &pkcs1()?)
        }
        SigningScheme::RsaPssSha256 => {
            pss::VerifyingKey::<sha2::Sha256>::new(key).verify_prehash(digest, &pss()?)
        }
        SigningScheme::RsaPssSha384 => {
            pss::VerifyingKey::<sha2::Sha384>::new(key).verify_prehash(digest, &pss()?)
        }
        SigningScheme::RsaPssSha512 => {
            pss::VerifyingKey::<sha2::Sha512>::new(key).verify_prehash(digest, &pss()?)
        }
        _ => return Err(unsupported(scheme)),
    };
    verified.map_err(|_| invalid(scheme))
}

impl CryptoProvider for RustCryptoProvider {
    fn hash(&self, algorithm: HashAlgorithm) -> Result<Box<dyn HashContext>> {
        let context = match algorithm {
            HashAlgorithm::Sha2256 => Sha2Context::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha2384 => Sha2Context::Sha384(sha2::Sha384::new()),
            HashAlgorithm::Sha2512 => Sha2Context::Sha512(sha2::Sha512::new()),
            other => {
                return Err(Error::UnsupportedAlgorithm(format!(
                    "cannot compute {other} digests"
                )));
            }
        };
        Ok(Box::new(context))
    }

    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }

    fn sha384(&self, data: &[u8]) -> [u8; 48] {
        sha2::Sha384::digest(data).into()
    }

    fn sha512(&self, data: &[u8]) -> [u8; 64] {
        sha2::Sha512::digest(data).into()
    }

    fn verify_raw(
        &self,
        scheme: SigningScheme,
        spki_pubkey_bytes: &[u8],
        data: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        if scheme == SigningScheme::Ed25519 {
            let key: [u8; 32] = spki_pubkey_bytes
                .try_into()
                .map_err(|_| Error::InvalidKey("invalid Ed25519 public key".to_string()))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
                .map_err(|_| Error::InvalidKey("invalid Ed25519 public key".to_string()))?;
            let signature =
                ed25519_dalek::Signature::from_slice(signature).map_err(|_| invalid(scheme))?;
            return key.verify(data, &signature).map_err(|_| invalid(scheme));
        }
        // ML-DSA has no hash and is not implemented here: refused by `verify_digest`.
        let Some(algorithm) = scheme.hash_algorithm() else {
            return Err(unsupported(scheme));
        };
        verify_digest(
            scheme,
            spki_pubkey_bytes,
            &digest(algorithm, data)?,
            signature,
        )
    }

    fn verify_prehashed(
        &self,
        scheme: SigningScheme,
        spki_pubkey_bytes: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        verify_digest(scheme, spki_pubkey_bytes, digest, signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ML-DSA is not implemented: refused, never treated as verified.
    #[test]
    fn unsupported_schemes_are_refused() {
        let provider = RustCryptoProvider;
        let err = provider
            .verify_raw(SigningScheme::MlDsa44, &[0; 1312], b"data", &[0; 16])
            .unwrap_err();
        assert!(err.to_string().contains("ML_DSA_44"), "{err}");
    }

    #[test]
    fn hashes_match_sha2() {
        let provider = RustCryptoProvider;
        let mut context = provider.hash(HashAlgorithm::Sha2384).unwrap();
        context.update(b"ab");
        context.update(b"c");
        assert_eq!(context.finalize(), sha2::Sha384::digest(b"abc").to_vec());
        assert_eq!(
            provider.sha256(b"abc").to_vec(),
            sha2::Sha256::digest(b"abc").to_vec()
        );
    }
}
