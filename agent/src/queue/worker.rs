//! One verdict thread: socket setup and the receive → judge → verdict loop.

use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;
use nix::unistd::Pid;
use tracing::{debug, warn};
use verdict_engine::{Flow, Index, Judgement, Verdict};
use verdict_events::{DecisionSource, DefaultReason};

use super::judge::{NodeDecision, judge};
use super::{Counters, DecisionSink, WorkerConfig};
use crate::cache::{CacheFeed, CacheKey};
use crate::packet::{self, ErrorKind as ParseErrorKind};
use crate::{Error, Result};

/// How often a blocked receive wakes up to check for shutdown.
const WAKE_EVERY: Duration = Duration::from_millis(200);

/// Everything one worker needs (cloned for each restart of it).
#[derive(Clone)]
pub(super) struct Context {
    pub queue_num: u16,
    pub cpu: Option<usize>,
    pub node: Arc<str>,
    pub default_verdict: Verdict,
    pub snapshot: Arc<ArcSwap<Index>>,
    pub decisions: Option<DecisionSink>,
    pub cache: Option<CacheFeed>,
    pub counters: Arc<Counters>,
    pub stop: Arc<AtomicBool>,
    /// Test hook ([`super::Workers::panic_worker_for_test`]): panic before the next receive.
    pub panic_hook: Arc<AtomicBool>,
}

/// CPUs this process may run on, in order.
pub(super) fn usable_cpus() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|i| set.is_set(*i).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Opens and configures one queue.
pub(super) fn open(cfg: &WorkerConfig, num: u16) -> Result<nfq::Queue> {
    let err = |what: &'static str| {
        move |source: std::io::Error| Error::QueueSocket {
            queue: num,
            what,
            source,
        }
    };
    let mut q = nfq::Queue::open().map_err(err("open netlink socket"))?;
    // Best effort: a bigger buffer absorbs bursts of new connections (needs CAP_NET_ADMIN).
    if let Err(e) = setsockopt(&q, sockopt::RcvBufForce, &cfg.rcvbuf_bytes) {
        debug!(queue = num, error = %e, "SO_RCVBUFFORCE refused; keeping the default buffer");
    }
    setsockopt(
        &q,
        sockopt::ReceiveTimeout,
        &TimeVal::new(0, WAKE_EVERY.as_micros() as _),
    )
    .map_err(|e| Error::QueueSocket {
        queue: num,
        what: "set SO_RCVTIMEO",
        source: e.into(),
    })?;
    q.bind(num)
        .map_err(err("bind (another process may hold this queue)"))?;
    q.set_copy_range(num, cfg.copy_range)
        .map_err(err("set copy range"))?;
    q.set_fail_open(num, cfg.fail_open)
        .map_err(err("set fail-open"))?;
    q.set_queue_max_len(num, cfg.max_queue_len)
        .map_err(err("set max queue length"))?;
    Ok(q)
}

fn pin(cpu: usize) -> nix::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(Pid::from_raw(0), &set)
}

fn nf_verdict(v: Verdict) -> nfq::Verdict {
    match v {
        Verdict::Allow => nfq::Verdict::Accept,
        Verdict::Deny => nfq::Verdict::Drop,
    }
}

/// What the worker made of one packet.
// It lives on the stack for one packet; boxing the judgement would allocate per packet.
#[allow(clippy::large_enum_variant)]
enum Judged {
    /// Parsed and judged: the flow, its connection token, the judgement, the index generation.
    Yes(Flow, Option<u32>, Judgement, u64),
    /// The default verdict applies: what could be parsed, and why.
    No(Option<(Flow, Option<u32>)>, DefaultReason),
}

/// The loop. Returns when `ctx.stop` is set; dropping the queue unbinds it.
pub(super) fn run(mut queue: nfq::Queue, ctx: Context) {
    if let Some(cpu) = ctx.cpu
        && let Err(e) = pin(cpu)
    {
        warn!(queue = ctx.queue_num, cpu, error = %e, "could not pin verdict thread");
    }
    let c = &*ctx.counters;
    while !ctx.stop.load(Relaxed) {
        if ctx.panic_hook.swap(false, Relaxed) {
            panic!(
                "verdict worker {}: panic requested by the test hook",
                ctx.queue_num
            );
        }
        let mut msg = match queue.recv() {
            Ok(msg) => msg,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                c.recv_errors.fetch_add(1, Relaxed);
                debug!(queue = ctx.queue_num, error = %e, "queue receive failed");
                // ENOBUFS and friends are transient; anything else must not spin a CPU.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        let received = Instant::now();
        c.packets.fetch_add(1, Relaxed);
        let outcome = match packet::parse_first_packet(msg.get_payload()) {
            Ok((flow, token)) => {
                let index = ctx.snapshot.load();
                match catch_unwind(AssertUnwindSafe(|| judge(&index, &ctx.node, &flow))) {
                    Ok(j) => Judged::Yes(flow, token, j, index.generation()),
                    Err(_) => {
                        c.engine_panics.fetch_add(1, Relaxed);
                        Judged::No(Some((flow, token)), DefaultReason::EnginePanic)
                    }
                }
            }
            Err(e) => {
                let reason = match e.kind() {
                    ParseErrorKind::Malformed => {
                        c.malformed.fetch_add(1, Relaxed);
                        DefaultReason::Malformed
                    }
                    ParseErrorKind::Unsupported => {
                        c.unsupported.fetch_add(1, Relaxed);
                        DefaultReason::Unsupported
                    }
                };
                Judged::No(None, reason)
            }
        };
        let verdict = match &outcome {
            Judged::Yes(_, _, j, _) => j.verdict,
            Judged::No(..) => ctx.default_verdict,
        };
        let hold = received.elapsed();
        c.latency.record(hold);
        msg.set_verdict(nf_verdict(verdict));
        if let Err(e) = queue.verdict(msg) {
            c.verdict_errors.fetch_add(1, Relaxed);
            debug!(queue = ctx.queue_num, error = %e, "verdict not taken");
        }
        // Off the packet's critical path: the verdict is already with the kernel.
        let decision = |flow, token, judgement, source, defaulted, generation| NodeDecision {
            flow,
            judgement,
            verdict,
            node: ctx.node.clone(),
            source,
            defaulted,
            queue: Some(ctx.queue_num),
            generation,
            connection_token: token,
            received: SystemTime::now() - hold,
            hold,
        };
        let record = match outcome {
            Judged::Yes(flow, token, judgement, generation) => {
                if !judgement.owned() {
                    c.not_owned.fetch_add(1, Relaxed);
                    decision(
                        Some(flow),
                        token,
                        None,
                        DecisionSource::Default,
                        Some(DefaultReason::NoLocalPod),
                        generation,
                    )
                } else {
                    if judgement.verdict == Verdict::Allow
                        && let Some(feed) = &ctx.cache
                        && let Some(key) = CacheKey::for_flow(&flow)
                    {
                        feed.offer(key, generation);
                    }
                    c.count_decision(judgement.verdict, judgement.tier());
                    decision(
                        Some(flow),
                        token,
                        Some(judgement),
                        DecisionSource::Queue,
                        None,
                        generation,
                    )
                }
            }
            Judged::No(parsed, reason) => decision(
                parsed.map(|(f, _)| f),
                parsed.and_then(|(_, t)| t),
                None,
                DecisionSource::Default,
                Some(reason),
                ctx.snapshot.load().generation(),
            ),
        };
        if let Some(tx) = &ctx.decisions
            && !tx.push(record)
        {
            c.dropped_decisions.fetch_add(1, Relaxed);
        }
    }
    debug!(queue = ctx.queue_num, "verdict worker stopped");
}
