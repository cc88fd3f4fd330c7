//! The resolver's rules, one test each, against an in-memory index.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use common::{Dist, INDEX, linux_cpython};
use safevenv_resolver::{
    DistMetadata, InMemorySource, Manifest, PackageSource, PrereleaseMode, ProjectVersions,
    Resolution, ResolveError, SourceError, Upgrade, resolve, resolve_with_step_limit,
};
use uv_normalize::{ExtraName, PackageName};
use uv_pep440::Version;
use uv_pep508::Requirement;

fn source(dists: &[Dist<'_>]) -> InMemorySource {
    let mut source = InMemorySource::new(INDEX);
    for dist in dists {
        dist.add_to(&mut source);
    }
    source
}

fn manifest(requirements: &[&str]) -> Manifest {
    Manifest {
        requirements: requirements
            .iter()
            .map(|requirement| Requirement::from_str(requirement).unwrap())
            .collect(),
        ..Manifest::default()
    }
}

fn name(text: &str) -> PackageName {
    PackageName::from_str(text).unwrap()
}

fn version(text: &str) -> Version {
    Version::from_str(text).unwrap()
}

fn pins(resolution: &Resolution) -> Vec<String> {
    resolution
        .distributions
        .iter()
        .map(|dist| format!("{}=={}", dist.name, dist.version))
        .collect()
}

fn solve(dists: &[Dist<'_>], requirements: &[&str]) -> Result<Resolution, ResolveError> {
    resolve(
        &manifest(requirements),
        &source(dists),
        &linux_cpython("3.11", 28),
    )
}

fn explanation(result: Result<Resolution, ResolveError>) -> String {
    match result {
        Err(ResolveError::NoSolution { explanation }) => explanation,
        other => panic!("expected no solution, got {other:?}"),
    }
}

fn with_requires<'a>(mut dist: Dist<'a>, requires: &[&str]) -> Dist<'a> {
    dist.requires = requires.iter().map(ToString::to_string).collect();
    dist
}

#[test]
fn newest_compatible_version_with_dependencies_and_edges() {
    let resolution = solve(
        &[
            with_requires(Dist::new("a", "1.0"), &["b>=1"]),
            with_requires(
                Dist::new("a", "2.0"),
                &["b>=2", "c; sys_platform == 'win32'"],
            ),
            Dist::new("b", "1.0"),
            Dist::new("b", "2.5"),
            Dist::new("c", "1.0"),
        ],
        &["a"],
    )
    .unwrap();
    assert_eq!(pins(&resolution), ["a==2.0", "b==2.5"]);
    let a = &resolution.distributions[0];
    assert!(a.requested);
    assert_eq!(a.dependencies.len(), 1);
    assert_eq!(a.dependencies[0].name, name("b"));
    assert!(!resolution.distributions[1].requested);
    assert_eq!(a.wheel.to_string(), "a-2.0-py3-none-any.whl");
    assert_eq!(
        a.file.url,
        "https://index.example/files/a-2.0-py3-none-any.whl"
    );
}

#[test]
fn extras_add_their_dependencies_only_when_requested() {
    let mut a = with_requires(
        Dist::new("a", "1.0"),
        &["b", "c; extra == 'fast'", "d; extra == 'slow'"],
    );
    a.provides_extra = vec!["fast", "slow"];
    let dists = [
        a,
        Dist::new("b", "1.0"),
        Dist::new("c", "1.0"),
        Dist::new("d", "1.0"),
    ];

    let plain = solve(&dists, &["a"]).unwrap();
    assert_eq!(pins(&plain), ["a==1.0", "b==1.0"]);

    let fast = solve(&dists, &["a[fast]"]).unwrap();
    assert_eq!(pins(&fast), ["a==1.0", "b==1.0", "c==1.0"]);
    let a = &fast.distributions[0];
    assert_eq!(
        a.extras,
        BTreeSet::from([ExtraName::from_str("fast").unwrap()])
    );
    let via_fast: Vec<_> = a
        .dependencies
        .iter()
        .filter(|edge| edge.via_extra.is_some())
        .map(|edge| edge.name.to_string())
        .collect();
    assert_eq!(via_fast, ["c"]);
}

#[test]
fn requires_python_skips_versions_and_explains() {
    let mut new = Dist::new("b", "2.0");
    new.requires_python = Some(">=3.13");
    let dists = [new, Dist::new("b", "1.0")];
    // The target is 3.11: b 2.0 is skipped, b 1.0 chosen.
    assert_eq!(pins(&solve(&dists, &["b"]).unwrap()), ["b==1.0"]);

    let text = explanation(solve(&dists, &["b>=2"]));
    assert!(
        text.contains("b 2.0 requires Python >=3.13; the target is 3.11.0"),
        "{text}"
    );
    assert!(text.contains("you require b>=2"), "{text}");
}

#[test]
fn requires_python_of_the_metadata_is_checked_too() {
    let mut source = InMemorySource::new(INDEX);
    Dist::new("b", "1.0").add_to(&mut source);
    // The index entry says nothing; the wheel's metadata requires 3.13.
    let mut lying = source.clone();
    lying.add(
        name("b"),
        version("1.0"),
        DistMetadata {
            requires_dist: Vec::new(),
            requires_python: Some(">=3.13".parse().unwrap()),
            provides_extra: Vec::new(),
        },
        Vec::new(),
    );
    let env = linux_cpython("3.11", 28);
    let text = explanation(resolve(&manifest(&["b"]), &lying, &env));
    assert!(text.contains("b==1.0 requires Python >=3.13"), "{text}");
    assert!(resolve(&manifest(&["b"]), &source, &env).is_ok());
}

#[test]
fn only_wheels_for_the_target_are_candidates() {
    let mut sdist_only = Dist::new("c", "3.0");
    sdist_only.wheel_tags = Vec::new();
    sdist_only.sdist = true;
    let mut windows = Dist::new("c", "2.0");
    windows.wheel_tags = vec!["cp311-cp311-win_amd64"];
    let dists = [sdist_only, windows, Dist::new("c", "1.0")];
    assert_eq!(pins(&solve(&dists, &["c"]).unwrap()), ["c==1.0"]);

    let text = explanation(solve(&dists, &["c>=2"]));
    assert!(
        text.contains("c 2.0 has no wheel for this platform"),
        "{text}"
    );
    assert!(
        text.contains("c 3.0 has no wheel, and only wheels are installed"),
        "{text}"
    );
}

#[test]
fn the_best_ranked_wheel_is_chosen() {
    let mut dist = Dist::new("d", "1.0");
    dist.wheel_tags = vec![
        "py3-none-any",
        "cp311-cp311-manylinux_2_17_x86_64",
        "cp311-cp311-macosx_11_0_arm64",
    ];
    let resolution = solve(&[dist], &["d"]).unwrap();
    assert_eq!(
        resolution.distributions[0].wheel.to_string(),
        "d-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    );
}

#[test]
fn yanked_versions_are_refused_unless_pinned() {
    let mut yanked = Dist::new("e", "2.0");
    yanked.yanked = true;
    let dists = [yanked, Dist::new("e", "1.0")];

    // PEP 592: a yanked version is not chosen for a range, even the newest...
    assert_eq!(pins(&solve(&dists, &["e"]).unwrap()), ["e==1.0"]);
    let text = explanation(solve(&dists, &["e>1"]));
    assert!(text.contains("e 2.0 is yanked"), "{text}");
    // ...nor when a dependency pins it: only the user's own pin counts.
    let dependent = with_requires(Dist::new("f", "1.0"), &["e==2.0"]);
    let with_dependent = [dependent, dists[0].clone(), dists[1].clone()];
    assert!(solve(&with_dependent, &["f"]).is_err());

    // The user's `==` pin lets it through.
    assert_eq!(pins(&solve(&dists, &["e==2.0"]).unwrap()), ["e==2.0"]);
}

fn solve_allowing_prereleases(
    dists: &[Dist<'_>],
    requirements: &[&str],
) -> Result<Resolution, ResolveError> {
    let all = Manifest {
        prereleases: PrereleaseMode::Allow,
        ..manifest(requirements)
    };
    resolve(&all, &source(dists), &linux_cpython("3.11", 28))
}

#[test]
fn a_stable_release_beats_a_newer_pre_release() {
    let dists = [Dist::new("g", "1.0"), Dist::new("g", "2.0b1")];
    assert_eq!(pins(&solve(&dists, &["g"]).unwrap()), ["g==1.0"]);
    // `--pre` takes the newest version.
    assert_eq!(
        pins(&solve_allowing_prereleases(&dists, &["g"]).unwrap()),
        ["g==2.0b1"]
    );
    let only_pre = [Dist::new("h", "1.0a1"), Dist::new("h", "1.0a2")];
    assert_eq!(pins(&solve(&only_pre, &["h"]).unwrap()), ["h==1.0a2"]);
}

#[test]
fn a_pre_release_is_taken_when_no_stable_release_fits_the_range() {
    // `a>0.1.0` where only `1.0.0a1` is newer than 0.1.0 (as pip and uv choose).
    let dists = [Dist::new("a", "0.1.0"), Dist::new("a", "1.0.0a1")];
    assert_eq!(pins(&solve(&dists, &["a>0.1.0"]).unwrap()), ["a==1.0.0a1"]);
    // An exact pin of a pre-release.
    let pinned = [Dist::new("c", "1.0"), Dist::new("c", "2.0b1")];
    assert_eq!(pins(&solve(&pinned, &["c==2.0b1"]).unwrap()), ["c==2.0b1"]);
}

#[test]
fn a_transitive_range_only_a_pre_release_satisfies() {
    let dists = [
        with_requires(Dist::new("a", "0.1.0"), &["b>0.1.0"]),
        Dist::new("b", "0.1.0"),
        Dist::new("b", "1.0.0a1"),
        with_requires(Dist::new("p", "1.0"), &["c==2.0b1"]),
        with_requires(Dist::new("q", "1.0"), &["c>=1.0,<=3.0"]),
        Dist::new("c", "1.0"),
        Dist::new("c", "2.0b1"),
    ];
    assert_eq!(
        pins(&solve(&dists, &["a"]).unwrap()),
        ["a==0.1.0", "b==1.0.0a1"]
    );
    // A dependency's pin of a pre-release, joined with another's stable range.
    assert_eq!(
        pins(&solve(&dists, &["p", "q"]).unwrap()),
        ["c==2.0b1", "p==1.0", "q==1.0"]
    );
}

#[test]
fn a_pre_release_is_taken_once_backtracking_rules_out_every_stable_release() {
    let dists = [
        with_requires(Dist::new("a", "1.0"), &["c<1"]),
        with_requires(Dist::new("a", "1.5"), &["c<1"]),
        Dist::new("a", "2.0a1"),
        Dist::new("c", "1.0"),
        Dist::new("d", "1.0"),
        Dist::new("d", "1.1a1"),
    ];
    // The pre-release of `a` is needed; `d` keeps its stable release all the same.
    assert_eq!(
        pins(&solve(&dists, &["a", "c", "d"]).unwrap()),
        ["a==2.0a1", "c==1.0", "d==1.0"]
    );
    // While one stable release still works, it wins over the pre-release.
    let mut with_good_stable = dists.to_vec();
    with_good_stable.push(Dist::new("a", "0.9"));
    assert_eq!(
        pins(&solve(&with_good_stable, &["a", "c"]).unwrap()),
        ["a==0.9", "c==1.0"]
    );
}

#[test]
fn naming_a_pre_release_still_prefers_a_stable_release_that_fits() {
    let dists = [
        Dist::new("a", "0.5a1"),
        Dist::new("a", "1.0"),
        Dist::new("a", "1.1a1"),
    ];
    assert_eq!(
        pins(&solve(&dists, &["a>=0.5a1", "a>=1.0"]).unwrap()),
        ["a==1.0"]
    );
    assert_eq!(pins(&solve(&dists, &["a>=0.5a1"]).unwrap()), ["a==1.0"]);
    // With no stable release in the named range, the newest pre-release.
    assert_eq!(pins(&solve(&dists, &["a>=1.1a1"]).unwrap()), ["a==1.1a1"]);
    assert_eq!(
        pins(&solve_allowing_prereleases(&dists, &["a>=0.5a1"]).unwrap()),
        ["a==1.1a1"]
    );
}

#[test]
fn a_locked_pre_release_is_kept_while_it_fits() {
    let dists = [Dist::new("a", "1.0"), Dist::new("a", "1.1a1")];
    let locked = Manifest {
        preferences: BTreeMap::from([(name("a"), version("1.1a1"))]),
        ..manifest(&["a"])
    };
    let resolution = resolve(&locked, &source(&dists), &linux_cpython("3.11", 28)).unwrap();
    assert_eq!(pins(&resolution), ["a==1.1a1"]);
}

#[test]
fn a_failure_among_pre_releases_explains_the_versions_there_are() {
    // `>=2` excludes `2.0a1` (PEP 440: a pre-release of 2.0 sorts below 2.0).
    let dists = [Dist::new("g", "1.0"), Dist::new("g", "2.0a1")];
    let text = explanation(solve(&dists, &["g>=2"]));
    assert!(text.contains("g"), "{text}");
    assert!(text.contains(">=2"), "{text}");
    assert!(
        !text.contains("Dist(") && !text.contains("Ranges"),
        "{text}"
    );
    // Pre-releases are no longer reported as refused: they are chosen where they fit.
    assert!(!text.contains("is a pre-release"), "{text}");
    let conflicting = [
        with_requires(Dist::new("a", "1.0"), &["c<1"]),
        Dist::new("a", "2.0a1"),
        with_requires(Dist::new("b", "1.0"), &["a<2.0a1"]),
        Dist::new("c", "1.0"),
    ];
    let text = explanation(solve(&conflicting, &["a", "b", "c"]));
    assert!(text.contains("a") && text.contains("c<1"), "{text}");
}

#[test]
fn local_versions_satisfy_the_public_version() {
    let dists = [Dist::new("i", "1.0+cpu"), Dist::new("i", "0.9")];
    assert_eq!(pins(&solve(&dists, &["i==1.0"]).unwrap()), ["i==1.0+cpu"]);
}

#[test]
fn preferences_are_kept_unless_upgraded() {
    let dists = [Dist::new("j", "1.0"), Dist::new("j", "2.0")];
    let env = linux_cpython("3.11", 28);
    let mut locked = manifest(&["j"]);
    locked.preferences = BTreeMap::from([(name("j"), version("1.0"))]);
    let kept = resolve(&locked, &source(&dists), &env).unwrap();
    assert_eq!(pins(&kept), ["j==1.0"]);

    locked.upgrade = Upgrade::Packages(BTreeSet::from([name("j")]));
    assert_eq!(
        pins(&resolve(&locked, &source(&dists), &env).unwrap()),
        ["j==2.0"]
    );
    locked.upgrade = Upgrade::All;
    assert_eq!(
        pins(&resolve(&locked, &source(&dists), &env).unwrap()),
        ["j==2.0"]
    );

    // A preference outside the requirements is ignored.
    let mut narrowed = manifest(&["j>=2"]);
    narrowed.preferences = BTreeMap::from([(name("j"), version("1.0"))]);
    assert_eq!(
        pins(&resolve(&narrowed, &source(&dists), &env).unwrap()),
        ["j==2.0"]
    );
}

#[test]
fn constraints_narrow_but_never_add() {
    let dists = [
        with_requires(Dist::new("k", "1.0"), &["l"]),
        Dist::new("l", "1.0"),
        Dist::new("l", "2.0"),
        Dist::new("m", "1.0"),
    ];
    let mut constrained = manifest(&["k"]);
    constrained.constraints = vec![
        Requirement::from_str("l<2").unwrap(),
        Requirement::from_str("m==1.0").unwrap(),
    ];
    let resolution = resolve(&constrained, &source(&dists), &linux_cpython("3.11", 28)).unwrap();
    assert_eq!(pins(&resolution), ["k==1.0", "l==1.0"]);
}

#[test]
fn a_missing_project_is_named() {
    let text = explanation(solve(&[Dist::new("a", "1.0")], &["nothere"]));
    assert!(
        text.contains("nothere was not found on the index"),
        "{text}"
    );

    // A dependent that needs it is skipped when an older version does not.
    let dists = [
        with_requires(Dist::new("a", "2.0"), &["nothere"]),
        Dist::new("a", "1.0"),
    ];
    assert_eq!(pins(&solve(&dists, &["a"]).unwrap()), ["a==1.0"]);
}

#[test]
fn conflicts_are_explained_in_words() {
    let dists = [
        with_requires(Dist::new("a", "1.0"), &["c==1.0"]),
        with_requires(Dist::new("b", "1.0"), &["c==2.0"]),
        Dist::new("c", "1.0"),
        Dist::new("c", "2.0"),
    ];
    let text = explanation(solve(&dists, &["a", "b"]));
    assert!(text.contains("a depends on c==1.0"), "{text}");
    assert!(text.contains("depends on c==2.0"), "{text}");
    assert!(text.contains("you require a and you require b"), "{text}");
    assert!(!text.contains("Dist(") && !text.contains('∅'), "{text}");
}

#[test]
fn direct_urls_are_refused() {
    let result = solve(
        &[Dist::new("a", "1.0")],
        &["a @ https://index.example/files/a-1.0-py3-none-any.whl"],
    );
    assert!(
        matches!(result, Err(ResolveError::DirectUrl { .. })),
        "{result:?}"
    );
}

#[test]
fn pathological_backtracking_stops_at_the_step_limit() {
    let dists = [
        with_requires(Dist::new("a", "1.0"), &["b"]),
        Dist::new("b", "1.0"),
    ];
    let result = resolve_with_step_limit(
        &manifest(&["a"]),
        &source(&dists),
        &linux_cpython("3.11", 28),
        2,
    );
    match result {
        Err(error @ ResolveError::StepLimit { limit: 2 }) => {
            assert!(error.to_string().contains("gave up after `2` steps"));
        }
        other => panic!("expected the step limit, got {other:?}"),
    }
    // The same resolution within a sane limit succeeds.
    assert!(
        resolve_with_step_limit(
            &manifest(&["a"]),
            &source(&dists),
            &linux_cpython("3.11", 28),
            100
        )
        .is_ok()
    );
}

/// Records what the resolver hints at, and fails when asked for a project it was told to fail.
struct Recording {
    inner: InMemorySource,
    hinted_versions: Mutex<Vec<PackageName>>,
    hinted_metadata: Mutex<Vec<(PackageName, Version)>>,
}

impl PackageSource for Recording {
    fn versions(&self, name: &PackageName) -> Result<Arc<ProjectVersions>, SourceError> {
        if name.as_str() == "broken" {
            return Err(SourceError::Fetch {
                url: format!("{INDEX}/broken/"),
                source: "connection reset".into(),
            });
        }
        self.inner.versions(name)
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Arc<DistMetadata>, SourceError> {
        self.inner.metadata(name, version)
    }

    fn prefetch_versions(&self, names: &[PackageName]) {
        self.hinted_versions
            .lock()
            .unwrap()
            .extend_from_slice(names);
    }

    fn prefetch_metadata(&self, wanted: &[(PackageName, Version)]) {
        self.hinted_metadata
            .lock()
            .unwrap()
            .extend_from_slice(wanted);
    }
}

#[test]
fn dependencies_are_prefetched_together() {
    let recording = Recording {
        inner: source(&[
            with_requires(Dist::new("a", "1.0"), &["b>=1", "c<2"]),
            Dist::new("b", "1.0"),
            Dist::new("c", "1.0"),
            Dist::new("c", "2.0"),
        ]),
        hinted_versions: Mutex::default(),
        hinted_metadata: Mutex::default(),
    };
    resolve(&manifest(&["a"]), &recording, &linux_cpython("3.11", 28)).unwrap();
    let versions = recording.hinted_versions.lock().unwrap().clone();
    assert_eq!(versions, [name("a"), name("b"), name("c")]);
    let metadata = recording.hinted_metadata.lock().unwrap().clone();
    assert_eq!(
        metadata,
        [
            (name("a"), version("1.0")),
            (name("b"), version("1.0")),
            (name("c"), version("1.0"))
        ]
    );
}

#[test]
fn index_failures_name_the_url() {
    let recording = Recording {
        inner: source(&[with_requires(Dist::new("a", "1.0"), &["broken"])]),
        hinted_versions: Mutex::default(),
        hinted_metadata: Mutex::default(),
    };
    let error = resolve(&manifest(&["a"]), &recording, &linux_cpython("3.11", 28)).unwrap_err();
    assert!(matches!(error, ResolveError::Source { .. }), "{error:?}");
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        source.contains("https://index.example/simple/broken/"),
        "{source}"
    );
}
