//! Running aggregates over every published event: totals, per-second allow/deny counts for
//! the rate chart, per-policy and per-rule hits with their last time (the policies view), and
//! observed connections in one-minute buckets (the map). Pure and bounded: each map has a cap,
//! and what a full map cannot take is counted as folded.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use verdict_engine::{Direction, PolicyRef, Protocol, Verdict};
use verdict_events::DecisionEvent;

use crate::filter::tier_of;
use crate::map;

/// Seconds of per-second counts kept for the rate chart.
pub const SECONDS_KEPT: usize = 300;
/// The map's bucket width.
pub const BUCKET_SECS: u64 = 60;
/// Buckets kept: the longest map window is one hour.
pub const BUCKETS_KEPT: usize = 60;
/// Distinct edges one bucket holds; more are folded.
pub const EDGES_PER_BUCKET: usize = 1_000;
/// Distinct (policy, direction, rule) keys counted; more are folded.
pub const MAX_HIT_KEYS: usize = 20_000;

/// How a policy took part in a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    /// One of its rules decided.
    Rule,
    /// It isolated the pod and no rule admitted the peer (a NetworkPolicy default deny).
    Isolation,
    /// Its `Pass` rule handed the decision down.
    Pass,
}

/// What was hit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct HitKey {
    /// The policy.
    pub policy: PolicyRef,
    /// The direction judged.
    pub direction: Direction,
    /// How it took part.
    pub kind: HitKind,
    /// The rule's index, for [`HitKind::Rule`].
    pub rule: Option<usize>,
}

/// How often, and when last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// Decisions counted.
    pub count: u64,
    /// The newest one's time, in ns since the epoch.
    pub last_unix_nano: u64,
}

impl Hit {
    fn add(&mut self, t: u64, n: u64) {
        self.count += n;
        self.last_unix_nano = self.last_unix_nano.max(t);
    }
}

/// Allow and deny counts of one second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Second {
    /// The second, since the epoch.
    pub t: u64,
    /// Allowed decisions.
    pub allow: u64,
    /// Denied decisions.
    pub deny: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct EdgeKey {
    src: String,
    dst: String,
    protocol: Protocol,
    port: u16,
}

#[derive(Clone, Debug, Default)]
struct EdgeCount {
    src_group: String,
    dst_group: String,
    allow: u64,
    deny: u64,
    last_unix_nano: u64,
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    start: u64,
    edges: HashMap<EdgeKey, EdgeCount>,
}

/// One observed connection class in a window: source workload → destination workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// `ns/workload`, `node/name` or an address.
    pub source: String,
    /// The same for the destination.
    pub target: String,
    /// The source's namespace, `nodes` or `external`.
    pub source_group: String,
    /// The same for the destination.
    pub target_group: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port (0 for ICMP).
    pub port: u16,
    /// Allowed decisions.
    pub allow: u64,
    /// Denied decisions.
    pub deny: u64,
    /// The newest decision's time.
    pub last_unix_nano: u64,
}

/// The aggregates. Not synchronised: the [`crate::Hub`] keeps it under its lock.
#[derive(Clone, Debug, Default)]
pub struct Aggregates {
    /// Every event counted.
    pub total: u64,
    /// Allowed.
    pub allow: u64,
    /// Denied.
    pub deny: u64,
    /// By source (queue, cache, default).
    pub by_source: BTreeMap<&'static str, u64>,
    /// By deciding tier (its JSON name).
    pub by_tier: BTreeMap<String, u64>,
    seconds: VecDeque<Second>,
    hits: HashMap<HitKey, Hit>,
    /// Hits not counted because [`MAX_HIT_KEYS`] keys exist.
    pub hits_folded: u64,
    buckets: VecDeque<Bucket>,
    /// Edge observations not kept because their bucket was full.
    pub edges_folded: u64,
}

impl Aggregates {
    /// Counts one event.
    pub fn record(&mut self, e: &DecisionEvent) {
        let t = e.time_unix_nano;
        self.total += 1;
        let deny = e.verdict == Verdict::Deny;
        if deny {
            self.deny += 1;
        } else {
            self.allow += 1;
        }
        *self.by_source.entry(e.source.as_str()).or_default() += 1;
        *self.by_tier.entry(tier_of(e)).or_default() += 1;
        self.record_second(t / 1_000_000_000, deny);
        for d in e.directions() {
            let mut hit = |policy: &PolicyRef, kind, rule| {
                let key = HitKey {
                    policy: policy.clone(),
                    direction: d.direction,
                    kind,
                    rule,
                };
                if let Some(h) = self.hits.get_mut(&key) {
                    h.add(t, 1);
                } else if self.hits.len() < MAX_HIT_KEYS {
                    self.hits.entry(key).or_default().add(t, 1);
                } else {
                    self.hits_folded += 1;
                }
            };
            if let Some(policy) = &d.policy {
                hit(policy, HitKind::Rule, d.rule.as_ref().map(|r| r.index));
            } else if d.verdict == Verdict::Deny {
                for p in &d.isolated_by {
                    hit(p, HitKind::Isolation, None);
                }
            }
            for p in &d.passed_by {
                hit(p, HitKind::Pass, None);
            }
        }
        if let (Some(flow), Some(src), Some(dst)) = (&e.flow, &e.src, &e.dst) {
            self.record_edge(
                t,
                EdgeKey {
                    src: map::node_id(src),
                    dst: map::node_id(dst),
                    protocol: flow.protocol,
                    port: flow.dst_port,
                },
                (map::group(src), map::group(dst)),
                deny,
            );
        }
    }

    fn record_second(&mut self, sec: u64, deny: bool) {
        let newest = self.seconds.back().map(|s| s.t);
        if newest.is_none_or(|n| sec > n) {
            self.seconds.push_back(Second {
                t: sec,
                ..Second::default()
            });
            while self.seconds.len() > SECONDS_KEPT {
                self.seconds.pop_front();
            }
        }
        // Slightly late events (cache log timestamps) land in their own second.
        if let Some(s) = self.seconds.iter_mut().rev().find(|s| s.t <= sec)
            && s.t == sec
        {
            if deny {
                s.deny += 1;
            } else {
                s.allow += 1;
            }
        }
    }

    fn record_edge(&mut self, t: u64, key: EdgeKey, groups: (&str, &str), deny: bool) {
        let start = t / 1_000_000_000 / BUCKET_SECS * BUCKET_SECS;
        if self.buckets.back().is_none_or(|b| start > b.start) {
            self.buckets.push_back(Bucket {
                start,
                edges: HashMap::new(),
            });
            while self.buckets.len() > BUCKETS_KEPT {
                self.buckets.pop_front();
            }
        }
        let Some(bucket) = self.buckets.iter_mut().rev().find(|b| b.start == start) else {
            self.edges_folded += 1;
            return;
        };
        let full = bucket.edges.len() >= EDGES_PER_BUCKET;
        let count = match bucket.edges.get_mut(&key) {
            Some(c) => c,
            None if full => {
                self.edges_folded += 1;
                return;
            }
            None => bucket.edges.entry(key).or_insert_with(|| EdgeCount {
                src_group: groups.0.to_string(),
                dst_group: groups.1.to_string(),
                ..EdgeCount::default()
            }),
        };
        if deny {
            count.deny += 1;
        } else {
            count.allow += 1;
        }
        count.last_unix_nano = count.last_unix_nano.max(t);
    }

    /// The per-second counts of the `n` seconds up to and including `now_sec`, oldest first,
    /// with zeros for quiet seconds.
    pub fn series(&self, now_sec: u64, n: usize) -> Vec<Second> {
        let first = now_sec.saturating_sub(n as u64 - 1);
        (first..=now_sec)
            .map(|t| {
                self.seconds
                    .iter()
                    .find(|s| s.t == t)
                    .copied()
                    .unwrap_or(Second {
                        t,
                        ..Second::default()
                    })
            })
            .collect()
    }

    /// Allowed and denied decisions per second over the `window` whole seconds before
    /// `now_sec` (the current, partial second is left out).
    pub fn rates(&self, now_sec: u64, window: u64) -> (f64, f64) {
        let from = now_sec.saturating_sub(window);
        let (allow, deny) = self
            .seconds
            .iter()
            .filter(|s| s.t >= from && s.t < now_sec)
            .fold((0, 0), |(a, d), s| (a + s.allow, d + s.deny));
        (allow as f64 / window as f64, deny as f64 / window as f64)
    }

    /// Every hit counted, sorted by key.
    pub fn hits(&self) -> Vec<(&HitKey, &Hit)> {
        let mut out: Vec<_> = self.hits.iter().collect();
        let key = |k: &HitKey| {
            (
                k.policy.clone(),
                k.direction == Direction::Ingress,
                k.kind,
                k.rule,
            )
        };
        out.sort_by_key(|(k, _)| key(k));
        out
    }

    /// The hit of one key.
    pub fn hit(&self, key: &HitKey) -> Option<Hit> {
        self.hits.get(key).copied()
    }

    /// The edges observed in the buckets that overlap the last `window_secs` before
    /// `now_sec`, merged, busiest first.
    pub fn edges(&self, now_sec: u64, window_secs: u64) -> Vec<Edge> {
        let from = now_sec.saturating_sub(window_secs);
        let mut merged: HashMap<&EdgeKey, EdgeCount> = HashMap::new();
        for b in self.buckets.iter().filter(|b| b.start + BUCKET_SECS > from) {
            for (k, c) in &b.edges {
                let m = merged.entry(k).or_insert_with(|| EdgeCount {
                    src_group: c.src_group.clone(),
                    dst_group: c.dst_group.clone(),
                    ..EdgeCount::default()
                });
                m.allow += c.allow;
                m.deny += c.deny;
                m.last_unix_nano = m.last_unix_nano.max(c.last_unix_nano);
            }
        }
        let mut out: Vec<Edge> = merged
            .into_iter()
            .map(|(k, c)| Edge {
                source: k.src.clone(),
                target: k.dst.clone(),
                source_group: c.src_group,
                target_group: c.dst_group,
                protocol: k.protocol,
                port: k.port,
                allow: c.allow,
                deny: c.deny,
                last_unix_nano: c.last_unix_nano,
            })
            .collect();
        out.sort_by(|a, b| {
            (b.allow + b.deny)
                .cmp(&(a.allow + a.deny))
                .then_with(|| (&a.source, &a.target, a.port).cmp(&(&b.source, &b.target, b.port)))
        });
        out
    }
}

#[cfg(test)]
mod tests;
