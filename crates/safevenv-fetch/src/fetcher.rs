//! [`Fetcher`]: fetch a batch of pinned artifacts into the cache, concurrently, all or nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::{StreamExt, TryStreamExt, stream};
use safevenv_cache::{Cache, CacheBucket};
use safevenv_index::{DisplaySafeUrl, DownloadError, IndexClient};
use tokio::sync::OnceCell;
use tracing::{debug, warn};
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::entry::{EntrySink, check_file, clean_stale_temp_files, copy_local, entry_path};
use crate::progress::Progress;
use crate::{FetchError, Sha256};

/// The default [`FetchOptions::max_size`]: 16 GiB, above the largest artifacts published.
pub const DEFAULT_MAX_SIZE: u64 = 16 * 1024 * 1024 * 1024;

/// How a [`Fetcher`] behaves. [`Default`]: 8 downloads at once, online, progress bars on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Downloads in flight at once within one batch (at least 1). The index client's own limit
    /// also applies.
    pub concurrency: usize,
    /// Use the cache only: a miss is [`FetchError::OfflineMiss`].
    pub offline: bool,
    /// Show progress bars on stderr (only when it is a terminal).
    pub progress: bool,
    /// The largest artifact accepted, in bytes, when the index advertises no size.
    pub max_size: u64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            offline: false,
            progress: true,
            max_size: DEFAULT_MAX_SIZE,
        }
    }
}

/// One artifact to fetch, pinned by its SHA-256. There is no fetch without a pinned hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRequest {
    /// The distribution's name.
    pub name: PackageName,
    /// The distribution's version.
    pub version: Version,
    /// The artifact's file name, kept as the cache entry's name.
    pub filename: String,
    /// Where to download it from (credentials, if any, are never displayed).
    pub url: DisplaySafeUrl,
    /// The pinned SHA-256 (from the lockfile or the index page): the artifact is refused unless
    /// its bytes have exactly this digest.
    pub expected: Sha256,
    /// The size the index advertised (PEP 700), checked when given.
    pub size: Option<u64>,
}

/// Proof that the bytes of [`HashVerified::path`] were hashed by this crate and matched the
/// pinned SHA-256. Only this crate makes one (its fields are private), after the comparison; the
/// stages after fetching ask for it instead of trusting a bare path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashVerified {
    sha256: Sha256,
    size: u64,
    path: PathBuf,
}

impl HashVerified {
    /// The digest the bytes were found to have, equal to the pinned one.
    pub fn sha256(&self) -> &Sha256 {
        &self.sha256
    }

    /// The artifact's length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The cache entry whose bytes were checked.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An artifact in the cache, checked against its pinned hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedArtifact {
    request: ArtifactRequest,
    verified: HashVerified,
}

impl FetchedArtifact {
    /// What was asked for.
    pub fn request(&self) -> &ArtifactRequest {
        &self.request
    }

    /// The cache entry holding the artifact.
    pub fn path(&self) -> &Path {
        &self.verified.path
    }

    /// The proof that the entry's bytes have the pinned hash.
    pub fn verified(&self) -> &HashVerified {
        &self.verified
    }
}

/// One check of an entry per distinct artifact in a batch, however often it is listed.
type Memo = Mutex<HashMap<(Sha256, String), Arc<OnceCell<HashVerified>>>>;

/// Fetches artifacts into the cache's [`CacheBucket::Archives`] bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: IndexClient,
    cache: Cache,
    options: FetchOptions,
    /// Bytes taken from the network (not from the cache, not copied from a local file), for the
    /// summary a run ends with; shared by clones.
    downloaded: Arc<AtomicU64>,
}

impl Fetcher {
    /// A fetcher downloading with `client` (its credentials, timeouts, retries) into `cache`.
    pub fn new(client: IndexClient, cache: Cache, options: FetchOptions) -> Self {
        Self {
            client,
            cache,
            options,
            downloaded: Arc::default(),
        }
    }

    /// How many bytes this fetcher (and its clones) downloaded from the network so far: cache
    /// hits and local files count nothing.
    pub fn downloaded_bytes(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    /// Fetch every artifact of `requests`, in the same order, each checked against its pinned
    /// SHA-256; cache hits are re-hashed (see [`Fetcher::fetch`]).
    ///
    /// All or nothing: the first failure cancels the downloads still running (their temporary
    /// files are deleted) and is returned. Entries completed before it stay in the cache: each is
    /// whole and checked.
    pub async fn fetch_all(
        &self,
        requests: &[ArtifactRequest],
    ) -> Result<Vec<FetchedArtifact>, FetchError> {
        self.fetch_all_with(requests, &|_, _| {}).await
    }

    /// [`Fetcher::fetch_all`], calling `on_ready` with each artifact's position in `requests`
    /// as soon as it is checked, so the caller can work on it while the rest download.
    pub async fn fetch_all_with(
        &self,
        requests: &[ArtifactRequest],
        on_ready: &(dyn Fn(usize, &FetchedArtifact) + Sync),
    ) -> Result<Vec<FetchedArtifact>, FetchError> {
        let archives = self.cache.bucket(CacheBucket::Archives)?;
        let progress = Progress::new(self.options.progress, requests.len());
        let memo = Memo::default();
        // Dropping the stream on the first error drops every download still in flight: the
        // requests are cancelled and the temporary files deleted.
        // The largest first: the longest downloads, and the work the caller does on each after
        // it, are then not what the batch waits for at its end.
        let mut order: Vec<(usize, &ArtifactRequest)> = requests.iter().enumerate().collect();
        order.sort_by_key(|(_, request)| std::cmp::Reverse(request.size.unwrap_or(0)));
        let outcome = stream::iter(order)
            .map(|(position, request)| {
                let (archives, progress, memo) = (&archives, &progress, &memo);
                async move {
                    let cell = memo
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry((request.expected, request.filename.clone()))
                        .or_default()
                        .clone();
                    let verified = cell
                        .get_or_try_init(|| self.fetch_entry(archives, request, progress))
                        .await?
                        .clone();
                    progress.artifact_ready();
                    let artifact = FetchedArtifact {
                        request: request.clone(),
                        verified,
                    };
                    on_ready(position, &artifact);
                    Ok::<_, FetchError>((position, artifact))
                }
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .try_collect::<Vec<_>>()
            .await;
        progress.finish();
        let mut fetched = outcome?;
        fetched.sort_by_key(|(position, _)| *position);
        Ok(fetched.into_iter().map(|(_, artifact)| artifact).collect())
    }

    /// Fetch one artifact: [`Fetcher::fetch_all`] with a batch of one.
    pub async fn fetch(&self, request: &ArtifactRequest) -> Result<FetchedArtifact, FetchError> {
        let archives = self.cache.bucket(CacheBucket::Archives)?;
        let progress = Progress::new(self.options.progress, 1);
        let outcome = self.fetch_entry(&archives, request, &progress).await;
        progress.finish();
        Ok(FetchedArtifact {
            request: request.clone(),
            verified: outcome?,
        })
    }

    /// Fetch one artifact's cache entry:
    ///
    /// 1. The entry's path is the pinned digest and the file name, which must be a plain name.
    /// 2. A present entry is re-hashed; it is used when it matches, else removed.
    /// 3. Offline, a missing entry is an error.
    /// 4. The body is streamed into a temporary file in the entry's directory, hashed on the way,
    ///    its size checked against the advertised one.
    /// 5. The digest of the bytes written must equal the pinned digest.
    /// 6. Only then is the temporary file renamed into place.
    async fn fetch_entry(
        &self,
        archives: &Path,
        request: &ArtifactRequest,
        progress: &Progress,
    ) -> Result<HashVerified, FetchError> {
        // (1):
        let entry = entry_path(archives, request)?;
        // (2):
        if let Some(verified) = self.check_hit(&entry, request).await? {
            debug!("`{}` is in the cache", request.filename);
            return Ok(verified);
        }
        // (3): a local wheel the user named (`file:` URL) is copied in through the same hashing
        //      sink, so the checks of (5) and (6) hold for it too, offline as well: the file may
        //      have changed since its digest was pinned, and only the copy is ever installed.
        let local = (request.url.scheme() == "file").then(|| request.url.to_file_path());
        if let Some(path) = local {
            let path = path.map_err(|()| FetchError::LocalPath {
                url: request.url.clone(),
            })?;
            let dir = entry.parent().unwrap_or(archives);
            fs_err::create_dir_all(dir).map_err(|source| FetchError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
            let bar = progress.download(&request.filename, request.size);
            let mut sink = EntrySink::new(request, &entry, self.options.max_size, &bar)?;
            let copied = copy_local(&path, &mut sink);
            bar.finish_and_clear();
            copied?;
            return self.commit(request, &entry, sink);
        }
        if self.options.offline {
            return Err(FetchError::OfflineMiss {
                url: request.url.clone(),
                filename: request.filename.clone(),
                expected: request.expected,
            });
        }
        // (4):
        let dir = entry.parent().unwrap_or(archives);
        fs_err::create_dir_all(dir).map_err(|source| FetchError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        clean_stale_temp_files(dir);
        let bar = progress.download(&request.filename, request.size);
        let mut sink = EntrySink::new(request, &entry, self.options.max_size, &bar)?;
        let downloaded = self.client.download(&request.url, &mut sink).await;
        bar.finish_and_clear();
        match downloaded {
            Ok(_) => {}
            Err(DownloadError::Index(source)) => {
                return Err(FetchError::Download {
                    filename: request.filename.clone(),
                    source,
                });
            }
            Err(DownloadError::Sink(error)) => return Err(error),
        }
        let verified = self.commit(request, &entry, sink)?;
        self.downloaded
            .fetch_add(verified.size(), Ordering::Relaxed);
        Ok(verified)
    }

    /// Steps 5 and 6 of [`Fetcher::fetch_entry`]: the bytes written must have the pinned digest
    /// before the temporary file becomes the entry.
    fn commit(
        &self,
        request: &ArtifactRequest,
        entry: &Path,
        sink: EntrySink<'_>,
    ) -> Result<HashVerified, FetchError> {
        let (temp, actual, size) = sink.finish()?;
        // (5): SECURITY INVARIANT. Every byte in the temporary file went through the hasher on its
        // way in, and nothing else wrote to it; so `actual` is the digest of the file's content.
        // It must equal the pinned digest (PEP 751 `hashes`, the index's `#sha256=`) before the
        // file may take the entry's name: a compromised index, mirror or proxy that serves other
        // bytes is refused here, and since dropping `temp` deletes it, nothing of it is cached.
        if actual != request.expected {
            return Err(FetchError::HashMismatch {
                url: request.url.clone(),
                filename: request.filename.clone(),
                expected: request.expected,
                actual,
            });
        }
        // (6): the rename is atomic within the directory: readers see no entry or a whole,
        // checked one. A second safevenv writing the same entry at the same time renames the same
        // bytes over it, which is harmless. (On Windows, replacing an entry another process has
        // open fails; the error then names it.)
        temp.persist(entry).map_err(|error| FetchError::Write {
            path: entry.to_path_buf(),
            source: error.error,
        })?;
        debug!(
            "`{}` is now in the cache at `{}`",
            request.filename,
            entry.display()
        );
        Ok(HashVerified {
            sha256: actual,
            size,
            path: entry.to_path_buf(),
        })
    }

    /// Step 2 of [`Fetcher::fetch_entry`]: the entry, if present and its bytes match.
    ///
    /// An entry is only ever created by the rename after step 5, so its path already says its
    /// hash. We check it anyway: the cache is a directory any program of the user's can write
    /// to, and a proof must be about the bytes there now, not those written once. It is hashed
    /// again unless the file system shows it unchanged since it was last hashed, which no
    /// unprivileged writer can fake (see [`check_file`]); a warm install of large wheels would
    /// otherwise spend a good part of its time re-reading them.
    async fn check_hit(
        &self,
        entry: &Path,
        request: &ArtifactRequest,
    ) -> Result<Option<HashVerified>, FetchError> {
        let path = entry.to_path_buf();
        let expected = request.expected;
        let hashed = tokio::task::spawn_blocking(move || check_file(&path, &expected))
            .await
            .map_err(|source| FetchError::Check {
                path: entry.to_path_buf(),
                source,
            })??;
        let Some((actual, size)) = hashed else {
            return Ok(None);
        };
        if actual != request.expected {
            // Not what the entry's name promises: remove it and download again.
            warn!(
                "the cache entry `{}` has SHA-256 `{actual}`, not `{}`: downloading it again",
                entry.display(),
                request.expected
            );
            fs_err::remove_file(entry).map_err(|source| FetchError::RemoveCorrupt {
                path: entry.to_path_buf(),
                source,
            })?;
            return Ok(None);
        }
        // The bytes are the pinned ones, so an advertised size that differs is the index's error;
        // refuse as a download would.
        if let Some(expected) = request.size
            && size != expected
        {
            return Err(FetchError::SizeMismatch {
                url: request.url.clone(),
                filename: request.filename.clone(),
                expected,
                actual: size,
            });
        }
        Ok(Some(HashVerified {
            sha256: actual,
            size,
            path: entry.to_path_buf(),
        }))
    }
}
