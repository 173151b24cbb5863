//! Image syncs between registries that speak HTTPS — and so HTTP/2, which Go's server negotiates
//! — with certificate verification on: mirrorkit trusts the test CA through `SSL_CERT_FILE`,
//! skopeo through `--cert-dir`; nothing is `insecure`.
//!
//! Over HTTP/2 every request to a host shares one connection and its flow-control window; a cold
//! sync of this shape once hung in 4 of 13 runs (streamed blob copies starving each other). The
//! runs below repeat a cold sync with large layers and few target slots, the conditions of that
//! hang; since the fix (the source is opened only when its upload pulls, and every upload runs
//! under a stall watchdog) a run either completes or fails an item, never waits forever.

mod common;

use std::path::Path;

use common::*;
use mirrorkit_testkit::registry::{Registry, skopeo, umoci_image};
use mirrorkit_testkit::tls::test_ca;

const REPOS: usize = 6;

/// `skopeo` arguments that verify the test registries' certificates.
fn verified() -> Vec<String> {
    vec![format!("--cert-dir={}", test_ca().cert_dir().display())]
}

/// Push `REPOS` one-layer images of 6 MiB of noise each into `src` (as `team/app<i>:v1`).
fn populate(dir: &Path, src: &Registry) {
    for i in 0..REPOS {
        let layout = dir.join(format!("image-{i}"));
        umoci_image(&layout, "v1", "amd64", &noise(i as u64 + 100, 6 << 20));
        let cert_dir = format!("--dest-cert-dir={}", test_ca().cert_dir().display());
        skopeo(&[
            "copy",
            "--quiet",
            &cert_dir,
            &format!("oci:{}:v1", layout.display()),
            &src.docker_ref(&format!("team/app{i}:v1")),
        ])
        .unwrap_or_else(|e| panic!("push app{i}: {e}"));
    }
}

fn digest(reference: &str) -> String {
    let mut args = vec!["inspect".to_string(), "--raw".to_string()];
    args.extend(verified());
    args.push(reference.to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let raw = skopeo(&args).unwrap_or_else(|e| panic!("{reference}: {e}"));
    mirrorkit_testkit::registry::sha256_digest(&raw)
}

#[test]
fn repeated_cold_image_syncs_over_https_complete_with_verified_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let src = Registry::start_tls();
    assert!(src.is_tls());
    populate(dir.path(), &src);
    for round in 0..3 {
        let dst = Registry::start_tls();
        let mirrors: String = (0..REPOS)
            .map(|i| {
                format!(
                    "  app{i}:\n    source: {{type: oci, image: '{}/team/app{i}'}}\n    repository: team/app{i}\n",
                    src.host()
                )
            })
            .collect();
        // One slot at the target: uploads queue there while the source keeps streaming.
        write_spec(
            dir.path(),
            format!(
                "target: {{registry: '{}', namespace: mirror}}\nregistries: {{'{}': {{concurrency: 1}}}}\nmirrors:\n{mirrors}",
                dst.host(),
                dst.host()
            ),
        );
        let out = run(mirrorkit(dir.path())
            .env("SSL_CERT_FILE", test_ca().ca_cert())
            .args(["sync", "mirror.yml", "--format", "json", "--work-dir"])
            .arg(format!("work-{round}")));
        assert_exit(&out, 0);
        let r = report(&out);
        assert_eq!(r["summary"]["pushed"], REPOS, "round {round}: {r}");
        for i in 0..REPOS {
            assert_eq!(
                digest(&dst.docker_ref(&format!("mirror/team/app{i}:v1"))),
                digest(&src.docker_ref(&format!("team/app{i}:v1"))),
                "round {round}: app{i}"
            );
        }
    }
}

#[test]
fn an_untrusted_certificate_is_refused_naming_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let src = Registry::start_tls();
    write_spec(
        dir.path(),
        format!(
            "target: {{layout: ./oci}}\nmirrors:\n  app:\n    source: {{type: oci, image: '{}/team/app'}}\n",
            src.host()
        ),
    );
    // No SSL_CERT_FILE: the test CA is not trusted.
    let out = run(mirrorkit(dir.path()).args(["sync", "mirror.yml"]));
    assert_exit(&out, 69);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&src.host()), "{stderr}");
    let index = dir.path().join("oci/team/app/index.json");
    if index.exists() {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
        assert_eq!(
            index["manifests"],
            serde_json::json!([]),
            "nothing was tagged"
        );
    }
}
