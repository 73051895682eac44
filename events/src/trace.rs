//! One trace per connection, with no coordination between nodes.
//!
//! ```text
//!  first packet, as both nodes see it (after Service DNAT, before any SNAT)
//!    5-tuple ─┬─ TCP:  + SYN initial sequence number ─┐
//!             ├─ SCTP: + INIT initiate tag ────────────┤
//!             └─ UDP, ICMP, other: + 10 s time bucket ─┤
//!                                                      ▼
//!                         SipHash-2-4/128 keyed by the cluster's TraceKey ─► TraceId (16 bytes)
//!                         TraceId + direction ─► SpanId (egress half, ingress half)
//! ```
//!
//! The client's node judges the egress half and the server's node the ingress half of the
//! same first packet, so both derive the same [`TraceId`] and their two spans land in one
//! trace as siblings. A new connection on the same 5-tuple has a new initial sequence number
//! (TCP) or initiate tag (SCTP), so it gets a new trace.
//!
//! # UDP, ICMP and other protocols
//! They carry nothing that identifies a connection, so the packet's arrival time, cut into
//! [`TIME_BUCKET`]s, stands in. Both nodes see the first packet within well under a
//! millisecond of each other, so they agree unless the packet crosses a bucket edge between
//! the two observations, or the nodes' clocks disagree across an edge: the chance of a split
//! trace is about (network delay + clock skew) / 10 s, 0.1 % for 10 ms. A split trace still has
//! both halves, in two traces of one span each. Conntrack keeps a UDP flow for 30 s or more, so
//! two flows of one 5-tuple never share a bucket.
//!
//! # Collisions
//! The id is 128 bits of a keyed hash, so two connections share a trace id with probability
//! about n² / 2¹²⁹: never, in practice. The key keeps ids unguessable across clusters (one
//! cluster's ids say nothing about another's flows); it is per cluster, not secret, and
//! every agent of a cluster must use the same one (the operator passes the enforcer's UID).

use std::fmt;
use std::hash::Hasher;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use siphasher::sip128::{Hasher128, SipHasher24};
use verdict_engine::{Direction, Flow, Protocol};

/// The width of the time bucket that stands in for a connection token (UDP, ICMP, other).
pub const TIME_BUCKET_SECONDS: u64 = 10;

/// The per-cluster hash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceKey([u8; 16]);

impl fmt::Debug for TraceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TraceKey(..)")
    }
}

impl TraceKey {
    /// A key from any string every agent of the cluster knows (the enforcer's UID); the
    /// string is hashed to 16 bytes, so any length works.
    pub fn from_cluster_id(id: &str) -> TraceKey {
        let mut h = SipHasher24::new_with_keys(0x6b75_6265_2d76_6572, 0x6469_6374_2d6b_6579);
        h.write(id.as_bytes());
        TraceKey(h.finish128().as_bytes())
    }
}

/// A W3C / OpenTelemetry trace id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

/// A W3C / OpenTelemetry span id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// Derives the trace id of the connection whose first packet is `flow`.
    ///
    /// `token` is the TCP initial sequence number or the SCTP initiate tag; without one (UDP,
    /// ICMP, other protocols, or a packet that carried none) the arrival time's bucket is used.
    pub fn derive(key: &TraceKey, flow: &Flow, token: Option<u32>, received: SystemTime) -> Self {
        let mut h = SipHasher24::new_with_key(&key.0);
        write_ip(&mut h, flow.src_ip);
        write_ip(&mut h, flow.dst_ip);
        h.write_u16(flow.src_port);
        h.write_u16(flow.dst_port);
        h.write_u16(protocol_number(flow.protocol));
        match token {
            Some(token) => {
                h.write_u8(1);
                h.write_u32(token);
            }
            None => {
                let secs = received
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                h.write_u8(2);
                h.write_u64(secs / TIME_BUCKET_SECONDS);
            }
        }
        let id = h.finish128().as_bytes();
        // An all-zero trace id is invalid in W3C trace context.
        if id == [0; 16] {
            return TraceId([1; 16]);
        }
        TraceId(id)
    }

    /// The id of one half's span: the same on every node, different per direction.
    pub fn span_id(&self, direction: Direction) -> SpanId {
        let mut h = SipHasher24::new_with_keys(0, 0);
        h.write(&self.0);
        h.write_u8(match direction {
            Direction::Egress => 1,
            Direction::Ingress => 2,
        });
        let mut id = h.finish().to_be_bytes();
        if id == [0; 8] {
            id[7] = 1;
        }
        SpanId(id)
    }

    /// The 32 lowercase hex digits Jaeger shows and links with.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 32 hex digits.
    pub fn from_hex(s: &str) -> Option<TraceId> {
        let mut out = [0u8; 16];
        parse_hex(s, &mut out).then_some(TraceId(out))
    }
}

impl SpanId {
    /// 16 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// The protocol number hashed for `protocol` (IANA numbers; ICMPv4 and ICMPv6 alike are 1).
fn protocol_number(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
        Protocol::Icmp => 1,
        Protocol::Other(n) => u16::from(n),
    }
}

fn write_ip(h: &mut SipHasher24, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            h.write_u8(4);
            h.write(&v4.octets());
        }
        IpAddr::V6(v6) => {
            h.write_u8(6);
            h.write(&v6.octets());
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn parse_hex(s: &str, out: &mut [u8]) -> bool {
    if s.len() != out.len() * 2 || !s.is_ascii() {
        return false;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        match u8::from_str_radix(&s[i * 2..i * 2 + 2], 16) {
            Ok(b) => *byte = b,
            Err(_) => return false,
        }
    }
    true
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.to_hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({})", self.to_hex())
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TraceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TraceId::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("a trace id is 32 hexadecimal digits"))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    fn flow(protocol: Protocol, src_port: u16) -> Flow {
        Flow {
            src_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 1, 5)),
            src_port,
            dst_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 2, 7)),
            dst_port: 8080,
            protocol,
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn trace_id_cases() {
        let key = TraceKey::from_cluster_id("2f1c1a4e-0f6b-4c55-9d0e-6a1b0c3d4e5f");
        let other_key = TraceKey::from_cluster_id("another-cluster");
        let tcp = flow(Protocol::Tcp, 40000);
        let base = TraceId::derive(&key, &tcp, Some(0xdead_beef), at(1_000_000));
        // (case, id, same as base?)
        let cases: [(&str, TraceId, bool); 8] = [
            (
                "the other node sees the same first packet later: same trace",
                TraceId::derive(&key, &tcp, Some(0xdead_beef), at(1_000_003)),
                true,
            ),
            (
                "a new connection on the same 5-tuple has a new ISN: new trace",
                TraceId::derive(&key, &tcp, Some(0xdead_bef0), at(1_000_000)),
                false,
            ),
            (
                "another source port: new trace",
                TraceId::derive(
                    &key,
                    &flow(Protocol::Tcp, 40001),
                    Some(0xdead_beef),
                    at(1_000_000),
                ),
                false,
            ),
            (
                "another protocol with the same ports and token: new trace",
                TraceId::derive(
                    &key,
                    &flow(Protocol::Sctp, 40000),
                    Some(0xdead_beef),
                    at(1_000_000),
                ),
                false,
            ),
            (
                "another cluster's key: new trace",
                TraceId::derive(&other_key, &tcp, Some(0xdead_beef), at(1_000_000)),
                false,
            ),
            (
                "no token: the time bucket decides, so not the TCP id",
                TraceId::derive(&key, &tcp, None, at(1_000_000)),
                false,
            ),
            (
                "the reversed 5-tuple is another flow",
                TraceId::derive(
                    &key,
                    &Flow {
                        src_ip: tcp.dst_ip,
                        dst_ip: tcp.src_ip,
                        src_port: tcp.dst_port,
                        dst_port: tcp.src_port,
                        protocol: tcp.protocol,
                    },
                    Some(0xdead_beef),
                    at(1_000_000),
                ),
                false,
            ),
            (
                "the same everything: same trace",
                TraceId::derive(&key, &tcp, Some(0xdead_beef), at(2_000_000)),
                true,
            ),
        ];
        for (case, id, same) in cases {
            assert_eq!(id == base, same, "{case}");
        }
    }

    #[test]
    fn udp_uses_the_time_bucket() {
        let key = TraceKey::from_cluster_id("c");
        let udp = flow(Protocol::Udp, 5353);
        let t = |s| TraceId::derive(&key, &udp, None, at(s));
        assert_eq!(t(1_000_000), t(1_000_009), "same 10 s bucket");
        assert_ne!(t(1_000_009), t(1_000_010), "a bucket edge splits");
    }

    #[test]
    fn span_ids_are_per_direction_and_hex_round_trips() {
        let id = TraceId::derive(
            &TraceKey::from_cluster_id("c"),
            &flow(Protocol::Tcp, 1),
            Some(7),
            at(0),
        );
        assert_ne!(
            id.span_id(Direction::Egress),
            id.span_id(Direction::Ingress)
        );
        assert_eq!(id.span_id(Direction::Egress), id.span_id(Direction::Egress));
        let hex = id.to_hex();
        assert_eq!(hex.len(), 32);
        assert_eq!(TraceId::from_hex(&hex), Some(id));
        assert_eq!(TraceId::from_hex("xyz"), None);
        assert_eq!(TraceId::from_hex(&"g".repeat(32)), None);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{hex}\""));
        assert_eq!(serde_json::from_str::<TraceId>(&json).unwrap(), id);
    }
}
