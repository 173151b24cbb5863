//! cargo crates end to end: a sparse registry generated here (config.json, index files, real
//! `.crate` packages) served by a plain HTTP server; mirrorkit mirrors by PURL; the upstream is
//! stopped; then, in a network namespace with only loopback up, the real `cargo fetch` and
//! `cargo build --offline` work from the published tree through `[source]` replacement.

mod common;
#[path = "support/packages.rs"]
mod packages;

use std::path::{Path, PathBuf};

use common::{all_output, assert_exit, flip_last_byte, mirrorkit, report, run};
use mirrorkit_testkit::cargo_registry::CargoRegistry;
use mirrorkit_testkit::fileserver::Fault;
use mirrorkit_testkit::process::offline;
use packages::{pairs, serving, versions};

const OFFLINE_PORT: u16 = 8090;

struct World {
    dir: tempfile::TempDir,
    upstream: CargoRegistry,
}

/// alpha 1.0.0 (beta ^1) and 1.1.0-rc.1; beta 1.0.0 and 1.2.0 (yanked); gamma 0.1.0.
fn world() -> World {
    let upstream = CargoRegistry::start();
    upstream.publish("alpha", "1.0.0", &[("beta", "^1")], false);
    upstream.publish("alpha", "1.1.0-rc.1", &[("beta", "^1")], false);
    upstream.publish("beta", "1.0.0", &[], false);
    upstream.publish("beta", "1.2.0", &[], true);
    upstream.publish("gamma", "0.1.0", &[], false);
    World {
        dir: tempfile::tempdir().unwrap(),
        upstream,
    }
}

impl World {
    fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    fn mirror(&self, args: &[&str]) -> std::process::Output {
        let upstream = format!("cargo={}", self.upstream.index_url());
        let base = format!("http://127.0.0.1:{OFFLINE_PORT}/");
        run(mirrorkit(self.dir.path())
            .arg("mirror")
            .args(args)
            .args(["--upstream", &upstream, "--to", "tree", "--base-url", &base])
            .args(["--format", "json"]))
    }

    /// A binary crate depending on alpha, with `[source]` replacement pointing at the tree.
    fn app(&self) -> PathBuf {
        let app = self.dir.path().join("app");
        std::fs::create_dir_all(app.join("src")).unwrap();
        std::fs::create_dir_all(app.join(".cargo")).unwrap();
        std::fs::write(
            app.join("Cargo.toml"),
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nalpha = \"1\"\n",
        )
        .unwrap();
        std::fs::write(
            app.join("src/main.rs"),
            "fn main() { println!(\"{}\", alpha::VALUE); }\n",
        )
        .unwrap();
        std::fs::write(
            app.join(".cargo/config.toml"),
            format!(
                "[source.crates-io]\nreplace-with = \"mirror\"\n\n[source.mirror]\nregistry = \"sparse+http://127.0.0.1:{OFFLINE_PORT}/cargo/index/\"\n"
            ),
        )
        .unwrap();
        app
    }
}

/// [`serving`] the tree with a cargo home of its own and no network retries.
fn serving_with_cargo(tree: &Path, cargo_home: &Path, then: &str) -> String {
    let cargo = which("cargo");
    format!(
        "export CARGO_HOME={cargo_home:?} CARGO_NET_RETRY=0\ncargo() {{ {cargo:?} \"$@\"; }}\n{}",
        serving(tree, OFFLINE_PORT, then)
    )
}

fn which(tool: &str) -> PathBuf {
    let out = std::process::Command::new("bash")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn cargo_fetches_and_builds_offline_from_what_was_mirrored_by_purl() {
    let w = world();
    let out = w.mirror(&["pkg:cargo/alpha@1.0.0", "pkg:cargo/beta"]);
    assert_exit(&out, 0);
    // Every release of beta, the yanked one kept.
    assert_eq!(
        versions(&report(&out)),
        pairs(&[
            ("alpha@1.0.0", "published"),
            ("beta@1.0.0", "published"),
            ("beta@1.2.0", "published"),
        ])
    );
    // Index lines copied verbatim; config.json points under the base URL.
    let upstream_beta = std::fs::read_to_string(w.upstream.dir().join("be/ta/beta")).unwrap();
    let published_beta = std::fs::read_to_string(w.tree().join("cargo/index/be/ta/beta")).unwrap();
    assert_eq!(published_beta, upstream_beta);
    let upstream_alpha = std::fs::read_to_string(w.upstream.dir().join("al/ph/alpha")).unwrap();
    let published_alpha =
        std::fs::read_to_string(w.tree().join("cargo/index/al/ph/alpha")).unwrap();
    assert_eq!(
        published_alpha.lines().collect::<Vec<_>>(),
        [upstream_alpha.lines().next().unwrap()]
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.tree().join("cargo/index/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["dl"],
        format!(
            "http://127.0.0.1:{OFFLINE_PORT}/cargo/crates/{{crate}}/{{crate}}-{{version}}.crate"
        )
    );

    // Warm: the index files and config.json are asked for conditionally; no crate is fetched.
    let before = w.upstream.requests().len();
    let out = w.mirror(&["pkg:cargo/alpha@1.0.0", "pkg:cargo/beta"]);
    assert_exit(&out, 0);
    assert_eq!(report(&out)["summary"]["unchanged"], 3);
    let warm = &w.upstream.requests()[before..];
    assert!(
        warm.iter().all(|r| !r.path.starts_with("/crates/")),
        "{warm:#?}"
    );
    assert!(warm.iter().all(|r| r.if_none_match.is_some()), "{warm:#?}");

    let app = w.app();
    let home = w.dir.path().join("cargo-home");
    let tree = w.tree();
    let World {
        dir: _dir,
        upstream,
    } = w;
    drop(upstream); // the upstream goes away
    let out = offline(&serving_with_cargo(
        &tree,
        &home,
        &format!("cd {app:?}\ncargo fetch\ncargo build --offline -q\n./target/debug/app\n"),
    ));
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("alpha@1.0.0"), "{text}");
    // The lock file's checksum is the upstream's: cargo resolved beta to 1.0.0 (1.2.0 is
    // yanked) and checked the .crate against it.
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    let cksum = upstream_beta
        .lines()
        .next()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap()["cksum"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(lock.contains(&format!("checksum = \"{cksum}\"")), "{lock}");
}

#[test]
fn with_dependencies_a_crate_brings_what_it_needs_skipping_yanked_versions() {
    let w = world();
    let out = w.mirror(&["pkg:cargo/alpha@1.0.0", "--dependencies"]);
    assert_exit(&out, 0);
    // beta ^1: 1.2.0 is yanked, so 1.0.0, as cargo would pick for a new lock file.
    assert_eq!(
        versions(&report(&out)),
        pairs(&[("alpha@1.0.0", "published"), ("beta@1.0.0", "published")])
    );
    let app = w.app();
    let home = w.dir.path().join("cargo-home");
    let tree = w.tree();
    let World {
        dir: _dir,
        upstream,
    } = w;
    drop(upstream);
    let out = offline(&serving_with_cargo(
        &tree,
        &home,
        &format!("cd {app:?}\ncargo fetch\n"),
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_mirror_killed_mid_download_publishes_nothing_half_and_the_next_run_fetches_only_the_rest() {
    let w = world();
    let stalled = "crates/gamma/gamma-0.1.0.crate";
    w.upstream
        .server()
        .set_fault(stalled, Fault::stall_after(40, 1));
    let upstream = format!("cargo={}", w.upstream.index_url());
    let args = [
        "mirror",
        "pkg:cargo/alpha@1.0.0",
        "pkg:cargo/beta@1.0.0",
        "pkg:cargo/gamma@0.1.0",
        "--upstream",
        &upstream,
        "--to",
        "tree",
        "--base-url",
        "http://127.0.0.1:1/",
    ];
    let mut child = common::spawn_mirrorkit(w.dir.path(), &args);
    // Killed while gamma's crate is half-sent, once alpha and beta are published.
    let tree = w.tree();
    common::kill_when(&mut child, || {
        !w.upstream.server().requests_for(stalled).is_empty()
            && tree.join("cargo/index/al/ph/alpha").is_file()
            && tree.join("cargo/index/be/ta/beta").is_file()
    });
    // Nothing of gamma is published; what was is whole.
    assert!(!tree.join("cargo/index/ga/mm/gamma").exists());
    assert!(!tree.join("cargo/crates/gamma").exists());
    assert!(tree.join("cargo/crates/alpha/alpha-1.0.0.crate").is_file());

    w.upstream.server().clear_fault(stalled);
    let before = w.upstream.requests().len();
    let out = w.mirror(&[
        "pkg:cargo/alpha@1.0.0",
        "pkg:cargo/beta@1.0.0",
        "pkg:cargo/gamma@0.1.0",
    ]);
    assert_exit(&out, 0);
    assert_eq!(
        versions(&report(&out)),
        pairs(&[
            ("alpha@1.0.0", "unchanged"),
            ("beta@1.0.0", "unchanged"),
            ("gamma@0.1.0", "published"),
        ])
    );
    // Only gamma's crate is fetched again.
    let crates: Vec<String> = w.upstream.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/crates/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(crates, [format!("/{stalled}")]);
}

#[test]
fn a_tampered_crate_is_refused_upstream_and_by_cargo_in_the_tree() {
    let w = world();
    let upstream_crate = w.upstream.crate_file("gamma", "0.1.0");
    flip_last_byte(&upstream_crate);
    let out = w.mirror(&["pkg:cargo/gamma@0.1.0", "pkg:cargo/beta@1.0.0"]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_eq!(
        versions(&r),
        pairs(&[("beta@1.0.0", "published"), ("gamma@0.1.0", "failed")])
    );
    assert!(
        !w.tree().join("cargo/index/ga/mm/gamma").exists(),
        "nothing of gamma published"
    );

    let out = w.mirror(&["pkg:cargo/alpha@1.0.0"]);
    assert_exit(&out, 0);
    let published = w.tree().join("cargo/crates/beta/beta-1.0.0.crate");
    let bytes = std::fs::read(&published).unwrap();
    std::fs::remove_file(&published).unwrap(); // a hard link into the store
    std::fs::write(&published, bytes).unwrap();
    flip_last_byte(&published);
    let app = w.app();
    let home = w.dir.path().join("cargo-home");
    let out = offline(&serving_with_cargo(
        &w.tree(),
        &home,
        &format!("cd {app:?}\ncargo fetch\n"),
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "cargo fetched a tampered crate");
    assert!(stderr.contains("checksum"), "{stderr}");
}
