//! The query filters shared by `/api/decisions`, `/api/decisions/stream` and `kubectl verdict
//! tail`: parsed once from the query string (a 400 names the bad parameter), then matched
//! against each event. Pure: the current time is passed in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use verdict_engine::{Direction, Endpoint, Protocol, Verdict};
use verdict_events::DecisionEvent;

use crate::error::{Error, Result};
use crate::map;

/// The most events one `/api/decisions` answer (or a stream's backlog) holds.
pub const MAX_LIMIT: usize = 10_000;

/// Parameters that are not filters but are accepted everywhere: the bearer token for clients
/// that cannot set headers (`EventSource`).
const PASSTHROUGH: &[&str] = &["access_token"];

/// Which events a request wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Events at or after this time (ns since the epoch).
    pub since: Option<u64>,
    /// Events before this time (ns since the epoch); history only.
    pub until: Option<u64>,
    /// At most this many (the newest), for history and a stream's backlog.
    pub limit: Option<usize>,
    /// A pod at either end is in this namespace.
    pub namespace: Option<String>,
    /// A pod at either end is this one: `ns/name`, or `name` in any namespace.
    pub pod: Option<String>,
    /// The deciding node.
    pub node: Option<String>,
    /// The verdict.
    pub action: Option<Verdict>,
    /// This direction was judged.
    pub direction: Option<Direction>,
    /// The deciding tier, as its JSON name, lower case.
    pub tier: Option<String>,
    /// A policy named by the decision (deciding, isolating or passing): `ns/name` or `name`.
    pub policy: Option<String>,
    /// The source is this (`ns/pod`, `ns/workload`, `node/name` or an address).
    pub src: Option<String>,
    /// The destination, the same way.
    pub dst: Option<String>,
    /// The destination port.
    pub port: Option<u16>,
    /// The protocol.
    pub protocol: Option<Protocol>,
}

/// Parses `5m`-style durations and RFC 3339 timestamps, and raw nanoseconds since the epoch.
fn parse_time(param: &'static str, value: &str, now: SystemTime) -> Result<u64> {
    let now_ns = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    if let Ok(ns) = value.parse::<u64>() {
        return Ok(ns);
    }
    if let Ok(ts) = value.parse::<jiff::Timestamp>() {
        return u64::try_from(ts.as_nanosecond())
            .map_err(|_| Error::bad(param, "the time is before 1970"));
    }
    if let Ok(ago) = value.parse::<jiff::SignedDuration>() {
        let ago = Duration::try_from(ago)
            .map_err(|_| Error::bad(param, "a duration back from now must not be negative"))?;
        return Ok(now_ns.saturating_sub(ago.as_nanos() as u64));
    }
    Err(Error::bad(
        param,
        format!(
            "{value:?} is neither a duration back from now (30s, 5m, 1h), an RFC 3339 time nor nanoseconds since the epoch"
        ),
    ))
}

fn non_empty(param: &'static str, value: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::bad(param, "must not be empty"));
    }
    Ok(value.to_string())
}

/// `AdminNetworkPolicy`, `anp`, `networkpolicy`, `np`, ... → the tier's JSON name, lower case.
fn tier_name(value: &str) -> Result<String> {
    let lower = value.to_ascii_lowercase();
    let full = match lower.as_str() {
        "anp" | "admin" => "adminnetworkpolicy",
        "np" => "networkpolicy",
        "banp" | "baseline" => "baselineadminnetworkpolicy",
        "cnp" => "clusternetworkpolicy",
        other => other,
    };
    if full.is_empty() || !full.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::bad(
            "tier",
            format!("{value:?} is not a tier (anp, np, banp, default)"),
        ));
    }
    Ok(full.to_string())
}

/// The JSON name of a tier (robust to tiers the engine adds later).
pub fn tier_of(event: &DecisionEvent) -> String {
    serde_json::to_value(event.tier)
        .ok()
        .and_then(|v| v.as_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

impl Filter {
    /// Reads the filters from query pairs. `stream` rejects what a stream cannot honour
    /// (`until`).
    ///
    /// # Errors
    /// [`Error::BadParam`] naming the first unknown, repeated or malformed parameter.
    pub fn parse(pairs: &[(String, String)], now: SystemTime, stream: bool) -> Result<Filter> {
        let mut f = Filter::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            let key = key.as_str();
            if PASSTHROUGH.contains(&key) {
                continue;
            }
            if seen.contains(&key) {
                return Err(Error::bad(key, "given more than once"));
            }
            seen.push(key);
            match key {
                "since" => f.since = Some(parse_time("since", value, now)?),
                "until" if stream => {
                    return Err(Error::bad(
                        "until",
                        "a live stream has no end: use /api/decisions for a time range",
                    ));
                }
                "until" => f.until = Some(parse_time("until", value, now)?),
                "limit" => {
                    let n: usize = value.parse().map_err(|_| {
                        Error::bad("limit", format!("{value:?} is not a whole number"))
                    })?;
                    if !(1..=MAX_LIMIT).contains(&n) {
                        return Err(Error::bad(
                            "limit",
                            format!("must be between 1 and {MAX_LIMIT}"),
                        ));
                    }
                    f.limit = Some(n);
                }
                "namespace" => f.namespace = Some(non_empty("namespace", value)?),
                "pod" => f.pod = Some(non_empty("pod", value)?),
                "node" => f.node = Some(non_empty("node", value)?),
                "action" => {
                    f.action = Some(match value.to_ascii_lowercase().as_str() {
                        "allow" | "allowed" => Verdict::Allow,
                        "deny" | "denied" => Verdict::Deny,
                        _ => {
                            return Err(Error::bad(
                                "action",
                                format!("{value:?} is not allow or deny"),
                            ));
                        }
                    });
                }
                "direction" => {
                    f.direction = Some(match value.to_ascii_lowercase().as_str() {
                        "egress" => Direction::Egress,
                        "ingress" => Direction::Ingress,
                        _ => {
                            return Err(Error::bad(
                                "direction",
                                format!("{value:?} is not egress or ingress"),
                            ));
                        }
                    });
                }
                "tier" => f.tier = Some(tier_name(value)?),
                "policy" => f.policy = Some(non_empty("policy", value)?),
                "src" => f.src = Some(non_empty("src", value)?),
                "dst" => f.dst = Some(non_empty("dst", value)?),
                "port" => {
                    f.port = Some(value.parse().map_err(|_| {
                        Error::bad("port", format!("{value:?} is not a port (0-65535)"))
                    })?);
                }
                "protocol" => {
                    f.protocol = Some(Protocol::parse(value).ok_or_else(|| {
                        Error::bad(
                            "protocol",
                            format!("{value:?} is not tcp, udp, sctp or icmp"),
                        )
                    })?);
                }
                other => {
                    return Err(Error::bad(
                        other,
                        format!("unknown parameter (known: {})", KNOWN.join(", ")),
                    ));
                }
            }
        }
        if let (Some(since), Some(until)) = (f.since, f.until)
            && until < since
        {
            return Err(Error::bad("until", "is before `since`"));
        }
        Ok(f)
    }

    /// Whether `event` passes every filter except `limit`.
    pub fn matches(&self, event: &DecisionEvent) -> bool {
        let t = event.time_unix_nano;
        let ends = || {
            [event.src.as_ref(), event.dst.as_ref()]
                .into_iter()
                .flatten()
        };
        self.since.is_none_or(|s| t >= s)
            && self.until.is_none_or(|u| t < u)
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| event.namespaces().any(|n| n == ns))
            && self
                .pod
                .as_deref()
                .is_none_or(|p| ends().any(|e| is_pod(p, e)))
            && self.node.as_deref().is_none_or(|n| *event.node == *n)
            && self.action.is_none_or(|a| event.verdict == a)
            && self
                .direction
                .is_none_or(|d| event.directions().any(|j| j.direction == d))
            && self.tier.as_deref().is_none_or(|t| tier_of(event) == t)
            && self.policy.as_deref().is_none_or(|p| {
                event.policies().iter().any(|r| {
                    *r.name == *p
                        || r.namespace
                            .as_deref()
                            .is_some_and(|ns| p.split_once('/') == Some((ns, &*r.name)))
                })
            })
            && self
                .src
                .as_deref()
                .is_none_or(|v| event.src.as_ref().is_some_and(|e| map::names(v, e)))
            && self
                .dst
                .as_deref()
                .is_none_or(|v| event.dst.as_ref().is_some_and(|e| map::names(v, e)))
            && self
                .port
                .is_none_or(|p| event.flow.is_some_and(|f| f.dst_port == p))
            && self
                .protocol
                .is_none_or(|p| event.flow.is_some_and(|f| f.protocol == p))
    }
}

/// Every parameter name, for messages.
const KNOWN: &[&str] = &[
    "since",
    "until",
    "limit",
    "namespace",
    "pod",
    "node",
    "action",
    "direction",
    "tier",
    "policy",
    "src",
    "dst",
    "port",
    "protocol",
];

fn is_pod(value: &str, endpoint: &Endpoint) -> bool {
    let Endpoint::Pod {
        namespace, name, ..
    } = endpoint
    else {
        return false;
    };
    match value.split_once('/') {
        Some((ns, n)) => ns == &**namespace && n == &**name,
        None => value == &**name,
    }
}

#[cfg(test)]
mod tests;
