//! `safevenv outdated`

use safevenv_cli::{GlobalArgs, OutdatedArgs, ReportFormat};
use safevenv_ops::{OutdatedOutcome, OutdatedSettings, outdated};
use serde_json::json;

use crate::commands::audit::{cache, print_stdout, subject, working_dir};
use crate::diagnostic::Diagnostic;
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &OutdatedArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let settings = OutdatedSettings {
        subject: subject(&args.subject),
        index_url: args.index_url.clone(),
        policy: args.policy.clone(),
        offline: args.offline,
        cache: cache(global)?,
        working_dir: working_dir()?,
    };
    let outcome = outdated(&settings).map_err(ops_diagnostic)?;
    print(&outcome, args.format, printer);
    Ok(())
}

/// The report of `outcome` (also `safevenv list --outdated`'s).
pub fn print(outcome: &OutdatedOutcome, format: ReportFormat, printer: &Printer) {
    for name in &outcome.not_found {
        printer.warn(&format!("`{name}` is not on the index"));
    }
    print_stdout(&match format {
        ReportFormat::Table => table(outcome),
        ReportFormat::Json => json(outcome),
    });
    printer.status(
        "Checked",
        &format!(
            "{} distributions of `{}`: {} outdated",
            outcome.checked,
            outcome.subject.display(),
            outcome.outdated.len()
        ),
    );
}

fn table(outcome: &OutdatedOutcome) -> String {
    if outcome.outdated.is_empty() {
        return "every distribution is at the newest version\n".to_string();
    }
    let header = ["package", "current", "latest", "latest allowed"];
    let rows: Vec<[String; 4]> = outcome
        .outdated
        .iter()
        .map(|row| {
            [
                row.name.to_string(),
                row.current.to_string(),
                row.latest.to_string(),
                row.latest_allowed
                    .as_ref()
                    .map_or_else(|| "-".to_string(), ToString::to_string),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    out.push_str(&line(
        widths
            .map(|width| "-".repeat(width))
            .each_ref()
            .map(String::as_str),
    ));
    for row in &rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

fn json(outcome: &OutdatedOutcome) -> String {
    let value = json!({
        "subject": outcome.subject.display().to_string(),
        "checked": outcome.checked,
        "outdated": outcome.outdated.iter().map(|row| json!({
            "name": row.name.to_string(),
            "current": row.current.to_string(),
            "latest": row.latest.to_string(),
            "latest_allowed": row.latest_allowed.as_ref().map(ToString::to_string),
        })).collect::<Vec<_>>(),
        "not_found": outcome.not_found.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    format!("{value:#}\n")
}
