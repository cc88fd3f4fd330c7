//! The typed model of a PEP 751 lockfile.

use std::collections::BTreeMap;

use toml::value::Datetime;
use url::Url;
use uv_normalize::{ExtraName, GroupName, PackageName};
use uv_pep440::{Version, VersionSpecifiers};
use uv_pep508::MarkerTree;

/// The `lock-version` safevenv writes.
pub const LOCK_VERSION: &str = "1.0";

/// A PEP 751 lockfile (`pylock.toml`).
///
/// Fields follow the specification's keys in its order. Keys whose absence and emptiness mean
/// different things in PEP 751 (`extras`, `dependency-groups`, `default-groups`: an explicit
/// `[]` says "the inputs had none") are `Option`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    /// `lock-version`: the format version the file was read as. Writing always records
    /// [`LOCK_VERSION`].
    pub lock_version: Version,
    /// `environments`: markers of the environments the lockfile is meant for.
    pub environments: Option<Vec<MarkerTree>>,
    /// `requires-python`: the Python versions every environment must satisfy.
    pub requires_python: Option<VersionSpecifiers>,
    /// `extras`: the extras this lockfile supports.
    pub extras: Option<Vec<ExtraName>>,
    /// `dependency-groups`: the dependency groups users may select.
    pub dependency_groups: Option<Vec<GroupName>>,
    /// `default-groups`: the synthetic groups installed by default.
    pub default_groups: Option<Vec<GroupName>>,
    /// `created-by`: the tool that wrote the lockfile.
    pub created_by: String,
    /// `[[packages]]`: every package that may be installed.
    pub packages: Vec<Package>,
    /// `[tool]`: tool-specific data, kept as it is.
    pub tool: Option<toml::Table>,
}

/// One `[[packages]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// `name`, normalized.
    pub name: PackageName,
    /// `version`; absent for source trees, whose version is not known for sure.
    pub version: Option<Version>,
    /// `marker`: when to install the package; [`MarkerTree::TRUE`] when absent.
    pub marker: MarkerTree,
    /// `requires-python`.
    pub requires_python: Option<VersionSpecifiers>,
    /// `dependencies`: informational only; installers must not use it (PEP 751).
    pub dependencies: Vec<Dependency>,
    /// `index`: the simple-API base URL the artifacts were found on.
    pub index: Option<Url>,
    /// Where the package comes from: `vcs`, `directory`, `archive`, or `sdist`/`wheels`.
    pub source: Source,
    /// `attestation-identities`: the publishers seen for any of the package's files.
    pub attestation_identities: Vec<AttestationIdentity>,
    /// `[packages.tool]`: tool-specific data, kept as it is.
    pub tool: Option<toml::Table>,
}

/// The one source of a package; PEP 751 makes `vcs`, `directory` and `archive` exclusive of
/// each other and of `sdist`/`wheels`, and this type makes other combinations unwritable.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `[packages.vcs]`.
    Vcs(Vcs),
    /// `[packages.directory]`.
    Directory(Directory),
    /// `[packages.archive]`.
    Archive(Archive),
    /// `[packages.sdist]` and/or `[[packages.wheels]]`; at least one artifact.
    Distributions {
        /// `sdist`.
        sdist: Option<Sdist>,
        /// `wheels`.
        wheels: Vec<Wheel>,
    },
}

/// `[packages.vcs]`: a source tree in a version control system.
#[derive(Debug, Clone, PartialEq)]
pub struct Vcs {
    /// `type`: `git`, `hg`, `bzr` or `svn`.
    pub kind: String,
    /// `url`.
    pub url: Option<Url>,
    /// `path`: relative to the lockfile when relative.
    pub path: Option<String>,
    /// `requested-revision`: informational only.
    pub requested_revision: Option<String>,
    /// `commit-id`: the exact revision to install.
    pub commit_id: String,
    /// `subdirectory`: the project's root within the tree.
    pub subdirectory: Option<String>,
}

/// `[packages.directory]`: a local source tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Directory {
    /// `path`: relative to the lockfile when relative.
    pub path: String,
    /// `editable`.
    pub editable: Option<bool>,
    /// `subdirectory`.
    pub subdirectory: Option<String>,
}

/// `[packages.archive]`: a direct reference to an archive.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// `url`.
    pub url: Option<Url>,
    /// `path`.
    pub path: Option<String>,
    /// `size` in bytes.
    pub size: Option<u64>,
    /// `upload-time`, in UTC.
    pub upload_time: Option<Datetime>,
    /// `hashes`; never empty.
    pub hashes: Hashes,
    /// `subdirectory`.
    pub subdirectory: Option<String>,
}

/// `[packages.sdist]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sdist {
    /// `name`: the file name; may be left out when it is the last part of `path`/`url`.
    pub name: Option<String>,
    /// `upload-time`, in UTC.
    pub upload_time: Option<Datetime>,
    /// `url`.
    pub url: Option<Url>,
    /// `path`.
    pub path: Option<String>,
    /// `size` in bytes.
    pub size: Option<u64>,
    /// `hashes`; never empty.
    pub hashes: Hashes,
}

/// One `[[packages.wheels]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Wheel {
    /// `name`: the file name; may be left out when it is the last part of `path`/`url`.
    pub name: Option<String>,
    /// `upload-time`, in UTC.
    pub upload_time: Option<Datetime>,
    /// `url`.
    pub url: Option<Url>,
    /// `path`.
    pub path: Option<String>,
    /// `size` in bytes.
    pub size: Option<u64>,
    /// `hashes`; never empty.
    pub hashes: Hashes,
}

/// A `hashes` table: algorithm (e.g. `sha256`) to hexadecimal digest, sorted by algorithm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashes(pub BTreeMap<String, String>);

/// One `dependencies` entry: enough keys to find the other package entry (usually `name`).
/// Kept as a table because PEP 751 lets it hold any package key.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency(pub toml::Table);

/// One `attestation-identities` entry: a Trusted Publisher identity (PEP 740), `kind` plus the
/// publisher's own keys (e.g. `repository`, `workflow`, `environment` for GitHub).
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationIdentity {
    /// `kind`: e.g. `GitHub` or `GitLab`.
    pub kind: String,
    /// The other keys, as they are.
    pub claims: toml::Table,
}

impl Lock {
    /// An empty lockfile of the version safevenv writes, created by `created_by`.
    pub fn new(created_by: impl Into<String>) -> Self {
        Self {
            lock_version: Version::new([1, 0]),
            environments: None,
            requires_python: None,
            extras: None,
            dependency_groups: None,
            default_groups: None,
            created_by: created_by.into(),
            packages: Vec::new(),
            tool: None,
        }
    }

    /// Whether `lock-version` has a minor version newer than this reader knows: the lockfile
    /// was read, but keys it may rely on were ignored (PEP 751: a tool SHOULD warn).
    pub fn is_newer_minor(&self) -> bool {
        self.lock_version > Version::new([1, 0])
    }

    /// The first entry for `name`. A name may have several entries (told apart by marker).
    pub fn package(&self, name: &PackageName) -> Option<&Package> {
        self.packages.iter().find(|package| &package.name == name)
    }

    /// Every entry for `name`.
    pub fn packages_named<'a>(
        &'a self,
        name: &'a PackageName,
    ) -> impl Iterator<Item = &'a Package> + 'a {
        self.packages
            .iter()
            .filter(move |package| &package.name == name)
    }

    /// All package entries, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Package> {
        self.packages.iter()
    }

    /// Pairs of entries (by index) with the same name whose markers are not provably disjoint.
    ///
    /// PEP 751 allows a package to be listed several times, but "all packages to be installed
    /// MUST narrow down to a single entry at install time". Overlapping markers are therefore
    /// not an error in the file (extras or groups may still tell them apart), but an installer
    /// must check the entries it selects; this is the list to warn about.
    pub fn overlapping_entries(&self) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (i, first) in self.packages.iter().enumerate() {
            for (j, second) in self.packages.iter().enumerate().skip(i + 1) {
                if first.name == second.name && !first.marker.is_disjoint(second.marker) {
                    pairs.push((i, j));
                }
            }
        }
        pairs
    }

    /// The fields whose URL carries credentials (a user name or password) or another secret (a
    /// signed query parameter, a token in the path: `safevenv_redact::has_secrets`), by field
    /// path.
    ///
    /// PEP 751 says nothing about secrets, but a lockfile is committed and shared: a writer
    /// must refuse a lock for which this is not empty rather than publish a token (make its URLs
    /// with `safevenv_redact::shareable`).
    pub fn credential_fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        for (i, package) in self.packages.iter().enumerate() {
            let base = format!("packages[{i}]");
            let mut check = |field: String, url: Option<&Url>| {
                if url.is_some_and(has_credentials) {
                    fields.push(field);
                }
            };
            check(format!("{base}.index"), package.index.as_ref());
            match &package.source {
                Source::Vcs(vcs) => check(format!("{base}.vcs.url"), vcs.url.as_ref()),
                Source::Directory(_) => {}
                Source::Archive(archive) => {
                    check(format!("{base}.archive.url"), archive.url.as_ref());
                }
                Source::Distributions { sdist, wheels } => {
                    if let Some(sdist) = sdist {
                        check(format!("{base}.sdist.url"), sdist.url.as_ref());
                    }
                    for (w, wheel) in wheels.iter().enumerate() {
                        check(format!("{base}.wheels[{w}].url"), wheel.url.as_ref());
                    }
                }
            }
        }
        fields
    }

    /// Whether any URL in the lockfile carries credentials; see [`Lock::credential_fields`].
    pub fn contains_credentials(&self) -> bool {
        !self.credential_fields().is_empty()
    }
}

impl<'a> IntoIterator for &'a Lock {
    type Item = &'a Package;
    type IntoIter = std::slice::Iter<'a, Package>;

    fn into_iter(self) -> Self::IntoIter {
        self.packages.iter()
    }
}

fn has_credentials(url: &Url) -> bool {
    safevenv_redact::has_secrets(url)
}

impl Package {
    /// A package resolved from an index: `name`, `version`, `index`, and no artifact yet
    /// (add wheels or an sdist before writing; a package needs one source).
    pub fn from_index(name: PackageName, version: Version, index: Url) -> Self {
        Self {
            name,
            version: Some(version),
            marker: MarkerTree::TRUE,
            requires_python: None,
            dependencies: Vec::new(),
            index: Some(index),
            source: Source::Distributions {
                sdist: None,
                wheels: Vec::new(),
            },
            attestation_identities: Vec::new(),
            tool: None,
        }
    }

    /// Adds a wheel; turns the source into `sdist`/`wheels` if it was another kind.
    pub fn push_wheel(&mut self, wheel: Wheel) {
        match &mut self.source {
            Source::Distributions { wheels, .. } => wheels.push(wheel),
            Source::Vcs(_) | Source::Directory(_) | Source::Archive(_) => {
                self.source = Source::Distributions {
                    sdist: None,
                    wheels: vec![wheel],
                };
            }
        }
    }

    /// Sets the sdist; turns the source into `sdist`/`wheels` if it was another kind.
    pub fn set_sdist(&mut self, new: Sdist) {
        match &mut self.source {
            Source::Distributions { sdist, .. } => *sdist = Some(new),
            Source::Vcs(_) | Source::Directory(_) | Source::Archive(_) => {
                self.source = Source::Distributions {
                    sdist: Some(new),
                    wheels: Vec::new(),
                };
            }
        }
    }

    /// The wheels of the package (none for `vcs`, `directory` and `archive` sources).
    pub fn wheels(&self) -> &[Wheel] {
        match &self.source {
            Source::Distributions { wheels, .. } => wheels,
            Source::Vcs(_) | Source::Directory(_) | Source::Archive(_) => &[],
        }
    }

    /// The sdist of the package, if it has one.
    pub fn sdist(&self) -> Option<&Sdist> {
        match &self.source {
            Source::Distributions { sdist, .. } => sdist.as_ref(),
            Source::Vcs(_) | Source::Directory(_) | Source::Archive(_) => None,
        }
    }
}

impl Wheel {
    /// A wheel found on an index: its URL, size, upload time and SHA-256 digest (hexadecimal).
    /// `name` is taken from the URL's last path segment.
    pub fn from_url(
        url: Url,
        size: Option<u64>,
        upload_time: Option<Datetime>,
        sha256: impl Into<String>,
    ) -> Self {
        Self {
            name: url_file_name(&url),
            upload_time,
            url: Some(url),
            path: None,
            size,
            hashes: Hashes::sha256(sha256),
        }
    }

    /// The wheel's file name: `name`, else the last part of `path` or `url`.
    pub fn file_name(&self) -> Option<String> {
        file_name(
            self.name.as_deref(),
            self.path.as_deref(),
            self.url.as_ref(),
        )
    }
}

impl Sdist {
    /// An sdist found on an index: its URL, size, upload time and SHA-256 digest (hexadecimal).
    /// `name` is taken from the URL's last path segment.
    pub fn from_url(
        url: Url,
        size: Option<u64>,
        upload_time: Option<Datetime>,
        sha256: impl Into<String>,
    ) -> Self {
        Self {
            name: url_file_name(&url),
            upload_time,
            url: Some(url),
            path: None,
            size,
            hashes: Hashes::sha256(sha256),
        }
    }

    /// The sdist's file name: `name`, else the last part of `path` or `url`.
    pub fn file_name(&self) -> Option<String> {
        file_name(
            self.name.as_deref(),
            self.path.as_deref(),
            self.url.as_ref(),
        )
    }
}

impl Hashes {
    /// A table with one SHA-256 digest.
    pub fn sha256(hex: impl Into<String>) -> Self {
        Self(BTreeMap::from([("sha256".to_owned(), hex.into())]))
    }

    /// The digest recorded for `algorithm`, if any.
    pub fn get(&self, algorithm: &str) -> Option<&str> {
        self.0.get(algorithm).map(String::as_str)
    }
}

impl Dependency {
    /// A dependency on the entry named `name`: `{name = "..."}`.
    pub fn named(name: &PackageName) -> Self {
        let mut table = toml::Table::new();
        table.insert(
            "name".to_owned(),
            toml::Value::String(name.as_str().to_owned()),
        );
        Self(table)
    }

    /// The `name` key, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.0.get("name").and_then(toml::Value::as_str)
    }
}

/// `name`, else the last component of `path` (either separator), else of the URL's path,
/// percent-decoded (`%2B` in a local version is `+`).
pub(crate) fn file_name(
    name: Option<&str>,
    path: Option<&str>,
    url: Option<&Url>,
) -> Option<String> {
    if let Some(name) = name {
        return Some(name.to_owned());
    }
    if let Some(path) = path {
        let last = path.rsplit(['/', '\\']).next().unwrap_or(path);
        if !last.is_empty() {
            return Some(last.to_owned());
        }
    }
    url.and_then(url_file_name)
}

fn url_file_name(url: &Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    if last.is_empty() {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(last)
            .decode_utf8_lossy()
            .into_owned(),
    )
}
