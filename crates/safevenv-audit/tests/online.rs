//! The online audit against a local OSV API on 127.0.0.1, serving the JSON subset's records.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use safevenv_audit::{AdvisoryDb, Distribution, IgnoreList, OnlineError, OsvClient};
use safevenv_cache::Cache;
use serde_json::{Value, json};
use uv_normalize::PackageName;
use uv_pep440::Version;

fn subset() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/advisories/osv-json-subset")
}

fn distribution(package: &str, installed: &str) -> Distribution {
    Distribution::new(
        PackageName::from_str(package).unwrap(),
        Version::from_str(installed).unwrap(),
    )
}

/// What the fake API answers.
#[derive(Default)]
struct Api {
    /// `name==version` → ids, as `querybatch` lists them.
    affected: HashMap<String, Vec<String>>,
    /// Records by id, as JSON text.
    records: HashMap<String, String>,
    /// Answer every request with this status instead.
    status: Option<u16>,
    /// Split each `querybatch` result into pages of one vuln.
    paginate: bool,
    /// Leave the last result out of each `querybatch` answer.
    drop_last_result: bool,
    /// Every request: `METHOD path`.
    log: Vec<String>,
}

impl Api {
    /// The records of the JSON subset, and which of them affect each of `queries` (the ids
    /// `tests/expectations.py` computed, as in tests/offline.rs).
    fn with_subset(queries: &[(&str, &str, &[&str])]) -> Self {
        let mut api = Self::default();
        for package in fs_err::read_dir(subset()).unwrap() {
            for file in fs_err::read_dir(package.unwrap().path()).unwrap() {
                let text = fs_err::read_to_string(file.unwrap().path()).unwrap();
                let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                api.records.insert(id, text);
            }
        }
        for (package, installed, ids) in queries {
            api.affected.insert(
                format!("{package}=={installed}"),
                ids.iter().map(ToString::to_string).collect(),
            );
        }
        api
    }

    fn answer(&mut self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        self.log.push(format!("{method} {path}"));
        if let Some(status) = self.status {
            return (status, "unavailable".to_string());
        }
        if method == "POST" && path == "/v1/querybatch" {
            let request: Value = serde_json::from_slice(body).unwrap();
            let results: Vec<Value> = request["queries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|query| {
                    assert_eq!(query["package"]["ecosystem"], "PyPI");
                    let key = format!("{}=={}", query["package"]["name"].as_str().unwrap(), query["version"].as_str().unwrap());
                    let ids = self.affected.get(&key).cloned().unwrap_or_default();
                    let modified = |id: &String| {
                        let record: Value = serde_json::from_str(&self.records[id]).unwrap();
                        json!({"id": id, "modified": record["modified"]})
                    };
                    if self.paginate {
                        let page: usize = query["page_token"].as_str().map_or(0, |t| t.parse().unwrap());
                        let mut result = json!({"vulns": ids.get(page).map(modified).into_iter().collect::<Vec<_>>()});
                        if page + 1 < ids.len() {
                            result["next_page_token"] = json!((page + 1).to_string());
                        }
                        result
                    } else {
                        json!({"vulns": ids.iter().map(modified).collect::<Vec<_>>()})
                    }
                })
                .collect();
            let keep = results.len() - usize::from(self.drop_last_result);
            return (200, json!({"results": results[..keep]}).to_string());
        }
        if let Some(id) = path.strip_prefix("/v1/vulns/")
            && method == "GET"
            && let Some(record) = self.records.get(id)
        {
            return (200, record.clone());
        }
        (404, "not found".to_string())
    }
}

/// Serve `api` on 127.0.0.1; the server runs until the test's runtime ends.
async fn serve(api: Arc<Mutex<Api>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let api = api.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let api = api.clone();
                        async move {
                            let method = request.method().to_string();
                            let path = request.uri().path().to_string();
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let (status, text) = api.lock().unwrap().answer(&method, &path, &body);
                            let mut response = Response::new(Full::new(Bytes::from(text)));
                            *response.status_mut() = StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{address}")
}

const QUERIES: &[(&str, &str, &[&str])] = &[
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
    ("requests", "2.31.0", &[]),
];

fn installed() -> Vec<Distribution> {
    QUERIES
        .iter()
        .map(|(package, version, _)| distribution(package, version))
        .collect()
}

#[tokio::test]
async fn batch_then_records_give_the_offline_findings_and_are_cached() {
    let api = Arc::new(Mutex::new(Api::with_subset(QUERIES)));
    let url = serve(api.clone()).await;
    let cache_dir = tempfile::tempdir().unwrap();
    let client = OsvClient::new(&url)
        .unwrap()
        .with_cache(&Cache::new(cache_dir.path()));
    let ignore = IgnoreList::new(["CVE-2019-10906"]);

    let online = client.audit(&installed(), &ignore).await.unwrap();
    let offline = AdvisoryDb::load(&subset())
        .unwrap()
        .audit(&installed(), &ignore);
    assert_eq!(online, offline);
    assert_eq!(online.findings.len(), 6);
    assert_eq!(online.ignored.len(), 1);
    {
        let mut api = api.lock().unwrap();
        let mut log = std::mem::take(&mut api.log);
        log.sort();
        let mut expected = vec!["POST /v1/querybatch".to_string()];
        expected.extend(
            QUERIES
                .iter()
                .flat_map(|(_, _, ids)| ids.iter().map(|id| format!("GET /v1/vulns/{id}"))),
        );
        expected.sort();
        assert_eq!(
            log, expected,
            "one batch for three distributions, then each record once"
        );
    }

    // A second run is answered from the cache: no request at all.
    let again = client.audit(&installed(), &ignore).await.unwrap();
    assert_eq!(again, online);
    assert!(api.lock().unwrap().log.is_empty());

    // An expired batch answer is asked again, but the records stay cached.
    let expired = client.clone().with_batch_ttl(std::time::Duration::ZERO);
    let third = expired.audit(&installed(), &ignore).await.unwrap();
    assert_eq!(third, online);
    assert_eq!(api.lock().unwrap().log, ["POST /v1/querybatch"]);
}

#[tokio::test]
async fn pages_of_a_batch_are_followed() {
    let mut api = Api::with_subset(QUERIES);
    api.paginate = true;
    let api = Arc::new(Mutex::new(api));
    let url = serve(api.clone()).await;
    let report = OsvClient::new(&url)
        .unwrap()
        .audit(&installed(), &IgnoreList::default())
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 7);
    let batches = api
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|line| line.contains("querybatch"))
        .count();
    assert_eq!(batches, 5, "jinja2 has five pages");
}

#[tokio::test]
async fn an_http_error_names_the_url() {
    let mut api = Api::with_subset(QUERIES);
    api.status = Some(503);
    let url = serve(Arc::new(Mutex::new(api))).await;
    let error = OsvClient::new(&url)
        .unwrap()
        .audit(&installed(), &IgnoreList::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, OnlineError::Status { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("`{url}/v1/querybatch` answered with HTTP status 503")
    );
}

#[tokio::test]
async fn credentials_in_the_url_are_not_displayed() {
    let mut api = Api::with_subset(QUERIES);
    api.status = Some(500);
    let url = serve(Arc::new(Mutex::new(api))).await;
    let with_password = url.replace("http://", "http://user:secret@");
    let error = OsvClient::new(&with_password)
        .unwrap()
        .audit(&installed(), &IgnoreList::default())
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("secret"), "{error}");
    assert!(error.to_string().contains("/v1/querybatch"));
}

#[tokio::test]
async fn an_unreachable_server_names_the_url() {
    // Bind then drop a listener: nothing answers on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let error = OsvClient::new(&url)
        .unwrap()
        .audit(&installed(), &IgnoreList::default())
        .await
        .unwrap_err();
    assert!(matches!(error, OnlineError::Request { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&format!("{url}/v1/querybatch")),
        "{error}"
    );
}

#[tokio::test]
async fn hostile_ids_and_substituted_records_are_refused() {
    // An id that would climb out of the cache directory.
    let mut api = Api::with_subset(&[("jinja2", "2.4.1", &["../../escape"])]);
    api.records.insert(
        "../../escape".to_string(),
        r#"{"modified": "x"}"#.to_string(),
    );
    let url = serve(Arc::new(Mutex::new(api))).await;
    let installed = [distribution("jinja2", "2.4.1")];
    let error = OsvClient::new(&url)
        .unwrap()
        .audit(&installed, &IgnoreList::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, OnlineError::InvalidId { ref id, .. } if id == "../../escape"),
        "{error:?}"
    );

    // A record served under another id.
    let mut api = Api::with_subset(&[("jinja2", "2.4.1", &["PYSEC-2014-8"])]);
    let other = api.records["PYSEC-2014-82"].clone();
    api.records.insert("PYSEC-2014-8".to_string(), other);
    let url = serve(Arc::new(Mutex::new(api))).await;
    let error = OsvClient::new(&url)
        .unwrap()
        .audit(&installed, &IgnoreList::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, OnlineError::IdMismatch { ref expected, ref actual, .. } if expected == "PYSEC-2014-8" && actual == "PYSEC-2014-82"),
        "{error:?}"
    );

    // The good answer for the same query passes.
    let api = Api::with_subset(&[("jinja2", "2.4.1", &["PYSEC-2014-8"])]);
    let url = serve(Arc::new(Mutex::new(api))).await;
    let report = OsvClient::new(&url)
        .unwrap()
        .audit(&installed, &IgnoreList::default())
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 1);
}

#[tokio::test]
async fn a_batch_answer_of_the_wrong_length_is_refused() {
    let mut api = Api::with_subset(QUERIES);
    api.drop_last_result = true;
    let url = serve(Arc::new(Mutex::new(api))).await;
    let error = OsvClient::new(&url)
        .unwrap()
        .audit(&installed(), &IgnoreList::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            OnlineError::BatchLength {
                expected: 3,
                actual: 2,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_distribution_listed_twice_is_asked_and_reported_once() {
    let api = Arc::new(Mutex::new(Api::with_subset(QUERIES)));
    let url = serve(api.clone()).await;
    let mut installed = installed();
    installed.push(distribution("jinja2", "2.4.1"));
    let report = OsvClient::new(&url)
        .unwrap()
        .audit(&installed, &IgnoreList::default())
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 7);
    assert!(OsvClient::new("not a url").is_err());
}
