//! Several `mirrorkit` processes at once: two syncs into one target keep every tag and end with
//! the right rolling tags; two syncs on one work dir take turns; a run killed mid-push leaves
//! nothing that the next run does not clean up.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use common::*;
use mirrorkit_testkit::fileserver::{Fault, FileServer};
use mirrorkit_testkit::registry::Registry;

const VERSIONS: [&str; 4] = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"];

/// Release assets for the first `count` of [`VERSIONS`] (one platform) and their url_index document in `dir`; returns
/// the index path.
fn release_fixture(dir: &Path, size: usize, count: usize) -> PathBuf {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mut entries = Vec::new();
    for (i, v) in VERSIONS.iter().take(count).enumerate() {
        let name = format!("t-{v}-linux-amd64.tar.gz");
        let path = tar_gz_asset(&files, &name, "t", &noise(i as u64 + 1, size));
        entries.push((*v, vec![(name.clone(), name, Some(file_digest(&path)))]));
    }
    let index = files.join("index.json");
    std::fs::write(&index, index_json(&entries)).unwrap();
    index
}

/// A one-mirror spec in `dir` reading `index_url`, publishing to `target` (a YAML flow map).
fn spec(dir: &Path, index_url: &str, target: &str) -> PathBuf {
    let path = dir.join("mirror.yml");
    std::fs::write(
        &path,
        format!(
            "target: {target}\nmirrors:\n  t:\n    source: {{type: url_index, url: '{index_url}'}}\n    assets: {{linux/amd64: [linux-amd64]}}\n    strip_components: 1\n    compression: zstd\n"
        ),
    )
    .unwrap();
    path
}

/// Start `mirrorkit sync SPEC --work-dir WORK ARGS…` with its output captured.
fn start_sync(cwd: &Path, spec: &Path, work: &str, args: &[&str]) -> Child {
    mirrorkit_process(cwd)
        .arg("sync")
        .arg(spec)
        .args(["--work-dir", work, "--format", "json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The platform manifests an index (as raw JSON) points at.
fn manifest_digests(index: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(index).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Every rolling tag points at what the highest version under it publishes.
fn assert_rolling_tags(read: impl Fn(&str) -> Vec<u8>, round: usize) {
    for (alias, version) in [
        ("latest", "2.0.0"),
        ("2", "2.0.0"),
        ("2.0", "2.0.0"),
        ("1", "1.2.0"),
        ("1.2", "1.2.0"),
        ("1.1", "1.1.0"),
        ("1.0", "1.0.0"),
    ] {
        assert_eq!(
            manifest_digests(&read(alias)),
            manifest_digests(&read(version)),
            "round {round}: {alias} should point at {version}"
        );
    }
}

fn assert_both_pushed(a: Output, b: Output, round: usize) {
    for (name, out) in [("first", &a), ("second", &b)] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}, {name} run:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn two_syncs_into_one_layout_keep_every_tag_and_the_rolling_tags_of_the_highest_version() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let index = release_fixture(dir.path(), 200_000, 4);
        let spec = spec(dir.path(), &index.display().to_string(), "{layout: ./oci}");
        let a = start_sync(dir.path(), &spec, "w1", &["--version", "1.0.0,1.2.0"]);
        let b = start_sync(dir.path(), &spec, "w2", &["--version", "1.1.0,2.0.0"]);
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert_both_pushed(a, b, round);

        let layout = dir.path().join("oci/t");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let tags: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
            .collect();
        for v in VERSIONS {
            assert!(
                tags.contains(&v),
                "round {round}: tag {v} lost from {tags:?}"
            );
            let build_tags = tags
                .iter()
                .filter(|t| t.starts_with(&format!("{v}_")))
                .count();
            assert_eq!(build_tags, 1, "round {round}: build tag of {v} in {tags:?}");
        }
        let read = |tag: &str| {
            let entry = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
                .unwrap_or_else(|| panic!("round {round}: no tag {tag} in {tags:?}"));
            let digest = entry["digest"].as_str().unwrap();
            std::fs::read(layout.join("blobs/sha256").join(&digest["sha256:".len()..])).unwrap()
        };
        assert_rolling_tags(read, round);
        let check = run(mirrorkit(dir.path()).args(["cascade", "check", "mirror.yml"]));
        assert_exit(&check, 0);
    }
}

/// Against a registry there is no lock: the runs re-read, settle and repair. Two races this test
/// found (a tag listed before it can be read; docker-registry answering MANIFEST_BLOB_UNKNOWN while
/// the other run uploads the same config blob) are handled in the cascade and the publisher.
#[test]
fn two_syncs_into_one_registry_repository_end_with_the_right_rolling_tags() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let index = release_fixture(dir.path(), 200_000, 4);
    for round in 0..6 {
        let spec = spec(
            dir.path(),
            &index.display().to_string(),
            &format!(
                "{{registry: '{}', namespace: round{round}, insecure: true}}",
                registry.host()
            ),
        );
        let a = start_sync(
            dir.path(),
            &spec,
            &format!("w1-{round}"),
            &["--version", "1.0.0,1.2.0"],
        );
        let b = start_sync(
            dir.path(),
            &spec,
            &format!("w2-{round}"),
            &["--version", "1.1.0,2.0.0"],
        );
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        // Shown when an assertion below fails.
        eprintln!(
            "round {round}:\n--- first run\n{}\n--- second run\n{}",
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr)
        );
        assert_both_pushed(a, b, round);
        let tags = registry.tags(&format!("round{round}/t"));
        for v in VERSIONS {
            assert!(
                tags.contains(&v.to_string()),
                "round {round}: {v} missing from {tags:?}"
            );
        }
        let read = |tag: &str| {
            mirrorkit_testkit::registry::skopeo_inspect_raw(
                &registry.docker_ref(&format!("round{round}/t:{tag}")),
                &[],
            )
            .unwrap_or_else(|e| panic!("round {round}: {tag}: {e}"))
        };
        assert_rolling_tags(read, round);
        let check = run(mirrorkit(dir.path()).args(["cascade", "check", "mirror.yml"]));
        assert_exit(&check, 0);
    }
}

/// A spec whose only asset download stalls (until the fault is cleared), so a run holds its work
/// dir for as long as the test wants.
struct StalledUpstream {
    dir: tempfile::TempDir,
    server: FileServer,
    spec: PathBuf,
}

const STALLED_ASSET: &str = "/t-1.0.0-linux-amd64.tar.gz";

impl StalledUpstream {
    fn new() -> StalledUpstream {
        let dir = tempfile::tempdir().unwrap();
        release_fixture(dir.path(), 3_000_000, 4);
        let server = FileServer::start(dir.path().join("files"));
        server.set_fault(STALLED_ASSET, Fault::stall_after(1_000_000, 1));
        let spec = spec(dir.path(), &server.url("/index.json"), "{layout: ./oci}");
        StalledUpstream { dir, server, spec }
    }

    /// Wait until the stalled download has begun (the first run holds the work dir by then).
    fn wait_for_the_stall(&self, child: &mut Child) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.server.requests_for(STALLED_ASSET).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the download never started"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "the first run ended early"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn a_second_run_on_a_busy_work_dir_exits_75_with_no_wait_and_otherwise_waits_its_turn() {
    let up = StalledUpstream::new();
    let cwd = up.dir.path();
    let mut first = start_sync(cwd, &up.spec, "w", &["--version", "1.0.0"]);
    up.wait_for_the_stall(&mut first);

    let out = run(mirrorkit(cwd).arg("sync").arg(&up.spec).args([
        "--work-dir",
        "w",
        "--version",
        "1.0.0",
        "--no-wait",
    ]));
    assert_exit(&out, 75);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("pid {}", first.id())) && stderr.contains("in use"),
        "names the run that holds it: {stderr}"
    );

    // Without --no-wait the second run queues, says who it waits for, and runs once the holder
    // is gone — here killed, so its lock is taken over.
    let mut second = start_sync(cwd, &up.spec, "w", &["--version", "1.0.0"]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        second.try_wait().unwrap().is_none(),
        "the second run did not wait"
    );
    first.kill().unwrap(); // SIGKILL: the lock is released by the kernel, not by mirrorkit
    first.wait().unwrap();
    up.server.clear_fault(STALLED_ASSET);
    let out = second.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waiting: the work dir"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        statuses(&report(&out)),
        [
            ("1.0.0".to_string(), "pushed".to_string()),
            ("1.1.0".to_string(), "excluded".to_string()),
            ("1.2.0".to_string(), "excluded".to_string()),
            ("2.0.0".to_string(), "excluded".to_string()),
        ]
    );
}

/// Files whose name starts with `.tmp-` anywhere under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                found.push(p.clone());
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    found
}

#[test]
fn temp_files_of_a_push_killed_mid_blob_are_removed_by_the_next_run() {
    // A 48 MiB layer takes long enough to write into the layout that a kill -9 lands while its
    // temp file exists; try a few times in case a run is quicker than the poll.
    for attempt in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let index = release_fixture(&dir.path().join(format!("a{attempt}")), 48 << 20, 1);
        let spec = spec(dir.path(), &index.display().to_string(), "{layout: ./oci}");
        let blobs = dir.path().join("oci/t/blobs/sha256");
        let mut child = start_sync(dir.path(), &spec, "w", &[]);
        let left = loop {
            let found = temp_files(&blobs);
            if !found.is_empty() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                break found;
            }
            if child.try_wait().unwrap().is_some() {
                break Vec::new();
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        if left.is_empty() || !left.iter().any(|p| p.exists()) {
            continue; // the run finished first, or renamed its file before the kill
        }
        let out = run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec)
            .args(["--work-dir", "w"]));
        assert_exit(&out, 0);
        assert_eq!(
            temp_files(&dir.path().join("oci")),
            Vec::<PathBuf>::new(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    panic!("no kill landed while a temp file existed in five attempts");
}

#[test]
fn a_run_does_not_remove_the_temp_files_of_a_live_run_in_the_same_layout() {
    let up = StalledUpstream::new();
    // A first run publishes into the layout, so it exists.
    up.server.clear_fault(STALLED_ASSET);
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&up.spec).args([
        "--work-dir",
        "w0",
        "--version",
        "1.1.0",
    ]));
    assert_exit(&out, 0);
    // A live process holding the layout open (another mirrorkit, stalled in its download after
    // it opened the layout to plan) owns the temp file planted beside it.
    up.server.set_fault(
        "/t-1.2.0-linux-amd64.tar.gz",
        Fault::stall_after(1_000_000, 1),
    );
    let live = start_sync(up.dir.path(), &up.spec, "w1", &["--version", "1.2.0"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while up
        .server
        .requests_for("/t-1.2.0-linux-amd64.tar.gz")
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let layout = up.dir.path().join("oci/t");
    let in_flight = layout.join("blobs/sha256/.tmp-in-flight");
    std::fs::write(&in_flight, b"partial").unwrap();
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&up.spec).args([
        "--work-dir",
        "w2",
        "--version",
        "1.0.0",
    ]));
    assert_exit(&out, 0);
    assert!(
        in_flight.exists(),
        "removed while another run had the layout open"
    );
    up.server.clear_fault("/t-1.2.0-linux-amd64.tar.gz");
    assert_exit(&live.wait_with_output().unwrap(), 0);
    // With nobody else in the layout, the next run cleans up.
    let out = run(mirrorkit(up.dir.path()).arg("sync").arg(&up.spec).args([
        "--work-dir",
        "w2",
        "--version",
        "2.0.0",
    ]));
    assert_exit(&out, 0);
    assert!(!in_flight.exists());
}
