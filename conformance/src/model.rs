//! The clusters the cases run in: namespaces, pods and nodes as k8s-openapi objects, without
//! addresses. A runner assigns pod and node IPs; a `hostNetwork` pod takes its node's IP.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, Node, Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::truth_table::TruthTable;

/// The label every namespace carries automatically (set by the API server).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// `namespace/name` of one pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodName {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
}

impl PodName {
    /// Builds a pod name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for PodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A cluster model: the objects a runner creates before the first step, and which pods are
/// probed from (rows of every truth table) and to (columns).
#[derive(Clone, Debug)]
pub struct Model {
    /// Short name (`netpol` or `anp`).
    pub name: &'static str,
    /// Namespaces, with their labels.
    pub namespaces: Vec<Namespace>,
    /// Nodes, without addresses. May be empty.
    pub nodes: Vec<Node>,
    /// Pods, without addresses; `spec.nodeName` is set when `nodes` is not empty.
    pub pods: Vec<Pod>,
    /// Probe sources, in table order.
    pub clients: Vec<PodName>,
    /// Probe destinations, in table order.
    pub servers: Vec<PodName>,
}

impl Model {
    /// The upstream netpol e2e model: namespaces `x`, `y`, `z` (labels `ns=<name>` and
    /// `kubernetes.io/metadata.name=<name>`), pods `a`, `b`, `c` in each (label `pod=<name>`),
    /// each serving 80 and 81 on TCP, UDP and SCTP through named container ports
    /// `serve-<port>-<protocol>`. Every pod is both a client and a server (a 9×9 table).
    pub fn netpol() -> Self {
        let namespaces: Vec<Namespace> = ["x", "y", "z"]
            .iter()
            .map(|ns| namespace(ns, [("ns", *ns)]))
            .collect();
        let mut pods = Vec::new();
        for ns in ["x", "y", "z"] {
            for pod in ["a", "b", "c"] {
                pods.push(netpol_pod(ns, pod));
            }
        }
        let names: Vec<PodName> = pods.iter().map(pod_name).collect();
        Self {
            name: "netpol",
            namespaces,
            nodes: Vec::new(),
            pods,
            clients: names.clone(),
            servers: names,
        }
    }

    /// The network-policy-api v0.1.7 conformance model (`conformance/base/manifests.yaml`):
    /// four "house" namespaces with two StatefulSet pods each, plus the host-networked
    /// `centaur` pods of `network-policy-conformance-forbidden-forrest`, one on each of two
    /// Linux nodes. Clients are the eight pod-network pods; servers add the two centaurs.
    pub fn anp() -> Self {
        let nodes = vec![node("node-1"), node("node-2")];
        let mut namespaces = Vec::new();
        let mut pods = Vec::new();
        for (i, (house, set)) in HOUSES.iter().enumerate() {
            namespaces.push(namespace(
                &house_namespace(house),
                [("conformance-house", *house)],
            ));
            for ordinal in 0..2 {
                let node = if (i + ordinal) % 2 == 0 {
                    "node-1"
                } else {
                    "node-2"
                };
                pods.push(house_pod(house, set, ordinal, node));
            }
        }
        namespaces.push(namespace(
            &house_namespace(FOREST),
            [("conformance-house", FOREST)],
        ));
        pods.push(centaur_pod(0, "node-1"));
        pods.push(centaur_pod(1, "node-2"));
        let clients: Vec<PodName> = pods
            .iter()
            .filter(|p| !is_host_network(p))
            .map(pod_name)
            .collect();
        let servers: Vec<PodName> = pods.iter().map(pod_name).collect();
        Self {
            name: "anp",
            namespaces,
            nodes,
            pods,
            clients,
            servers,
        }
    }

    /// The network-policy-api v0.3.0 conformance model: the same houses as [`Model::anp`], with
    /// the host-network centaurs serving on upstream's templated `HostNetworkPorts` at their
    /// defaults ([`HOST_NETWORK_PORTS`]: TCP on ports 0 and 1, UDP on 2 and 4, SCTP on 6
    /// and 7).
    pub fn cnp() -> Self {
        let mut model = Self::anp();
        model.name = "cnp";
        let mut ordinal = 0;
        for pod in &mut model.pods {
            if is_host_network(pod) {
                let node = node_of(pod).map(str::to_string).unwrap_or_default();
                *pod = centaur_pod_v03(ordinal, &node);
                ordinal += 1;
            }
        }
        model
    }

    /// A table over this model's clients and servers, every cell set to `default`.
    pub fn table(&self, default: bool) -> TruthTable {
        TruthTable::new(&self.clients, &self.servers, default)
    }

    /// The namespace called `name`.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name))
    }

    /// The pod called `pod`.
    pub fn pod(&self, pod: &PodName) -> Option<&Pod> {
        self.pods.iter().find(|p| pod_name(p) == *pod)
    }
}

/// `namespace/name` of a pod object.
pub fn pod_name(pod: &Pod) -> PodName {
    PodName::new(
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// Whether the pod shares its node's network namespace (and so its IP).
pub fn is_host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

/// The node a pod is scheduled on.
pub fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// A namespace with the automatic name label plus `extra` labels.
pub fn namespace<'a>(name: &str, extra: impl IntoIterator<Item = (&'a str, &'a str)>) -> Namespace {
    let mut labels = BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), name.to_string())]);
    labels.extend(
        extra
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Returns `ns` with `key=value` added to its labels (upstream `AddNamespaceLabel`).
pub fn with_namespace_label(ns: &Namespace, key: &str, value: &str) -> Namespace {
    let mut ns = ns.clone();
    ns.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(key.into(), value.into());
    ns
}

/// Returns `pod` with `labels` merged into its labels (upstream `AddPodLabels`).
pub fn with_pod_labels<'a>(pod: &Pod, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Pod {
    let mut pod = pod.clone();
    let map = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    map.extend(
        labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    pod
}

fn node(name: &str) -> Node {
    let labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
    ]);
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn port(name: &str, number: i32, protocol: &str) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some(protocol.into()),
        ..Default::default()
    }
}

fn container(name: &str, ports: Vec<ContainerPort>) -> Container {
    Container {
        name: name.into(),
        ports: if ports.is_empty() { None } else { Some(ports) },
        ..Default::default()
    }
}

fn running_pod(meta: ObjectMeta, spec: PodSpec) -> Pod {
    Pod {
        metadata: meta,
        spec: Some(spec),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        }),
    }
}

fn netpol_pod(ns: &str, name: &str) -> Pod {
    let mut ports = Vec::new();
    for protocol in ["TCP", "UDP", "SCTP"] {
        for number in [80, 81] {
            ports.push(port(
                &format!("serve-{number}-{}", protocol.to_lowercase()),
                number,
                protocol,
            ));
        }
    }
    let meta = ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        labels: Some(BTreeMap::from([("pod".to_string(), name.to_string())])),
        ..Default::default()
    };
    running_pod(
        meta,
        PodSpec {
            containers: vec![container("agnhost", ports)],
            ..Default::default()
        },
    )
}

/// The four house namespaces' short names and their StatefulSet names, in upstream order.
pub const HOUSES: [(&str, &str); 4] = [
    ("gryffindor", "harry-potter"),
    ("slytherin", "draco-malfoy"),
    ("hufflepuff", "cedric-diggory"),
    ("ravenclaw", "luna-lovegood"),
];

/// The short name of the host-network namespace.
pub const FOREST: &str = "forbidden-forrest";

/// `network-policy-conformance-<house>`.
pub fn house_namespace(house: &str) -> String {
    format!("network-policy-conformance-{house}")
}

fn statefulset_meta(house: &str, set: &str, ordinal: usize) -> ObjectMeta {
    let name = format!("{set}-{ordinal}");
    let labels = BTreeMap::from([
        ("conformance-house".to_string(), house.to_string()),
        (
            "statefulset.kubernetes.io/pod-name".to_string(),
            name.clone(),
        ),
        (
            "apps.kubernetes.io/pod-index".to_string(),
            ordinal.to_string(),
        ),
    ]);
    ObjectMeta {
        name: Some(name),
        namespace: Some(house_namespace(house)),
        labels: Some(labels),
        ..Default::default()
    }
}

fn house_pod(house: &str, set: &str, ordinal: usize, node: &str) -> Pod {
    let containers = vec![
        container(&format!("{set}-client"), vec![]),
        container(&format!("{set}-80"), vec![port("web", 80, "TCP")]),
        container(&format!("{set}-8080"), vec![]),
        container(&format!("{set}-5353"), vec![]),
        container(&format!("{set}-53"), vec![port("dns", 53, "UDP")]),
        container(&format!("{set}-9003"), vec![]),
        container(&format!("{set}-9005"), vec![]),
    ];
    let spec = PodSpec {
        containers,
        node_name: Some(node.into()),
        ..Default::default()
    };
    running_pod(statefulset_meta(house, set, ordinal), spec)
}

fn centaur_pod(ordinal: usize, node: &str) -> Pod {
    let containers = vec![
        container("centaur-client", vec![]),
        container("centaur-36363-tcp", vec![port("web-36363", 36363, "TCP")]),
        container("centaur-36364-tcp", vec![port("web-36364", 36364, "TCP")]),
        container("centaur-34345-udp", vec![port("dns-34345", 34345, "UDP")]),
        container("centaur-34346-udp", vec![port("dns-34346", 34346, "UDP")]),
        container("centaur-9003", vec![]),
        container("centaur-9005", vec![]),
    ];
    let spec = PodSpec {
        containers,
        host_network: Some(true),
        node_name: Some(node.into()),
        ..Default::default()
    };
    running_pod(statefulset_meta(FOREST, "centaur", ordinal), spec)
}

/// The v0.3.0 suite's default host-network ports (`HostNetworkPortRangeStart` 34345, eight
/// ports): `{{ index .HostNetworkPorts i }}` in the base manifests is `HOST_NETWORK_PORTS[i]`.
pub const HOST_NETWORK_PORTS: [u16; 8] = [34345, 34346, 34347, 34348, 34349, 34350, 34351, 34352];

fn centaur_pod_v03(ordinal: usize, node: &str) -> Pod {
    let p = |i: usize| i32::from(HOST_NETWORK_PORTS[i]);
    let containers = vec![
        container("centaur-client", vec![]),
        container(
            &format!("centaur-{}-tcp", p(0)),
            vec![port(&format!("web-{}", p(0)), p(0), "TCP")],
        ),
        container(
            &format!("centaur-{}-tcp", p(1)),
            vec![port(&format!("web-{}", p(1)), p(1), "TCP")],
        ),
        container(
            &format!("centaur-{}-udp", p(2)),
            vec![port(&format!("dns-{}", p(2)), p(2), "UDP")],
        ),
        container(
            &format!("centaur-{}-udp", p(4)),
            vec![port(&format!("dns-{}", p(4)), p(4), "UDP")],
        ),
        container(&format!("centaur-{}", p(6)), vec![]),
        container(&format!("centaur-{}", p(7)), vec![]),
    ];
    let spec = PodSpec {
        containers,
        host_network: Some(true),
        node_name: Some(node.into()),
        ..Default::default()
    };
    running_pod(statefulset_meta(FOREST, "centaur", ordinal), spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netpol_model_is_nine_pods_with_six_named_ports_each() {
        let model = Model::netpol();
        assert_eq!(model.pods.len(), 9);
        assert_eq!(model.clients, model.servers);
        let pod = model.pod(&PodName::new("y", "b")).expect("y/b exists");
        let ports = pod.spec.as_ref().unwrap().containers[0]
            .ports
            .as_ref()
            .unwrap();
        let names: Vec<_> = ports.iter().filter_map(|p| p.name.as_deref()).collect();
        assert_eq!(
            names,
            [
                "serve-80-tcp",
                "serve-81-tcp",
                "serve-80-udp",
                "serve-81-udp",
                "serve-80-sctp",
                "serve-81-sctp"
            ]
        );
        let ns = model.namespace("z").unwrap();
        let labels = ns.metadata.labels.as_ref().unwrap();
        assert_eq!(labels.get("ns").map(String::as_str), Some("z"));
        assert_eq!(
            labels.get(NAMESPACE_NAME_LABEL).map(String::as_str),
            Some("z")
        );
    }

    #[test]
    fn cnp_model_moves_the_centaurs_to_the_templated_ports() {
        let model = Model::cnp();
        assert_eq!((model.clients.len(), model.servers.len()), (8, 10));
        let centaur = model
            .pod(&PodName::new(house_namespace(FOREST), "centaur-0"))
            .unwrap();
        assert!(is_host_network(centaur));
        let ports: Vec<(i32, &str)> = centaur
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .map(|p| (p.container_port, p.protocol.as_deref().unwrap_or("TCP")))
            .collect();
        assert_eq!(
            ports,
            [
                (34345, "TCP"),
                (34346, "TCP"),
                (34347, "UDP"),
                (34349, "UDP")
            ]
        );
        let labels = centaur.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "centaur-0");
    }

    #[test]
    fn anp_model_has_host_network_servers_that_are_not_clients() {
        let model = Model::anp();
        assert_eq!(model.clients.len(), 8);
        assert_eq!(model.servers.len(), 10);
        let centaur = PodName::new(house_namespace(FOREST), "centaur-1");
        let pod = model.pod(&centaur).unwrap();
        assert!(is_host_network(pod));
        assert_eq!(node_of(pod), Some("node-2"));
        assert!(!model.clients.contains(&centaur));
    }
}
