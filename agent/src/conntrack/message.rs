//! ctnetlink messages, encoded and decoded by hand (pure; no socket here).
//!
//! Only what strict mode needs: a filtered dump request (`IPCTNL_MSG_CT_GET` + `NLM_F_DUMP` with
//! `CTA_FILTER`, kernel 5.9+), the entries a dump returns (tuples, zone, id), and a delete request
//! for one entry (`IPCTNL_MSG_CT_DELETE` with the original tuple and the entry id, so that a
//! reused tuple is never hit by mistake).
//!
//! Layout: `nlmsghdr` (host order) + `nfgenmsg { family, version = 0, res_id (BE) = 0 }` + nested
//! attributes (`nlattr` header in host order, payloads as the kernel defines them: addresses,
//! ports, ids and zones big-endian; filter flags host order).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use verdict_engine::{Flow, Protocol};

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
const NLA_HDRLEN: usize = 4;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLMSG_ERROR` (also the ACK).
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`, the end of a dump.
pub const NLMSG_DONE: u16 = 3;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
const CTA_FILTER: u16 = 25;

const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;

const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;

const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTO_ICMP_ID: u16 = 4;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_PROTO_ICMP_CODE: u16 = 6;
const CTA_PROTO_ICMPV6_ID: u16 = 7;
const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
const CTA_PROTO_ICMPV6_CODE: u16 = 9;

const CTA_FILTER_ORIG_FLAGS: u16 = 1;
const CTA_FILTER_REPLY_FLAGS: u16 = 2;
/// `CTA_FILTER_F_CTA_IP_SRC` (net/netfilter/nf_conntrack_netlink.c).
const CTA_FILTER_F_CTA_IP_SRC: u32 = 1 << 0;

/// The protocol-specific part of a tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4 {
    /// TCP, UDP, SCTP, UDP-Lite, DCCP: ports.
    Ports {
        /// Source port.
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// ICMP or ICMPv6 (echo and friends).
    Icmp {
        /// Identifier.
        id: u16,
        /// Type.
        kind: u8,
        /// Code.
        code: u8,
    },
    /// Anything else: only the protocol number is known.
    Other,
}

/// One direction's tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub proto: u8,
    /// Ports or ICMP fields.
    pub l4: L4,
}

/// One conntrack entry as a dump reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The tuple of the first packet.
    pub orig: Tuple,
    /// The tuple replies carry (after NAT, its source is the real destination).
    pub reply: Tuple,
    /// Conntrack zone (0 when absent).
    pub zone: u16,
    /// The kernel's id for the entry.
    pub id: Option<u32>,
}

impl Entry {
    /// The connection as the policy engine sees it: the original source, and the destination
    /// after DNAT (the reply's source). Protocols other than TCP, UDP and SCTP have no ports
    /// here, as in the packet parser (GRE is `Protocol::Other(47)`, port 0).
    pub fn flow(&self) -> Flow {
        let protocol = Protocol::from_number(self.orig.proto);
        let (src_port, dst_port) = match (self.orig.l4, self.reply.l4) {
            (L4::Ports { src, .. }, L4::Ports { src: reply_src, .. }) if protocol.has_ports() => {
                (src, reply_src)
            }
            _ => (0, 0),
        };
        Flow {
            src_ip: self.orig.src,
            src_port,
            dst_ip: self.reply.src,
            dst_port,
            protocol,
        }
    }
}

/// Which side of an entry a dump filters on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Entries whose original source is the address: the pod opened the connection.
    OrigSource,
    /// Entries whose reply source is the address: the pod accepted the connection (directly or
    /// through a Service, since the reply tuple is post-DNAT).
    ReplySource,
}

/// Builds nlattrs into a buffer.
struct Attrs {
    buf: Vec<u8>,
}

impl Attrs {
    fn put(&mut self, kind: u16, payload: &[u8]) {
        let len = u16::try_from(NLA_HDRLEN + payload.len()).expect("attribute fits in u16");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        pad(&mut self.buf);
    }

    fn nested(&mut self, kind: u16, build: impl FnOnce(&mut Attrs)) {
        let mut inner = Attrs { buf: Vec::new() };
        build(&mut inner);
        let len = u16::try_from(NLA_HDRLEN + inner.buf.len()).expect("attribute fits in u16");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self.buf.extend_from_slice(&inner.buf);
    }
}

fn pad(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

fn message(msg: u16, flags: u16, seq: u32, family: u8, attrs: Attrs) -> Vec<u8> {
    let len = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.buf.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(
        &u32::try_from(len)
            .expect("message fits in u32")
            .to_ne_bytes(),
    );
    out.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | msg).to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills in ours
    out.extend_from_slice(&[family, 0, 0, 0]); // nfgenmsg: version 0, res_id 0
    out.extend_from_slice(&attrs.buf);
    out
}

fn family(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// A dump of the entries whose `side` address is `ip`, filtered in the kernel.
pub fn dump_request(seq: u32, ip: IpAddr, side: Side) -> Vec<u8> {
    let (tuple_attr, flags_attr) = match side {
        Side::OrigSource => (CTA_TUPLE_ORIG, CTA_FILTER_ORIG_FLAGS),
        Side::ReplySource => (CTA_TUPLE_REPLY, CTA_FILTER_REPLY_FLAGS),
    };
    let mut a = Attrs { buf: Vec::new() };
    a.nested(tuple_attr, |t| {
        t.nested(CTA_TUPLE_IP, |i| match ip {
            IpAddr::V4(v4) => i.put(CTA_IP_V4_SRC, &v4.octets()),
            IpAddr::V6(v6) => i.put(CTA_IP_V6_SRC, &v6.octets()),
        });
    });
    a.nested(CTA_FILTER, |f| {
        f.put(flags_attr, &CTA_FILTER_F_CTA_IP_SRC.to_ne_bytes())
    });
    message(
        IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        family(ip),
        a,
    )
}

/// A request to delete exactly `entry` (tuple, zone and id must all match).
pub fn delete_request(seq: u32, entry: &Entry) -> Vec<u8> {
    let mut a = Attrs { buf: Vec::new() };
    a.nested(CTA_TUPLE_ORIG, |t| put_tuple(t, &entry.orig));
    if entry.zone != 0 {
        a.put(CTA_ZONE, &entry.zone.to_be_bytes());
    }
    if let Some(id) = entry.id {
        a.put(CTA_ID, &id.to_be_bytes());
    }
    message(
        IPCTNL_MSG_CT_DELETE,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        family(entry.orig.src),
        a,
    )
}

fn put_tuple(t: &mut Attrs, tuple: &Tuple) {
    t.nested(CTA_TUPLE_IP, |i| match (tuple.src, tuple.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            i.put(CTA_IP_V4_SRC, &s.octets());
            i.put(CTA_IP_V4_DST, &d.octets());
        }
        (s, d) => {
            i.put(CTA_IP_V6_SRC, &v6(s).octets());
            i.put(CTA_IP_V6_DST, &v6(d).octets());
        }
    });
    t.nested(CTA_TUPLE_PROTO, |p| {
        p.put(CTA_PROTO_NUM, &[tuple.proto]);
        match tuple.l4 {
            L4::Ports { src, dst } => {
                p.put(CTA_PROTO_SRC_PORT, &src.to_be_bytes());
                p.put(CTA_PROTO_DST_PORT, &dst.to_be_bytes());
            }
            L4::Icmp { id, kind, code } => {
                let (a_id, a_type, a_code) = if tuple.proto == 58 {
                    (
                        CTA_PROTO_ICMPV6_ID,
                        CTA_PROTO_ICMPV6_TYPE,
                        CTA_PROTO_ICMPV6_CODE,
                    )
                } else {
                    (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE)
                };
                p.put(a_id, &id.to_be_bytes());
                p.put(a_type, &[kind]);
                p.put(a_code, &[code]);
            }
            L4::Other => {}
        }
    });
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V6(v6) => v6,
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
    }
}

/// One netlink message read back from the kernel.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// A conntrack entry (dump part).
    Entry(Entry),
    /// An entry the decoder could not read fully (counted, skipped).
    Unreadable,
    /// The end of a dump.
    Done,
    /// An ACK (`errno == 0`) or an error (`errno < 0`, negated errno) for request `seq`.
    Ack {
        /// The sequence number of the request.
        seq: u32,
        /// 0 for success, otherwise a negative errno.
        errno: i32,
    },
    /// Any other message type.
    Other,
}

/// Splits a receive buffer into messages and decodes each.
pub fn parse(buf: &[u8]) -> Vec<Reply> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            out.push(Reply::Unreadable);
            break;
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let seq = u32::from_ne_bytes(rest[8..12].try_into().expect("4 bytes"));
        let body = &rest[NLMSG_HDRLEN..len];
        out.push(match kind {
            NLMSG_DONE => Reply::Done,
            NLMSG_ERROR if body.len() >= 4 => Reply::Ack {
                seq,
                errno: i32::from_ne_bytes(body[0..4].try_into().expect("4 bytes")),
            },
            k if k == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW => {
                decode_entry(body).map_or(Reply::Unreadable, Reply::Entry)
            }
            _ => Reply::Other,
        });
        let advance = (len + 3) & !3;
        rest = rest.get(advance..).unwrap_or(&[]);
    }
    out
}

/// Iterates over `(type, payload)` of the attributes in `buf`; stops at the first malformed one.
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLA_HDRLEN {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > rest.len() {
            return None;
        }
        let payload = &rest[NLA_HDRLEN..len];
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

fn decode_entry(body: &[u8]) -> Option<Entry> {
    let attributes = body.get(NFGENMSG_LEN..)?;
    let (mut orig, mut reply, mut zone, mut id) = (None, None, 0, None);
    for (kind, payload) in attrs(attributes) {
        match kind {
            CTA_TUPLE_ORIG => orig = decode_tuple(payload),
            CTA_TUPLE_REPLY => reply = decode_tuple(payload),
            CTA_ZONE => zone = u16::from_be_bytes(payload.get(..2)?.try_into().ok()?),
            CTA_ID => id = Some(u32::from_be_bytes(payload.get(..4)?.try_into().ok()?)),
            _ => {}
        }
    }
    Some(Entry {
        orig: orig?,
        reply: reply?,
        zone,
        id,
    })
}

fn decode_tuple(buf: &[u8]) -> Option<Tuple> {
    let (mut src, mut dst, mut proto) = (None, None, None);
    let (mut sport, mut dport, mut icmp_id, mut icmp_type, mut icmp_code) =
        (None, None, None, None, None);
    for (kind, payload) in attrs(buf) {
        match kind {
            CTA_TUPLE_IP => {
                for (k, p) in attrs(payload) {
                    match k {
                        CTA_IP_V4_SRC => src = ipv4(p).map(IpAddr::V4),
                        CTA_IP_V4_DST => dst = ipv4(p).map(IpAddr::V4),
                        CTA_IP_V6_SRC => src = ipv6(p).map(IpAddr::V6),
                        CTA_IP_V6_DST => dst = ipv6(p).map(IpAddr::V6),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (k, p) in attrs(payload) {
                    match k {
                        CTA_PROTO_NUM => proto = p.first().copied(),
                        CTA_PROTO_SRC_PORT => sport = be16(p),
                        CTA_PROTO_DST_PORT => dport = be16(p),
                        CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => icmp_id = be16(p),
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => {
                            icmp_type = p.first().copied()
                        }
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => {
                            icmp_code = p.first().copied()
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let l4 = match (sport, dport, icmp_id, icmp_type, icmp_code) {
        (Some(src), Some(dst), ..) => L4::Ports { src, dst },
        (_, _, Some(id), Some(kind), Some(code)) => L4::Icmp { id, kind, code },
        _ => L4::Other,
    };
    Some(Tuple {
        src: src?,
        dst: dst?,
        proto: proto?,
        l4,
    })
}

fn ipv4(p: &[u8]) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(<[u8; 4]>::try_from(p.get(..4)?).ok()?))
}

fn ipv6(p: &[u8]) -> Option<Ipv6Addr> {
    Some(Ipv6Addr::from(<[u8; 16]>::try_from(p.get(..16)?).ok()?))
}

fn be16(p: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(p.get(..2)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(src: &str, sport: u16, dst: &str, dport: u16) -> Tuple {
        Tuple {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto: 6,
            l4: L4::Ports {
                src: sport,
                dst: dport,
            },
        }
    }

    /// Wraps `attrs` as the kernel's dump part: nlmsghdr + nfgenmsg + attributes.
    fn as_dump_part(entry: &Entry) -> Vec<u8> {
        let mut a = Attrs { buf: Vec::new() };
        a.nested(CTA_TUPLE_ORIG, |t| put_tuple(t, &entry.orig));
        a.nested(CTA_TUPLE_REPLY, |t| put_tuple(t, &entry.reply));
        a.put(CTA_ZONE, &entry.zone.to_be_bytes());
        if let Some(id) = entry.id {
            a.put(CTA_ID, &id.to_be_bytes());
        }
        let mut m = message(IPCTNL_MSG_CT_NEW, 0x2, 7, family(entry.orig.src), a);
        m[6..8].copy_from_slice(&0x2u16.to_ne_bytes()); // NLM_F_MULTI
        m
    }

    #[test]
    fn dump_request_bytes() {
        let got = dump_request(0x11, "10.0.0.7".parse().unwrap(), Side::ReplySource);
        let mut want = Vec::new();
        want.extend_from_slice(&48u32.to_ne_bytes()); // 16 + 4 + 16 (tuple) + 12 (filter)
        want.extend_from_slice(&0x0101u16.to_ne_bytes()); // CTNETLINK << 8 | GET
        want.extend_from_slice(&0x0301u16.to_ne_bytes()); // REQUEST | DUMP
        want.extend_from_slice(&0x11u32.to_ne_bytes());
        want.extend_from_slice(&0u32.to_ne_bytes());
        want.extend_from_slice(&[2, 0, 0, 0]); // AF_INET, v0, res_id 0
        want.extend_from_slice(&16u16.to_ne_bytes()); // CTA_TUPLE_REPLY, nested
        want.extend_from_slice(&(2u16 | 0x8000).to_ne_bytes());
        want.extend_from_slice(&12u16.to_ne_bytes()); // CTA_TUPLE_IP, nested
        want.extend_from_slice(&(1u16 | 0x8000).to_ne_bytes());
        want.extend_from_slice(&8u16.to_ne_bytes()); // CTA_IP_V4_SRC
        want.extend_from_slice(&1u16.to_ne_bytes());
        want.extend_from_slice(&[10, 0, 0, 7]);
        want.extend_from_slice(&12u16.to_ne_bytes()); // CTA_FILTER, nested
        want.extend_from_slice(&(25u16 | 0x8000).to_ne_bytes());
        want.extend_from_slice(&8u16.to_ne_bytes()); // CTA_FILTER_REPLY_FLAGS
        want.extend_from_slice(&2u16.to_ne_bytes());
        want.extend_from_slice(&1u32.to_ne_bytes()); // CTA_FILTER_F_CTA_IP_SRC
        assert_eq!(got, want);
    }

    #[test]
    fn dump_request_ipv6_orig_side() {
        let got = dump_request(1, "fd00::7".parse().unwrap(), Side::OrigSource);
        assert_eq!(got[16], 10, "AF_INET6");
        assert_eq!(
            u16::from_ne_bytes([got[22], got[23]]),
            1 | 0x8000,
            "CTA_TUPLE_ORIG"
        );
        assert_eq!(u16::from_ne_bytes([got[30], got[31]]), 3, "CTA_IP_V6_SRC");
        assert_eq!(
            &got[32..48],
            &"fd00::7".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(
            u16::from_ne_bytes([got[54], got[55]]),
            1,
            "CTA_FILTER_ORIG_FLAGS"
        );
        assert_eq!(
            got.len(),
            u32::from_ne_bytes(got[0..4].try_into().unwrap()) as usize
        );
    }

    #[test]
    fn delete_request_carries_tuple_zone_and_id() {
        let entry = Entry {
            orig: tcp("10.0.0.1", 40000, "10.96.0.10", 80),
            reply: tcp("10.0.0.2", 8080, "10.0.0.1", 40000),
            zone: 3,
            id: Some(0xdead_beef),
        };
        let msg = delete_request(9, &entry);
        assert_eq!(
            u16::from_ne_bytes([msg[4], msg[5]]),
            0x0102,
            "CTNETLINK << 8 | DELETE"
        );
        assert_eq!(u16::from_ne_bytes([msg[6], msg[7]]), 0x5, "REQUEST | ACK");
        let attrs: Vec<(u16, Vec<u8>)> = attrs(&msg[20..]).map(|(k, p)| (k, p.to_vec())).collect();
        assert_eq!(
            attrs.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec![1, 18, 12]
        );
        assert_eq!(
            decode_tuple(&attrs[0].1),
            Some(entry.orig),
            "tuple round-trips"
        );
        assert_eq!(attrs[1].1, vec![0, 3], "zone big-endian");
        assert_eq!(attrs[2].1, vec![0xde, 0xad, 0xbe, 0xef], "id big-endian");
    }

    #[test]
    fn entries_round_trip_and_give_post_dnat_flows() {
        let cases = [
            (
                "tcp through a service",
                Entry {
                    orig: tcp("10.0.0.1", 40000, "10.96.0.10", 80),
                    reply: tcp("10.0.0.2", 8080, "10.0.0.1", 40000),
                    zone: 0,
                    id: Some(1),
                },
                Some("10.0.0.1:40000 -> 10.0.0.2:8080 TCP"),
            ),
            (
                "ipv6 udp",
                Entry {
                    orig: Tuple {
                        proto: 17,
                        ..tcp("fd00::1", 5353, "fd00::2", 53)
                    },
                    reply: Tuple {
                        proto: 17,
                        ..tcp("fd00::2", 53, "fd00::1", 5353)
                    },
                    zone: 0,
                    id: None,
                },
                Some("fd00::1:5353 -> fd00::2:53 UDP"),
            ),
            (
                "icmp echo",
                Entry {
                    orig: Tuple {
                        src: "10.0.0.1".parse().unwrap(),
                        dst: "10.0.0.2".parse().unwrap(),
                        proto: 1,
                        l4: L4::Icmp {
                            id: 77,
                            kind: 8,
                            code: 0,
                        },
                    },
                    reply: Tuple {
                        src: "10.0.0.2".parse().unwrap(),
                        dst: "10.0.0.1".parse().unwrap(),
                        proto: 1,
                        l4: L4::Icmp {
                            id: 77,
                            kind: 0,
                            code: 0,
                        },
                    },
                    zone: 0,
                    id: Some(2),
                },
                Some("10.0.0.1:0 -> 10.0.0.2:0 ICMP"),
            ),
            (
                "gre is a flow without ports",
                Entry {
                    orig: Tuple {
                        proto: 47,
                        l4: L4::Other,
                        ..tcp("10.0.0.1", 0, "10.0.0.2", 0)
                    },
                    reply: Tuple {
                        proto: 47,
                        l4: L4::Other,
                        ..tcp("10.0.0.2", 0, "10.0.0.1", 0)
                    },
                    zone: 0,
                    id: Some(3),
                },
                Some("10.0.0.1:0 -> 10.0.0.2:0 IP/47"),
            ),
        ];
        for (name, entry, flow) in cases {
            let mut buf = as_dump_part(&entry);
            let mut done = message(0, 0x2, 7, 0, Attrs { buf: vec![0; 4] });
            done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
            buf.extend_from_slice(&done);
            let replies = parse(&buf);
            assert_eq!(replies, vec![Reply::Entry(entry), Reply::Done], "{name}");
            assert_eq!(Some(entry.flow().to_string()).as_deref(), flow, "{name}");
        }
    }

    #[test]
    fn acks_errors_and_garbage() {
        let mut ack = Vec::new();
        ack.extend_from_slice(&36u32.to_ne_bytes());
        ack.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        ack.extend_from_slice(&0u16.to_ne_bytes());
        ack.extend_from_slice(&5u32.to_ne_bytes());
        ack.extend_from_slice(&0u32.to_ne_bytes());
        ack.extend_from_slice(&(-2i32).to_ne_bytes()); // ENOENT
        ack.extend_from_slice(&[0; 16]); // the echoed request header
        let cases: Vec<(&str, Vec<u8>, Vec<Reply>)> = vec![
            (
                "error ack",
                ack.clone(),
                vec![Reply::Ack { seq: 5, errno: -2 }],
            ),
            (
                "length past the buffer",
                ack[..20].to_vec(),
                vec![Reply::Unreadable],
            ),
            ("short header is ignored", vec![1, 2, 3], vec![]),
            (
                "length below a header",
                {
                    let mut b = ack.clone();
                    b[0..4].copy_from_slice(&4u32.to_ne_bytes());
                    b
                },
                vec![Reply::Unreadable],
            ),
            (
                "entry without reply tuple",
                {
                    let mut a = Attrs { buf: Vec::new() };
                    a.nested(CTA_TUPLE_ORIG, |t| {
                        put_tuple(t, &tcp("10.0.0.1", 1, "10.0.0.2", 2))
                    });
                    message(IPCTNL_MSG_CT_NEW, 0, 1, AF_INET, a)
                },
                vec![Reply::Unreadable],
            ),
        ];
        for (name, buf, want) in cases {
            assert_eq!(parse(&buf), want, "{name}");
        }
    }
}
