//! The distributions an environment holds, read from their `.dist-info` directories (PEP 376,
//! "Recording installed projects").

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pypi_types::Metadata10;

use crate::layout::EnvironmentLayout;
use crate::{Destinations, InstallError, STATE_DIR};

/// One distribution installed in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledDist {
    /// Its normalized name.
    pub name: PackageName,
    /// Its version, from `METADATA`.
    pub version: Version,
    /// Its `.dist-info` directory.
    pub dist_info: PathBuf,
    /// Its `RECORD` file, when there is one (without it, it cannot be removed).
    pub record: Option<PathBuf>,
    /// The contents of `INSTALLER` (`safevenv`, `pip`, `uv`...), when present.
    pub installer: Option<String>,
    /// Whether `REQUESTED` is present: the user asked for it, it is not only a dependency.
    pub requested: bool,
}

/// Every distribution in the environment's `purelib` and `platlib`, sorted by name.
pub(crate) fn scan(layout: &EnvironmentLayout) -> Result<Vec<InstalledDist>, InstallError> {
    let dirs: BTreeSet<&Path> = [&layout.scheme.purelib, &layout.scheme.platlib]
        .into_iter()
        .map(PathBuf::as_path)
        .collect();
    let mut found = Vec::new();
    for dir in dirs {
        let entries = match fs_err::read_dir(dir) {
            Ok(entries) => entries,
            // A fresh environment may not have created its `site-packages` yet.
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(InstallError::Scan(err)),
        };
        for entry in entries {
            let path = entry.map_err(InstallError::Scan)?.path();
            if path.extension().is_some_and(|ext| ext == "dist-info") && path.is_dir() {
                found.push(read_dist_info(&path)?);
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
    Ok(found)
}

fn read_dist_info(path: &Path) -> Result<InstalledDist, InstallError> {
    let invalid = |reason: String| InstallError::InvalidDistInfo {
        path: path.to_path_buf(),
        reason,
    };
    let metadata = fs_err::read(path.join("METADATA")).map_err(InstallError::Scan)?;
    let Metadata10 { name, version } =
        Metadata10::parse_pkg_info(&metadata).map_err(|err| invalid(err.to_string()))?;
    let version = Version::from_str(&version).map_err(|err| invalid(err.to_string()))?;
    let record = path.join("RECORD");
    let installer = match fs_err::read_to_string(path.join("INSTALLER")) {
        Ok(text) => Some(text.trim().to_string()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(InstallError::Scan(err)),
    };
    Ok(InstalledDist {
        name,
        version,
        dist_info: path.to_path_buf(),
        record: record.is_file().then_some(record),
        installer,
        requested: path.join("REQUESTED").is_file(),
    })
}

/// The files a distribution owns, as paths relative to the prefix: every `RECORD` entry that
/// exists, and everything in its `.dist-info` directory.
///
/// Security: a `RECORD` is written by whoever installed the distribution, and uninstalling deletes
/// what it lists. An entry that resolves outside the prefix (`../../../../etc/passwd`, an absolute
/// `/etc/passwd`, or a path through a symbolic link that leaves the environment) is refused,
/// not skipped: a `RECORD` like that was tampered with, and the whole removal stops. Entries in
/// safevenv's own `.safevenv/` state are refused too (they could delete the journal), and so are
/// entries naming the environment's own files by the destination model ([`Destinations`]): its
/// interpreter (`bin/python`), `pyvenv.cfg`, activation scripts, the interpreter's library
/// outside site-packages. No wheel can install those (the same model refuses them at install),
/// so a `RECORD` listing them was written to make an uninstall break the environment.
pub(crate) fn owned_files(
    layout: &EnvironmentLayout,
    dist: &InstalledDist,
) -> Result<BTreeSet<PathBuf>, InstallError> {
    let Some(record) = &dist.record else {
        return Err(InstallError::MissingRecord {
            name: dist.name.to_string(),
            path: dist.dist_info.join("RECORD"),
        });
    };
    let site_packages = dist.dist_info.parent().unwrap_or(&layout.prefix);
    let canonical_prefix = fs_err::canonicalize(&layout.prefix).map_err(InstallError::Scan)?;
    let csv_error = |source| InstallError::RecordCsv {
        path: record.clone(),
        source,
    };
    let file = fs_err::File::open(record).map_err(InstallError::Scan)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let destinations = Destinations::new(layout);
    let mut owned = BTreeSet::new();
    for row in reader.records() {
        let row = row.map_err(csv_error)?;
        let Some(entry) = row.get(0).filter(|entry| !entry.is_empty()) else {
            continue;
        };
        // A row marked as a directory names no file of the distribution: what the directory
        // holds is listed on its own rows. Resolving `victim/__init__.py/` to the file would
        // remove another distribution's file.
        if entry.ends_with('/') || entry.ends_with('\\') {
            continue;
        }
        let outside = || InstallError::RecordPathOutsideEnvironment {
            record: record.clone(),
            entry: entry.to_string(),
            prefix: layout.prefix.clone(),
        };
        // PEP 376: paths are relative to the directory holding `.dist-info`, or absolute.
        let joined = site_packages.join(entry);
        let relative = layout.relative(&joined).ok_or_else(outside)?;
        if relative.as_os_str().is_empty() {
            return Err(outside());
        }
        if relative.starts_with(STATE_DIR) {
            return Err(InstallError::RecordPathInStateDir {
                record: record.clone(),
                entry: entry.to_string(),
            });
        }
        // Invariant: removal never deletes what the install model says no distribution owns.
        // Threat: a hostile or tampered `RECORD` (`../../../bin/python`) turning `uninstall`
        // into deleting the interpreter or `pyvenv.cfg`.
        if let Some(what) = destinations
            .environment_file(&relative)
            .map_err(|_| outside())?
        {
            return Err(InstallError::RecordPathEnvironmentFile {
                record: record.clone(),
                entry: entry.to_string(),
                what,
            });
        }
        let path = layout.prefix.join(&relative);
        let Ok(metadata) = fs_err::symlink_metadata(&path) else {
            // Already gone: nothing to remove.
            continue;
        };
        // The lexical check above cannot see symbolic links: resolve the parent directory (the
        // entry itself may be a link, which is removed, not followed) and check it again.
        if let Some(parent) = path.parent() {
            let parent = fs_err::canonicalize(parent).map_err(InstallError::Scan)?;
            if !parent.starts_with(&canonical_prefix) {
                return Err(outside());
            }
        }
        // Directories are not files of the distribution (some installers list them); what they
        // hold is listed on its own lines, and emptied directories are removed afterwards.
        if !metadata.is_dir() {
            owned.insert(relative);
        }
    }
    // Files in `.dist-info` that `RECORD` does not list (an installer's extras) go with it.
    let dist_info =
        layout
            .relative(&dist.dist_info)
            .ok_or_else(|| InstallError::InvalidDistInfo {
                path: dist.dist_info.clone(),
                reason: "it is outside the environment".to_string(),
            })?;
    walk_files(&layout.prefix, &dist_info, &mut owned).map_err(InstallError::Scan)?;
    Ok(owned)
}

/// Add every non-directory below `prefix/dir` to `out`, relative to `prefix`.
fn walk_files(prefix: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) -> io::Result<()> {
    for entry in fs_err::read_dir(prefix.join(dir))? {
        let entry = entry?;
        let relative = dir.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            walk_files(prefix, &relative, out)?;
        } else {
            out.insert(relative);
        }
    }
    Ok(())
}
