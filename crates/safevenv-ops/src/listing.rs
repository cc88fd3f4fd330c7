//! `safevenv list` and `safevenv freeze`: what the environment holds, where each distribution
//! came from, and pip-compatible pins with the hash of the very archive installed.
//!
//! Where a distribution came from is read from PEP 610 `direct_url.json` (a URL, a local path,
//! a repository); without one it came from an index, named when the lockfile records it for that
//! version. The hash `freeze` prints is the archive digest in safevenv's receipt, and only when
//! the receipt holds under this user's key (see the installer's `receipt`): a distribution
//! installed by another tool, or changed since, gets a `# hash unknown` comment rather than a
//! digest guessed from the lockfile (which lists every wheel of a version, not the one
//! installed).

use std::path::PathBuf;

use safevenv_cache::Cache;
use safevenv_installer::InstalledDist;
use safevenv_lock::Lock;
use serde_json::{Value, json};
use url::Url;
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::error::OpsError;
use crate::install::seal_key;
use crate::subject::{open_environment, read_lockfile};

/// Everything `safevenv list` and `safevenv freeze` need.
#[derive(Debug, Clone)]
pub struct ListSettings {
    /// `--env PATH`; default: the active environment, then `.venv` here.
    pub environment: Option<PathBuf>,
    /// The lockfile that names the index of each distribution, read when it exists.
    pub lockfile: Option<PathBuf>,
    /// Caches (the interpreter's probe, the receipts' key).
    pub cache: Cache,
    /// Where relative paths are.
    pub working_dir: PathBuf,
    /// `list --outdated`: also compare each distribution with the index's newest, with these
    /// index and policy settings (their `subject` is replaced by the environment listed).
    pub outdated: Option<crate::outdated::OutdatedSettings>,
}

/// Where an installed distribution came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An index (named when the lockfile records it for this version).
    Index(Option<String>),
    /// An archive at a URL (PEP 610 `archive_info`), credentials masked.
    Url(String),
    /// A local archive or directory (a `file:` URL), and whether it is editable.
    Path {
        /// The path.
        path: String,
        /// The `file:` URL, as pip's requirements format writes it.
        url: String,
        /// Installed in editable mode.
        editable: bool,
    },
    /// A repository (PEP 610 `vcs_info`): the URL, credentials masked, and the commit.
    Vcs {
        /// The repository's URL.
        url: String,
        /// The commit installed.
        commit: Option<String>,
    },
}

impl Origin {
    /// `index`, `url`, `path` or `vcs`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Index(_) => "index",
            Self::Url(_) => "url",
            Self::Path { .. } => "path",
            Self::Vcs { .. } => "vcs",
        }
    }

    /// The index, URL or path, for display.
    pub fn location(&self) -> Option<&str> {
        match self {
            Self::Index(index) => index.as_deref(),
            Self::Url(url) | Self::Vcs { url, .. } => Some(url),
            Self::Path { path, .. } => Some(path),
        }
    }
}

/// One installed distribution.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The project.
    pub name: PackageName,
    /// Its version.
    pub version: Version,
    /// Where it came from.
    pub origin: Origin,
    /// `INSTALLER`'s content, when present.
    pub installer: Option<String>,
    /// The user asked for it (`REQUESTED`), rather than it being only a dependency.
    pub requested: bool,
    /// The SHA-256 of the archive installed, from a receipt that holds; else why not.
    pub sha256: Result<String, String>,
}

/// What `safevenv list` and `safevenv freeze` report.
#[derive(Debug)]
pub struct ListOutcome {
    /// The environment.
    pub environment: PathBuf,
    /// The lockfile read, if any.
    pub lockfile: Option<PathBuf>,
    /// Every installed distribution, sorted by name.
    pub distributions: Vec<Listed>,
    /// With `--outdated`: those with a newer version on the index.
    pub outdated: Option<crate::outdated::OutdatedOutcome>,
}

impl ListOutcome {
    /// The JSON form for `--format json`.
    pub fn to_json(&self) -> Value {
        json!({
            "environment": self.environment.display().to_string(),
            "lockfile": self.lockfile.as_ref().map(|path| path.display().to_string()),
            "distributions": self.distributions.iter().map(|dist| {
                let mut value = json!({
                    "name": dist.name.as_ref(),
                    "version": dist.version.to_string(),
                    "source": dist.origin.kind(),
                    "location": dist.origin.location(),
                    "installer": dist.installer,
                    "requested": dist.requested,
                    "sha256": dist.sha256.as_ref().ok(),
                });
                if let Origin::Path { editable, .. } = &dist.origin {
                    value["editable"] = json!(editable);
                }
                if let Origin::Vcs { commit, .. } = &dist.origin {
                    value["commit"] = json!(commit);
                }
                if let Err(reason) = &dist.sha256 {
                    value["sha256_unknown"] = json!(reason);
                }
                value
            }).collect::<Vec<_>>(),
        })
    }

    /// pip's requirements format (`pip freeze`), with `--hash` for every distribution whose
    /// archive is known and a comment for the others. Comments never break pip's reading.
    pub fn to_freeze(&self) -> String {
        let mut out = String::new();
        for dist in &self.distributions {
            let pin = match &dist.origin {
                Origin::Index(_) => format!("{}=={}", dist.name, dist.version),
                Origin::Url(url) => format!("{} @ {url}", dist.name),
                Origin::Path {
                    path,
                    editable: true,
                    ..
                } => {
                    out.push_str(&format!(
                        "# {} {} is installed in editable mode from `{path}`\n",
                        dist.name, dist.version
                    ));
                    format!("-e {path}")
                }
                Origin::Path { url, .. } => format!("{} @ {url}", dist.name),
                Origin::Vcs { url, commit } => match commit {
                    Some(commit) => format!("{} @ {url}@{commit}", dist.name),
                    None => format!("{} @ {url}", dist.name),
                },
            };
            match &dist.sha256 {
                Ok(sha256) => out.push_str(&format!("{pin} \\\n    --hash=sha256:{sha256}\n")),
                Err(reason) => {
                    out.push_str(&format!("# hash unknown for {}: {reason}\n", dist.name));
                    out.push_str(&format!("{pin}\n"));
                }
            }
        }
        out
    }
}

/// Read what the environment holds (see the module's doc).
pub fn list(settings: &ListSettings) -> Result<ListOutcome, OpsError> {
    let env_path = settings
        .environment
        .as_ref()
        .map(|path| settings.working_dir.join(path));
    let (_, environment) =
        open_environment(env_path.as_deref(), &settings.working_dir, &settings.cache)?;
    let lockfile =
        crate::subject::present_lockfile(settings.lockfile.as_ref(), &settings.working_dir);
    let lock = lockfile.as_deref().map(read_lockfile).transpose()?;
    let key = seal_key(&settings.cache)?;
    let distributions = environment
        .installed()?
        .into_iter()
        .map(|dist| {
            let sha256 = match environment.installed_from(&dist, &key) {
                Ok(Some(sha256)) => Ok(sha256),
                Ok(None) => Err("safevenv installed it from an archive of unknown digest".into()),
                Err(unkept) => Err(unkept.to_string()),
            };
            Listed {
                origin: origin(&dist, lock.as_ref()),
                name: dist.name,
                version: dist.version,
                installer: dist.installer,
                requested: dist.requested,
                sha256,
            }
        })
        .collect();
    let prefix = environment.layout().prefix.clone();
    // The outdated stage opens the environment itself: its lock is released first.
    drop(environment);
    let outdated = match &settings.outdated {
        Some(query) => {
            let subject = crate::subject::Subject::Environment(prefix.clone());
            let listed = crate::subject::list(&subject, &settings.working_dir, &settings.cache)?;
            Some(crate::outdated::newer(listed, query)?)
        }
        None => None,
    };
    Ok(ListOutcome {
        environment: prefix,
        lockfile,
        distributions,
        outdated,
    })
}

/// Where `dist` came from: its PEP 610 `direct_url.json`, else an index.
fn origin(dist: &InstalledDist, lock: Option<&Lock>) -> Origin {
    let index = || {
        Origin::Index(
            lock.and_then(|lock| lock.package(&dist.name))
                .filter(|package| package.version.as_ref() == Some(&dist.version))
                .and_then(|package| package.index.as_ref())
                .map(|url| safevenv_redact::mask_secrets(url).to_string()),
        )
    };
    let Ok(text) = fs_err::read_to_string(dist.dist_info.join("direct_url.json")) else {
        return index();
    };
    let Ok(direct) = serde_json::from_str::<Value>(&text) else {
        return index();
    };
    let Some(url) = direct
        .get("url")
        .and_then(Value::as_str)
        .and_then(|url| Url::parse(url).ok())
    else {
        return index();
    };
    if let Some(vcs) = direct.get("vcs_info") {
        return Origin::Vcs {
            url: format!(
                "{}+{}",
                vcs.get("vcs").and_then(Value::as_str).unwrap_or("git"),
                safevenv_redact::mask_secrets(&url)
            ),
            commit: vcs
                .get("commit_id")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
    }
    if url.scheme() == "file" {
        let editable = direct
            .get("dir_info")
            .and_then(|info| info.get("editable"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let path = url
            .to_file_path()
            .map_or_else(|()| url.to_string(), |path| path.display().to_string());
        return Origin::Path {
            path,
            url: url.to_string(),
            editable,
        };
    }
    Origin::Url(safevenv_redact::mask_secrets(&url).to_string())
}
