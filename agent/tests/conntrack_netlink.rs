//! Strict mode's conntrack netlink I/O against the real kernel, in a throwaway network namespace:
//! filtered dumps find exactly the entries of one address, and a delete removes exactly one entry.
//! Needs root; runs when `VERDICT_E2E` is set.

use std::net::{IpAddr, UdpSocket};
use std::os::fd::AsFd;
use std::process::Command;

use verdict_agent::conntrack::message::{L4, Side};
use verdict_agent::conntrack::socket::Conntrack;

struct Netns(String);

impl Netns {
    fn create(name: &str) -> Netns {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(std::process::Stdio::null())
            .status();
        run(&["ip", "netns", "add", name]);
        let ns = Netns(name.to_owned());
        run(&["ip", "-n", name, "link", "set", "lo", "up"]);
        for a in ["10.200.0.1/32", "10.200.0.2/32", "10.200.0.3/32"] {
            run(&["ip", "-n", name, "addr", "add", a, "dev", "lo"]);
        }
        // Conntrack only tracks a namespace once some rule needs it.
        run(&[
            "ip",
            "netns",
            "exec",
            name,
            "nft",
            "add table inet ct_test; add chain inet ct_test \
              out { type filter hook output priority 0; ct state new accept; }",
        ]);
        ns
    }

    /// Runs `f` on a thread that has joined this namespace.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open netns");
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .expect("setns");
                f()
            })
            .join()
            .expect("netns thread")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect(args[0]);
    assert!(status.success(), "{args:?} failed");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn filtered_dump_and_exact_delete() {
    if !std::env::var("VERDICT_E2E").is_ok_and(|v| !v.is_empty() && v != "0") {
        eprintln!("SKIPPED conntrack_netlink: set VERDICT_E2E=1 to run (needs root and netns)");
        return;
    }
    let ns = Netns::create(&format!("kvct-{}", std::process::id()));
    ns.enter(|| {
        let server = UdpSocket::bind("10.200.0.2:5555").unwrap();
        let other = UdpSocket::bind("10.200.0.2:5556").unwrap();
        let client = UdpSocket::bind("10.200.0.1:40000").unwrap();
        client.send_to(b"a", "10.200.0.2:5555").unwrap();
        client.send_to(b"b", "10.200.0.2:5556").unwrap();
        let third = UdpSocket::bind("10.200.0.3:40001").unwrap();
        third.send_to(b"c", "10.200.0.2:5555").unwrap();
        let mut buf = [0u8; 8];
        server.recv(&mut buf).unwrap();
        other.recv(&mut buf).unwrap();

        let mut ct = Conntrack::open().expect("open ctnetlink");
        let from_one = ct.dump(ip("10.200.0.1"), Side::OrigSource).unwrap();
        let mut ports: Vec<u16> = from_one
            .iter()
            .map(|e| match e.orig.l4 {
                L4::Ports { dst, .. } => dst,
                other => panic!("udp entry without ports: {other:?}"),
            })
            .collect();
        ports.sort_unstable();
        assert_eq!(
            ports,
            vec![5555, 5556],
            "entries opened by 10.200.0.1: {from_one:?}"
        );
        assert!(
            from_one
                .iter()
                .all(|e| e.orig.src == ip("10.200.0.1") && e.id.is_some())
        );

        let to_two = ct.dump(ip("10.200.0.2"), Side::ReplySource).unwrap();
        assert_eq!(
            to_two.len(),
            3,
            "entries answered by 10.200.0.2: {to_two:?}"
        );
        assert!(
            ct.dump(ip("10.200.0.9"), Side::OrigSource)
                .unwrap()
                .is_empty(),
            "no match"
        );
        assert!(
            ct.dump(ip("10.200.0.2"), Side::OrigSource)
                .unwrap()
                .is_empty(),
            "wrong side"
        );

        let victim = from_one
            .iter()
            .find(|e| {
                e.orig.l4
                    == L4::Ports {
                        src: 40000,
                        dst: 5555,
                    }
            })
            .copied()
            .unwrap();
        assert!(ct.delete(&victim).unwrap(), "first delete removes it");
        assert!(!ct.delete(&victim).unwrap(), "second delete finds nothing");
        let left = ct.dump(ip("10.200.0.2"), Side::ReplySource).unwrap();
        assert_eq!(left.len(), 2, "exactly one entry went: {left:?}");
        assert!(!left.contains(&victim));
    });
}
