//! Packet-path counters: plain atomics the metrics endpoint reads at scrape time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use verdict_engine::{Tier, Verdict};

const TIERS: [Tier; 4] = [
    Tier::AdminNetworkPolicy,
    Tier::NetworkPolicy,
    Tier::BaselineAdminNetworkPolicy,
    Tier::Default,
];
const VERDICTS: [Verdict; 2] = [Verdict::Allow, Verdict::Deny];

fn tier_index(t: Tier) -> usize {
    match t {
        Tier::AdminNetworkPolicy => 0,
        Tier::NetworkPolicy => 1,
        Tier::BaselineAdminNetworkPolicy => 2,
        Tier::Default => 3,
    }
}

/// Every counter of the packet path. Shared as `Arc<Counters>` by all workers.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets received from the queues.
    pub packets: AtomicU64,
    /// Packets that did not parse (broken headers) and got the default verdict.
    pub malformed: AtomicU64,
    /// Valid packets the parser does not judge (non-first fragments, which conntrack's
    /// defragmentation keeps from the queue in practice); they get the default verdict. Other
    /// IP protocols (GRE, ESP, ...) are judged as flows without ports, not counted here.
    pub unsupported: AtomicU64,
    /// Queued packets with no local pod at either end (a stale set element); accepted.
    pub not_owned: AtomicU64,
    /// Evaluations that panicked; the packet got the default verdict.
    pub engine_panics: AtomicU64,
    /// Verdicts the kernel did not take (the packet stays queued until fail-open/closed).
    pub verdict_errors: AtomicU64,
    /// Errors receiving from a queue (other than the periodic timeout).
    pub recv_errors: AtomicU64,
    /// Decisions not handed to telemetry because the channel was full or closed.
    pub dropped_decisions: AtomicU64,
    /// New connections the kernel accepted from the verdict cache (reported from its log).
    pub cache_hits: AtomicU64,
    /// Of those, the ones the current index would deny: accepted in the tick between an index
    /// change and the cache flush.
    pub cache_hits_now_denied: AtomicU64,
    /// Log messages the kernel dropped because the cache log reader fell behind.
    pub cache_log_overruns: AtomicU64,
    /// Verdict worker threads restarted by the supervisor after a panic or an early exit.
    pub worker_restarts: AtomicU64,
    /// Verdict worker threads down right now (a gauge): ended, and not yet bound and running
    /// again. Non-zero means a queue has no listener (fail-open: bypass; fail-closed: drops).
    pub workers_down: AtomicU64,
    decisions: [[AtomicU64; 4]; 2],
    /// Time from receiving a packet to having its verdict (parse + evaluate).
    pub latency: LatencyHistogram,
}

impl Counters {
    /// A zeroed set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one decision under its verdict and deciding tier.
    pub fn count_decision(&self, verdict: Verdict, tier: Tier) {
        let v = usize::from(verdict == Verdict::Deny);
        self.decisions[v][tier_index(tier)].fetch_add(1, Relaxed);
    }

    /// Decisions so far by verdict and deciding tier (see [`super::judge::Judgement::tier`]).
    pub fn decisions(&self) -> Vec<(Verdict, Tier, u64)> {
        let mut out = Vec::with_capacity(8);
        for (v, verdict) in VERDICTS.iter().enumerate() {
            for (t, tier) in TIERS.iter().enumerate() {
                out.push((*verdict, *tier, self.decisions[v][t].load(Relaxed)));
            }
        }
        out
    }

    /// Whether every verdict worker is running (the readiness check `verdict-workers`).
    pub fn all_workers_up(&self) -> bool {
        self.workers_down.load(Relaxed) == 0
    }

    /// Packets that got the default verdict because they could not be judged: malformed and
    /// unsupported packets and engine panics.
    pub fn defaulted(&self) -> u64 {
        self.malformed.load(Relaxed)
            + self.unsupported.load(Relaxed)
            + self.engine_panics.load(Relaxed)
    }

    /// Packets whose fate the agent did not decide (verdict or receive failures).
    pub fn queue_drops(&self) -> u64 {
        self.verdict_errors.load(Relaxed) + self.recv_errors.load(Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds (Prometheus `le`), then `+Inf`.
pub const LATENCY_BOUNDS_SECONDS: [f64; 12] = [
    1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 10e-3, 100e-3,
];

/// A fixed-bucket, lock-free latency histogram.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BOUNDS_SECONDS.len() + 1],
    sum_ns: AtomicU64,
}

/// A histogram read at one moment, cumulative like Prometheus.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencySnapshot {
    /// `(upper bound in seconds, observations <= bound)`; the last bound is `f64::INFINITY`.
    pub cumulative: Vec<(f64, u64)>,
    /// Sum of all observations, in seconds.
    pub sum_seconds: f64,
    /// Number of observations.
    pub count: u64,
}

impl LatencySnapshot {
    /// The smallest bucket bound that holds at least fraction `q` of the observations.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let want = (self.count as f64 * q).ceil() as u64;
        self.cumulative
            .iter()
            .find(|(_, n)| *n >= want.max(1))
            .map(|(b, _)| *b)
    }
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn record(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = LATENCY_BOUNDS_SECONDS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(LATENCY_BOUNDS_SECONDS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Reads all buckets.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut total = 0;
        let mut cumulative = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            total += b.load(Relaxed);
            let bound = LATENCY_BOUNDS_SECONDS
                .get(i)
                .copied()
                .unwrap_or(f64::INFINITY);
            cumulative.push((bound, total));
        }
        LatencySnapshot {
            cumulative,
            sum_seconds: self.sum_ns.load(Relaxed) as f64 / 1e9,
            count: total,
        }
    }
}
