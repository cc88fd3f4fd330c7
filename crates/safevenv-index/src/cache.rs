//! The on-disk HTTP cache of project pages and metadata, in the cache's `SimplePages` bucket.
//!
//! Layout: `<bucket>/<index-key>/pages/<name>.json` (an envelope holding the body, the validators
//! and the fetch time) and `<bucket>/<index-key>/metadata/<key>.METADATA` (raw core metadata).
//! `<index-key>` is a digest of the credential-free index URL, so indexes never share entries (a
//! hostile index cannot plant metadata that another index's lookups would read).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{CACHE_CONTROL, HeaderMap};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::debug;

use crate::error::IndexError;
use crate::index_url::IndexUrl;
use crate::simple::FileEntry;

/// What `Cache-Control` allows (RFC 9111 §5.2.2), for the directives we honour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheControl {
    /// `no-store`: never write the response.
    pub(crate) no_store: bool,
    /// `no-cache`: always revalidate before use.
    pub(crate) no_cache: bool,
    /// `max-age`: fresh for this many seconds.
    pub(crate) max_age: Option<u64>,
}

impl CacheControl {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let mut control = Self::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(value) = value.to_str() else { continue };
            for directive in value.split(',') {
                let directive = directive.trim().to_ascii_lowercase();
                match directive.split_once('=') {
                    Some(("max-age", seconds)) => {
                        control.max_age = seconds.trim_matches('"').parse().ok();
                    }
                    _ if directive == "no-store" => control.no_store = true,
                    _ if directive == "no-cache" => control.no_cache = true,
                    _ => {}
                }
            }
        }
        control
    }
}

/// A cached project page, or the index's answer that it has none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CachedPage {
    /// The index answered 404 or 410: the project is not there (as of `fetched_at`). With
    /// several indexes every one is asked for every name, so remembering "not here" for the
    /// page's freshness spares a request per name and index, and lets `--offline` answer.
    #[serde(default)]
    pub(crate) absent: bool,
    /// The page URL after redirects, without credentials (relative links resolve against it).
    pub(crate) url: String,
    /// Seconds since the Unix epoch when the page was fetched or last revalidated.
    pub(crate) fetched_at: u64,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
    pub(crate) max_age: Option<u64>,
    pub(crate) no_cache: bool,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

impl CachedPage {
    /// Fresh means usable without asking the server: the server's `max-age` when it sent one,
    /// else our own `ttl` (the index we target sends no cache headers at all).
    pub(crate) fn is_fresh(&self, ttl: Duration) -> bool {
        if self.no_cache {
            return false;
        }
        let ttl = self.max_age.unwrap_or(ttl.as_secs());
        now().saturating_sub(self.fetched_at) < ttl
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// The on-disk cache directory for the simple API.
#[derive(Debug, Clone)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn index_key(index: &IndexUrl) -> String {
    hex_digest(index.url_for_lockfile().as_str().as_bytes())[..16].to_string()
}

impl DiskCache {
    pub(crate) fn new(cache: &safevenv_cache::Cache) -> Result<Self, IndexError> {
        Ok(Self {
            dir: cache.bucket(safevenv_cache::CacheBucket::SimplePages)?,
        })
    }

    pub(crate) fn page_path(&self, index: &IndexUrl, name: &uv_normalize::PackageName) -> PathBuf {
        self.dir
            .join(index_key(index))
            .join("pages")
            .join(format!("{name}.json"))
    }

    /// Metadata keyed by the artifact's SHA-256 when the index gives one, else by its URL:
    /// artifacts are immutable once uploaded, so the entry never needs revalidation.
    pub(crate) fn metadata_path(&self, index: &IndexUrl, file: &FileEntry) -> PathBuf {
        let key = match file.sha256() {
            Some(digest) if digest.bytes().all(|byte| byte.is_ascii_hexdigit()) => {
                format!("sha256-{digest}")
            }
            _ => format!(
                "url-{}",
                hex_digest(file.url.without_credentials().as_str().as_bytes())
            ),
        };
        self.dir
            .join(index_key(index))
            .join("metadata")
            .join(format!("{key}.METADATA"))
    }

    /// Read a page entry; a missing or unreadable-as-JSON entry is a miss.
    pub(crate) fn read_page(&self, path: &Path) -> Result<Option<CachedPage>, IndexError> {
        let Some(bytes) = read_entry(path)? else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(page) => Ok(Some(page)),
            Err(error) => {
                debug!("ignoring the bad cache entry `{}`: {error}", path.display());
                Ok(None)
            }
        }
    }

    pub(crate) fn write_page(&self, path: &Path, page: &CachedPage) -> Result<(), IndexError> {
        // Serializing plain strings and numbers cannot fail.
        let bytes = serde_json::to_vec(page).unwrap_or_default();
        write_entry(path, &bytes)
    }

    pub(crate) fn read_metadata(&self, path: &Path) -> Result<Option<Vec<u8>>, IndexError> {
        read_entry(path)
    }

    pub(crate) fn write_metadata(&self, path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
        write_entry(path, bytes)
    }
}

fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, IndexError> {
    match fs_err::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(IndexError::CacheRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write_entry(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(|source| {
            IndexError::Cache(safevenv_cache::CacheError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })
        })?;
    }
    safevenv_cache::write_atomic(path, bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn cache_control_directives() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, Max-Age=60, no-cache"),
        );
        let control = CacheControl::from_headers(&headers);
        assert_eq!(control.max_age, Some(60));
        assert!(control.no_cache);
        assert!(!control.no_store);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert!(CacheControl::from_headers(&headers).no_store);
        assert_eq!(
            CacheControl::from_headers(&HeaderMap::new()),
            CacheControl::default()
        );
    }

    #[test]
    fn freshness_uses_max_age_then_ttl() {
        let page = |fetched_at, max_age, no_cache| CachedPage {
            absent: false,
            url: String::new(),
            fetched_at,
            etag: None,
            last_modified: None,
            max_age,
            no_cache,
            content_type: String::new(),
            body: String::new(),
        };
        let ttl = Duration::from_secs(600);
        assert!(page(now(), None, false).is_fresh(ttl));
        assert!(!page(now() - 700, None, false).is_fresh(ttl));
        assert!(page(now() - 700, Some(1000), false).is_fresh(ttl));
        assert!(!page(now(), Some(0), false).is_fresh(ttl));
        assert!(!page(now(), None, true).is_fresh(ttl));
    }
}
