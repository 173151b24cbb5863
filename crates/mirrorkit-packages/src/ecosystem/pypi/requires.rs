//! What a PyPI version needs: the `Requires-Dist` fields of its core metadata — the PEP 658
//! `.metadata` file when the index serves one, else the wheel's `*.dist-info/METADATA`, else an
//! sdist's `PKG-INFO` when it declares them (Metadata-Version 2.2 or later, not `Dynamic`) —
//! parsed as PEP 508 requirements with their markers evaluated for the target environments
//! and the extras asked for.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;
use std::str::FromStr as _;

use pep508_rs::{ExtraName, MarkerEnvironment, Requirement, VersionOrUrl};

use crate::engine::Dependency;

/// Core metadata larger than this is not read (real ones are a few KiB; the long description
/// is the bulk).
const MAX_METADATA: u64 = 16 << 20;

/// The header of a core metadata document (what precedes the first empty line: the body is
/// the description), as `(field, value)`, continuation lines joined.
fn headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

/// The `Requires-Dist` values of a core metadata document.
pub(crate) fn requires_dist(text: &str) -> Vec<String> {
    headers(text)
        .into_iter()
        .filter(|(k, _)| k == "requires-dist")
        .map(|(_, v)| v)
        .collect()
}

/// Whether an sdist's `PKG-INFO` declares its dependencies: Metadata-Version 2.2 or later
/// (PEP 643) with `Requires-Dist` not marked `Dynamic`; older ones are filled in by building.
pub(crate) fn declares_requirements(text: &str) -> bool {
    let h = headers(text);
    let version = h
        .iter()
        .find(|(k, _)| k == "metadata-version")
        .and_then(|(_, v)| {
            let (a, b) = v.split_once('.')?;
            Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?))
        });
    version.is_some_and(|v| v >= (2, 2))
        && !h
            .iter()
            .any(|(k, v)| k == "dynamic" && v.eq_ignore_ascii_case("requires-dist"))
}

fn read_bounded(r: impl std::io::Read, what: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    r.take(MAX_METADATA + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{what}: {e}"))?;
    if bytes.len() as u64 > MAX_METADATA {
        return Err(format!("{what}: larger than {MAX_METADATA} bytes"));
    }
    String::from_utf8(bytes).map_err(|e| format!("{what}: not UTF-8: {e}"))
}

/// A core metadata file on disk (PEP 658 `.metadata`).
pub(crate) fn read_metadata_file(path: &Path) -> Result<String, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read_bounded(f, &path.display().to_string())
}

/// The `*.dist-info/METADATA` of the wheel at `path`.
pub(crate) fn read_wheel_metadata(path: &Path) -> Result<String, String> {
    let what = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| format!("{what}: {e}"))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| format!("{what}: not a zip: {e}"))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.into_owned())
        .filter(|n| {
            n.split_once('/')
                .is_some_and(|(dir, rest)| dir.ends_with(".dist-info") && rest == "METADATA")
        })
        .collect();
    let [name] = names.as_slice() else {
        return Err(format!(
            "{what}: {} `*.dist-info/METADATA` entries; a wheel has one",
            names.len()
        ));
    };
    let entry = zip
        .by_name(name)
        .map_err(|e| format!("{what}: {name}: {e}"))?;
    read_bounded(entry, &format!("{what}: {name}"))
}

/// The top-level `PKG-INFO` of the sdist at `path` (`.tar.gz`, `.tgz` or `.zip`).
pub(crate) fn read_sdist_pkg_info(path: &Path) -> Result<String, String> {
    let what = path.display().to_string();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let f = std::fs::File::open(path).map_err(|e| format!("{what}: {e}"))?;
    let top_pkg_info = |p: &str| {
        let mut parts = p.trim_start_matches("./").split('/');
        matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(_), Some("PKG-INFO"), None)
        )
    };
    if name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(f).map_err(|e| format!("{what}: not a zip: {e}"))?;
        let Some(entry) = zip
            .file_names()
            .filter_map(Result::ok)
            .map(|n| n.into_owned())
            .find(|n| top_pkg_info(n))
        else {
            return Err(format!("{what}: no PKG-INFO"));
        };
        let e = zip
            .by_name(&entry)
            .map_err(|e| format!("{what}: {entry}: {e}"))?;
        return read_bounded(e, &format!("{what}: {entry}"));
    }
    if !(name.ends_with(".tar.gz") || name.ends_with(".tgz")) {
        return Err(format!("{what}: only .tar.gz and .zip sdists are read"));
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let entries = archive
        .entries()
        .map_err(|e| format!("{what}: not a tar.gz: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{what}: not a tar.gz: {e}"))?;
        let is_it = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(top_pkg_info))
            .unwrap_or(false);
        if is_it && entry.header().entry_type().is_file() {
            return read_bounded(entry, &format!("{what}: PKG-INFO"));
        }
    }
    Err(format!("{what}: no PKG-INFO"))
}

/// The packages `requirements` (Requires-Dist values read from `origin`) need in at least one
/// of `environments` with `extras` asked for, each with its range and extras.
pub(crate) fn dependencies(
    requirements: &BTreeSet<String>,
    environments: &[MarkerEnvironment],
    extras: &BTreeSet<String>,
    origin: &str,
) -> Result<Vec<Dependency>, String> {
    let extras: Vec<ExtraName> = extras
        .iter()
        .filter_map(|e| ExtraName::new(e.clone()).ok())
        .collect();
    let mut out = Vec::new();
    for line in requirements {
        let req = Requirement::<pep508_rs::VerbatimUrl>::from_str(line)
            .map_err(|e| format!("{origin}: Requires-Dist {line:?}: {e}"))?;
        if !environments
            .iter()
            .any(|env| req.evaluate_markers(env, &extras))
        {
            continue;
        }
        let range = match &req.version_or_url {
            None => String::new(),
            Some(VersionOrUrl::VersionSpecifier(s)) => s.to_string(),
            Some(VersionOrUrl::Url(_)) => {
                return Err(format!(
                    "{origin}: Requires-Dist {:?} names a URL, not an index version; mirror \
                     that file as pkg:generic and install it by URL",
                    req.name.to_string()
                ));
            }
        };
        out.push(Dependency {
            name: req.name.to_string(),
            range,
            extras: req.extras.iter().map(ToString::to_string).collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystem::pypi::targets::Targets;
    use mirrorkit_core::source::packages::PypiTargets;

    const METADATA: &str = "Metadata-Version: 2.1\nName: app\nVersion: 1.0\n\
        Requires-Dist: lib-x (>=1,<3)\n\
        Requires-Dist: win-only; sys_platform == \"win32\"\n\
        Requires-Dist: fast-dep; extra == \"fast\"\n\
        Requires-Dist: old-py; python_version < \"3.8\"\n\
        Requires-Dist: Lib_Y[socks,extra2]>=2\n\
        \n\
        Requires-Dist: in-the-description\n";

    fn names(deps: &[Dependency]) -> Vec<String> {
        deps.iter()
            .map(|d| {
                let extras: Vec<&str> = d.extras.iter().map(String::as_str).collect();
                format!("{}[{}]{}", d.name, extras.join(","), d.range)
            })
            .collect()
    }

    #[test]
    fn markers_are_evaluated_for_the_targets_and_extras() {
        let lines: BTreeSet<String> = requires_dist(METADATA).into_iter().collect();
        assert_eq!(lines.len(), 5, "{lines:?}");
        let linux = Targets::new(&PypiTargets {
            python: vec!["3.11".into()],
            platforms: vec!["manylinux*_x86_64".into()],
            sdist: true,
        });
        let deps = dependencies(&lines, linux.environments(), &BTreeSet::new(), "m").unwrap();
        assert_eq!(names(&deps), ["lib-y[extra2,socks]>=2", "lib-x[]>=1, <3"]);
        let fast: BTreeSet<String> = ["fast".to_string()].into();
        let deps = dependencies(&lines, linux.environments(), &fast, "m").unwrap();
        assert!(names(&deps).contains(&"fast-dep[]".to_string()), "{deps:?}");
        // Every platform by default: the Windows-only one is needed somewhere.
        let deps = dependencies(
            &lines,
            Targets::default().environments(),
            &BTreeSet::new(),
            "m",
        )
        .unwrap();
        assert!(names(&deps).contains(&"win-only[]".to_string()), "{deps:?}");
        assert!(!names(&deps).iter().any(|n| n.starts_with("old-py")));
        let bad: BTreeSet<String> = ["lib-x (>=1".to_string()].into();
        assert!(
            dependencies(&bad, linux.environments(), &BTreeSet::new(), "m")
                .unwrap_err()
                .contains("m: Requires-Dist")
        );
        let url: BTreeSet<String> = ["x @ https://example.test/x.whl".to_string()].into();
        assert!(
            dependencies(&url, linux.environments(), &BTreeSet::new(), "m")
                .unwrap_err()
                .contains("pkg:generic")
        );
    }

    #[test]
    fn sdists_declare_requirements_from_metadata_2_2() {
        assert!(declares_requirements(
            "Metadata-Version: 2.2\nName: a\nRequires-Dist: b\n"
        ));
        assert!(declares_requirements("Metadata-Version: 2.4\nName: a\n"));
        assert!(!declares_requirements("Metadata-Version: 2.1\nName: a\n"));
        assert!(!declares_requirements(
            "Metadata-Version: 2.2\nDynamic: Requires-Dist\n"
        ));
        assert!(!declares_requirements("Name: a\n"));
    }

    #[test]
    fn reads_metadata_from_wheels_and_sdists() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("a-1.0-py3-none-any.whl");
        {
            use std::io::Write as _;
            let mut z = zip::ZipWriter::new(std::fs::File::create(&whl).unwrap());
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("a/__init__.py", o).unwrap();
            z.start_file("a-1.0.dist-info/METADATA", o).unwrap();
            z.write_all(b"Metadata-Version: 2.1\nRequires-Dist: b\n")
                .unwrap();
            z.finish().unwrap();
        }
        assert_eq!(requires_dist(&read_wheel_metadata(&whl).unwrap()), ["b"]);
        let sdist = dir.path().join("a-1.0.tar.gz");
        {
            let gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&sdist).unwrap(),
                flate2::Compression::default(),
            );
            let mut tar = tar::Builder::new(gz);
            for (p, c) in [
                ("a-1.0/src/PKG-INFO", "wrong one"),
                (
                    "a-1.0/PKG-INFO",
                    "Metadata-Version: 2.2\nRequires-Dist: c\n",
                ),
            ] {
                let mut h = tar::Header::new_gnu();
                h.set_size(c.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                tar.append_data(&mut h, p, c.as_bytes()).unwrap();
            }
            tar.into_inner().unwrap().finish().unwrap();
        }
        let info = read_sdist_pkg_info(&sdist).unwrap();
        assert_eq!(requires_dist(&info), ["c"]);
        assert!(
            read_wheel_metadata(&sdist)
                .unwrap_err()
                .contains("not a zip")
        );
        std::fs::write(dir.path().join("x.tar.bz2"), b"").unwrap();
        assert!(read_sdist_pkg_info(&dir.path().join("x.tar.bz2")).is_err());
    }
}
