//! Port matching for NetworkPolicy, (Baseline)AdminNetworkPolicy and ClusterNetworkPolicy
//! rules.
//!
//! Both APIs compile to a list of [`PortSpec`]. An empty list (or an absent `ports`) matches
//! every port and protocol, ICMP and the other port-less IP protocols included
//! ([`Protocol::Other`]); a non-empty list never matches those. Named ports
//! resolve against the DESTINATION pod's container ports, so they never match traffic to a
//! node or an external address.

use std::sync::Arc;

use k8s_openapi::api::networking::v1::NetworkPolicyPort;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use verdict_crds::{
    AdminNetworkPolicyPort, ClusterNetworkPolicyPort, ClusterNetworkPolicyProtocol,
};

use crate::Result;
use crate::flow::Protocol;
use crate::model::PodRecord;
use crate::object::ObjectName;

/// One entry of a rule's port list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PortSpec {
    /// Every port of a protocol (NetworkPolicy entry with only `protocol`).
    AllOf(Protocol),
    /// An inclusive range of one protocol (`port` alone is a range of one).
    Range {
        protocol: Protocol,
        first: u16,
        last: u16,
    },
    /// A container port name. `protocol` is `None` for ANP, whose named ports take the
    /// protocol of the container port.
    Named {
        protocol: Option<Protocol>,
        name: Arc<str>,
    },
}

/// A container port of a pod that has a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NamedPort {
    pub(crate) name: Arc<str>,
    pub(crate) protocol: Protocol,
    pub(crate) port: u16,
}

/// True when a rule with `ports` matches the flow's destination protocol and port.
/// `dst_pod` is the destination pod, used to resolve named ports.
pub(crate) fn ports_match(
    ports: &[PortSpec],
    protocol: Protocol,
    port: u16,
    dst_pod: Option<&PodRecord>,
) -> bool {
    if ports.is_empty() {
        return true;
    }
    // ICMP and the other non-L4 protocols have no port a rule could name (see `flow.rs`).
    if !protocol.has_ports() {
        return false;
    }
    ports.iter().any(|spec| match spec {
        PortSpec::AllOf(p) => *p == protocol,
        PortSpec::Range {
            protocol: p,
            first,
            last,
        } => *p == protocol && (*first..=*last).contains(&port),
        PortSpec::Named { protocol: p, name } => {
            p.is_none_or(|p| p == protocol)
                && dst_pod.is_some_and(|pod| {
                    pod.named_ports
                        .iter()
                        .any(|np| np.name == *name && np.protocol == protocol && np.port == port)
                })
        }
    })
}

/// Parses a protocol the policy APIs accept (TCP, UDP, SCTP); `None` means TCP.
fn api_protocol(value: Option<&str>, object: &ObjectName, field: &str) -> Result<Protocol> {
    match value {
        None => Ok(Protocol::Tcp),
        Some("TCP") => Ok(Protocol::Tcp),
        Some("UDP") => Ok(Protocol::Udp),
        Some("SCTP") => Ok(Protocol::Sctp),
        Some(other) => Err(object.field(
            field,
            format!("unsupported protocol {other:?}: expected TCP, UDP or SCTP"),
        )),
    }
}

fn port_number(value: i32, object: &ObjectName, field: &str) -> Result<u16> {
    match u16::try_from(value) {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(object.field(
            field,
            format!("invalid port {value}: must be between 1 and 65535"),
        )),
    }
}

/// An IANA service name, as a container port name must be: 1-15 lowercase alphanumerics or
/// '-', with at least one letter, no leading, trailing or double '-'.
fn check_port_name(name: &str, object: &ObjectName, field: &str) -> Result<Arc<str>> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 15
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.iter().any(|c| c.is_ascii_lowercase())
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !name.contains("--");
    if ok {
        Ok(Arc::from(name))
    } else {
        Err(object.field(
            field,
            format!(
                "invalid port name {name:?}: must be 1-15 lowercase alphanumerics or '-', with at least one letter"
            ),
        ))
    }
}

/// Compiles a NetworkPolicy rule's `ports` (at `field`, e.g. `spec.ingress[0].ports`).
pub(crate) fn network_policy_ports(
    ports: Option<&[NetworkPolicyPort]>,
    object: &ObjectName,
    field: &str,
) -> Result<Vec<PortSpec>> {
    let mut out = Vec::new();
    for (i, p) in ports.unwrap_or_default().iter().enumerate() {
        let path = format!("{field}[{i}]");
        let protocol = api_protocol(p.protocol.as_deref(), object, &format!("{path}.protocol"))?;
        let spec = match (&p.port, p.end_port) {
            (None, None) => PortSpec::AllOf(protocol),
            (None, Some(_)) => {
                return Err(object.field(
                    &format!("{path}.endPort"),
                    "may not be specified when `port` is not specified",
                ));
            }
            (Some(IntOrString::Int(n)), end) => {
                let first = port_number(*n, object, &format!("{path}.port"))?;
                let last = match end {
                    None => first,
                    Some(e) => {
                        let last = port_number(e, object, &format!("{path}.endPort"))?;
                        if last < first {
                            return Err(object.field(
                                &format!("{path}.endPort"),
                                format!("{e} must be greater than or equal to `port` ({first})"),
                            ));
                        }
                        last
                    }
                };
                PortSpec::Range {
                    protocol,
                    first,
                    last,
                }
            }
            (Some(IntOrString::String(name)), end) => {
                if end.is_some() {
                    return Err(object.field(
                        &format!("{path}.endPort"),
                        "may not be specified when `port` is non-numeric",
                    ));
                }
                PortSpec::Named {
                    protocol: Some(protocol),
                    name: check_port_name(name, object, &format!("{path}.port"))?,
                }
            }
        };
        out.push(spec);
    }
    Ok(out)
}

/// Compiles an (B)ANP rule's `ports`. `None` means every port (and ICMP).
pub(crate) fn admin_policy_ports(
    ports: Option<&[AdminNetworkPolicyPort]>,
    object: &ObjectName,
    field: &str,
) -> Result<Vec<PortSpec>> {
    let Some(ports) = ports else {
        return Ok(Vec::new());
    };
    if ports.is_empty() {
        return Err(object.field(field, "must have at least one item when present"));
    }
    let mut out = Vec::with_capacity(ports.len());
    for (i, p) in ports.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let set = [
            p.port_number.is_some(),
            p.named_port.is_some(),
            p.port_range.is_some(),
        ]
        .into_iter()
        .filter(|s| *s)
        .count();
        if set != 1 {
            return Err(object.field(
                &path,
                "exactly one of portNumber, namedPort or portRange must be set",
            ));
        }
        let spec = if let Some(n) = &p.port_number {
            let protocol = api_protocol(
                Some(n.protocol.as_str()).filter(|s| !s.is_empty()),
                object,
                &format!("{path}.portNumber.protocol"),
            )?;
            let port = port_number(n.port, object, &format!("{path}.portNumber.port"))?;
            PortSpec::Range {
                protocol,
                first: port,
                last: port,
            }
        } else if let Some(name) = &p.named_port {
            PortSpec::Named {
                protocol: None,
                name: check_port_name(name, object, &format!("{path}.namedPort"))?,
            }
        } else if let Some(r) = &p.port_range {
            let protocol = api_protocol(
                r.protocol.as_deref().filter(|s| !s.is_empty()),
                object,
                &format!("{path}.portRange.protocol"),
            )?;
            let first = port_number(r.start, object, &format!("{path}.portRange.start"))?;
            let last = port_number(r.end, object, &format!("{path}.portRange.end"))?;
            if last < first {
                return Err(object.field(
                    &format!("{path}.portRange.end"),
                    format!("{last} must be greater than or equal to start ({first})"),
                ));
            }
            PortSpec::Range {
                protocol,
                first,
                last,
            }
        } else {
            unreachable!("exactly one field is set")
        };
        out.push(spec);
    }
    Ok(out)
}

/// Compiles a ClusterNetworkPolicy rule's `protocols` (NPEP-187). `None` means every protocol
/// and port (ICMP and other IP protocols included).
pub(crate) fn cluster_policy_protocols(
    protocols: Option<&[ClusterNetworkPolicyProtocol]>,
    object: &ObjectName,
    field: &str,
) -> Result<Vec<PortSpec>> {
    let Some(protocols) = protocols else {
        return Ok(Vec::new());
    };
    if protocols.is_empty() {
        return Err(object.field(field, "must have at least one item when present"));
    }
    if protocols.len() > 25 {
        return Err(object.field(field, "may not have more than 25 items"));
    }
    let mut out = Vec::with_capacity(protocols.len());
    for (i, p) in protocols.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let transports = [
            (Protocol::Tcp, "tcp", p.tcp.as_ref()),
            (Protocol::Udp, "udp", p.udp.as_ref()),
            (Protocol::Sctp, "sctp", p.sctp.as_ref()),
        ];
        let set = transports.iter().filter(|(_, _, t)| t.is_some()).count()
            + usize::from(p.destination_named_port.is_some());
        if set != 1 {
            return Err(object.field(
                &path,
                "exactly one of tcp, udp, sctp or destinationNamedPort must be set",
            ));
        }
        let spec = if let Some(name) = &p.destination_named_port {
            PortSpec::Named {
                protocol: None,
                name: check_port_name(name, object, &format!("{path}.destinationNamedPort"))?,
            }
        } else {
            let (protocol, key, transport) = transports
                .into_iter()
                .find(|(_, _, t)| t.is_some())
                .expect("exactly one is set");
            let path = format!("{path}.{key}");
            let Some(port) = transport.and_then(|t| t.destination_port.as_ref()) else {
                return Err(object.field(&path, "must set destinationPort"));
            };
            destination_port(protocol, port, object, &format!("{path}.destinationPort"))?
        };
        out.push(spec);
    }
    Ok(out)
}

fn destination_port(
    protocol: Protocol,
    port: &ClusterNetworkPolicyPort,
    object: &ObjectName,
    path: &str,
) -> Result<PortSpec> {
    match (port.number, &port.range) {
        (Some(n), None) => {
            let n = port_number(n, object, &format!("{path}.number"))?;
            Ok(PortSpec::Range {
                protocol,
                first: n,
                last: n,
            })
        }
        (None, Some(r)) => {
            let first = port_number(r.start, object, &format!("{path}.range.start"))?;
            let last = port_number(r.end, object, &format!("{path}.range.end"))?;
            if first >= last {
                return Err(object.field(
                    &format!("{path}.range"),
                    format!("start port ({first}) must be less than end port ({last})"),
                ));
            }
            Ok(PortSpec::Range {
                protocol,
                first,
                last,
            })
        }
        _ => Err(object.field(path, "exactly one of number or range must be set")),
    }
}
