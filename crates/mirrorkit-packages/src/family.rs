//! The package family as a spec runs it (`type: packages` under `sync` and `check`): the
//! source's PURLs and SBOMs into a [`MirrorRequest`], the run's client and work dir, and the
//! packages report told as a [`MirrorReport`] — one entry per package version, named
//! `ecosystem/name@version`.

use std::collections::BTreeMap;

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::family::{Family, Progress, RunContext};
use mirrorkit_core::report::{MirrorError, MirrorReport, Status, VersionReport};
use mirrorkit_core::source::packages::PackagesSource;
use mirrorkit_core::spec::{Mirror, TargetConfig};

use crate::inputs::{self, Inputs};
use crate::purl::Ecosystem;
use crate::report::{PackagesReport, VersionStatus};
use crate::{MirrorRequest, check_policy, mirror};

/// Packages mirrored at once when a spec runs them (as `mirror --concurrency` defaults to).
pub const DEFAULT_CONCURRENCY: usize = 16;

/// The package family.
pub struct Packages;

/// The packages a source names, each PURL parsed and every SBOM read; the error names the
/// spec position or the SBOM file and place (offline: `validate` uses it too).
pub fn source_inputs(source: &PackagesSource) -> Result<Inputs, String> {
    let inputs = inputs::collect(&source.purls, &source.sboms)?;
    if let Some(e) = check_policy(&inputs, &source.versions) {
        return Err(e);
    }
    Ok(inputs)
}

impl Family for Packages {
    type Source<'s> = &'s PackagesSource;

    async fn sync(
        &self,
        mirror_spec: &Mirror,
        source: Self::Source<'_>,
        ctx: &RunContext<'_>,
    ) -> MirrorReport {
        let mut report = MirrorReport::for_mirror(mirror_spec);
        report.repository = String::new();
        let TargetConfig::Packages { path, base_url } = &mirror_spec.target else {
            report.error = Some(MirrorError::new(
                format!(
                    "target {}: a packages mirror publishes to a `packages` directory",
                    mirror_spec.target
                ),
                ExitCode::Usage,
            ));
            return report;
        };
        if !ctx.options.filter.is_empty() {
            report.error = Some(MirrorError::new(
                "--version and --latest do not apply to a packages mirror: its PURLs name the \
                 versions, and `versions` under its source selects them for PURLs without one",
                ExitCode::Usage,
            ));
            return report;
        }
        let inputs = match source_inputs(source) {
            Ok(i) => i,
            Err(e) => {
                report.error = Some(MirrorError::new(e, ExitCode::Data));
                return report;
            }
        };
        let upstreams: BTreeMap<Ecosystem, url::Url> = source
            .upstreams
            .iter()
            .filter_map(|(e, u)| Some((Ecosystem::parse(e)?, u.clone())))
            .collect();
        let request = MirrorRequest {
            inputs,
            upstreams,
            output: path.clone(),
            base_url: Some(base_url.clone()),
            dry_run: ctx.options.dry_run,
            concurrency: DEFAULT_CONCURRENCY,
            prereleases: source.prereleases,
            versions: source.versions.clone(),
            dependencies: source.dependencies,
            pypi: source.pypi.clone(),
            registry: source.registry.as_deref().and_then(Ecosystem::parse),
            max_packages: crate::MAX_PACKAGES,
            work_dir: ctx.options.work_dir.clone(),
        };
        (ctx.progress)(Progress::MirrorPlanned {
            key: &mirror_spec.key,
            to_mirror: request.inputs.packages.len(),
        });
        match mirror(&request, ctx.http).await {
            Ok(packages) => told_as_mirror(report, &packages),
            Err(e) => {
                report.error = Some(MirrorError::new(e.message, e.code));
                report
            }
        }
    }
}

/// `packages` told in `report`: each package version as a version entry; when every package
/// failed for one reason that is not the items' own (upstream unreachable, access refused),
/// that failure stops the mirror with its code, as for every other family.
fn told_as_mirror(mut report: MirrorReport, packages: &PackagesReport) -> MirrorReport {
    for s in &packages.skipped_subjects {
        report
            .warnings
            .push(format!("skipped {s}: the SBOM's own subject"));
    }
    for p in &packages.packages {
        let name = format!("{}/{}", p.ecosystem, p.name);
        if p.error.is_none() && p.versions.is_empty() {
            report.warnings.push(format!(
                "{name}: no version was selected (the version policy, or leaving out \
                 prereleases, keeps none of what {} lists)",
                p.upstream
            ));
        }
        if let Some(e) = &p.error {
            let mut v = VersionReport::new(name.clone(), "", Status::Failed);
            v.reason = Some(e.clone());
            report.versions.push(v);
        }
        for version in &p.versions {
            let status = match version.status {
                VersionStatus::Published => Status::Pushed,
                VersionStatus::Unchanged => Status::Skipped,
                VersionStatus::Planned => Status::Planned,
                VersionStatus::Failed => Status::Failed,
            };
            let mut v = VersionReport::new(format!("{name}@{}", version.version), "", status);
            v.reason = version.error.clone();
            report.versions.push(v);
        }
    }
    let code = packages.exit_code;
    if !matches!(code, ExitCode::Success | ExitCode::ItemFailed) {
        let first = packages
            .packages
            .iter()
            .find_map(|p| p.error.clone())
            .unwrap_or_default();
        report.error = Some(MirrorError::new(
            format!("every package failed: {first}"),
            code,
        ));
    }
    report
}
