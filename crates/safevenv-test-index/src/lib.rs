//! Test support: build small wheels and serve them from a local package index.
//!
//! Every test that needs an index starts its own on `127.0.0.1` (nothing leaves the machine):
//!
//! - [`WheelSpec`] builds a real wheel (METADATA, WHEEL, entry points, a RECORD with true
//!   hashes), and can also make broken ones for hostile tests (entries left out of RECORD,
//!   `../` names, symlinks, a replaced RECORD). [`SdistSpec`] builds a minimal `.tar.gz` sdist,
//!   [`RawArtifact`] serves any bytes.
//! - [`TestIndex`] serves the simple repository API: PEP 503 HTML and PEP 691 JSON (API 1.1,
//!   with PEP 700 `versions`, `size`, `upload-time`) chosen by `Accept`; PEP 592 yanking,
//!   `requires-python`, PEP 658/714 `.metadata` files, PEP 740 provenance URLs; files with HTTP
//!   ranges. Other spellings of a project name redirect (301) to the normalized page.
//! - Faults ([`Fault`]) can be switched on while it runs, and [`TestIndex::requests`] tells
//!   what clients asked for.
//!
//! ```
//! use safevenv_test_index::{Fault, FaultRule, IndexFile, TestIndex, WheelSpec};
//!
//! let index = TestIndex::builder()
//!     .wheel(WheelSpec::new("demo", "1.0").requires_dist("dep>=1"))
//!     .wheel(WheelSpec::new("dep", "1.2"))
//!     .file(IndexFile::from(WheelSpec::new("demo", "0.9")).yanked(Some("broken")))
//!     .serve_metadata_files(true)
//!     .start()?;
//! assert!(index.url().starts_with("http://127.0.0.1:"));
//! assert!(index.url().ends_with("/simple/"));
//!
//! // The next request for a file fails once with 503.
//! index.set_fault(FaultRule::new(Fault::Status(503)).path_contains("/files/").times(1));
//! assert!(index.requests().is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod artifact;
mod files;
pub mod fuzz;
pub mod packse;
mod pythons;
mod render;
mod server;

pub use artifact::{
    BuildError, BuiltSdist, BuiltWheel, RawArtifact, SdistSpec, WheelSpec, normalize_name,
    sha256_hex,
};
pub use files::IndexFile;
pub use pythons::{PyenvPython, pyenv_pythons};
pub use render::ProjectMeta;
pub use server::{Fault, FaultRule, RequestRecord, TestIndex, TestIndexBuilder, TestIndexError};
