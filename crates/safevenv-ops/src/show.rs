//! `safevenv show PKG`: one project's health, from what safevenv already reads — the index's
//! project page (PEP 691: versions, upload times, PEP 592 yanks, PEP 740 provenance links), the
//! core metadata of the installed or newest version, the lockfile, the environment, and an
//! offline advisory database. Nothing is made up where a source is silent: a field the index
//! or the metadata does not give is `None` and is shown as unknown.
//!
//! Steps:
//! 1. the installed version (the environment, when there is one) and the locked one;
//! 2. the project page: every release with its first and last upload and whether it is yanked
//!    (every file yanked, PEP 592); the newest release that is not yanked;
//! 3. the version described (the installed one, else the locked one, else the newest): its
//!    artifacts' provenance verified as `install` does (`Attestor`), with the publishers it names;
//! 4. its metadata (the installed `METADATA`, else the index's): license, project URLs, direct
//!    requirements; the size of its installed dependency tree when it is installed;
//! 5. its known vulnerabilities, from the offline database when one is given.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use safevenv_audit::AdvisoryDb;
use safevenv_cache::Cache;
use safevenv_index::{IndexUrls, ProjectPage};
use safevenv_installer::InstalledDist;
use safevenv_policy::{Discovery, Policy};
use serde_json::{Value, json};
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::Requirement;
use uv_pypi_types::{Metadata23, VerbatimParsedUrl};

use crate::attest::{AttestSettings, Attestor, Found, Subject};
use crate::error::OpsError;
use crate::runtime::network_runtime;
use crate::subject::{open_environment, read_lockfile};
use crate::target::{TargetError, pip_default_index};

/// Everything `safevenv show` needs.
#[derive(Debug, Clone)]
pub struct ShowSettings {
    /// The project.
    pub name: PackageName,
    /// `--env PATH`; default: the active environment, then `.venv` here (none is fine).
    pub environment: Option<PathBuf>,
    /// The lockfile, read when it exists.
    pub lockfile: Option<PathBuf>,
    /// `--index-url` (default as for `lock`).
    pub index_url: Option<String>,
    /// `--audit-db PATH`: an offline advisory database.
    pub audit_db: Option<PathBuf>,
    /// How attestations are verified.
    pub attest: AttestSettings,
    /// Use the cache only.
    pub offline: bool,
    /// Caches.
    pub cache: Cache,
    /// Where relative paths are.
    pub working_dir: PathBuf,
}

/// One release on the index.
#[derive(Debug, Clone)]
pub struct Release {
    /// Its version.
    pub version: Version,
    /// The earliest upload time of its files (`None`: the index gives none).
    pub first_upload: Option<Timestamp>,
    /// Every file is yanked (PEP 592).
    pub yanked: bool,
    /// Its files on the index.
    pub files: usize,
    /// Of those, the ones the index links a provenance object for (PEP 740).
    pub with_provenance: usize,
}

/// What the provenance of the described version's artifacts came to.
#[derive(Debug, Clone, Default)]
pub struct Attestations {
    /// Artifacts looked at.
    pub artifacts: usize,
    /// Artifacts whose every attestation verified.
    pub verified: usize,
    /// Artifacts the index offers no provenance for.
    pub absent: usize,
    /// Artifacts not looked at: the policy's attestation mode for the project is `off`.
    pub not_checked: usize,
    /// Artifacts whose provenance does not verify, with why.
    pub invalid: Vec<(String, String)>,
    /// The publishers the verified attestations name.
    pub publishers: Vec<String>,
}

/// A known vulnerability of the described version.
#[derive(Debug, Clone)]
pub struct Vulnerability {
    /// Its id.
    pub id: String,
    /// Its summary, when the record has one.
    pub summary: Option<String>,
    /// The lowest version that fixes it, when known.
    pub fix: Option<Version>,
}

/// What `safevenv show` found.
#[derive(Debug)]
pub struct ShowOutcome {
    /// The project.
    pub name: PackageName,
    /// The index page read (credentials masked); `None` when no index lists the project.
    pub index: Option<String>,
    /// The version installed in the environment.
    pub installed: Option<Version>,
    /// The version the lockfile pins.
    pub locked: Option<Version>,
    /// The newest release that is not yanked.
    pub newest: Option<Version>,
    /// Every release, by version.
    pub releases: Vec<Release>,
    /// When this was computed (for the ages below).
    pub now: Timestamp,
    /// The version the rest describes.
    pub described: Option<Version>,
    /// Its attestations (`None`: nothing to check, the index does not list it).
    pub attestations: Option<Attestations>,
    /// Its known vulnerabilities; `None` when no advisory database was given.
    pub vulnerabilities: Option<Vec<Vulnerability>>,
    /// Its license (`License-Expression`, else `License`, else the license classifiers).
    pub license: Option<String>,
    /// `Project-URL` (and `Home-page`) entries: `(label, URL)`.
    pub urls: Vec<(String, String)>,
    /// Its direct requirements for this interpreter (without extras), as written; `None` when
    /// no metadata was read.
    pub dependencies: Option<Vec<String>>,
    /// How many installed distributions it requires, directly or not (when installed).
    pub dependency_tree: Option<usize>,
}

impl ShowOutcome {
    /// The first upload of any release.
    pub fn first_upload(&self) -> Option<Timestamp> {
        self.releases
            .iter()
            .filter_map(|release| release.first_upload)
            .min()
    }

    /// The first upload of the newest release to be uploaded.
    pub fn last_upload(&self) -> Option<Timestamp> {
        self.releases
            .iter()
            .filter_map(|release| release.first_upload)
            .max()
    }

    /// Releases first uploaded in the 365 days before `now`.
    pub fn releases_last_year(&self) -> usize {
        let year_ago = self.now - SignedDuration::from_hours(365 * 24);
        self.releases
            .iter()
            .filter(|release| release.first_upload.is_some_and(|time| time >= year_ago))
            .count()
    }

    /// Whole days since the last release was uploaded.
    pub fn days_since_last(&self) -> Option<i64> {
        self.last_upload()
            .map(|last| self.now.duration_since(last).as_hours() / 24)
    }

    /// The yanked releases.
    pub fn yanked(&self) -> Vec<&Version> {
        self.releases
            .iter()
            .filter(|release| release.yanked)
            .map(|release| &release.version)
            .collect()
    }

    /// The JSON form for `--format json`.
    pub fn to_json(&self) -> Value {
        let version = |version: &Option<Version>| version.as_ref().map(ToString::to_string);
        let time = |time: Option<Timestamp>| time.map(|time| time.to_string());
        json!({
            "name": self.name.as_ref(),
            "index": self.index,
            "installed": version(&self.installed),
            "locked": version(&self.locked),
            "newest": version(&self.newest),
            "described": version(&self.described),
            "releases": {
                "count": self.releases.len(),
                "first_upload": time(self.first_upload()),
                "last_upload": time(self.last_upload()),
                "last_year": self.releases_last_year(),
                "days_since_last": self.days_since_last(),
                "yanked": self.yanked().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "history": self.releases.iter().map(|release| json!({
                    "version": release.version.to_string(),
                    "first_upload": time(release.first_upload),
                    "yanked": release.yanked,
                    "files": release.files,
                    "with_provenance": release.with_provenance,
                })).collect::<Vec<_>>(),
            },
            "attestations": self.attestations.as_ref().map(|found| json!({
                "artifacts": found.artifacts,
                "verified": found.verified,
                "absent": found.absent,
                "not_checked": found.not_checked,
                "invalid": found.invalid.iter().map(|(file, why)| json!({"file": file, "reason": why})).collect::<Vec<_>>(),
                "publishers": found.publishers,
            })),
            "vulnerabilities": self.vulnerabilities.as_ref().map(|found| found.iter().map(|vulnerability| json!({
                "id": vulnerability.id,
                "summary": vulnerability.summary,
                "fix": vulnerability.fix.as_ref().map(ToString::to_string),
            })).collect::<Vec<_>>()),
            "license": self.license,
            "urls": self.urls.iter().map(|(label, url)| json!({"label": label, "url": url})).collect::<Vec<_>>(),
            "dependencies": self.dependencies,
            "dependency_tree": self.dependency_tree,
        })
    }
}

/// Describe one project (see the module's steps).
pub fn show(settings: &ShowSettings) -> Result<ShowOutcome, OpsError> {
    let now = Timestamp::now();
    // (1): an environment is optional: without one there is no installed version.
    let env_path = settings
        .environment
        .as_ref()
        .map(|path| settings.working_dir.join(path));
    let opened = match open_environment(env_path.as_deref(), &settings.working_dir, &settings.cache)
    {
        Ok(opened) => Some(opened),
        Err(OpsError::Target(TargetError::NoEnvironment { .. })) if env_path.is_none() => None,
        Err(err) => return Err(err),
    };
    let installed_dists = match &opened {
        Some((_, environment)) => environment.installed()?,
        None => Vec::new(),
    };
    let installed = installed_dists
        .iter()
        .find(|dist| dist.name == settings.name);
    let lockfile =
        crate::subject::present_lockfile(settings.lockfile.as_ref(), &settings.working_dir);
    let lock = lockfile.as_deref().map(read_lockfile).transpose()?;
    let locked_package = lock.as_ref().and_then(|lock| lock.package(&settings.name));
    let locked = locked_package.and_then(|package| package.version.clone());

    // (2):
    let policy = Policy::load(&Discovery::from_env(settings.working_dir.clone(), None))
        .map_err(|source| OpsError::Policy(Box::new(source)))?;
    let pip_default = opened
        .as_ref()
        .and_then(|(interpreter, _)| pip_default_index(interpreter, &settings.cache));
    let indexes =
        IndexUrls::from_settings(settings.index_url.as_deref(), &[], pip_default.as_deref())
            .map_err(|source| OpsError::IndexUrl { source })?;
    let runtime = network_runtime()?;
    let pins = crate::lock::index_pins(&policy, &indexes)?;
    let client =
        crate::lock::index_client(&runtime, &indexes, &settings.cache, settings.offline, pins)?;
    let page = runtime
        .block_on(client.project(&settings.name))
        .map_err(|source| OpsError::Index {
            source: Box::new(source),
        })?;
    let releases = page.as_deref().map(releases).unwrap_or_default();
    let newest = newest(&releases);

    // (3):
    let described = installed
        .map(|dist| dist.version.clone())
        .or_else(|| locked.clone())
        .or_else(|| newest.clone());
    let attestations = match (&page, &described) {
        (Some(page), Some(version)) => {
            let subjects: Vec<Subject> = page
                .files_for(version)
                .filter_map(|file| {
                    Some(Subject {
                        name: settings.name.clone(),
                        filename: file.raw_filename.clone(),
                        sha256: file.sha256()?.to_ascii_lowercase(),
                        index: None,
                    })
                })
                .collect();
            if subjects.is_empty() {
                None
            } else {
                let attestor = Attestor::new(&settings.attest, &client, &settings.cache)?;
                let found = attestor.check_all(&runtime, &subjects, &policy)?;
                Some(summarise(&subjects, &found))
            }
        }
        _ => None,
    };

    // (4):
    let metadata = match (installed, &described, &page) {
        (Some(dist), _, _) => Some(read_installed_metadata(dist)?),
        (None, Some(version), Some(_)) => runtime
            .block_on(client.version_metadata(&settings.name, version))
            .ok()
            .map(|metadata| metadata.raw.clone()),
        _ => None,
    };
    let metadata = metadata
        .map(|raw| {
            Metadata23::parse(&raw).map_err(|err| {
                OpsError::Internal(format!("the metadata of `{}`: {err}", settings.name))
            })
        })
        .transpose()?;
    let markers = opened
        .as_ref()
        .map(|(interpreter, _)| interpreter.markers());
    let dependencies = metadata.as_ref().map(|metadata| {
        metadata
            .requires_dist
            .iter()
            .filter(|text| {
                Requirement::<VerbatimParsedUrl>::from_str(text).is_ok_and(|requirement| {
                    match markers {
                        Some(markers) => requirement.marker.evaluate(markers, &[]),
                        // No interpreter: every requirement that is not an extra's.
                        None => requirement.marker.top_level_extra().is_none(),
                    }
                })
            })
            .cloned()
            .collect::<Vec<_>>()
    });
    let dependency_tree = match (installed, markers) {
        (Some(dist), Some(markers)) => Some(tree_size(dist, &installed_dists, markers)?),
        _ => None,
    };

    // (5):
    let vulnerabilities = match (&settings.audit_db, &described) {
        (Some(path), Some(version)) => {
            let path = settings.working_dir.join(path);
            let db = AdvisoryDb::load(&path).map_err(|source| OpsError::AuditDb {
                path: path.clone(),
                source: Box::new(source),
            })?;
            Some(
                db.query(&settings.name, version)
                    .into_iter()
                    .map(|finding| Vulnerability {
                        id: finding.id,
                        summary: finding.summary,
                        fix: finding.lowest_fix,
                    })
                    .collect(),
            )
        }
        _ => None,
    };

    Ok(ShowOutcome {
        name: settings.name.clone(),
        index: page.as_ref().map(|page| page.url.to_string()),
        installed: installed.map(|dist| dist.version.clone()),
        locked,
        newest,
        releases,
        now,
        described,
        attestations,
        vulnerabilities,
        license: metadata.as_ref().and_then(license),
        urls: metadata.as_ref().map(urls).unwrap_or_default(),
        dependencies,
        dependency_tree,
    })
}

fn releases(page: &ProjectPage) -> Vec<Release> {
    let mut releases = Vec::new();
    for version in page.versions() {
        let files: Vec<_> = page.files_for(&version).collect();
        let first_upload = files
            .iter()
            .filter_map(|file| file.upload_time.as_deref())
            .filter_map(|time| Timestamp::from_str(time).ok())
            .min();
        releases.push(Release {
            first_upload,
            yanked: !files.is_empty() && files.iter().all(|file| file.yanked.is_yanked()),
            files: files.len(),
            with_provenance: files
                .iter()
                .filter(|file| file.provenance.is_some())
                .count(),
            version,
        });
    }
    releases
}

/// The newest release not yanked: a final release if there is one, else a pre-release.
fn newest(releases: &[Release]) -> Option<Version> {
    let open = || releases.iter().filter(|release| !release.yanked);
    open()
        .filter(|release| !release.version.any_prerelease())
        .map(|release| release.version.clone())
        .max()
        .or_else(|| open().map(|release| release.version.clone()).max())
}

fn summarise(subjects: &[Subject], found: &[Found]) -> Attestations {
    let mut summary = Attestations {
        artifacts: subjects.len(),
        ..Attestations::default()
    };
    let mut publishers = BTreeSet::new();
    for (subject, found) in subjects.iter().zip(found) {
        match found {
            Found::Verified(names) => {
                summary.verified += 1;
                publishers.extend(names.iter().map(ToString::to_string));
            }
            Found::Absent => summary.absent += 1,
            Found::NotChecked => summary.not_checked += 1,
            Found::Invalid(reason) => summary
                .invalid
                .push((subject.filename.clone(), reason.clone())),
        }
    }
    summary.publishers = publishers.into_iter().collect();
    summary
}

fn read_installed_metadata(dist: &InstalledDist) -> Result<Vec<u8>, OpsError> {
    let path = dist.dist_info.join("METADATA");
    fs_err::read(&path).map_err(|source| OpsError::ReadInput { path, source })
}

fn license(metadata: &Metadata23) -> Option<String> {
    if let Some(expression) = metadata.license_expression.as_deref() {
        return Some(expression.trim().to_string());
    }
    if let Some(license) = metadata
        .license
        .as_deref()
        .map(str::trim)
        .filter(|license| !license.is_empty())
    {
        // Some projects paste the whole license text here: its first line names it.
        return license.lines().next().map(str::to_string);
    }
    let classifiers: Vec<&str> = metadata
        .classifiers
        .iter()
        .filter_map(|classifier| classifier.strip_prefix("License :: "))
        .collect();
    (!classifiers.is_empty()).then(|| classifiers.join(", "))
}

fn urls(metadata: &Metadata23) -> Vec<(String, String)> {
    let mut urls: Vec<(String, String)> = metadata
        .home_page
        .iter()
        .map(|url| ("Homepage".to_string(), url.clone()))
        .collect();
    for entry in metadata.project_urls.to_vec_str() {
        if let Some((label, url)) = entry.split_once(',') {
            urls.push((label.trim().to_string(), url.trim().to_string()));
        }
    }
    urls
}

/// How many installed distributions `dist` requires, directly or through others (markers for
/// `markers`, without extras).
fn tree_size(
    dist: &InstalledDist,
    installed: &[InstalledDist],
    markers: &uv_pep508::MarkerEnvironment,
) -> Result<usize, OpsError> {
    let by_name: BTreeMap<&PackageName, &InstalledDist> =
        installed.iter().map(|dist| (&dist.name, dist)).collect();
    let mut seen: BTreeSet<PackageName> = BTreeSet::new();
    let mut stack = vec![dist];
    while let Some(current) = stack.pop() {
        let raw = read_installed_metadata(current)?;
        let Ok(metadata) = uv_pypi_types::ResolutionMetadata::parse_metadata(&raw) else {
            continue;
        };
        for requirement in metadata.requires_dist.iter() {
            if !requirement.marker.evaluate(markers, &[]) || requirement.name == dist.name {
                continue;
            }
            if let Some(next) = by_name.get(&requirement.name)
                && seen.insert(requirement.name.clone())
            {
                stack.push(next);
            }
        }
    }
    Ok(seen.len())
}
