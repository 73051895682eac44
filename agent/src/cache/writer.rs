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

/// The most entries the writer keeps in each cache set (`verdicts4`, `verdicts6`). At the
/// limit a newly judged class is not cached (counted in [`CacheCounters::full`]): its
/// connections keep going to the queue, judged and correct, only slower, until entries expire
/// or the next flush. The writer counts what it added within the TTL, an upper bound of what
/// the kernel holds, so the kernel set never reaches the limit.
pub const MAX_ENTRIES_PER_SET: usize = 65_536;

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
    /// Flushes the kernel refused (also counted in `errors`).
    pub flush_errors: AtomicU64,
    /// Offers not cached because their set held [`MAX_ENTRIES_PER_SET`] entries.
    pub full: AtomicU64,
    /// Times the writer switched the cache off (emptied `cacheable`) because it could not
    /// flush, or because it was dying.
    pub switched_off: AtomicU64,
    /// A gauge: the last flush was refused and none has succeeded since. The cache is off (or,
    /// if switching it off was refused too, its entries live out their TTL).
    pub flush_failing: AtomicBool,
    /// A gauge: the writer thread ended without being asked to (a panic).
    pub writer_dead: AtomicBool,
}

impl CacheCounters {
    /// Whether the cache can be trusted (the readiness check `verdict-cache`): the writer runs
    /// and its last flush succeeded.
    pub fn healthy(&self) -> bool {
        !self.flush_failing.load(Relaxed) && !self.writer_dead.load(Relaxed)
    }
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

/// Test hooks into a running writer.
#[derive(Debug, Default)]
pub(super) struct Hooks {
    /// Every flush fails as if the kernel refused it (the switch-off batch is still sent).
    pub refuse_flushes: AtomicBool,
    /// The writer panics at its next tick.
    pub panic: AtomicBool,
}

/// The running writer thread. Dropping it stops the thread.
#[derive(Debug)]
pub struct CacheWriter {
    _thread: super::StoppableThread,
    pub(super) hooks: Arc<Hooks>,
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
        let hooks = Arc::new(Hooks::default());
        let thread = super::StoppableThread::spawn("verdict-cache", {
            let hooks = hooks.clone();
            move |stop| {
                let _guard = SwitchOffOnDeath {
                    table: cfg.table.clone(),
                    counters: counters.clone(),
                    stop: stop.clone(),
                };
                run(cfg, snapshot, ring, counters, stop, hooks)
            }
        })?;
        Ok(CacheWriter {
            _thread: thread,
            hooks,
        })
    }
}

/// Runs when the writer thread ends. Unless it was asked to stop, the writer died (a
/// panic): nothing will flush the cache on the next index change any more, so it switches
/// the cache off and empties it in one batch, and marks itself dead.
struct SwitchOffOnDeath {
    table: String,
    counters: Arc<CacheCounters>,
    stop: Arc<AtomicBool>,
}

impl Drop for SwitchOffOnDeath {
    fn drop(&mut self) {
        if self.stop.load(Relaxed) {
            return;
        }
        // Switch off first, then report: whoever sees `writer_dead` sees the cache off.
        let off = send_all(vec![encode::cache_off(&self.table, true)], &self.table);
        self.counters.writer_dead.store(true, Relaxed);
        match off {
            Ok(()) => {
                self.counters.switched_off.fetch_add(1, Relaxed);
                warn!("verdict cache writer died; the cache is switched off and emptied");
            }
            Err(e) => warn!(
                error = %e,
                "verdict cache writer died and could not switch the cache off; entries live out \
                 their TTL"
            ),
        }
    }
}

/// The loop: flush when the index generation moved, then add the fresh offers.
///
/// Why a cached allow outlives the index that produced it only briefly: an offer carries the
/// generation it was judged on, and only offers of the generation the writer has just flushed
/// for are added. An offer judged just before a change can still be added just before the
/// writer sees that change; the next tick flushes it. So the window is one tick, plus an add
/// batch in flight, plus the flush's own commit (see the module doc for the measured bound).
///
/// A refused flush switches the cache off (empties `cacheable`) in a batch of its own, and
/// nothing is added until a flush succeeds; that flush switches the cache on again in the
/// same batch.
fn run(
    cfg: WriterConfig,
    snapshot: Arc<ArcSwap<Index>>,
    ring: Arc<ArrayQueue<(CacheKey, u64)>>,
    counters: Arc<CacheCounters>,
    stop: Arc<AtomicBool>,
    hooks: Arc<Hooks>,
) {
    let mut flushed_for: Option<u64> = None;
    // Whether `cacheable` may still hold protocols while flushes fail (switching off failed).
    let mut switched_off = false;
    let mut added = Added::new(cfg.ttl, MAX_ENTRIES_PER_SET);
    let mut fresh: Vec<CacheKey> = Vec::new();
    while !stop.load(Relaxed) {
        if hooks.panic.swap(false, Relaxed) {
            panic!("verdict cache writer: panic requested by the test hook");
        }
        let generation = snapshot.load().generation();
        if flushed_for != Some(generation) {
            let refused = hooks
                .refuse_flushes
                .load(Relaxed)
                .then(|| "refused by the test hook".to_owned());
            let result = match refused {
                Some(why) => Err(why),
                None => encode::cache_flush(&cfg.table)
                    .map_err(|e| e.to_string())
                    .and_then(|batch| send_all(vec![batch], &cfg.table)),
            };
            match result {
                Ok(()) => {
                    counters.flushes.fetch_add(1, Relaxed);
                    flushed_for = Some(generation);
                    added.clear();
                    switched_off = false;
                    if counters.flush_failing.swap(false, Relaxed) {
                        info!("verdict cache flush accepted again; the cache is on");
                    }
                }
                Err(e) => {
                    counters.errors.fetch_add(1, Relaxed);
                    counters.flush_errors.fetch_add(1, Relaxed);
                    // Nothing may be added without a flush, and entries already in the kernel
                    // must not keep admitting: switch the cache off in a batch of its own.
                    if !switched_off {
                        match send_all(vec![encode::cache_off(&cfg.table, false)], &cfg.table) {
                            Ok(()) => {
                                switched_off = true;
                                counters.switched_off.fetch_add(1, Relaxed);
                            }
                            Err(off) => {
                                debug!(error = %off, "switching the verdict cache off refused")
                            }
                        }
                    }
                    if counters.flush_failing.swap(true, Relaxed) {
                        debug!(error = %e, "verdict cache flush still refused");
                    } else {
                        warn!(error = %e, switched_off, "verdict cache flush refused; the cache is \
                              off until a flush succeeds (if switching it off was refused too, \
                              its entries live out their TTL); retrying every {FLUSH_RETRY:?}");
                    }
                    while ring.pop().is_some() {}
                    std::thread::sleep(FLUSH_RETRY);
                    continue;
                }
            }
        }
        let now = Instant::now();
        added.prune(now);
        while let Some((key, judged_on)) = ring.pop() {
            if judged_on != generation {
                counters.stale.fetch_add(1, Relaxed);
                continue;
            }
            match added.admit(key, now) {
                Admit::Send => fresh.push(key),
                Admit::Recent => {}
                Admit::Full => {
                    counters.full.fetch_add(1, Relaxed);
                }
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
                        added.forget(key);
                    }
                }
            }
            fresh.clear();
        }
        std::thread::sleep(cfg.tick);
    }
}

/// What to do with one offer (see [`Added::admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admit {
    /// Add it to the kernel set.
    Send,
    /// Added less than [`DEDUPE_WINDOW`] (and the TTL) ago: nothing to do.
    Recent,
    /// Its set holds the limit already: not cached.
    Full,
}

/// The writer's bookkeeping of what it added since the last flush: each key and when, and
/// how many per set. Pure: [`run`] does the I/O.
#[derive(Debug)]
struct Added {
    ttl: Duration,
    limit: usize,
    at: HashMap<CacheKey, Instant>,
    per_set: [usize; 2],
    last_prune: Option<Instant>,
}

impl Added {
    fn new(ttl: Duration, limit: usize) -> Added {
        Added {
            ttl,
            limit,
            at: HashMap::new(),
            per_set: [0, 0],
            last_prune: None,
        }
    }

    /// After a flush: the sets are empty.
    fn clear(&mut self) {
        self.at.clear();
        self.per_set = [0, 0];
    }

    /// At most once per [`DEDUPE_WINDOW`]: forgets keys older than the TTL (the kernel has
    /// expired them).
    fn prune(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|at| now.duration_since(at) < DEDUPE_WINDOW)
        {
            return;
        }
        let ttl = self.ttl;
        self.at.retain(|_, at| now.duration_since(*at) < ttl);
        self.per_set = [0, 0];
        for key in self.at.keys() {
            self.per_set[set_of(key)] += 1;
        }
        self.last_prune = Some(now);
    }

    /// Whether to send `key` now; records it when so.
    fn admit(&mut self, key: CacheKey, now: Instant) -> Admit {
        match self.at.get(&key) {
            Some(at) if now.duration_since(*at) < self.ttl.min(DEDUPE_WINDOW) => {
                return Admit::Recent;
            }
            // Already counted in its set; sending it again refreshes it.
            Some(_) => {}
            None if self.per_set[set_of(&key)] >= self.limit => return Admit::Full,
            None => self.per_set[set_of(&key)] += 1,
        }
        self.at.insert(key, now);
        Admit::Send
    }

    /// The kernel refused to add `key`.
    fn forget(&mut self, key: &CacheKey) {
        if self.at.remove(key).is_some() {
            self.per_set[set_of(key)] = self.per_set[set_of(key)].saturating_sub(1);
        }
    }
}

/// 0 for `verdicts4`, 1 for `verdicts6`.
fn set_of(key: &CacheKey) -> usize {
    match key {
        CacheKey::V4(_) => 0,
        CacheKey::V6(_) => 1,
    }
}

fn send_all(batches: Vec<rustables::Batch>, table: &str) -> Result<(), String> {
    for batch in batches {
        crate::ruleset::detect::send(batch, table, "verdict cache").map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(n: u8) -> CacheKey {
        CacheKey::V4([10, 0, 0, n, 10, 0, 1, 1, 6, 0, 0, 0, 0, 80, 0, 0])
    }

    fn v6(n: u8) -> CacheKey {
        let mut k = [0u8; 40];
        k[15] = n;
        CacheKey::V6(k)
    }

    #[test]
    fn admission_dedupes_limits_each_set_and_frees_room_as_entries_expire() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // (step, key, at, expected) on one bookkeeping with a TTL of 5 s and 2 entries per set.
        let steps: &[(&str, CacheKey, Instant, Admit)] = &[
            ("first key", v4(1), ms(0), Admit::Send),
            ("the same key at once", v4(1), ms(10), Admit::Recent),
            ("a second key", v4(2), ms(20), Admit::Send),
            ("a third: the v4 set is full", v4(3), ms(30), Admit::Full),
            ("the v6 set has its own room", v6(1), ms(40), Admit::Send),
            (
                "a known key after the dedupe window is sent again",
                v4(1),
                ms(1500),
                Admit::Send,
            ),
            (
                "still full: re-sending did not free room",
                v4(3),
                ms(1600),
                Admit::Full,
            ),
            (
                "v4(2) expired (5 s): room again",
                v4(3),
                ms(6000),
                Admit::Send,
            ),
        ];
        let mut added = Added::new(Duration::from_secs(5), 2);
        for (step, key, at, want) in steps {
            added.prune(*at);
            assert_eq!(added.admit(*key, *at), *want, "{step}");
        }
        added.forget(&v4(3));
        assert_eq!(
            added.admit(v4(4), ms(6001)),
            Admit::Send,
            "a refused add frees its slot"
        );
        added.clear();
        assert_eq!(
            added.admit(v4(1), ms(6002)),
            Admit::Send,
            "a flush empties both sets"
        );
    }
}
