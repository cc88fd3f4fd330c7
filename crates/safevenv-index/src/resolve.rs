//! Host name lookups that do not stall on a lost packet.
//!
//! The system resolver (`getaddrinfo`) asks its name server over UDP and, when an answer is
//! lost, waits five seconds (glibc's default `timeout`) before asking again. On a network that
//! drops one packet in a few dozen, that turns one install in ten into a five-second one. So a
//! lookup that has not answered after [`HEDGE_AFTER`] is asked again, alongside the first, and
//! the first answer wins; a lost packet then costs half a second, not five. Lookups still go through
//! the system resolver (hosts file, search domains, the configured servers): written here
//! rather than taken from a DNS crate, which would replace that configuration with its own.
//!
//! A run asks each host once: the first answer is kept for the client's life (one command, a
//! few seconds, well inside any record's time to live), so the connections that follow the
//! first (HTTP/1.1 servers, a second host's redirects) do not each wait for a lookup.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long a lookup may take before it is asked again: above a normal answer (a few
/// milliseconds, a few hundred from a distant name server), well below the resolver's own
/// retry. Asking a slow server twice costs one more small query.
pub(crate) const HEDGE_AFTER: Duration = Duration::from_millis(500);

/// A blocking lookup of a host's addresses (the port is set by the caller).
pub(crate) type Lookup = dyn Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync;

/// The system resolver, asked again when an answer is late (see the module's documentation).
#[derive(Clone)]
pub(crate) struct HedgedResolver {
    lookup: Arc<Lookup>,
    hedge_after: Duration,
    /// Answers already given, by host (failures are not kept: the next connection asks again).
    answers: Arc<Mutex<HashMap<String, Vec<SocketAddr>>>>,
}

impl HedgedResolver {
    /// Lookups through `getaddrinfo`.
    pub(crate) fn system() -> Self {
        Self {
            lookup: Arc::new(|host: &str| (host, 0).to_socket_addrs().map(Iterator::collect)),
            hedge_after: HEDGE_AFTER,
            answers: Arc::default(),
        }
    }

    /// The addresses of `host`: the answer given before, or the first of at most two lookups
    /// to answer.
    pub(crate) async fn resolve_host(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        let known = self
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(host)
            .cloned();
        if let Some(addresses) = known {
            return Ok(addresses);
        }
        let addresses = self.look_up(host).await?;
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.to_string(), addresses.clone());
        Ok(addresses)
    }

    /// The first of at most two lookups of `host` to answer.
    async fn look_up(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        let start = |host: String| {
            let lookup = Arc::clone(&self.lookup);
            tokio::task::spawn_blocking(move || lookup(&host))
        };
        let mut first = start(host.to_string());
        let answer = tokio::select! {
            answer = &mut first => answer,
            () = tokio::time::sleep(self.hedge_after) => {
                tracing::debug!("looking up `{host}` again: no answer after {:?}", self.hedge_after);
                let mut second = start(host.to_string());
                tokio::select! {
                    answer = &mut first => answer,
                    answer = &mut second => answer,
                }
            }
        };
        answer.map_err(io::Error::other)?
    }
}

impl Resolve for HedgedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.clone();
        let future: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
            let addresses = resolver.resolve_host(name.as_str()).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        });
        future
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    fn resolver(
        lookup: impl Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    ) -> HedgedResolver {
        HedgedResolver {
            lookup: Arc::new(lookup),
            hedge_after: Duration::from_millis(100),
            answers: Arc::default(),
        }
    }

    fn address() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[tokio::test]
    async fn a_prompt_answer_is_asked_for_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let resolver = resolver(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(vec![address()])
        });
        assert_eq!(
            resolver.resolve_host("index.test").await.unwrap(),
            vec![address()]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_lost_answer_is_asked_for_again_and_the_first_answer_wins() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let resolver = resolver(move |_| {
            // The first lookup stalls as one whose packet was lost does.
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(1500));
            }
            Ok(vec![address()])
        });
        let started = Instant::now();
        assert_eq!(
            resolver.resolve_host("index.test").await.unwrap(),
            vec![address()]
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_host_is_looked_up_once_per_run_but_a_failure_is_asked_again() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let resolver = resolver(move |host| {
            counted.fetch_add(1, Ordering::SeqCst);
            if host == "down.test" {
                Err(io::Error::new(io::ErrorKind::NotFound, "no answer"))
            } else {
                Ok(vec![address()])
            }
        });
        for _ in 0..3 {
            assert_eq!(
                resolver.resolve_host("index.test").await.unwrap(),
                vec![address()]
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        for _ in 0..2 {
            resolver.resolve_host("down.test").await.unwrap_err();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_lookup_is_an_error() {
        let resolver = resolver(|host| {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no such host {host}"),
            ))
        });
        let error = resolver.resolve_host("missing.test").await.unwrap_err();
        assert!(error.to_string().contains("missing.test"), "{error}");
    }

    #[tokio::test]
    async fn the_system_resolver_finds_localhost() {
        let addresses = HedgedResolver::system()
            .resolve_host("localhost")
            .await
            .unwrap();
        assert!(
            addresses.iter().any(|address| address.ip().is_loopback()),
            "{addresses:?}"
        );
    }
}
