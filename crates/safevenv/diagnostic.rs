//! Errors as the user sees them: what failed, why (the chain of causes), and what to do (hints).

use std::error::Error;
use std::process::ExitCode;

/// Why a command failed; decides the exit code (documented in `docs/cli.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// safevenv itself, or something it depends on (disk, network, an interpreter), failed.
    Internal,
    /// The user's input was refused: bad arguments, an unusable path, a malformed file.
    Input,
    /// The policy refused what would have been installed; nothing was changed.
    Refused,
}

/// A failure ready to print: a short message, its causes, and hints with the fix.
#[derive(Debug)]
pub struct Diagnostic {
    pub message: String,
    pub causes: Vec<String>,
    pub hints: Vec<String>,
    pub failure: Failure,
}

impl Diagnostic {
    /// Takes the error's own message and walks its `source()` chain for the causes.
    pub fn from_error(error: &(dyn Error + 'static), failure: Failure) -> Self {
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        Self {
            message: error.to_string(),
            causes,
            hints: Vec::new(),
            failure,
        }
    }

    pub fn with_hints(mut self, hints: impl IntoIterator<Item = String>) -> Self {
        self.hints.extend(hints);
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.failure {
            Failure::Internal => ExitCode::from(1),
            Failure::Input => ExitCode::from(2),
            Failure::Refused => ExitCode::from(3),
        }
    }
}
