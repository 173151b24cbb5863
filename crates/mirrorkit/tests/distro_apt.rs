//! apt mirrors end to end: a real repository (`dpkg-deb`, `apt-ftparchive`, signed by a
//! throw-away gpg key) on a plain file server; `sync` verifies and switches the mirror tree in;
//! the real `apt-get` (an isolated root, `signed-by` the same key) runs `update` and fetches
//! packages from it with the network down; and every corruption is refused with the tree left
//! byte for byte as it was.

mod common;
#[path = "support/distro.rs"]
mod distro;

use std::path::Path;

use common::tree;
use common::{all_output, assert_exit, mirrorkit, report, run, write_spec};
use distro::{flip_middle_byte, pooled};
use mirrorkit_testkit::apt_repo::{AptRepo, Deb};
use mirrorkit_testkit::fileserver::FileServer;
use mirrorkit_testkit::process::offline;

const OFFLINE_PORT: u16 = 8080;

fn spec(upstream: &FileServer, keyring: &str) -> String {
    format!(
        r#"
target:
  repos: {{root: ./repos}}
mirrors:
  debian:
    source:
      type: apt
      url: {url}
      suites: [stable]
      components: [main]
      architectures: [amd64]
      keyring: {keyring}
"#,
        url = upstream.url("/")
    )
}

/// The name `repo snapshot` printed (`snapshot NAME of …`), once it succeeded.
fn snapshot_name(out: &std::process::Output) -> String {
    assert_exit(out, 0);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("snapshot NAME")
        .to_string()
}

/// A published repository holding `debs`, and a file server serving it.
fn served_repo(dir: &Path, debs: &[Deb]) -> (AptRepo, FileServer) {
    let repo = AptRepo::new(dir);
    for deb in debs {
        repo.add(deb);
    }
    repo.publish();
    let upstream = FileServer::start(repo.dir());
    (repo, upstream)
}

fn statuses(r: &serde_json::Value) -> Vec<(String, String)> {
    r["mirrors"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_apt_repository_is_verified_mirrored_and_apt_get_installs_from_it_offline() {
    let dir = tempfile::tempdir().unwrap();
    let repo = AptRepo::new(dir.path());
    let hello = Deb::new("hello", "1.0", "amd64");
    repo.add(&hello);
    repo.add(&Deb::new("world", "1.0", "all").depending_on("hello"));
    repo.add(&Deb::new("unwanted", "1.0", "amd64"));
    repo.publish();
    let upstream = FileServer::start(repo.dir());
    let spec_path = write_spec(
        dir.path(),
        spec(&upstream, "keyring.asc") + "      exclude: ['^unwanted$']\n",
    );
    let sync = |extra: &[&str]| {
        run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec_path)
            .args(extra)
            .args(["--format", "json"]))
    };

    let out = run(mirrorkit(dir.path()).arg("validate").arg(&spec_path));
    assert_exit(&out, 0);
    let out = sync(&["--dry-run"]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [("stable".into(), "planned".into())]
    );
    assert!(!dir.path().join("repos/mirror/debian").exists());

    let out = sync(&[]);
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(statuses(&r), [("stable".into(), "pushed".into())]);
    let mirror = dir.path().join("repos/mirror/debian");
    assert!(
        std::fs::symlink_metadata(&mirror)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(mirror.join("dists/stable/InRelease").is_file());
    assert!(mirror.join(hello.pool_path()).is_file());
    assert!(
        !mirror.join("pool/main/u").exists(),
        "excluded by the filter"
    );
    // by-hash, as the Release asks: apt fetches indexes by their digest.
    let by_hash = mirror.join("dists/stable/main/binary-amd64/by-hash/SHA256");
    assert!(std::fs::read_dir(&by_hash).unwrap().count() >= 3);

    // Warm: nothing changed upstream, nothing is fetched but the InRelease.
    let before = upstream.requests().len();
    let out = sync(&[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [("stable".into(), "skipped".into())]
    );
    let requests: Vec<String> = upstream.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(requests, ["GET /dists/stable/InRelease"]);

    // A new setting (the filter dropped) rebuilds the tree although upstream did not change.
    std::fs::write(
        &spec_path,
        std::fs::read_to_string(&spec_path)
            .unwrap()
            .replace("      exclude: ['^unwanted$']\n", ""),
    )
    .unwrap();
    let out = sync(&[]);
    assert_exit(&out, 0);
    assert_eq!(
        statuses(&report(&out)),
        [("stable".into(), "pushed".into())]
    );
    assert!(
        mirror
            .join("pool/main/u/unwanted/unwanted_1.0_amd64.deb")
            .is_file()
    );

    // --json-logs: every log line is one JSON object (here the signature check, at debug).
    let out = run(mirrorkit(dir.path())
        .args(["--json-logs", "--log-level", "debug", "sync"])
        .arg(&spec_path));
    assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "InRelease verified" && l["level"] == "DEBUG"),
        "{stderr}"
    );

    // The upstream gone and the network down, apt-get reads the mirror served by a plain file
    // server: update (signature checked against the same key) and a package with its
    // dependency.
    drop(upstream);
    let apt_root = dir.path().join("apt");
    let apt = apt_root_for(
        dir.path(),
        &repo.keyring,
        &format!("http://127.0.0.1:{OFFLINE_PORT}/debian"),
    );
    let script = format!(
        "cd {:?}\npython3 -m http.server {OFFLINE_PORT} --bind 127.0.0.1 >/dev/null 2>{log:?} &\nfor i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/{OFFLINE_PORT}) 2>/dev/null && break; sleep 0.1; done\n{apt} update\n{apt} install -y --download-only world\nls {root}/var/cache/apt/archives\n",
        dir.path().join("repos/mirror"),
        root = apt_root.display(),
        log = dir.path().join("access.log"),
    );
    let out = offline(&script);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("hello_1.0_amd64.deb") && text.contains("world_1.0_all.deb"),
        "{text}"
    );
    // apt took the index by its digest (the Release says Acquire-By-Hash), from the by-hash
    // directory the mirror wrote.
    let log = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    assert!(
        log.contains("GET /debian/dists/stable/main/binary-amd64/by-hash/SHA"),
        "{log}"
    );
    assert!(!log.contains(" 404 "), "{log}");
}

#[test]
fn every_corruption_fails_the_sync_naming_the_file_and_leaves_the_tree_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, upstream) = served_repo(dir.path(), &[Deb::new("hello", "1.0", "amd64")]);
    let spec_path = write_spec(dir.path(), spec(&upstream, "keyring.gpg"));
    let sync = || {
        run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec_path)
            .args(["--format", "json"]))
    };
    assert_exit(&sync(), 0);
    let mirror = dir.path().join("repos/mirror/debian");
    let good = tree(&mirror);

    // Each case changes the upstream so that a sync would switch the tree, then corrupts it.
    let refused = |case: &str, needles: &[&str]| {
        let out = sync();

        assert_exit(&out, 1);
        let r = report(&out);
        let text = serde_json::to_string(&r["mirrors"][0]["versions"]).unwrap();
        for n in needles {
            assert!(text.contains(n), "{case}: {n:?} not in {text}");
        }
        assert!(tree(&mirror) == good, "{case}: the mirror tree changed");
    };

    // A flipped byte in a new .deb (the index is right, the file is not).
    let v11 = repo.add(&Deb::new("hello", "1.1", "amd64"));
    repo.publish();
    let good_bytes = std::fs::read(&v11).unwrap();
    flip_middle_byte(&v11);
    refused(
        "flipped .deb",
        &["hello_1.1_amd64.deb", "checksum mismatch"],
    );

    // A truncated .deb.
    std::fs::write(&v11, &good_bytes[..good_bytes.len() - 100]).unwrap();
    refused("truncated .deb", &["hello_1.1_amd64.deb"]);
    std::fs::write(&v11, &good_bytes).unwrap();

    // An InRelease signed by a key the keyring does not hold.
    repo.sign_with_unknown_key();
    refused("unknown key", &["InRelease", "signature"]);

    // A Packages edited after the Release was signed (a new one: an index the mirror already
    // holds verified is not fetched again, whatever the upstream now serves).
    repo.add(&Deb::new("extra", "1.0", "all"));
    repo.publish();
    let packages = repo
        .dir()
        .join("dists/stable/main/binary-amd64/Packages.xz");
    let mut xz = std::fs::read(&packages).unwrap();
    let last = xz.len() - 1;
    xz[last] ^= 0x01;
    std::fs::write(&packages, &xz).unwrap();
    std::fs::remove_file(repo.dir().join("dists/stable/main/binary-amd64/Packages")).unwrap();
    refused("edited Packages", &["Packages.xz"]);

    // An InRelease whose signed text was edited (a date pushed forward) without signing again.
    repo.publish();
    let inrelease = repo.dir().join("dists/stable/InRelease");
    let text = std::fs::read_to_string(&inrelease).unwrap();
    std::fs::write(
        &inrelease,
        text.replacen("Date: ", "Date: Mon, 01 Jan 2035 00:00:00 UTC\nX-Was: ", 1),
    )
    .unwrap();
    refused("edited InRelease", &["InRelease", "BAD signature"]);

    // Put right, the sync goes through and the new versions are there.
    repo.publish();
    assert_exit(&sync(), 0);
    assert!(
        mirror
            .join("pool/main/h/hello/hello_1.1_amd64.deb")
            .is_file()
    );
    assert!(mirror.join("pool/main/e/extra/extra_1.0_all.deb").is_file());

    // Without an InRelease, Release and its detached Release.gpg are read and kept instead; with
    // the signature gone too, nothing is trusted.
    repo.add(&Deb::new("late", "1.0", "all"));
    repo.publish();
    std::fs::remove_file(repo.dir().join("dists/stable/InRelease")).unwrap();
    std::fs::remove_file(repo.dir().join("dists/stable/Release.gpg")).unwrap();
    let good = tree(&mirror);
    let out = sync();
    assert_exit(&out, 1);
    assert!(
        all_output(&out).contains("Release.gpg"),
        "{}",
        all_output(&out)
    );
    assert!(
        tree(&mirror) == good,
        "a repository without a signature changed the tree"
    );
    repo.publish();
    std::fs::remove_file(repo.dir().join("dists/stable/InRelease")).unwrap();
    assert_exit(&sync(), 0);
    assert!(mirror.join("dists/stable/Release.gpg").is_file());
    assert!(!mirror.join("dists/stable/InRelease").exists());
    assert!(mirror.join("pool/main/l/late/late_1.0_all.deb").is_file());
}

#[test]
fn sources_udebs_translations_contents_and_appstream_are_mirrored_when_asked_and_apt_get_source_works_offline()
 {
    let dir = tempfile::tempdir().unwrap();
    let repo = AptRepo::new(dir.path()).with_extras();
    repo.add(&Deb::new("hello", "1.0", "amd64"));
    repo.add(&Deb::new("hello-udeb", "1.0", "amd64").as_udeb());
    let source_files = repo.add_source("hello", "1.0");
    repo.publish();
    let upstream = FileServer::start(repo.dir());
    // One mirror with every extra, one (another prefix) with none.
    let spec_text = spec(&upstream, "keyring.gpg")
        + "      sources: true\n      udebs: true\n      translations: [en]\n      contents: true\n      dep11: true\n"
        + &spec(&upstream, "keyring.gpg")
            .split_once("mirrors:\n")
            .unwrap()
            .1
            .replace("  debian:", "  plain:");
    let spec_path = write_spec(dir.path(), spec_text);
    let sync = || {
        run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec_path)
            .args(["--format", "json"]))
    };
    let out = sync();
    assert_exit(&out, 0);
    let mirror = dir.path().join("repos/mirror/debian");
    let main = mirror.join("dists/stable/main");
    for f in &source_files {
        let name = f.file_name().unwrap();
        assert!(
            mirror.join("pool/main/h/hello").join(name).is_file(),
            "{name:?}"
        );
    }
    for rel in [
        "pool/main/h/hello-udeb/hello-udeb_1.0_amd64.udeb",
        "dists/stable/main/source/Sources.xz",
        "dists/stable/main/debian-installer/binary-amd64/Packages.xz",
        "dists/stable/main/i18n/Translation-en.bz2",
        "dists/stable/main/Contents-amd64.gz",
        "dists/stable/main/dep11/Components-amd64.yml.gz",
        "dists/stable/main/dep11/icons-48x48.tar.gz",
    ] {
        assert!(mirror.join(rel).is_file(), "{rel}");
    }
    for by_hash in [
        "source",
        "i18n",
        "dep11",
        "debian-installer/binary-amd64",
        "",
    ] {
        let d = main.join(by_hash).join("by-hash/SHA256");
        assert!(std::fs::read_dir(&d).is_ok_and(|r| r.count() > 0), "{d:?}");
    }
    let plain = tree(&dir.path().join("repos/mirror/plain"));
    assert!(
        plain.keys().all(|k| !k.contains("/source/")
            && !k.contains("i18n")
            && !k.contains("Contents")
            && !k.contains("dep11")
            && !k.contains("debian-installer")
            && !k.ends_with(".dsc")
            && !k.ends_with(".udeb")),
        "{:?}",
        plain.keys().collect::<Vec<_>>()
    );

    // A source file whose bytes do not match the Sources index: refused, tree unchanged.
    let good = tree(&mirror);
    let v2 = repo.add_source("hello", "2.0");
    repo.publish();
    flip_middle_byte(&v2[1]);
    let out = sync();
    assert_exit(&out, 1);
    let text = all_output(&out);
    assert!(text.contains("hello_2.0.tar.xz"), "{text}");
    assert!(tree(&mirror) == good, "the mirror tree changed");
    repo.add_source("hello", "2.0");
    repo.publish();
    assert_exit(&sync(), 0);

    // Offline, apt-get reads the binary and source indexes from the mirror, and `apt-get
    // source` downloads the source package checked against Sources.
    drop(upstream);
    let apt = apt_root_for(
        dir.path(),
        &repo.keyring,
        &format!("http://127.0.0.1:{OFFLINE_PORT}/debian"),
    );
    let apt_root = dir.path().join("apt");
    std::fs::write(
        apt_root.join("etc/apt/sources.list"),
        format!(
            "deb [signed-by={k}] http://127.0.0.1:{OFFLINE_PORT}/debian stable main\ndeb-src [signed-by={k}] http://127.0.0.1:{OFFLINE_PORT}/debian stable main\n",
            k = repo.keyring.display()
        ),
    )
    .unwrap();
    let fetched = dir.path().join("fetched");
    std::fs::create_dir_all(&fetched).unwrap();
    let script = format!(
        "cd {:?}\npython3 -m http.server {OFFLINE_PORT} --bind 127.0.0.1 >/dev/null 2>{log:?} &\nfor i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/{OFFLINE_PORT}) 2>/dev/null && break; sleep 0.1; done\n{apt} -o Acquire::Languages=en update\ncd {fetched:?}\n{apt} source --download-only hello=2.0\nls {fetched:?}\n",
        dir.path().join("repos/mirror"),
        log = dir.path().join("access.log"),
    );
    let out = offline(&script);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("hello_2.0.dsc") && text.contains("hello_2.0.tar.xz"),
        "{text}"
    );
    let log = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    assert!(!log.contains(" 404 "), "{log}");
}

/// An isolated apt root reading `deb [signed-by=KEY] URL stable main`; the apt-get command line.
fn apt_root_for(dir: &Path, keyring: &Path, url: &str) -> String {
    let root = dir.join("apt");
    for d in [
        "etc/apt/sources.list.d",
        "etc/apt/preferences.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(
        root.join("etc/apt/sources.list"),
        format!("deb [signed-by={}] {url} stable main\n", keyring.display()),
    )
    .unwrap();
    format!(
        "apt-get -q -o Dir={root} -o Dir::State::status={root}/var/lib/dpkg/status -o Debug::NoLocking=1 -o APT::Architecture=amd64 -o Acquire::Retries=0",
        root = root.display()
    )
}

#[test]
fn snapshots_are_published_atomically_while_apt_get_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let repo = AptRepo::new(dir.path());
    let upstream = FileServer::start(repo.dir());
    let spec_path = write_spec(dir.path(), spec(&upstream, "keyring.gpg"));
    let mk = |args: &[&str]| run(mirrorkit(dir.path()).args(args).arg(&spec_path));
    let root = dir.path().join("repos");

    // Nothing synced yet: no snapshot is taken, and nothing is published.
    let out = mk(&["repo", "snapshot"]);
    assert_exit(&out, 1);
    assert!(
        all_output(&out).contains("run sync first"),
        "{}",
        all_output(&out)
    );
    assert_exit(&mk(&["repo", "publish-snapshot"]), 64);

    // Five generations: each adds a package, syncs, and takes a snapshot.
    let mut names = Vec::new();
    for g in 1..=5 {
        repo.add(&Deb::new(&format!("pkg{g}"), "1.0", "all"));
        repo.publish();
        assert_exit(&mk(&["sync"]), 0);
        let name = snapshot_name(&mk(&["repo", "snapshot"]));
        let current = std::fs::read_to_string(root.join("state/current_snapshot.txt")).unwrap();
        assert_eq!(current.trim(), name);
        names.push(name);
    }
    // A snapshot is a tree of hard links into the pool: immutable content, no copies.
    let first = root.join("snapshots").join(&names[0]).join("debian");
    let deb = first.join("pool/main/p/pkg1/pkg1_1.0_all.deb");
    assert!(std::fs::metadata(&deb).unwrap().len() > 0);
    assert!(
        !first.join("pool/main/p/pkg2").exists(),
        "the first snapshot is as it was"
    );
    use std::os::unix::fs::MetadataExt as _;
    assert!(
        std::fs::metadata(&deb).unwrap().nlink() >= 3,
        "pool, mirror tree, snapshots"
    );

    // Publish the first; then, while apt-get updates in a loop against `public/`, publish the
    // others one after another: every update succeeds (it sees one snapshot or the next, and
    // the index it was promised stays reachable by hash).
    assert_exit(
        &mk(&["repo", "publish-snapshot", "--snapshot", &names[0]]),
        0,
    );
    drop(upstream);
    // The server resolves `public/` at every request, as nginx does.
    let apt = apt_root_for(
        dir.path(),
        &repo.keyring,
        &format!("http://127.0.0.1:{OFFLINE_PORT}/public/debian"),
    );
    let publish: Vec<String> = names[1..]
        .iter()
        .map(|n| {
            format!(
                "sleep 0.4; {} repo publish-snapshot {spec:?} --snapshot {n} >/dev/null",
                env!("CARGO_BIN_EXE_mirrorkit"),
                spec = spec_path
            )
        })
        .collect();
    let script = format!(
        "python3 -m http.server {OFFLINE_PORT} --bind 127.0.0.1 --directory {root:?} >/dev/null 2>&1 &\nfor i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/{OFFLINE_PORT}) 2>/dev/null && break; sleep 0.1; done\n\
         ( {publish} ; touch {done:?} ) &\n\
         n=0; until [ -e {done:?} ]; do {apt} update >{log:?} 2>&1 || {{ cat {log:?}; exit 1; }}; n=$((n+1)); done\n\
         echo updates=$n\n\
         rm -rf {lists:?}/*; mkdir -p {lists:?}/partial\n\
         {apt} update >{log:?} 2>&1 || {{ cat {log:?}; exit 1; }}\n\
         {apt} install -y --download-only pkg5\n",
        publish = publish.join("; "),
        done = dir.path().join("published"),
        log = dir.path().join("update.log"),
        // Generations a second apart look unmodified to If-Modified-Since: start afresh.
        lists = dir.path().join("apt/var/lib/apt/lists"),
    );
    let out = offline(&script);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    let updates: usize = text
        .split("updates=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        updates >= 4,
        "the reader loop ran {updates} updates across 4 publications"
    );
    assert!(
        dir.path()
            .join("apt/var/cache/apt/archives/pkg5_1.0_all.deb")
            .is_file(),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("state/published_snapshot.txt"))
            .unwrap()
            .trim(),
        names[4]
    );
    // Nothing of mirrorkit's own is in the public tree: only the prefix.
    let public: Vec<String> = std::fs::read_dir(root.join("public"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(public, ["debian"]);

    // --all adds every snapshot under public/snapshots/<name>/.
    assert_exit(&mk(&["repo", "publish-snapshot", "--all"]), 0);
    for n in &names {
        assert!(
            root.join("public/snapshots")
                .join(n)
                .join("debian/dists/stable/InRelease")
                .is_file(),
            "{n}"
        );
    }
}

#[test]
fn inventory_catalogs_and_retention_describe_and_trim_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let repo = AptRepo::new(dir.path());
    let upstream = FileServer::start(repo.dir());
    let spec_path = write_spec(
        dir.path(),
        spec(&upstream, "keyring.gpg").replace("{root: ./repos}", "{root: ./repos, keep: 1}"),
    );
    let mk = |args: &[&str]| run(mirrorkit(dir.path()).args(args).arg(&spec_path));
    let root = dir.path().join("repos");
    // Generation 1 has `old`, which upstream then drops; generations 2 and 3 add packages.
    let old = repo.add(&Deb::new("old", "1.0", "all"));
    let old_sha = mirrorkit_testkit::registry::sha256_digest(&std::fs::read(&old).unwrap());
    let mut names = Vec::new();
    for g in 1..=3 {
        if g == 2 {
            std::fs::remove_file(&old).unwrap();
        }
        repo.add(&Deb::new(&format!("pkg{g}"), "1.0", "amd64"));
        repo.publish();
        assert_exit(&mk(&["sync"]), 0);
        names.push(snapshot_name(&mk(&["repo", "snapshot"])));
    }
    // The second is published; the third is current.
    assert_exit(
        &mk(&["repo", "publish-snapshot", "--snapshot", &names[1]]),
        0,
    );

    // The inventory: every snapshot, which is current and which published, and the repository.
    assert_exit(&mk(&["repo", "publish-inventory"]), 0);
    let inventory: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("metadata/inventory.json")).unwrap())
            .unwrap();
    common::assert_follows_schema("inventory", &inventory);
    assert_eq!(inventory["current_snapshot"], names[2].as_str());
    assert_eq!(inventory["published_snapshot"], names[1].as_str());
    assert_eq!(inventory["snapshots"].as_array().unwrap().len(), 3);
    assert_eq!(inventory["snapshots"][1]["published"], true);
    assert!(
        inventory["snapshots"][2]["prefixes"][0]["files"]
            .as_u64()
            .unwrap()
            > 3
    );
    assert_eq!(inventory["repositories"][0]["prefix"], "debian");
    assert_eq!(inventory["repositories"][0]["mirrored"], true);

    // The catalog of the current snapshot: every package with its digest and path.
    assert_exit(&mk(&["repo", "publish-catalog"]), 0);
    let catalog: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join(format!("metadata/snapshots/{}/repo_catalog.json", names[2])))
            .unwrap(),
    )
    .unwrap();
    common::assert_follows_schema("catalog", &catalog);
    let repo0 = &catalog["repositories"][0];
    assert_eq!(repo0["path"], "debian");
    assert_eq!(repo0["suite"], "stable");
    assert_eq!(
        repo0["signed_by"].as_array().unwrap().len(),
        2,
        "fingerprint and key id"
    );
    let packages: Vec<&serde_json::Value> = repo0["indexes"][0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let names_in: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names_in, ["pkg1", "pkg2", "pkg3"]);
    let pkg3 = packages[2];
    let file = root
        .join("snapshots")
        .join(&names[2])
        .join("debian")
        .join(pkg3["path"].as_str().unwrap());
    assert_eq!(
        pkg3["checksum"].as_str().unwrap(),
        mirrorkit_testkit::registry::sha256_digest(&std::fs::read(&file).unwrap())
    );
    // --rebuild: every snapshot; the metadata is outside the published tree.
    assert_exit(&mk(&["repo", "publish-catalog", "--rebuild"]), 0);
    assert!(
        root.join(format!("metadata/snapshots/{}/repo_catalog.json", names[0]))
            .is_file()
    );
    assert!(!root.join("public/metadata").exists());

    // The standalone catalog needs no spec: any tree on disk.
    let out = run(mirrorkit(dir.path()).args([
        "repo",
        "catalog",
        "--root-dir",
        root.join("snapshots").join(&names[0]).to_str().unwrap(),
        "--output",
        "first.json",
        "--format",
        "apt",
        "--summary-json",
    ]));
    assert_exit(&out, 0);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["repositories"], 1);
    assert_eq!(summary["packages"], 2, "old and pkg1");
    common::assert_follows_schema(
        "catalog",
        &serde_json::from_slice(&std::fs::read(dir.path().join("first.json")).unwrap()).unwrap(),
    );
    // Only the formats asked for: there is no rpm repository here.
    let out = run(mirrorkit(dir.path()).args([
        "repo",
        "catalog",
        "--root-dir",
        ".",
        "--format",
        "rpm",
        "--summary-json",
    ]));
    assert_exit(&out, 0);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["repositories"], 0);
    let out = run(mirrorkit(dir.path()).args(["repo", "catalog", "--root-dir", "nowhere"]));
    assert_exit(&out, 65);

    // Retention keeps 1 (the newest) and never the current or published one: the first goes,
    // and with it the pool file only it held.
    let pool_file = root
        .join("pool/sha256")
        .join(&old_sha["sha256:".len().."sha256:".len() + 2])
        .join(&old_sha["sha256:".len()..]);
    assert!(pool_file.is_file());
    let out = mk(&["repo", "cleanup-state"]);
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&names[0]),
        "{}",
        all_output(&out)
    );
    assert!(!root.join("snapshots").join(&names[0]).exists());
    assert!(
        root.join("snapshots").join(&names[1]).exists(),
        "published: kept"
    );
    assert!(
        root.join("snapshots").join(&names[2]).exists(),
        "current: kept"
    );
    assert!(!pool_file.exists(), "nothing links to it any more");
    assert!(
        root.join("public/debian/pool/main/p/pkg2/pkg2_1.0_amd64.deb")
            .is_file(),
        "the published tree is whole"
    );
    // Snapshots a publication links to are kept too: `--all` links every snapshot.
    assert_exit(&mk(&["repo", "snapshot"]), 0);
    assert_exit(
        &mk(&["repo", "publish-snapshot", "--snapshot", &names[2], "--all"]),
        0,
    );
    let out = mk(&["repo", "cleanup-state"]);
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("removed 0 snapshot(s)"),
        "{}",
        all_output(&out)
    );
    assert!(root.join("snapshots").join(&names[1]).exists());
    // Published without --all twice (the replaced publication is kept one round), the others go.
    assert_exit(&mk(&["repo", "publish-snapshot"]), 0);
    assert_exit(&mk(&["repo", "publish-snapshot"]), 0);
    let out = mk(&["repo", "cleanup-state"]);
    assert_exit(&out, 0);
    assert!(
        !root.join("snapshots").join(&names[1]).exists(),
        "{}",
        all_output(&out)
    );
    assert!(
        !root.join("snapshots").join(&names[2]).exists(),
        "{}",
        all_output(&out)
    );

    // Again: nothing more to remove.
    let out = mk(&["repo", "cleanup-state"]);
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("removed 0 snapshot(s); 0 pool"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn a_sync_killed_mid_download_leaves_the_tree_and_the_next_run_fetches_only_what_it_lacked() {
    use mirrorkit_testkit::fileserver::Fault;
    let dir = tempfile::tempdir().unwrap();
    let (repo, upstream) = served_repo(dir.path(), &[Deb::new("hello", "1.0", "amd64")]);
    let spec_path = write_spec(dir.path(), spec(&upstream, "keyring.gpg"));
    assert_exit(&run(mirrorkit(dir.path()).arg("sync").arg(&spec_path)), 0);
    let mirror = dir.path().join("repos/mirror/debian");
    let good = tree(&mirror);

    // Three new packages; the last one's download stalls half-way.
    let debs: Vec<Deb> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| Deb::new(n, "1.0", "all"))
        .collect();
    let shas: Vec<String> = debs
        .iter()
        .map(|d| mirrorkit_testkit::registry::sha256_digest(&std::fs::read(repo.add(d)).unwrap()))
        .collect();
    repo.publish();
    let stalled = debs[2].pool_path();
    upstream.set_fault(&stalled, Fault::stall_after(100, 1));
    let mut child = common::spawn_sync(dir.path(), &spec_path);
    let root = dir.path().join("repos");
    common::kill_when(&mut child, || {
        !upstream.requests_for(&stalled).is_empty()
            && pooled(&root, &shas[0])
            && pooled(&root, &shas[1])
    });
    assert!(
        tree(&mirror) == good,
        "a killed sync changed the mirror tree"
    );

    upstream.clear_fault(&stalled);
    let before = upstream.requests().len();
    let out = run(mirrorkit(dir.path()).arg("sync").arg(&spec_path));
    assert_exit(&out, 0);
    let pool_gets: Vec<String> = upstream.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/pool/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(pool_gets, [format!("/{stalled}")], "only what it lacked");
    for d in &debs {
        assert!(mirror.join(d.pool_path()).is_file(), "{}", d.name);
    }
    // The staging tree the killed run left is gone with the switch.
    let trees = std::fs::read_dir(dir.path().join("repos/mirror/.trees/debian"))
        .unwrap()
        .count();
    assert_eq!(trees, 1);
}

/// A stand-in for the `zfs` command, for a root that is no ZFS mountpoint: it logs every
/// call, answers `get … mountpoint` with `$FAKE_ZFS_MOUNT`, makes `snapshot DS@NAME` a copy of
/// the root's `mirror/` where ZFS shows a snapshot (`.zfs/snapshot/NAME/`), and `destroy`
/// removes it. With `$FAKE_ZFS_KILL` set, `snapshot` then kills mirrorkit (`kill -9`).
fn fake_zfs(bin: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    let zfs = bin.join("zfs");
    std::fs::write(
        &zfs,
        "#!/bin/sh\necho \"$*\" >>\"$FAKE_ZFS_LOG\"\ncase \"$1\" in\n\
         get) echo \"$FAKE_ZFS_MOUNT\" ;;\n\
         snapshot) n=\"${2#*@}\"; mkdir -p \"$FAKE_ZFS_ROOT/.zfs/snapshot/$n\" && cp -a \"$FAKE_ZFS_ROOT/mirror\" \"$FAKE_ZFS_ROOT/.zfs/snapshot/$n/\"\n\
           [ -z \"$FAKE_ZFS_KILL\" ] || kill -9 $PPID ;;\n\
         destroy) rm -rf \"$FAKE_ZFS_ROOT/.zfs/snapshot/${2#*@}\" ;;\n\
         *) echo \"unexpected: $*\" >&2; exit 2 ;;\nesac\n",
    )
    .unwrap();
    std::fs::set_permissions(&zfs, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn with_a_zfs_dataset_snapshots_are_zfs_snapshots_published_and_destroyed_by_retention() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (repo, upstream) = served_repo(d, &[Deb::new("one", "1.0", "all")]);
    let spec_path = write_spec(
        d,
        spec(&upstream, "keyring.gpg").replace(
            "{root: ./repos}",
            "{root: ./repos, keep: 1, zfs_dataset: tank/repos}",
        ),
    );
    let root = d.join("repos");
    let bin = d.join("bin");
    fake_zfs(&bin);
    let log = d.join("zfs.log");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let cmd = |args: &[&str], mount: &Path| {
        let mut c = mirrorkit(d);
        c.args(args)
            .arg(&spec_path)
            .env("PATH", &path)
            .env("FAKE_ZFS_LOG", &log)
            .env("FAKE_ZFS_ROOT", &root)
            .env("FAKE_ZFS_MOUNT", mount);
        c
    };
    let mk = |args: &[&str], mount: &Path| run(&mut cmd(args, mount));
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_exit(&mk(&["sync"], &root), 0);

    // The dataset mounted elsewhere: refused before anything is taken.
    let out = mk(&["repo", "snapshot"], Path::new("/elsewhere"));
    assert_exit(&out, 1);
    assert!(
        all_output(&out).contains("mounted at /elsewhere"),
        "{}",
        all_output(&out)
    );
    assert!(!calls().contains("snapshot tank"), "{}", calls());
    assert!(
        !root
            .join("snapshots")
            .read_dir()
            .is_ok_and(|mut e| e.any(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')))
    );

    let snapshot = |mount: &Path| snapshot_name(&mk(&["repo", "snapshot"], mount));
    let first = snapshot(&root);
    assert!(
        calls().contains(&format!("snapshot tank/repos@{first}")),
        "{}",
        calls()
    );
    // `snapshots/<name>/<prefix>` is a link into what ZFS shows of the snapshot.
    let link = root.join("snapshots").join(&first).join("debian");
    let target = std::fs::read_link(&link).unwrap();
    assert!(
        target.starts_with(format!("../../.zfs/snapshot/{first}/mirror/.trees/debian")),
        "{target:?}"
    );
    assert!(link.join("dists/stable/InRelease").is_file());
    assert_exit(&mk(&["repo", "publish-snapshot"], &root), 0);
    assert!(root.join("public/debian/dists/stable/InRelease").is_file());
    assert_exit(&mk(&["repo", "publish-catalog"], &root), 0);
    let catalog =
        std::fs::read_to_string(root.join(format!("metadata/snapshots/{first}/repo_catalog.json")))
            .unwrap();
    assert!(catalog.contains("\"one\""), "{catalog}");

    // A second generation; retention (keep 1) keeps the published first and the current
    // second, so nothing goes yet; once the second is published (twice: the replaced
    // publication is kept one round), the first is destroyed.
    repo.add(&Deb::new("two", "1.0", "all"));
    repo.publish();
    assert_exit(&mk(&["sync"], &root), 0);
    let second = snapshot(&root);
    assert_exit(&mk(&["repo", "cleanup-state"], &root), 0);
    assert!(!calls().contains("destroy"), "{}", calls());
    assert_exit(&mk(&["repo", "publish-snapshot"], &root), 0);
    assert_exit(&mk(&["repo", "publish-snapshot"], &root), 0);
    assert!(
        root.join("public/debian")
            .join(Deb::new("two", "1.0", "all").pool_path())
            .is_file()
    );
    assert_exit(&mk(&["repo", "cleanup-state"], &root), 0);
    assert!(
        calls().contains(&format!("destroy tank/repos@{first}")),
        "{}",
        calls()
    );
    assert!(!root.join("snapshots").join(&first).exists());
    assert!(
        root.join("snapshots")
            .join(&second)
            .join("debian/dists")
            .is_dir()
    );

    // A take killed right after `zfs snapshot`, before it named the snapshot: the next take
    // destroys what nothing names, and its own name is a new one.
    let killed = run(cmd(&["repo", "snapshot"], &root).env("FAKE_ZFS_KILL", "1"));
    assert!(!killed.status.success(), "{}", all_output(&killed));
    let orphan = calls()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("snapshot tank/repos@"))
        .unwrap()
        .to_string();
    assert!(root.join(".zfs/snapshot").join(&orphan).is_dir());
    assert!(!root.join("snapshots").join(&orphan).exists());
    let third = snapshot(&root);
    assert_ne!(third, orphan);
    assert!(
        calls().contains(&format!("destroy tank/repos@{orphan}")),
        "{}",
        calls()
    );
    assert!(!root.join(".zfs/snapshot").join(&orphan).exists());
    assert!(
        root.join("snapshots")
            .join(&third)
            .join("debian/dists")
            .is_dir()
    );
}

/// A btrfs filesystem (`mkfs.btrfs` on a sparse file, mounted through a loop device) in a
/// directory of the test; unmounted when dropped.
struct BtrfsMount {
    at: std::path::PathBuf,
}

impl BtrfsMount {
    fn new(dir: &Path) -> BtrfsMount {
        let image = dir.join("btrfs.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(256 << 20)
            .unwrap();
        let at = dir.join("btrfs");
        std::fs::create_dir_all(&at).unwrap();
        for cmd in [
            vec!["mkfs.btrfs", "-q", image.to_str().unwrap()],
            vec![
                "mount",
                "-o",
                "loop",
                image.to_str().unwrap(),
                at.to_str().unwrap(),
            ],
        ] {
            let out = std::process::Command::new(cmd[0])
                .args(&cmd[1..])
                .output()
                .unwrap_or_else(|e| panic!("{}: {e} (btrfs-progs and root are needed)", cmd[0]));
            assert!(
                out.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        BtrfsMount { at }
    }

    fn btrfs(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("btrfs")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "btrfs {args:?}: {}", all_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for BtrfsMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.at)
            .status();
    }
}

#[test]
fn on_a_btrfs_subvolume_snapshots_are_read_only_btrfs_snapshots_deleted_by_retention() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fs = BtrfsMount::new(d);
    let root = fs.at.join("repos");
    fs.btrfs(&["subvolume", "create", root.to_str().unwrap()]);
    let (repo, upstream) = served_repo(d, &[Deb::new("one", "1.0", "all")]);
    let spec_path = write_spec(
        d,
        spec(&upstream, "keyring.gpg").replace(
            "{root: ./repos}",
            &format!("{{root: '{}', keep: 1}}", root.display()),
        ),
    );
    let mk = |args: &[&str]| run(mirrorkit(d).args(args).arg(&spec_path));
    let snapshot = || snapshot_name(&mk(&["repo", "snapshot"]));
    assert_exit(&mk(&["sync"]), 0);
    let first = snapshot();
    // A read-only subvolume of the whole root; `snapshots/<name>/<prefix>` links into it.
    let sub = root.join("snapshots/.btrfs").join(&first);
    assert_eq!(
        fs.btrfs(&["property", "get", "-ts", sub.to_str().unwrap(), "ro"])
            .trim(),
        "ro=true"
    );
    assert!(
        std::fs::write(sub.join("mirror/x"), b"x").is_err(),
        "read-only"
    );
    let link = root.join("snapshots").join(&first).join("debian");
    let target = std::fs::read_link(&link).unwrap();
    assert!(
        target.starts_with(format!(
            "../../snapshots/.btrfs/{first}/mirror/.trees/debian"
        )),
        "{target:?}"
    );
    assert!(link.join("dists/stable/InRelease").is_file());
    assert_exit(&mk(&["repo", "publish-snapshot"]), 0);
    assert!(root.join("public/debian/dists/stable/InRelease").is_file());
    assert_exit(&mk(&["repo", "publish-catalog"]), 0);
    assert!(
        std::fs::read_to_string(root.join(format!("metadata/snapshots/{first}/repo_catalog.json")))
            .unwrap()
            .contains("\"one\"")
    );

    // The next generation published (twice: the replaced publication is kept one round), the
    // first snapshot goes, subvolume and all.
    repo.add(&Deb::new("two", "1.0", "all"));
    repo.publish();
    assert_exit(&mk(&["sync"]), 0);
    let second = snapshot();
    assert_exit(&mk(&["repo", "publish-snapshot"]), 0);
    assert_exit(&mk(&["repo", "publish-snapshot"]), 0);
    assert!(
        root.join("public/debian")
            .join(Deb::new("two", "1.0", "all").pool_path())
            .is_file()
    );
    assert_exit(&mk(&["repo", "cleanup-state"]), 0);
    assert!(!listed_now(&fs, &first));
    assert!(listed_now(&fs, &second));
    assert!(!root.join("snapshots").join(&first).exists());

    // A take killed right after `btrfs subvolume snapshot` (a wrapper kills mirrorkit there),
    // before it named the snapshot: cleanup-state deletes the subvolume nothing names.
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v btrfs"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let wrapper = bin.join("btrfs");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n{} \"$@\" || exit $?\n[ \"$1 $2\" != \"subvolume snapshot\" ] || kill -9 $PPID\n",
            real.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let killed = run(mirrorkit(d)
        .args(["repo", "snapshot"])
        .arg(&spec_path)
        .env("PATH", &path));
    assert!(!killed.status.success(), "{}", all_output(&killed));
    let orphan = std::fs::read_to_string(root.join("state/taking_snapshot.txt"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        listed_now(&fs, &orphan),
        "the killed take made its subvolume"
    );
    assert!(!root.join("snapshots").join(&orphan).exists());
    assert_exit(&mk(&["repo", "cleanup-state"]), 0);
    assert!(!listed_now(&fs, &orphan), "cleanup deleted it");
    assert!(!root.join("state/taking_snapshot.txt").exists());
    assert!(listed_now(&fs, &second));
}

/// Whether the btrfs filesystem `fs` has the snapshot subvolume `name`.
fn listed_now(fs: &BtrfsMount, name: &str) -> bool {
    fs.btrfs(&["subvolume", "list", fs.at.to_str().unwrap()])
        .lines()
        .any(|l| l.ends_with(&format!("snapshots/.btrfs/{name}")))
}

#[test]
fn two_syncs_of_one_root_at_once_both_finish_and_leave_one_whole_tree() {
    let dir = tempfile::tempdir().unwrap();
    let debs: Vec<Deb> = ["alpha", "beta", "gamma", "delta"]
        .iter()
        .map(|n| Deb::new(n, "1.0", "all"))
        .collect();
    let (_repo, upstream) = served_repo(dir.path(), &debs);
    let spec_path = write_spec(dir.path(), spec(&upstream, "keyring.gpg"));
    // Separate work dirs, so only the root's own lock keeps them apart.
    let start = |work: &str| {
        common::mirrorkit_process(dir.path())
            .args(["sync", "--work-dir", work])
            .arg(&spec_path)
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start("work-a"));
        let b = s.spawn(|| start("work-b"));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_exit(&a, 0);
    assert_exit(&b, 0);
    let mirror = dir.path().join("repos/mirror/debian");
    assert!(mirror.join("dists/stable/InRelease").is_file());
    for deb in &debs {
        assert!(mirror.join(deb.pool_path()).is_file(), "{}", deb.name);
    }
    let trees = std::fs::read_dir(dir.path().join("repos/mirror/.trees/debian"))
        .unwrap()
        .count();
    assert_eq!(trees, 1, "one tree, the one the mirror points at");
}

#[test]
fn a_publication_killed_at_any_moment_leaves_public_whole_and_the_next_one_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = AptRepo::new(dir.path());
    let upstream = FileServer::start(repo.dir());
    let spec_path = write_spec(dir.path(), spec(&upstream, "keyring.gpg"));
    let mk = |args: &[&str]| run(mirrorkit(dir.path()).args(args).arg(&spec_path));
    let root = dir.path().join("repos");
    // Six snapshots of growing trees: a `--all` publication links every one of them.
    let mut names = Vec::new();
    for g in 1..=6 {
        repo.add(&Deb::new(&format!("pkg{g}"), "1.0", "all"));
        repo.publish();
        assert_exit(&mk(&["sync"]), 0);
        assert_exit(&mk(&["repo", "snapshot"]), 0);
        names.push(
            std::fs::read_to_string(root.join("state/current_snapshot.txt"))
                .unwrap()
                .trim()
                .to_string(),
        );
    }
    let trees: Vec<_> = names
        .iter()
        .map(|n| tree(&root.join("snapshots").join(n).join("debian")))
        .collect();
    let publish = |name: &str| {
        common::mirrorkit_process(dir.path())
            .args(["repo", "publish-snapshot", "--all", "--snapshot", name])
            .arg(&spec_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let started = std::time::Instant::now();
    assert!(publish(&names[0]).wait().unwrap().success());
    let whole = started.elapsed();

    // Killed at moments spread over a whole publication (start-up included), alternating
    // between two snapshots: `public` always serves one whole snapshot, never a mix or
    // nothing.
    let (mut killed_running, rounds) = (0, 40u32);
    for i in 0..rounds {
        let target = if i % 2 == 0 { 5 } else { 0 };
        let mut child = publish(&names[target]);
        std::thread::sleep(whole * i / rounds);
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let public = tree(&root.join("public/debian"));
        assert!(
            public == trees[0] || public == trees[5],
            "round {i}: public/debian is neither snapshot ({} files)",
            public.len()
        );
        let older = tree(&root.join("public/snapshots").join(&names[2]).join("debian"));
        assert!(older == trees[2], "round {i}: public/snapshots changed");
    }
    assert!(
        killed_running >= rounds / 4,
        "only {killed_running} of {rounds} kills hit a running publication"
    );

    // The next publication finishes and leaves nothing of the killed ones behind.
    assert_exit(&mk(&["repo", "publish-snapshot", "--all"]), 0);
    assert!(tree(&root.join("public/debian")) == trees[5]);
    let leftovers: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".public-link"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let publications = std::fs::read_dir(root.join(".public")).unwrap().count();
    assert!(publications <= 2, "{publications} publications kept");
    let published = std::fs::read_to_string(root.join("state/published_snapshot.txt")).unwrap();
    assert_eq!(published.trim(), names[5]);
}

#[test]
fn a_shard_host_runs_every_stage_from_its_config_file_without_naming_a_spec() {
    let dir = tempfile::tempdir().unwrap();
    let repo = AptRepo::new(dir.path());
    repo.add(&Deb::new("hello", "1.0", "all"));
    repo.publish();
    let upstream = FileServer::start(repo.dir());
    // Two repositories in the config; `--syncer` (the shard host's name for `--only`) syncs one.
    let config = write_spec(
        dir.path(),
        spec(&upstream, "keyring.gpg")
            + &spec(&upstream, "keyring.gpg")
                .split_once("mirrors:\n")
                .unwrap()
                .1
                .replace("  debian:", "  other:"),
    );
    let root = dir.path().join("repos");
    let with_config = |args: &[&str]| {
        run(mirrorkit(dir.path())
            .arg("--config")
            .arg(&config)
            .args(args))
    };
    assert_exit(&with_config(&["validate"]), 0);
    assert_exit(&with_config(&["sync", "--syncer", "debian"]), 0);
    assert!(root.join("mirror/debian/dists/stable/InRelease").is_file());
    assert!(!root.join("mirror/other").exists());
    // MIRRORKIT_CONFIG does the same as --config.
    let out = run(mirrorkit(dir.path())
        .env("MIRRORKIT_CONFIG", &config)
        .args(["sync"]));
    assert_exit(&out, 0);
    assert!(root.join("mirror/other/dists/stable/InRelease").is_file());
    for stage in [
        &["repo", "snapshot"][..],
        &["repo", "publish-snapshot"],
        &["repo", "publish-inventory"],
        &["repo", "publish-catalog"],
        &["repo", "cleanup-state"],
    ] {
        assert_exit(&with_config(stage), 0);
    }
    assert!(root.join("public/debian/dists/stable/InRelease").is_file());
    assert!(root.join("metadata/inventory.json").is_file());
    // No spec, no --config and no shard-host default: a usage error naming the default.
    let out = run(mirrorkit(dir.path()).args(["repo", "snapshot"]));
    assert_exit(&out, 64);
    assert!(
        all_output(&out).contains("/etc/mirrorkit/mirrorkit.yaml"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn a_component_or_architecture_the_release_does_not_list_fails_the_sync_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, upstream) = served_repo(dir.path(), &[Deb::new("hello", "1.0", "amd64")]);
    for (typo, named) in [
        ("components: [main]", "mian/binary-amd64/Packages"),
        ("architectures: [amd64]", "main/binary-arm64/Packages"),
    ] {
        let wrong = spec(&upstream, "keyring.gpg").replace(
            typo,
            &typo
                .replace("[main]", "[mian]")
                .replace("[amd64]", "[arm64]"),
        );
        let spec_path = write_spec(dir.path(), wrong);
        let out = run(mirrorkit(dir.path()).arg("sync").arg(&spec_path));
        assert_exit(&out, 1);
        let text = all_output(&out);
        assert!(text.contains(named) && text.contains("lists no"), "{text}");
        assert!(!dir.path().join("repos/mirror/debian").exists());
    }
}

#[test]
fn keys_named_by_fingerprint_come_from_the_keyring_or_the_system_keyrings() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, upstream) = served_repo(dir.path(), &[Deb::new("hello", "1.0", "amd64")]);
    let listing = mirrorkit_testkit::process::output_of(
        std::process::Command::new("gpg")
            .args(["--with-colons", "--show-keys"])
            .arg(&repo.keyring),
    );
    let listing = String::from_utf8_lossy(&listing);
    let fingerprint = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .and_then(|rest| rest.split(':').next())
        .expect("a fingerprint")
        .to_string();
    let other = "0123456789ABCDEF0123456789ABCDEF01234567";
    let system = dir.path().join("system-keyrings");
    std::fs::create_dir_all(&system).unwrap();
    let sync = |keys: &str, system_has_key: bool| {
        let _ = std::fs::remove_file(system.join("archive.asc"));
        if system_has_key {
            std::fs::copy(&repo.keyring_asc, system.join("archive.asc")).unwrap();
        }
        let text = spec(&upstream, "keyring.gpg").replace("keyring: keyring.gpg", keys);
        let spec_path = write_spec(dir.path(), text);
        run(mirrorkit(dir.path())
            .env("MIRRORKIT_SYSTEM_KEYRINGS", &system)
            .arg("sync")
            .arg(&spec_path))
    };
    // The keyring's keys narrowed to one that is not the signer's: refused before anything is
    // fetched, naming the fingerprint.
    let out = sync(
        &format!("keyring: keyring.gpg\n      fingerprints: ['{other}']"),
        false,
    );
    assert_exit(&out, 65);
    let text = all_output(&out);
    assert!(text.contains(other) && text.contains("no key in"), "{text}");
    assert!(!dir.path().join("repos/mirror/debian").exists());
    // The signer's fingerprint, written with spaces as gpg shows it.
    let spaced: String = fingerprint
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let out = sync(
        &format!("keyring: keyring.gpg\n      fingerprints: ['{spaced}']"),
        false,
    );
    assert_exit(&out, 0);
    // No keyring: the key is found in the system's keyrings by its fingerprint, or not at all.
    let out = sync(&format!("fingerprints: ['{fingerprint}']"), false);
    assert_exit(&out, 65);
    assert!(
        all_output(&out).contains("the system keyrings"),
        "{}",
        all_output(&out)
    );
    let out = sync(&format!("fingerprints: ['{fingerprint}']"), true);
    assert_exit(&out, 0);
    assert!(dir.path().join("repos/mirror/debian/pool/main").is_dir());
}
