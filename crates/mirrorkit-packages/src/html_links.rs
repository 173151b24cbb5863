//! The links of a "simple" HTML page (PEP 503): every `<a …>text</a>` with its attributes,
//! entities decoded. Hand-written because the format is a narrow, flat subset (anchors in a body,
//! attributes quoted or not) and an HTML5 parser would be a large dependency for it; fuzzed with
//! the PyPI index reader.

/// One anchor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Link {
    /// Attributes, names lowercased, values decoded; `data-yanked` with no value is `""`.
    pub(crate) attributes: Vec<(String, String)>,
    /// The text between the tags, decoded and trimmed.
    pub(crate) text: String,
}

impl Link {
    /// The value of attribute `name`.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every anchor of `html`.
pub(crate) fn links(html: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<a").map(|i| at + i) {
        let after = start + 2;
        // `<a` followed by whitespace or `>`: not `<abbr>`.
        if !lower[after..].starts_with(|c: char| c.is_ascii_whitespace() || c == '>') {
            at = after;
            continue;
        }
        let Some((attributes, tag_end)) = attributes(html, after) else {
            break;
        };
        let text_end = lower[tag_end..]
            .find("</a")
            .map_or(html.len(), |i| tag_end + i);
        out.push(Link {
            attributes,
            text: decode(html[tag_end..text_end].trim()),
        });
        at = text_end;
    }
    out
}

/// The attributes of a tag whose name ends at `from`, and the index just past its `>`.
fn attributes(html: &str, from: usize) -> Option<(Vec<(String, String)>, usize)> {
    let bytes = html.as_bytes();
    let mut i = from;
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        if bytes[i] == b'>' {
            return Some((attrs, i + 1));
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = html.get(name_start..i)?.to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let v_start = i + 1;
                let v_end = bytes[v_start..]
                    .iter()
                    .position(|b| *b == quote)
                    .map(|p| v_start + p)?;
                value = decode(html.get(v_start..v_end)?);
                i = v_end + 1;
            } else {
                let v_start = i;
                while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = decode(html.get(v_start..i)?);
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

/// Decode the character references a simple page uses (`&amp;`, `&lt;`, `&gt;`, `&quot;`,
/// `&#39;`, `&#x27;`, any numeric one); anything else is kept as written.
pub(crate) fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escape text for an HTML attribute value or element content.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_anchors_of_a_simple_page() {
        let page = r#"<!DOCTYPE html><html><body><h1>Links</h1>
<a href="../../packages/a-1.0-py3-none-any.whl#sha256=ab" data-requires-python="&gt;=3.8" data-yanked>a-1.0-py3-none-any.whl</a><br>
<A HREF=b-1.0.tar.gz>b-1.0.tar.gz</A>
<abbr>x</abbr><a href='c&amp;d'>c &amp; d</a></body></html>"#;
        let l = links(page);
        assert_eq!(l.len(), 3);
        assert_eq!(
            l[0].attr("href"),
            Some("../../packages/a-1.0-py3-none-any.whl#sha256=ab")
        );
        assert_eq!(l[0].attr("data-requires-python"), Some(">=3.8"));
        assert_eq!(l[0].attr("data-yanked"), Some(""));
        assert_eq!(l[1].attr("href"), Some("b-1.0.tar.gz"));
        assert_eq!(
            (l[2].attr("href"), l[2].text.as_str()),
            (Some("c&d"), "c & d")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = links(&s);
            let _ = links(&format!("<a href=\"{s}\">{s}</a>"));
            let _ = decode(&s);
        }
    }
}
