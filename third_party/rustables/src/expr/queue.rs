// kube-verdict patch: the `queue` and nft_compat `target` expressions (see PATCHES.md).

use rustables_macros::nfnetlink_struct;

use super::Expression;
use crate::sys::{
    NFTA_QUEUE_FLAGS, NFTA_QUEUE_NUM, NFTA_QUEUE_TOTAL, NFTA_TARGET_INFO, NFTA_TARGET_NAME,
    NFTA_TARGET_REV,
};

/// `NFT_QUEUE_FLAG_BYPASS`: accept the packet when no program listens on the queue.
pub const QUEUE_FLAG_BYPASS: u16 = 0x1;
/// `NFT_QUEUE_FLAG_CPU_FANOUT`: pick the queue `num + cpu % total` instead of a flow hash.
pub const QUEUE_FLAG_CPU_FANOUT: u16 = 0x2;

/// The native nftables `queue` statement (`CONFIG_NFT_QUEUE`): hands the packet to the
/// nfnetlink_queue `num`, or to one of `num..num+total` when `total > 1`.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
#[nfnetlink_struct]
pub struct Queue {
    #[field(NFTA_QUEUE_NUM)]
    num: u16,
    #[field(NFTA_QUEUE_TOTAL)]
    total: u16,
    #[field(NFTA_QUEUE_FLAGS)]
    flags: u16,
}

impl Queue {
    /// Queue to `num..num+total` with `flags` (`QUEUE_FLAG_*`).
    pub fn new(num: u16, total: u16, flags: u16) -> Self {
        Queue::default()
            .with_num(num)
            .with_total(total)
            .with_flags(flags)
    }
}

impl Expression for Queue {
    fn get_name() -> &'static str {
        "queue"
    }
}

/// An x_tables target run through nft_compat (`iptables-nft -j TARGET`). The info blob is the
/// target's own C struct in host byte order, padded to 8 bytes as x_tables expects.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
#[nfnetlink_struct]
pub struct Target {
    // Not called `name`: the generated `get_name(&self)` would shadow `Expression::get_name`.
    #[field(NFTA_TARGET_NAME)]
    target_name: Vec<u8>,
    #[field(NFTA_TARGET_REV)]
    rev: u32,
    #[field(NFTA_TARGET_INFO)]
    info: Vec<u8>,
}

impl Target {
    /// A target by name (NUL-terminated here, as the kernel's NLA_NUL_STRING policy requires),
    /// revision and raw info blob.
    pub fn new(name: &str, rev: u32, info: Vec<u8>) -> Self {
        let mut target_name = name.as_bytes().to_vec();
        target_name.push(0);
        Target::default()
            .with_target_name(target_name)
            .with_rev(rev)
            .with_info(info)
    }

    /// `-j NFQUEUE --queue-balance num:num+total-1 [--queue-bypass] [--queue-cpu-fanout]`:
    /// revision 3 with `struct xt_NFQ_info_v3 { u16 queuenum; u16 queues_total; u16 flags; }`.
    pub fn nfqueue(num: u16, total: u16, flags: u16) -> Self {
        let mut info = Vec::with_capacity(8);
        info.extend_from_slice(&num.to_ne_bytes());
        info.extend_from_slice(&total.to_ne_bytes());
        info.extend_from_slice(&flags.to_ne_bytes());
        info.resize(8, 0);
        Target::new("NFQUEUE", 3, info)
    }
}

impl Expression for Target {
    fn get_name() -> &'static str {
        "target"
    }
}
