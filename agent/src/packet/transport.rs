//! Transport headers: only the ports are read, but the whole fixed header must be present.

use verdict_engine::Protocol;

use super::{Header, ParseError, proto};

/// `(protocol, source port, destination port)`; ICMP and ICMPv6 have no ports (0, 0).
pub(super) fn ports(protocol: u8, l4: &[u8]) -> Result<(Protocol, u16, u16), ParseError> {
    let (kind, header, min_len) = match protocol {
        proto::TCP => (Protocol::Tcp, Header::Tcp, 20),
        proto::UDP => (Protocol::Udp, Header::Udp, 8),
        proto::SCTP => (Protocol::Sctp, Header::Sctp, 12),
        proto::ICMP | proto::ICMPV6 => (Protocol::Icmp, Header::Icmp, 8),
        other => return Err(ParseError::UnsupportedProtocol(other)),
    };
    let fixed = l4.get(..min_len).ok_or(ParseError::Truncated(header))?;
    if protocol == proto::TCP && fixed[12] >> 4 < 5 {
        return Err(ParseError::BadHeaderLength(Header::Tcp));
    }
    if kind == Protocol::Icmp {
        return Ok((kind, 0, 0));
    }
    Ok((
        kind,
        u16::from_be_bytes([fixed[0], fixed[1]]),
        u16::from_be_bytes([fixed[2], fixed[3]]),
    ))
}
