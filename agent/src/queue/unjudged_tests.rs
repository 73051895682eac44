//! Real packets that are not the first packet of a TCP, UDP or SCTP connection, against a pod
//! isolated by a default-deny NetworkPolicy and a pod admitted by a port-less rule: other IP
//! protocols (GRE, ESP, protocol 253), UDP-Lite (always `ct state invalid` on this kernel), a
//! TCP ACK with no connection (`invalid` once `nf_conntrack_tcp_loose` is 0) and UDP under a
//! `notrack` rule in another table (`untracked`). Needs `VERDICT_E2E` (root, netns).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use arc_swap::ArcSwap;
use k8s_openapi::api::core::v1::Namespace;
use serde_json::json;
use verdict_engine::Index;

use super::tests::{pod, policy};
use super::{Counters, WorkerConfig, Workers};
use crate::ruleset::testns::{self, RoutedPods};
use crate::ruleset::{RulesetConfig, Syncer, detect_queue_statement};

/// Client `a` (10.77.0.2) and server `b` (10.77.0.3) on node-a; `server` is isolated for
/// ingress by a policy whose rules are `ingress` (none: default deny).
fn index(ingress: serde_json::Value) -> Index {
    let mut index = Index::new();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "default",
        "labels": {"kubernetes.io/metadata.name": "default"}}}))
    .unwrap();
    index.apply_namespace(&ns).unwrap();
    for p in [
        pod("client", "node-a", "10.77.0.2").label("app", "client"),
        pod("server", "node-a", "10.77.0.3").label("app", "server"),
    ] {
        index.apply_pod(&p.build()).unwrap();
    }
    index
        .apply_network_policy(&policy(
            "server-ingress",
            "server",
            json!({"policyTypes": ["Ingress"], "ingress": ingress}),
        ))
        .unwrap();
    index
}

/// What the probes are, by name: each is sent three times from `a` and counted in `b`.
const PROBES: [&str; 6] = [
    "gre",
    "esp",
    "proto253",
    "udplite",
    "tcp-ack",
    "notrack-udp",
];

/// Listens in the server's netns for 2.5 s and prints `name count` per probe that arrived.
const RECEIVER: &str = r#"
import socket, select, time
M = b"h2probe"
socks = {}
for name, proto in [("gre", 47), ("esp", 50), ("proto253", 253), ("tcp-ack", 6)]:
    socks[socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)] = name
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136); u.bind(("10.77.0.3", 9001)); socks[u] = "udplite"
n = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); n.bind(("10.77.0.3", 9000)); socks[n] = "notrack-udp"
counts = {v: 0 for v in socks.values()}
print("ready", flush=True)
end = time.time() + 2.5
while time.time() < end:
    r, _, _ = select.select(list(socks), [], [], 0.05)
    for s in r:
        data = s.recv(4096)
        if M in data:
            counts[socks[s]] += 1
for k, v in sorted(counts.items()):
    print(k, v)
"#;

/// Sends every probe three times from the client's netns.
const SENDER: &str = r#"
import socket, struct
M = b"h2probe"
DST = "10.77.0.3"
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def tcp_ack():
    src, dst = socket.inet_aton("10.77.0.2"), socket.inet_aton(DST)
    hdr = struct.pack("!HHIIBBHHH", 45678, 8080, 1000, 2000, 5 << 4, 0x10, 512, 0, 0) + M
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(hdr))
    c = csum(pseudo + hdr)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:]
for _ in range(3):
    socket.socket(socket.AF_INET, socket.SOCK_RAW, 47).sendto(b"\0\0\x08\0" + M, (DST, 0))
    socket.socket(socket.AF_INET, socket.SOCK_RAW, 50).sendto(b"\0\0\0\1\0\0\0\1" + M, (DST, 0))
    socket.socket(socket.AF_INET, socket.SOCK_RAW, 253).sendto(M, (DST, 0))
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136).sendto(M, (DST, 9001))
    socket.socket(socket.AF_INET, socket.SOCK_RAW, 6).sendto(tcp_ack(), (DST, 0))
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(M, (DST, 9000))
"#;

/// An nft table of its own that exempts UDP to the server's port 9000 from conntrack.
const NOTRACK: &str = "table inet h2raw {
  chain pre {
    type filter hook prerouting priority raw;
    ip daddr 10.77.0.3 udp dport 9000 notrack
  }
}
";

fn spawn_receiver(net: &RoutedPods) -> Child {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &net.b.name, "python3", "-c", RECEIVER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("receiver");
    // Wait for "ready" so that nothing is sent before the sockets exist.
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout);
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert_eq!(first.trim(), "ready", "receiver did not start");
    child.stdout = Some(lines.into_inner());
    child
}

/// Sends every probe and returns how many of each reached the server.
fn probe(net: &RoutedPods) -> Vec<(String, u32)> {
    let receiver = spawn_receiver(net);
    net.a.exec(&["python3", "-c", SENDER]);
    let out = receiver.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect()
}

#[test]
fn unjudgeable_and_untracked_packets_are_judged_for_selected_pods() {
    if !testns::enabled("unjudgeable_and_untracked_packets_are_judged_for_selected_pods") {
        return;
    }
    let net = RoutedPods::new("uj");
    net.node
        .exec(&["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"]);
    let path = std::env::temp_dir().join(format!("{}.nft", net.node.name));
    std::fs::write(&path, NOTRACK).unwrap();
    net.node.exec(&["nft", "-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);

    let isolated = index(json!([]));
    let selected = isolated.selected_pod_ips("node-a");
    let snapshot = Arc::new(ArcSwap::from_pointee(isolated));
    let counters = Arc::new(Counters::new());
    let statement = net.node.enter(|| detect_queue_statement("kv-uj")).unwrap();
    // Fail-open, the default: before the fix every probe here was accepted unjudged.
    let cfg = RulesetConfig {
        table_name: "kv-uj".into(),
        queue_base: 360,
        queues: 1,
        fail_open: true,
        verdict_cache: None,
    };
    let _syncer = net
        .node
        .enter(|| Syncer::install_with(&cfg, statement, &selected))
        .unwrap();
    let _workers = net
        .node
        .enter(|| {
            Workers::start(
                WorkerConfig::new("node-a", 360, 1, true),
                snapshot.clone(),
                None,
                counters.clone(),
            )
        })
        .unwrap();

    let got = probe(&net);
    let want: Vec<(String, u32)> = {
        let mut w: Vec<(String, u32)> = PROBES.iter().map(|p| ((*p).to_owned(), 0)).collect();
        w.sort();
        w
    };
    assert_eq!(got, want, "nothing reaches the isolated pod");
    assert_eq!(
        counters.defaulted(),
        0,
        "every probe was judged, none defaulted"
    );

    // A port-less rule admitting the client: the same probes are judged and let through.
    snapshot.store(Arc::new(index(json!([
        {"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}
    ]))));
    let got = probe(&net);
    let want: Vec<(String, u32)> = {
        let mut w: Vec<(String, u32)> = PROBES.iter().map(|p| ((*p).to_owned(), 3)).collect();
        w.sort();
        w
    };
    assert_eq!(got, want, "a port-less allow admits every probe");
}
