//! The index client against a local index on 127.0.0.1 (`safevenv-test-index`), and against a
//! scripted server for what that index cannot play.

mod scripted;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use safevenv_index::{
    IndexClient, IndexClientOptions, IndexError, IndexUrl, IndexUrls, MetadataSource, Yanked,
};
use safevenv_test_index::{
    Fault, FaultRule, IndexFile, RequestRecord, TestIndex, WheelSpec, sha256_hex,
};
use scripted::{Answer, Scripted};
use uv_normalize::PackageName;
use uv_pep440::Version;

fn name(text: &str) -> PackageName {
    PackageName::from_str(text).unwrap()
}

fn version(text: &str) -> Version {
    Version::from_str(text).unwrap()
}

fn options(index_url: &str) -> IndexClientOptions {
    let mut options =
        IndexClientOptions::new(IndexUrls::single(IndexUrl::parse(index_url).unwrap()));
    options.http.backoff_base = Duration::from_millis(1);
    options.http.backoff_cap = Duration::from_millis(20);
    options
}

fn client(index_url: &str) -> IndexClient {
    IndexClient::new(options(index_url)).unwrap()
}

fn requests_to(index: &TestIndex, fragment: &str) -> Vec<RequestRecord> {
    index
        .requests()
        .into_iter()
        .filter(|request| request.path.contains(fragment))
        .collect()
}

fn demo_index(json: bool, metadata_files: bool) -> TestIndex {
    TestIndex::builder()
        .file(
            IndexFile::from(
                WheelSpec::new("demo", "1.0")
                    .requires_dist("dep>=1; extra == 'x'")
                    .provides_extra("x"),
            )
            .upload_time("2024-01-02T03:04:05.000000Z")
            .requires_python(">=3.8, <4"),
        )
        .file(IndexFile::from(WheelSpec::new("demo", "0.9")).yanked(Some("broken")))
        .wheel(WheelSpec::new("dep", "1.2"))
        .serve_json(json)
        .serve_metadata_files(metadata_files)
        .start()
        .unwrap()
}

/// `project_file` reads the one entry exactly as the whole page reads it.
#[tokio::test]
async fn one_file_looked_up_is_the_entry_the_whole_page_has() {
    for json in [true, false] {
        let index = TestIndex::builder()
            .file(IndexFile::from(WheelSpec::new("demo", "1.0")).provenance(b"{}".to_vec()))
            .file(IndexFile::from(WheelSpec::new("demo", "0.9")).yanked(Some("broken")))
            .serve_json(json)
            .start()
            .unwrap();
        let whole = client(&index.url())
            .require_project(&name("demo"))
            .await
            .unwrap();
        let lookup = client(&index.url());
        index.clear_requests();
        for expected in &whole.files {
            let found = lookup
                .project_file(&name("demo"), &expected.raw_filename)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.raw_filename, expected.raw_filename);
            assert_eq!(found.url, expected.url);
            assert_eq!(found.hashes, expected.hashes);
            assert_eq!(found.yanked, expected.yanked);
            assert_eq!(found.provenance, expected.provenance);
        }
        assert!(
            whole.files.iter().any(|file| file.provenance.is_some()),
            "json: {json}"
        );
        assert!(
            lookup
                .project_file(&name("demo"), "demo-2.0-py3-none-any.whl")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            requests_to(&index, "/simple/demo").len(),
            1,
            "one page read"
        );
        let missing = lookup
            .project_file(&name("absent"), "absent-1.0-py3-none-any.whl")
            .await
            .unwrap_err();
        assert!(
            matches!(missing, IndexError::ProjectNotFound { .. }),
            "{missing:?}"
        );
    }
}

#[tokio::test]
async fn json_and_html_pages_parse_to_the_same_data() {
    let json_index = demo_index(true, false);
    let html_index = demo_index(false, false);
    let json = client(&json_index.url())
        .require_project(&name("demo"))
        .await
        .unwrap();
    let html = client(&html_index.url())
        .require_project(&name("demo"))
        .await
        .unwrap();
    assert_eq!(json.versions(), vec![version("0.9"), version("1.0")]);
    assert_eq!(json.files.len(), 2);
    assert_eq!(html.files.len(), 2);
    for (from_json, from_html) in json.files.iter().zip(&html.files) {
        assert_eq!(from_json.raw_filename, from_html.raw_filename);
        assert_eq!(from_json.hashes, from_html.hashes);
        assert_eq!(from_json.requires_python, from_html.requires_python);
        assert_eq!(from_json.yanked, from_html.yanked);
        assert_eq!(from_json.core_metadata, from_html.core_metadata);
        // Same path on two servers.
        assert_eq!(from_json.url.path(), from_html.url.path());
        assert!(from_json.sha256().is_some());
    }
    let old = json
        .files
        .iter()
        .find(|file| file.raw_filename.contains("0.9"))
        .unwrap();
    assert_eq!(
        old.yanked,
        Yanked::Yes {
            reason: Some("broken".to_string())
        }
    );
    let new = json
        .files
        .iter()
        .find(|file| file.raw_filename.contains("1.0"))
        .unwrap();
    assert_eq!(new.yanked, Yanked::No);
    assert_eq!(new.requires_python.as_deref(), Some(">=3.8, <4"));
    // PEP 700 fields exist in JSON only.
    assert_eq!(
        new.upload_time.as_deref(),
        Some("2024-01-02T03:04:05.000000Z")
    );
    assert!(new.size.is_some());
    // We asked for JSON first, accepting HTML.
    let accept = requests_to(&json_index, "/simple/demo/")[0]
        .accept
        .clone()
        .unwrap();
    assert!(
        accept.starts_with("application/vnd.pypi.simple.v1+json"),
        "{accept}"
    );
}

#[tokio::test]
async fn names_are_normalized_and_missing_projects_are_none() {
    let index = demo_index(true, false);
    let client = client(&index.url());
    let page = client.project(&name("DEMO")).await.unwrap().unwrap();
    assert_eq!(page.name.as_str(), "demo");
    assert_eq!(index.requests()[0].path, "/simple/demo/");
    assert!(client.project(&name("nope")).await.unwrap().is_none());
    let error = client.require_project(&name("nope")).await.unwrap_err();
    assert!(matches!(error, IndexError::ProjectNotFound { .. }));
    assert!(error.to_string().contains(&index.url()), "{error}");
    // A 404 is an answer, not a failure: asked once.
    assert_eq!(requests_to(&index, "/simple/nope/").len(), 1);
}

#[tokio::test]
async fn metadata_file_is_used_when_advertised() {
    let index = demo_index(true, true);
    let client = client(&index.url());
    let metadata = client
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap();
    assert_eq!(metadata.source, MetadataSource::MetadataFile);
    assert_eq!(metadata.resolution.requires_dist.len(), 1);
    assert_eq!(metadata.resolution.provides_extra.len(), 1);
    let files = requests_to(&index, "/files/");
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].path.ends_with(".whl.metadata"));
}

/// Bytes that do not compress, so that a wheel holding them is as big as they are.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 56) as u8
        })
        .collect()
}

#[tokio::test]
async fn range_requests_read_metadata_without_downloading_the_wheel() {
    let spec = WheelSpec::new("heavy", "1.0")
        .requires_dist("dep")
        .file("heavy/blob.bin", noise(512 * 1024));
    let size = spec.build().unwrap().bytes.len();
    let index = TestIndex::builder().wheel(spec).start().unwrap();
    let client = client(&index.url());
    let metadata = client
        .version_metadata(&name("heavy"), &version("1.0"))
        .await
        .unwrap();
    assert_eq!(metadata.source, MetadataSource::RangeRequests);
    assert_eq!(metadata.resolution.requires_dist.len(), 1);
    let files = requests_to(&index, "/files/");
    // The tail holds the central directory and, as `.dist-info` is written last, usually the
    // METADATA entry too; else one more range. Never the half-megabyte wheel.
    assert!(!files.is_empty() && files.len() <= 2, "{files:?}");
    assert_eq!(files[0].range.as_deref(), Some("bytes=-65536"));
    assert!(
        files.iter().all(|request| request.range.is_some()),
        "{files:?}"
    );
    assert!(size > 512 * 1024);
}

#[tokio::test]
async fn range_requests_cope_with_a_big_central_directory() {
    let mut spec = WheelSpec::new("big", "2.0");
    for number in 0..1500 {
        spec = spec.file(
            &format!("big/a_rather_long_module_directory_name/module_number_{number:05}.py"),
            format!("VALUE = {number}\n"),
        );
    }
    let index = TestIndex::builder().wheel(spec).start().unwrap();
    let client = client(&index.url());
    let metadata = client
        .version_metadata(&name("big"), &version("2.0"))
        .await
        .unwrap();
    assert_eq!(metadata.source, MetadataSource::RangeRequests);
    let files = requests_to(&index, "/files/");
    assert!(files.len() <= 3, "{files:?}");
    assert!(
        files.iter().all(|request| request.range.is_some()),
        "{files:?}"
    );
    // The directory did not fit in the first 64 KiB: a second range was needed.
    assert!(files.len() >= 2, "{files:?}");
}

#[tokio::test]
async fn sdist_only_version_has_no_wheel() {
    let index = TestIndex::builder()
        .sdist(safevenv_test_index::SdistSpec::new("src", "1.0"))
        .start()
        .unwrap();
    let error = client(&index.url())
        .version_metadata(&name("src"), &version("1.0"))
        .await
        .unwrap_err();
    assert!(matches!(error, IndexError::NoWheel { .. }), "{error}");
}

#[tokio::test]
async fn transient_failures_are_retried_and_4xx_is_not() {
    let index = demo_index(true, false);
    index.set_fault(
        FaultRule::new(Fault::Status(500))
            .path_contains("/simple/demo/")
            .times(2),
    );
    let client = client(&index.url());
    let page = client.project(&name("demo")).await.unwrap();
    assert!(page.is_some());
    assert_eq!(requests_to(&index, "/simple/demo/").len(), 3);

    index.set_fault(FaultRule::new(Fault::Status(403)).path_contains("/simple/dep/"));
    let error = client.project(&name("dep")).await.unwrap_err();
    assert!(
        matches!(error, IndexError::Status { status: 403, .. }),
        "{error}"
    );
    assert_eq!(requests_to(&index, "/simple/dep/").len(), 1);
}

#[tokio::test]
async fn retries_stop_after_the_limit() {
    let index = demo_index(true, false);
    index.set_fault(FaultRule::new(Fault::Status(503)).path_contains("/simple/demo/"));
    let error = client(&index.url())
        .project(&name("demo"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, IndexError::Status { status: 503, .. }),
        "{error}"
    );
    // The first try and three retries.
    assert_eq!(requests_to(&index, "/simple/demo/").len(), 4);
}

#[tokio::test]
async fn truncated_body_is_an_error_not_garbage() {
    let index = demo_index(true, false);
    index.set_fault(
        FaultRule::new(Fault::Truncate { after_bytes: 40 }).path_contains("/simple/demo/"),
    );
    let error = client(&index.url())
        .project(&name("demo"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            IndexError::Request { .. } | IndexError::Truncated { .. }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("/simple/demo/"), "{error}");
}

#[tokio::test]
async fn cache_serves_within_ttl_revalidates_after_and_works_offline() {
    let index = demo_index(true, false);
    let cache_dir = tempfile::tempdir().unwrap();
    let with_cache = |ttl: u64, offline: bool| {
        let mut options = options(&index.url());
        options.cache = Some(safevenv_cache::Cache::new(cache_dir.path()));
        options.page_ttl = Duration::from_secs(ttl);
        options.offline = offline;
        IndexClient::new(options).unwrap()
    };
    let first = with_cache(600, false);
    first
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap();
    let after_first = index.requests().len();

    // A new client (a new process, in effect) within the TTL: no request at all.
    let second = with_cache(600, false);
    let metadata = second
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap();
    assert_eq!(metadata.source, MetadataSource::Cache);
    assert_eq!(index.requests().len(), after_first);

    // After the TTL the page is asked again; the metadata (immutable) is not.
    let third = with_cache(0, false);
    third
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap();
    let new: Vec<_> = index.requests()[after_first..].to_vec();
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].path, "/simple/demo/");

    // Offline: the cache answers, whatever its age; a miss is a clear error.
    let offline = with_cache(0, true);
    let before = index.requests().len();
    offline
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap();
    let error = offline.project(&name("dep")).await.unwrap_err();
    assert!(matches!(error, IndexError::OfflineMiss { .. }), "{error}");
    assert!(error.to_string().contains("not in the cache"), "{error}");
    assert_eq!(index.requests().len(), before);
}

#[tokio::test]
async fn concurrent_identical_requests_coalesce() {
    let index = demo_index(true, false);
    // Slow answers make the asks overlap.
    index.set_fault(
        FaultRule::new(Fault::Delay(Duration::from_millis(100))).path_contains("/simple/"),
    );
    let client = client(&index.url());
    let asks = (0..20).map(|_| {
        let client = client.clone();
        async move {
            client
                .version_metadata(&name("demo"), &version("1.0"))
                .await
        }
    });
    let results = futures::future::join_all(asks).await;
    let first = results[0].as_ref().unwrap();
    for result in &results {
        assert!(Arc::ptr_eq(first, result.as_ref().unwrap()));
    }
    assert_eq!(requests_to(&index, "/simple/demo/").len(), 1);
    let files = requests_to(&index, "/files/");
    assert!(files.len() <= 3, "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_returns_at_once_and_fills_the_memo() {
    let index = demo_index(true, false);
    let client = client(&index.url());
    client.prefetch(&[
        (name("demo"), version("1.0")),
        (name("dep"), version("1.2")),
    ]);
    let metadata = client
        .version_metadata(&name("dep"), &version("1.2"))
        .await
        .unwrap();
    assert_eq!(metadata.resolution.version, version("1.2"));
    client
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap();
    // Each page once, whether the prefetch or the ask got there first.
    assert_eq!(requests_to(&index, "/simple/demo/").len(), 1);
    assert_eq!(requests_to(&index, "/simple/dep/").len(), 1);
}

const DEMO_METADATA: &str = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: six\n";

/// A JSON page with one wheel whose `.metadata` is advertised with `advertised_sha256`.
fn page_with_metadata_hash(base: &str, advertised_sha256: &str) -> String {
    format!(
        r#"{{"meta": {{"api-version": "1.1"}}, "name": "demo", "files": [
        {{"filename": "demo-1.0-py3-none-any.whl", "url": "{base}/files/demo-1.0-py3-none-any.whl",
          "hashes": {{"sha256": "00"}}, "core-metadata": {{"sha256": "{advertised_sha256}"}}}}]}}"#
    )
}

async fn metadata_server(advertised: String) -> Scripted {
    let base = Arc::new(Mutex::new(String::new()));
    let page_base = Arc::clone(&base);
    let server = Scripted::start(move |seen| {
        if seen.path == "/simple/demo/" {
            let base = page_base.lock().unwrap().clone();
            Answer::new(200, page_with_metadata_hash(&base, &advertised))
                .header("content-type", "application/vnd.pypi.simple.v1+json")
        } else if seen.path.ends_with(".metadata") {
            Answer::new(200, DEMO_METADATA)
        } else {
            Answer::new(404, "")
        }
    })
    .await;
    *base.lock().unwrap() = server.base.clone();
    server
}

#[tokio::test]
async fn metadata_file_hash_is_checked() {
    // Hostile: the index vouches for other bytes than it serves.
    let server = metadata_server("ab".repeat(32)).await;
    let hostile = client(&format!("{}/simple/", server.base));
    let error = hostile
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, IndexError::MetadataHashMismatch { .. }),
        "{error}"
    );

    // Good: the advertised hash is that of the bytes.
    let server = metadata_server(sha256_hex(DEMO_METADATA.as_bytes())).await;
    let good = client(&format!("{}/simple/", server.base));
    let metadata = good
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap();
    assert_eq!(metadata.source, MetadataSource::MetadataFile);
}

#[tokio::test]
async fn server_ignoring_ranges_gets_one_whole_download() {
    let wheel = WheelSpec::new("demo", "1.0")
        .requires_dist("six")
        .build()
        .unwrap();
    let bytes = wheel.bytes.clone();
    let page_filename = wheel.filename.clone();
    let base = Arc::new(Mutex::new(String::new()));
    let page_base = Arc::clone(&base);
    let server = Scripted::start(move |seen| {
        if seen.path == "/simple/demo/" {
            let base = page_base.lock().unwrap().clone();
            Answer::new(
                200,
                format!(r#"<a href="{base}/files/{page_filename}">x</a>"#),
            )
            .header("content-type", "text/html")
        } else {
            // Ranges ignored: always the whole file, with 200 (RFC 9110 allows it).
            Answer::new(200, bytes.clone())
        }
    })
    .await;
    *base.lock().unwrap() = server.base.clone();
    let client = client(&format!("{}/simple/", server.base));
    let metadata = client
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap();
    assert_eq!(metadata.source, MetadataSource::WholeWheel);
    assert_eq!(metadata.resolution.requires_dist.len(), 1);
    let files: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|seen| seen.path.starts_with("/files/"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

#[tokio::test]
async fn etag_revalidation_and_cache_control() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/simple/demo/"
            if seen.headers.get("if-none-match").map(String::as_str) == Some("\"v1\"") =>
        {
            Answer::new(304, "")
        }
        "/simple/demo/" => Answer::new(200, r#"{"meta": {"api-version": "1.0"}, "files": []}"#)
            .header("content-type", "application/vnd.pypi.simple.v1+json")
            .header("etag", "\"v1\""),
        "/simple/fresh/" => Answer::new(200, r#"{"files": []}"#)
            .header("content-type", "application/vnd.pypi.simple.v1+json")
            .header("cache-control", "max-age=3600"),
        "/simple/secret/" => Answer::new(200, r#"{"files": []}"#)
            .header("content-type", "application/vnd.pypi.simple.v1+json")
            .header("cache-control", "no-store"),
        _ => Answer::new(404, ""),
    })
    .await;
    let cache_dir = tempfile::tempdir().unwrap();
    let with_cache = |offline: bool| {
        let mut options = options(&format!("{}/simple/", server.base));
        options.cache = Some(safevenv_cache::Cache::new(cache_dir.path()));
        options.page_ttl = Duration::ZERO;
        options.offline = offline;
        IndexClient::new(options).unwrap()
    };
    for project in ["demo", "fresh", "secret"] {
        assert!(
            with_cache(false)
                .project(&name(project))
                .await
                .unwrap()
                .is_some()
        );
    }
    let count = |path: &str| {
        server
            .requests()
            .iter()
            .filter(|seen| seen.path == path)
            .count()
    };
    // Stale (TTL 0): revalidated with the ETag, answered 304, still parsed.
    assert!(
        with_cache(false)
            .project(&name("demo"))
            .await
            .unwrap()
            .is_some()
    );
    let last = server
        .requests()
        .into_iter()
        .rfind(|seen| seen.path == "/simple/demo/")
        .unwrap();
    assert_eq!(
        last.headers.get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    assert_eq!(count("/simple/demo/"), 2);
    // The server's max-age wins over our TTL of 0.
    with_cache(false).project(&name("fresh")).await.unwrap();
    assert_eq!(count("/simple/fresh/"), 1);
    // no-store: nothing was written, so offline it is a miss.
    let error = with_cache(true).project(&name("secret")).await.unwrap_err();
    assert!(matches!(error, IndexError::OfflineMiss { .. }), "{error}");
}

#[tokio::test]
async fn credentials_are_sent_but_never_shown() {
    let server = Scripted::start(|seen| match seen.path.as_str() {
        "/simple/demo/" => Answer::new(200, r#"{"files": []}"#)
            .header("content-type", "application/vnd.pypi.simple.v1+json"),
        _ => Answer::new(500, ""),
    })
    .await;
    let with_userinfo = server.base.replace("http://", "http://alice:s3cret@");
    let client = client(&format!("{with_userinfo}/simple/"));
    client.project(&name("demo")).await.unwrap();
    let error = client.project(&name("broken")).await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("/simple/broken/"), "{shown}");
    for seen in server.requests() {
        // base64("alice:s3cret")
        assert_eq!(
            seen.headers.get("authorization").map(String::as_str),
            Some("Basic YWxpY2U6czNjcmV0"),
            "{seen:?}"
        );
        assert!(!seen.path.contains("s3cret"));
    }
}

#[tokio::test]
async fn netrc_credentials_are_sent() {
    let server = Scripted::start(|_| {
        Answer::new(200, r#"{"files": []}"#)
            .header("content-type", "application/vnd.pypi.simple.v1+json")
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    fs_err::write(
        home.path().join(".netrc"),
        "machine 127.0.0.1 login bob password hunter2\n",
    )
    .unwrap();
    let home_text = home.path().to_str().unwrap().to_string();
    let options = options(&format!("{}/simple/", server.base))
        .with_env(|key| (key == "HOME").then(|| home_text.clone()))
        .unwrap();
    IndexClient::new(options)
        .unwrap()
        .project(&name("demo"))
        .await
        .unwrap();
    // base64("bob:hunter2")
    assert_eq!(
        server.requests()[0]
            .headers
            .get("authorization")
            .map(String::as_str),
        Some("Basic Ym9iOmh1bnRlcjI=")
    );
}

#[test]
fn ttl_comes_from_the_environment() {
    let options = options("http://127.0.0.1:1/simple/")
        .with_env(|key| (key == safevenv_index::TTL_ENV).then(|| "42".to_string()))
        .unwrap();
    assert_eq!(options.page_ttl, Duration::from_secs(42));
    let error = options
        .with_env(|key| (key == safevenv_index::TTL_ENV).then(|| "soon".to_string()))
        .unwrap_err();
    assert!(matches!(error, IndexError::InvalidTtl { .. }), "{error}");
}

#[tokio::test]
async fn the_first_index_that_has_the_project_is_read_and_the_others_reported() {
    let main = TestIndex::builder()
        .wheel(WheelSpec::new("dep", "9.0"))
        .start()
        .unwrap();
    let extra = demo_index(true, false);
    let mut indexes = IndexUrls::single(IndexUrl::parse(&main.url()).unwrap());
    indexes.extra.push(IndexUrl::parse(&extra.url()).unwrap());
    let mut options = options(&main.url());
    options.indexes = indexes;
    let client = IndexClient::new(options).unwrap();
    // `dep` is on both: only the main index's versions are seen (no mixing across indexes).
    assert_eq!(
        client.versions(&name("dep")).await.unwrap(),
        vec![version("9.0")]
    );
    // The extra index is asked too (dependency confusion), and serving `dep`, it is reported.
    assert_eq!(requests_to(&extra, "/simple/dep/").len(), 1);
    assert_eq!(
        client.also_served_by(&name("dep")).await.unwrap(),
        [IndexUrl::parse(&extra.url()).unwrap()]
    );
    // `demo` is only on the extra index.
    let page = client.require_project(&name("demo")).await.unwrap();
    assert_eq!(page.index.url_for_lockfile().as_str(), extra.url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolver_source_blocks_on_the_runtime() {
    use safevenv_resolver::{PackageSource, SourceError};
    let index = demo_index(true, false);
    let source =
        safevenv_index::IndexSource::new(client(&index.url()), tokio::runtime::Handle::current());
    let (versions, metadata, missing) = tokio::task::spawn_blocking(move || {
        source.prefetch_metadata(&[(name("dep"), version("1.2"))]);
        (
            source.versions(&name("demo")).unwrap(),
            source.metadata(&name("demo"), &version("1.0")).unwrap(),
            source.versions(&name("nope")).unwrap_err(),
        )
    })
    .await
    .unwrap();
    assert_eq!(versions.versions.len(), 2);
    let files = &versions.versions[&version("0.9")];
    assert!(matches!(
        files[0].yanked,
        safevenv_resolver::Yanked::Yes { .. }
    ));
    assert_eq!(metadata.requires_dist.len(), 1);
    assert_eq!(metadata.requires_dist[0].name.as_str(), "dep");
    assert!(matches!(missing, SourceError::NotFound { .. }), "{missing}");
}

#[tokio::test]
async fn range_answer_that_contradicts_itself_is_refused() {
    let base = Arc::new(Mutex::new(String::new()));
    let page_base = Arc::clone(&base);
    let server = Scripted::start(move |seen| {
        if seen.path == "/simple/demo/" {
            let base = page_base.lock().unwrap().clone();
            Answer::new(
                200,
                format!(r#"<a href="{base}/files/demo-1.0-py3-none-any.whl">x</a>"#),
            )
            .header("content-type", "text/html")
        } else {
            // Claims 100 bytes, sends 10: a hostile or broken server.
            Answer::new(206, vec![0u8; 10]).header("content-range", "bytes 0-99/1000")
        }
    })
    .await;
    *base.lock().unwrap() = server.base.clone();
    let error = client(&format!("{}/simple/", server.base))
        .version_metadata(&name("demo"), &version("1.0"))
        .await
        .unwrap_err();
    assert!(matches!(error, IndexError::ContentRange { .. }), "{error}");
    assert!(error.to_string().contains("bytes 0-99/1000"), "{error}");
}

fn two_indexes(main: &TestIndex, extra: &TestIndex) -> IndexClientOptions {
    let mut options = options(&main.url());
    options.indexes.extra = vec![IndexUrl::parse(&extra.url()).unwrap()];
    options
}

#[tokio::test]
async fn every_index_is_asked_at_once_and_a_name_on_both_is_reported() {
    let main = TestIndex::builder()
        .wheel(WheelSpec::new("shared", "9.0"))
        .wheel(WheelSpec::new("public-only", "1.0"))
        .start()
        .unwrap();
    let extra = TestIndex::builder()
        .wheel(WheelSpec::new("shared", "1.0"))
        .wheel(WheelSpec::new("private-only", "1.0"))
        .start()
        .unwrap();
    let delay = Duration::from_millis(400);
    for index in [&main, &extra] {
        index.set_fault(FaultRule::new(Fault::Delay(delay)).path_contains("/simple/shared/"));
    }
    let client = IndexClient::new(two_indexes(&main, &extra)).unwrap();
    let started = std::time::Instant::now();
    let page = client.project(&name("shared")).await.unwrap().unwrap();
    // Concurrent: both delays overlap.
    assert!(started.elapsed() < delay * 2, "{:?}", started.elapsed());
    // Versions are never merged: the main index's page alone is read.
    assert_eq!(page.index.to_string(), main.url());
    assert_eq!(page.versions(), [version("9.0")]);
    let others = client.also_served_by(&name("shared")).await.unwrap();
    assert_eq!(
        others.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [extra.url()]
    );
    // A name on one index, whichever: nothing else serves it.
    for (project, index) in [("public-only", &main), ("private-only", &extra)] {
        let page = client.project(&name(project)).await.unwrap().unwrap();
        assert_eq!(page.index.to_string(), index.url());
        assert!(
            client
                .also_served_by(&name(project))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // Asked once per index, memoised after.
    assert_eq!(requests_to(&main, "/simple/shared/").len(), 1);
    assert_eq!(requests_to(&extra, "/simple/shared/").len(), 1);
}

#[tokio::test]
async fn a_pinned_project_is_asked_of_its_index_only() {
    let main = TestIndex::builder()
        .wheel(WheelSpec::new("shared", "9.0"))
        .start()
        .unwrap();
    let pinned = TestIndex::builder()
        .wheel(WheelSpec::new("shared", "1.0"))
        .start()
        .unwrap();
    let mut pinning = options(&main.url());
    pinning
        .pins
        .insert(name("shared"), IndexUrl::parse(&pinned.url()).unwrap());
    let client = IndexClient::new(pinning).unwrap();
    let page = client.require_project(&name("shared")).await.unwrap();
    assert_eq!(page.versions(), [version("1.0")]);
    assert!(
        client
            .also_served_by(&name("shared"))
            .await
            .unwrap()
            .is_empty()
    );
    let entry = client
        .project_file(&name("shared"), "shared-1.0-py3-none-any.whl")
        .await
        .unwrap();
    assert!(entry.is_some());
    assert!(
        requests_to(&main, "/simple/").is_empty(),
        "{:?}",
        main.requests()
    );
    // A pin to an index without the project finds nothing, even where another index has it.
    let empty = TestIndex::builder().start().unwrap();
    let mut pinning = options(&main.url());
    pinning
        .pins
        .insert(name("shared"), IndexUrl::parse(&empty.url()).unwrap());
    let client = IndexClient::new(pinning).unwrap();
    assert!(client.project(&name("shared")).await.unwrap().is_none());
    assert!(
        requests_to(&main, "/simple/").is_empty(),
        "{:?}",
        main.requests()
    );
}

#[tokio::test]
async fn an_index_that_cannot_answer_fails_the_lookup_and_is_named() {
    let main = TestIndex::builder()
        .wheel(WheelSpec::new("demo", "1.0"))
        .start()
        .unwrap();
    let extra = TestIndex::builder().start().unwrap();
    for status in [403, 500, 502] {
        extra.clear_faults();
        extra.set_fault(FaultRule::new(Fault::Status(status)));
        let client = IndexClient::new(two_indexes(&main, &extra)).unwrap();
        let error = client.project(&name("demo")).await.unwrap_err();
        assert!(
            matches!(&error, IndexError::Unanswered { index, .. } if *index == extra.url()),
            "{status}: {error}"
        );
        assert!(error.to_string().contains("[sources.packages]"), "{error}");
    }
    // 404 is an answer: not there.
    extra.clear_faults();
    let client = IndexClient::new(two_indexes(&main, &extra)).unwrap();
    assert!(client.project(&name("demo")).await.unwrap().is_some());
    assert!(
        client
            .also_served_by(&name("demo"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn not_found_is_remembered_while_fresh_and_offline() {
    let main = TestIndex::builder()
        .wheel(WheelSpec::new("demo", "1.0"))
        .start()
        .unwrap();
    let extra = TestIndex::builder().start().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let with_cache = |ttl: u64, offline: bool| {
        let mut options = two_indexes(&main, &extra);
        options.cache = Some(safevenv_cache::Cache::new(cache_dir.path()));
        options.page_ttl = Duration::from_secs(ttl);
        options.offline = offline;
        IndexClient::new(options).unwrap()
    };
    assert!(
        with_cache(600, false)
            .project(&name("demo"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(requests_to(&extra, "/simple/demo/").len(), 1);
    // A new process within the TTL: the extra index's 404 is remembered, not asked again.
    let client = with_cache(600, false);
    assert!(client.project(&name("demo")).await.unwrap().is_some());
    assert!(
        client
            .also_served_by(&name("demo"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(requests_to(&extra, "/simple/demo/").len(), 1);
    // Offline, the remembered 404 answers; a name never asked is still a miss (fail closed).
    let offline = with_cache(0, true);
    assert!(offline.project(&name("demo")).await.unwrap().is_some());
    let error = offline.project(&name("other")).await.unwrap_err();
    assert!(matches!(error, IndexError::Unanswered { .. }), "{error}");
    // Stale, it is asked again, and a project published meanwhile is seen.
    extra.add(WheelSpec::new("demo", "2.0")).unwrap();
    let client = with_cache(0, false);
    assert!(client.project(&name("demo")).await.unwrap().is_some());
    assert_eq!(requests_to(&extra, "/simple/demo/").len(), 2);
    assert_eq!(
        client.also_served_by(&name("demo")).await.unwrap(),
        [IndexUrl::parse(&extra.url()).unwrap()]
    );
}
