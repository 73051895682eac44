//! The desired ruleset as plain data: no netlink, no rustables.

/// How to feed the queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueStatement {
    /// nftables `queue` (`CONFIG_NFT_QUEUE`).
    Native,
    /// x_tables `NFQUEUE` revision 3 through `nft_compat`, as `iptables-nft -j NFQUEUE` emits.
    XtCompat,
}

impl QueueStatement {
    /// `native` or `xt-compat`, for logs and the `queue_statement_info` metric.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatement::Native => "native",
            QueueStatement::XtCompat => "xt-compat",
        }
    }
}

impl std::fmt::Display for QueueStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the ruleset is built from (the agent's flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesetConfig {
    /// Name of the `inet` table (`--table-name`).
    pub table_name: String,
    /// First queue number (`--queue-base`).
    pub queue_base: u16,
    /// Number of queues (`--queues`, 1..=16).
    pub queues: u16,
    /// Set `bypass` on the queue rule (`--fail-open`).
    pub fail_open: bool,
    /// The kernel verdict cache (`--verdict-cache-ttl`, 0 turns it off).
    pub verdict_cache: Option<VerdictCacheSpec>,
}

/// The kernel verdict cache: sets of flow classes (source, destination, protocol, destination
/// port) that the agent judged *allow*, accepted in the kernel without a queue round trip and
/// logged to an nfnetlink_log group so that each such connection is still reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerdictCacheSpec {
    /// How long an entry lives unless the cache is flushed first (every index change flushes).
    pub ttl: std::time::Duration,
    /// The nfnetlink_log group the cached-accept rules log to.
    pub log_group: u16,
}

impl Default for VerdictCacheSpec {
    fn default() -> Self {
        VerdictCacheSpec {
            ttl: std::time::Duration::from_secs(30),
            log_group: 100,
        }
    }
}

impl Default for RulesetConfig {
    fn default() -> Self {
        RulesetConfig {
            table_name: "kube-verdict".into(),
            queue_base: 100,
            queues: 1,
            fail_open: true,
            verdict_cache: Some(VerdictCacheSpec::default()),
        }
    }
}

/// A netfilter hook this table attaches to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Routed packets (pod to pod, pod to remote, remote to pod).
    Forward,
    /// Packets to this host.
    Input,
    /// Packets from this host.
    Output,
}

impl Hook {
    /// The nft keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Forward => "forward",
            Hook::Input => "input",
            Hook::Output => "output",
        }
    }
}

/// IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (`ip`).
    V4,
    /// IPv6 (`ip6`).
    V6,
}

/// Source or destination address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrField {
    /// `saddr`.
    Source,
    /// `daddr`.
    Destination,
}

/// One condition of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// `ct state established,related`.
    Established,
    /// `ct state new`.
    New,
    /// `ct state invalid,new,untracked`: everything that is neither established nor related.
    /// Invalid packets (a TCP ACK with no connection, UDP-Lite on kernels that check its
    /// checksum as UDP) and untracked ones (a `notrack` rule in any table) are judged like a
    /// new connection, per packet, since conntrack keeps no state for them.
    Unestablished,
    /// `icmpv6 type 133-137` (router/neighbour solicitation and advertisement, redirect).
    NeighbourDiscovery,
    /// `ip saddr @pods4` and the like.
    AddrInSet(Family, AddrField),
    /// `meta l4proto @cacheable`: the verdict cache is switched on (see
    /// [`super::CACHE_SWITCH`]).
    CacheOn,
    /// `ip saddr . ip daddr . meta l4proto . th dport @verdicts4` (or `ip6` and `@verdicts6`):
    /// the flow class is in the verdict cache.
    CachedAllow(Family),
}

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `accept`.
    Accept,
    /// Hand the packet to the verdict workers.
    Queue,
    /// `log group G accept`: accept, and copy the headers to the verdict cache's log group.
    LogAccept,
}

/// One rule: all matches, then the action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// Conditions, all of which must hold.
    pub matches: Vec<Match>,
    /// The verdict.
    pub action: Action,
}

/// One base chain (type filter, policy accept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSpec {
    /// Chain name (same as the hook keyword).
    pub name: &'static str,
    /// The hook.
    pub hook: Hook,
    /// The priority (0 = `filter`).
    pub priority: i32,
    /// Rules in order.
    pub rules: Vec<RuleSpec>,
}

/// The queue statement's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// Native or compat.
    pub statement: QueueStatement,
    /// First queue.
    pub num: u16,
    /// Number of queues.
    pub total: u16,
    /// Accept when nobody listens (fail-open).
    pub bypass: bool,
}

impl QueueSpec {
    /// `NFT_QUEUE_FLAG_*` / `NFQ_FLAG_*` bits (the same values): bypass 1, cpu-fanout 2.
    /// Fanout is always on: the verdict thread for queue `base + i` is pinned to CPU `i`.
    pub fn flags(&self) -> u16 {
        let fanout = rustables::expr::QUEUE_FLAG_CPU_FANOUT;
        if self.bypass {
            fanout | rustables::expr::QUEUE_FLAG_BYPASS
        } else {
            fanout
        }
    }
}

/// The whole table (without its set elements, which change on their own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    /// Table name.
    pub table: String,
    /// The queue statement every `Queue` action uses.
    pub queue: QueueSpec,
    /// The verdict cache, if on (its sets exist either way, so turning it on or off is a
    /// rule change only).
    pub verdict_cache: Option<VerdictCacheSpec>,
    /// Base chains.
    pub chains: Vec<ChainSpec>,
}

/// Filter priority: after conntrack (-200) and DNAT (-100) in every hook used here.
pub const PRIORITY_FILTER: i32 = 0;

fn queue_from(family: Family, field: AddrField) -> RuleSpec {
    RuleSpec {
        matches: vec![Match::Unestablished, Match::AddrInSet(family, field)],
        action: Action::Queue,
    }
}

fn cached_allow(family: Family) -> RuleSpec {
    RuleSpec {
        matches: vec![Match::New, Match::CacheOn, Match::CachedAllow(family)],
        action: Action::LogAccept,
    }
}

fn accept(matches: Vec<Match>) -> RuleSpec {
    RuleSpec {
        matches,
        action: Action::Accept,
    }
}

impl Ruleset {
    /// The ruleset the agent wants for `cfg`, using `statement` to queue.
    pub fn desired(cfg: &RulesetConfig, statement: QueueStatement) -> Ruleset {
        use AddrField::{Destination, Source};
        use Family::{V4, V6};
        let established = || accept(vec![Match::Established]);
        let nd = || accept(vec![Match::NeighbourDiscovery]);
        // Cached allows go before the queue rules; without a cache there are none.
        let cached = || -> Vec<RuleSpec> {
            match cfg.verdict_cache {
                Some(_) => vec![cached_allow(V4), cached_allow(V6)],
                None => Vec::new(),
            }
        };
        Ruleset {
            table: cfg.table_name.clone(),
            queue: QueueSpec {
                statement,
                num: cfg.queue_base,
                total: cfg.queues.max(1),
                bypass: cfg.fail_open,
            },
            verdict_cache: cfg.verdict_cache,
            chains: vec![
                ChainSpec {
                    name: "forward",
                    hook: Hook::Forward,
                    priority: PRIORITY_FILTER,
                    rules: [
                        vec![established(), nd()],
                        cached(),
                        vec![
                            queue_from(V4, Source),
                            queue_from(V4, Destination),
                            queue_from(V6, Source),
                            queue_from(V6, Destination),
                        ],
                    ]
                    .concat(),
                },
                ChainSpec {
                    name: "input",
                    hook: Hook::Input,
                    priority: PRIORITY_FILTER,
                    rules: [
                        vec![established(), nd()],
                        cached(),
                        vec![queue_from(V4, Source), queue_from(V6, Source)],
                    ]
                    .concat(),
                },
                ChainSpec {
                    name: "output",
                    hook: Hook::Output,
                    priority: PRIORITY_FILTER,
                    rules: vec![
                        established(),
                        accept(vec![Match::AddrInSet(V4, Destination)]),
                        accept(vec![Match::AddrInSet(V6, Destination)]),
                    ],
                },
            ],
        }
    }
}
