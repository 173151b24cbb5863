//! Manifests on a registry: HEAD (digest, media type, size), GET as raw bytes verified against the
//! digest, PUT raw bytes with their media type. Manifests are never re-serialised, so digests
//! survive a copy.

use bytes::Bytes;
use mirrorkit_core::digest::Digest;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};

use super::auth::Scope;
use super::{Registry, Req, check_repository, read_limited};
use crate::error::OciError;
use crate::media::{MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, base, sniff};

/// What a `HEAD` of a manifest says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    /// `Docker-Content-Digest` (or the digest asked for).
    pub digest: Option<Digest>,
    /// `Content-Type`, parameters stripped.
    pub media_type: String,
    /// `Content-Length`.
    pub size: u64,
}

/// A manifest as fetched: the exact bytes, their media type and verified digest.
#[derive(Clone, Debug)]
pub struct RawManifest {
    /// The bytes exactly as served.
    pub bytes: Bytes,
    /// The media type (from `Content-Type`, or the document's `mediaType`).
    pub media_type: String,
    /// SHA-256 of `bytes`.
    pub digest: Digest,
}

pub(crate) fn digest_header(resp: &reqwest::Response) -> Option<Digest> {
    resp.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl Registry {
    fn manifest_url(&self, repo: &str, reference: &str) -> Result<url::Url, OciError> {
        check_repository(repo)?;
        check_reference(reference)?;
        self.url(&format!("v2/{repo}/manifests/{reference}"))
    }

    /// `HEAD /v2/<repo>/manifests/<reference>`; `None` when it does not exist.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, OciError> {
        let url = self.manifest_url(repo, reference)?;
        let req = Req::new(Method::HEAD, url).header(ACCEPT, MANIFEST_ACCEPT);
        let resp = self.execute(&Scope::pull(repo), req).await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self
                .status_error(resp, &format!("HEAD manifest {repo}:{reference}"))
                .await);
        }
        let digest = digest_header(&resp).or_else(|| reference.parse().ok());
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| base(v).to_string())
            .unwrap_or_default();
        let size = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Some(ManifestHead {
            digest,
            media_type,
            size,
        }))
    }

    /// `GET /v2/<repo>/manifests/<reference>`: the raw bytes, verified against `reference` when
    /// it is a digest, else against `Docker-Content-Digest` when the registry sends one.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<RawManifest, OciError> {
        let url = self.manifest_url(repo, reference)?;
        let req = Req::new(Method::GET, url).header(ACCEPT, MANIFEST_ACCEPT);
        let what = format!("manifest {repo}:{reference}");
        let resp = self.execute(&Scope::pull(repo), req).await?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &what).await);
        }
        let header_digest = digest_header(&resp);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| base(v).to_string());
        let bytes = Bytes::from(read_limited(resp.into_inner(), MAX_MANIFEST_BYTES).await?);
        let digest = Digest::sha256_of(&bytes);
        let expected = reference.parse::<Digest>().ok().or(header_digest);
        if let Some(expected) = expected
            && expected.algorithm() == digest.algorithm()
            && expected != digest
        {
            return Err(OciError::DigestMismatch {
                what,
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        // A registry may answer `application/json` or `text/plain` for a manifest it stored
        // without a type; the document's own `mediaType` is then the better answer.
        let media_type = match content_type {
            Some(ct) if crate::media::is_index(&ct) || crate::media::is_manifest(&ct) => ct,
            other => sniff(&bytes).or(other).unwrap_or_default(),
        };
        Ok(RawManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with `bytes` exactly as given. Returns the digest
    /// of `bytes`; a digest `reference` that does not match is refused before sending.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, OciError> {
        let digest = Digest::sha256_of(bytes);
        if let Ok(expected) = reference.parse::<Digest>()
            && expected != digest
        {
            return Err(OciError::DigestMismatch {
                what: format!("manifest pushed as {repo}@{reference}"),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        let url = self.manifest_url(repo, reference)?;
        let req = Req::new(Method::PUT, url)
            .header(CONTENT_TYPE, media_type)
            .body(Bytes::copy_from_slice(bytes));
        let resp = self.execute(&Scope::push(repo), req).await?;
        if !resp.status().is_success() {
            return Err(self
                .status_error(resp, &format!("manifest {repo}:{reference}"))
                .await);
        }
        if let Some(served) = digest_header(&resp)
            && served != digest
        {
            return Err(OciError::DigestMismatch {
                what: format!("manifest {repo}:{reference} as stored by {}", self.host),
                expected: digest.to_string(),
                actual: served.to_string(),
            });
        }
        Ok(digest)
    }
}

/// A manifest reference is a tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a digest.
pub(crate) fn check_reference(reference: &str) -> Result<(), OciError> {
    if reference.parse::<Digest>().is_ok() || crate::reference::is_valid_tag(reference) {
        Ok(())
    } else {
        Err(OciError::malformed(
            format!("reference {reference:?}"),
            "expected a tag or a sha256:/sha512: digest",
        ))
    }
}
