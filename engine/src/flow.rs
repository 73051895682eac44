//! The flow being judged: a 5-tuple as the packet parser or the CLI sees it.
//!
//! # Protocols without ports
//! The policy APIs name only TCP, UDP and SCTP. Upstream leaves every other IP protocol to the
//! implementation; kube-verdict judges them as flows without ports:
//! - ICMP and ICMPv6 are [`Protocol::Icmp`];
//! - any other IP protocol (GRE 47, ESP 50, AH 51, DCCP 33, UDP-Lite 136, ...) is
//!   [`Protocol::Other`] with its IANA protocol number, and its ports are 0 (even for DCCP and
//!   UDP-Lite, which have ports: no policy API can name them).
//!
//! Only a rule (or an ANP/BANP/CNP rule) without `ports`/`protocols` matches such a flow; a
//! rule that lists ports never does. So a pod isolated by a default deny drops GRE, and a
//! port-less allow rule lets it through.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IP protocol: the three the policy APIs can name, ICMP, and every other protocol by
/// number. Only port-less rules match [`Protocol::Icmp`] and [`Protocol::Other`].
///
/// Serialized as its display string: `TCP`, `UDP`, `SCTP`, `ICMP`, or `IP/<number>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// ICMP (1) or ICMPv6 (58). Rules that list ports never match it.
    Icmp,
    /// Any other IP protocol, by IANA number (GRE 47, ESP 50, UDP-Lite 136, ...). Rules that
    /// list ports never match it. Never holds 6, 17, 132, 1 or 58: use
    /// [`Protocol::from_number`] to build one.
    Other(u8),
}

impl Protocol {
    /// The name used by the Kubernetes APIs and printed to users (`TCP`, `UDP`, `SCTP`,
    /// `ICMP`), and `IP` for [`Protocol::Other`] (whose [`Display`](fmt::Display) adds the
    /// number: `IP/47`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
            Protocol::Icmp => "ICMP",
            Protocol::Other(_) => "IP",
        }
    }

    /// The protocol with IANA number `n`: 6, 17 and 132 are TCP, UDP and SCTP, 1 and 58 are
    /// ICMP, anything else is [`Protocol::Other`].
    pub fn from_number(n: u8) -> Self {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            1 | 58 => Protocol::Icmp,
            n => Protocol::Other(n),
        }
    }

    /// The IANA protocol number (ICMP gives 1, for ICMPv6 too).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Icmp => 1,
            Protocol::Other(n) => n,
        }
    }

    /// True for TCP, UDP and SCTP: the protocols whose flows carry a destination port that
    /// rules can name. ICMP and [`Protocol::Other`] flows have port 0.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
    }

    /// Parses the API spelling (case-insensitive): `TCP`, `UDP`, `SCTP`, `ICMP` (`ICMPV6` is
    /// accepted as ICMP), and `IP/<number>` for any IP protocol by number (`IP/47` is GRE;
    /// `IP/6` is TCP, as [`Protocol::from_number`] says).
    pub fn parse(s: &str) -> Option<Self> {
        let upper = s.to_ascii_uppercase();
        match upper.as_str() {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            "ICMP" | "ICMPV6" => Some(Protocol::Icmp),
            other => {
                let number = other.strip_prefix("IP/")?;
                // Digits only: `u8::from_str` would also take a leading '+'.
                if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                number.parse::<u8>().ok().map(Protocol::from_number)
            }
        }
    }
}

impl fmt::Display for Protocol {
    /// `TCP`, `UDP`, `SCTP`, `ICMP` or `IP/<number>`; [`Protocol::parse`] reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Other(n) => write!(f, "IP/{n}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::parse(s).ok_or_else(|| UnknownProtocol(s.to_owned()))
    }
}

/// A protocol string [`Protocol::parse`] does not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProtocol(pub String);

impl fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown protocol {:?}: expected TCP, UDP, SCTP, ICMP or IP/<number>",
            self.0
        )
    }
}

impl std::error::Error for UnknownProtocol {}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Protocol::Other(_) => serializer.collect_str(self),
            other => serializer.serialize_str(other.as_str()),
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Protocol::parse(&s).ok_or_else(|| serde::de::Error::custom(UnknownProtocol(s)))
    }
}

/// One connection attempt, in the direction of its first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flow {
    /// Source address.
    pub src_ip: IpAddr,
    /// Source port (0 for ICMP and [`Protocol::Other`]).
    pub src_port: u16,
    /// Destination address, after Service DNAT.
    pub dst_ip: IpAddr,
    /// Destination port (0 for ICMP and [`Protocol::Other`]).
    pub dst_port: u16,
    /// Transport protocol.
    pub protocol: Protocol,
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} -> {}:{} {}",
            self.src_ip, self.src_port, self.dst_ip, self.dst_port, self.protocol
        )
    }
}
