use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::Error;

fn port(p: Option<IntOrString>, protocol: Option<&str>, end: Option<i32>) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: p,
        protocol: protocol.map(str::to_string),
        end_port: end,
    }
}

/// (case, object, expected object name, expected field, expected variant name)
#[test]
fn invalid_objects_name_object_and_field() {
    let cases: Vec<(&str, ClusterObject, &str, &str, &str)> = vec![
        (
            "bad CIDR",
            netpol("x", "p")
                .ingress(np_rule().ip_block("10.0.0.0/33", &[]))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].from[0].ipBlock.cidr",
            "InvalidCidr",
        ),
        (
            "except outside cidr",
            netpol("x", "p")
                .egress(np_rule().ip_block("10.0.0.0/24", &["10.1.0.0/28"]))
                .into(),
            "NetworkPolicy x/p",
            "spec.egress[0].to[0].ipBlock.except[0]",
            "InvalidField",
        ),
        (
            "except equal to cidr",
            netpol("x", "p")
                .ingress(np_rule().ip_block("10.0.0.0/24", &["10.0.0.0/24"]))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].from[0].ipBlock.except[0]",
            "InvalidField",
        ),
        (
            "bad except",
            netpol("x", "p")
                .ingress(np_rule().ip_block("10.0.0.0/24", &["nope"]))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].from[0].ipBlock.except[0]",
            "InvalidCidr",
        ),
        (
            "ipBlock with selector",
            netpol("x", "p")
                .ingress(np_rule().raw_peer(NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: "10.0.0.0/8".into(),
                        except: None,
                    }),
                    pod_selector: Some(sel([])),
                    namespace_selector: None,
                }))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].from[0]",
            "InvalidField",
        ),
        (
            "empty peer",
            netpol("x", "p")
                .ingress(np_rule().raw_peer(NetworkPolicyPeer::default()))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].from[0]",
            "InvalidField",
        ),
        (
            "port 0",
            netpol("x", "p").ingress(np_rule().port(0, None)).into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].ports[0].port",
            "InvalidField",
        ),
        (
            "port too big",
            netpol("x", "p").ingress(np_rule().port(70000, None)).into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].ports[0].port",
            "InvalidField",
        ),
        (
            "endPort below port",
            netpol("x", "p")
                .ingress(np_rule().port_range(90, 80, None))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].ports[0].endPort",
            "InvalidField",
        ),
        (
            "endPort with named port",
            netpol("x", "p")
                .ingress(np_rule().raw_port(port(
                    Some(IntOrString::String("http".into())),
                    None,
                    Some(90),
                )))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].ports[0].endPort",
            "InvalidField",
        ),
        (
            "endPort without port",
            netpol("x", "p")
                .ingress(np_rule().raw_port(port(None, Some("TCP"), Some(90))))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].ports[0].endPort",
            "InvalidField",
        ),
        (
            "bad port name",
            netpol("x", "p")
                .ingress(np_rule().named_port("Not_A_Name", None))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].ports[0].port",
            "InvalidField",
        ),
        (
            "unknown protocol",
            netpol("x", "p")
                .ingress(np_rule().port(80, Some("ICMP")))
                .into(),
            "NetworkPolicy x/p",
            "spec.ingress[0].ports[0].protocol",
            "InvalidField",
        ),
        (
            "bad policyType",
            netpol("x", "p").policy_types(&["Sideways"]).into(),
            "NetworkPolicy x/p",
            "spec.policyTypes[0]",
            "InvalidField",
        ),
        (
            "bad podSelector operator",
            netpol("x", "p").pod_selector(expr("a", "Has", &[])).into(),
            "NetworkPolicy x/p",
            "spec.podSelector.matchExpressions[0].operator",
            "InvalidSelector",
        ),
        (
            "bad peer selector",
            netpol("x", "p")
                .egress(np_rule().namespaces(expr("a", "In", &[])))
                .into(),
            "NetworkPolicy x/p",
            "spec.egress[0].to[0].namespaceSelector.matchExpressions[0].values",
            "InvalidSelector",
        ),
        (
            "ANP priority too high",
            anp("a", 1001).into(),
            "AdminNetworkPolicy a",
            "spec.priority",
            "InvalidField",
        ),
        (
            "ANP priority negative",
            anp("a", -1).into(),
            "AdminNetworkPolicy a",
            "spec.priority",
            "InvalidField",
        ),
        (
            "ANP bad network",
            anp("a", 1)
                .egress(admin_rule("Deny").peer(peer_networks(&["10.0.0.0/8", "300.0.0.0/8"])))
                .into(),
            "AdminNetworkPolicy a",
            "spec.egress[0].to[0].networks[1]",
            "InvalidCidr",
        ),
        (
            "ANP port out of range",
            anp("a", 1)
                .ingress(
                    admin_rule("Deny")
                        .peer(peer_namespaces(sel([])))
                        .port(admin_port(0, "TCP")),
                )
                .into(),
            "AdminNetworkPolicy a",
            "spec.ingress[0].ports[0].portNumber.port",
            "InvalidField",
        ),
        (
            "ANP port range reversed",
            anp("a", 1)
                .ingress(
                    admin_rule("Deny")
                        .peer(peer_namespaces(sel([])))
                        .port(admin_port_range(10, 5, None)),
                )
                .into(),
            "AdminNetworkPolicy a",
            "spec.ingress[0].ports[0].portRange.end",
            "InvalidField",
        ),
        (
            "ANP unknown protocol",
            anp("a", 1)
                .ingress(
                    admin_rule("Deny")
                        .peer(peer_namespaces(sel([])))
                        .port(admin_port(80, "QUIC")),
                )
                .into(),
            "AdminNetworkPolicy a",
            "spec.ingress[0].ports[0].portNumber.protocol",
            "InvalidField",
        ),
        (
            "ANP rule without peers",
            anp("a", 1).ingress(admin_rule("Deny")).into(),
            "AdminNetworkPolicy a",
            "spec.ingress[0].from",
            "InvalidField",
        ),
        (
            "ANP subject selector",
            anp("a", 1)
                .subject(subject_namespaces(expr("k", "Exists", &["v"])))
                .into(),
            "AdminNetworkPolicy a",
            "spec.subject.namespaces.matchExpressions[0].values",
            "InvalidSelector",
        ),
        (
            "ANP empty subject",
            anp("a", 1)
                .subject(verdict_crds::AdminNetworkPolicySubject::default())
                .into(),
            "AdminNetworkPolicy a",
            "spec.subject",
            "InvalidField",
        ),
        (
            "BANP name",
            banp_named("strict").into(),
            "BaselineAdminNetworkPolicy strict",
            "metadata.name",
            "InvalidField",
        ),
        (
            "BANP peer selector",
            banp()
                .egress(admin_rule("Deny").peer(peer_pods(sel([]), expr("k", "NotIn", &[]))))
                .into(),
            "BaselineAdminNetworkPolicy default",
            "spec.egress[0].to[0].pods.podSelector.matchExpressions[0].values",
            "InvalidSelector",
        ),
        (
            "pod IP",
            pod("x", "bad").ip("10.0.0.300").into(),
            "Pod x/bad",
            "status.podIPs[0].ip",
            "InvalidField",
        ),
    ];
    for (name, object, want_object, want_field, want_variant) in cases {
        let mut index = Index::new();
        let err = index.apply(&object).expect_err(name);
        let (variant, object, field) = match &err {
            Error::InvalidSelector { object, field, .. } => ("InvalidSelector", object, field),
            Error::InvalidCidr { object, field, .. } => ("InvalidCidr", object, field),
            Error::InvalidField { object, field, .. } => ("InvalidField", object, field),
        };
        assert_eq!(
            (variant, object.as_str(), field.as_str()),
            (want_variant, want_object, want_field),
            "case {name:?}: {err}"
        );
        assert!(
            err.to_string().starts_with(want_object),
            "case {name:?}: message {err}"
        );
        assert_eq!(
            index.generation(),
            0,
            "case {name:?}: a rejected object changes nothing"
        );
    }
}

#[test]
fn rejected_update_keeps_the_previous_version() {
    let mut index = cluster([netpol("x", "p").into()]);
    let before = index.generation();
    let bad = netpol("x", "p").ingress(np_rule().port(0, None)).build();
    assert!(index.apply_network_policy(&bad).is_err());
    assert_eq!(index.generation(), before);
    expect(
        "old policy still denies",
        &index.evaluate(&tcp(YB, XA, 80)),
        Verdict::Deny,
    );
}
