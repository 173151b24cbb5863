//! SBOMs as lists of packages to mirror: CycloneDX JSON (1.2–1.7, `components` nested at any
//! depth) and XML (any schema version), SPDX 2.2/2.3 JSON and tag-value. Each reader returns the
//! PURLs it found with where it found them (a JSON pointer or a line), and the SBOM's own subject
//! (CycloneDX `metadata.component`, SPDX's described package: the project that produced it),
//! which is reported and not mirrored.

mod cyclonedx_json;
mod cyclonedx_xml;
mod spdx_json;
mod spdx_tag;

use std::path::Path;

/// Refuse SBOMs larger than this (a big monorepo's SBOM is a few MiB).
const MAX_SBOM_BYTES: u64 = 256 << 20;

/// A PURL found in an SBOM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The PURL text.
    pub purl: String,
    /// Where: `#/components/3/purl` (JSON pointer) or `line 12`.
    pub at: String,
}

/// What an SBOM lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sbom {
    /// `cyclonedx-json`, `cyclonedx-xml`, `spdx-json` or `spdx-tag-value`.
    pub format: &'static str,
    /// The subject (a PURL when it has one, else its name), skipped.
    pub subject: Option<String>,
    /// Every package PURL other than the subject's, in document order.
    pub packages: Vec<Found>,
}

/// Read the SBOM at `path`; the error names the file and what is wrong.
pub fn read(path: &Path) -> Result<Sbom, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_SBOM_BYTES {
        return Err(format!(
            "{}: larger than {MAX_SBOM_BYTES} bytes; not read as an SBOM",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parse an SBOM of any supported format.
pub fn parse(bytes: &[u8]) -> Result<Sbom, String> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|e| format!("not UTF-8 text: {e}"))?;
    let start = text.trim_start();
    let mut sbom = if start.starts_with('<') {
        cyclonedx_xml::parse(text)?
    } else if start.starts_with('{') {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if doc.get("bomFormat").and_then(|v| v.as_str()) == Some("CycloneDX") {
            cyclonedx_json::parse(&doc)?
        } else if doc.get("spdxVersion").is_some() {
            spdx_json::parse(&doc)?
        } else {
            return Err(
                "a JSON document that is neither CycloneDX (`bomFormat`) nor SPDX (`spdxVersion`)"
                    .into(),
            );
        }
    } else if text
        .lines()
        .any(|l| l.trim_start().starts_with("SPDXVersion:"))
    {
        spdx_tag::parse(text)?
    } else {
        return Err("not an SBOM (CycloneDX JSON or XML, SPDX JSON or tag-value)".into());
    };
    if let Some(subject) = &sbom.subject {
        sbom.packages.retain(|f| &f.purl != subject);
    }
    Ok(sbom)
}

/// Escape a JSON pointer token (RFC 6901).
fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn no_input_panics(s in "\\PC{0,400}") {
            let _ = parse(s.as_bytes());
            let _ = parse(format!("{{\"bomFormat\":\"CycloneDX\",{s}").as_bytes());
            let _ = parse(format!("SPDXVersion: SPDX-2.3\n{s}").as_bytes());
            let _ = parse(format!("<bom>{s}").as_bytes());
        }
    }
}
