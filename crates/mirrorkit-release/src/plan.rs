//! The plan: for every upstream version of a mirror, `mirror`, `skip` (already in the target),
//! `exclude` (with the reason) or `fail` (decidable before any download, such as an ambiguous
//! asset match). Pure data, computed before any download and without side effects; `check` and
//! `--dry-run` print it and stop.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::select::{Selection, select};
use mirrorkit_core::family::VersionFilter;
use mirrorkit_core::platform::Platform;
use mirrorkit_core::source::{Asset, Release};
use mirrorkit_core::spec::{BackfillSpec, Mirror};
use mirrorkit_core::version::{self, tag_for};

/// The plan of a whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// One entry per mirror, in spec order.
    pub mirrors: Vec<MirrorPlan>,
}

/// The plan of one mirror.
#[derive(Clone, Debug, Serialize)]
pub struct MirrorPlan {
    /// The mirror's key.
    pub key: String,
    /// Target repository.
    pub repository: String,
    /// Target, for display (`docker://host` or `oci:DIR`).
    pub target: String,
    /// Versions, oldest first.
    pub versions: Vec<VersionPlan>,
    /// Why the mirror could not be planned at all (source or target failure), if it could not.
    pub error: Option<String>,
}

/// What happens to one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Download, package and push it.
    Mirror,
    /// Its tag already exists in the target.
    Skip,
    /// Filtered out; `reason` says why.
    Exclude,
    /// Known to fail before any download (e.g. two assets match one platform).
    Fail,
}

/// The plan of one version.
#[derive(Clone, Debug, Serialize)]
pub struct VersionPlan {
    /// Version as upstream names it.
    pub version: String,
    /// Tag it is published under.
    pub tag: String,
    /// Upstream marks it a prerelease.
    pub prerelease: bool,
    /// What happens to it.
    pub action: Action,
    /// Why it is skipped, excluded or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Per declared platform.
    pub platforms: Vec<PlatformPlan>,
    /// The version's tag exists but lacks platforms upstream now offers: the push adds them to
    /// the published index, keeping what it holds.
    pub completes: bool,
    /// The checksums file of this version (`verify.checksums_file`), when there is one.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_safe_url_opt"
    )]
    pub checksums_url: Option<url::Url>,
}

fn serialize_safe_url_opt<S: serde::Serializer>(
    url: &Option<url::Url>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.collect_str(&mirrorkit_core::http::redact::SafeUrl::new(u)),
        None => s.serialize_none(),
    }
}

/// What a version offers for one declared platform.
#[derive(Clone, Debug, Serialize)]
pub struct PlatformPlan {
    /// The platform.
    pub platform: Platform,
    /// `selected`, `absent` or `ambiguous`.
    pub selection: PlatformSelection,
    /// The selected asset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<Asset>,
    /// Why it is absent or ambiguous.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The selection outcome for one platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformSelection {
    /// One asset selected.
    Selected,
    /// No asset for it in this version.
    Absent,
    /// A pattern matched two assets.
    Ambiguous,
    /// Already in the published index of this version.
    Present,
}

/// What the target already holds of a mirror: its tags, and for each published version's exact
/// tag the platforms its index carries (when they could be read).
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// Every tag of the repository.
    pub tags: BTreeSet<String>,
    /// Exact tag → platforms in its index.
    pub platforms: std::collections::BTreeMap<String, BTreeSet<Platform>>,
}

/// Plan the versions of `mirror` given upstream `releases` and the tags the target holds.
///
/// The filters apply in this order: what the source could not use (e.g. a tag outside
/// `tag_pattern`), `skip_prereleases`, `versions.min`/`max`, `exclude`, per-platform bounds, then
/// the selection outcome and the target's tags; `--version` and `--latest` narrow what is left,
/// and `versions.new_per_run` (ignored with `--version`/`--latest`) defers the rest.
pub fn plan_versions(
    mirror: &Mirror,
    mut releases: Vec<Release>,
    published: &Published,
    filter: &VersionFilter,
) -> Vec<VersionPlan> {
    releases.sort_by(|a, b| version::compare(&a.version, &b.version));
    let mut plans: Vec<VersionPlan> = releases
        .iter()
        .map(|r| plan_version(mirror, r, published, filter))
        .collect();
    let candidate =
        |p: &VersionPlan| matches!(p.action, Action::Mirror | Action::Skip | Action::Fail);
    if filter.latest {
        // Among the versions still in play, keep the highest; prefer a stable one.
        let keep = plans
            .iter()
            .rposition(|p| candidate(p) && !p.prerelease)
            .or_else(|| plans.iter().rposition(candidate));
        for (i, p) in plans.iter_mut().enumerate() {
            if Some(i) != keep && candidate(p) {
                p.action = Action::Exclude;
                p.reason = Some("not the latest version (--latest)".into());
            }
        }
    }
    if let Some(n) = mirror.policy.new_per_run
        && !filter.latest
        && filter.versions.is_empty()
    {
        let mut to_mirror: Vec<usize> = (0..plans.len())
            .filter(|&i| plans[i].action == Action::Mirror)
            .collect();
        if mirror.policy.backfill == BackfillSpec::NewestFirst {
            to_mirror.reverse();
        }
        let order = match mirror.policy.backfill {
            BackfillSpec::NewestFirst => "newest_first",
            BackfillSpec::OldestFirst => "oldest_first",
        };
        for &i in to_mirror.iter().skip(n) {
            plans[i].action = Action::Exclude;
            plans[i].reason = Some(format!(
                "deferred to a later run (versions.new_per_run: {n}, backfill: {order})"
            ));
        }
    }
    plans
}

/// Why the spec's version policy leaves `release` out, if it does.
fn policy_exclusion(mirror: &Mirror, release: &Release) -> Option<String> {
    use std::cmp::Ordering;
    let policy = &mirror.policy;
    let v = release.version.as_str();
    if let Some(reason) = &release.excluded {
        return Some(reason.clone());
    }
    if policy.skip_prereleases && release.prerelease {
        return Some("prerelease (skip_prereleases)".into());
    }
    if let Some(min) = &policy.min
        && version::compare(v, min) == Ordering::Less
    {
        return Some(format!("below versions.min {min}"));
    }
    if let Some(max) = &policy.max
        && version::compare(v, max) != Ordering::Less
    {
        return Some(format!("not below versions.max {max} (max is exclusive)"));
    }
    if let Some((i, rule)) = policy.exclude.iter().enumerate().find(|(_, r)| r.covers(v)) {
        return Some(match &rule.reason {
            Some(reason) => format!("excluded by exclude[{i}]: {reason}"),
            None => format!("excluded by exclude[{i}]"),
        });
    }
    None
}

fn plan_version(
    mirror: &Mirror,
    release: &Release,
    published: &Published,
    filter: &VersionFilter,
) -> VersionPlan {
    let mut completes = false;
    let mut platforms: Vec<PlatformPlan> = mirror
        .platforms
        .iter()
        .map(|p| {
            if let Some(reason) = p.out_of_bounds(&release.version) {
                return PlatformPlan {
                    platform: p.platform.clone(),
                    selection: PlatformSelection::Absent,
                    asset: None,
                    reason: Some(reason),
                };
            }
            match select(p, &release.assets) {
                Selection::Selected(asset) => PlatformPlan {
                    platform: p.platform.clone(),
                    selection: PlatformSelection::Selected,
                    asset: Some(asset.clone()),
                    reason: None,
                },
                Selection::Absent => PlatformPlan {
                    platform: p.platform.clone(),
                    selection: PlatformSelection::Absent,
                    asset: None,
                    reason: Some("no asset matches the platform's patterns".into()),
                },
                Selection::Ambiguous { pattern, names } => PlatformPlan {
                    platform: p.platform.clone(),
                    selection: PlatformSelection::Ambiguous,
                    asset: None,
                    reason: Some(format!(
                        "pattern {pattern:?} matches both {} and {}",
                        names[0], names[1]
                    )),
                },
            }
        })
        .collect();
    let tag = tag_for(&release.version);
    let (action, reason) = if let Some(reason) = policy_exclusion(mirror, release) {
        (Action::Exclude, Some(reason))
    } else if !filter.versions.is_empty() && !filter.versions.contains(&release.version) {
        (
            Action::Exclude,
            Some("not selected by --version".to_string()),
        )
    } else if tag.is_none() {
        (
            Action::Exclude,
            Some(format!(
                "{:?} cannot be written as an OCI tag",
                release.version
            )),
        )
    } else if let Some(amb) = platforms
        .iter()
        .find(|p| p.selection == PlatformSelection::Ambiguous)
    {
        (
            Action::Fail,
            Some(format!(
                "{}: {}",
                amb.platform,
                amb.reason.as_deref().unwrap_or("")
            )),
        )
    } else if platforms
        .iter()
        .all(|p| p.selection == PlatformSelection::Absent)
    {
        (
            Action::Exclude,
            Some("no asset matches any declared platform".to_string()),
        )
    } else if let Some(t) = tag.as_ref().filter(|t| published.tags.contains(*t)) {
        // Upstream may have added assets to a release after it was mirrored: the platforms the
        // published index lacks are added to it (nothing is ever dropped).
        let missing: Vec<String> = match published.platforms.get(t) {
            Some(have) => platforms
                .iter_mut()
                .filter(|p| p.selection == PlatformSelection::Selected)
                .filter_map(|p| {
                    if have.contains(&p.platform) {
                        p.selection = PlatformSelection::Present;
                        p.reason = Some("already published".into());
                        None
                    } else {
                        Some(p.platform.to_string())
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        if missing.is_empty() {
            (
                Action::Skip,
                Some("tag already exists in the target".to_string()),
            )
        } else {
            completes = true;
            (
                Action::Mirror,
                Some(format!(
                    "adds {} to the published version",
                    missing.join(", ")
                )),
            )
        }
    } else {
        (Action::Mirror, None)
    };
    let checksums_url = checksums_url(mirror, release);
    VersionPlan {
        version: release.version.clone(),
        tag: tag.unwrap_or_default(),
        prerelease: release.prerelease,
        action,
        reason,
        platforms,
        completes,
        checksums_url,
    }
}

/// Where this version's checksums file is (`verify.checksums_file`): a URL with `{version}`
/// filled in, or the URL of the release's asset of that name. `None` when not configured or the
/// release has no such asset.
fn checksums_url(mirror: &Mirror, release: &Release) -> Option<url::Url> {
    let template = mirror.verify.checksums_file.as_deref()?;
    let name = template.replace("{version}", &release.version);
    if name.contains("://") {
        url::Url::parse(&name).ok()
    } else {
        release
            .assets
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.url.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_filters_narrow_tags_and_chart_versions() {
        let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = |versions: &[&str], latest| VersionFilter {
            versions: all(versions),
            latest,
        };
        let sorted = all(&["latest", "1.0.0", "1.2.0", "2.0.0-rc.1"]);
        assert_eq!(f(&[], false).narrow(sorted.clone()), sorted);
        assert_eq!(f(&[], true).narrow(sorted.clone()), ["1.2.0"]);
        assert_eq!(
            f(&["1.0.0", "latest", "9"], false).narrow(sorted.clone()),
            ["latest", "1.0.0"]
        );
        assert_eq!(
            f(&["2.0.0-rc.1"], true).narrow(sorted.clone()),
            ["2.0.0-rc.1"]
        );
        assert_eq!(f(&["latest"], true).narrow(sorted.clone()), ["latest"]);
        assert!(f(&[], true).narrow(Vec::new()).is_empty());
    }
}
