//! [`Verdaccio`]: a real npm registry (verdaccio, installed with `npm install -g verdaccio`) on a
//! free loopback port, with no uplinks, seeded by the tests with `npm publish` of packages they
//! generate ([`npm_package`]). Every request it answers is logged as JSON, so tests count what a
//! client asked for. [`Verdaccio::start_tls`] serves HTTPS with the test CA's server certificate.

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
    tls: bool,
}

impl Verdaccio {
    /// Start one on plain HTTP and register a publishing user.
    pub fn start() -> Verdaccio {
        Self::launch(false)
    }

    /// Start one on HTTPS (the test CA's server certificate) and register a publishing user.
    pub fn start_tls() -> Verdaccio {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Verdaccio {
        let dir = tempfile::tempdir().expect("tempdir");
        let https = if tls {
            let ca = crate::tls::test_ca();
            format!(
                "https:\n  key: {:?}\n  cert: {:?}\n",
                ca.server_key(),
                ca.server_cert()
            )
        } else {
            String::new()
        };
        std::fs::write(
            dir.path().join("config.yaml"),
            format!(
                "storage: ./storage\nauth:\n  htpasswd:\n    file: ./htpasswd\n    max_users: 100\nuplinks: {{}}\npackages:\n  '**':\n    access: $all\n    publish: $authenticated\n    unpublish: $authenticated\nlog: {{type: file, path: {:?}, format: json, level: http}}\n{https}",
                dir.path().join("requests.log")
            ),
        )
        .expect("write verdaccio config");
        let port = free_port();
        let scheme = if tls { "https" } else { "http" };
        let child = Command::new("verdaccio")
            .arg("--config")
            .arg(dir.path().join("config.yaml"))
            .arg("--listen")
            .arg(format!("{scheme}://127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn verdaccio (npm install -g verdaccio@6; scripts/test installs it)");
        let mut v = Verdaccio {
            child,
            port,
            dir,
            token: String::new(),
            tls,
        };
        let start = Instant::now();
        while v.curl(&["-o", "/dev/null", "-w", "%{http_code}"], "-/ping") != "200" {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "verdaccio did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let body = v.curl(
            &[
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/json",
                "-d",
                r#"{"name":"publisher","password":"publisher-password"}"#,
            ],
            "-/user/org.couchdb.user:publisher",
        );
        let doc: serde_json::Value = serde_json::from_str(&body).expect("user answer JSON");
        v.token = doc["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {body}"))
            .to_string();
        v
    }

    /// `curl -s ARGS URL/path` (trusting the test CA), its stdout; empty when it fails.
    fn curl(&self, args: &[&str], path: &str) -> String {
        let mut cmd = Command::new("curl");
        cmd.arg("-s").args(args);
        if self.tls {
            cmd.arg("--cacert").arg(crate::tls::test_ca().ca_cert());
        }
        cmd.arg(format!("{}{path}", self.url()));
        cmd.output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT/` (`https://` from [`Verdaccio::start_tls`]).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
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
                // Seeding only: npm (Node 20) refused the test CA for the upload with
                // `--cafile` and NODE_EXTRA_CA_CERTS alike (curl and mirrorkit accept it). What
                // is under test, mirrorkit, verifies the certificate.
                .arg(format!("--strict-ssl={}", !self.tls))
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
