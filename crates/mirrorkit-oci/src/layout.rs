//! OCI image layouts (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) and [`LayoutRoot`], a
//! directory holding one layout per repository (`<root>/<repository>/`).
//!
//! Crash safety: a blob is streamed into a temp file inside the layout, hashed on the way, and
//! renamed into place only when it matches its digest; `index.json` is rewritten through a temp
//! file + rename, and only after the manifest it points at is a blob. A tag is an `index.json`
//! entry annotated `org.opencontainers.image.ref.name`, which is what `skopeo copy oci:DIR:tag`
//! and `umoci` read. Several processes may write into one layout at once (see [`lock`]).

mod lock;

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt as _;
use mirrorkit_core::digest::{Digest, Hasher};
use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use tokio::io::AsyncWriteExt as _;

use crate::error::OciError;
use crate::registry::BlobStream;

/// The annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

const OCI_LAYOUT_FILE: &str = "oci-layout";
const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
const INDEX_FILE: &str = "index.json";
/// Temp files in a layout start with this; archive writers skip them.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A stream over a local file, in chunks (bounded memory).
pub async fn file_stream(path: &Path) -> Result<BlobStream, OciError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| OciError::io(path, e))?;
    let path = path.to_path_buf();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
        .map(move |r| r.map_err(|e| OciError::io(&path, e)));
    Ok(Box::pin(stream))
}

/// One OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// Open an existing layout (its `oci-layout` file must exist).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Layout, OciError> {
        let dir = dir.into();
        let marker = dir.join(OCI_LAYOUT_FILE);
        let text = std::fs::read(&marker).map_err(|e| OciError::io(&marker, e))?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Marker {
            image_layout_version: String,
        }
        let m: Marker = serde_json::from_slice(&text)
            .map_err(|e| OciError::malformed(marker.display().to_string(), e))?;
        if m.image_layout_version != "1.0.0" {
            return Err(OciError::malformed(
                marker.display().to_string(),
                format!("unsupported imageLayoutVersion {}", m.image_layout_version),
            ));
        }
        lock::claim(&dir)?;
        Ok(Layout { dir })
    }

    /// Open the layout at `dir`, creating the directory, `oci-layout` and an empty `index.json`
    /// when missing.
    pub fn create(dir: impl Into<PathBuf>) -> Result<Layout, OciError> {
        let dir = dir.into();
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(|e| OciError::io(&blobs, e))?;
        lock::claim(&dir)?;
        // Under the index lock: a second run creating the same layout must not write an empty
        // `index.json` over the first one's tags.
        let guard = lock::lock_index(&dir)?;
        // `index.json` before the `oci-layout` marker: another process treats a directory with
        // the marker as a layout and reads its index at once.
        if !dir.join(INDEX_FILE).exists() {
            write_atomic(&dir, INDEX_FILE, br#"{"schemaVersion":2,"manifests":[]}"#)?;
        }
        if !dir.join(OCI_LAYOUT_FILE).exists() {
            write_atomic(&dir, OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT)?;
        }
        drop(guard);
        Layout::open(dir)
    }

    /// The layout's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `digest` lives (`blobs/<alg>/<hex>`). Digests are validated hex, so the
    /// path never leaves the layout.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Hard-link the blob `digest` of `source` into this layout (same filesystem only), when the
    /// source file has exactly `size` bytes. The content is not re-hashed: use it for a source
    /// whose blobs were verified when written (our own layouts, a bundle verified on opening).
    /// `Ok(false)` when linking is not possible and the caller should copy.
    pub fn link_blob_from(
        &self,
        source: &Layout,
        digest: &Digest,
        size: u64,
    ) -> Result<bool, OciError> {
        let from = source.blob_path(digest);
        match std::fs::symlink_metadata(&from) {
            Ok(m) if m.is_file() && m.len() == size => {}
            _ => return Ok(false),
        }
        let to = self.blob_path(digest);
        if to.is_file() {
            return Ok(true);
        }
        let Some(dir) = to.parent() else {
            return Ok(false);
        };
        std::fs::create_dir_all(dir).map_err(|e| OciError::io(dir, e))?;
        let temp = dir.join(format!("{TEMP_PREFIX}link-{}", digest.hex()));
        let _ = std::fs::remove_file(&temp);
        if std::fs::hard_link(&from, &temp).is_err() {
            return Ok(false);
        }
        std::fs::rename(&temp, &to).map_err(|e| OciError::io(&to, e))?;
        Ok(true)
    }

    /// Stream `stream` into the blob `digest`: temp file, hash, rename when the digest (and
    /// `size`, when given) match. Returns the bytes written. A present blob is left alone.
    pub async fn write_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
        mut stream: BlobStream,
    ) -> Result<u64, OciError> {
        let final_path = self.blob_path(digest);
        let dir = final_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.dir.clone());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| OciError::io(&dir, e))?;
        let temp = mirrorkit_core::fsutil::temp_file_in(&dir, TEMP_PREFIX)
            .map_err(|e| OciError::io(&dir, e))?;
        let (file, temp_path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = Hasher::new(digest.algorithm());
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            written += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| OciError::io(&*temp_path, e))?;
        }
        file.sync_all()
            .await
            .map_err(|e| OciError::io(&*temp_path, e))?;
        drop(file);
        let actual = hasher.finish();
        if actual != *digest || size.is_some_and(|s| s != written) {
            // `temp_path` is removed on drop: nothing half-verified stays behind.
            return Err(OciError::DigestMismatch {
                what: format!("blob written to {} ({written} bytes)", self.dir.display()),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        temp_path
            .persist(&final_path)
            .map_err(|e| OciError::io(&final_path, e.error))?;
        Ok(written)
    }

    /// [`Layout::write_blob`] for bytes already in memory (manifests).
    pub async fn write_blob_bytes(&self, digest: &Digest, bytes: Bytes) -> Result<u64, OciError> {
        let len = bytes.len() as u64;
        let stream = futures_util::stream::once(async move { Ok(bytes) });
        self.write_blob(digest, Some(len), Box::pin(stream)).await
    }

    /// The blob as a stream (not verified here; the writer at the other end verifies).
    pub async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, OciError> {
        let path = self.blob_path(digest);
        if !path.is_file() {
            return Err(OciError::NotFound {
                target: self.dir.display().to_string(),
                what: format!("blob {digest}"),
            });
        }
        file_stream(&path).await
    }

    /// A small blob (a manifest) read whole, refusing more than `limit` bytes, verified.
    pub async fn read_blob_bytes(&self, digest: &Digest, limit: u64) -> Result<Bytes, OciError> {
        let path = self.blob_path(digest);
        let len = match tokio::fs::metadata(&path).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OciError::NotFound {
                    target: self.dir.display().to_string(),
                    what: format!("blob {digest}"),
                });
            }
            Err(e) => return Err(OciError::io(&path, e)),
        };
        if len > limit {
            return Err(OciError::malformed(
                format!("blob {digest}"),
                format!("{len} bytes, more than the {limit} allowed for a manifest"),
            ));
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| OciError::io(&path, e))?;
        let actual = Digest::sha256_of(&bytes);
        if digest.algorithm() == actual.algorithm() && actual != *digest {
            return Err(OciError::DigestMismatch {
                what: path.display().to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(Bytes::from(bytes))
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> Result<ImageIndex, OciError> {
        let path = self.dir.join(INDEX_FILE);
        let bytes = std::fs::read(&path).map_err(|e| OciError::io(&path, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| OciError::malformed(path.display().to_string(), e))
    }

    /// Every tag (`ref.name` annotation) in `index.json`.
    pub fn tags(&self) -> Result<Vec<String>, OciError> {
        Ok(self
            .index()?
            .manifests()
            .iter()
            .filter_map(ref_name)
            .map(str::to_string)
            .collect())
    }

    /// The `index.json` entry for `reference`: a tag, a digest, or — when `None` — the only
    /// entry (an error when there are several).
    pub fn resolve(&self, reference: Option<&str>) -> Result<Descriptor, OciError> {
        let index = self.index()?;
        let entries = index.manifests();
        let target = self.dir.display().to_string();
        let found = match reference {
            Some(r) if r.parse::<Digest>().is_ok() => {
                entries.iter().find(|d| d.digest().to_string() == r)
            }
            Some(tag) => entries.iter().find(|d| ref_name(d) == Some(tag)),
            None if entries.len() == 1 => entries.first(),
            None => {
                return Err(OciError::malformed(
                    format!("reference into {target}"),
                    format!(
                        "the layout holds {} images; name one with :TAG",
                        entries.len()
                    ),
                ));
            }
        };
        found.cloned().ok_or_else(|| OciError::NotFound {
            target,
            what: format!("image {}", reference.unwrap_or("(any)")),
        })
    }

    /// Point `tag` at the manifest `digest` (replacing an entry with the same tag), or add an
    /// untagged entry when `tag` is `None` (unless one for `digest` exists). The manifest blob
    /// must already be present. `index.json` is replaced atomically.
    pub fn set_tag(
        &self,
        tag: Option<&str>,
        media_type: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<(), OciError> {
        if !self.has_blob(digest) {
            return Err(OciError::NotFound {
                target: self.dir.display().to_string(),
                what: format!("manifest blob {digest} (tags are written after their manifest)"),
            });
        }
        let oci_digest: oci_spec::image::Digest = digest
            .to_string()
            .parse()
            .map_err(|e| OciError::malformed(format!("digest {digest}"), e))?;
        let mut descriptor = Descriptor::new(MediaType::from(media_type), size, oci_digest);
        // Across processes too: two runs into one layout must not drop each other's tags.
        let _guard = lock::lock_index(&self.dir)?;
        let mut index = self.index()?;
        let mut entries = index.manifests().clone();
        match tag {
            Some(tag) => {
                entries.retain(|d| ref_name(d) != Some(tag));
                descriptor.set_annotations(Some(
                    [(REF_NAME.to_string(), tag.to_string())]
                        .into_iter()
                        .collect(),
                ));
                entries.push(descriptor);
            }
            None => {
                let d = digest.to_string();
                if !entries.iter().any(|e| e.digest().to_string() == d) {
                    entries.push(descriptor);
                }
            }
        }
        index.set_manifests(entries);
        let bytes = serde_json::to_vec(&index).map_err(|e| OciError::malformed("index.json", e))?;
        write_atomic(&self.dir, INDEX_FILE, &bytes)
    }
}

/// The tag of an `index.json` entry.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .map(String::as_str)
}

/// Write `dir/name` through a temp file in `dir` and a rename.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), OciError> {
    use std::io::Write as _;
    let target = dir.join(name);
    let mut temp =
        mirrorkit_core::fsutil::temp_file_in(dir, TEMP_PREFIX).map_err(|e| OciError::io(dir, e))?;
    temp.write_all(bytes)
        .and_then(|_| temp.as_file().sync_all())
        .map_err(|e| OciError::io(temp.path(), e))?;
    temp.persist(&target)
        .map_err(|e| OciError::io(&target, e.error))?;
    Ok(())
}

/// A directory of OCI layouts, one per repository: `<root>/<repository>/` (e.g.
/// `./oci/tools/cmake/`). [`crate::target::AnyTarget`] publishes into it.
#[derive(Clone, Debug)]
pub struct LayoutRoot {
    root: PathBuf,
}

impl LayoutRoot {
    /// A layout root at `root` (created lazily, when something is first pushed).
    pub fn new(root: impl Into<PathBuf>) -> LayoutRoot {
        LayoutRoot { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `repository`'s layout; refuses names that could leave the root.
    pub fn repository_dir(&self, repository: &str) -> Result<PathBuf, OciError> {
        crate::registry::check_repository(repository)?;
        let rel = Path::new(repository);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(OciError::malformed(
                format!("repository {repository:?}"),
                "must be a relative path without `..`",
            ));
        }
        Ok(self.root.join(rel))
    }

    /// `repository`'s layout, created when missing.
    pub fn layout(&self, repository: &str) -> Result<Layout, OciError> {
        Layout::create(self.repository_dir(repository)?)
    }

    /// `repository`'s layout if it exists.
    pub(crate) fn existing(&self, repository: &str) -> Result<Option<Layout>, OciError> {
        let dir = self.repository_dir(repository)?;
        if dir.join(OCI_LAYOUT_FILE).exists() {
            Ok(Some(Layout::open(dir)?))
        } else {
            Ok(None)
        }
    }
}
