//! What a `type: packages` source names: PURLs and SBOMs, the upstream registry per ecosystem,
//! whether dependencies follow, and which versions an unversioned PURL takes. Validated offline;
//! the PURLs themselves are parsed by the package family (`mirrorkit-packages`), which names
//! each by the place it is written ([`NamedPurl::origin`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use time::OffsetDateTime;
use url::Url;

/// A PURL as written in the spec, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPurl {
    /// The PURL text.
    pub purl: String,
    /// `mirror.yml:12:9`: where it is written.
    pub origin: String,
}

/// Which versions of a PURL without a version are mirrored. Every criterion given applies;
/// prereleases are left out unless [`PackagesSource::prereleases`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackageVersions {
    /// A range in the ecosystem's own syntax (npm: `^1.2`, cargo: `>=1.2, <2`, PyPI:
    /// `>=1.2,<2`).
    pub range: Option<String>,
    /// Only the highest N of what the other criteria keep.
    pub latest: Option<usize>,
    /// Only versions published at or after this instant (upstream's publication time).
    pub since: Option<OffsetDateTime>,
}

impl PackageVersions {
    /// Whether no criterion is set (every release).
    pub fn is_all(&self) -> bool {
        self.range.is_none() && self.latest.is_none() && self.since.is_none()
    }
}

/// A validated `type: packages` source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackagesSource {
    /// The PURLs written in the spec.
    pub purls: Vec<NamedPurl>,
    /// SBOM files (resolved against the spec's directory).
    pub sboms: Vec<PathBuf>,
    /// Upstream per ecosystem (`npm`, `pypi`, `cargo`); the public registries otherwise.
    pub upstreams: BTreeMap<String, Url>,
    /// Also mirror what the mirrored versions depend on.
    pub dependencies: bool,
    /// Include prereleases when a PURL names no version.
    pub prereleases: bool,
    /// Which versions a PURL without a version takes.
    pub versions: PackageVersions,
    /// Which PyPI files are mirrored, and the targets PyPI dependency markers are evaluated for.
    pub pypi: PypiTargets,
    /// Also every project this ecosystem's private upstream lists (`pypi`: the simple index's
    /// root page), under the version policy.
    pub registry: Option<String>,
}

/// The Pythons and platforms a PyPI mirror serves: which of a version's files are mirrored
/// (wheels by their tags, any file by its `Requires-Python`, sdists or not), and the
/// environments `Requires-Dist` markers are evaluated for when dependencies are followed.
/// Empty lists mean every Python and every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PypiTargets {
    /// CPython versions, `MAJOR.MINOR` (`3.11`).
    pub python: Vec<String>,
    /// Wheel platform tags, `*` matching any run of characters (`manylinux*_x86_64`,
    /// `win_amd64`, `macosx_*_arm64`); pure wheels (`any`) always match.
    pub platforms: Vec<String>,
    /// Mirror source distributions too (default `true`).
    pub sdist: bool,
}

impl Default for PypiTargets {
    fn default() -> Self {
        PypiTargets {
            python: Vec::new(),
            platforms: Vec::new(),
            sdist: true,
        }
    }
}

impl PypiTargets {
    /// Why `version` cannot be a target Python (`3.11`), if it cannot.
    pub fn check_python(version: &str) -> Result<(), String> {
        let ok = version.split_once('.').is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{version:?} is not a Python version MAJOR.MINOR (3.11)"
            ))
        }
    }

    /// Why `pattern` cannot be a platform tag pattern, if it cannot.
    pub fn check_platform(pattern: &str) -> Result<(), String> {
        let ok = !pattern.is_empty()
            && pattern
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.*".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{pattern:?} is not a wheel platform tag (letters, digits, `_`, `.`, and `*` for \
                 any run: manylinux*_x86_64)"
            ))
        }
    }
}

/// The ecosystems an upstream can be given for.
pub const UPSTREAM_ECOSYSTEMS: [&str; 3] = ["npm", "pypi", "cargo"];

/// Whether `url` can be the upstream of `ecosystem`: http(s), and for cargo also
/// `sparse+http(s)` as cargo writes it.
pub fn is_upstream_url(ecosystem: &str, url: &Url) -> bool {
    match url.scheme() {
        "http" | "https" => true,
        "sparse+http" | "sparse+https" => ecosystem == "cargo",
        _ => false,
    }
}

/// Hosts of public registries: never mirrored whole.
pub const PUBLIC_REGISTRY_HOSTS: [&str; 5] = [
    "pypi.org",
    "pypi.python.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "index.crates.io",
];

/// Why the whole registry of `ecosystem` at `upstream` cannot be mirrored, if it cannot: only
/// a private PyPI index lists its projects (its root page); a public registry is never mirrored
/// whole, npm and cargo registries have no listing.
pub fn whole_registry_refusal(ecosystem: &str, upstream: Option<&Url>) -> Option<String> {
    match ecosystem {
        "pypi" => {}
        "npm" => {
            return Some(
                "an npm registry lists its packages in no standard way (the `/-/all` endpoint \
                 is gone), and the public one (millions of packages, terabytes) is never \
                 mirrored whole — name the packages with PURLs or an SBOM"
                    .into(),
            );
        }
        "cargo" => {
            return Some(
                "a sparse index cannot list its crates — name them with PURLs or an SBOM (a \
                 Cargo.lock's packages, say)"
                    .into(),
            );
        }
        other => return Some(format!("{other:?} is not a registry ecosystem (pypi)")),
    }
    let Some(upstream) = upstream else {
        return Some(
            "give the private index to list with --upstream pypi=URL (or `upstreams: {pypi: \
             URL}`); the public PyPI is never mirrored whole"
                .into(),
        );
    };
    let host = upstream.host_str().unwrap_or_default();
    PUBLIC_REGISTRY_HOSTS.contains(&host).then(|| {
        format!(
            "{host} is the public PyPI (over 600,000 projects, tens of terabytes) and is never \
             mirrored whole — name the packages with PURLs or an SBOM"
        )
    })
}

/// `2026-01-31` (midnight UTC) or an RFC 3339 instant (`2026-01-31T12:00:00Z`).
pub fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_dates_or_rfc3339() {
        let day = parse_instant("2026-01-31").expect("a date");
        assert_eq!(day.unix_timestamp(), 1_769_817_600);
        let t = parse_instant("2026-01-31T12:00:00+02:00").expect("an instant");
        assert_eq!(t.unix_timestamp(), 1_769_817_600 + 10 * 3600);
        for bad in [
            "",
            "31.01.2026",
            "2026-13-01",
            "yesterday",
            "2026-01-31T25:00:00Z",
        ] {
            assert!(parse_instant(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn target_pythons_and_platforms() {
        for ok in ["3.11", "3.9", "2.7", "3.100"] {
            assert!(PypiTargets::check_python(ok).is_ok(), "{ok}");
        }
        for bad in ["3", "3.", ".11", "3.11.2", "cp311", "3.x", ""] {
            assert!(PypiTargets::check_python(bad).is_err(), "{bad}");
        }
        for ok in ["manylinux*_x86_64", "win_amd64", "macosx_11_0_arm64", "*"] {
            assert!(PypiTargets::check_platform(ok).is_ok(), "{ok}");
        }
        for bad in ["", "linux x86", "a/b", "win-amd64"] {
            assert!(PypiTargets::check_platform(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_cargo_upstreams_may_be_sparse() {
        let sparse = Url::parse("sparse+https://index.example/").expect("url");
        let https = Url::parse("https://index.example/").expect("url");
        let file = Url::parse("file:///etc/").expect("url");
        assert!(is_upstream_url("cargo", &sparse));
        assert!(!is_upstream_url("npm", &sparse));
        assert!(is_upstream_url("pypi", &https));
        assert!(!is_upstream_url("cargo", &file));
    }
}
