//! Layer building: every input format in, the same package tree out; strip_components; binaries;
//! hostile and broken archives; determinism; and the layers read back with the system tools.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_release::ocx::{
    AssetType, BuiltLayer, Compression, LayerOptions, PackageError, build_layer,
};

/// One entry of a tar read back from a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    path: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    link: Option<String>,
    data: Vec<u8>,
}

fn opts(compression: Compression, strip: u32) -> LayerOptions {
    LayerOptions {
        asset_type: AssetType::Archive,
        compression,
        strip_components: strip,
        threads: Some(2),
        ..LayerOptions::default()
    }
}

/// Decompress a layer blob according to its media type.
fn layer_tar(layer: &BuiltLayer) -> Vec<u8> {
    let file = std::fs::File::open(&layer.path).unwrap();
    let mut out = Vec::new();
    match layer.media_type.as_str() {
        "application/vnd.oci.image.layer.v1.tar+xz" => {
            liblzma::read::XzDecoder::new(file).read_to_end(&mut out)
        }
        "application/vnd.oci.image.layer.v1.tar+zstd" => zstd::stream::read::Decoder::new(file)
            .unwrap()
            .read_to_end(&mut out),
        "application/vnd.oci.image.layer.v1.tar+gzip" => {
            flate2::read::GzDecoder::new(file).read_to_end(&mut out)
        }
        other => panic!("unexpected media type {other}"),
    }
    .unwrap();
    out
}

fn read_tar(bytes: &[u8]) -> Vec<Seen> {
    let mut archive = tar::Archive::new(bytes);
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let kind = match header.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            other => panic!("unexpected entry type {other:?}"),
        };
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        seen.push(Seen {
            path: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            kind,
            mode: header.mode().unwrap(),
            uid: header.uid().unwrap(),
            gid: header.gid().unwrap(),
            link: entry
                .link_name_bytes()
                .map(|b| String::from_utf8(b.into_owned()).unwrap()),
            data,
        });
    }
    seen
}

fn layer_entries(layer: &BuiltLayer) -> Vec<Seen> {
    read_tar(&layer_tar(layer))
}

/// A tar header with a raw (unchecked) name, so tests can write what tar-rs refuses to.
fn raw_header(name: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(1_700_000_000);
    header.set_uid(1000);
    header.set_gid(1000);
    let slot = &mut header.as_old_mut().name;
    slot.fill(0);
    slot[..name.len()].copy_from_slice(name.as_bytes());
    header.set_cksum();
    header
}

fn raw_link(header: &mut tar::Header, target: &str) {
    let slot = &mut header.as_old_mut().linkname;
    slot.fill(0);
    slot[..target.len()].copy_from_slice(target.as_bytes());
    header.set_cksum();
}

/// Entries for a test tar: (name, kind, mode, data or link target).
type Spec<'a> = &'a [(&'a str, char, u32, &'a str)];

fn make_tar(entries: Spec<'_>) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, mode, payload) in entries {
        match kind {
            'f' => {
                let header = raw_header(name, tar::EntryType::Regular, *mode, payload.len() as u64);
                builder.append(&header, payload.as_bytes()).unwrap();
            }
            'd' => {
                let header = raw_header(name, tar::EntryType::Directory, *mode, 0);
                builder.append(&header, &[][..]).unwrap();
            }
            'l' | 'h' => {
                let kind = if *kind == 'l' {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut header = raw_header(name, kind, *mode, 0);
                raw_link(&mut header, payload);
                builder.append(&header, &[][..]).unwrap();
            }
            'c' => {
                let header = raw_header(name, tar::EntryType::Char, *mode, 0);
                builder.append(&header, &[][..]).unwrap();
            }
            'p' => {
                let header = raw_header(name, tar::EntryType::Fifo, *mode, 0);
                builder.append(&header, &[][..]).unwrap();
            }
            other => panic!("unknown kind {other}"),
        }
    }
    builder.into_inner().unwrap()
}

const TREE: Spec<'static> = &[
    ("tool-1.0/", 'd', 0o755, ""),
    ("tool-1.0/bin/", 'd', 0o755, ""),
    ("tool-1.0/bin/tool", 'f', 0o755, "#!/bin/sh\necho tool\n"),
    ("tool-1.0/bin/tool-alias", 'l', 0o777, "tool"),
    ("tool-1.0/README.md", 'f', 0o644, "read me\n"),
    ("tool-1.0/share/doc/", 'd', 0o755, ""),
    (
        "tool-1.0/share/doc/link-to-readme",
        'l',
        0o777,
        "../../README.md",
    ),
];

/// The tree above after `strip_components: 1`, as it must come out of every format.
/// (path, kind, mode, link target, data) of one entry.
type Summary = (String, char, u32, Option<String>, Vec<u8>);

fn expected_tree() -> Vec<Summary> {
    vec![
        ("bin/".into(), 'd', 0o755, None, vec![]),
        (
            "bin/tool".into(),
            'f',
            0o755,
            None,
            b"#!/bin/sh\necho tool\n".to_vec(),
        ),
        (
            "bin/tool-alias".into(),
            'l',
            0o777,
            Some("tool".into()),
            vec![],
        ),
        ("README.md".into(), 'f', 0o644, None, b"read me\n".to_vec()),
        ("share/doc/".into(), 'd', 0o755, None, vec![]),
        (
            "share/doc/link-to-readme".into(),
            'l',
            0o777,
            Some("../../README.md".into()),
            vec![],
        ),
    ]
}

fn summary(entries: &[Seen]) -> Vec<Summary> {
    entries
        .iter()
        .map(|e| {
            (
                e.path.clone(),
                e.kind,
                e.mode,
                e.link.clone(),
                e.data.clone(),
            )
        })
        .collect()
}

fn make_zip(entries: Spec<'_>) -> Vec<u8> {
    use zip::write::{SimpleFileOptions, ZipWriter};
    let mut writer = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, kind, mode, payload) in entries {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        match kind {
            'f' => {
                writer.start_file(*name, options).unwrap();
                writer.write_all(payload.as_bytes()).unwrap();
            }
            'd' => writer.add_directory(*name, options).unwrap(),
            'l' => writer.add_symlink(*name, *payload, options).unwrap(),
            other => panic!("zip cannot hold kind {other}"),
        }
    }
    writer.finish().unwrap().into_inner()
}

fn compress(tar: &[u8], format: &str) -> Vec<u8> {
    match format {
        "tar" => tar.to_vec(),
        "tar.gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        "tar.xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        "tar.zst" => zstd::stream::encode_all(tar, 3).unwrap(),
        "tar.bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        other => panic!("unknown format {other}"),
    }
}

fn write_asset(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn sha256_file(path: &Path) -> Digest {
    Digest::sha256_of(&std::fs::read(path).unwrap())
}

#[test]
fn every_archive_format_repacks_to_the_same_package_tree() {
    let dir = tempfile::tempdir().unwrap();
    let tar = make_tar(TREE);
    let mut inputs: Vec<(String, Vec<u8>)> = ["tar", "tar.gz", "tar.xz", "tar.zst", "tar.bz2"]
        .iter()
        .map(|f| (format!("tool-1.0.{f}"), compress(&tar, f)))
        .collect();
    inputs.push(("tool-1.0.zip".to_string(), make_zip(TREE)));
    for (name, bytes) in inputs {
        let asset = write_asset(dir.path(), &name, &bytes);
        let layer = build_layer(&asset, &name, &opts(Compression::Gzip, 1), dir.path())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let entries = layer_entries(&layer);
        assert_eq!(summary(&entries), expected_tree(), "{name}");
        assert!(
            entries.iter().all(|e| e.uid == 0 && e.gid == 0),
            "{name}: owner must be root"
        );
    }
}

#[test]
fn layer_digests_describe_the_blob_and_the_tar() {
    let dir = tempfile::tempdir().unwrap();
    let asset = write_asset(dir.path(), "t.tar.gz", &compress(&make_tar(TREE), "tar.gz"));
    for compression in [Compression::Xz, Compression::Zstd, Compression::Gzip] {
        let layer = build_layer(&asset, "t.tar.gz", &opts(compression, 1), dir.path()).unwrap();
        assert_eq!(layer.media_type, compression.media_type());
        assert_eq!(sha256_file(&layer.path), layer.digest, "{compression:?}");
        assert_eq!(std::fs::metadata(&layer.path).unwrap().len(), layer.size);
        assert_eq!(
            Digest::sha256_of(&layer_tar(&layer)),
            layer.uncompressed_digest
        );
        assert_eq!(
            layer.path.file_name().unwrap().to_str().unwrap(),
            format!("{}.{}", layer.digest.hex(), compression.extension())
        );
    }
    // No temp files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn strip_components_drops_entries_with_too_few_components() {
    let dir = tempfile::tempdir().unwrap();
    let tar = make_tar(&[
        ("README", 'f', 0o644, "top"),
        ("pkg/", 'd', 0o755, ""),
        ("pkg/shallow", 'f', 0o644, "one deep"),
        ("pkg/sub/", 'd', 0o755, ""),
        ("pkg/sub/deep", 'f', 0o755, "two deep"),
    ]);
    let asset = write_asset(dir.path(), "a.tar", &tar);

    let layer = build_layer(&asset, "a.tar", &opts(Compression::Gzip, 2), dir.path()).unwrap();
    let names: Vec<_> = layer_entries(&layer).into_iter().map(|e| e.path).collect();
    assert_eq!(names, ["deep"]);

    let layer = build_layer(&asset, "a.tar", &opts(Compression::Gzip, 0), dir.path()).unwrap();
    let names: Vec<_> = layer_entries(&layer).into_iter().map(|e| e.path).collect();
    assert_eq!(
        names,
        ["README", "pkg/", "pkg/shallow", "pkg/sub/", "pkg/sub/deep"]
    );

    // Stripping everything away is an error, not an empty package.
    let err = build_layer(&asset, "a.tar", &opts(Compression::Gzip, 3), dir.path()).unwrap_err();
    assert!(matches!(err, PackageError::Corrupt { .. }), "{err}");
}

#[test]
fn setuid_bits_are_dropped_and_permission_bits_kept() {
    let dir = tempfile::tempdir().unwrap();
    let tar = make_tar(&[("su", 'f', 0o4755, "x"), ("ro", 'f', 0o444, "y")]);
    let asset = write_asset(dir.path(), "m.tar", &tar);
    let layer = build_layer(&asset, "m.tar", &opts(Compression::Gzip, 0), dir.path()).unwrap();
    let modes: Vec<_> = layer_entries(&layer).into_iter().map(|e| e.mode).collect();
    assert_eq!(modes, [0o755, 0o444]);
}

#[test]
fn binary_layer_holds_one_executable_file() {
    let dir = tempfile::tempdir().unwrap();
    let asset = write_asset(dir.path(), "download.bin", b"\x7fELF pretend binary");
    let mut o = opts(Compression::Xz, 5);
    o.asset_type = AssetType::Binary;
    let layer = build_layer(&asset, "jq-linux-amd64", &o, dir.path()).unwrap();
    let entries = layer_entries(&layer);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (e.path.as_str(), e.kind, e.mode),
        ("jq-linux-amd64", 'f', 0o755)
    );
    assert_eq!((e.uid, e.gid), (0, 0));
    assert_eq!(e.data, b"\x7fELF pretend binary");
    let mtime = tar::Archive::new(&layer_tar(&layer)[..])
        .entries()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .header()
        .mtime()
        .unwrap();
    assert_eq!(mtime, 0, "fixed mtime");

    o.binary_name = Some("jq".to_string());
    let layer = build_layer(&asset, "jq-linux-amd64", &o, dir.path()).unwrap();
    assert_eq!(layer_entries(&layer)[0].path, "jq");

    o.binary_name = Some("../jq".to_string());
    let err = build_layer(&asset, "jq-linux-amd64", &o, dir.path()).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Data, "{err}");
}

#[test]
fn hostile_archives_are_refused_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, Spec<'_>, &str)] = &[
        ("parent", &[("../x", 'f', 0o644, "evil")], "../x"),
        (
            "nested-parent",
            &[("pkg/../../x", 'f', 0o644, "evil")],
            "pkg/../../x",
        ),
        ("absolute", &[("/etc/x", 'f', 0o644, "evil")], "/etc/x"),
        (
            "symlink-escape",
            &[("pkg/x", 'l', 0o777, "../../x")],
            "pkg/x",
        ),
        (
            "symlink-absolute",
            &[("pkg/x", 'l', 0o777, "/etc/passwd")],
            "pkg/x",
        ),
        (
            "write-through-symlink",
            &[("pkg/d", 'l', 0o777, "."), ("pkg/d/f", 'f', 0o644, "x")],
            "pkg/d/f",
        ),
        ("device", &[("pkg/null", 'c', 0o666, "")], "pkg/null"),
        ("fifo", &[("pkg/pipe", 'p', 0o666, "")], "pkg/pipe"),
        (
            "hardlink-outside",
            &[("pkg/h", 'h', 0o644, "../etc/passwd")],
            "pkg/h",
        ),
        (
            "hardlink-missing",
            &[("pkg/h", 'h', 0o644, "pkg/nothing")],
            "pkg/h",
        ),
    ];
    for (label, entries, bad) in cases {
        let asset = write_asset(dir.path(), "hostile.tar", &make_tar(entries));
        let err = build_layer(
            &asset,
            "hostile.tar",
            &opts(Compression::Gzip, 0),
            dir.path(),
        )
        .expect_err(label);
        match &err {
            PackageError::UnsafeEntry { asset, entry, .. } => {
                assert_eq!(asset, "hostile.tar", "{label}");
                assert_eq!(entry, bad, "{label}");
            }
            other => panic!("{label}: expected UnsafeEntry, got {other:?}"),
        }
        assert_eq!(err.exit_code(), ExitCode::ItemFailed);
        assert!(err.to_string().contains(bad), "{label}: {err}");
    }
}

#[test]
fn hard_links_inside_the_package_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let tar = make_tar(&[
        ("pkg/bin/a", 'f', 0o755, "same"),
        ("pkg/bin/b", 'h', 0o755, "pkg/bin/a"),
    ]);
    let asset = write_asset(dir.path(), "h.tar", &tar);
    let layer = build_layer(&asset, "h.tar", &opts(Compression::Gzip, 1), dir.path()).unwrap();
    let entries = layer_entries(&layer);
    assert_eq!(entries[1].kind, 'h');
    assert_eq!(
        entries[1].link.as_deref(),
        Some("bin/a"),
        "target is re-stripped"
    );
}

#[test]
fn broken_archives_are_item_failures_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let tar = make_tar(TREE);
    let gz = compress(&tar, "tar.gz");
    let xz = compress(&tar, "tar.xz");
    let zst = compress(&tar, "tar.zst");
    let zip = make_zip(TREE);
    let mut flipped_zip = zip.clone();
    // Corrupt a byte of the first member's data (after its local header).
    flipped_zip[40] ^= 0xff;
    // A stored (uncompressed) member whose data no longer matches its CRC.
    let stored_zip = {
        use zip::write::{SimpleFileOptions, ZipWriter};
        let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("pkg/data", o).unwrap();
        w.write_all(b"MARKER-payload-MARKER").unwrap();
        let mut bytes = w.finish().unwrap().into_inner();
        let at = bytes.windows(6).position(|w| w == b"MARKER").unwrap();
        bytes[at] = b'X';
        bytes
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("zip member failing its CRC", stored_zip),
        ("empty", vec![]),
        ("not an archive", b"#!/bin/sh\necho hi\n".to_vec()),
        ("truncated tar.gz", gz[..gz.len() / 2].to_vec()),
        ("truncated tar.xz", xz[..xz.len() - 8].to_vec()),
        ("truncated tar.zst", zst[..zst.len() / 2].to_vec()),
        ("truncated tar in its data", tar[..512 * 3 + 10].to_vec()),
        ("truncated zip", zip[..zip.len() / 2].to_vec()),
        ("corrupt zip member", flipped_zip),
        ("gzip of garbage", compress(b"garbage, not a tar", "tar.gz")),
    ];
    for (label, bytes) in cases {
        let asset = write_asset(dir.path(), "broken", &bytes);
        let err = build_layer(
            &asset,
            "broken-1.0.tgz",
            &opts(Compression::Gzip, 0),
            dir.path(),
        )
        .expect_err(label);
        assert_eq!(err.exit_code(), ExitCode::ItemFailed, "{label}: {err}");
        assert!(err.to_string().contains("broken-1.0.tgz"), "{label}: {err}");
    }
}

#[test]
fn unwritable_output_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let asset = write_asset(dir.path(), "a.tar", &make_tar(TREE));
    let missing = dir.path().join("no/such/dir");
    let err = build_layer(&asset, "a.tar", &opts(Compression::Gzip, 0), &missing).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Io, "{err}");
}

#[test]
fn same_input_gives_the_same_digest_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let asset = write_asset(dir.path(), "t.tar.xz", &compress(&make_tar(TREE), "tar.xz"));
    for compression in [Compression::Xz, Compression::Zstd, Compression::Gzip] {
        let mut digests = Vec::new();
        for threads in [1, 1, 3] {
            let out = tempfile::tempdir().unwrap();
            let mut o = opts(compression, 1);
            o.threads = Some(threads);
            let layer = build_layer(&asset, "t.tar.xz", &o, out.path()).unwrap();
            digests.push((layer.digest, layer.uncompressed_digest));
        }
        assert_eq!(digests[0], digests[1], "{compression:?} twice");
        assert_eq!(digests[0], digests[2], "{compression:?} other thread count");
    }
}

#[test]
fn layers_read_back_with_the_system_tools() {
    let dir = tempfile::tempdir().unwrap();
    let asset = write_asset(dir.path(), "t.zip", &make_zip(TREE));
    for (compression, tool) in [
        (Compression::Xz, "xz"),
        (Compression::Zstd, "zstd"),
        (Compression::Gzip, "gzip"),
    ] {
        let layer = build_layer(&asset, "t.zip", &opts(compression, 1), dir.path()).unwrap();
        let mut decompress = Command::new(tool)
            .args(["-dc"])
            .arg(&layer.path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        let listing = Command::new("tar")
            .args(["-tvf", "-"])
            .stdin(decompress.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(decompress.wait().unwrap().success(), "{tool} -dc failed");
        assert!(listing.status.success(), "{tool}: {listing:?}");
        let text = String::from_utf8(listing.stdout).unwrap();
        assert!(text.contains("bin/tool"), "{tool}: {text}");
        assert!(text.contains("-rwxr-xr-x"), "{tool}: exec bit kept\n{text}");
        assert!(
            text.contains("share/doc/link-to-readme -> ../../README.md"),
            "{tool}: {text}"
        );
    }
}

#[test]
fn invalid_levels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let asset = write_asset(dir.path(), "a.tar", &make_tar(TREE));
    for (compression, level) in [
        (Compression::Xz, 10),
        (Compression::Gzip, 10),
        (Compression::Zstd, 0),
    ] {
        let mut o = opts(compression, 0);
        o.level = Some(level);
        let err = build_layer(&asset, "a.tar", &o, dir.path()).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Data, "{compression:?} {level}");
    }
}
