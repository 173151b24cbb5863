//! A local fake of the subset of the GitHub REST API that mirrorkit's `github_release` source uses,
//! plus the release asset downloads.
//!
//! Real sockets on `127.0.0.1:<free port>`, one OS thread accepting and one per connection
//! (HTTP/1.1, `Connection: close` on every response), stopped when dropped — the same shape as
//! [`crate::fileserver`]. Every request is logged with the status it was answered.
//!
//! What it serves, modelled on api.github.com:
//! - `GET /repos/{owner}/{repo}/releases?per_page=N&page=P` (and the same listing under
//!   `/repositories/{id}/releases`, the form GitHub's own `Link` URLs use): a JSON array of release
//!   objects, newest first, `per_page` defaulting to 30 and capped at 100, `page` defaulting to 1.
//!   When there are more pages a `Link` header in GitHub's format
//!   (`<url>; rel="prev", <url>; rel="next", <url>; rel="last", <url>; rel="first"`), with
//!   absolute URLs. An unknown repository answers 404 `{"message":"Not Found",…}`.
//! - A strong `ETag` (SHA-256 of the body) on every listing; `If-None-Match` with it answers
//!   `304 Not Modified` with an empty body, which (as on GitHub) does not use up rate limit.
//! - Rate-limit headers on every API answer (`x-ratelimit-limit`, `-remaining`, `-reset` in epoch
//!   seconds, `-used`, `-resource: core`). When the budget is used up the API answers 403 with
//!   GitHub's message until the reset time passes; then the budget refills (and the next window
//!   is an hour, like GitHub's).
//! - Asset downloads at `browser_download_url` =
//!   `http://127.0.0.1:PORT/{owner}/{repo}/releases/download/{tag}/{name}` with `Content-Length`
//!   and single `Range` requests (206, 416), never rate limited and never requiring a token.
//!
//! Faults for error tests: the next K API requests answer 429 with `Retry-After`
//! ([`GithubFake::fail_next_with_429`]); a 200 whose body is HTML instead of JSON
//! ([`GithubFake::set_malformed`]); a required `Authorization: Bearer <token>` (401 otherwise,
//! [`GithubFake::require_token`]); a fixed page size whatever the client asks
//! ([`GithubFake::set_page_size`]); and broken `Link` headers ([`GithubFake::set_link_fault`]).
//!
//! Which requests count against the budget ("charged"): every API request answered 200 (or 404).
//! Not charged: 304s, the 403s of an exhausted budget, 429 faults and 401s.
//!
//! Why one long file: it is one fake server; the last 250 lines are the unit tests that hold
//! it to GitHub's documented behaviour.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::fileserver::parse_range;

/// The `digest` field a test wants for an asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestMode {
    /// `"sha256:<hex>"` of the asset's bytes, as GitHub publishes.
    Correct,
    /// `null` (older releases on GitHub have no digest).
    None,
    /// A well-formed `sha256:` digest of other bytes: verification must fail.
    Wrong,
    /// This exact string (e.g. an unsupported `"md5:…"` or garbage).
    Raw(String),
}

/// An asset of a [`ReleaseSpec`].
#[derive(Clone, Debug)]
pub struct AssetSpec {
    /// File name (`tool-linux-amd64.tar.gz`).
    pub name: String,
    /// The bytes served at its `browser_download_url`.
    pub bytes: Vec<u8>,
    /// What its `digest` field says.
    pub digest: DigestMode,
}

impl AssetSpec {
    /// An asset with a correct digest.
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> AssetSpec {
        AssetSpec {
            name: name.into(),
            bytes: bytes.into(),
            digest: DigestMode::Correct,
        }
    }

    /// The same asset with another digest mode.
    pub fn with_digest(mut self, digest: DigestMode) -> AssetSpec {
        self.digest = digest;
        self
    }
}

/// A release to add with [`GithubFake::add_release`].
#[derive(Clone, Debug)]
pub struct ReleaseSpec {
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// The tag (`tag_name`; also the release's `name`).
    pub tag: String,
    /// `prerelease` flag.
    pub prerelease: bool,
    /// `draft` flag (drafts have `published_at: null`).
    pub draft: bool,
    /// Its assets.
    pub assets: Vec<AssetSpec>,
}

impl ReleaseSpec {
    /// A published, non-prerelease release without assets.
    pub fn new(owner: &str, repo: &str, tag: &str) -> ReleaseSpec {
        ReleaseSpec {
            owner: owner.to_string(),
            repo: repo.to_string(),
            tag: tag.to_string(),
            prerelease: false,
            draft: false,
            assets: Vec::new(),
        }
    }

    /// Mark it as a prerelease.
    pub fn prerelease(mut self) -> ReleaseSpec {
        self.prerelease = true;
        self
    }

    /// Mark it as a draft.
    pub fn draft(mut self) -> ReleaseSpec {
        self.draft = true;
        self
    }

    /// Add an asset with a correct digest.
    pub fn asset(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> ReleaseSpec {
        self.assets.push(AssetSpec::new(name, bytes));
        self
    }

    /// Add an asset.
    pub fn asset_spec(mut self, asset: AssetSpec) -> ReleaseSpec {
        self.assets.push(asset);
        self
    }
}

/// Broken pagination for error tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkFault {
    /// Correct `Link` headers.
    None,
    /// `rel="next"` always points at page 1 (an endless loop for a naive client).
    Loop,
    /// `rel="next"` points at another origin (`http://other.invalid/…`).
    OtherOrigin,
}

/// What kind of endpoint a request hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// The REST API (`/repos/…`, `/repositories/…`).
    Api,
    /// A release asset download.
    Download,
    /// Anything else (answered 404).
    Other,
}

/// One request as the fake saw it, with the status it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The query string, if any (without `?`).
    pub query: Option<String>,
    /// Which endpoint it hit.
    pub kind: RequestKind,
    /// Whether an `Authorization` header was sent (its value is never recorded).
    pub authorization: bool,
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
    /// Whether it used up rate-limit budget.
    pub charged: bool,
}

impl RequestRecord {
    /// Path and query as sent (`/repos/o/r/releases?per_page=100`).
    pub fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

struct StoredAsset {
    id: u64,
    name: String,
    bytes: Arc<Vec<u8>>,
    digest: DigestMode,
}

struct StoredRelease {
    id: u64,
    repo_key: (String, String),
    tag: String,
    prerelease: bool,
    draft: bool,
    assets: Vec<StoredAsset>,
}

struct RateLimit {
    limit: u64,
    remaining: u64,
    reset_at: SystemTime,
}

struct World {
    /// Oldest first; listings reverse it.
    releases: Vec<StoredRelease>,
    /// (owner, repo) → repository id.
    repos: Vec<((String, String), u64)>,
    next_id: u64,
    rate: RateLimit,
    fail_429: (usize, u64),
    malformed: bool,
    token: Option<String>,
    page_size: Option<usize>,
    link_fault: LinkFault,
}

struct State {
    world: Mutex<World>,
    log: Mutex<Vec<RequestRecord>>,
}

/// A running GitHub fake; stops (and joins its thread) when dropped.
pub struct GithubFake {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Lock a mutex, ignoring poisoning (a panicking test thread must not wedge the server).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Length of GitHub's primary rate-limit window.
const WINDOW: Duration = Duration::from_secs(3600);

impl GithubFake {
    /// Start an empty fake with a budget of 5000 requests per hour.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub fn start() -> GithubFake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let state = Arc::new(State {
            world: Mutex::new(World {
                releases: Vec::new(),
                repos: Vec::new(),
                next_id: 1000,
                rate: RateLimit {
                    limit: 5000,
                    remaining: 5000,
                    reset_at: SystemTime::now() + WINDOW,
                },
                fail_429: (0, 0),
                malformed: false,
                token: None,
                page_size: None,
                link_fault: LinkFault::None,
            }),
            log: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || {
                        let _ = handle(conn, &state, addr);
                    });
                }
            })
        };
        GithubFake {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base URL (`http://127.0.0.1:PORT`), what a spec's `api_url` would be.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/<path>` (a leading `/` in `path` is optional).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// The `browser_download_url` of an asset.
    pub fn download_url(&self, owner: &str, repo: &str, tag: &str, name: &str) -> String {
        format!(
            "http://{}/{owner}/{repo}/releases/download/{tag}/{name}",
            self.addr
        )
    }

    /// Create a repository without releases (listing it answers `[]`, not 404).
    pub fn add_repo(&self, owner: &str, repo: &str) {
        let mut w = lock(&self.state.world);
        repo_id(&mut w, owner, repo);
    }

    /// Publish a release: it becomes the newest (listed first) and gets the highest id so far.
    pub fn add_release(&self, spec: ReleaseSpec) {
        let mut w = lock(&self.state.world);
        repo_id(&mut w, &spec.owner, &spec.repo);
        w.next_id += 1;
        let id = w.next_id;
        let assets = spec
            .assets
            .into_iter()
            .map(|a| {
                w.next_id += 1;
                StoredAsset {
                    id: w.next_id,
                    name: a.name,
                    bytes: Arc::new(a.bytes),
                    digest: a.digest,
                }
            })
            .collect();
        w.releases.push(StoredRelease {
            id,
            repo_key: (spec.owner, spec.repo),
            tag: spec.tag,
            prerelease: spec.prerelease,
            draft: spec.draft,
            assets,
        });
    }

    /// Upload another asset to an existing release (as a release pipeline does asset by asset).
    /// Panics when the release does not exist (a test bug).
    pub fn add_asset(&self, owner: &str, repo: &str, tag: &str, asset: AssetSpec) {
        let mut w = lock(&self.state.world);
        w.next_id += 1;
        let id = w.next_id;
        let release = w
            .releases
            .iter_mut()
            .find(|r| r.repo_key.0 == owner && r.repo_key.1 == repo && r.tag == tag)
            .expect("add_asset: no such release");
        release.assets.push(StoredAsset {
            id,
            name: asset.name,
            bytes: Arc::new(asset.bytes),
            digest: asset.digest,
        });
    }

    /// Set the rate-limit budget: `limit` per window, `remaining` now, refilled `reset_in` from
    /// now (and every hour after that).
    pub fn set_rate_limit(&self, limit: u64, remaining: u64, reset_in: Duration) {
        lock(&self.state.world).rate = RateLimit {
            limit,
            remaining: remaining.min(limit),
            reset_at: SystemTime::now() + reset_in,
        };
    }

    /// Requests left in the current window.
    pub fn rate_limit_remaining(&self) -> u64 {
        let mut w = lock(&self.state.world);
        refill(&mut w.rate);
        w.rate.remaining
    }

    /// The next `times` API requests answer 429 with `Retry-After: <retry_after_secs>`.
    pub fn fail_next_with_429(&self, times: usize, retry_after_secs: u64) {
        lock(&self.state.world).fail_429 = (times, retry_after_secs);
    }

    /// While on, listings answer 200 with an HTML page instead of JSON.
    pub fn set_malformed(&self, on: bool) {
        lock(&self.state.world).malformed = on;
    }

    /// Require `Authorization: Bearer <token>` on API requests (401 otherwise); `None` accepts
    /// anything.
    pub fn require_token(&self, token: Option<String>) {
        lock(&self.state.world).token = token;
    }

    /// Serve `n` releases per page whatever `per_page` asks (`None`: honour `per_page`).
    pub fn set_page_size(&self, n: Option<usize>) {
        lock(&self.state.world).page_size = n.map(|n| n.max(1));
    }

    /// Break the `Link` header.
    pub fn set_link_fault(&self, fault: LinkFault) {
        lock(&self.state.world).link_fault = fault;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.log).clone()
    }

    /// The API requests so far.
    pub fn api_requests(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.kind == RequestKind::Api)
            .collect()
    }

    /// How many API requests used up rate-limit budget.
    pub fn charged_requests(&self) -> usize {
        lock(&self.state.log).iter().filter(|r| r.charged).count()
    }

    /// How many API requests were answered 304 Not Modified.
    pub fn not_modified_requests(&self) -> usize {
        lock(&self.state.log)
            .iter()
            .filter(|r| r.kind == RequestKind::Api && r.status == 304)
            .count()
    }

    /// How many asset download requests arrived (any status).
    pub fn asset_downloads(&self) -> usize {
        lock(&self.state.log)
            .iter()
            .filter(|r| r.kind == RequestKind::Download)
            .count()
    }
}

impl Drop for GithubFake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The id of a repository, created on first use.
fn repo_id(w: &mut World, owner: &str, repo: &str) -> u64 {
    let key = (owner.to_string(), repo.to_string());
    if let Some((_, id)) = w.repos.iter().find(|(k, _)| *k == key) {
        return *id;
    }
    w.next_id += 1;
    let id = w.next_id;
    w.repos.push((key, id));
    id
}

/// Start a new window once the reset time has passed.
fn refill(rate: &mut RateLimit) {
    let now = SystemTime::now();
    if now >= rate.reset_at {
        rate.remaining = rate.limit;
        rate.reset_at = now + WINDOW;
    }
}

fn epoch_secs(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Round up: a client waiting until this second must not arrive before the refill.
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A response to write: status, extra headers, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    charged: bool,
}

impl Answer {
    fn json(status: u16, body: &serde_json::Value) -> Answer {
        Answer {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string().into_bytes(),
            charged: false,
        }
    }

    fn message(status: u16, message: &str, doc: &str) -> Answer {
        Answer::json(
            status,
            &serde_json::json!({
                "message": message,
                "documentation_url": doc,
                "status": status.to_string(),
            }),
        )
    }
}

/// The parsed request head.
struct Request {
    method: String,
    path: String,
    query: Option<String>,
    headers: HashMap<String, String>,
}

fn read_request(conn: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok(Some(Request {
        method: method.to_string(),
        path,
        query,
        headers,
    }))
}

fn handle(mut conn: TcpStream, state: &State, addr: SocketAddr) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let Some(req) = read_request(&conn)? else {
        return Ok(());
    };
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let kind = match segments.as_slice() {
        ["repos", ..] | ["repositories", ..] => RequestKind::Api,
        [_, _, "releases", "download", _, _] => RequestKind::Download,
        _ => RequestKind::Other,
    };
    let record = |status: u16, charged: bool| RequestRecord {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        kind,
        authorization: req.headers.contains_key("authorization"),
        if_none_match: req.headers.get("if-none-match").cloned(),
        range: req.headers.get("range").cloned(),
        status,
        charged,
    };
    match kind {
        RequestKind::Download => download(conn, state, &req, &segments, record),
        RequestKind::Other => {
            lock(&state.log).push(record(404, false));
            write_answer(&mut conn, &req, Answer::message(404, "Not Found", DOCS))
        }
        RequestKind::Api => {
            let answer = api(state, &req, &segments, addr);
            // Logged before answering, so a client that has its answer sees it in the log.
            lock(&state.log).push(record(answer.status, answer.charged));
            write_answer(&mut conn, &req, answer)
        }
    }
}

const DOCS: &str = "https://docs.github.com/rest";

/// Answer an API request: auth, faults, rate limit, then the listing.
fn api(state: &State, req: &Request, segments: &[&str], addr: SocketAddr) -> Answer {
    let mut w = lock(&state.world);
    refill(&mut w.rate);
    let rate_headers = |rate: &RateLimit| -> Vec<(String, String)> {
        vec![
            ("x-ratelimit-limit".into(), rate.limit.to_string()),
            ("x-ratelimit-remaining".into(), rate.remaining.to_string()),
            (
                "x-ratelimit-reset".into(),
                epoch_secs(rate.reset_at).to_string(),
            ),
            (
                "x-ratelimit-used".into(),
                (rate.limit - rate.remaining).to_string(),
            ),
            ("x-ratelimit-resource".into(), "core".into()),
        ]
    };
    let with_rate = |mut a: Answer, rate: &RateLimit| {
        a.headers.extend(rate_headers(rate));
        a
    };

    if let Some(token) = &w.token {
        let want = format!("Bearer {token}");
        if req.headers.get("authorization") != Some(&want) {
            return with_rate(Answer::message(401, "Bad credentials", DOCS), &w.rate);
        }
    }
    if w.fail_429.0 > 0 {
        w.fail_429.0 -= 1;
        let mut a = Answer::message(
            429,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        );
        a.headers
            .push(("Retry-After".into(), w.fail_429.1.to_string()));
        return with_rate(a, &w.rate);
    }
    if w.rate.remaining == 0 {
        return with_rate(
            Answer::message(
                403,
                "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated \
                 requests get a higher rate limit. Check out the documentation for more details.)",
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            ),
            &w.rate,
        );
    }

    // Resolve the repository.
    let (key, id) = match segments {
        ["repos", owner, repo, "releases"] => {
            let key = (owner.to_string(), repo.to_string());
            match w.repos.iter().find(|(k, _)| *k == key) {
                Some((_, id)) => (key, *id),
                None => return charge(&mut w, Answer::message(404, "Not Found", DOCS)),
            }
        }
        ["repositories", id, "releases"] => {
            match w.repos.iter().find(|(_, i)| i.to_string() == *id) {
                Some((k, i)) => (k.clone(), *i),
                None => return charge(&mut w, Answer::message(404, "Not Found", DOCS)),
            }
        }
        _ => return charge(&mut w, Answer::message(404, "Not Found", DOCS)),
    };

    // Pagination.
    let params: Vec<(String, String)> = req
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let asked_per_page = param("per_page");
    let per_page = w
        .page_size
        .unwrap_or_else(|| asked_per_page.unwrap_or(30).clamp(1, 100));
    let page = param("page").unwrap_or(1).max(1);
    let listed: Vec<&StoredRelease> = w
        .releases
        .iter()
        .rev()
        .filter(|r| r.repo_key == key)
        .collect();
    let last = listed.len().div_ceil(per_page).max(1);
    let items: Vec<serde_json::Value> = listed
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|r| release_json(r, &key, addr))
        .collect();

    let body = if w.malformed {
        b"<!DOCTYPE html>\n<html><head><title>Unicorn! &middot; GitHub</title></head>\
          <body><p>No server is currently available to service your request.</p></body></html>\n"
            .to_vec()
    } else {
        serde_json::Value::Array(items).to_string().into_bytes()
    };
    let etag = format!("\"{}\"", sha256_hex(&body));
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            if w.malformed {
                "text/html; charset=utf-8".to_string()
            } else {
                "application/json; charset=utf-8".to_string()
            },
        ),
        ("ETag".to_string(), etag.clone()),
        (
            "Cache-Control".to_string(),
            "private, max-age=60, s-maxage=60".to_string(),
        ),
        (
            "Vary".to_string(),
            "Accept, Authorization, Cookie, X-GitHub-OTP".to_string(),
        ),
        (
            "X-GitHub-Media-Type".to_string(),
            "github.v3; format=json".to_string(),
        ),
    ];
    if let Some(link) = link_header(addr, id, asked_per_page, page, last, w.link_fault) {
        headers.push(("Link".to_string(), link));
    }

    if let Some(inm) = req.headers.get("if-none-match") {
        let matches = inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag);
        if matches {
            headers.retain(|(k, _)| k != "Content-Type");
            headers.extend(rate_headers(&w.rate));
            return Answer {
                status: 304,
                headers,
                body: Vec::new(),
                charged: false,
            };
        }
    }
    charge(
        &mut w,
        Answer {
            status: 200,
            headers,
            body,
            charged: true,
        },
    )
}

/// Use up one request of the budget and add the rate-limit headers (after the decrement, as
/// GitHub reports them).
fn charge(w: &mut World, mut a: Answer) -> Answer {
    w.rate.remaining = w.rate.remaining.saturating_sub(1);
    a.charged = true;
    let rate = &w.rate;
    a.headers.extend([
        ("x-ratelimit-limit".to_string(), rate.limit.to_string()),
        (
            "x-ratelimit-remaining".to_string(),
            rate.remaining.to_string(),
        ),
        (
            "x-ratelimit-reset".to_string(),
            epoch_secs(rate.reset_at).to_string(),
        ),
        (
            "x-ratelimit-used".to_string(),
            (rate.limit - rate.remaining).to_string(),
        ),
        ("x-ratelimit-resource".to_string(), "core".to_string()),
    ]);
    a
}

/// GitHub's `Link` header: `prev`, `next`, `last`, `first` as they apply; `None` for one page.
fn link_header(
    addr: SocketAddr,
    repo_id: u64,
    per_page: Option<usize>,
    page: usize,
    last: usize,
    fault: LinkFault,
) -> Option<String> {
    let url = |p: usize| {
        let base = match fault {
            LinkFault::OtherOrigin => "http://other.invalid".to_string(),
            _ => format!("http://{addr}"),
        };
        match per_page {
            Some(n) => format!("<{base}/repositories/{repo_id}/releases?per_page={n}&page={p}>"),
            None => format!("<{base}/repositories/{repo_id}/releases?page={p}>"),
        }
    };
    let mut parts = Vec::new();
    if page > 1 {
        parts.push(format!("{}; rel=\"prev\"", url((page - 1).min(last))));
    }
    if page < last {
        let next = if fault == LinkFault::Loop {
            1
        } else {
            page + 1
        };
        parts.push(format!("{}; rel=\"next\"", url(next)));
        parts.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        parts.push(format!("{}; rel=\"first\"", url(1)));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A release object as GitHub renders it (the fields mirrorkit reads, plus a few it must ignore).
fn release_json(r: &StoredRelease, key: &(String, String), addr: SocketAddr) -> serde_json::Value {
    let (owner, repo) = key;
    let api = format!("http://{addr}/repos/{owner}/{repo}");
    let time = timestamp(r.id);
    let assets: Vec<serde_json::Value> = r
        .assets
        .iter()
        .map(|a| {
            let digest = match &a.digest {
                DigestMode::Correct => {
                    serde_json::json!(format!("sha256:{}", sha256_hex(&a.bytes)))
                }
                DigestMode::None => serde_json::Value::Null,
                DigestMode::Wrong => {
                    let mut other = a.bytes.to_vec();
                    other.extend_from_slice(b"not these bytes");
                    serde_json::json!(format!("sha256:{}", sha256_hex(&other)))
                }
                DigestMode::Raw(s) => serde_json::json!(s),
            };
            serde_json::json!({
                "url": format!("{api}/releases/assets/{}", a.id),
                "id": a.id,
                "node_id": format!("RA_{}", a.id),
                "name": a.name,
                "label": "",
                "content_type": "application/octet-stream",
                "state": "uploaded",
                "size": a.bytes.len(),
                "digest": digest,
                "download_count": 0,
                "created_at": time,
                "updated_at": time,
                "browser_download_url": format!(
                    "http://{addr}/{owner}/{repo}/releases/download/{}/{}",
                    r.tag, a.name
                ),
            })
        })
        .collect();
    serde_json::json!({
        "url": format!("{api}/releases/{}", r.id),
        "html_url": format!("http://{addr}/{owner}/{repo}/releases/tag/{}", r.tag),
        "id": r.id,
        "node_id": format!("RE_{}", r.id),
        "tag_name": r.tag,
        "target_commitish": "main",
        "name": r.tag,
        "draft": r.draft,
        "immutable": false,
        "prerelease": r.prerelease,
        "created_at": time,
        "published_at": if r.draft { serde_json::Value::Null } else { serde_json::json!(time) },
        "assets": assets,
        "tarball_url": format!("{api}/tarball/{}", r.tag),
        "zipball_url": format!("{api}/zipball/{}", r.tag),
        "body": format!("Release {}", r.tag),
    })
}

/// A deterministic timestamp, later for higher ids.
fn timestamp(id: u64) -> String {
    format!(
        "2024-01-{:02}T{:02}:{:02}:{:02}Z",
        1 + (id / 86_400) % 28,
        (id / 3600) % 24,
        (id / 60) % 60,
        id % 60
    )
}

fn download<F>(
    mut conn: TcpStream,
    state: &State,
    req: &Request,
    segments: &[&str],
    record: F,
) -> std::io::Result<()>
where
    F: Fn(u16, bool) -> RequestRecord,
{
    let bytes = match segments {
        [owner, repo, "releases", "download", tag, name] => {
            let w = lock(&state.world);
            w.releases
                .iter()
                .find(|r| r.repo_key.0 == *owner && r.repo_key.1 == *repo && r.tag == *tag)
                .and_then(|r| r.assets.iter().find(|a| a.name == *name))
                .map(|a| a.bytes.clone())
        }
        _ => None,
    };
    let Some(bytes) = bytes else {
        lock(&state.log).push(record(404, false));
        return write_head(&mut conn, 404, "Content-Length: 0\r\n");
    };
    let len = bytes.len() as u64;
    let mut headers =
        String::from("Accept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n");
    let range = match req.headers.get("range") {
        Some(h) => parse_range(h, len),
        None => Ok(None),
    };
    let (status, start, count) = match range {
        Err(()) => {
            lock(&state.log).push(record(416, false));
            headers.push_str(&format!(
                "Content-Range: bytes */{len}\r\nContent-Length: 0\r\n"
            ));
            return write_head(&mut conn, 416, &headers);
        }
        Ok(Some((start, end))) => {
            headers.push_str(&format!("Content-Range: bytes {start}-{end}/{len}\r\n"));
            (206, start, end - start + 1)
        }
        Ok(None) => (200, 0, len),
    };
    headers.push_str(&format!("Content-Length: {count}\r\n"));
    lock(&state.log).push(record(status, false));
    write_head(&mut conn, status, &headers)?;
    if req.method == "HEAD" {
        return Ok(());
    }
    let (s, e) = (start as usize, (start + count) as usize);
    for piece in bytes[s..e].chunks(64 * 1024) {
        conn.write_all(piece)?;
    }
    conn.flush()
}

fn write_answer(conn: &mut TcpStream, req: &Request, a: Answer) -> std::io::Result<()> {
    let mut head = String::new();
    for (k, v) in &a.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    // A 304 has no body and no Content-Length of one.
    if a.status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", a.body.len()));
    }
    write_head(conn, a.status, &head)?;
    if req.method != "HEAD" && a.status != 304 {
        conn.write_all(&a.body)?;
    }
    conn.flush()
}

fn write_head(conn: &mut TcpStream, status: u16, headers: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        304 => "Not Modified",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        _ => "Status",
    };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\n{headers}Connection: close\r\n\r\n"
    )?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    struct Reply {
        status: u16,
        head: String,
        body: Vec<u8>,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<String> {
            self.head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        }

        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    fn get(fake: &GithubFake, target: &str, extra: &str) -> Reply {
        let mut c = TcpStream::connect(fake.addr()).unwrap();
        write!(c, "GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&out[..split]).into_owned();
        let status = head[9..12].parse().unwrap();
        Reply {
            status,
            head,
            body: out[split + 4..].to_vec(),
        }
    }

    fn world(n: usize) -> GithubFake {
        let fake = GithubFake::start();
        for i in 1..=n {
            fake.add_release(
                ReleaseSpec::new("o", "r", &format!("v1.{i}.0"))
                    .asset(&format!("tool-{i}.tar.gz"), format!("bytes {i}")),
            );
        }
        fake
    }

    #[test]
    fn lists_newest_first_with_github_link_headers() {
        let fake = world(5);
        let r = get(&fake, "/repos/o/r/releases?per_page=2", "");
        assert_eq!(r.status, 200);
        let tags: Vec<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["tag_name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(tags, ["v1.5.0", "v1.4.0"]);
        let a = fake.addr();
        assert_eq!(fake.api_requests().len(), 1);
        let link = r.header("link").unwrap();
        let rid = link
            .split("/repositories/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            link,
            format!(
                "<http://{a}/repositories/{rid}/releases?per_page=2&page=2>; rel=\"next\", \
                 <http://{a}/repositories/{rid}/releases?per_page=2&page=3>; rel=\"last\""
            )
        );
        // Follow it: the middle page has all four relations.
        let r2 = get(
            &fake,
            &format!("/repositories/{rid}/releases?per_page=2&page=2"),
            "",
        );
        assert_eq!(r2.json()[0]["tag_name"], "v1.3.0");
        assert_eq!(
            r2.header("link").unwrap(),
            format!(
                "<http://{a}/repositories/{rid}/releases?per_page=2&page=1>; rel=\"prev\", \
                 <http://{a}/repositories/{rid}/releases?per_page=2&page=3>; rel=\"next\", \
                 <http://{a}/repositories/{rid}/releases?per_page=2&page=3>; rel=\"last\", \
                 <http://{a}/repositories/{rid}/releases?per_page=2&page=1>; rel=\"first\""
            )
        );
        let r3 = get(&fake, "/repos/o/r/releases?per_page=2&page=3", "");
        assert_eq!(r3.json().as_array().unwrap().len(), 1);
        assert!(!r3.header("link").unwrap().contains("rel=\"next\""));
        // One page: no Link at all; past the end: [].
        assert!(
            get(&fake, "/repos/o/r/releases", "")
                .header("link")
                .is_none()
        );
        assert_eq!(
            get(&fake, "/repos/o/r/releases?page=9", "").json(),
            serde_json::json!([])
        );
        assert_eq!(get(&fake, "/repos/o/nope/releases", "").status, 404);
    }

    #[test]
    fn release_objects_look_like_githubs() {
        let fake = GithubFake::start();
        fake.add_release(
            ReleaseSpec::new("o", "r", "v2")
                .prerelease()
                .asset("a", b"abc".to_vec())
                .asset_spec(AssetSpec::new("b", b"x".to_vec()).with_digest(DigestMode::None))
                .asset_spec(AssetSpec::new("c", b"x".to_vec()).with_digest(DigestMode::Wrong)),
        );
        fake.add_release(ReleaseSpec::new("o", "r", "v3").draft());
        let list = get(&fake, "/repos/o/r/releases", "").json();
        assert_eq!(list[0]["draft"], true);
        assert!(list[0]["published_at"].is_null());
        let rel = &list[1];
        assert!(rel["id"].as_u64().unwrap() < list[0]["id"].as_u64().unwrap());
        assert_eq!(rel["prerelease"], true);
        let assets = rel["assets"].as_array().unwrap();
        assert_eq!(
            assets[0]["digest"],
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(assets[0]["size"], 3);
        assert!(assets[1]["digest"].is_null());
        assert_ne!(assets[2]["digest"], format!("sha256:{}", sha256_hex(b"x")));
        let url = assets[0]["browser_download_url"].as_str().unwrap();
        assert_eq!(url, fake.download_url("o", "r", "v2", "a"));
        let path = url.split_once(&fake.api_url()).unwrap().1;
        let d = get(&fake, path, "");
        assert_eq!((d.status, d.body.as_slice()), (200, b"abc".as_slice()));
        let d = get(&fake, path, "Range: bytes=1-\r\n");
        assert_eq!((d.status, d.body.as_slice()), (206, b"bc".as_slice()));
        assert_eq!(get(&fake, path, "Range: bytes=3-\r\n").status, 416);
        assert_eq!(fake.asset_downloads(), 3);
    }

    #[test]
    fn etag_and_304_are_not_charged() {
        let fake = world(3);
        let r = get(&fake, "/repos/o/r/releases", "");
        let etag = r.header("etag").unwrap();
        assert_eq!(etag, format!("\"{}\"", sha256_hex(&r.body)));
        assert_eq!(r.header("x-ratelimit-remaining").unwrap(), "4999");
        let again = get(
            &fake,
            "/repos/o/r/releases",
            &format!("If-None-Match: {etag}\r\n"),
        );
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(again.header("x-ratelimit-remaining").unwrap(), "4999");
        assert_eq!(again.header("etag").unwrap(), etag);
        assert_eq!(
            (fake.charged_requests(), fake.not_modified_requests()),
            (1, 1)
        );
        fake.add_release(ReleaseSpec::new("o", "r", "v9"));
        let changed = get(
            &fake,
            "/repos/o/r/releases",
            &format!("If-None-Match: {etag}\r\n"),
        );
        assert_eq!(changed.status, 200);
        assert_eq!(fake.charged_requests(), 2);
        let log = fake.requests();
        assert_eq!(log[1].if_none_match.as_deref(), Some(etag.as_str()));
        assert_eq!(log[1].status, 304);
    }

    #[test]
    fn rate_limit_429_token_and_malformed_faults() {
        let fake = world(1);
        fake.set_rate_limit(60, 1, Duration::from_secs(1));
        assert_eq!(get(&fake, "/repos/o/r/releases", "").status, 200);
        let r = get(&fake, "/repos/o/r/releases", "");
        assert_eq!(r.status, 403);
        assert_eq!(r.header("x-ratelimit-remaining").unwrap(), "0");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .starts_with("API rate limit exceeded for ")
        );
        let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset <= epoch_secs(SystemTime::now()) + 2);
        std::thread::sleep(Duration::from_millis(1100));
        let r = get(&fake, "/repos/o/r/releases", "");
        assert_eq!(r.status, 200, "refilled after the reset");
        assert_eq!(r.header("x-ratelimit-remaining").unwrap(), "59");

        fake.fail_next_with_429(2, 7);
        let r = get(&fake, "/repos/o/r/releases", "");
        assert_eq!(
            (r.status, r.header("retry-after").as_deref()),
            (429, Some("7"))
        );
        assert_eq!(get(&fake, "/repos/o/r/releases", "").status, 429);
        assert_eq!(get(&fake, "/repos/o/r/releases", "").status, 200);

        fake.require_token(Some("t0k".into()));
        assert_eq!(get(&fake, "/repos/o/r/releases", "").status, 401);
        let r = get(
            &fake,
            "/repos/o/r/releases",
            "Authorization: Bearer t0k\r\n",
        );
        assert_eq!(r.status, 200);
        assert!(fake.requests().last().unwrap().authorization);

        fake.set_malformed(true);
        let r = get(
            &fake,
            "/repos/o/r/releases",
            "Authorization: Bearer t0k\r\n",
        );
        assert_eq!(r.status, 200);
        assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    }

    #[test]
    fn page_size_override_and_link_faults() {
        let fake = world(3);
        fake.set_page_size(Some(1));
        let r = get(&fake, "/repos/o/r/releases?per_page=100", "");
        assert_eq!(r.json().as_array().unwrap().len(), 1);
        assert!(
            r.header("link")
                .unwrap()
                .contains("per_page=100&page=2>; rel=\"next\"")
        );
        fake.set_link_fault(LinkFault::Loop);
        let r = get(&fake, "/repos/o/r/releases?page=2", "");
        assert!(r.header("link").unwrap().contains("page=1>; rel=\"next\""));
        fake.set_link_fault(LinkFault::OtherOrigin);
        let r = get(&fake, "/repos/o/r/releases", "");
        assert!(
            r.header("link")
                .unwrap()
                .starts_with("<http://other.invalid/")
        );
    }
}
