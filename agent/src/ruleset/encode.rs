//! The desired state as rustables objects and netlink batches. Pure: building a batch only
//! writes bytes into a buffer; [`super::Syncer`] sends them.

use std::net::{Ipv4Addr, Ipv6Addr};

use rustables::data_type::DataType;
use rustables::expr::{
    Bitwise, Cmp, CmpOp, ConnTrackState, Conntrack, ConntrackKey, HighLevelPayload,
    ICMPv6HeaderField, IPv4HeaderField, IPv6HeaderField, Immediate, Log, Lookup, Meta, MetaType,
    NetworkHeaderField, Queue, Register, TCPHeaderField, Target, TransportHeaderField, VerdictKind,
};
use rustables::set::{SetBuilder, SetElementList};
use rustables::{
    Batch, Chain, ChainPolicy, ChainType, Hook as NftHook, HookClass, MsgType, ProtocolFamily,
    Rule, Set, Table,
};
use verdict_engine::SelectedIps;

use super::diff::ElementDiff;
use super::model::{
    Action, AddrField, ChainSpec, Family, Hook, Match, QueueSpec, QueueStatement, RuleSpec, Ruleset,
};
use super::{CACHE_SWITCH, CACHE_V4, CACHE_V6, ELEMENTS_PER_MESSAGE, SET_V4, SET_V6};
use crate::cache::CacheKey;
use crate::{Error, Result};

/// Keep each batch well under the ~208 KB socket send buffer.
const BATCH_BUDGET_BYTES: usize = 120_000;
// Wire size of one set element: list entry, key and data attribute headers (12) + the address.
/// Generous upper bound for one rule or object message.
const OBJECT_BYTES: usize = 512;

const ICMPV6: u8 = 58;
const ND_FIRST: u8 = 133;
const ND_LAST: u8 = 137;

fn build_err(what: &'static str) -> impl FnOnce(rustables::error::BuilderError) -> Error {
    move |source| Error::NftBuild { what, source }
}

/// The `inet` table.
pub fn table(name: &str) -> Table {
    Table::new(ProtocolFamily::Inet).with_name(name)
}

/// The two address sets, with set ids so rules in the same batch can find them.
pub fn sets(table: &Table) -> Result<(Set, Set)> {
    let mut v4 = SetBuilder::<Ipv4Addr>::new(SET_V4, table)
        .map_err(build_err("set pods4"))?
        .finish()
        .0
        .with_id(1u32);
    v4.family = ProtocolFamily::Inet;
    let mut v6 = SetBuilder::<Ipv6Addr>::new(SET_V6, table)
        .map_err(build_err("set pods6"))?
        .finish()
        .0
        .with_id(2u32);
    v6.family = ProtocolFamily::Inet;
    Ok((v4, v6))
}

/// `NFT_SET_TIMEOUT`: elements expire.
const NFT_SET_TIMEOUT: u32 = 0x10;

/// nft's id for a concatenated key type: the parts' type ids, 6 bits each, first part highest
/// (`ipv4_addr` 7, `ipv6_addr` 8, `inet_proto` 12, `inet_service` 13). The kernel ignores it;
/// `nft list` uses it to print the set.
const fn concat_type(parts: [u32; 4]) -> u32 {
    ((parts[0] << 6 | parts[1]) << 6 | parts[2]) << 6 | parts[3]
}

/// A verdict cache key for IPv4, as the kernel stores it (see [`CacheKey`]).
struct CacheKey4([u8; 16]);
/// A verdict cache key for IPv6.
struct CacheKey6([u8; 40]);

impl DataType for CacheKey4 {
    const TYPE: u32 = concat_type([7, 7, 12, 13]);
    const LEN: u32 = 16;
    fn data(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl DataType for CacheKey6 {
    const TYPE: u32 = concat_type([8, 8, 12, 13]);
    const LEN: u32 = 40;
    fn data(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

/// An `inet_proto` element (one byte, nft type 12): the verdict cache switch's key.
struct InetProto(u8);

impl DataType for InetProto {
    const TYPE: u32 = 12;
    const LEN: u32 = 1;
    fn data(&self) -> Vec<u8> {
        vec![self.0]
    }
}

/// The protocols the verdict cache serves while it is on: those with a destination port.
const CACHEABLE: [InetProto; 3] = [InetProto(6), InetProto(17), InetProto(132)];

/// The verdict cache switch set (`type inet_proto`), with set id 5.
pub fn cache_switch_set(table: &Table) -> Result<Set> {
    let mut set = SetBuilder::<InetProto>::new(CACHE_SWITCH, table)
        .map_err(build_err("set cacheable"))?
        .finish()
        .0
        .with_id(5u32);
    set.family = ProtocolFamily::Inet;
    Ok(set)
}

/// The two verdict cache sets (`flags timeout`, entries live `ttl`), with set ids 3 and 4.
pub fn cache_sets(table: &Table, ttl: std::time::Duration) -> Result<(Set, Set)> {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut v4 = SetBuilder::<CacheKey4>::new(CACHE_V4, table)
        .map_err(build_err("set verdicts4"))?
        .finish()
        .0
        .with_id(3u32)
        .with_flags(NFT_SET_TIMEOUT)
        .with_timeout(ttl_ms);
    v4.family = ProtocolFamily::Inet;
    let mut v6 = SetBuilder::<CacheKey6>::new(CACHE_V6, table)
        .map_err(build_err("set verdicts6"))?
        .finish()
        .0
        .with_id(4u32)
        .with_flags(NFT_SET_TIMEOUT)
        .with_timeout(ttl_ms);
    v6.family = ProtocolFamily::Inet;
    Ok((v4, v6))
}

/// A base chain: type filter, policy accept.
pub fn chain(table: &Table, spec: &ChainSpec) -> Chain {
    let class = match spec.hook {
        Hook::Forward => HookClass::Forward,
        Hook::Input => HookClass::In,
        Hook::Output => HookClass::Out,
    };
    Chain::new(table)
        .with_name(spec.name)
        .with_hook(NftHook::new(class, spec.priority))
        .with_type(ChainType::Filter)
        .with_policy(ChainPolicy::Accept)
}

fn ct_state(rule: &mut Rule, states: ConnTrackState) -> Result<()> {
    rule.add_expr(Conntrack::new(ConntrackKey::State));
    // The ct state register is a host-order u32.
    rule.add_expr(
        Bitwise::new(states.bits().to_ne_bytes(), 0u32.to_ne_bytes())
            .map_err(build_err("ct state mask"))?,
    );
    rule.add_expr(Cmp::new(CmpOp::Neq, 0u32.to_ne_bytes()));
    Ok(())
}

/// The sets a rule may look up.
pub struct RuleSets<'a> {
    /// `pods4`.
    pub pods4: &'a Set,
    /// `pods6`.
    pub pods6: &'a Set,
    /// `verdicts4`.
    pub cache4: &'a Set,
    /// `verdicts6`.
    pub cache6: &'a Set,
    /// `cacheable`.
    pub cache_switch: &'a Set,
}

/// `saddr . daddr . l4proto . th dport` into consecutive registers, then a lookup, exactly as
/// nft 1.0.6 encodes it (IPv4: registers 1, 9, 10, 11; IPv6: 1, 2, 3, 17).
fn cached_allow(rule: &mut Rule, family: Family, set: &Set) -> Result<()> {
    // The source address always starts at register 1; the other parts follow it.
    let (nfproto, saddr, daddr, daddr_reg, proto_reg, dport_reg) = match family {
        Family::V4 => (
            libc_nfproto::IPV4,
            NetworkHeaderField::IPv4(IPv4HeaderField::Saddr),
            NetworkHeaderField::IPv4(IPv4HeaderField::Daddr),
            Register::Reg32x01,
            Register::Reg32x02,
            Register::Reg32x03,
        ),
        Family::V6 => (
            libc_nfproto::IPV6,
            NetworkHeaderField::IPv6(IPv6HeaderField::Saddr),
            NetworkHeaderField::IPv6(IPv6HeaderField::Daddr),
            Register::Reg2,
            Register::Reg3,
            Register::Reg32x09,
        ),
    };
    rule.add_expr(Meta::new(MetaType::NfProto));
    rule.add_expr(Cmp::new(CmpOp::Eq, [nfproto]));
    rule.add_expr(HighLevelPayload::Network(saddr).build());
    rule.add_expr(
        HighLevelPayload::Network(daddr)
            .build()
            .with_dreg(daddr_reg),
    );
    rule.add_expr(Meta::new(MetaType::L4Proto).with_dreg(proto_reg));
    rule.add_expr(
        HighLevelPayload::Transport(TransportHeaderField::Tcp(TCPHeaderField::Dport))
            .build()
            .with_dreg(dport_reg),
    );
    rule.add_expr(Lookup::new(set).map_err(build_err("verdict cache lookup"))?);
    Ok(())
}

fn add_match(rule: &mut Rule, m: &Match, sets: &RuleSets<'_>) -> Result<()> {
    let (v4, v6) = (sets.pods4, sets.pods6);
    match m {
        Match::Established => {
            ct_state(rule, ConnTrackState::ESTABLISHED | ConnTrackState::RELATED)?
        }
        Match::New => ct_state(rule, ConnTrackState::NEW)?,
        Match::Unestablished => ct_state(
            rule,
            ConnTrackState::INVALID | ConnTrackState::NEW | ConnTrackState::UNTRACKED,
        )?,
        Match::NeighbourDiscovery => {
            rule.add_expr(Meta::new(MetaType::L4Proto));
            rule.add_expr(Cmp::new(CmpOp::Eq, [ICMPV6]));
            rule.add_expr(
                HighLevelPayload::Transport(TransportHeaderField::ICMPv6(ICMPv6HeaderField::Type))
                    .build(),
            );
            rule.add_expr(Cmp::new(CmpOp::Gte, [ND_FIRST]));
            rule.add_expr(Cmp::new(CmpOp::Lte, [ND_LAST]));
        }
        Match::AddrInSet(family, field) => {
            // Raw payload + lookup, after an explicit nfproto check (an inet table sees both).
            let (nfproto, payload, set) = match (family, field) {
                (Family::V4, AddrField::Source) => (
                    libc_nfproto::IPV4,
                    NetworkHeaderField::IPv4(IPv4HeaderField::Saddr),
                    v4,
                ),
                (Family::V4, AddrField::Destination) => (
                    libc_nfproto::IPV4,
                    NetworkHeaderField::IPv4(IPv4HeaderField::Daddr),
                    v4,
                ),
                (Family::V6, AddrField::Source) => (
                    libc_nfproto::IPV6,
                    NetworkHeaderField::IPv6(IPv6HeaderField::Saddr),
                    v6,
                ),
                (Family::V6, AddrField::Destination) => (
                    libc_nfproto::IPV6,
                    NetworkHeaderField::IPv6(IPv6HeaderField::Daddr),
                    v6,
                ),
            };
            rule.add_expr(Meta::new(MetaType::NfProto));
            rule.add_expr(Cmp::new(CmpOp::Eq, [nfproto]));
            rule.add_expr(HighLevelPayload::Network(payload).build());
            rule.add_expr(Lookup::new(set).map_err(build_err("set lookup"))?);
        }
        Match::CacheOn => {
            rule.add_expr(Meta::new(MetaType::L4Proto));
            rule.add_expr(
                Lookup::new(sets.cache_switch).map_err(build_err("cache switch lookup"))?,
            );
        }
        Match::CachedAllow(family) => {
            let set = match family {
                Family::V4 => sets.cache4,
                Family::V6 => sets.cache6,
            };
            cached_allow(rule, *family, set)?;
        }
    }
    Ok(())
}

/// `NFPROTO_*` values (stable kernel ABI).
mod libc_nfproto {
    pub const IPV4: u8 = 2;
    pub const IPV6: u8 = 10;
}

/// The queue statement alone, as a rule expression.
pub fn add_queue(rule: &mut Rule, q: &QueueSpec) {
    match q.statement {
        QueueStatement::Native => rule.add_expr(Queue::new(q.num, q.total, q.flags())),
        QueueStatement::XtCompat => rule.add_expr(Target::nfqueue(q.num, q.total, q.flags())),
    }
}

/// One rule of `chain` in `ruleset`.
pub fn rule(
    chain: &Chain,
    spec: &RuleSpec,
    ruleset: &Ruleset,
    sets: &RuleSets<'_>,
) -> Result<Rule> {
    let mut rule = Rule::new(chain).map_err(build_err("rule"))?;
    for m in &spec.matches {
        add_match(&mut rule, m, sets)?;
    }
    match spec.action {
        Action::Accept => rule.add_expr(Immediate::new_verdict(VerdictKind::Accept)),
        Action::Queue => add_queue(&mut rule, &ruleset.queue),
        Action::LogAccept => {
            let group = ruleset.verdict_cache.unwrap_or_default().log_group;
            rule.add_expr(
                Log::new(Some(group), None::<String>).map_err(build_err("log statement"))?,
            );
            rule.add_expr(Immediate::new_verdict(VerdictKind::Accept));
        }
    }
    Ok(rule)
}

/// A message that deletes every element of `set` (DELSETELEM without an element list).
pub fn flush_set(table: &Table, set: &str) -> SetElementList {
    let mut list = SetElementList::default()
        .with_table(table.get_name().cloned().unwrap_or_default())
        .with_set(set);
    list.family = ProtocolFamily::Inet;
    list
}

fn element_lists<K: DataType>(
    table: &Table,
    set: &str,
    addrs: &[K],
) -> Result<Vec<SetElementList>> {
    addrs
        .chunks(ELEMENTS_PER_MESSAGE)
        .map(|chunk| {
            let mut builder = SetBuilder::<K>::new(set, table).map_err(build_err("elements"))?;
            for addr in chunk {
                builder.add(addr);
            }
            let (_, mut list) = builder.finish();
            list.family = ProtocolFamily::Inet;
            Ok(list)
        })
        .collect()
}

/// Batches, each atomic, filled up to [`BATCH_BUDGET_BYTES`].
struct Batches {
    done: Vec<Batch>,
    current: Batch,
    bytes: usize,
}

impl Batches {
    fn new() -> Self {
        Batches {
            done: Vec::new(),
            current: Batch::new(),
            bytes: 0,
        }
    }

    fn room_for(&mut self, bytes: usize) {
        if self.bytes > 0 && self.bytes + bytes > BATCH_BUDGET_BYTES {
            let full = std::mem::replace(&mut self.current, Batch::new());
            self.done.push(full);
            self.bytes = 0;
        }
        self.bytes += bytes;
    }

    fn finish(mut self) -> Vec<Batch> {
        if self.bytes > 0 {
            self.done.push(self.current);
        }
        self.done
    }
}

fn add_elements<K: DataType>(
    batches: &mut Batches,
    table: &Table,
    set: &str,
    addrs: &[K],
    kind: MsgType,
) -> Result<()> {
    let per_element = 12 + K::LEN as usize;
    for list in element_lists(table, set, addrs)? {
        let n = addrs.len().min(ELEMENTS_PER_MESSAGE);
        batches.room_for(OBJECT_BYTES + n * per_element);
        batches.current.add(&list, kind);
    }
    Ok(())
}

/// Creates or adopts the table and makes it exactly `ruleset` holding `ips`.
///
/// # Guarantees
/// The first batch holds the table, the sets, the chains, a flush and refill of both sets and
/// a flush and refill of every chain, so an existing table is reconciled in one atomic step:
/// no packet ever sees an empty set or chain, and conntrack is untouched, so established
/// connections survive an agent restart. Only set elements beyond the first batch's budget
/// (thousands of pods on one node) spill into further batches, and those only add elements.
pub fn install(ruleset: &Ruleset, ips: &SelectedIps) -> Result<Vec<Batch>> {
    let table = table(&ruleset.table);
    let (v4, v6) = sets(&table)?;
    let (cache4, cache6) = cache_sets(&table, ruleset.verdict_cache.unwrap_or_default().ttl)?;
    let cache_switch = cache_switch_set(&table)?;
    let rule_sets = RuleSets {
        pods4: &v4,
        pods6: &v6,
        cache4: &cache4,
        cache6: &cache6,
        cache_switch: &cache_switch,
    };
    let mut batches = Batches::new();
    batches.room_for(OBJECT_BYTES * 7);
    batches.current.add(&table, MsgType::Add);
    batches.current.add(&v4, MsgType::Add);
    batches.current.add(&v6, MsgType::Add);
    batches.current.add(&cache4, MsgType::Add);
    batches.current.add(&cache6, MsgType::Add);
    batches.current.add(&cache_switch, MsgType::Add);
    let mut chains = Vec::new();
    for spec in &ruleset.chains {
        let c = chain(&table, spec);
        batches.room_for(OBJECT_BYTES * (2 + spec.rules.len()));
        batches.current.add(&c, MsgType::Add);
        // No handle: delete every rule of the chain.
        batches.current.add(
            &Rule::new(&c).map_err(build_err("chain flush"))?,
            MsgType::Del,
        );
        for r in &spec.rules {
            batches
                .current
                .add(&rule(&c, r, ruleset, &rule_sets)?, MsgType::Add);
        }
        chains.push(c);
    }
    batches.room_for(OBJECT_BYTES * 5);
    // Cached allows from an earlier agent (or an earlier index) are not trusted, and the cache
    // stays off until this agent's writer has flushed it.
    for set in [SET_V4, SET_V6, CACHE_V4, CACHE_V6, CACHE_SWITCH] {
        batches.current.add(&flush_set(&table, set), MsgType::Del);
    }
    let v4_addrs: Vec<Ipv4Addr> = ips.v4.iter().copied().collect();
    let v6_addrs: Vec<Ipv6Addr> = ips.v6.iter().copied().collect();
    add_elements(&mut batches, &table, SET_V4, &v4_addrs, MsgType::Add)?;
    add_elements(&mut batches, &table, SET_V6, &v6_addrs, MsgType::Add)?;
    Ok(batches.finish())
}

/// Applies `diff` to the sets of `table_name`: deletions, then additions, in as few atomic
/// batches as fit (one for any realistic change).
pub fn update(table_name: &str, diff: &ElementDiff) -> Result<Vec<Batch>> {
    let table = table(table_name);
    let mut batches = Batches::new();
    add_elements(&mut batches, &table, SET_V4, &diff.del_v4, MsgType::Del)?;
    add_elements(&mut batches, &table, SET_V6, &diff.del_v6, MsgType::Del)?;
    add_elements(&mut batches, &table, SET_V4, &diff.add_v4, MsgType::Add)?;
    add_elements(&mut batches, &table, SET_V6, &diff.add_v6, MsgType::Add)?;
    Ok(batches.finish())
}

/// Adds `keys` to the verdict cache sets (each entry lives the sets' TTL).
pub fn cache_add(table_name: &str, keys: &[CacheKey]) -> Result<Vec<Batch>> {
    let table = table(table_name);
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for key in keys {
        match key {
            CacheKey::V4(bytes) => v4.push(CacheKey4(*bytes)),
            CacheKey::V6(bytes) => v6.push(CacheKey6(*bytes)),
        }
    }
    let mut batches = Batches::new();
    add_elements(&mut batches, &table, CACHE_V4, &v4, MsgType::Add)?;
    add_elements(&mut batches, &table, CACHE_V6, &v6, MsgType::Add)?;
    Ok(batches.finish())
}

/// Empties both verdict cache sets and switches the cache on, in one atomic batch.
///
/// # Errors
/// Building the switch's elements (does not happen for these constant keys).
pub fn cache_flush(table_name: &str) -> Result<Batch> {
    let table = table(table_name);
    let mut batch = Batch::new();
    batch.add(&flush_set(&table, CACHE_V4), MsgType::Del);
    batch.add(&flush_set(&table, CACHE_V6), MsgType::Del);
    for list in element_lists(&table, CACHE_SWITCH, &CACHEABLE)? {
        batch.add(&list, MsgType::Add);
    }
    Ok(batch)
}

/// Switches the verdict cache off (empties `cacheable`), and with `and_flush` empties both
/// cache sets too, in one atomic batch.
pub fn cache_off(table_name: &str, and_flush: bool) -> Batch {
    let table = table(table_name);
    let mut batch = Batch::new();
    batch.add(&flush_set(&table, CACHE_SWITCH), MsgType::Del);
    if and_flush {
        batch.add(&flush_set(&table, CACHE_V4), MsgType::Del);
        batch.add(&flush_set(&table, CACHE_V6), MsgType::Del);
    }
    batch
}

/// Deletes the table and everything in it.
pub fn remove(table_name: &str) -> Batch {
    let mut batch = Batch::new();
    batch.add(&table(table_name), MsgType::Del);
    batch
}

/// A self-cancelling probe: creates a scratch table with a regular chain holding one rule with
/// `statement`, then deletes the table, all in one batch. The kernel either rejects the batch
/// (the statement is unsupported) or commits it with no lasting effect.
pub fn probe(scratch_table: &str, statement: QueueStatement) -> Result<Batch> {
    let table = table(scratch_table);
    let chain = Chain::new(&table).with_name("probe");
    let mut rule = Rule::new(&chain).map_err(build_err("probe rule"))?;
    add_queue(
        &mut rule,
        &QueueSpec {
            statement,
            num: 0,
            total: 1,
            bypass: true,
        },
    );
    let mut batch = Batch::new();
    batch.add(&table, MsgType::Add);
    batch.add(&chain, MsgType::Add);
    batch.add(&rule, MsgType::Add);
    batch.add(&table, MsgType::Del);
    Ok(batch)
}
