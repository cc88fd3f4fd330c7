//! The policy gate: declarative rules that every resolved set must pass before a single file is
//! written into an environment.
//!
//! Loading ([`Policy::load`], [`Policy::from_texts`]) turns policy files into plain rules; judging
//! ([`Policy::evaluate`]) reads only the [`ResolvedSet`] the pipeline gathered, so it does no I/O
//! and is tested without network or disk. Every rule has a stable [`RuleId`]; `docs/policy.md`
//! documents them all.
//!
//! An organisation policy and a project policy are both enforced: a distribution passes only if
//! it passes each (so allowlists intersect and the longer release age wins). A project file
//! without `extends` builds on the organisation's rules rather than the default preset. A project
//! file that explicitly sets a key looser than the organisation's is an
//! error ([`PolicyError::Loosening`]) rather than a silently ignored line, so nobody believes an
//! exemption is in force when it is not.

mod config;
mod error;
mod evaluate;
mod facts;
mod license;
mod load;
mod matcher;
mod posture;
mod redact;
mod report;
mod rules;
mod stdlib;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;
use uv_normalize::PackageName;
use uv_pep440::Version;

pub use config::{AllowDeny, AttestationMode, Preset};
pub use error::PolicyError;
pub use facts::{
    Advisory, ArchiveProblem, ArchiveProblemKind, Artifact, ArtifactKind, ArtifactUrl,
    AttestationFacts, AttestationStatus, ConfiguredIndex, ContentsFacts, EnvironmentFile,
    HashOrigin, HashPin, InstalledDistribution, LicenseFacts, Listing, Origin, PackageFacts,
    PthCodeLine, PthFile, Publisher, ResolvedSet, Severity, Source, SourceKind,
};
pub use load::{
    Discovery, Found, ORG_POLICY_DEFAULT_PATH, ORG_POLICY_ENV, POLICY_FILE_NAME, PolicyText,
    discover,
};
pub use matcher::same_index;
pub use posture::{Allowance, Looser};
pub use report::{Refusal, Refusals};

pub use rules::{RuleId, UnknownRule, explain};

use config::{RawPolicy, Rules};

/// Which policy a layer of rules came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOrigin {
    /// A built-in preset (no file was found).
    Preset(Preset),
    /// The project's policy file.
    Project(PathBuf),
    /// The organisation's policy file.
    Organisation(PathBuf),
}

impl fmt::Display for PolicyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Preset(preset) => write!(f, "the `{preset}` preset"),
            Self::Project(path) => write!(f, "`{}`", path.display()),
            Self::Organisation(path) => write!(f, "the organisation policy `{}`", path.display()),
        }
    }
}

/// Something worth telling the user about the policy that was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyWarning {
    /// A `pyproject.toml` with `[tool.safevenv]` was ignored for the `safevenv.toml` beside it.
    ShadowedPyproject {
        /// The file used.
        used: PathBuf,
        /// The file ignored.
        ignored: PathBuf,
    },
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShadowedPyproject { used, ignored } => write!(
                f,
                "`[tool.safevenv]` in `{}` is ignored: `{}` in the same directory takes precedence",
                ignored.display(),
                used.display()
            ),
        }
    }
}

/// One layer of resolved rules and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub origin: PolicyOrigin,
    pub rules: Rules,
}

/// A loaded policy: the organisation's layer (if any), then the project's (or a preset).
#[derive(Debug, Clone)]
pub struct Policy {
    layers: Vec<Layer>,
    warnings: Vec<PolicyWarning>,
}

/// Proof that a resolved set passed the policy. Only [`Policy::evaluate`] constructs it; the
/// installer demands it, and checks it is about what it installs.
///
/// Invariant: the approval is bound to the facts that were judged, not to names. For each
/// distribution it names the artifact's pinned sha256, the key of the verified content the
/// facts were read from, a digest of every content fact, and every final path the gate judged.
/// The installer recomputes the content facts from the wheels it links and refuses a digest
/// that differs, and refuses a staged file outside the approved paths. Threat: a
/// caller (or a bug) that judges one set of facts and installs another — another wheel of the
/// same name and version, or files the gate never saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyApproved {
    packages: Vec<ApprovedPackage>,
}

/// One distribution the gate approved, with what the approval covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedPackage {
    name: PackageName,
    version: Option<Version>,
    sha256: Option<String>,
    content_key: Option<String>,
    contents_digest: Option<String>,
    files: BTreeSet<String>,
}

impl ApprovedPackage {
    /// The project.
    pub fn name(&self) -> &PackageName {
        &self.name
    }

    /// The exact version.
    pub fn version(&self) -> Option<&Version> {
        self.version.as_ref()
    }

    /// The artifact's pinned sha256 (lowercase hex), when it had one.
    pub fn sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }

    /// The key of the verified content that was judged (for a wheel).
    pub fn content_key(&self) -> Option<&str> {
        self.content_key.as_deref()
    }

    /// The digest of every content fact the gate judged ([`ContentsFacts::digest`]).
    pub fn contents_digest(&self) -> Option<&str> {
        self.contents_digest.as_deref()
    }

    /// Every final path (relative to the environment's root) the gate judged: files, and the
    /// directories the archive lists.
    pub fn files(&self) -> &BTreeSet<String> {
        &self.files
    }
}

impl PolicyApproved {
    /// The distributions that were approved, in the order they were judged.
    pub fn packages(&self) -> &[ApprovedPackage] {
        &self.packages
    }

    /// The approval of `name` at `version`, if it was approved.
    pub fn get(&self, name: &PackageName, version: &Version) -> Option<&ApprovedPackage> {
        self.packages
            .iter()
            .find(|package| &package.name == name && package.version.as_ref() == Some(version))
    }
}

impl Policy {
    /// A built-in preset alone (what applies with no policy file is [`Preset::Default`]).
    pub fn preset(preset: Preset) -> Result<Self, PolicyError> {
        Ok(Self {
            layers: vec![Layer {
                origin: PolicyOrigin::Preset(preset),
                rules: preset_rules(preset, &mut Vec::new())?,
            }],
            warnings: Vec::new(),
        })
    }

    /// Build a policy from files already read: the organisation's (if any) and the project's
    /// (if any; else the default preset). Pure: tests and `--policy` use it without a search.
    pub fn from_texts(
        org: Option<&PolicyText>,
        project: Option<&PolicyText>,
    ) -> Result<Self, PolicyError> {
        let mut layers = Vec::new();
        let mut org_rules = None;
        if let Some(org) = org {
            // An organisation `pyproject.toml` without `[tool.safevenv]` still counts as a file
            // that was named: it applies the default preset.
            let raw = load::parse_raw(org)?.unwrap_or_default();
            let rules = resolve(raw, org)?;
            org_rules = Some(rules.clone());
            layers.push(Layer {
                origin: PolicyOrigin::Organisation(org.path.clone()),
                rules,
            });
        }
        match project.map(|project| Ok::<_, PolicyError>((project, load::parse_raw(project)?))) {
            Some(Ok((project, Some(raw)))) => {
                if let (Some(org), Some(org_rules)) = (org, &org_rules) {
                    config::check_tightens(org_rules, &raw, project.path.parent()).map_err(
                        |loose| PolicyError::Loosening {
                            org: org.path.clone(),
                            project: project.path.clone(),
                            key: loose.key,
                            org_value: loose.org_value,
                            project_value: loose.project_value,
                        },
                    )?;
                }
                // Without `extends`, a project file builds on the organisation's rules (and so
                // inherits its exemptions); with one, it starts from that preset.
                let rules = match (&org_rules, raw.extends) {
                    (Some(org_rules), None) => {
                        let mut rules = org_rules.clone();
                        rules.apply(raw, project.path.parent());
                        rules
                    }
                    _ => resolve(raw, project)?,
                };
                layers.push(Layer {
                    origin: PolicyOrigin::Project(project.path.clone()),
                    rules,
                });
            }
            Some(Err(err)) => return Err(err),
            Some(Ok((_, None))) | None => layers.push(Layer {
                origin: PolicyOrigin::Preset(Preset::Default),
                rules: preset_rules(Preset::Default, &mut Vec::new())?,
            }),
        }
        Ok(Self {
            layers,
            warnings: Vec::new(),
        })
    }

    /// Find, read and load the policy files (see [`discover`] for the order).
    pub fn load(discovery: &Discovery) -> Result<Self, PolicyError> {
        let found = discover(discovery)?;
        let mut policy = Self::from_texts(found.org.as_ref(), found.project.as_ref())?;
        if let (Some(ignored), Some(project)) = (found.shadowed, &found.project) {
            policy.warnings.push(PolicyWarning::ShadowedPyproject {
                used: project.path.clone(),
                ignored,
            });
        }
        Ok(policy)
    }

    /// Where each enforced layer came from: the organisation's first.
    pub fn origins(&self) -> impl Iterator<Item = &PolicyOrigin> {
        self.layers.iter().map(|layer| &layer.origin)
    }

    /// Warnings from loading.
    pub fn warnings(&self) -> &[PolicyWarning] {
        &self.warnings
    }

    /// The attestation mode that applies to `name`: the strictest of the layers' (every layer
    /// judges, so the strictest one decides). Lets the pipeline skip fetching attestations the
    /// policy would not look at.
    pub fn attestation_mode_for(&self, name: &PackageName) -> AttestationMode {
        self.layers
            .iter()
            .map(|layer| layer.rules.attestation_mode_for(name))
            .max()
            .unwrap_or(AttestationMode::Off)
    }

    /// Whether every layer allows taking `name` from the index `url` (rule `sources.index`, as
    /// judged for a run configured with `indexes`). The pipeline asks this before it sends a
    /// lockfile's names to the index the lockfile names.
    pub fn allows_index(
        &self,
        indexes: &[ConfiguredIndex],
        name: &PackageName,
        url: &url::Url,
    ) -> bool {
        self.layers.iter().all(|layer| {
            matches!(
                evaluate::index_verdict(&layer.rules, indexes, name, url),
                evaluate::IndexVerdict::Allowed
            )
        })
    }

    /// Every layer's refusals of `set` for `steps`.
    fn refusals(&self, set: &ResolvedSet, steps: evaluate::Steps) -> Vec<Refusal> {
        let mut refusals = Vec::new();
        for layer in &self.layers {
            evaluate::evaluate_layer(layer, set, steps, &mut refusals);
        }
        refusals
    }

    /// Judge only where each distribution of `set` comes from (the `sources.*` rules): what can
    /// be decided before anything is fetched. [`Policy::evaluate`] judges these again with the
    /// rest.
    pub fn evaluate_sources(&self, set: &ResolvedSet) -> Result<(), Refusals> {
        let refusals = self.refusals(set, evaluate::Steps::Sources);
        if refusals.is_empty() {
            Ok(())
        } else {
            Err(Refusals::new(refusals))
        }
    }

    /// Judge only where each distribution of `set` comes from and what its artifact is (the
    /// `sources.*` and `artifacts.*` rules): what must be decided before an sdist or a source
    /// tree is built. [`Policy::evaluate`] judges the built wheel with every rule afterwards.
    pub fn evaluate_build(&self, set: &ResolvedSet) -> Result<(), Refusals> {
        let refusals = self.refusals(set, evaluate::Steps::BeforeBuild);
        if refusals.is_empty() {
            Ok(())
        } else {
            Err(Refusals::new(refusals))
        }
    }

    /// The index each project is pinned to by `[sources.packages]`, which resolution follows
    /// (the project is looked up on that index only). A pin of the organisation's layer comes
    /// first; a project layer can only agree with it (see the loosening check), or pin a name
    /// the organisation leaves open.
    pub fn index_pins(&self) -> BTreeMap<PackageName, Url> {
        let mut pins = BTreeMap::new();
        for layer in &self.layers {
            for (name, pin) in &layer.rules.index_pins {
                pins.entry(name.clone())
                    .or_insert_with(|| pin.url().clone());
            }
        }
        pins
    }

    /// Judge a resolved set against every layer. Pure: reads only `set`.
    ///
    /// All refusals of the run are returned together, sorted by package, version and rule.
    pub fn evaluate(&self, set: &ResolvedSet) -> Result<PolicyApproved, Refusals> {
        let refusals = self.refusals(set, evaluate::Steps::All);
        if refusals.is_empty() {
            Ok(PolicyApproved {
                packages: set
                    .packages
                    .iter()
                    .map(|package| ApprovedPackage {
                        name: package.name.clone(),
                        version: package.version.clone(),
                        sha256: package.artifact.sha256.as_ref().map(|pin| pin.hex.clone()),
                        content_key: package
                            .contents
                            .as_ref()
                            .and_then(|contents| contents.content_key.clone()),
                        contents_digest: package.contents.as_ref().map(ContentsFacts::digest),
                        files: package
                            .contents
                            .iter()
                            .flat_map(|contents| {
                                contents.files.iter().chain(&contents.directories).cloned()
                            })
                            .collect(),
                    })
                    .collect(),
            })
        } else {
            Err(Refusals::new(refusals))
        }
    }
}

/// Apply a file on top of the preset it extends (`default` when it names none).
fn resolve(raw: RawPolicy, file: &PolicyText) -> Result<Rules, PolicyError> {
    let mut rules = preset_rules(raw.extends.unwrap_or(Preset::Default), &mut Vec::new())?;
    rules.apply(raw, file.path.parent());
    Ok(rules)
}

/// The rules of a preset. A preset without `extends` starts from the strict built-in base.
fn preset_rules(preset: Preset, seen: &mut Vec<Preset>) -> Result<Rules, PolicyError> {
    let text = PolicyText {
        path: Path::new("policy").join(format!("{}.toml", preset.name())),
        text: preset.text().to_string(),
    };
    if seen.contains(&preset) {
        return Err(PolicyError::Invalid {
            path: text.path,
            line: 1,
            column: 1,
            key: Some("extends".to_string()),
            message: format!("the presets extend each other in a cycle through `{preset}`"),
        });
    }
    seen.push(preset);
    let raw = load::parse_raw(&text)?.unwrap_or_default();
    let mut rules = match raw.extends {
        Some(base) => preset_rules(base, seen)?,
        None => Rules::default(),
    };
    rules.apply(raw, None);
    Ok(rules)
}

/// The commented starter file `safevenv policy init` writes.
pub fn starter_file() -> &'static str {
    include_str!("starter.toml")
}
