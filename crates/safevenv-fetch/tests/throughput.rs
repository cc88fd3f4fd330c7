//! Throughput, measured on demand (it prints numbers; it asserts only that the work was done):
//!
//! ```text
//! cargo test -p safevenv-fetch --release --test throughput -- --ignored --nocapture
//! ```
//!
//! Sixteen artifacts of 4 MiB of incompressible bytes are served from 127.0.0.1, fetched with
//! several concurrencies, with and without a per-request delay standing in for network latency;
//! then fetched again as cache hits, which re-hashes them.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use safevenv_cache::Cache;
use safevenv_fetch::{ArtifactRequest, FetchOptions, Fetcher, Sha256};
use safevenv_index::{DisplaySafeUrl, IndexClient, IndexClientOptions, IndexUrl, IndexUrls};
use safevenv_test_index::{Fault, FaultRule, RawArtifact, TestIndex, sha256_hex};
use uv_normalize::PackageName;
use uv_pep440::Version;

const ARTIFACTS: usize = 16;
const SIZE: usize = 4 * 1024 * 1024;

/// Incompressible bytes (xorshift64), so that no layer can shrink them.
fn noise(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

fn fetcher(index: &TestIndex, cache: &Path, concurrency: usize) -> Fetcher {
    let options =
        IndexClientOptions::new(IndexUrls::single(IndexUrl::parse(&index.url()).unwrap()));
    Fetcher::new(
        IndexClient::new(options).unwrap(),
        Cache::new(cache),
        FetchOptions {
            concurrency,
            progress: false,
            ..FetchOptions::default()
        },
    )
}

fn megabytes_per_second(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture, preferably --release"]
async fn throughput() {
    let mut builder = TestIndex::builder();
    let mut requests = Vec::new();
    for i in 0..ARTIFACTS {
        let filename = format!("bulk{i}-1.0-py3-none-any.whl");
        let bytes = noise(i as u64, SIZE);
        requests.push((filename.clone(), sha256_hex(&bytes)));
        builder = builder.artifact(&format!("bulk{i}"), RawArtifact { filename, bytes });
    }
    let index = builder.start().unwrap();
    let requests: Vec<ArtifactRequest> = requests
        .into_iter()
        .enumerate()
        .map(|(i, (filename, sha256))| ArtifactRequest {
            name: PackageName::from_str(&format!("bulk{i}")).unwrap(),
            version: Version::from_str("1.0").unwrap(),
            url: DisplaySafeUrl::parse(&index.file_url(&filename)).unwrap(),
            filename,
            expected: Sha256::from_hex(&sha256).unwrap(),
            size: Some(SIZE as u64),
        })
        .collect();
    let total = ARTIFACTS * SIZE;
    println!("{ARTIFACTS} artifacts of {} MiB", SIZE / (1024 * 1024));
    for latency in [Duration::ZERO, Duration::from_millis(50)] {
        index.clear_faults();
        if !latency.is_zero() {
            index.set_fault(FaultRule::new(Fault::Delay(latency)).path_contains("/files/"));
        }
        for concurrency in [1, 2, 4, 8, 16] {
            let cache = tempfile::tempdir().unwrap();
            let fetcher = fetcher(&index, cache.path(), concurrency);
            let start = Instant::now();
            let fetched = fetcher.fetch_all(&requests).await.unwrap();
            let elapsed = start.elapsed();
            assert_eq!(fetched.len(), ARTIFACTS);
            println!(
                "download, latency {latency:>5?}, concurrency {concurrency:>2}: {elapsed:>10.1?}, {:>7.1} MB/s",
                megabytes_per_second(total, elapsed)
            );
            if latency.is_zero() && concurrency == 8 {
                // Hits: every entry re-hashed, no request.
                index.clear_requests();
                let start = Instant::now();
                fetcher.fetch_all(&requests).await.unwrap();
                let elapsed = start.elapsed();
                assert!(index.requests().is_empty());
                println!(
                    "cache hits, re-hashed, concurrency  8: {elapsed:>10.1?}, {:>7.1} MB/s",
                    megabytes_per_second(total, elapsed)
                );
            }
        }
    }
}
