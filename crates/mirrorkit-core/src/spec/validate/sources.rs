//! Sources: which kind a mirror's `source:` is, fields of another kind named as mistakes, and the
//! release sources (`url_index`, `github_release`).

use super::*;

pub(super) fn source(
    ctx: &Ctx<'_>,
    s: &SourceSpec,
    key: &str,
    field: &str,
) -> Result<SourceConfig, SpecError> {
    // Fields of the other kind are mistakes worth naming.
    let given = [
        ("url", s.url.is_some()),
        ("versions", s.versions.is_some()),
        ("generator", s.generator.is_some()),
        ("owner", s.owner.is_some()),
        ("repo", s.repo.is_some()),
        ("tag_pattern", s.tag_pattern.is_some()),
        ("api_url", s.api_url.is_some()),
        (
            "max_rate_limit_wait_seconds",
            s.max_rate_limit_wait_seconds.is_some(),
        ),
        ("image", s.image.is_some()),
        ("tags", s.tags.is_some()),
        ("digests", s.digests.is_some()),
        ("platforms", s.platforms.is_some()),
        ("referrers", s.referrers.is_some()),
        ("include_host", s.include_host.is_some()),
        ("chart", s.chart.is_some()),
        ("path", s.path.is_some()),
        ("images", s.images.is_some()),
        ("extra_images", s.extra_images.is_some()),
        ("helm_template", s.helm_template.is_some()),
        ("charts_prefix", s.charts_prefix.is_some()),
        ("purls", s.purls.is_some()),
        ("sboms", s.sboms.is_some()),
        ("upstreams", s.upstreams.is_some()),
        ("dependencies", s.dependencies.is_some()),
        ("prereleases", s.prereleases.is_some()),
        ("pypi", s.pypi.is_some()),
        ("registry", s.registry.is_some()),
        ("suites", s.suites.is_some()),
        ("components", s.components.is_some()),
        ("architectures", s.architectures.is_some()),
        ("keyring", s.keyring.is_some()),
        ("fingerprints", s.fingerprints.is_some()),
        ("include", s.include.is_some()),
        ("exclude", s.exclude.is_some()),
        ("ignore_valid_until", s.ignore_valid_until.is_some()),
        ("sources", s.sources.is_some()),
        ("udebs", s.udebs.is_some()),
        ("translations", s.translations.is_some()),
        ("contents", s.contents.is_some()),
        ("dep11", s.dep11.is_some()),
        ("prefix", s.prefix.is_some()),
        ("gpgcheck", s.gpgcheck.is_some()),
        ("mirrorlist", s.mirrorlist.is_some()),
    ];
    let allowed: &[&str] = match s.kind.value {
        SourceKind::UrlIndex => &["url", "versions", "generator"],
        SourceKind::GithubRelease => &[
            "owner",
            "repo",
            "tag_pattern",
            "api_url",
            "max_rate_limit_wait_seconds",
        ],
        SourceKind::Oci => &[
            "image",
            "tags",
            "digests",
            "platforms",
            "referrers",
            "include_host",
        ],
        SourceKind::Helm => &[
            "repo",
            "chart",
            "path",
            "versions",
            "images",
            "extra_images",
            "helm_template",
            "charts_prefix",
            "referrers",
        ],
        SourceKind::Packages => &[
            "purls",
            "sboms",
            "upstreams",
            "dependencies",
            "prereleases",
            "versions",
            "pypi",
            "registry",
        ],
        SourceKind::Apt => &[
            "url",
            "suites",
            "components",
            "architectures",
            "keyring",
            "fingerprints",
            "include",
            "exclude",
            "ignore_valid_until",
            "sources",
            "udebs",
            "translations",
            "contents",
            "dep11",
            "prefix",
        ],
        SourceKind::Rpm => &[
            "url",
            "mirrorlist",
            "keyring",
            "fingerprints",
            "include",
            "exclude",
            "prefix",
            "gpgcheck",
        ],
    };
    if let Some((name, _)) = given
        .iter()
        .find(|(name, given)| *given && !allowed.contains(name))
    {
        return Err(ctx.err(
            &s.kind,
            format!("{field}.{name}"),
            format!("`{name}` does not apply to this source type"),
        ));
    }
    match s.kind.value {
        SourceKind::GithubRelease => github_source(ctx, s, field),
        SourceKind::Oci => oci_source(ctx, s, field),
        SourceKind::Helm => helm_source(ctx, s, field),
        SourceKind::Packages => packages_source(ctx, s, field),
        SourceKind::Apt => apt_source(ctx, s, key, field),
        SourceKind::Rpm => rpm_source(ctx, s, key, field),
        SourceKind::UrlIndex => {
            let given = [s.url.is_some(), s.versions.is_some(), s.generator.is_some()];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(ctx.err(
                    &s.kind,
                    field,
                    "a url_index source needs exactly one of `url`, `versions` or `generator`",
                ));
            }
            let origin = if let Some(u) = &s.url {
                IndexOrigin::Url(index_url(ctx, u, &format!("{field}.url"))?)
            } else if let Some(v) = &s.versions {
                let base = Url::from_directory_path(&ctx.dir).map_err(|()| {
                    ctx.err(
                        v,
                        format!("{field}.versions"),
                        "spec directory is not absolute",
                    )
                })?;
                let versions = serde_json::from_value(v.value.clone()).map_err(|e| {
                    ctx.err(
                        v,
                        format!("{field}.versions"),
                        format!("expected a map of version → {{assets: …}}: {e}"),
                    )
                })?;
                let document = url_index::IndexDocument { versions };
                // Check URLs and checksums now, so `validate` catches them offline.
                url_index::releases(&document, &base, "inline versions")
                    .map_err(|e| ctx.err(v, format!("{field}.versions"), e.to_string()))?;
                IndexOrigin::Inline { document, base }
            } else if let Some(g) = &s.generator {
                IndexOrigin::Generator(generator(ctx, g, &format!("{field}.generator"))?)
            } else {
                unreachable!("exactly one origin was checked above")
            };
            Ok(SourceConfig::UrlIndex(origin))
        }
    }
}

pub(super) fn github_source(
    ctx: &Ctx<'_>,
    s: &SourceSpec,
    field: &str,
) -> Result<SourceConfig, SpecError> {
    use crate::source::github::{DEFAULT_TAG_PATTERN, GithubSource};
    let name = |v: Option<&Located<String>>, f: &str| -> Result<String, SpecError> {
        let Some(v) = v else {
            return Err(ctx.err(
                &s.kind,
                format!("{field}.{f}"),
                format!("a github_release source needs `{f}`"),
            ));
        };
        let ok = !v.value.is_empty()
            && v.value.len() <= 100
            && v.value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && v.value != "."
            && v.value != "..";
        if !ok {
            return Err(ctx.err(
                v,
                format!("{field}.{f}"),
                format!("{:?} is not a GitHub {f} name", v.value),
            ));
        }
        Ok(v.value.clone())
    };
    let owner = name(s.owner.as_ref(), "owner")?;
    let repo = name(s.repo.as_ref(), "repo")?;
    let tag_pattern = match &s.tag_pattern {
        Some(p) => {
            let re = regex::RegexBuilder::new(&p.value)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    ctx.err(
                        p,
                        format!("{field}.tag_pattern"),
                        format!("invalid regex: {e}"),
                    )
                })?;
            if !re.capture_names().any(|n| n == Some("version")) {
                return Err(ctx.err(
                    p,
                    format!("{field}.tag_pattern"),
                    "must contain a named group (?P<version>…) that captures the version",
                ));
            }
            re
        }
        None => regex::Regex::new(DEFAULT_TAG_PATTERN).map_err(|e| {
            ctx.err(
                &s.kind,
                format!("{field}.tag_pattern"),
                format!("default pattern: {e}"),
            )
        })?,
    };
    let api_url = match &s.api_url {
        Some(u) => match Url::parse(&u.value) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.username().is_empty()
                    && url.password().is_none() =>
            {
                Some(url)
            }
            Ok(_) => {
                return Err(ctx.err(
                    u,
                    format!("{field}.api_url"),
                    "must be an http(s) URL without credentials (the token comes from GITHUB_TOKEN)",
                ));
            }
            Err(e) => {
                return Err(ctx.err(u, format!("{field}.api_url"), format!("invalid URL: {e}")));
            }
        },
        None => None,
    };
    Ok(SourceConfig::Github(GithubSource {
        owner,
        repo,
        tag_pattern,
        api_url,
        max_rate_limit_wait: Duration::from_secs(
            s.max_rate_limit_wait_seconds
                .as_ref()
                .map_or(900, |w| w.value),
        ),
        // Filled in once every mirror is built (see `share_insecure_hosts`).
        insecure_hosts: Vec::new(),
    }))
}

pub(super) fn index_url(ctx: &Ctx<'_>, u: &Located<String>, field: &str) -> Result<Url, SpecError> {
    match Url::parse(&u.value) {
        Ok(url) if matches!(url.scheme(), "http" | "https" | "file") => Ok(url),
        Ok(url) => Err(ctx.err(
            u,
            field,
            format!(
                "unsupported URL scheme {:?} (http, https, file, or a relative path)",
                url.scheme()
            ),
        )),
        // Not a URL: a path relative to the spec file.
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            Url::from_file_path(ctx.resolve(Path::new(&u.value)))
                .map_err(|()| ctx.err(u, field, "not a usable file path"))
        }
        Err(e) => Err(ctx.err(u, field, format!("invalid URL: {e}"))),
    }
}

pub(super) fn generator(
    ctx: &Ctx<'_>,
    g: &Located<GeneratorSpec>,
    field: &str,
) -> Result<Generator, SpecError> {
    if g.value.command.value.is_empty() || g.value.command.value[0].is_empty() {
        return Err(ctx.err(
            &g.value.command,
            format!("{field}.command"),
            "the command is empty",
        ));
    }
    if g.value.timeout_seconds == Some(0) {
        return Err(ctx.err(g, format!("{field}.timeout_seconds"), "must be at least 1"));
    }
    Ok(Generator {
        command: g.value.command.value.clone(),
        working_directory: g
            .value
            .working_directory
            .as_deref()
            .map(|p| ctx.resolve(p))
            .unwrap_or_else(|| ctx.dir.clone()),
        timeout: g
            .value
            .timeout_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_GENERATOR_TIMEOUT),
    })
}
