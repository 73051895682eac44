//! The packet parser: the first bytes of a queued IP packet in, a [`Flow`] or a typed
//! [`ParseError`] out.
//!
//! ```text
//!  &[u8] (NFQUEUE payload, copy range = headers only)
//!    │
//!    ├─ version 4 ─► ip::ipv4 ──┐   IHL, fragment offset
//!    └─ version 6 ─► ip::ipv6 ──┤   walks hop-by-hop, routing, fragment, dest-opts, AH
//!                               ▼
//!                  transport::ports (TCP, UDP, SCTP ports; ICMP / ICMPv6 and any other
//!                               │      protocol → Protocol::Icmp / Protocol::Other, port 0)
//!                               ▼
//!                             Flow
//! ```
//!
//! Pure and total: every read is bounds-checked (`get`, never indexing past a checked length),
//! nothing allocates, and no input makes it panic (the fuzz target in `agent/fuzz` checks that). The
//! caller decides what a [`ParseError`] means; the verdict workers apply the configured default
//! verdict and count the error by [`ParseError::kind`].
//!
//! Protocols other than TCP, UDP, SCTP and ICMP are not an error: they become a flow without
//! ports ([`Protocol::Other`](verdict_engine::Protocol::Other) with the protocol number), which only port-less rules match, so a
//! pod isolated by a default deny drops GRE or ESP and a port-less allow admits it (see the
//! engine's `flow` module). Only packets that cannot be read are errors.
//!
//! Non-first fragments carry no transport header, so they are an error
//! ([`ParseError::NonFirstFragment`]) and get the default verdict. In practice they never reach
//! the queue: conntrack defragments before the filter hooks.
//! Start reading at [`parse`].

mod ip;
mod transport;

#[cfg(test)]
mod tests;

use verdict_engine::Flow;

/// Why a packet could not be turned into a [`Flow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The buffer ends before a header that must be there.
    #[error("packet truncated in the {0} header")]
    Truncated(Header),
    /// The IP version nibble is neither 4 nor 6.
    #[error("unknown IP version {0}")]
    BadVersion(u8),
    /// A header length field is impossible (IPv4 IHL < 5, TCP data offset < 5, ...).
    #[error("invalid {0} header length")]
    BadHeaderLength(Header),
    /// A fragment other than the first: it has no transport header.
    #[error("non-first fragment")]
    NonFirstFragment,
    /// More IPv6 extension headers than any real packet carries.
    #[error("too many IPv6 extension headers")]
    TooManyExtensionHeaders,
}

/// The header a [`ParseError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// IPv4 base header.
    Ipv4,
    /// IPv6 fixed header.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Extension,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP common header.
    Sctp,
    /// ICMP or ICMPv6.
    Icmp,
}

impl std::fmt::Display for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Header::Ipv4 => "IPv4",
            Header::Ipv6 => "IPv6",
            Header::Ipv6Extension => "IPv6 extension",
            Header::Tcp => "TCP",
            Header::Udp => "UDP",
            Header::Sctp => "SCTP",
            Header::Icmp => "ICMP",
        })
    }
}

/// Coarse error classes, for counters (`malformed` vs `unsupported`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bytes are not a valid IP packet.
    Malformed,
    /// A valid packet this parser does not judge (a non-first fragment).
    Unsupported,
}

impl ParseError {
    /// Whether the packet is broken or merely outside what policies can express.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ParseError::NonFirstFragment => ErrorKind::Unsupported,
            _ => ErrorKind::Malformed,
        }
    }
}

/// IANA protocol numbers this parser names.
pub(crate) mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// Parses the start of an IPv4 or IPv6 packet into the flow it opens.
///
/// Only the headers need to be present (the buffer may be cut by the queue's copy range); the
/// IP length fields are not checked against the buffer length for that reason.
///
/// # Errors
/// A [`ParseError`] for anything that is not a first (or only) fragment of an IPv4/IPv6 packet
/// with its network headers present, and, for TCP, UDP, SCTP, ICMP and ICMPv6, its transport
/// header too.
pub fn parse(packet: &[u8]) -> Result<Flow, ParseError> {
    parse_first_packet(packet).map(|(flow, _)| flow)
}

/// [`parse`], plus what tells this connection from an earlier one on the same 5-tuple, as
/// every node on its path sees it: a TCP SYN's initial sequence number, or an SCTP INIT's
/// initiate tag (the telemetry derives the connection's trace id from it). `None` for other
/// packets, and when the copy range cut the SCTP chunk off.
///
/// # Errors
/// As [`parse`].
pub fn parse_first_packet(packet: &[u8]) -> Result<(Flow, Option<u32>), ParseError> {
    let first = *packet.first().ok_or(ParseError::Truncated(Header::Ipv4))?;
    let l3 = match first >> 4 {
        4 => ip::ipv4(packet)?,
        6 => ip::ipv6(packet)?,
        v => return Err(ParseError::BadVersion(v)),
    };
    let (protocol, src_port, dst_port) = transport::ports(l3.protocol, l3.payload)?;
    let flow = Flow {
        src_ip: l3.src,
        src_port,
        dst_ip: l3.dst,
        dst_port,
        protocol,
    };
    Ok((flow, transport::connection_token(l3.protocol, l3.payload)))
}
