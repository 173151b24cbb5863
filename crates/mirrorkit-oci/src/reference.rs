//! Image references as skopeo writes them: `docker://host[:port]/repo[:tag|@sha256:…]`,
//! `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use mirrorkit_core::digest::Digest;

/// Where an image is (or is to be) stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageReference {
    /// `docker://host[:port]/repository[:tag][@digest]` — a registry.
    Docker {
        /// `host[:port]`.
        host: String,
        /// Repository path without the host.
        repository: String,
        /// The tag, if written.
        tag: Option<String>,
        /// The digest, if written (wins over the tag when reading).
        digest: Option<Digest>,
    },
    /// `oci:DIR[:tag-or-digest]` — an OCI image layout directory.
    Layout {
        /// The layout directory.
        path: PathBuf,
        /// Tag (`ref.name`) or digest, if written.
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:tag-or-digest]` — a tar of an OCI image layout.
    Archive {
        /// The tar file.
        path: PathBuf,
        /// Tag (`ref.name`) or digest, if written.
        reference: Option<String>,
    },
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    /// The offending input.
    pub input: String,
    /// What was expected.
    pub reason: String,
}

/// Whether `s` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_valid_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Whether `s` is a valid repository path: `/`-separated components of `[a-z0-9._-]` that start
/// and end with a letter or digit.
pub fn is_valid_repository(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.split('/').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|x| {
                    x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'.' | b'_' | b'-')
                })
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
        })
}

fn is_valid_host(s: &str) -> bool {
    let (name, port) = match s.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (s, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    name_ok && port_ok
}

impl ImageReference {
    /// For a registry reference: the digest if given, else the tag, else `latest` (as docker and
    /// skopeo default).
    pub fn manifest_reference(&self) -> Option<String> {
        match self {
            ImageReference::Docker { tag, digest, .. } => Some(match (digest, tag) {
                (Some(d), _) => d.to_string(),
                (None, Some(t)) => t.clone(),
                (None, None) => "latest".to_string(),
            }),
            _ => None,
        }
    }
}

fn split_path_ref(
    input: &str,
    rest: &str,
    what: &str,
) -> Result<(PathBuf, Option<String>), ReferenceError> {
    let err = |reason: String| ReferenceError {
        input: input.to_string(),
        reason,
    };
    // Like skopeo: the path ends at the first `:`; a digest reference keeps its own colon.
    let (path, reference) = match rest.split_once(':') {
        Some((p, r)) => (p, Some(r)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(err(format!("expected {what}:PATH[:TAG]")));
    }
    let reference = match reference {
        None => None,
        Some(r) if is_valid_tag(r) || r.parse::<Digest>().is_ok() => Some(r.to_string()),
        Some(r) => {
            return Err(err(format!(
                "{r:?} is neither a tag ([A-Za-z0-9_][A-Za-z0-9._-]*, at most 128) nor a sha256: digest"
            )));
        }
    };
    Ok((PathBuf::from(path), reference))
}

impl FromStr for ImageReference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ReferenceError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = input.strip_prefix("docker://") {
            let (host, path) = rest
                .split_once('/')
                .ok_or_else(|| err("expected docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]"))?;
            if !is_valid_host(host) {
                return Err(err("the registry host must be HOST or HOST:PORT"));
            }
            let (name, digest) = match path.split_once('@') {
                Some((n, d)) => (
                    n,
                    Some(
                        d.parse::<Digest>()
                            .map_err(|e| err(&format!("bad digest: {}", e.reason)))?,
                    ),
                ),
                None => (path, None),
            };
            let (repository, tag) = match name.rsplit_once(':') {
                Some((r, t)) => {
                    if !is_valid_tag(t) {
                        return Err(err(
                            "the tag must match [A-Za-z0-9_][A-Za-z0-9._-]* (at most 128)",
                        ));
                    }
                    (r, Some(t.to_string()))
                }
                None => (name, None),
            };
            if !is_valid_repository(repository) {
                return Err(err(
                    "the repository must be lower-case path components of [a-z0-9._-]",
                ));
            }
            return Ok(ImageReference::Docker {
                host: host.to_string(),
                repository: repository.to_string(),
                tag,
                digest,
            });
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (path, reference) = split_path_ref(input, rest, "oci-archive")?;
            return Ok(ImageReference::Archive { path, reference });
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            let (path, reference) = split_path_ref(input, rest, "oci")?;
            return Ok(ImageReference::Layout { path, reference });
        }
        Err(err(
            "expected docker://HOST/REPO[:TAG], oci:DIR[:TAG] or oci-archive:FILE[:TAG]",
        ))
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageReference::Docker {
                host,
                repository,
                tag,
                digest,
            } => {
                write!(f, "docker://{host}/{repository}")?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                if let Some(d) = digest {
                    write!(f, "@{d}")?;
                }
                Ok(())
            }
            ImageReference::Layout { path, reference } => {
                write!(f, "oci:{}", path.display())?;
                reference.iter().try_for_each(|r| write!(f, ":{r}"))
            }
            ImageReference::Archive { path, reference } => {
                write!(f, "oci-archive:{}", path.display())?;
                reference.iter().try_for_each(|r| write!(f, ":{r}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_docker_references() {
        let r: ImageReference = "docker://127.0.0.1:5000/tools/cmake:3.29.1"
            .parse()
            .unwrap();
        assert_eq!(
            r,
            ImageReference::Docker {
                host: "127.0.0.1:5000".into(),
                repository: "tools/cmake".into(),
                tag: Some("3.29.1".into()),
                digest: None,
            }
        );
        let r: ImageReference = format!("docker://reg.example.org/a@{D}").parse().unwrap();
        assert_eq!(r.manifest_reference().as_deref(), Some(D));
        let r: ImageReference = "docker://reg.example.org/a".parse().unwrap();
        assert_eq!(r.manifest_reference().as_deref(), Some("latest"));
        assert_eq!(r.to_string(), "docker://reg.example.org/a");
    }

    #[test]
    fn parses_layout_and_archive_references() {
        let r: ImageReference = "oci:./out/dir:v1".parse().unwrap();
        assert_eq!(
            r,
            ImageReference::Layout {
                path: "./out/dir".into(),
                reference: Some("v1".into())
            }
        );
        let r: ImageReference = format!("oci:dir:{D}").parse().unwrap();
        assert!(matches!(r, ImageReference::Layout { reference: Some(ref x), .. } if x == D));
        let r: ImageReference = "oci-archive:/tmp/x.tar".parse().unwrap();
        assert_eq!(
            r,
            ImageReference::Archive {
                path: "/tmp/x.tar".into(),
                reference: None
            }
        );
    }

    #[test]
    fn rejects_bad_references_with_reasons() {
        for bad in [
            "",
            "nginx:latest",
            "docker://",
            "docker://host",
            "docker:///repo",
            "docker://host/Repo",
            "docker://host/repo:",
            "docker://host/repo:bad tag",
            "docker://host/repo@sha256:abc",
            "docker://ho st/repo",
            "docker://host:99999/repo",
            "docker://host/a//b",
            "oci:",
            "oci::tag",
            "oci:dir:",
            "oci:dir:bad/tag",
            "oci-archive:",
        ] {
            let e = bad.parse::<ImageReference>();
            assert!(e.is_err(), "{bad:?} must not parse: {e:?}");
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC*") {
            let _ = s.parse::<ImageReference>();
        }

        #[test]
        fn parser_never_panics_on_reference_like_input(
            s in "(docker://|oci:|oci-archive:)[a-zA-Z0-9:/@._-]{0,40}"
        ) {
            if let Ok(r) = s.parse::<ImageReference>() {
                // What parses prints back to something that parses to the same reference.
                let again: ImageReference = r.to_string().parse().unwrap();
                prop_assert_eq!(again, r);
            }
        }
    }
}
