//! SCTP INIT packets, built and parsed by hand (pure).
//!
//! This test kernel has no SCTP sockets (`CONFIG_IP_SCTP` off), but conntrack tracks SCTP and raw
//! IPv4 sockets with protocol 132 work. An SCTP probe therefore sends an INIT chunk over a raw
//! socket from the source netns, and counts as reachable when a raw socket in the destination
//! netns receives it. The INIT's *initiate tag* is a per-probe nonce that ties the two ends
//! together. Layout: RFC 9260 §3 (common header) and §3.3.2 (INIT).

use std::net::Ipv4Addr;

/// IANA protocol number of SCTP.
pub const IPPROTO_SCTP: i32 = 132;
const CHUNK_INIT: u8 = 1;
const COMMON_HEADER_LEN: usize = 12;
const INIT_CHUNK_LEN: usize = 20;

/// CRC32c (Castagnoli), the SCTP checksum (RFC 9260 Appendix A). Bitwise, reflected.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc: u32 = !0;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An SCTP packet (no IP header) holding one INIT chunk, with a valid checksum.
pub fn build_init(src_port: u16, dst_port: u16, initiate_tag: u32, initial_tsn: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(COMMON_HEADER_LEN + INIT_CHUNK_LEN);
    p.extend_from_slice(&src_port.to_be_bytes());
    p.extend_from_slice(&dst_port.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes()); // verification tag: 0 in an INIT
    p.extend_from_slice(&0u32.to_be_bytes()); // checksum, filled below
    p.push(CHUNK_INIT);
    p.push(0); // flags
    p.extend_from_slice(&(INIT_CHUNK_LEN as u16).to_be_bytes());
    p.extend_from_slice(&initiate_tag.to_be_bytes());
    p.extend_from_slice(&65_535u32.to_be_bytes()); // a_rwnd
    p.extend_from_slice(&10u16.to_be_bytes()); // outbound streams
    p.extend_from_slice(&10u16.to_be_bytes()); // inbound streams
    p.extend_from_slice(&initial_tsn.to_be_bytes());
    // The CRC is stored little-endian on the wire (RFC 9260 Appendix A).
    let crc = crc32c(&p);
    p[8..12].copy_from_slice(&crc.to_le_bytes());
    p
}

/// An INIT seen by a raw socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenInit {
    /// Source address from the IP header.
    pub src: Ipv4Addr,
    /// Destination address from the IP header.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The INIT's initiate tag (the probe's nonce).
    pub initiate_tag: u32,
}

/// Parses an IPv4 datagram as read from a raw `IPPROTO_SCTP` socket (IP header included).
/// Returns `None` unless it is a well-formed SCTP packet whose first chunk is an INIT with a
/// correct checksum.
pub fn parse_init(datagram: &[u8]) -> Option<SeenInit> {
    let first = *datagram.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || datagram.len() < ihl + COMMON_HEADER_LEN + 4 || datagram[9] != IPPROTO_SCTP as u8
    {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let end = total.clamp(ihl, datagram.len());
    let sctp = &datagram[ihl..end];
    if sctp.len() < COMMON_HEADER_LEN + INIT_CHUNK_LEN || sctp[COMMON_HEADER_LEN] != CHUNK_INIT {
        return None;
    }
    let mut zeroed = sctp.to_vec();
    zeroed[8..12].fill(0);
    if crc32c(&zeroed).to_le_bytes() != sctp[8..12] {
        return None;
    }
    let be16 = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    Some(SeenInit {
        src: Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]),
        dst: Ipv4Addr::new(datagram[16], datagram[17], datagram[18], datagram[19]),
        src_port: be16(&sctp[0..2]),
        dst_port: be16(&sctp[2..4]),
        initiate_tag: u32::from_be_bytes([sctp[16], sctp[17], sctp[18], sctp[19]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(payload: &[u8], src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut d = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, IPPROTO_SCTP as u8, 0, 0];
        d.extend_from_slice(&src);
        d.extend_from_slice(&dst);
        d.extend_from_slice(payload);
        let len = (d.len() as u16).to_be_bytes();
        d[2] = len[0];
        d[3] = len[1];
        d
    }

    #[test]
    fn crc32c_matches_known_vectors() {
        let cases: [(&str, &[u8], u32); 3] = [
            ("rfc3720 32 zero bytes", &[0u8; 32], 0x8A91_36AA),
            ("rfc3720 32 0xff bytes", &[0xffu8; 32], 0x62A8_AB43),
            ("ascii 123456789", b"123456789", 0xE306_9283),
        ];
        for (name, data, want) in cases {
            assert_eq!(crc32c(data), want, "{name}");
        }
    }

    #[test]
    fn init_round_trips_and_rejects_damage() {
        let init = build_init(40000, 80, 0xdead_beef, 7);
        let good = ipv4(&init, [10, 251, 1, 2], [10, 251, 2, 3]);
        assert_eq!(
            parse_init(&good),
            Some(SeenInit {
                src: Ipv4Addr::new(10, 251, 1, 2),
                dst: Ipv4Addr::new(10, 251, 2, 3),
                src_port: 40000,
                dst_port: 80,
                initiate_tag: 0xdead_beef,
            })
        );
        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 1;
        let mut not_init = good.clone();
        not_init[20 + 12] = 3; // SACK
        let mut not_sctp = good.clone();
        not_sctp[9] = 17;
        let cases: [(&str, &[u8]); 5] = [
            ("checksum damaged", &bad_crc),
            ("first chunk not INIT", &not_init),
            ("not SCTP", &not_sctp),
            ("truncated", &good[..30]),
            ("empty", &[]),
        ];
        for (name, datagram) in cases {
            assert_eq!(parse_init(datagram), None, "{name}");
        }
    }
}
