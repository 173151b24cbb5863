//! `import PATH --to TARGET`: verify a bundle and write its tags into a registry or layouts, or
//! its package trees into a package tree.

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
    let mut target = match ImportTarget::parse(&args.to) {
        Ok(t) => t,
        Err(e) => return output::error(&e),
    };
    match (&mut target, &args.base_url) {
        (ImportTarget::Packages { base_url, .. }, Some(given)) => {
            match url::Url::parse(given)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
            {
                Some(u) => *base_url = Some(u),
                None => {
                    return output::message(
                        &format!("--base-url {given:?}: expected an http(s) URL"),
                        ExitCode::Usage,
                    );
                }
            }
        }
        (_, Some(_)) => {
            return output::message(
                "--base-url applies to --to packages:DIR only",
                ExitCode::Usage,
            );
        }
        (_, None) => {}
    }
    let flags = settings::reference_flags(&args.insecure_registries, args.cert_dir.as_deref());
    let settings = match settings::without_spec(&flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // An archive is unpacked beside the target, so its blobs can be linked into it.
    let staging = match &target {
        ImportTarget::Layouts { root } => Some(root.as_path()),
        // Beside the tree, not in it: the tree is served as it is.
        ImportTarget::Packages { dir, .. } => Some(
            dir.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new(".")),
        ),
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
