//! The pipeline behind each command, one public function per operation (cargo's "ops").
//!
//! ```text
//! requirements → resolve → lock → fetch → verify → policy gate → stage → install
//! ```
//!
//! The binary turns arguments into the settings structs here and calls one function; every
//! stage lives in its own crate and this crate only wires them in order.

mod error;
mod export;
mod facts;
mod frozen;
mod input;
mod install;
mod lock;
mod plan;
mod runtime;
mod target;

pub use error::OpsError;
pub use input::{InputError, Inputs};
pub use install::{InstallOutcome, InstallSettings, SyncSettings, install, sync};
pub use lock::{LockFormat, LockOutcome, LockSettings, lock};
pub use target::{TargetError, target_environment, target_interpreter};
