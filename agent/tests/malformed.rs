//! Invalid and truncated packets injected with raw sockets at a selected pod: the agent
//! survives, counts what reaches it, applies the default verdict (fail-open: accept) to what it
//! cannot parse, and keeps enforcing policy afterwards.
//!
//! Conntrack marks packets with broken TCP, UDP, SCTP or ICMP headers `invalid`, and the queue
//! rules take `invalid` packets of selected pods too, so they reach the queue: those whose
//! header is cut short are counted as malformed and get the default verdict; the UDP datagram
//! whose length field lies parses, and is judged. Packets of protocols no policy API can name
//! (253, GRE, ESP) are tracked as `new` and judged as flows without ports: the server's
//! port-less rule admits the client, so they are accepted as judged, not defaulted.
//! Needs root and the control-plane binaries; runs when `VERDICT_E2E` is set.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::json;
use verdict_conformance::Policy;
use verdict_e2e::{PodSpec, Port};

const INJECT: &str = r#"
import socket, struct, sys
dst = sys.argv[1]
def ip_header(proto, payload_len, src, dst):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, 0x1234, 0, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
src = sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sent = {'invalid': 0, 'other': 0}
# Broken transport headers: conntrack calls these invalid.
for proto, payload in [(6, b'\x00\x50'), (6, b'\x00\x50\x00\x50' + b'\x00' * 8 + b'\x10\x02'),
                       (17, b'\x00\x35\x00'), (17, b'\x00\x35\x00\x35\xff\xff\x00\x00'),
                       (132, b'\x00\x50'), (1, b'\x08')]:
    s.sendto(ip_header(proto, len(payload), src, dst) + payload, (dst, 0))
    sent['invalid'] += 1
# Protocols no policy can name, some with empty or one-byte payloads.
for proto, payload in [(253, b''), (253, b'x'), (253, b'junk'), (47, b'\x00'), (50, b'')]:
    s.sendto(ip_header(proto, len(payload), src, dst) + payload, (dst, 0))
    sent['other'] += 1
print(sent['invalid'], sent['other'])
"#;

const RECEIVE_253: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
s.settimeout(0.5)
n = 0
end = time.time() + float(sys.argv[1])
while time.time() < end:
    try:
        s.recv(2048); n += 1
    except socket.timeout:
        pass
print(n)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_packets_get_the_default_verdict_and_other_protocols_are_judged() {
    verdict_e2e::skip_unless_e2e!();
    let env = common::Env::start("agent-malformed", 2).await;
    for ns in ["x", "y"] {
        env.cluster
            .ensure_namespace(ns, &[("ns", ns)])
            .await
            .expect("namespace");
    }
    let (n1, n2) = (env.nodes[0].name.clone(), env.nodes[1].name.clone());
    let server = env
        .cluster
        .add_pod(
            PodSpec::new("x", "s")
                .label("pod", "s")
                .node(&n1)
                .serve(Port::tcp(80)),
        )
        .await
        .unwrap();
    let client = env
        .cluster
        .add_pod(PodSpec::new("y", "c").label("pod", "c").node(&n2))
        .await
        .unwrap();
    env.start_agents(&[]).await;
    // Select the server (ingress on TCP 80 from y only), so its new connections are queued.
    let np: NetworkPolicy = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "from-y", "namespace": "x"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}
    }))
    .unwrap();
    common::apply_policy(&env.client, &Policy::NetworkPolicy(np)).await;
    let server_node = env.nodes[0].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env
        .metrics(&server_node)
        .contains("verdict_index_objects{kind=\"NetworkPolicy\"} 1")
    {
        assert!(Instant::now() < deadline, "policy not indexed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = env.metrics(&server_node);

    let receiver = Command::new("ip")
        .args([
            "netns",
            "exec",
            &server.netns,
            "python3",
            "-c",
            RECEIVE_253,
            "4",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("receiver");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let injected = Command::new("ip")
        .args(["netns", "exec", &client.netns, "python3", "-c", INJECT])
        .args([server.ip.to_string(), client.ip.to_string()])
        .output()
        .expect("injector");
    assert!(
        injected.status.success(),
        "injector: {}",
        String::from_utf8_lossy(&injected.stderr)
    );
    let counts = String::from_utf8_lossy(&injected.stdout).to_string();
    let received = receiver.wait_with_output().expect("receiver output");
    let got_253: u32 = String::from_utf8_lossy(&received.stdout)
        .trim()
        .parse()
        .unwrap_or(0);

    let after = env.metrics(&server_node);
    let delta = |name: &str| common::metric(&after, name) - common::metric(&before, name);
    eprintln!(
        "[agent-e2e] injected {counts:?}; unsupported +{}, malformed +{}; protocol 253 delivered: {got_253}",
        delta("verdict_unsupported_packets_total"),
        delta("verdict_malformed_packets_total")
    );
    assert_eq!(
        delta("verdict_unsupported_packets_total"),
        0.0,
        "no IP protocol is unsupported: 253, GRE and ESP are judged"
    );
    assert_eq!(
        delta("verdict_malformed_packets_total"),
        5.0,
        "the five invalid packets with a cut transport header reached the queue (ct state \
         invalid) and were counted"
    );
    assert_eq!(
        got_253, 3,
        "the port-less rule admits the client: the three protocol-253 packets were accepted"
    );
    assert_eq!(
        common::http_get(&server_node.netns, common::HEALTH_ADDR, "/healthz").map(|(s, _)| s),
        Some(200),
        "the agent survived"
    );
    assert!(
        env.cluster.process_running(env.agent_pid(&server_node)),
        "agent still running"
    );
    // And it still judges real connections.
    let ok = env
        .cluster
        .probe(&client, server.ip, Port::tcp(80), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(ok, "allowed connection after the injection");
}
