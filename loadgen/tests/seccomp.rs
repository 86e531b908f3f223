//! loadgen where io_uring is forbidden (a seccomp filter denying the three io_uring syscalls with
//! EPERM, as Docker's default profile does): `auto` runs the rows on epoll and says so in the
//! header; `--backend io-uring` fails with a clear error.

use std::process::Command;

use ringmq_test_support::seccomp::deny_io_uring;

fn confined_loadgen(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    command.args(args).env_remove("RINGMQ_BACKEND");
    deny_io_uring(&mut command);
    command.output().expect("run loadgen")
}

#[test]
fn a_smoke_row_runs_on_epoll_under_the_filter() {
    let out = confined_loadgen(&["--smoke", "--pattern", "push-pull", "--size", "16"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("ringmq backend(s): epoll"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("push-pull 16 B") && l.contains("ringmq/epoll"))
        .unwrap_or_else(|| panic!("no epoll row in {stdout}"));
    let rate: f64 = row
        .split_whitespace()
        .nth(4)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {row:?}"));
    assert!(rate > 0.0, "{row}");
}

#[test]
fn io_uring_by_name_fails_under_the_filter() {
    let out = confined_loadgen(&[
        "--smoke",
        "--pattern",
        "push-pull",
        "--size",
        "16",
        "--backend",
        "io-uring",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("io_uring is forbidden here"), "{stderr}");
}

/// rzmq built with its io-uring feature starts no context without io_uring: the rzmq rows are
/// skipped with a reason, and the run goes on.
#[cfg(feature = "peers")]
#[test]
fn rzmq_rows_are_skipped_under_the_filter() {
    let out = confined_loadgen(&[
        "--smoke",
        "--pattern",
        "push-pull",
        "--size",
        "16",
        "--peer",
        "rzmq",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains("loadgen: no rzmq io-uring rows: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped for push-pull 16 B: rzmq and rzmq/io-uring"),
        "{stderr}"
    );
    assert!(!stdout.contains("rzmq"), "{stdout}");
}
