//! Getting bytes into the store's scratch area: resumable HTTP downloads and `file://` copies.
//! Verification and the final rename happen in [`Store::fetch`](super::Store::fetch).

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};

use super::{CHUNK, Hashers, Store, StoreError, copy_hashing};
use crate::digest::Digest;
use crate::http::HttpClient;
use crate::http::redact::{self, SafeUrl};

/// How many times one `fetch` call resumes a body that broke off before giving up (the `.part`
/// file stays for the next call).
const MAX_BODY_RESUMES: u32 = 5;

/// The extended attribute of a `.part` file holding its validator.
const VALIDATOR_XATTR: &str = "user.mirrorkit.validator";

/// Bytes hashed and staged, not yet verified or in the store.
pub(super) struct Fetched {
    pub(super) sha256: Digest,
    pub(super) sha512: Option<Digest>,
    pub(super) size: u64,
    staged: Staged,
}

enum Staged {
    /// A finished `.part` file and its validator sidecar (where extended attributes are not
    /// supported).
    Part { part: PathBuf, meta: PathBuf },
    /// A temp file (deleted on drop unless persisted).
    Temp(tempfile::NamedTempFile),
}

impl Fetched {
    /// Delete the staged bytes (after a digest mismatch: they are wrong, resuming them is
    /// pointless).
    pub(super) fn discard(self) {
        if let Staged::Part { part, meta } = self.staged {
            let _ = std::fs::remove_file(part);
            let _ = std::fs::remove_file(meta);
        }
    }

    /// Atomically move the staged bytes to `dest` (already fsynced).
    pub(super) fn persist(self, dest: &Path) -> Result<(), StoreError> {
        match self.staged {
            Staged::Part { part, meta } => {
                std::fs::rename(&part, dest).map_err(StoreError::io(dest))?;
                // The validator belonged to the download, not to the stored file. Dropped only
                // now: a `.part` left complete by a crash before this rename keeps it, so its
                // resume still carries `If-Range`.
                let _ = xattr::remove(dest, VALIDATOR_XATTR);
                let _ = std::fs::remove_file(meta);
            }
            Staged::Temp(tmp) => {
                tmp.persist(dest)
                    .map_err(|e| StoreError::io(dest)(e.error))?;
            }
        }
        Ok(())
    }
}

/// Copy a `file://` URL into a temp file, hashing on the way.
pub(super) async fn copy_local(
    store: &Store,
    url: &url::Url,
    sha512: bool,
) -> Result<Fetched, StoreError> {
    let src = url.to_file_path().map_err(|()| StoreError::Protocol {
        url: SafeUrl::new(url),
        reason: "not a local file path".into(),
    })?;
    let tmp_dir = store.tmp_dir().to_path_buf();
    let (tmp, sha256, sha512, size) =
        tokio::task::spawn_blocking(move || copy_hashing(&src, &tmp_dir, sha512))
            .await
            .map_err(|e| StoreError::Io {
                path: store.tmp_dir().to_path_buf(),
                source: std::io::Error::other(e),
            })??;
    Ok(Fetched {
        sha256,
        sha512,
        size,
        staged: Staged::Temp(tmp),
    })
}

/// How many body chunks may wait for the writer thread of one download: enough to keep the
/// socket read while the disk and the hash catch up, few enough to bound memory (hyper's
/// chunks are at most a few hundred KiB). Batching chunks into larger writes was measured: no
/// fewer context switches, no faster.
const CHUNKS_IN_FLIGHT: usize = 8;

/// The store's lock on one URL, shared with the writer thread of its download.
pub(super) type UrlLock = std::sync::Arc<tokio::sync::OwnedMutexGuard<()>>;

/// The `.part` file being written: its bytes so far, hashed.
struct Partial {
    /// Kept by the writer thread until it exits (see [`Partial::append`]).
    url_lock: Option<UrlLock>,
    path: PathBuf,
    meta: PathBuf,
    /// Positioned at the end of the bytes so far.
    file: std::fs::File,
    hashers: Hashers,
    sha512: bool,
    /// The `ETag` or `Last-Modified` the bytes so far belong to, sent as `If-Range`.
    validator: Option<String>,
}

/// How a body ended.
enum BodyEnd {
    /// Every byte the server sent is written and hashed.
    Complete,
    /// The connection broke: why.
    Broken(String),
    /// More than the store's limit arrived.
    TooLarge,
}

impl Partial {
    /// Open (or create) the `.part` file and hash what it already holds.
    async fn open(path: PathBuf, sha512: bool) -> Result<Partial, StoreError> {
        let meta = path.with_extension("part.json");
        let validator = read_validator(&path, &meta);
        let open_path = path.clone();
        // Re-read the prefix rather than persisting hash state: simplest correct approach, and
        // it also covers a `.part` file left by a killed process.
        let (file, hashers) = tokio::task::spawn_blocking(move || {
            let hashers = hash_prefix(&open_path, sha512)?;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&open_path)?;
            file.seek(SeekFrom::Start(hashers.len))?;
            Ok::<_, std::io::Error>((file, hashers))
        })
        .await
        .map_err(|e| StoreError::io(&path)(std::io::Error::other(e)))?
        .map_err(StoreError::io(&path))?;
        Ok(Partial {
            url_lock: None,
            file,
            path,
            meta,
            hashers,
            sha512,
            validator,
        })
    }

    fn len(&self) -> u64 {
        self.hashers.len
    }

    /// Append `response`'s body, at most `limit` bytes in all. The bytes are written and hashed
    /// on a blocking thread while the next ones arrive: straight from hyper's buffers to the
    /// file, with no copy into an intermediate buffer and no hashing on the async workers (a
    /// `tokio::fs::File` behind a `BufWriter` copied every byte twice and faulted in two fresh
    /// buffers per download).
    async fn append(
        &mut self,
        response: &mut reqwest::Response,
        limit: u64,
    ) -> Result<BodyEnd, StoreError> {
        let mut file = self.file.try_clone().map_err(StoreError::io(&self.path))?;
        let mut hashers = std::mem::replace(&mut self.hashers, Hashers::new(self.sha512));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(CHUNKS_IN_FLIGHT);
        let url_lock = self.url_lock.clone();
        let writer = tokio::task::spawn_blocking(move || {
            // Should this future be dropped, the thread writes what was queued before it ends;
            // the URL stays locked until then, so no other fetch truncates the file under it.
            let _url_lock = url_lock;
            while let Some(bytes) = rx.blocking_recv() {
                if let Err(e) = file.write_all(&bytes) {
                    return (hashers, Err(e));
                }
                hashers.update(&bytes);
            }
            (hashers, Ok(()))
        });
        let mut received = self.len();
        let end = loop {
            match response.chunk().await {
                Ok(Some(bytes)) if received + bytes.len() as u64 > limit => {
                    break BodyEnd::TooLarge;
                }
                Ok(Some(bytes)) => {
                    received += bytes.len() as u64;
                    // A closed channel means the writer stopped on an error, reported below.
                    if tx.send(bytes).await.is_err() {
                        break BodyEnd::Complete;
                    }
                }
                Ok(None) => break BodyEnd::Complete,
                Err(e) => break BodyEnd::Broken(redact::error_chain(&e.without_url())),
            }
        };
        drop(tx);
        let (hashers, result) = writer
            .await
            .map_err(|e| StoreError::io(&self.path)(std::io::Error::other(e)))?;
        self.hashers = hashers;
        result.map_err(StoreError::io(&self.path))?;
        Ok(end)
    }

    /// Throw the bytes away and start over, remembering `validator` for the new bytes.
    async fn restart(&mut self, validator: Option<String>) -> Result<(), StoreError> {
        self.hashers = Hashers::new(self.sha512);
        self.validator = validator;
        let file = self.file.try_clone().map_err(StoreError::io(&self.path))?;
        let (path, meta, validator) =
            (self.path.clone(), self.meta.clone(), self.validator.clone());
        // Truncating a large file can take a while: not on an async worker.
        tokio::task::spawn_blocking(move || {
            let mut file = file;
            file.set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
                .map_err(StoreError::io(&path))?;
            write_validator(&path, &meta, validator.as_deref())
        })
        .await
        .map_err(|e| StoreError::io(&self.meta)(std::io::Error::other(e)))?
    }

    /// fsync and hand over the finished bytes.
    async fn finish(self) -> Result<Fetched, StoreError> {
        let Partial {
            path,
            meta,
            file,
            hashers,
            ..
        } = self;
        let synced = tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(|e| StoreError::io(&path)(std::io::Error::other(e)))?;
        synced.map_err(StoreError::io(&path))?;
        let (sha256, sha512, size) = hashers.finish();
        Ok(Fetched {
            sha256,
            sha512,
            size,
            staged: Staged::Part { part: path, meta },
        })
    }
}

/// The sidecar of a `.part` file.
#[derive(serde::Serialize, serde::Deserialize)]
struct PartMeta {
    validator: Option<String>,
}

/// The validator a `.part` file's bytes belong to: its extended attribute, else its sidecar.
fn read_validator(part: &Path, meta: &Path) -> Option<String> {
    if let Ok(Some(v)) = xattr::get(part, VALIDATOR_XATTR) {
        return String::from_utf8(v).ok();
    }
    std::fs::read(meta)
        .ok()
        .and_then(|b| serde_json::from_slice::<PartMeta>(&b).ok())
        .and_then(|m| m.validator)
}

/// Remember `validator` for the bytes of `part`. Kept in an extended attribute of the file
/// itself where the filesystem allows: a sidecar file per download, created and deleted each
/// time, made ext4 scan its recently deleted inodes on every later create (a fifth of a cold
/// sync of 2,000 files). A sidecar only where extended attributes are not supported.
fn write_validator(part: &Path, meta: &Path, validator: Option<&str>) -> Result<(), StoreError> {
    let _ = std::fs::remove_file(meta);
    let Some(v) = validator else {
        let _ = xattr::remove(part, VALIDATOR_XATTR);
        return Ok(());
    };
    if xattr::set(part, VALIDATOR_XATTR, v.as_bytes()).is_ok() {
        return Ok(());
    }
    // No attribute for this one (a long ETag, a full attribute block): an older one must not
    // outlive it, or a resume would send `If-Range` with it against the new bytes.
    let _ = xattr::remove(part, VALIDATOR_XATTR);
    if matches!(xattr::get(part, VALIDATOR_XATTR), Ok(Some(_))) {
        return Err(StoreError::io(part)(std::io::Error::other(
            "cannot clear the validator of the previous download",
        )));
    }
    let json = serde_json::to_vec(&PartMeta {
        validator: Some(v.to_string()),
    })
    .map_err(|e| StoreError::io(meta)(std::io::Error::other(e)))?;
    std::fs::write(meta, json).map_err(StoreError::io(meta))
}

fn hash_prefix(path: &Path, sha512: bool) -> std::io::Result<Hashers> {
    let mut hashers = Hashers::new(sha512);
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(hashers),
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hashers);
        }
        hashers.update(&buf[..n]);
    }
}

/// What one response means for the partial file.
enum Step {
    /// Stream the body, appending; the complete file has `total` bytes if known.
    Append { total: Option<u64> },
    /// The partial file already holds everything (416 whose `Content-Range` total equals it).
    Complete,
    /// The server cannot serve the range we asked for; start over without one.
    Restart,
}

/// Download `url` into its `.part` file, resuming what an earlier attempt left.
pub(super) async fn download(
    store: &Store,
    client: &HttpClient,
    url: &url::Url,
    key: &str,
    sha512: bool,
    url_lock: &UrlLock,
) -> Result<Fetched, StoreError> {
    let safe = SafeUrl::new(url);
    let mut part = Partial::open(store.inner.tmp.join(format!("{key}.part")), sha512).await?;
    part.url_lock = Some(url_lock.clone());
    let mut interruptions: u32 = 0;
    let mut restarts: u32 = 0;
    loop {
        let offset = part.len();
        let validator = part.validator.clone();
        let mut response = client
            .send(url, |c| {
                let mut req = c.get(url.clone());
                if offset > 0 {
                    req = req.header(RANGE, format!("bytes={offset}-"));
                    if let Some(v) = &validator {
                        // Without a validator a changed file would be spliced; the digest check
                        // catches that when the caller has a digest.
                        req = req.header(IF_RANGE, v.as_str());
                    }
                }
                req
            })
            .await?;
        let status = response.status();
        let step = match status {
            StatusCode::OK => {
                if offset > 0 {
                    tracing::info!(url = %safe, offset, "server sent the whole file; restarting the download");
                }
                part.restart(validator_of(response.headers())).await?;
                Step::Append {
                    total: response.content_length(),
                }
            }
            StatusCode::PARTIAL_CONTENT => match content_range(response.headers()) {
                Some(ContentRange::Bytes { start, total, .. }) if start == offset => {
                    Step::Append { total }
                }
                _ => {
                    tracing::warn!(url = %safe, offset, "206 for a range we did not ask for; restarting");
                    Step::Restart
                }
            },
            StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => {
                match content_range(response.headers()) {
                    // Killed after the last byte and before the rename: nothing left to get.
                    Some(ContentRange::Unsatisfied { total }) if total == offset => Step::Complete,
                    _ => Step::Restart,
                }
            }
            s if s.is_success() => {
                return Err(StoreError::Protocol {
                    url: safe,
                    reason: format!("unexpected HTTP {} for a download", s.as_u16()),
                });
            }
            s => {
                return Err(StoreError::Status {
                    url: safe,
                    status: s.as_u16(),
                });
            }
        };
        let total = match step {
            Step::Complete => return part.finish().await,
            Step::Restart => {
                restarts += 1;
                // One restart is expected (stale partial); more means the server keeps
                // contradicting itself.
                if restarts > 2 {
                    return Err(StoreError::Protocol {
                        url: safe,
                        reason: "the server keeps rejecting the range request".into(),
                    });
                }
                drop(response);
                part.restart(None).await?;
                continue;
            }
            Step::Append { total } => total,
        };
        // An endless body once filled the disk (10 GB a minute): honour the announced length
        // and cap what arrives without one.
        let limit = store.inner.max_download;
        if let Some(total) = total.filter(|t| *t > limit) {
            drop(response);
            part.restart(None).await?;
            return Err(StoreError::TooLarge {
                url: safe,
                limit,
                announced: Some(total),
            });
        }

        let failure = match part.append(&mut response, limit).await? {
            BodyEnd::TooLarge => {
                drop(response);
                part.restart(None).await?;
                return Err(StoreError::TooLarge {
                    url: safe,
                    limit,
                    announced: None,
                });
            }
            BodyEnd::Broken(reason) => Some(reason),
            BodyEnd::Complete => None,
        };
        drop(response);
        let failure = match (failure, total) {
            (Some(reason), _) => Some(reason),
            (None, Some(total)) if part.len() < total => {
                Some(format!("body ended after {} of {total} bytes", part.len()))
            }
            (None, Some(total)) if part.len() > total => {
                return Err(StoreError::Protocol {
                    url: safe,
                    reason: format!(
                        "received {} bytes, more than the {total} announced",
                        part.len()
                    ),
                });
            }
            (None, _) => None,
        };
        let Some(reason) = failure else {
            return part.finish().await;
        };
        interruptions += 1;
        if interruptions > MAX_BODY_RESUMES {
            return Err(StoreError::Interrupted {
                url: safe,
                attempts: interruptions,
                reason,
            });
        }
        let delay = client.config().retry.delay(interruptions - 1, None);
        tracing::warn!(
            url = %safe,
            received = part.len(),
            attempt = interruptions,
            error = %reason,
            "download interrupted; resuming"
        );
        tokio::time::sleep(delay).await;
    }
}

/// The validator to send as `If-Range` later: a strong `ETag` (RFC 9110 forbids weak ones in
/// `If-Range`), else `Last-Modified`.
fn validator_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let etag = headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|e| !e.starts_with("W/"));
    etag.or_else(|| headers.get(LAST_MODIFIED).and_then(|v| v.to_str().ok()))
        .map(str::to_string)
}

/// A parsed `Content-Range` header.
#[derive(Debug, PartialEq, Eq)]
enum ContentRange {
    /// `bytes <start>-<end>/<total or *>`
    Bytes {
        start: u64,
        end: u64,
        total: Option<u64>,
    },
    /// `bytes */<total>` (with 416)
    Unsatisfied { total: u64 },
}

fn content_range(headers: &reqwest::header::HeaderMap) -> Option<ContentRange> {
    parse_content_range(headers.get(CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?.trim();
    let (range, total) = rest.split_once('/')?;
    if range == "*" {
        return Some(ContentRange::Unsatisfied {
            total: total.parse().ok()?,
        });
    }
    let (start, end) = range.split_once('-')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    let total = match total {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some(ContentRange::Bytes { start, end, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validator_is_remembered_beside_the_bytes_and_forgotten_with_none() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("k.part");
        let meta = dir.path().join("k.part.json");
        std::fs::write(&part, b"abc").unwrap();
        // A sidecar left by an older run gives way to the attribute.
        std::fs::write(&meta, br#"{"validator":"\"old\""}"#).unwrap();
        assert_eq!(read_validator(&part, &meta).as_deref(), Some("\"old\""));
        write_validator(&part, &meta, Some("\"v1\"")).unwrap();
        assert_eq!(read_validator(&part, &meta).as_deref(), Some("\"v1\""));
        // Held in the attribute where the filesystem takes one, else in the sidecar: never both.
        let in_xattr = matches!(xattr::get(&part, VALIDATOR_XATTR), Ok(Some(_)));
        assert_ne!(in_xattr, meta.exists());
        write_validator(&part, &meta, None).unwrap();
        assert_eq!(read_validator(&part, &meta), None);
    }

    #[test]
    fn content_range_forms() {
        let cases = [
            (
                "bytes 10-19/20",
                Some(ContentRange::Bytes {
                    start: 10,
                    end: 19,
                    total: Some(20),
                }),
            ),
            (
                "bytes 0-0/*",
                Some(ContentRange::Bytes {
                    start: 0,
                    end: 0,
                    total: None,
                }),
            ),
            ("bytes */20", Some(ContentRange::Unsatisfied { total: 20 })),
            ("bytes 5-4/20", None),
            ("bytes 0-20/20", None),
            ("items 0-1/2", None),
            ("bytes x-1/2", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_content_range(input), want, "{input:?}");
        }
    }

    #[test]
    fn weak_etags_are_not_validators() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(ETAG, "W/\"abc\"".parse().unwrap());
        assert_eq!(validator_of(&h), None);
        h.insert(
            LAST_MODIFIED,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            validator_of(&h).as_deref(),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        h.insert(ETAG, "\"strong\"".parse().unwrap());
        assert_eq!(validator_of(&h).as_deref(), Some("\"strong\""));
    }
}
