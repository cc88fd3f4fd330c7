//! [`IndexClient`]: project pages and wheel metadata, memoised, cached on disk, fetched concurrently.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, RANGE,
};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tracing::debug;
use url::Url;
use uv_distribution_filename::{DistFilename, WheelFilename};
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_redacted::DisplaySafeUrl;

use crate::auth::{Authenticator, netrc_path};
use crate::cache::{CacheControl, CachedPage, DiskCache, now};
use crate::error::IndexError;
use crate::http::{Http, HttpOptions, Response};
use crate::index_url::{IndexUrl, IndexUrls};
use crate::metadata::{
    METADATA_LIMIT, MetadataSource, SparseFile, WheelMetadata, ZipStage, parse_content_range,
    parse_wheel_metadata, read_wheel_metadata,
};
use crate::simple::{ACCEPT as SIMPLE_ACCEPT, CoreMetadataLink, FileEntry, ProjectPage};

/// The largest project page we read (64 MiB); the biggest real ones are a few MiB.
const PAGE_LIMIT: u64 = 64 * 1024 * 1024;
/// The largest wheel we download whole when ranges are not available.
const WHEEL_LIMIT: u64 = 1024 * 1024 * 1024;
/// The first range request: the last 64 KiB hold the end-of-central-directory record and, for
/// most wheels, the whole central directory.
const TAIL_BYTES: u64 = 64 * 1024;
/// The first read of the `METADATA` entry (local header and compressed data); grows 4x per retry.
const ENTRY_BYTES: u64 = 64 * 1024;
/// Range requests after the first, before giving up on ranges and downloading the wheel.
const MAX_EXTRA_RANGES: u32 = 5;
/// Bytes fetched by range requests, in all, before downloading the wheel instead.
const RANGE_BUDGET: u64 = 64 * 1024 * 1024;

/// The environment variable with the project page freshness, in seconds.
pub const TTL_ENV: &str = "SAFEVENV_INDEX_TTL";

/// How an [`IndexClient`] behaves. Build with [`IndexClientOptions::new`], then adjust fields.
#[derive(Debug, Clone)]
pub struct IndexClientOptions {
    /// The indexes to search.
    pub indexes: IndexUrls,
    /// The on-disk cache; `None` keeps nothing on disk.
    pub cache: Option<safevenv_cache::Cache>,
    /// Use the cache only; a miss is an error.
    pub offline: bool,
    /// How long a project page is used without asking the server again, when the server does not
    /// say (`Cache-Control: max-age`). After that it is revalidated (`If-None-Match`).
    pub page_ttl: Duration,
    /// Timeouts, retries, concurrency.
    pub http: HttpOptions,
    /// The netrc file to read credentials from.
    pub netrc: Option<PathBuf>,
    /// Projects pinned to one index (the policy's `[sources.packages]`): such a project is
    /// looked up on that index only, configured or not.
    pub pins: BTreeMap<PackageName, IndexUrl>,
}

impl IndexClientOptions {
    /// Defaults: no disk cache, online, pages fresh for 10 minutes, no netrc.
    pub fn new(indexes: IndexUrls) -> Self {
        Self {
            indexes,
            cache: None,
            offline: false,
            page_ttl: Duration::from_secs(600),
            http: HttpOptions::default(),
            netrc: None,
            pins: BTreeMap::new(),
        }
    }

    /// Read `SAFEVENV_INDEX_TTL` (seconds) and the netrc location (`NETRC`, else `~/.netrc`) from
    /// the process environment.
    pub fn with_process_env(self) -> Result<Self, IndexError> {
        self.with_env(|key| std::env::var(key).ok())
    }

    /// [`IndexClientOptions::with_process_env`] with the environment as a lookup function.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Result<Self, IndexError> {
        if let Some(value) = env(TTL_ENV).filter(|value| !value.trim().is_empty()) {
            let seconds = value.trim().parse().map_err(|_| IndexError::InvalidTtl {
                value: value.clone(),
            })?;
            self.page_ttl = Duration::from_secs(seconds);
        }
        self.netrc = netrc_path(&env);
        Ok(self)
    }
}

type Memo<K, V> = Mutex<HashMap<K, Arc<OnceCell<V>>>>;
type IndexPages = Memo<(IndexUrl, PackageName), Option<Arc<CachedPage>>>;

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) http: Arc<Http>,
    indexes: IndexUrls,
    disk: Option<DiskCache>,
    pub(crate) offline: bool,
    page_ttl: Duration,
    pins: BTreeMap<PackageName, IndexUrl>,
    pages: Memo<PackageName, Found>,
    /// Pages as fetched, for [`IndexClient::project_file`]: the index that has the project and
    /// its page, unparsed.
    raw_pages: Memo<PackageName, Option<(IndexUrl, Arc<CachedPage>)>>,
    /// Pages of one named index, for [`IndexClient::index_file`] (a lockfile names the index of
    /// each package).
    index_pages: IndexPages,
    metadata: Memo<String, Arc<WheelMetadata>>,
}

/// The index client. Cheap to clone (one `Arc`); clones share the connection pool, the
/// concurrency limit and the memo of pages and metadata, so concurrent asks for the same page or
/// metadata make one request.
#[derive(Debug, Clone)]
pub struct IndexClient {
    pub(crate) inner: Arc<Inner>,
}

fn lock<K, V>(memo: &Memo<K, V>) -> MutexGuard<'_, HashMap<K, Arc<OnceCell<V>>>> {
    // A panic elsewhere while holding the lock leaves the map itself consistent.
    memo.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn memo_cell<K: std::hash::Hash + Eq, V>(memo: &Memo<K, V>, key: K) -> Arc<OnceCell<V>> {
    lock(memo).entry(key).or_default().clone()
}

/// What the indexes asked for a project said.
#[derive(Debug, Clone)]
struct Found {
    /// The page resolution reads: from the first index, in search order, whose page lists a
    /// file (else the first page found, empty); `None` when no index has the project.
    page: Option<Arc<ProjectPage>>,
    /// The other indexes whose page lists a file, and which PEP 708 does not declare to serve
    /// the same project.
    unlinked: Vec<IndexUrl>,
}

/// A page as fetched, and parsed when that was how it was checked before caching.
struct FetchedPage {
    cached: CachedPage,
    parsed: Option<ProjectPage>,
}

/// The URL a cached page was fetched from (after redirects): what its links are relative to.
fn page_url(cached: &CachedPage, index: &IndexUrl, name: &PackageName) -> Result<Url, IndexError> {
    Url::parse(&cached.url).map_err(|source| IndexError::Link {
        url: index.project_url(name),
        href: cached.url.clone(),
        source,
    })
}

/// How the page body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageFormat {
    Json,
    Html,
}

fn page_format(content_type: &str, body: &str) -> Option<PageFormat> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/vnd.pypi.simple.v1+json"
        | "application/vnd.pypi.simple.latest+json"
        | "application/json" => Some(PageFormat::Json),
        "application/vnd.pypi.simple.v1+html"
        | "application/vnd.pypi.simple.latest+html"
        | "text/html" => Some(PageFormat::Html),
        // Some static servers send no type: PEP 503 pages are HTML, PEP 691 ones a JSON object.
        "" if body.trim_start().starts_with('{') => Some(PageFormat::Json),
        "" => Some(PageFormat::Html),
        _ => None,
    }
}

/// The entry of `filename` on a cached page of `name` from `index`; a JSON page is read only as
/// far as finding it.
fn find_file(
    cached: &CachedPage,
    index: &IndexUrl,
    name: &PackageName,
    filename: &str,
) -> Result<Option<FileEntry>, IndexError> {
    let url = page_url(cached, index, name)?;
    match page_format(&cached.content_type, &cached.body) {
        Some(PageFormat::Json) => crate::simple::find_json_file(&cached.body, &url, name, filename),
        Some(PageFormat::Html) => Ok(crate::simple::parse_html(&cached.body, &url, name, index)?
            .files
            .into_iter()
            .find(|file| file.raw_filename == filename)),
        None => Err(IndexError::ContentType {
            url: DisplaySafeUrl::from_url(url),
            content_type: cached.content_type.clone(),
        }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl IndexClient {
    /// A client for `options`. Makes no request.
    pub fn new(options: IndexClientOptions) -> Result<Self, IndexError> {
        let auth = Authenticator::new(
            options.indexes.iter().chain(options.pins.values()),
            options.netrc.clone(),
        );
        let http = Http::new(options.http.clone(), auth);
        let disk = options.cache.as_ref().map(DiskCache::new).transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                indexes: options.indexes,
                disk,
                offline: options.offline,
                page_ttl: options.page_ttl,
                pins: options.pins,
                pages: Mutex::default(),
                raw_pages: Mutex::default(),
                index_pages: Mutex::default(),
                metadata: Mutex::default(),
            }),
        })
    }

    /// The indexes this client searches.
    pub fn indexes(&self) -> &IndexUrls {
        &self.inner.indexes
    }

    /// The indexes a project is looked up on: its pinned index alone, else every configured
    /// index, the main one first.
    pub fn search_order(&self, name: &PackageName) -> Vec<&IndexUrl> {
        match self.inner.pins.get(name) {
            Some(pin) => vec![pin],
            None => self.inner.indexes.iter().collect(),
        }
    }

    /// The project's page: from its pinned index, else from the first configured index whose
    /// page lists a file; `None` if no index has it. Versions are never merged across indexes.
    pub async fn project(
        &self,
        name: &PackageName,
    ) -> Result<Option<Arc<ProjectPage>>, IndexError> {
        Ok(self.found(name).await?.page)
    }

    /// The other configured indexes that also serve `name` (their page lists a file) and that
    /// PEP 708 does not declare to serve the same project as the index [`IndexClient::project`]
    /// reads. Empty for a pinned project, and with one configured index. Makes no request once
    /// the project was looked up.
    pub async fn also_served_by(&self, name: &PackageName) -> Result<Vec<IndexUrl>, IndexError> {
        Ok(self.found(name).await?.unlinked)
    }

    async fn found(&self, name: &PackageName) -> Result<Found, IndexError> {
        let cell = memo_cell(&self.inner.pages, name.clone());
        cell.get_or_try_init(|| self.find(name)).await.cloned()
    }

    /// Ask the indexes of [`IndexClient::search_order`] for `name`.
    ///
    /// Security (dependency confusion, PEP 708): with several indexes, every one is asked, not
    /// only until one has the name, so that a name registered on a second index (typically a
    /// private project's name on a public index) is seen and reported instead of silently
    /// winning or losing by index order. An index that cannot answer fails the lookup: its
    /// silence cannot be told from "not here". The pages are asked concurrently and through the
    /// page cache; with one index (or a pinned project) this is the single request it always was.
    async fn find(&self, name: &PackageName) -> Result<Found, IndexError> {
        let order = self.search_order(name);
        if let [index] = order.as_slice() {
            let page = self.fetch_page(index, name).await?;
            if page.is_none() {
                debug!("`{name}` is not on `{index}`");
            }
            return Ok(Found {
                page: page.map(Arc::new),
                unlinked: Vec::new(),
            });
        }
        let answers = futures::future::join_all(order.iter().map(|index| async move {
            self.fetch_page(index, name)
                .await
                .map_err(|source| IndexError::Unanswered {
                    name: name.clone(),
                    index: index.to_string(),
                    source: Box::new(source),
                })
        }))
        .await;
        let mut serving = Vec::new();
        let mut empty = None;
        for (index, answer) in order.iter().zip(answers) {
            match answer? {
                Some(page) if !page.files.is_empty() => serving.push(page),
                Some(page) => {
                    debug!("`{name}` has no files on `{index}`");
                    empty.get_or_insert(page);
                }
                None => debug!("`{name}` is not on `{index}`"),
            }
        }
        let mut serving = serving.into_iter();
        let Some(chosen) = serving.next() else {
            return Ok(Found {
                page: empty.map(Arc::new),
                unlinked: Vec::new(),
            });
        };
        let unlinked = serving
            .filter(|other| {
                let linked = crate::namespace::one_project(&chosen, other);
                if linked {
                    debug!(
                        "`{name}` on `{}` and on `{}` is one project (PEP 708)",
                        chosen.index, other.index
                    );
                }
                !linked
            })
            .map(|other| other.index)
            .collect();
        Ok(Found {
            page: Some(Arc::new(chosen)),
            unlinked,
        })
    }

    /// The entry of the artifact `filename` on the page of `name` from the first index (in
    /// [`IndexClient::search_order`]) that has the project, or `None` when that page does not list it. Like [`IndexClient::project`],
    /// but a JSON page is only read as far as finding the entry: pages of projects with many
    /// releases run to megabytes, and parsing every file of every release to look up one costs
    /// more than a warm install.
    pub async fn project_file(
        &self,
        name: &PackageName,
        filename: &str,
    ) -> Result<Option<FileEntry>, IndexError> {
        let parsed = lock(&self.inner.pages)
            .get(name)
            .and_then(|cell| cell.get().cloned());
        if let Some(found) = parsed {
            let page = found.page.ok_or_else(|| self.not_found(name))?;
            return Ok(page
                .files
                .iter()
                .find(|file| file.raw_filename == filename)
                .cloned());
        }
        let cell = memo_cell(&self.inner.raw_pages, name.clone());
        let found = cell
            .get_or_try_init(|| async {
                for index in self.search_order(name) {
                    if let Some(fetched) = self.fetch_cached_page(index, name, false).await? {
                        return Ok::<_, IndexError>(Some((
                            index.clone(),
                            Arc::new(fetched.cached),
                        )));
                    }
                    debug!("`{name}` is not on `{index}`");
                }
                Ok(None)
            })
            .await?
            .clone();
        let (index, cached) = found.ok_or_else(|| self.not_found(name))?;
        find_file(&cached, &index, name, filename)
    }

    /// The entry of the artifact `filename` on the page of `name` on `index` (one index, named
    /// by the caller: a lockfile records each package's index, and its names are asked of that
    /// index only), or `None` when that index does not have the project or its page does not
    /// list the file.
    ///
    /// The page is memoised like the others, read from the disk cache while fresh. With
    /// `revalidate` it is asked of the index again (with its validators) even when fresh, and
    /// replaces the memoised one: for a caller that found the cached page stale for what it
    /// looks for. Offline, the cached page is all there is.
    pub async fn index_file(
        &self,
        index: &IndexUrl,
        name: &PackageName,
        filename: &str,
        revalidate: bool,
    ) -> Result<Option<FileEntry>, IndexError> {
        let key = (index.clone(), name.clone());
        let cell = if revalidate && !self.inner.offline {
            let cell = Arc::new(OnceCell::new());
            lock(&self.inner.index_pages).insert(key, cell.clone());
            cell
        } else {
            memo_cell(&self.inner.index_pages, key)
        };
        let page = cell
            .get_or_try_init(|| async {
                Ok::<_, IndexError>(
                    self.fetch_page_as(index, name, false, revalidate)
                        .await?
                        .map(|fetched| Arc::new(fetched.cached)),
                )
            })
            .await?
            .clone();
        match page {
            Some(cached) => find_file(&cached, index, name, filename),
            None => Ok(None),
        }
    }

    fn not_found(&self, name: &PackageName) -> IndexError {
        IndexError::ProjectNotFound {
            name: name.clone(),
            indexes: self
                .search_order(name)
                .into_iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("`, `"),
        }
    }

    /// Like [`IndexClient::project`], with a missing project as an error naming the indexes.
    pub async fn require_project(
        &self,
        name: &PackageName,
    ) -> Result<Arc<ProjectPage>, IndexError> {
        self.project(name)
            .await?
            .ok_or_else(|| self.not_found(name))
    }

    /// The versions of a project (all artifacts, yanked included), ascending; empty when the
    /// project is not found.
    pub async fn versions(&self, name: &PackageName) -> Result<Vec<Version>, IndexError> {
        Ok(self
            .project(name)
            .await?
            .map(|page| page.versions())
            .unwrap_or_default())
    }

    /// The metadata of one distribution, read from one of its wheels: the first that is not yanked,
    /// else the first. (All wheels of a version carry the same dependencies in practice.)
    pub async fn version_metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<WheelMetadata>, IndexError> {
        let page = self.require_project(name).await?;
        let wheels = || page.files_for(version).filter(|file| file.is_wheel());
        let file = wheels()
            .find(|file| !file.yanked.is_yanked())
            .or_else(|| wheels().next())
            .ok_or_else(|| IndexError::NoWheel {
                name: name.clone(),
                version: version.clone(),
            })?;
        self.wheel_metadata(&page.index, file).await
    }

    /// Start fetching the pages and metadata of `items` in the background and return at once.
    /// Results land in the memo, where later calls find them; errors are reported by those calls.
    /// Outside a Tokio runtime this does nothing.
    pub fn prefetch(&self, items: &[(PackageName, Version)]) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            debug!("prefetch skipped: no runtime");
            return;
        };
        for (name, version) in items {
            let client = self.clone();
            let (name, version) = (name.clone(), version.clone());
            runtime.spawn(async move {
                if let Err(error) = client.version_metadata(&name, &version).await {
                    debug!("prefetch of `{name}` `{version}` failed: {error}");
                }
            });
        }
    }

    /// Fetch (or read from the cache) one index's page for `name`, parsed; `None` on 404/410.
    async fn fetch_page(
        &self,
        index: &IndexUrl,
        name: &PackageName,
    ) -> Result<Option<ProjectPage>, IndexError> {
        let Some(fetched) = self.fetch_cached_page(index, name, true).await? else {
            return Ok(None);
        };
        match fetched.parsed {
            Some(page) => Ok(Some(page)),
            None => self.parse_cached(&fetched.cached, index, name).map(Some),
        }
    }

    /// Fetch (or read from the cache) one index's page for `name`, as received; `None` on
    /// 404/410. A page is read before it is cached, so that the cache holds no page that does
    /// not parse: whole when `whole` (and then returned parsed), else, for a JSON page, only its
    /// outline.
    async fn fetch_cached_page(
        &self,
        index: &IndexUrl,
        name: &PackageName,
        whole: bool,
    ) -> Result<Option<FetchedPage>, IndexError> {
        self.fetch_page_as(index, name, whole, false).await
    }

    /// [`IndexClient::fetch_cached_page`]; with `revalidate`, a fresh cached page is asked
    /// again too.
    async fn fetch_page_as(
        &self,
        index: &IndexUrl,
        name: &PackageName,
        whole: bool,
        revalidate: bool,
    ) -> Result<Option<FetchedPage>, IndexError> {
        let unparsed = |cached| {
            Some(FetchedPage {
                cached,
                parsed: None,
            })
        };
        let url = index.project_url(name);
        let path = self
            .inner
            .disk
            .as_ref()
            .map(|disk| (disk, disk.page_path(index, name)));
        let cached = match &path {
            Some((disk, path)) => disk.read_page(path)?,
            None => None,
        };
        if self.inner.offline {
            return match cached {
                Some(cached) if cached.absent => Ok(None),
                Some(cached) => Ok(unparsed(cached)),
                None => Err(IndexError::OfflineMiss { url }),
            };
        }
        if !revalidate
            && cached
                .as_ref()
                .is_some_and(|cached| cached.is_fresh(self.inner.page_ttl))
        {
            debug!("`{url}` is fresh in the cache");
            return Ok(cached.filter(|cached| !cached.absent).and_then(unparsed));
        }
        // A remembered "not found" has nothing to revalidate: it is asked for afresh.
        let cached = cached.filter(|cached| !cached.absent);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(SIMPLE_ACCEPT));
        if let Some(cached) = &cached {
            if let Some(value) = cached
                .etag
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                headers.insert(IF_NONE_MATCH, value);
            }
            if let Some(value) = cached
                .last_modified
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                headers.insert(IF_MODIFIED_SINCE, value);
            }
        }
        let response = self.inner.http.get(&url, headers, PAGE_LIMIT).await?;
        let control = CacheControl::from_headers(&response.headers);
        match response.status {
            StatusCode::NOT_MODIFIED => {
                let Some(mut cached) = cached else {
                    // We sent no validator, so a 304 makes no sense.
                    return Err(IndexError::Status { url, status: 304 });
                };
                debug!("`{url}` revalidated (304)");
                cached.fetched_at = now();
                if control.max_age.is_some() {
                    cached.max_age = control.max_age;
                }
                if let Some((disk, path)) = &path {
                    disk.write_page(path, &cached)?;
                }
                Ok(unparsed(cached))
            }
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                if let Some((disk, path)) = &path
                    && !control.no_store
                {
                    let absent = CachedPage {
                        absent: true,
                        url: response.url.to_string(),
                        fetched_at: now(),
                        etag: None,
                        last_modified: None,
                        max_age: control.max_age,
                        no_cache: control.no_cache,
                        content_type: String::new(),
                        body: String::new(),
                    };
                    disk.write_page(path, &absent)?;
                }
                Ok(None)
            }
            status if status.is_success() => {
                let cached = CachedPage {
                    absent: false,
                    url: response.url.to_string(),
                    fetched_at: now(),
                    etag: response.header(ETAG).map(str::to_string),
                    last_modified: response.header(LAST_MODIFIED).map(str::to_string),
                    max_age: control.max_age,
                    no_cache: control.no_cache,
                    content_type: response
                        .header(CONTENT_TYPE)
                        .unwrap_or_default()
                        .to_string(),
                    body: String::from_utf8(response.body).map_err(|_| IndexError::NotUtf8 {
                        url: DisplaySafeUrl::from_url(response.url.clone()),
                    })?,
                };
                // Only a page that reads is cached.
                let url = page_url(&cached, index, name)?;
                let format = page_format(&cached.content_type, &cached.body);
                let parsed = if !whole && format == Some(PageFormat::Json) {
                    crate::simple::check_json_outline(&cached.body, &url)?;
                    None
                } else {
                    Some(self.parse_cached(&cached, index, name)?)
                };
                if let Some((disk, path)) = &path
                    && !control.no_store
                {
                    disk.write_page(path, &cached)?;
                }
                Ok(Some(FetchedPage { cached, parsed }))
            }
            status => Err(IndexError::Status {
                url,
                status: status.as_u16(),
            }),
        }
    }

    fn parse_cached(
        &self,
        cached: &CachedPage,
        index: &IndexUrl,
        name: &PackageName,
    ) -> Result<ProjectPage, IndexError> {
        let url = page_url(cached, index, name)?;
        match page_format(&cached.content_type, &cached.body) {
            Some(PageFormat::Json) => crate::simple::parse_json(&cached.body, &url, name, index),
            Some(PageFormat::Html) => crate::simple::parse_html(&cached.body, &url, name, index),
            None => Err(IndexError::ContentType {
                url: DisplaySafeUrl::from_url(url),
                content_type: cached.content_type.clone(),
            }),
        }
    }

    /// The core metadata of the wheel `file` listed on `index`, memoised and cached on disk for good
    /// (an uploaded artifact never changes).
    ///
    /// 1. The PEP 658 `.metadata` file when the index advertises one, checked against its
    ///    advertised SHA-256.
    /// 2. Otherwise HTTP range requests: the wheel's tail (end of central directory), the rest of
    ///    the central directory if needed, then the `METADATA` entry.
    /// 3. If the server ignores ranges or the zip needs more than a few ranges, the whole wheel.
    pub async fn wheel_metadata(
        &self,
        index: &IndexUrl,
        file: &FileEntry,
    ) -> Result<Arc<WheelMetadata>, IndexError> {
        let key = file.url.without_credentials().to_string();
        let cell = memo_cell(&self.inner.metadata, key);
        cell.get_or_try_init(|| async { self.fetch_metadata(index, file).await.map(Arc::new) })
            .await
            .cloned()
    }

    async fn fetch_metadata(
        &self,
        index: &IndexUrl,
        file: &FileEntry,
    ) -> Result<WheelMetadata, IndexError> {
        let DistFilename::WheelFilename(filename) = &file.filename else {
            return Err(IndexError::NotAWheel {
                url: file.url.clone(),
                filename: file.raw_filename.clone(),
            });
        };
        let path = self
            .inner
            .disk
            .as_ref()
            .map(|disk| (disk, disk.metadata_path(index, file)));
        if let Some((disk, path)) = &path
            && let Some(raw) = disk.read_metadata(path)?
        {
            match parse_wheel_metadata(raw, MetadataSource::Cache, &file.url, filename) {
                Ok(metadata) => return Ok(metadata),
                Err(error) => debug!("ignoring the cache entry `{}`: {error}", path.display()),
            }
        }
        if self.inner.offline {
            return Err(IndexError::OfflineMiss {
                url: file.url.clone(),
            });
        }
        let (raw, source) = match &file.core_metadata {
            CoreMetadataLink::Available { hashes } => (
                self.fetch_metadata_file(file, hashes.get("sha256").map(String::as_str))
                    .await?,
                MetadataSource::MetadataFile,
            ),
            CoreMetadataLink::Absent => self.metadata_by_ranges(&file.url, filename).await?,
        };
        let metadata = parse_wheel_metadata(raw, source, &file.url, filename)?;
        if let Some((disk, path)) = &path {
            disk.write_metadata(path, &metadata.raw)?;
        }
        Ok(metadata)
    }

    /// Step 1: the `.metadata` file. Security: PEP 658 gives the file's hash so that an index's
    /// metadata cannot differ from what the index vouched for; a mismatch is refused.
    async fn fetch_metadata_file(
        &self,
        file: &FileEntry,
        sha256: Option<&str>,
    ) -> Result<Vec<u8>, IndexError> {
        let url = file.metadata_url();
        let response = self
            .inner
            .http
            .get(&url, HeaderMap::new(), METADATA_LIMIT)
            .await?;
        if !response.status.is_success() {
            return Err(IndexError::Status {
                url,
                status: response.status.as_u16(),
            });
        }
        if let Some(expected) = sha256 {
            let actual = hex(&Sha256::digest(&response.body));
            if actual != expected {
                return Err(IndexError::MetadataHashMismatch {
                    url,
                    expected: expected.to_string(),
                    actual,
                });
            }
        }
        Ok(response.body)
    }

    /// One range request. `Ok(Err(body))` when the server sent the whole file instead (200).
    ///
    /// `expected` is `(first byte, file length)` for a range after the first, whose answer must
    /// start there and describe the same file; `max_len` bounds the part's length.
    async fn fetch_range(
        &self,
        url: &DisplaySafeUrl,
        range: &str,
        expected: Option<(u64, u64)>,
        max_len: u64,
    ) -> Result<Result<(u64, u64, Vec<u8>), Vec<u8>>, IndexError> {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(range) {
            headers.insert(RANGE, value);
        }
        // A compressed partial response would make offsets meaningless.
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let response: Response = self.inner.http.get(url, headers, WHEEL_LIMIT).await?;
        match response.status {
            StatusCode::PARTIAL_CONTENT => {
                let value = response
                    .header(reqwest::header::CONTENT_RANGE)
                    .unwrap_or("missing");
                let bad = || IndexError::ContentRange {
                    url: url.clone(),
                    value: value.to_string(),
                };
                let content_range = parse_content_range(value).ok_or_else(bad)?;
                // The body must be exactly the range claimed, no longer than asked, start where
                // we asked, and belong to a file of the same length (else it changed under us).
                let len = content_range.last - content_range.first + 1;
                if len != response.body.len() as u64
                    || len > max_len
                    || expected.is_some_and(|(first, total)| {
                        first != content_range.first || total != content_range.total
                    })
                {
                    return Err(bad());
                }
                Ok(Ok((
                    content_range.first,
                    content_range.total,
                    response.body,
                )))
            }
            StatusCode::OK => Ok(Err(response.body)),
            status => Err(IndexError::Status {
                url: url.clone(),
                status: status.as_u16(),
            }),
        }
    }

    /// Steps 2 and 3 of [`IndexClient::wheel_metadata`].
    async fn metadata_by_ranges(
        &self,
        url: &DisplaySafeUrl,
        filename: &WheelFilename,
    ) -> Result<(Vec<u8>, MetadataSource), IndexError> {
        let whole = |bytes: Vec<u8>| {
            read_wheel_metadata(Cursor::new(bytes), url, filename)
                .map(|raw| (raw, MetadataSource::WholeWheel))
                .map_err(|(_, error)| error)
        };
        let (first, total, tail) = match self
            .fetch_range(url, &format!("bytes=-{TAIL_BYTES}"), None, TAIL_BYTES)
            .await?
        {
            Ok(part) => part,
            Err(body) => {
                debug!("`{url}` ignores range requests: read the whole wheel");
                return whole(body);
            }
        };
        let mut fetched = tail.len() as u64;
        let mut sparse = SparseFile::new(total);
        sparse.insert(first, tail);
        let mut entry_bytes = ENTRY_BYTES;
        for _ in 0..=MAX_EXTRA_RANGES {
            let outcome = read_wheel_metadata(&mut sparse, url, filename);
            let gap = sparse.take_gap();
            let (stage, error) = match outcome {
                Ok(raw) => return Ok((raw, MetadataSource::RangeRequests)),
                Err(failure) => failure,
            };
            let Some(gap) = gap else {
                // Not for want of bytes: dist-info problems are final; other zip oddities may
                // be the sparse view's, so read the whole wheel.
                return match error {
                    IndexError::Zip { .. } => self.whole_wheel(url, filename).await,
                    error => Err(error),
                };
            };
            // The central directory runs up to the next bytes we have; an entry is small, so ask
            // for a little and grow.
            let next = sparse.next_start(gap);
            let end = match stage {
                ZipStage::Directory => next,
                ZipStage::Entry => next.min(gap.saturating_add(entry_bytes)),
            };
            entry_bytes = entry_bytes.saturating_mul(4);
            fetched += end - gap;
            if fetched > RANGE_BUDGET {
                break;
            }
            match self
                .fetch_range(
                    url,
                    &format!("bytes={gap}-{}", end - 1),
                    Some((gap, total)),
                    end - gap,
                )
                .await?
            {
                Ok((start, _, bytes)) => sparse.insert(start, bytes),
                Err(body) => return whole(body),
            }
        }
        debug!("`{url}` needs too many range requests: read the whole wheel");
        self.whole_wheel(url, filename).await
    }

    /// Step 3: download the whole wheel (size-capped) and read its metadata.
    async fn whole_wheel(
        &self,
        url: &DisplaySafeUrl,
        filename: &WheelFilename,
    ) -> Result<(Vec<u8>, MetadataSource), IndexError> {
        let response = self
            .inner
            .http
            .get(url, HeaderMap::new(), WHEEL_LIMIT)
            .await?;
        if !response.status.is_success() {
            return Err(IndexError::Status {
                url: url.clone(),
                status: response.status.as_u16(),
            });
        }
        read_wheel_metadata(Cursor::new(response.body), url, filename)
            .map(|raw| (raw, MetadataSource::WholeWheel))
            .map_err(|(_, error)| error)
    }
}
