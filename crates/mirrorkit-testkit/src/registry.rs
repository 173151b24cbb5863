//! A real Debian `docker-registry` (CNCF distribution 2.8) on a free 127.0.0.1 port, plus skopeo helpers.
//!
//! Every [`Registry`] gets a throwaway config and data directory and is killed when dropped. The
//! skopeo helpers always talk plain HTTP (`--tls-verify=false`) and pass `--insecure-policy`,
//! because Debian may ship no `/etc/containers/policy.json`. The fixture builders make real image
//! content that skopeo accepts: [`umoci_image`] runs `umoci`, [`two_platform_index`] writes an OCI
//! layout with a two-platform index by hand.
//!
//! Test support code: failures panic with the command's output, which is what a test wants.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// The Debian package's registry binary.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running `docker-registry serve` on `127.0.0.1:<port>`, killed on drop.
pub struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    credentials: Option<(String, String)>,
    /// The token server of a registry with `auth: token:` (dropped after the registry).
    token: Option<crate::token::TokenServer>,
    /// Serves HTTPS with the process's test CA ([`crate::tls::test_ca`]).
    tls: bool,
}

/// How a test registry authenticates clients.
enum Auth {
    None,
    Htpasswd,
    Token,
}

impl Registry {
    /// Start an anonymous registry (push and pull open to everyone).
    pub fn start() -> Registry {
        Registry::start_inner(None, Auth::None, Tls::Off)
    }

    /// Start an anonymous registry serving HTTPS (and so HTTP/2, as Go's server negotiates it)
    /// with a certificate of [`crate::tls::test_ca`]: clients trust that CA, nothing is
    /// `insecure`.
    pub fn start_tls() -> Registry {
        Registry::start_inner(None, Auth::None, Tls::On)
    }

    /// [`Registry::start_tls`], and every client must present a certificate signed by the test
    /// CA ([`crate::tls::TestCa::client_cert`]).
    pub fn start_mtls() -> Registry {
        Registry::start_inner(None, Auth::None, Tls::Mutual)
    }

    /// Whether the registry serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Start a registry that requires Bearer tokens from a local token server
    /// ([`crate::token::TokenServer`]) which grants them to `user`/`pass`.
    pub fn start_with_token_auth(user: &str, pass: &str) -> Registry {
        Registry::start_inner(
            Some((user.to_string(), pass.to_string())),
            Auth::Token,
            Tls::Off,
        )
    }

    /// Tokens the token server has issued (0 for registries without token auth).
    pub fn tokens_issued(&self) -> usize {
        self.token.as_ref().map_or(0, |t| t.issued())
    }

    /// Start a registry that requires HTTP Basic auth (`auth.htpasswd`) for `user`/`pass`.
    pub fn start_with_htpasswd(user: &str, pass: &str) -> Registry {
        Registry::start_inner(
            Some((user.to_string(), pass.to_string())),
            Auth::Htpasswd,
            Tls::Off,
        )
    }

    fn start_inner(credentials: Option<(String, String)>, auth: Auth, mode: Tls) -> Registry {
        let tls = mode != Tls::Off;
        let mut last_log = String::new();
        // The port is free when we pick it but could be taken before the registry binds it:
        // try a few ports before giving up.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir for the registry");
            let port = crate::process::free_port();
            let token = match (&auth, &credentials) {
                (Auth::Token, Some((user, pass))) => {
                    Some(crate::token::TokenServer::start(dir.path(), user, pass))
                }
                _ => None,
            };
            let htpasswd = match auth {
                Auth::Htpasswd => credentials.as_ref(),
                Auth::None | Auth::Token => None,
            };
            let config = write_config(dir.path(), port, htpasswd, token.as_ref(), mode);
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).expect("registry log file");
            let log_err = log.try_clone().expect("registry log file");
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log_err))
                .spawn()
                .expect("spawn /usr/bin/docker-registry (apt-get install docker-registry)");
            let mut registry = Registry {
                child,
                port,
                dir,
                credentials: credentials.clone(),
                token,
                tls,
            };
            if registry.wait_ready(Duration::from_secs(30)) {
                return registry;
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = registry.child.kill();
            let _ = registry.child.wait();
        }
        panic!("docker-registry did not start; last log:\n{last_log}");
    }

    /// Poll `GET /v2/` until it answers (200, or 401 for an htpasswd registry) or the process dies.
    fn wait_ready(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            match http_status(self.port, "/v2/") {
                Some(200 | 401) => return true,
                // Plain HTTP to an HTTPS server: Go answers 400, so it is listening.
                Some(400) if self.tls => return true,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `127.0.0.1:PORT`, the registry's host as written in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `docker://127.0.0.1:PORT/<repo_and_ref>`, e.g. `docker_ref("tools/cmake:1.0")`.
    pub fn docker_ref(&self, repo_and_ref: &str) -> String {
        format!("docker://{}/{}", self.host(), repo_and_ref)
    }

    /// Panic unless the registry itself says `repo:tag` holds no manifest: a `404` to the
    /// Distribution API's manifest `GET`, with `MANIFEST_UNKNOWN` (or `NAME_UNKNOWN`, when the
    /// repository does not exist at all). A refused connection or any other answer is a failure,
    /// so "nothing was written" cannot pass because the registry was down. Plain HTTP only.
    pub fn assert_no_manifest(&self, repo_and_tag: &str) {
        assert!(!self.tls, "assert_no_manifest speaks plain HTTP");
        let (repo, tag) = repo_and_tag
            .rsplit_once(':')
            .expect("assert_no_manifest wants repo:tag");
        let (status, body) = http_get(self.port, &format!("/v2/{repo}/manifests/{tag}"))
            .unwrap_or_else(|| panic!("{} did not answer", self.host()));
        assert!(
            status == 404 && (body.contains("MANIFEST_UNKNOWN") || body.contains("NAME_UNKNOWN")),
            "{repo_and_tag} should not exist, but the registry answered {status}: {body}"
        );
    }

    /// The tags of `repo`, sorted, as skopeo lists them; empty when the repository does not
    /// exist (or cannot be listed).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let Ok(out) = skopeo(&["list-tags", "--tls-verify=false", &self.docker_ref(repo)]) else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_slice(&out).expect("skopeo list-tags JSON");
        let mut tags: Vec<String> = v["Tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// `user:pass` for skopeo's `--creds` flags, when the registry needs them.
    pub fn creds(&self) -> Option<String> {
        self.credentials.as_ref().map(|(u, p)| format!("{u}:{p}"))
    }

    /// The registry's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The registry's storage root (to inspect what it holds).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Where the registry's own storage keeps the sha256 blob `hex` (its `data` file's
    /// directory): what a test reads to see exactly what was stored, or that nothing was.
    pub fn blob_dir(&self, hex: &str) -> PathBuf {
        self.data_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(hex.get(..2).unwrap_or(hex))
            .join(hex)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a test registry speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tls {
    /// Plain HTTP.
    Off,
    /// HTTPS with the test CA's certificate.
    On,
    /// HTTPS, and clients must present a certificate signed by the test CA.
    Mutual,
}

fn write_config(
    dir: &Path,
    port: u16,
    credentials: Option<&(String, String)>,
    token: Option<&crate::token::TokenServer>,
    tls: Tls,
) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("registry data dir");
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: mirrorkit-test-secret\n",
        data.display()
    );
    if tls != Tls::Off {
        let ca = crate::tls::test_ca();
        yaml.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            ca.server_cert().display(),
            ca.server_key().display()
        ));
        if tls == Tls::Mutual {
            yaml.push_str(&format!(
                "    clientcas:\n      - {}\n",
                ca.ca_cert().display()
            ));
        }
    }
    if let Some((user, pass)) = credentials {
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, pass])
            .output()
            .expect("run htpasswd (apt-get install apache2-utils)");
        assert!(out.status.success(), "htpasswd failed");
        let path = dir.join("htpasswd");
        std::fs::write(&path, &out.stdout).expect("write htpasswd");
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: mirrorkit-test\n    path: {}\n",
            path.display()
        ));
    }
    if let Some(token) = token {
        yaml.push_str(&format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            token.realm(),
            crate::token::SERVICE,
            crate::token::ISSUER,
            token.cert_path().display()
        ));
    }
    let config = dir.join("config.yml");
    std::fs::write(&config, yaml).expect("write registry config");
    config
}

/// A minimal blocking `GET path` on 127.0.0.1:port returning the status code.
fn http_status(port: u16, path: &str) -> Option<u16> {
    http_get(port, path).map(|(status, _)| status)
}

/// A minimal blocking `GET path` on 127.0.0.1:port (any manifest type accepted): the status
/// code and the body (small answers only: error documents, not blobs).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = Vec::new();
    // The server closes the connection after its answer; a timeout keeps what arrived.
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}

/// Run skopeo with `--insecure-policy` and the given arguments; `Ok(stdout)` on success,
/// `Err(stderr)` otherwise.
pub fn skopeo(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run skopeo: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "skopeo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `skopeo inspect --raw` of `reference` (plain HTTP, no TLS verification), plus `extra_args`
/// (e.g. `["--creds", "u:p"]`). Returns the manifest bytes exactly as served.
pub fn skopeo_inspect_raw(reference: &str, extra_args: &[&str]) -> Result<Vec<u8>, String> {
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    args.extend_from_slice(extra_args);
    args.push(reference);
    skopeo(&args)
}

/// `skopeo copy --all --preserve-digests` from `src` to `dst` over plain HTTP.
pub fn skopeo_copy(src: &str, dst: &str) -> Result<(), String> {
    skopeo_copy_with(src, dst, &[])
}

/// [`skopeo_copy`] with extra flags such as `--src-creds u:p`, `--dest-creds u:p` or
/// `--format v2s2`.
pub fn skopeo_copy_with(src: &str, dst: &str, extra_args: &[&str]) -> Result<(), String> {
    let mut args = vec![
        "copy",
        "--quiet",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ];
    // `--preserve-digests` refuses format conversions, so it is only added when none is asked for.
    if !extra_args.iter().any(|a| a.starts_with("--format")) {
        args.push("--preserve-digests");
    }
    args.extend_from_slice(extra_args);
    args.push(src);
    args.push(dst);
    skopeo(&args).map(|_| ())
}

/// The `sha256:<hex>` digest of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn run(cmd: &mut Command) {
    crate::process::output_of(cmd);
}

/// Build a one-layer image with `umoci` into the OCI layout `dir` (created), tagged `tag`: the
/// layer holds `/hello.txt` with `content`; the config says `linux/<arch>`.
pub fn umoci_image(dir: &Path, tag: &str, arch: &str, content: &[u8]) {
    let image = format!("{}:{tag}", dir.display());
    if !dir.join("oci-layout").exists() {
        run(Command::new("umoci").args(["init", "--layout"]).arg(dir));
    }
    run(Command::new("umoci").args(["new", "--image", &image]));
    let src = tempfile::tempdir().expect("temp dir");
    let file = src.path().join("hello.txt");
    std::fs::write(&file, content).expect("write fixture file");
    run(Command::new("umoci")
        .args(["insert", "--rootless", "--image", &image])
        .arg(&file)
        .arg("/hello.txt"));
    run(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--architecture",
        arch,
        "--os",
        "linux",
    ]));
}

/// A blob written into a layout by [`two_platform_index`].
fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let hex = &digest["sha256:".len()..];
    std::fs::write(dir.join("blobs/sha256").join(hex), bytes).expect("write blob");
    digest
}

/// An uncompressed layer tar holding one file.
fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, name, content)
        .expect("append tar entry");
    builder.into_inner().expect("finish tar")
}

/// Write by hand an OCI layout at `dir` whose `tag` is an image index of two platform images
/// (`linux/amd64`, `linux/arm64`), each with an uncompressed one-file layer whose content
/// includes `seed`. Returns the index digest (`sha256:…`).
pub fn two_platform_index(dir: &Path, tag: &str, seed: &str) -> String {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dirs");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    let mut descriptors = Vec::new();
    for arch in ["amd64", "arm64"] {
        let layer = layer_tar(
            &format!("hello-{arch}.txt"),
            format!("hello from {arch} ({seed})\n").as_bytes(),
        );
        let layer_digest = write_blob(dir, &layer);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))
        .expect("config json");
        let config_digest = write_blob(dir, &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer.len(),
            }],
        }))
        .expect("manifest json");
        let manifest_digest = write_blob(dir, &manifest);
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors,
    }))
    .expect("index json");
    let index_digest = write_blob(dir, &index);
    let layout_index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_digest,
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&layout_index).expect("index.json"),
    )
    .expect("write index.json");
    index_digest
}
