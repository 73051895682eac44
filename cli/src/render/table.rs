//! `-o table`: one truth table per probe, rows are sources and columns destinations, in the
//! style of the Kubernetes network-policy e2e tests (`.` allowed, `X` denied).

use std::fmt::Write as _;

use verdict_engine::Verdict;

use crate::simulate::{Cell, Matrix, Table};

/// Every table, separated by blank lines.
pub fn render(matrix: &Matrix) -> String {
    let tables: Vec<String> = matrix
        .tables
        .iter()
        .map(|t| render_table(&matrix.pods, t))
        .collect();
    tables.join("\n")
}

fn mark(cell: &Cell) -> char {
    match cell {
        Cell::Same => '-',
        Cell::NoCommonFamily => '?',
        Cell::Evaluated(outcome) if outcome.decision.verdict == Verdict::Allow => '.',
        Cell::Evaluated(_) => 'X',
    }
}

/// Tables wider than this number their columns instead of naming them.
pub const MAX_NAMED_WIDTH: usize = 100;

fn render_table(pods: &[String], table: &Table) -> String {
    const CORNER: &str = "from \\ to";
    let cells = table.rows.iter().flatten();
    let has_unknown = cells.clone().any(|c| matches!(c, Cell::NoCommonFamily));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: rows are sources, columns are destinations (. allowed, X denied, - same pod{})",
        table.probe,
        if has_unknown {
            ", ? no common IP family"
        } else {
            ""
        }
    );

    let longest = pods.iter().map(String::len).max().unwrap_or(0);
    let named_width = longest.max(CORNER.len()) + pods.iter().map(|p| p.len() + 2).sum::<usize>();
    // Row labels and column headings: names when they fit, `N name` / `N` otherwise.
    let (row_labels, headings): (Vec<String>, Vec<String>) = if named_width <= MAX_NAMED_WIDTH {
        (pods.to_vec(), pods.to_vec())
    } else {
        let digits = pods.len().to_string().len();
        pods.iter()
            .enumerate()
            .map(|(i, pod)| (format!("{:>digits$} {pod}", i + 1), (i + 1).to_string()))
            .unzip()
    };
    let first = row_labels
        .iter()
        .map(String::len)
        .chain([CORNER.len()])
        .max()
        .unwrap_or(0);
    let _ = write!(out, "{CORNER:<first$}");
    for heading in &headings {
        let _ = write!(out, "  {heading}");
    }
    out.push('\n');
    for (label, row) in row_labels.iter().zip(&table.rows) {
        let _ = write!(out, "{label:<first$}");
        for (heading, cell) in headings.iter().zip(row) {
            let _ = write!(out, "  {:<width$}", mark(cell), width = heading.len());
        }
        // No trailing spaces after the last column.
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    let evaluated = cells
        .clone()
        .filter(|c| matches!(c, Cell::Evaluated(_)))
        .count();
    let allowed = cells.filter(|c| mark(c) == '.').count();
    let _ = writeln!(out, "{allowed} of {evaluated} pairs allowed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;
    use crate::simulate::{Outcome, Party, flow};
    use pretty_assertions::assert_eq;
    use verdict_engine::{Decision, Direction, DirectionDecision, Endpoint, Tier};

    fn evaluated(verdict: Verdict) -> Cell {
        let dd = |direction| DirectionDecision {
            direction,
            verdict,
            tier: Tier::Default,
            policy: None,
            rule: None,
            isolated_by: Vec::new(),
            passed_by: Vec::new(),
            tied_with: Vec::new(),
            domain: None,
        };
        let party = Party {
            label: "x/a".into(),
            ip: "10.0.0.1".parse().unwrap(),
            host_network: false,
        };
        let ip = party.ip;
        Cell::Evaluated(Box::new(Outcome {
            from: party.clone(),
            to: party,
            probe: Probe::DEFAULT,
            decision: Decision {
                flow: flow(ip, ip, Probe::DEFAULT),
                src: Endpoint::External { ip },
                dst: Endpoint::External { ip },
                verdict,
                egress: dd(Direction::Egress),
                ingress: dd(Direction::Ingress),
            },
        }))
    }

    #[test]
    fn renders_marks_under_their_columns() {
        let matrix = Matrix {
            pods: vec!["x/a".into(), "longer/name".into(), "y/c".into()],
            tables: vec![Table {
                probe: Probe::DEFAULT,
                rows: vec![
                    vec![
                        Cell::Same,
                        evaluated(Verdict::Allow),
                        evaluated(Verdict::Deny),
                    ],
                    vec![evaluated(Verdict::Deny), Cell::Same, Cell::NoCommonFamily],
                    vec![
                        evaluated(Verdict::Allow),
                        evaluated(Verdict::Allow),
                        Cell::Same,
                    ],
                ],
            }],
        };
        let want = "\
TCP/80: rows are sources, columns are destinations (. allowed, X denied, - same pod, ? no common IP family)
from \\ to    x/a  longer/name  y/c
x/a          -    .            X
longer/name  X    -            ?
y/c          .    .            -
3 of 5 pairs allowed
";
        assert_eq!(render(&matrix), want);
    }

    #[test]
    fn wide_tables_number_their_columns() {
        let pods: Vec<String> = (0..10)
            .map(|i| format!("namespace-{i}/a-long-pod-name"))
            .collect();
        let rows = (0..10)
            .map(|i| {
                (0..10)
                    .map(|j| {
                        if i == j {
                            Cell::Same
                        } else {
                            evaluated(Verdict::Deny)
                        }
                    })
                    .collect()
            })
            .collect();
        let matrix = Matrix {
            pods,
            tables: vec![Table {
                probe: Probe::DEFAULT,
                rows,
            }],
        };
        let text = render(&matrix);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "from \\ to                       1  2  3  4  5  6  7  8  9  10"
        );
        assert_eq!(
            lines[2],
            " 1 namespace-0/a-long-pod-name  -  X  X  X  X  X  X  X  X  X"
        );
        assert_eq!(
            lines[11],
            "10 namespace-9/a-long-pod-name  X  X  X  X  X  X  X  X  X  -"
        );
        assert_eq!(lines[12], "0 of 90 pairs allowed");
    }
}
