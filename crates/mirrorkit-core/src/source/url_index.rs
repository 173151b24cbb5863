//! The `url_index` source: a JSON document listing versions and their asset URLs.
//!
//! ```json
//! {"versions": {"1.2.3": {"prerelease": false,
//!                         "assets": {"tool-linux-amd64.tar.gz": "https://…",
//!                                    "tool-darwin-arm64.tar.gz": {"url": "https://…",
//!                                                                 "checksum": "sha256:…"}}}}}
//! ```
//! The document comes from a URL (http, https, file), from `versions:` written inline in the spec,
//! or from the standard output of a generator command. Relative asset URLs resolve against the
//! document's own URL (for inline documents and generators: the spec's directory).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use url::Url;

use super::{Asset, Release, SourceError};
use crate::digest::Digest;
use crate::http::HttpClient;
use crate::http::body::BodyError;
use crate::http::redact::SafeUrl;

/// Largest index document accepted, so a hostile or mistaken URL cannot exhaust memory.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;

/// The url_index document (`mirrorkit schema url-index` prints its JSON Schema).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexDocument {
    /// Version string → that version's assets.
    pub versions: BTreeMap<String, VersionEntry>,
}

/// One version in a url_index document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionEntry {
    /// Whether this version is a prerelease.
    #[serde(default)]
    pub prerelease: bool,
    /// Asset file name → its URL, or `{url, checksum}`.
    pub assets: BTreeMap<String, AssetRef>,
}

/// An asset: its URL, or its URL with a checksum (`sha256:<hex>` or `sha512:<hex>`) that is
/// verified before anything of the asset is used.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AssetRef {
    /// Just the URL.
    Url(String),
    /// URL and checksum.
    Detailed {
        /// Where to download the asset.
        url: String,
        /// `sha256:<hex>` or `sha512:<hex>`.
        checksum: Option<String>,
    },
}

/// Where a url_index document is read from (validated).
#[derive(Clone, Debug)]
pub enum IndexOrigin {
    /// Fetched from a URL (http, https or file).
    Url(Url),
    /// Written inline in the spec; relative asset URLs resolve against `base`.
    Inline {
        /// The versions and assets.
        document: IndexDocument,
        /// The spec file's URL.
        base: Url,
    },
    /// Printed by a command.
    Generator(Generator),
}

/// A command whose standard output is a url_index document.
#[derive(Clone, Debug)]
pub struct Generator {
    /// Program and arguments, run without a shell.
    pub command: Vec<String>,
    /// Directory it runs in.
    pub working_directory: PathBuf,
    /// It is killed after this long.
    pub timeout: Duration,
}

/// Parse a url_index document. `what` names where it came from, for errors.
pub fn parse_document(bytes: &[u8], what: &str) -> Result<IndexDocument, SourceError> {
    serde_json::from_slice(bytes).map_err(|e| SourceError::Malformed {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// Turn a document into releases: resolve asset URLs against `base` and parse checksums.
pub fn releases(doc: &IndexDocument, base: &Url, what: &str) -> Result<Vec<Release>, SourceError> {
    let malformed = |reason: String| SourceError::Malformed {
        what: what.to_string(),
        reason,
    };
    let mut out = Vec::with_capacity(doc.versions.len());
    for (version, entry) in &doc.versions {
        if version.trim().is_empty() {
            return Err(malformed("a version key is empty".into()));
        }
        let mut assets = Vec::with_capacity(entry.assets.len());
        for (name, asset) in &entry.assets {
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(malformed(format!(
                    "version {version}: asset name {name:?} is not a file name"
                )));
            }
            let (url, checksum) = match asset {
                AssetRef::Url(u) => (u, None),
                AssetRef::Detailed { url, checksum } => (url, checksum.as_ref()),
            };
            let url = super::upstream_url::resolve(base, url)
                .map_err(|e| malformed(format!("version {version}, asset {name}: {e}")))?;
            let checksum = checksum
                .map(|c| c.parse::<Digest>())
                .transpose()
                .map_err(|e| malformed(format!("version {version}, asset {name}: {e}")))?;
            assets.push(Asset {
                name: name.clone(),
                url,
                checksum,
            });
        }
        out.push(Release {
            version: version.clone(),
            prerelease: entry.prerelease,
            assets,
            excluded: None,
        });
    }
    Ok(out)
}

/// List the releases a url_index origin describes.
pub async fn discover(
    origin: &IndexOrigin,
    http: &HttpClient,
) -> Result<Vec<Release>, SourceError> {
    match origin {
        IndexOrigin::Inline { document, base } => releases(document, base, "inline versions"),
        IndexOrigin::Url(url) => {
            let what = SafeUrl::new(url).to_string();
            let bytes = fetch_document(url, http).await?;
            let doc = parse_document(&bytes, &what)?;
            releases(&doc, url, &what)
        }
        IndexOrigin::Generator(generator) => {
            let what = format!("generator `{}`", generator.command.join(" "));
            let bytes = run_generator(generator, &what).await?;
            let doc = parse_document(&bytes, &what)?;
            let base = Url::from_directory_path(&generator.working_directory).map_err(|()| {
                SourceError::Unreachable {
                    what: what.clone(),
                    reason: format!(
                        "working directory {} is not absolute",
                        generator.working_directory.display()
                    ),
                }
            })?;
            releases(&doc, &base, &what)
        }
    }
}

async fn fetch_document(url: &Url, http: &HttpClient) -> Result<Vec<u8>, SourceError> {
    let what = SafeUrl::new(url).to_string();
    if url.scheme() == "file" {
        let path = url.to_file_path().map_err(|()| SourceError::Malformed {
            what: what.clone(),
            reason: "not a local file path".into(),
        })?;
        return tokio::fs::read(&path)
            .await
            .map_err(|e| SourceError::Unreachable {
                what,
                reason: e.to_string(),
            });
    }
    let response =
        http.send(url, |c| c.get(url.clone()))
            .await
            .map_err(|e| SourceError::Unreachable {
                what: what.clone(),
                reason: e.to_string(),
            })?;
    let status = response.status().as_u16();
    match status {
        200..=299 => {}
        401 | 403 => {
            return Err(SourceError::Denied {
                what,
                reason: format!("HTTP {status}"),
            });
        }
        _ => {
            return Err(SourceError::Unreachable {
                what,
                reason: format!("HTTP {status}"),
            });
        }
    }
    response
        .read_capped(MAX_DOCUMENT_BYTES as u64)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { .. } => SourceError::Malformed {
                what,
                reason: e.to_string(),
            },
            BodyError::Read(reason) => SourceError::Unreachable { what, reason },
        })
}

async fn run_generator(generator: &Generator, what: &str) -> Result<Vec<u8>, SourceError> {
    let unreachable = |reason: String| SourceError::Unreachable {
        what: what.to_string(),
        reason,
    };
    let (program, args) = generator
        .command
        .split_first()
        .ok_or_else(|| unreachable("empty command".into()))?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(&generator.working_directory)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| unreachable(format!("cannot start: {e}")))?;
    let output = tokio::time::timeout(generator.timeout, child.wait_with_output())
        .await
        .map_err(|_| unreachable(format!("timed out after {} s", generator.timeout.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(unreachable(format!(
            "exited with {}: {tail}",
            output.status
        )));
    }
    if output.stdout.len() > MAX_DOCUMENT_BYTES {
        return Err(SourceError::Malformed {
            what: what.to_string(),
            reason: format!("output larger than {MAX_DOCUMENT_BYTES} bytes"),
        });
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.org/releases/index.json").unwrap()
    }

    #[test]
    fn resolves_relative_urls_and_checksums() {
        let doc = parse_document(
            br#"{"versions": {"1.0.0": {"assets": {
                "a.tar.gz": "a.tar.gz",
                "b.tar.gz": {"url": "https://cdn.example.org/b.tar.gz",
                             "checksum": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}}}}"#,
            "test",
        )
        .unwrap();
        let rel = releases(&doc, &base(), "test").unwrap();
        assert_eq!(rel.len(), 1);
        assert!(!rel[0].prerelease);
        assert_eq!(
            rel[0].assets[0].url.as_str(),
            "https://example.org/releases/a.tar.gz"
        );
        assert!(rel[0].assets[0].checksum.is_none());
        assert!(rel[0].assets[1].checksum.is_some());
    }

    #[test]
    fn rejects_bad_documents_with_a_reason() {
        for (doc, needle) in [
            (
                r#"{"versions": {"1": {"assets": {"a": "ftp://x/a"}}}}"#,
                "scheme",
            ),
            (
                r#"{"versions": {"1": {"assets": {"a": {"url": "a", "checksum": "md5:00"}}}}}"#,
                "md5",
            ),
            (
                r#"{"versions": {"1": {"assets": {"../a": "a"}}}}"#,
                "file name",
            ),
            (r#"{"versions": {"1": {"asets": {}}}}"#, "asets"),
            (r#"{"version": {}}"#, "version"),
            (r#"[1,2]"#, "expected"),
        ] {
            let err = parse_document(doc.as_bytes(), "doc")
                .and_then(|d| releases(&d, &base(), "doc"))
                .expect_err(doc);
            let msg = err.to_string();
            assert!(msg.contains(needle), "{msg} should mention {needle}");
            assert_eq!(
                crate::exit::HasExitCode::exit_code(&err),
                crate::exit::ExitCode::Data
            );
        }
    }
}
