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

/// Every host with a directory under the `certs.d` roots that exist: `host[:port]` → its trust,
/// and what could not be used. A host directory that cannot be read (a root-only `client.key`,
/// a file that is not PEM) is left out and reported, not fatal: it may belong to a registry
/// this run never contacts, and the run goes on (a host that needed it then fails its
/// handshake, and the warning says why).
pub fn certs_d(roots: &[&Path]) -> (BTreeMap<String, HostTls>, Vec<String>) {
    let mut out: BTreeMap<String, HostTls> = BTreeMap::new();
    let mut problems = Vec::new();
    for root in roots {
        let entries = match std::fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(format!(
                    "{}: {e}; its certificates are not used",
                    root.display()
                ));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let host = entry.file_name().to_string_lossy().into_owned();
            match HostTls::from_cert_dir(&path) {
                Ok(tls) if tls.is_empty() => {}
                Ok(tls) => out.entry(host).or_default().merge(tls),
                Err(e) => problems.push(format!("{e}; the certificates for {host} are not used")),
            }
        }
    }
    (out, problems)
}

/// One trust per `host[:port]` as the client looks it up: keys lower-cased (URLs carry lower-case
/// hosts), and a `host:port` entry also holding what its bare `host` entry gives, so trust from
/// two places (a spec's `client_cert` for `reg`, certs.d's CA for `reg:5000`) adds up instead
/// of one hiding the other.
pub fn by_host(trust: &BTreeMap<String, HostTls>) -> BTreeMap<String, HostTls> {
    let mut lower: BTreeMap<String, HostTls> = BTreeMap::new();
    for (host, tls) in trust {
        lower
            .entry(host.to_ascii_lowercase())
            .or_default()
            .merge(tls.clone());
    }
    let mut out = BTreeMap::new();
    for (host, tls) in &lower {
        let mut all = HostTls::default();
        if let Some((bare, port)) = host.rsplit_once(':')
            && port.bytes().all(|b| b.is_ascii_digit())
            && let Some(b) = lower.get(bare)
        {
            all.merge(b.clone());
        }
        all.merge(tls.clone());
        out.insert(host.clone(), all);
    }
    out
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
    fn a_host_and_port_entry_adds_up_with_the_bare_host_entry() {
        let ca = |n: u8| HostTls {
            ca_pem: vec![vec![n]],
            ..HostTls::default()
        };
        let mut trust = BTreeMap::new();
        trust.insert("Reg.Example".to_string(), ca(1));
        trust.insert("reg.example:5000".to_string(), ca(2));
        let by = by_host(&trust);
        assert_eq!(by["reg.example:5000"].ca_pem, vec![vec![1], vec![2]]);
        assert_eq!(by["reg.example"].ca_pem, vec![vec![1]]);
    }

    #[test]
    fn an_unreadable_host_directory_is_reported_and_the_others_used() {
        let root = tempfile::tempdir().unwrap();
        let good = root.path().join("good:5000");
        std::fs::create_dir_all(&good).unwrap();
        std::fs::copy(
            mirrorkit_testkit::tls::test_ca().ca_cert(),
            good.join("ca.crt"),
        )
        .unwrap();
        let bad = root.path().join("bad:5000");
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join("client.cert"), b"x").unwrap();
        let (trust, problems) = certs_d(&[root.path()]);
        assert!(!trust.contains_key("bad:5000"));
        assert_eq!(trust["good:5000"].ca_pem.len(), 1);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("bad:5000")),
            "{problems:?}"
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
