//! Packaging a chart directory as `helm package` does: every file the `.helmignore` rules (and
//! Helm's default `templates/.?*`) leave in, under `<chart-name>/`, gzip-compressed. Unlike
//! `helm package` the archive is reproducible: `Chart.yaml` first, then every file in path
//! order, mode 0644, owner 0, mtime 0, no gzip timestamp — the same directory always gives the
//! same digest, so a chart already published is recognised and skipped.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use mirrorkit_core::digest::{Digest, HashingWriter};
use mirrorkit_core::exit::ExitCode;

use super::chart::{ChartMeta, MAX_CHART_BYTES};
use super::ignore::Rules;

/// Largest sum of file sizes packaged (the compressed archive is bounded by
/// [`MAX_CHART_BYTES`] too).
const MAX_PACKAGED_INPUT: u64 = 4 * MAX_CHART_BYTES;
/// Directory depth followed (symlinked directories could loop).
const MAX_DEPTH: usize = 32;

/// A packaged chart.
#[derive(Debug)]
pub(crate) struct Packaged {
    /// The `.tgz`.
    pub path: PathBuf,
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its metadata.
    pub meta: ChartMeta,
}

/// Why a directory could not be packaged, with the exit code it stands for (65 for a malformed
/// Chart.yaml or .helmignore, 74 for I/O).
#[derive(Debug)]
pub(crate) struct PackageError {
    /// What and where.
    pub message: String,
    /// 65 or 74.
    pub exit_code: ExitCode,
}

fn data(message: String) -> PackageError {
    PackageError {
        message,
        exit_code: ExitCode::Data,
    }
}

fn io(path: &Path, e: std::io::Error) -> PackageError {
    PackageError {
        message: format!("{}: {e}", path.display()),
        exit_code: ExitCode::Io,
    }
}

/// Read the chart metadata of `dir` (its Chart.yaml).
pub(crate) fn read_meta(dir: &Path) -> Result<ChartMeta, PackageError> {
    let path = dir.join("Chart.yaml");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(data(format!(
                "{}: not found (not a chart directory)",
                path.display()
            )));
        }
        Err(e) => return Err(io(&path, e)),
    };
    ChartMeta::parse(&bytes).map_err(|e| data(format!("{}: {e}", path.display())))
}

/// Package `dir` into `out_dir/<name>-<version>.tgz` (blocking).
pub(crate) fn package_dir(dir: &Path, out_dir: &Path) -> Result<Packaged, PackageError> {
    let meta = read_meta(dir)?;
    let ignore_path = dir.join(".helmignore");
    let ignore_text = match std::fs::read_to_string(&ignore_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&ignore_path, e)),
    };
    let rules = Rules::parse(ignore_text.as_deref())
        .map_err(|e| data(format!("{}: {e}", ignore_path.display())))?;
    let mut files = Vec::new();
    walk(dir, "", &rules, 0, &mut files)?;
    // Chart.yaml first (Helm's loader and other tools look for it early), then path order.
    files.sort_by(|a, b| {
        (a.0 != "Chart.yaml", a.0.as_str()).cmp(&(b.0 != "Chart.yaml", b.0.as_str()))
    });
    let total: u64 = files.iter().map(|f| f.2).sum();
    if total > MAX_PACKAGED_INPUT {
        return Err(data(format!(
            "{}: the chart's files add up to {total} bytes, more than {MAX_PACKAGED_INPUT}",
            dir.display()
        )));
    }
    let out_path = out_dir.join(format!("{}-{}.tgz", meta.name, meta.version));
    let out = std::fs::File::create(&out_path).map_err(|e| io(&out_path, e))?;
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(HashingWriter::new(out), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (rel, abs, size) in &files {
        let file = std::fs::File::open(abs).map_err(|e| io(abs, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(*size);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        tar.append_data(&mut header, format!("{}/{rel}", meta.name), file)
            .map_err(|e| io(abs, e))?;
    }
    let gz = tar.into_inner().map_err(|e| io(&out_path, e))?;
    let hashing = gz.finish().map_err(|e| io(&out_path, e))?;
    let (mut file, digest, size) = hashing.finish();
    file.flush().map_err(|e| io(&out_path, e))?;
    if size > MAX_CHART_BYTES {
        return Err(data(format!(
            "{}: the packaged chart is {size} bytes, more than {MAX_CHART_BYTES}",
            dir.display()
        )));
    }
    Ok(Packaged {
        path: out_path,
        digest,
        size,
        meta,
    })
}

/// Collect `(relative path, absolute path, size)` of the files under `dir` that the rules keep,
/// following symlinks as Helm does; anything but files and directories is refused, as Helm does.
fn walk(
    dir: &Path,
    rel: &str,
    rules: &Rules,
    depth: usize,
    out: &mut Vec<(String, PathBuf, u64)>,
) -> Result<(), PackageError> {
    if depth > MAX_DEPTH {
        return Err(data(format!(
            "{}: directories nested more than {MAX_DEPTH} deep (a symlink loop?)",
            dir.display()
        )));
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(data(format!(
                "{}: file name is not UTF-8",
                entry.path().display()
            )));
        };
        let path = entry.path();
        let child_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let meta = std::fs::metadata(&path).map_err(|e| io(&path, e))?;
        if meta.is_dir() {
            if !rules.ignore(&child_rel, true) {
                walk(&path, &child_rel, rules, depth + 1, out)?;
            }
        } else if rules.ignore(&child_rel, false) {
            continue;
        } else if meta.is_file() {
            out.push((child_rel, path, meta.len()));
        } else {
            return Err(data(format!(
                "{}: cannot package an irregular file",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tgz: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(
            std::fs::File::open(tgz).unwrap(),
        ));
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn packages_reproducibly_honouring_helmignore() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("src");
        std::fs::create_dir_all(c.join("templates")).unwrap();
        std::fs::create_dir_all(c.join("ci")).unwrap();
        std::fs::write(
            c.join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: 0.3.0\n",
        )
        .unwrap();
        std::fs::write(c.join("values.yaml"), "a: 1\n").unwrap();
        std::fs::write(c.join("templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
        std::fs::write(c.join("templates/.swp"), "x").unwrap();
        std::fs::write(c.join("ci/test.yaml"), "x").unwrap();
        std::fs::write(c.join("notes.bak"), "x").unwrap();
        std::fs::write(c.join(".helmignore"), "*.bak\nci/\n").unwrap();
        let out1 = tempfile::tempdir().unwrap();
        let out2 = tempfile::tempdir().unwrap();
        let a = package_dir(&c, out1.path()).unwrap();
        let b = package_dir(&c, out2.path()).unwrap();
        assert_eq!(a.digest, b.digest, "same directory, same archive");
        assert_eq!(a.meta.name, "demo");
        assert!(a.path.ends_with("demo-0.3.0.tgz"));
        assert_eq!(
            names(&a.path),
            [
                "demo/Chart.yaml",
                "demo/.helmignore",
                "demo/templates/cm.yaml",
                "demo/values.yaml"
            ]
        );
        std::fs::write(c.join(".helmignore"), "a/**\n").unwrap();
        let e = package_dir(&c, out1.path()).unwrap_err();
        assert_eq!(e.exit_code, ExitCode::Data);
        assert!(e.message.contains(".helmignore: line 1"), "{}", e.message);
        std::fs::remove_file(c.join("Chart.yaml")).unwrap();
        let e = package_dir(&c, out1.path()).unwrap_err();
        assert!(e.message.contains("Chart.yaml: not found"), "{}", e.message);
    }
}
