//! nflog tests: config requests and received datagrams on bytes captured from a real kernel
//! (and truncated or corrupted copies of them), a proptest that no input panics the parser, and
//! privileged tests that log real UDP packets in a throw-away network namespace.

use std::time::Duration;

use super::wire::{self, Config, Message};
use super::{LogConfig, LoggedPacket, Sorted, sort_datagram};

/// Bytes from a hex dump ("1c 00 00 00 ..."; whitespace ignored), as strace's `-e read=FD`
/// prints them.
fn hex(dump: &str) -> Vec<u8> {
    let digits: Vec<u8> = dump.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Captured with `strace -f -xx -e trace=sendto,recvfrom -e read=3 -e write=3` around
/// `tcpdump -n -s 128 -i nflog:7` (libpcap 1.10, kernel 6.18, x86_64, so host order is little
/// endian) in a netns whose table has `udp dport 9999 log group 7 accept`, while Python sent
/// "hello" to 127.0.0.1:9999 and 200 × "x" to [::1]:9999. libpcap reads into a 256-byte buffer,
/// so the datagram is cut inside its second message.
mod captured {
    /// libpcap's NFULNL_CFG_CMD_BIND request for group 7.
    pub const BIND_GROUP_7: &str = "1c 00 00 00 01 04 05 00  33 96 07 6b 00 00 00 00
                                    00 00 00 07 05 00 01 00  01 00 00 00";
    /// libpcap's NFULA_CFG_MODE request: NFULNL_COPY_PACKET, range 128.
    pub const COPY_PACKET_128: &str = "20 00 00 00 01 04 05 00  34 96 07 6b 00 00 00 00
                                       00 00 00 07 0a 00 02 00  00 00 00 80 02 00 00 00";
    /// The kernel's ack of BIND_GROUP_7 (NLM_F_CAPPED: only the request header is echoed).
    pub const ACK_OF_BIND: &str = "24 00 00 00 02 00 00 01  33 96 07 6b 86 27 00 00
                                   00 00 00 00 1c 00 00 00  01 04 05 00 33 96 07 6b
                                   00 00 00 00";
    /// Two NFULNL_MSG_PACKET messages (IPv4 "hello", then IPv6 with 128 of 248 bytes copied),
    /// cut at byte 256 by libpcap's buffer. Attributes: PACKET_HDR, PREFIX "" (nft sends one
    /// even without `prefix`), IFINDEX_OUTDEV 1, UID 0, GID 0, PAYLOAD.
    pub const TWO_PACKETS_CUT_AT_256: &str = "
        64 00 00 00 00 04 00 00  00 00 00 00 00 00 00 00
        02 00 00 07 08 00 01 00  08 00 03 00 05 00 0a 00
        00 00 00 00 08 00 05 00  00 00 00 01 08 00 0b 00
        00 00 00 00 08 00 0e 00  00 00 00 00 25 00 09 00
        45 00 00 21 e2 0e 40 00  40 11 5a bb 7f 00 00 01
        7f 00 00 01 e3 be 27 0f  00 0d fe 20 68 65 6c 6c
        6f 00 00 00 c0 00 00 00  00 04 00 00 00 00 00 00
        00 00 00 00 0a 00 00 07  08 00 01 00 86 dd 03 00
        05 00 0a 00 00 00 00 00  08 00 05 00 00 00 00 01
        08 00 0b 00 00 00 00 00  08 00 0e 00 00 00 00 00
        84 00 09 00 60 0d e5 5b  00 d0 11 40 00 00 00 00
        00 00 00 00 00 00 00 00  00 00 00 01 00 00 00 00
        00 00 00 00 00 00 00 00  00 00 00 01 bd 18 27 0f
        00 d0 00 e3 78 78 78 78  78 78 78 78 78 78 78 78
        78 78 78 78 78 78 78 78  78 78 78 78 78 78 78 78
        78 78 78 78 78 78 78 78  78 78 78 78 78 78 78 78";

    /// One whole batch, read by this module's own listener (same capture method, test
    /// `flush_timeout_sends_a_partial_batch`, 300 ms case): three packets carrying "v", "vv" and
    /// "vvv" to 127.0.0.1:9999, then the NLMSG_DONE (its body: nfgenmsg for group 7) that the
    /// kernel appends to a batch of more than one.
    pub const BATCH_OF_THREE_WITH_DONE: &str = "
        60 00 00 00 00 04 00 00  00 00 00 00 00 00 00 00
        02 00 00 07 08 00 01 00  08 00 03 00 05 00 0a 00
        00 00 00 00 08 00 05 00  00 00 00 01 08 00 0b 00
        00 00 00 00 08 00 0e 00  00 00 00 00 21 00 09 00
        45 00 00 1d 27 08 40 00  40 11 15 c6 7f 00 00 01
        7f 00 00 01 e6 19 27 0f  00 09 fe 1c 76 00 00 00
        60 00 00 00 00 04 00 00  00 00 00 00 00 00 00 00
        02 00 00 07 08 00 01 00  08 00 03 00 05 00 0a 00
        00 00 00 00 08 00 05 00  00 00 00 01 08 00 0b 00
        00 00 00 00 08 00 0e 00  00 00 00 00 22 00 09 00
        45 00 00 1e 27 09 40 00  40 11 15 c4 7f 00 00 01
        7f 00 00 01 e6 19 27 0f  00 0a fe 1d 76 76 00 00
        60 00 00 00 00 04 00 00  00 00 00 00 00 00 00 00
        02 00 00 07 08 00 01 00  08 00 03 00 05 00 0a 00
        00 00 00 00 08 00 05 00  00 00 00 01 08 00 0b 00
        00 00 00 00 08 00 0e 00  00 00 00 00 23 00 09 00
        45 00 00 1f 27 0a 40 00  40 11 15 c2 7f 00 00 01
        7f 00 00 01 e6 19 27 0f  00 0b fe 1e 76 76 76 00
        14 00 00 00 03 00 00 00  00 00 00 00 00 00 00 00
        00 00 00 07";
}

/// The IPv4 packet of `captured::TWO_PACKETS_CUT_AT_256`.
fn captured_hello() -> LoggedPacket {
    LoggedPacket {
        payload: hex("45 00 00 21 e2 0e 40 00  40 11 5a bb 7f 00 00 01
                      7f 00 00 01 e3 be 27 0f  00 0d fe 20 68 65 6c 6c  6f"),
        hw_protocol: 0x0800,
        hook: 3,
        prefix: None,
        timestamp: None,
    }
}

#[test]
#[cfg(target_endian = "little")]
fn config_requests_match_libpcap_and_the_header_layout() {
    let cases: Vec<(&str, u32, Config, Vec<u8>)> = vec![
        (
            "bind, as libpcap sends it",
            0x6b07_9633,
            Config::Bind,
            hex(captured::BIND_GROUP_7),
        ),
        (
            "copy mode, as libpcap sends it",
            0x6b07_9634,
            Config::CopyPacket { range: 128 },
            hex(captured::COPY_PACKET_128),
        ),
        // libpcap sets none of these; built from nfnetlink_log.h: a __be32 attribute.
        (
            "queue threshold 64",
            9,
            Config::QueueThreshold(64),
            hex("1c 00 00 00 01 04 05 00  09 00 00 00 00 00 00 00
                 00 00 00 07 08 00 05 00  00 00 00 40"),
        ),
        (
            "batch buffer 64 KiB",
            12,
            Config::BatchBytes(64 * 1024),
            hex("1c 00 00 00 01 04 05 00  0c 00 00 00 00 00 00 00
                 00 00 00 07 08 00 03 00  00 01 00 00"),
        ),
        (
            "flush timeout 1 tick",
            10,
            Config::FlushTimeout { ticks: 1 },
            hex("1c 00 00 00 01 04 05 00  0a 00 00 00 00 00 00 00
                 00 00 00 07 08 00 04 00  00 00 00 01"),
        ),
        (
            "unbind",
            11,
            Config::Unbind,
            hex("1c 00 00 00 01 04 05 00  0b 00 00 00 00 00 00 00
                 00 00 00 07 05 00 01 00  02 00 00 00"),
        ),
    ];
    for (name, seq, step, want) in cases {
        assert_eq!(wire::config_request(seq, 7, step), want, "{name}");
    }
}

#[test]
fn group_goes_big_endian_into_res_id() {
    let msg = wire::config_request(1, 0x1234, Config::Bind);
    assert_eq!(
        &msg[16..20],
        &[0, 0, 0x12, 0x34],
        "AF_UNSPEC, v0, res_id 0x1234 (BE)"
    );
    assert_eq!(
        msg.len(),
        u32::from_ne_bytes(msg[0..4].try_into().unwrap()) as usize
    );
}

#[test]
fn flush_timeout_is_in_10ms_ticks_rounded_up() {
    let cases = [
        ("zero still batches for one tick", Duration::ZERO, 1),
        ("1 ns", Duration::from_nanos(1), 1),
        ("exactly 10 ms", Duration::from_millis(10), 1),
        ("just over 10 ms", Duration::from_nanos(10_000_001), 2),
        ("25 ms", Duration::from_millis(25), 3),
        ("1 s", Duration::from_secs(1), 100),
        ("saturates", Duration::MAX, u32::MAX),
    ];
    for (name, timeout, ticks) in cases {
        assert_eq!(wire::flush_ticks(timeout), ticks, "{name}");
    }
}

#[test]
fn setup_binds_first_then_configures_the_group() {
    let cfg = LogConfig {
        group: 7,
        copy_range: 96,
        queue_threshold: 16,
        flush_timeout: Duration::from_millis(50),
        ..LogConfig::default()
    };
    assert_eq!(
        wire::setup_steps(&cfg),
        [
            Config::Bind,
            Config::CopyPacket { range: 96 },
            Config::BatchBytes(64 * 1024),
            Config::QueueThreshold(16),
            Config::FlushTimeout { ticks: 5 },
        ]
    );
    assert_eq!(
        LogConfig::default(),
        LogConfig {
            group: 0,
            copy_range: 128,
            queue_threshold: 64,
            batch_bytes: 64 * 1024,
            flush_timeout: Duration::from_millis(10),
            recv_timeout: Duration::from_millis(200),
        }
    );
}

/// Builders for datagrams the kernel could send, laid out as in the captures above.
mod build {
    pub fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(payload);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out
    }

    pub fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut out = ((16 + body.len()) as u32).to_ne_bytes().to_vec();
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(body);
        out
    }

    /// An NFULNL_MSG_PACKET for group 7 with these attributes.
    pub fn packet(attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![2, 0, 0, 7];
        for a in attrs {
            body.extend_from_slice(a);
        }
        message(0x0400, 0, &body)
    }

    pub fn header(hw_protocol: u16, hook: u8) -> Vec<u8> {
        let mut p = hw_protocol.to_be_bytes().to_vec();
        p.extend_from_slice(&[hook, 0]);
        attr(1, &p)
    }

    pub fn done() -> Vec<u8> {
        message(3, 0, &[0, 0, 0, 0])
    }

    pub fn ack(seq: u32, errno: i32) -> Vec<u8> {
        let mut body = errno.to_ne_bytes().to_vec();
        body.extend_from_slice(&[0; 16]);
        message(2, seq, &body)
    }
}

#[test]
fn reads_the_packets_timestamp() {
    let mut ts = 1_764_759_600u64.to_be_bytes().to_vec();
    ts.extend_from_slice(&250_000u64.to_be_bytes());
    let datagram = build::packet(&[
        build::header(0x0800, 2),
        build::attr(3, &ts),
        build::attr(9, &[0x45, 1, 2, 3]),
    ]);
    let got: Vec<Message> = wire::parse(&datagram).collect();
    let Some(Message::Packet(p)) = got.first() else {
        panic!("{got:?}");
    };
    assert_eq!(
        p.timestamp,
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_764_759_600_250))
    );
    let short = build::packet(&[build::header(0x0800, 2), build::attr(3, &[0; 8])]);
    assert!(
        matches!(wire::parse(&short).next(), Some(Message::Unreadable)),
        "a cut timestamp makes the message unreadable, not a wrong time"
    );
}

#[test]
fn parses_datagrams() {
    let v4 = captured_hello();
    let with_prefix = |prefix: &str| LoggedPacket {
        payload: vec![0x45, 1, 2, 3],
        hw_protocol: 0x0800,
        hook: 1,
        prefix: Some(prefix.into()),
        timestamp: None,
    };
    let udp_v = |payload: &str| LoggedPacket {
        payload: hex(payload),
        hw_protocol: 0x0800,
        hook: 3,
        prefix: None,
        timestamp: None,
    };
    let cases: Vec<(&str, Vec<u8>, Vec<Message>)> = vec![
        (
            "captured: a packet, then one cut short by the reader's buffer",
            hex(captured::TWO_PACKETS_CUT_AT_256),
            vec![Message::Packet(v4.clone()), Message::Unreadable],
        ),
        (
            "captured: the first message alone",
            hex(captured::TWO_PACKETS_CUT_AT_256)[..100].to_vec(),
            vec![Message::Packet(v4.clone())],
        ),
        (
            "captured: a whole batch and its NLMSG_DONE",
            hex(captured::BATCH_OF_THREE_WITH_DONE),
            vec![
                Message::Packet(udp_v(
                    "45 00 00 1d 27 08 40 00  40 11 15 c6 7f 00 00 01
                     7f 00 00 01 e6 19 27 0f  00 09 fe 1c 76",
                )),
                Message::Packet(udp_v(
                    "45 00 00 1e 27 09 40 00  40 11 15 c4 7f 00 00 01
                     7f 00 00 01 e6 19 27 0f  00 0a fe 1d 76 76",
                )),
                Message::Packet(udp_v(
                    "45 00 00 1f 27 0a 40 00  40 11 15 c2 7f 00 00 01
                     7f 00 00 01 e6 19 27 0f  00 0b fe 1e 76 76 76",
                )),
                Message::Done,
            ],
        ),
        (
            "captured: an ack",
            hex(captured::ACK_OF_BIND),
            vec![Message::Ack {
                seq: 0x6b07_9633,
                errno: 0,
            }],
        ),
        (
            "a batch ends with NLMSG_DONE",
            [
                hex(captured::TWO_PACKETS_CUT_AT_256)[..100].to_vec(),
                build::packet(&[
                    build::header(0x0800, 1),
                    build::attr(10, b"verdict \0"),
                    build::attr(9, &[0x45, 1, 2, 3]),
                ]),
                build::done(),
            ]
            .concat(),
            vec![
                Message::Packet(v4.clone()),
                Message::Packet(with_prefix("verdict ")),
                Message::Done,
            ],
        ),
        (
            "attribute flag bits are masked, unknown attributes skipped",
            build::packet(&[
                build::attr(0x4000 | 1, &[0x08, 0x00, 1, 0]),
                build::attr(0x7fff, &[9; 7]),
                build::attr(0x4000 | 10, b"verdict \0"),
                build::attr(0x4000 | 9, &[0x45, 1, 2, 3]),
            ]),
            vec![Message::Packet(with_prefix("verdict "))],
        ),
        (
            "a prefix without its NUL",
            build::packet(&[
                build::header(0x0800, 1),
                build::attr(10, b"verdict "),
                build::attr(9, &[0x45, 1, 2, 3]),
            ]),
            vec![Message::Packet(with_prefix("verdict "))],
        ),
        (
            "no payload attribute: an empty payload",
            build::packet(&[build::header(0x86dd, 4)]),
            vec![Message::Packet(LoggedPacket {
                payload: vec![],
                hw_protocol: 0x86dd,
                hook: 4,
                prefix: None,
                timestamp: None,
            })],
        ),
        (
            "no packet header: unreadable, and the walk goes on",
            [build::packet(&[build::attr(9, &[0x45])]), build::done()].concat(),
            vec![Message::Unreadable, Message::Done],
        ),
        (
            "a packet header too short: unreadable",
            build::packet(&[build::attr(1, &[0x08, 0x00, 3])]),
            vec![Message::Unreadable],
        ),
        (
            "a packet without its nfgenmsg: unreadable",
            build::message(0x0400, 0, &[2, 0]),
            vec![Message::Unreadable],
        ),
        (
            "an error ack",
            build::ack(5, -1),
            vec![Message::Ack { seq: 5, errno: -1 }],
        ),
        (
            "an error without its errno",
            build::message(2, 5, &[0, 0]),
            vec![Message::Unreadable],
        ),
        (
            "NLMSG_NOOP and a config message are neither packets nor acks",
            [
                build::message(1, 0, &[]),
                build::message(0x0401, 0, &[0, 0, 0, 7]),
            ]
            .concat(),
            vec![Message::Other, Message::Other],
        ),
        ("empty", vec![], vec![]),
        ("shorter than a header", vec![0x10, 0, 0], vec![]),
        (
            "message length below a header",
            {
                let mut b = build::done();
                b[0..4].copy_from_slice(&8u32.to_ne_bytes());
                b
            },
            vec![Message::Unreadable],
        ),
        (
            "message length past the buffer",
            {
                let mut b = build::done();
                b[0..4].copy_from_slice(&400u32.to_ne_bytes());
                b
            },
            vec![Message::Unreadable],
        ),
        (
            "attribute length 0 ends the attributes (no endless loop)",
            build::packet(&[
                build::header(0x0800, 3),
                vec![0, 0, 9, 0],
                build::attr(9, &[1]),
            ]),
            vec![Message::Packet(LoggedPacket {
                payload: vec![],
                hw_protocol: 0x0800,
                hook: 3,
                prefix: None,
                timestamp: None,
            })],
        ),
        (
            "attribute length past the message ends the attributes",
            build::packet(&[build::header(0x0800, 3), vec![0xff, 0, 9, 0, 1, 2, 3, 4]]),
            vec![Message::Packet(LoggedPacket {
                payload: vec![],
                hw_protocol: 0x0800,
                hook: 3,
                prefix: None,
                timestamp: None,
            })],
        ),
    ];
    for (name, datagram, want) in cases {
        assert_eq!(wire::parse(&datagram).collect::<Vec<_>>(), want, "{name}");
    }
}

#[test]
fn sorting_a_datagram_keeps_packets_and_the_awaited_ack() {
    let packet = || build::packet(&[build::header(0x0800, 3), build::attr(9, &[0x45])]);
    let cases: Vec<(&str, Vec<u8>, Option<u32>, Sorted)> = vec![
        (
            "a batch",
            [packet(), packet(), build::done()].concat(),
            None,
            Sorted {
                appended: 2,
                ..Sorted::default()
            },
        ),
        (
            "the awaited ack among packets",
            [packet(), build::ack(4, 0), packet()].concat(),
            Some(4),
            Sorted {
                appended: 2,
                ack: Some(0),
                ..Sorted::default()
            },
        ),
        (
            "the awaited refusal",
            build::ack(4, -16),
            Some(4),
            Sorted {
                ack: Some(-16),
                ..Sorted::default()
            },
        ),
        (
            "an ack for another request",
            build::ack(3, -1),
            Some(4),
            Sorted::default(),
        ),
        (
            "an ack when none is awaited",
            build::ack(3, 0),
            None,
            Sorted::default(),
        ),
        (
            "unreadable messages are counted",
            [packet(), build::packet(&[])].concat(),
            None,
            Sorted {
                appended: 1,
                unreadable: 1,
                ack: None,
            },
        ),
    ];
    for (name, datagram, awaited, want) in cases {
        let mut out = vec![captured_hello()];
        let got = sort_datagram(&datagram, awaited, &mut out);
        assert_eq!(got, want, "{name}");
        assert_eq!(
            out.len(),
            1 + want.appended,
            "{name}: appended after what was there"
        );
    }
}

#[test]
fn kernel_errors_name_the_step_and_the_errno() {
    let err = crate::Error::NflogKernel {
        what: Config::Bind.what(),
        errno: 1,
    };
    assert_eq!(
        err.to_string(),
        "nflog netlink: the kernel refused to bind the log group (EPERM: another socket holds it, \
         or no CAP_NET_ADMIN): Operation not permitted (errno 1)"
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
    ) {
        let mut out = Vec::new();
        let sorted = sort_datagram(&bytes, Some(1), &mut out);
        proptest::prop_assert_eq!(sorted.appended, out.len());
    }

    /// Random bytes rarely look like a message; corrupting a real datagram reaches the
    /// attribute walk and the packet decoder.
    #[test]
    fn corrupted_captures_never_panic(
        edits in proptest::collection::vec((0usize..256, proptest::num::u8::ANY), 0..8),
        cut in 0usize..=256,
    ) {
        let mut bytes = hex(captured::TWO_PACKETS_CUT_AT_256);
        for (at, value) in edits {
            bytes[at] = value;
        }
        bytes.truncate(cut);
        let messages = wire::parse(&bytes).count();
        proptest::prop_assert!(messages <= bytes.len() / 16 + 1);
    }
}

mod privileged {
    use std::net::{IpAddr, SocketAddr, UdpSocket};
    use std::time::{Duration, Instant};

    use super::super::{LogConfig, LogListener, LoggedPacket};
    use crate::Error;
    use crate::ruleset::testns::{self, Netns};

    /// The test table: port 9999 logs without a prefix, 9998 with one. nft 1.0.6 rejects the
    /// one-line form `... accept; } }`, hence the lines.
    const RULESET: &str = "table inet nflogtest {
  chain out {
    type filter hook output priority 0;
    udp dport 9999 log group 7 accept
    udp dport 9998 log prefix \"verdict \" group 7 accept
  }
}
";
    /// NF_INET_LOCAL_OUT.
    const HOOK_OUTPUT: u8 = 3;

    /// A namespace with `lo` up and the test table loaded.
    fn netns_with_log_rules(tag: &str) -> Netns {
        let ns = Netns::new(tag);
        let path = std::env::temp_dir().join(format!("{}.nft", ns.name));
        std::fs::write(&path, RULESET).unwrap();
        let loaded = std::panic::catch_unwind(|| ns.exec(&["nft", "-f", path.to_str().unwrap()]));
        let _ = std::fs::remove_file(&path);
        if let Err(panic) = loaded {
            std::panic::resume_unwind(panic);
        }
        ns
    }

    fn config(group: u16) -> LogConfig {
        LogConfig {
            group,
            recv_timeout: Duration::from_millis(20),
            ..LogConfig::default()
        }
    }

    /// Sends one UDP datagram per size (filled with 'v') to `to`, from inside the namespace.
    fn send(to: SocketAddr, sizes: &[usize]) {
        let from: SocketAddr = if to.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        }
        .parse()
        .unwrap();
        let socket = UdpSocket::bind(from).unwrap();
        for &size in sizes {
            socket.send_to(&vec![b'v'; size], to).unwrap();
        }
    }

    /// Receives until `want` packets arrived or `within` passed; also returns each
    /// non-empty batch's size.
    fn collect(
        listener: &mut LogListener,
        want: usize,
        within: Duration,
    ) -> (Vec<LoggedPacket>, Vec<usize>) {
        let deadline = Instant::now() + within;
        let (mut packets, mut batches) = (Vec::new(), Vec::new());
        while packets.len() < want && Instant::now() < deadline {
            let n = listener.recv_batch(&mut packets).unwrap();
            if n > 0 {
                batches.push(n);
            }
        }
        (packets, batches)
    }

    /// What a test reads back from a logged UDP packet's bytes.
    #[derive(Debug, PartialEq, Eq)]
    struct Udp {
        dst: IpAddr,
        protocol: u8,
        dst_port: u16,
        /// The packet's length as its IP header says (the payload may be cut shorter).
        ip_len: usize,
    }

    fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    fn read_udp(p: &[u8]) -> Udp {
        match p[0] >> 4 {
            4 => {
                let ihl = usize::from(p[0] & 0xf) * 4;
                Udp {
                    dst: IpAddr::from(<[u8; 4]>::try_from(&p[16..20]).unwrap()),
                    protocol: p[9],
                    dst_port: be16(p, ihl + 2),
                    ip_len: usize::from(be16(p, 2)),
                }
            }
            6 => Udp {
                dst: IpAddr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap()),
                protocol: p[6],
                dst_port: be16(p, 42),
                ip_len: 40 + usize::from(be16(p, 4)),
            },
            v => panic!("IP version {v} in {p:02x?}"),
        }
    }

    /// Three UDP datagrams per case, sent inside the namespace, come back as three logged
    /// packets in order: the right ethertype and hook, the IP and UDP headers of what was sent,
    /// the payload cut at the copy range, and the rule's prefix.
    #[test]
    fn logs_udp_packets_over_ipv4_and_ipv6() {
        if !testns::enabled("logs_udp_packets_over_ipv4_and_ipv6") {
            return;
        }
        let ns = netns_with_log_rules("nflog");
        let cases = [
            ("ipv4", "127.0.0.1:9999", 0x0800, 28, None),
            ("ipv6", "[::1]:9999", 0x86dd, 48, None),
            (
                "ipv4 with a prefix",
                "127.0.0.1:9998",
                0x0800,
                28,
                Some("verdict "),
            ),
            (
                "ipv6 with a prefix",
                "[::1]:9998",
                0x86dd,
                48,
                Some("verdict "),
            ),
        ];
        let sizes = [5, 60, 400];
        let cfg = config(7);
        ns.enter(|| {
            let mut listener = LogListener::open(&cfg).expect("bind group 7");
            for (name, to, hw_protocol, headers, prefix) in cases {
                let to: SocketAddr = to.parse().unwrap();
                send(to, &sizes);
                let (packets, _) = collect(&mut listener, sizes.len(), Duration::from_secs(2));
                assert_eq!(packets.len(), sizes.len(), "{name}: {packets:?}");
                for (packet, size) in packets.iter().zip(sizes) {
                    let ip_len = headers + size;
                    assert_eq!(packet.hw_protocol, hw_protocol, "{name}");
                    assert_eq!(packet.hook, HOOK_OUTPUT, "{name}");
                    assert_eq!(packet.prefix.as_deref(), prefix, "{name}");
                    assert_eq!(
                        packet.payload.len(),
                        ip_len.min(usize::from(cfg.copy_range)),
                        "{name}: cut at the copy range"
                    );
                    assert_eq!(
                        read_udp(&packet.payload),
                        Udp {
                            dst: to.ip(),
                            protocol: 17,
                            dst_port: to.port(),
                            ip_len
                        },
                        "{name}"
                    );
                }
            }
            assert_eq!(listener.overruns(), 0);
            assert_eq!(listener.unreadable(), 0);
        });
    }

    /// With a queue threshold of 64, three packets are sent by the flush timer alone: never
    /// before it (a long timeout holds them back, then sends them in one datagram), and
    /// promptly after it (the default 10 ms).
    #[test]
    fn flush_timeout_sends_a_partial_batch() {
        if !testns::enabled("flush_timeout_sends_a_partial_batch") {
            return;
        }
        let ns = netns_with_log_rules("nflogt");
        // (flush timeout, earliest, latest) arrival of the last packet after the last send.
        let slack = Duration::from_millis(250);
        let cases = [
            ("default 10 ms", Duration::from_millis(10), Duration::ZERO),
            (
                "300 ms",
                Duration::from_millis(300),
                Duration::from_millis(200),
            ),
        ];
        ns.enter(|| {
            for (name, flush_timeout, earliest) in cases {
                let cfg = LogConfig {
                    flush_timeout,
                    queue_threshold: 64,
                    ..config(7)
                };
                let mut listener = LogListener::open(&cfg).expect("bind group 7");
                send("127.0.0.1:9999".parse().unwrap(), &[1, 2, 3]);
                let sent = Instant::now();
                let (packets, batches) =
                    collect(&mut listener, 3, flush_timeout + Duration::from_secs(2));
                let took = sent.elapsed();
                assert_eq!(packets.len(), 3, "{name}");
                assert!(
                    took >= earliest,
                    "{name}: arrived after {took:?}, before the timer"
                );
                assert!(
                    took <= flush_timeout + slack,
                    "{name}: arrived after {took:?}"
                );
                if earliest > Duration::ZERO {
                    assert_eq!(batches, vec![3], "{name}: one datagram");
                }
            }
        });
    }

    /// A group has one listener: a second bind is refused with EPERM, naming the step; once
    /// the first listener is dropped (its socket closed), the group can be bound again.
    #[test]
    fn a_group_has_one_listener_until_dropped() {
        if !testns::enabled("a_group_has_one_listener_until_dropped") {
            return;
        }
        let ns = Netns::new("nflogb");
        ns.enter(|| {
            let first = LogListener::open(&config(7)).expect("first bind");
            match LogListener::open(&config(7)) {
                Err(Error::NflogKernel { what, errno }) => {
                    assert_eq!(errno, 1, "EPERM");
                    assert!(what.starts_with("bind the log group"), "{what}");
                }
                other => panic!("second bind: {other:?}"),
            }
            let other_group = LogListener::open(&config(8)).expect("another group binds");
            drop(first);
            LogListener::open(&config(7)).expect("rebind after drop");
            drop(other_group);
        });
    }

    /// The root cause of a flaky EPERM on rebinding group 7 under load: a child forked by any
    /// test thread (every `Command`) holds a copy of the listener's socket until its `exec`,
    /// and the kernel destroys the group's instance only when the socket is released. A second
    /// descriptor for the socket stands in for that child here: with it still open, dropping
    /// the listener must free the group (it unbinds explicitly).
    #[test]
    fn dropping_a_listener_frees_the_group_while_a_copy_of_its_socket_lives() {
        if !testns::enabled("dropping_a_listener_frees_the_group_while_a_copy_of_its_socket_lives")
        {
            return;
        }
        let ns = Netns::new("nflogd");
        ns.enter(|| {
            let first = LogListener::open(&config(7)).expect("first bind");
            let copy = first.socket.duplicate().expect("dup the socket");
            drop(first);
            let again = LogListener::open(&config(7))
                .expect("rebind while a copy of the old socket is still open");
            drop(copy);
            drop(again);
        });
    }
}
