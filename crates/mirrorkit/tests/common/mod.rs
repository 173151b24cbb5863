//! Shared pieces of the binary's end-to-end tests: running `mirrorkit`, building release assets,
//! writing specs and index documents.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// `mirrorkit` with a clean credential environment (no user docker config leaks into tests).
pub(crate) fn mirrorkit(cwd: &Path) -> Command {
    Command::from_std(mirrorkit_process(cwd))
}

/// [`mirrorkit`] without `SSL_CERT_FILE`: no certificate authority beyond the system's is
/// trusted unless the command or spec under test says so.
pub(crate) fn mirrorkit_untrusting(cwd: &Path) -> Command {
    let mut cmd = mirrorkit(cwd);
    cmd.env_remove("SSL_CERT_FILE");
    cmd
}

/// The same as [`mirrorkit`], as a plain process (to spawn and kill it).
pub(crate) fn mirrorkit_process(cwd: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("mirrorkit"));
    cmd.current_dir(cwd)
        .env("DOCKER_CONFIG", cwd.join(".no-docker-config"))
        .env("REGISTRY_AUTH_FILE", cwd.join(".no-auth.json"))
        .env("XDG_RUNTIME_DIR", cwd.join(".no-runtime"))
        .env_remove("MIRRORKIT_REGISTRY_USERNAME")
        .env_remove("MIRRORKIT_REGISTRY_PASSWORD")
        .env_remove("MIRRORKIT_LOG")
        .env_remove("MIRRORKIT_CONFIG")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL");
    // The helm that renders charts is the one the tests use (or none), whatever PATH holds.
    match mirrorkit_testkit::charts::helm_binary() {
        Some(helm) => cmd.env("MIRRORKIT_HELM", helm),
        None => cmd.env_remove("MIRRORKIT_HELM"),
    };
    cmd
}

/// `mirrorkit sync SPEC` started in the background, its output discarded (to kill it mid-run).
pub(crate) fn spawn_sync(cwd: &Path, spec: &Path) -> std::process::Child {
    spawn_mirrorkit(cwd, &[std::ffi::OsStr::new("sync"), spec.as_os_str()])
}

/// `mirrorkit ARGS` started in `cwd` with its output discarded, to be killed.
pub(crate) fn spawn_mirrorkit<S: AsRef<std::ffi::OsStr>>(
    cwd: &Path,
    args: &[S],
) -> std::process::Child {
    mirrorkit_process(cwd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn mirrorkit")
}

/// Wait until `child` has a request hanging in `front`'s stall and `ready()` holds (the transfers
/// not stalled have finished, say), then SIGKILL it: the kill lands mid-transfer every time.
pub(crate) fn kill_at_stall(
    child: &mut std::process::Child,
    front: &mirrorkit_testkit::referrers_front::ReferrersFront,
    ready: impl Fn() -> bool,
) {
    kill_when(child, || front.stalls_reached() > 0 && ready());
}

/// SIGKILL `child` as soon as `ready()` holds (a stall reached, the other transfers done);
/// panics if it ends first or `ready` never holds within two minutes.
pub(crate) fn kill_when(child: &mut std::process::Child, ready: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "mirrorkit ended before it reached the stall"
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "mirrorkit never reached the stall"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

/// `--insecure-registry HOST` for each of `registries` (test registries speak plain HTTP).
pub(crate) fn insecure_flags(registries: &[&mirrorkit_testkit::registry::Registry]) -> Vec<String> {
    registries
        .iter()
        .flat_map(|r| ["--insecure-registry".to_string(), r.host()])
        .collect()
}

/// Write `text` as the spec `spec` in `cwd`; `validate`, `check` and `sync` of it all exit 65,
/// before any request, with every one of `needles` in their stderr.
pub(crate) fn assert_spec_refused(cwd: &Path, spec: &str, text: &str, needles: &[&str]) {
    std::fs::write(cwd.join(spec), text).expect("write the spec");
    for command in ["validate", "check", "sync"] {
        let out = run(mirrorkit(cwd).args([command, spec]));
        assert_exit(&out, 65);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            needles.iter().all(|n| stderr.contains(n)),
            "{command} {spec}: {stderr}"
        );
    }
}

/// Copy the quickstart example's index and assets (`examples/quickstart/`) into `dir/quickstart/`.
pub(crate) fn copy_quickstart_assets(dir: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    std::fs::create_dir_all(dir.join("quickstart")).expect("quickstart dir");
    for f in std::fs::read_dir(&from).expect("examples/quickstart") {
        let f = f.expect("entry").path();
        if let Some(name) = f.file_name() {
            std::fs::copy(&f, dir.join("quickstart").join(name)).expect("copy");
        }
    }
}

/// Write `text` as `dir/mirror.yml`; its path.
pub(crate) fn write_spec(dir: &Path, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join("mirror.yml");
    std::fs::write(&path, text).expect("write mirror.yml");
    path
}

/// Run and return the output (no assertion on status).
pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run mirrorkit")
}

/// The exit code, with stdout/stderr shown when it is not `expected`.
pub(crate) fn assert_exit(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Everything the run printed, stdout then stderr (to check that a secret appears nowhere).
pub(crate) fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Deterministic pseudo-random bytes (incompressible enough for tests).
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Write `<dir>/<name>`: a tar.gz holding `<top>/bin/tool` (executable, `content`) and
/// `<top>/README`, built by the system `tar` so it is a real upstream-style archive.
pub(crate) fn tar_gz_asset(dir: &Path, name: &str, top: &str, content: &[u8]) -> PathBuf {
    let staging = tempfile::tempdir().expect("staging dir");
    let bin = staging.path().join(top).join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::write(bin.join("tool"), content).expect("write tool");
    std::fs::write(staging.path().join(top).join("README"), b"readme\n").expect("write readme");
    let status = std::process::Command::new("chmod")
        .arg("755")
        .arg(bin.join("tool"))
        .status()
        .expect("chmod");
    assert!(status.success());
    let out = dir.join(name);
    let status = std::process::Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=2024-01-01",
            "--owner=0",
            "--group=0",
            "-czf",
        ])
        .arg(&out)
        .arg("-C")
        .arg(staging.path())
        .arg(top)
        .status()
        .expect("tar");
    assert!(status.success());
    out
}

/// sha256:<hex> of a file.
pub(crate) fn file_digest(path: &Path) -> String {
    mirrorkit_testkit::registry::sha256_digest(&std::fs::read(path).expect("read"))
}

/// One asset of a url_index document: (file name, url, checksum).
pub(crate) type AssetEntry = (String, String, Option<String>);

/// A url_index document: version → its assets.
pub(crate) fn index_json(versions: &[(&str, Vec<AssetEntry>)]) -> String {
    let mut doc = serde_json::Map::new();
    for (v, assets) in versions {
        let mut a = serde_json::Map::new();
        for (name, url, checksum) in assets {
            let value = match checksum {
                Some(c) => serde_json::json!({"url": url, "checksum": c}),
                None => serde_json::json!(url),
            };
            a.insert(name.clone(), value);
        }
        doc.insert(
            v.to_string(),
            serde_json::json!({"prerelease": false, "assets": a}),
        );
    }
    serde_json::json!({ "versions": doc }).to_string()
}

/// Run `cmd` with `--format json`, check its exit code (showing its output when it differs), and
/// return the report it printed (checked against its schema by [`report`]).
pub(crate) fn json_report(cmd: &mut Command, expected_exit: i32) -> serde_json::Value {
    let out = run(cmd.args(["--format", "json"]));
    assert_exit(&out, expected_exit);
    report(&out)
}

/// Panic, listing every violation, unless `report` follows `mirrorkit schema report`.
pub(crate) fn assert_report_schema(report: &serde_json::Value) {
    assert_follows_schema("report", report);
}

/// Panic, listing every violation, unless `value` follows `mirrorkit schema <target>`.
pub(crate) fn assert_follows_schema(target: &str, value: &serde_json::Value) {
    let errors = schema_violations(target, value);
    assert!(
        errors.is_empty(),
        "the output does not follow `mirrorkit schema {target}`:\n{}\noutput: {value:#}",
        errors.join("\n")
    );
}

/// How `value` breaks `mirrorkit schema report` (empty when it follows it).
pub(crate) fn report_schema_violations(value: &serde_json::Value) -> Vec<String> {
    schema_violations("report", value)
}

/// How `value` breaks `mirrorkit schema <target>` (empty when it follows it). Each schema is
/// read from the binary once per test process.
pub(crate) fn schema_violations(target: &str, value: &serde_json::Value) -> Vec<String> {
    type Validators = std::collections::HashMap<String, std::sync::Arc<jsonschema::Validator>>;
    static VALIDATORS: std::sync::Mutex<Option<Validators>> = std::sync::Mutex::new(None);
    let validator = {
        let mut cache = VALIDATORS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = cache.get_or_insert_with(Default::default);
        cache
            .entry(target.to_string())
            .or_insert_with(|| {
                let dir = tempfile::tempdir().expect("temp dir");
                let out = run(mirrorkit(dir.path()).args(["schema", target]));
                assert_exit(&out, 0);
                let schema: serde_json::Value =
                    serde_json::from_slice(&out.stdout).expect("schema prints JSON");
                std::sync::Arc::new(
                    jsonschema::validator_for(&schema).expect("a valid JSON Schema"),
                )
            })
            .clone()
    };
    validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// `os/architecture` of an image index entry.
pub(crate) fn platform_of(entry: &serde_json::Value) -> String {
    format!(
        "{}/{}",
        entry["platform"]["os"].as_str().unwrap_or_default(),
        entry["platform"]["architecture"]
            .as_str()
            .unwrap_or_default()
    )
}

/// The element of the JSON array `list` whose `key` is `value` (panics when there is none).
pub(crate) fn entry<'a, V>(
    list: &'a serde_json::Value,
    key: &str,
    value: V,
) -> &'a serde_json::Value
where
    serde_json::Value: PartialEq<V>,
    V: Copy + std::fmt::Debug,
{
    list.as_array()
        .and_then(|items| items.iter().find(|item| item[key] == value))
        .unwrap_or_else(|| panic!("no element with {key} = {value:?} in {list:#}"))
}

/// Parse stdout as the JSON report, checked on the way against the schema of the command that
/// printed it (`mirrorkit schema report|cascade-report|copy-report|export-report|import-report|
/// bundle-listing|packages-report`).
pub(crate) fn report(out: &Output) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // Which command printed it, by the fields only its report has.
    let has = |key: &str| report.get(key).is_some();
    let schema = if has("skipped_subjects") {
        Some("packages-report")
    } else if has("summary") && has("dry_run") {
        Some("report")
    } else if has("repair") && has("mirrors") {
        Some("cascade-report")
    } else if has("blobs_copied") {
        Some("copy-report")
    } else if has("base_blobs") {
        Some("export-report")
    } else if has("blobs_present") {
        Some("import-report")
    } else if has("blobs_verified") {
        Some("bundle-listing")
    } else {
        None
    };
    match schema {
        Some(schema) => assert_follows_schema(schema, &report),
        None => panic!(
            "no report schema fits this output (a field every report has is gone?): {report:#}"
        ),
    }
    report
}

/// The first mirror's versions and their statuses are exactly `expected`, in order.
pub(crate) fn assert_statuses(report: &serde_json::Value, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(v, s)| (v.to_string(), s.to_string()))
        .collect();
    assert_eq!(statuses(report), expected, "{report:#}");
}

/// The statuses of every version of the first mirror: [(version, status)].
pub(crate) fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["mirrors"][0]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    (
                        v["version"].as_str().unwrap_or_default().to_string(),
                        v["status"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Flip the last byte of the file at `path`.
pub(crate) fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// Every file under `dir` (following the mirror link) with its bytes: the tree as a client
/// sees it.
pub(crate) fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
