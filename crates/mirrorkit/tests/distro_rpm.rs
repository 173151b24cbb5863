//! rpm mirrors end to end: a real repository (`rpmbuild`, `createrepo_c --zck`, `repomd.xml`
//! signed by a throw-away gpg key) on a plain file server; `sync` verifies and switches the tree
//! in; the real `dnf` (an isolated install root, `repo_gpgcheck` with the same key) runs
//! `makecache` and fetches a package with its dependency from it with the network down; and each
//! corruption is refused with the tree left byte for byte as it was.

mod common;
#[path = "support/distro.rs"]
mod distro;

use common::tree;
use common::{all_output, assert_exit, mirrorkit, report, run, write_spec};
use distro::{flip_middle_byte, pooled};
use mirrorkit_testkit::fileserver::FileServer;
use mirrorkit_testkit::process::offline;
use mirrorkit_testkit::rpm_repo::RpmRepo;

const OFFLINE_PORT: u16 = 8080;

fn spec(upstream: &FileServer) -> String {
    format!(
        "target:\n  repos: {{root: ./repos}}\nmirrors:\n  el:\n    source:\n      type: rpm\n      url: {}\n      keyring: rpm-key.asc\n      exclude: ['^unwanted$']\n",
        upstream.url("/")
    )
}

#[test]
fn an_rpm_repository_is_verified_mirrored_and_dnf_installs_from_it_offline() {
    let dir = tempfile::tempdir().unwrap();
    let repo = RpmRepo::new(dir.path());
    repo.add("hello", "1.0", "");
    repo.add("world", "1.0", "hello");
    repo.add("unwanted", "1.0", "");
    repo.publish();
    let upstream = FileServer::start(repo.dir());
    let spec_path = write_spec(dir.path(), spec(&upstream));
    let sync = || {
        run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec_path)
            .args(["--format", "json"]))
    };
    let out = sync();
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(r["mirrors"][0]["versions"][0]["status"], "pushed");
    let mirror = dir.path().join("repos/mirror/el");
    assert!(mirror.join("repodata/repomd.xml.asc").is_file());
    assert!(mirror.join("Packages/hello-1.0-1.noarch.rpm").is_file());
    assert!(!mirror.join("Packages/unwanted-1.0-1.noarch.rpm").exists());
    // Every data type, the sqlite and zchunk forms included.
    let repodata: Vec<String> = std::fs::read_dir(mirror.join("repodata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        repodata.iter().any(|f| f.ends_with("primary.xml.zck")),
        "{repodata:?}"
    );
    assert!(
        repodata.iter().any(|f| f.ends_with("filelists.xml.gz")),
        "{repodata:?}"
    );
    assert!(
        repodata.iter().any(|f| f.ends_with("primary.sqlite.bz2")),
        "{repodata:?}"
    );

    // The catalog reads the rpm tree: every package with its EVR and checksum, the signer.
    let out = run(mirrorkit(dir.path())
        .args(["repo", "catalog", "--root-dir"])
        .arg(&mirror));
    assert_exit(&out, 0);
    let catalog: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    common::assert_follows_schema("catalog", &catalog);
    let r0 = &catalog["repositories"][0];
    assert_eq!(r0["format"], "rpm");
    assert_eq!(
        r0["signed_by"].as_array().unwrap().len(),
        2,
        "fingerprint and key id"
    );
    let packages = r0["indexes"][0]["packages"].as_array().unwrap();
    let hello = packages.iter().find(|p| p["name"] == "hello").unwrap();
    assert_eq!(hello["version"], "1.0-1");
    assert_eq!(hello["path"], "Packages/hello-1.0-1.noarch.rpm");
    assert_eq!(
        hello["checksum"].as_str().unwrap(),
        mirrorkit_testkit::registry::sha256_digest(
            &std::fs::read(mirror.join("Packages/hello-1.0-1.noarch.rpm")).unwrap()
        )
    );
    // The signed metadata is upstream's: it still lists what the filter left out, marked absent.
    let unwanted = packages.iter().find(|p| p["name"] == "unwanted").unwrap();
    assert_eq!(unwanted["present"], false);
    assert_eq!(hello["present"], true);

    // Warm: only the signed metadata is asked for.
    let before = upstream.requests().len();
    let out = sync();
    assert_exit(&out, 0);
    assert_eq!(
        report(&out)["mirrors"][0]["versions"][0]["status"],
        "skipped"
    );
    let asked: Vec<String> = upstream.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(asked, ["/repodata/repomd.xml", "/repodata/repomd.xml.asc"]);

    // dnf, with the upstream gone and the network down, reads the mirror (repo_gpgcheck with the
    // key) and fetches a package and its dependency.
    drop(upstream);
    let root = dir.path().join("dnfroot");
    std::fs::create_dir_all(root.join("etc/yum.repos.d")).unwrap();
    std::fs::write(
        root.join("etc/yum.repos.d/mirror.repo"),
        format!(
            "[mirror]\nname=mirror\nbaseurl=http://127.0.0.1:{OFFLINE_PORT}/el/\ngpgcheck=0\nrepo_gpgcheck=1\ngpgkey=file://{}\n",
            repo.keyring.display()
        ),
    )
    .unwrap();
    let dnf = format!(
        "dnf -y --installroot={root} --setopt=reposdir={root}/etc/yum.repos.d --setopt=cachedir={root}/cache --releasever=1 --disablerepo='*' --enablerepo=mirror",
        root = root.display()
    );
    let script = format!(
        "python3 -m http.server {OFFLINE_PORT} --bind 127.0.0.1 --directory {:?} >/dev/null 2>&1 &\nfor i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/{OFFLINE_PORT}) 2>/dev/null && break; sleep 0.1; done\n{dnf} makecache\n{dnf} install --downloadonly --destdir={dl:?} world\nls {dl:?}\n",
        dir.path().join("repos/mirror"),
        dl = dir.path().join("dl"),
    );
    let out = offline(&script);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        dir.path().join("dl/world-1.0-1.noarch.rpm").is_file(),
        "{text}"
    );
    assert!(
        dir.path().join("dl/hello-1.0-1.noarch.rpm").is_file(),
        "{text}"
    );
}

#[test]
fn every_rpm_corruption_fails_the_sync_naming_the_file_and_leaves_the_tree_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let repo = RpmRepo::new(dir.path());
    repo.add("hello", "1.0", "");
    repo.publish();
    let upstream = FileServer::start(repo.dir());
    let spec_path = write_spec(dir.path(), spec(&upstream));
    let sync = || {
        run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec_path)
            .args(["--format", "json"]))
    };
    assert_exit(&sync(), 0);
    let mirror = dir.path().join("repos/mirror/el");
    let good = tree(&mirror);
    let refused = |case: &str, needles: &[&str]| {
        let out = sync();
        assert_exit(&out, 1);
        let text = serde_json::to_string(&report(&out)["mirrors"][0]).unwrap();
        for n in needles {
            assert!(text.contains(n), "{case}: {n:?} not in {text}");
        }
        assert!(tree(&mirror) == good, "{case}: the mirror tree changed");
    };

    // A flipped byte in a new rpm.
    let rpm = repo.add("hello", "1.1", "");
    repo.publish();
    let original = std::fs::read(&rpm).unwrap();
    flip_middle_byte(&rpm);
    refused(
        "flipped rpm",
        &["hello-1.1-1.noarch.rpm", "checksum mismatch"],
    );
    std::fs::write(&rpm, &original).unwrap();

    // A flipped byte in primary.xml.gz (repomd.xml still signed and right).
    repo.add("extra", "1.0", "");
    repo.publish();
    flip_middle_byte(&repo.data_file("primary"));
    refused("flipped primary", &["primary.xml.gz"]);

    // An edited repomd.xml (its signature no longer holds).
    repo.publish();
    let repomd = repo.dir().join("repodata/repomd.xml");
    let text = std::fs::read_to_string(&repomd).unwrap();
    std::fs::write(&repomd, text.replacen("<revision>", "<revision>9", 1)).unwrap();
    refused("edited repomd.xml", &["repomd.xml", "BAD signature"]);

    // No repomd.xml.asc at all.
    repo.publish();
    std::fs::remove_file(repo.dir().join("repodata/repomd.xml.asc")).unwrap();
    refused("unsigned", &["repomd.xml.asc", "unsigned repository"]);

    // Put right, the sync goes through.
    repo.publish();
    assert_exit(&sync(), 0);
    assert!(mirror.join("Packages/hello-1.1-1.noarch.rpm").is_file());
    assert!(mirror.join("Packages/extra-1.0-1.noarch.rpm").is_file());
}

#[test]
fn with_gpgcheck_every_package_signature_is_checked_against_the_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let repo = RpmRepo::new(dir.path());
    let hello = repo.add("hello", "1.0", "");
    repo.sign_package(&hello);
    repo.publish();
    let upstream = FileServer::start(repo.dir());
    let spec_path = write_spec(
        dir.path(),
        spec(&upstream).replace("exclude: ['^unwanted$']", "gpgcheck: true"),
    );
    let sync = || {
        run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec_path)
            .args(["--format", "json"]))
    };
    assert_exit(&sync(), 0);
    let mirror = dir.path().join("repos/mirror/el");
    let good = tree(&mirror);

    // A package signed by a key the keyring does not hold: refused, the tree unchanged.
    let forged = repo.add("forged", "1.0", "");
    repo.sign_package_with_unknown_key(&forged);
    repo.publish();
    let out = sync();
    assert_exit(&out, 1);
    let text = serde_json::to_string(&report(&out)["mirrors"][0]).unwrap();
    assert!(
        text.contains("forged-1.0-1.noarch.rpm") && text.contains("package signature"),
        "{text}"
    );
    assert!(tree(&mirror) == good, "the tree changed");

    // An unsigned package: refused too.
    std::fs::remove_file(&forged).unwrap();
    repo.add("plain", "1.0", "");
    repo.publish();
    let out = sync();
    assert_exit(&out, 1);
    let text = serde_json::to_string(&report(&out)["mirrors"][0]).unwrap();
    assert!(
        text.contains("plain-1.0-1.noarch.rpm") && text.contains("unsigned"),
        "{text}"
    );
    assert!(tree(&mirror) == good, "the tree changed");

    // Signed properly, but its payload changed afterwards, and the metadata rebuilt and signed
    // by the repository's key (the package key was never at hand): the header signature still
    // verifies, the payload's digest in the signed header does not.
    let plain = repo.dir().join("Packages/plain-1.0-1.noarch.rpm");
    repo.sign_package(&plain);
    common::flip_last_byte(&plain);
    repo.publish();
    let out = sync();
    assert_exit(&out, 1);
    let text = serde_json::to_string(&report(&out)["mirrors"][0]).unwrap();
    assert!(
        text.contains("plain-1.0-1.noarch.rpm") && text.contains("payload does not match"),
        "{text}"
    );
    assert!(tree(&mirror) == good, "the tree changed");
    common::flip_last_byte(&plain);

    // Signed properly, it goes through.
    repo.sign_package(&repo.dir().join("Packages/plain-1.0-1.noarch.rpm"));
    repo.publish();
    assert_exit(&sync(), 0);
    assert!(mirror.join("Packages/plain-1.0-1.noarch.rpm").is_file());

    // A package mirrored while gpgcheck was off was never checked: once it is on, the package
    // is checked (and refused), although the repository did not change and the very file is
    // in the tree. Only a tree verified with the same settings spares a package the check.
    let with_gpgcheck = |on: bool| {
        write_spec(
            dir.path(),
            spec(&upstream).replace("exclude: ['^unwanted$']", &format!("gpgcheck: {on}")),
        )
    };
    repo.add("late", "1.0", "");
    repo.publish();
    with_gpgcheck(false);
    assert_exit(&sync(), 0);
    assert!(mirror.join("Packages/late-1.0-1.noarch.rpm").is_file());
    with_gpgcheck(true);
    let out = sync();
    assert_exit(&out, 1);
    let text = serde_json::to_string(&report(&out)["mirrors"][0]).unwrap();
    assert!(
        text.contains("late-1.0-1.noarch.rpm") && text.contains("unsigned"),
        "{text}"
    );
    // Signed, the next sync passes; the packages the last verified tree held are not read
    // again, and still stand.
    repo.sign_package(&repo.dir().join("Packages/late-1.0-1.noarch.rpm"));
    repo.publish();
    assert_exit(&sync(), 0);
    assert!(mirror.join("Packages/hello-1.0-1.noarch.rpm").is_file());
}

#[test]
fn an_rpm_sync_killed_mid_download_leaves_the_tree_and_the_next_run_fetches_only_what_it_lacked() {
    use mirrorkit_testkit::fileserver::Fault;
    let dir = tempfile::tempdir().unwrap();
    let repo = RpmRepo::new(dir.path());
    repo.add("hello", "1.0", "");
    repo.publish();
    let upstream = FileServer::start(repo.dir());
    let spec_path = write_spec(dir.path(), spec(&upstream));
    assert_exit(&run(mirrorkit(dir.path()).arg("sync").arg(&spec_path)), 0);
    let mirror = dir.path().join("repos/mirror/el");
    let good = tree(&mirror);

    // Three new packages; the last one's download stalls half-way.
    let rpms: Vec<std::path::PathBuf> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| repo.add(n, "1.0", ""))
        .collect();
    let shas: Vec<String> = rpms
        .iter()
        .map(|p| mirrorkit_testkit::registry::sha256_digest(&std::fs::read(p).unwrap()))
        .collect();
    repo.publish();
    let stalled = "Packages/gamma-1.0-1.noarch.rpm";
    upstream.set_fault(stalled, Fault::stall_after(100, 1));
    let mut child = common::spawn_sync(dir.path(), &spec_path);
    let root = dir.path().join("repos");
    common::kill_when(&mut child, || {
        !upstream.requests_for(stalled).is_empty()
            && pooled(&root, &shas[0])
            && pooled(&root, &shas[1])
    });
    assert!(
        tree(&mirror) == good,
        "a killed sync changed the mirror tree"
    );

    upstream.clear_fault(stalled);
    let before = upstream.requests().len();
    assert_exit(&run(mirrorkit(dir.path()).arg("sync").arg(&spec_path)), 0);
    let package_gets: Vec<String> = upstream.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/Packages/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(package_gets, [format!("/{stalled}")], "only what it lacked");
    for n in ["alpha", "beta", "gamma"] {
        assert!(
            mirror
                .join(format!("Packages/{n}-1.0-1.noarch.rpm"))
                .is_file(),
            "{n}"
        );
    }
}

#[test]
fn a_mirror_list_is_tried_in_order_until_a_mirror_serves_a_repository_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let repo = RpmRepo::new(dir.path());
    repo.add("hello", "1.0", "");
    repo.publish();
    // Three mirrors: one without the repository, one whose repomd.xml was edited after
    // signing, one right.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let forged_dir = dir.path().join("forged");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(repo.dir())
            .arg(&forged_dir)
            .status()
            .unwrap()
            .success()
    );
    let repomd = forged_dir.join("repodata/repomd.xml");
    let text = std::fs::read_to_string(&repomd).unwrap();
    std::fs::write(&repomd, text.replacen("<revision>", "<revision>9", 1)).unwrap();
    let (gone, forged, good) = (
        FileServer::start(&empty),
        FileServer::start(&forged_dir),
        FileServer::start(repo.dir()),
    );
    let lists = dir.path().join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(
        lists.join("mirrorlist"),
        format!(
            "# the mirrors, nearest first\n{}\nrsync://rsync.example/el/\n{}\n{}\n",
            gone.url("/"),
            forged.url("/"),
            good.url("/")
        ),
    )
    .unwrap();
    std::fs::write(
        lists.join("bad-only"),
        format!("{}\n{}\n", gone.url("/"), forged.url("/")),
    )
    .unwrap();
    let list_server = FileServer::start(&lists);
    let spec_for = |list: &str| {
        spec(&good).replace(
            &format!("url: {}", good.url("/")),
            &format!("mirrorlist: {}", list_server.url(&format!("/{list}"))),
        )
    };
    let spec_path = write_spec(dir.path(), spec_for("mirrorlist"));
    let sync = || {
        run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec_path)
            .args(["--format", "json"]))
    };
    let out = sync();
    assert_exit(&out, 0);
    let mirror = dir.path().join("repos/mirror/el");
    assert!(mirror.join("Packages/hello-1.0-1.noarch.rpm").is_file());
    // The forged mirror was read up to its signature, nothing more; the good one served all.
    let paths =
        |s: &FileServer| -> Vec<String> { s.requests().into_iter().map(|r| r.path).collect() };
    assert_eq!(
        paths(&forged),
        ["/repodata/repomd.xml", "/repodata/repomd.xml.asc"]
    );
    assert!(
        paths(&good)
            .iter()
            .any(|p| p == "/Packages/hello-1.0-1.noarch.rpm"),
        "{:?}",
        paths(&good)
    );
    assert_eq!(
        tree(&mirror),
        tree(repo.dir())
            .into_iter()
            .filter(|(k, _)| !k.contains("unwanted"))
            .collect()
    );

    // A mirror lagging a generation behind (validly signed, older revision) is passed over.
    let stale_dir = dir.path().join("stale");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(repo.dir())
            .arg(&stale_dir)
            .status()
            .unwrap()
            .success()
    );
    let stale = FileServer::start(&stale_dir);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // createrepo's revision: seconds
    repo.add("hello", "1.1", "");
    repo.publish();
    assert_exit(&sync(), 0);
    assert!(mirror.join("Packages/hello-1.1-1.noarch.rpm").is_file());
    std::fs::write(
        lists.join("stale-first"),
        format!("{}\n{}\n", stale.url("/"), good.url("/")),
    )
    .unwrap();
    std::fs::write(&spec_path, spec_for("stale-first")).unwrap();
    assert_exit(&sync(), 0);
    assert!(mirror.join("Packages/hello-1.1-1.noarch.rpm").is_file());
    // Read up to its (valid) signature and its revision, nothing more.
    assert_eq!(
        paths(&stale),
        ["/repodata/repomd.xml", "/repodata/repomd.xml.asc"]
    );
    std::fs::write(lists.join("stale-only"), format!("{}\n", stale.url("/"))).unwrap();
    std::fs::write(&spec_path, spec_for("stale-only")).unwrap();
    let out = sync();
    assert_exit(&out, 1);
    assert!(
        all_output(&out).contains("older than the mirror's"),
        "{}",
        all_output(&out)
    );
    assert!(mirror.join("Packages/hello-1.1-1.noarch.rpm").is_file());

    // No mirror of the list serves a repository that verifies: exit 1 naming each, and the
    // tree stays.
    std::fs::write(&spec_path, spec_for("mirrorlist")).unwrap();
    assert_exit(&sync(), 0);
    repo.add("hello", "1.2", "");
    repo.publish();
    std::fs::write(&spec_path, spec_for("bad-only")).unwrap();
    let good_tree = tree(&mirror);
    let out = sync();
    assert_exit(&out, 1);
    let text = all_output(&out);
    for needle in [gone.url("/"), forged.url("/")] {
        assert!(
            text.contains(needle.trim_end_matches('/')),
            "{needle}: {text}"
        );
    }
    assert!(text.contains("BAD signature"), "{text}");
    assert!(tree(&mirror) == good_tree);
}
