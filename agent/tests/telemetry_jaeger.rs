//! Decision spans in a real Jaeger, from real packets: two netns nodes with one agent each,
//! exporting over OTLP gRPC to Jaeger v2 on 127.0.0.1, queried through Jaeger's
//! `/api/v3/traces` HTTP API.
//!
//! ```text
//!  y/a (n2) ── TCP 80 (allowed) / TCP 81 (denied by x/s's ingress) ──► x/s (n1)
//!     agent n2: egress span ─┐                    agent n1: ingress span ─┐
//!                            └──────► Jaeger (one trace per connection) ◄─┘
//! ```
//!
//! Also checks `verdict_decisions_total` against the probes each node judged, and that a
//! connection accepted from the kernel verdict cache is traced too.
//!
//! Needs root and the control-plane binaries; runs when `VERDICT_E2E` is set.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use common::{Env, in_netns};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};
use verdict_conformance::Policy;
use verdict_e2e::{Jaeger, PodSpec, Port, TestPod};

/// One span as the test reads it: its ids, the resource's node and every attribute as text.
#[derive(Clone, Debug)]
struct Span {
    trace_id: String,
    span_id: String,
    node: String,
    attrs: BTreeMap<String, String>,
}

impl Span {
    fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map_or("", String::as_str)
    }
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("jaeger query port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// OTLP JSON ids come as hex from Jaeger's v3 gateway; accept base64 too (protobuf JSON).
fn id_hex(v: &Value) -> String {
    let s = v.as_str().unwrap_or_default();
    if s.len() == 32 || s.len() == 16 {
        return s.to_ascii_lowercase();
    }
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = String::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let Some(v) = B64.iter().position(|b| *b == c) else {
            continue;
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push_str(&format!("{:02x}", (bits >> n) & 0xff));
        }
    }
    out
}

fn value_text(v: &Value) -> String {
    if let Some(s) = v.get("stringValue").and_then(Value::as_str) {
        return s.to_owned();
    }
    if let Some(i) = v.get("intValue") {
        return i.as_str().map_or_else(|| i.to_string(), str::to_owned);
    }
    if let Some(b) = v.get("boolValue") {
        return b.to_string();
    }
    if let Some(values) = v.pointer("/arrayValue/values").and_then(Value::as_array) {
        return values.iter().map(value_text).collect::<Vec<_>>().join(",");
    }
    v.to_string()
}

/// Every `verdict-agent` span Jaeger has from `since` on, through `/api/v3/traces`.
fn spans_since(jaeger_query_port: u16, since: SystemTime) -> Vec<Span> {
    let path = format!(
        "/api/v3/traces?query.service_name=verdict-agent&query.start_time_min={}&query.start_time_max={}&query.num_traces=1000",
        rfc3339(since - Duration::from_secs(5)),
        rfc3339(SystemTime::now() + Duration::from_secs(60)),
    );
    let (status, body) = http_get(jaeger_query_port, &path);
    if status == 404 {
        return Vec::new(); // nothing stored yet
    }
    assert_eq!(status, 200, "GET {path}: {body}");
    let v: Value = serde_json::from_str(&body).expect("v3 traces JSON");
    let mut out = Vec::new();
    for rs in v
        .pointer("/result/resourceSpans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let node = rs
            .pointer("/resource/attributes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "k8s.node.name")
            .map(|a| value_text(&a["value"]))
            .unwrap_or_default();
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for span in ss["spans"].as_array().into_iter().flatten() {
                let attrs = span["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        (
                            a["key"].as_str().unwrap_or_default().to_owned(),
                            value_text(&a["value"]),
                        )
                    })
                    .collect();
                out.push(Span {
                    trace_id: id_hex(&span["traceId"]),
                    span_id: id_hex(&span["spanId"]),
                    node: node.clone(),
                    attrs,
                });
            }
        }
    }
    out
}

/// Polls Jaeger until `found` picks something out of the spans, or fails after `timeout`.
async fn wait_for_spans<T>(
    jaeger: u16,
    since: SystemTime,
    what: &str,
    timeout: Duration,
    found: impl Fn(&[Span]) -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let spans = spans_since(jaeger, since);
        if let Some(t) = found(&spans) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not in Jaeger after {timeout:?}; spans: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The egress and ingress spans of one connection to destination `port`: an ingress span, and
/// the egress span that shares its trace.
fn both_halves(spans: &[Span], port: u16) -> Option<(Span, Span)> {
    let port = port.to_string();
    let ingress = spans
        .iter()
        .find(|s| s.attr("destination.port") == port && s.attr("verdict.direction") == "ingress")?;
    let egress = spans
        .iter()
        .find(|e| e.trace_id == ingress.trace_id && e.attr("verdict.direction") == "egress")?;
    Some((egress.clone(), ingress.clone()))
}

fn connect(from: &TestPod, to: SocketAddr) -> bool {
    in_netns(&from.netns, || {
        let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_millis(800)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 4];
        s.write_all(b"ping").is_ok() && s.read_exact(&mut buf).is_ok()
    })
}

fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("endpoint port")
}

fn metric_sum(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_become_spans_with_both_halves_of_a_connection_in_one_trace() {
    verdict_e2e::skip_unless_e2e!();
    let jaeger = Jaeger::start().await.expect("jaeger");
    let otlp_port = port_of(&jaeger.otlp_grpc_endpoint());
    let query_port = port_of(&jaeger.query_url());
    let env = Env::start("agent-telemetry", 2).await;
    for node in &env.nodes {
        env.cluster
            .forward_loopback_port(&node.netns, otlp_port)
            .expect("OTLP relay into the node netns");
    }
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
                .serve(Port::tcp(80))
                .serve(Port::tcp(81)),
        )
        .await
        .expect("server pod");
    let a = env
        .cluster
        .add_pod(PodSpec::new("y", "a").label("pod", "a").node(&n2))
        .await
        .expect("client pod");
    // `a` is egress-isolated too (allowing everything), so its node judges its egress.
    for np in [
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "web-80", "namespace": "x"},
            "spec": {"podSelector": {"matchLabels": {"pod": "s"}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                    "ports": [{"port": 80, "protocol": "TCP"}]}]}
        }),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "egress-any", "namespace": "y"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}
        }),
    ] {
        let np: NetworkPolicy = serde_json::from_value(np).unwrap();
        common::apply_policy(&env.client, &Policy::NetworkPolicy(np)).await;
    }
    let endpoint = format!("http://127.0.0.1:{otlp_port}");
    env.start_agents(&[
        "--otlp-endpoint",
        &endpoint,
        "--trace-key",
        "telemetry-test-cluster",
    ])
    .await;
    tokio::time::sleep(common::SETTLE / 5).await;
    let since = SystemTime::now();

    assert!(
        connect(&a, SocketAddr::from((s.ip, 80))),
        "port 80 is allowed"
    );
    assert!(
        !connect(&a, SocketAddr::from((s.ip, 81))),
        "port 81 is denied"
    );

    // The denied connection: the egress half (allowed, on n2) and the ingress half (denied,
    // on n1) in one trace.
    let (egress, ingress) = wait_for_spans(
        query_port,
        since,
        "both halves of the denied connection",
        Duration::from_secs(30),
        |spans| both_halves(spans, 81),
    )
    .await;
    assert_eq!(ingress.attr("verdict.action"), "deny", "{ingress:#?}");
    assert_eq!(ingress.node, n1, "the server's node judges the ingress");
    assert_eq!(ingress.attr("verdict.isolated_by"), "x/web-80");
    assert_eq!(ingress.attr("security_rule.category"), "NetworkPolicy");
    assert_eq!(ingress.attr("verdict.src.k8s.namespace.name"), "y");
    assert_eq!(ingress.attr("verdict.src.k8s.pod.name"), "a");
    assert_eq!(ingress.attr("verdict.dst.k8s.namespace.name"), "x");
    assert_eq!(ingress.attr("verdict.dst.k8s.pod.name"), "s");
    assert_eq!(ingress.attr("destination.address"), s.ip.to_string());
    assert_eq!(ingress.attr("source.address"), a.ip.to_string());
    assert_eq!(ingress.attr("network.transport"), "tcp");
    assert!(
        ingress
            .attr("verdict.explanation")
            .contains("isolated by x/web-80"),
        "{ingress:#?}"
    );
    assert_eq!(egress.attr("verdict.action"), "allow", "{egress:#?}");
    assert_eq!(egress.node, n2, "the client's node judges the egress");
    assert_eq!(egress.attr("security_rule.name"), "y/egress-any");
    assert_ne!(egress.span_id, ingress.span_id, "two sibling spans");

    // The allowed connection's two halves share a trace too.
    let (allowed_egress, allowed_ingress) = wait_for_spans(
        query_port,
        since,
        "both halves of the allowed connection",
        Duration::from_secs(30),
        |spans| both_halves(spans, 80),
    )
    .await;
    assert_eq!(allowed_ingress.attr("verdict.action"), "allow");
    assert_eq!(allowed_ingress.attr("security_rule.name"), "x/web-80");
    assert_eq!(allowed_ingress.attr("security_rule.reference"), "0");
    assert_eq!(allowed_egress.trace_id, allowed_ingress.trace_id);
    assert_ne!(
        allowed_ingress.trace_id, ingress.trace_id,
        "each connection has its own trace"
    );

    // A second allowed connection of the same flow class is accepted from the kernel
    // verdict cache (no queue round trip), and is still traced, marked cached.
    let before = SystemTime::now();
    assert!(connect(&a, SocketAddr::from((s.ip, 80))), "cached class");
    let cached = wait_for_spans(
        query_port,
        before,
        "a span of a connection accepted from the verdict cache",
        Duration::from_secs(30),
        |spans| {
            spans
                .iter()
                .find(|s| {
                    s.attr("destination.port") == "80"
                        && s.attr("verdict.cached") == "true"
                        && s.trace_id != allowed_ingress.trace_id
                })
                .cloned()
        },
    )
    .await;
    assert_eq!(cached.attr("verdict.action"), "allow", "{cached:#?}");

    // Metrics count every connection each node judged: n1 judged three ingress decisions
    // (80, 81, 80 cached), n2 three egress ones.
    let text = env.metrics(&env.nodes[0]);
    assert_eq!(
        metric_sum(&text, "verdict_decisions_total{", "direction=\"ingress\""),
        3.0,
        "{text}"
    );
    let text = env.metrics(&env.nodes[1]);
    assert_eq!(
        metric_sum(&text, "verdict_decisions_total{", "direction=\"egress\""),
        3.0,
        "{text}"
    );
    // Each node exported its three spans; the last may still be in the 1 s export batch.
    let deadline = Instant::now() + Duration::from_secs(15);
    for node in &env.nodes {
        loop {
            let exported = metric_sum(
                &env.metrics(node),
                "verdict_spans_total{",
                "outcome=\"exported\"",
            );
            if exported >= 3.0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {exported} spans exported, expected 3",
                node.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// New TCP connections from `from` to `to` in a loop on a thread, counted.
struct Load {
    ok: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(from: &TestPod, to: SocketAddr) -> Load {
        use std::sync::atomic::Ordering::Relaxed;
        let ok = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (o, st) = (ok.clone(), stop.clone());
        let netns = from.netns.clone();
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(format!("/run/netns/{netns}")).unwrap();
            nix::sched::setns(
                std::os::fd::AsFd::as_fd(&file),
                nix::sched::CloneFlags::CLONE_NEWNET,
            )
            .unwrap();
            while !st.load(Relaxed) {
                if TcpStream::connect_timeout(&to, Duration::from_millis(500)).is_ok() {
                    o.fetch_add(1, Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Load {
            ok,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> u64 {
        self.ok.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn span_counter(env: &Env, node: usize, outcome: &str) -> f64 {
    metric_sum(
        &env.metrics(&env.nodes[node]),
        "verdict_spans_total{",
        &format!("outcome=\"{outcome}\""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_outage_never_slows_judging_and_spans_flow_again_after_it() {
    verdict_e2e::skip_unless_e2e!();
    let jaeger = Jaeger::start().await.expect("jaeger");
    let otlp_port = port_of(&jaeger.otlp_grpc_endpoint());
    let query_port = port_of(&jaeger.query_url());
    let env = Env::start("agent-telemetry-outage", 2).await;
    for node in &env.nodes {
        env.cluster
            .forward_loopback_port(&node.netns, otlp_port)
            .expect("OTLP relay into the node netns");
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
        .expect("client pod");
    let np: NetworkPolicy = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "web", "namespace": "x"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}
    }))
    .unwrap();
    common::apply_policy(&env.client, &Policy::NetworkPolicy(np)).await;
    let endpoint = format!("http://127.0.0.1:{otlp_port}");
    // Without the verdict cache every connection is queued and judged on n1, so the load's
    // rate is the judging rate.
    env.start_agents(&["--otlp-endpoint", &endpoint, "--verdict-cache-ttl", "0"])
        .await;
    tokio::time::sleep(common::SETTLE / 5).await;

    let load = Load::start(&a, SocketAddr::from((s.ip, 80)));
    let window = Duration::from_secs(10);
    let c0 = load.count();
    tokio::time::sleep(window).await;
    let before = load.count() - c0;
    assert!(
        before > 50,
        "the load runs: {before} connections in {window:?}"
    );
    let exported_before = span_counter(&env, 0, "exported");
    assert!(
        exported_before > 0.0,
        "spans are exported before the outage"
    );

    drop(jaeger);
    let failed_at_stop = span_counter(&env, 0, "failed");
    let c1 = load.count();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let during = (load.count() - c1) as f64 / 3.0; // per 10 s
    let failed = span_counter(&env, 0, "failed");
    assert!(
        failed > failed_at_stop,
        "failed exports are counted while the collector is down ({failed_at_stop} -> {failed})"
    );
    assert!(
        during >= before as f64 * 0.8,
        "judging keeps its rate while the collector is down: {before} per 10 s before, \
         {during:.0} per 10 s during"
    );

    let jaeger = Jaeger::start_on(query_port, otlp_port)
        .await
        .expect("jaeger again, same ports");
    let back = SystemTime::now();
    let exported_at_return = span_counter(&env, 0, "exported");
    wait_for_spans(
        query_port,
        back,
        "spans after the collector returned",
        Duration::from_secs(60),
        |spans| {
            spans
                .iter()
                .find(|sp| sp.node == n1 && sp.attr("verdict.direction") == "ingress")
                .cloned()
        },
    )
    .await;
    assert!(span_counter(&env, 0, "exported") > exported_at_return);
    drop(load);
    drop(jaeger);
}
