//! Upstreams that try to make mirrorkit do harm: a remote document naming local files, a
//! registry whose tag pages never end, an asset whose body never ends.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use mirrorkit_testkit::fileserver::FileServer;

#[test]
fn a_remote_index_cannot_publish_a_local_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("index.json"),
        r#"{"versions": {"1.0.0": {"assets": {"m-linux-amd64": "file:///etc/passwd"}}}}"#,
    )
    .unwrap();
    let server = FileServer::start(&files);
    let url = server.url("/index.json");
    write_spec(
        dir.path(),
        format!(
            "name: m\nsource: {{type: url_index, url: '{url}'}}\nassets: {{linux/amd64: [linux-amd64]}}\nasset_type: binary\nverify: {{require: false}}\n"
        ),
    );
    let out = run(mirrorkit(dir.path()).args(["sync", "mirror.yml"]));
    assert_exit(&out, 65);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("file:///etc/passwd") && stderr.contains(&url),
        "names the URL and the document: {stderr}"
    );
    assert!(!dir.path().join("oci").exists(), "nothing was published");

    // The same document read from a local file may name local files (the quickstart does).
    std::fs::write(
        dir.path().join("local.yml"),
        "name: m\nsource: {type: url_index, url: files/index.json}\nassets: {linux/amd64: [linux-amd64]}\nasset_type: binary\nverify: {require: false}\n",
    )
    .unwrap();
    let rep = json_report(mirrorkit(dir.path()).args(["check", "local.yml"]), 0);
    assert_statuses(&rep, &[("1.0.0", "planned")]);
}

/// A fake registry (this machine's docker-registry cannot be made to misbehave) whose
/// `tags/list` answers every page with one new tag and a `Link` to the next. Returns its
/// `host:port` and the count of tag pages served.
fn endless_tags_registry() -> (String, Arc<AtomicUsize>) {
    tags_registry_linking_to(String::new())
}

/// [`endless_tags_registry`] whose `Link` targets start with `origin` (empty: relative links).
fn tags_registry_linking_to(origin: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let pages = Arc::new(AtomicUsize::new(0));
    let counter = pages.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let counter = counter.clone();
            let origin = origin.clone();
            // A thread per connection: the client keeps idle connections open.
            std::thread::spawn(move || serve_endless_tags(stream, &counter, &origin));
        }
    });
    (host, pages)
}

/// Answer the requests of one connection (see [`endless_tags_registry`]).
fn serve_endless_tags(mut stream: std::net::TcpStream, counter: &AtomicUsize, origin: &str) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // Skip the headers (no request here has a body).
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
        let (extra, body) = if path.contains("/tags/list") {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            (
                format!("Link: <{origin}/v2/app/tags/list?n=1&last=t{n}>; rel=\"next\"\r\n"),
                format!("{{\"name\":\"app\",\"tags\":[\"t{n}\"]}}"),
            )
        } else {
            (String::new(), "{}".to_string())
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn image_spec(dir: &Path, host: &str, settings: &str) -> std::path::PathBuf {
    let path = dir.join("mirror.yml");
    std::fs::write(
        &path,
        format!(
            "target: {{layout: ./oci}}\nregistries: {{'{host}': {{insecure: true{settings}}}}}\nmirrors:\n  app:\n    source: {{type: oci, image: '{host}/app'}}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn tag_pages_that_never_end_fail_the_mirror_at_the_documented_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (host, pages) = endless_tags_registry();

    // The host's max_tags: 50 tags, then the listing fails naming the repository and the limit.
    let spec = image_spec(dir.path(), &host, ", max_tags: 50");
    let out = run(mirrorkit(dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 65);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tags list of")
            && stderr.contains("app")
            && stderr.contains("more than 50 tags"),
        "{stderr}"
    );
    assert_eq!(pages.load(Ordering::SeqCst), 51);

    // Without a setting the page limit (1,000) ends it.
    pages.store(0, Ordering::SeqCst);
    let spec = image_spec(dir.path(), &host, "");
    let out = run(mirrorkit(dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 65);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("after 1000"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pages.load(Ordering::SeqCst), 1000);
}

/// A url_index over HTTP with one asset (`t-1.0.0-linux-amd64.tar.gz`, `size` bytes of noise),
/// and a spec reading it with `max_asset_size` (when given). Returns the server and the asset path.
fn asset_upstream(dir: &Path, size: usize, max_asset_size: Option<&str>) -> (FileServer, String) {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let name = "t-1.0.0-linux-amd64.tar.gz";
    let asset = tar_gz_asset(&files, name, "t", &noise(7, size));
    std::fs::write(
        files.join("index.json"),
        index_json(&[(
            "1.0.0",
            vec![(name.into(), name.into(), Some(file_digest(&asset)))],
        )]),
    )
    .unwrap();
    let server = FileServer::start(&files);
    let limit = max_asset_size
        .map(|m| format!("max_asset_size: {m}\n"))
        .unwrap_or_default();
    write_spec(
        dir,
        format!(
            "{limit}mirrors:\n  t:\n    source: {{type: url_index, url: '{}'}}\n    assets: {{linux/amd64: [linux-amd64]}}\n",
            server.url("/index.json")
        ),
    );
    (server, format!("/{name}"))
}

/// Bytes under `dir` (recursively).
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

#[test]
fn an_asset_body_that_never_ends_fails_its_version_at_max_asset_size_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, asset) = asset_upstream(dir.path(), 10_000, Some("8MiB"));
    server.set_fault(
        &asset,
        mirrorkit_testkit::fileserver::Fault::Endless { times: 1 },
    );
    let r = json_report(mirrorkit(dir.path()).args(["sync", "mirror.yml"]), 1);
    assert_statuses(&r, &[("1.0.0", "failed")]);
    let reason = r["mirrors"][0]["versions"][0].to_string();
    assert!(
        reason.contains(&asset) && reason.contains("max_asset_size") && reason.contains("8388608"),
        "{reason}"
    );
    // What arrived was deleted: the work dir holds far less than the limit.
    let work = disk_usage(&dir.path().join(".mirrorkit"));
    assert!(work < 1 << 20, "{work} bytes left in the work dir");
    // Once upstream is sane, the next run mirrors it.
    let out = run(mirrorkit(dir.path()).args(["sync", "mirror.yml", "--format", "json"]));
    assert_exit(&out, 0);
}

#[test]
fn an_asset_announced_larger_than_max_asset_size_is_refused_before_its_body() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, asset) = asset_upstream(dir.path(), 200_000, Some("100000"));
    let rep = json_report(mirrorkit(dir.path()).args(["sync", "mirror.yml"]), 1);
    let reason = rep["mirrors"][0]["versions"][0].to_string();
    assert!(
        reason.contains(&asset) && reason.contains("the server announced"),
        "{reason}"
    );
}

#[test]
fn max_asset_size_must_be_a_size() {
    let dir = tempfile::tempdir().unwrap();
    asset_upstream(dir.path(), 1000, Some("lots"));
    let out = run(mirrorkit(dir.path()).args(["validate", "mirror.yml"]));
    assert_exit(&out, 65);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("max_asset_size") && stderr.contains("not a size"),
        "{stderr}"
    );
}

/// The README's rule for upstream documents: missing (404) is 69, the upstream is not serving
/// what the spec names; a successful answer that is not the document is 65. Both name the URL.
#[test]
fn a_missing_index_is_69_and_one_that_is_not_a_document_is_65() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let html = b"<!doctype html><html><body>Welcome to our CDN</body></html>\n";
    std::fs::write(files.join("index.json"), html).unwrap();
    std::fs::create_dir_all(files.join("charts")).unwrap();
    std::fs::write(files.join("charts/index.yaml"), html).unwrap();
    let server = FileServer::start(&files);
    let cases = [
        ("url_index", "/gone/index.json", 69),
        ("url_index", "/index.json", 65),
        ("helm", "/gone/index.yaml", 69),
        ("helm", "/charts/index.yaml", 65),
    ];
    for (kind, path, code) in cases {
        let source = match kind {
            "url_index" => format!(
                "source: {{type: url_index, url: '{}'}}\nassets: {{linux/amd64: [linux-amd64]}}\nasset_type: binary\n",
                server.url(path)
            ),
            _ => format!(
                "source: {{type: helm, repo: '{}', chart: app}}\n",
                server.url(path.trim_end_matches("/index.yaml"))
            ),
        };
        write_spec(
            dir.path(),
            format!("name: m\ntarget: {{layout: oci}}\n{source}"),
        );
        let out = run(mirrorkit(dir.path()).args(["sync", "mirror.yml"]));
        assert_exit(&out, code);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&server.url(path)),
            "{kind} {path}: names the URL: {stderr}"
        );
        assert!(!dir.path().join("oci/m").exists(), "nothing was published");
    }
}

#[test]
fn a_tag_page_linking_off_the_registry_fails_the_mirror_instead_of_a_partial_list() {
    let dir = tempfile::tempdir().unwrap();
    let (host, pages) = tags_registry_linking_to("http://127.0.0.2:9".into());
    let spec = image_spec(dir.path(), &host, "");
    let out = run(mirrorkit(dir.path()).arg("sync").arg(&spec));
    assert_exit(&out, 65);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tags list of") && stderr.contains("not on the registry's origin"),
        "{stderr}"
    );
    assert_eq!(
        pages.load(Ordering::SeqCst),
        1,
        "the foreign page is not asked for"
    );
    let index = dir.path().join("oci/app/index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).unwrap();
        assert!(!text.contains("ref.name"), "nothing was tagged: {text}");
    }
}
