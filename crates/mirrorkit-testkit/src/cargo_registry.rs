//! [`CargoRegistry`]: a sparse cargo registry generated here — `config.json`, one index file per
//! crate (one JSON line per version, `cksum` the SHA-256 of the `.crate`), `.crate` files that are
//! real packages (`Cargo.toml` + `src/lib.rs`, gzipped tar) — served by the testkit's plain file
//! server on a free loopback port, with ETags, as crates.io's index is served.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::fileserver::{FileServer, RequestRecord};

/// A generated sparse registry; stopped when dropped.
pub struct CargoRegistry {
    server: FileServer,
    dir: tempfile::TempDir,
}

impl Default for CargoRegistry {
    fn default() -> Self {
        Self::start()
    }
}

impl CargoRegistry {
    /// An empty registry.
    pub fn start() -> CargoRegistry {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = FileServer::start(dir.path());
        server.set_etags(true);
        let config =
            serde_json::json!({"dl": server.url("crates/{crate}/{crate}-{version}.crate")});
        std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config.json");
        CargoRegistry { server, dir }
    }

    /// `sparse+http://127.0.0.1:PORT/`, as cargo writes a sparse registry.
    pub fn index_url(&self) -> String {
        format!("sparse+{}", self.server.url(""))
    }

    /// Publish `name@version` with `dependencies` (name, requirement); `yanked` marks its line.
    pub fn publish(&self, name: &str, version: &str, dependencies: &[(&str, &str)], yanked: bool) {
        let crate_file = self.crate_file(name, version);
        std::fs::create_dir_all(crate_file.parent().expect("crate dir")).expect("crate dir");
        let bytes = crate_bytes(name, version, dependencies);
        std::fs::write(&crate_file, &bytes).expect("write .crate");
        let deps: Vec<serde_json::Value> = dependencies
            .iter()
            .map(|(n, req)| {
                serde_json::json!({"name": n, "req": req, "features": [], "optional": false,
                    "default_features": true, "target": null, "kind": "normal"})
            })
            .collect();
        let line = serde_json::json!({
            "name": name, "vers": version, "deps": deps,
            "cksum": hex::encode(Sha256::digest(&bytes)),
            "features": {}, "yanked": yanked, "v": 2,
        });
        let index = self.dir.path().join(index_path(name));
        std::fs::create_dir_all(index.parent().expect("index dir")).expect("index dir");
        let mut text = std::fs::read_to_string(&index).unwrap_or_default();
        text.push_str(&format!("{line}\n"));
        std::fs::write(&index, text).expect("write index file");
    }

    /// Where `name@version`'s `.crate` is served from (to tamper with).
    pub fn crate_file(&self, name: &str, version: &str) -> PathBuf {
        self.dir
            .path()
            .join("crates")
            .join(name)
            .join(format!("{name}-{version}.crate"))
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.server.requests()
    }

    /// The file server (to inject faults: a crate's path is `crates/<name>/<name>-<version>.crate`).
    pub fn server(&self) -> &FileServer {
        &self.server
    }

    /// The registry's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn index_path(name: &str) -> String {
    let n = name.to_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

/// A `.crate`: `<name>-<version>/Cargo.toml` and `src/lib.rs` (a `VALUE` constant), gzipped.
fn crate_bytes(name: &str, version: &str, dependencies: &[(&str, &str)]) -> Vec<u8> {
    let mut manifest = format!(
        "[package]\nname = {name:?}\nversion = {version:?}\nedition = \"2021\"\nlicense = \"MIT\"\ndescription = \"test crate\"\n\n[dependencies]\n"
    );
    for (n, req) in dependencies {
        manifest.push_str(&format!("{n} = {req:?}\n"));
    }
    let lib = format!("pub const VALUE: &str = \"{name}@{version}\";\n");
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (p, content) in [("Cargo.toml", manifest), ("src/lib.rs", lib)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("{name}-{version}/{p}"),
            content.as_bytes(),
        )
        .expect("tar entry");
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .expect("finish .crate")
}
