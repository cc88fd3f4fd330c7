//! The fetch stage of the install pipeline (requirements → resolve → lock → **fetch** → verify →
//! policy gate → stage → install): download artifacts pinned by SHA-256 into a content-addressed
//! cache, and prove that each was checked.
//!
//! - There is no fetch without a pinned hash ([`ArtifactRequest::expected`]).
//! - Every byte written to the cache is hashed while it streams in, and the digest must equal the
//!   pinned one before the file is renamed to its entry,
//!   `archives-v1/sha256/<aa>/<hex>/<filename>`. A mismatch is [`FetchError::HashMismatch`] and
//!   leaves nothing in the cache; so does a size other than the index advertised.
//! - Entries appear whole or not at all (temporary file in the same directory, then a rename); a
//!   crash leaves only temporary files, never read as entries and removed later.
//! - A cache hit is hashed again before use, unless a record beside it shows the file unchanged
//!   (same inode and change time, which no unprivileged writer can set back) since it was last
//!   hashed. [`HashVerified`], which only this crate can make, is the proof the later stages ask
//!   for.
//! - A local artifact (a `file:` URL: a wheel the user named by path) is copied in through the
//!   same hashing sink and the same check, so what is installed is the copy whose digest matched.
//! - A batch is all or nothing: the first failure cancels the other downloads.
//!
//! Downloads go through [`safevenv_index::IndexClient::download`] (credentials, timeouts,
//! retries, its concurrency limit), several at once ([`FetchOptions::concurrency`]), with
//! progress bars on a terminal.

// Errors carry the redacted URL and digests by value so that every message names them; at most one
// is built per batch, so their size costs nothing measurable (as in safevenv-index).
#![allow(clippy::result_large_err)]

mod digest;
mod entry;
mod error;
mod fetcher;
mod progress;

pub use digest::{InvalidSha256, Sha256};
pub use error::FetchError;
pub use fetcher::{
    ArtifactRequest, DEFAULT_MAX_SIZE, FetchOptions, FetchedArtifact, Fetcher, HashVerified,
};
