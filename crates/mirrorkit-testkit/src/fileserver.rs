//! A local HTTP/1.1 file server with a fault mode (429 + Retry-After, 500, reset mid-body).
//!
//! Real sockets on `127.0.0.1:<free port>`, one OS thread accepting and one per connection, so it
//! works the same from sync tests and from any tokio runtime. Stopped when dropped.
//!
//! It speaks just enough HTTP for downloads: `GET`/`HEAD`, `Content-Length`, a single
//! `Range: bytes=…` (206 + `Content-Range`, 416 past the end), optional `ETag` + `If-Range`, and
//! `Connection: close` on every response (one request per connection keeps it simple and makes a
//! mid-body reset unambiguous). Faults are programmed per path and apply to the first K requests
//! for that path; every request is logged.
//!
//! Why one long file: one small HTTP server with its fault injection; the last 100 lines are
//! its unit tests.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// A misbehaviour to inject for the first `times` requests of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer `status` (with an empty body and an optional `Retry-After` header).
    Status {
        /// The status code to answer.
        status: u16,
        /// `Retry-After` header value, if any.
        retry_after: Option<String>,
        /// How many requests get this answer.
        times: usize,
    },
    /// Send the headers and `bytes` bytes of the body, then reset the connection (TCP RST).
    ResetAfter {
        /// Body bytes sent before the reset.
        bytes: u64,
        /// How many requests get cut off.
        times: usize,
    },
    /// Send the headers and `bytes` bytes of the body, then close the connection cleanly (FIN):
    /// the client reliably receives exactly `bytes` bytes and then sees a short body. Use this
    /// when a test asserts the exact offset of the resumed request; a reset may discard bytes
    /// the client had not read yet.
    CloseAfter {
        /// Body bytes sent before the close.
        bytes: u64,
        /// How many requests get cut off.
        times: usize,
    },
    /// Send the headers and `bytes` bytes of the body, then hang (no more bytes, connection
    /// open) until the fault is cleared or two minutes pass: a download stuck mid-body, for
    /// tests that kill the client while it waits.
    StallAfter {
        /// Body bytes sent before stalling.
        bytes: u64,
        /// How many requests stall.
        times: usize,
    },
    /// Answer 200 without `Content-Length` and send zeros until the client hangs up: a body that
    /// never ends.
    Endless {
        /// How many requests get it.
        times: usize,
    },
    /// Ignore `Range` and answer 200 with the whole file (servers that do not support ranges).
    IgnoreRange {
        /// How many requests get the whole file.
        times: usize,
    },
}

impl Fault {
    /// 429 with `Retry-After: <retry_after_secs>` for the first `times` requests.
    pub fn too_many_requests(times: usize, retry_after_secs: u64) -> Fault {
        Fault::Status {
            status: 429,
            retry_after: Some(retry_after_secs.to_string()),
            times,
        }
    }

    /// 500 for the first `times` requests.
    pub fn server_error(times: usize) -> Fault {
        Fault::Status {
            status: 500,
            retry_after: None,
            times,
        }
    }

    /// `status` for the first `times` requests (`usize::MAX` for always).
    pub fn status(status: u16, times: usize) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
            times,
        }
    }

    /// Reset the connection after `bytes` body bytes for the first `times` requests.
    pub fn reset_after(bytes: u64, times: usize) -> Fault {
        Fault::ResetAfter { bytes, times }
    }

    /// Close the connection cleanly after `bytes` body bytes for the first `times` requests.
    pub fn close_after(bytes: u64, times: usize) -> Fault {
        Fault::CloseAfter { bytes, times }
    }

    /// Hang after `bytes` body bytes (until the fault is cleared) for the first `times` requests.
    pub fn stall_after(bytes: u64, times: usize) -> Fault {
        Fault::StallAfter { bytes, times }
    }

    fn times(&self) -> usize {
        match self {
            Fault::Status { times, .. }
            | Fault::ResetAfter { times, .. }
            | Fault::CloseAfter { times, .. }
            | Fault::StallAfter { times, .. }
            | Fault::Endless { times }
            | Fault::IgnoreRange { times } => *times,
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, without the query string (`/dir/file.tar.gz`).
    pub path: String,
    /// The query string, if any (without `?`).
    pub query: Option<String>,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `If-Range` header, if any.
    pub if_range: Option<String>,
    /// Whether an `Authorization` header was sent (its value is never recorded).
    pub authorization: bool,
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
}

/// Where the served bytes come from.
enum Content {
    Dir(PathBuf),
    Memory,
}

struct State {
    content: Content,
    files: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    faults: Mutex<HashMap<String, (Fault, usize)>>,
    log: Mutex<Vec<RequestRecord>>,
    etags: AtomicBool,
    /// The `Authorization` header every request must carry, if any.
    required_auth: Mutex<Option<String>>,
}

/// A running file server; stops (and joins its thread) when dropped.
pub struct FileServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Lock a mutex, ignoring poisoning (a panicking test thread must not wedge the server).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FileServer {
    /// Serve the files under `root` (request `/a/b` → `root/a/b`).
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub fn start(root: impl Into<PathBuf>) -> FileServer {
        Self::spawn(Content::Dir(root.into()))
    }

    /// Serve in-memory files (path → bytes); add more with [`FileServer::put`].
    pub fn with_files<I, P>(files: I) -> FileServer
    where
        I: IntoIterator<Item = (P, Vec<u8>)>,
        P: Into<String>,
    {
        let server = Self::spawn(Content::Memory);
        for (path, bytes) in files {
            server.put(&path.into(), bytes);
        }
        server
    }

    fn spawn(content: Content) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let state = Arc::new(State {
            content,
            files: Mutex::new(HashMap::new()),
            faults: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            etags: AtomicBool::new(false),
            required_auth: Mutex::new(None),
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
                        // A client that goes away mid-response is normal in fault tests.
                        let _ = handle(conn, &state);
                    });
                }
            })
        };
        FileServer {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/<path>` (a leading `/` in `path` is optional).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Add or replace an in-memory file (also works on a directory server: memory wins).
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        lock(&self.state.files).insert(normalize(path), Arc::new(bytes));
    }

    /// Inject `fault` for the next requests of `path` (replaces an earlier fault for it).
    pub fn set_fault(&self, path: &str, fault: Fault) {
        lock(&self.state.faults).insert(normalize(path), (fault, 0));
    }

    /// Remove the fault of `path`, if any.
    pub fn clear_fault(&self, path: &str) {
        lock(&self.state.faults).remove(&normalize(path));
    }

    /// Send an `ETag` (derived from size and mtime, or the content for in-memory files), honour
    /// `If-Range`, and answer a matching `If-None-Match` with 304.
    pub fn set_etags(&self, on: bool) {
        self.state.etags.store(on, Ordering::SeqCst);
    }

    /// Answer 401 (with a `WWW-Authenticate: Basic` challenge) to every request that does not
    /// carry these HTTP Basic credentials.
    pub fn require_basic_auth(&self, username: &str, password: &str) {
        use base64::Engine as _;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        *lock(&self.state.required_auth) = Some(format!("Basic {token}"));
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.log).clone()
    }

    /// The requests so far for one path.
    pub fn requests_for(&self, path: &str) -> Vec<RequestRecord> {
        let path = normalize(path);
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn normalize(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// The parsed request head.
struct Request {
    method: String,
    path: String,
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
    let (method, path) = (method.to_string(), target.to_string());
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
        method,
        path,
        headers,
    }))
}

/// A file to serve: its length and a way to read a range of it.
enum Body {
    File(std::fs::File, u64, String),
    Memory(Arc<Vec<u8>>),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::File(_, len, _) => *len,
            Body::Memory(b) => b.len() as u64,
        }
    }

    fn etag(&self) -> String {
        match self {
            Body::File(_, _, tag) => tag.clone(),
            Body::Memory(b) => {
                // FNV-1a: stable and dependency-free; collisions do not matter in tests.
                let h = b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
                    (h ^ u64::from(x)).wrapping_mul(0x100000001b3)
                });
                format!("\"{h:016x}\"")
            }
        }
    }

    /// Write bytes `start..start+len` to `out`, in 64 KiB pieces (never the whole file at once).
    fn write_range(&mut self, out: &mut TcpStream, start: u64, len: u64) -> std::io::Result<()> {
        match self {
            Body::Memory(b) => {
                let (s, e) = (start as usize, (start + len) as usize);
                for piece in b[s..e].chunks(64 * 1024) {
                    out.write_all(piece)?;
                }
            }
            Body::File(f, _, _) => {
                f.seek(SeekFrom::Start(start))?;
                let mut buf = vec![0u8; 64 * 1024];
                let mut left = len;
                while left > 0 {
                    let want = buf.len().min(left as usize);
                    let n = f.read(&mut buf[..want])?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])?;
                    left -= n as u64;
                }
            }
        }
        out.flush()
    }
}

fn open(state: &State, path: &str) -> Option<Body> {
    if let Some(b) = lock(&state.files).get(path) {
        return Some(Body::Memory(b.clone()));
    }
    let Content::Dir(root) = &state.content else {
        return None;
    };
    let rel = Path::new(path.trim_start_matches('/'));
    // No `..` escapes from the root.
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel);
    let meta = std::fs::metadata(&full).ok().filter(|m| m.is_file())?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_nanos();
    let tag = format!("\"{}-{mtime}\"", meta.len());
    Some(Body::File(std::fs::File::open(full).ok()?, meta.len(), tag))
}

/// Parse a single `bytes=` range against a body of `len` bytes: `Ok(Some((start, end_inclusive)))`,
/// `Ok(None)` for a header we ignore (multi-range, other units), `Err(())` if unsatisfiable.
#[allow(clippy::result_unit_err)]
pub fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix range: the last N bytes.
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || len == 0 {
            return Err(());
        }
        return Ok(Some((len.saturating_sub(n), len - 1)));
    }
    let start: u64 = a.parse().map_err(|_| ())?;
    let end = if b.is_empty() {
        len.saturating_sub(1)
    } else {
        b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
    };
    if start >= len || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

fn handle(mut conn: TcpStream, state: &State) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let Some(req) = read_request(&conn)? else {
        return Ok(());
    };
    let (path, query) = match req.path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (req.path.clone(), None),
    };
    lock(&state.log).push(RequestRecord {
        method: req.method.clone(),
        path: path.clone(),
        query,
        range: req.headers.get("range").cloned(),
        if_range: req.headers.get("if-range").cloned(),
        authorization: req.headers.contains_key("authorization"),
        if_none_match: req.headers.get("if-none-match").cloned(),
    });

    let required = lock(&state.required_auth).clone();
    if let Some(required) = required
        && req.headers.get("authorization") != Some(&required)
    {
        return write_head(
            &mut conn,
            401,
            "WWW-Authenticate: Basic realm=\"charts\"\r\nContent-Length: 0\r\n",
        );
    }

    // Take one use of this path's fault, if it has any left.
    let fault = {
        let mut faults = lock(&state.faults);
        match faults.get_mut(&path) {
            Some((fault, used)) if *used < fault.times() => {
                *used += 1;
                Some(fault.clone())
            }
            _ => None,
        }
    };

    if let Some(Fault::Status {
        status,
        retry_after,
        ..
    }) = &fault
    {
        let extra = retry_after
            .as_ref()
            .map(|r| format!("Retry-After: {r}\r\n"))
            .unwrap_or_default();
        return write_head(&mut conn, *status, &format!("{extra}Content-Length: 0\r\n"));
    }

    if let Some(Fault::Endless { .. }) = fault {
        write_head(&mut conn, 200, "")?;
        let zeros = vec![0u8; 1 << 20];
        loop {
            conn.write_all(&zeros)?;
        }
    }
    let Some(mut body) = open(state, &path) else {
        return write_head(&mut conn, 404, "Content-Length: 0\r\n");
    };
    let len = body.len();
    let etags = state.etags.load(Ordering::SeqCst);
    let etag = body.etag();
    let mut headers = String::from("Accept-Ranges: bytes\r\n");
    if etags {
        headers.push_str(&format!("ETag: {etag}\r\n"));
    }

    if etags && req.headers.get("if-none-match") == Some(&etag) {
        return write_head(&mut conn, 304, &format!("ETag: {etag}\r\n"));
    }

    let ignore_range = matches!(fault, Some(Fault::IgnoreRange { .. }))
        // If-Range that does not match the current validator means "send it all" (RFC 9110).
        || req
            .headers
            .get("if-range")
            .is_some_and(|v| !etags || *v != etag);
    let range = match req.headers.get("range") {
        Some(h) if !ignore_range => parse_range(h, len),
        _ => Ok(None),
    };
    let (status, start, count) = match range {
        Err(()) => {
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
    write_head(&mut conn, status, &headers)?;
    if req.method == "HEAD" {
        return Ok(());
    }
    if let Some(Fault::ResetAfter { bytes, .. }) = fault {
        body.write_range(&mut conn, start, bytes.min(count))?;
        // SO_LINGER 0 turns the close into a TCP RST: "connection reset by peer" on the client.
        socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO))?;
        return Ok(());
    }
    if let Some(Fault::CloseAfter { bytes, .. }) = fault {
        body.write_range(&mut conn, start, bytes.min(count))?;
        return conn.shutdown(std::net::Shutdown::Both);
    }
    if let Some(Fault::StallAfter { bytes, .. }) = fault {
        body.write_range(&mut conn, start, bytes.min(count))?;
        conn.flush()?;
        let until = std::time::Instant::now() + Duration::from_secs(120);
        while std::time::Instant::now() < until && lock(&state.faults).contains_key(&path) {
            std::thread::sleep(Duration::from_millis(50));
        }
        return conn.shutdown(std::net::Shutdown::Both);
    }
    body.write_range(&mut conn, start, count)
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
        500 => "Internal Server Error",
        503 => "Service Unavailable",
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

    fn get(server: &FileServer, path: &str, extra: &str) -> (String, Vec<u8>) {
        let mut c = TcpStream::connect(server.addr()).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&out[..split]).into_owned();
        (head, out[split + 4..].to_vec())
    }

    #[test]
    fn serves_ranges_and_logs_requests() {
        let server = FileServer::with_files([("/f", b"0123456789".to_vec())]);
        let (head, body) = get(&server, "/f", "");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, b"0123456789");
        let (head, body) = get(
            &server,
            "/f?x=1",
            "Range: bytes=4-\r\nAuthorization: Basic x\r\n",
        );
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert!(head.contains("Content-Range: bytes 4-9/10"), "{head}");
        assert_eq!(body, b"456789");
        let (head, _) = get(&server, "/f", "Range: bytes=10-\r\n");
        assert!(head.starts_with("HTTP/1.1 416"), "{head}");
        let (head, _) = get(&server, "/nope", "");
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        let log = server.requests_for("/f");
        assert_eq!(log.len(), 3);
        assert_eq!(log[1].range.as_deref(), Some("bytes=4-"));
        assert_eq!(log[1].query.as_deref(), Some("x=1"));
        assert!(log[1].authorization && !log[0].authorization);
    }

    #[test]
    fn faults_apply_to_the_first_k_requests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"abcdef").unwrap();
        let server = FileServer::start(dir.path());
        server.set_fault("a", Fault::too_many_requests(2, 1));
        let (h1, _) = get(&server, "/a", "");
        let (h2, _) = get(&server, "/a", "");
        let (h3, b3) = get(&server, "/a", "");
        assert!(h1.starts_with("HTTP/1.1 429") && h1.contains("Retry-After: 1"));
        assert!(h2.starts_with("HTTP/1.1 429"));
        assert!(h3.starts_with("HTTP/1.1 200"));
        assert_eq!(b3, b"abcdef");

        server.set_fault("a", Fault::close_after(2, 1));
        let (h, b) = get(&server, "/a", "");
        assert!(h.contains("Content-Length: 6"));
        assert_eq!(b, b"ab");

        server.set_fault("a", Fault::reset_after(2, 1));
        let (h, b) = get(&server, "/a", "");
        assert!(h.contains("Content-Length: 6"));
        assert!(b.len() <= 2, "at most the bytes before the reset arrive");
        let (_, b) = get(&server, "/a", "");
        assert_eq!(b, b"abcdef", "the fault is used up");
    }

    #[test]
    fn if_range_mismatch_sends_everything() {
        let server = FileServer::with_files([("/f", b"0123456789".to_vec())]);
        server.set_etags(true);
        let (head, _) = get(&server, "/f", "");
        let etag = head
            .lines()
            .find_map(|l| l.strip_prefix("ETag: "))
            .unwrap()
            .to_string();
        let (h, b) = get(
            &server,
            "/f",
            &format!("Range: bytes=8-\r\nIf-Range: {etag}\r\n"),
        );
        assert!(h.starts_with("HTTP/1.1 206"));
        assert_eq!(b, b"89");
        let (h, b) = get(&server, "/f", "Range: bytes=8-\r\nIf-Range: \"old\"\r\n");
        assert!(h.starts_with("HTTP/1.1 200"));
        assert_eq!(b.len(), 10);
    }

    #[test]
    fn range_parser() {
        type Parsed = Result<Option<(u64, u64)>, ()>;
        let cases: &[(&str, Parsed)] = &[
            ("bytes=0-", Ok(Some((0, 9)))),
            ("bytes=3-5", Ok(Some((3, 5)))),
            ("bytes=3-50", Ok(Some((3, 9)))),
            ("bytes=-4", Ok(Some((6, 9)))),
            ("bytes=10-", Err(())),
            ("bytes=5-3", Err(())),
            ("bytes=0-1,3-4", Ok(None)),
            ("items=0-1", Ok(None)),
        ];
        for (h, want) in cases {
            assert_eq!(parse_range(h, 10), *want, "{h}");
        }
    }
}
