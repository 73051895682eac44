//! The verdict workers: one OS thread per NFQUEUE, pinned to its CPU, judging new connections.
//!
//! ```text
//!   kernel: ct state invalid,new,untracked + pod set match ─► NFQUEUE base+cpu (cpu-fanout,
//!                                              │ copy range 128 B)
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
//! - **A worker that dies** (a panic in the packet path outside the engine, which is caught
//!   per packet) is restarted by the supervisor thread in [`Workers`]: it is counted
//!   (`worker_restarts`), the agent is not ready while it is down (`workers_down`), and its
//!   queue meanwhile behaves as if the agent were down (the two rules above).
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
//! Start reading at [`Workers::start`], then [`judge::judge()`].

pub mod counters;
pub mod handoff;
pub mod judge;
pub mod kernel;
mod worker;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod unjudged_tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// How long the supervisor waits before restarting a worker that ended (doubled for each
    /// crash within 30 s of the last start, up to [`MAX_RESTART_BACKOFF`]).
    pub restart_backoff: Duration,
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
            restart_backoff: Duration::from_millis(50),
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

/// The running workers and their supervisor. Dropping this stops them (and unbinds the
/// queues).
///
/// # Guarantees
/// A worker thread that panics or returns while the workers are not being stopped is
/// restarted by the supervisor thread: `Counters::workers_down` goes up the moment it ends
/// (the readiness check `verdict-workers` fails, see [`Counters::all_workers_up`]), its queue
/// is opened and bound again after [`WorkerConfig::restart_backoff`] (doubling on each quick
/// crash, up to [`MAX_RESTART_BACKOFF`]), and `Counters::worker_restarts` counts each restart.
/// While it is down its queue has no listener: fail-open accepts (bypass), fail-closed drops.
#[derive(Debug)]
pub struct Workers {
    stop: Arc<AtomicBool>,
    /// One test hook per worker, in queue order (see [`Workers::panic_worker_for_test`]).
    panic_hooks: Vec<Arc<AtomicBool>>,
    queue_base: u16,
    supervisor: Option<JoinHandle<()>>,
}

/// The longest wait before a crashing worker is restarted again.
pub const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);
/// A worker that ran this long before it ended restarts after the initial backoff again.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How often the supervisor wakes when nothing ended (an ending worker wakes it at once).
const SUPERVISE_EVERY: Duration = Duration::from_millis(100);

/// One supervised worker.
struct Slot {
    ctx: worker::Context,
    handle: Option<JoinHandle<()>>,
    started: Instant,
    backoff: Duration,
    /// When a down worker is due for its next start attempt.
    retry_at: Option<Instant>,
}

/// Marks the worker down when its thread ends for any reason but a requested stop (including
/// unwinding from a panic), and wakes the supervisor.
struct DownOnExit {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    supervisor: std::thread::Thread,
}

impl Drop for DownOnExit {
    fn drop(&mut self) {
        if !self.stop.load(Ordering::Relaxed) {
            self.counters.workers_down.fetch_add(1, Ordering::Relaxed);
            self.supervisor.unpark();
        }
    }
}

fn spawn_worker(
    queue: nfq::Queue,
    ctx: worker::Context,
    supervisor: std::thread::Thread,
) -> Result<JoinHandle<()>> {
    let num = ctx.queue_num;
    let guard = DownOnExit {
        stop: ctx.stop.clone(),
        counters: ctx.counters.clone(),
        supervisor,
    };
    std::thread::Builder::new()
        .name(format!("verdict-{num}"))
        .spawn(move || {
            let _guard = guard;
            worker::run(queue, ctx)
        })
        .map_err(|source| Error::QueueSocket {
            queue: num,
            what: "spawn thread",
            source,
        })
}

impl Workers {
    /// Binds queues `queue_base..queue_base+queues`, starts one pinned thread per queue and a
    /// supervisor thread that restarts any worker that ends.
    ///
    /// `decisions` may be `None` when nothing consumes decisions. Call it in the network
    /// namespace of the queues: restarted workers bind there too.
    ///
    /// # Errors
    /// When a queue cannot be opened, bound (EPERM: another process in this network namespace
    /// holds it) or configured, or a thread cannot be spawned; queues bound so far are
    /// released.
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
        let contexts: Vec<worker::Context> = (0..cfg.queues)
            .map(|i| worker::Context {
                queue_num: cfg.queue_base + i,
                cpu: if cfg.pin_cpus {
                    cpus.get(usize::from(i) % cpus.len().max(1)).copied()
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
                panic_hook: Arc::new(AtomicBool::new(false)),
            })
            .collect();
        let panic_hooks = contexts.iter().map(|c| c.panic_hook.clone()).collect();
        // The supervisor starts first (parked until it has its slots), so that every worker's
        // exit guard can wake it.
        let (slots_tx, slots_rx) = std::sync::mpsc::sync_channel::<Vec<Slot>>(1);
        let supervisor = std::thread::Builder::new()
            .name("verdict-supervisor".into())
            .spawn({
                let cfg = cfg.clone();
                let stop = stop.clone();
                let counters = counters.clone();
                move || {
                    if let Ok(slots) = slots_rx.recv() {
                        supervise(&cfg, slots, &stop, &counters);
                    }
                }
            })
            .map_err(|source| Error::SpawnThread {
                name: "verdict-supervisor",
                source,
            })?;
        let mut slots = Vec::with_capacity(queues.len());
        for (queue, ctx) in queues.into_iter().zip(contexts) {
            let handle = match spawn_worker(queue, ctx.clone(), supervisor.thread().clone()) {
                Ok(handle) => handle,
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    let _ = slots_tx.send(slots);
                    let _ = supervisor.join();
                    return Err(e);
                }
            };
            slots.push(Slot {
                ctx,
                handle: Some(handle),
                started: Instant::now(),
                backoff: cfg.restart_backoff,
                retry_at: None,
            });
        }
        let _ = slots_tx.send(slots);
        tracing::info!(
            queues = cfg.queues,
            base = cfg.queue_base,
            fail_open = cfg.fail_open,
            "verdict workers started"
        );
        Ok(Workers {
            stop,
            panic_hooks,
            queue_base: cfg.queue_base,
            supervisor: Some(supervisor),
        })
    }

    /// Test hook: makes the worker of queue `queue` panic before its next receive (within its
    /// 200 ms receive timeout), as a bug in the packet path would. Returns false for a queue
    /// these workers do not serve.
    pub fn panic_worker_for_test(&self, queue: u16) -> bool {
        let hook = queue
            .checked_sub(self.queue_base)
            .and_then(|i| self.panic_hooks.get(usize::from(i)));
        match hook {
            Some(hook) => {
                hook.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Stops the workers and waits for them (each notices within its receive timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.thread().unpark();
            let _ = supervisor.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The supervisor loop: restarts ended workers until `stop`, then joins them all.
fn supervise(cfg: &WorkerConfig, mut slots: Vec<Slot>, stop: &AtomicBool, counters: &Counters) {
    let me = std::thread::current();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for slot in &mut slots {
            let num = slot.ctx.queue_num;
            if slot.handle.as_ref().is_some_and(JoinHandle::is_finished) {
                let ended = slot.handle.take().map(JoinHandle::join);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let why = match ended {
                    Some(Err(panic)) => panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into()),
                    _ => "it returned".into(),
                };
                if now.duration_since(slot.started) >= STABLE_AFTER {
                    slot.backoff = cfg.restart_backoff;
                }
                let delay = slot.backoff;
                slot.backoff = (slot.backoff * 2).min(MAX_RESTART_BACKOFF);
                tracing::error!(
                    queue = num,
                    why = %why,
                    restart_in = ?delay,
                    "verdict worker ended; its queue has no listener until it restarts"
                );
                slot.retry_at = Some(now + delay);
            }
            if slot.handle.is_none()
                && let Some(at) = slot.retry_at
                && now >= at
            {
                let started = worker::open(cfg, num)
                    .and_then(|queue| spawn_worker(queue, slot.ctx.clone(), me.clone()));
                match started {
                    Ok(handle) => {
                        slot.handle = Some(handle);
                        slot.started = now;
                        slot.retry_at = None;
                        counters.worker_restarts.fetch_add(1, Ordering::Relaxed);
                        counters.workers_down.fetch_sub(1, Ordering::Relaxed);
                        tracing::info!(queue = num, "verdict worker restarted");
                    }
                    Err(e) => {
                        tracing::warn!(queue = num, error = %e, retry_in = ?slot.backoff,
                            "verdict worker restart failed");
                        slot.retry_at = Some(now + slot.backoff);
                        slot.backoff = (slot.backoff * 2).min(MAX_RESTART_BACKOFF);
                    }
                }
            }
        }
        let next = slots
            .iter()
            .filter_map(|s| s.retry_at)
            .min()
            .map_or(SUPERVISE_EVERY, |at| {
                at.saturating_duration_since(Instant::now())
                    .min(SUPERVISE_EVERY)
            });
        std::thread::park_timeout(next);
    }
    for slot in slots {
        match slot.handle {
            Some(handle) => {
                let _ = handle.join();
            }
            // Down at shutdown: it will never come back, so it is no longer "down".
            None if slot.retry_at.is_some() => {
                counters.workers_down.fetch_sub(1, Ordering::Relaxed);
            }
            None => {}
        }
    }
}
