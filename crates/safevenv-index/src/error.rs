//! The errors of the index client. Every variant names the (redacted) URL it is about.

use std::path::PathBuf;

use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_redacted::DisplaySafeUrl;

/// A failure to fetch or understand something from an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The server could not be reached.
    #[error("cannot connect to `{url}`")]
    Connect {
        /// The URL asked for.
        url: DisplaySafeUrl,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server did not answer in time.
    #[error("the request to `{url}` timed out")]
    Timeout {
        /// The URL asked for.
        url: DisplaySafeUrl,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The request or the reading of its body failed (connection reset, truncated body, ...).
    #[error("the request to `{url}` failed")]
    Request {
        /// The URL asked for.
        url: DisplaySafeUrl,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an unexpected HTTP status.
    #[error("`{url}` answered HTTP {status}")]
    Status {
        /// The URL asked for.
        url: DisplaySafeUrl,
        /// The status code.
        status: u16,
    },
    /// The body ended before the length the server announced.
    #[error("the body of `{url}` ended after {received} of {expected} bytes")]
    Truncated {
        /// The URL asked for.
        url: DisplaySafeUrl,
        /// The announced `Content-Length`.
        expected: u64,
        /// The bytes received.
        received: u64,
    },
    /// The body is larger than the limit for its kind.
    #[error("the body of `{url}` is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The URL asked for.
        url: DisplaySafeUrl,
        /// The limit in bytes.
        limit: u64,
    },
    /// A project page is neither JSON nor HTML.
    #[error("the project page `{url}` has the unexpected content type `{content_type}`")]
    ContentType {
        /// The page URL.
        url: DisplaySafeUrl,
        /// The `Content-Type` received.
        content_type: String,
    },
    /// A project page or metadata file is not UTF-8.
    #[error("`{url}` is not valid UTF-8")]
    NotUtf8 {
        /// The URL.
        url: DisplaySafeUrl,
    },
    /// A PEP 691 JSON project page does not parse.
    #[error("the project page `{url}` is not valid PEP 691 JSON")]
    Json {
        /// The page URL.
        url: DisplaySafeUrl,
        /// What was wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A PEP 503 HTML project page does not parse.
    #[error("the project page `{url}` is not valid HTML: {reason}")]
    Html {
        /// The page URL.
        url: DisplaySafeUrl,
        /// What was wrong.
        reason: String,
    },
    /// A link on a project page is not a valid URL.
    #[error("the project page `{url}` links to `{href}`, which is not a valid URL")]
    Link {
        /// The page URL.
        url: DisplaySafeUrl,
        /// The link as written.
        href: String,
        /// The parse error.
        #[source]
        source: url::ParseError,
    },
    /// The page speaks a major version of the simple API that we do not understand (PEP 629).
    #[error(
        "the project page `{url}` uses version `{version}` of the simple repository API; safevenv understands version 1"
    )]
    UnsupportedApiVersion {
        /// The page URL.
        url: DisplaySafeUrl,
        /// The version announced.
        version: String,
    },
    /// A file's core metadata (PEP 658) does not match the hash the index advertised for it.
    #[error("the metadata `{url}` has SHA-256 `{actual}`, but the index advertised `{expected}`")]
    MetadataHashMismatch {
        /// The metadata URL.
        url: DisplaySafeUrl,
        /// The advertised digest.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },
    /// The core metadata does not parse.
    #[error("the metadata of `{filename}` (from `{url}`) is invalid")]
    Metadata {
        /// The artifact URL.
        url: DisplaySafeUrl,
        /// The artifact's file name.
        filename: String,
        /// The parse error.
        #[source]
        source: Box<uv_pypi_types::MetadataError>,
    },
    /// The core metadata describes another distribution than the wheel's file name.
    #[error("the metadata of `{filename}` (from `{url}`) describes `{name}` `{version}`")]
    MetadataMismatch {
        /// The artifact URL.
        url: DisplaySafeUrl,
        /// The artifact's file name.
        filename: String,
        /// The name in the metadata.
        name: PackageName,
        /// The version in the metadata.
        version: Version,
    },
    /// The artifact is not a wheel, so its metadata cannot be read without building it.
    #[error("`{filename}` (from `{url}`) is not a wheel")]
    NotAWheel {
        /// The artifact URL.
        url: DisplaySafeUrl,
        /// The artifact's file name.
        filename: String,
    },
    /// No wheel was found for a distribution.
    #[error("`{name}` `{version}` has no wheel on the index")]
    NoWheel {
        /// The project.
        name: PackageName,
        /// The version.
        version: Version,
    },
    /// The project is on none of the indexes.
    #[error("`{name}` was not found on the index `{indexes}`")]
    ProjectNotFound {
        /// The project.
        name: PackageName,
        /// The (redacted) indexes searched, comma-separated.
        indexes: String,
    },
    /// With several indexes, one could not say whether it serves a project; the lookup fails
    /// closed (a name on two indexes is refused, and an index that did not answer might hold
    /// it).
    #[error(
        "cannot tell whether the index `{index}` serves `{name}`, so whether `{name}` is on two indexes\n\
         hint: a name on two indexes is refused (dependency confusion); retry once `{index}` answers, \
         remove it from the configured indexes, or pin `{name}` to one index in `[sources.packages]` of the policy"
    )]
    Unanswered {
        /// The project.
        name: PackageName,
        /// The (redacted) index that did not answer.
        index: String,
        /// Why.
        #[source]
        source: Box<IndexError>,
    },
    /// The wheel is not a readable zip archive.
    #[error("the wheel `{url}` is not a readable zip archive")]
    Zip {
        /// The artifact URL.
        url: DisplaySafeUrl,
        /// The zip error.
        #[source]
        source: zip::result::ZipError,
    },
    /// The wheel has no `.dist-info` directory for its own name and version.
    #[error("the wheel `{url}` has no `{expected}` directory")]
    MissingDistInfo {
        /// The artifact URL.
        url: DisplaySafeUrl,
        /// The directory looked for.
        expected: String,
    },
    /// The wheel has several `.dist-info` directories.
    #[error("the wheel `{url}` has several `.dist-info` directories: {dirs}")]
    AmbiguousDistInfo {
        /// The artifact URL.
        url: DisplaySafeUrl,
        /// The directories found.
        dirs: String,
    },
    /// A range request was answered with a `Content-Range` that does not fit what was asked.
    #[error("`{url}` answered a range request with the invalid `Content-Range` `{value}`")]
    ContentRange {
        /// The artifact URL.
        url: DisplaySafeUrl,
        /// The header value (or `missing`).
        value: String,
    },
    /// Offline mode and the cache has no entry.
    #[error("`{url}` is not in the cache and safevenv is offline")]
    OfflineMiss {
        /// The URL that would have been fetched.
        url: DisplaySafeUrl,
    },
    /// `SAFEVENV_INDEX_TTL` is not a number of seconds.
    #[error("`SAFEVENV_INDEX_TTL` is `{value}`, not a number of seconds")]
    InvalidTtl {
        /// The value found.
        value: String,
    },
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("cannot build the HTTP client")]
    ClientBuild {
        /// The builder error.
        #[source]
        source: reqwest::Error,
    },
    /// A cache directory could not be made or an entry written.
    #[error(transparent)]
    Cache(#[from] safevenv_cache::CacheError),
    /// A cache entry could not be read (other than not existing).
    #[error("cannot read the cache entry `{}`", path.display())]
    CacheRead {
        /// The entry's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl IndexError {
    /// Whether this error may go away by itself on a later try.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } | Self::Truncated { .. } => true,
            Self::Request { source, .. } => !source.is_builder() && !source.is_redirect(),
            Self::Status { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }
}

/// 5xx and 429 are worth a retry; any other 4xx is the client's fault and never is.
pub(crate) fn is_transient_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}
