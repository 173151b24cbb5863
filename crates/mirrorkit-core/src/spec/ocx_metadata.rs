//! The `metadata:` a release mirror gives its ocx packages: the rules the spec holds it to. The
//! release family writes it into each package's config ([`FORMAT_VERSION`], `type: bundle`).

/// The ocx metadata format version mirrorkit writes (not the package's version).
pub const FORMAT_VERSION: u64 = 1;

/// Whether `metadata` can go into an ocx package config: a JSON object that declares no other
/// `type` than `bundle`, no other `version` than [`FORMAT_VERSION`], and no `strip_components`
/// (the layer is already stripped; ocx would strip it a second time on install).
pub fn check(metadata: &serde_json::Value) -> Result<(), String> {
    let object = metadata
        .as_object()
        .ok_or_else(|| "package metadata must be a JSON object".to_string())?;
    match object.get("type") {
        None => {}
        Some(serde_json::Value::String(t)) if t == "bundle" => {}
        Some(other) => {
            return Err(format!(
                "metadata \"type\" is {other}; ocx packages built by mirrorkit are \"bundle\""
            ));
        }
    }
    match object.get("version") {
        None => {}
        Some(v) if v.as_u64() == Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(format!(
                "metadata \"version\" is {other}; it is the ocx metadata format version and must be 1 \
                 (the package version goes into the manifest annotations)"
            ));
        }
    }
    if object.contains_key("strip_components") {
        return Err(
            "metadata must not set \"strip_components\": mirrorkit strips while building the \
             layer (set strip_components on the mirror instead)"
                .to_string(),
        );
    }
    Ok(())
}
