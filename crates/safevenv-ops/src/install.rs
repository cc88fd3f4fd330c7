//! `safevenv install` and `safevenv sync`: make the environment hold what was resolved or
//! locked, through every stage of the pipeline:
//!
//! ```text
//! resolve/lock → plan → fetch (hash-pinned) → verify (wheel structure, RECORD) → policy gate
//!              → stage → apply (journaled)
//! ```
//!
//! Invariant: nothing in the environment changes before the policy approved every distribution
//! to be written. The installer demands the gate's [`safevenv_policy::PolicyApproved`] and the
//! reader's [`safevenv_wheel::VerifiedWheel`]; neither can be made anywhere else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use safevenv_cache::{Cache, CacheBucket};
use safevenv_fetch::{DEFAULT_MAX_SIZE, FetchOptions, FetchedArtifact, Fetcher};
use safevenv_index::{IndexClient, IndexUrls};
use safevenv_installer::{
    Destinations, Environment, EnvironmentLayout, Install, InstallError, LockMode, Plan, Progress,
    ReadyWheel, SealKey, UnpackedCache,
};
use safevenv_lock::Lock;
use safevenv_policy::{Discovery, InstalledDistribution, PackageFacts, Policy, ResolvedSet};
use safevenv_python::Interpreter;
use safevenv_wheel::{Wheel, WheelError, WheelInfo};
use tokio::runtime::Runtime;
use tracing::{debug, warn};
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::Requirement;

use crate::attest::{
    AttestSettings, AttestationCounts, Attestor, Found, RunAttestations, Subject, by_name,
    check_resolution, judge_pins, locked_publishers, pin_publishers,
};
use crate::audit::AuditGate;
use crate::error::OpsError;
use crate::facts;
use crate::lock::{
    LockSettings, read_previous, recorded_requirements, resolve_lock, write_if_changed,
};
use crate::plan::{self, Wanted};
use crate::runtime::network_runtime;
use crate::sources;
use crate::target::{install_target, pip_default_index};

/// Everything `safevenv install` needs.
#[derive(Debug, Clone)]
pub struct InstallSettings {
    /// The requirements, index and interpreter, as for `lock`; `output` is the lockfile to
    /// update (`None`: none is written).
    pub lock: LockSettings,
    /// `--policy FILE`.
    pub policy: Option<PathBuf>,
    /// Show progress bars (on a terminal).
    pub progress: bool,
    /// `--audit-db PATH`: the offline advisory database the vulnerability facts come from.
    pub audit_db: Option<PathBuf>,
    /// `--system`: the interpreter may be a system one (see [`install_target`]).
    pub system: bool,
}

/// Everything `safevenv sync` needs.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The lockfile to install.
    pub lockfile: PathBuf,
    /// `--python`: the environment's interpreter.
    pub python: Option<String>,
    /// With `frozen`: the requirements the lockfile must still satisfy.
    pub requirement_files: Vec<PathBuf>,
    /// With `frozen`: requirements given as arguments.
    pub specifiers: Vec<String>,
    /// Fail if the lockfile no longer satisfies the requirements.
    pub frozen: bool,
    /// Which of the lockfile's extras and dependency groups to install (PEP 751 markers), and,
    /// with `frozen` and neither `-r` files nor specifiers, check the lockfile against the
    /// project it was made from (`None`: its default groups, and no project is read).
    pub project: Option<safevenv_project::Selection>,
    /// `--index-url`, for credentials and for judging the lockfile's indexes.
    pub index_url: Option<String>,
    /// `--policy FILE`.
    pub policy: Option<PathBuf>,
    /// Use the cache only.
    pub offline: bool,
    /// Caches.
    pub cache: Cache,
    /// The project directory (policy discovery, relative paths).
    pub working_dir: PathBuf,
    /// Show progress bars (on a terminal).
    pub progress: bool,
    /// `--trusted-root` and `--accept-publisher-change`.
    pub attest: AttestSettings,
    /// `--audit-db PATH`: the offline advisory database the vulnerability facts come from.
    pub audit_db: Option<PathBuf>,
    /// `--system`: the interpreter may be a system one (see [`install_target`]).
    pub system: bool,
}

/// What `install` or `sync` did.
#[derive(Debug)]
pub struct InstallOutcome {
    /// The environment.
    pub environment: PathBuf,
    /// Its interpreter's version.
    pub python: Version,
    /// Distributions installed.
    pub installed: Vec<(PackageName, Version)>,
    /// Distributions removed (old versions of upgraded ones included).
    pub removed: Vec<(PackageName, Version)>,
    /// Distributions already as wanted.
    pub unchanged: usize,
    /// The lockfile written, and whether its content changed.
    pub lockfile: Option<(PathBuf, bool)>,
    /// Interrupted transactions finished or rolled back on the way in.
    pub recovered: usize,
    /// Notes from the policy loader (e.g. a shadowed `pyproject.toml`).
    pub policy_warnings: Vec<String>,
    /// Bytes downloaded from the network (artifacts already cached count nothing).
    pub bytes_downloaded: u64,
    /// The policy layers in force, the organisation's first (`the \`default\` preset`, a file).
    pub policy_layers: Vec<String>,
    /// How long it took.
    pub elapsed: Duration,
    /// What the attestations came to: of the whole resolution for `install`, of the artifacts
    /// fetched for `sync`.
    pub attestations: AttestationCounts,
    /// The project the requirements came from (`install`), if they did.
    pub project: Option<crate::project::ProjectInput>,
}

/// Resolves the requirements (keeping installed and locked versions where they fit), installs the
/// result into the environment, and updates the lockfile. Adds to the environment: distributions
/// the requirements do not name are left installed.
pub fn install(settings: &InstallSettings) -> Result<InstallOutcome, OpsError> {
    let started = Instant::now();
    let lock_settings = &settings.lock;
    let (interpreter, layout) = install_target(
        lock_settings.python.as_deref(),
        &lock_settings.working_dir,
        &lock_settings.cache,
        settings.system,
    )?;
    let prefix = layout.prefix.clone();
    let policy = load_policy(&lock_settings.working_dir, settings.policy.clone())?;
    let environment = open_layout(layout)?;
    let installed: BTreeMap<PackageName, Version> = environment
        .installed()
        .map_err(OpsError::from)?
        .into_iter()
        .map(|dist| (dist.name, dist.version))
        .collect();
    let lockfile = lock_settings
        .output
        .as_ref()
        .map(|path| lock_settings.working_dir.join(path));
    let previous = match &lockfile {
        Some(path) => read_previous(path)?,
        None => None,
    };
    let audit = AuditGate::load(
        settings.audit_db.as_deref(),
        &lock_settings.working_dir,
        previous.as_ref(),
    )?;
    // The project is the whole of the requirements: what it no longer declares is not kept.
    let reads_project = crate::project::is_input(lock_settings);
    let earlier = previous
        .as_ref()
        .filter(|_| !reads_project)
        .map(recorded_requirements)
        .unwrap_or_default()
        .iter()
        .filter_map(|text| Requirement::from_str(text).ok())
        .collect::<Vec<_>>();
    let mut locked = resolve_lock(
        lock_settings,
        interpreter,
        previous.as_ref(),
        &installed,
        earlier,
        &policy,
    )?;
    // Attestations of the whole resolution, verified against the index's sha256 (see
    // `check_resolution`), pinned in the lockfile. The gate judges those about to be written;
    // the distributions already installed at the resolved version never reach it, so their
    // publisher is checked against the pin here.
    let attestor = Attestor::new(&lock_settings.attest, &locked.client, &lock_settings.cache)?;
    let pinned = match (&previous, &lockfile) {
        (Some(previous), Some(path)) => locked_publishers(previous, path)?,
        _ => BTreeMap::new(),
    };
    let verifying = lock_settings.progress.phase(
        "Verifying",
        format!(
            "attestations of {} artifacts",
            locked.resolution.distributions.len()
        ),
    );
    let checked = check_resolution(
        &attestor,
        &locked.runtime,
        &locked.resolution,
        &locked.direct,
        &policy,
    )?;
    drop(verifying);
    let kept: Vec<(Subject, Found)> = checked
        .iter()
        .filter(|(subject, _)| {
            locked.resolution.distributions.iter().any(|dist| {
                dist.name == subject.name && installed.get(&dist.name) == Some(&dist.version)
            })
        })
        .cloned()
        .collect();
    judge_pins(&attestor, &kept, &pinned)?;
    pin_publishers(&mut locked.lock, &by_name(&checked), &pinned);
    // Publishers count as pinned only in a lockfile that is written.
    let counts = crate::lock::counts(&checked, lockfile.is_some().then_some(&locked.lock));
    let attestations = RunAttestations {
        attestor: &attestor,
        pinned: &pinned,
    };
    let mut wanted = plan::from_resolution(
        &locked.resolution,
        &locked.lock,
        &locked.direct,
        &locked.also_on,
    )?;
    // The lockfile holds every extra and group of a project; the run installs those chosen.
    if let Some(project) = &locked.project {
        wanted.retain(|wanted| {
            locked.lock.package(&wanted.name).is_none_or(|package| {
                project
                    .installs
                    .selects(package.marker, locked.interpreter.markers())
            })
        });
    }
    let network = Network {
        runtime: &locked.runtime,
        client: &locked.client,
        indexes: &locked.indexes,
        cache: &lock_settings.cache,
        offline: lock_settings.offline,
        progress: settings.progress,
        downloaded: Default::default(),
    };
    let (applied, unchanged, _) = apply_wanted(
        &environment,
        &wanted,
        false,
        &network,
        &policy,
        &attestations,
        audit.as_ref(),
    )?;
    let lockfile = match lockfile {
        Some(path) => {
            // The transaction has committed: a failure here must say so, not read as if
            // nothing had happened.
            let changed = write_if_changed(&path, &locked.lock.to_toml_string()).map_err(
                |err| match err {
                    OpsError::Write { path, source } => OpsError::LockfileAfterInstall {
                        path,
                        installed: applied.installed.len(),
                        removed: applied.removed.len(),
                        source,
                    },
                    other => other,
                },
            )?;
            Some((path, changed))
        }
        None => None,
    };
    Ok(InstallOutcome {
        environment: prefix,
        python: locked.interpreter.version().clone(),
        installed: applied.installed,
        removed: applied.removed,
        unchanged,
        lockfile,
        recovered: environment.recovered().len(),
        policy_warnings: policy.warnings().iter().map(ToString::to_string).collect(),
        policy_layers: policy.origins().map(ToString::to_string).collect(),
        bytes_downloaded: network.downloaded.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        attestations: counts,
        project: locked.project,
    })
}

/// Makes the environment hold exactly what the lockfile lists for its interpreter: installs what
/// is missing or at another version, removes what the lockfile does not list. A run with nothing
/// to do reads no index.
pub fn sync(settings: &SyncSettings) -> Result<InstallOutcome, OpsError> {
    let started = Instant::now();
    let lockfile = settings.working_dir.join(&settings.lockfile);
    let lock = Lock::from_path(&lockfile).map_err(|source| OpsError::LockfileRead {
        path: lockfile.clone(),
        source: Box::new(source),
    })?;
    let (interpreter, layout) = install_target(
        settings.python.as_deref(),
        &settings.working_dir,
        &settings.cache,
        settings.system,
    )?;
    check_lock_environment(&lock, &lockfile, &interpreter)?;
    if settings.frozen {
        crate::frozen::check(&lock, &lockfile, settings, &interpreter)?;
    }
    let policy = load_policy(&settings.working_dir, settings.policy.clone())?;
    sync_lock(
        settings,
        &lock,
        &lockfile,
        interpreter,
        layout,
        &policy,
        started,
    )
}

/// The sync stage: makes the environment at `layout` hold exactly what `lock` (read from
/// `lockfile`) lists for `interpreter` and the chosen extras and groups.
pub(crate) fn sync_lock(
    settings: &SyncSettings,
    lock: &Lock,
    lockfile: &Path,
    interpreter: Interpreter,
    layout: EnvironmentLayout,
    policy: &Policy,
    started: Instant,
) -> Result<InstallOutcome, OpsError> {
    let prefix = layout.prefix.clone();
    let chosen = crate::project::chosen_from_lock(
        lock,
        lockfile,
        &settings.project.clone().unwrap_or_default(),
        interpreter.markers(),
    )?;
    let audit = AuditGate::load(settings.audit_db.as_deref(), &settings.working_dir, None)?;
    let environment = open_layout(layout)?;
    let tags = interpreter
        .tags()
        .map_err(|source| OpsError::Tags { source })?;
    let requested: Vec<PackageName> = recorded_requirements(lock)
        .iter()
        .filter_map(|text| Requirement::<url::Url>::from_str(text).ok())
        .map(|requirement| requirement.name)
        .collect();
    let wanted = plan::from_lock(lock, lockfile, &interpreter, &tags, &requested, &chosen)?;

    // The index is needed only when something must be fetched; a no-op sync stays offline.
    let runtime = network_runtime()?;
    let indexes = IndexUrls::from_settings(
        settings.index_url.as_deref(),
        &[],
        pip_default_index(&interpreter, &settings.cache).as_deref(),
    )
    .map_err(|source| OpsError::IndexUrl { source })?;
    let pins = crate::lock::index_pins(policy, &indexes)?;
    let client =
        crate::lock::index_client(&runtime, &indexes, &settings.cache, settings.offline, pins)?;
    let network = Network {
        runtime: &runtime,
        client: &client,
        indexes: &indexes,
        cache: &settings.cache,
        offline: settings.offline,
        progress: settings.progress,
        downloaded: Default::default(),
    };
    // The lockfile being installed is the pin: PEP 751 records no provenance URL, so the
    // attestation stage looks it up on the project's index page (only for projects whose
    // attestation mode is not `off`).
    let attestor = Attestor::new(&settings.attest, &client, &settings.cache)?;
    let pinned = locked_publishers(lock, lockfile)?;
    let attestations = RunAttestations {
        attestor: &attestor,
        pinned: &pinned,
    };
    let (applied, unchanged, counts) = apply_wanted(
        &environment,
        &wanted,
        true,
        &network,
        policy,
        &attestations,
        audit.as_ref(),
    )?;
    Ok(InstallOutcome {
        environment: prefix,
        python: interpreter.version().clone(),
        installed: applied.installed,
        removed: applied.removed,
        unchanged,
        lockfile: None,
        recovered: environment.recovered().len(),
        policy_warnings: policy.warnings().iter().map(ToString::to_string).collect(),
        policy_layers: policy.origins().map(ToString::to_string).collect(),
        bytes_downloaded: network.downloaded.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        attestations: counts,
        project: None,
    })
}

/// What the fetch stage needs.
pub(crate) struct Network<'a> {
    pub(crate) runtime: &'a Runtime,
    pub(crate) client: &'a IndexClient,
    pub(crate) indexes: &'a IndexUrls,
    pub(crate) cache: &'a Cache,
    pub(crate) offline: bool,
    pub(crate) progress: bool,
    /// Bytes the fetch stage downloaded from the network, for the run's summary.
    pub(crate) downloaded: AtomicU64,
}

pub(crate) fn load_policy(
    working_dir: &Path,
    explicit: Option<PathBuf>,
) -> Result<Policy, OpsError> {
    Policy::load(&Discovery::from_env(working_dir.to_path_buf(), explicit))
        .map_err(|source| OpsError::Policy(Box::new(source)))
}

pub(crate) fn open_environment(
    interpreter: &Interpreter,
    prefix: &Path,
) -> Result<Environment, OpsError> {
    open_layout(EnvironmentLayout::for_environment(interpreter, prefix))
}

/// Open the environment `layout` describes, waiting for another run's lock.
pub(crate) fn open_layout(layout: EnvironmentLayout) -> Result<Environment, OpsError> {
    let environment = Environment::open(layout, LockMode::Wait, &mut |lock: &Path| {
        warn!(
            "waiting for another safevenv process to finish with this environment (lock `{}`)",
            lock.display()
        );
    })?;
    for (txn, recovered) in environment.recovered() {
        warn!(
            "an interrupted safevenv run was {recovered:?} (`{}`)",
            txn.display()
        );
    }
    Ok(environment)
}

/// A lockfile is valid for the environments it lists (PEP 751 `environments`) and its
/// `requires-python`: installing it elsewhere could pick wheels resolution never considered.
pub(crate) fn check_lock_environment(
    lock: &Lock,
    lockfile: &Path,
    interpreter: &Interpreter,
) -> Result<(), OpsError> {
    let markers = interpreter.markers();
    if let Some(environments) = &lock.environments
        && !environments
            .iter()
            .any(|marker| marker.evaluate(markers, &[]))
    {
        return Err(OpsError::WrongEnvironment {
            lockfile: lockfile.to_path_buf(),
            reason: format!(
                "none of its `environments` matches Python {} on {} {}",
                interpreter.version(),
                markers.sys_platform(),
                markers.platform_machine()
            ),
        });
    }
    if let Some(requires) = &lock.requires_python
        && !requires.contains(interpreter.version())
    {
        return Err(OpsError::WrongEnvironment {
            lockfile: lockfile.to_path_buf(),
            reason: format!(
                "its `requires-python` is `{requires}`, the environment's Python is {}",
                interpreter.version()
            ),
        });
    }
    Ok(())
}

/// Plan, fetch, verify, judge, then apply: the environment is written only at the last step.
/// Returns what was applied, how many distributions were already as wanted, and what the
/// attestations of the fetched artifacts came to.
pub(crate) fn apply_wanted(
    environment: &Environment,
    wanted: &[Wanted],
    remove_extraneous: bool,
    network: &Network<'_>,
    policy: &Policy,
    attestations: &RunAttestations<'_>,
    audit: Option<&AuditGate>,
) -> Result<(safevenv_installer::Applied, usize, AttestationCounts), OpsError> {
    let plan = environment.plan(
        &installs_of(wanted)?,
        remove_extraneous,
        &seal_key(network.cache)?,
    )?;
    let unchanged = plan.keep.len();
    if plan.is_empty() {
        debug!("the environment already holds what is wanted");
        return Ok((
            safevenv_installer::Applied::default(),
            unchanged,
            AttestationCounts::default(),
        ));
    }

    let to_install: Vec<&Wanted> = plan
        .install
        .iter()
        .filter_map(|install| wanted.iter().find(|wanted| wanted.name == install.name))
        .collect();
    // Sources: every artifact about to be fetched comes from where the policy allows, and a
    // locked one from a URL its index lists; judged before anything is fetched.
    let checked = sources::check_locked_urls(network, policy, &to_install)?;
    sources::judge_sources(network, policy, &checked)?;
    let to_install: Vec<&Wanted> = checked.iter().collect();
    let layout = environment.layout();
    // Attestations are verified on another thread meanwhile (by the pinned sha256 the download
    // is checked against); `add_facts` below reports their outcome in the usual order.
    let Inspected {
        wheels,
        mut packages,
    } = std::thread::scope(|scope| {
        scope.spawn(|| attestations.verify_ahead(network.runtime, policy, &to_install));
        fetch_and_inspect(&to_install, network, layout)
    })?;
    // Attestations: each artifact's provenance, verified offline against the sha256 its
    // download was checked against; the outcome and the lockfile's pin become facts.
    let counts = attestations.add_facts(network.runtime, policy, &to_install, &mut packages)?;
    // Vulnerabilities: known advisories of each version, from the offline database only.
    if let Some(audit) = audit {
        audit.add_facts(&mut packages, &plan);
    }

    // Gate: the whole set at once, so every refusal of the run is reported together.
    let installed = kept_facts(environment, &plan)?;
    let set = resolved_set(layout, network.indexes, packages, installed);
    let approved = policy.evaluate(&set).map_err(OpsError::Refused)?;

    // Stage (hard links from the cache of unpacked wheels) and apply, as one journaled
    // transaction.
    let installing = safevenv_progress::Progress::new(network.progress).phase(
        "Installing",
        format!(
            "{} distributions (staged, then one journaled commit)",
            plan.install.len()
        ),
    );
    let applied = environment.apply(&plan, &approved, &wheels, &mut |progress| {
        if let Progress::Staging { name, version } = progress {
            debug!("staging {name} {version}");
        }
    })?;
    drop(installing);
    Ok((applied, unchanged, counts))
}

/// What the installer is asked for (with PEP 610 `direct_url.json` for direct wheels).
pub(crate) fn installs_of(wanted: &[Wanted]) -> Result<Vec<Install>, OpsError> {
    wanted
        .iter()
        .map(|wanted| {
            Ok(Install {
                name: wanted.name.clone(),
                version: wanted.version.clone(),
                requested: wanted.requested,
                direct_url: wanted.direct_url()?,
                artifact_sha256: Some(*wanted.sha256.as_bytes()),
            })
        })
        .collect()
}

/// The key the cache of unpacked wheels and the receipts of installed distributions are
/// sealed with, kept outside the cache (`Cache::seal_key_file`).
pub(crate) fn seal_key(cache: &Cache) -> Result<SealKey, OpsError> {
    Ok(SealKey::open(cache.seal_key_file()?)?)
}

/// The files and scripts of the distributions `plan` keeps, for the overwrite and script-clash
/// rules.
pub(crate) fn kept_facts(
    environment: &Environment,
    plan: &Plan,
) -> Result<Vec<InstalledDistribution>, OpsError> {
    let mut installed = Vec::with_capacity(plan.keep.len());
    for dist in &plan.keep {
        let files = environment.files_of(dist)?;
        installed.push(facts::installed_facts(environment.layout(), dist, &files));
    }
    Ok(installed)
}

/// The wheels fetched and unpacked, and the facts the gate judges about each.
pub(crate) struct Inspected {
    /// The wheels whose content was verified, each in its entry of the unpacked cache.
    pub(crate) wheels: Vec<ReadyWheel>,
    /// One entry per wanted distribution, in order.
    pub(crate) packages: Vec<PackageFacts>,
}

/// Fetch → verify → facts, for every distribution in `wanted`.
///
/// Each artifact is pinned by hash and checked while it streams (cached once it matches). As
/// soon as one is in, a worker (one per core) inspects it and unpacks it into the cache of
/// unpacked wheels, checking every file against RECORD as it is written (or finds it there,
/// sealed): inflating overlaps the downloads still running, and each file is inflated once.
/// Nothing of the environment is touched: the cache is safevenv's own, and the gate judges the
/// facts before anything is linked from it. A wheel the reader refuses is not an error here:
/// its problem becomes a fact for `contents.archive`, so that every refusal of the run is
/// reported together.
pub(crate) fn fetch_and_inspect(
    wanted: &[&Wanted],
    network: &Network<'_>,
    layout: &EnvironmentLayout,
) -> Result<Inspected, OpsError> {
    let requests: Vec<_> = wanted
        .iter()
        .map(|wanted| wanted.artifact_request())
        .collect();
    let fetcher = Fetcher::new(
        network.client.clone(),
        network.cache.clone(),
        FetchOptions {
            concurrency: 8,
            offline: network.offline,
            progress: network.progress,
            max_size: DEFAULT_MAX_SIZE,
        },
    );
    let unpacked = UnpackedCache::new(
        network.cache.root().join(CacheBucket::Wheels.dir_name()),
        seal_key(network.cache)?,
    );
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let (sender, receiver) = mpsc::channel::<(usize, FetchedArtifact)>();
    let receiver = Mutex::new(receiver);
    let (fetched, prepared) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        // The lock is held only while waiting for the next artifact.
                        let next = receiver
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .recv();
                        let Ok((position, artifact)) = next else {
                            return done;
                        };
                        let prepared = prepare(wanted[position], &artifact, &unpacked);
                        done.push((position, prepared));
                    }
                })
            })
            .collect();
        let fetched =
            network
                .runtime
                .block_on(fetcher.fetch_all_with(&requests, &|position, artifact| {
                    // A send fails only once every worker is gone, and then nothing waits for it.
                    let _ = sender.send((position, artifact.clone()));
                }));
        drop(sender);
        let mut prepared: Vec<Option<Result<Prepared, OpsError>>> =
            (0..wanted.len()).map(|_| None).collect();
        for handle in handles {
            let done = handle
                .join()
                .map_err(|_| OpsError::Internal("a wheel-unpacking worker panicked".to_string()))?;
            for (position, outcome) in done {
                prepared[position] = Some(outcome);
            }
        }
        Ok::<_, OpsError>((fetched, prepared))
    })?;
    fetched.map_err(|source| OpsError::Fetch(Box::new(source)))?;
    network
        .downloaded
        .fetch_add(fetcher.downloaded_bytes(), Ordering::Relaxed);

    let mut wheels = Vec::with_capacity(wanted.len());
    let mut packages = Vec::with_capacity(wanted.len());
    let mut ready_at = Vec::with_capacity(wanted.len());
    for (wanted, prepared) in wanted.iter().zip(prepared) {
        let mut package = facts::package_facts(wanted);
        match prepared {
            Some(Ok(Prepared::Ready(wheel))) => {
                ready_at.push(packages.len());
                wheels.push(*wheel);
            }
            Some(Ok(Prepared::Refused(err))) => facts::add_archive_problem(&mut package, &err),
            Some(Err(err)) => return Err(err),
            None => {
                return Err(OpsError::Internal(format!(
                    "the wheel of {} {} was fetched but never unpacked",
                    wanted.name, wanted.version
                )));
            }
        }
        packages.push(package);
    }
    // Contents are judged where they land, and for the set at once: a `.pth` file of one wheel
    // puts a directory on the path for the modules of every other.
    let keyed: Vec<(&WheelInfo, String)> = wheels
        .iter()
        .map(|wheel| (&**wheel, wheel.content_key()))
        .collect();
    let contents = Destinations::new(layout).contents_facts(&keyed);
    for ((&at, wheel), contents) in ready_at.iter().zip(&wheels).zip(contents) {
        facts::add_wheel_facts(&mut packages[at], wheel, contents);
    }
    Ok(Inspected { wheels, packages })
}

/// What became of one fetched wheel.
enum Prepared {
    /// Verified and in the unpacked cache.
    Ready(Box<ReadyWheel>),
    /// The reader refused it (a fact for the gate, not an error).
    Refused(WheelError),
}

/// Inspect the fetched wheel, then find it in the unpacked cache or unpack it there, verified.
fn prepare(
    wanted: &Wanted,
    artifact: &FetchedArtifact,
    unpacked: &UnpackedCache,
) -> Result<Prepared, OpsError> {
    let unreadable = || {
        OpsError::Internal(format!(
            "cannot read the cached wheel `{}`",
            artifact.path().display()
        ))
    };
    let inspected = match Wheel::inspect(artifact.path(), &wanted.wheel) {
        Ok(inspected) => inspected,
        Err(err) if err.is_io() => return Err(unreadable()),
        Err(err) => return Ok(Prepared::Refused(err)),
    };
    match unpacked.prepare(inspected) {
        Ok(wheel) => Ok(Prepared::Ready(Box::new(wheel))),
        Err(InstallError::Unpack { source, .. }) if !source.is_io() => {
            Ok(Prepared::Refused(*source))
        }
        Err(err) => Err(err.into()),
    }
}

/// The set the gate judges: `packages` to be written, next to the `installed` distributions
/// that stay.
pub(crate) fn resolved_set(
    layout: &EnvironmentLayout,
    indexes: &IndexUrls,
    packages: Vec<PackageFacts>,
    installed: Vec<InstalledDistribution>,
) -> ResolvedSet {
    ResolvedSet {
        now: Timestamp::now(),
        python_version: Some(layout.python_version),
        indexes: facts::configured_indexes(indexes),
        packages,
        installed,
    }
}
