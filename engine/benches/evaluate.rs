//! Criterion benchmarks of the engine's hot path and its incremental updates.
//!
//! The cluster: 100 namespaces x 100 pods (10k pods), 10 NetworkPolicies per namespace (1k),
//! and 100 AdminNetworkPolicies (one per namespace, plus 5 of them selecting every namespace),
//! and a BANP. Run with `cargo bench -p verdict-engine --bench evaluate`.
#![allow(missing_docs)] // criterion's macros generate undocumented items.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use verdict_engine::testing::*;
use verdict_engine::{ClusterObject, Flow, Index};

const NAMESPACES: usize = 100;
const PODS_PER_NAMESPACE: usize = 100;
const NPS_PER_NAMESPACE: usize = 10;

fn ns_name(i: usize) -> String {
    format!("ns{i}")
}

fn pod_ip(ns: usize, j: usize) -> String {
    format!("10.{}.{}.{}", ns / 256, ns % 256, j + 1)
}

fn pod_object(ns: usize, j: usize, app: usize) -> ClusterObject {
    let app = format!("app{app}");
    let name = format!("p{j}");
    pod(&ns_name(ns), &name)
        .labels([("app", app.as_str()), ("pod", name.as_str())])
        .ip(&pod_ip(ns, j))
        .node(&format!("node{}", j % 10))
        .port("http", 8080, "TCP")
        .into()
}

fn network_policy(ns: usize, k: usize, extra_port: i32) -> ClusterObject {
    let app = format!("app{k}");
    let peer_app = format!("app{}", (k + 1) % NPS_PER_NAMESPACE);
    let prev_app = format!("app{}", (k + NPS_PER_NAMESPACE - 1) % NPS_PER_NAMESPACE);
    let team = format!("t{}", k % 10);
    netpol(&ns_name(ns), &format!("np{k}"))
        .pod_selector(sel([("app", app.as_str())]))
        .ingress(
            np_rule()
                .namespaces_and_pods(
                    sel([("team", team.as_str())]),
                    sel([("app", peer_app.as_str())]),
                )
                .port(80, None)
                .port(extra_port, None)
                .port_range(9000, 9100, Some("TCP")),
        )
        .ingress(
            np_rule()
                .ip_block("192.0.2.0/24", &["192.0.2.128/25"])
                .named_port("http", None),
        )
        .egress(
            np_rule()
                .namespaces(sel([("team", team.as_str())]))
                .protocol("UDP"),
        )
        .egress(
            np_rule()
                .namespaces_and_pods(sel([]), sel([("app", prev_app.as_str())]))
                .port(80, None),
        )
        .into()
}

fn admin_policy(i: usize, priority: i32) -> ClusterObject {
    let subject = if i < 5 {
        subject_namespaces(sel([]))
    } else {
        let name = ns_name(i);
        subject_namespaces(sel([("kubernetes.io/metadata.name", name.as_str())]))
    };
    let team = format!("t{}", i % 10);
    anp(&format!("anp{i}"), priority)
        .subject(subject)
        .ingress(
            admin_rule("Deny")
                .name("deny-quarantine")
                .peer(peer_namespaces(sel([("quarantine", "true")]))),
        )
        .ingress(
            admin_rule("Pass")
                .name("delegate-team")
                .peer(peer_namespaces(sel([("team", team.as_str())])))
                .port(admin_port(5432, "TCP")),
        )
        .egress(
            admin_rule("Deny")
                .name("no-metadata")
                .peer(peer_networks(&["169.254.169.254/32"])),
        )
        .into()
}

/// The 10k-pod, 1k-NP, 100-ANP cluster.
fn big_cluster() -> Index {
    let mut objects: Vec<ClusterObject> = Vec::new();
    for i in 0..NAMESPACES {
        let team = format!("t{}", i % 10);
        objects.push(
            namespace(&ns_name(i))
                .labels([("team", team.as_str())])
                .into(),
        );
        for j in 0..PODS_PER_NAMESPACE {
            objects.push(pod_object(i, j, j % NPS_PER_NAMESPACE));
        }
        for k in 0..NPS_PER_NAMESPACE {
            objects.push(network_policy(i, k, 443));
        }
    }
    for i in 0..100 {
        objects.push(admin_policy(i, (i * 10) as i32));
    }
    objects.push(
        banp()
            .ingress(
                admin_rule("Deny")
                    .name("deny-all")
                    .peer(peer_namespaces(sel([]))),
            )
            .into(),
    );
    index_of(objects)
}

/// 1024 flows between pseudo-random pod pairs: even ones are built to be allowed (the source's
/// namespace team and app are the ones the destination's policy admits), odd ones are random
/// and mostly denied.
fn flows() -> Vec<Flow> {
    let mut out = Vec::new();
    let mut seed: usize = 12345;
    for n in 0..1024 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (di, dj) = ((seed >> 41) % NAMESPACES, (seed >> 9) % PODS_PER_NAMESPACE);
        let (mut si, mut sj) = ((seed >> 33) % NAMESPACES, (seed >> 17) % PODS_PER_NAMESPACE);
        let port = if n % 2 == 0 {
            let k = dj % NPS_PER_NAMESPACE;
            si = si / 10 * 10 + k % 10;
            sj = sj / 10 * 10 + (k + 1) % NPS_PER_NAMESPACE;
            80
        } else {
            [80, 443, 8080, 9050, 5432][n % 5]
        };
        out.push(tcp(&pod_ip(si, sj), &pod_ip(di, dj), port));
    }
    out
}

fn bench_evaluate(c: &mut Criterion) {
    let index = big_cluster();
    let flows = flows();
    let allowed = flows
        .iter()
        .filter(|f| index.evaluate(f).verdict == verdict_engine::Verdict::Allow)
        .count();
    eprintln!(
        "cluster: {:?}; sample flows: {} of {} allowed",
        index.stats(),
        allowed,
        flows.len()
    );
    let mut group = c.benchmark_group("evaluate");
    let mut n = 0;
    group.bench_function("10k_pods_1k_np_100_anp", |b| {
        b.iter(|| {
            n = (n + 1) & 1023;
            black_box(index.evaluate(black_box(&flows[n])))
        })
    });
    let mut n = 0;
    group.bench_function("10k_pods_1k_np_100_anp/one_direction", |b| {
        b.iter(|| {
            n = (n + 1) & 1023;
            black_box(
                index.evaluate_direction(black_box(&flows[n]), verdict_engine::Direction::Ingress),
            )
        })
    });
    let hot = flows[0];
    group.bench_function("10k_pods_1k_np_100_anp/same_flow", |b| {
        b.iter(|| black_box(index.evaluate(black_box(&hot))))
    });
    let external = tcp(&pod_ip(3, 3), "198.51.100.7", 443);
    group.bench_function("pod_to_external", |b| {
        b.iter(|| black_box(index.evaluate(black_box(&external))))
    });
    group.finish();
}

/// Two fixed pods, plus `n` NetworkPolicies and `n / 10` ANPs that select neither of them.
fn bench_unrelated(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate_unrelated_policies");
    for n in [0usize, 1_000, 10_000] {
        let mut objects: Vec<ClusterObject> = vec![
            namespace("bench").labels([("team", "b")]).into(),
            pod("bench", "a")
                .labels([("app", "a")])
                .ip("10.200.0.1")
                .into(),
            pod("bench", "b")
                .labels([("app", "b")])
                .ip("10.200.0.2")
                .into(),
            netpol("bench", "allow-b")
                .pod_selector(sel([("app", "a")]))
                .ingress(np_rule().pods(sel([("app", "b")])).port(80, None))
                .into(),
            anp("bench", 0)
                .subject(subject_namespaces(sel([("team", "b")])))
                .ingress(admin_rule("Pass").peer(peer_namespaces(sel([("team", "b")]))))
                .into(),
        ];
        for k in 0..n {
            let ns = k % 100;
            objects.push(network_policy(ns, k, 443));
            if k % 10 == 0 {
                objects.push(admin_policy(5 + k / 10, ((k / 10) % 1000) as i32));
            }
        }
        // The two pods last, so their records are allocated after the unrelated policies.
        objects.rotate_left(5);
        let index = index_of(objects);
        let flow = tcp("10.200.0.2", "10.200.0.1", 80);
        assert_eq!(
            index.evaluate(&flow).verdict,
            verdict_engine::Verdict::Allow
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &index, |b, index| {
            b.iter(|| black_box(index.evaluate(black_box(&flow))))
        });
    }
    group.finish();
}

fn bench_updates(c: &mut Criterion) {
    let mut index = big_cluster();
    let mut group = c.benchmark_group("apply");
    // One pod's label flips between two apps (changes which NPs select it).
    let relabels = [pod_object(7, 7, 7), pod_object(7, 7, 8)];
    let mut n = 0;
    group.bench_function("pod_label_change", |b| {
        b.iter(|| {
            n ^= 1;
            index.apply(black_box(&relabels[n])).expect("valid");
        })
    });
    // One NetworkPolicy's port flips (same selection, new rules).
    let policies = [network_policy(7, 3, 443), network_policy(7, 3, 8443)];
    group.bench_function("network_policy_change", |b| {
        b.iter(|| {
            n ^= 1;
            index.apply(black_box(&policies[n])).expect("valid");
        })
    });
    // One ANP's priority flips (its subject is one namespace, so only its 100 pods are
    // re-checked).
    let admins = [admin_policy(42, 420), admin_policy(42, 421)];
    group.bench_function("admin_network_policy_change", |b| {
        b.iter(|| {
            n ^= 1;
            index.apply(black_box(&admins[n])).expect("valid");
        })
    });
    // The same for an ANP whose subject is every namespace (the worst case: all 10k pods).
    let broad = [admin_policy(2, 20), admin_policy(2, 21)];
    group.bench_function("admin_network_policy_change_all_namespaces", |b| {
        b.iter(|| {
            n ^= 1;
            index.apply(black_box(&broad[n])).expect("valid");
        })
    });
    // Namespace relabel (re-checks ANP/BANP subjects of its 100 pods).
    let namespaces: [ClusterObject; 2] = [
        namespace(&ns_name(7)).labels([("team", "t7")]).into(),
        namespace(&ns_name(7)).labels([("team", "t8")]).into(),
    ];
    group.bench_function("namespace_label_change", |b| {
        b.iter(|| {
            n ^= 1;
            index.apply(black_box(&namespaces[n])).expect("valid");
        })
    });
    group.bench_function("snapshot_clone", |b| b.iter(|| black_box(index.clone())));
    group.finish();
}

criterion_group!(benches, bench_evaluate, bench_unrelated, bench_updates);
criterion_main!(benches);
