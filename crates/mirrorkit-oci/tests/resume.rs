//! A chunked upload survives a dropped `PATCH`: the client asks the registry how much it holds
//! (`GET` on the session → `Range`) and continues from there. The fault comes from a small TCP
//! proxy in front of a real docker-registry that cuts the connection on the second `PATCH`
//! before forwarding a byte of it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_oci::Registry;
use mirrorkit_oci::target::{AnyTarget, Target as _};
use mirrorkit_testkit::registry as tk;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counts `PATCH` requests and drops the connection on the `drop_at`-th one.
struct Faults {
    patches: AtomicUsize,
    dropped: AtomicUsize,
    drop_at: usize,
    /// `GET`s of an upload session (the resume probe).
    status_probes: AtomicUsize,
}

async fn proxy(upstream: u16, faults: Arc<Faults>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let faults = faults.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    // HTTP/1.1 without pipelining: a new request starts a fresh read.
                    if buf[..n].starts_with(b"GET /v2/resume/blob/blobs/uploads/") {
                        faults.status_probes.fetch_add(1, Ordering::SeqCst);
                    }
                    if buf[..n].starts_with(b"PATCH ") {
                        let nth = faults.patches.fetch_add(1, Ordering::SeqCst) + 1;
                        if nth == faults.drop_at {
                            faults.dropped.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                down.abort();
            });
        }
    });
    port
}

#[tokio::test]
async fn chunked_upload_resumes_after_a_dropped_patch() {
    let reg = tk::Registry::start();
    let faults = Arc::new(Faults {
        patches: AtomicUsize::new(0),
        dropped: AtomicUsize::new(0),
        drop_at: 2,
        status_probes: AtomicUsize::new(0),
    });
    let port = proxy(reg.port(), faults.clone()).await;
    // No retries in the HTTP layer: the failed PATCH reaches the upload code, which must resume.
    let client = Registry::new(
        &format!("127.0.0.1:{port}"),
        true,
        common::http(0),
        Credentials::default(),
    )
    .unwrap()
    .with_chunk_size(32 * 1024);
    let client = AnyTarget::Registry(std::sync::Arc::new(client));
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::sha256_of(&data);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    std::fs::write(&path, &data).unwrap();

    client
        .push_blob("resume/blob", &digest, data.len() as u64, &path)
        .await
        .unwrap();

    assert_eq!(faults.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(faults.status_probes.load(Ordering::SeqCst), 1);
    // 3 full chunks (the 2nd sent twice); the 1696-byte tail goes with the closing PUT.
    assert_eq!(faults.patches.load(Ordering::SeqCst), 4);
    let stored = reg.blob_dir(digest.hex()).join("data");
    assert_eq!(std::fs::read(stored).unwrap(), data);
}
