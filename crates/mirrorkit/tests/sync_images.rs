//! `mirrorkit sync` of `type: oci` sources: registry to registry (two real docker-registry
//! instances), images pushed into the source with skopeo, what arrives checked with
//! `skopeo inspect --raw` and the registries' access logs.
//!
//! Why one long file: it is the image family's end-to-end suite; its tests share the registry
//! and skopeo fixtures at the top.

mod common;
#[path = "support/oci_fixtures.rs"]
mod oci_fixtures;

use std::path::{Path, PathBuf};

use common::*;
use mirrorkit_testkit::referrers_front::ReferrersFront;
use mirrorkit_testkit::registry::{
    Registry, sha256_digest, skopeo, skopeo_copy, skopeo_copy_with, skopeo_inspect_raw,
    two_platform_index, umoci_image,
};
use oci_fixtures::{LayoutWriter, OCI_INDEX, OCI_MANIFEST, attach_referrers, push_layered_image};
use serde_json::{Value, json};

/// A source and a target registry and a directory for specs and fixtures.
struct World {
    dir: tempfile::TempDir,
    src: Registry,
    dst: Registry,
}

impl World {
    fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            src: Registry::start(),
            dst: Registry::start(),
        }
    }

    /// Write a spec with the target registry, namespace `mirror`, the source registry marked
    /// insecure, and `mirrors` (YAML lines under `mirrors:`, `SRC` replaced by the source host).
    fn spec(&self, mirrors: &str) -> PathBuf {
        let path = self.dir.path().join("mirror.yml");
        let text = format!(
            "target: {{registry: '{dst}', namespace: mirror, insecure: true}}\nregistries: {{'{src}': {{insecure: true}}}}\nmirrors:\n{}",
            mirrors.replace("SRC", &self.src.host()),
            dst = self.dst.host(),
            src = self.src.host(),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `mirrorkit sync SPEC --format json` plus `extra`.
    fn sync(&self, spec: &Path, extra: &[&str]) -> std::process::Output {
        run(mirrorkit(self.dir.path())
            .arg("sync")
            .arg(spec)
            .args(["--format", "json"])
            .args(extra))
    }

    /// Push the two-platform index (seeded) to `repo_tag` in the source; its digest.
    fn push_index(&self, repo_tag: &str, seed: &str) -> String {
        let layout = self.dir.path().join(format!("fixture-{seed}"));
        let digest = two_platform_index(&layout, "v1", seed);
        skopeo_copy(
            &format!("oci:{}:v1", layout.display()),
            &self.src.docker_ref(repo_tag),
        )
        .unwrap();
        digest
    }

    /// The digest `reference` (`repo:tag` or `repo@digest`) has in `reg`, if it exists.
    fn digest_of(reg: &Registry, reference: &str) -> Option<String> {
        skopeo_inspect_raw(&reg.docker_ref(reference), &[])
            .ok()
            .map(|raw| sha256_digest(&raw))
    }

    fn raw(reg: &Registry, reference: &str) -> Value {
        serde_json::from_slice(&skopeo_inspect_raw(&reg.docker_ref(reference), &[]).unwrap())
            .unwrap()
    }

    fn tags(reg: &Registry, repo: &str) -> Vec<String> {
        reg.tags(repo)
    }
}

/// Requests in a registry's access log so far that match `method` and contain `path_part`.
fn requests(reg: &Registry, method: &str, path_part: &str) -> Vec<String> {
    let prefix = format!("\"{method} /v2/");
    reg.log()
        .lines()
        .filter(|l| l.contains(&prefix) && l.contains(path_part))
        .map(str::to_string)
        .collect()
}

/// Blob GETs in the log after line `from` (see [`log_len`]).
fn blob_gets_since(reg: &Registry, from: usize) -> usize {
    reg.log()
        .lines()
        .skip(from)
        .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/"))
        .count()
}

fn log_len(reg: &Registry) -> usize {
    reg.log().lines().count()
}

/// The versions of the mirror `key` in a report.
fn versions<'a>(r: &'a Value, key: &str) -> &'a Vec<Value> {
    r["mirrors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .unwrap_or_else(|| panic!("no mirror {key} in {r:#}"))["versions"]
        .as_array()
        .unwrap()
}

fn mirror<'a>(r: &'a Value, key: &str) -> &'a Value {
    r["mirrors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .unwrap_or_else(|| panic!("no mirror {key} in {r:#}"))
}

fn version_statuses(r: &Value, key: &str) -> Vec<(String, String)> {
    versions(r, key)
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn tag_filters_choose_the_tags_and_a_filter_matching_nothing_is_a_warning() {
    let w = World::new();
    let layout = w.dir.path().join("img");
    two_platform_index(&layout, "v1", "filters");
    for tag in [
        "0.9.0",
        "1.0.0",
        "1.1.0",
        "1.1.0-debug",
        "1.10.0",
        "2.0.0",
        "latest",
    ] {
        skopeo_copy(
            &format!("oci:{}:v1", layout.display()),
            &w.src.docker_ref(&format!("team/app:{tag}")),
        )
        .unwrap();
    }
    let spec = w.spec(
        "  app:\n    source: {type: oci, image: 'SRC/team/app', tags: {semver: '>=1.0'}}\n\
         \x20 ranged:\n    source: {type: oci, image: 'SRC/team/app', tags: {semver: '>=1.0, <2', exclude_regex: 'debug'}}\n    repository: sel/ranged\n\
         \x20 listed:\n    source: {type: oci, image: 'SRC/team/app', tags: {include: [latest, 0.9.0, nope]}}\n    repository: sel/listed\n\
         \x20 newest:\n    source: {type: oci, image: 'SRC/team/app', tags: {regex: '^1\\.', exclude_regex: 'debug', latest: 1}}\n    repository: sel/newest\n\
         \x20 nothing:\n    source: {type: oci, image: 'SRC/team/app', tags: {regex: '^9'}}\n    repository: sel/nothing\n",
    );
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    // Version order, not string order; `1.1.0-debug` is a prerelease `>=1.0` leaves out.
    assert_eq!(
        version_statuses(&r, "app"),
        pairs(&[
            ("1.0.0", "pushed"),
            ("1.1.0", "pushed"),
            ("1.10.0", "pushed"),
            ("2.0.0", "pushed")
        ])
    );
    assert_eq!(
        version_statuses(&r, "ranged"),
        pairs(&[
            ("1.0.0", "pushed"),
            ("1.1.0", "pushed"),
            ("1.10.0", "pushed")
        ])
    );
    assert_eq!(
        version_statuses(&r, "listed"),
        // Text sorts before numbers.
        pairs(&[("latest", "pushed"), ("0.9.0", "pushed")])
    );
    assert_eq!(
        version_statuses(&r, "newest"),
        pairs(&[("1.10.0", "pushed")])
    );
    assert!(versions(&r, "nothing").is_empty());
    let warnings = mirror(&r, "nothing")["warnings"].to_string();
    assert!(warnings.contains("matches the tag filter"), "{warnings}");
    assert!(mirror(&r, "nothing").get("error").is_none());

    assert_eq!(
        World::tags(&w.dst, "mirror/team/app"),
        ["1.0.0", "1.1.0", "1.10.0", "2.0.0"]
    );
    assert_eq!(
        World::tags(&w.dst, "mirror/sel/listed"),
        ["0.9.0", "latest"]
    );
    let source = World::digest_of(&w.src, "team/app:1.0.0").unwrap();
    assert_eq!(
        World::digest_of(&w.dst, "mirror/sel/newest:1.10.0").as_deref(),
        Some(source.as_str())
    );
    // One image under many tags and repositories: each of its 4 blobs left the source once.
    assert_eq!(
        requests(&w.src, "GET", "/blobs/").len(),
        4,
        "{}",
        w.src.log()
    );
    // The other repositories got them by cross-repository mount, not by upload.
    let mounts = requests(&w.dst, "POST", "mount=");
    assert_eq!(mounts.len(), 3 * 4, "{mounts:#?}");

    // --version and --latest narrow what each tag filter selects.
    let out = w.sync(&spec, &["--only", "app", "--latest"]);
    assert_exit(&out, 0);
    assert_eq!(
        version_statuses(&report(&out), "app"),
        pairs(&[("2.0.0", "skipped")])
    );
    let out = w.sync(&spec, &["--version", "1.1.0,0.9.0,latest"]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(version_statuses(&r, "app"), pairs(&[("1.1.0", "skipped")]));
    assert_eq!(
        version_statuses(&r, "listed"),
        pairs(&[("latest", "skipped"), ("0.9.0", "skipped")])
    );
    assert!(versions(&r, "newest").is_empty());
    let warnings = mirror(&r, "newest")["warnings"].to_string();
    assert!(
        warnings.contains("--version/--latest select none"),
        "{warnings}"
    );
}

#[test]
fn indexes_docker_lists_single_images_and_digests_are_copied_byte_for_byte() {
    let w = World::new();
    let index = w.push_index("team/app:1.0.0", "bytes");
    // The same image as a Docker schema 2 manifest list.
    skopeo_copy_with(
        &w.src.docker_ref("team/app:1.0.0"),
        &w.src.docker_ref("team/docker:1.0.0"),
        &["--format", "v2s2"],
    )
    .unwrap();
    let docker = World::raw(&w.src, "team/docker:1.0.0");
    assert_eq!(
        docker["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    // A single-platform image built by umoci.
    let single = w.dir.path().join("single");
    umoci_image(&single, "s", "arm64", b"single\n");
    skopeo_copy(
        &format!("oci:{}:s", single.display()),
        &w.src.docker_ref("team/single:3.0"),
    )
    .unwrap();
    // The same single image as a Docker schema 2 manifest.
    skopeo_copy_with(
        &w.src.docker_ref("team/single:3.0"),
        &w.src.docker_ref("team/dsingle:3.0"),
        &["--format", "v2s2"],
    )
    .unwrap();
    assert_eq!(
        World::raw(&w.src, "team/dsingle:3.0")["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let pinned = w.push_index("team/pinned:whatever", "pinned");
    let spec = w.spec(&format!(
        "  app:\n    source: {{type: oci, image: 'SRC/team/app'}}\n\
         \x20 docker:\n    source: {{type: oci, image: 'SRC/team/docker'}}\n\
         \x20 single:\n    source: {{type: oci, image: 'SRC/team/single'}}\n\
         \x20 dsingle:\n    source: {{type: oci, image: 'SRC/team/dsingle'}}\n\
         \x20 pinned:\n    source: {{type: oci, image: 'SRC/team/pinned', digests: ['{pinned}']}}\n"
    ));
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    for (repo, tag) in [
        ("team/app", "1.0.0"),
        ("team/docker", "1.0.0"),
        ("team/single", "3.0"),
        ("team/dsingle", "3.0"),
    ] {
        let src = skopeo_inspect_raw(&w.src.docker_ref(&format!("{repo}:{tag}")), &[]).unwrap();
        let dst =
            skopeo_inspect_raw(&w.dst.docker_ref(&format!("mirror/{repo}:{tag}")), &[]).unwrap();
        assert_eq!(src, dst, "{repo}:{tag} must arrive byte for byte");
    }
    let v = &versions(&r, "app")[0];
    assert_eq!(v["index_digest"], index);
    assert!(v.get("source_digest").is_none());
    let platforms: Vec<&str> = v["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(
        versions(&r, "single")[0]["platforms"][0]["platform"],
        "linux/arm64"
    );
    // A digest item: stored by digest, named by its digest in the report, no tag.
    assert_eq!(
        version_statuses(&r, "pinned"),
        pairs(&[(pinned.as_str(), "pushed")])
    );
    assert_eq!(
        World::digest_of(&w.dst, &format!("mirror/team/pinned@{pinned}")).as_deref(),
        Some(pinned.as_str())
    );
    // Every platform of the Docker list is there: skopeo copies the whole list out.
    skopeo_copy(
        &w.dst.docker_ref("mirror/team/docker:1.0.0"),
        &w.dst.docker_ref("check/docker:1.0.0"),
    )
    .unwrap();
}

#[test]
fn a_platform_subset_is_a_new_index_and_the_report_says_the_digest_changed() {
    let w = World::new();
    let index = w.push_index("team/app:1.0.0", "subset");
    let single = w.dir.path().join("single");
    umoci_image(&single, "s", "amd64", b"amd64 only\n");
    skopeo_copy(
        &format!("oci:{}:s", single.display()),
        &w.src.docker_ref("team/single:1.0"),
    )
    .unwrap();
    let spec = w.spec(
        "  arm:\n    source: {type: oci, image: 'SRC/team/app', platforms: [linux/arm64]}\n    repository: arm/app\n\
         \x20 both:\n    source: {type: oci, image: 'SRC/team/app', platforms: [linux/arm64, linux/amd64]}\n    repository: both/app\n\
         \x20 none:\n    source: {type: oci, image: 'SRC/team/app', platforms: [linux/s390x]}\n    repository: none/app\n\
         \x20 single:\n    source: {type: oci, image: 'SRC/team/single', platforms: [linux/arm64]}\n",
    );
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);

    let v = &versions(&r, "arm")[0];
    assert_eq!(v["status"], "pushed");
    assert_eq!(v["source_digest"], index);
    let written = World::digest_of(&w.dst, "mirror/arm/app:1.0.0").unwrap();
    assert_ne!(written, index);
    assert_eq!(v["index_digest"], written);
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("rewritten") && reason.contains(&index) && reason.contains(&written),
        "{reason}"
    );
    let new = World::raw(&w.dst, "mirror/arm/app:1.0.0");
    let source = World::raw(&w.src, "team/app:1.0.0");
    assert_eq!(new["mediaType"], source["mediaType"]);
    assert_eq!(new["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(new["manifests"][0], source["manifests"][1]);
    let amd64 = source["manifests"][0]["digest"].as_str().unwrap();
    assert_eq!(
        World::digest_of(&w.dst, &format!("mirror/arm/app@{amd64}")),
        None,
        "the left-out platform is not copied"
    );
    let statuses: Vec<(&str, &str)> = v["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap(),
                p["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("linux/amd64", "excluded"), ("linux/arm64", "pushed")]
    );

    // Every platform asked for: the index as it is.
    assert_eq!(
        World::digest_of(&w.dst, "mirror/both/app:1.0.0").as_deref(),
        Some(index.as_str())
    );
    assert!(versions(&r, "both")[0].get("source_digest").is_none());

    let none = &versions(&r, "none")[0];
    assert_eq!(none["status"], "excluded");
    assert!(
        none["reason"].as_str().unwrap().contains("linux/s390x"),
        "{none}"
    );
    let single = &versions(&r, "single")[0];
    assert_eq!(single["status"], "excluded");
    assert!(
        single["reason"].as_str().unwrap().contains("linux/amd64"),
        "{single}"
    );

    // Again: the subset's digest is recognised, nothing is copied.
    let before = log_len(&w.src);
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(versions(&r, "arm")[0]["status"], "skipped");
    assert_eq!(versions(&r, "arm")[0]["index_digest"], written);
    assert_eq!(versions(&r, "both")[0]["status"], "skipped");
    // Only the excluded single image's config is read again (to learn its platform).
    assert!(blob_gets_since(&w.src, before) <= 1, "{}", w.src.log());

    // `platforms` narrowed after the whole index was mirrored: the tag gets the subset.
    let narrowed = w.spec(
        "  both:\n    source: {type: oci, image: 'SRC/team/app', platforms: [linux/arm64]}\n    repository: both/app\n",
    );
    let out = w.sync(&narrowed, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    let v = &versions(&r, "both")[0];
    assert_eq!(v["status"], "pushed", "{v}");
    assert_eq!(
        v["index_digest"], written,
        "the same subset as the arm mirror's"
    );
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("held {index}")),
        "{v}"
    );
    assert_eq!(
        World::digest_of(&w.dst, "mirror/both/app:1.0.0").as_deref(),
        Some(written.as_str())
    );
    let out = w.sync(&narrowed, &[]);
    assert_exit(&out, 0);
    assert_eq!(versions(&report(&out), "both")[0]["status"], "skipped");
}

#[test]
fn a_warm_run_skips_everything_without_reading_a_blob() {
    let w = World::new();
    w.push_index("team/app:1.0.0", "warm-a");
    w.push_index("team/app:1.1.0", "warm-b");
    let spec = w.spec("  app:\n    source: {type: oci, image: 'SRC/team/app'}\n");
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        pairs(&[("1.0.0", "pushed"), ("1.1.0", "pushed")])
    );
    let (src_before, dst_before) = (log_len(&w.src), log_len(&w.dst));
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        pairs(&[("1.0.0", "skipped"), ("1.1.0", "skipped")])
    );
    assert_eq!(blob_gets_since(&w.src, src_before), 0, "{}", w.src.log());
    let dst_log: Vec<String> = w
        .dst
        .log()
        .lines()
        .skip(dst_before)
        .map(str::to_string)
        .collect();
    assert!(
        !dst_log
            .iter()
            .any(|l| l.contains("\"PUT /v2/") || l.contains("\"POST /v2/")),
        "a warm run writes nothing: {dst_log:#?}"
    );
    // A tag that moved upstream is copied again and the report says so.
    let old = World::digest_of(&w.dst, "mirror/team/app:1.1.0").unwrap();
    let moved = w.push_index("team/app:1.1.0", "warm-moved");
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(
        statuses(&r),
        pairs(&[("1.0.0", "skipped"), ("1.1.0", "pushed")])
    );
    let reason = versions(&r, "app")[1]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("moved") && reason.contains(&old),
        "{reason}"
    );
    assert_eq!(
        World::digest_of(&w.dst, "mirror/team/app:1.1.0").as_deref(),
        Some(moved.as_str())
    );
    // A dry run of a new tag plans it and writes nothing.
    w.push_index("team/app:1.2.0", "warm-c");
    let rep = json_report(mirrorkit(w.dir.path()).arg("check").arg(&spec), 0);
    assert_eq!(
        statuses(&rep),
        pairs(&[
            ("1.0.0", "skipped"),
            ("1.1.0", "skipped"),
            ("1.2.0", "planned")
        ])
    );
    assert_eq!(World::digest_of(&w.dst, "mirror/team/app:1.2.0"), None);
}

#[test]
fn an_interrupted_sync_sends_only_what_is_missing() {
    let w = World::new();
    w.push_index("team/app:1.0.0", "resume");
    let source = World::raw(&w.src, "team/app:1.0.0");
    let amd64 = source["manifests"][0]["digest"].as_str().unwrap();
    // What an interrupted run leaves: one platform's blobs and manifest, no index, no tag.
    skopeo_copy(
        &w.src.docker_ref(&format!("team/app@{amd64}")),
        &w.dst.docker_ref(&format!("mirror/team/app@{amd64}")),
    )
    .unwrap();
    let before = log_len(&w.src);
    let spec = w.spec("  app:\n    source: {type: oci, image: 'SRC/team/app'}\n");
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(statuses(&report(&out)), pairs(&[("1.0.0", "pushed")]));
    // Only the arm64 config and layer left the source.
    assert_eq!(blob_gets_since(&w.src, before), 2, "{}", w.src.log());
    assert_eq!(
        World::digest_of(&w.dst, "mirror/team/app:1.0.0"),
        World::digest_of(&w.src, "team/app:1.0.0")
    );
}

#[test]
fn an_interrupted_sync_killed_mid_copy_finishes_without_sending_blobs_again() {
    let w = World::new();
    // A config and four layers of 4 MiB; the source is reached through a front whose last layer
    // stalls half-sent, so the kill always lands mid-transfer.
    let layers = push_layered_image(&w.src, &w.dir.path().join("big"), "team/big:1.0", 4, 100);
    let front = ReferrersFront::start(&w.src);
    let stalled = layers[3].clone();
    front.stall("GET", &format!("/blobs/{stalled}"));
    // One request at a time to the source.
    let spec = w.dir.path().join("big.yml");
    std::fs::write(
        &spec,
        format!(
            "target: {{registry: '{dst}', namespace: mirror, insecure: true}}\nregistries: {{'{src}': {{insecure: true, concurrency: 1}}}}\nmirrors:\n  big:\n    source: {{type: oci, image: '{src}/team/big'}}\n",
            dst = w.dst.host(),
            src = front.host(),
        ),
    )
    .unwrap();
    let blobs_dir = w.dst.data_dir().join("docker/registry/v2/blobs/sha256");
    let target_blobs = || -> Vec<String> {
        walk_files(&blobs_dir)
            .iter()
            .filter(|p| p.ends_with("data"))
            .filter_map(|p| {
                p.parent()?
                    .file_name()?
                    .to_str()
                    .map(|h| format!("sha256:{h}"))
            })
            .collect()
    };
    let mut child = spawn_sync(w.dir.path(), &spec);
    // Killed while the stalled layer is half-sent, once the other four blobs have arrived.
    kill_at_stall(&mut child, &front, || target_blobs().len() == 4);
    let present = target_blobs();
    assert!(
        !present.contains(&stalled),
        "the half-sent layer is not a blob in the target"
    );
    assert_eq!(
        World::digest_of(&w.dst, "mirror/team/big:1.0"),
        None,
        "no tag after a kill"
    );
    front.unstall();
    let before = log_len(&w.src);
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    assert_eq!(statuses(&report(&out)), pairs(&[("1.0", "pushed")]));
    // 5 blobs in all; those the first run completed are not read again.
    assert_eq!(
        blob_gets_since(&w.src, before),
        5 - present.len(),
        "present before the re-run: {present:?}"
    );
    assert_eq!(
        World::digest_of(&w.dst, "mirror/team/big:1.0"),
        World::digest_of(&w.src, "team/big:1.0")
    );
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_unreachable_source_is_69_and_a_missing_child_fails_only_its_tag() {
    let w = World::new();
    let path = w.dir.path().join("down.yml");
    std::fs::write(
        &path,
        format!(
            "target: {{registry: '{}', insecure: true}}\nregistries: {{'127.0.0.1:1': {{insecure: true}}}}\nmirrors:\n  down:\n    source: {{type: oci, image: '127.0.0.1:1/team/app'}}\n",
            w.dst.host()
        ),
    )
    .unwrap();
    let out = w.sync(&path, &[]);
    assert_exit(&out, 69);
    let r = report(&out);
    assert_eq!(r["mirrors"][0]["error"]["exit_code"], 69);

    // 1.0.0's index lists a manifest the source no longer has; 2.0.0 is fine.
    w.push_index("team/app:1.0.0", "broken");
    w.push_index("team/app:2.0.0", "fine");
    let broken = World::raw(&w.src, "team/app:1.0.0");
    let gone = broken["manifests"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    skopeo(&[
        "delete",
        "--tls-verify=false",
        &w.src.docker_ref(&format!("team/app@{gone}")),
    ])
    .unwrap();
    let ghost = format!("sha256:{}", "0".repeat(64));
    let spec = w.spec(&format!(
        "  app:\n    source: {{type: oci, image: 'SRC/team/app'}}\n\
         \x20 ghost:\n    source: {{type: oci, image: 'SRC/team/app', digests: ['{ghost}']}}\n    repository: ghost/app\n"
    ));
    let out = w.sync(&spec, &["--fail-fast"]);
    assert_exit(&out, 1);
    assert_eq!(statuses(&report(&out)), pairs(&[("1.0.0", "failed")]));
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_eq!(
        statuses(&r),
        pairs(&[("1.0.0", "failed"), ("2.0.0", "pushed")])
    );
    let reason = versions(&r, "app")[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&gone), "{reason}");
    let ghost_report = &versions(&r, "ghost")[0];
    assert_eq!(ghost_report["status"], "failed");
    assert!(
        ghost_report["reason"].as_str().unwrap().contains(&ghost),
        "{ghost_report}"
    );
    assert_eq!(World::digest_of(&w.dst, "mirror/team/app:1.0.0"), None);
    let plain = run(mirrorkit(w.dir.path()).arg("sync").arg(&spec));
    assert_exit(&plain, 1);
    assert!(
        String::from_utf8_lossy(&plain.stdout).contains("failed"),
        "{}",
        String::from_utf8_lossy(&plain.stdout)
    );
}

#[test]
fn target_repositories_follow_the_source_path_include_host_and_repository() {
    let w = World::new();
    let index = w.push_index("team/app:1.0.0", "naming");
    let spec = w.spec(
        "  app:\n    source: {type: oci, image: 'SRC/team/app'}\n\
         \x20 hosted:\n    source: {type: oci, image: 'SRC/team/app', include_host: true}\n\
         \x20 named:\n    source: {type: oci, image: 'SRC/team/app'}\n    repository: tools/renamed\n",
    );
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    let host_dir = w.src.host().replace(':', "_");
    for (key, repo) in [
        ("app", "mirror/team/app".to_string()),
        ("hosted", format!("mirror/{host_dir}/team/app")),
        ("named", "mirror/tools/renamed".to_string()),
    ] {
        assert_eq!(mirror(&r, key)["repository"], repo.as_str());
        assert_eq!(
            World::digest_of(&w.dst, &format!("{repo}:1.0.0")).as_deref(),
            Some(index.as_str()),
            "{repo}"
        );
    }
}

#[test]
fn referrers_come_along_by_the_tag_schema_and_cosign_tags() {
    let w = World::new();
    let index = w.push_index("team/app:1.0.0", "signed");
    let source = World::raw(&w.src, "team/app:1.0.0");
    let index_size = skopeo_inspect_raw(&w.src.docker_ref("team/app:1.0.0"), &[])
        .unwrap()
        .len();
    let (artifact, signature) = attach_referrers(
        &w.src,
        w.dir.path(),
        "team/app",
        (&index, OCI_INDEX, index_size),
        "top",
    );
    // A referrer of one platform's manifest too.
    let arm64 = source["manifests"][1]["digest"].as_str().unwrap();
    let arm64_size = source["manifests"][1]["size"].as_u64().unwrap() as usize;
    let (child_artifact, child_signature) = attach_referrers(
        &w.src,
        w.dir.path(),
        "team/app",
        (arm64, OCI_MANIFEST, arm64_size),
        "child",
    );
    let spec = w.spec(
        "  app:\n    source: {type: oci, image: 'SRC/team/app'}\n\
         \x20 bare:\n    source: {type: oci, image: 'SRC/team/app', referrers: false}\n    repository: bare/app\n",
    );
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    // The referrer tags are not versions of their own.
    assert_eq!(version_statuses(&r, "app"), pairs(&[("1.0.0", "pushed")]));
    let listed: Vec<&str> = versions(&r, "app")[0]["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for d in [&artifact, &signature, &child_artifact, &child_signature] {
        assert!(listed.contains(&d.as_str()), "{d} not in {listed:?}");
    }
    let hex = &index["sha256:".len()..];
    let child_hex = &arm64["sha256:".len()..];
    // The target (distribution 2.8) has no referrers API: the fallback tag is written, here
    // byte for byte the source's, and the cosign tag is copied as a tag.
    for tag in [
        format!("sha256-{hex}"),
        format!("sha256-{hex}.sig"),
        format!("sha256-{child_hex}"),
        format!("sha256-{child_hex}.sig"),
    ] {
        assert_eq!(
            World::digest_of(&w.dst, &format!("mirror/team/app:{tag}")),
            World::digest_of(&w.src, &format!("team/app:{tag}")),
            "{tag}"
        );
    }
    let sbom = World::raw(&w.dst, &format!("mirror/team/app@{artifact}"));
    assert_eq!(sbom["subject"]["digest"], index);
    assert_eq!(
        World::digest_of(&w.dst, &format!("mirror/team/app@{signature}")).as_deref(),
        Some(signature.as_str())
    );
    // Every blob of the artifacts made it: skopeo reads them out whole.
    skopeo_copy(
        &w.dst.docker_ref(&format!("mirror/team/app@{artifact}")),
        &format!("oci:{}:sbom", w.dir.path().join("sbom-out").display()),
    )
    .unwrap();
    // `referrers: false`: the image only.
    assert_eq!(World::tags(&w.dst, "mirror/bare/app"), ["1.0.0"]);

    // Again: skipped, the referrers are still listed, no blob read.
    let before = log_len(&w.src);
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    let v = &versions(&r, "app")[0];
    assert_eq!(v["status"], "skipped");
    assert_eq!(v["referrers"].as_array().unwrap().len(), listed.len());
    assert_eq!(blob_gets_since(&w.src, before), 0, "{}", w.src.log());

    // A signature added upstream after the image was mirrored arrives with the next run,
    // merged into the target's fallback index.
    let (late, _) = attach_referrers(
        &w.src,
        w.dir.path(),
        "team/app",
        (&index, OCI_INDEX, index_size),
        "late",
    );
    let out = w.sync(&spec, &[]);
    assert_exit(&out, 0);
    let fallback = World::raw(&w.dst, &format!("mirror/team/app:sha256-{hex}"));
    let entries: Vec<&str> = fallback["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    assert!(entries.contains(&artifact.as_str()), "{entries:?}");
    assert!(entries.contains(&late.as_str()), "{entries:?}");
}

#[test]
fn a_layout_target_gets_the_images_and_their_referrers() {
    let w = World::new();
    let index = w.push_index("team/app:1.0.0", "layout");
    let size = skopeo_inspect_raw(&w.src.docker_ref("team/app:1.0.0"), &[])
        .unwrap()
        .len();
    attach_referrers(
        &w.src,
        w.dir.path(),
        "team/app",
        (&index, OCI_INDEX, size),
        "l",
    );
    let path = w.dir.path().join("layout.yml");
    std::fs::write(
        &path,
        format!(
            "target: {{layout: ./oci}}\nregistries: {{'{src}': {{insecure: true}}}}\nmirrors:\n  app:\n    source: {{type: oci, image: '{src}/team/app'}}\n",
            src = w.src.host()
        ),
    )
    .unwrap();
    // A dry run plans the tag and creates nothing.
    let rep = json_report(mirrorkit(w.dir.path()).arg("check").arg(&path), 0);
    assert_eq!(statuses(&rep), pairs(&[("1.0.0", "planned")]));
    assert!(!w.dir.path().join("oci").exists());
    let out = w.sync(&path, &[]);
    assert_exit(&out, 0);
    let dir = w.dir.path().join("oci/team/app");
    let hex = &index["sha256:".len()..];
    for tag in [
        "1.0.0".to_string(),
        format!("sha256-{hex}"),
        format!("sha256-{hex}.sig"),
    ] {
        let raw = skopeo_inspect_raw(&format!("oci:{}:{tag}", dir.display()), &[]).unwrap();
        assert_eq!(
            Some(sha256_digest(&raw)),
            World::digest_of(&w.src, &format!("team/app:{tag}")),
            "{tag}"
        );
    }
    let out = w.sync(&path, &[]);
    assert_exit(&out, 0);
    assert_eq!(statuses(&report(&out)), pairs(&[("1.0.0", "skipped")]));
}

#[test]
fn referrers_travel_through_the_referrers_api_when_both_registries_have_it() {
    let w = World::new();
    let src = ReferrersFront::start(&w.src);
    let dst = ReferrersFront::start(&w.dst);
    let layout = w.dir.path().join("api-image");
    let index = two_platform_index(&layout, "v1", "api");
    skopeo_copy(
        &format!("oci:{}:v1", layout.display()),
        &src.docker_ref("team/app:1.0.0"),
    )
    .unwrap();
    let size = skopeo_inspect_raw(&src.docker_ref("team/app:1.0.0"), &[])
        .unwrap()
        .len();
    // An SBOM whose subject is the index, pushed by digest through the front (which indexes it).
    let mut l = LayoutWriter::new(w.dir.path().join("api-sbom"));
    let (artifact, _) = l.sbom("api", (&index, OCI_INDEX, size), "sbom");
    skopeo_copy(
        &l.oci_ref("sbom"),
        &src.docker_ref(&format!("team/app@{artifact}")),
    )
    .unwrap();
    assert_eq!(src.referrers("team/app", &index).len(), 1);

    let path = w.dir.path().join("api.yml");
    std::fs::write(
        &path,
        format!(
            "target: {{registry: '{dst}', namespace: mirror, insecure: true}}\nregistries: {{'{src}': {{insecure: true}}}}\nmirrors:\n  app:\n    source: {{type: oci, image: '{src}/team/app'}}\n",
            dst = dst.host(),
            src = src.host()
        ),
    )
    .unwrap();
    let out = w.sync(&path, &[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(versions(&r, "app")[0]["referrers"], json!([artifact]));
    // Found through the source's API, and indexed by the target's: no fallback tag written.
    assert!(
        src.requests()
            .iter()
            .any(|l| l.starts_with(&format!("GET /v2/team/app/referrers/{index}"))),
        "{:#?}",
        src.requests()
    );
    let listed = dst.referrers("mirror/team/app", &index);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["digest"], artifact.as_str());
    assert_eq!(listed[0]["artifactType"], "application/spdx+json");
    assert_eq!(World::tags(&w.dst, "mirror/team/app"), ["1.0.0"]);
}

#[test]
fn a_source_refusing_access_is_77() {
    let w = World::new();
    let locked = Registry::start_with_htpasswd("user", "secret");
    let path = w.dir.path().join("locked.yml");
    std::fs::write(
        &path,
        format!(
            "target: {{registry: '{}', insecure: true}}\nregistries: {{'{host}': {{insecure: true}}}}\nmirrors:\n  locked:\n    source: {{type: oci, image: '{host}/team/app'}}\n",
            w.dst.host(),
            host = locked.host()
        ),
    )
    .unwrap();
    let out = w.sync(&path, &[]);
    assert_exit(&out, 77);
    assert_eq!(report(&out)["mirrors"][0]["error"]["exit_code"], 77);
}
