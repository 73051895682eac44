//! Names for the ends of a connection as the map shows them: pods folded into their workload,
//! nodes and outside addresses as themselves. Pure functions, shared by the map aggregation
//! and the `src`/`dst` filters (clicking a map edge filters the table to it).

use verdict_engine::Endpoint;

/// The characters Kubernetes uses for generated name suffixes (`rand.SafeEncodeString`).
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn is_generated(part: &str, lengths: std::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&part.len()) && part.bytes().all(|b| SAFE.contains(&b))
}

/// The workload a pod most likely belongs to, from its name alone (the event carries no owner
/// references): `web-7d4b9c8f6-x2k9p` (Deployment) → `web`, `db-0` (StatefulSet) → `db`,
/// `agent-x2k9p` (DaemonSet, Job) → `agent`; any other name is its own workload.
pub fn workload(pod: &str) -> &str {
    let mut parts = pod.rsplitn(3, '-');
    let (Some(last), Some(rest)) = (parts.next(), parts.next()) else {
        return pod;
    };
    let stem = parts.next();
    if let Some(stem) = stem
        && is_generated(last, 5..=5)
        && is_generated(rest, 6..=10)
    {
        return stem;
    }
    let head = &pod[..pod.len() - last.len() - 1];
    if !head.is_empty() && (is_generated(last, 5..=5) || last.bytes().all(|b| b.is_ascii_digit())) {
        return head;
    }
    pod
}

/// The map node an endpoint belongs to: `ns/workload`, `node/name` or the bare address.
pub fn node_id(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Pod {
            namespace, name, ..
        } => format!("{namespace}/{}", workload(name)),
        other => other.to_string(),
    }
}

/// The group a map node is drawn in: its namespace, `nodes`, or `external`.
pub fn group(endpoint: &Endpoint) -> &str {
    match endpoint {
        Endpoint::Pod { namespace, .. } => namespace,
        Endpoint::Node { .. } => "nodes",
        Endpoint::External { .. } => "external",
    }
}

/// Whether a `src`/`dst` filter value names this endpoint: `ns/pod`, `ns/workload`,
/// `node/name` or an address.
pub fn names(value: &str, endpoint: &Endpoint) -> bool {
    match endpoint {
        Endpoint::Pod {
            namespace, name, ..
        } => value
            .split_once('/')
            .is_some_and(|(ns, n)| ns == &**namespace && (n == &**name || n == workload(name))),
        other => other.to_string() == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_fold_into_their_workload() {
        let cases = [
            ("deployment", "web-7d4b9c8f6-x2k9p", "web"),
            (
                "deployment with dashes",
                "api-server-5c8f7b6d4-qwz2x",
                "api-server",
            ),
            ("statefulset", "db-0", "db"),
            ("statefulset, two digits", "kafka-broker-12", "kafka-broker"),
            ("daemonset", "verdict-agent-x7k2p", "verdict-agent"),
            ("plain name", "client", "client"),
            ("a word after the dash", "web-frontend", "web-frontend"),
            ("vowels are never generated", "web-abcde", "web-abcde"),
            ("only a suffix", "-0", "-0"),
        ];
        for (name, pod, want) in cases {
            assert_eq!(workload(pod), want, "{name}");
        }
    }

    #[test]
    fn filter_values_name_endpoints() {
        let pod = Endpoint::Pod {
            namespace: "x".into(),
            name: "web-7d4b9c8f6-x2k9p".into(),
            node: Some("n1".into()),
        };
        let node = Endpoint::Node { name: "n1".into() };
        let ext = Endpoint::External {
            ip: "203.0.113.9".parse().unwrap(),
        };
        let cases = [
            ("pod by name", "x/web-7d4b9c8f6-x2k9p", &pod, true),
            ("pod by workload", "x/web", &pod, true),
            ("other namespace", "y/web", &pod, false),
            ("bare name", "web", &pod, false),
            ("node", "node/n1", &node, true),
            ("node by bare name", "n1", &node, false),
            ("address", "203.0.113.9", &ext, true),
        ];
        for (name, value, endpoint, want) in cases {
            assert_eq!(names(value, endpoint), want, "{name}");
        }
        assert_eq!(node_id(&pod), "x/web");
        assert_eq!(node_id(&node), "node/n1");
        assert_eq!(group(&ext), "external");
    }
}
