//! `mirrorkit sync` of `type: helm` sources, end to end through the binary: a classic repository
//! served by a local HTTP server, an OCI chart repository and the images charts use in a source
//! docker-registry, a chart directory; published into a target docker-registry (or a layout) and
//! checked with skopeo.
//!
//! Why one long file: it is the chart family's end-to-end suite, and its tests share one set of
//! fixtures (charts, a chart server, source and target registries); split it by source kind
//! (classic, OCI, directory) when it grows further.

mod common;

use std::path::Path;

use common::*;
use mirrorkit_testkit::charts::{
    HELM_CHART, HELM_CONFIG, HELM_PROV, IndexEntry, chart_layout, chart_tgz, chart_yaml, helm,
    index_yaml, sha256_hex, write_dir,
};
use mirrorkit_testkit::fileserver::FileServer;
use mirrorkit_testkit::registry::{
    Registry, sha256_digest, skopeo, skopeo_copy, skopeo_inspect_raw, two_platform_index,
};

/// The raw manifest at `reference`, parsed.
fn manifest(reference: &str) -> serde_json::Value {
    let raw = skopeo_inspect_raw(reference, &[]).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&raw).expect("manifest JSON")
}

/// Copy `reference` into a fresh OCI layout with skopeo and return a blob's bytes from it.
fn blob(reference: &str, digest: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("l");
    skopeo_copy(reference, &format!("oci:{}:x", layout.display())).unwrap();
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

/// Names of the entries of a gzip tar.
fn tar_names(tgz: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn sync(dir: &Path, spec: &Path, extra: &[&str]) -> std::process::Output {
    run(mirrorkit(dir)
        .arg("sync")
        .arg(spec)
        .args(["--format", "json"])
        .args(extra))
}

fn mirror_named<'a>(r: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    r["mirrors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .unwrap_or_else(|| panic!("no mirror {key} in {r}"))
}

/// Write requests (PUT, POST, PATCH, DELETE) in a registry's access log so far.
fn writes(reg: &Registry) -> usize {
    reg.log()
        .lines()
        .filter(|l| {
            ["\"PUT /v2/", "\"POST /v2/", "\"PATCH /v2/", "\"DELETE /v2/"]
                .iter()
                .any(|m| l.contains(m))
        })
        .count()
}

/// The files of a chart: path inside it → content.
type Files<'a> = &'a [(&'a str, &'a [u8])];

/// A classic repository: versions of chart `app` served with index.yaml.
struct Repo {
    dir: tempfile::TempDir,
    server: FileServer,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let server = FileServer::with_files(Vec::<(String, Vec<u8>)>::new());
        Repo { dir, server }
    }

    /// Add `app-<version>.tgz` and return its bytes.
    fn chart(&self, name: &str, version: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
        let tgz = chart_tgz(name, version, files);
        self.server
            .put(&format!("/{name}-{version}.tgz"), tgz.clone());
        tgz
    }

    fn index(&self, entries: &[IndexEntry<'_>]) {
        self.server
            .put("/index.yaml", index_yaml(entries).into_bytes());
    }

    /// Publish `charts` (name, version, files) as the whole repository: each archive as
    /// `<name>-<version>.tgz`, and an index.yaml listing them all with their digests.
    fn publish(&self, charts: &[(&str, &str, Files<'_>)]) {
        let urls: Vec<String> = charts
            .iter()
            .map(|(name, version, _)| format!("{name}-{version}.tgz"))
            .collect();
        let entries: Vec<IndexEntry<'_>> = charts
            .iter()
            .zip(&urls)
            .map(|((name, version, files), url)| IndexEntry {
                name,
                version,
                url,
                digest: Some(sha256_hex(&self.chart(name, version, files))),
            })
            .collect();
        self.index(&entries);
    }
}

#[test]
fn classic_repository_charts_become_helm_oci_artifacts() {
    let target = Registry::start();
    let repo = Repo::new();
    let v1 = repo.chart("app", "1.0.0", &[("values.yaml", b"replicas: 1\n")]);
    let chart_yaml_2 = chart_yaml(
        "app",
        "1.1.0+build.7",
        "appVersion: \"2.0\"\nmaintainers:\n- {name: Ops, email: ops@example.org}\n",
    );
    let v2 = repo.chart(
        "app",
        "1.1.0+build.7",
        &[("Chart.yaml", chart_yaml_2.as_bytes())],
    );
    // The provenance file records the archive's digest, as helm's does.
    let prov = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{chart_yaml_2}\n...\nfiles:\n  app-1.1.0+build.7.tgz: {}\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJl\n-----END PGP SIGNATURE-----\n",
        sha256_digest(&v2)
    );
    repo.server
        .put("/app-1.1.0+build.7.tgz.prov", prov.clone().into_bytes());
    let other = repo.chart("other", "9.9.9", &[]);
    repo.index(&[
        IndexEntry {
            name: "app",
            version: "1.0.0",
            url: "app-1.0.0.tgz",
            digest: Some(sha256_hex(&v1)),
        },
        IndexEntry {
            name: "app",
            version: "1.1.0+build.7",
            // Absolute URLs work too.
            url: &repo.server.url("/app-1.1.0+build.7.tgz"),
            digest: Some(sha256_hex(&v2)),
        },
        IndexEntry {
            name: "other",
            version: "9.9.9",
            url: "other-9.9.9.tgz",
            digest: Some(sha256_hex(&other)),
        },
    ]);
    let spec = write_spec(
        repo.dir.path(),
        format!(
            "target: {{registry: '{}', namespace: mirror, insecure: true}}\nmirrors:\n  app:\n    source: {{type: helm, repo: '{}', chart: app}}\n",
            target.host(),
            repo.server.url("/")
        ),
    );
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_statuses(&r, &[("1.0.0", "pushed"), ("1.1.0+build.7", "pushed")]);
    assert_eq!(r["mirrors"][0]["repository"], "mirror/charts/app");
    let versions = r["mirrors"][0]["versions"].as_array().unwrap();
    assert_eq!(versions[1]["tag"], "1.1.0_build.7");

    // What skopeo reads back: a Helm chart manifest whose layer is the upstream archive.
    for (version, tag, tgz) in [
        ("1.0.0", "1.0.0", &v1),
        ("1.1.0+build.7", "1.1.0_build.7", &v2),
    ] {
        let reference = target.docker_ref(&format!("mirror/charts/app:{tag}"));
        let raw = skopeo_inspect_raw(&reference, &[]).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(m["config"]["mediaType"], HELM_CONFIG);
        assert_eq!(m["layers"][0]["mediaType"], HELM_CHART);
        assert_eq!(m["layers"][0]["digest"], sha256_digest(tgz));
        assert_eq!(
            m["annotations"]["org.opencontainers.image.version"],
            version
        );
        assert_eq!(m["annotations"]["org.opencontainers.image.title"], "app");
        let v = versions.iter().find(|v| v["version"] == version).unwrap();
        assert_eq!(
            v["index_digest"],
            sha256_digest(&raw),
            "report names the manifest"
        );
        assert_eq!(
            &blob(&reference, &sha256_digest(tgz)),
            tgz,
            "archive byte for byte"
        );
        let config: serde_json::Value =
            serde_json::from_slice(&blob(&reference, m["config"]["digest"].as_str().unwrap()))
                .unwrap();
        assert_eq!(config["name"], "app");
        assert_eq!(config["version"], version);
        assert_eq!(config["apiVersion"], "v2");
    }
    let m2 = manifest(&target.docker_ref("mirror/charts/app:1.1.0_build.7"));
    assert_eq!(m2["layers"][1]["mediaType"], HELM_PROV);
    assert_eq!(m2["layers"][1]["digest"], sha256_digest(prov.as_bytes()));
    assert_eq!(
        m2["annotations"]["org.opencontainers.image.authors"],
        "Ops (ops@example.org)"
    );
    let m1 = manifest(&target.docker_ref("mirror/charts/app:1.0.0"));
    assert_eq!(
        m1["layers"].as_array().unwrap().len(),
        1,
        "no .prov, no layer"
    );
    assert!(
        skopeo(&[
            "list-tags",
            "--tls-verify=false",
            &target.docker_ref("mirror/charts/other")
        ])
        .is_err(),
        "only the chart asked for"
    );

    // Warm run: everything skipped, no archive downloaded again, nothing written.
    let downloads = repo.server.requests_for("/app-1.0.0.tgz").len();
    let written = writes(&target);
    assert!(
        written > 0,
        "the access log records writes: {}",
        target.log()
    );
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [
            ("1.0.0".into(), "skipped".into()),
            ("1.1.0+build.7".into(), "skipped".into())
        ]
    );
    assert_eq!(repo.server.requests_for("/app-1.0.0.tgz").len(), downloads);
    assert_eq!(
        writes(&target),
        written,
        "the warm run wrote to the registry"
    );

    // versions: a semver range, and {latest: N}.
    for (versions, expected) in [
        ("'>=1.1.0-0'", "1.1.0+build.7"),
        ("{latest: 1}", "1.1.0+build.7"),
        ("['1.0.0']", "1.0.0"),
    ] {
        let spec = write_spec(
            repo.dir.path(),
            format!(
                "target: {{registry: '{}', namespace: mirror, insecure: true}}\nmirrors:\n  app:\n    source: {{type: helm, repo: '{}', chart: app, versions: {versions}}}\n",
                target.host(),
                repo.server.url("/")
            ),
        );
        let out = sync(repo.dir.path(), &spec, &[]);
        assert_exit(&out, 0);
        assert_eq!(
            statuses(&report(&out)),
            [(expected.to_string(), "skipped".to_string())],
            "versions: {versions}"
        );
    }
}

#[test]
fn a_digest_mismatch_fails_that_version_and_tags_nothing() {
    let target = Registry::start();
    let repo = Repo::new();
    let good = repo.chart("app", "1.0.0", &[]);
    let bad = repo.chart("app", "2.0.0", &[]);
    repo.index(&[
        IndexEntry {
            name: "app",
            version: "1.0.0",
            url: "app-1.0.0.tgz",
            digest: Some(sha256_hex(&good)),
        },
        IndexEntry {
            name: "app",
            version: "2.0.0",
            url: "app-2.0.0.tgz",
            digest: Some(sha256_hex(b"something else")),
        },
    ]);
    let spec = write_spec(
        repo.dir.path(),
        format!(
            "target: {{registry: '{}', insecure: true}}\nmirrors:\n  app:\n    source: {{type: helm, repo: '{}', chart: app}}\n",
            target.host(),
            repo.server.url("/")
        ),
    );
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_statuses(&r, &[("1.0.0", "pushed"), ("2.0.0", "failed")]);
    let reason = r["mirrors"][0]["versions"][1]["reason"].as_str().unwrap();
    assert!(reason.contains("digest mismatch"), "{reason}");
    assert!(reason.contains(&sha256_digest(&bad)), "{reason}");
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &target.docker_ref("charts/app"),
    ])
    .unwrap();
    let tags: serde_json::Value = serde_json::from_slice(&tags).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["1.0.0"]));
    // Nothing of the bad archive reached the registry.
    let blob_dir = target.blob_dir(&sha256_hex(&bad));
    assert!(!blob_dir.exists(), "the mismatching archive was uploaded");
}

#[test]
fn malformed_index_or_chart_yaml_fails_that_mirror_and_the_others_go_on() {
    let target = Registry::start();
    let repo = Repo::new();
    let broken = tempfile::tempdir().unwrap();
    let broken_server = FileServer::start(broken.path());
    broken_server.put("/index.yaml", b"entries: [unclosed\n".to_vec());
    // A chart whose Chart.yaml has no version.
    let tgz = mirrorkit_testkit::charts::tar_gz(&[("bad/Chart.yaml", b"name: bad\n")]);
    repo.server.put("/bad-1.0.0.tgz", tgz.clone());
    let good = repo.chart("good", "1.0.0", &[]);
    repo.index(&[
        IndexEntry {
            name: "bad",
            version: "1.0.0",
            url: "bad-1.0.0.tgz",
            digest: Some(sha256_hex(&tgz)),
        },
        IndexEntry {
            name: "good",
            version: "1.0.0",
            url: "good-1.0.0.tgz",
            digest: Some(sha256_hex(&good)),
        },
    ]);
    let spec = write_spec(
        repo.dir.path(),
        format!(
            "target: {{registry: '{}', insecure: true}}\nmirrors:\n  a-broken-index:\n    source: {{type: helm, repo: '{}', chart: x}}\n  b-bad-chart:\n    source: {{type: helm, repo: '{url}', chart: bad}}\n  c-good:\n    source: {{type: helm, repo: '{url}', chart: good}}\n",
            target.host(),
            broken_server.url("/"),
            url = repo.server.url("/"),
        ),
    );
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 65);
    let r = report(&out);
    let e = mirror_named(&r, "a-broken-index")["error"].clone();
    assert_eq!(e["exit_code"], 65);
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("index.yaml"), "{msg}");
    let e = mirror_named(&r, "b-bad-chart")["error"].clone();
    assert_eq!(e["exit_code"], 65);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("bad-1.0.0.tgz") && msg.contains("Chart.yaml") && msg.contains("version"),
        "{msg}"
    );
    assert_eq!(
        mirror_named(&r, "c-good")["versions"][0]["status"],
        "pushed"
    );
    manifest(&target.docker_ref("charts/good:1.0.0"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a-broken-index"), "{stderr}");
}

#[test]
fn oci_chart_repositories_are_copied_as_they_are() {
    let source = Registry::start();
    let target = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for version in ["0.1.0", "0.2.0", "0.3.0"] {
        let tgz = chart_tgz("web", version, &[]);
        let config = format!(r#"{{"name":"web","version":"{version}","apiVersion":"v2"}}"#);
        let layout = dir.path().join(format!("layout-{version}"));
        let prov = (version == "0.3.0").then_some(&b"signed"[..]);
        let d = chart_layout(&layout, version, config.as_bytes(), &tgz, prov);
        skopeo_copy(
            &format!("oci:{}:{version}", layout.display()),
            &source.docker_ref(&format!("helm/web:{version}")),
        )
        .unwrap();
        digests.push(d);
    }
    let spec = write_spec(
        dir.path(),
        format!(
            "target: {{registry: '{}', namespace: mirror, insecure: true}}\nregistries:\n  '{src}': {{insecure: true}}\nmirrors:\n  web:\n    source: {{type: helm, repo: 'oci://{src}/helm', chart: web, versions: {{latest: 2}}}}\n",
            target.host(),
            src = source.host(),
        ),
    );
    let out = sync(dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [
            ("0.2.0".into(), "pushed".into()),
            ("0.3.0".into(), "pushed".into())
        ]
    );
    for (version, digest) in [("0.2.0", &digests[1]), ("0.3.0", &digests[2])] {
        let src =
            skopeo_inspect_raw(&source.docker_ref(&format!("helm/web:{version}")), &[]).unwrap();
        let dst = skopeo_inspect_raw(
            &target.docker_ref(&format!("mirror/charts/web:{version}")),
            &[],
        )
        .unwrap();
        assert_eq!(src, dst, "manifest bytes preserved");
        assert_eq!(&sha256_digest(&dst), digest);
    }
    let out = sync(dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [
            ("0.2.0".into(), "skipped".into()),
            ("0.3.0".into(), "skipped".into())
        ]
    );
}

/// A chart directory with a .helmignore.
fn demo_chart(dir: &Path) {
    write_dir(
        dir,
        &[
            (
                "Chart.yaml",
                chart_yaml("demo", "0.3.0", "appVersion: \"1.0\"\n").as_bytes(),
            ),
            ("values.yaml", b"replicas: 2\n"),
            ("templates/deployment.yaml", b"kind: Deployment\n"),
            ("templates/.editor-swap", b"x"),
            ("ci/values-test.yaml", b"x"),
            ("notes.bak", b"x"),
            (".helmignore", b"# packaging rules\n*.bak\nci/\n"),
        ],
    );
}

#[test]
fn a_chart_directory_is_packaged_honouring_helmignore() {
    let target = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    demo_chart(&dir.path().join("chart"));
    let spec = write_spec(
        dir.path(),
        format!(
            "target: {{registry: '{}', insecure: true}}\nmirrors:\n  demo:\n    source: {{type: helm, path: ./chart}}\n  local-layout:\n    target: {{layout: ./oci}}\n    source: {{type: helm, path: ./chart, chart: demo}}\n",
            target.host()
        ),
    );
    let out = sync(dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_statuses(&r, &[("0.3.0", "pushed")]);
    let reference = target.docker_ref("charts/demo:0.3.0");
    let m = manifest(&reference);
    assert_eq!(m["config"]["mediaType"], HELM_CONFIG);
    let tgz = blob(&reference, m["layers"][0]["digest"].as_str().unwrap());
    assert_eq!(
        tar_names(&tgz),
        [
            "demo/Chart.yaml",
            "demo/.helmignore",
            "demo/templates/deployment.yaml",
            "demo/values.yaml"
        ]
    );
    // The layout target holds the same artifact (the packaging is reproducible).
    let layout_raw = skopeo_inspect_raw(
        &format!("oci:{}:0.3.0", dir.path().join("oci/charts/demo").display()),
        &[],
    )
    .unwrap();
    let registry_raw = skopeo_inspect_raw(&reference, &[]).unwrap();
    assert_eq!(layout_raw, registry_raw);
    // Packaging again gives the same archive: the warm run skips.
    let out = sync(dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_statuses(&r, &[("0.3.0", "skipped")]);
    assert_eq!(
        mirror_named(&r, "local-layout")["versions"][0]["status"],
        "skipped"
    );
    // A different chart under the same version is not overwritten.
    std::fs::write(dir.path().join("chart/values.yaml"), b"replicas: 3\n").unwrap();
    let out = sync(dir.path(), &spec, &["--only", "demo"]);
    assert_exit(&out, 1);
    let reason = report(&out)["mirrors"][0]["versions"][0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("not overwritten"), "{reason}");
    assert_eq!(skopeo_inspect_raw(&reference, &[]).unwrap(), registry_raw);
}

/// Images in a source registry a chart refers to.
struct Images {
    registry: Registry,
    dir: tempfile::TempDir,
}

impl Images {
    fn new(refs: &[&str]) -> Images {
        let registry = Registry::start();
        let dir = tempfile::tempdir().unwrap();
        for (i, r) in refs.iter().enumerate() {
            let layout = dir.path().join(format!("img{i}"));
            two_platform_index(&layout, "t", r);
            skopeo_copy(
                &format!("oci:{}:t", layout.display()),
                &registry.docker_ref(r),
            )
            .unwrap();
        }
        Images { registry, dir }
    }
}

#[test]
fn chart_images_are_found_and_mirrored_under_the_namespace() {
    let images = Images::new(&[
        "acme/app:2.1",
        "tools/side:3",
        "library/redis:7",
        "extra/x:1",
    ]);
    let src = images.registry.host();
    let repo = Repo::new();
    let sub = chart_tgz(
        "cache",
        "0.1.0",
        &[(
            "values.yaml",
            format!("image: {src}/library/redis:7\n").as_bytes(),
        )],
    );
    let chart_yaml = chart_yaml(
        "app",
        "1.0.0",
        &format!(
            "appVersion: '2.1'\nannotations:\n  helm.sh/images: |\n    - name: side\n      image: {src}/tools/side:3\n"
        ),
    );
    let values = format!(
        "global:\n  imageRegistry: {src}\nimage:\n  repository: acme/app\n  tag: ''\n  pullPolicy: IfNotPresent\n"
    );
    let tgz = repo.chart(
        "app",
        "1.0.0",
        &[
            ("Chart.yaml", chart_yaml.as_bytes()),
            ("values.yaml", values.as_bytes()),
            ("charts/cache-0.1.0.tgz", &sub),
        ],
    );
    repo.index(&[IndexEntry {
        name: "app",
        version: "1.0.0",
        url: "app-1.0.0.tgz",
        digest: Some(sha256_hex(&tgz)),
    }]);
    let spec_for = |target: &Registry, extra: &str| {
        write_spec(
            repo.dir.path(),
            format!(
                "target: {{registry: '{}', namespace: mirror, insecure: true}}\nregistries:\n  '{src}': {{insecure: true}}\nmirrors:\n  app:\n    source: {{type: helm, repo: '{}', chart: app, images: true, extra_images: ['{src}/extra/x:1'{extra}]}}\n",
                target.host(),
                repo.server.url("/")
            ),
        )
    };
    let target = Registry::start();
    let spec = spec_for(&target, "");
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    let v = &r["mirrors"][0]["versions"][0];
    assert_eq!(v["status"], "pushed");
    let found: Vec<(String, Vec<String>, String)> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_string(),
                i["found_in"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_string())
                    .collect(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |image: &str, place: &str| {
        let hit = found
            .iter()
            .find(|(i, _, _)| i == &format!("{src}/{image}"))
            .unwrap_or_else(|| panic!("{image} not in {found:?}"));
        assert_eq!(hit.1, [place], "{image}");
        assert_eq!(hit.2, "pushed", "{image}");
    };
    expect("acme/app:2.1", "values.yaml");
    expect("tools/side:3", "Chart.yaml annotation helm.sh/images");
    expect("library/redis:7", "charts/cache/values.yaml");
    expect("extra/x:1", "extra_images");
    assert_eq!(found.len(), 4, "{found:?}");
    for i in v["images"].as_array().unwrap() {
        let path = i["image"].as_str().unwrap().replace(&format!("{src}/"), "");
        assert_eq!(i["target"], format!("mirror/{path}"), "{i}");
    }
    for image in [
        "acme/app:2.1",
        "tools/side:3",
        "library/redis:7",
        "extra/x:1",
    ] {
        let upstream = skopeo_inspect_raw(&images.registry.docker_ref(image), &[]).unwrap();
        let mirrored =
            skopeo_inspect_raw(&target.docker_ref(&format!("mirror/{image}")), &[]).unwrap();
        assert_eq!(upstream, mirrored, "{image}: index copied with its digest");
    }
    manifest(&target.docker_ref("mirror/charts/app:1.0.0"));
    // A bundle of the spec holds the chart and the images it uses, read from the target.
    let out = mirrorkit(repo.dir.path())
        .arg("export")
        .arg(&spec)
        .args(["-o", "bundle.tar"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let out = mirrorkit(repo.dir.path())
        .args(["bundle", "ls", "bundle.tar"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let listing = String::from_utf8_lossy(&out.stdout);
    for name in [
        "mirror/charts/app:1.0.0",
        "mirror/acme/app:2.1",
        "mirror/tools/side:3",
        "mirror/library/redis:7",
        "mirror/extra/x:1",
    ] {
        assert!(
            listing.contains(name),
            "{name} missing from the bundle:\n{listing}"
        );
    }
    // Warm: nothing to do, nothing written; the images of this archive are known, so it is
    // not downloaded again.
    let written = writes(&target);
    let before = repo.server.requests().len();
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    let fetched: Vec<String> = repo.server.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(fetched, ["/index.yaml"]);
    let r = report(&out);
    assert_eq!(r["mirrors"][0]["versions"][0]["status"], "skipped");
    assert!(
        r["mirrors"][0]["versions"][0]["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "skipped")
    );
    assert_eq!(
        r["mirrors"][0]["versions"][0]["images"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "the known images are all listed: {r}"
    );
    assert_eq!(
        writes(&target),
        written,
        "the warm run wrote to the registry"
    );

    // --charts-only and --images-only into fresh registries.
    let charts_only = Registry::start();
    let spec = spec_for(&charts_only, "");
    let out = sync(repo.dir.path(), &spec, &["--charts-only"]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert!(r["mirrors"][0]["versions"][0]["images"].is_null(), "{r}");
    manifest(&charts_only.docker_ref("mirror/charts/app:1.0.0"));
    charts_only.assert_no_manifest("mirror/acme/app:2.1");

    let images_only = Registry::start();
    let spec = spec_for(&images_only, "");
    let out = sync(repo.dir.path(), &spec, &["--images-only"]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(r["mirrors"][0]["versions"][0]["status"], "pushed");
    assert_eq!(
        r["mirrors"][0]["versions"][0]["images"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    images_only.assert_no_manifest("mirror/charts/app:1.0.0");
    skopeo_inspect_raw(&images_only.docker_ref("mirror/acme/app:2.1"), &[]).unwrap();

    // An image that does not exist fails the version, naming it; the others still arrive.
    let broken = Registry::start();
    let spec = spec_for(&broken, &format!(", '{src}/missing/y:1'"));
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 1);
    let r = report(&out);
    let v = &r["mirrors"][0]["versions"][0];
    assert_eq!(v["status"], "failed");
    assert!(
        v["reason"].as_str().unwrap().contains("missing/y:1"),
        "{}",
        v["reason"]
    );
    skopeo_inspect_raw(&broken.docker_ref("mirror/acme/app:2.1"), &[]).unwrap();
    drop(images.dir);
}

#[test]
fn file_repositories_into_a_layout_and_unverifiable_archives() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let v1 = chart_tgz("tool", "1.0.0", &[]);
    let v2 = chart_tgz("tool", "2.0.0", &[]);
    std::fs::write(repo_dir.join("tool-1.0.0.tgz"), &v1).unwrap();
    std::fs::write(repo_dir.join("tool-2.0.0.tgz"), &v2).unwrap();
    std::fs::write(
        repo_dir.join("index.yaml"),
        index_yaml(&[
            IndexEntry {
                name: "tool",
                version: "1.0.0",
                url: "tool-1.0.0.tgz",
                digest: Some(sha256_hex(&v1)),
            },
            // No digest: nothing can verify this archive.
            IndexEntry {
                name: "tool",
                version: "2.0.0",
                url: "tool-2.0.0.tgz",
                digest: None,
            },
        ]),
    )
    .unwrap();
    let spec_with = |extra: &str| {
        write_spec(
            dir.path(),
            format!(
                "target: {{layout: ./oci}}\nmirrors:\n  tool:\n    source: {{type: helm, repo: 'file://{}', chart: tool}}\n{extra}",
                repo_dir.display()
            ),
        )
    };
    let spec = spec_with("");
    // A dry run plans and downloads nothing.
    let rep = json_report(mirrorkit(dir.path()).arg("check").arg(&spec), 1);
    assert_statuses(&rep, &[("1.0.0", "planned"), ("2.0.0", "failed")]);
    assert!(!dir.path().join("oci").exists(), "a dry run writes nothing");

    let out = sync(dir.path(), &spec, &[]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_statuses(&r, &[("1.0.0", "pushed"), ("2.0.0", "failed")]);
    let reason = r["mirrors"][0]["versions"][1]["reason"].as_str().unwrap();
    assert!(reason.contains("no digest"), "{reason}");
    let layout = dir.path().join("oci/charts/tool");
    let m: serde_json::Value = serde_json::from_slice(
        &skopeo_inspect_raw(&format!("oci:{}:1.0.0", layout.display()), &[]).unwrap(),
    )
    .unwrap();
    assert_eq!(m["layers"][0]["digest"], sha256_digest(&v1));
    // The layout's own index names no 2.0.0.
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
    assert!(
        index.contains("\"1.0.0\"") && !index.contains("\"2.0.0\""),
        "{index}"
    );

    // Accepting unverified archives mirrors it, loudly.
    let spec = spec_with("    verify: {require: false}\n");
    let out = sync(dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_statuses(&r, &[("1.0.0", "skipped"), ("2.0.0", "pushed")]);
    let warnings = r["mirrors"][0]["versions"][1]["warnings"].to_string();
    assert!(warnings.contains("not verified"), "{warnings}");
}

/// The images of a version in a report: [(image, found_in, status)].
fn images_of(v: &serde_json::Value) -> Vec<(String, Vec<String>, String)> {
    v["images"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| {
                    (
                        i["image"].as_str().unwrap_or_default().to_string(),
                        i["found_in"]
                            .as_array()
                            .map(|f| {
                                f.iter()
                                    .map(|p| p.as_str().unwrap_or_default().to_string())
                                    .collect()
                            })
                            .unwrap_or_default(),
                        i["status"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn helm_template_finds_the_images_only_a_template_builds() {
    let images = Images::new(&["acme/app:2.1"]);
    let src = images.registry.host();
    let repo = Repo::new();
    // No `image:` in the values and no annotation: only rendering the template names the image.
    let deployment = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: \"{{ .Values.host }}/{{ .Values.appRepo }}:{{ .Chart.AppVersion }}\"\n";
    let good_yaml = chart_yaml("app", "1.0.0", "appVersion: '2.1'\n");
    let values = format!("host: {src}\nappRepo: acme/app\n");
    // The second chart does not render without a value the user must give.
    let failing_yaml = chart_yaml("app", "1.1.0", "appVersion: '2.1'\n");
    repo.publish(&[
        (
            "app",
            "1.0.0",
            &[
                ("Chart.yaml", good_yaml.as_bytes()),
                ("values.yaml", values.as_bytes()),
                ("templates/deployment.yaml", deployment),
            ],
        ),
        (
            "app",
            "1.1.0",
            &[
                ("Chart.yaml", failing_yaml.as_bytes()),
                ("values.yaml", values.as_bytes()),
                ("templates/deployment.yaml", deployment),
                (
                    "templates/secret.yaml",
                    b"kind: Secret\nstringData:\n  key: {{ required \"set .Values.apiKey\" .Values.apiKey }}\n",
                ),
            ],
        ),
    ]);
    let spec_for = |target: &Registry, mode: &str| {
        write_spec(
            repo.dir.path(),
            format!(
                "target: {{registry: '{}', namespace: mirror, insecure: true}}\nregistries:\n  '{src}': {{insecure: true}}\nmirrors:\n  app:\n    source: {{type: helm, repo: '{}', chart: app, images: true{mode}}}\n",
                target.host(),
                repo.server.url("/")
            ),
        )
    };
    let image = format!("{src}/acme/app:2.1");

    // auto (the default), with helm there: the rendered image is mirrored; the chart that does
    // not render is pushed with a warning naming helm's message.
    let target = Registry::start();
    let out = sync(repo.dir.path(), &spec_for(&target, ""), &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    let v = &r["mirrors"][0]["versions"];
    assert_eq!(v[0]["version"], "1.0.0");
    assert_eq!(
        images_of(&v[0]),
        [(
            image.clone(),
            vec!["helm template app/templates/deployment.yaml".to_string()],
            "pushed".to_string()
        )]
    );
    assert_eq!(v[1]["status"], "pushed");
    assert!(images_of(&v[1]).is_empty(), "{}", v[1]);
    let warnings = v[1]["warnings"].to_string();
    assert!(
        warnings.contains("helm template failed") && warnings.contains("set .Values.apiKey"),
        "{warnings}"
    );
    assert_eq!(
        skopeo_inspect_raw(&images.registry.docker_ref("acme/app:2.1"), &[]).unwrap(),
        skopeo_inspect_raw(&target.docker_ref("mirror/acme/app:2.1"), &[]).unwrap(),
    );

    // never: the image is not found.
    let target = Registry::start();
    let out = sync(
        repo.dir.path(),
        &spec_for(&target, ", helm_template: never"),
        &["--version", "1.0.0"],
    );
    assert_exit(&out, 0);
    let r = report(&out);
    // --version narrows the chart versions.
    assert_statuses(&r, &[("1.0.0", "pushed")]);
    assert!(images_of(&r["mirrors"][0]["versions"][0]).is_empty(), "{r}");
    target.assert_no_manifest("mirror/acme/app:2.1");

    // always: a chart that does not render fails its version (nothing of it is pushed); so does
    // a missing helm binary.
    let target = Registry::start();
    let spec = spec_for(&target, ", helm_template: always");
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 1);
    assert_eq!(
        statuses(&report(&out)),
        [
            ("1.0.0".into(), "pushed".into()),
            ("1.1.0".into(), "failed".into())
        ]
    );
    target.assert_no_manifest("mirror/charts/app:1.1.0");
    let out = run(mirrorkit(repo.dir.path())
        .env("MIRRORKIT_HELM", repo.dir.path().join("no-such-helm"))
        .arg("sync")
        .arg(&spec)
        .args(["--format", "json", "--version", "1.0.0"]));
    assert_exit(&out, 1);
    let reason = report(&out)["mirrors"][0]["versions"][0]["reason"].to_string();
    assert!(reason.contains("no-such-helm"), "{reason}");

    // A dry run renders too: `check` lists the image without pushing anything.
    let target = Registry::start();
    let out = run(mirrorkit(repo.dir.path())
        .arg("check")
        .arg(spec_for(&target, ""))
        .args(["--format", "json", "--version", "1.0.0"]));
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(
        images_of(&r["mirrors"][0]["versions"][0]),
        [(
            image,
            vec!["helm template app/templates/deployment.yaml".to_string()],
            "planned".to_string()
        )]
    );
    assert_eq!(writes(&target), 0);
}

#[test]
fn charts_helm_pushed_and_packaged_round_trip_through_helm() {
    let source = Registry::start();
    let target = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    demo_chart(&dir.path().join("chart"));
    // helm packages and pushes the chart to the source registry.
    helm(dir.path(), &["package", "chart", "-d", "pkg"]);
    let packaged = std::fs::read(dir.path().join("pkg/demo-0.3.0.tgz")).unwrap();
    helm(
        dir.path(),
        &[
            "push",
            "pkg/demo-0.3.0.tgz",
            &format!("oci://{}/helm", source.host()),
            "--plain-http",
        ],
    );
    let spec = write_spec(
        dir.path(),
        format!(
            "target: {{registry: '{}', namespace: mirror, insecure: true}}\nregistries:\n  '{src}': {{insecure: true}}\nmirrors:\n  from-oci:\n    source: {{type: helm, repo: 'oci://{src}/helm', chart: demo}}\n  from-dir:\n    source: {{type: helm, path: ./chart, charts_prefix: packaged}}\n",
            target.host(),
            src = source.host(),
        ),
    );
    let out = sync(dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    for d in ["pulled", "ours"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    // The OCI chart is copied as helm pushed it, and helm pulls the same archive back.
    assert_eq!(
        skopeo_inspect_raw(&source.docker_ref("helm/demo:0.3.0"), &[]).unwrap(),
        skopeo_inspect_raw(&target.docker_ref("mirror/charts/demo:0.3.0"), &[]).unwrap(),
    );
    helm(
        dir.path(),
        &[
            "pull",
            &format!("oci://{}/mirror/charts/demo", target.host()),
            "--version",
            "0.3.0",
            "--plain-http",
            "-d",
            "pulled",
        ],
    );
    assert_eq!(
        std::fs::read(dir.path().join("pulled/demo-0.3.0.tgz")).unwrap(),
        packaged
    );
    // Our packaging of the directory holds what `helm package` put in its archive, file by
    // file (helm re-serialises Chart.yaml, we keep it as written: helm reads the same metadata
    // from both), and helm pulls it and renders it as it renders its own.
    helm(
        dir.path(),
        &[
            "pull",
            &format!("oci://{}/mirror/packaged/demo", target.host()),
            "--version",
            "0.3.0",
            "--plain-http",
            "-d",
            "ours",
        ],
    );
    let ours = std::fs::read(dir.path().join("ours/demo-0.3.0.tgz")).unwrap();
    let without_chart_yaml = |tgz: &[u8]| {
        let mut files = tar_files(tgz);
        files.retain(|(name, _)| name != "demo/Chart.yaml");
        files
    };
    assert_eq!(without_chart_yaml(&ours), without_chart_yaml(&packaged));
    let ours_names: Vec<String> = tar_files(&ours).into_iter().map(|(n, _)| n).collect();
    let helms_names: Vec<String> = tar_files(&packaged).into_iter().map(|(n, _)| n).collect();
    assert_eq!(ours_names, helms_names);
    for what in [&["show", "chart"][..], &["template", "x"][..]] {
        let shown = |file: &str| {
            let mut args = what.to_vec();
            args.push(file);
            String::from_utf8(helm(dir.path(), &args)).unwrap()
        };
        let ours = shown("ours/demo-0.3.0.tgz");
        assert_eq!(ours, shown("pkg/demo-0.3.0.tgz"), "helm {what:?}");
        assert!(!ours.is_empty());
    }
}

/// The regular files of a gzip tar, sorted by name: [(name, bytes)].
fn tar_files(tgz: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut files: Vec<(String, Vec<u8>)> = a
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_private_classic_repository_gets_the_credentials_of_its_host_only() {
    use base64::Engine as _;
    let target = Registry::start();
    let repo = Repo::new();
    repo.publish(&[("app", "1.0.0", &[("values.yaml", b"replicas: 1\n")])]);
    let password = "s3cret-Pa55word";
    repo.server.require_basic_auth("ci", password);
    let repo_host = repo.server.addr().to_string();
    let spec_for = |insecure: bool| {
        write_spec(
            repo.dir.path(),
            format!(
                "target: {{registry: '{}', namespace: mirror, insecure: true}}\nregistries:\n  '{repo_host}': {{insecure: {insecure}}}\nmirrors:\n  app:\n    source: {{type: helm, repo: '{}', chart: app}}\n",
                target.host(),
                repo.server.url("/")
            ),
        )
    };
    let spec = spec_for(true);
    // No credentials: refused (77), naming the index and how to give them.
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 77);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("index.yaml: HTTP 401") && text.contains("no credentials were sent"),
        "{text}"
    );
    // The registry credentials of the repository's host, from the auth file (REGISTRY_AUTH_FILE,
    // which the test harness points here; docker's config.json has the same shape).
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("ci:{password}"));
    std::fs::write(
        repo.dir.path().join(".no-auth.json"),
        format!(r#"{{"auths": {{"{repo_host}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let before = repo.server.requests().len();
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(statuses(&report(&out)), [("1.0.0".into(), "pushed".into())]);
    let sent = &repo.server.requests()[before..];
    assert!(
        sent.len() >= 2 && sent.iter().all(|r| r.authorization),
        "{sent:?}"
    );
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(password));
    }
    manifest(&target.docker_ref("mirror/charts/app:1.0.0"));
    // The host not marked insecure: the credentials never go over plain HTTP.
    let before = repo.server.requests().len();
    let out = sync(repo.dir.path(), &spec_for(false), &[]);
    assert_exit(&out, 77);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("sent over https only"), "{text}");
    assert!(
        repo.server.requests()[before..]
            .iter()
            .all(|r| !r.authorization)
    );
}

#[test]
fn an_unchanged_index_is_asked_for_with_its_etag_and_not_downloaded_again() {
    let target = Registry::start();
    let repo = Repo::new();
    repo.server.set_etags(true);
    repo.publish(&[("app", "1.0.0", &[])]);
    let spec = write_spec(
        repo.dir.path(),
        format!(
            "target: {{registry: '{}', insecure: true}}\nmirrors:\n  app:\n    source: {{type: helm, repo: '{}', chart: app}}\n",
            target.host(),
            repo.server.url("/")
        ),
    );
    let index_requests = |from: usize| -> Vec<Option<String>> {
        repo.server.requests()[from..]
            .iter()
            .filter(|r| r.path == "/index.yaml")
            .map(|r| r.if_none_match.clone())
            .collect()
    };
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(index_requests(0), [None]);
    // Unchanged: asked for with its ETag, answered 304, read from the cache.
    let before = repo.server.requests().len();
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [("1.0.0".into(), "skipped".into())]
    );
    let sent = index_requests(before);
    assert!(matches!(sent.as_slice(), [Some(_)]), "{sent:?}");
    // A new version changes the index: it is downloaded and the new version found.
    repo.publish(&[("app", "1.0.0", &[]), ("app", "1.1.0", &[])]);
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [
            ("1.0.0".into(), "skipped".into()),
            ("1.1.0".into(), "pushed".into())
        ]
    );
    // A cached copy damaged behind mirrorkit's back is not used: the request goes out plainly.
    let found = std::process::Command::new("find")
        .arg(repo.dir.path())
        .args(["-name", "metadata.sqlite"])
        .output()
        .unwrap();
    let dbs: Vec<String> = String::from_utf8_lossy(&found.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(dbs.len(), 1, "{dbs:?}");
    let changed = rusqlite::Connection::open(&dbs[0])
        .unwrap()
        .execute(
            "UPDATE documents SET body = CAST('entries: {}' AS BLOB) WHERE kind = 'helm-index'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let before = repo.server.requests().len();
    let out = sync(repo.dir.path(), &spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(index_requests(before), [None]);
    assert_eq!(
        report(&out)["mirrors"][0]["versions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_lazyoci_mirror_yaml_runs_unchanged() {
    let images = Images::new(&["acme/app:2.1"]);
    let src = images.registry.host();
    let target = Registry::start();
    let repo = Repo::new();
    let values = format!("image: {src}/acme/app:2.1\n");
    let files: Files<'_> = &[("values.yaml", values.as_bytes())];
    repo.publish(&[
        ("app", "1.0.0", files),
        ("app", "1.1.0", files),
        ("app", "1.2.0", files),
    ]);
    // An OCI chart repository filled by helm itself, and a chart directory.
    let dir = repo.dir.path();
    demo_chart(&dir.join("demo"));
    helm(dir, &["package", "demo", "-d", "pkg"]);
    helm(
        dir,
        &[
            "push",
            "pkg/demo-0.3.0.tgz",
            &format!("oci://{src}/helm"),
            "--plain-http",
        ],
    );
    write_dir(
        &dir.join("charts/tool"),
        &[("Chart.yaml", chart_yaml("tool", "0.1.0", "").as_bytes())],
    );
    let spec = write_spec(
        dir,
        format!(
            "target:\n  url: {}/ns\n  insecure: true\n  charts-prefix: charts\n\nupstreams:\n  app:\n    type: repo\n    repo: {}\n    chart: app\n    versions:\n      - \"1.0.0\"\n      - \"1.1.0\"\n  web:\n    type: oci\n    registry: oci://{src}/helm\n    chart: demo\n    versions:\n      - \"0.3.0\"\n  tool:\n    type: local\n    path: ./charts/tool\n    chart: tool\n    versions:\n      - \"0.1.0\"\n",
            target.host(),
            repo.server.url("/"),
        ),
    );
    let insecure = ["--insecure-registry", src.as_str()];
    let out = sync(dir, &spec, &insecure);
    assert_exit(&out, 0);
    let r = report(&out);
    let pushed = |key: &str| -> Vec<String> {
        mirror_named(&r, key)["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["status"] == "pushed")
            .map(|v| v["version"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(pushed("app"), ["1.0.0", "1.1.0"]);
    assert_eq!(pushed("web"), ["0.3.0"]);
    assert_eq!(pushed("tool"), ["0.1.0"]);
    for reference in [
        "ns/charts/app:1.0.0",
        "ns/charts/app:1.1.0",
        "ns/charts/demo:0.3.0",
        "ns/charts/tool:0.1.0",
    ] {
        manifest(&target.docker_ref(reference));
    }
    // The image the chart uses, under the same URL.
    assert_eq!(
        skopeo_inspect_raw(&images.registry.docker_ref("acme/app:2.1"), &[]).unwrap(),
        skopeo_inspect_raw(&target.docker_ref("ns/acme/app:2.1"), &[]).unwrap()
    );
    // lazyoci's flags: `--chart KEY --version V` mirrors that version even outside the list.
    let out = sync(
        dir,
        &spec,
        &[
            insecure[0],
            insecure[1],
            "--chart",
            "app",
            "--version",
            "1.2.0",
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(statuses(&report(&out)), [("1.2.0".into(), "pushed".into())]);
    manifest(&target.docker_ref("ns/charts/app:1.2.0"));
    drop(images.dir);
}
