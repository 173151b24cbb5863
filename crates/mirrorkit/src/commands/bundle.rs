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

/// `bundle ls|verify --format json` (`mirrorkit schema bundle-listing`).
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ListingDoc {
    /// The bundle as given.
    path: String,
    /// Its id (`None` for a layout without `mirrorkit-bundle.json`, e.g. skopeo's).
    id: Option<String>,
    /// Its format version.
    format: Option<u32>,
    /// The bundle a delta builds on.
    base: Option<String>,
    /// The spec it was exported from.
    spec: Option<mirrorkit_bundle::SpecOrigin>,
    /// Blobs hashed against their names.
    blobs_verified: usize,
    /// Blobs a delta leaves to its base.
    blobs_from_base: usize,
    /// Every tag.
    tags: Vec<ListedTag>,
    /// What `mirrorkit-bundle.json` says it holds.
    items: Option<Vec<mirrorkit_bundle::BundleItem>>,
}

/// One tag of a listed bundle.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ListedTag {
    repository: String,
    tag: String,
    digest: mirrorkit_core::digest::Digest,
    media_type: String,
}

impl serde::Serialize for Listing<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let manifest = self.opened.manifest.as_ref();
        ListingDoc {
            path: self.path.display().to_string(),
            id: manifest.map(|m| m.id.clone()),
            format: manifest.map(|m| m.format),
            base: manifest.and_then(|m| m.base.clone()),
            spec: manifest.and_then(|m| m.spec.clone()),
            blobs_verified: self.opened.blobs_verified,
            blobs_from_base: self.opened.needs.values().map(|s| s.len()).sum(),
            tags: self
                .opened
                .tags
                .iter()
                .map(|(repository, tag, digest, media_type)| ListedTag {
                    repository: repository.clone(),
                    tag: tag.clone(),
                    digest: digest.clone(),
                    media_type: media_type.clone(),
                })
                .collect(),
            items: manifest.map(|m| m.items.clone()),
        }
        .serialize(serializer)
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
