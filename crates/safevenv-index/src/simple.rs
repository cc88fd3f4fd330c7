//! Project pages of the simple repository API: PEP 691 JSON and PEP 503 HTML, parsed to the same
//! [`ProjectPage`].

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Deserialize;
use tracing::debug;
use url::Url;
use uv_distribution_filename::DistFilename;
use uv_normalize::PackageName;
use uv_pep440::{Version, VersionSpecifiers, VersionSpecifiersParseError};
use uv_redacted::DisplaySafeUrl;

use crate::error::IndexError;
use crate::index_url::IndexUrl;

/// The PEP 691 JSON media type, and what we accept: JSON first, then the HTML forms (PEP 691
/// content negotiation).
pub(crate) const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// One project's page on one index.
#[derive(Debug, Clone)]
pub struct ProjectPage {
    /// The project's normalized name.
    pub name: PackageName,
    /// The index the page came from.
    pub index: IndexUrl,
    /// The page URL (after redirects).
    pub url: DisplaySafeUrl,
    /// `meta.api-version` (JSON) or `pypi:repository-version` (HTML), when given (PEP 629).
    pub api_version: Option<String>,
    /// The project's artifacts, in page order. Files whose names are not wheels or sdists of this
    /// project are left out.
    pub files: Vec<FileEntry>,
    /// PEP 708 `meta.tracks` (HTML: `pypi:tracks`): the project pages on other indexes that this
    /// index's operator declares this project extends. Links that are not URLs are left out.
    pub tracks: Vec<Url>,
    /// PEP 708 `alternate-locations` (HTML: `pypi:alternate-locations`): the project pages the
    /// project's owner declares it is also served at. Links that are not URLs are left out.
    pub alternate_locations: Vec<Url>,
}

impl ProjectPage {
    /// Parse a PEP 503 HTML project page fetched from `url` (by the client, or by a caller that
    /// fetched it elsewhere), with every check the client applies.
    pub fn from_html(
        body: &str,
        url: &Url,
        name: &PackageName,
        index: &IndexUrl,
    ) -> Result<Self, IndexError> {
        parse_html(body, url, name, index)
    }

    /// Parse a PEP 691 JSON project page fetched from `url`, with every check the client applies.
    pub fn from_json(
        body: &str,
        url: &Url,
        name: &PackageName,
        index: &IndexUrl,
    ) -> Result<Self, IndexError> {
        parse_json(body, url, name, index)
    }

    /// Every version with at least one artifact (yanked ones too), ascending.
    pub fn versions(&self) -> Vec<Version> {
        let mut versions: Vec<Version> = self
            .files
            .iter()
            .map(|file| file.filename.version().clone())
            .collect();
        versions.sort();
        versions.dedup();
        versions
    }

    /// The artifacts of one version, in page order.
    pub fn files_for<'a>(
        &'a self,
        version: &'a Version,
    ) -> impl Iterator<Item = &'a FileEntry> + 'a {
        self.files
            .iter()
            .filter(move |file| file.filename.version() == version)
    }
}

/// One artifact listed on a project page.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// The parsed file name (wheel or sdist).
    pub filename: DistFilename,
    /// The file name as listed.
    pub raw_filename: String,
    /// The absolute URL of the artifact, without the hash fragment.
    pub url: DisplaySafeUrl,
    /// Hashes by algorithm name (`sha256`, ...), digests in lowercase hex.
    pub hashes: BTreeMap<String, String>,
    /// `requires-python` / `data-requires-python`, HTML-unescaped, as written.
    pub requires_python: Option<String>,
    /// Whether the file is yanked (PEP 592).
    pub yanked: Yanked,
    /// Whether the core metadata is served at `<url>.metadata` (PEP 658/714).
    pub core_metadata: CoreMetadataLink,
    /// The size in bytes (JSON only).
    pub size: Option<u64>,
    /// When the file was uploaded, ISO 8601 as given (PEP 700, JSON only).
    pub upload_time: Option<String>,
    /// The provenance URL (PEP 740).
    pub provenance: Option<DisplaySafeUrl>,
}

impl FileEntry {
    /// The SHA-256 digest the index advertises, if any.
    pub fn sha256(&self) -> Option<&str> {
        self.hashes.get("sha256").map(String::as_str)
    }

    /// `requires-python` parsed; `None` when absent.
    pub fn requires_python_specifiers(
        &self,
    ) -> Option<Result<VersionSpecifiers, VersionSpecifiersParseError>> {
        self.requires_python
            .as_deref()
            .map(VersionSpecifiers::from_str)
    }

    /// Whether the artifact is a wheel.
    pub fn is_wheel(&self) -> bool {
        matches!(self.filename, DistFilename::WheelFilename(_))
    }

    /// The URL of the PEP 658 metadata file: the artifact URL with `.metadata` appended to its path.
    pub fn metadata_url(&self) -> DisplaySafeUrl {
        let mut url = self.url.clone();
        let path = format!("{}.metadata", url.path());
        url.set_path(&path);
        url
    }
}

/// PEP 592: a yanked file stays installable by exact pin but is skipped by resolution otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Yanked {
    /// Not yanked.
    No,
    /// Yanked, with the reason if one was given.
    Yes {
        /// The reason, if any.
        reason: Option<String>,
    },
}

impl Yanked {
    /// Whether the file is yanked.
    pub fn is_yanked(&self) -> bool {
        matches!(self, Self::Yes { .. })
    }
}

/// PEP 658/714: whether the core metadata file is served next to the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreMetadataLink {
    /// Not advertised.
    Absent,
    /// Served at [`FileEntry::metadata_url`], with the hashes of the metadata file if given.
    Available {
        /// Hashes by algorithm name, lowercase hex.
        hashes: BTreeMap<String, String>,
    },
}

/// Refuse an API major version we do not know (PEP 629: clients must refuse a major version
/// they do not understand, since its meaning may have changed incompatibly).
fn check_api_version(url: &Url, version: Option<&str>) -> Result<(), IndexError> {
    let Some(version) = version else {
        return Ok(());
    };
    let major = version.trim().split('.').next().unwrap_or_default();
    if major == "1" {
        Ok(())
    } else {
        Err(IndexError::UnsupportedApiVersion {
            url: DisplaySafeUrl::from_url(url.clone()),
            version: version.to_string(),
        })
    }
}

fn lowercase_hashes(hashes: BTreeMap<String, String>) -> BTreeMap<String, String> {
    hashes
        .into_iter()
        .map(|(name, digest)| (name.to_ascii_lowercase(), digest.to_ascii_lowercase()))
        .collect()
}

/// The parts of a file entry common to both formats, before the name check.
struct RawFile {
    filename: String,
    url: Url,
    hashes: BTreeMap<String, String>,
    requires_python: Option<String>,
    yanked: Yanked,
    core_metadata: CoreMetadataLink,
    size: Option<u64>,
    upload_time: Option<String>,
    provenance: Option<Url>,
}

/// Keep only files that are wheels or sdists of `name`: a page for one project listing another's
/// artifacts would let that other project's code be installed under this name.
fn into_entries(name: &PackageName, raw: Vec<RawFile>) -> Vec<FileEntry> {
    raw.into_iter()
        .filter_map(|file| {
            let Some(filename) = DistFilename::try_from_filename(&file.filename, name) else {
                debug!(
                    "skipping `{}`: not a wheel or sdist of `{name}`",
                    file.filename
                );
                return None;
            };
            if filename.name() != name {
                debug!("skipping `{}`: it is not of `{name}`", file.filename);
                return None;
            }
            Some(FileEntry {
                filename,
                raw_filename: file.filename,
                url: DisplaySafeUrl::from_url(file.url),
                hashes: lowercase_hashes(file.hashes),
                requires_python: file.requires_python,
                yanked: file.yanked,
                core_metadata: file.core_metadata,
                size: file.size,
                upload_time: file.upload_time,
                provenance: file.provenance.map(DisplaySafeUrl::from_url),
            })
        })
        .collect()
}

fn join(base: &Url, href: &str) -> Result<Url, IndexError> {
    base.join(href).map_err(|source| IndexError::Link {
        url: DisplaySafeUrl::from_url(base.clone()),
        href: href.to_string(),
        source,
    })
}

#[derive(Deserialize)]
struct JsonPage {
    #[serde(default)]
    meta: JsonMeta,
    files: Vec<JsonFile>,
    #[serde(default, rename = "alternate-locations")]
    alternate_locations: Vec<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct JsonMeta {
    api_version: Option<String>,
    #[serde(default)]
    tracks: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrString {
    Bool(bool),
    String(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrHashes {
    Bool(bool),
    Hashes(BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    requires_python: Option<String>,
    yanked: Option<BoolOrString>,
    core_metadata: Option<BoolOrHashes>,
    dist_info_metadata: Option<BoolOrHashes>,
    size: Option<u64>,
    upload_time: Option<String>,
    provenance: Option<String>,
}

/// A PEP 691 JSON page with its file entries left unparsed.
#[derive(Deserialize)]
struct JsonOutline<'a> {
    #[serde(default)]
    meta: JsonMeta,
    #[serde(borrow)]
    files: Vec<&'a serde_json::value::RawValue>,
}

/// Just the name of a JSON file entry.
#[derive(Deserialize)]
struct JsonFilename<'a> {
    #[serde(borrow)]
    filename: std::borrow::Cow<'a, str>,
}

fn json_error(url: &Url) -> impl Fn(serde_json::Error) -> IndexError + '_ {
    |source| IndexError::Json {
        url: DisplaySafeUrl::from_url(url.clone()),
        source,
    }
}

/// Check that a PEP 691 JSON page is well formed, of a supported API version, with a list of
/// files, without reading the entries themselves.
pub(crate) fn check_json_outline(body: &str, url: &Url) -> Result<(), IndexError> {
    let outline: JsonOutline<'_> = serde_json::from_str(body).map_err(json_error(url))?;
    check_api_version(url, outline.meta.api_version.as_deref())
}

/// The entry of the artifact `filename` on a PEP 691 JSON page fetched from `url`, read exactly
/// as [`parse_json`] reads it; the other entries are only scanned for their names.
pub(crate) fn find_json_file(
    body: &str,
    url: &Url,
    name: &PackageName,
    filename: &str,
) -> Result<Option<FileEntry>, IndexError> {
    let outline: JsonOutline<'_> = serde_json::from_str(body).map_err(json_error(url))?;
    check_api_version(url, outline.meta.api_version.as_deref())?;
    for raw in outline.files {
        let named: JsonFilename<'_> = serde_json::from_str(raw.get()).map_err(json_error(url))?;
        if named.filename == filename {
            let file: JsonFile = serde_json::from_str(raw.get()).map_err(json_error(url))?;
            return Ok(into_entries(name, vec![raw_json_file(file, url)?]).pop());
        }
    }
    Ok(None)
}

/// Parse a PEP 691 JSON project page fetched from `url`.
pub(crate) fn parse_json(
    body: &str,
    url: &Url,
    name: &PackageName,
    index: &IndexUrl,
) -> Result<ProjectPage, IndexError> {
    let page: JsonPage = serde_json::from_str(body).map_err(json_error(url))?;
    check_api_version(url, page.meta.api_version.as_deref())?;
    let raw = page
        .files
        .into_iter()
        .map(|file| raw_json_file(file, url))
        .collect::<Result<Vec<_>, IndexError>>()?;
    Ok(ProjectPage {
        name: name.clone(),
        index: index.clone(),
        url: DisplaySafeUrl::from_url(url.clone()),
        api_version: page.meta.api_version,
        files: into_entries(name, raw),
        tracks: page_links(url, page.meta.tracks),
        alternate_locations: page_links(url, page.alternate_locations),
    })
}

/// PEP 708 links, resolved against the page's `url`; one that is not a URL is left out (it
/// declares nothing, so the indexes it would have linked stay apart).
fn page_links(url: &Url, links: impl IntoIterator<Item = String>) -> Vec<Url> {
    links
        .into_iter()
        .filter_map(|link| {
            url.join(link.trim())
                .inspect_err(|error| {
                    debug!(
                        "ignoring the PEP 708 link `{link}` on `{}`: {error}",
                        DisplaySafeUrl::ref_cast(url)
                    )
                })
                .ok()
        })
        .collect()
}

/// One file entry of a JSON page, its links resolved against the page's `url`.
fn raw_json_file(file: JsonFile, url: &Url) -> Result<RawFile, IndexError> {
    let yanked = match file.yanked {
        None | Some(BoolOrString::Bool(false)) => Yanked::No,
        Some(BoolOrString::Bool(true)) => Yanked::Yes { reason: None },
        Some(BoolOrString::String(reason)) => Yanked::Yes {
            reason: Some(reason).filter(|reason| !reason.is_empty()),
        },
    };
    // PEP 714: `core-metadata` is the name; `dist-info-metadata` the older one.
    let core_metadata = match file.core_metadata.or(file.dist_info_metadata) {
        None | Some(BoolOrHashes::Bool(false)) => CoreMetadataLink::Absent,
        Some(BoolOrHashes::Bool(true)) => CoreMetadataLink::Available {
            hashes: BTreeMap::new(),
        },
        Some(BoolOrHashes::Hashes(hashes)) => CoreMetadataLink::Available {
            hashes: lowercase_hashes(hashes),
        },
    };
    let mut file_url = join(url, &file.url)?;
    file_url.set_fragment(None);
    Ok(RawFile {
        filename: file.filename,
        url: file_url,
        hashes: file.hashes,
        requires_python: file
            .requires_python
            .filter(|value| !value.trim().is_empty()),
        yanked,
        core_metadata,
        size: file.size,
        upload_time: file.upload_time,
        provenance: file.provenance.map(|href| join(url, &href)).transpose()?,
    })
}

/// An attribute of an HTML tag, entity-decoded. `Some("")` for an attribute without a value.
fn attribute(tag: &tl::HTMLTag<'_>, name: &str) -> Option<String> {
    let value = tag.attributes().get(name)?;
    Some(match value {
        Some(bytes) => html_escape::decode_html_entities(&bytes.as_utf8_str()).into_owned(),
        None => String::new(),
    })
}

/// Parse a PEP 503 HTML project page fetched from `url`, with `tl` (a small HTML parser) and
/// `html-escape` for entity decoding (`tl` returns attribute values raw).
pub(crate) fn parse_html(
    body: &str,
    url: &Url,
    name: &PackageName,
    index: &IndexUrl,
) -> Result<ProjectPage, IndexError> {
    let dom = tl::parse(body, tl::ParserOptions::default()).map_err(|error| IndexError::Html {
        url: DisplaySafeUrl::from_url(url.clone()),
        reason: error.to_string(),
    })?;
    let parser = dom.parser();
    let tags = || {
        dom.nodes()
            .iter()
            .filter_map(|node| node.as_tag())
            .map(move |tag| (tag.name().as_utf8_str().to_ascii_lowercase(), tag))
    };
    // PEP 629: `<meta name="pypi:repository-version" content="1.0">`.
    let api_version = tags()
        .filter(|(tag_name, _)| tag_name == "meta")
        .find(|(_, tag)| attribute(tag, "name").as_deref() == Some("pypi:repository-version"))
        .and_then(|(_, tag)| attribute(tag, "content"));
    check_api_version(url, api_version.as_deref())?;
    // PEP 708: `<meta name="pypi:tracks" content="...">`, `pypi:alternate-locations` likewise.
    let meta_links = |meta_name: &str| {
        page_links(
            url,
            tags()
                .filter(|(tag_name, _)| tag_name == "meta")
                .filter(|(_, tag)| attribute(tag, "name").as_deref() == Some(meta_name))
                .filter_map(|(_, tag)| attribute(tag, "content")),
        )
    };
    let tracks = meta_links("pypi:tracks");
    let alternate_locations = meta_links("pypi:alternate-locations");
    // An HTML `<base href>` changes what relative links resolve against.
    let base = match tags()
        .filter(|(tag_name, _)| tag_name == "base")
        .find_map(|(_, tag)| attribute(tag, "href"))
    {
        Some(href) => join(url, &href)?,
        None => url.clone(),
    };
    let mut raw = Vec::new();
    for (_, anchor) in tags().filter(|(tag_name, _)| tag_name == "a") {
        let Some(href) = attribute(anchor, "href") else {
            continue;
        };
        let mut file_url = join(&base, &href)?;
        let mut hashes = BTreeMap::new();
        if let Some(fragment) = file_url.fragment()
            && let Some((algorithm, digest)) = fragment.split_once('=')
        {
            hashes.insert(algorithm.to_string(), digest.to_string());
        }
        file_url.set_fragment(None);
        // PEP 503: the file name is the last path segment of the URL (the anchor text should
        // match it, but the URL is what gets downloaded).
        let filename = file_url
            .path_segments()
            .and_then(|mut segments| segments.next_back())
            .map(|segment| {
                percent_encoding::percent_decode_str(segment)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        if filename.is_empty() {
            debug!(
                "skipping the link `{}` on `{}`: no file name",
                anchor.inner_text(parser),
                DisplaySafeUrl::ref_cast(url)
            );
            continue;
        }
        let yanked = match attribute(anchor, "data-yanked") {
            None => Yanked::No,
            Some(reason) => Yanked::Yes {
                reason: Some(reason).filter(|reason| !reason.is_empty()),
            },
        };
        let core_metadata = match attribute(anchor, "data-core-metadata")
            .or_else(|| attribute(anchor, "data-dist-info-metadata"))
        {
            None => CoreMetadataLink::Absent,
            Some(value) if value == "false" => CoreMetadataLink::Absent,
            Some(value) => CoreMetadataLink::Available {
                hashes: value
                    .split_once('=')
                    .map(|(algorithm, digest)| (algorithm.to_string(), digest.to_string()))
                    .into_iter()
                    .collect(),
            },
        };
        raw.push(RawFile {
            filename,
            url: file_url,
            hashes,
            requires_python: attribute(anchor, "data-requires-python")
                .filter(|value| !value.trim().is_empty()),
            yanked,
            core_metadata,
            size: None,
            upload_time: None,
            provenance: attribute(anchor, "data-provenance")
                .map(|href| join(&base, &href))
                .transpose()?,
        });
    }
    Ok(ProjectPage {
        name: name.clone(),
        index: index.clone(),
        url: DisplaySafeUrl::from_url(url.clone()),
        api_version,
        files: into_entries(name, raw),
        tracks,
        alternate_locations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> PackageName {
        PackageName::from_str("demo").unwrap()
    }

    fn index() -> IndexUrl {
        IndexUrl::parse("https://index.example/simple/").unwrap()
    }

    fn page_url() -> Url {
        Url::parse("https://index.example/simple/demo/").unwrap()
    }

    const DIGEST: &str = "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233";

    #[test]
    fn json_and_html_parse_to_the_same_entries() {
        let json = format!(
            r#"{{"meta": {{"api-version": "1.1"}}, "name": "demo", "files": [
              {{"filename": "demo-1.0-py3-none-any.whl", "url": "../../files/demo-1.0-py3-none-any.whl",
                "hashes": {{"sha256": "{DIGEST}"}}, "requires-python": ">=3.8,<4",
                "core-metadata": {{"sha256": "{DIGEST}"}}, "yanked": "broken"}},
              {{"filename": "demo-1.1.tar.gz", "url": "https://files.example/demo-1.1.tar.gz",
                "hashes": {{}}, "yanked": false}},
              {{"filename": "other-1.0-py3-none-any.whl", "url": "other-1.0-py3-none-any.whl", "hashes": {{}}}}
            ]}}"#
        );
        let html = format!(
            r#"<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"></head><body>
            <a href="../../files/demo-1.0-py3-none-any.whl#sha256={DIGEST}" data-requires-python="&gt;=3.8,&lt;4"
               data-core-metadata="sha256={DIGEST}" data-yanked="broken">demo-1.0-py3-none-any.whl</a><br/>
            <a href="https://files.example/demo-1.1.tar.gz">demo-1.1.tar.gz</a>
            <a href="other-1.0-py3-none-any.whl">other-1.0-py3-none-any.whl</a>
            </body></html>"#
        );
        let from_json = parse_json(&json, &page_url(), &name(), &index()).unwrap();
        let from_html = parse_html(&html, &page_url(), &name(), &index()).unwrap();
        for page in [&from_json, &from_html] {
            assert_eq!(page.api_version.as_deref(), Some("1.1"));
            // The other project's wheel is left out.
            assert_eq!(page.files.len(), 2, "{page:?}");
            let wheel = &page.files[0];
            assert_eq!(
                wheel.url.as_str(),
                "https://index.example/files/demo-1.0-py3-none-any.whl"
            );
            assert_eq!(wheel.sha256(), Some(DIGEST));
            assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8,<4"));
            assert!(wheel.requires_python_specifiers().unwrap().is_ok());
            assert_eq!(
                wheel.yanked,
                Yanked::Yes {
                    reason: Some("broken".to_string())
                }
            );
            assert!(
                matches!(&wheel.core_metadata, CoreMetadataLink::Available { hashes } if hashes["sha256"] == DIGEST)
            );
            assert!(wheel.is_wheel());
            let sdist = &page.files[1];
            assert_eq!(sdist.yanked, Yanked::No);
            assert_eq!(sdist.core_metadata, CoreMetadataLink::Absent);
            assert!(!sdist.is_wheel());
            assert_eq!(page.versions().len(), 2);
        }
    }

    #[test]
    fn html_base_href_and_valueless_yanked() {
        let html = r#"<html><head><base href="https://mirror.example/pkgs/"></head><body>
            <a href="demo-2.0-py3-none-any.whl" data-yanked>demo-2.0-py3-none-any.whl</a></body></html>"#;
        let page = parse_html(html, &page_url(), &name(), &index()).unwrap();
        assert_eq!(
            page.files[0].url.as_str(),
            "https://mirror.example/pkgs/demo-2.0-py3-none-any.whl"
        );
        assert_eq!(page.files[0].yanked, Yanked::Yes { reason: None });
        assert_eq!(page.api_version, None);
    }

    #[test]
    fn unknown_major_api_version_is_refused() {
        let json = r#"{"meta": {"api-version": "2.0"}, "files": []}"#;
        let error = parse_json(json, &page_url(), &name(), &index()).unwrap_err();
        assert!(
            matches!(error, IndexError::UnsupportedApiVersion { .. }),
            "{error}"
        );
        let html = r#"<meta name="pypi:repository-version" content="2.0"><a href="x">x</a>"#;
        let error = parse_html(html, &page_url(), &name(), &index()).unwrap_err();
        assert!(
            matches!(error, IndexError::UnsupportedApiVersion { .. }),
            "{error}"
        );
        let ok = r#"{"meta": {"api-version": "1.4"}, "files": []}"#;
        assert!(parse_json(ok, &page_url(), &name(), &index()).is_ok());
    }

    #[test]
    fn bad_json_names_the_url() {
        let error = parse_json("{\"files\": 3}", &page_url(), &name(), &index()).unwrap_err();
        assert!(
            error.to_string().contains("index.example/simple/demo/"),
            "{error}"
        );
    }

    #[test]
    fn pep_708_links_are_read_from_json_and_html() {
        let json = r#"{"meta": {"api-version": "1.2", "tracks": ["https://public.example/simple/demo/", "https://[bad/"]},
            "alternate-locations": ["https://private.example/simple/demo/", "../../other/demo/"], "files": []}"#;
        let html = r#"<html><head><meta name="pypi:repository-version" content="1.2">
            <meta name="pypi:tracks" content="https://public.example/simple/demo/">
            <meta name="pypi:tracks" content="https://[bad/">
            <meta name="pypi:alternate-locations" content="https://private.example/simple/demo/">
            <meta name="pypi:alternate-locations" content="../../other/demo/"></head><body></body></html>"#;
        for page in [
            parse_json(json, &page_url(), &name(), &index()).unwrap(),
            parse_html(html, &page_url(), &name(), &index()).unwrap(),
        ] {
            let shown = |links: &[Url]| links.iter().map(ToString::to_string).collect::<Vec<_>>();
            // A link that is not a URL is left out; relative ones resolve against the page.
            assert_eq!(shown(&page.tracks), ["https://public.example/simple/demo/"]);
            assert_eq!(
                shown(&page.alternate_locations),
                [
                    "https://private.example/simple/demo/",
                    "https://index.example/other/demo/"
                ]
            );
        }
        let none = parse_json(r#"{"files": []}"#, &page_url(), &name(), &index()).unwrap();
        assert!(none.tracks.is_empty() && none.alternate_locations.is_empty());
    }

    #[test]
    fn legacy_dist_info_metadata_is_read() {
        let json = r#"{"files": [{"filename": "demo-1.0-py3-none-any.whl", "url": "demo-1.0-py3-none-any.whl",
            "hashes": {}, "dist-info-metadata": true, "size": 12, "upload-time": "2024-01-02T03:04:05.000000Z",
            "provenance": "demo-1.0-py3-none-any.whl.provenance"}]}"#;
        let page = parse_json(json, &page_url(), &name(), &index()).unwrap();
        let file = &page.files[0];
        assert!(matches!(
            file.core_metadata,
            CoreMetadataLink::Available { .. }
        ));
        assert_eq!(file.size, Some(12));
        assert_eq!(
            file.upload_time.as_deref(),
            Some("2024-01-02T03:04:05.000000Z")
        );
        assert_eq!(
            file.provenance.as_ref().unwrap().as_str(),
            "https://index.example/simple/demo/demo-1.0-py3-none-any.whl.provenance"
        );
        assert_eq!(
            file.metadata_url().as_str(),
            "https://index.example/simple/demo/demo-1.0-py3-none-any.whl.metadata"
        );
    }
}
