//! A published package tree as an OCI artifact, so that bundles carry packages in the one format
//! they carry everything in: an image index (`artifactType`
//! [`ARTIFACT_TYPE`]) of manifests with up to [`FILES_PER_MANIFEST`] layers each, one layer per
//! file of the tree (its path in `org.opencontainers.image.title`), and a config naming the URL
//! the tree was served at. Blobs are content-addressed, so a delta bundle carries only the files
//! that are new. And back ([`into_tree`]): every file placed in a tree first, the documents last,
//! rewritten for the URL the new tree is served at.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mirrorkit_core::digest::{Algorithm, Digest, Hasher};
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_oci::layout::Layout;
use mirrorkit_oci::media::{OCI_INDEX, OCI_MANIFEST};
use serde_json::{Value, json};
use url::Url;

use crate::tree::Tree;

/// The `artifactType` of a package tree's index and manifests.
pub const ARTIFACT_TYPE: &str = "application/vnd.mirrorkit.packages.tree.v1";
/// The media type of its config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.mirrorkit.packages.config.v1+json";
/// Files per manifest: keeps each well under the 4 MiB registries accept.
pub const FILES_PER_MANIFEST: usize = 4000;
const FILE_MEDIA_TYPE: &str = "application/octet-stream";
const TITLE: &str = "org.opencontainers.image.title";

/// One file of a tree: its path (slash-separated, relative), digest and size.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TreeFile {
    path: String,
    digest: Digest,
    size: u64,
}

/// What [`into_tree`] did (or, on a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Files placed (new or changed).
    pub placed: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Files the tree already held as they are.
    pub unchanged: usize,
    /// Documents written because they changed (rewritten for the new URL when it differs).
    pub documents: usize,
}

/// The digest (in `algorithm`) and size of the file at `path`.
fn hash_file(path: &Path, algorithm: Algorithm) -> Result<(Digest, u64), String> {
    mirrorkit_core::digest::hash_file(path, algorithm)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Every regular file under `root` (temp and hidden files left out), sorted.
fn walk(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    let mut dirs = vec![(String::new(), root.to_path_buf())];
    while let Some((rel, dir)) = dirs.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in rd {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if kind.is_dir() {
                dirs.push((child, path));
            } else if kind.is_file() {
                out.push((child, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Put the file at `from` into `layout` as the blob `digest` (a hard link, or a copy).
async fn put_blob(layout: &Layout, digest: &Digest, size: u64, from: &Path) -> Result<(), String> {
    let to = layout.blob_path(digest);
    if to.is_file() {
        return Ok(());
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    if std::fs::hard_link(from, &to).is_ok() {
        return Ok(());
    }
    let stream = mirrorkit_oci::layout::file_stream(from)
        .await
        .map_err(|e| e.to_string())?;
    layout
        .write_blob(digest, Some(size), stream)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn put_json(layout: &Layout, value: &Value) -> Result<(Digest, u64), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    let digest = Digest::sha256_of(&bytes);
    let size = layout
        .write_blob_bytes(&digest, bytes.into())
        .await
        .map_err(|e| e.to_string())?;
    Ok((digest, size))
}

/// Write the tree at `root`, served at `base_url`, into `layout` as an artifact tagged `tag`;
/// the number of files.
pub async fn from_tree(
    root: &Path,
    base_url: &Url,
    layout: &Layout,
    tag: &str,
) -> Result<usize, String> {
    let mut files = Vec::new();
    for (rel, path) in walk(root)? {
        let (digest, size) = hash_file(&path, Algorithm::Sha256)?;
        put_blob(layout, &digest, size, &path).await?;
        files.push(TreeFile {
            path: rel,
            digest,
            size,
        });
    }
    let parts: Vec<&[TreeFile]> = files.chunks(FILES_PER_MANIFEST).collect();
    let mut manifests = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let config = json!({
            "base_url": base_url.as_str(),
            "part": i + 1,
            "parts": parts.len(),
            "files": files.len(),
        });
        let (config_digest, config_size) = put_json(layout, &config).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest.to_string(), "size": config_size},
            "layers": part.iter().map(|f| json!({
                "mediaType": FILE_MEDIA_TYPE,
                "digest": f.digest.to_string(),
                "size": f.size,
                "annotations": {TITLE: f.path},
            })).collect::<Vec<_>>(),
        });
        let (digest, size) = put_json(layout, &manifest).await?;
        manifests.push(json!({
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "digest": digest.to_string(),
            "size": size,
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": manifests,
    });
    let (digest, size) = put_json(layout, &index).await?;
    layout
        .set_tag(Some(tag), OCI_INDEX, &digest, size)
        .map_err(|e| e.to_string())?;
    Ok(files.len())
}

/// A blob of the layout directory `dir` read whole (at most 4 MiB: an index, a manifest or a
/// config), checked against its digest.
fn read_small(dir: &Path, digest: &Digest) -> Result<Value, String> {
    let path = blob_path(dir, digest);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() > mirrorkit_oci::media::MAX_MANIFEST_BYTES {
        return Err(format!("{}: larger than a manifest may be", path.display()));
    }
    let mut h = Hasher::new(digest.algorithm());
    h.update(&bytes);
    if h.finish() != *digest {
        return Err(format!("{}: does not match its digest", path.display()));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(digest.algorithm().name())
        .join(digest.hex())
}

fn digest_of(v: &Value, what: &str) -> Result<Digest, String> {
    v.get("digest")
        .and_then(Value::as_str)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| format!("{what}: no valid digest"))
}

/// Whether the descriptor `media_type` + blob at `digest` in the layout `dir` is a package tree.
pub fn is_tree(dir: &Path, digest: &Digest, media_type: &str) -> bool {
    media_type == OCI_INDEX
        && read_small(dir, digest)
            .is_ok_and(|v| v.get("artifactType").and_then(Value::as_str) == Some(ARTIFACT_TYPE))
}

/// The files of the tree artifact at `digest` in the layout directory `dir`, and the URL the
/// tree was served at.
fn read_artifact(dir: &Path, digest: &Digest) -> Result<(Vec<TreeFile>, Option<Url>), String> {
    let index = read_small(dir, digest)?;
    if index.get("artifactType").and_then(Value::as_str) != Some(ARTIFACT_TYPE) {
        return Err(format!("{digest}: not a package tree ({ARTIFACT_TYPE})"));
    }
    let mut files = Vec::new();
    let mut base_url = None;
    let mut seen = BTreeSet::new();
    for (i, m) in index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let manifest = read_small(dir, &digest_of(m, &format!("manifests[{i}]"))?)?;
        let config = read_small(
            dir,
            &digest_of(
                manifest.get("config").unwrap_or(&Value::Null),
                &format!("manifests[{i}].config"),
            )?,
        )?;
        if base_url.is_none() {
            base_url = config
                .get("base_url")
                .and_then(Value::as_str)
                .and_then(|u| Url::parse(u).ok());
        }
        for (j, layer) in manifest
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let what = format!("manifests[{i}].layers[{j}]");
            let path = layer
                .pointer(&format!("/annotations/{}", TITLE.replace('/', "~1")))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{what}: no {TITLE}"))?;
            let safe = !path.is_empty()
                && path
                    .split('/')
                    .all(|s| !s.is_empty() && s != "." && s != ".." && !s.starts_with('.'))
                && !path.contains(['\\', '\0']);
            if !safe {
                return Err(format!("{what}: {path:?} is not a path inside a tree"));
            }
            if !seen.insert(path.to_string()) {
                return Err(format!("{what}: {path:?} is listed twice"));
            }
            files.push(TreeFile {
                path: path.to_string(),
                digest: digest_of(layer, &what)?,
                size: layer
                    .get("size")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("{what}: no size"))?,
            });
        }
    }
    Ok((files, base_url))
}

/// Whether `path` is a document of the tree (it names files; written after them): npm
/// packuments, PyPI pages, the cargo index, a generic package's index.
fn is_document(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.first() {
        Some(&"npm") => path.ends_with("/index.html"),
        Some(&"pypi") => parts.get(1) == Some(&"simple"),
        Some(&"cargo") => parts.get(1) == Some(&"index"),
        Some(&"generic") => path.ends_with("/index.json"),
        _ => false,
    }
}

/// A document's bytes for a tree served at `new` rather than `old`: npm tarball URLs and cargo's
/// `dl` move; PyPI pages link relatively and stay.
fn rebased(path: &str, bytes: Vec<u8>, old: &Url, new: &Url) -> Result<Vec<u8>, String> {
    if old == new {
        return Ok(bytes);
    }
    let move_url = |v: &mut Value| {
        if let Some(s) = v.as_str()
            && let Some(rest) = s.strip_prefix(old.as_str())
        {
            *v = Value::String(format!("{}{rest}", new.as_str()));
        }
    };
    let npm = path.starts_with("npm/");
    let cargo_config = path == "cargo/index/config.json";
    if !(npm || cargo_config) {
        return Ok(bytes);
    }
    let mut doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{path}: not JSON: {e}"))?;
    if npm {
        if let Some(versions) = doc.get_mut("versions").and_then(Value::as_object_mut) {
            for v in versions.values_mut() {
                if let Some(t) = v.pointer_mut("/dist/tarball") {
                    move_url(t);
                }
            }
        }
    } else {
        for key in ["dl", "api"] {
            if let Some(v) = doc.get_mut(key) {
                move_url(v);
            }
        }
    }
    serde_json::to_vec(&doc).map_err(|e| e.to_string())
}

/// Publish the tree artifact at `digest` of the layout directory `dir` (a verified bundle) into
/// `tree`, served at `base_url` (default: where it was served before): every file first —
/// checked against its digest; a delta's file the bundle does not carry must be in the tree
/// already, or nothing is written — then the documents, rebased.
pub fn into_tree(
    dir: &Path,
    digest: &Digest,
    tree: &Tree,
    base_url: Option<&Url>,
    dry_run: bool,
) -> Result<Imported, String> {
    let (files, old_base) = read_artifact(dir, digest)?;
    let new_base = base_url.or(old_base.as_ref());
    let mut done = Imported::default();
    let in_tree = |f: &TreeFile| -> bool {
        tree.path(&f.path)
            .filter(|p| p.is_file())
            .and_then(|p| hash_file(&p, f.digest.algorithm()).ok())
            .is_some_and(|(d, s)| d == f.digest && s == f.size)
    };
    // A delta: what it left to its base must be here before anything is written — a file as
    // it was, a document as the import of the base wrote it (rebased: its digest differs).
    let mut held = BTreeSet::new();
    for f in &files {
        let blob = blob_path(dir, &f.digest);
        if !blob.is_file() {
            let here = if is_document(&f.path) {
                tree.path(&f.path).is_some_and(|p| p.is_file())
            } else {
                in_tree(f)
            };
            if !here {
                return Err(format!(
                    "{}: not in the bundle (a delta) and not in {} — import the bundle it was \
                     made against first",
                    f.path,
                    tree.root().display()
                ));
            }
            held.insert(f.path.clone());
        }
    }
    let (mut documents, plain): (Vec<&TreeFile>, Vec<&TreeFile>) =
        files.iter().partition(|f| is_document(&f.path));
    documents.retain(|f| !held.contains(&f.path));
    // The root indexes last: they name every package, whose own documents come first.
    documents.sort_by_key(|f| (f.path == "pypi/simple/index.html", f.path.clone()));
    // Every document is read, checked and rebased before anything is written, so a bad one
    // fails the import with the tree as it was; then read again to write (memory stays bounded
    // by one document, not the tree's).
    let document = |f: &TreeFile| -> Result<Vec<u8>, String> {
        let blob = blob_path(dir, &f.digest);
        let bytes = std::fs::read(&blob).map_err(|e| format!("{}: {e}", blob.display()))?;
        let mut h = Hasher::new(f.digest.algorithm());
        h.update(&bytes);
        if h.finish() != f.digest {
            return Err(format!("{}: the bundle's blob does not match", f.path));
        }
        match (&old_base, new_base) {
            (Some(old), Some(new)) => rebased(&f.path, bytes, old, new),
            _ => Ok(bytes),
        }
    };
    for f in &documents {
        document(f)?;
    }
    for f in plain {
        if held.contains(&f.path) || in_tree(f) {
            done.unchanged += 1;
            continue;
        }
        // The bundle's blobs were hashed when it was opened; the size guards against a blob
        // changed since in a bundle directory.
        let blob = blob_path(dir, &f.digest);
        let size = std::fs::metadata(&blob)
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        if size != f.size {
            return Err(format!("{}: the bundle's blob does not match", f.path));
        }
        if !dry_run {
            tree.place(&f.path, &blob)?;
        }
        done.placed += 1;
        done.bytes += f.size;
    }
    for f in documents {
        let bytes = document(f)?;
        let changed = if dry_run {
            tree.read(&f.path).is_none_or(|old| old != bytes)
        } else {
            tree.write(&f.path, &bytes)?
        };
        if changed {
            done.documents += 1;
        }
    }
    tracing::info!(
        placed = done.placed,
        unchanged = done.unchanged,
        documents = done.documents,
        base_url = %new_base.map(|u| SafeUrl::new(u).to_string()).unwrap_or_default(),
        "package tree imported"
    );
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_told_from_files_and_rebased() {
        for doc in [
            "npm/left-pad/index.html",
            "npm/@scope/name/index.html",
            "pypi/simple/index.html",
            "pypi/simple/x/index.json",
            "cargo/index/config.json",
            "cargo/index/se/rd/serde",
            "generic/tool/index.json",
        ] {
            assert!(is_document(doc), "{doc}");
        }
        for file in [
            "npm/left-pad/-/left-pad-1.3.0.tgz",
            "pypi/files/x/x-1.0.tar.gz",
            "cargo/crates/serde/serde-1.0.0.crate",
            "generic/tool/1.0/tool.tgz",
        ] {
            assert!(!is_document(file), "{file}");
        }
        let old = Url::parse("http://old.test/pk/").unwrap();
        let new = Url::parse("https://new.test/").unwrap();
        let doc = json!({"name": "a", "versions": {"1.0.0": {"dist": {"tarball": "http://old.test/pk/npm/a/-/a-1.0.0.tgz"}}}});
        let out = rebased(
            "npm/a/index.html",
            serde_json::to_vec(&doc).unwrap(),
            &old,
            &new,
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out["versions"]["1.0.0"]["dist"]["tarball"],
            "https://new.test/npm/a/-/a-1.0.0.tgz"
        );
        let cfg = br#"{"dl":"http://old.test/pk/cargo/crates/{crate}/{crate}-{version}.crate"}"#;
        let out = rebased("cargo/index/config.json", cfg.to_vec(), &old, &new).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("https://new.test/cargo/crates/")
        );
        let page = b"<a href=\"../../files/x/x.whl\">".to_vec();
        assert_eq!(
            rebased("pypi/simple/x/index.html", page.clone(), &old, &new).unwrap(),
            page
        );
    }

    #[tokio::test]
    async fn a_tree_goes_into_an_artifact_and_back_and_a_hostile_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        for (p, c) in [
            ("npm/a/-/a-1.0.0.tgz", "tarball"),
            (
                "npm/a/index.html",
                r#"{"versions":{"1.0.0":{"dist":{"tarball":"http://old.test/npm/a/-/a-1.0.0.tgz"}}}}"#,
            ),
            ("pypi/files/x/x-1.0.tar.gz", "sdist"),
            ("pypi/simple/x/index.html", "page"),
            (".mirrorkit-tmp-1", "left over"),
        ] {
            let f = src.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, c).unwrap();
        }
        let layout = Layout::create(dir.path().join("layout")).unwrap();
        let old = Url::parse("http://old.test/").unwrap();
        assert_eq!(from_tree(&src, &old, &layout, "tree").await.unwrap(), 4);
        let top = layout.resolve(Some("tree")).unwrap();
        let top_digest: Digest = top.digest().to_string().parse().unwrap();
        assert!(is_tree(layout.dir(), &top_digest, OCI_INDEX));
        let dest = Tree::open(&dir.path().join("dest")).await.unwrap();
        let new = Url::parse("http://new.test/m/").unwrap();
        let done = into_tree(layout.dir(), &top_digest, &dest, Some(&new), false).unwrap();
        assert_eq!((done.placed, done.documents), (2, 2));
        let doc = std::fs::read_to_string(dest.root().join("npm/a/index.html")).unwrap();
        assert!(
            doc.contains("http://new.test/m/npm/a/-/a-1.0.0.tgz"),
            "{doc}"
        );
        assert!(!dest.root().join(".mirrorkit-tmp-1").exists());
        // Again: nothing to place, no document changes.
        let done = into_tree(layout.dir(), &top_digest, &dest, Some(&new), false).unwrap();
        assert_eq!((done.placed, done.unchanged, done.documents), (0, 2, 0));
        // A layer titled out of the tree is refused before anything is written.
        let evil = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": Digest::sha256_of(b"{}").to_string(), "size": 2},
            "layers": [{"mediaType": FILE_MEDIA_TYPE, "digest": Digest::sha256_of(b"x").to_string(), "size": 1,
                        "annotations": {TITLE: "../../etc/passwd"}}]});
        put_json(&layout, &json!({})).await.unwrap();
        let (md, ms) = put_json(&layout, &evil).await.unwrap();
        let (idx, _) = put_json(
            &layout,
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": ARTIFACT_TYPE,
                "manifests": [{"mediaType": OCI_MANIFEST, "digest": md.to_string(), "size": ms}]}),
        )
        .await
        .unwrap();
        let e = into_tree(layout.dir(), &idx, &dest, None, false).unwrap_err();
        assert!(e.contains("not a path inside a tree"), "{e}");
    }
}
