//! `type: apt` and `type: rpm` sources and the `repos` target: a good one loads with every
//! field, and every field read is refused with 65 naming it when wrong.

use std::path::Path;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::source::apt::AptExtras;
use mirrorkit_core::spec::{self, SourceConfig, SpecError, TargetConfig};

fn parse_in(dir: &Path, text: &str) -> Result<spec::Spec, SpecError> {
    spec::parse(text, &dir.join("mirror.yml"))
}

fn spec_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("archive.gpg"), b"key").expect("keyring");
    dir
}

const GOOD: &str = r#"
target:
  registry: 127.0.0.1:5000
  repos: {root: ./repos, keep: 3}
mirrors:
  debian:
    source:
      type: apt
      url: http://deb.example.org/debian
      suites: [bookworm, bookworm-updates]
      components: [main, contrib]
      architectures: [amd64, arm64]
      keyring: archive.gpg
      fingerprints: ['a1b2 c3d4 e5f6 a7b8 c9d0  e1f2 a3b4 c5d6 e7f8 a9b0']
      include: ['^lib', '^python3-']
      exclude: ['-dbgsym$']
      ignore_valid_until: true
      sources: true
      udebs: true
      translations: [en, de]
      contents: true
      dep11: true
      prefix: debian/bookworm
"#;

#[test]
fn an_apt_mirror_loads_with_every_field() {
    let dir = spec_dir();
    let s = parse_in(dir.path(), GOOD).expect("valid");
    let m = &s.mirrors[0];
    assert_eq!(
        m.target,
        TargetConfig::Repos {
            root: dir.path().join("./repos"),
            keep: Some(3),
            keep_days: None,
            zfs_dataset: None,
        }
    );
    let SourceConfig::Apt(a) = &m.source else {
        panic!("{:?}", m.source)
    };
    // The URL is a directory: `dists/` resolves under it.
    assert_eq!(a.url.as_str(), "http://deb.example.org/debian/");
    assert_eq!(a.suites, ["bookworm", "bookworm-updates"]);
    assert_eq!(a.components, ["main", "contrib"]);
    // `all` comes with any architecture list.
    assert_eq!(a.architectures, ["amd64", "arm64", "all"]);
    assert_eq!(a.keys.file, Some(dir.path().join("archive.gpg")));
    // Spaces out, upper case: as fingerprints are compared.
    assert_eq!(
        a.keys.fingerprints,
        ["A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0"]
    );
    assert!(a.wants("libc6") && a.wants("python3-yaml"));
    assert!(!a.wants("libc6-dbgsym") && !a.wants("bash"));
    assert!(a.ignore_valid_until);
    assert_eq!(
        a.extras,
        AptExtras {
            sources: true,
            udebs: true,
            translations: vec!["en".into(), "de".into()],
            contents: true,
            dep11: true,
        }
    );
    assert_eq!(a.prefix, "debian/bookworm");
}

#[test]
fn every_apt_field_is_named_when_wrong() {
    let dir = spec_dir();
    let head = "target: {repos: {root: ./r}}\nmirrors:\n  deb:\n";
    let src = |extra: &str| {
        format!(
            "{head}    source: {{type: apt, url: 'http://d.example/debian', suites: [stable], architectures: [amd64], keyring: archive.gpg{extra}}}\n"
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{head}    source: {{type: apt, suites: [s], architectures: [amd64], keyring: archive.gpg}}\n"),
            "mirrors.deb.source.url",
            "needs `url`",
        ),
        (
            src("").replace("http://d.example/debian", "ftp://d.example/debian"),
            "mirrors.deb.source.url",
            "http(s) URL",
        ),
        (
            src("").replace("suites: [stable], ", ""),
            "mirrors.deb.source.suites",
            "needs `suites`",
        ),
        (
            src("").replace("suites: [stable]", "suites: ['../etc']"),
            "mirrors.deb.source.suites[0]",
            "not a name",
        ),
        (
            src("").replace("suites: [stable]", "suites: []"),
            "mirrors.deb.source.suites",
            "empty",
        ),
        (
            src(", components: ['main/../x']"),
            "mirrors.deb.source.components[0]",
            "not a name",
        ),
        (
            src("").replace("architectures: [amd64], ", ""),
            "mirrors.deb.source.architectures",
            "needs `architectures`",
        ),
        (
            src("").replace(", keyring: archive.gpg", ""),
            "mirrors.deb.source.keyring",
            "unverified repository is not mirrored",
        ),
        (
            src("").replace("archive.gpg", "missing.gpg"),
            "mirrors.deb.source.keyring",
            "no such file",
        ),
        (
            src(", fingerprints: ['DEADBEEF']"),
            "mirrors.deb.source.fingerprints[0]",
            "short key id is not",
        ),
        (
            src(", fingerprints: []"),
            "mirrors.deb.source.fingerprints",
            "trust no key",
        ),
        (
            src(", include: ['(']"),
            "mirrors.deb.source.include[0]",
            "invalid regex",
        ),
        (
            src(", exclude: ['[']"),
            "mirrors.deb.source.exclude[0]",
            "invalid regex",
        ),
        (
            src(", prefix: '../up'"),
            "mirrors.deb.source.prefix",
            "not a relative path",
        ),
        (
            src(", translations: ['en/../x']"),
            "mirrors.deb.source.translations[0]",
            "not a name",
        ),
        (
            src(", image: nginx"),
            "mirrors.deb.source.image",
            "does not apply",
        ),
        (
            src("").replace("target: {repos: {root: ./r}}\n", ""),
            "mirrors.deb.target.repos",
            "repos: {root: DIR}",
        ),
        (
            format!("{}    target: {{layout: ./oci}}\n", src("")),
            "mirrors.deb.target.layout",
            "does not apply to a distribution mirror",
        ),
        (
            src("").replace("repos: {root: ./r}", "repos: {root: ./r, keep: 0}"),
            "mirrors.deb.target.repos.keep",
            "at least 1",
        ),
        (
            src("").replace(
                "repos: {root: ./r}",
                "repos: {root: ./r, zfs_dataset: '-o x tank'}",
            ),
            "mirrors.deb.target.repos.zfs_dataset",
            "not a ZFS dataset name",
        ),
        (
            src("").replace(
                "repos: {root: ./r}",
                "repos: {root: ./r, zfs_dataset: 'tank/r@snap'}",
            ),
            "mirrors.deb.target.repos.zfs_dataset",
            "not a ZFS dataset name",
        ),
        (
            format!("{}    repository: x\n", src("")),
            "mirrors.deb.repository",
            "does not apply",
        ),
        (
            format!("{}    versions: '^1'\n", src("")),
            "mirrors.deb.versions",
            "does not apply",
        ),
        (
            "mirrors:\n  img:\n    source: {type: oci, image: r:5000/x}\n    target: {registry: r:5000, repos: {root: ./r}}\n".to_string(),
            "mirrors.img.target.repos",
            "does not apply to this mirror",
        ),
    ];
    for (text, field_expected, needle) in cases {
        match parse_in(dir.path(), &text) {
            Err(e @ SpecError::Invalid { .. }) => {
                assert_eq!(e.exit_code(), ExitCode::Data);
                let SpecError::Invalid { field, message, .. } = e else {
                    unreachable!()
                };
                assert_eq!(field, field_expected, "spec:\n{text}\nmessage: {message}");
                assert!(
                    message.contains(needle),
                    "spec:\n{text}\nmessage {message:?} should mention {needle:?}"
                );
            }
            other => panic!("expected an invalid spec, got {other:?}\n{text}"),
        }
    }
}

#[test]
fn an_rpm_mirror_loads_and_its_unbuilt_or_wrong_fields_are_named() {
    let dir = spec_dir();
    let text = "target: {repos: {root: ./r}}\nmirrors:\n  el:\n    source: {type: rpm, url: 'https://r.example/el9/x86_64', keyring: archive.gpg, include: ['^kernel']}\n";
    let s = parse_in(dir.path(), text).expect("valid");
    let SourceConfig::Rpm(r) = &s.mirrors[0].source else {
        panic!("{:?}", s.mirrors[0].source)
    };
    assert_eq!(r.url.as_str(), "https://r.example/el9/x86_64/");
    assert_eq!(r.prefix, "el");
    assert!(r.wants("kernel-core") && !r.wants("bash"));
    assert!(!r.mirrorlist);
    let listed = parse_in(
        dir.path(),
        &text.replace(
            "url: 'https://r.example/el9/x86_64'",
            "mirrorlist: 'https://m.example/list?repo=el9'",
        ),
    )
    .expect("valid");
    let SourceConfig::Rpm(l) = &listed.mirrors[0].source else {
        panic!()
    };
    assert!(l.mirrorlist);
    assert_eq!(l.url.as_str(), "https://m.example/list?repo=el9");
    for (bad, field, needle) in [
        (
            text.replace("include: ['^kernel']", "suites: [x]"),
            "mirrors.el.source.suites",
            "does not apply",
        ),
        (
            text.replace("include: ['^kernel']", "sources: true"),
            "mirrors.el.source.sources",
            "does not apply",
        ),
        (
            text.replace(
                "include: ['^kernel']",
                "mirrorlist: 'https://m.example/list'",
            ),
            "mirrors.el.source.mirrorlist",
            "not both",
        ),
        (
            text.replace(
                "url: 'https://r.example/el9/x86_64'",
                "mirrorlist: 'file:///etc/list'",
            ),
            "mirrors.el.source.mirrorlist",
            "not an http(s) URL",
        ),
        (
            text.replace("url: 'https://r.example/el9/x86_64', ", ""),
            "mirrors.el.source.url",
            "or `mirrorlist`",
        ),
        (
            text.replace("include: ['^kernel']", "prefix: snapshots/x"),
            "mirrors.el.source.prefix",
            "snapshots",
        ),
        (
            text.replace(", keyring: archive.gpg", ""),
            "mirrors.el.source.keyring",
            "unverified repository",
        ),
    ] {
        match parse_in(dir.path(), &bad) {
            Err(SpecError::Invalid {
                field: f, message, ..
            }) => {
                assert_eq!(f, field, "{bad}\n{message}");
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("expected an invalid spec, got {other:?}\n{bad}"),
        }
    }
}

#[test]
fn prefixes_under_one_root_may_not_overlap() {
    let dir = spec_dir();
    let m = |key: &str, prefix: &str| {
        format!(
            "  {key}:\n    source: {{type: rpm, url: 'https://r.example/{key}/', keyring: archive.gpg, prefix: '{prefix}'}}\n"
        )
    };
    let head = "target: {repos: {root: ./r}}\nmirrors:\n";
    for (a, b) in [
        ("debian", "debian"),
        ("debian", "debian/security"),
        ("el/9", "el"),
    ] {
        let text = format!("{head}{}{}", m("one", a), m("two", b));
        match parse_in(dir.path(), &text) {
            Err(SpecError::Invalid { message, .. }) => {
                assert!(message.contains("overlaps"), "{message}")
            }
            other => panic!("{a} and {b}: expected an error, got {other:?}"),
        }
    }
    let ok = format!("{head}{}{}", m("one", "el/9"), m("two", "el/10"));
    assert!(parse_in(dir.path(), &ok).is_ok());
    let hidden = format!("{head}{}", m("one", "x/.trees"));
    assert!(parse_in(dir.path(), &hidden).is_err());
}
