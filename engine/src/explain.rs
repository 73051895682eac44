//! The one renderer of decisions as sentences. `kubectl-verdict simulate -o explain`, its
//! JSON `reason` strings, the dashboard's what-if, the agent's decision events and spans all
//! call it, so every place says the same thing in the same words.
//!
//! ```text
//! y/b -> x/a TCP/80: DENY. ingress: x/a is isolated by x/deny-all (NetworkPolicy) and no rule
//! allows y/b. egress: y/b is not egress-isolated.
//! ```
//!
//! An end is named by a [`Named`]: a label (how the user or the index names it), what the
//! engine found it to be, and whether it is a hostNetwork pod. Denying directions come first,
//! because they answer "why not?".

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::decision::{Direction, DirectionDecision, Endpoint, PolicyRef, RuleRef, Tier, Verdict};
use crate::flow::{Flow, Protocol};
use crate::reason::PolicyName;

/// One end of a flow, as a sentence names it.
#[derive(Clone, Copy, Debug)]
pub struct Named<'a> {
    /// How it is named: `ns/pod`, `node/name`, or an IP as the user gave it.
    pub label: &'a str,
    /// What the engine found it to be.
    pub endpoint: &'a Endpoint,
    /// Whether it is a hostNetwork pod (policies never select those).
    pub host_network: bool,
}

/// The explain line for the judged `directions` of one flow (both for the CLI, the one or two
/// the node owns for the agent).
pub fn line(
    flow: &Flow,
    src: &Named<'_>,
    dst: &Named<'_>,
    verdict: Verdict,
    directions: &[&DirectionDecision],
) -> String {
    let mut out = format!(
        "{} -> {} {}",
        header_name(src),
        header_name(dst),
        flow.protocol
    );
    if !matches!(flow.protocol, Protocol::Icmp | Protocol::Other(_)) {
        let _ = write!(out, "/{}", flow.dst_port);
    }
    let _ = write!(out, ": {}.", verdict.as_upper_str());
    let mut ordered = directions.to_vec();
    ordered.sort_by_key(|d| d.verdict != Verdict::Deny);
    for d in ordered {
        let (subject, peer) = match d.direction {
            Direction::Egress => (src, dst),
            Direction::Ingress => (dst, src),
        };
        let _ = write!(
            out,
            " {}: {}.",
            direction_word(d.direction),
            reason(d, subject, peer)
        );
    }
    out
}

/// Why `subject`'s `direction` (the source's egress, or the destination's ingress) allowed or
/// denied traffic with `peer`, as one sentence without its final period.
pub fn reason(d: &DirectionDecision, subject: &Named<'_>, peer: &Named<'_>) -> String {
    let who = subject.label;
    let other = peer.label;
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
                Endpoint::Node { name } if other == format!("node/{name}") => format!(
                    "{other} is {who}'s own node, whose traffic to its pods policy cannot block"
                ),
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
                Endpoint::Node { .. } if subject.host_network => {
                    format!("{who} uses the host network, which policies do not select")
                }
                Endpoint::Node { name } if who == format!("node/{name}") => {
                    format!("{who} is a node's address, which policies do not select")
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
        (_, Some(policy)) => {
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
    if let Some(domain) = &d.domain {
        let _ = write!(out, " (the destination was answered for {domain})");
    }
    if !d.tied_with.is_empty() {
        let _ = write!(
            out,
            " (tied on priority with {}; ties are broken by name)",
            join(d.tied_with.iter().map(|p| PolicyName(p).to_string()))
        );
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

/// The label, plus what the engine recognised when the label is a bare IP.
fn header_name(side: &Named<'_>) -> String {
    if side.label.parse::<IpAddr>().is_err() {
        return side.label.to_owned();
    }
    match side.endpoint {
        Endpoint::External { .. } => side.label.to_owned(),
        known => format!("{} ({known})", side.label),
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
pub fn join(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
