//! Registry authentication: answer a `401` challenge (`WWW-Authenticate: Basic …` or
//! `Bearer realm=…,service=…,scope=…`) and cache what worked per scope.
//!
//! Bearer tokens are fetched from the realm with `service` and `scope` parameters, with Basic
//! credentials when we have some (anonymous otherwise); identity tokens from `config.json` use the
//! OAuth2 refresh-token grant. Tokens and passwords live only in [`Secret`]s and header values
//! marked sensitive: they are never logged nor put in an error.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use mirrorkit_core::http::credentials::RegistryAuth;
use mirrorkit_core::http::redact::Secret;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use url::Url;

use super::{Registry, Req, read_limited};
use crate::error::OciError;

/// The access a request needs, as token scopes (`repository:<name>:<actions>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    entries: Vec<String>,
}

impl Scope {
    /// No repository access (the `/v2/` ping).
    pub fn none() -> Scope {
        Scope::default()
    }

    /// Read access to `repo`.
    pub fn pull(repo: &str) -> Scope {
        Scope {
            entries: vec![format!("repository:{repo}:pull")],
        }
    }

    /// Read and write access to `repo`.
    pub fn push(repo: &str) -> Scope {
        Scope {
            entries: vec![format!("repository:{repo}:pull,push")],
        }
    }

    /// Push to `repo` plus read `from` (a cross-repository mount needs both in one token).
    pub fn push_mount(repo: &str, from: &str) -> Scope {
        Scope {
            entries: vec![
                format!("repository:{repo}:pull,push"),
                format!("repository:{from}:pull"),
            ],
        }
    }

    fn key(&self) -> String {
        self.entries.join(" ")
    }
}

/// What was learnt from challenges: Basic credentials for the whole registry, or Bearer tokens
/// per scope.
#[derive(Default)]
pub(crate) struct AuthState {
    basic: Mutex<Option<HeaderValue>>,
    tokens: Mutex<HashMap<String, HeaderValue>>,
}

impl AuthState {
    /// The `Authorization` value to send first for `scope`, if one is known.
    pub(crate) fn cached_header(&self, scope: &Scope) -> Option<HeaderValue> {
        if let Ok(basic) = self.basic.lock()
            && let Some(h) = basic.as_ref()
        {
            return Some(h.clone());
        }
        self.tokens.lock().ok()?.get(&scope.key()).cloned()
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// `basic` or `bearer` (lower-cased).
    pub scheme: String,
    /// Parameters with lower-cased names (`realm`, `service`, `scope`).
    pub params: HashMap<String, String>,
}

/// Parse `Scheme k="v", k2=v2` (quoted values may hold commas, e.g. `scope="repo:a:pull,push"`).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

impl Registry {
    /// Answer a 401 `challenge` for `scope`: returns the `Authorization` value to retry with and
    /// caches it. No usable credentials for a Basic challenge → [`OciError::Denied`].
    pub(crate) async fn authenticate(
        &self,
        scope: &Scope,
        challenge: Option<&str>,
    ) -> Result<HeaderValue, OciError> {
        let denied = |reason: &str| OciError::Denied {
            target: self.host.clone(),
            status: 401,
            reason: reason.to_string(),
        };
        let challenge = challenge
            .and_then(parse_challenge)
            .ok_or_else(|| denied("401 without a WWW-Authenticate challenge"))?;
        let creds = self.credentials.lookup(&self.host);
        match challenge.scheme.as_str() {
            "basic" => {
                let Some(RegistryAuth::Basic { username, password }) = creds else {
                    return Err(denied(
                        "authentication required and no username/password configured",
                    ));
                };
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()));
                let header = sensitive(&format!("Basic {encoded}"))
                    .ok_or_else(|| denied("credentials are not valid header text"))?;
                if let Ok(mut b) = self.auth.basic.lock() {
                    *b = Some(header.clone());
                }
                Ok(header)
            }
            "bearer" => {
                let token = self.fetch_token(&challenge, scope, creds).await?;
                let header = sensitive(&format!("Bearer {}", token.expose()))
                    .ok_or_else(|| denied("token is not valid header text"))?;
                if let Ok(mut t) = self.auth.tokens.lock() {
                    t.insert(scope.key(), header.clone());
                }
                Ok(header)
            }
            other => Err(denied(&format!("unsupported auth scheme {other:?}"))),
        }
    }

    /// Get a Bearer token from the challenge's realm.
    async fn fetch_token(
        &self,
        challenge: &Challenge,
        scope: &Scope,
        creds: Option<RegistryAuth>,
    ) -> Result<Secret, OciError> {
        let realm = challenge
            .params
            .get("realm")
            .and_then(|r| Url::parse(r).ok())
            .ok_or_else(|| OciError::Denied {
                target: self.host.clone(),
                status: 401,
                reason: "Bearer challenge without a valid realm".into(),
            })?;
        // Our own scope wins; the challenge's scope is used when we asked for none (ping).
        let scopes: Vec<String> = if scope.entries.is_empty() {
            challenge.params.get("scope").cloned().into_iter().collect()
        } else {
            scope.entries.clone()
        };
        let service = challenge.params.get("service").cloned();
        let req = match &creds {
            Some(RegistryAuth::IdentityToken(refresh)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", "mirrorkit")
                    .append_pair("refresh_token", refresh.expose());
                if let Some(s) = &service {
                    form.append_pair("service", s);
                }
                for s in &scopes {
                    form.append_pair("scope", s);
                }
                Req::new(Method::POST, realm.clone())
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.finish().into())
            }
            _ => {
                let mut url = realm.clone();
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    for s in &scopes {
                        q.append_pair("scope", s);
                    }
                }
                Req::new(Method::GET, url)
            }
        };
        let basic = match &creds {
            Some(RegistryAuth::Basic { username, password }) => sensitive(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()))
            )),
            _ => None,
        };
        // The realm is usually another host (an auth service): send the Basic credentials there
        // directly, not through `send_raw`'s same-host filter.
        let resp = self
            .http
            .send(&req.url, |client| {
                let mut b = client
                    .request(req.method.clone(), req.url.clone())
                    .headers(req.headers.clone());
                if let Some(h) = &basic {
                    b = b.header(reqwest::header::AUTHORIZATION, h.clone());
                }
                if let Some(body) = &req.body {
                    b = b.body(body.clone());
                }
                b
            })
            .await
            .map_err(|e| self.http_error(e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(OciError::Denied {
                target: self.host.clone(),
                status: status.as_u16(),
                reason: "the token service refused the credentials".into(),
            });
        }
        if !status.is_success() {
            return Err(OciError::Unreachable {
                target: self.host.clone(),
                reason: format!("token service answered {status}"),
            });
        }
        let body = read_limited(resp.into_inner(), 1024 * 1024).await?;
        parse_token(&body).ok_or_else(|| {
            OciError::malformed(
                "token response",
                "neither `token` nor `access_token` present",
            )
        })
    }
}

/// The token of a token-service response (`token`, or the OAuth2 `access_token`).
pub(crate) fn parse_token(body: &[u8]) -> Option<Secret> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
    }
    let t: TokenResponse = serde_json::from_slice(body).ok()?;
    t.token
        .filter(|t| !t.is_empty())
        .or(t.access_token.filter(|t| !t.is_empty()))
        .map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_with_commas_in_scope() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.org/token",service="registry.example.org",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example.org/token");
        assert_eq!(c.params["service"], "registry.example.org");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
    }

    #[test]
    fn parses_basic_challenge() {
        let c = parse_challenge(r#"Basic realm="mirrorkit-test""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "mirrorkit-test");
        assert_eq!(parse_challenge("Basic").unwrap().params.len(), 0);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn token_response_accepts_token_or_access_token() {
        assert_eq!(parse_token(br#"{"token":"t1"}"#).unwrap().expose(), "t1");
        assert_eq!(
            parse_token(br#"{"access_token":"t2"}"#).unwrap().expose(),
            "t2"
        );
        assert_eq!(
            parse_token(br#"{"token":"","access_token":"t3"}"#)
                .unwrap()
                .expose(),
            "t3"
        );
        assert!(parse_token(br#"{}"#).is_none());
    }

    #[test]
    fn scopes_render_as_token_scopes() {
        assert_eq!(Scope::pull("a/b").key(), "repository:a/b:pull");
        assert_eq!(
            Scope::push_mount("a", "b").key(),
            "repository:a:pull,push repository:b:pull"
        );
    }
}
