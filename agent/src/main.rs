//! `verdict-agent`: parses the flags, sets up logging and runs [`verdict_agent::run::run`].
//! A bad flag exits with status 2 and a message naming it; a failure at run time exits with 1.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use verdict_agent::config::Config;

fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&config.log_level))
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        // The verdict workers are plain pinned threads; the async side is light.
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("verdict-agent: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(verdict_agent::run::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!("verdict-agent stopped: {message}");
            ExitCode::FAILURE
        }
    }
}
