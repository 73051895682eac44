//! `-o explain`: the decision chain for one flow, in plain words, built from the engine's
//! structured attribution (so JSON `reason` strings and explain lines always agree).

use std::fmt::Write as _;
use std::net::IpAddr;

use verdict_engine::{
    Direction, DirectionDecision, Endpoint, PolicyName, PolicyRef, RuleRef, Tier, Verdict,
};

use crate::simulate::{Outcome, Party};

/// One end of the flow as a sentence needs it.
struct Side<'a> {
    party: &'a Party,
    endpoint: &'a Endpoint,
}

/// `y/b -> x/a TCP/80: DENY. ingress: ... egress: ...`. Denying directions come first,
/// because they are the answer to "why not?".
pub fn line(outcome: &Outcome) -> String {
    let decision = &outcome.decision;
    let src = Side {
        party: &outcome.from,
        endpoint: &decision.src,
    };
    let dst = Side {
        party: &outcome.to,
        endpoint: &decision.dst,
    };
    let mut out = format!(
        "{} -> {} {}: {}.",
        header_name(&src),
        header_name(&dst),
        outcome.probe,
        verdict_word(decision.verdict)
    );
    let mut directions = [&decision.egress, &decision.ingress];
    directions.sort_by_key(|d| d.verdict != Verdict::Deny);
    for direction in directions {
        let _ = write!(
            out,
            " {}: {}.",
            direction_word(direction.direction),
            reason_for(outcome, direction)
        );
    }
    out
}

/// The sentence for one direction of an outcome.
pub fn reason_for(outcome: &Outcome, direction: &DirectionDecision) -> String {
    let decision = &outcome.decision;
    let src = Side {
        party: &outcome.from,
        endpoint: &decision.src,
    };
    let dst = Side {
        party: &outcome.to,
        endpoint: &decision.dst,
    };
    match direction.direction {
        Direction::Egress => reason(direction, &src, &dst),
        Direction::Ingress => reason(direction, &dst, &src),
    }
}

/// Why `subject`'s `direction` (egress of the source, or ingress of the destination) allowed
/// or denied traffic with `peer`.
fn reason(d: &DirectionDecision, subject: &Side<'_>, peer: &Side<'_>) -> String {
    let who = &subject.party.label;
    let other = &peer.party.label;
    let dir = direction_word(d.direction);
    let mut out = String::new();
    if !d.passed_by.is_empty() {
        let _ = write!(
            out,
            "passed on by {}; ",
            join(d.passed_by.iter().map(|p| PolicyName(p).to_string()))
        );
    }
    match (d.tier, &d.policy) {
        (Tier::Default, _)
            if subject
                .endpoint
                .is_always_allowed_peer(peer.endpoint, d.direction) =>
        {
            out.push_str(&match peer.endpoint {
                Endpoint::Node { .. } => format!(
                    "{other} comes from {who}'s own node, whose traffic to its pods policy cannot block"
                ),
                _ => format!("{who}'s traffic to itself is always allowed"),
            });
        }
        (Tier::Default, _) => {
            let sentence = match subject.endpoint {
                Endpoint::External { .. } => {
                    format!("{who} is outside the cluster, so no policy governs its {dir}")
                }
                Endpoint::Node { .. } if subject.party.host_network => {
                    format!("{who} uses the host network, which policies do not select")
                }
                Endpoint::Node { name } => {
                    format!("{who} is node {name}'s address, which policies do not select")
                }
                Endpoint::Pod { .. } if d.verdict == Verdict::Allow => {
                    format!("{who} is not {dir}-isolated")
                }
                Endpoint::Pod { .. } => format!("{who} is denied by default"),
            };
            out.push_str(&sentence);
        }
        (Tier::NetworkPolicy, policy) => {
            let isolated = if d.isolated_by.is_empty() {
                "a NetworkPolicy".to_string()
            } else {
                join(d.isolated_by.iter().map(|p| PolicyName(p).to_string()))
            };
            // "isolated" alone means ingress, as in the upstream docs.
            let isolated_word = match d.direction {
                Direction::Ingress => "isolated",
                Direction::Egress => "egress-isolated",
            };
            let _ = write!(out, "{who} is {isolated_word} by {isolated}");
            match (d.verdict, policy) {
                (Verdict::Allow, Some(policy)) => {
                    let _ = write!(
                        out,
                        "; {} allows {other}",
                        rule_phrase(policy, dir, d.rule.as_ref())
                    );
                }
                (Verdict::Allow, None) => {
                    let _ = write!(out, "; a rule allows {other}");
                }
                (Verdict::Deny, _) => {
                    // A comma keeps "A and B and no rule" from running together.
                    let comma = if d.isolated_by.len() > 1 { "," } else { "" };
                    let _ = write!(out, "{comma} and no rule allows {other}");
                }
            }
        }
        (Tier::AdminNetworkPolicy | Tier::BaselineAdminNetworkPolicy, Some(policy)) => {
            let verb = if d.verdict == Verdict::Allow {
                "allows"
            } else {
                "denies"
            };
            let _ = write!(
                out,
                "{} {verb} {other}",
                rule_phrase(policy, dir, d.rule.as_ref())
            );
        }
        (tier, None) => {
            let _ = write!(out, "{} by the {tier:?} tier", verdict_past(d.verdict));
        }
    }
    out
}

/// `x/allow-web (NetworkPolicy) ingress rule 0` or `deny-y (AdminNetworkPolicy) ingress rule 1 "from-y"`.
fn rule_phrase(policy: &PolicyRef, dir: &str, rule: Option<&RuleRef>) -> String {
    match rule {
        Some(RuleRef {
            index,
            name: Some(name),
        }) => format!("{} {dir} rule {index} \"{name}\"", PolicyName(policy)),
        Some(RuleRef { index, name: None }) => format!("{} {dir} rule {index}", PolicyName(policy)),
        None => PolicyName(policy).to_string(),
    }
}

/// The label, plus what the engine recognised when the user gave a bare IP.
fn header_name(side: &Side<'_>) -> String {
    let label = &side.party.label;
    if label.parse::<IpAddr>().is_err() {
        return label.clone();
    }
    match side.endpoint {
        Endpoint::External { .. } => label.clone(),
        known => format!("{label} ({known})"),
    }
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "ALLOW",
        Verdict::Deny => "DENY",
    }
}

fn verdict_past(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "allowed",
        Verdict::Deny => "denied",
    }
}

fn direction_word(direction: Direction) -> &'static str {
    match direction {
        Direction::Egress => "egress",
        Direction::Ingress => "ingress",
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;
    use crate::simulate::flow;
    use pretty_assertions::assert_eq;
    use std::sync::Arc;
    use verdict_engine::{Decision, PolicyKind};

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
