//! Findings: matched records merged by alias, the ignore list, and the report.

use std::collections::BTreeSet;

use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::matching::Advisory;
use crate::osv::Severity;

/// One installed distribution to audit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Distribution {
    /// The package's normalized name.
    pub name: PackageName,
    /// The installed version.
    pub version: Version,
}

impl Distribution {
    /// The distribution `name` at `version`.
    pub fn new(name: PackageName, version: Version) -> Self {
        Self { name, version }
    }
}

/// One vulnerability affecting one distribution: one or more records that share an id or alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The affected package.
    pub package: PackageName,
    /// Its installed version.
    pub version: Version,
    /// The vulnerability's id: the merged records' PYSEC id if any, else GHSA, else the smallest.
    pub id: String,
    /// Every other id of the vulnerability (records' ids and their aliases), sorted.
    pub aliases: Vec<String>,
    /// The primary record's summary, else the first line of its details.
    pub summary: Option<String>,
    /// Severity scores of the merged records (CVSS vectors), without duplicates.
    pub severity: Vec<Severity>,
    /// The database's severity label (`HIGH`, `MODERATE`, ...), if a record has one.
    pub severity_label: Option<String>,
    /// Every version the records say fixes the vulnerability, sorted.
    pub fix_versions: Vec<Version>,
    /// The lowest of `fix_versions` above the installed version that none of the merged records
    /// affects: the upgrade to suggest.
    pub lowest_fix: Option<Version>,
}

impl Finding {
    /// Whether `id` is this finding's id or one of its aliases.
    pub fn is_known_as(&self, id: &str) -> bool {
        self.id.eq_ignore_ascii_case(id) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    }
}

/// Advisory ids (or aliases) whose findings the user chose not to report (`--ignore ID`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreList(BTreeSet<String>);

impl IgnoreList {
    /// Ignore these ids; each also matches a finding that lists it as an alias (case-insensitive).
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        Self(ids.into_iter().map(Into::into).collect())
    }

    /// Whether the list ignores `finding` under any of its names.
    pub fn ignores(&self, finding: &Finding) -> bool {
        self.0.iter().any(|id| finding.is_known_as(id))
    }
}

/// A record about an audited package that could not be read: the package may be affected by a
/// vulnerability the audit could not check, so the report says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The audited package the record names; `None` when the record names no package that could
    /// be read, so it may be about any.
    pub package: Option<PackageName>,
    /// Where the record came from (a path, or an archive path and member).
    pub source: String,
    /// The record's id, when it could be read.
    pub id: Option<String>,
    /// Why it could not be used.
    pub reason: String,
}

/// The result of an audit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Findings, sorted by package, version and id.
    pub findings: Vec<Finding>,
    /// Findings the ignore list removed, in the same order.
    pub ignored: Vec<Finding>,
    /// Records naming an audited package that could not be read, sorted.
    pub unreadable: Vec<Unreadable>,
}

impl Report {
    /// Split `findings` by the ignore list and sort everything.
    pub(crate) fn new(
        findings: Vec<Finding>,
        ignore: &IgnoreList,
        mut unreadable: Vec<Unreadable>,
    ) -> Self {
        let (mut ignored, mut findings): (Vec<_>, Vec<_>) = findings
            .into_iter()
            .partition(|finding| ignore.ignores(finding));
        let key = |finding: &Finding| {
            (
                finding.package.clone(),
                finding.version.clone(),
                finding.id.clone(),
            )
        };
        findings.sort_by_key(key);
        ignored.sort_by_key(key);
        unreadable
            .sort_by(|a, b| (&a.package, &a.source, &a.id).cmp(&(&b.package, &b.source, &b.id)));
        Self {
            findings,
            ignored,
            unreadable,
        }
    }

    /// Whether the audit found nothing to report and could read every relevant record.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty() && self.unreadable.is_empty()
    }
}

/// How an id ranks as the name of a finding: the PyPA database's own ids first, then GitHub's.
fn id_rank(id: &str) -> (u8, &str) {
    let rank = if id.starts_with("PYSEC-") {
        0
    } else if id.starts_with("GHSA-") {
        1
    } else {
        2
    };
    (rank, id)
}

/// Group the records that affect `distribution` into findings: two records belong together
/// when they share an id or an alias (transitively).
pub(crate) fn findings_for(distribution: &Distribution, matched: &[&Advisory]) -> Vec<Finding> {
    let names = |advisory: &Advisory| -> BTreeSet<String> {
        std::iter::once(&advisory.record.id)
            .chain(&advisory.record.aliases)
            .cloned()
            .collect()
    };
    // (all ids of the group, the group's records)
    let mut groups: Vec<(BTreeSet<String>, Vec<&Advisory>)> = Vec::new();
    for &advisory in matched {
        let mut ids = names(advisory);
        let mut members = vec![advisory];
        let (joined, rest): (Vec<_>, Vec<_>) = groups
            .into_iter()
            .partition(|(group_ids, _)| !group_ids.is_disjoint(&ids));
        groups = rest;
        for (group_ids, group_members) in joined {
            ids.extend(group_ids);
            members.extend(group_members);
        }
        groups.push((ids, members));
    }
    groups
        .into_iter()
        .filter_map(|(ids, members)| finding(distribution, ids, &members))
        .collect()
}

fn finding(
    distribution: &Distribution,
    ids: BTreeSet<String>,
    members: &[&Advisory],
) -> Option<Finding> {
    let primary = members
        .iter()
        .min_by(|a, b| id_rank(&a.record.id).cmp(&id_rank(&b.record.id)))?;
    let id = primary.record.id.clone();
    let aliases = ids.into_iter().filter(|alias| *alias != id).collect();
    let summary = primary
        .record
        .summary
        .clone()
        .or_else(|| {
            let details = primary.record.details.as_deref()?;
            details
                .lines()
                .find(|line| !line.trim().is_empty())
                .map(str::to_string)
        })
        .map(|text| text.trim().to_string());
    let mut severity: Vec<Severity> = Vec::new();
    for score in members.iter().flat_map(|member| &member.record.severity) {
        if !severity.contains(score) {
            severity.push(score.clone());
        }
    }
    let severity_label = std::iter::once(primary)
        .chain(members)
        .find_map(|member| member.record.severity_label())
        .map(str::to_string);
    let fix_versions: Vec<Version> = members
        .iter()
        .flat_map(|member| member.fixes(&distribution.name))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let lowest_fix = fix_versions
        .iter()
        .filter(|fix| **fix > distribution.version)
        .find(|fix| {
            !members
                .iter()
                .any(|member| member.affects(&distribution.name, fix))
        })
        .cloned();
    Some(Finding {
        package: distribution.name.clone(),
        version: distribution.version.clone(),
        id,
        aliases,
        summary,
        severity,
        severity_label,
        fix_versions,
        lowest_fix,
    })
}
