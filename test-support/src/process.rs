//! Child processes with bounded waits: a process still running at its deadline is killed and the
//! test fails; a guard that drops (a failed assertion) kills and reaps its process.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running child, killed and reaped when dropped.
pub struct Running {
    pub child: Child,
    pub what: String,
}

impl Running {
    pub fn new(child: Child, what: impl Into<String>) -> Running {
        Running {
            child,
            what: what.into(),
        }
    }

    /// Wait for the process to exit, at most `limit`; kills it and panics past that.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("`{}` still running after {limit:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read all of `from` on a thread of its own (so a full pipe never blocks the child).
pub fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = from.read_to_end(&mut out);
        out
    })
}

/// Lines of `from`, forwarded through a channel as they come, so a test can wait for one with a
/// deadline.
pub fn lines(from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait (at most `limit`) for a line that `pick` accepts; returns what it returned, and every
/// line seen on the way.
pub fn wait_for_line<T>(
    lines: &mpsc::Receiver<String>,
    limit: Duration,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> (Option<T>, Vec<String>) {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let picked = pick(&line);
                seen.push(line);
                if picked.is_some() {
                    return (picked, seen);
                }
            }
            Err(_) => break,
        }
    }
    (None, seen)
}
