//! When a request is retried, and how long to wait before the next attempt.

use std::time::Duration;

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
