//! `mirror PURL… [--sbom FILE]…`: packages into a static registry tree, and the report.

use std::collections::BTreeMap;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::basic_auth;
use mirrorkit_core::http::limits::HostLimits;
use mirrorkit_core::report::human_bytes;
use mirrorkit_core::source::packages::{
    PackageVersions, PypiTargets, is_upstream_url, parse_instant,
};
use mirrorkit_packages::purl::Ecosystem;
use mirrorkit_packages::report::{PackagesReport, VersionStatus};
use mirrorkit_packages::{MirrorRequest, inputs};

use crate::cli::MirrorArgs;
use crate::output::{self, Render};
use crate::settings;

impl Render for PackagesReport {
    fn to_plain(&self) -> String {
        let mut out = String::new();
        for s in &self.skipped_subjects {
            out.push_str(&format!("skipped {s}: the SBOM's own subject\n"));
        }
        for p in &self.packages {
            if let Some(e) = &p.error {
                out.push_str(&format!("{}/{}  failed: {e}\n", p.ecosystem, p.name));
            }
            for v in &p.versions {
                let status = match v.status {
                    VersionStatus::Published => "published",
                    VersionStatus::Unchanged => "unchanged",
                    VersionStatus::Planned => "planned",
                    VersionStatus::Failed => "failed",
                };
                out.push_str(&format!(
                    "{}/{}@{}  {status}",
                    p.ecosystem, p.name, v.version
                ));
                if let Some(e) = &v.error {
                    out.push_str(&format!(": {e}"));
                }
                out.push('\n');
            }
        }
        let s = &self.summary;
        out.push_str(&format!(
            "{}{} package(s): {} published, {} unchanged, {} planned, {} failed; {} placed in {}\n",
            if self.dry_run { "dry run: " } else { "" },
            s.packages,
            s.published,
            s.unchanged,
            s.planned,
            s.failed,
            human_bytes(s.bytes),
            self.output.display(),
        ));
        out
    }
    fn exit_code(&self) -> ExitCode {
        HasExitCode::exit_code(self)
    }
}

/// `mirror`.
pub(crate) async fn run(args: MirrorArgs) -> ExitCode {
    let registry = match args.registry.as_deref().map(|r| (r, Ecosystem::parse(r))) {
        None => None,
        Some((_, Some(e))) => Some(e),
        Some((r, None)) => {
            return output::message(
                &format!("--registry {r:?}: expected npm, pypi or cargo"),
                ExitCode::Usage,
            );
        }
    };
    if args.purls.is_empty() && args.sboms.is_empty() && registry.is_none() {
        return output::message(
            "name packages (PURLs) or --sbom files to mirror",
            ExitCode::Usage,
        );
    }
    let inputs = match inputs::collect(&inputs::arguments(&args.purls), &args.sboms) {
        Ok(i) => i,
        Err(e) => return output::message(&e, ExitCode::Data),
    };
    let mut upstreams = BTreeMap::new();
    let mut upstream_auth = BTreeMap::new();
    for u in &args.upstreams {
        let parsed = u
            .split_once('=')
            .and_then(|(eco, url)| Some((Ecosystem::parse(eco)?, url::Url::parse(url).ok()?)));
        match parsed {
            Some((eco, mut url)) if is_upstream_url(eco.name(), &url) => {
                // `https://USER:PASSWORD@host/`: HTTP Basic for every request to that host
                // (tarballs and wheels too), never kept in the URL that reports show.
                if !url.username().is_empty() {
                    // Keyed host:port (with the scheme's port): only this upstream's host and
                    // port get them, whatever links its documents hold.
                    upstream_auth.insert(
                        HostLimits::key(&url),
                        basic_auth(
                            &percent_decoded(url.username()),
                            &percent_decoded(url.password().unwrap_or_default()),
                        ),
                    );
                    let _ = url.set_username("");
                    let _ = url.set_password(None);
                }
                upstreams.insert(eco, url);
            }
            _ => {
                // The value is not echoed: it may hold a password.
                let ecosystem = u.split_once('=').map_or("", |(e, _)| e);
                return output::message(
                    &format!(
                        "--upstream {ecosystem}=…: expected ECOSYSTEM=URL (npm=https://…, \
                         pypi=https://…/simple/, cargo=sparse+https://…)"
                    ),
                    ExitCode::Usage,
                );
            }
        }
    }
    let base_url = match &args.base_url {
        Some(b) => match url::Url::parse(b) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            _ => {
                return output::message(
                    &format!("--base-url {b:?}: expected an http(s) URL"),
                    ExitCode::Usage,
                );
            }
        },
        None => None,
    };
    let since = match args.since.as_deref().map(|t| (t, parse_instant(t))) {
        None => None,
        Some((_, Some(t))) => Some(t),
        Some((t, None)) => {
            return output::message(
                &format!("--since {t:?}: expected a date (2026-01-31) or an RFC 3339 instant"),
                ExitCode::Usage,
            );
        }
    };
    let versions = PackageVersions {
        range: args.versions.clone(),
        latest: args.latest.map(|n| n as usize),
        since,
    };
    for p in &args.pythons {
        if let Err(e) = PypiTargets::check_python(p) {
            return output::message(&format!("--python: {e}"), ExitCode::Usage);
        }
    }
    for p in &args.platform_tags {
        if let Err(e) = PypiTargets::check_platform(p) {
            return output::message(&format!("--platform-tag: {e}"), ExitCode::Usage);
        }
    }
    let pypi = PypiTargets {
        python: args.pythons.clone(),
        platforms: args.platform_tags.clone(),
        sdist: !args.no_sdist,
    };
    if let Some(e) = mirrorkit_packages::check_policy(&inputs, &versions) {
        return output::message(&format!("--versions: {e}"), ExitCode::Usage);
    }
    let flags = settings::Flags {
        cert_dir: args.cert_dir.as_deref(),
        work_dir: args.work_dir.as_deref(),
        host_auth: upstream_auth,
        ..settings::Flags::default()
    };
    let settings = match settings::without_spec(&flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let request = MirrorRequest {
        inputs,
        upstreams,
        output: args.to.clone(),
        base_url,
        dry_run: args.dry_run,
        concurrency: args.concurrency,
        prereleases: args.prereleases,
        versions,
        dependencies: args.dependencies,
        pypi,
        registry,
        max_packages: args.max_packages,
        work_dir: settings.work_dir.clone(),
    };
    match mirrorkit_packages::mirror(&request, &settings.http).await {
        Ok(report) => output::report(args.format, &report),
        Err(e) => output::error(&e),
    }
}

/// A percent-encoded user name or password, decoded (`%40` → `@`; `+` stays `+`).
fn percent_decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
