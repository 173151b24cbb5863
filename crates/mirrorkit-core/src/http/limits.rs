//! Per-host limits: concurrency (one semaphore per `host:port`, created on first use) and an
//! optional request rate (requests started per second).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

// tokio's clock, so that a test can run the pacing on paused (virtual) time.
use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The semaphores of every host a client has talked to.
#[derive(Debug)]
pub struct HostLimits {
    per_host: usize,
    /// Limits for particular hosts (`host:port`, or `host` for every port), from a spec's
    /// `registries:` settings.
    overrides: HashMap<String, usize>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Requests per second for particular hosts (`registries: {host: {rate_limit: N}}`).
    rates: HashMap<String, f64>,
    /// When the next request to a rate-limited host may start.
    next_start: Mutex<HashMap<String, Instant>>,
}

impl HostLimits {
    /// Allow `per_host` requests in flight per host. Zero is treated as one: a limit of zero would
    /// deadlock every request instead of reporting a configuration mistake.
    pub fn new(per_host: usize) -> HostLimits {
        HostLimits {
            per_host: per_host.max(1),
            overrides: HashMap::new(),
            hosts: Mutex::new(HashMap::new()),
            rates: HashMap::new(),
            next_start: Mutex::new(HashMap::new()),
        }
    }

    /// Start at most `per_second` requests a second to `host` (`host:port`, or a bare host for
    /// every port). Non-positive or non-finite rates are ignored.
    pub fn with_rate(mut self, host: &str, per_second: f64) -> HostLimits {
        if per_second.is_finite() && per_second > 0.0 {
            self.rates.insert(host.to_string(), per_second);
        }
        self
    }

    /// Wait until a request to `url`'s host may start under its rate limit (no wait without
    /// one). Each call reserves the next slot, so concurrent callers are spaced out too.
    pub async fn pace(&self, url: &url::Url) {
        let key = Self::key(url);
        let bare = key.rsplit_once(':').map_or(key.as_str(), |(host, _)| host);
        let Some(rate) = self
            .rates
            .get(&key)
            .or_else(|| self.rates.get(bare))
            .copied()
        else {
            return;
        };
        let interval = Duration::from_secs_f64(1.0 / rate);
        let start = {
            let mut next = self
                .next_start
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let slot = next.get(&key).copied().filter(|t| *t > now).unwrap_or(now);
            next.insert(key, slot + interval);
            slot
        };
        tokio::time::sleep_until(start).await;
    }

    /// Use `limit` requests in flight for `host` (`host:port`, or a bare host for every port)
    /// instead of the default.
    pub fn with_override(mut self, host: &str, limit: usize) -> HostLimits {
        self.overrides.insert(host.to_string(), limit.max(1));
        self
    }

    /// The limit that applies to a host key (`host:port`).
    fn limit_for(&self, key: &str) -> usize {
        let bare = key.rsplit_once(':').map_or(key, |(host, _port)| host);
        self.overrides
            .get(key)
            .or_else(|| self.overrides.get(bare))
            .copied()
            .unwrap_or(self.per_host)
    }

    /// The key a URL is limited under: `host:port` (default port filled in), or the scheme for
    /// URLs without a host.
    pub fn key(url: &url::Url) -> String {
        match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => url.scheme().to_string(),
        }
    }

    /// Wait for a free slot for `url`'s host; the slot is held until the permit is dropped.
    pub async fn acquire(&self, url: &url::Url) -> OwnedSemaphorePermit {
        let semaphore = {
            // A poisoned map only means another thread panicked while inserting; the map itself
            // is still consistent.
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            let key = Self::key(url);
            let limit = self.limit_for(&key);
            hosts
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(limit)))
                .clone()
        };
        // The semaphore is never closed, so acquiring cannot fail; fall back to an unlimited
        // permit rather than panic if that ever changes.
        match semaphore.acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => Arc::new(Semaphore::new(1))
                .try_acquire_owned()
                .unwrap_or_else(|_| unreachable!("a fresh semaphore has a permit")),
        }
    }

    /// Free slots for `url`'s host right now (for tests and diagnostics).
    pub fn available(&self, url: &url::Url) -> usize {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        hosts.get(&Self::key(url)).map_or_else(
            || self.limit_for(&Self::key(url)),
            |s| s.available_permits(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_host_overrides_apply_with_or_without_a_port() {
        let limits = HostLimits::new(8)
            .with_override("registry.example:5000", 2)
            .with_override("cdn.example", 3);
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            limits.available(&url("http://registry.example:5000/v2/")),
            2
        );
        assert_eq!(limits.available(&url("https://registry.example/v2/")), 8);
        assert_eq!(limits.available(&url("https://cdn.example/x")), 3);
        assert_eq!(limits.available(&url("https://other.example/x")), 8);
    }

    #[test]
    fn keys_include_the_default_port() {
        let k = |s: &str| HostLimits::key(&url::Url::parse(s).unwrap());
        assert_eq!(k("https://Example.org/a"), "example.org:443");
        assert_eq!(k("http://example.org/a"), "example.org:80");
        assert_eq!(k("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(k("file:///tmp/x"), "file");
    }

    // On paused time: the clock moves only when every task waits, so the spacing is exact and
    // no assertion depends on how fast this machine is.
    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_spaces_request_starts() {
        let limits = HostLimits::new(8).with_rate("r.example", 20.0);
        let u = url::Url::parse("https://r.example/v2/").unwrap();
        let other = url::Url::parse("https://other.example/").unwrap();
        let t0 = Instant::now();
        for _ in 0..5 {
            limits.pace(&u).await;
        }
        // 5 starts at 20/s: the 5th starts 4 intervals (200 ms) after the first.
        assert_eq!(t0.elapsed(), Duration::from_millis(200));
        // Another host is not paced at all: no time passes.
        let t1 = Instant::now();
        for _ in 0..5 {
            limits.pace(&other).await;
        }
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn permits_are_per_host_and_released_on_drop() {
        let limits = HostLimits::new(2);
        let a = url::Url::parse("https://a.example/").unwrap();
        let b = url::Url::parse("https://b.example/").unwrap();
        let p1 = limits.acquire(&a).await;
        let p2 = limits.acquire(&a).await;
        assert_eq!(limits.available(&a), 0);
        assert_eq!(limits.available(&b), 2);
        let _p3 = limits.acquire(&b).await;
        drop(p1);
        assert_eq!(limits.available(&a), 1);
        drop(p2);
        assert_eq!(limits.available(&a), 2);
    }
}
