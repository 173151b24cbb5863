//! Checksum files as releases publish them (`SHA256SUMS`, `checksums.txt`, `*.sha256`).
//!
//! Accepted line forms:
//! - GNU coreutils (`sha256sum`, `sha512sum`): `<hex>  <name>` (text mode), `<hex> *<name>`
//!   (binary mode), and the lenient `<hex> <name>`. A line starting with `\` has a name with
//!   `\\` / `\n` escapes (what coreutils writes for names containing a backslash or newline).
//! - BSD / `shasum --tag`: `SHA256 (<name>) = <hex>` and `SHA512 (<name>) = <hex>`.
//!
//! The algorithm follows from the hex length (64 → sha256, 128 → sha512; upper-case hex is
//! accepted). Names are reduced to their base name (`./dist/tool.tar.gz` → `tool.tar.gz`), since
//! release assets are matched by file name. Blank lines and `#` comments are skipped. A name
//! listed twice with different digests is an error, as is any other line.

use std::collections::BTreeMap;

use mirrorkit_core::digest::Digest;

/// Parse a checksum file into base name → digest. The error names the (1-based) line.
pub fn parse_checksums(text: &str) -> Result<BTreeMap<String, Digest>, String> {
    let mut out: BTreeMap<String, (Digest, usize)> = BTreeMap::new();
    // `lines()` splits on `\n` and strips a trailing `\r`.
    for (i, line) in text.lines().enumerate() {
        let no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (name, digest) = parse_line(line).map_err(|e| format!("line {no}: {e}"))?;
        let base = base_name(&name);
        if base.is_empty() || base == "." || base == ".." {
            return Err(format!("line {no}: {name:?} is not a file name"));
        }
        match out.get(base) {
            Some((earlier, at)) if *earlier != digest => {
                return Err(format!(
                    "line {no}: {base} is listed with a different digest on line {at}"
                ));
            }
            Some(_) => {}
            None => {
                out.insert(base.to_string(), (digest, no));
            }
        }
    }
    Ok(out.into_iter().map(|(k, (d, _))| (k, d)).collect())
}

/// One non-blank, non-comment line → (name as written, digest).
fn parse_line(line: &str) -> Result<(String, Digest), String> {
    let line = line.trim_start();
    for (label, alg) in [("SHA256", "sha256"), ("SHA512", "sha512")] {
        if let Some(rest) = line.strip_prefix(label).and_then(|r| r.strip_prefix(" (")) {
            return parse_bsd(rest.trim_end(), alg);
        }
    }
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let hex_end = line
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (hex, rest) = line.split_at(hex_end);
    if hex.is_empty() {
        return Err(format!(
            "expected `<hex>  <name>` or `SHA256 (<name>) = <hex>`, found {:?}",
            shorten(line)
        ));
    }
    let digest = digest_of(hex, None)?;
    // One separator (space or tab), then an optional mode character: ' ' text, '*' binary.
    let Some(rest) = rest.strip_prefix([' ', '\t']) else {
        return Err(if rest.is_empty() {
            "a checksum without a file name".to_string()
        } else {
            format!("{:?} is not a hex digest", shorten(line))
        });
    };
    let name = rest.strip_prefix([' ', '*']).unwrap_or(rest);
    if name.is_empty() {
        return Err("a checksum without a file name".to_string());
    }
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_string()
    };
    Ok((name, digest))
}

/// `<name>) = <hex>` after `SHA256 (`.
fn parse_bsd(rest: &str, alg: &str) -> Result<(String, Digest), String> {
    let Some((name, hex)) = rest.rsplit_once(") =") else {
        return Err(format!(
            "expected `{} (<name>) = <hex>`",
            alg.to_ascii_uppercase()
        ));
    };
    let digest = digest_of(hex.trim(), Some(alg))?;
    if name.is_empty() {
        return Err("a checksum without a file name".to_string());
    }
    Ok((name.to_string(), digest))
}

/// A digest from hex whose length decides the algorithm (and must agree with `expected`).
fn digest_of(hex: &str, expected: Option<&str>) -> Result<Digest, String> {
    let alg = match hex.len() {
        64 => "sha256",
        128 => "sha512",
        n => {
            return Err(format!(
                "a hex digest of {n} characters (64 for sha256, 128 for sha512)"
            ));
        }
    };
    if let Some(want) = expected
        && want != alg
    {
        return Err(format!(
            "a {} digest needs {} hex characters, found {}",
            want,
            if want == "sha256" { 64 } else { 128 },
            hex.len()
        ));
    }
    format!("{alg}:{}", hex.to_ascii_lowercase())
        .parse::<Digest>()
        .map_err(|e| e.to_string())
}

/// The name after the last `/` (and without `./`).
fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Undo coreutils' escaping: `\\` → `\`, `\n` → newline, `\r` → carriage return.
fn unescape(name: &str) -> Result<String, String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            other => {
                return Err(format!(
                    "unknown escape \\{} in an escaped file name",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        }
    }
    Ok(out)
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn sha512_hex() -> String {
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e".to_string()
    }

    #[test]
    fn parses_gnu_and_bsd_forms() {
        let b = sha512_hex();
        let text = format!(
            "# checksums\n\n{A}  tool-linux-amd64.tar.gz\r\n{A} *./dist/tool.exe\n{} tool.zip\n\
             SHA512 (tool-darwin-arm64.tar.gz) = {b}\n\\{A}  back\\\\slash\n",
            A.to_uppercase()
        );
        let map = parse_checksums(&text).unwrap();
        let shown: Vec<(String, String)> = map
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("back\\slash".to_string(), format!("sha256:{A}")),
                (
                    "tool-darwin-arm64.tar.gz".to_string(),
                    format!("sha512:{b}")
                ),
                ("tool-linux-amd64.tar.gz".to_string(), format!("sha256:{A}")),
                ("tool.exe".to_string(), format!("sha256:{A}")),
                ("tool.zip".to_string(), format!("sha256:{A}")),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (format!("{A}  ok\nnot a checksum\n"), "line 2:"),
            (
                format!("{}  short\n", &A[..60]),
                "line 1: a hex digest of 60",
            ),
            (format!("{A}\n"), "without a file name"),
            (format!("{A}  \n"), "without a file name"),
            (format!("{A}x  name\n"), "not a hex digest"),
            (format!("SHA512 (x) = {A}\n"), "a sha512 digest needs 128"),
            (format!("SHA256 x = {A}\n"), "line 1:"),
            (format!("{A}  dir/\n"), "is not a file name"),
            (
                format!("{A}  a/x\n{}  b/x\n", sha512_hex()),
                "line 2: x is listed with a different digest on line 1",
            ),
        ];
        for (text, want) in cases {
            let err = parse_checksums(&text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        // The same digest twice is fine.
        assert_eq!(
            parse_checksums(&format!("{A}  a/x\n{A}  b/x\n"))
                .unwrap()
                .len(),
            1
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn rendered_sha256sum_parses_back(
                entries in prop::collection::btree_map(
                    "[A-Za-z0-9_+-][A-Za-z0-9 ._+-]{0,30}",
                    "[0-9a-f]{64}",
                    0..20,
                ),
                binary in any::<bool>(),
            ) {
                let text: String = entries
                    .iter()
                    .map(|(name, hex)| format!("{hex} {}{name}\n", if binary { '*' } else { ' ' }))
                    .collect();
                let parsed = parse_checksums(&text).unwrap();
                let back: BTreeMap<String, String> = parsed
                    .into_iter()
                    .map(|(k, v)| (k, v.hex().to_string()))
                    .collect();
                prop_assert_eq!(back, entries);
            }

            #[test]
            fn arbitrary_input_never_panics(text in any::<String>()) {
                let _ = parse_checksums(&text);
            }

            #[test]
            fn checksum_like_input_never_panics(
                text in "([0-9a-fA-F]{0,130}[ *\\\\\t]{0,3}[^\n]{0,20}\n|SHA(256|512) \\([^\n]{0,10}\\) ?=? ?[0-9a-f]{0,130}\n|\\\\[^\n]{0,30}\n){0,8}"
            ) {
                let _ = parse_checksums(&text);
            }
        }
    }
}
