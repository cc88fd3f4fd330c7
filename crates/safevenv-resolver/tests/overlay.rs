//! [`OverlaySource`]: a pinned project has exactly its one artifact, never the index's versions.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;

use common::{Dist, INDEX, linux_cpython};
use safevenv_resolver::{
    DistMetadata, FileEntry, InMemorySource, Manifest, OverlaySource, ResolveError, Yanked, resolve,
};
use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pep508::Requirement;

const DIRECT: &str = "https://files.example/app/app-1.0-py3-none-any.whl";

fn index() -> InMemorySource {
    let mut source = InMemorySource::new(INDEX);
    // The index has a higher `app` (a look-alike upload) and the dependency.
    Dist::new("app", "9.0").add_to(&mut source);
    Dist::new("dep", "2.0").add_to(&mut source);
    source
}

fn overlay() -> OverlaySource<InMemorySource> {
    let mut overlay = OverlaySource::new(index());
    overlay.pin(
        PackageName::from_str("app").unwrap(),
        Version::from_str("1.0").unwrap(),
        DistMetadata {
            requires_dist: vec![Requirement::from_str("dep>=1").unwrap()],
            requires_python: None,
            provides_extra: Vec::new(),
        },
        FileEntry {
            filename: "app-1.0-py3-none-any.whl".to_string(),
            url: DIRECT.to_string(),
            hashes: BTreeMap::from([("sha256".to_string(), "ab".repeat(32))]),
            size: None,
            upload_time: None,
            requires_python: None,
            yanked: Yanked::No,
        },
    );
    overlay
}

fn manifest(requirements: &[&str]) -> Manifest {
    Manifest {
        requirements: requirements
            .iter()
            .map(|text| Requirement::from_str(text).unwrap())
            .collect(),
        ..Manifest::default()
    }
}

#[test]
fn a_pinned_project_resolves_to_its_one_artifact_and_its_dependencies_to_the_index() {
    let resolution = resolve(
        &manifest(&["app==1.0"]),
        &overlay(),
        &linux_cpython("3.11", 28),
    )
    .unwrap();
    let app = &resolution.distributions[0];
    assert_eq!(
        (app.name.as_str(), app.version.to_string()),
        ("app", "1.0".to_string())
    );
    assert_eq!(app.file.url, DIRECT);
    let dep = &resolution.distributions[1];
    assert_eq!(
        (dep.name.as_str(), dep.version.to_string()),
        ("dep", "2.0".to_string())
    );
}

#[test]
fn the_index_versions_of_a_pinned_name_are_never_candidates() {
    // Without the overlay, `app>=2` takes the index's 9.0; with it, there is no such version.
    let result = resolve(
        &manifest(&["app>=2"]),
        &overlay(),
        &linux_cpython("3.11", 28),
    );
    assert!(
        matches!(result, Err(ResolveError::NoSolution { .. })),
        "{result:?}"
    );
    let plain = resolve(&manifest(&["app>=2"]), &index(), &linux_cpython("3.11", 28)).unwrap();
    assert_eq!(plain.distributions[0].version.to_string(), "9.0");
}
