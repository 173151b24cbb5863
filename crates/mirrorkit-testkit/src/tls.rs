//! A throw-away certificate authority for HTTPS test servers, made with `openssl` once per test
//! process: a CA certificate (give it to clients: `SSL_CERT_FILE` for mirrorkit, `--cert-dir` for
//! skopeo) and a server certificate for `127.0.0.1` signed by it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The CA and the server certificate and key it signed (for `IP:127.0.0.1`).
#[derive(Debug)]
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// The CA certificate (PEM), the one file a client must trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A directory holding only the CA certificate, as skopeo's `--cert-dir` wants it.
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.join("certs.d")
    }

    /// The server certificate (PEM).
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// The server key (PEM).
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// A client certificate (PEM) signed by the CA, for registries that require one (mTLS).
    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.crt")
    }

    /// The client certificate's key (PEM).
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }
}

/// The process's test CA, made on first use (kept until the process ends).
pub fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("mirrorkit-test-ca-")
            .tempdir()
            .expect("temp dir for the test CA")
            .keep();
        make(&dir);
        TestCa { dir }
    })
}

fn openssl(dir: &Path, args: &[&str]) {
    crate::process::output_of(Command::new("openssl").current_dir(dir).args(args));
}

/// A self-signed certificate `cert` with its key `key` (paths relative to `dir`) for `subject`,
/// with these extra `-addext` extensions.
pub(crate) fn self_signed(dir: &Path, subject: &str, key: &str, cert: &str, extensions: &[&str]) {
    let mut args = vec![
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject, "-keyout",
        key, "-out", cert,
    ];
    for e in extensions {
        args.extend(["-addext", e]);
    }
    openssl(dir, &args);
}

fn make(dir: &Path) {
    self_signed(
        dir,
        "/CN=mirrorkit test CA",
        "ca.key",
        "ca.crt",
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    sign(
        dir,
        "server",
        "/CN=127.0.0.1",
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    );
    sign(
        dir,
        "client",
        "/CN=mirrorkit test client",
        "extendedKeyUsage=clientAuth\n",
    );
    let certs = dir.join("certs.d");
    std::fs::create_dir_all(&certs).expect("certs.d");
    std::fs::copy(dir.join("ca.crt"), certs.join("ca.crt")).expect("copy ca.crt");
}

/// `NAME.key` and `NAME.crt` for `subject`, signed by the CA in `dir`, with `usage` extensions.
fn sign(dir: &Path, name: &str, subject: &str, usage: &str) {
    let (key, csr, ext, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
        format!("{name}.crt"),
    );
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", &key, "-out", &csr,
        ],
    );
    std::fs::write(
        dir.join(&ext),
        format!("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n{usage}"),
    )
    .expect("write the extensions file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
}
