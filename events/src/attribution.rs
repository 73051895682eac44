//! Which judgement put a flow class into the kernel verdict cache, so that a connection the
//! kernel accepted from the cache is reported with that judgement, not a new one.
//!
//! ```text
//!  queued decision, allow, judged on generation g ──remember──► class → (g, judgement)
//!  cached accept of the class (from the cache log) ──lookup────► (g, judgement)
//!                                                   g < current generation: a stale accept
//! ```
//!
//! A class is what the cache keys on: source, destination, protocol and destination port.
//! The agent flushes the kernel cache on every index change, so only the entries of the
//! newest generation can still be hit, plus those of the one before, for accepts that
//! happened between an index change and its flush (stale accepts). Older entries are
//! dropped, and the table is bounded: when it is full, new classes are not remembered (and
//! their cached accepts are reported without a judgement), which [`CacheAttribution::full`]
//! counts.

use std::collections::HashMap;
use std::net::IpAddr;

use verdict_engine::{Flow, Judgement, Protocol, Verdict};

/// The cache's notion of a flow class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowClass {
    src: IpAddr,
    dst: IpAddr,
    protocol: Protocol,
    dst_port: u16,
}

impl FlowClass {
    /// The class of `flow`.
    pub fn of(flow: &Flow) -> FlowClass {
        FlowClass {
            src: flow.src_ip,
            dst: flow.dst_ip,
            protocol: flow.protocol,
            dst_port: flow.dst_port,
        }
    }
}

/// The class → judgement table.
#[derive(Debug)]
pub struct CacheAttribution {
    entries: HashMap<FlowClass, (u64, Judgement)>,
    newest: u64,
    capacity: usize,
    full: u64,
}

impl CacheAttribution {
    /// A table of at most `capacity` classes.
    pub fn new(capacity: usize) -> Self {
        CacheAttribution {
            entries: HashMap::new(),
            newest: 0,
            capacity: capacity.max(1),
            full: 0,
        }
    }

    /// Remembers the judgement of a queued decision that may put its class into the cache
    /// (an allow, judged on `generation`).
    pub fn remember(&mut self, flow: &Flow, generation: u64, judgement: &Judgement) {
        if judgement.verdict != Verdict::Allow || generation < self.newest.saturating_sub(1) {
            return;
        }
        if generation > self.newest {
            let keep_from = generation.saturating_sub(1);
            self.entries.retain(|_, (g, _)| *g >= keep_from);
            self.newest = generation;
        }
        let class = FlowClass::of(flow);
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&class) {
            self.full += 1;
            return;
        }
        self.entries.insert(class, (generation, judgement.clone()));
    }

    /// The judgement (and its generation) that cached `flow`'s class, if it was seen.
    pub fn lookup(&self, flow: &Flow) -> Option<&(u64, Judgement)> {
        self.entries.get(&FlowClass::of(flow))
    }

    /// How many classes were not remembered because the table was full.
    pub fn full(&self) -> u64 {
        self.full
    }

    /// Classes held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no class is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use verdict_engine::testing::{index_of, pod, tcp};
    use verdict_engine::{Index, judge};

    use super::*;

    fn index() -> Index {
        index_of([
            pod("y", "a").ip("10.0.0.1").node("n").into(),
            pod("x", "s").ip("10.0.0.2").node("n").into(),
        ])
    }

    #[test]
    fn lookups_find_the_judgement_that_cached_the_class() {
        let index = index();
        let mut table = CacheAttribution::new(8);
        let first = tcp("10.0.0.1", "10.0.0.2", 80);
        let j = judge(&index, "n", &first);
        table.remember(&first, 5, &j);
        // (case, flow, expected generation)
        let cases = [
            (
                "same class, another source port",
                {
                    let mut f = first;
                    f.src_port = 51000;
                    f
                },
                Some(5),
            ),
            (
                "another port is another class",
                tcp("10.0.0.1", "10.0.0.2", 81),
                None,
            ),
            (
                "another source is another class",
                tcp("10.0.0.9", "10.0.0.2", 80),
                None,
            ),
        ];
        for (case, flow, expected) in cases {
            assert_eq!(table.lookup(&flow).map(|(g, _)| *g), expected, "{case}");
        }
        assert_eq!(table.lookup(&first).map(|(_, j)| j), Some(&j));
    }

    #[test]
    fn old_generations_are_dropped_and_the_table_is_bounded() {
        let index = index();
        let j = judge(&index, "n", &tcp("10.0.0.1", "10.0.0.2", 1));
        let mut table = CacheAttribution::new(2);
        table.remember(&tcp("10.0.0.1", "10.0.0.2", 1), 1, &j);
        table.remember(&tcp("10.0.0.1", "10.0.0.2", 2), 2, &j);
        assert_eq!(
            table.len(),
            2,
            "generation 1 stays for stale accepts after 2"
        );
        table.remember(&tcp("10.0.0.1", "10.0.0.2", 3), 3, &j);
        assert!(
            table.lookup(&tcp("10.0.0.1", "10.0.0.2", 1)).is_none(),
            "two behind: gone"
        );
        assert!(table.lookup(&tcp("10.0.0.1", "10.0.0.2", 2)).is_some());
        table.remember(&tcp("10.0.0.1", "10.0.0.2", 4), 3, &j);
        assert_eq!(table.full(), 1, "a third class does not fit");
        let mut deny = j.clone();
        deny.verdict = Verdict::Deny;
        table.remember(&tcp("10.0.0.1", "10.0.0.2", 2), 3, &deny);
        assert_eq!(
            table
                .lookup(&tcp("10.0.0.1", "10.0.0.2", 2))
                .map(|(g, _)| *g),
            Some(2),
            "denies are never cached, so never remembered"
        );
    }
}
