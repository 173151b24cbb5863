//! End to end: GitHub releases (a faithful local fake of the REST API serving real files) into a
//! real docker-registry, checked with skopeo: build, exact and rolling tags, cascade rules,
//! `cascade check|repair`, verification, version policy, rate limits and conditional requests.
//!
//! Why one long file: the release family's end-to-end suite against the GitHub fake, sharing its
//! fixtures at the top.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{
    all_output, assert_exit, assert_statuses, entry, json_report, mirrorkit, noise, report, run,
    statuses, tar_gz_asset, write_spec,
};
use mirrorkit_testkit::github::{AssetSpec, DigestMode, GithubFake, ReleaseSpec};
use mirrorkit_testkit::registry::{Registry, sha256_digest, skopeo_inspect_raw};

const OWNER: &str = "acme";
const REPO: &str = "tool";

struct World {
    gh: GithubFake,
    registry: Registry,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let gh = GithubFake::start();
        gh.add_repo(OWNER, REPO);
        World {
            gh,
            registry: Registry::start(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The tar.gz asset of `version` for `platform` (`linux-amd64`), with its bytes.
    fn asset(&self, version: &str, platform: &str) -> (String, Vec<u8>) {
        let name = format!("tool-{version}-{platform}.tar.gz");
        let seed = version.bytes().chain(platform.bytes()).map(u64::from).sum();
        let path = tar_gz_asset(self.dir.path(), &name, "tool", &noise(seed, 20_000));
        (name, std::fs::read(path).unwrap())
    }

    /// Publish release `tag` with an asset per platform (correct GitHub digests).
    fn release(&self, tag: &str, platforms: &[&str], prerelease: bool) {
        let version = tag.trim_start_matches('v');
        let mut r = ReleaseSpec::new(OWNER, REPO, tag);
        if prerelease {
            r = r.prerelease();
        }
        for p in platforms {
            let (name, bytes) = self.asset(version, p);
            r = r.asset(&name, bytes);
        }
        self.gh.add_release(r);
    }

    fn spec(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("mirror.yml");
        // The ocx-mirror one-package form, target with `repository`.
        std::fs::write(
            &path,
            format!(
                "name: tool\n\
                 target: {{registry: '{}', repository: mirror/tool, insecure: true}}\n\
                 registries: {{'{}': {{insecure: true}}}}\n\
                 source: {{type: github_release, owner: {OWNER}, repo: {REPO}, api_url: '{}'}}\n\
                 assets:\n  linux/amd64: ['linux-amd64\\.tar\\.gz$']\n  linux/arm64: ['linux-arm64\\.tar\\.gz$']\n  darwin/arm64: ['darwin-arm64\\.tar\\.gz$']\n\
                 strip_components: 1\ncompression: zstd\n{extra}",
                self.registry.host(),
                url::Url::parse(&self.gh.api_url())
                    .map(|u| format!("{}:{}", u.host_str().unwrap(), u.port().unwrap()))
                    .unwrap(),
                self.gh.api_url()
            ),
        )
        .unwrap();
        path
    }

    fn sync(&self, args: &[&str]) -> std::process::Output {
        run(mirrorkit(self.dir.path())
            .args(["sync", "mirror.yml", "--format", "json"])
            .args(args))
    }

    fn tags(&self) -> Vec<String> {
        self.registry.tags("mirror/tool")
    }

    fn raw(&self, tag: &str) -> Vec<u8> {
        skopeo_inspect_raw(
            &self.registry.docker_ref(&format!("mirror/tool:{tag}")),
            &["--tls-verify=false"],
        )
        .unwrap()
    }

    /// platform → manifest digest of the index at `tag`.
    fn platforms(&self, tag: &str) -> BTreeMap<String, String> {
        platform_digests(&self.raw(tag))
    }
}

fn platform_digests(raw: &[u8]) -> BTreeMap<String, String> {
    let index: serde_json::Value = serde_json::from_slice(raw).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                common::platform_of(m),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn map(pairs: &[(&str, &BTreeMap<String, String>, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(p, from, key)| (p.to_string(), from[*key].clone()))
        .collect()
}

#[test]
fn releases_are_mirrored_with_build_exact_and_rolling_tags() {
    let w = World::new();
    w.release("v3.27.0", &["linux-amd64", "linux-arm64"], false);
    w.release("v3.28.0", &["linux-amd64", "linux-arm64"], false);
    w.release("v3.29.0-rc1", &["linux-amd64"], true);
    w.gh.add_release(ReleaseSpec::new(OWNER, REPO, "v4.0.0").draft().asset(
        "tool-4.0.0-linux-amd64.tar.gz",
        w.asset("4.0.0", "linux-amd64").1,
    ));
    w.gh.add_release(ReleaseSpec::new(OWNER, REPO, "nightly"));
    w.gh.set_page_size(Some(2)); // three pages: the listing follows Link headers
    w.spec("");

    let out = w.sync(&[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(
        statuses(&r),
        [
            ("nightly".into(), "excluded".into()),
            ("3.27.0".into(), "pushed".into()),
            ("3.28.0".into(), "pushed".into()),
            ("3.29.0-rc1".into(), "pushed".into()),
        ],
        "drafts are not listed at all; text sorts before numbers"
    );
    let nightly = &r["mirrors"][0]["versions"][0];
    assert!(
        nightly["reason"]
            .as_str()
            .unwrap()
            .contains("does not match tag_pattern"),
        "{nightly}"
    );
    // A platform no release offers is absent, not failed.
    let darwin = &r["mirrors"][0]["versions"][1]["platforms"][0];
    assert_eq!(darwin["platform"], "darwin/arm64");
    assert_eq!(darwin["status"], "excluded");

    let tags = w.tags();
    let build_tags: Vec<&String> = tags.iter().filter(|t| t.contains('_')).collect();
    assert_eq!(build_tags.len(), 3, "one build tag per version: {tags:?}");
    for t in &build_tags {
        let (v, stamp) = t.split_once('_').unwrap();
        assert!(["3.27.0", "3.28.0", "3.29.0-rc1"].contains(&v), "{t}");
        assert!(
            stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()),
            "{t}"
        );
        assert_eq!(w.raw(t), w.raw(v), "the build tag is the version's index");
    }
    let plain: Vec<&str> = tags
        .iter()
        .filter(|t| !t.contains('_'))
        .map(String::as_str)
        .collect();
    assert_eq!(
        plain,
        [
            "3",
            "3.27",
            "3.27.0",
            "3.28",
            "3.28.0",
            "3.29.0-rc1",
            "latest"
        ],
        "a prerelease moves no rolling tag"
    );
    let v27 = w.platforms("3.27.0");
    let v28 = w.platforms("3.28.0");
    assert_eq!(w.platforms("3.27"), v27);
    assert_eq!(w.platforms("3.28"), v28);
    assert_eq!(w.platforms("3"), v28);
    assert_eq!(w.platforms("latest"), v28);
    // Tags written are reported in order: build, exact, rolling.
    let written: Vec<&str> = r["mirrors"][0]["versions"][2]["tags_written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(written.len(), 5, "{written:?}");
    assert!(written[0].starts_with("3.28.0_"));
    assert_eq!(&written[1..], ["3.28.0", "3.28", "3", "latest"]);
    let index: serde_json::Value = serde_json::from_slice(&w.raw("3.28.0")).unwrap();
    assert_eq!(
        index["annotations"]["org.opencontainers.image.source"],
        format!("{}/repos/{OWNER}/{REPO}", w.gh.api_url())
    );

    // Nothing new: everything is skipped, the listing is answered 304 (no rate-limit quota)
    // and no asset is downloaded again.
    let charged = w.gh.charged_requests();
    let downloads = w.gh.asset_downloads();
    let out = w.sync(&[]);
    assert_exit(&out, 0);
    let again = statuses(&report(&out));
    assert!(again[1..].iter().all(|(_, s)| s == "skipped"), "{again:?}");
    assert_eq!(w.gh.charged_requests(), charged, "conditional requests");
    assert!(w.gh.not_modified_requests() >= 3);
    assert_eq!(w.gh.asset_downloads(), downloads);
}

#[test]
fn rolling_tags_follow_the_highest_version_per_platform_even_when_pushed_out_of_order() {
    let w = World::new();
    w.release("v3.28.0", &["linux-amd64", "linux-arm64"], false);
    w.spec("");
    assert_exit(&w.sync(&[]), 0);
    let v28 = w.platforms("3.28.0");

    // Later: an older patch release appears (pushed after 3.28.0), and a newer patch release
    // that adds a platform and drops another.
    w.release("v3.27.5", &["linux-amd64", "linux-arm64"], false);
    w.release("v3.28.1", &["darwin-arm64", "linux-amd64"], false);
    let out = w.sync(&[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [
            ("3.27.5".into(), "pushed".into()),
            ("3.28.0".into(), "skipped".into()),
            ("3.28.1".into(), "pushed".into()),
        ]
    );
    let v275 = w.platforms("3.27.5");
    let v281 = w.platforms("3.28.1");
    // 3.27.5 moves 3.27 only: 3.28.0 is higher under 3 with the same platforms.
    assert_eq!(w.platforms("3.27"), v275);
    // 3.28.1 merges its platforms into 3.28, 3 and latest; linux/arm64 stays at 3.28.0.
    let expected = map(&[
        ("darwin/arm64", &v281, "darwin/arm64"),
        ("linux/amd64", &v281, "linux/amd64"),
        ("linux/arm64", &v28, "linux/arm64"),
    ]);
    assert_eq!(w.platforms("3.28"), expected);
    assert_eq!(w.platforms("3"), expected);
    assert_eq!(w.platforms("latest"), expected);

    // The rolling tags are what `cascade check` computes from scratch.
    let rep = json_report(
        mirrorkit(w.dir.path()).args(["cascade", "check", "mirror.yml"]),
        0,
    );
    let states: Vec<String> = rep["mirrors"][0]["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}={}",
                a["alias"].as_str().unwrap(),
                a["state"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(states, ["3=ok", "3.27=ok", "3.28=ok", "latest=ok"]);
}

#[test]
fn cascade_repair_fixes_a_hand_broken_alias() {
    let w = World::new();
    w.release("v1.0.0", &["linux-amd64", "linux-arm64"], false);
    w.release("v1.1.0", &["linux-amd64", "linux-arm64"], false);
    w.spec("");
    assert_exit(&w.sync(&[]), 0);
    let v11 = w.platforms("1.1.0");

    // Someone points latest at the old version and deletes the 1 tag's content by hand.
    mirrorkit_testkit::registry::skopeo_copy_with(
        &w.registry.docker_ref("mirror/tool:1.0.0"),
        &w.registry.docker_ref("mirror/tool:latest"),
        &["--all", "--src-tls-verify=false", "--dest-tls-verify=false"],
    )
    .unwrap();
    assert_ne!(w.platforms("latest"), v11);

    let check = |action: &str| {
        run(mirrorkit(w.dir.path()).args(["cascade", action, "mirror.yml", "--format", "json"]))
    };
    let out = check("check");
    assert_exit(&out, 1);
    let r = report(&out);
    let latest = entry(&r["mirrors"][0]["aliases"], "alias", "latest").clone();
    assert_eq!(latest["state"], "drift");
    assert_eq!(latest["expected"]["linux/amd64"], "1.1.0");
    assert!(
        latest["differences"][0]
            .as_str()
            .unwrap()
            .contains("expected 1.1.0")
    );
    assert_ne!(w.platforms("latest"), v11, "check changes nothing");

    let out = check("repair");
    assert_exit(&out, 0);
    assert_eq!(w.platforms("latest"), v11);
    let out = check("check");
    assert_exit(&out, 0);
    // Plain output names every alias and the summary.
    let out = run(mirrorkit(w.dir.path()).args(["cascade", "check", "mirror.yml"]));
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mirror/tool:latest  ok"), "{text}");
    assert!(
        text.contains("4 ok, 0 drift, 0 missing, 0 repaired"),
        "{text}"
    );
}

#[test]
fn digests_and_checksums_files_are_verified_and_unverifiable_assets_refused_by_default() {
    let w = World::new();
    // 1.0.0: GitHub's digest is wrong → fails, nothing of it is tagged.
    let (a, bytes) = w.asset("1.0.0", "linux-amd64");
    w.gh.add_release(
        ReleaseSpec::new(OWNER, REPO, "v1.0.0")
            .asset_spec(AssetSpec::new(&a, bytes).with_digest(DigestMode::Wrong)),
    );
    // 1.1.0: no digest, but a checksums file lists it correctly → pushed.
    let (a, bytes) = w.asset("1.1.0", "linux-amd64");
    let sums = format!(
        "{}  ./{a}\n",
        sha256_digest(&bytes).trim_start_matches("sha256:")
    );
    w.gh.add_release(
        ReleaseSpec::new(OWNER, REPO, "v1.1.0")
            .asset_spec(AssetSpec::new(&a, bytes).with_digest(DigestMode::None))
            .asset_spec(
                AssetSpec::new("tool_1.1.0_checksums.txt", sums.into_bytes())
                    .with_digest(DigestMode::None),
            ),
    );
    // 1.2.0: no digest, the checksums file disagrees → fails.
    let (a, bytes) = w.asset("1.2.0", "linux-amd64");
    let sums = format!("{}  {a}\n", "ab".repeat(32));
    w.gh.add_release(
        ReleaseSpec::new(OWNER, REPO, "v1.2.0")
            .asset_spec(AssetSpec::new(&a, bytes).with_digest(DigestMode::None))
            .asset_spec(
                AssetSpec::new("tool_1.2.0_checksums.txt", sums.into_bytes())
                    .with_digest(DigestMode::None),
            ),
    );
    // 1.3.0: no digest and no checksums file → cannot be verified.
    let (a, bytes) = w.asset("1.3.0", "linux-amd64");
    w.gh.add_release(
        ReleaseSpec::new(OWNER, REPO, "v1.3.0")
            .asset_spec(AssetSpec::new(&a, bytes).with_digest(DigestMode::None)),
    );
    w.spec("verify: {checksums_file: 'tool_{version}_checksums.txt'}\n");
    let out = w.sync(&[]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_statuses(
        &r,
        &[
            ("1.0.0", "failed"),
            ("1.1.0", "pushed"),
            ("1.2.0", "failed"),
            ("1.3.0", "failed"),
        ],
    );
    let reason = |i: usize| {
        r["mirrors"][0]["versions"][i]["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason(0).contains("mismatch"), "{}", reason(0));
    assert!(reason(2).contains("checksums file"), "{}", reason(2));
    assert!(reason(3).contains("cannot be verified"), "{}", reason(3));
    assert!(reason(3).contains("verify.require: false"), "{}", reason(3));
    let tags = w.tags();
    assert!(
        tags.iter()
            .all(|t| !t.starts_with("1.0.0") && !t.starts_with("1.2.0") && !t.starts_with("1.3.0")),
        "failed versions leave no tag: {tags:?}"
    );

    // With require: false the unverifiable asset is mirrored, with a warning in the report.
    w.spec("verify: {checksums_file: 'tool_{version}_checksums.txt', require: false}\n");
    let out = w.sync(&["--version", "1.3.0"]);
    assert_exit(&out, 0);
    let r = report(&out);
    let v = entry(&r["mirrors"][0]["versions"], "version", "1.3.0").clone();
    assert_eq!(v["status"], "pushed");
    assert!(
        v["warnings"][0].as_str().unwrap().contains("unverified"),
        "{v}"
    );
}

#[test]
fn the_version_policy_decides_what_is_mirrored() {
    let w = World::new();
    for tag in [
        "v0.9.0", "v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0", "v2.0.0",
    ] {
        w.release(tag, &["linux-amd64", "linux-arm64"], false);
    }
    w.release("v1.5.0-rc1", &["linux-amd64"], true);
    w.spec(
        "versions: {min: 1.0.0, max: 2.0.0, new_per_run: 2, backfill: newest_first}\n\
         skip_prereleases: true\n\
         exclude: [{version: 1.4.0, reason: broken build}]\n\
         platforms: {linux/arm64: {min_version: 1.3.0}}\n",
    );
    let r = json_report(mirrorkit(w.dir.path()).args(["check", "mirror.yml"]), 0);
    let plan: Vec<(String, String, String)> = r["mirrors"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
                v["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expect = [
        ("0.9.0", "excluded", "below versions.min 1.0.0"),
        ("1.0.0", "excluded", "deferred to a later run"),
        ("1.1.0", "excluded", "deferred to a later run"),
        ("1.2.0", "planned", ""),
        ("1.3.0", "planned", ""),
        ("1.4.0", "excluded", "broken build"),
        ("1.5.0-rc1", "excluded", "skip_prereleases"),
        ("2.0.0", "excluded", "versions.max 2.0.0"),
    ];
    assert_eq!(plan.len(), expect.len(), "{plan:?}");
    for ((v, s, reason), (ev, es, er)) in plan.iter().zip(expect) {
        assert_eq!((v.as_str(), s.as_str()), (ev, es), "{plan:?}");
        assert!(reason.contains(er), "{v}: {reason:?} should contain {er:?}");
    }
    // Per-platform bounds: linux/arm64 only from 1.3.0 on.
    let arm = entry(
        &r["mirrors"][0]["versions"][3]["platforms"],
        "platform",
        "linux/arm64",
    )
    .clone();
    assert_eq!(arm["status"], "excluded");
    assert!(arm["reason"].as_str().unwrap().contains("min_version"));

    // The run mirrors the two newest; the next one backfills the next two.
    assert_exit(&w.sync(&[]), 0);
    let out = w.sync(&[]);
    assert_exit(&out, 0);
    let s = statuses(&report(&out));
    assert_eq!(s[1], ("1.0.0".into(), "pushed".into()));
    assert_eq!(s[2], ("1.1.0".into(), "pushed".into()));
    assert_eq!(w.platforms("1.2.0").len(), 1, "no arm64 before 1.3.0");
    assert_eq!(w.platforms("1.3.0").len(), 2);
    // --latest applies after every other filter: 1.3.0, not 2.0.0 or the prerelease.
    let out =
        run(mirrorkit(w.dir.path()).args(["check", "mirror.yml", "--latest", "--format", "json"]));
    let kept: Vec<(String, String)> = statuses(&report(&out))
        .into_iter()
        .filter(|(_, s)| s != "excluded")
        .collect();
    assert_eq!(kept, [("1.3.0".to_string(), "skipped".to_string())]);
}

#[test]
fn an_exhausted_rate_limit_exits_69_saying_when_to_retry_and_never_shows_the_token() {
    let w = World::new();
    w.release("v1.0.0", &["linux-amd64"], false);
    w.gh.set_rate_limit(60, 0, std::time::Duration::from_secs(3600));
    w.spec("");
    write_spec(
        w.dir.path(),
        std::fs::read_to_string(w.dir.path().join("mirror.yml"))
            .unwrap()
            .replace("api_url:", "max_rate_limit_wait_seconds: 1, api_url:"),
    );
    let token = "ghp_s3cr3tT0kenValue0123456789";
    let out = run(mirrorkit(w.dir.path())
        .env("GITHUB_TOKEN", token)
        .args(["sync", "mirror.yml"]));
    assert_exit(&out, 69);
    let all = all_output(&out);
    assert!(all.contains("rate limit"), "{all}");
    assert!(all.contains("retry"), "{all}");
    assert!(!all.contains(token), "the token leaked: {all}");
    assert!(
        w.gh.api_requests().iter().all(|r| r.authorization),
        "the token is sent to the API"
    );

    // A 429 with Retry-After is waited out.
    w.gh.set_rate_limit(5000, 5000, std::time::Duration::from_secs(3600));
    w.gh.fail_next_with_429(1, 1);
    assert_exit(&w.sync(&[]), 0);
}

#[test]
fn an_api_answer_that_is_not_json_exits_65_naming_the_url() {
    let w = World::new();
    w.release("v1.0.0", &["linux-amd64"], false);
    w.gh.set_malformed(true);
    w.spec("");
    let out = run(mirrorkit(w.dir.path()).args(["sync", "mirror.yml"]));
    assert_exit(&out, 65);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/repos/acme/tool/releases"), "{err}");
}

#[test]
fn metadata_binary_names_and_libc_platforms_shape_the_package() {
    let w = World::new();
    let bin = noise(9, 5_000);
    w.gh.add_release(
        ReleaseSpec::new(OWNER, REPO, "v2.0.0")
            .asset("tool-linux-amd64-musl", bin.clone())
            .asset("tool-linux-amd64-gnu", noise(10, 5_000)),
    );
    std::fs::write(
        w.dir.path().join("meta.json"),
        r#"{"type":"bundle","version":1,"env":[{"key":"PATH","type":"path","value":"${installPath}"}]}"#,
    )
    .unwrap();
    write_spec(
        w.dir.path(),
        format!(
            "name: tool\ntarget: {{layout: oci}}\n\
             source: {{type: github_release, owner: {OWNER}, repo: {REPO}, api_url: '{}'}}\n\
             assets:\n  linux/amd64+libc.musl: ['musl$']\n  linux/amd64+libc.glibc: ['gnu$']\n\
             asset_type: {{type: binary, name: tool}}\nmetadata: meta.json\ncompression: gzip\n\
             build_timestamp: none\n",
            w.gh.api_url()
        ),
    );
    let out = w.sync(&[]);
    assert_exit(&out, 0);
    let layout = w.dir.path().join("oci/tool");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut names: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["2", "2.0", "2.0.0", "latest"],
        "build_timestamp: none"
    );
    let raw = skopeo_inspect_raw(&format!("oci:{}:2.0.0", layout.display()), &[]).unwrap();
    let idx: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let features: Vec<String> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["platform"]["os.features"][0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(features, ["libc.glibc", "libc.musl"]);
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let musl = &idx["manifests"][1];
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(musl["digest"].as_str().unwrap())).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(config["env"][0]["key"], "PATH", "metadata merged: {config}");
    // The binary is inside the layer under the configured name, executable.
    let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]));
    let entries: Vec<(String, u32, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.header().mode().unwrap(),
                e.header().size().unwrap(),
            )
        })
        .collect();
    assert_eq!(entries, [("tool".to_string(), 0o755, bin.len() as u64)]);
}

#[test]
fn assets_uploaded_to_a_release_after_it_was_mirrored_are_added_to_its_index() {
    let w = World::new();
    w.release("v1.0.0", &["linux-amd64"], false);
    w.spec("");
    assert_exit(&w.sync(&[]), 0);
    let before = w.platforms("1.0.0");
    assert_eq!(before.len(), 1);

    // The release pipeline uploads the arm64 asset later.
    let (name, bytes) = w.asset("1.0.0", "linux-arm64");
    w.gh.add_asset(OWNER, REPO, "v1.0.0", AssetSpec::new(&name, bytes));
    let out = w.sync(&[]);
    assert_exit(&out, 0);
    let r = report(&out);
    let v = &r["mirrors"][0]["versions"][0];
    assert_eq!(v["status"], "pushed", "{v}");
    assert!(
        v["reason"].as_str().unwrap().contains("adds linux/arm64"),
        "{v}"
    );
    let after = w.platforms("1.0.0");
    assert_eq!(after.len(), 2);
    assert_eq!(
        after["linux/amd64"], before["linux/amd64"],
        "amd64 untouched"
    );
    assert_eq!(w.platforms("latest"), after, "the rolling tags follow");
    // Nothing is missing any more: the next run skips it.
    let out = w.sync(&[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [("1.0.0".into(), "skipped".into())]
    );
}

#[test]
fn github_digest_policies_and_a_date_build_tag_do_what_the_readme_says() {
    let w = World::new();
    // 1.0.0 carries GitHub's digest; 1.1.0 does not; 1.2.0's is wrong.
    w.release("v1.0.0", &["linux-amd64"], false);
    for (tag, mode) in [("v1.1.0", DigestMode::None), ("v1.2.0", DigestMode::Wrong)] {
        let (a, bytes) = w.asset(tag.trim_start_matches('v'), "linux-amd64");
        w.gh.add_release(
            ReleaseSpec::new(OWNER, REPO, tag)
                .asset_spec(AssetSpec::new(&a, bytes).with_digest(mode)),
        );
    }

    // `require`: an asset without GitHub's digest fails; the one that has it is pushed, and its
    // build tag is `<version>_<YYYYMMDD>` under `build_timestamp: date`.
    w.spec("build_timestamp: date\nverify: {github_asset_digest: require}\n");
    let out = w.sync(&["--version", "1.0.0", "--version", "1.1.0"]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_statuses(
        &r,
        &[
            ("1.0.0", "pushed"),
            ("1.1.0", "failed"),
            ("1.2.0", "excluded"),
        ],
    );
    let reason = r["mirrors"][0]["versions"][1]["reason"].as_str().unwrap();
    assert!(reason.contains("digest"), "{reason}");
    let build_tags: Vec<String> = w
        .tags()
        .into_iter()
        .filter(|t| t.starts_with("1.0.0_"))
        .collect();
    assert_eq!(build_tags.len(), 1, "{build_tags:?}");
    let stamp = &build_tags[0]["1.0.0_".len()..];
    assert!(
        stamp.len() == 8 && stamp.bytes().all(|b| b.is_ascii_digit()),
        "a date build tag is YYYYMMDD: {stamp}"
    );

    // The default (`if_present`) checks GitHub's digest when there is one: the wrong one fails,
    // even with `require: false`.
    w.spec("verify: {require: false}\n");
    let out = w.sync(&["--version", "1.2.0"]);
    assert_exit(&out, 1);
    let r = report(&out);
    let v = entry(&r["mirrors"][0]["versions"], "version", "1.2.0");
    assert_eq!(v["status"], "failed", "{v:#}");
    assert!(v["reason"].as_str().unwrap().contains("mismatch"), "{v:#}");

    // `off`: GitHub's (wrong) digest is not consulted; nothing else verifies the asset, so it
    // goes through only with `require: false`, flagged unverified.
    w.spec("verify: {github_asset_digest: off, require: false}\n");
    let out = w.sync(&["--version", "1.2.0"]);
    assert_exit(&out, 0);
    let r = report(&out);
    let v = entry(&r["mirrors"][0]["versions"], "version", "1.2.0");
    assert_eq!(v["status"], "pushed", "{v:#}");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("unverified"),
        "{v:#}"
    );
}

#[test]
fn exclude_ranges_and_per_platform_upper_bounds_are_exclusive() {
    let w = World::new();
    for tag in ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0"] {
        w.release(tag, &["linux-amd64", "linux-arm64"], false);
    }
    w.spec(
        "exclude: [{min_version: 1.1.0, max_version: 1.3.0, reason: known CVE}]\n\
         platforms: {linux/arm64: {max_version: 1.2.0}}\n",
    );
    let r = json_report(mirrorkit(w.dir.path()).args(["check", "mirror.yml"]), 0);
    let versions = &r["mirrors"][0]["versions"];
    for (version, status) in [
        ("1.0.0", "planned"),
        ("1.1.0", "excluded"),
        ("1.2.0", "excluded"),
        ("1.3.0", "planned"),
    ] {
        let v = entry(versions, "version", version);
        assert_eq!(v["status"], status, "{version}: {v:#}");
        if status == "excluded" {
            assert!(v["reason"].as_str().unwrap().contains("known CVE"), "{v:#}");
        }
    }
    // The range's max_version (1.3.0) is not excluded, and the platform's max_version (1.2.0)
    // stops arm64 from 1.2.0 on: 1.0.0 keeps it, 1.3.0 does not.
    let arm = |version: &str| {
        entry(
            &entry(versions, "version", version)["platforms"],
            "platform",
            "linux/arm64",
        )
        .clone()
    };
    assert_eq!(arm("1.0.0")["status"], "planned");
    assert_eq!(arm("1.3.0")["status"], "excluded");
    assert!(
        arm("1.3.0")["reason"]
            .as_str()
            .unwrap()
            .contains("max_version"),
        "{}",
        arm("1.3.0")
    );
}
