//! `IndexClient::download`: streaming, restarts after a broken body, retries, refusals.

mod scripted;

use std::time::Duration;

use safevenv_index::{
    DisplaySafeUrl, DownloadError, DownloadSink, IndexClient, IndexClientOptions, IndexError,
    IndexUrl, IndexUrls,
};
use safevenv_test_index::{Fault, FaultRule, RawArtifact, TestIndex, WheelSpec};
use scripted::{Answer, Scripted};

fn options(index_url: &str) -> IndexClientOptions {
    let mut options =
        IndexClientOptions::new(IndexUrls::single(IndexUrl::parse(index_url).unwrap()));
    options.http.backoff_base = Duration::from_millis(1);
    options.http.backoff_cap = Duration::from_millis(20);
    options.http.max_retries = 2;
    options
}

fn client(index_url: &str) -> IndexClient {
    IndexClient::new(options(index_url)).unwrap()
}

/// Keeps the body in memory and counts the tries it saw.
#[derive(Default)]
struct Collect {
    starts: Vec<Option<u64>>,
    body: Vec<u8>,
    /// Refuse any chunk once the body would pass this many bytes.
    refuse_after: Option<usize>,
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("refused")]
struct Refused;

impl DownloadSink for Collect {
    type Error = Refused;

    fn start(&mut self, length: Option<u64>) -> Result<(), Refused> {
        self.starts.push(length);
        self.body.clear();
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), Refused> {
        if self
            .refuse_after
            .is_some_and(|limit| self.body.len() + chunk.len() > limit)
        {
            return Err(Refused);
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }
}

fn served(bytes: usize) -> (TestIndex, Vec<u8>, DisplaySafeUrl) {
    let body: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    let index = TestIndex::builder()
        .artifact(
            "blob",
            RawArtifact {
                filename: "blob-1.0.tar.gz".to_string(),
                bytes: body.clone(),
            },
        )
        .start()
        .unwrap();
    let url = DisplaySafeUrl::parse(&index.file_url("blob-1.0.tar.gz")).unwrap();
    (index, body, url)
}

fn file_requests(index: &TestIndex) -> usize {
    index
        .requests()
        .iter()
        .filter(|request| request.path.starts_with("/files/"))
        .count()
}

#[tokio::test]
async fn streams_the_whole_body() {
    let (index, body, url) = served(3 * 1024 * 1024 + 17);
    let mut sink = Collect::default();
    let length = client(&index.url())
        .download(&url, &mut sink)
        .await
        .unwrap();
    assert_eq!(length, body.len() as u64);
    assert_eq!(sink.starts, [Some(body.len() as u64)]);
    assert!(sink.body == body, "the body differs");
    assert_eq!(file_requests(&index), 1);
}

#[tokio::test]
async fn a_body_cut_short_is_downloaded_again_from_the_start() {
    let (index, body, url) = served(200_000);
    index.set_fault(
        FaultRule::new(Fault::Truncate {
            after_bytes: 50_000,
        })
        .times(1),
    );
    let mut sink = Collect::default();
    let length = client(&index.url())
        .download(&url, &mut sink)
        .await
        .unwrap();
    assert_eq!(length, body.len() as u64);
    assert_eq!(sink.starts.len(), 2, "the sink is told about the restart");
    assert!(sink.body == body, "the body differs");
    assert_eq!(file_requests(&index), 2);
}

#[tokio::test]
async fn a_body_always_cut_short_fails_after_the_retries() {
    let (index, _, url) = served(200_000);
    index.set_fault(Fault::Truncate { after_bytes: 1000 });
    let mut sink = Collect::default();
    let error = client(&index.url())
        .download(&url, &mut sink)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            DownloadError::Index(IndexError::Request { .. } | IndexError::Truncated { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("/files/blob-1.0.tar.gz"));
    assert_eq!(file_requests(&index), 3, "one try and two retries");
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let (index, body, url) = served(1000);
    index.set_fault(FaultRule::new(Fault::Status(500)).times(1));
    let mut sink = Collect::default();
    client(&index.url())
        .download(&url, &mut sink)
        .await
        .unwrap();
    assert_eq!(sink.body, body);
    assert_eq!(sink.starts.len(), 1, "a 500 never reaches the sink");
    assert_eq!(file_requests(&index), 2);
}

#[tokio::test]
async fn not_found_is_an_error_naming_the_url_without_retry() {
    let (index, _, _) = served(10);
    let url = DisplaySafeUrl::parse(&index.file_url("missing-1.0.tar.gz")).unwrap();
    let mut sink = Collect::default();
    let error = client(&index.url())
        .download(&url, &mut sink)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            DownloadError::Index(IndexError::Status { status: 404, .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("/files/missing-1.0.tar.gz"));
    assert!(sink.starts.is_empty());
    assert_eq!(file_requests(&index), 1);
}

#[tokio::test]
async fn a_sink_refusal_stops_at_once() {
    let (index, _, url) = served(500_000);
    let mut sink = Collect {
        refuse_after: Some(10),
        ..Collect::default()
    };
    let error = client(&index.url())
        .download(&url, &mut sink)
        .await
        .unwrap_err();
    assert!(matches!(error, DownloadError::Sink(Refused)), "{error:?}");
    assert_eq!(file_requests(&index), 1, "a refusal is not retried");
}

#[tokio::test]
async fn offline_makes_no_request() {
    let index = TestIndex::builder()
        .wheel(WheelSpec::new("demo", "1.0"))
        .start()
        .unwrap();
    let mut options = options(&index.url());
    options.offline = true;
    let url = DisplaySafeUrl::parse(&index.file_url("demo-1.0-py3-none-any.whl")).unwrap();
    let error = IndexClient::new(options)
        .unwrap()
        .download(&url, &mut Collect::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::Index(IndexError::OfflineMiss { .. })),
        "{error:?}"
    );
    assert!(index.requests().is_empty());
}

#[tokio::test]
async fn credentials_are_sent_as_a_header_and_the_body_is_not_encoded() {
    let server = Scripted::start(|_| Answer::new(200, "artifact bytes")).await;
    let base = server.base.replace("http://", "http://user:secret@");
    let url = DisplaySafeUrl::parse(&format!("{base}/files/a-1.0.tar.gz")).unwrap();
    let mut sink = Collect::default();
    client(&format!("{}/simple/", server.base))
        .download(&url, &mut sink)
        .await
        .unwrap();
    assert_eq!(sink.body, b"artifact bytes");
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/files/a-1.0.tar.gz");
    // "user:secret" in base64.
    assert_eq!(
        seen[0].headers.get("authorization").map(String::as_str),
        Some("Basic dXNlcjpzZWNyZXQ=")
    );
    assert_eq!(
        seen[0].headers.get("accept-encoding").map(String::as_str),
        Some("identity")
    );
}

#[tokio::test]
async fn too_many_requests_is_retried_after_the_delay_asked() {
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&tries);
    let server = Scripted::start(move |_| {
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Answer::new(429, "slow down").header("retry-after", "0")
        } else {
            Answer::new(200, "artifact bytes")
        }
    })
    .await;
    let url = DisplaySafeUrl::parse(&format!("{}/files/a-1.0.tar.gz", server.base)).unwrap();
    let mut sink = Collect::default();
    client(&format!("{}/simple/", server.base))
        .download(&url, &mut sink)
        .await
        .unwrap();
    assert_eq!(sink.body, b"artifact bytes");
    assert_eq!(sink.starts.len(), 1, "a 429 never reaches the sink");
    assert_eq!(server.requests().len(), 2);
}
