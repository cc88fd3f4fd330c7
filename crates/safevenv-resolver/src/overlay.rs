//! [`OverlaySource`]: projects pinned to one artifact (a direct URL's wheel, a local wheel file),
//! shadowing what another source lists under the same names.

use std::collections::HashMap;
use std::sync::Arc;

use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::source::{DistMetadata, FileEntry, PackageSource, ProjectVersions, SourceError};

/// One project served with exactly one version from exactly one artifact.
#[derive(Debug, Clone)]
struct Pinned {
    versions: Arc<ProjectVersions>,
    version: Version,
    metadata: Arc<DistMetadata>,
}

/// A [`PackageSource`] where some projects have exactly one version and one artifact, given here,
/// and every other project comes from `inner`.
///
/// Security: a pinned project never sees `inner`'s versions of the same name. Merging them would
/// let anyone who publishes that name on the index with a higher version replace the artifact the
/// user named (dependency confusion); here the index is not even asked about that name.
#[derive(Debug, Clone)]
pub struct OverlaySource<S> {
    inner: S,
    pinned: HashMap<PackageName, Pinned>,
}

impl<S: PackageSource> OverlaySource<S> {
    /// Serve `inner`, with no project pinned yet.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            pinned: HashMap::new(),
        }
    }

    /// Pins `name` to `version`, provided by `file` alone, with `metadata`. A second pin of the
    /// same name replaces the first.
    pub fn pin(
        &mut self,
        name: PackageName,
        version: Version,
        metadata: DistMetadata,
        file: FileEntry,
    ) {
        let mut versions = ProjectVersions::default();
        versions.versions.insert(version.clone(), vec![file]);
        self.pinned.insert(
            name,
            Pinned {
                versions: Arc::new(versions),
                version,
                metadata: Arc::new(metadata),
            },
        );
    }

    /// Whether `name` is pinned here.
    pub fn is_pinned(&self, name: &PackageName) -> bool {
        self.pinned.contains_key(name)
    }
}

impl<S: PackageSource> PackageSource for OverlaySource<S> {
    fn versions(&self, name: &PackageName) -> Result<Arc<ProjectVersions>, SourceError> {
        match self.pinned.get(name) {
            Some(pinned) => Ok(pinned.versions.clone()),
            None => self.inner.versions(name),
        }
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<DistMetadata>, SourceError> {
        match self.pinned.get(name) {
            Some(pinned) if pinned.version == *version => Ok(pinned.metadata.clone()),
            // The resolver only asks for versions it was given; another one is never served
            // from `inner` under a pinned name.
            Some(pinned) => Err(SourceError::VersionNotFound {
                name: name.clone(),
                version: version.clone(),
                url: pinned
                    .versions
                    .versions
                    .values()
                    .flatten()
                    .next()
                    .map(|file| file.url.clone())
                    .unwrap_or_default(),
            }),
            None => self.inner.metadata(name, version),
        }
    }

    fn prefetch_versions(&self, names: &[PackageName]) {
        let names: Vec<PackageName> = names
            .iter()
            .filter(|name| !self.is_pinned(name))
            .cloned()
            .collect();
        self.inner.prefetch_versions(&names);
    }

    fn prefetch_metadata(&self, wanted: &[(PackageName, Version)]) {
        let wanted: Vec<(PackageName, Version)> = wanted
            .iter()
            .filter(|(name, _)| !self.is_pinned(name))
            .cloned()
            .collect();
        self.inner.prefetch_metadata(&wanted);
    }
}
