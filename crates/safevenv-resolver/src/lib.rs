//! Resolution of Python requirements for one target interpreter, with PubGrub.
//!
//! The resolver reads the index through the blocking [`PackageSource`] trait, picks for every
//! project it reaches the newest version that has a wheel compatible with the target's tags and
//! Requires-Python, and explains a failure from PubGrub's derivation tree.
//!
//! Semantics follow pip and uv:
//! - markers are evaluated for the target environment; an extra `a[x]` is a package of its own
//!   that depends on `a` at the same version, so `extra == 'x'` markers apply only when some
//!   requirement names `a[x]`;
//! - a pre-release is chosen only when no stable release of its project fits the range asked
//!   for (uv's default since 0.12, and pip's rule), so a stable release wins even over a newer
//!   pre-release that a requirement names; [`PrereleaseMode::Allow`] (`--pre`) takes the
//!   newest version, pre-release or not;
//! - a yanked artifact is used only when a requirement or constraint of the manifest pins its
//!   version with `==` or `===` (PEP 592);
//! - a version is a candidate only if it has a wheel for the target: safevenv installs wheels
//!   only, so sdist-only and other-platform versions are skipped, and the reason is reported.

mod overlay;
mod provider;
mod ranges;
mod report;
mod source;
mod universal;

use std::collections::{BTreeMap, BTreeSet};

use uv_distribution_filename::WheelFilename;
use uv_normalize::{ExtraName, PackageName};
use uv_pep440::Version;
use uv_pep508::{MarkerEnvironment, Requirement};
use uv_platform_tags::Tags;

pub use crate::overlay::OverlaySource;
pub use crate::ranges::VersionRange;
pub use crate::source::{
    DistMetadata, FileEntry, InMemorySource, PackageSource, ProjectVersions, SourceError, Yanked,
};
pub use crate::universal::{
    Fork, LINUX_GLIBC, MACHINES, MACOS, Machine, NEWEST_PYTHON_MINOR, OLDEST_PYTHON_MINOR,
    OsFamily, TABLE_DATE, UniversalDist, UniversalError, UniversalResolution, covered_environments,
    forks, resolve_universal,
};

/// How many PubGrub steps [`resolve`] takes before giving up: far more than any real resolution
/// needs, so reaching it means pathological backtracking.
pub const DEFAULT_STEP_LIMIT: usize = 200_000;

/// What to resolve.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The requirements to satisfy. Only index requirements: a direct URL is an error.
    pub requirements: Vec<Requirement>,
    /// Narrow the versions of a project when something requires it; never add a project.
    pub constraints: Vec<Requirement>,
    /// Versions to keep when they still fit, such as those of an existing lockfile.
    pub preferences: BTreeMap<PackageName, Version>,
    /// Which projects ignore their preference.
    pub upgrade: Upgrade,
    /// When pre-releases are candidates.
    pub prereleases: PrereleaseMode,
}

/// Which projects ignore their preference and take the newest version that fits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Upgrade {
    /// Keep every preference that fits.
    #[default]
    None,
    /// Ignore every preference.
    All,
    /// Ignore the preferences of these projects.
    Packages(BTreeSet<PackageName>),
}

impl Upgrade {
    fn contains(&self, name: &PackageName) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Packages(names) => names.contains(name),
        }
    }
}

/// When pre-release versions are candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrereleaseMode {
    /// The newest stable release in the range; the newest pre-release only when the range
    /// holds no stable release (`a>0.1.0` where only `1.0a1` is newer, `a==2.0b1`, a range
    /// from which backtracking has removed every stable release). uv's default since 0.12.
    #[default]
    IfNecessaryOrExplicit,
    /// The newest version in the range, pre-release or not (`--pre`).
    Allow,
}

/// The interpreter resolved for.
#[derive(Debug, Clone)]
pub struct ResolveEnv {
    /// Its marker values.
    pub markers: MarkerEnvironment,
    /// The wheel tags it accepts, best first.
    pub tags: Tags,
    /// Its full version, checked against Requires-Python.
    pub python_version: Version,
}

/// The distributions that satisfy a [`Manifest`], sorted by name.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// One entry per project.
    pub distributions: Vec<ResolvedDist>,
}

/// One distribution of a [`Resolution`].
#[derive(Debug, Clone)]
pub struct ResolvedDist {
    /// The project.
    pub name: PackageName,
    /// The chosen version.
    pub version: Version,
    /// The wheel to install: the one whose tags rank best for the target.
    pub wheel: WheelFilename,
    /// The index's entry for that wheel (URL, hashes, size, upload time).
    pub file: FileEntry,
    /// The extras something requires.
    pub extras: BTreeSet<ExtraName>,
    /// What it depends on in this resolution, its extras' dependencies included.
    pub dependencies: Vec<DependencyEdge>,
    /// Whether a requirement of the manifest names it.
    pub requested: bool,
}

/// An edge of the dependency graph of a [`Resolution`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DependencyEdge {
    /// The project depended on.
    pub name: PackageName,
    /// The extras of it that are required.
    pub extras: Vec<ExtraName>,
    /// The extra of the dependent that brings this dependency, if any.
    pub via_extra: Option<ExtraName>,
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No set of distributions satisfies the requirements.
    #[error("no set of distributions satisfies the requirements:\n{explanation}")]
    NoSolution {
        /// PubGrub's derivation, one sentence a line.
        explanation: String,
    },
    /// A requirement of the manifest names a direct URL.
    #[error("`{requirement}` is a direct URL requirement; only index requirements are resolved")]
    DirectUrl {
        /// The requirement.
        requirement: String,
    },
    /// The index could not be read.
    #[error("failed to read `{name}` from the index")]
    Source {
        /// The project asked for.
        name: PackageName,
        /// Why.
        #[source]
        source: SourceError,
    },
    /// PubGrub took more steps than allowed.
    #[error(
        "resolution gave up after `{limit}` steps of backtracking; narrow the requirements (for example, pin the projects that conflict)"
    )]
    StepLimit {
        /// The limit reached.
        limit: usize,
    },
}

/// Resolves `manifest` for `env`, reading the index through `source`.
pub fn resolve(
    manifest: &Manifest,
    source: &dyn PackageSource,
    env: &ResolveEnv,
) -> Result<Resolution, ResolveError> {
    resolve_with_step_limit(manifest, source, env, DEFAULT_STEP_LIMIT)
}

/// [`resolve`], giving up with [`ResolveError::StepLimit`] after `step_limit` PubGrub steps.
pub fn resolve_with_step_limit(
    manifest: &Manifest,
    source: &dyn PackageSource,
    env: &ResolveEnv,
    step_limit: usize,
) -> Result<Resolution, ResolveError> {
    provider::Provider::new(manifest, source, env, step_limit)?.solve()
}
