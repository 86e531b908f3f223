//! Chaos (`stress_*`, run by `scripts/stress.sh`): the receiving process is killed with SIGKILL
//! mid-stream and restarted on the same port; the sender reconnects by itself, and nothing it
//! accepted after the new receiver is up is lost.

use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use ringmq::{BlockingSocket, Config, Message, Options, Runtime, SocketType};
use ringmq_test_support::process::{lines, wait_for_line, Running};

const LIMIT: Duration = Duration::from_secs(20);

fn receiver(endpoint: &str) -> (Running, Receiver<String>) {
    // A killed process's io_uring is torn down by the kernel after the process is reaped, and
    // the listener it held goes with it a moment later: retry the bind, as a supervisor would.
    let deadline = Instant::now() + LIMIT;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringmq"))
            .args(["recv", "--type", "pull", "--bind", endpoint])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn recv");
        let out = lines(child.stdout.take().expect("stdout"));
        let err = lines(child.stderr.take().expect("stderr"));
        let mut running = Running::new(child, "ringmq recv");
        let (bound, seen) = wait_for_line(&err, LIMIT, |l| {
            l.starts_with("ringmq: bound").then_some(())
        });
        if bound.is_some() {
            if attempts > 1 {
                println!("the restarted receiver bound at attempt {attempts}");
            }
            return (running, out);
        }
        let in_use = seen.iter().any(|l| l.contains("Address already in use"));
        assert!(
            in_use && Instant::now() < deadline,
            "recv never bound: {seen:?}"
        );
        running.wait(LIMIT);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Read numbers from `out` until `last` arrives; returns them.
fn read_until(out: &Receiver<String>, last: u64) -> Vec<u64> {
    let deadline = Instant::now() + LIMIT;
    let mut got = Vec::new();
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("the receiver fell silent");
        let line = out.recv_timeout(left).expect("the receiver fell silent");
        let n: u64 = line.trim().parse().expect("a number");
        got.push(n);
        if n == last {
            return got;
        }
    }
}

#[test]
#[ignore = "chaos: run by scripts/stress.sh"]
fn stress_a_receiver_killed_mid_stream_and_restarted() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let rt = Runtime::new(Config::default()).unwrap();
    let mut push = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Push,
        Options {
            reconnect_ivl: Duration::from_millis(20),
            ..Options::default()
        },
    )
    .unwrap();
    push.set_sndtimeo(Some(LIMIT));
    let monitor = push.monitor().unwrap();
    push.connect(&endpoint).unwrap();
    let rounds = if std::env::var("STRESS_SCALE").is_ok_and(|s| s == "small") {
        2
    } else {
        10
    };
    let batch = 2000u64;
    let mut next = 0u64;
    // Messages sent while the last receiver died: some reach the next receiver (queued in the
    // sender), some die with the process (written to its socket, unread).
    let mut in_flight: Option<std::ops::Range<u64>> = None;
    for round in 0..rounds {
        let (mut recv, out) = receiver(&endpoint);
        monitor
            .wait_for("handshake-succeeded", LIMIT)
            .expect("the sender reached the new receiver");
        // Everything sent from here on must arrive (leftovers queued from before may come first).
        let first = next;
        for _ in 0..batch {
            push.send(Message::single(next.to_string().into_bytes()))
                .unwrap();
            next += 1;
        }
        let got = read_until(&out, next - 1);
        if let Some(r) = in_flight.take() {
            let survived = got.iter().filter(|n| r.contains(n)).count() as u64;
            println!(
                "round {round}: of {} messages sent around the kill, {survived} reached the \
                 restarted receiver, {} died with the killed one",
                r.end - r.start,
                r.end - r.start - survived
            );
        }
        let after: Vec<u64> = got.into_iter().filter(|&n| n >= first).collect();
        assert_eq!(after, (first..next).collect::<Vec<_>>(), "round {round}");
        // Keep sending while the receiver dies.
        let killed_at = next;
        for _ in 0..batch {
            push.send(Message::single(next.to_string().into_bytes()))
                .unwrap();
            next += 1;
        }
        in_flight = Some(killed_at..next);
        let start = Instant::now();
        recv.child.kill().expect("SIGKILL");
        let _ = recv.child.wait();
        monitor
            .wait_for("disconnected", LIMIT)
            .expect("the sender saw the receiver go");
        println!(
            "round {round}: receiver killed with up to {} messages in flight; sender noticed in {:?}",
            next - killed_at,
            start.elapsed()
        );
    }
}
