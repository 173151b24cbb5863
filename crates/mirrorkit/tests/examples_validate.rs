//! Documentation cannot drift from the code: every YAML spec in the README and in `docs/`, and
//! every file in `examples/`, passes `mirrorkit validate` and follows `mirrorkit schema spec`.
//! (The quickstart is also synced end to end in `sync_layout.rs`.)

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every ```yaml block of a markdown file, with the line its text starts on.
fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        let opens_yaml = ["```yaml", "```yml"]
            .iter()
            .any(|f| line.trim_start().starts_with(f));
        current = match current {
            None if opens_yaml => Some((i + 2, String::new())),
            None => None,
            Some(block) if fence => {
                out.push(block);
                None
            }
            Some((start, mut text)) => {
                text.push_str(line);
                text.push('\n');
                Some((start, text))
            }
        };
    }
    out
}

#[test]
fn every_documented_spec_validates_and_follows_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(mirrorkit(dir.path()).args(["schema", "spec"]));
    assert_exit(&out, 0);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();

    let mut specs: Vec<(String, String)> = Vec::new();
    let mut docs = vec![repo().join("README.md")];
    docs.extend(
        std::fs::read_dir(repo().join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for (line, block) in yaml_blocks(&text) {
            specs.push((format!("{}:{line}", doc.display()), block));
        }
    }
    for e in std::fs::read_dir(repo().join("examples")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            specs.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    assert!(
        specs.len() >= 5,
        "fewer specs than the README shows: {:?}",
        specs.iter().map(|(w, _)| w).collect::<Vec<_>>()
    );

    // Files a documented spec names beside itself.
    std::fs::write(dir.path().join("metadata.json"), "{}").unwrap();
    for keyring in ["debian-archive-keyring.gpg", "RPM-GPG-KEY-Rocky-9.asc"] {
        std::fs::write(dir.path().join(keyring), b"keys").unwrap();
    }
    std::fs::write(
        dir.path().join("app.cdx.json"),
        r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "library", "name": "left-pad", "purl": "pkg:npm/left-pad@1.3.0"}]}"#,
    )
    .unwrap();
    for (i, (origin, text)) in specs.iter().enumerate() {
        let file = dir.path().join(format!("spec-{i}.yml"));
        std::fs::write(&file, text).unwrap();
        let out = run(mirrorkit(dir.path()).arg("validate").arg(&file));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{origin} does not validate:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: serde_json::Value = serde_saphyr::from_str(text)
            .unwrap_or_else(|e| panic!("{origin} is not YAML a schema can read: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{origin} does not follow `schema spec`:\n{}",
            errors.join("\n")
        );
    }
}
