//! Prometheus `/metrics` on `--metrics-addr`, in the OpenMetrics text format.
//!
//! ```text
//!  watch owner, ruleset syncer, conntrack ──► Metrics (prometheus-client handles, atomics)
//!  verdict workers ──► their own plain atomics ──DataplaneSource (read at scrape)──┐
//!                                                                                   ▼
//!                                                         GET /metrics ──► text encode
//! ```
//!
//! The packet path never touches a metrics lock: workers bump their own atomics, and a scrape
//! copies them into the registry's counters just before encoding.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use verdict_engine::{Tier, Verdict};

use crate::watch::Kind;

/// A snapshot of the packet path's counters, taken at scrape time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataplaneSample {
    /// Packets that did not parse and got the default verdict.
    pub malformed_packets: u64,
    /// Packets the agent could not judge (queue overrun, verdict send failure) and so got the
    /// default verdict.
    pub queue_drops: u64,
    /// Decisions not handed to telemetry because its channel was full.
    pub dropped_decisions: u64,
    /// Valid packets no policy API can name (fragments, other protocols): default verdict.
    pub unsupported_packets: u64,
    /// Evaluations that panicked: default verdict.
    pub engine_panics: u64,
    /// Time from receiving a packet to its verdict, if the packet path measures it.
    pub decision_latency: Option<LatencySample>,
    /// New connections accepted from the kernel verdict cache.
    pub cache_hits: u64,
    /// Flow classes added to the verdict cache.
    pub cache_inserts: u64,
    /// Times the verdict cache's log could not be delivered in full (ENOBUFS).
    pub cache_log_overruns: u64,
    /// Verdict worker restarts after a panic or an exit.
    pub worker_restarts: u64,
    /// Verdict workers down right now.
    pub workers_down: u64,
    /// Verdict cache batches the kernel refused.
    pub cache_errors: u64,
    /// Of those, refused flushes.
    pub cache_flush_errors: u64,
    /// Offers not cached because a cache set was at its size limit.
    pub cache_full: u64,
    /// Offers dropped because the index changed after they were judged.
    pub cache_stale_offers: u64,
    /// Offers dropped because the offer ring was full.
    pub cache_offer_overflow: u64,
    /// Times the writer switched the cache off (a refused flush, or dying).
    pub cache_switched_off: u64,
    /// Whether the cache can be trusted (`None` when the cache is off).
    pub cache_healthy: Option<bool>,
    /// Verdict cache flushes (one per index change).
    pub cache_flushes: u64,
}

/// The `consumer` label of span-queue drops.
const SPANS_CONSUMER: &str = "spans";

/// A latency histogram read at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencySample {
    /// `(upper bound in seconds, observations <= bound)`, cumulative, ending with `+Inf`.
    pub cumulative: Vec<(f64, u64)>,
    /// Sum of the observations in seconds.
    pub sum_seconds: f64,
    /// Number of observations.
    pub count: u64,
}

/// Reads the packet path's counters.
pub type DataplaneSource = Arc<dyn Fn() -> DataplaneSample + Send + Sync>;

type SourceSlot = Arc<std::sync::RwLock<Option<DataplaneSource>>>;

fn read_source(slot: &SourceSlot) -> Option<DataplaneSample> {
    let source = slot.read().unwrap_or_else(|e| e.into_inner()).clone();
    source.map(|f| f())
}

/// Encodes the packet path's latency histogram at scrape time (its buckets live in atomics the
/// workers own, so a prometheus-client `Histogram` cannot hold them).
struct LatencyCollector {
    source: SourceSlot,
}

impl std::fmt::Debug for LatencyCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LatencyCollector")
    }
}

impl Collector for LatencyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(latency) = read_source(&self.source).and_then(|s| s.decision_latency) else {
            return Ok(());
        };
        // The encoder takes per-bucket counts and accumulates them itself.
        let mut previous = 0;
        let buckets: Vec<(f64, u64)> = latency
            .cumulative
            .iter()
            .map(|(bound, total)| {
                let n = total.saturating_sub(previous);
                previous = *total;
                (*bound, n)
            })
            .collect();
        if buckets.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(
            "decision_latency_seconds",
            "Time from receiving a queued packet to its verdict (parse and evaluate)",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(latency.sum_seconds, latency.count, &buckets, None)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    action: &'static str,
    direction: &'static str,
    tier: &'static str,
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyHitLabels {
    kind: String,
    namespace: String,
    name: String,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabels {
    consumer: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KernelQueueLabels {
    queue: u16,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The span pipeline's counters, read at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanSample {
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans in failed export requests.
    pub failed: u64,
    /// Spans dropped because the exporter's queue was full.
    pub dropped: u64,
    /// Decisions the sampler's ratio left out.
    pub sampled_out: u64,
    /// Decisions the per-node span cap dropped.
    pub capped: u64,
}

/// Tells whether the agent is ready (what `/readyz` answers).
pub type ReadySource = Arc<dyn Fn() -> bool + Send + Sync>;

/// Reads the span pipeline's counters.
pub type SpanSource = Arc<dyn Fn() -> SpanSample + Send + Sync>;

/// The default cap on distinct `verdict_policy_hits_total` series.
pub const DEFAULT_POLICY_HITS_CAP: usize = 2000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatementLabels {
    statement: &'static str,
}

/// Every metric the agent exports. Cheap to clone (handles are `Arc`s).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    dataplane: SourceSlot,
    unsupported_packets: Counter,
    engine_panics: Counter,
    decisions: Family<DecisionLabels, Counter>,
    policy_hits: Family<PolicyHitLabels, Counter>,
    policy_hits_series: Arc<std::sync::atomic::AtomicUsize>,
    policy_hits_cap: Arc<std::sync::atomic::AtomicUsize>,
    policy_hits_folded: Counter,
    events_dropped: Family<ConsumerLabels, Counter>,
    spans: Family<OutcomeLabels, Counter>,
    span_source: Arc<std::sync::RwLock<Option<SpanSource>>>,
    cache_log_overruns: Counter,
    cache_attribution_full: Counter,
    kernel_queues: Arc<std::sync::RwLock<Option<(u16, u16)>>>,
    ready_source: Arc<std::sync::RwLock<Option<ReadySource>>>,
    worker_restarts: Counter,
    workers_down: Gauge,
    cache_errors: Counter,
    cache_flush_errors: Counter,
    cache_full: Counter,
    cache_stale_offers: Counter,
    cache_offer_overflow: Counter,
    cache_switched_off: Counter,
    cache_healthy: Gauge,
    queue_kernel_dropped: Family<KernelQueueLabels, Counter>,
    queue_waiting: Family<QueueLabels, Gauge>,
    malformed_packets: Counter,
    queue_drops: Counter,
    dropped_decisions: Counter,
    cache_hits: Counter,
    cache_hits_now_denied: Counter,
    cache_inserts: Counter,
    cache_flushes: Counter,
    index_generation: Gauge,
    index_objects: Family<KindLabels, Gauge>,
    rejected_objects: Family<KindLabels, Counter>,
    watch_events: Family<KindLabels, Counter>,
    sync_latency: Histogram,
    enforce_latency: Histogram,
    ruleset_sync: Histogram,
    queue_statement: Family<StatementLabels, Gauge>,
    apiserver_reachable: Gauge,
    ready: Gauge,
    conntrack_deleted: Counter,
    conntrack_scans: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric under the `verdict_` prefix.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("verdict");
        let decisions = Family::<DecisionLabels, Counter>::default();
        r.register(
            "decisions",
            "Decisions, by action, judged direction(s) (egress, ingress, both, none), deciding tier \
             and source (queue, cache, default); counted from the decision event stream",
            decisions.clone(),
        );
        let policy_hits = Family::<PolicyHitLabels, Counter>::default();
        r.register(
            "policy_hits",
            "Decisions made by each policy rule (kind, namespace, name, rule); isolation defaults \
             count under rule=\"isolation\"; distinct series are capped (see policy_hits_folded)",
            policy_hits.clone(),
        );
        let policy_hits_folded = Counter::default();
        r.register(
            "policy_hits_folded",
            "Policy hits not given a series of their own because the series cap was reached",
            policy_hits_folded.clone(),
        );
        let events_dropped = Family::<ConsumerLabels, Counter>::default();
        r.register(
            "events_dropped",
            "Decision events a consumer did not get because its bounded hand-off was full \
             (handoff: between the verdict threads and telemetry; dashboard; spans)",
            events_dropped.clone(),
        );
        let spans = Family::<OutcomeLabels, Counter>::default();
        r.register(
            "spans",
            "Decision spans, by outcome: exported, failed (export request failed), sampled_out \
             (allow-sampling ratio), capped (per-node span cap)",
            spans.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let worker_restarts = counter(
            "worker_restarts",
            "Verdict worker threads restarted after a panic or an exit",
        );
        let cache_errors = counter("cache_errors", "Verdict cache batches the kernel refused");
        let cache_flush_errors = counter(
            "cache_flush_errors",
            "Verdict cache flushes the kernel refused (the cache is switched off until one succeeds)",
        );
        let cache_full = counter(
            "cache_full",
            "Allowed flow classes not cached because a cache set held its maximum of entries \
             (they are judged from the queue instead)",
        );
        let cache_stale_offers = counter(
            "cache_stale_offers",
            "Cache offers dropped because the index changed after they were judged",
        );
        let cache_offer_overflow = counter(
            "cache_offer_overflow",
            "Cache offers dropped because the offer ring was full",
        );
        let cache_switched_off = counter(
            "cache_switched_off",
            "Times the cache writer switched the verdict cache off (a refused flush, or dying)",
        );
        let workers_down = Gauge::default();
        r.register(
            "workers_down",
            "Verdict worker threads down right now (the agent is not ready meanwhile)",
            workers_down.clone(),
        );
        let cache_healthy = Gauge::default();
        r.register(
            "cache_healthy",
            "1 while the verdict cache's writer runs and its last flush succeeded (0 also when off)",
            cache_healthy.clone(),
        );
        let queue_kernel_dropped = Family::<KernelQueueLabels, Counter>::default();
        r.register(
            "queue_kernel_dropped",
            "Packets the kernel dropped before any worker saw them, from \
             /proc/net/netfilter/nfnetlink_queue: reason=queue_full (fail-closed; with \
             fail-open they are accepted and counted nowhere) or socket_full (the worker's socket \
             buffer overflowed)",
            queue_kernel_dropped.clone(),
        );
        let queue_waiting = Family::<QueueLabels, Gauge>::default();
        r.register(
            "queue_waiting",
            "Packets waiting in each queue for a verdict, as the kernel reports it",
            queue_waiting.clone(),
        );
        let cache_attribution_full = Counter::default();
        r.register(
            "cache_attribution_full",
            "Allowed flow classes the telemetry could not remember (its table was full), so \
             their cached accepts are reported without the judgement that cached them",
            cache_attribution_full.clone(),
        );
        let cache_log_overruns = Counter::default();
        r.register(
            "cache_log_overruns",
            "Times the kernel could not deliver verdict-cache log messages (receive buffer full); \
             cached accepts were lost from the report",
            cache_log_overruns.clone(),
        );
        let malformed_packets = Counter::default();
        r.register(
            "malformed_packets",
            "Queued packets that did not parse and got the default verdict",
            malformed_packets.clone(),
        );
        let queue_drops = Counter::default();
        r.register(
            "queue_drops",
            "Receive errors on the queue sockets (ENOBUFS: packets the kernel dropped) and \
             verdicts the kernel refused; see queue_kernel_dropped for the kernel's own counts",
            queue_drops.clone(),
        );
        let dropped_decisions = events_dropped
            .get_or_create(&ConsumerLabels {
                consumer: "handoff",
            })
            .clone();
        let cache_hits = Counter::default();
        r.register(
            "cache_hits",
            "New connections the kernel accepted from the verdict cache (counted in decisions too)",
            cache_hits.clone(),
        );
        let cache_hits_now_denied = Counter::default();
        r.register(
            "cache_stale_accepts",
            "Cached accepts whose cached judgement came from an older index than the current one \
             (accepted between an index change and the cache flush it causes)",
            cache_hits_now_denied.clone(),
        );
        let cache_inserts = Counter::default();
        r.register(
            "cache_inserts",
            "Flow classes added to the kernel verdict cache",
            cache_inserts.clone(),
        );
        let cache_flushes = Counter::default();
        r.register(
            "cache_flushes",
            "Kernel verdict cache flushes (one per index change)",
            cache_flushes.clone(),
        );
        let unsupported_packets = Counter::default();
        r.register(
            "unsupported_packets",
            "Queued packets no policy API can name (fragments, other protocols); default verdict",
            unsupported_packets.clone(),
        );
        let engine_panics = Counter::default();
        r.register(
            "engine_panics",
            "Evaluations that panicked; the packet got the default verdict",
            engine_panics.clone(),
        );
        let dataplane: SourceSlot = Arc::default();
        r.register_collector(Box::new(LatencyCollector {
            source: dataplane.clone(),
        }));
        let index_generation = Gauge::default();
        r.register(
            "index_generation",
            "Generation of the published policy index snapshot",
            index_generation.clone(),
        );
        let index_objects = Family::<KindLabels, Gauge>::default();
        r.register(
            "index_objects",
            "Objects in the policy index, by kind",
            index_objects.clone(),
        );
        let rejected_objects = Family::<KindLabels, Counter>::default();
        r.register(
            "index_rejected_objects",
            "Objects the engine rejected as invalid, by kind",
            rejected_objects.clone(),
        );
        let watch_events = Family::<KindLabels, Counter>::default();
        r.register(
            "watch_events",
            "Watch events received, by kind",
            watch_events.clone(),
        );
        let sync_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        r.register(
            "sync_latency_seconds",
            "Time from a watch event to the snapshot that includes it",
            sync_latency.clone(),
        );
        let enforce_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        r.register(
            "policy_enforce_latency_seconds",
            "Time from the first watch event of a policy or label change to its enforcement: \
             the new index published to the verdict workers and, when the change alters the \
             kernel's pod sets, the ruleset batch committed",
            enforce_latency.clone(),
        );
        let ruleset_sync = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        r.register(
            "ruleset_sync_seconds",
            "Time to write one ruleset update to the kernel",
            ruleset_sync.clone(),
        );
        let queue_statement = Family::<StatementLabels, Gauge>::default();
        r.register(
            "queue_statement_info",
            "The nftables statement that feeds the queues (native queue or xt NFQUEUE)",
            queue_statement.clone(),
        );
        let apiserver_reachable = Gauge::default();
        r.register(
            "apiserver_reachable",
            "1 while every watch is connected to the API server",
            apiserver_reachable.clone(),
        );
        let ready = Gauge::default();
        r.register("ready", "1 when the agent is ready", ready.clone());
        let conntrack_deleted = Counter::default();
        r.register(
            "conntrack_deleted",
            "Conntrack entries deleted by strict mode",
            conntrack_deleted.clone(),
        );
        let conntrack_scans = Counter::default();
        r.register(
            "conntrack_scans",
            "Strict-mode scans of conntrack after an index change",
            conntrack_scans.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            dataplane,
            unsupported_packets,
            engine_panics,
            decisions,
            policy_hits,
            policy_hits_series: Arc::default(),
            policy_hits_cap: Arc::new(std::sync::atomic::AtomicUsize::new(DEFAULT_POLICY_HITS_CAP)),
            policy_hits_folded,
            events_dropped,
            spans,
            span_source: Arc::default(),
            cache_log_overruns,
            cache_attribution_full,
            kernel_queues: Arc::default(),
            ready_source: Arc::default(),
            worker_restarts,
            workers_down,
            cache_errors,
            cache_flush_errors,
            cache_full,
            cache_stale_offers,
            cache_offer_overflow,
            cache_switched_off,
            cache_healthy,
            queue_kernel_dropped,
            queue_waiting,
            malformed_packets,
            queue_drops,
            dropped_decisions,
            cache_hits,
            cache_hits_now_denied,
            cache_inserts,
            cache_flushes,
            index_generation,
            index_objects,
            rejected_objects,
            watch_events,
            sync_latency,
            enforce_latency,
            ruleset_sync,
            queue_statement,
            apiserver_reachable,
            ready,
            conntrack_deleted,
            conntrack_scans,
        }
    }

    /// Counts one decision event: `verdict_decisions_total` and the deciding rule's
    /// `verdict_policy_hits_total`.
    pub fn observe_event(&self, event: &verdict_events::DecisionEvent) {
        let direction = match (&event.egress, &event.ingress) {
            (Some(_), Some(_)) => "both",
            (Some(_), None) => "egress",
            (None, Some(_)) => "ingress",
            (None, None) => "none",
        };
        self.decisions
            .get_or_create(&DecisionLabels {
                action: verdict_name(event.verdict),
                direction,
                tier: tier_name(event.tier),
                source: event.source.as_str(),
            })
            .inc();
        for d in event.directions() {
            let hit = match (&d.policy, d.isolated_by.first()) {
                (Some(policy), _) => Some((
                    policy,
                    d.rule.as_ref().map_or_else(
                        || "none".to_owned(),
                        |r| {
                            r.name
                                .as_deref()
                                .map_or_else(|| r.index.to_string(), str::to_owned)
                        },
                    ),
                )),
                // A NetworkPolicy default deny: every isolating policy "decided" together; the
                // first (sorted) stands for them, under rule "isolation".
                (None, Some(first)) => Some((first, "isolation".to_owned())),
                (None, None) => None,
            };
            if let Some((policy, rule)) = hit {
                self.policy_hit(policy, rule);
            }
        }
    }

    fn policy_hit(&self, policy: &verdict_engine::PolicyRef, rule: String) {
        use std::sync::atomic::Ordering::Relaxed;
        let labels = PolicyHitLabels {
            kind: format!("{:?}", policy.kind),
            namespace: policy.namespace.as_deref().unwrap_or("").to_owned(),
            name: policy.name.to_string(),
            rule,
        };
        if let Some(counter) = self.policy_hits.get(&labels) {
            counter.inc();
            return;
        }
        if self.policy_hits_series.load(Relaxed) >= self.policy_hits_cap.load(Relaxed) {
            self.policy_hits_folded.inc();
            return;
        }
        self.policy_hits_series.fetch_add(1, Relaxed);
        self.policy_hits.get_or_create(&labels).inc();
    }

    /// Caps the number of distinct `verdict_policy_hits_total` series (`--policy-hits-cap`).
    pub fn set_policy_hits_cap(&self, cap: usize) {
        self.policy_hits_cap
            .store(cap, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records the event builder's counts: cached accepts judged on an older index than the
    /// current one (stale), and classes it could not remember for attribution.
    pub fn set_attribution_counts(&self, stale_cache_accepts: u64, attribution_full: u64) {
        store(&self.cache_hits_now_denied, stale_cache_accepts);
        store(&self.cache_attribution_full, attribution_full);
    }

    /// Counts events that `consumer` (`dashboard`, `spans`) did not take.
    pub fn events_dropped(&self, consumer: &'static str, n: u64) {
        self.events_dropped
            .get_or_create(&ConsumerLabels { consumer })
            .inc_by(n);
    }

    /// The drop counters a dashboard shows: decisions lost at the handoff, spans lost, queue
    /// drops, read now.
    pub fn drop_counts(&self) -> Vec<(String, u64)> {
        let dataplane = read_source(&self.dataplane).unwrap_or_default();
        let spans = self
            .span_source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .map(|f| f())
            .unwrap_or_default();
        let dashboard = self
            .events_dropped
            .get(&ConsumerLabels {
                consumer: "dashboard",
            })
            .map_or(0, |c| c.get());
        [
            ("queue", dataplane.queue_drops),
            ("malformed", dataplane.malformed_packets),
            ("events_handoff", dataplane.dropped_decisions),
            ("events_dashboard", dashboard),
            ("events_spans", spans.dropped),
            ("spans_failed", spans.failed),
            ("spans_capped", spans.capped),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Sets where the span pipeline's counters are read from at scrape time.
    pub fn set_spans(&self, source: SpanSource) {
        *self.span_source.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
        // Make the series visible before the first span.
        for outcome in ["exported", "failed", "sampled_out", "capped"] {
            let _ = self.spans.get_or_create(&OutcomeLabels { outcome });
        }
        self.events_dropped(SPANS_CONSUMER, 0);
    }

    /// Sets where the packet path's counters are read from at scrape time.
    pub fn set_dataplane(&self, source: DataplaneSource) {
        *self.dataplane.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// Records the published index generation.
    pub fn set_generation(&self, generation: u64) {
        self.index_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    /// Records how many objects of a kind the index holds.
    pub fn set_objects(&self, kind: Kind, count: usize) {
        self.index_objects
            .get_or_create(&KindLabels { kind: kind.name() })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts a watch event.
    pub fn watch_event(&self, kind: Kind) {
        self.watch_events
            .get_or_create(&KindLabels { kind: kind.name() })
            .inc();
    }

    /// Counts an object the engine rejected.
    pub fn rejected(&self, kind: Kind) {
        self.rejected_objects
            .get_or_create(&KindLabels { kind: kind.name() })
            .inc();
    }

    /// Records the delay from a watch event to its snapshot.
    pub fn observe_sync_latency(&self, d: Duration) {
        self.sync_latency.observe(d.as_secs_f64());
    }

    /// Reads readiness at every scrape (`verdict_ready` then follows `/readyz`, checks included).
    pub fn set_ready_source(&self, ready: ReadySource) {
        *self.ready_source.write().unwrap_or_else(|e| e.into_inner()) = Some(ready);
    }

    /// Reads the kernel's counters of queues `base..base+count` at every scrape.
    pub fn set_kernel_queues(&self, base: u16, count: u16) {
        *self
            .kernel_queues
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some((base, count));
    }

    fn store_kernel_queue_stats(&self, stats: &[crate::queue::kernel::QueueStats]) {
        for q in stats {
            for (reason, n) in [
                ("queue_full", q.queue_dropped),
                ("socket_full", q.user_dropped),
            ] {
                store(
                    &self.queue_kernel_dropped.get_or_create(&KernelQueueLabels {
                        queue: q.queue,
                        reason,
                    }),
                    n,
                );
            }
            self.queue_waiting
                .get_or_create(&QueueLabels { queue: q.queue })
                .set(i64::from(q.waiting));
        }
    }

    /// Records one policy change → enforced delay.
    pub fn observe_enforce_latency(&self, d: Duration) {
        self.enforce_latency.observe(d.as_secs_f64());
    }

    /// Records one ruleset update.
    pub fn observe_ruleset_sync(&self, d: Duration) {
        self.ruleset_sync.observe(d.as_secs_f64());
    }

    /// Records the queue statement in use (`native` or `xt-compat`).
    pub fn set_queue_statement(&self, statement: &'static str) {
        self.queue_statement.clear();
        self.queue_statement
            .get_or_create(&StatementLabels { statement })
            .set(1);
    }

    /// Records whether the API server is reachable.
    pub fn set_apiserver_reachable(&self, up: bool) {
        self.apiserver_reachable.set(i64::from(up));
    }

    /// Records readiness.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Counts one strict-mode scan and the entries it deleted.
    pub fn conntrack_scan(&self, deleted: u64) {
        self.conntrack_scans.inc();
        self.conntrack_deleted.inc_by(deleted);
    }

    /// Copies the packet path's counters in and encodes everything as OpenMetrics text.
    pub fn render(&self) -> String {
        let span_source = self
            .span_source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(sample) = span_source.map(|f| f()) {
            for (outcome, n) in [
                ("exported", sample.exported),
                ("failed", sample.failed),
                ("sampled_out", sample.sampled_out),
                ("capped", sample.capped),
            ] {
                store(&self.spans.get_or_create(&OutcomeLabels { outcome }), n);
            }
            store(
                &self.events_dropped.get_or_create(&ConsumerLabels {
                    consumer: SPANS_CONSUMER,
                }),
                sample.dropped,
            );
        }
        let queues = *self.kernel_queues.read().unwrap_or_else(|e| e.into_inner());
        if let Some((base, count)) = queues
            && let Ok(stats) = crate::queue::kernel::read_stats(base, count)
        {
            self.store_kernel_queue_stats(&stats);
        }
        let ready = self
            .ready_source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(ready) = ready {
            self.ready.set(i64::from(ready()));
        }
        if let Some(sample) = read_source(&self.dataplane) {
            store(&self.cache_log_overruns, sample.cache_log_overruns);
            store(&self.worker_restarts, sample.worker_restarts);
            self.workers_down
                .set(i64::try_from(sample.workers_down).unwrap_or(i64::MAX));
            store(&self.cache_errors, sample.cache_errors);
            store(&self.cache_flush_errors, sample.cache_flush_errors);
            store(&self.cache_full, sample.cache_full);
            store(&self.cache_stale_offers, sample.cache_stale_offers);
            store(&self.cache_offer_overflow, sample.cache_offer_overflow);
            store(&self.cache_switched_off, sample.cache_switched_off);
            self.cache_healthy
                .set(i64::from(sample.cache_healthy.unwrap_or(false)));
            store(&self.malformed_packets, sample.malformed_packets);
            store(&self.queue_drops, sample.queue_drops);
            store(&self.dropped_decisions, sample.dropped_decisions);
            store(&self.unsupported_packets, sample.unsupported_packets);
            store(&self.engine_panics, sample.engine_panics);
            store(&self.cache_hits, sample.cache_hits);
            store(&self.cache_inserts, sample.cache_inserts);
            store(&self.cache_flushes, sample.cache_flushes);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn store(counter: &Counter, value: u64) {
    counter
        .inner()
        .store(value, std::sync::atomic::Ordering::Relaxed);
}

/// The label value for a verdict.
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
    }
}

/// The label value for a tier.
pub fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::AdminNetworkPolicy => "admin-network-policy",
        Tier::NetworkPolicy => "network-policy",
        Tier::BaselineAdminNetworkPolicy => "baseline-admin-network-policy",
        Tier::Default => "default",
    }
}

/// The `/metrics` route.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(serve))
        .with_state(metrics)
}

async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn scrape(metrics: &Metrics) -> String {
        let response = router(metrics.clone())
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text"),
            "content type"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn scrape_shows_control_and_dataplane_metrics() {
        let metrics = Metrics::new();
        metrics.set_generation(7);
        metrics.set_objects(Kind::Pod, 3);
        metrics.watch_event(Kind::NetworkPolicy);
        metrics.rejected(Kind::AdminNetworkPolicy);
        metrics.set_queue_statement("native");
        metrics.set_queue_statement("xt-compat");
        metrics.set_apiserver_reachable(true);
        metrics.conntrack_scan(2);
        metrics.set_dataplane(Arc::new(|| DataplaneSample {
            malformed_packets: 2,
            queue_drops: 1,
            dropped_decisions: 5,
            unsupported_packets: 3,
            engine_panics: 0,
            decision_latency: Some(LatencySample {
                cumulative: vec![(1e-6, 2), (1e-5, 9), (f64::INFINITY, 10)],
                sum_seconds: 0.5,
                count: 10,
            }),
            cache_hits: 6,
            cache_inserts: 3,
            cache_flushes: 2,
            cache_log_overruns: 4,
            worker_restarts: 2,
            workers_down: 1,
            cache_flush_errors: 3,
            cache_healthy: Some(false),
            ..DataplaneSample::default()
        }));
        metrics.set_attribution_counts(1, 0);
        let text = scrape(&metrics).await;
        let want = [
            "verdict_index_generation 7",
            "verdict_index_objects{kind=\"Pod\"} 3",
            "verdict_watch_events_total{kind=\"NetworkPolicy\"} 1",
            "verdict_index_rejected_objects_total{kind=\"AdminNetworkPolicy\"} 1",
            "verdict_queue_statement_info{statement=\"xt-compat\"} 1",
            "verdict_apiserver_reachable 1",
            "verdict_conntrack_deleted_total 2",
            "verdict_conntrack_scans_total 1",
            "verdict_malformed_packets_total 2",
            "verdict_queue_drops_total 1",
            "verdict_events_dropped_total{consumer=\"handoff\"} 5",
            "verdict_cache_log_overruns_total 4",
            "verdict_worker_restarts_total 2",
            "verdict_workers_down 1",
            "verdict_cache_flush_errors_total 3",
            "verdict_cache_healthy 0",
            "verdict_unsupported_packets_total 3",
            "verdict_cache_hits_total 6",
            "verdict_cache_stale_accepts_total 1",
            "verdict_cache_inserts_total 3",
            "verdict_cache_flushes_total 2",
            "verdict_decision_latency_seconds_count 10",
            "verdict_decision_latency_seconds_bucket{le=\"0.000001\"} 2",
            "verdict_decision_latency_seconds_bucket{le=\"0.00001\"} 9",
            "verdict_decision_latency_seconds_bucket{le=\"+Inf\"} 10",
            "# EOF",
        ];
        for line in want {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(
            !text.contains("statement=\"native\""),
            "only the current statement is shown"
        );
    }

    fn event(
        verdict: Verdict,
        source: verdict_events::DecisionSource,
        direction: Option<verdict_engine::DirectionDecision>,
    ) -> verdict_events::DecisionEvent {
        verdict_events::DecisionEvent {
            id: "n/1".into(),
            seq: 1,
            time_unix_nano: 0,
            node: Arc::from("n"),
            verdict,
            tier: direction.as_ref().map_or(Tier::Default, |d| d.tier),
            source,
            defaulted: None,
            queue: None,
            flow: None,
            src: None,
            dst: None,
            src_uid: None,
            dst_uid: None,
            egress: None,
            ingress: direction,
            hold_ns: 0,
            generation: 1,
            trace_id: verdict_events::TraceId([7; 16]),
            explanation: String::new(),
        }
    }

    fn ingress(
        verdict: Verdict,
        tier: Tier,
        policy: Option<&str>,
        rule: Option<usize>,
        isolated_by: &[&str],
    ) -> verdict_engine::DirectionDecision {
        // Built from JSON so that fields the engine adds later (with serde defaults) do not
        // need to be spelled out here.
        let np = |name: &str| serde_json::json!({"kind": "NetworkPolicy", "namespace": "x", "name": name});
        serde_json::from_value(serde_json::json!({
            "direction": "ingress",
            "verdict": verdict,
            "tier": tier,
            "policy": policy.map(np),
            "rule": rule.map(|index| serde_json::json!({"index": index, "name": null})),
            "isolated_by": isolated_by.iter().map(|n| np(n)).collect::<Vec<_>>(),
            "passed_by": [],
        }))
        .expect("a direction decision")
    }

    #[tokio::test]
    async fn the_kernels_queue_counters_are_exported_per_queue() {
        let metrics = Metrics::new();
        let stats = crate::queue::kernel::parse_stats(
            "  100  12345     3 2   128     7     2     991  1\n  101  12346 0 2 128 0 0 9 1\n",
        );
        metrics.store_kernel_queue_stats(&stats);
        let text = scrape(&metrics).await;
        for line in [
            "verdict_queue_kernel_dropped_total{queue=\"100\",reason=\"queue_full\"} 7",
            "verdict_queue_kernel_dropped_total{queue=\"100\",reason=\"socket_full\"} 2",
            "verdict_queue_kernel_dropped_total{queue=\"101\",reason=\"queue_full\"} 0",
            "verdict_queue_waiting{queue=\"100\"} 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }

    #[tokio::test]
    async fn events_count_decisions_and_policy_hits_with_a_series_cap() {
        use verdict_events::DecisionSource::{Cache, Queue};
        let metrics = Metrics::new();
        metrics.set_policy_hits_cap(2);
        let allow = ingress(
            Verdict::Allow,
            Tier::NetworkPolicy,
            Some("web"),
            Some(0),
            &[],
        );
        let deny = ingress(
            Verdict::Deny,
            Tier::NetworkPolicy,
            None,
            None,
            &["deny-all"],
        );
        let third = ingress(
            Verdict::Allow,
            Tier::NetworkPolicy,
            Some("db"),
            Some(1),
            &[],
        );
        metrics.observe_event(&event(Verdict::Allow, Queue, Some(allow.clone())));
        metrics.observe_event(&event(Verdict::Allow, Cache, Some(allow)));
        metrics.observe_event(&event(Verdict::Deny, Queue, Some(deny)));
        metrics.observe_event(&event(Verdict::Allow, Queue, Some(third)));
        metrics.observe_event(&event(
            Verdict::Allow,
            verdict_events::DecisionSource::Default,
            None,
        ));
        let text = scrape(&metrics).await;
        for line in [
            "verdict_decisions_total{action=\"allow\",direction=\"ingress\",tier=\"network-policy\",source=\"queue\"} 2",
            "verdict_decisions_total{action=\"allow\",direction=\"ingress\",tier=\"network-policy\",source=\"cache\"} 1",
            "verdict_decisions_total{action=\"deny\",direction=\"ingress\",tier=\"network-policy\",source=\"queue\"} 1",
            "verdict_decisions_total{action=\"allow\",direction=\"none\",tier=\"default\",source=\"default\"} 1",
            "verdict_policy_hits_total{kind=\"NetworkPolicy\",namespace=\"x\",name=\"web\",rule=\"0\"} 2",
            "verdict_policy_hits_total{kind=\"NetworkPolicy\",namespace=\"x\",name=\"deny-all\",rule=\"isolation\"} 1",
            "verdict_policy_hits_folded_total 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(
            !text.contains("name=\"db\""),
            "the third series is over the cap"
        );
    }

    #[tokio::test]
    async fn dataplane_counters_follow_the_source_between_scrapes() {
        let metrics = Metrics::new();
        let count = Arc::new(std::sync::atomic::AtomicU64::new(1));
        let c = count.clone();
        metrics.set_dataplane(Arc::new(move || DataplaneSample {
            malformed_packets: c.load(std::sync::atomic::Ordering::Relaxed),
            ..DataplaneSample::default()
        }));
        assert!(
            scrape(&metrics)
                .await
                .contains("verdict_malformed_packets_total 1\n")
        );
        count.store(9, std::sync::atomic::Ordering::Relaxed);
        assert!(
            scrape(&metrics)
                .await
                .contains("verdict_malformed_packets_total 9\n")
        );
    }
}
