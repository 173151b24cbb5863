//! What the apt and rpm syncs share: the context of a sync, a failure naming the file, and
//! downloads checked against the digest and size their index gives, into the work dir's store
//! and from there into the root's pool.

use std::path::{Path, PathBuf};

use mirrorkit_core::digest::{Algorithm, Digest};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::store::{Store, StoreError};
use url::Url;

/// Why something of a repository could not be mirrored: the file (or URL) and why, with its
/// code.
#[derive(Clone, Debug)]
pub struct Failure {
    /// `bookworm: pool/main/h/hello/hello_1.0_amd64.deb`.
    pub what: String,
    /// Why.
    pub reason: String,
    /// The exit code it stands for.
    pub code: ExitCode,
}

/// What a sync needs.
pub struct Context<'a> {
    /// The run's client.
    pub http: &'a HttpClient,
    /// The work dir's verified download store.
    pub store: &'a Store,
    /// Where conditional GETs keep their `ETag`s.
    pub cache_dir: &'a Path,
    /// Plan only.
    pub dry_run: bool,
}

pub(crate) fn fail(what: impl Into<String>, reason: impl Into<String>, code: ExitCode) -> Failure {
    Failure {
        what: what.into(),
        reason: reason.into(),
        code,
    }
}

pub(crate) fn digest_of(kind: &str, hex: &str) -> Option<Digest> {
    format!("{kind}:{hex}").parse().ok()
}

/// The SHA-512 of a file, lowercase hex (streamed).
pub(crate) fn sha512_file(path: &Path) -> Result<String, String> {
    hash_file(path, Algorithm::Sha512)
}

/// The SHA-256 of a file, lowercase hex (streamed).
pub(crate) fn sha256_file(path: &Path) -> Result<String, String> {
    hash_file(path, Algorithm::Sha256)
}

fn hash_file(path: &Path, algorithm: Algorithm) -> Result<String, String> {
    mirrorkit_core::digest::hash_file(path, algorithm)
        .map(|(d, _)| d.hex().to_string())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The bytes the downloads in `results` brought; each failure goes to `failures`.
pub(crate) fn downloaded(results: Vec<Result<u64, Failure>>, failures: &mut Vec<Failure>) -> u64 {
    let mut bytes = 0;
    for r in results {
        match r {
            Ok(n) => bytes += n,
            Err(f) => failures.push(f),
        }
    }
    bytes
}

/// Drop the work dir's copy of a file the pool now holds: the pool is where repository files
/// live, and a second link would keep `cleanup-state` from ever freeing it.
pub(crate) fn forget(store: &Store, sha256: &str) {
    if let Some(d) = digest_of("sha256", sha256)
        && let Err(e) = store.remove(&d)
    {
        tracing::debug!(%e, "the work dir keeps its copy");
    }
}

/// Why a verified fetch failed.
pub(crate) enum FetchError {
    /// The server has no such file (404).
    NotFound(String),
    /// Anything else: why, and its code.
    Failed(String, ExitCode),
}

impl FetchError {
    pub(crate) fn into_parts(self) -> (String, ExitCode) {
        match self {
            FetchError::NotFound(m) => (m, ExitCode::ItemFailed),
            FetchError::Failed(m, c) => (m, c),
        }
    }
}

/// Fetch `url` into the store checked against `sha256` and `size`; its local path.
pub(crate) async fn fetch_verified(
    ctx: &Context<'_>,
    url: &Url,
    sha256: &str,
    size: u64,
) -> Result<PathBuf, FetchError> {
    let digest = digest_of("sha256", sha256).ok_or_else(|| {
        FetchError::Failed(format!("{sha256:?} is not a SHA-256"), ExitCode::ItemFailed)
    })?;
    fetch_digest(ctx, url, &digest, Some(size))
        .await
        .map(|(path, _)| path)
}

/// Fetch `url` into the store checked against `digest` (SHA-256 or SHA-512) and `size` when
/// known; its local path and its SHA-256 (the pool's key).
pub(crate) async fn fetch_digest(
    ctx: &Context<'_>,
    url: &Url,
    digest: &Digest,
    size: Option<u64>,
) -> Result<(PathBuf, String), FetchError> {
    let blob = ctx
        .store
        .fetch(ctx.http, url, Some(digest))
        .await
        .map_err(|e| match e {
            StoreError::Status { status: 404, .. } => FetchError::NotFound(e.to_string()),
            e => {
                let code = match e.exit_code() {
                    ExitCode::Data => ExitCode::ItemFailed,
                    c => c,
                };
                FetchError::Failed(e.to_string(), code)
            }
        })?;
    if let Some(size) = size
        && blob.size != size
    {
        return Err(FetchError::Failed(
            format!("{} bytes where the index says {size}", blob.size),
            ExitCode::ItemFailed,
        ));
    }
    Ok((blob.path, blob.digest.hex().to_string()))
}

/// What happened to one suite (apt) or repository (rpm).
#[derive(Clone, Debug)]
pub enum SuiteOutcome {
    /// Its signed metadata (`InRelease`, `repomd.xml`) is the one the current tree has:
    /// nothing to do.
    Unchanged,
    /// Verified and staged: `files` pool files, `fetched` of them downloaded (`bytes`).
    Staged {
        /// Pool files the suite names.
        files: usize,
        /// Downloaded in this run.
        fetched: usize,
        /// Bytes downloaded.
        bytes: u64,
    },
    /// Dry run: what a sync would download.
    Planned {
        /// Pool files the suite names.
        files: usize,
        /// Not in the pool yet.
        missing: usize,
    },
}

/// `rel` (a path from upstream metadata) under the repository URL `base`: refused unless the
/// result stays on the same scheme, host and port, below `base`'s path (a signed index naming
/// `file:…` or another host must not make the mirror read local files or probe other hosts).
pub(crate) fn under(base: &Url, rel: &str) -> Result<Url, String> {
    let url = base
        .join(rel)
        .map_err(|e| format!("{rel:?}: not a path under the repository: {e}"))?;
    let same = url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default()
        && url.path().starts_with(base.path());
    if !same || !crate::release::is_safe_path(rel) {
        return Err(format!("{rel:?}: not a path under the repository"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_paths_stay_under_the_repository() {
        let base = Url::parse("http://mirror.example/debian/").unwrap();
        assert_eq!(
            under(&base, "pool/main/h/hello.deb").unwrap().as_str(),
            "http://mirror.example/debian/pool/main/h/hello.deb"
        );
        for bad in [
            "file:etc/passwd",
            "https:other.example/x",
            "//other.example/x",
            "/etc/passwd",
            "../up.deb",
            "pool/../../x",
        ] {
            assert!(under(&base, bad).is_err(), "{bad:?}");
        }
    }
}
