//! Reading a response body into memory with a ceiling: an index, an API page, a manifest, an
//! error message. A body that announces or delivers more than the ceiling is refused before it
//! can fill memory. Large content (assets, blobs) is streamed to disk instead (`store::fetch`,
//! the OCI copier) and never comes through here.

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is (or announces itself as) larger than the ceiling.
    #[error("the answer is larger than {limit} bytes{}", announced.map(|n| format!(" ({n})")).unwrap_or_default())]
    TooLarge {
        /// The ceiling.
        limit: u64,
        /// The `Content-Length` the server announced, when that was over the ceiling.
        announced: Option<u64>,
    },
    /// The connection failed while the body was read.
    #[error("reading the answer failed: {0}")]
    Read(String),
}

/// Read `response`'s body, refusing more than `limit` bytes. The error never carries the URL
/// (it may hold credentials): the caller names what it was reading.
pub async fn read_capped(
    response: &mut reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    if let Some(len) = response.content_length()
        && len > limit
    {
        return Err(BodyError::TooLarge {
            limit,
            announced: Some(len),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Read(super::redact::error_chain(&e.without_url())))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge {
                limit,
                announced: None,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
