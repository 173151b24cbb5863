//! An rpm mirror list, as dnf's `mirrorlist=` reads it: one base URL per line (`#` comments),
//! or a metalink document (`<url>…/repodata/repomd.xml</url>` entries, as Fedora's
//! `metalink?repo=…` answers). Only http(s) mirrors are kept, in the order given.

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::conditional;
use mirrorkit_core::http::etag_cache::EtagCache;
use mirrorkit_core::http::redact::SafeUrl;
use quick_xml::Reader;
use quick_xml::events::Event;
use url::Url;

use crate::fetch::{Context, Failure, fail};

/// Mirrors read from one list at most (a list is a handful; a runaway one is cut).
const MAX_MIRRORS: usize = 100;

/// Fetch the mirror list at `url` (conditionally) and read it.
pub(crate) async fn fetch(ctx: &Context<'_>, url: &Url) -> Result<Vec<Url>, Failure> {
    let what = SafeUrl::new(url).to_string();
    let cache = EtagCache::new(ctx.cache_dir, "rpm-mirrorlist");
    let body = conditional::get(ctx.http, &cache, url, "*/*")
        .await
        .map_err(|e| fail(&what, e.message, e.code))?;
    parse(&body).map_err(|e| fail(&what, format!("mirror list: {e}"), ExitCode::ItemFailed))
}

/// The base URLs (each ending in `/`) a mirror list names.
pub fn parse(body: &[u8]) -> Result<Vec<Url>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8 text".to_string())?;
    let candidates = if text.trim_start().starts_with('<') {
        metalink(body)?
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    let mut out: Vec<Url> = Vec::new();
    for c in candidates {
        let Ok(mut url) = Url::parse(&c) else {
            // Not a URL, so nothing to redact by structure: only its length is told.
            return Err(format!("an entry of {} characters is not a URL", c.len()));
        };
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            // rsync:// and ftp:// mirrors are listed too; they are not ours to read.
            continue;
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        if !out.contains(&url) {
            out.push(url);
        }
        if out.len() == MAX_MIRRORS {
            break;
        }
    }
    if out.is_empty() {
        return Err("it names no http(s) mirror".to_string());
    }
    Ok(out)
}

/// The base URLs of a metalink's `<url>` entries (each names `…/repodata/repomd.xml`).
fn metalink(body: &[u8]) -> Result<Vec<String>, String> {
    let mut reader = Reader::from_reader(body);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut in_url = false;
    let mut text = String::new();
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not well-formed XML: {e}"))?
        {
            Event::Eof => break,
            Event::Start(e) if e.local_name().as_ref() == "url" => {
                in_url = true;
                text.clear();
            }
            Event::Text(t) if in_url => text.push_str(&t.xml10_content()),
            Event::End(e) if e.local_name().as_ref() == "url" => {
                in_url = false;
                let url = text.trim();
                let base = url.strip_suffix("repodata/repomd.xml").ok_or_else(|| {
                    let shown = Url::parse(url)
                        .map(|u| SafeUrl::new(&u).to_string())
                        .unwrap_or_else(|_| format!("of {} characters", url.len()));
                    format!("metalink entry {shown} does not name repodata/repomd.xml")
                })?;
                out.push(base.to_string());
            }
            _ => {}
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
    fn plain_lists_keep_http_mirrors_in_order() {
        let list = b"# mirrors\nhttps://a.example/el9/os\n\nrsync://b.example/el9/\nhttp://c.example/el9/os/\nhttps://a.example/el9/os/\n";
        let got: Vec<String> = parse(list).unwrap().iter().map(|u| u.to_string()).collect();
        assert_eq!(
            got,
            ["https://a.example/el9/os/", "http://c.example/el9/os/"]
        );
        assert!(
            parse(b"# none\nrsync://x/\n")
                .unwrap_err()
                .contains("no http(s) mirror")
        );
        assert!(parse(b"not a url\n").unwrap_err().contains("not a URL"));
        // An entry is never echoed with its credentials.
        let e = parse(b"https//user:secret@m.example/el9\n").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        let e = metalink(b"<metalink><url>https://user:secret@m.example/el9/</url></metalink>")
            .unwrap_err();
        assert!(!e.contains("secret") && e.contains("m.example"), "{e}");
    }

    #[test]
    fn metalinks_give_the_directories_holding_repodata() {
        let doc = br#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/">
 <files><file name="repomd.xml"><resources maxconnections="1">
  <url protocol="https" type="https" location="DE" preference="100">https://m1.example/f/40/x86_64/os/repodata/repomd.xml</url>
  <url protocol="rsync" type="rsync" preference="90">rsync://m2.example/f/40/x86_64/os/repodata/repomd.xml</url>
  <url protocol="http" type="http" preference="80">http://m3.example/f/40/x86_64/os/repodata/repomd.xml</url>
 </resources></file></files></metalink>"#;
        let got: Vec<String> = parse(doc).unwrap().iter().map(|u| u.to_string()).collect();
        assert_eq!(
            got,
            [
                "https://m1.example/f/40/x86_64/os/",
                "http://m3.example/f/40/x86_64/os/"
            ]
        );
        let bad = String::from_utf8_lossy(doc).replace("repodata/repomd.xml</url>", "x</url>");
        assert!(parse(bad.as_bytes()).unwrap_err().contains("does not name"));
    }

    proptest! {
        #[test]
        fn any_list_is_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            if let Ok(urls) = parse(&bytes) {
                prop_assert!(urls.iter().all(|u| matches!(u.scheme(), "http" | "https")));
            }
        }
    }
}
