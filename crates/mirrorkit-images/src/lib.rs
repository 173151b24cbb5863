//! Mirroring `type: oci` sources: images, indexes and other OCI content copied from a source
//! registry into the target, tag by tag (or digest by digest), with platform subsets and
//! referrers.
//!
//! Per mirror: list the source's tags (or, with `digests`, ping it) and the target's tags, at once;
//! a failure of either is the mirror's error (unreachable 69, refused 77). Apply the tag filter.
//! Then every item is *prepared* — read-only, 4 at once (the source registry's `concurrency`):
//! `HEAD` the source manifest and the target's tag; when the tag already points at that digest (or
//! at the platform subset's digest) the item is `skipped` without reading any blob; else its
//! manifest tree is fetched and verified. Items to copy then go in groups of 8, oldest version
//! first: the group's blobs travel together (the [`copy`](mod@mirrorkit_oci::copy) transfer: several at
//! once, `HEAD` before each, mounted from any target repository this run put them in, else
//! streamed), then each item's manifests and tag are written in order, then its referrers. A failed
//! item never stops the others unless `fail_fast` (then items are copied one by one and the first
//! failure ends the mirror).
//!
//! - `item`: one tag or digest, from `HEAD` to report.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod item;

use std::collections::{BTreeSet, HashMap};

use futures_util::StreamExt as _;
use mirrorkit_core::family::VersionFilter;
use mirrorkit_core::family::{Family, RunContext};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::report::{MirrorError, MirrorReport, Status, VersionReport};
use mirrorkit_core::source::images::OciSource;
use mirrorkit_core::spec::{Mirror, TargetConfig};
use mirrorkit_oci::copy::known_blobs::KnownBlobs;

use mirrorkit_oci::copy::referrers::{SourceReferrers, is_referrer_tag};
use mirrorkit_oci::copy::store::Store;
use mirrorkit_oci::copy::{CopyOptions, DEFAULT_BLOB_CONCURRENCY, registry_for};
use mirrorkit_oci::error::OciError;
use mirrorkit_oci::target::{Access, AnyTarget};

pub use item::ImageItem;
use item::{ImageJob, Prepared, ToCopy};
use mirrorkit_core::exit::HasExitCode;

/// What every image copy of one run shares.
pub struct SyncContext<'a> {
    /// The shared HTTP client.
    pub http: &'a HttpClient,
    /// Registry credentials.
    pub credentials: &'a Credentials,
    /// Registries spoken to over plain HTTP (the spec's `registries: {h: {insecure: true}}` and
    /// insecure targets).
    pub insecure_hosts: &'a [String],
    /// Plan only: list and compare, copy nothing.
    pub dry_run: bool,
    /// Stop at the first failed item.
    pub fail_fast: bool,
    /// Blobs known to be in target repositories during this run.
    pub known_blobs: &'a KnownBlobs,
    /// `--version` / `--latest`: narrow the tags (chart versions) the spec selects.
    pub filter: &'a VersionFilter,
    /// Where documents are kept with their ETag between runs (a chart repository's
    /// `index.yaml`); `None`: nothing is kept.
    pub cache_dir: Option<&'a std::path::Path>,
}

impl<'a> SyncContext<'a> {
    /// The context of `run` for the copied families (images, and the images charts use).
    pub fn of_run(run: &'a RunContext<'a>, known_blobs: &'a KnownBlobs) -> SyncContext<'a> {
        SyncContext {
            http: run.http,
            credentials: run.credentials,
            insecure_hosts: run.insecure_hosts,
            dry_run: run.options.dry_run,
            fail_fast: run.options.fail_fast,
            known_blobs,
            filter: &run.options.filter,
            cache_dir: Some(run.cache_dir),
        }
    }
}

/// The image family: `type: oci` mirrors. One per run, sharing what it learns about the
/// target's blobs ([`KnownBlobs`]) with the chart family.
pub struct Images<'a> {
    /// Blobs known to be in target repositories during this run.
    pub known_blobs: &'a KnownBlobs,
}

impl Family for Images<'_> {
    type Source<'s> = &'s OciSource;

    async fn sync(
        &self,
        mirror: &Mirror,
        source: Self::Source<'_>,
        ctx: &RunContext<'_>,
    ) -> MirrorReport {
        sync_oci_mirror(mirror, source, &SyncContext::of_run(ctx, self.known_blobs)).await
    }
}

impl SyncContext<'_> {
    /// What opening a registry needs: the client, credentials and plain-HTTP hosts.
    pub fn access(&self) -> Access<'_> {
        Access {
            http: self.http,
            credentials: self.credentials,
            insecure_hosts: self.insecure_hosts,
        }
    }

    /// Copy options for this run (plain-HTTP hosts, client, credentials).
    pub fn copy_options(&self) -> CopyOptions {
        let mut o = CopyOptions::new(self.http.clone(), self.credentials.clone());
        o.insecure_hosts = self.insecure_hosts.to_vec();
        o
    }

    /// Blobs sent at once from `host`: its `registries: {host: {concurrency: N}}`, else
    /// [`DEFAULT_BLOB_CONCURRENCY`].
    pub fn blob_concurrency(&self, host: &str) -> usize {
        let limits = &self.http.config().host_concurrency;
        let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
        limits
            .get(host)
            .or_else(|| limits.get(bare))
            .copied()
            .unwrap_or(DEFAULT_BLOB_CONCURRENCY)
            .max(1)
    }
}

/// Mirror one `oci` source into the mirror's target repository.
pub async fn sync_oci_mirror(
    mirror: &Mirror,
    source: &OciSource,
    ctx: &SyncContext<'_>,
) -> MirrorReport {
    let mut report = MirrorReport::for_mirror(mirror);
    let fail = |report: &mut MirrorReport, what: &str, e: OciError| {
        report.error = Some(MirrorError::new(format!("{what}: {e}"), e.exit_code()));
    };
    let opts = ctx.copy_options();
    let mut registries = HashMap::new();
    let src_registry = match registry_for(&source.registry, &opts, &mut registries) {
        Ok(r) => r,
        Err(e) => {
            fail(&mut report, "source", e);
            return report;
        }
    };
    let src_store = Store::Registry {
        registry: src_registry.clone(),
        repository: source.repository.clone(),
    };
    let src_name = format!("{}/{}", source.registry, source.repository);
    // The target: a registry client shared with the source when they are one host (one token
    // cache, one chunk size), or a layout root.
    let target = match &mirror.target {
        TargetConfig::Registry { host, .. } => {
            registry_for(host, &opts, &mut registries).map(AnyTarget::Registry)
        }
        other => AnyTarget::open(other, ctx.access()),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            fail(&mut report, &format!("target {}", mirror.target), e);
            return report;
        }
    };
    // The source's tags (or, with `digests`, whether it answers) and the target as it stands,
    // read at once. A failure of either is the mirror's.
    let source_side = async {
        if source.digests.is_empty() {
            src_registry
                .list_tags(&source.repository)
                .await
                .map(Some)
                .map_err(|e| (format!("listing the tags of {src_name}"), e))
        } else {
            src_registry
                .ping()
                .await
                .map(|()| None)
                .map_err(|e| (format!("source {}", source.registry), e))
        }
    };
    let target_side = open_target(&target, &mirror.repository, ctx.dry_run);
    let (source_tags, dest) = match tokio::join!(source_side, target_side) {
        (Err((what, e)), _) => {
            fail(&mut report, &what, e);
            return report;
        }
        (_, Err(e)) => {
            fail(&mut report, &format!("target {}", mirror.target), e);
            return report;
        }
        (Ok(tags), Ok(dest)) => (tags, dest),
    };
    // What to copy: the selected tags, or the digests.
    let items: Vec<ImageItem> = match &source_tags {
        Some(tags) => {
            let candidates: Vec<String> = tags
                .iter()
                .filter(|t| !is_referrer_tag(t) || source.tags.include.contains(t))
                .cloned()
                .collect();
            let by_spec = source.tags.apply(&candidates);
            let spec_selected = by_spec.len();
            let selected = ctx.filter.narrow(by_spec);
            if selected.is_empty() {
                report.warnings.push(if tags.is_empty() {
                    format!("{src_name} has no tags (or does not exist): nothing to mirror")
                } else if spec_selected > 0 {
                    format!(
                        "--version/--latest select none of the {spec_selected} tag(s) of {src_name} the spec selects: nothing to mirror"
                    )
                } else {
                    format!(
                        "no tag of {src_name} matches the tag filter ({} tag(s) listed): nothing to mirror",
                        candidates.len()
                    )
                });
            }
            selected.into_iter().map(ImageItem::Tag).collect()
        }
        None => source
            .digests
            .iter()
            .cloned()
            .map(ImageItem::Digest)
            .collect(),
    };
    let job = ImageJob {
        source: &src_store,
        source_tags: source_tags.as_deref(),
        dest: dest.store.as_ref(),
        dest_tags: Some(&dest.tags),
        target_key: mirror.target.to_string(),
        platforms: source.platforms.as_deref(),
        referrers: source.referrers,
        dry_run: ctx.dry_run,
        concurrency: ctx.blob_concurrency(&source.registry),
        known_blobs: ctx.known_blobs,
        api: ctx.known_blobs.referrers_api(),
    };
    let referrer_source = job.referrer_source();
    // Read-only checks of the items (HEADs, manifests), as many at once as blobs are sent (the
    // source registry's `concurrency`, default 4), then the writes in order.
    let prepared: Vec<Prepared> = futures_util::stream::iter(&items)
        .map(|item| job.prepare(item))
        .buffered(job.concurrency)
        .collect()
        .await;
    // Items to copy go in groups whose blobs travel together; with --fail-fast one at a time,
    // so that nothing after the first failure is sent.
    let group_size = if ctx.fail_fast { 1 } else { COPY_GROUP };
    let mut writes = Writes {
        job: &job,
        refs: &referrer_source,
        fail_fast: ctx.fail_fast,
        group: Vec::new(),
        slots: Vec::new(),
    };
    let mut stopped = false;
    for p in prepared {
        let slot = writes.slots.len();
        writes.slots.push(None);
        match p {
            Prepared::Copy(c) => {
                writes.group.push((slot, *c));
                if writes.group.len() >= group_size {
                    stopped = writes.flush().await;
                }
            }
            Prepared::Done(v) => {
                stopped = v.status == Status::Failed && ctx.fail_fast;
                writes.slots[slot] = Some(v);
            }
            Prepared::Present {
                report,
                subjects,
                started,
            } => {
                let v = job
                    .refresh_referrers(report, &subjects, started, &referrer_source)
                    .await;
                stopped = v.status == Status::Failed && ctx.fail_fast;
                writes.slots[slot] = Some(v);
            }
        }
        if stopped {
            break;
        }
    }
    if !stopped {
        writes.flush().await;
    }
    let mut versions: Vec<VersionReport> = writes.slots.into_iter().flatten().collect();
    if ctx.fail_fast
        && let Some(first) = versions.iter().position(|v| v.status == Status::Failed)
    {
        versions.truncate(first + 1);
    }
    report.versions = versions;
    report
}

/// Items whose blobs are sent together.
const COPY_GROUP: usize = 8;

/// The writing half of a mirror's run: items waiting to be copied as a group, and every item's
/// report in its slot (the order the items were listed in).
struct Writes<'a> {
    job: &'a ImageJob<'a>,
    refs: &'a SourceReferrers<'a>,
    fail_fast: bool,
    group: Vec<(usize, ToCopy)>,
    slots: Vec<Option<VersionReport>>,
}

impl Writes<'_> {
    /// Copy the waiting group and put its reports in their slots; whether to stop
    /// (`fail_fast` and one failed).
    async fn flush(&mut self) -> bool {
        if self.group.is_empty() {
            return false;
        }
        let (indexes, items): (Vec<usize>, Vec<ToCopy>) =
            std::mem::take(&mut self.group).into_iter().unzip();
        let reports = self.job.copy_group(items, !self.fail_fast, self.refs).await;
        let mut failed = false;
        for (i, v) in indexes.into_iter().zip(reports) {
            failed |= v.status == Status::Failed;
            self.slots[i] = Some(v);
        }
        failed && self.fail_fast
    }
}

/// The target repository: its store (`None` in a dry run whose layout does not exist yet) and
/// its tags as listed at the start.
struct OpenTarget {
    store: Option<Store>,
    tags: BTreeSet<String>,
}

async fn open_target(
    target: &AnyTarget,
    repository: &str,
    dry_run: bool,
) -> Result<OpenTarget, OciError> {
    // A dry run reads what is there and creates no layout directory.
    let store = if dry_run {
        target.existing_store(repository)?
    } else {
        Some(target.store(repository)?)
    };
    let tags = match &store {
        Some(store) => store.tags().await?.into_iter().collect(),
        None => BTreeSet::new(),
    };
    Ok(OpenTarget { store, tags })
}
