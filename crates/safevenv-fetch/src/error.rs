//! [`FetchError`]: one variant per broken rule; every one names the artifact's (redacted) URL or
//! the cache path it is about.

use std::path::PathBuf;

use safevenv_index::{DisplaySafeUrl, IndexError};

use crate::Sha256;

/// A failure to fetch an artifact into the cache. The first one ends the whole batch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The bytes received do not have the pinned SHA-256: the artifact was refused and nothing
    /// was cached.
    #[error(
        "the artifact `{filename}` from `{url}` has SHA-256 `{actual}`, but `{expected}` was pinned"
    )]
    HashMismatch {
        /// The artifact's URL.
        url: DisplaySafeUrl,
        /// The artifact's file name.
        filename: String,
        /// The pinned digest.
        expected: Sha256,
        /// The digest of the bytes received.
        actual: Sha256,
    },
    /// The body is not the size the index advertised: refused before or while writing it.
    #[error(
        "the artifact `{filename}` from `{url}` is {actual} bytes long, but the index advertised {expected}"
    )]
    SizeMismatch {
        /// The artifact's URL.
        url: DisplaySafeUrl,
        /// The artifact's file name.
        filename: String,
        /// The advertised size.
        expected: u64,
        /// The size announced by the server, or the bytes received when they passed `expected`
        /// or stopped short of it.
        actual: u64,
    },
    /// The body is larger than [`crate::FetchOptions::max_size`].
    #[error("the artifact `{filename}` from `{url}` is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The artifact's URL.
        url: DisplaySafeUrl,
        /// The artifact's file name.
        filename: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file name cannot be a cache entry's name: it is not one plain path component.
    #[error("the artifact file name `{filename}` (from `{url}`) is not a plain file name")]
    InvalidFilename {
        /// The artifact's URL.
        url: DisplaySafeUrl,
        /// The file name as requested.
        filename: String,
    },
    /// The download failed (after the index client's retries).
    #[error("cannot download the artifact `{filename}`")]
    Download {
        /// The artifact's file name.
        filename: String,
        /// What the index client reported; it names the URL.
        #[source]
        source: IndexError,
    },
    /// Offline, and the artifact is not in the cache.
    #[error(
        "the artifact `{filename}` (SHA-256 `{expected}`) is not in the cache, and safevenv is offline"
    )]
    OfflineMiss {
        /// The URL it would have been downloaded from.
        url: DisplaySafeUrl,
        /// The artifact's file name.
        filename: String,
        /// The pinned digest.
        expected: Sha256,
    },
    /// The cache's archive bucket could not be created.
    #[error(transparent)]
    Cache(#[from] safevenv_cache::CacheError),
    /// A directory of the cache could not be created.
    #[error("cannot create the cache directory `{}`", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A cache entry could not be written (disk full, permission denied, ...).
    #[error("cannot write the cache entry `{}`", path.display())]
    Write {
        /// The entry's path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A cache entry could not be read to check its hash.
    #[error("cannot read the cache entry `{}`", path.display())]
    Read {
        /// The entry's path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A local artifact (a `file:` URL) could not be read.
    #[error("cannot read the local artifact `{}`", path.display())]
    ReadLocal {
        /// The artifact's path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A `file:` URL that names no local path.
    #[error("the artifact URL `{url}` names no local file")]
    LocalPath {
        /// The URL.
        url: DisplaySafeUrl,
    },
    /// A cache entry whose bytes do not match its hash could not be removed.
    #[error("cannot remove the corrupt cache entry `{}`", path.display())]
    RemoveCorrupt {
        /// The entry's path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The thread that re-hashes a cache entry failed.
    #[error("cannot check the cache entry `{}`", path.display())]
    Check {
        /// The entry's path.
        path: PathBuf,
        /// Why the thread ended.
        #[source]
        source: tokio::task::JoinError,
    },
}
