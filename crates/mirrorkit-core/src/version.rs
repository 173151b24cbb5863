//! Ordering of version strings.
//!
//! One total order for every string, so sorting never depends on which versions happen to be
//! present. It agrees with semver for semver versions:
//! - a leading `v` is ignored, and so is `+build` metadata;
//! - the part before the first `-` is the release, split on `.` and `_`; the rest is the
//!   prerelease, split on `.`;
//! - segments compare pairwise: digits numerically, other text lexically, text before digits; a
//!   version with fewer release segments is lower (`1.2` < `1.2.0`); `2024.01.15` works naturally;
//! - a version with a prerelease is lower than the same release without one (`1.0.0-rc1` <
//!   `1.0.0`);
//! - versions equal by these rules fall back to comparing the raw strings.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Segment<'a> {
    Text(&'a str),
    /// Digits without leading zeros, compared by length then lexically (no overflow).
    Number(&'a str),
}

fn segments<'a>(s: &'a str, separators: &[char]) -> Vec<Segment<'a>> {
    s.split(|c| separators.contains(&c))
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                let trimmed = seg.trim_start_matches('0');
                Segment::Number(if trimmed.is_empty() { "0" } else { trimmed })
            } else {
                Segment::Text(seg)
            }
        })
        .collect()
}

fn cmp_segments(a: &[Segment<'_>], b: &[Segment<'_>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Segment::Number(x), Segment::Number(y)) => x.len().cmp(&y.len()).then(x.cmp(y)),
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn split(v: &str) -> (&str, Option<&str>) {
    let v = v.strip_prefix('v').unwrap_or(v);
    let v = v.split_once('+').map_or(v, |(head, _build)| head);
    match v.split_once('-') {
        Some((release, pre)) => (release, Some(pre)),
        None => (v, None),
    }
}

/// Compare two version strings (see the module documentation for the rules).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ra, pa) = split(a);
    let (rb, pb) = split(b);
    cmp_segments(&segments(ra, &['.', '_']), &segments(rb, &['.', '_']))
        .then_with(|| match (pa, pb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => cmp_segments(&segments(x, &['.']), &segments(y, &['.'])),
        })
        .then_with(|| a.cmp(b))
}

/// Sort version strings from lowest to highest.
pub fn sort(versions: &mut [String]) {
    versions.sort_by(|a, b| compare(a, b));
}

/// The OCI tag a version is published under: `+` (semver build metadata) becomes `_`, as Helm and
/// ocx do, because `+` is not allowed in a tag. `None` when the result is still not a valid tag.
pub fn tag_for(version: &str) -> Option<String> {
    let tag = version.replace('+', "_");
    let b = tag.as_bytes();
    let valid = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c));
    valid.then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn orders_like_semver_and_calendar_versions() {
        let mut v: Vec<String> = [
            "1.10.0",
            "1.2.0",
            "1.2",
            "1.2.0-rc.1",
            "1.2.0-alpha",
            "1.2.0-rc.10",
            "v1.3.0",
            "2024.01.15",
            "2023.12.31",
            "0.9",
            "1.2.0-rc.2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        sort(&mut v);
        assert_eq!(
            v,
            [
                "0.9",
                "1.2",
                "1.2.0-alpha",
                "1.2.0-rc.1",
                "1.2.0-rc.2",
                "1.2.0-rc.10",
                "1.2.0",
                "v1.3.0",
                "1.10.0",
                "2023.12.31",
                "2024.01.15"
            ]
        );
    }

    proptest! {
        #[test]
        fn is_a_total_order(a in "[v0-9a-z.+_-]{0,12}", b in "[v0-9a-z.+_-]{0,12}", c in "[v0-9a-z.+_-]{0,12}") {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            prop_assert_eq!(compare(&a, &a), Ordering::Equal);
            if compare(&a, &b) != Ordering::Greater && compare(&b, &c) != Ordering::Greater {
                prop_assert_ne!(compare(&a, &c), Ordering::Greater);
            }
        }

        #[test]
        fn agrees_with_semver(a in "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-(rc|alpha|[0-9]{1,2})(\\.[0-9]{1,2})?)?",
                              b in "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-(rc|alpha|[0-9]{1,2})(\\.[0-9]{1,2})?)?") {
            if let (Ok(x), Ok(y)) = (semver::Version::parse(&a), semver::Version::parse(&b)) {
                let ours = compare(&a, &b);
                // semver ignores leading zeros only where it rejects them; equal-by-semver
                // strings may differ textually, where our raw-string tiebreak decides.
                if x.cmp(&y) != Ordering::Equal {
                    prop_assert_eq!(ours, x.cmp(&y));
                }
            }
        }
    }
}
