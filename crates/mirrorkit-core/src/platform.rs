//! Platforms as written in a spec: `os/arch[/variant][+feature,…]` (e.g. `linux/amd64`,
//! `linux/arm/v7`, `linux/amd64+libc.musl`). Features (ocx's libc tags) make a distinct platform
//! and are written to the OCI `platform.os.features` list.

use std::fmt;
use std::str::FromStr;

/// A target platform of a packaged asset.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// Operating system, as in the OCI image spec (`linux`, `darwin`, `windows`, …).
    pub os: String,
    /// CPU architecture, as in the OCI image spec (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Optional CPU variant (`v7`, `v8`).
    pub variant: Option<String>,
    /// OS features such as `libc.musl`, sorted and without duplicates.
    pub features: Vec<String>,
}

/// Why a string is not a platform.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid platform {input:?}: expected os/arch[/variant][+feature,…] (e.g. linux/amd64, linux/arm/v7, linux/amd64+libc.musl)"
)]
pub struct PlatformParseError {
    /// The offending input.
    pub input: String,
}

/// Operating systems a platform may name: Go's `GOOS` values (`go/build/syslist.go`), which the
/// OCI image spec defers to, plus `unknown` (attestation manifests use `unknown/unknown`).
pub const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
    "unknown",
];

/// Architectures a platform may name: Go's `GOARCH` values, plus `unknown`.
pub const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
    "unknown",
];

impl Platform {
    /// Why this platform names an OS or architecture outside [`KNOWN_OS`] / [`KNOWN_ARCH`] (a
    /// typo such as `linux/amd46` would otherwise match nothing, silently), or `None`.
    pub fn unknown_part(&self) -> Option<String> {
        if !KNOWN_OS.contains(&self.os.as_str()) {
            return Some(format!(
                "unknown operating system {:?} (known: {}; list custom platforms under \
                 `custom_platforms:`)",
                self.os,
                KNOWN_OS.join(", ")
            ));
        }
        if !KNOWN_ARCH.contains(&self.architecture.as_str()) {
            return Some(format!(
                "unknown architecture {:?} (known: {}; list custom platforms under \
                 `custom_platforms:`)",
                self.architecture,
                KNOWN_ARCH.join(", ")
            ));
        }
        None
    }
}

impl FromStr for Platform {
    type Err = PlatformParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PlatformParseError {
            input: s.to_string(),
        };
        let (base, features) = match s.split_once('+') {
            Some((b, f)) => (b, Some(f)),
            None => (s, None),
        };
        let parts: Vec<&str> = base.split('/').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) {
            return Err(err());
        }
        let mut feats = Vec::new();
        if let Some(f) = features {
            for feat in f.split(',') {
                let ok = !feat.is_empty()
                    && feat.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    });
                if !ok {
                    return Err(err());
                }
                feats.push(feat.to_string());
            }
            feats.sort();
            feats.dedup();
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
            features: feats,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        if !self.features.is_empty() {
            write!(f, "+{}", self.features.join(","))?;
        }
        Ok(())
    }
}

impl Platform {
    /// A file-name-safe form (`linux-amd64`, `linux-amd64+libc.musl`), used for work-dir paths.
    pub fn slug(&self) -> String {
        self.to_string().replace('/', "-")
    }

    /// The platform an OCI index entry's `platform` object describes (`os`, `architecture`,
    /// `variant`, `os.features`), or `None` when it lacks `os` or `architecture`.
    pub fn from_oci(value: &serde_json::Value) -> Option<Platform> {
        let os = value.get("os")?.as_str()?.to_string();
        let architecture = value.get("architecture")?.as_str()?.to_string();
        let variant = value
            .get("variant")
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let mut features: Vec<String> = value
            .get("os.features")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        features.sort();
        features.dedup();
        Some(Platform {
            os,
            architecture,
            variant,
            features,
        })
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// In JSON Schemas: `os/arch[/variant]`.
schema_as!(Platform, "Platform", {
    "description": "A platform, `os/arch` or `os/arch/variant`.",
    "type": "string",
    "pattern": "^[^/]+/[^/]+(/[^/]+)?$"
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_and_three_part_platforms() {
        let m: Platform = "linux/amd64+libc.musl".parse().unwrap();
        assert_eq!(m.features, ["libc.musl"]);
        assert_eq!(m.to_string(), "linux/amd64+libc.musl");
        assert!("linux/amd64+".parse::<Platform>().is_err());
        assert!("linux/amd64+LIBC".parse::<Platform>().is_err());
        let p: Platform = "linux/arm/v7".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v7"));
        assert_eq!(p.to_string(), "linux/arm/v7");
        assert_eq!(
            "linux/amd64".parse::<Platform>().unwrap().slug(),
            "linux-amd64"
        );
    }

    #[test]
    fn rejects_malformed_platforms() {
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "a/b/c/d",
            "Linux/amd64",
            "linux/amd 64",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad} must not parse");
        }
    }
}
