//! Package mirrors in a spec (`type: packages`): `sync`, `check`, `--only`, `validate` and the
//! report work for them as for every other family. A real npm registry (verdaccio) is the
//! upstream; two mirrors share one published tree; the real npm installs from it offline.

mod common;
#[path = "support/packages.rs"]
mod packages;

use common::{all_output, assert_exit, assert_spec_refused, mirrorkit, report, run, write_spec};
use mirrorkit_testkit::process::offline;
use mirrorkit_testkit::verdaccio::{Verdaccio, npm_package};
use packages::serving;

/// Inside the namespace every port is free: the tree is served here.
const OFFLINE_PORT: u16 = 4873;

/// leaf 1.0.0, 1.1.0, 2.0.0, 2.1.0-beta.1; top 1.0.0 (leaf ^1.0.0).
fn upstream(dir: &std::path::Path) -> Verdaccio {
    let upstream = Verdaccio::start();
    let src = dir.join("src");
    for (name, version, deps) in [
        ("leaf", "1.0.0", vec![]),
        ("leaf", "1.1.0", vec![]),
        ("leaf", "2.0.0", vec![]),
        ("leaf", "2.1.0-beta.1", vec![]),
        ("top", "1.0.0", vec![("leaf", "^1.0.0")]),
    ] {
        upstream.publish(&npm_package(&src, name, version, &deps));
    }
    upstream
}

/// Two package mirrors into one tree: `app` (top and what it needs) and `leaf-2` (leaf by a
/// version policy: from 1.1 on, the highest two, no prereleases).
fn spec(upstream: &Verdaccio) -> String {
    format!(
        r#"
target:
  packages: ./tree
  base_url: http://127.0.0.1:{OFFLINE_PORT}/
mirrors:
  app:
    source:
      type: packages
      purls: ['pkg:npm/top@1.0.0']
      upstreams: {{npm: '{url}'}}
      dependencies: true
  leaf-2:
    source:
      type: packages
      purls: ['pkg:npm/leaf']
      upstreams: {{npm: '{url}'}}
      versions: {{semver: '>=1.1', latest: 2}}
"#,
        url = upstream.url()
    )
}

/// (mirror key, version, status) of every version in a run's report, sorted.
fn entries(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for m in report["mirrors"].as_array().unwrap() {
        for v in m["versions"].as_array().unwrap() {
            out.push((
                m["key"].as_str().unwrap().to_string(),
                v["version"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            ));
        }
    }
    out.sort();
    out
}

fn triples(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn package_mirrors_sync_check_and_only_like_every_family_and_npm_installs_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut upstream = upstream(dir.path());
    let spec = write_spec(dir.path(), spec(&upstream));
    let json = |args: &[&str]| {
        run(mirrorkit(dir.path())
            .args(args)
            .arg(&spec)
            .args(["--format", "json"]))
    };

    assert_exit(&run(mirrorkit(dir.path()).arg("validate").arg(&spec)), 0);

    // --only: the one mirror, its dependencies followed.
    let out = json(&["sync", "--only", "app"]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(
        entries(&r),
        triples(&[
            ("app", "npm/leaf@1.1.0", "pushed"),
            ("app", "npm/top@1.0.0", "pushed"),
        ])
    );
    let target = r["mirrors"][0]["target"].as_str().unwrap();
    assert!(
        target.starts_with("packages:/") && target.ends_with("/tree"),
        "{target}"
    );

    // check: what is published is skipped; what the policy adds is planned; nothing written.
    let out = json(&["check"]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(r["dry_run"], true);
    assert_eq!(
        entries(&r),
        triples(&[
            ("app", "npm/leaf@1.1.0", "skipped"),
            ("app", "npm/top@1.0.0", "skipped"),
            ("leaf-2", "npm/leaf@1.1.0", "skipped"),
            ("leaf-2", "npm/leaf@2.0.0", "planned"),
        ])
    );
    assert!(!dir.path().join("tree/npm/leaf/-/leaf-2.0.0.tgz").exists());

    // sync: the policy's versions join what the other mirror published in the same document.
    let out = json(&["sync"]);
    assert_exit(&out, 0);
    assert_eq!(
        entries(&report(&out)),
        triples(&[
            ("app", "npm/leaf@1.1.0", "skipped"),
            ("app", "npm/top@1.0.0", "skipped"),
            ("leaf-2", "npm/leaf@1.1.0", "skipped"),
            ("leaf-2", "npm/leaf@2.0.0", "pushed"),
        ])
    );
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("tree/npm/leaf/index.html")).unwrap(),
    )
    .unwrap();
    let mut listed: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
    listed.sort();
    assert_eq!(listed, ["1.1.0", "2.0.0"], "{doc:#}");

    // The plain table names the mirrors and what they did.
    let out = run(mirrorkit(dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 0);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("leaf-2") && table.contains("npm/leaf@2.0.0"),
        "{table}"
    );

    // With the upstream gone and the network down, npm installs both majors from the tree.
    upstream.stop();
    let client = dir.path().join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(
        client.join("package.json"),
        r#"{"name":"client","version":"1.0.0","private":true,"dependencies":{"top":"^1.0.0","leaf":"^2.0.0"}}"#,
    )
    .unwrap();
    let out = offline(&serving(
        &dir.path().join("tree"),
        OFFLINE_PORT,
        &format!(
            "cd {client:?}\nnpm install --registry=http://127.0.0.1:{OFFLINE_PORT}/npm/ --cache=cache --no-audit --no-fund --no-update-notifier --fetch-retries=0\nnode -e 'console.log(require(\"leaf/package.json\").version, require(\"top/node_modules/leaf/package.json\").version)'\n"
        ),
    ));
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2.0.0 1.1.0"), "{text}");

    // The upstream is gone: a sync now fails the mirrors with 69, naming the upstream.
    let out = json(&["sync", "--only", "leaf-2"]);
    assert_exit(&out, 69);
    let r = report(&out);
    let message = r["mirrors"][0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("127.0.0.1"), "{message}");
}

#[test]
fn a_bad_purl_or_range_in_a_spec_is_refused_by_validate_check_and_sync_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let head = "target: {base_url: 'http://127.0.0.1:9/'}\nmirrors:\n  web:\n    source:\n      type: packages\n";
    // The PURL's line and column in the spec.
    assert_spec_refused(
        dir.path(),
        "purl.yml",
        &format!("{head}      purls: ['pkg:npm/ok@1.0.0', 'npm:left-pad']\n"),
        &["purl.yml:6:", "mirror web", "npm:left-pad"],
    );
    // A range the ecosystem's syntax does not accept, named with the PURL it applies to.
    assert_spec_refused(
        dir.path(),
        "range.yml",
        &format!("{head}      purls: ['pkg:cargo/serde']\n      versions: '^^1'\n"),
        &["mirror web", "^^1", "pkg:cargo/serde"],
    );
    // An SBOM that is not one, named.
    std::fs::write(dir.path().join("bom.json"), "{\"bomFormat\": 3}").unwrap();
    assert_spec_refused(
        dir.path(),
        "sbom.yml",
        &format!("{head}      sboms: [bom.json]\n"),
        &["bom.json"],
    );
    // --version / --latest are the release family's filters: refused for a packages mirror.
    let spec = dir.path().join("ok.yml");
    std::fs::write(&spec, format!("{head}      purls: ['pkg:npm/ok@1.0.0']\n")).unwrap();
    let out = run(mirrorkit(dir.path()).args(["check", "--latest"]).arg(&spec));
    assert_exit(&out, 64);
    assert!(
        all_output(&out).contains("do not apply to a packages mirror"),
        "{}",
        all_output(&out)
    );
}
