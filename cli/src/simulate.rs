//! Turning `--from/--to` or `--matrix` into flows and asking the engine about each.

use std::net::IpAddr;

use verdict_engine::{Decision, Flow};

use crate::args::Target;
use crate::cluster::{Cluster, PodInfo};
use crate::error::{Error, Result};
use crate::probe::Probe;

/// The source port of every simulated TCP, UDP or SCTP flow: a fixed port in the Linux
/// ephemeral range, so outputs are reproducible. Policies match destination ports only, so its
/// value never changes a verdict.
pub const SOURCE_PORT: u16 = 40000;

/// One end of a simulated flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// How the user named it: `ns/pod`, or the IP as given.
    pub label: String,
    /// The address used for the flow.
    pub ip: IpAddr,
    /// Whether it is a hostNetwork pod (policies never select those).
    pub host_network: bool,
}

/// One evaluated flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The source.
    pub from: Party,
    /// The destination.
    pub to: Party,
    /// The protocol and destination port tried.
    pub probe: Probe,
    /// The engine's answer.
    pub decision: Decision,
}

/// The flow the engine sees for `probe` from `src` to `dst`.
pub fn flow(src: IpAddr, dst: IpAddr, probe: Probe) -> Flow {
    let src_port = if probe.protocol.has_ports() {
        SOURCE_PORT
    } else {
        0
    };
    Flow {
        src_ip: src,
        src_port,
        dst_ip: dst,
        dst_port: probe.port.unwrap_or(0),
        protocol: probe.protocol,
    }
}

/// The first source address (primary first) for which the destination has an address of the
/// same family.
pub fn pick_pair(src: &[IpAddr], dst: &[IpAddr]) -> Option<(IpAddr, IpAddr)> {
    src.iter().find_map(|s| {
        dst.iter()
            .find(|d| d.is_ipv4() == s.is_ipv4())
            .map(|d| (*s, *d))
    })
}

fn evaluate(cluster: &Cluster, from: Party, to: Party, probe: Probe) -> Outcome {
    let decision = cluster.index.evaluate(&flow(from.ip, to.ip, probe));
    Outcome {
        from,
        to,
        probe,
        decision,
    }
}

/// Who a target is and which addresses it can use.
fn resolve(
    cluster: &Cluster,
    target: &Target,
    flag: &'static str,
) -> Result<(String, Vec<IpAddr>, bool)> {
    match target {
        Target::Ip(ip) => Ok((ip.to_string(), vec![*ip], false)),
        Target::Pod { namespace, name } => {
            let pod = cluster
                .pod(namespace, name)
                .ok_or_else(|| Error::UnknownPod {
                    flag,
                    name: target.to_string(),
                })?;
            Ok((pod.label(), pod.ips.clone(), pod.host_network))
        }
    }
}

/// Evaluates one flow per probe.
///
/// # Errors
/// [`Error::UnknownPod`] when a pod is not in the input, [`Error::SameEndpoint`] when both ends
/// are the same, [`Error::NoCommonFamily`] when the two ends cannot talk over the same IP family.
pub fn single(
    cluster: &Cluster,
    from: &Target,
    to: &Target,
    probes: &[Probe],
) -> Result<Vec<Outcome>> {
    let (from_label, from_ips, from_host) = resolve(cluster, from, "--from")?;
    let (to_label, to_ips, to_host) = resolve(cluster, to, "--to")?;
    if from_label == to_label {
        return Err(Error::SameEndpoint(from_label));
    }
    let (src, dst) = pick_pair(&from_ips, &to_ips).ok_or_else(|| Error::NoCommonFamily {
        from: from_label.clone(),
        to: to_label.clone(),
    })?;
    let from = Party {
        label: from_label,
        ip: src,
        host_network: from_host,
    };
    let to = Party {
        label: to_label,
        ip: dst,
        host_network: to_host,
    };
    Ok(probes
        .iter()
        .map(|probe| evaluate(cluster, from.clone(), to.clone(), *probe))
        .collect())
}

/// One cell of a truth table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// The pod and itself: not evaluated.
    Same,
    /// The pods share no IP family: not evaluated.
    NoCommonFamily,
    /// The engine's answer.
    Evaluated(Box<Outcome>),
}

/// The truth table for one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The probe.
    pub probe: Probe,
    /// `rows[from][to]`, indexed like [`Matrix::pods`].
    pub rows: Vec<Vec<Cell>>,
}

/// Every ordered pair of pods, for every probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// Pod labels (`ns/name`), sorted; rows and columns follow this order.
    pub pods: Vec<String>,
    /// One table per probe, in probe order.
    pub tables: Vec<Table>,
}

impl Matrix {
    /// The evaluated outcomes, probe by probe, then row by row.
    pub fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        self.tables
            .iter()
            .flat_map(|t| t.rows.iter().flatten())
            .filter_map(|cell| match cell {
                Cell::Evaluated(outcome) => Some(outcome.as_ref()),
                _ => None,
            })
    }
}

/// Evaluates every ordered pair of distinct pods (hostNetwork pods included) for every probe.
pub fn matrix(cluster: &Cluster, probes: &[Probe]) -> Matrix {
    let pods: Vec<&PodInfo> = cluster.pods().collect();
    let tables = probes
        .iter()
        .map(|probe| Table {
            probe: *probe,
            rows: pods
                .iter()
                .enumerate()
                .map(|(i, src)| {
                    pods.iter()
                        .enumerate()
                        .map(|(j, dst)| cell(cluster, i == j, src, dst, *probe))
                        .collect()
                })
                .collect(),
        })
        .collect();
    Matrix {
        pods: pods.iter().map(|p| p.label()).collect(),
        tables,
    }
}

fn cell(cluster: &Cluster, same: bool, src: &PodInfo, dst: &PodInfo, probe: Probe) -> Cell {
    if same {
        return Cell::Same;
    }
    let Some((src_ip, dst_ip)) = pick_pair(&src.ips, &dst.ips) else {
        return Cell::NoCommonFamily;
    };
    let from = Party {
        label: src.label(),
        ip: src_ip,
        host_network: src.host_network,
    };
    let to = Party {
        label: dst.label(),
        ip: dst_ip,
        host_network: dst.host_network,
    };
    Cell::Evaluated(Box::new(evaluate(cluster, from, to, probe)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    #[test]
    fn pairs_use_a_common_family() {
        let cases = [
            (
                "v4 to v4",
                ips(&["10.0.0.1"]),
                ips(&["10.0.0.2"]),
                Some(("10.0.0.1", "10.0.0.2")),
            ),
            (
                "dual to v6",
                ips(&["10.0.0.1", "fd00::1"]),
                ips(&["fd00::2"]),
                Some(("fd00::1", "fd00::2")),
            ),
            (
                "v6-primary dual to dual",
                ips(&["fd00::1", "10.0.0.1"]),
                ips(&["10.0.0.2", "fd00::2"]),
                Some(("fd00::1", "fd00::2")),
            ),
            ("v4 to v6", ips(&["10.0.0.1"]), ips(&["fd00::2"]), None),
        ];
        for (name, src, dst, want) in cases {
            let want = want.map(|(s, d)| (s.parse().unwrap(), d.parse().unwrap()));
            assert_eq!(pick_pair(&src, &dst), want, "{name}");
        }
    }

    #[test]
    fn flows_use_the_fixed_source_port_except_for_icmp() {
        let src: IpAddr = "10.0.0.1".parse().unwrap();
        let dst: IpAddr = "10.0.0.2".parse().unwrap();
        let cases = [
            ("tcp", "tcp/80", (SOURCE_PORT, 80)),
            ("udp", "udp/53", (SOURCE_PORT, 53)),
            ("icmp", "icmp", (0, 0)),
        ];
        for (name, probe, want) in cases {
            let flow = flow(src, dst, probe.parse().unwrap());
            assert_eq!((flow.src_port, flow.dst_port), want, "{name}");
        }
    }
}
