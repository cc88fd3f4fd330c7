//! The offline database against the PyPA advisory database snapshot (2024-10-10).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use safevenv_audit::{AdvisoryDb, Distribution, IgnoreList, RecordError};
use uv_normalize::PackageName;
use uv_pep440::Version;

fn advisories() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/advisories")
}

fn tar_gz() -> PathBuf {
    advisories().join("pypa-advisory-database-2024-10-10.tar.gz")
}

fn name(text: &str) -> PackageName {
    PackageName::from_str(text).unwrap()
}

fn version(text: &str) -> Version {
    Version::from_str(text).unwrap()
}

/// Computed independently of this crate by `tests/expectations.py` (python3 with PyYAML and pip's
/// vendored `packaging`, evaluating the OSV ranges of every YAML record in the tar.gz): for each
/// pair, the ids of the affecting advisories after merging records that share an id or alias,
/// each group named by its PYSEC id (else GHSA, else smallest). Withdrawn records are excluded.
///
/// `requests 2.31.0` is not affected in this snapshot: PYSEC-2023-74 (CVE-2023-32681) is fixed in
/// 2.31.0, and nothing later was published before 2024-10-10. The three records of `zope` at 4.5
/// include PYSEC-2021-104 and PYSEC-2021-88, merged through their shared GHSA-5pr9-v234-jw36.
const EXPECTED: &[(&str, &str, &[&str])] = &[
    (
        "jinja2",
        "2.4.1",
        &[
            "PYSEC-2014-8",
            "PYSEC-2014-82",
            "PYSEC-2019-217",
            "PYSEC-2019-220",
            "PYSEC-2021-66",
        ],
    ),
    ("pyyaml", "5.3", &["PYSEC-2020-96", "PYSEC-2021-142"]),
    (
        "flask",
        "0.5",
        &["PYSEC-2018-66", "PYSEC-2019-179", "PYSEC-2023-62"],
    ),
    ("requests", "2.31.0", &[]),
    ("requests", "2.19.1", &["PYSEC-2018-28", "PYSEC-2023-74"]),
    (
        "django",
        "3.2.0",
        &[
            "PYSEC-2021-109",
            "PYSEC-2021-439",
            "PYSEC-2021-7",
            "PYSEC-2021-8",
            "PYSEC-2021-98",
            "PYSEC-2021-99",
            "PYSEC-2022-1",
            "PYSEC-2022-19",
            "PYSEC-2022-190",
            "PYSEC-2022-191",
            "PYSEC-2022-2",
            "PYSEC-2022-20",
            "PYSEC-2022-213",
            "PYSEC-2022-245",
            "PYSEC-2022-3",
            "PYSEC-2022-304",
            "PYSEC-2023-100",
            "PYSEC-2023-12",
            "PYSEC-2023-13",
            "PYSEC-2023-222",
            "PYSEC-2023-225",
            "PYSEC-2023-226",
            "PYSEC-2023-61",
            "PYSEC-2024-28",
            "PYSEC-2024-47",
        ],
    ),
    ("django", "4.2.16", &[]),
    (
        "urllib3",
        "1.26.4",
        &["PYSEC-2021-108", "PYSEC-2023-192", "PYSEC-2023-212"],
    ),
    (
        "cryptography",
        "3.2",
        &[
            "PYSEC-2021-62",
            "PYSEC-2021-63",
            "PYSEC-2023-11",
            "PYSEC-2023-254",
        ],
    ),
    (
        "lxml",
        "4.6.2",
        &["PYSEC-2021-19", "PYSEC-2021-852", "PYSEC-2022-230"],
    ),
    (
        "pillow",
        "8.0.0",
        &[
            "PYSEC-2021-137",
            "PYSEC-2021-138",
            "PYSEC-2021-139",
            "PYSEC-2021-317",
            "PYSEC-2021-331",
            "PYSEC-2021-35",
            "PYSEC-2021-36",
            "PYSEC-2021-37",
            "PYSEC-2021-38",
            "PYSEC-2021-39",
            "PYSEC-2021-40",
            "PYSEC-2021-41",
            "PYSEC-2021-42",
            "PYSEC-2021-69",
            "PYSEC-2021-70",
            "PYSEC-2021-71",
            "PYSEC-2021-92",
            "PYSEC-2021-93",
            "PYSEC-2021-94",
            "PYSEC-2022-10",
            "PYSEC-2022-168",
            "PYSEC-2022-42979",
            "PYSEC-2022-8",
            "PYSEC-2022-9",
            "PYSEC-2023-175",
            "PYSEC-2023-227",
        ],
    ),
    ("numpy", "1.21.0", &[]),
    ("py", "1.11.0", &["PYSEC-2022-42969"]),
    (
        "aiohttp",
        "3.8.0",
        &[
            "PYSEC-2023-120",
            "PYSEC-2023-246",
            "PYSEC-2023-250",
            "PYSEC-2023-251",
            "PYSEC-2024-24",
            "PYSEC-2024-26",
        ],
    ),
    ("setuptools", "65.5.0", &["PYSEC-2022-43012"]),
    ("certifi", "2022.12.7", &["PYSEC-2023-135"]),
    ("idna", "3.6", &["PYSEC-2024-60"]),
    ("paramiko", "2.4.0", &["PYSEC-2022-166"]),
    ("tornado", "6.3.2", &[]),
    ("twisted", "22.4.0", &["PYSEC-2023-224", "PYSEC-2024-75"]),
    (
        "werkzeug",
        "2.2.2",
        &["PYSEC-2023-221", "PYSEC-2023-57", "PYSEC-2023-58"],
    ),
    (
        "pip",
        "19.1",
        &["PYSEC-2020-173", "PYSEC-2021-437", "PYSEC-2023-228"],
    ),
    (
        "ansible",
        "2.9.0",
        &[
            "PYSEC-2020-1",
            "PYSEC-2020-10",
            "PYSEC-2020-11",
            "PYSEC-2020-12",
            "PYSEC-2020-13",
            "PYSEC-2020-160",
            "PYSEC-2020-161",
            "PYSEC-2020-2",
            "PYSEC-2020-206",
            "PYSEC-2020-207",
            "PYSEC-2020-208",
            "PYSEC-2020-209",
            "PYSEC-2020-210",
            "PYSEC-2020-220",
            "PYSEC-2020-3",
            "PYSEC-2020-4",
            "PYSEC-2020-5",
            "PYSEC-2020-7",
            "PYSEC-2020-8",
            "PYSEC-2020-9",
            "PYSEC-2021-1",
            "PYSEC-2021-105",
            "PYSEC-2021-106",
            "PYSEC-2021-124",
            "PYSEC-2021-126",
            "PYSEC-2021-358",
            "PYSEC-2022-164",
        ],
    ),
    (
        "mlflow",
        "0.4.0",
        &[
            "PYSEC-2022-28",
            "PYSEC-2023-252",
            "PYSEC-2023-253",
            "PYSEC-2023-260",
            "PYSEC-2023-28",
            "PYSEC-2023-29",
            "PYSEC-2023-68",
            "PYSEC-2023-69",
            "PYSEC-2023-70",
            "PYSEC-2024-51",
        ],
    ),
    ("distributed", "2021.9.0", &["PYSEC-2021-871"]),
    (
        "zope",
        "4.5",
        &["PYSEC-2021-104", "PYSEC-2021-368", "PYSEC-2023-193"],
    ),
    (
        "zope",
        "4.6",
        &["PYSEC-2021-104", "PYSEC-2021-368", "PYSEC-2023-193"],
    ),
    (
        "zope",
        "5.2",
        &["PYSEC-2021-104", "PYSEC-2021-368", "PYSEC-2023-193"],
    ),
    ("zope", "5.2.1", &["PYSEC-2021-368", "PYSEC-2023-193"]),
    ("parlai", "1.0.0", &["PYSEC-2021-330"]),
    ("Jinja2", "2.11.3", &[]),
    ("no-such-package", "1.0", &[]),
];

fn ids(db: &AdvisoryDb, package: &str, installed: &str) -> Vec<String> {
    let mut ids: Vec<String> = db
        .query(&name(package), &version(installed))
        .into_iter()
        .map(|finding| finding.id)
        .collect();
    ids.sort();
    ids
}

fn sorted(expected: &[&str]) -> Vec<String> {
    let mut expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
    expected.sort();
    expected
}

#[test]
fn tar_gz_snapshot_gives_exactly_the_expected_ids() {
    let start = Instant::now();
    let db = AdvisoryDb::load(&tar_gz()).unwrap();
    eprintln!("loaded {} records in {:?}", db.len(), start.elapsed());
    let report = db.load_report();
    // Two records of the snapshot cannot be evaluated: their `fixed` bounds are not PEP 440
    // versions (`0.2.0-n653` for binderhub, the date `2019-09-12` for steam). They are reported,
    // not dropped: an audit of either package says it could not check them.
    let mut malformed: Vec<(&str, Vec<PackageName>)> = report
        .malformed
        .iter()
        .map(|m| (m.id.as_deref().unwrap(), m.packages.clone()))
        .collect();
    malformed.sort();
    assert_eq!(
        malformed,
        [
            ("PYSEC-2019-125", vec![name("steam")]),
            ("PYSEC-2021-371", vec![name("binderhub")]),
        ]
    );
    assert!(
        report
            .malformed
            .iter()
            .all(|m| matches!(m.error, RecordError::Compile(_)))
    );
    assert_eq!(report.records, 2659);
    assert_eq!(report.withdrawn, 10);
    assert_eq!(db.len(), 2649);
    let binderhub = db.audit(
        &[Distribution::new(name("binderhub"), version("0.1.0"))],
        &IgnoreList::default(),
    );
    assert_eq!(binderhub.unreadable.len(), 1);
    assert!(
        binderhub.unreadable[0].reason.contains("0.2.0-n653"),
        "{:?}",
        binderhub.unreadable
    );
    for (package, installed, expected) in EXPECTED {
        assert_eq!(
            ids(&db, package, installed),
            sorted(expected),
            "{package} {installed}"
        );
    }
}

#[test]
fn json_subset_agrees_with_the_yaml_snapshot() {
    let json = AdvisoryDb::load(&advisories().join("osv-json-subset")).unwrap();
    assert_eq!(json.load_report().records, 328);
    assert!(json.load_report().malformed.is_empty());
    let subset = [
        "aiohttp",
        "ansible",
        "certifi",
        "cryptography",
        "django",
        "flask",
        "idna",
        "jinja2",
        "lxml",
        "numpy",
        "paramiko",
        "pillow",
        "pip",
        "pyyaml",
        "requests",
        "setuptools",
        "tornado",
        "twisted",
        "urllib3",
        "werkzeug",
    ];
    let mut checked = 0;
    for (package, installed, expected) in EXPECTED {
        if subset.contains(&package.to_ascii_lowercase().as_str()) {
            assert_eq!(
                ids(&json, package, installed),
                sorted(expected),
                "{package} {installed}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 23);
}

#[test]
fn merged_records_list_every_id_and_suggest_a_fix_that_fixes_both() {
    let db = AdvisoryDb::load(&tar_gz()).unwrap();
    let findings = db.query(&name("zope"), &version("4.5"));
    let merged = findings.iter().find(|f| f.id == "PYSEC-2021-104").unwrap();
    // PYSEC-2021-88 shares GHSA-5pr9-v234-jw36 with PYSEC-2021-104: one finding, both ids.
    for alias in [
        "PYSEC-2021-88",
        "CVE-2021-32633",
        "CVE-2021-32674",
        "GHSA-5pr9-v234-jw36",
    ] {
        assert!(
            merged.aliases.iter().any(|a| a == alias),
            "{alias}: {:?}",
            merged.aliases
        );
    }
    // PYSEC-2021-88 is fixed in 4.6, PYSEC-2021-104 only in 4.6.1: 4.6.1 fixes both.
    assert_eq!(merged.lowest_fix, Some(version("4.6.1")));
    assert!(merged.fix_versions.contains(&version("4.6")));

    let distributed = db.query(&name("distributed"), &version("2021.9.0"));
    assert_eq!(distributed.len(), 1);
    assert!(
        distributed[0]
            .aliases
            .contains(&"PYSEC-2021-872".to_string())
    );
    assert_eq!(distributed[0].lowest_fix, Some(version("2021.10.0")));
}

#[test]
fn pip_audit_cases_and_fix_suggestions() {
    let db = AdvisoryDb::load(&tar_gz()).unwrap();
    let jinja = db.query(&name("Jinja2"), &version("2.4.1"));
    let first = jinja.iter().find(|f| f.id == "PYSEC-2014-8").unwrap();
    assert_eq!(first.lowest_fix, Some(version("2.7.2")));
    assert!(first.aliases.contains(&"CVE-2014-1402".to_string()));
    assert!(
        first
            .summary
            .as_deref()
            .unwrap()
            .contains("FileSystemBytecodeCache")
    );
    let report = db.audit(
        &[
            Distribution::new(name("pyyaml"), version("5.3")),
            Distribution::new(name("flask"), version("0.5")),
            Distribution::new(name("requests"), version("2.31.0")),
        ],
        &IgnoreList::new(["CVE-2020-14343"]),
    );
    let found: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.package.as_str(), f.id.as_str()))
        .collect();
    // PYSEC-2021-142 is CVE-2020-14343: ignored by its alias. Sorted by package, then id.
    assert_eq!(
        found,
        [
            ("flask", "PYSEC-2018-66"),
            ("flask", "PYSEC-2019-179"),
            ("flask", "PYSEC-2023-62"),
            ("pyyaml", "PYSEC-2020-96"),
        ]
    );
    assert_eq!(report.ignored.len(), 1);
    assert_eq!(report.ignored[0].id, "PYSEC-2021-142");
    assert!(report.unreadable.is_empty());
}

#[test]
fn a_malformed_record_in_the_archive_is_reported_with_its_package() {
    // The snapshot, repacked with one record broken and one record not even YAML.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("db.tar.gz");
    let source = flate2::read::GzDecoder::new(fs_err::File::open(tar_gz()).unwrap());
    let mut input = tar::Archive::new(source);
    let output = flate2::write::GzEncoder::new(
        fs_err::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    );
    let mut builder = tar::Builder::new(output);
    for entry in input.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let mut header = entry.header().clone();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if path.ends_with("jinja2/PYSEC-2014-8.yaml") {
            bytes = String::from_utf8(bytes)
                .unwrap()
                .replace("- fixed: 2.7.2", "- fixed: [2.7.2]")
                .into_bytes();
        } else if path.ends_with("flask/PYSEC-2018-66.yaml") {
            bytes = b"id: [unclosed\n".to_vec();
        }
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        builder.append(&header, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();

    let db = AdvisoryDb::load(&archive).unwrap();
    let malformed = &db.load_report().malformed;
    assert_eq!(
        malformed.len(),
        4,
        "the two broken here and binderhub's and steam's"
    );
    assert_eq!(db.load_report().records, 2657);
    let jinja = malformed
        .iter()
        .find(|m| m.source.ends_with("PYSEC-2014-8.yaml"))
        .unwrap();
    assert_eq!(jinja.id.as_deref(), Some("PYSEC-2014-8"));
    assert_eq!(jinja.packages, [name("jinja2")]);
    assert!(matches!(jinja.error, RecordError::Schema(_)));
    let flask = malformed
        .iter()
        .find(|m| m.source.ends_with("PYSEC-2018-66.yaml"))
        .unwrap();
    assert_eq!(flask.id, None);
    assert_eq!(
        flask.packages,
        [name("flask")],
        "from the vulns/<package>/ layout"
    );
    assert!(matches!(flask.error, RecordError::Yaml(_)));

    // Auditing jinja2 says the record could not be checked; auditing numpy does not.
    let report = db.audit(
        &[Distribution::new(name("jinja2"), version("2.4.1"))],
        &IgnoreList::default(),
    );
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(report.unreadable[0].package, Some(name("jinja2")));
    assert!(!report.is_clean());
    assert!(!report.findings.iter().any(|f| f.id == "PYSEC-2014-8"));
    let report = db.audit(
        &[Distribution::new(name("numpy"), version("1.21.0"))],
        &IgnoreList::default(),
    );
    assert!(report.is_clean());
}
