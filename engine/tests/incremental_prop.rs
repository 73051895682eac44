//! Property test: any sequence of applies and deletes leaves the index deciding exactly like an
//! index built from scratch from the surviving objects.

use proptest::prelude::*;
use verdict_engine::testing::*;
use verdict_engine::{ClusterObject, Index};

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const VALUES: [&str; 3] = ["a", "b", "c"];
const IPS: [&str; 6] = [
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.0.4",
    "192.168.0.1",
    "203.0.113.1",
];

/// One step: apply an object under a key, or delete the object under a key.
#[derive(Clone, Debug)]
enum Op {
    Apply(String, Box<ClusterObject>),
    Delete(String),
}

fn label(v: usize) -> (&'static str, &'static str) {
    ("l", VALUES[v % VALUES.len()])
}

fn object_strategy() -> impl Strategy<Value = (String, ClusterObject)> {
    prop_oneof![
        // Namespaces with one label.
        (0..3usize, 0..3usize).prop_map(|(n, v)| {
            (
                format!("ns/{}", NAMESPACES[n]),
                namespace(NAMESPACES[n]).labels([label(v)]).into(),
            )
        }),
        // Pods: 4 names, any namespace, one of the pod IPs (so IPs get reused), maybe hostNetwork.
        (0..4usize, 0..3usize, 0..3usize, 0..5usize, any::<bool>()).prop_map(
            |(p, n, v, ip, host)| {
                let name = format!("p{p}");
                let mut b = pod(NAMESPACES[n], &name)
                    .labels([label(v)])
                    .node("n1")
                    .port("http", 80, "TCP");
                if host {
                    b = b.host_network().ip("192.168.0.1");
                } else if ip < 4 {
                    b = b.ip(IPS[ip]);
                }
                (format!("pod/{}/{name}", NAMESPACES[n]), b.into())
            }
        ),
        // NetworkPolicies: 2 names per namespace, a few shapes.
        (0..2usize, 0..3usize, 0..3usize, 0..4usize).prop_map(|(p, n, v, shape)| {
            let name = format!("np{p}");
            let b = netpol(NAMESPACES[n], &name).pod_selector(sel([label(v)]));
            let b = match shape {
                0 => b,
                1 => b.ingress(
                    np_rule()
                        .namespaces(sel([label(v + 1)]))
                        .named_port("http", None),
                ),
                2 => b
                    .policy_types(&["Egress"])
                    .egress(np_rule().pods(sel([label(v + 2)]))),
                _ => b
                    .ingress(np_rule().ip_block("10.0.0.0/30", &["10.0.0.2/31"]))
                    .egress(np_rule().port(80, None)),
            };
            (format!("np/{}/{name}", NAMESPACES[n]), b.into())
        }),
        // ANPs: 3 names, priorities that tie, Allow/Deny/Pass.
        (0..3usize, 0..2i32, 0..3usize, 0..3usize, 0..3usize).prop_map(
            |(a, prio, v, action, dir)| {
                let name = format!("anp{a}");
                let action = ["Allow", "Deny", "Pass"][action];
                let b = anp(&name, prio).subject(subject_namespaces(sel([label(v)])));
                let rule = admin_rule(action).peer(peer_pods(sel([]), sel([label(v + 1)])));
                let b = match dir {
                    0 => b.ingress(rule),
                    1 => b.egress(rule),
                    _ => b.egress(admin_rule(action).peer(peer_networks(&["10.0.0.0/31"]))),
                };
                (format!("anp/{name}"), b.into())
            }
        ),
        // The BANP.
        (0..3usize, any::<bool>()).prop_map(|(v, deny)| {
            let action = if deny { "Deny" } else { "Allow" };
            let b = banp()
                .subject(subject_pods(sel([]), sel([label(v)])))
                .ingress(admin_rule(action).peer(peer_namespaces(sel([label(v + 1)]))));
            ("banp/default".to_string(), b.into())
        }),
        // Nodes.
        (0..3usize).prop_map(|v| (
            "node/n1".to_string(),
            node("n1").labels([label(v)]).ip("192.168.0.1").into()
        )),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => object_strategy().prop_map(|(k, o)| Op::Apply(k, Box::new(o))),
        1 => object_strategy().prop_map(|(k, _)| Op::Delete(k)),
    ]
}

/// What decides a pod's claim on its IPs.
fn addresses(object: &ClusterObject) -> Option<String> {
    match object {
        ClusterObject::Pod(p) => Some(format!(
            "{:?} {:?}",
            p.status.as_ref().and_then(|s| s.pod_ips.clone()),
            p.spec.as_ref().and_then(|s| s.host_network)
        )),
        _ => None,
    }
}

fn delete(index: &mut Index, key: &str) {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["ns", name] => index.delete_namespace(name),
        ["pod", ns, name] => index.delete_pod(ns, name),
        ["np", ns, name] => index.delete_network_policy(ns, name),
        ["anp", name] => index.delete_admin_network_policy(name),
        ["banp", name] => index.delete_baseline_admin_network_policy(name),
        ["node", name] => index.delete_node(name),
        _ => unreachable!("keys are built above"),
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_rebuilt(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        let mut index = Index::new();
        // Insertion order matters for IP reuse (the newest pod wins), so keep it.
        let mut live: Vec<(String, ClusterObject)> = Vec::new();
        // A snapshot taken halfway must not see later changes.
        let mut snapshot: Option<(Index, Vec<(String, ClusterObject)>)> = None;
        for (step, op) in ops.iter().enumerate() {
            if step == ops.len() / 2 {
                snapshot = Some((index.clone(), live.clone()));
            }
            match op {
                Op::Apply(key, object) => {
                    let object: &ClusterObject = object;
                    index.apply(object).expect("generated objects are valid");
                    if let Some(slot) = live.iter_mut().find(|(k, _)| k == key) {
                        // An update keeps its place, except a pod whose addresses change: it
                        // becomes the newest owner of a reused IP, as in a fresh build.
                        if addresses(&slot.1) != addresses(object) {
                            live.retain(|(k, _)| k != key);
                            live.push((key.clone(), object.clone()));
                        } else {
                            slot.1 = object.clone();
                        }
                    } else {
                        live.push((key.clone(), object.clone()));
                    }
                }
                Op::Delete(key) => {
                    delete(&mut index, key);
                    live.retain(|(k, _)| k != key);
                }
            }
        }
        let history: Vec<String> = ops
            .iter()
            .map(|o| match o {
                Op::Apply(k, _) => format!("apply {k}"),
                Op::Delete(k) => format!("delete {k}"),
            })
            .collect();
        let mut pairs = vec![("final", index, live)];
        if let Some((index, live)) = snapshot {
            pairs.push(("snapshot", index, live));
        }
        for (which, index, live) in pairs {
            let rebuilt = index_of(live.iter().map(|(_, o)| o.clone()));
            for src in IPS {
                for dst in IPS {
                    for flow in [tcp(src, dst, 80), udp(src, dst, 80), icmp(src, dst)] {
                        let a = index.evaluate(&flow);
                        let b = rebuilt.evaluate(&flow);
                        prop_assert_eq!(&a, &b, "{} index, flow {} after {:?}", which, flow, history);
                    }
                }
            }
            prop_assert_eq!(index.selected_pod_ips("n1"), rebuilt.selected_pod_ips("n1"), "{}", which);
        }
    }
}
