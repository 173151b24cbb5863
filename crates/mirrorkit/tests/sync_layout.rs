//! `mirrorkit sync` into the default OCI image layout, checked with skopeo.

mod common;

use std::path::Path;

use common::*;
use mirrorkit_testkit::registry::{skopeo_copy, skopeo_inspect_raw};

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn quickstart_mirrors_into_a_layout_skopeo_reads_and_a_second_run_skips() {
    let dir = tempfile::tempdir().unwrap();
    let spec = examples().join("quickstart.yml");
    let r = json_report(mirrorkit(dir.path()).arg("sync").arg(&spec), 0);
    assert_statuses(&r, &[("1.0.0", "pushed"), ("1.1.0", "pushed")]);
    assert_eq!(r["summary"]["pushed"], 2);

    let layout = dir.path().join("oci/hello");
    for version in ["1.0.0", "1.1.0"] {
        let raw = skopeo_inspect_raw(&format!("oci:{}:{version}", layout.display()), &[]).unwrap();
        let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(
            index["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        assert_eq!(index["artifactType"], "application/vnd.sh.ocx.package.v1");
        assert_eq!(
            index["annotations"]["org.opencontainers.image.version"],
            version
        );
        let archs: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(archs, ["amd64", "arm64"]);
        // The report's index digest is the digest of the bytes skopeo reads back.
        let reported =
            entry(&r["mirrors"][0]["versions"], "version", version)["index_digest"].clone();
        assert_eq!(reported, mirrorkit_testkit::registry::sha256_digest(&raw));
    }
    // A pushed version leaves no intermediate files behind in the work dir.
    let tasks = dir.path().join(".mirrorkit/tasks");
    let leftovers: Vec<_> = std::fs::read_dir(&tasks)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let blobs: Vec<_> = std::fs::read_dir(dir.path().join(".mirrorkit/blobs/sha256"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        blobs.is_empty(),
        "downloads of pushed versions are removed: {blobs:?}"
    );
    // skopeo can copy every platform out of what we wrote.
    let copy = dir.path().join("copy");
    skopeo_copy(
        &format!("oci:{}:1.1.0", layout.display()),
        &format!("oci:{}:x", copy.display()),
    )
    .unwrap();

    let rep = json_report(mirrorkit(dir.path()).arg("sync").arg(&spec), 0);
    assert_statuses(&rep, &[("1.0.0", "skipped"), ("1.1.0", "skipped")]);
}

#[test]
fn the_layer_of_a_binary_asset_holds_one_executable_file() {
    let dir = tempfile::tempdir().unwrap();
    let content = noise(7, 10_000);
    std::fs::write(dir.path().join("tool-linux-amd64"), &content).unwrap();
    std::fs::write(
        dir.path().join("index.json"),
        index_json(&[(
            "2.0.0",
            vec![("tool-linux-amd64".into(), "tool-linux-amd64".into(), None)],
        )]),
    )
    .unwrap();
    write_spec(
        dir.path(),
        "name: tool\nsource: {type: url_index, url: index.json}\nassets: {linux/amd64: [linux-amd64]}\nasset_type: binary\ncompression: gzip\nverify: {require: false}\n",
    );
    let out = run(mirrorkit(dir.path()).args(["sync", "mirror.yml"]));
    assert_exit(&out, 0);

    let layout = dir.path().join("oci/tool");
    let index: serde_json::Value = serde_json::from_slice(
        &skopeo_inspect_raw(&format!("oci:{}:2.0.0", layout.display()), &[]).unwrap(),
    )
    .unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(&manifest_digest["sha256:".len()..]),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer_path = layout
        .join("blobs/sha256")
        .join(&layer["digest"].as_str().unwrap()["sha256:".len()..]);
    let listing = std::process::Command::new("tar")
        .arg("-tvzf")
        .arg(&layer_path)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(listing.lines().count(), 1, "{listing}");
    assert!(listing.starts_with("-rwxr-xr-x"), "{listing}");
    assert!(
        listing.trim_end().ends_with("tool-linux-amd64"),
        "{listing}"
    );
}

#[test]
fn check_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = examples().join("quickstart.yml");
    let out = run(mirrorkit(dir.path()).arg("check").arg(&spec));
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("planned"), "{text}");
    assert!(text.contains("dry run: 2 planned"), "{text}");
    assert!(!dir.path().join("oci").exists());
    assert!(!dir.path().join(".mirrorkit").exists());
}

#[test]
fn version_filters_select_what_is_mirrored() {
    let dir = tempfile::tempdir().unwrap();
    let spec = examples().join("quickstart.yml");
    let out = run(mirrorkit(dir.path())
        .arg("check")
        .arg(&spec)
        .args(["--format", "json", "--latest"]));
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [
            ("1.0.0".into(), "excluded".into()),
            ("1.1.0".into(), "planned".into())
        ]
    );
    let out = run(mirrorkit(dir.path()).arg("sync").arg(&spec).args([
        "--format",
        "json",
        "--version",
        "1.0.0",
    ]));
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [
            ("1.0.0".into(), "pushed".into()),
            ("1.1.0".into(), "excluded".into())
        ]
    );
    let out = run(mirrorkit(dir.path())
        .arg("sync")
        .arg(&spec)
        .args(["--only", "nope"]));
    assert_exit(&out, 64);
}

#[test]
fn a_generator_command_can_provide_the_index() {
    let dir = tempfile::tempdir().unwrap();
    tar_gz_asset(
        dir.path(),
        "t-1.0.0-linux-amd64.tar.gz",
        "t-1.0.0",
        b"#!/bin/sh\n",
    );
    std::fs::write(
        dir.path().join("index.json"),
        index_json(&[(
            "1.0.0",
            vec![(
                "t-1.0.0-linux-amd64.tar.gz".into(),
                "t-1.0.0-linux-amd64.tar.gz".into(),
                None,
            )],
        )]),
    )
    .unwrap();
    write_spec(
        dir.path(),
        "mirrors:\n  t:\n    source: {type: url_index, generator: {command: [cat, index.json]}}\n    assets: {linux/amd64: [linux-amd64]}\n    strip_components: 1\n    verify: {require: false}\n",
    );
    let rep = json_report(mirrorkit(dir.path()).args(["sync", "mirror.yml"]), 0);
    assert_statuses(&rep, &[("1.0.0", "pushed")]);

    // A generator that fails is an unreachable upstream (69), with its stderr in the message.
    std::fs::write(
        dir.path().join("bad.yml"),
        "mirrors:\n  t:\n    source: {type: url_index, generator: {command: [sh, -c, 'echo nope >&2; exit 3']}}\n    assets: {linux/amd64: [linux-amd64]}\n",
    )
    .unwrap();
    let out = run(mirrorkit(dir.path()).args(["sync", "bad.yml"]));
    assert_exit(&out, 69);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));

    // A generator that hangs is killed after its timeout.
    std::fs::write(
        dir.path().join("slow.yml"),
        "mirrors:\n  t:\n    source: {type: url_index, generator: {command: [sleep, '30'], timeout_seconds: 1}}\n    assets: {linux/amd64: [linux-amd64]}\n",
    )
    .unwrap();
    let out = run(mirrorkit(dir.path()).args(["sync", "slow.yml"]));
    assert_exit(&out, 69);
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out after 1 s"));
}

#[test]
fn checksum_mismatch_fails_that_version_and_publishes_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let good = tar_gz_asset(dir.path(), "t-1.0.0-linux-amd64.tar.gz", "t", b"one");
    tar_gz_asset(dir.path(), "t-2.0.0-linux-amd64.tar.gz", "t", b"two");
    tar_gz_asset(dir.path(), "t-2.0.0-linux-arm64.tar.gz", "t", b"two-arm");
    let wrong = format!("sha256:{}", "0".repeat(64));
    std::fs::write(
        dir.path().join("index.json"),
        index_json(&[
            (
                "1.0.0",
                vec![(
                    "t-1.0.0-linux-amd64.tar.gz".into(),
                    "t-1.0.0-linux-amd64.tar.gz".into(),
                    Some(file_digest(&good)),
                )],
            ),
            (
                "2.0.0",
                vec![
                    (
                        "t-2.0.0-linux-amd64.tar.gz".into(),
                        "t-2.0.0-linux-amd64.tar.gz".into(),
                        None,
                    ),
                    (
                        "t-2.0.0-linux-arm64.tar.gz".into(),
                        "t-2.0.0-linux-arm64.tar.gz".into(),
                        Some(wrong),
                    ),
                ],
            ),
        ]),
    )
    .unwrap();
    write_spec(
        dir.path(),
        "name: t\nsource: {type: url_index, url: index.json}\nassets: {linux/amd64: [linux-amd64], linux/arm64: [linux-arm64]}\nverify: {require: false}\n",
    );
    let r = json_report(mirrorkit(dir.path()).args(["sync", "mirror.yml"]), 1);
    assert_statuses(&r, &[("1.0.0", "pushed"), ("2.0.0", "failed")]);
    let reason = r["mirrors"][0]["versions"][1]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("linux/arm64") && reason.contains("sha256:0000"),
        "{reason}"
    );
    let index = std::fs::read_to_string(dir.path().join("oci/t/index.json")).unwrap();
    assert!(
        index.contains("\"1.0.0\"") && !index.contains("2.0.0"),
        "{index}"
    );
}

#[test]
fn an_ambiguous_asset_fails_the_version_naming_both_and_absent_platforms_are_excluded() {
    let dir = tempfile::tempdir().unwrap();
    tar_gz_asset(dir.path(), "t-linux-amd64.tar.gz", "t", b"a");
    tar_gz_asset(dir.path(), "t-linux-amd64-musl.tar.gz", "t", b"b");
    std::fs::write(
        dir.path().join("index.json"),
        index_json(&[(
            "1.0.0",
            vec![
                (
                    "t-linux-amd64.tar.gz".into(),
                    "t-linux-amd64.tar.gz".into(),
                    None,
                ),
                (
                    "t-linux-amd64-musl.tar.gz".into(),
                    "t-linux-amd64-musl.tar.gz".into(),
                    None,
                ),
            ],
        )]),
    )
    .unwrap();
    write_spec(
        dir.path(),
        "name: t\nsource: {type: url_index, url: index.json}\nassets: {linux/amd64: [linux-amd64], darwin/arm64: [darwin]}\n",
    );
    let r = json_report(mirrorkit(dir.path()).args(["sync", "mirror.yml"]), 1);
    let v = &r["mirrors"][0]["versions"][0];
    assert_eq!(v["status"], "failed");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("t-linux-amd64.tar.gz") && reason.contains("t-linux-amd64-musl.tar.gz"),
        "{reason}"
    );
    let darwin = entry(&v["platforms"], "platform", "darwin/arm64");
    assert_eq!(darwin["status"], "excluded");
}

#[test]
fn spec_errors_have_their_documented_exit_codes_and_positions() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(mirrorkit(dir.path()).args(["validate", "missing.yml"]));
    assert_exit(&out, 79);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yml"));

    assert_spec_refused(
        dir.path(),
        "bad.yml",
        "mirrors:\n  t:\n    source: {type: url_index, url: i.json}\n    assets:\n      linux/amd64: ['(']\n",
        &["bad.yml:5:21: mirrors.t.assets.linux/amd64[0]: invalid regex"],
    );
    let out = run(mirrorkit(dir.path()).args(["sync"]));
    assert_exit(&out, 64);
    let out = run(mirrorkit(dir.path()).args(["sync", "x.yml", "--concurrency", "0"]));
    assert_exit(&out, 64);

    let out = run(mirrorkit(dir.path())
        .args(["validate"])
        .arg(examples().join("quickstart.yml")));
    assert_exit(&out, 0);
}

#[test]
fn schemas_completions_and_man_page_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    for target in ["spec", "url-index"] {
        let out = run(mirrorkit(dir.path()).args(["schema", target]));
        assert_exit(&out, 0);
        let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
    let out = run(mirrorkit(dir.path()).args(["completions", "bash"]));
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--fail-fast"));
    let out = run(mirrorkit(dir.path()).args(["man"]));
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH mirrorkit"));
}

#[test]
fn an_unwritable_layout_directory_exits_74() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oci"),
        b"a file where the layout directory should be",
    )
    .unwrap();
    let spec = examples().join("quickstart.yml");
    let out = run(mirrorkit(dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 74);
    assert!(String::from_utf8_lossy(&out.stderr).contains("oci"));
}

#[test]
fn a_failed_version_keeps_its_verified_downloads_and_packaged_layers_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let amd = tar_gz_asset(
        dir.path(),
        "t-1.0.0-linux-amd64.tar.gz",
        "t",
        &noise(3, 50_000),
    );
    let arm = tar_gz_asset(
        dir.path(),
        "t-1.0.0-linux-arm64.tar.gz",
        "t",
        &noise(4, 50_000),
    );
    let arm_digest = file_digest(&arm);
    // The arm64 asset is missing upstream at first: the version fails after amd64 was
    // downloaded, verified and packaged.
    let parked = dir.path().join("parked.tar.gz");
    std::fs::rename(&arm, &parked).unwrap();
    std::fs::write(
        dir.path().join("index.json"),
        index_json(&[(
            "1.0.0",
            vec![
                (
                    "t-1.0.0-linux-amd64.tar.gz".into(),
                    "t-1.0.0-linux-amd64.tar.gz".into(),
                    Some(file_digest(&amd)),
                ),
                (
                    "t-1.0.0-linux-arm64.tar.gz".into(),
                    "t-1.0.0-linux-arm64.tar.gz".into(),
                    Some(arm_digest),
                ),
            ],
        )]),
    )
    .unwrap();
    write_spec(
        dir.path(),
        "name: t\nsource: {type: url_index, url: index.json}\nassets: {linux/amd64: [linux-amd64], linux/arm64: [linux-arm64]}\nstrip_components: 1\n",
    );
    let out = run(mirrorkit(dir.path()).args(["sync", "mirror.yml", "--format", "json"]));
    assert_exit(&out, 1);
    assert!(
        !dir.path().join("oci/t/index.json").exists()
            || !std::fs::read_to_string(dir.path().join("oci/t/index.json"))
                .unwrap()
                .contains("1.0.0"),
        "nothing of the failed version is tagged"
    );

    // Upstream is fixed; the next run reuses amd64's verified download and packaged layer.
    std::fs::rename(&parked, &arm).unwrap();
    let out = run(mirrorkit(dir.path()).args(["sync", "mirror.yml", "--format", "json"]));
    assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reused: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("reusing the layer packaged by an earlier run"))
        .collect();
    assert_eq!(reused.len(), 1, "{stderr}");
    assert!(reused[0].contains("linux/amd64"), "{stderr}");
    assert_eq!(statuses(&report(&out)), [("1.0.0".into(), "pushed".into())]);
    // A pushed version's task files are gone.
    assert!(!dir.path().join(".mirrorkit/tasks/t/1.0.0").exists());
}

/// `concurrency.max_bundles` and `concurrency.compression_threads` as the packager sees them:
/// each packaging job logs (at debug) when it starts, with its thread count, and when it ends;
/// the most jobs running at once is read from the order of those lines.
#[test]
fn max_bundles_and_compression_threads_bound_the_packaging_jobs() {
    let platforms = ["linux-amd64", "linux-arm64", "darwin-arm64"];
    // (max_bundles, compression_threads) → (most jobs at once, threads each job logged)
    let run_with = |bundles: usize, threads: u32| -> (usize, Vec<u32>) {
        let dir = tempfile::tempdir().unwrap();
        let mut assets = Vec::new();
        for (i, p) in platforms.iter().enumerate() {
            let name = format!("tool-{p}");
            std::fs::write(dir.path().join(&name), noise(40 + i as u64, 3 << 20)).unwrap();
            assets.push((name.clone(), name, None));
        }
        std::fs::write(
            dir.path().join("index.json"),
            index_json(&[("1.0.0", assets)]),
        )
        .unwrap();
        write_spec(
            dir.path(),
            format!(
                "name: tool\nsource: {{type: url_index, url: index.json}}\nassets: {{linux/amd64: [linux-amd64], linux/arm64: [linux-arm64], darwin/arm64: [darwin-arm64]}}\nasset_type: binary\ncompression: xz\nverify: {{require: false}}\nconcurrency: {{max_bundles: {bundles}, compression_threads: {threads}}}\n"
            ),
        );
        let out = run(mirrorkit(dir.path()).args(["sync", "mirror.yml", "--log-level", "debug"]));
        assert_exit(&out, 0);
        let log = String::from_utf8_lossy(&out.stderr);
        let (mut running, mut most, mut logged) = (0usize, 0usize, Vec::new());
        for line in log.lines() {
            if line.contains("packaging started") {
                running += 1;
                most = most.max(running);
                let t = line
                    .split("threads=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .expect("threads= on the start line");
                logged.push(t);
            } else if line.contains("packaging ended") {
                running -= 1;
            }
        }
        assert_eq!(logged.len(), platforms.len(), "{log}");
        (most, logged)
    };
    let (most, threads) = run_with(1, 1);
    assert_eq!(most, 1, "max_bundles: 1 ran {most} packaging jobs at once");
    assert_eq!(threads, vec![1, 1, 1]);
    // The control: on a machine with two cores or more, two one-thread jobs do run side by side
    // when allowed, so the bound above is the setting's doing; threads are capped at the cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 {
        let (most, _) = run_with(2, 1);
        assert_eq!(most, 2, "max_bundles: 2 never ran two jobs at once");
        let (_, threads) = run_with(1, 2);
        assert_eq!(threads, vec![2, 2, 2]);
    }
}
