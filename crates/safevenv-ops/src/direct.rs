//! Direct wheels: a requirement naming one wheel by URL (`name @ https://.../x.whl#sha256=...`)
//! or by local path (`./dist/x.whl`). Each is fetched by its pinned sha256 (a local file is
//! copied in and hashed as it is read), its METADATA is read, and the resolver is given that one
//! version from that one file, shadowing the index for that name ([`OverlaySource`]). What may
//! come from a direct source at all is the policy's decision (`sources.direct-url`,
//! `sources.path`), made at the gate like every other.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use safevenv_cache::Cache;
use safevenv_fetch::{ArtifactRequest, DEFAULT_MAX_SIZE, FetchOptions, Fetcher, Sha256};
use safevenv_index::{DisplaySafeUrl, IndexClient, IndexError, IndexSource, wheel_dist_metadata};
use safevenv_lock::{
    Directory, Hashes, Lock, Package, Sdist as LockSdist, Source as LockSource, Wheel as LockWheel,
};
use safevenv_policy::{HashOrigin, Origin as PolicyOrigin};
use safevenv_resolver::{DistMetadata, FileEntry, OverlaySource, Yanked};
use sha2::Digest;
use tokio::runtime::Runtime;
use uv_distribution_filename::WheelFilename;
use uv_normalize::{ExtraName, PackageName};
use uv_pep440::Version;
use uv_pep508::{MarkerEnvironment, MarkerTree, Requirement};
use uv_platform_tags::Tags;

use crate::build::BuiltFrom;
use crate::error::OpsError;
use crate::input::{BuildRequest, BuildSource, DirectLocation, DirectRequest};

/// Why a direct wheel could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The local wheel could not be read.
    #[error("cannot read the local wheel `{}`", path.display())]
    ReadLocal {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The wheel's tags do not fit the target interpreter.
    #[error(
        "the wheel `{filename}` (from `{location}`) is not compatible with the target interpreter"
    )]
    Incompatible {
        /// The wheel's file name.
        filename: String,
        /// Its URL or path.
        location: String,
    },
    /// The wheel's METADATA could not be read, or describes another distribution.
    #[error("cannot read the metadata of the wheel `{filename}` (from `{location}`)")]
    Metadata {
        /// The wheel's file name.
        filename: String,
        /// Its URL or path.
        location: String,
        /// Why (boxed: index errors are large).
        #[source]
        source: Box<IndexError>,
    },
    /// A requirement recorded in the previous lockfile names a wheel it does not pin.
    #[error("the lockfile `{}` records the requirement `{requirement}`, but pins no such wheel", lockfile.display())]
    Unlocked {
        /// The lockfile.
        lockfile: PathBuf,
        /// The requirement as recorded.
        requirement: String,
    },
}

/// A direct wheel, fetched into the cache by its pin.
#[derive(Debug, Clone)]
pub(crate) struct DirectWheel {
    pub(crate) name: PackageName,
    pub(crate) extras: Vec<ExtraName>,
    pub(crate) marker: MarkerTree,
    pub(crate) version: Version,
    pub(crate) filename: String,
    pub(crate) wheel: WheelFilename,
    pub(crate) location: DirectLocation,
    /// Where the fetch stage reads it: the URL, or the local file's `file:` URL.
    pub(crate) url: DisplaySafeUrl,
    pub(crate) sha256: Sha256,
    pub(crate) hash_origin: HashOrigin,
    pub(crate) origin: PolicyOrigin,
    pub(crate) size: u64,
    /// For a wheel safevenv built: what it was built from (what the lockfile records).
    pub(crate) built: Option<BuiltFrom>,
}

impl DirectWheel {
    /// The requirement as a lockfile records it (`name[extras] @ url ; marker`): a later
    /// `install` keeps it from this wheel, never from the index.
    pub(crate) fn recorded(&self) -> String {
        let mut text = self.name.to_string();
        if !self.extras.is_empty() {
            let extras: Vec<String> = self.extras.iter().map(ToString::to_string).collect();
            text.push_str(&format!("[{}]", extras.join(",")));
        }
        let url = match &self.built {
            Some(built) => built.location_url().unwrap_or_default(),
            None => safevenv_redact::shareable(&self.url).to_string(),
        };
        text.push_str(&format!(" @ {url}"));
        if let Some(marker) = self.marker.try_to_string() {
            text.push_str(&format!(" ; {marker}"));
        }
        text
    }

    /// The resolver's requirement: exactly this version (the overlay has no other).
    pub(crate) fn requirement(&self) -> Result<Requirement, OpsError> {
        let text = format!(
            "{}{}=={}",
            self.name,
            if self.extras.is_empty() {
                String::new()
            } else {
                let extras: Vec<String> = self.extras.iter().map(ToString::to_string).collect();
                format!("[{}]", extras.join(","))
            },
            self.version
        );
        let mut requirement = Requirement::from_str(&text)
            .map_err(|err| OpsError::Internal(format!("the requirement `{text}`: {err}")))?;
        requirement.marker = self.marker;
        Ok(requirement)
    }
}

/// The direct wheels of a run: the requests whose marker holds for `markers`, each fetched (or
/// copied) into the cache by its pin, checked against `tags`, with its METADATA.
pub(crate) fn fetch_direct(
    requests: &[DirectRequest],
    markers: &MarkerEnvironment,
    tags: &Tags,
    runtime: &Runtime,
    client: &IndexClient,
    cache: &Cache,
    offline: bool,
) -> Result<Vec<(DirectWheel, DistMetadata)>, OpsError> {
    let fetcher = Fetcher::new(
        client.clone(),
        cache.clone(),
        FetchOptions {
            concurrency: 8,
            offline,
            progress: false,
            max_size: DEFAULT_MAX_SIZE,
        },
    );
    let mut wheels = Vec::new();
    for request in requests {
        if !request.marker.evaluate(markers, &[]) {
            continue;
        }
        let shown = show(&request.location);
        if !request.wheel.compatibility(tags).is_compatible() {
            return Err(DirectError::Incompatible {
                filename: request.filename.clone(),
                location: shown,
            }
            .into());
        }
        let url = match &request.location {
            DirectLocation::Url(url) => url.clone(),
            DirectLocation::Path(path) => file_url(path)?,
        };
        let sha256 = match (&request.sha256, &request.location) {
            (Some(hex), _) => Sha256::from_hex(hex).map_err(|err| {
                OpsError::Internal(format!("the pinned sha256 `{hex}` is not valid: {err}"))
            })?,
            // A local file the user names is its own pin: hashed now, and checked again when
            // it is copied in for the install.
            (None, DirectLocation::Path(path)) => hash_local(path)?,
            (None, DirectLocation::Url(_)) => {
                return Err(OpsError::Internal(format!(
                    "the direct URL `{shown}` reached resolution without a pinned sha256"
                )));
            }
        };
        let artifact_request = ArtifactRequest {
            name: request.name.clone(),
            version: request.wheel.version.clone(),
            filename: request.filename.clone(),
            url: url.clone(),
            expected: sha256,
            size: None,
        };
        // (Security) Fetched by its pin before any byte is read: what resolution sees is what
        // the pin names, and the fetch stage of the install checks the same pin again.
        let fetched = runtime
            .block_on(fetcher.fetch(&artifact_request))
            .map_err(|source| OpsError::Fetch(Box::new(source)))?;
        let file = fs_err::File::open(fetched.path()).map_err(|source| DirectError::ReadLocal {
            path: fetched.path().to_path_buf(),
            source,
        })?;
        let metadata = wheel_dist_metadata(file, &url, &request.wheel).map_err(|source| {
            DirectError::Metadata {
                filename: request.filename.clone(),
                location: shown.clone(),
                source: Box::new(source),
            }
        })?;
        wheels.push((
            DirectWheel {
                name: request.name.clone(),
                extras: request.extras.clone(),
                marker: request.marker,
                version: request.wheel.version.clone(),
                filename: request.filename.clone(),
                wheel: request.wheel.clone(),
                location: request.location.clone(),
                url,
                sha256,
                hash_origin: request.hash_origin,
                origin: request.origin.clone(),
                size: fetched.verified().size(),
                built: request.built.clone(),
            },
            metadata,
        ));
    }
    Ok(wheels)
}

/// The index source with each direct wheel as the only version of its project.
pub(crate) fn overlay(
    index: IndexSource,
    wheels: &[(DirectWheel, DistMetadata)],
) -> OverlaySource<IndexSource> {
    let mut source = OverlaySource::new(index);
    for (wheel, metadata) in wheels {
        source.pin(
            wheel.name.clone(),
            wheel.version.clone(),
            metadata.clone(),
            FileEntry {
                filename: wheel.filename.clone(),
                url: wheel.url.without_credentials().to_string(),
                hashes: BTreeMap::from([("sha256".to_string(), wheel.sha256.to_string())]),
                size: Some(wheel.size),
                upload_time: None,
                requires_python: metadata.requires_python.clone(),
                yanked: Yanked::No,
            },
        );
    }
    source
}

/// What a previous lockfile recorded as `name @ url` (see [`DirectWheel::recorded`]): a wheel,
/// pinned by the lockfile's sha256 for it, or what a wheel was built from (PEP 751 `sdist`,
/// pinned by its sha256, or `directory`), which goes back to the build stage.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub(crate) direct: Vec<DirectRequest>,
    pub(crate) builds: Vec<BuildRequest>,
}

/// [`Recorded`] for the requirements a previous lockfile recorded by URL. Requirements whose
/// location is one of `building` (the run builds that source anyway) are left out.
pub(crate) fn recorded_requests(
    recorded: &[Requirement],
    previous: Option<&Lock>,
    lockfile: Option<&Path>,
    building: &[BuildRequest],
) -> Result<Recorded, OpsError> {
    let mut out = Recorded::default();
    for requirement in recorded {
        let Some(uv_pep508::VersionOrUrl::Url(url)) = &requirement.version_or_url else {
            continue;
        };
        let unlocked = || DirectError::Unlocked {
            lockfile: lockfile.map(Path::to_path_buf).unwrap_or_default(),
            requirement: requirement.to_string(),
        };
        let url = url.to_url();
        let location = if url.scheme() == "file" {
            DirectLocation::Path(url.to_file_path().map_err(|()| unlocked())?)
        } else {
            DirectLocation::Url(url.clone())
        };
        if building
            .iter()
            .any(|request| same_location(&build_location(&request.source), &location))
        {
            continue;
        }
        let lock_dir = lockfile.and_then(Path::parent).unwrap_or(Path::new(""));
        let package = previous
            .and_then(|lock| lock.package(&requirement.name))
            .ok_or_else(unlocked)?;
        if let Some(source) = recorded_build(package, &location, lock_dir) {
            out.builds.push(BuildRequest {
                name: Some(requirement.name.clone()),
                extras: requirement.extras.to_vec(),
                marker: requirement.marker,
                source,
                hash_origin: HashOrigin::Lockfile,
                origin: PolicyOrigin::Lockfile,
            });
            continue;
        }
        let (wheel, sha256) = package
            .wheels()
            .iter()
            .find(|wheel| {
                locked_location(wheel, lock_dir)
                    .is_some_and(|locked| same_location(&locked, &location))
            })
            .and_then(|wheel| Some((wheel, wheel.hashes.0.get("sha256")?.clone())))
            .ok_or_else(unlocked)?;
        let filename = wheel.file_name().ok_or_else(unlocked)?;
        let parsed = filename.parse::<WheelFilename>().map_err(|_| unlocked())?;
        out.direct.push(DirectRequest {
            name: requirement.name.clone(),
            extras: requirement.extras.to_vec(),
            marker: requirement.marker,
            location,
            filename,
            wheel: parsed,
            sha256: Some(sha256),
            hash_origin: HashOrigin::Lockfile,
            origin: PolicyOrigin::Lockfile,
            built: None,
        });
    }
    Ok(out)
}

/// Where a build request's source is.
fn build_location(source: &BuildSource) -> DirectLocation {
    match source {
        BuildSource::Sdist { location, .. } => location.clone(),
        BuildSource::Tree { path, .. } => DirectLocation::Path(path.clone()),
    }
}

/// The build source a locked package records at `location`: its `sdist` there (pinned by the
/// lockfile's sha256: the bytes built again are the bytes locked), or its `directory` there.
fn recorded_build(
    package: &Package,
    location: &DirectLocation,
    lock_dir: &Path,
) -> Option<BuildSource> {
    match &package.source {
        LockSource::Directory(directory) => {
            let DirectLocation::Path(path) = location else {
                return None;
            };
            (lock_dir.join(&directory.path) == *path && directory.subdirectory.is_none()).then(
                || BuildSource::Tree {
                    path: path.clone(),
                    editable: directory.editable == Some(true),
                },
            )
        }
        LockSource::Distributions {
            sdist: Some(sdist), ..
        } => {
            let locked = match (&sdist.url, &sdist.path) {
                (Some(url), _) if url.scheme() == "file" => {
                    DirectLocation::Path(url.to_file_path().ok()?)
                }
                (Some(url), _) => DirectLocation::Url(DisplaySafeUrl::from(url.clone())),
                (None, Some(path)) => DirectLocation::Path(lock_dir.join(path)),
                (None, None) => return None,
            };
            if !same_location(&locked, location) {
                return None;
            }
            let filename = sdist.name.clone().or_else(|| match location {
                DirectLocation::Path(path) => {
                    Some(path.file_name()?.to_string_lossy().into_owned())
                }
                DirectLocation::Url(url) => url.path_segments()?.next_back().map(str::to_string),
            })?;
            Some(BuildSource::Sdist {
                location: location.clone(),
                filename,
                sha256: Some(sdist.hashes.0.get("sha256")?.clone()),
            })
        }
        _ => None,
    }
}

pub(crate) fn same_location(a: &DirectLocation, b: &DirectLocation) -> bool {
    match (a, b) {
        (DirectLocation::Url(a), DirectLocation::Url(b)) => {
            a.without_credentials() == b.without_credentials()
        }
        (DirectLocation::Path(a), DirectLocation::Path(b)) => a == b,
        _ => false,
    }
}

/// Where a lockfile's wheel entry is: its `url` (a `file:` URL is a path), else its `path`,
/// relative to the lockfile's directory when relative (PEP 751).
pub(crate) fn locked_location(wheel: &LockWheel, lock_dir: &Path) -> Option<DirectLocation> {
    if let Some(url) = &wheel.url {
        return Some(if url.scheme() == "file" {
            DirectLocation::Path(url.to_file_path().ok()?)
        } else {
            DirectLocation::Url(DisplaySafeUrl::from(url.clone()))
        });
    }
    let path = Path::new(wheel.path.as_deref()?);
    Some(DirectLocation::Path(lock_dir.join(path)))
}

/// The lockfile entry of a direct wheel: no `index` (PEP 751: it came from none), one wheel with
/// its `url` or `path` and sha256. A path inside the lockfile's directory is written relative to
/// it, so that the project directory can move; any other is absolute.
pub(crate) fn lock_package(
    wheel: &DirectWheel,
    requires_python: Option<uv_pep440::VersionSpecifiers>,
    lock_dir: Option<&Path>,
) -> Package {
    let url_or_path = |location: &DirectLocation| match location {
        DirectLocation::Url(url) => (Some(safevenv_redact::shareable(url)), None),
        DirectLocation::Path(path) => (None, Some(lock_path(path, lock_dir))),
    };
    // A built wheel is not recorded: the lockfile records what it was built from (PEP 751
    // `sdist` or `directory`), which a later run builds again (or finds in the built-wheel
    // cache).
    let source = match &wheel.built {
        Some(BuiltFrom::Sdist {
            location,
            filename,
            sha256,
            size,
        }) => {
            let (url, path) = url_or_path(location);
            LockSource::Distributions {
                sdist: Some(LockSdist {
                    name: Some(filename.clone()),
                    upload_time: None,
                    url,
                    path,
                    size: Some(*size),
                    hashes: Hashes::sha256(sha256.to_string()),
                }),
                wheels: Vec::new(),
            }
        }
        Some(BuiltFrom::Tree { path, editable }) => LockSource::Directory(Directory {
            path: lock_path(path, lock_dir),
            editable: Some(*editable),
            subdirectory: None,
        }),
        None => {
            let (url, path) = url_or_path(&wheel.location);
            LockSource::Distributions {
                sdist: None,
                wheels: vec![LockWheel {
                    name: Some(wheel.filename.clone()),
                    upload_time: None,
                    url,
                    path,
                    size: Some(wheel.size),
                    hashes: Hashes::sha256(wheel.sha256.to_string()),
                }],
            }
        }
    };
    Package {
        name: wheel.name.clone(),
        version: Some(wheel.version.clone()),
        marker: MarkerTree::TRUE,
        requires_python,
        dependencies: Vec::new(),
        index: None,
        source,
        attestation_identities: Vec::new(),
        tool: None,
    }
}

/// A path as a lockfile records it: relative to the lockfile's directory when inside it.
fn lock_path(path: &Path, lock_dir: Option<&Path>) -> String {
    let shown = lock_dir
        .and_then(|dir| path.strip_prefix(dir).ok())
        .unwrap_or(path);
    let shown = shown.to_string_lossy().replace('\\', "/");
    if shown.is_empty() {
        ".".to_string()
    } else {
        shown
    }
}

/// The `file:` URL of an absolute local path.
pub(crate) fn file_url(path: &Path) -> Result<DisplaySafeUrl, OpsError> {
    url::Url::from_file_path(path)
        .map(DisplaySafeUrl::from)
        .map_err(|()| OpsError::Internal(format!("`{}` is not an absolute path", path.display())))
}

/// The sha256 of a local file, read once; the fetch stage copies it in and checks the digest
/// again, so a file changed in between is refused.
pub(crate) fn hash_local(path: &Path) -> Result<Sha256, OpsError> {
    let read_error = |source| DirectError::ReadLocal {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs_err::File::open(path).map_err(read_error)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1024 * 1024];
    loop {
        let count = file.read(&mut buffer).map_err(read_error)?;
        if count == 0 {
            break;
        }
        hasher.update(&buffer[..count]);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Sha256::from_hex(&hex).map_err(|err| OpsError::Internal(format!("sha256 of `{hex}`: {err}")))
}

/// A direct location as messages show it (URLs redacted).
pub(crate) fn show(location: &DirectLocation) -> String {
    match location {
        DirectLocation::Url(url) => url.to_string(),
        DirectLocation::Path(path) => path.display().to_string(),
    }
}
