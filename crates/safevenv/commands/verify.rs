//! `safevenv verify`

use safevenv_cli::{GlobalArgs, ReportFormat, VerifyArgs};
use safevenv_ops::{VerifySettings, verify};

use crate::commands::audit::{cache, print_stdout, working_dir};
use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &VerifyArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let settings = VerifySettings {
        environment: args.env.clone(),
        lockfile: args.lockfile.clone(),
        cache: cache(global)?,
        working_dir: working_dir()?,
    };
    let outcome = verify(&settings).map_err(ops_diagnostic)?;
    match args.format {
        ReportFormat::Table => {
            let lines: String = outcome
                .problems
                .iter()
                .map(|problem| format!("{problem}\n"))
                .collect();
            print_stdout(&lines);
        }
        ReportFormat::Json => print_stdout(&format!("{:#}\n", outcome.to_json())),
    }
    let environment = outcome.environment.display();
    if outcome.problems.is_empty() {
        printer.status(
            "Verified",
            &format!(
                "`{environment}`: {} files of {} distributions match their RECORD{} in {:.2}s",
                outcome.files_hashed,
                outcome.distributions,
                if outcome.lockfile.is_some() {
                    " and the lockfile"
                } else {
                    ""
                },
                outcome.elapsed.as_secs_f64()
            ),
        );
        return Ok(());
    }
    Err(Diagnostic {
        message: format!(
            "`{environment}` differs from what was installed: {} problem(s), listed above",
            outcome.problems.len()
        ),
        causes: Vec::new(),
        hints: vec![
            "reinstall what changed with `safevenv sync`, and remove files nobody installed after reviewing them"
                .to_string(),
        ],
        failure: Failure::Refused,
    })
}
