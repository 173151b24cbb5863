//! What a run leaves on disk (file modes) and the exit codes of inputs that are wrong in ways
//! the README documents.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::*;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every regular file under `dir` with its permission bits.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                out.push((
                    e.path().display().to_string(),
                    meta.permissions().mode() & 0o777,
                ));
            }
        }
    }
    out
}

#[test]
fn published_layouts_and_bundles_are_readable_by_others_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let spec = examples().join("quickstart.yml");
    let mirrorkit_bin = assert_cmd::cargo::cargo_bin!("mirrorkit");
    let sh = |args: &str| {
        let mut cmd = std::process::Command::new("sh");
        cmd.current_dir(dir.path()).arg("-c").arg(format!(
            "umask 022 && exec '{}' {args}",
            mirrorkit_bin.display()
        ));
        cmd.output().unwrap()
    };
    let out = sh(&format!("sync '{}'", spec.display()));
    assert_exit(&out, 0);
    let out = sh("export oci:oci/hello:1.1.0 -o bundle.tar");
    assert_exit(&out, 0);
    let out = sh("export oci:oci/hello:1.1.0 -o bundle-dir --format oci-layout");
    assert_exit(&out, 0);
    let mut files = modes(&dir.path().join("oci"));
    assert!(files.len() > 5, "{files:?}");
    files.extend(modes(&dir.path().join("bundle-dir")));
    let archive = dir.path().join("bundle.tar");
    files.push((
        archive.display().to_string(),
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
    ));
    for (path, mode) in &files {
        assert_eq!(
            *mode, 0o644,
            "{path} is {mode:o}, expected 0644 under umask 022"
        );
    }
    let bundle_dir = std::fs::metadata(dir.path().join("bundle-dir")).unwrap();
    assert_eq!(bundle_dir.permissions().mode() & 0o777, 0o755);
}

#[test]
fn an_empty_version_filter_is_a_usage_error_not_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let spec = examples().join("quickstart.yml");
    for value in ["", ",", "1.0.0,", " "] {
        let out = run(mirrorkit(dir.path())
            .arg("sync")
            .arg(&spec)
            .args(["--version", value]));
        assert_exit(&out, 64);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cannot be empty"),
            "--version {value:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!dir.path().join("oci").exists(), "nothing was mirrored");
}

#[test]
fn a_spec_that_is_not_utf8_is_a_data_error_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    write_spec(dir.path(), b"mirrors:\n  a: {source: \xff\xfe}\n");
    for command in ["validate", "sync"] {
        let out = run(mirrorkit(dir.path()).args([command, "mirror.yml"]));
        assert_exit(&out, 65);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("mirror.yml") && stderr.contains("not UTF-8") && stderr.contains("2:"),
            "{stderr}"
        );
    }
}

#[test]
fn validate_refuses_an_unknown_platform_unless_the_spec_lists_it_as_custom() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |custom: &str| {
        write_spec(
            dir.path(),
            format!(
                "{custom}mirrors:\n  t:\n    source: {{type: url_index, url: index.json}}\n    assets:\n      linux/amd64: [amd64]\n      plan9/mips99: [mips]\n"
            ),
        );
    };
    spec("");
    let out = run(mirrorkit(dir.path()).args(["validate", "mirror.yml"]));
    assert_exit(&out, 65);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mirror.yml") && stderr.contains("unknown architecture \"mips99\""),
        "{stderr}"
    );
    // A typo in the OS is named as such.
    std::fs::write(
        dir.path().join("typo.yml"),
        "mirrors:\n  t:\n    source: {type: url_index, url: index.json}\n    assets: {linx/amd64: [amd64]}\n",
    )
    .unwrap();
    let out = run(mirrorkit(dir.path()).args(["validate", "typo.yml"]));
    assert_exit(&out, 65);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown operating system \"linx\""));
    // The escape hatch.
    spec("custom_platforms: [plan9/mips99]\n");
    let out = run(mirrorkit(dir.path()).args(["validate", "mirror.yml"]));
    assert_exit(&out, 0);
}

/// A small tmpfs mounted on a temp dir, unmounted when dropped; `None` where this process may
/// not mount (not root, no mount namespace rights).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Both ways an asset's digest can be known: published beside it (the index), or listed in a
/// checksums file (a full disk must not pass for a checksum problem).
#[test]
fn a_full_work_dir_stops_the_mirror_with_74_and_publishes_nothing() {
    for checksums_file in [false, true] {
        full_work_dir_case(checksums_file);
    }
}

fn full_work_dir_case(checksums_file: bool) {
    let Some(disk) = SmallDisk::mount("512k") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk exit code is not tested"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut versions = Vec::new();
    for (i, v) in ["1.0.0", "1.1.0", "1.2.0"].iter().enumerate() {
        let name = format!("t-{v}-linux-amd64.tar.gz");
        let asset = tar_gz_asset(dir.path(), &name, "t", &noise(i as u64 + 20, 2 << 20));
        let digest = file_digest(&asset);
        if checksums_file {
            let sums = format!("SUMS-{v}.txt");
            let hex = digest.trim_start_matches("sha256:");
            std::fs::write(dir.path().join(&sums), format!("{hex}  {name}\n")).unwrap();
            versions.push((
                *v,
                vec![(name.clone(), name, None), (sums.clone(), sums, None)],
            ));
        } else {
            versions.push((*v, vec![(name.clone(), name, Some(digest))]));
        }
    }
    std::fs::write(dir.path().join("index.json"), index_json(&versions)).unwrap();
    let verify = if checksums_file {
        "verify: {checksums_file: 'SUMS-{version}.txt'}\n"
    } else {
        ""
    };
    write_spec(
        dir.path(),
        format!(
            "name: t\nsource: {{type: url_index, url: index.json}}\nassets: {{linux/amd64: [linux-amd64]}}\nstrip_components: 1\n{verify}"
        ),
    );
    let out = run(mirrorkit(dir.path())
        .args(["sync", "mirror.yml", "--format", "json", "--work-dir"])
        .arg(disk.dir.path()));
    assert_exit(&out, 74);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("work dir"), "{stderr}");
    assert!(
        !stderr.contains("checksums file)"),
        "not a checksum problem: {stderr}"
    );
    assert!(
        stderr.contains(&disk.dir.path().display().to_string()),
        "names the full directory: {stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let r = report(&out);
    assert_eq!(r["mirrors"][0]["error"]["exit_code"], 74, "{r}");
    // Nothing was tagged.
    let index = dir.path().join("oci/t/index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).unwrap();
        assert!(
            !text.contains("org.opencontainers.image.ref.name"),
            "{text}"
        );
    }
}

#[test]
fn no_setting_is_silently_ignored() {
    let dir = tempfile::tempdir().unwrap();
    // A release setting on an image mirror: 65 from every command that reads the spec, naming
    // the field and the mirror type, before any request.
    assert_spec_refused(
        dir.path(),
        "images.yml",
        "mirrors:\n  nginx:\n    source: {type: oci, image: 127.0.0.1:9/library/nginx}\n    exclude: [{version: 1.0.0, reason: x}]\n",
        &["mirrors.nginx.exclude", "does not apply to oci mirrors"],
    );

    // ocx-mirror fields kept for compatibility: accepted, and named in one info line.
    let spec = std::fs::read_to_string(examples().join("quickstart.yml")).unwrap()
        + "    tests: {command: [hello, --version]}\n    notify: {slack: '#builds'}\n    concurrency: {max_retries: 3}\n";
    copy_quickstart_assets(dir.path());
    std::fs::write(dir.path().join("compat.yml"), spec).unwrap();
    for command in ["validate", "check"] {
        let out = run(mirrorkit(dir.path()).args([command, "compat.yml"]));
        assert_exit(&out, 0);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let info: Vec<&str> = stderr.lines().filter(|l| l.starts_with("info:")).collect();
        assert_eq!(
            info,
            [
                "info: compat.yml: accepted for ocx-mirror compatibility and not used: mirrors.hello.tests, mirrors.hello.notify, mirrors.hello.concurrency.max_retries"
            ],
            "{command}: {stderr}"
        );
    }
    // Without them, no such line.
    let out = run(mirrorkit(dir.path())
        .arg("validate")
        .arg(examples().join("quickstart.yml")));
    assert_exit(&out, 0);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("info:"));
}
