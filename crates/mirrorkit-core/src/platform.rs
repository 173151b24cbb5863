//! Platforms as written in a spec: `os/arch[/variant]` (e.g. `linux/amd64`, `linux/arm/v7`).

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
}

/// Why a string is not a platform.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform {input:?}: expected os/arch or os/arch/variant (e.g. linux/amd64)")]
pub struct PlatformParseError {
    /// The offending input.
    pub input: String,
}

impl FromStr for Platform {
    type Err = PlatformParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PlatformParseError {
            input: s.to_string(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) {
            return Err(err());
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// A file-name-safe form (`linux-amd64`), used for work-dir paths.
    pub fn slug(&self) -> String {
        self.to_string().replace('/', "-")
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_and_three_part_platforms() {
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
