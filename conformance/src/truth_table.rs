//! A from × to table of booleans (may this client reach that server?), with the upstream
//! `Expect*` helpers to fill it and a readable diff for failures.

use std::fmt::{self, Display, Write as _};

use crate::model::PodName;

/// Matches pods by namespace, by name within a namespace, or both left open (upstream `Peer`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// `None` matches every namespace.
    pub namespace: Option<String>,
    /// `None` matches every pod name.
    pub pod: Option<String>,
}

impl Peer {
    /// Every pod.
    pub fn any() -> Self {
        Self::default()
    }

    /// Every pod in `namespace`.
    pub fn namespace(namespace: impl Into<String>) -> Self {
        Self {
            namespace: Some(namespace.into()),
            pod: None,
        }
    }

    /// The pod `namespace/pod`.
    pub fn pod(namespace: impl Into<String>, pod: impl Into<String>) -> Self {
        Self {
            namespace: Some(namespace.into()),
            pod: Some(pod.into()),
        }
    }

    /// Whether `pod` is one of the pods this peer names.
    pub fn matches(&self, pod: &PodName) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| *ns == pod.namespace)
            && self.pod.as_ref().is_none_or(|name| *name == pod.name)
    }
}

/// The connectivity of every (client, server) pair, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruthTable {
    froms: Vec<PodName>,
    tos: Vec<PodName>,
    values: Vec<bool>,
}

impl TruthTable {
    /// A table with every cell set to `default`.
    pub fn new(froms: &[PodName], tos: &[PodName], default: bool) -> Self {
        Self {
            froms: froms.to_vec(),
            tos: tos.to_vec(),
            values: vec![default; froms.len() * tos.len()],
        }
    }

    /// The rows (clients).
    pub fn froms(&self) -> &[PodName] {
        &self.froms
    }

    /// The columns (servers).
    pub fn tos(&self) -> &[PodName] {
        &self.tos
    }

    fn index(&self, from: &PodName, to: &PodName) -> usize {
        let row = self.froms.iter().position(|p| p == from);
        let col = self.tos.iter().position(|p| p == to);
        match (row, col) {
            (Some(row), Some(col)) => row * self.tos.len() + col,
            // A case that names a pod its model lacks is a bug in the case, not a result.
            _ => panic!("truth table has no cell {from} -> {to}"),
        }
    }

    /// The value for `from -> to`.
    ///
    /// # Panics
    /// If either pod is not in the table.
    pub fn get(&self, from: &PodName, to: &PodName) -> bool {
        self.values[self.index(from, to)]
    }

    /// Sets `from -> to` (upstream `Expect` and `Observe`).
    ///
    /// # Panics
    /// If either pod is not in the table.
    pub fn expect(&mut self, from: &PodName, to: &PodName, connected: bool) -> &mut Self {
        let i = self.index(from, to);
        self.values[i] = connected;
        self
    }

    /// Sets every cell whose server is `to` (upstream `ExpectAllIngress`).
    pub fn expect_all_ingress(&mut self, to: &PodName, connected: bool) -> &mut Self {
        self.expect_peer(&Peer::any(), &Peer::pod(&to.namespace, &to.name), connected)
    }

    /// Sets every cell whose client is `from` (upstream `ExpectAllEgress`).
    pub fn expect_all_egress(&mut self, from: &PodName, connected: bool) -> &mut Self {
        self.expect_peer(
            &Peer::pod(&from.namespace, &from.name),
            &Peer::any(),
            connected,
        )
    }

    /// Sets every cell whose client matches `from` and server matches `to` (upstream
    /// `ExpectPeer`).
    pub fn expect_peer(&mut self, from: &Peer, to: &Peer, connected: bool) -> &mut Self {
        let width = self.tos.len();
        for (r, f) in self.froms.iter().enumerate() {
            if !from.matches(f) {
                continue;
            }
            for (c, t) in self.tos.iter().enumerate() {
                if to.matches(t) {
                    self.values[r * width + c] = connected;
                }
            }
        }
        self
    }

    /// Every cell as `(from, to, value)`, row by row.
    pub fn cells(&self) -> impl Iterator<Item = (&PodName, &PodName, bool)> + '_ {
        let width = self.tos.len();
        self.values
            .iter()
            .enumerate()
            .map(move |(i, v)| (&self.froms[i / width], &self.tos[i % width], *v))
    }

    /// Compares this (expected) table with `observed`. With `ignore_loopback`, cells whose
    /// client and server are the same pod never count as wrong (upstream leaves hairpin
    /// traffic undefined).
    ///
    /// # Panics
    /// If the two tables do not have the same rows and columns.
    pub fn compare(&self, observed: &TruthTable, ignore_loopback: bool) -> Comparison {
        assert!(
            self.froms == observed.froms && self.tos == observed.tos,
            "cannot compare truth tables over different pods"
        );
        let mut wrong = Vec::new();
        let mut ignored = 0;
        for ((from, to, expected), (_, _, seen)) in self.cells().zip(observed.cells()) {
            if ignore_loopback && from == to {
                ignored += 1;
            } else if expected != seen {
                wrong.push((from.clone(), to.clone(), expected));
            }
        }
        Comparison {
            expected: self.clone(),
            observed: observed.clone(),
            wrong,
            ignored,
        }
    }

    fn render(&self, mark: impl Fn(&PodName, &PodName, bool) -> char) -> String {
        let label = |p: &PodName| p.to_string();
        let width = self.froms.iter().map(|p| label(p).len()).max().unwrap_or(0);
        let mut out = String::new();
        // Column headers are numbered; the key below the table maps numbers to pods.
        let _ = write!(out, "{:width$}", "");
        for (c, _) in self.tos.iter().enumerate() {
            let _ = write!(out, " {c:>2}");
        }
        out.push('\n');
        for from in &self.froms {
            let _ = write!(out, "{:width$}", label(from));
            for to in &self.tos {
                let _ = write!(out, "  {}", mark(from, to, self.get(from, to)));
            }
            out.push('\n');
        }
        let key: Vec<String> = self
            .tos
            .iter()
            .enumerate()
            .map(|(c, t)| format!("{c}={t}"))
            .collect();
        let _ = writeln!(out, "rows: clients; columns (servers): {}", key.join(" "));
        out
    }
}

impl Display for TruthTable {
    /// `.` for connected, `X` for blocked, as upstream prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(|_, _, v| if v { '.' } else { 'X' }))
    }
}

/// The outcome of [`TruthTable::compare`].
#[derive(Clone, Debug)]
pub struct Comparison {
    /// What the case expects.
    pub expected: TruthTable,
    /// What the runner saw.
    pub observed: TruthTable,
    /// Every wrong cell as `(from, to, expected value)`.
    pub wrong: Vec<(PodName, PodName, bool)>,
    /// How many loopback cells were not compared.
    pub ignored: usize,
}

impl Comparison {
    /// Whether every compared cell matched.
    pub fn is_match(&self) -> bool {
        self.wrong.is_empty()
    }
}

impl Display for Comparison {
    /// Expected, observed, and a comparison table (`.` right, `X` wrong, `-` ignored), then
    /// one line per wrong cell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} wrong, {} loopback cells ignored",
            self.wrong.len(),
            self.ignored
        )?;
        writeln!(f, "expected:\n{}", self.expected)?;
        writeln!(f, "observed:\n{}", self.observed)?;
        let diff = self.expected.render(|from, to, v| {
            if self.ignored > 0 && from == to {
                '-'
            } else if self.observed.get(from, to) == v {
                '.'
            } else {
                'X'
            }
        });
        writeln!(f, "comparison:\n{diff}")?;
        for (from, to, expected) in &self.wrong {
            let (want, got) = if *expected {
                ("allowed", "blocked")
            } else {
                ("blocked", "allowed")
            };
            writeln!(f, "  {from} -> {to}: expected {want}, observed {got}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> Vec<PodName> {
        ["x/a", "x/b", "y/a"]
            .iter()
            .map(|s| {
                let (ns, name) = s.split_once('/').unwrap();
                PodName::new(ns, name)
            })
            .collect()
    }

    #[test]
    fn expect_helpers_set_the_cells_upstream_sets() {
        let p = pods();
        struct Row {
            name: &'static str,
            apply: fn(&mut TruthTable, &[PodName]),
            blocked: &'static [(usize, usize)],
        }
        let rows = [
            Row {
                name: "peer to namespace",
                apply: |t, _| {
                    t.expect_peer(&Peer::any(), &Peer::namespace("x"), false);
                },
                blocked: &[(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)],
            },
            Row {
                name: "all ingress then one exception",
                apply: |t, p| {
                    t.expect_all_ingress(&p[0], false)
                        .expect(&p[1], &p[0], true);
                },
                blocked: &[(0, 0), (2, 0)],
            },
            Row {
                name: "all egress",
                apply: |t, p| {
                    t.expect_all_egress(&p[2], false);
                },
                blocked: &[(2, 0), (2, 1), (2, 2)],
            },
        ];
        for row in rows {
            let mut t = TruthTable::new(&p, &p, true);
            (row.apply)(&mut t, &p);
            for (r, from) in p.iter().enumerate() {
                for (c, to) in p.iter().enumerate() {
                    let want = !row.blocked.contains(&(r, c));
                    assert_eq!(t.get(from, to), want, "{}: {from} -> {to}", row.name);
                }
            }
        }
    }

    #[test]
    fn compare_reports_wrong_cells_and_skips_loopback() {
        let p = pods();
        let expected = TruthTable::new(&p, &p, true);
        let mut observed = expected.clone();
        observed
            .expect(&p[0], &p[0], false)
            .expect(&p[2], &p[1], false);
        let strict = expected.compare(&observed, false);
        assert_eq!(strict.wrong.len(), 2);
        let lenient = expected.compare(&observed, true);
        assert_eq!(lenient.wrong, vec![(p[2].clone(), p[1].clone(), true)]);
        assert_eq!(lenient.ignored, 3);
        let text = lenient.to_string();
        assert!(
            text.contains("y/a -> x/b: expected allowed, observed blocked"),
            "{text}"
        );
    }
}
