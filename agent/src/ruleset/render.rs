//! The desired ruleset in `nft` syntax, for golden tests, docs and debug logs.
//!
//! The text is what `nft -f` would accept on a kernel with native `queue`; with the compat
//! statement the queue rules read the same (as `nft list` shows them) and a comment line says
//! that the kernel gets an xt `NFQUEUE` target instead.

use std::fmt::Write as _;

use verdict_engine::SelectedIps;

use super::model::{Action, AddrField, Family, Match, QueueSpec, QueueStatement, Ruleset};
use super::{CACHE_SWITCH, CACHE_V4, CACHE_V6, SET_V4, SET_V6};

fn priority(p: i32) -> String {
    match p {
        0 => "filter".into(),
        p if p > 0 => format!("filter + {p}"),
        p => format!("filter - {}", -p),
    }
}

fn match_text(m: &Match) -> String {
    match m {
        Match::Established => "ct state established,related".into(),
        Match::New => "ct state new".into(),
        Match::Unestablished => "ct state invalid,new,untracked".into(),
        Match::NeighbourDiscovery => "icmpv6 type 133-137".into(),
        Match::AddrInSet(family, field) => {
            let (proto, set) = match family {
                Family::V4 => ("ip", SET_V4),
                Family::V6 => ("ip6", SET_V6),
            };
            let field = match field {
                AddrField::Source => "saddr",
                AddrField::Destination => "daddr",
            };
            format!("{proto} {field} @{set}")
        }
        Match::CacheOn => format!("meta l4proto @{CACHE_SWITCH}"),
        Match::CachedAllow(Family::V4) => {
            format!("ip saddr . ip daddr . meta l4proto . th dport @{CACHE_V4}")
        }
        Match::CachedAllow(Family::V6) => {
            format!("ip6 saddr . ip6 daddr . meta l4proto . th dport @{CACHE_V6}")
        }
    }
}

fn queue_text(q: &QueueSpec) -> String {
    let num = if q.total > 1 {
        format!("{}-{}", q.num, q.num + q.total - 1)
    } else {
        q.num.to_string()
    };
    let flags = if q.bypass { "bypass,fanout" } else { "fanout" };
    format!("queue num {num} {flags}")
}

fn elements<T: std::fmt::Display>(out: &mut String, items: impl ExactSizeIterator<Item = T>) {
    if items.len() == 0 {
        return;
    }
    let list: Vec<String> = items.map(|i| i.to_string()).collect();
    let _ = writeln!(out, "\t\telements = {{ {} }}", list.join(", "));
}

/// `table inet NAME { ... }` with the sets holding `ips`.
pub fn nft_text(ruleset: &Ruleset, ips: &SelectedIps) -> String {
    let mut out = String::new();
    if ruleset.queue.statement == QueueStatement::XtCompat {
        out.push_str("# queue rules are programmed as the xt NFQUEUE target (nft_compat)\n");
    }
    let _ = writeln!(out, "table inet {} {{", ruleset.table);
    let _ = writeln!(out, "\tset {SET_V4} {{\n\t\ttype ipv4_addr");
    elements(&mut out, ips.v4.iter());
    out.push_str("\t}\n");
    let _ = writeln!(out, "\tset {SET_V6} {{\n\t\ttype ipv6_addr");
    elements(&mut out, ips.v6.iter());
    out.push_str("\t}\n");
    let ttl = ruleset.verdict_cache.unwrap_or_default().ttl;
    for (set, addr) in [(CACHE_V4, "ipv4_addr"), (CACHE_V6, "ipv6_addr")] {
        let _ = writeln!(
            out,
            "\tset {set} {{\n\t\ttype {addr} . {addr} . inet_proto . inet_service\n\t\tflags timeout\n\t\ttimeout {}s\n\t}}",
            ttl.as_secs()
        );
    }
    let _ = writeln!(out, "\tset {CACHE_SWITCH} {{\n\t\ttype inet_proto\n\t}}");
    for chain in &ruleset.chains {
        let _ = writeln!(out, "\tchain {} {{", chain.name);
        let _ = writeln!(
            out,
            "\t\ttype filter hook {} priority {}; policy accept;",
            chain.hook.as_str(),
            priority(chain.priority)
        );
        for rule in &chain.rules {
            let mut words: Vec<String> = rule.matches.iter().map(match_text).collect();
            words.push(match rule.action {
                Action::Accept => "accept".into(),
                Action::Queue => queue_text(&ruleset.queue),
                Action::LogAccept => format!(
                    "log group {} accept",
                    ruleset.verdict_cache.map_or(0, |c| c.log_group)
                ),
            });
            let _ = writeln!(out, "\t\t{}", words.join(" "));
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
    out
}
