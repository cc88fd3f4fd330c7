//! The build stage: an sdist or a local source tree becomes a wheel, which then goes through
//! the pipeline like any other wheel (fetch by its sha256, verify, gate, stage, journaled
//! install).
//!
//! ```text
//! policy (sources, artifacts.sdist) → source (fetched by pin, unpacked / copied to scratch)
//!   → [build-system] → build environment (resolve → fetch → verify → gate → install)
//!   → hooks in the sandbox (get_requires_for_build_*, build_wheel / build_editable)
//!   → built-wheel cache
//! ```
//!
//! Invariant: no code of the artifact runs before the policy allowed building it, and its code
//! runs only inside [`safevenv_sandbox::Sandbox`] (or, when the user names the package in
//! `--unsandboxed-build`, explicitly outside it).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use safevenv_cache::CacheBucket;
use safevenv_fetch::{ArtifactRequest, DEFAULT_MAX_SIZE, FetchOptions, Fetcher, Sha256};
use safevenv_policy::{
    Artifact, ArtifactKind, AttestationFacts, HashPin, LicenseFacts, PackageFacts, Policy,
    ResolvedSet, Source,
};
use safevenv_python::Interpreter;
use safevenv_sandbox::{Limits, Sandbox, SandboxCommand, SandboxError, scrubbed_env};
use sha2::Digest;
use tracing::{debug, warn};
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::attest::{Attestor, RunAttestations};
use crate::direct::{file_url, hash_local, show};
use crate::error::OpsError;
use crate::input::{BuildRequest, BuildSource, DirectLocation, DirectRequest};
use crate::install::{Network, apply_wanted, open_layout};
use crate::lock::{LockSettings, resolve_lock_for_build};
use crate::plan;

/// A build source as messages show it.
pub(crate) fn describe(source: &BuildSource) -> String {
    match source {
        BuildSource::Sdist { location, .. } => show(location),
        BuildSource::Tree { path, .. } => path.display().to_string(),
    }
}

/// The frontend that calls one backend hook (PEP 517), run by the build environment's
/// interpreter. Kept in-tree, as `pyproject-hooks` keeps its `_in_process.py`.
const FRONTEND: &str = include_str!("build_frontend.py");

/// PEP 517: a project without `build-backend` is built by setuptools' legacy backend, which
/// runs its `setup.py`.
const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";
const LEGACY_REQUIRES: &str = "setuptools>=40.8.0";

/// Why a build failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The sandbox cannot be set up on this machine, and the user did not opt out.
    #[error("cannot build `{name}` contained: {source}")]
    SandboxUnavailable {
        /// The project.
        name: String,
        /// What is missing.
        #[source]
        source: SandboxError,
    },
    /// The sandbox could not run the hook.
    #[error("the build hook `{hook}` of `{name}` could not be run")]
    Sandbox {
        /// The project.
        name: String,
        /// The hook.
        hook: String,
        /// Why.
        #[source]
        source: SandboxError,
    },
    /// The backend's hook failed.
    #[error("the build hook `{hook}` of `{name}` failed ({status}):\n{stderr}")]
    HookFailed {
        /// The project.
        name: String,
        /// The hook.
        hook: String,
        /// How the frontend exited.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// The backend does not define a hook the build needs (`build_editable` for `-e`).
    #[error("the build backend `{backend}` of `{name}` has no `{hook}` hook")]
    MissingHook {
        /// The project.
        name: String,
        /// The backend.
        backend: String,
        /// The hook.
        hook: String,
    },
    /// The hook returned something that is not a wheel file in the output directory.
    #[error("the build of `{name}` returned `{returned}`, which is not a wheel it wrote")]
    BadResult {
        /// The project.
        name: String,
        /// What the hook returned.
        returned: String,
    },
    /// The built wheel is of another project than the one requested.
    #[error("building `{source_name}` produced a wheel of `{built}`")]
    NameMismatch {
        /// The source (path or URL).
        source_name: String,
        /// The project the wheel is of.
        built: PackageName,
    },
    /// `pyproject.toml` could not be read.
    #[error("cannot read `{}`: {reason}", path.display())]
    Pyproject {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A source tree has neither `pyproject.toml` nor `setup.py`.
    #[error("`{}` is not a Python project (it has neither `pyproject.toml` nor `setup.py`)", path.display())]
    NotAProject {
        /// The directory.
        path: PathBuf,
    },
    /// The sdist's file name is not `name-version.tar.gz`.
    #[error("`{filename}` is not an sdist file name safevenv can build (`name-version.tar.gz`)")]
    SdistFilename {
        /// The file name.
        filename: String,
    },
    /// The sdist holds an entry that could land outside the directory it is unpacked to, or
    /// is not a regular file or directory.
    #[error("the sdist `{filename}` holds the unsafe entry `{entry}`: {reason}")]
    UnsafeSdistEntry {
        /// The sdist.
        filename: String,
        /// The entry.
        entry: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The sdist does not have one top-level directory with the project in it.
    #[error("the sdist `{filename}` does not hold one top-level project directory")]
    SdistLayout {
        /// The sdist.
        filename: String,
    },
    /// A build dependency itself needs building.
    #[error("the build dependencies of `{name}` name `{requirement}`, which needs building itself")]
    NestedBuild {
        /// The project being built.
        name: String,
        /// The build requirement.
        requirement: String,
    },
    /// Reading or writing a file of the build failed.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self + use<> {
        let path = path.to_path_buf();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

/// What a built wheel was built from, kept for the lockfile and `direct_url.json`.
#[derive(Debug, Clone)]
pub(crate) enum BuiltFrom {
    /// An sdist, fetched and verified by its sha256.
    Sdist {
        location: DirectLocation,
        filename: String,
        sha256: Sha256,
        size: u64,
    },
    /// A local source tree.
    Tree { path: PathBuf, editable: bool },
}

impl BuiltFrom {
    /// The requirement as a lockfile records it, so that a later run builds it again.
    pub(crate) fn location_url(&self) -> Result<String, OpsError> {
        Ok(match self {
            Self::Sdist {
                location: DirectLocation::Url(url),
                ..
            } => safevenv_redact::shareable(url).to_string(),
            Self::Sdist {
                location: DirectLocation::Path(path),
                ..
            }
            | Self::Tree { path, .. } => file_url(path)?.to_string(),
        })
    }
}

/// What the build stage needs from the run.
pub(crate) struct BuildContext<'a> {
    pub(crate) settings: &'a LockSettings,
    pub(crate) interpreter: &'a Interpreter,
    pub(crate) policy: &'a Policy,
    pub(crate) network: Network<'a>,
    /// `--unsandboxed-build`: the projects the user lets build without isolation.
    pub(crate) unsandboxed: &'a [PackageName],
}

/// Builds every request whose marker holds, and returns each built wheel as a direct wheel
/// request (a local file, pinned by the sha256 it was read with).
pub(crate) fn build_all(
    requests: &[BuildRequest],
    context: &BuildContext<'_>,
) -> Result<Vec<DirectRequest>, OpsError> {
    let mut built = Vec::new();
    for request in requests {
        if !request.marker.evaluate(context.interpreter.markers(), &[]) {
            continue;
        }
        built.push(build_one(request, context)?);
    }
    Ok(built)
}

fn build_one(
    request: &BuildRequest,
    context: &BuildContext<'_>,
) -> Result<DirectRequest, OpsError> {
    let cache = context.network.cache;
    let scratch_root = cache.root().join("build-scratch");
    fs_err::create_dir_all(&scratch_root)
        .map_err(BuildError::io("create the build directory", &scratch_root))?;
    let scratch = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&scratch_root)
        .map_err(BuildError::io("create a build directory in", &scratch_root))?;
    let scratch = scratch.path();
    for dir in ["out", "home", "tmp", "src"] {
        let dir = scratch.join(dir);
        fs_err::create_dir_all(&dir).map_err(BuildError::io("create", &dir))?;
    }

    // (1) The source: an sdist is fetched by its pin and unpacked into scratch; a tree is the
    // user's own directory.
    let (from, name_hint, version_hint) = match &request.source {
        BuildSource::Sdist {
            location,
            filename,
            sha256,
        } => {
            let (name, version) = sdist_name_version(filename, request.name.as_ref())?;
            let (sha256, size) = fetch_sdist(
                location,
                filename,
                sha256.as_deref(),
                &name,
                &version,
                context,
            )?;
            (
                BuiltFrom::Sdist {
                    location: location.clone(),
                    filename: filename.clone(),
                    sha256,
                    size,
                },
                Some(name),
                Some(version),
            )
        }
        BuildSource::Tree { path, editable } => (
            BuiltFrom::Tree {
                path: path.clone(),
                editable: *editable,
            },
            match &request.name {
                Some(name) => Some(name.clone()),
                None => static_project_name(path)?,
            },
            None,
        ),
    };
    let shown = match &from {
        BuiltFrom::Sdist { location, .. } => show(location),
        BuiltFrom::Tree { path, .. } => path.display().to_string(),
    };
    let display_name = name_hint
        .as_ref()
        .map_or_else(|| shown.clone(), ToString::to_string);

    // (2) The policy decides before any of the artifact's code runs (`artifacts.sdist` for an
    // sdist, `sources.*` for every source).
    judge_build(
        request,
        &from,
        name_hint.as_ref(),
        version_hint.as_ref(),
        context,
    )?;

    // (3) The tree the backend sees.
    let (source_dir, editable) = match &from {
        BuiltFrom::Sdist { filename, .. } => {
            let archive = fetched_path(context, &from)?;
            (
                unpack_sdist(&archive, filename, &scratch.join("src"))?,
                false,
            )
        }
        BuiltFrom::Tree {
            path,
            editable: true,
        } => (path.clone(), true),
        BuiltFrom::Tree {
            path,
            editable: false,
        } => {
            // A non-editable build works on a copy: the backend writes `build/` and metadata
            // next to the sources, and the user's tree stays as it was (read-only to it).
            let copy = scratch.join("src").join("project");
            copy_tree(path, &copy)?;
            (copy, false)
        }
    };
    let system = build_system(&source_dir)?;
    let hook_suffix = if editable { "editable" } else { "wheel" };

    // (4) The build environment, resolved with the same resolver from the same indexes, and
    // its key for the built-wheel cache.
    let env_requirements = resolve_build_env(&system.requires, &display_name, context)?;
    let cache_key = match &from {
        BuiltFrom::Sdist { sha256, .. } => Some(built_key(
            sha256,
            &system,
            hook_suffix,
            context.interpreter,
            &env_requirements,
        )),
        BuiltFrom::Tree { .. } => None,
    };
    let built_bucket = cache.bucket(CacheBucket::Built).map_err(OpsError::from)?;
    if let Some(key) = &cache_key
        && let Some(wheel) = cached_wheel(&built_bucket.join(key))?
    {
        debug!("`{shown}` was built before: `{}`", wheel.display());
        return direct_request(request, &from, &wheel, name_hint.as_ref(), &shown);
    }

    let sandbox = sandbox_for(&display_name, name_hint.as_ref(), context)?;
    let env_dir = scratch.join("env");
    safevenv_venv::create_venv(
        &env_dir,
        context.interpreter,
        &safevenv_venv::VenvOptions::default(),
    )
    .map_err(|err| {
        OpsError::Internal(format!(
            "the build environment `{}`: {err}",
            env_dir.display()
        ))
    })?;
    install_build_env(&env_dir, &env_requirements, context)?;
    let env_python = env_dir.join("bin").join("python");
    let frontend = scratch.join("frontend.py");
    fs_err::write(&frontend, FRONTEND).map_err(BuildError::io("write", &frontend))?;
    let hooks = Hooks {
        sandbox: &sandbox,
        python: &env_python,
        frontend: &frontend,
        scratch,
        source_dir: &source_dir,
        editable,
        system: &system,
        name: &display_name,
        interpreter: context.interpreter,
        env_dir: &env_dir,
        progress: context.settings.progress,
    };

    // (5) PEP 517 `get_requires_for_build_*`: more build dependencies, through the same
    // pipeline into the same environment.
    let (_, extra) = hooks.call(
        &format!("get_requires_for_build_{hook_suffix}"),
        serde_json::json!([null]),
    )?;
    let extra: Vec<String> = serde_json::from_value(extra).map_err(|_| BuildError::BadResult {
        name: display_name.clone(),
        returned: "a `get_requires_for_build_*` answer that is not a list of strings".to_string(),
    })?;
    if !extra.is_empty() {
        let mut all = system.requires.clone();
        all.extend(extra);
        let wanted = resolve_build_env(&all, &display_name, context)?;
        install_build_env(&env_dir, &wanted, context)?;
    }

    // (6) The wheel.
    let out = scratch.join("out");
    let hook = format!("build_{hook_suffix}");
    let (missing, returned) = hooks.call(
        &hook,
        serde_json::json!([out.to_string_lossy(), null, null]),
    )?;
    if missing {
        return Err(BuildError::MissingHook {
            name: display_name,
            backend: system.backend,
            hook,
        }
        .into());
    }
    let bad = |returned: String| BuildError::BadResult {
        name: display_name.clone(),
        returned,
    };
    let returned = returned
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| bad(returned.to_string()))?;
    // Security: the hook's answer is the backend's: only a plain file name inside the output
    // directory is taken, so that it cannot point safevenv at any other file.
    if returned.contains('/') || returned.contains('\\') || !returned.ends_with(".whl") {
        return Err(bad(returned).into());
    }
    let wheel = out.join(&returned);
    if !wheel.is_file() || wheel.is_symlink() {
        return Err(bad(returned).into());
    }

    // (7) Into the built-wheel cache (an sdist's by its key; a tree's by the wheel's digest, so
    // that it outlives the scratch directory until the fetch stage copies it in).
    let sha256 = hash_local(&wheel)?;
    let key = cache_key.unwrap_or_else(|| format!("tree-{sha256}"));
    let stored = store_wheel(&built_bucket, &key, &wheel, &returned)?;
    direct_request(request, &from, &stored, name_hint.as_ref(), &shown)
}

/// `name-version.tar.gz`, checked against the requirement's name when it has one.
fn sdist_name_version(
    filename: &str,
    name: Option<&PackageName>,
) -> Result<(PackageName, Version), BuildError> {
    let refuse = || BuildError::SdistFilename {
        filename: filename.to_string(),
    };
    let stem = filename.strip_suffix(".tar.gz").ok_or_else(refuse)?;
    let (project, version) = stem.rsplit_once('-').ok_or_else(refuse)?;
    let project = PackageName::from_str(project).map_err(|_| refuse())?;
    let version = Version::from_str(version).map_err(|_| refuse())?;
    // `foo @ .../bar-1.0.tar.gz` would build `bar` under the name `foo` was allowed for.
    if name.is_some_and(|name| *name != project) {
        return Err(refuse());
    }
    Ok((project, version))
}

fn fetch_sdist(
    location: &DirectLocation,
    filename: &str,
    pin: Option<&str>,
    name: &PackageName,
    version: &Version,
    context: &BuildContext<'_>,
) -> Result<(Sha256, u64), OpsError> {
    let (url, sha256) = match (location, pin) {
        (_, Some(hex)) => (
            location_url(location)?,
            Sha256::from_hex(hex).map_err(|err| {
                OpsError::Internal(format!("the pinned sha256 `{hex}` is not valid: {err}"))
            })?,
        ),
        // The user's own file is its own pin, checked again as it is copied in.
        (DirectLocation::Path(path), None) => (file_url(path)?, hash_local(path)?),
        (DirectLocation::Url(url), None) => {
            return Err(OpsError::Internal(format!(
                "the sdist `{url}` reached the build stage without a pinned sha256"
            )));
        }
    };
    let fetched = fetch(context, name, version, filename, &url, sha256)?;
    Ok((sha256, fetched.1))
}

fn location_url(location: &DirectLocation) -> Result<safevenv_index::DisplaySafeUrl, OpsError> {
    match location {
        DirectLocation::Url(url) => Ok(url.clone()),
        DirectLocation::Path(path) => file_url(path),
    }
}

/// Fetched by its pin (safevenv-fetch checks the digest as it streams): the bytes built are
/// the bytes the pin names.
fn fetch(
    context: &BuildContext<'_>,
    name: &PackageName,
    version: &Version,
    filename: &str,
    url: &safevenv_index::DisplaySafeUrl,
    sha256: Sha256,
) -> Result<(PathBuf, u64), OpsError> {
    let fetcher = Fetcher::new(
        context.network.client.clone(),
        context.network.cache.clone(),
        FetchOptions {
            concurrency: 1,
            offline: context.network.offline,
            progress: false,
            max_size: DEFAULT_MAX_SIZE,
        },
    );
    let fetched = context
        .network
        .runtime
        .block_on(fetcher.fetch(&ArtifactRequest {
            name: name.clone(),
            version: version.clone(),
            filename: filename.to_string(),
            url: url.clone(),
            expected: sha256,
            size: None,
        }))
        .map_err(|source| OpsError::Fetch(Box::new(source)))?;
    Ok((fetched.path().to_path_buf(), fetched.verified().size()))
}

fn fetched_path(context: &BuildContext<'_>, from: &BuiltFrom) -> Result<PathBuf, OpsError> {
    let BuiltFrom::Sdist {
        location,
        filename,
        sha256,
        ..
    } = from
    else {
        return Err(OpsError::Internal(
            "a source tree has no archive".to_string(),
        ));
    };
    let (name, version) = sdist_name_version(filename, None)?;
    Ok(fetch(
        context,
        &name,
        &version,
        filename,
        &location_url(location)?,
        *sha256,
    )?
    .0)
}

/// The facts of the artifact about to be built, judged by the rules that can be decided now.
fn judge_build(
    request: &BuildRequest,
    from: &BuiltFrom,
    name: Option<&PackageName>,
    version: Option<&Version>,
    context: &BuildContext<'_>,
) -> Result<(), OpsError> {
    let (source, kind, filename, sha256) = match from {
        BuiltFrom::Sdist {
            location,
            filename,
            sha256,
            ..
        } => (
            match location {
                DirectLocation::Url(url) => Source::DirectUrl {
                    url: url::Url::clone(url),
                    origin: request.origin.clone(),
                },
                DirectLocation::Path(path) => Source::Path {
                    path: path.clone(),
                    editable: false,
                    origin: request.origin.clone(),
                },
            },
            ArtifactKind::Sdist,
            filename.clone(),
            Some(HashPin {
                hex: sha256.to_string(),
                origin: request.hash_origin,
            }),
        ),
        BuiltFrom::Tree { path, editable } => (
            Source::Path {
                path: path.clone(),
                editable: *editable,
                origin: request.origin.clone(),
            },
            ArtifactKind::SourceTree,
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            None,
        ),
    };
    // A tree's name is known only from its metadata; the source rules judge its path, and
    // the built wheel is judged by name with every rule at the gate.
    let name = name
        .cloned()
        .or_else(|| PackageName::from_str(&filename).ok())
        .unwrap_or_else(|| PackageName::from_str("unnamed").expect("a valid name"));
    let facts = PackageFacts {
        name,
        version: version.cloned(),
        source,
        artifact: Artifact {
            kind,
            filename,
            sha256,
            url: None,
        },
        yanked: false,
        upload_time: None,
        also_on_indexes: Vec::new(),
        license: LicenseFacts::default(),
        requested_directly: true,
        contents: None,
        editable_project: Vec::new(),
        attestation: AttestationFacts::default(),
        vulnerabilities: Vec::new(),
        fixes_known_vulnerability: false,
    };
    let set = ResolvedSet {
        now: jiff::Timestamp::now(),
        python_version: Some(context.interpreter.python_minor()),
        indexes: crate::facts::configured_indexes(context.network.indexes),
        packages: vec![facts],
        installed: Vec::new(),
    };
    context
        .policy
        .evaluate_build(&set)
        .map_err(OpsError::Refused)
}

/// Security: entries are unpacked only as regular files and directories at relative paths
/// without `..`: an sdist is untrusted input, and a link or a `../` entry would let it write
/// outside the build's scratch directory before any sandbox is involved.
fn unpack_sdist(archive: &Path, filename: &str, into: &Path) -> Result<PathBuf, BuildError> {
    let file = fs_err::File::open(archive).map_err(BuildError::io("open", archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let unsafe_entry = |entry: String, reason| BuildError::UnsafeSdistEntry {
        filename: filename.to_string(),
        entry,
        reason,
    };
    for entry in tar.entries().map_err(BuildError::io("read", archive))? {
        let mut entry = entry.map_err(BuildError::io("read", archive))?;
        let path = entry
            .path()
            .map_err(BuildError::io("read", archive))?
            .into_owned();
        let shown = path.display().to_string();
        if !path
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir))
        {
            return Err(unsafe_entry(
                shown,
                "its path is absolute or climbs out with `..`",
            ));
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let target = into.join(&path);
        if kind.is_dir() {
            fs_err::create_dir_all(&target).map_err(BuildError::io("create", &target))?;
        } else if kind.is_file() {
            if let Some(parent) = target.parent() {
                fs_err::create_dir_all(parent).map_err(BuildError::io("create", parent))?;
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(BuildError::io("read", archive))?;
            fs_err::write(&target, bytes).map_err(BuildError::io("write", &target))?;
        } else {
            return Err(unsafe_entry(
                shown,
                "it is not a regular file or a directory",
            ));
        }
    }
    let mut tops = fs_err::read_dir(into)
        .map_err(BuildError::io("read", into))?
        .filter_map(Result::ok)
        .map(|entry| entry.path());
    match (tops.next(), tops.next()) {
        (Some(top), None) if top.is_dir() => Ok(top),
        _ => Err(BuildError::SdistLayout {
            filename: filename.to_string(),
        }),
    }
}

/// A copy of the user's tree for a non-editable build: regular files and directories; links
/// are not followed (a link could name anything on the machine), and `.git` is left out.
fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    fs_err::create_dir_all(to).map_err(BuildError::io("create", to))?;
    for entry in fs_err::read_dir(from).map_err(BuildError::io("read", from))? {
        let entry = entry.map_err(BuildError::io("read", from))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(BuildError::io("read", &path))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            if entry.file_name() == ".git" {
                continue;
            }
            copy_tree(&path, &target)?;
        } else if kind.is_file() {
            fs_err::copy(&path, &target).map_err(BuildError::io("copy", &path))?;
        } else {
            warn!(
                "not copying `{}` into the build: it is not a regular file",
                path.display()
            );
        }
    }
    Ok(())
}

/// The `[project] name` of a tree's `pyproject.toml` (PEP 621 makes it static), so that the
/// policy can judge the tree by name before it is built. `None` when it has none.
fn static_project_name(tree: &Path) -> Result<Option<PackageName>, BuildError> {
    let pyproject = tree.join("pyproject.toml");
    if !pyproject.is_file() {
        return Ok(None);
    }
    let invalid = |reason: String| BuildError::Pyproject {
        path: pyproject.clone(),
        reason,
    };
    let text = fs_err::read_to_string(&pyproject).map_err(|err| invalid(err.to_string()))?;
    let value: toml::Table = toml::from_str(&text).map_err(|err| invalid(err.to_string()))?;
    match value.get("project").and_then(|project| project.get("name")) {
        None => Ok(None),
        Some(toml::Value::String(name)) => PackageName::from_str(name)
            .map(Some)
            .map_err(|err| invalid(format!("`project.name` is not a valid name: {err}"))),
        Some(_) => Err(invalid("`project.name` is not a string".to_string())),
    }
}

/// `[build-system]` of `pyproject.toml` (PEP 517/518).
#[derive(Debug, Clone)]
struct BuildSystem {
    requires: Vec<String>,
    backend: String,
    backend_path: Vec<String>,
}

fn build_system(source_dir: &Path) -> Result<BuildSystem, BuildError> {
    let pyproject = source_dir.join("pyproject.toml");
    let legacy = || BuildSystem {
        requires: vec![LEGACY_REQUIRES.to_string()],
        backend: LEGACY_BACKEND.to_string(),
        backend_path: Vec::new(),
    };
    if !pyproject.is_file() {
        if source_dir.join("setup.py").is_file() {
            return Ok(legacy());
        }
        return Err(BuildError::NotAProject {
            path: source_dir.to_path_buf(),
        });
    }
    let invalid = |reason: String| BuildError::Pyproject {
        path: pyproject.clone(),
        reason,
    };
    let text = fs_err::read_to_string(&pyproject).map_err(|err| invalid(err.to_string()))?;
    let value: toml::Table = toml::from_str(&text).map_err(|err| invalid(err.to_string()))?;
    let Some(system) = value.get("build-system") else {
        // PEP 518: without `[build-system]`, tools behave as if setuptools were required.
        return Ok(legacy());
    };
    let strings = |key: &str| -> Result<Option<Vec<String>>, BuildError> {
        match system.get(key) {
            None => Ok(None),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid(format!("`build-system.{key}` holds a non-string")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(format!("`build-system.{key}` is not a list"))),
        }
    };
    let requires = strings("requires")?
        .ok_or_else(|| invalid("`[build-system]` has no `requires` (PEP 518)".to_string()))?;
    let backend = match system.get("build-backend") {
        None => {
            return Ok(BuildSystem {
                requires,
                ..legacy()
            });
        }
        Some(toml::Value::String(backend)) => backend.clone(),
        Some(_) => {
            return Err(invalid(
                "`build-system.build-backend` is not a string".to_string(),
            ));
        }
    };
    let backend_path = strings("backend-path")?.unwrap_or_default();
    // PEP 517: `backend-path` entries are relative to the project and must stay inside it.
    for entry in &backend_path {
        if !Path::new(entry)
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir))
        {
            return Err(invalid(format!(
                "`build-system.backend-path` entry `{entry}` leaves the project"
            )));
        }
    }
    Ok(BuildSystem {
        requires,
        backend,
        backend_path,
    })
}

/// The build requirements resolved by the same resolver, from the same indexes, under the same
/// policy; a requirement that would itself need building is refused.
fn resolve_build_env(
    requires: &[String],
    name: &str,
    context: &BuildContext<'_>,
) -> Result<Vec<plan::Wanted>, OpsError> {
    if requires.is_empty() {
        return Ok(Vec::new());
    }
    let settings = LockSettings {
        requirement_files: Vec::new(),
        constraint_files: Vec::new(),
        specifiers: requires.to_vec(),
        // The build environment holds the build requirements only: the run's own editable
        // projects are what is being built, not what builds it.
        editables: Vec::new(),
        output: None,
        ..context.settings.clone()
    };
    let locked =
        resolve_lock_for_build(&settings, context.interpreter.clone(), context.policy, name)?;
    let mut wanted = plan::from_resolution(
        &locked.resolution,
        &locked.lock,
        &locked.direct,
        &locked.also_on,
    )?;
    wanted.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(wanted)
}

/// The build environment gets its wheels through the install pipeline: fetched by hash,
/// verified, judged by the gate, staged and applied through the journal.
fn install_build_env(
    env_dir: &Path,
    wanted: &[plan::Wanted],
    context: &BuildContext<'_>,
) -> Result<(), OpsError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let layout =
        safevenv_installer::EnvironmentLayout::for_environment(context.interpreter, env_dir);
    let environment = open_layout(layout)?;
    let attestor = Attestor::new(
        &context.settings.attest,
        context.network.client,
        context.network.cache,
    )?;
    let pinned = BTreeMap::new();
    let attestations = RunAttestations {
        attestor: &attestor,
        pinned: &pinned,
    };
    apply_wanted(
        &environment,
        wanted,
        false,
        &context.network,
        context.policy,
        &attestations,
        None,
    )?;
    Ok(())
}

/// The built-wheel cache key: the sdist's sha256, the backend and hook, the interpreter, and
/// every wheel of the build environment by its sha256. A different build environment is a
/// different build.
fn built_key(
    sha256: &Sha256,
    system: &BuildSystem,
    hook: &str,
    interpreter: &Interpreter,
    env: &[plan::Wanted],
) -> String {
    let mut hasher = sha2::Sha256::new();
    let mut add = |part: &str| {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    };
    add("safevenv-build-v1");
    add(&sha256.to_string());
    add(&system.backend);
    add(&system.backend_path.join("\u{1}"));
    add(hook);
    add(&interpreter.version().to_string());
    add(&interpreter.sys_executable().display().to_string());
    for wanted in env {
        add(&format!(
            "{}=={} {}",
            wanted.name, wanted.version, wanted.sha256
        ));
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The wheel of a cache entry, if it holds exactly one. The wheel is hashed again as it is
/// read and judged at the gate like any wheel: the entry names what was built, it vouches for
/// nothing.
fn cached_wheel(entry: &Path) -> Result<Option<PathBuf>, BuildError> {
    if !entry.is_dir() {
        return Ok(None);
    }
    let wheels: Vec<PathBuf> = fs_err::read_dir(entry)
        .map_err(BuildError::io("read", entry))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl") && path.is_file())
        .collect();
    Ok(match wheels.as_slice() {
        [wheel] => Some(wheel.clone()),
        _ => None,
    })
}

/// Moves the wheel into its cache entry atomically (a directory renamed into place).
fn store_wheel(
    bucket: &Path,
    key: &str,
    wheel: &Path,
    filename: &str,
) -> Result<PathBuf, BuildError> {
    let entry = bucket.join(key);
    if let Some(existing) = cached_wheel(&entry)? {
        return Ok(existing);
    }
    let staging = tempfile::Builder::new()
        .prefix(".new-")
        .tempdir_in(bucket)
        .map_err(BuildError::io("create a cache entry in", bucket))?;
    let target = staging.path().join(filename);
    fs_err::copy(wheel, &target).map_err(BuildError::io("copy", wheel))?;
    let staged = staging.keep();
    match fs_err::rename(&staged, &entry) {
        Ok(()) => {}
        // Another run stored the same build meanwhile.
        Err(_) if cached_wheel(&entry)?.is_some() => {
            let _ = fs_err::remove_dir_all(&staged);
        }
        Err(source) => {
            return Err(BuildError::Io {
                action: "store the built wheel at",
                path: entry,
                source,
            });
        }
    }
    cached_wheel(&entry)?.ok_or_else(|| BuildError::Io {
        action: "find the built wheel in",
        path: entry,
        source: std::io::ErrorKind::NotFound.into(),
    })
}

/// The sandbox for building `name`: isolated, or not at all only if the user named it in
/// `--unsandboxed-build`.
fn sandbox_for(
    shown: &str,
    name: Option<&PackageName>,
    context: &BuildContext<'_>,
) -> Result<Sandbox, BuildError> {
    match Sandbox::probe() {
        Ok(sandbox) => Ok(sandbox),
        Err(err) if name.is_some_and(|name| context.unsandboxed.contains(name)) => {
            warn!("building `{shown}` WITHOUT isolation (`--unsandboxed-build`): {err}");
            Ok(Sandbox::unsandboxed_unsafe())
        }
        Err(source) => Err(BuildError::SandboxUnavailable {
            name: shown.to_string(),
            source,
        }),
    }
}

/// One backend's hooks, called through the frontend script inside the sandbox.
struct Hooks<'a> {
    sandbox: &'a Sandbox,
    python: &'a Path,
    frontend: &'a Path,
    scratch: &'a Path,
    source_dir: &'a Path,
    editable: bool,
    system: &'a BuildSystem,
    name: &'a str,
    interpreter: &'a Interpreter,
    env_dir: &'a Path,
    progress: safevenv_progress::Progress,
}

impl Hooks<'_> {
    /// Calls `hook` with `args`; returns whether the backend lacks it, and what it returned.
    fn call(
        &self,
        hook: &str,
        args: serde_json::Value,
    ) -> Result<(bool, serde_json::Value), BuildError> {
        let _phase = self
            .progress
            .phase("Building", format!("{} ({hook})", self.name));
        let result = self.scratch.join("out").join(format!(".{hook}.json"));
        let request = serde_json::json!({
            "backend": self.system.backend,
            "backend_path": self.system.backend_path,
            "hook": hook,
            "args": args,
            "result": result.to_string_lossy(),
        });
        let home = self.scratch.join("home");
        let tmp = self.scratch.join("tmp");
        let extra: Vec<(OsString, OsString)> = vec![
            ("HOME".into(), home.clone().into()),
            ("TMPDIR".into(), tmp.clone().into()),
            ("PYTHONNOUSERSITE".into(), "1".into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ];
        // The editable build's tree is the user's: readable only. Its metadata and wheel are
        // written to the scratch output directory (`metadata_directory`, `wheel_directory`);
        // a backend that writes into the project tree fails (see docs/build.md).
        let mut writable = vec![self.scratch.join("out"), home, tmp];
        let mut readable = vec![
            self.env_dir.to_path_buf(),
            self.interpreter.sys_prefix().to_path_buf(),
            self.interpreter.sys_base_prefix().to_path_buf(),
            self.frontend.to_path_buf(),
        ];
        if self.editable {
            readable.push(self.source_dir.to_path_buf());
        } else {
            writable.push(self.scratch.join("src"));
        }
        let command = SandboxCommand {
            program: self.python.to_path_buf(),
            args: vec![self.frontend.as_os_str().to_os_string()],
            cwd: self.source_dir.to_path_buf(),
            writable,
            readable,
            env: scrubbed_env(std::env::vars_os(), extra),
            limits: Limits::default(),
            stdin: request.to_string().into_bytes(),
        };
        debug!(
            "calling `{hook}` of `{}` for `{}`",
            self.system.backend, self.name
        );
        let output = self
            .sandbox
            .run(&command)
            .map_err(|source| BuildError::Sandbox {
                name: self.name.to_string(),
                hook: hook.to_string(),
                source,
            })?;
        let failed = |status: String| BuildError::HookFailed {
            name: self.name.to_string(),
            hook: hook.to_string(),
            status,
            stderr: tail(&output.stderr),
        };
        if !output.status.success() {
            return Err(failed(output.status.to_string()));
        }
        let text = fs_err::read_to_string(&result)
            .map_err(|_| failed("it wrote no result".to_string()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| failed("its result is not JSON".to_string()))?;
        let missing = value.get("missing").and_then(serde_json::Value::as_bool) == Some(true);
        Ok((missing, value.get("return").cloned().unwrap_or_default()))
    }
}

/// The last lines of a hook's standard error, for the error message (redacted: a backend may
/// print URLs with credentials).
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    safevenv_redact::redact_text(&lines[start..].join("\n")).to_string()
}

/// The built wheel as a direct wheel request: a local file, of the requested project.
fn direct_request(
    request: &BuildRequest,
    from: &BuiltFrom,
    wheel: &Path,
    name: Option<&PackageName>,
    shown: &str,
) -> Result<DirectRequest, OpsError> {
    let filename = wheel
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parsed = WheelFilename::from_str(&filename).map_err(|_| BuildError::BadResult {
        name: shown.to_string(),
        returned: filename.clone(),
    })?;
    if let Some(name) = name
        && *name != parsed.name
    {
        return Err(BuildError::NameMismatch {
            source_name: shown.to_string(),
            built: parsed.name,
        }
        .into());
    }
    Ok(DirectRequest {
        name: parsed.name.clone(),
        extras: request.extras.clone(),
        marker: request.marker,
        location: DirectLocation::Path(wheel.to_path_buf()),
        filename,
        wheel: parsed,
        sha256: None,
        hash_origin: request.hash_origin,
        origin: request.origin.clone(),
        built: Some(from.clone()),
    })
}
