//! `--probe PROTO/PORT`: what a simulated connection looks like on the wire.

use std::fmt;
use std::str::FromStr;

use verdict_engine::Protocol;

/// One protocol and destination port to try. ICMP and other non-L4 protocols have no port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Probe {
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port; `None` exactly when the protocol has no ports (ICMP, `IP/<n>`).
    pub port: Option<u16>,
}

impl Probe {
    /// TCP/80, the probe used when none is given.
    pub const DEFAULT: Probe = Probe {
        protocol: Protocol::Tcp,
        port: Some(80),
    };
}

impl fmt::Display for Probe {
    /// `TCP/80`, `ICMP` or `IP/47`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}/{port}", self.protocol),
            None => write!(f, "{}", self.protocol),
        }
    }
}

impl FromStr for Probe {
    type Err = String;

    /// Parses `tcp/80`, `UDP/53`, `sctp/9000`, `icmp`, or `ip/47` for any other IP protocol
    /// by number, which has no port (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(number) = s
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("ip/"))
            .map(|_| &s[3..])
        {
            let protocol = Protocol::parse(s).ok_or_else(|| {
                format!("invalid IP protocol number {number:?} (expected 0 to 255)")
            })?;
            if protocol.has_ports() {
                return Err(format!(
                    "IP/{number} is {protocol}, which needs a port, as in {protocol}/80"
                ));
            }
            return Ok(Probe {
                protocol,
                port: None,
            });
        }
        let (proto, port) = match s.split_once('/') {
            Some((proto, port)) => (proto, Some(port)),
            None => (s, None),
        };
        let protocol = Protocol::parse(proto).ok_or_else(|| {
            format!("unknown protocol {proto:?} (expected TCP, UDP, SCTP, ICMP or IP/<number>)")
        })?;
        let port = match (protocol, port) {
            (Protocol::Icmp, None) => None,
            (Protocol::Icmp, Some(_)) => return Err("ICMP has no port: write just ICMP".into()),
            (_, None) => return Err(format!("{protocol} needs a port, as in {protocol}/80")),
            (_, Some(port)) => match port.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => return Err(format!("invalid port {port:?} (expected 1 to 65535)")),
            },
        };
        Ok(Probe { protocol, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn parses_probes() {
        let cases = [
            ("lower case", "tcp/80", Ok("TCP/80")),
            ("upper case", "UDP/53", Ok("UDP/53")),
            ("sctp", "Sctp/9000", Ok("SCTP/9000")),
            ("icmp", "icmp", Ok("ICMP")),
            (
                "icmp with port",
                "icmp/8",
                Err("ICMP has no port: write just ICMP"),
            ),
            ("missing port", "tcp", Err("TCP needs a port, as in TCP/80")),
            (
                "port zero",
                "tcp/0",
                Err("invalid port \"0\" (expected 1 to 65535)"),
            ),
            (
                "port too big",
                "tcp/65536",
                Err("invalid port \"65536\" (expected 1 to 65535)"),
            ),
            (
                "named port",
                "tcp/http",
                Err("invalid port \"http\" (expected 1 to 65535)"),
            ),
            (
                "unknown protocol",
                "gre/1",
                Err("unknown protocol \"gre\" (expected TCP, UDP, SCTP, ICMP or IP/<number>)"),
            ),
            ("gre by number", "ip/47", Ok("IP/47")),
            ("ip/1 is icmp", "IP/1", Ok("ICMP")),
            (
                "ip/6 is tcp and needs a port",
                "ip/6",
                Err("IP/6 is TCP, which needs a port, as in TCP/80"),
            ),
            (
                "ip protocol out of range",
                "ip/300",
                Err("invalid IP protocol number \"300\" (expected 0 to 255)"),
            ),
        ];
        for (name, input, want) in cases {
            let got = input.parse::<Probe>().map(|p| p.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), want, "{name}");
        }
    }
}
