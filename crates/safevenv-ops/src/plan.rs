//! The distributions a run wants in the environment, from a resolution or from a lockfile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use safevenv_fetch::{ArtifactRequest, Sha256};
use safevenv_index::DisplaySafeUrl;
use safevenv_lock::{Lock, Package};
use safevenv_policy::{HashOrigin, Listing, Origin};
use safevenv_python::Interpreter;
use safevenv_resolver::{Resolution, Yanked};
use url::Url;
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_platform_tags::{TagCompatibility, Tags};
use uv_pypi_types::DirectUrl;

use crate::build::BuiltFrom;
use crate::direct::{DirectWheel, file_url, locked_location};
use crate::error::OpsError;
use crate::input::DirectLocation;

/// One distribution to have in the environment, and the one wheel that provides it.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub(crate) name: PackageName,
    pub(crate) version: Version,
    pub(crate) filename: String,
    pub(crate) wheel: WheelFilename,
    pub(crate) url: DisplaySafeUrl,
    pub(crate) sha256: Sha256,
    pub(crate) hash_origin: HashOrigin,
    pub(crate) size: Option<u64>,
    pub(crate) upload_time: Option<String>,
    pub(crate) yanked: bool,
    pub(crate) source: WantedSource,
    pub(crate) requested: bool,
    /// For an index artifact: what its index page says of [`Wanted::url`]. `None` until a
    /// lockfile's artifact is compared with the page ([`crate::sources::check_locked_urls`]).
    pub(crate) listing: Option<Listing>,
    /// The other configured indexes that serve this name, not declared one project with the
    /// index it comes from (PEP 708); checked at resolution, so empty for a lockfile's package.
    pub(crate) also_on_indexes: Vec<Url>,
    /// For a wheel safevenv built: what it was built from (the source the policy judges and
    /// `direct_url.json` names).
    pub(crate) built: Option<BuiltFrom>,
}

/// Where a wanted distribution comes from.
#[derive(Debug, Clone)]
pub(crate) enum WantedSource {
    /// An index (its URL as the lockfile records it).
    Index(Url),
    /// A wheel at a direct URL ([`Wanted::url`]).
    DirectUrl {
        /// Where the URL was named.
        origin: Origin,
    },
    /// A local wheel file ([`Wanted::url`] is its `file:` URL).
    Path {
        /// The file, absolute.
        path: PathBuf,
        /// Where the path was named.
        origin: Origin,
    },
}

impl Wanted {
    /// PEP 610 `direct_url.json` for a distribution not from an index: the URL and the sha256
    /// it was installed by.
    pub(crate) fn direct_url(&self) -> Result<Option<DirectUrl>, OpsError> {
        if matches!(self.source, WantedSource::Index(_)) {
            return Ok(None);
        }
        let json = match &self.built {
            // PEP 610: a local directory is `dir_info` (with `editable` for PEP 660 installs).
            Some(BuiltFrom::Tree { path, editable }) => serde_json::json!({
                "url": file_url(path)?.to_string(),
                "dir_info": if *editable { serde_json::json!({ "editable": true }) } else { serde_json::json!({}) },
            }),
            // An sdist is an archive: its URL and the sha256 it was fetched by.
            Some(built @ BuiltFrom::Sdist { sha256, .. }) => serde_json::json!({
                "url": built.location_url()?,
                "archive_info": { "hash": format!("sha256={sha256}"), "hashes": { "sha256": sha256.to_string() } },
            }),
            None => self.archive_json(),
        };
        serde_json::from_value(json.clone())
            .map(Some)
            .map_err(|err| OpsError::Internal(format!("direct_url.json `{json}`: {err}")))
    }

    fn archive_json(&self) -> serde_json::Value {
        // Security: `direct_url.json` is readable by every user of the environment.
        let url = safevenv_redact::shareable(&self.url).to_string();
        let hash = format!("sha256={}", self.sha256);
        // `ArchiveInfo`'s fields are private to uv: it is made through its serde form, which
        // PEP 610 defines.
        serde_json::json!({
            "url": url,
            "archive_info": { "hash": hash, "hashes": { "sha256": self.sha256.to_string() } },
        })
    }

    pub(crate) fn artifact_request(&self) -> ArtifactRequest {
        ArtifactRequest {
            name: self.name.clone(),
            version: self.version.clone(),
            filename: self.filename.clone(),
            url: self.url.clone(),
            expected: self.sha256,
            size: self.size,
        }
    }
}

/// The wanted distributions of a fresh resolution (hashes from the index, or the input's pins,
/// which the resolution was checked against).
pub(crate) fn from_resolution(
    resolution: &Resolution,
    lock: &Lock,
    direct: &BTreeMap<PackageName, DirectWheel>,
    also_on: &BTreeMap<PackageName, Vec<Url>>,
) -> Result<Vec<Wanted>, OpsError> {
    resolution
        .distributions
        .iter()
        .map(|dist| {
            let sha256 = dist
                .file
                .hashes
                .get("sha256")
                .ok_or_else(|| OpsError::NoIndexHash {
                    name: dist.name.clone(),
                    filename: dist.file.filename.clone(),
                })?;
            if let Some(wheel) = direct.get(&dist.name) {
                return Ok(direct_wanted(wheel, dist.requested));
            }
            let index = lock
                .package(&dist.name)
                .and_then(|package| package.index.clone())
                .ok_or_else(|| {
                    OpsError::Internal(format!("`{}` is resolved but not locked", dist.name))
                })?;
            Ok(Wanted {
                name: dist.name.clone(),
                version: dist.version.clone(),
                filename: dist.file.filename.clone(),
                wheel: dist.wheel.clone(),
                url: parse_url(&dist.file.url)?,
                sha256: parse_sha256(&dist.name, sha256)?,
                hash_origin: HashOrigin::Index,
                size: dist.file.size,
                upload_time: dist.file.upload_time.clone(),
                yanked: !matches!(dist.file.yanked, Yanked::No),
                source: WantedSource::Index(index),
                requested: dist.requested,
                // The resolver read this URL from the index page in this run.
                listing: Some(Listing::FromIndexPage),
                also_on_indexes: also_on.get(&dist.name).cloned().unwrap_or_default(),
                built: None,
            })
        })
        .collect()
}

fn direct_wanted(wheel: &DirectWheel, requested: bool) -> Wanted {
    let source = match &wheel.location {
        DirectLocation::Url(_) => WantedSource::DirectUrl {
            origin: wheel.origin.clone(),
        },
        DirectLocation::Path(path) => WantedSource::Path {
            path: path.clone(),
            origin: wheel.origin.clone(),
        },
    };
    Wanted {
        name: wheel.name.clone(),
        version: wheel.version.clone(),
        filename: wheel.filename.clone(),
        wheel: wheel.wheel.clone(),
        url: wheel.url.clone(),
        sha256: wheel.sha256,
        hash_origin: wheel.hash_origin,
        size: Some(wheel.size),
        upload_time: None,
        yanked: false,
        source,
        requested,
        listing: None,
        also_on_indexes: Vec::new(),
        built: wheel.built.clone(),
    }
}

/// The wanted distributions of a lockfile (at `lockfile`, which relative wheel paths are
/// relative to), for `interpreter` and the `chosen` extras and groups: packages whose marker does
/// not hold are skipped, and of each
/// package's wheels the best-ranked compatible one is chosen.
pub(crate) fn from_lock(
    lock: &Lock,
    lockfile: &Path,
    interpreter: &Interpreter,
    tags: &Tags,
    requested: &[PackageName],
    chosen: &crate::project::Chosen,
) -> Result<Vec<Wanted>, OpsError> {
    let markers = interpreter.markers();
    let mut wanted = Vec::new();
    for package in lock.iter() {
        if !chosen.selects(package.marker, markers) {
            continue;
        }
        wanted.push(locked_wheel(
            package,
            lockfile.parent().unwrap_or(Path::new("")),
            tags,
            requested,
        )?);
    }
    Ok(wanted)
}

fn locked_wheel(
    package: &Package,
    lock_dir: &Path,
    tags: &Tags,
    requested: &[PackageName],
) -> Result<Wanted, OpsError> {
    let refuse = |reason: String| OpsError::LockedPackage {
        name: package.name.clone(),
        reason,
    };
    let version = package
        .version
        .clone()
        .ok_or_else(|| refuse("it has no version".to_string()))?;
    let mut best: Option<(TagCompatibility, &safevenv_lock::Wheel, WheelFilename)> = None;
    for wheel in package.wheels() {
        let Some(filename) = wheel.file_name() else {
            continue;
        };
        let Ok(parsed) = WheelFilename::from_str(&filename) else {
            continue;
        };
        let compatibility = parsed.compatibility(tags);
        if compatibility.is_compatible()
            && best
                .as_ref()
                .is_none_or(|(rank, _, _)| compatibility > *rank)
        {
            best = Some((compatibility, wheel, parsed));
        }
    }
    let Some((_, wheel, parsed)) = best else {
        return Err(refuse(if package.wheels().is_empty() {
            "it has no wheel; safevenv installs wheels only".to_string()
        } else {
            "none of its wheels is compatible with this interpreter".to_string()
        }));
    };
    // A package without `index` came from a direct URL or a local file (PEP 751); the policy
    // judges that source again (`sources.direct-url`, `sources.path`) as for any other run.
    let (url, source) = match &package.index {
        Some(index) => {
            let url = wheel
                .url
                .as_ref()
                .ok_or_else(|| refuse("its wheel has no URL".to_string()))?;
            (
                DisplaySafeUrl::from(url.clone()),
                WantedSource::Index(index.clone()),
            )
        }
        None => match locked_location(wheel, lock_dir)
            .ok_or_else(|| refuse("its wheel has neither a URL nor a path".to_string()))?
        {
            DirectLocation::Url(url) => (
                url,
                WantedSource::DirectUrl {
                    origin: Origin::Lockfile,
                },
            ),
            DirectLocation::Path(path) => (
                file_url(&path)?,
                WantedSource::Path {
                    path,
                    origin: Origin::Lockfile,
                },
            ),
        },
    };
    let sha256 = wheel
        .hashes
        .get("sha256")
        .ok_or_else(|| refuse("its wheel has no sha256 hash".to_string()))?;
    Ok(Wanted {
        name: package.name.clone(),
        version,
        filename: wheel.file_name().unwrap_or_default(),
        wheel: parsed,
        url,
        sha256: parse_sha256(&package.name, sha256)?,
        hash_origin: HashOrigin::Lockfile,
        size: wheel.size,
        upload_time: wheel.upload_time.as_ref().map(ToString::to_string),
        // PEP 751 records no yanked state; the lockfile's pin is the user's explicit choice.
        yanked: false,
        source,
        requested: requested.contains(&package.name),
        listing: None,
        also_on_indexes: Vec::new(),
        built: None,
    })
}

fn parse_url(url: &str) -> Result<DisplaySafeUrl, OpsError> {
    DisplaySafeUrl::parse(url).map_err(|err| OpsError::InvalidFileUrl {
        url: url.to_string(),
        reason: err.to_string(),
    })
}

fn parse_sha256(name: &PackageName, hex: &str) -> Result<Sha256, OpsError> {
    Sha256::from_hex(hex).map_err(|err| OpsError::LockedPackage {
        name: name.clone(),
        reason: format!("its sha256 is invalid: {err}"),
    })
}
