//! The `kubectl-verdict` binary: flag parsing and exit codes; everything else is in the library.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use clap::Parser;
use verdict_cli::Error;
use verdict_cli::args::{Cli, Command};
use verdict_cli::error::EXIT_INTERNAL;

fn main() -> ExitCode {
    // Usage errors exit with 2, as documented in --help.
    let cli = Cli::parse();
    // A panic is an internal error: exit 1 as documented, not Rust's 101. The default hook has
    // already printed the message.
    let result = panic::catch_unwind(AssertUnwindSafe(|| match &cli.command {
        Command::Simulate(args) => verdict_cli::run(
            args,
            &mut io::stdin().lock(),
            &mut io::stdout().lock(),
            &mut io::stderr(),
        ),
        Command::Tail(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Output)
            .and_then(|rt| {
                rt.block_on(verdict_cli::tail::run(
                    args,
                    &mut io::stdout(),
                    &mut io::stderr(),
                ))
            }),
    }));
    match result {
        Err(_) => ExitCode::from(EXIT_INTERNAL),
        Ok(Ok(())) => ExitCode::SUCCESS,
        // `kubectl verdict ... | head` closing the pipe early is not a failure.
        Ok(Err(Error::Output(e))) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            let _ = writeln!(io::stderr(), "error: {}", error.chain());
            ExitCode::from(error.exit_code())
        }
    }
}
