//! The OSV record format (<https://ossf.github.io/osv-schema/>), the part an audit reads.
//!
//! Unknown fields (references, credits, ...) are ignored; a known field of the wrong shape makes
//! the whole record unreadable, which the loader reports rather than hides.

use serde::Deserialize;

/// One OSV record: an advisory about one vulnerability.
#[derive(Debug, Clone, Deserialize)]
pub struct Vulnerability {
    /// The record's id (`PYSEC-2021-19`, `GHSA-...`).
    pub id: String,
    /// When the record last changed (RFC 3339); with `id`, the key of a cached record.
    pub modified: String,
    /// When the record was published.
    #[serde(default)]
    pub published: Option<String>,
    /// When the record was withdrawn: a withdrawn record affects nothing.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// Other ids of the same vulnerability (CVE, GHSA, other databases').
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A one-line summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// The full description.
    #[serde(default)]
    pub details: Option<String>,
    /// Severity scores (CVSS vectors).
    #[serde(default)]
    pub severity: Vec<Severity>,
    /// What is affected.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// The database's own fields; GitHub's records carry a `severity` label here.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

impl Vulnerability {
    /// The severity label of the database, if any (`HIGH`, `MODERATE`, ...).
    pub fn severity_label(&self) -> Option<&str> {
        self.database_specific.as_ref()?.get("severity")?.as_str()
    }
}

/// A severity score.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Severity {
    /// The scoring system (`CVSS_V3`, `CVSS_V4`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The score, as the system writes it (a CVSS vector).
    pub score: String,
}

/// The versions of one package that a record affects.
#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    /// The package; absent in records about a repository only.
    #[serde(default)]
    pub package: Option<Package>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Affected versions, listed one by one.
    #[serde(default)]
    pub versions: Vec<String>,
}

/// A package in an ecosystem.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    /// The ecosystem: only `PyPI` is audited.
    pub ecosystem: String,
    /// The package's name as the database writes it (not normalized).
    pub name: String,
}

/// A range of affected versions, as a list of events.
#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    /// How the events' versions are ordered.
    #[serde(rename = "type")]
    pub kind: RangeKind,
    /// The events, in any order.
    pub events: Vec<RangeEvent>,
}

/// How a range's versions are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RangeKind {
    /// The ecosystem's own ordering: PEP 440 for PyPI.
    Ecosystem,
    /// Semantic versioning; evaluated with PEP 440 for a PyPI package (see `matching`).
    Semver,
    /// Commit hashes of a repository: not comparable with a version, so ignored.
    Git,
}

/// One event of a range.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeEvent {
    /// Versions from this one on are affected (`"0"`: from the first).
    Introduced(String),
    /// Versions from this one on are not affected.
    Fixed(String),
    /// Versions after this one are not affected.
    LastAffected(String),
    /// Versions from this one on are outside the range (`"*"`: no limit).
    Limit(String),
}
