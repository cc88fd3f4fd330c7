//! Facts for policy tests: a set that passes the default preset, changed one fact at a time.
#![allow(dead_code)]

use std::path::PathBuf;
use std::str::FromStr;

use jiff::Timestamp;
use safevenv_policy::{
    Artifact, ArtifactKind, ArtifactUrl, AttestationFacts, ConfiguredIndex, ContentsFacts,
    HashOrigin, HashPin, LicenseFacts, Listing, Origin, PackageFacts, Policy, PolicyApproved,
    PolicyText, Refusals, ResolvedSet, RuleId, Source,
};
use url::Url;
use uv_normalize::PackageName;
use uv_pep440::Version;

pub const INDEX: &str = "https://index.example/simple/";
/// Where the index's page says its files are.
pub const FILES: &str = "https://files.index.example/packages/";

pub fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

pub fn name(text: &str) -> PackageName {
    PackageName::from_str(text).unwrap()
}

pub fn now() -> Timestamp {
    "2025-06-01T00:00:00Z".parse().unwrap()
}

/// A wheel from the default index that every rule of the default preset lets through.
pub fn package(project: &str, version: &str) -> PackageFacts {
    let module = project.replace('-', "_");
    PackageFacts {
        name: name(project),
        version: Some(Version::from_str(version).unwrap()),
        source: Source::Index { url: url(INDEX) },
        artifact: Artifact {
            kind: ArtifactKind::Wheel,
            filename: format!("{module}-{version}-py3-none-any.whl"),
            sha256: Some(HashPin {
                hex: "ab".repeat(32),
                origin: HashOrigin::Index,
            }),
            url: Some(ArtifactUrl {
                url: url(&format!("{FILES}{module}-{version}-py3-none-any.whl")),
                listing: Listing::FromIndexPage,
            }),
        },
        yanked: false,
        upload_time: Some("2024-01-01T00:00:00Z".parse().unwrap()),
        also_on_indexes: Vec::new(),
        license: LicenseFacts {
            expression: Some("MIT".to_string()),
            ..LicenseFacts::default()
        },
        requested_directly: true,
        contents: Some(ContentsFacts {
            files: vec![
                format!("lib/python3.12/site-packages/{module}/__init__.py"),
                format!("lib/python3.12/site-packages/{module}-{version}.dist-info/METADATA"),
            ],
            pth_files: Vec::new(),
            top_level: vec![module.clone()],
            scripts: Vec::new(),
            archive_problems: Vec::new(),
            ..ContentsFacts::default()
        }),
        editable_project: Vec::new(),
        attestation: AttestationFacts::default(),
        vulnerabilities: Vec::new(),
        fixes_known_vulnerability: false,
    }
}

pub fn set(packages: Vec<PackageFacts>) -> ResolvedSet {
    ResolvedSet {
        now: now(),
        python_version: Some((3, 12)),
        indexes: vec![ConfiguredIndex {
            url: url(INDEX),
            default: true,
            origin: Origin::CommandLine,
        }],
        packages,
        installed: Vec::new(),
    }
}

pub fn text(path: &str, toml: &str) -> PolicyText {
    PolicyText {
        path: PathBuf::from(path),
        text: toml.to_string(),
    }
}

/// The project policy `/proj/safevenv.toml` with this text (the default preset when empty).
pub fn policy(toml: &str) -> Policy {
    Policy::from_texts(None, Some(&text("/proj/safevenv.toml", toml))).unwrap()
}

pub fn judge(toml: &str, set: &ResolvedSet) -> Result<PolicyApproved, Refusals> {
    policy(toml).evaluate(set)
}

/// The rules that refused, in report order.
pub fn refused_rules(result: Result<PolicyApproved, Refusals>) -> Vec<RuleId> {
    match result {
        Ok(_) => Vec::new(),
        Err(refusals) => refusals
            .refusals()
            .iter()
            .map(|refusal| refusal.rule)
            .collect(),
    }
}

/// Assert exactly `rule` refused (once or more), and nothing else.
#[track_caller]
pub fn assert_refused(result: Result<PolicyApproved, Refusals>, rule: RuleId) -> Refusals {
    let refusals = match result {
        Ok(_) => panic!("expected a `{rule}` refusal, but the set was approved"),
        Err(refusals) => refusals,
    };
    let rules: Vec<RuleId> = refusals
        .refusals()
        .iter()
        .map(|refusal| refusal.rule)
        .collect();
    assert!(
        rules.iter().all(|other| *other == rule),
        "expected only `{rule}`, got {rules:?}:\n{refusals}"
    );
    refusals
}

#[track_caller]
pub fn assert_approved(result: Result<PolicyApproved, Refusals>) {
    if let Err(refusals) = result {
        panic!("expected approval, got:\n{refusals}");
    }
}
