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

#[test]
fn a_package_tree_travels_in_a_bundle_and_npm_installs_from_the_imported_tree_offline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut upstream = Verdaccio::start();
    for (name, version, deps) in [
        ("leaf", "1.0.0", vec![]),
        ("leaf", "2.0.0", vec![]),
        ("top", "1.0.0", vec![("leaf", "^1.0.0")]),
    ] {
        upstream.publish(&npm_package(&d.join("src"), name, version, &deps));
    }
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
