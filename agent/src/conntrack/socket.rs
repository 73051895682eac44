//! A blocking `NETLINK_NETFILTER` socket speaking the messages of [`message`].
//! Call it from `spawn_blocking`.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{MsgFlags, NetlinkAddr, recv, sendto, setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};

use super::message::{self, Entry, Reply, Side};
use crate::{Error, Result};

const ENOENT: i32 = 2;

/// An open ctnetlink socket in the agent's network namespace.
#[derive(Debug)]
pub struct Conntrack {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
    /// Dump parts the decoder could not read.
    pub unreadable: u64,
}

impl Conntrack {
    /// Opens and binds the socket.
    ///
    /// # Errors
    /// [`Error::ConntrackSocket`] when the socket cannot be created or configured (no
    /// CAP_NET_ADMIN, or no conntrack netlink support).
    pub fn open() -> Result<Self> {
        let io = |what: &'static str| {
            move |e: nix::Error| Error::ConntrackSocket {
                what,
                source: e.into(),
            }
        };
        let fd = crate::netlink::open_netfilter_socket().map_err(|(what, e)| io(what)(e))?;
        // A dump of a busy pod can be large; a short buffer would end it with ENOBUFS.
        setsockopt(&fd, sockopt::RcvBuf, &(4 << 20)).map_err(io("SO_RCVBUF"))?;
        // Never hang the scan on a lost reply.
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::seconds(5))
            .map_err(io("SO_RCVTIMEO"))?;
        Ok(Conntrack {
            fd,
            seq: 1,
            buf: vec![0; 1 << 17],
            unreadable: 0,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, msg: &[u8], what: &'static str) -> Result<()> {
        sendto(
            self.fd.as_raw_fd(),
            msg,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .map_err(|e| Error::ConntrackSocket {
            what,
            source: e.into(),
        })?;
        Ok(())
    }

    fn receive(&mut self, what: &'static str) -> Result<Vec<Reply>> {
        let n = recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()).map_err(|e| {
            Error::ConntrackSocket {
                what,
                source: e.into(),
            }
        })?;
        Ok(message::parse(&self.buf[..n]))
    }

    /// Every entry whose `side` address is `ip`.
    ///
    /// # Errors
    /// [`Error::ConntrackSocket`] on I/O failure, [`Error::ConntrackKernel`] when the kernel
    /// refuses the dump (a kernel before 5.9 answers EOPNOTSUPP to the filter).
    pub fn dump(&mut self, ip: IpAddr, side: Side) -> Result<Vec<Entry>> {
        let seq = self.next_seq();
        self.send(&message::dump_request(seq, ip, side), "send dump request")?;
        let mut entries = Vec::new();
        loop {
            for reply in self.receive("receive dump")? {
                match reply {
                    Reply::Entry(e) => entries.push(e),
                    Reply::Unreadable => self.unreadable += 1,
                    Reply::Done => return Ok(entries),
                    Reply::Ack { errno, .. } if errno < 0 => {
                        return Err(Error::ConntrackKernel {
                            what: "dump",
                            errno: -errno,
                        });
                    }
                    Reply::Ack { .. } | Reply::Other => {}
                }
            }
        }
    }

    /// Deletes one entry; `Ok(false)` if it was already gone.
    ///
    /// # Errors
    /// [`Error::ConntrackSocket`] on I/O failure, [`Error::ConntrackKernel`] for any refusal but
    /// ENOENT.
    pub fn delete(&mut self, entry: &Entry) -> Result<bool> {
        let seq = self.next_seq();
        self.send(&message::delete_request(seq, entry), "send delete")?;
        loop {
            for reply in self.receive("receive delete ack")? {
                if let Reply::Ack { seq: s, errno } = reply {
                    if s != seq {
                        continue;
                    }
                    return match errno {
                        0 => Ok(true),
                        e if e == -ENOENT => Ok(false),
                        e => Err(Error::ConntrackKernel {
                            what: "delete",
                            errno: -e,
                        }),
                    };
                }
            }
        }
    }
}
