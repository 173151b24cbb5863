//! Opening the targets a spec names (a registry or a layout directory), and the `copy` command.

use std::path::Path;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::spec::{Spec, TargetConfig};
use mirrorkit_core::target::{Target, TargetError};
use mirrorkit_oci::layout::LayoutRoot;
use mirrorkit_oci::registry::Registry;

use crate::cli::{CopyArgs, Format};

/// Either kind of target, so one engine run can publish to both.
pub enum AnyTarget {
    Registry(Box<Registry>),
    Layout(LayoutRoot),
}

/// Opens targets with the spec's per-registry settings, the shared HTTP client and credentials.
pub struct Opener {
    http: HttpClient,
    credentials: Credentials,
    insecure_hosts: Vec<String>,
}

impl Opener {
    /// An opener for the targets of `spec`.
    pub fn new(spec: &Spec, http: HttpClient, credentials: Credentials) -> Opener {
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
    pub fn open(&self, target: &TargetConfig) -> Result<AnyTarget, TargetError> {
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

impl Target for AnyTarget {
    fn describe(&self) -> String {
        match self {
            AnyTarget::Registry(r) => r.describe(),
            AnyTarget::Layout(l) => l.describe(),
        }
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, TargetError> {
        match self {
            AnyTarget::Registry(r) => Target::list_tags(r.as_ref(), repository).await,
            AnyTarget::Layout(l) => l.list_tags(repository).await,
        }
    }

    async fn resolve_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<Digest>, TargetError> {
        match self {
            AnyTarget::Registry(r) => Target::resolve_tag(r.as_ref(), repository, tag).await,
            AnyTarget::Layout(l) => l.resolve_tag(repository, tag).await,
        }
    }

    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, TargetError> {
        match self {
            AnyTarget::Registry(r) => Target::has_blob(r.as_ref(), repository, digest).await,
            AnyTarget::Layout(l) => l.has_blob(repository, digest).await,
        }
    }

    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<(), TargetError> {
        match self {
            AnyTarget::Registry(r) => r.push_blob(repository, digest, size, path).await,
            AnyTarget::Layout(l) => l.push_blob(repository, digest, size, path).await,
        }
    }

    async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, TargetError> {
        match self {
            AnyTarget::Registry(r) => {
                r.push_manifest(repository, reference, media_type, bytes)
                    .await
            }
            AnyTarget::Layout(l) => {
                l.push_manifest(repository, reference, media_type, bytes)
                    .await
            }
        }
    }
}

/// `copy SRC DST`: copy one image or index with every platform, digests preserved, and print
/// what was sent.
pub async fn copy(args: CopyArgs) -> ExitCode {
    let http = match HttpClient::new(mirrorkit_core::http::HttpConfig::default()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let mut options = mirrorkit_oci::copy::CopyOptions::new(http, Credentials::load());
    options.insecure_hosts = args.insecure_registries.clone();
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
        Format::Plain => format!(
            "copied {} -> {}\n  {} {}\n  {} manifest(s), {} blob(s) sent ({}), {} already present, {} mounted\n",
            report.source,
            report.destination,
            report.digest,
            report.media_type,
            report.manifests,
            report.blobs_copied,
            mirrorkit_core::report::human_bytes(report.bytes),
            report.blobs_skipped,
            report.blobs_mounted,
        ),
    };
    crate::print_stdout(&out)
}
