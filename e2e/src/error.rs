//! The harness's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while starting, driving or tearing down a test cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A control-plane or helper binary is missing from the binary cache.
    #[error("binary {name} not found at {path} (run e2e/k8s/build.sh, or set VERDICT_BIN_DIR)")]
    MissingBinary {
        /// Binary name, e.g. `kube-apiserver`.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file or directory operation failed.
    #[error("{what} {path}")]
    Io {
        /// What was being done, e.g. "writing kubeconfig".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Spawning a process failed.
    #[error("spawning {program}")]
    Spawn {
        /// Program name.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A command ran and exited unsuccessfully.
    #[error("command `{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status as text.
        status: String,
        /// Its standard error (trimmed).
        stderr: String,
    },
    /// A component exited while we were waiting for it.
    #[error("{component} exited early ({status}); see its log {log}")]
    Exited {
        /// Component name.
        component: String,
        /// Exit status as text.
        status: String,
        /// Its log file.
        log: PathBuf,
    },
    /// Something did not happen in time.
    #[error("timed out after {seconds:.1}s waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        seconds: f64,
    },
    /// Generating keys or certificates failed.
    #[error("generating {what}")]
    Pki {
        /// Which key or certificate.
        what: &'static str,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// Building a client from the generated kubeconfig failed.
    #[error("building a kube client for {user}")]
    ClientConfig {
        /// The identity the client was for.
        user: String,
        /// The kube error.
        #[source]
        source: kube::Error,
    },
    /// An API request failed.
    #[error("{what}")]
    Kube {
        /// The request, e.g. "creating pod x/a".
        what: String,
        /// The kube error.
        #[source]
        source: kube::Error,
    },
    /// A YAML or JSON document could not be read or written.
    #[error("parsing {what}")]
    Yaml {
        /// Which document.
        what: String,
        /// The parser error.
        #[source]
        source: serde_norway::Error,
    },
    /// A JSON document could not be read or written.
    #[error("encoding {what}")]
    Json {
        /// Which document.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A system call inside a network namespace failed.
    #[error("{what} in netns {netns}")]
    Netns {
        /// What was being done.
        what: String,
        /// The namespace.
        netns: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A port on 127.0.0.1 that must be bound is taken (or cannot be bound).
    #[error(
        "port 127.0.0.1:{port} is in use or cannot be bound ({what}); free it or choose another port"
    )]
    PortInUse {
        /// The port.
        port: u16,
        /// What wanted it.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A kernel feature the harness needs is missing.
    #[error("the kernel lacks {feature}: {detail}")]
    MissingKernelFeature {
        /// The feature (`network namespaces`, `nfnetlink_queue`).
        feature: &'static str,
        /// What was checked and what to do.
        detail: String,
    },
    /// A name, address or argument the caller gave cannot be used.
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn netns(what: impl Into<String>, netns: &str, source: std::io::Error) -> Self {
        Error::Netns {
            what: what.into(),
            netns: netns.to_string(),
            source,
        }
    }
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
