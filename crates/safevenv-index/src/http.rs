//! The HTTP layer: one `reqwest` client, bounded concurrency, retries with backoff, size caps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::sync::Semaphore;
use tracing::debug;
use url::Url;
use uv_redacted::DisplaySafeUrl;

use crate::auth::Authenticator;
use crate::error::{IndexError, is_transient_status};

/// How the client talks HTTP. [`Default`] gives the production settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of a response.
    pub read_timeout: Duration,
    /// Retries after the first try, for transient failures only (connection errors, timeouts,
    /// truncated bodies, 5xx, 429). A 4xx other than 429 is never retried.
    pub max_retries: u32,
    /// The first backoff delay; each retry doubles it, with jitter.
    pub backoff_base: Duration,
    /// The longest backoff delay, and the longest `Retry-After` honoured.
    pub backoff_cap: Duration,
    /// Requests in flight at once.
    pub max_concurrency: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
            max_concurrency: 50,
        }
    }
}

/// A fully read response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The URL after redirects (relative links resolve against it).
    pub(crate) url: Url,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A header's value as text, if present and visible ASCII.
    pub(crate) fn header(&self, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// The shared HTTP machinery of an [`crate::IndexClient`].
#[derive(Debug)]
pub(crate) struct Http {
    /// Built on the first request: building loads the system's root certificates, which a run
    /// served from the cache (a warm install, a no-op sync) never needs.
    client: OnceLock<reqwest::Client>,
    pub(crate) semaphore: Semaphore,
    pub(crate) options: HttpOptions,
    pub(crate) auth: Authenticator,
    first_contact: FirstContact,
}

/// How long the requests behind an origin's first one wait for its answer: above a first
/// connection's handshake and answer from a distant index (a few hundred milliseconds).
const FIRST_CONTACT_PATIENCE: Duration = Duration::from_millis(750);

/// The first request to each origin goes alone; the others to that origin wait for its answer.
///
/// The pool shares an HTTP/2 connection only once it knows the server speaks HTTP/2, which it
/// learns when the first connection's TLS handshake ends. Until then every request opens a
/// connection of its own: a cold sync asking a dozen pages and provenance objects at once
/// opened a dozen connections to one host, each with its own lookup and handshake, and often
/// waited for the slowest. Waiting for the first answer costs the others one round trip and
/// lets them all share its connection. An HTTP/1.1 server gets the same concurrency as before,
/// after that first answer.
#[derive(Debug, Default)]
struct FirstContact {
    origins: Mutex<HashMap<String, Arc<OriginGate>>>,
}

/// One origin's gate: held by the first request until its answer's head is in.
#[derive(Debug, Default)]
struct OriginGate {
    /// Set once a first request was answered (or failed): later requests go straight through.
    open: AtomicBool,
    first: tokio::sync::Mutex<()>,
}

impl FirstContact {
    /// The gate of `url`'s origin, made on first use.
    fn gate(&self, url: &Url) -> Arc<OriginGate> {
        let origin = url.origin().ascii_serialization();
        let mut origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(origins.entry(origin).or_default())
    }
}

impl Http {
    pub(crate) fn new(options: HttpOptions, auth: Authenticator) -> Arc<Self> {
        Arc::new(Self {
            client: OnceLock::new(),
            semaphore: Semaphore::new(options.max_concurrency.max(1)),
            options,
            auth,
            first_contact: FirstContact::default(),
        })
    }

    /// Send `request` for `url`, the first to its origin alone (see [`FirstContact`]).
    ///
    /// Resolves once the response's head is in, as `send` does; the body is read after the gate
    /// is open, so a large first download does not hold the others back.
    pub(crate) async fn send(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let gate = self.first_contact.gate(url);
        if !gate.open.load(Ordering::Acquire) {
            // The first to take the lock sends alone; a first request dropped before its answer
            // releases the lock with the gate still closed, and the next one goes first. A first
            // answer slower than `FIRST_CONTACT_PATIENCE` (a stalled server, a large slow page)
            // holds nobody back for longer: the others then go as they would without the gate.
            match tokio::time::timeout(FIRST_CONTACT_PATIENCE, gate.first.lock()).await {
                Ok(_first) if !gate.open.load(Ordering::Acquire) => {
                    let answer = request.send().await;
                    // Answered or failed, the gate opens: the others then try for themselves.
                    gate.open.store(true, Ordering::Release);
                    return answer;
                }
                Ok(_) => {}
                Err(_) => gate.open.store(true, Ordering::Release),
            }
        }
        request.send().await
    }

    /// The HTTP client, built now if no request was made yet.
    pub(crate) fn client(&self) -> Result<&reqwest::Client, IndexError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        // Two first requests at once may both build one; the first stored is used by both.
        let built = reqwest::Client::builder()
            .user_agent(concat!("safevenv/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.options.connect_timeout)
            .read_timeout(self.options.read_timeout)
            .dns_resolver(Arc::new(crate::resolve::HedgedResolver::system()))
            .gzip(true)
            .build()
            .map_err(|source| IndexError::ClientBuild { source })?;
        Ok(self.client.get_or_init(|| built))
    }

    /// GET `url` with `headers`, reading at most `limit` bytes of body, retrying transient failures.
    ///
    /// Any status is returned as a [`Response`] (the caller knows which ones it expects), except
    /// that a transient status still failing after the last retry is returned too, with no body.
    pub(crate) async fn get(
        &self,
        url: &DisplaySafeUrl,
        headers: HeaderMap,
        limit: u64,
    ) -> Result<Response, IndexError> {
        // Credentials travel as an `Authorization` header, never in the request line.
        let request_url = url.without_credentials().into_owned();
        let credentials = url_credentials(url).or_else(|| self.auth.for_url(&request_url));
        let mut attempt = 0;
        loop {
            let outcome = {
                // The semaphore is never closed; without a permit we would only lose the bound.
                let _permit = self.semaphore.acquire().await.ok();
                self.attempt(&request_url, &headers, credentials.as_ref(), limit)
                    .await
            };
            let delay = match &outcome {
                Ok(response) if is_transient_status(response.status.as_u16()) => {
                    retry_after(&response.headers)
                        .map(|delay| delay.min(self.options.backoff_cap))
                        .unwrap_or_else(|| self.backoff(attempt))
                }
                Err(error) if error.is_transient() => self.backoff(attempt),
                _ => return outcome,
            };
            if attempt >= self.options.max_retries {
                return outcome;
            }
            attempt += 1;
            debug!(
                "retrying `{url}` in {delay:?} (try {attempt} of {})",
                self.options.max_retries
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        url: &Url,
        headers: &HeaderMap,
        credentials: Option<&crate::auth::Credentials>,
        limit: u64,
    ) -> Result<Response, IndexError> {
        let mut request = self.client()?.get(url.clone()).headers(headers.clone());
        if let Some(credentials) = credentials {
            request = request.basic_auth(&credentials.username, credentials.password.as_ref());
        }
        let mut response = self
            .send(url, request)
            .await
            .map_err(|error| transport_error(url, error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let final_url = response.url().clone();
        if is_transient_status(status.as_u16()) {
            return Ok(Response {
                status,
                headers,
                url: final_url,
                body: Vec::new(),
            });
        }
        let safe_url = || DisplaySafeUrl::from_url(url.clone());
        let expected = response.content_length();
        if expected.is_some_and(|length| length > limit) {
            return Err(IndexError::TooLarge {
                url: safe_url(),
                limit,
            });
        }
        let capacity = usize::try_from(expected.unwrap_or(0).min(limit)).unwrap_or(0);
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| transport_error(url, error))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(IndexError::TooLarge {
                    url: safe_url(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        // hyper already fails a body that closes early; this guards any path that does not.
        if let Some(expected) = expected
            && body.len() as u64 != expected
        {
            return Err(IndexError::Truncated {
                url: safe_url(),
                expected,
                received: body.len() as u64,
            });
        }
        Ok(Response {
            status,
            headers,
            url: final_url,
            body,
        })
    }

    /// Exponential backoff with jitter: `base * 2^attempt`, capped, then a random point in its
    /// upper half so that many clients failing together do not retry together.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.options.backoff_base.as_millis() as u64;
        let full = base
            .saturating_mul(1u64 << attempt.min(20))
            .min(self.options.backoff_cap.as_millis() as u64);
        Duration::from_millis(full / 2 + fastrand::u64(0..=full / 2))
    }
}

/// Credentials written in the URL itself: they win over the netrc file.
pub(crate) fn url_credentials(url: &Url) -> Option<crate::auth::Credentials> {
    if url.username().is_empty() {
        return None;
    }
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some(crate::auth::Credentials {
        username: decode(url.username()),
        password: url.password().map(decode),
    })
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Classify a transport error; the URL is redacted and removed from `reqwest`'s own message.
pub(crate) fn transport_error(url: &Url, error: reqwest::Error) -> IndexError {
    let url = DisplaySafeUrl::from_url(url.clone());
    let source = error.without_url();
    if source.is_timeout() {
        IndexError::Timeout { url, source }
    } else if source.is_connect() {
        IndexError::Connect { url, source }
    } else {
        IndexError::Request { url, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds_and_date() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH);
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&past).unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let options = HttpOptions {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(1000),
            ..HttpOptions::default()
        };
        let http = Http::new(options, Authenticator::default());
        for attempt in 0..10 {
            let delay = http.backoff(attempt);
            let full = (100u64 << attempt).min(1000);
            assert!(
                delay >= Duration::from_millis(full / 2),
                "{attempt}: {delay:?}"
            );
            assert!(delay <= Duration::from_millis(full), "{attempt}: {delay:?}");
        }
    }

    /// A server on 127.0.0.1 that answers each request after `delay`, counting the connections
    /// it has accepted when it sends its first answer.
    async fn slow_server(
        delay: Duration,
    ) -> (
        Url,
        Arc<std::sync::atomic::AtomicUsize>,
        Arc<Mutex<Option<usize>>>,
    ) {
        use std::sync::atomic::AtomicUsize;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/page", listener.local_addr().unwrap())).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let at_first_answer = Arc::new(Mutex::new(None));
        let (count, first) = (Arc::clone(&accepted), Arc::clone(&at_first_answer));
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let (count, first) = (Arc::clone(&count), Arc::clone(&first));
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    while stream.read(&mut request).await.is_ok_and(|read| read > 0) {
                        tokio::time::sleep(delay).await;
                        first
                            .lock()
                            .unwrap()
                            .get_or_insert(count.load(Ordering::SeqCst));
                        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted, at_first_answer)
    }

    async fn get_page(http: &Http, url: &Url) -> Result<Response, IndexError> {
        let url = DisplaySafeUrl::from_url(url.clone());
        http.get(&url, HeaderMap::new(), 1024).await
    }

    #[tokio::test]
    async fn the_first_request_to_an_origin_goes_alone_and_the_rest_follow() {
        let (url, accepted, at_first_answer) = slow_server(Duration::from_millis(200)).await;
        let http = Http::new(HttpOptions::default(), Authenticator::default());
        let answers = futures::future::join_all((0..6).map(|_| get_page(&http, &url))).await;
        for answer in answers {
            assert_eq!(answer.unwrap().body, b"ok");
        }
        // Without the gate, all six connect before the first answer.
        assert_eq!(*at_first_answer.lock().unwrap(), Some(1));
        assert!(accepted.load(Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn a_first_request_dropped_before_its_answer_lets_the_next_one_go_first() {
        let (url, _, _) = slow_server(Duration::from_millis(300)).await;
        let http = Http::new(HttpOptions::default(), Authenticator::default());
        let dropped = tokio::time::timeout(Duration::from_millis(50), get_page(&http, &url)).await;
        assert!(
            dropped.is_err(),
            "the first request should still be waiting"
        );
        let answer = tokio::time::timeout(Duration::from_secs(5), get_page(&http, &url))
            .await
            .expect("the next request is not held by the dropped one");
        assert_eq!(answer.unwrap().body, b"ok");
    }

    #[tokio::test]
    async fn a_slow_first_answer_holds_the_others_back_no_longer_than_the_patience() {
        let (url, _, _) = slow_server(FIRST_CONTACT_PATIENCE * 4).await;
        let http = Http::new(HttpOptions::default(), Authenticator::default());
        let started = std::time::Instant::now();
        let answers = futures::future::join_all((0..3).map(|_| get_page(&http, &url))).await;
        for answer in answers {
            assert_eq!(answer.unwrap().body, b"ok");
        }
        // Serialised behind the first, the last would answer after two of its delays.
        assert!(
            started.elapsed() < FIRST_CONTACT_PATIENCE * 7,
            "{:?}",
            started.elapsed()
        );
    }
}
