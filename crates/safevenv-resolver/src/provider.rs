//! The PubGrub dependency provider: packages, candidate selection and dependencies.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::Arc;

use pubgrub::{
    Dependencies, DependencyProvider, PackageResolutionStatistics, PubGrubError,
    SelectedDependencies, VersionSet,
};
use uv_distribution_filename::WheelFilename;
use uv_normalize::{ExtraName, PackageName};
use uv_pep440::{Operator, Version, VersionSpecifiers};
use uv_pep508::{Requirement, VersionOrUrl};
use uv_platform_tags::TagCompatibility;

use crate::report;
use crate::{
    DependencyEdge, DistMetadata, FileEntry, Manifest, PackageSource, PrereleaseMode,
    ProjectVersions, Resolution, ResolveEnv, ResolveError, ResolvedDist, SourceError, VersionRange,
    Yanked,
};

/// A PubGrub package. An extra is a package of its own that depends on its project at the same
/// version, so that the extra's dependencies join the graph only when something requires it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Pkg {
    /// The manifest.
    Root,
    /// A project.
    Dist(PackageName),
    /// An extra of a project.
    Extra(PackageName, ExtraName),
}

impl Pkg {
    pub(crate) fn name(&self) -> Option<&PackageName> {
        match self {
            Self::Root => None,
            Self::Dist(name) | Self::Extra(name, _) => Some(name),
        }
    }
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("your requirements"),
            Self::Dist(name) => write!(f, "{name}"),
            Self::Extra(name, extra) => write!(f, "{name}[{extra}]"),
        }
    }
}

/// Why a version PubGrub picked turned out unusable once its metadata was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Its metadata's Requires-Python excludes the target.
    RequiresPython {
        requires_python: VersionSpecifiers,
        target: Version,
    },
    /// It requires versions of one project that no version satisfies at once.
    ConflictingRequirements { name: PackageName },
    /// It requires a project by direct URL, which is not resolved from an index.
    DirectUrl { name: PackageName },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RequiresPython {
                requires_python,
                target,
            } => write!(
                f,
                "requires Python {requires_python}; the target is {target}"
            ),
            Self::ConflictingRequirements { name } => {
                write!(f, "requires conflicting versions of {name}")
            }
            Self::DirectUrl { name } => write!(
                f,
                "requires {name} by direct URL, which is not resolved from an index"
            ),
        }
    }
}

/// Why a listed version is never a candidate for the target.
#[derive(Debug, Clone)]
enum Skipped {
    /// Its wheels require another Python.
    RequiresPython(VersionSpecifiers),
    /// It has no wheel at all.
    SdistOnly,
    /// None of its wheels has tags the target accepts.
    NoCompatibleWheel,
}

/// A version with a wheel for the target.
#[derive(Debug, Clone)]
struct Candidate {
    version: Version,
    wheel: WheelFilename,
    file: FileEntry,
}

impl Candidate {
    fn is_yanked(&self) -> bool {
        matches!(self.file.yanked, Yanked::Yes { .. })
    }
}

/// The versions of one project, sorted for selection.
#[derive(Debug)]
pub(crate) struct Candidates {
    /// Newest first.
    usable: Vec<Candidate>,
    /// Newest first.
    skipped: Vec<(Version, Skipped)>,
}

/// Requires-Python compares the target's release only, as pip and uv do, so that a `3.13.0rc1`
/// target satisfies `>=3.13`.
fn python_satisfies(requires_python: &VersionSpecifiers, env: &ResolveEnv) -> bool {
    requires_python.contains(&env.python_version.only_release())
}

impl Candidates {
    fn new(project: &ProjectVersions, env: &ResolveEnv) -> Self {
        let mut usable = Vec::new();
        let mut skipped = Vec::new();
        for (version, files) in project.versions.iter().rev() {
            // Rank: an unyanked wheel beats a yanked one, then the best tag priority wins.
            let mut best: Option<((bool, TagCompatibility), &FileEntry, WheelFilename)> = None;
            let mut has_wheel = false;
            let mut python_mismatch = None;
            for file in files {
                // Anything that is not a wheel (an sdist) is not installable here.
                let Ok(wheel) = WheelFilename::from_str(&file.filename) else {
                    continue;
                };
                has_wheel = true;
                let compatibility = wheel.compatibility(&env.tags);
                if !compatibility.is_compatible() {
                    continue;
                }
                if let Some(requires_python) = &file.requires_python
                    && !python_satisfies(requires_python, env)
                {
                    python_mismatch = Some(requires_python.clone());
                    continue;
                }
                let rank = (matches!(file.yanked, Yanked::No), compatibility);
                if best
                    .as_ref()
                    .is_none_or(|(best_rank, ..)| rank > *best_rank)
                {
                    best = Some((rank, file, wheel));
                }
            }
            match best {
                Some((_, file, wheel)) => usable.push(Candidate {
                    version: version.clone(),
                    wheel,
                    file: file.clone(),
                }),
                None => {
                    let reason = match python_mismatch {
                        Some(requires_python) => Skipped::RequiresPython(requires_python),
                        None if has_wheel => Skipped::NoCompatibleWheel,
                        None => Skipped::SdistOnly,
                    };
                    skipped.push((version.clone(), reason));
                }
            }
        }
        Self { usable, skipped }
    }

    fn get(&self, version: &Version) -> Option<&Candidate> {
        self.usable
            .iter()
            .find(|candidate| candidate.version == *version)
    }
}

/// The state of one resolution.
pub(crate) struct Provider<'a> {
    source: &'a dyn PackageSource,
    env: &'a ResolveEnv,
    manifest: &'a Manifest,
    /// The constraints that apply to the target, merged per project.
    constraints: HashMap<PackageName, VersionRange>,
    /// `==` and `===` pins of the manifest, which make yanked versions usable.
    pins: HashMap<PackageName, Vec<VersionRange>>,
    step_limit: usize,
    steps: Cell<usize>,
    /// `None`: the index does not list the project.
    candidates: RefCell<HashMap<PackageName, Option<Rc<Candidates>>>>,
    metadata: RefCell<HashMap<(PackageName, Version), Arc<DistMetadata>>>,
    edges: RefCell<HashMap<(Pkg, Version), Vec<DependencyEdge>>>,
    /// The order in which packages were first required: earlier ones are decided first.
    discovered: RefCell<HashMap<Pkg, usize>>,
    /// The version last chosen for each project, tried first for its extras.
    last_choice: RefCell<HashMap<PackageName, Version>>,
}

/// The version PubGrub gives the root package.
fn root_version() -> Version {
    Version::new([0])
}

impl<'a> Provider<'a> {
    pub(crate) fn new(
        manifest: &'a Manifest,
        source: &'a dyn PackageSource,
        env: &'a ResolveEnv,
        step_limit: usize,
    ) -> Result<Self, ResolveError> {
        let mut constraints: HashMap<PackageName, VersionRange> = HashMap::new();
        let mut pins: HashMap<PackageName, Vec<VersionRange>> = HashMap::new();
        for (requirement, is_constraint) in manifest
            .requirements
            .iter()
            .map(|requirement| (requirement, false))
            .chain(
                manifest
                    .constraints
                    .iter()
                    .map(|constraint| (constraint, true)),
            )
        {
            let specifiers = match &requirement.version_or_url {
                None => continue,
                Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers,
                Some(VersionOrUrl::Url(_)) => {
                    return Err(ResolveError::DirectUrl {
                        requirement: requirement.to_string(),
                    });
                }
            };
            if !requirement.marker.evaluate(&env.markers, &[]) {
                continue;
            }
            if is_constraint {
                let range = VersionRange::from_specifiers(specifiers);
                constraints
                    .entry(requirement.name.clone())
                    .and_modify(|merged| *merged = merged.intersection(&range))
                    .or_insert(range);
            }
            for specifier in specifiers.iter() {
                if matches!(specifier.operator(), Operator::Equal | Operator::ExactEqual) {
                    pins.entry(requirement.name.clone()).or_default().push(
                        VersionRange::from_specifiers(&VersionSpecifiers::from(specifier.clone())),
                    );
                }
            }
        }
        Ok(Self {
            source,
            env,
            manifest,
            constraints,
            pins,
            step_limit,
            steps: Cell::new(0),
            candidates: RefCell::default(),
            metadata: RefCell::default(),
            edges: RefCell::default(),
            discovered: RefCell::default(),
            last_choice: RefCell::default(),
        })
    }

    pub(crate) fn solve(self) -> Result<Resolution, ResolveError> {
        match pubgrub::resolve(&self, Pkg::Root, root_version()) {
            Ok(selected) => Ok(self.resolution(&selected)),
            Err(PubGrubError::NoSolution(tree)) => Err(ResolveError::NoSolution {
                explanation: report::explain(&tree, &self),
            }),
            Err(
                PubGrubError::ErrorChoosingVersion { source, .. }
                | PubGrubError::ErrorRetrievingDependencies { source, .. }
                | PubGrubError::ErrorInShouldCancel(source),
            ) => Err(source),
        }
    }

    fn resolution(&self, selected: &SelectedDependencies<Pkg, Version>) -> Resolution {
        let edges = self.edges.borrow();
        let candidates = self.candidates.borrow();
        let requested: HashSet<&PackageName> = edges
            .get(&(Pkg::Root, root_version()))
            .into_iter()
            .flatten()
            .map(|edge| &edge.name)
            .collect();
        let mut distributions: BTreeMap<PackageName, ResolvedDist> = BTreeMap::new();
        for (package, version) in selected.iter() {
            let Pkg::Dist(name) = package else { continue };
            // PubGrub only selects versions `choose_version` returned, which are candidates.
            let Some(candidate) = candidates
                .get(name)
                .and_then(Option::as_ref)
                .and_then(|candidates| candidates.get(version))
            else {
                continue;
            };
            let mut dependencies = edges
                .get(&(package.clone(), version.clone()))
                .cloned()
                .unwrap_or_default();
            dependencies.sort();
            distributions.insert(
                name.clone(),
                ResolvedDist {
                    name: name.clone(),
                    version: version.clone(),
                    wheel: candidate.wheel.clone(),
                    file: candidate.file.clone(),
                    extras: BTreeSet::new(),
                    dependencies,
                    requested: requested.contains(name),
                },
            );
        }
        for (package, version) in selected.iter() {
            let Pkg::Extra(name, extra) = package else {
                continue;
            };
            if let Some(dist) = distributions.get_mut(name) {
                dist.extras.insert(extra.clone());
                if let Some(extra_edges) = edges.get(&(package.clone(), version.clone())) {
                    dist.dependencies.extend(extra_edges.iter().cloned());
                }
                dist.dependencies.sort();
                dist.dependencies.dedup();
            }
        }
        Resolution {
            distributions: distributions.into_values().collect(),
        }
    }

    /// The candidates of `name`, fetched once.
    fn candidates(&self, name: &PackageName) -> Result<Option<Rc<Candidates>>, ResolveError> {
        if let Some(known) = self.candidates.borrow().get(name) {
            return Ok(known.clone());
        }
        let found = match self.source.versions(name) {
            Ok(project) => Some(Rc::new(Candidates::new(&project, self.env))),
            // A project the index does not list has no version: PubGrub then explains who
            // needed it, and backtracks out of dependents that are optional.
            Err(SourceError::NotFound { .. }) => None,
            Err(source) => {
                return Err(ResolveError::Source {
                    name: name.clone(),
                    source,
                });
            }
        };
        self.candidates
            .borrow_mut()
            .insert(name.clone(), found.clone());
        Ok(found)
    }

    /// Candidates already fetched, for the failure report.
    pub(crate) fn known_candidates(&self, name: &PackageName) -> Option<Option<Rc<Candidates>>> {
        self.candidates.borrow().get(name).cloned()
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<DistMetadata>, ResolveError> {
        let key = (name.clone(), version.clone());
        if let Some(metadata) = self.metadata.borrow().get(&key) {
            return Ok(metadata.clone());
        }
        let metadata =
            self.source
                .metadata(name, version)
                .map_err(|source| ResolveError::Source {
                    name: name.clone(),
                    source,
                })?;
        self.metadata.borrow_mut().insert(key, metadata.clone());
        Ok(metadata)
    }

    /// PEP 592: "a yanked file ... should be ignored, unless it is the only file that matches a
    /// version specifier that "pins" to an exact version using either == or ===". Only the
    /// manifest's pins count, so that a dependency cannot pull in a version its authors withdrew.
    fn yank_allowed(&self, name: &PackageName, version: &Version) -> bool {
        self.pins
            .get(name)
            .is_some_and(|pins| pins.iter().any(|pin| pin.contains(version)))
    }

    fn allowed(&self, name: &PackageName, candidate: &Candidate) -> bool {
        !candidate.is_yanked() || self.yank_allowed(name, &candidate.version)
    }

    /// The version `choose_version` would pick for `name` in `range`, ignoring preferences.
    ///
    /// In [`PrereleaseMode::IfNecessaryOrExplicit`] (uv's default since 0.12) selection makes two
    /// passes: the newest stable release in `range`, and only when the range holds none, the
    /// newest pre-release. A requirement that names a pre-release (`a>=1.0a1`) widens the range
    /// by PEP 440's rules but does not make a pre-release win over a stable release that fits;
    /// a pre-release is taken when the range leaves nothing else (`a>0.1.0` where only `1.0a1`
    /// is newer, or `a==2.0b1`), also after PubGrub has ruled out every stable release by
    /// backtracking, since the range it asks about then excludes them.
    fn best(
        &self,
        name: &PackageName,
        candidates: &Candidates,
        range: &VersionRange,
    ) -> Option<Version> {
        let fits = |candidate: &&Candidate| {
            range.contains(&candidate.version) && self.allowed(name, candidate)
        };
        let mut fitting = candidates.usable.iter().filter(fits);
        let chosen = match self.manifest.prereleases {
            PrereleaseMode::Allow => fitting.next(),
            PrereleaseMode::IfNecessaryOrExplicit => {
                let mut newest_prerelease = None;
                let stable = fitting.find(|candidate| {
                    if candidate.version.any_prerelease() {
                        newest_prerelease.get_or_insert(*candidate);
                        false
                    } else {
                        true
                    }
                });
                stable.or(newest_prerelease)
            }
        };
        chosen.map(|candidate| candidate.version.clone())
    }

    /// Why versions of `name` in `range` were not candidates, for the failure report.
    pub(crate) fn unusable_reasons(&self, name: &PackageName, range: &VersionRange) -> Vec<String> {
        let Some(Some(candidates)) = self.known_candidates(name) else {
            return Vec::new();
        };
        let mut reasons = Vec::new();
        for candidate in &candidates.usable {
            let version = &candidate.version;
            if !range.contains(version) {
                continue;
            }
            if let Yanked::Yes { reason } = &candidate.file.yanked
                && !self.yank_allowed(name, version)
            {
                reasons.push(match reason {
                    Some(reason) if !reason.is_empty() => {
                        format!("{name} {version} is yanked ({reason})")
                    }
                    _ => format!("{name} {version} is yanked"),
                });
            }
        }
        for (version, skipped) in &candidates.skipped {
            if !range.contains(version) {
                continue;
            }
            reasons.push(match skipped {
                Skipped::RequiresPython(requires_python) => format!(
                    "{name} {version} requires Python {requires_python}; the target is {}",
                    self.env.python_version
                ),
                Skipped::SdistOnly => {
                    format!("{name} {version} has no wheel, and only wheels are installed")
                }
                Skipped::NoCompatibleWheel => {
                    format!("{name} {version} has no wheel for this platform")
                }
            });
        }
        reasons
    }

    fn discovery_index(&self, package: &Pkg) -> usize {
        let mut discovered = self.discovered.borrow_mut();
        let next = discovered.len();
        *discovered.entry(package.clone()).or_insert(next)
    }

    /// Turns requirements into PubGrub dependencies, merging repeated projects.
    fn dependencies<'r>(
        &self,
        package: &Pkg,
        version: &Version,
        requirements: impl Iterator<Item = &'r Requirement>,
        via_extra: Option<&ExtraName>,
        mut dependencies: Vec<(Pkg, VersionRange)>,
    ) -> Result<Dependencies<Pkg, VersionRange, Unavailable>, ResolveError> {
        let mut edges = Vec::new();
        let mut merge = |dependency: Pkg, range: VersionRange| match dependencies
            .iter_mut()
            .find(|(known, _)| *known == dependency)
        {
            Some((_, merged)) => *merged = merged.intersection(&range),
            None => dependencies.push((dependency, range)),
        };
        for requirement in requirements {
            let name = &requirement.name;
            let mut range = match &requirement.version_or_url {
                None => VersionRange::any(),
                Some(VersionOrUrl::VersionSpecifier(specifiers)) => {
                    VersionRange::from_specifiers(specifiers)
                }
                Some(VersionOrUrl::Url(_)) => {
                    return Ok(Dependencies::Unavailable(Unavailable::DirectUrl {
                        name: name.clone(),
                    }));
                }
            };
            if let Some(constraint) = self.constraints.get(name) {
                range = range.intersection(constraint);
            }
            if package.name() == Some(name) {
                // A project requiring itself (`a[all]` requiring `a[x]`): the same version.
                if !range.contains(version) {
                    return Ok(Dependencies::Unavailable(
                        Unavailable::ConflictingRequirements { name: name.clone() },
                    ));
                }
                for extra in &requirement.extras {
                    merge(
                        Pkg::Extra(name.clone(), extra.clone()),
                        VersionRange::exactly(version.clone()),
                    );
                }
                continue;
            }
            merge(Pkg::Dist(name.clone()), range.clone());
            for extra in &requirement.extras {
                merge(Pkg::Extra(name.clone(), extra.clone()), range.clone());
            }
            edges.push(DependencyEdge {
                name: name.clone(),
                extras: requirement.extras.to_vec(),
                via_extra: via_extra.cloned(),
            });
        }
        if let Some((conflicting, _)) = dependencies.iter().find(|(_, range)| range.is_empty())
            && let Some(name) = conflicting.name()
        {
            return Ok(Dependencies::Unavailable(
                Unavailable::ConflictingRequirements { name: name.clone() },
            ));
        }
        self.edges
            .borrow_mut()
            .insert((package.clone(), version.clone()), edges);
        for (dependency, _) in &dependencies {
            self.discovery_index(dependency);
        }
        self.prefetch(&dependencies);
        Ok(Dependencies::Available(dependencies.into_iter().collect()))
    }

    /// Tells the source what comes next: first the projects whose versions are not known yet,
    /// all at once, then the metadata of each dependency's likely version.
    fn prefetch(&self, dependencies: &[(Pkg, VersionRange)]) {
        let unknown: Vec<PackageName> = {
            let candidates = self.candidates.borrow();
            let mut unknown: Vec<PackageName> = dependencies
                .iter()
                .filter_map(|(package, _)| package.name())
                .filter(|name| !candidates.contains_key(*name))
                .cloned()
                .collect();
            unknown.dedup();
            unknown
        };
        if !unknown.is_empty() {
            self.source.prefetch_versions(&unknown);
        }
        let mut wanted = Vec::new();
        for (package, range) in dependencies {
            let Pkg::Dist(name) = package else { continue };
            // A failure here surfaces when PubGrub asks for the project itself, if it does.
            let Ok(Some(candidates)) = self.candidates(name) else {
                continue;
            };
            if let Some(version) = self.best(name, &candidates, range)
                && !self
                    .metadata
                    .borrow()
                    .contains_key(&(name.clone(), version.clone()))
            {
                wanted.push((name.clone(), version));
            }
        }
        if !wanted.is_empty() {
            tracing::debug!("prefetching metadata of {} distributions", wanted.len());
            self.source.prefetch_metadata(&wanted);
        }
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = VersionRange;
    type M = Unavailable;
    type Err = ResolveError;
    /// Higher is decided first: the root, then projects (those in many conflicts first), then
    /// extras; ties go to the package required first, which makes the search breadth-first.
    type Priority = (u8, Reverse<usize>);

    fn prioritize(
        &self,
        package: &Pkg,
        _range: &VersionRange,
        statistics: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let tier = match package {
            Pkg::Root => 3,
            Pkg::Dist(_) if statistics.conflict_count() >= 5 => 2,
            Pkg::Dist(_) => 1,
            Pkg::Extra(..) => 0,
        };
        (tier, Reverse(self.discovery_index(package)))
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &VersionRange,
    ) -> Result<Option<Version>, ResolveError> {
        let name = match package {
            Pkg::Root => return Ok(Some(root_version())),
            Pkg::Dist(name) | Pkg::Extra(name, _) => name,
        };
        let Some(candidates) = self.candidates(name)? else {
            return Ok(None);
        };
        let usable = |version: &Version| {
            range.contains(version)
                && candidates
                    .get(version)
                    .is_some_and(|candidate| self.allowed(name, candidate))
        };
        // An extra follows the version chosen for its project; a project keeps its preference.
        let preferred = match package {
            Pkg::Extra(..) => self.last_choice.borrow().get(name).cloned(),
            _ if self.manifest.upgrade.contains(name) => None,
            _ => self.manifest.preferences.get(name).cloned(),
        };
        let chosen = match preferred.filter(|version| usable(version)) {
            Some(version) => Some(version),
            None => self.best(name, &candidates, range),
        };
        if let (Pkg::Dist(_), Some(version)) = (package, &chosen) {
            self.last_choice
                .borrow_mut()
                .insert(name.clone(), version.clone());
        }
        Ok(chosen)
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, VersionRange, Unavailable>, ResolveError> {
        let (name, extra) = match package {
            Pkg::Root => {
                let active = self
                    .manifest
                    .requirements
                    .iter()
                    .filter(|requirement| requirement.marker.evaluate(&self.env.markers, &[]));
                return self.dependencies(package, version, active, None, Vec::new());
            }
            Pkg::Dist(name) => (name, None),
            Pkg::Extra(name, extra) => (name, Some(extra)),
        };
        let metadata = self.metadata(name, version)?;
        if let Some(requires_python) = &metadata.requires_python
            && !python_satisfies(requires_python, self.env)
        {
            return Ok(Dependencies::Unavailable(Unavailable::RequiresPython {
                requires_python: requires_python.clone(),
                target: self.env.python_version.clone(),
            }));
        }
        let markers = &self.env.markers;
        match extra {
            None => {
                let active = metadata
                    .requires_dist
                    .iter()
                    .filter(|requirement| requirement.marker.evaluate(markers, &[]));
                self.dependencies(package, version, active, None, Vec::new())
            }
            Some(extra) => {
                // Only what the extra adds: the project's own dependencies come with it.
                let extras = std::slice::from_ref(extra);
                let active = metadata.requires_dist.iter().filter(|requirement| {
                    requirement.marker.evaluate(markers, extras)
                        && !requirement.marker.evaluate(markers, &[])
                });
                let base = vec![(
                    Pkg::Dist(name.clone()),
                    VersionRange::exactly(version.clone()),
                )];
                self.dependencies(package, version, active, Some(extra), base)
            }
        }
    }

    fn should_cancel(&self) -> Result<(), ResolveError> {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        if steps > self.step_limit {
            return Err(ResolveError::StepLimit {
                limit: self.step_limit,
            });
        }
        Ok(())
    }
}
