//! When a request is retried, and how long to wait before the next attempt.
//!
//! The rules, in one place:
//! - connection failures and timeouts are retried;
//! - statuses 429, 500, 502, 503 and 504 are retried (pinned by `retried_statuses` below);
//! - the wait is exponential backoff with full jitter: a uniformly random duration in
//!   `[0, min(max_delay, base_delay * 2^attempt)]`;
//! - on 429 and 503 a `Retry-After` header (seconds or HTTP-date) replaces the backoff, capped at
//!   `max_delay`.

use std::time::{Duration, SystemTime};

use rand::Rng as _;

/// Retry settings: exponential backoff with jitter, `Retry-After` honoured up to `max_delay`.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub max_retries: u32,
    /// Delay before the first retry; doubled each time.
    pub base_delay: Duration,
    /// Upper bound of any single wait (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (each request is tried once).
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The upper bound of the backoff before retry number `attempt` (0 = the first retry):
    /// `base_delay * 2^attempt`, capped at `max_delay`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// How long to wait before retry number `attempt` (0 = the first retry).
    ///
    /// `retry_after` is the server's `Retry-After` (already parsed; only pass it for 429/503):
    /// when present it is used as is, capped at `max_delay`. Otherwise full jitter over
    /// [`backoff_ceiling`](Self::backoff_ceiling), so many clients that failed together do not
    /// retry together.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let ceiling = self.backoff_ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

/// Whether a response with this status is worth another attempt.
///
/// 429 (rate limited) and the gateway/overload family. Plain 501/505+ mean "never going to work".
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Whether the server's `Retry-After` is honoured for this status (RFC 9110 defines it for 503
/// and RFC 6585 for 429; on other statuses it is ignored).
pub fn honours_retry_after(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// Parse a `Retry-After` value: delay-seconds (`"120"`) or an HTTP-date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`), relative to `now`. A date in the past means "now"
/// (`Duration::ZERO`). Anything else (negative, fractional, garbage) is `None`: the caller falls
/// back to its own backoff.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurd values (`99999999999999999999`) instead of rejecting them; the caller
        // caps at `max_delay` anyway.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response, if it has a parseable one.
pub fn retry_after_of(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retried_statuses() {
        // The full table for every status a server can send that we treat specially, plus
        // neighbours that must not be retried.
        let table: Vec<(u16, bool, bool)> = [
            200, 206, 301, 304, 400, 401, 403, 404, 408, 409, 416, 429, 500, 501, 502, 503, 504,
            505, 507,
        ]
        .into_iter()
        .map(|s| (s, is_retryable_status(s), honours_retry_after(s)))
        .collect();
        let expected: Vec<(u16, bool, bool)> = vec![
            (200, false, false),
            (206, false, false),
            (301, false, false),
            (304, false, false),
            (400, false, false),
            (401, false, false),
            (403, false, false),
            (404, false, false),
            (408, false, false),
            (409, false, false),
            (416, false, false),
            (429, true, true),
            (500, true, false),
            (501, false, false),
            (502, true, false),
            (503, true, true),
            (504, true, false),
            (505, false, false),
            (507, false, false),
        ];
        assert_eq!(table, expected);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        let ceilings: Vec<u128> = (0..6).map(|a| p.backoff_ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff_ceiling(u32::MAX), Duration::from_millis(1000));
        for attempt in 0..6 {
            for _ in 0..50 {
                assert!(p.delay(attempt, None) <= p.backoff_ceiling(attempt));
            }
        }
    }

    #[test]
    fn retry_after_replaces_backoff_but_is_capped() {
        let p = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(30),
        };
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("1", Some(1)),
            (" 120 ", Some(120)),
            ("Wed, 21 Oct 2015 07:28:30 GMT", Some(30)),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(0)),
            ("-1", None),
            ("1.5", None),
            ("", None),
            ("soon", None),
        ];
        for (input, want) in cases {
            let got = parse_retry_after(input, now).map(|d| d.as_secs());
            assert_eq!(got, *want, "Retry-After: {input:?}");
        }
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn retry_after_never_panics(s in "\\PC*") {
                let _ = parse_retry_after(&s, SystemTime::now());
            }

            #[test]
            fn retry_after_seconds_round_trip(n in any::<u64>()) {
                prop_assert_eq!(
                    parse_retry_after(&n.to_string(), SystemTime::UNIX_EPOCH),
                    Some(Duration::from_secs(n))
                );
            }

            #[test]
            fn retry_after_dates_are_relative_to_now(offset in 0u64..10_000_000, base in 0u64..4_000_000_000) {
                let now = SystemTime::UNIX_EPOCH + Duration::from_secs(base);
                let date = httpdate::fmt_http_date(now + Duration::from_secs(offset));
                prop_assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(offset)));
            }
        }
    }
}
