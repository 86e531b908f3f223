//! The `ringmq` tool where io_uring is forbidden: under a seccomp filter that denies the three
//! io_uring syscalls with EPERM, as Docker's and containerd's default profiles do. `auto` falls
//! back to epoll and messages flow, to another `ringmq` and to libzmq; asking for io_uring by name
//! fails with a clear one-line error.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use ringmq_interop::libzmq;
use ringmq_test_support::process::{lines, read_all, wait_for_line, Running};
use ringmq_test_support::seccomp::deny_io_uring;

const LIMIT: Duration = Duration::from_secs(30);
const MESSAGES: usize = 200;

/// `ringmq ARGS` under the filter, with `auto` left to decide (whatever the suite's own
/// RINGMQ_BACKEND pass says).
fn confined(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringmq"));
    command.args(args).env_remove("RINGMQ_BACKEND");
    deny_io_uring(&mut command);
    command
}

/// Start a confined, verbose `ringmq recv` bound on tcp; returns it, its endpoint, its stdout
/// reader, and the stderr lines seen up to the bind.
fn confined_receiver(
    count: usize,
) -> (
    Running,
    String,
    std::thread::JoinHandle<Vec<u8>>,
    Vec<String>,
) {
    let count = count.to_string();
    let mut child = confined(&[
        "-v",
        "recv",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:0",
        "--count",
        &count,
        "--timeout",
        "20",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn ringmq recv");
    let stdout = read_all(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    let running = Running::new(child, "ringmq recv (confined)");
    let (endpoint, seen) = wait_for_line(&stderr, LIMIT, |l| {
        l.strip_prefix("ringmq: bound ").map(str::to_owned)
    });
    let endpoint = endpoint.unwrap_or_else(|| panic!("recv never bound; stderr: {seen:?}"));
    (running, endpoint, stdout, seen)
}

/// Start a confined `ringmq send` to `endpoint` (with `extra` flags first) and feed it the
/// numbered lines; returns it and its stderr reader.
fn confined_sender(extra: &[&str], endpoint: &str) -> (Running, std::thread::JoinHandle<Vec<u8>>) {
    let mut args = extra.to_vec();
    args.extend(["send", "--type", "push", "--connect", endpoint]);
    let mut send = confined(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringmq send");
    let stderr = read_all(send.stderr.take().expect("stderr"));
    send.stdin
        .take()
        .expect("stdin")
        .write_all(numbered_lines().as_bytes())
        .expect("write lines");
    (Running::new(send, "ringmq send (confined)"), stderr)
}

fn numbered_lines() -> String {
    (0..MESSAGES).map(|i| format!("message {i}\n")).collect()
}

#[test]
fn auto_falls_back_to_epoll_and_ringmq_to_ringmq_flows() {
    let (mut recv, endpoint, stdout, stderr_seen) = confined_receiver(MESSAGES);
    let said = stderr_seen.join("\n");
    assert!(
        said.contains("io_uring unavailable"),
        "the fallback is logged once: {said}"
    );
    assert!(
        said.contains("io_uring_setup, io_uring_enter and io_uring_register"),
        "{said}"
    );
    assert!(said.contains("backend epoll"), "{said}");

    let (mut send, send_err) = confined_sender(&[], &endpoint);
    let sent = send.wait(LIMIT);
    let send_err = String::from_utf8_lossy(&send_err.join().expect("stderr")).into_owned();
    assert!(sent.success(), "send failed: {send_err}");
    assert!(recv.wait(LIMIT).success());
    let got = String::from_utf8(stdout.join().expect("stdout")).expect("utf-8");
    assert_eq!(got, numbered_lines(), "every message, in order");
}

#[test]
fn auto_falls_back_to_epoll_and_talks_to_libzmq_both_ways() {
    let ctx = libzmq::Context::new().expect("libzmq context");

    // libzmq PUSH -> confined ringmq PULL.
    let (mut recv, endpoint, stdout, _) = confined_receiver(MESSAGES);
    let push = ctx.socket(libzmq::PUSH).expect("push");
    push.connect(&endpoint).expect("connect");
    for i in 0..MESSAGES {
        push.send(format!("message {i}").as_bytes(), 0)
            .expect("send");
    }
    assert!(recv.wait(LIMIT).success());
    let got = String::from_utf8(stdout.join().expect("stdout")).expect("utf-8");
    assert_eq!(got, numbered_lines());
    drop(push);

    // confined ringmq PUSH -> libzmq PULL.
    let pull = ctx.socket(libzmq::PULL).expect("pull");
    pull.set_rcvtimeo(Duration::from_secs(20))
        .expect("rcvtimeo");
    pull.bind("tcp://127.0.0.1:0").expect("bind");
    let endpoint = pull.last_endpoint().expect("endpoint");
    let (mut send, send_err) = confined_sender(&["-v"], &endpoint);
    for i in 0..MESSAGES {
        let msg = pull.recv(0).expect("a message within the timeout");
        assert_eq!(msg, format!("message {i}").as_bytes());
    }
    assert!(send.wait(LIMIT).success());
    let said = String::from_utf8_lossy(&send_err.join().expect("stderr")).into_owned();
    assert!(said.contains("backend epoll"), "{said}");
}

#[test]
fn io_uring_asked_for_by_name_fails_clearly_under_the_filter() {
    let mut command = confined(&[
        "recv",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:0",
        "--timeout",
        "5",
    ]);
    command.env("RINGMQ_BACKEND", "io-uring");
    let out = command.output().expect("run ringmq");
    assert!(!out.status.success(), "must not start without io_uring");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("ringmq: "), "{stderr}");
    assert!(stderr.contains("io_uring is forbidden here"), "{stderr}");
}
