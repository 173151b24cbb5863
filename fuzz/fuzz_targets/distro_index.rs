//! A suite's `Release`, a `Packages` or `Sources` index, an rpm mirror list, `repomd.xml` and
//! `primary.xml` (upstream input, read before anything is trusted): never a panic, every path
//! they name stays inside the repository, every mirror is an http(s) URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_distro::{mirrorlist, packages_index, release::Release, rpm_md};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(r) = Release::parse(text)
    {
        for path in r.files.keys() {
            assert!(
                !path.starts_with('/') && !path.split('/').any(|s| s.is_empty() || s == ".."),
                "{path:?}"
            );
        }
    }
    let inside = |p: &str| !p.starts_with('/') && !p.split('/').any(|s| s.is_empty() || s == "..");
    if let Ok(files) = rpm_md::repomd(data) {
        for f in files {
            assert!(inside(&f.href), "{:?}", f.href);
        }
    }
    if let Ok(packages) = rpm_md::primary(data) {
        for p in packages {
            assert!(inside(&p.href), "{:?}", p.href);
        }
    }
    if let Ok(mirrors) = mirrorlist::parse(data) {
        assert!(mirrors.iter().all(|u| matches!(u.scheme(), "http" | "https")));
    }
    let packages = packages_index::read(data).into_iter().flatten();
    let sources = packages_index::read_sources(data).into_iter().flatten();
    for f in packages.chain(sources) {
        assert!(
            !f.filename.starts_with('/') && !f.filename.split('/').any(|s| s == ".."),
            "{:?}",
            f.filename
        );
    }
});
