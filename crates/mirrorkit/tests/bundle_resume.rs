//! Bundles interrupted: `export` and `import` killed with SIGKILL while a blob is certainly
//! mid-transfer (a stall in the testkit front holds it), then run again. Nothing is published
//! before it is whole, and what the first run completed is not transferred again.

mod common;
#[path = "support/oci_fixtures.rs"]
mod oci_fixtures;

use std::path::Path;

use common::{assert_exit, kill_at_stall, mirrorkit, run, spawn_mirrorkit};
use mirrorkit_testkit::referrers_front::ReferrersFront;
use mirrorkit_testkit::registry::Registry;
use oci_fixtures::push_layered_image;

/// The registry log lines since line `from` that match `method` and `path_part`.
fn requests_since(registry: &Registry, from: usize, method: &str, path_part: &str) -> Vec<String> {
    registry
        .log()
        .lines()
        .skip(from)
        .filter(|l| l.contains(&format!("\"{method} /v2/")) && l.contains(path_part))
        .map(str::to_string)
        .collect()
}

fn export_work_dirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".mirrorkit-export-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_export_killed_mid_copy_publishes_nothing_and_the_next_one_fetches_only_what_was_missing() {
    let a = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let layers = push_layered_image(&a, &dir.path().join("img"), "team/big:1.0", 4, 300);
    let front = ReferrersFront::start(&a);
    front.stall("GET", &format!("/blobs/{}", layers[3]));
    let source = front.docker_ref("team/big:1.0");
    let host = front.host();
    let args = [
        "export",
        &source,
        "--output",
        "out/b.tar",
        "--insecure-registry",
        &host,
    ];
    let out_dir = dir.path().join("out");
    // The blobs in the (one) work directory's staging layout.
    let staged = || -> Vec<String> {
        let work = export_work_dirs(&out_dir);
        let Some(w) = work.first() else {
            return Vec::new();
        };
        std::fs::read_dir(out_dir.join(w).join("layout/blobs/sha256"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with(".tmp-"))
                    .map(|hex| format!("sha256:{hex}"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut child = spawn_mirrorkit(dir.path(), &args);
    // Killed while the last layer is half-sent, once the config and the other layers are staged.
    kill_at_stall(&mut child, &front, || staged().len() == 4);
    assert!(
        !out_dir.join("b.tar").exists(),
        "nothing at the output path"
    );
    assert_eq!(
        export_work_dirs(&out_dir).len(),
        1,
        "the work directory is left"
    );
    let staged = staged();
    assert!(
        !staged.contains(&layers[3]),
        "the half-sent layer is not staged"
    );

    front.unstall();
    let before = a.log().lines().count();
    let out = run(mirrorkit(dir.path()).args(args));
    assert_exit(&out, 0);
    // What was staged is not fetched again: only the stalled layer is.
    let gets = requests_since(&a, before, "GET", "/blobs/");
    assert_eq!(gets.len(), 1, "staged {staged:?}, then {gets:#?}");
    assert!(gets[0].contains(&layers[3]), "{gets:#?}");
    assert_eq!(
        export_work_dirs(&out_dir),
        Vec::<String>::new(),
        "work directory removed"
    );
    assert_exit(
        &run(mirrorkit(dir.path()).args(["bundle", "verify", "out/b.tar"])),
        0,
    );
}

#[test]
fn an_export_removes_abandoned_work_directories_and_leaves_a_running_ones_alone() {
    let a = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    push_layered_image(&a, &dir.path().join("img"), "team/big:1.0", 1, 400);
    let out_dir = dir.path().join("out");
    // Two abandoned work directories (no process holds their lock) and one held by a "running"
    // export (this test holds its lock).
    for name in ["a1", "a2", "held"] {
        std::fs::create_dir_all(out_dir.join(format!(".mirrorkit-export-{name}/layout"))).unwrap();
    }
    std::fs::write(
        out_dir.join(".mirrorkit-export-a2/layout/stray"),
        b"left by a kill",
    )
    .unwrap();
    let held = std::fs::File::open(out_dir.join(".mirrorkit-export-held")).unwrap();
    held.lock().unwrap();
    let source = a.docker_ref("team/big:1.0");
    let host = a.host();
    let out = run(mirrorkit(dir.path()).args([
        "export",
        &source,
        "--output",
        "out/b.tar",
        "--insecure-registry",
        &host,
    ]));
    assert_exit(&out, 0);
    assert_eq!(
        export_work_dirs(&out_dir),
        vec![".mirrorkit-export-held".to_string()]
    );
    // The adopted directory's stray file did not end up in the bundle.
    let listing = tar_listing(&out_dir.join("b.tar"));
    assert!(!listing.iter().any(|p| p.contains("stray")), "{listing:?}");
    assert_exit(
        &run(mirrorkit(dir.path()).args(["bundle", "verify", "out/b.tar"])),
        0,
    );
}

fn tar_listing(archive: &Path) -> Vec<String> {
    let mut a = tar::Archive::new(std::fs::File::open(archive).unwrap());
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn an_import_killed_mid_push_tags_nothing_and_the_next_one_sends_each_blob_once() {
    let a = Registry::start();
    let b = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let layers = push_layered_image(&a, &dir.path().join("img"), "team/big:1.0", 4, 500);
    let source = a.docker_ref("team/big:1.0");
    let host = a.host();
    assert_exit(
        &run(mirrorkit(dir.path()).args([
            "export",
            &source,
            "--output",
            "b.tar",
            "--insecure-registry",
            &host,
        ])),
        0,
    );
    let front = ReferrersFront::start(&b);
    // The upload of the last layer never reaches the registry.
    front.stall("PUT", &layers[3]["sha256:".len()..]);
    let to = format!("docker://{}/imported", front.host());
    let fhost = front.host();
    let args = [
        "import",
        "b.tar",
        "--to",
        &to,
        "--insecure-registry",
        &fhost,
    ];
    let mut child = spawn_mirrorkit(dir.path(), &args);
    let uploads = |from: usize| -> Vec<String> {
        requests_since(&b, from, "PUT", "/blobs/uploads/")
            .iter()
            .filter_map(|l| l.split("digest=sha256").nth(1))
            .map(|rest| {
                rest.trim_start_matches(':')
                    .trim_start_matches("%3A")
                    .split(['&', ' ', '"'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    // Killed while the last layer's upload hangs, once the config and the other layers are in.
    kill_at_stall(&mut child, &front, || uploads(0).len() == 4);
    b.assert_no_manifest("imported/team/big:1.0");
    let first = uploads(0);
    assert!(!first.iter().any(|h| layers[3].ends_with(h.as_str())));

    front.unstall();
    let before = b.log().lines().count();
    assert_exit(&run(mirrorkit(dir.path()).args(args)), 0);
    let second = uploads(before);
    // Config and four layers, each sent once across both runs: the second sends only the last.
    assert_eq!(second.len(), 1, "{second:?}");
    let mut all: Vec<&String> = first.iter().chain(&second).collect();
    assert_eq!(all.len(), 5, "first run {first:?}, second {second:?}");
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        5,
        "a blob was sent twice: {first:?} then {second:?}"
    );
    assert_eq!(
        mirrorkit_testkit::registry::skopeo_inspect_raw(
            &b.docker_ref("imported/team/big:1.0"),
            &["--tls-verify=false"]
        )
        .map(|m| mirrorkit_testkit::registry::sha256_digest(&m)),
        mirrorkit_testkit::registry::skopeo_inspect_raw(
            &a.docker_ref("team/big:1.0"),
            &["--tls-verify=false"]
        )
        .map(|m| mirrorkit_testkit::registry::sha256_digest(&m)),
    );
}
