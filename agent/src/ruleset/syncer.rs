//! Keeps the kernel's table equal to the desired state, over netlink.

use std::time::Instant;

use tracing::{debug, info, warn};
use verdict_engine::SelectedIps;

use super::detect::send;
use super::diff::ElementDiff;
use super::model::{QueueStatement, Ruleset, RulesetConfig};
use super::{detect_queue_statement, encode};
use crate::Result;

/// What one [`Syncer::sync`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Elements added.
    pub added: usize,
    /// Elements removed.
    pub removed: usize,
    /// Netlink batches sent.
    pub batches: usize,
    /// The incremental update failed and the whole table was reconciled instead.
    pub resynced: bool,
}

/// Owns the agent's nftables table.
///
/// Every method blocks on netlink (a few milliseconds); call it from a blocking thread
/// (`tokio::task::spawn_blocking` or a dedicated thread), not from an async task.
///
/// # Guarantees
/// - The table is never deleted or emptied while the agent runs: [`Syncer::install_or_adopt`]
///   reconciles an existing table in one atomic batch, so connections established under an
///   earlier agent keep flowing (they match `ct state established` first).
/// - [`Syncer::sync`] sends only the set elements that changed.
#[derive(Debug)]
pub struct Syncer {
    ruleset: Ruleset,
    current: SelectedIps,
}

impl Syncer {
    /// Detects the queue statement, then creates the table (or adopts the one an earlier agent
    /// left) holding exactly `ips`.
    ///
    /// # Errors
    /// Detection errors (see [`detect_queue_statement`]) and refused batches.
    pub fn install_or_adopt(cfg: &RulesetConfig, ips: &SelectedIps) -> Result<Syncer> {
        let statement = detect_queue_statement(&cfg.table_name)?;
        Self::install_with(cfg, statement, ips)
    }

    /// Like [`Syncer::install_or_adopt`] with a known queue statement.
    ///
    /// # Errors
    /// A refused batch.
    pub fn install_with(
        cfg: &RulesetConfig,
        statement: QueueStatement,
        ips: &SelectedIps,
    ) -> Result<Syncer> {
        let mut syncer = Syncer {
            ruleset: Ruleset::desired(cfg, statement),
            current: SelectedIps::default(),
        };
        syncer.reconcile(ips)?;
        info!(
            table = %cfg.table_name,
            statement = %statement,
            v4 = ips.v4.len(),
            v6 = ips.v6.len(),
            "nftables table installed"
        );
        Ok(syncer)
    }

    /// Rewrites the whole table (chains, rules and both sets) to the desired state.
    ///
    /// # Errors
    /// A refused batch; the kernel keeps what it had before that batch.
    pub fn reconcile(&mut self, ips: &SelectedIps) -> Result<usize> {
        let batches = encode::install(&self.ruleset, ips)?;
        let n = batches.len();
        for batch in batches {
            send(batch, &self.ruleset.table, "install")?;
        }
        self.current = ips.clone();
        Ok(n)
    }

    /// Makes the sets hold `desired`, sending only the difference. If the kernel refuses the
    /// update (someone edited the table), reconciles the whole table instead.
    ///
    /// # Errors
    /// When the reconcile fails too.
    pub fn sync(&mut self, desired: &SelectedIps) -> Result<SyncOutcome> {
        let diff = ElementDiff::between(&self.current, desired);
        if diff.is_empty() {
            return Ok(SyncOutcome::default());
        }
        let started = Instant::now();
        let added = diff.add_v4.len() + diff.add_v6.len();
        let removed = diff.del_v4.len() + diff.del_v6.len();
        let batches = encode::update(&self.ruleset.table, &diff)?;
        let n = batches.len();
        let mut failure = None;
        for batch in batches {
            if let Err(e) = send(batch, &self.ruleset.table, "set update") {
                failure = Some(e);
                break;
            }
        }
        if let Some(e) = failure {
            warn!(error = %e, "incremental set update refused; reconciling the whole table");
            let n = self.reconcile(desired)?;
            return Ok(SyncOutcome {
                added,
                removed,
                batches: n,
                resynced: true,
            });
        }
        self.current = desired.clone();
        debug!(added, removed, batches = n, elapsed = ?started.elapsed(), "pod sets updated");
        Ok(SyncOutcome {
            added,
            removed,
            batches: n,
            resynced: false,
        })
    }

    /// Deletes the table (agent uninstall; not done on a normal exit, so that a restarting
    /// agent finds the table in place).
    ///
    /// # Errors
    /// A refused batch.
    pub fn remove(self) -> Result<()> {
        send(
            encode::remove(&self.ruleset.table),
            &self.ruleset.table,
            "remove",
        )
    }

    /// The queue statement in use.
    pub fn queue_statement(&self) -> QueueStatement {
        self.ruleset.queue.statement
    }

    /// The desired ruleset (chains and rules).
    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    /// The set contents the kernel holds, as last written.
    pub fn current(&self) -> &SelectedIps {
        &self.current
    }
}
