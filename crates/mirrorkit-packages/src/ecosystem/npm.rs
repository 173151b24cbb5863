//! npm: the packument (`GET <registry>/<name>`, scoped names as `@scope%2fname`), tarballs
//! checked against `dist.integrity` (SHA-512). Published as `npm/<name>/index.html` holding the
//! packument JSON (a plain file server answers `GET npm/<name>/` with it) and tarballs at
//! `npm/<name>/-/<basename>-<version>.tgz`, their URLs rewritten to the tree's base URL.

use std::collections::BTreeSet;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::source::upstream_url;
use serde_json::{Map, Value};
use url::Url;

use super::{Registry, RemoteFile, public_url};
use crate::engine::Dependency;
use crate::tree::Tree;

/// The npm registry format.
pub(crate) struct Npm;

/// A packument and where it was read from (relative tarball URLs resolve against it).
pub(crate) struct Packument {
    url: Url,
    doc: Map<String, Value>,
}

/// The packument's path in the tree.
fn document_path(name: &str) -> String {
    format!("npm/{name}/index.html")
}

/// A tarball's path in the tree: `npm/@scope/name/-/name-1.0.0.tgz`.
fn tarball_path(name: &str, version: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    format!("npm/{name}/-/{base}-{version}.tgz")
}

/// The SHA-512 of an SRI `integrity` value (`sha512-<base64>`, maybe among others).
fn sha512_of_integrity(integrity: &str) -> Option<Digest> {
    use base64::Engine as _;
    integrity.split_whitespace().find_map(|sri| {
        let b64 = sri.strip_prefix("sha512-")?;
        let b64 = b64.split('?').next()?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        (raw.len() == 64)
            .then(|| format!("sha512:{}", hex::encode(raw)).parse().ok())
            .flatten()
    })
}

impl Registry for Npm {
    type Meta = Packument;
    const DEFAULT_UPSTREAM: &'static str = "https://registry.npmjs.org/";
    const CACHE_KIND: &'static str = "npm-packument";

    fn metadata_url(&self, upstream: &Url, name: &str) -> Result<Url, String> {
        let mut url = upstream.clone();
        url.path_segments_mut()
            .map_err(|()| format!("{} cannot be a registry URL", SafeUrl::new(upstream)))?
            .pop_if_empty()
            .push(name); // `/` in a scoped name is encoded as %2F, as npm sends it
        Ok(url)
    }

    fn accept(&self) -> &'static str {
        "application/json"
    }

    fn parse(&self, name: &str, url: &Url, bytes: &[u8]) -> Result<Self::Meta, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(doc) = doc else {
            return Err("the packument is not a JSON object".into());
        };
        if doc.get("name").and_then(Value::as_str) != Some(name) {
            return Err(format!("the packument is not {name:?}'s"));
        }
        if !doc.get("versions").is_some_and(Value::is_object) {
            return Err("the packument has no `versions` object".into());
        }
        Ok(Packument {
            url: url.clone(),
            doc,
        })
    }

    fn versions(&self, meta: &Self::Meta) -> Vec<String> {
        meta.doc
            .get("versions")
            .and_then(Value::as_object)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn is_prerelease(&self, version: &str) -> bool {
        nodejs_semver::Version::parse(version).map_or(true, |v| v.is_prerelease())
    }

    fn check_range(&self, range: &str) -> Result<(), String> {
        nodejs_semver::Range::parse(range)
            .map(|_| ())
            .map_err(|e| format!("{range:?} is not an npm version range: {e}"))
    }

    fn in_range(&self, version: &str, range: &str) -> bool {
        match (
            nodejs_semver::Version::parse(version),
            nodejs_semver::Range::parse(range),
        ) {
            (Ok(v), Ok(r)) => r.satisfies(&v),
            _ => false,
        }
    }

    fn compare(&self, a: &str, b: &str) -> std::cmp::Ordering {
        let parse = |v: &str| nodejs_semver::Version::parse(v).ok();
        super::order_parsed((a, parse(a)), (b, parse(b)))
    }

    fn released_at(&self, meta: &Self::Meta, version: &str) -> Option<time::OffsetDateTime> {
        meta.doc
            .get("time")
            .and_then(|t| t.get(version))
            .and_then(Value::as_str)
            .and_then(super::rfc3339)
    }

    fn files(&self, meta: &Self::Meta, version: &str) -> Result<Vec<RemoteFile>, String> {
        let name = meta
            .doc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let dist = meta
            .doc
            .get("versions")
            .and_then(|v| v.get(version))
            .and_then(|v| v.get("dist"))
            .ok_or_else(|| format!("{name}@{version}: no `dist` in the packument"))?;
        let tarball = dist
            .get("tarball")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{name}@{version}: no `dist.tarball`"))?;
        let url = upstream_url::resolve(&meta.url, tarball)
            .map_err(|e| format!("{name}@{version}: {e}"))?;
        let digest = dist
            .get("integrity")
            .and_then(Value::as_str)
            .and_then(sha512_of_integrity);
        Ok(vec![RemoteFile {
            url,
            digest,
            tree_path: tarball_path(name, version),
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
        let Some(entry) = meta.doc.get("versions").and_then(|v| v.get(version)) else {
            return Ok(Vec::new());
        };
        // What npm installs: dependencies, optional ones, and peers (npm 7 and later install
        // them), aliases (`npm:real@range`) under their real name; git, file and URL
        // specifiers are not registry packages and are left out.
        let mut out = Vec::new();
        for field in ["dependencies", "optionalDependencies", "peerDependencies"] {
            for (name, spec) in entry
                .get(field)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let Some(spec) = spec.as_str() else { continue };
                let (name, range) = match spec.strip_prefix("npm:") {
                    Some(alias) => match alias.rsplit_once('@').filter(|(n, _)| !n.is_empty()) {
                        Some((n, r)) => (n.to_string(), r.to_string()),
                        None => (alias.to_string(), "*".to_string()),
                    },
                    None => (name.clone(), spec.to_string()),
                };
                if nodejs_semver::Range::parse(&range).is_ok() {
                    out.push(Dependency {
                        name,
                        range,
                        extras: Default::default(),
                    });
                } else {
                    tracing::warn!(package = %name, %range, "not a registry dependency; left out");
                }
            }
        }
        Ok(out)
    }

    fn satisfying(&self, meta: &Self::Meta, range: &str) -> Vec<String> {
        let Ok(range) = nodejs_semver::Range::parse(range) else {
            return Vec::new();
        };
        self.versions(meta)
            .iter()
            .filter_map(|v| nodejs_semver::Version::parse(v).ok().map(|p| (p, v)))
            .filter(|(p, _)| range.satisfies(p))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v.clone())
            .into_iter()
            .collect()
    }

    fn published(&self, tree: &Tree, name: &str) -> Vec<String> {
        let Some(doc) = tree
            .read(&document_path(name))
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            return Vec::new();
        };
        doc.get("versions")
            .and_then(Value::as_object)
            .map(|v| {
                v.keys()
                    .filter(|version| {
                        tree.path(&tarball_path(name, version))
                            .is_some_and(|p| p.is_file())
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn publish(
        &self,
        tree: &Tree,
        name: &str,
        meta: &Self::Meta,
        versions: &[String],
        base_url: &Url,
    ) -> Result<(), String> {
        let path = document_path(name);
        // What the tree published before stays (its tarballs are there); new versions come
        // from the upstream's packument.
        let old: Map<String, Value> = tree
            .read(&path)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .unwrap_or_default();
        let mut listed: Map<String, Value> = Map::new();
        let old_versions = old.get("versions").and_then(Value::as_object);
        for (v, entry) in old_versions.into_iter().flatten() {
            if tree
                .path(&tarball_path(name, v))
                .is_some_and(|p| p.is_file())
            {
                listed.insert(v.clone(), entry.clone());
            }
        }
        let upstream_versions = meta.doc.get("versions").and_then(Value::as_object);
        for v in versions {
            let Some(mut entry) = upstream_versions.and_then(|u| u.get(v)).cloned() else {
                continue;
            };
            let url = public_url(base_url, &tarball_path(name, v))?;
            if let Some(dist) = entry.get_mut("dist").and_then(Value::as_object_mut) {
                dist.insert("tarball".into(), Value::String(url.to_string()));
            }
            listed.insert(v.clone(), entry);
        }
        if listed.is_empty() {
            return Ok(());
        }
        let mut doc = meta.doc.clone();
        doc.remove("_attachments");
        doc.remove("_rev");
        // dist-tags that point at a listed version; `latest` always does.
        let mut tags = Map::new();
        if let Some(t) = meta.doc.get("dist-tags").and_then(Value::as_object) {
            for (tag, v) in t {
                if v.as_str().is_some_and(|v| listed.contains_key(v)) {
                    tags.insert(tag.clone(), v.clone());
                }
            }
        }
        if !tags.contains_key("latest") {
            let newest = listed
                .keys()
                .filter_map(|v| nodejs_semver::Version::parse(v).ok().map(|p| (p, v)))
                .filter(|(p, _)| !p.is_prerelease())
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, v)| v.clone())
                .or_else(|| listed.keys().next_back().cloned());
            if let Some(v) = newest {
                tags.insert("latest".into(), Value::String(v));
            }
        }
        let kept: BTreeSet<&String> = listed.keys().collect();
        if let Some(Value::Object(time)) = doc.get_mut("time") {
            time.retain(|k, _| k == "created" || k == "modified" || kept.contains(k));
        }
        doc.insert("dist-tags".into(), Value::Object(tags));
        doc.insert("versions".into(), Value::Object(listed));
        let bytes = serde_json::to_vec(&Value::Object(doc)).map_err(|e| e.to_string())?;
        tree.write(&path, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_gives_the_sha512_and_scoped_names_are_encoded() {
        let d = sha512_of_integrity(
            "sha1-AAAA sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
        )
        .unwrap();
        assert_eq!(d.algorithm(), mirrorkit_core::digest::Algorithm::Sha512);
        assert!(sha512_of_integrity("sha1-AAAA").is_none());
        let url = Npm
            .metadata_url(&Url::parse("http://r.example/npm/").unwrap(), "@s/p")
            .unwrap();
        assert_eq!(url.as_str(), "http://r.example/npm/@s%2Fp");
        assert_eq!(tarball_path("@s/p", "1.0.0"), "npm/@s/p/-/p-1.0.0.tgz");
    }
}
