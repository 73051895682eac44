//! Which conntrack entries strict mode deletes (pure).
//!
//! An entry is deleted when the current index denies its connection, judging only the
//! directions this node owns: the egress of a local source pod and the ingress of a local
//! destination pod (the other end's node judges the rest). Whether an earlier index allowed it
//! does not matter: a connection can be established although the index denies it, because it
//! was admitted while no verdict could be had (the agent down, fail-open bypass, a queue
//! overflow), from the verdict cache just before a change, or before a change made while the
//! agent was down. Connections from this node itself to its pods are never deleted: the
//! ruleset accepts them unjudged (the health-check exception).

use std::collections::HashSet;
use std::net::IpAddr;

use verdict_engine::{Direction, Endpoint, Flow, Index, Verdict};

use super::message::Entry;

/// Answers the two questions strict mode asks of an index.
pub trait Judge {
    /// Whether `ip` belongs to a pod on this node.
    fn is_local_pod(&self, ip: IpAddr) -> bool;
    /// Whether `ip` is this node's own address.
    fn is_this_node(&self, ip: IpAddr) -> bool;
    /// The verdict for one direction of `flow`.
    fn direction(&self, flow: &Flow, direction: Direction) -> Verdict;
}

/// An engine index seen from one node.
#[derive(Clone, Copy, Debug)]
pub struct IndexJudge<'a> {
    /// The index.
    pub index: &'a Index,
    /// This node's name.
    pub node: &'a str,
}

impl Judge for IndexJudge<'_> {
    fn is_local_pod(&self, ip: IpAddr) -> bool {
        matches!(self.index.endpoint(ip), Endpoint::Pod { node: Some(n), .. } if &*n == self.node)
    }

    fn is_this_node(&self, ip: IpAddr) -> bool {
        matches!(self.index.endpoint(ip), Endpoint::Node { name } if &*name == self.node)
    }

    fn direction(&self, flow: &Flow, direction: Direction) -> Verdict {
        self.index.evaluate_direction(flow, direction).verdict
    }
}

/// The verdict this node gives `flow`: a deny in any direction it owns denies. The node's own
/// connections to its pods are allowed (the ruleset never queues them).
pub fn verdict_here(judge: &impl Judge, flow: &Flow) -> Verdict {
    if judge.is_this_node(flow.src_ip) {
        return Verdict::Allow;
    }
    let owned = [
        (judge.is_local_pod(flow.src_ip), Direction::Egress),
        (judge.is_local_pod(flow.dst_ip), Direction::Ingress),
    ];
    let denied = owned
        .iter()
        .any(|(mine, direction)| *mine && judge.direction(flow, *direction) == Verdict::Deny);
    if denied {
        Verdict::Deny
    } else {
        Verdict::Allow
    }
}

/// The entries `index` denies, each once, in input order.
pub fn denied(entries: &[Entry], index: &impl Judge) -> Vec<Entry> {
    let mut seen = HashSet::new();
    entries
        .iter()
        .filter(|e| seen.insert(**e))
        .filter(|e| verdict_here(index, &e.flow()) == Verdict::Deny)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::message::{L4, Tuple};

    /// A judge from a table: local pods, and (src, dst port, direction) pairs that are denied.
    struct Table {
        local: Vec<&'static str>,
        denied: Vec<(&'static str, u16, Direction)>,
    }

    /// This node's own address in every table.
    const NODE: &str = "10.0.0.254";

    impl Judge for Table {
        fn is_local_pod(&self, ip: IpAddr) -> bool {
            self.local
                .iter()
                .any(|l| l.parse::<IpAddr>().unwrap() == ip)
        }
        fn is_this_node(&self, ip: IpAddr) -> bool {
            ip == NODE.parse::<IpAddr>().unwrap()
        }
        fn direction(&self, flow: &Flow, direction: Direction) -> Verdict {
            let hit = self.denied.iter().any(|(src, port, d)| {
                src.parse::<IpAddr>().unwrap() == flow.src_ip
                    && *port == flow.dst_port
                    && *d == direction
            });
            if hit { Verdict::Deny } else { Verdict::Allow }
        }
    }

    fn entry(src: &str, dst: &str, port: u16) -> Entry {
        let t = |s: &str, d: &str, sp, dp| Tuple {
            src: s.parse().unwrap(),
            dst: d.parse().unwrap(),
            proto: 6,
            l4: L4::Ports { src: sp, dst: dp },
        };
        Entry {
            orig: t(src, dst, 40000, port),
            reply: t(dst, src, port, 40000),
            zone: 0,
            id: None,
        }
    }

    const A: &str = "10.0.0.1"; // local
    const B: &str = "10.0.0.2"; // local
    const R: &str = "10.0.1.9"; // remote

    #[test]
    fn selection() {
        let allow_all = || Table {
            local: vec![A, B],
            denied: vec![],
        };
        let deny = |denied| Table {
            local: vec![A, B],
            denied,
        };
        // (name, index, dumped entries, entries to delete)
        type Case = (&'static str, Table, Vec<Entry>, Vec<Entry>);
        let cases: Vec<Case> = vec![
            (
                "nothing denied deletes nothing",
                allow_all(),
                vec![entry(A, B, 80), entry(R, A, 80)],
                vec![],
            ),
            (
                "ingress deny on a local destination",
                deny(vec![(R, 80, Direction::Ingress)]),
                vec![entry(R, A, 80), entry(R, A, 81)],
                vec![entry(R, A, 80)],
            ),
            (
                "egress deny on a local source",
                deny(vec![(A, 443, Direction::Egress)]),
                vec![entry(A, R, 443), entry(B, R, 443)],
                vec![entry(A, R, 443)],
            ),
            (
                "the remote side's direction is not ours to judge",
                deny(vec![(A, 80, Direction::Ingress)]),
                vec![entry(A, R, 80)],
                vec![],
            ),
            (
                "local to local seen by both dumps is deleted once",
                deny(vec![(A, 80, Direction::Ingress)]),
                vec![entry(A, B, 80), entry(A, B, 80)],
                vec![entry(A, B, 80)],
            ),
            (
                "a pod that left the node is not judged here",
                Table {
                    local: vec![B],
                    denied: vec![(R, 80, Direction::Ingress)],
                },
                vec![entry(R, A, 80)],
                vec![],
            ),
            (
                "this node's own connection to its pod is kept",
                deny(vec![(NODE, 80, Direction::Ingress)]),
                vec![entry(NODE, A, 80)],
                vec![],
            ),
        ];
        for (name, index, entries, want) in cases {
            assert_eq!(denied(&entries, &index), want, "{name}");
        }
    }

    #[test]
    fn other_protocols_are_judged_without_ports() {
        let mut gre = entry(A, B, 0);
        gre.orig.proto = 47;
        gre.orig.l4 = L4::Other;
        gre.reply.proto = 47;
        gre.reply.l4 = L4::Other;
        let isolated = Table {
            local: vec![A, B],
            denied: vec![(A, 0, Direction::Egress)],
        };
        assert_eq!(gre.flow().protocol, verdict_engine::Protocol::Other(47));
        assert_eq!(denied(&[gre], &isolated), vec![gre]);
    }
}
