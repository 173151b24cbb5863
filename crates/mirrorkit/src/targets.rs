//! Opening the targets a spec names (a registry or a layout directory), and the `copy` command.

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::platform::Platform;
use mirrorkit_core::spec::{Spec, TargetConfig};
use mirrorkit_core::target::TargetError;
use mirrorkit_oci::layout::LayoutRoot;
use mirrorkit_oci::registry::Registry;
use mirrorkit_oci::target::AnyTarget;

use crate::cli::{CopyArgs, Format};

/// Opens targets with the spec's per-registry settings, the shared HTTP client and credentials.
pub(crate) struct Opener {
    http: HttpClient,
    credentials: Credentials,
    insecure_hosts: Vec<String>,
}

impl Opener {
    /// An opener for the targets of `spec`.
    pub(crate) fn new(spec: &Spec, http: HttpClient, credentials: Credentials) -> Opener {
        Opener {
            http,
            credentials,
            insecure_hosts: spec
                .registries
                .iter()
                .filter(|(_, s)| s.insecure)
                .map(|(h, _)| h.clone())
                .collect(),
        }
    }

    /// Open one target. No request is sent yet.
    pub(crate) fn open(&self, target: &TargetConfig) -> Result<AnyTarget, TargetError> {
        match target {
            TargetConfig::Registry { host, insecure } => {
                let insecure = *insecure || self.insecure_hosts.contains(host);
                Registry::new(host, insecure, self.http.clone(), self.credentials.clone())
                    .map(|r| AnyTarget::Registry(Box::new(r)))
                    .map_err(|e| TargetError::Rejected {
                        target: host.clone(),
                        what: "registry address".into(),
                        reason: e.to_string(),
                    })
            }
            TargetConfig::Layout { path } => Ok(AnyTarget::Layout(LayoutRoot::new(path.clone()))),
        }
    }
}

/// `copy SRC DST`: copy one image or index with every platform, digests preserved, and print
/// what was sent.
pub(crate) async fn copy(args: CopyArgs) -> ExitCode {
    let http = match HttpClient::new(mirrorkit_core::http::HttpConfig::default()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let mut options = mirrorkit_oci::copy::CopyOptions::new(http, Credentials::load());
    options.insecure_hosts = args.insecure_registries.clone();
    options.referrers = args.referrers;
    if !args.platforms.is_empty() {
        let mut platforms = Vec::new();
        for p in &args.platforms {
            match p.parse::<Platform>() {
                Ok(p) => platforms.push(p),
                Err(e) => {
                    eprintln!("error: --platform: {e}");
                    return ExitCode::Usage;
                }
            }
        }
        options.platforms = Some(platforms);
    }
    let report = match mirrorkit_oci::copy::copy_str(&args.src, &args.dst, &options).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let out = match args.format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("error: cannot render the report: {e}");
                return ExitCode::Io;
            }
        },
        Format::Plain => {
            let mut out = format!(
                "copied {} -> {}\n  {} {}\n",
                report.source, report.destination, report.digest, report.media_type,
            );
            if let Some(d) = &report.source_digest {
                out.push_str(&format!(
                    "  platform subset: a new index; the source's is {d}\n"
                ));
            }
            out.push_str(&format!(
                "  {} manifest(s), {} blob(s) sent ({}), {} already present, {} mounted\n",
                report.manifests,
                report.blobs_copied,
                mirrorkit_core::report::human_bytes(report.bytes),
                report.blobs_skipped,
                report.blobs_mounted,
            ));
            if !report.referrers.is_empty() {
                out.push_str(&format!("  {} referrer(s)\n", report.referrers.len()));
            }
            out
        }
    };
    crate::print_stdout(&out)
}
