//! CycloneDX JSON: `components` (and each component's own `components`, at any depth); the
//! subject is `metadata.component`.

use serde_json::Value;

use super::{Found, Sbom, pointer_token};

/// Deeper nesting than this is refused rather than followed.
const MAX_DEPTH: usize = 64;

pub(super) fn parse(doc: &Value) -> Result<Sbom, String> {
    let subject = doc
        .pointer("/metadata/component")
        .and_then(|c| {
            c.get("purl")
                .and_then(Value::as_str)
                .or(c.get("name")?.as_str())
        })
        .map(str::to_string);
    let mut packages = Vec::new();
    walk(doc.get("components"), "/components", 0, &mut packages)?;
    Ok(Sbom {
        format: "cyclonedx-json",
        subject,
        packages,
    })
}

fn walk(list: Option<&Value>, at: &str, depth: usize, out: &mut Vec<Found>) -> Result<(), String> {
    let Some(list) = list else {
        return Ok(());
    };
    let Some(items) = list.as_array() else {
        return Err(format!("#{at} is not an array"));
    };
    if depth > MAX_DEPTH {
        return Err(format!("#{at}: components nested deeper than {MAX_DEPTH}"));
    }
    for (i, c) in items.iter().enumerate() {
        let here = format!("{at}/{i}");
        if let Some(p) = c.get("purl") {
            let purl = p
                .as_str()
                .ok_or_else(|| format!("#{here}/purl is not a string"))?;
            out.push(Found {
                purl: purl.to_string(),
                at: format!("#{here}/{}", pointer_token("purl")),
            });
        }
        walk(
            c.get("components"),
            &format!("{here}/components"),
            depth + 1,
            out,
        )?;
    }
    Ok(())
}
