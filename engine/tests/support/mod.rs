//! Runs `verdict-conformance` cases against [`Index`]: assigns addresses, applies every action
//! through the index's incremental `apply_*`/`delete_*` methods, evaluates every
//! (client, server) pair for every probe and compares full truth tables.
//!
//! After each step it also rebuilds a fresh index from the objects that should exist and checks
//! that it answers the same way, so an incremental-update bug shows up as its own failure even
//! when the expectation happens to hold.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::{Namespace, Node, NodeAddress, NodeStatus, Pod, PodIP};
use verdict_conformance::model::{is_host_network, node_of, pod_name};
use verdict_conformance::{
    Action, AddressBook, Case, Model, PodName, Policy, PolicyId, Probe, Protocol, TruthTable,
};
use verdict_engine::{Flow, Index, Verdict};

/// Pod and node addresses for one model: pods get `10.<ns>.0.<pod>`, nodes `172.18.0.<n>`,
/// host-network pods their node's address.
pub struct Addresses {
    pods: BTreeMap<PodName, IpAddr>,
    nodes: BTreeMap<String, IpAddr>,
}

impl Addresses {
    pub fn for_model(model: &Model) -> Self {
        let nodes: BTreeMap<String, IpAddr> = model
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let name = n.metadata.name.clone().unwrap_or_default();
                (name, IpAddr::V4(Ipv4Addr::new(172, 18, 0, i as u8 + 1)))
            })
            .collect();
        let mut pods = BTreeMap::new();
        let mut per_namespace: BTreeMap<String, u8> = BTreeMap::new();
        for pod in &model.pods {
            let name = pod_name(pod);
            let ip = if is_host_network(pod) {
                let node = node_of(pod).expect("a host-network pod in a model names its node");
                nodes[node]
            } else {
                let ns_count = per_namespace.len() as u8;
                let ns_index = *per_namespace
                    .entry(name.namespace.clone())
                    .or_insert(ns_count + 1);
                let pod_index = model
                    .pods
                    .iter()
                    .filter(|p| pod_name(p).namespace == name.namespace)
                    .position(|p| pod_name(p) == name)
                    .expect("pod is in its own model") as u8;
                IpAddr::V4(Ipv4Addr::new(10, ns_index, 0, pod_index + 1))
            };
            pods.insert(name, ip);
        }
        Self { pods, nodes }
    }

    /// `pod` with its address (and its node's) filled in, as the kubelet would report them.
    pub fn place_pod(&self, pod: &Pod) -> Pod {
        let mut pod = pod.clone();
        let ip = self.pod_ip(&pod_name(&pod)).to_string();
        let status = pod.status.get_or_insert_with(Default::default);
        status.pod_ip = Some(ip.clone());
        status.pod_ips = Some(vec![PodIP { ip }]);
        if let Some(node) = node_of(&pod).and_then(|n| self.nodes.get(n)) {
            pod.status.as_mut().expect("set above").host_ip = Some(node.to_string());
        }
        pod
    }

    /// `node` with its InternalIP.
    pub fn place_node(&self, node: &Node) -> Node {
        let mut node = node.clone();
        let name = node.metadata.name.clone().unwrap_or_default();
        let address = self.nodes[&name].to_string();
        node.status = Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address,
            }]),
            ..Default::default()
        });
        node
    }
}

impl AddressBook for Addresses {
    fn pod_ip(&self, pod: &PodName) -> IpAddr {
        *self
            .pods
            .get(pod)
            .unwrap_or_else(|| panic!("no address for pod {pod}"))
    }
}

/// The objects that should exist, kept so a fresh index can be built at any point.
#[derive(Default, Clone)]
struct World {
    namespaces: BTreeMap<String, Namespace>,
    nodes: Vec<Node>,
    pods: BTreeMap<PodName, Pod>,
    policies: Vec<(PolicyId, Policy)>,
}

impl World {
    fn fresh_index(&self) -> Result<Index, String> {
        let mut index = Index::new();
        for ns in self.namespaces.values() {
            index.apply_namespace(ns).map_err(|e| e.to_string())?;
        }
        for node in &self.nodes {
            index.apply_node(node).map_err(|e| e.to_string())?;
        }
        for pod in self.pods.values() {
            index.apply_pod(pod).map_err(|e| e.to_string())?;
        }
        for (_, policy) in &self.policies {
            apply_policy(&mut index, policy)?;
        }
        Ok(index)
    }

    fn upsert(&mut self, policy: Policy) {
        let id = policy.id();
        match self.policies.iter_mut().find(|(i, _)| *i == id) {
            Some(slot) => slot.1 = policy,
            None => self.policies.push((id, policy)),
        }
    }
}

fn apply_policy(index: &mut Index, policy: &Policy) -> Result<(), String> {
    let result = match policy {
        Policy::NetworkPolicy(np) => index.apply_network_policy(np),
        Policy::AdminNetworkPolicy(anp) => index.apply_admin_network_policy(anp),
        Policy::BaselineAdminNetworkPolicy(banp) => index.apply_baseline_admin_network_policy(banp),
        Policy::ClusterNetworkPolicy(cnp) => index.apply_cluster_network_policy(cnp),
    };
    result.map_err(|e| format!("{} rejected: {e}", policy.id()))
}

fn delete_policy(index: &mut Index, id: &PolicyId) -> bool {
    match id {
        PolicyId::NetworkPolicy { namespace, name } => index.delete_network_policy(namespace, name),
        PolicyId::AdminNetworkPolicy(name) => index.delete_admin_network_policy(name),
        PolicyId::BaselineAdminNetworkPolicy(name) => {
            index.delete_baseline_admin_network_policy(name)
        }
        PolicyId::ClusterNetworkPolicy(name) => index.delete_cluster_network_policy(name),
    }
}

fn engine_protocol(p: Protocol) -> verdict_engine::Protocol {
    match p {
        Protocol::Tcp => verdict_engine::Protocol::Tcp,
        Protocol::Udp => verdict_engine::Protocol::Udp,
        Protocol::Sctp => verdict_engine::Protocol::Sctp,
    }
}

/// The flow a probe from `client` to `server` sends.
fn flow(addresses: &Addresses, client: &PodName, server: &PodName, probe: Probe) -> Flow {
    Flow {
        src_ip: addresses.pod_ip(client),
        src_port: 43_210,
        dst_ip: addresses.pod_ip(server),
        dst_port: probe.port,
        protocol: engine_protocol(probe.protocol),
    }
}

/// What the index answers for `probe` over the model's clients and servers.
pub fn observe(index: &Index, model: &Model, addresses: &Addresses, probe: Probe) -> TruthTable {
    let mut observed = model.table(false);
    for client in &model.clients {
        for server in &model.servers {
            let decision = index.evaluate(&flow(addresses, client, server, probe));
            observed.expect(client, server, decision.verdict == Verdict::Allow);
        }
    }
    observed
}

/// The outcome of one case: every failure, and how many cells were compared.
pub struct Report {
    pub failures: Vec<String>,
    pub cells: usize,
}

/// Runs one case from an empty index.
pub fn run(case: &Case) -> Report {
    let model = &case.model;
    let addresses = Addresses::for_model(model);
    let mut index = Index::new();
    let mut world = World::default();
    let mut report = Report {
        failures: Vec::new(),
        cells: 0,
    };
    let mut fail = |step: &str, text: String| {
        report
            .failures
            .push(format!("{} / {step}: {text}", case.name));
    };

    for ns in &model.namespaces {
        let name = ns.metadata.name.clone().unwrap_or_default();
        if let Err(e) = index.apply_namespace(ns) {
            fail("setup", format!("namespace {name}: {e}"));
        }
        world.namespaces.insert(name, ns.clone());
    }
    for node in &model.nodes {
        let node = addresses.place_node(node);
        if let Err(e) = index.apply_node(&node) {
            fail("setup", format!("node: {e}"));
        }
        world.nodes.push(node);
    }
    for pod in &model.pods {
        let pod = addresses.place_pod(pod);
        if let Err(e) = index.apply_pod(&pod) {
            fail("setup", format!("pod {}: {e}", pod_name(&pod)));
        }
        world.pods.insert(pod_name(&pod), pod);
    }

    for step in &case.steps {
        for action in &step.actions {
            match action {
                Action::Apply(source) => {
                    let policy = source.resolve(&addresses);
                    if let Err(e) = apply_policy(&mut index, &policy) {
                        fail(&step.name, e);
                    }
                    world.upsert(policy);
                }
                Action::ApplyInvalid(source) => {
                    let policy = source.resolve(&addresses);
                    if apply_policy(&mut index, &policy).is_ok() {
                        fail(
                            &step.name,
                            format!("{} was accepted; the API server rejects it", policy.id()),
                        );
                    }
                }
                Action::Delete(id) => {
                    if !delete_policy(&mut index, id) {
                        fail(&step.name, format!("delete of {id}: index did not know it"));
                    }
                    world.policies.retain(|(i, _)| i != id);
                }
                Action::DeleteAllNetworkPolicies => {
                    let nps: Vec<PolicyId> = world
                        .policies
                        .iter()
                        .map(|(id, _)| id.clone())
                        .filter(|id| matches!(id, PolicyId::NetworkPolicy { .. }))
                        .collect();
                    for id in &nps {
                        if !delete_policy(&mut index, id) {
                            fail(&step.name, format!("delete of {id}: index did not know it"));
                        }
                    }
                    world.policies.retain(|(id, _)| !nps.contains(id));
                }
                Action::ApplyNamespace(ns) => {
                    if let Err(e) = index.apply_namespace(ns) {
                        fail(&step.name, format!("namespace relabel: {e}"));
                    }
                    world
                        .namespaces
                        .insert(ns.metadata.name.clone().unwrap_or_default(), (**ns).clone());
                }
                Action::ApplyPod(pod) => {
                    let pod = addresses.place_pod(pod);
                    if let Err(e) = index.apply_pod(&pod) {
                        fail(&step.name, format!("pod update {}: {e}", pod_name(&pod)));
                    }
                    world.pods.insert(pod_name(&pod), pod);
                }
                Action::DeletePod(name) => {
                    if !index.delete_pod(&name.namespace, &name.name) {
                        fail(
                            &step.name,
                            format!("delete of pod {name}: index did not know it"),
                        );
                    }
                    world.pods.remove(name);
                }
            }
        }

        let rebuilt = match world.fresh_index() {
            Ok(index) => Some(index),
            Err(e) => {
                fail(&step.name, format!("rebuilding a fresh index failed: {e}"));
                None
            }
        };
        for expectation in &step.expectations {
            let observed = observe(&index, model, &addresses, expectation.probe);
            let comparison = expectation
                .reachability
                .compare(&observed, case.ignore_loopback);
            report.cells += observed.cells().count() - comparison.ignored;
            if !comparison.is_match() {
                let mut text = format!("probe {}:\n{comparison}", expectation.probe);
                for (from, to, _) in &comparison.wrong {
                    let flow = flow(&addresses, from, to, expectation.probe);
                    let _ = writeln!(text, "  engine: {}", index.evaluate(&flow).explain());
                }
                fail(&step.name, text);
            }
            if let Some(rebuilt) = &rebuilt {
                let fresh = observe(rebuilt, model, &addresses, expectation.probe);
                let drift = fresh.compare(&observed, false);
                if !drift.is_match() {
                    fail(
                        &step.name,
                        format!(
                            "probe {}: the incrementally updated index disagrees with a fresh one \
                             (expected = fresh, observed = incremental):\n{drift}",
                            expectation.probe
                        ),
                    );
                }
            }
        }
    }
    report
}

/// Runs `cases` (filtered by the `VERDICT_CASE` substring, if set) and panics with every
/// failure. Returns the number of cases run and cells compared.
pub fn run_all(cases: &[Case]) -> (usize, usize) {
    let filter = std::env::var("VERDICT_CASE").ok();
    let mut failures = Vec::new();
    let mut failed_cases = BTreeSet::new();
    let (mut ran, mut cells) = (0, 0);
    for case in cases {
        if filter.as_deref().is_some_and(|f| !case.name.contains(f)) {
            continue;
        }
        ran += 1;
        let report = run(case);
        cells += report.cells;
        if !report.failures.is_empty() {
            failed_cases.insert(case.name.clone());
            failures.extend(report.failures);
        }
    }
    if !failures.is_empty() {
        let mut text = String::new();
        for f in &failures {
            let _ = writeln!(text, "{f}");
        }
        let _ = writeln!(text, "{} of {ran} cases failed:", failed_cases.len());
        for name in &failed_cases {
            let _ = writeln!(text, "  {name}");
        }
        panic!("{text}");
    }
    (ran, cells)
}
