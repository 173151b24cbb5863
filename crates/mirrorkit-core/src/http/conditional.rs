//! Metadata documents (an npm packument, a PyPI project page, a cargo index file, an apt
//! `InRelease`) fetched with the `ETag` they had last time: unchanged, the upstream answers a
//! bodiless 304 and the cached copy is used, so a warm run costs one conditional request per
//! document.

use url::Url;

use crate::exit::{ExitCode, HasExitCode};
use crate::http::HttpClient;
use crate::http::etag_cache::EtagCache;
use crate::http::redact::SafeUrl;

/// Refuse metadata documents larger than this (the biggest npm packuments are ~100 MiB).
pub const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// Why a document could not be had (its message names the URL, credential-free).
#[derive(Debug)]
pub struct DocumentError {
    /// What went wrong.
    pub message: String,
    /// The exit code it stands for: 1 when the document does not exist, 69 when the upstream
    /// cannot be had, 77 when it refuses access.
    pub code: ExitCode,
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl HasExitCode for DocumentError {
    fn exit_code(&self) -> ExitCode {
        self.code
    }
}

/// GET `url` with `accept`, conditionally when `cache` has it; the body (fresh or cached).
pub async fn get(
    http: &HttpClient,
    cache: &EtagCache,
    url: &Url,
    accept: &str,
) -> Result<Vec<u8>, DocumentError> {
    let what = SafeUrl::new(url).to_string();
    let cached = cache.load(url).await;
    let etag = cached
        .as_ref()
        .map(|c| c.etag.clone())
        .filter(|e| !e.is_empty());
    let last_modified = cached.as_ref().and_then(|c| c.last_modified.clone());
    let response = http
        .send(url, |c| {
            let mut r = c.get(url.clone()).header(reqwest::header::ACCEPT, accept);
            if let Some(e) = &etag {
                r = r.header(reqwest::header::IF_NONE_MATCH, e.as_str());
            } else if let Some(l) = &last_modified {
                r = r.header(reqwest::header::IF_MODIFIED_SINCE, l.as_str());
            }
            r
        })
        .await
        .map_err(|e| DocumentError {
            code: e.exit_code(),
            message: e.to_string(),
        })?;
    let status = response.status().as_u16();
    match status {
        304 => {
            return cached.map(|c| c.body).ok_or_else(|| DocumentError {
                code: ExitCode::Unavailable,
                message: format!("{what}: answered 304 to a request that was not conditional"),
            });
        }
        200 => {}
        404 | 410 => {
            return Err(DocumentError {
                code: ExitCode::ItemFailed,
                message: format!("{what}: not found ({status})"),
            });
        }
        401 | 403 => {
            return Err(DocumentError {
                code: ExitCode::NoPermission,
                message: format!("{what}: access refused ({status})"),
            });
        }
        _ => {
            return Err(DocumentError {
                code: ExitCode::Unavailable,
                message: format!("{what}: answered {status}"),
            });
        }
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let new_etag = header(reqwest::header::ETAG);
    let new_last_modified = header(reqwest::header::LAST_MODIFIED);
    let body = response
        .read_capped(MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| DocumentError {
            code: ExitCode::Unavailable,
            message: format!("{what}: {e}"),
        })?;
    if new_etag.is_some() || new_last_modified.is_some() {
        let validators = super::etag_cache::Validators {
            etag: new_etag.as_deref(),
            last_modified: new_last_modified.as_deref(),
        };
        cache.store_with(url, validators, None, &body).await;
    }
    Ok(body)
}
