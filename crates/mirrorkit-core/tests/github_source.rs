//! The `github_release` source against the local GitHub fake: pagination, drafts, prereleases,
//! excluded tags, digests, the token, ETag caching, rate limits and broken answers.

use std::time::{Duration, Instant};

use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::redact::Secret;
use mirrorkit_core::http::retry::RetryPolicy;
use mirrorkit_core::http::{HttpClient, HttpConfig};
use mirrorkit_core::source::github::{GithubSource, discover_with_token};
use mirrorkit_core::source::{Release, SourceError};
use mirrorkit_core::store::Store;
use mirrorkit_testkit::github::{AssetSpec, DigestMode, GithubFake, LinkFault, ReleaseSpec};

const TOKEN: &str = "ghp_S3cretT0kenValue";

/// Tiny backoff, but `Retry-After` up to 5 s is honoured as the server says.
fn client() -> HttpClient {
    HttpClient::new(HttpConfig {
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
        },
        ..HttpConfig::default()
    })
    .unwrap()
}

/// The fake's API (plain HTTP on loopback, marked insecure as a spec's `registries:` would).
fn source(fake: &GithubFake) -> GithubSource {
    let api = url::Url::parse(&fake.api_url()).unwrap();
    let host = format!("{}:{}", api.host_str().unwrap(), api.port().unwrap());
    GithubSource {
        api_url: Some(api),
        max_rate_limit_wait: Duration::from_secs(10),
        insecure_hosts: vec![host],
        ..GithubSource::new("acme", "tool")
    }
}

/// Five releases `v1.1.0` … `v1.5.0`, one asset each, two per page.
fn five_releases() -> GithubFake {
    let fake = GithubFake::start();
    for i in 1..=5 {
        fake.add_release(
            ReleaseSpec::new("acme", "tool", &format!("v1.{i}.0")).asset(
                &format!("tool-{i}-linux-amd64.tar.gz"),
                format!("bytes {i}"),
            ),
        );
    }
    fake.set_page_size(Some(2));
    fake
}

async fn list(fake: &GithubFake, token: Option<&str>) -> Result<Vec<Release>, SourceError> {
    discover_with_token(&source(fake), &client(), None, token.map(Secret::new)).await
}

fn versions(releases: &[Release]) -> Vec<&str> {
    releases.iter().map(|r| r.version.as_str()).collect()
}

#[tokio::test]
async fn follows_link_headers_over_three_pages() {
    let fake = five_releases();
    let releases = list(&fake, None).await.unwrap();
    assert_eq!(
        versions(&releases),
        ["1.5.0", "1.4.0", "1.3.0", "1.2.0", "1.1.0"]
    );
    let api = fake.api_requests();
    assert_eq!(api.len(), 3);
    assert_eq!(api[0].target(), "/repos/acme/tool/releases?per_page=100");
    // Pages 2 and 3 come from the Link header (GitHub's /repositories/{id}/… form).
    assert!(api[1].path.starts_with("/repositories/"), "{:?}", api[1]);
    assert!(
        api[2].target().ends_with("per_page=100&page=3"),
        "{:?}",
        api[2]
    );
    assert!(api.iter().all(|r| r.status == 200 && !r.authorization));
}

#[tokio::test]
async fn drafts_prereleases_odd_tags_and_digests() {
    let fake = GithubFake::start();
    let (a, b) = (b"linux bytes".to_vec(), b"darwin bytes".to_vec());
    fake.add_release(
        ReleaseSpec::new("acme", "tool", "v1.0.0")
            .asset("tool-linux.tar.gz", a.clone())
            .asset_spec(AssetSpec::new("tool-darwin.tar.gz", b).with_digest(DigestMode::None))
            .asset_spec(
                AssetSpec::new("tool-windows.zip", b"w".to_vec())
                    .with_digest(DigestMode::Raw("md5:0123".into())),
            ),
    );
    fake.add_release(ReleaseSpec::new("acme", "tool", "nightly").asset("n", b"n".to_vec()));
    fake.add_release(
        ReleaseSpec::new("acme", "tool", "v2.0.0-rc.1")
            .prerelease()
            .asset("x", b"x".to_vec()),
    );
    fake.add_release(ReleaseSpec::new("acme", "tool", "v3.0.0").draft());

    let releases = list(&fake, None).await.unwrap();
    assert_eq!(versions(&releases), ["2.0.0-rc.1", "nightly", "1.0.0"]);
    let (rc, nightly, stable) = (&releases[0], &releases[1], &releases[2]);
    assert!(rc.prerelease && rc.excluded.is_none());
    assert!(!stable.prerelease);
    let reason = nightly.excluded.as_deref().unwrap();
    assert!(
        reason.contains("tag \"nightly\" does not match tag_pattern"),
        "{reason}"
    );
    assert!(nightly.assets.is_empty());

    let names: Vec<&str> = stable.assets.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tool-linux.tar.gz",
            "tool-darwin.tar.gz",
            "tool-windows.zip"
        ]
    );
    assert_eq!(stable.assets[0].checksum, Some(Digest::sha256_of(&a)));
    assert_eq!(stable.assets[1].checksum, None);
    assert_eq!(
        stable.assets[2].checksum, None,
        "an unusable digest is dropped"
    );
    assert_eq!(
        stable.assets[0].url.as_str(),
        fake.download_url("acme", "tool", "v1.0.0", "tool-linux.tar.gz")
    );

    // The asset URL and digest work end to end with the store.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let blob = store
        .fetch(
            &client(),
            &stable.assets[0].url,
            stable.assets[0].checksum.as_ref(),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), a);
    assert_eq!(fake.asset_downloads(), 1);
}

#[tokio::test]
async fn a_wrong_digest_fails_verification() {
    let fake = GithubFake::start();
    fake.add_release(ReleaseSpec::new("acme", "tool", "v1.0.0").asset_spec(
        AssetSpec::new("t.tar.gz", b"real bytes".to_vec()).with_digest(DigestMode::Wrong),
    ));
    let releases = list(&fake, None).await.unwrap();
    let asset = &releases[0].assets[0];
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store
        .fetch(&client(), &asset.url, asset.checksum.as_ref())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
}

#[tokio::test]
async fn sends_the_token_and_never_shows_it() {
    let fake = five_releases();
    fake.require_token(Some(TOKEN.into()));
    let err = list(&fake, None).await.unwrap_err();
    assert!(matches!(err, SourceError::Denied { .. }), "{err}");
    assert_eq!(err.exit_code(), ExitCode::NoPermission);
    assert!(err.to_string().contains("set GITHUB_TOKEN"), "{err}");

    let releases = list(&fake, Some(TOKEN)).await.unwrap();
    assert_eq!(releases.len(), 5);
    assert!(fake.api_requests()[1..].iter().all(|r| r.authorization));

    let err = list(&fake, Some("ghp_wrongOne")).await.unwrap_err();
    assert!(matches!(err, SourceError::Denied { .. }), "{err}");
    assert!(!err.to_string().contains("ghp_wrongOne"), "{err}");
}

#[tokio::test]
async fn the_token_never_goes_to_a_plain_http_api_the_spec_does_not_mark_insecure() {
    let fake = five_releases();
    let src = GithubSource {
        insecure_hosts: vec!["127.0.0.1:1".into(), "example.org".into()],
        ..source(&fake)
    };
    let releases = discover_with_token(&src, &client(), None, Some(Secret::new(TOKEN)))
        .await
        .unwrap();
    assert_eq!(releases.len(), 5);
    assert!(!fake.api_requests().is_empty());
    assert!(fake.api_requests().iter().all(|r| !r.authorization));
}

#[tokio::test]
async fn an_unchanged_list_costs_no_rate_limit() {
    let fake = five_releases();
    let cache = tempfile::tempdir().unwrap();
    let src = source(&fake);
    let first = discover_with_token(&src, &client(), Some(cache.path()), None)
        .await
        .unwrap();
    assert_eq!(fake.charged_requests(), 3);
    assert!(
        fake.api_requests()
            .iter()
            .all(|r| r.if_none_match.is_none())
    );

    let second = discover_with_token(&src, &client(), Some(cache.path()), None)
        .await
        .unwrap();
    assert_eq!(second, first);
    assert_eq!(fake.charged_requests(), 3, "304s are free");
    assert_eq!(fake.not_modified_requests(), 3);

    // A new release changes page 1 (and shifts the others): fresh bodies, new list.
    fake.add_release(ReleaseSpec::new("acme", "tool", "v1.6.0"));
    let third = discover_with_token(&src, &client(), Some(cache.path()), None)
        .await
        .unwrap();
    assert_eq!(third.len(), 6);
    assert_eq!(third[0].version, "1.6.0");

    // A corrupt cache is ignored: unconditional requests, same answer.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"{not json").unwrap();
    }
    let before = fake.charged_requests();
    let fourth = discover_with_token(&src, &client(), Some(cache.path()), None)
        .await
        .unwrap();
    assert_eq!(fourth, third);
    assert_eq!(fake.charged_requests(), before + 3);
    // …and rewritten, so the next run is free again.
    let before = fake.charged_requests();
    discover_with_token(&src, &client(), Some(cache.path()), None)
        .await
        .unwrap();
    assert_eq!(fake.charged_requests(), before);
}

#[tokio::test]
async fn an_exhausted_rate_limit_beyond_the_wait_fails_with_69() {
    let fake = five_releases();
    fake.set_rate_limit(5000, 0, Duration::from_secs(3600));
    let err = list(&fake, Some(TOKEN)).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Unreachable { .. }), "{msg}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    assert!(msg.contains("rate limit"), "{msg}");
    assert!(msg.contains("max_rate_limit_wait (10 s)"), "{msg}");
    assert!(
        msg.contains("Z (in 36"),
        "reset time in RFC 3339 and seconds: {msg}"
    );
    assert!(!msg.contains(TOKEN) && !msg.contains("S3cret"), "{msg}");
    assert!(!msg.contains("set GITHUB_TOKEN"), "a token was set: {msg}");

    let err = list(&fake, None).await.unwrap_err();
    assert!(err.to_string().contains("set GITHUB_TOKEN"), "{err}");
    assert_eq!(fake.charged_requests(), 0);
}

#[tokio::test]
async fn a_short_rate_limit_reset_is_waited_out() {
    let fake = five_releases();
    fake.set_rate_limit(60, 1, Duration::from_secs(1));
    let started = Instant::now();
    let releases = list(&fake, None).await.unwrap();
    assert_eq!(releases.len(), 5);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let statuses: Vec<u16> = fake.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 403, 200, 200]);
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried() {
    let fake = five_releases();
    fake.fail_next_with_429(1, 1);
    let started = Instant::now();
    let releases = list(&fake, None).await.unwrap();
    assert_eq!(releases.len(), 5);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let statuses: Vec<u16> = fake.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200, 200, 200]);
}

#[tokio::test]
async fn a_persistent_429_beyond_the_wait_fails_with_69() {
    let fake = five_releases();
    // More 429s than the client retries, each asking for longer than the source may wait.
    fake.fail_next_with_429(10, 30);
    let mut src = source(&fake);
    src.max_rate_limit_wait = Duration::from_secs(2);
    let http = HttpClient::new(HttpConfig {
        retry: RetryPolicy::none(),
        ..HttpConfig::default()
    })
    .unwrap();
    let err = discover_with_token(&src, &http, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    assert!(
        err.to_string().contains("rate limit exhausted (HTTP 429"),
        "{err}"
    );
    assert!(err.to_string().contains("(in 30 s)"), "{err}");
}

#[tokio::test]
async fn a_malformed_answer_fails_with_65_naming_the_url() {
    let fake = five_releases();
    fake.set_malformed(true);
    let cache = tempfile::tempdir().unwrap();
    let err = discover_with_token(
        &source(&fake),
        &client(),
        Some(cache.path()),
        Some(Secret::new(TOKEN)),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Malformed { .. }), "{msg}");
    assert_eq!(err.exit_code(), ExitCode::Data);
    assert!(
        msg.contains(&format!("{}/repos/acme/tool/releases", fake.api_url())),
        "{msg}"
    );
    assert!(msg.contains("not the expected JSON"), "{msg}");
    assert!(msg.contains("text/html"), "{msg}");
    assert!(!msg.contains(TOKEN), "{msg}");
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        0,
        "a malformed page is never cached"
    );
}

#[tokio::test]
async fn a_missing_repository_is_named() {
    let fake = GithubFake::start();
    let err = list(&fake, None).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "repository acme/tool not found at {}",
            fake.api_url()
        )),
        "{msg}"
    );
    fake.add_repo("acme", "tool");
    assert!(list(&fake, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn broken_pagination_is_refused() {
    let fake = five_releases();
    fake.set_link_fault(LinkFault::Loop);
    let err = list(&fake, None).await.unwrap_err();
    assert!(err.to_string().contains("pagination loop"), "{err}");
    assert_eq!(
        err.exit_code(),
        ExitCode::Data,
        "the answer is wrong, not missing"
    );
    assert!(fake.api_requests().len() <= 3);

    fake.set_link_fault(LinkFault::OtherOrigin);
    let err = list(&fake, Some(TOKEN)).await.unwrap_err();
    assert!(err.to_string().contains("not on the API's origin"), "{err}");
    assert_eq!(err.exit_code(), ExitCode::Data);
}
