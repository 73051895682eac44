//! The cache writer: one thread that owns the verdict cache sets' contents.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use tracing::{debug, info, warn};
use verdict_engine::Index;

use super::CacheKey;
use crate::ruleset::encode;

/// How often the writer flushes on an index change and adds what the workers offered.
pub const DEFAULT_TICK: Duration = Duration::from_millis(2);

/// An offer for a key added less than this long ago is not sent again (a burst of connections
/// of one class, queued before the entry landed). Short, so that a class whose entry vanished
/// (a table reconcile flushes the sets) is added again on its next offer.
const DEDUPE_WINDOW: Duration = Duration::from_secs(1);

/// How long the writer waits before retrying a refused flush (the table was deleted by hand,
/// or netlink failed).
const FLUSH_RETRY: Duration = Duration::from_millis(100);

/// Offers waiting for the writer; beyond this they are dropped (the flow is simply judged
/// again next time).
const FEED_CAPACITY: usize = 4096;

/// What the writer did, for metrics and tests.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Keys added to the kernel sets.
    pub inserted: AtomicU64,
    /// Flushes of both sets (one per index generation seen).
    pub flushes: AtomicU64,
    /// Offers dropped because the index changed after they were judged.
    pub stale: AtomicU64,
    /// Offers dropped because the feed was full.
    pub overflow: AtomicU64,
    /// Batches the kernel refused.
    pub errors: AtomicU64,
}

/// The workers' end: offers allowed flow classes, never blocks, never wakes the writer.
#[derive(Clone, Debug)]
pub struct CacheFeed {
    ring: Arc<ArrayQueue<(CacheKey, u64)>>,
    counters: Arc<CacheCounters>,
}

impl CacheFeed {
    /// An empty feed; offers wait in it until a [`CacheWriter`] started on it drains them.
    pub fn new(counters: Arc<CacheCounters>) -> CacheFeed {
        CacheFeed {
            ring: Arc::new(ArrayQueue::new(FEED_CAPACITY)),
            counters,
        }
    }

    /// The counters the feed and its writer update.
    pub fn counters(&self) -> &Arc<CacheCounters> {
        &self.counters
    }

    /// Offers `key`, judged *allow* on the index of `generation`.
    pub fn offer(&self, key: CacheKey, generation: u64) {
        if self.ring.push((key, generation)).is_err() {
            self.counters.overflow.fetch_add(1, Relaxed);
        }
    }
}

/// What the writer needs.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// The agent's table.
    pub table: String,
    /// Entry lifetime in the kernel (the sets' timeout).
    pub ttl: Duration,
    /// Loop period.
    pub tick: Duration,
}

/// The running writer thread. Dropping it stops the thread.
#[derive(Debug)]
pub struct CacheWriter {
    _thread: super::StoppableThread,
}

impl CacheWriter {
    /// Starts the writer for `feed`, in the current network namespace (netlink sockets are
    /// opened per batch, in the thread's namespace, which a spawned thread inherits). Start it
    /// once the table is installed: its first act is a flush.
    pub fn start(
        cfg: WriterConfig,
        snapshot: Arc<ArcSwap<Index>>,
        feed: &CacheFeed,
    ) -> crate::Result<CacheWriter> {
        let ring = feed.ring.clone();
        let counters = feed.counters.clone();
        let thread = super::StoppableThread::spawn("verdict-cache", move |stop| {
            run(cfg, snapshot, ring, counters, stop)
        })?;
        Ok(CacheWriter { _thread: thread })
    }
}

/// The loop: flush when the index generation moved, then add the fresh offers.
///
/// Why an allow never outlives the index that produced it by more than a tick: an offer
/// carries the generation it was judged on, and only offers of the generation the writer has
/// just flushed for are added. An offer judged just before a change can still be added just
/// before the writer sees that change; the next tick flushes it.
fn run(
    cfg: WriterConfig,
    snapshot: Arc<ArcSwap<Index>>,
    ring: Arc<ArrayQueue<(CacheKey, u64)>>,
    counters: Arc<CacheCounters>,
    stop: Arc<AtomicBool>,
) {
    let mut flushed_for: Option<u64> = None;
    let mut flush_failing = false;
    let mut added: HashMap<CacheKey, Instant> = HashMap::new();
    let mut fresh: Vec<CacheKey> = Vec::new();
    while !stop.load(Relaxed) {
        let generation = snapshot.load().generation();
        if flushed_for != Some(generation) {
            match send_all(vec![encode::cache_flush(&cfg.table)], &cfg.table) {
                Ok(()) => {
                    counters.flushes.fetch_add(1, Relaxed);
                    flushed_for = Some(generation);
                    added.clear();
                    if std::mem::take(&mut flush_failing) {
                        info!("verdict cache flush accepted again");
                    }
                }
                Err(e) => {
                    // Without a flush nothing may be added: drop the offers and retry, saying so
                    // once rather than on every attempt.
                    counters.errors.fetch_add(1, Relaxed);
                    if std::mem::replace(&mut flush_failing, true) {
                        debug!(error = %e, "verdict cache flush still refused");
                    } else {
                        warn!(error = %e, "verdict cache flush refused; nothing is cached until it \
                               succeeds; retrying every {FLUSH_RETRY:?}");
                    }
                    while ring.pop().is_some() {}
                    std::thread::sleep(FLUSH_RETRY);
                    continue;
                }
            }
        }
        let now = Instant::now();
        while let Some((key, judged_on)) = ring.pop() {
            if judged_on != generation {
                counters.stale.fetch_add(1, Relaxed);
                continue;
            }
            let recent = added
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < cfg.ttl.min(DEDUPE_WINDOW));
            if !recent {
                added.insert(key, now);
                fresh.push(key);
            }
        }
        if !fresh.is_empty() {
            let result = encode::cache_add(&cfg.table, &fresh)
                .map_err(|e| e.to_string())
                .and_then(|batches| send_all(batches, &cfg.table));
            match result {
                Ok(()) => {
                    counters.inserted.fetch_add(fresh.len() as u64, Relaxed);
                }
                Err(e) => {
                    counters.errors.fetch_add(1, Relaxed);
                    debug!(error = %e, keys = fresh.len(), "verdict cache add refused");
                    for key in &fresh {
                        added.remove(key);
                    }
                }
            }
            fresh.clear();
        }
        if added.len() > 4 * FEED_CAPACITY {
            added.retain(|_, at| now.duration_since(*at) < DEDUPE_WINDOW);
        }
        std::thread::sleep(cfg.tick);
    }
}

fn send_all(batches: Vec<rustables::Batch>, table: &str) -> Result<(), String> {
    for batch in batches {
        crate::ruleset::detect::send(batch, table, "verdict cache").map_err(|e| e.to_string())?;
    }
    Ok(())
}
