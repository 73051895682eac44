//! `-o explain`: the decision chain for one flow, in plain words. The words are the engine's
//! one renderer ([`verdict_engine::explain`]), which the agent's decision events and the
//! dashboard use too; this module only names the ends as the user named them.

use verdict_engine::explain::{self as engine_explain, Named};
use verdict_engine::{Direction, DirectionDecision, Endpoint};

use crate::simulate::{Outcome, Party};

fn named<'a>(party: &'a Party, endpoint: &'a Endpoint) -> Named<'a> {
    Named {
        label: &party.label,
        endpoint,
        host_network: party.host_network,
    }
}

/// `y/b -> x/a TCP/80: DENY. ingress: ... egress: ...`. Denying directions come first,
/// because they are the answer to "why not?".
pub fn line(outcome: &Outcome) -> String {
    let d = &outcome.decision;
    engine_explain::line(
        &d.flow,
        &named(&outcome.from, &d.src),
        &named(&outcome.to, &d.dst),
        d.verdict,
        &[&d.egress, &d.ingress],
    )
}

/// The sentence for one direction of an outcome.
pub fn reason_for(outcome: &Outcome, direction: &DirectionDecision) -> String {
    let d = &outcome.decision;
    let src = named(&outcome.from, &d.src);
    let dst = named(&outcome.to, &d.dst);
    match direction.direction {
        Direction::Egress => engine_explain::reason(direction, &src, &dst),
        Direction::Ingress => engine_explain::reason(direction, &dst, &src),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;
    use crate::simulate::flow;
    use pretty_assertions::assert_eq;
    use std::net::IpAddr;
    use std::sync::Arc;
    use verdict_engine::explain::join;
    use verdict_engine::{Decision, PolicyKind};
    use verdict_engine::{PolicyRef, RuleRef, Tier, Verdict};

    /// Builder for direction decisions.
    fn dd(direction: Direction, verdict: Verdict, tier: Tier) -> DirectionDecision {
        DirectionDecision {
            direction,
            verdict,
            tier,
            policy: None,
            rule: None,
            isolated_by: Vec::new(),
            passed_by: Vec::new(),
            tied_with: Vec::new(),
            domain: None,
        }
    }

    fn policy(kind: PolicyKind, namespace: Option<&str>, name: &str) -> PolicyRef {
        PolicyRef {
            kind,
            namespace: namespace.map(Arc::from),
            name: Arc::from(name),
            tier: None,
            priority: None,
        }
    }

    fn np(namespace: &str, name: &str) -> PolicyRef {
        policy(PolicyKind::NetworkPolicy, Some(namespace), name)
    }

    fn rule(index: usize, name: Option<&str>) -> Option<RuleRef> {
        Some(RuleRef {
            index,
            name: name.map(Arc::from),
        })
    }

    fn pod_endpoint(label: &str) -> Endpoint {
        let (namespace, name) = label.split_once('/').unwrap();
        Endpoint::Pod {
            namespace: namespace.into(),
            name: name.into(),
            node: None,
        }
    }

    fn outcome(
        from: &str,
        to: &str,
        egress: DirectionDecision,
        ingress: DirectionDecision,
    ) -> Outcome {
        let party = |label: &str, ip: &str| Party {
            label: label.into(),
            ip: ip.parse().unwrap(),
            host_network: false,
        };
        let (from, to) = (party(from, "10.0.0.2"), party(to, "10.0.0.1"));
        let endpoint = |p: &Party| match p.label.parse::<IpAddr>() {
            Ok(ip) => Endpoint::External { ip },
            Err(_) => pod_endpoint(&p.label),
        };
        let verdict = if egress.verdict == Verdict::Allow && ingress.verdict == Verdict::Allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        let decision = Decision {
            flow: flow(from.ip, to.ip, Probe::DEFAULT),
            src: endpoint(&from),
            dst: endpoint(&to),
            verdict,
            egress,
            ingress,
        };
        Outcome {
            from,
            to,
            probe: Probe::DEFAULT,
            decision,
        }
    }

    #[test]
    fn explains_each_tier() {
        let open_egress = dd(Direction::Egress, Verdict::Allow, Tier::Default);
        let open_ingress = dd(Direction::Ingress, Verdict::Allow, Tier::Default);
        let cases = [
            (
                "network policy default deny (the issue's example)",
                outcome(
                    "y/b",
                    "x/a",
                    open_egress.clone(),
                    DirectionDecision {
                        isolated_by: vec![np("x", "deny-all")],
                        ..dd(Direction::Ingress, Verdict::Deny, Tier::NetworkPolicy)
                    },
                ),
                "y/b -> x/a TCP/80: DENY. ingress: x/a is isolated by x/deny-all (NetworkPolicy) and no rule allows y/b. egress: y/b is not egress-isolated.",
            ),
            (
                "network policy allow",
                outcome(
                    "y/b",
                    "x/a",
                    open_egress.clone(),
                    DirectionDecision {
                        policy: Some(np("x", "allow-y")),
                        rule: rule(0, None),
                        isolated_by: vec![np("x", "allow-y"), np("x", "deny-all")],
                        ..dd(Direction::Ingress, Verdict::Allow, Tier::NetworkPolicy)
                    },
                ),
                "y/b -> x/a TCP/80: ALLOW. egress: y/b is not egress-isolated. ingress: x/a is isolated by x/allow-y (NetworkPolicy) and x/deny-all (NetworkPolicy); x/allow-y (NetworkPolicy) ingress rule 0 allows y/b.",
            ),
            (
                "admin network policy deny on egress",
                outcome(
                    "y/b",
                    "x/a",
                    DirectionDecision {
                        policy: Some(policy(PolicyKind::AdminNetworkPolicy, None, "lockdown")),
                        rule: rule(2, Some("no-x")),
                        ..dd(Direction::Egress, Verdict::Deny, Tier::AdminNetworkPolicy)
                    },
                    open_ingress.clone(),
                ),
                "y/b -> x/a TCP/80: DENY. egress: anp/lockdown (AdminNetworkPolicy) egress rule 2 \"no-x\" denies x/a. ingress: x/a is not ingress-isolated.",
            ),
            (
                "pass then baseline",
                outcome(
                    "y/b",
                    "x/a",
                    open_egress.clone(),
                    DirectionDecision {
                        policy: Some(policy(
                            PolicyKind::BaselineAdminNetworkPolicy,
                            None,
                            "default",
                        )),
                        rule: rule(0, Some("deny-all")),
                        passed_by: vec![policy(PolicyKind::AdminNetworkPolicy, None, "delegate")],
                        ..dd(
                            Direction::Ingress,
                            Verdict::Deny,
                            Tier::BaselineAdminNetworkPolicy,
                        )
                    },
                ),
                "y/b -> x/a TCP/80: DENY. ingress: passed on by anp/delegate (AdminNetworkPolicy); banp/default (BaselineAdminNetworkPolicy) ingress rule 0 \"deny-all\" denies y/b. egress: y/b is not egress-isolated.",
            ),
            (
                "external destination",
                outcome(
                    "y/b",
                    "203.0.113.9",
                    open_egress.clone(),
                    open_ingress.clone(),
                ),
                "y/b -> 203.0.113.9 TCP/80: ALLOW. egress: y/b is not egress-isolated. ingress: 203.0.113.9 is outside the cluster, so no policy governs its ingress.",
            ),
        ];
        for (name, outcome, want) in cases {
            assert_eq!(line(&outcome), want, "{name}");
        }
    }

    #[test]
    fn bare_ips_are_annotated_with_what_the_engine_found() {
        let mut o = outcome(
            "y/b",
            "x/a",
            dd(Direction::Egress, Verdict::Allow, Tier::Default),
            dd(Direction::Ingress, Verdict::Allow, Tier::Default),
        );
        o.from.label = "10.0.0.2".into();
        o.to.label = "10.0.0.1".into();
        o.to.host_network = true;
        o.decision.dst = Endpoint::Node { name: "n1".into() };
        assert_eq!(
            line(&o),
            "10.0.0.2 (y/b) -> 10.0.0.1 (node/n1) TCP/80: ALLOW. egress: 10.0.0.2 is not egress-isolated. ingress: 10.0.0.1 uses the host network, which policies do not select."
        );
    }

    #[test]
    fn joins_lists_in_prose() {
        let cases = [
            ("none", vec![], ""),
            ("one", vec!["a"], "a"),
            ("two", vec!["a", "b"], "a and b"),
            ("three", vec!["a", "b", "c"], "a, b and c"),
        ];
        for (name, items, want) in cases {
            assert_eq!(join(items.into_iter().map(String::from)), want, "{name}");
        }
    }
}
