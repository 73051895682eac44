//! Memory at scale: one agent on a netns node of a cluster with 10,000 kwok pods and 1,000
//! NetworkPolicies. Prints the agent's resident memory and its watch-to-snapshot latency, and
//! checks the budget (RSS under 64 MiB) when `VERDICT_AGENT_BIN` names a release build
//! (`cargo build --release -p verdict-agent`). Set `VERDICT_SCALE_PODS` and
//! `VERDICT_SCALE_POLICIES` to change the sizes.
//! Needs root and the control-plane binaries; runs when `VERDICT_E2E` is set.

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use verdict_e2e::KwokOptions;

const NAMESPACES: usize = 10;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_memory_with_10k_pods_and_1k_policies() {
    verdict_e2e::skip_unless_e2e!();
    let pods = size("VERDICT_SCALE_PODS", 10_000);
    let policies = size("VERDICT_SCALE_POLICIES", 1_000);
    let env = common::Env::start("agent-scale", 1).await;
    env.cp
        .start_kwok(KwokOptions::default())
        .await
        .expect("kwok");
    let kwok_nodes = env
        .cp
        .create_kwok_nodes("kwok", 50)
        .await
        .expect("kwok nodes");
    let started = Instant::now();
    for n in 0..NAMESPACES {
        let ns = format!("scale-{n}");
        env.cluster
            .ensure_namespace(&ns, &[("team", &format!("team-{}", n % 3))])
            .await
            .expect("namespace");
        let app = format!("app-{n}");
        env.cp
            .create_kwok_pods(
                &ns,
                "p",
                pods / NAMESPACES,
                &kwok_nodes,
                &[("app", &app), ("tier", "web")],
            )
            .await
            .expect("kwok pods");
    }
    let np_jobs: Vec<(String, usize)> = (0..policies)
        .map(|i| (format!("scale-{}", i % NAMESPACES), i))
        .collect();
    let client = env.client.clone();
    futures::stream::iter(np_jobs)
        .for_each_concurrent(32, |(ns, i)| {
            let client = client.clone();
            async move {
                let np: NetworkPolicy = serde_json::from_value(json!({
                    "metadata": {"name": format!("np-{i}"), "namespace": ns},
                    "spec": {
                        "podSelector": {"matchLabels": {"app": format!("app-{}", i % NAMESPACES)}},
                        "policyTypes": ["Ingress", "Egress"],
                        "ingress": [{"from": [{"namespaceSelector": {"matchLabels":
                            {"team": format!("team-{}", i % 3)}}, "podSelector": {"matchExpressions":
                            [{"key": "tier", "operator": "In", "values": ["web", "api"]}]}}],
                            "ports": [{"port": 8000 + (i % 100) as i32, "protocol": "TCP"}]}],
                        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8",
                            "except": [format!("10.{}.0.0/16", i % 200)]}}]}]
                    }
                }))
                .unwrap();
                Api::<NetworkPolicy>::namespaced(client, &ns)
                    .create(&PostParams::default(), &np)
                    .await
                    .expect("create policy");
            }
        })
        .await;
    eprintln!(
        "[agent-scale] {pods} kwok pods and {policies} policies created in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let node = env.nodes[0].clone();
    let t0 = Instant::now();
    env.start_agent(&node, &[]);
    env.wait_ready(&node, Duration::from_secs(180)).await;
    let ready = t0.elapsed();
    // Let the index settle (kwok may still be writing pod statuses), then measure.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let text = env.metrics(&node);
    let indexed = common::metric(&text, "verdict_index_objects{kind=\"Pod\"}");
    let nps = common::metric(&text, "verdict_index_objects{kind=\"NetworkPolicy\"}");
    let rss = rss_kib(env.agent_pid(&node));
    let p50 = text
        .lines()
        .filter(|l| {
            l.starts_with("verdict_sync_latency_seconds_count")
                || l.starts_with("verdict_sync_latency_seconds_sum")
        })
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "[agent-scale] ready in {:.1}s; index: {indexed} pods, {nps} NetworkPolicies; agent RSS {:.1} MiB; {p50}",
        ready.as_secs_f64(),
        rss as f64 / 1024.0
    );
    assert!(indexed >= pods as f64, "every pod indexed ({indexed})");
    assert!(nps >= policies as f64, "every policy indexed ({nps})");
    assert!(rss > 0, "read the agent's RSS");
    // The budget is for the shipped (release) binary; a debug build carries ~12 MiB more.
    if std::env::var_os("VERDICT_AGENT_BIN").is_some() {
        assert!(
            rss < 64 * 1024,
            "agent RSS {:.1} MiB exceeds the 64 MiB budget",
            rss as f64 / 1024.0
        );
    } else {
        eprintln!(
            "[agent-scale] debug binary: the 64 MiB budget is checked with \
             VERDICT_AGENT_BIN=<release build>"
        );
    }
}
