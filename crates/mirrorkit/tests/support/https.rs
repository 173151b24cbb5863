//! HTTPS registries in the tests: skopeo given the test CA (and client certificate) with
//! `--cert-dir`, so verification stays on in the checking client too.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};

use mirrorkit_testkit::registry::{Registry, sha256_digest, skopeo, umoci_image};
use mirrorkit_testkit::tls::test_ca;

use crate::common::noise;

/// A skopeo `--cert-dir` for the test CA, with the client certificate when `client` is set.
pub(crate) fn skopeo_cert_dir(dir: &Path, client: bool) -> PathBuf {
    let certs = dir.join(if client { "skopeo-mtls" } else { "skopeo-tls" });
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(test_ca().ca_cert(), certs.join("ca.crt")).unwrap();
    if client {
        std::fs::copy(test_ca().client_cert(), certs.join("client.cert")).unwrap();
        std::fs::copy(test_ca().client_key(), certs.join("client.key")).unwrap();
    }
    certs
}

/// Push a one-layer image to `registry` as `team/app:v1`; returns its manifest digest.
pub(crate) fn push_image(dir: &Path, registry: &Registry, client: bool) -> String {
    let layout = dir.join("image");
    umoci_image(&layout, "v1", "amd64", &noise(7, 100_000));
    let to_certs = format!("--dest-cert-dir={}", skopeo_cert_dir(dir, client).display());
    skopeo(&[
        "copy",
        "--quiet",
        &to_certs,
        &format!("oci:{}:v1", layout.display()),
        &registry.docker_ref("team/app:v1"),
    ])
    .unwrap();
    inspect(dir, registry, "team/app:v1", client).expect("pushed")
}

/// The manifest digest of `reference` in `registry`, read with verified certificates.
pub(crate) fn inspect(
    dir: &Path,
    registry: &Registry,
    reference: &str,
    client: bool,
) -> Option<String> {
    inspect_raw(dir, registry, reference, client).map(|raw| sha256_digest(&raw))
}

/// The manifest `reference` names in `registry`, as served, read with verified certificates.
pub(crate) fn inspect_raw(
    dir: &Path,
    registry: &Registry,
    reference: &str,
    client: bool,
) -> Option<Vec<u8>> {
    let certs = format!("--cert-dir={}", skopeo_cert_dir(dir, client).display());
    skopeo(&["inspect", "--raw", &certs, &registry.docker_ref(reference)]).ok()
}

/// A static file server over HTTPS (python's, wrapped in TLS with the test CA's server
/// certificate) on 127.0.0.1, serving `root`; stopped when dropped.
pub(crate) struct HttpsFiles {
    child: std::process::Child,
    port: u16,
}

impl HttpsFiles {
    pub(crate) fn start(root: &Path) -> HttpsFiles {
        HttpsFiles::start_with(root, None)
    }

    /// The same, answering 401 to requests without `Authorization: Basic base64(USER:PASS)`.
    pub(crate) fn start_with(root: &Path, basic: Option<&str>) -> HttpsFiles {
        use std::io::BufRead as _;
        let script = "import base64, functools, http.server, ssl, sys\n\
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
            ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n\
            want = ('Basic ' + base64.b64encode(sys.argv[4].encode()).decode()) if sys.argv[4] else None\n\
            class H(http.server.SimpleHTTPRequestHandler):\n\
            \x20   def log_message(self, *a): pass\n\
            \x20   def do_GET(self):\n\
            \x20       if want and self.headers.get('Authorization') != want:\n\
            \x20           self.send_response(401); self.send_header('WWW-Authenticate', 'Basic'); self.send_header('Content-Length', '0'); self.end_headers(); return\n\
            \x20       super().do_GET()\n\
            h = functools.partial(H, directory=sys.argv[1])\n\
            s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)\n\
            s.socket = ctx.wrap_socket(s.socket, server_side=True)\n\
            print(s.server_address[1], flush=True)\n\
            s.serve_forever()\n";
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(root)
            .arg(test_ca().server_cert())
            .arg(test_ca().server_key())
            .arg(basic.unwrap_or(""))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start python3's https file server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("its port");
        let port = line.trim().parse().expect("a port number");
        HttpsFiles { child, port }
    }

    /// `https://127.0.0.1:PORT`.
    pub(crate) fn origin(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, as `registries:` names it.
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for HttpsFiles {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
