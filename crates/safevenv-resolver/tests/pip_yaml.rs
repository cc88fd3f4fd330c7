//! Conformance with pip's former YAML resolver cases, `huge.yml` included as a speed check.
//!
//! A case is a sequence of `install`/`uninstall` requests on one environment; after each, the
//! installed set must equal the expected `state`, or the install must fail when an `error` is
//! expected. Unlike pip, which resolves only the new requests and warns when that breaks what is
//! installed, safevenv resolves the whole environment: an install requires the new requests and
//! everything installed, preferring the installed versions (pip's `only-if-needed`).
//!
//! pip ran these cases in an environment that already had pip, setuptools and wheel, which it
//! neither reinstalled nor listed: they are given no dependencies and left out of the states.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

use common::{Dist, INDEX, linux_cpython, vectors, with_extra};
use safevenv_resolver::{InMemorySource, Manifest, ResolveEnv, resolve};
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::{Requirement, VerbatimUrl};
use yaml_rust2::{Yaml, YamlLoader};

/// Agreement on in-scope cases must stay at or above this share (achieved: see the report).
const MIN_AGREEMENT: f64 = 0.97;

fn strings(yaml: &Yaml) -> Vec<String> {
    match yaml {
        Yaml::String(text) => vec![text.clone()],
        Yaml::Real(text) => vec![text.clone()],
        Yaml::Integer(number) => vec![number.to_string()],
        Yaml::Array(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// pip's cases borrow conda's `name 1.0.*` for `name==1.0.*`.
fn pep508(requirement: &str) -> String {
    match requirement.split_once(' ') {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => {
            let version = version.trim();
            match version.strip_suffix('*') {
                Some(prefix) if !prefix.ends_with('.') => format!("{name}=={prefix}.*"),
                _ => format!("{name}=={version}"),
            }
        }
        _ => requirement.to_string(),
    }
}

/// `A 1.0.0; depends B == 1.0.0, C == 1.0.0` or the mapping form. Distributions whose version or
/// requirements are not PEP 440/508 (conda's `openssl 1.0.2l` in `huge.yml`) are left off the
/// index, as an index would not serve them.
fn load(available: &Yaml) -> InMemorySource {
    let mut source = InMemorySource::new(INDEX);
    for entry in available.as_vec().into_iter().flatten() {
        let (name, version, requires, extras) = match entry {
            Yaml::String(line) => {
                let (head, depends) = match line.split_once(';') {
                    Some((head, rest)) => (
                        head,
                        rest.trim()
                            .strip_prefix("depends")
                            .unwrap_or(rest)
                            .split(',')
                            .map(|requirement| requirement.trim().to_string())
                            .filter(|requirement| !requirement.is_empty())
                            .collect(),
                    ),
                    None => (line.as_str(), Vec::new()),
                };
                let mut words = head.split_whitespace();
                let name = words.next().expect("name").to_string();
                let version = words.next().expect("version").to_string();
                (name, version, depends, Vec::new())
            }
            mapping => {
                let extras: Vec<(String, Vec<String>)> = mapping["extras"]
                    .as_hash()
                    .into_iter()
                    .flatten()
                    .map(|(extra, requires)| (strings(extra).concat(), strings(requires)))
                    .collect();
                (
                    strings(&mapping["name"]).concat(),
                    strings(&mapping["version"]).concat(),
                    strings(&mapping["depends"]),
                    extras,
                )
            }
        };
        let requires = if PREINSTALLED.contains(&name.as_str()) {
            Vec::new()
        } else {
            requires
        };
        let mut requires_dist: Vec<String> = requires.iter().map(|r| pep508(r)).collect();
        for (extra, requirements) in &extras {
            requires_dist.extend(
                requirements
                    .iter()
                    .map(|requirement| with_extra(&pep508(requirement), extra)),
            );
        }
        if Version::from_str(&version).is_err()
            || requires_dist
                .iter()
                .any(|requirement| Requirement::<VerbatimUrl>::from_str(requirement).is_err())
        {
            continue;
        }
        let mut dist = Dist::new(&name, &version);
        dist.requires = requires_dist;
        dist.provides_extra = extras.iter().map(|(extra, _)| extra.as_str()).collect();
        dist.add_to(&mut source);
    }
    source
}

/// What pip's test environment already held.
const PREINSTALLED: [&str; 3] = ["pip", "setuptools", "wheel"];

type State = BTreeMap<PackageName, Version>;

fn parse_state(yaml: &Yaml) -> State {
    strings(yaml)
        .iter()
        .map(|line| {
            let mut words = line.split_whitespace();
            (
                PackageName::from_str(words.next().expect("name")).expect("valid name"),
                Version::from_str(words.next().expect("version")).expect("valid version"),
            )
        })
        .collect()
}

/// Runs one case; `Ok(None)` when it agrees, `Ok(Some(reason))` when it is out of scope.
fn run_case(
    case: &Yaml,
    base: &InMemorySource,
    env: &ResolveEnv,
) -> Result<Option<String>, String> {
    let local;
    let source = if case["available"].is_badvalue() {
        base
    } else {
        local = load(&case["available"]);
        &local
    };
    let requests = case["request"].as_vec().cloned().unwrap_or_default();
    let responses = case["response"].as_vec().cloned().unwrap_or_default();
    let mut installed = State::new();
    for (step, (request, response)) in requests.iter().zip(&responses).enumerate() {
        if !request["options"].is_badvalue() {
            return Ok(Some(format!(
                "pip option `{}`",
                strings(&request["options"]).concat()
            )));
        }
        let expect_error = !response["error"].is_badvalue();
        if !request["uninstall"].is_badvalue() {
            for name in strings(&request["uninstall"]) {
                installed.remove(&PackageName::from_str(&name).expect("valid name"));
            }
        } else {
            let mut requirements: Vec<Requirement> = strings(&request["install"])
                .iter()
                .map(|requirement| Requirement::from_str(requirement).expect("valid requirement"))
                .collect();
            requirements.extend(installed.keys().map(|name| {
                Requirement::from_str(name.as_str()).expect("a project name is a requirement")
            }));
            let manifest = Manifest {
                requirements,
                preferences: installed.clone(),
                ..Manifest::default()
            };
            match resolve(&manifest, source, env) {
                Ok(resolution) if expect_error => {
                    return Err(format!(
                        "step {step}: expected an error, resolved {} distributions",
                        resolution.distributions.len()
                    ));
                }
                Ok(resolution) => {
                    installed = resolution
                        .distributions
                        .into_iter()
                        .filter(|dist| !PREINSTALLED.contains(&dist.name.as_str()))
                        .map(|dist| (dist.name, dist.version))
                        .collect();
                }
                Err(_) if expect_error => continue,
                // A failed install changes nothing: the state tells whether that was expected.
                Err(error) => {
                    if response["state"].is_null() && installed.is_empty() {
                        continue;
                    }
                    return Err(format!("step {step}: {error}"));
                }
            }
        }
        let expected = parse_state(&response["state"]);
        if expected != installed {
            return Err(format!(
                "step {step}: expected {expected:?}, installed {installed:?}"
            ));
        }
    }
    Ok(None)
}

#[test]
fn pip_yaml_cases() {
    let env = linux_cpython("3.12", 28);
    let directory = vectors().join("pip-yaml-resolver");
    let mut files: Vec<_> = fs_err::read_dir(&directory)
        .expect("read the cases")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "yml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 18, "the case set changed");

    let (mut agree, mut out_of_scope) = (0, 0);
    let mut disagreements = Vec::new();
    for path in &files {
        let text = fs_err::read_to_string(path).expect("read a case file");
        let documents = YamlLoader::load_from_str(&text).expect("valid YAML");
        let document = &documents[0];
        let started = Instant::now();
        let base = load(&document["base"]["available"]);
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("?");
        for (index, case) in document["cases"].as_vec().into_iter().flatten().enumerate() {
            match run_case(case, &base, &env) {
                Ok(None) => agree += 1,
                Ok(Some(reason)) => {
                    out_of_scope += 1;
                    println!("out of scope: {stem}-{index}: {reason}");
                }
                Err(difference) => disagreements.push(format!("{stem}-{index}: {difference}")),
            }
        }
        if stem == "huge" {
            println!("huge.yml: {:?}", started.elapsed());
        }
    }
    let in_scope = agree + disagreements.len();
    for disagreement in &disagreements {
        println!("disagree: {disagreement}");
    }
    println!("pip-yaml: {agree}/{in_scope} agree, {out_of_scope} out of scope");
    let rate = agree as f64 / in_scope as f64;
    assert!(
        rate >= MIN_AGREEMENT,
        "pip-yaml agreement {agree}/{in_scope} is below {MIN_AGREEMENT}"
    );
}
