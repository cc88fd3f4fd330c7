//! Who published an artifact: the [`Publisher`] read from a verified signing certificate, its
//! lockfile form, and the [`IdentityPolicy`] a caller checks it against.

use std::collections::BTreeMap;
use std::fmt;

use sigstore_crypto::{CertificateInfo, SubjectAltName};

use crate::error::AttestError;

/// The OIDC issuer of GitHub Actions identity tokens.
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The OIDC issuer of GitLab CI/CD identity tokens.
const GITLAB_ISSUER: &str = "https://gitlab.com";
/// The OIDC issuer of Google service-account identity tokens.
const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// The publisher of an artifact (PEP 740), as the verified signing certificate states it.
///
/// The three Trusted Publisher kinds PyPI issues attestations for have their own variant;
/// any other Sigstore identity (for example an email address signed in through a browser, as in
/// Sigstore's staging instance) is [`Publisher::Other`], so a policy can tell it apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Publisher {
    /// A GitHub Actions workflow.
    GitHub {
        /// `owner/name` of the repository the workflow ran in.
        repository: String,
        /// The workflow file name under `.github/workflows/`, e.g. `release.yml`.
        workflow: String,
        /// The deployment environment the workflow declared, if the certificate states one.
        environment: Option<String>,
    },
    /// A GitLab CI/CD pipeline.
    GitLab {
        /// `namespace/project` (subgroups included) the pipeline ran in.
        repository: String,
        /// The path of the CI/CD configuration file, e.g. `.gitlab-ci.yml`.
        workflow_filepath: String,
        /// The deployment environment the pipeline declared, if the certificate states one.
        environment: Option<String>,
    },
    /// A Google Cloud service account.
    Google {
        /// The service account's email address.
        email: String,
    },
    /// Any other Sigstore identity: not a Trusted Publisher PyPI knows.
    Other {
        /// The certificate's subject alternative name (an email address or a URI).
        identity: String,
        /// The OIDC issuer that vouched for the identity.
        issuer: String,
    },
}

impl fmt::Display for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GitHub {
                repository,
                workflow,
                environment,
            } => {
                write!(f, "GitHub `{repository}`, workflow `{workflow}`")?;
                if let Some(environment) = environment {
                    write!(f, ", environment `{environment}`")?;
                }
                Ok(())
            }
            Self::GitLab {
                repository,
                workflow_filepath,
                environment,
            } => {
                write!(f, "GitLab `{repository}`, pipeline `{workflow_filepath}`")?;
                if let Some(environment) = environment {
                    write!(f, ", environment `{environment}`")?;
                }
                Ok(())
            }
            Self::Google { email } => write!(f, "Google service account `{email}`"),
            Self::Other { identity, issuer } => {
                write!(
                    f,
                    "`{identity}` (issuer `{issuer}`, not a Trusted Publisher)"
                )
            }
        }
    }
}

impl Publisher {
    /// The kind's name, as PyPI's provenance objects and the lockfile spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GitHub { .. } => "GitHub",
            Self::GitLab { .. } => "GitLab",
            Self::Google { .. } => "Google",
            Self::Other { .. } => "Other",
        }
    }

    /// The repository (`owner/name`) for GitHub and GitLab publishers.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Self::GitHub { repository, .. } | Self::GitLab { repository, .. } => Some(repository),
            Self::Google { .. } | Self::Other { .. } => None,
        }
    }

    /// The workflow file (GitHub) or CI/CD configuration path (GitLab).
    pub fn workflow(&self) -> Option<&str> {
        match self {
            Self::GitHub { workflow, .. } => Some(workflow),
            Self::GitLab {
                workflow_filepath, ..
            } => Some(workflow_filepath),
            Self::Google { .. } | Self::Other { .. } => None,
        }
    }

    /// The key/value pairs of one PEP 751 `attestation-identities` entry: `kind` plus the keys
    /// PyPI's publisher objects use for that kind (`repository`, `workflow`,
    /// `workflow_filepath`, `environment`, `email`). An absent environment is left out.
    pub fn to_identity_table(&self) -> BTreeMap<String, String> {
        let mut table = BTreeMap::from([("kind".to_string(), self.kind().to_string())]);
        let mut put = |key: &str, value: &str| {
            table.insert(key.to_string(), value.to_string());
        };
        match self {
            Self::GitHub {
                repository,
                workflow,
                environment,
            } => {
                put("repository", repository);
                put("workflow", workflow);
                if let Some(environment) = environment {
                    put("environment", environment);
                }
            }
            Self::GitLab {
                repository,
                workflow_filepath,
                environment,
            } => {
                put("repository", repository);
                put("workflow_filepath", workflow_filepath);
                if let Some(environment) = environment {
                    put("environment", environment);
                }
            }
            Self::Google { email } => put("email", email),
            Self::Other { identity, issuer } => {
                put("identity", identity);
                put("issuer", issuer);
            }
        }
        table
    }

    /// Parse an `attestation-identities` entry (or a PyPI provenance `publisher` object with its
    /// `null` values dropped) back into a publisher.
    ///
    /// Strict: an unknown kind, a missing key or a key the kind does not have is refused, so a
    /// lockfile entry cannot carry a claim this version would silently ignore.
    pub fn from_identity_table(table: &BTreeMap<String, String>) -> Result<Self, AttestError> {
        let kind = table
            .get("kind")
            .ok_or(AttestError::IdentityTableMissingKey {
                kind: None,
                key: "kind",
            })?;
        let (publisher, keys): (Self, &[&str]) = match kind.as_str() {
            "GitHub" => (
                Self::GitHub {
                    repository: required(table, "GitHub", "repository")?,
                    workflow: required(table, "GitHub", "workflow")?,
                    environment: table.get("environment").cloned(),
                },
                &["kind", "repository", "workflow", "environment"],
            ),
            "GitLab" => (
                Self::GitLab {
                    repository: required(table, "GitLab", "repository")?,
                    workflow_filepath: required(table, "GitLab", "workflow_filepath")?,
                    environment: table.get("environment").cloned(),
                },
                &["kind", "repository", "workflow_filepath", "environment"],
            ),
            "Google" => (
                Self::Google {
                    email: required(table, "Google", "email")?,
                },
                &["kind", "email"],
            ),
            "Other" => (
                Self::Other {
                    identity: required(table, "Other", "identity")?,
                    issuer: required(table, "Other", "issuer")?,
                },
                &["kind", "identity", "issuer"],
            ),
            other => {
                return Err(AttestError::IdentityTableKind {
                    kind: other.to_string(),
                });
            }
        };
        if let Some(key) = table.keys().find(|key| !keys.contains(&key.as_str())) {
            return Err(AttestError::IdentityTableUnknownKey {
                kind: kind.clone(),
                key: key.clone(),
            });
        }
        Ok(publisher)
    }

    /// Read the publisher from a signing certificate whose chain has been verified.
    ///
    /// For GitHub and GitLab the workflow comes from the Build Config URI extension
    /// (`1.3.6.1.4.1.57264.1.18`), which must be the Source Repository URI (`.1.12`) followed by
    /// the workflow path and `@` plus the Source Repository Ref (`.1.14`) or Digest (`.1.13`): this
    /// is how pypi-attestations matches a Trusted Publisher. The Build *Signer* URI is not used:
    /// with a reusable workflow it names the callee, while PyPI trusts the caller.
    pub(crate) fn from_certificate(info: &CertificateInfo) -> Result<Self, AttestError> {
        let issuer = info
            .issuer
            .clone()
            .ok_or_else(|| AttestError::PublisherClaims {
                issuer: None,
                reason: "the certificate has no OIDC issuer extension".to_string(),
            })?;
        let claims = &info.ci_claims;
        let claims_error = |reason: String| AttestError::PublisherClaims {
            issuer: Some(issuer.clone()),
            reason,
        };
        match issuer.as_str() {
            GITHUB_ISSUER | GITLAB_ISSUER => {
                let (host, separator) = if issuer == GITHUB_ISSUER {
                    ("https://github.com/", "/.github/workflows/")
                } else {
                    ("https://gitlab.com/", "//")
                };
                let source = claims.source_repository_uri.as_deref().ok_or_else(|| {
                    claims_error("no Source Repository URI extension".to_string())
                })?;
                let repository = source
                    .strip_prefix(host)
                    .filter(|repository| !repository.is_empty())
                    .ok_or_else(|| {
                        claims_error(format!(
                            "Source Repository URI `{source}` is not under `{host}`"
                        ))
                    })?;
                let build_config = claims
                    .build_config_uri
                    .as_deref()
                    .ok_or_else(|| claims_error("no Build Config URI extension".to_string()))?;
                let workflow = workflow_from_build_config(
                    build_config,
                    &format!("{source}{separator}"),
                    [
                        claims.source_repository_ref.as_deref(),
                        claims.source_repository_digest.as_deref(),
                    ],
                )
                .ok_or_else(|| {
                    claims_error(format!(
                        "Build Config URI `{build_config}` is not a workflow of `{source}` at the \
                         certificate's source ref or digest"
                    ))
                })?;
                let environment = claims.deployment_environment.clone();
                Ok(if issuer == GITHUB_ISSUER {
                    Self::GitHub {
                        repository: repository.to_string(),
                        workflow,
                        environment,
                    }
                } else {
                    Self::GitLab {
                        repository: repository.to_string(),
                        workflow_filepath: workflow,
                        environment,
                    }
                })
            }
            GOOGLE_ISSUER => match &info.identity {
                Some(SubjectAltName::Email(email)) => Ok(Self::Google {
                    email: email.clone(),
                }),
                _ => Err(claims_error(
                    "a Google certificate must name a service account email".to_string(),
                )),
            },
            _ => match &info.identity {
                Some(identity) => Ok(Self::Other {
                    identity: identity.as_str().to_string(),
                    issuer,
                }),
                None => Err(claims_error(
                    "the certificate has no email or URI subject alternative name".to_string(),
                )),
            },
        }
    }
}

fn required(
    table: &BTreeMap<String, String>,
    kind: &'static str,
    key: &'static str,
) -> Result<String, AttestError> {
    table
        .get(key)
        .cloned()
        .ok_or(AttestError::IdentityTableMissingKey {
            kind: Some(kind),
            key,
        })
}

/// The workflow part of `build_config` = `{prefix}{workflow}@{suffix}` where `suffix` is one of
/// the given source ref or digest; `None` when it has another shape.
fn workflow_from_build_config<'a>(
    build_config: &str,
    prefix: &str,
    suffixes: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<String> {
    let rest = build_config.strip_prefix(prefix)?;
    suffixes.into_iter().flatten().find_map(|suffix| {
        let workflow = rest.strip_suffix(suffix)?.strip_suffix('@')?;
        // An empty workflow, or one holding `@`, cannot be a file the Trusted Publisher names.
        (!workflow.is_empty() && !workflow.contains('@')).then(|| workflow.to_string())
    })
}

/// Whether `a` and `b` are the same publisher, for a "publisher changed" check.
///
/// Kind, repository, workflow, email and identity must be equal. The environment is compared
/// only when both sides state one: older certificates and PyPI's provenance objects may leave it
/// out, and its absence on one side is not a change of who published.
pub fn same_publisher(a: &Publisher, b: &Publisher) -> bool {
    fn same_environment(a: Option<&String>, b: Option<&String>) -> bool {
        a.zip(b).is_none_or(|(a, b)| a == b)
    }
    match (a, b) {
        (
            Publisher::GitHub {
                repository: ra,
                workflow: wa,
                environment: ea,
            },
            Publisher::GitHub {
                repository: rb,
                workflow: wb,
                environment: eb,
            },
        )
        | (
            Publisher::GitLab {
                repository: ra,
                workflow_filepath: wa,
                environment: ea,
            },
            Publisher::GitLab {
                repository: rb,
                workflow_filepath: wb,
                environment: eb,
            },
        ) => ra == rb && wa == wb && same_environment(ea.as_ref(), eb.as_ref()),
        (Publisher::Google { email: a }, Publisher::Google { email: b }) => a == b,
        (
            Publisher::Other {
                identity: ia,
                issuer: sa,
            },
            Publisher::Other {
                identity: ib,
                issuer: sb,
            },
        ) => ia == ib && sa == sb,
        _ => false,
    }
}

/// What the caller expects of the publisher (verification step 8).
///
/// Built with [`IdentityPolicy::any_publisher`] and narrowed with the `expect_*` methods. There
/// is no `Default`, so "no expectation" is always written out.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    repository: Option<String>,
    workflow: Option<String>,
    publisher: Option<Publisher>,
    trusted_publishers_only: bool,
}

impl IdentityPolicy {
    /// Accept any publisher whose attestation verifies; the caller decides what to do with it.
    pub fn any_publisher() -> Self {
        Self {
            repository: None,
            workflow: None,
            publisher: None,
            trusted_publishers_only: false,
        }
    }

    /// Require this repository (`owner/name`, exact).
    #[must_use]
    pub fn expect_repository(mut self, repository: impl Into<String>) -> Self {
        self.repository = Some(repository.into());
        self
    }

    /// Require this workflow file (GitHub) or CI/CD configuration path (GitLab), exact.
    #[must_use]
    pub fn expect_workflow(mut self, workflow: impl Into<String>) -> Self {
        self.workflow = Some(workflow.into());
        self
    }

    /// Require the same publisher as `publisher` (see [`same_publisher`]), e.g. the one pinned in
    /// the lockfile.
    #[must_use]
    pub fn expect_publisher(mut self, publisher: Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Refuse [`Publisher::Other`]: only GitHub, GitLab and Google Trusted Publishers pass.
    #[must_use]
    pub fn trusted_publishers_only(mut self) -> Self {
        self.trusted_publishers_only = true;
        self
    }

    /// Step (8): check `actual` against every expectation.
    ///
    /// PEP 740 makes the signing identity the Trusted Publisher that published the artifact; a
    /// valid attestation only says *someone* published it. Threat: a look-alike project, or a
    /// compromised other workflow of the same repository, publishing under the expected name.
    pub(crate) fn check(&self, actual: &Publisher) -> Result<(), AttestError> {
        let mismatch = |expected: String| AttestError::IdentityMismatch {
            expected,
            actual: actual.to_string(),
        };
        if self.trusted_publishers_only && matches!(actual, Publisher::Other { .. }) {
            return Err(mismatch("a Trusted Publisher".to_string()));
        }
        if let Some(repository) = &self.repository
            && actual.repository() != Some(repository.as_str())
        {
            return Err(mismatch(format!("repository `{repository}`")));
        }
        if let Some(workflow) = &self.workflow
            && actual.workflow() != Some(workflow.as_str())
        {
            return Err(mismatch(format!("workflow `{workflow}`")));
        }
        if let Some(publisher) = &self.publisher
            && !same_publisher(publisher, actual)
        {
            return Err(mismatch(publisher.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(environment: Option<&str>) -> Publisher {
        Publisher::GitHub {
            repository: "octo/project".to_string(),
            workflow: "release.yml".to_string(),
            environment: environment.map(str::to_string),
        }
    }

    #[test]
    fn identity_table_round_trips() {
        for publisher in [
            github(Some("pypi")),
            github(None),
            Publisher::GitLab {
                repository: "group/sub/project".to_string(),
                workflow_filepath: ".gitlab-ci.yml".to_string(),
                environment: None,
            },
            Publisher::Google {
                email: "sa@project.iam.example".to_string(),
            },
            Publisher::Other {
                identity: "someone@example.com".to_string(),
                issuer: "https://issuer.example".to_string(),
            },
        ] {
            let table = publisher.to_identity_table();
            assert_eq!(table["kind"], publisher.kind());
            assert_eq!(Publisher::from_identity_table(&table).unwrap(), publisher);
        }
    }

    #[test]
    fn identity_table_is_strict() {
        let mut table = github(None).to_identity_table();
        table.insert("ref".to_string(), "main".to_string());
        assert!(matches!(
            Publisher::from_identity_table(&table),
            Err(AttestError::IdentityTableUnknownKey { .. })
        ));
        let mut table = github(None).to_identity_table();
        table.remove("workflow");
        assert!(matches!(
            Publisher::from_identity_table(&table),
            Err(AttestError::IdentityTableMissingKey {
                key: "workflow",
                ..
            })
        ));
        let table = BTreeMap::from([("kind".to_string(), "ActiveState".to_string())]);
        assert!(matches!(
            Publisher::from_identity_table(&table),
            Err(AttestError::IdentityTableKind { .. })
        ));
    }

    #[test]
    fn same_publisher_ignores_a_missing_environment_only() {
        assert!(same_publisher(&github(Some("pypi")), &github(None)));
        assert!(same_publisher(&github(Some("pypi")), &github(Some("pypi"))));
        assert!(!same_publisher(
            &github(Some("pypi")),
            &github(Some("test"))
        ));
        let Publisher::GitHub { repository, .. } = github(None) else {
            unreachable!()
        };
        let renamed = Publisher::GitHub {
            repository: format!("{repository}-fork"),
            workflow: "release.yml".to_string(),
            environment: None,
        };
        assert!(!same_publisher(&github(None), &renamed));
    }

    fn certificate(name: &str) -> CertificateInfo {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/vectors/sigstore/pypi-attestations")
            .join(name);
        let pem = fs_err::read_to_string(path).unwrap();
        let der = sigstore_types::DerCertificate::from_pem(&pem).unwrap();
        sigstore_crypto::parse_certificate_info(&der).unwrap()
    }

    /// Without the Source Repository Ref extension the Build Config URI must end in the
    /// Source Repository Digest.
    #[test]
    fn github_publisher_without_source_ref_uses_the_digest() {
        let info = certificate("no-source-repository-ref-extension.pem");
        assert_eq!(info.ci_claims.source_repository_ref, None);
        assert_eq!(
            Publisher::from_certificate(&info).unwrap(),
            Publisher::GitHub {
                repository: "SWIFTSIM/swiftgalaxy".to_string(),
                workflow: "python-publish.yml".to_string(),
                environment: None,
            }
        );
        // A Build Config URI of another repository is refused.
        let mut other = info.clone();
        other.ci_claims.build_config_uri = Some(
            "https://github.com/evil/swiftgalaxy/.github/workflows/python-publish.yml@a26eb006d04dd0c41a6e38dc15ddaf7b46143505"
                .to_string(),
        );
        assert!(matches!(
            Publisher::from_certificate(&other),
            Err(AttestError::PublisherClaims { .. })
        ));
        // So is one at a commit that is not the certificate's.
        let mut moved = info;
        moved.ci_claims.source_repository_digest = Some("0".repeat(40));
        assert!(matches!(
            Publisher::from_certificate(&moved),
            Err(AttestError::PublisherClaims { .. })
        ));
    }

    #[test]
    fn google_publisher_is_the_service_account() {
        let info = certificate("200170367.pem");
        let publisher = Publisher::from_certificate(&info).unwrap();
        assert_eq!(
            publisher,
            Publisher::Google {
                email: "919436158236-compute@developer.gserviceaccount.com".to_string()
            }
        );
        assert!(
            IdentityPolicy::any_publisher()
                .trusted_publishers_only()
                .check(&publisher)
                .is_ok()
        );
        assert!(matches!(
            IdentityPolicy::any_publisher()
                .expect_repository("o/r")
                .check(&publisher),
            Err(AttestError::IdentityMismatch { .. })
        ));
    }

    #[test]
    fn build_config_must_match_the_source_ref_or_digest() {
        let prefix = "https://github.com/o/r/.github/workflows/";
        let build = "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1";
        assert_eq!(
            workflow_from_build_config(build, prefix, [Some("refs/tags/v1"), Some("abc")]),
            Some("release.yml".to_string())
        );
        assert_eq!(
            workflow_from_build_config(build, prefix, [Some("refs/tags/v2"), Some("abc")]),
            None
        );
        let other = "https://github.com/o/other/.github/workflows/release.yml@refs/tags/v1";
        assert_eq!(
            workflow_from_build_config(other, prefix, [Some("refs/tags/v1")]),
            None
        );
    }
}
