//! The keyring a repository's signatures are checked against, and the checks (rpgp, pure
//! Rust): a clearsigned `InRelease`, or `Release` with its detached `Release.gpg`.
//!
//! rpgp's own `verify` is the raw cryptographic check only: it looks at primary keys (not the
//! signing subkeys Debian's archive keys sign with), and checks no key flag, revocation,
//! expiry or digest strength. So the signer is found here, and apt's rules apply on top:
//! - a signature counts only when made by a key of the keyring: a primary key that can sign
//!   (not revoked, not expired), or a subkey with a valid binding signature carrying the
//!   "sign" flag and a valid back-signature, not revoked, not expired;
//! - data signatures only (binary or text), not expired, and never MD5, SHA-1 or RIPEMD-160;
//! - at least one good signature and no bad one (a signature by an unknown key beside a good
//!   one is ignored, as apt does).

use std::fmt;
use std::io::Cursor;
use std::path::Path;

use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag, Timestamp};

/// A clearsigned document whose signature verified.
pub struct Verified {
    /// The signed text as apt reads it: dash-unescaped, trailing blanks of each line removed,
    /// `\n` line ends, no line end after the last line.
    pub text: String,
    /// The fingerprint (upper-case hex) of the key that made the signature (the subkey when a
    /// subkey signed).
    pub signer: String,
}

/// The public keys signatures are checked against.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    /// When keys were named by fingerprint: the (sub)keys whose signatures count — a primary
    /// key named brings its subkeys, a subkey named only itself.
    allowed: Option<Vec<String>>,
}

/// Where the system keeps trusted keys (Debian's archive keyrings, apt's trusted keys, rpm's
/// vendor keys); `MIRRORKIT_SYSTEM_KEYRINGS` (directories separated by `:`) replaces the list.
const SYSTEM_KEYRINGS: [&str; 3] = [
    "/usr/share/keyrings",
    "/etc/apt/trusted.gpg.d",
    "/etc/pki/rpm-gpg",
];

impl Keyring {
    /// Read a keyring: binary (`gpg --export`) or armored (`gpg --armor --export`), any
    /// number of keys.
    pub fn load(path: &Path) -> Result<Keyring, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let keys = load_keys(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Keyring {
            keys,
            allowed: None,
        })
    }

    /// The keys `keys` names: its file's, narrowed to its fingerprints when it gives some; or
    /// without a file, the keys of the system's keyrings with those fingerprints. A fingerprint
    /// no key has is an error naming it.
    pub fn for_keys(keys: &mirrorkit_core::source::distro::Keys) -> Result<Keyring, String> {
        let (all, from) = match &keys.file {
            Some(f) => (Keyring::load(f)?.keys, f.display().to_string()),
            None => {
                let dirs: Vec<std::path::PathBuf> = match std::env::var("MIRRORKIT_SYSTEM_KEYRINGS")
                {
                    Ok(v) => std::env::split_paths(&v).collect(),
                    Err(_) => SYSTEM_KEYRINGS
                        .iter()
                        .map(std::path::PathBuf::from)
                        .collect(),
                };
                let mut all = Vec::new();
                for dir in &dirs {
                    let Ok(rd) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    let mut files: Vec<std::path::PathBuf> = rd
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_file())
                        .collect();
                    files.sort();
                    for f in files {
                        // Other files (READMEs, unreadable keyrings) are not keys.
                        if let Ok(k) = Keyring::load(&f) {
                            all.extend(k.keys);
                        }
                    }
                }
                let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                (all, format!("the system keyrings ({})", shown.join(", ")))
            }
        };
        if keys.fingerprints.is_empty() {
            return Ok(Keyring {
                keys: all,
                allowed: None,
            });
        }
        let fingerprints_of = |k: &SignedPublicKey| -> Vec<String> {
            std::iter::once(hex_upper(k.primary_key.fingerprint()))
                .chain(
                    k.public_subkeys
                        .iter()
                        .map(|s| hex_upper(s.key.fingerprint())),
                )
                .collect()
        };
        for fp in &keys.fingerprints {
            if !all.iter().any(|k| fingerprints_of(k).contains(fp)) {
                return Err(format!("key {fp}: no key in {from} has this fingerprint"));
            }
        }
        let kept: Vec<SignedPublicKey> = all
            .into_iter()
            .filter(|k| {
                fingerprints_of(k)
                    .iter()
                    .any(|f| keys.fingerprints.contains(f))
            })
            .collect();
        let mut allowed = Vec::new();
        for k in &kept {
            let all_of = fingerprints_of(k);
            if keys.fingerprints.contains(&all_of[0]) {
                allowed.extend(all_of);
            } else {
                allowed.extend(all_of.into_iter().filter(|f| keys.fingerprints.contains(f)));
            }
        }
        Ok(Keyring {
            keys: kept,
            allowed: Some(allowed),
        })
    }

    /// The first of `signers` (good signatures) whose key counts; an error naming them when
    /// none does (a signature by a sibling subkey of a subkey named by fingerprint).
    fn counted(&self, signers: Vec<String>) -> Result<String, String> {
        match &self.allowed {
            None => Ok(signers.into_iter().next().unwrap_or_default()),
            Some(allowed) => signers
                .iter()
                .find(|s| allowed.contains(s))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "signed by {}, not by a key named in `fingerprints`",
                        signers.join(", ")
                    )
                }),
        }
    }

    /// What identifies the keys that count, for telling a changed configuration: the SHA-256
    /// of the keys as they are (a key revoked or extended since changes it) and the allowed
    /// (sub)keys.
    pub fn identity(&self) -> String {
        use pgp::ser::Serialize as _;
        let mut h = mirrorkit_core::digest::Hasher::new(mirrorkit_core::digest::Algorithm::Sha256);
        for k in &self.keys {
            if let Ok(bytes) = k.to_bytes() {
                h.update(&bytes);
            }
        }
        for a in self.allowed.iter().flatten() {
            h.update(a.as_bytes());
        }
        h.finish().hex().to_string()
    }

    /// Check a clearsigned document (`InRelease`); its signed text and signer.
    pub fn verify_clearsigned(&self, bytes: &[u8]) -> Result<Verified, String> {
        let v = verify_inrelease(bytes, &self.keys).map_err(|e| e.to_string())?;
        let signer = self.counted(
            v.signers
                .iter()
                .map(|s| s.signer_fingerprint.clone())
                .collect(),
        )?;
        Ok(Verified {
            text: v.text,
            signer,
        })
    }

    /// Check a detached signature (`Release.gpg`, armored or binary) over `data`; the signer.
    pub fn verify_detached(&self, data: &[u8], signature: &[u8]) -> Result<String, String> {
        let good = verify_detached(signature, data, &self.keys).map_err(|e| e.to_string())?;
        self.counted(good.into_iter().map(|s| s.signer_fingerprint).collect())
    }
}

/// One good signature.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GoodSignature {
    /// The key that made the signature (the subkey, if a subkey signed), upper-case hex.
    signer_fingerprint: String,
}

/// A verified clearsigned message.
struct VerifiedCleartext {
    text: String,
    signers: Vec<GoodSignature>,
}

/// Why a signature check failed.
#[derive(Debug)]
enum VerifyError {
    /// The keyring, the message or the signature could not be read.
    Parse(String),
    /// No signature at all.
    NoSignature,
    /// No signature was made by a key of the keyring (the issuers named).
    NoPublicKey { issuers: Vec<String> },
    /// A signature names a key of the keyring and does not verify: the data was changed.
    BadSignature { fingerprint: String, reason: String },
    /// It verifies but cannot be trusted (expired or revoked key, weak digest, …).
    Unusable { fingerprint: String, reason: String },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(m) => write!(f, "cannot be read: {m}"),
            Self::NoSignature => write!(f, "no signature found"),
            Self::NoPublicKey { issuers } => write!(
                f,
                "signed by a key the keyring does not hold ({})",
                issuers.join(", ")
            ),
            Self::BadSignature {
                fingerprint,
                reason,
            } => {
                // rpgp's reason for a changed text is a multi-line assertion; its first line says
                // enough.
                let first = reason.lines().next().unwrap_or_default();
                write!(
                    f,
                    "BAD signature by {fingerprint}: the signed data was changed ({first})"
                )
            }
            Self::Unusable {
                fingerprint,
                reason,
            } => write!(f, "unusable signature by {fingerprint}: {reason}"),
        }
    }
}

fn parse_err(e: impl fmt::Display) -> VerifyError {
    VerifyError::Parse(e.to_string())
}

fn hex_upper(b: impl AsRef<[u8]>) -> String {
    b.as_ref().iter().map(|x| format!("{x:02X}")).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Loading keys
// ---------------------------------------------------------------------------------------------

/// Binary keyring as written by `gpg --export KEYID > key.gpg` (any number of concatenated
/// transferable public keys).
fn load_keys_binary(data: &[u8]) -> Result<Vec<SignedPublicKey>, VerifyError> {
    let keys = SignedPublicKey::from_bytes_many(Cursor::new(data))
        .map_err(parse_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(parse_err)?;
    if keys.is_empty() {
        return Err(VerifyError::Parse(
            "no public key found in binary keyring".into(),
        ));
    }
    Ok(keys)
}

/// ASCII-armored keys as written by `gpg --armor --export` (one armor block holding several
/// keys), or several such armor blocks concatenated (`cat a.asc b.asc`).
fn load_keys_armored(text: &str) -> Result<Vec<SignedPublicKey>, VerifyError> {
    let mut keys = Vec::new();
    // rpgp's from_string_many() only reads the FIRST armor block, so split blocks ourselves.
    // Text outside the blocks (comments) is ignored, as apt does for .asc keyrings.
    let (blocks, _outside) = split_armor(text, "PUBLIC KEY BLOCK")?;
    for block in blocks {
        let (iter, _headers) = SignedPublicKey::from_string_many(block).map_err(parse_err)?;
        for key in iter {
            keys.push(key.map_err(parse_err)?);
        }
    }
    if keys.is_empty() {
        return Err(VerifyError::Parse(
            "no public key found in armored data".into(),
        ));
    }
    Ok(keys)
}

/// Split concatenated ASCII-armor blocks of one kind ("PUBLIC KEY BLOCK", "SIGNATURE").
/// Also reports whether non-whitespace text was found outside the blocks.
fn split_armor<'a>(text: &'a str, kind: &str) -> Result<(Vec<&'a str>, bool), VerifyError> {
    let begin = format!("-----BEGIN PGP {kind}-----");
    let end = format!("-----END PGP {kind}-----");
    let (mut blocks, mut outside, mut rest) = (Vec::new(), false, text);
    while let Some(start) = rest.find(&begin) {
        outside |= !rest[..start].trim().is_empty();
        let block = &rest[start..];
        let stop = block
            .find(&end)
            .ok_or_else(|| VerifyError::Parse(format!("unterminated PGP {kind} armor block")))?
            + end.len();
        blocks.push(&block[..stop]);
        rest = &block[stop..];
    }
    outside |= !rest.trim().is_empty();
    Ok((blocks, outside))
}

/// Either format, sniffed like gpg/apt do (binary OpenPGP packets have the high bit set).
fn load_keys(data: &[u8]) -> Result<Vec<SignedPublicKey>, VerifyError> {
    match data.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b) if b & 0x80 != 0 => load_keys_binary(data),
        Some(_) => load_keys_armored(std::str::from_utf8(data).map_err(parse_err)?),
        None => Err(VerifyError::Parse("empty keyring".into())),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Clear-signed message (InRelease)
// ---------------------------------------------------------------------------------------------

fn verify_inrelease(
    inrelease: &[u8],
    keys: &[SignedPublicKey],
) -> Result<VerifiedCleartext, VerifyError> {
    let input = std::str::from_utf8(inrelease).map_err(parse_err)?;
    // Rejects leading data before "-----BEGIN PGP SIGNED MESSAGE-----", armor headers other than
    // "Hash:", "NotDashEscaped", and non-whitespace trailing data after the signature block.
    let (msg, _headers) = CleartextSignedMessage::from_string(input).map_err(parse_err)?;

    // Like apt: in the dash-escaped text, a line starting with '-' must be "- "-escaped.
    for line in msg.text().split('\n') {
        if line.starts_with('-') && !line.starts_with("- ") {
            return Err(VerifyError::Parse(
                "clearsigned text contains an unescaped line starting with a dash".into(),
            ));
        }
    }

    // The exact bytes that were hashed: dash-unescaped, trailing whitespace trimmed, CRLF line
    // endings, no line ending after the last line.
    let signed = msg.signed_text();
    let signers = verify_signatures(msg.signatures(), keys, signed.as_bytes())?;
    Ok(VerifiedCleartext {
        text: signed.replace("\r\n", "\n"),
        signers,
    })
}

// ---------------------------------------------------------------------------------------------
// 3. Detached signature (Release.gpg, armored or binary) over Release
// ---------------------------------------------------------------------------------------------

fn verify_detached(
    signature: &[u8],
    data: &[u8],
    keys: &[SignedPublicKey],
) -> Result<Vec<GoodSignature>, VerifyError> {
    let first = signature
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .ok_or_else(|| VerifyError::Parse("empty signature file".into()))?;
    let mut sigs: Vec<Signature> = Vec::new();
    if first & 0x80 != 0 {
        // binary (`gpg --detach-sign`): any number of signature packets
        for d in DetachedSignature::from_bytes_many(Cursor::new(signature)).map_err(parse_err)? {
            sigs.push(d.map_err(parse_err)?.signature);
        }
    } else {
        // armored: one block may hold several signature packets, and (like apt) we accept
        // several concatenated blocks, but nothing else besides whitespace.
        let text = std::str::from_utf8(signature).map_err(parse_err)?;
        let (blocks, outside) = split_armor(text, "SIGNATURE")?;
        if outside {
            return Err(VerifyError::Parse(
                "detached signature file contains data outside of signature blocks".into(),
            ));
        }
        for block in blocks {
            let (iter, _headers) = DetachedSignature::from_string_many(block).map_err(parse_err)?;
            for d in iter {
                sigs.push(d.map_err(parse_err)?.signature);
            }
        }
    }
    verify_signatures(&sigs, keys, data)
}

// ---------------------------------------------------------------------------------------------
// 4. Core: match issuer, verify, apply key/signature policy, classify errors
// ---------------------------------------------------------------------------------------------

enum Outcome {
    Good(GoodSignature),
    Bad(String, String),
    Unusable(String, String),
    NoKey(Vec<String>),
}

fn verify_signatures(
    sigs: &[Signature],
    keys: &[SignedPublicKey],
    data: &[u8],
) -> Result<Vec<GoodSignature>, VerifyError> {
    if sigs.is_empty() {
        return Err(VerifyError::NoSignature);
    }
    let now = Timestamp::now().as_secs();
    let mut good = Vec::new();
    let mut bad = None;
    let mut unusable = None;
    let mut issuers = Vec::new();

    for sig in sigs {
        match verify_one(sig, keys, data, now) {
            Outcome::Good(g) => good.push(g),
            Outcome::Bad(fp, r) => {
                bad.get_or_insert(VerifyError::BadSignature {
                    fingerprint: fp,
                    reason: r,
                });
            }
            Outcome::Unusable(fp, r) => {
                unusable.get_or_insert(VerifyError::Unusable {
                    fingerprint: fp,
                    reason: r,
                });
            }
            Outcome::NoKey(ids) => issuers.extend(ids),
        }
    }

    // apt: fatal if any signature is BAD, or if there is no good one.
    if let Some(e) = bad {
        return Err(e);
    }
    if !good.is_empty() {
        return Ok(good);
    }
    if let Some(e) = unusable {
        return Err(e);
    }
    issuers.dedup();
    Err(VerifyError::NoPublicKey { issuers })
}

fn issuer_strings(sig: &Signature) -> Vec<String> {
    let mut v: Vec<String> = sig.issuer_fingerprint().iter().map(hex_upper).collect();
    v.extend(sig.issuer_key_id().iter().map(hex_upper));
    v
}

/// Does the signature name `k` (by issuer fingerprint or 8-byte key ID) as its issuer?
/// A signature without any issuer subpacket matches everything (then we just try all keys).
fn names_key(sig: &Signature, k: &impl KeyDetails) -> bool {
    let fps = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    if fps.is_empty() && ids.is_empty() {
        return true;
    }
    fps.iter().any(|f| **f == k.fingerprint()) || ids.iter().any(|i| **i == k.legacy_key_id())
}

fn verify_one(sig: &Signature, keys: &[SignedPublicKey], data: &[u8], now: u32) -> Outcome {
    let has_issuer = !sig.issuer_fingerprint().is_empty() || !sig.issuer_key_id().is_empty();
    let mut first_failure: Option<Outcome> = None;

    for cert in keys {
        let primary_fp = hex_upper(cert.primary_key.fingerprint());

        // candidates: the primary key and every subkey named by the signature
        let mut cands: Vec<(String, Option<&SignedPublicSubKey>)> = Vec::new();
        if names_key(sig, &cert.primary_key) {
            cands.push((primary_fp.clone(), None));
        }
        for sub in &cert.public_subkeys {
            if names_key(sig, &sub.key) {
                cands.push((hex_upper(sub.key.fingerprint()), Some(sub)));
            }
        }

        for (fp, sub) in cands {
            // cryptographic check (Text signatures get CRLF-normalized data inside rpgp)
            let crypto = match sub {
                None => sig.verify(&cert.primary_key, data),
                Some(s) => sig.verify(&s.key, data),
            };
            if let Err(e) = crypto {
                if has_issuer {
                    first_failure.get_or_insert(Outcome::Bad(fp, e.to_string()));
                }
                continue;
            }
            // policy checks
            let policy = check_data_signature(sig, now).and_then(|()| match sub {
                None => primary_can_sign(cert, now),
                Some(s) => subkey_can_sign(cert, s, now),
            });
            match policy {
                Ok(()) => {
                    return Outcome::Good(GoodSignature {
                        signer_fingerprint: fp,
                    });
                }
                Err(reason) => {
                    // an "unusable" result wins over a "bad" one from a key-ID collision
                    if !matches!(first_failure, Some(Outcome::Unusable(..))) {
                        first_failure = Some(Outcome::Unusable(fp, reason));
                    }
                }
            }
        }
    }

    first_failure.unwrap_or_else(|| {
        let ids = issuer_strings(sig);
        Outcome::NoKey(if ids.is_empty() {
            vec!["<no issuer subpacket>".into()]
        } else {
            ids
        })
    })
}

fn check_data_signature(sig: &Signature, now: u32) -> Result<(), String> {
    match sig.typ() {
        Some(SignatureType::Binary | SignatureType::Text) => {}
        t => return Err(format!("not a data signature (type {t:?})")),
    }
    match sig.hash_alg() {
        Some(HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160) | None => {
            return Err(format!("untrusted digest algorithm {:?}", sig.hash_alg()));
        }
        Some(_) => {}
    }
    if let (Some(created), Some(exp)) = (sig.created(), sig.signature_expiration_time())
        && exp.as_secs() != 0
        && u64::from(created.as_secs()) + u64::from(exp.as_secs()) <= u64::from(now)
    {
        return Err("signature expired".into());
    }
    Ok(())
}

fn created_secs(sig: &Signature) -> u32 {
    sig.created().map(|t| t.as_secs()).unwrap_or(0)
}

fn has_key_flags_subpacket(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

fn is_expired(key_created: Timestamp, binding: &Signature, now: u32) -> bool {
    match binding.key_expiration_time() {
        Some(d) if d.as_secs() != 0 => {
            u64::from(key_created.as_secs()) + u64::from(d.as_secs()) <= u64::from(now)
        }
        _ => false,
    }
}

/// Newest valid self-signature of the primary key (direct-key or user-ID self-certification).
fn primary_self_sig(cert: &SignedPublicKey) -> Option<&Signature> {
    let pk = &cert.primary_key;
    let direct = cert
        .details
        .direct_signatures
        .iter()
        .filter(move |s| names_key(s, pk) && s.verify_key(pk).is_ok());
    let uids = cert.details.users.iter().flat_map(move |u| {
        u.signatures.iter().filter(move |s| {
            names_key(s, pk) && s.verify_certification(pk, Tag::UserId, &u.id).is_ok()
        })
    });
    direct.chain(uids).max_by_key(|s| created_secs(s))
}

/// Primary key is alive: not revoked, has a valid self-signature, not expired.
fn primary_alive(cert: &SignedPublicKey, now: u32) -> Result<&Signature, String> {
    let pk = &cert.primary_key;
    if cert
        .details
        .revocation_signatures
        .iter()
        .any(|s| s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(pk).is_ok())
    {
        return Err("primary key is revoked".into());
    }
    let ss = primary_self_sig(cert).ok_or("primary key has no valid self-signature")?;
    if is_expired(pk.created_at(), ss, now) {
        return Err("primary key is expired".into());
    }
    Ok(ss)
}

fn primary_can_sign(cert: &SignedPublicKey, now: u32) -> Result<(), String> {
    let ss = primary_alive(cert, now)?;
    // no key-flags subpacket at all (very old keys): gpg allows signing
    if has_key_flags_subpacket(ss) && !ss.key_flags().sign() {
        return Err("primary key is not signing-capable (key flags)".into());
    }
    Ok(())
}

fn subkey_can_sign(
    cert: &SignedPublicKey,
    sub: &SignedPublicSubKey,
    now: u32,
) -> Result<(), String> {
    primary_alive(cert, now)?;
    let pk = &cert.primary_key;
    if sub.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(pk, &sub.key).is_ok()
    }) {
        return Err("subkey is revoked".into());
    }
    let binding = sub
        .signatures
        .iter()
        .filter(|s| {
            s.typ() == Some(SignatureType::SubkeyBinding)
                && s.verify_subkey_binding(pk, &sub.key).is_ok()
        })
        .max_by_key(|s| created_secs(s))
        .ok_or("subkey has no valid binding signature")?;
    if !binding.key_flags().sign() {
        return Err("subkey is not signing-capable (key flags)".into());
    }
    match binding.embedded_signature() {
        Some(back) if back.verify_primary_key_binding(&sub.key, pk).is_ok() => {}
        _ => {
            return Err("signing subkey lacks a valid primary-key-binding (back) signature".into());
        }
    }
    if is_expired(sub.key.created_at(), binding, now) {
        return Err("subkey is expired".into());
    }
    Ok(())
}

/// The signed text of a clearsigned document and the issuers its signatures name, without
/// checking them (a catalog describes a tree on disk; `sync` is what verifies).
pub fn read_clearsigned(bytes: &[u8]) -> Result<(String, Vec<String>), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let (msg, _) = CleartextSignedMessage::from_string(text).map_err(|e| e.to_string())?;
    let issuers = msg.signatures().iter().flat_map(issuer_strings).collect();
    Ok((msg.signed_text().replace("\r\n", "\n"), issuers))
}

/// The issuers a detached signature (armored or binary) names, without checking it.
pub fn detached_issuers(signature: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let binary = signature
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| b & 0x80 != 0);
    if binary {
        if let Ok(sigs) = DetachedSignature::from_bytes_many(Cursor::new(signature)) {
            for d in sigs.flatten() {
                out.extend(issuer_strings(&d.signature));
            }
        }
    } else if let Ok(text) = std::str::from_utf8(signature)
        && let Ok((blocks, _)) = split_armor(text, "SIGNATURE")
    {
        for block in blocks {
            if let Ok((sigs, _)) = DetachedSignature::from_string_many(block) {
                for d in sigs.flatten() {
                    out.extend(issuer_strings(&d.signature));
                }
            }
        }
    }
    out
}
