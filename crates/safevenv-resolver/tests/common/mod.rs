//! Helpers shared by the conformance tests: targets and in-memory indexes.
// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use safevenv_resolver::{DistMetadata, FileEntry, InMemorySource, ResolveEnv, Yanked};
use safevenv_test_index::packse::Scenario;
use uv_normalize::{ExtraName, PackageName};
use uv_pep440::{Version, VersionSpecifiers};
use uv_pep508::{MarkerEnvironment, MarkerEnvironmentBuilder, Requirement};
use uv_platform_tags::{Arch, Os, Platform, Tags, TagsOptions};

pub const INDEX: &str = "https://index.example/simple";

/// `../shared/vectors` from the workspace root.
pub fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

/// A CPython `python` (`3.12`, `3.9.21`) on Linux x86_64 with glibc `glibc_minor` (2.x).
pub fn linux_cpython(python: &str, glibc_minor: u16) -> ResolveEnv {
    let python_version = Version::from_str(python).expect("valid python version");
    let release = python_version.release();
    let (major, minor) = (release[0], release.get(1).copied().unwrap_or(0));
    let short = format!("{major}.{minor}");
    let full = if release.len() >= 3 {
        python.to_string()
    } else {
        format!("{short}.0")
    };
    let markers = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &full,
        os_name: "posix",
        platform_machine: "x86_64",
        platform_python_implementation: "CPython",
        platform_release: "6.1.0",
        platform_system: "Linux",
        platform_version: "#1 SMP",
        python_full_version: &full,
        python_version: &short,
        sys_platform: "linux",
    })
    .expect("valid marker environment");
    let version = (
        u8::try_from(major).expect("small"),
        u8::try_from(minor).expect("small"),
    );
    let tags = Tags::from_env(
        Platform::new(
            Os::Manylinux {
                major: 2,
                minor: glibc_minor,
            },
            Arch::X86_64,
        ),
        version,
        "cpython",
        version,
        TagsOptions {
            manylinux_compatible: true,
            ..TagsOptions::default()
        },
    )
    .expect("valid tags");
    ResolveEnv {
        markers,
        tags,
        python_version: Version::from_str(&full).expect("valid version"),
    }
}

/// One distribution to put on an in-memory index.
#[derive(Clone)]
pub struct Dist<'a> {
    pub name: &'a str,
    pub version: &'a str,
    /// Requires-Dist, extras' entries included.
    pub requires: Vec<String>,
    pub requires_python: Option<&'a str>,
    pub provides_extra: Vec<&'a str>,
    /// Wheel tags (`py3-none-any`); one wheel per tag.
    pub wheel_tags: Vec<&'a str>,
    pub sdist: bool,
    pub yanked: bool,
}

impl<'a> Dist<'a> {
    pub fn new(name: &'a str, version: &'a str) -> Self {
        Self {
            name,
            version,
            requires: Vec::new(),
            requires_python: None,
            provides_extra: Vec::new(),
            wheel_tags: vec!["py3-none-any"],
            sdist: false,
            yanked: false,
        }
    }

    pub fn add_to(&self, source: &mut InMemorySource) {
        let name = PackageName::from_str(self.name).expect("valid name");
        let version = Version::from_str(self.version).expect("valid version");
        let requires_python = self
            .requires_python
            .map(|specifiers| VersionSpecifiers::from_str(specifiers).expect("valid specifiers"));
        let yanked = if self.yanked {
            Yanked::Yes { reason: None }
        } else {
            Yanked::No
        };
        let stem = format!("{}-{}", name.as_dist_info_name(), self.version);
        let mut filenames: Vec<String> = self
            .wheel_tags
            .iter()
            .map(|tag| format!("{stem}-{tag}.whl"))
            .collect();
        if self.sdist {
            filenames.push(format!("{stem}.tar.gz"));
        }
        let files = filenames
            .into_iter()
            .map(|filename| FileEntry {
                url: format!("https://index.example/files/{filename}"),
                filename,
                hashes: BTreeMap::from([("sha256".to_string(), "00".repeat(32))]),
                size: Some(1024),
                upload_time: None,
                requires_python: requires_python.clone(),
                yanked: yanked.clone(),
            })
            .collect();
        let metadata = DistMetadata {
            requires_dist: self
                .requires
                .iter()
                .map(|requirement| Requirement::from_str(requirement).expect("valid requirement"))
                .collect(),
            requires_python,
            provides_extra: self
                .provides_extra
                .iter()
                .map(|extra| ExtraName::from_str(extra).expect("valid extra"))
                .collect(),
        };
        source.add(name, version, metadata, files);
    }
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

/// A packse scenario's projects on an in-memory index.
pub fn load(scenario: &Scenario) -> InMemorySource {
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
