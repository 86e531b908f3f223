//! `--stats`: a socket's counters ([`SocketStats`]) as a block of `name: value` lines on standard
//! error, under a `ringmq: stats` heading. The names are the fields of [`SocketStats`] (nested
//! ones joined by a dot), so a reader can look each one up in the library's documentation.

use ringmq::SocketStats;

/// The heading line a stats block starts with; every counter follows on a line of its own,
/// indented by two spaces.
pub const HEADING: &str = "ringmq: stats";

/// `stats` as a block: the heading, then one `  name: value` line per counter, every line ending
/// in a newline.
pub fn render(stats: &SocketStats) -> String {
    let counters: [(&str, u64); 19] = [
        ("messages_sent", stats.messages_sent),
        ("bytes_sent", stats.bytes_sent),
        ("messages_received", stats.messages_received),
        ("bytes_received", stats.bytes_received),
        ("dropped.peer_at_hwm", stats.dropped.peer_at_hwm),
        ("dropped.unroutable", stats.dropped.unroutable),
        ("dropped.handoff_full", stats.dropped.handoff_full),
        ("queued_out", stats.queued_out as u64),
        ("queued_in", stats.queued_in as u64),
        ("sndhwm", stats.sndhwm as u64),
        ("rcvhwm", stats.rcvhwm as u64),
        ("connects", stats.connects),
        ("accepts", stats.accepts),
        ("disconnects", stats.disconnects),
        ("reconnect_attempts", stats.reconnect_attempts),
        (
            "handshake_failures.protocol",
            stats.handshake_failures.protocol,
        ),
        ("handshake_failures.auth", stats.handshake_failures.auth),
        ("auth_refusals", stats.auth_refusals),
        ("connected_peers", stats.connected_peers as u64),
    ];
    let mut out = format!("{HEADING}\n");
    for (name, value) in counters {
        out.push_str(&format!("  {name}: {value}\n"));
    }
    out
}

/// Print `stats` on standard error as one block (a single write, so lines of another thread
/// cannot land inside it).
pub fn print(stats: &SocketStats) {
    eprint!("{}", render(stats));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_one_line_under_the_heading() {
        let mut stats = SocketStats::default();
        stats.messages_sent = 3;
        stats.bytes_sent = 15;
        stats.dropped.unroutable = 2;
        stats.handshake_failures.auth = 1;
        stats.connected_peers = 1;
        let text = render(&stats);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADING);
        assert_eq!(lines.len(), 20);
        assert!(lines[1..].iter().all(|l| l.starts_with("  ")), "{text}");
        for expected in [
            "  messages_sent: 3",
            "  bytes_sent: 15",
            "  messages_received: 0",
            "  dropped.unroutable: 2",
            "  handshake_failures.auth: 1",
            "  connected_peers: 1",
        ] {
            assert!(
                lines.contains(&expected),
                "{expected:?} missing from {text}"
            );
        }
        assert!(text.ends_with('\n'));
    }
}
