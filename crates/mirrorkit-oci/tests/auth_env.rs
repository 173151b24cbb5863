//! Credentials from `MIRRORKIT_REGISTRY_USERNAME` / `MIRRORKIT_REGISTRY_PASSWORD` against an
//! htpasswd registry. This binary holds one test, so setting the process environment is safe.

mod common;

use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_oci::Registry;
use mirrorkit_oci::target::{AnyTarget, Target as _};
use mirrorkit_testkit::registry::{self as tk, skopeo_inspect_raw};

#[tokio::test]
async fn env_credentials_open_an_htpasswd_registry() {
    let reg = tk::Registry::start_with_htpasswd("mirror", "s3cret-pass");
    // SAFETY: the only test in this process; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("MIRRORKIT_REGISTRY_USERNAME", "mirror");
        std::env::set_var("MIRRORKIT_REGISTRY_PASSWORD", "s3cret-pass");
    }
    let client = Registry::new(&reg.host(), true, common::http(2), Credentials::load()).unwrap();
    client.ping().await.unwrap();
    let client = AnyTarget::Registry(std::sync::Arc::new(client));

    let fixture = tempfile::tempdir().unwrap();
    let index = tk::two_platform_index(fixture.path(), "v1", "auth");
    let (bytes, json) = common::layout_json(fixture.path(), &index);
    for m in json["manifests"].as_array().unwrap() {
        let digest = m["digest"].as_str().unwrap();
        let (mbytes, manifest) = common::layout_json(fixture.path(), digest);
        let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
        blobs.extend(
            manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string()),
        );
        for b in blobs {
            let (path, size, d) = common::layout_blob(fixture.path(), &b);
            client
                .push_blob("secure/img", &d, size, &path)
                .await
                .unwrap();
        }
        client
            .push_manifest(
                "secure/img",
                digest,
                m["mediaType"].as_str().unwrap(),
                &mbytes,
            )
            .await
            .unwrap();
    }
    client
        .push_manifest(
            "secure/img",
            "v1",
            "application/vnd.oci.image.index.v1+json",
            &bytes,
        )
        .await
        .unwrap();
    assert_eq!(
        client.list_tags("secure/img").await.unwrap(),
        vec!["v1".to_string()]
    );

    let creds = reg.creds().unwrap();
    let served =
        skopeo_inspect_raw(&reg.docker_ref("secure/img:v1"), &["--creds", &creds]).unwrap();
    assert_eq!(served, bytes);
    // And skopeo without credentials is refused: the registry really is protected.
    assert!(skopeo_inspect_raw(&reg.docker_ref("secure/img:v1"), &[]).is_err());
}
