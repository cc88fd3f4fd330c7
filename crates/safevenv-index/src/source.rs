//! The resolver's [`PackageSource`] over an [`IndexClient`]: the resolver runs PubGrub on a
//! blocking thread and calls these methods, which block on the client's runtime.

use std::collections::BTreeMap;
use std::sync::Arc;

use safevenv_resolver::{
    DistMetadata, FileEntry as SourceFile, PackageSource, ProjectVersions, SourceError,
    Yanked as SourceYanked,
};
use tokio::runtime::Handle;
use tracing::debug;
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::{Requirement, VersionOrUrl};
use uv_pypi_types::{ResolutionMetadata, VerbatimParsedUrl};
use uv_redacted::DisplaySafeUrl;

use crate::client::IndexClient;
use crate::error::IndexError;
use crate::metadata::{MetadataSource, parse_wheel_metadata, read_wheel_metadata};
use crate::simple::{FileEntry, Yanked};

/// An [`IndexClient`] as the resolver's blocking [`PackageSource`].
///
/// Call its methods from a thread outside the runtime (e.g. inside `spawn_blocking`): they block
/// on `runtime`, which a runtime's own worker threads must never do.
#[derive(Debug, Clone)]
pub struct IndexSource {
    client: IndexClient,
    runtime: Handle,
}

impl IndexSource {
    /// Serve the resolver from `client`, running fetches on `runtime`.
    pub fn new(client: IndexClient, runtime: Handle) -> Self {
        Self { client, runtime }
    }

    fn page_url(&self, name: &PackageName) -> String {
        let order = self.client.search_order(name);
        order
            .first()
            .map_or_else(
                || self.client.indexes().index.project_url(name),
                |index| index.project_url(name),
            )
            .to_string()
    }

    fn source_error(&self, name: &PackageName, error: IndexError) -> SourceError {
        let url = self.page_url(name);
        match error {
            IndexError::ProjectNotFound { name, .. } => SourceError::NotFound { name, url },
            IndexError::NoWheel { name, version } => {
                SourceError::VersionNotFound { name, version, url }
            }
            IndexError::Connect { .. }
            | IndexError::Timeout { .. }
            | IndexError::Request { .. }
            | IndexError::Status { .. }
            | IndexError::Truncated { .. }
            | IndexError::TooLarge { .. }
            | IndexError::OfflineMiss { .. }
            | IndexError::Unanswered { .. }
            | IndexError::Cache(_)
            | IndexError::CacheRead { .. }
            | IndexError::ClientBuild { .. }
            | IndexError::InvalidTtl { .. } => SourceError::Fetch {
                url,
                source: Box::new(error),
            },
            error => SourceError::Invalid {
                url,
                source: Box::new(error),
            },
        }
    }
}

fn source_file(file: &FileEntry) -> SourceFile {
    SourceFile {
        filename: file.raw_filename.clone(),
        // The resolver's files may reach a lockfile: never with credentials.
        url: file.url.without_credentials().to_string(),
        hashes: file.hashes.clone(),
        size: file.size,
        upload_time: file.upload_time.clone(),
        requires_python: file.requires_python_specifiers().and_then(|parsed| {
            parsed
                .inspect_err(|error| {
                    // pip ignores an unparsable `requires-python` too.
                    debug!(
                        "ignoring the requires-python of `{}`: {error}",
                        file.raw_filename
                    );
                })
                .ok()
        }),
        yanked: match &file.yanked {
            Yanked::No => SourceYanked::No,
            Yanked::Yes { reason } => SourceYanked::Yes {
                reason: reason.clone(),
            },
        },
    }
}

/// Metadata requirements carry a parsed URL; the resolver keeps the verbatim one.
fn plain_requirement(requirement: &Requirement<VerbatimParsedUrl>) -> Requirement {
    Requirement {
        name: requirement.name.clone(),
        extras: requirement.extras.clone(),
        version_or_url: requirement.version_or_url.as_ref().map(|version_or_url| {
            match version_or_url {
                VersionOrUrl::VersionSpecifier(specifiers) => {
                    VersionOrUrl::VersionSpecifier(specifiers.clone())
                }
                VersionOrUrl::Url(url) => VersionOrUrl::Url(url.verbatim.clone()),
            }
        }),
        marker: requirement.marker,
        origin: requirement.origin.clone(),
    }
}

/// The resolver's metadata of a wheel already at hand (a direct URL's wheel fetched by hash, or
/// a local wheel file), read as the index client reads a whole wheel: exactly one `.dist-info`,
/// the wheel's own, whose `Name` and `Version` must equal the file name's (see
/// `parse_wheel_metadata`: otherwise a wheel could bring another project's dependencies).
/// `url` names the wheel in errors.
pub fn wheel_dist_metadata<R: std::io::Read + std::io::Seek>(
    reader: R,
    url: &DisplaySafeUrl,
    filename: &WheelFilename,
) -> Result<DistMetadata, IndexError> {
    let raw = read_wheel_metadata(reader, url, filename).map_err(|(_, error)| error)?;
    let metadata = parse_wheel_metadata(raw, MetadataSource::WholeWheel, url, filename)?;
    Ok(dist_metadata(&metadata.resolution))
}

fn dist_metadata(resolution: &ResolutionMetadata) -> DistMetadata {
    DistMetadata {
        requires_dist: resolution
            .requires_dist
            .iter()
            .map(plain_requirement)
            .collect(),
        requires_python: resolution.requires_python.clone(),
        provides_extra: resolution.provides_extra.to_vec(),
    }
}

impl PackageSource for IndexSource {
    fn versions(&self, name: &PackageName) -> Result<Arc<ProjectVersions>, SourceError> {
        let page = self
            .runtime
            .block_on(self.client.require_project(name))
            .map_err(|error| self.source_error(name, error))?;
        let mut versions: BTreeMap<Version, Vec<SourceFile>> = BTreeMap::new();
        for file in &page.files {
            versions
                .entry(file.filename.version().clone())
                .or_default()
                .push(source_file(file));
        }
        Ok(Arc::new(ProjectVersions { versions }))
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<DistMetadata>, SourceError> {
        let metadata = self
            .runtime
            .block_on(self.client.version_metadata(name, version))
            .map_err(|error| self.source_error(name, error))?;
        Ok(Arc::new(dist_metadata(&metadata.resolution)))
    }

    fn prefetch_versions(&self, names: &[PackageName]) {
        for name in names {
            let client = self.client.clone();
            let name = name.clone();
            self.runtime.spawn(async move {
                if let Err(error) = client.project(&name).await {
                    debug!("prefetch of `{name}` failed: {error}");
                }
            });
        }
    }

    fn prefetch_metadata(&self, wanted: &[(PackageName, Version)]) {
        let _entered = self.runtime.enter();
        self.client.prefetch(wanted);
    }
}
