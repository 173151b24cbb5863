//! Which versions a PURL without a version takes: every release upstream lists (prereleases
//! only when asked), narrowed by the version policy — a range in the ecosystem's own syntax,
//! a publication date, and the highest N of what is left.

use mirrorkit_core::source::packages::PackageVersions;

use crate::ecosystem::Registry;

/// The versions of `listed` the policy keeps, lowest first; an error when the policy needs
/// what upstream does not say (`since` with no publication time).
pub(crate) fn select<R: Registry>(
    registry: &R,
    meta: &R::Meta,
    listed: &[String],
    policy: &PackageVersions,
    prereleases: bool,
) -> Result<Vec<String>, String> {
    let mut kept: Vec<String> = listed
        .iter()
        .filter(|v| prereleases || !registry.is_prerelease(v))
        .filter(|v| {
            policy
                .range
                .as_deref()
                .is_none_or(|r| registry.in_range(v, r))
        })
        .cloned()
        .collect();
    if let Some(since) = policy.since {
        let mut undated = Vec::new();
        kept.retain(|v| match registry.released_at(meta, v) {
            Some(t) => t >= since,
            None => {
                undated.push(v.clone());
                false
            }
        });
        if let Some(first) = undated.first() {
            return Err(format!(
                "`since` cannot be applied: upstream gives no publication time for {first}{} \
                 (a PEP 503 page or an index without `pubtime` has none); use a range or \
                 `latest` instead",
                match undated.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                }
            ));
        }
    }
    kept.sort_by(|a, b| registry.compare(a, b));
    if let Some(n) = policy.latest {
        let drop = kept.len().saturating_sub(n);
        kept.drain(..drop);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use mirrorkit_core::source::packages::parse_instant;
    use url::Url;

    use super::*;
    use crate::ecosystem::cargo::Cargo;
    use crate::ecosystem::npm::Npm;
    use crate::ecosystem::pypi::Pypi;

    fn npm_meta() -> <Npm as Registry>::Meta {
        let versions = ["0.9.0", "1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "2.0.0"];
        let doc = serde_json::json!({
            "name": "p",
            "versions": versions.iter().map(|v| (v.to_string(), serde_json::json!({}))).collect::<serde_json::Map<_, _>>(),
            "time": {
                "0.9.0": "2025-01-01T00:00:00.000Z",
                "1.0.0": "2025-06-01T00:00:00.000Z",
                "1.2.0": "2026-01-01T00:00:00.000Z",
                "1.10.0": "2026-02-01T00:00:00.000Z",
                "2.0.0-rc.1": "2026-03-01T00:00:00.000Z",
                "2.0.0": "2026-04-01T00:00:00.000Z",
            },
        });
        let url = Url::parse("http://r.example/p").expect("url");
        Npm.parse("p", &url, &serde_json::to_vec(&doc).expect("json"))
            .expect("packument")
    }

    fn run<R: Registry>(r: &R, meta: &R::Meta, policy: &PackageVersions, pre: bool) -> Vec<String> {
        select(r, meta, &r.versions(meta), policy, pre).expect("selected")
    }

    #[test]
    fn npm_range_date_and_latest_combine_in_semver_order() {
        let meta = npm_meta();
        let all = PackageVersions::default();
        // Semver order, not text order (1.10.0 after 1.2.0); the prerelease only when asked.
        assert_eq!(
            run(&Npm, &meta, &all, false),
            ["0.9.0", "1.0.0", "1.2.0", "1.10.0", "2.0.0"]
        );
        assert!(run(&Npm, &meta, &all, true).contains(&"2.0.0-rc.1".to_string()));
        let range = PackageVersions {
            range: Some("^1".into()),
            ..PackageVersions::default()
        };
        assert_eq!(
            run(&Npm, &meta, &range, false),
            ["1.0.0", "1.2.0", "1.10.0"]
        );
        let latest = PackageVersions {
            range: Some("^1".into()),
            latest: Some(2),
            ..PackageVersions::default()
        };
        assert_eq!(run(&Npm, &meta, &latest, false), ["1.2.0", "1.10.0"]);
        let since = PackageVersions {
            since: parse_instant("2026-01-01"),
            ..PackageVersions::default()
        };
        assert_eq!(
            run(&Npm, &meta, &since, false),
            ["1.2.0", "1.10.0", "2.0.0"]
        );
        let none = PackageVersions {
            range: Some(">=3".into()),
            ..PackageVersions::default()
        };
        assert!(run(&Npm, &meta, &none, false).is_empty());
    }

    #[test]
    fn cargo_ranges_and_pubtime() {
        let text = concat!(
            r#"{"name":"c","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false,"pubtime":"2025-01-01T00:00:00Z"}"#,
            "\n",
            r#"{"name":"c","vers":"1.5.0","deps":[],"cksum":"00","features":{},"yanked":false,"pubtime":"2026-02-01T00:00:00Z"}"#,
            "\n",
            r#"{"name":"c","vers":"2.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#,
            "\n"
        );
        let url = Url::parse("http://r.example/index/1/c").expect("url");
        let cargo = Cargo {
            dl: [(
                "http://r.example/index/".to_string(),
                "http://r.example/dl".to_string(),
            )]
            .into(),
        };
        let meta = cargo.parse("c", &url, text.as_bytes()).expect("index file");
        let range = PackageVersions {
            range: Some(">=1.2, <2".into()),
            ..PackageVersions::default()
        };
        assert_eq!(run(&Cargo::default(), &meta, &range, false), ["1.5.0"]);
        // 2.0.0 has no `pubtime`: `since` is refused, naming it, rather than guessing.
        let since = PackageVersions {
            since: parse_instant("2026-01-01"),
            ..PackageVersions::default()
        };
        let e = select(
            &Cargo::default(),
            &meta,
            &Cargo::default().versions(&meta),
            &since,
            false,
        )
        .expect_err("undated");
        assert!(e.contains("2.0.0") && e.contains("since"), "{e}");
        assert!(Cargo::default().check_range("^1.x.y").is_err());
        assert!(Npm.check_range(">=1 <2 || ~3").is_ok());
    }

    #[test]
    fn pypi_specifiers_follow_pep_440() {
        let page = concat!(
            "<a href=\"p-1.0.tar.gz#sha256=",
            "00",
            "\">p-1.0.tar.gz</a>",
            "<a href=\"p-1.10.tar.gz\">p-1.10.tar.gz</a>",
            "<a href=\"p-1.9.tar.gz\">p-1.9.tar.gz</a>",
            "<a href=\"p-2.0rc1.tar.gz\">p-2.0rc1.tar.gz</a>",
        );
        let url = Url::parse("http://r.example/simple/p/").expect("url");
        let meta = Pypi::default()
            .parse("p", &url, page.as_bytes())
            .expect("page");
        let range = PackageVersions {
            range: Some(">=1.9,<2".into()),
            ..PackageVersions::default()
        };
        assert_eq!(run(&Pypi::default(), &meta, &range, false), ["1.9", "1.10"]);
        let latest = PackageVersions {
            latest: Some(1),
            ..PackageVersions::default()
        };
        assert_eq!(run(&Pypi::default(), &meta, &latest, false), ["1.10"]);
        assert_eq!(run(&Pypi::default(), &meta, &latest, true), ["2.0rc1"]);
        assert!(Pypi::default().check_range("^1.2").is_err());
    }
}
