//! loadgen's `--api` rows in smoke mode, so that none of them can rot: each run exits 0, and its
//! JSON holds a ringmq row per workload, recorded with the API asked for, that counted messages.

use std::path::PathBuf;
use std::process::Command;

/// Runs loadgen with `args` plus `--smoke --json FILE` and returns its stdout and its JSON.
fn smoke(name: &str, args: &[&str]) -> (String, serde_json::Value) {
    let json: PathBuf = [env!("CARGO_TARGET_TMPDIR"), &format!("loadgen-{name}.json")]
        .iter()
        .collect();
    let _ = std::fs::remove_file(&json);
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--smoke")
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let text = std::fs::read_to_string(&json).expect("loadgen wrote its JSON");
    (stdout, serde_json::from_str(&text).expect("valid JSON"))
}

/// The ringmq rows of `workload` run on `api`.
fn rows<'a>(
    report: &'a serde_json::Value,
    workload: &str,
    api: &str,
) -> Vec<&'a serde_json::Value> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["workload"] == workload && r["implementation"] == "ringmq" && r["api"] == api)
        .collect()
}

/// Every workload of this run has a ringmq row on `api` with messages counted.
fn assert_counted(report: &serde_json::Value, api: &str, workloads: &[&str]) {
    for workload in workloads {
        let found = rows(report, workload, api);
        assert_eq!(found.len(), 1, "one {api} row for {workload}: {report:#}");
        let messages = found[0]["messages"].as_u64().expect("messages");
        assert!(
            messages > 0,
            "{workload} on {api} counted nothing: {report:#}"
        );
    }
}

/// One throughput and two round-trip patterns at 16 B: push-pull, req-rep, router-dealer-rtt.
const PATTERNS: [&str; 6] = [
    "--pattern",
    "push-pull",
    "--pattern",
    "req-rep",
    "--pattern",
    "router-dealer-rtt",
];
const WORKLOADS: [&str; 3] = ["push-pull 16 B", "req-rep 16 B", "router-dealer-rtt 16 B"];

#[test]
fn any_rows_run_on_tokio_threads() {
    let mut args = PATTERNS.to_vec();
    args.extend(["--size", "16", "--api", "any"]);
    let (stdout, report) = smoke("api-any", &args);
    assert_eq!(report["setup"]["api"], "any");
    assert_counted(&report, "any", &WORKLOADS);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("push-pull 16 B") && l.contains(" any ")),
        "the row's label names its API: {stdout}"
    );
}

#[test]
fn blocking_rows_run_on_plain_threads() {
    let mut args = PATTERNS.to_vec();
    args.extend(["--size", "16", "--api", "blocking"]);
    let (_, report) = smoke("api-blocking", &args);
    assert_eq!(report["setup"]["api"], "blocking");
    assert_counted(&report, "blocking", &WORKLOADS);
}

#[test]
fn all_runs_the_three_apis_side_by_side_with_their_ratios() {
    let (stdout, report) = smoke(
        "api-all",
        &["--pattern", "push-pull", "--size", "16", "--api", "all"],
    );
    assert_eq!(report["setup"]["api"], "shard, any, blocking");
    for api in ["shard", "any", "blocking"] {
        assert_counted(&report, api, &["push-pull 16 B"]);
    }
    for ratio in ["any/shard", "blocking/shard"] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(ratio)),
            "no {ratio} line in {stdout}"
        );
    }
}

#[test]
fn the_default_api_is_tasks_on_the_shards() {
    let (stdout, report) = smoke("api-default", &["--pattern", "push-pull", "--size", "16"]);
    assert_eq!(report["setup"]["api"], "shard");
    assert_counted(&report, "shard", &["push-pull 16 B"]);
    // The default run's labels stay as they were: no API after the backend.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("push-pull 16 B"))
        .unwrap_or_else(|| panic!("no row in {stdout}"));
    assert!(!row.contains("shard"), "{row}");
}
