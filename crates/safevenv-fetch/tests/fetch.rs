//! The fetcher against a local index on 127.0.0.1 (`safevenv-test-index`), with injected faults.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use safevenv_cache::Cache;
use safevenv_fetch::{ArtifactRequest, FetchError, FetchOptions, Fetcher, Sha256};
use safevenv_index::{
    DisplaySafeUrl, IndexClient, IndexClientOptions, IndexError, IndexUrl, IndexUrls,
};
use safevenv_test_index::{
    BuiltWheel, Fault, FaultRule, RawArtifact, TestIndex, WheelSpec, sha256_hex,
};
use uv_normalize::PackageName;
use uv_pep440::Version;

fn client(index: &TestIndex) -> IndexClient {
    let mut options =
        IndexClientOptions::new(IndexUrls::single(IndexUrl::parse(&index.url()).unwrap()));
    options.http.backoff_base = Duration::from_millis(1);
    options.http.backoff_cap = Duration::from_millis(20);
    options.http.max_retries = 2;
    IndexClient::new(options).unwrap()
}

fn options() -> FetchOptions {
    FetchOptions {
        progress: false,
        ..FetchOptions::default()
    }
}

fn fetcher(index: &TestIndex, cache: &Path, options: FetchOptions) -> Fetcher {
    Fetcher::new(client(index), Cache::new(cache), options)
}

fn wheel(name: &str, version: &str) -> BuiltWheel {
    WheelSpec::new(name, version)
        .file(
            &format!("{name}/__init__.py"),
            format!("VERSION = '{version}'\n"),
        )
        .build()
        .unwrap()
}

fn request(index: &TestIndex, wheel: &BuiltWheel) -> ArtifactRequest {
    let (name, rest) = wheel.filename.split_once('-').unwrap();
    let version = rest.split('-').next().unwrap();
    ArtifactRequest {
        name: PackageName::from_str(name).unwrap(),
        version: Version::from_str(version).unwrap(),
        filename: wheel.filename.clone(),
        url: DisplaySafeUrl::parse(&index.file_url(&wheel.filename)).unwrap(),
        expected: Sha256::from_hex(&wheel.sha256).unwrap(),
        size: Some(wheel.bytes.len() as u64),
    }
}

/// Every file under `root`, but the cache's tag.
fn cached_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if !path.ends_with("CACHEDIR.TAG") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn file_requests(index: &TestIndex) -> usize {
    index
        .requests()
        .iter()
        .filter(|request| request.path.starts_with("/files/"))
        .count()
}

fn one_wheel_index() -> (TestIndex, BuiltWheel) {
    let demo = wheel("demo", "1.0");
    let index = TestIndex::builder().built(demo.clone()).start().unwrap();
    (index, demo)
}

#[tokio::test]
async fn a_matching_artifact_is_cached_and_verified() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    let fetched = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    assert_eq!(fetched.len(), 1);
    let artifact = &fetched[0];
    let expected_path = cache
        .path()
        .join("archives-v1/sha256")
        .join(&demo.sha256[..2])
        .join(&demo.sha256)
        .join(&demo.filename);
    assert_eq!(artifact.path(), expected_path);
    assert_eq!(artifact.verified().path(), expected_path);
    assert_eq!(artifact.verified().sha256().to_string(), demo.sha256);
    assert_eq!(artifact.verified().size(), demo.bytes.len() as u64);
    assert_eq!(artifact.request().filename, demo.filename);
    let bytes = fs_err::read(artifact.path()).unwrap();
    assert_eq!(sha256_hex(&bytes), demo.sha256);
    assert_eq!(
        cached_files(cache.path()),
        [expected_path],
        "no temporary file is left"
    );
}

#[tokio::test]
async fn other_bytes_than_pinned_are_refused_and_nothing_is_cached() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    // The lockfile pins a digest; the index serves a wheel with another one.
    let pinned = sha256_hex(b"the artifact the lockfile was made from");
    let mut request = request(&index, &demo);
    request.expected = Sha256::from_hex(&pinned).unwrap();
    let error = fetcher(&index, cache.path(), options())
        .fetch_all(&[request])
        .await
        .unwrap_err();
    let FetchError::HashMismatch {
        url,
        filename,
        expected,
        actual,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(url.to_string(), index.file_url(&demo.filename));
    assert_eq!(filename, &demo.filename);
    assert_eq!(expected.to_string(), pinned);
    assert_eq!(actual.to_string(), demo.sha256);
    let message = error.to_string();
    assert!(
        message.contains(&pinned) && message.contains(&demo.sha256),
        "{message}"
    );
    assert!(
        cached_files(cache.path()).is_empty(),
        "{:?}",
        cached_files(cache.path())
    );
}

#[tokio::test]
async fn an_advertised_size_that_differs_is_refused_and_nothing_is_cached() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    for size in [demo.bytes.len() as u64 - 1, demo.bytes.len() as u64 + 1] {
        let mut request = request(&index, &demo);
        request.size = Some(size);
        let error = fetcher(&index, cache.path(), options())
            .fetch_all(&[request])
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                FetchError::SizeMismatch { expected, actual, .. }
                    if expected == size && actual == demo.bytes.len() as u64
            ),
            "{error:?}"
        );
    }
    assert!(cached_files(cache.path()).is_empty());
    // A cache hit whose advertised size differs is refused too, and left in place.
    fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    let mut wrong = request(&index, &demo);
    wrong.size = Some(1);
    index.clear_requests();
    let error = fetcher(&index, cache.path(), options())
        .fetch_all(&[wrong])
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::SizeMismatch { expected: 1, .. }),
        "{error:?}"
    );
    assert_eq!(file_requests(&index), 0, "refused as a hit");
    assert_eq!(cached_files(cache.path()).len(), 1);
}

#[tokio::test]
async fn an_artifact_larger_than_the_limit_is_refused() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    let mut request = request(&index, &demo);
    request.size = None;
    let small = FetchOptions {
        max_size: 100,
        ..options()
    };
    let error = fetcher(&index, cache.path(), small)
        .fetch_all(&[request.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::TooLarge { limit: 100, .. }),
        "{error:?}"
    );
    assert!(cached_files(cache.path()).is_empty());
    // Without an advertised size, the default limit lets a normal artifact through.
    fetcher(&index, cache.path(), options())
        .fetch_all(&[request])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_body_cut_short_is_retried_then_cached_whole() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    index.set_fault(
        FaultRule::new(Fault::Truncate { after_bytes: 100 })
            .path_contains("/files/")
            .times(1),
    );
    let fetched = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    assert_eq!(file_requests(&index), 2);
    assert_eq!(
        sha256_hex(&fs_err::read(fetched[0].path()).unwrap()),
        demo.sha256
    );
    assert_eq!(cached_files(cache.path()).len(), 1);
}

#[tokio::test]
async fn a_body_always_cut_short_is_an_error_and_nothing_is_cached() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    index.set_fault(FaultRule::new(Fault::Truncate { after_bytes: 100 }).path_contains("/files/"));
    let error = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::Download {
                source: IndexError::Request { .. } | IndexError::Truncated { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(file_requests(&index), 3, "one try and two retries");
    assert!(cached_files(cache.path()).is_empty());
}

#[tokio::test]
async fn a_server_error_then_success_is_fetched() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    index.set_fault(
        FaultRule::new(Fault::Status(500))
            .path_contains("/files/")
            .times(1),
    );
    let fetched = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    assert_eq!(fetched[0].verified().sha256().to_string(), demo.sha256);
    assert_eq!(file_requests(&index), 2);
}

#[tokio::test]
async fn not_found_is_an_error_naming_the_url() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    let mut request = request(&index, &demo);
    request.url = DisplaySafeUrl::parse(&index.file_url("gone-1.0-py3-none-any.whl")).unwrap();
    let error = fetcher(&index, cache.path(), options())
        .fetch_all(&[request])
        .await
        .unwrap_err();
    let FetchError::Download { source, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        matches!(source, IndexError::Status { status: 404, .. }),
        "{source:?}"
    );
    assert!(
        source
            .to_string()
            .contains("/files/gone-1.0-py3-none-any.whl"),
        "{source}"
    );
    assert_eq!(file_requests(&index), 1, "a 404 is not retried");
    assert!(cached_files(cache.path()).is_empty());
}

#[tokio::test]
async fn a_cache_hit_makes_no_request() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    let first = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    index.clear_requests();
    let second = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    assert!(index.requests().is_empty(), "{:?}", index.requests());
    assert_eq!(first, second);
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_downloaded_again() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    let first = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    fs_err::write(first[0].path(), b"changed behind our back").unwrap();
    index.clear_requests();
    let second = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    assert_eq!(file_requests(&index), 1, "the bad entry was not trusted");
    assert_eq!(
        sha256_hex(&fs_err::read(second[0].path()).unwrap()),
        demo.sha256
    );
}

#[tokio::test]
async fn an_entry_changed_after_it_was_recorded_as_hashed_is_downloaded_again() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    let fetch = || async {
        fetcher(&index, cache.path(), options())
            .fetch_all(&[request(&index, &demo)])
            .await
            .unwrap()
    };
    let first = fetch().await;
    // Once settled, a hit is hashed and recorded; the next hit trusts the record.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    fetch().await;
    let record = first[0]
        .path()
        .with_file_name(format!(".hashed-{}", demo.filename));
    assert!(record.exists());
    index.clear_requests();
    fetch().await;
    assert_eq!(file_requests(&index), 0);

    fs_err::write(first[0].path(), b"changed behind our back").unwrap();
    let again = fetch().await;
    assert_eq!(
        file_requests(&index),
        1,
        "the changed entry was not trusted"
    );
    assert_eq!(
        sha256_hex(&fs_err::read(again[0].path()).unwrap()),
        demo.sha256
    );
}

#[tokio::test]
async fn offline_uses_hits_and_refuses_misses() {
    let (index, demo) = one_wheel_index();
    let other = wheel("other", "2.0");
    index.add(other.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    index.clear_requests();
    let offline = FetchOptions {
        offline: true,
        ..options()
    };
    let hit = fetcher(&index, cache.path(), offline.clone())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap();
    assert_eq!(hit[0].verified().sha256().to_string(), demo.sha256);
    let error = fetcher(&index, cache.path(), offline)
        .fetch_all(&[request(&index, &demo), request(&index, &other)])
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::OfflineMiss { ref filename, .. } if *filename == other.filename),
        "{error:?}"
    );
    assert!(error.to_string().contains("not in the cache"), "{error}");
    assert!(index.requests().is_empty(), "offline makes no request");
}

#[tokio::test]
async fn two_fetchers_writing_the_same_entry_both_succeed() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    // Both downloads are in flight at once.
    index.set_fault(
        FaultRule::new(Fault::Delay(Duration::from_millis(200)))
            .path_contains("/files/")
            .times(2),
    );
    let requests = [request(&index, &demo)];
    let first = fetcher(&index, cache.path(), options());
    let second = fetcher(&index, cache.path(), options());
    let (a, b) = tokio::join!(first.fetch_all(&requests), second.fetch_all(&requests));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(file_requests(&index), 2, "both downloaded");
    assert_eq!(a[0].path(), b[0].path());
    assert_eq!(sha256_hex(&fs_err::read(a[0].path()).unwrap()), demo.sha256);
    assert_eq!(cached_files(cache.path()), [a[0].path().to_path_buf()]);
}

#[tokio::test]
async fn the_same_artifact_listed_twice_is_downloaded_once() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    let fetched = fetcher(&index, cache.path(), options())
        .fetch_all(&[request(&index, &demo), request(&index, &demo)])
        .await
        .unwrap();
    assert_eq!(fetched.len(), 2);
    assert_eq!(fetched[0].path(), fetched[1].path());
    assert_eq!(file_requests(&index), 1);
}

/// Six artifacts, each answered after `DELAY`.
fn slow_index() -> (TestIndex, Vec<BuiltWheel>) {
    let wheels: Vec<BuiltWheel> = (0..6).map(|i| wheel(&format!("slow{i}"), "1.0")).collect();
    let mut builder = TestIndex::builder();
    for wheel in &wheels {
        builder = builder.built(wheel.clone());
    }
    let index = builder.start().unwrap();
    index.set_fault(FaultRule::new(Fault::Delay(DELAY)).path_contains("/files/"));
    (index, wheels)
}

const DELAY: Duration = Duration::from_millis(300);

#[tokio::test]
async fn downloads_overlap_up_to_the_concurrency_and_no_further() {
    let (index, wheels) = slow_index();
    let requests: Vec<_> = wheels.iter().map(|wheel| request(&index, wheel)).collect();
    let timed = |concurrency| {
        let cache = tempfile::tempdir().unwrap();
        let fetcher = fetcher(
            &index,
            cache.path(),
            FetchOptions {
                concurrency,
                ..options()
            },
        );
        let requests = requests.clone();
        async move {
            let start = Instant::now();
            let fetched = fetcher.fetch_all(&requests).await.unwrap();
            // In the order asked, whatever the order of completion.
            for (artifact, request) in fetched.iter().zip(&requests) {
                assert_eq!(artifact.request(), request);
            }
            drop(cache);
            start.elapsed()
        }
    };
    // Two at a time: three rounds of the delay at least.
    let two = timed(2).await;
    assert!(two >= 3 * DELAY, "{two:?}");
    // Six at a time: all overlap, well under three rounds.
    let six = timed(6).await;
    assert!(six < 3 * DELAY, "{six:?}");
    assert!(six >= DELAY, "{six:?}");
}

#[tokio::test]
async fn one_failure_cancels_the_batch_at_once() {
    let (index, wheels) = slow_index();
    index.clear_faults();
    index.set_fault(
        FaultRule::new(Fault::Delay(Duration::from_secs(20))).path_contains("/files/slow"),
    );
    let cache = tempfile::tempdir().unwrap();
    let mut requests: Vec<_> = wheels.iter().map(|wheel| request(&index, wheel)).collect();
    let missing = "missing-1.0-py3-none-any.whl";
    requests.push(ArtifactRequest {
        url: DisplaySafeUrl::parse(&index.file_url(missing)).unwrap(),
        filename: missing.to_string(),
        expected: Sha256::from_hex(&sha256_hex(missing.as_bytes())).unwrap(),
        ..requests[0].clone()
    });
    let start = Instant::now();
    let error = fetcher(&index, cache.path(), options())
        .fetch_all(&requests)
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(
            &error,
            FetchError::Download {
                source: IndexError::Status { status: 404, .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        cached_files(cache.path()).is_empty(),
        "cancelled downloads leave no file"
    );
}

#[tokio::test]
async fn a_file_name_that_is_not_plain_is_refused_before_any_request() {
    let (index, demo) = one_wheel_index();
    let cache = tempfile::tempdir().unwrap();
    let mut request = request(&index, &demo);
    request.filename = "../../outside.whl".to_string();
    let error = fetcher(&index, cache.path(), options())
        .fetch_all(&[request])
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::InvalidFilename { .. }),
        "{error:?}"
    );
    assert_eq!(file_requests(&index), 0);
    assert!(cached_files(cache.path()).is_empty());
}

#[tokio::test]
async fn an_unwritable_cache_is_an_error_naming_the_path() {
    let (index, demo) = one_wheel_index();
    let dir = tempfile::tempdir().unwrap();
    // A file where the entry's directory must go: refused even for root, unlike permissions.
    let archives = dir.path().join("archives-v1");
    fs_err::create_dir_all(&archives).unwrap();
    fs_err::write(archives.join("sha256"), b"in the way").unwrap();
    let error = fetcher(&index, dir.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap_err();
    let FetchError::CreateDir { path, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        path.starts_with(archives.join("sha256")),
        "{}",
        path.display()
    );
    assert!(error.to_string().contains("archives-v1"), "{error}");
    assert_eq!(file_requests(&index), 0);
}

#[cfg(unix)]
#[tokio::test]
async fn a_read_only_cache_is_an_error_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;

    let (index, demo) = one_wheel_index();
    let dir = tempfile::tempdir().unwrap();
    let archives = dir.path().join("archives-v1");
    fs_err::create_dir_all(&archives).unwrap();
    fs_err::set_permissions(&archives, std::fs::Permissions::from_mode(0o555)).unwrap();
    if fs_err::create_dir(archives.join("probe")).is_ok() {
        // Root ignores permissions: the test above covers the same path for root.
        eprintln!("skipped: permissions do not apply to this user");
        return;
    }
    let error = fetcher(&index, dir.path(), options())
        .fetch_all(&[request(&index, &demo)])
        .await
        .unwrap_err();
    fs_err::set_permissions(&archives, std::fs::Permissions::from_mode(0o755)).unwrap();
    let FetchError::CreateDir { path, source } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(path.starts_with(&archives));
}

#[tokio::test]
async fn any_artifact_file_is_fetched_not_only_wheels() {
    let bytes = b"not a wheel, an sdist".to_vec();
    let index = TestIndex::builder()
        .artifact(
            "demo",
            RawArtifact {
                filename: "demo-1.0.tar.gz".to_string(),
                bytes: bytes.clone(),
            },
        )
        .start()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let request = ArtifactRequest {
        name: PackageName::from_str("demo").unwrap(),
        version: Version::from_str("1.0").unwrap(),
        filename: "demo-1.0.tar.gz".to_string(),
        url: DisplaySafeUrl::parse(&index.file_url("demo-1.0.tar.gz")).unwrap(),
        expected: Sha256::from_hex(&sha256_hex(&bytes)).unwrap(),
        size: None,
    };
    let fetched = fetcher(&index, cache.path(), options())
        .fetch(&request)
        .await
        .unwrap();
    assert_eq!(fs_err::read(fetched.path()).unwrap(), bytes);
}

/// A local wheel (`file:` URL) and the request for it, pinned by `expected`.
fn local_request(dir: &Path, wheel: &BuiltWheel, expected: &str) -> ArtifactRequest {
    let path = dir.join(&wheel.filename);
    fs_err::write(&path, &wheel.bytes).unwrap();
    ArtifactRequest {
        name: PackageName::from_str("demo").unwrap(),
        version: Version::from_str("1.0").unwrap(),
        filename: wheel.filename.clone(),
        url: DisplaySafeUrl::parse(&format!("file://{}", path.display())).unwrap(),
        expected: Sha256::from_hex(expected).unwrap(),
        size: None,
    }
}

#[tokio::test]
async fn a_local_file_is_copied_in_by_its_pin_without_a_request() {
    let (index, demo) = one_wheel_index();
    let local = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let request = local_request(local.path(), &demo, &demo.sha256);
    let fetched = fetcher(&index, cache.path(), options())
        .fetch(&request)
        .await
        .unwrap();
    assert!(
        fetched.path().starts_with(cache.path()),
        "the copy is installed"
    );
    assert_eq!(fetched.verified().sha256().to_string(), demo.sha256);
    assert_eq!(file_requests(&index), 0);
}

#[tokio::test]
async fn a_local_file_changed_since_it_was_pinned_is_refused_and_nothing_is_cached() {
    let (index, demo) = one_wheel_index();
    let local = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let pinned = sha256_hex(b"the wheel as it was when locked");
    let request = local_request(local.path(), &demo, &pinned);
    let error = fetcher(&index, cache.path(), options())
        .fetch(&request)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::HashMismatch { .. }),
        "{error:?}"
    );
    assert!(cached_files(cache.path()).is_empty());
}
