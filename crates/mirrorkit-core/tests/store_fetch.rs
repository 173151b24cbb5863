//! `Store::fetch` against a real loopback server: caching, resume, verification, failures.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use mirrorkit_core::digest::{Algorithm, Digest, Hasher};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::retry::RetryPolicy;
use mirrorkit_core::http::{HttpClient, HttpConfig};
use mirrorkit_core::store::{Store, StoreError};
use mirrorkit_testkit::fileserver::{Fault, FileServer};

fn client() -> HttpClient {
    HttpClient::new(HttpConfig {
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
        },
        ..HttpConfig::default()
    })
    .unwrap()
}

/// Deterministic, non-repeating-looking bytes (so a spliced or shifted copy has another digest).
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2654435761)
                .rotate_left(u32::from(seed)) as u8
                ^ seed
        })
        .collect()
}

fn sha512_of(bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(Algorithm::Sha512);
    h.update(bytes);
    h.finish()
}

fn url(server: &FileServer, path: &str) -> url::Url {
    url::Url::parse(&server.url(path)).unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

struct World {
    _dir: tempfile::TempDir,
    work: std::path::PathBuf,
    store: Store,
    server: FileServer,
    client: HttpClient,
}

fn world(files: Vec<(&str, Vec<u8>)>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    World {
        store: Store::open(&work).unwrap(),
        work,
        _dir: dir,
        server: FileServer::with_files(files),
        client: client(),
    }
}

#[tokio::test]
async fn fetches_once_then_answers_from_the_store() {
    let bytes = content(100_000, 1);
    let w = world(vec![("/a.tar.gz", bytes.clone())]);
    let u = url(&w.server, "/a.tar.gz");
    let blob = w.store.fetch(&w.client, &u, None).await.unwrap();
    assert_eq!(blob.digest, Digest::sha256_of(&bytes));
    assert_eq!(blob.size, bytes.len() as u64);
    assert_eq!(std::fs::read(&blob.path).unwrap(), bytes);
    assert_eq!(
        blob.path,
        w.work.join("blobs/sha256").join(blob.digest.hex())
    );

    let again = w.store.fetch(&w.client, &u, None).await.unwrap();
    assert_eq!(again, blob);
    assert_eq!(
        w.server.requests().len(),
        1,
        "the second fetch used the record"
    );
    assert!(files_in(&w.work.join("tmp")).is_empty());
}

#[tokio::test]
async fn an_expected_digest_already_stored_needs_no_network() {
    let w = world(vec![]);
    let src = w.store.tmp_dir().join("x");
    std::fs::write(&src, b"already here").unwrap();
    let stored = w.store.ingest_file(&src).unwrap();
    let u = url(&w.server, "/never-requested");
    let blob = w
        .store
        .fetch(&w.client, &u, Some(&stored.digest))
        .await
        .unwrap();
    assert_eq!(blob, stored);
    assert!(w.server.requests().is_empty());
}

#[tokio::test]
async fn a_body_cut_off_mid_way_resumes_with_a_range_request() {
    let bytes = content(300_000, 2);
    let w = world(vec![("/big", bytes.clone())]);
    w.server.set_fault("/big", Fault::close_after(100_000, 1));
    let expected = Digest::sha256_of(&bytes);
    let u = url(&w.server, "/big");
    let blob = w.store.fetch(&w.client, &u, Some(&expected)).await.unwrap();
    assert_eq!(blob.digest, expected);
    let ranges: Vec<Option<String>> = w
        .server
        .requests_for("/big")
        .into_iter()
        .map(|r| r.range)
        .collect();
    assert_eq!(ranges, vec![None, Some("bytes=100000-".to_string())]);
}

#[tokio::test]
async fn a_connection_reset_mid_body_is_resumed_and_verified() {
    let bytes = content(500_000, 3);
    let w = world(vec![("/reset", bytes.clone())]);
    w.server.set_fault("/reset", Fault::reset_after(200_000, 2));
    let expected = Digest::sha256_of(&bytes);
    let blob = w
        .store
        .fetch(&w.client, &url(&w.server, "/reset"), Some(&expected))
        .await
        .unwrap();
    assert_eq!(blob.digest, expected);
    assert_eq!(std::fs::read(&blob.path).unwrap(), bytes);
    // Two resets, then a request that completes. How many bytes got through before each reset
    // depends on the kernel (a reset may discard unread bytes), so only the count is pinned.
    assert_eq!(w.server.requests_for("/reset").len(), 3);
}

#[tokio::test]
async fn a_partial_left_by_a_killed_process_is_resumed() {
    let bytes = content(50_000, 4);
    let w = world(vec![("/k", bytes.clone())]);
    let u = url(&w.server, "/k");
    std::fs::write(w.store.partial_path(&u), &bytes[..12_345]).unwrap();
    let blob = w
        .store
        .fetch(&w.client, &u, Some(&Digest::sha256_of(&bytes)))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), bytes);
    let log = w.server.requests_for("/k");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].range.as_deref(), Some("bytes=12345-"));
    assert!(!w.store.partial_path(&u).exists());
}

#[tokio::test]
async fn a_complete_partial_is_finished_from_the_416_answer() {
    let bytes = content(10_000, 5);
    let w = world(vec![("/done", bytes.clone())]);
    let u = url(&w.server, "/done");
    std::fs::write(w.store.partial_path(&u), &bytes).unwrap();
    let blob = w.store.fetch(&w.client, &u, None).await.unwrap();
    assert_eq!(blob.digest, Digest::sha256_of(&bytes));
    assert_eq!(w.server.requests_for("/done").len(), 1);
}

#[tokio::test]
async fn a_partial_longer_than_the_file_is_thrown_away() {
    let bytes = content(10_000, 6);
    let w = world(vec![("/shrunk", bytes.clone())]);
    let u = url(&w.server, "/shrunk");
    std::fs::write(w.store.partial_path(&u), content(20_000, 9)).unwrap();
    let blob = w.store.fetch(&w.client, &u, None).await.unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), bytes);
    let ranges: Vec<Option<String>> = w
        .server
        .requests_for("/shrunk")
        .into_iter()
        .map(|r| r.range)
        .collect();
    assert_eq!(ranges, vec![Some("bytes=20000-".to_string()), None]);
}

#[tokio::test]
async fn a_server_ignoring_range_restarts_the_download() {
    let bytes = content(40_000, 7);
    let w = world(vec![("/norange", bytes.clone())]);
    w.server
        .set_fault("/norange", Fault::IgnoreRange { times: 1 });
    let u = url(&w.server, "/norange");
    std::fs::write(w.store.partial_path(&u), &bytes[..1000]).unwrap();
    let blob = w
        .store
        .fetch(&w.client, &u, Some(&Digest::sha256_of(&bytes)))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), bytes);
    assert_eq!(w.server.requests_for("/norange").len(), 1);
}

#[tokio::test]
async fn a_file_changed_upstream_is_not_spliced_onto_old_bytes() {
    let old = content(1_000_000, 8);
    let new = content(1_000_000, 10);
    let w = world(vec![("/moving", old.clone())]);
    w.server.set_etags(true);
    // Every attempt breaks off after 1000 bytes: the first fetch gives up after its resumes and
    // keeps the partial (1000 bytes per attempt).
    w.server
        .set_fault("/moving", Fault::close_after(1000, usize::MAX));
    let u = url(&w.server, "/moving");
    let err = w.store.fetch(&w.client, &u, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Interrupted { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    let attempts = w.server.requests_for("/moving").len() as u64;
    let kept = std::fs::metadata(w.store.partial_path(&u)).unwrap().len();
    assert_eq!(kept, attempts * 1000);

    w.server.put("/moving", new.clone());
    w.server.clear_fault("/moving");
    let blob = w.store.fetch(&w.client, &u, None).await.unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), new);
    let last = w.server.requests_for("/moving").pop().unwrap();
    assert_eq!(last.range, Some(format!("bytes={kept}-")));
    assert!(last.if_range.is_some(), "the resume carried the validator");
}

#[tokio::test]
async fn a_checksum_mismatch_stores_nothing_and_leaves_no_temp_file() {
    let bytes = content(30_000, 11);
    let w = world(vec![("/bad", bytes.clone())]);
    let wrong = Digest::sha256_of(b"something else");
    let mut u = url(&w.server, "/bad");
    u.set_query(Some("token=SeCrEtToKeN"));
    let err = w
        .store
        .fetch(&w.client, &u, Some(&wrong))
        .await
        .unwrap_err();
    match &err {
        StoreError::ChecksumMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &Digest::sha256_of(&bytes));
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    assert_eq!(err.exit_code(), ExitCode::ItemFailed);
    let shown = err.to_string();
    assert!(
        shown.contains("/bad") && !shown.contains("SeCrEtToKeN"),
        "{shown}"
    );
    assert!(files_in(&w.work.join("blobs/sha256")).is_empty());
    assert!(files_in(&w.work.join("tmp")).is_empty());
    assert!(files_in(&w.work.join("downloads")).is_empty());
}

#[tokio::test]
async fn verifies_sha512_and_remembers_it() {
    let bytes = content(70_000, 12);
    let w = world(vec![("/s512", bytes.clone())]);
    let u = url(&w.server, "/s512");
    let expected = sha512_of(&bytes);
    let blob = w.store.fetch(&w.client, &u, Some(&expected)).await.unwrap();
    assert_eq!(blob.digest, Digest::sha256_of(&bytes));
    let again = w.store.fetch(&w.client, &u, Some(&expected)).await.unwrap();
    assert_eq!(again, blob);
    assert_eq!(w.server.requests().len(), 1);

    let err = w
        .store
        .fetch(&w.client, &u, Some(&sha512_of(b"other")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ChecksumMismatch { .. }), "{err}");
}

#[tokio::test]
async fn a_corrupt_blob_is_fetched_again() {
    let bytes = content(25_000, 13);
    let w = world(vec![("/c", bytes.clone())]);
    let u = url(&w.server, "/c");
    let blob = w.store.fetch(&w.client, &u, None).await.unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&blob.path)
        .unwrap()
        .write_all(b"rot")
        .unwrap();
    let again = w.store.fetch(&w.client, &u, None).await.unwrap();
    assert_eq!(again, blob);
    assert_eq!(std::fs::read(&again.path).unwrap(), bytes);
    assert_eq!(w.server.requests_for("/c").len(), 2);
}

#[tokio::test]
async fn refused_credentials_exit_77_and_other_statuses_fail_the_item() {
    let w = world(vec![]);
    w.server
        .set_fault("/private", Fault::status(401, usize::MAX));
    w.server
        .set_fault("/forbidden", Fault::status(403, usize::MAX));
    let table = [
        ("/private", 401, ExitCode::NoPermission),
        ("/forbidden", 403, ExitCode::NoPermission),
        ("/missing", 404, ExitCode::ItemFailed),
    ];
    for (path, status, code) in table {
        let err = w
            .store
            .fetch(&w.client, &url(&w.server, path), None)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), code, "{err}");
        let shown = err.to_string();
        assert!(
            shown.contains(path) && shown.contains(&status.to_string()),
            "{shown}"
        );
    }
    assert!(
        files_in(&w.work.join("tmp")).is_empty(),
        "no empty partials left"
    );
}

#[tokio::test]
async fn an_unreachable_host_exits_69() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let u = url::Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap();
    let err = store.fetch(&client(), &u, None).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Unavailable, "{err}");
}

#[tokio::test]
async fn file_urls_are_copied_and_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("work")).unwrap();
    let src = dir.path().join("local.bin");
    let bytes = content(3 * 1024 * 1024 + 17, 14);
    std::fs::write(&src, &bytes).unwrap();
    let u = url::Url::from_file_path(&src).unwrap();
    let blob = store
        .fetch(&client(), &u, Some(&Digest::sha256_of(&bytes)))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), bytes);
    assert!(src.exists(), "the source is copied, not moved");

    let missing = url::Url::from_file_path(dir.path().join("nope")).unwrap();
    let err = store.fetch(&client(), &missing, None).await.unwrap_err();
    // The source is missing, not the work dir broken: only that item fails.
    assert!(matches!(err, StoreError::LocalSource { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::ItemFailed);
    assert!(err.to_string().contains("nope"), "{err}");

    let ftp = url::Url::parse("ftp://example.org/x").unwrap();
    let err = store.fetch(&client(), &ftp, None).await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedScheme { .. }), "{err}");
}

#[tokio::test]
async fn credentials_in_the_url_stay_out_of_the_work_dir() {
    let bytes = content(1000, 15);
    let w = world(vec![("/auth", bytes.clone())]);
    let mut u = url(&w.server, "/auth");
    u.set_username("bob").unwrap();
    u.set_password(Some("HuNtEr2")).unwrap();
    w.store.fetch(&w.client, &u, None).await.unwrap();
    assert!(w.server.requests_for("/auth")[0].authorization);
    for name in files_in(&w.work.join("downloads")) {
        let text = std::fs::read_to_string(w.work.join("downloads").join(&name)).unwrap();
        assert!(!text.contains("HuNtEr2") && !text.contains("bob"), "{text}");
    }
}

#[tokio::test]
async fn concurrent_fetches_of_one_url_share_the_download() {
    let bytes = content(200_000, 16);
    let w = world(vec![("/same", bytes.clone())]);
    let u = url(&w.server, "/same");
    let (a, b) = tokio::join!(
        w.store.fetch(&w.client, &u, None),
        w.store.fetch(&w.client, &u, None)
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(w.server.requests_for("/same").len(), 1);
}

/// 64 MiB served from disk and stored; the store only ever handles 1 MiB pieces (see
/// `store::CHUNK`), so this checks that big bodies go through the streaming path intact.
#[tokio::test]
async fn a_64_mib_download_streams_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir(&root).unwrap();
    let mut file = std::fs::File::create(root.join("big.bin")).unwrap();
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let piece = content(1024 * 1024, 17);
    for i in 0..64u8 {
        let mut p = piece.clone();
        p[0] = i;
        hasher.update(&p);
        file.write_all(&p).unwrap();
    }
    drop(file);
    let expected = hasher.finish();
    let server = FileServer::start(&root);
    server.set_fault("/big.bin", Fault::close_after(40 * 1024 * 1024, 1));
    let store = Store::open(dir.path().join("work")).unwrap();
    let blob = store
        .fetch(&client(), &url(&server, "/big.bin"), Some(&expected))
        .await
        .unwrap();
    assert_eq!(blob.size, 64 * 1024 * 1024);
    assert_eq!(blob.digest, expected);
    assert_eq!(
        server.requests_for("/big.bin")[1].range.as_deref(),
        Some("bytes=41943040-")
    );
}
