//! Errors: each names the file and line (or command-line argument) and shows the offending text
//! with credentials masked.

use std::fmt;
use std::path::PathBuf;

use crate::Origin;
use safevenv_redact::redact_text;

/// Why requirements could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RequirementsError {
    /// A requirements file could not be opened or read.
    #[error("failed to read requirements file `{}`{}", path.display(), included_from_suffix(included_from.as_ref()))]
    Read {
        /// The file.
        path: PathBuf,
        /// The `-r`/`-c` line that named it, if it was included.
        included_from: Option<Origin>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A requirements file is larger than [`crate::MAX_FILE_SIZE`].
    #[error("requirements file `{}` is larger than the limit of {limit} bytes{}", path.display(), included_from_suffix(included_from.as_ref()))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The `-r`/`-c` line that named it, if it was included.
        included_from: Option<Origin>,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A requirements file is not UTF-8 text.
    #[error("requirements file `{}` is not valid UTF-8{}", path.display(), included_from_suffix(included_from.as_ref()))]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The `-r`/`-c` line that named it, if it was included.
        included_from: Option<Origin>,
        /// Where the first invalid byte is.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A line (or command-line specifier) is not valid.
    #[error(transparent)]
    Line(Box<LineError>),
}

fn included_from_suffix(origin: Option<&Origin>) -> String {
    origin.map_or_else(String::new, |origin| format!(" (included from {origin})"))
}

/// An invalid line, with where it is and what it says.
#[derive(Debug)]
pub struct LineError {
    /// Where the line is.
    pub origin: Origin,
    /// The 1-based column (in characters) of the fault, when the parser pinpoints it.
    pub column: Option<usize>,
    /// The line as written (continuations joined, comment removed, `${VAR}` not expanded),
    /// with credentials in URLs masked.
    pub text: String,
    /// What is wrong.
    pub kind: LineErrorKind,
}

impl LineError {
    /// Suggestions for the common mistakes this error may come from.
    pub fn hints(&self) -> Vec<String> {
        let text = self.text.as_str();
        let mut hints = Vec::new();
        match &self.kind {
            LineErrorKind::InvalidRequirement { .. } => {
                let lower = text.to_ascii_lowercase();
                if ["pip install ", "pip3 install ", "python -m pip install ", "python3 -m pip install "]
                    .iter()
                    .any(|prefix| lower.starts_with(prefix))
                {
                    hints.push(
                        "this looks like a `pip install` command: a requirements file lists one requirement per line, without `pip install`".to_string(),
                    );
                } else if text.contains('=')
                    && !["==", ">=", "<=", "!=", "~="]
                        .iter()
                        .any(|operator| text.contains(operator))
                {
                    hints.push("`=` is not a version operator: use `==` to pin a version, as in `name==1.0`".to_string());
                }
                if text.contains('/') || text.starts_with('.') {
                    hints.push(
                        "this looks like a path, but it is neither an existing directory nor a wheel or sdist file name".to_string(),
                    );
                }
            }
            LineErrorKind::MalformedHash { .. } => hints.push(
                "write the algorithm before the digest, as in `--hash=sha256:<hex digest>`".to_string(),
            ),
            LineErrorKind::UnsupportedHashAlgorithm { .. } => hints.push(
                "use a `sha256`, `sha384` or `sha512` digest of the artifact".to_string(),
            ),
            LineErrorKind::HashWithoutRequirement => hints.push(
                "put `--hash` on the requirement's line, or continue that line with a trailing `\\`".to_string(),
            ),
            LineErrorKind::RemoteInclude { .. } => hints.push(
                "download the file, review it, and include it by its local path".to_string(),
            ),
            LineErrorKind::MissingEggName { .. } => hints.push(
                "name the project in the URL fragment, as in `#egg=name`".to_string(),
            ),
            LineErrorKind::InvalidEditable { .. } => hints.push(
                "`-e` takes an existing local directory or a VCS URL such as `git+https://...#egg=name`".to_string(),
            ),
            _ => {}
        }
        hints
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Any URL can end up in a message (an upstream parser quoting its input, say): mask
        // credentials in the whole text, not only in the fields known to hold URLs.
        let mut message = format!("{}\n  in {}", self.kind, self.origin);
        if let Some(column) = self.column {
            message.push_str(&format!(", column {column}"));
        }
        message.push_str(":\n    ");
        message.push_str(&self.text);
        for hint in self.hints() {
            message.push_str("\nhint: ");
            message.push_str(&hint);
        }
        f.write_str(&redact_text(&message))
    }
}

impl std::error::Error for LineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// What is wrong with a line. Values that may hold URLs are stored with credentials masked.
#[derive(Debug, thiserror::Error)]
pub enum LineErrorKind {
    /// An option neither pip nor safevenv knows.
    #[error("unknown option `{option}`")]
    UnknownOption {
        /// The option as written.
        option: String,
    },
    /// An option pip knows but safevenv does not support.
    #[error("option `{option}` is not supported by safevenv")]
    UnsupportedOption {
        /// The option.
        option: String,
    },
    /// An option that takes a value was given none.
    #[error("option `{option}` needs a value")]
    MissingOptionValue {
        /// The option.
        option: String,
    },
    /// A flag was given a value (`--pre=yes`).
    #[error("option `{option}` takes no value")]
    UnexpectedOptionValue {
        /// The option.
        option: String,
    },
    /// The options could not be split into words (an unclosed quote).
    #[error("unbalanced quotes in the options")]
    UnbalancedQuotes,
    /// An argument follows the options (pip would silently ignore it).
    #[error("unexpected argument `{argument}` after the options")]
    UnexpectedArgument {
        /// The argument.
        argument: String,
    },
    /// A global option on a requirement line (pip would silently ignore it).
    #[error("option `{option}` cannot be given on a requirement line")]
    OptionOnRequirementLine {
        /// The option.
        option: String,
    },
    /// `--hash` on a line without a requirement (pip would silently ignore it).
    #[error("`--hash` is given without a requirement")]
    HashWithoutRequirement,
    /// `--hash` on an editable requirement, which is built from source and never hash-checked.
    #[error("`--hash` cannot be given for an editable requirement")]
    HashOnEditable,
    /// `-r`/`-c` shares its line with other options (pip would silently ignore them).
    #[error("option `{option}` must be alone on its line")]
    IncludeNotAlone {
        /// The include option.
        option: String,
    },
    /// More than one `-e` on a line (pip would silently ignore all but the first).
    #[error("only one `-e` may be given on a line")]
    MultipleEditables,
    /// A `--hash` value without `algorithm:`.
    #[error("hash `{value}` does not name its algorithm")]
    MalformedHash {
        /// The value.
        value: String,
    },
    /// A `--hash` algorithm other than sha256, sha384 or sha512.
    #[error("hash algorithm `{algorithm}` is not allowed (allowed: `sha256`, `sha384`, `sha512`)")]
    UnsupportedHashAlgorithm {
        /// The algorithm.
        algorithm: String,
    },
    /// A `--hash` digest that is not hex of the algorithm's length.
    #[error("`{algorithm}` digest `{digest}` is not {expected_len} hex digits")]
    InvalidHashDigest {
        /// The algorithm.
        algorithm: String,
        /// The digest as written.
        digest: String,
        /// The number of hex digits the algorithm gives.
        expected_len: usize,
    },
    /// A requirement that is not valid PEP 508.
    #[error("invalid requirement: {message}")]
    InvalidRequirement {
        /// The PEP 508 parser's message.
        message: String,
    },
    /// An environment marker that is not valid PEP 508.
    #[error("invalid environment marker: {message}")]
    InvalidMarker {
        /// The PEP 508 parser's message.
        message: String,
    },
    /// A URL that cannot be parsed.
    #[error("invalid URL `{url}`")]
    InvalidUrl {
        /// The URL as written, credentials masked.
        url: String,
        /// The parse error.
        #[source]
        source: url::ParseError,
    },
    /// A `file:` URL that names no local path.
    #[error("`{url}` is not a local file URL")]
    InvalidFileUrl {
        /// The URL.
        url: String,
    },
    /// A VCS URL with an `@` but no revision after it.
    #[error("VCS URL `{url}` has an empty revision after `@`")]
    EmptyVcsRevision {
        /// The URL, credentials masked.
        url: String,
    },
    /// An `#egg=` fragment that is not a project name.
    #[error("`#egg={fragment}` is not a valid project name: {message}")]
    InvalidEggFragment {
        /// The fragment value.
        fragment: String,
        /// Why.
        message: String,
    },
    /// A `.whl` path or URL whose file name is not a wheel file name.
    #[error("invalid wheel file name `{filename}`: {message}")]
    InvalidWheelFilename {
        /// The file name.
        filename: String,
        /// Why.
        message: String,
    },
    /// A `[extras]` suffix that is not a list of extra names.
    #[error("invalid extras `{extras}`")]
    InvalidExtras {
        /// The extras as written.
        extras: String,
    },
    /// An `-e` value that is neither a directory nor a VCS URL.
    #[error("`{value}` is not a valid editable requirement")]
    InvalidEditable {
        /// The value, credentials masked.
        value: String,
    },
    /// An editable VCS URL without `#egg=name`.
    #[error("cannot tell the project name of editable `{url}`")]
    MissingEggName {
        /// The URL, credentials masked.
        url: String,
    },
    /// `-r https://...`: safevenv reads requirements files only from disk.
    #[error("remote requirements file `{url}` is not supported")]
    RemoteInclude {
        /// The URL, credentials masked.
        url: String,
    },
    /// A file includes itself, directly or through others.
    #[error(
        "requirements files include each other in a cycle: {}",
        format_chain(chain)
    )]
    IncludeCycle {
        /// The files, from the first to the one included again.
        chain: Vec<PathBuf>,
    },
    /// Includes nest deeper than [`crate::MAX_INCLUDE_DEPTH`].
    #[error("requirements files are nested more than {limit} levels deep")]
    IncludeTooDeep {
        /// The limit.
        limit: usize,
    },
    /// An `--only-binary`/`--no-binary` item that is not a project name.
    #[error("invalid project name `{name}` in `{option}`: {message}")]
    InvalidPackageName {
        /// The option.
        option: String,
        /// The item.
        name: String,
        /// Why.
        message: String,
    },
    /// Two different `--index-url`s: pip would silently use the last one, replacing the index
    /// every other requirement was meant to come from.
    #[error("index URL `{url}` conflicts with index URL `{previous_url}` set in {previous}")]
    ConflictingIndexUrl {
        /// The new URL, credentials masked.
        url: String,
        /// The URL set before, credentials masked.
        previous_url: String,
        /// Where it was set.
        previous: Origin,
    },
}

fn format_chain(chain: &[PathBuf]) -> String {
    chain
        .iter()
        .map(|path| format!("`{}`", path.display()))
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// A line fault before it is placed at its origin.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: LineErrorKind,
    /// 0-based character offset into the text handed to the parser, when known.
    pub(crate) offset: Option<usize>,
}

impl Failure {
    /// Place the fault at `origin`. `text` is the line as displayed; `offset_applies` says
    /// whether the offset indexes it (it does not when `${VAR}` expansion changed the line).
    pub(crate) fn at(self, origin: Origin, text: &str, offset_applies: bool) -> RequirementsError {
        RequirementsError::Line(Box::new(LineError {
            origin,
            column: self
                .offset
                .filter(|_| offset_applies)
                .map(|offset| offset + 1),
            text: redact_text(text).into_owned(),
            kind: self.kind,
        }))
    }
}

impl From<LineErrorKind> for Failure {
    fn from(kind: LineErrorKind) -> Self {
        Self { kind, offset: None }
    }
}
