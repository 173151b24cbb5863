//! The report as a contract: `mirrorkit schema report` describes every JSON report the suite sees
//! (the shared `report()` helper checks each `sync`/`check` report against it), the schema refuses
//! what the code never writes, the fields no other test looks at say what happened, and the plain
//! table of a representative run is pinned as a snapshot.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.yml")
}

#[test]
fn the_json_report_says_what_happened_in_fields_of_its_schema() {
    let dir = tempfile::tempdir().unwrap();

    // A dry run: planned, nothing published, `dry_run: true`.
    let r = json_report(mirrorkit(dir.path()).arg("check").arg(quickstart()), 0);
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["summary"]["planned"], 2);
    assert_eq!(r["summary"]["bytes_pushed"], 0);
    assert_eq!(r["summary"]["mirrors_failed"], 0);
    assert!(r["duration_ms"].is_u64(), "{r:#}");

    // The real run: two versions pushed; the bytes it reports are the platforms' bytes.
    let r = json_report(mirrorkit(dir.path()).arg("sync").arg(quickstart()), 0);
    assert_eq!(r["dry_run"], false);
    assert_eq!(r["summary"]["pushed"], 2);
    assert_eq!(r["summary"]["mirrors_failed"], 0);
    let platform_bytes: u64 = r["mirrors"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["platforms"].as_array().unwrap())
        .map(|p| p["bytes"].as_u64().unwrap())
        .sum();
    assert!(platform_bytes > 0);
    assert_eq!(r["summary"]["bytes_pushed"], platform_bytes);
    let duration = r["duration_ms"].as_u64().unwrap();
    let longest_version = r["mirrors"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["duration_ms"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        duration >= longest_version,
        "the run ({duration} ms) is shorter than one of its versions ({longest_version} ms)"
    );

    // A mirror that cannot start (its index is missing) is counted in `mirrors_failed`, with its
    // error and exit code in the report, while the other mirror still runs.
    std::fs::write(
        dir.path().join("two.yml"),
        format!(
            "mirrors:\n  hello:\n    source: {{type: url_index, url: {}}}\n    assets: {{linux/amd64: ['^hello-.*-linux-amd64\\.tar\\.gz$']}}\n    strip_components: 1\n  gone:\n    source: {{type: url_index, url: missing.json}}\n    assets: {{linux/amd64: [x]}}\n",
            quickstart()
                .parent()
                .unwrap()
                .join("quickstart/index.json")
                .display()
        ),
    )
    .unwrap();
    let r = json_report(mirrorkit(dir.path()).args(["sync", "two.yml"]), 69);
    assert_eq!(r["summary"]["mirrors_failed"], 1, "{r:#}");
    let gone = entry(&r["mirrors"], "key", "gone");
    assert_eq!(gone["error"]["exit_code"], 69, "{gone:#}");
    assert!(
        gone["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing.json")
    );
}

#[test]
fn the_schema_refuses_what_the_code_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let good = json_report(mirrorkit(dir.path()).arg("check").arg(quickstart()), 0);
    assert!(report_schema_violations(&good).is_empty());

    let mut bad_status = good.clone();
    bad_status["mirrors"][0]["versions"][0]["status"] = json!("done");
    let mut bad_exit = good.clone();
    bad_exit["mirrors"][0]["error"] = json!({"message": "x", "exit_code": 3});
    let mut extra = good.clone();
    extra["summary"]["unexpected"] = json!(1);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("duration_ms");
    let mut bad_digest = good.clone();
    bad_digest["mirrors"][0]["versions"][0]["index_digest"] = json!("md5:abc");
    for (what, value) in [
        ("an unknown status", bad_status),
        ("an undocumented exit code", bad_exit),
        ("an unknown field", extra),
        ("a missing field", missing),
        ("a digest that is not one", bad_digest),
    ] {
        assert!(
            !report_schema_violations(&value).is_empty(),
            "{what} passed the schema"
        );
    }
}

#[test]
fn the_plain_report_of_a_first_and_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(mirrorkit(dir.path()).arg("sync").arg(quickstart()));
    assert_exit(&first, 0);
    let second = run(mirrorkit(dir.path()).arg("sync").arg(quickstart()));
    assert_exit(&second, 0);
    let text = format!(
        "first run:\n{}\nsecond run:\n{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&second.stdout)
    );
    // The index digests carry the build time (an annotation), the duration varies.
    insta::with_settings!({filters => vec![
        (r"sha256:[0-9a-f]{12}", "sha256:[index]"),
        (r"in \d+(\.\d+)? s", "in [duration] s"),
    ]}, {
        insta::assert_snapshot!(text);
    });
}
