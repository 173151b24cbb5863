//! Classic chart repositories: `<repo>/index.yaml` lists every chart's versions with their
//! archive URLs (relative to the repository or absolute) and the archive's SHA-256. Archives are
//! streamed into a temp file through the hasher, bounded in size, and checked against the index
//! before anything of them is used. `file://` repositories are read the same way.

use std::collections::BTreeMap;
use std::path::Path;

use mirrorkit_core::digest::{Algorithm, Digest, Hasher};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::credentials::{Credentials, RegistryAuth};
use mirrorkit_core::http::etag_cache::EtagCache;
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::http::redact::Secret;
use tokio::io::AsyncWriteExt as _;
use url::Url;

use super::chart::yaml_with;

/// Largest `index.yaml` read (big public repositories are tens of MiB).
const MAX_INDEX_BYTES: u64 = 128 * 1024 * 1024;
/// Largest `.prov` file read.
pub(crate) const MAX_PROV_BYTES: u64 = 1024 * 1024;

/// HTTP Basic credentials for a classic repository — the registry credentials of its host
/// (docker `config.json` `auths` or credential helper, `MIRRORKIT_REGISTRY_USERNAME` /
/// `_PASSWORD`). Sent to the repository's own host only (an archive URL on another host gets
/// none), and over plain HTTP only to a host marked `insecure`.
#[derive(Clone, Default)]
pub(crate) struct RepoAuth {
    /// `host[:port]` of the repository.
    host: String,
    basic: Option<(String, Secret)>,
    /// The host is marked `insecure`: credentials may go over plain HTTP.
    plain_http: bool,
}

impl RepoAuth {
    /// The credentials for the repository at `repo`, if any.
    pub(crate) fn for_repo(
        repo: &Url,
        credentials: &Credentials,
        insecure_hosts: &[String],
    ) -> RepoAuth {
        let Some(host) = host_port(repo) else {
            return RepoAuth::default(); // file://
        };
        let basic = match credentials.lookup(&host) {
            Some(RegistryAuth::Basic { username, password }) => Some((username, password)),
            _ => None,
        };
        RepoAuth {
            plain_http: insecure_hosts.contains(&host),
            host,
            basic,
        }
    }

    /// The credentials to send with a request for `url`.
    fn for_url(&self, url: &Url) -> Option<(&str, &Secret)> {
        let (user, password) = self.basic.as_ref()?;
        let secure = url.scheme() == "https" || (url.scheme() == "http" && self.plain_http);
        (secure && host_port(url).as_deref() == Some(self.host.as_str()))
            .then_some((user.as_str(), password))
    }

    /// What a 401/403 from `url` should add: why no credentials were sent.
    fn hint(&self, url: &Url) -> String {
        if self.for_url(url).is_some() {
            " (the credentials for it were refused)".into()
        } else if self.basic.is_some() && host_port(url).as_deref() == Some(self.host.as_str()) {
            format!(
                " (credentials for {} are sent over https only, or to a host marked `insecure`)",
                self.host
            )
        } else {
            " (no credentials were sent: give them as for a registry, in docker's config.json \
             `auths` or MIRRORKIT_REGISTRY_USERNAME/PASSWORD)"
                .into()
        }
    }
}

/// `host[:port]` of a URL (`None` for `file://`).
fn host_port(url: &Url) -> Option<String> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// A failure to read from a repository, with the exit code it stands for.
#[derive(Debug)]
pub(crate) struct FetchError {
    /// What and why (credential-free).
    pub message: String,
    /// 65 malformed, 69 unreachable, 74 local I/O, 77 refused.
    pub exit_code: ExitCode,
}

impl FetchError {
    fn new(exit_code: ExitCode, message: String) -> FetchError {
        FetchError { message, exit_code }
    }
}

/// One version of the chart as `index.yaml` lists it.
#[derive(Clone, Debug)]
pub(crate) struct IndexEntry {
    /// The chart version.
    pub version: String,
    /// Archive URLs, resolved against the repository (the first one is used).
    pub urls: Vec<Url>,
    /// The archive's digest, when the index gives one.
    pub digest: Option<Digest>,
    /// Why the entry cannot be used (a bad URL or digest), if so.
    pub problem: Option<String>,
}

/// A scalar written as a string, a number or a boolean.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(serde::Deserialize)]
struct RawIndex {
    entries: Option<BTreeMap<String, Option<Vec<RawEntry>>>>,
}

/// An index entry: only the fields used here (the others are skipped unread).
#[derive(serde::Deserialize)]
struct RawEntry {
    version: Option<Scalar>,
    urls: Option<Vec<Scalar>>,
    digest: Option<Scalar>,
}

/// The repository's `index.yaml` URL (`<repo>/index.yaml`, the repository taken as a directory).
pub(crate) fn index_url(repo: &Url) -> Result<Url, FetchError> {
    let mut base = repo.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join("index.yaml").map_err(|e| {
        FetchError::new(
            ExitCode::Data,
            format!("{}: not a repository URL: {e}", SafeUrl::new(repo)),
        )
    })
}

/// Read the index and return the versions of `chart`. A malformed index, or one without the
/// chart, is a data error naming the file.
///
/// With a `cache`, the index is asked for with the `ETag` it had last time and, unchanged,
/// taken from the cache instead of downloaded again.
pub(crate) async fn chart_entries(
    http: &HttpClient,
    auth: &RepoAuth,
    cache: Option<&EtagCache>,
    repo: &Url,
    chart: &str,
) -> Result<Vec<IndexEntry>, FetchError> {
    let url = index_url(repo)?;
    let what = SafeUrl::new(&url).to_string();
    let cached = match cache {
        Some(c) if url.scheme() != "file" => c.load(&url).await,
        _ => None,
    };
    let mut sink = Sink::Memory(Vec::new());
    let validator = cached.as_ref().map(|c| c.etag.as_str());
    let bytes = match (
        fetch(http, auth, &url, MAX_INDEX_BYTES, &mut sink, validator).await?,
        sink,
    ) {
        (Fetched::Missing, _) => {
            return Err(FetchError::new(
                ExitCode::Unavailable,
                format!("{what}: not found (404)"),
            ));
        }
        (Fetched::NotModified, _) => match cached {
            Some(c) => {
                tracing::debug!(url = %what, "index.yaml unchanged (304), using the cached copy");
                c.body
            }
            None => {
                return Err(FetchError::new(
                    ExitCode::Unavailable,
                    format!("{what}: answered 304 to a request that was not conditional"),
                ));
            }
        },
        (Fetched::Body { etag }, Sink::Memory(bytes)) => {
            if let (Some(cache), Some(etag)) = (cache, etag) {
                cache.store(&url, &etag, None, &bytes).await;
            }
            bytes
        }
        (Fetched::Body { .. }, Sink::File { .. }) => {
            return Err(FetchError::new(
                ExitCode::Io,
                "internal: sink changed".into(),
            ));
        }
    };
    parse_index(&bytes, &url, chart)
        .map_err(|e| FetchError::new(ExitCode::Data, format!("{what}: {e}")))
}

/// Parse `index.yaml` (served at `url`) and resolve the entries of `chart`.
pub(crate) fn parse_index(bytes: &[u8], url: &Url, chart: &str) -> Result<Vec<IndexEntry>, String> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 100_000_000;
    budget.max_nodes = 50_000_000;
    budget.max_total_scalar_bytes = MAX_INDEX_BYTES as usize;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    let raw: RawIndex = yaml_with(bytes, options)?;
    let entries = raw.entries.ok_or("no `entries`")?;
    let list = entries
        .get(chart)
        .ok_or_else(|| format!("no chart named {chart:?} in `entries`"))?;
    let mut out = Vec::new();
    for (i, e) in list.iter().flatten().enumerate() {
        let version = e
            .version
            .as_ref()
            .map(Scalar::text)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("entries.{chart}[{i}]: `version` is missing"))?;
        let mut problem = None;
        let mut urls = Vec::new();
        for u in e.urls.iter().flatten() {
            match resolve(url, &u.text()) {
                Ok(u) => urls.push(u),
                Err(why) => problem = Some(why),
            }
        }
        if urls.is_empty() && problem.is_none() {
            problem = Some("index.yaml lists no URL for it".into());
        }
        let digest = match e.digest.as_ref().map(Scalar::text) {
            None => None,
            Some(d) if d.is_empty() => None,
            Some(d) => {
                let d = d.to_ascii_lowercase();
                let d = if d.contains(':') {
                    d
                } else {
                    format!("sha256:{d}")
                };
                match d.parse::<Digest>() {
                    Ok(d) => Some(d),
                    Err(_) => {
                        problem = Some(format!("index.yaml digest {d:?} is not a SHA-256 digest"));
                        None
                    }
                }
            }
        };
        out.push(IndexEntry {
            version,
            urls,
            digest,
            problem,
        });
    }
    Ok(out)
}

/// An archive URL of the index: relative to the repository, or absolute with the same kind of
/// scheme (an http repository cannot point into the local file system; see
/// [`mirrorkit_core::source::upstream_url`]).
fn resolve(index: &Url, u: &str) -> Result<Url, String> {
    mirrorkit_core::source::upstream_url::resolve(index, u)
        .map_err(|e| format!("in index.yaml: {e}"))
}

/// Where fetched bytes go.
enum Sink {
    Memory(Vec<u8>),
    File {
        file: tokio::fs::File,
        path: std::path::PathBuf,
        hasher: Box<Hasher>,
    },
}

impl Sink {
    async fn put(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        match self {
            Sink::Memory(v) => v.extend_from_slice(chunk),
            Sink::File { file, path, hasher } => {
                hasher.update(chunk);
                file.write_all(chunk).await.map_err(|e| {
                    FetchError::new(ExitCode::Io, format!("{}: {e}", path.display()))
                })?;
            }
        }
        Ok(())
    }
}

/// GET `url` into memory, at most `limit` bytes; `None` on 404 (or a missing file).
pub(crate) async fn fetch_bytes(
    http: &HttpClient,
    auth: &RepoAuth,
    url: &Url,
    limit: u64,
) -> Result<Option<Vec<u8>>, FetchError> {
    let mut sink = Sink::Memory(Vec::new());
    let found = fetch(http, auth, url, limit, &mut sink, None).await?;
    match (sink, found) {
        (Sink::Memory(v), Fetched::Body { .. }) => Ok(Some(v)),
        _ => Ok(None),
    }
}

/// Download `url` into `dest` through SHA-256, at most `limit` bytes. Returns the digest and
/// size; a 404 is an error.
pub(crate) async fn download(
    http: &HttpClient,
    auth: &RepoAuth,
    url: &Url,
    dest: &Path,
    limit: u64,
) -> Result<(Digest, u64), FetchError> {
    let io_err =
        |e: std::io::Error| FetchError::new(ExitCode::Io, format!("{}: {e}", dest.display()));
    let file = tokio::fs::File::create(dest).await.map_err(io_err)?;
    let mut sink = Sink::File {
        file,
        path: dest.to_path_buf(),
        hasher: Box::new(Hasher::new(Algorithm::Sha256)),
    };
    let found = fetch(http, auth, url, limit, &mut sink, None).await?;
    if !matches!(found, Fetched::Body { .. }) {
        return Err(FetchError::new(
            ExitCode::Unavailable,
            format!("{}: not found (404)", SafeUrl::new(url)),
        ));
    }
    let Sink::File {
        mut file, hasher, ..
    } = sink
    else {
        return Err(FetchError::new(
            ExitCode::Io,
            "internal: sink changed".into(),
        ));
    };
    file.flush().await.map_err(io_err)?;
    let size = file.metadata().await.map_err(io_err)?.len();
    Ok((hasher.finish(), size))
}

/// What [`fetch`] found.
enum Fetched {
    /// 404, 410, or a missing file.
    Missing,
    /// 304: the validator sent still holds.
    NotModified,
    /// The body is in the sink; the response's `ETag`, if any.
    Body { etag: Option<String> },
}

/// Stream `url` (http, https or file) into `sink`, conditionally when `if_none_match` is given.
async fn fetch(
    http: &HttpClient,
    auth: &RepoAuth,
    url: &Url,
    limit: u64,
    sink: &mut Sink,
    if_none_match: Option<&str>,
) -> Result<Fetched, FetchError> {
    let what = SafeUrl::new(url).to_string();
    let too_big = || FetchError::new(ExitCode::Data, format!("{what}: larger than {limit} bytes"));
    if url.scheme() == "file" {
        let path = url.to_file_path().map_err(|()| {
            FetchError::new(ExitCode::Data, format!("{what}: not a local file path"))
        })?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Fetched::Missing),
            Err(e) => {
                return Err(FetchError::new(
                    ExitCode::Io,
                    format!("{}: {e}", path.display()),
                ));
            }
        };
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf)
                .await
                .map_err(|e| FetchError::new(ExitCode::Io, format!("{}: {e}", path.display())))?;
            if n == 0 {
                return Ok(Fetched::Body { etag: None });
            }
            total += n as u64;
            if total > limit {
                return Err(too_big());
            }
            sink.put(&buf[..n]).await?;
        }
    }
    let mut response = http
        .send(url, |c| {
            let mut r = c.get(url.clone());
            if let Some((user, password)) = auth.for_url(url) {
                r = r.basic_auth(user, Some(password.expose()));
            }
            if let Some(etag) = if_none_match {
                r = r.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            r
        })
        .await
        .map_err(|e| FetchError::new(e.exit_code(), e.to_string()))?;
    let status = response.status().as_u16();
    match status {
        304 if if_none_match.is_some() => return Ok(Fetched::NotModified),
        200..=299 => {}
        404 | 410 => return Ok(Fetched::Missing),
        401 | 403 => {
            return Err(FetchError::new(
                ExitCode::NoPermission,
                format!("{what}: HTTP {status}{}", auth.hint(url)),
            ));
        }
        _ => {
            return Err(FetchError::new(
                ExitCode::Unavailable,
                format!("{what}: HTTP {status}"),
            ));
        }
    }
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_big());
    }
    let etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut total = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        FetchError::new(
            ExitCode::Unavailable,
            format!(
                "{what}: {}",
                mirrorkit_core::http::redact::error_chain(&e.without_url())
            ),
        )
    })? {
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_big());
        }
        sink.put(&chunk).await?;
    }
    Ok(Fetched::Body { etag })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_to_the_repository_host_only_and_not_over_plain_http() {
        let creds =
            Credentials::from_sources(mirrorkit_core::http::credentials::CredentialSources {
                env_auth: Some(("ci".into(), Secret::new("pw"))),
                env_host: Some("charts.example.org".into()),
                ..Default::default()
            });
        let url = |u: &str| Url::parse(u).unwrap();
        let auth = RepoAuth::for_repo(&url("https://charts.example.org/stable/"), &creds, &[]);
        let sent = |u: &str| {
            auth.for_url(&url(u))
                .map(|(user, p)| (user.to_string(), p.expose().to_string()))
        };
        assert_eq!(
            sent("https://charts.example.org/stable/app-1.0.0.tgz"),
            Some(("ci".into(), "pw".into()))
        );
        assert_eq!(sent("https://github.com/acme/app-1.0.0.tgz"), None);
        assert_eq!(sent("http://charts.example.org/stable/app-1.0.0.tgz"), None);
        assert_eq!(sent("https://charts.example.org:8443/app-1.0.0.tgz"), None);
        // Another repository host gets nothing (the env credentials name one host).
        let other = RepoAuth::for_repo(&url("https://other.example.org/"), &creds, &[]);
        assert!(
            other
                .for_url(&url("https://other.example.org/index.yaml"))
                .is_none()
        );
        // Plain HTTP only to a host marked insecure.
        let lan = Credentials::from_sources(mirrorkit_core::http::credentials::CredentialSources {
            env_auth: Some(("ci".into(), Secret::new("pw"))),
            ..Default::default()
        });
        let marked = RepoAuth::for_repo(
            &url("http://10.0.0.5:8080/"),
            &lan,
            &["10.0.0.5:8080".into()],
        );
        assert!(
            marked
                .for_url(&url("http://10.0.0.5:8080/index.yaml"))
                .is_some()
        );
        let unmarked = RepoAuth::for_repo(&url("http://10.0.0.5:8080/"), &lan, &[]);
        assert!(
            unmarked
                .for_url(&url("http://10.0.0.5:8080/index.yaml"))
                .is_none()
        );
        assert!(
            RepoAuth::for_repo(&url("file:///srv/charts/"), &lan, &[])
                .basic
                .is_none()
        );
    }

    #[test]
    fn parses_the_chart_entries_of_an_index() {
        let url = Url::parse("https://charts.example.org/stable/index.yaml").unwrap();
        let hex = "ab".repeat(32);
        let doc = format!(
            "apiVersion: v1\nentries:\n  other:\n  - {{version: 9, urls: [x]}}\n  app:\n  - version: 1.0.0\n    urls: [app-1.0.0.tgz]\n    digest: {hex}\n    created: 2024-01-01T00:00:00Z\n  - version: 1.1\n    urls: ['https://cdn.example.org/app-1.1.tgz']\n  - version: 2.0.0\n    urls: ['file:///etc/passwd']\n"
        );
        let e = parse_index(doc.as_bytes(), &url, "app").unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].version, "1.0.0");
        assert_eq!(
            e[0].urls[0].as_str(),
            "https://charts.example.org/stable/app-1.0.0.tgz"
        );
        assert_eq!(e[0].digest.as_ref().unwrap().hex(), hex);
        assert_eq!(e[1].version, "1.1");
        assert!(e[1].digest.is_none());
        assert!(
            e[2].problem
                .as_deref()
                .unwrap()
                .contains("local file system")
        );
        assert!(
            parse_index(doc.as_bytes(), &url, "nope")
                .unwrap_err()
                .contains("no chart named")
        );
        assert!(parse_index(b"entries: [", &url, "app").is_err());
        assert!(parse_index(b"apiVersion: v1\n", &url, "app").is_err());
    }

    #[test]
    fn index_url_treats_the_repository_as_a_directory() {
        let u = |s: &str| index_url(&Url::parse(s).unwrap()).unwrap().to_string();
        assert_eq!(u("https://h/charts"), "https://h/charts/index.yaml");
        assert_eq!(u("https://h/charts/"), "https://h/charts/index.yaml");
        assert_eq!(u("file:///srv/repo"), "file:///srv/repo/index.yaml");
    }
}
