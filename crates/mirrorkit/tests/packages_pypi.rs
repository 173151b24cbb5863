//! PyPI packages end to end: a real index upstream (pypiserver: PEP 503 HTML, no PEP 691) serving
//! wheels and an sdist written here; mirrorkit mirrors them by PURL; the upstream is stopped;
//! then, in a network namespace with only loopback up, the real `pip` and `uv` install from the
//! published tree served by a plain file server.

mod common;
#[path = "support/packages.rs"]
mod packages;

use std::path::{Path, PathBuf};

use common::{all_output, assert_exit, flip_last_byte, mirrorkit, report, run};
use mirrorkit_testkit::fileserver::FileServer;
use mirrorkit_testkit::process::offline;
use mirrorkit_testkit::pypiserver::{PypiServer, sdist, sdist_with, wheel, wheel_tagged};
use packages::{pairs, serving, versions};

const OFFLINE_PORT: u16 = 8089;

struct World {
    dir: tempfile::TempDir,
    upstream: PypiServer,
}

/// pkg-a 1.0 (wheel, requires pkg-b>=1), pkg-b 1.0 (wheel and sdist), pkg-b 2.0rc1 (wheel),
/// Mixed_Case.Name 0.1 (wheel).
fn world() -> World {
    let upstream = PypiServer::start();
    let p = upstream.packages();
    wheel(p, "pkg-a", "1.0", &["pkg-b>=1"]);
    wheel(p, "pkg-b", "1.0", &[]);
    sdist(p, "pkg-b", "1.0");
    wheel(p, "pkg-b", "2.0rc1", &[]);
    wheel(p, "Mixed_Case.Name", "0.1", &[]);
    World {
        dir: tempfile::tempdir().unwrap(),
        upstream,
    }
}

impl World {
    fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    fn mirror(&self, args: &[&str]) -> std::process::Output {
        let upstream = format!("pypi={}", self.upstream.index_url());
        let base = format!("http://127.0.0.1:{OFFLINE_PORT}/");
        run(mirrorkit(self.dir.path())
            .arg("mirror")
            .args(args)
            .args(["--upstream", &upstream, "--to", "tree", "--base-url", &base])
            .args(["--format", "json"]))
    }
}

/// [`serving`] with pip's and uv's own configuration files left out.
fn serving_isolated(tree: &Path, then: &str) -> String {
    format!(
        "export PIP_CONFIG_FILE=/dev/null UV_NO_CONFIG=1\n{}",
        serving(tree, OFFLINE_PORT, then)
    )
}

fn index() -> String {
    format!("http://127.0.0.1:{OFFLINE_PORT}/pypi/simple/")
}

#[test]
fn pip_and_uv_install_offline_from_what_was_mirrored_by_purl() {
    let mut w = world();
    let out = w.mirror(&[
        "pkg:pypi/pkg-a@1.0",
        "pkg:pypi/pkg-b",
        "pkg:pypi/Mixed_Case.Name",
    ]);
    assert_exit(&out, 0);
    let r = report(&out);
    // PyPI names are normalised; the release candidate is left out.
    assert_eq!(
        versions(&r),
        pairs(&[
            ("mixed-case-name@0.1", "published"),
            ("pkg-a@1.0", "published"),
            ("pkg-b@1.0", "published"),
        ])
    );
    let pkg_b = r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pkg-b")
        .unwrap();
    assert_eq!(pkg_b["versions"][0]["files"], 2, "the wheel and the sdist");
    // PEP 503 HTML and PEP 691 JSON, relative links with their SHA-256.
    let page = std::fs::read_to_string(w.tree().join("pypi/simple/pkg-b/index.html")).unwrap();
    let wheel =
        std::fs::read(w.tree().join("pypi/files/pkg-b/pkg_b-1.0-py3-none-any.whl")).unwrap();
    let sha = mirrorkit_testkit::registry::sha256_digest(&wheel);
    assert!(
        page.contains(&format!(
            "href=\"../../files/pkg-b/pkg_b-1.0-py3-none-any.whl#sha256={}\"",
            &sha["sha256:".len()..]
        )),
        "{page}"
    );
    assert!(!page.contains("2.0rc1"), "{page}");
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.tree().join("pypi/simple/pkg-b/index.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["versions"], serde_json::json!(["1.0"]));
    let root = std::fs::read_to_string(w.tree().join("pypi/simple/index.html")).unwrap();
    for n in ["mixed-case-name", "pkg-a", "pkg-b"] {
        assert!(
            root.contains(&format!("<a href=\"{n}/\">{n}</a>")),
            "{root}"
        );
    }

    // Warm: nothing is downloaded again.
    let before = w.upstream.log().lines().count();
    let out = w.mirror(&[
        "pkg:pypi/pkg-a@1.0",
        "pkg:pypi/pkg-b",
        "pkg:pypi/Mixed_Case.Name",
    ]);
    assert_exit(&out, 0);
    assert_eq!(report(&out)["summary"]["unchanged"], 3);
    let log = w.upstream.log();
    let downloads: Vec<&str> = log
        .lines()
        .skip(before)
        .filter(|l| l.contains("/packages/"))
        .collect();
    assert!(downloads.is_empty(), "{downloads:#?}");

    w.upstream.stop();
    let venvs = w.dir.path().join("venvs");
    let script = serving_isolated(
        &w.tree(),
        &format!(
            "mkdir -p {venvs:?} && cd {venvs:?}\n\
             python3 -m venv pip-env\n\
             pip-env/bin/pip install --no-cache-dir --disable-pip-version-check --index-url {idx} pkg-a\n\
             pip-env/bin/python -c 'import pkg_a, pkg_b; print(pkg_a.VALUE, pkg_b.VALUE)'\n\
             export UV_CACHE_DIR=$PWD/uv-cache UV_PYTHON_DOWNLOADS=never\n\
             uv venv -q uv-env\n\
             uv pip install --python uv-env/bin/python --index-url {idx} pkg-a mixed-case-name\n\
             uv-env/bin/python -c 'import pkg_a, pkg_b, mixed_case_name; print(\"uv\", pkg_b.VALUE, mixed_case_name.VALUE)'\n",
            idx = index(),
        ),
    );
    let out = offline(&script);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("pkg-a@1.0 pkg-b@1.0"), "{text}");
    assert!(text.contains("uv pkg-b@1.0 Mixed_Case.Name@0.1"), "{text}");
}

#[test]
fn a_tampered_upstream_wheel_is_refused_and_pip_refuses_one_tampered_in_the_tree() {
    let mut w = world();
    // pypiserver hashes what it serves when it lists it, so it cannot be made to serve a file
    // that differs from its page. A file server that serves pypiserver's own page of pkg-b and a
    // changed wheel is what a tampered mirror or CDN in front of an index looks like.
    let page = get(&format!("{}pkg-b/", w.upstream.index_url()));
    assert!(page.contains("#sha256="), "{page}");
    let wheel_name = "pkg_b-1.0-py3-none-any.whl";
    let mut tampered = std::fs::read(w.upstream.packages().join(wheel_name)).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    let sdist_name = "pkg_b-1.0.tar.gz";
    let cdn = FileServer::with_files([
        ("simple/pkg-b/".to_string(), page.into_bytes()),
        (format!("packages/{wheel_name}"), tampered),
        (
            format!("packages/{sdist_name}"),
            std::fs::read(w.upstream.packages().join(sdist_name)).unwrap(),
        ),
    ]);
    let out = run(mirrorkit(w.dir.path())
        .args([
            "mirror",
            "pkg:pypi/pkg-b@1.0",
            "--to",
            "tree",
            "--format",
            "json",
        ])
        .args(["--base-url", "http://127.0.0.1:1/"])
        .arg(format!("--upstream=pypi={}", cdn.url("simple/"))));
    assert_exit(&out, 1);
    let r = report(&out);
    assert_eq!(versions(&r), pairs(&[("pkg-b@1.0", "failed")]));
    let error = r["packages"][0]["versions"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(wheel_name) && error.contains("sha256"),
        "{error}"
    );
    assert!(
        !w.tree().join("pypi/simple/pkg-b").exists(),
        "nothing of pkg-b published"
    );

    // A file tampered in the tree: pip checks it against the page's #sha256.
    let out = w.mirror(&["pkg:pypi/pkg-a@1.0"]);
    assert_exit(&out, 0);
    let published = w.tree().join("pypi/files/pkg-a/pkg_a-1.0-py3-none-any.whl");
    let bytes = std::fs::read(&published).unwrap();
    std::fs::remove_file(&published).unwrap(); // a hard link into the store
    std::fs::write(&published, bytes).unwrap();
    flip_last_byte(&published);
    w.upstream.stop();
    let venv = w.dir.path().join("venv");
    let out = offline(&serving_isolated(
        &w.tree(),
        &format!(
            "python3 -m venv {venv:?}\n{venv:?}/bin/pip install --no-cache-dir --no-deps --disable-pip-version-check --index-url {} pkg-a",
            index()
        ),
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "pip installed a tampered wheel");
    assert!(stderr.contains("HASHES"), "{stderr}");
}

#[test]
fn purl_qualifiers_pin_one_file_its_checksum_and_where_it_is_downloaded_from() {
    let w = world();
    let dir = w.upstream.packages();
    let wheel_name = "pkg_b-1.0-py3-none-any.whl";
    let wheel_bytes = std::fs::read(dir.join(wheel_name)).unwrap();
    let wheel_sha = mirrorkit_testkit::registry::sha256_digest(&wheel_bytes);
    let files = |name: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(w.tree().join("pypi/files").join(name))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    // file_name: the sdist only; the page lists what the tree holds.
    let out = w.mirror(&["pkg:pypi/pkg-b@1.0?file_name=pkg_b-1.0.tar.gz"]);
    assert_exit(&out, 0);
    assert_eq!(files("pkg-b"), ["pkg_b-1.0.tar.gz"]);
    let page = std::fs::read_to_string(w.tree().join("pypi/simple/pkg-b/index.html")).unwrap();
    assert!(!page.contains(wheel_name), "{page}");
    // checksum: the file the registry's own digest confirms.
    let out = w.mirror(&[&format!("pkg:pypi/pkg-b@1.0?checksum={wheel_sha}")]);
    assert_exit(&out, 0);
    assert_eq!(
        files("pkg-b"),
        ["pkg_b-1.0-py3-none-any.whl", "pkg_b-1.0.tar.gz"]
    );
    // A checksum no file has fails naming the PURL; a file that does not exist too.
    let other = mirrorkit_testkit::registry::sha256_digest(b"x");
    for (purl, says) in [
        (
            format!("pkg:pypi/pkg-b@1.0?checksum={other}"),
            "no file of 1.0 has the checksum",
        ),
        (
            "pkg:pypi/pkg-b@1.0?file_name=pkg_b-9.tar.gz".to_string(),
            "1.0 has no file",
        ),
    ] {
        let out = w.mirror(&[&purl]);
        assert_exit(&out, 1);
        let text = all_output(&out);
        assert!(text.contains(says) && text.contains(&purl), "{text}");
    }
    // download_url: fetched from there, still checked against the index's digest.
    let cdn = FileServer::with_files([
        (
            "good/pkg-a.whl".to_string(),
            std::fs::read(dir.join("pkg_a-1.0-py3-none-any.whl")).unwrap(),
        ),
        ("bad/pkg-a.whl".to_string(), wheel_bytes.clone()),
    ]);
    let out = w.mirror(&[&format!(
        "pkg:pypi/pkg-a@1.0?download_url={}",
        cdn.url("bad/pkg-a.whl")
    )]);
    assert_exit(&out, 1);
    assert!(all_output(&out).contains("sha256"), "{}", all_output(&out));
    assert!(files("pkg-a").is_empty());
    let out = w.mirror(&[&format!(
        "pkg:pypi/pkg-a@1.0?download_url={}",
        cdn.url("good/pkg-a.whl")
    )]);
    assert_exit(&out, 0);
    assert_eq!(files("pkg-a"), ["pkg_a-1.0-py3-none-any.whl"]);
    assert_eq!(cdn.requests_for("good/pkg-a.whl").len(), 1);
}

#[test]
fn registry_pypi_mirrors_every_project_a_private_index_lists_and_never_the_public_one() {
    let w = world();
    let out = w.mirror(&["--registry", "pypi"]);
    assert_exit(&out, 0);
    // Every project the index lists, each by the version policy (no prereleases by default).
    assert_eq!(
        versions(&report(&out)),
        pairs(&[
            ("mixed-case-name@0.1", "published"),
            ("pkg-a@1.0", "published"),
            ("pkg-b@1.0", "published"),
        ])
    );
    let out = run(mirrorkit(w.dir.path()).args([
        "mirror",
        "--registry",
        "pypi",
        "--upstream",
        "pypi=https://pypi.org/simple/",
        "--dry-run",
    ]));
    assert_exit(&out, 64);
    assert!(
        all_output(&out).contains("never mirrored whole"),
        "{}",
        all_output(&out)
    );
    let out = run(mirrorkit(w.dir.path()).args(["mirror", "--registry", "cargo", "--dry-run"]));
    assert_exit(&out, 64);
    assert!(all_output(&out).contains("cannot list its crates"));

    // The same from a spec's `registry:`; `validate` refuses it without a private upstream.
    let spec = |registry: &str, upstream: &str| {
        common::write_spec(
            w.dir.path(),
            format!(
                "target: {{packages: ./spec-tree, base_url: 'http://127.0.0.1:1/'}}\n\
                 mirrors:\n  all:\n    source: {{type: packages, registry: {registry}{upstream}}}\n"
            ),
        )
    };
    let good = spec(
        "pypi",
        &format!(", upstreams: {{pypi: '{}'}}", w.upstream.index_url()),
    );
    let out = run(mirrorkit(w.dir.path())
        .args(["sync", "--format", "json"])
        .arg(&good));
    assert_exit(&out, 0);
    assert_eq!(
        common::report(&out)["summary"]["pushed"],
        3,
        "{}",
        all_output(&out)
    );
    assert!(
        w.dir
            .path()
            .join("spec-tree/pypi/simple/mixed-case-name/index.html")
            .is_file()
    );
    for (registry, upstream, why) in [
        ("pypi", "", "give the private index"),
        (
            "pypi",
            ", upstreams: {pypi: 'https://pypi.org/simple/'}",
            "never mirrored whole",
        ),
        ("npm", "", "no standard way"),
    ] {
        let bad = spec(registry, upstream);
        let out = run(mirrorkit(w.dir.path()).arg("validate").arg(&bad));
        assert_exit(&out, 65);
        let text = all_output(&out);
        assert!(
            text.contains("mirrors.all.source.registry") && text.contains(why),
            "{text}"
        );
    }
}

#[test]
fn a_private_index_gets_its_credentials_from_the_url_or_the_environment_and_never_shows_them() {
    let w = world();
    let page = get(&format!("{}pkg-b/", w.upstream.index_url()));
    let dir = w.upstream.packages();
    let private = FileServer::with_files([
        ("simple/pkg-b/".to_string(), page.into_bytes()),
        (
            "packages/pkg_b-1.0-py3-none-any.whl".to_string(),
            std::fs::read(dir.join("pkg_b-1.0-py3-none-any.whl")).unwrap(),
        ),
        (
            "packages/pkg_b-1.0.tar.gz".to_string(),
            std::fs::read(dir.join("pkg_b-1.0.tar.gz")).unwrap(),
        ),
    ]);
    private.require_basic_auth("mirror", "s3cr3t-pass");
    let addr = private.addr();
    let mirror = |upstream: &str| {
        run(mirrorkit(w.dir.path())
            .args([
                "mirror",
                "pkg:pypi/pkg-b@1.0",
                "--to",
                "tree",
                "--format",
                "json",
            ])
            .args(["--base-url", "http://127.0.0.1:1/"])
            .arg(format!("--upstream=pypi={upstream}")))
    };
    // No credentials: refused by the index, 77.
    let out = mirror(&format!("http://{addr}/simple/"));
    assert_exit(&out, 77);
    // In the URL: sent to that host for the page and the files, shown nowhere.
    let out = mirror(&format!("http://mirror:s3cr3t-pass@{addr}/simple/"));
    assert_exit(&out, 0);
    assert!(!all_output(&out).contains("s3cr3t"), "{}", all_output(&out));
    assert!(w.tree().join("pypi/files/pkg-b/pkg_b-1.0.tar.gz").is_file());

    // In a spec: the names of the environment variables holding them.
    let spec = common::write_spec(
        w.dir.path(),
        format!(
            "registries:\n  '{addr}': {{username_env: IDX_USER, password_env: IDX_PASS}}\n\
             target: {{packages: ./spec-tree, base_url: 'http://127.0.0.1:1/'}}\n\
             mirrors:\n  py:\n    source: {{type: packages, purls: ['pkg:pypi/pkg-b@1.0'], upstreams: {{pypi: 'http://{addr}/simple/'}}}}\n"
        ),
    );
    let sync = |env: &[(&str, &str)]| {
        let mut cmd = mirrorkit(w.dir.path());
        cmd.args(["sync", "--format", "json"]).arg(&spec);
        cmd.env_remove("IDX_USER").env_remove("IDX_PASS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    };
    let out = sync(&[("IDX_USER", "mirror")]);
    assert_exit(&out, 77);
    let text = all_output(&out);
    assert!(text.contains("IDX_PASS is not set"), "{text}");
    let out = sync(&[("IDX_USER", "mirror"), ("IDX_PASS", "s3cr3t-pass")]);
    assert_exit(&out, 0);
    assert!(!all_output(&out).contains("s3cr3t"));
    assert!(
        w.dir
            .path()
            .join("spec-tree/pypi/files/pkg-b/pkg_b-1.0-py3-none-any.whl")
            .is_file()
    );
    // Nor in anything written: the work dir (store, metadata cache) and the trees.
    let found = std::process::Command::new("grep")
        .args(["-rl", "s3cr3t"])
        .arg(w.dir.path())
        .output()
        .unwrap();
    let files: Vec<String> = String::from_utf8_lossy(&found.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

/// The CPython tag (`cp311`) and machine (`x86_64`) of the `python3` here, for wheels pip
/// installs on this machine.
fn this_python() -> (String, String) {
    let out = mirrorkit_testkit::process::output_of(std::process::Command::new("python3").args([
        "-c",
        "import sys, platform; print(f'cp{sys.version_info[0]}{sys.version_info[1]} {sys.version_info[0]}.{sys.version_info[1]} {platform.machine()}')",
    ]));
    let text = String::from_utf8_lossy(&out).trim().to_string();
    let parts: Vec<&str> = text.split(' ').collect();
    assert_eq!(parts.len(), 3, "{text}");
    (format!("{}|{}", parts[0], parts[1]), parts[2].to_string())
}

#[test]
fn dependencies_follow_requires_dist_markers_for_the_targets_and_pip_installs_them_offline() {
    let upstream = PypiServer::start();
    let p = upstream.packages();
    let (tags, machine) = this_python();
    let (cp, version) = tags.split_once('|').unwrap();
    let other_minor = if version.ends_with(".10") {
        "3.9"
    } else {
        "3.10"
    };
    wheel(
        p,
        "app",
        "1.0",
        &[
            "lib-x>=1,<3",
            "win-only; sys_platform == 'win32'",
            "fast-dep; extra == 'fast'",
            "Lib_Y[socks]>=2",
            "native",
        ],
    );
    for v in ["1.0", "2.0", "3.0"] {
        wheel(p, "lib-x", v, &[]);
    }
    wheel(p, "lib-y", "2.0", &["socks-dep; extra == 'socks'"]);
    wheel(p, "socks-dep", "1.0", &[]);
    wheel(p, "win-only", "1.0", &[]);
    wheel(p, "fast-dep", "1.0", &[]);
    let here = format!("{cp}-{cp}-manylinux_2_17_{machine}");
    for tag in [
        here.as_str(),
        &format!("{cp}-{cp}-win_amd64"),
        "cp27-cp27m-manylinux_2_17_x86_64",
    ] {
        wheel_tagged(p, "native", "1.0", tag, &[]);
    }
    sdist(p, "native", "1.0");
    // Only sdists: one declaring its dependencies (Metadata-Version 2.2), one not.
    sdist_with(p, "declared", "1.0", "2.2", &["leaf"]);
    wheel(p, "leaf", "1.0", &[]);
    sdist(p, "undeclared", "1.0");
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let mirror = |args: &[&str]| {
        run(mirrorkit(dir.path())
            .arg("mirror")
            .args(args)
            .args(["--upstream", &format!("pypi={}", upstream.index_url())])
            .args([
                "--to",
                "tree",
                "--base-url",
                &format!("http://127.0.0.1:{OFFLINE_PORT}/"),
            ])
            .args(["--format", "json"]))
    };
    let platform = format!("manylinux*_{machine}");
    let out = mirror(&[
        "pkg:pypi/app@1.0",
        "--dependencies",
        "--python",
        version,
        "--platform-tag",
        &platform,
        "--no-sdist",
    ]);
    assert_exit(&out, 0);
    // The highest lib-x under 3; lib-y with its `socks` extra's dependency; nothing that only
    // Windows, another extra or other Pythons need.
    assert_eq!(
        versions(&report(&out)),
        pairs(&[
            ("app@1.0", "published"),
            ("lib-x@2.0", "published"),
            ("lib-y@2.0", "published"),
            ("native@1.0", "published"),
            ("socks-dep@1.0", "published"),
        ])
    );
    let native: Vec<String> = std::fs::read_dir(tree.join("pypi/files/native"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        native,
        [format!("native-1.0-{here}.whl")],
        "only the wheel for this Python and platform"
    );

    // A version with no file for the targets fails, naming them.
    let out = mirror(&["pkg:pypi/native@1.0", "--python", other_minor, "--no-sdist"]);
    assert_exit(&out, 1);
    let text = all_output(&out);
    assert!(
        text.contains(&format!(
            "none of the 4 files of native 1.0 is for Python {other_minor}"
        )),
        "{text}"
    );
    // An sdist that declares its dependencies is read; one that does not fails the run, naming
    // it, while what could be verified is still published.
    let out = mirror(&[
        "pkg:pypi/declared@1.0",
        "pkg:pypi/undeclared@1.0",
        "--dependencies",
    ]);
    assert_exit(&out, 1);
    let r = report(&out);
    assert_eq!(
        versions(&r),
        pairs(&[
            ("declared@1.0", "published"),
            ("leaf@1.0", "published"),
            ("undeclared@1.0", "published"),
        ])
    );
    let text = all_output(&out);
    assert!(
        text.contains(
            "undeclared-1.0.tar.gz: no wheel of undeclared 1.0 is at hand and its PKG-INFO does not declare the dependencies"
        ),
        "{text}"
    );

    let mut upstream = upstream;
    upstream.stop();
    let venv = dir.path().join("venv");
    let out = offline(&serving_isolated(
        &tree,
        &format!(
            "python3 -m venv {venv:?}
             {venv:?}/bin/pip install --no-cache-dir --disable-pip-version-check --index-url {} app
             {venv:?}/bin/python -c 'import app, lib_x, lib_y, socks_dep, native; print(lib_x.VALUE, native.VALUE)'",
            index()
        ),
    ));
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("lib-x@2.0 native@1.0"), "{text}");
}

fn get(url: &str) -> String {
    String::from_utf8_lossy(&mirrorkit_testkit::process::output_of(
        std::process::Command::new("python3").args([
            "-c",
            "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
            url,
        ]),
    ))
    .into_owned()
}
