//! Errors of finding and reading policy files. Each names the file; parse errors name the line
//! and the key.

use std::path::PathBuf;

/// A policy could not be loaded. (A policy that refuses a resolved set is not an error of this
/// kind: that is [`crate::Refusals`].)
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("could not read the policy file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key or value is not one the policy knows.
    #[error("invalid policy `{}` at line {line}{}: {message}", path.display(), key.as_ref().map(|key| format!(", key `{key}`")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The 1-based column.
        column: usize,
        /// The dotted key the error is at, when the error is inside a key or value.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// `SAFEVENV_ORG_POLICY` names a file that does not exist.
    #[error("the organisation policy `{}` named by `SAFEVENV_ORG_POLICY` does not exist", path.display())]
    OrgPolicyMissing {
        /// The path from the environment variable.
        path: PathBuf,
    },
    /// A project policy sets a key looser than the organisation policy allows.
    #[error(
        "the project policy `{}` loosens `{key}` of the organisation policy `{}` (organisation: {org_value}; project: {project_value}); a project policy may only tighten it",
        project.display(),
        org.display()
    )]
    Loosening {
        /// The organisation policy file.
        org: PathBuf,
        /// The project policy file.
        project: PathBuf,
        /// The dotted key.
        key: String,
        /// The organisation's value.
        org_value: String,
        /// The project's value.
        project_value: String,
    },
}
