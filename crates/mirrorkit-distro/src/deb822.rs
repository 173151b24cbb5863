//! Debian control-file paragraphs (RFC 822 style, as `Release` and `Packages` files are
//! written), read one at a time from a stream.
//!
//! Written here rather than taken from a crate: the deb822 crates parse a whole file into
//! memory (and keep it for lossless editing), while a `Packages` file of a real archive is
//! ~100 MB uncompressed; this reader holds one paragraph at a time.

use std::io::{BufRead, Read as _};

/// One paragraph: its fields in order (name as written, value with continuation lines joined
/// by `\n`, leading space of each continuation removed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of `name` (field names compare case-insensitively, as dpkg does).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the paragraph has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// The longest paragraph read (a `Packages` stanza is a few KiB; a `Release` lists every
/// index with its hashes, some MiB for a full archive).
const MAX_PARAGRAPH_BYTES: usize = 64 << 20;

/// Paragraphs of `input`, one per call; `Err` names the line that is not a field.
pub struct Paragraphs<R> {
    input: R,
    line_no: u64,
    line: String,
}

impl<R: BufRead> Paragraphs<R> {
    /// Read paragraphs from `input`.
    pub fn new(input: R) -> Paragraphs<R> {
        Paragraphs {
            input,
            line_no: 0,
            line: String::new(),
        }
    }

    /// The next paragraph, `None` at the end.
    pub fn next_paragraph(&mut self) -> Option<Result<Paragraph, String>> {
        let mut p = Paragraph::default();
        let mut size = 0usize;
        loop {
            self.line.clear();
            // At most what is left of the paragraph's budget (+1 to notice going past it), so
            // a line without an end cannot grow without bound.
            let budget = (MAX_PARAGRAPH_BYTES - size.min(MAX_PARAGRAPH_BYTES)) as u64 + 1;
            match (&mut self.input).take(budget).read_line(&mut self.line) {
                Ok(0) => return (!p.is_empty()).then_some(Ok(p)),
                Ok(n) => size += n,
                Err(e) => return Some(Err(format!("line {}: {e}", self.line_no + 1))),
            }
            self.line_no += 1;
            if size > MAX_PARAGRAPH_BYTES {
                return Some(Err(format!(
                    "line {}: a paragraph longer than {MAX_PARAGRAPH_BYTES} bytes",
                    self.line_no
                )));
            }
            let line = self.line.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                if p.is_empty() {
                    continue;
                }
                return Some(Ok(p));
            }
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = p.fields.last_mut() else {
                    return Some(Err(format!(
                        "line {}: a continuation line with no field before it",
                        self.line_no
                    )));
                };
                value.push('\n');
                value.push_str(&line[1..]);
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Some(Err(format!(
                    "line {}: {:?} is not a `Field: value` line",
                    self.line_no,
                    line.chars().take(80).collect::<String>()
                )));
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Some(Err(format!(
                    "line {}: {name:?} is not a field name",
                    self.line_no
                )));
            }
            p.fields.push((name.to_string(), value.trim().to_string()));
        }
    }
}

impl<R: BufRead> Iterator for Paragraphs<R> {
    type Item = Result<Paragraph, String>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_paragraph()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paragraphs_fields_and_continuations() {
        let text = "Package: hello\nVersion: 1.0\nDescription: greets\n the world\n .\n twice\n\n\n# comment\npackage: other\nsize: 3\n";
        let ps: Vec<Paragraph> = Paragraphs::new(text.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("hello"));
        assert_eq!(
            ps[0].get("Description"),
            Some("greets\nthe world\n.\ntwice")
        );
        assert_eq!(ps[1].get("Package"), Some("other"));
        assert_eq!(ps[1].get("Size"), Some("3"));
        assert_eq!(ps[1].get("Missing"), None);
    }

    #[test]
    fn a_line_that_is_not_a_field_is_named() {
        let e = Paragraphs::new("Package: a\nnot a field\n".as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = Paragraphs::new(" starts with a continuation\n".as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(e.contains("continuation"), "{e}");
    }

    proptest! {
        #[test]
        fn any_input_is_read_or_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            for p in Paragraphs::new(&bytes[..]) {
                if p.is_err() { break; }
            }
        }
    }
}
