//! nfnetlink_log messages, encoded and decoded by hand (pure; no socket here).
//!
//! Out: one `NFULNL_MSG_CONFIG` request per setup step ([`Config`]), each with `NLM_F_ACK`.
//! In: whatever one `recv` returns, split by [`parse`] into [`Message`]s: logged packets
//! (`NFULNL_MSG_PACKET`), acks and errors (`NLMSG_ERROR`), the `NLMSG_DONE` that ends a batch of
//! more than one packet, and anything else.
//!
//! Layout (include/uapi/linux/netfilter/nfnetlink_log.h): `nlmsghdr` (host order) +
//! `nfgenmsg { family, version = 0, res_id = group (big-endian) }` + attributes (`nlattr` header
//! in host order; the integers inside config and packet attributes are big-endian).
//!
//! The parser never panics and never reads past a checked length: every read goes through
//! `get`, and a message or attribute whose length does not fit ends the walk over its buffer.

use std::time::Duration;

use super::{LogConfig, LoggedPacket};

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
const NLA_HDRLEN: usize = 4;
/// Drops `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` from an attribute type.
const NLA_TYPE_MASK: u16 = 0x3fff;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const NFNL_SUBSYS_ULOG: u16 = 4;
const NFULNL_MSG_PACKET: u16 = 0;
const NFULNL_MSG_CONFIG: u16 = 1;
/// The message type of a logged packet.
const PACKET: u16 = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
/// The message type of a config request.
const CONFIG: u16 = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;

const NFULA_CFG_CMD: u16 = 1;
const NFULA_CFG_MODE: u16 = 2;
const NFULA_CFG_NLBUFSIZ: u16 = 3;
const NFULA_CFG_TIMEOUT: u16 = 4;
const NFULA_CFG_QTHRESH: u16 = 5;

const NFULNL_CFG_CMD_BIND: u8 = 1;
const NFULNL_CFG_CMD_UNBIND: u8 = 2;
const NFULNL_COPY_PACKET: u8 = 2;

const NFULA_PACKET_HDR: u16 = 1;
const NFULA_TIMESTAMP: u16 = 3;
const NFULA_PAYLOAD: u16 = 9;
const NFULA_PREFIX: u16 = 10;

/// `AF_UNSPEC`: a log group is not per family (only `PF_BIND`/`PF_UNBIND` look at it).
const AF_UNSPEC: u8 = 0;

/// One setup step: the body of one `NFULNL_MSG_CONFIG` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    /// `NFULA_CFG_CMD` = `NFULNL_CFG_CMD_BIND`: create the group's instance for this socket.
    Bind,
    /// `NFULA_CFG_CMD` = `NFULNL_CFG_CMD_UNBIND`: destroy the group's instance (sent on drop).
    Unbind,
    /// `NFULA_CFG_MODE` = `NFULNL_COPY_PACKET` with this copy range (0: the kernel maximum).
    CopyPacket {
        /// Bytes of each packet to copy, from its network header on.
        range: u16,
    },
    /// `NFULA_CFG_QTHRESH`: send a batch once it holds this many packets.
    QueueThreshold(u32),
    /// `NFULA_CFG_NLBUFSIZ`: the size of the kernel's batch buffer, in bytes (its default of
    /// about 4 KiB holds only ~20 packets of 128 bytes, whatever the queue threshold).
    BatchBytes(u32),
    /// `NFULA_CFG_TIMEOUT`: send a non-empty batch at the latest this many 10 ms ticks after its
    /// first packet.
    FlushTimeout {
        /// Units of 10 ms.
        ticks: u32,
    },
}

impl Config {
    /// What the step does, for error messages ("the kernel refused to ...").
    pub fn what(self) -> &'static str {
        match self {
            Config::Bind => {
                "bind the log group (EPERM: another socket holds it, or no CAP_NET_ADMIN)"
            }
            Config::Unbind => "unbind the log group",
            Config::CopyPacket { .. } => "set copy mode NFULNL_COPY_PACKET and the copy range",
            Config::QueueThreshold(_) => "set the queue threshold (NFULA_CFG_QTHRESH)",
            Config::BatchBytes(_) => "set the batch buffer size (NFULA_CFG_NLBUFSIZ)",
            Config::FlushTimeout { .. } => "set the flush timeout (NFULA_CFG_TIMEOUT)",
        }
    }
}

/// The requests [`LogListener::open`](super::LogListener::open) sends, in order. Binding comes
/// first: every other step needs the instance it creates.
///
/// No `PF_UNBIND`/`PF_BIND`: kernels since 2.6.x find the nfnetlink_log logger by type for
/// `log group N`, and those commands change which logger the whole namespace uses for
/// type-less log calls (e.g. `nf_log_ipv4` for conntrack's invalid-packet logging).
pub fn setup_steps(cfg: &LogConfig) -> [Config; 5] {
    [
        Config::Bind,
        Config::CopyPacket {
            range: cfg.copy_range,
        },
        Config::BatchBytes(cfg.batch_bytes),
        Config::QueueThreshold(cfg.queue_threshold),
        Config::FlushTimeout {
            ticks: flush_ticks(cfg.flush_timeout),
        },
    ]
}

/// `timeout` in the kernel's 10 ms ticks: rounded up, at least 1 (0 would arm the flush timer
/// for "now", i.e. no batching at all), saturating at `u32::MAX`.
pub fn flush_ticks(timeout: Duration) -> u32 {
    let ticks = timeout.as_nanos().div_ceil(10_000_000).max(1);
    u32::try_from(ticks).unwrap_or(u32::MAX)
}

/// Encodes one config request for `group` (sequence number `seq`, `NLM_F_REQUEST | NLM_F_ACK`).
pub fn config_request(seq: u32, group: u16, step: Config) -> Vec<u8> {
    let mut attrs = Vec::new();
    match step {
        Config::Bind => put_attr(&mut attrs, NFULA_CFG_CMD, &[NFULNL_CFG_CMD_BIND]),
        Config::Unbind => put_attr(&mut attrs, NFULA_CFG_CMD, &[NFULNL_CFG_CMD_UNBIND]),
        Config::CopyPacket { range } => {
            // struct nfulnl_msg_config_mode { __be32 copy_range; __u8 copy_mode; __u8 _pad; }
            let mut mode = u32::from(range).to_be_bytes().to_vec();
            mode.extend_from_slice(&[NFULNL_COPY_PACKET, 0]);
            put_attr(&mut attrs, NFULA_CFG_MODE, &mode);
        }
        Config::QueueThreshold(n) => put_attr(&mut attrs, NFULA_CFG_QTHRESH, &n.to_be_bytes()),
        Config::BatchBytes(n) => put_attr(&mut attrs, NFULA_CFG_NLBUFSIZ, &n.to_be_bytes()),
        Config::FlushTimeout { ticks } => {
            put_attr(&mut attrs, NFULA_CFG_TIMEOUT, &ticks.to_be_bytes());
        }
    }
    let len = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    out.extend_from_slice(&CONFIG.to_ne_bytes());
    out.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills in ours
    out.push(AF_UNSPEC);
    out.push(0); // NFNETLINK_V0
    out.extend_from_slice(&group.to_be_bytes());
    out.extend_from_slice(&attrs);
    out
}

/// Appends one attribute (header, payload, padding to 4 bytes). Payloads here are at most 6
/// bytes, so the length always fits.
fn put_attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = u16::try_from(NLA_HDRLEN + payload.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// One netlink message of a received datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A logged packet.
    Packet(LoggedPacket),
    /// `NLMSG_ERROR`: an ack (`errno == 0`) or a refusal (`errno < 0`, a negated errno) of the
    /// request with sequence number `seq`.
    Ack {
        /// The request's sequence number.
        seq: u32,
        /// 0, or a negative errno.
        errno: i32,
    },
    /// `NLMSG_DONE`: the end of a batch of more than one packet.
    Done,
    /// A message that could not be read: a header whose length does not fit the buffer (the
    /// walk stops there), or a packet without `NFULA_PACKET_HDR`.
    Unreadable,
    /// `NLMSG_NOOP`, or a type we do not use.
    Other,
}

/// Splits one received datagram into its messages.
pub fn parse(buf: &[u8]) -> impl Iterator<Item = Message> + '_ {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let header = rest.get(..NLMSG_HDRLEN)?;
        let len = usize::try_from(ne_u32(header.get(0..4)?)?).ok()?;
        let Some(body) = rest.get(NLMSG_HDRLEN..len).filter(|_| len >= NLMSG_HDRLEN) else {
            rest = &[];
            return Some(Message::Unreadable);
        };
        let kind = ne_u16(header.get(4..6)?)?;
        let seq = ne_u32(header.get(8..12)?)?;
        rest = rest.get(align(len)..).unwrap_or(&[]);
        Some(match kind {
            PACKET => decode_packet(body).map_or(Message::Unreadable, Message::Packet),
            NLMSG_ERROR => body
                .get(0..4)
                .and_then(ne_u32)
                .map_or(Message::Unreadable, |e| Message::Ack {
                    seq,
                    errno: i32::from_ne_bytes(e.to_ne_bytes()),
                }),
            NLMSG_DONE => Message::Done,
            // NLMSG_NOOP, NLMSG_OVERRUN (never sent by Linux) and anything newer.
            _ => Message::Other,
        })
    })
}

fn decode_packet(body: &[u8]) -> Option<LoggedPacket> {
    let mut header = None;
    let mut payload = Vec::new();
    let mut prefix = None;
    let mut timestamp = None;
    for (kind, value) in attrs(body.get(NFGENMSG_LEN..)?) {
        match kind {
            // struct nfulnl_msg_packet_hdr { __be16 hw_protocol; __u8 hook; __u8 _pad; }
            NFULA_PACKET_HDR => {
                let [proto_hi, proto_lo, hook, _pad] = <[u8; 4]>::try_from(value.get(..4)?).ok()?;
                header = Some((u16::from_be_bytes([proto_hi, proto_lo]), hook));
            }
            NFULA_PAYLOAD => payload = value.to_vec(),
            // struct nfulnl_msg_packet_timestamp { __aligned_be64 sec; __aligned_be64 usec; }
            NFULA_TIMESTAMP => {
                let sec = u64::from_be_bytes(value.get(0..8)?.try_into().ok()?);
                let usec = u64::from_be_bytes(value.get(8..16)?.try_into().ok()?);
                timestamp = std::time::UNIX_EPOCH.checked_add(
                    std::time::Duration::from_secs(sec) + std::time::Duration::from_micros(usec),
                );
            }
            // nftables sends "\0" for a rule without a prefix.
            NFULA_PREFIX => {
                let text = value.split(|&b| b == 0).next().unwrap_or(value);
                prefix = (!text.is_empty()).then(|| String::from_utf8_lossy(text).into_owned());
            }
            _ => {}
        }
    }
    let (hw_protocol, hook) = header?;
    Some(LoggedPacket {
        payload,
        hw_protocol,
        hook,
        prefix,
        timestamp,
    })
}

/// `(type without flag bits, payload)` of each attribute in `buf`; stops at the first one whose
/// length does not fit.
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::from(ne_u16(rest.get(0..2)?)?);
        let kind = ne_u16(rest.get(2..4)?)? & NLA_TYPE_MASK;
        let payload = rest.get(NLA_HDRLEN..len)?;
        rest = rest.get(align(len)..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

fn align(len: usize) -> usize {
    len.saturating_add(3) & !3
}

fn ne_u16(b: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(b.try_into().ok()?))
}

fn ne_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.try_into().ok()?))
}
