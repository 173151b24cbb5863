//! Referrers: signatures, SBOMs and attestations attached to a manifest, copied along with it.
//!
//! Found, in the source, through the referrers API (`GET /v2/<repo>/referrers/<digest>`, OCI
//! distribution 1.1) or, when the registry has none (it answers 404; asked once per registry),
//! through the tag schema: the tag `sha256-<hex>` holding an index of the referrers. Cosign's
//! `sha256-<hex>.sig`, `.att` and `.sbom` tags are looked for too. Which fallback tags exist is
//! read from the repository's tag list (listed once), so a manifest without referrers costs no
//! request on a registry without the API.
//!
//! Written, in the destination, by digest (a registry with the referrers API indexes them by
//! their `subject`); when the destination has no referrers API (or is a layout), the fallback tag
//! `sha256-<hex>` is written too, merged with the referrers it already lists. Cosign tags are
//! copied as tags. Referrers of referrers come along, a few levels deep.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use mirrorkit_core::digest::Digest;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::known_blobs::ReferrersApi;
use super::store::{Publish, Store};
use super::transfer::{Stats, Transfer};
use crate::error::OciError;
use crate::media::{self, OCI_INDEX};
use crate::registry::manifests::RawManifest;

/// Cosign's tag suffixes: signatures, attestations, SBOMs.
pub const COSIGN_SUFFIXES: [&str; 3] = [".sig", ".att", ".sbom"];

/// Levels of referrers of referrers followed (a signature of an SBOM of an image is 2).
pub const MAX_REFERRER_DEPTH: usize = 3;

/// The fallback tag of the tag schema for `digest`: `sha256-<hex>`.
pub fn fallback_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().name(), digest.hex())
}

/// Whether `tag` belongs to the tag schema of referrers (`sha256-<hex>`, or a cosign tag
/// `sha256-<hex>.sig|.att|.sbom`), rather than being an image's own tag.
pub fn is_referrer_tag(tag: &str) -> bool {
    let base = COSIGN_SUFFIXES
        .iter()
        .find_map(|s| tag.strip_suffix(s))
        .unwrap_or(tag);
    let Some((alg, hex)) = base.split_once('-') else {
        return false;
    };
    let len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What refers to one manifest in the source.
#[derive(Debug, Default)]
pub struct Found {
    /// Descriptors of the manifests whose `subject` it is.
    pub descriptors: Vec<Value>,
    /// The source's fallback-tag index, when the descriptors came from it.
    pub fallback: Option<RawManifest>,
    /// Cosign-style tags and the manifests they point at.
    pub tagged: Vec<(String, Digest)>,
}

/// Where referrers are looked for: a source store and its tag list.
pub struct SourceReferrers<'a> {
    store: &'a Store,
    api: &'a ReferrersApi,
    tags: OnceCell<HashSet<String>>,
}

impl<'a> SourceReferrers<'a> {
    /// Referrers in `store`; `tags` is its tag list when the caller already has it.
    pub fn new(
        store: &'a Store,
        api: &'a ReferrersApi,
        tags: Option<&[String]>,
    ) -> SourceReferrers<'a> {
        let cell = OnceCell::new();
        if let Some(t) = tags {
            let _ = cell.set(t.iter().cloned().collect());
        }
        SourceReferrers {
            store,
            api,
            tags: cell,
        }
    }

    async fn tag_set(&self) -> Result<&HashSet<String>, OciError> {
        self.tags
            .get_or_try_init(|| async { Ok(self.store.tags().await?.into_iter().collect()) })
            .await
    }

    /// Everything that refers to `subject`.
    pub async fn find(&self, subject: &Digest) -> Result<Found, OciError> {
        let mut found = Found::default();
        let mut from_api = false;
        if let Some((registry, repo)) = self.store.as_registry()
            && self.api.known(registry.host()) != Some(false)
        {
            match registry.referrers(repo, subject).await? {
                Some(list) => {
                    self.api.learn(registry.host(), true);
                    found.descriptors = list;
                    from_api = true;
                }
                None => self.api.learn(registry.host(), false),
            }
        }
        let tags = self.tag_set().await?;
        let fallback = fallback_tag(subject);
        if !from_api && tags.contains(&fallback) {
            let m = self.store.get_manifest(Some(&fallback)).await?;
            if media::is_index(&m.media_type) {
                found.descriptors = index_entries(&m)?;
                found.fallback = Some(m);
            }
        }
        for suffix in COSIGN_SUFFIXES {
            let tag = format!("{fallback}{suffix}");
            if tags.contains(&tag)
                && let Some(r) = self.store.resolve(Some(&tag)).await?
            {
                found.tagged.push((tag, r.digest));
            }
        }
        Ok(found)
    }
}

/// The `manifests` entries of an index.
fn index_entries(m: &RawManifest) -> Result<Vec<Value>, OciError> {
    let doc: Value = serde_json::from_slice(&m.bytes)
        .map_err(|e| OciError::malformed(format!("index {}", m.digest), e))?;
    Ok(doc
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

fn entry_digest(e: &Value) -> Option<Digest> {
    e.get("digest")?.as_str()?.parse().ok()
}

/// Copies the referrers of manifests from a transfer's source to its destination.
pub struct ReferrerCopy<'a> {
    /// Moves the referrers' own content.
    pub transfer: &'a Transfer<'a>,
    /// Where they are found.
    pub source: &'a SourceReferrers<'a>,
    /// Which registries have the referrers API.
    pub api: &'a ReferrersApi,
}

/// What copying referrers did.
#[derive(Debug, Default)]
pub struct Copied {
    /// Every referrer (copied now or already present), in the order found.
    pub digests: Vec<Digest>,
    /// What was transferred.
    pub stats: Stats,
}

impl ReferrerCopy<'_> {
    /// Copy what refers to each of `subjects`, and what refers to those (up to
    /// [`MAX_REFERRER_DEPTH`] levels).
    pub async fn copy_for(&self, subjects: &[Digest]) -> Result<Copied, OciError> {
        let mut out = Copied::default();
        let mut seen: HashSet<Digest> = subjects.iter().cloned().collect();
        let mut queue: VecDeque<(Digest, usize)> =
            subjects.iter().map(|d| (d.clone(), 0)).collect();
        while let Some((subject, depth)) = queue.pop_front() {
            let found = self.source.find(&subject).await?;
            let mut attached = Vec::new();
            for desc in &found.descriptors {
                let Some(digest) = entry_digest(desc) else {
                    return Err(OciError::malformed(
                        format!("referrers of {subject}"),
                        "an entry without a valid digest",
                    ));
                };
                attached.push(desc.clone());
                if !seen.insert(digest.clone()) {
                    continue;
                }
                if !self.transfer.dest.has_manifest(&digest).await? {
                    let d: oci_spec::image::Descriptor = serde_json::from_value(desc.clone())
                        .map_err(|e| OciError::malformed(format!("referrer {digest}"), e))?;
                    let m = self.transfer.source.manifest_by_descriptor(&d).await?;
                    out.stats += self.transfer.copy_tree(&m).await?;
                    self.transfer.dest.push_manifest(&m, Publish::Child).await?;
                    out.stats.manifests += 1;
                }
                out.digests.push(digest.clone());
                if depth + 1 < MAX_REFERRER_DEPTH {
                    queue.push_back((digest, depth + 1));
                }
            }
            if !attached.is_empty()
                && !self.dest_has_api(&subject).await?
                && self
                    .write_fallback(&subject, &attached, found.fallback.as_ref())
                    .await?
            {
                out.stats.manifests += 1;
            }
            for (tag, digest) in &found.tagged {
                let current = self.transfer.dest.resolve(Some(tag)).await?;
                if current.is_none_or(|c| c.digest != *digest) {
                    let m = self
                        .transfer
                        .source
                        .manifest_by_digest(digest, None, "")
                        .await?;
                    out.stats += self.transfer.copy_tree(&m).await?;
                    self.transfer
                        .dest
                        .push_manifest(&m, Publish::Tag(tag))
                        .await?;
                    out.stats.manifests += 1;
                }
                if seen.insert(digest.clone()) {
                    out.digests.push(digest.clone());
                    if depth + 1 < MAX_REFERRER_DEPTH {
                        queue.push_back((digest.clone(), depth + 1));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether the destination answers the referrers API (asked once per registry).
    async fn dest_has_api(&self, probe: &Digest) -> Result<bool, OciError> {
        let Some((registry, repo)) = self.transfer.dest.as_registry() else {
            return Ok(false);
        };
        if let Some(known) = self.api.known(registry.host()) {
            return Ok(known);
        }
        let supported = registry.referrers(repo, probe).await?.is_some();
        self.api.learn(registry.host(), supported);
        Ok(supported)
    }

    /// Point the destination's fallback tag of `subject` at an index listing `attached` and
    /// whatever it listed before. The source's own fallback index is used byte for byte when it
    /// lists exactly these. Returns whether anything was written.
    async fn write_fallback(
        &self,
        subject: &Digest,
        attached: &[Value],
        source_index: Option<&RawManifest>,
    ) -> Result<bool, OciError> {
        let dest = self.transfer.dest;
        let tag = fallback_tag(subject);
        let existing = match dest.resolve(Some(&tag)).await? {
            Some(_) => Some(dest.get_manifest(Some(&tag)).await?),
            None => None,
        };
        let index = match existing {
            Some(current) if media::is_index(&current.media_type) => {
                let mut doc: Value = serde_json::from_slice(&current.bytes)
                    .map_err(|e| OciError::malformed(format!("{tag} in {}", dest.describe()), e))?;
                let mut entries = index_entries(&current)?;
                let mut have: HashSet<Digest> = entries.iter().filter_map(entry_digest).collect();
                let before = entries.len();
                for a in attached {
                    if entry_digest(a).is_some_and(|d| have.insert(d)) {
                        entries.push(a.clone());
                    }
                }
                if entries.len() == before {
                    return Ok(false);
                }
                doc["manifests"] = Value::Array(entries);
                index_of_bytes(serde_json::to_vec(&doc), &current.media_type)?
            }
            _ => match source_index {
                Some(s) if same_digests(&index_entries(s)?, attached) => s.clone(),
                _ => index_of_bytes(
                    serde_json::to_vec(&serde_json::json!({
                        "schemaVersion": 2,
                        "mediaType": OCI_INDEX,
                        "manifests": attached,
                    })),
                    OCI_INDEX,
                )?,
            },
        };
        dest.push_manifest(&index, Publish::Tag(&tag)).await?;
        Ok(true)
    }
}

fn same_digests(a: &[Value], b: &[Value]) -> bool {
    let set = |v: &[Value]| v.iter().filter_map(entry_digest).collect::<HashSet<_>>();
    set(a) == set(b)
}

fn index_of_bytes(
    bytes: Result<Vec<u8>, serde_json::Error>,
    media_type: &str,
) -> Result<RawManifest, OciError> {
    let bytes = bytes.map_err(|e| OciError::malformed("referrers index", e))?;
    Ok(RawManifest {
        digest: Digest::sha256_of(&bytes),
        bytes: Bytes::from(bytes),
        media_type: media_type.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrer_tags_are_recognised() {
        let hex = "a".repeat(64);
        assert!(is_referrer_tag(&format!("sha256-{hex}")));
        assert!(is_referrer_tag(&format!("sha256-{hex}.sig")));
        assert!(is_referrer_tag(&format!("sha256-{hex}.att")));
        assert!(is_referrer_tag(&format!("sha256-{hex}.sbom")));
        assert!(!is_referrer_tag(&format!("sha256-{hex}.zip")));
        assert!(!is_referrer_tag("sha256-abc"));
        assert!(!is_referrer_tag("1.0.0"));
        assert!(!is_referrer_tag(&format!("sha256-{}", "A".repeat(64))));
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        assert_eq!(fallback_tag(&d), format!("sha256-{hex}"));
    }
}
