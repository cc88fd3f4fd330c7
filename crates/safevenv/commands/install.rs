//! `safevenv install` and `safevenv sync`

use std::io::{IsTerminal, Write};

use safevenv_cache::Cache;
use safevenv_cli::{GlobalArgs, InstallArgs, OutputFormat, SyncArgs};
use safevenv_ops::{
    InstallOutcome, InstallSettings, SyncSettings, install as run_install, sync as run_sync,
};

use crate::commands::lock::resolve_settings;
use crate::commands::policy::refusal_diagnostic;
use crate::diagnostic::{Diagnostic, Failure};
use crate::printer::Printer;

pub fn install(
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<(), Diagnostic> {
    let cache = cache(global)?;
    let mut lock = resolve_settings(&args.resolve, cache)?;
    lock.attest = crate::commands::attest::attest_settings(&args.attest)?;
    lock.output = (!args.no_lockfile).then(|| args.lockfile.clone());
    let progress = show_progress(global, args.gate.format);
    lock.progress = safevenv_ops::Progress::new(progress);
    let settings = InstallSettings {
        lock,
        policy: args.gate.policy.clone(),
        progress,
        audit_db: args.gate.audit_db.clone(),
        system: args.gate.system,
    };
    let outcome =
        run_install(&settings).map_err(|err| refusal_diagnostic(err, args.gate.format))?;
    report(&outcome, printer, args.gate.format);
    crate::commands::project::note_project(outcome.project.as_ref(), printer);
    Ok(())
}

pub fn sync(args: &SyncArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let working_dir =
        std::env::current_dir().map_err(|err| Diagnostic::from_error(&err, Failure::Internal))?;
    let settings = SyncSettings {
        lockfile: args.lockfile.clone(),
        python: args.python.clone(),
        requirement_files: args.requirements.clone(),
        specifiers: Vec::new(),
        frozen: args.frozen,
        project: Some(crate::commands::project::selection(&args.project)?),
        index_url: args.index_url.clone(),
        policy: args.gate.policy.clone(),
        offline: args.offline,
        cache: cache(global)?,
        working_dir,
        progress: show_progress(global, args.gate.format),
        attest: crate::commands::attest::attest_settings(&args.attest)?,
        audit_db: args.gate.audit_db.clone(),
        system: args.gate.system,
    };
    let outcome = run_sync(&settings).map_err(|err| refusal_diagnostic(err, args.gate.format))?;
    report(&outcome, printer, args.gate.format);
    Ok(())
}

pub(crate) fn cache(global: &GlobalArgs) -> Result<Cache, Diagnostic> {
    Cache::from_settings(global.cache_dir.clone())
        .map_err(|err| Diagnostic::from_error(&err, Failure::Internal))
}

/// Progress bars only for a person watching a terminal, not for a script reading JSON.
pub(crate) fn show_progress(global: &GlobalArgs, format: OutputFormat) -> bool {
    !global.quiet && format == OutputFormat::Text && std::io::stderr().is_terminal()
}

pub(crate) fn report(outcome: &InstallOutcome, printer: &Printer, format: OutputFormat) {
    for warning in &outcome.policy_warnings {
        printer.warn(warning);
    }
    if outcome.recovered > 0 {
        printer.warn(&format!(
            "finished or rolled back {} interrupted safevenv run(s) in this environment first",
            outcome.recovered
        ));
    }
    for (name, version) in &outcome.removed {
        if !outcome
            .installed
            .iter()
            .any(|(installed, _)| installed == name)
        {
            printer.status("Removed", &format!("{name} {version}"));
        }
    }
    for (name, version) in &outcome.installed {
        match outcome.removed.iter().find(|(removed, _)| removed == name) {
            // The same version replaced: what was installed was not what safevenv installed
            // from the lockfile's archive (its receipt did not hold).
            Some((_, old)) if old == version => {
                printer.status("Reinstalled", &format!("{name} {version}"));
            }
            Some((_, old)) => printer.status("Updated", &format!("{name} {old} -> {version}")),
            None => printer.status("Installed", &format!("{name} {version}")),
        }
    }
    let changed = outcome.installed.len() + outcome.removed.len();
    let summary = if changed == 0 {
        format!(
            "`{}` already holds all {} distributions",
            outcome.environment.display(),
            outcome.unchanged
        )
    } else {
        format!(
            "`{}` (Python {}) in {:.2}s",
            outcome.environment.display(),
            outcome.python,
            outcome.elapsed.as_secs_f64()
        )
    };
    printer.status(
        // "Updated", not "Environment": with `--system` the target is an interpreter's own
        // prefix.
        if changed == 0 { "Checked" } else { "Updated" },
        &summary,
    );
    printer.status(
        "Attestations",
        &crate::commands::attest::counts_line(&outcome.attestations),
    );
    printer.status("Policy", &outcome.policy_layers.join(", then "));
    printer.status(
        "Downloaded",
        &format!("{:.1} MiB", outcome.bytes_downloaded as f64 / 1_048_576.0),
    );
    if let Some((path, changed)) = &outcome.lockfile {
        printer.status(
            if *changed { "Wrote" } else { "Unchanged" },
            &format!("`{}`", path.display()),
        );
    }
    if format == OutputFormat::Json {
        let _ = writeln!(std::io::stdout().lock(), "{:#}", outcome_json(outcome));
    }
}

/// `--format json`: what the run did, on standard output (a refusal prints its own report).
fn outcome_json(outcome: &InstallOutcome) -> serde_json::Value {
    fn distributions<N: ToString, V: ToString>(list: &[(N, V)]) -> Vec<serde_json::Value> {
        list.iter()
            .map(|(name, version)| {
                serde_json::json!({ "name": name.to_string(), "version": version.to_string() })
            })
            .collect()
    }
    serde_json::json!({
        "environment": outcome.environment.display().to_string(),
        "python": outcome.python.to_string(),
        "installed": distributions(&outcome.installed),
        "removed": distributions(&outcome.removed),
        "unchanged": outcome.unchanged,
        "lockfile": outcome.lockfile.as_ref().map(|(path, _)| path.display().to_string()),
        "attestations": crate::commands::attest::counts_json(&outcome.attestations),
        "policy": outcome.policy_layers,
        "elapsed_seconds": outcome.elapsed.as_secs_f64(),
        "bytes_downloaded": outcome.bytes_downloaded,
    })
}
