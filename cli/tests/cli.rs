//! The `ringmq` binary end to end: real processes on loopback tcp and on ipc sockets.
//!
//! Every wait is bounded: receivers run with `--timeout`, and a process still running at its
//! deadline is killed and the test fails. A child is killed when its guard drops, so a failing
//! assertion leaves no process behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ringmq_test_support::process::Running;

/// Longest a test waits for any one process; far above what a run on a loaded machine needs.
const PROCESS_LIMIT: Duration = Duration::from_secs(30);

fn ringmq(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringmq"));
    command.args(args);
    command
}

/// What a finished process said.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run `ringmq args` with `stdin` as its input, to completion (at most `PROCESS_LIMIT`).
fn run(args: &[&str], stdin: &[u8]) -> Finished {
    let child = ringmq(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringmq");
    let mut running = Running {
        child,
        what: format!("ringmq {}", args.join(" ")),
    };
    let mut input = running.child.stdin.take().expect("piped stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    let stdout = read_all(running.child.stdout.take().expect("piped stdout"));
    let stderr = read_all(running.child.stderr.take().expect("piped stderr"));
    let status = running.wait(PROCESS_LIMIT);
    Finished {
        status,
        stdout: String::from_utf8(stdout.join().expect("stdout reader")).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr.join().expect("stderr reader")).expect("utf-8 stderr"),
    }
}

fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// A `ringmq` process running beside the test, with the endpoints it bound.
struct Background {
    running: Running,
    endpoints: Vec<String>,
    /// Lines of standard error before the bound endpoints.
    notes: Vec<String>,
    stdout: Option<ChildStdout>,
    stderr_lines: mpsc::Receiver<String>,
}

impl Background {
    /// Start `ringmq args` (which must bind one socket) and read the bound endpoint from its
    /// standard error.
    fn start(args: &[&str]) -> Background {
        Background::binding(args, 1)
    }

    /// Start `ringmq args`, which binds `sockets` sockets (maybe none), and read their endpoints
    /// from its standard error.
    fn binding(args: &[&str], sockets: usize) -> Background {
        let child = ringmq(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringmq");
        let mut running = Running {
            child,
            what: format!("ringmq {}", args.join(" ")),
        };
        let stdout = running.child.stdout.take();
        let stderr = running.child.stderr.take().expect("piped stderr");
        let (tx, stderr_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Lines before a bound endpoint (an ephemeral key, a warning) are kept for the test.
        let mut notes = Vec::new();
        let mut endpoints = Vec::new();
        while endpoints.len() < sockets {
            let line = stderr_lines
                .recv_timeout(PROCESS_LIMIT)
                .unwrap_or_else(|e| {
                    panic!(
                        "`{}` printed no bound endpoint ({e}); it said {notes:?}",
                        running.what
                    )
                });
            let Some(endpoint) = line.strip_prefix("ringmq: bound ") else {
                assert!(
                    line.starts_with("ringmq: "),
                    "unexpected stderr line {line:?}"
                );
                notes.push(line);
                continue;
            };
            assert!(
                endpoint.starts_with("tcp://127.0.0.1:") || endpoint.starts_with("ipc://"),
                "{endpoint}"
            );
            endpoints.push(endpoint.to_owned());
        }
        Background {
            running,
            endpoints,
            notes,
            stdout,
            stderr_lines,
        }
    }

    /// The (first) bound endpoint.
    fn endpoint(&self) -> &str {
        &self.endpoints[0]
    }

    /// Wait for the process to exit; its exit status, standard output, and the rest of its
    /// standard error.
    fn finish(mut self) -> Finished {
        let stdout = read_all(self.stdout.take().expect("piped stdout"));
        let status = self.running.wait(PROCESS_LIMIT);
        let stdout = String::from_utf8(stdout.join().expect("stdout reader")).expect("utf-8");
        // The process has exited, so its stderr is closed and the reader thread ends.
        let stderr: Vec<String> = self.stderr_lines.iter().collect();
        Finished {
            status,
            stdout,
            stderr: stderr.join("\n"),
        }
    }
}

/// Exactly one line on stderr, starting `ringmq: `.
fn assert_one_error_line(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {stderr:?}");
    assert!(lines[0].starts_with("ringmq: "), "stderr: {stderr:?}");
}

#[test]
fn push_lines_arrive_in_order_at_pull() {
    let receiver = Background::start(&[
        "recv",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:0",
        "--count",
        "3",
        "--timeout",
        "20",
    ]);
    let sender = run(
        &["send", "--type", "push", "--connect", receiver.endpoint()],
        b"first line\nsecond\nthird\n",
    );
    assert!(sender.status.success(), "send: {}", sender.stderr);
    assert_eq!(sender.stdout, "");
    let received = receiver.finish();
    assert!(received.status.success(), "recv: {}", received.stderr);
    assert_eq!(received.stdout, "first line\nsecond\nthird\n");
}

#[test]
fn bound_push_waits_for_a_peer() {
    let sender = Background::start(&[
        "send",
        "--type",
        "push",
        "--bind",
        "tcp://127.0.0.1:0",
        "--data",
        "hello",
        "--count",
        "2",
        "--timeout",
        "20",
    ]);
    let received = run(
        &[
            "recv",
            "--type",
            "PULL",
            "--connect",
            sender.endpoint(),
            "--count",
            "2",
            "--timeout",
            "20",
        ],
        b"",
    );
    assert!(received.status.success(), "recv: {}", received.stderr);
    assert_eq!(received.stdout, "hello\nhello\n");
    let sent = sender.finish();
    assert!(sent.status.success(), "send: {}", sent.stderr);
}

#[test]
fn sub_prints_only_its_topic() {
    let mut receiver = Background::start(&[
        "recv",
        "--type",
        "sub",
        "--bind",
        "tcp://127.0.0.1:0",
        "--subscribe",
        "a",
        "--count",
        "2",
        "--timeout",
        "25",
    ]);
    // A PUB drops what it sends before the SUB's subscription reaches it, so one round may
    // deliver nothing; send rounds until the receiver has its two messages. Each round sends
    // the other topic first, so a filter that let it through would show in the output.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !receiver.running.has_exited() && Instant::now() < deadline {
        for (topic, data, count) in [("b", "unwanted", "3"), ("a", "wanted", "1")] {
            let sender = run(
                &[
                    "send",
                    "--type",
                    "pub",
                    "--connect",
                    receiver.endpoint(),
                    "--topic",
                    topic,
                    "--data",
                    data,
                    "--count",
                    count,
                    "--delay-ms",
                    "100",
                ],
                b"",
            );
            assert!(sender.status.success(), "send: {}", sender.stderr);
        }
    }
    let received = receiver.finish();
    assert!(received.status.success(), "recv: {}", received.stderr);
    assert_eq!(received.stdout, "a\twanted\na\twanted\n");
}

#[test]
fn hex_prints_every_frame_byte_for_byte() {
    let receiver = Background::start(&[
        "recv",
        "--type",
        "pair",
        "--bind",
        "tcp://127.0.0.1:0",
        "--hex",
        "--count",
        "1",
        "--timeout",
        "20",
    ]);
    let sender = run(
        &[
            "send",
            "--type",
            "pair",
            "--connect",
            receiver.endpoint(),
            "--topic",
            "t",
        ],
        b"\x00\xff\n",
    );
    assert!(sender.status.success(), "send: {}", sender.stderr);
    let received = receiver.finish();
    assert!(received.status.success(), "recv: {}", received.stderr);
    assert_eq!(received.stdout, "74\t00ff\n");
}

#[test]
fn bad_endpoint_fails_with_one_line() {
    for args in [
        &[
            "send",
            "--type",
            "push",
            "--connect",
            "nonsense",
            "--data",
            "x",
        ][..],
        &["recv", "--type", "pull", "--bind", "tcp://127.0.0.1"],
        &["recv", "--type", "pull", "--bind", "udp://127.0.0.1:5555"],
        &[
            "recv",
            "--type",
            "pull",
            "--bind",
            "ipc:///nonexistent-ringmq-cli-dir/socket",
        ],
        &[
            "proxy",
            "--frontend",
            "pull@tcp://127.0.0.1",
            "--backend",
            "push@tcp://127.0.0.1:0",
        ],
    ] {
        let out = run(args, b"");
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_one_error_line(&out.stderr);
    }
}

#[test]
fn failed_bind_fails_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
    let endpoint = format!("tcp://{}", taken.local_addr().expect("local addr"));
    let out = run(&["recv", "--type", "pull", "--bind", &endpoint], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_one_error_line(&out.stderr);
    assert!(out.stderr.contains("cannot bind"), "{}", out.stderr);
}

#[test]
fn wrong_or_unknown_type_fails_with_one_line() {
    for (args, says) in [
        (
            &["recv", "--type", "push", "--bind", "tcp://127.0.0.1:0"][..],
            "recv cannot use a PUSH socket",
        ),
        (
            &["send", "--type", "sub", "--bind", "tcp://127.0.0.1:0"],
            "send cannot use a SUB socket",
        ),
        (
            &["send", "--type", "req", "--bind", "tcp://127.0.0.1:0"],
            "send cannot use a REQ socket, which must alternate requests and replies: \
             use `ringmq req`",
        ),
        (
            &["recv", "--type", "rep", "--bind", "tcp://127.0.0.1:0"],
            "use `ringmq rep`",
        ),
        (
            &["send", "--type", "router", "--bind", "tcp://127.0.0.1:0"],
            "send --type router needs --routing-id",
        ),
        (
            &[
                "send",
                "--type",
                "dealer",
                "--bind",
                "tcp://127.0.0.1:0",
                "--routing-id",
                "a",
            ],
            "--routing-id applies to router sockets",
        ),
        (
            &[
                "proxy",
                "--frontend",
                "pub@tcp://127.0.0.1:0",
                "--backend",
                "pub@tcp://127.0.0.1:0",
            ],
            "a proxy cannot move messages between a PUB frontend and a PUB backend",
        ),
        (
            &["recv", "--type", "nope", "--bind", "tcp://127.0.0.1:0"],
            "unknown socket type",
        ),
        (
            &[
                "recv",
                "--type",
                "pull",
                "--bind",
                "tcp://127.0.0.1:0",
                "--subscribe",
                "a",
            ],
            "--subscribe applies to sub and xsub sockets",
        ),
    ] {
        let out = run(args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_one_error_line(&out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn exactly_one_of_bind_and_connect() {
    let neither = run(&["recv", "--type", "pull"], b"");
    assert_eq!(neither.status.code(), Some(2), "{}", neither.stderr);
    let both = run(
        &[
            "recv",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:0",
            "--connect",
            "tcp://127.0.0.1:1",
        ],
        b"",
    );
    assert_eq!(both.status.code(), Some(2), "{}", both.stderr);
}

#[test]
fn recv_timeout_without_a_sender_fails() {
    let started = Instant::now();
    let out = run(
        &[
            "recv",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:0",
            "--timeout",
            "1",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() >= Duration::from_secs(1));
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[0].starts_with("ringmq: bound tcp://127.0.0.1:"));
    assert_eq!(lines[1], "ringmq: no message arrived within 1s");
}

#[test]
fn bound_send_timeout_without_a_peer_fails() {
    let out = run(
        &[
            "send",
            "--type",
            "push",
            "--bind",
            "tcp://127.0.0.1:0",
            "--data",
            "x",
            "--timeout",
            "0.2",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr.lines().last(),
        Some("ringmq: no peer connected within 200ms")
    );
}

#[test]
fn malformed_command_lines_exit_2() {
    for args in [
        &["rep", "--bind", "tcp://127.0.0.1:0"][..],
        &[
            "rep",
            "--bind",
            "tcp://127.0.0.1:0",
            "--echo",
            "--reply",
            "x",
        ],
        &["req", "--data", "x"],
        &["monitor", "--type", "pull"],
        &[
            "monitor",
            "tcp://127.0.0.1:1",
            "--bind",
            "tcp://127.0.0.1:0",
        ],
        &["monitor", "tcp://127.0.0.1:1", "--type", "stream"],
        &["proxy", "--frontend", "pull@tcp://127.0.0.1:0"],
        &[
            "proxy",
            "--frontend",
            "tcp://127.0.0.1:0",
            "--backend",
            "push@tcp://127.0.0.1:0",
        ],
        &[
            "proxy",
            "--frontend",
            "pull@tcp://127.0.0.1:0",
            "--backend",
            "push@tcp://127.0.0.1:0",
            "--capture-connect",
        ],
        &[
            "send",
            "--type",
            "dealer",
            "--identity",
            "",
            "--connect",
            "x",
        ],
    ] {
        let out = run(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn req_rep_round_trip_over_tcp() {
    let server = Background::start(&[
        "rep",
        "--bind",
        "tcp://127.0.0.1:0",
        "--echo",
        "--count",
        "3",
        "--timeout",
        "20",
    ]);
    let client = run(
        &["req", "--connect", server.endpoint(), "--timeout", "20"],
        b"hello\n\nworld\n",
    );
    assert!(client.status.success(), "req: {}", client.stderr);
    assert_eq!(client.stdout, "hello\n\nworld\n");
    let served = server.finish();
    assert!(served.status.success(), "rep: {}", served.stderr);
    assert_eq!(served.stdout, "hello\n\nworld\n");
}

/// A unique ipc socket path under the temporary directory, removed when dropped.
struct IpcPath(std::path::PathBuf);

impl IpcPath {
    fn new(tag: &str) -> IpcPath {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!("ringmq-cli-{tag}-{}-{nanos}.sock", std::process::id());
        IpcPath(std::env::temp_dir().join(name))
    }

    fn endpoint(&self) -> String {
        format!("ipc://{}", self.0.display())
    }
}

impl Drop for IpcPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn req_rep_round_trip_over_ipc() {
    let path = IpcPath::new("reqrep");
    let abstract_name = format!("ipc://@ringmq-cli-reqrep-{}", std::process::id());
    for endpoint in [path.endpoint(), abstract_name] {
        // The other way round from the tcp test: the requester binds, and its requests wait for
        // the replier to connect.
        let client = Background::start(&[
            "req",
            "--bind",
            &endpoint,
            "--data",
            "ping",
            "--count",
            "2",
            "--timeout",
            "20",
        ]);
        assert_eq!(client.endpoint(), endpoint);
        let server = run(
            &[
                "rep",
                "--connect",
                &endpoint,
                "--reply",
                "pong",
                "--count",
                "2",
                "--timeout",
                "20",
            ],
            b"",
        );
        assert!(server.status.success(), "rep: {}", server.stderr);
        assert_eq!(server.stdout, "ping\nping\n");
        let asked = client.finish();
        assert!(asked.status.success(), "req: {}", asked.stderr);
        assert_eq!(asked.stdout, "pong\npong\n");
    }
}

#[test]
fn req_timeout_without_a_peer_fails() {
    let out = run(
        &[
            "req",
            "--bind",
            "tcp://127.0.0.1:0",
            "--data",
            "anyone?",
            "--timeout",
            "0.2",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    // With no peer at all a REQ cannot even queue its request (libzmq: EAGAIN).
    assert_eq!(
        out.stderr.lines().last(),
        Some("ringmq: could not queue a request within 200ms: no peer has room")
    );
}

#[test]
fn router_recv_prints_the_routing_id() {
    let receiver = Background::start(&[
        "recv",
        "--type",
        "router",
        "--bind",
        "tcp://127.0.0.1:0",
        "--count",
        "1",
        "--timeout",
        "20",
    ]);
    let sender = run(
        &[
            "send",
            "--type",
            "dealer",
            "--identity",
            "alice",
            "--connect",
            receiver.endpoint(),
            "--data",
            "hello",
        ],
        b"",
    );
    assert!(sender.status.success(), "send: {}", sender.stderr);
    let received = receiver.finish();
    assert!(received.status.success(), "recv: {}", received.stderr);
    assert_eq!(received.stdout, "alice\thello\n");

    // A peer without an identity gets a generated one: five bytes, the first zero.
    let receiver = Background::start(&[
        "recv",
        "--type",
        "router",
        "--bind",
        "tcp://127.0.0.1:0",
        "--hex",
        "--count",
        "1",
        "--timeout",
        "20",
    ]);
    let sender = run(
        &[
            "send",
            "--type",
            "dealer",
            "--connect",
            receiver.endpoint(),
            "--data",
            "hi",
        ],
        b"",
    );
    assert!(sender.status.success(), "send: {}", sender.stderr);
    let received = receiver.finish();
    assert!(received.status.success(), "recv: {}", received.stderr);
    let (id, body) = received.stdout.split_once('\t').expect("two fields");
    assert_eq!(body, "6869\n");
    assert_eq!(id.len(), 10, "{id}");
    assert!(id.starts_with("00"), "{id}");
}

#[test]
fn router_send_reaches_the_peer_by_routing_id() {
    let receiver = Background::start(&[
        "recv",
        "--type",
        "dealer",
        "--identity",
        "0x0b0b",
        "--bind",
        "tcp://127.0.0.1:0",
        "--count",
        "1",
        "--timeout",
        "20",
    ]);
    // The router connects, so it learns the dealer's routing id only after its handshake: the
    // send waits for that peer.
    let sender = run(
        &[
            "send",
            "--type",
            "router",
            "--connect",
            receiver.endpoint(),
            "--routing-id",
            "0x0b0b",
            "--data",
            "for you",
            "--timeout",
            "20",
        ],
        b"",
    );
    assert!(sender.status.success(), "send: {}", sender.stderr);
    let received = receiver.finish();
    assert!(received.status.success(), "recv: {}", received.stderr);
    assert_eq!(received.stdout, "for you\n");

    let unknown = run(
        &[
            "send",
            "--type",
            "router",
            "--bind",
            "tcp://127.0.0.1:0",
            "--routing-id",
            "nobody",
            "--data",
            "x",
            "--timeout",
            "0.2",
        ],
        b"",
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        unknown.stderr.lines().last(),
        Some("ringmq: no peer with routing id nobody connected within 200ms")
    );
}

#[test]
fn proxy_streams_between_processes() {
    let mut proxy = Background::binding(
        &[
            "proxy",
            "--frontend",
            "PULL@tcp://127.0.0.1:0",
            "--backend",
            "push@tcp://127.0.0.1:0",
        ],
        2,
    );
    let (frontend, backend) = (proxy.endpoints[0].clone(), proxy.endpoints[1].clone());
    let receiver = Background::binding(
        &[
            "recv",
            "--type",
            "pull",
            "--connect",
            &backend,
            "--count",
            "3",
            "--timeout",
            "20",
        ],
        0,
    );
    let sender = run(
        &["send", "--type", "push", "--connect", &frontend],
        b"one\ntwo\nthree\n",
    );
    assert!(sender.status.success(), "send: {}", sender.stderr);
    let received = receiver.finish();
    assert!(received.status.success(), "recv: {}", received.stderr);
    assert_eq!(received.stdout, "one\ntwo\nthree\n");
    // A proxy runs until it is killed (here, when `proxy` drops).
    assert!(!proxy.running.has_exited(), "the proxy stopped by itself");
}

#[test]
fn proxy_duration_ends_it() {
    let started = Instant::now();
    let out = run(
        &[
            "proxy",
            "--frontend",
            "xsub@tcp://127.0.0.1:0",
            "--backend",
            "xpub@tcp://127.0.0.1:0",
            "--capture",
            "push@tcp://127.0.0.1:0",
            "--duration",
            "0.3",
        ],
        b"",
    );
    assert!(out.status.success(), "proxy: {}", out.stderr);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert!(lines
        .iter()
        .all(|l| l.starts_with("ringmq: bound tcp://127.0.0.1:")));
}

#[test]
fn monitor_prints_a_peer_connecting() {
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
    ]);
    let endpoint = monitor.endpoint().to_owned();
    // The fourth event is the sender leaving, once its message is written: a monitor that
    // stopped at the third could leave the sender lingering for a peer that is gone.
    let sender = run(
        &[
            "send",
            "--type",
            "push",
            "--connect",
            &endpoint,
            "--data",
            "discarded",
        ],
        b"",
    );
    assert!(sender.status.success(), "send: {}", sender.stderr);
    let watched = monitor.finish();
    assert!(watched.status.success(), "monitor: {}", watched.stderr);
    let lines: Vec<&str> = watched.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            format!("listening {endpoint}"),
            format!("accepted {endpoint}"),
            format!("handshake-succeeded {endpoint} peer PUSH"),
        ]
    );
    assert!(
        lines[3].starts_with(&format!("disconnected {endpoint}: ")),
        "{lines:?}"
    );
}

#[test]
fn monitor_endpoint_connects_a_dealer() {
    let listener = Background::start(&[
        "recv",
        "--type",
        "router",
        "--bind",
        "tcp://127.0.0.1:0",
        "--timeout",
        "25",
    ]);
    let endpoint = listener.endpoint();
    let out = run(
        &["monitor", endpoint, "--count", "3", "--timeout", "20"],
        b"",
    );
    assert!(out.status.success(), "monitor: {}", out.stderr);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            format!("connect-delayed {endpoint}"),
            format!("connected {endpoint}"),
            format!("handshake-succeeded {endpoint} peer ROUTER"),
        ]
    );
}

#[test]
fn monitor_timeout_without_events_fails() {
    let out = run(
        &[
            "monitor",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:0",
            "--count",
            "2",
            "--timeout",
            "0.2",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.starts_with("listening tcp://127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stderr.lines().last(),
        Some("ringmq: no event arrived within 200ms")
    );
}

/// A fresh directory under the temporary directory, removed (with what is in it) when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!("ringmq-cli-{tag}-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    /// `NAME` inside the directory, as a command-line argument.
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Z85 key of a `NAME = "KEY"` line; checks it is 40 characters of Z85.
fn key_of(line: &str, name: &str) -> String {
    let key = line
        .strip_prefix(&format!("{name} = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a {name} line: {line:?}"));
    assert_eq!(key.len(), 40, "{line:?}");
    let z85 =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    assert!(key.chars().all(|c| z85.contains(c)), "{line:?}");
    key.to_owned()
}

/// `ringmq keygen` without --out: the public and secret keys.
fn keygen() -> (String, String) {
    let out = run(&["keygen"], b"");
    assert!(out.status.success(), "keygen: {}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    (
        key_of(lines[0], "public-key"),
        key_of(lines[1], "secret-key"),
    )
}

/// `ringmq keygen --out PATH`: the public key it printed.
fn keygen_out(path: &str) -> String {
    let out = run(&["keygen", "--out", path], b"");
    assert!(out.status.success(), "keygen --out: {}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    key_of(lines[0], "public-key")
}

/// The ephemeral CURVE client key a `ringmq` process printed on standard error, if any.
fn ephemeral_key(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|line| {
        let rest = line.strip_prefix("ringmq: ephemeral CURVE client public key '")?;
        Some(rest.split_once('\'')?.0.to_owned())
    })
}

#[test]
fn keygen_prints_keys_and_writes_certificates() {
    use std::os::unix::fs::PermissionsExt;
    let (public, secret) = keygen();
    assert_ne!(public, secret);
    assert_ne!(keygen().0, public, "two runs made the same key");

    let dir = TempDir::new("keygen");
    let name = dir.path("server");
    let secret_name = dir.path("server_secret");
    let printed = keygen_out(&name);
    let mode = |path: &str| {
        std::fs::metadata(path)
            .expect("written")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&secret_name), 0o600);
    assert_eq!(mode(&name), 0o644);
    let public_file = std::fs::read_to_string(&name).expect("public certificate");
    let secret_file = std::fs::read_to_string(&secret_name).expect("secret certificate");
    assert!(public_file.contains(&format!("public-key = \"{printed}\"")));
    assert!(!public_file.contains("secret-key"));
    assert!(secret_file.contains(&format!("public-key = \"{printed}\"")));
    assert!(secret_file.contains("secret-key = \""));

    // A second run refuses to replace the secret certificate and changes nothing.
    let again = run(&["keygen", "--out", &name], b"");
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(again.stdout, "");
    assert_one_error_line(&again.stderr);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&secret_name).unwrap(), secret_file);
    assert_eq!(std::fs::read_to_string(&name).unwrap(), public_file);
}

#[test]
fn curve_round_trip_over_tcp() {
    let dir = TempDir::new("curve");
    let server_cert = dir.path("server");
    let server_public = keygen_out(&server_cert);
    let server = Background::start(&[
        "rep",
        "--bind",
        "tcp://127.0.0.1:0",
        "--curve-server",
        "--curve-secret-key",
        &dir.path("server_secret"),
        "--echo",
        "--count",
        "2",
        "--timeout",
        "20",
    ]);
    assert_eq!(server.notes, Vec::<String>::new());
    // The server's key from its public certificate, then as Z85.
    for server_key in [server_cert.as_str(), &server_public] {
        let client = run(
            &[
                "req",
                "--connect",
                server.endpoint(),
                "--curve-serverkey",
                server_key,
                "--timeout",
                "20",
            ],
            b"over curve\n",
        );
        assert!(client.status.success(), "req: {}", client.stderr);
        assert_eq!(client.stdout, "over curve\n");
        assert!(ephemeral_key(&client.stderr).is_some(), "{}", client.stderr);
    }
    let served = server.finish();
    assert!(served.status.success(), "rep: {}", served.stderr);
    assert_eq!(served.stdout, "over curve\nover curve\n");
}

#[test]
fn curve_client_with_the_wrong_server_key_times_out() {
    let (server_public, server_secret) = keygen();
    let (wrong_public, _) = keygen();
    let server = Background::start(&[
        "rep",
        "--bind",
        "tcp://127.0.0.1:0",
        "--curve-server",
        "--curve-secret-key",
        &server_secret,
        "--echo",
        "--count",
        "1",
        "--timeout",
        "20",
    ]);
    let wrong = run(
        &[
            "req",
            "--connect",
            server.endpoint(),
            "--curve-serverkey",
            &wrong_public,
            "--data",
            "let me in",
            "--timeout",
            "1",
        ],
        b"",
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", wrong.stderr);
    assert_eq!(wrong.stdout, "");
    assert_eq!(
        wrong.stderr.lines().last(),
        Some("ringmq: no reply arrived within 1s")
    );
    // The server itself was fine.
    let right = run(
        &[
            "req",
            "--connect",
            server.endpoint(),
            "--curve-serverkey",
            &server_public,
            "--data",
            "hello",
            "--timeout",
            "20",
        ],
        b"",
    );
    assert!(right.status.success(), "req: {}", right.stderr);
    assert_eq!(right.stdout, "hello\n");
    let served = server.finish();
    assert!(served.status.success(), "rep: {}", served.stderr);
    assert_eq!(served.stdout, "hello\n");
}

#[test]
fn allow_key_admits_only_listed_clients() {
    let dir = TempDir::new("allow-key");
    let server_public = keygen_out(&dir.path("server"));
    let client_public = keygen_out(&dir.path("client"));
    let server = Background::start(&[
        "rep",
        "--bind",
        "tcp://127.0.0.1:0",
        "--curve-server",
        "--curve-secret-key",
        &dir.path("server"),
        "--allow-key",
        &client_public,
        "--echo",
        "--count",
        "1",
        "--timeout",
        "20",
    ]);
    let request = |extra: &[&str], timeout: &str| {
        let mut args = vec![
            "req",
            "--connect",
            server.endpoint(),
            "--curve-serverkey",
            &server_public,
            "--data",
            "hello",
            "--timeout",
            timeout,
        ];
        args.extend_from_slice(extra);
        run(&args, b"")
    };
    // A client with a fresh key, not on the list.
    let unlisted = request(&[], "1");
    assert_eq!(unlisted.status.code(), Some(1), "{}", unlisted.stderr);
    assert_eq!(unlisted.stdout, "");
    let key = ephemeral_key(&unlisted.stderr).expect("the ephemeral key is printed");
    assert_ne!(key, client_public);
    assert_eq!(
        unlisted.stderr.lines().last(),
        Some("ringmq: no reply arrived within 1s")
    );
    // The listed client, its keys from its secret certificate (the public key checked against
    // its public certificate).
    let listed = request(
        &[
            "--curve-secret-key",
            &dir.path("client_secret"),
            "--curve-public-key",
            &dir.path("client"),
        ],
        "20",
    );
    assert!(listed.status.success(), "req: {}", listed.stderr);
    assert_eq!(listed.stdout, "hello\n");
    assert_eq!(ephemeral_key(&listed.stderr), None);
    let served = server.finish();
    assert!(served.status.success(), "rep: {}", served.stderr);
    assert_eq!(served.stdout, "hello\n");
}

#[test]
fn allow_address_refuses_other_networks() {
    let (server_public, server_secret) = keygen();
    let server = Background::start(&[
        "rep",
        "--bind",
        "tcp://127.0.0.1:0",
        "--curve-server",
        "--curve-secret-key",
        &server_secret,
        "--allow-address",
        "192.0.2.0/24",
        "--echo",
        "--timeout",
        "20",
    ]);
    let refused = run(
        &[
            "req",
            "--connect",
            server.endpoint(),
            "--curve-serverkey",
            &server_public,
            "--data",
            "from loopback",
            "--timeout",
            "1",
        ],
        b"",
    );
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert_eq!(refused.stdout, "");
}

#[test]
fn plain_allow_user_checks_the_password() {
    // Hashing and verifying a password (Argon2id) takes seconds in a debug build.
    let server = Background::start(&[
        "rep",
        "--bind",
        "tcp://127.0.0.1:0",
        "--plain-server",
        "--allow-user",
        "alice:open sesame",
        "--echo",
        "--count",
        "1",
        "--timeout",
        "25",
    ]);
    assert_eq!(server.notes.len(), 1, "{:?}", server.notes);
    assert!(
        server.notes[0].starts_with("ringmq: warning: PLAIN sends user names and passwords"),
        "{:?}",
        server.notes
    );
    let login = |password: &str, timeout: &str| {
        run(
            &[
                "req",
                "--connect",
                server.endpoint(),
                "--plain-user",
                "alice",
                "--plain-password",
                password,
                "--data",
                "hello",
                "--timeout",
                timeout,
            ],
            b"",
        )
    };
    let wrong = login("open barley", "1");
    assert_eq!(wrong.status.code(), Some(1), "{}", wrong.stderr);
    assert_eq!(wrong.stdout, "");
    let lines: Vec<&str> = wrong.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", wrong.stderr);
    assert!(lines[0].starts_with("ringmq: warning: PLAIN"), "{lines:?}");
    assert_eq!(lines[1], "ringmq: no reply arrived within 1s");
    assert!(!wrong.stderr.contains("open barley"));

    let right = login("open sesame", "25");
    assert!(right.status.success(), "req: {}", right.stderr);
    assert_eq!(right.stdout, "hello\n");
    let served = server.finish();
    assert!(served.status.success(), "rep: {}", served.stderr);
    assert_eq!(served.stdout, "hello\n");
}

#[test]
fn a_z85_key_starting_with_a_dash_is_a_value() {
    // Z85's alphabet has '-': a key may start with it and must not be taken for a flag.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringmq"))
        .args([
            "req",
            "--connect",
            "tcp://127.0.0.1:9",
            "--timeout",
            "0.2",
            "--data",
            "x",
        ])
        .args([
            "--curve-serverkey",
            "-*%cul>2/kpkc.@ASEW?ZPqF0o[V($hTzaO9!N*H",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    assert_ne!(out.status.code(), Some(2), "{stderr}");
}

#[test]
fn conflicting_security_flags_fail_with_one_line() {
    let (public, secret) = keygen();
    let dir = TempDir::new("conflicts");
    let public_only = dir.path("public-only");
    std::fs::write(
        &public_only,
        format!("curve\n    public-key = \"{public}\"\n"),
    )
    .unwrap();
    let bind = ["rep", "--bind", "tcp://127.0.0.1:0", "--echo"];
    for (extra, says) in [
        (
            &[
                "--curve-server",
                "--curve-secret-key",
                &secret,
                "--plain-user",
                "u",
            ][..],
            "--curve-server cannot be used with --plain-user",
        ),
        (
            &["--curve-serverkey", &public, "--curve-server"],
            "--curve-server cannot be used with --curve-serverkey",
        ),
        (
            &[
                "--plain-server",
                "--plain-user",
                "u",
                "--plain-password",
                "p",
            ],
            "--plain-server cannot be used with --plain-user",
        ),
        (
            &["--curve-server"],
            "--curve-server needs --curve-secret-key",
        ),
        (
            &["--allow-key", &public],
            "--allow-key needs --curve-server",
        ),
        (
            &["--plain-server", "--allow-key", &public],
            "--allow-key cannot be used with --plain-server",
        ),
        (
            &[
                "--curve-server",
                "--curve-secret-key",
                &secret,
                "--allow-user",
                "a:b",
            ],
            "--allow-user cannot be used with --curve-server",
        ),
        (
            &["--plain-user", "u"],
            "--plain-user needs --plain-password",
        ),
        (
            &["--curve-serverkey", "no-such-file"],
            "--curve-serverkey \"no-such-file\" is neither a 40-character Z85 key nor an \
             existing certificate file",
        ),
        (
            &["--curve-server", "--curve-secret-key", &public_only],
            "holds no secret key",
        ),
        (
            &[
                "--curve-server",
                "--curve-secret-key",
                &secret,
                "--curve-public-key",
                &secret,
            ],
            "--curve-public-key does not belong to --curve-secret-key",
        ),
    ] {
        let args: Vec<&str> = bind.iter().chain(extra).copied().collect();
        let out = run(&args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert_one_error_line(&out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains(&secret), "{}", out.stderr);
    }
    // The same checks guard the other socket commands.
    let out = run(
        &[
            "monitor",
            "tcp://127.0.0.1:1",
            "--plain-server",
            "--curve-serverkey",
            &public,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_one_error_line(&out.stderr);
    let out = run(
        &[
            "send",
            "--type",
            "push",
            "--connect",
            "tcp://127.0.0.1:1",
            "--allow-user",
            "a:b",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("--allow-user needs --plain-server"),
        "{}",
        out.stderr
    );
}

#[test]
fn audit_fails_on_null_on_a_public_interface() {
    let dir = TempDir::new("audit");
    let exposed = dir.path("exposed.toml");
    std::fs::write(
        &exposed,
        "[[socket]]\ntype = \"router\"\nbind = [\"tcp://0.0.0.0:5555\"]\nmechanism = \"null\"\n",
    )
    .unwrap();
    let out = run(&["audit", &exposed], b"");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("[HIGH] socket 0 (router tcp://0.0.0.0:5555): NULL security"),
        "{lines:?}"
    );
    assert!(lines[0].contains(" — fix: "), "{lines:?}");
    assert_eq!(out.stderr, "ringmq: 1 finding at or above HIGH\n");

    let clean = dir.path("clean.toml");
    std::fs::write(
        &clean,
        "security_policy = \"require-curve\"\n\
         [[socket]]\n\
         type = \"router\"\n\
         bind = [\"tcp://0.0.0.0:5555\"]\n\
         mechanism = \"curve\"\n\
         curve_server = true\n\
         authorizer = true\n\
         [[socket]]\n\
         type = \"dealer\"\n\
         connect = [\"tcp://broker.example.com:5555\"]\n\
         mechanism = \"curve\"\n",
    )
    .unwrap();
    let out = run(&["audit", &clean], b"");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "no findings (2 sockets checked)\n");
    assert_eq!(out.stderr, "");

    // A finding below --fail-on is printed but passes; at or above it fails.
    let permissive = dir.path("permissive.toml");
    std::fs::write(
        &permissive,
        "[[socket]]\ntype = \"router\"\nbind = [\"tcp://0.0.0.0:5555\"]\nmechanism = \"curve\"\n\
         curve_server = true\nauthorizer = true\n",
    )
    .unwrap();
    let out = run(&["audit", &permissive], b"");
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.starts_with("[LOW] runtime: "), "{}", out.stdout);
    let out = run(&["audit", &permissive, "--fail-on", "LOW"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stderr, "ringmq: 1 finding at or above LOW\n");

    // A description that does not parse is one line, and a bad threshold a usage error.
    let typo = dir.path("typo.toml");
    std::fs::write(&typo, "[[socket]]\ntype = \"pub\"\nmechansim = \"curve\"\n").unwrap();
    let out = run(&["audit", &typo], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_one_error_line(&out.stderr);
    assert!(
        out.stderr.contains("unknown field `mechansim`"),
        "{}",
        out.stderr
    );
    let out = run(&["audit", &clean, "--fail-on", "severe"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
}
