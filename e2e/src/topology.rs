//! The shapes a test talks about: [`TestNode`], [`TestPod`] and the [`PodSpec`] builder.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::probe::Port;

/// Image name on netns pods' containers; nothing pulls it (there is no kubelet).
pub const NETNS_POD_IMAGE: &str = "kube-verdict.local/netns-pod:e2e";

/// A netns node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestNode {
    /// Node name (also the Node object's name).
    pub name: String,
    /// Its network namespace (`ip netns exec <netns> ...`).
    pub netns: String,
    /// Its address on the underlay (the Node's InternalIP, the hostIP of its pods).
    pub underlay_ip: Ipv4Addr,
    /// Its pod CIDR (`10.251.N.0/24`).
    pub pod_cidr: Ipv4Net,
    /// Index N (1-based) that the addresses derive from.
    pub index: u8,
}

impl TestNode {
    /// The address of the node side of every pod veth (pods' default gateway).
    pub fn gateway(&self) -> Ipv4Addr {
        let o = self.pod_cidr.network().octets();
        Ipv4Addr::new(o[0], o[1], o[2], 1)
    }

    /// `ip netns exec <netns> <program>`: a command that runs inside this node.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(crate::netns::ip());
        cmd.args(["netns", "exec", &self.netns]).arg(program);
        cmd
    }
}

/// A netns pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its IP (the node's underlay IP for a hostNetwork pod).
    pub ip: Ipv4Addr,
    /// Its network namespace (the node's for a hostNetwork pod).
    pub netns: String,
    /// The node it runs on.
    pub node: String,
    /// Whether it shares the node's network namespace.
    pub host_network: bool,
    /// Ports it serves.
    pub ports: Vec<Port>,
    /// Container port names that differ from [`Port::name`].
    pub port_names: BTreeMap<Port, String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl TestPod {
    /// The container port name of `port` in the Pod object.
    pub fn port_name(&self, port: &Port) -> String {
        self.port_names
            .get(port)
            .cloned()
            .unwrap_or_else(|| port.name())
    }
    /// `namespace/name`, the key used in a [`crate::Matrix`].
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// What pod to create: `PodSpec::new("x", "a").label("pod", "a").node("n1").serve(Port::tcp(80))`.
#[derive(Debug, Clone, Default)]
pub struct PodSpec {
    /// Namespace (created with its default ServiceAccount if missing).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Node name (must have been added with [`crate::NetnsCluster::add_node`]).
    pub node: String,
    /// Share the node's network namespace.
    pub host_network: bool,
    /// Ports to serve (also listed as named container ports, see [`Port::name`]).
    pub ports: Vec<Port>,
    /// Container port names for some of `ports`, where a test needs the names a policy uses
    /// (`web`, `dns`); the others are named by [`Port::name`].
    pub port_names: BTreeMap<Port, String>,
}

impl PodSpec {
    /// A pod `namespace/name` with no labels, ports or node yet.
    pub fn new(namespace: &str, name: &str) -> PodSpec {
        PodSpec {
            namespace: namespace.into(),
            name: name.into(),
            ..Default::default()
        }
    }
    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> PodSpec {
        self.labels.insert(key.into(), value.into());
        self
    }
    /// Adds labels.
    pub fn labels<'a>(mut self, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> PodSpec {
        self.labels.extend(
            labels
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        self
    }
    /// Puts it on a node.
    pub fn node(mut self, node: &str) -> PodSpec {
        self.node = node.into();
        self
    }
    /// Makes it a hostNetwork pod.
    pub fn host_network(mut self) -> PodSpec {
        self.host_network = true;
        self
    }
    /// Serves a port.
    pub fn serve(mut self, port: Port) -> PodSpec {
        self.ports.push(port);
        self
    }
    /// Serves a port whose container port is named `name` (for named-port policies).
    pub fn serve_named(mut self, port: Port, name: &str) -> PodSpec {
        self.ports.push(port);
        self.port_names.insert(port, name.into());
        self
    }
    /// Serves ports.
    pub fn serve_all(mut self, ports: &[Port]) -> PodSpec {
        self.ports.extend_from_slice(ports);
        self
    }
}
