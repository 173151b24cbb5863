//! [`ReferrersFront`]: an HTTP front for a real [`Registry`] that adds the OCI distribution 1.1
//! referrers API, which Debian's docker-registry (distribution 2.8) lacks.
//!
//! Every request is passed to the registry as is (bodies buffered; chunked request bodies
//! decoded), so storage, uploads, tags and errors are the real registry's. Two things are added:
//! a manifest `PUT` whose document has a `subject` is recorded (as the specification says a
//! registry with the API indexes it), and `GET /v2/<name>/referrers/<digest>` answers the image
//! index of what was recorded for that subject. Every request line is logged.
//!
//! One fault can be switched on: [`ReferrersFront::stall`] makes every request with a given method
//! whose line contains a given text hang until the fault is cleared or the front dropped — a `GET`
//! after sending the headers and half the body, anything else before it reaches the registry — so
//! a test can kill its client while that transfer is certainly under way.
//!
//! Test support code: failures panic, which is what a test wants. One request per connection
//! (`Connection: close`), one thread per connection.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::registry::{Registry, sha256_digest};

type Recorded = HashMap<(String, String), Vec<Value>>;

/// The front; stopped when dropped.
pub struct ReferrersFront {
    port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    stall: Arc<Stall>,
}

/// The (method, text in the request line) of requests that hang, and how many have reached the
/// hang.
#[derive(Default)]
struct Stall {
    rule: Mutex<Option<(String, String)>>,
    reached: std::sync::atomic::AtomicUsize,
}

impl ReferrersFront {
    /// Start a front for `registry` on a free port.
    pub fn start(registry: &Registry) -> ReferrersFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let backend = registry.port();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let recorded: Arc<Mutex<Recorded>> = Arc::new(Mutex::new(HashMap::new()));
        let stall = Arc::new(Stall::default());
        let (s, l, f) = (stop.clone(), log.clone(), stall.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (l, r) = (l.clone(), recorded.clone());
                        let (f, s) = (f.clone(), s.clone());
                        std::thread::spawn(move || {
                            let _ = serve(conn, backend, &l, &r, &f, &s);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ReferrersFront {
            port,
            stop,
            log,
            stall,
        }
    }

    /// From now on every `method` request whose line contains `text` hangs (a `GET` after half its
    /// body); requests already hanging stay so until [`ReferrersFront::unstall`].
    pub fn stall(&self, method: &str, text: &str) {
        *self.stall.rule.lock().expect("stall lock") = Some((method.to_string(), text.to_string()));
    }

    /// Clear the stall: hanging requests end (their connections close unfinished).
    pub fn unstall(&self) {
        *self.stall.rule.lock().expect("stall lock") = None;
    }

    /// How many requests have reached the stall so far.
    pub fn stalls_reached(&self) -> usize {
        self.stall.reached.load(Ordering::SeqCst)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:PORT/<repo_and_ref>`.
    pub fn docker_ref(&self, repo_and_ref: &str) -> String {
        format!("docker://{}/{}", self.host(), repo_and_ref)
    }

    /// Every request line so far (`GET /v2/… HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// The descriptors the referrers API lists for `digest` in `repository`.
    pub fn referrers(&self, repository: &str, digest: &str) -> Vec<Value> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the front");
        write!(
            conn,
            "GET /v2/{repository}/referrers/{digest} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host()
        )
        .expect("send");
        let mut response = Vec::new();
        conn.read_to_end(&mut response).expect("read");
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let doc: Value = serde_json::from_str(body).expect("referrers index JSON");
        doc["manifests"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for ReferrersFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(conn: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Request {
        line: line.trim_end().to_string(),
        headers,
        body,
    })
}

fn serve(
    mut conn: TcpStream,
    backend: u16,
    log: &Mutex<Vec<String>>,
    recorded: &Mutex<Recorded>,
    stall: &Stall,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    let req = read_request(&conn)?;
    log.lock().expect("log lock").push(req.line.clone());
    let mut parts = req.line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let path = target.split('?').next().unwrap_or("").to_string();
    // GET /v2/<name>/referrers/<digest>
    if method == "GET"
        && let Some(rest) = path.strip_prefix("/v2/")
        && let Some((name, digest)) = rest.rsplit_once("/referrers/")
    {
        let list = recorded
            .lock()
            .expect("recorded lock")
            .get(&(name.to_string(), digest.to_string()))
            .cloned()
            .unwrap_or_default();
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": list,
        }))
        .expect("index JSON");
        write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        conn.write_all(&body)?;
        return Ok(());
    }
    let stalls = stall
        .rule
        .lock()
        .expect("stall lock")
        .as_ref()
        .is_some_and(|(m, text)| *m == method && req.line.contains(text.as_str()));
    if stalls && method != "GET" {
        hang(stall, stop);
        return Ok(()); // never reaches the registry
    }
    // Everything else: to the registry, as is.
    let mut up = TcpStream::connect(("127.0.0.1", backend))?;
    let mut head = format!("{}\r\n", req.line);
    for (k, v) in &req.headers {
        let skip = ["connection", "transfer-encoding", "content-length"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h));
        if !skip {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if !req.body.is_empty() || matches!(method.as_str(), "PUT" | "PATCH" | "POST") {
        head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let created = response.starts_with(b"HTTP/1.1 201");
    // A manifest with a subject, stored: index it as a referrer of the subject.
    if method == "PUT"
        && created
        && let Some(rest) = path.strip_prefix("/v2/")
        && let Some((name, _)) = rest.rsplit_once("/manifests/")
        && let Ok(doc) = serde_json::from_slice::<Value>(&req.body)
        && let Some(subject) = doc["subject"]["digest"].as_str()
    {
        let media_type = doc["mediaType"].as_str().map(str::to_string).or_else(|| {
            req.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone())
        });
        let mut descriptor = json!({
            "mediaType": media_type,
            "digest": sha256_digest(&req.body),
            "size": req.body.len(),
        });
        let artifact_type = doc["artifactType"]
            .as_str()
            .or(doc["config"]["mediaType"].as_str());
        if let Some(t) = artifact_type {
            descriptor["artifactType"] = json!(t);
        }
        if doc.get("annotations").is_some() {
            descriptor["annotations"] = doc["annotations"].clone();
        }
        let mut rec = recorded.lock().expect("recorded lock");
        let list = rec
            .entry((name.to_string(), subject.to_string()))
            .or_default();
        if !list.iter().any(|d| d["digest"] == descriptor["digest"]) {
            list.push(descriptor);
        }
    }
    if stalls && method == "GET" {
        // Headers and half the body, then hang.
        let at = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |a| a + 4);
        conn.write_all(&response[..at + (response.len() - at) / 2])?;
        conn.flush()?;
        hang(stall, stop);
        return Ok(());
    }
    conn.write_all(&response)?;
    Ok(())
}

/// Count a stalled request and wait until the stall is cleared or the front stopped.
fn hang(stall: &Stall, stop: &AtomicBool) {
    stall.reached.fetch_add(1, Ordering::SeqCst);
    while !stop.load(Ordering::Relaxed) && stall.rule.lock().expect("stall lock").is_some() {
        std::thread::sleep(Duration::from_millis(20));
    }
}
