//! The agent library's one error type: every I/O failure that is propagated with `?`.
//!
//! - `Nft*`, `NoQueueStatement`: programming the nftables ruleset ([`crate::ruleset`], and the
//!   verdict cache writer's batches).
//! - `Queue*`: starting the verdict workers on their NFQUEUEs ([`crate::queue`]).
//! - `Conntrack*`: strict mode's conntrack netlink socket ([`crate::conntrack`]).
//! - `Nflog*`: the verdict cache's nfnetlink_log group ([`crate::nflog`], [`crate::cache`]).
//! - `Kubeconfig`, `Client`, `Listen`, `Signal`, `TaskEnded`: wiring the agent together and
//!   keeping it running ([`crate::run`]).
//!
//! A packet that cannot be parsed is not an error here: [`crate::packet::ParseError`] is a
//! `Copy` classification on the hot path that gets the default verdict and a counter.

use std::net::SocketAddr;

use nix::errno::Errno;

/// Why a part of the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused an nftables batch (the batch left nothing behind).
    #[error(
        "nftables batch for table inet {table} ({what}) failed: {} (errno {errno})",
        Errno::from_raw(*.errno).desc()
    )]
    NftKernel {
        /// The table.
        table: String,
        /// What the batch did (`install`, `set update`, `queue probe`, ...).
        what: &'static str,
        /// The positive errno the kernel answered.
        errno: i32,
    },
    /// Talking netlink failed before the kernel could answer an nftables batch.
    #[error("nftables batch for table inet {table} ({what}) could not be sent")]
    NftNetlink {
        /// The table.
        table: String,
        /// What the batch did.
        what: &'static str,
        /// The socket error.
        #[source]
        source: rustables::error::QueryError,
    },
    /// rustables refused to build an nftables object (a missing name; a bug here).
    #[error("building nftables object {what}")]
    NftBuild {
        /// The object.
        what: &'static str,
        /// The builder error.
        #[source]
        source: rustables::error::BuilderError,
    },
    /// Neither the native queue statement nor the xt NFQUEUE target is accepted.
    #[error(
        "this kernel accepts neither the nft queue statement (errno {native}) nor the xt NFQUEUE \
         target through nft_compat (errno {compat}); enable CONFIG_NFT_QUEUE or CONFIG_NFT_COMPAT \
         with CONFIG_NETFILTER_XT_TARGET_NFQUEUE"
    )]
    NoQueueStatement {
        /// errno of the native probe.
        native: i32,
        /// errno of the compat probe.
        compat: i32,
    },

    /// Opening or configuring a verdict worker's nfnetlink_queue socket (or starting its
    /// thread) failed.
    #[error("starting the verdict workers: queue {queue}: {what}")]
    QueueSocket {
        /// Queue number.
        queue: u16,
        /// What failed (`bind` gets EPERM when another process holds the queue).
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The verdict workers' configuration is impossible.
    #[error("starting the verdict workers: invalid worker configuration: {0}")]
    QueueConfig(
        /// What is wrong with it.
        String,
    ),

    /// A conntrack netlink socket call failed.
    #[error("conntrack netlink: {what}")]
    ConntrackSocket {
        /// The call that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused a conntrack request.
    #[error(
        "conntrack netlink: the kernel refused the {what}: {} (errno {errno})",
        Errno::from_raw(*.errno).desc()
    )]
    ConntrackKernel {
        /// The request.
        what: &'static str,
        /// The errno (positive).
        errno: i32,
    },

    /// An nfnetlink_log socket call failed (or the kernel did not answer a config request in
    /// time).
    #[error("nflog netlink: could not {what}")]
    NflogSocket {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused an nfnetlink_log config request.
    #[error(
        "nflog netlink: the kernel refused to {what}: {} (errno {errno})",
        Errno::from_raw(*.errno).desc()
    )]
    NflogKernel {
        /// The request.
        what: &'static str,
        /// The errno (positive).
        errno: i32,
    },

    /// The kubeconfig could not be read or used.
    #[error("kubeconfig: {0}")]
    Kubeconfig(
        /// Which configuration, and why.
        String,
    ),
    /// The API client could not be built.
    #[error("building the Kubernetes client")]
    Client(
        /// The client error.
        #[source]
        kube::Error,
    ),
    /// A listen address could not be bound.
    #[error("listening on {addr} ({what})")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Which server.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A signal handler could not be installed.
    #[error("installing signal handlers")]
    Signal(
        /// The OS error.
        #[source]
        std::io::Error,
    ),
    /// A thread could not be started.
    #[error("starting the {name} thread")]
    SpawnThread {
        /// The thread's name.
        name: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The decision telemetry could not be set up (a bad sampler setting, an OTLP endpoint
    /// that is not a URI).
    #[error("setting up decision telemetry")]
    Telemetry(#[source] verdict_events::Error),
    /// A task the agent needs ended.
    #[error("the {0} task ended unexpectedly")]
    TaskEnded(
        /// Which task, and how it ended when that is known.
        String,
    ),
}

/// Result with the agent's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
