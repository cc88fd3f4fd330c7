//! Why a lockfile was refused.

use std::fmt;
use std::path::PathBuf;

use uv_distribution_filename::{SourceDistFilenameError, WheelFilenameError};
use uv_normalize::{InvalidNameError, PackageName};
use uv_pep440::{Version, VersionParseError, VersionSpecifiersParseError};
use uv_pep508::Pep508Error;

/// A lockfile could not be read, or was refused.
///
/// Every variant names the lockfile (`origin`: its path, or what the caller said it is).
/// `Display` and `source` are written by hand so that a refusal reads as one line naming the
/// field and the rule, while the cause behind the rule (e.g. the marker parser's explanation)
/// is still the next error in the chain.
#[derive(Debug)]
pub enum LockError {
    /// The file could not be read (safevenv failed, not the lockfile).
    Read {
        /// The lockfile's path.
        path: PathBuf,
        /// The I/O error (from `fs-err`, so it names the path too).
        source: std::io::Error,
    },
    /// The text is not TOML.
    Toml {
        /// The lockfile.
        origin: String,
        /// The TOML parser's error, with line and column.
        source: toml::de::Error,
    },
    /// The text is TOML, but one field breaks a rule of PEP 751.
    Invalid {
        /// The lockfile.
        origin: String,
        /// The field at fault, as a path such as `packages[2].wheels[0].hashes`.
        field: String,
        /// The rule it breaks.
        violation: Violation,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, .. } => write!(f, "cannot read lockfile `{}`", path.display()),
            Self::Toml { origin, .. } => write!(f, "lockfile `{origin}` is not valid TOML"),
            Self::Invalid {
                origin,
                field,
                violation,
            } => write!(f, "lockfile `{origin}` is invalid: `{field}`: {violation}"),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Toml { source, .. } => Some(source),
            // The violation is already in this error's message; its own cause is next.
            Self::Invalid { violation, .. } => std::error::Error::source(violation),
        }
    }
}

impl LockError {
    /// The field at fault, if the lockfile was refused for one of its fields.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::Read { .. } | Self::Toml { .. } => None,
        }
    }

    /// The rule that was broken, if the lockfile was refused for one of its fields.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Self::Invalid { violation, .. } => Some(violation),
            Self::Read { .. } | Self::Toml { .. } => None,
        }
    }
}

/// One rule of PEP 751 (or of safevenv's reading of it) that a field breaks.
///
/// The messages are written to follow ``lockfile `x` is invalid: `field`: ``.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A required key is absent.
    #[error("missing")]
    Missing,
    /// The value has the wrong TOML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The TOML type PEP 751 requires.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A key PEP 751 does not define, in a lockfile whose `lock-version` this reader fully
    /// knows. Extra data belongs under `[tool]`.
    #[error("unknown key; tool-specific data belongs under a `tool` table")]
    UnknownKey,
    /// `lock-version` is not a version number.
    #[error("`{value}` is not a version number")]
    InvalidLockVersion {
        /// The value found.
        value: String,
        /// Why it does not parse.
        #[source]
        source: VersionParseError,
    },
    /// `lock-version` has a major version this reader does not support.
    #[error("version `{version}` is not supported; safevenv reads lock-version 1.x")]
    UnsupportedLockVersion {
        /// The version found.
        version: Version,
    },
    /// A package version is not a PEP 440 version.
    #[error("`{value}` is not a valid PEP 440 version")]
    InvalidVersion {
        /// The value found.
        value: String,
        /// Why it does not parse.
        #[source]
        source: VersionParseError,
    },
    /// A package, extra or dependency group name is not a valid name.
    #[error("`{value}` is not a valid name")]
    InvalidName {
        /// The value found.
        value: String,
        /// Why it is not a name.
        #[source]
        source: InvalidNameError,
    },
    /// A name is valid but not written in its normalized form, which PEP 751 requires.
    #[error("`{value}` is not normalized; write `{normalized}`")]
    NameNotNormalized {
        /// The value found.
        value: String,
        /// Its normalized form.
        normalized: String,
    },
    /// An environment marker does not parse.
    #[error("`{value}` is not a valid environment marker")]
    InvalidMarker {
        /// The value found.
        value: String,
        /// The marker parser's error.
        #[source]
        source: Box<Pep508Error>,
    },
    /// A `requires-python` value is not a list of PEP 440 version specifiers.
    #[error("`{value}` is not a valid version specifier")]
    InvalidSpecifiers {
        /// The value found.
        value: String,
        /// Why it does not parse.
        #[source]
        source: Box<VersionSpecifiersParseError>,
    },
    /// A package names more than one kind of source.
    #[error(
        "sets {sources}; a package has exactly one of `vcs`, `directory`, `archive`, or `sdist` and/or `wheels`"
    )]
    ConflictingSources {
        /// The source keys that are set, e.g. `` `vcs`, `wheels` ``.
        sources: String,
    },
    /// A package names no source at all.
    #[error("no source; a package has one of `vcs`, `directory`, `archive`, `sdist` or `wheels`")]
    NoSource,
    /// A file or repository has neither `path` nor `url`.
    #[error("neither `path` nor `url` is set")]
    NoPathOrUrl,
    /// A URL does not parse.
    #[error("`{value}` is not a valid URL")]
    InvalidUrl {
        /// The value found.
        value: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// `vcs.type` is not one of the version control systems registered for direct URLs.
    #[error("`{value}` is not a registered version control system (git, hg, bzr, svn)")]
    UnknownVcs {
        /// The value found.
        value: String,
    },
    /// A `hashes` table is empty.
    #[error("empty; at least one hash is required")]
    NoHashes,
    /// A hash value has the wrong form for its algorithm.
    #[error("`{value}` is not a {algorithm} digest ({expected_len} hexadecimal digits)")]
    MalformedHash {
        /// The algorithm (the key).
        algorithm: String,
        /// The value found.
        value: String,
        /// How many hexadecimal digits the algorithm's digest has.
        expected_len: usize,
    },
    /// A hash value of an algorithm we do not know is empty.
    #[error("empty hash value")]
    EmptyHash,
    /// An upload time is a TOML date or time alone, not a date and time.
    #[error("`{value}` is not a date and time")]
    NotADatetime {
        /// The value found.
        value: String,
    },
    /// An upload time carries an offset other than UTC.
    #[error("`{value}` is not in UTC")]
    NotUtc {
        /// The value found.
        value: String,
    },
    /// A file size is negative.
    #[error("`{value}` is negative")]
    NegativeSize {
        /// The value found.
        value: i64,
    },
    /// The file name of an artifact cannot be told from `name`, `path` or `url`.
    #[error("cannot tell the file name; set `name`, `path` or `url`")]
    NoFileName,
    /// A wheel's file name is not a valid wheel file name.
    #[error("`{filename}` is not a valid wheel file name")]
    InvalidWheelFilename {
        /// The file name.
        filename: String,
        /// Why it does not parse.
        #[source]
        source: Box<WheelFilenameError>,
    },
    /// An sdist's file name does not end in `.tar.gz` or `.zip`.
    #[error("`{filename}` is not an sdist file name (`.tar.gz` or `.zip`)")]
    SdistExtension {
        /// The file name.
        filename: String,
    },
    /// An sdist's file name does not parse as `{name}-{version}` of its package.
    #[error("`{filename}` is not an sdist file name of package `{package}`")]
    InvalidSdistFilename {
        /// The file name.
        filename: String,
        /// The package it is listed under.
        package: PackageName,
        /// Why it does not parse.
        #[source]
        source: Box<SourceDistFilenameError>,
    },
    /// An artifact's file name is for another package than the one it is listed under.
    #[error("`{filename}` is an artifact of `{found}`, not of package `{expected}`")]
    FilenameNameMismatch {
        /// The file name.
        filename: String,
        /// The package name in the file name.
        found: PackageName,
        /// The package it is listed under.
        expected: PackageName,
    },
    /// An artifact's file name has another version than its package's `version`.
    #[error("`{filename}` has version `{found}`, but the package has version `{expected}`")]
    FilenameVersionMismatch {
        /// The file name.
        filename: String,
        /// The version in the file name.
        found: Version,
        /// The package's `version`.
        expected: Version,
    },
}
