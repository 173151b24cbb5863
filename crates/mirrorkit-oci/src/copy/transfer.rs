//! Moving one manifest tree between two [`Store`]s: walk it (every child manifest fetched and
//! verified), send its blobs several at a time, then store the children by digest. The caller
//! stores the top manifest (under a tag, or by digest) once this succeeded, so nothing ever points
//! at content that is not fully there.
//!
//! A blob is never sent when the destination has it (a `HEAD`, or this run's [`KnownBlobs`]
//! saying so); it is mounted (registry) or hard-linked (layouts) from another repository of the
//! destination known to hold it; otherwise its bytes stream from source to destination, hashed on
//! arrival.

use std::collections::HashSet;

use futures_util::{StreamExt as _, TryStreamExt as _};
use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::stall::{Progress, Stalled, unless_stalled};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::known_blobs::KnownBlobs;
use super::store::{Publish, Store, descriptor_digest};
use crate::error::OciError;
use crate::media;
use crate::registry::BlobStream;
use crate::registry::manifests::RawManifest;
use crate::registry::upload::UploadStart;

/// Nesting limit for indexes of indexes (a cycle is impossible with content addressing, but a
/// hostile source could still nest deeply).
pub const MAX_DEPTH: usize = 8;

/// Blobs sent at once within one image, unless the source registry's `concurrency` says less.
pub const DEFAULT_BLOB_CONCURRENCY: usize = 4;

/// What this run learnt about one destination's blobs.
#[derive(Clone, Copy)]
pub struct Known<'a> {
    /// The run's record.
    pub blobs: &'a KnownBlobs,
    /// The destination (`docker://host` or `oci:ROOT`), the key the record is kept under.
    pub target: &'a str,
}

/// Counters of a transfer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Manifests written.
    pub manifests: u64,
    /// Blobs whose bytes were sent.
    pub blobs_copied: u64,
    /// Blobs the destination already had.
    pub blobs_skipped: u64,
    /// Blobs mounted or linked from another repository (no bytes sent).
    pub blobs_mounted: u64,
    /// Bytes of blob content sent.
    pub bytes: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.manifests += o.manifests;
        self.blobs_copied += o.blobs_copied;
        self.blobs_skipped += o.blobs_skipped;
        self.blobs_mounted += o.blobs_mounted;
        self.bytes += o.bytes;
    }
}

/// A manifest tree as read from the source.
pub struct Tree {
    /// Child manifests, each after its own children (the order they are stored in).
    pub children: Vec<RawManifest>,
    /// Every blob (config, layers) once.
    pub blobs: Vec<Descriptor>,
}

enum BlobOutcome {
    Copied(u64),
    Skipped,
    Mounted,
}

/// Copies manifest trees from `source` to `dest`.
pub struct Transfer<'a> {
    /// Where the blobs are read.
    pub source: &'a Store,
    /// Where they are written.
    pub dest: &'a Store,
    /// Hard-link blobs between layouts instead of copying (verified sources only).
    pub link: bool,
    /// Blobs in flight at once.
    pub concurrency: usize,
    /// The run's record of blobs in the destination, if any.
    pub known: Option<Known<'a>>,
}

impl Transfer<'_> {
    /// Walk `top`: fetch and verify every child manifest, collect every blob once.
    pub async fn collect(&self, top: &RawManifest) -> Result<Tree, OciError> {
        let mut tree = Tree {
            children: Vec::new(),
            blobs: Vec::new(),
        };
        let mut seen_blobs = HashSet::new();
        let mut seen_children = HashSet::new();
        self.walk(top, 0, &mut tree, &mut seen_blobs, &mut seen_children)
            .await?;
        Ok(tree)
    }

    async fn walk(
        &self,
        m: &RawManifest,
        depth: usize,
        tree: &mut Tree,
        seen_blobs: &mut HashSet<Digest>,
        seen_children: &mut HashSet<Digest>,
    ) -> Result<(), OciError> {
        if depth > MAX_DEPTH {
            return Err(OciError::malformed(
                format!("index {}", m.digest),
                "indexes nested too deep",
            ));
        }
        if media::is_index(&m.media_type) {
            let index: ImageIndex = serde_json::from_slice(&m.bytes)
                .map_err(|e| OciError::malformed(format!("index {}", m.digest), e))?;
            for child in index.manifests() {
                let digest = descriptor_digest(child)?;
                if !seen_children.insert(digest.clone()) {
                    continue;
                }
                let raw = self
                    .source
                    .manifest_by_descriptor(child)
                    .await
                    .map_err(|e| missing_child(e, &m.digest, &digest))?;
                Box::pin(self.walk(&raw, depth + 1, tree, seen_blobs, seen_children)).await?;
                tree.children.push(raw);
            }
            Ok(())
        } else if media::is_manifest(&m.media_type) {
            let manifest: ImageManifest = serde_json::from_slice(&m.bytes)
                .map_err(|e| OciError::malformed(format!("manifest {}", m.digest), e))?;
            for d in std::iter::once(manifest.config()).chain(manifest.layers().iter()) {
                let digest = descriptor_digest(d)?;
                if seen_blobs.insert(digest) {
                    tree.blobs.push(d.clone());
                }
            }
            Ok(())
        } else {
            Err(OciError::malformed(
                format!("manifest {}", m.digest),
                format!("unsupported media type {:?}", m.media_type),
            ))
        }
    }

    /// Everything `top` refers to: blobs (several at once), then child manifests by digest.
    /// `top` itself is left to the caller.
    pub async fn copy_tree(&self, top: &RawManifest) -> Result<Stats, OciError> {
        let tree = self.collect(top).await?;
        self.copy_collected(&tree).await
    }

    /// [`Transfer::copy_tree`] for a tree already collected.
    pub async fn copy_collected(&self, tree: &Tree) -> Result<Stats, OciError> {
        let (mut stats, failures) = self.copy_blob_set(&tree.blobs, false).await;
        if let Some((_, e)) = failures.into_iter().next() {
            return Err(e);
        }
        stats.manifests += self.store_children(tree).await?;
        Ok(stats)
    }

    /// Store the child manifests of `tree` (its blobs must be there); returns how many were
    /// written.
    pub async fn store_children(&self, tree: &Tree) -> Result<u64, OciError> {
        let mut written = 0;
        for child in &tree.children {
            if self.store_manifest(child, Publish::Child).await? {
                written += 1;
            }
        }
        Ok(written)
    }

    /// Store `m` as `how` says unless it is already there (by digest; a tag is always written).
    /// Returns whether it was written.
    pub async fn store_manifest(
        &self,
        m: &RawManifest,
        how: Publish<'_>,
    ) -> Result<bool, OciError> {
        if how == Publish::Child && self.dest.has_manifest(&m.digest).await? {
            return Ok(false);
        }
        self.dest.push_manifest(m, how).await?;
        Ok(true)
    }

    /// Send `blobs`, `concurrency` at a time. With `keep_going` a failed blob does not stop the
    /// others and every failure is returned; without, the first failure ends the transfer (blobs
    /// in flight are abandoned; the target commits none of them half-sent).
    pub async fn copy_blob_set(
        &self,
        blobs: &[Descriptor],
        keep_going: bool,
    ) -> (Stats, Vec<(Digest, OciError)>) {
        let mut stats = Stats::default();
        let mut failures = Vec::new();
        let mut results = futures_util::stream::iter(blobs)
            .map(|d| async move { (d, self.copy_blob(d).await) })
            .buffer_unordered(self.concurrency.max(1));
        while let Some((d, outcome)) = results.next().await {
            match outcome {
                Ok(BlobOutcome::Copied(n)) => {
                    stats.blobs_copied += 1;
                    stats.bytes += n;
                }
                Ok(BlobOutcome::Skipped) => stats.blobs_skipped += 1,
                Ok(BlobOutcome::Mounted) => stats.blobs_mounted += 1,
                Err(e) => {
                    let digest = descriptor_digest(d).unwrap_or_else(|_| Digest::sha256_of(b""));
                    failures.push((digest, e));
                    if !keep_going {
                        break;
                    }
                }
            }
        }
        (stats, failures)
    }

    /// The destination repository's name in the run's record.
    fn dest_repository(&self) -> Option<&str> {
        match self.dest {
            Store::Registry { repository, .. } => Some(repository),
            Store::Layout {
                root: Some((_, repo)),
                ..
            } => Some(repo),
            Store::Layout { root: None, .. } => None,
        }
    }

    fn record(&self, digest: &Digest) {
        if let (Some(k), Some(repo)) = (self.known, self.dest_repository()) {
            k.blobs.record_in(k.target, digest, repo);
        }
    }

    async fn copy_blob(&self, d: &Descriptor) -> Result<BlobOutcome, OciError> {
        let digest = descriptor_digest(d)?;
        // Docker "foreign" (non-distributable) layers live at their `urls`, not in the source
        // registry; copying them is neither possible nor allowed.
        let mt = d.media_type().to_string();
        if (mt.contains("foreign") || mt.contains("nondistributable")) && d.urls().is_some() {
            tracing::warn!(%digest, "skipping non-distributable layer");
            return Ok(BlobOutcome::Skipped);
        }
        let repo = self.dest_repository();
        if let (Some(k), Some(repo)) = (self.known, repo)
            && k.blobs.holds(k.target, &digest, repo)
        {
            return Ok(BlobOutcome::Skipped);
        }
        // Mirrors copied at once may need the same blob: one sends it, the others wait and then
        // mount it from where it landed.
        let _claim = match self.known {
            Some(k) => Some(k.blobs.claim(k.target, &digest).await),
            None => None,
        };
        if let (Some(k), Some(repo)) = (self.known, repo)
            && k.blobs.holds(k.target, &digest, repo)
        {
            return Ok(BlobOutcome::Skipped);
        }
        if self.dest.has_blob(&digest).await? {
            self.record(&digest);
            return Ok(BlobOutcome::Skipped);
        }
        let holder = match (self.known, repo) {
            (Some(k), Some(repo)) => k.blobs.holder_in(k.target, &digest, repo),
            _ => None,
        };
        let outcome = match (self.source, self.dest) {
            // Registry destination: mount from the source repository when both are on one
            // registry, else from a repository this run put the blob in. A registry that cannot
            // mount answers 202 with a normal upload session, which we then use.
            (
                source,
                Store::Registry {
                    registry: dst_reg,
                    repository: dst_repo,
                },
            ) if mount_from(source, dst_reg.host(), dst_repo)
                .or(holder.clone())
                .is_some() =>
            {
                let from = mount_from(source, dst_reg.host(), dst_repo)
                    .or(holder)
                    .unwrap_or_default();
                match dst_reg
                    .start_upload(dst_repo, Some((&digest, from.as_str())))
                    .await?
                {
                    UploadStart::Mounted => BlobOutcome::Mounted,
                    UploadStart::Session(session) => {
                        self.upload(dst_reg, dst_repo, session, &digest, d.size())
                            .await?
                    }
                }
            }
            // Registry destination, nothing to mount from: stream the blob into a new session.
            (
                _,
                Store::Registry {
                    registry: dst_reg,
                    repository: dst_repo,
                },
            ) => match dst_reg.start_upload(dst_repo, None).await? {
                UploadStart::Session(session) => {
                    self.upload(dst_reg, dst_repo, session, &digest, d.size())
                        .await?
                }
                UploadStart::Mounted => BlobOutcome::Mounted,
            },
            // Layout destination in a layout root: hard-link from a sibling repository that
            // holds the verified blob, or copy that local file.
            (
                _,
                Store::Layout {
                    layout: dst,
                    root: Some((root, _)),
                },
            ) if holder.is_some() => {
                let from = root.layout(holder.as_deref().unwrap_or_default())?;
                if dst.link_blob_from(&from, &digest, d.size())? {
                    BlobOutcome::Mounted
                } else {
                    let stream = from.open_blob(&digest).await?;
                    BlobOutcome::Copied(dst.write_blob(&digest, Some(d.size()), stream).await?)
                }
            }
            // Layout to layout on one filesystem: a hard link instead of a copy. Both sides are
            // layouts whose blobs were verified when they were written.
            (Store::Layout { layout: src, .. }, Store::Layout { layout: dst, .. })
                if self.link && dst.link_blob_from(src, &digest, d.size())? =>
            {
                BlobOutcome::Copied(d.size())
            }
            _ => {
                let stream = self.source.open_blob(&digest).await?;
                BlobOutcome::Copied(self.dest.push_blob(&digest, d.size(), stream).await?)
            }
        };
        self.record(&digest);
        Ok(outcome)
    }
}

impl Transfer<'_> {
    /// Send a blob into an open upload session: one streamed `PUT` (download and upload overlap);
    /// when that fails for any reason but a digest mismatch, once more from a fresh source stream
    /// through the retrying, resumable chunked upload.
    ///
    /// Two rules keep a registry-to-registry copy from hanging (it once did, over HTTPS, where
    /// HTTP/2 carries every request to a host on one connection):
    /// - the source is opened only when the upload pulls its first byte ([`Transfer::lazy_source`]).
    ///   Opened earlier, a `GET` whose upload still waited for a free slot at the target kept up
    ///   to a stream window of unread data, and a few of those used up the source connection's
    ///   window: the uploads holding the target's slots starved, waiting on data that could not
    ///   come. Every open source stream now has a consumer pulling it.
    /// - the streamed attempt runs under a stall watchdog ([`unless_stalled`]): once it has begun
    ///   pulling, no byte from the source for the client's read timeout fails the attempt,
    ///   whatever it waits on (queueing for a target slot before it begins is not a stall). The
    ///   chunked retry sends each chunk as its own request, each under the HTTP layer's retries
    ///   and timeouts, and may queue for a slot between chunks, so it is not watched as a whole.
    async fn upload(
        &self,
        registry: &crate::registry::Registry,
        repo: &str,
        session: url::Url,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobOutcome, OciError> {
        let limit = registry.stall_limit();
        let stalled = |s: Stalled| OciError::Unreachable {
            target: registry.host().to_string(),
            reason: format!("upload of {digest}: {s}"),
        };
        let progress = Progress::new();
        let stream = self.lazy_source(digest, &progress);
        let streamed = unless_stalled(
            registry.upload_streaming(repo, session.clone(), digest, size, stream),
            &progress,
            limit,
        )
        .await;
        let e = match streamed {
            Ok(Ok(n)) => return Ok(BlobOutcome::Copied(n)),
            Ok(Err(e @ OciError::DigestMismatch { .. })) => return Err(e),
            Ok(Err(e)) => e,
            Err(s) => {
                // The dropped PUT left its session open: close it (best effort).
                registry.cancel_upload(repo, &session).await;
                stalled(s)
            }
        };
        tracing::debug!(%digest, error = %e, "streamed upload failed; sending the blob again");
        let stream = self.lazy_source(digest, &Progress::new());
        let n = registry
            .push_blob_stream(repo, digest, size, stream)
            .await?;
        Ok(BlobOutcome::Copied(n))
    }

    /// The source blob as a stream that sends its `GET` only when first polled (which begins
    /// `progress`), and records every chunk in `progress`.
    fn lazy_source(&self, digest: &Digest, progress: &Progress) -> BlobStream {
        let source = self.source.clone();
        let digest = digest.clone();
        let begun = progress.clone();
        let progress = progress.clone();
        Box::pin(
            futures_util::stream::once(async move {
                begun.begin();
                source.open_blob(&digest).await
            })
            .try_flatten()
            .inspect_ok(move |chunk| progress.moved(chunk.len() as u64)),
        )
    }
}

/// The source repository to mount from, when it is another repository of the destination
/// registry.
fn mount_from(source: &Store, dest_host: &str, dest_repo: &str) -> Option<String> {
    match source {
        Store::Registry {
            registry,
            repository,
        } if registry.host() == dest_host && repository != dest_repo => Some(repository.clone()),
        _ => None,
    }
}

/// A child manifest the source does not have: name the index and the digest.
fn missing_child(e: OciError, parent: &Digest, child: &Digest) -> OciError {
    match e {
        OciError::NotFound { target, .. } => OciError::NotFound {
            target,
            what: format!("manifest {child} (listed in index {parent})"),
        },
        e => e,
    }
}
