//! cargo: a sparse registry (`config.json` and one index file per crate, one JSON line per
//! version), `.crate` files checked against each line's `cksum` (SHA-256), yanked versions kept.
//! Published as a sparse registry under `cargo/index/` (`config.json` whose `dl` points under the
//! tree's base URL, index files at `1/`, `2/`, `3/x/`, `ab/cd/`) with the index lines copied
//! verbatim, so `Cargo.lock` checksums still match, and crates at
//! `cargo/crates/<name>/<name>-<version>.crate`.

use std::collections::BTreeMap;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::etag_cache::EtagCache;
use mirrorkit_core::http::redact::SafeUrl;
use serde_json::Value;
use url::Url;

use super::{Registry, RemoteFile, public_url};
use crate::engine::Dependency;
use crate::tree::Tree;
use mirrorkit_core::http::conditional as document;

/// A sparse registry, with the `dl` template of every upstream read before the crates are.
#[derive(Default)]
pub(crate) struct Cargo {
    /// Upstream index URL (as a string, with a trailing `/`) → its `config.json` `dl`.
    pub(crate) dl: BTreeMap<String, String>,
}

impl Cargo {
    /// Read the `config.json` of every upstream in `upstreams`: the registry, and for each
    /// upstream whose configuration could not be had, why (its packages fail with it).
    pub(crate) async fn read_configs(
        http: &HttpClient,
        cache: &EtagCache,
        upstreams: &[Url],
    ) -> (Cargo, BTreeMap<String, (String, ExitCode)>) {
        let mut dl = BTreeMap::new();
        let mut failed = BTreeMap::new();
        for upstream in upstreams {
            let key = upstream.to_string();
            let result = async {
                let index = upstream_index(upstream).map_err(|e| (e, ExitCode::Usage))?;
                let url = index
                    .join("config.json")
                    .map_err(|e| (e.to_string(), ExitCode::Usage))?;
                let what = mirrorkit_core::http::redact::SafeUrl::new(&url).to_string();
                let bytes = document::get(http, cache, &url, "application/json")
                    .await
                    .map_err(|e| (e.message.clone(), e.code))?;
                let doc: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| (format!("{what}: not JSON: {e}"), ExitCode::Data))?;
                let template = doc
                    .get("dl")
                    .and_then(Value::as_str)
                    .ok_or_else(|| (format!("{what}: no `dl`"), ExitCode::Data))?;
                Ok::<_, (String, ExitCode)>((index.to_string(), template.to_string()))
            }
            .await;
            match result {
                Ok((index, template)) => {
                    dl.insert(index, template);
                }
                Err(e) => {
                    failed.insert(key, e);
                }
            }
        }
        (Cargo { dl }, failed)
    }
}

/// One line of an index file.
#[derive(Clone, Debug)]
struct Line {
    raw: String,
    vers: String,
    cksum: Option<String>,
    yanked: bool,
    /// When it was published (`pubtime`, written by registries since 2025).
    pubtime: Option<String>,
}

/// A crate's index file, and the `dl` template of its upstream.
pub(crate) struct IndexFile {
    name: String,
    lines: Vec<Line>,
    dl: String,
}

/// The index path of a crate name (lowercased): `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`.
pub(crate) fn index_path(name: &str) -> String {
    let n = name.to_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

/// The sparse index URL of an upstream written as cargo writes it (`sparse+https://…/`).
pub(crate) fn upstream_index(upstream: &Url) -> Result<Url, String> {
    let s = upstream.as_str();
    let s = s.strip_prefix("sparse+").unwrap_or(s);
    let mut u = Url::parse(s).map_err(|e| format!("the upstream is not a URL: {e}"))?;
    if !u.path().ends_with('/') {
        u.set_path(&format!("{}/", u.path()));
    }
    Ok(u)
}

/// A download URL from the `dl` template (cargo's markers, or `/{crate}/{version}/download`
/// appended when it has none).
fn download_url(dl: &str, name: &str, version: &str, cksum: &str) -> String {
    let markers = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    if !markers.iter().any(|m| dl.contains(m)) {
        return format!("{}/{name}/{version}/download", dl.trim_end_matches('/'));
    }
    let prefix = index_path(name);
    let prefix = prefix.rsplit_once('/').map_or("", |(p, _)| p);
    dl.replace("{crate}", name)
        .replace("{version}", version)
        .replace("{prefix}", prefix)
        .replace("{lowerprefix}", &prefix.to_lowercase())
        .replace("{sha256-checksum}", cksum)
}

fn crate_path(name: &str, version: &str) -> String {
    format!("cargo/crates/{name}/{name}-{version}.crate")
}

fn safe(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

fn parse_lines(name: &str, text: &str) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(raw).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        let line_name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        if !line_name.eq_ignore_ascii_case(name) {
            return Err(format!(
                "line {}: names crate {line_name:?}, not {name:?}",
                i + 1
            ));
        }
        let vers = v
            .get("vers")
            .and_then(Value::as_str)
            .filter(|s| safe(s))
            .ok_or_else(|| format!("line {}: no valid `vers`", i + 1))?;
        lines.push(Line {
            raw: raw.to_string(),
            vers: vers.to_string(),
            cksum: v
                .get("cksum")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit())),
            yanked: v.get("yanked").and_then(Value::as_bool).unwrap_or(false),
            pubtime: v.get("pubtime").and_then(Value::as_str).map(str::to_string),
        });
    }
    Ok(lines)
}

impl Registry for Cargo {
    type Meta = IndexFile;
    const DEFAULT_UPSTREAM: &'static str = "sparse+https://index.crates.io/";
    const CACHE_KIND: &'static str = "cargo-index";

    fn metadata_url(&self, upstream: &Url, name: &str) -> Result<Url, String> {
        if !safe(name) || !name.is_ascii() {
            return Err(format!("{name:?} is not a crate name"));
        }
        upstream_index(upstream)?
            .join(&index_path(name))
            .map_err(|e| e.to_string())
    }

    fn accept(&self) -> &'static str {
        "*/*"
    }

    fn parse(&self, name: &str, url: &Url, bytes: &[u8]) -> Result<Self::Meta, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        let dl = self
            .dl
            .iter()
            .find(|(upstream, _)| url.as_str().starts_with(upstream.as_str()))
            .map(|(_, dl)| dl.clone())
            .ok_or_else(|| format!("no config.json was read for {}", SafeUrl::new(url)))?;
        Ok(IndexFile {
            name: name.to_string(),
            lines: parse_lines(name, text)?,
            dl,
        })
    }

    fn versions(&self, meta: &Self::Meta) -> Vec<String> {
        meta.lines.iter().map(|l| l.vers.clone()).collect()
    }

    fn is_prerelease(&self, version: &str) -> bool {
        semver::Version::parse(version).map_or(true, |v| !v.pre.is_empty())
    }

    fn check_range(&self, range: &str) -> Result<(), String> {
        semver::VersionReq::parse(range)
            .map(|_| ())
            .map_err(|e| format!("{range:?} is not a cargo version requirement: {e}"))
    }

    fn in_range(&self, version: &str, range: &str) -> bool {
        match (
            semver::Version::parse(version),
            semver::VersionReq::parse(range),
        ) {
            (Ok(v), Ok(r)) => r.matches(&v),
            _ => false,
        }
    }

    fn compare(&self, a: &str, b: &str) -> std::cmp::Ordering {
        let parse = |v: &str| semver::Version::parse(v).ok();
        super::order_parsed((a, parse(a)), (b, parse(b)))
    }

    fn released_at(&self, meta: &Self::Meta, version: &str) -> Option<time::OffsetDateTime> {
        meta.lines
            .iter()
            .find(|l| l.vers == version)
            .and_then(|l| l.pubtime.as_deref())
            .and_then(super::rfc3339)
    }

    fn files(&self, meta: &Self::Meta, version: &str) -> Result<Vec<RemoteFile>, String> {
        let line = meta
            .lines
            .iter()
            .find(|l| l.vers == version)
            .ok_or_else(|| format!("no index line for {version}"))?;
        let cksum = line.cksum.clone().unwrap_or_default();
        let url = download_url(&meta.dl, &meta.name, version, &cksum);
        let url = Url::parse(&url).map_err(|e| {
            format!(
                "{}@{version}: the download URL is not a URL: {e}",
                meta.name
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{}: not an http(s) download URL",
                SafeUrl::new(&url)
            ));
        }
        Ok(vec![RemoteFile {
            url,
            digest: line
                .cksum
                .as_ref()
                .and_then(|c| format!("sha256:{c}").parse::<Digest>().ok()),
            tree_path: crate_path(&meta.name, version),
            also: Vec::new(),
        }])
    }

    fn dependencies(
        &self,
        meta: &Self::Meta,
        version: &str,
        _extras: &std::collections::BTreeSet<String>,
        _local: &dyn Fn(&str) -> Option<std::path::PathBuf>,
    ) -> Result<Vec<Dependency>, String> {
        let Some(line) = meta.lines.iter().find(|l| l.vers == version) else {
            return Ok(Vec::new());
        };
        let Ok(v) = serde_json::from_str::<Value>(&line.raw) else {
            return Ok(Vec::new());
        };
        // Normal and build dependencies, optional ones too (features may turn them on), for
        // every target; a renamed dependency under its real name (`package`).
        let deps = v
            .get("deps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|d| d.get("kind").and_then(Value::as_str) != Some("dev"))
            .filter(|d| d.get("registry").is_none_or(Value::is_null))
            .filter_map(|d| {
                let name = d
                    .get("package")
                    .and_then(Value::as_str)
                    .or(d.get("name").and_then(Value::as_str))?;
                let range = d.get("req").and_then(Value::as_str)?;
                Some(Dependency {
                    name: name.to_string(),
                    range: range.to_string(),
                    extras: Default::default(),
                })
            })
            .collect();
        Ok(deps)
    }

    fn satisfying(&self, meta: &Self::Meta, range: &str) -> Vec<String> {
        let Ok(req) = semver::VersionReq::parse(range) else {
            return Vec::new();
        };
        meta.lines
            .iter()
            .filter(|l| !l.yanked)
            .filter_map(|l| semver::Version::parse(&l.vers).ok().map(|p| (p, &l.vers)))
            .filter(|(p, _)| req.matches(p))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v.clone())
            .into_iter()
            .collect()
    }

    fn published(&self, tree: &Tree, name: &str) -> Vec<String> {
        let Some(text) = tree
            .read(&format!("cargo/index/{}", index_path(name)))
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return Vec::new();
        };
        parse_lines(name, &text)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| {
                tree.path(&crate_path(name, &l.vers))
                    .is_some_and(|p| p.is_file())
            })
            .map(|l| l.vers)
            .collect()
    }

    fn publish(
        &self,
        tree: &Tree,
        name: &str,
        meta: &Self::Meta,
        versions: &[String],
        base_url: &Url,
    ) -> Result<(), String> {
        let dl = public_url(base_url, "cargo/crates/")?;
        let config =
            serde_json::json!({"dl": format!("{dl}{{crate}}/{{crate}}-{{version}}.crate")});
        tree.write(
            "cargo/index/config.json",
            &serde_json::to_vec_pretty(&config).map_err(|e| e.to_string())?,
        )?;
        let path = format!("cargo/index/{}", index_path(name));
        let old: Vec<Line> = tree
            .read(&path)
            .and_then(|b| String::from_utf8(b).ok())
            .map(|t| parse_lines(name, &t).unwrap_or_default())
            .unwrap_or_default();
        // By version: the lines published before (their crates are there), then this run's,
        // verbatim, in the upstream's order.
        let mut lines: Vec<Line> = old
            .into_iter()
            .filter(|l| {
                tree.path(&crate_path(name, &l.vers))
                    .is_some_and(|p| p.is_file())
            })
            .collect();
        for l in meta.lines.iter().filter(|l| versions.contains(&l.vers)) {
            if let Some(existing) = lines.iter_mut().find(|e| e.vers == l.vers) {
                *existing = l.clone(); // a newer line (yanked since) replaces the old one
            } else {
                lines.push(l.clone());
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for l in &lines {
            text.push_str(&l.raw);
            text.push('\n');
        }
        tree.write(&path, text.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_and_download_urls_as_cargo_makes_them() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("Abc"), "3/a/abc");
        assert_eq!(index_path("Serde_json"), "se/rd/serde_json");
        assert_eq!(
            download_url("https://static.crates.io/crates", "serde", "1.0.0", "ab"),
            "https://static.crates.io/crates/serde/1.0.0/download"
        );
        assert_eq!(
            download_url(
                "https://d/{prefix}/{crate}-{version}.crate?h={sha256-checksum}",
                "Serde",
                "1.0.0",
                "ab"
            ),
            "https://d/se/rd/Serde-1.0.0.crate?h=ab"
        );
        assert_eq!(
            upstream_index(&Url::parse("sparse+https://index.crates.io").unwrap())
                .unwrap()
                .as_str(),
            "https://index.crates.io/"
        );
    }

    #[test]
    fn index_lines_must_name_the_crate_and_a_version() {
        assert!(
            parse_lines("a", r#"{"name":"b","vers":"1.0.0"}"#)
                .unwrap_err()
                .contains("names crate")
        );
        assert!(parse_lines("a", r#"{"name":"a","vers":"../x"}"#).is_err());
        let l = parse_lines(
            "a",
            "{\"name\":\"A\",\"vers\":\"1.0.0\",\"cksum\":\"00\"}\n\n",
        )
        .unwrap();
        assert_eq!((l.len(), l[0].cksum.is_none()), (1, true));
    }
}
