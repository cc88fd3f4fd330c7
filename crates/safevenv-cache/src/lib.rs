//! Where safevenv keeps its caches, and how entries are written atomically.
//!
//! The cache root is chosen once ([`Cache::from_settings`]): `--cache-dir`, then `SAFEVENV_CACHE_DIR`,
//! then the platform's cache directory (`$XDG_CACHE_HOME/safevenv` or `~/.cache/safevenv`). Inside it,
//! each kind of entry lives in its own [`CacheBucket`] whose directory name carries a format version,
//! so a safevenv that changes an entry's format never reads entries written by an older one.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;
use thiserror::Error;

/// The environment variable that overrides the default cache directory.
pub const CACHE_DIR_ENV: &str = "SAFEVENV_CACHE_DIR";

/// Marks the root as a cache so that backup tools skip it (<https://bford.info/cachedir/>).
const CACHEDIR_TAG: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by safevenv.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// A failure to locate or write the cache.
#[derive(Debug, Error)]
pub enum CacheError {
    /// Neither `--cache-dir` nor `SAFEVENV_CACHE_DIR` was given and the home directory is unknown.
    #[error("cannot find a cache directory: the home directory is unknown")]
    NoHome,
    /// The cache directory given could not be made absolute (the current directory is unreadable).
    #[error("cannot make the cache directory `{}` absolute", path.display())]
    Absolute {
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A cache directory could not be created.
    #[error("cannot create the cache directory `{}`", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The path of a cache entry has no parent directory to hold its temporary file.
    #[error("the cache entry `{}` has no parent directory", path.display())]
    NoParent {
        /// The entry's path.
        path: PathBuf,
    },
    /// The seal key's file would be inside the cache, which a restored CI cache brings whole.
    #[error(
        "the seal key `{}` would be inside the cache `{}`; set `XDG_STATE_HOME` to a directory outside it",
        key.display(), root.display()
    )]
    SealKeyInCache {
        /// The key file.
        key: PathBuf,
        /// The cache's root.
        root: PathBuf,
    },
    /// A cache entry could not be written.
    #[error("cannot write the cache entry `{}`", path.display())]
    Write {
        /// The entry's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// One kind of cache entry. Each bucket is a directory under the cache root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheBucket {
    /// Interpreter probe results, one JSON file per interpreter path.
    Interpreters,
    /// Index pages (the simple repository API, PEP 503/691).
    SimplePages,
    /// Wheels, stored by their hash.
    Wheels,
    /// Source distributions and other downloaded artifacts, stored by their hash.
    Archives,
    /// OSV API answers and advisory records (`safevenv audit` online).
    Osv,
    /// Wheels built from sdists, keyed by the sdist's sha256 and the build environment.
    Built,
}

impl CacheBucket {
    /// The bucket's directory name. The `-vN` suffix is the entry format's version: bump it whenever
    /// the format changes, so an old entry is never read as a new one.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Interpreters => "interpreter-v1",
            Self::SimplePages => "simple-v1",
            // v2: entries keyed by the wheel's content digest and sealed (see the installer).
            Self::Wheels => "wheels-v2",
            Self::Archives => "archives-v1",
            Self::Osv => "osv-v1",
            Self::Built => "built-v1",
        }
    }
}

/// The cache: a root directory holding one directory per [`CacheBucket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// A cache rooted at `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache the user asked for: `explicit` (`--cache-dir`), else `SAFEVENV_CACHE_DIR` when set
    /// and non-empty, else the platform's cache directory joined with `safevenv`. The root is made
    /// absolute so that it means the same thing after a change of directory.
    pub fn from_settings(explicit: Option<PathBuf>) -> Result<Self, CacheError> {
        Self::choose(explicit, std::env::var_os(CACHE_DIR_ENV), || {
            etcetera::choose_base_strategy()
                .map(|strategy| strategy.cache_dir().join("safevenv"))
                .map_err(|_| CacheError::NoHome)
        })
    }

    /// [`Cache::from_settings`] with the environment passed in, so that tests need not change it.
    fn choose(
        explicit: Option<PathBuf>,
        env: Option<OsString>,
        platform: impl FnOnce() -> Result<PathBuf, CacheError>,
    ) -> Result<Self, CacheError> {
        let root = match (explicit, env.filter(|value| !value.is_empty())) {
            (Some(path), _) => path,
            (None, Some(path)) => PathBuf::from(path),
            (None, None) => platform()?,
        };
        let root = std::path::absolute(&root).map_err(|source| CacheError::Absolute {
            path: root.clone(),
            source,
        })?;
        Ok(Self::new(root))
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the key that seals the cache of unpacked wheels (and the receipts of installed
    /// distributions) is kept: `seal-key` in the user's state directory (`$XDG_STATE_HOME/safevenv`,
    /// by default `~/.local/state/safevenv`; the data directory where a platform has no state
    /// directory), never inside the cache. Threat: a CI cache is restored whole from what other
    /// jobs saved; a key inside it would be the key of whoever poisoned it, who could then seal
    /// any tree. A key outside it stays this machine's, so a restored entry is unpacked afresh
    /// from its hash-checked archive. A cache root that would hold the key is refused.
    pub fn seal_key_file(&self) -> Result<PathBuf, CacheError> {
        let strategy = etcetera::choose_base_strategy().map_err(|_| CacheError::NoHome)?;
        let dir = strategy.state_dir().unwrap_or_else(|| strategy.data_dir());
        let key = std::path::absolute(dir.join("safevenv").join("seal-key")).map_err(|source| {
            CacheError::Absolute {
                path: dir.clone(),
                source,
            }
        })?;
        if key.starts_with(&self.root) {
            return Err(CacheError::SealKeyInCache {
                key,
                root: self.root.clone(),
            });
        }
        Ok(key)
    }

    /// The directory of `bucket`, created (with the root's `CACHEDIR.TAG`) if missing.
    pub fn bucket(&self, bucket: CacheBucket) -> Result<PathBuf, CacheError> {
        let dir = self.root.join(bucket.dir_name());
        if !dir.is_dir() {
            fs_err::create_dir_all(&dir).map_err(|source| CacheError::CreateDir {
                path: dir.clone(),
                source,
            })?;
            let tag = self.root.join("CACHEDIR.TAG");
            if !tag.exists() {
                write_atomic(&tag, CACHEDIR_TAG)?;
            }
        }
        Ok(dir)
    }
}

/// Write `bytes` to `path` so that no reader ever sees a partial entry: the bytes go to a temporary
/// file in the same directory (same file system, so the rename is atomic), which is then renamed over
/// `path`. Concurrent writers of the same entry are safe: the last rename wins, whole.
///
/// No `fsync`: after a crash an entry may be empty or missing, and every reader of the cache
/// validates what it reads, treating a bad entry as a miss.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .ok_or_else(|| CacheError::NoParent {
            path: path.to_path_buf(),
        })?;
    let write_error = |source| CacheError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp")
        .tempfile_in(parent)
        .map_err(write_error)?;
    temp.write_all(bytes).map_err(write_error)?;
    temp.persist(path)
        .map_err(|error| write_error(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Result<PathBuf, CacheError> {
        Ok(PathBuf::from("/platform/cache/safevenv"))
    }

    #[test]
    fn explicit_wins_over_env() {
        let cache = Cache::choose(
            Some(PathBuf::from("/explicit")),
            Some(OsString::from("/env")),
            platform,
        )
        .unwrap();
        assert_eq!(cache.root(), Path::new("/explicit"));
    }

    #[test]
    fn env_wins_over_platform_unless_empty() {
        let cache = Cache::choose(None, Some(OsString::from("/env")), platform).unwrap();
        assert_eq!(cache.root(), Path::new("/env"));
        let cache = Cache::choose(None, Some(OsString::new()), platform).unwrap();
        assert_eq!(cache.root(), Path::new("/platform/cache/safevenv"));
        let cache = Cache::choose(None, None, platform).unwrap();
        assert_eq!(cache.root(), Path::new("/platform/cache/safevenv"));
    }

    #[test]
    fn no_home_is_an_error() {
        let error = Cache::choose(None, None, || Err(CacheError::NoHome)).unwrap_err();
        assert!(matches!(error, CacheError::NoHome));
    }

    #[test]
    fn relative_root_is_made_absolute() {
        let cache = Cache::from_settings(Some(PathBuf::from("relative-cache"))).unwrap();
        assert!(cache.root().is_absolute());
        assert!(cache.root().ends_with("relative-cache"));
    }

    #[test]
    fn bucket_is_versioned_and_created() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let bucket = cache.bucket(CacheBucket::Interpreters).unwrap();
        assert_eq!(bucket, dir.path().join("interpreter-v1"));
        assert!(bucket.is_dir());
        let tag = fs_err::read(dir.path().join("CACHEDIR.TAG")).unwrap();
        assert!(tag.starts_with(b"Signature: 8a477f597d28d172789f06886806bc55"));
        // Every bucket has its own versioned directory.
        let names = [
            CacheBucket::Interpreters,
            CacheBucket::SimplePages,
            CacheBucket::Wheels,
            CacheBucket::Archives,
            CacheBucket::Osv,
            CacheBucket::Built,
        ]
        .map(CacheBucket::dir_name);
        for name in names {
            let version = name.rsplit_once("-v").map(|(_, version)| version);
            assert!(
                version.is_some_and(|version| version.parse::<u32>().is_ok()),
                "{name}"
            );
        }
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn the_seal_key_is_never_inside_the_cache() {
        // The platform's directories come from HOME and XDG_STATE_HOME; tests of this crate
        // run in one process, so the root is chosen relative to the key instead.
        let key = Cache::new("/nonexistent-cache-root")
            .seal_key_file()
            .unwrap();
        assert!(key.ends_with("safevenv/seal-key"), "{}", key.display());
        assert!(!key.starts_with("/nonexistent-cache-root"));
        let holding = key.parent().unwrap().parent().unwrap();
        let error = Cache::new(holding).seal_key_file().unwrap_err();
        assert!(
            matches!(error, CacheError::SealKeyInCache { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("XDG_STATE_HOME"));
    }

    #[test]
    fn write_atomic_replaces_whole_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("entry.json");
        write_atomic(&entry, b"first").unwrap();
        write_atomic(&entry, b"second, longer").unwrap();
        assert_eq!(fs_err::read(&entry).unwrap(), b"second, longer");
        let names: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["entry.json"]);
    }

    #[test]
    fn write_atomic_names_the_entry_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("missing-dir").join("entry.json");
        let error = write_atomic(&entry, b"x").unwrap_err();
        assert!(matches!(error, CacheError::Write { ref path, .. } if *path == entry));
        assert!(error.to_string().contains("entry.json"));
    }

    #[test]
    fn write_atomic_refuses_a_bare_file_name() {
        let error = write_atomic(Path::new("entry.json"), b"x").unwrap_err();
        assert!(matches!(error, CacheError::NoParent { .. }));
    }
}
