//! The CLI library's one error type, and how each error maps to an exit code.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::input::Location;

/// Exit code when the evaluation ran, whatever it decided.
pub const EXIT_OK: u8 = 0;
/// Exit code for internal errors (a bug, or output that could not be written).
pub const EXIT_INTERNAL: u8 = 1;
/// Exit code for bad input or bad usage.
pub const EXIT_USAGE: u8 = 2;

/// Everything that can stop a simulation. Messages name the file, the document and the field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory given with `-f` could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Standard input could not be read.
    #[error("cannot read standard input")]
    ReadStdin(#[source] io::Error),
    /// A directory given with `-f` holds no manifest.
    #[error("{}: no *.yaml, *.yml or *.json files in this directory", path.display())]
    EmptyDirectory {
        /// The directory as given.
        path: PathBuf,
    },
    /// A YAML document that does not parse.
    #[error("{location}: invalid YAML")]
    Yaml {
        /// Where.
        location: Location,
        /// The parser's complaint (with line and column).
        #[source]
        source: serde_norway::Error,
    },
    /// A JSON document that does not parse.
    #[error("{location}: invalid JSON")]
    Json {
        /// Where.
        location: Location,
        /// The parser's complaint (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// An object whose fields do not have the types its kind requires.
    #[error("{location}: {object}: {field}")]
    Decode {
        /// Where.
        location: Location,
        /// `Kind ns/name`.
        object: String,
        /// JSON path of the field that failed, relative to the object.
        field: String,
        /// The deserializer's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// An object the CLI cannot simulate (no name, a pod without an IP, ...).
    #[error("{location}: {object}: {field}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// `Kind ns/name`, or `document` when the kind is unknown.
        object: String,
        /// JSON path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The engine refused an object (bad selector operator, bad CIDR, ...).
    #[error("{location}")]
    Rejected {
        /// Where.
        location: Location,
        /// The engine's complaint, which names the object and the field (boxed: it is large).
        #[source]
        source: Box<verdict_engine::Error>,
    },
    /// `--from` or `--to` names a pod that the input does not hold.
    #[error("{flag} {name}: no such pod in the input")]
    UnknownPod {
        /// `--from` or `--to`.
        flag: &'static str,
        /// `ns/name` as given.
        name: String,
    },
    /// `--from` and `--to` name the same endpoint. Upstream: a pod cannot block access to
    /// itself, and such traffic never leaves the pod, so there is nothing to simulate.
    #[error(
        "--from and --to are both {0}: traffic from a pod to itself never leaves it, and no policy applies to it"
    )]
    SameEndpoint(String),
    /// The two ends of a flow have no IP family in common.
    #[error("{from} and {to} have no IP family in common (IPv4 or IPv6)")]
    NoCommonFamily {
        /// The source as given.
        from: String,
        /// The destination as given.
        to: String,
    },
    /// Flags that make no sense together.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("cannot write output")]
    Output(#[source] io::Error),
    /// Serializing the JSON output failed (a bug).
    #[error("cannot serialize the JSON output")]
    Serialize(#[source] serde_json::Error),
    /// `tail`: the dashboard could not be reached or read.
    #[error("dashboard {url}")]
    Dashboard {
        /// Where it was looked for.
        url: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `tail`: the dashboard refused the request (a bad filter names the parameter).
    #[error("the dashboard answered {status}: {message}")]
    DashboardRejected {
        /// The HTTP status.
        status: u16,
        /// The dashboard's (or API server's) message.
        message: String,
    },
}

impl Error {
    /// The process exit code for this error: 2 for bad input or usage, 1 for internal errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Output(_) | Error::Serialize(_) | Error::Dashboard { .. } => EXIT_INTERNAL,
            _ => EXIT_USAGE,
        }
    }

    /// The error and all its causes on one line, separated by `: `.
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }
}

/// Displays an error with its causes; see [`Error::chain`].
pub struct Chain<'a>(&'a Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Result with the CLI's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_separate_bad_input_from_internal_errors() {
        let cases: [(&str, Error, u8); 3] = [
            ("usage", Error::Usage("x".into()), EXIT_USAGE),
            (
                "unknown pod",
                Error::UnknownPod {
                    flag: "--from",
                    name: "x/a".into(),
                },
                EXIT_USAGE,
            ),
            (
                "output",
                Error::Output(io::Error::other("disk full")),
                EXIT_INTERNAL,
            ),
        ];
        for (name, error, code) in cases {
            assert_eq!(error.exit_code(), code, "{name}");
        }
    }

    #[test]
    fn chain_appends_every_cause() {
        let error = Error::Read {
            path: "a.yaml".into(),
            source: io::Error::new(io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(error.chain().to_string(), "cannot read a.yaml: gone");
    }
}
