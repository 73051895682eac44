//! Fuzz the packet parser: any byte string must give a flow or a typed error, never a panic,
//! and a flow's ports must be zero exactly for ICMP.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_agent::packet::parse;
use verdict_engine::Protocol;

fuzz_target!(|data: &[u8]| {
    if let Ok(flow) = parse(data) {
        if flow.protocol == Protocol::Icmp {
            assert_eq!((flow.src_port, flow.dst_port), (0, 0));
        }
    }
});
