//! The verdict workers: one OS thread per NFQUEUE, pinned to its CPU, judging new connections.
//!
//! ```text
//!   kernel: ct state new + pod set match ─► NFQUEUE base+cpu (cpu-fanout, copy range 128 B)
//!                                              │ recv (SO_RCVTIMEO wakes it to check stop)
//!   worker thread i (pinned to CPU i)  ◄───────┘
//!     packet::parse ─► judge::judge(snapshot.load(), node, flow)  ─► verdict (accept / drop)
//!        │ error: default verdict              │ only the directions this node owns
//!        ▼                                     ▼
//!     Counters (atomics, read by /metrics)   NodeDecision ─push─► handoff ring (bounded,
//!                                            lock-free; full: counted; never wakes anyone)
//!                                            telemetry drains it on its own clock
//! ```
//!
//! The engine is read through an `ArcSwap<Index>` snapshot, so a worker never takes a lock
//! and never waits for the index owner. Parse failures and engine panics get the default
//! verdict (accept when fail-open, drop when fail-closed) and a counter.
//!
//! # Restart behaviour
//! - **Fail-open** (default): the queue rule has `bypass` and each queue is bound with
//!   `NFQA_CFG_F_FAIL_OPEN`. While no worker is bound (agent restarting, crashed, SIGKILLed)
//!   new connections to selected pods are accepted unjudged; while the queue is full they are
//!   accepted too. Established connections never touch the queue, so they survive either way.
//! - **Fail-closed**: no bypass, no fail-open. While no worker is bound, or the queue is full,
//!   new connections to selected pods are dropped (the client retries its SYN, so a short
//!   restart delays connections instead of failing them). Established connections survive.
//!
//! In both modes the table stays in place across restarts (the syncer adopts it), so there is
//! no window where the rules are missing.
//!
//! The kernel verdict cache ([`crate::cache`]) stays in place too: while the agent is down,
//! new connections of a flow class it judged *allow* within the last `--verdict-cache-ttl`
//! seconds (default 30) are still accepted, in both modes, the way established connections
//! keep flowing; denied classes are never cached. The new agent's install flushes the cache
//! before it judges anything. With fail-closed and `--verdict-cache-ttl 0`, nothing new is
//! accepted while the agent is down.
//!
//! Start reading at [`Workers::start`], then [`judge::judge`].

pub mod counters;
pub mod handoff;
pub mod judge;
pub mod kernel;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use verdict_engine::Index;

use crate::{Error, Result};

pub use counters::{Counters, LatencyHistogram, LatencySnapshot};
pub use handoff::{DecisionSink, DecisionTap, handoff};
pub use judge::NodeDecision;

/// How the workers run.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// This node's name: the workers judge only the directions of pods on it.
    pub node_name: Arc<str>,
    /// First queue number (`--queue-base`).
    pub queue_base: u16,
    /// Number of queues and threads (`--queues`, 1..=16).
    pub queues: u16,
    /// Fail-open (`--fail-open`): fail-open queues, and accept as the default verdict.
    pub fail_open: bool,
    /// Bytes of each packet copied to user space; headers only.
    pub copy_range: u16,
    /// Packets the kernel holds per queue before it applies the fail-open/closed policy.
    pub max_queue_len: u32,
    /// Socket receive buffer per queue (`SO_RCVBUFFORCE`).
    pub rcvbuf_bytes: usize,
    /// Pin worker `i` to CPU `i` (modulo the CPUs this process may use).
    pub pin_cpus: bool,
    /// Where allowed flow classes are offered to the kernel verdict cache; `None` when the
    /// cache is off.
    pub verdict_cache: Option<crate::cache::CacheFeed>,
}

impl WorkerConfig {
    /// Defaults for everything but the node and the flags.
    pub fn new(node_name: &str, queue_base: u16, queues: u16, fail_open: bool) -> Self {
        WorkerConfig {
            node_name: Arc::from(node_name),
            queue_base,
            queues,
            fail_open,
            copy_range: 128,
            max_queue_len: 4096,
            rcvbuf_bytes: 4 << 20,
            pin_cpus: true,
            verdict_cache: None,
        }
    }

    /// The verdict for packets that cannot be judged.
    pub fn default_verdict(&self) -> verdict_engine::Verdict {
        if self.fail_open {
            verdict_engine::Verdict::Allow
        } else {
            verdict_engine::Verdict::Deny
        }
    }
}

/// The running workers. Dropping this stops them (and unbinds the queues).
#[derive(Debug)]
pub struct Workers {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Binds queues `queue_base..queue_base+queues` and starts one pinned thread per queue.
    ///
    /// `decisions` may be `None` when nothing consumes decisions.
    ///
    /// # Errors
    /// When a queue cannot be opened, bound (EPERM: another process in this network namespace
    /// holds it) or configured; queues bound so far are released.
    pub fn start(
        cfg: WorkerConfig,
        snapshot: Arc<ArcSwap<Index>>,
        decisions: Option<DecisionSink>,
        counters: Arc<Counters>,
    ) -> Result<Workers> {
        if cfg.queues == 0 || cfg.queues > 16 {
            return Err(Error::QueueConfig(format!(
                "queues must be 1..=16, got {}",
                cfg.queues
            )));
        }
        if u32::from(cfg.queue_base) + u32::from(cfg.queues) > 65536 {
            return Err(Error::QueueConfig("queue numbers exceed 65535".into()));
        }
        let mut queues = Vec::with_capacity(usize::from(cfg.queues));
        for i in 0..cfg.queues {
            queues.push(worker::open(&cfg, cfg.queue_base + i)?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let cpus = worker::usable_cpus();
        let mut handles = Vec::with_capacity(queues.len());
        for (i, queue) in queues.into_iter().enumerate() {
            let ctx = worker::Context {
                queue_num: cfg.queue_base + i as u16,
                cpu: if cfg.pin_cpus {
                    cpus.get(i % cpus.len().max(1)).copied()
                } else {
                    None
                },
                node: cfg.node_name.clone(),
                default_verdict: cfg.default_verdict(),
                snapshot: snapshot.clone(),
                decisions: decisions.clone(),
                cache: cfg.verdict_cache.clone(),
                counters: counters.clone(),
                stop: stop.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("verdict-{}", ctx.queue_num))
                .spawn(move || worker::run(queue, ctx))
                .map_err(|source| Error::QueueSocket {
                    queue: cfg.queue_base + i as u16,
                    what: "spawn thread",
                    source,
                })?;
            handles.push(handle);
        }
        tracing::info!(
            queues = cfg.queues,
            base = cfg.queue_base,
            fail_open = cfg.fail_open,
            "verdict workers started"
        );
        Ok(Workers { stop, handles })
    }

    /// Stops the workers and waits for them (each notices within its receive timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown();
    }
}
