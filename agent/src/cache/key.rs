//! The verdict cache key: a flow class as the kernel's concatenated set stores it. Pure.

use std::net::IpAddr;

use verdict_engine::{Flow, Protocol};

/// `saddr . daddr . l4proto . dport`, each part padded to 4 bytes as nftables pads the
/// registers of a concatenation: the protocol byte then three zero bytes, the port in network
/// order then two zero bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// 4 + 4 + 4 + 4 bytes.
    V4([u8; 16]),
    /// 16 + 16 + 4 + 4 bytes.
    V6([u8; 40]),
}

/// IANA protocol number of a protocol whose connections have a destination port.
fn ported_protocol(protocol: Protocol) -> Option<u8> {
    match protocol {
        Protocol::Tcp => Some(6),
        Protocol::Udp => Some(17),
        Protocol::Sctp => Some(132),
        // The engine matches ICMP only by "all ports" rules; its header has no port where
        // `th dport` reads, so ICMP is never cached.
        Protocol::Icmp => None,
        // Non-L4 IP protocols (GRE, ESP, ...) have no port either: never cached.
        Protocol::Other(_) => None,
    }
}

fn tail(protocol: u8, port: u16) -> [u8; 8] {
    let p = port.to_be_bytes();
    [protocol, 0, 0, 0, p[0], p[1], 0, 0]
}

impl CacheKey {
    /// The key of `flow`'s class; `None` when the flow cannot be cached (ICMP, or a source
    /// and destination of different families, which no real packet has).
    pub fn for_flow(flow: &Flow) -> Option<CacheKey> {
        let protocol = ported_protocol(flow.protocol)?;
        let tail = tail(protocol, flow.dst_port);
        match (flow.src_ip, flow.dst_ip) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut key = [0u8; 16];
                key[..4].copy_from_slice(&s.octets());
                key[4..8].copy_from_slice(&d.octets());
                key[8..].copy_from_slice(&tail);
                Some(CacheKey::V4(key))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut key = [0u8; 40];
                key[..16].copy_from_slice(&s.octets());
                key[16..32].copy_from_slice(&d.octets());
                key[32..].copy_from_slice(&tail);
                Some(CacheKey::V6(key))
            }
            _ => None,
        }
    }

    /// The bytes the kernel compares.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            CacheKey::V4(k) => k,
            CacheKey::V6(k) => k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(src: &str, dst: &str, protocol: Protocol, port: u16) -> Flow {
        Flow {
            src_ip: src.parse().unwrap(),
            src_port: 40000,
            dst_ip: dst.parse().unwrap(),
            dst_port: port,
            protocol,
        }
    }

    /// Expected bytes are what `nft --debug=netlink add element inet t c4 { 10.0.0.1 .
    /// 10.0.0.3 . udp . 53 }` printed on this project's VM (nft 1.0.6), as 32-bit words in host
    /// (little-endian) order: `0100000a 0300000a 00000011 00003500`.
    #[test]
    fn ipv4_key_matches_nft() {
        let key = CacheKey::for_flow(&flow("10.0.0.1", "10.0.0.3", Protocol::Udp, 53)).unwrap();
        let words: Vec<String> = key
            .as_bytes()
            .chunks(4)
            .map(|w| format!("{:08x}", u32::from_le_bytes(w.try_into().unwrap())))
            .collect();
        assert_eq!(words, ["0100000a", "0300000a", "00000011", "00003500"]);
    }

    /// Source, destination, protocol, port; the key's length and protocol byte, if any.
    type Case = (
        &'static str,
        &'static str,
        Protocol,
        u16,
        Option<(usize, u8)>,
    );

    #[test]
    fn keys_by_protocol_and_family() {
        let cases: &[Case] = &[
            ("10.0.0.1", "10.0.0.2", Protocol::Tcp, 8080, Some((16, 6))),
            ("10.0.0.1", "10.0.0.2", Protocol::Sctp, 80, Some((16, 132))),
            ("fd00::1", "fd00::2", Protocol::Tcp, 443, Some((40, 6))),
            ("fd00::1", "fd00::2", Protocol::Udp, 53, Some((40, 17))),
            ("10.0.0.1", "10.0.0.2", Protocol::Icmp, 0, None),
            ("10.0.0.1", "fd00::2", Protocol::Tcp, 80, None),
        ];
        for (src, dst, protocol, port, want) in cases {
            let key = CacheKey::for_flow(&flow(src, dst, *protocol, *port));
            let got = key.map(|k| {
                let b = k.as_bytes();
                let n = b.len();
                assert_eq!(&b[n - 8 + 1..n - 4], [0, 0, 0], "protocol padding");
                assert_eq!(&b[n - 4..n - 2], port.to_be_bytes(), "port, network order");
                assert_eq!(&b[n - 2..], [0, 0], "port padding");
                (n, b[n - 8])
            });
            assert_eq!(got, *want, "{src} → {dst} {protocol:?}/{port}");
        }
    }

    #[test]
    fn the_source_port_is_not_part_of_the_class() {
        let a = flow("10.0.0.1", "10.0.0.2", Protocol::Tcp, 80);
        let b = Flow {
            src_port: 51000,
            ..a
        };
        assert_eq!(CacheKey::for_flow(&a), CacheKey::for_flow(&b));
    }
}
