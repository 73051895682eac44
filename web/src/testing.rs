//! A small demo cluster and real [`DecisionEvent`]s judged on it, for this crate's tests, the
//! browser test and `kubectl verdict tail`'s tests (feature `testing`). Every event is built
//! the way the agent builds it: [`verdict_engine::judge`] on a real index, then
//! [`EventBuilder::build`].
//!
//! ```text
//!  frontend/web-7d4b9c8f6-x2k9p ──8080──► backend/api-0 ──5432──► db/postgres-0     (node n1)
//!        │                                  ▲ backend/worker-5c8f7b6d4-qwz2x        (node n2)
//!  policies: backend/default-deny, backend/allow-web (rule 0: frontend → 8080,
//!            rule 1: worker → 9090, never hit by the scenario), db/allow-api,
//!            ANP block-metadata (egress deny 169.254.169.254/32)
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use verdict_engine::testing::*;
use verdict_engine::{Flow, Index, judge};
use verdict_events::{DecisionEvent, DecisionSource, EventBuilder, NodeDecision, TraceKey};

/// The web pod's address.
pub const WEB: &str = "10.0.1.10";
/// The api pod's address.
pub const API: &str = "10.0.2.10";
/// The worker pod's address (on node n2).
pub const WORKER: &str = "10.0.2.11";
/// The postgres pod's address.
pub const POSTGRES: &str = "10.0.3.10";
/// The cloud metadata address that the ANP denies.
pub const METADATA: &str = "169.254.169.254";

/// The demo cluster's index.
pub fn demo_index() -> Index {
    index_of([
        namespace("frontend").into(),
        namespace("backend").into(),
        namespace("db").into(),
        node("n1").ip("192.168.1.1").into(),
        node("n2").ip("192.168.1.2").into(),
        pod("frontend", "web-7d4b9c8f6-x2k9p")
            .labels([("app", "web")])
            .ip(WEB)
            .node("n1")
            .into(),
        pod("backend", "api-0")
            .labels([("app", "api")])
            .ip(API)
            .node("n1")
            .into(),
        pod("backend", "worker-5c8f7b6d4-qwz2x")
            .labels([("app", "worker")])
            .ip(WORKER)
            .node("n2")
            .into(),
        pod("db", "postgres-0")
            .labels([("app", "postgres")])
            .ip(POSTGRES)
            .node("n1")
            .into(),
        netpol("backend", "default-deny").into(),
        netpol("backend", "allow-web")
            .pod_selector(sel([("app", "api")]))
            .ingress(
                np_rule()
                    .namespaces(sel([("kubernetes.io/metadata.name", "frontend")]))
                    .port(8080, Some("TCP")),
            )
            .ingress(
                np_rule()
                    .pods(sel([("app", "worker")]))
                    .port(9090, Some("TCP")),
            )
            .into(),
        netpol("db", "allow-api")
            .pod_selector(sel([("app", "postgres")]))
            .ingress(
                np_rule()
                    .namespaces_and_pods(
                        sel([("kubernetes.io/metadata.name", "backend")]),
                        sel([("app", "api")]),
                    )
                    .port(5432, Some("TCP")),
            )
            .into(),
        anp("block-metadata", 10)
            .egress(
                admin_rule("Deny")
                    .name("no-metadata")
                    .peer(peer_networks(&["169.254.169.254/32"])),
            )
            .into(),
    ])
}

/// Judges `flow` on `node` as the agent does and builds its event, received at `at`.
pub fn event(
    builder: &mut EventBuilder,
    index: &Index,
    node: &str,
    flow: Flow,
    at: SystemTime,
) -> DecisionEvent {
    let judgement = judge(index, node, &flow);
    let decision = NodeDecision {
        flow: Some(flow),
        verdict: judgement.verdict,
        judgement: Some(judgement),
        node: Arc::from(node),
        source: DecisionSource::Queue,
        defaulted: None,
        queue: Some(0),
        generation: index.generation(),
        connection_token: Some(
            at.duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.subsec_nanos()),
        ),
        received: at,
        hold: Duration::from_micros(42),
    };
    builder.build(decision, index)
}

/// A builder for node `node` with a fixed trace key.
pub fn builder(node: &str) -> EventBuilder {
    EventBuilder::new(node, TraceKey::from_cluster_id("test-cluster"))
}

/// The scenario's flows on node n1, in order: an allowed web → api, a denied web → api on
/// a port no rule admits, an allowed api → postgres, a denied web → postgres, the ANP's
/// denied metadata call, and worker → api (judged on n1 for api's ingress: denied, port 80).
pub fn scenario_flows() -> Vec<Flow> {
    vec![
        tcp(WEB, API, 8080),
        tcp(WEB, API, 9999),
        tcp(API, POSTGRES, 5432),
        tcp(WEB, POSTGRES, 5432),
        tcp(WEB, METADATA, 80),
        tcp(WORKER, API, 80),
    ]
}

/// The scenario's events on node n1, one millisecond apart, the last at `end`.
pub fn scenario(index: &Index, end: SystemTime) -> Vec<DecisionEvent> {
    let mut b = builder("n1");
    let flows = scenario_flows();
    let n = flows.len() as u32;
    flows
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let at = end - Duration::from_millis(u64::from(n - 1 - i as u32));
            event(&mut b, index, "n1", f, at)
        })
        .collect()
}
