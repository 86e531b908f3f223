//! `--stats` end to end: `ringmq send --stats` and `ringmq recv --stats` print their socket's
//! counters on standard error at exit, and the counters equal what went through; `ringmq monitor
//! --stats` prints them at exit, and `--stats-interval` while it watches.
//!
//! Every wait is bounded: receivers run with `--timeout`, every process runs under a deadline
//! after which it is killed and the test fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringmq_test_support::process::{lines, read_all, wait_for_line, Running};

/// Longest a test waits for any one process; far above what a run on a loaded machine needs.
const LIMIT: Duration = Duration::from_secs(30);

/// The heading of a stats block; its counters follow as `  name: value` lines.
const HEADING: &str = "ringmq: stats";

/// Every counter a stats block shows, in order.
const COUNTERS: [&str; 19] = [
    "messages_sent",
    "bytes_sent",
    "messages_received",
    "bytes_received",
    "dropped.peer_at_hwm",
    "dropped.unroutable",
    "dropped.handoff_full",
    "queued_out",
    "queued_in",
    "sndhwm",
    "rcvhwm",
    "connects",
    "accepts",
    "disconnects",
    "reconnect_attempts",
    "handshake_failures.protocol",
    "handshake_failures.auth",
    "auth_refusals",
    "connected_peers",
];

fn ringmq(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringmq"));
    command.args(args);
    command
}

/// What a finished process said.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: Vec<String>,
}

/// Run `ringmq args` with `stdin` as its input, to completion (at most `LIMIT`).
fn run(args: &[&str], stdin: &[u8]) -> Finished {
    let mut child = ringmq(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringmq");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let mut running = Running::new(child, format!("ringmq {}", args.join(" ")));
    input.write_all(stdin).expect("write stdin");
    drop(input);
    let status = running.wait(LIMIT);
    Finished {
        status,
        stdout: text(stdout),
        stderr: text(stderr).lines().map(str::to_owned).collect(),
    }
}

fn text(reader: JoinHandle<Vec<u8>>) -> String {
    String::from_utf8(reader.join().expect("reader thread")).expect("utf-8 output")
}

/// A `ringmq` process beside the test that bound one socket.
struct Background {
    running: Running,
    endpoint: String,
    stdout: JoinHandle<Vec<u8>>,
    stderr: mpsc::Receiver<String>,
    /// Standard error up to and including the bound endpoint.
    seen: Vec<String>,
}

impl Background {
    /// Start `ringmq args`, which binds one socket, and wait for its endpoint on standard error.
    fn start(args: &[&str]) -> Background {
        let mut child = ringmq(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringmq");
        let stdout = read_all(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        let running = Running::new(child, format!("ringmq {}", args.join(" ")));
        let (endpoint, seen) = wait_for_line(&stderr, LIMIT, |l| {
            l.strip_prefix("ringmq: bound ").map(str::to_owned)
        });
        let endpoint =
            endpoint.unwrap_or_else(|| panic!("`{}` never bound: {seen:?}", running.what));
        Background {
            running,
            endpoint,
            stdout,
            stderr,
            seen,
        }
    }

    /// Wait for the process to exit: its status, standard output, and all of standard error.
    fn finish(mut self) -> Finished {
        let status = self.running.wait(LIMIT);
        // The process has exited, so its stderr is closed and the reader thread ends.
        let mut stderr = self.seen;
        stderr.extend(self.stderr.iter());
        Finished {
            status,
            stdout: text(self.stdout),
            stderr,
        }
    }
}

/// The stats blocks in `stderr`, in order, each as counter name → value. Panics on a block that
/// lacks a counter or shows one twice.
fn stats_blocks(stderr: &[String]) -> Vec<BTreeMap<String, u64>> {
    let mut blocks: Vec<BTreeMap<String, u64>> = Vec::new();
    let mut in_block = false;
    for line in stderr {
        if line == HEADING {
            blocks.push(BTreeMap::new());
            in_block = true;
            continue;
        }
        let counter = line.strip_prefix("  ").filter(|_| in_block);
        let Some(counter) = counter else {
            in_block = false;
            continue;
        };
        let (name, value) = counter
            .split_once(": ")
            .unwrap_or_else(|| panic!("not a counter line: {line:?}"));
        let value = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line:?}"));
        let block = blocks.last_mut().expect("a block was started");
        assert!(
            block.insert(name.to_owned(), value).is_none(),
            "{name} twice"
        );
    }
    for block in &blocks {
        let names: Vec<&str> = block.keys().map(String::as_str).collect();
        let mut expected = COUNTERS.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected, "a block with other counters: {stderr:?}");
    }
    blocks
}

/// The one stats block in `stderr`.
fn only_stats_block(stderr: &[String]) -> BTreeMap<String, u64> {
    let mut blocks = stats_blocks(stderr);
    assert_eq!(blocks.len(), 1, "one stats block expected: {stderr:?}");
    blocks.remove(0)
}

/// Check `block`'s counters named in `expected`.
fn assert_counters(block: &BTreeMap<String, u64>, expected: &[(&str, u64)], who: &str) {
    for (name, value) in expected {
        assert_eq!(block.get(*name), Some(value), "{who}: {name} in {block:?}");
    }
}

/// The counters that are zero on any healthy NULL-security link: nothing dropped, refused or
/// failed, nothing left queued.
const CLEAN: [(&str, u64); 8] = [
    ("dropped.peer_at_hwm", 0),
    ("dropped.unroutable", 0),
    ("dropped.handoff_full", 0),
    ("queued_out", 0),
    ("queued_in", 0),
    ("handshake_failures.protocol", 0),
    ("handshake_failures.auth", 0),
    ("auth_refusals", 0),
];

// Neither test below checks `disconnects`, `reconnect_attempts` or `connected_peers`: which
// side closes first is a race between the two processes (the receiver exits on its last message
// while the sender may still be closing), and those three depend on it.

#[test]
fn send_and_recv_stats_count_every_message_and_byte() {
    let bodies = [
        "first line",
        "",
        "third",
        "a somewhat longer fourth line",
        "5",
    ];
    let bytes: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    let receiver = Background::start(&[
        "recv",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:0",
        "--count",
        "5",
        "--timeout",
        "20",
        "--stats",
    ]);
    let input: String = bodies.iter().map(|b| format!("{b}\n")).collect();
    let sender = run(
        &[
            "send",
            "--type",
            "push",
            "--connect",
            &receiver.endpoint,
            "--stats",
        ],
        input.as_bytes(),
    );
    assert!(sender.status.success(), "send: {:?}", sender.stderr);
    assert_eq!(sender.stdout, "");
    let sent = only_stats_block(&sender.stderr);
    assert_counters(
        &sent,
        &[
            ("messages_sent", 5),
            ("bytes_sent", bytes),
            ("messages_received", 0),
            ("bytes_received", 0),
            ("sndhwm", 1000),
            ("rcvhwm", 1000),
            ("connects", 1),
            ("accepts", 0),
        ],
        "send",
    );
    assert_counters(&sent, &CLEAN, "send");

    let received = receiver.finish();
    assert!(received.status.success(), "recv: {:?}", received.stderr);
    assert_eq!(received.stdout, input);
    let got = only_stats_block(&received.stderr);
    assert_counters(
        &got,
        &[
            ("messages_sent", 0),
            ("bytes_sent", 0),
            ("messages_received", 5),
            ("bytes_received", bytes),
            ("connects", 0),
            ("accepts", 1),
        ],
        "recv",
    );
    assert_counters(&got, &CLEAN, "recv");
}

#[test]
fn stats_count_every_frame_of_multipart_messages() {
    // The sender binds this time (a bound push waits for its peer), and each message is two
    // frames: the topic, then the body; both count as bytes.
    let sender = Background::start(&[
        "send",
        "--type",
        "push",
        "--bind",
        "tcp://127.0.0.1:0",
        "--data",
        "hello",
        "--count",
        "4",
        "--topic",
        "t",
        "--stats",
    ]);
    let received = run(
        &[
            "recv",
            "--type",
            "pull",
            "--connect",
            &sender.endpoint,
            "--count",
            "4",
            "--timeout",
            "20",
            "--stats",
        ],
        b"",
    );
    assert!(received.status.success(), "recv: {:?}", received.stderr);
    assert_eq!(received.stdout, "t\thello\n".repeat(4));
    let got = only_stats_block(&received.stderr);
    assert_counters(
        &got,
        &[
            ("messages_received", 4),
            ("bytes_received", 4 * 6),
            ("messages_sent", 0),
            ("connects", 1),
            ("accepts", 0),
        ],
        "recv",
    );
    assert_counters(&got, &CLEAN, "recv");

    let sent = sender.finish();
    assert!(sent.status.success(), "send: {:?}", sent.stderr);
    let sent = only_stats_block(&sent.stderr);
    assert_counters(
        &sent,
        &[
            ("messages_sent", 4),
            ("bytes_sent", 4 * 6),
            ("messages_received", 0),
            ("connects", 0),
            ("accepts", 1),
        ],
        "send",
    );
    assert_counters(&sent, &CLEAN, "send");
}

#[test]
fn a_failing_recv_still_prints_its_stats_before_the_error() {
    let out = run(
        &[
            "recv",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:0",
            "--timeout",
            "0.2",
            "--stats",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", out.stderr);
    let block = only_stats_block(&out.stderr);
    for name in COUNTERS {
        let expected = match name {
            "sndhwm" | "rcvhwm" => 1000,
            _ => 0,
        };
        assert_eq!(block[name], expected, "{name} in {block:?}");
    }
    assert_eq!(
        out.stderr.last().map(String::as_str),
        Some("ringmq: no message arrived within 200ms"),
        "{:?}",
        out.stderr
    );
}

#[test]
fn without_stats_nothing_more_is_printed() {
    let receiver = Background::start(&[
        "recv",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:0",
        "--count",
        "1",
        "--timeout",
        "20",
    ]);
    let sender = run(
        &["send", "--type", "push", "--connect", &receiver.endpoint],
        b"one\n",
    );
    assert!(sender.status.success(), "send: {:?}", sender.stderr);
    assert!(sender.stderr.is_empty(), "{:?}", sender.stderr);
    let received = receiver.finish();
    assert!(received.status.success(), "recv: {:?}", received.stderr);
    assert_eq!(received.stdout, "one\n");
    assert_eq!(received.stderr.len(), 1, "{:?}", received.stderr);
}

#[test]
fn monitor_stats_at_exit_count_the_connection_it_watched() {
    let monitor = Background::start(&[
        "monitor",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:0",
        "--count",
        "4",
        "--timeout",
        "20",
        "--stats",
    ]);
    let sender = run(
        &[
            "send",
            "--type",
            "push",
            "--connect",
            &monitor.endpoint,
            "--data",
            "discarded",
            "--count",
            "3",
        ],
        b"",
    );
    assert!(sender.status.success(), "send: {:?}", sender.stderr);
    let watched = monitor.finish();
    assert!(watched.status.success(), "monitor: {:?}", watched.stderr);
    // The events: listening, accepted, handshake-succeeded, disconnected.
    let events: Vec<&str> = watched.stdout.lines().collect();
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(events[3].starts_with("disconnected "), "{events:?}");
    let block = only_stats_block(&watched.stderr);
    // Counted where the events are made, so they agree with the events printed. (How many of
    // the three messages the monitor had drained when it stopped is a race; it cannot have
    // drained more.)
    assert_counters(
        &block,
        &[
            ("accepts", 1),
            ("connects", 0),
            ("disconnects", 1),
            ("reconnect_attempts", 0),
            ("handshake_failures.protocol", 0),
            ("handshake_failures.auth", 0),
            ("auth_refusals", 0),
            ("messages_sent", 0),
            ("connected_peers", 0),
        ],
        "monitor",
    );
    assert!(block["messages_received"] <= 3, "{block:?}");
    assert_eq!(
        block["bytes_received"],
        block["messages_received"] * "discarded".len() as u64,
        "{block:?}"
    );
}

#[test]
fn monitor_stats_interval_prints_while_watching() {
    let mut monitor = Background::start(&[
        "monitor",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:0",
        "--stats-interval",
        "0.1",
    ]);
    // No --count, --duration or --timeout: the monitor runs until killed, so a block seen now
    // is a periodic one, not the one at exit.
    let (heading, seen) = wait_for_line(&monitor.stderr, LIMIT, |l| (l == HEADING).then_some(()));
    assert!(heading.is_some(), "no stats block while watching: {seen:?}");
    let mut block = vec![HEADING.to_owned()];
    while block.len() <= COUNTERS.len() {
        let line = monitor
            .stderr
            .recv_timeout(LIMIT)
            .expect("the rest of the block");
        block.push(line);
    }
    let block = only_stats_block(&block);
    assert_counters(
        &block,
        &[("accepts", 0), ("connects", 0), ("messages_received", 0)],
        "monitor",
    );
    assert!(
        !monitor.running.has_exited(),
        "the monitor went on watching"
    );
}

#[test]
fn monitor_stats_interval_must_be_positive() {
    let out = run(
        &[
            "monitor",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:0",
            "--stats-interval",
            "0",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{:?}", out.stderr);
}
