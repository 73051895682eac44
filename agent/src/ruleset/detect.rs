//! Which queue statement this kernel takes, found by asking it.

use tracing::{info, warn};

use super::encode;
use super::model::QueueStatement;
use crate::{Error, Result};

/// errno from a batch: `Ok(())`, `Err(Some(errno))` when the kernel refused it, or a socket
/// error.
pub(crate) fn send(batch: rustables::Batch, table: &str, what: &'static str) -> Result<()> {
    match batch.send() {
        Ok(()) => Ok(()),
        Err(rustables::error::QueryError::NetlinkError(e)) => Err(Error::NftKernel {
            table: table.to_owned(),
            what,
            errno: e.error.abs(),
        }),
        Err(source) => Err(Error::NftNetlink {
            table: table.to_owned(),
            what,
            source,
        }),
    }
}

/// Probes the running kernel: native `queue` first, then the xt `NFQUEUE` target through
/// nft_compat. Each probe is one batch that creates a scratch table (`<table_name>-probe`)
/// with a regular chain and one rule, then deletes it, so nothing is left either way.
///
/// # Errors
/// [`Error::NoQueueStatement`] when neither is accepted; [`Error::NftKernel`] with `EPERM` when
/// the process lacks CAP_NET_ADMIN; [`Error::NftNetlink`] when netlink itself fails.
pub fn detect_queue_statement(table_name: &str) -> Result<QueueStatement> {
    let scratch = format!("{table_name}-probe");
    let try_one = |statement| send(encode::probe(&scratch, statement)?, &scratch, "queue probe");
    let native = match try_one(QueueStatement::Native) {
        Ok(()) => {
            info!(statement = "native", "queue statement: nft queue");
            return Ok(QueueStatement::Native);
        }
        Err(Error::NftKernel { errno, .. }) if errno != libc_errno::EPERM => errno,
        Err(e) => return Err(e),
    };
    match try_one(QueueStatement::XtCompat) {
        Ok(()) => {
            warn!(
                statement = "xt-compat",
                native_errno = native,
                "queue statement: this kernel has no nft queue (CONFIG_NFT_QUEUE); using the xt \
                 NFQUEUE target through nft_compat"
            );
            Ok(QueueStatement::XtCompat)
        }
        Err(Error::NftKernel { errno, .. }) if errno != libc_errno::EPERM => {
            Err(Error::NoQueueStatement {
                native,
                compat: errno,
            })
        }
        Err(e) => Err(e),
    }
}

mod libc_errno {
    pub const EPERM: i32 = 1;
}
