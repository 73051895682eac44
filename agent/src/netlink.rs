//! The one piece of socket setup that the hand-written netfilter netlink clients (strict
//! mode's conntrack, the verdict cache's nflog reader) share.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, socket,
};

/// Opens a `NETLINK_NETFILTER` socket in the calling thread's network namespace and binds it
/// with port id 0 (the kernel assigns one). On failure, says which of the two calls failed.
pub(crate) fn open_netfilter_socket() -> Result<OwnedFd, (&'static str, nix::Error)> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .map_err(|e| ("socket(AF_NETLINK, NETLINK_NETFILTER)", e))?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| ("bind the netlink socket", e))?;
    Ok(fd)
}
