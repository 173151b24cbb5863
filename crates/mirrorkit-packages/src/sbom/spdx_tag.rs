//! SPDX tag-value: `ExternalRef: PACKAGE-MANAGER purl <purl>` lines, each belonging to the
//! package whose `SPDXID:` came last; `Relationship: SPDXRef-DOCUMENT DESCRIBES <id>` (or
//! `DocumentDescribes:`) names the subject.

use super::{Found, Sbom};

pub(super) fn parse(text: &str) -> Result<Sbom, String> {
    let mut described = Vec::new();
    // (package SPDXID, package name, purl, line)
    let mut refs: Vec<(String, String, Option<String>, usize)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    let mut in_text = false;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        // Multi-line values are wrapped in <text>…</text>; nothing inside is a tag.
        if in_text {
            in_text = !line.contains("</text>");
            continue;
        }
        if line.contains("<text>") && !line.contains("</text>") {
            in_text = true;
        }
        let Some((tag, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match tag.trim() {
            "PackageName" => current = Some((String::new(), value.to_string())),
            "SPDXID" => {
                if let Some((id, name)) = &mut current
                    && id.is_empty()
                {
                    *id = value.to_string();
                    refs.push((id.clone(), name.clone(), None, line_no));
                }
            }
            "ExternalRef" => {
                let mut parts = value.split_whitespace();
                let (category, kind, locator) = (parts.next(), parts.next(), parts.next());
                if matches!(category, Some("PACKAGE-MANAGER" | "PACKAGE_MANAGER"))
                    && kind == Some("purl")
                {
                    let Some(locator) = locator else {
                        return Err(format!("line {line_no}: ExternalRef without a locator"));
                    };
                    let Some((id, name)) = &current else {
                        return Err(format!("line {line_no}: ExternalRef outside a package"));
                    };
                    refs.push((id.clone(), name.clone(), Some(locator.to_string()), line_no));
                }
            }
            "Relationship" => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                if let [doc, "DESCRIBES", id] = parts.as_slice()
                    && *doc == "SPDXRef-DOCUMENT"
                {
                    described.push(id.to_string());
                }
            }
            "DocumentDescribes" => {
                described.extend(value.split(',').map(|s| s.trim().to_string()));
            }
            _ => {}
        }
    }
    let mut subject = None;
    let mut packages = Vec::new();
    for (id, name, purl, line) in refs {
        if described.contains(&id) {
            if subject.is_none() || purl.is_some() {
                subject = Some(purl.unwrap_or(name));
            }
            continue;
        }
        if let Some(purl) = purl {
            packages.push(Found {
                purl,
                at: format!("line {line}"),
            });
        }
    }
    Ok(Sbom {
        format: "spdx-tag-value",
        subject,
        packages,
    })
}
