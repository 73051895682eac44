//! Transport headers: only the ports are read, but the whole fixed header must be present.
//! Protocols the policy APIs cannot name (GRE, ESP, AH, DCCP, UDP-Lite, IPv6 `no next header`,
//! ...) are flows without ports, [`Protocol::Other`]: nothing of their header is read.

use verdict_engine::Protocol;

use super::{Header, ParseError, proto};

/// `(protocol, source port, destination port)`; ICMP, ICMPv6 and every protocol other than
/// TCP, UDP and SCTP have no ports (0, 0).
pub(super) fn ports(protocol: u8, l4: &[u8]) -> Result<(Protocol, u16, u16), ParseError> {
    let (kind, header, min_len) = match protocol {
        proto::TCP => (Protocol::Tcp, Header::Tcp, 20),
        proto::UDP => (Protocol::Udp, Header::Udp, 8),
        proto::SCTP => (Protocol::Sctp, Header::Sctp, 12),
        proto::ICMP | proto::ICMPV6 => (Protocol::Icmp, Header::Icmp, 8),
        other => return Ok((Protocol::from_number(other), 0, 0)),
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

/// The TCP SYN's sequence number, or the SCTP INIT chunk's initiate tag (RFC 9260 3.3.2), when
/// the header carries one; see [`super::parse_first_packet`].
pub(super) fn connection_token(protocol: u8, l4: &[u8]) -> Option<u32> {
    let word = |at: usize| {
        l4.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match protocol {
        // Flags byte 13, SYN = 0x02; sequence number at 4..8.
        proto::TCP if l4.get(13).is_some_and(|f| f & 0x02 != 0) => word(4),
        // The first chunk follows the 12-byte common header: type 1 is INIT, whose initiate
        // tag follows the 4-byte chunk header.
        proto::SCTP if l4.get(12) == Some(&1) => word(16),
        _ => None,
    }
}
