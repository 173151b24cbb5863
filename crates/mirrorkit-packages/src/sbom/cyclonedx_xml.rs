//! CycloneDX XML of any schema version: elements are matched by local name, so the namespace
//! (`http://cyclonedx.org/schema/bom/1.x`) and its prefix do not matter. A `<purl>` inside a
//! `<component>` of `<components>` (at any depth) is a package; the one under
//! `<metadata><component>` is the subject.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::{Found, Sbom};

/// Deeper nesting than this is refused rather than followed.
const MAX_DEPTH: usize = 256;

pub(super) fn parse(text: &str) -> Result<Sbom, String> {
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    // The text of the innermost open element, gathered from text, entity and CDATA events, and
    // the line where it started.
    let mut value = String::new();
    let mut value_line = 0;
    let mut subject = None;
    let mut subject_name = None;
    let mut packages = Vec::new();
    let mut seen_root = false;
    let line_of = |pos: u64| {
        let end = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
        text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    };
    loop {
        let pos = reader.buffer_position();
        match reader.read_event() {
            Err(e) => return Err(format!("line {}: not well-formed XML: {e}", line_of(pos))),
            Ok(Event::Eof) => {
                if !path.is_empty() {
                    return Err(format!("ends before </{}>", path[0]));
                }
                if !seen_root {
                    return Err("no CycloneDX <bom> element".into());
                }
                break;
            }
            Ok(Event::Empty(e)) if path.is_empty() => {
                let name = e.local_name().as_ref().to_string();
                return Err(format!(
                    "the root element is <{name}>, not a CycloneDX <bom>"
                ));
            }
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_string();
                if path.is_empty() {
                    if name != "bom" {
                        return Err(format!(
                            "the root element is <{name}>, not a CycloneDX <bom>"
                        ));
                    }
                    seen_root = true;
                }
                path.push(name);
                if path.len() > MAX_DEPTH {
                    return Err(format!(
                        "line {}: nested deeper than {MAX_DEPTH}",
                        line_of(pos)
                    ));
                }
                value.clear();
                value_line = 0;
            }
            Ok(Event::Text(t)) => {
                if value_line == 0 && !t.xml10_content().trim().is_empty() {
                    value_line = line_of(pos);
                }
                value.push_str(&t.xml10_content());
            }
            Ok(Event::CData(t)) => {
                value_line = value_line.max(line_of(pos));
                value.push_str(&t.xml10_content());
            }
            Ok(Event::GeneralRef(r)) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match r.xml10_content().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => {
                            return Err(format!("line {}: unknown entity &{other};", line_of(pos)));
                        }
                    },
                    Err(e) => return Err(format!("line {}: {e}", line_of(pos))),
                };
                value.push(resolved);
            }
            Ok(Event::End(_)) => {
                let v = value.trim();
                let n = path.len();
                let in_component = n >= 2 && path[n - 2] == "component";
                // bom/metadata/component/<purl|name>
                let is_subject = n == 4 && path[1] == "metadata";
                if in_component && !v.is_empty() {
                    match path[n - 1].as_str() {
                        "purl" if is_subject => subject = Some(v.to_string()),
                        "name" if is_subject => subject_name = Some(v.to_string()),
                        "purl"
                            if path.iter().any(|p| p == "components") && path[1] != "metadata" =>
                        {
                            packages.push(Found {
                                purl: v.to_string(),
                                at: format!("line {}", value_line.max(1)),
                            });
                        }
                        _ => {}
                    }
                }
                value.clear();
                value_line = 0;
                path.pop();
            }
            Ok(_) => {}
        }
    }
    Ok(Sbom {
        format: "cyclonedx-xml",
        subject: subject.or(subject_name),
        packages,
    })
}
