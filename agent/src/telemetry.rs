//! The telemetry fan-out: one task turns every decision into one event and hands it to each
//! consumer.
//!
//! ```text
//!  verdict threads ─┐ NodeDecision
//!  cache log reader ┴─► handoff ring (bounded; full: events_dropped{consumer="handoff"})
//!                          │ drained every 5 ms by this task (the threads never wake it)
//!                          ▼
//!            EventBuilder::build ─► Arc<DecisionEvent>
//!                ├─► metrics: verdict_decisions_total, verdict_policy_hits_total
//!                ├─► dashboard hub (history ring + broadcast; full: counted "dashboard")
//!                └─► Sampler ─keep─► span_records ─► SpanQueue (bounded; full: counted "spans")
//!                                                      └─► OTLP export task
//! ```
//!
//! Nothing here blocks: a slow collector or a slow dashboard loses events, counted per
//! consumer, and never slows the packet path or the other consumers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use arc_swap::ArcSwap;
use verdict_engine::Index;
use verdict_events::spans::{SpanQueue, span_records};
use verdict_events::{DecisionEvent, EventBuilder, SampleOutcome, Sampler};

use crate::metrics::{Metrics, SpanSample};
use crate::queue::DecisionTap;

/// Hands an event to the dashboard; `false` when it had no room (counted as a drop).
pub type Publish = Arc<dyn Fn(Arc<DecisionEvent>) -> bool + Send + Sync>;

/// The consumers of the event stream besides metrics.
pub struct Consumers {
    /// The span pipeline and its sampler, when `--otlp-endpoint` is set.
    pub spans: Option<(SpanQueue, Sampler)>,
    /// The dashboard, when `--dashboard-addr` is set.
    pub dashboard: Option<Publish>,
}

/// Counts the sampler's decisions (the span queue counts its own).
#[derive(Debug, Default)]
pub struct SamplerCounters {
    /// Left out by the ratio.
    pub sampled_out: AtomicU64,
    /// Dropped by the per-node cap.
    pub capped: AtomicU64,
}

/// Runs until every sink of `tap` is gone and the ring is drained.
pub async fn run(
    tap: DecisionTap,
    snapshot: Arc<ArcSwap<Index>>,
    mut builder: EventBuilder,
    mut consumers: Consumers,
    metrics: Metrics,
) {
    let sampler_counters = Arc::new(SamplerCounters::default());
    if let Some((queue, _)) = &consumers.spans {
        let counters = queue.counters();
        let sampled = sampler_counters.clone();
        metrics.set_spans(Arc::new(move || SpanSample {
            exported: counters.exported.load(Relaxed),
            failed: counters.export_failed.load(Relaxed),
            dropped: counters.dropped_queue_full.load(Relaxed),
            sampled_out: sampled.sampled_out.load(Relaxed),
            capped: sampled.capped.load(Relaxed),
        }));
    }
    if consumers.dashboard.is_some() {
        metrics.events_dropped("dashboard", 0);
    }
    loop {
        let batch = tap.next_batch().await;
        if batch.is_empty() {
            // Every sink is gone (the workers stopped) and everything was drained.
            return;
        }
        let index = snapshot.load();
        let now = Instant::now();
        let built = builder.last_seq();
        for decision in batch {
            let event = Arc::new(builder.build(decision, &index));
            metrics.observe_event(&event);
            if let Some(publish) = &consumers.dashboard
                && !publish(event.clone())
            {
                metrics.events_dropped("dashboard", 1);
            }
            if let Some((queue, sampler)) = &mut consumers.spans {
                match sampler.decide(&event.trace_id, event.verdict, now) {
                    SampleOutcome::Keep => {
                        queue.offer(span_records(&event));
                    }
                    SampleOutcome::SampledOut => {
                        sampler_counters.sampled_out.fetch_add(1, Relaxed);
                    }
                    SampleOutcome::Capped => {
                        sampler_counters.capped.fetch_add(1, Relaxed);
                    }
                }
            }
        }
        if builder.last_seq() != built {
            metrics
                .set_attribution_counts(builder.stale_cache_accepts(), builder.attribution_full());
        }
    }
}
