//! Package mirrors across an air gap: a spec's package tree is exported into a bundle (as a
//! package tree artifact, beside the images it may also hold), imported on the other side with
//! `--to packages:DIR` under another URL, and the real npm installs from the imported tree
//! offline; a delta bundle carries only new files and is refused where its base is missing; with
//! `--spec` the trees go into the site spec's own package targets.

mod common;
#[path = "support/packages.rs"]
mod packages;

use common::{all_output, assert_exit, mirrorkit, report, run, write_spec};
use mirrorkit_testkit::process::offline;
use mirrorkit_testkit::verdaccio::{Verdaccio, npm_package};
use packages::serving;

/// The imported tree is served here inside the namespace.
const SITE_PORT: u16 = 4873;

fn spec(upstream: &Verdaccio, with_leaf_2: bool) -> String {
    let mut text = format!(
        r#"
target:
  packages: ./tree
  base_url: https://mirror.example/packages/
mirrors:
  app:
    source:
      type: packages
      purls: ['pkg:npm/top@1.0.0']
      upstreams: {{npm: '{url}'}}
      dependencies: true
"#,
        url = upstream.url()
    );
    if with_leaf_2 {
        text.push_str(&format!(
            "  leaf-2:\n    source:\n      type: packages\n      purls: ['pkg:npm/leaf@2.0.0']\n      upstreams: {{npm: '{}'}}\n",
            upstream.url()
        ));
    }
    text
}

/// verdaccio with `leaf` 1.0.0 and 2.0.0 and `top` 1.0.0 (which needs `leaf ^1.0.0`).
fn seeded_upstream(d: &std::path::Path) -> Verdaccio {
    let upstream = Verdaccio::start();
    for (name, version, deps) in [
        ("leaf", "1.0.0", vec![]),
        ("leaf", "2.0.0", vec![]),
        ("top", "1.0.0", vec![("leaf", "^1.0.0")]),
    ] {
        upstream.publish(&npm_package(&d.join("src"), name, version, &deps));
    }
    upstream
}

#[test]
fn a_package_tree_travels_in_a_bundle_and_npm_installs_from_the_imported_tree_offline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut upstream = seeded_upstream(d);
    let spec_path = write_spec(d, spec(&upstream, false));
    let mk = |args: &[&str]| run(mirrorkit(d).args(args));
    assert_exit(&mk(&["sync", spec_path.to_str().unwrap()]), 0);

    let out = mk(&[
        "export",
        spec_path.to_str().unwrap(),
        "-o",
        "one.tar",
        "--json",
    ]);
    assert_exit(&out, 0);
    let first = report(&out);
    assert_eq!(first["tags"], 1, "{first}");

    // Imported under the site's own URL: npm's tarball URLs move with it.
    let site_url = format!("http://127.0.0.1:{SITE_PORT}/");
    let import = |bundle: &str, to: &str| {
        run(mirrorkit(d).args([
            "import",
            bundle,
            "--to",
            &format!("packages:{to}"),
            "--base-url",
            &site_url,
            "--format",
            "json",
        ]))
    };
    let out = import("one.tar", "site");
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(r["tags"][0]["repository"], "packages");
    assert_eq!(r["tags"][0]["status"], "added");
    let doc = std::fs::read_to_string(d.join("site/npm/top/index.html")).unwrap();
    assert!(
        doc.contains(&format!("{site_url}npm/top/-/top-1.0.0.tgz")),
        "{doc}"
    );
    assert!(!doc.contains("mirror.example"), "{doc}");
    assert_eq!(
        report(&import("one.tar", "site"))["tags"][0]["status"],
        "unchanged"
    );

    // A second mirror into the tree; the delta bundle carries the new tarball and the changed
    // document, not what the first one carried.
    let spec_path = write_spec(d, spec(&upstream, true));
    assert_exit(&mk(&["sync", spec_path.to_str().unwrap()]), 0);
    let out = mk(&[
        "export",
        spec_path.to_str().unwrap(),
        "-o",
        "two.tar",
        "--since",
        "one.tar",
        "--json",
    ]);
    assert_exit(&out, 0);
    let second = report(&out);
    assert!(
        second["base_blobs"].as_u64().unwrap() >= 3,
        "the first bundle's tarballs and unchanged documents stay with it: {second}"
    );
    // Where the base was never imported, the delta is refused and nothing is written.
    let out = import("two.tar", "elsewhere");
    assert_exit(&out, 1);
    let text = all_output(&out);
    assert!(
        text.contains("import the bundle it was made against first"),
        "{text}"
    );
    assert!(!d.join("elsewhere/npm/leaf/index.html").exists());
    let out = import("two.tar", "site");
    assert_exit(&out, 0);
    assert_eq!(report(&out)["tags"][0]["status"], "updated");

    // The site, its upstream and the original tree gone: npm installs both majors.
    upstream.stop();
    std::fs::remove_dir_all(d.join("tree")).unwrap();
    let client = d.join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(
        client.join("package.json"),
        r#"{"name":"client","version":"1.0.0","private":true,"dependencies":{"top":"^1.0.0","leaf":"^2.0.0"}}"#,
    )
    .unwrap();
    let out = offline(&serving(
        &d.join("site"),
        SITE_PORT,
        &format!(
            "cd {client:?}\nnpm install --registry={site_url}npm/ --cache=cache --no-audit --no-fund --no-update-notifier --fetch-retries=0\nnode -e 'console.log(require(\"leaf/package.json\").version, require(\"top/node_modules/leaf/package.json\").version)'\n"
        ),
    ));
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2.0.0 1.0.0"), "{text}");
}

#[test]
fn import_with_a_spec_publishes_each_tree_into_the_spec_target_of_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let upstream = Verdaccio::start();
    upstream.publish(&npm_package(&d.join("src"), "leaf", "1.0.0", &[]));
    let spec_path = write_spec(d, spec(&upstream, false).replace("top@1.0.0", "leaf@1.0.0"));
    let mk = |args: &[&str]| run(mirrorkit(d).args(args));
    assert_exit(&mk(&["sync", spec_path.to_str().unwrap()]), 0);
    let out = mk(&[
        "export",
        spec_path.to_str().unwrap(),
        "-o",
        "b.tar",
        "--json",
    ]);
    assert_exit(&out, 0);

    // The site's spec: its own tree directory (named as the exported one) and URL.
    let site = d.join("site");
    std::fs::create_dir_all(&site).unwrap();
    let site_spec = |tree: &str| {
        write_spec(
            &site,
            format!(
                "target: {{packages: ./{tree}, base_url: 'https://site.example/pkgs/'}}\n\
                 mirrors:\n  app:\n    source: {{type: packages, purls: ['pkg:npm/leaf@1.0.0']}}\n"
            ),
        )
    };
    let import = |spec: &std::path::Path, extra: &[&str]| {
        run(mirrorkit(d)
            .args(["import", "b.tar", "--format", "json", "--spec"])
            .arg(spec)
            .args(extra))
    };
    // A spec without a tree of that name: refused, naming it, nothing written.
    let other = site_spec("elsewhere");
    let out = import(&other, &[]);
    assert_exit(&out, 1);
    let text = all_output(&out);
    assert!(
        text.contains("no package target") && text.contains("\"tree\""),
        "{text}"
    );
    assert!(!site.join("elsewhere/npm").exists());
    // --base-url and --to packages: contradict the spec's target.
    let good = site_spec("tree");
    assert_exit(&import(&good, &["--base-url", "http://x/"]), 64);
    assert_exit(&import(&good, &["--to", "packages:x"]), 64);
    // Into the spec's tree, rebased onto its base_url.
    let out = import(&good, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        report(&out)["tags"][0]["status"],
        "added",
        "{}",
        all_output(&out)
    );
    let doc = std::fs::read_to_string(site.join("tree/npm/leaf/index.html")).unwrap();
    assert!(
        doc.contains("https://site.example/pkgs/npm/leaf/-/leaf-1.0.0.tgz"),
        "{doc}"
    );
    assert!(site.join("tree/npm/leaf/-/leaf-1.0.0.tgz").is_file());
    assert_eq!(
        report(&import(&good, &[]))["tags"][0]["status"],
        "unchanged"
    );
}

/// Every npm document under `tree/npm` is whole JSON, and every tarball it names (under
/// `base`) is in the tree: what a reader of a tree an import was killed in may see.
fn documents_name_only_present_files(tree: &std::path::Path, base: &str) -> usize {
    let mut documents = 0;
    for (path, bytes) in common::tree(tree) {
        if !(path.starts_with("npm/") && path.ends_with("/index.html")) {
            continue;
        }
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|err| panic!("{path}: not whole JSON ({err})"));
        for (version, v) in doc["versions"].as_object().into_iter().flatten() {
            let url = v["dist"]["tarball"].as_str().unwrap();
            let rel = url.strip_prefix(base).unwrap_or_else(|| panic!("{url}"));
            assert!(
                tree.join(rel).is_file(),
                "{path} names {version} at {rel}, which is missing"
            );
        }
        documents += 1;
    }
    documents
}

#[test]
fn an_import_killed_at_any_moment_never_shows_a_document_naming_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let upstream = seeded_upstream(d);
    let spec_path = write_spec(d, spec(&upstream, true));
    assert_exit(&run(mirrorkit(d).args(["sync"]).arg(&spec_path)), 0);
    assert_exit(
        &run(mirrorkit(d)
            .args(["export"])
            .arg(&spec_path)
            .args(["-o", "b.tar"])),
        0,
    );
    let base = "http://site.example/p/";
    let import = |to: &str| {
        let mut cmd = common::mirrorkit_process(d);
        cmd.args(["import", "b.tar", "--base-url", base, "--to"])
            .arg(format!("packages:{to}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    let started = std::time::Instant::now();
    assert!(import("clean").status().unwrap().success());
    let whole = started.elapsed();
    let clean = common::tree(&d.join("clean"));
    assert_eq!(documents_name_only_present_files(&d.join("clean"), base), 2);

    // Killed at moments spread over a whole import (start-up included), each time into a
    // fresh tree: a reader never finds a document naming a file that is not there.
    let (mut killed_running, rounds) = (0, 30u32);
    for i in 0..rounds {
        let to = format!("site{i}");
        let mut child = import(&to).spawn().unwrap();
        std::thread::sleep(whole * i / rounds);
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        if d.join(&to).join("npm").exists() {
            documents_name_only_present_files(&d.join(&to), base);
        }
        // The next import into that tree finishes it, the same as an import never killed.
        assert!(import(&to).status().unwrap().success(), "round {i}");
        let after = common::tree(&d.join(&to));
        let differ: Vec<&String> = after
            .keys()
            .chain(clean.keys())
            .filter(|k| after.get(*k) != clean.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "round {i}: not the clean import's tree: {differ:?}"
        );
    }
    assert!(
        killed_running >= rounds / 4,
        "only {killed_running} of {rounds} kills hit a running import"
    );
}
