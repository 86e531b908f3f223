//! `ringmq recv` exits promptly when its output goes away while a sender keeps sending at full
//! speed: linger covers what we still have to send, never what peers keep sending us.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use ringmq_test_support::process::{lines, wait_for_line, Running};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn recv_exits_when_its_reader_goes_away_under_a_flood() {
    let path = std::env::temp_dir().join(format!("ringmq-prompt-exit-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let endpoint = format!("ipc://{}", path.display());
    let mut recv = Command::new(env!("CARGO_BIN_EXE_ringmq"))
        .args([
            "recv", "--type", "pull", "--bind", &endpoint, "--count", "100000",
        ])
        .args(["--timeout", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn recv");
    let stdout = recv.stdout.take().expect("stdout");
    let stderr = lines(recv.stderr.take().expect("stderr"));
    let mut recv = Running::new(recv, "ringmq recv");
    let (bound, seen) = wait_for_line(&stderr, LIMIT, |l| {
        l.starts_with("ringmq: bound").then_some(())
    });
    assert!(bound.is_some(), "recv never bound: {seen:?}");

    let mut send = Command::new(env!("CARGO_BIN_EXE_ringmq"))
        .args(["send", "--type", "push", "--connect", &endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn send");
    let mut stdin = send.stdin.take().expect("stdin");
    let _send = Running::new(send, "ringmq send");
    // Feed the sender without end (until it goes away).
    let feeder = std::thread::spawn(move || {
        let line = [b'x'; 31];
        loop {
            if stdin
                .write_all(&line)
                .and_then(|_| stdin.write_all(b"\n"))
                .is_err()
            {
                break;
            }
        }
    });
    // Read a few lines of recv's output, then go away as `head` does.
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    for _ in 0..10 {
        line.clear();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "recv printed nothing"
        );
    }
    drop(reader);
    // Exits (as `head`'s writer should, quietly) instead of waiting on the sender.
    recv.wait(LIMIT);
    drop(_send);
    feeder.join().expect("feeder");
    let _ = std::fs::remove_file(&path);
}
