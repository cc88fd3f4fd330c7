//! `safevenv audit` end to end: the PyPA advisory database snapshot offline (`--db`), a local
//! OSV API online, and the policy gate's vulnerability facts at install time (`--audit-db`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use common::{TestContext, stderr, stdout};
use safevenv_test_index::{IndexFile, TestIndex, WheelSpec};
use serde_json::Value;

/// The PyPA advisory database as of 2024-10-10 (OSV YAML in a tar.gz).
fn pypa_db() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors/advisories/pypa-advisory-database-2024-10-10.tar.gz")
}

fn audit(context: &TestContext, args: &[&str]) -> Output {
    context
        .safevenv()
        .arg("audit")
        .args(args)
        .output()
        .expect("run safevenv")
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

/// A lockfile listing `name==version` packages from an index, each with one wheel.
fn lockfile(packages: &[(&str, &str)]) -> String {
    let mut text = String::from("lock-version = \"1.0\"\ncreated-by = \"test\"\n");
    for (index, (name, version)) in packages.iter().enumerate() {
        text.push_str(&format!(
            "\n[[packages]]\nname = \"{name}\"\nversion = \"{version}\"\nindex = \"https://index.example/simple/\"\n\
             wheels = [\n    {{ name = \"{name}-{version}-py3-none-any.whl\", url = \"https://index.example/files/{name}-{version}-py3-none-any.whl\", hashes = {{ sha256 = \"{index:064x}\" }} }},\n]\n"
        ));
    }
    text
}

const VULNERABLE: &[(&str, &str)] = &[("jinja2", "2.4.1"), ("pyyaml", "5.3"), ("flask", "0.5")];

#[test]
fn a_lockfile_of_vulnerable_versions_reports_their_advisories_and_exits_3() {
    let context = TestContext::new();
    fs_err::write(context.work().join("pylock.toml"), lockfile(VULNERABLE)).unwrap();
    let db = pypa_db();
    // No subject: the `pylock.toml` here.
    let output = audit(&context, &["--db", db.to_str().unwrap()]);
    assert_eq!(code(&output), Some(3), "{}", stderr(&output));
    let table = stdout(&output);
    for id in ["PYSEC-2014-8", "PYSEC-2021-142", "PYSEC-2023-62"] {
        assert!(table.contains(id), "{id} missing from\n{table}");
    }
    assert!(
        stderr(&output).contains("known vulnerabilities in 3 distributions"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn pinned_requirements_report_the_same_and_a_safe_pin_is_clean() {
    let context = TestContext::new();
    let db = pypa_db();
    let db = db.to_str().unwrap();
    fs_err::write(
        context.work().join("requirements.txt"),
        "jinja2==2.4.1\npyyaml==5.3\nflask==0.5\n",
    )
    .unwrap();
    let output = audit(&context, &["-r", "requirements.txt", "--db", db]);
    assert_eq!(code(&output), Some(3), "{}", stderr(&output));
    assert!(stdout(&output).contains("PYSEC-2019-217"));

    fs_err::write(context.work().join("safe.txt"), "requests==2.31.0\n").unwrap();
    let output = audit(&context, &["-r", "safe.txt", "--db", db]);
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("no known vulnerabilities"));
}

#[test]
fn an_unpinned_requirement_is_refused_with_its_line() {
    let context = TestContext::new();
    fs_err::write(
        context.work().join("requirements.txt"),
        "jinja2==2.4.1\nrequests>=2\n",
    )
    .unwrap();
    let db = pypa_db();
    let output = audit(
        &context,
        &["-r", "requirements.txt", "--db", db.to_str().unwrap()],
    );
    assert_eq!(code(&output), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("line 2") && message.contains("requests>=2") && message.contains("=="),
        "{message}"
    );
}

#[test]
fn ignore_removes_an_advisory_by_id_or_alias() {
    let context = TestContext::new();
    fs_err::write(
        context.work().join("pylock.toml"),
        lockfile(&[("pyyaml", "5.3")]),
    )
    .unwrap();
    let db = pypa_db();
    let db = db.to_str().unwrap();
    let ids = |output: &Output| -> Vec<String> {
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|finding| finding["id"].as_str().unwrap().to_string())
            .collect()
    };
    let output = audit(&context, &["--db", db, "--format", "json"]);
    assert_eq!(code(&output), Some(3));
    assert_eq!(ids(&output), ["PYSEC-2020-96", "PYSEC-2021-142"]);

    // One by its own id, the other by its CVE alias: nothing is left, so the audit passes.
    let output = audit(
        &context,
        &[
            "--db",
            db,
            "--format",
            "json",
            "--ignore",
            "PYSEC-2020-96",
            "--ignore",
            "CVE-2020-14343",
        ],
    );
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    assert!(ids(&output).is_empty());

    let output = audit(
        &context,
        &["--db", db, "--format", "json", "--ignore", "CVE-2020-1747"],
    );
    assert_eq!(code(&output), Some(3));
    assert_eq!(ids(&output), ["PYSEC-2021-142"]);
}

#[test]
fn sarif_output_parses_and_names_the_advisories() {
    let context = TestContext::new();
    fs_err::write(context.work().join("pylock.toml"), lockfile(VULNERABLE)).unwrap();
    let db = pypa_db();
    let output = audit(
        &context,
        &["--db", db.to_str().unwrap(), "--format", "sarif"],
    );
    assert_eq!(code(&output), Some(3));
    let sarif: Value = serde_json::from_slice(&output.stdout).expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let text = sarif.to_string();
    for id in ["PYSEC-2014-8", "PYSEC-2020-96", "PYSEC-2018-66"] {
        assert!(text.contains(id), "{id} missing from the SARIF log");
    }
}

#[test]
fn a_missing_database_is_refused_with_its_path() {
    let context = TestContext::new();
    fs_err::write(
        context.work().join("pylock.toml"),
        lockfile(&[("pyyaml", "5.3")]),
    )
    .unwrap();
    let output = audit(&context, &["--db", "no-such-db"]);
    assert_eq!(code(&output), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no-such-db"),
        "{}",
        stderr(&output)
    );
}

/// A record about `demo`: 1.0 affected, fixed in 1.1, severity HIGH (GitHub's label).
fn demo_record() -> String {
    serde_json::json!({
        "id": "GHSA-demo-test-0001",
        "modified": "2024-01-01T00:00:00Z",
        "aliases": ["CVE-2099-0001"],
        "summary": "demo runs anything it is given",
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": "demo"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1"}]}],
        }],
        "database_specific": {"severity": "HIGH"},
    })
    .to_string()
}

/// A tiny OSV API on 127.0.0.1: `POST /v1/querybatch` says `demo 1.0` has the demo record,
/// `GET /v1/vulns/{id}` serves it. One thread, one request per connection.
fn serve_osv() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let mut parts = request_line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            seen.lock().unwrap().push(format!("{method} {path} {body}"));
            let (status, answer) = match (method, path) {
                ("POST", "/v1/querybatch") => {
                    let request: Value = serde_json::from_str(&body).unwrap_or_default();
                    let results: Vec<Value> = request["queries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|query| {
                            if query["package"]["name"] == "demo" && query["version"] == "1.0" {
                                serde_json::json!({"vulns": [{"id": "GHSA-demo-test-0001", "modified": "2024-01-01T00:00:00Z"}]})
                            } else {
                                serde_json::json!({})
                            }
                        })
                        .collect();
                    (
                        "200 OK",
                        serde_json::json!({ "results": results }).to_string(),
                    )
                }
                ("GET", "/v1/vulns/GHSA-demo-test-0001") => ("200 OK", demo_record()),
                _ => ("404 Not Found", "{}".to_string()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, log)
}

#[test]
fn online_audit_asks_the_osv_api_and_caches_the_record() {
    let context = TestContext::new();
    fs_err::write(
        context.work().join("pylock.toml"),
        lockfile(&[("demo", "1.0"), ("other", "2.0")]),
    )
    .unwrap();
    let (url, log) = serve_osv();
    let output = audit(&context, &["--osv-url", &url, "--format", "json"]);
    assert_eq!(code(&output), Some(3), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["findings"][0]["id"], "GHSA-demo-test-0001");
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
    let requests = log.lock().unwrap().clone();
    assert!(requests[0].starts_with("POST /v1/querybatch") && requests[0].contains("\"other\""));
    assert!(
        requests
            .iter()
            .any(|line| line.starts_with("GET /v1/vulns/GHSA-demo-test-0001"))
    );
    assert!(
        context.cache().join("osv-v1").is_dir(),
        "answers are cached"
    );

    // Within the cache's lifetime the same audit asks nothing.
    log.lock().unwrap().clear();
    let output = audit(&context, &["--osv-url", &url]);
    assert_eq!(code(&output), Some(3));
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

#[test]
fn offline_audit_never_touches_the_network() {
    let context = TestContext::new();
    fs_err::write(
        context.work().join("pylock.toml"),
        lockfile(&[("demo", "1.0")]),
    )
    .unwrap();
    let (url, log) = serve_osv();
    let db = context.root.path().join("db");
    fs_err::create_dir_all(&db).unwrap();
    fs_err::write(db.join("GHSA-demo-test-0001.json"), demo_record()).unwrap();
    // `--db` and `--osv-url` together are refused; `--db` alone asks nobody.
    let output = audit(&context, &["--db", db.to_str().unwrap(), "--osv-url", &url]);
    assert_eq!(code(&output), Some(2));
    let output = audit(&context, &["--db", db.to_str().unwrap()]);
    assert_eq!(code(&output), Some(3), "{}", stderr(&output));
    assert!(stdout(&output).contains("GHSA-demo-test-0001"));
    assert!(log.lock().unwrap().is_empty());
}

// The policy gate: `install --audit-db`.

fn with_environment() -> TestContext {
    TestContext::with_environment()
}

fn install(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context
        .safevenv()
        .arg("install")
        .args(args)
        .env("SAFEVENV_INDEX_URL", index.url())
        .env("SAFEVENV_INDEX_TTL", "0")
        .output()
        .expect("run safevenv")
}

fn demo_db(context: &TestContext) -> PathBuf {
    let db = context.root.path().join("advisories");
    fs_err::create_dir_all(&db).unwrap();
    fs_err::write(db.join("GHSA-demo-test-0001.json"), demo_record()).unwrap();
    db
}

#[test]
fn install_refuses_a_version_the_database_marks_vulnerable_and_lets_the_fix_through() {
    let context = with_environment();
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("demo", "1.0").file("demo/__init__.py", b"V = 1\n".to_vec()))
        .wheel(WheelSpec::new("demo", "1.1").file("demo/__init__.py", b"V = 2\n".to_vec()))
        .start()
        .unwrap();
    let db = demo_db(&context);
    let db = db.to_str().unwrap();

    let output = install(&context, &index, &["demo==1.0", "--audit-db", db]);
    assert_eq!(code(&output), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("vulnerabilities") && message.contains("GHSA-demo-test-0001"),
        "{message}"
    );
    assert!(!context.work().join("pylock.toml").exists());

    // The same through the environment variable.
    let output = context
        .safevenv()
        .args(["install", "demo==1.0"])
        .env("SAFEVENV_INDEX_URL", index.url())
        .env("SAFEVENV_AUDIT_DB", db)
        .output()
        .unwrap();
    assert_eq!(code(&output), Some(3), "{}", stderr(&output));

    let output = install(&context, &index, &["demo==1.1", "--audit-db", db]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("Installed demo 1.1"));
}

#[test]
fn a_release_that_fixes_the_installed_version_skips_the_release_age_wait() {
    let context = with_environment();
    let index = TestIndex::builder()
        .file(
            IndexFile::from(
                WheelSpec::new("demo", "1.0").file("demo/__init__.py", b"V = 1\n".to_vec()),
            )
            .upload_time("2020-01-01T00:00:00.000000Z"),
        )
        // Uploaded "in the future": never old enough for a waiting period.
        .file(
            IndexFile::from(
                WheelSpec::new("demo", "1.1").file("demo/__init__.py", b"V = 2\n".to_vec()),
            )
            .upload_time("2099-01-01T00:00:00.000000Z"),
        )
        .start()
        .unwrap();
    fs_err::write(
        context.work().join("safevenv.toml"),
        "[releases]\nmin-release-age = \"7 days\"\nsecurity-fix-bypass = true\n",
    )
    .unwrap();
    let output = install(&context, &index, &["demo==1.0", "--no-lockfile"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Without the database nothing says 1.1 is a fix: it waits like any release.
    let output = install(&context, &index, &["demo==1.1", "--no-lockfile"]);
    assert_eq!(code(&output), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("releases.min-age"),
        "{}",
        stderr(&output)
    );

    let db = demo_db(&context);
    let output = install(
        &context,
        &index,
        &[
            "demo==1.1",
            "--no-lockfile",
            "--audit-db",
            db.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("Updated demo 1.0 -> 1.1"),
        "{}",
        stderr(&output)
    );
}
