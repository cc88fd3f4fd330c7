//! Range evaluation, merging, ignoring, and the loaders, on small hand-written records.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use safevenv_audit::{AdvisoryDb, Distribution, IgnoreList, LoadError, RecordError};
use serde_json::{Value, json};
use uv_normalize::PackageName;
use uv_pep440::Version;

fn name(text: &str) -> PackageName {
    PackageName::from_str(text).unwrap()
}

fn version(text: &str) -> Version {
    Version::from_str(text).unwrap()
}

/// A PyPI record about `package` with the given ranges and explicit versions.
fn record(id: &str, package: &str, ranges: Value, versions: Value) -> Value {
    json!({
        "id": id,
        "modified": "2024-01-01T00:00:00Z",
        "aliases": [],
        "affected": [{
            "package": { "ecosystem": "PyPI", "name": package },
            "ranges": ranges,
            "versions": versions,
        }],
    })
}

fn ecosystem(events: Value) -> Value {
    json!([{ "type": "ECOSYSTEM", "events": events }])
}

/// A database of `records`, written as JSON files in a folder.
fn db(records: &[Value]) -> AdvisoryDb {
    let dir = tempfile::tempdir().unwrap();
    for (index, record) in records.iter().enumerate() {
        fs_err::write(dir.path().join(format!("{index}.json")), record.to_string()).unwrap();
    }
    AdvisoryDb::load(dir.path()).unwrap()
}

/// For each version, whether the database reports it affected.
fn affected(db: &AdvisoryDb, package: &str, versions: &[&str]) -> Vec<bool> {
    versions
        .iter()
        .map(|v| !db.query(&name(package), &version(v)).is_empty())
        .collect()
}

#[test]
fn introduced_is_inclusive_and_fixed_exclusive() {
    let db = db(&[record(
        "PYSEC-1",
        "demo",
        ecosystem(json!([{"introduced": "1.0"}, {"fixed": "2.0"}])),
        json!([]),
    )]);
    assert_eq!(
        affected(
            &db,
            "demo",
            &["0.9", "1.0", "1.0.0", "1.9.9", "2.0", "2.0.0", "2.0.1"]
        ),
        [false, true, true, true, false, false, false]
    );
}

#[test]
fn last_affected_is_inclusive() {
    let db = db(&[record(
        "PYSEC-1",
        "demo",
        ecosystem(json!([{"introduced": "1.0"}, {"last_affected": "1.5"}])),
        json!([]),
    )]);
    assert_eq!(
        affected(
            &db,
            "demo",
            &["0.9", "1.0", "1.5", "1.5.0", "1.5.post1", "1.5.1", "2.0"]
        ),
        [false, true, true, true, false, false, false]
    );
}

#[test]
fn introduced_zero_includes_every_earlier_version() {
    let db = db(&[record(
        "PYSEC-1",
        "demo",
        ecosystem(json!([{"introduced": "0"}, {"fixed": "1.0"}])),
        json!([]),
    )]);
    // `0.dev0` sorts before the version `0`: "0" in OSV means the very first version.
    assert_eq!(
        affected(
            &db,
            "demo",
            &[
                "0.dev0", "0", "0.0.1a1", "0.9", "1.0.dev1", "1.0rc1", "1.0", "1!0.1"
            ]
        ),
        [true, true, true, true, true, true, false, false]
    );
}

#[test]
fn pre_releases_post_releases_and_local_versions_follow_pep_440() {
    let db = db(&[record(
        "PYSEC-1",
        "demo",
        ecosystem(json!([{"introduced": "2.0"}, {"fixed": "2.1.post1"}])),
        json!([]),
    )]);
    assert_eq!(
        // A pre-release of 2.0 precedes it; 2.1.post1 fixes, 2.1 and its local builds do not.
        affected(
            &db,
            "demo",
            &[
                "2.0rc1",
                "2.0.dev3",
                "2.0",
                "2.0+local.1",
                "2.1",
                "2.1+ubuntu",
                "2.1.post1",
                "2.1.post1+local",
                "2.2a1"
            ]
        ),
        [false, false, true, true, true, true, false, false, false]
    );
}

#[test]
fn events_are_sorted_and_ranges_combined() {
    // Unsorted events in one range, as in zope's PYSEC-2021-104, and a second range.
    let ranges = json!([
        { "type": "ECOSYSTEM", "events": [{"introduced": "5.0"}, {"fixed": "5.2.1"}, {"introduced": "4.0"}, {"fixed": "4.6.1"}] },
        { "type": "ECOSYSTEM", "events": [{"introduced": "7.0"}, {"last_affected": "7.1"}] },
        { "type": "GIT", "repo": "https://git.example/demo", "events": [{"introduced": "0"}, {"fixed": "abcdef"}] },
    ]);
    let db = db(&[record("PYSEC-1", "demo", ranges, json!([]))]);
    assert_eq!(
        affected(
            &db,
            "demo",
            &[
                "3.9", "4.0", "4.6", "4.6.1", "4.9", "5.0", "5.2", "5.2.1", "6.0", "7.0", "7.1",
                "7.1.1"
            ]
        ),
        [
            false, true, true, false, false, true, true, false, false, true, true, false
        ]
    );
    let finding = &db.query(&name("demo"), &version("4.5"))[0];
    assert_eq!(finding.fix_versions, [version("4.6.1"), version("5.2.1")]);
    assert_eq!(finding.lowest_fix, Some(version("4.6.1")));
    // 7.0 is affected by a range without a fix: nothing above it is a fix.
    assert_eq!(db.query(&name("demo"), &version("7.0"))[0].lowest_fix, None);
}

#[test]
fn limit_bounds_a_range_and_git_ranges_are_ignored() {
    let db = db(&[
        record(
            "PYSEC-1",
            "demo",
            ecosystem(json!([{"introduced": "0"}, {"limit": "2.0"}])),
            json!([]),
        ),
        record(
            "PYSEC-2",
            "git-only",
            json!([{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}]}]),
            json!([]),
        ),
    ]);
    assert_eq!(
        affected(&db, "demo", &["1.0", "2.0", "3.0"]),
        [true, false, false]
    );
    assert_eq!(affected(&db, "git-only", &["1.0"]), [false]);
}

#[test]
fn explicit_versions_are_compared_as_pep_440() {
    let db = db(&[record(
        "PYSEC-1",
        "demo",
        json!([]),
        json!(["1.0", "1.1RC1", "1.2-post-1", "not a version"]),
    )]);
    assert_eq!(
        affected(
            &db,
            "demo",
            &["1.0.0", "1.0", "1.1rc1", "1.2.post1", "1.1", "1.0.1"]
        ),
        [true, true, true, true, false, false]
    );
}

#[test]
fn names_are_normalized_and_other_ecosystems_ignored() {
    let mut npm = record(
        "GHSA-npm",
        "demo",
        ecosystem(json!([{"introduced": "0"}])),
        json!([]),
    );
    npm["affected"][0]["package"]["ecosystem"] = json!("npm");
    let db = db(&[
        record(
            "PYSEC-1",
            "Zope.Interface_Extra",
            ecosystem(json!([{"introduced": "0"}])),
            json!([]),
        ),
        npm,
    ]);
    assert_eq!(affected(&db, "zope-interface-extra", &["1.0"]), [true]);
    assert_eq!(affected(&db, "demo", &["1.0"]), [false]);
}

#[test]
fn withdrawn_records_are_ignored() {
    let mut withdrawn = record(
        "PYSEC-1",
        "demo",
        ecosystem(json!([{"introduced": "0"}])),
        json!([]),
    );
    withdrawn["withdrawn"] = json!("2024-02-01T00:00:00Z");
    let db = db(&[withdrawn]);
    assert_eq!(affected(&db, "demo", &["1.0"]), [false]);
    assert_eq!(db.load_report().withdrawn, 1);
    // Without the withdrawal, the same record is reported.
    let db2 = self::db(&[record(
        "PYSEC-1",
        "demo",
        ecosystem(json!([{"introduced": "0"}])),
        json!([]),
    )]);
    assert_eq!(affected(&db2, "demo", &["1.0"]), [true]);
}

#[test]
fn records_sharing_an_alias_are_one_finding_named_deterministically() {
    let events = || ecosystem(json!([{"introduced": "0"}, {"fixed": "2.0"}]));
    let mut ghsa = record("GHSA-aaaa-bbbb-cccc", "demo", events(), json!([]));
    ghsa["aliases"] = json!(["CVE-2024-1"]);
    ghsa["summary"] = json!("from GitHub");
    ghsa["database_specific"] = json!({"severity": "MODERATE"});
    ghsa["severity"] =
        json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]);
    let mut pysec = record("PYSEC-2024-9", "demo", events(), json!([]));
    pysec["aliases"] = json!(["CVE-2024-1"]);
    pysec["details"] = json!("\nFirst line of the details.\nMore.");
    let mut other = record("OSV-2024-5", "demo", events(), json!([]));
    other["aliases"] = json!(["CVE-2024-2"]);
    let mut cve_only = record("CVE-2024-2-dup", "demo", events(), json!([]));
    cve_only["aliases"] = json!(["CVE-2024-2"]);
    // Both orders of loading give the same findings.
    for records in [
        vec![ghsa.clone(), pysec.clone(), other.clone(), cve_only.clone()],
        vec![cve_only, other, pysec, ghsa],
    ] {
        let findings = db(&records).query(&name("demo"), &version("1.0"));
        assert_eq!(findings.len(), 2, "{findings:?}");
        let cve1 = findings
            .iter()
            .find(|f| f.is_known_as("CVE-2024-1"))
            .unwrap();
        assert_eq!(cve1.id, "PYSEC-2024-9");
        assert_eq!(cve1.aliases, ["CVE-2024-1", "GHSA-aaaa-bbbb-cccc"]);
        assert_eq!(cve1.summary.as_deref(), Some("First line of the details."));
        assert_eq!(cve1.severity_label.as_deref(), Some("MODERATE"));
        assert_eq!(cve1.severity.len(), 1);
        assert_eq!(cve1.lowest_fix, Some(version("2.0")));
        let cve2 = findings
            .iter()
            .find(|f| f.is_known_as("CVE-2024-2"))
            .unwrap();
        // Neither is PYSEC or GHSA: the smallest id.
        assert_eq!(cve2.id, "CVE-2024-2-dup");
        assert_eq!(cve2.aliases, ["CVE-2024-2", "OSV-2024-5"]);
    }
}

#[test]
fn ignore_matches_an_id_or_any_alias() {
    let mut first = record(
        "PYSEC-1",
        "demo",
        ecosystem(json!([{"introduced": "0"}])),
        json!([]),
    );
    first["aliases"] = json!(["CVE-2020-1", "GHSA-xxxx-yyyy-zzzz"]);
    let second = record(
        "PYSEC-2",
        "demo",
        ecosystem(json!([{"introduced": "0"}])),
        json!([]),
    );
    let db = db(&[first, second]);
    let installed = [Distribution::new(name("demo"), version("1.0"))];
    for ignore in ["PYSEC-1", "CVE-2020-1", "ghsa-xxxx-yyyy-zzzz"] {
        let report = db.audit(&installed, &IgnoreList::new([ignore]));
        let ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["PYSEC-2"], "ignoring {ignore}");
        assert_eq!(report.ignored[0].id, "PYSEC-1");
    }
    let report = db.audit(&installed, &IgnoreList::new(["CVE-2020-9"]));
    assert_eq!(report.findings.len(), 2);
    assert!(report.ignored.is_empty());
}

fn sample_records() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "vulns/demo/PYSEC-1.json".to_string(),
            record("PYSEC-1", "demo", ecosystem(json!([{"introduced": "0"}, {"fixed": "2.0"}])), json!([])).to_string().into_bytes(),
        ),
        (
            "vulns/other/PYSEC-2.yaml".to_string(),
            b"id: PYSEC-2\nmodified: '2024-01-01T00:00:00Z'\naffected:\n- package:\n    name: other\n    ecosystem: PyPI\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 0\n    - fixed: 1.10\n".to_vec(),
        ),
        ("vulns/other/PYSEC-3.yml".to_string(), b"id: PYSEC-3\nmodified: x\naffected: {broken: true}\n".to_vec()),
        ("README.md".to_string(), b"# not a record\n".to_vec()),
    ]
}

fn check_sample(db: &AdvisoryDb) {
    assert_eq!(db.len(), 2);
    assert_eq!(affected(db, "demo", &["1.9", "2.0"]), [true, false]);
    // Unquoted `1.10` stays the version 1.10, not the number 1.1.
    assert_eq!(affected(db, "other", &["1.9", "1.10"]), [true, false]);
    let malformed = &db.load_report().malformed;
    assert_eq!(malformed.len(), 1);
    assert_eq!(malformed[0].id.as_deref(), Some("PYSEC-3"));
    assert_eq!(malformed[0].packages, [name("other")]);
    assert!(malformed[0].source.ends_with("PYSEC-3.yml"));
}

#[test]
fn loads_a_folder_recursively() {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in sample_records() {
        let path = dir.path().join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, bytes).unwrap();
    }
    check_sample(&AdvisoryDb::load(dir.path()).unwrap());
}

#[test]
fn loads_a_tar_gz() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("db.tgz");
    let gz = flate2::write::GzEncoder::new(
        fs_err::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    );
    let mut builder = tar::Builder::new(gz);
    for (path, bytes) in sample_records() {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, bytes.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
    check_sample(&AdvisoryDb::load(&archive).unwrap());
}

#[test]
fn loads_a_zip() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("db.zip");
    let mut zip = zip::ZipWriter::new(fs_err::File::create(&archive).unwrap());
    zip.add_directory("vulns/", zip::write::SimpleFileOptions::default())
        .unwrap();
    for (path, bytes) in sample_records() {
        zip.start_file(path, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    check_sample(&AdvisoryDb::load(&archive).unwrap());
}

#[test]
fn loads_a_single_file_of_either_format() {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in sample_records().into_iter().take(2) {
        let file = dir.path().join(Path::new(&path).file_name().unwrap());
        fs_err::write(&file, bytes).unwrap();
        let db = AdvisoryDb::load(&file).unwrap();
        assert_eq!(db.len(), 1, "{path}");
        assert!(db.load_report().malformed.is_empty());
    }
}

#[test]
fn refuses_what_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    fs_err::write(&text, "x").unwrap();
    let error = AdvisoryDb::load(&text).unwrap_err();
    assert!(matches!(error, LoadError::Unsupported { .. }));
    assert!(error.to_string().contains("notes.txt"));

    let missing = dir.path().join("missing");
    let error = AdvisoryDb::load(&missing).unwrap_err();
    assert!(matches!(error, LoadError::Read { ref path, .. } if *path == missing));

    let zip = dir.path().join("broken.zip");
    fs_err::write(&zip, "not a zip").unwrap();
    assert!(matches!(
        AdvisoryDb::load(&zip).unwrap_err(),
        LoadError::Zip { .. }
    ));

    let tar = dir.path().join("broken.tar.gz");
    fs_err::write(&tar, "not gzip").unwrap();
    assert!(matches!(
        AdvisoryDb::load(&tar).unwrap_err(),
        LoadError::Tar { .. }
    ));
}

#[test]
fn oversized_unparsable_and_unevaluable_records_are_counted_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("vulns/huge/BIG-1.json");
    fs_err::create_dir_all(big.parent().unwrap()).unwrap();
    let mut file = fs_err::File::create(&big).unwrap();
    file.write_all(&vec![
        b' ';
        usize::try_from(safevenv_audit::MAX_RECORD_BYTES)
            .unwrap()
            + 1
    ])
    .unwrap();
    fs_err::write(dir.path().join("bad.json"), b"{\"id\": \"X-1\", \"modified\": 3, \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"demo\"}}]}").unwrap();
    fs_err::write(
        dir.path().join("bound.json"),
        record(
            "X-2",
            "demo",
            ecosystem(json!([{"introduced": "0"}, {"fixed": "2019-09-12"}])),
            json!([]),
        )
        .to_string(),
    )
    .unwrap();
    fs_err::write(dir.path().join("latin1.yaml"), b"id: caf\xe9\n").unwrap();
    let db = AdvisoryDb::load(dir.path()).unwrap();
    assert!(db.is_empty());
    let mut errors: Vec<(String, Vec<PackageName>)> = db
        .load_report()
        .malformed
        .iter()
        .map(|m| {
            let kind = match m.error {
                RecordError::TooLarge => "too large",
                RecordError::Json(_) => "json",
                RecordError::Compile(_) => "bound",
                RecordError::NotUtf8 => "not utf-8",
                _ => "other",
            };
            (kind.to_string(), m.packages.clone())
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("bound".to_string(), vec![name("demo")]),
            ("json".to_string(), vec![name("demo")]),
            ("not utf-8".to_string(), vec![]),
            ("too large".to_string(), vec![name("huge")]),
        ]
    );
    // A record naming no package may be about any: every audit lists it.
    let report = db.audit(
        &[Distribution::new(name("unrelated"), version("1.0"))],
        &IgnoreList::default(),
    );
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(report.unreadable[0].package, None);
    let report = db.audit(
        &[Distribution::new(name("demo"), version("1.0"))],
        &IgnoreList::default(),
    );
    assert_eq!(report.unreadable.len(), 3);
}
