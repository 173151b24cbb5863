//! SPDX 2.2/2.3 JSON: each package's `externalRefs` of category `PACKAGE-MANAGER` (2.3) or
//! `PACKAGE_MANAGER` (2.2) and type `purl`. The described packages (`documentDescribes`, or the
//! `DESCRIBES` relationships of the document) are the subject.

use serde_json::Value;

use super::{Found, Sbom};

pub(super) fn parse(doc: &Value) -> Result<Sbom, String> {
    let mut described: Vec<&str> = doc
        .get("documentDescribes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for r in doc
        .get("relationships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if r.get("relationshipType").and_then(Value::as_str) == Some("DESCRIBES")
            && r.get("spdxElementId").and_then(Value::as_str) == Some("SPDXRef-DOCUMENT")
            && let Some(id) = r.get("relatedSpdxElement").and_then(Value::as_str)
        {
            described.push(id);
        }
    }
    let packages = match doc.get("packages") {
        None => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("#/packages is not an array".into()),
    };
    let mut subject = None;
    let mut found = Vec::new();
    for (i, p) in packages.iter().enumerate() {
        let id = p.get("SPDXID").and_then(Value::as_str).unwrap_or("");
        let purls: Vec<(usize, &str)> = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, r)| {
                matches!(
                    r.get("referenceCategory").and_then(Value::as_str),
                    Some("PACKAGE-MANAGER" | "PACKAGE_MANAGER")
                ) && r.get("referenceType").and_then(Value::as_str) == Some("purl")
            })
            .filter_map(|(j, r)| Some((j, r.get("referenceLocator")?.as_str()?)))
            .collect();
        if described.contains(&id) {
            subject = purls
                .first()
                .map(|(_, p)| p.to_string())
                .or_else(|| p.get("name").and_then(Value::as_str).map(str::to_string));
            continue;
        }
        for (j, purl) in purls {
            found.push(Found {
                purl: purl.to_string(),
                at: format!("#/packages/{i}/externalRefs/{j}/referenceLocator"),
            });
        }
    }
    Ok(Sbom {
        format: "spdx-json",
        subject,
        packages: found,
    })
}
