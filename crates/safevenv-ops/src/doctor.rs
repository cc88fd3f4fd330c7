//! `safevenv doctor`: a project and its environment checked against the practices safevenv
//! enforces, each finding with its rule id, why it matters and the fix.
//!
//! Configuration before I/O: [`probe`] gathers every fact once (files, the environment, the
//! policy, who runs, the interpreter) into [`Facts`], composing the existing stages (`verify`,
//! the frozen check, `audit`, the policy's presets, the wheel crate's `.pth` reader); [`diagnose`]
//! is a pure function of those facts, so each check is tested by injecting facts (this machine
//! runs its tests as root inside a container, which a probing test could not vary).

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::civil::Date;
use safevenv_cache::Cache;
use safevenv_policy::{Allowance, Discovery, Looser, Policy, Preset};
use safevenv_redact::redact_text;
use safevenv_requirements::{Entry, Origin, ParseOptions, RequirementSource, RequirementsTxt};
use safevenv_wheel::PthFile;
use serde_json::{Value, json};
use uv_pep440::{Operator, Version};

use crate::error::OpsError;
use crate::input::{InputError, Inputs};
use crate::subject::{open_environment, read_lockfile};
use crate::verify::{VerifySettings, verify};
use crate::{AuditSettings, Subject, audit};

/// What `safevenv doctor` looks at.
#[derive(Debug, Clone)]
pub struct DoctorSettings {
    /// `--env`: the environment (default: the active one, then `.venv` here).
    pub environment: Option<PathBuf>,
    /// The lockfile (default `pylock.toml` in the project directory).
    pub lockfile: PathBuf,
    /// `-r`: the requirements files (default: `requirements.txt` here, if there is one).
    pub requirement_files: Vec<PathBuf>,
    /// `--policy FILE` (default: discovered as for `install`).
    pub policy: Option<PathBuf>,
    /// `--audit-db PATH`: the offline advisory database; without it vulnerabilities are not
    /// checked (doctor does not reach the network).
    pub audit_db: Option<PathBuf>,
    /// Caches.
    pub cache: Cache,
    /// The project directory.
    pub working_dir: PathBuf,
}

/// How much a finding matters; any [`Severity::Error`] makes `doctor` exit with code 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// A practice not followed.
    Warning,
    /// A practice broken in a way that exposes the project.
    Error,
}

impl Severity {
    /// The name reports use (`error`, `warning`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }

    /// The SARIF 2.1.0 `level`.
    fn sarif_level(self) -> &'static str {
        match self {
            Self::Info => "note",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// A check `doctor` makes: its id, what it checks and why it matters (`docs/doctor.md` lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The stable id (`requirements.unpinned`).
    pub id: &'static str,
    /// What the rule checks, in one line.
    pub summary: &'static str,
    /// Why it matters.
    pub why: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $summary:literal, $why:literal;)*) => {
        $(const $name: Rule = Rule { id: $id, summary: $summary, why: $why };)*
        /// Every rule `doctor` checks, in report order.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    UNPINNED = "requirements.unpinned",
        "a requirement is not pinned to one version with `==`",
        "an unpinned requirement installs whatever the index serves on the day: a new (possibly malicious) release lands without review";
    UNHASHED = "requirements.unhashed",
        "a requirement has no `--hash`",
        "without a hash, the artifact is trusted because of where it came from, not because of what it is: a replaced file on the index or a proxy goes unnoticed";
    LOCK_MISSING = "lockfile.missing",
        "the requirements have no lockfile",
        "without a lockfile, two installs of the same requirements may get different distributions; a lockfile pins versions and hashes for every dependency";
    LOCK_STALE = "lockfile.stale",
        "the lockfile no longer satisfies the requirements",
        "`sync --frozen` refuses a stale lockfile, and an install from it would not be what the requirements say";
    DRIFT = "environment.drift",
        "the environment differs from its RECORD files or from the lockfile (`safevenv verify`)",
        "a changed, missing or unowned file in the environment is either damage or tampering, and the environment is not what was reviewed";
    PTH_EXEC = "environment.pth-exec",
        "a `.pth` file in the environment runs code at every interpreter start",
        "`site.py` executes `import` lines of `.pth` files on every start of the interpreter, before any of your code: a classic persistence point for malware";
    NO_ENVIRONMENT = "environment.missing",
        "no environment was found, so its checks were skipped",
        "the checks of installed files, `.pth` files and the interpreter need an environment";
    VULNERABLE = "vulnerabilities.known",
        "a locked or installed distribution has a known vulnerability",
        "a known vulnerability is the easiest one to exploit";
    VULN_UNCHECKED = "vulnerabilities.unchecked",
        "known vulnerabilities were not checked (no advisory database)",
        "`doctor` does not reach the network; without `--audit-db` it cannot tell whether a distribution is vulnerable";
    SDIST = "policy.sdist-allowed",
        "the policy lets distributions be built from source",
        "building an sdist runs the publisher's code (the build backend and `setup.py`) on your machine before anything is reviewed";
    NON_INDEX = "policy.non-index-source",
        "the policy allows direct URLs, VCS repositories or local paths",
        "a source outside the index has no index-provided hash, upload time or attestation, and what it serves can change under the same URL";
    LOOSER = "policy.looser-than-strict",
        "the policy is looser than the `strict` preset",
        "the `strict` preset waits for releases to age, requires attestations and refuses every known vulnerability; each key looser than it is a risk accepted";
    ENV_FILE = "secrets.env-file",
        "a `.env`, `*.env` or `config/secret*` file is not ignored by git",
        "a file of secrets that git does not ignore is one `git add .` away from being published with the repository";
    CREDENTIALS = "secrets.credentials-in-url",
        "an index URL carries credentials or a token",
        "a URL with a password or token is copied into logs, lockfiles and shell history; keep credentials in a keyring or netrc, outside the URL";
    ROOT = "runtime.root",
        "safevenv runs as root outside a container",
        "as root, a build backend or a `.pth` hook that runs code can change the whole machine, not only the environment";
    EOL = "interpreter.end-of-life",
        "the interpreter's minor version is past its end of life",
        "a Python past its end of life gets no security fixes";
    PATCH = "interpreter.patch-behind",
        "the interpreter is behind its minor version's latest patch release",
        "patch releases carry security fixes; a Python behind them has known, fixed holes";
}

/// Where a finding is: a file, and a line in it when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file (or an environment variable's name, for a credential in the environment).
    pub path: PathBuf,
    /// The 1-based line.
    pub line: Option<usize>,
}

/// One thing `doctor` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: &'static Rule,
    /// How much it matters.
    pub severity: Severity,
    /// What was found (redacted: never a secret).
    pub message: String,
    /// What to do.
    pub fix: String,
    /// Where, if it is about a file.
    pub location: Option<Location>,
}

/// One requirement line as `doctor` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementFact {
    /// The requirement as written (URLs redacted when shown).
    pub text: String,
    /// Where it was given.
    pub location: Location,
    /// Pinned with `==` (no wildcard) or `===`; URLs and paths count as unpinned unless a hash
    /// pins what they serve.
    pub pinned: bool,
    /// Has at least one `--hash`.
    pub hashed: bool,
}

/// Whether git ignores a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// `git check-ignore` says it is ignored.
    Yes,
    /// `git check-ignore` says it is not ignored (or it is tracked).
    No,
    /// It could not be asked (no git, not a repository): why.
    Unknown(String),
}

/// The lockfile and how it relates to the requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockfileFact {
    /// No lockfile at the path.
    Missing(PathBuf),
    /// A lockfile, with the requirements it no longer satisfies (for the environment's
    /// interpreter; not checked without one).
    Present {
        /// Its path.
        path: PathBuf,
        /// Requirements it does not satisfy.
        stale: Vec<String>,
    },
}

/// Who runs safevenv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeFact {
    /// The effective user is root.
    pub root: bool,
    /// Inside a container (`/.dockerenv`, `/run/.containerenv`, the `container` variable, or a
    /// container runtime named in `/proc/1/cgroup`).
    pub container: bool,
}

/// Everything `doctor` judges, gathered by [`probe`].
#[derive(Debug, Clone)]
pub struct Facts {
    /// The project directory.
    pub project_dir: PathBuf,
    /// The requirements files read.
    pub requirement_files: Vec<PathBuf>,
    /// Their requirement lines.
    pub requirements: Vec<RequirementFact>,
    /// The lockfile, if requirements were found or a lockfile exists.
    pub lockfile: Option<LockfileFact>,
    /// The environment, if one was found: its path.
    pub environment: Option<PathBuf>,
    /// `verify`'s problems with the environment (and the lockfile).
    pub drift: Vec<String>,
    /// The `.pth` files of the environment's site-packages that run code, as (path, file).
    pub pth_files: Vec<(PathBuf, PthFile)>,
    /// Known vulnerabilities (`None`: not checked), one line each.
    pub vulnerabilities: Option<Vec<String>>,
    /// What the policy lets in as source or from outside an index.
    pub allowances: Vec<Allowance>,
    /// Where the policy is looser than `strict`.
    pub looser: Vec<Looser>,
    /// Files of secrets found, and whether git ignores them.
    pub secret_files: Vec<(PathBuf, Ignored)>,
    /// Text that may name index URLs: lines of requirements files, pip's configuration files,
    /// `pyproject.toml`, and index variables of the environment. Held only to be judged; what
    /// is shown of it is redacted.
    pub url_texts: Vec<(Location, String)>,
    /// Who runs safevenv.
    pub runtime: RuntimeFact,
    /// The environment's interpreter's version.
    pub python: Option<Version>,
    /// Today (UTC), for end-of-life dates.
    pub today: Date,
}

/// What `doctor` found.
#[derive(Debug)]
pub struct DoctorOutcome {
    /// The project directory.
    pub project_dir: PathBuf,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
}

impl DoctorOutcome {
    /// Whether any finding is an error (exit code 3).
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|finding| finding.severity == Severity::Error)
    }

    /// The findings as one JSON document.
    pub fn to_json(&self) -> Value {
        json!({
            "project": self.project_dir.display().to_string(),
            "findings": self.findings.iter().map(|finding| json!({
                "rule": finding.rule.id,
                "severity": finding.severity.as_str(),
                "message": finding.message,
                "why": finding.rule.why,
                "fix": finding.fix,
                "location": finding.location.as_ref().map(|location| json!({
                    "path": location.path.display().to_string(),
                    "line": location.line,
                })),
            })).collect::<Vec<_>>(),
        })
    }

    /// The findings as a SARIF 2.1.0 log: one run whose driver lists every rule, one result per
    /// finding (locations relative to the project directory when inside it).
    pub fn to_sarif(&self) -> Value {
        let rules: Vec<Value> = RULES
            .iter()
            .map(|rule| {
                json!({
                    "id": rule.id,
                    "shortDescription": { "text": rule.summary },
                    "fullDescription": { "text": rule.why },
                    "helpUri": "docs/doctor.md",
                })
            })
            .collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|finding| {
                let mut result = json!({
                    "ruleId": finding.rule.id,
                    "ruleIndex": RULES.iter().position(|rule| rule.id == finding.rule.id),
                    "level": finding.severity.sarif_level(),
                    "message": { "text": format!("{} (fix: {})", finding.message, finding.fix) },
                });
                if let Some(location) = &finding.location {
                    let path = location
                        .path
                        .strip_prefix(&self.project_dir)
                        .unwrap_or(&location.path);
                    let mut physical = json!({
                        "artifactLocation": { "uri": path.display().to_string() },
                    });
                    if let Some(line) = location.line {
                        physical["region"] = json!({ "startLine": line });
                    }
                    result["locations"] = json!([{ "physicalLocation": physical }]);
                }
                result
            })
            .collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "safevenv doctor",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }},
                "results": results,
            }],
        })
    }
}

/// One CPython minor version in the shipped table.
#[derive(Debug, Clone, Copy)]
pub struct PythonRelease {
    /// `(3, 12)`.
    pub minor: (u64, u64),
    /// Its end of life.
    pub end_of_life: Date,
    /// Its latest patch release as of [`EOL_TABLE_DATE`].
    pub latest: u64,
}

/// The date [`PYTHON_RELEASES`] is correct for; findings about patch releases name it.
pub const EOL_TABLE_DATE: Date = jiff::civil::date(2025, 6, 15);

/// CPython's minor versions: end of life (the release schedules of PEPs 569, 596, 619, 664, 693,
/// 719) and the latest patch release as of [`EOL_TABLE_DATE`]. Shipped rather than fetched:
/// `doctor` does not reach the network. Update both when a release comes out.
pub const PYTHON_RELEASES: &[PythonRelease] = &[
    PythonRelease {
        minor: (3, 8),
        end_of_life: jiff::civil::date(2024, 10, 7),
        latest: 20,
    },
    PythonRelease {
        minor: (3, 9),
        end_of_life: jiff::civil::date(2025, 10, 31),
        latest: 23,
    },
    PythonRelease {
        minor: (3, 10),
        end_of_life: jiff::civil::date(2026, 10, 31),
        latest: 18,
    },
    PythonRelease {
        minor: (3, 11),
        end_of_life: jiff::civil::date(2027, 10, 31),
        latest: 13,
    },
    PythonRelease {
        minor: (3, 12),
        end_of_life: jiff::civil::date(2028, 10, 31),
        latest: 11,
    },
    PythonRelease {
        minor: (3, 13),
        end_of_life: jiff::civil::date(2029, 10, 31),
        latest: 5,
    },
];

/// Probe the facts, then judge them.
pub fn doctor(settings: &DoctorSettings) -> Result<DoctorOutcome, OpsError> {
    let facts = probe(settings)?;
    Ok(DoctorOutcome {
        project_dir: facts.project_dir.clone(),
        findings: diagnose(&facts),
    })
}

/// Judge the facts: a pure function, each check one block below. Findings are sorted most
/// severe first, then by rule.
pub fn diagnose(facts: &Facts) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |rule: &'static Rule, severity, message: String, fix: String, location| {
        findings.push(Finding {
            rule,
            severity,
            message: redact_text(&message).into_owned(),
            fix,
            location,
        });
    };

    for requirement in &facts.requirements {
        if !requirement.pinned {
            add(
                &UNPINNED,
                Severity::Warning,
                format!("`{}` is not pinned to one version", requirement.text),
                "pin it with `==`, or lock the requirements (`safevenv lock`) and install from the lockfile".to_string(),
                Some(requirement.location.clone()),
            );
        }
        if !requirement.hashed {
            add(
                &UNHASHED,
                Severity::Warning,
                format!("`{}` has no `--hash`", requirement.text),
                "write hashed requirements with `safevenv lock --format requirements.txt`, or install from `pylock.toml`".to_string(),
                Some(requirement.location.clone()),
            );
        }
    }

    match &facts.lockfile {
        Some(LockfileFact::Missing(path)) if !facts.requirements.is_empty() => add(
            &LOCK_MISSING,
            Severity::Warning,
            format!("no lockfile at `{}` for the requirements", path.display()),
            "run `safevenv lock -r FILE` and commit `pylock.toml`; in CI, `safevenv sync --frozen -r FILE`".to_string(),
            Some(Location { path: path.clone(), line: None }),
        ),
        Some(LockfileFact::Present { path, stale }) if !stale.is_empty() => add(
            &LOCK_STALE,
            Severity::Error,
            format!(
                "`{}` no longer satisfies the requirements: {}",
                path.display(),
                stale.join(", ")
            ),
            "run `safevenv lock -r FILE` again and commit the new lockfile".to_string(),
            Some(Location { path: path.clone(), line: None }),
        ),
        _ => {}
    }

    match &facts.environment {
        None => add(
            &NO_ENVIRONMENT,
            Severity::Info,
            "no environment found (`--env`, `VIRTUAL_ENV`, `.venv`): its checks were skipped"
                .to_string(),
            "create one with `safevenv create`, or name it with `--env PATH`".to_string(),
            None,
        ),
        Some(environment) => {
            for problem in &facts.drift {
                add(
                    &DRIFT,
                    Severity::Error,
                    problem.clone(),
                    "run `safevenv verify` for details, then `safevenv sync` to restore what the lockfile lists".to_string(),
                    Some(Location { path: environment.clone(), line: None }),
                );
            }
        }
    }

    for (path, file) in &facts.pth_files {
        for line in file.code_lines() {
            add(
                &PTH_EXEC,
                Severity::Warning,
                format!("`{}` runs code at every interpreter start: `{}`", path.display(), line.text),
                "find the distribution that installed it (its RECORD lists it); remove it unless you have reviewed it, and keep the policy's `contents.pth-exec = \"deny\"`".to_string(),
                Some(Location { path: path.clone(), line: Some(line.number) }),
            );
        }
    }

    match &facts.vulnerabilities {
        None => add(
            &VULN_UNCHECKED,
            Severity::Info,
            "known vulnerabilities were not checked".to_string(),
            "pass `--audit-db PATH` (or set `SAFEVENV_AUDIT_DB`), or run `safevenv audit` against the OSV API".to_string(),
            None,
        ),
        Some(found) => {
            for vulnerability in found {
                add(
                    &VULNERABLE,
                    Severity::Error,
                    vulnerability.clone(),
                    "upgrade to a fixed version (`safevenv audit` shows them)".to_string(),
                    None,
                );
            }
        }
    }

    for allowance in &facts.allowances {
        let rule = match allowance {
            Allowance::EverySdist | Allowance::Sdists(_) => &SDIST,
            Allowance::NonIndex { .. } => &NON_INDEX,
        };
        add(
            rule,
            Severity::Warning,
            format!("the policy: {allowance}"),
            "allow sources per package only after review, and prefer wheels from the index"
                .to_string(),
            None,
        );
    }
    if !facts.looser.is_empty() {
        let keys: Vec<String> = facts
            .looser
            .iter()
            .map(|looser| looser.describe(Preset::Strict))
            .collect();
        add(
            &LOOSER,
            Severity::Info,
            format!("the policy is looser than `strict` on: {}", keys.join(", ")),
            "consider `extends = \"strict\"` in `safevenv.toml` (`safevenv policy init --preset strict`)".to_string(),
            None,
        );
    }

    for (path, ignored) in &facts.secret_files {
        match ignored {
            Ignored::Yes => {}
            Ignored::No => add(
                &ENV_FILE,
                Severity::Error,
                format!("`{}` holds secrets and git does not ignore it", path.display()),
                "add it to `.gitignore` (and `git rm --cached` it if it was committed; then rotate its secrets)".to_string(),
                Some(Location { path: path.clone(), line: None }),
            ),
            Ignored::Unknown(why) => add(
                &ENV_FILE,
                Severity::Warning,
                format!(
                    "`{}` holds secrets and whether git ignores it is unknown: {why}",
                    path.display()
                ),
                "make sure no version control publishes it".to_string(),
                Some(Location { path: path.clone(), line: None }),
            ),
        }
    }

    for (location, text) in &facts.url_texts {
        // Security: a URL is judged by the same redaction that guards every printed line, so
        // whatever it would mask (credentials, signed queries, tokens in paths) counts here;
        // the finding shows the masked text only.
        let masked = redact_text(text);
        if masked != text.as_str() {
            add(
                &CREDENTIALS,
                Severity::Error,
                format!("a URL with a secret: `{}`", masked.trim()),
                "remove the credentials from the URL and keep them in a keyring or `~/.netrc`; rotate them if the file was shared".to_string(),
                Some(location.clone()),
            );
        }
    }

    if facts.runtime.root && !facts.runtime.container {
        add(
            &ROOT,
            Severity::Warning,
            "safevenv runs as root, outside a container".to_string(),
            "run as an ordinary user; environments need no root".to_string(),
            None,
        );
    }

    if let Some(python) = &facts.python {
        let release = python.release();
        let minor = (
            release.first().copied().unwrap_or(0),
            release.get(1).copied().unwrap_or(0),
        );
        let patch = release.get(2).copied().unwrap_or(0);
        if let Some(known) = PYTHON_RELEASES.iter().find(|known| known.minor == minor) {
            if known.end_of_life <= facts.today {
                add(
                    &EOL,
                    Severity::Error,
                    format!(
                        "Python {python} reached its end of life on {} (safevenv's table of {EOL_TABLE_DATE})",
                        known.end_of_life
                    ),
                    format!(
                        "move to a supported Python (the newest in the table is 3.{})",
                        PYTHON_RELEASES.last().map_or(0, |last| last.minor.1)
                    ),
                    None,
                );
            } else if patch < known.latest {
                add(
                    &PATCH,
                    Severity::Warning,
                    format!(
                        "Python {python} is behind {}.{}.{}, the latest patch release as of {EOL_TABLE_DATE}",
                        minor.0, minor.1, known.latest
                    ),
                    format!(
                        "install {}.{}.{} or later and recreate the environment",
                        minor.0, minor.1, known.latest
                    ),
                    None,
                );
            }
        }
    }

    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.id.cmp(b.rule.id)));
    findings
}

/// Gather the facts: read the requirements, the lockfile, the policy and the project's secret
/// files; open the environment and run `verify` on it; audit from the offline database.
pub fn probe(settings: &DoctorSettings) -> Result<Facts, OpsError> {
    let project_dir = settings.working_dir.clone();
    let requirement_files: Vec<PathBuf> = if settings.requirement_files.is_empty() {
        let default = project_dir.join("requirements.txt");
        if default.is_file() {
            vec![default]
        } else {
            Vec::new()
        }
    } else {
        settings
            .requirement_files
            .iter()
            .map(|path| project_dir.join(path))
            .collect()
    };
    // Each file is read as pip reads it, so requirements `install` refuses (a VCS or URL
    // source) are judged here too rather than stopping the checks; a file that cannot be read
    // at all is an error.
    let options = ParseOptions {
        working_dir: Some(project_dir.clone()),
        ..ParseOptions::default()
    };
    let mut requirements = Vec::new();
    for path in &requirement_files {
        let parsed = RequirementsTxt::parse_file(path, &options)
            .map_err(|source| OpsError::Input(InputError::from(source)))?;
        requirements.extend(parsed.requirements.iter().filter_map(requirement_fact));
    }
    // The frozen check takes the requirements as `sync --frozen` does; what it refuses, it
    // reports as the reason the lockfile cannot satisfy them.
    let inputs = Inputs::read(&requirement_files, &[], &[], &[], &project_dir);

    let lockfile_path = project_dir.join(&settings.lockfile);
    let lock = lockfile_path
        .is_file()
        .then(|| read_lockfile(&lockfile_path))
        .transpose()?;

    let env_path = settings
        .environment
        .as_ref()
        .map(|path| project_dir.join(path));
    let opened = open_environment(env_path.as_deref(), &project_dir, &settings.cache).ok();
    let (environment, python, pth_files) = match &opened {
        Some((interpreter, environment)) => {
            let layout = environment.layout();
            let mut dirs = vec![layout.scheme.purelib.clone()];
            if layout.scheme.platlib != layout.scheme.purelib {
                dirs.push(layout.scheme.platlib.clone());
            }
            (
                Some(layout.prefix.clone()),
                Some(interpreter.version().clone()),
                code_running_pth_files(&dirs)?,
            )
        }
        None => (None, None, Vec::new()),
    };

    let lockfile = match (&lock, &opened) {
        (Some(lock), Some((interpreter, _))) => Some(LockfileFact::Present {
            path: lockfile_path.clone(),
            stale: if requirement_files.is_empty() {
                Vec::new()
            } else {
                match &inputs {
                    Ok(inputs) => crate::frozen::stale(lock, &lockfile_path, inputs, interpreter)?,
                    Err(err) => vec![format!("the requirements cannot be locked: {err}")],
                }
            },
        }),
        (Some(_), None) => Some(LockfileFact::Present {
            path: lockfile_path.clone(),
            stale: Vec::new(),
        }),
        (None, _) => Some(LockfileFact::Missing(lockfile_path.clone())),
    };
    // Release the environment's lock before `verify` takes it again.
    drop(opened);

    let drift = match &environment {
        Some(prefix) => verify(&VerifySettings {
            environment: Some(prefix.clone()),
            lockfile: lock.as_ref().map(|_| lockfile_path.clone()),
            cache: settings.cache.clone(),
            working_dir: project_dir.clone(),
        })?
        .problems
        .iter()
        .map(ToString::to_string)
        .collect(),
        None => Vec::new(),
    };

    let vulnerabilities = match (&settings.audit_db, &lock, &environment) {
        (None, _, _) | (Some(_), None, None) => None,
        (Some(db), _, _) => {
            let subject = if lock.is_some() {
                Subject::Lockfile(lockfile_path.clone())
            } else {
                Subject::Environment(environment.clone().unwrap_or_default())
            };
            let outcome = audit(&AuditSettings {
                subject,
                db: Some(db.clone()),
                osv_url: None,
                ignore: Vec::new(),
                cache: settings.cache.clone(),
                working_dir: project_dir.clone(),
            })?;
            Some(
                outcome
                    .report
                    .findings
                    .iter()
                    .map(|finding| {
                        format!(
                            "`{} {}`: {}{}",
                            finding.package,
                            finding.version,
                            finding.id,
                            finding
                                .summary
                                .as_ref()
                                .map(|summary| format!(" ({summary})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect(),
            )
        }
    };

    let policy = Policy::load(&Discovery::from_env(
        project_dir.clone(),
        settings.policy.clone(),
    ))
    .map_err(|err| OpsError::Policy(Box::new(err)))?;
    let looser = policy
        .looser_than(Preset::Strict)
        .map_err(|err| OpsError::Policy(Box::new(err)))?;

    Ok(Facts {
        secret_files: secret_files(&project_dir)?
            .into_iter()
            .map(|path| {
                let ignored = git_ignores(&project_dir, &path);
                (path, ignored)
            })
            .collect(),
        url_texts: url_texts(&requirement_files, &project_dir, environment.as_deref())?,
        allowances: policy.allowances(),
        looser,
        project_dir,
        requirement_files,
        requirements,
        lockfile,
        environment,
        drift,
        pth_files,
        vulnerabilities,
        runtime: probe_runtime(),
        python,
        today: jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date(),
    })
}

/// A requirement line as `doctor` judges it; `None` for command-line entries (doctor reads none).
fn requirement_fact(entry: &Entry) -> Option<RequirementFact> {
    let Origin::File { path, line } = &entry.origin else {
        return None;
    };
    let pinned = match &entry.requirement.source {
        RequirementSource::Registry { specifier } => {
            specifier.len() == 1
                && specifier
                    .iter()
                    .all(|spec| matches!(spec.operator(), Operator::Equal | Operator::ExactEqual))
        }
        // A URL or path names one artifact, but what it serves may change: only a hash pins it.
        _ => !entry.hashes.is_empty(),
    };
    let text = match &entry.requirement.name {
        Some(name) => match &entry.requirement.source {
            RequirementSource::Registry { specifier } => format!("{name}{specifier}"),
            _ => name.to_string(),
        },
        None => format!("line {line}"),
    };
    Some(RequirementFact {
        text,
        location: Location {
            path: path.clone(),
            line: Some(*line),
        },
        pinned,
        hashed: !entry.hashes.is_empty(),
    })
}

/// The `.pth` files in `dirs` that some supported Python executes code from.
fn code_running_pth_files(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, PthFile)>, OpsError> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs_err::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "pth") && path.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let content = fs_err::read(&path).map_err(|source| OpsError::Verify {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned());
            let file = PthFile::parse(&name.unwrap_or_default(), &content);
            if file.executes_code() {
                found.push((path, file));
            }
        }
    }
    Ok(found)
}

/// `.env` and `*.env` in the project directory, and `config/secret*`.
fn secret_files(project_dir: &Path) -> Result<Vec<PathBuf>, OpsError> {
    let mut found = Vec::new();
    for (dir, matches) in [
        (
            project_dir.to_path_buf(),
            (|name: &str| name == ".env" || name.ends_with(".env")) as fn(&str) -> bool,
        ),
        (project_dir.join("config"), |name: &str| {
            name.starts_with("secret")
        }),
    ] {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_file() && matches(&entry.file_name().to_string_lossy()) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Whether git ignores `path`: `git check-ignore` exits 0 for an ignored path, 1 for one that is
/// not ignored (a tracked file included: it is published whatever `.gitignore` says), and
/// something else outside a repository.
fn git_ignores(project_dir: &Path, path: &Path) -> Ignored {
    match Command::new("git")
        .arg("-C")
        .arg(project_dir)
        .args(["check-ignore", "-q", "--"])
        .arg(path)
        .output()
    {
        Err(err) => Ignored::Unknown(format!("git could not be run ({err})")),
        Ok(output) => match output.status.code() {
            Some(0) => Ignored::Yes,
            Some(1) => Ignored::No,
            _ => Ignored::Unknown(format!(
                "`git check-ignore` failed (not a git repository?): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        },
    }
}

/// The variables an index URL may be set in.
const INDEX_VARIABLES: &[&str] = &[
    "SAFEVENV_INDEX_URL",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
];

/// Lines that may hold index URLs: the requirements files, pip's configuration files (as pip
/// finds them), `pyproject.toml`, and the index variables.
fn url_texts(
    requirement_files: &[PathBuf],
    project_dir: &Path,
    environment: Option<&Path>,
) -> Result<Vec<(Location, String)>, OpsError> {
    let mut files: Vec<PathBuf> = requirement_files.to_vec();
    files.push(project_dir.join("pyproject.toml"));
    if let Some(path) = std::env::var_os("PIP_CONFIG_FILE") {
        files.push(PathBuf::from(path));
    }
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        files.push(home.join(".config/pip/pip.conf"));
        files.push(home.join(".pip/pip.conf"));
    }
    files.push(PathBuf::from("/etc/pip.conf"));
    if let Some(environment) = environment {
        files.push(environment.join("pip.conf"));
    }
    let mut texts = Vec::new();
    for path in files {
        let Ok(content) = fs_err::read_to_string(&path) else {
            continue;
        };
        for (index, line) in content.lines().enumerate() {
            if line.contains("://") {
                texts.push((
                    Location {
                        path: path.clone(),
                        line: Some(index + 1),
                    },
                    line.to_string(),
                ));
            }
        }
    }
    for name in INDEX_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            texts.push((
                Location {
                    path: PathBuf::from(format!("${name}")),
                    line: None,
                },
                value,
            ));
        }
    }
    Ok(texts)
}

/// Who runs safevenv. The effective user is the owner of `/proc/self` (Linux), which needs no
/// system call binding; elsewhere it is taken as not root.
fn probe_runtime() -> RuntimeFact {
    use std::os::unix::fs::MetadataExt;
    let root = fs_err::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
    let cgroup = fs_err::read_to_string("/proc/1/cgroup").unwrap_or_default();
    let container = Path::new("/.dockerenv").exists()
        || Path::new("/run/.containerenv").exists()
        || std::env::var_os("container").is_some()
        || [
            "docker",
            "kubepods",
            "containerd",
            "lxc",
            "podman",
            "libpod",
        ]
        .iter()
        .any(|hint| cgroup.contains(hint));
    RuntimeFact { root, container }
}

#[cfg(test)]
mod tests {
    //! Each check with facts that make it refuse and facts that let it pass; the facts are
    //! injected, as [`probe`] would fill them.

    use std::str::FromStr;

    use super::*;

    /// A project that follows every practice.
    fn clean() -> Facts {
        Facts {
            project_dir: PathBuf::from("/p"),
            requirement_files: vec![PathBuf::from("/p/requirements.txt")],
            requirements: vec![RequirementFact {
                text: "idna==3.7".to_string(),
                location: Location {
                    path: PathBuf::from("/p/requirements.txt"),
                    line: Some(1),
                },
                pinned: true,
                hashed: true,
            }],
            lockfile: Some(LockfileFact::Present {
                path: PathBuf::from("/p/pylock.toml"),
                stale: Vec::new(),
            }),
            environment: Some(PathBuf::from("/p/.venv")),
            drift: Vec::new(),
            pth_files: Vec::new(),
            vulnerabilities: Some(Vec::new()),
            allowances: Vec::new(),
            looser: Vec::new(),
            secret_files: vec![(PathBuf::from("/p/.env"), Ignored::Yes)],
            url_texts: vec![(
                Location {
                    path: PathBuf::from("/p/requirements.txt"),
                    line: Some(1),
                },
                "--index-url https://index.example/simple".to_string(),
            )],
            runtime: RuntimeFact {
                root: false,
                container: false,
            },
            python: Some(Version::from_str("3.12.11").unwrap()),
            today: jiff::civil::date(2026, 1, 1),
        }
    }

    fn rules(facts: &Facts) -> Vec<&'static str> {
        diagnose(facts)
            .iter()
            .map(|finding| finding.rule.id)
            .collect()
    }

    #[test]
    fn a_clean_project_has_no_findings() {
        assert_eq!(rules(&clean()), Vec::<&str>::new());
    }

    #[test]
    fn unpinned_and_unhashed_requirements() {
        let mut facts = clean();
        facts.requirements[0].pinned = false;
        assert_eq!(rules(&facts), ["requirements.unpinned"]);
        facts.requirements[0].pinned = true;
        facts.requirements[0].hashed = false;
        let findings = diagnose(&facts);
        assert_eq!(findings[0].rule.id, "requirements.unhashed");
        assert_eq!(findings[0].location.as_ref().unwrap().line, Some(1));
    }

    #[test]
    fn requirement_facts_from_a_requirements_file() {
        let text = "idna==3.7 --hash=sha256:0000000000000000000000000000000000000000000000000000000000000000\nrequests>=2\nrich==13.*\nsix===1.16.0\n";
        let parsed = safevenv_requirements::RequirementsTxt::parse_str(
            text,
            "/p/requirements.txt",
            &safevenv_requirements::ParseOptions::default(),
        )
        .unwrap();
        let facts: Vec<(bool, bool)> = parsed
            .requirements
            .iter()
            .filter_map(requirement_fact)
            .map(|fact| (fact.pinned, fact.hashed))
            .collect();
        assert_eq!(
            facts,
            [(true, true), (false, false), (false, false), (true, false)]
        );
    }

    #[test]
    fn a_missing_lockfile_is_reported_only_with_requirements() {
        let mut facts = clean();
        facts.lockfile = Some(LockfileFact::Missing(PathBuf::from("/p/pylock.toml")));
        assert_eq!(rules(&facts), ["lockfile.missing"]);
        facts.requirements.clear();
        assert_eq!(rules(&facts), Vec::<&str>::new());
    }

    #[test]
    fn a_stale_lockfile_is_an_error() {
        let mut facts = clean();
        facts.lockfile = Some(LockfileFact::Present {
            path: PathBuf::from("/p/pylock.toml"),
            stale: vec!["`idna>=4` (locked: 3.7)".to_string()],
        });
        let findings = diagnose(&facts);
        assert_eq!(findings[0].rule.id, "lockfile.stale");
        assert_eq!(findings[0].severity, Severity::Error);
    }

    #[test]
    fn drift_and_a_missing_environment() {
        let mut facts = clean();
        facts.drift = vec!["`idna/core.py`: sha256 differs from RECORD".to_string()];
        assert_eq!(rules(&facts), ["environment.drift"]);
        facts.environment = None;
        facts.drift.clear();
        let findings = diagnose(&facts);
        assert_eq!(rules(&facts), ["environment.missing"]);
        assert_eq!(findings[0].severity, Severity::Info);
    }

    #[test]
    fn a_pth_file_that_runs_code() {
        let mut facts = clean();
        let path = PathBuf::from("/p/.venv/lib/python3.12/site-packages/evil.pth");
        // A path line passes; an `import` line hidden behind a form feed does not.
        facts.pth_files = vec![(
            path.clone(),
            PthFile::parse(
                "evil.pth",
                b"/some/dir\n# comment\x0cimport os; os.system('x')\n",
            ),
        )];
        let findings = diagnose(&facts);
        assert_eq!(rules(&facts), ["environment.pth-exec"]);
        assert_eq!(findings[0].location.as_ref().unwrap().line, Some(3));
        // What the probe keeps: only files that run code.
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("paths.pth"), "/some/dir\n").unwrap();
        fs_err::write(dir.path().join("hook.pth"), "import sys\n").unwrap();
        let found = code_running_pth_files(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].0.ends_with("hook.pth"));
    }

    #[test]
    fn vulnerabilities_known_and_unchecked() {
        let mut facts = clean();
        facts.vulnerabilities = Some(vec!["`idna 3.6`: PYSEC-2024-60".to_string()]);
        assert_eq!(rules(&facts), ["vulnerabilities.known"]);
        facts.vulnerabilities = None;
        assert_eq!(rules(&facts), ["vulnerabilities.unchecked"]);
    }

    #[test]
    fn a_policy_that_allows_sdists_and_non_index_sources() {
        let loose = Policy::from_texts(
            None,
            Some(&safevenv_policy::PolicyText {
                path: PathBuf::from("/p/safevenv.toml"),
                text: "[artifacts]\nsdist-allow = [\"pyyaml\"]\n[sources]\nvcs-allow = [{ package = \"mylib\", url = \"https://git.example/org/mylib\" }]\n".to_string(),
            }),
        )
        .unwrap();
        let mut facts = clean();
        facts.allowances = loose.allowances();
        assert_eq!(
            rules(&facts),
            ["policy.non-index-source", "policy.sdist-allowed"]
        );
        // The default preset allows neither.
        facts.allowances = Policy::preset(Preset::Default).unwrap().allowances();
        assert_eq!(rules(&facts), Vec::<&str>::new());
    }

    #[test]
    fn a_policy_looser_than_strict_is_informational() {
        let mut facts = clean();
        facts.looser = Policy::preset(Preset::Default)
            .unwrap()
            .looser_than(Preset::Strict)
            .unwrap();
        let findings = diagnose(&facts);
        assert_eq!(rules(&facts), ["policy.looser-than-strict"]);
        assert_eq!(findings[0].severity, Severity::Info);
        assert!(
            findings[0].message.contains("attestations.mode"),
            "{}",
            findings[0].message
        );
        assert!(findings[0].message.contains("releases.min-release-age"));
        facts.looser = Policy::preset(Preset::Strict)
            .unwrap()
            .looser_than(Preset::Strict)
            .unwrap();
        assert_eq!(rules(&facts), Vec::<&str>::new());
    }

    #[test]
    fn a_file_of_secrets_git_does_not_ignore() {
        let mut facts = clean();
        facts.secret_files = vec![(PathBuf::from("/p/.env"), Ignored::No)];
        assert_eq!(rules(&facts), ["secrets.env-file"]);
        assert_eq!(diagnose(&facts)[0].severity, Severity::Error);
        facts.secret_files = vec![(PathBuf::from("/p/.env"), Ignored::Unknown("no git".into()))];
        assert_eq!(diagnose(&facts)[0].severity, Severity::Warning);
    }

    #[test]
    fn secret_files_and_git_check_ignore() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::create_dir(root.join("config")).unwrap();
        for name in [
            ".env",
            "prod.env",
            "config/secrets.yaml",
            "config/app.yaml",
            "notes.txt",
        ] {
            fs_err::write(root.join(name), "x").unwrap();
        }
        let found = secret_files(root).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|path| path.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            [
                PathBuf::from(".env"),
                "config/secrets.yaml".into(),
                "prod.env".into()
            ]
        );
        // Outside a repository git cannot tell: said so, not guessed.
        assert!(matches!(
            git_ignores(root, &root.join(".env")),
            Ignored::Unknown(_)
        ));
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .unwrap()
        };
        assert!(git(&["init", "-q"]).status.success());
        fs_err::write(root.join(".gitignore"), ".env\n").unwrap();
        assert_eq!(git_ignores(root, &root.join(".env")), Ignored::Yes);
        assert_eq!(git_ignores(root, &root.join("prod.env")), Ignored::No);
    }

    #[test]
    fn credentials_in_an_index_url() {
        let mut facts = clean();
        facts.url_texts.push((
            Location {
                path: PathBuf::from("/root/.config/pip/pip.conf"),
                line: Some(2),
            },
            "index-url = https://user:hunter2@index.example/simple".to_string(),
        ));
        facts.url_texts.push((
            Location {
                path: PathBuf::from("$PIP_EXTRA_INDEX_URL"),
                line: None,
            },
            "https://index.example/ghp_0123456789abcdefghij0123/simple".to_string(),
        ));
        let findings = diagnose(&facts);
        assert_eq!(
            rules(&facts),
            ["secrets.credentials-in-url", "secrets.credentials-in-url"]
        );
        for finding in &findings {
            assert!(
                !finding.message.contains("hunter2") && !finding.message.contains("ghp_0123"),
                "{}",
                finding.message
            );
        }
        let json = DoctorOutcome {
            project_dir: facts.project_dir.clone(),
            findings,
        }
        .to_json()
        .to_string();
        assert!(!json.contains("hunter2"));
    }

    #[test]
    fn root_outside_a_container() {
        let mut facts = clean();
        facts.runtime = RuntimeFact {
            root: true,
            container: false,
        };
        assert_eq!(rules(&facts), ["runtime.root"]);
        facts.runtime = RuntimeFact {
            root: true,
            container: true,
        };
        assert_eq!(rules(&facts), Vec::<&str>::new());
    }

    #[test]
    fn an_interpreter_past_its_end_of_life_or_behind_its_patch_release() {
        let mut facts = clean();
        facts.python = Some(Version::from_str("3.8.20").unwrap());
        let findings = diagnose(&facts);
        assert_eq!(rules(&facts), ["interpreter.end-of-life"]);
        assert!(
            findings[0].message.contains("2024-10-07"),
            "{}",
            findings[0].message
        );
        assert!(findings[0].message.contains(&EOL_TABLE_DATE.to_string()));
        // 3.10 is supported until 2026-10-31.
        facts.python = Some(Version::from_str("3.10.18").unwrap());
        facts.today = jiff::civil::date(2026, 10, 30);
        assert_eq!(rules(&facts), Vec::<&str>::new());
        facts.today = jiff::civil::date(2026, 10, 31);
        assert_eq!(rules(&facts), ["interpreter.end-of-life"]);
        facts.today = jiff::civil::date(2026, 1, 1);
        facts.python = Some(Version::from_str("3.12.3").unwrap());
        let findings = diagnose(&facts);
        assert_eq!(rules(&facts), ["interpreter.patch-behind"]);
        assert!(findings[0].message.contains("3.12.11"));
    }

    #[test]
    fn the_table_is_ordered_and_dated_before_its_end_of_life_dates() {
        for pair in PYTHON_RELEASES.windows(2) {
            assert!(pair[0].minor < pair[1].minor && pair[0].end_of_life < pair[1].end_of_life);
        }
    }

    #[test]
    fn errors_come_first() {
        let mut facts = clean();
        facts.runtime.root = true;
        facts.drift = vec!["changed".to_string()];
        let findings = diagnose(&facts);
        assert_eq!(findings[0].severity, Severity::Error);
        let outcome = DoctorOutcome {
            project_dir: facts.project_dir.clone(),
            findings,
        };
        assert!(outcome.has_errors());
        facts.drift.clear();
        let outcome = DoctorOutcome {
            project_dir: facts.project_dir.clone(),
            findings: diagnose(&facts),
        };
        assert!(!outcome.has_errors());
    }

    #[test]
    fn sarif_is_a_minimal_valid_2_1_0_log() {
        let mut facts = clean();
        facts.requirements[0].hashed = false;
        facts.runtime.root = true;
        let sarif = DoctorOutcome {
            project_dir: facts.project_dir.clone(),
            findings: diagnose(&facts),
        }
        .to_sarif();
        assert_eq!(sarif["version"], "2.1.0");
        let run = &sarif["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), RULES.len());
        assert!(run["tool"]["driver"]["name"].is_string());
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        for result in results {
            let index = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
            assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
            assert!(result["message"]["text"].is_string());
        }
        let located = results
            .iter()
            .find(|r| r["ruleId"] == "requirements.unhashed")
            .unwrap();
        let physical = &located["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], "requirements.txt");
        assert_eq!(physical["region"]["startLine"], 1);
        let unlocated = results
            .iter()
            .find(|r| r["ruleId"] == "runtime.root")
            .unwrap();
        assert!(unlocated.get("locations").is_none());
    }
}
