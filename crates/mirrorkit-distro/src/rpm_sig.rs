//! An rpm package's own OpenPGP signature: the header signature `rpmsign` writes
//! (`RSAHEADER`, tag 268, for RSA keys; `DSAHEADER`, tag 267, for DSA, ECDSA and EdDSA keys)
//! and the header it signs, read from the start of the file (lead, signature header, main
//! header); and the payload after it, checked against the digest the signed header gives
//! (`PAYLOADDIGEST`, rpm ≥ 4.14), so the signature covers the whole package as rpm checks it.
//!
//! Written here: no maintained crate reads rpm headers without pulling in the whole rpm
//! format (the `rpm` crate parses and builds packages, with its own OpenPGP stack); the part
//! needed is the three fixed-layout structures below.

use std::io::Read;
use std::path::Path;

use mirrorkit_core::digest::{Algorithm, Hasher};

/// The lead: 96 bytes, starting with this magic.
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// A header structure starts with this magic and version 1.
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// Header signature tags.
const RSAHEADER: u32 = 268;
const DSAHEADER: u32 = 267;
/// Main header tags: the payload's digest (hex strings) and its algorithm (PGPHASHALGO).
const PAYLOADDIGEST: u32 = 5092;
const PAYLOADDIGESTALGO: u32 = 5093;
/// Bounds on what a header may claim: rpm's own are 0xffff entries and 256 MiB of data; a real
/// header is at most a few MiB, and eight packages are checked at once, so 32 MiB.
const MAX_ENTRIES: u32 = 0xffff;
const MAX_DATA: u32 = 32 << 20;

/// A package's header signature and the header bytes it covers.
pub struct HeaderSignature {
    /// The OpenPGP signature packet.
    pub signature: Vec<u8>,
    /// The main header, intro to end of its data.
    pub header: Vec<u8>,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// An index entry of a header: (tag, offset into the data, count).
type Entry = (u32, u32, u32);

/// One header structure: its bytes (intro, entries, data) and its entries.
fn read_header(input: &mut impl Read, what: &str) -> Result<(Vec<u8>, Vec<Entry>), String> {
    let mut intro = [0u8; 16];
    input
        .read_exact(&mut intro)
        .map_err(|e| format!("{what}: {e}"))?;
    if intro[..4] != HEADER_MAGIC {
        return Err(format!("{what}: not an rpm header"));
    }
    let (count, size) = (be32(&intro[8..12]), be32(&intro[12..16]));
    if count > MAX_ENTRIES || size > MAX_DATA {
        return Err(format!("{what}: {count} entries, {size} bytes: too large"));
    }
    let mut rest = vec![0u8; count as usize * 16 + size as usize];
    input
        .read_exact(&mut rest)
        .map_err(|e| format!("{what}: {e}"))?;
    let entries = rest[..count as usize * 16]
        .chunks_exact(16)
        .map(|e| (be32(&e[0..4]), be32(&e[8..12]), be32(&e[12..16])))
        .collect();
    let mut bytes = intro.to_vec();
    bytes.extend_from_slice(&rest);
    Ok((bytes, entries))
}

/// The payload digest a main header gives, if any: (algorithm, hex).
fn payload_digest(header: &[u8], entries: &[Entry]) -> Option<Result<(Algorithm, String), String>> {
    let data = header.get(16 + entries.len() * 16..)?;
    let (_, offset, _) = entries.iter().find(|(tag, _, _)| *tag == PAYLOADDIGEST)?;
    let hex: Vec<u8> = data
        .get(*offset as usize..)?
        .iter()
        .take_while(|b| **b != 0)
        .copied()
        .collect();
    let algo = entries
        .iter()
        .find(|(tag, _, _)| *tag == PAYLOADDIGESTALGO)
        .and_then(|(_, offset, _)| data.get(*offset as usize..*offset as usize + 4))
        .map(be32)
        // rpm's default when the tag is absent.
        .unwrap_or(8);
    Some(match algo {
        8 => Ok((
            Algorithm::Sha256,
            String::from_utf8_lossy(&hex).into_owned(),
        )),
        10 => Ok((
            Algorithm::Sha512,
            String::from_utf8_lossy(&hex).into_owned(),
        )),
        other => Err(format!(
            "the header gives the payload digest with hash algorithm {other} (only SHA-256 and \
             SHA-512 are checked)"
        )),
    })
}

/// The header signature of the package at `path`, once its payload matched the digest the
/// header gives (a package without one, from rpm < 4.14, is read without that check).
pub fn read(path: &Path) -> Result<HeaderSignature, String> {
    let mut f = std::io::BufReader::new(
        std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    let mut lead = [0u8; 96];
    f.read_exact(&mut lead).map_err(|e| format!("lead: {e}"))?;
    if lead[..4] != LEAD_MAGIC {
        return Err("not an rpm package".to_string());
    }
    let (sig_header, entries) = read_header(&mut f, "signature header")?;
    let data = &sig_header[16 + entries.len() * 16..];
    let (_, offset, count) = entries
        .iter()
        .find(|(tag, _, _)| *tag == RSAHEADER || *tag == DSAHEADER)
        .ok_or("the package carries no header signature (unsigned)")?;
    let signature = data
        .get(*offset as usize..(*offset as usize).saturating_add(*count as usize))
        .ok_or("the header signature lies outside its header")?
        .to_vec();
    // The signature header is padded to a multiple of 8 bytes.
    let pad = (8 - (sig_header.len() - 16) % 8) % 8;
    let mut skip = vec![0u8; pad];
    f.read_exact(&mut skip)
        .map_err(|e| format!("signature header padding: {e}"))?;
    let (header, entries) = read_header(&mut f, "header")?;
    if let Some(expected) = payload_digest(&header, &entries) {
        let (algorithm, hex) = expected?;
        let mut hasher = Hasher::new(algorithm);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(|e| format!("payload: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let got = hasher.finish();
        if !got.hex().eq_ignore_ascii_case(hex.trim()) {
            return Err(format!(
                "the payload does not match the digest its signed header gives (expected {}:{}, \
                 got {got}): the files were changed after the package was signed",
                algorithm.name(),
                hex.trim()
            ));
        }
    }
    Ok(HeaderSignature { signature, header })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_file_is_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("x.rpm");
            let mut b = bytes.clone();
            if b.len() > 120 {
                b[..4].copy_from_slice(&LEAD_MAGIC);
                b[96..100].copy_from_slice(&HEADER_MAGIC);
            }
            std::fs::write(&p, &b).unwrap();
            let _ = read(&p);
        }
    }
}
