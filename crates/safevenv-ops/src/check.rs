//! `safevenv policy check` and `safevenv policy init`: the policy gate without the install.
//!
//! `check` runs the stages `install`/`sync` run up to the gate — resolve (or read the lockfile),
//! fetch each wheel pinned by hash, verify it, gather facts — and judges the result. It never
//! stages nor applies anything: the environment, when there is one, is only read (its installed
//! distributions count for the overwrite and script-clash rules).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use safevenv_cache::Cache;
use safevenv_index::IndexUrls;
use safevenv_installer::{EnvironmentLayout, Plan};
use safevenv_lock::Lock;
use safevenv_policy::{POLICY_FILE_NAME, Preset, Refusals, starter_file};
use safevenv_python::Interpreter;
use safevenv_resolver::Upgrade;
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::Requirement;

use crate::attest::{AttestSettings, Attestor, RunAttestations, locked_publishers};
use crate::audit::AuditGate;
use crate::error::OpsError;
use crate::install::{
    Inspected, Network, check_lock_environment, fetch_and_inspect, installs_of, kept_facts,
    load_policy, open_environment, resolved_set, seal_key,
};
use crate::lock::{
    LockFormat, LockSettings, index_client, index_pins, recorded_requirements, resolve_lock,
};
use crate::plan::{self, Wanted};
use crate::runtime::network_runtime;
use crate::sources;
use crate::target::{TargetError, pip_default_index, target_environment, target_interpreter};

/// What `policy check` judges.
#[derive(Debug, Clone)]
pub enum CheckInput {
    /// Requirements to resolve first, as `install -r` would.
    Requirements {
        /// `-r` files.
        requirement_files: Vec<PathBuf>,
        /// `-c` files.
        constraint_files: Vec<PathBuf>,
    },
    /// A lockfile, as `sync` would install it.
    Lockfile(PathBuf),
}

/// Everything `safevenv policy check` needs.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// What to judge.
    pub input: CheckInput,
    /// `--python`: the environment (or interpreter) to judge for.
    pub python: Option<String>,
    /// `--index-url`.
    pub index_url: Option<String>,
    /// `--extra-index-url` (requirements only).
    pub extra_index_urls: Vec<String>,
    /// `--policy FILE`.
    pub policy: Option<PathBuf>,
    /// Use the cache only.
    pub offline: bool,
    /// The attestation options, as for `install`.
    pub attest: AttestSettings,
    /// `--audit-db PATH`: the offline advisory database the vulnerability facts come from.
    pub audit_db: Option<PathBuf>,
    /// Caches.
    pub cache: Cache,
    /// The project directory (policy discovery, relative paths).
    pub working_dir: PathBuf,
    /// Show progress bars (on a terminal).
    pub progress: bool,
}

/// What `policy check` found.
#[derive(Debug)]
pub struct CheckOutcome {
    /// The distributions judged, in order.
    pub checked: Vec<(PackageName, Version)>,
    /// The environment whose installed distributions were taken into account, if there is one.
    pub environment: Option<PathBuf>,
    /// The interpreter's version judged for.
    pub python: Version,
    /// Where the enforced policy came from (the organisation's first), for display.
    pub policy: Vec<String>,
    /// Notes from the policy loader.
    pub policy_warnings: Vec<String>,
    /// `None`: approved. Otherwise every refusal of the run.
    pub refusals: Option<Refusals>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Judges the requirements or the lockfile by the policy, as `install`/`sync` would before
/// writing anything, and installs nothing.
///
/// Unlike `install`, every wanted distribution is judged, also those already installed at the
/// wanted version: a check answers "may this set be installed?", whatever the environment holds.
pub fn check(settings: &CheckSettings) -> Result<CheckOutcome, OpsError> {
    let started = Instant::now();
    let policy = load_policy(&settings.working_dir, settings.policy.clone())?;
    let (interpreter, environment) = target(settings)?;
    let layout = match &environment {
        Some(environment) => environment.layout().clone(),
        // No environment yet: judge for the one `safevenv create` would make here. The layout
        // only places the wheel's files for the overwrite rule, which has nothing to clash with.
        None => {
            EnvironmentLayout::for_environment(&interpreter, &settings.working_dir.join(".venv"))
        }
    };

    let audit = AuditGate::load(settings.audit_db.as_deref(), &settings.working_dir, None)?;
    let runtime;
    let client;
    let indexes: IndexUrls;
    let wanted: Vec<Wanted>;
    let remove_extraneous;
    // The publishers a lockfile pins (none for requirements: there is no earlier run to keep).
    let pinned;
    let python = interpreter.version().clone();
    match &settings.input {
        CheckInput::Requirements {
            requirement_files,
            constraint_files,
        } => {
            let lock_settings = LockSettings {
                requirement_files: requirement_files.clone(),
                constraint_files: constraint_files.clone(),
                specifiers: Vec::new(),
                python: settings.python.clone(),
                index_url: settings.index_url.clone(),
                extra_index_urls: settings.extra_index_urls.clone(),
                output: None,
                format: LockFormat::Pylock,
                upgrade: Upgrade::None,
                prereleases: false,
                offline: settings.offline,
                cache: settings.cache.clone(),
                working_dir: settings.working_dir.clone(),
                attest: settings.attest.clone(),
                editables: Vec::new(),
                unsandboxed_builds: Vec::new(),
                progress: safevenv_progress::Progress::new(settings.progress),
                project: None,
                requires_python: None,
            };
            // Keep installed versions where they fit, as `install` does.
            let installed = match &environment {
                Some(environment) => environment
                    .installed()?
                    .into_iter()
                    .map(|dist| (dist.name, dist.version))
                    .collect(),
                None => Default::default(),
            };
            let locked = resolve_lock(
                &lock_settings,
                interpreter,
                None,
                &installed,
                Vec::new(),
                &policy,
            )?;
            wanted = plan::from_resolution(
                &locked.resolution,
                &locked.lock,
                &locked.direct,
                &locked.also_on,
            )?;
            runtime = locked.runtime;
            client = locked.client;
            indexes = locked.indexes;
            remove_extraneous = false;
            pinned = BTreeMap::new();
        }
        CheckInput::Lockfile(path) => {
            let lockfile = settings.working_dir.join(path);
            let lock = Lock::from_path(&lockfile).map_err(|source| OpsError::LockfileRead {
                path: lockfile.clone(),
                source: Box::new(source),
            })?;
            check_lock_environment(&lock, &lockfile, &interpreter)?;
            let tags = interpreter
                .tags()
                .map_err(|source| OpsError::Tags { source })?;
            let requested: Vec<PackageName> = recorded_requirements(&lock)
                .iter()
                .filter_map(|text| Requirement::<url::Url>::from_str(text).ok())
                .map(|requirement| requirement.name)
                .collect();
            wanted = plan::from_lock(
                &lock,
                &lockfile,
                &interpreter,
                &tags,
                &requested,
                &crate::project::Chosen::defaults(&lock),
            )?;
            runtime = network_runtime()?;
            indexes = IndexUrls::from_settings(
                settings.index_url.as_deref(),
                &[],
                pip_default_index(&interpreter, &settings.cache).as_deref(),
            )
            .map_err(|source| OpsError::IndexUrl { source })?;
            let pins = index_pins(&policy, &indexes)?;
            client = index_client(&runtime, &indexes, &settings.cache, settings.offline, pins)?;
            remove_extraneous = true;
            pinned = locked_publishers(&lock, &lockfile)?;
        }
    }

    let network = Network {
        runtime: &runtime,
        client: &client,
        indexes: &indexes,
        cache: &settings.cache,
        offline: settings.offline,
        progress: settings.progress,
        downloaded: Default::default(),
    };
    // Sources first, before anything is fetched: a lockfile's artifacts are compared with the
    // pages of their indexes, and a refused source is reported without downloading from it.
    let all: Vec<&Wanted> = wanted.iter().collect();
    let wanted = sources::check_locked_urls(&network, &policy, &all)?;
    let outcome = |refusals: Option<Refusals>| CheckOutcome {
        checked: wanted
            .iter()
            .map(|wanted| (wanted.name.clone(), wanted.version.clone()))
            .collect(),
        environment: environment
            .as_ref()
            .map(|environment| environment.layout().prefix.clone()),
        python: python.clone(),
        policy: policy.origins().map(ToString::to_string).collect(),
        policy_warnings: policy.warnings().iter().map(ToString::to_string).collect(),
        refusals,
        elapsed: started.elapsed(),
    };
    match sources::judge_sources(&network, &policy, &wanted) {
        Ok(()) => {}
        Err(OpsError::Refused(refusals)) => return Ok(outcome(Some(refusals))),
        Err(err) => return Err(err),
    }
    let all: Vec<&Wanted> = wanted.iter().collect();
    let Inspected { mut packages, .. } = fetch_and_inspect(&all, &network, &layout)?;
    // The same facts `install` and `sync` gather after fetching: attestations and advisories.
    let attestor = Attestor::new(&settings.attest, &client, &settings.cache)?;
    RunAttestations {
        attestor: &attestor,
        pinned: &pinned,
    }
    .add_facts(&runtime, &policy, &all, &mut packages)?;
    // What would stay installed beside the set: with a lockfile, `sync` removes what it does
    // not list, so only the distributions it keeps count.
    let plan = match &environment {
        Some(environment) => environment.plan(
            &installs_of(&wanted)?,
            remove_extraneous,
            &seal_key(&settings.cache)?,
        )?,
        None => Plan::default(),
    };
    if let Some(audit) = &audit {
        audit.add_facts(&mut packages, &plan);
    }
    let installed = match &environment {
        Some(environment) => kept_facts(environment, &plan)?,
        None => Vec::new(),
    };
    let set = resolved_set(&layout, &indexes, packages, installed);
    let refusals = policy.evaluate(&set).err();
    Ok(outcome(refusals))
}

/// The interpreter to judge for, and its environment when it has one. A check needs no
/// environment: without one, the installed distributions are simply none.
fn target(
    settings: &CheckSettings,
) -> Result<(Interpreter, Option<safevenv_installer::Environment>), OpsError> {
    match target_environment(
        settings.python.as_deref(),
        &settings.working_dir,
        &settings.cache,
    ) {
        Ok((interpreter, prefix)) => {
            // Opened under the environment's lock, so the installed set read is not one that
            // another run is halfway through changing.
            let environment = open_environment(&interpreter, &prefix)?;
            Ok((interpreter, Some(environment)))
        }
        Err(TargetError::NoEnvironment { .. } | TargetError::NotAnEnvironment { .. }) => {
            let interpreter = target_interpreter(
                settings.python.as_deref(),
                &settings.working_dir,
                &settings.cache,
            )?;
            Ok((interpreter, None))
        }
        Err(err) => Err(err.into()),
    }
}

/// Writes a commented starter policy file, `safevenv.toml`, in `dir` extending `preset`, and
/// returns its path. An existing file is replaced only with `force`.
pub fn policy_init(dir: &Path, preset: Preset, force: bool) -> Result<PathBuf, OpsError> {
    let path = dir.join(POLICY_FILE_NAME);
    let text = starter_text(preset)?;
    let mut options = fs_err::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        // `create_new`: no window between "does it exist?" and writing it.
        options.create_new(true);
    }
    let mut file = options.open(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            OpsError::PolicyFileExists { path: path.clone() }
        } else {
            OpsError::Write {
                path: path.clone(),
                source,
            }
        }
    })?;
    file.write_all(text.as_bytes())
        .map_err(|source| OpsError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// The starter file, made to extend `preset`: its comments document every table, and the
/// preset's own settings stay in the preset, so a later safevenv's preset changes still apply.
fn starter_text(preset: Preset) -> Result<String, OpsError> {
    const LINE: &str = "extends = \"default\"";
    let starter = starter_file();
    if !starter.lines().any(|line| line == LINE) {
        return Err(OpsError::Internal(format!(
            "the starter policy file has no `{LINE}` line"
        )));
    }
    Ok(starter.replacen(LINE, &format!("extends = \"{}\"", preset.name()), 1))
}

#[cfg(test)]
mod tests {
    use safevenv_policy::{Policy, PolicyText, Preset};

    use super::starter_text;

    #[test]
    fn the_starter_file_extends_each_preset_and_loads() {
        for preset in Preset::ALL {
            let text = starter_text(preset).unwrap();
            assert!(
                text.contains(&format!("\nextends = \"{}\"\n", preset.name())),
                "{text}"
            );
            let file = PolicyText {
                path: "safevenv.toml".into(),
                text,
            };
            Policy::from_texts(None, Some(&file)).unwrap();
        }
    }
}
