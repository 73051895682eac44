//! Decision events as OpenTelemetry spans: the attribute mapping (pure) and, with the `otlp`
//! feature, the bounded export loop.
//!
//! ```text
//!  DecisionEvent ─► span_records(): one SpanRecord per judged direction
//!                     name `verdict.decision`, kind INTERNAL, start = packet arrival,
//!                     end = verdict (so the span's duration is the hold time),
//!                     trace id / span id from trace.rs (siblings across the two nodes)
//!   (otlp) ─► SpanQueue::offer ─ bounded, never blocks; full: counted `dropped`
//!               └─► export task: batches of up to 512 or every second ─► OTLP gRPC (tonic)
//!                     failure: counted, logged at most every 30 s, never retried into a stall
//! ```
//!
//! # Attributes
//! Semantic-convention names where they exist: `source.address`, `source.port`,
//! `destination.address`, `destination.port`, `network.transport`, `network.type`,
//! `security_rule.name`, `security_rule.category`, `security_rule.reference`,
//! `security_rule.ruleset.name`. `network.transport` is `tcp`, `udp`, `sctp` or `icmp`
//! (semconv has no value for the last two), or `ip` for other IP protocols, with the
//! number in `verdict.ip_protocol`.
//!
//! Everything else is under the project's `verdict.` prefix: `verdict.action`,
//! `verdict.direction`, `verdict.isolated_by`, `verdict.passed_by`,
//! `verdict.src.k8s.namespace.name`, `verdict.src.k8s.pod.name`, `verdict.src.k8s.pod.uid`
//! (and `dst`), `verdict.src.kind`/`verdict.dst.kind` (pod, node, external), `verdict.queue`
//! or `verdict.cached`, `verdict.index_generation`, `verdict.defaulted`, `verdict.decision_id`,
//! `verdict.explanation`, `verdict.tier`, `verdict.rule.name`.
//!
//! The resource carries `service.name=verdict-agent`, `service.version`, `k8s.node.name`,
//! `k8s.pod.name` and `k8s.namespace.name` (the agent's own pod).

use std::time::{Duration, SystemTime};

use verdict_engine::{
    Direction, DirectionDecision, Endpoint, PolicyKind, PolicyRef, Protocol, Tier,
};

use crate::decision::DecisionSource;
use crate::event::DecisionEvent;
use crate::trace::{SpanId, TraceId};

/// The one span name (low cardinality; everything variable is an attribute).
pub const SPAN_NAME: &str = "verdict.decision";

/// An attribute value, before it becomes an OpenTelemetry value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A list of strings.
    StrList(Vec<String>),
}

/// One span, ready to be turned into the SDK's `SpanData`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    /// The connection's trace.
    pub trace_id: TraceId,
    /// This half's span id.
    pub span_id: SpanId,
    /// Packet arrival.
    pub start: SystemTime,
    /// Verdict given.
    pub end: SystemTime,
    /// The attributes, in a fixed order.
    pub attributes: Vec<(&'static str, AttributeValue)>,
}

/// The spans of one event: one per judged direction; one (with no direction) for a packet
/// that got the default verdict.
pub fn span_records(event: &DecisionEvent) -> Vec<SpanRecord> {
    let start = event.time();
    let end = start + Duration::from_nanos(event.hold_ns);
    let mut out = Vec::with_capacity(2);
    let mut record = |direction: Option<&DirectionDecision>| {
        let span_id = event
            .trace_id
            .span_id(direction.map_or(Direction::Egress, |d| d.direction));
        out.push(SpanRecord {
            trace_id: event.trace_id,
            span_id,
            start,
            end,
            attributes: attributes(event, direction),
        });
    };
    if event.egress.is_none() && event.ingress.is_none() {
        record(None);
    }
    for d in event.directions() {
        record(Some(d));
    }
    out
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::Str(v.into())
}

/// `security_rule.category`: the tier's name.
pub fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::AdminNetworkPolicy => "AdminNetworkPolicy",
        Tier::NetworkPolicy => "NetworkPolicy",
        Tier::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
        Tier::Default => "default",
        #[allow(unreachable_patterns)] // Tiers added by the engine's ClusterNetworkPolicy work.
        _ => "other",
    }
}

/// `security_rule.ruleset.name`: the policy kind.
pub fn kind_name(kind: PolicyKind) -> String {
    format!("{kind:?}")
}

/// `ns/name` for a namespaced policy, `name` otherwise.
pub fn policy_name(p: &PolicyRef) -> String {
    match &p.namespace {
        Some(ns) => format!("{ns}/{}", p.name),
        None => p.name.to_string(),
    }
}

fn transport(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        Protocol::Icmp => "icmp",
        Protocol::Other(_) => "ip",
    }
}

fn endpoint_attributes(
    out: &mut Vec<(&'static str, AttributeValue)>,
    end: Option<&Endpoint>,
    uid: Option<&str>,
    keys: [&'static str; 4],
) {
    let [kind, ns, pod, uid_key] = keys;
    match end {
        Some(Endpoint::Pod {
            namespace, name, ..
        }) => {
            out.push((kind, s("pod")));
            out.push((ns, s(&**namespace)));
            out.push((pod, s(&**name)));
            if let Some(uid) = uid {
                out.push((uid_key, s(uid)));
            }
        }
        Some(Endpoint::Node { name }) => {
            out.push((kind, s("node")));
            out.push(("verdict.node_address_of", s(&**name)));
        }
        Some(Endpoint::External { .. }) => out.push((kind, s("external"))),
        None => {}
    }
}

/// The attributes of the span for `direction` of `event` (`None`: a defaulted packet).
pub fn attributes(
    event: &DecisionEvent,
    direction: Option<&DirectionDecision>,
) -> Vec<(&'static str, AttributeValue)> {
    let mut out: Vec<(&'static str, AttributeValue)> = Vec::with_capacity(28);
    if let Some(flow) = &event.flow {
        out.push(("source.address", s(flow.src_ip.to_string())));
        out.push(("source.port", AttributeValue::Int(i64::from(flow.src_port))));
        out.push(("destination.address", s(flow.dst_ip.to_string())));
        out.push((
            "destination.port",
            AttributeValue::Int(i64::from(flow.dst_port)),
        ));
        out.push(("network.transport", s(transport(flow.protocol))));
        if let Protocol::Other(n) = flow.protocol {
            out.push(("verdict.ip_protocol", AttributeValue::Int(i64::from(n))));
        }
        out.push((
            "network.type",
            s(if flow.src_ip.is_ipv4() {
                "ipv4"
            } else {
                "ipv6"
            }),
        ));
    }
    let verdict = direction.map_or(event.verdict, |d| d.verdict);
    out.push((
        "verdict.action",
        s(match verdict {
            verdict_engine::Verdict::Allow => "allow",
            verdict_engine::Verdict::Deny => "deny",
        }),
    ));
    if let Some(d) = direction {
        out.push((
            "verdict.direction",
            s(match d.direction {
                Direction::Egress => "egress",
                Direction::Ingress => "ingress",
            }),
        ));
        out.push(("security_rule.category", s(tier_name(d.tier))));
        out.push(("verdict.tier", s(tier_name(d.tier))));
        if let Some(policy) = &d.policy {
            out.push(("security_rule.name", s(policy_name(policy))));
            out.push(("security_rule.ruleset.name", s(kind_name(policy.kind))));
        }
        if let Some(rule) = &d.rule {
            out.push((
                "security_rule.reference",
                s(rule
                    .name
                    .as_deref()
                    .map_or_else(|| rule.index.to_string(), str::to_owned)),
            ));
            if let Some(name) = &rule.name {
                out.push(("verdict.rule.name", s(&**name)));
            }
            out.push(("verdict.rule.index", AttributeValue::Int(rule.index as i64)));
        }
        if !d.isolated_by.is_empty() {
            out.push((
                "verdict.isolated_by",
                AttributeValue::StrList(d.isolated_by.iter().map(policy_name).collect()),
            ));
            if d.policy.is_none() {
                out.push(("security_rule.ruleset.name", s("NetworkPolicy")));
            }
        }
        if !d.passed_by.is_empty() {
            out.push((
                "verdict.passed_by",
                AttributeValue::StrList(d.passed_by.iter().map(policy_name).collect()),
            ));
        }
    }
    endpoint_attributes(
        &mut out,
        event.src.as_ref(),
        event.src_uid.as_deref(),
        [
            "verdict.src.kind",
            "verdict.src.k8s.namespace.name",
            "verdict.src.k8s.pod.name",
            "verdict.src.k8s.pod.uid",
        ],
    );
    endpoint_attributes(
        &mut out,
        event.dst.as_ref(),
        event.dst_uid.as_deref(),
        [
            "verdict.dst.kind",
            "verdict.dst.k8s.namespace.name",
            "verdict.dst.k8s.pod.name",
            "verdict.dst.k8s.pod.uid",
        ],
    );
    match event.source {
        DecisionSource::Cache => out.push(("verdict.cached", AttributeValue::Bool(true))),
        DecisionSource::Queue | DecisionSource::Default => {
            out.push(("verdict.cached", AttributeValue::Bool(false)));
        }
    }
    if let Some(queue) = event.queue {
        out.push(("verdict.queue", AttributeValue::Int(i64::from(queue))));
    }
    if let Some(reason) = event.defaulted {
        out.push(("verdict.defaulted", s(reason.as_str())));
    }
    out.push((
        "verdict.index_generation",
        AttributeValue::Int(event.generation as i64),
    ));
    out.push(("verdict.decision_id", s(&event.id)));
    out.push(("verdict.hold_ns", AttributeValue::Int(event.hold_ns as i64)));
    out.push(("verdict.explanation", s(&event.explanation)));
    out
}

#[cfg(feature = "otlp")]
pub use export::{ExportConfig, SpanCounters, SpanQueue, SpanResource};

#[cfg(feature = "otlp")]
mod export {
    //! The bounded export loop over the SDK's OTLP exporter. The SDK's own batch processor
    //! drops spans on a full queue without telling anyone how many; this loop counts every
    //! span it drops, exports or fails to export.

    use std::borrow::Cow;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::time::{Duration, Instant};

    use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceFlags, TraceState};
    use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
    use tokio::sync::mpsc;
    use tracing::{info, warn};

    use super::{AttributeValue, SPAN_NAME, SpanRecord};
    use crate::{Error, Result};

    /// How the loop batches and exports.
    #[derive(Clone, Debug)]
    pub struct ExportConfig {
        /// OTLP gRPC endpoint, e.g. `http://127.0.0.1:4317`.
        pub endpoint: String,
        /// Spans held between the telemetry task and the exporter.
        pub queue_capacity: usize,
        /// Spans per export request at most.
        pub max_batch: usize,
        /// Export at least this often when spans are waiting.
        pub interval: Duration,
        /// One export request's deadline.
        pub export_timeout: Duration,
    }

    impl ExportConfig {
        /// Defaults for `endpoint`: 8,192 queued, batches of 512, every second, 5 s deadline.
        pub fn new(endpoint: &str) -> Self {
            ExportConfig {
                endpoint: endpoint.to_owned(),
                queue_capacity: 8192,
                max_batch: 512,
                interval: Duration::from_secs(1),
                export_timeout: Duration::from_secs(5),
            }
        }
    }

    /// Who exports: the resource attributes.
    #[derive(Clone, Debug, Default)]
    pub struct SpanResource {
        /// `service.name` (`verdict-agent`).
        pub service_name: String,
        /// `service.version`.
        pub service_version: String,
        /// `k8s.node.name`.
        pub node_name: String,
        /// `k8s.pod.name` of the exporting agent, when known.
        pub pod_name: Option<String>,
        /// `k8s.namespace.name` of the exporting agent, when known.
        pub pod_namespace: Option<String>,
    }

    /// What the export loop has done, for `/metrics`.
    #[derive(Debug, Default)]
    pub struct SpanCounters {
        /// Spans the collector accepted.
        pub exported: AtomicU64,
        /// Spans dropped because the queue to the exporter was full.
        pub dropped_queue_full: AtomicU64,
        /// Spans in export requests that failed (collector down, deadline).
        pub export_failed: AtomicU64,
        /// Export requests that failed.
        pub failed_requests: AtomicU64,
    }

    /// The telemetry task's end of the loop.
    #[derive(Debug, Clone)]
    pub struct SpanQueue {
        tx: mpsc::Sender<SpanData>,
        counters: Arc<SpanCounters>,
    }

    impl SpanQueue {
        /// Builds the exporter and spawns the export loop on the current tokio runtime.
        /// Returns the queue and the loop's handle; drop every queue clone, then await the
        /// handle, to flush what is left (bounded by the export deadline).
        ///
        /// # Errors
        /// [`Error::Exporter`] when the endpoint is not a valid URI.
        pub fn start(
            config: ExportConfig,
            resource: &SpanResource,
        ) -> Result<(SpanQueue, tokio::task::JoinHandle<()>)> {
            let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(config.endpoint.clone())
                .with_timeout(config.export_timeout)
                .build()
                .map_err(|e| Error::Exporter {
                    endpoint: config.endpoint.clone(),
                    source: Box::new(e),
                })?;
            exporter.set_resource(&build_resource(resource));
            let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
            let counters = Arc::new(SpanCounters::default());
            let handle = tokio::spawn(export_loop(exporter, rx, config, counters.clone()));
            Ok((SpanQueue { tx, counters }, handle))
        }

        /// Hands over the spans of one event; never waits. Returns how many were dropped.
        pub fn offer(&self, records: Vec<SpanRecord>) -> usize {
            let mut dropped = 0;
            for r in records {
                if self.tx.try_send(to_span_data(r)).is_err() {
                    dropped += 1;
                }
            }
            if dropped > 0 {
                self.counters
                    .dropped_queue_full
                    .fetch_add(dropped as u64, Relaxed);
            }
            dropped
        }

        /// The loop's counters.
        pub fn counters(&self) -> Arc<SpanCounters> {
            self.counters.clone()
        }
    }

    fn build_resource(r: &SpanResource) -> Resource {
        let mut attrs = vec![
            KeyValue::new("service.version", r.service_version.clone()),
            KeyValue::new("k8s.node.name", r.node_name.clone()),
        ];
        if let Some(pod) = &r.pod_name {
            attrs.push(KeyValue::new("k8s.pod.name", pod.clone()));
        }
        if let Some(ns) = &r.pod_namespace {
            attrs.push(KeyValue::new("k8s.namespace.name", ns.clone()));
        }
        Resource::builder_empty()
            .with_service_name(r.service_name.clone())
            .with_attributes(attrs)
            .build()
    }

    fn value(v: AttributeValue) -> Value {
        match v {
            AttributeValue::Str(s) => Value::String(s.into()),
            AttributeValue::Int(i) => Value::I64(i),
            AttributeValue::Bool(b) => Value::Bool(b),
            AttributeValue::StrList(l) => Value::Array(Array::String(
                l.into_iter().map(StringValue::from).collect(),
            )),
        }
    }

    fn to_span_data(r: SpanRecord) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                opentelemetry::trace::TraceId::from_bytes(r.trace_id.0),
                opentelemetry::trace::SpanId::from_bytes(r.span_id.0),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: opentelemetry::trace::SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(SPAN_NAME),
            start_time: r.start,
            end_time: r.end,
            attributes: r
                .attributes
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, value(v)))
                .collect(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("verdict-events")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        }
    }

    /// How often an unreachable collector is logged at most.
    const FAILURE_LOG_EVERY: Duration = Duration::from_secs(30);

    async fn export_loop(
        exporter: opentelemetry_otlp::SpanExporter,
        mut rx: mpsc::Receiver<SpanData>,
        config: ExportConfig,
        counters: Arc<SpanCounters>,
    ) {
        let mut batch: Vec<SpanData> = Vec::with_capacity(config.max_batch);
        let mut state = FailureLog::default();
        let mut tick = tokio::time::interval(config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                got = rx.recv() => match got {
                    Some(span) => {
                        batch.push(span);
                        if batch.len() >= config.max_batch {
                            flush(&exporter, &mut batch, &config, &counters, &mut state).await;
                        }
                    }
                    None => {
                        // Every queue is gone: flush what is left, then stop.
                        flush(&exporter, &mut batch, &config, &counters, &mut state).await;
                        let _ = exporter.shutdown_with_timeout(config.export_timeout);
                        return;
                    }
                },
                _ = tick.tick() => {
                    flush(&exporter, &mut batch, &config, &counters, &mut state).await;
                }
            }
        }
    }

    /// Whether the last export failed, and when a failure was last logged.
    #[derive(Default)]
    struct FailureLog {
        failing: bool,
        logged: Option<Instant>,
    }

    async fn flush(
        exporter: &opentelemetry_otlp::SpanExporter,
        batch: &mut Vec<SpanData>,
        config: &ExportConfig,
        counters: &SpanCounters,
        state: &mut FailureLog,
    ) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let spans = std::mem::replace(batch, Vec::with_capacity(config.max_batch));
        let error = match tokio::time::timeout(config.export_timeout, exporter.export(spans)).await
        {
            Ok(Ok(())) => {
                counters.exported.fetch_add(n, Relaxed);
                if state.failing {
                    info!(endpoint = %config.endpoint, "span export works again");
                    state.failing = false;
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "deadline exceeded".to_owned(),
        };
        state.failing = true;
        counters.export_failed.fetch_add(n, Relaxed);
        counters.failed_requests.fetch_add(1, Relaxed);
        if state
            .logged
            .is_none_or(|t| t.elapsed() >= FAILURE_LOG_EVERY)
        {
            state.logged = Some(Instant::now());
            warn!(
                endpoint = %config.endpoint,
                error,
                spans = n,
                "span export failed; these spans are counted as failed (logged at most every 30 s)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use pretty_assertions::assert_eq;
    use verdict_engine::testing::{index_of, namespace, netpol, np_rule, pod, sel, tcp};
    use verdict_engine::{ClusterObject, Index, judge};

    use super::*;
    use crate::{EventBuilder, NodeDecision, TraceKey};

    const A: &str = "10.0.1.5";
    const S: &str = "10.0.2.7";

    fn cluster() -> Index {
        let objects: Vec<ClusterObject> = vec![
            namespace("x").labels([("ns", "x")]).into(),
            namespace("y").labels([("ns", "y")]).into(),
            pod("y", "a")
                .labels([("pod", "a")])
                .ip(A)
                .node("n2")
                .uid("uid-a")
                .into(),
            pod("x", "s")
                .labels([("pod", "s")])
                .ip(S)
                .node("n1")
                .uid("uid-s")
                .into(),
            netpol("x", "web-80")
                .ingress(
                    np_rule()
                        .namespaces(sel([("ns", "y")]))
                        .port(80, Some("TCP")),
                )
                .into(),
        ];
        index_of(objects)
    }

    fn event(index: &Index, node: &str, port: u16, token: Option<u32>) -> DecisionEvent {
        let flow = tcp(A, S, port);
        let judgement = judge(index, node, &flow);
        let mut builder = EventBuilder::new(node, TraceKey::from_cluster_id("test"));
        builder.build(
            NodeDecision {
                flow: Some(flow),
                verdict: judgement.verdict,
                judgement: Some(judgement),
                node: node.into(),
                source: DecisionSource::Queue,
                defaulted: None,
                queue: Some(3),
                generation: index.generation(),
                connection_token: token,
                received: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                hold: Duration::from_micros(40),
            },
            index,
        )
    }

    fn attr<'a>(
        attrs: &'a [(&'static str, AttributeValue)],
        key: &str,
    ) -> Option<&'a AttributeValue> {
        attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    #[test]
    fn a_default_deny_maps_to_the_isolating_policy_and_the_pods() {
        let index = cluster();
        let e = event(&index, "n1", 81, Some(99));
        assert_eq!(e.verdict, verdict_engine::Verdict::Deny);
        assert_eq!(
            (e.src_uid.as_deref(), e.dst_uid.as_deref()),
            (Some("uid-a"), Some("uid-s"))
        );
        assert_eq!(e.id, "n1/1");
        assert!(
            e.explanation
                .contains("isolated by x/web-80 (NetworkPolicy)"),
            "{}",
            e.explanation
        );
        let spans = span_records(&e);
        assert_eq!(spans.len(), 1, "n1 judges only the ingress");
        let span = &spans[0];
        assert_eq!(span.span_id, e.trace_id.span_id(Direction::Ingress));
        assert_eq!(
            span.end.duration_since(span.start).unwrap(),
            Duration::from_micros(40)
        );
        let a = &span.attributes;
        // (attribute, expected)
        let cases: Vec<(&str, AttributeValue)> = vec![
            ("source.address", s(A)),
            ("destination.address", s(S)),
            ("destination.port", AttributeValue::Int(81)),
            ("network.transport", s("tcp")),
            ("network.type", s("ipv4")),
            ("verdict.action", s("deny")),
            ("verdict.direction", s("ingress")),
            ("security_rule.category", s("NetworkPolicy")),
            ("security_rule.ruleset.name", s("NetworkPolicy")),
            (
                "verdict.isolated_by",
                AttributeValue::StrList(vec!["x/web-80".into()]),
            ),
            ("verdict.src.k8s.namespace.name", s("y")),
            ("verdict.src.k8s.pod.name", s("a")),
            ("verdict.src.k8s.pod.uid", s("uid-a")),
            ("verdict.dst.k8s.pod.name", s("s")),
            ("verdict.cached", AttributeValue::Bool(false)),
            ("verdict.queue", AttributeValue::Int(3)),
            ("verdict.decision_id", s("n1/1")),
        ];
        for (key, expected) in cases {
            assert_eq!(attr(a, key), Some(&expected), "{key}");
        }
        assert_eq!(
            attr(a, "security_rule.name"),
            None,
            "a default deny has no deciding rule"
        );
    }

    #[test]
    fn an_allow_names_the_rule_and_both_nodes_share_the_trace() {
        let index = cluster();
        let ingress = event(&index, "n1", 80, Some(7));
        let egress = event(&index, "n2", 80, Some(7));
        assert_eq!(
            ingress.trace_id, egress.trace_id,
            "one trace for both halves"
        );
        let i = span_records(&ingress);
        let e = span_records(&egress);
        assert_eq!((i.len(), e.len()), (1, 1));
        assert_ne!(i[0].span_id, e[0].span_id, "two sibling spans");
        assert_eq!(
            attr(&i[0].attributes, "security_rule.name"),
            Some(&s("x/web-80"))
        );
        assert_eq!(
            attr(&i[0].attributes, "security_rule.reference"),
            Some(&s("0"))
        );
        assert_eq!(
            attr(&e[0].attributes, "verdict.direction"),
            Some(&s("egress"))
        );
        assert_eq!(
            attr(&e[0].attributes, "security_rule.category"),
            Some(&s("default"))
        );
        let next = event(&index, "n1", 80, Some(8));
        assert_ne!(
            next.trace_id, ingress.trace_id,
            "a new ISN is a new connection"
        );
    }

    #[test]
    fn a_defaulted_packet_gets_one_span_saying_why() {
        let index = cluster();
        let mut builder = EventBuilder::new("n1", TraceKey::from_cluster_id("test"));
        let e = builder.build(
            NodeDecision {
                flow: None,
                judgement: None,
                verdict: verdict_engine::Verdict::Allow,
                node: "n1".into(),
                source: DecisionSource::Default,
                defaulted: Some(crate::DefaultReason::Malformed),
                queue: Some(0),
                generation: 1,
                connection_token: None,
                received: UNIX_EPOCH,
                hold: Duration::ZERO,
            },
            &index,
        );
        assert_eq!(
            e.explanation,
            "ALLOW by default: the packet's headers could not be parsed."
        );
        let spans = span_records(&e);
        assert_eq!(spans.len(), 1);
        assert_eq!(
            attr(&spans[0].attributes, "verdict.defaulted"),
            Some(&s("malformed"))
        );
        assert_eq!(attr(&spans[0].attributes, "verdict.direction"), None);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["source"], "default");
        assert_eq!(json["defaulted"], "malformed");
        let back: DecisionEvent = serde_json::from_value(json).unwrap();
        assert_eq!(
            back, e,
            "events round-trip through JSON (the stream's format)"
        );
    }
}
