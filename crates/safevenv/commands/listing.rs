//! `safevenv list` and `safevenv freeze`

use safevenv_cli::{FreezeArgs, FreezeFormat, GlobalArgs, ListArgs, ListFormat};
use safevenv_ops::{ListOutcome, ListSettings, list};

use crate::commands::audit::{cache, print_stdout, working_dir};
use crate::diagnostic::Diagnostic;
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run_list(args: &ListArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let query = if args.outdated {
        Some(safevenv_ops::OutdatedSettings {
            subject: safevenv_ops::Subject::Auto,
            index_url: args.index_url.clone(),
            policy: None,
            offline: args.offline,
            cache: cache(global)?,
            working_dir: working_dir()?,
        })
    } else {
        None
    };
    let outcome = read(args.env.clone(), Some(args.lockfile.clone()), query, global)?;
    if let Some(outdated) = &outcome.outdated {
        crate::commands::outdated::print(outdated, safevenv_cli::ReportFormat::Table, printer);
        return Ok(());
    }
    match args.format {
        ListFormat::Table => print_stdout(&table(&outcome)),
        ListFormat::Json => print_stdout(&format!("{:#}\n", outcome.to_json())),
        ListFormat::Freeze => print_stdout(&outcome.to_freeze()),
    }
    printer.status(
        "Listed",
        &format!(
            "{} distributions in `{}`",
            outcome.distributions.len(),
            outcome.environment.display()
        ),
    );
    Ok(())
}

pub fn run_freeze(
    args: &FreezeArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<(), Diagnostic> {
    let outcome = read(args.env.clone(), None, None, global)?;
    match args.format {
        FreezeFormat::Requirements => print_stdout(&outcome.to_freeze()),
        FreezeFormat::Json => print_stdout(&format!("{:#}\n", outcome.to_json())),
    }
    let unknown = outcome
        .distributions
        .iter()
        .filter(|dist| dist.sha256.is_err())
        .count();
    if unknown > 0 {
        printer.warn(&format!(
            "{unknown} distribution(s) without a known hash (marked `# hash unknown`): pip's `--require-hashes` refuses them; reinstall them with safevenv to record their archive"
        ));
    }
    Ok(())
}

fn read(
    env: Option<std::path::PathBuf>,
    lockfile: Option<std::path::PathBuf>,
    outdated: Option<safevenv_ops::OutdatedSettings>,
    global: &GlobalArgs,
) -> Result<ListOutcome, Diagnostic> {
    let settings = ListSettings {
        environment: env,
        lockfile,
        cache: cache(global)?,
        working_dir: working_dir()?,
        outdated,
    };
    list(&settings).map_err(ops_diagnostic)
}

/// Name, version, source and location, in aligned columns.
fn table(outcome: &ListOutcome) -> String {
    let rows: Vec<[String; 4]> = outcome
        .distributions
        .iter()
        .map(|dist| {
            [
                dist.name.to_string(),
                dist.version.to_string(),
                dist.origin.kind().to_string(),
                dist.origin.location().unwrap_or("").to_string(),
            ]
        })
        .collect();
    let header = [
        "name".to_string(),
        "version".to_string(),
        "source".to_string(),
        "location".to_string(),
    ];
    let mut widths = [0usize; 3];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
