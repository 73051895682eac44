//! The kernel verdict cache: flow classes judged *allow* are accepted by the kernel itself on
//! later connections, and still reported.
//!
//! ```text
//!  worker judges a queued SYN: allow ──offer(key, generation)──► CacheFeed (lock-free ring)
//!                                                                   │ drained every tick (2 ms)
//!  index owner publishes snapshot ──generation──► CacheWriter ◄─────┘
//!                                     │ generation moved: flush both sets (one batch)
//!                                     │ then add the offers of the current generation
//!                                     ▼
//!  kernel: ct state new, saddr . daddr . l4proto . dport in @verdicts4/@verdicts6
//!          ──► log group G, accept        (no queue round trip for the connection)
//!                   │ nfnetlink_log, batched by the kernel (threshold 64 or 10 ms)
//!                   ▼
//!  CacheLogReader: parse ─► judge on the current index ─► counters + NodeDecision (cached)
//! ```
//!
//! A class is `(source, destination, protocol, destination port)`: everything NetworkPolicy
//! and AdminNetworkPolicy look at, so every connection of a class gets the same decision
//! while the index is unchanged. Only allows are cached (a denied connection keeps going to
//! the queue, so every deny is judged and attributed on its own), and only TCP, UDP and SCTP.
//!
//! Correctness rests on three rules: every index change flushes the cache before anything
//! judged on the new index is added; an offer judged on an older index is dropped; and the
//! table install (agent start or restart) flushes it. So a cached allow outlives the index that
//! produced it by at most one writer tick, the same bound as a worker that loaded the old
//! snapshot just before the change. Entries also expire after `--verdict-cache-ttl` (default
//! 30 s), which bounds how long a stopped agent's cache keeps accepting.

pub mod key;
pub mod log;
pub mod writer;

use std::sync::Arc;

use arc_swap::ArcSwap;
use verdict_engine::Index;

pub use key::CacheKey;
pub use log::CacheLogReader;
pub use writer::{CacheCounters, CacheFeed, CacheWriter, WriterConfig};

use crate::queue::{Counters, DecisionSink};
use crate::ruleset::VerdictCacheSpec;

/// A named thread that runs until told to stop: dropping it sets the stop flag and joins.
#[derive(Debug)]
struct StoppableThread {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl StoppableThread {
    /// Spawns `body` on a thread called `name`; `body` gets the stop flag to poll.
    fn spawn(
        name: &'static str,
        body: impl FnOnce(Arc<std::sync::atomic::AtomicBool>) + Send + 'static,
    ) -> crate::Result<StoppableThread> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn({
                let stop = stop.clone();
                move || body(stop)
            })
            .map_err(|source| crate::Error::SpawnThread { name, source })?;
        Ok(StoppableThread {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for StoppableThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The verdict cache's two threads, the writer and the log reader, started together.
/// Dropping it stops both.
#[derive(Debug)]
pub struct VerdictCache {
    _writer: CacheWriter,
    _log: CacheLogReader,
}

impl VerdictCache {
    /// Starts both in the calling thread's network namespace. Call it once the table (with
    /// `spec`'s sets and rules) is installed: the writer's first act is a flush.
    ///
    /// The workers offer to `feed`; cached accepts are counted in `counters` and, with
    /// `decisions`, handed to telemetry.
    ///
    /// # Errors
    /// [`crate::Error::NflogKernel`] when the log group is held by another process (or the
    /// process lacks CAP_NET_ADMIN); [`crate::Error::SpawnThread`].
    pub fn start(
        table: &str,
        spec: VerdictCacheSpec,
        node: &str,
        feed: &CacheFeed,
        snapshot: Arc<ArcSwap<Index>>,
        counters: Arc<Counters>,
        decisions: Option<DecisionSink>,
    ) -> crate::Result<VerdictCache> {
        let writer = CacheWriter::start(
            WriterConfig {
                table: table.to_owned(),
                ttl: spec.ttl,
                tick: writer::DEFAULT_TICK,
            },
            snapshot.clone(),
            feed,
        )?;
        let log = CacheLogReader::start(
            spec.log_group,
            Arc::from(node),
            snapshot,
            counters,
            decisions,
        )?;
        Ok(VerdictCache {
            _writer: writer,
            _log: log,
        })
    }
}
