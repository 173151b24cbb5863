//! Every family end to end against HTTPS registries with verification on: releases and charts
//! synced into a TLS docker-registry (trusted through the spec's `ca_file`), a bundle
//! exported from one TLS registry and imported into another (trusted through `--cert-dir`), and
//! an apt repository and a package file mirrored from an HTTPS server (trusted through
//! `ca_file`, refused without it).
//! Images over HTTPS are in `sync_tls.rs` and `tls_trust.rs`. What arrived is read back with
//! skopeo given the CA (`--cert-dir`), never with `--tls-verify=false`; `SSL_CERT_FILE` is removed
//! from mirrorkit's environment so only the way under test makes the certificate trusted.

mod common;
#[path = "support/https.rs"]
mod https;

use std::path::{Path, PathBuf};

use common::*;
use https::{HttpsFiles, inspect, inspect_raw, push_image};
use mirrorkit_testkit::charts::{chart_yaml, write_dir};
use mirrorkit_testkit::registry::Registry;
use mirrorkit_testkit::tls::test_ca;

/// A spec publishing `mirrors` into the TLS registry `target`, trusting it through `ca_file`.
fn spec_into(dir: &Path, target: &Registry, mirrors: &str) -> PathBuf {
    std::fs::copy(test_ca().ca_cert(), dir.join("ca.pem")).unwrap();
    let spec = dir.join("mirror.yml");
    std::fs::write(
        &spec,
        format!(
            "target: {{registry: '{host}'}}\nregistries: {{'{host}': {{ca_file: ca.pem}}}}\nmirrors:\n{mirrors}",
            host = target.host()
        ),
    )
    .unwrap();
    spec
}

/// `sync SPEC` with no `SSL_CERT_FILE`: only the spec can make the registry trusted. Must pass.
fn sync_verified(dir: &Path, spec: &Path) -> serde_json::Value {
    json_report(mirrorkit_untrusting(dir).arg("sync").arg(spec), 0)
}

#[test]
fn a_release_is_published_into_an_https_registry() {
    let dir = tempfile::tempdir().unwrap();
    let target = Registry::start_tls();
    copy_quickstart_assets(dir.path());
    let spec = spec_into(
        dir.path(),
        &target,
        "  hello:\n    source: {type: url_index, url: quickstart/index.json}\n    assets: {linux/amd64: ['^hello-.*-linux-amd64\\.tar\\.gz$']}\n    strip_components: 1\n",
    );
    let r = sync_verified(dir.path(), &spec);
    assert_eq!(r["summary"]["pushed"], 2, "{r:#}");
    for v in r["mirrors"][0]["versions"].as_array().unwrap() {
        let tag = format!("hello:{}", v["tag"].as_str().unwrap());
        assert_eq!(
            inspect(dir.path(), &target, &tag, false).as_deref(),
            v["index_digest"].as_str(),
            "{tag}"
        );
    }
}

#[test]
fn a_chart_is_published_into_an_https_registry() {
    let dir = tempfile::tempdir().unwrap();
    let target = Registry::start_tls();
    write_dir(
        &dir.path().join("chart"),
        &[
            ("Chart.yaml", chart_yaml("demo", "0.3.0", "").as_bytes()),
            ("values.yaml", b"replicas: 1\n"),
        ],
    );
    let spec = spec_into(
        dir.path(),
        &target,
        "  demo:\n    source: {type: helm, path: ./chart}\n",
    );
    let r = sync_verified(dir.path(), &spec);
    assert_statuses(&r, &[("0.3.0", "pushed")]);
    let raw = inspect_raw(dir.path(), &target, "charts/demo:0.3.0", false).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.helm.config.v1+json"
    );
}

#[test]
fn a_bundle_travels_between_https_registries() {
    let dir = tempfile::tempdir().unwrap();
    let src = Registry::start_tls();
    let dst = Registry::start_tls();
    let digest = push_image(dir.path(), &src, false);
    let bundle = dir.path().join("bundle.tar");
    let cert_dir = test_ca().cert_dir();

    // Untrusted, the export fails and writes nothing.
    let out = run(mirrorkit_untrusting(dir.path())
        .args(["export", &src.docker_ref("team/app:v1"), "-o"])
        .arg(&bundle));
    assert_exit(&out, 69);
    assert!(!bundle.exists());

    let out = run(mirrorkit_untrusting(dir.path())
        .args(["export", &src.docker_ref("team/app:v1"), "-o"])
        .arg(&bundle)
        .arg("--cert-dir")
        .arg(&cert_dir));
    assert_exit(&out, 0);
    let out = run(mirrorkit_untrusting(dir.path())
        .arg("import")
        .arg(&bundle)
        .args(["--to", &format!("docker://{}/mirror", dst.host())])
        .arg("--cert-dir")
        .arg(&cert_dir));
    assert_exit(&out, 0);
    assert_eq!(
        inspect(dir.path(), &dst, "mirror/team/app:v1", false),
        Some(digest)
    );
}

#[test]
fn an_apt_repository_and_a_package_file_come_from_an_https_server_trusted_through_ca_file() {
    use mirrorkit_testkit::apt_repo::{AptRepo, Deb};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = AptRepo::new(d);
    let hello = Deb::new("hello", "1.0", "amd64");
    repo.add(&hello);
    repo.publish();
    let tool = noise(3, 50_000);
    std::fs::write(repo.dir().join("tool.bin"), &tool).unwrap();
    let server = HttpsFiles::start(repo.dir());
    std::fs::copy(test_ca().ca_cert(), d.join("ca.pem")).unwrap();
    let spec = |trust: bool| {
        let registries = if trust {
            format!("registries: {{'{}': {{ca_file: ca.pem}}}}\n", server.host())
        } else {
            String::new()
        };
        common::write_spec(
            d,
            format!(
                "{registries}target: {{repos: {{root: ./repos}}, packages: ./pk, base_url: 'http://127.0.0.1:1/'}}\n\
                 mirrors:\n\
                 \x20 debian:\n    source: {{type: apt, url: '{o}/', suites: [stable], components: [main], architectures: [amd64], keyring: keyring.asc}}\n\
                 \x20 tool:\n    source: {{type: packages, purls: ['pkg:generic/tool@1.0?download_url={o}/tool.bin&checksum=sha256:{sha}']}}\n",
                o = server.origin(),
                sha = mirrorkit_testkit::charts::sha256_hex(&tool),
            ),
        )
    };
    // Not trusted: both mirrors fail naming the certificate problem; nothing is published.
    let out = run(mirrorkit_untrusting(d)
        .arg("sync")
        .arg(spec(false))
        .args(["--format", "json"]));
    assert!(!out.status.success(), "{}", all_output(&out));
    let text = all_output(&out).to_lowercase();
    assert!(text.contains("certificate"), "{text}");
    assert!(!d.join("repos/mirror/debian").exists());
    assert!(!d.join("pk/generic/tool").exists());
    // Trusted through the spec's ca_file: verified and published.
    let r = sync_verified(d, &spec(true));
    assert_eq!(r["summary"]["failed"], 0, "{r:#}");
    assert!(
        d.join("repos/mirror/debian/dists/stable/InRelease")
            .is_file()
    );
    assert!(
        d.join("repos/mirror/debian")
            .join(hello.pool_path())
            .is_file()
    );
    assert_eq!(
        std::fs::read(d.join("pk/generic/tool/1.0/tool.bin")).unwrap(),
        tool
    );
}

#[test]
fn a_private_https_upstream_gets_the_spec_credentials_and_they_show_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = d.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let tool = noise(5, 20_000);
    std::fs::write(files.join("tool.bin"), &tool).unwrap();
    let server = HttpsFiles::start_with(&files, Some("mirror:s3cr3t-pass"));
    std::fs::copy(test_ca().ca_cert(), d.join("ca.pem")).unwrap();
    let spec = common::write_spec(
        d,
        format!(
            "registries: {{'{host}': {{ca_file: ca.pem, username_env: UP_USER, password_env: UP_PASS}}}}\n\
             target: {{packages: ./pk, base_url: 'http://127.0.0.1:1/'}}\n\
             mirrors:\n  tool:\n    source: {{type: packages, purls: ['pkg:generic/tool@1.0?download_url={o}/tool.bin&checksum=sha256:{sha}']}}\n",
            host = server.host(),
            o = server.origin(),
            sha = mirrorkit_testkit::charts::sha256_hex(&tool),
        ),
    );
    let sync = |password: &str| {
        run(mirrorkit_untrusting(d)
            .args(["sync", "--format", "json"])
            .arg(&spec)
            .env("UP_USER", "mirror")
            .env("UP_PASS", password))
    };
    // A wrong password: refused by the server, 77, the password in no output.
    let out = sync("wrong-pass");
    assert_exit(&out, 77);
    assert!(
        !all_output(&out).contains("wrong-pass"),
        "{}",
        all_output(&out)
    );
    let out = sync("s3cr3t-pass");
    assert_exit(&out, 0);
    assert!(!all_output(&out).contains("s3cr3t"));
    assert_eq!(
        std::fs::read(d.join("pk/generic/tool/1.0/tool.bin")).unwrap(),
        tool
    );
    // Nothing written by the run holds it either.
    for e in walk(d) {
        let bytes = std::fs::read(&e).unwrap_or_default();
        assert!(
            !bytes.windows(11).any(|w| w == b"s3cr3t-pass"),
            "{} holds the password",
            e.display()
        );
    }
}

/// Every file under `dir` (the test's own key material and spec included).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
