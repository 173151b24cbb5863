//! HTTPS registries in the tests: skopeo given the test CA (and client certificate) with
//! `--cert-dir`, so verification stays on in the checking client too.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};

use mirrorkit_testkit::registry::{Registry, sha256_digest, skopeo, umoci_image};
use mirrorkit_testkit::tls::test_ca;

use crate::common::noise;

/// A skopeo `--cert-dir` for the test CA, with the client certificate when `client` is set.
pub(crate) fn skopeo_cert_dir(dir: &Path, client: bool) -> PathBuf {
    let certs = dir.join(if client { "skopeo-mtls" } else { "skopeo-tls" });
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(test_ca().ca_cert(), certs.join("ca.crt")).unwrap();
    if client {
        std::fs::copy(test_ca().client_cert(), certs.join("client.cert")).unwrap();
        std::fs::copy(test_ca().client_key(), certs.join("client.key")).unwrap();
    }
    certs
}

/// Push a one-layer image to `registry` as `team/app:v1`; returns its manifest digest.
pub(crate) fn push_image(dir: &Path, registry: &Registry, client: bool) -> String {
    let layout = dir.join("image");
    umoci_image(&layout, "v1", "amd64", &noise(7, 100_000));
    let to_certs = format!("--dest-cert-dir={}", skopeo_cert_dir(dir, client).display());
    skopeo(&[
        "copy",
        "--quiet",
        &to_certs,
        &format!("oci:{}:v1", layout.display()),
        &registry.docker_ref("team/app:v1"),
    ])
    .unwrap();
    inspect(dir, registry, "team/app:v1", client).expect("pushed")
}

/// The manifest digest of `reference` in `registry`, read with verified certificates.
pub(crate) fn inspect(
    dir: &Path,
    registry: &Registry,
    reference: &str,
    client: bool,
) -> Option<String> {
    inspect_raw(dir, registry, reference, client).map(|raw| sha256_digest(&raw))
}

/// The manifest `reference` names in `registry`, as served, read with verified certificates.
pub(crate) fn inspect_raw(
    dir: &Path,
    registry: &Registry,
    reference: &str,
    client: bool,
) -> Option<Vec<u8>> {
    let certs = format!("--cert-dir={}", skopeo_cert_dir(dir, client).display());
    skopeo(&["inspect", "--raw", &certs, &registry.docker_ref(reference)]).ok()
}
