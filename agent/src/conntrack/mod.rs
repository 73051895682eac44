//! Strict mode: no established connection of a local selected pod that the current index
//! denies keeps its conntrack entry, so its next packet is judged again (and dropped) instead of
//! riding on `ct state established` accept.
//!
//! ```text
//!  watch<Arc<Index>> ─► at start: scan at once ─┐
//!                    ─► on change: wait COALESCE ┤
//!                                                ▼ for each selected local pod IP:
//!                                    dump ct where orig.src == ip   ┐ filtered in
//!                                    dump ct where reply.src == ip  ┘ the kernel
//!                                    select::denied(index) ──► delete each (tuple + id)
//! ```
//!
//! The scan at start catches what happened while no agent judged: connections admitted
//! unjudged (fail-open bypass, a queue overflow) or from the verdict cache, and connections that
//! a policy change made while the agent was down now denies. Later scans run only after the
//! index changed, and delete every denied entry, not only the newly denied ones, so a
//! connection admitted by a fail-open bypass while the agent runs goes at the next change.
//! Read [`select`] for the rule, [`message`] for the wire format, [`socket`] for the I/O.

pub mod message;
pub mod select;
pub mod socket;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, info, warn};
use verdict_engine::Index;

use crate::Result;
use crate::metrics::Metrics;
use message::Side;
use select::IndexJudge;

/// How long strict mode lets a burst of snapshots settle before scanning.
pub const COALESCE: Duration = Duration::from_millis(200);

/// What one scan did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Entries dumped (before de-duplication).
    pub examined: usize,
    /// Entries deleted.
    pub deleted: u64,
}

/// Deletes the conntrack entries of `node`'s selected pods that `index` denies.
///
/// # Errors
/// Any socket or kernel failure; entries deleted before it stay deleted.
pub fn scan(node: &str, index: &Index) -> Result<Scan> {
    let selected = index.selected_pod_ips(node);
    let ips: Vec<IpAddr> = selected
        .v4
        .iter()
        .copied()
        .map(IpAddr::V4)
        .chain(selected.v6.iter().copied().map(IpAddr::V6))
        .collect();
    if ips.is_empty() {
        return Ok(Scan::default());
    }
    let mut ct = socket::Conntrack::open()?;
    let mut entries = Vec::new();
    for ip in ips {
        for side in [Side::OrigSource, Side::ReplySource] {
            entries.extend(ct.dump(ip, side)?);
        }
    }
    let doomed = select::denied(&entries, &IndexJudge { index, node });
    let mut deleted = 0;
    for entry in &doomed {
        if ct.delete(entry)? {
            deleted += 1;
            debug!(flow = %entry.flow(), "strict mode: deleted a denied connection");
        }
    }
    Ok(Scan {
        examined: entries.len(),
        deleted,
    })
}

/// Runs strict mode until `index` closes: one scan as soon as there is an index (the agent's
/// start), then one after each (coalesced) index change. A failed scan is retried at the next
/// change.
pub async fn run(node: String, mut index: watch::Receiver<Option<Arc<Index>>>, metrics: Metrics) {
    info!("strict mode on: denied connections of local pods lose their conntrack entries");
    let mut first = true;
    loop {
        if !first {
            if index.changed().await.is_err() {
                return;
            }
            tokio::time::sleep(COALESCE).await;
        }
        let Some(current) = index.borrow_and_update().clone() else {
            first = false;
            continue;
        };
        let node = node.clone();
        let what = if first { "start" } else { "change" };
        first = false;
        match tokio::task::spawn_blocking(move || scan(&node, &current)).await {
            Ok(Ok(s)) => {
                metrics.conntrack_scan(s.deleted);
                if s.deleted > 0 || what == "start" {
                    info!(
                        deleted = s.deleted,
                        examined = s.examined,
                        after = what,
                        "strict mode scan"
                    );
                }
            }
            Ok(Err(e)) => {
                warn!(error = %e, after = what, "strict mode scan failed; retrying on the next change")
            }
            Err(e) => warn!(error = %e, "strict mode scan panicked"),
        }
    }
}
