//! `bundle verify|ls PATH`: check a bundle's every blob against its digest, or list its tags,
//! without importing it.

use std::path::Path;

use mirrorkit_bundle::OpenBundle;
use mirrorkit_core::exit::ExitCode;

use crate::cli::BundleCommand;
use crate::output::{self, Render};

/// What `bundle verify|ls` says about one bundle.
struct Listing<'a> {
    path: &'a Path,
    opened: OpenBundle,
    verify: bool,
}

impl serde::Serialize for Listing<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (path, opened) = (self.path, &self.opened);
        let value = serde_json::json!({
            "path": path.display().to_string(),
            "id": opened.manifest.as_ref().map(|m| m.id.clone()),
            "format": opened.manifest.as_ref().map(|m| m.format),
            "base": opened.manifest.as_ref().and_then(|m| m.base.clone()),
            "spec": opened.manifest.as_ref().and_then(|m| m.spec.clone()),
            "blobs_verified": opened.blobs_verified,
            "blobs_from_base": opened.needs.values().map(|s| s.len()).sum::<usize>(),
            "tags": opened.tags.iter().map(|(repo, tag, digest, mt)| serde_json::json!({
                "repository": repo, "tag": tag, "digest": digest.to_string(), "media_type": mt,
            })).collect::<Vec<_>>(),
            "items": opened.manifest.as_ref().map(|m| m.items.clone()),
        });
        value.serialize(serializer)
    }
}

impl Render for Listing<'_> {
    fn to_plain(&self) -> String {
        let (path, opened, verify) = (self.path, &self.opened, self.verify);
        let mut s = String::new();
        if verify {
            s.push_str(&format!(
                "{}: ok: {} tags, {} blobs verified{}\n",
                path.display(),
                opened.tags.len(),
                opened.blobs_verified,
                match opened.manifest.as_ref().and_then(|m| m.base.as_ref()) {
                    Some(base) => format!(
                        ", delta on top of {base} ({} blobs expected from it)",
                        opened.needs.values().map(|s| s.len()).sum::<usize>()
                    ),
                    None => String::new(),
                }
            ));
        } else {
            if let Some(m) = &opened.manifest {
                s.push_str(&format!("bundle {} ({})\n", m.id, m.created_by));
                if let Some(spec) = &m.spec {
                    s.push_str(&format!("from spec {} ({})\n", spec.file, spec.digest));
                }
                if let Some(base) = &m.base {
                    s.push_str(&format!("delta on top of {base}\n"));
                }
            }
            for (repo, tag, digest, _) in &opened.tags {
                s.push_str(&format!("{repo}:{tag}  {digest}\n"));
            }
        }
        s
    }

    fn exit_code(&self) -> ExitCode {
        ExitCode::Success
    }
}

/// `bundle verify|ls PATH`.
pub(crate) async fn run(cmd: BundleCommand) -> ExitCode {
    let (path, format, verify) = match &cmd {
        BundleCommand::Verify { path, format } => (path, *format, true),
        BundleCommand::Ls { path, format } => (path, *format, false),
    };
    let opened = match mirrorkit_bundle::open(path, Some("unnamed"), None).await {
        Ok(b) => b,
        Err(e) => return output::error(&e),
    };
    let listing = Listing {
        path,
        opened,
        verify,
    };
    output::report(format, &listing)
}
