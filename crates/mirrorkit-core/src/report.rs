//! The report of a run: one data structure, rendered as a plain table or as JSON
//! (`--format json`, documented in `docs/report.md`). The exit code is derived from it.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

use crate::digest::Digest;
use crate::exit::{ExitCode, HasExitCode};
use crate::platform::Platform;

/// Outcome of a version or of one of its platforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Published in this run.
    Pushed,
    /// Already in the target; nothing done.
    Skipped,
    /// Failed; `reason` says why.
    Failed,
    /// Filtered out, or absent upstream; `reason` says why.
    Excluded,
    /// Dry run: would be mirrored.
    Planned,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Excluded => "excluded",
            Status::Planned => "planned",
        }
    }
}

/// The whole run.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Report {
    /// Whether this was a dry run (`check`, `--dry-run`): nothing was downloaded or pushed.
    pub dry_run: bool,
    /// One entry per mirror run.
    pub mirrors: Vec<MirrorReport>,
    /// Counts over every version.
    pub summary: Summary,
    /// Wall time of the run in milliseconds.
    pub duration_ms: u64,
}

/// One mirror.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MirrorReport {
    /// The mirror's key.
    pub key: String,
    /// Target repository.
    pub repository: String,
    /// Target (`docker://host` or `oci:DIR`).
    pub target: String,
    /// Why the mirror could not run at all (source or target failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<MirrorError>,
    /// What did not fail the mirror but deserves attention (e.g. a tag filter matching nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Versions (tags, chart versions), oldest first.
    pub versions: Vec<VersionReport>,
}

impl VersionReport {
    /// The report of one version (or tag) with `status` and nothing else filled in yet.
    pub fn new(version: impl Into<String>, tag: impl Into<String>, status: Status) -> Self {
        VersionReport {
            version: version.into(),
            tag: tag.into(),
            status,
            reason: None,
            index_digest: None,
            duration_ms: 0,
            tags_written: Vec::new(),
            warnings: Vec::new(),
            source_digest: None,
            referrers: Vec::new(),
            images: Vec::new(),
            platforms: Vec::new(),
        }
    }
}

impl MirrorReport {
    /// The report of `mirror` before anything ran: no error, no warning, no version.
    pub fn for_mirror(mirror: &crate::spec::Mirror) -> MirrorReport {
        MirrorReport {
            key: mirror.key.clone(),
            repository: mirror.repository.clone(),
            target: mirror.target.to_string(),
            error: None,
            warnings: Vec::new(),
            versions: Vec::new(),
        }
    }
}

/// A failure that stopped a whole mirror, with the exit code it stands for.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MirrorError {
    /// What happened (credential-free).
    pub message: String,
    /// The exit code it maps to (a number in the JSON report).
    pub exit_code: ExitCode,
}

impl MirrorError {
    /// A mirror-stopping failure with its message and code.
    pub fn new(message: impl Into<String>, exit_code: ExitCode) -> MirrorError {
        MirrorError {
            message: message.into(),
            exit_code,
        }
    }

    /// The failure `error` stands for, its message as it displays.
    pub fn from_error<E: std::fmt::Display + HasExitCode>(error: &E) -> MirrorError {
        MirrorError::new(error.to_string(), error.exit_code())
    }
}

/// One version.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct VersionReport {
    /// Version as upstream names it.
    pub version: String,
    /// Tag in the target.
    pub tag: String,
    /// Outcome.
    pub status: Status,
    /// Why skipped, excluded or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Digest of the image index published for the version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    /// Time spent on the version (prepare + push) in milliseconds.
    pub duration_ms: u64,
    /// Every tag written for the version, in order: the build tag, the exact tag, then the
    /// rolling tags the cascade moved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags_written: Vec<String>,
    /// Things that did not fail the version but deserve attention (an unverified asset, a
    /// cascade stopped by a registry error).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Images and charts: the source's digest when the pushed one differs (a platform subset
    /// writes a new index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<Digest>,
    /// Images: signatures, SBOMs and attestations copied with it (their digests).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Digest>,
    /// Charts: the images the chart uses, with where each was found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ChartImage>,
    /// One entry per declared platform.
    pub platforms: Vec<PlatformReport>,
}

/// An image a chart version uses.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ChartImage {
    /// The reference as found (`registry/repo:tag` or `@digest`).
    pub image: String,
    /// Where: `Chart.yaml annotation helm.sh/images`, `values.yaml (charts/sub/values.yaml)`,
    /// `helm template`, `extra_images`.
    pub found_in: Vec<String>,
    /// Where it goes in the mirror's target: `<repository>:<tag>` (`@<digest>` when pinned).
    pub target: String,
    /// Its outcome as a mirrored image (`pushed`, `skipped`, `failed`, `planned`).
    pub status: Status,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One platform of a version.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PlatformReport {
    /// The platform.
    pub platform: Platform,
    /// Outcome.
    pub status: Status,
    /// Why skipped, excluded or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The upstream asset's file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Size of the packaged layer in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Digest of the upstream asset as downloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_digest: Option<Digest>,
    /// Digest of the packaged layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_digest: Option<Digest>,
    /// Digest of the platform's image manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<Digest>,
    /// Time spent downloading and packaging, in milliseconds.
    pub duration_ms: u64,
}

/// Counts of versions by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Summary {
    /// Versions published.
    pub pushed: usize,
    /// Versions already present.
    pub skipped: usize,
    /// Versions that failed.
    pub failed: usize,
    /// Versions filtered out.
    pub excluded: usize,
    /// Versions a dry run would mirror.
    pub planned: usize,
    /// Mirrors that could not run at all.
    pub mirrors_failed: usize,
    /// Bytes of layers published.
    pub bytes_pushed: u64,
}

impl Report {
    /// Recompute the summary from the entries.
    pub fn summarize(&mut self) {
        let mut s = Summary::default();
        for m in &self.mirrors {
            if m.error.is_some() {
                s.mirrors_failed += 1;
            }
            for v in &m.versions {
                match v.status {
                    Status::Pushed => s.pushed += 1,
                    Status::Skipped => s.skipped += 1,
                    Status::Failed => s.failed += 1,
                    Status::Excluded => s.excluded += 1,
                    Status::Planned => s.planned += 1,
                }
                if v.status == Status::Pushed {
                    s.bytes_pushed += v.platforms.iter().filter_map(|p| p.bytes).sum::<u64>();
                }
            }
        }
        self.summary = s;
    }

    /// The plain-text rendering: a table of versions, failures spelled out, and a summary line.
    pub fn to_plain(&self) -> String {
        let mut rows: Vec<[String; 5]> = vec![[
            "MIRROR".into(),
            "VERSION".into(),
            "STATUS".into(),
            "PLATFORMS".into(),
            "DETAIL".into(),
        ]];
        for m in &self.mirrors {
            if let Some(e) = &m.error {
                rows.push([
                    m.key.clone(),
                    "-".into(),
                    "failed".into(),
                    "-".into(),
                    e.message.clone(),
                ]);
            }
            for v in &m.versions {
                let platforms = v
                    .platforms
                    .iter()
                    .filter(|p| p.status != Status::Excluded)
                    .map(|p| p.platform.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let detail = match (&v.reason, &v.index_digest) {
                    (Some(r), _) => r.clone(),
                    (None, Some(d)) => format!(
                        "{} {}",
                        short_digest(d),
                        human_bytes(v.platforms.iter().filter_map(|p| p.bytes).sum())
                    ),
                    (None, None) => String::new(),
                };
                rows.push([
                    m.key.clone(),
                    v.version.clone(),
                    v.status.label().into(),
                    if platforms.is_empty() {
                        "-".into()
                    } else {
                        platforms
                    },
                    detail,
                ]);
            }
        }
        let mut widths = [0usize; 4];
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in &rows {
            let _ = writeln!(
                out,
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )
            .map(|_| ());
            // Trailing spaces of the last padded column are noise.
            let trimmed = out.trim_end_matches(' ').len();
            out.truncate(trimmed);
        }
        // The images each chart version uses: where each goes and how it went.
        for m in &self.mirrors {
            for v in m.versions.iter().filter(|v| !v.images.is_empty()) {
                let _ = writeln!(
                    out,
                    "images of {} {} ({}):",
                    m.key,
                    v.version,
                    v.images.len()
                );
                for i in &v.images {
                    let _ = writeln!(
                        out,
                        "  {} -> {}  {}{}",
                        i.image,
                        i.target,
                        i.status.label(),
                        i.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        for m in &self.mirrors {
            for v in &m.versions {
                for p in v.platforms.iter().filter(|p| p.status == Status::Failed) {
                    let _ = writeln!(
                        out,
                        "error: {} {} {}: {}",
                        m.key,
                        v.version,
                        p.platform,
                        p.reason.as_deref().unwrap_or("failed")
                    );
                }
                for w in &v.warnings {
                    let _ = writeln!(out, "warning: {} {}: {w}", m.key, v.version);
                }
            }
            for w in &m.warnings {
                let _ = writeln!(out, "warning: {}: {w}", m.key);
            }
        }
        let s = &self.summary;
        let _ = write!(
            out,
            "{}{} pushed, {} skipped, {} failed, {} excluded",
            if self.dry_run {
                format!("dry run: {} planned, ", s.planned)
            } else {
                String::new()
            },
            s.pushed,
            s.skipped,
            s.failed,
            s.excluded
        );
        if s.mirrors_failed > 0 {
            let _ = write!(out, ", {} mirror(s) could not run", s.mirrors_failed);
        }
        let _ = writeln!(
            out,
            "; {} published in {:.1} s",
            human_bytes(s.bytes_pushed),
            self.duration_ms as f64 / 1000.0
        );
        out
    }
}

impl HasExitCode for Report {
    /// The exit code of the run: the code of the first mirror that could not run at all, else 1
    /// when any version failed, else 0.
    fn exit_code(&self) -> ExitCode {
        let fatal = self.mirrors.iter().find_map(|m| m.error.as_ref());
        if let Some(e) = fatal {
            return e.exit_code;
        }
        if self
            .mirrors
            .iter()
            .any(|m| m.versions.iter().any(|v| v.status == Status::Failed))
        {
            ExitCode::ItemFailed
        } else {
            ExitCode::Success
        }
    }
}

fn short_digest(d: &Digest) -> String {
    format!(
        "{}:{}",
        d.algorithm().name(),
        &d.hex()[..12.min(d.hex().len())]
    )
}

/// Bytes for people: `12.3 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(status: Status) -> VersionReport {
        VersionReport::new("1.0.0", "1.0.0", status)
    }

    fn mirror(versions: Vec<VersionReport>, error: Option<ExitCode>) -> MirrorReport {
        MirrorReport {
            key: "m".into(),
            repository: "m".into(),
            target: "oci:x".into(),
            error: error.map(|c| MirrorError {
                message: "boom".into(),
                exit_code: c,
            }),
            warnings: Vec::new(),
            versions,
        }
    }

    #[test]
    fn exit_code_follows_the_documented_table() {
        let cases = [
            (
                vec![mirror(
                    vec![version(Status::Pushed), version(Status::Skipped)],
                    None,
                )],
                ExitCode::Success,
            ),
            (
                vec![mirror(
                    vec![version(Status::Pushed), version(Status::Failed)],
                    None,
                )],
                ExitCode::ItemFailed,
            ),
            (
                vec![
                    mirror(vec![], Some(ExitCode::Unavailable)),
                    mirror(vec![version(Status::Failed)], None),
                ],
                ExitCode::Unavailable,
            ),
            (
                vec![mirror(vec![], Some(ExitCode::NoPermission))],
                ExitCode::NoPermission,
            ),
            (vec![mirror(vec![], Some(ExitCode::Data))], ExitCode::Data),
        ];
        for (mirrors, expected) in cases {
            let mut r = Report {
                mirrors,
                ..Report::default()
            };
            r.summarize();
            assert_eq!(r.exit_code(), expected);
        }
    }

    #[test]
    fn plain_rendering_has_a_row_per_version_and_a_summary() {
        let mut r = Report {
            mirrors: vec![mirror(
                vec![version(Status::Pushed), version(Status::Excluded)],
                None,
            )],
            ..Report::default()
        };
        r.summarize();
        let text = r.to_plain();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(
            text.contains("1 pushed, 0 skipped, 0 failed, 1 excluded"),
            "{text}"
        );
        // A chart version's images are listed under the table, each with where it goes.
        r.mirrors[0].versions[0].images = vec![ChartImage {
            image: "docker.io/library/redis:7.2".into(),
            found_in: vec!["values.yaml".into()],
            target: "mirror/library/redis:7.2".into(),
            status: Status::Failed,
            reason: Some("unreachable".into()),
        }];
        let text = r.to_plain();
        assert!(
            text.contains("images of ")
                && text.contains(
                    "  docker.io/library/redis:7.2 -> mirror/library/redis:7.2  failed: unreachable\n"
                ),
            "{text}"
        );
    }
}
