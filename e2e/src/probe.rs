//! Probes between netns pods, and the reachability [`Matrix`].
//!
//! What "reachable" means, per protocol:
//! - **TCP**: the connection is established within the timeout and the server echoes a nonce.
//! - **UDP**: the server's echo of a nonce comes back within the timeout (the datagram is resent
//!   every 200 ms; an ICMP error ends the probe early as unreachable).
//! - **SCTP**: with kernel SCTP, the association is established. Without it (this test kernel), a
//!   raw INIT carrying a nonce is sent every 200 ms and the probe succeeds when the destination's
//!   raw receiver catches it (one-way: the kernel cannot answer INITs).
//!
//! Probes are independent sockets opened inside the source pod's netns, so a matrix runs them
//! all concurrently and takes about one timeout at worst.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol as SockProto, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::error::Result;
use crate::netns::in_netns_async;
use crate::sctp::{self, IPPROTO_SCTP};
use crate::servers::{SctpRegistry, kernel_has_sctp};

/// A transport protocol a pod serves and a probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP (the server echoes).
    Udp,
    /// SCTP (raw INIT on kernels without SCTP sockets).
    Sctp,
}

impl Protocol {
    /// The Kubernetes spelling: `TCP`, `UDP`, `SCTP`.
    pub fn k8s(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

/// A protocol and port number, e.g. `Port::tcp(80)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    /// The protocol.
    pub protocol: Protocol,
    /// The port number.
    pub number: u16,
}

impl Port {
    /// A TCP port.
    pub fn tcp(number: u16) -> Port {
        Port {
            protocol: Protocol::Tcp,
            number,
        }
    }
    /// A UDP port.
    pub fn udp(number: u16) -> Port {
        Port {
            protocol: Protocol::Udp,
            number,
        }
    }
    /// An SCTP port.
    pub fn sctp(number: u16) -> Port {
        Port {
            protocol: Protocol::Sctp,
            number,
        }
    }
    /// The container port name the harness gives it: `serve-80-tcp`, shortened to `s-65535-sctp`
    /// where needed to fit Kubernetes' 15-character limit.
    pub fn name(&self) -> String {
        let long = format!("serve-{}-{}", self.number, self.protocol);
        if long.len() <= 15 {
            long
        } else {
            format!("s-{}-{}", self.number, self.protocol)
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.number)
    }
}

fn nonce() -> u32 {
    // Unique enough per process: a counter mixed with the pid and the clock.
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(1);
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::UNIX_EPOCH
        .elapsed()
        .unwrap_or_default()
        .subsec_nanos();
    (c.wrapping_mul(0x9E37_79B9) ^ t ^ std::process::id().rotate_left(16)) | 1
}

/// Probes `to:port` from inside network namespace `from_netns`. `Ok(false)` means unreachable
/// (refused, dropped, rejected); `Err` means the probe itself could not run.
pub(crate) async fn probe(
    from_netns: &str,
    to: Ipv4Addr,
    port: Port,
    timeout: Duration,
    registry: &Arc<SctpRegistry>,
) -> Result<bool> {
    let dst = SocketAddr::V4(SocketAddrV4::new(to, port.number));
    match port.protocol {
        Protocol::Tcp => {
            let socket = in_netns_async(from_netns, || {
                let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
                s.set_nonblocking(true)?;
                Ok(s)
            })
            .await?;
            // The clock starts once the socket exists: thread start-up under load is not the
            // network's fault.
            let deadline = Instant::now() + timeout;
            let socket = tokio::net::TcpSocket::from_std_stream(socket.into());
            let attempt = async {
                let mut stream = socket.connect(dst).await?;
                let msg = format!("probe-{}\n", nonce());
                stream.write_all(msg.as_bytes()).await?;
                let mut back = vec![0u8; msg.len()];
                stream.read_exact(&mut back).await?;
                std::io::Result::Ok(back == msg.as_bytes())
            };
            Ok(matches!(
                tokio::time::timeout_at(deadline, attempt).await,
                Ok(Ok(true))
            ))
        }
        Protocol::Udp => {
            let socket = in_netns_async(from_netns, move || {
                let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
                s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).into())?;
                s.set_nonblocking(true)?;
                Ok(s)
            })
            .await?;
            let deadline = Instant::now() + timeout;
            let socket = tokio::net::UdpSocket::from_std(socket.into())
                .map_err(|e| crate::Error::netns("registering udp probe", from_netns, e))?;
            if socket.connect(dst).await.is_err() {
                return Ok(false);
            }
            let msg = format!("probe-{}", nonce());
            let mut buf = [0u8; 256];
            while Instant::now() < deadline {
                if socket.send(msg.as_bytes()).await.is_err() {
                    return Ok(false);
                }
                let step = (Instant::now() + Duration::from_millis(200)).min(deadline);
                match tokio::time::timeout_at(step, socket.recv(&mut buf)).await {
                    Ok(Ok(n)) if &buf[..n] == msg.as_bytes() => return Ok(true),
                    Ok(Ok(_)) => continue,
                    Ok(Err(_)) => return Ok(false), // ICMP unreachable / refused
                    Err(_) => continue,
                }
            }
            Ok(false)
        }
        Protocol::Sctp if kernel_has_sctp() => {
            let socket = in_netns_async(from_netns, || {
                let s = Socket::new(
                    Domain::IPV4,
                    Type::STREAM,
                    Some(SockProto::from(IPPROTO_SCTP)),
                )?;
                Ok(s)
            })
            .await?;
            let addr = dst.into();
            let result =
                tokio::task::spawn_blocking(move || socket.connect_timeout(&addr, timeout)).await;
            Ok(matches!(result, Ok(Ok(()))))
        }
        Protocol::Sctp => {
            let socket = in_netns_async(from_netns, || {
                let s = Socket::new(Domain::IPV4, Type::RAW, Some(SockProto::from(IPPROTO_SCTP)))?;
                s.set_nonblocking(true)?;
                Ok(s)
            })
            .await?;
            let deadline = Instant::now() + timeout;
            let tag = nonce();
            let src_port = 32_768 + (tag % 28_000) as u16;
            let packet = sctp::build_init(src_port, port.number, tag, nonce());
            let addr: socket2::SockAddr = SocketAddr::V4(SocketAddrV4::new(to, 0)).into();
            while Instant::now() < deadline {
                if socket.send_to(&packet, &addr).is_err() {
                    return Ok(false);
                }
                let step = (Instant::now() + Duration::from_millis(200)).min(deadline);
                if registry.wait_for(tag, to, port.number, step).await {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Reachability between pods, per port: `cells[(from, to, port)] = reachable`. Pods are named
/// `namespace/name`. Displays as upstream's netpol e2e truth tables (`.` reachable, `X` not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matrix {
    /// Row and column order (pod keys).
    pub pods: Vec<String>,
    /// The ports, in order.
    pub ports: Vec<Port>,
    /// The cells.
    pub cells: BTreeMap<(String, String, Port), bool>,
}

impl Matrix {
    /// A matrix over `pods` and `ports` with every cell set to `value` (e.g. the expectation
    /// "everything reachable"), to be adjusted with [`Matrix::set`].
    pub fn filled(pods: &[String], ports: &[Port], value: bool) -> Matrix {
        let mut cells = BTreeMap::new();
        for from in pods {
            for to in pods {
                for port in ports {
                    cells.insert((from.clone(), to.clone(), *port), value);
                }
            }
        }
        Matrix {
            pods: pods.to_vec(),
            ports: ports.to_vec(),
            cells,
        }
    }

    /// Sets one cell.
    pub fn set(&mut self, from: &str, to: &str, port: Port, reachable: bool) -> &mut Self {
        self.cells
            .insert((from.to_string(), to.to_string(), port), reachable);
        self
    }

    /// Sets every cell whose destination is `to` (for all sources) on `port`.
    pub fn set_to(&mut self, to: &str, port: Port, reachable: bool) -> &mut Self {
        for from in self.pods.clone() {
            self.set(&from, to, port, reachable);
        }
        self
    }

    /// Sets every cell whose source is `from` (for all destinations) on `port`.
    pub fn set_from(&mut self, from: &str, port: Port, reachable: bool) -> &mut Self {
        for to in self.pods.clone() {
            self.set(from, &to, port, reachable);
        }
        self
    }

    /// One cell.
    pub fn get(&self, from: &str, to: &str, port: Port) -> Option<bool> {
        self.cells
            .get(&(from.to_string(), to.to_string(), port))
            .copied()
    }

    /// Whether every cell equals `value`.
    pub fn all(&self, value: bool) -> bool {
        self.cells.values().all(|v| *v == value)
    }

    /// Number of reachable cells.
    pub fn reachable_count(&self) -> usize {
        self.cells.values().filter(|v| **v).count()
    }

    /// Cells where `self` (observed) differs from `expected`, one line each:
    /// `x/a -> y/b tcp/80: expected reachable, observed blocked`.
    pub fn diff(&self, expected: &Matrix) -> Vec<String> {
        let word = |r: bool| if r { "reachable" } else { "blocked" };
        let mut out = Vec::new();
        for (key, want) in &expected.cells {
            let got = self.cells.get(key).copied();
            if got != Some(*want) {
                let got = got.map_or("not probed", word);
                out.push(format!(
                    "{} -> {} {}: expected {}, observed {got}",
                    key.0,
                    key.1,
                    key.2,
                    word(*want)
                ));
            }
        }
        out
    }
}

impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.pods.iter().map(String::len).max().unwrap_or(0).max(4);
        for port in &self.ports {
            writeln!(f, "{port}:")?;
            write!(f, "{:width$}", "")?;
            for (i, _) in self.pods.iter().enumerate() {
                write!(f, " {:>3}", i)?;
            }
            writeln!(f)?;
            for (i, from) in self.pods.iter().enumerate() {
                write!(f, "{from:width$}")?;
                for to in &self.pods {
                    let mark = match self.get(from, to, *port) {
                        Some(true) => ".",
                        Some(false) => "X",
                        None => "?",
                    };
                    write!(f, " {mark:>3}")?;
                }
                writeln!(f, "   ({i})")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["x/a".into(), "x/b".into()]
    }

    #[test]
    fn diff_names_each_wrong_cell() {
        let ports = [Port::tcp(80), Port::udp(81)];
        let mut expected = Matrix::filled(&keys(), &ports, true);
        expected.set_to("x/b", Port::tcp(80), false);
        let observed = Matrix::filled(&keys(), &ports, true);
        let cases = [
            ("identical", expected.clone(), 0),
            ("all reachable vs two blocked", observed, 2),
        ];
        for (name, got, want) in cases {
            assert_eq!(got.diff(&expected).len(), want, "{name}");
        }
        assert_eq!(expected.reachable_count(), 6);
        assert!(!expected.all(true));
        assert_eq!(expected.get("x/a", "x/b", Port::tcp(80)), Some(false));
    }

    #[test]
    fn displays_a_truth_table_per_port() {
        let mut m = Matrix::filled(&keys(), &[Port::sctp(82)], true);
        m.set("x/a", "x/b", Port::sctp(82), false);
        let text = m.to_string();
        assert!(text.starts_with("sctp/82:\n"), "{text}");
        assert!(text.contains("x/a    .   X   (0)"), "{text}");
    }

    #[test]
    fn port_names_fit_kubernetes_limit() {
        for port in [Port::tcp(80), Port::udp(65535), Port::sctp(65535)] {
            assert!(port.name().len() <= 15, "{}", port.name());
        }
    }
}
