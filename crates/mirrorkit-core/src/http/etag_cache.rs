//! Documents kept with their validators between runs, so that an unchanged one is asked for
//! with `If-None-Match` (or `If-Modified-Since` when the server gives no `ETag`) and comes back
//! as a bodiless 304: a GitHub release list that costs no rate limit, a chart repository's
//! `index.yaml` (tens of MiB for big public repositories), a package's metadata — a warm run
//! is one conditional request per package.
//!
//! The entries live in one embedded SQLite database in the cache directory
//! (`metadata.sqlite`, table `documents`: kind, the SHA-256 of the URL, the URL with its
//! credentials removed, ETag, Last-Modified, `Link`, the body, its SHA-256, and when it was
//! fetched), written in a transaction: a run killed at any point leaves the previous entry or
//! the new one, and another process reading meanwhile waits for the lock. Commits are not
//! synced one by one (`synchronous = NORMAL` in WAL mode): a power cut may lose the newest
//! entries, which only means fetching those documents again. An entry whose body
//! does not match its recorded hash, or that cannot be read, is ignored (the request then goes
//! out unconditionally). Nothing depends on the cache for correctness: a failure to write it is
//! a warning in the log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::redact::SafeUrl;

/// The database file in the cache directory.
pub const DB_FILE: &str = "metadata.sqlite";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    url_sha256 TEXT NOT NULL,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    link TEXT,
    body BLOB NOT NULL,
    body_sha256 TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (kind, url_sha256)
)";

/// A cache of documents of one kind (`github-releases`, `helm-index`, `npm-packument`) under a
/// directory.
#[derive(Clone, Debug)]
pub struct EtagCache {
    dir: PathBuf,
    kind: &'static str,
}

/// A usable entry.
#[derive(Clone, Debug)]
pub struct Cached {
    /// The validator to send as `If-None-Match` (empty when the server gave only a
    /// `Last-Modified`).
    pub etag: String,
    /// The validator to send as `If-Modified-Since` when there is no `etag`.
    pub last_modified: Option<String>,
    /// The `Link` header of the response (GitHub pagination).
    pub link: Option<String>,
    /// The document as it was served.
    pub body: Vec<u8>,
}

/// The validators a response came with.
#[derive(Clone, Debug, Default)]
pub struct Validators<'a> {
    /// `ETag`.
    pub etag: Option<&'a str>,
    /// `Last-Modified`.
    pub last_modified: Option<&'a str>,
}

fn open(dir: &Path, create: bool) -> rusqlite::Result<Option<Connection>> {
    match open_once(dir, create) {
        // A database damaged behind the cache's back (or not one at all) is started afresh when
        // an entry is to be stored: it only held what can be fetched again.
        Err(e) if create && is_damaged(&e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "metadata cache damaged; starting it afresh");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("{DB_FILE}{suffix}")));
            }
            open_once(dir, create)
        }
        other => other,
    }
}

fn is_damaged(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

fn open_once(dir: &Path, create: bool) -> rusqlite::Result<Option<Connection>> {
    let path = dir.join(DB_FILE);
    if !create && !path.is_file() {
        return Ok(None);
    }
    if create && let Err(e) = std::fs::create_dir_all(dir) {
        return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(e)));
    }
    let c = Connection::open(&path)?;
    c.busy_timeout(Duration::from_secs(60))?;
    if create {
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.execute_batch(SCHEMA)?;
    }
    // A cache: a commit need not reach the disk before the run goes on (WAL keeps the database
    // whole through a crash; a power cut may lose the last entries, which are fetched again).
    c.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(Some(c))
}

fn is_header_value(s: &str) -> bool {
    reqwest::header::HeaderValue::from_str(s).is_ok()
}

impl EtagCache {
    /// Entries of `kind` under `dir` (the database is created when the first entry is stored).
    pub fn new(dir: impl Into<PathBuf>, kind: &'static str) -> EtagCache {
        EtagCache {
            dir: dir.into(),
            kind,
        }
    }

    fn key(url: &Url) -> String {
        hex::encode(Sha256::digest(url.as_str().as_bytes()))
    }

    /// The entry for `url`, if there is an intact one.
    pub async fn load(&self, url: &Url) -> Option<Cached> {
        let (dir, kind, key) = (self.dir.clone(), self.kind, Self::key(url));
        let row = tokio::task::spawn_blocking(move || -> rusqlite::Result<Option<_>> {
            let Some(c) = open(&dir, false)? else {
                return Ok(None);
            };
            c.query_row(
                "SELECT etag, last_modified, link, body, body_sha256 FROM documents \
                 WHERE kind = ?1 AND url_sha256 = ?2",
                params![kind, key],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
        })
        .await;
        let (etag, last_modified, link, body, sha) = match row {
            Ok(Ok(Some(row))) => row,
            Ok(Ok(None)) => return None,
            Ok(Err(e)) => {
                tracing::debug!(kind = self.kind, error = %e, "cache unreadable, ignoring it");
                return None;
            }
            Err(_) => return None,
        };
        if hex::encode(Sha256::digest(&body)) != sha {
            tracing::debug!(
                kind = self.kind,
                "cached body does not match its hash, ignoring it"
            );
            return None;
        }
        let etag = etag.filter(|e| is_header_value(e)).unwrap_or_default();
        let last_modified = last_modified.filter(|l| is_header_value(l));
        if etag.is_empty() && last_modified.is_none() {
            return None;
        }
        Some(Cached {
            etag,
            last_modified,
            link,
            body,
        })
    }

    /// Keep `body` with its `etag` for the next run.
    pub async fn store(&self, url: &Url, etag: &str, link: Option<&str>, body: &[u8]) {
        self.store_with(
            url,
            Validators {
                etag: Some(etag),
                last_modified: None,
            },
            link,
            body,
        )
        .await;
    }

    /// Keep `body` with its validators for the next run.
    pub async fn store_with(
        &self,
        url: &Url,
        validators: Validators<'_>,
        link: Option<&str>,
        body: &[u8],
    ) {
        let (dir, kind, key) = (self.dir.clone(), self.kind, Self::key(url));
        let shown = SafeUrl::new(url).to_string();
        let etag = validators.etag.map(str::to_string);
        let last_modified = validators.last_modified.map(str::to_string);
        let link = link.map(str::to_string);
        let body = body.to_vec();
        let fetched_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let result = tokio::task::spawn_blocking(move || -> rusqlite::Result<()> {
            let Some(c) = open(&dir, true)? else {
                return Ok(());
            };
            let sha = hex::encode(Sha256::digest(&body));
            c.execute(
                "INSERT OR REPLACE INTO documents (kind, url_sha256, url, etag, last_modified, \
                 link, body, body_sha256, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    kind,
                    key,
                    shown,
                    etag,
                    last_modified,
                    link,
                    body,
                    sha,
                    fetched_at
                ],
            )?;
            Ok(())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(kind = self.kind, error = %e, "could not write the cache"),
            Err(e) => tracing::warn!(kind = self.kind, error = %e, "could not write the cache"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_round_trip_and_a_damaged_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EtagCache::new(dir.path().join("c"), "helm-index");
        let url = Url::parse("https://user:pw@charts.example.org/index.yaml").unwrap();
        assert!(cache.load(&url).await.is_none());
        cache
            .store(&url, "\"v1\"", Some("<next>"), b"apiVersion: v1\n")
            .await;
        let hit = cache.load(&url).await.unwrap();
        assert_eq!(
            (hit.etag.as_str(), hit.link.as_deref(), hit.body.as_slice()),
            ("\"v1\"", Some("<next>"), &b"apiVersion: v1\n"[..])
        );
        let other = Url::parse("https://charts.example.org/other/index.yaml").unwrap();
        assert!(cache.load(&other).await.is_none());
        // The password never reaches the cache.
        let db = Connection::open(dir.path().join("c").join(DB_FILE)).unwrap();
        let shown: String = db
            .query_row("SELECT url FROM documents", [], |r| r.get(0))
            .unwrap();
        assert!(!shown.contains("pw@"), "{shown}");
        // A body changed behind the cache's back is not used.
        db.execute("UPDATE documents SET body = x'00'", []).unwrap();
        assert!(cache.load(&url).await.is_none());
        // An entry with only a Last-Modified is one.
        cache
            .store_with(
                &other,
                Validators {
                    etag: None,
                    last_modified: Some("Wed, 21 Oct 2026 07:28:00 GMT"),
                },
                None,
                b"x",
            )
            .await;
        let hit = cache.load(&other).await.unwrap();
        assert_eq!(hit.etag, "");
        assert_eq!(
            hit.last_modified.as_deref(),
            Some("Wed, 21 Oct 2026 07:28:00 GMT")
        );
        // A database that is not one any more is not used, and is started afresh by the next
        // store.
        drop(db);
        for entry in std::fs::read_dir(dir.path().join("c")).unwrap() {
            std::fs::write(entry.unwrap().path(), b"{not json").unwrap();
        }
        assert!(cache.load(&other).await.is_none());
        cache.store(&other, "\"v2\"", None, b"y").await;
        assert_eq!(cache.load(&other).await.unwrap().body, b"y");
        // Nor is an ETag that cannot be sent as a header.
        cache.store(&url, "bad\nvalue", None, b"x").await;
        assert!(cache.load(&url).await.is_none());
    }
}
