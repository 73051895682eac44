//! DNS bindings for ClusterNetworkPolicy `domainNames` egress peers: which names a pod was told
//! an address answers for, and until when.
//!
//! ```text
//!   DNS answers the agent sees (or `simulate --dns NAME=IP`)
//!        │ DnsBindings::insert(client pod IP, name, answer IP, expires_at)
//!        ▼
//!   DnsBindings ──► Index::evaluate_with(flow, Some(Dns { bindings, now }))
//!                     an egress domainNames peer matches when the flow's destination was
//!                     answered to the flow's source for a name the pattern matches and
//!                     `now < expires_at`
//! ```
//!
//! The engine keeps no clock: `expires_at` and `now` are in whatever monotonic unit the caller
//! uses (the agent: seconds or milliseconds since it started; the CLI: 0 with bindings that
//! never expire). Names are compared case-insensitively, without a trailing dot.
//!
//! # Limits
//! Only answers the caller saw count. A pod that resolves through a resolver the agent does
//! not observe, over DNS-over-HTTPS/TLS, or that dials a hard-coded address gets no binding,
//! so a domainNames rule never matches its traffic (and a lower-precedence deny applies).

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Name → address answers, per client pod address, each valid until an expiry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsBindings {
    by_client: FxHashMap<IpAddr, FxHashMap<IpAddr, Vec<Binding>>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Binding {
    name: Arc<str>,
    expires_at: u64,
}

/// Bindings as of one instant, for one evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Dns<'a> {
    /// The bindings.
    pub bindings: &'a DnsBindings,
    /// The current time, in the unit of the bindings' `expires_at`.
    pub now: u64,
}

/// Lower case, without the trailing dot of a fully qualified name.
pub(crate) fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl DnsBindings {
    /// No bindings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `client` was told `name` resolves to `ip`, valid while `now < expires_at`.
    /// A repeated answer for the same name and address keeps the later expiry.
    pub fn insert(&mut self, client: IpAddr, name: &str, ip: IpAddr, expires_at: u64) {
        let name = normalize(name);
        let list = self
            .by_client
            .entry(client)
            .or_default()
            .entry(ip)
            .or_default();
        match list.iter_mut().find(|b| *b.name == *name) {
            Some(b) => b.expires_at = b.expires_at.max(expires_at),
            None => list.push(Binding {
                name: Arc::from(name),
                expires_at,
            }),
        }
    }

    /// Drops every binding that has expired at `now`.
    pub fn purge(&mut self, now: u64) {
        self.by_client.retain(|_, ips| {
            ips.retain(|_, list| {
                list.retain(|b| now < b.expires_at);
                !list.is_empty()
            });
            !ips.is_empty()
        });
    }

    /// Forgets every binding of `client` (its pod went away).
    pub fn forget_client(&mut self, client: IpAddr) {
        self.by_client.remove(&client);
    }

    /// The number of (client, address, name) bindings, expired ones included.
    pub fn len(&self) -> usize {
        self.by_client
            .values()
            .flat_map(|ips| ips.values())
            .map(Vec::len)
            .sum()
    }

    /// True when there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    /// The names `ip` was answered for to `client` that are still valid at `now`.
    pub fn names(&self, client: IpAddr, ip: IpAddr, now: u64) -> impl Iterator<Item = &Arc<str>> {
        self.by_client
            .get(&client)
            .and_then(|ips| ips.get(&ip))
            .into_iter()
            .flatten()
            .filter(move |b| now < b.expires_at)
            .map(|b| &b.name)
    }
}

/// A `domainNames` entry: an exact name, or `*.` and a suffix matching one or more labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DomainPattern {
    Exact(Box<str>),
    /// The suffix without the `*.`: `*.kubernetes.io` holds `kubernetes.io`.
    Wildcard(Box<str>),
}

impl DomainPattern {
    /// Parses an entry as upstream's pattern allows it: labels of letters, digits, `-` and
    /// `_` (not at either end), at least two labels, optionally a leading `*.` and a trailing
    /// dot. `None` when it does not fit.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let (wildcard, rest) = match value.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let rest = normalize(rest);
        let labels: Vec<&str> = rest.split('.').collect();
        let label_ok = |l: &&str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return None;
        }
        let rest = rest.into_boxed_str();
        Some(if wildcard {
            DomainPattern::Wildcard(rest)
        } else {
            DomainPattern::Exact(rest)
        })
    }

    /// True when `name` (already normalized) matches: equal for an exact pattern, or at least
    /// one whole label followed by `.suffix` for a wildcard.
    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            DomainPattern::Exact(exact) => name == &**exact,
            DomainPattern::Wildcard(suffix) => name
                .strip_suffix(&**suffix)
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_the_api_defines() {
        // (case, pattern, name, matches)
        let cases = [
            ("exact", "kubernetes.io", "kubernetes.io", true),
            (
                "exact is not a subdomain",
                "kubernetes.io",
                "www.kubernetes.io",
                false,
            ),
            (
                "exact, other name",
                "kubernetes.io",
                "my-kubernetes.io",
                false,
            ),
            (
                "exact subdomain",
                "blog.kubernetes.io",
                "blog.kubernetes.io",
                true,
            ),
            (
                "exact subdomain, parent",
                "blog.kubernetes.io",
                "kubernetes.io",
                false,
            ),
            (
                "wildcard, one label",
                "*.kubernetes.io",
                "www.kubernetes.io",
                true,
            ),
            (
                "wildcard, two labels",
                "*.kubernetes.io",
                "latest.blog.kubernetes.io",
                true,
            ),
            (
                "wildcard is not the apex",
                "*.kubernetes.io",
                "kubernetes.io",
                false,
            ),
            (
                "wildcard, no partial label",
                "*.kubernetes.io",
                "wwwkubernetes.io",
                false,
            ),
            (
                "wildcard, other domain",
                "*.kubernetes.io",
                "wikipedia.org",
                false,
            ),
            ("case-insensitive", "Kubernetes.IO", "kubernetes.io", true),
            (
                "trailing dot in pattern",
                "kubernetes.io.",
                "kubernetes.io",
                true,
            ),
        ];
        for (name, pattern, query, want) in cases {
            let p = DomainPattern::parse(pattern).expect(name);
            assert_eq!(p.matches(&normalize(query)), want, "case {name:?}");
        }
    }

    #[test]
    fn patterns_that_do_not_parse() {
        let cases = [
            ("one label", "localhost"),
            ("star in the middle", "www.*.io"),
            ("bare star", "*"),
            ("partial wildcard", "*kubernetes.io"),
            ("empty label", "kubernetes..io"),
            ("leading dash", "-a.io"),
            ("space", "a b.io"),
        ];
        for (name, pattern) in cases {
            assert_eq!(DomainPattern::parse(pattern), None, "case {name:?}");
        }
    }

    #[test]
    fn bindings_expire_and_are_per_client() {
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let mut dns = DnsBindings::new();
        dns.insert(a, "Allowed.Example.", ip, 10);
        dns.insert(a, "allowed.example", ip, 5);
        let names = |dns: &DnsBindings, client, now| {
            dns.names(client, ip, now)
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&dns, a, 0),
            ["allowed.example"],
            "normalized, one entry"
        );
        assert_eq!(
            names(&dns, a, 9),
            ["allowed.example"],
            "the later expiry is kept"
        );
        assert!(names(&dns, a, 10).is_empty(), "expired at expires_at");
        assert!(
            names(&dns, b, 0).is_empty(),
            "another client was told nothing"
        );
        assert_eq!(dns.len(), 1);
        dns.purge(10);
        assert!(dns.is_empty());
        dns.insert(b, "x.example", ip, 1);
        dns.forget_client(b);
        assert!(dns.is_empty());
    }
}
