//! The kernel's own per-queue counters (`/proc/net/netfilter/nfnetlink_queue`), which see
//! what the workers cannot: packets dropped because a queue was full (fail-closed) or because
//! the socket buffer overflowed. With fail-open, overflowing packets are accepted and counted
//! nowhere.

/// One line of `/proc/net/netfilter/nfnetlink_queue`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Queue number.
    pub queue: u16,
    /// Netlink port id of the bound process.
    pub portid: u32,
    /// Packets waiting for a verdict now.
    pub waiting: u32,
    /// Packets dropped because the queue was full (fail-closed).
    pub queue_dropped: u64,
    /// Packets dropped because the listener's socket buffer was full.
    pub user_dropped: u64,
}

/// Parses the file's text (pure). Malformed lines are skipped.
pub fn parse_stats(text: &str) -> Vec<QueueStats> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(QueueStats {
                queue: f.first()?.parse().ok()?,
                portid: f.get(1)?.parse().ok()?,
                waiting: f.get(2)?.parse().ok()?,
                queue_dropped: f.get(5)?.parse().ok()?,
                user_dropped: f.get(6)?.parse().ok()?,
            })
        })
        .collect()
}

/// Reads the stats of queues `base..base+count` in the calling thread's network namespace.
///
/// # Errors
/// When the file cannot be read (nfnetlink_queue not loaded, or no queue bound yet).
pub fn read_stats(base: u16, count: u16) -> std::io::Result<Vec<QueueStats>> {
    let text = std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue")?;
    let end = u32::from(base) + u32::from(count);
    Ok(parse_stats(&text)
        .into_iter()
        .filter(|s| u32::from(s.queue) >= u32::from(base) && u32::from(s.queue) < end)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_lines() {
        let text = "  100  12345     0 2   128     7     3     991  1\n\
                    101 -4000 5 2 128 0 0 9 1\n\
                    garbage\n";
        let got = parse_stats(text);
        assert_eq!(
            got,
            vec![QueueStats {
                queue: 100,
                portid: 12345,
                waiting: 0,
                queue_dropped: 7,
                user_dropped: 3
            }],
            "a negative port id (not a u32) is skipped, as is garbage"
        );
    }
}
