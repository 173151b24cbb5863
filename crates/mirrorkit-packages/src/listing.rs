//! A whole registry (`--registry ECOSYSTEM`, a spec's `registry:`): only a private upstream that
//! lists itself — a PyPI simple index's root page (PEP 691 JSON `projects`, or PEP 503 HTML
//! anchors) — is listed, and every project it names is asked for as a PURL without a version
//! (the version policy applies). A public registry is never mirrored whole; npm and cargo
//! registries have no listing (npm's `/-/all` is gone, a sparse index lists nothing) and are
//! refused with a sentence saying so.

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::conditional as document;
use mirrorkit_core::http::etag_cache::EtagCache;
use mirrorkit_core::http::redact::SafeUrl;
use serde_json::Value;
use url::Url;

use crate::MirrorError;
use crate::inputs::Requested;
use crate::purl::{self, Ecosystem};

/// Why `ecosystem`'s registry at `upstream` cannot be listed, if it cannot.
pub fn refusal(ecosystem: Ecosystem, upstream: Option<&Url>) -> Option<String> {
    mirrorkit_core::source::packages::whole_registry_refusal(&ecosystem.to_string(), upstream)
        .map(|why| format!("--registry {ecosystem}: {why}"))
}

/// The project names of a simple index root page.
fn project_names(text: &str) -> Result<Vec<String>, String> {
    if text.trim_start().starts_with('{') {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = doc
            .get("projects")
            .and_then(Value::as_array)
            .ok_or("no `projects` array")?;
        Ok(list
            .iter()
            .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
            .collect())
    } else {
        Ok(crate::html_links::links(text)
            .into_iter()
            .map(|l| crate::html_links::decode(l.text.trim()))
            .filter(|t| !t.is_empty())
            .collect())
    }
}

/// Every project the private index at `upstream` lists, as unversioned PURLs; at most
/// `max_packages` of them.
pub async fn list(
    http: &HttpClient,
    cache: &EtagCache,
    upstream: &Url,
    max_packages: usize,
) -> Result<Vec<Requested>, MirrorError> {
    let what = SafeUrl::new(upstream).to_string();
    let bytes = document::get(
        http,
        cache,
        upstream,
        "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1",
    )
    .await
    .map_err(|e| MirrorError {
        code: e.exit_code(),
        message: format!("--registry pypi: {}", e.message),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| MirrorError {
        message: format!("{what}: not UTF-8: {e}"),
        code: ExitCode::Data,
    })?;
    let names = project_names(&text).map_err(|e| MirrorError {
        message: format!("{what}: {e}"),
        code: ExitCode::Data,
    })?;
    if names.len() > max_packages {
        return Err(MirrorError {
            message: format!(
                "{what} lists {} projects, more than --max-packages {max_packages}; raise it to \
                 mirror them all",
                names.len()
            ),
            code: ExitCode::Usage,
        });
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for name in names {
        let normalised = purl::normalise_pypi(&name);
        if !purl::is_valid_name(Ecosystem::Pypi, &normalised) {
            skipped += 1;
            continue;
        }
        let text = format!("pkg:pypi/{normalised}");
        match purl::parse(&text) {
            Ok(package) => out.push(Requested {
                package,
                origin: format!("the listing of {what}"),
            }),
            Err(_) => skipped += 1,
        }
    }
    if skipped > 0 {
        tracing::warn!(index = %what, skipped, "names that are not project names left out");
    }
    out.sort_by(|a, b| a.package.name.cmp(&b.package.name));
    out.dedup_by(|a, b| a.package.name == b.package.name);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_in_json_and_html_and_public_registries_refused() {
        let json = r#"{"meta":{"api-version":"1.0"},"projects":[{"name":"A_b"},{"name":"c"}]}"#;
        assert_eq!(project_names(json).unwrap(), ["A_b", "c"]);
        let html = "<html><body><a href=\"a-b/\">A_b</a><br/><a href=\"c/\"> c </a></body></html>";
        assert_eq!(project_names(html).unwrap(), ["A_b", "c"]);
        assert!(project_names("{\"meta\":{}}").is_err());
        let public = Url::parse("https://pypi.org/simple/").unwrap();
        assert!(
            refusal(Ecosystem::Pypi, Some(&public))
                .unwrap()
                .contains("never mirrored whole")
        );
        assert!(
            refusal(Ecosystem::Pypi, None)
                .unwrap()
                .contains("--upstream pypi=URL")
        );
        assert!(refusal(Ecosystem::Npm, None).is_some());
        assert!(refusal(Ecosystem::Cargo, None).is_some());
        let private = Url::parse("https://pypi.corp.example/simple/").unwrap();
        assert_eq!(refusal(Ecosystem::Pypi, Some(&private)), None);
    }
}
