//! `safevenv outdated`: installed or locked versions against the newest the index offers, and
//! the newest the policy's release-age rule (`releases.min-age`) would let in today.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use jiff::Timestamp;
use safevenv_cache::Cache;
use safevenv_index::{IndexUrls, ProjectPage};
use safevenv_policy::{
    Artifact, ArtifactKind, AttestationFacts, Discovery, LicenseFacts, PackageFacts, Policy,
    ResolvedSet, RuleId, Source,
};
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::error::OpsError;
use crate::facts::configured_indexes;
use crate::runtime::network_runtime;
use crate::subject::{self, Subject};
use crate::target::{pip_default_index, target_interpreter};

/// Everything `safevenv outdated` needs.
#[derive(Debug, Clone)]
pub struct OutdatedSettings {
    /// What to compare: a lockfile, an environment, or pinned requirements.
    pub subject: Subject,
    /// `--index-url` (default as for `lock`).
    pub index_url: Option<String>,
    /// `--policy FILE` (default: discovered as for `install`).
    pub policy: Option<PathBuf>,
    /// Use the cache only.
    pub offline: bool,
    /// Caches.
    pub cache: Cache,
    /// Where relative paths, the default lockfile and the policy are looked for.
    pub working_dir: PathBuf,
}

/// One distribution with a newer version on the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outdated {
    /// The project.
    pub name: PackageName,
    /// The installed or locked version.
    pub current: Version,
    /// The newest version the index offers (yanked ones left out; pre-releases only when the
    /// current version is one).
    pub latest: Version,
    /// The newest of those the policy's release age lets in now; `None` when none does.
    pub latest_allowed: Option<Version>,
}

/// What `safevenv outdated` found.
#[derive(Debug)]
pub struct OutdatedOutcome {
    /// What was compared.
    pub subject: PathBuf,
    /// How many distributions were compared.
    pub checked: usize,
    /// The distributions with a newer version, sorted by name.
    pub outdated: Vec<Outdated>,
    /// Distributions the index does not list at all.
    pub not_found: Vec<PackageName>,
}

/// One version on the index, as far as choosing an upgrade goes.
struct Candidate {
    version: Version,
    /// The newest upload time of its non-yanked files: a file added later to an old version
    /// is as new as its upload (fail closed, as the release-age rule does).
    uploaded: Option<Timestamp>,
    /// Every file without an upload time makes the age unknown.
    any_unknown_time: bool,
    filename: String,
}

/// Compare the subject's versions with the index's newest.
pub fn outdated(settings: &OutdatedSettings) -> Result<OutdatedOutcome, OpsError> {
    let listed = subject::list(&settings.subject, &settings.working_dir, &settings.cache)?;
    newer(listed, settings)
}

/// The outdated stage: `listed`'s versions against the index's newest (`settings.subject` is
/// already read).
pub(crate) fn newer(
    listed: subject::Listed,
    settings: &OutdatedSettings,
) -> Result<OutdatedOutcome, OpsError> {
    let policy = Policy::load(&Discovery::from_env(
        settings.working_dir.clone(),
        settings.policy.clone(),
    ))
    .map_err(|source| OpsError::Policy(Box::new(source)))?;

    // The interpreter only supplies pip's default index, when nothing else names one.
    let pip_default = match &listed.interpreter {
        Some(interpreter) => pip_default_index(interpreter, &settings.cache),
        None => target_interpreter(None, &settings.working_dir, &settings.cache)
            .ok()
            .and_then(|interpreter| pip_default_index(&interpreter, &settings.cache)),
    };
    let indexes =
        IndexUrls::from_settings(settings.index_url.as_deref(), &[], pip_default.as_deref())
            .map_err(|source| OpsError::IndexUrl { source })?;
    let runtime = network_runtime()?;
    let pins = crate::lock::index_pins(&policy, &indexes)?;
    let client =
        crate::lock::index_client(&runtime, &indexes, &settings.cache, settings.offline, pins)?;
    let names: Vec<PackageName> = {
        let mut names: Vec<PackageName> = listed
            .distributions
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        names.dedup();
        names
    };
    let pages: Vec<Option<std::sync::Arc<ProjectPage>>> = runtime
        .block_on(futures::future::try_join_all(
            names.iter().map(|name| client.project(name)),
        ))
        .map_err(|source| OpsError::Index {
            source: Box::new(source),
        })?;
    let pages: BTreeMap<&PackageName, Option<std::sync::Arc<ProjectPage>>> =
        names.iter().zip(pages).collect();

    let now = Timestamp::now();
    let configured = configured_indexes(&indexes);
    let mut outdated = Vec::new();
    let mut not_found = Vec::new();
    for (name, current) in &listed.distributions {
        let Some(Some(page)) = pages.get(name) else {
            not_found.push(name.clone());
            continue;
        };
        let candidates = candidates(page, current.any_prerelease());
        let Some(latest) = candidates.last() else {
            continue;
        };
        if latest.version <= *current {
            continue;
        }
        let latest_allowed = candidates
            .iter()
            .rev()
            .find(|candidate| old_enough(&policy, page, candidate, now, &configured))
            .map(|candidate| candidate.version.clone());
        outdated.push(Outdated {
            name: name.clone(),
            current: current.clone(),
            latest: latest.version.clone(),
            latest_allowed,
        });
    }
    Ok(OutdatedOutcome {
        subject: listed.label,
        checked: listed.distributions.len(),
        outdated,
        not_found,
    })
}

/// The versions an upgrade could pick, ascending: those with at least one file that is not
/// yanked (PEP 592), and pre-releases only when `pre` (the current version is one).
fn candidates(page: &ProjectPage, pre: bool) -> Vec<Candidate> {
    let mut by_version: BTreeMap<Version, Candidate> = BTreeMap::new();
    for file in &page.files {
        if file.yanked.is_yanked() {
            continue;
        }
        let version = file.filename.version().clone();
        if version.any_prerelease() && !pre {
            continue;
        }
        let uploaded = file
            .upload_time
            .as_deref()
            .and_then(|time| Timestamp::from_str(time).ok());
        let candidate = by_version
            .entry(version.clone())
            .or_insert_with(|| Candidate {
                version,
                uploaded: None,
                any_unknown_time: false,
                filename: file.raw_filename.clone(),
            });
        candidate.any_unknown_time |= uploaded.is_none();
        candidate.uploaded = candidate.uploaded.max(uploaded);
    }
    by_version.into_values().collect()
}

/// Whether the policy's release-age rule lets `candidate` in at `now`. The policy judges a
/// one-distribution set and only its `releases.min-age` refusals count here: other rules need
/// facts (the wheel's contents, its attestation) that only an install gathers.
fn old_enough(
    policy: &Policy,
    page: &ProjectPage,
    candidate: &Candidate,
    now: Timestamp,
    indexes: &[safevenv_policy::ConfiguredIndex],
) -> bool {
    let facts = PackageFacts {
        name: page.name.clone(),
        version: Some(candidate.version.clone()),
        source: Source::Index {
            url: url::Url::clone(page.index.url()),
        },
        artifact: Artifact {
            kind: ArtifactKind::Wheel,
            filename: candidate.filename.clone(),
            sha256: None,
            url: None,
        },
        yanked: false,
        upload_time: if candidate.any_unknown_time {
            None
        } else {
            candidate.uploaded
        },
        also_on_indexes: Vec::new(),
        license: LicenseFacts::default(),
        requested_directly: true,
        contents: None,
        editable_project: Vec::new(),
        attestation: AttestationFacts::default(),
        vulnerabilities: Vec::new(),
        fixes_known_vulnerability: false,
    };
    let set = ResolvedSet {
        now,
        python_version: None,
        indexes: indexes.to_vec(),
        packages: vec![facts],
        installed: Vec::new(),
    };
    match policy.evaluate(&set) {
        Ok(_) => true,
        Err(refusals) => !refusals
            .refusals()
            .iter()
            .any(|refusal| refusal.rule == RuleId::ReleasesMinAge),
    }
}
