//! Package URLs (`pkg:npm/%40scope/name@1.2.3`, `pkg:pypi/Django@5.0`, `pkg:cargo/serde`) read
//! with the `packageurl` crate and turned into what a mirror needs: the ecosystem, the name as
//! its registry spells it, an optional version and the qualifiers mirrorkit honours
//! (`repository_url`, `download_url`, `checksum`, `file_name`).

use std::fmt;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::source::packages::is_upstream_url;
use packageurl::PackageUrl;

/// The registries mirrorkit mirrors from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// The npm registry (`pkg:npm`).
    Npm,
    /// The Python Package Index (`pkg:pypi`).
    Pypi,
    /// crates.io or another cargo registry (`pkg:cargo`).
    Cargo,
    /// A file at a URL with a checksum (`pkg:generic`).
    Generic,
}

impl Ecosystem {
    /// Its PURL type.
    pub fn name(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Generic => "generic",
        }
    }

    /// The ecosystem of a PURL type or `--upstream` key.
    pub fn parse(s: &str) -> Option<Ecosystem> {
        match s {
            "npm" => Some(Ecosystem::Npm),
            "pypi" => Some(Ecosystem::Pypi),
            "cargo" => Some(Ecosystem::Cargo),
            "generic" => Some(Ecosystem::Generic),
            _ => None,
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A package (and maybe one version of it) named by a PURL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageRef {
    /// Its registry.
    pub ecosystem: Ecosystem,
    /// The name as the registry spells it: npm `@scope/name` or `name`; PyPI normalised
    /// (PEP 503: lowercase, runs of `-_.` as one `-`); cargo as given.
    pub name: String,
    /// One version, or every version the policy selects when `None`.
    pub version: Option<String>,
    /// `repository_url`: the registry to read this package from instead of the default.
    pub repository_url: Option<url::Url>,
    /// `download_url`: where the file is downloaded from (a generic package's only source; for
    /// a registry package, instead of the registry's URL, still checked against its digest).
    pub download_url: Option<url::Url>,
    /// `checksum`: the digests the file must have (SHA-256 or SHA-512; others are ignored, and
    /// a qualifier with neither is refused).
    pub checksums: Vec<Digest>,
    /// `file_name`: only this file of the release (a generic package: its name in the tree).
    pub file_name: Option<String>,
    /// The PURL as it was written.
    pub purl: String,
}

impl PackageRef {
    /// `ecosystem/name@version` (or `ecosystem/name`), for reports.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{}/{}@{v}", self.ecosystem, self.name),
            None => format!("{}/{}", self.ecosystem, self.name),
        }
    }
}

/// Parse a PURL. The message says what is wrong; the caller adds where the PURL came from.
pub fn parse(text: &str) -> Result<PackageRef, String> {
    let text = text.trim();
    let purl: PackageUrl<'static> = text
        .parse()
        .map_err(|e| format!("{text:?} is not a package URL: {e}"))?;
    let Some(ecosystem) = Ecosystem::parse(purl.ty()) else {
        return Err(format!(
            "{text:?}: packages of type {:?} are not mirrored (npm, pypi, cargo and generic are)",
            purl.ty()
        ));
    };
    let name = match (ecosystem, purl.namespace()) {
        (Ecosystem::Npm, Some(scope)) => {
            let scope = scope.trim_start_matches('@');
            format!("@{scope}/{}", purl.name())
        }
        (Ecosystem::Pypi, _) => normalise_pypi(purl.name()),
        (Ecosystem::Generic, Some(ns)) => format!("{ns}/{}", purl.name()),
        (_, Some(ns)) if ecosystem != Ecosystem::Generic => {
            return Err(format!(
                "{text:?}: a {ecosystem} package has no namespace (found {ns:?})"
            ));
        }
        _ => purl.name().to_string(),
    };
    if !is_valid_name(ecosystem, &name) {
        return Err(format!("{text:?}: {name:?} is not a package name"));
    }
    let version = purl.version().map(str::to_string);
    if let Some(v) = &version
        && (v.is_empty() || v.contains(['/', '\\', '\0']) || v == ".." || v == ".")
    {
        return Err(format!("{text:?}: {v:?} is not a version"));
    }
    let qualifier = |k: &str| purl.qualifiers().get(k).map(|v| v.to_string());
    let url_qualifier = |k: &str| -> Result<Option<url::Url>, String> {
        qualifier(k)
            .map(|v| {
                url::Url::parse(&v)
                    .ok()
                    .filter(|u| is_upstream_url(ecosystem.name(), u))
                    .ok_or_else(|| format!("{text:?}: {k} {v:?} is not an http(s) URL"))
            })
            .transpose()
    };
    let mut checksums = Vec::new();
    for c in qualifier("checksum").iter().flat_map(|v| v.split(',')) {
        let c = c.trim().to_ascii_lowercase();
        if c.starts_with("sha256:") || c.starts_with("sha512:") {
            checksums.push(
                c.parse()
                    .map_err(|_| format!("{text:?}: checksum {c:?} is not a valid digest"))?,
            );
        }
    }
    if let Some(given) = qualifier("checksum")
        && checksums.is_empty()
    {
        return Err(format!(
            "{text:?}: checksum {given:?} has no sha256 or sha512 digest, the ones mirrorkit \
             verifies"
        ));
    }
    let download_url = url_qualifier("download_url")?;
    if ecosystem == Ecosystem::Generic && (download_url.is_none() || version.is_none()) {
        return Err(format!(
            "{text:?}: a generic package needs a version and a download_url qualifier"
        ));
    }
    let file_name = qualifier("file_name");
    if let Some(f) = &file_name
        && (f.is_empty() || f.contains(['/', '\\']) || f == "..")
    {
        return Err(format!("{text:?}: file_name {f:?} is not a file name"));
    }
    Ok(PackageRef {
        ecosystem,
        name,
        version,
        repository_url: url_qualifier("repository_url")?,
        download_url,
        checksums,
        file_name,
        purl: text.to_string(),
    })
}

/// Whether `name` can name a package of `ecosystem` and a directory of the tree: no empty, `.`
/// or `..` segment, no backslash or NUL, and a `/` only in a scoped npm name (`@scope/name`) or a
/// generic package's namespace. Names read from upstream metadata (dependencies) are held to it
/// as the PURLs' are.
pub fn is_valid_name(ecosystem: Ecosystem, name: &str) -> bool {
    let segments: Vec<&str> = name.split('/').collect();
    let shape = match ecosystem {
        Ecosystem::Npm => {
            segments.len() == 1 || (segments.len() == 2 && segments[0].starts_with('@'))
        }
        Ecosystem::Generic => true,
        Ecosystem::Pypi | Ecosystem::Cargo => segments.len() == 1,
    };
    shape
        && !name.contains(['\\', '\0'])
        && !segments
            .iter()
            .any(|s| s.is_empty() || *s == "." || *s == "..")
}

/// PEP 503 normalisation: lowercase, every run of `-`, `_` and `.` as one `-`.
pub fn normalise_pypi(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scoped_npm_names_pypi_names_and_qualifiers() {
        let p = parse("pkg:npm/%40babel/core@7.24.0").unwrap();
        assert_eq!(
            (p.ecosystem, p.name.as_str()),
            (Ecosystem::Npm, "@babel/core")
        );
        assert_eq!(p.version.as_deref(), Some("7.24.0"));
        let p = parse("pkg:npm/@types/node").unwrap();
        assert_eq!(p.name, "@types/node");
        assert_eq!(p.version, None);
        let p = parse("pkg:pypi/Zope.Interface_x@6.0?file_name=x.whl").unwrap();
        assert_eq!(p.name, "zope-interface-x");
        assert_eq!(p.file_name.as_deref(), Some("x.whl"));
        let p = parse(
            "pkg:cargo/serde@1.0.0?repository_url=https://crates.internal/index&checksum=sha1:aa,sha256:0000000000000000000000000000000000000000000000000000000000000000",
        )
        .unwrap();
        assert_eq!(
            p.repository_url.unwrap().host_str(),
            Some("crates.internal")
        );
        assert_eq!(p.checksums.len(), 1);
    }

    #[test]
    fn refuses_what_it_cannot_mirror_naming_the_purl() {
        for bad in [
            "npm/lodash",
            "pkg:maven/org.x/y@1",
            "pkg:cargo/ns/serde@1",
            "pkg:generic/tool@1",
            "pkg:npm/lodash?repository_url=file:///etc",
            "pkg:pypi/x@1?file_name=../../x",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn names_from_upstream_metadata_stay_in_their_directory() {
        assert!(is_valid_name(Ecosystem::Npm, "@scope/name"));
        assert!(is_valid_name(Ecosystem::Npm, "left-pad"));
        for bad in ["a/b", "@s/a/b", "../x", "@s/..", "", "a\\b"] {
            assert!(!is_valid_name(Ecosystem::Npm, bad), "{bad}");
        }
        assert!(!is_valid_name(Ecosystem::Cargo, "a/b"));
        assert!(!is_valid_name(Ecosystem::Pypi, ".."));
    }

    #[test]
    fn pypi_names_normalise_as_pep_503_says() {
        assert_eq!(normalise_pypi("Friendly-Bard"), "friendly-bard");
        assert_eq!(normalise_pypi("FRIENDLY__.-bard"), "friendly-bard");
        assert_eq!(normalise_pypi("friendly.bard"), "friendly-bard");
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_names_stay_in_their_directory(s in "\\PC{0,80}") {
            if let Ok(p) = parse(&s) {
                proptest::prop_assert!(!p.name.split('/').any(|c| c.is_empty() || c == "." || c == ".."));
            }
            let _ = parse(&format!("pkg:npm/{s}"));
            let _ = parse(&format!("pkg:pypi/{s}@1"));
        }
    }
}
