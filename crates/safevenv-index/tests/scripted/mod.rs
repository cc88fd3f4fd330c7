//! A tiny HTTP/1.1 server on 127.0.0.1 whose answers a test scripts, for what the shared test index
//! cannot play: validators and 304s, cache headers, ranges ignored, metadata that contradicts its
//! advertised hash, and recording the `Authorization` header.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request: its path and headers (names lowercase).
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
}

/// An answer: status, extra headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub struct Scripted {
    pub base: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    /// Serve `respond` on a fresh port of 127.0.0.1, on the current Tokio runtime.
    pub async fn start(respond: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let respond = Arc::new(respond);
        let server_log = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let respond = Arc::clone(&respond);
                let log = Arc::clone(&server_log);
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        // Read one request head (GET only: no body).
                        let end = loop {
                            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                                break end;
                            }
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(count) => buffer.extend_from_slice(&chunk[..count]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                        buffer.drain(..end + 4);
                        let mut lines = head.split("\r\n");
                        let path = lines
                            .next()
                            .and_then(|line| line.split(' ').nth(1))
                            .unwrap_or_default()
                            .to_string();
                        let headers = lines
                            .filter_map(|line| line.split_once(':'))
                            .map(|(name, value)| {
                                (name.trim().to_ascii_lowercase(), value.trim().to_string())
                            })
                            .collect();
                        let seen = Seen { path, headers };
                        log.lock().unwrap().push(seen.clone());
                        let answer = respond(&seen);
                        let mut out = format!(
                            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
                            answer.status,
                            answer.body.len()
                        );
                        for (name, value) in &answer.headers {
                            out.push_str(&format!("{name}: {value}\r\n"));
                        }
                        out.push_str("\r\n");
                        let mut bytes = out.into_bytes();
                        bytes.extend_from_slice(&answer.body);
                        if stream.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { base, log }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
