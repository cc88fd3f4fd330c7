//! PEP 740 attestations in the pipeline: fetch each artifact's provenance object from the index,
//! verify it offline against a Sigstore trusted root, pin the publisher in the lockfile, and turn
//! the outcome into the policy's [`AttestationFacts`].
//!
//! `safevenv attest verify` ([`attest_verify`]) runs the same verification on local files.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::{StreamExt, TryStreamExt, stream};

use safevenv_attest::{
    AttestError, Attestation, IdentityPolicy, Publisher, Sha256Digest, TrustRoot, same_publisher,
    verify_attestation, verify_provenance,
};
use safevenv_cache::{Cache, CacheBucket, write_atomic};
use safevenv_index::{DisplaySafeUrl, IndexClient};
use safevenv_lock::{AttestationIdentity, Lock};
use safevenv_policy::{AttestationFacts, AttestationMode, AttestationStatus, Policy};
use tokio::runtime::Runtime;
use tracing::debug;
use uv_normalize::PackageName;

use crate::error::OpsError;

/// The attestation options of `lock`, `install` and `sync`.
#[derive(Debug, Clone, Default)]
pub struct AttestSettings {
    /// `--trusted-root FILE`: verify against this Sigstore trusted root instead of the production
    /// one embedded in safevenv.
    pub trusted_root: Option<PathBuf>,
    /// `--accept-publisher-change PKG`: projects whose publisher may differ from the lockfile's
    /// for this run (the lockfile then records the new one).
    pub accept_publisher_change: Vec<PackageName>,
}

/// What a run's summary says of attestations: how many artifacts had them verified, and how
/// many the index offered none for. Absence is a fact the user sees, not a silence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttestationCounts {
    /// Artifacts whose every attestation verified.
    pub verified: usize,
    /// Of those, the ones whose publisher the lockfile pins.
    pub publishers_pinned: usize,
    /// Artifacts the index offered no provenance for.
    pub none_offered: usize,
    /// Artifacts not looked at (the policy's attestation mode for them is `off`).
    pub not_checked: usize,
}

impl AttestationCounts {
    /// Counts `found`; `pinned` tells whether a project's publisher is pinned in the lockfile.
    pub(crate) fn of<'a>(
        found: impl IntoIterator<Item = (&'a PackageName, &'a Found)>,
        pinned: impl Fn(&PackageName) -> bool,
    ) -> Self {
        let mut counts = Self::default();
        for (name, found) in found {
            match found {
                Found::Verified(_) => {
                    counts.verified += 1;
                    if pinned(name) {
                        counts.publishers_pinned += 1;
                    }
                }
                Found::Absent => counts.none_offered += 1,
                Found::NotChecked => counts.not_checked += 1,
                // Refused before any summary is written.
                Found::Invalid(_) => {}
            }
        }
        counts
    }
}

/// What verification found for one artifact.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// The policy's mode for the project is `off`: nothing was fetched or checked.
    NotChecked,
    /// The index offers no provenance for the artifact.
    Absent,
    /// Every attestation verified; the distinct publishers they name.
    Verified(Vec<Publisher>),
    /// The index offered a provenance object that does not verify.
    Invalid(String),
}

impl Found {
    /// A few words for the debug log.
    fn summary(&self) -> &'static str {
        match self {
            Self::NotChecked => "not checked",
            Self::Absent => "none offered",
            Self::Verified(_) => "verified",
            Self::Invalid(_) => "does not verify",
        }
    }
}

/// Provenance lookups in flight at once.
const LOOKUPS_IN_FLIGHT: usize = 16;

/// One artifact to check.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub(crate) name: PackageName,
    pub(crate) filename: String,
    /// The artifact's SHA-256 (lowercase hex): from the index, a lockfile, or a hash-checked
    /// download.
    pub(crate) sha256: String,
    /// The index to ask for its page, as a lockfile names it; `None`: the configured indexes
    /// (a fresh resolution, whose pages the client already holds).
    pub(crate) index: Option<url::Url>,
}

/// Verifies artifacts' provenance for one run, remembering each outcome: `install` checks at
/// lock time and again before the gate, and verifies once.
pub(crate) struct Attestor {
    root: TrustRoot,
    client: IndexClient,
    cache: Cache,
    accept: Vec<PackageName>,
    found: Mutex<HashMap<(String, String), Found>>,
}

impl Attestor {
    pub(crate) fn new(
        settings: &AttestSettings,
        client: &IndexClient,
        cache: &Cache,
    ) -> Result<Self, OpsError> {
        Ok(Self {
            root: trust_root(settings.trusted_root.as_deref())?,
            client: client.clone(),
            cache: cache.clone(),
            accept: settings.accept_publisher_change.clone(),
            found: Mutex::new(HashMap::new()),
        })
    }

    /// What verification finds for each subject, in order. Projects whose attestation mode is
    /// `off` are not looked at.
    ///
    /// The provenance URL comes from the project's index page (memoised by the client, so
    /// after resolution this makes no request): a lockfile (PEP 751) does not record it.
    pub(crate) fn check_all(
        &self,
        runtime: &Runtime,
        subjects: &[Subject],
        policy: &Policy,
    ) -> Result<Vec<Found>, OpsError> {
        let memo = |subject: &Subject| {
            self.found
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&(subject.filename.clone(), subject.sha256.clone()))
                .cloned()
        };
        let pending: Vec<&Subject> = subjects
            .iter()
            .filter(|subject| policy.attestation_mode_for(&subject.name) != AttestationMode::Off)
            .filter(|subject| memo(subject).is_none())
            .collect();
        // Each lookup waits on the index: all at once (the client bounds its requests).
        let checked: Vec<(&Subject, Found)> = runtime.block_on(
            stream::iter(pending)
                .map(|subject| async move {
                    let started = std::time::Instant::now();
                    let found = self.check(subject).await?;
                    debug!(
                        "provenance of `{}`: {} ({:?})",
                        subject.filename,
                        found.summary(),
                        started.elapsed()
                    );
                    Ok::<_, OpsError>((subject, found))
                })
                .buffer_unordered(LOOKUPS_IN_FLIGHT)
                .try_collect(),
        )?;
        {
            let mut found = self
                .found
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (subject, outcome) in checked {
                found.insert((subject.filename.clone(), subject.sha256.clone()), outcome);
            }
        }
        Ok(subjects
            .iter()
            .map(|subject| {
                if policy.attestation_mode_for(&subject.name) == AttestationMode::Off {
                    Found::NotChecked
                } else {
                    memo(subject).unwrap_or(Found::Absent)
                }
            })
            .collect())
    }

    /// The provenance of one artifact: from the cache when it was fetched before (verified all
    /// the same), else by its URL on the project's index page.
    ///
    /// Absence is never remembered apart from the page: "no provenance offered" is what the
    /// index page read in this run says of the very artifact (same file name, same sha256), and
    /// that page is the client's (fresh in its cache for the page TTL, then revalidated). A
    /// record kept on its own would outlive the page it came from, and provenance the index
    /// offers later, or that another index offers for the same bytes, would be hidden by it: a
    /// downgrade nobody sees.
    async fn check(&self, subject: &Subject) -> Result<Found, OpsError> {
        let index_error = |source| OpsError::Provenance {
            name: subject.name.clone(),
            filename: subject.filename.clone(),
            source: Box::new(source),
        };
        let bytes = match self.cached(subject) {
            Some(bytes) => bytes,
            None => {
                // A lockfile's package is asked of the lockfile's index only, so that its name
                // (perhaps a private one) is not sent to the configured index.
                let listed = match &subject.index {
                    Some(index) => {
                        let index = crate::sources::index_for(self.client.indexes(), index)?;
                        self.client
                            .index_file(&index, &subject.name, &subject.filename, false)
                            .await
                    }
                    None => {
                        self.client
                            .project_file(&subject.name, &subject.filename)
                            .await
                    }
                }
                .map_err(index_error)?;
                let Some(url) = listed.as_ref().and_then(|file| file.provenance.clone()) else {
                    let same_bytes = listed
                        .as_ref()
                        .and_then(|file| file.sha256())
                        .is_some_and(|sha256| sha256.eq_ignore_ascii_case(&subject.sha256));
                    if !same_bytes {
                        debug!(
                            "the index page does not list `{}` with sha256 `{}`: no provenance this run",
                            subject.filename, subject.sha256
                        );
                    }
                    return Ok(Found::Absent);
                };
                let bytes = self.client.provenance(&url).await.map_err(index_error)?;
                self.store(subject, &url, &bytes);
                bytes
            }
        };
        let sha256 = Sha256Digest::from_hex(&subject.sha256).map_err(|err| {
            OpsError::Internal(format!(
                "the sha256 of `{}` is not hex: {err}",
                subject.filename
            ))
        })?;
        // Verified offline, every time, also from the cache: the cache only saves a request, it
        // is never trusted.
        Ok(
            match verify_provenance(
                &subject.filename,
                sha256,
                &bytes,
                &self.root,
                &IdentityPolicy::any_publisher(),
            ) {
                Ok(proof) => Found::Verified(proof.publishers().into_iter().cloned().collect()),
                Err(err) => Found::Invalid(error_chain(&err)),
            },
        )
    }

    /// Provenance objects are kept beside the archives, by the artifact's hash: an artifact's
    /// provenance does not change once published.
    fn cache_path(&self, subject: &Subject) -> Option<PathBuf> {
        let bucket = self.cache.bucket(CacheBucket::Archives).ok()?;
        Some(
            bucket
                .join("provenance-v1")
                .join(&subject.sha256)
                .join(format!("{}.provenance", subject.filename)),
        )
    }

    fn cached(&self, subject: &Subject) -> Option<Vec<u8>> {
        self.cache_path(subject)
            .and_then(|path| fs_err::read(path).ok())
    }

    fn store(&self, subject: &Subject, url: &DisplaySafeUrl, bytes: &[u8]) {
        if let Some(Err(err)) = self
            .cache_path(subject)
            .map(|path| write_cached(&path, bytes))
        {
            debug!("not caching the provenance of `{url}`: {err}");
        }
    }

    /// Whether the user accepted a publisher change for `name` in this run.
    pub(crate) fn accepts_change(&self, name: &PackageName) -> bool {
        self.accept.contains(name)
    }
}

/// Write a cache file and its directory. A cache that cannot be written costs a request next
/// time, nothing more: the caller logs the error.
fn write_cached(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(|err| err.to_string())?;
    }
    write_atomic(path, bytes).map_err(|err| err.to_string())
}

/// The production root, or the `--trusted-root` file.
fn trust_root(path: Option<&Path>) -> Result<TrustRoot, OpsError> {
    match path {
        Some(path) => TrustRoot::from_file(path),
        None => TrustRoot::production(),
    }
    .map_err(|source| OpsError::TrustRoot {
        source: Box::new(source),
    })
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The publishers a lockfile pins, by project. An entry this version cannot read is refused, not
/// skipped: a pin that is silently dropped protects nothing.
pub(crate) fn locked_publishers(
    lock: &Lock,
    lockfile: &Path,
) -> Result<BTreeMap<PackageName, Vec<Publisher>>, OpsError> {
    let mut pins = BTreeMap::new();
    for package in lock.iter() {
        if package.attestation_identities.is_empty() {
            continue;
        }
        let mut publishers = Vec::new();
        for identity in &package.attestation_identities {
            let mut table = BTreeMap::from([("kind".to_string(), identity.kind.clone())]);
            for (key, value) in &identity.claims {
                let Some(value) = value.as_str() else {
                    return Err(OpsError::LockedIdentity {
                        lockfile: lockfile.to_path_buf(),
                        name: package.name.clone(),
                        reason: format!("`{key}` is not a string"),
                    });
                };
                table.insert(key.clone(), value.to_string());
            }
            let publisher =
                Publisher::from_identity_table(&table).map_err(|err| OpsError::LockedIdentity {
                    lockfile: lockfile.to_path_buf(),
                    name: package.name.clone(),
                    reason: err.to_string(),
                })?;
            publishers.push(publisher);
        }
        pins.insert(package.name.clone(), publishers);
    }
    Ok(pins)
}

/// Records what was verified in the lockfile's `attestation-identities` (PEP 751: a list of
/// tables, `kind` plus the publisher's keys). A project the policy does not check keeps the
/// publishers pinned before, so turning the mode off for a while does not lose the pin.
pub(crate) fn pin_publishers(
    lock: &mut Lock,
    found: &BTreeMap<PackageName, Found>,
    previous: &BTreeMap<PackageName, Vec<Publisher>>,
) {
    for package in &mut lock.packages {
        let publishers: &[Publisher] = match found.get(&package.name) {
            Some(Found::Verified(publishers)) => publishers,
            Some(Found::NotChecked) | None => previous
                .get(&package.name)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            Some(Found::Absent | Found::Invalid(_)) => &[],
        };
        package.attestation_identities = publishers.iter().map(identity_entry).collect();
    }
}

fn identity_entry(publisher: &Publisher) -> AttestationIdentity {
    let mut table = publisher.to_identity_table();
    let kind = table.remove("kind").unwrap_or_default();
    AttestationIdentity {
        kind,
        claims: table
            .into_iter()
            .map(|(key, value)| (key, toml::Value::String(value)))
            .collect(),
    }
}

/// Whether the verified publishers are the pinned ones (each side's found on the other).
fn same_set(pinned: &[Publisher], verified: &[Publisher]) -> bool {
    let covered = |a: &[Publisher], b: &[Publisher]| {
        a.iter()
            .all(|one| b.iter().any(|other| same_publisher(one, other)))
    };
    covered(pinned, verified) && covered(verified, pinned)
}

/// The policy's facts for one artifact: what was found, the publisher the lockfile pins, and
/// whether the user accepted a change.
pub(crate) fn facts(
    found: &Found,
    locked: Option<&[Publisher]>,
    accepted: bool,
) -> AttestationFacts {
    let status = match found {
        Found::NotChecked | Found::Absent => AttestationStatus::Absent,
        Found::Verified(publishers) => match publishers.first() {
            Some(first) => AttestationStatus::Verified(policy_publisher(first)),
            None => AttestationStatus::Absent,
        },
        Found::Invalid(reason) => AttestationStatus::Invalid {
            reason: reason.clone(),
        },
    };
    let locked_publisher = match (found, locked) {
        (Found::NotChecked, _) | (_, None) => None,
        // The same publisher in `same_publisher`'s sense (which lets one side omit the
        // environment) is passed as the verified one, so the policy sees no change.
        (Found::Verified(verified), Some(pinned)) if same_set(pinned, verified) => {
            verified.first().map(policy_publisher)
        }
        (_, Some(pinned)) => pinned.first().map(policy_publisher),
    };
    AttestationFacts {
        status,
        locked_publisher,
        publisher_change_accepted: accepted,
    }
}

/// The policy's view of a publisher. Kinds are lowercase there; a non-Trusted Publisher keeps its
/// issuer in the identity, so two issuers vouching for the same name stay different.
fn policy_publisher(publisher: &Publisher) -> safevenv_policy::Publisher {
    let (repository, workflow, environment) = match publisher {
        Publisher::GitHub {
            repository,
            workflow,
            environment,
        } => (
            repository.clone(),
            Some(workflow.clone()),
            environment.clone(),
        ),
        Publisher::GitLab {
            repository,
            workflow_filepath,
            environment,
        } => (
            repository.clone(),
            Some(workflow_filepath.clone()),
            environment.clone(),
        ),
        Publisher::Google { email } => (email.clone(), None, None),
        Publisher::Other { identity, issuer } => {
            (format!("{identity} (issuer {issuer})"), None, None)
        }
    };
    safevenv_policy::Publisher {
        kind: publisher.kind().to_ascii_lowercase(),
        repository,
        workflow,
        environment,
    }
}

fn describe(publishers: &[Publisher]) -> String {
    publishers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The publisher checks of a run that has no policy gate after it (`lock`), or of distributions
/// the gate does not see (already installed ones that `install` keeps): an invalid attestation
/// and a publisher that differs from the pinned one (or vanished: a downgrade to no attestation)
/// are refused, unless the user accepted the change.
///
/// Threat: a takeover of the project (a stolen account or token) uploads a new artifact from
/// another workflow, or without the attestation its real publisher always made; the lockfile's
/// pin is what notices.
pub(crate) fn judge_pins(
    attestor: &Attestor,
    checked: &[(Subject, Found)],
    pinned: &BTreeMap<PackageName, Vec<Publisher>>,
) -> Result<(), OpsError> {
    for (subject, found) in checked {
        if let Found::Invalid(reason) = found {
            return Err(OpsError::AttestationInvalid {
                name: subject.name.clone(),
                filename: subject.filename.clone(),
                reason: reason.clone(),
            });
        }
        let Some(locked) = pinned.get(&subject.name) else {
            continue;
        };
        if attestor.accepts_change(&subject.name) {
            continue;
        }
        let actual = match found {
            Found::Verified(verified) if same_set(locked, verified) => continue,
            Found::Verified(verified) => format!("published by {}", describe(verified)),
            Found::Absent => "carries no attestation".to_string(),
            Found::NotChecked | Found::Invalid(_) => continue,
        };
        return Err(OpsError::PublisherChanged {
            name: subject.name.clone(),
            filename: subject.filename.clone(),
            actual,
            locked: describe(locked),
        });
    }
    Ok(())
}

/// What `safevenv attest verify` checks a local artifact against.
#[derive(Debug, Clone)]
pub enum Evidence {
    /// A PEP 740 attestation object (`--attestation`).
    Attestation(PathBuf),
    /// A provenance object as an index serves it (`--provenance`).
    Provenance(PathBuf),
}

/// Everything `safevenv attest verify` needs.
#[derive(Debug, Clone)]
pub struct AttestVerifySettings {
    /// The artifact (a wheel or an sdist); its file name is the one attested.
    pub artifact: PathBuf,
    /// The attestation or provenance object.
    pub evidence: Evidence,
    /// `--repository`: the publisher's expected repository.
    pub repository: Option<String>,
    /// `--workflow`: the publisher's expected workflow file.
    pub workflow: Option<String>,
    /// `--trusted-root`: instead of the embedded production root.
    pub trusted_root: Option<PathBuf>,
}

/// What `safevenv attest verify` found.
#[derive(Debug)]
pub struct AttestVerifyOutcome {
    /// The artifact's SHA-256, lowercase hex.
    pub sha256: String,
    /// The publishers, as text and as their lockfile identity table.
    pub publishers: Vec<(String, BTreeMap<String, String>)>,
    /// `production` or the trusted root file.
    pub trust_root: String,
}

/// Verifies a local artifact's attestation or provenance offline.
pub fn attest_verify(settings: &AttestVerifySettings) -> Result<AttestVerifyOutcome, OpsError> {
    let read = |path: &Path| {
        fs_err::read(path).map_err(|source| OpsError::ReadInput {
            path: path.to_path_buf(),
            source,
        })
    };
    let root = trust_root(settings.trusted_root.as_deref())?;
    let artifact = read(&settings.artifact)?;
    let filename = settings
        .artifact
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default()
        .to_string();
    let mut policy = IdentityPolicy::any_publisher();
    if let Some(repository) = &settings.repository {
        policy = policy.expect_repository(repository.clone());
    }
    if let Some(workflow) = &settings.workflow {
        policy = policy.expect_workflow(workflow.clone());
    }
    let refused = |source: AttestError| OpsError::AttestationRefused {
        artifact: settings.artifact.clone(),
        source: Box::new(source),
    };
    let sha256 = Sha256Digest::of(&artifact);
    let publishers: Vec<Publisher> = match &settings.evidence {
        Evidence::Attestation(path) => {
            let attestation = Attestation::from_json(&read(path)?).map_err(refused)?;
            let proof = verify_attestation(
                &filename,
                safevenv_attest::Artifact::Bytes(&artifact),
                &attestation,
                &root,
                &policy,
            )
            .map_err(refused)?;
            vec![proof.publisher().clone()]
        }
        Evidence::Provenance(path) => {
            let proof = verify_provenance(&filename, sha256, &read(path)?, &root, &policy)
                .map_err(refused)?;
            proof.publishers().into_iter().cloned().collect()
        }
    };
    Ok(AttestVerifyOutcome {
        sha256: sha256.to_hex(),
        publishers: publishers
            .iter()
            .map(|publisher| (publisher.to_string(), publisher.to_identity_table()))
            .collect(),
        trust_root: root.name().to_string(),
    })
}

/// Lock time: the provenance of each resolved artifact, checked against the sha256 the INDEX
/// gives for it.
///
/// Why the index's sha256 and not the artifact's bytes: fetching every wheel only to verify its
/// attestation would make `lock` download everything. The attestation signs a statement naming
/// the artifact by its sha256, so verifying it against the index's digest proves the publisher
/// attested exactly the artifact the lockfile pins by that digest; the fetch stage of `install`
/// and `sync` refuses any bytes that do not match it, so no other bytes can be installed under
/// this attestation.
///
/// Direct wheels (`direct`) have no index page to offer provenance and are not looked up: their
/// names are never asked of the index.
pub(crate) fn check_resolution(
    attestor: &Attestor,
    runtime: &Runtime,
    resolution: &safevenv_resolver::Resolution,
    direct: &BTreeMap<PackageName, crate::direct::DirectWheel>,
    policy: &Policy,
) -> Result<Vec<(Subject, Found)>, OpsError> {
    let subjects: Vec<Subject> = resolution
        .distributions
        .iter()
        .filter(|dist| !direct.contains_key(&dist.name))
        .filter_map(|dist| {
            // A distribution without a sha256 is refused when the lockfile is built.
            Some(Subject {
                name: dist.name.clone(),
                filename: dist.file.filename.clone(),
                sha256: dist.file.hashes.get("sha256")?.to_ascii_lowercase(),
                index: None,
            })
        })
        .collect();
    let found = attestor.check_all(runtime, &subjects, policy)?;
    Ok(subjects.into_iter().zip(found).collect())
}

/// The index artifacts `wanted` as attestation subjects. A locked artifact is looked up on its
/// lockfile's index; a freshly resolved one on the page the resolver read.
fn subjects_of(wanted: &[&crate::plan::Wanted]) -> Vec<Subject> {
    wanted
        .iter()
        .map(|wanted| Subject {
            name: wanted.name.clone(),
            filename: wanted.filename.clone(),
            sha256: wanted.sha256.to_string(),
            index: match (&wanted.source, &wanted.listing) {
                (_, Some(safevenv_policy::Listing::FromIndexPage)) => None,
                (crate::plan::WantedSource::Index(index), _) => Some(index.clone()),
                _ => None,
            },
        })
        .collect()
}

/// By project, for [`pin_publishers`].
pub(crate) fn by_name(checked: &[(Subject, Found)]) -> BTreeMap<PackageName, Found> {
    checked
        .iter()
        .map(|(subject, found)| (subject.name.clone(), found.clone()))
        .collect()
}

/// The attestation stage of `install` and `sync`: the run's verifier and the publishers the
/// lockfile pins.
pub(crate) struct RunAttestations<'a> {
    pub(crate) attestor: &'a Attestor,
    pub(crate) pinned: &'a BTreeMap<PackageName, Vec<Publisher>>,
}

impl RunAttestations<'_> {
    /// Verify the provenance of `wanted` ahead of [`RunAttestations::add_facts`], which then
    /// finds each outcome in the attestor's memo: run beside the fetch and wheel checks, whose
    /// CPU time it overlaps. A failure is left for `add_facts` to meet (and report) again.
    pub(crate) fn verify_ahead(
        &self,
        runtime: &Runtime,
        policy: &Policy,
        wanted: &[&crate::plan::Wanted],
    ) {
        let from_index: Vec<&crate::plan::Wanted> = wanted
            .iter()
            .copied()
            .filter(|wanted| matches!(wanted.source, crate::plan::WantedSource::Index(_)))
            .collect();
        if let Err(err) = self
            .attestor
            .check_all(runtime, &subjects_of(&from_index), policy)
        {
            debug!("attestations not verified ahead: {err}");
        }
    }

    /// After fetch, before the gate: each artifact's provenance verified offline against the
    /// sha256 its download was checked against, as facts for the policy.
    pub(crate) fn add_facts(
        &self,
        runtime: &Runtime,
        policy: &Policy,
        wanted: &[&crate::plan::Wanted],
        packages: &mut [safevenv_policy::PackageFacts],
    ) -> Result<AttestationCounts, OpsError> {
        // Only index artifacts: a direct wheel has no index page offering its provenance, and
        // its name is not asked of the index (it may be a private name).
        let (from_index, facts_of): (
            Vec<&crate::plan::Wanted>,
            Vec<&mut safevenv_policy::PackageFacts>,
        ) = wanted
            .iter()
            .zip(packages.iter_mut())
            .filter(|(wanted, _)| matches!(wanted.source, crate::plan::WantedSource::Index(_)))
            .map(|(wanted, package)| (*wanted, package))
            .unzip();
        let subjects = subjects_of(&from_index);
        let found = self.attestor.check_all(runtime, &subjects, policy)?;
        for ((subject, found), package) in subjects.iter().zip(&found).zip(facts_of) {
            package.attestation = facts(
                found,
                self.pinned.get(&subject.name).map(Vec::as_slice),
                self.attestor.accepts_change(&subject.name),
            );
        }
        Ok(AttestationCounts::of(
            subjects.iter().map(|subject| &subject.name).zip(&found),
            |name| self.pinned.contains_key(name),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(repository: &str, environment: Option<&str>) -> Publisher {
        Publisher::GitHub {
            repository: repository.to_string(),
            workflow: "release.yml".to_string(),
            environment: environment.map(str::to_string),
        }
    }

    #[test]
    fn a_pin_without_environment_matches_the_same_publisher_with_one() {
        let found = Found::Verified(vec![github("owner/demo", Some("pypi"))]);
        let facts = facts(&found, Some(&[github("owner/demo", None)]), false);
        let AttestationStatus::Verified(verified) = &facts.status else {
            panic!("verified expected");
        };
        assert_eq!(facts.locked_publisher.as_ref(), Some(verified));
    }

    #[test]
    fn another_repository_or_no_attestation_is_a_change_the_policy_sees() {
        let pinned = [github("owner/demo", None)];
        let moved = facts(
            &Found::Verified(vec![github("thief/demo", None)]),
            Some(&pinned),
            false,
        );
        let AttestationStatus::Verified(verified) = &moved.status else {
            panic!("verified expected");
        };
        let locked = moved.locked_publisher.expect("the pin is passed on");
        assert_ne!(&locked, verified);
        assert_eq!(locked.repository, "owner/demo");

        let vanished = facts(&Found::Absent, Some(&pinned), true);
        assert!(matches!(vanished.status, AttestationStatus::Absent));
        assert!(vanished.locked_publisher.is_some() && vanished.publisher_change_accepted);
    }

    #[test]
    fn mode_off_passes_no_pin_to_judge() {
        let facts = facts(
            &Found::NotChecked,
            Some(&[github("owner/demo", None)]),
            false,
        );
        assert!(facts.locked_publisher.is_none());
    }
}
