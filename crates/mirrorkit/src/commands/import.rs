//! `import PATH --to TARGET | --spec SPEC`: verify a bundle and write its tags into a registry
//! or layouts, its package trees into a package tree — or into a spec's own package targets.

use mirrorkit_bundle::{ImportReport, ImportTarget, OpenBundle, TagOutcome};
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::spec;

use crate::cli::ImportArgs;
use crate::commands::package_trees::{self, PackageTree};
use crate::diagnostics;
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

/// `import PATH --to TARGET | --spec SPEC`.
pub(crate) async fn run(args: ImportArgs) -> ExitCode {
    let spec = match &args.spec {
        Some(path) => match spec::load(path) {
            Ok(s) => Some(s),
            Err(e) => return diagnostics::spec_error(&e),
        },
        None => None,
    };
    let mut target = match args.to.as_deref().map(ImportTarget::parse) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return output::error(&e),
        None => None,
    };
    if spec.is_some() {
        if matches!(target, Some(ImportTarget::Packages { .. })) {
            return output::message(
                "--to packages:DIR and --spec both say where the package trees go; give one",
                ExitCode::Usage,
            );
        }
        if args.base_url.is_some() {
            return output::message(
                "--base-url does not apply with --spec: each package tree is served at its \
                 target's `base_url`",
                ExitCode::Usage,
            );
        }
    }
    match (&mut target, &args.base_url) {
        (Some(ImportTarget::Packages { base_url, .. }), Some(given)) => {
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
    let trees = spec
        .as_ref()
        .map(|s| package_trees::of_spec(s, &[]))
        .unwrap_or_default();
    if let (Some(spec), true, None) = (&spec, trees.is_empty(), &target) {
        return output::message(
            &format!(
                "{}: the spec has no package mirrors to import into; give --to for the \
                 bundle's images",
                spec.path.display()
            ),
            ExitCode::Usage,
        );
    }
    let flags = settings::reference_flags(&args.insecure_registries, args.cert_dir.as_deref());
    let settings = match settings::without_spec(&flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // An archive is unpacked beside the target, so its blobs can be linked into it; beside a
    // package tree, not in it: the tree is served as it is.
    let beside = |dir: &std::path::Path| {
        dir.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf()
    };
    let staging = match &target {
        Some(ImportTarget::Layouts { root }) => Some(root.clone()),
        Some(ImportTarget::Packages { dir, .. }) => Some(beside(dir)),
        Some(ImportTarget::Registry { .. }) | None => trees.first().map(|t| beside(t.path)),
    };
    let mut opened =
        match mirrorkit_bundle::open(&args.path, args.repository.as_deref(), staging.as_deref())
            .await
        {
            Ok(b) => b,
            Err(e) => return output::error(&e),
        };
    let copy_opts = settings.copy_options();
    let result = match &spec {
        None => match &target {
            Some(target) => {
                mirrorkit_bundle::import(&opened, target, args.dry_run, &copy_opts).await
            }
            None => return output::message("give --to TARGET or --spec SPEC", ExitCode::Usage),
        },
        Some(spec) => {
            into_spec(
                &mut opened,
                spec,
                &trees,
                target.as_ref(),
                args.dry_run,
                &copy_opts,
            )
            .await
        }
    };
    match result {
        Ok(report) => output::report(args.format, &report),
        Err(e) => output::error(&e),
    }
}

/// The bundle's package trees into the spec's trees of the same tag, everything else into
/// `rest` (refused without one); a tree the spec has no tree for is refused.
async fn into_spec(
    opened: &mut OpenBundle,
    spec: &spec::Spec,
    trees: &[PackageTree<'_>],
    rest: Option<&ImportTarget>,
    dry_run: bool,
    copy_opts: &mirrorkit_oci::copy::CopyOptions,
) -> Result<ImportReport, mirrorkit_bundle::BundleError> {
    let all = std::mem::take(&mut opened.tags);
    let needs = std::mem::take(&mut opened.needs);
    let is_tree: Vec<bool> = all
        .iter()
        .map(|(repo, _, digest, media_type)| {
            repo == package_trees::REPOSITORY
                && mirrorkit_packages::artifact::is_tree(opened.dir(), digest, media_type)
        })
        .collect();
    let mut report = ImportReport::new(opened, dry_run);
    type Tag = (String, String, mirrorkit_core::digest::Digest, String);
    let refuse = |(repo, tag, digest, _): &Tag, reason: String| TagOutcome {
        repository: repo.clone(),
        tag: tag.clone(),
        digest: digest.to_string(),
        status: "refused",
        reason: Some(reason),
    };
    for tree in trees {
        opened.tags = all
            .iter()
            .zip(&is_tree)
            .filter(|(t, tree_tag)| **tree_tag && t.1 == tree.tag)
            .map(|(t, _)| t.clone())
            .collect();
        if opened.tags.is_empty() {
            continue;
        }
        let target = ImportTarget::Packages {
            dir: tree.path.to_path_buf(),
            base_url: Some(tree.base_url.clone()),
        };
        report.absorb(mirrorkit_bundle::import(opened, &target, dry_run, copy_opts).await?);
    }
    let mut others = Vec::new();
    for (t, tree_tag) in all.iter().zip(&is_tree) {
        if *tree_tag {
            if !trees.iter().any(|tree| tree.tag == t.1) {
                let names: Vec<&str> = trees.iter().map(|t| t.tag.as_str()).collect();
                report.tags.push(refuse(
                    t,
                    format!(
                        "a package tree named {:?}, and no package target of {} is a directory \
                         of that name (its trees: {})",
                        t.1,
                        spec.path.display(),
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                ));
            }
        } else if rest.is_some() {
            others.push(t.clone());
        } else {
            report.tags.push(refuse(
                t,
                "not a package tree: give --to docker://HOST or oci:DIR for it".into(),
            ));
        }
    }
    if let (Some(target), false) = (rest, others.is_empty()) {
        opened.needs = needs
            .into_iter()
            .filter(|(repo, _)| others.iter().any(|t| &t.0 == repo))
            .collect();
        opened.tags = others;
        report.absorb(mirrorkit_bundle::import(opened, target, dry_run, copy_opts).await?);
    }
    Ok(report)
}
