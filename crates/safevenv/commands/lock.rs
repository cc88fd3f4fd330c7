//! `safevenv lock`

use std::io::Write;
use std::path::PathBuf;

use safevenv_cache::Cache;
use safevenv_cli::{GlobalArgs, LockArgs, LockFormat, OutputFormat, ResolveArgs};
use safevenv_ops::{LockSettings, lock};
use safevenv_resolver::Upgrade;
use uv_normalize::PackageName;

use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &LockArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let cache = Cache::from_settings(global.cache_dir.clone())
        .map_err(|err| Diagnostic::from_error(&err, Failure::Internal))?;
    let format = match args.format {
        LockFormat::Pylock => safevenv_ops::LockFormat::Pylock,
        LockFormat::RequirementsTxt => safevenv_ops::LockFormat::RequirementsTxt,
    };
    let output = match (&args.output, format) {
        (Some(path), _) if path.as_os_str() == "-" => None,
        (Some(path), _) => Some(path.clone()),
        (None, safevenv_ops::LockFormat::Pylock) => Some(PathBuf::from("pylock.toml")),
        (None, safevenv_ops::LockFormat::RequirementsTxt) => None,
    };
    if args.report == OutputFormat::Json && output.is_none() {
        return Err(Diagnostic {
            message:
                "`--report json` writes to standard output, which would also take the lockfile"
                    .to_string(),
            causes: Vec::new(),
            hints: vec!["write the lockfile to a file with `-o FILE`".to_string()],
            failure: Failure::Input,
        });
    }
    let settings = LockSettings {
        output,
        format,
        attest: crate::commands::attest::attest_settings(&args.attest)?,
        // A JSON report on stdout is for machines; spinners go to stderr, but a script that
        // asked for JSON is not watching them.
        progress: safevenv_ops::Progress::new(!global.quiet && args.report != OutputFormat::Json),
        ..resolve_settings(&args.resolve, cache)?
    };
    let outcome = lock(&settings).map_err(ops_diagnostic)?;
    crate::commands::project::note_project(outcome.project.as_ref(), printer);
    if let Some(text) = &outcome.text {
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    printer.status(
        "Resolved",
        &format!(
            "{} packages for Python {} in {:.2}s",
            outcome.packages,
            outcome.python,
            outcome.elapsed.as_secs_f64()
        ),
    );
    printer.status(
        "Attestations",
        &crate::commands::attest::counts_line(&outcome.attestations),
    );
    if let Some(path) = &outcome.output {
        let verb = if outcome.changed {
            "Wrote"
        } else {
            "Unchanged"
        };
        printer.status(verb, &format!("`{}`", path.display()));
    }
    if args.report == OutputFormat::Json {
        let summary = serde_json::json!({
            "packages": outcome.packages,
            "python": outcome.python.to_string(),
            "lockfile": outcome.output.as_ref().map(|path| path.display().to_string()),
            "changed": outcome.changed,
            "attestations": crate::commands::attest::counts_json(&outcome.attestations),
        });
        let _ = writeln!(std::io::stdout().lock(), "{summary:#}");
    }
    Ok(())
}

/// The settings every resolving command shares, from their common arguments.
pub fn resolve_settings(args: &ResolveArgs, cache: Cache) -> Result<LockSettings, Diagnostic> {
    let upgrade = if args.upgrade {
        Upgrade::All
    } else if args.upgrade_package.is_empty() {
        Upgrade::None
    } else {
        let names = args
            .upgrade_package
            .iter()
            .map(|name| {
                PackageName::from_owned(name.clone()).map_err(|err| {
                    Diagnostic::from_error(&err, Failure::Input).with_hints([format!(
                        "`--upgrade-package` takes a project name, not `{name}`"
                    )])
                })
            })
            .collect::<Result<_, _>>()?;
        Upgrade::Packages(names)
    };
    let unsandboxed_builds = args
        .unsandboxed_build
        .iter()
        .map(|name| {
            PackageName::from_owned(name.clone()).map_err(|err| {
                Diagnostic::from_error(&err, Failure::Input).with_hints([format!(
                    "`--unsandboxed-build` takes a project name, not `{name}`"
                )])
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let working_dir = std::env::current_dir().map_err(|err| {
        Diagnostic::from_error(&err, Failure::Internal)
            .with_hints(["the current directory may have been removed".to_string()])
    })?;
    Ok(LockSettings {
        requirement_files: args.requirements.clone(),
        constraint_files: args.constraints.clone(),
        specifiers: args.packages.clone(),
        python: args.python.clone(),
        index_url: args.index_url.clone(),
        extra_index_urls: args.extra_index_url.clone(),
        output: None,
        format: safevenv_ops::LockFormat::Pylock,
        upgrade,
        prereleases: args.pre,
        offline: args.offline,
        cache,
        working_dir,
        attest: safevenv_ops::AttestSettings::default(),
        editables: args.editable.clone(),
        unsandboxed_builds,
        progress: safevenv_ops::Progress::hidden(),
        project: Some(crate::commands::project::selection(&args.project)?),
        requires_python: None,
    })
}
