//! [`IndexClient::download`]: stream a whole file to a [`DownloadSink`] with the client's
//! credentials, timeouts, retries and concurrency limit, never holding the body in memory.

use reqwest::header::{ACCEPT_ENCODING, HeaderMap, HeaderValue};
use tracing::debug;
use url::Url;
use uv_redacted::DisplaySafeUrl;

use crate::client::IndexClient;
use crate::error::{IndexError, is_transient_status};
use crate::http::{Http, retry_after, transport_error, url_credentials};

/// Where the body of a download goes, chunk by chunk.
///
/// A try that fails after some bytes were handed out is retried from the start: the sink is told
/// so by a new [`DownloadSink::start`], and must forget every byte it received before.
pub trait DownloadSink {
    /// The sink's own failure (a full disk, a size it refuses). It ends the download at once:
    /// it is never retried.
    type Error;

    /// A try's body begins; `length` is the `Content-Length` the server announced.
    fn start(&mut self, length: Option<u64>) -> Result<(), Self::Error>;

    /// The next bytes of the body, in order.
    fn write(&mut self, chunk: &[u8]) -> Result<(), Self::Error>;
}

/// Why [`IndexClient::download`] failed: the index (after retries), or the sink.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError<E> {
    /// The request failed, the server refused, or the body broke off on the last try.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The sink refused a chunk; no retry was made.
    #[error(transparent)]
    Sink(E),
}

/// How one try ended, when it did not fail for good.
enum Attempt {
    /// The whole body was handed to the sink: its length.
    Done(u64),
    /// The server answered a transient status (5xx, 429): retry, honouring `Retry-After`.
    Transient { status: u16, headers: HeaderMap },
}

impl IndexClient {
    /// Stream the body of `url` into `sink` and return its length in bytes.
    ///
    /// Uses the client's credentials (from the URL, else the netrc file), timeouts and
    /// concurrency limit (a permit is held for the whole body). Transient failures (connection
    /// errors, timeouts, bodies cut short, 5xx, 429) are retried with the client's backoff, from
    /// the start of the body; any other status is [`IndexError::Status`]. The body is asked for
    /// with `Accept-Encoding: identity`, so the sink sees the file's own bytes. Offline, this
    /// makes no request and returns [`IndexError::OfflineMiss`].
    pub async fn download<S: DownloadSink>(
        &self,
        url: &DisplaySafeUrl,
        sink: &mut S,
    ) -> Result<u64, DownloadError<S::Error>> {
        if self.inner.offline {
            return Err(IndexError::OfflineMiss { url: url.clone() }.into());
        }
        let http = &self.inner.http;
        // Credentials travel as an `Authorization` header, never in the request line.
        let request_url = url.without_credentials().into_owned();
        let credentials = url_credentials(url).or_else(|| http.auth.for_url(&request_url));
        let mut attempt = 0;
        loop {
            let outcome = {
                // The semaphore is never closed; without a permit we would only lose the bound.
                let _permit = http.semaphore.acquire().await.ok();
                try_download(http, &request_url, credentials.as_ref(), sink).await
            };
            let (delay, last_error) = match outcome {
                Ok(Attempt::Done(length)) => return Ok(length),
                Ok(Attempt::Transient { status, headers }) => (
                    retry_after(&headers)
                        .map(|delay| delay.min(http.options.backoff_cap))
                        .unwrap_or_else(|| http.backoff(attempt)),
                    IndexError::Status {
                        url: url.clone(),
                        status,
                    },
                ),
                Err(DownloadError::Index(error)) if error.is_transient() => {
                    (http.backoff(attempt), error)
                }
                Err(error) => return Err(error),
            };
            if attempt >= http.options.max_retries {
                return Err(last_error.into());
            }
            attempt += 1;
            debug!(
                "retrying the download of `{url}` in {delay:?} (try {attempt} of {}): {last_error}",
                http.options.max_retries
            );
            tokio::time::sleep(delay).await;
        }
    }
}

async fn try_download<S: DownloadSink>(
    http: &Http,
    url: &Url,
    credentials: Option<&crate::auth::Credentials>,
    sink: &mut S,
) -> Result<Attempt, DownloadError<S::Error>> {
    // Artifacts are compressed already; a transfer encoding would only cost time, and the sink
    // must see the bytes whose hash was pinned.
    let mut request = http
        .client()?
        .get(url.clone())
        .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if let Some(credentials) = credentials {
        request = request.basic_auth(&credentials.username, credentials.password.as_ref());
    }
    let mut response = http
        .send(url, request)
        .await
        .map_err(|error| transport_error(url, error))?;
    let status = response.status();
    if is_transient_status(status.as_u16()) {
        return Ok(Attempt::Transient {
            status: status.as_u16(),
            headers: response.headers().clone(),
        });
    }
    if !status.is_success() {
        return Err(IndexError::Status {
            url: DisplaySafeUrl::from_url(url.clone()),
            status: status.as_u16(),
        }
        .into());
    }
    let length = response.content_length();
    sink.start(length).map_err(DownloadError::Sink)?;
    let mut received = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| transport_error(url, error))?
    {
        received += chunk.len() as u64;
        sink.write(&chunk).map_err(DownloadError::Sink)?;
    }
    // hyper already fails a body that closes early; this guards any path that does not.
    if let Some(expected) = length
        && received != expected
    {
        return Err(IndexError::Truncated {
            url: DisplaySafeUrl::from_url(url.clone()),
            expected,
            received,
        }
        .into());
    }
    Ok(Attempt::Done(received))
}
