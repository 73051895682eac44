//! The simulated cluster: typed objects made complete the way an API server and kubelet would
//! make them, then fed to the engine's [`Index`].
//!
//! What "complete" means here:
//! - namespaced objects without a namespace are in `default`;
//! - namespaces that pods or NetworkPolicies use but no document declares are created;
//! - a hostNetwork pod without `status.podIP` gets its node's InternalIP addresses;
//! - any other pod without an IP is an error: a pod that cannot be addressed cannot be simulated.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, PodIP, PodStatus};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use verdict_engine::{ClusterObject, Index};

use crate::error::{Error, Result};
use crate::input::Location;
use crate::objects::Loaded;

/// What the simulator knows about a pod beyond what the engine needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its addresses, primary first.
    pub ips: Vec<IpAddr>,
    /// Whether it shares its node's network namespace.
    pub host_network: bool,
}

impl PodInfo {
    /// `namespace/name`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Messages for stderr: warnings always, notes only with `-v`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// Printed as `warning: ...`.
    pub warnings: Vec<String>,
    /// Printed as `note: ...` with `-v`.
    pub notes: Vec<String>,
}

/// The engine's index plus the pod table the CLI resolves names with.
#[derive(Debug)]
pub struct Cluster {
    /// The engine's view.
    pub index: Index,
    pods: BTreeMap<(String, String), PodInfo>,
}

/// Objects of one kind, deduplicated by key; the last document wins.
struct Objects<T> {
    kind: &'static str,
    by_key: BTreeMap<String, (Location, T)>,
}

impl<T> Objects<T> {
    fn new(kind: &'static str) -> Self {
        Objects {
            kind,
            by_key: BTreeMap::new(),
        }
    }

    fn insert(
        &mut self,
        key: String,
        location: Location,
        object: T,
        diagnostics: &mut Diagnostics,
    ) {
        if let Some((earlier, _)) = self.by_key.get(&key) {
            diagnostics.warnings.push(format!(
                "{location}: {} {key} replaces the one at {earlier}",
                self.kind
            ));
        }
        self.by_key.insert(key, (location, object));
    }
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// Sets the namespace to `default` when absent and returns `namespace/name`.
fn namespaced_key(meta: &mut ObjectMeta) -> String {
    let namespace = meta.namespace.get_or_insert_with(|| "default".into());
    format!("{namespace}/{}", meta.name.as_deref().unwrap_or_default())
}

impl Cluster {
    /// Completes the objects and indexes them, in dependency order: namespaces, nodes, pods,
    /// then policies.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a pod without a usable IP, [`Error::Rejected`] for an object the
    /// engine refuses (bad selector, bad CIDR, ...), both naming where the object came from.
    pub fn build(loaded: Vec<Loaded>, diagnostics: &mut Diagnostics) -> Result<Cluster> {
        let mut namespaces = Objects::new("Namespace");
        let mut nodes = Objects::new("Node");
        let mut pods = Objects::new("Pod");
        let mut network_policies = Objects::new("NetworkPolicy");
        let mut admin_policies = Objects::new("AdminNetworkPolicy");
        let mut baseline_policies = Objects::new("BaselineAdminNetworkPolicy");
        let mut cluster_policies = Objects::new("ClusterNetworkPolicy");
        for Loaded { location, object } in loaded {
            match object {
                ClusterObject::Namespace(ns) => {
                    namespaces.insert(name_of(&ns.metadata), location, ns, diagnostics)
                }
                ClusterObject::Node(node) => {
                    nodes.insert(name_of(&node.metadata), location, node, diagnostics)
                }
                ClusterObject::Pod(mut pod) => {
                    let key = namespaced_key(&mut pod.metadata);
                    pods.insert(key, location, pod, diagnostics)
                }
                ClusterObject::NetworkPolicy(mut np) => {
                    let key = namespaced_key(&mut np.metadata);
                    network_policies.insert(key, location, np, diagnostics)
                }
                ClusterObject::AdminNetworkPolicy(anp) => {
                    admin_policies.insert(name_of(&anp.metadata), location, anp, diagnostics)
                }
                ClusterObject::BaselineAdminNetworkPolicy(banp) => {
                    baseline_policies.insert(name_of(&banp.metadata), location, banp, diagnostics)
                }
                ClusterObject::ClusterNetworkPolicy(cnp) => {
                    cluster_policies.insert(name_of(&cnp.metadata), location, cnp, diagnostics)
                }
            }
        }

        let implicit =
            add_implicit_namespaces(&mut namespaces, &pods, &network_policies, diagnostics);

        let mut index = Index::new();
        let rejected = |location: &Location| {
            let location = location.clone();
            move |source| Error::Rejected {
                location,
                source: Box::new(source),
            }
        };
        // The engine adds the automatic kubernetes.io/metadata.name label itself.
        for (location, ns) in namespaces.by_key.values() {
            index.apply_namespace(ns).map_err(rejected(location))?;
        }
        for (location, node) in nodes.by_key.values() {
            index.apply_node(node).map_err(rejected(location))?;
        }
        let mut pod_table = BTreeMap::new();
        let mut owners = BTreeMap::<IpAddr, String>::new();
        for (location, pod) in pods.by_key.values_mut() {
            let info = pod_info(location, pod, &nodes, diagnostics)?;
            if !info.host_network {
                for ip in &info.ips {
                    if let Some(other) = owners.insert(*ip, info.label()) {
                        diagnostics.warnings.push(format!(
                            "{location}: Pod {} has IP {ip}, like Pod {other}",
                            info.label()
                        ));
                    }
                }
            }
            index.apply_pod(pod).map_err(rejected(location))?;
            pod_table.insert((info.namespace.clone(), info.name.clone()), info);
        }
        for (location, np) in network_policies.by_key.values() {
            index.apply_network_policy(np).map_err(rejected(location))?;
        }
        for (location, anp) in admin_policies.by_key.values() {
            index
                .apply_admin_network_policy(anp)
                .map_err(rejected(location))?;
        }
        for (location, banp) in baseline_policies.by_key.values() {
            index
                .apply_baseline_admin_network_policy(banp)
                .map_err(rejected(location))?;
        }
        for (location, cnp) in cluster_policies.by_key.values() {
            index
                .apply_cluster_network_policy(cnp)
                .map_err(rejected(location))?;
        }
        diagnostics.notes.push(format!(
            "simulating namespaces: {} ({} implicit), nodes: {}, pods: {}, NetworkPolicies: {}, AdminNetworkPolicies: {}, BaselineAdminNetworkPolicies: {}, ClusterNetworkPolicies: {}",
            namespaces.by_key.len(),
            implicit,
            nodes.by_key.len(),
            pod_table.len(),
            network_policies.by_key.len(),
            admin_policies.by_key.len(),
            baseline_policies.by_key.len(),
            cluster_policies.by_key.len(),
        ));
        Ok(Cluster {
            index,
            pods: pod_table,
        })
    }

    /// The pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodInfo> {
        self.pods.get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Every pod, sorted by namespace then name.
    pub fn pods(&self) -> impl Iterator<Item = &PodInfo> {
        self.pods.values()
    }
}

/// Creates the namespaces that pods or NetworkPolicies live in but no document declares, and
/// returns how many it created.
fn add_implicit_namespaces(
    namespaces: &mut Objects<Namespace>,
    pods: &Objects<Pod>,
    network_policies: &Objects<NetworkPolicy>,
    diagnostics: &mut Diagnostics,
) -> usize {
    let mut implicit = BTreeMap::<String, String>::new();
    let used = pods
        .by_key
        .values()
        .map(|(location, pod)| (location, "Pod", &pod.metadata))
        .chain(
            network_policies
                .by_key
                .values()
                .map(|(l, np)| (l, "NetworkPolicy", &np.metadata)),
        );
    for (location, kind, meta) in used {
        let namespace = meta.namespace.clone().unwrap_or_default();
        if !namespaces.by_key.contains_key(&namespace) {
            let used_by = format!("{kind} {namespace}/{} at {location}", name_of(meta));
            implicit.entry(namespace).or_insert(used_by);
        }
    }
    for (namespace, used_by) in &implicit {
        diagnostics.notes.push(format!(
            "namespace {namespace} is not declared; creating it (first used by {used_by})"
        ));
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let location = Location {
            file: "(implicit)".into(),
            document: 0,
            item: None,
        };
        namespaces.by_key.insert(namespace.clone(), (location, ns));
    }
    implicit.len()
}

/// Reads (or, for hostNetwork pods, fills in) a pod's addresses.
fn pod_info(
    location: &Location,
    pod: &mut Pod,
    nodes: &Objects<Node>,
    diagnostics: &mut Diagnostics,
) -> Result<PodInfo> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = name_of(&pod.metadata);
    let label = format!("Pod {namespace}/{name}");
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let invalid = |field: String, message: String| Error::Invalid {
        location: location.clone(),
        object: label.clone(),
        field,
        message,
    };

    let status = pod.status.get_or_insert_with(PodStatus::default);
    let mut ips = Vec::new();
    for (i, pod_ip) in status.pod_ips.iter().flatten().enumerate() {
        let ip = pod_ip.ip.parse::<IpAddr>().map_err(|_| {
            invalid(
                format!("status.podIPs[{i}].ip"),
                format!("{:?} is not an IP address", pod_ip.ip),
            )
        })?;
        ips.push(ip);
    }
    if let Some(primary) = status.pod_ip.as_deref().filter(|ip| !ip.is_empty()) {
        let ip = primary.parse::<IpAddr>().map_err(|_| {
            invalid(
                "status.podIP".into(),
                format!("{primary:?} is not an IP address"),
            )
        })?;
        // The API server keeps podIPs[0] == podIP; honour podIP as the primary either way.
        ips.retain(|other| *other != ip);
        ips.insert(0, ip);
    }

    if ips.is_empty() && host_network {
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let node = node_name
            .as_ref()
            .and_then(|n| nodes.by_key.get(n))
            .map(|(_, node)| node);
        ips = node.map(node_internal_ips).unwrap_or_default();
        if ips.is_empty() {
            let why = match node_name {
                None => "it has no spec.nodeName".to_string(),
                Some(n) if node.is_none() => format!("its node {n} is not in the input"),
                Some(n) => format!("its node {n} has no InternalIP address"),
            };
            return Err(invalid(
                "status.podIP".into(),
                format!("hostNetwork pod without an IP, and {why} to take one from"),
            ));
        }
        let shown: Vec<String> = ips.iter().map(ToString::to_string).collect();
        diagnostics.notes.push(format!(
            "{location}: {label} uses the host network; giving it its node's address {}",
            shown.join(", ")
        ));
        status.pod_ip = Some(ips[0].to_string());
        status.pod_ips = Some(ips.iter().map(|ip| PodIP { ip: ip.to_string() }).collect());
    }
    if ips.is_empty() {
        return Err(invalid(
            "status.podIP".into(),
            "the pod has no IP address (set status.podIP or status.podIPs to simulate it)".into(),
        ));
    }
    Ok(PodInfo {
        namespace,
        name,
        ips,
        host_network,
    })
}

fn node_internal_ips(node: &Node) -> Vec<IpAddr> {
    let addresses = node.status.as_ref().and_then(|s| s.addresses.as_ref());
    let mut ips: Vec<IpAddr> = addresses
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect();
    // Keep address order but drop repeats.
    let mut seen = BTreeSet::new();
    ips.retain(|ip| seen.insert(*ip));
    ips
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus, PodSpec};
    use pretty_assertions::assert_eq;
    use verdict_engine::Verdict;

    fn here() -> Location {
        Location {
            file: "f.yaml".into(),
            document: 1,
            item: None,
        }
    }

    /// Builder for pods in these tests.
    struct PodBuilder(Pod);

    fn pod(namespace: &str, name: &str) -> PodBuilder {
        PodBuilder(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        })
    }

    impl PodBuilder {
        fn ip(mut self, ip: &str) -> Self {
            self.0.status.get_or_insert_with(PodStatus::default).pod_ip = Some(ip.into());
            self
        }
        fn ips(mut self, ips: &[&str]) -> Self {
            self.0.status.get_or_insert_with(PodStatus::default).pod_ips =
                Some(ips.iter().map(|ip| PodIP { ip: (*ip).into() }).collect());
            self
        }
        fn host_network_on(mut self, node: &str) -> Self {
            let spec = self.0.spec.get_or_insert_with(PodSpec::default);
            spec.host_network = Some(true);
            spec.node_name = Some(node.into());
            self
        }
    }

    fn node(name: &str, ips: &[&str]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            status: Some(NodeStatus {
                addresses: Some(
                    ips.iter()
                        .map(|ip| NodeAddress {
                            type_: "InternalIP".into(),
                            address: (*ip).into(),
                        })
                        .chain([NodeAddress {
                            type_: "Hostname".into(),
                            address: name.into(),
                        }])
                        .collect(),
                ),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    #[test]
    fn pod_addresses() {
        let mut nodes = Objects::new("Node");
        let mut ignored = Diagnostics::default();
        nodes.insert(
            "n1".into(),
            here(),
            node("n1", &["10.0.0.11", "fd00::11"]),
            &mut ignored,
        );
        nodes.insert("bare".into(), here(), node("bare", &[]), &mut ignored);
        let cases = [
            ("podIP", pod("x", "a").ip("10.1.0.1"), Ok(vec!["10.1.0.1"])),
            (
                "podIPs dual stack",
                pod("x", "a").ips(&["10.1.0.1", "fd00::1"]),
                Ok(vec!["10.1.0.1", "fd00::1"]),
            ),
            (
                "podIP first",
                pod("x", "a").ip("fd00::1").ips(&["10.1.0.1", "fd00::1"]),
                Ok(vec!["fd00::1", "10.1.0.1"]),
            ),
            (
                "hostNetwork takes the node's addresses",
                pod("x", "h").host_network_on("n1"),
                Ok(vec!["10.0.0.11", "fd00::11"]),
            ),
            (
                "hostNetwork keeps its own",
                pod("x", "h").ip("10.0.0.99").host_network_on("n1"),
                Ok(vec!["10.0.0.99"]),
            ),
            (
                "no IP",
                pod("x", "a"),
                Err(
                    "f.yaml: document 1: Pod x/a: status.podIP: the pod has no IP address (set status.podIP or status.podIPs to simulate it)",
                ),
            ),
            (
                "bad podIP",
                pod("x", "a").ip("10.1.0"),
                Err("f.yaml: document 1: Pod x/a: status.podIP: \"10.1.0\" is not an IP address"),
            ),
            (
                "bad podIPs",
                pod("x", "a").ips(&["10.1.0.1", "nope"]),
                Err(
                    "f.yaml: document 1: Pod x/a: status.podIPs[1].ip: \"nope\" is not an IP address",
                ),
            ),
            (
                "hostNetwork on an unknown node",
                pod("x", "h").host_network_on("n9"),
                Err(
                    "f.yaml: document 1: Pod x/h: status.podIP: hostNetwork pod without an IP, and its node n9 is not in the input to take one from",
                ),
            ),
            (
                "hostNetwork on a node without addresses",
                pod("x", "h").host_network_on("bare"),
                Err(
                    "f.yaml: document 1: Pod x/h: status.podIP: hostNetwork pod without an IP, and its node bare has no InternalIP address to take one from",
                ),
            ),
        ];
        for (name, PodBuilder(mut p), want) in cases {
            let got = pod_info(&here(), &mut p, &nodes, &mut Diagnostics::default())
                .map(|info| info.ips.iter().map(ToString::to_string).collect::<Vec<_>>())
                .map_err(|e| e.to_string());
            let want = want
                .map(|ips| ips.into_iter().map(String::from).collect::<Vec<_>>())
                .map_err(String::from);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn host_network_addresses_are_written_back_and_noted() {
        let mut nodes = Objects::new("Node");
        let mut diagnostics = Diagnostics::default();
        nodes.insert(
            "n1".into(),
            here(),
            node("n1", &["10.0.0.11"]),
            &mut diagnostics,
        );
        let PodBuilder(mut p) = pod("x", "h").host_network_on("n1");
        let info = pod_info(&here(), &mut p, &nodes, &mut diagnostics).unwrap();
        assert!(info.host_network);
        assert_eq!(p.status.unwrap().pod_ip.as_deref(), Some("10.0.0.11"));
        assert_eq!(
            diagnostics.notes,
            vec![
                "f.yaml: document 1: Pod x/h uses the host network; giving it its node's address 10.0.0.11"
            ]
        );
    }

    #[test]
    fn later_documents_replace_earlier_ones_with_a_warning() {
        let mut objects = Objects::new("Pod");
        let mut diagnostics = Diagnostics::default();
        objects.insert("x/a".into(), here(), 1, &mut diagnostics);
        let later = Location {
            file: "g.yaml".into(),
            document: 2,
            item: None,
        };
        objects.insert("x/a".into(), later, 2, &mut diagnostics);
        assert_eq!(objects.by_key["x/a"].1, 2);
        assert_eq!(
            diagnostics.warnings,
            vec!["g.yaml: document 2: Pod x/a replaces the one at f.yaml: document 1"]
        );
    }

    #[test]
    fn implicit_namespaces_are_selectable_by_name() {
        let object = |value: serde_json::Value| -> Loaded {
            let object = match value["kind"].as_str().unwrap() {
                "Pod" => ClusterObject::Pod(serde_json::from_value(value).unwrap()),
                _ => ClusterObject::NetworkPolicy(serde_json::from_value(value).unwrap()),
            };
            Loaded {
                location: here(),
                object,
            }
        };
        let pod = |ns: &str, ip: &str| {
            object(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": ns}, "status": {"podIP": ip}}))
        };
        let allow_from_b = object(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "from-b", "namespace": "a"},
            "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector":
                {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}]}
        }));
        let loaded = vec![
            pod("a", "10.0.0.1"),
            pod("b", "10.0.0.2"),
            pod("c", "10.0.0.3"),
            allow_from_b,
        ];
        let mut diagnostics = Diagnostics::default();
        let cluster = Cluster::build(loaded, &mut diagnostics).unwrap();
        let cases = [
            ("from b", "10.0.0.2", Verdict::Allow),
            ("from c", "10.0.0.3", Verdict::Deny),
        ];
        for (name, src, want) in cases {
            let flow = crate::simulate::flow(
                src.parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
                crate::probe::Probe::DEFAULT,
            );
            assert_eq!(cluster.index.evaluate(&flow).verdict, want, "{name}");
        }
        let created: Vec<&String> = diagnostics
            .notes
            .iter()
            .filter(|n| n.contains("creating it"))
            .collect();
        assert_eq!(created.len(), 3, "{:?}", diagnostics.notes);
        assert_eq!(
            cluster.pods().map(PodInfo::label).collect::<Vec<_>>(),
            vec!["a/p", "b/p", "c/p"]
        );
    }
}
