//! Rolling tags: `X.Y.Z` → `X.Y` → `X` → `latest`.
//!
//! The rule, for one platform of a version `V` (of the form `X.Y.Z`, optionally `+build`):
//! walking the levels `X.Y`, `X`, `latest` in that order, a level moves to `V` only if no higher
//! published version under that level carries the same platform; the walk stops at the first
//! blocked level. Moving a level merges `V`'s entry for the platform into the alias's existing
//! index, keeping every other platform. Prereleases (upstream's flag or a `-pre` part) never move
//! a rolling tag, and they never block one. Versions of any other shape (`1.2`, `2024.01`) get
//! their exact tag only.
//!
//! The same rule, applied to everything published, gives each alias's expected content: for
//! every platform, the highest version under the alias that publishes it. [`check`] compares that
//! with the target and, asked to repair, pushes the expected index where they differ.
//!
//! Which tags are published versions comes from upstream's version list (an exact tag of a known
//! version), so build tags (`1.2.3_20261122…`) and aliases are never mistaken for versions.
//!
//! Two runs may publish into one repository at once (different `--version`s, two schedulers).
//! Each one's [`PublishedVersions`] is read at its start, so each could move an alias without knowing what
//! the other published: `latest` ended on 1.2.0 while 2.0.0 was published. So the cascade
//! re-reads the target's tags before it computes an alias ([`PublishedVersions::refresh`]), and once a
//! run has pushed, [`settle`] re-reads again and checks every alias the run moved, repairing one
//! another run overwrote. A registry offers no compare-and-swap on tags, so this is a loop: it
//! stops when a check finds nothing to repair, and fails loudly when the aliases keep changing.
//!
//! Why one long file: computing, pushing, settling and checking the aliases are one protocol
//! over one data model; the last 190 lines are its unit tests against an in-memory target.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::ocx::manifest;
use mirrorkit_core::platform::Platform;
use mirrorkit_core::version;
use mirrorkit_oci::OciError;
use mirrorkit_oci::target::Target;

/// The `major.minor` of a version that moves rolling tags (`X.Y.Z`, no prerelease).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseNumber<'a> {
    major: &'a str,
    minor: &'a str,
}

/// `(major, minor)` of an `X.Y.Z[+build]` version (a leading `v` allowed), or `None` for a
/// prerelease or any other shape.
pub fn release_number(v: &str) -> Option<ReleaseNumber<'_>> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let v = v.split_once('+').map_or(v, |(head, _)| head);
    let mut parts = v.split('.');
    let (major, minor, patch) = (parts.next()?, parts.next()?, parts.next()?);
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (parts.next().is_none() && numeric(major) && numeric(minor) && numeric(patch))
        .then_some(ReleaseNumber { major, minor })
}

/// The rolling tags above a version, most specific first: `X.Y`, `X`, `latest`.
pub fn aliases(c: ReleaseNumber<'_>) -> [String; 3] {
    [
        format!("{}.{}", c.major, c.minor),
        c.major.to_string(),
        "latest".to_string(),
    ]
}

/// Whether `c` falls under the alias at `level` (0 = `X.Y`, 1 = `X`, 2 = `latest`) of `of`.
fn under(level: usize, of: ReleaseNumber<'_>, c: ReleaseNumber<'_>) -> bool {
    match level {
        0 => c.major == of.major && c.minor == of.minor,
        1 => c.major == of.major,
        _ => true,
    }
}

/// A published version: its exact tag and, once fetched, its index entries by platform.
#[derive(Clone, Debug)]
struct Published {
    tag: String,
    eligible: bool,
    entries: Option<BTreeMap<Platform, Value>>,
}

/// A version's index as read: its key, exact tag, and the raw answer.
type Fetched = (
    VersionKey,
    String,
    Result<Option<(String, Vec<u8>)>, OciError>,
);

/// What the target holds of a mirror's versions, fetched lazily.
#[derive(Debug, Default)]
pub struct PublishedVersions {
    versions: BTreeMap<VersionKey, Published>,
    /// Upstream versions whose exact tag was not published when last read: (version,
    /// prerelease, exact tag). Another run may publish them; [`PublishedVersions::refresh`] looks.
    unpublished: Vec<(String, bool, String)>,
    /// The aliases this run moved (checked again by [`settle`]).
    moved: BTreeSet<String>,
}

/// A version string ordered by [`version::compare`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct VersionKey(String);

impl PartialOrd for VersionKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VersionKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        version::compare(&self.0, &other.0)
    }
}

/// The entries of an image index by platform (entries without a platform are left out).
pub fn index_entries(bytes: &[u8]) -> Option<BTreeMap<Platform, Value>> {
    let doc: Value = serde_json::from_slice(bytes).ok()?;
    let manifests = doc.get("manifests")?.as_array()?;
    Some(
        manifests
            .iter()
            .filter_map(|m| Some((Platform::from_oci(m.get("platform")?)?, m.clone())))
            .collect(),
    )
}

impl PublishedVersions {
    /// The versions among `versions` (version, prerelease, exact tag) whose exact tag is in
    /// `tags`.
    pub fn new<'a>(
        versions: impl IntoIterator<Item = (&'a str, bool, &'a str)>,
        tags: &BTreeSet<String>,
    ) -> PublishedVersions {
        let mut c = PublishedVersions::default();
        for (v, prerelease, tag) in versions {
            if tags.contains(tag) {
                c.versions.insert(
                    VersionKey(v.to_string()),
                    Published {
                        tag: tag.to_string(),
                        eligible: !prerelease && release_number(v).is_some(),
                        entries: None,
                    },
                );
            } else {
                c.unpublished
                    .push((v.to_string(), prerelease, tag.to_string()));
            }
        }
        c
    }

    /// Re-read the target's tags and add the upstream versions published since the catalog was
    /// made (by another run). Returns how many were added; their indexes are read lazily.
    pub async fn refresh<T: Target>(&mut self, target: &T, repo: &str) -> Result<usize, OciError> {
        let tags: BTreeSet<String> = target.list_tags(repo).await?.into_iter().collect();
        let PublishedVersions {
            versions,
            unpublished,
            ..
        } = self;
        let before = unpublished.len();
        unpublished.retain(|(v, prerelease, tag)| {
            if !tags.contains(tag) {
                return true;
            }
            versions
                .entry(VersionKey(v.clone()))
                .or_insert_with(|| Published {
                    tag: tag.clone(),
                    eligible: !prerelease && release_number(v).is_some(),
                    entries: None,
                });
            false
        });
        Ok(before - unpublished.len())
    }

    /// Record a version just published with its index entries.
    pub fn add(
        &mut self,
        version: &str,
        prerelease: bool,
        tag: &str,
        entries: BTreeMap<Platform, Value>,
    ) {
        self.unpublished.retain(|(v, _, _)| v != version);
        self.versions.insert(
            VersionKey(version.to_string()),
            Published {
                tag: tag.to_string(),
                eligible: !prerelease && release_number(version).is_some(),
                entries: Some(entries),
            },
        );
    }

    async fn entries<T: Target>(
        &mut self,
        target: &T,
        repo: &str,
        key: &VersionKey,
    ) -> Result<&BTreeMap<Platform, Value>, String> {
        let Some(p) = self.versions.get_mut(key) else {
            return Err(format!("{} is not published", key.0));
        };
        if p.entries.is_none() {
            let fetched = target
                .fetch_manifest(repo, &p.tag)
                .await
                .map_err(|e| format!("cannot read {repo}:{}: {e}", p.tag))?;
            let entries = match fetched {
                Some((_, bytes)) => index_entries(&bytes).ok_or_else(|| {
                    format!("{repo}:{} is not an image index with platforms", p.tag)
                })?,
                // Listed but not readable: another run is writing the tag right now (a registry
                // lists a tag before its link is written). Not remembered as "no platforms",
                // which made an alias look right while it pointed below the new version.
                None => {
                    return Err(format!(
                        "{repo}:{} is listed but cannot be read (yet)",
                        p.tag
                    ));
                }
            };
            p.entries = Some(entries);
        }
        Ok(p.entries.get_or_insert_default())
    }

    /// Read the index of every published version (8 at a time) and return, per exact tag, the
    /// platforms it carries. A version whose index cannot be read is left out (and read again,
    /// lazily, when the cascade needs it).
    pub async fn load_all<T: Target>(
        &mut self,
        target: &T,
        repo: &str,
    ) -> BTreeMap<String, BTreeSet<Platform>> {
        use futures_util::StreamExt;
        let wanted: Vec<(VersionKey, String)> = self
            .versions
            .iter()
            .filter(|(_, p)| p.entries.is_none())
            .map(|(k, p)| (k.clone(), p.tag.clone()))
            .collect();
        let fetched: Vec<Fetched> = futures_util::stream::iter(wanted)
            .map(|(k, tag)| async move {
                let r = target.fetch_manifest(repo, &tag).await;
                (k, tag, r)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for (key, tag, result) in fetched {
            match result {
                Ok(Some((_, bytes))) => match index_entries(&bytes) {
                    Some(entries) => {
                        if let Some(p) = self.versions.get_mut(&key) {
                            p.entries = Some(entries);
                        }
                    }
                    None => tracing::warn!("{repo}:{tag} is not an image index with platforms"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!("cannot read {repo}:{tag}: {e}"),
            }
        }
        self.versions
            .values()
            .filter_map(|p| {
                p.entries
                    .as_ref()
                    .map(|e| (p.tag.clone(), e.keys().cloned().collect()))
            })
            .collect()
    }

    /// The index entries of a published version, by platform (read if not yet known).
    pub async fn published_entries<T: Target>(
        &mut self,
        target: &T,
        repo: &str,
        version: &str,
    ) -> Result<BTreeMap<Platform, Value>, String> {
        Ok(self
            .entries(target, repo, &VersionKey(version.to_string()))
            .await?
            .clone())
    }

    /// Eligible versions above `v` under alias `level` of `of`.
    fn higher_under(&self, v: &str, level: usize, of: ReleaseNumber<'_>) -> Vec<VersionKey> {
        let key = VersionKey(v.to_string());
        self.versions
            .range((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded))
            .filter(|(k, p)| {
                p.eligible && release_number(&k.0).is_some_and(|c| under(level, of, c))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// What the cascade did for one version.
#[derive(Debug, Default)]
pub struct CascadeOutcome {
    /// Aliases written.
    pub moved: Vec<String>,
    /// Why some level did not move when it might have (registry errors).
    pub warnings: Vec<String>,
}

/// Move the rolling tags for `version` (already published under `tag` with `index`, its exact
/// index bytes) in `repo`. `catalog` must hold what was published before, and is updated.
#[allow(clippy::too_many_arguments)]
pub async fn cascade<T: Target>(
    target: &T,
    repo: &str,
    catalog: &mut PublishedVersions,
    version: &str,
    prerelease: bool,
    tag: &str,
    index: &[u8],
    annotations: &BTreeMap<String, String>,
) -> CascadeOutcome {
    let mut out = CascadeOutcome::default();
    let entries = index_entries(index).unwrap_or_default();
    catalog.add(version, prerelease, tag, entries.clone());
    let Some(c) = release_number(version).filter(|_| !prerelease) else {
        return out;
    };
    // Re-read before computing: another run may have published a higher version since.
    if let Err(e) = catalog.refresh(target, repo).await {
        out.warnings.push(format!(
            "cannot re-read the tags of {repo} before moving rolling tags: {e}"
        ));
    }
    let names = aliases(c);
    // Per alias level, the platforms that move.
    let mut moving: [Vec<Platform>; 3] = Default::default();
    for platform in entries.keys() {
        'levels: for (level, alias) in names.iter().enumerate() {
            for higher in catalog.higher_under(version, level, c) {
                match catalog.entries(target, repo, &higher).await {
                    Ok(e) if e.contains_key(platform) => break 'levels,
                    Ok(_) => {}
                    Err(e) => {
                        out.warnings
                            .push(format!("cascade stopped at {alias} for {platform}: {e}"));
                        break 'levels;
                    }
                }
            }
            moving[level].push(platform.clone());
        }
    }
    for (level, alias) in names.iter().enumerate() {
        if moving[level].is_empty() {
            continue;
        }
        if catalog
            .versions
            .values()
            .any(|p| p.tag == *alias && !p.eligible)
        {
            out.warnings.push(format!(
                "rolling tag {alias} not moved: it is the exact tag of an upstream version"
            ));
            continue;
        }
        let current = match target.fetch_manifest(repo, alias).await {
            Ok(found) => found
                .and_then(|(_, bytes)| index_entries(&bytes))
                .unwrap_or_default(),
            Err(e) => {
                out.warnings
                    .push(format!("cascade stopped at {alias}: {e}"));
                break;
            }
        };
        let mut merged = current;
        for p in &moving[level] {
            if let Some(entry) = entries.get(p) {
                merged.insert(p.clone(), entry.clone());
            }
        }
        match push_alias(target, repo, alias, &merged, annotations).await {
            Ok(()) => {
                catalog.moved.insert(alias.clone());
                out.moved.push(alias.clone());
            }
            Err(e) => {
                out.warnings
                    .push(format!("cascade stopped at {alias}: {e}"));
                break;
            }
        }
    }
    out
}

/// Build an alias index from entries by platform (in platform order) and tag it.
async fn push_alias<T: Target>(
    target: &T,
    repo: &str,
    alias: &str,
    entries: &BTreeMap<Platform, Value>,
    annotations: &BTreeMap<String, String>,
) -> Result<(), OciError> {
    let bytes = alias_index(entries, annotations);
    target
        .push_manifest(repo, alias, manifest::MEDIA_TYPE_IMAGE_INDEX, &bytes)
        .await?;
    Ok(())
}

/// The exact bytes of an alias index holding `entries` (each a full index entry with its
/// platform), with `artifactType` and `annotations` as a version's own index has them.
pub fn alias_index(
    entries: &BTreeMap<Platform, Value>,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut doc = serde_json::Map::new();
    doc.insert("schemaVersion".into(), Value::from(2));
    doc.insert(
        "mediaType".into(),
        Value::from(manifest::MEDIA_TYPE_IMAGE_INDEX),
    );
    doc.insert(
        "artifactType".into(),
        Value::from(manifest::ARTIFACT_TYPE_PACKAGE),
    );
    doc.insert(
        "manifests".into(),
        Value::Array(entries.values().cloned().collect()),
    );
    if !annotations.is_empty() {
        doc.insert(
            "annotations".into(),
            Value::Object(
                annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                    .collect(),
            ),
        );
    }
    serde_json::to_vec(&Value::Object(doc)).unwrap_or_default()
}

/// The state of one rolling tag after [`check`].
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AliasState {
    /// The alias (`3.28`, `3`, `latest`).
    pub alias: String,
    /// `ok`, `drift` (differs from the expected content), `missing`, or `repaired`.
    pub state: &'static str,
    /// Per platform, the version the alias should point at.
    pub expected: BTreeMap<String, String>,
    /// What differs, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

/// How many times [`settle`] repairs aliases another run keeps overwriting before it gives up.
const SETTLE_ROUNDS: usize = 3;

/// After a run has pushed: re-read what is published and check the aliases this run moved
/// against the rule, repairing those another run overwrote with a stale view (see the module
/// docs). Returns what was repaired, in words; an error when the aliases still differ after
/// [`SETTLE_ROUNDS`] repairs.
pub async fn settle<T: Target>(
    target: &T,
    repo: &str,
    catalog: &mut PublishedVersions,
) -> Result<Vec<String>, String> {
    let mut repaired = Vec::new();
    if catalog.moved.is_empty() {
        return Ok(repaired);
    }
    let moved = catalog.moved.clone();
    for round in 0..=SETTLE_ROUNDS {
        catalog
            .refresh(target, repo)
            .await
            .map_err(|e| format!("cannot re-read the tags of {repo}: {e}"))?;
        let repair = round < SETTLE_ROUNDS;
        let states = match check_aliases(target, repo, catalog, repair, Some(&moved)).await {
            Ok(states) => states,
            // A version another run is publishing this instant: look again shortly.
            Err(_) if repair => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let drifted: Vec<&AliasState> = states.iter().filter(|s| s.state != "ok").collect();
        if drifted.is_empty() {
            return Ok(repaired);
        }
        if !repair {
            let names: Vec<&str> = drifted.iter().map(|s| s.alias.as_str()).collect();
            return Err(format!(
                "rolling tags {} of {repo} still differ from what is published after {SETTLE_ROUNDS} \
                 repairs: another run keeps moving them; run `mirrorkit cascade repair` once no \
                 run is writing",
                names.join(", ")
            ));
        }
        for s in drifted {
            repaired.push(format!(
                "rolling tag {} was changed by another run ({}); repaired",
                s.alias,
                s.differences.join("; ")
            ));
        }
    }
    Ok(repaired)
}

/// Recompute every rolling tag of `repo` from what is published (see the module docs), compare
/// with the target, and with `repair` push the expected index wherever they differ.
pub async fn check<T: Target>(
    target: &T,
    repo: &str,
    catalog: &mut PublishedVersions,
    repair: bool,
) -> Result<Vec<AliasState>, String> {
    check_aliases(target, repo, catalog, repair, None).await
}

/// [`check`], for the aliases in `only` (all when `None`).
async fn check_aliases<T: Target>(
    target: &T,
    repo: &str,
    catalog: &mut PublishedVersions,
    repair: bool,
    only: Option<&BTreeSet<String>>,
) -> Result<Vec<AliasState>, String> {
    // alias → platform → (version, entry); the highest version wins (ascending iteration).
    let mut expected: BTreeMap<String, BTreeMap<Platform, (String, Value)>> = BTreeMap::new();
    // alias → the exact tag of the highest version under it, whose annotations the alias copies.
    let mut highest: BTreeMap<String, String> = BTreeMap::new();
    let keys: Vec<VersionKey> = catalog
        .versions
        .iter()
        .filter(|(_, p)| p.eligible)
        .map(|(k, _)| k.clone())
        .collect();
    for key in keys {
        let Some(c) = release_number(&key.0) else {
            continue;
        };
        let wanted: Vec<String> = aliases(c)
            .into_iter()
            .filter(|a| only.is_none_or(|o| o.contains(a)))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let entries = catalog.entries(target, repo, &key).await?.clone();
        let tag = catalog
            .versions
            .get(&key)
            .map(|p| p.tag.clone())
            .unwrap_or_default();
        for alias in wanted {
            let slot = expected.entry(alias.clone()).or_default();
            for (p, e) in &entries {
                slot.insert(p.clone(), (key.0.clone(), e.clone()));
            }
            highest.insert(alias, tag.clone());
        }
    }
    // Each alias's annotations: those of the highest version's own index (read once per tag).
    let mut read: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut annotations: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (alias, tag) in highest {
        if !read.contains_key(&tag) {
            let (_, bytes) = target
                .fetch_manifest(repo, &tag)
                .await
                .map_err(|e| format!("cannot read {repo}:{tag}: {e}"))?
                .unwrap_or_default();
            read.insert(tag.clone(), index_annotations(&bytes));
        }
        annotations.insert(alias, read.get(&tag).cloned().unwrap_or_default());
    }
    let mut states = Vec::new();
    for (alias, want) in expected {
        let current = target
            .fetch_manifest(repo, &alias)
            .await
            .map_err(|e| format!("cannot read {repo}:{alias}: {e}"))?;
        let mut differences = Vec::new();
        let state = match &current {
            None => {
                differences.push("the tag does not exist".to_string());
                "missing"
            }
            Some((_, bytes)) => {
                let have = index_entries(bytes).unwrap_or_default();
                for (p, (v, e)) in &want {
                    match have.get(p) {
                        None => differences.push(format!("{p}: missing (expected {v})")),
                        Some(h) if h.get("digest") != e.get("digest") => differences
                            .push(format!("{p}: points at {} (expected {v})", digest_of(h))),
                        Some(_) => {}
                    }
                }
                for p in have.keys().filter(|p| !want.contains_key(p)) {
                    differences.push(format!("{p}: present but no published version has it"));
                }
                if differences.is_empty() {
                    "ok"
                } else {
                    "drift"
                }
            }
        };
        let state = if state != "ok" && repair {
            let entries: BTreeMap<Platform, Value> = want
                .iter()
                .map(|(p, (_, e))| (p.clone(), e.clone()))
                .collect();
            let ann = annotations.get(&alias).cloned().unwrap_or_default();
            push_alias(target, repo, &alias, &entries, &ann)
                .await
                .map_err(|e| format!("cannot repair {repo}:{alias}: {e}"))?;
            "repaired"
        } else {
            state
        };
        states.push(AliasState {
            alias,
            state,
            expected: want
                .iter()
                .map(|(p, (v, _))| (p.to_string(), v.clone()))
                .collect(),
            differences,
        });
    }
    Ok(states)
}

fn digest_of(entry: &Value) -> String {
    entry
        .get("digest")
        .and_then(|d| d.as_str())
        .unwrap_or("?")
        .to_string()
}

fn index_annotations(bytes: &[u8]) -> BTreeMap<String, String> {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|d| d.get("annotations").cloned())
        .and_then(|a| serde_json::from_value(a).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorkit_core::digest::Digest;
    use std::sync::Mutex;

    /// Manifests by tag in memory, with tags whose reads fail. The end-to-end tests run the
    /// cascade against docker-registry; this one reaches the error paths a real registry will
    /// not produce on demand.
    #[derive(Default)]
    struct Memory {
        tags: Mutex<BTreeMap<String, Vec<u8>>>,
        failing: BTreeSet<String>,
    }

    impl Target for Memory {
        fn describe(&self) -> String {
            "memory".into()
        }
        async fn list_tags(&self, _: &str) -> Result<Vec<String>, OciError> {
            Ok(self.tags.lock().unwrap().keys().cloned().collect())
        }
        async fn resolve_tag(&self, _: &str, tag: &str) -> Result<Option<Digest>, OciError> {
            Ok(self
                .tags
                .lock()
                .unwrap()
                .get(tag)
                .map(|b| Digest::sha256_of(b)))
        }
        async fn fetch_manifest(
            &self,
            _: &str,
            reference: &str,
        ) -> Result<Option<(String, Vec<u8>)>, OciError> {
            if self.failing.contains(reference) {
                return Err(OciError::Unreachable {
                    target: "memory".into(),
                    reason: "connection reset".into(),
                });
            }
            Ok(self
                .tags
                .lock()
                .unwrap()
                .get(reference)
                .map(|b| (manifest::MEDIA_TYPE_IMAGE_INDEX.to_string(), b.clone())))
        }
        async fn has_blob(&self, _: &str, _: &Digest) -> Result<bool, OciError> {
            Ok(true)
        }
        async fn push_blob(
            &self,
            _: &str,
            _: &Digest,
            _: u64,
            _: &std::path::Path,
        ) -> Result<(), OciError> {
            Ok(())
        }
        async fn push_manifest(
            &self,
            _: &str,
            reference: &str,
            _: &str,
            bytes: &[u8],
        ) -> Result<Digest, OciError> {
            self.tags
                .lock()
                .unwrap()
                .insert(reference.to_string(), bytes.to_vec());
            Ok(Digest::sha256_of(bytes))
        }
    }

    fn index(version: &str, platforms: &[&str]) -> Vec<u8> {
        let entries: BTreeMap<Platform, Value> = platforms
            .iter()
            .map(|p| {
                let platform: Platform = p.parse().unwrap();
                let entry = serde_json::json!({
                    "mediaType": manifest::MEDIA_TYPE_IMAGE_MANIFEST,
                    "digest": Digest::sha256_of(format!("{version}/{p}").as_bytes()).to_string(),
                    "size": 1,
                    "platform": {"os": platform.os, "architecture": platform.architecture},
                });
                (platform, entry)
            })
            .collect();
        alias_index(&entries, &BTreeMap::new())
    }

    fn points_at(t: &Memory, tag: &str) -> BTreeMap<String, String> {
        let bytes = t.tags.lock().unwrap().get(tag).cloned().unwrap_or_default();
        index_entries(&bytes)
            .unwrap_or_default()
            .into_iter()
            .map(|(p, e)| (p.to_string(), digest_of(&e)))
            .collect()
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_registry_error_on_a_blocker_stops_the_cascade_with_a_warning_and_no_wrong_tag() {
        let mut t = Memory::default();
        let v2 = index("2.0.0", &["linux/amd64"]);
        t.tags.lock().unwrap().insert("2.0.0".into(), v2.clone());
        t.tags.lock().unwrap().insert("latest".into(), v2);
        t.failing.insert("2.0.0".into());
        let tags: BTreeSet<String> = ["2.0.0".to_string()].into();
        let mut catalog = PublishedVersions::new([("2.0.0", false, "2.0.0")], &tags);
        let v1 = index("1.0.0", &["linux/amd64"]);
        t.tags.lock().unwrap().insert("1.0.0".into(), v1.clone());
        let out = run(cascade(
            &t,
            "r",
            &mut catalog,
            "1.0.0",
            false,
            "1.0.0",
            &v1,
            &BTreeMap::new(),
        ));
        // 1.0 has no blocker (nothing higher under 1.0), so it moves; at `1` the blocker 2.0.0
        // is not under it; at `latest` reading 2.0.0 fails: the walk stops there.
        assert_eq!(out.moved, ["1.0", "1"]);
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(out.warnings[0].contains("latest"), "{:?}", out.warnings);
        assert_eq!(
            points_at(&t, "latest"),
            points_at(&t, "2.0.0"),
            "latest still points at 2.0.0"
        );
    }

    #[test]
    fn check_computes_the_highest_version_per_platform_and_repair_writes_it() {
        let t = Memory::default();
        for (v, ps) in [
            ("1.0.0", &["linux/amd64", "linux/arm64"][..]),
            ("1.1.0", &["linux/amd64"][..]),
            ("1.2.0-rc1", &["linux/amd64", "linux/arm64"][..]),
        ] {
            t.tags.lock().unwrap().insert(v.into(), index(v, ps));
        }
        let tags: BTreeSet<String> = t.tags.lock().unwrap().keys().cloned().collect();
        let mut catalog = PublishedVersions::new(
            [
                ("1.0.0", false, "1.0.0"),
                ("1.1.0", false, "1.1.0"),
                ("1.2.0-rc1", true, "1.2.0-rc1"),
            ],
            &tags,
        );
        let states = run(check(&t, "r", &mut catalog, false)).unwrap();
        let by: BTreeMap<&str, &AliasState> =
            states.iter().map(|s| (s.alias.as_str(), s)).collect();
        assert_eq!(by["1"].state, "missing");
        assert_eq!(by["1"].expected["linux/amd64"], "1.1.0");
        assert_eq!(
            by["1"].expected["linux/arm64"], "1.0.0",
            "arm64 stays with 1.0.0"
        );
        assert!(!by.contains_key("1.2"), "prereleases make no alias");
        let states = run(check(&t, "r", &mut catalog, true)).unwrap();
        assert!(states.iter().all(|s| s.state == "repaired"));
        let states = run(check(&t, "r", &mut catalog, false)).unwrap();
        assert!(states.iter().all(|s| s.state == "ok"), "{states:?}");
        assert_eq!(points_at(&t, "latest").len(), 2);
    }

    #[test]
    fn only_plain_three_part_versions_cascade() {
        assert!(release_number("3.28.0").is_some());
        assert!(release_number("v3.28.0").is_some());
        assert!(release_number("3.28.0+build.1").is_some());
        assert!(release_number("3.28.0-rc1").is_none());
        assert!(release_number("3.28").is_none());
        assert!(release_number("2024.01.15.1").is_none());
        assert!(release_number("a.b.c").is_none());
        let c = release_number("3.28.1").unwrap();
        assert_eq!(aliases(c), ["3.28", "3", "latest"]);
    }
}
