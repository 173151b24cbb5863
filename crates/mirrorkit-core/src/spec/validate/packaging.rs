//! `asset_type`, `strip_components` and `metadata`: each a single value for every platform, or a
//! `default` plus per-platform values (the ocx-mirror forms). They arrive as raw YAML values so
//! every form gets a precise message.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::{Ctx, Located, MirrorFields, Platform, PlatformAssets, SpecError};
use crate::spec::AssetTypeSpec;

/// A value for every platform: the default and the per-platform overrides.
struct PerPlatform<T> {
    default: Option<T>,
    platforms: BTreeMap<Platform, T>,
}

impl<T: Clone> PerPlatform<T> {
    fn get(&self, p: &Platform) -> Option<T> {
        self.platforms
            .get(p)
            .cloned()
            .or_else(|| self.default.clone())
    }
}

/// Split `{default, platforms}` or a single value (`single` decides what counts as one).
fn per_platform<T>(
    ctx: &Ctx<'_>,
    at: &Located<Value>,
    field: &str,
    platforms: &[PlatformAssets],
    is_map_form: bool,
    parse: &dyn Fn(&Value, &str) -> Result<T, String>,
) -> Result<PerPlatform<T>, SpecError> {
    let err = |f: &str, m: String| ctx.err(at, f, m);
    if !is_map_form {
        return Ok(PerPlatform {
            default: Some(parse(&at.value, field).map_err(|m| err(field, m))?),
            platforms: BTreeMap::new(),
        });
    }
    let Some(obj) = at.value.as_object() else {
        return Err(err(
            field,
            "expected a value or {default, platforms}".into(),
        ));
    };
    let mut out = PerPlatform {
        default: None,
        platforms: BTreeMap::new(),
    };
    for (k, v) in obj {
        match k.as_str() {
            "default" => {
                let f = format!("{field}.default");
                out.default = Some(parse(v, &f).map_err(|m| err(&f, m))?);
            }
            "platforms" => {
                let Some(map) = v.as_object() else {
                    return Err(err(
                        &format!("{field}.platforms"),
                        "expected a map of os/arch → value".into(),
                    ));
                };
                for (pk, pv) in map {
                    let f = format!("{field}.platforms.{pk}");
                    let p: Platform = pk
                        .parse()
                        .map_err(|e: crate::platform::PlatformParseError| err(&f, e.to_string()))?;
                    if !platforms.iter().any(|x| x.platform == p) {
                        return Err(err(
                            &f,
                            format!("{pk} is not one of the platforms under `assets`"),
                        ));
                    }
                    out.platforms
                        .insert(p, parse(pv, &f).map_err(|m| err(&f, m))?);
                }
            }
            other => {
                return Err(err(
                    &format!("{field}.{other}"),
                    "unknown field (expected `default` or `platforms`)".into(),
                ));
            }
        }
    }
    Ok(out)
}

#[derive(Clone)]
struct AssetType {
    kind: AssetTypeSpec,
    strip: Option<u32>,
    name: Option<String>,
}

fn strip_number(v: &Value, _f: &str) -> Result<u32, String> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n <= 64)
        .ok_or_else(|| format!("expected a number of path components (0–64), got {v}"))
}

fn asset_type(v: &Value, _f: &str) -> Result<AssetType, String> {
    let kind = |s: &str| match s {
        "archive" => Ok(AssetTypeSpec::Archive),
        "binary" => Ok(AssetTypeSpec::Binary),
        other => Err(format!("unknown asset type {other:?} (archive or binary)")),
    };
    match v {
        Value::String(s) => Ok(AssetType {
            kind: kind(s)?,
            strip: None,
            name: None,
        }),
        Value::Object(o) => {
            let mut t = AssetType {
                kind: AssetTypeSpec::Archive,
                strip: None,
                name: None,
            };
            let Some(Value::String(k)) = o.get("type") else {
                return Err("expected `type: archive` or `type: binary`".into());
            };
            t.kind = kind(k)?;
            for (key, val) in o {
                match key.as_str() {
                    "type" => {}
                    "strip_components" if t.kind == AssetTypeSpec::Archive => {
                        t.strip = Some(strip_number(val, "")?);
                    }
                    "name" if t.kind == AssetTypeSpec::Binary => {
                        let name = val.as_str().unwrap_or_default();
                        if name.is_empty()
                            || name.contains('/')
                            || name.contains('\\')
                            || name == "."
                            || name == ".."
                        {
                            return Err(format!("binary name {val} must be a plain file name"));
                        }
                        t.name = Some(name.to_string());
                    }
                    other => {
                        return Err(format!("unknown field {other:?} for a {k} asset type"));
                    }
                }
            }
            Ok(t)
        }
        other => Err(format!("expected archive, binary or a map, got {other}")),
    }
}

fn is_per_platform(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.contains_key("default") || o.contains_key("platforms"))
}

pub(super) fn apply(
    ctx: &Ctx<'_>,
    m: &MirrorFields<'_>,
    platforms: &mut [PlatformAssets],
    field: &dyn Fn(&str) -> String,
) -> Result<(), SpecError> {
    let types = match m.asset_type {
        Some(at) => {
            let map_form = is_per_platform(&at.value);
            if map_form && at.value.as_object().is_some_and(|o| o.contains_key("type")) {
                return Err(ctx.err(
                    at,
                    field("asset_type"),
                    "give either `type` or `default`/`platforms`, not both",
                ));
            }
            Some(per_platform(
                ctx,
                at,
                &field("asset_type"),
                platforms,
                map_form,
                &asset_type,
            )?)
        }
        None => None,
    };
    let strips = match m.strip_components {
        Some(at) => Some(per_platform(
            ctx,
            at,
            &field("strip_components"),
            platforms,
            at.value.is_object(),
            &strip_number,
        )?),
        None => None,
    };
    let metadata = match m.metadata {
        Some(at) => {
            let read = |v: &Value, f: &str| -> Result<Arc<Value>, String> {
                let Some(p) = v.as_str() else {
                    return Err(format!("expected a path to a JSON file, got {v}"));
                };
                let path = ctx.resolve(std::path::Path::new(p));
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let value: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
                if !value.is_object() {
                    return Err(format!("{} must hold a JSON object", path.display()));
                }
                let _ = f;
                Ok(Arc::new(value))
            };
            Some(per_platform(
                ctx,
                at,
                &field("metadata"),
                platforms,
                at.value.is_object(),
                &read,
            )?)
        }
        None => None,
    };
    for p in platforms.iter_mut() {
        let t = types.as_ref().and_then(|t| t.get(&p.platform));
        if let Some(t) = &t {
            p.asset_type = t.kind;
            p.binary_name = t.name.clone();
        }
        let mut strip = strips
            .as_ref()
            .and_then(|s| s.get(&p.platform))
            .or(t.as_ref().and_then(|t| t.strip));
        if let Some(meta) = metadata.as_ref().and_then(|m| m.get(&p.platform)) {
            let mut value = (*meta).clone();
            // ocx metadata files may carry `strip_components`; it is a packaging setting
            // here (the layer is stripped), so it moves out of the config.
            if let Some(obj) = value.as_object_mut()
                && let Some(s) = obj.remove("strip_components")
                && strip.is_none()
            {
                strip = s.as_u64().and_then(|n| u32::try_from(n).ok());
            }
            if let Err(e) = crate::spec::ocx_metadata::check(&value) {
                let at = m.metadata.map_or((0, 0), |a| (a.line, a.column));
                return Err(SpecError::Invalid {
                    path: ctx.path.to_path_buf(),
                    line: at.0,
                    column: at.1,
                    field: field("metadata"),
                    message: format!("{}: {e}", p.platform),
                });
            }
            p.metadata = Some(Arc::new(value));
        }
        p.strip_components = strip.unwrap_or(0);
    }
    Ok(())
}
