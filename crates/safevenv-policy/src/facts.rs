//! The facts the policy judges: plain data the pipeline gathers before anything is installed.
//!
//! This is the contract between the stages that learn things (index client, resolver, lockfile,
//! wheel inspector, attestation verifier, audit) and the policy gate. Nothing here does I/O;
//! a stage that could not learn a fact leaves it `None`, and the rule that needs it fails closed.

use std::path::PathBuf;

use jiff::Timestamp;
use url::Url;
use uv_normalize::PackageName;
use uv_pep440::Version;

/// Everything the policy needs to judge one run: the resolved distributions and the environment
/// they are about to be installed into.
#[derive(Debug, Clone)]
pub struct ResolvedSet {
    /// The clock of the run, passed in so that judging stays pure and repeatable.
    pub now: Timestamp,
    /// The target interpreter's `(major, minor)`, for the standard library names it has;
    /// `None` judges against every version from 3.8 to 3.13 (the stricter answer).
    pub python_version: Option<(u8, u8)>,
    /// Every index the run was configured with, and where each came from.
    pub indexes: Vec<ConfiguredIndex>,
    /// The distributions to install.
    pub packages: Vec<PackageFacts>,
    /// Distributions already in the environment (their files and console scripts).
    pub installed: Vec<InstalledDistribution>,
}

/// One index the run was configured with.
#[derive(Debug, Clone)]
pub struct ConfiguredIndex {
    /// The index URL as configured (credentials included: the policy redacts before display).
    pub url: Url,
    /// Whether this is the run's default index (`--index-url`), rather than an extra one.
    pub default: bool,
    /// Where the index was configured.
    pub origin: Origin,
}

/// Where a source or an index was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// On the command line.
    CommandLine,
    /// In an environment variable.
    Environment,
    /// In safevenv's own configuration (not a requirements file).
    Configuration,
    /// In a requirements file (`--index-url` lines count: a third party's file can name an index).
    RequirementsFile {
        /// The requirements file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
    },
    /// In the lockfile.
    Lockfile,
    /// As a dependency of another distribution.
    Dependency,
}

/// One distribution of the resolved set.
#[derive(Debug, Clone)]
pub struct PackageFacts {
    /// The normalized project name.
    pub name: PackageName,
    /// The version; `None` only for a source tree whose metadata is not known yet.
    pub version: Option<Version>,
    /// Where the distribution comes from.
    pub source: Source,
    /// The artifact that will be installed or built.
    pub artifact: Artifact,
    /// Whether the index marked the artifact yanked (PEP 592).
    pub yanked: bool,
    /// When the index says the artifact was uploaded (PEP 700 `upload-time`), if it said.
    pub upload_time: Option<Timestamp>,
    /// Other configured indexes that also serve a project of this name.
    pub also_on_indexes: Vec<Url>,
    /// License metadata of the distribution.
    pub license: LicenseFacts,
    /// Whether the user asked for this distribution (rather than it being a dependency).
    pub requested_directly: bool,
    /// What the wheel inspector found in the artifact; `None` before inspection.
    pub contents: Option<ContentsFacts>,
    /// For a wheel safevenv's build stage built editable (PEP 660) from a local project: that
    /// project's directory, absolute and without `.` or `..` (as named, and canonical when that
    /// differs). A `.pth` path line that adds a directory inside one of these is the editable
    /// install itself, not code (`contents.pth-exec`). Empty for every other distribution: only
    /// the build stage sets it, for the tree it built.
    pub editable_project: Vec<PathBuf>,
    /// What the attestation verifier found.
    pub attestation: AttestationFacts,
    /// Known vulnerabilities of this version (from the audit stage).
    pub vulnerabilities: Vec<Advisory>,
    /// Whether this release fixes a known vulnerability of a version the user has or had locked
    /// (set by the audit stage): it may skip the release-age wait if the policy says so.
    pub fixes_known_vulnerability: bool,
}

/// Where a distribution comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// From an index.
    Index {
        /// The index URL (one of [`ResolvedSet::indexes`]).
        url: Url,
    },
    /// From a direct URL to an artifact.
    DirectUrl {
        /// The artifact URL.
        url: Url,
        /// Where the URL was named.
        origin: Origin,
    },
    /// From a version control repository.
    Vcs {
        /// The repository URL, without the `@revision` part.
        url: Url,
        /// The revision as the user wrote it (`@v1.0`, `@<commit>`), if any.
        requested_revision: Option<String>,
        /// Where the requirement was named.
        origin: Origin,
    },
    /// From a local path (directory or artifact file), absolute.
    Path {
        /// The absolute path.
        path: PathBuf,
        /// Whether it is installed editable.
        editable: bool,
        /// Where the path was named.
        origin: Origin,
    },
}

impl Source {
    /// The kind of source, as policy entries name it.
    pub fn kind(&self) -> SourceKind {
        match self {
            Self::Index { .. } => SourceKind::Index,
            Self::DirectUrl { .. } => SourceKind::DirectUrl,
            Self::Vcs { .. } => SourceKind::Vcs,
            Self::Path { .. } => SourceKind::Path,
        }
    }
}

/// The kind of a [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// An index.
    Index,
    /// A direct URL.
    DirectUrl,
    /// A version control repository.
    Vcs,
    /// A local path.
    Path,
}

/// The artifact that will be installed (a wheel) or built (an sdist or a source tree).
#[derive(Debug, Clone)]
pub struct Artifact {
    /// What it is.
    pub kind: ArtifactKind,
    /// Its file name (for a source tree: the directory or repository name).
    pub filename: String,
    /// Its pinned sha256, and where the pin came from.
    pub sha256: Option<HashPin>,
    /// For a distribution from an index: the URL it is downloaded from, and what the index page
    /// says of it. `None` when nobody looked; the `sources.artifact-url` rule then fails closed.
    pub url: Option<ArtifactUrl>,
}

/// Where an index distribution's artifact is downloaded from, and whether its index lists it
/// there: a lockfile is input, and whoever edits it chooses the URL.
#[derive(Debug, Clone)]
pub struct ArtifactUrl {
    /// The URL the artifact is fetched from (credentials included: the policy redacts).
    pub url: Url,
    /// What the index page says of that URL.
    pub listing: Listing,
}

/// What the index page of a distribution says of its artifact's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The URL was read from the index page during this run (a fresh resolution).
    FromIndexPage,
    /// The index page lists the file at this very URL, with the same sha256.
    Listed,
    /// The index page does not list the file, or the project is not on that index.
    NotListed,
    /// The index page lists the file at another URL.
    ListedElsewhere {
        /// The URL the page gives.
        url: Url,
    },
    /// The index page lists the file at this URL, with another sha256.
    OtherHash {
        /// The sha256 the page gives.
        sha256: String,
    },
    /// The page was not read: its index is not allowed (nothing is asked of such an index).
    IndexNotAllowed,
    /// The page could not be read (offline without it in the cache, ...).
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// What kind of artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A built wheel: installed by copying files.
    Wheel,
    /// A source distribution: building it runs the publisher's code.
    Sdist,
    /// A source tree (a repository checkout or a local directory): built like an sdist.
    SourceTree,
}

/// A pinned sha256 of an artifact.
#[derive(Debug, Clone)]
pub struct HashPin {
    /// The lowercase hex digest.
    pub hex: String,
    /// Where the pin came from.
    pub origin: HashOrigin,
}

/// Where a hash pin came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum HashOrigin {
    /// The user's input (`--hash` in a requirements file).
    Input,
    /// The lockfile.
    Lockfile,
    /// The index's file listing.
    Index,
}

/// License metadata as the distribution declares it.
#[derive(Debug, Clone, Default)]
pub struct LicenseFacts {
    /// PEP 639 `License-Expression`.
    pub expression: Option<String>,
    /// The legacy free-form `License` field.
    pub license_field: Option<String>,
    /// The `License ::` Trove classifiers.
    pub classifiers: Vec<String>,
}

/// What the wheel inspector found in an artifact.
///
/// Every path here is a **final destination**: where the file lands in the environment, relative
/// to its root, after the install scheme (purelib, platlib, scripts, headers, data → prefix) and
/// the environment's own links (`lib64` → `lib`) are applied. The content rules judge these
/// paths, so a file is judged by where it lands, not by where the archive keeps it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ContentsFacts {
    /// The key of the unpacked, verified content these facts were read from (the installer
    /// links only from the entry with this key: what was judged is what is installed).
    pub content_key: Option<String>,
    /// Every file the artifact installs, as a path relative to the environment's root
    /// (`lib/python3.12/site-packages/foo/__init__.py`, `bin/foo`), including the files the
    /// installer writes itself (console scripts, `INSTALLER`, `RECORD`).
    pub files: Vec<String>,
    /// The `.pth` files it installs where `site.py` processes them, with their lines.
    pub pth_files: Vec<PthFile>,
    /// Modules Python imports by itself at every start (`sitecustomize`, `usercustomize`), as
    /// the final paths of the files that would be imported.
    pub startup_hooks: Vec<String>,
    /// Files that would replace the environment's own (its interpreter, activation scripts,
    /// `pyvenv.cfg`, the standard library directory, safevenv's state): never allowed.
    pub environment_files: Vec<EnvironmentFile>,
    /// The directories the archive lists as entries (which may be empty), where they land.
    pub directories: Vec<String>,
    /// Its top-level importable names (`foo` for `foo/` or `foo.py` or `foo.cpython-312-*.so`).
    pub top_level: Vec<String>,
    /// Its console and GUI script names (without `.exe`): every file that lands directly in the
    /// environment's scripts directory, whichever part of the wheel it came from.
    pub scripts: Vec<String>,
    /// Structural problems the archive reader found.
    pub archive_problems: Vec<ArchiveProblem>,
}

impl ContentsFacts {
    /// A digest of every fact here (SHA-256 of their JSON, hex): what the approval of these
    /// facts names, and what the installer recomputes from the wheels it links, so that an
    /// approval of facts that were made up, rather than read from the wheel, installs nothing.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        // Serialising plain structs and vectors cannot fail, and is deterministic.
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(json)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// A file that would land on one the environment itself owns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnvironmentFile {
    /// Its final path, relative to the environment's root.
    pub path: String,
    /// What of the environment it would replace (`the interpreter`, `safevenv's state`).
    pub owner: String,
}

/// A `.pth` file an artifact installs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PthFile {
    /// Its file name (`distutils-precedence.pth`).
    pub name: String,
    /// Its final path, relative to the environment's root.
    pub path: String,
    /// The lines some supported Python may execute at interpreter start, as the wheel reader
    /// classified them (the union of every CPython's reading; see `docs/policy.md`).
    pub code_lines: Vec<PthCodeLine>,
}

/// A line of a `.pth` file that `site.py` may execute.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PthCodeLine {
    /// Its number in the file, from 1.
    pub number: usize,
    /// Its text (bytes that are not UTF-8 shown escaped).
    pub text: String,
    /// For a path line judged as code because it adds an absolute path to `sys.path`: that
    /// path (the line without its line end). `None` for an executable line.
    pub adds_path: Option<PathBuf>,
}

/// A structural problem of an archive: always refused.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArchiveProblem {
    /// What is wrong.
    pub kind: ArchiveProblemKind,
    /// The member it is about, if one.
    pub member: Option<String>,
    /// The reader's description.
    pub detail: String,
}

/// The structural problems the archive reader reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ArchiveProblemKind {
    /// A member path escapes the install directory (`../`, absolute paths).
    PathTraversal,
    /// A symbolic link member.
    Symlink,
    /// A device, FIFO or other special member.
    Device,
    /// The RECORD disagrees with the archive.
    RecordMismatch,
    /// A decompression bomb (size or ratio beyond limits).
    Bomb,
    /// Any other malformation.
    Malformed,
}

/// What the attestation verifier found.
#[derive(Debug, Clone, Default)]
pub struct AttestationFacts {
    /// The verification outcome.
    pub status: AttestationStatus,
    /// The publisher the lockfile recorded for this project, if any.
    pub locked_publisher: Option<Publisher>,
    /// Whether the user accepted a publisher different from the locked one for this run.
    pub publisher_change_accepted: bool,
}

/// The outcome of attestation verification.
#[derive(Debug, Clone, Default)]
pub enum AttestationStatus {
    /// The index offered no attestation (or verification was not attempted).
    #[default]
    Absent,
    /// An attestation was verified; it names this publisher.
    Verified(Publisher),
    /// An attestation was offered but did not verify.
    Invalid {
        /// Why it did not verify.
        reason: String,
    },
}

/// A publisher (PEP 740), as far as the policy compares publishers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// The kind of publisher (`github`, `gitlab`, `google`, `other`).
    pub kind: String,
    /// `owner/name` for GitHub and GitLab; the identity for other kinds.
    pub repository: String,
    /// The workflow file for GitHub, the CI file path for GitLab.
    pub workflow: Option<String>,
    /// The deployment environment, if the certificate states one.
    pub environment: Option<String>,
}

impl std::fmt::Display for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}`", self.kind, self.repository)?;
        if let Some(workflow) = &self.workflow {
            write!(f, ", workflow `{workflow}`")?;
        }
        if let Some(environment) = &self.environment {
            write!(f, ", environment `{environment}`")?;
        }
        Ok(())
    }
}

/// A known vulnerability of a distribution.
#[derive(Debug, Clone)]
pub struct Advisory {
    /// The advisory id (`PYSEC-2024-1`, `GHSA-...`).
    pub id: String,
    /// Other ids of the same advisory (CVE ids).
    pub aliases: Vec<String>,
    /// Its severity, if the advisory states one.
    pub severity: Option<Severity>,
}

/// Advisory severity, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The name as the policy file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// A distribution already installed in the environment.
#[derive(Debug, Clone)]
pub struct InstalledDistribution {
    /// Its name.
    pub name: PackageName,
    /// Its files, relative to the environment's root (as [`ContentsFacts::files`]).
    pub files: Vec<String>,
    /// Its console and GUI scripts.
    pub scripts: Vec<String>,
}
