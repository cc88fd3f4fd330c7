//! `safevenv audit`, and the vulnerability facts of the policy gate.
//!
//! Both read the same OSV records (`safevenv-audit`): the command from an offline database
//! (`--db`) or the OSV API, the gate from an offline database only (`--audit-db`), so that an
//! install never waits on, or leaks its package list to, a third-party service unasked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safevenv_audit::{
    AdvisoryDb, DEFAULT_OSV_URL, Distribution, Finding, IgnoreList, LoadError, OnlineError,
    OsvClient, Report,
};
use safevenv_cache::Cache;
use safevenv_installer::Plan;
use safevenv_lock::Lock;
use safevenv_policy::{Advisory, PackageFacts, Severity};
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::error::OpsError;
use crate::runtime::network_runtime;
use crate::subject::{self, Subject};

/// Everything `safevenv audit` needs.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// What to audit.
    pub subject: Subject,
    /// `--db PATH`: an offline advisory database; no network at all.
    pub db: Option<PathBuf>,
    /// `--osv-url`: the OSV API, when there is no `--db` (default [`DEFAULT_OSV_URL`]).
    pub osv_url: Option<String>,
    /// `--ignore ID`: advisory ids or aliases not to report.
    pub ignore: Vec<String>,
    /// Caches (the OSV API's answers).
    pub cache: Cache,
    /// Where relative paths and the default lockfile are.
    pub working_dir: PathBuf,
}

/// What `safevenv audit` found.
#[derive(Debug)]
pub struct AuditOutcome {
    /// What was audited: a lockfile, an environment or a requirements file.
    pub subject: PathBuf,
    /// How many distributions were audited.
    pub audited: usize,
    /// Packages of a lockfile without a version, which could not be audited.
    pub skipped: Vec<PackageName>,
    /// The findings.
    pub report: Report,
}

/// Audit the subject's distributions against an offline database or the OSV API.
pub fn audit(settings: &AuditSettings) -> Result<AuditOutcome, OpsError> {
    let listed = subject::list(&settings.subject, &settings.working_dir, &settings.cache)?;
    let distributions: Vec<Distribution> = listed
        .distributions
        .iter()
        .map(|(name, version)| Distribution::new(name.clone(), version.clone()))
        .collect();
    let ignore = IgnoreList::new(settings.ignore.iter().cloned());
    let report = match &settings.db {
        Some(path) => load_db(&settings.working_dir.join(path))?.audit(&distributions, &ignore),
        None => {
            let client = OsvClient::new(settings.osv_url.as_deref().unwrap_or(DEFAULT_OSV_URL))
                .map_err(|source| OpsError::Osv(Box::new(source)))?
                .with_cache(&settings.cache);
            let runtime = network_runtime()?;
            runtime
                .block_on(client.audit(&distributions, &ignore))
                .map_err(|source: OnlineError| OpsError::Osv(Box::new(source)))?
        }
    };
    Ok(AuditOutcome {
        subject: listed.label,
        audited: distributions.len(),
        skipped: listed.skipped,
        report,
    })
}

fn load_db(path: &Path) -> Result<AdvisoryDb, OpsError> {
    AdvisoryDb::load(path).map_err(|source: LoadError| OpsError::AuditDb {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// The policy's severity for an OSV severity label. The PyPA database's own records carry
/// none; GitHub's say `LOW`, `MODERATE`, `HIGH` or `CRITICAL`. Anything else is unknown, which
/// the policy treats as meeting every threshold (fail closed).
pub(crate) fn policy_severity(label: Option<&str>) -> Option<Severity> {
    match label?.trim().to_ascii_uppercase().as_str() {
        "LOW" => Some(Severity::Low),
        "MODERATE" | "MEDIUM" => Some(Severity::Medium),
        "HIGH" => Some(Severity::High),
        "CRITICAL" => Some(Severity::Critical),
        _ => None,
    }
}

fn advisory(finding: &Finding) -> Advisory {
    Advisory {
        id: finding.id.clone(),
        aliases: finding.aliases.clone(),
        severity: policy_severity(finding.severity_label.as_deref()),
    }
}

/// The gate's source of vulnerability facts (`--audit-db`): the offline database, and the
/// versions the lockfile pinned before this run.
#[derive(Debug)]
pub(crate) struct AuditGate {
    db: AdvisoryDb,
    locked: BTreeMap<PackageName, Version>,
}

impl AuditGate {
    /// Load the database now, so that a bad path fails before anything is resolved or fetched.
    pub(crate) fn load(
        path: Option<&Path>,
        working_dir: &Path,
        previous: Option<&Lock>,
    ) -> Result<Option<Self>, OpsError> {
        let Some(path) = path else {
            return Ok(None);
        };
        let db = load_db(&working_dir.join(path))?;
        let locked = previous
            .into_iter()
            .flat_map(Lock::iter)
            .filter_map(|package| Some((package.name.clone(), package.version.clone()?)))
            .collect();
        Ok(Some(Self { db, locked }))
    }

    /// Fill `vulnerabilities` and `fixes_known_vulnerability` of the distributions about to be
    /// installed. A record about a package that could not be read becomes an advisory without a
    /// severity: an unreadable record never makes a release look safe.
    pub(crate) fn add_facts(&self, packages: &mut [PackageFacts], plan: &Plan) {
        for package in packages {
            let Some(version) = package.version.clone() else {
                continue;
            };
            let report = self.db.audit(
                &[Distribution::new(package.name.clone(), version.clone())],
                &IgnoreList::default(),
            );
            package.vulnerabilities = report.findings.iter().map(advisory).collect();
            package
                .vulnerabilities
                .extend(report.unreadable.iter().map(|unreadable| {
                    Advisory {
                        id: unreadable.id.clone().unwrap_or_else(|| {
                            format!("unreadable record `{}`", unreadable.source)
                        }),
                        aliases: Vec::new(),
                        severity: None,
                    }
                }));
            // The versions this one replaces: the one installed now, and the one the lockfile
            // pinned before this run.
            let replaced = plan
                .remove
                .iter()
                .filter(|dist| dist.name == package.name)
                .map(|dist| &dist.version)
                .chain(self.locked.get(&package.name));
            let fixed = replaced
                .filter(|old| **old != version)
                .flat_map(|old| self.db.query(&package.name, old))
                .any(|old| !report.findings.iter().any(|new| new.is_known_as(&old.id)));
            package.fixes_known_vulnerability = fixed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_labels_map_to_the_policy_and_unknown_stays_unknown() {
        assert_eq!(policy_severity(Some("LOW")), Some(Severity::Low));
        assert_eq!(policy_severity(Some("MODERATE")), Some(Severity::Medium));
        assert_eq!(policy_severity(Some("medium")), Some(Severity::Medium));
        assert_eq!(policy_severity(Some("HIGH")), Some(Severity::High));
        assert_eq!(policy_severity(Some("CRITICAL")), Some(Severity::Critical));
        assert_eq!(policy_severity(Some("severe")), None);
        assert_eq!(policy_severity(None), None);
    }
}
