//! The HTTP layer every source and target shares: rustls, a per-host concurrency limit, retries with
//! exponential backoff and jitter on connect errors / 429 / 5xx, `Retry-After` honoured, and a
//! redaction filter ([`redact::SafeUrl`]) so no credential reaches a log line, error or report.
//!
//! - [`limits`]: one semaphore per `host:port`; a [`Response`] holds its permit until dropped.
//! - [`retry`]: which failures are retried and how long to wait.
//! - [`redact`]: display-safe URLs, secrets and error chains.
//! - [`credentials`]: registry credentials from docker/podman auth files, helpers and env vars.

pub mod body;
pub mod conditional;
pub mod credentials;
pub mod etag_cache;
pub mod limits;
pub mod link;
pub mod redact;
pub mod retry;
pub mod stall;
pub mod trust;

use std::sync::Arc;
use std::time::Duration;

use limits::HostLimits;
use redact::SafeUrl;
use retry::RetryPolicy;

use crate::exit::{ExitCode, HasExitCode};

/// Settings of an [`HttpClient`].
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// `User-Agent` sent with every request.
    pub user_agent: String,
    /// At most this many requests in flight per host (`host[:port]`).
    pub per_host_concurrency: usize,
    /// Limits for particular hosts (`host:port`, or `host` for every port), overriding
    /// `per_host_concurrency` (a spec's `registries: {host: {concurrency: N}}`).
    pub host_concurrency: std::collections::BTreeMap<String, usize>,
    /// Requests started per second for particular hosts (a spec's
    /// `registries: {host: {rate_limit: N}}`); every attempt, retries included, is paced.
    pub host_rate_limits: std::collections::BTreeMap<String, f64>,
    /// The most tags a registry host may list for one repository before the listing is refused
    /// (a spec's `registries: {host: {max_tags: N}}`; default [`DEFAULT_MAX_TAGS`]).
    pub host_max_tags: std::collections::BTreeMap<String, usize>,
    /// Extra TLS trust per host (`host:port`, or `host` for every port): CAs and client
    /// certificates ([`trust`]).
    pub host_tls: std::collections::BTreeMap<String, trust::HostTls>,
    /// Extra TLS trust for every host (`--cert-dir`).
    pub all_hosts_tls: trust::HostTls,
    /// The `Authorization` value sent to particular hosts with every request that carries none
    /// of its own: package upstreams that want a token or a password (a spec's
    /// `registries: {host: {token_env: VAR}}`). Keyed `host:port` (any scheme: the host and port
    /// were named), or `host` (https on port 443 only: a plain-http link to the same name does
    /// not get it). Never sent across a redirect to another host.
    pub host_auth: std::collections::BTreeMap<String, redact::Secret>,
    /// When and how often to retry.
    pub retry: RetryPolicy,
    /// Give up connecting (TCP + TLS) after this long; counts as a retryable connect failure.
    pub connect_timeout: Duration,
    /// Give up when no byte arrives for this long while waiting for headers or reading a body.
    /// There is deliberately no total timeout: a multi-GiB download may take hours.
    pub read_timeout: Duration,
}

/// The most tags one repository may list unless `registries: {host: {max_tags: N}}` says
/// otherwise: generous for real registries, a bound for one whose `Link` pages never end.
pub const DEFAULT_MAX_TAGS: usize = 100_000;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            user_agent: concat!("mirrorkit/", env!("CARGO_PKG_VERSION")).to_string(),
            per_host_concurrency: 8,
            host_concurrency: std::collections::BTreeMap::new(),
            host_rate_limits: std::collections::BTreeMap::new(),
            host_max_tags: std::collections::BTreeMap::new(),
            host_tls: std::collections::BTreeMap::new(),
            all_hosts_tls: trust::HostTls::default(),
            host_auth: std::collections::BTreeMap::new(),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
        }
    }
}

/// A failure of the HTTP layer. Display output is credential-free.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Could not connect, or the connection failed, after every retry.
    #[error("{url} is unreachable: {reason}")]
    Unreachable {
        /// The URL, redacted.
        url: SafeUrl,
        /// The last error.
        reason: String,
    },
    /// The server answered with a status the caller treats as an error.
    #[error("{url} answered {status}")]
    Status {
        /// The URL, redacted.
        url: SafeUrl,
        /// The HTTP status.
        status: u16,
    },
    /// The client could not be built (TLS setup).
    #[error("HTTP client setup failed: {0}")]
    Setup(String),
    /// Credentials the settings name are not there (an environment variable not set).
    #[error("{0}")]
    Credentials(String),
    /// The request could not be built or sent for a reason retrying cannot fix (invalid header
    /// value, too many redirects, a redirect from https to http).
    #[error("request to {url} failed: {reason}")]
    Request {
        /// The URL, redacted.
        url: SafeUrl,
        /// What was wrong.
        reason: String,
    },
}

impl HttpError {
    /// A `Status` error for `response` (convenience for callers deciding a status is an error).
    pub fn status(url: &url::Url, status: reqwest::StatusCode) -> HttpError {
        HttpError::Status {
            url: SafeUrl::new(url),
            status: status.as_u16(),
        }
    }
}

impl HasExitCode for HttpError {
    /// The exit code this error stands for when it ends a run: 401/403 → 77, other statuses and
    /// connection failures → 69.
    fn exit_code(&self) -> ExitCode {
        match self {
            HttpError::Status {
                status: 401 | 403, ..
            } => ExitCode::NoPermission,
            HttpError::Setup(_) => ExitCode::Io,
            HttpError::Credentials(_) => ExitCode::NoPermission,
            HttpError::Request { .. } => ExitCode::ItemFailed,
            _ => ExitCode::Unavailable,
        }
    }
}

/// A response plus the per-host permit it holds until it is dropped (so a streamed body counts
/// against the host's concurrency limit).
///
/// Read the body through `DerefMut` (`response.chunk().await`) to keep the permit while
/// streaming; [`Response::into_inner`] gives the permit up.
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

impl std::ops::DerefMut for Response {
    fn deref_mut(&mut self) -> &mut reqwest::Response {
        &mut self.inner
    }
}

impl Response {
    /// Give up the permit and take the underlying response (e.g. to consume its body).
    pub fn into_inner(self) -> reqwest::Response {
        self.inner
    }

    /// The next chunk of the body (`None` at the end), keeping the host permit while streaming.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, reqwest::Error> {
        self.inner.chunk().await
    }

    /// The whole body, at most `limit` bytes ([`body::read_capped`]), keeping the host permit
    /// until it is read.
    pub async fn read_capped(mut self, limit: u64) -> Result<Vec<u8>, body::BodyError> {
        body::read_capped(&mut self.inner, limit).await
    }
}

/// The `Authorization` value of HTTP Basic for `username` and `password`.
pub fn basic_auth(username: &str, password: &str) -> redact::Secret {
    use base64::Engine as _;
    redact::Secret::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    ))
}

/// The shared HTTP client; cheap to clone (clones share connections and host limits).
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    /// Clients for hosts with their own TLS trust (`host:port` or `host`).
    per_host: Arc<std::collections::BTreeMap<String, reqwest::Client>>,
    config: Arc<HttpConfig>,
    limits: Arc<HostLimits>,
}

impl HttpClient {
    /// Build a client: rustls with certificate verification on, at most 10 redirects and never
    /// from https to plain http.
    pub fn new(config: HttpConfig) -> Result<HttpClient, HttpError> {
        let inner = Self::build(&config, &config.all_hosts_tls)?;
        let mut per_host = std::collections::BTreeMap::new();
        for (host, tls) in trust::by_host(&config.host_tls) {
            let mut all = config.all_hosts_tls.clone();
            all.merge(tls);
            per_host.insert(host, Self::build(&config, &all)?);
        }

        Ok(HttpClient {
            inner,
            per_host: Arc::new(per_host),
            limits: Arc::new(config.host_rate_limits.iter().fold(
                config.host_concurrency.iter().fold(
                    HostLimits::new(config.per_host_concurrency),
                    |l, (host, n)| l.with_override(host, *n),
                ),
                |l, (host, r)| l.with_rate(host, *r),
            )),
            config: Arc::new(config),
        })
    }

    /// A reqwest client with `config`'s settings and `tls`'s extra trust.
    fn build(config: &HttpConfig, tls: &trust::HostTls) -> Result<reqwest::Client, HttpError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // A downgrade would send whatever the redirect target gets (cookies, the rest of
                // the exchange) in clear text; reqwest follows it by default.
                let downgrade = attempt.url().scheme() == "http"
                    && attempt.previous().iter().any(|u| u.scheme() == "https");
                if downgrade {
                    attempt.error("refusing a redirect from https to http")
                } else if attempt.previous().len() >= 10 {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }));
        for pem in &tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| HttpError::Setup(format!("{}: {e}", files(tls))))?;
            builder = builder.tls_certs_merge(certs);
        }
        if let Some(pem) = &tls.identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| HttpError::Setup(format!("{}: {e}", files(tls))))?;
            builder = builder.identity(identity);
        }
        builder
            .build()
            .map_err(|e| HttpError::Setup(redact::error_chain(&e)))
    }

    /// The reqwest client for `url`'s host: its own when it has TLS settings, else the shared one.
    pub fn reqwest_for(&self, url: &url::Url) -> &reqwest::Client {
        let bare = url.host_str().unwrap_or_default();
        self.per_host
            .get(&HostLimits::key(url))
            .or_else(|| self.per_host.get(bare))
            .unwrap_or(&self.inner)
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The most tags a registry at `url`'s host may list for one repository
    /// ([`HttpConfig::host_max_tags`], by `host:port` or `host`).
    pub fn max_tags(&self, url: &url::Url) -> usize {
        let key = HostLimits::key(url);
        let bare = url.host_str().unwrap_or_default();
        self.config
            .host_max_tags
            .get(&key)
            .or_else(|| self.config.host_max_tags.get(bare))
            .copied()
            .unwrap_or(DEFAULT_MAX_TAGS)
    }

    /// `request` with the host's `Authorization` ([`HttpConfig::host_auth`]) unless it carries
    /// one of its own (a registry's token exchange).
    fn with_host_auth(
        &self,
        url: &url::Url,
        request: reqwest::RequestBuilder,
    ) -> reqwest::RequestBuilder {
        let bare = url.host_str().unwrap_or_default();
        let https_default = url.scheme() == "https" && url.port_or_known_default() == Some(443);
        let Some(secret) = self
            .config
            .host_auth
            .get(&HostLimits::key(url))
            .or_else(|| {
                https_default
                    .then(|| self.config.host_auth.get(bare))
                    .flatten()
            })
        else {
            return request;
        };
        let Some(mut built) = request.try_clone().and_then(|r| r.build().ok()) else {
            return request;
        };
        if built.headers().contains_key(reqwest::header::AUTHORIZATION) {
            return request;
        }
        let Ok(mut value) = reqwest::header::HeaderValue::from_str(secret.expose()) else {
            return request;
        };
        value.set_sensitive(true);
        built
            .headers_mut()
            .insert(reqwest::header::AUTHORIZATION, value);
        reqwest::RequestBuilder::from_parts(self.reqwest_for(url).clone(), built)
    }

    /// The per-host limits this client enforces (shared by its clones).
    pub fn limits(&self) -> &HostLimits {
        &self.limits
    }

    /// Send the request that `build` makes, retrying per the [`RetryPolicy`]. `build` is called
    /// again for every attempt (so a streamed body is re-created). Retryable statuses that persist
    /// are returned as the final `Ok` response; the caller decides what a status means.
    ///
    /// The host's permit (see [`HostLimits`]) is taken before the first attempt and kept through
    /// the retries (waiting out a 429 with the slot held is the polite thing) and then by the
    /// returned [`Response`].
    pub async fn send<F>(&self, url: &url::Url, build: F) -> Result<Response, HttpError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let permit = self.limits.acquire(url).await;
        let policy = &self.config.retry;
        let mut attempt: u32 = 0;
        loop {
            let last = attempt >= policy.max_retries;
            self.limits.pace(url).await;
            match self
                .with_host_auth(url, build(self.reqwest_for(url)))
                .send()
                .await
            {
                Ok(inner) => {
                    let status = inner.status().as_u16();
                    if last || !retry::is_retryable_status(status) {
                        return Ok(Response {
                            inner,
                            _permit: Some(permit),
                        });
                    }
                    let retry_after = if retry::honours_retry_after(status) {
                        retry::retry_after_of(inner.headers())
                    } else {
                        None
                    };
                    let delay = policy.delay(attempt, retry_after);
                    tracing::warn!(
                        url = %SafeUrl::new(url),
                        status,
                        attempt = attempt + 1,
                        max_retries = policy.max_retries,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "retrying after HTTP {status}"
                    );
                    // Free the connection before sleeping.
                    drop(inner);
                    tokio::time::sleep(delay).await;
                }
                Err(e) => {
                    let retryable = is_retryable_error(&e);
                    let reason = trust_hint(redact::error_chain(&e.without_url()), url);
                    if !retryable {
                        return Err(HttpError::Request {
                            url: SafeUrl::new(url),
                            reason,
                        });
                    }
                    if last {
                        return Err(HttpError::Unreachable {
                            url: SafeUrl::new(url),
                            reason,
                        });
                    }
                    let delay = policy.delay(attempt, None);
                    tracing::warn!(
                        url = %SafeUrl::new(url),
                        error = %reason,
                        attempt = attempt + 1,
                        max_retries = policy.max_retries,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "retrying after a connection failure"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
            attempt += 1;
        }
    }
}

/// Whether a transport error is worth another attempt: connection refused/reset, DNS, TLS
/// handshake and timeouts, and a connection closed before the response head arrived (`is_request`,
/// hyper's "connection closed before message completed" on a reused keep-alive connection).
/// Builder errors and redirect policy errors are not.
fn is_retryable_error(e: &reqwest::Error) -> bool {
    if e.is_builder() || e.is_redirect() {
        return false;
    }
    e.is_connect() || e.is_timeout() || e.is_request()
}

/// The files a trust setting came from, for an error message.
fn files(tls: &trust::HostTls) -> String {
    tls.files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A certificate the TLS stack refused gets a sentence saying how to trust it.
fn trust_hint(reason: String, url: &url::Url) -> String {
    if !reason.to_ascii_lowercase().contains("certificate") {
        return reason;
    }
    let host = HostLimits::key(url);
    format!(
        "{reason}; to trust this registry's certificate authority: `registries: {{{host}: {{ca_file: CA.pem}}}}` in the spec, \
         /etc/containers/certs.d/{host}/ca.crt, `--cert-dir DIR` (copy, export, import, mirror), or SSL_CERT_FILE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_sent(client: &HttpClient, url: &str) -> Option<String> {
        let url = url::Url::parse(url).expect("url");
        let request = client
            .with_host_auth(&url, client.reqwest_for(&url).get(url.clone()))
            .build()
            .expect("request");
        request
            .headers()
            .get(reqwest::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default().to_string())
    }

    #[test]
    fn host_credentials_go_to_their_host_and_port_only() {
        let mut config = HttpConfig::default();
        config
            .host_auth
            .insert("npm.corp".into(), redact::Secret::new("Bearer t"));
        config
            .host_auth
            .insert("127.0.0.1:8080".into(), basic_auth("u", "p"));
        let client = HttpClient::new(config).expect("client");
        assert_eq!(
            auth_sent(&client, "https://npm.corp/x").as_deref(),
            Some("Bearer t")
        );
        // A bare host is https on 443 only: not plain http, not another port.
        assert_eq!(auth_sent(&client, "http://npm.corp/x"), None);
        assert_eq!(auth_sent(&client, "https://npm.corp:8443/x"), None);
        assert_eq!(auth_sent(&client, "https://cdn.example/x"), None);
        assert_eq!(
            auth_sent(&client, "http://127.0.0.1:8080/simple/").as_deref(),
            Some("Basic dTpw")
        );
        assert_eq!(auth_sent(&client, "http://127.0.0.1:8081/simple/"), None);
        // A request with credentials of its own keeps them.
        let url = url::Url::parse("https://npm.corp/x").expect("url");
        let own = client
            .with_host_auth(
                &url,
                client
                    .reqwest_for(&url)
                    .get(url.clone())
                    .header(reqwest::header::AUTHORIZATION, "Bearer own"),
            )
            .build()
            .expect("request");
        assert_eq!(own.headers()[reqwest::header::AUTHORIZATION], "Bearer own");
    }
}
