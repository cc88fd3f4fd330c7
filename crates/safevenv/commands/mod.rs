//! One module per command; each turns its arguments into settings and calls one library function.

pub mod attest;
pub mod audit;
pub mod create;
pub mod doctor;
pub mod install;
pub mod listing;
pub mod lock;
pub mod outdated;
pub mod policy;
pub mod project;
pub mod sbom;
pub mod show;
pub mod uninstall;
pub mod verify;
