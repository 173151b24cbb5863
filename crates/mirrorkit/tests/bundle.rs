//! Bundles end to end: export from a real docker-registry (and from a spec), import into another,
//! digests checked with skopeo; interoperability with skopeo's own layouts; deltas; split
//! archives; and hostile archives built here, which must be refused with nothing tagged.
//!
//! Why one long file: export and import are tested as a round trip, sharing the fixtures at the
//! top.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::{assert_exit, mirrorkit, noise, report, run, write_spec};
use mirrorkit_testkit::registry::{
    Registry, sha256_digest, skopeo_copy_with, skopeo_inspect_raw, two_platform_index, umoci_image,
};

const TLS: [&str; 2] = ["--src-tls-verify=false", "--dest-tls-verify=false"];

/// Push a two-platform index into `registry` as `repo:tag`; returns its digest.
fn push_index(registry: &Registry, dir: &Path, repo: &str, tag: &str, seed: &str) -> String {
    let layout = dir.join(format!("src-{seed}"));
    let digest = two_platform_index(&layout, tag, seed);
    skopeo_copy_with(
        &format!("oci:{}:{tag}", layout.display()),
        &registry.docker_ref(&format!("{repo}:{tag}")),
        &["--all", TLS[1]],
    )
    .unwrap();
    digest
}

fn raw_digest(registry: &Registry, reference: &str) -> Option<String> {
    skopeo_inspect_raw(&registry.docker_ref(reference), &["--tls-verify=false"])
        .ok()
        .map(|b| sha256_digest(&b))
}

fn tags(registry: &Registry, repo: &str) -> Vec<String> {
    registry.tags(repo)
}

fn mk(dir: &Path, args: &[&str]) -> std::process::Output {
    run(mirrorkit(dir).args(args))
}

#[test]
fn a_round_trip_through_an_archive_keeps_every_digest_and_skopeo_reads_the_bundle() {
    let a = Registry::start();
    let b = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let d1 = push_index(&a, dir.path(), "team/app", "1.0", "one");
    let d2 = push_index(&a, dir.path(), "team/app", "2.0", "two");
    let d3 = push_index(&a, dir.path(), "tools/cli", "v1", "cli");
    let refs = [
        a.docker_ref("team/app:1.0"),
        a.docker_ref("team/app:2.0"),
        a.docker_ref("tools/cli:v1"),
    ];
    let host = a.host();
    let mut args = vec!["export"];
    args.extend(refs.iter().map(String::as_str));
    args.extend([
        "--output",
        "b.tar.zst",
        "--compress",
        "zstd",
        "--insecure-registry",
        &host,
    ]);
    let out = mk(dir.path(), &args);
    assert_exit(&out, 0);
    // Deterministic: the same inputs give the same bytes.
    let mut again = args.clone();
    let pos = again.iter().position(|a| *a == "b.tar.zst").unwrap();
    again[pos] = "b2.tar.zst";
    assert_exit(&mk(dir.path(), &again), 0);
    assert_eq!(
        std::fs::read(dir.path().join("b.tar.zst")).unwrap(),
        std::fs::read(dir.path().join("b2.tar.zst")).unwrap()
    );

    let out = mk(
        dir.path(),
        &["bundle", "ls", "b.tar.zst", "--format", "json"],
    );
    assert_exit(&out, 0);
    let ls = report(&out);
    assert_eq!(ls["tags"].as_array().unwrap().len(), 3);
    let item = ls["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tags"][0] == "1.0")
        .unwrap();
    assert_eq!(item["source"], refs[0]);
    assert_eq!(item["repository"], "team/app");
    assert_eq!(item["digest"], d1);
    assert_exit(&mk(dir.path(), &["bundle", "verify", "b.tar.zst"]), 0);

    // Dry run: says what would happen, writes nothing.
    let to = format!("docker://{}/imported", b.host());
    let out = mk(
        dir.path(),
        &[
            "import",
            "b.tar.zst",
            "--to",
            &to,
            "--dry-run",
            "--insecure-registry",
            &b.host(),
        ],
    );
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry run: 3 added"));
    assert!(tags(&b, "imported/team/app").is_empty());

    let import = |format: &str| {
        let out = mk(
            dir.path(),
            &[
                "import",
                "b.tar.zst",
                "--to",
                &to,
                "--insecure-registry",
                &b.host(),
                "--format",
                format,
            ],
        );
        assert_exit(&out, 0);
        out
    };
    import("plain");
    assert_eq!(raw_digest(&b, "imported/team/app:1.0").unwrap(), d1);
    assert_eq!(raw_digest(&b, "imported/team/app:2.0").unwrap(), d2);
    assert_eq!(raw_digest(&b, "imported/tools/cli:v1").unwrap(), d3);
    // Importing again changes nothing and sends nothing (said in the table and in the JSON
    // report, which follows `schema import-report`).
    let text = String::from_utf8_lossy(&import("plain").stdout).to_string();
    assert!(text.contains("0 added, 0 updated, 3 unchanged"), "{text}");
    assert!(text.contains("0 blobs sent"), "{text}");
    let r = report(&import("json"));
    assert_eq!(r["blobs_sent"], 0, "{r:#}");
    assert_eq!(r["dry_run"], false);
    let statuses: Vec<&str> = r["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["unchanged"; 3], "{r:#}");

    // skopeo reads an exported layout directory by `repository:tag`.
    assert_exit(
        &mk(
            dir.path(),
            &[
                "export",
                &refs[0],
                "--output",
                "layout",
                "--format",
                "oci-layout",
                "--insecure-registry",
                &host,
            ],
        ),
        0,
    );
    skopeo_copy_with(
        &format!("oci:{}:team/app:1.0", dir.path().join("layout").display()),
        &b.docker_ref("via-skopeo/app:1.0"),
        &["--all", TLS[1]],
    )
    .unwrap();
    assert_eq!(raw_digest(&b, "via-skopeo/app:1.0").unwrap(), d1);
}

#[test]
fn layouts_written_by_skopeo_import_and_a_spec_exports_its_repositories() {
    let a = Registry::start();
    let b = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let d = push_index(&a, dir.path(), "lib/thing", "3.1", "x");
    let layout = dir.path().join("from-skopeo");
    skopeo_copy_with(
        &a.docker_ref("lib/thing:3.1"),
        &format!("oci:{}:3.1", layout.display()),
        &["--all", TLS[0]],
    )
    .unwrap();
    // skopeo's entries name only a tag: the repository must be given.
    let to = format!("docker://{}", b.host());
    let out = mk(
        dir.path(),
        &[
            "import",
            "from-skopeo",
            "--to",
            &to,
            "--insecure-registry",
            &b.host(),
        ],
    );
    assert_exit(&out, 64);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--repository"));
    let out = mk(
        dir.path(),
        &[
            "import",
            "from-skopeo",
            "--to",
            &to,
            "--repository",
            "lib/thing",
            "--insecure-registry",
            &b.host(),
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(raw_digest(&b, "lib/thing:3.1").unwrap(), d);

    // A spec: every tag of its mirrors' repositories, read from its target.
    write_spec(
        dir.path(),
        format!(
            "target: {{registry: '{}', insecure: true}}\nmirrors:\n  thing:\n    repository: lib/thing\n    source: {{type: url_index, versions: {{}}}}\n    assets: {{linux/amd64: [x]}}\n",
            a.host()
        ),
    );
    let out = mk(
        dir.path(),
        &["export", "mirror.yml", "-o", "spec.tar", "--json"],
    );
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(r["tags"], 1);
    let out = mk(dir.path(), &["bundle", "ls", "spec.tar"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("from spec mirror.yml"), "{text}");
    assert!(text.contains(&format!("lib/thing:3.1  {d}")), "{text}");
}

#[test]
fn a_delta_holds_only_what_the_base_lacked_and_needs_the_base_on_the_target() {
    let a = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    // Two tags of one image share their layers; the second export adds a new tag whose image
    // reuses the first one's layers (same content, new config via a different tag layout).
    let src = dir.path().join("src");
    umoci_image(&src, "1", "amd64", &noise(1, 600_000));
    skopeo_copy_with(
        &format!("oci:{}:1", src.display()),
        &a.docker_ref("app:1"),
        &[TLS[1]],
    )
    .unwrap();
    let host = a.host();
    let full = mk(
        dir.path(),
        &[
            "export",
            &a.docker_ref("app:1"),
            "-o",
            "full.tar",
            "--insecure-registry",
            &host,
        ],
    );
    assert_exit(&full, 0);
    // The same image under a second tag, plus a new image.
    skopeo_copy_with(&a.docker_ref("app:1"), &a.docker_ref("app:1-copy"), &TLS).unwrap();
    umoci_image(&src, "2", "amd64", &noise(2, 600_000));
    skopeo_copy_with(
        &format!("oci:{}:2", src.display()),
        &a.docker_ref("app:2"),
        &[TLS[1]],
    )
    .unwrap();
    let out = mk(
        dir.path(),
        &[
            "export",
            &a.docker_ref("app:1"),
            &a.docker_ref("app:1-copy"),
            &a.docker_ref("app:2"),
            "-o",
            "delta.tar",
            "--since",
            "full.tar",
            "--insecure-registry",
            &host,
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let r = report(&out);
    assert!(r["base_blobs"].as_u64().unwrap() >= 2, "{r}");
    let full_size = std::fs::metadata(dir.path().join("full.tar"))
        .unwrap()
        .len();
    let delta_size = std::fs::metadata(dir.path().join("delta.tar"))
        .unwrap()
        .len();
    assert!(
        delta_size < full_size * 3 / 2,
        "{delta_size} vs {full_size}"
    );

    // On an empty target the delta is refused, naming what is missing, and nothing is tagged.
    let c = Registry::start();
    let to = format!("docker://{}", c.host());
    let out = mk(
        dir.path(),
        &[
            "import",
            "delta.tar",
            "--to",
            &to,
            "--insecure-registry",
            &c.host(),
        ],
    );
    assert_exit(&out, 65);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("delta bundle") && err.contains("app@sha256:"),
        "{err}"
    );
    assert!(tags(&c, "app").is_empty());
    // Base first, then the delta.
    for b in ["full.tar", "delta.tar"] {
        assert_exit(
            &mk(
                dir.path(),
                &["import", b, "--to", &to, "--insecure-registry", &c.host()],
            ),
            0,
        );
    }
    for t in ["app:1", "app:1-copy", "app:2"] {
        assert_eq!(raw_digest(&c, t), raw_digest(&a, t), "{t}");
    }
}

#[test]
fn a_split_archive_is_read_back_from_its_parts() {
    let a = Registry::start();
    let b = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    umoci_image(&src, "big", "amd64", &noise(5, 3 << 20));
    skopeo_copy_with(
        &format!("oci:{}:big", src.display()),
        &a.docker_ref("big:1"),
        &[TLS[1]],
    )
    .unwrap();
    let out = mk(
        dir.path(),
        &[
            "export",
            &a.docker_ref("big:1"),
            "-o",
            "media/bundle.tar",
            "--split",
            "1MiB",
            "--insecure-registry",
            &a.host(),
        ],
    );
    assert_exit(&out, 0);
    let parts: Vec<PathBuf> = (0..10)
        .map(|i| dir.path().join(format!("media/bundle.tar.part{i:03}")))
        .filter(|p| p.exists())
        .collect();
    assert!(parts.len() >= 3, "{parts:?}");
    assert!(
        parts
            .iter()
            .all(|p| std::fs::metadata(p).unwrap().len() <= 1 << 20)
    );
    assert_exit(
        &mk(
            dir.path(),
            &["bundle", "verify", "media/bundle.tar.part000"],
        ),
        0,
    );
    let to = format!("docker://{}", b.host());
    assert_exit(
        &mk(
            dir.path(),
            &[
                "import",
                "media/bundle.tar",
                "--to",
                &to,
                "--insecure-registry",
                &b.host(),
            ],
        ),
        0,
    );
    assert_eq!(raw_digest(&b, "big:1"), raw_digest(&a, "big:1"));
    // A missing part is a truncated archive: refused.
    std::fs::remove_file(parts.last().unwrap()).unwrap();
    let out = mk(dir.path(), &["bundle", "verify", "media/bundle.tar"]);
    assert_exit(&out, 65);
}

/// A tar built entry by entry, bypassing the tar crate's path checks where a test needs to.
struct Hostile(tar::Builder<Vec<u8>>);

impl Hostile {
    fn new() -> Hostile {
        Hostile(tar::Builder::new(Vec::new()))
    }

    fn file(mut self, name: &str, content: &[u8]) -> Hostile {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        self.0.append(&h, content).unwrap();
        self
    }

    fn special(mut self, name: &str, kind: tar::EntryType, link: Option<&str>) -> Hostile {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_entry_type(kind);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        self.0.append(&h, std::io::empty()).unwrap();
        self
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// The files of a valid one-image bundle: (name, content).
fn valid_bundle_files() -> Vec<(String, Vec<u8>)> {
    let layer = b"layer-bytes".to_vec();
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let ld = sha256_digest(&layer);
    let cd = sha256_digest(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
    }))
    .unwrap();
    let md = sha256_digest(&manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "evil/app:1"},
        }],
    }))
    .unwrap();
    let blob = |d: &str, b: &[u8]| (format!("blobs/sha256/{}", &d[7..]), b.to_vec());
    vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".into(), index),
        blob(&cd, &config),
        blob(&ld, &layer),
        blob(&md, &manifest),
    ]
}

fn archive_of(files: &[(String, Vec<u8>)], extra: impl FnOnce(Hostile) -> Hostile) -> Vec<u8> {
    let mut t = Hostile::new();
    for (n, c) in files {
        t = t.file(n, c);
    }
    extra(t).bytes()
}

#[test]
fn hostile_archives_are_refused_with_65_and_nothing_is_tagged() {
    let b = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let good = valid_bundle_files();
    let to = format!("docker://{}", b.host());

    // The valid bundle imports: the hostile variants below are refused for their defect only.
    std::fs::write(dir.path().join("good.tar"), archive_of(&good, |t| t)).unwrap();
    let c = Registry::start();
    assert_exit(
        &mk(
            dir.path(),
            &[
                "import",
                "good.tar",
                "--to",
                &format!("docker://{}", c.host()),
                "--insecure-registry",
                &c.host(),
            ],
        ),
        0,
    );
    assert_eq!(tags(&c, "evil/app"), ["1"]);

    let mut wrong_blob = good.clone();
    wrong_blob[3].1 = b"other-bytes".to_vec(); // the layer's content no longer matches its name
    let mut oversize = good.clone();
    oversize[3].1 = b"layer-bytes-and-more".to_vec();
    let oversize_name = format!("blobs/sha256/{}", &sha256_digest(&oversize[3].1)[7..]);
    oversize[3].0 = oversize_name; // content matches its own name, but not the descriptor
    let mut newer = good.clone();
    newer.push((
        "mirrorkit-bundle.json".into(),
        br#"{"format": 7, "id": "x", "created_by": "mirrorkit 9", "items": [], "blobs": []}"#
            .to_vec(),
    ));
    let truncated = {
        let full = archive_of(&good, |t| t);
        full[..full.len() / 2].to_vec()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            archive_of(&good, |t| t.file("../escape", b"x")),
            "`..`",
        ),
        (
            "absolute",
            archive_of(&good, |t| t.file("/tmp/escape", b"x")),
            "absolute",
        ),
        (
            "symlink",
            archive_of(&good, |t| {
                t.special(
                    "blobs/sha256/link",
                    tar::EntryType::Symlink,
                    Some("/etc/passwd"),
                )
            }),
            "Symlink",
        ),
        (
            "hardlink",
            archive_of(&good, |t| {
                t.special(
                    "blobs/sha256/hard",
                    tar::EntryType::Link,
                    Some("/etc/passwd"),
                )
            }),
            "Link",
        ),
        (
            "device",
            archive_of(&good, |t| {
                t.special("blobs/sha256/dev", tar::EntryType::Char, None)
            }),
            "Char",
        ),
        (
            "stray file",
            archive_of(&good, |t| t.file("notes.txt", b"x")),
            "not part of an OCI image layout",
        ),
        (
            "wrong blob",
            archive_of(&wrong_blob, |t| t),
            "digest mismatch",
        ),
        (
            "oversize",
            archive_of(&oversize, |t| t),
            "missing from the bundle",
        ),
        (
            "newer format",
            archive_of(&newer, |t| t),
            "format 7 is newer",
        ),
        ("truncated", truncated, ""),
    ];
    for (name, bytes, needle) in cases {
        let file = format!("{}.tar", name.replace(' ', "-"));
        let mut f = std::fs::File::create(dir.path().join(&file)).unwrap();
        f.write_all(&bytes).unwrap();
        drop(f);
        let out = mk(
            dir.path(),
            &[
                "import",
                &file,
                "--to",
                &to,
                "--insecure-registry",
                &b.host(),
            ],
        );
        assert_exit(&out, 65);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{name}: {err}");
        assert!(tags(&b, "evil/app").is_empty(), "{name}: a tag was written");
        assert!(!Path::new("/tmp/escape").exists(), "{name}: wrote outside");
    }
}

#[test]
fn an_import_sends_a_blob_shared_by_several_repositories_once() {
    let a = Registry::start();
    let b = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    // One image (index, 2 platforms) under three repositories: the same blobs three times.
    let repos = ["team/app", "other/app", "third/app"];
    for repo in repos {
        push_index(&a, dir.path(), repo, "1.0", "shared");
    }
    let refs: Vec<String> = repos
        .iter()
        .map(|r| a.docker_ref(&format!("{r}:1.0")))
        .collect();
    let host = a.host();
    let mut args = vec!["export"];
    args.extend(refs.iter().map(String::as_str));
    args.extend(["--output", "b.tar", "--insecure-registry", &host]);
    assert_exit(&mk(dir.path(), &args), 0);
    let to = format!("docker://{}/imported", b.host());
    let bhost = b.host();
    let out = mk(
        dir.path(),
        &[
            "import",
            "b.tar",
            "--to",
            &to,
            "--insecure-registry",
            &bhost,
        ],
    );
    assert_exit(&out, 0);
    let digest = raw_digest(&a, "team/app:1.0").unwrap();
    for repo in repos {
        assert_eq!(
            raw_digest(&b, &format!("imported/{repo}:1.0")).as_deref(),
            Some(digest.as_str())
        );
    }
    // Each blob was uploaded once; the other two repositories got it by a mount.
    let log = b.log();
    let uploads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/"))
        .collect();
    let mounts = log
        .lines()
        .filter(|l| l.contains("\"POST /v2/") && l.contains("mount="))
        .count();
    let mut uploaded: Vec<&str> = uploads
        .iter()
        .filter_map(|l| l.split("digest=sha256").nth(1))
        .map(|rest| rest.split(['&', ' ', '"']).next().unwrap_or_default())
        .collect();
    let total = uploaded.len();
    uploaded.sort();
    uploaded.dedup();
    assert_eq!(total, uploaded.len(), "a blob was uploaded twice:\n{log}");
    assert_eq!(mounts, 2 * uploaded.len(), "{log}");
}

/// `export SPEC` talks to the spec's registries with the spec's `registries:` settings (it used
/// to build a default client and ignore them): a `max_tags` below what the target holds stops
/// the listing with 65, as it stops `sync`.
#[test]
fn export_from_a_spec_applies_its_registries_settings() {
    let a = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    push_index(&a, dir.path(), "mirror/app", "1.0", "one");
    push_index(&a, dir.path(), "mirror/app", "2.0", "two");
    push_index(&a, dir.path(), "mirror/app", "3.0", "three");
    let host = a.host();
    let spec = |settings: &str| {
        write_spec(
            dir.path(),
            format!(
                "target: {{registry: '{host}'}}\nregistries: {{'{host}': {{insecure: true{settings}}}}}\nmirrors:\n  app:\n    source: {{type: oci, image: 'example.org/app'}}\n    repository: mirror/app\n"
            ),
        );
    };
    spec(", max_tags: 2");
    let out = mk(dir.path(), &["export", "mirror.yml", "-o", "b.tar"]);
    assert_exit(&out, 65);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("more than 2 tags"), "{stderr}");
    assert!(!dir.path().join("b.tar").exists());

    spec("");
    let out = mk(dir.path(), &["export", "mirror.yml", "-o", "b.tar"]);
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("exported 3 tags"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
