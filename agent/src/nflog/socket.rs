//! The I/O: a blocking `NETLINK_NETFILTER` socket that sends requests and receives datagrams.
//! It knows nothing about their content (that is [`super::wire`]).

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, NetlinkAddr, recv, sendto, setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};
use tracing::debug;

use crate::{Error, Result};

/// Receive buffer the socket asks for: room for bursts of log batches while the reader is busy.
const RCVBUF_BYTES: usize = 8 << 20;

/// The shortest receive timeout: `SO_RCVTIMEO` 0 would mean "block forever".
const MIN_RECV_TIMEOUT: Duration = Duration::from_millis(1);
/// The longest receive timeout (keeps the `timeval` in range).
const MAX_RECV_TIMEOUT: Duration = Duration::from_secs(3600);

/// What one receive gave.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Received {
    /// A datagram of this many bytes is at the start of the buffer; `truncated` when it was
    /// longer than the buffer (the rest is lost).
    Datagram {
        /// Bytes in the buffer.
        len: usize,
        /// The datagram did not fit.
        truncated: bool,
    },
    /// Nothing arrived before the timeout.
    TimedOut,
    /// A signal interrupted the wait.
    Interrupted,
    /// `ENOBUFS`: the socket buffer was full and the kernel dropped messages.
    Overrun,
}

/// An open, bound netfilter netlink socket in the network namespace of the calling thread.
#[derive(Debug)]
pub(super) struct NetlinkSocket {
    fd: OwnedFd,
}

impl NetlinkSocket {
    /// Opens and binds the socket, enlarges its receive buffer (best effort) and sets the
    /// receive timeout (clamped to 1 ms ..= 1 h).
    pub(super) fn open(recv_timeout: Duration) -> Result<Self> {
        let io = |what: &'static str| {
            move |e: Errno| Error::NflogSocket {
                what,
                source: e.into(),
            }
        };
        let fd = crate::netlink::open_netfilter_socket().map_err(|(what, e)| io(what)(e))?;
        // Best effort, as for the queues: SO_RCVBUFFORCE passes rmem_max but needs
        // CAP_NET_ADMIN; SO_RCVBUF is capped at rmem_max.
        if let Err(e) = setsockopt(&fd, sockopt::RcvBufForce, &RCVBUF_BYTES) {
            debug!(error = %e, "nflog: SO_RCVBUFFORCE refused; trying SO_RCVBUF");
            if let Err(e) = setsockopt(&fd, sockopt::RcvBuf, &RCVBUF_BYTES) {
                debug!(error = %e, "nflog: SO_RCVBUF refused; keeping the default buffer");
            }
        }
        let micros = recv_timeout
            .clamp(MIN_RECV_TIMEOUT, MAX_RECV_TIMEOUT)
            .as_micros();
        let timeval = TimeVal::microseconds(i64::try_from(micros).unwrap_or(i64::MAX));
        setsockopt(&fd, sockopt::ReceiveTimeout, &timeval).map_err(io("set SO_RCVTIMEO"))?;
        Ok(NetlinkSocket { fd })
    }

    /// A second descriptor for the same socket, standing in for the copy a forked child holds.
    #[cfg(test)]
    pub(super) fn duplicate(&self) -> std::io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// Sends one request to the kernel.
    pub(super) fn send(&self, msg: &[u8], what: &'static str) -> Result<()> {
        sendto(
            self.fd.as_raw_fd(),
            msg,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .map_err(|e| Error::NflogSocket {
            what,
            source: e.into(),
        })?;
        Ok(())
    }

    /// Receives one datagram into `buf`, waiting up to the receive timeout.
    pub(super) fn recv(&self, buf: &mut [u8], what: &'static str) -> Result<Received> {
        // With MSG_TRUNC, netlink returns the datagram's real length even when it did not fit.
        match recv(self.fd.as_raw_fd(), buf, MsgFlags::MSG_TRUNC) {
            Ok(n) => Ok(Received::Datagram {
                len: n.min(buf.len()),
                truncated: n > buf.len(),
            }),
            Err(Errno::EAGAIN) => Ok(Received::TimedOut),
            Err(Errno::EINTR) => Ok(Received::Interrupted),
            Err(Errno::ENOBUFS) => Ok(Received::Overrun),
            Err(e) => Err(Error::NflogSocket {
                what,
                source: e.into(),
            }),
        }
    }
}
