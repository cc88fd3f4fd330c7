//! Known vulnerabilities of installed distributions, from OSV records.
//!
//! Offline, [`AdvisoryDb::load`] reads a copy of an advisory database (the PyPA database's OSV
//! YAML, or OSV JSON) from a folder, a file, a zip or a tar.gz. Online, [`OsvClient`] asks the OSV
//! API. Both give the same [`Report`]: one [`Finding`] per vulnerability and distribution, records
//! that share an id or alias merged, with the lowest fixing version to upgrade to. The report
//! renders as a table, JSON or SARIF 2.1.0.
//!
//! A record that cannot be read never makes a package look safe: it is counted in the
//! [`LoadReport`], and every audit of a package it names lists it in [`Report::unreadable`].
//!
//! The online cache lives in the cache's `safevenv_cache::CacheBucket::Osv` (`osv-v1/`).

mod db;
mod matching;
mod online;
mod osv;
mod render;
mod report;
mod yaml;

pub use db::{AdvisoryDb, LoadError, LoadReport, MAX_RECORD_BYTES, MalformedRecord, RecordError};
pub use matching::CompileError;
pub use online::{
    BATCH_SIZE, DEFAULT_BATCH_TTL, DEFAULT_OSV_URL, FETCH_CONCURRENCY, OnlineError, OsvClient,
};
pub use osv::{Affected, Package, Range, RangeEvent, RangeKind, Severity, Vulnerability};
pub use render::{render_json, render_sarif, render_table};
pub use report::{Distribution, Finding, IgnoreList, Report, Unreadable};
pub use yaml::YamlError;
