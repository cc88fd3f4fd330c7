//! `safevenv show`

use safevenv_cli::{GlobalArgs, ReportFormat, ShowArgs};
use safevenv_ops::{AttestSettings, ShowOutcome, ShowSettings, show};
use uv_normalize::PackageName;

use crate::commands::audit::{cache, print_stdout, working_dir};
use crate::diagnostic::{Diagnostic, Failure};
use crate::errors::ops_diagnostic;
use crate::printer::Printer;

pub fn run(args: &ShowArgs, global: &GlobalArgs, _printer: &Printer) -> Result<(), Diagnostic> {
    let name = PackageName::from_owned(args.package.clone()).map_err(|err| Diagnostic {
        message: format!("`{}` is not a project's name: {err}", args.package),
        causes: Vec::new(),
        hints: Vec::new(),
        failure: Failure::Input,
    })?;
    let settings = ShowSettings {
        name,
        environment: args.env.clone(),
        lockfile: Some(args.lockfile.clone()),
        index_url: args.index_url.clone(),
        audit_db: args.audit_db.clone(),
        attest: AttestSettings {
            trusted_root: args.trusted_root.clone(),
            accept_publisher_change: Vec::new(),
        },
        offline: args.offline,
        cache: cache(global)?,
        working_dir: working_dir()?,
    };
    let outcome = show(&settings).map_err(ops_diagnostic)?;
    match args.format {
        ReportFormat::Table => print_stdout(&screen(&outcome)),
        ReportFormat::Json => print_stdout(&format!("{:#}\n", outcome.to_json())),
    }
    Ok(())
}

/// `value`, or `none` when there is none.
fn or_unknown<T: ToString>(value: &Option<T>, none: &str) -> String {
    value
        .as_ref()
        .map_or_else(|| none.to_string(), ToString::to_string)
}

/// One screen: each line a question and its answer; `unknown` where the sources are silent.
fn screen(outcome: &ShowOutcome) -> String {
    let version = or_unknown;
    let mut lines = vec![
        format!("{}", outcome.name),
        format!(
            "  index:            {}",
            outcome
                .index
                .as_deref()
                .unwrap_or("not found on any configured index")
        ),
        format!(
            "  installed:        {}",
            version(&outcome.installed, "not installed")
        ),
        format!(
            "  locked:           {}",
            version(&outcome.locked, "not locked")
        ),
        format!(
            "  newest:           {}",
            version(&outcome.newest, "none (every release is yanked, or none)")
        ),
    ];
    // RFC 3339 (`2024-01-02T03:04:05Z`): the date is its first ten characters.
    let day = |time: Option<String>| {
        time.map_or_else(
            || "unknown (the index gives no upload times)".to_string(),
            |time| time.chars().take(10).collect(),
        )
    };
    lines.push(format!(
        "  releases:         {} ({} in the last year)",
        outcome.releases.len(),
        outcome.releases_last_year()
    ));
    lines.push(format!(
        "  first upload:     {}",
        day(outcome.first_upload().map(|time| time.to_string()))
    ));
    lines.push(format!(
        "  last upload:      {}",
        day(outcome.last_upload().map(|time| time.to_string()))
    ));
    if let Some(days) = outcome.days_since_last() {
        lines.push(format!("  since the last:   {days} days"));
    }
    let yanked = outcome.yanked();
    lines.push(format!(
        "  yanked:           {}",
        if yanked.is_empty() {
            "none".to_string()
        } else {
            yanked
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    let described = version(&outcome.described, "?");
    lines.push(format!(
        "  attestations:     {}",
        match &outcome.attestations {
            None => "unknown (the index lists no artifact of this version)".to_string(),
            Some(found) => {
                let mut text = format!(
                    "{} of {} artifact(s) of {described} verified",
                    found.verified, found.artifacts
                );
                if found.absent > 0 {
                    text.push_str(&format!(", {} without provenance", found.absent));
                }
                if found.not_checked > 0 {
                    text.push_str(&format!(
                        ", {} not checked (policy mode `off`)",
                        found.not_checked
                    ));
                }
                for (file, reason) in &found.invalid {
                    text.push_str(&format!(", `{file}` does not verify: {reason}"));
                }
                text
            }
        }
    ));
    if let Some(found) = &outcome.attestations {
        for publisher in &found.publishers {
            lines.push(format!("  publisher:        {publisher}"));
        }
    }
    lines.push(format!(
        "  vulnerabilities:  {}",
        match &outcome.vulnerabilities {
            None => "not checked (pass `--audit-db PATH`)".to_string(),
            Some(found) if found.is_empty() => format!("none known for {described}"),
            Some(found) => found
                .iter()
                .map(|vulnerability| {
                    let mut text = vulnerability.id.clone();
                    if let Some(fix) = &vulnerability.fix {
                        text.push_str(&format!(" (fixed in {fix})"));
                    }
                    text
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    ));
    lines.push(format!(
        "  dependencies:     {}",
        match (&outcome.dependencies, outcome.dependency_tree) {
            (None, _) => "unknown (no metadata read)".to_string(),
            (Some(direct), Some(tree)) => {
                format!("{} direct, {tree} installed in its tree", direct.len())
            }
            (Some(direct), None) => format!("{} direct", direct.len()),
        }
    ));
    lines.push(format!(
        "  license:          {}",
        outcome
            .license
            .as_deref()
            .unwrap_or("not stated in the metadata")
    ));
    for (label, url) in &outcome.urls {
        lines.push(format!("  {:<17} {url}", format!("{label}:")));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
