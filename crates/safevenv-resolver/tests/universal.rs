//! Universal resolution: forks on diverging markers, merged markers, every wheel per version.

mod common;

use std::str::FromStr;

use common::Dist;
use safevenv_resolver::{
    InMemorySource, MACHINES, Manifest, UniversalError, UniversalResolution, forks,
    resolve_universal,
};
use uv_pep440::VersionSpecifiers;
use uv_pep508::{MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree, Requirement};

fn manifest(requirements: &[&str]) -> Manifest {
    Manifest {
        requirements: requirements
            .iter()
            .map(|text| Requirement::from_str(text).expect("valid requirement"))
            .collect(),
        ..Manifest::default()
    }
}

fn universal(
    source: &InMemorySource,
    requirements: &[&str],
    requires_python: &str,
) -> Result<UniversalResolution, UniversalError> {
    let requires_python = VersionSpecifiers::from_str(requires_python).expect("valid specifiers");
    let forks = forks(&requires_python, &[], MACHINES, None)?;
    resolve_universal(&manifest(requirements), source, &forks)
}

fn env(python: &str, sys_platform: &str, machine: &str) -> MarkerEnvironment {
    let full = format!("{python}.4");
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &full,
        os_name: if sys_platform == "win32" {
            "nt"
        } else {
            "posix"
        },
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: match sys_platform {
            "win32" => "Windows",
            "darwin" => "Darwin",
            _ => "Linux",
        },
        platform_version: "",
        python_full_version: &full,
        python_version: python,
        sys_platform,
    })
    .expect("valid environment")
}

/// The versions of `name` whose marker holds in `env`.
fn selected(resolution: &UniversalResolution, name: &str, env: &MarkerEnvironment) -> Vec<String> {
    resolution
        .distributions
        .iter()
        .filter(|dist| dist.name.as_str() == name && dist.marker.evaluate(env, &[]))
        .map(|dist| dist.version.to_string())
        .collect()
}

#[test]
fn a_dependency_forks_on_python_version_into_disjoint_entries() {
    let mut source = InMemorySource::new(common::INDEX);
    Dist {
        requires: vec![
            "numpy<2; python_version < '3.10'".to_string(),
            "numpy>=2; python_version >= '3.10'".to_string(),
        ],
        ..Dist::new("app", "1.0")
    }
    .add_to(&mut source);
    Dist::new("numpy", "1.26").add_to(&mut source);
    Dist {
        requires_python: Some(">=3.10"),
        ..Dist::new("numpy", "2.1")
    }
    .add_to(&mut source);
    let resolution = universal(&source, &["app"], ">=3.9").expect("resolves");
    let numpy: Vec<_> = resolution
        .distributions
        .iter()
        .filter(|dist| dist.name.as_str() == "numpy")
        .collect();
    assert_eq!(numpy.len(), 2, "{numpy:?}");
    assert!(numpy[0].marker.is_disjoint(numpy[1].marker));
    for (python, want) in [("3.9", "1.26"), ("3.10", "2.1"), ("3.13", "2.1")] {
        for (platform, machine) in [("linux", "x86_64"), ("win32", "AMD64")] {
            assert_eq!(
                selected(&resolution, "numpy", &env(python, platform, machine)),
                vec![want.to_string()],
                "{python} {platform}"
            );
        }
    }
    let app = &resolution.distributions[0];
    assert_eq!(app.name.as_str(), "app");
    assert!(app.marker.is_true(), "{:?}", app.marker.try_to_string());
}

#[test]
fn a_platform_only_dependency_is_locked_for_that_platform_only() {
    let mut source = InMemorySource::new(common::INDEX);
    Dist {
        requires: vec!["pywin32; sys_platform == 'win32'".to_string()],
        ..Dist::new("app", "1.0")
    }
    .add_to(&mut source);
    Dist {
        wheel_tags: vec![
            "cp312-cp312-win_amd64",
            "cp313-cp313-win_amd64",
            "cp314-cp314-win_amd64",
        ],
        ..Dist::new("pywin32", "306")
    }
    .add_to(&mut source);
    let resolution = universal(&source, &["app"], ">=3.12").expect("resolves");
    let pywin32 = resolution
        .distributions
        .iter()
        .find(|dist| dist.name.as_str() == "pywin32")
        .expect("pywin32 locked");
    assert_eq!(
        pywin32.marker,
        MarkerTree::from_str("sys_platform == 'win32'").expect("valid marker"),
        "{:?}",
        pywin32.marker.try_to_string()
    );
    assert_eq!(pywin32.wheels.len(), 3);
    assert!(selected(&resolution, "pywin32", &env("3.12", "linux", "x86_64")).is_empty());
}

#[test]
fn every_wheel_that_serves_a_covered_environment_is_kept() {
    let mut source = InMemorySource::new(common::INDEX);
    Dist {
        wheel_tags: vec![
            "cp312-cp312-manylinux_2_17_x86_64",
            "cp312-cp312-manylinux_2_17_aarch64",
            "cp312-cp312-macosx_11_0_arm64",
            "cp312-cp312-win_amd64",
            "cp312-cp312-win_arm64",
            "cp312-cp312-musllinux_1_2_x86_64",
            "cp311-cp311-manylinux_2_17_x86_64",
            "py3-none-any",
        ],
        ..Dist::new("fast", "1.0")
    }
    .add_to(&mut source);
    let resolution = universal(&source, &["fast"], ">=3.12").expect("resolves");
    let wheels: Vec<&str> = resolution.distributions[0]
        .wheels
        .iter()
        .map(|file| file.filename.as_str())
        .collect();
    assert_eq!(
        wheels,
        vec![
            "fast-1.0-cp312-cp312-macosx_11_0_arm64.whl",
            "fast-1.0-cp312-cp312-manylinux_2_17_aarch64.whl",
            "fast-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "fast-1.0-cp312-cp312-win_amd64.whl",
            "fast-1.0-py3-none-any.whl",
        ]
    );
}

#[test]
fn a_version_without_a_wheel_for_some_environment_fails_naming_it() {
    let mut source = InMemorySource::new(common::INDEX);
    Dist {
        wheel_tags: vec!["cp312-cp312-manylinux_2_17_x86_64"],
        ..Dist::new("linuxonly", "1.0")
    }
    .add_to(&mut source);
    let err = universal(&source, &["linuxonly"], "==3.12.*").expect_err("no wheel for macOS");
    let UniversalError::Fork { environment, .. } = &err else {
        panic!("unexpected error {err}");
    };
    assert!(environment.starts_with("CPython 3."), "{environment}");
    assert!(!environment.contains("linux x86_64"), "{environment}");
}

#[test]
fn the_environments_narrow_the_forks() {
    let requires_python = VersionSpecifiers::from_str(">=3.11").expect("valid");
    let linux = MarkerTree::from_str("sys_platform == 'linux'").expect("valid");
    let forks = forks(&requires_python, &[linux], MACHINES, None).expect("forks");
    assert!(!forks.is_empty());
    assert!(
        forks
            .iter()
            .all(|fork| fork.describe().contains(" on linux "))
    );
    let python = forks.iter().map(|fork| fork.python).min().expect("one");
    assert_eq!(python, (3, 11));
}

#[test]
fn forks_agree_on_the_first_forks_versions_where_they_can() {
    let mut source = InMemorySource::new(common::INDEX);
    Dist::new("lib", "1.0").add_to(&mut source);
    Dist {
        requires_python: Some(">=3.13"),
        ..Dist::new("lib", "2.0")
    }
    .add_to(&mut source);
    let resolution = universal(&source, &["lib"], ">=3.11").expect("resolves");
    let versions: Vec<String> = resolution
        .distributions
        .iter()
        .map(|dist| format!("{} {:?}", dist.version, dist.marker.try_to_string()))
        .collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(
        selected(&resolution, "lib", &env("3.12", "darwin", "arm64")),
        vec!["1.0".to_string()]
    );
    assert_eq!(
        selected(&resolution, "lib", &env("3.14", "darwin", "arm64")),
        vec!["2.0".to_string()]
    );
}

/// What a universal resolution says, as text: name, version, marker and wheels of each entry.
fn rendered(resolution: &UniversalResolution) -> Vec<String> {
    resolution
        .distributions
        .iter()
        .map(|dist| {
            let wheels: Vec<&str> = dist.wheels.iter().map(|f| f.filename.as_str()).collect();
            format!(
                "{} {} {:?} {wheels:?}",
                dist.name,
                dist.version,
                dist.marker.try_to_string()
            )
        })
        .collect()
}

#[test]
fn the_same_inputs_give_the_same_universal_resolution() {
    let mut source = InMemorySource::new(common::INDEX);
    Dist {
        requires: vec![
            "lib<2; python_version < '3.12'".to_string(),
            "lib>=2; python_version >= '3.12'".to_string(),
            "winonly; sys_platform == 'win32'".to_string(),
        ],
        ..Dist::new("app", "1.0")
    }
    .add_to(&mut source);
    Dist::new("lib", "1.5").add_to(&mut source);
    Dist::new("lib", "2.0").add_to(&mut source);
    Dist::new("winonly", "1.0").add_to(&mut source);
    let first = universal(&source, &["app"], ">=3.9").expect("resolves");
    for _ in 0..5 {
        let again = universal(&source, &["app"], ">=3.9").expect("resolves");
        assert_eq!(rendered(&first), rendered(&again));
    }
    assert_eq!(rendered(&first).len(), 4, "{:?}", rendered(&first));
}
