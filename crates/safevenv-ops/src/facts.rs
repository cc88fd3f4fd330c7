//! The facts the policy gate judges, gathered from the earlier stages (house style 3: the gate
//! itself reads only this data).

use std::path::Path;
use std::str::FromStr;

use jiff::Timestamp;
use safevenv_index::{IndexUrlSource, IndexUrls};
use safevenv_installer::{EnvironmentLayout, InstalledDist};
use safevenv_policy::{
    ArchiveProblem, ArchiveProblemKind, Artifact, ArtifactKind, ArtifactUrl, AttestationFacts,
    ConfiguredIndex, ContentsFacts, HashPin, LicenseFacts, Origin, PackageFacts, Source,
};
use safevenv_wheel::{WheelError, WheelInfo};
use url::Url;

use crate::build::BuiltFrom;
use crate::input::DirectLocation;
use crate::plan::{Wanted, WantedSource};

/// The configured indexes, as the policy names their origins.
pub(crate) fn configured_indexes(indexes: &IndexUrls) -> Vec<ConfiguredIndex> {
    let origin = match &indexes.source {
        IndexUrlSource::CommandLine => Origin::CommandLine,
        IndexUrlSource::SafevenvEnv | IndexUrlSource::PipEnv => Origin::Environment,
        IndexUrlSource::PipConfig(_) | IndexUrlSource::Interpreter => Origin::Configuration,
    };
    let mut configured = vec![ConfiguredIndex {
        url: Url::clone(indexes.index.url()),
        default: true,
        origin,
    }];
    configured.extend(indexes.extra.iter().map(|extra| ConfiguredIndex {
        url: Url::clone(extra.url()),
        default: false,
        origin: Origin::CommandLine,
    }));
    configured
}

/// What the policy knows of one distribution about to be installed, before its wheel is read.
pub(crate) fn package_facts(wanted: &Wanted) -> PackageFacts {
    PackageFacts {
        name: wanted.name.clone(),
        version: Some(wanted.version.clone()),
        source: match (&wanted.source, &wanted.built) {
            // A built wheel is judged by the source it was built from, not by the scratch
            // file it was read from.
            (
                WantedSource::DirectUrl { origin } | WantedSource::Path { origin, .. },
                Some(built),
            ) => built_source(built, origin),
            (source, _) => match source {
                WantedSource::Index(url) => Source::Index { url: url.clone() },
                WantedSource::DirectUrl { origin } => Source::DirectUrl {
                    url: Url::clone(&wanted.url),
                    origin: origin.clone(),
                },
                WantedSource::Path { path, origin } => Source::Path {
                    path: path.clone(),
                    editable: false,
                    origin: origin.clone(),
                },
            },
        },
        artifact: Artifact {
            kind: ArtifactKind::Wheel,
            filename: wanted.filename.clone(),
            sha256: Some(HashPin {
                hex: wanted.sha256.to_string(),
                origin: wanted.hash_origin,
            }),
            url: match (&wanted.source, &wanted.listing) {
                (WantedSource::Index(_), Some(listing)) => Some(ArtifactUrl {
                    url: Url::clone(&wanted.url),
                    listing: listing.clone(),
                }),
                _ => None,
            },
        },
        yanked: wanted.yanked,
        upload_time: wanted
            .upload_time
            .as_deref()
            .and_then(|time| Timestamp::from_str(time).ok()),
        also_on_indexes: wanted.also_on_indexes.clone(),
        license: LicenseFacts::default(),
        requested_directly: wanted.requested,
        contents: None,
        editable_project: editable_project(wanted.built.as_ref()),
        attestation: AttestationFacts::default(),
        vulnerabilities: Vec::new(),
        fixes_known_vulnerability: false,
    }
}

/// The project directory of a wheel the build stage built editable (as named, and canonical
/// when that differs: a backend writes the path it was given or the one it resolved). Nothing
/// for any other wheel: the exemption it grants in `contents.pth-exec` is for the editable
/// install of the user's own tree only.
fn editable_project(built: Option<&BuiltFrom>) -> Vec<std::path::PathBuf> {
    let Some(BuiltFrom::Tree {
        path,
        editable: true,
    }) = built
    else {
        return Vec::new();
    };
    let mut paths = vec![path.clone()];
    if let Ok(canonical) = fs_err::canonicalize(path)
        && canonical != *path
    {
        paths.push(canonical);
    }
    paths
}

fn built_source(built: &BuiltFrom, origin: &Origin) -> Source {
    match built {
        BuiltFrom::Sdist {
            location: DirectLocation::Url(url),
            ..
        } => Source::DirectUrl {
            url: Url::clone(url),
            origin: origin.clone(),
        },
        BuiltFrom::Sdist {
            location: DirectLocation::Path(path),
            ..
        } => Source::Path {
            path: path.clone(),
            editable: false,
            origin: origin.clone(),
        },
        BuiltFrom::Tree { path, editable } => Source::Path {
            path: path.clone(),
            editable: *editable,
            origin: origin.clone(),
        },
    }
}

/// What the wheel reader found: its contents where they land (from the installer's
/// destination model, [`safevenv_installer::Destinations::contents_facts`], which the installer
/// recomputes and compares with the approval), and the license fields of its METADATA.
pub(crate) fn add_wheel_facts(
    facts: &mut PackageFacts,
    wheel: &WheelInfo,
    contents: ContentsFacts,
) {
    facts.license = license_facts(wheel.metadata());
    facts.contents = Some(contents);
}

/// A wheel the reader refused is judged too, so that every refusal of the run is reported
/// together (rule `contents.archive`, which nothing can allow).
pub(crate) fn add_archive_problem(facts: &mut PackageFacts, error: &WheelError) {
    let contents = facts.contents.get_or_insert_with(ContentsFacts::default);
    contents.archive_problems.push(ArchiveProblem {
        kind: archive_problem_kind(error),
        member: None,
        detail: error.to_string(),
    });
}

fn archive_problem_kind(error: &WheelError) -> ArchiveProblemKind {
    match error {
        // A RECORD path is judged by the name rule it breaks, as an entry name would be.
        WheelError::UnsafeRecordPath { rule, .. } => archive_problem_kind(rule),
        WheelError::AbsolutePath { .. } | WheelError::PathTraversal { .. } => {
            ArchiveProblemKind::PathTraversal
        }
        WheelError::Symlink { .. } => ArchiveProblemKind::Symlink,
        WheelError::SpecialFile { .. } => ArchiveProblemKind::Device,
        WheelError::TooManyEntries { .. }
        | WheelError::CentralDirectoryTooLarge { .. }
        | WheelError::TooLarge { .. }
        | WheelError::CompressionRatio { .. }
        | WheelError::TextFileTooLarge { .. } => ArchiveProblemKind::Bomb,
        WheelError::RecordSyntax { .. }
        | WheelError::RecordDuplicate { .. }
        | WheelError::NotInRecord { .. }
        | WheelError::MissingFromArchive { .. }
        | WheelError::MissingHash { .. }
        | WheelError::WeakHashAlgorithm { .. }
        | WheelError::UnknownHashAlgorithm { .. }
        | WheelError::HexDigest { .. }
        | WheelError::MalformedDigest { .. }
        | WheelError::RecordHashMismatch { .. }
        | WheelError::InvalidRecordSize { .. }
        | WheelError::RecordSizeMismatch { .. } => ArchiveProblemKind::RecordMismatch,
        // Other name rules (backslash, colon, control characters, names too long, ...).
        _ => ArchiveProblemKind::Malformed,
    }
}

/// The files and scripts of distributions already installed, for the overwrite and script
/// clash rules.
pub(crate) fn installed_facts(
    layout: &EnvironmentLayout,
    dist: &InstalledDist,
    files: &[std::path::PathBuf],
) -> safevenv_policy::InstalledDistribution {
    let scripts = files
        .iter()
        .filter(|file| file.parent() == Some(layout.scheme.scripts.as_path()))
        .filter_map(|file| file.file_name()?.to_str().map(str::to_string))
        .collect();
    safevenv_policy::InstalledDistribution {
        name: dist.name.clone(),
        files: files
            .iter()
            .map(|file| relative_to_prefix(file, &layout.prefix))
            .collect(),
        scripts,
    }
}

fn relative_to_prefix(path: &Path, prefix: &Path) -> String {
    path.strip_prefix(prefix)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// `License-Expression`, `License` and the `License ::` classifiers of a METADATA text.
///
/// Hand-read rather than with an email parser: only three header names are wanted, from the
/// header block (before the first blank line), with RFC 822 continuation lines folded.
fn license_facts(metadata: &str) -> LicenseFacts {
    let mut facts = LicenseFacts::default();
    let mut current: Option<(String, String)> = None;
    let finish = |field: Option<(String, String)>, facts: &mut LicenseFacts| {
        let Some((key, value)) = field else { return };
        match key.to_ascii_lowercase().as_str() {
            "license-expression" => facts.expression = Some(value.trim().to_string()),
            "license" => facts.license_field = Some(value.trim().to_string()),
            "classifier" if value.trim().starts_with("License ::") => {
                facts.classifiers.push(value.trim().to_string());
            }
            _ => {}
        }
    };
    for line in metadata.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.as_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        finish(current.take(), &mut facts);
        current = line
            .split_once(':')
            .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()));
    }
    finish(current.take(), &mut facts);
    facts
}

#[cfg(test)]
mod pth_gate;

#[cfg(test)]
mod tests {
    use safevenv_policy::ArchiveProblemKind;
    use safevenv_wheel::WheelError;

    use super::{archive_problem_kind, license_facts};

    #[test]
    fn reads_license_fields_from_the_header_block_only() {
        let facts = license_facts(
            "Metadata-Version: 2.4\nName: demo\nLicense-Expression: MIT OR Apache-2.0\n\
             License: Some long\n  text\nClassifier: License :: OSI Approved :: MIT License\n\
             Classifier: Programming Language :: Python\n\nLicense: in the body, ignored\n",
        );
        assert_eq!(facts.expression.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(facts.license_field.as_deref(), Some("Some long\ntext"));
        assert_eq!(
            facts.classifiers,
            ["License :: OSI Approved :: MIT License"]
        );
    }

    #[test]
    fn name_rules_map_to_the_same_archive_fact_for_entries_and_record_paths() {
        let too_long = || WheelError::NameTooLong {
            wheel: "demo-1.0-py3-none-any.whl".to_string(),
            entry: "a".repeat(300),
            what: "a path component",
            length: 300,
            limit: 255,
        };
        let traversal = || WheelError::PathTraversal {
            wheel: "demo-1.0-py3-none-any.whl".to_string(),
            entry: "../evil.py".to_string(),
        };
        let in_record = |rule| WheelError::UnsafeRecordPath {
            wheel: "demo-1.0-py3-none-any.whl".to_string(),
            path: "p".to_string(),
            rule: Box::new(rule),
        };
        for (error, kind) in [
            (too_long(), ArchiveProblemKind::Malformed),
            (in_record(too_long()), ArchiveProblemKind::Malformed),
            (traversal(), ArchiveProblemKind::PathTraversal),
            (in_record(traversal()), ArchiveProblemKind::PathTraversal),
        ] {
            assert_eq!(archive_problem_kind(&error), kind, "{error:?}");
        }
    }

    #[test]
    fn no_license_fields_gives_nothing() {
        let facts = license_facts("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n");
        assert!(facts.expression.is_none() && facts.license_field.is_none());
        assert!(facts.classifiers.is_empty());
    }
}
