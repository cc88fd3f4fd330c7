//! Requirements as the user gave them (files and command-line specifiers), checked against what
//! this version of safevenv can honour, and turned into the resolver's manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use safevenv_requirements::{
    BinarySelector, Entry, Located, Origin, ParseOptions, RequirementSource, RequirementsError,
    RequirementsTxt, parse_cli_specifiers,
};
use uv_normalize::PackageName;
use uv_pep440::Operator;
use uv_pep508::{Requirement, VersionOrUrl};

use safevenv_index::DisplaySafeUrl;

/// A requirement or option safevenv does not accept.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A requirements file could not be read or parsed.
    #[error(transparent)]
    Requirements(#[from] RequirementsError),
    /// A requirement that is not from the index (a URL, a VCS repository, a local path).
    #[error(
        "{origin}: `{requirement}` is a {kind} requirement; safevenv installs from the index only"
    )]
    UnsupportedSource {
        /// The requirement as written.
        requirement: String,
        /// What kind of source it names.
        kind: &'static str,
        /// Where it was given.
        origin: Origin,
    },
    /// `--find-links`: artifacts from outside the index.
    #[error("{origin}: `--find-links` is not supported; safevenv installs from the index only")]
    FindLinks {
        /// Where it was given.
        origin: Origin,
    },
    /// `--no-index`: nothing left to resolve from.
    #[error("{origin}: `--no-index` leaves no index to resolve from")]
    NoIndex {
        /// Where it was given.
        origin: Origin,
    },
    /// `--no-binary`: would build from source.
    #[error("{origin}: `--no-binary` asks to build from source; safevenv installs wheels only")]
    NoBinary {
        /// Where it was given.
        origin: Origin,
    },
    /// `--trusted-host`: would turn off TLS verification.
    #[error(
        "{origin}: `--trusted-host {host}` would accept that host without TLS verification; safevenv refuses"
    )]
    TrustedHost {
        /// The host.
        host: String,
        /// Where it was given.
        origin: Origin,
    },
    /// In hash-checking mode a requirement is not pinned, or has no hash.
    #[error(
        "{origin}: `{requirement}` must be pinned with `==` and carry a `--hash` (hash-checking mode is on)"
    )]
    NotPinnedWithHash {
        /// The requirement.
        requirement: String,
        /// Where it was given.
        origin: Origin,
    },
    /// A requirement has no name safevenv can resolve.
    #[error("{origin}: the requirement has no project name")]
    Unnamed {
        /// Where it was given.
        origin: Origin,
    },
    /// Nothing to resolve.
    #[error("no requirements given")]
    Empty,
}

/// Every requirement, constraint and option of one run, from all files and specifiers.
#[derive(Debug, Default)]
pub struct Inputs {
    /// What to install.
    pub requirements: Vec<Entry>,
    /// What limits versions.
    pub constraints: Vec<Entry>,
    /// `--index-url` lines in requirements files, with where they were given.
    pub index_urls: Vec<Located<DisplaySafeUrl>>,
    /// `--extra-index-url` lines in requirements files.
    pub extra_index_urls: Vec<Located<DisplaySafeUrl>>,
    /// Where `--pre` was given, if anywhere.
    pub pre: Option<Origin>,
    /// Where `--require-hashes` was given, if anywhere.
    pub require_hashes: Option<Origin>,
}

impl Inputs {
    /// Reads `requirement_files` (`-r`), `constraint_files` (`-c`) and command-line `specifiers`,
    /// refusing what safevenv cannot honour.
    pub fn read(
        requirement_files: &[PathBuf],
        constraint_files: &[PathBuf],
        specifiers: &[String],
        working_dir: &Path,
    ) -> Result<Self, InputError> {
        let options = ParseOptions {
            working_dir: Some(working_dir.to_path_buf()),
            ..ParseOptions::default()
        };
        let mut inputs = Self::default();
        for path in requirement_files {
            let file = RequirementsTxt::parse_file(working_dir.join(path), &options)?;
            inputs
                .requirements
                .extend(file.requirements.iter().cloned());
            inputs.add_options(file)?;
        }
        for path in constraint_files {
            let file = RequirementsTxt::parse_file(working_dir.join(path), &options)?;
            // Requirements of a constraints file constrain too, as in pip.
            inputs.constraints.extend(file.requirements.iter().cloned());
            inputs.add_options(file)?;
        }
        inputs
            .requirements
            .extend(parse_cli_specifiers(specifiers, &options)?);
        if inputs.requirements.is_empty() {
            return Err(InputError::Empty);
        }
        for entry in inputs.requirements.iter().chain(&inputs.constraints) {
            check_source(entry)?;
        }
        if inputs.require_hashes.is_some() {
            for entry in &inputs.requirements {
                if !is_pinned(entry) || entry.hashes.is_empty() {
                    return Err(InputError::NotPinnedWithHash {
                        requirement: display_requirement(entry),
                        origin: entry.origin.clone(),
                    });
                }
            }
        }
        Ok(inputs)
    }

    fn add_options(&mut self, file: RequirementsTxt) -> Result<(), InputError> {
        self.constraints.extend(file.constraints);
        if let Some(origin) = file.no_index {
            return Err(InputError::NoIndex { origin });
        }
        if let Some(link) = file.find_links.into_iter().next() {
            return Err(InputError::FindLinks {
                origin: link.origin,
            });
        }
        // `--no-binary :none:` resets earlier items, so only the last item decides.
        if let Some(last) = file.no_binary.last()
            && !matches!(last.value, BinarySelector::None)
        {
            return Err(InputError::NoBinary {
                origin: last.origin.clone(),
            });
        }
        if let Some(host) = file.trusted_hosts.into_iter().next() {
            return Err(InputError::TrustedHost {
                host: host.value,
                origin: host.origin,
            });
        }
        self.index_urls.extend(file.index_url);
        self.extra_index_urls.extend(file.extra_index_urls);
        self.pre = self.pre.take().or(file.pre);
        self.require_hashes = self.require_hashes.take().or(file.require_hashes);
        Ok(())
    }

    /// The resolver's requirements: those whose marker matches are kept by the resolver itself.
    pub fn requirements(&self) -> Result<Vec<Requirement>, InputError> {
        self.requirements.iter().map(to_pep508).collect()
    }

    /// The resolver's constraints.
    pub fn constraints(&self) -> Result<Vec<Requirement>, InputError> {
        self.constraints.iter().map(to_pep508).collect()
    }

    /// The hashes pinned per project (`--hash`), as `(algorithm, hex digest)` pairs. A project with
    /// pins may only use an artifact whose hash is among them.
    pub fn pinned_hashes(&self) -> BTreeMap<PackageName, BTreeSet<(String, String)>> {
        let mut pins: BTreeMap<PackageName, BTreeSet<(String, String)>> = BTreeMap::new();
        for entry in self.requirements.iter().chain(&self.constraints) {
            let Some(name) = &entry.requirement.name else {
                continue;
            };
            for hash in &entry.hashes {
                pins.entry(name.clone())
                    .or_default()
                    .insert((hash.algorithm.to_string(), hash.digest.to_ascii_lowercase()));
            }
        }
        pins
    }
}

fn check_source(entry: &Entry) -> Result<(), InputError> {
    let kind = match &entry.requirement.source {
        RequirementSource::Registry { .. } => None,
        RequirementSource::DirectUrl { .. } => Some("direct URL"),
        RequirementSource::Vcs { .. } => Some("version control"),
        RequirementSource::Path { .. } => Some("local path"),
    };
    if let Some(kind) = kind {
        return Err(InputError::UnsupportedSource {
            requirement: display_requirement(entry),
            kind,
            origin: entry.origin.clone(),
        });
    }
    if entry.requirement.name.is_none() {
        return Err(InputError::Unnamed {
            origin: entry.origin.clone(),
        });
    }
    Ok(())
}

fn is_pinned(entry: &Entry) -> bool {
    match &entry.requirement.source {
        RequirementSource::Registry { specifier } => {
            specifier.len() == 1
                && specifier
                    .iter()
                    .all(|spec| matches!(spec.operator(), Operator::Equal | Operator::ExactEqual))
        }
        _ => false,
    }
}

fn to_pep508(entry: &Entry) -> Result<Requirement, InputError> {
    let requirement = &entry.requirement;
    let Some(name) = requirement.name.clone() else {
        return Err(InputError::Unnamed {
            origin: entry.origin.clone(),
        });
    };
    let version_or_url = match &requirement.source {
        RequirementSource::Registry { specifier } if specifier.is_empty() => None,
        RequirementSource::Registry { specifier } => {
            Some(VersionOrUrl::VersionSpecifier(specifier.clone()))
        }
        _ => {
            check_source(entry)?;
            None
        }
    };
    Ok(Requirement {
        name,
        extras: requirement.extras.clone().into_boxed_slice(),
        version_or_url,
        marker: requirement.marker,
        origin: None,
    })
}

fn display_requirement(entry: &Entry) -> String {
    let requirement = &entry.requirement;
    let name = requirement
        .name
        .as_ref()
        .map_or_else(String::new, ToString::to_string);
    match &requirement.source {
        RequirementSource::Registry { specifier } => format!("{name}{specifier}"),
        RequirementSource::DirectUrl { url } => format!("{name} @ {url}"),
        RequirementSource::Vcs { url, .. } => format!("{name} @ {url}"),
        RequirementSource::Path { path, .. } => path.display().to_string(),
    }
}
