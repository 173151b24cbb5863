//! One item of an image mirror — a tag, or a digest — from the source `HEAD` to its report.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Instant;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::platform::Platform;
use mirrorkit_core::report::{PlatformReport, Status, VersionReport};
use serde_json::Value;

use super::KnownBlobs;
use crate::copy::platforms::{self, Selection};
use crate::copy::referrers::{ReferrerCopy, ReferrersApi, SourceReferrers};
use crate::copy::store::{Publish, Store};
use crate::copy::transfer::{Known, Transfer, Tree};
use crate::error::OciError;
use crate::media;
use crate::registry::manifests::RawManifest;

/// What an image mirror copies: a tag, or a manifest by digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageItem {
    /// A tag, copied under the same tag.
    Tag(String),
    /// A manifest by digest, stored by digest (no tag).
    Digest(Digest),
}

impl fmt::Display for ImageItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageItem::Tag(t) => f.write_str(t),
            ImageItem::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// Everything an item needs: where from, where to, and how.
pub(crate) struct ImageJob<'a> {
    pub source: &'a Store,
    /// The source's tags, when listed (referrer fallback tags are looked up in them).
    pub source_tags: Option<&'a [String]>,
    /// The target repository (`None`: a dry run into a layout that does not exist yet).
    pub dest: Option<&'a Store>,
    /// The target's tags as listed at the start (a tag not in it is not asked for).
    pub dest_tags: Option<&'a BTreeSet<String>>,
    /// The target's key in [`KnownBlobs`].
    pub target_key: String,
    pub platforms: Option<&'a [Platform]>,
    pub referrers: bool,
    pub dry_run: bool,
    /// Blobs in flight at once.
    pub concurrency: usize,
    pub known_blobs: &'a KnownBlobs,
    pub api: &'a ReferrersApi,
}

impl<'a> ImageJob<'a> {
    /// Where this job's referrers are found (shared by its items: the tag list is read once).
    pub(crate) fn referrer_source(&self) -> SourceReferrers<'a> {
        SourceReferrers::new(self.source, self.api, self.source_tags)
    }

    /// Mirror one item; every outcome, failures included, is in the report.
    pub(crate) async fn sync(&self, item: &ImageItem, refs: &SourceReferrers<'_>) -> VersionReport {
        let started = Instant::now();
        let mut v = VersionReport {
            version: item.to_string(),
            tag: item.to_string(),
            status: Status::Failed,
            reason: None,
            index_digest: None,
            duration_ms: 0,
            tags_written: Vec::new(),
            warnings: Vec::new(),
            source_digest: None,
            referrers: Vec::new(),
            images: Vec::new(),
            platforms: Vec::new(),
        };
        if let Err(e) = self.run(item, refs, &mut v).await {
            v.status = Status::Failed;
            v.reason = Some(e.to_string());
        }
        v.duration_ms = started.elapsed().as_millis() as u64;
        v
    }

    fn transfer(&self, dest: &'a Store) -> Transfer<'_> {
        Transfer {
            source: self.source,
            dest,
            link: false,
            concurrency: self.concurrency,
            known: Some(Known {
                blobs: self.known_blobs,
                target: &self.target_key,
            }),
        }
    }

    /// What the target's tag points at now (`None` for digest items: they are looked up by
    /// digest).
    async fn current(&self, item: &ImageItem) -> Result<Option<Digest>, OciError> {
        let (Some(dest), ImageItem::Tag(tag)) = (self.dest, item) else {
            return Ok(None);
        };
        if self.dest_tags.is_some_and(|tags| !tags.contains(tag)) {
            return Ok(None);
        }
        Ok(dest.resolve(Some(tag)).await?.map(|r| r.digest))
    }

    /// Whether the target already has `candidate` where `item` goes.
    async fn present(
        &self,
        item: &ImageItem,
        current: Option<&Digest>,
        candidate: &Digest,
    ) -> Result<bool, OciError> {
        match (item, self.dest) {
            (ImageItem::Tag(_), _) => Ok(current == Some(candidate)),
            (ImageItem::Digest(_), Some(dest)) => dest.has_manifest(candidate).await,
            (ImageItem::Digest(_), None) => Ok(false),
        }
    }

    async fn run(
        &self,
        item: &ImageItem,
        refs: &SourceReferrers<'_>,
        v: &mut VersionReport,
    ) -> Result<(), OciError> {
        let reference = item.to_string();
        let src = self
            .source
            .resolve(Some(&reference))
            .await?
            .ok_or_else(|| OciError::NotFound {
                target: self.source.describe(),
                what: format!("manifest {reference}"),
            })?;
        let current = self.current(item).await?;
        if self.present(item, current.as_ref(), &src.digest).await? {
            v.index_digest = Some(src.digest.clone());
            return self
                .already_there(&src.digest, &src.media_type, None, refs, v)
                .await;
        }
        let original = self
            .source
            .manifest_by_digest(&src.digest, None, &src.media_type)
            .await?;
        let mut top = original.clone();
        let mut note = None;
        if let Some(wanted) = self.platforms {
            match platforms::choose(self.source, &original, wanted).await? {
                Selection::Whole => {}
                Selection::NoMatch(reason) => {
                    v.status = Status::Excluded;
                    v.reason = Some(reason);
                    return Ok(());
                }
                Selection::Subset {
                    index,
                    kept,
                    dropped,
                } => {
                    note = Some(format!(
                        "platform subset ({} kept, {} left out): the index was rewritten as {}; the source's is {}",
                        kept.join(", "),
                        dropped.join(", "),
                        index.digest,
                        original.digest
                    ));
                    v.source_digest = Some(original.digest.clone());
                    top = index;
                    if self.present(item, current.as_ref(), &top.digest).await? {
                        v.index_digest = Some(top.digest.clone());
                        return self
                            .already_there(&top.digest, &top.media_type, Some(top.clone()), refs, v)
                            .await
                            .map(|()| {
                                v.reason = v
                                    .reason
                                    .take()
                                    .map(|r| format!("{r}; {}", note.unwrap_or_default()));
                            });
                    }
                }
            }
        }
        v.index_digest = Some(top.digest.clone());
        if let (Some(was), None) = (&current, &note) {
            note = Some(format!("the tag moved: the target had {was}"));
        }
        if self.dry_run {
            v.status = Status::Planned;
            v.reason = note;
            v.platforms = platform_reports(&original, &top, None, Status::Planned);
            return Ok(());
        }
        let Some(dest) = self.dest else {
            return Err(OciError::malformed(
                "target",
                "no target repository to write to",
            ));
        };
        let transfer = self.transfer(dest);
        let tree = transfer.collect(&top).await?;
        transfer.copy_collected(&tree).await?;
        let how = match item {
            ImageItem::Tag(t) => Publish::Tag(t),
            ImageItem::Digest(_) => Publish::Untagged,
        };
        dest.push_manifest(&top, how).await?;
        if let ImageItem::Tag(t) = item {
            v.tags_written.push(t.clone());
        }
        v.status = Status::Pushed;
        v.reason = note;
        v.platforms = platform_reports(&original, &top, Some(&tree), Status::Pushed);
        if v.platforms.is_empty()
            && let Ok(Some(p)) = platforms::image_platform(dest, &top).await
        {
            v.platforms.push(platform_report(
                p,
                Status::Pushed,
                Some(top.digest.clone()),
                Some(platforms::image_bytes(&top)),
            ));
        }
        if self.referrers {
            let mut subjects: Vec<Digest> =
                tree.children.iter().map(|c| c.digest.clone()).collect();
            if v.source_digest.is_none() {
                subjects.insert(0, top.digest.clone());
            }
            match self.copy_referrers(&transfer, refs, &subjects).await {
                Ok(found) => v.referrers = found,
                Err(e) => {
                    v.status = Status::Failed;
                    v.reason = Some(format!(
                        "the image was copied ({}), but not its referrers: {e}",
                        top.digest
                    ));
                }
            }
        }
        Ok(())
    }

    /// The item is in the target: `skipped`. Its referrers are still brought up to date (a
    /// signature added upstream after the image was mirrored); that reads manifests, never a
    /// blob the target has.
    async fn already_there(
        &self,
        digest: &Digest,
        media_type: &str,
        subset: Option<RawManifest>,
        refs: &SourceReferrers<'_>,
        v: &mut VersionReport,
    ) -> Result<(), OciError> {
        v.status = Status::Skipped;
        v.reason = Some("already in the target".into());
        if !self.referrers || self.dry_run {
            return Ok(());
        }
        let Some(dest) = self.dest else {
            return Ok(());
        };
        let top = match subset {
            Some(m) => m,
            None => {
                self.source
                    .manifest_by_digest(digest, None, media_type)
                    .await?
            }
        };
        let mut subjects = child_digests(&top);
        v.platforms = platform_reports(&top, &top, None, Status::Skipped);
        if v.source_digest.is_none() {
            subjects.insert(0, top.digest.clone());
        }
        let transfer = self.transfer(dest);
        match self.copy_referrers(&transfer, refs, &subjects).await {
            Ok(found) => v.referrers = found,
            Err(e) => {
                v.status = Status::Failed;
                v.reason = Some(format!(
                    "the image is in the target, but its referrers could not be copied: {e}"
                ));
            }
        }
        Ok(())
    }

    async fn copy_referrers(
        &self,
        transfer: &Transfer<'_>,
        refs: &SourceReferrers<'_>,
        subjects: &[Digest],
    ) -> Result<Vec<Digest>, OciError> {
        let copier = ReferrerCopy {
            transfer,
            source: refs,
            api: self.api,
        };
        Ok(copier.copy_for(subjects).await?.digests)
    }
}

/// The digests an index lists (none for a manifest).
fn child_digests(m: &RawManifest) -> Vec<Digest> {
    index_entries(m)
        .iter()
        .filter_map(|e| e.get("digest")?.as_str()?.parse().ok())
        .collect()
}

fn index_entries(m: &RawManifest) -> Vec<Value> {
    if !media::is_index(&m.media_type) {
        return Vec::new();
    }
    serde_json::from_slice::<Value>(&m.bytes)
        .ok()
        .and_then(|d| d.get("manifests").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

fn platform_report(
    platform: Platform,
    status: Status,
    manifest_digest: Option<Digest>,
    bytes: Option<u64>,
) -> PlatformReport {
    PlatformReport {
        platform,
        status,
        reason: None,
        asset: None,
        bytes,
        asset_digest: None,
        layer_digest: None,
        manifest_digest,
        duration_ms: 0,
    }
}

/// One report per platform of the source index: `status` for those in `top`, `excluded` for
/// those a platform subset left out. Sizes come from the copied tree when there is one.
fn platform_reports(
    original: &RawManifest,
    top: &RawManifest,
    tree: Option<&Tree>,
    status: Status,
) -> Vec<PlatformReport> {
    let kept: Vec<Digest> = child_digests(top);
    index_entries(original)
        .iter()
        .filter_map(|e| {
            let platform = platforms::entry_platform(e)?;
            let digest: Digest = e.get("digest")?.as_str()?.parse().ok()?;
            let bytes = tree.and_then(|t| {
                t.children
                    .iter()
                    .find(|c| c.digest == digest)
                    .map(platforms::image_bytes)
            });
            let mut r = platform_report(platform, status, Some(digest.clone()), bytes);
            if !kept.contains(&digest) {
                r.status = Status::Excluded;
                r.reason = Some("not in `platforms`".into());
                r.bytes = None;
            }
            Some(r)
        })
        .collect()
}
