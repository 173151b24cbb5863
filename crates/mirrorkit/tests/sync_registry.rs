//! `mirrorkit sync` into a real registry (Debian's docker-registry on a free loopback port), from
//! assets served by a local HTTP server, checked with skopeo.

mod common;

use common::*;
use mirrorkit_testkit::fileserver::{Fault, FileServer};
use mirrorkit_testkit::registry::{Registry, sha256_digest, skopeo, skopeo_inspect_raw};

/// Assets for versions × platforms in `dir`, served by a file server, with an index document.
struct Upstream {
    dir: tempfile::TempDir,
    server: FileServer,
}

impl Upstream {
    fn new(versions: &[&str], archs: &[&str], size: usize) -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        let mut entries = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            let mut assets = Vec::new();
            for (j, a) in archs.iter().enumerate() {
                let name = format!("tool-{v}-linux-{a}.tar.gz");
                let path = tar_gz_asset(
                    &files,
                    &name,
                    &format!("tool-{v}"),
                    &noise((i * 10 + j) as u64, size),
                );
                assets.push((name.clone(), name, Some(file_digest(&path))));
            }
            entries.push((*v, assets));
        }
        std::fs::write(files.join("index.json"), index_json(&entries)).unwrap();
        let server = FileServer::start(&files);
        Upstream { dir, server }
    }

    /// Write a spec targeting `registry` and return its path.
    fn spec(&self, registry: &str, extra: &str) -> std::path::PathBuf {
        let path = self.dir.path().join("mirror.yml");
        std::fs::write(
            &path,
            format!(
                "target: {{registry: '{registry}', namespace: mirror, insecure: true}}\nmirrors:\n  tool:\n    source: {{type: url_index, url: '{}'}}\n    assets:\n      linux/amd64: ['linux-amd64']\n      linux/arm64: ['linux-arm64']\n    strip_components: 1\n    compression: zstd\n{extra}",
                self.server.url("/index.json")
            ),
        )
        .unwrap();
        path
    }
}

#[test]
fn sync_publishes_an_index_per_version_with_every_platform() {
    let registry = Registry::start();
    let up = Upstream::new(&["1.0.0", "1.2.0", "1.10.0"], &["amd64", "arm64"], 300_000);
    let spec = up.spec(&registry.host(), "");
    let r = json_report(mirrorkit(up.dir.path()).arg("sync").arg(&spec), 0);
    // Oldest first, by version order (not string order).
    assert_statuses(
        &r,
        &[
            ("1.0.0", "pushed"),
            ("1.2.0", "pushed"),
            ("1.10.0", "pushed"),
        ],
    );
    for v in r["mirrors"][0]["versions"].as_array().unwrap() {
        let version = v["version"].as_str().unwrap();
        let raw = skopeo_inspect_raw(&registry.docker_ref(&format!("mirror/tool:{version}")), &[])
            .unwrap();
        assert_eq!(
            v["index_digest"],
            sha256_digest(&raw),
            "the tag points at the reported index"
        );
        let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(
            index["annotations"]["org.opencontainers.image.version"],
            version
        );
        assert!(index["annotations"]["org.opencontainers.image.created"].is_string());
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(platform_of)
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
        // Each platform manifest is there, with its annotations, and matches the report.
        for (m, p) in index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .zip(v["platforms"].as_array().unwrap())
        {
            assert_eq!(m["digest"], p["manifest_digest"]);
            let raw = skopeo_inspect_raw(
                &registry.docker_ref(&format!("mirror/tool@{}", m["digest"].as_str().unwrap())),
                &[],
            )
            .unwrap();
            let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            assert_eq!(
                manifest["artifactType"],
                "application/vnd.sh.ocx.package.v1"
            );
            assert_eq!(
                manifest["config"]["mediaType"],
                "application/vnd.sh.ocx.package.v1+json"
            );
            assert_eq!(
                manifest["layers"][0]["mediaType"],
                "application/vnd.oci.image.layer.v1.tar+zstd"
            );
            assert_eq!(manifest["layers"][0]["digest"], p["layer_digest"]);
            assert_eq!(
                manifest["annotations"]["org.opencontainers.image.version"],
                version
            );
            // The manifest depends on the asset only (no timestamp), so the same asset always
            // gives the same manifest digest; the run's time is on the index.
            assert!(manifest["annotations"]["org.opencontainers.image.created"].is_null());
            assert!(
                manifest["annotations"]["org.opencontainers.image.source"]
                    .as_str()
                    .unwrap()
                    .starts_with("http://127.0.0.1")
            );
        }
    }
    // skopeo can copy a version with all its platforms out of the registry.
    let copy = up.dir.path().join("copy");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &registry.docker_ref("mirror/tool:1.10.0"),
        &format!("oci:{}:x", copy.display()),
    ])
    .unwrap();

    // A second run asks the registry for tags and downloads nothing.
    let before = up.server.requests().len();
    let rep = json_report(mirrorkit(up.dir.path()).arg("sync").arg(&spec), 0);
    assert!(statuses(&rep).iter().all(|(_, s)| s == "skipped"));
    let after: Vec<_> = up.server.requests()[before..].to_vec();
    assert!(
        after.iter().all(|r| r.path == "/index.json"),
        "only the index is read again: {after:?}"
    );
}

#[test]
fn a_download_cut_off_resumes_on_the_next_run_with_a_range_request() {
    let registry = Registry::start();
    let up = Upstream::new(&["1.0.0"], &["amd64", "arm64"], 6_000_000);
    // Every attempt of this run is cut off after 400 kB, more often than one run resumes by
    // itself: the run fails and the partial file stays in the work dir.
    up.server.set_fault(
        "/tool-1.0.0-linux-arm64.tar.gz",
        Fault::close_after(400_000, 100),
    );
    let spec = up.spec(&registry.host(), "");
    let rep = json_report(mirrorkit(up.dir.path()).arg("sync").arg(&spec), 1);
    assert_statuses(&rep, &[("1.0.0", "failed")]);
    // Nothing of the failed version is tagged.
    let err = skopeo_inspect_raw(&registry.docker_ref("mirror/tool:1.0.0"), &[]).unwrap_err();
    assert!(
        err.contains("manifest unknown") || err.contains("not found"),
        "{err}"
    );

    up.server.clear_fault("/tool-1.0.0-linux-arm64.tar.gz");
    let before = up
        .server
        .requests_for("/tool-1.0.0-linux-arm64.tar.gz")
        .len();
    let out = run(mirrorkit(up.dir.path())
        .arg("sync")
        .arg(&spec)
        .args(["--format", "json"]));
    assert_exit(&out, 0);
    let resumed = up.server.requests_for("/tool-1.0.0-linux-arm64.tar.gz")[before..].to_vec();
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    let range = resumed[0].range.clone().unwrap_or_default();
    assert!(
        range.starts_with("bytes=") && !range.starts_with("bytes=0-"),
        "resumed, not restarted: {range:?}"
    );
    // The amd64 asset, verified in the first run, is not downloaded again.
    assert_eq!(
        up.server
            .requests_for("/tool-1.0.0-linux-amd64.tar.gz")
            .len(),
        1
    );
    skopeo_inspect_raw(&registry.docker_ref("mirror/tool:1.0.0"), &[]).unwrap();
}

#[test]
fn retryable_upstream_errors_are_retried_and_the_sync_succeeds() {
    let registry = Registry::start();
    let up = Upstream::new(&["1.0.0"], &["amd64", "arm64"], 10_000);
    up.server
        .set_fault("/tool-1.0.0-linux-amd64.tar.gz", Fault::server_error(2));
    up.server.set_fault(
        "/tool-1.0.0-linux-arm64.tar.gz",
        Fault::too_many_requests(1, 1),
    );
    let spec = up.spec(&registry.host(), "");
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 0);
    assert_eq!(
        up.server
            .requests_for("/tool-1.0.0-linux-amd64.tar.gz")
            .len(),
        3
    );
    assert_eq!(
        up.server
            .requests_for("/tool-1.0.0-linux-arm64.tar.gz")
            .len(),
        2
    );
}

#[test]
fn an_unreachable_registry_exits_69_and_an_unreachable_index_too() {
    let up = Upstream::new(&["1.0.0"], &["amd64"], 1000);
    // Port 1 on loopback: nothing listens there.
    let spec = up.spec("127.0.0.1:1", "");
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 69);
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"));

    let registry = Registry::start();
    let path = up.dir.path().join("gone.yml");
    std::fs::write(
        &path,
        format!(
            "target: {{registry: '{}', insecure: true}}\nmirrors:\n  tool:\n    source: {{type: url_index, url: 'http://127.0.0.1:1/index.json'}}\n    assets: {{linux/amd64: [amd64]}}\n",
            registry.host()
        ),
    )
    .unwrap();
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&path));
    assert_exit(&out, 69);
}

#[test]
fn a_registry_that_refuses_credentials_exits_77_and_accepts_the_right_ones() {
    let registry = Registry::start_with_htpasswd("mirror", "s3cret-pass");
    let up = Upstream::new(&["1.0.0"], &["amd64"], 1000);
    let spec = up.spec(&registry.host(), "");
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 77);

    let out = run(mirrorkit(up.dir.path())
        .arg("sync")
        .arg(&spec)
        .env("MIRRORKIT_REGISTRY_USERNAME", "mirror")
        .env("MIRRORKIT_REGISTRY_PASSWORD", "wrong-pass"));
    assert_exit(&out, 77);
    let all = all_output(&out);
    assert!(!all.contains("wrong-pass"), "the password leaked: {all}");

    let out = run(mirrorkit(up.dir.path())
        .arg("sync")
        .arg(&spec)
        .args(["--log-level", "trace", "--format", "json"])
        .env("MIRRORKIT_REGISTRY_USERNAME", "mirror")
        .env("MIRRORKIT_REGISTRY_PASSWORD", "s3cret-pass"));
    assert_exit(&out, 0);
    let all = all_output(&out);
    assert!(!all.contains("s3cret-pass"), "the password leaked: {all}");
    assert_eq!(statuses(&report(&out)), [("1.0.0".into(), "pushed".into())]);
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let registry = Registry::start();
    let up = Upstream::new(&["1.0.0", "2.0.0", "3.0.0"], &["amd64"], 1000);
    up.server
        .set_fault("/tool-1.0.0-linux-amd64.tar.gz", Fault::status(404, 100));
    let spec = up.spec(&registry.host(), "");
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&spec).args([
        "--format",
        "json",
        "--fail-fast",
        "--concurrency",
        "1",
    ]));
    assert_exit(&out, 1);
    let s = statuses(&report(&out));
    assert_eq!(s[0], ("1.0.0".into(), "failed".into()));
    assert!(s[1..].iter().all(|(_, st)| st == "failed"), "{s:?}");
    registry.assert_no_manifest("mirror/tool:3.0.0");

    // Without --fail-fast every other version completes and the exit code is 1.
    let rep = json_report(mirrorkit(up.dir.path()).arg("sync").arg(&spec), 1);
    assert_statuses(
        &rep,
        &[
            ("1.0.0", "failed"),
            ("2.0.0", "pushed"),
            ("3.0.0", "pushed"),
        ],
    );
}

#[test]
fn a_sync_killed_mid_download_resumes_without_refetching_what_it_had() {
    let registry = Registry::start();
    let up = Upstream::new(&["1.0.0"], &["amd64", "arm64"], 3_000_000);
    let asset = "/tool-1.0.0-linux-arm64.tar.gz";
    up.server.set_fault(asset, Fault::stall_after(2_500_000, 1));
    let spec = up.spec(&registry.host(), "");
    let mut child = spawn_sync(up.dir.path(), &spec);
    // Wait until the amd64 download is complete and verified and the stalled arm64 download has
    // written a first piece to disk, then kill -9.
    let work_dir = up.dir.path().join(".mirrorkit");
    let arm64_url = url::Url::parse(&up.server.url(asset)).unwrap();
    let amd64_blob = work_dir.join("blobs/sha256").join(
        &file_digest(&up.dir.path().join("files/tool-1.0.0-linux-amd64.tar.gz"))["sha256:".len()..],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let partial_size = || {
        mirrorkit_core::store::Store::open(&work_dir)
            .ok()
            .and_then(|s| std::fs::metadata(s.partial_path(&arm64_url)).ok())
            .map_or(0, |m| m.len())
    };
    while partial_size() < 1_048_576 || !amd64_blob.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "mirrorkit ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let kept = partial_size();
    up.server.clear_fault(asset);
    // No tag after a kill.
    registry.assert_no_manifest("mirror/tool:1.0.0");

    let amd64_before = up
        .server
        .requests_for("/tool-1.0.0-linux-amd64.tar.gz")
        .len();
    let before = up.server.requests_for(asset).len();
    let rep = json_report(mirrorkit(up.dir.path()).arg("sync").arg(&spec), 0);
    let again = up.server.requests_for(asset)[before..].to_vec();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        again[0].range,
        Some(format!("bytes={kept}-")),
        "resumed where the kill left it"
    );
    // The amd64 asset was complete and verified before the kill: not fetched again.
    assert_eq!(
        up.server
            .requests_for("/tool-1.0.0-linux-amd64.tar.gz")
            .len(),
        amd64_before
    );
    let r = rep;
    let arm = &r["mirrors"][0]["versions"][0]["platforms"][1];
    assert_eq!(
        arm["asset_digest"],
        file_digest(&up.dir.path().join("files").join(&asset[1..]))
    );
}

#[test]
fn a_corrupt_download_in_the_work_dir_is_detected_and_fetched_again() {
    let registry = Registry::start();
    let up = Upstream::new(&["1.0.0"], &["amd64", "arm64"], 50_000);
    up.server
        .set_fault("/tool-1.0.0-linux-arm64.tar.gz", Fault::status(404, 1));
    let spec = up.spec(&registry.host(), "");
    let rep = json_report(mirrorkit(up.dir.path()).arg("sync").arg(&spec), 1);
    // The amd64 download is in the store; damage it.
    let r = rep;
    let digest = r["mirrors"][0]["versions"][0]["platforms"][0]["asset_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = up
        .dir
        .path()
        .join(".mirrorkit/blobs/sha256")
        .join(&digest["sha256:".len()..]);
    std::fs::write(&blob, b"not what was downloaded").unwrap();

    let rep = json_report(mirrorkit(up.dir.path()).arg("sync").arg(&spec), 0);
    assert_eq!(
        up.server
            .requests_for("/tool-1.0.0-linux-amd64.tar.gz")
            .len(),
        2,
        "fetched again"
    );
    assert_eq!(
        rep["mirrors"][0]["versions"][0]["platforms"][0]["asset_digest"],
        digest
    );
}

#[test]
fn an_unusable_work_dir_exits_74() {
    let up = Upstream::new(&["1.0.0"], &["amd64"], 1000);
    let registry = Registry::start();
    let spec = up.spec(&registry.host(), "");
    let file = up.dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = run(mirrorkit(up.dir.path())
        .arg("sync")
        .arg(&spec)
        .arg("--work-dir")
        .arg(&file));
    assert_exit(&out, 74);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-a-dir"));
}

#[test]
fn credentials_come_from_a_docker_config_file() {
    use base64::Engine as _;
    let registry = Registry::start_with_htpasswd("robot", "from-config-file");
    let up = Upstream::new(&["1.0.0"], &["amd64"], 1000);
    let spec = up.spec(&registry.host(), "");
    let auth = base64::engine::general_purpose::STANDARD.encode("robot:from-config-file");
    let config = up.dir.path().join("auth.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let out = run(mirrorkit(up.dir.path())
        .arg("sync")
        .arg(&spec)
        .env("REGISTRY_AUTH_FILE", &config));
    assert_exit(&out, 0);
    let all = all_output(&out);
    assert!(!all.contains("from-config-file") && !all.contains(&auth));
}

#[test]
fn a_registry_with_bearer_token_auth_is_pushed_to_with_a_token_from_its_realm() {
    let registry = Registry::start_with_token_auth("robot", "token-pass");
    let up = Upstream::new(&["1.0.0"], &["amd64", "arm64"], 20_000);
    let spec = up.spec(&registry.host(), "");

    // Anonymous: the token server grants nothing, the registry refuses: 77.
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 77);

    let out = run(mirrorkit(up.dir.path())
        .arg("sync")
        .arg(&spec)
        .args(["--format", "json", "--log-level", "trace"])
        .env("MIRRORKIT_REGISTRY_USERNAME", "robot")
        .env("MIRRORKIT_REGISTRY_PASSWORD", "token-pass"));
    assert_exit(&out, 0);
    assert_eq!(statuses(&report(&out)), [("1.0.0".into(), "pushed".into())]);
    let all = all_output(&out);
    assert!(!all.contains("token-pass"), "the password leaked");
    assert!(!all.contains("eyJ"), "a token (JWT) reached the output");
    assert!(registry.tokens_issued() > 0);
    // skopeo, an independent client, reads what we wrote through the same token flow.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "robot:token-pass",
        &registry.docker_ref("mirror/tool:1.0.0"),
    ])
    .unwrap();
    assert_eq!(
        report(&out)["mirrors"][0]["versions"][0]["index_digest"],
        sha256_digest(&raw)
    );
}

/// The most requests the registry's access log shows in one second (its timestamps have
/// second resolution), and how many requests it shows in all.
fn busiest_second(registry: &Registry) -> (usize, usize) {
    let mut per_second: std::collections::BTreeMap<String, usize> = Default::default();
    let mut total = 0;
    // Every API request but `GET /v2/`, which the testkit's start-up probe also sends.
    for line in registry.log().lines().filter(|l| {
        [
            "\"GET /v2/",
            "\"HEAD /v2/",
            "\"PUT /v2/",
            "\"POST /v2/",
            "\"PATCH /v2/",
        ]
        .iter()
        .any(|m| l.contains(m))
            && !l.contains("\"GET /v2/ HTTP")
    }) {
        // `… [04/Dec/2026:04:58:01 +0000] "GET …`
        if let Some(stamp) = line.split('[').nth(1).and_then(|s| s.split(']').next()) {
            *per_second.entry(stamp.to_string()).or_default() += 1;
            total += 1;
        }
    }
    (per_second.values().copied().max().unwrap_or(0), total)
}

#[test]
fn a_registrys_rate_limit_spaces_the_requests_it_receives() {
    let spec_for = |dir: &std::path::Path, registry: &Registry, settings: &str| {
        copy_quickstart_assets(dir);
        write_spec(
            dir,
            format!(
                "target: {{registry: '{host}'}}\nregistries: {{'{host}': {{insecure: true{settings}}}}}\nmirrors:\n  hello:\n    source: {{type: url_index, url: quickstart/index.json}}\n    assets: {{linux/amd64: ['^hello-.*-linux-amd64\\.tar\\.gz$']}}\n    strip_components: 1\n",
                host = registry.host()
            ),
        )
    };
    // Unlimited, the same sync sends many requests within one second: the check below can fail.
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let spec = spec_for(dir.path(), &registry, "");
    json_report(mirrorkit(dir.path()).arg("sync").arg(&spec), 0);
    let (busiest, total) = busiest_second(&registry);
    assert!(
        busiest > 6,
        "unlimited: {busiest} of {total} requests in the busiest second"
    );

    // At 5 requests a second, no second of the registry's log holds more than 5 (+1 for a
    // request logged at a second's edge).
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let spec = spec_for(dir.path(), &registry, ", rate_limit: 5");
    json_report(mirrorkit(dir.path()).arg("sync").arg(&spec), 0);
    let (busiest, total) = busiest_second(&registry);
    assert!(total > 12, "{total} requests");
    assert!(
        busiest <= 6,
        "rate_limit 5: {busiest} of {total} requests in one second"
    );
}

#[test]
fn max_downloads_bounds_the_downloads_in_flight() {
    // Every asset stalls after its first bytes, so a download that started stays open: the
    // file server's log then shows how many were let start at once.
    for (setting, expected) in [("    concurrency: {max_downloads: 2}\n", 2), ("", 4)] {
        let registry = Registry::start();
        let up = Upstream::new(&["1.0.0", "2.0.0"], &["amd64", "arm64"], 200_000);
        let assets: Vec<String> = ["1.0.0", "2.0.0"]
            .iter()
            .flat_map(|v| ["amd64", "arm64"].map(|a| format!("/tool-{v}-linux-{a}.tar.gz")))
            .collect();
        for a in &assets {
            up.server.set_fault(a, Fault::stall_after(1_000, 1));
        }
        let spec = up.spec(&registry.host(), setting);
        let mut child = spawn_sync(up.dir.path(), &spec);
        let started = || {
            up.server
                .requests()
                .iter()
                .filter(|r| r.method == "GET" && assets.contains(&r.path))
                .count()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while started() < expected && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Time for a download beyond the limit to start, if the limit let one.
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        assert_eq!(started(), expected, "downloads in flight with {setting:?}");
        for a in &assets {
            up.server.clear_fault(a);
        }
        assert!(
            child.wait().unwrap().success(),
            "the run completes once released"
        );
        let tags = registry.tags("mirror/tool");
        assert!(
            tags.contains(&"1.0.0".to_string()) && tags.contains(&"2.0.0".to_string()),
            "{tags:?}"
        );
    }
}
