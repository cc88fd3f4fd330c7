//! The package index client: project pages of the simple repository API (PEP 503 HTML and PEP 691
//! JSON), wheel core metadata (PEP 658 `.metadata` files, else HTTP range requests on the wheel),
//! an on-disk HTTP cache, and where the index URL comes from.
//!
//! Every URL shown in an error or a log line is redacted ([`DisplaySafeUrl`]): credentials never
//! reach a terminal, a log, the cache or a lockfile ([`IndexUrl::url_for_lockfile`]).

// Errors carry the redacted URL by value so that every message names it; one is built per failed
// request, so their size costs nothing measurable, and boxing them would only obscure matching.
#![allow(clippy::result_large_err)]

mod auth;
mod cache;
mod client;
mod download;
mod error;
mod http;
mod index_url;
mod metadata;
mod namespace;
mod provenance;
mod resolve;
mod simple;
mod source;

pub use client::{IndexClient, IndexClientOptions, TTL_ENV};
pub use download::{DownloadError, DownloadSink};
pub use error::IndexError;
pub use http::HttpOptions;
pub use index_url::{IndexUrl, IndexUrlError, IndexUrlSource, IndexUrls};
pub use metadata::{MetadataSource, WheelMetadata};
pub use simple::{CoreMetadataLink, FileEntry, ProjectPage, Yanked};
pub use source::{IndexSource, wheel_dist_metadata};
pub use uv_redacted::DisplaySafeUrl;
