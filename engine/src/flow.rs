//! The flow being judged: a 5-tuple as the packet parser or the CLI sees it.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An IP protocol the policy APIs can name, plus ICMP, which only port-less rules match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// ICMP (1) or ICMPv6 (58). Rules that list ports never match it.
    Icmp,
}

impl Protocol {
    /// The name used by the Kubernetes APIs and printed to users (`TCP`, `UDP`, `SCTP`, `ICMP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
            Protocol::Icmp => "ICMP",
        }
    }

    /// Parses the API spelling (case-insensitive). `ICMPV6` is accepted as ICMP.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            "ICMP" | "ICMPV6" => Some(Protocol::Icmp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One connection attempt, in the direction of its first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flow {
    /// Source address.
    pub src_ip: IpAddr,
    /// Source port (0 for ICMP).
    pub src_port: u16,
    /// Destination address, after Service DNAT.
    pub dst_ip: IpAddr,
    /// Destination port (0 for ICMP).
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
