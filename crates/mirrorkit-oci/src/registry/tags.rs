//! Tag listing: `GET /v2/<repo>/tags/list`, following `Link: <…>; rel="next"`.
//!
//! Pagination is guarded against a registry that does not advance: distribution 2.8 as packaged by
//! Debian ignores `n`/`last` and returns every tag on every call, so a client that pages by `last`
//! (or trusts a repeating `Link`) never ends. [`TagPager`] stops when a page adds no new tag or the
//! next link was already followed.
//!
//! A listing is also bounded: a registry that answers every page with one new tag and a `Link` to
//! the next made sync run forever (1,660 requests a minute). More than the host's `max_tags`
//! tags (default 100,000) or [`MAX_TAG_PAGES`] pages fails the listing, naming the repository and
//! the limit: a partial list is never mirrored as if it were complete.

use std::collections::HashSet;

use reqwest::Method;
use reqwest::header::LINK;
use url::Url;

use super::auth::Scope;
use super::{Registry, Req, check_repository, has_error_code, read_limited};
use crate::error::OciError;
use mirrorkit_core::http::link::next_link;

/// Largest tags page we read (a repository with ~100k tags still fits).
const MAX_TAGS_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// The most pages one tag listing follows (at 100 tags a page, 100,000 tags).
pub const MAX_TAG_PAGES: usize = 1_000;

/// Accumulates pages of tags and decides whether to fetch the next one.
#[derive(Debug)]
pub struct TagPager {
    tags: Vec<String>,
    seen_tags: HashSet<String>,
    seen_links: HashSet<String>,
    pages: usize,
    max_tags: usize,
}

impl TagPager {
    /// A pager that has seen nothing and accepts at most `max_tags` distinct tags.
    pub fn new(max_tags: usize) -> TagPager {
        TagPager {
            tags: Vec::new(),
            seen_tags: HashSet::new(),
            seen_links: HashSet::new(),
            pages: 0,
            max_tags,
        }
    }

    /// Take one page (`tags`, and the `rel="next"` target if any); returns the next link to
    /// fetch, or `None` when listing is complete — no next link, a next link already followed, or
    /// a page that added no tag we had not seen. An error (in words) when the listing passes
    /// `max_tags` tags or [`MAX_TAG_PAGES`] pages.
    pub fn accept(
        &mut self,
        page: Vec<String>,
        next: Option<String>,
    ) -> Result<Option<String>, String> {
        self.pages += 1;
        let mut added = false;
        for tag in page {
            if self.seen_tags.insert(tag.clone()) {
                self.tags.push(tag);
                added = true;
            }
        }
        if self.tags.len() > self.max_tags {
            return Err(format!(
                "more than {} tags (the limit; raise it with registries: {{HOST: {{max_tags: N}}}})",
                self.max_tags
            ));
        }
        let Some(next) = next else {
            return Ok(None);
        };
        if !added || !self.seen_links.insert(next.clone()) {
            return Ok(None);
        }
        if self.pages >= MAX_TAG_PAGES {
            return Err(format!(
                "still more pages after {MAX_TAG_PAGES} (the limit): the registry's Link \
                 headers do not end"
            ));
        }
        Ok(Some(next))
    }

    /// Every distinct tag, in the order first seen.
    pub fn into_tags(self) -> Vec<String> {
        self.tags
    }
}

impl Registry {
    /// Every tag of `repo`; an empty list when the repository does not exist (404
    /// `NAME_UNKNOWN`).
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>, OciError> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        check_repository(repo)?;
        let mut url: Url = self.url(&format!("v2/{repo}/tags/list"))?;
        let mut pager = TagPager::new(self.http.max_tags(&url));
        loop {
            let resp = self
                .execute(&Scope::pull(repo), Req::new(Method::GET, url.clone()))
                .await?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                let status = resp.status();
                let body = read_limited(resp.into_inner(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                if has_error_code(&body, "NAME_UNKNOWN") || body.is_empty() {
                    return Ok(pager.into_tags());
                }
                return Err(OciError::Rejected {
                    target: self.host.clone(),
                    what: format!("tags of {repo}"),
                    reason: super::error_message(&body).unwrap_or_else(|| status.to_string()),
                });
            }
            if !resp.status().is_success() {
                return Err(self.status_error(resp, &format!("tags of {repo}")).await);
            }
            let link = resp
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = read_limited(resp.into_inner(), MAX_TAGS_PAGE_BYTES).await?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| OciError::malformed(format!("tags list of {repo}"), e))?;
            let next = pager
                .accept(page.tags.unwrap_or_default(), link)
                .map_err(|reason| {
                    OciError::malformed(format!("tags list of {}/{repo}", self.host), reason)
                })?;
            match next {
                Some(next) => {
                    url = url
                        .join(&next)
                        .map_err(|e| OciError::malformed("tags Link header", e))?;
                    // Never follow pagination off the registry (nor to another scheme or
                    // port), and never take the pages so far as the whole list either.
                    if url.origin() != self.base.origin() {
                        return Err(OciError::malformed(
                            format!("tags list of {}/{repo}", self.host),
                            format!(
                                "the Link header's next page is not on the registry's origin {}; not following it",
                                self.base.origin().ascii_serialization()
                            ),
                        ));
                    }
                }
                None => return Ok(pager.into_tags()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pager_follows_advancing_links() {
        let mut p = TagPager::new(100);
        let n1 = p.accept(tags(&["a", "b"]), Some("/v2/r/tags/list?last=b".into()));
        assert_eq!(n1.unwrap().as_deref(), Some("/v2/r/tags/list?last=b"));
        let n2 = p.accept(tags(&["c", "d"]), Some("/v2/r/tags/list?last=d".into()));
        assert!(n2.unwrap().is_some());
        assert_eq!(p.accept(tags(&["e"]), None), Ok(None));
        assert_eq!(p.into_tags(), tags(&["a", "b", "c", "d", "e"]));
    }

    #[test]
    fn pager_stops_when_a_page_repeats_every_tag() {
        // Debian's distribution 2.8: `last` is ignored, each page holds every tag, and the link
        // moves on anyway. The second page adds nothing, so listing ends.
        let mut p = TagPager::new(100);
        let all = tags(&["b", "c", "e", "a", "d"]);
        let mut fetched = 0;
        let mut next = Some("/v2/r/tags/list?n=2".to_string());
        while let Some(link) = next.take() {
            fetched += 1;
            assert!(fetched < 10, "pagination did not terminate");
            next = p
                .accept(all.clone(), Some(format!("{link}&last=x{fetched}")))
                .unwrap();
        }
        assert_eq!(fetched, 2);
        assert_eq!(p.into_tags(), all);
    }

    #[test]
    fn pager_stops_when_the_next_link_repeats() {
        let mut p = TagPager::new(100);
        let link = Some("/v2/r/tags/list?last=b".to_string());
        assert!(p.accept(tags(&["a", "b"]), link.clone()).unwrap().is_some());
        // New tags, but the same link again: following it would loop.
        assert_eq!(p.accept(tags(&["c"]), link), Ok(None));
        assert_eq!(p.into_tags(), tags(&["a", "b", "c"]));
    }

    #[test]
    fn pages_that_never_end_fail_at_the_page_or_tag_limit() {
        // Each page one new tag and a link to the next: the listing fails, never runs forever.
        let endless = |max_tags: usize| {
            let mut p = TagPager::new(max_tags);
            for n in 0.. {
                match p.accept(tags(&[&format!("t{n}")]), Some(format!("?last=t{n}"))) {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("ended by itself at page {n}"),
                    Err(e) => return (n + 1, e),
                }
            }
            unreachable!()
        };
        let (pages, e) = endless(100_000);
        assert_eq!(pages, MAX_TAG_PAGES);
        assert!(e.contains("1000"), "{e}");
        let (pages, e) = endless(50);
        assert_eq!(pages, 51);
        assert!(
            e.contains("more than 50 tags") && e.contains("max_tags"),
            "{e}"
        );
        // Exactly at the limit is fine.
        let mut p = TagPager::new(2);
        assert_eq!(p.accept(tags(&["a", "b"]), None), Ok(None));
    }
}
