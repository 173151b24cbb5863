//! `copy SRC DST`: copy one image or index with every platform, digests preserved, and print
//! what was sent.

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::platform::Platform;
use mirrorkit_core::report::human_bytes;
use mirrorkit_oci::copy::CopyReport;

use crate::cli::CopyArgs;
use crate::output::{self, Render};
use crate::settings;

impl Render for CopyReport {
    fn to_plain(&self) -> String {
        let mut out = format!(
            "copied {} -> {}\n  {} {}\n",
            self.source, self.destination, self.digest, self.media_type,
        );
        if let Some(d) = &self.source_digest {
            out.push_str(&format!(
                "  platform subset: a new index; the source's is {d}\n"
            ));
        }
        out.push_str(&format!(
            "  {} manifest(s), {} blob(s) sent ({}), {} already present, {} mounted\n",
            self.manifests,
            self.blobs_copied,
            human_bytes(self.bytes),
            self.blobs_skipped,
            self.blobs_mounted,
        ));
        if !self.referrers.is_empty() {
            out.push_str(&format!("  {} referrer(s)\n", self.referrers.len()));
        }
        out
    }
    fn exit_code(&self) -> ExitCode {
        ExitCode::Success
    }
}

/// `copy SRC DST`.
pub(crate) async fn run(args: CopyArgs) -> ExitCode {
    let flags = settings::reference_flags(&args.insecure_registries, args.cert_dir.as_deref());
    let settings = match settings::without_spec(&flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut options = settings.copy_options();
    options.referrers = args.referrers;
    if !args.platforms.is_empty() {
        let mut platforms = Vec::new();
        for p in &args.platforms {
            match p.parse::<Platform>() {
                Ok(p) => platforms.push(p),
                Err(e) => return output::message(&format!("--platform: {e}"), ExitCode::Usage),
            }
        }
        options.platforms = Some(platforms);
    }
    match mirrorkit_oci::copy::copy_str(&args.src, &args.dst, &options).await {
        Ok(report) => output::report(args.format, &report),
        Err(e) => output::error(&e),
    }
}
