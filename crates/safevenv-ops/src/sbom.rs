//! `safevenv sbom`: a CycloneDX 1.5 software bill of materials (JSON) of a lockfile or an
//! environment.
//!
//! The output is deterministic: the same input gives the same bytes. So there is no
//! `metadata.timestamp`, components are sorted, and the `serialNumber` is derived from the
//! content: an RFC 9562 version 8 UUID made of the first 16 bytes of the SHA-256 of the
//! serialized components.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use safevenv_cache::Cache;
use safevenv_lock::{AttestationIdentity, Lock};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::error::OpsError;
use crate::subject::{self, Subject};

/// Everything `safevenv sbom` needs.
#[derive(Debug, Clone)]
pub struct SbomSettings {
    /// What to describe: a lockfile (with artifact hashes and publishers) or an environment.
    pub subject: Subject,
    /// Caches (the interpreter's probe, for an environment).
    pub cache: Cache,
    /// Where relative paths and the default lockfile are.
    pub working_dir: PathBuf,
}

/// The bill of materials.
#[derive(Debug)]
pub struct SbomOutcome {
    /// What was described.
    pub subject: PathBuf,
    /// How many components it lists.
    pub components: usize,
    /// The CycloneDX JSON document, ending with a newline.
    pub json: String,
}

/// What one component is made of before it becomes JSON.
#[derive(Default)]
struct Parts {
    /// `SHA-256` digests of the artifacts, lowercase hex.
    hashes: Vec<String>,
    /// `(url, sha256)` of each artifact.
    distributions: Vec<(String, Option<String>)>,
    /// The publishers the lockfile recorded.
    publishers: Vec<AttestationIdentity>,
}

/// Describe the subject's distributions as CycloneDX 1.5 JSON.
pub fn sbom(settings: &SbomSettings) -> Result<SbomOutcome, OpsError> {
    let listed = subject::list(&settings.subject, &settings.working_dir, &settings.cache)?;
    let mut parts: BTreeMap<(PackageName, Version), Parts> = listed
        .distributions
        .iter()
        .map(|key| (key.clone(), Parts::default()))
        .collect();
    if let Some(lock) = &listed.lock {
        add_lock_parts(lock, &mut parts);
    }
    let components: Vec<Value> = parts
        .iter()
        .map(|((name, version), parts)| component(name, version, parts))
        .collect();
    let components = Value::Array(components);
    let serial = serial_number(&components.to_string());
    let document = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "safevenv",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
        },
        "components": components,
    });
    let mut json = serde_json::to_string_pretty(&document)
        .map_err(|err| OpsError::Internal(format!("cannot serialize the SBOM: {err}")))?;
    json.push('\n');
    Ok(SbomOutcome {
        subject: listed.label,
        components: parts.len(),
        json,
    })
}

fn add_lock_parts(lock: &Lock, parts: &mut BTreeMap<(PackageName, Version), Parts>) {
    for package in lock.iter() {
        let Some(version) = &package.version else {
            continue;
        };
        let Some(entry) = parts.get_mut(&(package.name.clone(), version.clone())) else {
            continue;
        };
        let artifacts = package
            .wheels()
            .iter()
            .map(|wheel| (wheel.url.as_ref(), wheel.hashes.get("sha256")))
            .chain(
                package
                    .sdist()
                    .map(|sdist| (sdist.url.as_ref(), sdist.hashes.get("sha256"))),
            );
        for (url, sha256) in artifacts {
            let sha256 = sha256.map(str::to_ascii_lowercase);
            if let Some(hex) = &sha256 {
                entry.hashes.push(hex.clone());
            }
            if let Some(url) = url {
                entry.distributions.push((url.to_string(), sha256));
            }
        }
        entry
            .publishers
            .extend(package.attestation_identities.iter().cloned());
    }
    for entry in parts.values_mut() {
        entry.hashes.sort();
        entry.hashes.dedup();
        entry.distributions.sort();
        entry.distributions.dedup();
    }
}

fn component(name: &PackageName, version: &Version, parts: &Parts) -> Value {
    let purl = purl(name, version);
    let mut component = json!({
        "type": "library",
        "bom-ref": purl,
        "name": name.to_string(),
        "version": version.to_string(),
        "purl": purl,
    });
    if !parts.hashes.is_empty() {
        component["hashes"] = parts
            .hashes
            .iter()
            .map(|hex| json!({"alg": "SHA-256", "content": hex}))
            .collect();
    }
    let mut references: Vec<Value> = parts
        .distributions
        .iter()
        .map(|(url, sha256)| {
            let mut reference = json!({"type": "distribution", "url": url});
            if let Some(hex) = sha256 {
                reference["hashes"] = json!([{"alg": "SHA-256", "content": hex}]);
            }
            reference
        })
        .collect();
    let mut properties: Vec<(String, Value)> = Vec::new();
    for identity in &parts.publishers {
        let text = identity_text(identity);
        properties.push((
            text.clone(),
            json!({"name": "safevenv:publisher", "value": text}),
        ));
        if let Some(url) = repository_url(identity) {
            references.push(json!({
                "type": "vcs",
                "url": url,
                "comment": format!("publisher: {}", identity.kind),
            }));
        }
    }
    if !references.is_empty() {
        references.sort_by_key(ToString::to_string);
        references.dedup();
        component["externalReferences"] = Value::Array(references);
    }
    if !properties.is_empty() {
        properties.sort_by(|a, b| a.0.cmp(&b.0));
        properties.dedup_by(|a, b| a.0 == b.0);
        component["properties"] = properties.into_iter().map(|(_, value)| value).collect();
    }
    component
}

/// `kind` and the publisher's claims, as one line: `GitHub repository=org/repo workflow=release.yml`.
fn identity_text(identity: &AttestationIdentity) -> String {
    let mut text = identity.kind.clone();
    let claims: BTreeMap<&String, &toml::Value> = identity.claims.iter().collect();
    for (key, value) in claims {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        let _ = write!(text, " {key}={value}");
    }
    text
}

/// The source repository of a Trusted Publisher identity whose host is implied by its kind.
fn repository_url(identity: &AttestationIdentity) -> Option<String> {
    let host = match identity.kind.as_str() {
        "GitHub" => "github.com",
        "GitLab" => "gitlab.com",
        _ => return None,
    };
    let repository = identity.claims.get("repository")?.as_str()?;
    // An owner/name path only: anything else would not name a repository on that host.
    let valid = repository.split('/').count() >= 2
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    valid.then(|| format!("https://{host}/{repository}"))
}

/// The package URL (purl spec, `pypi` type): the normalized name, the version percent-encoded.
fn purl(name: &PackageName, version: &Version) -> String {
    let mut encoded = String::new();
    for byte in version.to_string().bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    format!("pkg:pypi/{name}@{encoded}")
}

/// `urn:uuid:` of an RFC 9562 version 8 (custom) UUID from the SHA-256 of `content`.
fn serial_number(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn purl_encodes_what_the_spec_reserves() {
        let name = PackageName::from_str("Zope.Interface").unwrap();
        assert_eq!(
            purl(&name, &Version::from_str("1.0+local.1").unwrap()),
            "pkg:pypi/zope-interface@1.0%2Blocal.1"
        );
        assert_eq!(
            purl(&name, &Version::from_str("1!2.0").unwrap()),
            "pkg:pypi/zope-interface@1%212.0"
        );
    }

    #[test]
    fn serial_number_is_a_version_8_uuid_of_the_content() {
        let one = serial_number("[]");
        assert_eq!(one, serial_number("[]"));
        assert_ne!(one, serial_number("[1]"));
        let uuid = one.strip_prefix("urn:uuid:").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "8");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn only_owner_and_name_paths_become_repository_urls() {
        let identity = |repository: &str| AttestationIdentity {
            kind: "GitHub".to_string(),
            claims: toml::Table::from_iter([(
                "repository".to_string(),
                toml::Value::String(repository.to_string()),
            )]),
        };
        assert_eq!(
            repository_url(&identity("org/repo")).as_deref(),
            Some("https://github.com/org/repo")
        );
        assert_eq!(repository_url(&identity("org/../../evil")), None);
        assert_eq!(repository_url(&identity("org/repo?x=1")), None);
        assert_eq!(repository_url(&identity("solo")), None);
    }
}
