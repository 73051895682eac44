//! Strict mode: when a policy or label change newly denies an established connection, delete
//! exactly that connection's conntrack entry, so that its next packet is judged again (and
//! dropped) instead of riding on `ct state established` accept.
//!
//! ```text
//!  watch<Arc<Index>> ──change──► wait COALESCE ──► for each selected local pod IP:
//!        (old, new)                                dump ct where orig.src == ip   ┐ filtered in
//!                                                  dump ct where reply.src == ip  ┘ the kernel
//!                                  select::newly_denied(old, new) ──► delete each (tuple + id)
//! ```
//!
//! Nothing runs on a timer: a scan happens only after the index changed. Read [`select`] for the
//! rule, [`message`] for the wire format, [`socket`] for the I/O.

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

/// Deletes the conntrack entries of `node`'s pods that `old` allowed and `new` denies.
///
/// # Errors
/// Any socket or kernel failure; entries deleted before it stay deleted.
pub fn scan(node: &str, old: &Index, new: &Index) -> Result<Scan> {
    let selected = new.selected_pod_ips(node);
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
    let doomed = select::newly_denied(
        &entries,
        &IndexJudge { index: old, node },
        &IndexJudge { index: new, node },
    );
    let mut deleted = 0;
    for entry in &doomed {
        if ct.delete(entry)? {
            deleted += 1;
            if let Some(flow) = entry.flow() {
                debug!(%flow, "strict mode: deleted a newly denied connection");
            }
        }
    }
    Ok(Scan {
        examined: entries.len(),
        deleted,
    })
}

/// Runs strict mode until `index` closes: one scan after each (coalesced) index change.
pub async fn run(node: String, mut index: watch::Receiver<Option<Arc<Index>>>, metrics: Metrics) {
    let mut previous = index.borrow_and_update().clone();
    info!("strict mode on: newly denied connections lose their conntrack entries");
    while index.changed().await.is_ok() {
        tokio::time::sleep(COALESCE).await;
        let current = index.borrow_and_update().clone();
        if let (Some(old), Some(new)) = (previous.clone(), current.clone()) {
            let node = node.clone();
            match tokio::task::spawn_blocking(move || scan(&node, &old, &new)).await {
                Ok(Ok(s)) => {
                    metrics.conntrack_scan(s.deleted);
                    if s.deleted > 0 {
                        info!(
                            deleted = s.deleted,
                            examined = s.examined,
                            "strict mode scan"
                        );
                    }
                }
                Ok(Err(e)) => {
                    // Keep the older snapshot so that the next scan covers this change too.
                    warn!(error = %e, "strict mode scan failed; retrying on the next change");
                    continue;
                }
                Err(e) => warn!(error = %e, "strict mode scan panicked"),
            }
        }
        previous = current;
    }
}
