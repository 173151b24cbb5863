//! The shared HTTP client against a real loopback server: retries, Retry-After, per-host limits,
//! failures and what reaches the logs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::retry::RetryPolicy;
use mirrorkit_core::http::{HttpClient, HttpConfig, HttpError};
use mirrorkit_testkit::fileserver::{Fault, FileServer};

/// A client whose own backoff is tiny, so any long wait in a test comes from the server.
fn client(max_retries: u32, per_host: usize) -> HttpClient {
    HttpClient::new(HttpConfig {
        per_host_concurrency: per_host,
        retry: RetryPolicy {
            max_retries,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
        },
        ..HttpConfig::default()
    })
    .unwrap()
}

fn server() -> FileServer {
    FileServer::with_files([("/f", b"hello".to_vec())])
}

/// Capture everything logged on this thread (tokio tests run on one thread by default).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}

async fn get(client: &HttpClient, url: &str) -> Result<(u16, Vec<u8>), HttpError> {
    let url = url::Url::parse(url).unwrap();
    let response = client.send(&url, |c| c.get(url.clone())).await?;
    let status = response.status().as_u16();
    let body = response.into_inner().bytes().await.unwrap().to_vec();
    Ok((status, body))
}

#[tokio::test]
async fn retries_429_after_the_servers_retry_after() {
    let server = server();
    server.set_fault("/f", Fault::too_many_requests(1, 1));
    let (logs, _guard) = capture_logs();
    let (status, body) = get(&client(3, 4), &server.url("/f")).await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(server.requests_for("/f").len(), 2);
    // The wait came from Retry-After (1 s), not from the 1 ms backoff.
    let logs = logs.text();
    assert!(logs.contains("delay_ms=1000"), "{logs}");
    assert!(logs.contains("status=429"), "{logs}");
}

#[tokio::test]
async fn retries_500_then_succeeds() {
    let server = server();
    server.set_fault("/f", Fault::server_error(2));
    let (status, body) = get(&client(3, 4), &server.url("/f")).await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(server.requests_for("/f").len(), 3);
}

#[tokio::test]
async fn a_persistent_503_is_the_final_response_after_the_last_retry() {
    let server = server();
    server.set_fault("/f", Fault::status(503, usize::MAX));
    let (status, _) = get(&client(2, 4), &server.url("/f")).await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(server.requests_for("/f").len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = server();
    for status in [401, 403, 404] {
        let path = format!("/s{status}");
        server.set_fault(&path, Fault::status(status, usize::MAX));
        let (got, _) = get(&client(3, 4), &server.url(&path)).await.unwrap();
        assert_eq!(got, status);
        assert_eq!(server.requests_for(&path).len(), 1, "{status}");
    }
}

#[tokio::test]
async fn a_closed_port_is_unreachable_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (logs, _guard) = capture_logs();
    let err = get(&client(2, 4), &format!("http://127.0.0.1:{port}/f"))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Unreachable { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    assert_eq!(
        logs.text()
            .matches("retrying after a connection failure")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_response_holds_its_hosts_permit_until_dropped() {
    let server = server();
    let client = client(0, 2);
    let url = url::Url::parse(&server.url("/f")).unwrap();
    let first = client.send(&url, |c| c.get(url.clone())).await.unwrap();
    let mut second = client.send(&url, |c| c.get(url.clone())).await.unwrap();
    assert_eq!(client.limits().available(&url), 0);
    // Streaming through the wrapper keeps the permit.
    let chunk = second.chunk().await.unwrap();
    assert_eq!(chunk.as_deref(), Some(&b"hello"[..]));
    assert_eq!(client.limits().available(&url), 0);
    drop(first);
    assert_eq!(client.limits().available(&url), 1);
    let _body = second.into_inner();
    assert_eq!(client.limits().available(&url), 2);
    // Another host is not limited by this one.
    let other = url::Url::parse("http://localhost:1/").unwrap();
    assert_eq!(client.limits().available(&other), 2);
}

#[tokio::test]
async fn credentials_never_reach_the_logs_or_errors() {
    let server = server();
    server.set_fault("/f", Fault::server_error(1));
    let (logs, _guard) = capture_logs();
    let mut url = url::Url::parse(&server.url("/f")).unwrap();
    url.set_username("alice").unwrap();
    url.set_password(Some("Pa55w0rdZ")).unwrap();
    url.set_query(Some("X-Amz-Signature=SiGnAtUrE&v=1"));
    let response = client(3, 4)
        .send(&url, |c| {
            c.get(url.clone())
                .bearer_auth("BeArErToKeN")
                .header("X-Api-Key", "ApIkEy")
        })
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let logs = logs.text();
    assert!(logs.contains("retrying after HTTP 500"), "{logs}");
    for secret in ["Pa55w0rdZ", "SiGnAtUrE", "BeArErToKeN", "ApIkEy", "alice"] {
        assert!(!logs.contains(secret), "{secret} leaked: {logs}");
    }
    let err = HttpError::status(&url, reqwest::StatusCode::FORBIDDEN);
    assert_eq!(err.exit_code(), ExitCode::NoPermission);
    let shown = err.to_string();
    assert!(
        !shown.contains("Pa55w0rdZ") && !shown.contains("SiGnAtUrE"),
        "{shown}"
    );
}
