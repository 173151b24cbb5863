//! URLs that upstream documents point at, and where they may lead.
//!
//! The rule: a document fetched over http(s) may only point at http(s) URLs; `file://` URLs
//! (and relative paths that resolve to one) are allowed only in documents that are themselves
//! local — inline `versions:`, a local file, a generator's output. A url_index served over HTTP
//! that named `file:///etc/passwd` as an asset once got that file published as a layer. A
//! redirect cannot reach `file://` (the HTTP client follows http(s) redirects only); this closes
//! the direct path for every document that carries URLs (url_index assets, helm `index.yaml`
//! chart URLs; GitHub asset URLs are checked to be https/http where they are read).

use url::Url;

use crate::http::redact::SafeUrl;

/// Resolve `reference` (absolute, or relative to the document) against `document`, the URL the
/// document was read from, and refuse a scheme the document may not point at. The error is a
/// sentence naming the URL (credential-free) and why.
pub fn resolve(document: &Url, reference: &str) -> Result<Url, String> {
    let resolved = document
        .join(reference)
        .map_err(|e| format!("bad URL {reference:?}: {e}"))?;
    let local_document = document.scheme() == "file";
    match resolved.scheme() {
        "http" | "https" => Ok(resolved),
        "file" if local_document => Ok(resolved),
        "file" => Err(format!(
            "URL {} points into the local file system, which a document fetched from {} may \
             not do (only local documents may name file:// URLs)",
            SafeUrl::new(&resolved),
            SafeUrl::new(document)
        )),
        other => Err(format!(
            "URL {}: unsupported scheme {other:?} (http, https{})",
            SafeUrl::new(&resolved),
            if local_document { ", file" } else { "" }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn which_documents_may_point_where() {
        let remote = url("https://example.org/releases/index.json");
        let plain = url("http://127.0.0.1:8080/index.json");
        let local = url("file:///srv/mirror/index.json");
        let cases: &[(&Url, &str, Option<&str>)] = &[
            (
                &remote,
                "https://cdn.example.org/a.tar.gz",
                Some("https://cdn.example.org/a.tar.gz"),
            ),
            (
                &remote,
                "a.tar.gz",
                Some("https://example.org/releases/a.tar.gz"),
            ),
            (&remote, "http://other/a", Some("http://other/a")),
            (&remote, "file:///etc/passwd", None),
            (&plain, "file:///etc/passwd", None),
            (&plain, "FILE:///etc/passwd", None),
            (&plain, "ftp://example.org/a", None),
            (&plain, "data:text/plain,hi", None),
            (&local, "a.tar.gz", Some("file:///srv/mirror/a.tar.gz")),
            (&local, "file:///etc/hosts", Some("file:///etc/hosts")),
            (
                &local,
                "https://example.org/a",
                Some("https://example.org/a"),
            ),
            (&local, "ftp://example.org/a", None),
        ];
        for (doc, reference, expected) in cases {
            let got = resolve(doc, reference);
            match expected {
                Some(e) => assert_eq!(got.as_ref().map(Url::as_str), Ok(*e), "{doc} + {reference}"),
                None => assert!(
                    got.is_err(),
                    "{doc} + {reference} should be refused: {got:?}"
                ),
            }
        }
        let message = resolve(&plain, "file:///etc/passwd").unwrap_err();
        assert!(
            message.contains("file:///etc/passwd") && message.contains("local file system"),
            "{message}"
        );
    }
}
