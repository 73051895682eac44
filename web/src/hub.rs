//! The source of the dashboard's events: [`Hub::publish`] is called by the agent's telemetry
//! fan-out (or the operator's merger) for every event. It numbers the event, keeps it in a
//! bounded history ring, updates the aggregates and hands it to every live subscriber over a
//! `broadcast` channel.
//!
//! ```text
//!  fan-out task ── publish(Arc<DecisionEvent>) ──► Hub { ring (VecDeque, capacity N),
//!                                                       aggregates (stats.rs),
//!                                                       broadcast::Sender<Entry> }
//!                                                          │            │
//!                          /api/decisions, /api/stats ◄────┘            └──► SSE subscribers
//! ```
//!
//! # Guarantees
//! `publish` never waits on a reader: it takes one short lock (no I/O under it) and
//! `broadcast::send` never blocks. A subscriber that falls more than the broadcast capacity
//! behind loses the oldest events and is told how many (`dropped`), and the loss is counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;
use verdict_events::DecisionEvent;

use crate::filter::Filter;
use crate::stats::Aggregates;

/// Sizes of the hub's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// Events kept for `/api/decisions` and for resuming streams.
    pub history: usize,
    /// Events a subscriber may fall behind before it loses some.
    pub subscriber_buffer: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            history: 10_000,
            subscriber_buffer: 1_024,
        }
    }
}

/// One published event with its position in this hub's stream (the SSE event id).
#[derive(Clone, Debug)]
pub struct Entry {
    /// Starts at 1 and increases by one per published event.
    pub seq: u64,
    /// The event.
    pub event: Arc<DecisionEvent>,
}

struct Inner {
    next: u64,
    ring: VecDeque<Entry>,
    aggregates: Aggregates,
}

/// Where the dashboard's events come from. Share it as `Arc<Hub>`.
pub struct Hub {
    config: HubConfig,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Entry>,
    lagged: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("config", &self.config).finish()
    }
}

impl Hub {
    /// A hub with these buffer sizes (each at least 1).
    pub fn new(config: HubConfig) -> Arc<Hub> {
        let config = HubConfig {
            history: config.history.max(1),
            subscriber_buffer: config.subscriber_buffer.max(1),
        };
        let (tx, _) = broadcast::channel(config.subscriber_buffer);
        Arc::new(Hub {
            config,
            inner: Mutex::new(Inner {
                next: 1,
                ring: VecDeque::with_capacity(config.history.min(1_024)),
                aggregates: Aggregates::default(),
            }),
            tx,
            lagged: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere under the lock leaves consistent data (each step is complete).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes one event. Never blocks on readers.
    pub fn publish(&self, event: Arc<DecisionEvent>) {
        let mut inner = self.lock();
        let entry = Entry {
            seq: inner.next,
            event,
        };
        inner.next += 1;
        inner.aggregates.record(&entry.event);
        if inner.ring.len() == self.config.history {
            inner.ring.pop_front();
        }
        inner.ring.push_back(entry.clone());
        // Sent under the lock so that the ring and the broadcast agree on the order; no
        // receivers is not an error.
        let _ = self.tx.send(entry);
    }

    /// The matching events of the history, newest last, at most `filter.limit` (the newest).
    pub fn history(&self, filter: &Filter) -> Vec<Entry> {
        let inner = self.lock();
        let limit = filter.limit.unwrap_or(crate::filter::MAX_LIMIT);
        let mut out: Vec<Entry> = inner
            .ring
            .iter()
            .rev()
            .filter(|e| filter.matches(&e.event))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// Subscribes to new events, and reads the history after `after` (a `Last-Event-ID`):
    /// the entries still in the ring, and how many newer than `after` the ring no longer
    /// holds. Subscribing first means nothing published in between is missed; the caller
    /// skips entries of the receiver that the history already gave.
    pub fn resume(&self, after: Option<u64>) -> (broadcast::Receiver<Entry>, Vec<Entry>, u64) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let Some(after) = after else {
            return (rx, Vec::new(), 0);
        };
        let oldest = inner.ring.front().map_or(inner.next, |e| e.seq);
        let missed = oldest.saturating_sub(after.saturating_add(1));
        let entries = inner
            .ring
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        (rx, entries, missed)
    }

    /// Subscribes to new events only.
    pub fn subscribe(&self) -> broadcast::Receiver<Entry> {
        self.tx.subscribe()
    }

    /// Runs `f` on the aggregates.
    pub fn with_aggregates<R>(&self, f: impl FnOnce(&Aggregates) -> R) -> R {
        f(&self.lock().aggregates)
    }

    /// Counts events a lagging subscriber lost.
    pub fn count_lagged(&self, n: u64) {
        self.lagged.fetch_add(n, Ordering::Relaxed);
    }

    /// Events lost by lagging subscribers so far.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }

    /// Live subscribers.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// `(held, capacity, oldest seq, newest seq)` of the history ring.
    pub fn ring_status(&self) -> (usize, usize, u64, u64) {
        let inner = self.lock();
        let oldest = inner.ring.front().map_or(0, |e| e.seq);
        (
            inner.ring.len(),
            self.config.history,
            oldest,
            inner.next - 1,
        )
    }

    /// The buffer sizes in use.
    pub fn config(&self) -> HubConfig {
        self.config
    }
}
