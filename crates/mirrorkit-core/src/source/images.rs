//! Sources of OCI content copied as is: container images and artifacts (`type: oci`) and Helm
//! charts (`type: helm`). The validated configuration and the tag/version filters live here; the
//! copying itself is in `mirrorkit-oci`.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::platform::Platform;
use crate::version;

/// Which tags of a repository are mirrored. Every criterion given must hold; `latest` counts
/// after the others.
#[derive(Clone, Debug, Default)]
pub struct TagFilter {
    /// Exactly these tags (when not empty).
    pub include: Vec<String>,
    /// Tags matching this regex.
    pub regex: Option<regex::Regex>,
    /// Tags that parse as semver (a leading `v` allowed) inside this range.
    pub semver: Option<semver::VersionReq>,
    /// Only the highest N (by version order) of what the other criteria keep.
    pub latest: Option<usize>,
    /// Never tags matching this regex.
    pub exclude_regex: Option<regex::Regex>,
}

/// A tag as semver, tolerating a leading `v` and missing minor/patch (`1.25` → `1.25.0`).
pub fn tag_semver(tag: &str) -> Option<semver::Version> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = semver::Version::parse(t) {
        return Some(v);
    }
    let (core, rest) = match t.find(['-', '+']) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut full = parts.join(".");
    for _ in parts.len()..3 {
        full.push_str(".0");
    }
    semver::Version::parse(&format!("{full}{rest}")).ok()
}

impl TagFilter {
    /// Whether any criterion is set (none: every tag).
    pub fn is_empty(&self) -> bool {
        self.include.is_empty()
            && self.regex.is_none()
            && self.semver.is_none()
            && self.latest.is_none()
            && self.exclude_regex.is_none()
    }

    /// The tags kept, in version order (lowest first).
    pub fn apply(&self, tags: &[String]) -> Vec<String> {
        let mut kept: Vec<String> = tags
            .iter()
            .filter(|t| self.include.is_empty() || self.include.contains(t))
            .filter(|t| self.regex.as_ref().is_none_or(|r| r.is_match(t)))
            .filter(|t| {
                self.semver
                    .as_ref()
                    .is_none_or(|req| tag_semver(t).is_some_and(|v| req.matches(&v)))
            })
            .filter(|t| !self.exclude_regex.as_ref().is_some_and(|r| r.is_match(t)))
            .cloned()
            .collect();
        kept.sort_by(|a, b| version::compare(a, b));
        kept.dedup();
        if let Some(n) = self.latest {
            let skip = kept.len().saturating_sub(n);
            kept.drain(..skip);
        }
        kept
    }
}

/// A validated `type: oci` source.
#[derive(Clone, Debug)]
pub struct OciSource {
    /// Source registry `host[:port]`.
    pub registry: String,
    /// Source repository path (no host).
    pub repository: String,
    /// Which tags (ignored when `digests` is given).
    pub tags: TagFilter,
    /// Exactly these manifests, by digest.
    pub digests: Vec<Digest>,
    /// Platforms kept (`None`: all, and the index is copied byte for byte).
    pub platforms: Option<Vec<Platform>>,
    /// Copy signatures, SBOMs and attestations attached to each manifest.
    pub referrers: bool,
}

/// Where a chart comes from.
#[derive(Clone, Debug)]
pub enum HelmRepo {
    /// A classic repository (`index.yaml` under this URL).
    Http(url::Url),
    /// An OCI repository: `oci://host[:port]/path` (the chart is `path/<chart>`).
    Oci {
        /// `host[:port]`.
        registry: String,
        /// Path prefix of the chart repositories.
        path: String,
    },
    /// A chart directory on disk.
    Path(PathBuf),
}

/// Which chart versions are mirrored.
#[derive(Clone, Debug)]
pub enum ChartVersions {
    /// All of them.
    All,
    /// Exactly these.
    List(Vec<String>),
    /// Those in this semver range.
    Range(semver::VersionReq),
    /// The highest N.
    Latest(usize),
}

impl ChartVersions {
    /// The versions kept, lowest first.
    pub fn apply(&self, versions: &[String]) -> Vec<String> {
        let mut v: Vec<String> = match self {
            ChartVersions::All | ChartVersions::Latest(_) => versions.to_vec(),
            ChartVersions::List(l) => versions.iter().filter(|x| l.contains(x)).cloned().collect(),
            ChartVersions::Range(req) => versions
                .iter()
                .filter(|x| tag_semver(x).is_some_and(|s| req.matches(&s)))
                .cloned()
                .collect(),
        };
        v.sort_by(|a, b| version::compare(a, b));
        v.dedup();
        if let ChartVersions::Latest(n) = self {
            let skip = v.len().saturating_sub(*n);
            v.drain(..skip);
        }
        v
    }
}

/// A validated `type: helm` source.
#[derive(Clone, Debug)]
pub struct HelmSource {
    /// Where the chart is.
    pub repo: HelmRepo,
    /// Its name (for a directory: read from its Chart.yaml when not given).
    pub chart: Option<String>,
    /// Which versions.
    pub versions: ChartVersions,
    /// Also mirror the images the chart uses.
    pub images: bool,
    /// More images to mirror with the chart (references).
    pub extra_images: Vec<String>,
    /// Copy signatures, SBOMs and attestations of OCI charts and of the images (default true).
    pub referrers: bool,
    /// When to render the chart with `helm template` to find more images.
    pub helm_template: HelmTemplate,
}

/// When `helm template` is run on a chart to find the images its templates render.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HelmTemplate {
    /// When a helm binary is found (`MIRRORKIT_HELM`, else `helm` on `PATH`); a chart that
    /// does not render is a warning.
    #[default]
    Auto,
    /// Always: no helm binary, or a chart that does not render, fails the chart version.
    Always,
    /// Never: only annotations, values.yaml and `extra_images`.
    Never,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filters_combine_and_latest_counts_last() {
        let all = tags(&[
            "1.24.0",
            "1.25.0",
            "1.25.3",
            "1.26.1",
            "2.0.0",
            "latest",
            "1.26.1-alpine",
            "v1.27",
        ]);
        let f = TagFilter {
            semver: Some(semver::VersionReq::parse(">=1.25, <2").unwrap()),
            exclude_regex: Some(regex::Regex::new("alpine").unwrap()),
            latest: Some(2),
            ..TagFilter::default()
        };
        assert_eq!(f.apply(&all), ["1.26.1", "v1.27"]);
        let f = TagFilter {
            include: tags(&["latest", "2.0.0", "9.9"]),
            ..TagFilter::default()
        };
        assert_eq!(f.apply(&all), ["latest", "2.0.0"]);
        assert!(TagFilter::default().is_empty());
        assert_eq!(TagFilter::default().apply(&all).len(), all.len());
    }

    #[test]
    fn chart_versions_select() {
        let all = tags(&["0.1.0", "0.2.0", "1.0.0", "1.1.0"]);
        assert_eq!(ChartVersions::Latest(2).apply(&all), ["1.0.0", "1.1.0"]);
        assert_eq!(
            ChartVersions::Range(semver::VersionReq::parse("^0.2").unwrap()).apply(&all),
            ["0.2.0"]
        );
        assert_eq!(
            ChartVersions::List(tags(&["0.1.0", "5.0.0"])).apply(&all),
            ["0.1.0"]
        );
    }
}
