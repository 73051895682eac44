//! `-o json`: exactly one object, `{"results": [...]}`.
//!
//! `from`, `to`, `protocol`, `port` and `allowed` are a stable contract for tools. The rest
//! (`from_ip`, `to_ip`, `egress`, `ingress`) is attribution for people and may grow.

use std::net::IpAddr;

use serde::Serialize;
use verdict_engine::{DirectionDecision, Protocol, Verdict};

use crate::error::{Error, Result};
use crate::render::explain;
use crate::simulate::Outcome;

#[derive(Serialize)]
struct JsonResult<'a> {
    from: &'a str,
    to: &'a str,
    protocol: Protocol,
    /// `null` for ICMP.
    port: Option<u16>,
    allowed: bool,
    from_ip: IpAddr,
    to_ip: IpAddr,
    egress: JsonDirection<'a>,
    ingress: JsonDirection<'a>,
}

/// The engine's direction decision, plus the sentence `-o explain` prints for it.
#[derive(Serialize)]
struct JsonDirection<'a> {
    #[serde(flatten)]
    decision: &'a DirectionDecision,
    reason: String,
}

/// The outcomes as one JSON object, with each result compact on its own line: still a single
/// value for `jq`, and one line per flow for `grep` and `diff`. Newline-terminated.
///
/// # Errors
/// [`Error::Serialize`] if serialization fails (a bug).
pub fn render<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Result<String> {
    let mut text = String::from("{\"results\": [");
    for (i, o) in outcomes.enumerate() {
        let result = JsonResult {
            from: &o.from.label,
            to: &o.to.label,
            protocol: o.probe.protocol,
            port: o.probe.port,
            allowed: o.decision.verdict == Verdict::Allow,
            from_ip: o.from.ip,
            to_ip: o.to.ip,
            egress: JsonDirection {
                decision: &o.decision.egress,
                reason: explain::reason_for(o, &o.decision.egress),
            },
            ingress: JsonDirection {
                decision: &o.decision.ingress,
                reason: explain::reason_for(o, &o.decision.ingress),
            },
        };
        text.push_str(if i == 0 { "\n" } else { ",\n" });
        text.push_str(&serde_json::to_string(&result).map_err(Error::Serialize)?);
    }
    text.push_str("\n]}\n");
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;
    use crate::simulate::{Party, flow};
    use verdict_engine::{Decision, Direction, Endpoint, Tier};

    fn open(direction: Direction) -> DirectionDecision {
        DirectionDecision {
            direction,
            verdict: Verdict::Allow,
            tier: Tier::Default,
            policy: None,
            rule: None,
            isolated_by: Vec::new(),
            passed_by: Vec::new(),
            tied_with: Vec::new(),
            domain: None,
        }
    }

    #[test]
    fn contract_fields_have_their_documented_types() {
        let cases = [
            ("tcp", Probe::DEFAULT, serde_json::json!(80)),
            ("icmp", "icmp".parse().unwrap(), serde_json::Value::Null),
        ];
        for (name, probe, port) in cases {
            let party = |label: &str, ip: &str| Party {
                label: label.into(),
                ip: ip.parse().unwrap(),
                host_network: false,
            };
            let (from, to) = (party("y/b", "10.0.0.2"), party("x/a", "10.0.0.1"));
            let pod = |ns: &str, n: &str| Endpoint::Pod {
                namespace: ns.into(),
                name: n.into(),
                node: None,
            };
            let outcome = Outcome {
                decision: Decision {
                    flow: flow(from.ip, to.ip, probe),
                    src: pod("y", "b"),
                    dst: pod("x", "a"),
                    verdict: Verdict::Allow,
                    egress: open(Direction::Egress),
                    ingress: open(Direction::Ingress),
                },
                from,
                to,
                probe,
            };
            let value: serde_json::Value =
                serde_json::from_str(&render([outcome].iter()).unwrap()).unwrap();
            let result = &value["results"][0];
            assert_eq!(result["from"], "y/b", "{name}");
            assert_eq!(result["to"], "x/a", "{name}");
            assert_eq!(result["protocol"], probe.protocol.as_str(), "{name}");
            assert_eq!(result["port"], port, "{name}");
            assert_eq!(result["allowed"], true, "{name}");
            assert_eq!(result["egress"]["verdict"], "allow", "{name}");
            assert_eq!(
                result["ingress"]["reason"], "x/a is not ingress-isolated",
                "{name}"
            );
        }
    }
}
