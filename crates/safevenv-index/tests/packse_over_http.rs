//! packse's resolver scenarios served as real wheels and sdists from a local index, resolved
//! through [`IndexSource`]: the index client must hand the resolver exactly what the in-memory
//! index of `safevenv-resolver`'s `packse` test holds, whatever way the index is read.
//!
//! Each scenario gets its own index. Scenarios alternate between the four ways of reading one:
//! JSON or HTML-only pages, with PEP 658 `.metadata` files or with none (so metadata comes from
//! HTTP range requests on the wheel).

// The target and the in-memory index are those of the resolver's conformance tests, so that both
// tests judge the same resolution.
#[path = "../../safevenv-resolver/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::{Dist, INDEX, linux_cpython, vectors};
use safevenv_index::{IndexClient, IndexClientOptions, IndexSource, IndexUrl, IndexUrls};
use safevenv_resolver::{
    InMemorySource, Manifest, PackageSource, PrereleaseMode, ResolveEnv, ResolveError, resolve,
};
use safevenv_test_index::TestIndex;
use safevenv_test_index::packse::{
    SCENARIOS_FILE, Scenario, revise_for_uv_0_12, scenarios_from_json,
};
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::Requirement;

/// The in-memory test's threshold: agreement on in-scope scenarios must stay at or above it.
const MIN_AGREEMENT: f64 = 0.98;

/// What one resolution gave, in a form two sources can be compared by.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Resolved(BTreeMap<PackageName, Version>),
    NoSolution(String),
    /// Any other failure (reading the index, ...): never expected from either source.
    Failed(String),
}

/// How one scenario's index serves it.
#[derive(Debug, Clone, Copy)]
struct Serving {
    json: bool,
    metadata_files: bool,
}

impl Serving {
    /// The four combinations in turn.
    fn nth(index: usize) -> Self {
        Self {
            metadata_files: index.is_multiple_of(2),
            json: (index / 2).is_multiple_of(2),
        }
    }
}

fn tag_is_compatible(tag: &str, env: &ResolveEnv) -> bool {
    WheelFilename::from_str(&format!("x-1.0-{tag}.whl"))
        .is_ok_and(|wheel| wheel.is_compatible(&env.tags))
}

fn manifest(scenario: &Scenario) -> Manifest {
    Manifest {
        requirements: scenario
            .requires
            .iter()
            .map(|requirement| Requirement::from_str(requirement).expect("valid requirement"))
            .collect(),
        prereleases: if scenario.options.prereleases {
            PrereleaseMode::Allow
        } else {
            PrereleaseMode::IfNecessaryOrExplicit
        },
        ..Manifest::default()
    }
}

fn outcome(source: &dyn PackageSource, scenario: &Scenario, env: &ResolveEnv) -> Outcome {
    match resolve(&manifest(scenario), source, env) {
        Ok(resolution) => Outcome::Resolved(
            resolution
                .distributions
                .iter()
                .map(|dist| (dist.name.clone(), dist.version.clone()))
                .collect(),
        ),
        Err(ResolveError::NoSolution { explanation }) => Outcome::NoSolution(explanation),
        Err(error) => Outcome::Failed(error_chain(&error)),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(&format!("\n  caused by: {error}"));
        cause = error.source();
    }
    text
}

/// `Ok(())` when the outcome is the expected one (the in-memory test's rule), else what differs.
fn judge(scenario: &Scenario, outcome: &Outcome) -> Result<(), String> {
    match (outcome, scenario.expected.satisfiable) {
        (Outcome::Resolved(actual), true) => {
            let expected: BTreeMap<PackageName, Version> = scenario
                .expected
                .packages
                .iter()
                .map(|(name, version)| {
                    (
                        PackageName::from_str(name).expect("valid name"),
                        Version::from_str(version).expect("valid version"),
                    )
                })
                .collect();
            if expected.is_empty() || expected == *actual {
                Ok(())
            } else {
                Err(format!("expected {expected:?}, resolved {actual:?}"))
            }
        }
        (Outcome::NoSolution(text) | Outcome::Failed(text), false) => {
            // The explanation must be prose, never a Debug dump.
            if text.contains("Dist(") || text.contains("Ranges") {
                Err(format!("unreadable explanation: {text}"))
            } else {
                Ok(())
            }
        }
        (Outcome::Resolved(actual), false) => {
            Err(format!("expected no solution, resolved {actual:?}"))
        }
        (Outcome::NoSolution(text) | Outcome::Failed(text), true) => {
            Err(format!("expected a solution, failed: {text}"))
        }
    }
}

fn in_memory(scenario: &Scenario) -> InMemorySource {
    let mut source = InMemorySource::new(INDEX);
    for project in &scenario.projects {
        for distribution in &project.distributions {
            let mut dist = Dist::new(&project.name, &distribution.version);
            dist.requires = distribution.requires_dist();
            dist.requires_python = distribution.requires_python.as_deref();
            dist.provides_extra = distribution.provides_extra();
            dist.wheel_tags = distribution.wheel_tags.iter().map(String::as_str).collect();
            dist.sdist = distribution.sdist;
            dist.yanked = distribution.yanked;
            dist.add_to(&mut source);
        }
    }
    source
}

fn serve(scenario: &Scenario, serving: Serving) -> TestIndex {
    let mut builder = TestIndex::builder()
        .serve_json(serving.json)
        .serve_metadata_files(serving.metadata_files);
    for file in scenario.index_files() {
        builder = builder.file(file);
    }
    builder.start().expect("the scenario's index starts")
}

fn client(index: &TestIndex, runtime: &tokio::runtime::Runtime) -> IndexClient {
    let url = IndexUrl::parse(&index.url()).expect("valid index URL");
    let mut options = IndexClientOptions::new(IndexUrls::single(url));
    // Nothing is expected to fail; if something does, fail fast rather than back off.
    options.http.backoff_base = Duration::from_millis(1);
    options.http.backoff_cap = Duration::from_millis(10);
    // The client's connection pool and timers live on the runtime it is built in.
    let _entered = runtime.enter();
    IndexClient::new(options).expect("client")
}

/// How the index was read, counted over every scenario: proves each path was taken.
#[derive(Debug, Default)]
struct Reads {
    metadata_files: usize,
    ranges: usize,
    html_pages: usize,
    json_pages: usize,
}

impl Reads {
    fn count(&mut self, index: &TestIndex, serving: Serving) {
        for request in index.requests() {
            if request.path.ends_with(".metadata") {
                self.metadata_files += 1;
            } else if request.range.is_some() {
                self.ranges += 1;
            } else if request.path.starts_with("/simple/") {
                if serving.json {
                    self.json_pages += 1;
                } else {
                    self.html_pages += 1;
                }
            }
        }
    }
}

#[test]
fn packse_scenarios_over_http() {
    let started = Instant::now();
    let path = vectors().join(SCENARIOS_FILE);
    let stored = scenarios_from_json(&fs_err::read_to_string(&path).expect("read scenarios"))
        .expect("valid scenarios");
    assert_eq!(stored.len(), 150, "the scenario set changed");
    // Judged by what uv selects since 0.12; agreement with the stored expectations is printed.
    let mut scenarios = stored.clone();
    assert_eq!(
        revise_for_uv_0_12(&mut scenarios).len(),
        7,
        "a revision was not applied"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let (mut agree, mut agree_stored, mut out_of_scope) = (0, 0, 0);
    let mut disagreements = Vec::new();
    let mut divergences = Vec::new();
    let mut reads = Reads::default();
    for (scenario, stored) in scenarios.iter().zip(&stored) {
        let env = linux_cpython(&scenario.python, scenario.glibc_minor());
        if scenario
            .out_of_scope(|tag| tag_is_compatible(tag, &env))
            .is_some()
        {
            out_of_scope += 1;
            continue;
        }
        let serving = Serving::nth(agree + disagreements.len());
        let index = serve(scenario, serving);
        // `resolve` runs on this thread and blocks on the runtime for each fetch.
        let source = IndexSource::new(client(&index, &runtime), runtime.handle().clone());
        let over_http = outcome(&source, scenario, &env);
        reads.count(&index, serving);
        agree_stored += usize::from(judge(stored, &over_http).is_ok());
        match judge(scenario, &over_http) {
            Ok(()) => agree += 1,
            Err(difference) => {
                disagreements.push(format!("{} ({serving:?}): {difference}", scenario.name))
            }
        }
        // The index client must be transparent: the same resolution, or the same explanation.
        let reference = outcome(&in_memory(scenario), scenario, &env);
        if over_http != reference {
            divergences.push(format!(
                "{} ({serving:?}):\n  in memory: {reference:?}\n  over HTTP: {over_http:?}",
                scenario.name
            ));
        }
    }
    let in_scope = agree + disagreements.len();
    for disagreement in &disagreements {
        println!("disagree: {disagreement}");
    }
    for divergence in &divergences {
        println!("differs from the in-memory index: {divergence}");
    }
    println!(
        "packse over HTTP: {agree}/{in_scope} agree, {out_of_scope} out of scope, {} differ from the in-memory index, in {:.1?}",
        divergences.len(),
        started.elapsed()
    );
    println!("index reads: {reads:?}");
    println!("agreement with the stored (pre-0.12) expectations: {agree_stored}/{in_scope}");
    let rate = agree as f64 / in_scope as f64;
    assert!(
        rate >= MIN_AGREEMENT,
        "packse over HTTP agreement {agree}/{in_scope} is below {MIN_AGREEMENT}"
    );
    assert!(
        divergences.is_empty(),
        "{} scenarios resolve differently over HTTP than in memory",
        divergences.len()
    );
    assert!(
        reads.metadata_files > 0
            && reads.ranges > 0
            && reads.html_pages > 0
            && reads.json_pages > 0,
        "not every way of reading the index was used: {reads:?}"
    );
}
