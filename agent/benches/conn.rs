//! New-connection benchmark: TCP connects per second and connect latency from a client pod
//! network namespace, routed through a "node" namespace, to a server pod namespace, in four
//! configurations measured in one run:
//!
//! ```text
//!   client ns 10.78.0.2 ──veth── node ns (forwards) ──veth── server ns 10.79.0.2:8080
//!   (a) node has no rules
//!   (b) node has one inet table: forward chain `ct state new accept`
//!   (c) node runs kube-verdict's table (both pods selected), pinned verdict workers on
//!       queues 0..ncpu with cpu-fanout, the full engine (two NetworkPolicies that allow
//!       client → server TCP 8080, so both directions are judged), the kernel verdict cache
//!       with its writer and log reader, and a decision consumer standing in for telemetry
//!       (every decision, queued or cached, is handed over and formatted)
//!   (d) the same with the verdict cache off: every new connection is queued and judged
//! ```
//!
//! The four are interleaved in short rounds (default 6 × 1 s each) so background load hits
//! them alike. Prints conns/s and connect p50/p99 for each, the ratios c/a, c/b, d/a and d/b,
//! the latency (c) and (d) add over (b), and the agent's decision-latency histogram. Needs
//! root; run it through `agent/scripts/bench-conn.sh`. Not a timed test: it asserts nothing.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use nix::sched::{CloneFlags, CpuSet, sched_setaffinity, setns};
use nix::sys::socket::{setsockopt, sockopt};
use nix::unistd::Pid;
use rustables::expr::{
    Bitwise, Cmp, CmpOp, ConnTrackState, Conntrack, ConntrackKey, Immediate, VerdictKind,
};
use rustables::{
    Batch, Chain, ChainPolicy, ChainType, Hook, HookClass, MsgType, ProtocolFamily, Rule, Table,
};
use serde_json::json;
use verdict_agent::cache::{CacheCounters, CacheFeed, VerdictCache};
use verdict_agent::queue::{Counters, WorkerConfig, Workers};
use verdict_agent::ruleset::{RulesetConfig, Syncer, VerdictCacheSpec, detect_queue_statement};
use verdict_engine::Index;

const NODE: &str = "bench-node";
const SERVER: &str = "10.79.0.2:8080";

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        let name = format!("vb-{tag}-{}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Ns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }
    fn ip(&self, args: &[&str]) {
        let mut full = vec!["ip", "-n", &self.0];
        full.extend_from_slice(args);
        sh(&full);
    }
    fn sysctl(&self, kv: &str) {
        sh(&["ip", "netns", "exec", &self.0, "sysctl", "-qw", kv]);
    }
    fn enter(&self) {
        let f = File::open(format!("/run/netns/{}", self.0)).unwrap();
        setns(&f, CloneFlags::CLONE_NEWNET).unwrap();
    }
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter();
                f()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

struct Topology {
    client: Ns,
    node: Ns,
    server: Ns,
}

fn topology() -> Topology {
    let (client, node, server) = (Ns::new("client"), Ns::new("node"), Ns::new("server"));
    for (pod, dev, net) in [(&client, "vc", "10.78.0"), (&server, "vs", "10.79.0")] {
        node.ip(&[
            "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", &pod.0,
        ]);
        node.ip(&["addr", "add", &format!("{net}.1/24"), "dev", dev]);
        node.ip(&["link", "set", dev, "up"]);
        pod.ip(&["addr", "add", &format!("{net}.2/24"), "dev", "eth0"]);
        pod.ip(&["link", "set", "eth0", "up"]);
        pod.ip(&["route", "add", "default", "via", &format!("{net}.1")]);
    }
    node.sysctl("net.ipv4.ip_forward=1");
    client.sysctl("net.ipv4.ip_local_port_range=10000 65000");
    Topology {
        client,
        node,
        server,
    }
}

fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = sched_setaffinity(Pid::from_raw(0), &set);
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Measurements of one configuration, accumulated over rounds.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u32>,
    seconds: f64,
    errors: u64,
}

impl Tally {
    fn rate(&self) -> f64 {
        self.latencies_ns.len() as f64 / self.seconds.max(1e-9)
    }
    fn quantile_us(&mut self, f: f64) -> f64 {
        self.latencies_ns.sort_unstable();
        let n = self.latencies_ns.len();
        if n == 0 {
            return 0.0;
        }
        f64::from(self.latencies_ns[((n as f64 * f) as usize).min(n - 1)]) / 1000.0
    }
}

/// `threads` pinned client threads connect and reset (SO_LINGER 0, so no TIME_WAIT) as fast
/// as they can for `d`; returns the connect latencies and the number of failed connects.
fn load(t: &Topology, threads: usize, d: Duration) -> (Vec<u32>, u64) {
    let target: SocketAddr = SERVER.parse().unwrap();
    let errors = AtomicU64::new(0);
    let deadline = Instant::now() + d;
    let lat = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let errors = &errors;
                let client = &t.client;
                s.spawn(move || {
                    client.enter();
                    pin(i % cpus());
                    let mut lat = Vec::with_capacity(50_000);
                    while Instant::now() < deadline {
                        let start = Instant::now();
                        match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
                            Ok(stream) => {
                                let took = start.elapsed();
                                let linger = nix::libc::linger {
                                    l_onoff: 1,
                                    l_linger: 0,
                                };
                                let _ = setsockopt(&stream, sockopt::Linger, &linger);
                                lat.push(took.as_nanos().min(u128::from(u32::MAX)) as u32);
                            }
                            Err(e) => {
                                errors.fetch_add(1, Relaxed);
                                if std::env::var_os("BENCH_DEBUG").is_some() {
                                    eprintln!("connect error after {:?}: {e}", start.elapsed());
                                }
                            }
                        }
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    (lat, errors.load(Relaxed))
}

/// Server: one blocking accept thread per CPU on a shared listener; accepted sockets are
/// dropped. The threads end with the process.
fn serve(t: &Topology) {
    // A deep backlog: std's 128 overflows at these rates and a dropped SYN costs the client a
    // one-second retransmit.
    let listener = t.server.run(|| {
        use nix::sys::socket::{
            AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, socket,
        };
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        setsockopt(&fd, sockopt::ReuseAddr, &true).unwrap();
        let addr: std::net::SocketAddrV4 = SERVER.parse().unwrap();
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrIn::from(addr),
        )
        .unwrap();
        listen(&fd, Backlog::new(4096).unwrap()).unwrap();
        TcpListener::from(fd)
    });
    for _ in 0..cpus() {
        let l = listener.try_clone().unwrap();
        std::thread::spawn(move || {
            loop {
                let _ = l.accept();
            }
        });
    }
}

/// (b): `table inet bench-b { chain forward { type filter hook forward priority filter;
/// ct state new accept } }`.
fn ct_new_accept(add: bool) {
    let table = Table::new(ProtocolFamily::Inet).with_name("bench-b");
    let mut batch = Batch::new();
    if add {
        let chain = Chain::new(&table)
            .with_name("forward")
            .with_hook(Hook::new(HookClass::Forward, 0))
            .with_type(ChainType::Filter)
            .with_policy(ChainPolicy::Accept);
        let rule = Rule::new(&chain)
            .unwrap()
            .with_expr(Conntrack::new(ConntrackKey::State))
            .with_expr(
                Bitwise::new(ConnTrackState::NEW.bits().to_ne_bytes(), 0u32.to_ne_bytes()).unwrap(),
            )
            .with_expr(Cmp::new(CmpOp::Neq, 0u32.to_ne_bytes()))
            .with_expr(Immediate::new_verdict(VerdictKind::Accept));
        batch.add(&table, MsgType::Add);
        batch.add(&chain, MsgType::Add);
        batch.add(&rule, MsgType::Add);
    } else {
        batch.add(&table, MsgType::Del);
    }
    batch.send().unwrap();
}

fn index() -> Index {
    let mut index = Index::new();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "bench",
        "labels": {"kubernetes.io/metadata.name": "bench"}}}))
    .unwrap();
    index.apply_namespace(&ns).unwrap();
    for (name, ip) in [("client", "10.78.0.2"), ("server", "10.79.0.2")] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "bench", "labels": {"app": name}},
            "spec": {"nodeName": NODE, "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
        }))
        .unwrap();
        index.apply_pod(&pod).unwrap();
    }
    let policies = [
        json!({"metadata": {"name": "server-from-client", "namespace": "bench"}, "spec": {
            "podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                         "ports": [{"protocol": "TCP", "port": 8080}]}]}}),
        json!({"metadata": {"name": "client-to-server", "namespace": "bench"}, "spec": {
            "podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                        "ports": [{"protocol": "TCP", "port": 8080}]}]}}),
    ];
    for p in policies {
        let np: NetworkPolicy = serde_json::from_value(p).unwrap();
        index.apply_network_policy(&np).unwrap();
    }
    index
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How long the ruleset syncer takes: a full install with many elements, then incremental
/// one-element updates (the common case: one pod starts or stops).
fn syncer_costs(t: &Topology, statement: verdict_agent::ruleset::QueueStatement) {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use verdict_engine::SelectedIps;
    let cfg = RulesetConfig {
        table_name: "bench-sync".into(),
        queue_base: 50,
        queues: 2,
        fail_open: true,
        verdict_cache: Some(VerdictCacheSpec::default()),
    };
    let mut ips = SelectedIps::default();
    for i in 0..5_000u32 {
        ips.v4.insert(Ipv4Addr::from(0x0a40_0000 + i));
        ips.v6
            .insert(Ipv6Addr::from((0xfd00u128 << 112) + u128::from(i)));
    }
    t.node.run(|| {
        let started = Instant::now();
        let mut syncer = Syncer::install_with(&cfg, statement, &ips).unwrap();
        let install = started.elapsed();
        let mut one: Vec<Duration> = (0..200u32)
            .map(|i| {
                let mut next = syncer.current().clone();
                let ip = Ipv4Addr::from(0x0a50_0000 + i / 2);
                if i % 2 == 0 {
                    next.v4.insert(ip);
                } else {
                    next.v4.remove(&ip);
                }
                let started = Instant::now();
                syncer.sync(&next).unwrap();
                started.elapsed()
            })
            .collect();
        one.sort_unstable();
        let started = Instant::now();
        let started_adopt = syncer.current().clone();
        let adopted = Syncer::install_with(&cfg, statement, &started_adopt).unwrap();
        let adopt = started.elapsed();
        adopted.remove().unwrap();
        println!(
            "ruleset syncer: install with 5,000 IPv4 + 5,000 IPv6 elements {:.1} ms; adopt (reconcile \
             the same table) {:.1} ms; one-element update p50 {:.0} µs, p99 {:.0} µs (200 updates)",
            install.as_secs_f64() * 1e3,
            adopt.as_secs_f64() * 1e3,
            one[one.len() / 2].as_secs_f64() * 1e6,
            one[one.len() * 99 / 100].as_secs_f64() * 1e6
        );
    });
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP bench conn: needs root (network namespaces, nftables, NFQUEUE)");
        return;
    }
    let secs = arg("--seconds", 6.0);
    let round = arg("--round", 1.0);
    let threads = arg("--threads", cpus() as f64) as usize;
    let queues = arg("--queues", cpus() as f64) as u16;
    let load_before = loadavg();
    let t = topology();
    serve(&t);

    let index = index();
    let selected = index.selected_pod_ips(NODE);
    assert_eq!(selected.v4.len(), 2, "both pods are selected");
    let snapshot = Arc::new(ArcSwap::from_pointee(index));
    let counters = Arc::new(Counters::new());
    let (tx, rx) = verdict_agent::queue::handoff(16 * 1024);
    let consumed = Arc::new(AtomicU64::new(0));
    let consumer = {
        let consumed = consumed.clone();
        let snapshot = snapshot.clone();
        std::thread::spawn(move || {
            // The fan-out's own work for each decision: the event (trace id, UIDs, sentence)
            // and its spans. Exporting them to a collector is not part of this figure yet.
            let mut builder = verdict_events::EventBuilder::new(
                NODE,
                verdict_events::TraceKey::from_cluster_id("bench"),
            );
            loop {
                let batch = rx.blocking_next_batch();
                if batch.is_empty() {
                    break;
                }
                let index = snapshot.load();
                for d in batch {
                    let event = builder.build(d, &index);
                    let spans = verdict_events::spans::span_records(&event);
                    consumed.fetch_add(u64::from(!spans.is_empty()), Relaxed);
                }
            }
        })
    };
    let cache_spec = VerdictCacheSpec::default();
    let kv_cfg = RulesetConfig {
        table_name: "bench-kv".into(),
        queue_base: 0,
        queues,
        fail_open: true,
        verdict_cache: Some(cache_spec),
    };
    let kv_uncached_cfg = RulesetConfig {
        verdict_cache: None,
        ..kv_cfg.clone()
    };
    let cache_counters = Arc::new(CacheCounters::default());
    let feed = CacheFeed::new(cache_counters.clone());
    let (statement, workers, cache) = t.node.run(|| {
        let statement = detect_queue_statement("bench-kv").unwrap();
        let mut worker_cfg = WorkerConfig::new(NODE, 0, queues, true);
        worker_cfg.verdict_cache = Some(feed.clone());
        let workers = Workers::start(
            worker_cfg,
            snapshot.clone(),
            Some(tx.clone()),
            counters.clone(),
        )
        .unwrap();
        let cache = VerdictCache::start(
            &kv_cfg.table_name,
            cache_spec,
            NODE,
            &feed,
            snapshot.clone(),
            counters.clone(),
            Some(tx),
        )
        .unwrap();
        (statement, workers, cache)
    });

    // Interleave the configurations in short rounds so that background load on a shared
    // machine hits all three alike; the ratios come from the same minutes.
    let mut tallies: [Tally; 4] = Default::default();
    let rounds = (secs / round).ceil().max(1.0) as usize;
    let warm = Duration::from_millis(200);
    for _ in 0..rounds {
        for (i, tally) in tallies.iter_mut().enumerate() {
            let syncer = match i {
                1 => {
                    t.node.run(|| ct_new_accept(true));
                    None
                }
                2 => Some(
                    t.node
                        .run(|| Syncer::install_with(&kv_cfg, statement, &selected))
                        .unwrap(),
                ),
                3 => Some(
                    t.node
                        .run(|| Syncer::install_with(&kv_uncached_cfg, statement, &selected))
                        .unwrap(),
                ),
                _ => None,
            };
            load(&t, threads, warm);
            let started = Instant::now();
            let (lat, errors) = load(&t, threads, Duration::from_secs_f64(round));
            tally.seconds += started.elapsed().as_secs_f64();
            tally.latencies_ns.extend(lat);
            tally.errors += errors;
            match syncer {
                Some(s) => t.node.run(|| s.remove()).unwrap(),
                None if i == 1 => t.node.run(|| ct_new_accept(false)),
                None => {}
            }
        }
    }
    workers.stop();
    drop(cache);
    consumer.join().unwrap();
    if std::env::var_os("BENCH_DEBUG").is_some() {
        for ns in [&t.client, &t.node, &t.server] {
            let out = Command::new("ip")
                .args(["netns", "exec", &ns.0, "nstat", "-az"])
                .output()
                .unwrap();
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let v: Vec<&str> = line.split_whitespace().collect();
                if v.len() >= 2 && v[1] != "0" && !v[0].starts_with('#') {
                    eprintln!("{} {line}", ns.0);
                }
            }
        }
    }

    println!(
        "kube-verdict connection benchmark: {threads} client threads, {queues} queues ({statement}), \
         {rounds} rounds of {round} s per configuration, {} CPUs, load average before {load_before}, after {}",
        cpus(),
        loadavg()
    );
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>7}",
        "configuration", "conns/s", "p50 µs", "p99 µs", "errors"
    );
    let names = [
        "(a) no rules",
        "(b) ct state new accept",
        "(c) kube-verdict, allowing policy",
        "(d) kube-verdict, verdict cache off",
    ];
    let mut rows = Vec::new();
    for (name, tally) in names.iter().zip(tallies.iter_mut()) {
        let row = (
            tally.rate(),
            tally.quantile_us(0.5),
            tally.quantile_us(0.99),
        );
        println!(
            "{name:<40} {:>9.0} {:>9.1} {:>9.1} {:>7}",
            row.0, row.1, row.2, tally.errors
        );
        rows.push(row);
    }
    let (a, b, c, d) = (rows[0], rows[1], rows[2], rows[3]);
    println!("c/a = {:.2}   c/b = {:.2}", c.0 / a.0, c.0 / b.0);
    println!(
        "connect latency added over (b): p50 {:+.1} µs, p99 {:+.1} µs",
        c.1 - b.1,
        c.2 - b.2
    );
    println!(
        "without the verdict cache (every new connection queued): d/a = {:.2}   d/b = {:.2}   \
         added over (b): p50 {:+.1} µs, p99 {:+.1} µs",
        d.0 / a.0,
        d.0 / b.0,
        d.1 - b.1,
        d.2 - b.2
    );
    let snap = counters.latency.snapshot();
    println!(
        "agent decision latency (receive → verdict decided), {} decisions, mean {:.2} µs:",
        snap.count,
        snap.sum_seconds * 1e6 / snap.count.max(1) as f64
    );
    let mut prev = 0;
    for (bound, n) in &snap.cumulative {
        let label = if bound.is_finite() {
            format!("<= {:>6.0} µs", bound * 1e6)
        } else {
            "      +Inf   ".into()
        };
        println!(
            "  {label} {:>9} {:>6.2}%",
            n - prev,
            (n - prev) as f64 * 100.0 / snap.count.max(1) as f64
        );
        prev = *n;
    }
    syncer_costs(&t, statement);
    let decided: u64 = counters.decisions().iter().map(|(_, _, n)| n).sum();
    println!(
        "verdict cache: {} connections accepted from it and reported from its log ({} now denied), \
         {} classes added, {} flushes, {} stale offers, {} overflowed offers, {} refused batches",
        counters.cache_hits.load(Relaxed),
        counters.cache_hits_now_denied.load(Relaxed),
        cache_counters.inserted.load(Relaxed),
        cache_counters.flushes.load(Relaxed),
        cache_counters.stale.load(Relaxed),
        cache_counters.overflow.load(Relaxed),
        cache_counters.errors.load(Relaxed),
    );
    println!(
        "counters: queued packets {} decisions (queued + cached) {} consumed {} dropped_decisions {} malformed {} queue_drops {}",
        counters.packets.load(Relaxed),
        decided,
        consumed.load(Relaxed),
        counters.dropped_decisions.load(Relaxed),
        counters.malformed.load(Relaxed),
        counters.queue_drops()
    );
}
