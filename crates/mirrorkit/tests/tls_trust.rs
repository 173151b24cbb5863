//! Trusting a registry's certificate authority, and presenting a client certificate, each of the
//! ways the README lists: a spec's `registries: {HOST: {ca_file, client_cert, client_key}}`,
//! `/etc/containers/certs.d/HOST/`, `--cert-dir`, and `SSL_CERT_FILE` (tested in `sync_tls`).
//! Verification stays on throughout: nothing here is `insecure`, and `SSL_CERT_FILE` is removed
//! from mirrorkit's environment so only the way under test can make the certificate trusted.

mod common;
#[path = "support/https.rs"]
mod https;

use std::path::{Path, PathBuf};

use common::*;
use https::{inspect, push_image};
use mirrorkit_testkit::registry::Registry;
use mirrorkit_testkit::tls::test_ca;

/// The digest the layout `oci/team/app` tags `v1` with.
fn layout_digest(dir: &Path) -> Option<String> {
    let index = std::fs::read(dir.join("oci/team/app/index.json")).ok()?;
    let index: serde_json::Value = serde_json::from_slice(&index).ok()?;
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .and_then(|m| m["digest"].as_str().map(str::to_string))
}

fn image_spec(dir: &Path, src: &Registry, registries: &str) {
    write_spec(
        dir,
        format!(
            "target: {{layout: ./oci}}\nregistries: {{{registries}}}\nmirrors:\n  app:\n    source: {{type: oci, image: '{}/team/app'}}\n    repository: team/app\n",
            src.host()
        ),
    );
}

fn sync(dir: &Path) -> std::process::Output {
    run(mirrorkit_untrusting(dir).args(["sync", "mirror.yml"]))
}

#[test]
fn a_registry_is_trusted_through_the_specs_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = Registry::start_tls();
    let digest = push_image(dir.path(), &src, false);
    std::fs::copy(test_ca().ca_cert(), dir.path().join("ca.pem")).unwrap();

    image_spec(dir.path(), &src, "");
    let out = sync(dir.path());
    assert_exit(&out, 69);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ca_file") && stderr.contains("certs.d") && stderr.contains(&src.host()),
        "says how to trust it: {stderr}"
    );
    assert_eq!(layout_digest(dir.path()), None);

    // Relative to the spec, like every path in it.
    image_spec(
        dir.path(),
        &src,
        &format!("'{}': {{ca_file: ca.pem}}", src.host()),
    );
    let out = sync(dir.path());
    assert_exit(&out, 0);
    assert_eq!(layout_digest(dir.path()), Some(digest));
}

/// `/etc/containers/certs.d/HOST:PORT/ca.crt`, as podman and skopeo read it. Skipped where this
/// process may not write there.
#[test]
fn a_registry_is_trusted_through_etc_containers_certs_d() {
    let dir = tempfile::tempdir().unwrap();
    let src = Registry::start_tls();
    let digest = push_image(dir.path(), &src, false);
    let host_dir = Path::new("/etc/containers/certs.d").join(src.host());
    // Remove what this test creates, and only that: the first missing directory on the way.
    let created = host_dir
        .ancestors()
        .take_while(|d| !d.exists())
        .last()
        .map(Path::to_path_buf);
    if std::fs::create_dir_all(&host_dir).is_err() {
        eprintln!("SKIPPED: cannot write {} (needs root)", host_dir.display());
        return;
    }
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Remove(created.unwrap_or_else(|| host_dir.clone()));
    // Written whole, then renamed: other tests' runs read certs.d too.
    let staged = host_dir.join("ca.staged");
    std::fs::copy(test_ca().ca_cert(), &staged).unwrap();
    std::fs::rename(&staged, host_dir.join("ca.crt")).unwrap();
    image_spec(dir.path(), &src, "");
    let out = sync(dir.path());
    assert_exit(&out, 0);
    assert_eq!(layout_digest(dir.path()), Some(digest));
}

#[test]
fn a_registry_that_requires_a_client_certificate_gets_the_one_the_spec_names() {
    let dir = tempfile::tempdir().unwrap();
    let src = Registry::start_tls();
    let dst = Registry::start_mtls();
    let digest = push_image(dir.path(), &src, false);
    let spec = |registries: String| {
        write_spec(
            dir.path(),
            format!(
                "target: {{registry: '{}', namespace: mirror}}\nregistries: {{{registries}}}\nmirrors:\n  app:\n    source: {{type: oci, image: '{}/team/app'}}\n    repository: team/app\n",
                dst.host(),
                src.host()
            ),
        );
    };
    let ca = test_ca().ca_cert();
    let trusted = format!(
        "'{}': {{ca_file: '{}'}}, '{}': {{ca_file: '{}'",
        src.host(),
        ca.display(),
        dst.host(),
        ca.display()
    );

    // Without a client certificate the target refuses the handshake: nothing is written.
    spec(format!("{trusted}}}"));
    let out = sync(dir.path());
    assert_exit(&out, 69);
    assert_eq!(inspect(dir.path(), &dst, "mirror/team/app:v1", true), None);

    spec(format!(
        "{trusted}, client_cert: '{}', client_key: '{}'}}",
        test_ca().client_cert().display(),
        test_ca().client_key().display()
    ));
    let out = sync(dir.path());
    assert_exit(&out, 0);
    assert_eq!(
        inspect(dir.path(), &dst, "mirror/team/app:v1", true),
        Some(digest)
    );
}

#[test]
fn copy_trusts_the_certificates_of_a_cert_dir() {
    let dir = tempfile::tempdir().unwrap();
    let src = Registry::start_tls();
    let digest = push_image(dir.path(), &src, false);
    let from = src.docker_ref("team/app:v1");
    let to = format!("oci:{}:v1", dir.path().join("copied").display());
    let out = run(mirrorkit_untrusting(dir.path()).args(["copy", &from, &to]));
    assert_exit(&out, 69);
    let out = run(mirrorkit_untrusting(dir.path())
        .args(["copy", &from, &to, "--cert-dir"])
        .arg(test_ca().cert_dir()));
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&digest));
}

#[test]
fn certificate_files_that_are_missing_or_not_pem_are_spec_errors_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.pem"), b"not a certificate").unwrap();
    let cases = [
        (
            "{ca_file: nowhere.pem}",
            "registries.r.example:5000.ca_file",
        ),
        ("{ca_file: junk.pem}", "registries.r.example:5000.ca_file"),
        (
            "{client_cert: junk.pem}",
            "registries.r.example:5000.client_cert",
        ),
    ];
    for (settings, field) in cases {
        write_spec(
            dir.path(),
            format!(
                "registries: {{'r.example:5000': {settings}}}\nmirrors:\n  app:\n    source: {{type: oci, image: 'r.example:5000/team/app'}}\n"
            ),
        );
        let out = run(mirrorkit(dir.path()).args(["validate", "mirror.yml"]));
        assert_exit(&out, 65);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(field), "{settings}: {stderr}");
    }
}
