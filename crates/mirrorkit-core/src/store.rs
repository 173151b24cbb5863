//! The content-addressed store: every verified blob at `blobs/sha256/<hex>` under the work dir.
//!
//! Layout of the work dir:
//!
//! ```text
//! blobs/sha256/<hex>        verified content, named by its SHA-256
//! downloads/<key>.json      what a URL gave last time (digest, size), key = SHA-256 of the URL
//! tmp/<key>.part            a download in progress (resumed with HTTP Range after a crash)
//! tmp/<key>.part.json       the validator (ETag / Last-Modified) the partial bytes belong to
//! tmp/*.tmp                 scratch files (file:// copies, ingests) on the blobs' filesystem
//! ```
//!
//! Invariants: a file appears under `blobs/` only by an atomic rename after its bytes were hashed
//! (and, when the caller gave a digest, verified) and fsynced; nothing is read whole into memory.
//! A blob found on disk is re-hashed before it is handed out from the cache, so a corrupt file is
//! detected, deleted and fetched again.
//!
//! Why one long file: fetch, resume, verify and ingest share the one on-disk layout and its
//! locking; the last 90 lines are its unit tests.

mod fetch;

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::digest::{Algorithm, Digest, Hasher};
use crate::exit::{ExitCode, HasExitCode};
use crate::http::redact::SafeUrl;
use crate::http::{HttpClient, HttpError};

/// Read and hash in pieces of this size.
const CHUNK: usize = 1024 * 1024;

/// A blob in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// Its SHA-256 (always; the store is keyed by it).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Where it lives: `blobs/sha256/<hex>` under the work dir. Treat as read-only.
    pub path: PathBuf,
}

/// Why a store operation failed. Display output names the URL (redacted) or path and is
/// credential-free.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store's own I/O failed (disk full, permissions in the work dir): every later item
    /// would fail the same way.
    #[error("I/O error at {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A local source (a `file://` asset) could not be read: missing, unreadable, or changed
    /// while it was copied. Only that item fails.
    #[error("cannot read the local source {}: {source}", path.display())]
    LocalSource {
        /// The source file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP layer failed (unreachable after retries, request refused by policy).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered a non-success status (after retries, for retryable ones).
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL requested.
        url: SafeUrl,
        /// The status received.
        status: u16,
    },
    /// The content does not have the digest the caller expected; nothing was stored.
    #[error("checksum mismatch for {url}: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// Where the content came from.
        url: SafeUrl,
        /// The digest the caller asked for.
        expected: Digest,
        /// The digest of what arrived (same algorithm as `expected`).
        actual: Digest,
    },
    /// The body kept breaking off; the partial download is kept for the next run to resume.
    #[error("download of {url} was interrupted {attempts} times; last error: {reason}")]
    Interrupted {
        /// The URL requested.
        url: SafeUrl,
        /// How many times the body broke off.
        attempts: u32,
        /// The last failure, redacted.
        reason: String,
    },
    /// The server's answer broke the protocol (e.g. a `Content-Range` for other bytes).
    #[error("{url}: {reason}")]
    Protocol {
        /// The URL requested.
        url: SafeUrl,
        /// What was wrong.
        reason: String,
    },
    /// Only `http`, `https` and `file` URLs can be fetched.
    #[error("{url}: unsupported URL scheme (http, https and file are supported)")]
    UnsupportedScheme {
        /// The URL given.
        url: SafeUrl,
    },
    /// The body is (or announces itself as) larger than the run's `max_asset_size`; what arrived
    /// was deleted.
    #[error("{url}: larger than max_asset_size ({limit} bytes){}; nothing was kept",
        announced.map(|n| format!(": the server announced {n} bytes")).unwrap_or_default())]
    TooLarge {
        /// The URL requested.
        url: SafeUrl,
        /// The limit.
        limit: u64,
        /// The size the server announced (`Content-Length`), when that was over the limit.
        announced: Option<u64>,
    },
}

/// The default `max_asset_size`: 64 GiB, more than any release asset we know of, and a bound on
/// what an endless body can write to the work dir.
pub const DEFAULT_MAX_ASSET_SIZE: u64 = 64 << 30;

impl StoreError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn source(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::LocalSource {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl HasExitCode for StoreError {
    /// The exit code this error stands for: I/O → 74, 401/403 → 77, unreachable or a body that
    /// keeps breaking off → 69, anything else fails the item (1).
    fn exit_code(&self) -> ExitCode {
        match self {
            StoreError::Io { .. } => ExitCode::Io,
            StoreError::Http(e) => e.exit_code(),
            StoreError::Status {
                status: 401 | 403, ..
            } => ExitCode::NoPermission,
            StoreError::Interrupted { .. } => ExitCode::Unavailable,
            StoreError::Status { .. }
            | StoreError::ChecksumMismatch { .. }
            | StoreError::Protocol { .. }
            | StoreError::LocalSource { .. }
            | StoreError::UnsupportedScheme { .. }
            | StoreError::TooLarge { .. } => ExitCode::ItemFailed,
        }
    }
}

/// What a URL gave last time (`downloads/<key>.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct UrlRecord {
    /// The URL, redacted (for people reading the directory; never used for lookups).
    url: String,
    digest: Digest,
    size: u64,
    /// Also recorded when the caller verified with SHA-512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha512: Option<Digest>,
}

/// The content-addressed store. Cheap to clone; clones share the per-URL locks.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    work_dir: PathBuf,
    blobs: PathBuf,
    downloads: PathBuf,
    tmp: PathBuf,
    /// One lock per URL key, so two tasks fetching the same URL do not share a `.part` file.
    url_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The largest body a download may have ([`DEFAULT_MAX_ASSET_SIZE`] unless set).
    max_download: u64,
}

impl Store {
    /// Open (creating if needed) the store under `work_dir`.
    pub fn open(work_dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with_limit(work_dir, DEFAULT_MAX_ASSET_SIZE)
    }

    /// [`Store::open`], refusing downloads larger than `max_download` bytes: a body announced
    /// larger fails at once, one without a length fails as soon as it passes the limit, and
    /// either way the partial file is deleted.
    pub fn open_with_limit(
        work_dir: impl AsRef<Path>,
        max_download: u64,
    ) -> Result<Store, StoreError> {
        let work_dir = work_dir.as_ref().to_path_buf();
        let blobs = work_dir.join("blobs").join("sha256");
        let downloads = work_dir.join("downloads");
        let tmp = work_dir.join("tmp");
        for dir in [&blobs, &downloads, &tmp] {
            std::fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
        }
        Ok(Store {
            inner: Arc::new(Inner {
                work_dir,
                blobs,
                downloads,
                tmp,
                url_locks: Mutex::new(HashMap::new()),
                max_download,
            }),
        })
    }

    /// The work dir the store lives in.
    pub fn work_dir(&self) -> &Path {
        &self.inner.work_dir
    }

    /// A directory for scratch files on the same filesystem as the blobs, so
    /// [`ingest_file`](Self::ingest_file) can rename instead of copy.
    pub fn tmp_dir(&self) -> &Path {
        &self.inner.tmp
    }

    /// Where the blob with `digest` lives (or would live): `blobs/<algorithm>/<hex>`. Only SHA-256
    /// blobs are ever stored.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        match digest.algorithm() {
            Algorithm::Sha256 => self.inner.blobs.join(digest.hex()),
            Algorithm::Sha512 => self
                .inner
                .work_dir
                .join("blobs")
                .join("sha512")
                .join(digest.hex()),
        }
    }

    /// Whether a blob with `digest` is present (not re-hashed; see [`verify`](Self::verify)).
    pub fn has(&self, digest: &Digest) -> bool {
        digest.algorithm() == Algorithm::Sha256 && self.path(digest).is_file()
    }

    /// Re-hash the blob with `digest`: `Ok(Some(blob))` if present and intact, `Ok(None)` if
    /// absent. A corrupt blob is deleted (and `Ok(None)` returned). Blocking.
    pub fn verify(&self, digest: &Digest) -> Result<Option<Blob>, StoreError> {
        if !self.has(digest) {
            return Ok(None);
        }
        let path = self.path(digest);
        let (actual, _, size) = match hash_file(&path, false) {
            Ok(hashed) => hashed,
            // Removed between the check and the read: absent.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path)(e)),
        };
        if actual == *digest {
            return Ok(Some(Blob {
                digest: actual,
                size,
                path,
            }));
        }
        tracing::warn!(path = %path.display(), expected = %digest, actual = %actual, "corrupt blob in the store; deleting it");
        self.remove(digest)?;
        Ok(None)
    }

    /// Delete the blob with `digest` (absent is fine).
    pub fn remove(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.path(digest);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Hash the local file at `path` (streaming) and move it into the store; the file is gone
    /// from `path` afterwards. Create it under [`tmp_dir`](Self::tmp_dir) to get a rename rather
    /// than a copy. Blocking: call it from `spawn_blocking` in async code.
    pub fn ingest_file(&self, path: impl AsRef<Path>) -> Result<Blob, StoreError> {
        let path = path.as_ref();
        let (digest, _, size) = hash_file(path, false).map_err(StoreError::io(path))?;
        let dest = self.path(&digest);
        match std::fs::rename(path, &dest) {
            Ok(()) => {}
            // The file lives on another filesystem: copy it next to the blobs, then rename.
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                // The file is the caller's own (in the work dir): failing to read it is local
                // I/O, not a bad source.
                let (tmp, copied, _, _) =
                    copy_hashing(path, &self.inner.tmp, false).map_err(|e| match e {
                        StoreError::LocalSource { path, source } => StoreError::Io { path, source },
                        e => e,
                    })?;
                if copied != digest {
                    return Err(StoreError::Io {
                        path: path.to_path_buf(),
                        source: std::io::Error::other("file changed while it was ingested"),
                    });
                }
                tmp.persist(&dest)
                    .map_err(|e| StoreError::io(&dest)(e.error))?;
                std::fs::remove_file(path).map_err(StoreError::io(path))?;
            }
            Err(e) => return Err(StoreError::io(&dest)(e)),
        }
        sync_dir(&self.inner.blobs)?;
        Ok(Blob {
            digest,
            size,
            path: dest,
        })
    }

    /// Fetch `url` into the store and return the verified blob.
    ///
    /// - If `expected` is a SHA-256 whose blob is present and intact, or this URL was fetched
    ///   before and its blob is still present and intact (and matches `expected`, if given), no
    ///   request is made.
    /// - `http(s)`: the body streams through SHA-256 (plus SHA-512 when `expected` is one) into
    ///   `tmp/<key>.part`. A body that breaks off is resumed with `Range` (and `If-Range` when the
    ///   server gave a validator) a few times within this call; if it still fails, the `.part`
    ///   file stays for the next call to resume.
    /// - `file`: the file is copied the same way (streamed and hashed).
    /// - On a digest mismatch nothing is stored and the partial file is deleted.
    pub async fn fetch(
        &self,
        client: &HttpClient,
        url: &url::Url,
        expected: Option<&Digest>,
    ) -> Result<Blob, StoreError> {
        let key = url_key(url);
        let lock = {
            let mut locks = self
                .inner
                .url_locks
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            locks.entry(key.clone()).or_default().clone()
        };
        // Held by the download's writer thread too: a fetch dropped mid-body leaves that thread
        // writing its last chunks, and no other fetch of the URL may touch the file till then.
        let guard = Arc::new(lock.lock_owned().await);

        if let Some(blob) = self.cached(url, &key, expected).await? {
            return Ok(blob);
        }
        let want_sha512 = expected.is_some_and(|d| d.algorithm() == Algorithm::Sha512);
        let fetched = match url.scheme() {
            "http" | "https" => {
                match fetch::download(self, client, url, &key, want_sha512, &guard).await {
                    Ok(fetched) => fetched,
                    Err(e) => {
                        // Keep partial bytes for a resume, but not an empty `.part` left by a
                        // request that failed before any body arrived.
                        let part = self.partial_path(url);
                        if std::fs::metadata(&part).is_ok_and(|m| m.len() == 0) {
                            let _ = std::fs::remove_file(&part);
                            let _ = std::fs::remove_file(part.with_extension("part.json"));
                        }
                        return Err(e);
                    }
                }
            }
            "file" => fetch::copy_local(self, url, want_sha512).await?,
            _ => {
                return Err(StoreError::UnsupportedScheme {
                    url: SafeUrl::new(url),
                });
            }
        };
        if let Some(expected) = expected {
            let actual = match expected.algorithm() {
                Algorithm::Sha256 => Some(&fetched.sha256),
                Algorithm::Sha512 => fetched.sha512.as_ref(),
            };
            if let Some(actual) = actual.filter(|a| *a != expected) {
                let actual = actual.clone();
                fetched.discard();
                return Err(StoreError::ChecksumMismatch {
                    url: SafeUrl::new(url),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        let (digest, size, sha512) = (fetched.sha256.clone(), fetched.size, fetched.sha512.clone());
        let dest = self.path(&digest);
        let store = self.clone();
        let blob = tokio::task::spawn_blocking(move || {
            fetched.persist(&dest)?;
            sync_dir(&store.inner.blobs)?;
            Ok::<_, StoreError>(Blob {
                digest,
                size,
                path: dest,
            })
        })
        .await
        .map_err(|e| StoreError::Io {
            path: self.inner.blobs.clone(),
            source: std::io::Error::other(e),
        })??;
        self.write_record(
            &key,
            &UrlRecord {
                url: SafeUrl::new(url).to_string(),
                digest: blob.digest.clone(),
                size: blob.size,
                sha512,
            },
        )?;
        Ok(blob)
    }

    /// The `.part` file a download of `url` resumes from (for diagnostics and tests).
    pub fn partial_path(&self, url: &url::Url) -> PathBuf {
        self.inner.tmp.join(format!("{}.part", url_key(url)))
    }

    /// A blob that makes fetching `url` unnecessary, if the store has an intact one.
    async fn cached(
        &self,
        url: &url::Url,
        key: &str,
        expected: Option<&Digest>,
    ) -> Result<Option<Blob>, StoreError> {
        let store = self.clone();
        let key = key.to_string();
        let expected = expected.cloned();
        let safe = SafeUrl::new(url);
        tokio::task::spawn_blocking(move || {
            if let Some(d) = expected
                .as_ref()
                .filter(|d| d.algorithm() == Algorithm::Sha256)
                && let Some(blob) = store.verify(d)?
            {
                return Ok(Some(blob));
            }
            let Some(record) = store.read_record(&key) else {
                return Ok(None);
            };
            let matches_expected = match &expected {
                None => true,
                Some(d) if d.algorithm() == Algorithm::Sha256 => *d == record.digest,
                Some(d) => record.sha512.as_ref() == Some(d),
            };
            if !matches_expected {
                // Upstream content changed, or the caller expects something else: fetch again.
                return Ok(None);
            }
            let blob = store.verify(&record.digest)?;
            if blob.is_some() {
                tracing::debug!(url = %safe, digest = %record.digest, "already in the store");
            }
            Ok(blob)
        })
        .await
        .map_err(|e| StoreError::Io {
            path: self.inner.blobs.clone(),
            source: std::io::Error::other(e),
        })?
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.inner.downloads.join(format!("{key}.json"))
    }

    /// The record for a URL key; `None` if absent or unreadable (it is only a cache).
    fn read_record(&self, key: &str) -> Option<UrlRecord> {
        let path = self.record_path(key);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(record) => Some(record),
            Err(_) => {
                tracing::warn!(file = %path.display(), "ignoring a malformed download record");
                None
            }
        }
    }

    /// Write a record atomically (temp file + rename) so a crash never leaves half a record.
    fn write_record(&self, key: &str, record: &UrlRecord) -> Result<(), StoreError> {
        let path = self.record_path(key);
        let json = serde_json::to_vec_pretty(record).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        let mut tmp = tempfile::Builder::new()
            .suffix(".tmp")
            .tempfile_in(&self.inner.tmp)
            .map_err(StoreError::io(&self.inner.tmp))?;
        tmp.write_all(&json).map_err(StoreError::io(tmp.path()))?;
        tmp.persist(&path)
            .map_err(|e| StoreError::io(&path)(e.error))?;
        Ok(())
    }
}

/// The key a URL is stored under: SHA-256 of the URL without user info (credentials are not part
/// of what the URL names, and must not end up in a file name).
fn url_key(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Digest::sha256_of(u.as_str().as_bytes()).hex().to_string()
}

/// SHA-256 (and optionally SHA-512) and length of a file, read in pieces.
fn hash_file(path: &Path, sha512: bool) -> std::io::Result<(Digest, Option<Digest>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hashers = Hashers::new(sha512);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hashers.update(&buf[..n]);
    }
    Ok(hashers.finish())
}

/// Copy `src` into a new temp file in `tmp_dir` while hashing; the copy is fsynced.
fn copy_hashing(
    src: &Path,
    tmp_dir: &Path,
    sha512: bool,
) -> Result<(tempfile::NamedTempFile, Digest, Option<Digest>, u64), StoreError> {
    let mut input = std::fs::File::open(src).map_err(StoreError::source(src))?;
    let mut out = tempfile::Builder::new()
        .suffix(".tmp")
        .tempfile_in(tmp_dir)
        .map_err(StoreError::io(tmp_dir))?;
    let mut hashers = Hashers::new(sha512);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = input.read(&mut buf).map_err(StoreError::source(src))?;
        if n == 0 {
            break;
        }
        hashers.update(&buf[..n]);
        // The file, not the `NamedTempFile`: its errors repeat the path we add ourselves.
        out.as_file_mut()
            .write_all(&buf[..n])
            .map_err(StoreError::io(out.path()))?;
    }
    out.as_file()
        .sync_all()
        .map_err(StoreError::io(out.path()))?;
    let (sha256, sha512, size) = hashers.finish();
    Ok((out, sha256, sha512, size))
}

/// fsync a directory so a rename into it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// SHA-256 always, SHA-512 on request, plus a byte count.
struct Hashers {
    sha256: Hasher,
    sha512: Option<Hasher>,
    len: u64,
}

impl Hashers {
    fn new(sha512: bool) -> Hashers {
        Hashers {
            sha256: Hasher::new(Algorithm::Sha256),
            sha512: sha512.then(|| Hasher::new(Algorithm::Sha512)),
            len: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        if let Some(h) = &mut self.sha512 {
            h.update(bytes);
        }
        self.len += bytes.len() as u64;
    }

    fn finish(self) -> (Digest, Option<Digest>, u64) {
        (
            self.sha256.finish(),
            self.sha512.map(Hasher::finish),
            self.len,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_moves_a_file_in_and_verify_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("work")).unwrap();
        let src = store.tmp_dir().join("layer.tar");
        std::fs::write(&src, b"layer bytes").unwrap();
        let blob = store.ingest_file(&src).unwrap();
        assert_eq!(blob.digest, Digest::sha256_of(b"layer bytes"));
        assert_eq!(blob.size, 11);
        assert_eq!(blob.path, store.path(&blob.digest));
        assert!(!src.exists());
        assert!(store.has(&blob.digest));
        assert_eq!(store.verify(&blob.digest).unwrap(), Some(blob.clone()));

        std::fs::write(&blob.path, b"bit rot").unwrap();
        assert_eq!(store.verify(&blob.digest).unwrap(), None);
        assert!(!store.has(&blob.digest), "a corrupt blob is deleted");
        store.remove(&blob.digest).unwrap();
    }

    #[test]
    fn ingest_of_a_missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = store.ingest_file(dir.path().join("nope")).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Io);
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn open_fails_with_74_when_the_work_dir_cannot_be_created() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let err = Store::open(file.join("sub")).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Io);
    }

    #[test]
    fn url_keys_ignore_credentials_only() {
        let k = |s: &str| url_key(&url::Url::parse(s).unwrap());
        assert_eq!(k("https://u:p@h/f"), k("https://h/f"));
        assert_ne!(k("https://h/f?v=1"), k("https://h/f?v=2"));
    }

    #[test]
    fn exit_codes() {
        let url = SafeUrl::new(&url::Url::parse("https://h/f").unwrap());
        let status = |status| StoreError::Status {
            url: url.clone(),
            status,
        };
        let table = [
            (status(401), ExitCode::NoPermission),
            (status(403), ExitCode::NoPermission),
            (status(404), ExitCode::ItemFailed),
            (status(500), ExitCode::ItemFailed),
            (
                StoreError::Http(HttpError::Unreachable {
                    url: url.clone(),
                    reason: "refused".into(),
                }),
                ExitCode::Unavailable,
            ),
            (
                StoreError::Interrupted {
                    url: url.clone(),
                    attempts: 3,
                    reason: "reset".into(),
                },
                ExitCode::Unavailable,
            ),
            (
                StoreError::Io {
                    path: "/x".into(),
                    source: std::io::Error::other("disk full"),
                },
                ExitCode::Io,
            ),
        ];
        for (err, code) in table {
            assert_eq!(err.exit_code(), code, "{err}");
        }
    }
}
