//! `safevenv lock`: requirements → resolution → a PEP 751 lockfile (or pinned requirements).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use safevenv_cache::Cache;
use safevenv_index::{IndexClient, IndexClientOptions, IndexSource, IndexUrl, IndexUrls};
use safevenv_lock::{Dependency, Lock, Package, Wheel};
use safevenv_policy::{Policy, same_index};
use safevenv_progress::Progress;
use safevenv_python::Interpreter;
use safevenv_resolver::{Manifest, PrereleaseMode, Resolution, ResolveEnv, Upgrade, resolve};
use tokio::runtime::Runtime;
use tracing::debug;
use uv_normalize::PackageName;
use uv_pep440::{Version, VersionSpecifiers};
use uv_pep508::{MarkerTree, Requirement, VersionOrUrl};

use crate::attest::{
    AttestSettings, AttestationCounts, Attestor, Found, Subject, by_name, check_resolution,
    judge_pins, locked_publishers, pin_publishers,
};
use crate::direct::{DirectWheel, fetch_direct, lock_package, overlay, recorded_requests};
use crate::error::OpsError;
use crate::export::requirements_txt;
use crate::input::Inputs;
use crate::resolving::Watched;
use crate::runtime::network_runtime;
use crate::target::{pip_default_index, target_interpreter};

/// The `created-by` of the lockfiles safevenv writes.
pub const CREATED_BY: &str = "safevenv";

/// What `safevenv lock` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockFormat {
    /// A PEP 751 `pylock.toml`.
    Pylock,
    /// pip-compile style pins with `--hash` lines.
    RequirementsTxt,
}

/// Everything `safevenv lock` needs, decided before any I/O (house style 3).
#[derive(Debug, Clone)]
pub struct LockSettings {
    /// `-r` files.
    pub requirement_files: Vec<PathBuf>,
    /// `-c` files.
    pub constraint_files: Vec<PathBuf>,
    /// Requirements given as arguments.
    pub specifiers: Vec<String>,
    /// `--python`.
    pub python: Option<String>,
    /// `--index-url`.
    pub index_url: Option<String>,
    /// `--extra-index-url`.
    pub extra_index_urls: Vec<String>,
    /// Where to write; `None` returns the text for standard output.
    pub output: Option<PathBuf>,
    /// What to write.
    pub format: LockFormat,
    /// Which locked versions may change.
    pub upgrade: Upgrade,
    /// `--pre`.
    pub prereleases: bool,
    /// Use the cache only.
    pub offline: bool,
    /// Caches.
    pub cache: Cache,
    /// The directory relative paths are relative to.
    pub working_dir: PathBuf,
    /// `--trusted-root` and `--accept-publisher-change`.
    pub attest: AttestSettings,
    /// `-e PATH`: source trees to build and install editable (PEP 660).
    pub editables: Vec<PathBuf>,
    /// `--unsandboxed-build PACKAGE`: projects that may be built without isolation when this
    /// machine cannot contain a build. Never a default.
    pub unsandboxed_builds: Vec<PackageName>,
    /// Spinners and counters for resolution, attestations and builds (on a terminal).
    pub progress: Progress,
    /// Read the project (`pyproject.toml`) when no `-r` file, specifier or `-e` is given, and
    /// install these of its extras and groups (see `crate::project`); `None`: it is not read.
    pub project: Option<safevenv_project::Selection>,
    /// The Python versions the lockfile is for (the project's `requires-python` when it is the
    /// input and this is not given).
    pub requires_python: Option<VersionSpecifiers>,
}

/// What `safevenv lock` did.
#[derive(Debug)]
pub struct LockOutcome {
    /// The file written, or `None` when the text is in [`LockOutcome::text`].
    pub output: Option<PathBuf>,
    /// The text, when no output file was given.
    pub text: Option<String>,
    /// How many distributions it pins.
    pub packages: usize,
    /// Whether the file's content changed.
    pub changed: bool,
    /// The index resolved from (without credentials).
    pub index: String,
    /// The interpreter's version resolved for.
    pub python: Version,
    /// How long resolution took.
    pub elapsed: Duration,
    /// What the attestations of the resolved artifacts came to.
    pub attestations: AttestationCounts,
    /// The project the requirements came from, if they did.
    pub project: Option<crate::project::ProjectInput>,
}

/// Resolves the requirements for the target interpreter and writes the lockfile.
pub fn lock(settings: &LockSettings) -> Result<LockOutcome, OpsError> {
    let started = Instant::now();
    let interpreter = target_interpreter(
        settings.python.as_deref(),
        &settings.working_dir,
        &settings.cache,
    )?;
    // Read before resolving: `[sources.packages]` pins route resolution, and attestation modes
    // decide what is verified.
    let policy = crate::install::load_policy(&settings.working_dir, None)?;
    lock_for(settings, interpreter, &policy, started)
}

/// The lock stage: resolves for `interpreter`, verifies and pins the publishers, and writes the
/// lockfile (or returns its text). `started` is when the run began, for the outcome.
pub(crate) fn lock_for(
    settings: &LockSettings,
    interpreter: Interpreter,
    policy: &Policy,
    started: Instant,
) -> Result<LockOutcome, OpsError> {
    let output = settings
        .output
        .as_ref()
        .map(|output| settings.working_dir.join(output));
    if let Some(output) = &output {
        refuse_overwriting_input(output, settings)?;
    }
    let previous = match &output {
        Some(output) if settings.format == LockFormat::Pylock => read_previous(output)?,
        _ => None,
    };
    let mut locked = resolve_lock(
        settings,
        interpreter,
        previous.as_ref(),
        &BTreeMap::new(),
        Vec::new(),
        policy,
    )?;
    refuse_names_on_two_indexes(&locked)?;
    let attestations = pin_attestations(
        settings,
        policy,
        &mut locked,
        previous.as_ref(),
        output.as_deref(),
    )?;
    let text = match settings.format {
        LockFormat::Pylock => locked.lock.to_toml_string(),
        LockFormat::RequirementsTxt => {
            requirements_txt(&locked.resolution, &locked.interpreter, &locked.direct)
        }
    };
    let (changed, text) = match &output {
        Some(output) => (write_if_changed(output, &text)?, None),
        None => (true, Some(text)),
    };
    Ok(LockOutcome {
        output,
        text,
        packages: locked.resolution.distributions.len(),
        changed,
        index: locked.indexes.index.url_for_lockfile().to_string(),
        python: locked.interpreter.version().clone(),
        elapsed: started.elapsed(),
        attestations,
        project: locked.project,
    })
}

/// `lock` has no policy gate after it, so the publisher checks are made here: each resolved
/// artifact's provenance is verified (unless the policy's attestation mode for it is `off`), an
/// invalid one or a publisher other than the previous lockfile's is refused, and the verified
/// publishers are pinned in the new lockfile.
fn pin_attestations(
    settings: &LockSettings,
    policy: &Policy,
    locked: &mut Locked,
    previous: Option<&Lock>,
    output: Option<&Path>,
) -> Result<AttestationCounts, OpsError> {
    let attestor = Attestor::new(&settings.attest, &locked.client, &settings.cache)?;
    let _phase = settings.progress.phase(
        "Verifying",
        format!(
            "attestations of {} artifacts",
            locked.resolution.distributions.len()
        ),
    );
    let pinned = match (previous, output) {
        (Some(previous), Some(output)) => locked_publishers(previous, output)?,
        _ => BTreeMap::new(),
    };
    let checked = check_resolution(
        &attestor,
        &locked.runtime,
        &locked.resolution,
        &locked.direct,
        policy,
    )?;
    judge_pins(&attestor, &checked, &pinned)?;
    pin_publishers(&mut locked.lock, &by_name(&checked), &pinned);
    Ok(counts(&checked, Some(&locked.lock)))
}

/// What the attestations of `checked` came to, with the publishers `lock` now pins (none when
/// no lockfile is written).
pub(crate) fn counts(checked: &[(Subject, Found)], lock: Option<&Lock>) -> AttestationCounts {
    AttestationCounts::of(
        checked
            .iter()
            .map(|(subject, found)| (&subject.name, found)),
        |name| {
            lock.and_then(|lock| lock.package(name))
                .is_some_and(|package| !package.attestation_identities.is_empty())
        },
    )
}

/// `lock` has no policy gate after it, but the index a lockfile records for each package is the
/// very choice rule `sources.index` is about: once written, `sync` installs from it and no
/// longer sees the other index. So a name that two configured indexes serve, unpinned and not
/// declared one project (PEP 708), fails the lock here, as the gate would refuse it at install.
fn refuse_names_on_two_indexes(locked: &Locked) -> Result<(), OpsError> {
    let mut refused = locked
        .also_on
        .iter()
        .filter(|(_, others)| !others.is_empty());
    let Some((name, others)) = refused.next() else {
        return Ok(());
    };
    let index = locked
        .lock
        .package(name)
        .and_then(|package| package.index.clone())
        .map_or_else(String::new, |index| index.to_string());
    Err(OpsError::NameOnTwoIndexes {
        name: name.clone(),
        index,
        others: others
            .iter()
            .map(|other| safevenv_index::DisplaySafeUrl::from_url(other.clone()).to_string())
            .collect(),
        more: refused.map(|(name, _)| name.clone()).collect(),
    })
}

/// A resolution and the lockfile that records it, with what produced them (the install stages
/// that follow reuse the client and runtime).
pub(crate) struct Locked {
    pub(crate) interpreter: Interpreter,
    pub(crate) indexes: IndexUrls,
    pub(crate) runtime: crate::runtime::NetworkRuntime,
    pub(crate) client: IndexClient,
    pub(crate) resolution: Resolution,
    pub(crate) lock: Lock,
    /// The distributions from a direct wheel (a URL or a local file), not from the index.
    pub(crate) direct: BTreeMap<PackageName, DirectWheel>,
    /// For each distribution from an index, the other configured indexes that also serve its
    /// name and are not declared the same project (PEP 708); the fact `sources.index` judges.
    pub(crate) also_on: BTreeMap<PackageName, Vec<url::Url>>,
    /// The project the requirements came from, if they did.
    pub(crate) project: Option<crate::project::ProjectInput>,
}

/// Resolves `settings`' requirements for `interpreter`, preferring the versions of `previous`
/// (an existing lockfile), then those of `installed` (an environment's), and builds the lockfile.
/// `earlier` are requirements of an earlier run (`install` adds to them): each is kept unless a
/// requirement of this run names the same project.
pub(crate) fn resolve_lock(
    settings: &LockSettings,
    interpreter: Interpreter,
    previous: Option<&Lock>,
    installed: &BTreeMap<PackageName, Version>,
    earlier: Vec<Requirement>,
    policy: &Policy,
) -> Result<Locked, OpsError> {
    resolve_with_builds(
        settings,
        interpreter,
        previous,
        installed,
        earlier,
        policy,
        None,
    )
}

/// Resolves a build environment's requirements (`settings.specifiers`) for `interpreter`, by the
/// same resolver as any run. A build requirement that itself needs building is refused: build
/// dependencies are wheels.
pub(crate) fn resolve_lock_for_build(
    settings: &LockSettings,
    interpreter: Interpreter,
    policy: &Policy,
    building: &str,
) -> Result<Locked, OpsError> {
    resolve_with_builds(
        settings,
        interpreter,
        None,
        &BTreeMap::new(),
        Vec::new(),
        policy,
        Some(building),
    )
}

/// [`resolve_lock`]; `building` names the project whose build environment this is (its
/// requirements may not need building).
fn resolve_with_builds(
    settings: &LockSettings,
    interpreter: Interpreter,
    previous: Option<&Lock>,
    installed: &BTreeMap<PackageName, Version>,
    earlier: Vec<Requirement>,
    policy: &Policy,
    building: Option<&str>,
) -> Result<Locked, OpsError> {
    let started = Instant::now();
    let project = crate::project::read(settings)?;
    let with_project;
    let settings = match &project {
        Some(project) => {
            with_project = crate::project::with_requires_python(settings, project);
            crate::project::check_requires_python(project, &with_project, &interpreter)?;
            &with_project
        }
        None => settings,
    };
    let inputs = Inputs::read_with(
        &settings.requirement_files,
        &settings.constraint_files,
        &settings.specifiers,
        &settings.editables,
        &settings.working_dir,
        project.as_ref().map(|project| project.entries.clone()),
    )?;
    if let (Some(building), Some(nested)) = (building, inputs.builds.first()) {
        return Err(crate::build::BuildError::NestedBuild {
            name: building.to_string(),
            requirement: crate::build::describe(&nested.source),
        }
        .into());
    }
    let indexes = configured_indexes(settings, &inputs, &interpreter)?;
    let mut preferences = installed.clone();
    preferences.extend(previous.map(preferences_of).unwrap_or_default());
    let lockfile = settings
        .output
        .as_ref()
        .map(|output| settings.working_dir.join(output));
    let mut requirements = inputs.requirements()?;
    let mut direct_requests = inputs.direct.clone();
    let named: BTreeSet<PackageName> = requirements
        .iter()
        .map(|req| req.name.clone())
        .chain(direct_requests.iter().map(|request| request.name.clone()))
        .collect();
    // An earlier requirement by URL is kept from the wheel the previous lockfile pins for it,
    // never re-resolved from the index under its name.
    let (earlier_direct, earlier_index): (Vec<Requirement>, Vec<Requirement>) = earlier
        .into_iter()
        .filter(|requirement| !named.contains(&requirement.name))
        .partition(|requirement| matches!(requirement.version_or_url, Some(VersionOrUrl::Url(_))));
    let recorded_earlier = recorded_requests(
        &earlier_direct,
        previous,
        lockfile.as_deref(),
        &inputs.builds,
    )?;
    direct_requests.extend(recorded_earlier.direct);
    // What the previous lockfile recorded as built (`sdist`, `directory`) is built again, by
    // the same stage and under the same policy as a new request (the sdist from its cache).
    let mut builds = inputs.builds.clone();
    builds.extend(recorded_earlier.builds);
    requirements.extend(earlier_index);
    let tags = interpreter
        .tags()
        .map_err(|source| OpsError::Tags { source })?;
    let runtime = network_runtime()?;
    let pins = index_pins(policy, &indexes)?;
    let client = index_client(&runtime, &indexes, &settings.cache, settings.offline, pins)?;
    if !builds.is_empty() {
        let context = crate::build::BuildContext {
            settings,
            interpreter: &interpreter,
            policy,
            network: crate::install::Network {
                runtime: &runtime,
                client: &client,
                indexes: &indexes,
                cache: &settings.cache,
                offline: settings.offline,
                progress: settings.progress.is_shown(),
                downloaded: Default::default(),
            },
            unsandboxed: &settings.unsandboxed_builds,
        };
        direct_requests.extend(crate::build::build_all(&builds, &context)?);
    }
    let direct_wheels = fetch_direct(
        &direct_requests,
        interpreter.markers(),
        &tags,
        &runtime,
        &client,
        &settings.cache,
        settings.offline,
    )?;
    let mut recorded: Vec<String> = requirements.iter().map(ToString::to_string).collect();
    for (wheel, _) in &direct_wheels {
        requirements.push(wheel.requirement()?);
        recorded.push(wheel.recorded());
    }
    let manifest = Manifest {
        requirements,
        constraints: inputs.constraints()?,
        preferences,
        upgrade: settings.upgrade.clone(),
        prereleases: if settings.prereleases || inputs.pre.is_some() {
            PrereleaseMode::Allow
        } else {
            PrereleaseMode::IfNecessaryOrExplicit
        },
    };
    let env = ResolveEnv {
        markers: interpreter.markers().clone(),
        tags,
        python_version: interpreter.version().clone(),
    };

    let source = Watched::new(
        overlay(
            IndexSource::new(client.clone(), runtime.handle().clone()),
            &direct_wheels,
        ),
        settings.progress,
        manifest.requirements.len(),
    );
    let resolution = resolve(&manifest, &source, &env)?;
    drop(source);
    let direct: BTreeMap<PackageName, DirectWheel> = direct_wheels
        .into_iter()
        .map(|(wheel, _)| (wheel.name.clone(), wheel))
        .collect();
    debug!(
        "resolved {} distributions in {:?}",
        resolution.distributions.len(),
        started.elapsed()
    );
    check_pinned_hashes(&resolution, &inputs)?;
    let (index_of, also_on) = runtime.block_on(index_of_each(&client, &resolution, &direct))?;
    let mut lock = build_lock(
        &resolution,
        &interpreter,
        &index_of,
        &direct,
        lockfile.as_deref().and_then(Path::parent),
        recorded,
    )?;
    if let Some(project) = &project {
        crate::project::record(&mut lock, project, &resolution, &interpreter)?;
    }
    Ok(Locked {
        interpreter,
        indexes,
        runtime,
        client,
        resolution,
        lock,
        direct,
        also_on,
        project: project.map(|project| project.input),
    })
}

/// The index client every network stage shares (one connection pool, one memo).
pub(crate) fn index_client(
    runtime: &Runtime,
    indexes: &IndexUrls,
    cache: &Cache,
    offline: bool,
    pins: BTreeMap<PackageName, IndexUrl>,
) -> Result<IndexClient, OpsError> {
    let mut options = IndexClientOptions::new(indexes.clone())
        .with_process_env()
        .map_err(|source| OpsError::Index {
            source: Box::new(source),
        })?;
    options.cache = Some(cache.clone());
    options.offline = offline;
    options.pins = pins;
    let _guard = runtime.enter();
    IndexClient::new(options).map_err(|source| OpsError::Index {
        source: Box::new(source),
    })
}

/// The policy's `[sources.packages]` pins as the index client follows them: a pin naming a
/// configured index takes that index's URL (and so its credentials); another is used as written
/// (credentials from netrc).
pub(crate) fn index_pins(
    policy: &Policy,
    indexes: &IndexUrls,
) -> Result<BTreeMap<PackageName, IndexUrl>, OpsError> {
    policy
        .index_pins()
        .into_iter()
        .map(|(name, pin)| {
            let configured = indexes
                .iter()
                .find(|index| same_index(index.url(), &pin))
                .cloned();
            let index = match configured {
                Some(index) => index,
                None => {
                    IndexUrl::parse(pin.as_str()).map_err(|source| OpsError::IndexUrl { source })?
                }
            };
            Ok((name, index))
        })
        .collect()
}

/// The index configuration, and the `--index-url`/`--extra-index-url` lines of requirements files
/// checked against it.
///
/// A requirements file that names another index than the one configured is refused rather than
/// followed: an index switched by a file (perhaps one included from elsewhere) is how dependency
/// confusion begins, so the user must choose it explicitly with `--index-url`.
fn configured_indexes(
    settings: &LockSettings,
    inputs: &Inputs,
    interpreter: &Interpreter,
) -> Result<IndexUrls, OpsError> {
    let indexes = IndexUrls::from_settings(
        settings.index_url.as_deref(),
        &settings.extra_index_urls,
        pip_default_index(interpreter, &settings.cache).as_deref(),
    )
    .map_err(|source| OpsError::IndexUrl { source })?;
    let configured: Vec<&IndexUrl> = indexes.iter().collect();
    for located in inputs.index_urls.iter().chain(&inputs.extra_index_urls) {
        let named = IndexUrl::parse(located.value.as_str())
            .map_err(|source| OpsError::IndexUrl { source })?;
        if !configured.contains(&&named) {
            return Err(OpsError::UnconfiguredIndex {
                url: named.to_string(),
                origin: located.origin.to_string(),
            });
        }
    }
    Ok(indexes)
}

/// `safevenv lock -r requirements.txt --format requirements.txt -o requirements.txt` would replace
/// the user's input with its output: refuse instead of losing their file.
fn refuse_overwriting_input(output: &Path, settings: &LockSettings) -> Result<(), OpsError> {
    let Ok(output_canonical) = fs_err::canonicalize(output) else {
        return Ok(()); // it does not exist yet, so it is no input
    };
    for input in settings
        .requirement_files
        .iter()
        .chain(&settings.constraint_files)
    {
        let input = settings.working_dir.join(input);
        if fs_err::canonicalize(&input).is_ok_and(|input| input == output_canonical) {
            return Err(OpsError::OutputIsInput {
                path: output.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The lockfile at `output`, if there is one: its versions are preferred (minimal churn).
pub(crate) fn read_previous(output: &Path) -> Result<Option<Lock>, OpsError> {
    if !output.exists() {
        return Ok(None);
    }
    Lock::from_path(output)
        .map(Some)
        .map_err(|source| OpsError::PreviousLock {
            path: output.to_path_buf(),
            source: Box::new(source),
        })
}

fn preferences_of(lock: &Lock) -> BTreeMap<PackageName, Version> {
    lock.iter()
        .filter_map(|package| Some((package.name.clone(), package.version.clone()?)))
        .collect()
}

/// `--hash` pins of the input must admit the artifact chosen: with pins, a different artifact is
/// a substitution, whatever the index says.
fn check_pinned_hashes(resolution: &Resolution, inputs: &Inputs) -> Result<(), OpsError> {
    let pins = inputs.pinned_hashes();
    for dist in &resolution.distributions {
        let Some(allowed) = pins.get(&dist.name) else {
            continue;
        };
        let matches = dist.file.hashes.iter().any(|(algorithm, digest)| {
            allowed.contains(&(algorithm.to_ascii_lowercase(), digest.to_ascii_lowercase()))
        });
        if !matches {
            return Err(OpsError::PinnedHashMismatch {
                name: dist.name.clone(),
                version: dist.version.clone(),
                filename: dist.file.filename.clone(),
                pinned: allowed
                    .iter()
                    .map(|(alg, hex)| format!("{alg}:{hex}"))
                    .collect(),
            });
        }
    }
    Ok(())
}

/// Which index each distribution came from (the one whose page resolution read: pages are
/// memoised, so this makes no request), and which other configured indexes also serve its name.
/// Direct wheels came from none, and their names are not asked about.
async fn index_of_each(
    client: &IndexClient,
    resolution: &Resolution,
    direct: &BTreeMap<PackageName, DirectWheel>,
) -> Result<IndexesOf, OpsError> {
    let mut found = BTreeMap::new();
    let mut also_on = BTreeMap::new();
    let index_error = |source| OpsError::Index {
        source: Box::new(source),
    };
    for dist in &resolution.distributions {
        if direct.contains_key(&dist.name) {
            continue;
        }
        let page = client
            .require_project(&dist.name)
            .await
            .map_err(index_error)?;
        found.insert(dist.name.clone(), page.index.url_for_lockfile());
        let others = client
            .also_served_by(&dist.name)
            .await
            .map_err(index_error)?;
        also_on.insert(
            dist.name.clone(),
            others
                .iter()
                .map(|other| url::Url::clone(other.url()))
                .collect(),
        );
    }
    Ok((found, also_on))
}

/// Per distribution: the index it comes from (as the lockfile records it), and the other
/// indexes serving its name (with credentials, as the policy facts carry URLs).
type IndexesOf = (
    BTreeMap<PackageName, url::Url>,
    BTreeMap<PackageName, Vec<url::Url>>,
);

fn build_lock(
    resolution: &Resolution,
    interpreter: &Interpreter,
    index_of: &BTreeMap<PackageName, url::Url>,
    direct: &BTreeMap<PackageName, DirectWheel>,
    lock_dir: Option<&Path>,
    recorded: Vec<String>,
) -> Result<Lock, OpsError> {
    let mut lock = Lock::new(CREATED_BY);
    lock.tool = Some(requirements_table(recorded));
    let (major, minor) = interpreter.python_minor();
    lock.requires_python = Some(
        VersionSpecifiers::from_str(&format!("=={major}.{minor}.*"))
            .map_err(|err| OpsError::Internal(format!("requires-python: {err}")))?,
    );
    lock.environments = Some(vec![target_environment(interpreter)?]);
    for dist in &resolution.distributions {
        let dependencies: BTreeSet<&PackageName> =
            dist.dependencies.iter().map(|edge| &edge.name).collect();
        if let Some(wheel) = direct.get(&dist.name) {
            let mut package = lock_package(wheel, dist.file.requires_python.clone(), lock_dir);
            package.dependencies = dependencies.into_iter().map(Dependency::named).collect();
            lock.packages.push(package);
            continue;
        }
        let index = index_of
            .get(&dist.name)
            .cloned()
            .ok_or_else(|| OpsError::Internal(format!("no index recorded for `{}`", dist.name)))?;
        let sha256 = dist
            .file
            .hashes
            .get("sha256")
            .ok_or_else(|| OpsError::NoIndexHash {
                name: dist.name.clone(),
                filename: dist.file.filename.clone(),
            })?;
        let url = url::Url::parse(&dist.file.url).map_err(|err| OpsError::InvalidFileUrl {
            url: dist.file.url.clone(),
            reason: err.to_string(),
        })?;
        let upload_time = dist
            .file
            .upload_time
            .as_deref()
            .and_then(|time| toml::value::Datetime::from_str(time).ok());
        let mut package = Package::from_index(dist.name.clone(), dist.version.clone(), index);
        package.requires_python = dist.file.requires_python.clone();
        // Security: an index page may link a signed URL (`?X-Amz-Signature=...`); the lockfile
        // is shared, so the signature is masked there (the run itself fetches the page's URL).
        package.push_wheel(Wheel::from_url(
            safevenv_redact::shareable(&url),
            dist.file.size,
            upload_time,
            sha256.clone(),
        ));
        package.dependencies = dependencies.into_iter().map(Dependency::named).collect();
        lock.packages.push(package);
    }
    lock.validate(CREATED_BY)
        .map_err(|err| OpsError::Internal(format!("the lockfile built is invalid: {err}")))?;
    if lock.contains_credentials() {
        return Err(OpsError::Internal(
            "a URL with credentials or another secret reached the lockfile".to_string(),
        ));
    }
    Ok(lock)
}

/// The requirements a lockfile was made from, in `[tool.safevenv]` (PEP 751 leaves tools this
/// table): `sync --frozen` checks them against the lockfile, and `install` adds to them.
fn requirements_table(mut sorted: Vec<String>) -> toml::Table {
    sorted.sort();
    sorted.dedup();
    let mut safevenv = toml::Table::new();
    safevenv.insert(
        "requirements".to_string(),
        toml::Value::Array(sorted.into_iter().map(toml::Value::String).collect()),
    );
    let mut tool = toml::Table::new();
    tool.insert("safevenv".to_string(), toml::Value::Table(safevenv));
    tool
}

/// The requirements recorded in a lockfile's `[tool.safevenv]`, as written.
pub(crate) fn recorded_requirements(lock: &Lock) -> Vec<String> {
    lock.tool
        .as_ref()
        .and_then(|tool| tool.get("safevenv"))
        .and_then(|safevenv| safevenv.get("requirements"))
        .and_then(toml::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The one environment a lockfile is valid for: resolution used this interpreter's markers and
/// tags, so installing it elsewhere could pick the wrong wheels.
fn target_environment(interpreter: &Interpreter) -> Result<MarkerTree, OpsError> {
    let markers = interpreter.markers();
    let text = format!(
        "python_version == '{}' and implementation_name == '{}' and sys_platform == '{}' and platform_machine == '{}'",
        markers.python_version(),
        markers.implementation_name(),
        markers.sys_platform(),
        markers.platform_machine(),
    );
    MarkerTree::from_str(&text)
        .map_err(|err| OpsError::Internal(format!("target environment marker `{text}`: {err}")))
}

/// Writes `text` atomically (temporary file beside it, then rename) unless the file already holds
/// exactly that; returns whether it changed.
pub(crate) fn write_if_changed(path: &Path, text: &str) -> Result<bool, OpsError> {
    if fs_err::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let write = |path: &Path| -> std::io::Result<()> {
        let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut temp, text.as_bytes())?;
        temp.as_file().sync_all()?;
        temp.persist(path).map_err(|err| err.error)?;
        Ok(())
    };
    write(path).map_err(|source| OpsError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(true)
}
