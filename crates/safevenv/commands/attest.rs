//! `safevenv attest verify`

use std::io::Write;

use safevenv_cli::{AttestCommand, AttestOptions, AttestVerifyArgs};
use safevenv_ops::{
    AttestSettings, AttestVerifySettings, AttestationCounts, Evidence, attest_verify,
};
use uv_normalize::PackageName;

use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(command: &AttestCommand, printer: &Printer) -> Result<(), Diagnostic> {
    match command {
        AttestCommand::Verify(args) => verify(args, printer),
    }
}

fn verify(args: &AttestVerifyArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let evidence = match (&args.attestation, &args.provenance) {
        (Some(path), None) => Evidence::Attestation(path.clone()),
        (None, Some(path)) => Evidence::Provenance(path.clone()),
        // clap requires exactly one of the two.
        _ => {
            return Err(Diagnostic {
                message: "give either `--attestation FILE` or `--provenance FILE`".to_string(),
                causes: Vec::new(),
                hints: Vec::new(),
                failure: Failure::Input,
            });
        }
    };
    let settings = AttestVerifySettings {
        artifact: args.artifact.clone(),
        evidence,
        repository: args.repository.clone(),
        workflow: args.workflow.clone(),
        trusted_root: args.trusted_root.clone(),
    };
    let outcome = attest_verify(&settings).map_err(ops_diagnostic)?;
    printer.status(
        "Verified",
        &format!(
            "`{}` (sha256 `{}`) against the `{}` trusted root",
            args.artifact.display(),
            outcome.sha256,
            outcome.trust_root
        ),
    );
    // The publisher on standard output, once as text and once as the lockfile's
    // `attestation-identities` entry, so scripts can compare it.
    let mut out = std::io::stdout().lock();
    for (text, table) in &outcome.publishers {
        let entry = table
            .iter()
            .map(|(key, value)| format!("{key} = {value:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "publisher: {text}");
        let _ = writeln!(out, "identity: {{ {entry} }}");
    }
    Ok(())
}

/// `--trusted-root` and `--accept-publisher-change` of `lock`, `install` and `sync`.
pub fn attest_settings(args: &AttestOptions) -> Result<AttestSettings, Diagnostic> {
    let accept_publisher_change = args
        .accept_publisher_change
        .iter()
        .map(|name| {
            PackageName::from_owned(name.clone()).map_err(|err| {
                Diagnostic::from_error(&err, Failure::Input).with_hints([format!(
                    "`--accept-publisher-change` takes a project name, not `{name}`"
                )])
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(AttestSettings {
        trusted_root: args.trusted_root.clone(),
        accept_publisher_change,
    })
}

/// The summary line of `lock`, `install` and `sync`: verified attestations, and the artifacts the
/// index offered none for (absence is shown, never silent).
pub fn counts_line(counts: &AttestationCounts) -> String {
    let artifacts = |count: usize| {
        if count == 1 {
            "1 artifact".to_string()
        } else {
            format!("{count} artifacts")
        }
    };
    let mut line = format!(
        "{} verified ({} with the publisher pinned in the lockfile), {} with none offered by the index",
        artifacts(counts.verified),
        counts.publishers_pinned,
        artifacts(counts.none_offered)
    );
    if counts.not_checked > 0 {
        line.push_str(&format!(
            ", {} not checked (attestation mode `off`)",
            artifacts(counts.not_checked)
        ));
    }
    line
}

/// The same counts for `--format json`.
pub fn counts_json(counts: &AttestationCounts) -> serde_json::Value {
    serde_json::json!({
        "verified": counts.verified,
        "publishers_pinned": counts.publishers_pinned,
        "none_offered": counts.none_offered,
        "not_checked": counts.not_checked,
    })
}
