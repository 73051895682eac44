//! The agent under stress, on real packets (two netns nodes, one agent each):
//! - a deny is a silent drop (the client times out; it is never refused), and is counted;
//! - with the API server stopped for 30 s, enforcement is unchanged, the outage is logged once,
//!   and a policy change made after the server returns is enforced;
//! - SIGKILL under a connection load: fail-open keeps new connections flowing (counted) and
//!   established ones survive the restart; fail-closed never lets a denied connection through
//!   (with the verdict cache on, classes allowed before the kill keep connecting from the
//!   cache; with it off, nothing new connects at all);
//! - strict mode cuts a newly denied established connection, and its scan at start cuts one
//!   that a policy applied while the agent was down denies.
//!
//! Needs root and the control-plane binaries; runs when `VERDICT_E2E` is set.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Env, in_netns};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::json;
use verdict_conformance::Policy;
use verdict_e2e::{PodSpec, Port, TestPod};

/// Server `x/s` on n1 (TCP 80), clients `y/a` and `y/b` on n2.
async fn setup(extra_flags: &[&str]) -> (Env, TestPod, TestPod, TestPod) {
    let env = Env::start("agent-resilience", 2).await;
    for ns in ["x", "y"] {
        env.cluster
            .ensure_namespace(ns, &[("ns", ns)])
            .await
            .expect("namespace");
    }
    let (n1, n2) = (env.nodes[0].name.clone(), env.nodes[1].name.clone());
    let s = env
        .cluster
        .add_pod(
            PodSpec::new("x", "s")
                .label("pod", "s")
                .node(&n1)
                .serve(Port::tcp(80)),
        )
        .await
        .expect("server pod");
    let a = env
        .cluster
        .add_pod(PodSpec::new("y", "a").label("pod", "a").node(&n2))
        .await
        .unwrap();
    let b = env
        .cluster
        .add_pod(PodSpec::new("y", "b").label("pod", "b").node(&n2))
        .await
        .unwrap();
    env.start_agents(extra_flags).await;
    (env, s, a, b)
}

/// `x/s` accepts TCP 80 only from `y/a`.
fn only_a_policy() -> Policy {
    let np: NetworkPolicy = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "only-a", "namespace": "x"},
        "spec": {"podSelector": {"matchLabels": {"pod": "s"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}},
                "podSelector": {"matchLabels": {"pod": "a"}}}],
                "ports": [{"port": 80, "protocol": "TCP"}]}]}
    }))
    .unwrap();
    Policy::NetworkPolicy(np)
}

fn addr(pod: &TestPod, port: u16) -> SocketAddr {
    SocketAddr::from((pod.ip, port))
}

/// One TCP connect + echo from `from`'s netns: `Ok` or the connect error kind.
fn connect_once(
    from: &TestPod,
    to: SocketAddr,
    timeout: Duration,
) -> Result<(), std::io::ErrorKind> {
    in_netns(&from.netns, || {
        let mut s = TcpStream::connect_timeout(&to, timeout).map_err(|e| e.kind())?;
        echo(&mut s).map_err(|e| e.kind())
    })
}

fn echo(s: &mut TcpStream) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(b"ping")?;
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf)?;
    assert_eq!(&buf, b"ping", "echo");
    Ok(())
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// New connections from one client in a loop, counted.
struct Load {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(from: &TestPod, to: SocketAddr) -> Load {
        let (ok, failed, stop) = (Arc::default(), Arc::default(), Arc::default());
        let (o, f, st): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicBool>) =
            (Arc::clone(&ok), Arc::clone(&failed), Arc::clone(&stop));
        let netns = from.netns.clone();
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(format!("/run/netns/{netns}")).unwrap();
            nix::sched::setns(
                std::os::fd::AsFd::as_fd(&file),
                nix::sched::CloneFlags::CLONE_NEWNET,
            )
            .unwrap();
            while !st.load(Ordering::Relaxed) {
                let result = TcpStream::connect_timeout(&to, Duration::from_millis(300))
                    .and_then(|mut s| echo(&mut s));
                match result {
                    Ok(()) => o.fetch_add(1, Ordering::Relaxed),
                    Err(_) => f.fetch_add(1, Ordering::Relaxed),
                };
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Load {
            ok,
            failed,
            stop,
            thread: Some(thread),
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.counts()
    }
}

/// An established connection held open from `from`'s netns.
fn establish(from: &TestPod, to: SocketAddr) -> TcpStream {
    in_netns(&from.netns, || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2)).expect("establish");
        echo(&mut s).expect("first echo");
        s
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deny_is_a_silent_drop_and_is_counted() {
    verdict_e2e::skip_unless_e2e!();
    let (env, s, a, b) = setup(&[]).await;
    common::apply_policy(&env.client, &only_a_policy()).await;
    let to = addr(&s, 80);
    wait_for("b denied", Duration::from_secs(10), || {
        connect_once(&b, to, Duration::from_millis(500)).is_err()
    })
    .await;
    assert_eq!(
        connect_once(&a, to, Duration::from_secs(2)),
        Ok(()),
        "a is allowed"
    );
    let started = Instant::now();
    let denied = connect_once(&b, to, Duration::from_secs(2));
    assert_eq!(
        denied,
        Err(std::io::ErrorKind::TimedOut),
        "a deny times out, never refused"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "the connect waited for the timeout"
    );
    let text = env.metrics(&env.nodes[0]);
    let denies = common::metric(
        &text,
        "verdict_decisions_total{action=\"deny\",direction=\"ingress\",tier=\"network-policy\",source=\"queue\"}",
    );
    assert!(
        denies >= 1.0,
        "denies counted on the server's node:\n{text}"
    );
    assert!(
        text.contains("verdict_queue_statement_info{statement="),
        "queue statement exposed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apiserver_outage_keeps_enforcement_and_resyncs() {
    verdict_e2e::skip_unless_e2e!();
    let (env, s, a, b) = setup(&[]).await;
    common::apply_policy(&env.client, &only_a_policy()).await;
    let to = addr(&s, 80);
    wait_for("b denied", Duration::from_secs(10), || {
        connect_once(&b, to, Duration::from_millis(500)).is_err()
    })
    .await;

    tokio::task::block_in_place(|| env.cp.stop_apiserver());
    let outage = Instant::now();
    let mut checks = 0;
    while outage.elapsed() < Duration::from_secs(30) {
        assert_eq!(
            connect_once(&a, to, Duration::from_secs(1)),
            Ok(()),
            "a allowed during the outage"
        );
        assert!(
            connect_once(&b, to, Duration::from_millis(500)).is_err(),
            "b denied during the outage"
        );
        checks += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        checks >= 10,
        "enforcement checked throughout the outage ({checks} checks)"
    );
    env.cp.start_apiserver().await.expect("apiserver back");

    // A change made after the server returns: b is allowed once the policy is gone. The
    // watchers retry at most 10 s (+25 % jitter) apart.
    Api::<NetworkPolicy>::namespaced(env.client.clone(), "x")
        .delete("only-a", &DeleteParams::default())
        .await
        .expect("delete policy");
    let back = Instant::now();
    wait_for(
        "b allowed after the change",
        Duration::from_secs(60),
        || connect_once(&b, to, Duration::from_millis(500)).is_ok(),
    )
    .await;
    eprintln!(
        "[agent-e2e] change enforced {:.1}s after the apiserver returned",
        back.elapsed().as_secs_f64()
    );

    // Every watch has to come back before the recovery is logged; give the slowest one time.
    for node in &env.nodes {
        let path = env
            .cluster
            .logs_dir()
            .join(format!("verdict-agent-{}.log", node.name));
        wait_for("recovery logged", Duration::from_secs(20), || {
            std::fs::read_to_string(&path).is_ok_and(|l| l.contains("API server reachable again"))
        })
        .await;
    }
    for node in &env.nodes {
        let log = std::fs::read_to_string(
            env.cluster
                .logs_dir()
                .join(format!("verdict-agent-{}.log", node.name)),
        )
        .expect("agent log");
        let lost = log.matches("lost the API server").count();
        assert_eq!(lost, 1, "{}: outage logged once, got {lost}", node.name);
        assert!(
            log.contains("API server reachable again"),
            "{}: recovery logged",
            node.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_fail_open_keeps_connections_flowing() {
    verdict_e2e::skip_unless_e2e!();
    let (env, s, a, _b) = setup(&[]).await;
    common::apply_policy(&env.client, &only_a_policy()).await;
    let to = addr(&s, 80);
    wait_for("a allowed", Duration::from_secs(10), || {
        connect_once(&a, to, Duration::from_secs(1)).is_ok()
    })
    .await;
    let mut established = establish(&a, to);
    let load = Load::start(&a, to);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let server_node = env.nodes[0].clone();
    env.kill_agent(&server_node);
    let (ok_at_kill, _) = load.counts();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (ok_while_down, _) = load.counts();
    env.start_agent(&server_node, &[]);
    env.wait_ready(&server_node, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ok, failed) = load.stop();

    eprintln!(
        "[agent-e2e] fail-open: {} new connections while the agent was dead, {ok} ok / {failed} failed in total",
        ok_while_down - ok_at_kill
    );
    assert!(
        ok_while_down - ok_at_kill > 10,
        "new connections kept flowing while the agent was dead"
    );
    assert!(ok > ok_while_down, "and after it came back");
    echo(&mut established).expect("the established connection survived the restart");
}

/// Fail-closed, with the kernel verdict cache on (the default): while the agent is dead no
/// denied connection succeeds, and new connections of a class judged *allow* before the kill
/// keep being accepted from the cache (as established connections keep flowing); nothing else
/// gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_fail_closed_never_admits_a_denied_connection() {
    verdict_e2e::skip_unless_e2e!();
    fail_closed_restart(&["--fail-open=false"], AllowedWhileDead::FromTheCache).await;
}

/// Fail-closed with the verdict cache off: while the agent is dead not a single new connection
/// is admitted, allowed or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_fail_closed_and_no_cache_admits_nothing_new() {
    verdict_e2e::skip_unless_e2e!();
    fail_closed_restart(
        &["--fail-open=false", "--verdict-cache-ttl=0"],
        AllowedWhileDead::None,
    )
    .await;
}

/// What the allowed client may do while the agent is dead.
#[derive(PartialEq)]
enum AllowedWhileDead {
    /// Nothing new connects.
    None,
    /// Its connections keep connecting, accepted from the verdict cache.
    FromTheCache,
}

async fn fail_closed_restart(flags: &[&str], allowed_while_dead: AllowedWhileDead) {
    let (env, s, a, b) = setup(flags).await;
    common::apply_policy(&env.client, &only_a_policy()).await;
    let to = addr(&s, 80);
    wait_for("b denied", Duration::from_secs(10), || {
        connect_once(&b, to, Duration::from_millis(500)).is_err()
    })
    .await;
    assert_eq!(
        connect_once(&a, to, Duration::from_secs(2)),
        Ok(()),
        "a allowed"
    );
    let mut established = establish(&a, to);
    let denied_load = Load::start(&b, to);
    let allowed_load = Load::start(&a, to);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let server_node = env.nodes[0].clone();
    env.kill_agent(&server_node);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (a_ok_at_kill, _) = allowed_load.counts();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (a_ok_while_down, _) = allowed_load.counts();
    env.start_agent(&server_node, flags);
    env.wait_ready(&server_node, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (b_ok, b_failed) = denied_load.stop();
    let (a_ok, _) = allowed_load.stop();

    eprintln!(
        "[agent-e2e] fail-closed {flags:?}: denied client {b_ok} ok / {b_failed} failed; allowed \
         client {} new connections while the agent was dead",
        a_ok_while_down - a_ok_at_kill
    );
    assert_eq!(b_ok, 0, "no denied connection ever succeeded");
    assert!(b_failed > 10, "the denied client kept trying");
    match allowed_while_dead {
        AllowedWhileDead::None => assert_eq!(
            a_ok_while_down, a_ok_at_kill,
            "fail-closed without a cache: no unjudged connection while the agent was dead"
        ),
        AllowedWhileDead::FromTheCache => assert!(
            a_ok_while_down > a_ok_at_kill + 10,
            "the allowed class stays cached while the agent is dead"
        ),
    }
    assert!(
        a_ok > a_ok_while_down,
        "allowed connections resume after the restart"
    );
    echo(&mut established).expect("the established connection survived the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strict_mode_cuts_exactly_the_newly_denied_connections() {
    verdict_e2e::skip_unless_e2e!();
    let (env, s, a, b) = setup(&["--strict-mode"]).await;
    let to = addr(&s, 80);
    // No policy yet: both clients connect and keep their connections open.
    let mut from_a = establish(&a, to);
    let mut from_b = establish(&b, to);
    common::apply_policy(&env.client, &only_a_policy()).await;
    wait_for(
        "b's new connections denied",
        Duration::from_secs(10),
        || connect_once(&b, to, Duration::from_millis(500)).is_err(),
    )
    .await;
    // b's established connection loses its conntrack entry; its next packet is judged as new
    // (conntrack picks up mid-stream TCP) and dropped, so the echo times out.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if echo(&mut from_b).is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b's established connection still works"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    echo(&mut from_a).expect("a's established connection is untouched");
    let text = env.metrics(&env.nodes[0]);
    let deleted = common::metric(&text, "verdict_conntrack_deleted_total");
    assert!(deleted >= 1.0, "deletions counted:\n{text}");
    eprintln!("[agent-e2e] strict mode deleted {deleted} conntrack entries");
}

/// Strict mode's scan at start: two connections established while no policy isolates the
/// server, the server's agent killed, a policy that denies one of them applied while it is
/// down (nothing can cut it then), the agent started again: its first scan deletes the denied
/// connection's conntrack entry, so that connection is cut within a bounded time of the agent
/// being ready, and the allowed one is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strict_mode_scan_at_start_cuts_what_a_change_made_while_down_denies() {
    verdict_e2e::skip_unless_e2e!();
    let (env, s, a, b) = setup(&["--strict-mode"]).await;
    let to = addr(&s, 80);
    let mut from_a = establish(&a, to);
    let mut from_b = establish(&b, to);
    let server_node = env.nodes[0].clone();
    env.kill_agent(&server_node);
    common::apply_policy(&env.client, &only_a_policy()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    echo(&mut from_b).expect("with no agent running, nothing cuts b's connection");
    env.start_agent(&server_node, &["--strict-mode"]);
    env.wait_ready(&server_node, Duration::from_secs(60)).await;
    let ready = Instant::now();
    let bound = Duration::from_secs(10);
    while echo(&mut from_b).is_ok() {
        assert!(
            ready.elapsed() < bound,
            "b's connection still works {bound:?} after the agent is ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "[agent-e2e] strict mode at start: b's connection cut within {:?} of ready",
        ready.elapsed()
    );
    echo(&mut from_a).expect("a's established connection is untouched");
    let text = env.metrics(&server_node);
    let deleted = common::metric(&text, "verdict_conntrack_deleted_total");
    assert!(deleted >= 1.0, "the deletion is counted:\n{text}");
}
