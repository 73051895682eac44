//! Table-driven parser tests.
//!
//! Two sources of bytes: packets captured on this project's VM (an `AF_PACKET` socket on `lo`
//! inside a network namespace, Ethernet header stripped; Linux 6.18), and packets built by hand
//! from the RFC layouts with [`v4`] / [`v6`] builders for the cases the kernel would not
//! produce on demand (extension header chains, fragments, broken lengths).

use std::net::IpAddr;

use verdict_engine::{Flow, Protocol};

use super::{ErrorKind, Header, ParseError, parse, proto};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn flow(src: &str, sport: u16, dst: &str, dport: u16, protocol: Protocol) -> Flow {
    Flow {
        src_ip: src.parse::<IpAddr>().unwrap(),
        src_port: sport,
        dst_ip: dst.parse::<IpAddr>().unwrap(),
        dst_port: dport,
        protocol,
    }
}

// Captured on the VM (see the module doc).
const TCP4_SYN: &str = "4500003c23964000400619247f0000017f00000182e21f90086b3f3700000000a002ffd7fe3000000204ffd70402080a3168b52e000000000103030a";
const UDP4: &str = "4500001e410d40004011fbbf7f0000017f000001e4bf0035000afe1d6869";
const TCP6_SYN: &str = "600f1e1b002806400000000000000000000000000000000100000000000000000000000000000001d64e01bb6f85fef200000000a002ffc4003000000204ffc40402080a0d704874000000000103030a";
const UDP6: &str = "600d04cc000a114000000000000000000000000000000001000000000000000000000000000000019dab14e9000a001d6869";
const ICMP4_ECHO: &str = "450000202eb0400040010e2b7f0000017f0000010800077611b8000170696e67";
const ICMP6_ECHO: &str = "600c0979000c3a40000000000000000000000000000000010000000000000000000000000000000180008f2c11b9000170696e67";

/// IPv4 packet builder (RFC 791); checksums are not verified by the parser, so they stay 0.
struct V4 {
    options: Vec<u8>,
    frag: u16,
    protocol: u8,
    ihl_override: Option<u8>,
    l4: Vec<u8>,
}

fn v4(protocol: u8, l4: Vec<u8>) -> V4 {
    V4 {
        options: Vec::new(),
        frag: 0,
        protocol,
        ihl_override: None,
        l4,
    }
}

impl V4 {
    fn options(mut self, o: &[u8]) -> Self {
        self.options = o.to_vec();
        self
    }
    fn frag(mut self, flags_and_offset: u16) -> Self {
        self.frag = flags_and_offset;
        self
    }
    fn ihl(mut self, words: u8) -> Self {
        self.ihl_override = Some(words);
        self
    }
    fn build(self) -> Vec<u8> {
        let ihl = self
            .ihl_override
            .unwrap_or(((20 + self.options.len()) / 4) as u8);
        let total = (20 + self.options.len() + self.l4.len()) as u16;
        let mut p = vec![0x40 | ihl, 0];
        p.extend(total.to_be_bytes());
        p.extend([0, 1]);
        p.extend(self.frag.to_be_bytes());
        p.extend([64, self.protocol, 0, 0]);
        p.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend(self.options);
        p.extend(self.l4);
        p
    }
}

/// IPv6 packet builder (RFC 8200): `ext` is a list of (header type, header bytes without the
/// next-header byte, which the builder fills in).
struct V6 {
    ext: Vec<(u8, Vec<u8>)>,
    protocol: u8,
    l4: Vec<u8>,
}

fn v6(protocol: u8, l4: Vec<u8>) -> V6 {
    V6 {
        ext: Vec::new(),
        protocol,
        l4,
    }
}

impl V6 {
    fn ext(mut self, kind: u8, body: &[u8]) -> Self {
        self.ext.push((kind, body.to_vec()));
        self
    }
    fn build(self) -> Vec<u8> {
        let mut chain = Vec::new();
        let kinds: Vec<u8> = self.ext.iter().map(|(k, _)| *k).collect();
        for (i, (_, body)) in self.ext.iter().enumerate() {
            chain.push(kinds.get(i + 1).copied().unwrap_or(self.protocol));
            chain.extend(body);
        }
        let first = kinds.first().copied().unwrap_or(self.protocol);
        let len = (chain.len() + self.l4.len()) as u16;
        let mut p = vec![0x60, 0, 0, 0];
        p.extend(len.to_be_bytes());
        p.extend([first, 64]);
        p.extend("fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p.extend("fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p.extend(chain);
        p.extend(self.l4);
        p
    }
}

fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(sport.to_be_bytes());
    h.extend(dport.to_be_bytes());
    h.extend([0; 8]);
    h.extend([0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    h
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(sport.to_be_bytes());
    h.extend(dport.to_be_bytes());
    h.extend([0, 8, 0, 0]);
    h
}

/// RFC 9260 common header followed by an INIT chunk header.
fn sctp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(sport.to_be_bytes());
    h.extend(dport.to_be_bytes());
    h.extend([0; 8]);
    h.extend([1, 0, 0, 20]);
    h
}

fn icmp(kind: u8) -> Vec<u8> {
    vec![kind, 0, 0, 0, 0, 1, 0, 1]
}

#[test]
fn parses_valid_packets() {
    let cases: Vec<(&str, Vec<u8>, Flow)> = vec![
        (
            "captured tcp4 syn",
            hex(TCP4_SYN),
            flow("127.0.0.1", 33506, "127.0.0.1", 8080, Protocol::Tcp),
        ),
        (
            "captured udp4",
            hex(UDP4),
            flow("127.0.0.1", 58559, "127.0.0.1", 53, Protocol::Udp),
        ),
        (
            "captured tcp6 syn",
            hex(TCP6_SYN),
            flow("::1", 54862, "::1", 443, Protocol::Tcp),
        ),
        (
            "captured udp6",
            hex(UDP6),
            flow("::1", 40363, "::1", 5353, Protocol::Udp),
        ),
        (
            "captured icmp4 echo",
            hex(ICMP4_ECHO),
            flow("127.0.0.1", 0, "127.0.0.1", 0, Protocol::Icmp),
        ),
        (
            "captured icmp6 echo",
            hex(ICMP6_ECHO),
            flow("::1", 0, "::1", 0, Protocol::Icmp),
        ),
        (
            "tcp4 cut by copy range after the tcp header",
            hex(TCP4_SYN)[..40].to_vec(),
            flow("127.0.0.1", 33506, "127.0.0.1", 8080, Protocol::Tcp),
        ),
        (
            "ipv4 gre: a flow without ports",
            v4(47, vec![0; 8]).build(),
            flow("10.0.0.1", 0, "10.0.0.2", 0, Protocol::Other(47)),
        ),
        (
            "ipv4 esp with no payload at all",
            v4(50, vec![]).build(),
            flow("10.0.0.1", 0, "10.0.0.2", 0, Protocol::Other(50)),
        ),
        (
            "ipv4 udp-lite: ports not read (no policy API names it)",
            v4(136, udp(1000, 2000)).build(),
            flow("10.0.0.1", 0, "10.0.0.2", 0, Protocol::Other(136)),
        ),
        (
            "ipv4 protocol 253 (experimentation)",
            v4(253, b"junk".to_vec()).build(),
            flow("10.0.0.1", 0, "10.0.0.2", 0, Protocol::Other(253)),
        ),
        (
            "ipv6 no next header",
            v6(59, vec![]).build(),
            flow("fd00::1", 0, "fd00::2", 0, Protocol::Other(59)),
        ),
        (
            "ipv6 esp",
            v6(50, vec![0; 16]).build(),
            flow("fd00::1", 0, "fd00::2", 0, Protocol::Other(50)),
        ),
        (
            "ipv6 hop-by-hop then gre",
            v6(47, vec![0; 4]).ext(0, &[0, 1, 4, 0, 0, 0, 0]).build(),
            flow("fd00::1", 0, "fd00::2", 0, Protocol::Other(47)),
        ),
        (
            "sctp4 init",
            v4(proto::SCTP, sctp(5000, 80)).build(),
            flow("10.0.0.1", 5000, "10.0.0.2", 80, Protocol::Sctp),
        ),
        (
            "ipv4 with 8 bytes of options",
            v4(proto::TCP, tcp(1000, 80))
                .options(&[0x94, 4, 0, 0, 1, 1, 1, 0])
                .build(),
            flow("10.0.0.1", 1000, "10.0.0.2", 80, Protocol::Tcp),
        ),
        (
            "ipv4 first fragment (MF set, offset 0)",
            v4(proto::UDP, udp(53, 9999)).frag(0x2000).build(),
            flow("10.0.0.1", 53, "10.0.0.2", 9999, Protocol::Udp),
        ),
        (
            "ipv4 don't-fragment bit only",
            v4(proto::UDP, udp(1, 2)).frag(0x4000).build(),
            flow("10.0.0.1", 1, "10.0.0.2", 2, Protocol::Udp),
        ),
        (
            "sctp6",
            v6(proto::SCTP, sctp(7, 8)).build(),
            flow("fd00::1", 7, "fd00::2", 8, Protocol::Sctp),
        ),
        (
            "ipv6 hop-by-hop, routing, dest-opts, then tcp",
            v6(proto::TCP, tcp(40000, 8080))
                .ext(0, &[0, 1, 4, 0, 0, 0, 0])
                .ext(43, &[0, 0, 0, 0, 0, 0, 0])
                .ext(60, &[1, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                .build(),
            flow("fd00::1", 40000, "fd00::2", 8080, Protocol::Tcp),
        ),
        (
            "ipv6 first fragment then udp",
            v6(proto::UDP, udp(5353, 53))
                .ext(44, &[0, 0, 1, 0, 0, 0, 42])
                .build(),
            flow("fd00::1", 5353, "fd00::2", 53, Protocol::Udp),
        ),
        (
            "ipv6 AH (payload len 4 = 24 bytes) then tcp",
            v6(proto::TCP, tcp(1, 443))
                .ext(
                    51,
                    &[
                        4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    ],
                )
                .build(),
            flow("fd00::1", 1, "fd00::2", 443, Protocol::Tcp),
        ),
        (
            "icmpv6 neighbour solicitation",
            v6(proto::ICMPV6, icmp(135)).build(),
            flow("fd00::1", 0, "fd00::2", 0, Protocol::Icmp),
        ),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(parse(&bytes), Ok(want), "case {name}");
    }
}

#[test]
fn rejects_broken_or_unsupported_packets() {
    let tcp4 = hex(TCP4_SYN);
    let tcp6 = hex(TCP6_SYN);
    let mut bad_data_offset = tcp4.clone();
    bad_data_offset[32] = 0x40;
    let cases: Vec<(&str, Vec<u8>, ParseError)> = vec![
        ("empty", vec![], ParseError::Truncated(Header::Ipv4)),
        ("version 5", vec![0x50; 40], ParseError::BadVersion(5)),
        ("version 0", vec![0; 40], ParseError::BadVersion(0)),
        (
            "ipv4 header cut",
            tcp4[..19].to_vec(),
            ParseError::Truncated(Header::Ipv4),
        ),
        (
            "ipv4 ihl 4",
            v4(proto::TCP, tcp(1, 2)).ihl(4).build(),
            ParseError::BadHeaderLength(Header::Ipv4),
        ),
        (
            "ipv4 ihl 15 beyond the buffer",
            v4(proto::TCP, vec![]).ihl(15).build(),
            ParseError::Truncated(Header::Ipv4),
        ),
        (
            "tcp header cut",
            tcp4[..20 + 19].to_vec(),
            ParseError::Truncated(Header::Tcp),
        ),
        (
            "tcp data offset 4",
            bad_data_offset,
            ParseError::BadHeaderLength(Header::Tcp),
        ),
        (
            "udp header cut",
            v4(proto::UDP, udp(1, 2)[..7].to_vec()).build(),
            ParseError::Truncated(Header::Udp),
        ),
        (
            "sctp header cut",
            v4(proto::SCTP, sctp(1, 2)[..11].to_vec()).build(),
            ParseError::Truncated(Header::Sctp),
        ),
        (
            "icmp header cut",
            v4(proto::ICMP, vec![8, 0, 0]).build(),
            ParseError::Truncated(Header::Icmp),
        ),
        (
            "ipv4 non-first fragment",
            v4(proto::UDP, udp(1, 2)).frag(0x0010).build(),
            ParseError::NonFirstFragment,
        ),
        (
            "ipv6 header cut",
            tcp6[..39].to_vec(),
            ParseError::Truncated(Header::Ipv6),
        ),
        (
            "ipv6 non-first fragment",
            v6(proto::UDP, udp(1, 2))
                .ext(44, &[0, 0, 0x08, 0, 0, 0, 42])
                .build(),
            ParseError::NonFirstFragment,
        ),
        (
            "ipv6 hop-by-hop longer than the buffer",
            v6(proto::TCP, vec![])
                .ext(0, &[5, 0, 0, 0, 0, 0, 0])
                .build(),
            ParseError::Truncated(Header::Ipv6Extension),
        ),
        (
            "ipv6 extension header cut after one byte",
            {
                let mut p = v6(0, vec![]).build();
                p.push(6);
                p
            },
            ParseError::Truncated(Header::Ipv6Extension),
        ),
        (
            "ipv6 seventeen destination-options headers",
            (0..17)
                .fold(v6(proto::TCP, tcp(1, 2)), |b, _| {
                    b.ext(60, &[0, 1, 4, 0, 0, 0, 0])
                })
                .build(),
            ParseError::TooManyExtensionHeaders,
        ),
        (
            "ipv6 tcp cut",
            tcp6[..40 + 10].to_vec(),
            ParseError::Truncated(Header::Tcp),
        ),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(parse(&bytes), Err(want), "case {name}");
    }
}

#[test]
fn error_kinds_split_malformed_from_unsupported() {
    let cases = [
        (ParseError::Truncated(Header::Tcp), ErrorKind::Malformed),
        (ParseError::BadVersion(7), ErrorKind::Malformed),
        (
            ParseError::BadHeaderLength(Header::Ipv4),
            ErrorKind::Malformed,
        ),
        (ParseError::TooManyExtensionHeaders, ErrorKind::Malformed),
        (ParseError::NonFirstFragment, ErrorKind::Unsupported),
    ];
    for (error, kind) in cases {
        assert_eq!(error.kind(), kind, "{error}");
    }
}

#[test]
fn every_prefix_of_every_fixture_parses_or_errors_without_panicking() {
    let fixtures = [
        hex(TCP4_SYN),
        hex(TCP6_SYN),
        hex(UDP6),
        v6(proto::TCP, tcp(1, 2))
            .ext(0, &[0, 1, 4, 0, 0, 0, 0])
            .ext(51, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            .build(),
    ];
    for bytes in fixtures {
        let full = parse(&bytes);
        assert!(full.is_ok(), "the full fixture parses");
        for cut in 0..bytes.len() {
            let prefix = parse(&bytes[..cut]);
            // A prefix either fails or (once past the transport header) gives the same flow.
            assert!(
                prefix.is_err() || prefix == full,
                "cut at {cut}: {prefix:?}"
            );
        }
    }
}

proptest::proptest! {
    /// The stable twin of the cargo-fuzz target in `agent/fuzz`.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        if let Ok(flow) = parse(&bytes) {
            proptest::prop_assert!(flow.protocol != Protocol::Icmp || (flow.src_port, flow.dst_port) == (0, 0));
        }
    }

    /// Valid IPv4 headers with random transport bytes: exercises the deeper branches.
    #[test]
    fn arbitrary_transport_never_panics(protocol in proptest::num::u8::ANY, l4 in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let _ = parse(&v4(protocol, l4.clone()).build());
        let _ = parse(&v6(protocol, l4).build());
    }
}

#[test]
fn connection_tokens_are_the_syn_isn_and_the_init_tag() {
    let mut init = sctp(5000, 80);
    init.extend(0x1234_5678u32.to_be_bytes());
    let mut ack = hex(TCP4_SYN);
    ack[33] = 0x10; // flags: ACK only
    // (case, packet, expected token)
    let cases: Vec<(&str, Vec<u8>, Option<u32>)> = vec![
        (
            "captured tcp4 syn: its ISN",
            hex(TCP4_SYN),
            Some(0x086b_3f37),
        ),
        (
            "captured tcp6 syn: its ISN",
            hex(TCP6_SYN),
            Some(0x6f85_fef2),
        ),
        ("a tcp packet without SYN has none", ack, None),
        (
            "sctp init: its initiate tag",
            v4(proto::SCTP, init).build(),
            Some(0x1234_5678),
        ),
        (
            "sctp init cut before the tag",
            v4(proto::SCTP, sctp(5000, 80)).build(),
            None,
        ),
        ("udp has none", hex(UDP4), None),
        ("icmp has none", hex(ICMP4_ECHO), None),
    ];
    for (case, packet, expected) in cases {
        let (flow, token) = super::parse_first_packet(&packet).unwrap();
        assert_eq!(flow, parse(&packet).unwrap(), "{case}: same flow as parse");
        assert_eq!(token, expected, "{case}");
    }
}
