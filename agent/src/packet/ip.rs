//! IPv4 and IPv6 network headers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Header, ParseError};

/// What the network layer tells the transport parser.
#[derive(Debug)]
pub(super) struct Network<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol number (after IPv6 extension headers).
    pub protocol: u8,
    /// The bytes after the network headers (possibly cut short by the copy range).
    pub payload: &'a [u8],
}

/// IPv6 extension header numbers.
mod ext {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTS: u8 = 60;
}

/// Real packets carry a handful; this only bounds the walk.
const MAX_EXTENSION_HEADERS: usize = 16;

fn array<const N: usize>(bytes: &[u8], at: usize, header: Header) -> Result<[u8; N], ParseError> {
    bytes
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(ParseError::Truncated(header))
}

/// RFC 791 header: IHL in 32-bit words (5..=15), flags+fragment offset at byte 6.
pub(super) fn ipv4(packet: &[u8]) -> Result<Network<'_>, ParseError> {
    let base: [u8; 20] = array(packet, 0, Header::Ipv4)?;
    let ihl = usize::from(base[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(ParseError::BadHeaderLength(Header::Ipv4));
    }
    let payload = packet
        .get(ihl..)
        .ok_or(ParseError::Truncated(Header::Ipv4))?;
    let fragment_offset = u16::from_be_bytes([base[6], base[7]]) & 0x1fff;
    if fragment_offset != 0 {
        return Err(ParseError::NonFirstFragment);
    }
    let src: [u8; 4] = array(&base, 12, Header::Ipv4)?;
    let dst: [u8; 4] = array(&base, 16, Header::Ipv4)?;
    Ok(Network {
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        protocol: base[9],
        payload,
    })
}

/// RFC 8200 header (40 bytes) followed by any chain of extension headers. Hop-by-hop, routing
/// and destination options are `(len + 1) * 8` bytes; AH (RFC 4302) is `(len + 2) * 4`; the
/// fragment header is 8 bytes and ends the walk unless it is a first fragment.
pub(super) fn ipv6(packet: &[u8]) -> Result<Network<'_>, ParseError> {
    let base: [u8; 40] = array(packet, 0, Header::Ipv6)?;
    let src: [u8; 16] = array(&base, 8, Header::Ipv6)?;
    let dst: [u8; 16] = array(&base, 24, Header::Ipv6)?;
    let mut next = base[6];
    let mut rest = packet.get(40..).unwrap_or_default();
    for _ in 0..MAX_EXTENSION_HEADERS {
        // Every extension header starts with the next-header byte.
        let (following, len) = match next {
            ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS => {
                let [following, hdr_len] = array(rest, 0, Header::Ipv6Extension)?;
                (following, (usize::from(hdr_len) + 1) * 8)
            }
            ext::AUTH => {
                let [following, payload_len] = array(rest, 0, Header::Ipv6Extension)?;
                (following, (usize::from(payload_len) + 2) * 4)
            }
            ext::FRAGMENT => {
                let frag: [u8; 8] = array(rest, 0, Header::Ipv6Extension)?;
                if u16::from_be_bytes([frag[2], frag[3]]) >> 3 != 0 {
                    return Err(ParseError::NonFirstFragment);
                }
                (frag[0], 8)
            }
            protocol => {
                return Ok(Network {
                    src: IpAddr::V6(Ipv6Addr::from(src)),
                    dst: IpAddr::V6(Ipv6Addr::from(dst)),
                    protocol,
                    payload: rest,
                });
            }
        };
        next = following;
        rest = rest
            .get(len..)
            .ok_or(ParseError::Truncated(Header::Ipv6Extension))?;
    }
    Err(ParseError::TooManyExtensionHeaders)
}
