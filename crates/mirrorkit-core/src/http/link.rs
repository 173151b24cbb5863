//! The `Link` header (RFC 8288) that paginated APIs answer with: GitHub's release list, a
//! registry's tag list and referrers, and the package registries that page their listings.

/// The links of an RFC 8288 `Link` header, in order: `(target, relation types)`, the relation
/// types lower-cased (`rel="next last"` gives two).
pub fn parse_link_header(value: &str) -> Vec<(String, Vec<String>)> {
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        if chars[i] != '<' {
            // Not a link-value: skip to the next top-level comma.
            let mut quoted = false;
            while i < chars.len() && (quoted || chars[i] != ',') {
                if chars[i] == '"' {
                    quoted = !quoted;
                }
                i += 1;
            }
            continue;
        }
        let Some(close) = chars[i + 1..].iter().position(|&c| c == '>') else {
            break;
        };
        let target: String = chars[i + 1..i + 1 + close].iter().collect();
        i += close + 2;
        let mut rel: Option<String> = None;
        loop {
            skip_ws(&mut i);
            if i >= chars.len() || chars[i] != ';' {
                break;
            }
            i += 1;
            skip_ws(&mut i);
            let start = i;
            while i < chars.len()
                && !matches!(chars[i], '=' | ';' | ',')
                && !chars[i].is_whitespace()
            {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            skip_ws(&mut i);
            let mut val = String::new();
            if i < chars.len() && chars[i] == '=' {
                i += 1;
                skip_ws(&mut i);
                if i < chars.len() && chars[i] == '"' {
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        if chars[i] == '\\' && i + 1 < chars.len() {
                            i += 1;
                        }
                        val.push(chars[i]);
                        i += 1;
                    }
                    i += 1; // the closing quote
                } else {
                    while i < chars.len()
                        && !matches!(chars[i], ';' | ',')
                        && !chars[i].is_whitespace()
                    {
                        val.push(chars[i]);
                        i += 1;
                    }
                }
            }
            // The first `rel` wins (RFC 8288 §3.3).
            if name.eq_ignore_ascii_case("rel") && rel.is_none() {
                rel = Some(val);
            }
        }
        let rels = rel
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        out.push((target.trim().to_string(), rels));
    }
    out
}

/// The `rel="next"` target of a `Link` header, if any.
pub fn next_link(value: &str) -> Option<String> {
    parse_link_header(value)
        .into_iter()
        .find(|(_, rels)| rels.iter().any(|r| r == "next"))
        .map(|(target, _)| target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_githubs_link_header() {
        let h = "<https://api.github.com/repositories/1/releases?per_page=2&page=1>; rel=\"prev\", \
                 <https://api.github.com/repositories/1/releases?per_page=2&page=3>; rel=\"next\", \
                 <https://api.github.com/repositories/1/releases?per_page=2&page=5>; rel=\"last\", \
                 <https://api.github.com/repositories/1/releases?per_page=2&page=1>; rel=\"first\"";
        let links = parse_link_header(h);
        assert_eq!(links.len(), 4);
        assert_eq!(links[3].1, vec!["first"]);
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/releases?per_page=2&page=3")
        );
        assert_eq!(next_link(h.split(", ").next().unwrap()), None);
    }

    #[test]
    fn link_header_edge_cases() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            ("garbage", None),
            ("<a>; rel=next", Some("a")),
            ("<a>;rel=\"last next\"", Some("a")),
            ("<a>; REL=\"NEXT\"", Some("a")),
            ("<a,b>; rel=\"next\"", Some("a,b")),
            (
                "<a>; title=\"x, y; rel=next\", <b>; rel=\"next\"",
                Some("b"),
            ),
            ("<a>; rel=\"prev\"; rel=\"next\"", None),
            ("junk, <b>; rel=next", Some("b")),
            ("<unterminated; rel=next", None),
            ("<a>; rel=\"next", Some("a")),
            ("<a>; rel", None),
        ];
        for (h, want) in cases {
            assert_eq!(next_link(h).as_deref(), *want, "{h:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn link_parser_never_panics(h in "[<>;=\",a-z ]{0,40}|\\PC{0,40}") {
            let _ = parse_link_header(&h);
        }
    }

    #[test]
    fn a_registrys_tag_pagination_link() {
        assert_eq!(
            next_link(r#"</v2/r/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://x/prev>; rel="prev", <https://x/next>; rel=next"#).as_deref(),
            Some("https://x/next")
        );
    }
}
