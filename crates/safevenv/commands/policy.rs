//! `safevenv policy init | check | explain`, and the JSON form of refusals that `install` and
//! `sync` share.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::str::FromStr;

use safevenv_cache::Cache;
use safevenv_cli::{
    GlobalArgs, OutputFormat, PolicyArgs, PolicyCheckArgs, PolicyCommand, PolicyExplainArgs,
    PolicyInitArgs, PolicyPreset,
};
use safevenv_ops::{
    AttestSettings, CheckInput, CheckOutcome, CheckSettings, OpsError, check, policy_init,
};
use safevenv_policy::{Preset, RuleId, explain};

use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &PolicyArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    match &args.command {
        PolicyCommand::Init(args) => init(args, printer),
        PolicyCommand::Check(args) => run_check(args, global, printer),
        PolicyCommand::Explain(args) => run_explain(args),
    }
}

fn init(args: &PolicyInitArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let preset = match args.preset {
        PolicyPreset::Default => Preset::Default,
        PolicyPreset::Strict => Preset::Strict,
        PolicyPreset::Ci => Preset::Ci,
    };
    let path = policy_init(&working_dir()?, preset, args.force).map_err(ops_diagnostic)?;
    printer.status(
        "Wrote",
        &format!(
            "`{}` (extends the `{preset}` preset); `safevenv policy check` judges against it",
            path.display()
        ),
    );
    Ok(())
}

fn run_check(
    args: &PolicyCheckArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<(), Diagnostic> {
    let input = if args.requirements.is_empty() {
        CheckInput::Lockfile(
            args.lockfile
                .clone()
                .unwrap_or_else(|| PathBuf::from("pylock.toml")),
        )
    } else {
        CheckInput::Requirements {
            requirement_files: args.requirements.clone(),
            constraint_files: args.constraints.clone(),
        }
    };
    let settings = CheckSettings {
        input,
        python: args.python.clone(),
        index_url: args.index_url.clone(),
        extra_index_urls: args.extra_index_url.clone(),
        policy: args.policy.clone(),
        offline: args.offline,
        attest: AttestSettings {
            trusted_root: args.trusted_root.clone(),
            accept_publisher_change: Vec::new(),
        },
        audit_db: args.audit_db.clone(),
        cache: Cache::from_settings(global.cache_dir.clone())
            .map_err(|err| Diagnostic::from_error(&err, Failure::Internal))?,
        working_dir: working_dir()?,
        progress: !global.quiet && std::io::stderr().is_terminal(),
    };
    let outcome = check(&settings).map_err(ops_diagnostic)?;
    for warning in &outcome.policy_warnings {
        printer.warn(warning);
    }
    if args.format == OutputFormat::Json {
        print_json(&check_json(&outcome));
    }
    match &outcome.refusals {
        None => {
            printer.status(
                "Approved",
                &format!(
                    "{} distribution{} for Python {} by {}; nothing was installed",
                    outcome.checked.len(),
                    if outcome.checked.len() == 1 { "" } else { "s" },
                    outcome.python,
                    outcome.policy.join(" and ")
                ),
            );
            Ok(())
        }
        Some(refusals) => Err(Diagnostic {
            message: refusals.to_string().trim_end().to_string(),
            causes: Vec::new(),
            hints: vec![
                "each refusal above names the policy key that would allow it; see `docs/policy.md`"
                    .to_string(),
                "nothing was installed: `policy check` only judges".to_string(),
            ],
            failure: Failure::Refused,
        }),
    }
}

/// The verdict for tools: the refusals in the same shape `install --format json` prints, with
/// what was judged.
fn check_json(outcome: &CheckOutcome) -> serde_json::Value {
    let refusals = outcome
        .refusals
        .as_ref()
        .map(|refusals| refusals.to_json()["refusals"].clone())
        .unwrap_or_else(|| serde_json::json!([]));
    serde_json::json!({
        "approved": outcome.refusals.is_none(),
        "python": outcome.python.to_string(),
        "environment": outcome.environment.as_ref().map(|path| path.display().to_string()),
        "policy": outcome.policy,
        "distributions": outcome
            .checked
            .iter()
            .map(|(name, version)| serde_json::json!({
                "name": name.to_string(),
                "version": version.to_string(),
            }))
            .collect::<Vec<_>>(),
        "refusals": refusals,
    })
}

fn run_explain(args: &PolicyExplainArgs) -> Result<(), Diagnostic> {
    let rule = RuleId::from_str(&args.rule).map_err(|err| {
        let valid: Vec<&str> = RuleId::ALL.iter().map(|rule| rule.as_str()).collect();
        Diagnostic::from_error(&err, Failure::Input)
            .with_hints([format!("the rules are: {}", valid.join(", "))])
    })?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", explain(rule));
    Ok(())
}

/// `install`/`sync` with `--format json`: a refusal is also written to standard output as JSON
/// (the human report still goes to standard error). Other failures print nothing there.
pub fn refusal_diagnostic(err: OpsError, format: OutputFormat) -> Diagnostic {
    if let (OpsError::Refused(refusals), OutputFormat::Json) = (&err, format) {
        print_json(&refusals.to_json());
    }
    ops_diagnostic(err)
}

fn print_json(value: &serde_json::Value) {
    let _ = writeln!(std::io::stdout().lock(), "{value:#}");
}

fn working_dir() -> Result<PathBuf, Diagnostic> {
    std::env::current_dir().map_err(|err| {
        Diagnostic::from_error(&err, Failure::Internal)
            .with_hints(["the current directory may have been removed".to_string()])
    })
}
