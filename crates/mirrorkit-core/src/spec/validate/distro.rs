//! `type: apt` and `type: rpm` sources and the `repos` target they are kept under. Everything
//! is checked now, offline: the URL, names that become paths, the filters' regexes, the
//! keyring's presence.

use super::*;
use crate::source::apt::{AptExtras, AptSource};
use crate::source::distro::Keys;
use crate::source::rpm::RpmSource;

/// A suite, component or architecture name: it becomes a path segment of the mirror tree.
fn is_dist_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+~".contains(&b))
}

/// A list of names (suites, components, architectures), each refused naming it when it cannot
/// be a path segment.
fn names(
    ctx: &Ctx<'_>,
    list: Option<&Located<Vec<Located<String>>>>,
    default: &[&str],
    field: &str,
) -> Result<Vec<String>, SpecError> {
    let Some(list) = list else {
        return Ok(default.iter().map(|s| s.to_string()).collect());
    };
    if list.value.is_empty() {
        return Err(ctx.err(list, field, "the list is empty"));
    }
    let mut out = Vec::new();
    for (i, n) in list.value.iter().enumerate() {
        if !is_dist_name(&n.value) {
            return Err(ctx.err(
                n,
                format!("{field}[{i}]"),
                format!(
                    "{:?} is not a name (letters, digits and . _ - + ~)",
                    n.value
                ),
            ));
        }
        if !out.contains(&n.value) {
            out.push(n.value.clone());
        }
    }
    Ok(out)
}

fn regexes(
    ctx: &Ctx<'_>,
    list: Option<&Located<Vec<Located<String>>>>,
    field: &str,
) -> Result<Vec<regex::Regex>, SpecError> {
    let mut out = Vec::new();
    for (i, r) in list.iter().flat_map(|l| l.value.iter()).enumerate() {
        out.push(
            regex::RegexBuilder::new(&r.value)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| ctx.err(r, format!("{field}[{i}]"), format!("invalid regex: {e}")))?,
        );
    }
    Ok(out)
}

/// What apt and rpm sources share: the URL (a directory), the keyring, the prefix.
struct Common {
    url: Url,
    keys: Keys,
    prefix: String,
}

/// The http(s) URL at `field` (`url`, `mirrorlist`).
fn http_url(ctx: &Ctx<'_>, u: &Located<String>, field: String) -> Result<Url, SpecError> {
    match Url::parse(&u.value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(ctx.err(u, field, format!("{:?} is not an http(s) URL", u.value))),
    }
}

fn common(
    ctx: &Ctx<'_>,
    s: &SourceSpec,
    kind: &str,
    key: &str,
    field: &str,
) -> Result<Common, SpecError> {
    let url = match (&s.url, &s.mirrorlist) {
        (Some(_), Some(m)) => {
            return Err(ctx.err(
                m,
                format!("{field}.mirrorlist"),
                "give `url` or `mirrorlist`, not both",
            ));
        }
        (None, Some(m)) => http_url(ctx, m, format!("{field}.mirrorlist"))?,
        (Some(u), None) => {
            let mut url = http_url(ctx, u, format!("{field}.url"))?;
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            url
        }
        (None, None) => {
            let or = if kind == "rpm" {
                " (or `mirrorlist`)"
            } else {
                ""
            };
            return Err(ctx.err(
                &s.kind,
                format!("{field}.url"),
                format!("an {kind} source needs `url`{or}"),
            ));
        }
    };
    let mut fingerprints = Vec::new();
    for (i, f) in s
        .fingerprints
        .iter()
        .flat_map(|l| l.value.iter())
        .enumerate()
    {
        let Some(fp) = Keys::normalise_fingerprint(&f.value) else {
            return Err(ctx.err(
                f,
                format!("{field}.fingerprints[{i}]"),
                format!(
                    "{:?} is not a key fingerprint (40 or 64 hex digits; a short key id is not \
                     enough to trust)",
                    f.value
                ),
            ));
        };
        fingerprints.push(fp);
    }
    if s.fingerprints.as_ref().is_some_and(|l| l.value.is_empty()) {
        return Err(ctx.err(
            &s.kind,
            format!("{field}.fingerprints"),
            "an empty list would trust no key",
        ));
    }
    let file = match &s.keyring {
        Some(keyring) => {
            let path = ctx.resolve(&keyring.value);
            if !path.is_file() {
                return Err(ctx.err(
                    keyring,
                    format!("{field}.keyring"),
                    format!("{}: no such file", path.display()),
                ));
            }
            Some(path)
        }
        None if fingerprints.is_empty() => {
            return Err(ctx.err(
                &s.kind,
                format!("{field}.keyring"),
                format!(
                    "an {kind} source needs `keyring` (a .gpg or .asc file) or `fingerprints` \
                     (keys of the system's keyrings): the keys its metadata must be signed \
                     with; an unverified repository is not mirrored"
                ),
            ));
        }
        None => None,
    };
    let keys = Keys { file, fingerprints };
    let prefix = match &s.prefix {
        Some(p) => {
            let first = p.value.split('/').next().unwrap_or_default();
            let named = p
                .value
                .split('/')
                .all(|s| is_dist_name(s) && !s.starts_with('.'));
            if !named || first == "snapshots" {
                return Err(ctx.err(
                    p,
                    format!("{field}.prefix"),
                    format!(
                        "{:?} is not a relative path of names (not starting with `snapshots`, \
                         where `publish-snapshot --all` puts every snapshot)",
                        p.value
                    ),
                ));
            }
            p.value.clone()
        }
        None if key == "snapshots" => {
            return Err(ctx.err(
                &s.kind,
                format!("{field}.prefix"),
                "the key `snapshots` cannot be the prefix (`publish-snapshot --all` uses it); set `prefix`",
            ));
        }
        None => key.to_string(),
    };
    Ok(Common { url, keys, prefix })
}

pub(super) fn apt_source(
    ctx: &Ctx<'_>,
    s: &SourceSpec,
    key: &str,
    field: &str,
) -> Result<SourceConfig, SpecError> {
    let c = common(ctx, s, "apt", key, field)?;
    let Some(suites) = &s.suites else {
        return Err(ctx.err(
            &s.kind,
            format!("{field}.suites"),
            "an apt source needs `suites` (e.g. [bookworm])",
        ));
    };
    let suites = names(ctx, Some(suites), &[], &format!("{field}.suites"))?;
    let components = names(
        ctx,
        s.components.as_ref(),
        &["main"],
        &format!("{field}.components"),
    )?;
    let Some(architectures) = &s.architectures else {
        return Err(ctx.err(
            &s.kind,
            format!("{field}.architectures"),
            "an apt source needs `architectures` (e.g. [amd64]; `all` is added)",
        ));
    };
    let mut architectures = names(
        ctx,
        Some(architectures),
        &[],
        &format!("{field}.architectures"),
    )?;
    if !architectures.iter().any(|a| a == "all") {
        architectures.push("all".to_string());
    }
    Ok(SourceConfig::Apt(AptSource {
        url: c.url,
        suites,
        components,
        architectures,
        keys: c.keys,
        include: regexes(ctx, s.include.as_ref(), &format!("{field}.include"))?,
        exclude: regexes(ctx, s.exclude.as_ref(), &format!("{field}.exclude"))?,
        ignore_valid_until: s.ignore_valid_until.unwrap_or(false),
        extras: AptExtras {
            sources: s.sources.unwrap_or(false),
            udebs: s.udebs.unwrap_or(false),
            translations: names(
                ctx,
                s.translations.as_ref(),
                &[],
                &format!("{field}.translations"),
            )?,
            contents: s.contents.unwrap_or(false),
            dep11: s.dep11.unwrap_or(false),
        },
        prefix: c.prefix,
    }))
}

pub(super) fn rpm_source(
    ctx: &Ctx<'_>,
    s: &SourceSpec,
    key: &str,
    field: &str,
) -> Result<SourceConfig, SpecError> {
    let c = common(ctx, s, "rpm", key, field)?;
    Ok(SourceConfig::Rpm(RpmSource {
        url: c.url,
        mirrorlist: s.mirrorlist.is_some(),
        keys: c.keys,
        include: regexes(ctx, s.include.as_ref(), &format!("{field}.include"))?,
        exclude: regexes(ctx, s.exclude.as_ref(), &format!("{field}.exclude"))?,
        prefix: c.prefix,
        gpgcheck: s.gpgcheck.unwrap_or(false),
    }))
}

/// Two distribution mirrors kept under one root must not share a prefix or nest one inside the
/// other (their trees and links would overwrite each other).
pub(super) fn check_prefixes(ctx: &Ctx<'_>, mirrors: &[Mirror]) -> Result<(), SpecError> {
    let mut seen: Vec<(&Path, Vec<&str>, &str)> = Vec::new();
    for m in mirrors {
        let (TargetConfig::Repos { root, .. }, SourceConfig::Apt(_) | SourceConfig::Rpm(_)) =
            (&m.target, &m.source)
        else {
            continue;
        };
        let prefix = match &m.source {
            SourceConfig::Apt(a) => a.prefix.as_str(),
            SourceConfig::Rpm(r) => r.prefix.as_str(),
            _ => continue,
        };
        let segments: Vec<&str> = prefix.split('/').collect();
        for (other_root, other, other_key) in &seen {
            let n = segments.len().min(other.len());
            if *other_root == root.as_path() && segments[..n] == other[..n] {
                return Err(ctx.err_nowhere(
                    format!("mirrors.{}.source.prefix", m.key),
                    format!(
                        "{prefix:?} overlaps the prefix {:?} of mirror {other_key} under the \
                         same root: give each its own, neither inside the other",
                        other.join("/")
                    ),
                ));
            }
        }
        seen.push((root.as_path(), segments, &m.key));
    }
    Ok(())
}

/// The target of a distribution mirror: `repos.root` from its own target or the shared one.
pub(super) fn repos_target(
    ctx: &Ctx<'_>,
    own: Option<&TargetSpec>,
    shared: Option<&TargetSpec>,
    field: &str,
) -> Result<TargetConfig, SpecError> {
    only_target_fields(
        ctx,
        own,
        &["repos"],
        "a distribution mirror (it is kept under `repos.root`)",
        field,
    )?;
    let Some(repos) = own.or(shared).and_then(|t| t.repos.as_ref()) else {
        return Err(ctx.err_nowhere(
            format!("{field}.repos"),
            "a distribution mirror needs `target: {repos: {root: DIR}}`: the directory its \
             tree, pool and snapshots are kept in",
        ));
    };
    if let Some(k) = repos.keep.as_ref().filter(|k| k.value == 0) {
        return Err(ctx.err(
            k,
            format!("{field}.repos.keep"),
            "must be at least 1 (the current snapshot is always kept)",
        ));
    }
    if let Some(d) = &repos.zfs_dataset {
        // Passed to `zfs` as one argument: no option, no snapshot part.
        let name = &d.value;
        let ok = !name.is_empty()
            && !name.starts_with(['-', '/'])
            && !name.ends_with('/')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b));
        if !ok {
            return Err(ctx.err(
                d,
                format!("{field}.repos.zfs_dataset"),
                format!("{name:?} is not a ZFS dataset name (pool/fs: letters, digits, `_-.:/`)"),
            ));
        }
    }
    Ok(TargetConfig::Repos {
        root: ctx.resolve(&repos.root.value),
        keep: repos.keep.as_ref().map(|k| k.value),
        keep_days: repos.keep_days.as_ref().map(|k| k.value),
        zfs_dataset: repos.zfs_dataset.as_ref().map(|d| d.value.clone()),
    })
}
