//! The index as a client sees it, over HTTP on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use safevenv_test_index::{
    Fault, FaultRule, IndexFile, RawArtifact, SdistSpec, TestIndex, WheelSpec, sha256_hex,
};
use serde_json::Value;

const JSON: &str = "application/vnd.pypi.simple.v1+json";
const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn demo_index() -> TestIndex {
    TestIndex::builder()
        .wheel(
            WheelSpec::new("demo", "1.0")
                .requires_python(">=3.8,<4")
                .requires_dist("dep>=1"),
        )
        .file(IndexFile::from(WheelSpec::new("demo", "0.9")).yanked(Some("broken <build>")))
        .file(
            IndexFile::from(WheelSpec::new("demo", "0.8"))
                .yanked(None)
                .upload_time("2024-01-02T03:04:05.000000Z")
                .provenance(br#"{"version": 1}"#.to_vec()),
        )
        .sdist(SdistSpec::new("demo", "1.0"))
        .wheel(WheelSpec::new("dep", "1.2"))
        .start()
        .unwrap()
}

async fn get_text(url: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut request = client().get(url);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn json_is_served_when_preferred() {
    let index = demo_index();
    let (status, content_type, body) = get_text(&index.project_url("demo"), Some(PIP_ACCEPT)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, JSON);
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["meta"]["api-version"], "1.1");
    assert_eq!(page["name"], "demo");
    let files = page["files"].as_array().unwrap();
    let names: Vec<&str> = files
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "demo-0.8-py3-none-any.whl",
            "demo-0.9-py3-none-any.whl",
            "demo-1.0-py3-none-any.whl",
            "demo-1.0.tar.gz"
        ]
    );
    assert_eq!(page["versions"], serde_json::json!(["0.8", "0.9", "1.0"]));

    let [old, yanked, current, _sdist] = files.as_slice() else {
        panic!("four files expected: {body}");
    };
    assert_eq!(old["yanked"], true);
    assert_eq!(old["upload-time"], "2024-01-02T03:04:05.000000Z");
    let provenance_url = old["provenance"].as_str().unwrap();
    let provenance = client().get(provenance_url).send().await.unwrap();
    assert_eq!(provenance.text().await.unwrap(), r#"{"version": 1}"#);
    assert_eq!(yanked["yanked"], "broken <build>");
    assert!(yanked.get("provenance").is_none());
    assert_eq!(current["yanked"], false);
    assert_eq!(current["requires-python"], ">=3.8,<4");
    // Metadata files are off by default, so nothing advertises them.
    assert!(current.get("core-metadata").is_none());

    let url = current["url"].as_str().unwrap();
    assert_eq!(url, index.file_url("demo-1.0-py3-none-any.whl"));
    let bytes = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(current["hashes"]["sha256"], sha256_hex(&bytes));
    assert_eq!(current["size"], bytes.len());
}

#[tokio::test]
async fn html_is_served_by_default_and_for_html_preference() {
    let index = demo_index();
    for accept in [
        None,
        Some("text/html"),
        Some("application/vnd.pypi.simple.v1+json;q=0.2, text/html"),
    ] {
        let (status, content_type, body) = get_text(&index.project_url("demo"), accept).await;
        assert_eq!(status, StatusCode::OK, "{accept:?}");
        assert_eq!(content_type, "text/html; charset=utf-8", "{accept:?}");
        assert!(body.contains("<h1>Links for demo</h1>"), "{body}");
    }
    let (_, content_type, body) = get_text(
        &index.project_url("demo"),
        Some("application/vnd.pypi.simple.v1+html"),
    )
    .await;
    assert_eq!(content_type, "application/vnd.pypi.simple.v1+html");
    let wheel = WheelSpec::new("demo", "1.0")
        .requires_python(">=3.8,<4")
        .requires_dist("dep>=1")
        .build()
        .unwrap();
    let expected_href = format!(
        "href=\"{}#sha256={}\"",
        index.file_url(&wheel.filename),
        wheel.sha256
    );
    assert!(body.contains(&expected_href), "{body}");
    assert!(
        body.contains("data-requires-python=\"&gt;=3.8,&lt;4\""),
        "{body}"
    );
    assert!(
        body.contains("data-yanked=\"broken &lt;build&gt;\""),
        "{body}"
    );
    assert!(body.contains("data-yanked=\"\""), "{body}");
    assert!(body.contains("data-provenance=\""), "{body}");
    assert!(!body.contains("data-core-metadata"), "{body}");
}

#[tokio::test]
async fn unacceptable_accept_gets_406() {
    let index = demo_index();
    let (status, _, _) = get_text(&index.project_url("demo"), Some("image/png")).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn html_only_index_ignores_accept() {
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("demo", "1.0"))
        .serve_json(false)
        .start()
        .unwrap();
    let (status, content_type, _) = get_text(&index.project_url("demo"), Some(JSON)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/html; charset=utf-8");
}

#[tokio::test]
async fn project_list_names_every_project_once() {
    let index = demo_index();
    let (_, _, body) = get_text(&index.url(), Some(JSON)).await;
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        list["projects"],
        serde_json::json!([{"name": "demo"}, {"name": "dep"}])
    );
    let (_, _, html) = get_text(&index.url(), None).await;
    assert!(
        html.contains("<a href=\"/simple/demo/\">demo</a>"),
        "{html}"
    );
    assert!(html.contains("<a href=\"/simple/dep/\">dep</a>"), "{html}");
}

#[tokio::test]
async fn other_spellings_redirect_to_the_normalized_page() {
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("Foo.Bar", "1.0"))
        .start()
        .unwrap();
    let base = index.url();
    for spelling in ["Foo_Bar/", "foo.bar/", "foo-bar"] {
        let response = client()
            .get(format!("{base}{spelling}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::MOVED_PERMANENTLY,
            "{spelling}"
        );
        assert_eq!(response.headers()[LOCATION], "/simple/foo-bar/");
    }
    let (status, _, body) = get_text(&index.project_url("Foo.Bar"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("foo_bar-1.0-py3-none-any.whl"));
    let (status, _, _) = get_text(&format!("{base}missing/"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let index = demo_index();
    for path in [
        "/",
        "/nothing",
        "/files/missing.whl",
        "/provenance/demo-1.0-py3-none-any.whl",
    ] {
        let url = format!("http://{}{path}", index.address());
        let response = client().get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn files_answer_ranges_and_head() {
    let wheel = WheelSpec::new("demo", "1.0").build().unwrap();
    let len = wheel.bytes.len();
    let index = TestIndex::builder().built(wheel.clone()).start().unwrap();
    let url = index.file_url(&wheel.filename);

    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[CONTENT_LENGTH], len.to_string().as_str());
    assert_eq!(head.headers()["accept-ranges"], "bytes");

    let cases = [
        ("bytes=0-9".to_string(), 0, 9),
        ("bytes=10-".to_string(), 10, len - 1),
        ("bytes=-22".to_string(), len - 22, len - 1),
        (format!("bytes=5-{}", len + 100), 5, len - 1),
    ];
    for (range, start, end) in cases {
        let response = client()
            .get(&url)
            .header(RANGE, &range)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            response.headers()[CONTENT_RANGE],
            format!("bytes {start}-{end}/{len}").as_str(),
            "{range}"
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(body.as_ref(), &wheel.bytes[start..=end], "{range}");
    }

    for range in [format!("bytes={len}-"), "bytes=-0".to_string()] {
        let response = client()
            .get(&url)
            .header(RANGE, &range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range}"
        );
        assert_eq!(
            response.headers()[CONTENT_RANGE],
            format!("bytes */{len}").as_str()
        );
    }

    let whole = client()
        .get(&url)
        .header(RANGE, "bytes=0-1,4-5")
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(
        whole.bytes().await.unwrap().as_ref(),
        wheel.bytes.as_slice()
    );

    let ranges: Vec<Option<String>> = index.requests().into_iter().map(|r| r.range).collect();
    assert_eq!(ranges[0], None);
    assert_eq!(ranges[1].as_deref(), Some("bytes=0-9"));
    assert_eq!(index.requests()[0].method, "HEAD");
}

#[tokio::test]
async fn metadata_files_are_served_and_advertised_when_enabled() {
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("demo", "1.0").requires_dist("dep"))
        .file(
            IndexFile::raw(
                "demo",
                RawArtifact {
                    filename: "demo-0.1.tar.gz".into(),
                    bytes: b"x".to_vec(),
                },
            )
            .core_metadata("Metadata-Version: 2.2\nName: demo\nVersion: 0.1\n"),
        )
        .sdist(SdistSpec::new("demo", "0.5"))
        .serve_metadata_files(true)
        .start()
        .unwrap();
    let wheel = WheelSpec::new("demo", "1.0")
        .requires_dist("dep")
        .build()
        .unwrap();
    let metadata_hash = sha256_hex(wheel.metadata.as_bytes());

    let (_, _, body) = get_text(&index.project_url("demo"), Some(JSON)).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    let file = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == wheel.filename)
        .unwrap();
    assert_eq!(file["core-metadata"]["sha256"], metadata_hash);
    assert_eq!(file["dist-info-metadata"]["sha256"], metadata_hash);

    let (_, _, html) = get_text(&index.project_url("demo"), None).await;
    assert!(html.contains(&format!(
        "data-core-metadata=\"sha256={metadata_hash}\" data-dist-info-metadata=\"sha256={metadata_hash}\""
    )), "{html}");

    let metadata_url = format!("{}.metadata", index.file_url(&wheel.filename));
    let (status, _, served) = get_text(&metadata_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, wheel.metadata);
    let (status, _, served) = get_text(
        &format!("{}.metadata", index.file_url("demo-0.1.tar.gz")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(served.starts_with("Metadata-Version: 2.2\n"));

    index.set_serve_metadata_files(false);
    let (status, _, _) = get_text(&metadata_url, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, html) = get_text(&index.project_url("demo"), None).await;
    assert!(!html.contains("data-core-metadata"), "{html}");
}

#[tokio::test]
async fn a_status_fault_fails_once_then_the_file_is_served() {
    let index = demo_index();
    let url = index.file_url("dep-1.2-py3-none-any.whl");
    index.set_fault(
        FaultRule::new(Fault::Status(500))
            .path_contains("/files/dep")
            .times(1),
    );
    let first = client().get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // Other paths are untouched by the rule.
    let (status, _, _) = get_text(&index.project_url("dep"), None).await;
    assert_eq!(status, StatusCode::OK);
    let second = client().get(&url).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);

    index.set_fault(Fault::Status(503));
    let (status, _, _) = get_text(&index.url(), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    index.clear_faults();
    let (status, _, _) = get_text(&index.url(), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_truncated_body_is_detected_by_the_client() {
    let index = demo_index();
    let url = index.file_url("dep-1.2-py3-none-any.whl");
    index.set_fault(FaultRule::new(Fault::Truncate { after_bytes: 10 }).times(1));
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let full_len: usize = response.headers()[CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(full_len > 10);
    assert!(
        response.bytes().await.is_err(),
        "a cut body must be an error"
    );
    let again = client().get(&url).send().await.unwrap();
    assert_eq!(again.bytes().await.unwrap().len(), full_len);
}

#[tokio::test]
async fn a_delay_fault_delays() {
    let index = demo_index();
    index.set_fault(FaultRule::new(Fault::Delay(Duration::from_millis(300))).times(1));
    let started = Instant::now();
    let (status, _, _) = get_text(&index.url(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn artifacts_can_be_added_and_replaced_while_running() {
    let index = TestIndex::builder().start().unwrap();
    let (status, _, _) = get_text(&index.project_url("late"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let first = WheelSpec::new("late", "1.0").build().unwrap();
    index.add(first.clone()).unwrap();
    let second = WheelSpec::new("late", "1.0")
        .file("late/other.py", "x = 2\n")
        .build()
        .unwrap();
    assert_ne!(first.sha256, second.sha256);
    index
        .add(IndexFile::from(second.clone()).provenance(b"{}".to_vec()))
        .unwrap();

    let (_, _, body) = get_text(&index.project_url("late"), Some(JSON)).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["files"].as_array().unwrap().len(), 1);
    assert_eq!(page["files"][0]["hashes"]["sha256"], second.sha256);

    assert!(index.remove(&second.filename));
    assert!(!index.remove(&second.filename));
    let (status, _, _) = get_text(&index.project_url("late"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Works from a plain `#[test]` with no runtime around it; checked with a raw HTTP/1.1 exchange.
#[test]
fn serves_plain_tests_without_a_runtime() {
    let index = demo_index();
    let mut stream = TcpStream::connect(index.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /simple/demo/ HTTP/1.1\r\nHost: {}\r\nAccept: {JSON}\r\nConnection: close\r\n\r\n",
        index.address()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains(&format!("content-type: {JSON}\r\n"))
    );
    let records = index.requests();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].path, "/simple/demo/");
    assert_eq!(records[0].accept.as_deref(), Some(JSON));
    index.clear_requests();
    assert!(index.requests().is_empty());
}

#[test]
fn dropping_the_index_stops_the_server() {
    let index = demo_index();
    let address = index.address();
    drop(index);
    assert!(TcpStream::connect(address).is_err());
}

/// On the wire, a truncation fault sends the full `Content-Length`, part of the body, then EOF.
#[test]
fn a_truncated_body_stops_short_of_its_content_length_on_the_wire() {
    let wheel = WheelSpec::new("demo", "1.0").build().unwrap();
    let index = TestIndex::builder().built(wheel.clone()).start().unwrap();
    index.set_fault(Fault::Truncate { after_bytes: 7 });
    let mut stream = TcpStream::connect(index.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /files/{} HTTP/1.1\r\nHost: {}\r\n\r\n",
        wheel.filename,
        index.address()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {}\r\n", wheel.bytes.len())),
        "{head}"
    );
    assert_eq!(&response[split..], &wheel.bytes[..7]);
}
