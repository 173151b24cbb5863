//! One item of an image mirror — a tag, or a digest — from the source `HEAD` to its report.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::time::Instant;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::platform::Platform;
use mirrorkit_core::report::{PlatformReport, Status, VersionReport};
use serde_json::Value;

use mirrorkit_oci::copy::known_blobs::{KnownBlobs, ReferrersApi};
use mirrorkit_oci::copy::platforms::{self, Selection};
use mirrorkit_oci::copy::referrers::{ReferrerCopy, SourceReferrers, is_referrer_tag};
use mirrorkit_oci::copy::store::{Publish, Store};
use mirrorkit_oci::copy::transfer::{Known, Transfer, Tree};
use mirrorkit_oci::error::OciError;
use mirrorkit_oci::media;
use mirrorkit_oci::registry::manifests::RawManifest;

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

    /// Everything about one item that only reads: `HEAD` the source and the target (at once),
    /// compare, apply the platforms, and for an item to copy fetch and verify its whole manifest
    /// tree. Items are prepared concurrently; what they write happens later, in order.
    pub(crate) async fn prepare(&self, item: &ImageItem) -> Prepared {
        let started = Instant::now();
        let mut v = VersionReport::new(item.to_string(), item.to_string(), Status::Failed);
        let outcome = self.try_prepare(item, &mut v).await;
        v.duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(Stage::Done) => Prepared::Done(v),
            Ok(Stage::Present(subjects)) => Prepared::Present {
                report: v,
                subjects,
                started,
            },
            Ok(Stage::Copy {
                original,
                top,
                tree,
            }) => Prepared::Copy(Box::new(ToCopy {
                report: v,
                item: item.clone(),
                original,
                top,
                tree,
                started,
            })),
            Err(e) => {
                v.status = Status::Failed;
                v.reason = Some(e.to_string());
                Prepared::Done(v)
            }
        }
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

    /// Whether looking for referrers can find any: not when the source's tag list holds no
    /// tag-schema tag and its registry is known to have no referrers API.
    pub(crate) fn may_have_referrers(&self) -> bool {
        if !self.referrers || self.dry_run {
            return false;
        }
        let Some(tags) = self.source_tags else {
            return true;
        };
        if tags.iter().any(|t| is_referrer_tag(t)) {
            return true;
        }
        match self.source.as_registry() {
            Some((registry, _)) => self.api.known(registry.host()) != Some(false),
            None => false,
        }
    }

    async fn try_prepare(
        &self,
        item: &ImageItem,
        v: &mut VersionReport,
    ) -> Result<Stage, OciError> {
        let reference = item.to_string();
        let (src, current) =
            tokio::join!(self.source.resolve(Some(&reference)), self.current(item));
        let src = src?.ok_or_else(|| OciError::NotFound {
            target: self.source.describe(),
            what: format!("manifest {reference}"),
        })?;
        let current = current?;
        // The source's manifest as it is is there. With `platforms` that is only right when
        // they keep every platform: narrowed later, the tag must get the subset instead.
        let whole_present = self.present(item, current.as_ref(), &src.digest).await?;
        if whole_present && self.platforms.is_none() {
            return self
                .already_there(&src.digest, &src.media_type, None, v)
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
                Selection::Whole if whole_present => {
                    return self
                        .already_there(&src.digest, &src.media_type, Some(original), v)
                        .await;
                }
                Selection::Whole => {}
                Selection::NoMatch(reason) => {
                    v.status = Status::Excluded;
                    v.reason = Some(reason);
                    return Ok(Stage::Done);
                }
                Selection::Subset {
                    index,
                    kept,
                    dropped,
                } => {
                    let subset_note = format!(
                        "platform subset ({} kept, {} left out): the index was rewritten as {}; the source's is {}",
                        kept.join(", "),
                        dropped.join(", "),
                        index.digest,
                        original.digest
                    );
                    v.source_digest = Some(original.digest.clone());
                    top = index;
                    if self.present(item, current.as_ref(), &top.digest).await? {
                        let stage = self
                            .already_there(&top.digest, &top.media_type, Some(top.clone()), v)
                            .await?;
                        v.reason = Some(format!("already in the target; {subset_note}"));
                        return Ok(stage);
                    }
                    note = Some(match &current {
                        Some(was) => format!("{subset_note}; the target's tag held {was}"),
                        None => subset_note,
                    });
                }
            }
        }
        v.index_digest = Some(top.digest.clone());
        if let (Some(was), None) = (&current, &note) {
            note = Some(format!("the tag moved: the target had {was}"));
        }
        v.reason = note;
        if self.dry_run {
            v.status = Status::Planned;
            v.platforms = platform_reports(&original, &top, None, Status::Planned);
            return Ok(Stage::Done);
        }
        let Some(dest) = self.dest else {
            return Err(OciError::malformed(
                "target",
                "no target repository to write to",
            ));
        };
        let tree = self.transfer(dest).collect(&top).await?;
        Ok(Stage::Copy {
            original,
            top,
            tree,
        })
    }

    /// The item is in the target: `skipped`. When referrers may exist its manifest is read (never
    /// a blob) so that referrers added upstream since are brought over too.
    async fn already_there(
        &self,
        digest: &Digest,
        media_type: &str,
        subset: Option<RawManifest>,
        v: &mut VersionReport,
    ) -> Result<Stage, OciError> {
        v.status = Status::Skipped;
        v.reason = Some("already in the target".into());
        v.index_digest = Some(digest.clone());
        if !self.may_have_referrers() || self.dest.is_none() {
            return Ok(Stage::Done);
        }
        let top = match subset {
            Some(m) => m,
            None => {
                self.source
                    .manifest_by_digest(digest, None, media_type)
                    .await?
            }
        };
        v.platforms = platform_reports(&top, &top, None, Status::Skipped);
        let mut subjects = child_digests(&top);
        if v.source_digest.is_none() {
            subjects.insert(0, top.digest.clone());
        }
        Ok(Stage::Present(subjects))
    }

    /// Bring the referrers of an item already in the target up to date.
    pub(crate) async fn refresh_referrers(
        &self,
        mut v: VersionReport,
        subjects: &[Digest],
        started: Instant,
        refs: &SourceReferrers<'_>,
    ) -> VersionReport {
        if let Some(dest) = self.dest {
            let transfer = self.transfer(dest);
            match self.copy_referrers(&transfer, refs, subjects).await {
                Ok(found) => v.referrers = found,
                Err(e) => {
                    v.status = Status::Failed;
                    v.reason = Some(format!(
                        "the image is in the target, but its referrers could not be copied: {e}"
                    ));
                }
            }
        }
        v.duration_ms = started.elapsed().as_millis() as u64;
        v
    }

    /// Send the blobs of a group of prepared items together (`concurrency` at a time, each blob
    /// once), then publish each item in order: child manifests, the top manifest under its tag,
    /// referrers. With `keep_going` a failed blob fails only the items that need it.
    pub(crate) async fn copy_group(
        &self,
        group: Vec<ToCopy>,
        keep_going: bool,
        refs: &SourceReferrers<'_>,
    ) -> Vec<VersionReport> {
        let Some(dest) = self.dest else {
            return group
                .into_iter()
                .map(|mut c| {
                    c.report.reason = Some("no target repository to write to".into());
                    c.report
                })
                .collect();
        };
        let transfer = self.transfer(dest);
        let mut seen = HashSet::new();
        let blobs: Vec<_> = group
            .iter()
            .flat_map(|c| c.tree.blobs.iter())
            .filter(|d| seen.insert(d.digest().to_string()))
            .cloned()
            .collect();
        let (_, failures) = transfer.copy_blob_set(&blobs, keep_going).await;
        let failed: HashMap<String, String> = failures
            .into_iter()
            .map(|(d, e)| (d.to_string(), e.to_string()))
            .collect();
        let mut out = Vec::new();
        for c in group {
            out.push(self.publish(c, &transfer, &failed, refs).await);
        }
        out
    }

    async fn publish(
        &self,
        c: ToCopy,
        transfer: &Transfer<'_>,
        failed_blobs: &HashMap<String, String>,
        refs: &SourceReferrers<'_>,
    ) -> VersionReport {
        let ToCopy {
            mut report,
            item,
            original,
            top,
            tree,
            started,
        } = c;
        let missing = tree.blobs.iter().find_map(|b| {
            let d = b.digest().to_string();
            failed_blobs.get(&d).map(|e| (d, e))
        });
        let result = match missing {
            Some((d, e)) => Err(format!("blob {d}: {e}")),
            None => self
                .write(&item, &top, &tree, transfer)
                .await
                .map_err(|e| e.to_string()),
        };
        match result {
            Err(reason) => {
                report.status = Status::Failed;
                report.reason = Some(reason);
            }
            Ok(()) => {
                if let ImageItem::Tag(t) = &item {
                    report.tags_written.push(t.clone());
                }
                report.status = Status::Pushed;
                report.platforms = platform_reports(&original, &top, Some(&tree), Status::Pushed);
                if report.platforms.is_empty()
                    && let Ok(Some(p)) = platforms::image_platform(transfer.dest, &top).await
                {
                    report.platforms.push(platform_report(
                        p,
                        Status::Pushed,
                        Some(top.digest.clone()),
                        Some(platforms::image_bytes(&top)),
                    ));
                }
                if self.may_have_referrers() {
                    let mut subjects: Vec<Digest> =
                        tree.children.iter().map(|c| c.digest.clone()).collect();
                    if report.source_digest.is_none() {
                        subjects.insert(0, top.digest.clone());
                    }
                    match self.copy_referrers(transfer, refs, &subjects).await {
                        Ok(found) => report.referrers = found,
                        Err(e) => {
                            report.status = Status::Failed;
                            report.reason = Some(format!(
                                "the image was copied ({}), but not its referrers: {e}",
                                top.digest
                            ));
                        }
                    }
                }
            }
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        report
    }

    /// Child manifests, then the top manifest under its tag (or by digest).
    async fn write(
        &self,
        item: &ImageItem,
        top: &RawManifest,
        tree: &Tree,
        transfer: &Transfer<'_>,
    ) -> Result<(), OciError> {
        transfer.store_children(tree).await?;
        let how = match item {
            ImageItem::Tag(t) => Publish::Tag(t),
            ImageItem::Digest(_) => Publish::Untagged,
        };
        transfer.dest.push_manifest(top, how).await
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

/// What preparing found out.
enum Stage {
    /// The report is final.
    Done,
    /// In the target; these manifests' referrers are to be brought up to date.
    Present(Vec<Digest>),
    /// To copy.
    Copy {
        original: RawManifest,
        top: RawManifest,
        tree: Tree,
    },
}

/// A prepared item.
pub(crate) enum Prepared {
    /// Nothing more to do: excluded, planned, failed, or in the target with no referrers to
    /// look for.
    Done(VersionReport),
    /// In the target; its referrers are to be brought up to date.
    Present {
        report: VersionReport,
        subjects: Vec<Digest>,
        started: Instant,
    },
    /// To copy.
    Copy(Box<ToCopy>),
}

/// An item to copy, with everything read from the source but its blobs.
pub(crate) struct ToCopy {
    report: VersionReport,
    item: ImageItem,
    /// The source's top manifest.
    original: RawManifest,
    /// What is written (the original, or a platform subset).
    top: RawManifest,
    tree: Tree,
    started: Instant,
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
