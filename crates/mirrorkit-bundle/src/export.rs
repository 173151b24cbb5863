//! Export: images (from registries, layouts or a spec's targets) copied into a staging layout,
//! checked whole, described in `mirrorkit-bundle.json`, then renamed into place or written as a
//! (compressed, split) archive.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mirrorkit_core::digest::{Digest, Hasher};
use serde::Serialize;

use mirrorkit_oci::archive::{self, ArchiveCompression};
use mirrorkit_oci::copy::{CopyOptions, copy_into_layout};
use mirrorkit_oci::error::OciError;
use mirrorkit_oci::layout::Layout;
use mirrorkit_oci::media;
use mirrorkit_oci::reference::{ImageReference, is_valid_repository, is_valid_tag};

use crate::graph::{blob_path, graph};
use crate::manifest::{BlobRef, BundleItem, BundleManifest, SpecOrigin, load_manifest};
use crate::staging::Staging;
use crate::{ANNOTATION_REPOSITORY, BUNDLE_FILE, BundleError, FORMAT_VERSION, REF_NAME};

/// What to export: an image and the repository and tag it is filed under.
#[derive(Clone, Debug)]
pub struct ExportItem {
    /// Where to read it.
    pub source: ImageReference,
    /// Its repository in the bundle.
    pub repository: String,
    /// Its tag.
    pub tag: String,
}

/// The shape of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleFormat {
    /// A directory.
    Layout,
    /// A tar of it.
    Archive,
}

/// Settings of [`export`].
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Output directory or archive path.
    pub output: PathBuf,
    /// Directory or archive.
    pub format: BundleFormat,
    /// Archive compression.
    pub compression: ArchiveCompression,
    /// Split an archive into parts of at most this many bytes.
    pub split: Option<u64>,
    /// An earlier bundle (directory, archive, or its `mirrorkit-bundle.json`): leave out the
    /// blobs it already carried.
    pub since: Option<PathBuf>,
    /// The spec the items came from.
    pub spec: Option<SpecOrigin>,
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ExportReport {
    /// Files or directory written.
    pub output: Vec<PathBuf>,
    /// The bundle's id.
    pub id: String,
    /// Images (repository + digest).
    pub items: usize,
    /// Tags.
    pub tags: usize,
    /// Blobs in the bundle.
    pub blobs: usize,
    /// Their total size.
    pub bytes: u64,
    /// Blobs left to the base bundle.
    pub base_blobs: usize,
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Export `items` into one bundle.
pub async fn export(
    mut items: Vec<ExportItem>,
    opts: &ExportOptions,
    copy_opts: &CopyOptions,
) -> Result<ExportReport, BundleError> {
    if items.is_empty() {
        return Err(BundleError::Usage("nothing to export".into()));
    }
    for i in &items {
        if !is_valid_repository(&i.repository) || !is_valid_tag(&i.tag) {
            return Err(BundleError::Usage(format!(
                "cannot file {} as {}:{} (invalid repository or tag)",
                i.source, i.repository, i.tag
            )));
        }
    }
    items.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    items.dedup_by(|a, b| a.repository == b.repository && a.tag == b.tag);
    if opts.format == BundleFormat::Layout
        && opts.output.exists()
        && std::fs::read_dir(&opts.output).map_or(true, |mut d| d.next().is_some())
    {
        return Err(BundleError::Usage(format!(
            "{} exists and is not empty; export into a new directory",
            opts.output.display()
        )));
    }
    let base = opts.since.as_deref().map(load_manifest).transpose()?;
    let staging = Staging::new_in(&parent_of(&opts.output))?;
    let layout = Layout::create(staging.layout())?;

    // Copy every image in; group tags by (repository, digest).
    let mut grouped: BTreeMap<(String, Digest), BundleItem> = BTreeMap::new();
    let mut entries: Vec<(String, String, Digest, String, u64)> = Vec::new();
    for item in &items {
        let (top, _) = copy_into_layout(&item.source, &layout, copy_opts).await?;
        entries.push((
            item.repository.clone(),
            item.tag.clone(),
            top.digest.clone(),
            top.media_type.clone(),
            top.bytes.len() as u64,
        ));
        grouped
            .entry((item.repository.clone(), top.digest.clone()))
            .or_insert_with(|| BundleItem {
                source: item.source.to_string(),
                repository: item.repository.clone(),
                digest: top.digest.to_string(),
                media_type: top.media_type.clone(),
                size: top.bytes.len() as u64,
                tags: Vec::new(),
            })
            .tags
            .push(item.tag.clone());
    }

    // The blob graph: manifests always travel; other blobs a base already carried do not.
    let dir = staging.layout();
    let tops: Vec<(Digest, String)> = entries
        .iter()
        .map(|(_, _, d, mt, _)| (d.clone(), mt.clone()))
        .collect();
    let (manifests, blobs) = tokio::task::spawn_blocking(move || {
        let mut manifests = BTreeMap::new();
        let mut blobs = BTreeMap::new();
        for (d, mt) in &tops {
            graph(&dir, d, mt, &mut manifests, &mut blobs, 0)?;
        }
        Ok::<_, BundleError>((manifests, blobs))
    })
    .await
    .map_err(|e| BundleError::Usage(format!("export task failed: {e}")))??;
    staging.prune_blobs(&manifests.keys().chain(blobs.keys()).cloned().collect());
    let base_set: BTreeSet<String> = base
        .iter()
        .flat_map(|b| b.blobs.iter().chain(&b.base_blobs))
        .map(|b| b.digest.clone())
        .collect();
    let mut kept = Vec::new();
    let mut left_to_base = Vec::new();
    for (d, size) in manifests.iter().chain(blobs.iter()) {
        let r = BlobRef {
            digest: d.to_string(),
            size: *size,
        };
        if !manifests.contains_key(d) && base_set.contains(&r.digest) {
            let _ = std::fs::remove_file(blob_path(&staging.layout(), d));
            left_to_base.push(r);
        } else {
            kept.push(r);
        }
    }
    kept.sort();
    kept.dedup();
    left_to_base.sort();
    left_to_base.dedup();

    // index.json: one entry per tag, sorted by name.
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": entries.iter().map(|(repo, tag, digest, mt, size)| serde_json::json!({
            "mediaType": mt,
            "digest": digest.to_string(),
            "size": size,
            "annotations": {
                REF_NAME: format!("{repo}:{tag}"),
                ANNOTATION_REPOSITORY: repo,
            },
        })).collect::<Vec<_>>(),
    });
    let mut items_out: Vec<BundleItem> = grouped.into_values().collect();
    for i in &mut items_out {
        i.tags.sort();
    }
    let id = {
        let mut h = Hasher::new(mirrorkit_core::digest::Algorithm::Sha256);
        let canonical = serde_json::to_vec(&(&items_out, &kept, &left_to_base))
            .map_err(|e| BundleError::Usage(e.to_string()))?;
        h.update(&canonical);
        h.finish().to_string()
    };
    let manifest = BundleManifest {
        format: FORMAT_VERSION,
        id: id.clone(),
        created_by: concat!("mirrorkit ", env!("CARGO_PKG_VERSION")).to_string(),
        spec: opts.spec.clone(),
        base: base.as_ref().map(|b| b.id.clone()),
        items: items_out,
        blobs: kept.clone(),
        base_blobs: left_to_base.clone(),
    };
    let write = |name: &str, value: &dyn erased::Json| -> Result<(), BundleError> {
        let p = staging.layout().join(name);
        std::fs::write(&p, value.to_json()).map_err(|e| OciError::io(&p, e))?;
        Ok(())
    };
    write("index.json", &index)?;
    write(BUNDLE_FILE, &manifest)?;

    let mut report = ExportReport {
        output: Vec::new(),
        id,
        items: manifest.items.len(),
        tags: entries.len(),
        blobs: kept.len(),
        bytes: kept.iter().map(|b| b.size).sum(),
        base_blobs: left_to_base.len(),
    };
    match opts.format {
        BundleFormat::Layout => {
            staging.publish_layout(&opts.output)?;
            report.output.push(opts.output.clone());
        }
        BundleFormat::Archive => {
            let (dir, work, out, c, split) = (
                staging.layout(),
                staging.dir().to_path_buf(),
                opts.output.clone(),
                opts.compression,
                opts.split,
            );
            report.output = tokio::task::spawn_blocking(move || {
                archive::write_with(&dir, &out, &work, c, split)
            })
            .await
            .map_err(|e| BundleError::Usage(format!("archive task failed: {e}")))??;
        }
    }
    Ok(report)
}

/// Serialising the two documents through one closure.
mod erased {
    pub(super) trait Json {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
            v.push(b'\n');
            v
        }
    }
}
