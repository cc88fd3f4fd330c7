//! `safevenv doctor`

use std::io::Write;

use owo_colors::OwoColorize;
use safevenv_cli::{DoctorArgs, DoctorFormat, GlobalArgs};
use safevenv_ops::{DoctorOutcome, DoctorSettings, Severity, doctor};

use crate::commands::audit::{cache, print_stdout, working_dir};
use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &DoctorArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let settings = DoctorSettings {
        environment: args.env.clone(),
        lockfile: args.lockfile.clone(),
        requirement_files: args.requirements.clone(),
        policy: args.policy.clone(),
        audit_db: args.audit_db.clone(),
        cache: cache(global)?,
        working_dir: working_dir()?,
    };
    let outcome = doctor(&settings).map_err(ops_diagnostic)?;
    match args.format {
        DoctorFormat::Text => {
            if !global.quiet {
                print_text(&outcome);
            }
        }
        DoctorFormat::Json => print_stdout(&format!("{:#}\n", outcome.to_json())),
        DoctorFormat::Sarif => print_stdout(&format!("{:#}\n", outcome.to_sarif())),
    }
    let count = |severity| {
        outcome
            .findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    };
    let (errors, warnings, notes) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    if errors == 0 {
        printer.status(
            "Checked",
            &format!(
                "`{}`: no errors, {warnings} warning(s), {notes} note(s)",
                outcome.project_dir.display()
            ),
        );
        return Ok(());
    }
    Err(Diagnostic {
        message: format!(
            "`{}`: {errors} error(s), {warnings} warning(s), {notes} note(s)",
            outcome.project_dir.display()
        ),
        causes: Vec::new(),
        hints: vec![
            "each finding above says how to fix it; rule ids are listed in `docs/doctor.md`"
                .to_string(),
        ],
        failure: Failure::Refused,
    })
}

/// Every finding for people, on standard error (the library redacted every message).
fn print_text(outcome: &DoctorOutcome) {
    let mut out = anstream::stderr().lock();
    for finding in &outcome.findings {
        let severity = match finding.severity {
            Severity::Error => finding.severity.as_str().red().bold().to_string(),
            Severity::Warning => finding.severity.as_str().yellow().bold().to_string(),
            Severity::Info => finding.severity.as_str().cyan().bold().to_string(),
        };
        let _ = writeln!(out, "{severity}[{}]: {}", finding.rule.id, finding.message);
        if let Some(location) = &finding.location {
            let line = location
                .line
                .map(|line| format!(":{line}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  at: `{}{line}`", location.path.display());
        }
        let _ = writeln!(out, "  why: {}", finding.rule.why);
        let _ = writeln!(out, "  {}: {}", "fix".bold(), finding.fix);
    }
}
