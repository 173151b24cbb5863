//! A watchdog for transfers that stop moving.
//!
//! The HTTP client's read timeout fires only while a response body is being read. A streamed
//! upload whose body is not being pulled — its connection's flow-control window is exhausted,
//! or the source feeding it waits on something else — has no timer at all. That is how a cold
//! image sync over HTTPS (HTTP/2, one connection per host) once sat in `epoll_wait` with no timer
//! armed until it was killed. [`Progress`] records when bytes last moved and [`unless_stalled`]
//! fails the transfer when none have for the given time, so the caller retries it or fails the
//! item — a transfer can be slow, never silently stuck.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When bytes of one transfer last moved. Clones share the record.
///
/// The clock starts at [`Progress::begin`] (or the first [`Progress::moved`]), not when the
/// record is made: a transfer queued for a free slot at a busy registry is waiting its turn,
/// not stalled, however long the queue.
#[derive(Clone, Debug)]
pub struct Progress {
    start: Instant,
    /// Milliseconds after `start` of the last movement, or of the beginning; `u64::MAX` while
    /// the transfer has not begun.
    last_ms: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// A record of a transfer that has not begun.
    pub fn new() -> Progress {
        Progress {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(u64::MAX)),
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// The transfer begins now (its first byte is being asked for): the clock starts.
    pub fn begin(&self) {
        let now = self.now_ms();
        let _ = self
            .last_ms
            .compare_exchange(u64::MAX, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// `n` bytes moved now.
    pub fn moved(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        let now = self.now_ms();
        // `fetch_update` so that "not begun" (u64::MAX) is replaced, not kept by a max.
        let _ = self
            .last_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                (last == u64::MAX || now > last).then_some(now)
            });
    }

    /// Bytes moved so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// How long since bytes last moved (or since the transfer began); zero before it began.
    pub fn idle(&self) -> Duration {
        match self.last_ms.load(Ordering::Relaxed) {
            u64::MAX => Duration::ZERO,
            last => self
                .start
                .elapsed()
                .saturating_sub(Duration::from_millis(last)),
        }
    }
}

/// A transfer that moved no byte for [`Stalled::after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no progress for {}s (after {bytes} bytes): the transfer stalled", after.as_secs())]
pub struct Stalled {
    /// The limit that was reached.
    pub after: Duration,
    /// Bytes moved before it stalled.
    pub bytes: u64,
}

/// Run `transfer`, failing with [`Stalled`] when `progress` records no movement for `limit`.
/// `transfer` is dropped (cancelled) then.
pub async fn unless_stalled<F: std::future::Future>(
    transfer: F,
    progress: &Progress,
    limit: Duration,
) -> Result<F::Output, Stalled> {
    let check = (limit / 4).max(Duration::from_millis(10));
    let watchdog = async {
        loop {
            tokio::time::sleep(check).await;
            if progress.idle() >= limit {
                return Stalled {
                    after: limit,
                    bytes: progress.bytes(),
                };
            }
        }
    };
    tokio::select! {
        out = transfer => Ok(out),
        stalled = watchdog => Err(stalled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transfer_that_keeps_moving_is_never_stopped_one_that_stops_is() {
        let progress = Progress::new();
        let p = progress.clone();
        let moving = async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                p.moved(1);
            }
            "done"
        };
        // 200 ms in all, never idle for 60 ms.
        let out = unless_stalled(moving, &progress, Duration::from_millis(60)).await;
        assert_eq!(out, Ok("done"));

        // Queued for 200 ms before it begins (waiting for a slot is not a stall), then moving.
        let progress = Progress::new();
        let p = progress.clone();
        let queued = async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            p.begin();
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                p.moved(1);
            }
            "done"
        };
        let out = unless_stalled(queued, &progress, Duration::from_millis(60)).await;
        assert_eq!(out, Ok("done"));

        let progress = Progress::new();
        let p = progress.clone();
        let stuck = async move {
            p.begin();
            p.moved(5);
            std::future::pending::<()>().await
        };
        let out = unless_stalled(stuck, &progress, Duration::from_millis(60)).await;
        assert_eq!(
            out,
            Err(Stalled {
                after: Duration::from_millis(60),
                bytes: 5
            })
        );
    }
}
