//! Where output goes: status lines and warnings to stderr, coloured only when wanted.

use std::io::Write;

use anstream::ColorChoice;
use owo_colors::OwoColorize;
use safevenv_cli::GlobalArgs;
use safevenv_redact::redact_text;

use crate::diagnostic::Diagnostic;

/// Writes safevenv's human-readable output. Results a command produces for machines go to stdout;
/// everything written here goes to stderr, so `safevenv ... > file` captures only results.
pub struct Printer {
    quiet: bool,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        let choice = match global.color {
            safevenv_cli::ColorChoice::Auto => ColorChoice::Auto,
            safevenv_cli::ColorChoice::Always => ColorChoice::Always,
            safevenv_cli::ColorChoice::Never => ColorChoice::Never,
        };
        choice.write_global();
        Self {
            quiet: global.quiet,
        }
    }

    /// `-v` shows safevenv's debug log, `-vv` its trace log; `RUST_LOG` overrides both.
    pub fn init_logging(&self, verbose: u8) {
        let default = match verbose {
            0 => "warn",
            // Targets match by prefix, so `safevenv` covers every `safevenv_*` crate.
            1 => "safevenv=debug,warn",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(anstream::stderr)
            .with_target(false)
            .without_time()
            .try_init();
    }

    /// A line saying what was done.
    pub fn status(&self, verb: &str, rest: &str) {
        if self.quiet {
            return;
        }
        let _ = writeln!(anstream::stderr(), "{} {rest}", verb.green().bold());
    }

    pub fn warn(&self, message: &str) {
        let message = redact_text(message);
        let _ = writeln!(
            anstream::stderr(),
            "{}: {message}",
            "warning".yellow().bold()
        );
    }

    /// Security: every line goes through [`redact_text`] here, the one place errors are printed,
    /// so a secret in any URL an error names (a signed query, a token in a path, which the
    /// libraries' own redaction of credentials does not cover) never reaches a terminal or a CI log.
    pub fn error(&self, diagnostic: &Diagnostic) {
        let mut out = anstream::stderr().lock();
        let _ = writeln!(
            out,
            "{}: {}",
            "error".red().bold(),
            redact_text(&diagnostic.message)
        );
        for cause in &diagnostic.causes {
            let _ = writeln!(out, "  {}: {}", "caused by".bold(), redact_text(cause));
        }
        for hint in &diagnostic.hints {
            let _ = writeln!(out, "{}: {}", "hint".cyan().bold(), redact_text(hint));
        }
    }
}
