//! The pipeline behind each command, one public function per operation (cargo's "ops").
//!
//! ```text
//! requirements → [build] → resolve → lock → fetch → verify → policy gate → stage → install
//! ```
//!
//! The binary turns arguments into the settings structs here and calls one function; every
//! stage lives in its own crate and this crate only wires them in order.

mod attest;
mod audit;
mod build;
mod check;
mod direct;
mod doctor;
mod edit;
mod error;
mod export;
mod facts;
mod frozen;
mod input;
mod install;
mod listing;
mod lock;
mod outdated;
mod plan;
mod project;
mod resolving;
mod runtime;
mod sbom;
mod show;
mod sources;
mod subject;
mod target;
mod uninstall;
mod verify;

pub use attest::{
    AttestSettings, AttestVerifyOutcome, AttestVerifySettings, AttestationCounts, Evidence,
    attest_verify,
};
pub use audit::{AuditOutcome, AuditSettings, audit};
pub use build::BuildError;
pub use check::{CheckInput, CheckOutcome, CheckSettings, check, policy_init};
pub use direct::DirectError;
pub use doctor::{
    DoctorOutcome, DoctorSettings, EOL_TABLE_DATE, Facts, Finding, Ignored, Location, LockfileFact,
    PYTHON_RELEASES, PythonRelease, RULES, RequirementFact, Rule, RuntimeFact, Severity, diagnose,
    doctor, probe,
};
pub use edit::{EditOutcome, EditSettings, ProjectEdit, edit_project};
pub use error::OpsError;
pub use input::{InputError, Inputs};
pub use install::{InstallOutcome, InstallSettings, SyncSettings, install, sync};
pub use listing::{ListOutcome, ListSettings, Listed, Origin, list};
pub use lock::{LockFormat, LockOutcome, LockSettings, lock};
pub use outdated::{Outdated, OutdatedOutcome, OutdatedSettings, outdated};
pub use project::{Chosen, ProjectInput, SelectionError};
pub use safevenv_installer::InstallError;
pub use safevenv_progress::Progress;
pub use safevenv_project::{EditTarget, ProjectError, Selection};
pub use sbom::{SbomOutcome, SbomSettings, sbom};
pub use show::{Attestations, Release, ShowOutcome, ShowSettings, Vulnerability, show};
pub use subject::{DEFAULT_LOCKFILE, Subject, SubjectError};
pub use target::{
    LayoutProblem, MarkerMessage, TargetError, install_target, system_layout, target_environment,
    target_interpreter,
};
pub use uninstall::{UninstallError, UninstallOutcome, UninstallSettings, uninstall};
pub use verify::{Problem, VerifyOutcome, VerifySettings, verify};
