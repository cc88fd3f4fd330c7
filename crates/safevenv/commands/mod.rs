//! One module per command; each turns its arguments into settings and calls one library function.

pub mod create;
pub mod install;
pub mod lock;
