//! Blobs on a registry: HEAD (present? size) and GET as a stream.

use futures_util::StreamExt as _;
use mirrorkit_core::digest::Digest;
use reqwest::Method;
use reqwest::header::CONTENT_LENGTH;

use super::auth::Scope;
use super::{BlobStream, Registry, Req, check_repository};
use crate::error::OciError;

impl Registry {
    fn blob_url(&self, repo: &str, digest: &Digest) -> Result<url::Url, OciError> {
        check_repository(repo)?;
        self.url(&format!("v2/{repo}/blobs/{digest}"))
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: the blob's size when present, `None` when not.
    pub async fn head_blob(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, OciError> {
        let url = self.blob_url(repo, digest)?;
        let resp = self
            .execute(&Scope::pull(repo), Req::new(Method::HEAD, url))
            .await?;
        match resp.status().as_u16() {
            404 => Ok(None),
            s if (200..300).contains(&s) => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            _ => Err(self
                .status_error(resp, &format!("HEAD blob {repo}@{digest}"))
                .await),
        }
    }

    /// `GET /v2/<repo>/blobs/<digest>` as a stream of chunks. The stream is not verified here:
    /// whoever writes it (an upload, a layout) hashes it and refuses a mismatch before commit.
    pub async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<BlobStream, OciError> {
        let url = self.blob_url(repo, digest)?;
        let resp = self
            .execute(&Scope::pull(repo), Req::new(Method::GET, url))
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .status_error(resp, &format!("blob {repo}@{digest}"))
                .await);
        }
        let host = self.host.clone();
        let stream = resp.into_inner().bytes_stream().map(move |r| {
            r.map_err(|e| OciError::Unreachable {
                target: host.clone(),
                reason: mirrorkit_core::http::redact::error_chain(&e),
            })
        });
        Ok(Box::pin(stream))
    }
}
