//! Sizes written by people: `512MiB`, `64GiB`, `2TB`, `1048576`.

/// Parse a size: a whole number of bytes, or a number (decimals allowed) followed by a unit — `B`,
/// `KB`/`MB`/`GB`/`TB` (powers of 1000), `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), case-insensitive,
/// an optional space between. The error says what is accepted.
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("{text:?} is not a size (e.g. 1048576, 512MiB, 64GiB, 2TB)");
    let n: f64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1000,
        "mb" | "m" => 1000_u64.pow(2),
        "gb" | "g" => 1000_u64.pow(3),
        "tb" | "t" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = n * factor as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes_people_write() {
        for (text, bytes) in [
            ("1048576", 1_048_576),
            ("512MiB", 512 << 20),
            ("64 GiB", 64 << 30),
            ("2TB", 2_000_000_000_000),
            ("1.5kib", 1536),
            ("10b", 10),
            ("3g", 3_000_000_000),
        ] {
            assert_eq!(parse(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "GiB",
            "-1GiB",
            "1.2.3MB",
            "12 parsecs",
            "1e30TB",
            "99999999999999999999TiB",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
