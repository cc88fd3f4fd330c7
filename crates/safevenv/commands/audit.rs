//! `safevenv audit`

use std::io::Write;
use std::path::PathBuf;

use safevenv_cache::Cache;
use safevenv_cli::{AuditArgs, AuditFormat, GlobalArgs, SubjectArgs};
use safevenv_ops::{AuditSettings, Subject, audit};

use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &AuditArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let subject = match &args.requirement {
        Some(path) => Subject::Requirements(path.clone()),
        None => subject(&args.subject),
    };
    let settings = AuditSettings {
        subject,
        db: args.db.clone(),
        osv_url: args.osv_url.clone(),
        ignore: args.ignore.clone(),
        cache: cache(global)?,
        working_dir: working_dir()?,
    };
    let outcome = audit(&settings).map_err(ops_diagnostic)?;
    for name in &outcome.skipped {
        printer.warn(&format!(
            "`{name}` has no version in the lockfile and was not audited"
        ));
    }
    let report = &outcome.report;
    let subject = outcome.subject.display().to_string();
    print_stdout(&match args.format {
        AuditFormat::Table => safevenv_audit::render_table(report),
        AuditFormat::Json => safevenv_audit::render_json(report),
        AuditFormat::Sarif => safevenv_audit::render_sarif(report, &subject),
    });
    if report.is_clean() {
        printer.status(
            "Audited",
            &format!(
                "{} distributions of `{subject}`: no known vulnerabilities",
                outcome.audited
            ),
        );
        return Ok(());
    }
    let mut hints = Vec::new();
    if !report.findings.is_empty() {
        hints.push(
            "upgrade to the fixed versions shown, or pass `--ignore ID` for an advisory you have reviewed"
                .to_string(),
        );
    }
    if !report.unreadable.is_empty() {
        hints.push(format!(
            "{} advisory record(s) about these distributions could not be read; they may hide a vulnerability",
            report.unreadable.len()
        ));
    }
    Err(Diagnostic {
        message: format!(
            "{} known vulnerabilit{} in {} distributions of `{subject}`",
            report.findings.len(),
            if report.findings.len() == 1 {
                "y"
            } else {
                "ies"
            },
            outcome.audited
        ),
        causes: Vec::new(),
        hints,
        failure: Failure::Refused,
    })
}

/// The lockfile or environment named on the command line, else the default.
pub fn subject(args: &SubjectArgs) -> Subject {
    match (&args.lockfile, &args.env) {
        (Some(lockfile), _) => Subject::Lockfile(lockfile.clone()),
        (None, Some(env)) => Subject::Environment(env.clone()),
        (None, None) => Subject::Auto,
    }
}

pub fn cache(global: &GlobalArgs) -> Result<Cache, Diagnostic> {
    Cache::from_settings(global.cache_dir.clone())
        .map_err(|err| Diagnostic::from_error(&err, Failure::Internal))
}

pub fn working_dir() -> Result<PathBuf, Diagnostic> {
    std::env::current_dir().map_err(|err| Diagnostic::from_error(&err, Failure::Internal))
}

/// A report on standard output; a closed pipe (`| head`) is not an error worth reporting.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
