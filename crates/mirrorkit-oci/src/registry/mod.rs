//! A client for the OCI Distribution API (`/v2/…`), built as a thin layer on the shared
//! [`HttpClient`].
//!
//! Why not `oci-client`: it has no retries, no fallback when a cross-repository mount answers 202,
//! no resume of a chunked upload, and its tag pagination trusts `Link` headers (a registry that
//! ignores `n`/`last` makes it loop). Those are the behaviours a mirror depends on, so we own this
//! layer: [`auth`] (401 challenges, Basic and Bearer tokens), [`manifests`] (HEAD/GET/PUT with
//! digest verification), [`blobs`] (HEAD/GET streams), [`upload`] (monolithic, chunked with
//! resume, mount), [`referrers`] (the OCI 1.1 referrers API) and [`tags`] (listing with a
//! non-advancing-pagination guard).

pub mod auth;
pub mod blobs;
pub mod manifests;
pub mod referrers;
pub mod tags;
pub mod upload;

use bytes::Bytes;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::http::{HttpClient, HttpError, Response};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::error::OciError;
use auth::{AuthState, Scope};

/// Default size of one `PATCH` in a chunked upload; blobs up to this size go in one `PUT`.
pub const DEFAULT_CHUNK_SIZE: usize = 16 * 1024 * 1024;

/// A blob body: a stream of byte chunks (bounded memory however large the blob).
pub type BlobStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, OciError>> + Send>>;

/// One OCI registry (`host[:port]`), with its credentials and cached tokens. Cheap to share behind
/// an `Arc`; all methods take `&self`.
pub struct Registry {
    host: String,
    base: Url,
    http: HttpClient,
    credentials: Credentials,
    auth: AuthState,
    chunk_size: usize,
}

/// What a request needs to be sent again (after a 401 challenge, or by the HTTP layer's retries):
/// the body is [`Bytes`], so every attempt re-sends the same bytes without copying.
pub(crate) struct Req {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Bytes>,
}

impl Req {
    pub(crate) fn new(method: Method, url: Url) -> Req {
        Req {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    pub(crate) fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Req {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    pub(crate) fn body(mut self, body: Bytes) -> Req {
        self.body = Some(body);
        self
    }
}

impl Registry {
    /// A client for `host_port` (e.g. `registry.example.org` or `127.0.0.1:5000`): `http://` when
    /// `insecure`, else `https://` with certificate verification. No request is sent yet.
    pub fn new(
        host_port: &str,
        insecure: bool,
        http: HttpClient,
        credentials: Credentials,
    ) -> Result<Registry, OciError> {
        let scheme = if insecure { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{host_port}/")).map_err(|e| {
            OciError::malformed(format!("registry host {host_port:?}"), e.to_string())
        })?;
        if base.path() != "/" || base.query().is_some() || !base.username().is_empty() {
            return Err(OciError::malformed(
                format!("registry host {host_port:?}"),
                "expected host[:port]",
            ));
        }
        Ok(Registry {
            host: host_port.to_string(),
            base,
            http,
            credentials,
            auth: AuthState::default(),
            chunk_size: DEFAULT_CHUNK_SIZE,
        })
    }

    /// Use `bytes` per `PATCH` in chunked uploads (and as the largest single-`PUT` blob).
    pub fn with_chunk_size(mut self, bytes: usize) -> Registry {
        self.chunk_size = bytes.max(1);
        self
    }

    /// How long a transfer to or from this registry may move no byte before it counts as
    /// stalled (the HTTP client's read timeout; see `mirrorkit_core::http::stall`).
    pub fn stall_limit(&self) -> std::time::Duration {
        self.http.config().read_timeout
    }

    /// `host[:port]` as given to [`Registry::new`].
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The configured chunk size.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// `GET /v2/`: succeeds when the registry speaks the Distribution API and accepts our
    /// credentials (or needs none).
    pub async fn ping(&self) -> Result<(), OciError> {
        let url = self.url("v2/")?;
        let resp = self
            .execute(&Scope::none(), Req::new(Method::GET, url))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.status_error(resp, "the /v2/ ping").await)
        }
    }

    /// `base` joined with `path` (relative, e.g. `v2/<repo>/manifests/<ref>`).
    fn url(&self, path: &str) -> Result<Url, OciError> {
        self.base
            .join(path)
            .map_err(|e| OciError::malformed(format!("URL path {path:?}"), e.to_string()))
    }

    /// A `Location` header value resolved against the registry (it may be relative).
    fn location(&self, resp: &Response) -> Result<Url, OciError> {
        let value = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                OciError::malformed(
                    format!("upload response from {}", self.host),
                    "no Location header",
                )
            })?;
        resp.url()
            .join(value)
            .map_err(|e| OciError::malformed("upload Location", e.to_string()))
    }

    /// Send `req` with whatever credentials `scope` has; on a 401 challenge, authenticate and
    /// send it once more. A second 401 is [`OciError::Denied`].
    pub(crate) async fn execute(&self, scope: &Scope, req: Req) -> Result<Response, OciError> {
        let cached = self.auth.cached_header(scope);
        let resp = self.send_raw(&req, cached.as_ref()).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        drop(resp);
        let header = self.authenticate(scope, challenge.as_deref()).await?;
        let resp = self.send_raw(&req, Some(&header)).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(self.status_error(resp, "the credentials").await);
        }
        Ok(resp)
    }

    /// One request through the HTTP layer (which retries connect errors, 429 and 5xx).
    async fn send_raw(&self, req: &Req, auth: Option<&HeaderValue>) -> Result<Response, OciError> {
        // Credentials go only to the registry itself: an upload Location or redirect may point
        // to another host (object storage), which must not see them, or to the same host over
        // another scheme (`http://host:443/`), which would carry them in clear text.
        let same_host = req.url.origin() == self.base.origin();
        let auth = auth.filter(|_| same_host);
        self.http
            .send(&req.url, |client| {
                let mut b = client
                    .request(req.method.clone(), req.url.clone())
                    .headers(req.headers.clone());
                if let Some(a) = auth {
                    b = b.header(reqwest::header::AUTHORIZATION, a.clone());
                }
                if let Some(body) = &req.body {
                    b = b.body(body.clone());
                }
                b
            })
            .await
            .map_err(|e| self.http_error(e))
    }

    fn http_error(&self, e: HttpError) -> OciError {
        match e {
            HttpError::Status { status, .. } if status == 401 || status == 403 => {
                OciError::Denied {
                    target: self.host.clone(),
                    status,
                    reason: e.to_string(),
                }
            }
            HttpError::Setup(reason) => OciError::Unreachable {
                target: self.host.clone(),
                reason,
            },
            other => OciError::Unreachable {
                target: self.host.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// Turn an unexpected response into an error: 401/403 → Denied, 5xx → Unreachable, 404 →
    /// NotFound, anything else → Rejected with the registry's error JSON message.
    pub(crate) async fn status_error(&self, resp: Response, what: &str) -> OciError {
        let status = resp.status();
        let body = read_limited(resp.into_inner(), 64 * 1024)
            .await
            .unwrap_or_default();
        let reason = error_message(&body).unwrap_or_else(|| status.to_string());
        let target = self.host.clone();
        match status.as_u16() {
            401 | 403 => OciError::Denied {
                target,
                status: status.as_u16(),
                reason,
            },
            404 => OciError::NotFound {
                target,
                what: format!("{what} ({reason})"),
            },
            s if s >= 500 => OciError::Unreachable {
                target,
                reason: format!("{what}: {status}: {reason}"),
            },
            _ => OciError::Rejected {
                target,
                what: what.to_string(),
                reason,
            },
        }
    }
}

/// The `errors[].code: message` text of a Distribution error body, if it is one.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = body
        .errors
        .into_iter()
        .map(|e| match (e.code, e.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            (None, Some(m)) => m,
            (None, None) => "unknown error".into(),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Whether a Distribution error body carries `code`.
pub(crate) fn has_error_code(body: &[u8], code: &str) -> bool {
    error_message(body).is_some_and(|m| m.split("; ").any(|p| p.starts_with(code)))
}

/// Read a response body, refusing more than `limit` bytes (never buffers an unbounded body).
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, OciError> {
    use mirrorkit_core::http::body::{BodyError, read_capped};
    read_capped(&mut resp, limit as u64)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { .. } => OciError::malformed(
                format!(
                    "response from {}",
                    mirrorkit_core::http::redact::SafeUrl::new(resp.url())
                ),
                e,
            ),
            BodyError::Read(reason) => OciError::Unreachable {
                target: resp.url().host_str().unwrap_or("registry").to_string(),
                reason,
            },
        })
}

/// Validate a repository path (`a/b-c/d_e.f`) before it goes into a URL.
pub(crate) fn check_repository(repo: &str) -> Result<(), OciError> {
    let ok = crate::reference::is_valid_repository(repo);
    if ok {
        Ok(())
    } else {
        Err(OciError::malformed(
            format!("repository name {repo:?}"),
            "expected lower-case path components of [a-z0-9._-]",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_reads_distribution_error_json() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{}}]}"#;
        assert_eq!(
            error_message(body).as_deref(),
            Some("NAME_UNKNOWN: repository name not known to registry")
        );
        assert!(has_error_code(body, "NAME_UNKNOWN"));
        assert!(!has_error_code(body, "MANIFEST_UNKNOWN"));
        assert_eq!(error_message(b"<html>"), None);
    }

    #[test]
    fn repository_names_are_checked() {
        for good in ["a", "tools/cmake", "mirror/a.b/c_d-e"] {
            assert!(check_repository(good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a/", "A", "a//b", "../x", "a/-b", "a b"] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_builds_scheme_from_insecure_flag() {
        let http = HttpClient::new(Default::default()).unwrap();
        let r =
            Registry::new("127.0.0.1:5000", true, http.clone(), Credentials::default()).unwrap();
        assert_eq!(r.base.as_str(), "http://127.0.0.1:5000/");
        let r = Registry::new("example.org", false, http.clone(), Credentials::default()).unwrap();
        assert_eq!(r.base.as_str(), "https://example.org/");
        assert!(Registry::new("a/b", false, http.clone(), Credentials::default()).is_err());
        assert!(Registry::new("u:p@host", false, http, Credentials::default()).is_err());
    }
}
