//! `/api/explain`: the live what-if. It resolves `from`/`to` against the node's current index,
//! asks the engine, and answers with the very renderers `kubectl-verdict simulate` uses, so
//! the JSON's `results` are `-o json`'s and each `explain` line is `-o explain`'s.
//!
//! ```text
//!  ?from=NS/POD|IP&to=NS/POD|IP&probe=PROTO/PORT (repeatable)
//!     │ verdict_cli::args::Target, verdict_cli::probe::Probe (the CLI's own parsers)
//!     ▼ Index::pod_ips / Index::endpoint (live index)
//!  verdict_cli::simulate::{pick_pair, flow} ─► Index::evaluate ─► Outcome
//!     ▼
//!  {"results": render::json (as -o json), "explain": [render::explain::line (as -o explain)]}
//! ```

use std::net::IpAddr;

use verdict_cli::args::Target;
use verdict_cli::probe::Probe;
use verdict_cli::render;
use verdict_cli::simulate::{Outcome, Party, flow, pick_pair};
use verdict_engine::{Endpoint, Index};

use crate::error::{Error, Result};

/// A parsed what-if request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The source.
    pub from: Target,
    /// The destination.
    pub to: Target,
    /// The probes, defaulting to TCP/80, without repeats.
    pub probes: Vec<Probe>,
}

impl Query {
    /// Reads `from`, `to` and `probe` from query pairs.
    ///
    /// # Errors
    /// [`Error::BadParam`] naming a missing, repeated, unknown or malformed parameter.
    pub fn parse(pairs: &[(String, String)]) -> Result<Query> {
        let (mut from, mut to, mut probes) = (None, None, Vec::new());
        for (key, value) in pairs {
            match key.as_str() {
                "from" | "to" => {
                    let slot = if key == "from" { &mut from } else { &mut to };
                    if slot.is_some() {
                        return Err(Error::bad(key.as_str(), "given more than once"));
                    }
                    *slot = Some(
                        value
                            .parse::<Target>()
                            .map_err(|e| Error::bad(key.as_str(), e))?,
                    );
                }
                "probe" => {
                    let probe: Probe = value.parse().map_err(|e: String| Error::bad("probe", e))?;
                    if !probes.contains(&probe) {
                        probes.push(probe);
                    }
                }
                "access_token" => {}
                other => {
                    return Err(Error::bad(
                        other,
                        "unknown parameter (known: from, to, probe)",
                    ));
                }
            }
        }
        if probes.is_empty() {
            probes.push(Probe::DEFAULT);
        }
        Ok(Query {
            from: from.ok_or_else(|| Error::bad("from", "is required (NS/POD or an IP)"))?,
            to: to.ok_or_else(|| Error::bad("to", "is required (NS/POD or an IP)"))?,
            probes,
        })
    }
}

/// The label, addresses and hostNetwork flag of a target in the live index.
fn resolve(
    index: &Index,
    target: &Target,
    param: &'static str,
) -> Result<(String, Vec<IpAddr>, bool)> {
    match target {
        Target::Ip(ip) => Ok((ip.to_string(), vec![*ip], false)),
        Target::Pod { namespace, name } => {
            let ips = index
                .pod_ips(namespace, name)
                .ok_or_else(|| Error::bad(param, format!("pod {target} is not in the index")))?;
            if ips.is_empty() {
                return Err(Error::bad(
                    param,
                    format!("pod {target} has no IP address yet"),
                ));
            }
            // The index resolves a hostNetwork pod's address to its node.
            let host = matches!(index.endpoint(ips[0]), Endpoint::Node { .. });
            Ok((target.to_string(), ips, host))
        }
    }
}

/// Evaluates the query on `index`: one outcome per probe.
///
/// # Errors
/// [`Error::BadParam`] for an unknown pod, the same pod at both ends, or ends that share no
/// IP family.
pub fn outcomes(index: &Index, query: &Query) -> Result<Vec<Outcome>> {
    let (from_label, from_ips, from_host) = resolve(index, &query.from, "from")?;
    let (to_label, to_ips, to_host) = resolve(index, &query.to, "to")?;
    if from_label == to_label {
        return Err(Error::bad("to", "is the same endpoint as `from`"));
    }
    let (src, dst) = pick_pair(&from_ips, &to_ips).ok_or_else(|| {
        Error::bad(
            "to",
            format!("{from_label} and {to_label} share no IP family"),
        )
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
    Ok(query
        .probes
        .iter()
        .map(|probe| Outcome {
            decision: index.evaluate(&flow(from.ip, to.ip, *probe)),
            from: from.clone(),
            to: to.clone(),
            probe: *probe,
        })
        .collect())
}

/// The answer: `simulate -o json`'s object with an `explain` list of `-o explain` lines, and
/// the index generation it was judged on.
///
/// # Errors
/// [`Error::Render`] if the CLI's renderer fails (a bug).
pub fn answer(index: &Index, outcomes: &[Outcome]) -> Result<serde_json::Value> {
    let text = render::json::render(outcomes.iter()).map_err(Error::Render)?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).expect("the CLI's renderer writes JSON");
    value["explain"] = outcomes
        .iter()
        .map(render::explain::line)
        .collect::<Vec<_>>()
        .into();
    value["generation"] = index.generation().into();
    Ok(value)
}
