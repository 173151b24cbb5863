//! [`PypiServer`]: a real PyPI index (pypiserver, installed with pip) on a free loopback port,
//! serving the wheels and sdists of a directory as PEP 503 HTML — no PEP 691 JSON, as many
//! private indexes — with no fallback to pypi.org. [`wheel`] and [`sdist`] write tiny, valid
//! distributions (a wheel is a zip with `.dist-info/METADATA`, `WHEEL` and `RECORD`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::process::free_port;

/// A running pypiserver; stopped when dropped.
pub struct PypiServer {
    child: Child,
    port: u16,
    packages: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PypiServer {
    /// Serve the distributions that will be written into [`PypiServer::packages`].
    pub fn start() -> PypiServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let packages = dir.path().join("packages");
        std::fs::create_dir_all(&packages).expect("packages dir");
        let log = dir.path().join("requests.log");
        let port = free_port();
        let child = Command::new("pypi-server")
            .args([
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--disable-fallback",
            ])
            .arg("--log-file")
            .arg(&log)
            .arg("-v")
            .arg(&packages)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pypi-server (pip install pypiserver; scripts/test installs it)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "pypi-server did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        PypiServer {
            child,
            port,
            packages,
            log,
            _dir: dir,
        }
    }

    /// The index URL: `http://127.0.0.1:PORT/simple/`.
    pub fn index_url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// The directory it serves: write distributions here.
    pub fn packages(&self) -> &Path {
        &self.packages
    }

    /// Its log (requests at verbose level).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stop it now (the upstream goes away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Write `<dist>-<version>-py3-none-any.whl` into `dir`: a module named as the project (lower
/// case, `-` and `.` as `_`) whose `VALUE` is `"<name>@<version>"`, requiring `requires` (PEP
/// 508 strings). Returns its path.
pub fn wheel(dir: &Path, name: &str, version: &str, requires: &[&str]) -> PathBuf {
    wheel_tagged(dir, name, version, "py3-none-any", requires)
}

/// [`wheel`] with the tag `tag` (`cp311-cp311-manylinux_2_17_x86_64`) in its name and `WHEEL`
/// (its content is pure Python all the same).
pub fn wheel_tagged(
    dir: &Path,
    name: &str,
    version: &str,
    tag: &str,
    requires: &[&str],
) -> PathBuf {
    let dist = name.replace('-', "_");
    let module = name.to_lowercase().replace(['-', '.'], "_");
    let info = format!("{dist}-{version}.dist-info");
    let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        metadata.push_str(&format!("Requires-Dist: {r}\n"));
        // `extra == 'name'` needs `Provides-Extra: name`, or pip ignores the extra.
        for quote in ['\'', '"'] {
            if let Some((_, rest)) = r.split_once(&format!("extra == {quote}"))
                && let Some((extra, _)) = rest.split_once(quote)
            {
                metadata.push_str(&format!("Provides-Extra: {extra}\n"));
            }
        }
    }
    let files = [
        (
            format!("{module}/__init__.py"),
            format!("VALUE = {:?}\n", format!("{name}@{version}")),
        ),
        (format!("{info}/METADATA"), metadata),
        (
            format!("{info}/WHEEL"),
            format!(
                "Wheel-Version: 1.0\nGenerator: mirrorkit-testkit\nRoot-Is-Purelib: true\nTag: {tag}\n"
            ),
        ),
    ];
    let mut record = String::new();
    for (path, content) in &files {
        let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(content.as_bytes()));
        record.push_str(&format!("{path},sha256={hash},{}\n", content.len()));
    }
    record.push_str(&format!("{info}/RECORD,,\n"));
    let path = dir.join(format!("{dist}-{version}-{tag}.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create wheel"));
    let options = zip::write::SimpleFileOptions::default();
    for (p, content) in files
        .iter()
        .chain(std::iter::once(&(format!("{info}/RECORD"), record)))
    {
        zip.start_file(p.as_str(), options).expect("zip entry");
        zip.write_all(content.as_bytes()).expect("zip write");
    }
    zip.finish().expect("finish wheel");
    path
}

/// Write `<dist>-<version>.tar.gz` into `dir`: an sdist with `PKG-INFO` (Metadata-Version 2.1,
/// which does not declare dependencies) and `setup.py`.
pub fn sdist(dir: &Path, name: &str, version: &str) -> PathBuf {
    sdist_with(dir, name, version, "2.1", &[])
}

/// [`sdist`] whose `PKG-INFO` has this Metadata-Version and these `Requires-Dist`.
pub fn sdist_with(
    dir: &Path,
    name: &str,
    version: &str,
    metadata_version: &str,
    requires: &[&str],
) -> PathBuf {
    let dist = name.replace('-', "_");
    let mut pkg_info =
        format!("Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\n");
    for r in requires {
        pkg_info.push_str(&format!("Requires-Dist: {r}\n"));
    }
    let path = dir.join(format!("{dist}-{version}.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).expect("create sdist"),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for (p, content) in [
        ("PKG-INFO", pkg_info),
        (
            "setup.py",
            format!("from setuptools import setup\nsetup(name={name:?}, version={version:?})\n"),
        ),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("{dist}-{version}/{p}"),
            content.as_bytes(),
        )
        .expect("tar entry");
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .expect("finish sdist");
    path
}
