//! The images a chart uses, found without rendering it: the `helm.sh/images` and
//! `artifacthub.io/images` annotations of its Chart.yaml (and its subcharts'), `image:` entries
//! in its values.yaml and its subcharts' (with the parent's overrides merged in, as Helm does),
//! and the spec's `extra_images`. References are normalised as docker does (`nginx` →
//! `docker.io/library/nginx:latest`) and deduplicated, each keeping every place it was found.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::chart::{ChartArchive, ChartMeta, parse_yaml, scalar_text};
use super::image_ref::Found;
use mirrorkit_core::source::images::HelmSource;

/// The annotations that list a chart's images.
const IMAGE_ANNOTATIONS: [&str; 2] = ["helm.sh/images", "artifacthub.io/images"];

/// Every image of `chart` (read from the archive at `archive`): its annotations and values,
/// what `helm template` renders (as `source.helm_template` says), and the spec's
/// `extra_images`. `Err` when a values.yaml or a subchart's Chart.yaml cannot be parsed, or a
/// render `helm_template: always` asks for fails (the images would be incomplete).
pub(crate) async fn chart_images(
    chart: &ChartArchive,
    archive: &Path,
    source: &HelmSource,
) -> Result<Found, String> {
    let mut found = static_images(chart, &source.extra_images)?;
    super::template::add_rendered_images(source.helm_template, archive, &mut found).await?;
    Ok(found)
}

/// The images of `chart` found without rendering it, plus `extra` (the spec's
/// `extra_images`).
fn static_images(chart: &ChartArchive, extra: &[String]) -> Result<Found, String> {
    let mut found = Found::default();
    // Parse every part first: parents override their subcharts' values.
    let mut metas: BTreeMap<&str, Option<ChartMeta>> = BTreeMap::new();
    let mut values: BTreeMap<&str, Value> = BTreeMap::new();
    for part in &chart.parts {
        let meta = match (&part.chart_yaml, part.prefix.is_empty()) {
            (_, true) => Some(chart.meta.clone()),
            (Some(bytes), false) => Some(
                ChartMeta::parse(bytes).map_err(|e| format!("{}Chart.yaml: {e}", part.prefix))?,
            ),
            (None, false) => None,
        };
        metas.insert(&part.prefix, meta);
        let v = match &part.values_yaml {
            Some(bytes) => {
                match parse_yaml(bytes).map_err(|e| format!("{}values.yaml: {e}", part.prefix))? {
                    Value::Object(m) => Value::Object(m),
                    Value::Null => Value::Object(Map::new()),
                    _ => return Err(format!("{}values.yaml: not a mapping", part.prefix)),
                }
            }
            None => Value::Object(Map::new()),
        };
        values.insert(&part.prefix, v);
    }
    let root_global_registry = values
        .get("")
        .and_then(|v| v.pointer("/global/imageRegistry"))
        .and_then(scalar_text)
        .filter(|s| !s.is_empty());
    for part in &chart.parts {
        let prefix = part.prefix.as_str();
        let meta = metas.get(prefix).cloned().flatten();
        if let Some(meta) = &meta {
            for key in IMAGE_ANNOTATIONS {
                if let Some(text) = meta.annotations().get(key) {
                    annotation_images(
                        text,
                        &format!("{prefix}Chart.yaml annotation {key}"),
                        &mut found,
                    );
                }
            }
        }
        // Values as the chart sees them (a subchart without a values.yaml may still get images
        // from its parent's section for it): its own, overridden by each ancestor's section for it.
        let mut effective = values.get(prefix).cloned().unwrap_or(Value::Null);
        for (ancestor, paths) in ancestors(prefix, &metas) {
            for path in paths {
                let over = values
                    .get(ancestor.as_str())
                    .and_then(|v| path.iter().try_fold(v, |v, k| v.get(k)));
                if let Some(over) = over {
                    merge(&mut effective, over);
                }
            }
        }
        let global = root_global_registry.clone().or_else(|| {
            effective
                .pointer("/global/imageRegistry")
                .and_then(scalar_text)
                .filter(|s| !s.is_empty())
        });
        let ctx = Walk {
            place: format!("{prefix}values.yaml"),
            global_registry: global,
            app_version: meta.as_ref().and_then(|m| m.app_version.clone()),
            skip_keys: subchart_keys(prefix, chart, &metas),
        };
        ctx.walk(&effective, true, &mut found);
    }
    for image in extra {
        found.add(image, "extra_images");
    }
    Ok(found)
}

/// For a subchart at `prefix`, its ancestors from the nearest to the chart itself, each with the
/// key paths under which it holds values for this subchart: `charts/a/charts/b/` →
/// `[("charts/a/", [["b"]]), ("", [["a", "b"]])]` (a first step may be an alias instead).
/// Applied in this order, the farthest ancestor wins, as Helm coalesces values.
fn ancestors(
    prefix: &str,
    metas: &BTreeMap<&str, Option<ChartMeta>>,
) -> Vec<(String, Vec<Vec<String>>)> {
    let segments: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    let names: Vec<&str> = segments.iter().skip(1).step_by(2).copied().collect();
    let mut out = Vec::new();
    for level in (0..names.len()).rev() {
        let ancestor: String = names[..level]
            .iter()
            .map(|n| format!("charts/{n}/"))
            .collect();
        let first = aliases(
            metas.get(ancestor.as_str()).and_then(|m| m.as_ref()),
            names[level],
        );
        let paths = first
            .into_iter()
            .map(|k| {
                std::iter::once(k)
                    .chain(names[level + 1..].iter().map(|s| s.to_string()))
                    .collect()
            })
            .collect();
        out.push((ancestor, paths));
    }
    out
}

/// The keys a parent uses for its dependency `name`: the aliases its Chart.yaml gives it, else
/// the name.
fn aliases(parent: Option<&ChartMeta>, name: &str) -> Vec<String> {
    let mut keys: Vec<String> = parent
        .and_then(|m| m.raw.get("dependencies"))
        .and_then(Value::as_array)
        .map(|deps| {
            deps.iter()
                .filter(|d| d.get("name").and_then(scalar_text).as_deref() == Some(name))
                .filter_map(|d| d.get("alias").and_then(scalar_text))
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        keys.push(name.to_string());
    }
    keys
}

/// The top-level keys of the chart at `prefix` that hold values for its direct subcharts (walked
/// with those subcharts instead).
fn subchart_keys(
    prefix: &str,
    chart: &ChartArchive,
    metas: &BTreeMap<&str, Option<ChartMeta>>,
) -> Vec<String> {
    let parent = metas.get(prefix).and_then(|m| m.as_ref());
    let mut keys = Vec::new();
    for part in &chart.parts {
        if let Some(rest) = part.prefix.strip_prefix(&format!("{prefix}charts/"))
            && let Some(name) = rest.strip_suffix('/')
            && !name.contains('/')
        {
            keys.extend(aliases(parent, name));
        }
    }
    keys
}

/// Deep-merge `over` into `base` (maps merge, anything else replaces).
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Images in an annotation value: a YAML list of `{image: ref, …}` entries or plain strings.
fn annotation_images(text: &str, place: &str, found: &mut Found) {
    let list = match parse_yaml(text.as_bytes()) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            found
                .warnings
                .push(format!("{place}: not a YAML list; left out"));
            return;
        }
        Err(e) => {
            found.warnings.push(format!("{place}: {e}; left out"));
            return;
        }
    };
    for item in list {
        match &item {
            Value::String(s) => found.add(s, place),
            Value::Object(m) => {
                if let Some(s) = m.get("image").and_then(scalar_text) {
                    found.add(&s, place);
                }
            }
            _ => {}
        }
    }
}

/// How values are searched.
struct Walk {
    place: String,
    global_registry: Option<String>,
    app_version: Option<String>,
    /// Top-level keys left to the subcharts' own walk.
    skip_keys: Vec<String>,
}

impl Walk {
    fn walk(&self, v: &Value, top: bool, found: &mut Found) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    if top && self.skip_keys.contains(k) {
                        continue;
                    }
                    if k == "image" || (k.ends_with("Image") && k.len() > 5) {
                        match child {
                            Value::String(s) => {
                                found.add(s, &self.place);
                                continue;
                            }
                            Value::Object(spec) if spec.contains_key("repository") => {
                                if let Some(r) = self.map_reference(spec) {
                                    found.add(&r, &self.place);
                                }
                                continue;
                            }
                            _ => {}
                        }
                    }
                    self.walk(child, false, found);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, false, found);
                }
            }
            _ => {}
        }
    }

    /// `{registry, repository, tag, digest}`: the registry defaults to `global.imageRegistry`,
    /// an empty tag to the chart's `appVersion` (as `helm create`'s templates do).
    fn map_reference(&self, spec: &Map<String, Value>) -> Option<String> {
        let text = |k: &str| spec.get(k).and_then(scalar_text).filter(|s| !s.is_empty());
        let repository = text("repository")?;
        let registry = text("registry").or_else(|| self.global_registry.clone());
        let mut r = match registry {
            Some(reg) => format!("{}/{}", reg.trim_end_matches('/'), repository),
            None => repository,
        };
        let digest = text("digest");
        let tag = text("tag").or_else(|| {
            if digest.is_none() {
                self.app_version.clone()
            } else {
                None
            }
        });
        if let Some(t) = tag {
            r = format!("{r}:{t}");
        }
        if let Some(d) = digest {
            r = format!("{r}@{d}");
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::chart::ChartPart;
    use super::*;

    fn archive(parts: &[(&str, &str, &str)]) -> ChartArchive {
        let parts: Vec<ChartPart> = parts
            .iter()
            .map(|(prefix, chart, values)| ChartPart {
                prefix: prefix.to_string(),
                chart_yaml: Some(chart.as_bytes().to_vec()),
                values_yaml: Some(values.as_bytes().to_vec()),
            })
            .collect();
        ChartArchive {
            meta: ChartMeta::parse(parts[0].chart_yaml.as_deref().unwrap()).unwrap(),
            parts,
        }
    }

    #[test]
    fn finds_images_in_values_annotations_and_subcharts() {
        let chart = archive(&[
            (
                "",
                "name: app\nversion: 1.0.0\nappVersion: '2.1'\ndependencies: [{name: db, repository: x, alias: database}]\nannotations:\n  helm.sh/images: |\n    - name: app\n      image: ghcr.io/acme/app:2.1\n    - busybox:1.36\n",
                "global:\n  imageRegistry: reg.example.org\nimage:\n  repository: acme/app\n  tag: ''\nsidecars:\n  - image: \"quay.io/x/side:3\"\ndatabase:\n  image:\n    tag: '16.1'\nweird:\n  image: '{{ .Values.x }}'\n",
            ),
            (
                "charts/db/",
                "name: db\nversion: 0.1.0\n",
                "image:\n  registry: docker.io\n  repository: library/postgres\n  tag: '15'\n",
            ),
        ]);
        let found = static_images(&chart, &["alpine:3".to_string()]).unwrap();
        let list: Vec<(String, Vec<String>)> = found
            .images
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let get = |r: &str| {
            list.iter()
                .find(|(k, _)| k == r)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{r} not in {list:?}"))
        };
        assert_eq!(
            get("ghcr.io/acme/app:2.1"),
            ["Chart.yaml annotation helm.sh/images"]
        );
        assert_eq!(
            get("docker.io/library/busybox:1.36"),
            ["Chart.yaml annotation helm.sh/images"]
        );
        // global.imageRegistry and appVersion fill what the map leaves out.
        assert_eq!(get("reg.example.org/acme/app:2.1"), ["values.yaml"]);
        assert_eq!(get("quay.io/x/side:3"), ["values.yaml"]);
        // The parent's override (under the alias) wins over the subchart's tag.
        assert_eq!(
            get("docker.io/library/postgres:16.1"),
            ["charts/db/values.yaml"]
        );
        assert_eq!(get("docker.io/library/alpine:3"), ["extra_images"]);
        assert_eq!(list.len(), 6, "{list:?}");
    }

    #[test]
    fn a_parent_can_give_a_subchart_without_values_its_image() {
        let mut chart = archive(&[
            (
                "",
                "name: app\nversion: 1.0.0\n",
                "worker:\n  image: {repository: acme/worker, tag: '5'}\n",
            ),
            ("charts/worker/", "name: worker\nversion: 0.1.0\n", ""),
        ]);
        chart.parts[1].values_yaml = None;
        let found = static_images(&chart, &[]).unwrap();
        let list: Vec<(String, Vec<String>)> = found
            .images
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(
            list,
            [(
                "docker.io/acme/worker:5".to_string(),
                vec!["charts/worker/values.yaml".to_string()]
            )]
        );
    }

    #[test]
    fn a_bad_values_file_is_an_error_and_a_bad_reference_a_warning() {
        let chart = archive(&[("", "name: a\nversion: 1.0.0\n", "image: [unclosed\n")]);
        let e = static_images(&chart, &[]).unwrap_err();
        assert!(e.starts_with("values.yaml: "), "{e}");
        let chart = archive(&[("", "name: a\nversion: 1.0.0\n", "image: 'Not A Ref'\n")]);
        let found = static_images(&chart, &[]).unwrap();
        assert!(found.images.is_empty());
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
    }
}
