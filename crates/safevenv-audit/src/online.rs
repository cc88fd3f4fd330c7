//! The online audit: the OSV API says which records affect each distribution (`querybatch`),
//! then the records themselves are fetched (`/v1/vulns/{id}`) and turned into the same
//! findings as an offline audit.
//!
//! Cache, in the cache's [`CacheBucket::Osv`] (`osv-v1/`):
//! - `queries/<name>/<version>.json`: a distribution's `(id, modified)` list, trusted for a TTL.
//! - `vulns/<id>/<modified>.json`: a record, valid forever: a changed record has a new `modified`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use safevenv_cache::{Cache, CacheBucket, CacheError, write_atomic};
use serde::Deserialize;
use serde_json::json;
use uv_redacted::DisplaySafeUrl;

use crate::db::AdvisoryDb;
use crate::osv::Vulnerability;
use crate::report::{Distribution, IgnoreList, Report};

/// The public OSV API. It is not a package index; it is configuration all the same (`--osv-url`).
pub const DEFAULT_OSV_URL: &str = "https://api.osv.dev";

/// The most queries the OSV API accepts in one `querybatch` request.
pub const BATCH_SIZE: usize = 1000;

/// How many records are fetched at once.
pub const FETCH_CONCURRENCY: usize = 8;

/// How long a cached `querybatch` answer is trusted: new advisories appear within this delay.
pub const DEFAULT_BATCH_TTL: Duration = Duration::from_secs(60 * 60);

/// The largest response body read, against a server that never stops sending.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The most `querybatch` pages followed for one batch, against a server that always has more.
const MAX_PAGES: usize = 100;

/// How long to wait for a connection, then for each read of a response.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A failure of the online audit.
#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// The OSV API URL given is not a URL.
    #[error("the OSV API URL is not valid: {reason}")]
    InvalidUrl {
        /// What is wrong with it (without the URL, which may hold credentials).
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot create the HTTP client for the OSV API")]
    Client(#[source] reqwest::Error),
    /// A request could not be sent, or its response not read.
    #[error("the request to `{url}` failed")]
    Request {
        /// The URL, credentials redacted.
        url: Box<DisplaySafeUrl>,
        /// What went wrong (without the URL).
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("`{url}` answered with HTTP status {status}")]
    Status {
        /// The URL, credentials redacted.
        url: Box<DisplaySafeUrl>,
        /// The status code.
        status: u16,
    },
    /// A response body larger than the limit.
    #[error("the response from `{url}` is larger than {limit} bytes")]
    TooLarge {
        /// The URL, credentials redacted.
        url: Box<DisplaySafeUrl>,
        /// The limit.
        limit: usize,
    },
    /// A response that is not the JSON expected.
    #[error("the response from `{url}` is not a valid OSV answer")]
    Decode {
        /// The URL, credentials redacted.
        url: Box<DisplaySafeUrl>,
        /// What does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A `querybatch` answer with a different number of results than queries.
    #[error("`{url}` answered {actual} results to {expected} queries")]
    BatchLength {
        /// The URL, credentials redacted.
        url: Box<DisplaySafeUrl>,
        /// Queries sent.
        expected: usize,
        /// Results received.
        actual: usize,
    },
    /// A `querybatch` answer that keeps announcing more pages.
    #[error("`{url}` announced more than {MAX_PAGES} pages of results")]
    TooManyPages {
        /// The URL, credentials redacted.
        url: Box<DisplaySafeUrl>,
    },
    /// An advisory id that is not made of letters, digits, `-`, `_` and `.`: it would be put in a
    /// URL path and a cache path, where `../` or `/` could reach elsewhere.
    #[error("`{url}` named the advisory id `{id}`, which is not a valid id")]
    InvalidId {
        /// The URL, credentials redacted.
        url: Box<DisplaySafeUrl>,
        /// The id as received.
        id: String,
    },
    /// A record fetched by id that carries another id.
    #[error("`{url}` returned the advisory `{actual}` instead of `{expected}`")]
    IdMismatch {
        /// The URL, credentials redacted.
        url: Box<DisplaySafeUrl>,
        /// The id asked for.
        expected: String,
        /// The id received.
        actual: String,
    },
    /// A cache directory could not be created.
    #[error("cannot create the cache directory `{}`", path.display())]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A cache entry could not be written.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// An id and the time its record last changed, as `querybatch` lists them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
struct VulnRef {
    id: String,
    #[serde(default)]
    modified: String,
}

#[derive(Deserialize)]
struct BatchResponse {
    #[serde(default)]
    results: Vec<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    #[serde(default)]
    vulns: Vec<VulnRef>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// A cached `querybatch` answer for one distribution.
#[derive(Deserialize)]
struct CachedQuery {
    /// Seconds since the Unix epoch.
    fetched: u64,
    vulns: Vec<VulnRef>,
}

/// A client of the OSV API.
#[derive(Debug, Clone)]
pub struct OsvClient {
    http: reqwest::Client,
    base: DisplaySafeUrl,
    cache: Option<PathBuf>,
    batch_ttl: Duration,
}

impl OsvClient {
    /// A client of the OSV API at `base_url` ([`DEFAULT_OSV_URL`] unless `--osv-url` says
    /// otherwise), without a cache.
    pub fn new(base_url: &str) -> Result<Self, OnlineError> {
        let base = DisplaySafeUrl::parse(base_url).map_err(|error| OnlineError::InvalidUrl {
            reason: match error {
                uv_redacted::DisplaySafeUrlError::Url(error) => error.to_string(),
                uv_redacted::DisplaySafeUrlError::AmbiguousAuthority(_) => {
                    "ambiguous user or password (not percent-encoded?)".to_string()
                }
            },
        })?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("safevenv/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|error| OnlineError::Client(error.without_url()))?;
        Ok(Self {
            http,
            base,
            cache: None,
            batch_ttl: DEFAULT_BATCH_TTL,
        })
    }

    /// Use `client` for requests (proxies, certificates and timeouts configured by the caller).
    #[must_use]
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self
    }

    /// Cache answers and records in `cache`.
    #[must_use]
    pub fn with_cache(mut self, cache: &Cache) -> Self {
        // Created when the first entry is written, not before: a cache-less run makes nothing.
        self.cache = Some(cache.root().join(CacheBucket::Osv.dir_name()));
        self
    }

    /// Trust a cached `querybatch` answer for `ttl` ([`DEFAULT_BATCH_TTL`] by default).
    #[must_use]
    pub fn with_batch_ttl(mut self, ttl: Duration) -> Self {
        self.batch_ttl = ttl;
        self
    }

    fn url(&self, path: &str) -> Result<DisplaySafeUrl, OnlineError> {
        let text = format!("{}/{path}", self.base.as_str().trim_end_matches('/'));
        DisplaySafeUrl::parse(&text).map_err(|error| OnlineError::InvalidUrl {
            reason: error.to_string(),
        })
    }

    /// Audit `distributions` with the OSV API: findings as [`AdvisoryDb::audit`] gives them.
    pub async fn audit(
        &self,
        distributions: &[Distribution],
        ignore: &IgnoreList,
    ) -> Result<Report, OnlineError> {
        let mut unique = distributions.to_vec();
        unique.sort();
        unique.dedup();
        let refs = self.query(&unique).await?;
        let mut wanted: Vec<&VulnRef> = refs.iter().flatten().collect();
        wanted.sort();
        wanted.dedup();
        let records: Vec<Vulnerability> = futures::stream::iter(wanted)
            .map(|vuln| self.record(vuln))
            .buffer_unordered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        let db = AdvisoryDb::from_records(records, &self.base.to_string());
        let findings = unique
            .iter()
            .zip(&refs)
            .flat_map(|(distribution, vulns)| {
                let ids: Vec<String> = vulns.iter().map(|vuln| vuln.id.clone()).collect();
                db.findings_for_ids(distribution, &ids)
            })
            .collect();
        Ok(Report::new(findings, ignore, db.unreadable_for(&unique)))
    }

    /// For each distribution, the records the OSV API says affect it: from the cache while
    /// fresh, else by `querybatch`, [`BATCH_SIZE`] distributions a request.
    async fn query(
        &self,
        distributions: &[Distribution],
    ) -> Result<Vec<Vec<VulnRef>>, OnlineError> {
        let mut answers: Vec<Option<Vec<VulnRef>>> = distributions
            .iter()
            .map(|distribution| self.cached_query(distribution))
            .collect();
        let missing: Vec<usize> = (0..distributions.len())
            .filter(|&index| answers[index].is_none())
            .collect();
        for chunk in missing.chunks(BATCH_SIZE) {
            let batch: Vec<&Distribution> =
                chunk.iter().map(|&index| &distributions[index]).collect();
            let results = self.querybatch(&batch).await?;
            for (&index, vulns) in chunk.iter().zip(results) {
                self.store_query(&distributions[index], &vulns)?;
                answers[index] = Some(vulns);
            }
        }
        Ok(answers.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// One batch, following each result's pages until none is left.
    async fn querybatch(&self, batch: &[&Distribution]) -> Result<Vec<Vec<VulnRef>>, OnlineError> {
        let url = self.url("v1/querybatch")?;
        let mut vulns: Vec<Vec<VulnRef>> = vec![Vec::new(); batch.len()];
        // (index in batch, page token) of the queries still to send.
        let mut pending: Vec<(usize, Option<String>)> =
            (0..batch.len()).map(|index| (index, None)).collect();
        for _ in 0..MAX_PAGES {
            if pending.is_empty() {
                return Ok(vulns);
            }
            let queries: Vec<_> = pending
                .iter()
                .map(|(index, token)| {
                    let distribution = batch[*index];
                    let mut query = json!({
                        "package": { "name": distribution.name.to_string(), "ecosystem": "PyPI" },
                        "version": distribution.version.to_string(),
                    });
                    if let Some(token) = token {
                        query["page_token"] = json!(token);
                    }
                    query
                })
                .collect();
            let body = json!({ "queries": queries }).to_string();
            let request = self
                .http
                .post(url.as_str())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            let bytes = self.send(&url, request).await?;
            let response: BatchResponse =
                serde_json::from_slice(&bytes).map_err(|source| OnlineError::Decode {
                    url: Box::new(url.clone()),
                    source,
                })?;
            if response.results.len() != pending.len() {
                return Err(OnlineError::BatchLength {
                    url: Box::new(url),
                    expected: pending.len(),
                    actual: response.results.len(),
                });
            }
            let mut next = Vec::new();
            for ((index, _), result) in pending.into_iter().zip(response.results) {
                for vuln in &result.vulns {
                    check_id(&url, &vuln.id)?;
                }
                vulns[index].extend(result.vulns);
                if let Some(token) = result.next_page_token.filter(|token| !token.is_empty()) {
                    next.push((index, Some(token)));
                }
            }
            pending = next;
        }
        if pending.is_empty() {
            Ok(vulns)
        } else {
            Err(OnlineError::TooManyPages { url: Box::new(url) })
        }
    }

    /// The record `vuln` names: from the cache, else fetched and cached.
    async fn record(&self, vuln: &VulnRef) -> Result<Vulnerability, OnlineError> {
        let entry = self.cache.as_ref().map(|dir| {
            dir.join("vulns")
                .join(&vuln.id)
                .join(format!("{}.json", cache_key(&vuln.modified)))
        });
        if let Some(entry) = &entry
            && let Some(record) = read_cached::<Vulnerability>(entry)
            && record.id == vuln.id
        {
            return Ok(record);
        }
        let url = self.url(&format!("v1/vulns/{}", vuln.id))?;
        let bytes = self.send(&url, self.http.get(url.as_str())).await?;
        let record: Vulnerability =
            serde_json::from_slice(&bytes).map_err(|source| OnlineError::Decode {
                url: Box::new(url.clone()),
                source,
            })?;
        if record.id != vuln.id {
            return Err(OnlineError::IdMismatch {
                url: Box::new(url),
                expected: vuln.id.clone(),
                actual: record.id,
            });
        }
        if let Some(entry) = &entry {
            store(entry, &bytes)?;
        }
        Ok(record)
    }

    /// Send `request` and read the whole body of a successful answer.
    async fn send(
        &self,
        url: &DisplaySafeUrl,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, OnlineError> {
        let request_error = |error: reqwest::Error| OnlineError::Request {
            url: Box::new(url.clone()),
            source: error.without_url(),
        };
        let mut response = request.send().await.map_err(request_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(OnlineError::Status {
                url: Box::new(url.clone()),
                status: status.as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(OnlineError::TooLarge {
                    url: Box::new(url.clone()),
                    limit: MAX_BODY_BYTES,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn query_entry(&self, distribution: &Distribution) -> Option<PathBuf> {
        // Normalized names are `[a-z0-9-]`, and versions print as `[0-9a-z.+!-]`: both are safe
        // as file names.
        Some(
            self.cache
                .as_ref()?
                .join("queries")
                .join(distribution.name.as_str())
                .join(format!("{}.json", distribution.version)),
        )
    }

    fn cached_query(&self, distribution: &Distribution) -> Option<Vec<VulnRef>> {
        let cached: CachedQuery = read_cached(&self.query_entry(distribution)?)?;
        let age = now().checked_sub(cached.fetched)?;
        let fresh = Duration::from_secs(age) < self.batch_ttl;
        let valid = cached.vulns.iter().all(|vuln| is_valid_id(&vuln.id));
        (fresh && valid).then_some(cached.vulns)
    }

    fn store_query(
        &self,
        distribution: &Distribution,
        vulns: &[VulnRef],
    ) -> Result<(), OnlineError> {
        let Some(entry) = self.query_entry(distribution) else {
            return Ok(());
        };
        // Built as a JSON value rather than serialized, so that writing it cannot fail.
        let vulns: Vec<_> = vulns
            .iter()
            .map(|vuln| json!({"id": vuln.id, "modified": vuln.modified}))
            .collect();
        let bytes = json!({"fetched": now(), "vulns": vulns})
            .to_string()
            .into_bytes();
        store(&entry, &bytes)
    }
}

/// Seconds since the Unix epoch (0 for a clock set before it, which makes every entry stale).
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `modified` as a file name: RFC 3339 times hold `:`, which some file systems refuse.
fn cache_key(modified: &str) -> String {
    modified
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An OSV id is used as a URL path segment and a cache directory: only `[A-Za-z0-9._-]`, not
/// starting with a dot (no `..`, no hidden entry).
fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_id(url: &DisplaySafeUrl, id: &str) -> Result<(), OnlineError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(OnlineError::InvalidId {
            url: Box::new(url.clone()),
            id: id.to_string(),
        })
    }
}

/// A cache entry, or `None` for a missing or unreadable one (a miss).
fn read_cached<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = fs_err::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn store(entry: &Path, bytes: &[u8]) -> Result<(), OnlineError> {
    if let Some(dir) = entry.parent() {
        fs_err::create_dir_all(dir).map_err(|source| OnlineError::CacheDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    write_atomic(entry, bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_leave_their_directory_are_refused() {
        for id in [
            "PYSEC-2021-19",
            "GHSA-jq4v-f5q6-mjqq",
            "CVE-2021-28957",
            "RUSTSEC-2021.1_x",
        ] {
            assert!(is_valid_id(id), "{id}");
        }
        for id in [
            "", "..", "../etc", "a/b", "a\\b", ".hidden", "id%2F", "id?x",
        ] {
            assert!(!is_valid_id(id), "{id}");
        }
    }

    #[test]
    fn cache_key_has_no_colon() {
        assert_eq!(cache_key("2021-03-30T18:47:00Z"), "2021-03-30T18_47_00Z");
    }
}
