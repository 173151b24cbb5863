//! Opening a bundle for import or verification: an archive unpacked into a temp directory or a
//! directory as it is, every blob hashed against its name, every tag's image checked complete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mirrorkit_core::digest::{Digest, Hasher};

use mirrorkit_oci::archive::{self};
use mirrorkit_oci::error::OciError;
use mirrorkit_oci::layout::TEMP_PREFIX;
use mirrorkit_oci::reference::{is_valid_repository, is_valid_tag};

use crate::graph::{blob_path, check_size, graph};
use crate::manifest::{BundleManifest, parse_manifest};
use crate::{ANNOTATION_REPOSITORY, BUNDLE_FILE, BundleError, REF_NAME};

/// An opened bundle: a verified layout directory (the bundle itself, or an archive unpacked
/// into a temp directory) and what it holds.
pub struct OpenBundle {
    pub(crate) dir: PathBuf,
    pub(crate) _temp: Option<tempfile::TempDir>,
    /// `mirrorkit-bundle.json`, when present (layouts written by other tools have none).
    pub manifest: Option<BundleManifest>,
    /// Every tag: (repository, tag, digest, media type).
    pub tags: Vec<(String, String, Digest, String)>,
    /// Blobs the images need that the bundle does not carry (a delta's base blobs), per
    /// repository.
    pub needs: BTreeMap<String, BTreeSet<Digest>>,
    /// Blobs verified.
    pub blobs_verified: usize,
}

impl OpenBundle {
    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Hash every blob file of a layout directory against its name.
fn verify_blobs(dir: &Path) -> Result<usize, BundleError> {
    let mut n = 0;
    for alg in ["sha256", "sha512"] {
        let d = dir.join("blobs").join(alg);
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in rd {
            let entry = entry.map_err(|e| OciError::io(&d, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let digest: Digest = format!("{alg}:{name}").parse().map_err(|_| {
                BundleError::Refused(format!("{}: not a blob name", entry.path().display()))
            })?;
            if !entry
                .file_type()
                .map_err(|e| OciError::io(entry.path(), e))?
                .is_file()
            {
                return Err(BundleError::Refused(format!(
                    "{}: a blob must be a regular file",
                    entry.path().display()
                )));
            }
            let mut f =
                std::fs::File::open(entry.path()).map_err(|e| OciError::io(entry.path(), e))?;
            let mut h = Hasher::new(digest.algorithm());
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let k = std::io::Read::read(&mut f, &mut buf)
                    .map_err(|e| OciError::io(entry.path(), e))?;
                if k == 0 {
                    break;
                }
                h.update(&buf[..k]);
            }
            let actual = h.finish();
            if actual != digest {
                return Err(BundleError::Refused(format!(
                    "blob {digest} does not match its content (sha256 of the file is {actual})"
                )));
            }
            n += 1;
        }
    }
    Ok(n)
}

/// Open and verify a bundle: a layout directory, or an archive (plain, gzip or zstd; whole or in
/// parts). Every blob is hashed, every image walked; nothing is written anywhere but a temp dir.
/// `repository` names the repository for entries of a foreign layout that carry only a tag.
/// An archive is unpacked into a temp directory under `staging_in` (default: the system temp
/// dir); put it on the target's filesystem so blobs can be hard-linked into place.
pub async fn open(
    path: &Path,
    repository: Option<&str>,
    staging_in: Option<&Path>,
) -> Result<OpenBundle, BundleError> {
    let path = path.to_path_buf();
    let repository = repository.map(str::to_string);
    let staging_in = staging_in.map(Path::to_path_buf);
    tokio::task::spawn_blocking(move || {
        open_blocking(&path, repository.as_deref(), staging_in.as_deref())
    })
    .await
    .map_err(|e| BundleError::Usage(format!("bundle task failed: {e}")))?
}

fn open_blocking(
    path: &Path,
    repository: Option<&str>,
    staging_in: Option<&Path>,
) -> Result<OpenBundle, BundleError> {
    let (dir, temp, blobs_verified) = if path.is_dir() {
        let n = verify_blobs(path)?;
        (path.to_path_buf(), None, n)
    } else {
        let parent = staging_in
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&parent).map_err(|e| OciError::io(&parent, e))?;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempdir_in(&parent)
            .map_err(|e| OciError::io(&parent, e))?;
        let reader = archive::open_reader(path)?;
        let what = path.display().to_string();
        archive::extract_reader(reader, &what, temp.path(), true).map_err(|e| match e {
            OciError::Malformed { .. } | OciError::DigestMismatch { .. } => {
                BundleError::Refused(format!("{e}; nothing was imported"))
            }
            other => BundleError::Oci(other),
        })?;
        let n = std::fs::read_dir(temp.path().join("blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0);
        (temp.path().to_path_buf(), Some(temp), n)
    };
    let layout_marker = dir.join("oci-layout");
    if !layout_marker.is_file() {
        return Err(BundleError::Refused(format!(
            "{}: no oci-layout file; not an OCI image layout",
            path.display()
        )));
    }
    let manifest = match std::fs::read(dir.join(BUNDLE_FILE)) {
        Ok(bytes) => Some(parse_manifest(&bytes, &path.display().to_string())?),
        Err(_) => None,
    };
    let index_bytes = std::fs::read(dir.join("index.json")).map_err(|e| {
        BundleError::Refused(format!("{}: cannot read index.json: {e}", path.display()))
    })?;
    let index: serde_json::Value = serde_json::from_slice(&index_bytes).map_err(|e| {
        BundleError::Refused(format!("{}: index.json is not JSON: {e}", path.display()))
    })?;
    let mut tags = Vec::new();
    for m in index
        .get("manifests")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
    {
        let ann = m.get("annotations");
        let get = |k: &str| ann.and_then(|a| a.get(k)).and_then(|v| v.as_str());
        let Some(name) = get(REF_NAME) else {
            continue; // untagged entries are reachable only through tagged ones
        };
        let (repo, tag) = match (get(ANNOTATION_REPOSITORY), name.rsplit_once(':')) {
            (Some(r), Some((_, t))) => (r.to_string(), t.to_string()),
            (Some(r), None) => (r.to_string(), name.to_string()),
            (None, Some((r, t))) if is_valid_repository(r) => (r.to_string(), t.to_string()),
            (None, _) => match repository {
                Some(r) => (r.to_string(), name.to_string()),
                None => {
                    return Err(BundleError::Usage(format!(
                        "{}: entry {name:?} names no repository; give one with --repository",
                        path.display()
                    )));
                }
            },
        };
        if !is_valid_repository(&repo) || !is_valid_tag(&tag) {
            return Err(BundleError::Refused(format!(
                "{}: entry {name:?} is not a valid repository:tag",
                path.display()
            )));
        }
        let digest: Digest = m
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| {
                BundleError::Refused(format!(
                    "{}: entry {name:?} has no valid digest",
                    path.display()
                ))
            })?;
        let media_type = m
            .get("mediaType")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_string();
        if let Some(size) = m.get("size").and_then(|s| s.as_u64()) {
            check_size(&dir, &digest, size)?;
        }
        tags.push((repo, tag, digest, media_type));
    }
    // Walk every image: manifests must be here; other blobs here, or left to the base.
    let base_blobs: BTreeSet<String> = manifest
        .iter()
        .flat_map(|m| m.base_blobs.iter().map(|b| b.digest.clone()))
        .collect();
    let mut needs: BTreeMap<String, BTreeSet<Digest>> = BTreeMap::new();
    for (repo, tag, digest, mt) in &tags {
        let mut manifests = BTreeMap::new();
        let mut blobs = BTreeMap::new();
        graph(&dir, digest, mt, &mut manifests, &mut blobs, 0)?;
        for d in blobs.keys() {
            if blob_path(&dir, d).is_file() {
                continue;
            }
            if base_blobs.contains(&d.to_string()) {
                needs.entry(repo.clone()).or_default().insert(d.clone());
            } else {
                return Err(BundleError::Refused(format!(
                    "blob {d} of {repo}:{tag} is missing from the bundle"
                )));
            }
        }
    }
    Ok(OpenBundle {
        dir,
        _temp: temp,
        manifest,
        tags,
        needs,
        blobs_verified,
    })
}
