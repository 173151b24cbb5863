//! The spec parser and validator: good specs load, bad ones name file:line:column and the field,
//! and nothing panics on any input.

use std::path::Path;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::source::url_index::IndexOrigin;
use mirrorkit_core::spec::{self, SourceConfig, SpecError, TargetConfig};
use proptest::prelude::*;

fn parse(text: &str) -> Result<spec::Spec, SpecError> {
    spec::parse(text, Path::new("/specs/mirror.yml"))
}

/// The (line, column, field, message) of an invalid spec.
fn invalid(text: &str) -> (u64, u64, String, String) {
    match parse(text) {
        Err(SpecError::Invalid {
            line,
            column,
            field,
            message,
            ..
        }) => (line, column, field, message),
        other => panic!("expected an invalid spec, got {other:?}"),
    }
}

const GOOD: &str = r#"
target:
  registry: 127.0.0.1:5000
  namespace: mirror
  insecure: true
work_dir: ./state
mirrors:
  tool:
    source: {type: url_index, url: https://example.org/index.json}
    assets:
      linux/amd64: ['tool-.*-linux-x86_64\.tar\.gz$']
      linux/arm/v7: ['armv7']
    asset_type: binary
    compression: zstd
    strip_components: 2
    repository: tools/tool
"#;

#[test]
fn a_full_spec_loads_with_every_field() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.work_dir.as_deref(), Some(Path::new("/specs/./state")));
    let m = &s.mirrors[0];
    assert_eq!(m.key, "tool");
    assert_eq!(m.repository, "mirror/tools/tool");
    assert_eq!(
        m.target,
        TargetConfig::Registry {
            host: "127.0.0.1:5000".into(),
            insecure: true
        }
    );
    assert_eq!(m.platforms[0].strip_components, 2);
    assert_eq!(m.platforms.len(), 2);
    assert_eq!(m.platforms[1].platform.to_string(), "linux/arm/v7");
    assert!(
        matches!(&m.source, SourceConfig::UrlIndex(IndexOrigin::Url(u)) if u.as_str() == "https://example.org/index.json")
    );
}

#[test]
fn the_one_package_form_is_a_one_mirror_spec() {
    let s = parse(
        "name: hello\nsource:\n  type: url_index\n  url: index.json\nassets:\n  linux/amd64: [amd64]\n",
    )
    .unwrap();
    assert_eq!(s.mirrors.len(), 1);
    assert_eq!(s.mirrors[0].key, "hello");
    // Default target: the local layout; relative index paths resolve beside the spec.
    assert_eq!(
        s.mirrors[0].target,
        TargetConfig::Layout { path: "oci".into() }
    );
    assert!(
        matches!(&s.mirrors[0].source, SourceConfig::UrlIndex(IndexOrigin::Url(u)) if u.as_str() == "file:///specs/index.json")
    );
}

#[test]
fn inline_versions_and_generators_are_accepted() {
    let s = parse(
        r#"
mirrors:
  a:
    source:
      type: url_index
      versions:
        "1.0.0": {assets: {a-linux.tgz: "https://example.org/a-linux.tgz"}}
    assets: {linux/amd64: [linux]}
  b:
    source: {type: url_index, generator: {command: [./gen.sh, --json], timeout_seconds: 5}}
    assets: {linux/amd64: [linux]}
"#,
    )
    .unwrap();
    assert!(matches!(
        &s.mirrors[0].source,
        SourceConfig::UrlIndex(IndexOrigin::Inline { .. })
    ));
    match &s.mirrors[1].source {
        SourceConfig::UrlIndex(IndexOrigin::Generator(g)) => {
            assert_eq!(g.command, ["./gen.sh", "--json"]);
            assert_eq!(g.timeout.as_secs(), 5);
            assert_eq!(g.working_directory, Path::new("/specs"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_regex_names_line_column_and_field() {
    let text = "mirrors:\n  tool:\n    source: {type: url_index, url: https://x/i.json}\n    assets:\n      linux/amd64: ['ok', '(unclosed']\n";
    let (line, column, field, message) = invalid(text);
    assert_eq!((line, column), (5, 27), "{message}");
    assert_eq!(field, "mirrors.tool.assets.linux/amd64[1]");
    assert!(message.contains("invalid regex"), "{message}");
}

#[test]
fn unknown_field_is_an_error_with_its_position() {
    let text = "mirrors:\n  tool:\n    source: {type: url_index, url: https://x/i.json}\n    assets: {linux/amd64: [a]}\n    stirp_components: 1\n";
    let (line, _, _, message) = invalid(text);
    assert_eq!(line, 5, "{message}");
    assert!(message.contains("stirp_components"), "{message}");
}

#[test]
fn every_rule_reports_the_offending_field() {
    let head = "mirrors:\n  tool:\n";
    let src = "    source: {type: url_index, url: https://x/i.json}\n";
    let assets = "    assets: {linux/amd64: [a]}\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{head}{src}    assets: {{Linux/AMD64: [a]}}\n"),
            "mirrors.tool.assets.Linux/AMD64",
            "os/arch",
        ),
        (
            format!("{head}{src}    assets: {{linux/amd64: []}}\n"),
            "mirrors.tool.assets.linux/amd64",
            "at least one",
        ),
        (
            format!("{head}{src}    assets: {{}}\n"),
            "mirrors.tool.assets",
            "at least one platform",
        ),
        (
            format!("{head}    source: {{type: github_release}}\n{assets}"),
            "mirrors.tool.source.owner",
            "needs `owner`",
        ),
        (
            format!("{head}    source: {{type: url_index}}\n{assets}"),
            "mirrors.tool.source",
            "exactly one",
        ),
        (
            format!("{head}    source: {{type: url_index, url: ftp://x/i.json}}\n{assets}"),
            "mirrors.tool.source.url",
            "scheme",
        ),
        (
            format!("{head}{src}{assets}    repository: Tools/X\n"),
            "mirrors.tool.repository",
            "repository",
        ),
        (
            format!("target: {{registry: 'https://r.example'}}\n{head}{src}{assets}"),
            "mirrors.tool.target.registry",
            "host[:port]",
        ),
        (
            format!("target: {{registry: r, layout: ./x}}\n{head}{src}{assets}"),
            "mirrors.tool.target.layout",
            "not both",
        ),
        (
            format!("mirrors:\n  Tool:\n{src}{assets}"),
            "mirrors.Tool",
            "lower-case",
        ),
        (
            format!(
                "{head}    source: {{type: url_index, versions: {{'1': {{assets: {{a: {{url: a, checksum: 'sha256:xyz'}}}}}}}}}}\n{assets}"
            ),
            "mirrors.tool.source.versions",
            "hex",
        ),
        (
            format!("{head}    source: {{type: url_index, generator: {{command: []}}}}\n{assets}"),
            "mirrors.tool.source.generator.command",
            "empty",
        ),
        (
            format!("{head}{src}{assets}    compression: lzma\n"),
            "",
            "lzma",
        ),
        ("mirrors: {}\n".to_string(), "mirrors", "no mirrors"),
        (
            format!("registries: {{'http://r': {{insecure: true}}}}\n{head}{src}{assets}"),
            "registries.http://r",
            "host[:port]",
        ),
        (
            format!("registries: {{'r:5000': {{concurrency: 0}}}}\n{head}{src}{assets}"),
            "registries.r:5000.concurrency",
            "at least 1",
        ),
        (
            format!(
                "registries: {{'r': {{token_env: T, username_env: U, password_env: P}}}}\n{head}{src}{assets}"
            ),
            "registries.r.username_env",
            "not several",
        ),
        (
            format!("registries: {{'r': {{username_env: U}}}}\n{head}{src}{assets}"),
            "registries.r.username_env",
            "go together",
        ),
        (
            format!("registries: {{'r': {{token_env: 'npm_abc123-secret'}}}}\n{head}{src}{assets}"),
            "registries.r.token_env",
            "environment variable name",
        ),
        (
            format!("{head}{src}{assets}  other:\n{src}{assets}    repository: tool\n"),
            "mirrors.tool",
            "same repository",
        ),
    ];
    for (text, field_expected, needle) in cases {
        let (_, _, field, message) = invalid(&text);
        assert_eq!(field, field_expected, "spec:\n{text}\nmessage: {message}");
        assert!(
            message.contains(needle),
            "spec:\n{text}\nmessage {message:?} should mention {needle:?}"
        );
    }
}

#[test]
fn invalid_yaml_names_the_position() {
    let (line, column, _, message) = invalid("mirrors:\n  tool: [unclosed\n");
    assert!(line >= 2 && column > 0, "{line}:{column} {message}");
}

#[test]
fn missing_spec_is_79_and_invalid_is_65() {
    let e = spec::load(Path::new("/nonexistent/mirror.yml")).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::SpecNotFound);
    assert!(e.to_string().contains("/nonexistent/mirror.yml"));
    let e = parse("mirrors: [").unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Data);
    assert!(e.to_string().starts_with("/specs/mirror.yml:"), "{e}");
}

#[test]
fn schemas_are_draft_2020_12() {
    let s = spec::json_schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let text = s.to_string();
    for field in [
        "mirrors",
        "strip_components",
        "asset_type",
        "url_index",
        "generator",
    ] {
        assert!(text.contains(field), "schema lacks {field}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn yaml_shaped_text_never_panics(
        key in "[a-z_]{1,12}",
        value in "[\\[\\]{}:'\", a-z0-9./\\\\()*+-]{0,40}",
        indent in 0usize..6,
    ) {
        let text = format!("mirrors:\n  tool:\n    source: {{type: url_index, url: x}}\n{}{key}: {value}\n    assets: {{linux/amd64: [a]}}\n", " ".repeat(indent));
        let _ = parse(&text);
    }
}

/// Values for the fields added for binary releases, valid and not.
fn field_values() -> impl Strategy<Value = (String, String)> {
    let field = prop_oneof![
        Just("asset_type"),
        Just("strip_components"),
        Just("metadata"),
        Just("versions"),
        Just("exclude"),
        Just("verify"),
        Just("concurrency"),
        Just("platforms"),
        Just("build_timestamp"),
        Just("cascade"),
    ];
    let value = prop_oneof![
        Just("binary".to_string()),
        Just("{type: binary, name: x}".to_string()),
        Just("{type: archive, strip_components: 2}".to_string()),
        Just("{default: {type: binary}, platforms: {linux/amd64: {type: archive}}}".to_string()),
        Just("{default: 1, platforms: {linux/amd64: 0, linux/arm64: 3}}".to_string()),
        Just("{min: 1.0, max: 0.9}".to_string()),
        Just("{new_per_run: 0}".to_string()),
        Just("[{version: 1.0.0}, {min_version: 2}]".to_string()),
        Just("{linux/amd64: {min_version: 1.0}}".to_string()),
        Just("{checksums_file: 'a/b'}".to_string()),
        Just("{max_bundles: 0}".to_string()),
        "[\\[\\]{}:'\", a-z0-9./_-]{0,30}",
        any::<i64>().prop_map(|n| n.to_string()),
    ];
    (field, value).prop_map(|(f, v)| (f.to_string(), v))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Every combination of the policy and packaging fields either validates or is refused with
    /// the field named; none panics.
    #[test]
    fn policy_and_packaging_fields_never_panic(fields in proptest::collection::vec(field_values(), 1..4)) {
        let mut text = String::from(
            "name: tool\nsource: {type: github_release, owner: o, repo: r}\nassets: {linux/amd64: [a], linux/arm64: [b]}\n",
        );
        let mut seen = std::collections::BTreeSet::new();
        for (f, v) in &fields {
            if seen.insert(f.clone()) {
                text.push_str(&format!("{f}: {v}\n"));
            }
        }
        match parse(&text) {
            Ok(_) => {}
            Err(SpecError::Invalid { message, .. }) => prop_assert!(!message.is_empty()),
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }
}

#[test]
fn the_ocx_forms_of_package_settings_are_understood() {
    let spec = parse(
        "name: tool\nsource: {type: github_release, owner: o, repo: r, tag_pattern: '^release-(?P<version>.+)$'}\n\
         assets: {linux/amd64: [a], windows/amd64: [b], linux/amd64+libc.musl: [c]}\n\
         asset_type: {default: {type: archive, strip_components: 1}, platforms: {windows/amd64: {type: binary, name: tool.exe}}}\n\
         strip_components: {platforms: {linux/amd64+libc.musl: 2}}\n\
         versions: {min: 1.0.0, max: 2.0.0, new_per_run: 3, backfill: oldest_first, poll_interval: '0 * * * *'}\n\
         verify: {github_asset_digest: true, require: false}\n\
         tests: [{name: t, command: 'tool --version'}]\n",
    )
    .unwrap();
    let m = &spec.mirrors[0];
    let by = |p: &str| {
        m.platforms
            .iter()
            .find(|x| x.platform.to_string() == p)
            .unwrap()
    };
    assert_eq!(by("linux/amd64").strip_components, 1);
    assert_eq!(by("linux/amd64+libc.musl").strip_components, 2);
    assert_eq!(by("windows/amd64").asset_type, spec::AssetTypeSpec::Binary);
    assert_eq!(by("windows/amd64").binary_name.as_deref(), Some("tool.exe"));
    assert_eq!(m.policy.new_per_run, Some(3));
    assert!(!m.verify.require);

    let (_, _, field, message) = invalid(
        "name: tool\nsource: {type: github_release, owner: o, repo: r, tag_pattern: '^v(.+)$'}\nassets: {linux/amd64: [a]}\n",
    );
    assert_eq!(field, "source.tag_pattern");
    assert!(message.contains("(?P<version>"), "{message}");
    let (_, _, field, _) = invalid(
        "name: tool\nsource: {type: github_release, owner: o, repo: r}\nassets: {linux/amd64: [a]}\nplatforms: {darwin/arm64: {min_version: 1.0}}\n",
    );
    assert_eq!(field, "platforms.darwin/arm64");
    let (_, _, field, message) = invalid(
        "name: tool\nsource: {type: github_release, owner: o, repo: r}\nassets: {linux/amd64: [a]}\nmetadata: missing.json\n",
    );
    assert_eq!(field, "metadata");
    assert!(message.contains("missing.json"), "{message}");
}

#[test]
fn image_and_chart_fields_are_accepted_beside_the_source_as_design_md_writes_them() {
    use mirrorkit_core::source::images::{ChartVersions, HelmRepo};
    let spec = parse(
        "target: {registry: 127.0.0.1:5000, namespace: mirror}\n\
         mirrors:\n\
         \x20 nginx:\n\
         \x20   source: {type: oci, image: registry.example.org/library/nginx}\n\
         \x20   tags: {semver: '>=1.25, <2', regex: '^1\\.\\d+\\.\\d+$', latest: 3, include: [stable]}\n\
         \x20   platforms: [linux/amd64, linux/arm64]\n\
         \x20   referrers: true\n\
         \x20 vault:\n\
         \x20   source: {type: helm, repo: https://helm.example.org}\n\
         \x20   chart: vault\n\
         \x20   versions: ['0.28.0']\n\
         \x20   images: true\n",
    )
    .unwrap();
    let nginx = spec.mirrors.iter().find(|m| m.key == "nginx").unwrap();
    assert_eq!(nginx.repository, "mirror/library/nginx");
    match &nginx.source {
        spec::SourceConfig::Oci(o) => {
            assert_eq!(o.registry, "registry.example.org");
            assert_eq!(o.tags.latest, Some(3));
            assert_eq!(o.platforms.as_ref().map(Vec::len), Some(2));
            assert!(o.referrers);
        }
        other => panic!("{other:?}"),
    }
    let vault = spec.mirrors.iter().find(|m| m.key == "vault").unwrap();
    assert_eq!(vault.repository, "mirror/charts/vault");
    match &vault.source {
        spec::SourceConfig::Helm(h) => {
            assert!(matches!(h.repo, HelmRepo::Http(_)));
            assert!(matches!(&h.versions, ChartVersions::List(v) if v == &["0.28.0"]));
            assert!(h.images);
        }
        other => panic!("{other:?}"),
    }
    // Both placements at once, or a field for another kind, are refused naming the field.
    let (_, _, field, message) = invalid(
        "mirrors:\n  n:\n    source: {type: oci, image: r.example/a, tags: {latest: 1}}\n    tags: {latest: 2}\n",
    );
    assert_eq!(field, "mirrors.n.tags");
    assert!(message.contains("both"), "{message}");
    let (_, _, field, message) = invalid(
        "mirrors:\n  n:\n    source: {type: url_index, url: x}\n    assets: {linux/amd64: [a]}\n    chart: vault\n",
    );
    assert_eq!(field, "mirrors.n.chart");
    assert!(message.contains("helm"), "{message}");
    let (_, _, field, _) = invalid(
        "mirrors:\n  n:\n    source: {type: oci, image: r.example/a}\n    platforms: [linux/amd64, bogus]\n",
    );
    assert_eq!(field, "mirrors.n.source.platforms");
    let (_, _, field, _) = invalid(
        "mirrors:\n  a:\n    source: {type: oci, image: r.example/x/app}\n  b:\n    source: {type: oci, image: other.example/x/app}\n",
    );
    assert_eq!(
        field, "mirrors.b",
        "two sources mapping to one target repository"
    );
}

/// The example `mirror.yaml` of lazyoci's documentation, with a chart directory that exists.
const LAZYOCI: &str = r#"
target:
  url: registry.example.com/ns
  insecure: false
  charts-prefix: charts

upstreams:
  vault:
    type: repo
    repo: https://helm.releases.hashicorp.com
    chart: vault
    versions:
      - "0.28.0"
      - "0.29.0"

  keycloak:
    type: oci
    registry: oci://registry-1.docker.io/bitnamicharts
    chart: keycloak
    versions:
      - "24.0.1"

  demo-app:
    type: local
    path: ./charts/demo-app
    chart: demo-app
    versions:
      - "1.0.0"
"#;

#[test]
fn a_lazyoci_mirror_yaml_is_read_as_helm_mirrors_with_their_images() {
    use mirrorkit_core::source::images::{ChartVersions, HelmRepo};
    let s = parse(LAZYOCI).unwrap();
    let by_key = |k: &str| s.mirrors.iter().find(|m| m.key == k).unwrap();
    let helm = |k: &str| match &by_key(k).source {
        SourceConfig::Helm(h) => h.clone(),
        other => panic!("{k}: {other:?}"),
    };
    for (key, repository) in [
        ("vault", "ns/charts/vault"),
        ("keycloak", "ns/charts/keycloak"),
        ("demo-app", "ns/charts/demo-app"),
    ] {
        let m = by_key(key);
        assert_eq!(m.repository, repository);
        assert_eq!(
            m.target,
            TargetConfig::Registry {
                host: "registry.example.com".into(),
                insecure: false
            }
        );
        assert!(helm(key).images, "{key}: lazyoci always mirrors the images");
    }
    assert!(
        matches!(&helm("vault").repo, HelmRepo::Http(u) if u.as_str() == "https://helm.releases.hashicorp.com/")
    );
    assert!(matches!(
        &helm("keycloak").repo,
        HelmRepo::Oci { registry, path } if registry == "registry-1.docker.io" && path == "bitnamicharts"
    ));
    assert!(matches!(&helm("demo-app").repo, HelmRepo::Path(p) if p.ends_with("charts/demo-app")));
    assert!(
        matches!(&helm("vault").versions, ChartVersions::List(v) if v == &["0.28.0", "0.29.0"])
    );
    // Without charts-prefix, charts sit right under the URL.
    let s = parse(&LAZYOCI.replace("  charts-prefix: charts\n", "")).unwrap();
    assert_eq!(s.mirrors[0].repository, "ns/demo-app");
    // A repo upstream without `repo` names the field and where its type is.
    let (line, _, field, message) =
        invalid(&LAZYOCI.replace("    repo: https://helm.releases.hashicorp.com\n", ""));
    assert_eq!(
        (line, field.as_str()),
        (9, "upstreams.vault.repo"),
        "{message}"
    );
    // Fields lazyoci does not have are refused, with their position.
    let (line, _, _, message) = invalid(&LAZYOCI.replace(
        "    chart: vault\n",
        "    chart: vault\n    images: false\n",
    ));
    assert_eq!(line, 12, "{message}");
}

#[test]
fn a_release_setting_on_an_image_or_chart_mirror_is_refused_naming_it() {
    let oci = "    source: {type: oci, image: r.example/a}\n";
    let helm = "    source: {type: helm, repo: 'https://charts.example/', chart: c}\n";
    for (source, kind) in [(oci, "oci"), (helm, "helm")] {
        for (setting, name, line) in [
            ("    compression: zstd\n", "compression", 0),
            (
                "    exclude: [{version: 1.0.0, reason: broken}]\n",
                "exclude",
                4,
            ),
            ("    skip_prereleases: false\n", "skip_prereleases", 0),
            ("    cascade: false\n", "cascade", 0),
            ("    build_timestamp: date\n", "build_timestamp", 0),
            ("    concurrency: {max_downloads: 2}\n", "concurrency", 0),
            ("    strip_components: 1\n", "strip_components", 4),
        ] {
            let text = format!("mirrors:\n  m:\n{source}{setting}");
            let (l, _, field, message) = invalid(&text);
            assert_eq!(field, format!("mirrors.m.{name}"), "{text}");
            assert!(
                message.contains(&format!("`{name}` does not apply to {kind} mirrors")),
                "{message}"
            );
            assert_eq!(l, line, "{text}");
        }
    }
    // Images verify nothing of their own (digests are the content's), so `verify` is refused
    // there; a chart checks its archive's digest, so `verify` is a chart setting.
    let (_, _, field, _) = invalid(&format!(
        "mirrors:\n  m:\n{oci}    verify: {{require: false}}\n"
    ));
    assert_eq!(field, "mirrors.m.verify");
    assert!(
        parse(&format!(
            "mirrors:\n  m:\n{helm}    verify: {{require: false}}\n"
        ))
        .is_ok()
    );
    let (_, _, field, message) = invalid(&format!(
        "mirrors:\n  m:\n{helm}    verify: {{require: false, checksums_file: SHA256SUMS}}\n"
    ));
    assert_eq!(field, "mirrors.m.verify.checksums_file");
    // A chart has no platforms to choose; images do.
    let (_, _, field, _) = invalid(&format!(
        "mirrors:\n  m:\n{helm}    platforms: [linux/amd64]\n"
    ));
    assert_eq!(field, "mirrors.m.platforms");
    assert!(
        parse(&format!(
            "mirrors:\n  m:\n{oci}    platforms: [linux/amd64]\n"
        ))
        .is_ok()
    );
    assert!(
        message.contains("does not apply to helm mirrors"),
        "{message}"
    );
    // The same settings on a release mirror are fine.
    assert!(
        parse(
            "mirrors:\n  t:\n    source: {type: url_index, url: https://e.org/i.json}\n    assets: {linux/amd64: [x]}\n    compression: zstd\n    cascade: false\n    skip_prereleases: true\n"
        )
        .is_ok()
    );
}
