//! `export`, `import` and `bundle verify|ls`: parse, call `mirrorkit_oci::bundle`, print.

use std::io::Read as _;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::http::{HttpClient, HttpConfig};
use mirrorkit_core::spec::{self, TargetConfig};
use mirrorkit_core::target::Target as _;
use mirrorkit_oci::CopyOptions;
use mirrorkit_oci::archive::ArchiveCompression;
use mirrorkit_oci::bundle::{
    self, BundleError, BundleFormat, ExportItem, ExportOptions, ImportTarget, SpecOrigin,
};
use mirrorkit_oci::reference::ImageReference;

use crate::cli::{BundleCommand, BundleFormatArg, CompressArg, ExportArgs, Format, ImportArgs};
use crate::{diagnostics, print_stdout};

fn fail(e: &BundleError) -> ExitCode {
    eprintln!("error: {e}");
    e.exit_code()
}

fn copy_options(insecure: Vec<String>) -> Result<CopyOptions, ExitCode> {
    let http = HttpClient::new(HttpConfig::default()).map_err(|e| {
        eprintln!("error: {e}");
        e.exit_code()
    })?;
    let mut opts = CopyOptions::new(http, Credentials::load());
    opts.insecure_hosts = insecure;
    Ok(opts)
}

fn is_reference(s: &str) -> bool {
    s.contains("://") || s.starts_with("oci:") || s.starts_with("oci-archive:")
}

/// The items of a spec: every tag of every mirror's repository, read from its target.
async fn spec_items(
    path: &std::path::Path,
    only: &[String],
    insecure: &mut Vec<String>,
) -> Result<(Vec<ExportItem>, SpecOrigin), ExitCode> {
    let spec = match spec::load(path) {
        Ok(s) => s,
        Err(e) => return Err(diagnostics::spec_error(&e)),
    };
    for key in only {
        if !spec.mirrors.iter().any(|m| &m.key == key) {
            eprintln!("error: --only {key}: no such mirror in the spec");
            return Err(ExitCode::Usage);
        }
    }
    insecure.extend(
        spec.registries
            .iter()
            .filter(|(_, s)| s.insecure)
            .map(|(h, _)| h.clone()),
    );
    for m in &spec.mirrors {
        if let TargetConfig::Registry {
            host,
            insecure: true,
        } = &m.target
        {
            insecure.push(host.clone());
        }
    }
    let http = HttpClient::new(HttpConfig::default()).map_err(|e| {
        eprintln!("error: {e}");
        e.exit_code()
    })?;
    let opener = crate::targets::Opener::new(&spec, http, Credentials::load());
    let mut items = Vec::new();
    for m in spec
        .mirrors
        .iter()
        .filter(|m| only.is_empty() || only.contains(&m.key))
    {
        let target = opener.open(&m.target).map_err(|e| {
            eprintln!("error: mirror {}: {e}", m.key);
            e.exit_code()
        })?;
        let mut tags = target.list_tags(&m.repository).await.map_err(|e| {
            eprintln!("error: mirror {}: {e}", m.key);
            e.exit_code()
        })?;
        tags.sort();
        if tags.is_empty() {
            eprintln!(
                "warning: mirror {}: {} holds nothing yet; run sync first",
                m.key, m.repository
            );
        }
        // A helm mirror's images live in their own repositories: they belong in the bundle too.
        if let spec::SourceConfig::Helm(src) = &m.source {
            let images = mirrorkit_oci::helm::chart_images_in_target(m, src, &target)
                .await
                .map_err(|e| {
                    eprintln!("error: mirror {}: reading its charts' images: {e}", m.key);
                    ExitCode::Data
                })?;
            for (repository, tag, digest) in images {
                let source = match &m.target {
                    TargetConfig::Registry { host, .. } => ImageReference::Docker {
                        host: host.clone(),
                        repository: repository.clone(),
                        tag: digest.is_none().then(|| tag.clone()),
                        digest: digest.clone(),
                    },
                    TargetConfig::Layout { path } => ImageReference::Layout {
                        path: path.join(&repository),
                        reference: Some(digest.as_ref().map_or(tag.clone(), |d| d.to_string())),
                    },
                };
                items.push(ExportItem {
                    source,
                    repository,
                    tag,
                });
            }
        }
        for tag in tags {
            let source = match &m.target {
                TargetConfig::Registry { host, .. } => ImageReference::Docker {
                    host: host.clone(),
                    repository: m.repository.clone(),
                    tag: Some(tag.clone()),
                    digest: None,
                },
                TargetConfig::Layout { path } => ImageReference::Layout {
                    path: path.join(&m.repository),
                    reference: Some(tag.clone()),
                },
            };
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
    let r: ImageReference = s.parse().map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::Usage
    })?;
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
pub(crate) async fn export(args: ExportArgs) -> ExitCode {
    let mut insecure = args.insecure_registries.clone();
    let (items, spec_origin) = if args.sources.len() == 1 && !is_reference(&args.sources[0]) {
        match spec_items(
            std::path::Path::new(&args.sources[0]),
            &args.only,
            &mut insecure,
        )
        .await
        {
            Ok((items, origin)) => (items, Some(origin)),
            Err(code) => return code,
        }
    } else {
        if !args.only.is_empty() {
            eprintln!("error: --only applies to a spec, not to references");
            return ExitCode::Usage;
        }
        let mut items = Vec::new();
        for s in &args.sources {
            if !is_reference(s) {
                eprintln!(
                    "error: {s:?}: give either one spec file or image references (docker://…, oci:DIR:TAG)"
                );
                return ExitCode::Usage;
            }
            match reference_item(s) {
                Ok(i) => items.push(i),
                Err(code) => return code,
            }
        }
        (items, None)
    };
    if items.is_empty() {
        eprintln!("error: nothing to export (the spec's repositories hold no tags yet?)");
        return ExitCode::ItemFailed;
    }
    let mut copy_opts = match copy_options(insecure) {
        Ok(o) => o,
        Err(code) => return code,
    };
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
        eprintln!("error: --split and --compress apply to --format oci-archive only");
        return ExitCode::Usage;
    }
    match bundle::export(items, &opts, &copy_opts).await {
        Ok(report) => {
            let out = if args.json {
                serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
            } else {
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
            };
            print_stdout(&out)
        }
        Err(e) => fail(&e),
    }
}

/// `import PATH --to TARGET`.
pub(crate) async fn import(args: ImportArgs) -> ExitCode {
    let target = match ImportTarget::parse(&args.to) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let copy_opts = match copy_options(args.insecure_registries.clone()) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let staging = match &target {
        ImportTarget::Layouts { root } => Some(root.as_path()),
        ImportTarget::Registry { .. } => None,
    };
    let opened = match bundle::open(&args.path, args.repository.as_deref(), staging).await {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    match bundle::import(&opened, &target, args.dry_run, &copy_opts).await {
        Ok(report) => {
            let out = match args.format {
                Format::Plain => report.to_plain(),
                Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
            };
            match print_stdout(&out) {
                ExitCode::Success if report.tags.iter().any(|t| t.status == "refused") => {
                    ExitCode::ItemFailed
                }
                other => other,
            }
        }
        Err(e) => fail(&e),
    }
}

/// `bundle verify|ls PATH`.
pub(crate) async fn bundle(cmd: BundleCommand) -> ExitCode {
    let (path, format, verify) = match &cmd {
        BundleCommand::Verify { path, format } => (path, *format, true),
        BundleCommand::Ls { path, format } => (path, *format, false),
    };
    let opened = match bundle::open(path, Some("unnamed"), None).await {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
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
    let out = match format {
        Format::Json => serde_json::to_string_pretty(&value).unwrap_or_default() + "\n",
        Format::Plain => {
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
    };
    print_stdout(&out)
}
