//! A manifest `PUT` answered 429 with `Retry-After` is waited out and sent again, like every
//! other request (docker-registry never rate-limits, so a minimal HTTP server plays the registry).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::http::retry::RetryPolicy;
use mirrorkit_core::http::{HttpClient, HttpConfig};
use mirrorkit_oci::Registry;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Serve: the first `PUT` gets 429 with `Retry-After: 1`, later ones 201 with the digest. Every
/// request line is recorded.
async fn serve(listener: tokio::net::TcpListener, seen: Arc<Mutex<Vec<String>>>, digest: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            continue;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 || header == "\r\n" {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body).await;
        let puts = {
            let mut seen = seen.lock().unwrap();
            seen.push(line.trim().to_string());
            seen.iter().filter(|l| l.starts_with("PUT ")).count()
        };
        let response = if line.starts_with("PUT ") && puts == 1 {
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
        } else {
            format!(
                "HTTP/1.1 201 Created\r\nDocker-Content-Digest: {digest}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        };
        let _ = write.write_all(response.as_bytes()).await;
        let _ = write.shutdown().await;
    }
}

#[tokio::test]
async fn a_429_on_a_manifest_put_is_waited_out_and_retried() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let digest = Digest::sha256_of(manifest);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(listener, seen.clone(), digest.to_string()));
    let http = HttpClient::new(HttpConfig {
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        },
        ..HttpConfig::default()
    })
    .unwrap();
    let registry = Registry::new(&host, true, http, Credentials::default()).unwrap();
    let started = Instant::now();
    let pushed = registry
        .put_manifest(
            "team/app",
            "1.0",
            "application/vnd.oci.image.manifest.v1+json",
            manifest,
        )
        .await
        .unwrap();
    assert_eq!(pushed, digest);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was not waited out ({:?})",
        started.elapsed()
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "PUT /v2/team/app/manifests/1.0 HTTP/1.1",
            "PUT /v2/team/app/manifests/1.0 HTTP/1.1"
        ]
    );
}
