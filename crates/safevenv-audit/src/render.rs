//! A report as a text table, as JSON, and as SARIF 2.1.0.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::report::{Finding, Report, Unreadable};

/// The report as a table for a terminal: one line per finding, then the unreadable records.
pub fn render_table(report: &Report) -> String {
    let header = ["package", "version", "id", "fix", "aliases"];
    let rows: Vec<[String; 5]> = report
        .findings
        .iter()
        .map(|finding| {
            [
                finding.package.to_string(),
                finding.version.to_string(),
                finding.id.clone(),
                finding
                    .lowest_fix
                    .as_ref()
                    .map_or_else(|| "-".to_string(), ToString::to_string),
                finding.aliases.join(", "),
            ]
        })
        .collect();
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("no known vulnerabilities found\n");
    } else {
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            let mut line = String::new();
            for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
                if index + 1 == cells.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ");
                }
            }
            line.trim_end().to_string() + "\n"
        };
        out.push_str(&line(header));
        out.push_str(&line(
            widths
                .map(|width| "-".repeat(width))
                .each_ref()
                .map(String::as_str),
        ));
        for row in &rows {
            out.push_str(&line(row.each_ref().map(String::as_str)));
        }
    }
    if !report.ignored.is_empty() {
        let _ = writeln!(out, "{} finding(s) ignored", report.ignored.len());
    }
    for unreadable in &report.unreadable {
        let _ = writeln!(out, "could not check {}", describe_unreadable(unreadable));
    }
    out
}

fn describe_unreadable(unreadable: &Unreadable) -> String {
    let package = unreadable
        .package
        .as_ref()
        .map_or_else(|| "any package".to_string(), |name| format!("`{name}`"));
    let id = unreadable
        .id
        .as_ref()
        .map_or_else(String::new, |id| format!(" `{id}`"));
    format!(
        "{package}: the advisory{id} in `{}` is unreadable ({})",
        unreadable.source, unreadable.reason
    )
}

fn finding_json(finding: &Finding) -> Value {
    json!({
        "package": finding.package.to_string(),
        "version": finding.version.to_string(),
        "id": finding.id,
        "aliases": finding.aliases,
        "summary": finding.summary,
        "severity": finding.severity.iter().map(|severity| json!({
            "type": severity.kind,
            "score": severity.score,
        })).collect::<Vec<_>>(),
        "severity_label": finding.severity_label,
        "fix_versions": finding.fix_versions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "lowest_fix": finding.lowest_fix.as_ref().map(ToString::to_string),
    })
}

/// The report as pretty-printed JSON: `findings`, `ignored` and `unreadable`.
pub fn render_json(report: &Report) -> String {
    let value = json!({
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "ignored": report.ignored.iter().map(finding_json).collect::<Vec<_>>(),
        "unreadable": report.unreadable.iter().map(|unreadable| json!({
            "package": unreadable.package.as_ref().map(ToString::to_string),
            "source": unreadable.source,
            "id": unreadable.id,
            "reason": unreadable.reason,
        })).collect::<Vec<_>>(),
    });
    format!("{value:#}\n")
}

/// The SARIF level of a finding: from the database's label, `error` when there is none (a known
/// vulnerability is an error until someone says it is less).
fn level(finding: &Finding) -> &'static str {
    match finding
        .severity_label
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("LOW") => "note",
        Some("MODERATE" | "MEDIUM") => "warning",
        _ => "error",
    }
}

/// The report as a SARIF 2.1.0 log: one rule per advisory, one result per finding, each located
/// at `artifact` (the lockfile or requirements file audited, as given).
pub fn render_sarif(report: &Report, artifact: &str) -> String {
    let uri = artifact.replace('\\', "/");
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<&str> = Vec::new();
    let mut results = Vec::new();
    for finding in &report.findings {
        let index = if let Some(index) = rule_ids.iter().position(|id| *id == finding.id) {
            index
        } else {
            rule_ids.push(&finding.id);
            let description = finding
                .summary
                .clone()
                .unwrap_or_else(|| finding.id.clone());
            rules.push(json!({
                "id": finding.id,
                "shortDescription": { "text": description },
                "properties": {
                    "aliases": finding.aliases,
                    "severity": finding.severity.iter().map(|s| s.score.as_str()).collect::<Vec<_>>(),
                },
            }));
            rule_ids.len() - 1
        };
        let fix = finding.lowest_fix.as_ref().map_or_else(
            || "no fixed version is known".to_string(),
            |fix| format!("upgrade to {fix} or later"),
        );
        results.push(json!({
            "ruleId": finding.id,
            "ruleIndex": index,
            "level": level(finding),
            "message": {
                "text": format!("{} {} is affected by {}: {fix}", finding.package, finding.version, finding.id),
            },
            "locations": [{
                "physicalLocation": { "artifactLocation": { "uri": uri } },
            }],
        }));
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "safevenv",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                },
            },
            "results": results,
        }],
    });
    format!("{log:#}\n")
}
