//! ClusterNetworkPolicy over real packets: the v0.3.0 CRD installed in a real API server, two
//! netns nodes with one agent each, an Admin-tier CNP that denies one port and a Baseline-tier
//! CNP that accepts it, and the decision named in the agent's metrics.
//!
//! The full upstream v0.3.0 suite runs against the engine (`engine/tests/cnp_conformance.rs`);
//! this test proves the agent watches, indexes and enforces the kind.
//!
//! Needs root and the control-plane binaries; runs when `VERDICT_E2E` is set.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Env, in_netns};
use serde_json::json;
use verdict_conformance::Policy;
use verdict_e2e::{PodSpec, Port, TestPod};

fn connects(from: &TestPod, to: SocketAddr) -> bool {
    in_netns(&from.netns, || {
        TcpStream::connect_timeout(&to, Duration::from_millis(800)).is_ok()
    })
}

/// Waits until `from` → `to` connects (`want`) or times out, for at most `common::SETTLE`.
async fn settle(from: &TestPod, to: SocketAddr, want: bool, what: &str) {
    let deadline = Instant::now() + common::SETTLE;
    while connects(from, to) != want {
        assert!(Instant::now() < deadline, "{what}: not reached");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_tier_cnp_denies_and_a_baseline_one_is_overridden_by_it() {
    verdict_e2e::skip_unless_e2e!();
    let env = Env::start("agent-cnp", 2).await;
    let crd = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests/crds/policy.networking.k8s.io_clusternetworkpolicies.yaml");
    env.cp
        .install_crds(&[crd])
        .await
        .expect("the v0.3.0 CNP CRD");
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
    env.start_agents(&[]).await;
    let (to80, to81) = (SocketAddr::from((s.ip, 80)), SocketAddr::from((s.ip, 81)));
    assert!(connects(&a, to81), "nothing isolates x/s yet");

    // Baseline: deny everything into x. Admin, priority 5: accept y on TCP 80, so the Baseline
    // deny is never reached for port 80, and port 81 falls through to it.
    for cnp in [
        json!({
            "apiVersion": "policy.networking.k8s.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "baseline-deny-x"},
            "spec": {"tier": "Baseline", "priority": 1,
                     "subject": {"namespaces": {"matchLabels": {"ns": "x"}}},
                     "ingress": [{"name": "deny-all", "action": "Deny",
                                  "from": [{"namespaces": {}}]}]}
        }),
        json!({
            "apiVersion": "policy.networking.k8s.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "admin-web-from-y"},
            "spec": {"tier": "Admin", "priority": 5,
                     "subject": {"namespaces": {"matchLabels": {"ns": "x"}}},
                     "ingress": [{"name": "web", "action": "Accept",
                                  "from": [{"namespaces": {"matchLabels": {"ns": "y"}}}],
                                  "protocols": [{"tcp": {"destinationPort": {"number": 80}}}]}]}
        }),
    ] {
        let cnp: verdict_crds::ClusterNetworkPolicy = serde_json::from_value(cnp).unwrap();
        common::apply_policy(&env.client, &Policy::ClusterNetworkPolicy(cnp)).await;
    }
    settle(&a, to81, false, "port 81 denied by the Baseline tier").await;
    assert!(connects(&a, to80), "port 80 accepted by the Admin tier");

    // The agent on the server's node names both rules.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = env.metrics(&env.nodes[0]);
        let hit = |name: &str, rule: &str| {
            text.lines().any(|l| {
                l.starts_with("verdict_policy_hits_total{")
                    && l.contains("kind=\"ClusterNetworkPolicy\"")
                    && l.contains(&format!("name=\"{name}\""))
                    && l.contains(&format!("rule=\"{rule}\""))
            })
        };
        if hit("admin-web-from-y", "web") && hit("baseline-deny-x", "deny-all") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "policy hits not counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Deleting the Admin CNP lets the Baseline deny apply to port 80 too.
    common::delete_policy(
        &env.client,
        &verdict_conformance::PolicyId::ClusterNetworkPolicy("admin-web-from-y".into()),
    )
    .await;
    settle(
        &a,
        to80,
        false,
        "the Admin accept deleted: the Baseline deny applies",
    )
    .await;
}
