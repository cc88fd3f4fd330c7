//! Requirements as the user gave them (files and command-line specifiers), checked against what
//! this version of safevenv can honour, and turned into the resolver's manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use safevenv_requirements::{
    BinarySelector, Entry, Located, Origin, ParseOptions, RequirementSource, RequirementsError,
    RequirementsTxt, parse_cli_specifiers,
};
use std::str::FromStr;

use safevenv_index::DisplaySafeUrl;
use safevenv_policy::{HashOrigin, Origin as PolicyOrigin};
use uv_distribution_filename::WheelFilename;
use uv_normalize::{ExtraName, PackageName};
use uv_pep440::Operator;
use uv_pep508::{MarkerTree, Requirement, VersionOrUrl};

use crate::build::BuiltFrom;

/// A requirement or option safevenv does not accept.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A requirements file could not be read or parsed.
    #[error(transparent)]
    Requirements(#[from] RequirementsError),
    /// A source safevenv cannot use where it was given (a constraint by URL, an `ftp:` URL).
    #[error("{origin}: `{requirement}` is {kind}, which safevenv does not support")]
    UnsupportedSource {
        /// The requirement as written.
        requirement: String,
        /// What kind of source it names, and why it is not supported.
        kind: &'static str,
        /// Where it was given.
        origin: Origin,
    },
    /// Something that needs building where safevenv does not build it: a repository (not
    /// supported yet), or any source among the build dependencies of another build.
    #[error("{origin}: `{requirement}` is {kind}, which safevenv cannot build here")]
    NeedsBuild {
        /// The requirement as written.
        requirement: String,
        /// What kind of source it names.
        kind: &'static str,
        /// Where it was given.
        origin: Origin,
    },
    /// A wheel by URL without a pinned sha256: whatever the server sends would be installed.
    #[error("{origin}: `{requirement}` names a wheel by URL without a pinned sha256")]
    DirectUrlUnpinned {
        /// The requirement as written.
        requirement: String,
        /// Where it was given.
        origin: Origin,
    },
    /// `name @ url` whose wheel is of another project.
    #[error(
        "{origin}: `{requirement}` names `{name}`, but the wheel `{filename}` is of `{wheel_name}`"
    )]
    NameMismatch {
        /// The requirement as written.
        requirement: String,
        /// The name before `@`.
        name: PackageName,
        /// The wheel's file name.
        filename: String,
        /// The project the file name tells.
        wheel_name: PackageName,
        /// Where it was given.
        origin: Origin,
    },
    /// A `.whl` whose file name is not a valid wheel file name (PEP 427).
    #[error(
        "{origin}: `{requirement}` names `{filename}`, which is not a valid wheel file name: {reason}"
    )]
    InvalidWheelFilename {
        /// The requirement as written.
        requirement: String,
        /// The file name.
        filename: String,
        /// What is wrong with it.
        reason: String,
        /// Where it was given.
        origin: Origin,
    },
    /// The same project named by two different wheels (URLs, paths or hashes).
    #[error(
        "{origin}: `{requirement}` names another wheel for `{name}` than an earlier requirement"
    )]
    ConflictingDirect {
        /// The requirement as written.
        requirement: String,
        /// The project.
        name: PackageName,
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
    /// The project (`pyproject.toml`) read when no requirements were given cannot be used.
    #[error(transparent)]
    Project(#[from] safevenv_project::ProjectError),
    /// The interpreter is outside the project's `requires-python`.
    #[error("`{}` requires Python `{requires_python}`, and the interpreter is Python {python}", path.display())]
    RequiresPython {
        /// The `pyproject.toml`.
        path: PathBuf,
        /// Its `project.requires-python`.
        requires_python: uv_pep440::VersionSpecifiers,
        /// The interpreter's version.
        python: uv_pep440::Version,
    },
    /// Nothing to resolve.
    #[error("no requirements given")]
    Empty,
}

/// Every requirement, constraint and option of one run, from all files and specifiers.
#[derive(Debug, Default)]
pub struct Inputs {
    /// What to install from the index.
    pub requirements: Vec<Entry>,
    /// What to install from one named wheel (a direct URL or a local file).
    pub(crate) direct: Vec<DirectRequest>,
    /// What to build first: sdists and local source trees (see `crate::build`).
    pub(crate) builds: Vec<BuildRequest>,
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
    /// Reads `requirement_files` (`-r`), `constraint_files` (`-c`), command-line `specifiers`
    /// and `editables` (`-e PATH`), refusing what safevenv cannot honour.
    pub fn read(
        requirement_files: &[PathBuf],
        constraint_files: &[PathBuf],
        specifiers: &[String],
        editables: &[PathBuf],
        working_dir: &Path,
    ) -> Result<Self, InputError> {
        Self::read_with(
            requirement_files,
            constraint_files,
            specifiers,
            editables,
            working_dir,
            None,
        )
    }

    /// As [`Inputs::read`], with `project`: the requirements read from a project's
    /// `pyproject.toml` (see `crate::project`) when no other requirements were given. A project
    /// that declares no dependencies is a valid input that locks nothing.
    pub(crate) fn read_with(
        requirement_files: &[PathBuf],
        constraint_files: &[PathBuf],
        specifiers: &[String],
        editables: &[PathBuf],
        working_dir: &Path,
        project: Option<Vec<Entry>>,
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
        for (index, path) in editables.iter().enumerate() {
            inputs.requirements.push(Entry {
                requirement: safevenv_requirements::Requirement {
                    name: None,
                    extras: Vec::new(),
                    marker: MarkerTree::TRUE,
                    source: RequirementSource::Path {
                        path: path.clone(),
                        editable: true,
                    },
                },
                hashes: Vec::new(),
                origin: Origin::CommandLine {
                    argument: specifiers.len() + index + 1,
                },
            });
        }
        let from_project = project.is_some();
        inputs.requirements.extend(project.unwrap_or_default());
        if inputs.requirements.is_empty() && !from_project {
            return Err(InputError::Empty);
        }
        for entry in &inputs.constraints {
            check_constraint(entry)?;
        }
        let mut index = Vec::with_capacity(inputs.requirements.len());
        for entry in std::mem::take(&mut inputs.requirements) {
            match direct_request(&entry, working_dir)? {
                Requested::Direct(request) => inputs.add_direct(request, &entry)?,
                Requested::Build(request) => inputs.builds.push(request),
                Requested::Index => index.push(entry),
            }
        }
        inputs.requirements = index;
        if inputs.require_hashes.is_some() {
            // A direct wheel is pinned by its sha256 (required above) or is the user's own file.
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

    /// Adds a direct wheel, once per project: the same wheel named twice is one requirement, two
    /// different wheels for one project are refused.
    fn add_direct(&mut self, request: DirectRequest, entry: &Entry) -> Result<(), InputError> {
        if let Some(earlier) = self
            .direct
            .iter_mut()
            .find(|earlier| earlier.name == request.name)
        {
            if earlier.location != request.location
                || (earlier.sha256.is_some()
                    && request.sha256.is_some()
                    && earlier.sha256 != request.sha256)
            {
                return Err(InputError::ConflictingDirect {
                    requirement: display_requirement(entry),
                    name: request.name,
                    origin: entry.origin.clone(),
                });
            }
            if earlier.sha256.is_none() {
                earlier.sha256 = request.sha256;
            }
            earlier.extras.extend(request.extras);
            return Ok(());
        }
        self.direct.push(request);
        Ok(())
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

/// Constraints limit the versions taken from the index; a constraint by URL or path would be a
/// second way to name a source, so it is refused.
fn check_constraint(entry: &Entry) -> Result<(), InputError> {
    if !matches!(entry.requirement.source, RequirementSource::Registry { .. }) {
        return Err(InputError::UnsupportedSource {
            requirement: display_requirement(entry),
            kind: "a constraint by URL or path (constraints may only limit index versions)",
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

/// Where a direct wheel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirectLocation {
    /// An `https:` or `http:` URL, without its fragment.
    Url(DisplaySafeUrl),
    /// A local file, absolute.
    Path(PathBuf),
}

/// What a requirement asks for.
enum Requested {
    /// A project from the index.
    Index,
    /// One wheel.
    Direct(DirectRequest),
    /// One sdist or source tree, to be built.
    Build(BuildRequest),
}

/// What is built.
#[derive(Debug, Clone)]
pub(crate) enum BuildSource {
    /// An sdist by URL (pinned) or local path.
    Sdist {
        location: DirectLocation,
        filename: String,
        sha256: Option<String>,
    },
    /// A local source tree, absolute.
    Tree { path: PathBuf, editable: bool },
}

/// A requirement naming an sdist or a source tree.
#[derive(Debug, Clone)]
pub(crate) struct BuildRequest {
    /// The name before `@`, if given (a tree's name is known once built).
    pub(crate) name: Option<PackageName>,
    pub(crate) extras: Vec<ExtraName>,
    pub(crate) marker: MarkerTree,
    pub(crate) source: BuildSource,
    pub(crate) hash_origin: HashOrigin,
    pub(crate) origin: PolicyOrigin,
}

/// A requirement naming one wheel, by URL or by local path.
#[derive(Debug, Clone)]
pub(crate) struct DirectRequest {
    pub(crate) name: PackageName,
    pub(crate) extras: Vec<ExtraName>,
    pub(crate) marker: MarkerTree,
    pub(crate) location: DirectLocation,
    pub(crate) filename: String,
    pub(crate) wheel: WheelFilename,
    /// The pinned digest: the URL's `#sha256=` or the line's `--hash=sha256:`; `None` for a local
    /// file, which is hashed as it is read (the user's own file is its own pin).
    pub(crate) sha256: Option<String>,
    /// Where the pin came from.
    pub(crate) hash_origin: HashOrigin,
    /// Where the requirement was named.
    pub(crate) origin: PolicyOrigin,
    /// For a wheel safevenv built: what it was built from.
    pub(crate) built: Option<BuiltFrom>,
}

/// The direct wheel `entry` names, `None` for an index requirement, or why it is refused.
fn direct_request(entry: &Entry, working_dir: &Path) -> Result<Requested, InputError> {
    let requirement = &entry.requirement;
    let needs_build = |kind| InputError::NeedsBuild {
        requirement: display_requirement(entry),
        kind,
        origin: entry.origin.clone(),
    };
    let (location, filename, fragment) = match &requirement.source {
        RequirementSource::Registry { .. } => {
            if requirement.name.is_none() {
                return Err(InputError::Unnamed {
                    origin: entry.origin.clone(),
                });
            }
            return Ok(Requested::Index);
        }
        RequirementSource::Vcs { .. } => {
            return Err(needs_build(
                "a version control repository (not supported yet; build it into a wheel or an sdist first)",
            ));
        }
        RequirementSource::Path { path, editable, .. } => {
            let path = std::path::absolute(working_dir.join(path))
                .unwrap_or_else(|_| working_dir.join(path));
            if path.is_dir() {
                return Ok(Requested::Build(BuildRequest {
                    name: requirement.name.clone(),
                    extras: requirement.extras.clone(),
                    marker: requirement.marker,
                    source: BuildSource::Tree {
                        path: normalize(&path),
                        editable: *editable,
                    },
                    hash_origin: HashOrigin::Input,
                    origin: policy_origin(&entry.origin),
                }));
            }
            if *editable {
                return Err(InputError::UnsupportedSource {
                    requirement: display_requirement(entry),
                    kind: "an editable requirement that is not a directory",
                    origin: entry.origin.clone(),
                });
            }
            let filename = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            (DirectLocation::Path(path), filename, None)
        }
        RequirementSource::DirectUrl { url } => {
            if !matches!(url.scheme(), "https" | "http") {
                return Err(InputError::UnsupportedSource {
                    requirement: display_requirement(entry),
                    kind: "a URL of another scheme than `https:` or `http:`",
                    origin: entry.origin.clone(),
                });
            }
            let fragment = url.fragment().map(str::to_string);
            let mut plain = url.clone();
            plain.set_fragment(None);
            let filename = plain
                .path_segments()
                .and_then(|mut segments| segments.next_back())
                .map(|segment| {
                    percent_encoding::percent_decode_str(segment)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .unwrap_or_default();
            (DirectLocation::Url(plain), filename, fragment)
        }
    };
    let fragment_pin = fragment.as_deref().and_then(|fragment| {
        fragment
            .split('&')
            .find_map(|pair| pair.strip_prefix("sha256="))
            .map(str::to_ascii_lowercase)
    });
    let hash_pin = entry
        .hashes
        .iter()
        .find(|hash| hash.algorithm.to_string() == "sha256")
        .map(|hash| hash.digest.to_ascii_lowercase());
    let sha256 = fragment_pin.or(hash_pin);
    // Security: a download without a pinned digest installs (or builds) whatever the server
    // (or anyone on the way to it) sends; the policy's `artifacts.hashes` refuses it too, so
    // refuse early with the fix. A local file is the user's own and is hashed as it is read.
    if matches!(location, DirectLocation::Url(_)) && sha256.is_none() {
        return Err(InputError::DirectUrlUnpinned {
            requirement: display_requirement(entry),
            origin: entry.origin.clone(),
        });
    }
    if !filename.to_ascii_lowercase().ends_with(".whl") {
        if !filename.ends_with(".tar.gz") {
            return Err(InputError::UnsupportedSource {
                requirement: display_requirement(entry),
                kind: "an artifact that is neither a wheel nor a `.tar.gz` sdist",
                origin: entry.origin.clone(),
            });
        }
        return Ok(Requested::Build(BuildRequest {
            name: requirement.name.clone(),
            extras: requirement.extras.clone(),
            marker: requirement.marker,
            source: BuildSource::Sdist {
                location,
                filename,
                sha256,
            },
            hash_origin: HashOrigin::Input,
            origin: policy_origin(&entry.origin),
        }));
    }
    // The requirements parser checked the wheel file name already when it took the name from
    // it; a `name @ url` line is checked here.
    let wheel =
        WheelFilename::from_str(&filename).map_err(|err| InputError::InvalidWheelFilename {
            requirement: display_requirement(entry),
            filename: filename.clone(),
            reason: err.to_string(),
            origin: entry.origin.clone(),
        })?;
    let name = requirement
        .name
        .clone()
        .unwrap_or_else(|| wheel.name.clone());
    // `foo @ https://.../bar-1.0-py3-none-any.whl` would install `bar` under the name `foo`
    // was allowed for.
    if wheel.name != name {
        return Err(InputError::NameMismatch {
            requirement: display_requirement(entry),
            name,
            filename,
            wheel_name: wheel.name.clone(),
            origin: entry.origin.clone(),
        });
    }
    Ok(Requested::Direct(DirectRequest {
        name,
        extras: requirement.extras.clone(),
        marker: requirement.marker,
        location,
        filename,
        wheel,
        sha256,
        hash_origin: HashOrigin::Input,
        origin: policy_origin(&entry.origin),
        built: None,
    }))
}

/// `a/./b/../c` as `a/c`, without touching the file system (the path may be a link the user
/// meant).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Where a requirement was given, as the policy names it.
fn policy_origin(origin: &Origin) -> PolicyOrigin {
    match origin {
        Origin::File { path, line } => PolicyOrigin::RequirementsFile {
            path: path.clone(),
            line: *line,
        },
        Origin::CommandLine { .. } => PolicyOrigin::CommandLine,
    }
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
            return Err(InputError::UnsupportedSource {
                requirement: display_requirement(entry),
                kind: "a requirement by URL or path",
                origin: entry.origin.clone(),
            });
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
        RequirementSource::Vcs { vcs, url, rev, .. } => match rev {
            Some(rev) => format!("{name} @ {vcs}+{url}@{rev}"),
            None => format!("{name} @ {vcs}+{url}"),
        },
        RequirementSource::Path { path, .. } => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{BuildSource, DirectLocation, InputError, Inputs};

    const HEX: &str = "ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01";

    fn read(specifiers: &[&str], dir: &Path) -> Result<Inputs, InputError> {
        let specifiers: Vec<String> = specifiers.iter().map(ToString::to_string).collect();
        Inputs::read(&[], &[], &specifiers, &[], dir)
    }

    #[test]
    fn a_wheel_url_pinned_by_its_fragment_is_kept_as_a_direct_source() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("https://files.example/app/app-1.0-py3-none-any.whl#sha256={HEX}");
        let inputs = read(&[&format!("app @ {url}"), "lib>=1"], dir.path()).unwrap();
        assert_eq!(inputs.requirements.len(), 1, "only `lib` goes to the index");
        let direct = &inputs.direct[0];
        assert_eq!(direct.name.as_str(), "app");
        assert_eq!(direct.sha256.as_deref(), Some(HEX));
        let DirectLocation::Url(url) = &direct.location else {
            panic!("{:?}", direct.location);
        };
        assert_eq!(url.fragment(), None, "the pin is not part of the URL");
    }

    #[test]
    fn a_wheel_url_pinned_by_a_hash_option_in_a_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("requirements.txt"),
            format!("app @ https://files.example/app-1.0-py3-none-any.whl --hash=sha256:{HEX}\n"),
        )
        .unwrap();
        let inputs = Inputs::read(
            &[Path::new("requirements.txt").to_path_buf()],
            &[],
            &[],
            &[],
            dir.path(),
        )
        .unwrap();
        assert_eq!(inputs.direct[0].sha256.as_deref(), Some(HEX));
        assert!(matches!(
            inputs.direct[0].origin,
            safevenv_policy::Origin::RequirementsFile { line: 1, .. }
        ));
    }

    #[test]
    fn a_wheel_url_without_a_pin_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(
            &["app @ https://files.example/app-1.0-py3-none-any.whl"],
            dir.path(),
        )
        .unwrap_err();
        assert!(matches!(err, InputError::DirectUrlUnpinned { .. }), "{err}");
    }

    #[test]
    fn a_repository_is_refused_as_not_buildable_yet() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(
            &["app @ git+https://git.example/org/app@0123456789012345678901234567890123456789"],
            dir.path(),
        )
        .unwrap_err();
        assert!(matches!(err, InputError::NeedsBuild { .. }), "{err}");
    }

    #[test]
    fn sdists_and_trees_are_kept_for_the_build_stage() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("src")).unwrap();
        let url = format!("app @ https://files.example/app-1.0.tar.gz#sha256={HEX}");
        let specifiers: Vec<String> = [url.as_str(), "./src", "./dist/app-1.0.tar.gz"]
            .iter()
            .map(ToString::to_string)
            .collect();
        let inputs = Inputs::read(
            &[],
            &[],
            &specifiers,
            &[Path::new("src").to_path_buf()],
            dir.path(),
        )
        .unwrap();
        assert_eq!(inputs.builds.len(), 4);
        assert!(inputs.direct.is_empty() && inputs.requirements.is_empty());
        let editable: Vec<bool> = inputs
            .builds
            .iter()
            .filter_map(|build| match &build.source {
                BuildSource::Tree { path, editable } => {
                    assert_eq!(path, &dir.path().join("src"));
                    Some(*editable)
                }
                BuildSource::Sdist { .. } => None,
            })
            .collect();
        assert_eq!(editable, vec![false, true], "`-e` comes last");
    }

    #[test]
    fn an_sdist_url_without_a_pin_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(&["app @ https://files.example/app-1.0.tar.gz"], dir.path()).unwrap_err();
        assert!(matches!(err, InputError::DirectUrlUnpinned { .. }), "{err}");
    }

    #[test]
    fn a_name_that_is_not_the_wheels_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("https://files.example/evil-1.0-py3-none-any.whl#sha256={HEX}");
        let err = read(&[&format!("app @ {url}")], dir.path()).unwrap_err();
        assert!(matches!(err, InputError::NameMismatch { .. }), "{err}");
    }

    #[test]
    fn two_different_wheels_for_one_project_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = format!("app @ https://a.example/app-1.0-py3-none-any.whl#sha256={HEX}");
        let second = format!("app @ https://b.example/app-1.0-py3-none-any.whl#sha256={HEX}");
        let err = read(&[&first, &second], dir.path()).unwrap_err();
        assert!(matches!(err, InputError::ConflictingDirect { .. }), "{err}");
        assert!(read(&[&first, &first], dir.path()).is_ok());
    }

    #[test]
    fn a_local_wheel_needs_no_pin() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = read(&["./dist/app-1.0-py3-none-any.whl"], dir.path()).unwrap();
        assert_eq!(inputs.direct[0].sha256, None);
        assert_eq!(
            inputs.direct[0].location,
            DirectLocation::Path(dir.path().join("./dist/app-1.0-py3-none-any.whl"))
        );
    }
}
