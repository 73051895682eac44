//! `kubectl-verdict simulate`: kube-verdict's engine run on YAML files instead of a cluster, so
//! operators can ask "would this flow be allowed, and why?" before they apply anything.
//!
//! ```text
//!  -f FILE|DIR|-  ──► input ──► objects ──► cluster ──────► simulate ──► render
//!                    (files,    (List,      (defaults,      (--from/--to  (explain,
//!                     docs)      kinds,      implicit ns,    or --matrix,  table,
//!                                typed)      engine Index)   Flow→Decision) json)
//! ```
//!
//! Start reading at [`run`], then [`cluster::Cluster::build`]. The engine ([`verdict_engine`])
//! makes every decision; this crate only loads, resolves names and renders. `main.rs` parses
//! flags and maps errors to exit codes ([`error::Error::exit_code`]).
#![forbid(unsafe_code)]

pub mod args;
pub mod cluster;
pub mod error;
pub mod input;
pub mod objects;
pub mod probe;
pub mod render;
pub mod simulate;
pub mod sse;
#[cfg(feature = "tail")]
pub mod tail;

use std::io::{Read, Write};

use args::{Mode, OutputFormat, SimulateArgs};
use cluster::{Cluster, Diagnostics};
pub use error::{Error, Result};

/// Runs `simulate`: loads the manifests, evaluates the requested flows and writes the chosen
/// format to `stdout`. Warnings (and, with `-v`, notes) go to `stderr`, also when loading fails.
///
/// # Errors
/// Any [`Error`]; see [`Error::exit_code`] for how each maps to an exit code.
pub fn run(
    args: &SimulateArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<()> {
    let (mode, output, probes) = args.plan()?;
    let mut diagnostics = Diagnostics::default();
    let cluster = load(&args.files, stdin, &mut diagnostics);
    report(&diagnostics, args.verbose, stderr)?;
    let cluster = cluster?;

    let text = match (mode, output) {
        (Mode::Single { from, to }, OutputFormat::Json) => {
            render::json::render(simulate::single(&cluster, &from, &to, &probes)?.iter())?
        }
        (Mode::Single { from, to }, _) => {
            let outcomes = simulate::single(&cluster, &from, &to, &probes)?;
            outcomes
                .iter()
                .map(|o| render::explain::line(o) + "\n")
                .collect()
        }
        (Mode::Matrix, OutputFormat::Json) => {
            render::json::render(simulate::matrix(&cluster, &probes).outcomes())?
        }
        (Mode::Matrix, _) => render::table::render(&simulate::matrix(&cluster, &probes)),
    };
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Output)
}

/// Reads, types and indexes every manifest.
fn load(files: &[String], stdin: &mut dyn Read, diagnostics: &mut Diagnostics) -> Result<Cluster> {
    let mut loaded = Vec::new();
    for source in input::read_sources(files, stdin)? {
        for document in input::documents(&source)? {
            loaded.extend(objects::objects(document, &mut diagnostics.warnings)?);
        }
    }
    Cluster::build(loaded, diagnostics)
}

fn report(diagnostics: &Diagnostics, verbose: bool, stderr: &mut dyn Write) -> Result<()> {
    for warning in &diagnostics.warnings {
        writeln!(stderr, "warning: {warning}").map_err(Error::Output)?;
    }
    if verbose {
        for note in &diagnostics.notes {
            writeln!(stderr, "note: {note}").map_err(Error::Output)?;
        }
    }
    Ok(())
}
