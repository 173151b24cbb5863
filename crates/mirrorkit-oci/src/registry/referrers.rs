//! The referrers API (OCI distribution 1.1): `GET /v2/<repo>/referrers/<digest>` answers an image
//! index whose `manifests` are the manifests whose `subject` is `<digest>`. A registry without it
//! (distribution 2.8, Debian's `docker-registry`) answers 404; the tag schema
//! (`sha256-<hex>`) is then the fallback.

use reqwest::Method;
use reqwest::header::{ACCEPT, LINK};

use super::auth::Scope;
use super::{Registry, Req, check_repository, read_limited};
use crate::error::OciError;
use crate::media::{MAX_MANIFEST_BYTES, OCI_INDEX};
use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::link::next_link;

/// Pages of referrers followed at most (a registry that keeps linking is cut off).
const MAX_PAGES: usize = 64;

impl Registry {
    /// The descriptors of every manifest referring to `digest` in `repo`, through the referrers
    /// API; `None` when the registry has no referrers API (404, or 400/405/406/501).
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<serde_json::Value>>, OciError> {
        check_repository(repo)?;
        let mut url = self.url(&format!("v2/{repo}/referrers/{digest}"))?;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let req = Req::new(Method::GET, url.clone()).header(ACCEPT, OCI_INDEX);
            let resp = self.execute(&Scope::pull(repo), req).await?;
            // 404 is what the specification says a registry without the API answers; some
            // answer 400, 405 or 501 for a route they do not know.
            if matches!(resp.status().as_u16(), 400 | 404 | 405 | 406 | 501) {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(self
                    .status_error(resp, &format!("referrers of {repo}@{digest}"))
                    .await);
            }
            let next = resp
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = read_limited(resp.into_inner(), MAX_MANIFEST_BYTES).await?;
            let doc: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| OciError::malformed(format!("referrers of {repo}@{digest}"), e))?;
            if let Some(list) = doc.get("manifests").and_then(|m| m.as_array()) {
                out.extend(list.iter().cloned());
            }
            match next {
                Some(n) => {
                    let joined = url
                        .join(&n)
                        .map_err(|e| OciError::malformed("referrers Link header", e))?;
                    if joined.origin() != self.base.origin() || joined == url {
                        break;
                    }
                    url = joined;
                }
                None => break,
            }
        }
        Ok(Some(out))
    }
}
