//! [`Verdaccio`]: a real npm registry (verdaccio, installed with `npm install -g verdaccio`) on a
//! free loopback port, with no uplinks, seeded by the tests with `npm publish` of packages they
//! generate ([`npm_package`]). Every request it answers is logged as JSON, so tests count what a
//! client asked for.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, output_of};

/// A running verdaccio; stopped when dropped.
pub struct Verdaccio {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    token: String,
}

impl Verdaccio {
    /// Start one and register a publishing user.
    pub fn start() -> Verdaccio {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("config.yaml"),
            format!(
                "storage: ./storage\nauth:\n  htpasswd:\n    file: ./htpasswd\n    max_users: 100\nuplinks: {{}}\npackages:\n  '**':\n    access: $all\n    publish: $authenticated\n    unpublish: $authenticated\nlog: {{type: file, path: {:?}, format: json, level: http}}\n",
                dir.path().join("requests.log")
            ),
        )
        .expect("write verdaccio config");
        let port = free_port();
        let child = Command::new("verdaccio")
            .arg("--config")
            .arg(dir.path().join("config.yaml"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn verdaccio (npm install -g verdaccio@6; scripts/test installs it)");
        let mut v = Verdaccio {
            child,
            port,
            dir,
            token: String::new(),
        };
        let start = Instant::now();
        while http(port, "GET", "/-/ping", "").is_none_or(|(status, _)| status != 200) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "verdaccio did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, body) = http(
            port,
            "PUT",
            "/-/user/org.couchdb.user:publisher",
            r#"{"name":"publisher","password":"publisher-password"}"#,
        )
        .expect("register a user");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("user answer JSON");
        v.token = doc["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token ({status}): {body}"))
            .to_string();
        v
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// `npm publish` the package in `dir` as the `latest` dist-tag (prereleases too: the
    /// upstream's `latest` is then whatever was published last).
    pub fn publish(&self, dir: &Path) {
        output_of(
            Command::new("npm")
                .current_dir(dir)
                .args(["publish", "--tag", "latest", "--registry", &self.url()])
                .arg(format!(
                    "--//127.0.0.1:{}/:_authToken={}",
                    self.port, self.token
                ))
                .arg(format!(
                    "--cache={}",
                    self.dir.path().join("npm-cache").display()
                )),
        );
    }

    /// Where it keeps `package`'s files (`storage/<name>/`): tarballs to tamper with.
    pub fn storage(&self, package: &str) -> PathBuf {
        self.dir.path().join("storage").join(package)
    }

    /// The requests answered so far: (method, URL path, status). (verdaccio logs a response
    /// twice, first with no body bytes counted; the second line is the one kept.)
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        let log = std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap_or_default();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .collect();
        lines
            .iter()
            .enumerate()
            .filter(|(i, v)| {
                // The first of a pair: a 200 with nothing sent, the same request on the next line.
                let preliminary = v["status"] == 200 && v["bytes"]["out"] == 0;
                !(preliminary
                    && lines
                        .get(i + 1)
                        .is_some_and(|next| next["request"] == v["request"]))
            })
            .map(|(_, v)| v)
            .filter_map(|v| {
                let r = v.get("request")?;
                Some((
                    r["method"].as_str()?.to_string(),
                    r["url"].as_str()?.to_string(),
                    u16::try_from(v["status"].as_u64()?).ok()?,
                ))
            })
            .collect()
    }

    /// [`Verdaccio::requests`] once its log has stopped growing (it is written asynchronously):
    /// unchanged over 300 ms.
    pub fn requests_settled(&self) -> Vec<(String, String, u16)> {
        let mut last = self.requests();
        let start = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = self.requests();
            if now.len() == last.len() || start.elapsed() > Duration::from_secs(10) {
                return now;
            }
            last = now;
        }
    }

    /// Stop it now (the upstream goes away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request with `Connection: close`: (status, body), or `None` when nothing answers.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    conn.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Write an npm package `name@version` under `dir` (its `package.json` with `dependencies`, and
/// an `index.js` that requires them and exports its own name); returns its directory.
pub fn npm_package(
    dir: &Path,
    name: &str,
    version: &str,
    dependencies: &[(&str, &str)],
) -> PathBuf {
    let pkg = dir.join(format!("{}-{version}", name.replace('/', "+")));
    std::fs::create_dir_all(&pkg).expect("package dir");
    let deps: serde_json::Map<String, serde_json::Value> = dependencies
        .iter()
        .map(|(n, r)| (n.to_string(), serde_json::Value::String(r.to_string())))
        .collect();
    let manifest = serde_json::json!({
        "name": name,
        "version": version,
        "main": "index.js",
        "license": "MIT",
        "dependencies": deps,
    });
    std::fs::write(
        pkg.join("package.json"),
        serde_json::to_vec_pretty(&manifest).expect("package.json"),
    )
    .expect("write package.json");
    let requires: String = dependencies
        .iter()
        .map(|(n, _)| format!("require({n:?});\n"))
        .collect();
    std::fs::write(
        pkg.join("index.js"),
        format!(
            "{requires}module.exports = {:?};\n",
            format!("{name}@{version}")
        ),
    )
    .expect("write index.js");
    pkg
}
