//! `export SPEC|REF... --output PATH`: write the tags of a spec's targets (or the images named)
//! into a bundle, a directory or an archive, for an air-gapped site.

use std::io::Read as _;
use std::path::Path;

use mirrorkit_bundle::{self, BundleFormat, ExportItem, ExportOptions, ExportReport, SpecOrigin};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::spec::{self, Spec};
use mirrorkit_oci::archive::ArchiveCompression;
use mirrorkit_oci::reference::ImageReference;
use mirrorkit_oci::target::{Target as _, reference_in};

use crate::cli::{BundleFormatArg, CompressArg, ExportArgs, Format};
use crate::commands::package_trees;
use crate::diagnostics;
use crate::output::{self, Render};
use crate::settings;

impl Render for ExportReport {
    fn to_plain(&self) -> String {
        let report = self;
        format!(
            "exported {} tags ({} images), {} blobs, {} bytes{} into {}\nbundle {}\n",
            report.tags,
            report.items,
            report.blobs,
            report.bytes,
            if report.base_blobs > 0 {
                format!(" ({} blobs left to the base bundle)", report.base_blobs)
            } else {
                String::new()
            },
            report
                .output
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            report.id
        )
    }
    fn exit_code(&self) -> ExitCode {
        ExitCode::Success
    }
}

fn is_reference(s: &str) -> bool {
    s.contains("://") || s.starts_with("oci:") || s.starts_with("oci-archive:")
}

/// The items of a spec: every tag of every mirror's repository, read from its target.
async fn spec_items(
    path: &Path,
    spec: &Spec,
    only: &[String],
    settings: &mirrorkit_run::Settings,
    scratch: &mut Vec<tempfile::TempDir>,
) -> Result<(Vec<ExportItem>, SpecOrigin), ExitCode> {
    for key in only {
        if !spec.mirrors.iter().any(|m| &m.key == key) {
            return Err(output::message(
                &format!("--only {key}: no such mirror in the spec"),
                ExitCode::Usage,
            ));
        }
    }
    let mut items = Vec::new();
    let trees = package_trees::of_spec(spec, only);
    for m in spec
        .mirrors
        .iter()
        .filter(|m| only.is_empty() || only.contains(&m.key))
    {
        if matches!(
            m.source,
            spec::SourceConfig::Apt(_) | spec::SourceConfig::Rpm(_)
        ) {
            return Err(output::message(
                &format!(
                    "mirror {}: distribution mirrors are not put in bundles yet (their \
                     snapshots can be copied as files); leave it out with --only",
                    m.key
                ),
                ExitCode::Usage,
            ));
        }
        if let spec::TargetConfig::Packages { .. } = &m.target {
            // One artifact per tree, made by the first mirror publishing to it.
            let Some(tree) = trees.iter().find(|t| t.mirror == m.key) else {
                continue;
            };
            let (path, base_url) = (tree.path, tree.base_url);
            let repository = package_trees::REPOSITORY.to_string();
            let tag = tree.tag.clone();
            if !path.is_dir() {
                eprintln!(
                    "warning: mirror {}: {} holds nothing yet; run sync first",
                    m.key,
                    path.display()
                );
                continue;
            }
            let fail = |e: String| output::message(&format!("mirror {}: {e}", m.key), ExitCode::Io);
            let dir = tempfile::Builder::new()
                .prefix(".export-packages-")
                .tempdir_in(&settings.work_dir)
                .or_else(|_| tempfile::tempdir())
                .map_err(|e| fail(e.to_string()))?;
            let layout_dir = dir.path().join("layout");
            let layout = mirrorkit_oci::layout::Layout::create(&layout_dir)
                .map_err(|e| fail(e.to_string()))?;
            // The tree is read under its lock: a sync writing it meanwhile waits.
            let tree = mirrorkit_packages::tree::Tree::open(path)
                .await
                .map_err(fail)?;
            let files =
                mirrorkit_packages::artifact::from_tree(tree.root(), base_url, &layout, &tag)
                    .await
                    .map_err(fail)?;
            drop(tree);
            if files == 0 {
                eprintln!(
                    "warning: mirror {}: {} holds no files yet",
                    m.key,
                    path.display()
                );
            }
            items.push(ExportItem {
                source: ImageReference::Layout {
                    path: layout_dir,
                    reference: Some(tag.clone()),
                },
                repository,
                tag,
            });
            scratch.push(dir);
            continue;
        }
        let in_mirror = |e: mirrorkit_oci::OciError| {
            output::message(&format!("mirror {}: {e}", m.key), e.exit_code())
        };
        let target = settings.open(&m.target).map_err(in_mirror)?;
        let mut tags = target.list_tags(&m.repository).await.map_err(in_mirror)?;
        tags.sort();
        if tags.is_empty() {
            eprintln!(
                "warning: mirror {}: {} holds nothing yet; run sync first",
                m.key, m.repository
            );
        }
        // A helm mirror's images live in their own repositories: they belong in the bundle too.
        if let spec::SourceConfig::Helm(src) = &m.source {
            let images = mirrorkit_helm::chart_images_in_target(m, src, &target)
                .await
                .map_err(|e| {
                    output::message(
                        &format!("mirror {}: reading its charts' images: {e}", m.key),
                        ExitCode::Data,
                    )
                })?;
            for (repository, tag, digest) in images {
                let reference = digest.as_ref().map_or(tag.clone(), |d| d.to_string());
                let source = reference_in(&m.target, &repository, &reference).map_err(in_mirror)?;
                items.push(ExportItem {
                    source,
                    repository,
                    tag,
                });
            }
        }
        for tag in tags {
            let source = reference_in(&m.target, &m.repository, &tag).map_err(in_mirror)?;
            items.push(ExportItem {
                source,
                repository: m.repository.clone(),
                tag,
            });
        }
    }
    let mut digest = mirrorkit_core::digest::Hasher::new(mirrorkit_core::digest::Algorithm::Sha256);
    let mut text = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut text);
    }
    digest.update(&text);
    let origin = SpecOrigin {
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        digest: digest.finish().to_string(),
    };
    Ok((items, origin))
}

/// An item for a reference given on the command line.
fn reference_item(s: &str) -> Result<ExportItem, ExitCode> {
    let r: ImageReference = s
        .parse()
        .map_err(|e| output::message(&format!("{e}"), ExitCode::Usage))?;
    let (repository, tag) = match &r {
        ImageReference::Docker {
            repository,
            tag,
            digest,
            ..
        } => (
            repository.clone(),
            match (tag, digest) {
                (Some(t), _) => t.clone(),
                // A digest reference is filed under the tag form of its digest.
                (None, Some(d)) => d.to_string().replace(':', "-"),
                (None, None) => "latest".to_string(),
            },
        ),
        ImageReference::Layout { path, reference }
        | ImageReference::Archive { path, reference } => {
            let name = path
                .file_stem()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            (
                name,
                reference
                    .clone()
                    .map(|t| t.replace(':', "-"))
                    .unwrap_or_else(|| "latest".into()),
            )
        }
    };
    Ok(ExportItem {
        source: r,
        repository,
        tag,
    })
}

/// `export SPEC|REF... --output PATH`.
pub(crate) async fn run(args: ExportArgs) -> ExitCode {
    let flags = settings::reference_flags(&args.insecure_registries, args.cert_dir.as_deref());
    // Package trees made into artifacts for the bundle; removed when the export ends.
    let mut scratch = Vec::new();
    let (settings, items, spec_origin) = if args.sources.len() == 1
        && !is_reference(&args.sources[0])
    {
        let path = Path::new(&args.sources[0]);
        let spec = match spec::load(path) {
            Ok(s) => s,
            Err(e) => return diagnostics::spec_error(&e),
        };
        let settings = match settings::for_spec(&spec, &flags) {
            Ok(s) => s,
            Err(code) => return code,
        };
        match spec_items(path, &spec, &args.only, &settings, &mut scratch).await {
            Ok((items, origin)) => (settings, items, Some(origin)),
            Err(code) => return code,
        }
    } else {
        if !args.only.is_empty() {
            return output::message(
                "--only applies to a spec, not to references",
                ExitCode::Usage,
            );
        }
        let mut items = Vec::new();
        for s in &args.sources {
            if !is_reference(s) {
                return output::message(
                    &format!(
                        "{s:?}: give either one spec file or image references (docker://…, oci:DIR:TAG)"
                    ),
                    ExitCode::Usage,
                );
            }
            match reference_item(s) {
                Ok(i) => items.push(i),
                Err(code) => return code,
            }
        }
        let settings = match settings::without_spec(&flags) {
            Ok(s) => s,
            Err(code) => return code,
        };
        (settings, items, None)
    };
    if items.is_empty() {
        return output::message(
            "nothing to export (the spec's repositories hold no tags yet?)",
            ExitCode::ItemFailed,
        );
    }
    let mut copy_opts = settings.copy_options();
    // A spec's layouts are our own, written verified: their blobs may be linked into the
    // bundle. References given by hand are read (and hashed) like any source.
    copy_opts.link_verified_layouts = spec_origin.is_some();
    let opts = ExportOptions {
        output: args.output.clone(),
        format: match args.format {
            BundleFormatArg::OciLayout => BundleFormat::Layout,
            BundleFormatArg::OciArchive => BundleFormat::Archive,
        },
        compression: match args.compress {
            CompressArg::None => ArchiveCompression::None,
            CompressArg::Gzip => ArchiveCompression::Gzip,
            CompressArg::Zstd => ArchiveCompression::Zstd,
        },
        split: args.split,
        since: args.since.clone(),
        spec: spec_origin,
    };
    if opts.format == BundleFormat::Layout
        && (opts.split.is_some() || opts.compression != ArchiveCompression::None)
    {
        return output::message(
            "--split and --compress apply to --format oci-archive only",
            ExitCode::Usage,
        );
    }
    match mirrorkit_bundle::export(items, &opts, &copy_opts).await {
        Ok(report) => output::report(
            if args.json {
                Format::Json
            } else {
                Format::Plain
            },
            &report,
        ),
        Err(e) => output::error(&e),
    }
}
