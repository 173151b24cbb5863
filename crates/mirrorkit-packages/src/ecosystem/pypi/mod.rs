//! PyPI: the simple API (PEP 691 JSON when the index offers it, PEP 503 HTML otherwise), files
//! checked against the index's `sha256`, PEP 658 metadata files with their own hash, yanked files
//! (PEP 592) kept and marked. Published as `pypi/simple/<name>/index.html` (PEP 503, with
//! `data-requires-python`, `data-core-metadata`/`data-dist-info-metadata` and `data-yanked`) and
//! `index.json` (PEP 691) beside it, files at `pypi/files/<name>/<filename>` linked relatively
//! (`#sha256=…`), and the root `pypi/simple/index.html` listing every project. Which files
//! are taken and what dependency markers are evaluated for: [`targets`]; dependencies read
//! from the files' metadata: [`requires`].

mod requires;
pub(crate) mod targets;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::source::upstream_url;
use serde_json::{Value, json};
use url::Url;

use super::{Registry, RemoteFile};
use crate::engine::Dependency;
use crate::html_links::{self, escape};
use crate::tree::Tree;

/// The PyPI simple API, for the target Pythons and platforms.
#[derive(Default)]
pub(crate) struct Pypi {
    pub(crate) targets: targets::Targets,
}

/// One file a project page lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DistFile {
    filename: String,
    url: Url,
    version: String,
    sha256: Option<String>,
    requires_python: Option<String>,
    /// PEP 658: the metadata file exists; its SHA-256 when the page gives one.
    metadata: Option<Option<String>>,
    /// PEP 592: yanked, with the reason (maybe empty).
    yanked: Option<String>,
    /// PEP 700: when it was uploaded (JSON pages only).
    upload_time: Option<String>,
}

/// A project page.
pub(crate) struct Project {
    /// The normalised name.
    name: String,
    files: Vec<DistFile>,
}

fn document_dir(name: &str) -> String {
    format!("pypi/simple/{name}")
}

fn file_path(name: &str, filename: &str) -> String {
    format!("pypi/files/{name}/{filename}")
}

/// The version in a distribution's file name (wheel: the second `-` field; sdist: what follows
/// the last `-`), `None` for anything else.
fn version_of(filename: &str) -> Option<String> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        return (parts.len() >= 5).then(|| parts[1].to_string());
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))?;
    let (_, v) = stem.rsplit_once('-')?;
    (!v.is_empty()).then(|| v.to_string())
}

/// A file name that stays in its directory.
fn safe_filename(f: &str) -> bool {
    !f.is_empty() && f != "." && f != ".." && !f.contains(['/', '\\', '\0'])
}

fn sha256_hex(s: &str) -> Option<String> {
    let s = s.to_ascii_lowercase();
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

/// `sha256=<hex>` (a page's `#fragment` or `data-core-metadata` value).
fn sha256_of_pair(s: &str) -> Option<String> {
    s.split_once('=')
        .filter(|(alg, _)| alg.eq_ignore_ascii_case("sha256"))
        .and_then(|(_, h)| sha256_hex(h))
}

fn parse_html(page: &Url, text: &str) -> Result<Vec<DistFile>, String> {
    let mut files = Vec::new();
    for link in html_links::links(text) {
        let Some(href) = link.attr("href") else {
            continue;
        };
        let mut url = upstream_url::resolve(page, href)?;
        let sha256 = url.fragment().and_then(sha256_of_pair);
        url.set_fragment(None);
        let filename = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(|f| html_links::decode(&percent_decode(f)))
            .unwrap_or_default();
        let Some(version) = version_of(&filename).filter(|_| safe_filename(&filename)) else {
            continue;
        };
        let metadata = link
            .attr("data-core-metadata")
            .or(link.attr("data-dist-info-metadata"))
            .filter(|v| *v != "false")
            .map(sha256_of_pair);
        files.push(DistFile {
            filename,
            url,
            version,
            sha256,
            requires_python: link.attr("data-requires-python").map(str::to_string),
            metadata,
            yanked: link.attr("data-yanked").map(str::to_string),
            upload_time: None,
        });
    }
    Ok(files)
}

fn parse_json(page: &Url, doc: &Value) -> Result<Vec<DistFile>, String> {
    let list = doc
        .get("files")
        .and_then(Value::as_array)
        .ok_or("no `files` array")?;
    let mut files = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let filename = f
            .get("filename")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("files[{i}]: no `filename`"))?
            .to_string();
        let href = f
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("files[{i}]: no `url`"))?;
        let mut url = upstream_url::resolve(page, href)?;
        url.set_fragment(None);
        let Some(version) = version_of(&filename).filter(|_| safe_filename(&filename)) else {
            continue;
        };
        let metadata = match f.get("core-metadata").or(f.get("dist-info-metadata")) {
            Some(Value::Bool(true)) => Some(None),
            Some(Value::Object(h)) => {
                Some(h.get("sha256").and_then(Value::as_str).and_then(sha256_hex))
            }
            _ => None,
        };
        let yanked = match f.get("yanked") {
            Some(Value::Bool(true)) => Some(String::new()),
            Some(Value::String(r)) => Some(r.clone()),
            _ => None,
        };
        files.push(DistFile {
            filename,
            url,
            version,
            sha256: f
                .pointer("/hashes/sha256")
                .and_then(Value::as_str)
                .and_then(sha256_hex),
            requires_python: f
                .get("requires-python")
                .and_then(Value::as_str)
                .map(str::to_string),
            metadata,
            yanked,
            upload_time: f
                .get("upload-time")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    Ok(files)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// PEP 440 pre- and dev-releases (`1.0a1`, `2.0rc1`, `1.0.dev3`); the local part is ignored.
fn is_pre(version: &str) -> bool {
    let public = version
        .split('+')
        .next()
        .unwrap_or(version)
        .to_ascii_lowercase();
    [
        "a", "b", "c", "rc", "alpha", "beta", "pre", "preview", "dev",
    ]
    .iter()
    .any(|tag| {
        public.match_indices(tag).any(|(i, _)| {
            public[..i].ends_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '_')
                && public[i + tag.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_ascii_digit() || c == '.')
        })
    })
}

/// The files a published project page lists, from its `index.json`.
fn published_files(tree: &Tree, name: &str) -> Vec<Value> {
    tree.read(&format!("{}/index.json", document_dir(name)))
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|d| d.get("files").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|f| {
            f.get("filename")
                .and_then(Value::as_str)
                .filter(|n| safe_filename(n))
                .is_some_and(|n| tree.path(&file_path(name, n)).is_some_and(|p| p.is_file()))
        })
        .collect()
}

impl Pypi {
    /// The files of `version` for the target Pythons and platforms.
    fn wanted_files<'m>(&self, meta: &'m Project, version: &str) -> Vec<&'m DistFile> {
        meta.files
            .iter()
            .filter(|f| f.version == version)
            .filter(|f| {
                self.targets
                    .wants(&f.filename, f.requires_python.as_deref())
            })
            .collect()
    }
}

impl Registry for Pypi {
    type Meta = Project;
    const DEFAULT_UPSTREAM: &'static str = "https://pypi.org/simple/";
    const CACHE_KIND: &'static str = "pypi-project";

    fn metadata_url(&self, upstream: &Url, name: &str) -> Result<Url, String> {
        let mut url = upstream.clone();
        url.path_segments_mut()
            .map_err(|()| format!("{} cannot be an index URL", SafeUrl::new(upstream)))?
            .pop_if_empty()
            .push(name)
            .push("");
        Ok(url)
    }

    fn accept(&self) -> &'static str {
        "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
    }

    fn parse(&self, name: &str, url: &Url, bytes: &[u8]) -> Result<Self::Meta, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        let files = if text.trim_start().starts_with('{') {
            let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
            parse_json(url, &doc)?
        } else {
            parse_html(url, text)?
        };
        Ok(Project {
            name: name.to_string(),
            files,
        })
    }

    fn versions(&self, meta: &Self::Meta) -> Vec<String> {
        let mut v: Vec<String> = meta.files.iter().map(|f| f.version.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    fn is_prerelease(&self, version: &str) -> bool {
        is_pre(version)
    }

    fn check_range(&self, range: &str) -> Result<(), String> {
        range
            .parse::<pep440_rs::VersionSpecifiers>()
            .map(|_| ())
            .map_err(|e| format!("{range:?} is not a PEP 440 version specifier: {e}"))
    }

    fn in_range(&self, version: &str, range: &str) -> bool {
        match (
            version.parse::<pep440_rs::Version>(),
            range.parse::<pep440_rs::VersionSpecifiers>(),
        ) {
            (Ok(v), Ok(r)) => r.contains(&v),
            _ => false,
        }
    }

    fn compare(&self, a: &str, b: &str) -> std::cmp::Ordering {
        let parse = |v: &str| v.parse::<pep440_rs::Version>().ok();
        super::order_parsed((a, parse(a)), (b, parse(b)))
    }

    /// The earliest `upload-time` (PEP 700) of the version's files; pages without it (PEP 503
    /// HTML, JSON before API 1.1) give none.
    fn released_at(&self, meta: &Self::Meta, version: &str) -> Option<time::OffsetDateTime> {
        let times: Vec<Option<time::OffsetDateTime>> = meta
            .files
            .iter()
            .filter(|f| f.version == version)
            .map(|f| f.upload_time.as_deref().and_then(super::rfc3339))
            .collect();
        if times.iter().any(Option::is_none) {
            return None;
        }
        times.into_iter().flatten().min()
    }

    fn files(&self, meta: &Self::Meta, version: &str) -> Result<Vec<RemoteFile>, String> {
        let listed = meta.files.iter().filter(|f| f.version == version).count();
        let wanted = self.wanted_files(meta, version);
        if wanted.is_empty() && listed > 0 {
            return Err(format!(
                "none of the {listed} files of {} {version} is for {} (the `pypi` targets)",
                meta.name,
                self.targets.describe()
            ));
        }
        let mut out = Vec::new();
        for f in wanted {
            let name = &meta.name;
            let digest = f
                .sha256
                .as_ref()
                .and_then(|h| format!("sha256:{h}").parse::<Digest>().ok());
            out.push(RemoteFile {
                url: f.url.clone(),
                digest,
                tree_path: file_path(name, &f.filename),
                also: Vec::new(),
            });
            if let Some(Some(h)) = &f.metadata {
                let mut url = f.url.clone();
                url.set_path(&format!("{}.metadata", f.url.path()));
                out.push(RemoteFile {
                    url,
                    digest: format!("sha256:{h}").parse().ok(),
                    tree_path: file_path(name, &format!("{}.metadata", f.filename)),
                    also: Vec::new(),
                });
            }
        }
        Ok(out)
    }

    fn installable(&self, meta: &Self::Meta, version: &str) -> bool {
        !self.wanted_files(meta, version).is_empty()
    }

    /// For each target Python (or once, for any), the highest version in `range` with a file
    /// for it that is not yanked, as pip picks; prereleases only when the range names one.
    fn satisfying(&self, meta: &Self::Meta, range: &str) -> Vec<String> {
        let spec = if range.trim().is_empty() {
            pep440_rs::VersionSpecifiers::empty()
        } else {
            match range.parse::<pep440_rs::VersionSpecifiers>() {
                Ok(s) => s,
                Err(_) => return Vec::new(),
            }
        };
        let prereleases = spec.iter().any(|s| s.version().any_prerelease());
        let pythons: Vec<Option<(u32, u32)>> = match self.targets.pythons() {
            Some(p) => p.iter().copied().map(Some).collect(),
            None => vec![None],
        };
        let mut picked = Vec::new();
        for python in pythons {
            let best = self
                .versions(meta)
                .into_iter()
                .filter_map(|v| v.parse::<pep440_rs::Version>().ok().map(|p| (p, v)))
                .filter(|(p, _)| spec.contains(p) && (prereleases || !p.any_prerelease()))
                .filter(|(_, v)| {
                    self.wanted_files(meta, v).iter().any(|f| {
                        f.yanked.is_none()
                            && self.targets.wants_for(
                                &f.filename,
                                f.requires_python.as_deref(),
                                python,
                            )
                    })
                })
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, v)| v);
            picked.extend(best);
        }
        picked.sort();
        picked.dedup();
        picked
    }

    /// Read from the metadata of every wheel of `version` at hand (its PEP 658 file, else the
    /// wheel), else from its sdist's `PKG-INFO` when that declares them.
    fn dependencies(
        &self,
        meta: &Self::Meta,
        version: &str,
        extras: &BTreeSet<String>,
        local: &dyn Fn(&str) -> Option<PathBuf>,
    ) -> Result<Vec<Dependency>, String> {
        let name = &meta.name;
        let files = self.wanted_files(meta, version);
        let mut lines = BTreeSet::new();
        let mut read = Vec::new();
        for f in files.iter().filter(|f| f.filename.ends_with(".whl")) {
            let text = if let Some(p) = local(&file_path(name, &format!("{}.metadata", f.filename)))
            {
                requires::read_metadata_file(&p)?
            } else if let Some(p) = local(&file_path(name, &f.filename)) {
                requires::read_wheel_metadata(&p)?
            } else {
                continue;
            };
            lines.extend(requires::requires_dist(&text));
            read.push(f.filename.as_str());
        }
        if read.is_empty() {
            let Some((f, p)) = files
                .iter()
                .find_map(|f| Some((f, local(&file_path(name, &f.filename))?)))
            else {
                return Err(format!(
                    "no file of {name} {version} is at hand to read its metadata from"
                ));
            };
            let text = requires::read_sdist_pkg_info(&p)?;
            if !requires::declares_requirements(&text) {
                return Err(format!(
                    "{}: no wheel of {name} {version} is at hand and its PKG-INFO does not \
                     declare the dependencies (Metadata-Version before 2.2, or Requires-Dist \
                     dynamic): only building it tells them; name them",
                    f.filename
                ));
            }
            lines.extend(requires::requires_dist(&text));
            read.push(f.filename.as_str());
        }
        requires::dependencies(
            &lines,
            self.targets.environments(),
            extras,
            &read.join(", "),
        )
    }

    fn published(&self, tree: &Tree, name: &str) -> Vec<String> {
        let mut v: Vec<String> = published_files(tree, name)
            .iter()
            .filter_map(|f| {
                f.get("filename")
                    .and_then(Value::as_str)
                    .and_then(version_of)
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn publish(
        &self,
        tree: &Tree,
        name: &str,
        meta: &Self::Meta,
        versions: &[String],
        _base_url: &Url,
    ) -> Result<(), String> {
        // By file name: what was published before, then this run's files.
        let mut files: BTreeMap<String, Value> = BTreeMap::new();
        for f in published_files(tree, name) {
            if let Some(n) = f.get("filename").and_then(Value::as_str) {
                files.insert(n.to_string(), f.clone());
            }
        }
        for f in meta.files.iter().filter(|f| versions.contains(&f.version)) {
            let (Some(sha256), true) = (
                &f.sha256,
                tree.path(&file_path(name, &f.filename))
                    .is_some_and(|p| p.is_file()),
            ) else {
                continue;
            };
            let mut entry = json!({
                "filename": f.filename,
                "url": format!("../../files/{name}/{}", f.filename),
                "hashes": {"sha256": sha256},
                "yanked": f.yanked.as_ref().map_or(Value::Bool(false), |r| if r.is_empty() { Value::Bool(true) } else { Value::String(r.clone()) }),
            });
            if let Some(rp) = &f.requires_python {
                entry["requires-python"] = json!(rp);
            }
            let metadata_file = file_path(name, &format!("{}.metadata", f.filename));
            if let Some(Some(h)) = &f.metadata
                && tree.path(&metadata_file).is_some_and(|p| p.is_file())
            {
                entry["core-metadata"] = json!({"sha256": h});
                entry["dist-info-metadata"] = json!({"sha256": h});
            }
            files.insert(f.filename.clone(), entry);
        }
        if files.is_empty() {
            return Ok(());
        }
        let list: Vec<&Value> = files.values().collect();
        let mut versions_listed: Vec<String> = files.keys().filter_map(|f| version_of(f)).collect();
        versions_listed.sort();
        versions_listed.dedup();
        let doc = json!({
            "meta": {"api-version": "1.1"},
            "name": name,
            "versions": versions_listed,
            "files": list,
        });
        let json_bytes = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
        let mut html = format!(
            "<!DOCTYPE html>\n<html>\n<head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {n}</title></head>\n<body>\n<h1>Links for {n}</h1>\n",
            n = escape(name)
        );
        for f in &list {
            let filename = f["filename"].as_str().unwrap_or_default();
            let mut attrs = format!(
                "href=\"{}#sha256={}\"",
                escape(f["url"].as_str().unwrap_or_default()),
                escape(f["hashes"]["sha256"].as_str().unwrap_or_default())
            );
            if let Some(rp) = f.get("requires-python").and_then(Value::as_str) {
                attrs.push_str(&format!(" data-requires-python=\"{}\"", escape(rp)));
            }
            if let Some(h) = f.pointer("/core-metadata/sha256").and_then(Value::as_str) {
                attrs.push_str(&format!(
                    " data-core-metadata=\"sha256={h}\" data-dist-info-metadata=\"sha256={h}\""
                ));
            }
            match f.get("yanked") {
                Some(Value::Bool(true)) => attrs.push_str(" data-yanked=\"\""),
                Some(Value::String(r)) => {
                    attrs.push_str(&format!(" data-yanked=\"{}\"", escape(r)))
                }
                _ => {}
            }
            html.push_str(&format!("<a {attrs}>{}</a><br/>\n", escape(filename)));
        }
        html.push_str("</body>\n</html>\n");
        let dir = document_dir(name);
        tree.write(&format!("{dir}/index.json"), &json_bytes)?;
        tree.write(&format!("{dir}/index.html"), html.as_bytes())?;
        Ok(())
    }

    fn finish(&self, tree: &Tree) -> Result<(), String> {
        let Some(simple) = tree.path("pypi/simple") else {
            return Ok(());
        };
        let Ok(entries) = std::fs::read_dir(&simple) else {
            return Ok(());
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join("index.html").is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        let mut html = String::from(
            "<!DOCTYPE html>\n<html>\n<head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Simple index</title></head>\n<body>\n",
        );
        for n in &names {
            html.push_str(&format!("<a href=\"{0}/\">{0}</a><br/>\n", escape(n)));
        }
        html.push_str("</body>\n</html>\n");
        tree.write("pypi/simple/index.html", html.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_file_names_and_pep_440_prereleases() {
        assert_eq!(
            version_of("pkg_a-1.0.2-py3-none-any.whl").as_deref(),
            Some("1.0.2")
        );
        assert_eq!(version_of("pkg-a-1.0.2.tar.gz").as_deref(), Some("1.0.2"));
        assert_eq!(version_of("README.md"), None);
        for v in ["1.0a1", "2.0rc1", "1.0.dev3", "1.0b2", "3.0.0-alpha.1"] {
            assert!(is_pre(v), "{v}");
        }
        for v in ["1.0", "1.0.post1", "2.1+abc", "10.2"] {
            assert!(!is_pre(v), "{v}");
        }
    }

    #[test]
    fn reads_a_pep_503_page_and_a_pep_691_document() {
        let page = Url::parse("http://pypi.test/simple/pkg-a/").unwrap();
        let files = parse_html(
            &page,
            r#"<a href="../../packages/pkg_a-1.0-py3-none-any.whl#sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" data-requires-python="&gt;=3.8" data-core-metadata="sha256=1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" data-yanked="broken">x</a>
               <a href="file:///etc/passwd#sha256=00">pkg_a-2.0.tar.gz</a>"#,
        );
        assert!(files.unwrap_err().contains("local file system"));
        let files = parse_html(
            &page,
            r#"<a href="../../packages/pkg_a-1.0-py3-none-any.whl#sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" data-requires-python="&gt;=3.8" data-core-metadata="sha256=1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" data-yanked="broken">x</a>"#,
        )
        .unwrap();
        assert_eq!(
            files[0].url.as_str(),
            "http://pypi.test/packages/pkg_a-1.0-py3-none-any.whl"
        );
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(files[0].yanked.as_deref(), Some("broken"));
        assert!(matches!(&files[0].metadata, Some(Some(h)) if h.starts_with("1123")));
        let doc = json!({"meta": {"api-version": "1.0"}, "name": "pkg-a", "files": [
            {"filename": "pkg_a-1.0.tar.gz", "url": "https://files.test/pkg_a-1.0.tar.gz",
             "hashes": {"sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
             "yanked": true, "core-metadata": false}]});
        let files = parse_json(&page, &doc).unwrap();
        assert_eq!(files[0].yanked.as_deref(), Some(""));
        assert_eq!(files[0].metadata, None);
    }
}
