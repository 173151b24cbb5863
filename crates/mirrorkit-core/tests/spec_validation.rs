//! The spec parser and validator: good specs load, bad ones name file:line:column and the field,
//! and nothing panics on any input.

use std::path::Path;

use mirrorkit_core::exit::ExitCode;
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
