//! Find Python interpreters and probe what they are.
//!
//! An [`Interpreter`] is the result of running one small script in the interpreter (isolated mode,
//! cached per executable). [`find_interpreter`] turns a [`PythonRequest`] (`--python 3.12`, a path,
//! a name) or the default search into one.

mod discovery;
mod externally_managed;
mod interpreter;

pub use discovery::{
    DiscoveryError, PythonRequest, Rejection, RequestError, SearchPaths, VersionRequest,
    find_interpreter, find_interpreter_in,
};
pub use externally_managed::{ExternallyManaged, MARKER as EXTERNALLY_MANAGED};
pub use interpreter::{Interpreter, MIN_PYTHON, ProbeError, SchemePaths, TagsError};
