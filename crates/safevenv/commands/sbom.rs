//! `safevenv sbom`

use safevenv_cli::{GlobalArgs, SbomArgs};
use safevenv_ops::{SbomSettings, sbom};

use crate::commands::audit::{cache, print_stdout, subject, working_dir};
use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &SbomArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let working_dir = working_dir()?;
    let settings = SbomSettings {
        subject: subject(&args.subject),
        cache: cache(global)?,
        working_dir: working_dir.clone(),
    };
    let outcome = sbom(&settings).map_err(ops_diagnostic)?;
    match &args.output {
        Some(path) => {
            let path = working_dir.join(path);
            fs_err::write(&path, &outcome.json)
                .map_err(|err| Diagnostic::from_error(&err, Failure::Internal))?;
            printer.status(
                "Wrote",
                &format!(
                    "`{}`: {} components of `{}`",
                    path.display(),
                    outcome.components,
                    outcome.subject.display()
                ),
            );
        }
        None => print_stdout(&outcome.json),
    }
    Ok(())
}
