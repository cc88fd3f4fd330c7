//! The seam between the resolver and whatever knows the index: plain data and a blocking trait.

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::sync::Arc;

use uv_normalize::{ExtraName, PackageName};
use uv_pep440::{Version, VersionSpecifiers};
use uv_pep508::Requirement;

/// What the resolver asks of an index. The index client implements it (fetching ahead on its own
/// runtime when told what will be wanted); [`InMemorySource`] implements it for tests.
pub trait PackageSource: Send + Sync {
    /// Every distribution of a project the index lists, with their artifacts.
    ///
    /// A project the index does not know is [`SourceError::NotFound`]: the resolver treats it as
    /// a project with no version, so that a dependency on it only rules out its dependents.
    fn versions(&self, name: &PackageName) -> Result<Arc<ProjectVersions>, SourceError>;

    /// The core metadata (Requires-Dist, Requires-Python, Provides-Extra) of one distribution,
    /// read from the wheel the resolver would install.
    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<DistMetadata>, SourceError>;

    /// Hint: [`PackageSource::versions`] will probably be asked for these projects soon.
    fn prefetch_versions(&self, _names: &[PackageName]) {}

    /// Hint: [`PackageSource::metadata`] will probably be asked for these distributions soon.
    fn prefetch_metadata(&self, _wanted: &[(PackageName, Version)]) {}
}

/// Every distribution of one project the index lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectVersions {
    /// The artifacts of each version.
    pub versions: BTreeMap<Version, Vec<FileEntry>>,
}

/// One artifact as the index lists it (PEP 503/691 file entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The artifact's file name (`name-1.0-py3-none-any.whl`, `name-1.0.tar.gz`).
    pub filename: String,
    /// Where to fetch it.
    pub url: String,
    /// Digests by algorithm name (`sha256`), as hexadecimal.
    pub hashes: BTreeMap<String, String>,
    /// Size in bytes, when the index says.
    pub size: Option<u64>,
    /// Upload time as the index wrote it (RFC 3339), when it says.
    pub upload_time: Option<String>,
    /// The artifact's `data-requires-python` / `requires-python`.
    pub requires_python: Option<VersionSpecifiers>,
    /// Whether the artifact is yanked (PEP 592), and why when the index says.
    pub yanked: Yanked,
}

/// PEP 592's yank status of an artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Yanked {
    /// Usable.
    #[default]
    No,
    /// Yanked: usable only when a requirement pins its exact version.
    Yes {
        /// The reason the index gives, if any.
        reason: Option<String>,
    },
}

/// The core metadata of one distribution that resolution needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistMetadata {
    /// `Requires-Dist`.
    pub requires_dist: Vec<Requirement>,
    /// `Requires-Python`.
    pub requires_python: Option<VersionSpecifiers>,
    /// `Provides-Extra`.
    pub provides_extra: Vec<ExtraName>,
}

/// Why a [`PackageSource`] could not answer. Every variant names the URL it is about.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The index does not list the project.
    #[error("`{name}` was not found on the index `{url}`")]
    NotFound {
        /// The project.
        name: PackageName,
        /// The index page that was asked.
        url: String,
    },
    /// The distribution's metadata is not listed.
    #[error("`{name}` `{version}` is not listed on the index `{url}`")]
    VersionNotFound {
        /// The project.
        name: PackageName,
        /// The version.
        version: Version,
        /// The index page that was asked.
        url: String,
    },
    /// Fetching or reading a response failed.
    #[error("failed to fetch `{url}`")]
    Fetch {
        /// What was fetched.
        url: String,
        /// Why it failed.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// A response was fetched but is not valid.
    #[error("the index sent invalid data at `{url}`")]
    Invalid {
        /// What was fetched.
        url: String,
        /// What is wrong with it.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
}

/// A [`PackageSource`] held in memory: for tests, and for resolving against a fixed set.
#[derive(Debug, Clone)]
pub struct InMemorySource {
    index_url: String,
    projects: HashMap<PackageName, ProjectVersions>,
    metadata: HashMap<(PackageName, Version), Arc<DistMetadata>>,
}

impl InMemorySource {
    /// An empty source whose errors name `index_url`.
    pub fn new(index_url: impl Into<String>) -> Self {
        Self {
            index_url: index_url.into(),
            projects: HashMap::new(),
            metadata: HashMap::new(),
        }
    }

    /// Adds one distribution: its metadata and its artifacts.
    pub fn add(
        &mut self,
        name: PackageName,
        version: Version,
        metadata: DistMetadata,
        files: Vec<FileEntry>,
    ) {
        self.projects
            .entry(name.clone())
            .or_default()
            .versions
            .entry(version.clone())
            .or_default()
            .extend(files);
        self.metadata.insert((name, version), Arc::new(metadata));
    }

    fn project_url(&self, name: &PackageName) -> String {
        format!("{}/{name}/", self.index_url.trim_end_matches('/'))
    }
}

impl PackageSource for InMemorySource {
    fn versions(&self, name: &PackageName) -> Result<Arc<ProjectVersions>, SourceError> {
        self.projects
            .get(name)
            .map(|project| Arc::new(project.clone()))
            .ok_or_else(|| SourceError::NotFound {
                name: name.clone(),
                url: self.project_url(name),
            })
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<DistMetadata>, SourceError> {
        self.metadata
            .get(&(name.clone(), version.clone()))
            .cloned()
            .ok_or_else(|| SourceError::VersionNotFound {
                name: name.clone(),
                version: version.clone(),
                url: self.project_url(name),
            })
    }
}
