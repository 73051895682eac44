//! Shared pieces of the agent's real-packet tests: a control plane, netns nodes with one
//! `verdict-agent` process each, and a runner for the conformance cases.
//!
//! ```text
//!  test process (root netns) ── kube-apiserver 127.0.0.1:P
//!        │  NetnsCluster::forward_loopback_port: 127.0.0.1:P *inside* each node netns relays here,
//!        │  so the agents use the admin kubeconfig unchanged
//!        ├─ node netns n1: verdict-agent (health 127.0.0.1:9091, metrics :9090), pods a, c, ...
//!        └─ node netns n2: verdict-agent, pods b, ...
//! ```
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use verdict_conformance::{
    Action, AddressBook, Case, Model, PodName, Policy, PolicyId, TruthTable, model,
};
use verdict_crds::{AdminNetworkPolicy, BaselineAdminNetworkPolicy};
use verdict_e2e::{
    ControlPlane, ControlPlaneOptions, NetnsCluster, PodSpec, Port, Protocol, TestNode, TestPod,
};

/// Where every agent serves `/healthz` and `/readyz`, inside its node's netns.
pub const HEALTH_ADDR: &str = "127.0.0.1:9091";
/// Where every agent serves `/metrics`, inside its node's netns.
pub const METRICS_ADDR: &str = "127.0.0.1:9090";
/// How long a step may take to be enforced after its API change.
pub const SETTLE: Duration = Duration::from_secs(10);
/// How long one probe waits (a deny is a silent drop, so this is what a denied probe costs).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

/// A control plane, netns nodes, and an agent on each.
pub struct Env {
    /// The control plane.
    pub cp: ControlPlane,
    /// Netns nodes and pods.
    pub cluster: NetnsCluster,
    /// Admin client.
    pub client: Client,
    /// The nodes, in creation order.
    pub nodes: Vec<TestNode>,
    agents: Mutex<BTreeMap<String, u32>>,
}

impl Env {
    /// Starts a control plane (with the ANP/BANP CRDs) and `nodes` netns nodes named `n1`, ...
    pub async fn start(name: &str, nodes: usize) -> Env {
        let cp = ControlPlane::start(ControlPlaneOptions::named(name))
            .await
            .expect("control plane");
        let paths = verdict_e2e::bins::upstream_crd_paths().expect("upstream CRD paths");
        cp.install_crds(&paths).await.expect("ANP/BANP CRDs");
        let client = cp.client().await.expect("admin client");
        let cluster = NetnsCluster::new(Some(client.clone()))
            .await
            .expect("netns cluster");
        let mut test_nodes = Vec::new();
        for i in 1..=nodes {
            let node = cluster
                .add_node(&format!("n{i}"))
                .await
                .expect("netns node");
            cluster
                .forward_loopback_port(&node.netns, cp.apiserver_port())
                .expect("apiserver relay in the node netns");
            test_nodes.push(node);
        }
        Env {
            cp,
            cluster,
            client,
            nodes: test_nodes,
            agents: Mutex::default(),
        }
    }

    /// Starts an agent on `node` with extra flags; returns its pid.
    pub fn start_agent(&self, node: &TestNode, extra: &[&str]) -> u32 {
        let mut args: Vec<String> = [
            "--node-name",
            &node.name,
            "--kubeconfig",
            &self.cp.kubeconfig().to_string_lossy(),
            "--metrics-addr",
            METRICS_ADDR,
            "--health-addr",
            HEALTH_ADDR,
            "--log-level",
            "info,verdict_agent=debug",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let name = format!("verdict-agent-{}", node.name);
        // VERDICT_AGENT_BIN runs another build (e.g. release, for memory figures).
        let binary = std::env::var_os("VERDICT_AGENT_BIN")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_verdict-agent").into());
        let pid = self
            .cluster
            .spawn_in(&node.netns, &name, &binary, &args, &[])
            .expect("spawn agent");
        self.agents.lock().unwrap().insert(node.name.clone(), pid);
        pid
    }

    /// Starts an agent on every node and waits until each is ready.
    pub async fn start_agents(&self, extra: &[&str]) {
        for node in &self.nodes {
            self.start_agent(node, extra);
        }
        for node in &self.nodes {
            self.wait_ready(node, Duration::from_secs(60)).await;
        }
    }

    /// The pid of `node`'s agent.
    pub fn agent_pid(&self, node: &TestNode) -> u32 {
        self.agents.lock().unwrap()[&node.name]
    }

    /// Kills `node`'s agent with SIGKILL (no cleanup at all).
    pub fn kill_agent(&self, node: &TestNode) {
        let pid = self.agent_pid(node);
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cluster.process_running(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !self.cluster.process_running(pid),
            "agent {pid} survived SIGKILL"
        );
    }

    /// Waits for `/readyz` to answer 200, failing early if the agent exits.
    pub async fn wait_ready(&self, node: &TestNode, timeout: Duration) {
        let pid = self.agent_pid(node);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((200, _)) = http_get(&node.netns, HEALTH_ADDR, "/readyz") {
                return;
            }
            assert!(
                self.cluster.process_running(pid),
                "agent on {} exited; see {}",
                node.name,
                self.cluster
                    .logs_dir()
                    .join(format!("verdict-agent-{}.log", node.name))
                    .display()
            );
            assert!(
                Instant::now() < deadline,
                "agent on {} not ready after {timeout:?}: {:?}; log {}",
                node.name,
                http_get(&node.netns, HEALTH_ADDR, "/readyz"),
                self.cluster
                    .logs_dir()
                    .join(format!("verdict-agent-{}.log", node.name))
                    .display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `node`'s agent's `/metrics` text.
    pub fn metrics(&self, node: &TestNode) -> String {
        http_get(&node.netns, METRICS_ADDR, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }
}

/// The value of an unlabelled counter or gauge in a metrics text (0 when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Runs `f` on a throwaway thread inside network namespace `netns`.
pub fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{netns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("netns thread")
    })
}

/// A tiny HTTP/1.0 GET from inside `netns`: `(status, body)`.
pub fn http_get(netns: &str, addr: &str, path: &str) -> Option<(u16, String)> {
    let addr: SocketAddr = addr.parse().ok()?;
    let path = path.to_owned();
    in_netns(netns, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: agent\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((status, body))
    })
}

/// Server-side applies a policy.
pub async fn apply_policy(client: &Client, policy: &Policy) {
    try_apply_policy(client, policy)
        .await
        .unwrap_or_else(|e| panic!("applying {}: {e}", policy.id()));
}

/// Server-side applies a policy, returning the API server's refusal.
pub async fn try_apply_policy(client: &Client, policy: &Policy) -> Result<(), kube::Error> {
    let params = PatchParams::apply("verdict-e2e").force();
    match policy {
        Policy::NetworkPolicy(np) => {
            let ns = np.metadata.namespace.clone().unwrap_or_default();
            let name = np.metadata.name.clone().unwrap_or_default();
            Api::<NetworkPolicy>::namespaced(client.clone(), &ns)
                .patch(&name, &params, &Patch::Apply(np))
                .await
                .map(|_| ())
        }
        Policy::AdminNetworkPolicy(p) => {
            let name = p.metadata.name.clone().unwrap_or_default();
            Api::<AdminNetworkPolicy>::all(client.clone())
                .patch(&name, &params, &Patch::Apply(p))
                .await
                .map(|_| ())
        }
        Policy::BaselineAdminNetworkPolicy(p) => {
            let name = p.metadata.name.clone().unwrap_or_default();
            Api::<BaselineAdminNetworkPolicy>::all(client.clone())
                .patch(&name, &params, &Patch::Apply(p))
                .await
                .map(|_| ())
        }
        Policy::ClusterNetworkPolicy(p) => {
            let name = p.metadata.name.clone().unwrap_or_default();
            Api::<verdict_crds::ClusterNetworkPolicy>::all(client.clone())
                .patch(&name, &params, &Patch::Apply(p))
                .await
                .map(|_| ())
        }
    }
}

pub async fn delete_policy(client: &Client, id: &PolicyId) {
    let dp = DeleteParams::default();
    let result = match id {
        PolicyId::NetworkPolicy { namespace, name } => {
            Api::<NetworkPolicy>::namespaced(client.clone(), namespace)
                .delete(name, &dp)
                .await
                .map(|_| ())
        }
        PolicyId::AdminNetworkPolicy(name) => Api::<AdminNetworkPolicy>::all(client.clone())
            .delete(name, &dp)
            .await
            .map(|_| ()),
        PolicyId::BaselineAdminNetworkPolicy(name) => {
            Api::<BaselineAdminNetworkPolicy>::all(client.clone())
                .delete(name, &dp)
                .await
                .map(|_| ())
        }
        PolicyId::ClusterNetworkPolicy(name) => {
            Api::<verdict_crds::ClusterNetworkPolicy>::all(client.clone())
                .delete(name, &dp)
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) | Err(kube::Error::Api(_)) => {}
        Err(e) => panic!("deleting {id}: {e}"),
    }
}

/// Deletes every NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy.
pub async fn delete_all_policies(client: &Client) {
    let lp = ListParams::default();
    let nps = Api::<NetworkPolicy>::all(client.clone())
        .list(&lp)
        .await
        .expect("list NPs");
    for np in nps {
        let id = PolicyId::NetworkPolicy {
            namespace: np.metadata.namespace.unwrap_or_default(),
            name: np.metadata.name.unwrap_or_default(),
        };
        delete_policy(client, &id).await;
    }
    for anp in Api::<AdminNetworkPolicy>::all(client.clone())
        .list(&lp)
        .await
        .expect("list ANPs")
    {
        delete_policy(
            client,
            &PolicyId::AdminNetworkPolicy(anp.metadata.name.unwrap_or_default()),
        )
        .await;
    }
    for banp in Api::<BaselineAdminNetworkPolicy>::all(client.clone())
        .list(&lp)
        .await
        .expect("list BANPs")
    {
        let id = PolicyId::BaselineAdminNetworkPolicy(banp.metadata.name.unwrap_or_default());
        delete_policy(client, &id).await;
    }
}

async fn set_namespace_labels(client: &Client, ns: &Namespace) {
    let name = ns.metadata.name.clone().unwrap_or_default();
    let api = Api::<Namespace>::all(client.clone());
    let current = api
        .get(&name)
        .await
        .expect("namespace")
        .metadata
        .labels
        .unwrap_or_default();
    let want = ns.metadata.labels.clone().unwrap_or_default();
    let mut patch = serde_json::Map::new();
    for k in current.keys().filter(|k| !want.contains_key(*k)) {
        if k != "kubernetes.io/metadata.name" {
            patch.insert(k.clone(), serde_json::Value::Null);
        }
    }
    for (k, v) in &want {
        patch.insert(k.clone(), json!(v));
    }
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": patch}})),
    )
    .await
    .expect("relabel namespace");
}

fn labels_of(pod: &k8s_openapi::api::core::v1::Pod) -> Vec<(String, String)> {
    pod.metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn ports_of(pod: &k8s_openapi::api::core::v1::Pod) -> Vec<Port> {
    named_ports_of(pod)
        .into_iter()
        .map(|(port, _)| port)
        .collect()
}

/// The model pod's container ports with their names (named-port policies resolve them).
fn named_ports_of(pod: &k8s_openapi::api::core::v1::Pod) -> Vec<(Port, Option<String>)> {
    let mut out = Vec::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        for p in c.ports.iter().flatten() {
            let number = u16::try_from(p.container_port).expect("port");
            let port = match p.protocol.as_deref().unwrap_or("TCP") {
                "UDP" => Port::udp(number),
                "SCTP" => Port::sctp(number),
                _ => Port::tcp(number),
            };
            out.push((port, p.name.clone()));
        }
    }
    out
}

/// The model's pods as netns pods, and the runner's view of them.
pub struct Deployed {
    model: Model,
    /// Ports every server pod serves on top of its declared container ports: every port any
    /// case probes (upstream's agnhost containers serve ports they do not declare).
    extra_ports: Vec<Port>,
    pods: BTreeMap<PodName, TestPod>,
    node_of: BTreeMap<PodName, String>,
}

impl AddressBook for Deployed {
    fn pod_ip(&self, pod: &PodName) -> IpAddr {
        IpAddr::V4(
            self.pods
                .get(pod)
                .unwrap_or_else(|| panic!("no pod {pod}"))
                .ip,
        )
    }
}

impl Deployed {
    /// Creates the model's namespaces and pods. Pods without a node go round-robin over the
    /// nodes (so the tables mix same-node and cross-node pairs); model nodes `node-1`, `node-2`
    /// map to the first and second netns node.
    pub async fn create(env: &Env, model: &Model, extra_ports: Vec<Port>) -> Deployed {
        for ns in &model.namespaces {
            let name = ns.metadata.name.clone().unwrap_or_default();
            let labels: Vec<(String, String)> = ns
                .metadata
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let refs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            env.cluster
                .ensure_namespace(&name, &refs)
                .await
                .expect("namespace");
            set_namespace_labels(&env.client, ns).await;
        }
        let mut deployed = Deployed {
            model: model.clone(),
            extra_ports,
            pods: BTreeMap::new(),
            node_of: BTreeMap::new(),
        };
        for (i, pod) in model.pods.iter().enumerate() {
            let name = model::pod_name(pod);
            let node = match model::node_of(pod) {
                Some(n) => {
                    let idx = model
                        .nodes
                        .iter()
                        .position(|m| m.metadata.name.as_deref() == Some(n));
                    env.nodes[idx.unwrap_or(0) % env.nodes.len()].name.clone()
                }
                None => env.nodes[i % env.nodes.len()].name.clone(),
            };
            deployed.node_of.insert(name.clone(), node);
            deployed.add_pod(env, pod).await;
        }
        deployed
    }

    async fn add_pod(&mut self, env: &Env, pod: &k8s_openapi::api::core::v1::Pod) {
        let name = model::pod_name(pod);
        let labels = labels_of(pod);
        let mut ports = ports_of(pod);
        if self.model.servers.contains(&name) {
            for port in &self.extra_ports {
                if !ports.contains(port) {
                    ports.push(*port);
                }
            }
        }
        let mut spec = PodSpec::new(&name.namespace, &name.name)
            .labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .node(&self.node_of[&name])
            .serve_all(&ports);
        for (port, name) in named_ports_of(pod) {
            if let Some(name) = name {
                spec.port_names.insert(port, name);
            }
        }
        if model::is_host_network(pod) {
            spec = spec.host_network();
        }
        let test_pod = env
            .cluster
            .add_pod(spec)
            .await
            .unwrap_or_else(|e| panic!("pod {name}: {e}"));
        self.pods.insert(name, test_pod);
    }

    /// Puts the cluster back to the model: no policies, model labels, every pod present.
    pub async fn reset(&mut self, env: &Env) {
        delete_all_policies(&env.client).await;
        for ns in self.model.namespaces.clone() {
            set_namespace_labels(&env.client, &ns).await;
        }
        for pod in self.model.pods.clone() {
            let name = model::pod_name(&pod);
            let want = labels_of(&pod);
            match self.pods.get(&name).cloned() {
                Some(current) => {
                    let have: Vec<(String, String)> = current.labels.clone().into_iter().collect();
                    if have != want {
                        self.relabel(env, &name, &want).await;
                    }
                }
                None => self.add_pod(env, &pod).await,
            }
        }
    }

    async fn relabel(&mut self, env: &Env, name: &PodName, labels: &[(String, String)]) {
        let current = self.pods[name].clone();
        let refs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let pod = env
            .cluster
            .relabel_pod(&current, &refs)
            .await
            .expect("relabel pod");
        self.pods.insert(name.clone(), pod);
    }

    /// Applies one action through the API.
    pub async fn act(&mut self, env: &Env, action: &Action) {
        match action {
            Action::Apply(source) => apply_policy(&env.client, &source.resolve(self)).await,
            Action::ApplyInvalid(source) => {
                let policy = source.resolve(self);
                assert!(
                    try_apply_policy(&env.client, &policy).await.is_err(),
                    "the API server accepted invalid {}",
                    policy.id()
                );
            }
            Action::Delete(id) => delete_policy(&env.client, id).await,
            Action::DeleteAllNetworkPolicies => {
                let nps = Api::<NetworkPolicy>::all(env.client.clone())
                    .list(&ListParams::default())
                    .await
                    .expect("list NPs");
                for np in nps {
                    let id = PolicyId::NetworkPolicy {
                        namespace: np.metadata.namespace.unwrap_or_default(),
                        name: np.metadata.name.unwrap_or_default(),
                    };
                    delete_policy(&env.client, &id).await;
                }
            }
            Action::ApplyNamespace(ns) => set_namespace_labels(&env.client, ns).await,
            Action::ApplyPod(pod) => {
                let name = model::pod_name(pod);
                self.relabel(env, &name, &labels_of(pod)).await;
            }
            Action::DeletePod(name) => {
                if let Some(pod) = self.pods.remove(name) {
                    env.cluster.delete_pod(&pod).await.expect("delete pod");
                }
            }
        }
    }

    /// Probes every client→server pair on `probe` once.
    pub async fn observe(&self, env: &Env, expected: &TruthTable, port: Port) -> TruthTable {
        let pods: Vec<TestPod> = self.pods.values().cloned().collect();
        let matrix = env
            .cluster
            .probe_matrix(&pods, &[port], PROBE_TIMEOUT)
            .await
            .expect("probe");
        let mut observed = TruthTable::new(expected.froms(), expected.tos(), false);
        for from in expected.froms() {
            for to in expected.tos() {
                let seen = matrix
                    .get(&from.to_string(), &to.to_string(), port)
                    .unwrap_or(false);
                observed.expect(from, to, seen);
            }
        }
        observed
    }
}

fn e2e_port(probe: verdict_conformance::Probe) -> Port {
    match probe.protocol {
        verdict_conformance::Protocol::Tcp => Port {
            protocol: Protocol::Tcp,
            number: probe.port,
        },
        verdict_conformance::Protocol::Udp => Port {
            protocol: Protocol::Udp,
            number: probe.port,
        },
        verdict_conformance::Protocol::Sctp => Port {
            protocol: Protocol::Sctp,
            number: probe.port,
        },
    }
}

/// A whole conformance suite on real packets: a control plane, two netns nodes with one agent
/// each, every case of `cases` that has no recorded gap, and one assertion listing every wrong
/// cell. `env_name` names the control plane's log directory.
pub async fn run_suite(env_name: &str, suite: &str, cases: Vec<Case>) {
    let env = Env::start(env_name, 2).await;
    env.start_agents(&[]).await;
    let cases: Vec<Case> = cases.into_iter().filter(|c| c.gap.is_none()).collect();
    assert!(!cases.is_empty(), "no {suite} cases");
    let failures = run_cases(&env, &cases).await;
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The cases whose name contains `only` (all of them without a filter).
///
/// # Errors
/// A report line when a filter matches none of the cases.
pub fn select_cases<'a>(cases: &'a [Case], only: Option<&str>) -> Result<Vec<&'a Case>, String> {
    let selected: Vec<&Case> = cases
        .iter()
        .filter(|c| only.is_none_or(|o| c.name.contains(o)))
        .collect();
    match only {
        Some(o) if selected.is_empty() => Err(format!(
            "VERDICT_E2E_CASE={o:?} matches none of the {} cases",
            cases.len()
        )),
        _ => Ok(selected),
    }
}

/// Runs `cases` (all on the same model) against the agents; returns a report line per failed
/// expectation. Each step's expectation is polled until it matches or [`SETTLE`] passes.
pub async fn run_cases(env: &Env, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    // VERDICT_E2E_CASE=<substring> runs only the matching cases (for debugging); a filter
    // that matches nothing is a failure, not a pass with zero cases.
    let only = std::env::var("VERDICT_E2E_CASE")
        .ok()
        .filter(|o| !o.is_empty());
    let cases = match select_cases(cases, only.as_deref()) {
        Ok(cases) => cases,
        Err(why) => return vec![why],
    };
    let Some(first) = cases.first() else {
        return vec!["no cases to run".into()];
    };
    let mut probed: Vec<Port> = cases
        .iter()
        .flat_map(|c| c.steps.iter())
        .flat_map(|s| s.expectations.iter())
        .map(|e| e2e_port(e.probe))
        .collect();
    probed.sort();
    probed.dedup();
    let mut deployed = Deployed::create(env, &first.model, probed).await;
    for case in cases {
        let started = Instant::now();
        deployed.reset(env).await;
        let mut ok = true;
        for step in &case.steps {
            for action in &step.actions {
                deployed.act(env, action).await;
            }
            for expectation in &step.expectations {
                let port = e2e_port(expectation.probe);
                let deadline = Instant::now() + SETTLE;
                loop {
                    let observed = deployed.observe(env, &expectation.reachability, port).await;
                    let comparison = expectation
                        .reachability
                        .compare(&observed, case.ignore_loopback);
                    if comparison.is_match() {
                        break;
                    }
                    if Instant::now() >= deadline {
                        ok = false;
                        eprintln!(
                            "[agent-e2e] {} / step {:?} / {}:\n{comparison}",
                            case.name, step.name, expectation.probe
                        );
                        failures.push(format!(
                            "{} / step {:?} / {}: {} wrong cells after {SETTLE:?}\n{comparison}",
                            case.name,
                            step.name,
                            expectation.probe,
                            comparison.wrong.len()
                        ));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
        eprintln!(
            "[agent-e2e] {} {} in {:.1}s",
            if ok { "PASS" } else { "FAIL" },
            case.name,
            started.elapsed().as_secs_f64()
        );
    }
    failures
}
