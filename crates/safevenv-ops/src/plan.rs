//! The distributions a run wants in the environment, from a resolution or from a lockfile.

use std::str::FromStr;

use safevenv_fetch::{ArtifactRequest, Sha256};
use safevenv_index::DisplaySafeUrl;
use safevenv_lock::{Lock, Package};
use safevenv_policy::HashOrigin;
use safevenv_python::Interpreter;
use safevenv_resolver::{Resolution, Yanked};
use url::Url;
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_platform_tags::{TagCompatibility, Tags};

use crate::error::OpsError;

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
    pub(crate) index: Url,
    pub(crate) requested: bool,
}

impl Wanted {
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
                index,
                requested: dist.requested,
            })
        })
        .collect()
}

/// The wanted distributions of a lockfile, for `interpreter`: packages whose marker does not
/// hold are skipped, and of each package's wheels the best-ranked compatible one is chosen.
pub(crate) fn from_lock(
    lock: &Lock,
    interpreter: &Interpreter,
    tags: &Tags,
    requested: &[PackageName],
) -> Result<Vec<Wanted>, OpsError> {
    let markers = interpreter.markers();
    let mut wanted = Vec::new();
    for package in lock.iter() {
        if !package.marker.evaluate(markers, &[]) {
            continue;
        }
        wanted.push(locked_wheel(package, tags, requested)?);
    }
    Ok(wanted)
}

fn locked_wheel(
    package: &Package,
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
    let index = package.index.clone().ok_or_else(|| {
        refuse("it names no index; safevenv installs from an index only".to_string())
    })?;
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
    let url = wheel
        .url
        .as_ref()
        .ok_or_else(|| refuse("its wheel has no URL".to_string()))?;
    let sha256 = wheel
        .hashes
        .get("sha256")
        .ok_or_else(|| refuse("its wheel has no sha256 hash".to_string()))?;
    Ok(Wanted {
        name: package.name.clone(),
        version,
        filename: wheel.file_name().unwrap_or_default(),
        wheel: parsed,
        url: DisplaySafeUrl::from(url.clone()),
        sha256: parse_sha256(&package.name, sha256)?,
        hash_origin: HashOrigin::Lockfile,
        size: wheel.size,
        upload_time: wheel.upload_time.as_ref().map(ToString::to_string),
        // PEP 751 records no yanked state; the lockfile's pin is the user's explicit choice.
        yanked: false,
        index,
        requested: requested.contains(&package.name),
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
