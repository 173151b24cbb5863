//! Display-safe wrappers: a URL whose credentials are masked, a secret string that never prints its
//! value, and an error renderer that scrubs any URL embedded in an error message.
//!
//! Everything that may reach a log line, an error message or a report goes through these: URLs
//! through [`SafeUrl`], passwords and tokens in [`Secret`], error chains through [`error_chain`].

use std::fmt;
use std::sync::LazyLock;

/// What a masked value is replaced with.
const MASK: &str = "***";

/// Query (and fragment) parameter names whose values are credentials, compared case-insensitively.
///
/// Pre-signed URLs (S3, GCS, Azure SAS) carry their credential in the query string, and many
/// package hosts accept `?token=` / `?access_token=`.
const SENSITIVE_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth",
    "authorization",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "password",
    "passwd",
    "pass",
    "secret",
    "client_secret",
    "key",
    "api_key",
    "apikey",
    "private_token",
    "jwt",
    "code",
];

/// Substrings that make a parameter name sensitive even when it is not listed above
/// (`github_token`, `X-Amz-Security-Token`, `db_password`, …).
const SENSITIVE_FRAGMENTS: &[&str] = &["token", "secret", "password", "signature", "credential"];

/// Whether the value of the query parameter `name` must be masked.
pub fn is_sensitive_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE_PARAMS.contains(&lower.as_str())
        || SENSITIVE_FRAGMENTS.iter().any(|f| lower.contains(f))
}

/// A URL that displays without user info and with sensitive query parameters masked.
///
/// `Display` and `Debug` are both safe; [`SafeUrl::expose`] gives the real URL for the wire.
///
/// Boxed so errors that carry one stay small (clippy's `result_large_err`).
#[derive(Clone, PartialEq, Eq)]
pub struct SafeUrl(Box<url::Url>);

impl SafeUrl {
    /// Wrap a URL for display.
    pub fn new(url: &url::Url) -> SafeUrl {
        SafeUrl(Box::new(url.clone()))
    }

    /// The real URL (credentials included), for sending requests only.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// The redacted URL as a `String` (same as `to_string()`).
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl From<&url::Url> for SafeUrl {
    fn from(url: &url::Url) -> SafeUrl {
        SafeUrl::new(url)
    }
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafeUrl({self})")
    }
}

impl serde::Serialize for SafeUrl {
    /// Serialises the redacted form, so a report can never carry the credential.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Render `url` with user info and sensitive query/fragment values replaced by `***`.
fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    // Both parts are masked: a username alone is often the token (`https://<token>@github.com/`).
    if !u.username().is_empty() {
        let _ = u.set_username(MASK);
    }
    if u.password().is_some() {
        let _ = u.set_password(Some(MASK));
    }
    if let Some(query) = u.query() {
        let masked = redact_pairs(query);
        u.set_query(Some(&masked));
    }
    // OAuth implicit flows put `access_token=` in the fragment.
    if let Some(fragment) = u.fragment() {
        let masked = redact_pairs(fragment);
        u.set_fragment(Some(&masked));
    }
    u.to_string()
}

/// Mask the values of sensitive `name=value` pairs in an `&`-separated string, leaving everything
/// else byte for byte as it was (no re-encoding).
fn redact_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_sensitive_param(&percent_decode(name)) => {
                format!("{name}={MASK}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Decode `%XX` escapes and `+` of a query parameter name (lossy: only used for comparison).
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

/// A secret (password, token) that never shows its value in Debug or Display.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value, for putting on the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Anything that looks like an absolute URL inside free text (error messages from reqwest, hyper,
/// io errors that quote a URL).
static URL_IN_TEXT: LazyLock<regex::Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail at run time (pinned by a unit test).
    #[allow(clippy::expect_used)]
    regex::Regex::new(r#"[A-Za-z][A-Za-z0-9+.\-]*://[^\s<>"'()\[\]{}]+"#).expect("valid regex")
});

/// Redact every URL-looking substring of `text` as [`SafeUrl`] would display it.
///
/// A substring that does not parse as a URL but has user info (`scheme://user:pass@…`) gets the
/// user info masked anyway.
pub fn redact_text(text: &str) -> String {
    URL_IN_TEXT
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let found = &caps[0];
            // Trailing punctuation is part of the sentence, not the URL (`… for url (http://x/).`).
            let trimmed = found.trim_end_matches(['.', ',', ';', ':', '!', '?']);
            let tail = &found[trimmed.len()..];
            match url::Url::parse(trimmed) {
                Ok(u) => format!("{}{tail}", redact_url(&u)),
                Err(_) => format!("{}{tail}", mask_userinfo_raw(trimmed)),
            }
        })
        .into_owned()
}

/// Mask `user:pass@` in a string that did not parse as a URL.
fn mask_userinfo_raw(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{MASK}@{}", &rest[at + 1..]),
        None => s.to_string(),
    }
}

/// An error and its sources as one line, with any URL in it redacted.
///
/// reqwest errors embed the request URL (`error sending request for url (https://u:p@host/)`),
/// so every message in the chain is scrubbed with [`redact_text`]. A message equal to the end of
/// the previous one (wrappers that repeat their source) is not repeated.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let msg = e.to_string();
        if !out.ends_with(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = e.source();
    }
    redact_text(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str) -> String {
        SafeUrl::new(&url::Url::parse(s).unwrap()).to_string()
    }

    #[test]
    fn url_pattern_compiles() {
        assert!(URL_IN_TEXT.is_match("see https://example.org/"));
    }

    #[test]
    fn masks_user_info() {
        assert_eq!(
            shown("https://alice:hunter2@example.org/a"),
            "https://***:***@example.org/a"
        );
        assert_eq!(
            shown("https://ghp_token@github.com/x"),
            "https://***@github.com/x"
        );
    }

    #[test]
    fn masks_sensitive_query_values_case_insensitively() {
        let s = shown(
            "https://b.s3.amazonaws.com/f?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc\
             &x-amz-date=20240101&TOKEN=t1&Sig=s&version=1.2&github_token=g&api_key=k",
        );
        assert_eq!(
            s,
            "https://b.s3.amazonaws.com/f?X-Amz-Credential=***&X-Amz-Signature=***\
             &x-amz-date=20240101&TOKEN=***&Sig=***&version=1.2&github_token=***&api_key=***"
        );
    }

    #[test]
    fn masks_percent_encoded_parameter_names() {
        assert_eq!(
            shown("https://h/?%74oken=abc&a=b"),
            "https://h/?%74oken=***&a=b"
        );
    }

    #[test]
    fn masks_fragment_tokens() {
        assert_eq!(
            shown("https://h/cb#access_token=abc&state=1"),
            "https://h/cb#access_token=***&state=1"
        );
    }

    #[test]
    fn leaves_clean_urls_alone() {
        let u = "https://example.org:8443/releases/v1.2/x.tar.gz?arch=amd64";
        assert_eq!(shown(u), u);
    }

    #[test]
    fn debug_and_serialize_are_redacted() {
        let u = SafeUrl::new(&url::Url::parse("https://u:pw@h/?token=zz").unwrap());
        let dbg = format!("{u:?}");
        let json = serde_json::to_string(&u).unwrap();
        for out in [dbg, json] {
            assert!(!out.contains("pw") && !out.contains("zz"), "{out}");
        }
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redact_text_scrubs_urls_in_sentences() {
        let t = redact_text(
            "error sending request for url (http://bob:pw@127.0.0.1:9/x?sig=abc). \
             also see s3://k:v@bucket/obj, and ftp://a:b@[bad",
        );
        assert_eq!(
            t,
            "error sending request for url (http://***:***@127.0.0.1:9/x?sig=***). \
             also see s3://***:***@bucket/obj, and ftp://***@[bad"
        );
    }

    #[derive(Debug)]
    struct Wrapped(Box<dyn std::error::Error + 'static>, &'static str);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.1)
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.0.as_ref())
        }
    }

    #[test]
    fn error_chain_joins_sources_and_redacts() {
        let inner = std::io::Error::other("connection refused");
        let err = Wrapped(
            Box::new(inner),
            "error sending request for url (https://u:secret1@h/p?token=t0k)",
        );
        let s = error_chain(&err);
        assert_eq!(
            s,
            "error sending request for url (https://***:***@h/p?token=***): connection refused"
        );
    }

    #[tokio::test]
    async fn error_chain_of_a_real_reqwest_error_has_no_credentials() {
        // Port 9 on loopback (discard) is closed on test machines: a real connect error.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://user:pa55word@127.0.0.1:{port}/f?token=s3cr3t");
        let err = reqwest::get(&url).await.unwrap_err();
        let s = error_chain(&err);
        assert!(!s.contains("pa55word") && !s.contains("s3cr3t"), "{s}");
        assert!(s.contains("127.0.0.1"), "{s}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn safe_url_never_displays_the_password(
                user in "[a-z]{1,8}",
                tail in "[A-Z0-9!~*$,;=_.-]{6,20}",
                token_tail in "[A-Z0-9_.-]{6,20}",
                param in prop::sample::select(vec!["token", "Signature", "X-Amz-Credential", "PASSWORD", "sig", "access_token"]),
            ) {
                // The secrets start with "Zq", which no other part of these URLs contains.
                let password = format!("Zq{tail}");
                let token = format!("Zq{token_tail}");
                let mut u = url::Url::parse("https://registry.example.org/v2/x").unwrap();
                u.set_username(&user).unwrap();
                u.set_password(Some(&password)).unwrap();
                u.query_pairs_mut().append_pair("a", "b").append_pair(param, &token);
                let s = SafeUrl::new(&u).to_string();
                let text = redact_text(&format!("failed: {u} (retry)"));
                for out in [&s, &text] {
                    prop_assert!(!out.contains("Zq"), "{}", out);
                    prop_assert!(!out.contains(&tail), "{}", out);
                    prop_assert!(!out.contains(&token_tail), "{}", out);
                }
            }
        }
    }
}
