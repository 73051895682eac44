//! Reports the connections the kernel accepted from the verdict cache, read back from the
//! cache rules' nfnetlink_log group.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tracing::debug;
use verdict_engine::{Index, Verdict};

use crate::Result;
use crate::nflog::{LogConfig, LogListener, LoggedPacket};
use crate::packet;
use crate::queue::judge::NodeDecision;
use crate::queue::{Counters, DecisionSink};
use verdict_events::DecisionSource;

/// The running reader thread. Dropping it stops the thread (within the receive timeout).
#[derive(Debug)]
pub struct CacheLogReader {
    _thread: super::StoppableThread,
}

impl CacheLogReader {
    /// Binds log group `group` in the current network namespace, then reads it on a thread.
    ///
    /// Each logged packet is counted and, with `decisions`, handed to telemetry marked
    /// `cached`, without a judgement: the telemetry attributes it to the queued decision that
    /// put its class into the cache, and counts it stale when that decision was judged on an
    /// older index than the current one.
    ///
    /// # Errors
    /// When the log group cannot be bound (another process holds it, or no CAP_NET_ADMIN).
    pub fn start(
        group: u16,
        node: Arc<str>,
        snapshot: Arc<ArcSwap<Index>>,
        counters: Arc<Counters>,
        decisions: Option<DecisionSink>,
    ) -> Result<CacheLogReader> {
        let listener = LogListener::open(&LogConfig {
            group,
            ..LogConfig::default()
        })?;
        let thread = super::StoppableThread::spawn("verdict-cache-log", move |stop| {
            run(listener, node, snapshot, counters, decisions, stop)
        })?;
        Ok(CacheLogReader { _thread: thread })
    }
}

fn run(
    mut listener: LogListener,
    node: Arc<str>,
    snapshot: Arc<ArcSwap<Index>>,
    counters: Arc<Counters>,
    decisions: Option<DecisionSink>,
    stop: Arc<AtomicBool>,
) {
    let mut batch: Vec<LoggedPacket> = Vec::new();
    while !stop.load(Relaxed) {
        if let Err(e) = listener.recv_batch(&mut batch) {
            debug!(error = %e, "verdict cache log receive failed");
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        counters
            .cache_log_overruns
            .store(listener.overruns(), Relaxed);
        let generation = snapshot.load().generation();
        for logged in batch.drain(..) {
            let Ok((flow, token)) = packet::parse_first_packet(&logged.payload) else {
                continue;
            };
            counters.cache_hits.fetch_add(1, Relaxed);
            // No judgement here: the telemetry reports the accept with the judgement that
            // put the class into the cache (verdict_events::CacheAttribution).
            if let Some(sink) = &decisions {
                let decision = NodeDecision {
                    flow: Some(flow),
                    verdict: Verdict::Allow,
                    judgement: None,
                    node: node.clone(),
                    source: DecisionSource::Cache,
                    defaulted: None,
                    queue: None,
                    generation,
                    connection_token: token,
                    // The kernel's arrival time when it sends one (forward and input hooks).
                    received: logged.timestamp.unwrap_or_else(SystemTime::now),
                    hold: Duration::ZERO,
                };
                if !sink.push(decision) {
                    counters.dropped_decisions.fetch_add(1, Relaxed);
                }
            }
        }
    }
}
