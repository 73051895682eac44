//! Trimming watched objects down to the fields the engine reads, so that the agent's memory stays
//! small with 10k pods: managed fields, annotations, owner references, images, env, volumes and
//! status conditions are dropped as each object arrives, before anything holds on to it.

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, Node, NodeSpec, NodeStatus, Pod, PodSpec, PodStatus,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use verdict_crds::{AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy};

/// Keeps name, namespace, uid, labels and the deletion timestamp.
pub fn meta(m: &mut ObjectMeta) {
    *m = ObjectMeta {
        name: m.name.take(),
        namespace: m.namespace.take(),
        uid: m.uid.take(),
        labels: m.labels.take(),
        deletion_timestamp: m.deletion_timestamp.take(),
        ..ObjectMeta::default()
    };
}

/// Keeps the node name, hostNetwork, container ports (named ports) and the pod's IPs and phase.
pub fn pod(p: &mut Pod) {
    meta(&mut p.metadata);
    p.spec = p.spec.take().map(|s| PodSpec {
        node_name: s.node_name,
        host_network: s.host_network,
        containers: s.containers.into_iter().map(container).collect(),
        // Restartable init containers (sidecars) can declare ports that policies name.
        init_containers: s.init_containers.map(|cs| {
            cs.into_iter()
                .filter(|c| c.ports.is_some())
                .map(container)
                .collect()
        }),
        ..PodSpec::default()
    });
    p.status = p.status.take().map(|s| PodStatus {
        phase: s.phase,
        pod_ip: s.pod_ip,
        pod_ips: s.pod_ips,
        ..PodStatus::default()
    });
}

fn container(c: Container) -> Container {
    Container {
        name: c.name,
        ports: c.ports.map(|ports| {
            ports
                .into_iter()
                .map(|p| ContainerPort {
                    name: p.name,
                    container_port: p.container_port,
                    protocol: p.protocol,
                    ..ContainerPort::default()
                })
                .collect()
        }),
        restart_policy: c.restart_policy,
        ..Container::default()
    }
}

/// Keeps name and labels.
pub fn namespace(ns: &mut Namespace) {
    meta(&mut ns.metadata);
    ns.spec = None;
    ns.status = None;
}

/// Keeps name, labels, pod CIDRs and addresses.
pub fn node(n: &mut Node) {
    meta(&mut n.metadata);
    n.spec = n.spec.take().map(|s| NodeSpec {
        pod_cidr: s.pod_cidr,
        pod_cidrs: s.pod_cidrs,
        ..NodeSpec::default()
    });
    n.status = n.status.take().map(|s| NodeStatus {
        addresses: s.addresses,
        ..NodeStatus::default()
    });
}

/// Keeps metadata and the whole spec (every field of it is policy).
pub fn network_policy(np: &mut NetworkPolicy) {
    meta(&mut np.metadata);
}

/// Keeps metadata and spec; drops status.
pub fn admin_network_policy(anp: &mut AdminNetworkPolicy) {
    meta(&mut anp.metadata);
    anp.status = None;
}

/// Keeps metadata and spec; drops status.
pub fn baseline_admin_network_policy(banp: &mut BaselineAdminNetworkPolicy) {
    meta(&mut banp.metadata);
    banp.status = None;
}

/// Keeps metadata and spec; drops status.
pub fn cluster_network_policy(cnp: &mut ClusterNetworkPolicy) {
    meta(&mut cnp.metadata);
    cnp.status = None;
}

/// The same for a v1alpha2 object (converted to v1beta1 after trimming).
pub fn cluster_network_policy_v1alpha2(
    cnp: &mut verdict_crds::cluster_network_policy::v1alpha2::ClusterNetworkPolicy,
) {
    meta(&mut cnp.metadata);
    cnp.status = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    /// The object as JSON, without the `apiVersion` and `kind` that k8s-openapi always writes.
    fn json<T: serde::Serialize>(o: &T) -> serde_json::Value {
        let mut v = serde_json::to_value(o).unwrap();
        if let Some(map) = v.as_object_mut() {
            map.remove("apiVersion");
            map.remove("kind");
        }
        v
    }

    #[test]
    fn pods_keep_only_what_policy_needs() {
        struct Case {
            name: &'static str,
            input: serde_json::Value,
            want: serde_json::Value,
        }
        let cases = [
            Case {
                name: "full running pod",
                input: json!({
                    "metadata": {"name": "a", "namespace": "x", "uid": "u1",
                        "labels": {"pod": "a"}, "annotations": {"big": "x".repeat(1000)},
                        "resourceVersion": "42", "generation": 3,
                        "managedFields": [{"manager": "kubectl"}],
                        "ownerReferences": [{"apiVersion": "v1", "kind": "ReplicaSet",
                            "name": "rs", "uid": "u0"}]},
                    "spec": {"nodeName": "n1", "hostNetwork": false,
                        "containers": [{"name": "c", "image": "agnhost",
                            "env": [{"name": "A", "value": "B"}],
                            "ports": [{"name": "serve-80-tcp", "containerPort": 80,
                                "protocol": "TCP", "hostPort": 8080}]}],
                        "volumes": [{"name": "v", "emptyDir": {}}]},
                    "status": {"phase": "Running", "podIP": "10.0.0.1",
                        "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
                        "hostIP": "192.168.0.1", "conditions": [{"type": "Ready",
                            "status": "True"}]}
                }),
                want: json!({
                    "metadata": {"name": "a", "namespace": "x", "uid": "u1",
                        "labels": {"pod": "a"}},
                    "spec": {"nodeName": "n1", "hostNetwork": false,
                        "containers": [{"name": "c", "ports": [{"name": "serve-80-tcp",
                            "containerPort": 80, "protocol": "TCP"}]}]},
                    "status": {"phase": "Running", "podIP": "10.0.0.1",
                        "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}
                }),
            },
            Case {
                name: "pending pod without status",
                input: json!({"metadata": {"name": "p", "namespace": "x"},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}),
                want: json!({"metadata": {"name": "p", "namespace": "x"},
                    "spec": {"containers": [{"name": "c"}]}}),
            },
            Case {
                name: "sidecar init container keeps its ports, plain init container goes",
                input: json!({"metadata": {"name": "s", "namespace": "x"},
                    "spec": {"containers": [{"name": "c"}],
                        "initContainers": [
                            {"name": "setup", "image": "busybox"},
                            {"name": "proxy", "restartPolicy": "Always",
                                "ports": [{"name": "p", "containerPort": 15001}]}]}}),
                want: json!({"metadata": {"name": "s", "namespace": "x"},
                    "spec": {"containers": [{"name": "c"}],
                        "initContainers": [{"name": "proxy", "restartPolicy": "Always",
                            "ports": [{"name": "p", "containerPort": 15001}]}]}}),
            },
        ];
        for case in cases {
            let mut p = from(case.input);
            pod(&mut p);
            assert_eq!(json(&p), case.want, "{}", case.name);
        }
    }

    #[test]
    fn namespaces_nodes_and_policies() {
        let mut ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": "x", "labels": {"ns": "x"}, "annotations": {"a": "b"}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}))
        .unwrap();
        namespace(&mut ns);
        assert_eq!(
            json(&ns),
            json!({"metadata": {"name": "x", "labels": {"ns": "x"}}})
        );

        let mut n: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
            "spec": {"podCIDR": "10.0.1.0/24", "podCIDRs": ["10.0.1.0/24"],
                "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}],
                "images": [{"names": ["x"], "sizeBytes": 1}], "capacity": {"cpu": "2"}}}))
        .unwrap();
        node(&mut n);
        assert_eq!(
            json(&n),
            json!({"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
                "spec": {"podCIDR": "10.0.1.0/24", "podCIDRs": ["10.0.1.0/24"]},
                "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}]}})
        );

        let spec = json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]});
        let mut np: NetworkPolicy = serde_json::from_value(json!({
            "metadata": {"name": "deny", "namespace": "x", "managedFields": [{}]},
            "spec": spec.clone()}))
        .unwrap();
        network_policy(&mut np);
        assert_eq!(
            json(&np),
            json!({"metadata": {"name": "deny", "namespace": "x"}, "spec": spec})
        );

        let mut anp: AdminNetworkPolicy = serde_json::from_value(json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
            "metadata": {"name": "a", "annotations": {"x": "y"}},
            "spec": {"priority": 5, "subject": {"namespaces": {}}},
            "status": {"conditions": []}}))
        .unwrap();
        admin_network_policy(&mut anp);
        assert!(
            anp.status.is_none() && anp.metadata.annotations.is_none(),
            "anp trimmed"
        );
        assert_eq!(anp.spec.priority, 5, "anp spec kept");

        let mut banp: BaselineAdminNetworkPolicy = serde_json::from_value(json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "BaselineAdminNetworkPolicy",
            "metadata": {"name": "default", "resourceVersion": "9"},
            "spec": {"subject": {"namespaces": {}}}, "status": {"conditions": []}}))
        .unwrap();
        baseline_admin_network_policy(&mut banp);
        assert!(
            banp.status.is_none() && banp.metadata.resource_version.is_none(),
            "banp trimmed"
        );
        assert_eq!(
            banp.metadata.name.as_deref(),
            Some("default"),
            "banp name kept"
        );
    }
}
