//! The index server: one hyper service on 127.0.0.1, run by its own thread and tokio runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::sync::oneshot;

use crate::artifact::{BuildError, BuiltWheel, RawArtifact, SdistSpec, WheelSpec, normalize_name};
use crate::files::{Entry, IndexFile};
use crate::render::{self, Format, PageContext, ProjectMeta, encode_segment};

/// The test index could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestIndexError {
    /// An artifact given to the builder could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// No port could be bound on `127.0.0.1`.
    #[error("cannot listen on `127.0.0.1:0`")]
    Bind {
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The server's tokio runtime or thread could not be created.
    #[error("cannot start the test index's server thread")]
    Runtime {
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// A failure the index plays instead of (or on top of) its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a short text body. A code outside `100..=999` is sent as 500.
    Status(u16),
    /// Send the headers with the full `Content-Length`, then only `after_bytes` of the body, then
    /// close the connection. At or past the body's length, the whole body is sent.
    Truncate {
        /// How many body bytes are sent before the connection is closed.
        after_bytes: usize,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
}

/// A [`Fault`] with the requests it applies to.
#[derive(Debug, Clone)]
pub struct FaultRule {
    fault: Fault,
    path_contains: String,
    remaining: Option<usize>,
}

impl FaultRule {
    /// Applies `fault` to every request until cleared.
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            path_contains: String::new(),
            remaining: None,
        }
    }

    /// Applies only to requests whose path (as sent, percent-encoded) contains `text`.
    pub fn path_contains(mut self, text: &str) -> Self {
        self.path_contains = text.to_string();
        self
    }

    /// Applies to the next `count` matching requests only, then is dropped.
    pub fn times(mut self, count: usize) -> Self {
        self.remaining = Some(count);
        self
    }
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> Self {
        Self::new(fault)
    }
}

/// One request the index received, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The path as sent (percent-encoded, without the query).
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `Accept` header, if any.
    pub accept: Option<String>,
}

/// Everything the service reads and tests change while it runs.
struct State {
    /// By file name: one name is one artifact, so adding it again replaces it.
    files: BTreeMap<String, Entry>,
    faults: Vec<FaultRule>,
    requests: Vec<RequestRecord>,
    serve_metadata: bool,
    /// PEP 708 metadata by normalized project name.
    meta: BTreeMap<String, ProjectMeta>,
}

impl State {
    /// The first rule matching `path`, counted down and dropped once used up.
    fn take_fault(&mut self, path: &str) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|rule| path.contains(&rule.path_contains) && rule.remaining != Some(0))?;
        let rule = &mut self.faults[index];
        let fault = rule.fault.clone();
        if let Some(remaining) = &mut rule.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                self.faults.remove(index);
            }
        }
        Some(fault)
    }
}

struct Shared {
    state: Mutex<State>,
    /// `http://127.0.0.1:PORT`.
    base: String,
    serve_json: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent data: keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Collects artifacts and switches, then [`start`](Self::start)s a [`TestIndex`].
#[derive(Debug)]
pub struct TestIndexBuilder {
    files: Vec<IndexFile>,
    meta: BTreeMap<String, ProjectMeta>,
    serve_metadata: bool,
    serve_json: bool,
}

impl TestIndexBuilder {
    /// Serves the wheel `spec` builds.
    pub fn wheel(self, spec: WheelSpec) -> Self {
        self.file(spec.into())
    }

    /// Serves an already built wheel.
    pub fn built(self, wheel: BuiltWheel) -> Self {
        self.file(wheel.into())
    }

    /// Serves the sdist `spec` builds.
    pub fn sdist(self, spec: SdistSpec) -> Self {
        self.file(spec.into())
    }

    /// Serves raw bytes on `project`'s page.
    pub fn artifact(self, project: &str, artifact: RawArtifact) -> Self {
        self.file(IndexFile::raw(project, artifact))
    }

    /// Serves a file with per-file options (yanked, upload time, provenance, ...).
    pub fn file(mut self, file: IndexFile) -> Self {
        self.files.push(file);
        self
    }

    /// Serves `meta` (PEP 708 `tracks`, `alternate-locations`) on `project`'s page.
    pub fn project_meta(mut self, project: &str, meta: ProjectMeta) -> Self {
        self.meta.insert(normalize_name(project), meta);
        self
    }

    /// Serves PEP 658 `.metadata` files and advertises them (PEP 714 `core-metadata` and the
    /// older `dist-info-metadata`). Off by default.
    pub fn serve_metadata_files(mut self, serve: bool) -> Self {
        self.serve_metadata = serve;
        self
    }

    /// With `false`, the index answers HTML whatever the `Accept` header asks, as an index
    /// without PEP 691 does. On by default.
    pub fn serve_json(mut self, serve: bool) -> Self {
        self.serve_json = serve;
        self
    }

    /// Builds every artifact, binds `127.0.0.1:0` and serves from a background thread.
    pub fn start(self) -> Result<TestIndex, TestIndexError> {
        let mut files = BTreeMap::new();
        for file in self.files {
            let entry = file.into_entry()?;
            files.insert(entry.filename.clone(), entry);
        }
        let bind_error = |source| TestIndexError::Bind { source };
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        // A runtime of its own, on a thread of its own, so the index works the same from a plain
        // `#[test]` and from inside a test's tokio runtime.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| TestIndexError::Runtime { source })?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind_error)?
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                files,
                faults: Vec::new(),
                requests: Vec::new(),
                serve_metadata: self.serve_metadata,
                meta: self.meta,
            }),
            base: format!("http://{address}"),
            serve_json: self.serve_json,
        });
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("test-index-{}", address.port()))
            .spawn({
                let shared = Arc::clone(&shared);
                move || runtime.block_on(serve(listener, shared, stopped))
            })
            .map_err(|source| TestIndexError::Runtime { source })?;
        Ok(TestIndex {
            shared,
            address,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A running index on `127.0.0.1`; it stops when dropped.
pub struct TestIndex {
    shared: Arc<Shared>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIndex")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl TestIndex {
    /// An empty builder: JSON on, `.metadata` files off.
    pub fn builder() -> TestIndexBuilder {
        TestIndexBuilder {
            files: Vec::new(),
            meta: BTreeMap::new(),
            serve_metadata: false,
            serve_json: true,
        }
    }

    /// The address the index listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The simple index's base URL: `http://127.0.0.1:PORT/simple/`.
    pub fn url(&self) -> String {
        format!("{}/simple/", self.shared.base)
    }

    /// The URL of `project`'s page: `http://127.0.0.1:PORT/simple/<normalized>/`.
    pub fn project_url(&self, project: &str) -> String {
        format!(
            "{}/simple/{}/",
            self.shared.base,
            encode_segment(&normalize_name(project))
        )
    }

    /// The URL `filename` is served at: `http://127.0.0.1:PORT/files/<filename>`.
    pub fn file_url(&self, filename: &str) -> String {
        format!("{}/files/{}", self.shared.base, encode_segment(filename))
    }

    /// Serves another file while running; a file of the same name is replaced.
    pub fn add(&self, file: impl Into<IndexFile>) -> Result<(), BuildError> {
        let entry = file.into().into_entry()?;
        self.shared
            .lock()
            .files
            .insert(entry.filename.clone(), entry);
        Ok(())
    }

    /// Stops serving `filename`; says whether it was served.
    pub fn remove(&self, filename: &str) -> bool {
        self.shared.lock().files.remove(filename).is_some()
    }

    /// Serves `meta` (PEP 708) on `project`'s page from now on, replacing what it served.
    pub fn set_project_meta(&self, project: &str, meta: ProjectMeta) {
        self.shared
            .lock()
            .meta
            .insert(normalize_name(project), meta);
    }

    /// Turns PEP 658 `.metadata` files on or off while running.
    pub fn set_serve_metadata_files(&self, serve: bool) {
        self.shared.lock().serve_metadata = serve;
    }

    /// Adds a fault rule. Rules are tried in the order added; the first that matches a request
    /// applies to it.
    pub fn set_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.lock().faults.push(rule.into());
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }
}

impl Drop for TestIndex {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the accept loop has already ended: nothing left to stop.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The server thread only ends by this signal; a panic in it has already been
            // printed by the panic hook, and a destructor must not panic again.
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Accept errors (e.g. too many open files) pass; don't spin on them.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(Arc::clone(&shared), request)
                    });
                    // A connection error (a client gone, a truncation fault) ends only that
                    // connection.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

fn header_text(request: &Request<Incoming>, name: HeaderName) -> Option<String> {
    request
        .headers()
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let head = request.method() == Method::HEAD;
    let path = request.uri().path().to_string();
    let range = header_text(&request, header::RANGE);
    let accept = header_text(&request, header::ACCEPT);
    let fault = {
        let mut state = shared.lock();
        state.requests.push(RequestRecord {
            method: request.method().to_string(),
            path: path.clone(),
            range: range.clone(),
            accept: accept.clone(),
        });
        state.take_fault(&path)
    };
    let mut truncate = None;
    match fault {
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Ok(
                Reply::text(status, &format!("fault injected: status {code}\n"))
                    .into_response(head, None),
            );
        }
        Some(Fault::Truncate { after_bytes }) => truncate = Some(after_bytes),
        None => {}
    }
    let reply = route(
        &shared,
        request.method(),
        &path,
        range.as_deref(),
        accept.as_deref(),
    );
    Ok(reply.into_response(head, truncate))
}

fn route(
    shared: &Shared,
    method: &Method,
    raw_path: &str,
    range: Option<&str>,
    accept: Option<&str>,
) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return Reply::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n")
            .header(header::ALLOW, "GET, HEAD");
    }
    let path = percent_decode_str(raw_path).decode_utf8_lossy();
    let state = shared.lock();
    let context = PageContext {
        base: &shared.base,
        serve_metadata: state.serve_metadata,
    };
    if path == "/simple" {
        return Reply::redirect("/simple/".to_string());
    }
    if let Some(rest) = path.strip_prefix("/simple/") {
        let Some(format) = render::negotiate(accept, shared.serve_json) else {
            return Reply::text(
                StatusCode::NOT_ACCEPTABLE,
                "acceptable: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html, text/html\n",
            );
        };
        if rest.is_empty() {
            let projects: BTreeSet<String> = state
                .files
                .values()
                .map(|entry| entry.project.clone())
                .collect();
            let projects: Vec<String> = projects.into_iter().collect();
            return Reply::page(format, render::project_list(format, &projects));
        }
        let (name, has_slash) = match rest.strip_suffix('/') {
            Some(name) => (name, true),
            None => (rest, false),
        };
        if name.contains('/') {
            return Reply::not_found();
        }
        let normalized = normalize_name(name);
        // Like PyPI, other spellings of a name redirect to the normalized page (PEP 503).
        if normalized != name || !has_slash {
            return Reply::redirect(format!("/simple/{}/", encode_segment(&normalized)));
        }
        let files: Vec<&Entry> = state
            .files
            .values()
            .filter(|entry| entry.project == normalized)
            .collect();
        if files.is_empty() {
            return Reply::not_found();
        }
        return Reply::page(
            format,
            render::project_page(
                format,
                &context,
                &normalized,
                &files,
                state.meta.get(&normalized),
            ),
        );
    }
    if let Some(filename) = path.strip_prefix("/files/") {
        if let Some(entry) = state.files.get(filename) {
            return Reply::ranged(entry.bytes.clone(), "application/octet-stream", range);
        }
        let metadata = filename
            .strip_suffix(".metadata")
            .filter(|_| state.serve_metadata)
            .and_then(|artifact| state.files.get(artifact))
            .and_then(|entry| entry.metadata.as_ref());
        return match metadata {
            Some((text, _)) => Reply::ranged(text.clone(), "text/plain; charset=utf-8", range),
            None => Reply::not_found(),
        };
    }
    if let Some(filename) = path.strip_prefix("/provenance/") {
        return match state
            .files
            .get(filename)
            .and_then(|entry| entry.provenance.clone())
        {
            Some(provenance) => Reply::ranged(provenance, "application/json", None),
            None => Reply::not_found(),
        };
    }
    Reply::not_found()
}

/// A `Range` header read against a body of known length (RFC 9110 section 14).
#[derive(Debug, PartialEq, Eq)]
enum ByteRange {
    /// No usable range: other units, several ranges, or bad syntax are ignored, which RFC 9110
    /// allows; the whole body is sent with 200.
    Whole,
    /// `start..=end`, within the body.
    Part { start: usize, end: usize },
    /// The range lies past the body: 416.
    Unsatisfiable,
}

fn parse_range(header: &str, len: usize) -> ByteRange {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let Ok(suffix) = last.parse::<usize>() else {
            return ByteRange::Whole;
        };
        if suffix == 0 || len == 0 {
            return ByteRange::Unsatisfiable;
        }
        return ByteRange::Part {
            start: len.saturating_sub(suffix),
            end: len - 1,
        };
    }
    let Ok(start) = first.parse::<usize>() else {
        return ByteRange::Whole;
    };
    let end = if last.is_empty() {
        usize::MAX
    } else {
        match last.parse::<usize>() {
            Ok(end) if end >= start => end,
            _ => return ByteRange::Whole,
        }
    };
    if start >= len {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part {
        start,
        end: end.min(len - 1),
    }
}

/// A response before it is given a body type.
struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Reply {
    fn new(status: StatusCode, content_type: &'static str, body: Bytes) -> Self {
        Self {
            status,
            headers: vec![(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        }
    }

    fn text(status: StatusCode, text: &str) -> Self {
        Self::new(
            status,
            "text/plain; charset=utf-8",
            Bytes::from(text.to_string()),
        )
    }

    fn not_found() -> Self {
        Self::text(StatusCode::NOT_FOUND, "not found\n")
    }

    fn page(format: Format, body: String) -> Self {
        Self::new(StatusCode::OK, format.content_type(), Bytes::from(body))
            .header(header::VARY, "Accept")
    }

    fn redirect(location: String) -> Self {
        Self::text(StatusCode::MOVED_PERMANENTLY, "moved\n").header(header::LOCATION, location)
    }

    fn ranged(body: Bytes, content_type: &'static str, range: Option<&str>) -> Self {
        let len = body.len();
        let whole = range.map_or(ByteRange::Whole, |range| parse_range(range, len));
        let reply = match whole {
            ByteRange::Whole => Self::new(StatusCode::OK, content_type, body),
            ByteRange::Part { start, end } => Self::new(
                StatusCode::PARTIAL_CONTENT,
                content_type,
                body.slice(start..=end),
            )
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")),
            ByteRange::Unsatisfiable => {
                Self::text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n")
                    .header(header::CONTENT_RANGE, format!("bytes */{len}"))
            }
        };
        reply.header(header::ACCEPT_RANGES, "bytes")
    }

    /// Adds a header whose value this module wrote: numbers, fixed words or percent-encoded
    /// paths, all visible ASCII. Anything else is dropped rather than sent malformed.
    fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        if let Ok(value) = HeaderValue::try_from(value.into()) {
            self.headers.push((name, value));
        }
        self
    }

    fn into_response(self, head: bool, truncate: Option<usize>) -> Response<Body> {
        let len = self.body.len();
        let body = match (head, truncate) {
            (true, _) => Body::empty(),
            (false, Some(after_bytes)) if after_bytes < len => Body {
                data: Some(self.body.slice(..after_bytes)).filter(|data| !data.is_empty()),
                fail: Some(Box::pin(tokio::time::sleep(FLUSH_BEFORE_CUT))),
                declared: len as u64,
            },
            (false, _) => Body::full(self.body),
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        response
    }
}

/// How long a truncated body waits before failing. hyper drops what it has buffered when a body
/// fails; waiting (returning `Pending`) makes it flush the headers and the partial body first.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(50);

/// A response body: whole, empty (HEAD), or cut short by a [`Fault::Truncate`].
pub(crate) struct Body {
    data: Option<Bytes>,
    /// Once this timer fires (after `data`), fail, which makes hyper close the connection
    /// mid-body.
    fail: Option<Pin<Box<tokio::time::Sleep>>>,
    declared: u64,
}

impl Body {
    fn full(data: Bytes) -> Self {
        Self {
            declared: data.len() as u64,
            data: Some(data).filter(|data| !data.is_empty()),
            fail: None,
        }
    }

    fn empty() -> Self {
        Self {
            data: None,
            fail: None,
            declared: 0,
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(timer) = self.fail.as_mut() {
            if timer.as_mut().poll(context).is_pending() {
                return Poll::Pending;
            }
            self.fail = None;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "body truncated by an injected fault",
            ))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.fail.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let part = |start, end| ByteRange::Part { start, end };
        assert_eq!(parse_range("bytes=0-3", 10), part(0, 3));
        assert_eq!(parse_range("bytes=4-", 10), part(4, 9));
        assert_eq!(parse_range("bytes=-3", 10), part(7, 9));
        assert_eq!(parse_range("bytes=-30", 10), part(0, 9));
        assert_eq!(parse_range("bytes=5-100", 10), part(5, 9));
        assert_eq!(parse_range("bytes=10-", 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=3-1", 10), ByteRange::Whole);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), ByteRange::Whole);
        assert_eq!(parse_range("items=0-1", 10), ByteRange::Whole);
        assert_eq!(parse_range("bytes=x-1", 10), ByteRange::Whole);
    }

    #[test]
    fn fault_rules_count_down_and_match_paths() {
        let mut state = State {
            files: BTreeMap::new(),
            faults: vec![
                FaultRule::new(Fault::Status(503))
                    .path_contains("/files/")
                    .times(2),
                FaultRule::new(Fault::Delay(Duration::from_millis(1))),
            ],
            requests: Vec::new(),
            serve_metadata: false,
            meta: BTreeMap::new(),
        };
        assert_eq!(state.take_fault("/files/a.whl"), Some(Fault::Status(503)));
        assert_eq!(
            state.take_fault("/simple/a/"),
            Some(Fault::Delay(Duration::from_millis(1)))
        );
        assert_eq!(state.take_fault("/files/a.whl"), Some(Fault::Status(503)));
        assert_eq!(
            state.take_fault("/files/a.whl"),
            Some(Fault::Delay(Duration::from_millis(1)))
        );
        assert_eq!(state.faults.len(), 1);
    }
}
