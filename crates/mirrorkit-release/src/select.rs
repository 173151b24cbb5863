//! Asset selection: which of a release's assets is the package for a platform.
//!
//! The spec gives each platform an ordered list of regexes over asset names. The first regex that
//! matches anything decides: one match selects that asset; two or more fail the version, naming
//! them; when no regex matches, the platform is absent for that version.

use mirrorkit_core::source::Asset;
use mirrorkit_core::spec::PlatformAssets;

/// The outcome of selecting one platform's asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection<'a> {
    /// Exactly one asset matched.
    Selected(&'a Asset),
    /// No pattern matched: this version does not offer the platform.
    Absent,
    /// A pattern matched more than one asset.
    Ambiguous {
        /// The pattern.
        pattern: String,
        /// The names of the (first two) matching assets.
        names: [String; 2],
    },
}

/// Select the asset of `platform` among `assets`.
pub fn select<'a>(platform: &PlatformAssets, assets: &'a [Asset]) -> Selection<'a> {
    for pattern in &platform.patterns {
        let mut matches = assets.iter().filter(|a| pattern.is_match(&a.name));
        match (matches.next(), matches.next()) {
            (Some(one), None) => return Selection::Selected(one),
            (Some(a), Some(b)) => {
                return Selection::Ambiguous {
                    pattern: pattern.as_str().to_string(),
                    names: [a.name.clone(), b.name.clone()],
                };
            }
            (None, _) => continue,
        }
    }
    Selection::Absent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(name: &str) -> Asset {
        Asset {
            name: name.into(),
            url: url::Url::parse("https://example.org/x").unwrap(),
            checksum: None,
        }
    }

    fn platform(patterns: &[&str]) -> PlatformAssets {
        PlatformAssets {
            platform: "linux/amd64".parse().unwrap(),
            patterns: patterns
                .iter()
                .map(|p| regex::Regex::new(p).unwrap())
                .collect(),
            asset_type: mirrorkit_core::spec::AssetTypeSpec::Archive,
            binary_name: None,
            strip_components: 0,
            metadata: None,
            min_version: None,
            max_version: None,
        }
    }

    #[test]
    fn first_matching_pattern_decides() {
        let assets = [asset("t-linux-amd64.tar.gz"), asset("t-linux-amd64.zip")];
        let p = platform(&["linux-amd64\\.tar\\.gz$", "linux-amd64"]);
        assert_eq!(select(&p, &assets), Selection::Selected(&assets[0]));
    }

    #[test]
    fn no_match_is_absent_and_two_matches_name_both() {
        let assets = [asset("t-linux-amd64.tar.gz"), asset("t-linux-amd64.zip")];
        assert_eq!(select(&platform(&["darwin"]), &assets), Selection::Absent);
        match select(&platform(&["darwin", "linux-amd64"]), &assets) {
            Selection::Ambiguous { names, .. } => {
                assert_eq!(names, ["t-linux-amd64.tar.gz", "t-linux-amd64.zip"])
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
    }
}
