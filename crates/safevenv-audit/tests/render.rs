//! The renderers: SARIF 2.1.0 structure, JSON fields, the table.

use std::path::PathBuf;
use std::str::FromStr;

use safevenv_audit::{
    AdvisoryDb, Distribution, IgnoreList, Report, render_json, render_sarif, render_table,
};
use serde_json::Value;
use uv_normalize::PackageName;
use uv_pep440::Version;

fn report() -> Report {
    let subset = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/advisories/osv-json-subset");
    let db = AdvisoryDb::load(&subset).unwrap();
    let installed = [
        ("jinja2", "2.4.1"),
        ("pyyaml", "5.3"),
        ("requests", "2.31.0"),
    ]
    .map(|(name, version)| {
        Distribution::new(
            PackageName::from_str(name).unwrap(),
            Version::from_str(version).unwrap(),
        )
    });
    db.audit(&installed, &IgnoreList::default())
}

fn string<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("`{pointer}` is not a string in {value:#}"))
}

#[test]
fn sarif_has_the_required_structure() {
    let report = report();
    let sarif: Value = serde_json::from_str(&render_sarif(&report, "sub\\pylock.toml")).unwrap();
    assert_eq!(string(&sarif, "/version"), "2.1.0");
    assert!(string(&sarif, "/$schema").contains("sarif-2.1.0"));
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(string(run, "/tool/driver/name"), "safevenv");
    let rules = run
        .pointer("/tool/driver/rules")
        .and_then(Value::as_array)
        .unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), report.findings.len());
    // One rule per advisory, each with an id and a short description.
    let rule_ids: Vec<&str> = rules.iter().map(|rule| string(rule, "/id")).collect();
    let mut unique = rule_ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), rule_ids.len());
    for rule in rules {
        assert!(!string(rule, "/shortDescription/text").is_empty());
    }
    for (result, finding) in results.iter().zip(&report.findings) {
        let rule_id = string(result, "/ruleId");
        assert_eq!(rule_id, finding.id);
        let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rule_ids[index], rule_id);
        assert!(["error", "warning", "note", "none"].contains(&string(result, "/level")));
        assert!(string(result, "/message/text").contains(&finding.id));
        assert_eq!(
            string(result, "/locations/0/physicalLocation/artifactLocation/uri"),
            "sub/pylock.toml"
        );
    }
    let jinja = results
        .iter()
        .find(|r| string(r, "/ruleId") == "PYSEC-2014-8")
        .unwrap();
    assert_eq!(
        string(jinja, "/message/text"),
        "jinja2 2.4.1 is affected by PYSEC-2014-8: upgrade to 2.7.2 or later"
    );
}

#[test]
fn sarif_of_a_clean_report_is_valid_and_empty() {
    let sarif: Value =
        serde_json::from_str(&render_sarif(&Report::default(), "requirements.txt")).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 0);
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn json_lists_every_finding_field() {
    let report = report();
    let json: Value = serde_json::from_str(&render_json(&report)).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 7);
    let first = &findings[0];
    assert_eq!(string(first, "/package"), "jinja2");
    assert_eq!(string(first, "/version"), "2.4.1");
    assert_eq!(string(first, "/id"), "PYSEC-2014-8");
    assert_eq!(string(first, "/lowest_fix"), "2.7.2");
    assert_eq!(first["fix_versions"], serde_json::json!(["2.7.2"]));
    assert!(
        first["aliases"]
            .as_array()
            .unwrap()
            .contains(&"CVE-2014-1402".into())
    );
    assert!(json["unreadable"].as_array().unwrap().is_empty());
}

#[test]
fn table_has_one_line_per_finding() {
    let report = report();
    let table = render_table(&report);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2 + report.findings.len(), "{table}");
    assert!(lines[0].starts_with("package"));
    assert!(lines.iter().any(|line| line.starts_with("jinja2")
        && line.contains("PYSEC-2014-8")
        && line.contains("2.7.2")));
    assert_eq!(
        render_table(&Report::default()),
        "no known vulnerabilities found\n"
    );
}
