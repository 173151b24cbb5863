//! `type: packages` sources and the `packages` target: a good one loads with every field, and
//! every field read is refused with 65 naming it when wrong.

use std::path::{Path, PathBuf};

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::spec::{self, SourceConfig, SpecError, TargetConfig};

fn parse_in(dir: &Path, text: &str) -> Result<spec::Spec, SpecError> {
    spec::parse(text, &dir.join("mirror.yml"))
}

fn invalid_in(dir: &Path, text: &str) -> (u64, String, String) {
    match parse_in(dir, text) {
        Err(e @ SpecError::Invalid { .. }) => {
            assert_eq!(e.exit_code(), ExitCode::Data, "{e}");
            let SpecError::Invalid {
                line,
                field,
                message,
                ..
            } = e
            else {
                unreachable!()
            };
            (line, field, message)
        }
        other => panic!("expected an invalid spec, got {other:?}\n{text}"),
    }
}

fn spec_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bom.cdx.json"), "{}").expect("sbom");
    dir
}

const GOOD: &str = r#"
target:
  registry: 127.0.0.1:5000
  packages: ./published
  base_url: http://mirror.example/packages/
mirrors:
  web:
    source:
      type: packages
      purls: ['pkg:npm/left-pad@1.3.0', 'pkg:npm/%40scope/name']
      sboms: [bom.cdx.json]
      upstreams: {npm: 'http://127.0.0.1:4873/', cargo: 'sparse+http://127.0.0.1:9/index/'}
      dependencies: true
      prereleases: true
      versions: {semver: '^1', latest: 2, since: 2026-01-31}
      pypi: {python: ['3.11', '3.12'], platforms: ['manylinux*_x86_64', win_amd64], sdist: false}
  tools:
    source: {type: oci, image: 127.0.0.1:5000/tools}
"#;

#[test]
fn a_packages_mirror_loads_with_every_field_beside_an_image_mirror() {
    let dir = spec_dir();
    let s = parse_in(dir.path(), GOOD).expect("valid");
    let web = s.mirrors.iter().find(|m| m.key == "web").expect("web");
    let TargetConfig::Packages { path, base_url } = &web.target else {
        panic!("target {:?}", web.target);
    };
    assert_eq!(path, &dir.path().join("./published"));
    assert_eq!(base_url.as_str(), "http://mirror.example/packages/");
    let SourceConfig::Packages(p) = &web.source else {
        panic!("source {:?}", web.source);
    };
    assert_eq!(p.purls.len(), 2);
    assert_eq!(p.purls[1].purl, "pkg:npm/%40scope/name");
    // The place each PURL is written, for messages about it.
    let at = format!("{}:10:", dir.path().join("mirror.yml").display());
    assert!(p.purls[0].origin.starts_with(&at), "{}", p.purls[0].origin);
    assert_eq!(p.sboms, vec![dir.path().join("bom.cdx.json")]);
    assert_eq!(p.upstreams["cargo"].scheme(), "sparse+http");
    assert!(p.dependencies && p.prereleases);
    assert_eq!(p.versions.range.as_deref(), Some("^1"));
    assert_eq!(p.versions.latest, Some(2));
    assert_eq!(
        p.versions.since.map(|t| t.unix_timestamp()),
        Some(1_769_817_600)
    );
    assert_eq!(p.pypi.python, ["3.11", "3.12"]);
    assert_eq!(p.pypi.platforms, ["manylinux*_x86_64", "win_amd64"]);
    assert!(!p.pypi.sdist);
    // The image mirror beside it still publishes to the registry of the shared target.
    let tools = s.mirrors.iter().find(|m| m.key == "tools").expect("tools");
    assert!(matches!(tools.target, TargetConfig::Registry { .. }));
}

#[test]
fn a_range_alone_is_the_versions_policy_and_the_tree_defaults_to_packages() {
    let dir = spec_dir();
    let text = "target: {base_url: 'https://m.example/'}\nmirrors:\n  a:\n    source: {type: packages, purls: ['pkg:cargo/serde'], versions: '>=1, <2'}\n";
    let s = parse_in(dir.path(), text).expect("valid");
    let m = &s.mirrors[0];
    assert_eq!(
        m.target,
        TargetConfig::Packages {
            path: PathBuf::from("packages"),
            base_url: url::Url::parse("https://m.example/").expect("url"),
        }
    );
    let SourceConfig::Packages(p) = &m.source else {
        panic!()
    };
    assert_eq!(p.versions.range.as_deref(), Some(">=1, <2"));
    assert!(!p.dependencies && !p.prereleases);
    // Every Python, every platform, sdists too.
    assert_eq!(p.pypi, Default::default());
}

#[test]
fn every_packages_field_is_named_when_wrong() {
    let dir = spec_dir();
    let target = "target: {packages: ./p, base_url: 'http://m.example/'}\n";
    let head = format!("{target}mirrors:\n  web:\n");
    let src = |extra: &str| format!("{head}    source: {{type: packages, {extra}}}\n");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{head}    source: {{type: packages}}\n"),
            "mirrors.web.source",
            "`purls`, `sboms` or `registry`",
        ),
        (src("purls: ['']"), "mirrors.web.source.purls[0]", "empty"),
        (
            src("sboms: [missing.json]"),
            "mirrors.web.source.sboms[0]",
            "no such file",
        ),
        (
            src("purls: [a], upstreams: {maven: 'https://repo1/'}"),
            "mirrors.web.source.upstreams.maven",
            "not an ecosystem",
        ),
        (
            src("purls: [a], upstreams: {npm: 'sparse+https://r/'}"),
            "mirrors.web.source.upstreams.npm",
            "http(s) URL",
        ),
        (
            src("purls: [a], pypi: {python: ['3']}"),
            "mirrors.web.source.pypi.python[0]",
            "MAJOR.MINOR",
        ),
        (
            src("purls: [a], pypi: {platforms: ['linux x86']}"),
            "mirrors.web.source.pypi.platforms[0]",
            "platform tag",
        ),
        (
            src("purls: [a], pypi: {python: []}"),
            "mirrors.web.source.pypi.python",
            "an empty list",
        ),
        (
            src("purls: [a], pypi: {abi: cp311}"),
            "mirrors.web.source.pypi",
            "abi",
        ),
        (
            src("purls: [a], upstreams: {pypi: 'file:///srv/simple/'}"),
            "mirrors.web.source.upstreams.pypi",
            "http(s) URL",
        ),
        (
            src("purls: [a], versions: {latest: 0}"),
            "mirrors.web.source.versions.latest",
            "at least 1",
        ),
        (
            src("purls: [a], versions: {since: 'last week'}"),
            "mirrors.web.source.versions.since",
            "not a date",
        ),
        (
            src("purls: [a], versions: {newest: 2}"),
            "mirrors.web.source.versions",
            "newest",
        ),
        (
            src("purls: [a], versions: ''"),
            "mirrors.web.source.versions.semver",
            "empty",
        ),
        (
            src("registry: cargo, upstreams: {cargo: 'sparse+http://i/'}"),
            "mirrors.web.source.registry",
            "cannot list its crates",
        ),
        (
            src("registry: pypi"),
            "mirrors.web.source.registry",
            "private index",
        ),
        (
            src("registry: pypi, upstreams: {pypi: 'https://pypi.org/simple/'}"),
            "mirrors.web.source.registry",
            "never mirrored whole",
        ),
        (
            src("registry: maven, upstreams: {pypi: 'http://i/simple/'}"),
            "mirrors.web.source.registry",
            "not a registry ecosystem",
        ),
        (
            src("purls: [a], image: nginx"),
            "mirrors.web.source.image",
            "does not apply",
        ),
        (
            "mirrors:\n  web:\n    source: {type: packages, purls: [a]}\n".to_string(),
            "mirrors.web.target.base_url",
            "served at",
        ),
        (
            "target: {base_url: 'ftp://m/'}\nmirrors:\n  web:\n    source: {type: packages, purls: [a]}\n".to_string(),
            "mirrors.web.target.base_url",
            "http(s) URL",
        ),
        (
            "mirrors:\n  web:\n    source: {type: packages, purls: [a]}\n    target: {registry: r:5000, base_url: 'http://m/'}\n".to_string(),
            "mirrors.web.target.registry",
            "does not apply to a packages mirror",
        ),
        (
            "mirrors:\n  img:\n    source: {type: oci, image: r:5000/x}\n    target: {registry: r:5000, packages: ./p}\n".to_string(),
            "mirrors.img.target.packages",
            "does not apply to this mirror",
        ),
        (
            format!("{head}    source: {{type: packages, purls: [a]}}\n    repository: x\n"),
            "mirrors.web.repository",
            "does not apply",
        ),
        (
            format!("{head}    source: {{type: packages, purls: [a]}}\n    versions: '^1'\n"),
            "mirrors.web.versions",
            "does not apply",
        ),
        (
            format!("{head}    source: {{type: packages, purls: [a]}}\n    compression: zstd\n"),
            "mirrors.web.compression",
            "does not apply",
        ),
        (
            format!(
                "{head}    source: {{type: packages, purls: [a]}}\n    verify: {{require: false}}\n"
            ),
            "mirrors.web.verify",
            "does not apply",
        ),
        (
            format!("{head}    source: {{type: packages, purls: [a]}}\n    tags: {{latest: 1}}\n"),
            "mirrors.web.tags",
            "oci sources only",
        ),
    ];
    for (text, field_expected, needle) in cases {
        let (line, field, message) = invalid_in(dir.path(), &text);
        assert_eq!(field, field_expected, "spec:\n{text}\nmessage: {message}");
        assert!(
            message.contains(needle),
            "spec:\n{text}\nmessage {message:?} should mention {needle:?}"
        );
        // Every case has a position but the missing base_url (nothing written to point at) and
        // the mirror fields the YAML model keeps no position for.
        let unplaced = [
            "mirrors.web.target.base_url",
            "mirrors.web.compression",
            "mirrors.web.verify",
        ];
        if !(unplaced.contains(&field.as_str()) && line == 0) {
            assert!(line > 0, "no position for {field}: {message}");
        }
    }
}
