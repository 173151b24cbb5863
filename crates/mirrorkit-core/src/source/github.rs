//! The `github_release` source: the releases of a GitHub (or GitHub Enterprise) repository,
//! listed through the REST API.
//!
//! - `GET {api}/repos/{owner}/{repo}/releases?per_page=100`, then every `Link: <…>; rel="next"`
//!   page (only on the API's own origin, never a page twice, at most [`MAX_PAGES`] pages).
//! - Headers: `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`, and
//!   `Authorization: Bearer $GITHUB_TOKEN` when that variable is set. The token only ever goes to
//!   the API origin and never reaches a log line or an error message.
//! - Drafts are ignored; each other release becomes a [`Release`] whose version is the `version`
//!   group of `tag_pattern` matched against the tag. A tag that does not match (or a second tag
//!   giving a version already listed, or an asset with an unusable URL) is listed as excluded with
//!   the reason. Asset checksums come from the API's `digest` field (`sha256:…`); an unparseable
//!   digest is dropped with a warning, so verification needs another source of truth.
//! - With a cache directory, every page's `ETag`, `Link` and body are kept (one file per page
//!   URL, written atomically) and the next run asks with `If-None-Match`: an unchanged release
//!   list answers `304 Not Modified`, which GitHub does not count against the rate limit.
//! - Rate limits: a 403/429 that says the budget is exhausted (`x-ratelimit-remaining: 0`,
//!   `Retry-After`, or GitHub's "rate limit" message) is waited out (`Retry-After`, else
//!   `x-ratelimit-reset` + 1 s) as long as the total wait stays within
//!   [`GithubSource::max_rate_limit_wait`]; otherwise it fails with exit 69 saying when to retry.
//!
//! Errors: unreachable, 404, 5xx and an exhausted rate limit are [`SourceError::Unreachable`]
//! (69: the answer is not there, try later or fix the URL); a successful answer that is not the
//! expected JSON, or whose `Link` header points somewhere it must not, is
//! [`SourceError::Malformed`] (65: the document is wrong); 401 and other 403s are
//! [`SourceError::Denied`] (77).
//!
//! Why one long file: the listing (pagination, conditional requests, rate limits) is about 700
//! lines and the rest is its unit tests. The listing is release-only and moves to
//! `mirrorkit-release` once settings and listing are split (see docs/architecture.md).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use url::Url;

use super::{Asset, Release, SourceError};
use crate::digest::Digest;
use crate::http::HttpClient;
use crate::http::etag_cache::EtagCache;
use crate::http::link::next_link;
use crate::http::redact::{SafeUrl, Secret, redact_text};

/// The default `tag_pattern`: an optional `v`, then a version such as `1.2.3`, `1.2`, `1.2.3-rc1`,
/// `1.2.3-rc.1` or `1.2.3+build.5` (the whole rest of the tag is the version). Tags such as
/// `nightly` or `release-2024` do not match.
pub const DEFAULT_TAG_PATTERN: &str =
    r"^v?(?P<version>\d+(\.\d+)*(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)$";

/// The API base URL when neither the spec nor `GITHUB_API_URL` gives one.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Most pages followed (100 releases each); more means a broken `Link` chain.
pub const MAX_PAGES: usize = 1000;

/// Largest page body accepted.
const MAX_PAGE_BYTES: u64 = 32 * 1024 * 1024;

/// Largest error body read (for GitHub's `message`).
const MAX_ERROR_BYTES: u64 = 64 * 1024;

/// Rate-limit waits for one page before giving up even within `max_rate_limit_wait`.
const MAX_RATE_LIMIT_WAITS: u32 = 5;

/// The wait GitHub's documentation asks for after a secondary rate limit without headers.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The default pattern, compiled.
static DEFAULT_REGEX: LazyLock<regex::Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail at run time (pinned by a unit test).
    #[allow(clippy::expect_used)]
    regex::Regex::new(DEFAULT_TAG_PATTERN).expect("valid default tag pattern")
});

/// A validated github_release source.
#[derive(Clone, Debug)]
pub struct GithubSource {
    /// Repository owner (user or organisation).
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Must contain a `version` named group; the version is that group's text.
    pub tag_pattern: regex::Regex,
    /// API base URL given in the spec; None = env GITHUB_API_URL, else https://api.github.com
    pub api_url: Option<url::Url>,
    /// Longest time to wait for a rate-limit reset before giving up (exit 69).
    pub max_rate_limit_wait: std::time::Duration,
    /// Hosts (`host` or `host:port`) marked `insecure` in the spec's `registries:`: the only
    /// plain-HTTP API hosts `GITHUB_TOKEN` is sent to, as for every other credential.
    pub insecure_hosts: Vec<String>,
}

impl GithubSource {
    /// A source for `owner/repo` with the default tag pattern, the default API URL and a
    /// 15-minute rate-limit wait.
    pub fn new(owner: impl Into<String>, repo: impl Into<String>) -> GithubSource {
        GithubSource {
            owner: owner.into(),
            repo: repo.into(),
            tag_pattern: DEFAULT_REGEX.clone(),
            api_url: None,
            max_rate_limit_wait: Duration::from_secs(900),
            insecure_hosts: Vec::new(),
        }
    }

    /// The API base URL: the spec's `api_url`, else `$GITHUB_API_URL`, else
    /// `https://api.github.com`.
    pub fn api_base(&self) -> Result<Url, SourceError> {
        if let Some(u) = &self.api_url {
            return Ok(u.clone());
        }
        let from_env = std::env::var("GITHUB_API_URL")
            .ok()
            .filter(|v| !v.trim().is_empty());
        let Some(value) = from_env else {
            return Url::parse(DEFAULT_API_URL).map_err(|e| SourceError::Unreachable {
                what: DEFAULT_API_URL.to_string(),
                reason: e.to_string(),
            });
        };
        let bad = |reason: String| SourceError::Unreachable {
            what: "GITHUB_API_URL".to_string(),
            reason,
        };
        let url = Url::parse(value.trim()).map_err(|e| bad(format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!(
                "unsupported scheme {:?} (http, https)",
                url.scheme()
            )));
        }
        Ok(url)
    }
}

/// The version `pattern`'s `version` group takes from `tag`, or why there is none.
pub fn version_of_tag(pattern: &regex::Regex, tag: &str) -> Result<String, String> {
    let Some(caps) = pattern.captures(tag) else {
        return Err(format!("tag {tag:?} does not match tag_pattern {pattern}"));
    };
    if !pattern.capture_names().any(|n| n == Some("version")) {
        return Err(format!("tag_pattern {pattern} has no (?P<version>…) group"));
    }
    match caps.name("version").map(|m| m.as_str()) {
        Some(v) if !v.trim().is_empty() => Ok(v.to_string()),
        _ => Err(format!(
            "tag {tag:?} matches tag_pattern {pattern} but its version group is empty"
        )),
    }
}

/// Whether `url`'s host is in `insecure_hosts` (as `host:port`, or `host` for every port).
fn marked_insecure(url: &Url, insecure_hosts: &[String]) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let with_port = url
        .port_or_known_default()
        .map(|p| format!("{host}:{p}"))
        .unwrap_or_default();
    insecure_hosts.iter().any(|h| h == host || *h == with_port)
}

/// `GITHUB_TOKEN` from the environment, when set and not empty.
pub fn token_from_env() -> Option<Secret> {
    std::env::var("GITHUB_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(Secret::new)
}

/// List the repository's releases (newest first, as GitHub lists them), with `GITHUB_TOKEN`
/// from the environment. See [`discover_with_token`].
pub async fn discover(
    src: &GithubSource,
    http: &HttpClient,
    cache_dir: Option<&std::path::Path>,
) -> Result<Vec<Release>, SourceError> {
    discover_with_token(src, http, cache_dir, token_from_env()).await
}

/// List the repository's releases, sending `token` (if any) to the API as a Bearer token.
///
/// `cache_dir` keeps each page's `ETag` and body so an unchanged list costs no rate limit; it is
/// created if missing, and a cache that cannot be read or written is ignored (with a warning
/// when writing fails).
pub async fn discover_with_token(
    src: &GithubSource,
    http: &HttpClient,
    cache_dir: Option<&Path>,
    token: Option<Secret>,
) -> Result<Vec<Release>, SourceError> {
    let api = src.api_base()?;
    // A bearer token over plain HTTP is readable by anyone on the path: only to a host the spec
    // marks insecure, as for registry credentials.
    let token = token.filter(|_| {
        let allowed = api.scheme() == "https" || marked_insecure(&api, &src.insecure_hosts);
        if !allowed {
            tracing::warn!(
                "GITHUB_TOKEN not sent to {}: it is plain HTTP; mark the host insecure under \
                 `registries:` to send it anyway",
                SafeUrl::new(&api)
            );
        }
        allowed
    });
    if let Some(t) = &token
        && reqwest::header::HeaderValue::from_str(&format!("Bearer {}", t.expose())).is_err()
    {
        return Err(SourceError::Denied {
            what: "GITHUB_TOKEN".to_string(),
            reason: "contains characters not allowed in an HTTP header".to_string(),
        });
    }
    let first = listing_url(&api, &src.owner, &src.repo)?;
    let mut ctx = Ctx {
        src,
        http,
        cache_dir,
        token: token.as_ref(),
        api: &api,
        waited: Duration::ZERO,
    };
    let listed = list_all(&mut ctx, first).await?;
    let releases = to_releases(src, listed);
    tracing::debug!(
        repository = %format!("{}/{}", src.owner, src.repo),
        releases = releases.len(),
        "listed GitHub releases"
    );
    Ok(releases)
}

/// `{api}/repos/{owner}/{repo}/releases?per_page=100` (the API URL may carry a path, as GitHub
/// Enterprise's `https://host/api/v3` does).
fn listing_url(api: &Url, owner: &str, repo: &str) -> Result<Url, SourceError> {
    let mut url = api.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| SourceError::Unreachable {
            what: SafeUrl::new(api).to_string(),
            reason: "not a usable API base URL".to_string(),
        })?
        .pop_if_empty()
        .extend(["repos", owner, repo, "releases"]);
    url.query_pairs_mut().append_pair("per_page", "100");
    Ok(url)
}

/// What one discovery run shares between pages.
struct Ctx<'a> {
    src: &'a GithubSource,
    http: &'a HttpClient,
    cache_dir: Option<&'a Path>,
    token: Option<&'a Secret>,
    api: &'a Url,
    /// Rate-limit waiting so far (bounded by `max_rate_limit_wait`).
    waited: Duration,
}

impl Ctx<'_> {
    fn repo(&self) -> String {
        format!("{}/{}", self.src.owner, self.src.repo)
    }

    /// Scrub the token from text that came from the server (it should never echo it, but a
    /// misbehaving proxy might) and redact URLs in it.
    fn scrub(&self, text: &str) -> String {
        let mut out = redact_text(text);
        if let Some(t) = self.token
            && !t.expose().is_empty()
        {
            out = out.replace(t.expose(), "***");
        }
        out
    }
}

/// A release as the API lists it (only the fields used; the rest is ignored).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ApiRelease {
    tag_name: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    assets: Vec<ApiAsset>,
}

/// An asset as the API lists it.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ApiAsset {
    name: String,
    browser_download_url: String,
    #[serde(default)]
    digest: Option<String>,
}

/// One page of the listing.
struct Page {
    releases: Vec<ApiRelease>,
    link: Option<String>,
}

async fn list_all(ctx: &mut Ctx<'_>, first: Url) -> Result<Vec<ApiRelease>, SourceError> {
    let mut url = first;
    let mut seen: HashSet<Url> = HashSet::new();
    let mut out = Vec::new();
    for page_no in 1..=MAX_PAGES {
        seen.insert(url.clone());
        let page = fetch_page(ctx, &url).await?;
        tracing::debug!(
            url = %SafeUrl::new(&url),
            page = page_no,
            releases = page.releases.len(),
            "GitHub releases page"
        );
        out.extend(page.releases);
        let Some(next) = page.link.as_deref().and_then(next_link) else {
            return Ok(out);
        };
        let unexpected = |reason: String| SourceError::Malformed {
            what: SafeUrl::new(&url).to_string(),
            reason,
        };
        let next = url
            .join(&next)
            .map_err(|e| unexpected(format!("the Link header's next URL is invalid: {e}")))?;
        if next.origin() != ctx.api.origin() {
            return Err(unexpected(format!(
                "the Link header's next page {} is not on the API's origin {}; not following it",
                SafeUrl::new(&next),
                ctx.api.origin().ascii_serialization()
            )));
        }
        if seen.contains(&next) {
            return Err(unexpected(format!(
                "the Link header's next page {} was already listed (a pagination loop)",
                SafeUrl::new(&next)
            )));
        }
        url = next;
    }
    Err(SourceError::Unreachable {
        what: format!("GitHub repository {}", ctx.repo()),
        reason: format!("the release list has more than {MAX_PAGES} pages"),
    })
}

/// Fetch one page: conditionally when the cache has it, waiting out rate limits.
async fn fetch_page(ctx: &mut Ctx<'_>, url: &Url) -> Result<Page, SourceError> {
    let what = SafeUrl::new(url).to_string();
    let unreachable = |reason: String| SourceError::Unreachable {
        what: what.clone(),
        reason,
    };
    let cache = ctx.cache_dir.map(|d| EtagCache::new(d, "github-releases"));
    let mut cached = match &cache {
        Some(c) => c.load(url).await.and_then(|c| {
            // A cached page that no longer parses is not used: the request goes out plainly.
            let releases = serde_json::from_slice::<Vec<ApiRelease>>(&c.body).ok()?;
            Some((c.etag, c.link, releases))
        }),
        None => None,
    };
    let mut rate_waits = 0u32;
    loop {
        let etag = cached.as_ref().map(|(etag, _, _)| etag.clone());
        let token = ctx.token;
        let response = ctx
            .http
            .send(url, |c| {
                let mut r = c
                    .get(url.clone())
                    .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28");
                if let Some(t) = token {
                    r = r.bearer_auth(t.expose());
                }
                if let Some(e) = &etag {
                    r = r.header(reqwest::header::IF_NONE_MATCH, e.as_str());
                }
                r
            })
            .await
            .map_err(|e| unreachable(ctx.scrub(&e.to_string())))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let link = header_str(&headers, "link");

        if status == 304 {
            return match cached.take() {
                Some((_, link, releases)) => {
                    tracing::debug!(url = %what, "release list unchanged (304), using the cache");
                    Ok(Page { releases, link })
                }
                None => Err(unreachable(
                    "answered 304 Not Modified to a request that was not conditional".into(),
                )),
            };
        }
        if (200..300).contains(&status) {
            let body = response
                .read_capped(MAX_PAGE_BYTES)
                .await
                .map_err(|e| unreachable(ctx.scrub(&e.to_string())))?;
            let releases =
                parse_page(&body, &headers).map_err(|reason| SourceError::Malformed {
                    what: what.clone(),
                    reason: ctx.scrub(&reason),
                })?;
            if let (Some(cache), Some(etag)) = (&cache, header_str(&headers, "etag")) {
                cache.store(url, &etag, link.as_deref(), &body).await;
            }
            return Ok(Page { releases, link });
        }

        let body = response
            .read_capped(MAX_ERROR_BYTES)
            .await
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_string))
            .map(|m| ctx.scrub(&truncate(&m, 300)));

        if let Some(limit) = rate_limit(status, &headers, message.as_deref()) {
            let allowed = ctx.src.max_rate_limit_wait.saturating_sub(ctx.waited);
            if limit.wait <= allowed && rate_waits < MAX_RATE_LIMIT_WAITS {
                tracing::warn!(
                    url = %what,
                    status,
                    wait_s = limit.wait.as_secs(),
                    retry_at = %rfc3339(limit.retry_at),
                    "GitHub API rate limit exhausted; waiting for the reset"
                );
                tokio::time::sleep(limit.wait).await;
                ctx.waited += limit.wait;
                rate_waits += 1;
                continue;
            }
            let mut reason = format!(
                "GitHub API rate limit exhausted (HTTP {status}{}); retry after {} (in {} s)",
                limit
                    .limit
                    .map(|l| format!(", limit {l} requests per hour"))
                    .unwrap_or_default(),
                rfc3339(limit.retry_at),
                limit.wait.as_secs()
            );
            if rate_waits >= MAX_RATE_LIMIT_WAITS {
                reason.push_str(&format!("; still limited after waiting {rate_waits} times"));
            } else {
                reason.push_str(&format!(
                    "; that is longer than max_rate_limit_wait ({} s{})",
                    ctx.src.max_rate_limit_wait.as_secs(),
                    if ctx.waited.is_zero() {
                        String::new()
                    } else {
                        format!(", {} s already waited", ctx.waited.as_secs())
                    }
                ));
            }
            if ctx.token.is_none() {
                reason.push_str(
                    "; set GITHUB_TOKEN for a higher limit (authenticated requests get more)",
                );
            }
            return Err(unreachable(reason));
        }

        let said = message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        return Err(match status {
            401 => SourceError::Denied {
                what,
                reason: if ctx.token.is_some() {
                    format!("HTTP 401{said} (GITHUB_TOKEN was refused)")
                } else {
                    format!("HTTP 401{said} (set GITHUB_TOKEN)")
                },
            },
            403 => SourceError::Denied {
                what,
                reason: format!("HTTP 403{said}"),
            },
            404 => SourceError::Unreachable {
                what: format!("GitHub repository {}", ctx.repo()),
                reason: format!(
                    "repository {} not found at {} (HTTP 404){}",
                    ctx.repo(),
                    SafeUrl::new(ctx.api),
                    if ctx.token.is_none() {
                        "; a private repository needs GITHUB_TOKEN"
                    } else {
                        ""
                    }
                ),
            },
            _ => unreachable(format!("HTTP {status}{said}")),
        });
    }
}

/// A header's value as text, if present and printable.
fn header_str(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Parse a page body, or say what is wrong with it.
fn parse_page(
    body: &[u8],
    headers: &reqwest::header::HeaderMap,
) -> Result<Vec<ApiRelease>, String> {
    serde_json::from_slice::<Vec<ApiRelease>>(body).map_err(|e| {
        let content_type = header_str(headers, "content-type").unwrap_or_else(|| "none".into());
        let preview: String = String::from_utf8_lossy(&body[..body.len().min(80)])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!(
            "the answer is not the expected JSON list of releases (content type {content_type}, \
             {} bytes): {}; it starts with {:?}",
            body.len(),
            truncate(&e.to_string(), 300),
            preview
        )
    })
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// What a rate-limited answer says about waiting.
#[derive(Debug, PartialEq, Eq)]
struct RateLimited {
    /// How long to wait before trying again.
    wait: Duration,
    /// When the budget is back.
    retry_at: SystemTime,
    /// `x-ratelimit-limit`, if given.
    limit: Option<u64>,
}

/// Whether an answer means "rate limited", and for how long.
///
/// 429 always; 403 when `x-ratelimit-remaining` is 0, a `Retry-After` is given, or GitHub's
/// message mentions a rate limit (secondary limits). The wait is `Retry-After` if present, else
/// `x-ratelimit-reset` − now + 1 s when the budget is exhausted, else a minute.
fn rate_limit(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    message: Option<&str>,
) -> Option<RateLimited> {
    let now = SystemTime::now();
    let exhausted = header_str(headers, "x-ratelimit-remaining").as_deref() == Some("0");
    let retry_after = header_str(headers, "retry-after")
        .and_then(|v| crate::http::retry::parse_retry_after(&v, now));
    let says_so = message.is_some_and(|m| m.to_ascii_lowercase().contains("rate limit"));
    let limited =
        status == 429 || (status == 403 && (exhausted || retry_after.is_some() || says_so));
    if !limited {
        return None;
    }
    let reset = header_str(headers, "x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
    let wait = match (retry_after, reset) {
        (Some(w), _) => w,
        (None, Some(reset)) if exhausted => {
            let at = UNIX_EPOCH + Duration::from_secs(reset);
            at.duration_since(now).unwrap_or(Duration::ZERO) + Duration::from_secs(1)
        }
        _ => SECONDARY_LIMIT_WAIT,
    };
    Some(RateLimited {
        wait,
        retry_at: now + wait,
        limit: header_str(headers, "x-ratelimit-limit").and_then(|v| v.parse().ok()),
    })
}

/// A time as RFC 3339 in UTC (`2026-01-02T03:04:05Z`).
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .try_into()
        .unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} (Unix time)"))
}

/// Turn the API's releases into [`Release`]s: drafts dropped, versions from `tag_pattern`,
/// non-matching tags, duplicate versions and unusable assets listed as excluded.
fn to_releases(src: &GithubSource, listed: Vec<ApiRelease>) -> Vec<Release> {
    let mut out = Vec::with_capacity(listed.len());
    // Version → the tag that gave it (the newest wins: GitHub lists newest first).
    let mut versions: HashMap<String, String> = HashMap::new();
    for r in listed {
        if r.draft {
            continue;
        }
        let excluded = |reason: String| Release {
            version: r.tag_name.clone(),
            prerelease: r.prerelease,
            assets: Vec::new(),
            excluded: Some(reason),
        };
        let version = match version_of_tag(&src.tag_pattern, &r.tag_name) {
            Ok(v) => v,
            Err(reason) => {
                out.push(excluded(reason));
                continue;
            }
        };
        if let Some(first) = versions.get(&version) {
            out.push(excluded(format!(
                "tag {:?} gives version {version}, which tag {first:?} already gives",
                r.tag_name
            )));
            continue;
        }
        match assets_of(&r, &version) {
            Ok(assets) => {
                versions.insert(version.clone(), r.tag_name.clone());
                out.push(Release {
                    version,
                    prerelease: r.prerelease,
                    assets,
                    excluded: None,
                });
            }
            Err(reason) => out.push(excluded(reason)),
        }
    }
    out
}

fn assets_of(r: &ApiRelease, version: &str) -> Result<Vec<Asset>, String> {
    let mut assets = Vec::with_capacity(r.assets.len());
    for a in &r.assets {
        let name = &a.name;
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(format!("asset name {name:?} is not a file name"));
        }
        let url = Url::parse(&a.browser_download_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                format!(
                    "asset {name:?}: browser_download_url {:?} is not an http(s) URL",
                    redact_text(&truncate(&a.browser_download_url, 200))
                )
            })?;
        let checksum = match a.digest.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(d) => match d.parse::<Digest>() {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!(
                        version,
                        asset = %name,
                        "ignoring the asset's digest from the GitHub API: {e}"
                    );
                    None
                }
            },
        };
        assets.push(Asset {
            name: name.clone(),
            url,
            checksum,
        });
    }
    Ok(assets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pattern_takes_the_version() {
        let re = regex::Regex::new(DEFAULT_TAG_PATTERN).unwrap();
        let cases = [
            ("v1.2.3", Some("1.2.3")),
            ("1.2.3", Some("1.2.3")),
            ("1.2.3-rc1", Some("1.2.3-rc1")),
            ("v1.2.3-rc.1", Some("1.2.3-rc.1")),
            ("1.2", Some("1.2")),
            ("v2", Some("2")),
            ("1.2.3+build.7", Some("1.2.3+build.7")),
            ("nightly", None),
            ("release-1.2", None),
            ("v", None),
            ("1.2.", None),
            ("vv1.2", None),
        ];
        for (tag, want) in cases {
            assert_eq!(version_of_tag(&re, tag).ok().as_deref(), want, "{tag}");
        }
        let err = version_of_tag(&re, "nightly").unwrap_err();
        assert!(
            err.contains("\"nightly\"") && err.contains("tag_pattern"),
            "{err}"
        );
        let no_group = regex::Regex::new("^v(.*)$").unwrap();
        assert!(
            version_of_tag(&no_group, "v1")
                .unwrap_err()
                .contains("no (?P<version>")
        );
        assert_eq!(
            GithubSource::new("o", "r").tag_pattern.as_str(),
            DEFAULT_TAG_PATTERN
        );
    }

    #[test]
    fn listing_url_keeps_an_enterprise_path() {
        let api = Url::parse("https://ghe.example.org/api/v3/").unwrap();
        assert_eq!(
            listing_url(&api, "o", "r").unwrap().as_str(),
            "https://ghe.example.org/api/v3/repos/o/r/releases?per_page=100"
        );
        let api = Url::parse("https://api.github.com").unwrap();
        assert_eq!(
            listing_url(&api, "o", "r.js").unwrap().as_str(),
            "https://api.github.com/repos/o/r.js/releases?per_page=100"
        );
    }

    fn headers(pairs: &[(&'static str, &str)]) -> reqwest::header::HeaderMap {
        let mut h = reqwest::header::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn recognises_rate_limits() {
        let soon = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 10;
        let exhausted = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &soon.to_string()),
            ("x-ratelimit-limit", "60"),
        ]);
        let r = rate_limit(403, &exhausted, None).unwrap();
        assert!(
            r.wait >= Duration::from_secs(9) && r.wait <= Duration::from_secs(11),
            "{r:?}"
        );
        assert_eq!(r.limit, Some(60));
        let r = rate_limit(429, &headers(&[("retry-after", "3")]), None).unwrap();
        assert_eq!(r.wait, Duration::from_secs(3));
        let r = rate_limit(
            403,
            &headers(&[]),
            Some("You have exceeded a secondary rate limit"),
        );
        assert_eq!(r.unwrap().wait, SECONDARY_LIMIT_WAIT);
        assert!(
            rate_limit(
                403,
                &headers(&[("x-ratelimit-remaining", "12")]),
                Some("Forbidden")
            )
            .is_none()
        );
        assert!(rate_limit(404, &exhausted, None).is_none());
    }

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(86_400)),
            "1970-01-02T00:00:00Z"
        );
    }

    fn api_release(tag: &str, draft: bool, assets: Vec<ApiAsset>) -> ApiRelease {
        ApiRelease {
            tag_name: tag.into(),
            draft,
            prerelease: false,
            assets,
        }
    }

    #[test]
    fn releases_exclude_what_cannot_be_used() {
        let src = GithubSource::new("o", "r");
        let asset = |name: &str, url: &str, digest: Option<&str>| ApiAsset {
            name: name.into(),
            browser_download_url: url.into(),
            digest: digest.map(str::to_string),
        };
        let sha = format!("sha256:{}", "ab".repeat(32));
        let listed = vec![
            api_release("v1.1.0", true, vec![]),
            api_release(
                "v1.0.0",
                false,
                vec![
                    asset("a", "https://h/a", Some(&sha)),
                    asset("b", "https://h/b", Some("md5:00")),
                    asset("c", "https://h/c", None),
                ],
            ),
            api_release("1.0.0", false, vec![]),
            api_release("nightly", false, vec![]),
            api_release("v0.9", false, vec![asset("x", "ftp://h/x", None)]),
            api_release("v0.8", false, vec![asset("../x", "https://h/x", None)]),
        ];
        let out = to_releases(&src, listed);
        let summary: Vec<(&str, bool)> = out
            .iter()
            .map(|r| (r.version.as_str(), r.excluded.is_some()))
            .collect();
        assert_eq!(
            summary,
            [
                ("1.0.0", false),
                ("1.0.0", true),
                ("nightly", true),
                ("v0.9", true),
                ("v0.8", true)
            ]
        );
        let checks: Vec<Option<String>> = out[0]
            .assets
            .iter()
            .map(|a| a.checksum.as_ref().map(ToString::to_string))
            .collect();
        assert_eq!(checks, [Some(sha), None, None]);
        assert!(
            out[1]
                .excluded
                .as_deref()
                .unwrap()
                .contains("already gives")
        );
        assert!(
            out[3]
                .excluded
                .as_deref()
                .unwrap()
                .contains("not an http(s) URL")
        );
    }
}
