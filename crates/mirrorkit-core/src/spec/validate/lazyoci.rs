//! The `lazyoci` spec form: a chart list as lazyoci writes it, turned into helm mirrors.

use super::*;

/// A lazyoci `mirror.yaml`: `target.url` is the registry and namespace, each upstream a
/// `type: helm` mirror of its chart with `images: true`, under `<url>/<charts-prefix>/<chart>`.
pub(super) fn lazyoci(ctx: &Ctx<'_>, file: &LazyociFile) -> Result<Spec, SpecError> {
    if file.upstreams.is_empty() {
        return Err(ctx.err_nowhere("upstreams", "no upstreams defined"));
    }
    let url = &file.target.url;
    let bare = url.value.trim_end_matches('/');
    let bare = bare
        .strip_prefix("https://")
        .or_else(|| bare.strip_prefix("oci://"))
        .unwrap_or(bare);
    let (host, namespace) = match bare.split_once('/') {
        Some((h, ns)) => (h, Some(ns)),
        None => (bare, None),
    };
    let at = |value: &str| Located {
        value: value.to_string(),
        line: url.line,
        column: url.column,
    };
    let target = TargetSpec {
        registry: Some(at(host)),
        namespace: namespace.map(at),
        insecure: Some(file.target.insecure),
        repository: None,
        layout: None,
        ..TargetSpec::default()
    };
    // lazyoci puts charts right under the URL unless `charts-prefix` says otherwise.
    let charts_prefix = file
        .target
        .charts_prefix
        .clone()
        .unwrap_or_else(|| Located::unplaced(String::new()));
    let no_assets = AssetPatterns::new();
    let mut mirrors = Vec::new();
    for (key, up) in &file.upstreams {
        let field = |f: &str| format!("upstreams.{}.{f}", key.value);
        let mut source = SourceSpec::of_kind(Located {
            value: SourceKind::Helm,
            line: up.kind.line,
            column: up.kind.column,
        });
        let needs = |given: &Option<Located<String>>, name: &str, kind: &str| {
            given.clone().ok_or_else(|| {
                ctx.err(
                    &up.kind,
                    field(name),
                    format!("`type: {kind}` needs `{name}`"),
                )
            })
        };
        match up.kind.value {
            LazyociKind::Repo => source.repo = Some(needs(&up.repo, "repo", "repo")?),
            LazyociKind::Oci => {
                let registry = needs(&up.registry, "registry", "oci")?;
                let value = if registry.value.starts_with("oci://") {
                    registry.value.clone()
                } else {
                    format!("oci://{}", registry.value)
                };
                source.repo = Some(Located { value, ..registry });
            }
            LazyociKind::Local => {
                source.path = Some(up.path.clone().ok_or_else(|| {
                    ctx.err(&up.kind, field("path"), "`type: local` needs `path`")
                })?);
            }
        }
        source.chart = Some(up.chart.clone());
        source.versions = up.versions.clone();
        source.images = Some(true);
        source.charts_prefix = Some(charts_prefix.clone());
        let fields = MirrorFields::for_source("upstreams.", &source, &no_assets);
        mirrors.push(mirror(ctx, key, fields, Some(&target))?);
    }
    check_unique_repositories(ctx, &mirrors)?;
    Ok(Spec {
        path: ctx.path.to_path_buf(),
        work_dir: None,
        registries: BTreeMap::new(),
        max_asset_size: crate::store::DEFAULT_MAX_ASSET_SIZE,
        mirrors,
    })
}
