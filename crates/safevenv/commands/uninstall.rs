//! `safevenv uninstall`

use safevenv_cli::{GlobalArgs, OutputFormat, UninstallArgs};
use safevenv_ops::{UninstallSettings, uninstall};
use uv_normalize::PackageName;

use crate::commands::audit::{cache, print_stdout, working_dir};
use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &UninstallArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let names = args
        .packages
        .iter()
        .map(|name| {
            PackageName::from_owned(name.clone()).map_err(|err| Diagnostic {
                message: format!("`{name}` is not a distribution's name: {err}"),
                causes: Vec::new(),
                hints: vec!["name distributions as `safevenv list` shows them".to_string()],
                failure: Failure::Input,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let settings = UninstallSettings {
        names,
        environment: args.env.clone(),
        lockfile: (!args.no_lockfile).then(|| args.lockfile.clone()),
        force: args.force,
        cache: cache(global)?,
        working_dir: working_dir()?,
    };
    let outcome = uninstall(&settings).map_err(ops_diagnostic)?;
    if args.format == OutputFormat::Json {
        print_stdout(&format!("{:#}\n", outcome.to_json()));
    }
    for (requirer, removed) in &outcome.broken {
        printer.warn(&format!(
            "`{requirer}` requires `{removed}`, removed with `--force`"
        ));
    }
    for (name, version) in &outcome.removed {
        printer.status("Removed", &format!("{name} {version}"));
    }
    if !outcome.orphaned.is_empty() {
        let names: Vec<String> = outcome
            .orphaned
            .iter()
            .map(|(name, version)| format!("{name} {version}"))
            .collect();
        printer.status(
            "Kept",
            &format!(
                "{}: no longer required by anything installed (remove them with `safevenv uninstall`)",
                names.join(", ")
            ),
        );
    }
    if let Some((path, changed)) = &outcome.lockfile {
        printer.status(
            if *changed { "Updated" } else { "Checked" },
            &format!("`{}`", path.display()),
        );
    }
    Ok(())
}
