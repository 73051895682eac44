//! Ruleset tests: golden nft text, element diffs, byte-for-byte queue encodings, batch sizing,
//! and (with VERDICT_E2E) the real thing in a network namespace.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use pretty_assertions::assert_eq;
use rustables::expr::{Queue, Target};
use rustables::{Batch, Chain, MsgType, Rule};
use verdict_engine::SelectedIps;

use super::diff::ElementDiff;
use super::model::{QueueStatement, Ruleset, RulesetConfig, VerdictCacheSpec};
use super::{encode, render};

fn ips(v4: &[&str], v6: &[&str]) -> SelectedIps {
    SelectedIps {
        v4: v4
            .iter()
            .map(|s| s.parse().unwrap())
            .collect::<BTreeSet<Ipv4Addr>>(),
        v6: v6
            .iter()
            .map(|s| s.parse().unwrap())
            .collect::<BTreeSet<Ipv6Addr>>(),
    }
}

fn cfg(queues: u16, fail_open: bool) -> RulesetConfig {
    RulesetConfig {
        table_name: "kube-verdict".into(),
        queue_base: 100,
        queues,
        fail_open,
        verdict_cache: Some(VerdictCacheSpec::default()),
    }
}

const GOLDEN_FAIL_OPEN: &str = "\
table inet kube-verdict {
\tset pods4 {
\t\ttype ipv4_addr
\t\telements = { 10.0.0.5, 10.0.0.7 }
\t}
\tset pods6 {
\t\ttype ipv6_addr
\t\telements = { fd00::5 }
\t}
\tset verdicts4 {
\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service
\t\tflags timeout
\t\ttimeout 30s
\t}
\tset verdicts6 {
\t\ttype ipv6_addr . ipv6_addr . inet_proto . inet_service
\t\tflags timeout
\t\ttimeout 30s
\t}
\tset cacheable {
\t\ttype inet_proto
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tct state established,related accept
\t\ticmpv6 type 133-137 accept
\t\tct state new meta l4proto @cacheable ip saddr . ip daddr . meta l4proto . th dport @verdicts4 log group 100 accept
\t\tct state new meta l4proto @cacheable ip6 saddr . ip6 daddr . meta l4proto . th dport @verdicts6 log group 100 accept
\t\tct state invalid,new,untracked ip saddr @pods4 queue num 100-101 bypass,fanout
\t\tct state invalid,new,untracked ip daddr @pods4 queue num 100-101 bypass,fanout
\t\tct state invalid,new,untracked ip6 saddr @pods6 queue num 100-101 bypass,fanout
\t\tct state invalid,new,untracked ip6 daddr @pods6 queue num 100-101 bypass,fanout
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tct state established,related accept
\t\ticmpv6 type 133-137 accept
\t\tct state new meta l4proto @cacheable ip saddr . ip daddr . meta l4proto . th dport @verdicts4 log group 100 accept
\t\tct state new meta l4proto @cacheable ip6 saddr . ip6 daddr . meta l4proto . th dport @verdicts6 log group 100 accept
\t\tct state invalid,new,untracked ip saddr @pods4 queue num 100-101 bypass,fanout
\t\tct state invalid,new,untracked ip6 saddr @pods6 queue num 100-101 bypass,fanout
\t}
\tchain output {
\t\ttype filter hook output priority filter; policy accept;
\t\tct state established,related accept
\t\tip daddr @pods4 accept
\t\tip6 daddr @pods6 accept
\t}
}
";

#[test]
fn golden_text_fail_open_native() {
    let ruleset = Ruleset::desired(&cfg(2, true), QueueStatement::Native);
    let text = render::nft_text(&ruleset, &ips(&["10.0.0.7", "10.0.0.5"], &["fd00::5"]));
    assert_eq!(text, GOLDEN_FAIL_OPEN);
}

#[test]
fn golden_text_variants() {
    struct Case {
        name: &'static str,
        cfg: RulesetConfig,
        statement: QueueStatement,
        expect_line: &'static str,
        first_line: &'static str,
    }
    let cases = [
        Case {
            name: "fail-closed, one queue: no bypass, single queue number",
            cfg: cfg(1, false),
            statement: QueueStatement::Native,
            expect_line: "\t\tct state invalid,new,untracked ip saddr @pods4 queue num 100 fanout\n",
            first_line: "table inet kube-verdict {",
        },
        Case {
            name: "compat statement is flagged in a comment",
            cfg: cfg(4, true),
            statement: QueueStatement::XtCompat,
            expect_line: "\t\tct state invalid,new,untracked ip6 daddr @pods6 queue num 100-103 bypass,fanout\n",
            first_line: "# queue rules are programmed as the xt NFQUEUE target (nft_compat)",
        },
    ];
    for case in cases {
        let text = render::nft_text(&Ruleset::desired(&case.cfg, case.statement), &ips(&[], &[]));
        assert!(text.contains(case.expect_line), "{}: {text}", case.name);
        assert_eq!(text.lines().next(), Some(case.first_line), "{}", case.name);
        assert!(
            !text.contains("elements"),
            "{}: empty sets list no elements",
            case.name
        );
    }
}

#[test]
fn element_diffs() {
    let cases = [
        (
            "no change",
            ips(&["10.0.0.1"], &[]),
            ips(&["10.0.0.1"], &[]),
            ElementDiff::default(),
        ),
        (
            "add and remove v4",
            ips(&["10.0.0.1", "10.0.0.2"], &[]),
            ips(&["10.0.0.2", "10.0.0.3"], &[]),
            ElementDiff {
                add_v4: vec!["10.0.0.3".parse().unwrap()],
                del_v4: vec!["10.0.0.1".parse().unwrap()],
                ..ElementDiff::default()
            },
        ),
        (
            "v6 only",
            ips(&[], &["fd00::1"]),
            ips(&[], &["fd00::2"]),
            ElementDiff {
                add_v6: vec!["fd00::2".parse().unwrap()],
                del_v6: vec!["fd00::1".parse().unwrap()],
                ..ElementDiff::default()
            },
        ),
        (
            "everything removed",
            ips(&["10.0.0.1"], &["fd00::1"]),
            ips(&[], &[]),
            ElementDiff {
                del_v4: vec!["10.0.0.1".parse().unwrap()],
                del_v6: vec!["fd00::1".parse().unwrap()],
                ..ElementDiff::default()
            },
        ),
    ];
    for (name, current, desired, want) in cases {
        let got = ElementDiff::between(&current, &desired);
        assert_eq!(got, want, "{name}");
        assert_eq!(got.is_empty(), want.is_empty(), "{name}");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn batch_with(expr: impl Into<rustables::expr::RawExpression>) -> Vec<u8> {
    let table = encode::table("t");
    let chain = Chain::new(&table).with_name("c");
    let rule = Rule::new(&chain).unwrap().with_expr(expr);
    let mut batch = Batch::new();
    batch.add(&rule, MsgType::Add);
    batch.finalize()
}

/// `nft add rule inet t c queue num 100-101 fanout,bypass`, captured with
/// `strace -xx -e trace=sendmsg` (nft 1.0.6): the NFTA_EXPR_DATA attribute of the queue
/// expression.
const NFT_QUEUE_EXPR_DATA: [u8; 28] = [
    0x1c, 0x00, 0x02, 0x80, // NFTA_EXPR_DATA, nested, 28 bytes
    0x06, 0x00, 0x01, 0x00, 0x00, 0x64, 0x00, 0x00, // NFTA_QUEUE_NUM = 100 (be16)
    0x06, 0x00, 0x02, 0x00, 0x00, 0x02, 0x00, 0x00, // NFTA_QUEUE_TOTAL = 2
    0x06, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, // NFTA_QUEUE_FLAGS = bypass|fanout
];

/// `iptables-nft -A FORWARD -j NFQUEUE --queue-balance 100:101 --queue-bypass
/// --queue-cpu-fanout`, captured the same way (iptables 1.8.9): the target's NFTA_EXPR_DATA.
const XT_NFQUEUE_EXPR_DATA: [u8; 36] = [
    0x24, 0x00, 0x02, 0x80, // NFTA_EXPR_DATA, nested, 36 bytes
    0x0c, 0x00, 0x01, 0x00, b'N', b'F', b'Q', b'U', b'E', b'U', b'E',
    0x00, // NAME "NFQUEUE\0"
    0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x03, // REV = 3 (be32)
    0x0c, 0x00, 0x03, 0x00, 0x64, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00,
    0x00, // INFO (le16 x3 + pad)
];

#[test]
fn native_queue_expression_matches_nft() {
    let bytes = batch_with(Queue::new(100, 2, 3));
    assert!(contains(&bytes, &NFT_QUEUE_EXPR_DATA), "{bytes:02x?}");
    // The expression name; rustables omits the NUL that libnftnl writes (both are accepted).
    assert!(contains(
        &bytes,
        &[0x09, 0x00, 0x01, 0x00, b'q', b'u', b'e', b'u', b'e']
    ));
}

#[test]
fn xt_nfqueue_target_matches_iptables_nft() {
    let bytes = batch_with(Target::nfqueue(100, 2, 3));
    assert!(contains(&bytes, &XT_NFQUEUE_EXPR_DATA), "{bytes:02x?}");
    assert!(contains(
        &bytes,
        &[0x0a, 0x00, 0x01, 0x00, b't', b'a', b'r', b'g', b'e', b't']
    ));
}

#[test]
fn queue_flags_follow_fail_open() {
    for (fail_open, flags) in [(true, 3u16), (false, 2u16)] {
        let r = Ruleset::desired(&cfg(2, fail_open), QueueStatement::Native);
        assert_eq!(r.queue.flags(), flags, "fail_open={fail_open}");
    }
}

#[test]
fn big_installs_split_into_bounded_batches() {
    let mut many = SelectedIps::default();
    for i in 0..20_000u32 {
        many.v4.insert(Ipv4Addr::from(0x0a00_0000 + i));
        many.v6.insert(Ipv6Addr::from(
            0xfd00_0000_0000_0000_0000_0000_0000_0000u128 + u128::from(i),
        ));
    }
    let ruleset = Ruleset::desired(&cfg(2, true), QueueStatement::XtCompat);
    let batches = encode::install(&ruleset, &many).unwrap();
    assert!(batches.len() > 1, "20k+20k elements do not fit one batch");
    for b in batches {
        let len = b.finalize().len();
        assert!(
            len < 180_000,
            "batch of {len} bytes would overflow the socket buffer"
        );
    }
    let small = encode::install(&ruleset, &ips(&["10.0.0.1"], &["fd00::1"])).unwrap();
    assert_eq!(small.len(), 1, "a normal node's table is one atomic batch");
}

mod privileged {
    use std::io::ErrorKind;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::Duration;

    use super::super::testns::{self, NODE_V4, NodeAndPod, POD_V4};
    use super::super::{QueueStatement, RulesetConfig, Syncer, detect_queue_statement};
    use super::ips;
    use crate::ruleset::VerdictCacheSpec;

    fn listing(ns: &testns::Netns, what: &[&str]) -> String {
        let mut args = vec!["nft", "list"];
        args.extend_from_slice(what);
        String::from_utf8(ns.exec(&args).stdout).unwrap()
    }

    #[test]
    fn installs_updates_and_adopts_in_a_netns() {
        if !testns::enabled("installs_updates_and_adopts_in_a_netns") {
            return;
        }
        let ns = testns::Netns::new("rs");
        let cfg = RulesetConfig {
            table_name: "kv-test".into(),
            queue_base: 100,
            queues: 2,
            fail_open: true,
            verdict_cache: Some(VerdictCacheSpec::default()),
        };
        let statement = ns
            .enter(|| detect_queue_statement(&cfg.table_name))
            .unwrap();
        eprintln!("queue statement on this kernel: {statement}");
        let tables = listing(&ns, &["tables"]);
        assert!(
            !tables.contains("probe"),
            "the probe leaves nothing: {tables}"
        );

        let first = ips(&["10.1.0.1", "10.1.0.2"], &["fd01::1"]);
        let mut syncer = ns
            .enter(|| Syncer::install_with(&cfg, statement, &first))
            .unwrap();
        let table = listing(&ns, &["table", "inet", "kv-test"]);
        for line in [
            "type filter hook forward priority filter; policy accept;",
            "type filter hook input priority filter; policy accept;",
            "type filter hook output priority filter; policy accept;",
            "ct state established,related accept",
            "ip saddr @pods4",
            "ip6 daddr @pods6",
            // The rustables encoding of the queue rules' state mask reads back as nft writes it.
            "ct state invalid,new,untracked ip saddr @pods4 queue",
            "ct state invalid,new,untracked ip6 daddr @pods6 queue",
            "queue",
            "10.1.0.1",
            "fd01::1",
            // nft reads the verdict cache sets and rules back as written: key type, timeout,
            // and the register layout of the concatenation.
            "type ipv4_addr . ipv4_addr . inet_proto . inet_service",
            "type ipv6_addr . ipv6_addr . inet_proto . inet_service",
            "timeout 30s",
            "ct state new meta l4proto @cacheable ip saddr . ip daddr . meta l4proto . th dport @verdicts4 log group 100 accept",
            "ct state new meta l4proto @cacheable ip6 saddr . ip6 daddr . meta l4proto . th dport @verdicts6 log group 100 accept",
        ] {
            assert!(table.contains(line), "missing {line:?} in:\n{table}");
        }
        // Cache entries written the agent's way read back as the flow they encode.
        let key = crate::cache::CacheKey::for_flow(&verdict_engine::Flow {
            src_ip: "10.1.0.1".parse().unwrap(),
            src_port: 40000,
            dst_ip: "10.1.0.2".parse().unwrap(),
            dst_port: 8080,
            protocol: verdict_engine::Protocol::Tcp,
        })
        .unwrap();
        for batch in crate::ruleset::encode::cache_add("kv-test", &[key]).unwrap() {
            ns.enter(|| super::super::detect::send(batch, "kv-test", "cache add"))
                .unwrap();
        }
        let cache4 = listing(&ns, &["set", "inet", "kv-test", "verdicts4"]);
        assert!(
            cache4.contains("10.1.0.1 . 10.1.0.2 . tcp . 8080"),
            "{cache4}"
        );
        // The switch: off after install, on after the writer's flush, off again on demand.
        let switch = || listing(&ns, &["set", "inet", "kv-test", "cacheable"]);
        assert!(
            !switch().contains("elements"),
            "off after install: {}",
            switch()
        );
        let send = |batch, what| {
            ns.enter(|| super::super::detect::send(batch, "kv-test", what))
                .unwrap()
        };
        send(
            crate::ruleset::encode::cache_flush("kv-test").unwrap(),
            "flush",
        );
        assert!(
            switch().contains("elements = { tcp, udp, sctp }"),
            "on after a flush: {}",
            switch()
        );
        assert!(
            !listing(&ns, &["set", "inet", "kv-test", "verdicts4"]).contains("10.1.0.1 ."),
            "the flush emptied the cache"
        );
        send(
            crate::ruleset::encode::cache_off("kv-test", false),
            "switch off",
        );
        assert!(!switch().contains("elements"), "off: {}", switch());
        for batch in crate::ruleset::encode::cache_add("kv-test", &[key]).unwrap() {
            send(batch, "cache add");
        }

        let second = ips(&["10.1.0.2", "10.1.0.3"], &[]);
        let outcome = ns.enter(|| syncer.sync(&second)).unwrap();
        assert_eq!(
            (outcome.added, outcome.removed, outcome.resynced),
            (1, 2, false)
        );
        let set4 = listing(&ns, &["set", "inet", "kv-test", "pods4"]);
        assert!(
            set4.contains("10.1.0.2") && set4.contains("10.1.0.3"),
            "{set4}"
        );
        assert!(!set4.contains("10.1.0.1"), "{set4}");

        // A restarted agent adopts the table: same rules (not doubled), its own elements.
        let rules_before = listing(&ns, &["chain", "inet", "kv-test", "forward"])
            .lines()
            .count();
        let adopted = ns
            .enter(|| Syncer::install_with(&cfg, statement, &ips(&["10.1.0.9"], &[])))
            .unwrap();
        let rules_after = listing(&ns, &["chain", "inet", "kv-test", "forward"])
            .lines()
            .count();
        assert_eq!(
            rules_before, rules_after,
            "adopting does not duplicate rules"
        );
        let set4 = listing(&ns, &["set", "inet", "kv-test", "pods4"]);
        assert!(
            set4.contains("10.1.0.9") && !set4.contains("10.1.0.2"),
            "{set4}"
        );
        let cache4 = listing(&ns, &["set", "inet", "kv-test", "verdicts4"]);
        assert!(
            !cache4.contains("10.1.0.1 ."),
            "adopting flushes the verdict cache: {cache4}"
        );
        ns.enter(|| {
            super::super::detect::send(
                crate::ruleset::encode::cache_flush("kv-test").unwrap(),
                "kv-test",
                "flush",
            )
        })
        .unwrap();

        ns.enter(|| adopted.remove()).unwrap();
        assert!(!listing(&ns, &["tables"]).contains("kv-test"));
    }

    /// Connect from the pod to a listener on the node (the input chain) with no queue
    /// listener: fail-open bypasses, fail-closed drops, and an unselected pod is never queued.
    #[test]
    fn queue_rule_bypasses_or_drops_real_packets() {
        if !testns::enabled("queue_rule_bypasses_or_drops_real_packets") {
            return;
        }
        let net = NodeAndPod::new("q");
        let listener = net
            .node
            .enter(|| TcpListener::bind((NODE_V4, 8080)))
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let statement = net.node.enter(|| detect_queue_statement("kv-q")).unwrap();
        let target: SocketAddr = format!("{NODE_V4}:8080").parse().unwrap();
        let connect = || {
            net.pod.enter(|| {
                match TcpStream::connect_timeout(&target, Duration::from_millis(700)) {
                    Ok(_) => true,
                    Err(e) if e.kind() == ErrorKind::TimedOut => false,
                    Err(e) => panic!("connect: {e}"),
                }
            })
        };
        let cases = [
            ("fail-open, pod selected", true, ips(&[POD_V4], &[]), true),
            (
                "fail-closed, pod selected",
                false,
                ips(&[POD_V4], &[]),
                false,
            ),
            (
                "fail-closed, pod not selected",
                false,
                ips(&["10.77.0.99"], &[]),
                true,
            ),
        ];
        for (name, fail_open, selected, connects) in cases {
            let cfg = RulesetConfig {
                table_name: "kv-q".into(),
                queue_base: 200,
                queues: 1,
                fail_open,
                verdict_cache: None,
            };
            let syncer = net
                .node
                .enter(|| Syncer::install_with(&cfg, statement, &selected))
                .unwrap();
            assert_eq!(connect(), connects, "{name}");
            net.node.enter(|| syncer.remove()).unwrap();
            while listener.accept().is_ok() {}
        }
        let _ = QueueStatement::Native;
    }
}
