//! A chart's metadata (`Chart.yaml`) and what is read from a chart archive (`.tgz`): the
//! metadata, `values.yaml`, and the same for every subchart inside (directories under `charts/`
//! and nested `.tgz` subcharts).
//!
//! The Helm OCI config blob is the metadata as Helm writes it: Go's `encoding/json` of
//! `chart.Metadata` — fields in the struct's order, empty ones left out, strings sanitised as
//! Helm's `Validate` does, `<`, `>` and `&` escaped.
//!
//! Why one long file: reading a chart archive and writing Helm's config blob byte for byte are
//! one job; the last 90 lines are its unit tests.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

/// Largest chart archive accepted (download or packaging).
pub(crate) const MAX_CHART_BYTES: u64 = 64 * 1024 * 1024;
/// Largest `Chart.yaml` read.
const MAX_METADATA_BYTES: u64 = 1024 * 1024;
/// Largest `values.yaml` read.
const MAX_VALUES_BYTES: u64 = 16 * 1024 * 1024;
/// Largest nested subchart archive read into memory.
const MAX_SUBCHART_BYTES: u64 = 16 * 1024 * 1024;
/// Most bytes decompressed from one archive (with its nested subcharts): a gzip bomb stops here.
const MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;
/// Subcharts of subcharts of … at most this deep.
const MAX_NESTING: usize = 4;

/// Parse YAML into JSON values, with serde-saphyr's resource budget (aliases, depth, size) and
/// duplicate keys resolved as Helm's YAML library does (the last wins).
pub(crate) fn parse_yaml(bytes: &[u8]) -> Result<Value, String> {
    yaml_with(bytes, serde_saphyr::Options::default())
}

/// [`parse_yaml`] for a document of this type with a larger node budget (a repository's
/// `index.yaml` lists every version of every chart).
pub(crate) fn yaml_with<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    mut options: serde_saphyr::Options,
) -> Result<T, String> {
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        // The first line says what and where; the rest is a rendered snippet.
        e.to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .to_string()
    })
}

/// A scalar as Helm's string fields read it (`appVersion: 1.10` is the text `1.10`).
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A validated `Chart.yaml`.
#[derive(Clone, Debug)]
pub(crate) struct ChartMeta {
    /// The document as parsed (a mapping).
    pub raw: Map<String, Value>,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `appVersion`, if given.
    pub app_version: Option<String>,
}

impl ChartMeta {
    /// Parse and check a `Chart.yaml`: a mapping with a non-empty `name` and `version`.
    pub(crate) fn parse(bytes: &[u8]) -> Result<ChartMeta, String> {
        let raw = match parse_yaml(bytes)? {
            Value::Object(m) => m,
            _ => return Err("not a mapping".into()),
        };
        let text = |k: &str| raw.get(k).and_then(scalar_text).filter(|s| !s.is_empty());
        let name = text("name").ok_or("`name` is missing")?;
        let version = text("version").ok_or("`version` is missing")?;
        if name == "." || name == ".." || name.contains(['/', '\\']) {
            return Err(format!("`name` {name:?} is not a chart name"));
        }
        if let Some(t) = text("type")
            && t != "application"
            && t != "library"
        {
            return Err(format!("`type` {t:?} is neither application nor library"));
        }
        Ok(ChartMeta {
            app_version: text("appVersion"),
            name,
            version,
            raw,
        })
    }

    /// `annotations` as strings.
    pub(crate) fn annotations(&self) -> BTreeMap<String, String> {
        match self.raw.get("annotations") {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| scalar_text(v).map(|s| (k.clone(), s)))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// The Helm config blob (`application/vnd.cncf.helm.config.v1+json`).
    pub(crate) fn config_json(&self) -> Vec<u8> {
        let r = &self.raw;
        let mut out = Fields::default();
        let text = |k: &str| {
            r.get(k)
                .and_then(scalar_text)
                .map(|s| sanitize(&s))
                .filter(|s| !s.is_empty())
        };
        out.string("name", text("name"));
        out.string("home", text("home"));
        out.list("sources", string_list(r, "sources"));
        out.string("version", text("version"));
        out.string("description", text("description"));
        out.list("keywords", string_list(r, "keywords"));
        if let Some(Value::Array(list)) = r.get("maintainers")
            && !list.is_empty()
        {
            let ms: Vec<String> = list
                .iter()
                .map(|m| {
                    let mut o = Fields::default();
                    for k in ["name", "email", "url"] {
                        o.string(
                            k,
                            m.get(k)
                                .and_then(scalar_text)
                                .map(|s| sanitize(&s))
                                .filter(|s| !s.is_empty()),
                        );
                    }
                    o.render()
                })
                .collect();
            out.raw("maintainers", format!("[{}]", ms.join(",")));
        }
        out.string("icon", text("icon"));
        out.string("apiVersion", text("apiVersion"));
        out.string("condition", text("condition"));
        out.string("tags", text("tags"));
        out.string("appVersion", text("appVersion"));
        if r.get("deprecated") == Some(&Value::Bool(true)) {
            out.raw("deprecated", "true".into());
        }
        let annotations = self.annotations();
        if !annotations.is_empty() {
            // A Go map: keys sorted, as a BTreeMap serialises.
            out.raw(
                "annotations",
                serde_json::to_string(&annotations).unwrap_or_default(),
            );
        }
        out.string("kubeVersion", text("kubeVersion"));
        if let Some(Value::Array(list)) = r.get("dependencies")
            && !list.is_empty()
        {
            let deps: Vec<String> = list.iter().map(dependency_json).collect();
            out.raw("dependencies", format!("[{}]", deps.join(",")));
        }
        out.string("type", text("type"));
        go_escape(&out.render()).into_bytes()
    }

    /// The manifest annotations Helm writes (`org.opencontainers.image.*` from the metadata, then
    /// the chart's own annotations, which may not replace title or version). No `created`: the
    /// same chart always gives the same manifest.
    pub(crate) fn oci_annotations(&self) -> BTreeMap<String, String> {
        let r = &self.raw;
        let text = |k: &str| {
            r.get(k)
                .and_then(scalar_text)
                .map(|s| sanitize(&s))
                .filter(|s| !s.trim().is_empty())
        };
        let mut a = BTreeMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                a.insert(format!("org.opencontainers.image.{k}"), v);
            }
        };
        put("description", text("description"));
        put("title", text("name"));
        put("version", text("version"));
        put("url", text("home"));
        put(
            "source",
            string_list(r, "sources")
                .into_iter()
                .next()
                .filter(|s| !s.trim().is_empty()),
        );
        if let Some(Value::Array(list)) = r.get("maintainers") {
            let authors: Vec<String> = list
                .iter()
                .map(|m| {
                    let field = |k: &str| m.get(k).and_then(scalar_text).unwrap_or_default();
                    let (name, email) = (field("name"), field("email"));
                    if email.is_empty() {
                        name
                    } else {
                        format!("{name} ({email})")
                    }
                })
                .collect();
            put(
                "authors",
                Some(authors.join(", ")).filter(|s| !s.trim().is_empty()),
            );
        }
        for (k, v) in self.annotations() {
            if k != "org.opencontainers.image.title" && k != "org.opencontainers.image.version" {
                a.insert(k, v);
            }
        }
        a
    }
}

fn string_list(r: &Map<String, Value>, key: &str) -> Vec<String> {
    match r.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(scalar_text)
            .map(|s| sanitize(&s))
            .collect(),
        _ => Vec::new(),
    }
}

/// One `dependencies` entry as Helm's `chart.Dependency` serialises (name and repository always).
fn dependency_json(d: &Value) -> String {
    let text = |k: &str| {
        d.get(k)
            .and_then(scalar_text)
            .map(|s| sanitize(&s))
            .filter(|s| !s.is_empty())
    };
    let mut o = Fields::default();
    o.raw("name", json_string(&text("name").unwrap_or_default()));
    o.string("version", text("version"));
    o.raw(
        "repository",
        json_string(&text("repository").unwrap_or_default()),
    );
    o.string("condition", text("condition"));
    if let Some(Value::Array(tags)) = d.get("tags") {
        o.list(
            "tags",
            tags.iter()
                .filter_map(scalar_text)
                .map(|s| sanitize(&s))
                .collect(),
        );
    }
    if d.get("enabled") == Some(&Value::Bool(true)) {
        o.raw("enabled", "true".into());
    }
    for k in ["import-values", "export-values"] {
        if let Some(v @ Value::Array(items)) = d.get(k)
            && !items.is_empty()
        {
            o.raw(k, v.to_string());
        }
    }
    o.string("alias", text("alias"));
    o.render()
}

/// The fields of a Go struct, in declaration order, as JSON text.
#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Fields {
    /// A string field with `omitempty`.
    fn string(&mut self, key: &'static str, value: Option<String>) {
        if let Some(v) = value {
            self.0.push((key, json_string(&v)));
        }
    }

    /// A `[]string` field with `omitempty`.
    fn list(&mut self, key: &'static str, items: Vec<String>) {
        if !items.is_empty() {
            self.0.push((key, Value::from(items).to_string()));
        }
    }

    /// A field already rendered as JSON.
    fn raw(&mut self, key: &'static str, json: String) {
        self.0.push((key, json));
    }

    fn render(&self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{v}", json_string(k)))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Helm's `sanitizeString`: whitespace becomes a space, unprintable characters go.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{feff}') {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029; serde_json does not. They only
/// occur inside strings in JSON text, so a textual replace is exact.
fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Chart metadata and values of one chart inside an archive: the chart itself (prefix `""`) or
/// a subchart (prefix `charts/redis/`, `charts/a/charts/b/`).
#[derive(Clone, Debug, Default)]
pub(crate) struct ChartPart {
    /// Where it sits in the chart, ending with `/` (empty for the chart itself).
    pub prefix: String,
    /// Raw `Chart.yaml`.
    pub chart_yaml: Option<Vec<u8>>,
    /// Raw `values.yaml`.
    pub values_yaml: Option<Vec<u8>>,
}

/// What a chart archive holds that matters here.
#[derive(Clone, Debug)]
pub(crate) struct ChartArchive {
    /// The validated metadata of the chart itself.
    pub meta: ChartMeta,
    /// The chart itself first, then its subcharts (by prefix).
    pub parts: Vec<ChartPart>,
}

/// Why a chart archive cannot be used.
#[derive(Debug)]
pub(crate) enum ArchiveError {
    /// The chart's own `Chart.yaml` is missing or malformed.
    Metadata(String),
    /// Not a gzip tar, too large, or a subchart unreadable.
    Archive(String),
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Metadata(m) | ArchiveError::Archive(m) => f.write_str(m),
        }
    }
}

/// Read a chart archive (blocking; call from `spawn_blocking`).
pub(crate) fn read_archive(path: &Path) -> Result<ChartArchive, ArchiveError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ArchiveError::Archive(format!("cannot open {}: {e}", path.display())))?;
    let budget = Cell::new(MAX_UNPACKED_BYTES);
    let mut parts = BTreeMap::new();
    collect(std::io::BufReader::new(file), "", 0, &budget, &mut parts)?;
    let root = parts.remove("").unwrap_or_default();
    let chart_yaml = root
        .chart_yaml
        .as_deref()
        .ok_or_else(|| ArchiveError::Metadata("Chart.yaml: missing from the archive".into()))?;
    let meta = ChartMeta::parse(chart_yaml)
        .map_err(|e| ArchiveError::Metadata(format!("Chart.yaml: {e}")))?;
    let mut all = vec![root];
    all.extend(parts.into_values());
    Ok(ChartArchive { meta, parts: all })
}

/// Walk one (possibly nested) archive, adding its parts under `prefix`.
fn collect(
    reader: impl Read,
    prefix: &str,
    depth: usize,
    budget: &Cell<u64>,
    parts: &mut BTreeMap<String, ChartPart>,
) -> Result<(), ArchiveError> {
    let bad = |e: std::io::Error| {
        ArchiveError::Archive(format!("{prefix}: not a readable chart archive: {e}"))
    };
    let gz = flate2::read::GzDecoder::new(reader);
    let mut archive = tar::Archive::new(Budgeted {
        inner: gz,
        left: budget,
    });
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        // Helm drops the archive's top directory (`<chart>/…`).
        let mut components: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if components.len() < 2 || components.contains(&"..") {
            continue;
        }
        components.remove(0);
        let Some((file, dirs)) = components.split_last() else {
            continue;
        };
        // Only charts/<name>/charts/<name>/… directories hold subcharts.
        let chart_dirs = dirs.len() % 2 == 0 && dirs.iter().step_by(2).all(|d| *d == "charts");
        let nested_tgz = dirs.len() % 2 == 1
            && dirs.iter().step_by(2).all(|d| *d == "charts")
            && file.ends_with(".tgz");
        let rel_dir = if dirs.is_empty() {
            String::new()
        } else {
            format!("{}/", dirs.join("/"))
        };
        let key = format!("{prefix}{rel_dir}");
        match *file {
            "Chart.yaml" | "values.yaml" if chart_dirs => {
                let limit = if *file == "Chart.yaml" {
                    MAX_METADATA_BYTES
                } else {
                    MAX_VALUES_BYTES
                };
                let bytes = read_bounded(&mut entry, limit)
                    .map_err(|e| ArchiveError::Archive(format!("{key}{file}: {e}")))?;
                let part = parts.entry(key.clone()).or_insert_with(|| ChartPart {
                    prefix: key.clone(),
                    ..ChartPart::default()
                });
                if *file == "Chart.yaml" {
                    part.chart_yaml = Some(bytes);
                } else {
                    part.values_yaml = Some(bytes);
                }
            }
            name if nested_tgz => {
                if depth >= MAX_NESTING {
                    return Err(ArchiveError::Archive(format!(
                        "{key}{name}: subcharts nested more than {MAX_NESTING} deep"
                    )));
                }
                let bytes = read_bounded(&mut entry, MAX_SUBCHART_BYTES)
                    .map_err(|e| ArchiveError::Archive(format!("{key}{name}: {e}")))?;
                // The subchart's parts go under `charts/<its top directory>/`.
                let top =
                    top_dir(&bytes).unwrap_or_else(|| name.trim_end_matches(".tgz").to_string());
                let sub_prefix = format!("{key}{top}/");
                collect(&bytes[..], &sub_prefix, depth + 1, budget, parts)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The first path component of a (small, in-memory) chart archive.
fn top_dir(bytes: &[u8]) -> Option<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut entries = archive.entries().ok()?;
    let entry = entries.next()?.ok()?;
    let path = entry.path().ok()?.to_string_lossy().into_owned();
    path.split('/')
        .find(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
}

/// Read at most `limit` bytes; more is an error.
fn read_bounded(r: &mut impl Read, limit: u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(buf)
}

/// A reader that fails once the archive and its nested archives together have produced more than
/// the shared budget.
struct Budgeted<'a, R> {
    inner: R,
    left: &'a Cell<u64>,
}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let left = self.left.get();
        if n as u64 > left {
            return Err(std::io::Error::other(format!(
                "the archive unpacks to more than {MAX_UNPACKED_BYTES} bytes"
            )));
        }
        self.left.set(left - n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_helms_metadata_json() {
        let meta = ChartMeta::parse(
            b"type: application\nversion: 1.2.3\nname: demo\napiVersion: v2\ndescription: |\n  A <b>demo</b> & more\nappVersion: 1.10\nkeywords: [a, b]\nmaintainers:\n  - {email: x@example.org, name: X}\nannotations:\n  z: last\n  a: 1\ndependencies:\n  - {repository: 'https://r', name: db, version: ~1.0, alias: database}\nhome: https://example.org\n",
        )
        .unwrap();
        assert_eq!(meta.app_version.as_deref(), Some("1.1"));
        assert_eq!(
            String::from_utf8(meta.config_json()).unwrap(),
            r#"{"name":"demo","home":"https://example.org","version":"1.2.3","description":"A \u003cb\u003edemo\u003c/b\u003e \u0026 more ","keywords":["a","b"],"maintainers":[{"name":"X","email":"x@example.org"}],"apiVersion":"v2","appVersion":"1.1","annotations":{"a":"1","z":"last"},"dependencies":[{"name":"db","version":"~1.0","repository":"https://r","alias":"database"}],"type":"application"}"#
        );
        let a = meta.oci_annotations();
        assert_eq!(a["org.opencontainers.image.title"], "demo");
        assert_eq!(a["org.opencontainers.image.version"], "1.2.3");
        assert_eq!(a["org.opencontainers.image.authors"], "X (x@example.org)");
        assert_eq!(a["z"], "last");
        assert!(!a.contains_key("org.opencontainers.image.created"));
    }

    #[test]
    fn chart_yaml_must_name_a_chart_and_version() {
        for bad in [
            &b"version: 1.0.0\n"[..],
            b"name: x\n",
            b"- a list\n",
            b"name: x\nversion: [\n",
            b"name: ../x\nversion: 1.0.0\n",
            b"name: x\nversion: 1.0.0\ntype: other\n",
        ] {
            assert!(
                ChartMeta::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn reads_the_chart_and_its_subcharts() {
        let nested = tgz(&[
            ("cache/Chart.yaml", b"name: cache\nversion: 0.1.0\n"),
            ("cache/values.yaml", b"image: redis:7\n"),
        ]);
        let outer = tgz(&[
            ("app/Chart.yaml", b"name: app\nversion: 1.0.0\n"),
            ("app/values.yaml", b"image: nginx\n"),
            ("app/templates/x.yaml", b"kind: X\n"),
            ("app/charts/db/Chart.yaml", b"name: db\nversion: 2.0.0\n"),
            ("app/charts/db/values.yaml", b"image: postgres:16\n"),
            ("app/charts/db/templates/values.yaml", b"not: a part\n"),
            ("app/charts/cache-0.1.0.tgz", &nested),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.tgz");
        std::fs::write(&path, &outer).unwrap();
        let a = read_archive(&path).unwrap();
        assert_eq!(a.meta.name, "app");
        let prefixes: Vec<&str> = a.parts.iter().map(|p| p.prefix.as_str()).collect();
        assert_eq!(prefixes, ["", "charts/cache/", "charts/db/"]);
        assert_eq!(
            a.parts[1].values_yaml.as_deref(),
            Some(&b"image: redis:7\n"[..])
        );

        std::fs::write(&path, tgz(&[("app/values.yaml", b"a: 1\n")])).unwrap();
        assert!(matches!(
            read_archive(&path),
            Err(ArchiveError::Metadata(_))
        ));
        std::fs::write(&path, b"not gzip").unwrap();
        assert!(matches!(read_archive(&path), Err(ArchiveError::Archive(_))));
    }
}
