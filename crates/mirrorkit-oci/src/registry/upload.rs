//! Blob uploads: `POST` a session (or a cross-repository mount), then either one `PUT ?digest=`
//! for a small blob or `PATCH` chunks followed by the closing `PUT`.
//!
//! The stream is hashed as it goes and the closing `PUT` is only sent when the bytes hash to the
//! expected digest, so a corrupt source never becomes a blob on the registry (the session is
//! cancelled instead). Memory is bounded by the chunk size, and each chunk is kept until the
//! registry acknowledged it, which is what makes resume possible: when a `PATCH` fails we ask
//! the registry (`GET` on the session URL) how much it holds (`Range: 0-<last>`) and send the rest.
//!
//! [`Registry::upload_streaming`] is the fast path of a registry-to-registry copy: one `PUT` whose
//! body streams from the source as it arrives, hashed on the way, the last chunk held back until
//! the digest is checked. It cannot be replayed, so a copy that sees it fail starts over through
//! the path above.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use mirrorkit_core::digest::{Digest, Hasher};
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::{Method, StatusCode};
use url::Url;

use super::auth::Scope;
use super::{BlobStream, Registry, Req, check_repository, read_limited};
use crate::error::OciError;

/// How many times one chunk is resumed after a failed `PATCH` before giving up.
const MAX_RESUMES: u32 = 3;

/// The answer to opening an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStart {
    /// The blob was mounted from another repository (201): nothing to send.
    Mounted,
    /// An upload session (202): send the blob to this URL.
    Session(Url),
}

impl Registry {
    /// `POST /v2/<repo>/blobs/uploads/`, with `?mount=<digest>&from=<repo>` when `mount` is
    /// given. A registry that cannot mount answers 202 with a fresh session instead of 201; the
    /// caller then uploads normally through [`UploadStart::Session`].
    pub async fn start_upload(
        &self,
        repo: &str,
        mount: Option<(&Digest, &str)>,
    ) -> Result<UploadStart, OciError> {
        check_repository(repo)?;
        let mut url = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
        let scope = match mount {
            Some((digest, from)) => {
                check_repository(from)?;
                url.query_pairs_mut()
                    .append_pair("mount", &digest.to_string())
                    .append_pair("from", from);
                Scope::push_mount(repo, from)
            }
            None => Scope::push(repo),
        };
        let resp = self.execute(&scope, Req::new(Method::POST, url)).await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => Ok(UploadStart::Mounted),
            StatusCode::ACCEPTED => Ok(UploadStart::Session(self.location(&resp)?)),
            _ => Err(self.status_error(resp, &format!("upload to {repo}")).await),
        }
    }

    /// Upload `stream` (which must hash to `digest` and be `size` bytes) into `repo`, through a new
    /// session. Returns the bytes sent.
    pub async fn push_blob_stream(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        stream: BlobStream,
    ) -> Result<u64, OciError> {
        match self.start_upload(repo, None).await? {
            UploadStart::Session(session) => self.upload(repo, session, digest, size, stream).await,
            UploadStart::Mounted => Ok(0),
        }
    }

    /// Send `stream` to an open upload `session`: one closing `PUT` when it fits in a chunk, else
    /// `PATCH` chunks (resumed on failure) and the closing `PUT ?digest=`. Verifies digest and
    /// size before closing; on a mismatch the session is cancelled and nothing is committed.
    pub async fn upload(
        &self,
        repo: &str,
        session: Url,
        digest: &Digest,
        size: u64,
        mut stream: BlobStream,
    ) -> Result<u64, OciError> {
        let scope = Scope::push(repo);
        let mut hasher = Hasher::new(digest.algorithm());
        let mut buf = BytesMut::new();
        let mut offset: u64 = 0;
        let mut location = session;
        while let Some(item) = stream.next().await {
            let bytes = match item {
                Ok(b) => b,
                Err(e) => {
                    self.cancel_upload(repo, &location).await;
                    return Err(e);
                }
            };
            hasher.update(&bytes);
            buf.extend_from_slice(&bytes);
            while buf.len() >= self.chunk_size {
                let chunk = buf.split_to(self.chunk_size).freeze();
                let len = chunk.len() as u64;
                location = self
                    .patch_chunk(repo, &scope, location, offset, chunk)
                    .await?;
                offset += len;
            }
        }
        let total = offset + buf.len() as u64;
        let actual = hasher.finish();
        if actual != *digest || total != size {
            self.cancel_upload(repo, &location).await;
            return Err(OciError::DigestMismatch {
                what: format!("blob for {repo} ({total} bytes, {size} expected)"),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let mut url = location;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let req = Req::new(Method::PUT, url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(buf.freeze());
        let resp = self.execute(&scope, req).await?;
        if !resp.status().is_success() {
            return Err(self
                .status_error(resp, &format!("blob {repo}@{digest}"))
                .await);
        }
        Ok(total)
    }

    /// Send `stream` to an open upload `session` in one `PUT ?digest=` whose body flows as the
    /// source delivers it: downloading and uploading overlap, and nothing is buffered beyond one
    /// chunk. The bytes are hashed on the way and the last chunk is held back until digest and
    /// size are checked, so on a mismatch the request is aborted before the registry has every
    /// byte (`Content-Length` is the expected size) and nothing is committed.
    ///
    /// Sent once, without retries or an authentication round trip (the stream cannot be
    /// replayed): on any failure other than a digest mismatch the caller starts over with a fresh
    /// stream through [`Registry::push_blob_stream`], which retries and resumes.
    pub async fn upload_streaming(
        &self,
        repo: &str,
        session: Url,
        digest: &Digest,
        size: u64,
        stream: BlobStream,
    ) -> Result<u64, OciError> {
        let failure: Arc<Mutex<Option<OciError>>> = Arc::new(Mutex::new(None));
        let body = checked_body(stream, digest.clone(), size, failure.clone());
        let mut url = session.clone();
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let same_host = url.origin() == self.base.origin();
        let permit = self.http.limits().acquire(&url).await;
        let mut req = self
            .http
            .reqwest_for(&url)
            .put(url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body));
        if same_host && let Some(auth) = self.auth.cached_header(&Scope::push(repo)) {
            req = req.header(AUTHORIZATION, auth);
        }
        let result = req.send().await;
        // The slot goes back before anything else is sent: `cancel_upload` below asks for a slot
        // of its own, and with every slot held by a failing PUT that waited forever (all 8 slots
        // of a target, after HTTP/2 flow control made their PUTs time out together).
        drop(permit);
        let recorded = failure.lock().ok().and_then(|mut f| f.take());
        let resp = match (result, recorded) {
            (_, Some(e)) => {
                self.cancel_upload(repo, &session).await;
                return Err(e);
            }
            (Err(e), None) => {
                self.cancel_upload(repo, &session).await;
                return Err(OciError::Unreachable {
                    target: self.host.clone(),
                    reason: mirrorkit_core::http::redact::error_chain(&e.without_url()),
                });
            }
            (Ok(resp), None) => resp,
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(size);
        }
        let body = read_limited(resp, 64 * 1024).await.unwrap_or_default();
        let reason = super::error_message(&body).unwrap_or_else(|| status.to_string());
        self.cancel_upload(repo, &session).await;
        Err(match status.as_u16() {
            401 | 403 => OciError::Denied {
                target: self.host.clone(),
                status: status.as_u16(),
                reason,
            },
            s if s == 429 || s >= 500 => OciError::Unreachable {
                target: self.host.clone(),
                reason: format!("blob {repo}@{digest}: {status}: {reason}"),
            },
            _ => OciError::Rejected {
                target: self.host.clone(),
                what: format!("blob {repo}@{digest}"),
                reason,
            },
        })
    }

    /// `PATCH` one chunk that starts at blob offset `offset`; returns the next session URL. On
    /// failure, reads the registry's `Range` and re-sends only what it lacks.
    async fn patch_chunk(
        &self,
        repo: &str,
        scope: &Scope,
        mut location: Url,
        offset: u64,
        chunk: Bytes,
    ) -> Result<Url, OciError> {
        let end = offset + chunk.len() as u64;
        let mut start = offset;
        let mut resumes = 0;
        loop {
            let body = chunk.slice((start - offset) as usize..);
            let req = Req::new(Method::PATCH, location.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_RANGE, &format!("{start}-{}", end - 1))
                .body(body);
            let failure = match self.execute(scope, req).await {
                Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                    return self.location(&resp);
                }
                Ok(resp) => {
                    let e = self
                        .status_error(resp, &format!("chunk {start}-{} for {repo}", end - 1))
                        .await;
                    match e {
                        OciError::Denied { .. } | OciError::NotFound { .. } => return Err(e),
                        e => e,
                    }
                }
                Err(e @ OciError::Unreachable { .. }) => e,
                Err(e) => return Err(e),
            };
            resumes += 1;
            if resumes > MAX_RESUMES {
                return Err(failure);
            }
            tracing::debug!(%failure, "PATCH failed; asking the registry where to resume");
            let Ok((committed, next)) = self.upload_status(repo, &location).await else {
                return Err(failure);
            };
            if committed >= end {
                return Ok(next);
            }
            if committed < offset {
                return Err(failure);
            }
            start = committed;
            location = next;
        }
    }

    /// `GET` an upload session: how many bytes the registry holds (from `Range: 0-<last>`) and
    /// the session URL to continue with.
    pub async fn upload_status(&self, repo: &str, session: &Url) -> Result<(u64, Url), OciError> {
        let resp = self
            .execute(&Scope::push(repo), Req::new(Method::GET, session.clone()))
            .await?;
        if resp.status() != StatusCode::NO_CONTENT && !resp.status().is_success() {
            return Err(self
                .status_error(resp, &format!("upload status for {repo}"))
                .await);
        }
        let committed = resp
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_upload_range)
            .unwrap_or(0);
        // The session URL carries the registry's state (distribution's `_state` holds the
        // offset); an answer without Location keeps the old one.
        let next = self.location(&resp).unwrap_or_else(|_| session.clone());
        Ok((committed, next))
    }

    /// Best-effort `DELETE` of an upload session (after a failed or refused upload).
    pub async fn cancel_upload(&self, repo: &str, session: &Url) {
        let _ = self
            .execute(
                &Scope::push(repo),
                Req::new(Method::DELETE, session.clone()),
            )
            .await;
    }
}

/// The body of a streamed upload: `stream` passed through, hashed, with the last chunk held back
/// until the whole has been checked against `digest` and `size`. A mismatch (or a source error)
/// is recorded in `failure` and ends the body with an error, which aborts the request.
fn checked_body(
    stream: BlobStream,
    digest: Digest,
    size: u64,
    failure: Arc<Mutex<Option<OciError>>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct State {
        inner: BlobStream,
        hasher: Option<Hasher>,
        held: Option<Bytes>,
        seen: u64,
        digest: Digest,
        size: u64,
        failure: Arc<Mutex<Option<OciError>>>,
    }
    fn fail(st: &State, e: OciError) -> std::io::Error {
        let message = e.to_string();
        if let Ok(mut f) = st.failure.lock() {
            *f = Some(e);
        }
        std::io::Error::other(message)
    }
    let state = State {
        inner: stream,
        hasher: Some(Hasher::new(digest.algorithm())),
        held: None,
        seen: 0,
        digest,
        size,
        failure,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            let hasher = st.hasher.as_mut()?;
            match st.inner.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    st.seen += chunk.len() as u64;
                    if st.seen > st.size {
                        st.hasher = None;
                        let e = OciError::DigestMismatch {
                            what: format!("blob longer than its {} bytes", st.size),
                            expected: st.digest.to_string(),
                            actual: "(more bytes)".into(),
                        };
                        let e = fail(&st, e);
                        return Some((Err(e), st));
                    }
                    if let Some(previous) = st.held.replace(chunk) {
                        return Some((Ok(previous), st));
                    }
                }
                Some(Err(e)) => {
                    st.hasher = None;
                    let e = fail(&st, e);
                    return Some((Err(e), st));
                }
                None => {
                    let actual = st.hasher.take()?.finish();
                    if actual != st.digest || st.seen != st.size {
                        let e = OciError::DigestMismatch {
                            what: format!("blob ({} bytes, {} expected)", st.seen, st.size),
                            expected: st.digest.to_string(),
                            actual: actual.to_string(),
                        };
                        let e = fail(&st, e);
                        return Some((Err(e), st));
                    }
                    let last = st.held.take()?;
                    return Some((Ok(last), st));
                }
            }
        }
    })
}

/// Bytes held by the registry from an upload `Range` header (`0-<last byte>`).
///
/// distribution answers `0-0` for an empty session (not `0--1`), so `0-0` reads as nothing
/// held: at worst one byte is sent twice, and the closing digest check then refuses the blob.
pub(crate) fn parse_upload_range(value: &str) -> Option<u64> {
    let value = value.trim().trim_start_matches("bytes=");
    let (start, last) = value.split_once('-')?;
    if start.trim() != "0" {
        return None;
    }
    let last: u64 = last.trim().parse().ok()?;
    if last == 0 {
        Some(0)
    } else {
        last.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_range_is_bytes_held() {
        assert_eq!(parse_upload_range("0-0"), Some(0));
        assert_eq!(parse_upload_range("0-9"), Some(10));
        assert_eq!(parse_upload_range("bytes=0-1048575"), Some(1048576));
        assert_eq!(parse_upload_range("5-9"), None);
        assert_eq!(parse_upload_range("garbage"), None);
        assert_eq!(parse_upload_range("0--1"), None);
    }
}
