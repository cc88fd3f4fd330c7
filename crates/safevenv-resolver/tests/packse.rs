//! Conformance with packse's resolver scenarios (the ones uv tests itself with).
//!
//! Every scenario of `packse-inspect.generated.json` (read by `safevenv_test_index::packse`) is
//! loaded into an in-memory index and resolved for the scenario's target; the outcome is compared
//! with the expected one. `safevenv-index`'s `packse_over_http` test runs the same scenarios
//! through real wheels on a local index.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;

use common::{linux_cpython, load, vectors};
use safevenv_resolver::{Manifest, PrereleaseMode, ResolveEnv, resolve};
use safevenv_test_index::packse::{
    SCENARIOS_FILE, Scenario, revise_for_uv_0_12, scenarios_from_json,
};
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::Requirement;

/// Agreement on in-scope scenarios must stay at or above this share (achieved: see the report).
const MIN_AGREEMENT: f64 = 0.98;

fn version_of(text: &str) -> Version {
    Version::from_str(text).expect("valid version")
}

/// Whether the target accepts a wheel with this tag (`py3-none-any`).
fn tag_is_compatible(tag: &str, env: &ResolveEnv) -> bool {
    WheelFilename::from_str(&format!("x-1.0-{tag}.whl"))
        .is_ok_and(|wheel| wheel.is_compatible(&env.tags))
}

/// `Ok(())` when the outcome matches the expectation, else what differs.
fn run(scenario: &Scenario, env: &ResolveEnv) -> Result<(), String> {
    let source = load(scenario);
    let manifest = Manifest {
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
    };
    match (
        resolve(&manifest, &source, env),
        scenario.expected.satisfiable,
    ) {
        (Ok(resolution), true) => {
            let expected: BTreeMap<PackageName, Version> = scenario
                .expected
                .packages
                .iter()
                .map(|(name, version)| {
                    (
                        PackageName::from_str(name).expect("valid name"),
                        version_of(version),
                    )
                })
                .collect();
            let actual: BTreeMap<PackageName, Version> = resolution
                .distributions
                .iter()
                .map(|dist| (dist.name.clone(), dist.version.clone()))
                .collect();
            if expected.is_empty() || expected == actual {
                Ok(())
            } else {
                Err(format!("expected {expected:?}, resolved {actual:?}"))
            }
        }
        (Err(error), false) => {
            // The explanation must be prose, never a Debug dump.
            let text = error.to_string();
            if text.contains("Dist(") || text.contains("Ranges") {
                Err(format!("unreadable explanation: {text}"))
            } else {
                Ok(())
            }
        }
        (Ok(resolution), false) => Err(format!(
            "expected no solution, resolved {:?}",
            resolution
                .distributions
                .iter()
                .map(|dist| format!("{}=={}", dist.name, dist.version))
                .collect::<Vec<_>>()
        )),
        (Err(error), true) => Err(format!("expected a solution, failed: {error}")),
    }
}

#[test]
fn packse_scenarios() {
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

    let (mut agree, mut agree_stored, mut out_of_scope_count) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for (scenario, stored) in scenarios.iter().zip(&stored) {
        let env = linux_cpython(&scenario.python, scenario.glibc_minor());
        if let Some(reason) = scenario.out_of_scope(|tag| tag_is_compatible(tag, &env)) {
            out_of_scope_count += 1;
            println!("out of scope: {}: {reason}", scenario.name);
            continue;
        }
        agree_stored += usize::from(run(stored, &env).is_ok());
        match run(scenario, &env) {
            Ok(()) => agree += 1,
            Err(difference) => disagreements.push(format!("{}: {difference}", scenario.name)),
        }
    }
    let in_scope = agree + disagreements.len();
    for disagreement in &disagreements {
        println!("disagree: {disagreement}");
    }
    println!("packse: {agree}/{in_scope} agree, {out_of_scope_count} out of scope");
    println!("agreement with the stored (pre-0.12) expectations: {agree_stored}/{in_scope}");
    let rate = agree as f64 / in_scope as f64;
    assert!(
        rate >= MIN_AGREEMENT,
        "packse agreement {agree}/{in_scope} is below {MIN_AGREEMENT}"
    );
}
