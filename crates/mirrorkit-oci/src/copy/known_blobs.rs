//! What a run has learnt about the blobs in its targets: which repository holds which blob, so a
//! blob is transferred once per run and mounted wherever else it is needed, and which registries
//! answer the referrers API.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use mirrorkit_core::digest::Digest;

/// The lock of one blob being sent.
type BlobLock = std::sync::Arc<tokio::sync::Mutex<()>>;

/// Which target repositories hold which blobs, learnt during a run: a blob is transferred once
/// per run, and mounted into any other repository that needs it.
///
/// Entries are kept per target (`docker://host` or `oci:ROOT`, as [`mirrorkit_core::spec::TargetConfig`] displays),
/// so a repository of one registry is never offered as a mount source to another. [`record`]
/// and [`holder`] use the unnamed target `""`.
///
/// [`record`]: KnownBlobs::record
/// [`holder`]: KnownBlobs::holder
///
/// It also keeps what the run learnt about registries' referrers API (asked once per registry
/// and run).
#[derive(Default)]
pub struct KnownBlobs {
    inner: Mutex<BTreeMap<(String, Digest), BTreeSet<String>>>,
    /// One lock per blob being sent to a target, so mirrors running at once do not send the same
    /// blob twice: the second waits, then finds it recorded and mounts it.
    in_flight: Mutex<BTreeMap<(String, Digest), BlobLock>>,
    referrers_api: ReferrersApi,
}

impl KnownBlobs {
    /// Wait until no other copy of this run is sending `digest` to `target`, and hold that
    /// right until the guard is dropped.
    pub async fn claim(&self, target: &str, digest: &Digest) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = match self.in_flight.lock() {
            Ok(mut m) => m
                .entry((target.to_string(), digest.clone()))
                .or_default()
                .clone(),
            // A poisoned map: fall back to a private lock (no sharing, still correct).
            Err(_) => std::sync::Arc::new(tokio::sync::Mutex::new(())),
        };
        lock.lock_owned().await
    }

    /// Which registries answer the referrers API, as learnt so far in this run.
    pub fn referrers_api(&self) -> &ReferrersApi {
        &self.referrers_api
    }

    /// Record that `repository` (on the target) holds `digest`.
    pub fn record(&self, digest: &Digest, repository: &str) {
        self.record_in("", digest, repository);
    }

    /// A target repository known to hold `digest`, other than `except`.
    pub fn holder(&self, digest: &Digest, except: &str) -> Option<String> {
        self.holder_in("", digest, except)
    }

    /// Record that `repository` of `target` holds `digest`.
    pub fn record_in(&self, target: &str, digest: &Digest, repository: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.entry((target.to_string(), digest.clone()))
                .or_default()
                .insert(repository.to_string());
        }
    }

    /// A repository of `target` known to hold `digest`, other than `except`.
    pub fn holder_in(&self, target: &str, digest: &Digest, except: &str) -> Option<String> {
        self.inner.lock().ok().and_then(|m| {
            m.get(&(target.to_string(), digest.clone()))
                .and_then(|repos| repos.iter().find(|r| r.as_str() != except).cloned())
        })
    }

    /// Whether `repository` of `target` is known to hold `digest`.
    pub fn holds(&self, target: &str, digest: &Digest, repository: &str) -> bool {
        self.inner.lock().ok().is_some_and(|m| {
            m.get(&(target.to_string(), digest.clone()))
                .is_some_and(|repos| repos.contains(repository))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_blobs_are_kept_per_target() {
        let known = KnownBlobs::default();
        let d = Digest::sha256_of(b"layer");
        known.record_in("docker://a", &d, "mirror/x");
        assert!(known.holds("docker://a", &d, "mirror/x"));
        assert!(!known.holds("docker://b", &d, "mirror/x"));
        assert_eq!(
            known.holder_in("docker://a", &d, "mirror/y").as_deref(),
            Some("mirror/x")
        );
        assert_eq!(known.holder_in("docker://a", &d, "mirror/x"), None);
        assert_eq!(known.holder_in("docker://b", &d, "mirror/y"), None);
        known.record(&d, "other");
        assert_eq!(known.holder(&d, "x").as_deref(), Some("other"));
    }
}

/// Which registries answer the referrers API, learnt once per registry and run.
#[derive(Default)]
pub struct ReferrersApi {
    hosts: Mutex<HashMap<String, bool>>,
}

impl ReferrersApi {
    /// What is known of `host`: `Some(true)` it has the API, `Some(false)` it has none.
    pub fn known(&self, host: &str) -> Option<bool> {
        self.hosts.lock().ok().and_then(|m| m.get(host).copied())
    }

    pub(crate) fn learn(&self, host: &str, supported: bool) {
        if let Ok(mut m) = self.hosts.lock() {
            m.insert(host.to_string(), supported);
        }
    }
}
