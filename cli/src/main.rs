//! The `kubectl-verdict` binary: flag parsing and exit codes; everything else is in the library.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use verdict_cli::Error;
use verdict_cli::args::{Cli, Command};

fn main() -> ExitCode {
    // Usage errors exit with 2, as documented in --help.
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Simulate(args) => verdict_cli::run(
            args,
            &mut io::stdin().lock(),
            &mut io::stdout().lock(),
            &mut io::stderr(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `kubectl verdict ... | head` closing the pipe early is not a failure.
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(io::stderr(), "error: {}", error.chain());
            ExitCode::from(error.exit_code())
        }
    }
}
