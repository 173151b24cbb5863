//! Generic packages (`pkg:generic/name@version?download_url=…&checksum=sha256:…`): the file is
//! checked against the PURL's checksum while it downloads, placed in the tree with an index
//! listing it, and served offline; a wrong or missing checksum publishes nothing.

mod common;
#[path = "support/packages.rs"]
mod packages;

use common::{all_output, assert_exit, mirrorkit, noise, report, run};
use mirrorkit_testkit::fileserver::FileServer;
use mirrorkit_testkit::process::offline;
use packages::{pairs, serving, versions};

const OFFLINE_PORT: u16 = 8080;

fn sha256_hex(bytes: &[u8]) -> String {
    mirrorkit_testkit::registry::sha256_digest(bytes)
        .trim_start_matches("sha256:")
        .to_string()
}

fn mirror(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let base = format!("http://127.0.0.1:{OFFLINE_PORT}/");
    run(mirrorkit(dir).arg("mirror").args(args).args([
        "--to",
        "tree",
        "--base-url",
        &base,
        "--format",
        "json",
    ]))
}

#[test]
fn a_generic_file_is_verified_placed_listed_and_served_offline() {
    let dir = tempfile::tempdir().unwrap();
    let tool = noise(7, 300_000);
    let other = noise(8, 1_000);
    let upstream = FileServer::with_files([
        ("/releases/tool-1.2.0-linux-amd64.tar.gz", tool.clone()),
        ("/dl/download", other.clone()),
    ]);
    let tool_purl = format!(
        "pkg:generic/acme/tool@1.2.0?download_url={}&checksum=sha256:{}",
        upstream.url("/releases/tool-1.2.0-linux-amd64.tar.gz"),
        sha256_hex(&tool)
    );
    // A URL without a telling file name: `file_name` names it.
    let other_purl = format!(
        "pkg:generic/other@3?download_url={}&checksum=sha256:{}&file_name=other-3.bin",
        upstream.url("/dl/download"),
        sha256_hex(&other)
    );
    let out = mirror(dir.path(), &[&tool_purl, &other_purl]);
    assert_exit(&out, 0);
    assert_eq!(
        versions(&report(&out)),
        pairs(&[("acme/tool@1.2.0", "published"), ("other@3", "published")])
    );
    let placed = dir
        .path()
        .join("tree/generic/acme/tool/1.2.0/tool-1.2.0-linux-amd64.tar.gz");
    assert_eq!(std::fs::read(&placed).unwrap(), tool);
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("tree/generic/acme/tool/index.json")).unwrap(),
    )
    .unwrap();
    let entry = &index["versions"]["1.2.0"]["tool-1.2.0-linux-amd64.tar.gz"];
    assert_eq!(entry["digest"], format!("sha256:{}", sha256_hex(&tool)));
    assert_eq!(entry["size"], tool.len());
    assert!(
        dir.path()
            .join("tree/generic/other/3/other-3.bin")
            .is_file()
    );

    // Warm: the tree holds it with the same digest; nothing is fetched.
    let before = upstream.requests().len();
    let out = mirror(dir.path(), &[&tool_purl]);
    assert_exit(&out, 0);
    assert_eq!(
        versions(&report(&out)),
        pairs(&[("acme/tool@1.2.0", "unchanged")])
    );
    assert_eq!(upstream.requests().len(), before);

    // Served by a plain file server with the network down, the file is what the PURL says.
    let out = offline(&serving(
        &dir.path().join("tree"),
        OFFLINE_PORT,
        &format!(
            "python3 -c \"import urllib.request,hashlib; print(hashlib.sha256(urllib.request.urlopen('http://127.0.0.1:{OFFLINE_PORT}/generic/acme/tool/1.2.0/tool-1.2.0-linux-amd64.tar.gz').read()).hexdigest())\""
        ),
    ));
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&sha256_hex(&tool)), "{text}");
}

#[test]
fn a_wrong_or_missing_checksum_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tool = noise(9, 50_000);
    let upstream = FileServer::with_files([("/tool-1.0.tgz", tool.clone())]);
    let url = upstream.url("/tool-1.0.tgz");
    let wrong = format!(
        "pkg:generic/tool@1.0?download_url={url}&checksum=sha256:{}",
        sha256_hex(b"something else")
    );
    let out = mirror(dir.path(), &[&wrong]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_eq!(versions(&r), pairs(&[("tool@1.0", "failed")]));
    let error = r["packages"][0]["versions"][0]["error"].as_str().unwrap();
    assert!(error.contains("tool-1.0.tgz"), "{error}");
    assert!(!dir.path().join("tree/generic/tool").exists());

    let unverifiable = format!("pkg:generic/tool@1.0?download_url={url}");
    let out = mirror(dir.path(), &[&unverifiable]);
    assert_exit(&out, 1);
    let r = report(&out);
    let error = r["packages"][0]["versions"][0]["error"].as_str().unwrap();
    assert!(error.contains("checksum=sha256:"), "{error}");
    assert!(!dir.path().join("tree/generic/tool").exists());
    // Nothing was downloaded for it: refused before any request.
    assert!(
        upstream
            .requests()
            .iter()
            .filter(|r| r.method == "GET")
            .count()
            <= 1,
        "{:?}",
        upstream.requests()
    );

    // A generic PURL without a version or URL is malformed (65, naming it).
    let out = mirror(dir.path(), &["pkg:generic/tool?checksum=sha256:00"]);
    assert_exit(&out, 65);
    assert!(
        all_output(&out).contains("argument 1"),
        "{}",
        all_output(&out)
    );
}
