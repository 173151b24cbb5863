//! TLS trust beyond the system's roots: certificate authorities and client certificates (mTLS)
//! per registry host, read from where docker, podman and skopeo users already keep them.
//!
//! - A spec's `registries: {HOST: {ca_file, client_cert, client_key}}`.
//! - `/etc/containers/certs.d/HOST[:PORT]/` and `/etc/docker/certs.d/HOST[:PORT]/`:
//!   `*.crt` are CAs, `NAME.cert` with `NAME.key` a client certificate.
//! - `--cert-dir DIR` (the same files), for every registry one command talks to.
//! - `SSL_CERT_FILE`, read by the TLS stack itself.
//!
//! Verification is never turned off here: each of these adds trust, none removes any.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where docker and podman keep per-registry certificates.
pub const CERTS_D: [&str; 2] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// Extra trust for one host (or every host). Its `Debug` names the files, never the key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HostTls {
    /// CA certificates (PEM bundles) trusted besides the system's roots.
    pub ca_pem: Vec<Vec<u8>>,
    /// A client certificate and its key (PEM, concatenated) presented to the server.
    pub identity_pem: Option<Vec<u8>>,
    /// The files these came from, for messages.
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for HostTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostTls")
            .field("ca_certificates", &self.ca_pem.len())
            .field("client_certificate", &self.identity_pem.is_some())
            .field("files", &self.files)
            .finish()
    }
}

impl HostTls {
    /// Whether this adds nothing.
    pub fn is_empty(&self) -> bool {
        self.ca_pem.is_empty() && self.identity_pem.is_none()
    }

    /// `other`'s CAs added; its client certificate replaces ours when it has one.
    pub fn merge(&mut self, other: HostTls) {
        self.ca_pem.extend(other.ca_pem);
        if other.identity_pem.is_some() {
            self.identity_pem = other.identity_pem;
        }
        self.files.extend(other.files);
    }

    /// A CA file: it must hold at least one PEM certificate.
    pub fn with_ca_file(mut self, path: &Path) -> Result<HostTls, String> {
        let pem = read(path)?;
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) if !certs.is_empty() => {}
            Ok(_) => return Err(format!("{}: no PEM certificate in it", path.display())),
            Err(e) => return Err(format!("{}: not a PEM certificate: {e}", path.display())),
        }
        self.ca_pem.push(pem);
        self.files.push(path.to_path_buf());
        Ok(self)
    }

    /// A client certificate and its key: together they must make a usable identity.
    pub fn with_client_cert(mut self, cert: &Path, key: &Path) -> Result<HostTls, String> {
        let mut pem = read(cert)?;
        pem.push(b'\n');
        pem.extend(read(key)?);
        if let Err(e) = reqwest::Identity::from_pem(&pem) {
            return Err(format!(
                "{} with {}: not a PEM certificate and key: {e}",
                cert.display(),
                key.display()
            ));
        }
        self.identity_pem = Some(pem);
        self.files.extend([cert.to_path_buf(), key.to_path_buf()]);
        Ok(self)
    }

    /// A certs.d-style directory: every `*.crt` a CA, `NAME.cert` + `NAME.key` a client
    /// certificate (docker's convention; skopeo's `--cert-dir`).
    pub fn from_cert_dir(dir: &Path) -> Result<HostTls, String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        let mut tls = HostTls::default();
        for path in names {
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => tls = tls.with_ca_file(&path)?,
                Some("cert") => {
                    let key = path.with_extension("key");
                    if !key.exists() {
                        return Err(format!(
                            "{}: no {} beside it",
                            path.display(),
                            key.file_name().unwrap_or_default().to_string_lossy()
                        ));
                    }
                    tls = tls.with_client_cert(&path, &key)?;
                }
                _ => {}
            }
        }
        Ok(tls)
    }
}

/// Every host with a directory under the `certs.d` roots that exist: `host[:port]` → its trust.
/// A directory that cannot be read is an error naming it (a certificate the user put there and
/// that is silently ignored would fail later with "unknown issuer", far from the cause).
pub fn certs_d(roots: &[&Path]) -> Result<BTreeMap<String, HostTls>, String> {
    let mut out: BTreeMap<String, HostTls> = BTreeMap::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let host = entry.file_name().to_string_lossy().into_owned();
            let tls = HostTls::from_cert_dir(&path)?;
            if !tls.is_empty() {
                out.entry(host).or_default().merge(tls);
            }
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_holds_the_key() {
        let tls = HostTls {
            identity_pem: Some(b"-----BEGIN PRIVATE KEY-----\nsecret".to_vec()),
            ..HostTls::default()
        };
        let shown = format!("{tls:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("PRIVATE"),
            "{shown}"
        );
    }

    #[test]
    fn a_cert_dir_needs_the_key_beside_a_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client.cert"), b"x").unwrap();
        let err = HostTls::from_cert_dir(dir.path()).unwrap_err();
        assert!(err.contains("client.key"), "{err}");
    }
}
