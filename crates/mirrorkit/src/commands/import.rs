//! `import PATH --to TARGET`: verify a bundle and write its tags into a registry or layouts.

use mirrorkit_bundle::{ImportReport, ImportTarget};
use mirrorkit_core::exit::ExitCode;

use crate::cli::ImportArgs;
use crate::output::{self, Render};
use crate::settings;

impl Render for ImportReport {
    fn to_plain(&self) -> String {
        ImportReport::to_plain(self)
    }
    /// A refused tag fails the import (1), though the others were written.
    fn exit_code(&self) -> ExitCode {
        if self.tags.iter().any(|t| t.status == "refused") {
            ExitCode::ItemFailed
        } else {
            ExitCode::Success
        }
    }
}

/// `import PATH --to TARGET`.
pub(crate) async fn run(args: ImportArgs) -> ExitCode {
    let target = match ImportTarget::parse(&args.to) {
        Ok(t) => t,
        Err(e) => return output::error(&e),
    };
    let flags = settings::reference_flags(&args.insecure_registries, args.cert_dir.as_deref());
    let settings = match settings::without_spec(&flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let staging = match &target {
        ImportTarget::Layouts { root } => Some(root.as_path()),
        ImportTarget::Registry { .. } => None,
    };
    let opened = match mirrorkit_bundle::open(&args.path, args.repository.as_deref(), staging).await
    {
        Ok(b) => b,
        Err(e) => return output::error(&e),
    };
    match mirrorkit_bundle::import(&opened, &target, args.dry_run, &settings.copy_options()).await {
        Ok(report) => output::report(args.format, &report),
        Err(e) => output::error(&e),
    }
}
