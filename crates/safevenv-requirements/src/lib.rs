//! Read pip-compatible requirements files and command-line requirement specifiers.
//!
//! The reader follows pip's own (23.x) requirements-file reader step by step, so that a file means
//! here what it means to pip: physical lines are split as Python's `str.splitlines` does, joined
//! at a trailing `\`, stripped of comments (`#` at the start or after whitespace, so a URL's
//! `#sha256=` fragment is kept), then `${VAR}` references are expanded. What pip would silently
//! ignore (an option it drops on a requirement line, a second `-r` on one line, stray arguments)
//! is refused here instead, since a requirements file that does not mean what it says is a
//! security problem for an installer that promises to install only what was asked for.
//!
//! Every requirement keeps its [`RequirementSource`] (index, direct URL, VCS or local path) and
//! every index option keeps the file and line it came from: the policy gate judges them; this
//! crate only reports them faithfully.

mod error;
mod lines;
mod options;
mod parser;
mod requirement;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use uv_normalize::{ExtraName, PackageName};
use uv_pep440::VersionSpecifiers;
use uv_pep508::MarkerTree;
use uv_redacted::DisplaySafeUrl;

pub use crate::error::{LineError, LineErrorKind, RequirementsError};
pub use safevenv_redact::redact_text;

/// The largest requirements file read, in bytes: a larger one is refused rather than read whole.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// How deep `-r`/`-c` includes may nest before the reader gives up.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// Where `${VAR}` references in requirements files are looked up.
#[derive(Debug, Clone, Default)]
pub enum Environment {
    /// The process environment, as pip does.
    #[default]
    Process,
    /// A fixed set of variables (used by tests and by callers that sandbox the environment).
    Fixed(BTreeMap<String, String>),
}

impl Environment {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Self::Process => std::env::var(name).ok(),
            Self::Fixed(vars) => vars.get(name).cloned(),
        }
    }
}

/// Settings for reading requirements.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// The directory that relative requirement paths (`./pkg`, `dist/x.whl`) are relative to.
    ///
    /// pip resolves them against the current directory, not against the requirements file;
    /// `None` means the current directory. Paths are reported as written either way.
    pub working_dir: Option<PathBuf>,
    /// Where `${VAR}` references are looked up.
    pub environment: Environment,
}

/// Where an entry or an option came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A line of a requirements file (the first physical line of a continued line, as pip counts).
    File {
        /// The file, as given or as joined to the including file's directory.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
    },
    /// A requirement given on the command line.
    CommandLine {
        /// The 1-based position among the requirement arguments.
        argument: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, line } => write!(f, "`{}` at line {line}", path.display()),
            Self::CommandLine { argument } => write!(f, "command-line argument {argument}"),
        }
    }
}

/// A value together with where it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was given.
    pub origin: Origin,
}

/// A hash algorithm pip accepts for `--hash` (its `STRONG_HASHES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The name as written in `--hash=<name>:<digest>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The length of a hex digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An expected artifact hash from a `--hash` option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hash {
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// The digest, lowercase hex of the algorithm's length.
    pub digest: String,
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.digest)
    }
}

/// A version control system pip can install from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VcsKind {
    /// `git+...`
    Git,
    /// `hg+...`
    Mercurial,
    /// `svn+...`
    Subversion,
    /// `bzr+...`
    Bazaar,
}

impl VcsKind {
    /// The URL scheme prefix (`git`, `hg`, `svn`, `bzr`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Git => "git",
            Self::Mercurial => "hg",
            Self::Subversion => "svn",
            Self::Bazaar => "bzr",
        }
    }
}

impl fmt::Display for VcsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a requirement is to be installed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequirementSource {
    /// A distribution chosen from the index by name and version specifier (`name>=1`).
    Registry {
        /// The version specifiers; empty for any version.
        specifier: VersionSpecifiers,
    },
    /// An artifact at a URL (`name @ https://...`, or a bare URL); the fragment is kept as given.
    DirectUrl {
        /// The URL.
        url: DisplaySafeUrl,
    },
    /// A version control repository (`git+https://...@rev#egg=name`, `name @ git+https://...`).
    Vcs {
        /// The version control system.
        vcs: VcsKind,
        /// The repository URL, without the `git+` prefix, the `@rev` and the fragment.
        url: DisplaySafeUrl,
        /// The revision after `@` (a branch, tag or commit): `None` means the default branch.
        rev: Option<String>,
        /// The `subdirectory=` fragment: where the project lies within the repository.
        subdirectory: Option<String>,
        /// Whether it was given with `-e`.
        editable: bool,
    },
    /// A local directory or artifact (`./pkg`, `dist/x.whl`, `file:///...`).
    Path {
        /// The path as written; a relative path is relative to [`ParseOptions::working_dir`].
        path: PathBuf,
        /// Whether it was given with `-e`.
        editable: bool,
    },
}

/// A requirement: what to install and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The project name; `None` for a URL or path that does not tell it (an sdist or a
    /// directory without `#egg=`): it is known only once the artifact is built.
    pub name: Option<PackageName>,
    /// The extras asked for.
    pub extras: Vec<ExtraName>,
    /// The environment marker; always true when none was given.
    pub marker: MarkerTree,
    /// Where to install it from.
    pub source: RequirementSource,
}

/// One requirement line of a requirements file, or one command-line specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The requirement.
    pub requirement: Requirement,
    /// The `--hash` options of the line, in order.
    pub hashes: Vec<Hash>,
    /// Where it was given.
    pub origin: Origin,
}

/// A `--find-links` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindLinks {
    /// A page of links or an index at a URL.
    Url(DisplaySafeUrl),
    /// A local directory or HTML file. As pip does, a relative path is taken relative to the
    /// requirements file's directory when it exists there, and as written otherwise.
    Path(PathBuf),
}

/// The projects an `--only-binary`/`--no-binary` item applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinarySelector {
    /// `:all:`
    All,
    /// `:none:` (resets the earlier items of the same option, as in pip)
    None,
    /// One project.
    Package(PackageName),
}

/// The parsed contents of a requirements file and the files it includes, merged in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequirementsTxt {
    /// Requirements to install (from the file and its `-r` includes).
    pub requirements: Vec<Entry>,
    /// Constraints (from `-c` includes): they limit versions but install nothing by themselves.
    pub constraints: Vec<Entry>,
    /// The `-i/--index-url` in force, and where it was set.
    pub index_url: Option<Located<DisplaySafeUrl>>,
    /// Every `--extra-index-url`, in order.
    pub extra_index_urls: Vec<Located<DisplaySafeUrl>>,
    /// Every `-f/--find-links`, in order.
    pub find_links: Vec<Located<FindLinks>>,
    /// Where `--no-index` was given, if it was.
    pub no_index: Option<Origin>,
    /// Where `--pre` was given, if it was.
    pub pre: Option<Origin>,
    /// Where `--prefer-binary` was given, if it was.
    pub prefer_binary: Option<Origin>,
    /// Where `--require-hashes` was given, if it was.
    pub require_hashes: Option<Origin>,
    /// Every `--only-binary` item, in order.
    pub only_binary: Vec<Located<BinarySelector>>,
    /// Every `--no-binary` item, in order.
    pub no_binary: Vec<Located<BinarySelector>>,
    /// Every `--trusted-host` (a host whose TLS errors pip would ignore), in order.
    pub trusted_hosts: Vec<Located<String>>,
}

impl RequirementsTxt {
    /// Read a requirements file and the files it includes.
    pub fn parse_file(
        path: impl AsRef<Path>,
        options: &ParseOptions,
    ) -> Result<Self, RequirementsError> {
        parser::Parser::new(options).parse_root_file(path.as_ref())
    }

    /// Read requirements from `contents`, as if they were the file at `origin_path` (which names
    /// the lines in errors and anchors relative `-r`/`-c` includes; it need not exist).
    pub fn parse_str(
        contents: &str,
        origin_path: impl AsRef<Path>,
        options: &ParseOptions,
    ) -> Result<Self, RequirementsError> {
        parser::Parser::new(options).parse_root_str(contents, origin_path.as_ref())
    }
}

/// Parse requirement specifiers given on the command line (`safevenv install PKG...`).
///
/// Each argument is one requirement, read as pip reads a requirement line (names with
/// specifiers, `name @ url`, bare URLs and paths), without options, comments or `${VAR}`
/// expansion (the shell has expanded the arguments already).
pub fn parse_cli_specifiers(
    specifiers: &[String],
    options: &ParseOptions,
) -> Result<Vec<Entry>, RequirementsError> {
    specifiers
        .iter()
        .enumerate()
        .map(|(index, specifier)| {
            let origin = Origin::CommandLine {
                argument: index + 1,
            };
            let requirement = requirement::parse_requirement(specifier, options)
                .map_err(|failure| failure.at(origin.clone(), specifier, true))?;
            Ok(Entry {
                requirement,
                hashes: Vec::new(),
                origin,
            })
        })
        .collect()
}
