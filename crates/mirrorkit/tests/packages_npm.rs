//! npm packages end to end: a real npm registry upstream (verdaccio) seeded with `npm publish`;
//! mirrorkit mirrors from PURLs and from what `npm sbom` writes; the upstream is stopped; then,
//! in a network namespace with only loopback up, the real npm installs (`npm install`, `npm ci`)
//! from the published tree served by a plain file server (`python3 -m http.server`).

mod common;
#[path = "support/packages.rs"]
mod packages;

use std::path::{Path, PathBuf};

use common::{all_output, assert_exit, mirrorkit, report, run};
use mirrorkit_testkit::process::{offline, output_of};
use mirrorkit_testkit::verdaccio::{Verdaccio, npm_package};
use packages::{pairs, serving, versions};

/// Inside the namespace every port is free: the tree is served here.
const OFFLINE_PORT: u16 = 4873;

struct World {
    dir: tempfile::TempDir,
    upstream: Verdaccio,
}

/// leaf 1.0.0, 1.1.0 and 2.0.0-beta.1 (published last, so the upstream's `latest`), mid 1.0.0
/// (leaf ^1.0.0), @acme/util 1.0.0, top 1.0.0 (mid ^1.0.0, @acme/util ^1.0.0).
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Verdaccio::start();
    let src = dir.path().join("src");
    for (name, version, deps) in [
        ("leaf", "1.0.0", vec![]),
        ("leaf", "1.1.0", vec![]),
        ("leaf", "2.0.0-beta.1", vec![]),
        ("mid", "1.0.0", vec![("leaf", "^1.0.0")]),
        ("@acme/util", "1.0.0", vec![]),
        (
            "top",
            "1.0.0",
            vec![("mid", "^1.0.0"), ("@acme/util", "^1.0.0")],
        ),
    ] {
        upstream.publish(&npm_package(&src, name, version, &deps));
    }
    World { dir, upstream }
}

impl World {
    fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    /// `mirrorkit mirror ARGS --upstream npm=… --to tree --base-url … --format json`.
    fn mirror(&self, args: &[&str]) -> std::process::Output {
        let upstream = format!("npm={}", self.upstream.url());
        let base = format!("http://127.0.0.1:{OFFLINE_PORT}/");
        run(mirrorkit(self.dir.path())
            .arg("mirror")
            .args(args)
            .args(["--upstream", &upstream, "--to", "tree", "--base-url", &base])
            .args(["--format", "json"]))
    }

    /// A project depending on `top`, installed from the upstream, with what `npm sbom` writes
    /// for it in `format` (`cyclonedx` or `spdx`).
    fn app_sbom(&self, format: &str) -> PathBuf {
        let app = self.dir.path().join("app");
        if !app.join("package-lock.json").exists() {
            std::fs::create_dir_all(&app).unwrap();
            std::fs::write(
                app.join("package.json"),
                r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"top":"^1.0.0"}}"#,
            )
            .unwrap();
            output_of(npm(&app, "install").arg(format!("--registry={}", self.upstream.url())));
        }
        let sbom = output_of(npm(&app, "sbom").arg(format!("--sbom-format={format}")));
        let path = self.dir.path().join(format!("app.{format}.json"));
        std::fs::write(&path, sbom).unwrap();
        path
    }
}

fn npm(dir: &Path, command: &str) -> std::process::Command {
    let mut c = std::process::Command::new("npm");
    c.current_dir(dir)
        .arg(command)
        .args(["--no-audit", "--no-fund", "--no-update-notifier"])
        .arg(format!("--cache={}", dir.join(".npm-cache").display()));
    c
}

fn npm_flags(cache: &str) -> String {
    format!(
        "--registry=http://127.0.0.1:{OFFLINE_PORT}/npm/ --cache={cache} --no-audit --no-fund --no-update-notifier --fetch-retries=0"
    )
}

#[test]
fn packages_mirrored_from_an_npm_sbom_install_offline_with_npm_install_and_npm_ci() {
    let mut w = world();
    let sbom = w.app_sbom("cyclonedx");
    let out = w.mirror(&["--sbom", sbom.to_str().unwrap()]);
    assert_exit(&out, 0);
    let r = report(&out);
    // The SBOM's subject (the app itself) is reported, not fetched.
    assert_eq!(
        r["skipped_subjects"],
        serde_json::json!(["pkg:npm/app@1.0.0"])
    );
    assert_eq!(
        versions(&r),
        pairs(&[
            ("@acme/util@1.0.0", "published"),
            ("leaf@1.1.0", "published"),
            ("mid@1.0.0", "published"),
            ("top@1.0.0", "published"),
        ])
    );
    assert_eq!(r["summary"]["published"], 4);
    assert!(r["summary"]["bytes"].as_u64().unwrap() > 0);
    // SPDX output of the same project names the same packages.
    let spdx = w.app_sbom("spdx");
    let out = w.mirror(&["--sbom", spdx.to_str().unwrap(), "--dry-run"]);
    assert_exit(&out, 0);
    let planned: Vec<String> = versions(&report(&out))
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(
        planned,
        ["@acme/util@1.0.0", "leaf@1.1.0", "mid@1.0.0", "top@1.0.0"]
    );

    // The upstream goes away; a new project installs from the tree with the network gone.
    w.upstream.stop();
    let client = w.dir.path().join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(
        client.join("package.json"),
        r#"{"name":"client","version":"1.0.0","private":true,"dependencies":{"top":"^1.0.0"}}"#,
    )
    .unwrap();
    let script = serving(
        &w.tree(),
        OFFLINE_PORT,
        &format!(
            "cd {client:?}\nnpm install {}\nnode -e 'console.log(require(\"top\"), require(\"leaf\"))'\nrm -rf node_modules\nnpm ci {}\nnode -e 'console.log(require(\"top\"))'\n",
            npm_flags("cache-a"),
            npm_flags("cache-b"),
        ),
    );
    let out = offline(&script);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("top@1.0.0 leaf@1.1.0"), "{text}");
    // `npm ci` ran from the lockfile `npm install` wrote: the integrity of every package pinned.
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(client.join("package-lock.json")).unwrap()).unwrap();
    let leaf = &lock["packages"]["node_modules/leaf"];
    assert_eq!(leaf["version"], "1.1.0", "{lock}");
    assert!(
        leaf["integrity"].as_str().unwrap().starts_with("sha512-"),
        "{lock}"
    );
}

#[test]
fn with_dependencies_a_purl_brings_what_it_needs_and_npm_installs_it_offline() {
    let mut w = world();
    let out = w.mirror(&["pkg:npm/top@1.0.0", "--dependencies"]);
    assert_exit(&out, 0);
    // The highest version satisfying each range, as npm picks it: leaf ^1.0.0 is 1.1.0, not
    // the 2.0.0 beta the upstream calls latest.
    assert_eq!(
        versions(&report(&out)),
        pairs(&[
            ("@acme/util@1.0.0", "published"),
            ("leaf@1.1.0", "published"),
            ("mid@1.0.0", "published"),
            ("top@1.0.0", "published"),
        ])
    );
    w.upstream.stop();
    let client = w.dir.path().join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(
        client.join("package.json"),
        r#"{"name":"client","version":"1.0.0"}"#,
    )
    .unwrap();
    let out = offline(&serving(
        &w.tree(),
        OFFLINE_PORT,
        &format!(
            "cd {client:?}\nnpm install top@1.0.0 {}\nnode -e 'console.log(require(\"top\"))'",
            npm_flags("cache")
        ),
    ));
    let text = all_output(&out);
    assert!(out.status.success() && text.contains("top@1.0.0"), "{text}");
}

#[test]
fn dependencies_are_followed_to_max_packages_and_the_run_fails_naming_where_it_stopped() {
    let w = world();
    // top needs mid and @acme/util (3 packages), mid needs leaf: the fourth is left out.
    let out = w.mirror(&["pkg:npm/top@1.0.0", "--dependencies", "--max-packages", "3"]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_eq!(
        versions(&r),
        pairs(&[
            ("@acme/util@1.0.0", "published"),
            ("mid@1.0.0", "published"),
            ("top@1.0.0", "published"),
        ])
    );
    let leaf = r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "leaf")
        .unwrap_or_else(|| panic!("no report for leaf: {r:#}"));
    let error = leaf["error"].as_str().unwrap();
    assert!(
        error.contains("to 3 packages") && error.contains("needed by mid"),
        "{error}"
    );
    assert!(!w.tree().join("npm/leaf").exists());
}

#[test]
fn every_version_of_a_purl_without_one_and_a_warm_run_is_one_conditional_request() {
    let w = world();
    let out = w.mirror(&["pkg:npm/leaf"]);
    assert_exit(&out, 0);
    // Prereleases are left out unless asked for.
    assert_eq!(
        versions(&report(&out)),
        pairs(&[("leaf@1.0.0", "published"), ("leaf@1.1.0", "published")])
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.tree().join("npm/leaf/index.html")).unwrap())
            .unwrap();
    // The upstream's latest is the beta, not mirrored: latest is the newest mirrored release.
    assert_eq!(doc["dist-tags"], serde_json::json!({"latest": "1.1.0"}));
    assert_eq!(
        doc["versions"]["1.0.0"]["dist"]["tarball"],
        format!("http://127.0.0.1:{OFFLINE_PORT}/npm/leaf/-/leaf-1.0.0.tgz")
    );
    assert!(doc["versions"].get("2.0.0-beta.1").is_none());

    // A dry run reads the tree: what it publishes is `unchanged`, the rest `planned`.
    let out = w.mirror(&["pkg:npm/leaf", "--prereleases", "--dry-run"]);
    assert_exit(&out, 0);
    assert_eq!(
        versions(&report(&out)),
        pairs(&[
            ("leaf@1.0.0", "unchanged"),
            ("leaf@1.1.0", "unchanged"),
            ("leaf@2.0.0-beta.1", "planned"),
        ])
    );
    assert!(!w.tree().join("npm/leaf/-/leaf-2.0.0-beta.1.tgz").exists());

    let before = w.upstream.requests_settled().len();
    let out = w.mirror(&["pkg:npm/leaf"]);
    assert_exit(&out, 0);
    assert_eq!(
        versions(&report(&out)),
        pairs(&[("leaf@1.0.0", "unchanged"), ("leaf@1.1.0", "unchanged")])
    );
    let all = w.upstream.requests_settled();
    let warm: Vec<_> = all.iter().skip(before).collect();
    assert_eq!(
        warm,
        [&("GET".to_string(), "/leaf".to_string(), 304)],
        "one conditional request, nothing downloaded; every request: {all:#?}"
    );

    // Asked for, prereleases come too; what was published stays listed.
    let out = w.mirror(&["pkg:npm/leaf", "--prereleases"]);
    assert_exit(&out, 0);
    assert_eq!(
        versions(&report(&out)),
        pairs(&[
            ("leaf@1.0.0", "unchanged"),
            ("leaf@1.1.0", "unchanged"),
            ("leaf@2.0.0-beta.1", "published"),
        ])
    );
}

#[test]
fn a_tampered_upstream_tarball_is_refused_and_nothing_of_that_package_is_published() {
    let w = world();
    let tarball = w.upstream.storage("leaf").join("leaf-1.0.0.tgz");
    common::flip_last_byte(&tarball);
    let out = w.mirror(&["pkg:npm/leaf@1.0.0", "pkg:npm/mid@1.0.0"]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_eq!(
        versions(&r),
        pairs(&[("leaf@1.0.0", "failed"), ("mid@1.0.0", "published")])
    );
    let leaf = &r["packages"][0]["versions"][0]["error"];
    assert!(leaf.as_str().unwrap().contains("leaf-1.0.0.tgz"), "{leaf}");
    assert!(
        leaf.as_str().unwrap().to_lowercase().contains("sha512"),
        "{leaf}"
    );
    assert!(
        !w.tree().join("npm/leaf").exists(),
        "nothing of leaf is published"
    );
    assert!(w.tree().join("npm/mid/index.html").is_file());
}

#[test]
fn a_checksum_qualifier_pins_the_tarball_beside_the_registrys_integrity() {
    let w = world();
    // npm's integrity is SHA-512; a SHA-256 pin is checked on the downloaded tarball.
    let tgz = output_of(std::process::Command::new("python3").args([
        "-c",
        "import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())",
        &format!("{}leaf/-/leaf-1.0.0.tgz", w.upstream.url()),
    ]));
    let good = mirrorkit_testkit::registry::sha256_digest(&tgz);
    let out = w.mirror(&[&format!("pkg:npm/leaf@1.0.0?checksum={good}")]);
    assert_exit(&out, 0);
    assert_eq!(
        versions(&report(&out)),
        pairs(&[("leaf@1.0.0", "published")])
    );
    let wrong = mirrorkit_testkit::registry::sha256_digest(b"another file");
    let out = w.mirror(&[&format!("pkg:npm/leaf@1.1.0?checksum={wrong}")]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_eq!(versions(&r), pairs(&[("leaf@1.1.0", "failed")]));
    let error = r["packages"][0]["versions"][0]["error"].as_str().unwrap();
    assert!(error.contains("not the checksum qualifier's"), "{error}");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.tree().join("npm/leaf/index.html")).unwrap())
            .unwrap();
    assert!(doc["versions"].get("1.1.0").is_none(), "{doc}");
    assert!(w.tree().join("npm/leaf/-/leaf-1.0.0.tgz").is_file());
    assert!(!w.tree().join("npm/leaf/-/leaf-1.1.0.tgz").exists());
    // What the tree already holds is held to the pin too.
    let out = w.mirror(&[&format!("pkg:npm/leaf@1.0.0?checksum={wrong}")]);
    assert_exit(&out, 1);
    assert_eq!(versions(&report(&out)), pairs(&[("leaf@1.0.0", "failed")]));
    // A SHA-512 pin is compared with the registry's integrity before anything is fetched.
    let sha512 = format!("sha512:{}", "0".repeat(128));
    let out = w.mirror(&[&format!("pkg:npm/leaf@1.1.0?checksum={sha512}")]);
    assert_exit(&out, 1);
    let text = all_output(&out);
    assert!(text.contains("the registry's digest is sha512:"), "{text}");
}

#[test]
fn npm_refuses_a_tarball_tampered_in_the_published_tree() {
    let mut w = world();
    assert_exit(&w.mirror(&["pkg:npm/leaf@1.1.0"]), 0);
    w.upstream.stop();
    // Another valid tarball (leaf 1.0.0's) in 1.1.0's place: well-formed gzip, wrong content,
    // so what npm reports is its integrity check (a flipped byte may fail gzip's own check
    // first). The published file is a hard link into mirrorkit's store: replaced, not edited.
    let published = w.tree().join("npm/leaf/-/leaf-1.1.0.tgz");
    std::fs::remove_file(&published).unwrap();
    std::fs::copy(
        w.upstream.storage("leaf").join("leaf-1.0.0.tgz"),
        &published,
    )
    .unwrap();
    let client = w.dir.path().join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(
        client.join("package.json"),
        r#"{"name":"client","version":"1.0.0"}"#,
    )
    .unwrap();
    let out = offline(&serving(
        &w.tree(),
        OFFLINE_PORT,
        &format!(
            "cd {client:?}\nnpm install leaf@1.1.0 {}",
            npm_flags("cache")
        ),
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "npm installed a tampered tarball");
    assert!(stderr.contains("EINTEGRITY"), "{stderr}");
}

#[test]
fn an_https_registry_is_trusted_through_cert_dir_and_refused_with_69_otherwise() {
    let upstream = Verdaccio::start_tls();
    let dir = tempfile::tempdir().unwrap();
    upstream.publish(&npm_package(dir.path(), "leaf", "1.0.0", &[]));
    let upstream_flag = format!("npm={}", upstream.url());
    let args = [
        "mirror",
        "pkg:npm/leaf@1.0.0",
        "--upstream",
        &upstream_flag,
        "--base-url",
        "http://127.0.0.1:1/",
        "--format",
        "json",
    ];
    // No CA given: the certificate is not trusted, and the message says how to trust it.
    let out = run(common::mirrorkit_untrusting(dir.path()).args(args));
    assert_exit(&out, 69);
    let r = report(&out);
    let error = r["packages"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("certificate") && error.contains("--cert-dir"),
        "{error}"
    );
    assert!(!dir.path().join("packages/npm/leaf").exists());
    // The CA given with --cert-dir: verified and published.
    let cert_dir = mirrorkit_testkit::tls::test_ca().cert_dir();
    let out = run(common::mirrorkit_untrusting(dir.path())
        .args(args)
        .arg("--cert-dir")
        .arg(&cert_dir));
    assert_exit(&out, 0);
    assert_eq!(
        versions(&report(&out)),
        pairs(&[("leaf@1.0.0", "published")])
    );
}

#[test]
fn bad_input_is_refused_naming_where_it_is_and_unbuilt_parts_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |args: &[&str]| run(mirrorkit(dir.path()).arg("mirror").args(args));
    let base = ["--base-url", "http://127.0.0.1:1/"];
    let out = mk(&[&["pkg:npm/leaf@1.0.0", "npm:leaf"][..], &base].concat());
    assert_exit(&out, 65);
    assert!(String::from_utf8_lossy(&out.stderr).contains("argument 2"));
    std::fs::write(
        dir.path().join("bad.cdx.json"),
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"x","components":[{"purl":"pkg:maven/g/a@1"}]}]}"#,
    )
    .unwrap();
    let out = mk(&[&["--sbom", "bad.cdx.json"][..], &base].concat());
    assert_exit(&out, 65);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.cdx.json#/components/0/components/0/purl"),
        "{stderr}"
    );
    for (args, says) in [
        (
            &["pkg:npm/leaf", "--versions", "^^1"][..],
            "not an npm version range",
        ),
        (&["pkg:pypi/x", "--python", "3"][..], "MAJOR.MINOR"),
        (
            &["pkg:pypi/x", "--platform-tag", "linux x86"][..],
            "not a wheel platform tag",
        ),
        (&["--registry", "npm"][..], "never mirrored whole"),
        (
            &["pkg:pypi/x?file_name=x-1.0.tar.gz"][..],
            "name the version",
        ),
    ] {
        let out = mk(&[args, &base].concat());
        assert_exit(&out, 64);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = mk(&["pkg:npm/leaf"]);
    assert_exit(&out, 64);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--base-url"));
    assert!(!dir.path().join("packages").exists(), "nothing written");
}
