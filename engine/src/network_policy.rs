//! NetworkPolicy (networking.k8s.io/v1), compiled.
//!
//! `policyTypes` is defaulted as the API server does: Ingress always, Egress when egress rules
//! are present. A policy isolates the pods its podSelector selects (in its own namespace) in
//! each direction it lists; rules are ORed; within one peer, namespaceSelector and podSelector
//! are ANDed; a peer with only a podSelector means the policy's own namespace; an ipBlock
//! matches any address, pod or not, and is the only kind of peer that matches non-pod
//! addresses.

use std::sync::Arc;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};

use crate::Result;
use crate::decision::{Direction, PolicyKind, PolicyRef};
use crate::flow::Protocol;
use crate::labels::Labels;
use crate::model::PodRecord;
use crate::object::ObjectName;
use crate::peers::{IpBlock, PeerKind, PeerView};
use crate::ports::{PortSpec, network_policy_ports, ports_match};
use crate::selector::Selector;

/// A compiled NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NetworkPolicyRules {
    pub(crate) reference: PolicyRef,
    pub(crate) namespace: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) pod_selector: Selector,
    /// `Some` when the policy isolates for ingress.
    pub(crate) ingress: Option<Box<[Rule]>>,
    /// `Some` when the policy isolates for egress.
    pub(crate) egress: Option<Box<[Rule]>>,
}

/// One ingress or egress rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Empty: every peer.
    peers: Box<[Peer]>,
    /// Empty: every port and protocol.
    ports: Box<[PortSpec]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Peer {
    /// Pods. `namespaces: None` means the policy's own namespace.
    Pods {
        namespaces: Option<Selector>,
        pods: Selector,
    },
    Block(IpBlock),
}

impl NetworkPolicyRules {
    /// Compiles and validates a NetworkPolicy.
    ///
    /// # Errors
    /// Any field the API server would reject, named by its JSON path.
    pub(crate) fn compile(np: &NetworkPolicy) -> Result<Self> {
        let namespace = np.metadata.namespace.as_deref().unwrap_or("default");
        let name = np.metadata.name.as_deref().unwrap_or_default();
        let object = ObjectName::namespaced("NetworkPolicy", namespace, name);
        let spec = np.spec.clone().unwrap_or_default();
        let pod_selector = match &spec.pod_selector {
            Some(s) => Selector::parse(s, &object, "spec.podSelector")?,
            None => Selector::everything(),
        };
        let has_egress_rules = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
        let (mut ingress_type, mut egress_type) = (false, false);
        match spec.policy_types.as_deref() {
            Some(types) if !types.is_empty() => {
                if types.len() > 2 {
                    return Err(object.field(
                        "spec.policyTypes",
                        "may not specify more than two policyTypes",
                    ));
                }
                for (i, t) in types.iter().enumerate() {
                    match t.as_str() {
                        "Ingress" => ingress_type = true,
                        "Egress" => egress_type = true,
                        other => {
                            return Err(object.field(
                                &format!("spec.policyTypes[{i}]"),
                                format!("unsupported value {other:?}: expected Ingress or Egress"),
                            ));
                        }
                    }
                }
            }
            _ => {
                ingress_type = true;
                egress_type = has_egress_rules;
            }
        }
        let namespace: Arc<str> = Arc::from(namespace);
        let name: Arc<str> = Arc::from(name);
        let mut ingress = Vec::new();
        for (i, rule) in spec.ingress.iter().flatten().enumerate() {
            let path = format!("spec.ingress[{i}]");
            ingress.push(Rule::compile(
                rule.from.as_deref(),
                "from",
                rule.ports.as_deref(),
                &object,
                &path,
            )?);
        }
        let mut egress = Vec::new();
        for (i, rule) in spec.egress.iter().flatten().enumerate() {
            let path = format!("spec.egress[{i}]");
            egress.push(Rule::compile(
                rule.to.as_deref(),
                "to",
                rule.ports.as_deref(),
                &object,
                &path,
            )?);
        }
        Ok(NetworkPolicyRules {
            reference: PolicyRef {
                kind: PolicyKind::NetworkPolicy,
                namespace: Some(namespace.clone()),
                name: name.clone(),
                tier: None,
                priority: None,
            },
            namespace,
            name,
            pod_selector,
            ingress: ingress_type.then(|| ingress.into()),
            egress: egress_type.then(|| egress.into()),
        })
    }

    /// Replaces the namespace name with an equal, shared allocation.
    pub(crate) fn set_namespace(&mut self, namespace: Arc<str>) {
        debug_assert_eq!(namespace, self.namespace);
        self.reference.namespace = Some(namespace.clone());
        self.namespace = namespace;
    }

    /// True when the policy selects `pod` (same namespace, podSelector matches, not
    /// hostNetwork) and isolates it in `direction`.
    pub(crate) fn isolates(&self, labels: &Labels, direction: Direction) -> bool {
        let has = match direction {
            Direction::Ingress => self.ingress.is_some(),
            Direction::Egress => self.egress.is_some(),
        };
        has && self.pod_selector.matches(labels)
    }

    /// The index of the first rule in `direction` that allows traffic with `peer`.
    /// `dst_pod` is the destination pod, against which named ports resolve.
    pub(crate) fn allowing_rule(
        &self,
        direction: Direction,
        peer: &PeerView<'_>,
        protocol: Protocol,
        port: u16,
        dst_pod: Option<&PodRecord>,
    ) -> Option<usize> {
        let rules = match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }?;
        rules.iter().position(|rule| {
            ports_match(&rule.ports, protocol, port, dst_pod)
                && (rule.peers.is_empty() || rule.peers.iter().any(|p| self.peer_matches(p, peer)))
        })
    }

    fn peer_matches(&self, rule_peer: &Peer, peer: &PeerView<'_>) -> bool {
        match rule_peer {
            Peer::Block(block) => block.contains(peer.ip),
            Peer::Pods { namespaces, pods } => {
                let PeerKind::Pod(pod) = peer.kind else {
                    return false;
                };
                let namespace_ok = match namespaces {
                    None => pod.namespace == self.namespace,
                    Some(sel) => sel.matches(&pod.namespace_labels),
                };
                namespace_ok && pods.matches(&pod.labels)
            }
        }
    }
}

impl Rule {
    fn compile(
        peers: Option<&[NetworkPolicyPeer]>,
        peers_field: &str,
        ports: Option<&[NetworkPolicyPort]>,
        object: &ObjectName,
        path: &str,
    ) -> Result<Self> {
        let mut out = Vec::new();
        for (i, p) in peers.unwrap_or_default().iter().enumerate() {
            let field = format!("{path}.{peers_field}[{i}]");
            let peer = match (&p.ip_block, &p.namespace_selector, &p.pod_selector) {
                (Some(block), None, None) => Peer::Block(IpBlock::parse(
                    &block.cidr,
                    block.except.as_deref().unwrap_or_default(),
                    object,
                    &format!("{field}.ipBlock"),
                )?),
                (Some(_), _, _) => {
                    return Err(
                        object.field(&field, "may not specify both ipBlock and another peer")
                    );
                }
                (None, None, None) => return Err(object.field(&field, "must specify a peer")),
                (None, ns, pods) => Peer::Pods {
                    namespaces: ns
                        .as_ref()
                        .map(|s| Selector::parse(s, object, &format!("{field}.namespaceSelector")))
                        .transpose()?,
                    pods: pods
                        .as_ref()
                        .map(|s| Selector::parse(s, object, &format!("{field}.podSelector")))
                        .transpose()?
                        .unwrap_or_default(),
                },
            };
            out.push(peer);
        }
        Ok(Rule {
            peers: out.into(),
            ports: network_policy_ports(ports, object, &format!("{path}.ports"))?.into(),
        })
    }
}
