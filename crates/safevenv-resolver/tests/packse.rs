//! Conformance with packse's resolver scenarios (the ones uv tests itself with).
//!
//! Every scenario of `packse-inspect.generated.json` is loaded into an in-memory index and
//! resolved for the scenario's target; the outcome is compared with the expected one.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;

use common::{Dist, INDEX, linux_cpython, vectors, with_extra};
use safevenv_resolver::{InMemorySource, Manifest, PrereleaseMode, resolve};
use serde_json::Value;
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::Requirement;

/// Agreement on in-scope scenarios must stay at or above this share (achieved: see the report).
const MIN_AGREEMENT: f64 = 0.98;

fn str_list(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Why a scenario cannot be judged for one interpreter with a wheel-only installer, if so.
fn out_of_scope(scenario: &Value, env: &safevenv_resolver::ResolveEnv) -> Option<String> {
    let options = &scenario["resolver_options"];
    if options["universal"].as_bool() == Some(true) {
        return Some("universal (cross-platform) resolution".into());
    }
    if !str_list(&options["no_binary"]).is_empty() {
        return Some("needs `--no-binary`, which a wheel-only installer cannot honour".into());
    }
    // Expected outcomes that rely on building an sdist: a version with an sdist and no wheel the
    // target accepts, that the scenario expects to be installed (or any, when it does not say).
    let expected = &scenario["expected"];
    if expected["satisfiable"].as_bool() != Some(true) {
        return None;
    }
    let expected_packages = expected["packages"].as_array().cloned().unwrap_or_default();
    for package in scenario["packages"].as_array()? {
        let name = package["name"].as_str()?;
        for version in package["versions"].as_array()? {
            let number = version["version"].as_str()?;
            if version["sdist"].as_bool() != Some(true) {
                continue;
            }
            // Requires-Python is not looked at: a wheel it excludes is a resolver matter.
            let has_wheel = version["wheel"].as_bool() == Some(true)
                && wheel_tags(version).iter().any(|tag| {
                    WheelFilename::from_str(&format!("x-1.0-{tag}.whl"))
                        .is_ok_and(|wheel| wheel.is_compatible(&env.tags))
                });
            let expected_here = expected_packages.is_empty()
                || expected_packages.iter().any(|expected| {
                    expected["name"].as_str() == Some(name)
                        && expected["version"].as_str().map(version_of) == Some(version_of(number))
                });
            if !has_wheel && expected_here {
                return Some(format!(
                    "expects {name} {number} built from its sdist (only wheels are installed)"
                ));
            }
        }
    }
    None
}

fn wheel_tags(version: &Value) -> Vec<&str> {
    let tags = str_list(&version["wheel_tags"]);
    if tags.is_empty() {
        vec!["py3-none-any"]
    } else {
        tags
    }
}

fn version_of(text: &str) -> Version {
    Version::from_str(text).expect("valid version")
}

fn load(scenario: &Value) -> InMemorySource {
    let mut source = InMemorySource::new(INDEX);
    for package in scenario["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().expect("name");
        for version in package["versions"].as_array().into_iter().flatten() {
            let extras = version["extras"].as_array().cloned().unwrap_or_default();
            let mut requires: Vec<String> = str_list(&version["requires"])
                .into_iter()
                .map(String::from)
                .collect();
            for extra in &extras {
                let extra_name = extra["name"].as_str().expect("extra name");
                requires.extend(
                    str_list(&extra["requires"])
                        .into_iter()
                        .map(|requirement| with_extra(requirement, extra_name)),
                );
            }
            let mut dist = Dist::new(name, version["version"].as_str().expect("version"));
            dist.requires = requires;
            dist.requires_python = version["requires_python"].as_str();
            dist.provides_extra = extras
                .iter()
                .filter_map(|extra| extra["name"].as_str())
                .collect();
            dist.wheel_tags = if version["wheel"].as_bool() == Some(true) {
                wheel_tags(version)
            } else {
                Vec::new()
            };
            dist.sdist = version["sdist"].as_bool() == Some(true);
            dist.yanked = version["yanked"].as_bool() == Some(true);
            dist.add_to(&mut source);
        }
    }
    source
}

/// `Ok(())` when the outcome matches the expectation, else what differs.
fn run(scenario: &Value, env: &safevenv_resolver::ResolveEnv) -> Result<(), String> {
    let source = load(scenario);
    let manifest = Manifest {
        requirements: scenario["root"]["requires"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|requirement| {
                Requirement::from_str(requirement["requirement"].as_str().expect("requirement"))
                    .expect("valid requirement")
            })
            .collect(),
        prereleases: if scenario["resolver_options"]["prereleases"].as_bool() == Some(true) {
            PrereleaseMode::Allow
        } else {
            PrereleaseMode::IfNecessaryOrExplicit
        },
        ..Manifest::default()
    };
    let expected = &scenario["expected"];
    let satisfiable = expected["satisfiable"].as_bool() == Some(true);
    match (resolve(&manifest, &source, env), satisfiable) {
        (Ok(resolution), true) => {
            let expected: BTreeMap<PackageName, Version> = expected["packages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|package| {
                    (
                        PackageName::from_str(package["name"].as_str().expect("name"))
                            .expect("valid name"),
                        version_of(package["version"].as_str().expect("version")),
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
    let path = vectors().join("packse-scenarios/packse-inspect.generated.json");
    let data: Value = serde_json::from_str(&fs_err::read_to_string(&path).expect("read scenarios"))
        .expect("valid JSON");
    let scenarios = data["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 150, "the scenario set changed");

    let (mut agree, mut out_of_scope_count) = (0, 0);
    let mut disagreements = Vec::new();
    for scenario in scenarios {
        let name = scenario["name"].as_str().expect("name");
        let python = scenario["resolver_options"]["python"]
            .as_str()
            .or_else(|| scenario["environment"]["python"].as_str())
            .expect("python");
        // `x86_64-manylinux2014` is glibc 2.17; the default target is a current Linux.
        let glibc_minor = if scenario["resolver_options"]["python_platform"].as_str()
            == Some("x86_64-manylinux2014")
        {
            17
        } else {
            28
        };
        let env = linux_cpython(python, glibc_minor);
        if let Some(reason) = out_of_scope(scenario, &env) {
            out_of_scope_count += 1;
            println!("out of scope: {name}: {reason}");
            continue;
        }
        match run(scenario, &env) {
            Ok(()) => agree += 1,
            Err(difference) => disagreements.push(format!("{name}: {difference}")),
        }
    }
    let in_scope = agree + disagreements.len();
    for disagreement in &disagreements {
        println!("disagree: {disagreement}");
    }
    println!("packse: {agree}/{in_scope} agree, {out_of_scope_count} out of scope");
    let rate = agree as f64 / in_scope as f64;
    assert!(
        rate >= MIN_AGREEMENT,
        "packse agreement {agree}/{in_scope} is below {MIN_AGREEMENT}"
    );
}
