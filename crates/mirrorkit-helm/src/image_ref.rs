//! Image references found in a chart: one normalised as docker normalises it (`nginx` →
//! `docker.io/library/nginx:latest`), and the set found so far with the places each was found.
//! Both ways of finding images (reading the chart, rendering it with helm) add to one [`Found`].

use std::collections::BTreeMap;

use mirrorkit_core::digest::Digest;
use mirrorkit_oci::reference::{is_valid_repository, is_valid_tag};

/// A normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ImageRef {
    /// `host[:port]` (`docker.io` for Docker Hub).
    pub host: String,
    /// Repository path on the host.
    pub path: String,
    /// Tag, if any (`latest` when neither tag nor digest was written).
    pub tag: Option<String>,
    /// Digest, if pinned.
    pub digest: Option<Digest>,
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Parse and normalise `reference` as docker does: a first component with `.` or `:` (or
/// `localhost`) is the registry, else Docker Hub, where one-component names live under
/// `library/`; no tag and no digest means `latest`.
pub(crate) fn normalize(reference: &str) -> Result<ImageRef, String> {
    let r = reference.trim();
    let bad = |why: &str| format!("{r:?} is not an image reference ({why})");
    let (rest, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d.parse::<Digest>().map_err(|_| bad("bad digest"))?)),
        None => (r, None),
    };
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
        _ => (rest, None),
    };
    let (host, path) = match name.split_once('/') {
        Some((h, p)) if h.contains(['.', ':']) || h == "localhost" => (h.to_string(), p),
        _ => ("docker.io".to_string(), name),
    };
    let host = match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    };
    let path = if host == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    if !is_valid_repository(&path) {
        return Err(bad("repository"));
    }
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(bad("registry"));
    }
    if let Some(t) = &tag
        && !is_valid_tag(t)
    {
        return Err(bad("tag"));
    }
    let tag = if tag.is_none() && digest.is_none() {
        Some("latest".to_string())
    } else {
        tag
    };
    Ok(ImageRef {
        host,
        path,
        tag,
        digest,
    })
}

/// Images found so far: normalised reference → where it was found (in order, no repeats).
#[derive(Clone, Debug, Default)]
pub(crate) struct Found {
    /// Reference → places.
    pub images: BTreeMap<ImageRef, Vec<String>>,
    /// Things left out, worth a warning (a reference that does not parse, an annotation that
    /// is not a list).
    pub warnings: Vec<String>,
}

impl Found {
    /// Record `reference` found at `place`; a reference that does not parse becomes a warning.
    pub(crate) fn add(&mut self, reference: &str, place: &str) {
        if reference.trim().is_empty() || reference.contains("{{") {
            return;
        }
        match normalize(reference) {
            Ok(r) => {
                let places = self.images.entry(r).or_default();
                if !places.iter().any(|p| p == place) {
                    places.push(place.to_string());
                }
            }
            Err(e) => self.warnings.push(format!("{place}: {e}; left out")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let n = |s: &str| normalize(s).unwrap().to_string();
        assert_eq!(n("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(n("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(n("bitnami/redis:7"), "docker.io/bitnami/redis:7");
        assert_eq!(n("index.docker.io/library/x:1"), "docker.io/library/x:1");
        assert_eq!(n("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000/a/b:1");
        assert_eq!(n("localhost/a"), "localhost/a:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(n(&format!("ghcr.io/x/y@{d}")), format!("ghcr.io/x/y@{d}"));
        assert_eq!(
            n(&format!("ghcr.io/x/y:1@{d}")),
            format!("ghcr.io/x/y:1@{d}")
        );
        assert!(normalize("UPPER/case").is_err());
        assert!(normalize("x@sha256:zz").is_err());
        assert!(normalize("a:b:c").is_err());
    }
}
