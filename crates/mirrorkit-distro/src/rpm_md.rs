//! rpm-md metadata: `repodata/repomd.xml` (every data file with its checksum and size) and the
//! packages of `primary.xml` (name, EVR, arch, checksum, size, location), the latter streamed
//! from the (decompressed) file.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::release::is_safe_path;

/// A checksum as rpm-md gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    /// `sha256` or `sha512` (others are refused: nothing weaker is trusted).
    pub kind: String,
    /// Lowercase hex.
    pub hex: String,
}

impl Checksum {
    fn new(kind: &str, hex: &str, what: &str) -> Result<Checksum, String> {
        let kind = kind.to_ascii_lowercase();
        let len = match kind.as_str() {
            "sha256" => 64,
            "sha512" => 128,
            other => {
                return Err(format!(
                    "{what}: a {other} checksum cannot be trusted (sha256 or sha512 are)"
                ));
            }
        };
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{what}: {hex:?} is not a {kind} checksum"));
        }
        Ok(Checksum { kind, hex })
    }
}

/// One `<data>` of `repomd.xml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFile {
    /// `primary`, `filelists`, `other`, `primary_db`, `group`, `updateinfo`, `modules`, …
    pub kind: String,
    /// Its path under the repository (`repodata/…-primary.xml.gz`).
    pub href: String,
    /// Its checksum.
    pub checksum: Checksum,
    /// Its size, when given.
    pub size: Option<u64>,
}

/// One package of `primary.xml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpmPackage {
    /// `name`.
    pub name: String,
    /// `arch`.
    pub arch: String,
    /// `epoch:version-release` (epoch left out when 0).
    pub evr: String,
    /// Its checksum.
    pub checksum: Option<Checksum>,
    /// `size package=`.
    pub size: u64,
    /// Its path under the repository.
    pub href: String,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        if a.key.local_name().as_ref() == name {
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

fn local(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_string()
}

/// The `<revision>` of a `repomd.xml` when it is a number (createrepo writes the time it ran),
/// to tell an older repository from a newer one.
pub fn revision(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = text.find("<revision>")? + "<revision>".len();
    let end = start + text[start..].find("</revision>")?;
    text[start..end].trim().parse().ok()
}

/// The data files `repomd.xml` lists.
pub fn repomd(bytes: &[u8]) -> Result<Vec<DataFile>, String> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    // The `<data>` being read: (type, location, (checksum type, value), size).
    type Partial = (
        String,
        Option<String>,
        Option<(String, String)>,
        Option<u64>,
    );
    let mut current: Option<Partial> = None;
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut checksum_kind = String::new();
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) if path.is_empty() && local(&e) != "repomd" => {
                return Err(format!("the root element is <{}>, not <repomd>", local(&e)));
            }
            Event::Start(e) => {
                let name = local(&e);
                seen_root = true;
                if name == "data" && path.len() == 1 {
                    let kind = attr(&e, "type")?.unwrap_or_default();
                    current = Some((kind, None, None, None));
                }
                if name == "checksum" {
                    checksum_kind = attr(&e, "type")?.unwrap_or_default();
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                if local(&e) == "location"
                    && let Some(c) = current.as_mut()
                {
                    c.1 = attr(&e, "href")?;
                }
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                if let Some(c) = current.as_mut() {
                    match name.as_str() {
                        "checksum" if path.last().is_some_and(|p| p == "data") => {
                            c.2 = Some((checksum_kind.clone(), text.trim().to_string()));
                        }
                        "size" if path.last().is_some_and(|p| p == "data") => {
                            c.3 = Some(text.trim().parse().map_err(|_| {
                                format!("<data type={:?}>: size {:?} is not a number", c.0, text)
                            })?);
                        }
                        _ => {}
                    }
                }
                if name == "data"
                    && let Some((kind, href, checksum, size)) = current.take()
                {
                    let what = format!("<data type={kind:?}>");
                    let href = href.ok_or_else(|| format!("{what}: no <location href>"))?;
                    if !is_safe_path(&href) {
                        return Err(format!(
                            "{what}: {href:?} is not a path inside the repository"
                        ));
                    }
                    let (k, h) = checksum.ok_or_else(|| format!("{what}: no <checksum>"))?;
                    out.push(DataFile {
                        checksum: Checksum::new(&k, &h, &what)?,
                        kind,
                        href,
                        size,
                    });
                }
                text.clear();
            }
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err("no <repomd> element".to_string());
    }
    if !out.iter().any(|d| d.kind == "primary") {
        return Err("no primary data: its packages cannot be known".to_string());
    }
    Ok(out)
}

/// The packages of a `primary.xml`, streamed.
pub fn primary(input: impl BufRead) -> Result<Vec<RpmPackage>, String> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut pkg: Option<RpmPackage> = None;
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut checksum_kind = String::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("primary: not well-formed XML: {e}"))?;
        let (e, empty) = match event {
            Event::Eof => break,
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            Event::Text(t) => {
                text.push_str(&t.xml10_content());
                (None, false)
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                if let Some(p) = pkg.as_mut() {
                    match name.as_str() {
                        "name" if path.len() == 2 => p.name = text.trim().to_string(),
                        "arch" if path.len() == 2 => p.arch = text.trim().to_string(),
                        "checksum" if path.len() == 2 => {
                            let what = format!("package {}", p.name);
                            p.checksum = Some(Checksum::new(&checksum_kind, &text, &what)?);
                        }
                        _ => {}
                    }
                }
                if name == "package"
                    && let Some(p) = pkg.take()
                {
                    let what = format!("package {:?}", p.name);
                    if p.name.is_empty() || p.href.is_empty() || p.checksum.is_none() {
                        return Err(format!("{what}: name, location and checksum are needed"));
                    }
                    if !is_safe_path(&p.href) {
                        return Err(format!(
                            "{what}: {:?} is not a path inside the repository",
                            p.href
                        ));
                    }
                    out.push(p);
                }
                text.clear();
                (None, false)
            }
            _ => (None, false),
        };
        if let Some(e) = e {
            let name = local(&e);
            if name == "package" && path.len() == 1 {
                pkg = Some(RpmPackage::default());
            }
            if let Some(p) = pkg.as_mut() {
                match name.as_str() {
                    "version" => {
                        let epoch = attr(&e, "epoch")?.filter(|e| e != "0");
                        let ver = attr(&e, "ver")?.unwrap_or_default();
                        let rel = attr(&e, "rel")?.unwrap_or_default();
                        p.evr = match epoch {
                            Some(e) => format!("{e}:{ver}-{rel}"),
                            None => format!("{ver}-{rel}"),
                        };
                    }
                    "checksum" => checksum_kind = attr(&e, "type")?.unwrap_or_default(),
                    "size" => {
                        p.size = attr(&e, "package")?
                            .unwrap_or_default()
                            .parse()
                            .unwrap_or(0);
                    }
                    "location" => {
                        if attr(&e, "base")?.is_some() {
                            return Err(format!(
                                "package {}: a location with xml:base (files elsewhere) is not \
                                 mirrored",
                                p.name
                            ));
                        }
                        p.href = attr(&e, "href")?.unwrap_or_default();
                    }
                    _ => {}
                }
            }
            if !empty {
                path.push(name);
                text.clear();
            }
        }
        buf.clear();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_revision_is_read_when_it_is_a_number() {
        assert_eq!(revision(REPOMD.as_bytes()), Some(1));
        assert_eq!(
            revision(b"<repomd><revision> 1733300000 </revision></repomd>"),
            Some(1_733_300_000)
        );
        assert_eq!(revision(b"<repomd><revision>abc</revision></repomd>"), None);
        assert_eq!(revision(b"<repomd></repomd>"), None);
    }

    const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
  <data type="primary">
    <checksum type="sha256">2660478694c9f09103cfb1569ea2396ced22ac433d171e233c354d0718cd5d9b</checksum>
    <open-checksum type="sha256">edfaf7c4c7904547ed62867c8b9017a5888829eff5aaacf903d3f3cb872ebc3f</open-checksum>
    <location href="repodata/2660-primary.xml.gz"/>
    <size>545</size>
    <open-size>1044</open-size>
  </data>
  <data type="primary_zck">
    <checksum type="sha256">faace90cebe8e25628157feebe688bbd1ca7bdbfc376c620af10e3170a908b23</checksum>
    <location href="repodata/faac-primary.xml.zck"/>
    <size>900</size>
  </data>
</repomd>"#;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>hello</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1.0" rel="1"/>
  <checksum type="sha256" pkgid="YES">c73d1da10cc419a33296253cbc3b1b80c242ab0b1340ec37b235633f5fe29e13</checksum>
  <size package="6059" installed="3" archive="268"/>
  <location href="Packages/hello-1.0-1.noarch.rpm"/>
  <format><rpm:provides><rpm:entry name="hello" flags="EQ" epoch="0" ver="1.0" rel="1"/></rpm:provides></format>
</package>
</metadata>"#;

    #[test]
    fn repomd_lists_every_data_file_with_its_checksum() {
        let d = repomd(REPOMD.as_bytes()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].kind, "primary");
        assert_eq!(d[0].size, Some(545));
        assert_eq!(d[0].href, "repodata/2660-primary.xml.gz");
        assert_eq!(d[1].kind, "primary_zck");
    }

    #[test]
    fn primary_gives_packages() {
        let p = primary(PRIMARY.as_bytes()).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "hello");
        assert_eq!(p[0].evr, "1.0-1");
        assert_eq!(p[0].size, 6059);
        assert_eq!(p[0].href, "Packages/hello-1.0-1.noarch.rpm");
        assert_eq!(p[0].checksum.as_ref().unwrap().kind, "sha256");
    }

    #[test]
    fn weak_checksums_escapes_and_foreign_bases_are_refused() {
        let sha1 = REPOMD.replacen(
            "type=\"sha256\">2660478694c9f09103cfb1569ea2396ced22ac433d171e233c354d0718cd5d9b",
            "type=\"sha1\">2660478694c9f09103cfb1569ea2396ced22ac43",
            1,
        );
        assert!(repomd(sha1.as_bytes()).unwrap_err().contains("sha1"));
        let escape = REPOMD.replace("repodata/2660-primary.xml.gz", "../../etc/passwd");
        assert!(
            repomd(escape.as_bytes())
                .unwrap_err()
                .contains("not a path")
        );
        assert!(repomd(b"<other/>").is_err());
        let based = PRIMARY.replace(
            "<location href",
            "<location xml:base=\"http://elsewhere/\" href",
        );
        assert!(primary(based.as_bytes()).unwrap_err().contains("xml:base"));
        let up = PRIMARY.replace("Packages/hello", "../hello");
        assert!(primary(up.as_bytes()).unwrap_err().contains("not a path"));
    }

    proptest! {
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = repomd(&bytes);
            let _ = primary(&bytes[..]);
        }
    }
}
