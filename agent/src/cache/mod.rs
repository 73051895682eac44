//! The kernel verdict cache: flow classes judged *allow* are accepted by the kernel itself on
//! later connections, and still reported.
//!
//! ```text
//!  worker judges a queued SYN: allow ──offer(key, generation)──► CacheFeed (lock-free ring)
//!                                                                   │ drained every tick (2 ms)
//!  index owner publishes snapshot ──generation──► CacheWriter ◄─────┘
//!                                     │ generation moved: flush both sets and switch the
//!                                     │ cache on (one batch); refused: switch it off
//!                                     │ then add the offers of the current generation
//!                                     ▼
//!  kernel: ct state new, l4proto in @cacheable (the switch),
//!          saddr . daddr . l4proto . dport in @verdicts4/@verdicts6
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
//! table install (agent start or restart) flushes it and leaves it switched off until the new
//! writer's first flush. Entries also expire after `--verdict-cache-ttl` (default 30 s).
//!
//! # Guarantees
//! - **How long a cached allow outlives a denying change.** From the moment the new index is
//!   published, a class cached under the old one is still accepted for at most one writer
//!   tick (2 ms), plus an add batch that was already in flight, plus the flush's own
//!   nftables commit: the writer sees the new generation on its next tick and flushes in one
//!   transaction, and no offer judged on the old index is added after that flush. Measured
//!   with real packets (`cache_window_after_a_denying_change_is_measured` in the queue
//!   tests: connections of a cached class in a tight loop while the index changes), the last
//!   accepted connection started at most 1.7-3.6 ms after the change in three runs and
//!   87 ms in a fourth (p50 0.4-0.9 ms, p90 1.6-1.8 ms; 25 changes per run on 2 cores at load
//!   average 6). The tail is the nftables commits under load (a p99 of about 24 ms per
//!   transaction has been seen), so count on up to about 100 ms, not one tick; the test
//!   fails at a second. A worker that
//!   loaded the old snapshot just before the change has the same kind of window (one packet).
//! - **A refused flush switches the cache off.** Every cached-allow rule also looks the
//!   packet's protocol up in the `cacheable` set; the flush batch refills it, and when a flush
//!   is refused the writer empties it in a batch of its own, so entries already in the kernel
//!   stop admitting at once and every new connection goes to the queue again. Nothing is
//!   added until a flush succeeds, and that flush switches the cache back on in the same
//!   batch. While flushes fail, [`CacheCounters::healthy`] is false (the agent's readiness
//!   check `verdict-cache`) and `flush_errors` counts them. If switching off is refused too,
//!   nothing in the kernel can be changed, and the entries live out their TTL.
//! - **A dead writer switches the cache off.** If the writer thread ends without being asked
//!   to (a panic), a guard empties `cacheable` and both sets in one batch and marks the writer
//!   dead (`writer_dead`, not healthy).
//! - **Size.** The writer keeps at most [`writer::MAX_ENTRIES_PER_SET`] entries in each set
//!   (counting what it added within the TTL, an upper bound of what the kernel holds). At the
//!   limit, a newly judged class is not cached and `full` counts it: its connections keep
//!   going to the queue, judged and correct, only slower, until entries expire or the next
//!   flush empties the sets. (The sets carry no kernel `size`: the writer is their only
//!   writer, and rustables 0.9 cannot encode `NFTA_SET_DESC`.)

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
    writer: CacheWriter,
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
        Ok(VerdictCache { writer, _log: log })
    }

    /// Test hook: while `on`, every flush fails as if the kernel refused it (the writer still
    /// sends its switch-off batch, which the kernel takes).
    pub fn refuse_flushes_for_test(&self, on: bool) {
        self.writer
            .hooks
            .refuse_flushes
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Test hook: the writer thread panics at its next tick.
    pub fn panic_writer_for_test(&self) {
        self.writer
            .hooks
            .panic
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
