//! The objects an enforcer owns, built as plain values (no I/O) and applied by
//! [`crate::reconcile`] with server-side apply.
//!
//! ```text
//!   NetworkPolicyEnforcer ──► ServiceAccount      verdict-agent-<name>  (namespace of the operator)
//!                         ──► ClusterRole         verdict-agent-<name>  get/list/watch only
//!                         ──► ClusterRoleBinding  verdict-agent-<name>
//!                         ──► Service             verdict-agent-<name>  headless: metrics, dashboard
//!                         ──► DaemonSet           verdict-agent-<name>  hostNetwork, NET_ADMIN
//! ```
//!
//! Every object carries a controller owner reference to the enforcer. The enforcer is
//! cluster-scoped, so it may own both namespaced and cluster-scoped objects, and the garbage
//! collector removes all of them when it is deleted: no finalizer is needed.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, PodSpec,
    PodTemplateSpec, Probe, SeccompProfile, SecurityContext, Service, ServiceAccount, ServicePort,
    ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use verdict_crds::NetworkPolicyEnforcer;

use crate::names::{
    AGENT_CONTAINER, HEALTH_PORT, METRICS_PORT, common_labels, owned_name, selector_labels,
};
use crate::{Error, Result, agent_args};

/// The priority class of the agent pods: losing the enforcer on a node is as bad as losing
/// kube-proxy.
pub const PRIORITY_CLASS: &str = "system-node-critical";
/// Capabilities the agent container gets. NET_ADMIN covers nftables, NFQUEUE binding and
/// conntrack deletion; nothing else is needed and the container is not privileged.
pub const AGENT_CAPABILITIES: &[&str] = &["NET_ADMIN"];
/// How many nodes may be without a ready agent during a rollout. Percentages round up, so at
/// least one node rolls at a time.
pub const MAX_UNAVAILABLE: &str = "10%";

/// Everything the operator owns for one enforcer.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    /// The agent's identity.
    pub service_account: ServiceAccount,
    /// Read-only access to what the agent watches.
    pub cluster_role: ClusterRole,
    /// Binds the two above.
    pub cluster_role_binding: ClusterRoleBinding,
    /// Headless service over the agent pods (metrics and dashboard ports).
    pub service: Service,
    /// The agents.
    pub daemon_set: DaemonSet,
}

/// Builds the owned objects of `npe`, with namespaced ones in `namespace`.
///
/// # Errors
/// [`Error::Unnamed`] when the enforcer has no name. An enforcer without a uid (never the case
/// for objects read from the API server) gets no owner reference.
pub fn build(npe: &NetworkPolicyEnforcer, namespace: &str) -> Result<Children> {
    let name = npe.metadata.name.as_deref().ok_or(Error::Unnamed)?;
    let owner = npe.controller_owner_ref(&());
    Ok(Children {
        service_account: service_account(name, namespace, owner.clone()),
        cluster_role: cluster_role(name, owner.clone()),
        cluster_role_binding: cluster_role_binding(name, namespace, owner.clone()),
        service: service(npe, name, namespace, owner.clone()),
        daemon_set: daemon_set(npe, name, namespace, owner),
    })
}

fn meta(enforcer: &str, namespace: Option<&str>, owner: Option<OwnerReference>) -> ObjectMeta {
    ObjectMeta {
        name: Some(owned_name(enforcer)),
        namespace: namespace.map(str::to_owned),
        labels: Some(common_labels(enforcer)),
        owner_references: owner.map(|o| vec![o]),
        ..Default::default()
    }
}

fn service_account(name: &str, ns: &str, owner: Option<OwnerReference>) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(name, Some(ns), owner),
        ..Default::default()
    }
}

/// The agent's permissions: read-only watches of exactly the kinds it indexes.
pub fn agent_rules() -> Vec<PolicyRule> {
    let read = || vec!["get".to_owned(), "list".to_owned(), "watch".to_owned()];
    let rule = |group: &str, resources: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: read(),
        ..Default::default()
    };
    vec![
        rule("", &["pods", "namespaces", "nodes"]),
        rule("networking.k8s.io", &["networkpolicies"]),
        rule(
            "policy.networking.k8s.io",
            &[
                "adminnetworkpolicies",
                "baselineadminnetworkpolicies",
                "clusternetworkpolicies",
            ],
        ),
    ]
}

fn cluster_role(name: &str, owner: Option<OwnerReference>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, None, owner),
        rules: Some(agent_rules()),
        ..Default::default()
    }
}

fn cluster_role_binding(name: &str, ns: &str, owner: Option<OwnerReference>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, None, owner),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: owned_name(name),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: owned_name(name),
            namespace: Some(ns.to_owned()),
            ..Default::default()
        }]),
    }
}

fn service(
    npe: &NetworkPolicyEnforcer,
    name: &str,
    ns: &str,
    owner: Option<OwnerReference>,
) -> Service {
    let mut ports = vec![ServicePort {
        name: Some("metrics".to_owned()),
        port: METRICS_PORT,
        target_port: Some(IntOrString::String("metrics".to_owned())),
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    }];
    if npe.spec.dashboard.enabled {
        ports.push(ServicePort {
            name: Some("dashboard".to_owned()),
            port: i32::from(npe.spec.dashboard.port),
            target_port: Some(IntOrString::String("dashboard".to_owned())),
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        });
    }
    Service {
        metadata: meta(name, Some(ns), owner),
        spec: Some(ServiceSpec {
            // Headless: metrics are scraped, and dashboards read, per node.
            cluster_ip: Some("None".to_owned()),
            selector: Some(selector_labels(name)),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: port,
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    }
}

fn probe(path: &str, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(HEALTH_PORT),
            ..Default::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(2),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    }
}

fn agent_container(npe: &NetworkPolicyEnforcer) -> Container {
    let spec = &npe.spec;
    let mut ports = vec![port("metrics", METRICS_PORT), port("health", HEALTH_PORT)];
    if spec.dashboard.enabled {
        ports.push(port("dashboard", i32::from(spec.dashboard.port)));
    }
    Container {
        name: AGENT_CONTAINER.to_owned(),
        image: Some(spec.agent.image.clone()),
        image_pull_policy: spec.agent.image_pull_policy.map(|p| p.as_str().to_owned()),
        command: Some(vec![agent_args::AGENT_COMMAND.to_owned()]),
        args: Some(agent_args::args(spec)),
        env: Some(agent_args::env(npe.metadata.uid.as_deref())),
        resources: spec.agent.resources.clone(),
        ports: Some(ports),
        liveness_probe: Some(probe("/healthz", 3)),
        readiness_probe: Some(probe("/readyz", 1)),
        security_context: Some(SecurityContext {
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            // netlink to the host's nftables and NFQUEUE needs uid 0 with NET_ADMIN, not more.
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            capabilities: Some(Capabilities {
                add: Some(AGENT_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()),
                drop: Some(vec!["ALL".to_owned()]),
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..Default::default()
        }]),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Default::default()
    }
}

fn daemon_set(
    npe: &NetworkPolicyEnforcer,
    name: &str,
    ns: &str,
    owner: Option<OwnerReference>,
) -> DaemonSet {
    let spec = &npe.spec;
    let mut node_selector: BTreeMap<String, String> = spec.node_selector.clone();
    node_selector
        .entry("kubernetes.io/os".to_owned())
        .or_insert_with(|| "linux".to_owned());
    DaemonSet {
        metadata: meta(name, Some(ns), owner),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels(name)),
                ..Default::default()
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::String(MAX_UNAVAILABLE.to_owned())),
                    // hostNetwork ports can't be held by two agents on one node.
                    max_surge: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(common_labels(name)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(owned_name(name)),
                    host_network: Some(true),
                    dns_policy: Some("ClusterFirstWithHostNet".to_owned()),
                    priority_class_name: Some(PRIORITY_CLASS.to_owned()),
                    node_selector: Some(node_selector),
                    tolerations: (!spec.tolerations.is_empty()).then(|| spec.tolerations.clone()),
                    containers: vec![agent_container(npe)],
                    volumes: Some(vec![Volume {
                        name: "tmp".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    }]),
                    termination_grace_period_seconds: Some(30),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// The agent image a DaemonSet's pod template runs.
pub fn daemon_set_image(ds: &DaemonSet) -> Option<String> {
    ds.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == AGENT_CONTAINER)?
        .image
        .clone()
}

/// The enforcer that controls `obj`, read from its controller owner reference.
pub fn controlling_enforcer<K: Resource>(obj: &K) -> Option<String> {
    obj.owner_references()
        .iter()
        .find(|o| {
            o.controller == Some(true)
                && o.kind == "NetworkPolicyEnforcer"
                && o.api_version.starts_with("verdict.dev/")
        })
        .map(|o| o.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_crds::NetworkPolicyEnforcerSpec;

    fn npe(name: &str, spec: serde_json::Value) -> NetworkPolicyEnforcer {
        let spec: NetworkPolicyEnforcerSpec = serde_json::from_value(spec).unwrap();
        let mut npe = NetworkPolicyEnforcer::new(name, spec);
        npe.metadata.uid = Some(format!("uid-{name}"));
        npe
    }

    fn pod_spec(ds: &DaemonSet) -> &PodSpec {
        ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    #[test]
    fn every_child_is_named_labelled_and_owned() {
        let c = build(&npe("prod", serde_json::json!({})), "kube-verdict-system").unwrap();
        let metas = [
            ("sa", &c.service_account.metadata),
            ("cr", &c.cluster_role.metadata),
            ("crb", &c.cluster_role_binding.metadata),
            ("svc", &c.service.metadata),
            ("ds", &c.daemon_set.metadata),
        ];
        for (what, m) in metas {
            assert_eq!(m.name.as_deref(), Some("verdict-agent-prod"), "{what}");
            let owner = &m.owner_references.as_ref().unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str(), owner.controller),
                ("NetworkPolicyEnforcer", "prod", Some(true)),
                "{what}"
            );
            assert_eq!(
                m.labels.as_ref().unwrap()["app.kubernetes.io/instance"],
                "prod",
                "{what}"
            );
        }
        assert_eq!(c.cluster_role.metadata.namespace, None);
        assert_eq!(
            c.daemon_set.metadata.namespace.as_deref(),
            Some("kube-verdict-system")
        );
        assert_eq!(controlling_enforcer(&c.daemon_set).as_deref(), Some("prod"));
    }

    #[test]
    fn agent_role_is_read_only_and_has_no_secrets() {
        let rules = agent_rules();
        for rule in &rules {
            assert_eq!(rule.verbs, ["get", "list", "watch"]);
            let resources = rule.resources.as_ref().unwrap();
            assert!(!resources.iter().any(|r| r == "secrets" || r == "*"));
        }
        let all: Vec<&str> = rules
            .iter()
            .flat_map(|r| r.resources.as_ref().unwrap().iter().map(String::as_str))
            .collect();
        assert_eq!(
            all,
            [
                "pods",
                "namespaces",
                "nodes",
                "networkpolicies",
                "adminnetworkpolicies",
                "baselineadminnetworkpolicies",
                "clusternetworkpolicies"
            ]
        );
    }

    #[test]
    fn daemon_set_runs_a_confined_host_network_agent() {
        let c = build(&npe("prod", serde_json::json!({})), "ns").unwrap();
        let ds = &c.daemon_set;
        let pod = pod_spec(ds);
        assert_eq!(pod.host_network, Some(true));
        assert_eq!(
            pod.priority_class_name.as_deref(),
            Some("system-node-critical")
        );
        assert_eq!(
            pod.service_account_name.as_deref(),
            Some("verdict-agent-prod")
        );
        let agent = &pod.containers[0];
        let sc = agent.security_context.as_ref().unwrap();
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().add.as_deref(),
            Some(&["NET_ADMIN".to_owned()][..])
        );
        let path = |p: &Option<Probe>| p.as_ref().unwrap().http_get.as_ref().unwrap().path.clone();
        assert_eq!(path(&agent.liveness_probe).as_deref(), Some("/healthz"));
        assert_eq!(path(&agent.readiness_probe).as_deref(), Some("/readyz"));
        let strategy = ds.spec.as_ref().unwrap().update_strategy.as_ref().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        assert_eq!(
            daemon_set_image(ds).as_deref(),
            Some(verdict_crds::DEFAULT_AGENT_IMAGE)
        );
    }

    #[test]
    fn spec_placement_and_container_fields_reach_the_pod() {
        let c = build(
            &npe(
                "edge",
                serde_json::json!({
                    "nodeSelector": {"pool": "edge"},
                    "tolerations": [{"operator": "Exists"}],
                    "agent": {"image": "registry.local/agent:dev", "imagePullPolicy": "Never",
                              "resources": {"limits": {"memory": "256Mi"}}},
                    "dashboard": {"enabled": true, "port": 8088}
                }),
            ),
            "ns",
        )
        .unwrap();
        let pod = pod_spec(&c.daemon_set);
        let selector = pod.node_selector.as_ref().unwrap();
        assert_eq!(selector["pool"], "edge");
        assert_eq!(selector["kubernetes.io/os"], "linux");
        assert_eq!(
            pod.tolerations.as_ref().unwrap()[0].operator.as_deref(),
            Some("Exists")
        );
        let agent = &pod.containers[0];
        assert_eq!(agent.image.as_deref(), Some("registry.local/agent:dev"));
        assert_eq!(agent.image_pull_policy.as_deref(), Some("Never"));
        assert!(agent.resources.as_ref().unwrap().limits.is_some());
        let svc_ports: Vec<i32> = c
            .service
            .spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| p.port)
            .collect();
        assert_eq!(svc_ports, [9090, 8088]);
    }

    #[test]
    fn a_spec_change_changes_the_pod_template() {
        let a = build(&npe("p", serde_json::json!({})), "ns").unwrap();
        let b = build(
            &npe(
                "p",
                serde_json::json!({"enforcement": {"strictMode": true}}),
            ),
            "ns",
        )
        .unwrap();
        assert_ne!(
            a.daemon_set.spec.unwrap().template,
            b.daemon_set.spec.unwrap().template
        );
    }
}
