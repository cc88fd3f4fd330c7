//! One requirement (a line's requirement part, an `-e` value, or a command-line argument), read
//! as pip's `parse_req_from_line` and `parse_editable` read it, into a [`Requirement`] whose
//! source is explicit.

use std::path::PathBuf;
use std::str::FromStr;

use url::Url;
use uv_distribution_filename::WheelFilename;
use uv_normalize::{ExtraName, PackageName};
use uv_pep440::VersionSpecifiers;
use uv_pep508::{MarkerTree, Pep508Error, Pep508Url, VersionOrUrl};
use uv_redacted::DisplaySafeUrl;

use crate::error::{Failure, LineErrorKind};
use crate::{Hash, HashAlgorithm, ParseOptions, Requirement, RequirementSource, VcsKind};
use safevenv_redact::redact_text;

/// The VCS URL schemes pip knows (`vcs.all_schemes`).
const VCS_SCHEMES: &[(&str, VcsKind)] = &[
    ("git+http", VcsKind::Git),
    ("git+https", VcsKind::Git),
    ("git+ssh", VcsKind::Git),
    ("git+git", VcsKind::Git),
    ("git+file", VcsKind::Git),
    ("hg+file", VcsKind::Mercurial),
    ("hg+http", VcsKind::Mercurial),
    ("hg+https", VcsKind::Mercurial),
    ("hg+ssh", VcsKind::Mercurial),
    ("hg+static-http", VcsKind::Mercurial),
    ("svn+ssh", VcsKind::Subversion),
    ("svn+http", VcsKind::Subversion),
    ("svn+https", VcsKind::Subversion),
    ("svn+svn", VcsKind::Subversion),
    ("svn+file", VcsKind::Subversion),
    ("bzr+http", VcsKind::Bazaar),
    ("bzr+https", VcsKind::Bazaar),
    ("bzr+ssh", VcsKind::Bazaar),
    ("bzr+sftp", VcsKind::Bazaar),
    ("bzr+ftp", VcsKind::Bazaar),
    ("bzr+lp", VcsKind::Bazaar),
    ("bzr+file", VcsKind::Bazaar),
];

/// The file name endings pip takes for an artifact (`ARCHIVE_EXTENSIONS`).
const ARCHIVE_EXTENSIONS: &[&str] = &[
    ".zip",
    ".whl",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
    ".tar.gz",
    ".tgz",
    ".tar",
];

/// Parse a requirement: a name with specifiers and markers, `name @ url`, a bare URL, or a
/// local path. Offsets in failures index `text`.
pub(crate) fn parse_requirement(
    text: &str,
    options: &ParseOptions,
) -> Result<Requirement, Failure> {
    // (1) Split off the marker as pip does: after `; ` for a bare URL (whose own `;` may be
    //     part of it), after the first `;` otherwise.
    let is_url = url_scheme(text).is_some_and(is_pip_url_scheme);
    let separator = if is_url { "; " } else { ";" };
    let (body, marker) = match text.find(separator) {
        Some(index) => {
            let marker_start = index + separator.len();
            let marker_text = &text[marker_start..];
            let leading = marker_text.len() - marker_text.trim_start().len();
            let marker = marker_text.trim();
            let marker = if marker.is_empty() {
                MarkerTree::TRUE
            } else {
                let offset = char_offset(text, marker_start + leading);
                MarkerTree::from_str(marker).map_err(|err| pep508_failure(&err, offset, true))?
            };
            (text[..index].trim(), marker)
        }
        None => (text.trim(), MarkerTree::TRUE),
    };

    // (2) A bare URL.
    if is_url {
        let (source, name, extras) = source_from_bare_url(body, false)?;
        return Ok(Requirement {
            name,
            extras,
            marker,
            source,
        });
    }

    // (3) A local directory or artifact, recognised as pip does: a path-like word naming an
    //     existing directory, or an artifact file name (unless `name @ ...`).
    let (path_text, extras_text) = split_extras(body);
    // pip reads `name @ x.whl` (the part before `@` not a path) as PEP 508.
    let is_named_url = body
        .split_once('@')
        .is_some_and(|(before, _)| !looks_like_path(before));
    let is_path = (looks_like_path(body) && resolve(path_text, options).is_dir())
        || (is_archive(path_text) && (resolve(path_text, options).is_file() || !is_named_url));
    if is_path {
        let extras = extras_text
            .map(parse_extras)
            .transpose()?
            .unwrap_or_default();
        return Ok(Requirement {
            name: wheel_name(path_text)?,
            extras,
            marker,
            source: RequirementSource::Path {
                path: PathBuf::from(path_text),
                editable: false,
            },
        });
    }

    // (4) A PEP 508 requirement.
    let requirement = uv_pep508::Requirement::<Url>::from_str(body)
        .map_err(|err| pep508_failure(&err, 0, false))?;
    let source = match requirement.version_or_url {
        None => RequirementSource::Registry {
            specifier: VersionSpecifiers::empty(),
        },
        Some(VersionOrUrl::VersionSpecifier(specifier)) => {
            RequirementSource::Registry { specifier }
        }
        Some(VersionOrUrl::Url(url)) => {
            // uv-pep508 lets a URL run on over spaces; PEP 508 (and pip) end it at the first
            // whitespace and refuse what follows. Refuse too, rather than fetch another URL.
            if let Some((before, after)) = body.split_once('@') {
                let url_text = after.trim_start();
                if let Some(space) = url_text.find(char::is_whitespace) {
                    let index = before.len() + 1 + (after.len() - url_text.len()) + space;
                    return Err(Failure {
                        kind: LineErrorKind::InvalidRequirement {
                            message: "unexpected text after the URL".to_string(),
                        },
                        offset: Some(char_offset(body, index)),
                    });
                }
            }
            source_from_url(url, false)?
        }
    };
    Ok(Requirement {
        name: Some(requirement.name),
        extras: requirement.extras.into_vec(),
        marker: requirement.marker.and(marker),
        source,
    })
}

/// Parse the value of `-e`: an existing local directory (with optional `[extras]`), a `file:`
/// URL, or a VCS URL naming its project with `#egg=`.
pub(crate) fn parse_editable(text: &str, options: &ParseOptions) -> Result<Requirement, Failure> {
    let (path_text, extras_text) = split_extras(text);
    let extras = || {
        extras_text
            .map(parse_extras)
            .transpose()
            .map(Option::unwrap_or_default)
    };
    if resolve(path_text, options).is_dir() {
        return Ok(Requirement {
            name: None,
            extras: extras()?,
            marker: MarkerTree::TRUE,
            source: RequirementSource::Path {
                path: PathBuf::from(path_text),
                editable: true,
            },
        });
    }
    if path_text.to_ascii_lowercase().starts_with("file:") {
        let (path, fragment) = file_url_to_path(path_text)?;
        let (name, _) = egg_fragment(fragment)?.unwrap_or_default();
        return Ok(Requirement {
            name,
            extras: extras()?,
            marker: MarkerTree::TRUE,
            source: RequirementSource::Path {
                path,
                editable: true,
            },
        });
    }
    // pip turns `git://...` into `git+git://...` (and likewise for the other systems).
    let lower = text.to_ascii_lowercase();
    let url_text = match ["git", "hg", "svn", "bzr"]
        .iter()
        .find(|vcs| lower.starts_with(&format!("{vcs}:")))
    {
        Some(vcs) => format!("{vcs}+{text}"),
        None => text.to_string(),
    };
    if url_scheme(&url_text).is_none_or(|scheme| vcs_kind(&scheme).is_none()) {
        return Err(LineErrorKind::InvalidEditable {
            value: redact_text(text).into_owned(),
        }
        .into());
    }
    let (source, name, extras) = source_from_bare_url(&url_text, true)?;
    let Some(name) = name else {
        return Err(LineErrorKind::MissingEggName {
            url: redact_text(text).into_owned(),
        }
        .into());
    };
    Ok(Requirement {
        name: Some(name),
        extras,
        marker: MarkerTree::TRUE,
        source,
    })
}

/// Parse a `--hash` value. Only pip's strong algorithms are accepted: a weaker one would let
/// an attacker who can find a collision substitute the artifact.
pub(crate) fn parse_hash(value: &str) -> Result<Hash, LineErrorKind> {
    let Some((algorithm_text, digest)) = value.split_once(':') else {
        return Err(LineErrorKind::MalformedHash {
            value: value.to_string(),
        });
    };
    let algorithm = match algorithm_text {
        "sha256" => HashAlgorithm::Sha256,
        "sha384" => HashAlgorithm::Sha384,
        "sha512" => HashAlgorithm::Sha512,
        _ => {
            return Err(LineErrorKind::UnsupportedHashAlgorithm {
                algorithm: algorithm_text.to_string(),
            });
        }
    };
    if digest.len() != algorithm.hex_len() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(LineErrorKind::InvalidHashDigest {
            algorithm: algorithm_text.to_string(),
            digest: digest.to_string(),
            expected_len: algorithm.hex_len(),
        });
    }
    Ok(Hash {
        algorithm,
        digest: digest.to_ascii_lowercase(),
    })
}

/// The scheme of `text` (the part before the first `:`), lowercased.
fn url_scheme(text: &str) -> Option<String> {
    text.split_once(':')
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
}

/// pip's `is_url`: the schemes for which a line is taken as a bare URL.
fn is_pip_url_scheme(scheme: String) -> bool {
    matches!(scheme.as_str(), "http" | "https" | "file" | "ftp") || vcs_kind(&scheme).is_some()
}

fn vcs_kind(scheme: &str) -> Option<VcsKind> {
    VCS_SCHEMES
        .iter()
        .find(|(known, _)| *known == scheme)
        .map(|(_, kind)| *kind)
}

/// pip's `_looks_like_path`.
fn looks_like_path(text: &str) -> bool {
    text.contains(std::path::MAIN_SEPARATOR) || text.contains('/') || text.starts_with('.')
}

fn is_archive(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ARCHIVE_EXTENSIONS
        .iter()
        .any(|extension| lower.ends_with(extension))
}

fn resolve(path: &str, options: &ParseOptions) -> PathBuf {
    match &options.working_dir {
        Some(dir) => dir.join(path),
        None => PathBuf::from(path),
    }
}

/// Split `path[extra1,extra2]` as pip's `_strip_extras` does.
fn split_extras(text: &str) -> (&str, Option<&str>) {
    if let Some(inner) = text.strip_suffix(']')
        && let Some(open) = inner.rfind('[')
        && open > 0
        && inner.len() > open + 1
        && !inner[open + 1..].contains(']')
    {
        return (&text[..open], Some(&inner[open + 1..]));
    }
    (text, None)
}

fn parse_extras(extras: &str) -> Result<Vec<ExtraName>, Failure> {
    extras
        .split(',')
        .map(|extra| {
            ExtraName::from_str(extra.trim()).map_err(|_| {
                Failure::from(LineErrorKind::InvalidExtras {
                    extras: extras.to_string(),
                })
            })
        })
        .collect()
}

/// The project name a `.whl` file name tells; `None` for other artifacts.
fn wheel_name(path: &str) -> Result<Option<PackageName>, Failure> {
    let filename = path
        .rsplit(['/', std::path::MAIN_SEPARATOR])
        .next()
        .unwrap_or(path);
    if !filename.to_ascii_lowercase().ends_with(".whl") {
        return Ok(None);
    }
    WheelFilename::from_str(filename)
        .map(|wheel| Some(wheel.name))
        .map_err(|err| {
            LineErrorKind::InvalidWheelFilename {
                filename: filename.to_string(),
                message: err.to_string(),
            }
            .into()
        })
}

/// A project name, when known, and the extras asked for.
type NameAndExtras = (Option<PackageName>, Vec<ExtraName>);

/// The source, name and extras of a bare URL (or an `-e` VCS URL): the name comes from a wheel
/// file name or from `#egg=`.
fn source_from_bare_url(
    text: &str,
    editable: bool,
) -> Result<(RequirementSource, Option<PackageName>, Vec<ExtraName>), Failure> {
    if text.to_ascii_lowercase().starts_with("file:") {
        let (path, fragment) = file_url_to_path(text)?;
        let (name, extras) = match wheel_name(&path.to_string_lossy())? {
            Some(name) => (Some(name), Vec::new()),
            None => egg_fragment(fragment)?.unwrap_or_default(),
        };
        return Ok((RequirementSource::Path { path, editable }, name, extras));
    }
    let url = parse_url(text)?;
    let last_segment = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or("");
    let (name, extras) = if vcs_kind(url.scheme()).is_none()
        && let Some(name) = wheel_name(last_segment)?
    {
        (Some(name), Vec::new())
    } else {
        egg_fragment(url.fragment())?.unwrap_or_default()
    };
    Ok((source_from_url(url, editable)?, name, extras))
}

/// Classify a URL: VCS, local file, or a direct artifact URL.
fn source_from_url(url: Url, editable: bool) -> Result<RequirementSource, Failure> {
    if let Some(vcs) = vcs_kind(url.scheme()) {
        return vcs_source(&url, vcs, editable);
    }
    if url.scheme() == "file" {
        let path = url.to_file_path().map_err(|()| {
            Failure::from(LineErrorKind::InvalidFileUrl {
                url: DisplaySafeUrl::ref_cast(&url).to_string(),
            })
        })?;
        return Ok(RequirementSource::Path { path, editable });
    }
    Ok(RequirementSource::DirectUrl {
        url: DisplaySafeUrl::from(url),
    })
}

/// Split a VCS URL as pip's `get_url_rev_and_auth` does: the revision is after the last `@`
/// of the path (an `@` in the authority is userinfo).
fn vcs_source(url: &Url, vcs: VcsKind, editable: bool) -> Result<RequirementSource, Failure> {
    let scheme = url.scheme();
    let transport = scheme
        .split_once('+')
        .map_or(scheme, |(_, transport)| transport);
    let (path, rev) = match url.path().rsplit_once('@') {
        Some((path, rev)) => (path, Some(rev)),
        None => (url.path(), None),
    };
    if rev == Some("") {
        return Err(LineErrorKind::EmptyVcsRevision {
            url: DisplaySafeUrl::ref_cast(url).to_string(),
        }
        .into());
    }
    let mut repository = parse_url(&format!("{transport}{}", &url.as_str()[scheme.len()..]))?;
    repository.set_path(path);
    repository.set_fragment(None);
    Ok(RequirementSource::Vcs {
        vcs,
        url: DisplaySafeUrl::from(repository),
        rev: rev.map(str::to_string),
        subdirectory: fragment_value(url.fragment(), "subdirectory").map(str::to_string),
        editable,
    })
}

fn parse_url(text: &str) -> Result<Url, Failure> {
    Url::parse(text).map_err(|source| {
        LineErrorKind::InvalidUrl {
            url: redact_text(text).into_owned(),
            source,
        }
        .into()
    })
}

/// The local path of a `file:` URL, and its fragment. A `file:relative/path` (no `//`) is
/// relative, as pip reads it.
fn file_url_to_path(text: &str) -> Result<(PathBuf, Option<&str>), Failure> {
    let (without_fragment, fragment) = match text.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (text, None),
    };
    let rest = &without_fragment["file:".len()..];
    if !rest.starts_with('/') {
        return Ok((PathBuf::from(rest), fragment));
    }
    let url = parse_url(without_fragment)?;
    let path = url.to_file_path().map_err(|()| {
        Failure::from(LineErrorKind::InvalidFileUrl {
            url: redact_text(text).into_owned(),
        })
    })?;
    Ok((path, fragment))
}

/// The value of `key=` in a URL fragment (`egg=name&subdirectory=dir`).
fn fragment_value<'a>(fragment: Option<&'a str>, key: &str) -> Option<&'a str> {
    fragment?
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// The project name (and extras) of an `#egg=name[extras]` fragment.
fn egg_fragment(fragment: Option<&str>) -> Result<Option<NameAndExtras>, Failure> {
    let Some(egg) = fragment_value(fragment, "egg") else {
        return Ok(None);
    };
    let (name, extras) = split_extras(egg);
    let name = PackageName::from_str(name).map_err(|err| {
        Failure::from(LineErrorKind::InvalidEggFragment {
            fragment: egg.to_string(),
            message: err.to_string(),
        })
    })?;
    let extras = extras.map(parse_extras).transpose()?.unwrap_or_default();
    Ok(Some((Some(name), extras)))
}

/// The character offset of byte index `index` in `text`.
fn char_offset(text: &str, index: usize) -> usize {
    text.get(..index).map_or(0, |prefix| prefix.chars().count())
}

/// A PEP 508 parser error, with its offset (uv-pep508 gives a byte index into its input)
/// moved by `offset` characters.
fn pep508_failure<T: Pep508Url>(err: &Pep508Error<T>, offset: usize, marker: bool) -> Failure {
    // The parser may quote its input, URL credentials included.
    let message = redact_text(&err.message.to_string()).into_owned();
    let kind = if marker {
        LineErrorKind::InvalidMarker { message }
    } else {
        LineErrorKind::InvalidRequirement { message }
    };
    Failure {
        kind,
        offset: Some(offset + char_offset(&err.input, err.start)),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_hash, split_extras};
    use crate::error::LineErrorKind;

    #[test]
    fn splits_extras_like_pip() {
        assert_eq!(split_extras("./pkg[a,b]"), ("./pkg", Some("a,b")));
        assert_eq!(split_extras("./pkg"), ("./pkg", None));
        assert_eq!(split_extras("[a]"), ("[a]", None));
        assert_eq!(split_extras("./p[]"), ("./p[]", None));
        assert_eq!(split_extras("./p[a]b]"), ("./p[a]b]", None));
    }

    #[test]
    fn hash_rules() {
        let digest = "AB".repeat(32);
        let hash = parse_hash(&format!("sha256:{digest}")).unwrap();
        assert_eq!(hash.digest, "ab".repeat(32));
        assert!(matches!(
            parse_hash(&digest),
            Err(LineErrorKind::MalformedHash { .. })
        ));
        assert!(matches!(
            parse_hash("md5:d41d8cd98f00b204e9800998ecf8427e"),
            Err(LineErrorKind::UnsupportedHashAlgorithm { algorithm }) if algorithm == "md5"
        ));
        assert!(matches!(
            parse_hash("sha256:abc"),
            Err(LineErrorKind::InvalidHashDigest {
                expected_len: 64,
                ..
            })
        ));
        assert!(matches!(
            parse_hash(&format!("sha512:{}", "g".repeat(128))),
            Err(LineErrorKind::InvalidHashDigest { .. })
        ));
    }
}
