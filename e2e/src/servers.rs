//! Servers that netns pods run: TCP (echo), UDP (echo) and SCTP (a real listener where the
//! kernel has SCTP sockets, else a raw-socket INIT catcher). Sockets are opened inside the pod's
//! network namespace and then driven by tokio tasks; dropping a [`ServerSet`] closes them.

use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use socket2::{Domain, Protocol as SockProto, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::netns::in_netns_async;
use crate::probe::{Port, Protocol};
use crate::sctp::{self, IPPROTO_SCTP, SeenInit};

/// Whether this kernel can open real SCTP sockets (probed once).
pub(crate) fn kernel_has_sctp() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        Socket::new(
            Domain::IPV4,
            Type::STREAM,
            Some(SockProto::from(IPPROTO_SCTP)),
        )
        .is_ok()
    })
}

/// INITs caught by raw SCTP receivers, keyed by initiate tag, shared by a cluster's servers and
/// probes.
#[derive(Debug, Default)]
pub(crate) struct SctpRegistry {
    seen: Mutex<HashMap<u32, SeenInit>>,
    notify: Notify,
}

impl SctpRegistry {
    fn record(&self, init: SeenInit) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(init.initiate_tag, init);
        self.notify.notify_waiters();
    }

    /// Waits until an INIT with `tag` to `dst:port` was caught, or the deadline passes.
    pub(crate) async fn wait_for(
        &self,
        tag: u32,
        dst: Ipv4Addr,
        port: u16,
        deadline: tokio::time::Instant,
    ) -> bool {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(seen) = self
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&tag)
            {
                return seen.dst == dst && seen.dst_port == port;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

/// The running servers of one pod. Dropping it stops them and closes their sockets: tokio tasks
/// are aborted; blocking threads (raw and kernel SCTP, which tokio cannot register without
/// `unsafe`) see the stop flag within one socket timeout.
#[derive(Debug, Default)]
pub(crate) struct ServerSet {
    tasks: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Drop for ServerSet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How often blocking server threads look at their stop flag.
const POLL: Duration = Duration::from_millis(100);

fn bind_socket(
    domain_type: Type,
    proto: Option<SockProto>,
    addr: Ipv4Addr,
    port: u16,
) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, domain_type, proto)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(addr, port)).into())?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Starts one server per port inside `netns`. UDP servers bind `pod_ip` so that their replies
/// leave from the address the probe sent to: in a hostNetwork pod's (the node's) netns a
/// wildcard socket would answer from whichever local address routing picks, such as a veth
/// gateway, and the probe's connected socket would drop that reply. Must be called within a
/// tokio runtime.
pub(crate) async fn start(
    netns: &str,
    pod_ip: Ipv4Addr,
    ports: &[Port],
    registry: &Arc<SctpRegistry>,
) -> Result<ServerSet> {
    let mut set = ServerSet::default();
    let raw_sctp_ports: Vec<u16> = ports
        .iter()
        .filter(|p| p.protocol == Protocol::Sctp && !kernel_has_sctp())
        .map(|p| p.number)
        .collect();
    for port in ports {
        let n = port.number;
        match port.protocol {
            Protocol::Tcp => {
                let socket = in_netns_async(netns, move || {
                    let s = bind_socket(Type::STREAM, None, Ipv4Addr::UNSPECIFIED, n)?;
                    s.listen(1024)?;
                    Ok(s)
                })
                .await?;
                let listener = tokio::net::TcpListener::from_std(socket.into())
                    .map_err(|e| crate::Error::netns("registering tcp listener", netns, e))?;
                set.tasks.push(tokio::spawn(tcp_echo(listener)));
            }
            Protocol::Udp => {
                let socket =
                    in_netns_async(netns, move || bind_socket(Type::DGRAM, None, pod_ip, n))
                        .await?;
                let udp = tokio::net::UdpSocket::from_std(socket.into())
                    .map_err(|e| crate::Error::netns("registering udp socket", netns, e))?;
                set.tasks.push(tokio::spawn(udp_echo(udp)));
            }
            Protocol::Sctp if kernel_has_sctp() => {
                let socket = in_netns_async(netns, move || {
                    let s = bind_socket(
                        Type::STREAM,
                        Some(SockProto::from(IPPROTO_SCTP)),
                        Ipv4Addr::UNSPECIFIED,
                        n,
                    )?;
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(POLL))?;
                    s.listen(1024)?;
                    Ok(s)
                })
                .await?;
                let stop = Arc::clone(&set.stop);
                std::thread::spawn(move || sctp_accept(&socket, &stop));
            }
            Protocol::Sctp => {} // one raw catcher below serves every SCTP port
        }
    }
    if !raw_sctp_ports.is_empty() {
        let socket = in_netns_async(netns, || {
            let s = Socket::new(Domain::IPV4, Type::RAW, Some(SockProto::from(IPPROTO_SCTP)))?;
            s.set_read_timeout(Some(POLL))?;
            Ok(s)
        })
        .await?;
        let stop = Arc::clone(&set.stop);
        let registry = Arc::clone(registry);
        std::thread::spawn(move || raw_sctp_catcher(&socket, &raw_sctp_ports, &registry, &stop));
    }
    Ok(set)
}

async fn tcp_echo(listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

async fn udp_echo(socket: tokio::net::UdpSocket) {
    let mut buf = [0u8; 65_536];
    loop {
        if let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    }
}

fn sctp_accept(listener: &Socket, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        // The association is established once accepted; that is all a probe needs. Close it.
        if let Ok((conn, _)) = listener.accept() {
            drop(conn);
        }
    }
}

fn raw_sctp_catcher(socket: &Socket, ports: &[u16], registry: &SctpRegistry, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    let mut reader = socket;
    while !stop.load(Ordering::Relaxed) {
        if let Ok(n) = reader.read(&mut buf)
            && let Some(init) = sctp::parse_init(&buf[..n])
            && ports.contains(&init.dst_port)
        {
            registry.record(init);
        }
    }
}
