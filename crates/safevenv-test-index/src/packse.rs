//! packse's resolver scenarios (the ones uv tests itself with), loaded for conformance tests.
//!
//! A scenario lists projects, their distributions (requirements, extras, `Requires-Python`,
//! wheel tags, sdist, yanked), the root requirements, the target interpreter and the expected
//! outcome. [`Scenario::index_files`] turns one into real artifacts for a [`crate::TestIndex`];
//! the resolver's tests read the same data into an in-memory index.
//!
//! ```
//! use safevenv_test_index::TestIndex;
//! use safevenv_test_index::packse::scenarios_from_json;
//!
//! let scenarios = scenarios_from_json(r#"{"scenarios": [{
//!     "name": "one",
//!     "packages": [{"name": "a", "versions": [{"version": "1.0.0", "wheel": true}]}],
//!     "root": {"requires": [{"requirement": "a"}]},
//!     "expected": {"satisfiable": true, "packages": [{"name": "a", "version": "1.0.0"}]},
//!     "environment": {"python": "3.12"},
//!     "resolver_options": {}
//! }]}"#)?;
//! let mut builder = TestIndex::builder();
//! for file in scenarios[0].index_files() {
//!     builder = builder.file(file);
//! }
//! let index = builder.start()?;
//! assert!(index.url().starts_with("http://127.0.0.1:"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::Value;

use crate::artifact::{SdistSpec, WheelSpec};
use crate::files::IndexFile;

/// The scenario file, relative to the shared vectors directory (`../shared/vectors`).
pub const SCENARIOS_FILE: &str = "packse-scenarios/packse-inspect.generated.json";

/// The tag of a wheel whose scenario gives none.
const DEFAULT_WHEEL_TAG: &str = "py3-none-any";

/// The scenario data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PackseError {
    /// The text is not JSON.
    #[error("the packse scenarios are not valid JSON")]
    Json {
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The document has no `scenarios` list.
    #[error("the packse document has no `scenarios` list")]
    NoScenarios,
    /// A field a scenario needs is missing or has the wrong type.
    #[error("packse scenario `{scenario}` has no valid `{field}`")]
    Field {
        /// The scenario's name (`?` when the name itself is missing).
        scenario: String,
        /// Where the field is, e.g. `packages[].versions[].version`.
        field: &'static str,
    },
}

/// One packse scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The scenario's name, e.g. `backtrack-to-missing-package`.
    pub name: String,
    /// The projects its index holds.
    pub projects: Vec<Project>,
    /// The root requirements (PEP 508).
    pub requires: Vec<String>,
    /// The root project's `requires-python`, which bounds a universal resolution.
    pub requires_python: Option<String>,
    /// What a resolver should find.
    pub expected: Expected,
    /// How the resolver is asked to run.
    pub options: ResolverOptions,
    /// The target interpreter's version: the resolver option `python` when set, else the
    /// environment's (`3.12`, `3.9.21`).
    pub python: String,
}

/// One project of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project name as the scenario writes it.
    pub name: String,
    /// Its distributions, in the scenario's order.
    pub distributions: Vec<Distribution>,
}

/// One distribution of a project, and the artifacts it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    /// The version as written.
    pub version: String,
    /// `Requires-Dist` without the extras' entries.
    pub requires: Vec<String>,
    /// The extras it provides.
    pub extras: Vec<Extra>,
    /// `Requires-Python`, of the metadata and of every artifact on the index.
    pub requires_python: Option<String>,
    /// One wheel per tag; empty when the distribution has no wheel.
    pub wheel_tags: Vec<String>,
    /// Whether it has an sdist.
    pub sdist: bool,
    /// Whether every artifact is yanked (PEP 592).
    pub yanked: bool,
}

/// One extra of a distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    /// The extra's name.
    pub name: String,
    /// What it adds, as written (without the `extra ==` marker).
    pub requires: Vec<String>,
}

/// The outcome a scenario expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Whether a resolution exists.
    pub satisfiable: bool,
    /// The `(project, version)` pairs installed; empty when the scenario does not say.
    pub packages: Vec<(String, String)>,
}

/// The resolver options of a scenario that decide what may be judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverOptions {
    /// `--prerelease allow`.
    pub prereleases: bool,
    /// Resolve for every platform at once.
    pub universal: bool,
    /// Projects (or `:all:`) whose wheels may not be used.
    pub no_binary: Vec<String>,
    /// The target platform when not the default one, e.g. `x86_64-manylinux2014`.
    pub python_platform: Option<String>,
}

impl Distribution {
    /// `Requires-Dist` as the metadata lists it: the distribution's own requirements, then each
    /// extra's with `extra == '<name>'` added to its marker.
    pub fn requires_dist(&self) -> Vec<String> {
        let mut requires = self.requires.clone();
        for extra in &self.extras {
            requires.extend(
                extra
                    .requires
                    .iter()
                    .map(|requirement| with_extra(requirement, &extra.name)),
            );
        }
        requires
    }

    /// `Provides-Extra`.
    pub fn provides_extra(&self) -> Vec<&str> {
        self.extras
            .iter()
            .map(|extra| extra.name.as_str())
            .collect()
    }
}

impl Scenario {
    /// The glibc minor version (2.x) of the target Linux: `x86_64-manylinux2014` is glibc 2.17;
    /// the default target is a current Linux (2.28).
    pub fn glibc_minor(&self) -> u16 {
        if self.options.python_platform.as_deref() == Some("x86_64-manylinux2014") {
            17
        } else {
            28
        }
    }

    /// Why the scenario cannot be judged for one interpreter with a wheel-only installer, if so.
    /// `wheel_tag_is_compatible` says whether the target accepts a wheel tag (`py3-none-any`).
    pub fn out_of_scope(&self, wheel_tag_is_compatible: impl Fn(&str) -> bool) -> Option<String> {
        if self.options.universal {
            // Judged by the resolver's universal conformance test (`packse_universal.rs`).
            return Some("universal (cross-platform) resolution".into());
        }
        if !self.options.no_binary.is_empty() {
            return Some("needs `--no-binary`, which a wheel-only installer cannot honour".into());
        }
        // Expected outcomes that rely on building an sdist: a version with an sdist and no wheel
        // the target accepts, that the scenario expects to be installed (or any, when it does not
        // say).
        if !self.expected.satisfiable {
            return None;
        }
        for project in &self.projects {
            for dist in &project.distributions {
                if !dist.sdist {
                    continue;
                }
                // Requires-Python is not looked at: a wheel it excludes is a resolver matter.
                let has_wheel = dist
                    .wheel_tags
                    .iter()
                    .any(|tag| wheel_tag_is_compatible(tag));
                // The scenario file writes expected versions exactly as it writes the
                // distributions', so comparing the text is comparing the versions.
                let expected_here =
                    self.expected.packages.is_empty()
                        || self.expected.packages.iter().any(|(name, version)| {
                            *name == project.name && *version == dist.version
                        });
                if !has_wheel && expected_here {
                    return Some(format!(
                        "expects {} {} built from its sdist (only wheels are installed)",
                        project.name, dist.version
                    ));
                }
            }
        }
        None
    }

    /// The scenario's artifacts for a [`crate::TestIndex`]: a real wheel per tag and an sdist
    /// when it has one, each carrying the metadata; yanked and `requires-python` are advertised
    /// on the index entries.
    pub fn index_files(&self) -> Vec<IndexFile> {
        let mut files = Vec::new();
        for project in &self.projects {
            for dist in &project.distributions {
                let requires_dist = dist.requires_dist();
                // `requires-python` is advertised from the artifact's own metadata.
                let mark = |file: IndexFile| {
                    if dist.yanked { file.yanked(None) } else { file }
                };
                for tag in &dist.wheel_tags {
                    let mut wheel = WheelSpec::new(&project.name, &dist.version).tag(tag);
                    for requirement in &requires_dist {
                        wheel = wheel.requires_dist(requirement);
                    }
                    for extra in dist.provides_extra() {
                        wheel = wheel.provides_extra(extra);
                    }
                    if let Some(specifiers) = &dist.requires_python {
                        wheel = wheel.requires_python(specifiers);
                    }
                    files.push(mark(IndexFile::from(wheel)));
                }
                if dist.sdist {
                    let mut sdist = SdistSpec::new(&project.name, &dist.version);
                    for requirement in &requires_dist {
                        sdist = sdist.requires_dist(requirement);
                    }
                    if let Some(specifiers) = &dist.requires_python {
                        sdist = sdist.requires_python(specifiers);
                    }
                    files.push(mark(IndexFile::from(sdist)));
                }
            }
        }
        files
    }
}

/// Every scenario of a packse `inspect` document (the content of [`SCENARIOS_FILE`]).
pub fn scenarios_from_json(text: &str) -> Result<Vec<Scenario>, PackseError> {
    let document: Value =
        serde_json::from_str(text).map_err(|source| PackseError::Json { source })?;
    document["scenarios"]
        .as_array()
        .ok_or(PackseError::NoScenarios)?
        .iter()
        .map(scenario)
        .collect()
}

/// `(project letter, version)` pairs of a revised expectation.
type Pins = &'static [(&'static str, &'static str)];

/// Scenarios whose stored expectation uv 0.12 changed, and what uv selects since then.
///
/// uv 0.12 made its default pre-release policy pick the newest stable release that fits, and a
/// pre-release only when no stable release fits the range (pip's rule, plus a stable preference
/// when a requirement names a pre-release); packse's expectations were revised with it. The
/// stored scenario set predates that. Each outcome below was checked by hand with
/// `uv pip compile` 0.13.9 on wheels built from the scenario (see docs/lockfile.md).
/// `None`: no solution; else the version of each project, by its letter in the scenario.
const UV_0_12_PRERELEASE_REVISIONS: &[(&str, Option<Pins>)] = &[
    (
        "package-only-prereleases-in-range",
        Some(&[("a", "1.0.0a1")]),
    ),
    (
        "package-prerelease-specified-mixed-available",
        Some(&[("a", "0.3.0")]),
    ),
    (
        "package-prereleases-specifier-boundary",
        Some(&[("a", "0.1.0")]),
    ),
    (
        "transitive-package-only-prereleases-in-range",
        Some(&[("a", "0.1.0"), ("b", "1.0.0a1")]),
    ),
    (
        "transitive-prerelease-and-stable-dependency",
        Some(&[("a", "1.0.0"), ("b", "1.0.0"), ("c", "2.0.0b1")]),
    ),
    (
        "transitive-prerelease-and-stable-dependency-many-versions",
        Some(&[("a", "1.0.0"), ("b", "1.0.0"), ("c", "2.0.0b9")]),
    ),
    (
        "transitive-prerelease-and-stable-dependency-many-versions-holes",
        Some(&[("a", "1.0.0"), ("b", "1.0.0"), ("c", "2.0.0b4")]),
    ),
];

/// Replaces the expectations that uv 0.12 revised (see [`UV_0_12_PRERELEASE_REVISIONS`]);
/// returns the names of the scenarios revised, so that a test can check all were found.
pub fn revise_for_uv_0_12(scenarios: &mut [Scenario]) -> Vec<String> {
    let mut revised = Vec::new();
    for scenario in scenarios.iter_mut() {
        let Some((_, outcome)) = UV_0_12_PRERELEASE_REVISIONS
            .iter()
            .find(|(name, _)| *name == scenario.name)
        else {
            continue;
        };
        let full_name = |letter: &str| {
            let prefix = format!("{}-{letter}-", scenario.name);
            scenario
                .projects
                .iter()
                .find(|project| project.name.starts_with(&prefix))
                .map(|project| project.name.clone())
        };
        let packages: Option<Vec<(String, String)>> = outcome
            .unwrap_or_default()
            .iter()
            .map(|(letter, version)| full_name(letter).map(|name| (name, version.to_string())))
            .collect();
        // A letter that names no project leaves the scenario unrevised, and the caller's count
        // of revised scenarios short.
        let Some(packages) = packages else { continue };
        scenario.expected = Expected {
            satisfiable: outcome.is_some(),
            packages,
        };
        revised.push(scenario.name.clone());
    }
    revised
}

/// `requirement` that applies only with `extra`: `b>=1; python_version > '3'` becomes
/// `b>=1; (python_version > '3') and extra == 'x'`.
pub fn with_extra(requirement: &str, extra: &str) -> String {
    match requirement.split_once(';') {
        Some((requirement, marker)) => {
            format!("{requirement}; ({}) and extra == '{extra}'", marker.trim())
        }
        None => format!("{requirement}; extra == '{extra}'"),
    }
}

/// Reads a scenario's fields; every missing one is an error naming the scenario and the field.
struct Reader<'a> {
    scenario: &'a str,
}

impl Reader<'_> {
    fn error(&self, field: &'static str) -> PackseError {
        PackseError::Field {
            scenario: self.scenario.to_string(),
            field,
        }
    }

    fn string(&self, value: &Value, field: &'static str) -> Result<String, PackseError> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.error(field))
    }

    /// An absent or `null` field is `None`; any other non-string is an error.
    fn optional_string(
        &self,
        value: &Value,
        field: &'static str,
    ) -> Result<Option<String>, PackseError> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text.clone())),
            _ => Err(self.error(field)),
        }
    }

    /// An absent or `null` field is `false`.
    fn flag(&self, value: &Value, field: &'static str) -> Result<bool, PackseError> {
        match value {
            Value::Null => Ok(false),
            Value::Bool(flag) => Ok(*flag),
            _ => Err(self.error(field)),
        }
    }

    /// An absent or `null` field is empty.
    fn strings(&self, value: &Value, field: &'static str) -> Result<Vec<String>, PackseError> {
        self.array(value, field)?
            .iter()
            .map(|item| self.string(item, field))
            .collect()
    }

    /// An absent or `null` field is empty.
    fn array<'v>(&self, value: &'v Value, field: &'static str) -> Result<&'v [Value], PackseError> {
        match value {
            Value::Null => Ok(&[]),
            Value::Array(items) => Ok(items),
            _ => Err(self.error(field)),
        }
    }
}

fn scenario(value: &Value) -> Result<Scenario, PackseError> {
    let name = value["name"].as_str().ok_or(PackseError::Field {
        scenario: "?".to_string(),
        field: "name",
    })?;
    let reader = Reader { scenario: name };
    let projects = reader
        .array(&value["packages"], "packages")?
        .iter()
        .map(|project| project_of(&reader, project))
        .collect::<Result<_, _>>()?;
    let requires = reader
        .array(&value["root"]["requires"], "root.requires")?
        .iter()
        .map(|requirement| {
            reader.string(&requirement["requirement"], "root.requires[].requirement")
        })
        .collect::<Result<_, _>>()?;
    let requires_python =
        reader.optional_string(&value["root"]["requires_python"], "root.requires_python")?;
    let expected = &value["expected"];
    let expected = Expected {
        satisfiable: reader.flag(&expected["satisfiable"], "expected.satisfiable")?,
        packages: reader
            .array(&expected["packages"], "expected.packages")?
            .iter()
            .map(|package| {
                Ok((
                    reader.string(&package["name"], "expected.packages[].name")?,
                    reader.string(&package["version"], "expected.packages[].version")?,
                ))
            })
            .collect::<Result<_, PackseError>>()?,
    };
    let options = &value["resolver_options"];
    let python = match reader.optional_string(&options["python"], "resolver_options.python")? {
        Some(python) => python,
        None => reader.string(&value["environment"]["python"], "environment.python")?,
    };
    Ok(Scenario {
        name: name.to_string(),
        projects,
        requires,
        requires_python,
        expected,
        options: ResolverOptions {
            prereleases: reader.flag(&options["prereleases"], "resolver_options.prereleases")?,
            universal: reader.flag(&options["universal"], "resolver_options.universal")?,
            no_binary: reader.strings(&options["no_binary"], "resolver_options.no_binary")?,
            python_platform: reader.optional_string(
                &options["python_platform"],
                "resolver_options.python_platform",
            )?,
        },
        python,
    })
}

fn project_of(reader: &Reader<'_>, value: &Value) -> Result<Project, PackseError> {
    let distributions = reader
        .array(&value["versions"], "packages[].versions")?
        .iter()
        .map(|dist| distribution_of(reader, dist))
        .collect::<Result<_, _>>()?;
    Ok(Project {
        name: reader.string(&value["name"], "packages[].name")?,
        distributions,
    })
}

fn distribution_of(reader: &Reader<'_>, value: &Value) -> Result<Distribution, PackseError> {
    let extras = reader
        .array(&value["extras"], "packages[].versions[].extras")?
        .iter()
        .map(|extra| {
            Ok(Extra {
                name: reader.string(&extra["name"], "packages[].versions[].extras[].name")?,
                requires: reader.strings(
                    &extra["requires"],
                    "packages[].versions[].extras[].requires",
                )?,
            })
        })
        .collect::<Result<_, PackseError>>()?;
    let wheel_tags = if reader.flag(&value["wheel"], "packages[].versions[].wheel")? {
        let tags = reader.strings(&value["wheel_tags"], "packages[].versions[].wheel_tags")?;
        if tags.is_empty() {
            vec![DEFAULT_WHEEL_TAG.to_string()]
        } else {
            tags
        }
    } else {
        Vec::new()
    };
    Ok(Distribution {
        version: reader.string(&value["version"], "packages[].versions[].version")?,
        requires: reader.strings(&value["requires"], "packages[].versions[].requires")?,
        extras,
        requires_python: reader.optional_string(
            &value["requires_python"],
            "packages[].versions[].requires_python",
        )?,
        wheel_tags,
        sdist: reader.flag(&value["sdist"], "packages[].versions[].sdist")?,
        yanked: reader.flag(&value["yanked"], "packages[].versions[].yanked")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{"scenarios": [{
        "name": "demo",
        "packages": [{"name": "a", "versions": [
            {"version": "1.0.0", "wheel": true, "sdist": true, "yanked": true,
             "requires_python": ">=3.8", "requires": ["b"],
             "extras": [{"name": "x", "requires": ["c; python_version > '3'"]}]},
            {"version": "2.0.0", "wheel": true, "wheel_tags": ["cp312-cp312-win_amd64", "py3-none-any"]},
            {"version": "3.0.0", "sdist": true}
        ]}],
        "root": {"requires": [{"requirement": "a"}]},
        "expected": {"satisfiable": true, "packages": [{"name": "a", "version": "3.0.0"}]},
        "environment": {"python": "3.12"},
        "resolver_options": {"python": "3.9.21", "python_platform": "x86_64-manylinux2014"}
    }]}"#;

    #[test]
    fn loads_every_field() {
        let scenarios = scenarios_from_json(ONE).unwrap();
        let [scenario] = scenarios.as_slice() else {
            panic!("one scenario expected, got {scenarios:?}")
        };
        assert_eq!(scenario.python, "3.9.21");
        assert_eq!(scenario.glibc_minor(), 17);
        assert_eq!(scenario.requires, ["a"]);
        assert_eq!(
            scenario.expected.packages,
            [("a".to_string(), "3.0.0".to_string())]
        );
        let dists = &scenario.projects[0].distributions;
        assert_eq!(dists[0].wheel_tags, ["py3-none-any"]);
        assert_eq!(
            dists[0].requires_dist(),
            ["b", "c; (python_version > '3') and extra == 'x'"]
        );
        assert_eq!(dists[0].provides_extra(), ["x"]);
        assert!(dists[0].yanked && dists[0].sdist);
        assert_eq!(dists[1].wheel_tags.len(), 2);
        assert!(dists[2].wheel_tags.is_empty() && dists[2].sdist);
        // Three wheels and two sdists.
        assert_eq!(scenario.index_files().len(), 5);
    }

    #[test]
    fn an_expected_sdist_build_is_out_of_scope_unless_a_wheel_fits() {
        let scenario = scenarios_from_json(ONE).unwrap().remove(0);
        assert_eq!(
            scenario.out_of_scope(|_| true).as_deref(),
            Some("expects a 3.0.0 built from its sdist (only wheels are installed)")
        );
        let mut expects_a_wheel = scenario.clone();
        expects_a_wheel.expected.packages = vec![("a".to_string(), "2.0.0".to_string())];
        assert_eq!(expects_a_wheel.out_of_scope(|_| true), None);
        let mut universal = scenario;
        universal.options.universal = true;
        assert!(
            universal
                .out_of_scope(|_| true)
                .unwrap()
                .contains("universal")
        );
    }

    #[test]
    fn a_missing_field_names_the_scenario_and_the_field() {
        let text = r#"{"scenarios": [{"name": "broken", "packages": [{"name": "a",
            "versions": [{"wheel": true}]}], "environment": {"python": "3.12"}}]}"#;
        let error = scenarios_from_json(text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "packse scenario `broken` has no valid `packages[].versions[].version`"
        );
        assert!(matches!(
            scenarios_from_json("[]"),
            Err(PackseError::NoScenarios)
        ));
    }
}
