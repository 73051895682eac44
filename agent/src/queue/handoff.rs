//! Handing decisions from the verdict threads to telemetry without waking anybody.
//!
//! ```text
//!   verdict thread ── push (lock-free, never blocks, never a syscall) ──► ring (bounded)
//!                       full: the decision is counted as dropped               │
//!   telemetry side  ◄── drain every `poll` (default 5 ms) ──────────────────────┘
//! ```
//!
//! A channel whose receiver sleeps until a message arrives makes every decision wake a thread:
//! a futex call on the packet path and a context switch on a CPU that is busy forwarding
//! packets. Measured with the connection benchmark, that wake-up cost more than the engine.
//! Here the consumer polls on its own clock instead, so the verdict threads never make a system
//! call for telemetry, and a burst of decisions is drained in one go.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use super::judge::NodeDecision;

/// How often a consumer looks for new decisions by default.
pub const DEFAULT_POLL: Duration = Duration::from_millis(5);

/// Creates a handoff that holds up to `capacity` undrained decisions.
pub fn handoff(capacity: usize) -> (DecisionSink, DecisionTap) {
    let ring = Arc::new(ArrayQueue::new(capacity.max(1)));
    let tap_gone = Arc::new(AtomicBool::new(false));
    (
        DecisionSink {
            ring: ring.clone(),
            tap_gone: tap_gone.clone(),
        },
        DecisionTap {
            ring,
            poll: DEFAULT_POLL,
            tap_gone,
        },
    )
}

/// The verdict threads' end: cheap to clone, one per thread.
#[derive(Clone, Debug)]
pub struct DecisionSink {
    ring: Arc<ArrayQueue<NodeDecision>>,
    /// Set when the tap is dropped. (Counting the ring's references cannot tell: every clone
    /// of a sink holds one too.)
    tap_gone: Arc<AtomicBool>,
}

impl DecisionSink {
    /// Hands over one decision; `false` when the ring is full and the decision was dropped
    /// (the caller counts it). Never blocks and never wakes the consumer.
    pub fn push(&self, decision: NodeDecision) -> bool {
        self.ring.push(decision).is_ok()
    }

    /// Whether the tap is gone, so pushing is pointless.
    pub fn is_closed(&self) -> bool {
        self.tap_gone.load(Ordering::Relaxed)
    }
}

/// The telemetry end.
#[derive(Debug)]
pub struct DecisionTap {
    ring: Arc<ArrayQueue<NodeDecision>>,
    poll: Duration,
    tap_gone: Arc<AtomicBool>,
}

impl Drop for DecisionTap {
    fn drop(&mut self) {
        self.tap_gone.store(true, Ordering::Relaxed);
    }
}

impl DecisionTap {
    /// Polls every `poll` instead of [`DEFAULT_POLL`].
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Moves every waiting decision into `out`, oldest first; returns how many.
    pub fn drain_into(&self, out: &mut Vec<NodeDecision>) -> usize {
        let before = out.len();
        while let Some(d) = self.ring.pop() {
            out.push(d);
        }
        out.len() - before
    }

    /// Whether every sink is gone (the workers stopped) and nothing is left to drain.
    pub fn is_finished(&self) -> bool {
        Arc::strong_count(&self.ring) == 1 && self.ring.is_empty()
    }

    /// Waits on a tokio runtime until at least one decision is waiting, then drains them all.
    /// Returns an empty batch once the workers have stopped and everything was drained.
    pub async fn next_batch(&self) -> Vec<NodeDecision> {
        let mut out = Vec::new();
        loop {
            if self.drain_into(&mut out) > 0 || self.is_finished() {
                return out;
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// [`next_batch`](Self::next_batch) for a plain thread.
    pub fn blocking_next_batch(&self) -> Vec<NodeDecision> {
        let mut out = Vec::new();
        loop {
            if self.drain_into(&mut out) > 0 || self.is_finished() {
                return out;
            }
            std::thread::sleep(self.poll);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::SystemTime;

    use verdict_engine::{Flow, Protocol, Verdict};
    use verdict_events::DecisionSource;

    use super::*;

    fn decision(port: u16) -> NodeDecision {
        NodeDecision {
            flow: Some(Flow {
                src_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                src_port: 40000,
                dst_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                dst_port: port,
                protocol: Protocol::Tcp,
            }),
            judgement: None,
            verdict: Verdict::Allow,
            node: Arc::from("n"),
            source: DecisionSource::Queue,
            defaulted: None,
            queue: Some(0),
            generation: 1,
            connection_token: None,
            received: SystemTime::UNIX_EPOCH,
            hold: Duration::ZERO,
        }
    }

    #[test]
    fn drains_in_order_and_refuses_when_full() {
        let (sink, tap) = handoff(2);
        assert!(sink.push(decision(1)));
        assert!(sink.clone().push(decision(2)));
        assert!(!sink.push(decision(3)), "a ring of 2 is full");
        let mut out = Vec::new();
        assert_eq!(tap.drain_into(&mut out), 2);
        let ports: Vec<u16> = out
            .iter()
            .filter_map(|d| d.flow)
            .map(|f| f.dst_port)
            .collect();
        assert_eq!(ports, [1, 2]);
        assert_eq!(tap.drain_into(&mut out), 0);
    }

    #[test]
    fn a_consumer_finds_decisions_pushed_while_it_sleeps_and_ends_after_the_sinks() {
        let (sink, tap) = handoff(16);
        let tap = tap.with_poll(Duration::from_millis(1));
        let producer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            assert!(sink.push(decision(7)));
        });
        let first = tap.blocking_next_batch();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].flow.map(|f| f.dst_port), Some(7));
        producer.join().unwrap();
        assert!(tap.is_finished());
        assert!(tap.blocking_next_batch().is_empty());
    }

    #[test]
    fn the_sink_sees_when_the_tap_is_gone_also_when_cloned() {
        let (sink, tap) = handoff(1);
        let clone = sink.clone();
        assert!(!sink.is_closed());
        assert!(
            !clone.is_closed(),
            "a second sink does not make the tap look gone"
        );
        drop(tap);
        assert!(sink.is_closed());
        assert!(clone.is_closed());
    }
}
