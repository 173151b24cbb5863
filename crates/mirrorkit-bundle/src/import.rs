//! Import: an opened bundle pushed into a registry or a directory of layouts — a delta refused
//! up front when the target lacks its base blobs; then per tag blobs, manifests, the tag.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt as _;
use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::HasExitCode;
use serde::Serialize;

use mirrorkit_oci::copy::{CopyOptions, CopyReport, copy};
use mirrorkit_oci::error::OciError;
use mirrorkit_oci::layout::Layout;
use mirrorkit_oci::reference::{ImageReference, is_valid_repository};
use mirrorkit_oci::registry::Registry;

use crate::BundleError;
use crate::graph::blob_path;
use crate::open::OpenBundle;

/// Where an import goes.
#[derive(Clone, Debug)]
pub enum ImportTarget {
    /// `docker://HOST[/NAMESPACE]`.
    Registry {
        /// `host[:port]`.
        host: String,
        /// Repository prefix.
        namespace: Option<String>,
    },
    /// `oci:DIR`: one layout per repository under DIR.
    Layouts {
        /// The directory.
        root: PathBuf,
    },
    /// `packages:DIR`: the bundle's package trees published into DIR.
    Packages {
        /// The tree's directory.
        dir: PathBuf,
        /// The URL it is served at (default: where the exported tree was served).
        base_url: Option<url::Url>,
    },
}

impl ImportTarget {
    /// Parse `docker://HOST[/NAMESPACE]` or `oci:DIR`.
    pub fn parse(s: &str) -> Result<ImportTarget, BundleError> {
        if let Some(rest) = s.strip_prefix("docker://") {
            let (host, ns) = match rest.split_once('/') {
                Some((h, n)) => (h, Some(n.trim_end_matches('/'))),
                None => (rest, None),
            };
            if host.is_empty() || ns.is_some_and(|n| !n.is_empty() && !is_valid_repository(n)) {
                return Err(BundleError::Usage(format!(
                    "--to {s:?}: expected docker://HOST[:PORT][/NAMESPACE]"
                )));
            }
            Ok(ImportTarget::Registry {
                host: host.to_string(),
                namespace: ns.filter(|n| !n.is_empty()).map(str::to_string),
            })
        } else if let Some(dir) = s.strip_prefix("oci:") {
            if dir.is_empty() {
                return Err(BundleError::Usage("--to oci: needs a directory".into()));
            }
            Ok(ImportTarget::Layouts {
                root: PathBuf::from(dir),
            })
        } else if let Some(dir) = s.strip_prefix("packages:") {
            if dir.is_empty() {
                return Err(BundleError::Usage(
                    "--to packages: needs a directory".into(),
                ));
            }
            Ok(ImportTarget::Packages {
                dir: PathBuf::from(dir),
                base_url: None,
            })
        } else {
            Err(BundleError::Usage(format!(
                "--to {s:?}: expected docker://HOST[/NAMESPACE], oci:DIR or packages:DIR"
            )))
        }
    }

    fn reference(&self, repository: &str, tag: &str) -> ImageReference {
        match self {
            ImportTarget::Registry { host, namespace } => ImageReference::Docker {
                host: host.clone(),
                repository: match namespace {
                    Some(ns) => format!("{ns}/{repository}"),
                    None => repository.to_string(),
                },
                tag: Some(tag.to_string()),
                digest: None,
            },
            ImportTarget::Layouts { root } | ImportTarget::Packages { dir: root, .. } => {
                ImageReference::Layout {
                    path: root.join(repository),
                    reference: Some(tag.to_string()),
                }
            }
        }
    }
}

/// What happened to one tag in an import.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TagOutcome {
    /// Repository in the target (namespace included).
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Digest it points at.
    pub digest: String,
    /// `added` (new tag), `updated` (the tag pointed elsewhere), `unchanged`, `refused`, or with
    /// `--dry-run` the same words for what would happen.
    pub status: &'static str,
    /// Why refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an import did.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ImportReport {
    /// The bundle's id, when it has a manifest.
    pub bundle: Option<String>,
    /// Nothing was written.
    pub dry_run: bool,
    /// Per tag.
    pub tags: Vec<TagOutcome>,
    /// Blobs sent to the target.
    pub blobs_sent: u64,
    /// Blobs the target already had.
    pub blobs_present: u64,
    /// Bytes sent.
    pub bytes: u64,
}

impl ImportReport {
    /// A report of nothing done yet, for `bundle`.
    pub fn new(bundle: &OpenBundle, dry_run: bool) -> ImportReport {
        ImportReport {
            bundle: bundle.manifest.as_ref().map(|m| m.id.clone()),
            dry_run,
            tags: Vec::new(),
            blobs_sent: 0,
            blobs_present: 0,
            bytes: 0,
        }
    }

    /// `other` (an import of more of the same bundle) added to this one.
    pub fn absorb(&mut self, other: ImportReport) {
        self.tags.extend(other.tags);
        self.blobs_sent += other.blobs_sent;
        self.blobs_present += other.blobs_present;
        self.bytes += other.bytes;
    }

    /// One line per tag and a summary.
    pub fn to_plain(&self) -> String {
        let mut out = String::new();
        for t in &self.tags {
            out.push_str(&format!(
                "{:9} {}:{} {}{}\n",
                t.status,
                t.repository,
                t.tag,
                t.digest,
                t.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        let count = |s: &str| self.tags.iter().filter(|t| t.status == s).count();
        out.push_str(&format!(
            "{}{} added, {} updated, {} unchanged, {} refused; {} blobs sent ({} bytes), {} already present\n",
            if self.dry_run { "dry run: " } else { "" },
            count("added"),
            count("updated"),
            count("unchanged"),
            count("refused"),
            self.blobs_sent,
            self.bytes,
            self.blobs_present
        ));
        out
    }
}

/// Import an opened bundle into `target`: refuse a delta whose base blobs the target lacks
/// (naming them) before anything is written; then per tag blobs, manifests, tag.
pub async fn import(
    bundle: &OpenBundle,
    target: &ImportTarget,
    dry_run: bool,
    copy_opts: &CopyOptions,
) -> Result<ImportReport, BundleError> {
    // Package trees check a delta's files against the tree itself.
    if let ImportTarget::Packages { dir, base_url } = target {
        return crate::packages::import(bundle, dir, base_url.as_ref(), dry_run).await;
    }
    // Where the target stands: the current digest of every tag, and the delta's base blobs.
    let registry = match target {
        ImportTarget::Registry { host, .. } => Some(copy_opts.access().registry(host, false)?),
        ImportTarget::Layouts { .. } | ImportTarget::Packages { .. } => None,
    };
    let target_repo = |repo: &str| match target {
        ImportTarget::Registry {
            namespace: Some(ns),
            ..
        } => format!("{ns}/{repo}"),
        _ => repo.to_string(),
    };
    let mut missing = Vec::new();
    for (repo, digests) in &bundle.needs {
        for d in digests {
            let present = match (&registry, target) {
                (Some(r), _) => r.head_blob(&target_repo(repo), d).await?.is_some(),
                (None, ImportTarget::Layouts { root }) => blob_path(&root.join(repo), d).is_file(),
                _ => false,
            };
            if !present {
                missing.push(format!("{}@{d}", target_repo(repo)));
            }
        }
    }
    if !missing.is_empty() {
        let base = bundle
            .manifest
            .as_ref()
            .and_then(|m| m.base.clone())
            .unwrap_or_else(|| "(unknown)".into());
        let shown: Vec<&String> = missing.iter().take(5).collect();
        return Err(BundleError::Refused(format!(
            "this is a delta bundle on top of {base}, and the target lacks {} blob(s) the base carried: {}{}; import the base bundle first",
            missing.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > 5 { ", …" } else { "" }
        )));
    }
    // An archive was unpacked (and every blob verified) into our own temp dir: its blobs may be
    // linked rather than copied. A bundle directory belongs to the user: copied, never linked.
    let mut copy_opts = copy_opts.clone();
    copy_opts.link_verified_layouts = bundle._temp.is_some();
    // Images are pushed several at once; a blob several of them share is sent once and mounted
    // into the other repositories.
    copy_opts.known_blobs = Some(Arc::default());
    let copy_opts = &copy_opts;
    let mut report = ImportReport::new(bundle, dry_run);
    let registry = registry.as_ref();
    let results: Vec<Result<(TagOutcome, Option<CopyReport>), BundleError>> =
        futures_util::stream::iter(&bundle.tags)
            .map(|(repo, tag, digest, _mt)| async move {
                let current =
                    current_digest(registry, target, &target_repo(repo), repo, tag).await?;
                let status = match &current {
                    Some(d) if d == digest => "unchanged",
                    Some(_) => "updated",
                    None => "added",
                };
                let mut outcome = TagOutcome {
                    repository: target_repo(repo),
                    tag: tag.clone(),
                    digest: digest.to_string(),
                    status,
                    reason: None,
                };
                if dry_run || status == "unchanged" {
                    return Ok((outcome, None));
                }
                let src = ImageReference::Layout {
                    path: bundle.dir.clone(),
                    reference: Some(digest.to_string()),
                };
                match copy(&src, &target.reference(repo, tag), copy_opts).await {
                    Ok(r) => Ok((outcome, Some(r))),
                    Err(e) => {
                        // Unreachable or refusing targets end the import; a single image the
                        // target rejects is reported and the rest go on.
                        let code = e.exit_code();
                        if matches!(
                            code,
                            mirrorkit_core::exit::ExitCode::Unavailable
                                | mirrorkit_core::exit::ExitCode::NoPermission
                                | mirrorkit_core::exit::ExitCode::Io
                        ) {
                            return Err(e.into());
                        }
                        outcome.status = "refused";
                        outcome.reason = Some(e.to_string());
                        Ok((outcome, None))
                    }
                }
            })
            .buffered(match target {
                ImportTarget::Registry { .. } => IMAGES_AT_ONCE,
                // Local layouts: the blobs are hard-linked or copied on one disk, where running
                // several at once only adds seeks.
                ImportTarget::Layouts { .. } | ImportTarget::Packages { .. } => 1,
            })
            .collect()
            .await;
    for result in results {
        let (outcome, copied) = result?;
        if let Some(r) = copied {
            report.blobs_sent += r.blobs_copied + r.blobs_mounted;
            report.blobs_present += r.blobs_skipped;
            report.bytes += r.bytes;
        }
        report.tags.push(outcome);
    }
    Ok(report)
}

/// Images pushed at once into a registry by an import (each sends its blobs
/// `CopyOptions::concurrency` at once).
const IMAGES_AT_ONCE: usize = 4;

async fn current_digest(
    registry: Option<&Registry>,
    target: &ImportTarget,
    target_repo: &str,
    repo: &str,
    tag: &str,
) -> Result<Option<Digest>, BundleError> {
    match (registry, target) {
        (Some(r), _) => Ok(r
            .head_manifest(target_repo, tag)
            .await?
            .and_then(|h| h.digest)),
        (None, ImportTarget::Layouts { root }) => {
            let dir = root.join(repo);
            if !dir.join("index.json").is_file() {
                return Ok(None);
            }
            match Layout::open(dir)?.resolve(Some(tag)) {
                Ok(d) => Ok(d.digest().to_string().parse().ok()),
                Err(OciError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        _ => Ok(None),
    }
}
