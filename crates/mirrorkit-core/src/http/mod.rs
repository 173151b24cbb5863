//! The HTTP layer every source and target shares: rustls, a per-host concurrency limit, retries with
//! exponential backoff and jitter on connect errors / 429 / 5xx, `Retry-After` honoured, and a
//! redaction filter ([`redact::SafeUrl`]) so no credential reaches a log line, error or report.
//!
//! SKELETON (to be completed by the HTTP-layer work): the API below is the contract other modules
//! build on; the bodies are a minimal working version.

pub mod credentials;
pub mod redact;
pub mod retry;

use std::sync::Arc;

use redact::SafeUrl;
use retry::RetryPolicy;

use crate::exit::ExitCode;

/// Settings of an [`HttpClient`].
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// `User-Agent` sent with every request.
    pub user_agent: String,
    /// At most this many requests in flight per host (`host[:port]`).
    pub per_host_concurrency: usize,
    /// When and how often to retry.
    pub retry: RetryPolicy,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            user_agent: concat!("mirrorkit/", env!("CARGO_PKG_VERSION")).to_string(),
            per_host_concurrency: 8,
            retry: RetryPolicy::default(),
        }
    }
}

/// A failure of the HTTP layer. Display output is credential-free.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Could not connect, or the connection failed, after every retry.
    #[error("{url} is unreachable: {reason}")]
    Unreachable { url: SafeUrl, reason: String },
    /// The server answered with a status the caller treats as an error.
    #[error("{url} answered {status}")]
    Status { url: SafeUrl, status: u16 },
    /// The client could not be built (TLS setup).
    #[error("HTTP client setup failed: {0}")]
    Setup(String),
}

impl HttpError {
    /// The exit code this error stands for when it ends a run: 401/403 → 77, other statuses and
    /// connection failures → 69.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            HttpError::Status {
                status: 401 | 403, ..
            } => ExitCode::NoPermission,
            HttpError::Setup(_) => ExitCode::Io,
            _ => ExitCode::Unavailable,
        }
    }
}

/// A response plus the per-host permit it holds until it is dropped (so a streamed body counts
/// against the host's concurrency limit).
pub struct Response {
    /// The underlying response.
    pub inner: reqwest::Response,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl std::ops::Deref for Response {
    type Target = reqwest::Response;
    fn deref(&self) -> &reqwest::Response {
        &self.inner
    }
}

impl Response {
    /// Give up the permit and take the underlying response (e.g. to consume its body).
    pub fn into_inner(self) -> reqwest::Response {
        self.inner
    }
}

/// The shared HTTP client; cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    config: Arc<HttpConfig>,
}

impl HttpClient {
    /// Build a client: rustls with certificate verification on, no redirect to other schemes.
    pub fn new(config: HttpConfig) -> Result<HttpClient, HttpError> {
        let inner = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| HttpError::Setup(e.to_string()))?;
        Ok(HttpClient {
            inner,
            config: Arc::new(config),
        })
    }

    /// The underlying reqwest client, for building requests.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Send the request that `build` makes, retrying per the [`RetryPolicy`]. `build` is called
    /// again for every attempt (so a streamed body is re-created). Retryable statuses that persist
    /// are returned as the final `Ok` response; the caller decides what a status means.
    pub async fn send<F>(&self, url: &url::Url, build: F) -> Result<Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        match build(&self.inner).send().await {
            Ok(inner) => Ok(Response {
                inner,
                _permit: None,
            }),
            Err(e) => Err(HttpError::Unreachable {
                url: SafeUrl::new(url),
                reason: redact::error_chain(&e),
            }),
        }
    }
}
