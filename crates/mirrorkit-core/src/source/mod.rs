//! Sources: what upstream has. Each kind lists its releases ([`Release`]) with the assets each one
//! offers; the plan then selects assets per platform and compares with the target.

pub mod apt;
pub mod distro;
pub mod github;
pub mod images;
pub mod packages;
pub mod rpm;
pub mod upstream_url;
pub mod url_index;

use crate::digest::Digest;
use crate::exit::{ExitCode, HasExitCode};

/// One upstream version and what it offers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Release {
    /// The version string as upstream names it (also the tag it is published under).
    pub version: String,
    /// Whether upstream marks it as a prerelease.
    pub prerelease: bool,
    /// The downloadable files of this version.
    pub assets: Vec<Asset>,
    /// Why upstream's entry is not a usable version (e.g. a tag that does not match
    /// `tag_pattern`); such a release is listed as excluded with this reason, never mirrored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
}

/// A downloadable file of a release.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Asset {
    /// The file name the platform patterns match against.
    pub name: String,
    /// Where to download it.
    #[serde(serialize_with = "serialize_safe_url")]
    pub url: url::Url,
    /// The digest upstream publishes for it, verified before anything of it is used.
    pub checksum: Option<Digest>,
}

fn serialize_safe_url<S: serde::Serializer>(url: &url::Url, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&crate::http::redact::SafeUrl::new(url))
}

/// Why a source could not be listed. Messages name the URL or command, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Upstream could not be reached, or a generator command failed to run.
    #[error("{what} is unreachable: {reason}")]
    Unreachable {
        /// The upstream (a redacted URL or a command).
        what: String,
        /// What failed.
        reason: String,
    },
    /// Upstream refused access (401/403).
    #[error("{what} refused access: {reason}")]
    Denied {
        /// The upstream (a redacted URL).
        what: String,
        /// The status and what the server said.
        reason: String,
    },
    /// Upstream answered with something that is not the expected document.
    #[error("{what} is not a valid document: {reason}")]
    Malformed {
        /// The document (a redacted URL, a file or a command).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl HasExitCode for SourceError {
    /// The exit code this error stands for.
    fn exit_code(&self) -> ExitCode {
        match self {
            SourceError::Unreachable { .. } => ExitCode::Unavailable,
            SourceError::Denied { .. } => ExitCode::NoPermission,
            SourceError::Malformed { .. } => ExitCode::Data,
        }
    }
}
