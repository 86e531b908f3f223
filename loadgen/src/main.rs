//! `loadgen`: throughput and latency of ringmq and of libzmq, side by side in one run.
//!
//! With no arguments it runs the embedded default on loopback tcp: PUSH/PULL throughput at 16 B,
//! 1 KiB and 64 KiB, and PAIR ping-pong round-trip latency at 64 B, for ringmq. `--peer libzmq`
//! runs the same workload with libzmq on both ends; `--compare` runs both and prints the ratio
//! ringmq/libzmq per row. libzmq is loaded at run time (Debian's `libzmq5`), so loadgen builds and
//! runs its ringmq rows on machines without it.

mod libzmq_runs;
mod plot;
mod report;
mod ringmq_runs;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use report::{Report, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pattern {
    /// PUSH/PULL throughput.
    PushPull,
    /// PAIR ping-pong round-trip latency.
    PairRtt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Peer {
    /// ringmq on both ends.
    Ringmq,
    /// libzmq on both ends.
    Libzmq,
}

/// Measure ringmq (and libzmq) message rate and latency on loopback tcp.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Which workloads to run (default: the embedded set: push-pull at 16 B, 1 KiB, 64 KiB and
    /// pair-rtt at 64 B).
    #[arg(long, value_enum)]
    pattern: Vec<Pattern>,
    /// Message sizes in bytes (default per pattern: 16,1024,65536 for push-pull, 64 for pair-rtt).
    #[arg(long, value_delimiter = ',')]
    size: Vec<usize>,
    /// Messages per throughput row (default scales with size).
    #[arg(long)]
    count: Option<u64>,
    /// Round trips per latency row.
    #[arg(long, default_value_t = 20_000)]
    round_trips: u64,
    /// Cap each row at this many seconds (the count is cut short).
    #[arg(long, value_parser = parse_secs)]
    duration: Option<Duration>,
    /// Whose sockets to run on both ends.
    #[arg(long, value_enum, default_value_t = Peer::Ringmq)]
    peer: Peer,
    /// Run ringmq and libzmq on the same workload and print the ratio.
    #[arg(long)]
    compare: bool,
    /// ringmq shards (each side gets its own when there are two or more).
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// Cores to pin ringmq shards to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// ringmq busy-poll before parking, in microseconds.
    #[arg(long, default_value_t = 0)]
    busy_poll_us: u64,
    /// Use ringmq's blocking (any-thread) API instead of tasks on shards.
    #[arg(long)]
    blocking: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a report (NAME.json, NAME.md with the table and setup, NAME.svg with the ratios)
    /// under perf-reports/ (or the directory NAME names).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Tiny counts, for the test suite's smoke run.
    #[arg(long, hide = true)]
    smoke: bool,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a positive number of seconds"))
}

/// One workload row to run.
#[derive(Debug, Clone)]
pub struct Workload {
    pattern: Pattern,
    size: usize,
    count: u64,
    duration: Option<Duration>,
}

impl Workload {
    fn name(&self) -> String {
        match self.pattern {
            Pattern::PushPull => format!("push-pull {}", human_size(self.size)),
            Pattern::PairRtt => format!("pair-rtt {}", human_size(self.size)),
        }
    }
}

fn human_size(n: usize) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

fn default_count(size: usize) -> u64 {
    match size {
        0..=64 => 2_000_000,
        65..=4096 => 500_000,
        _ => 20_000,
    }
}

fn workloads(args: &Args) -> Vec<Workload> {
    let patterns = if args.pattern.is_empty() {
        vec![Pattern::PushPull, Pattern::PairRtt]
    } else {
        args.pattern.clone()
    };
    let mut out = Vec::new();
    for p in patterns {
        let sizes = match (args.size.is_empty(), p) {
            (false, _) => args.size.clone(),
            (true, Pattern::PushPull) => vec![16, 1024, 65536],
            (true, Pattern::PairRtt) => vec![64],
        };
        for size in sizes {
            let mut count = match p {
                Pattern::PushPull => args.count.unwrap_or_else(|| default_count(size)),
                Pattern::PairRtt => args.round_trips,
            };
            if args.smoke {
                count = count.min(2_000);
            }
            out.push(Workload {
                pattern: p,
                size,
                count,
                duration: args.duration,
            });
        }
    }
    out
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut peers = Vec::new();
    if args.compare || args.peer == Peer::Ringmq {
        peers.push(Peer::Ringmq);
    }
    if args.compare || args.peer == Peer::Libzmq {
        // Fail early, with the install hint, when libzmq is missing.
        ringmq_interop::libzmq::load()?;
        peers.push(Peer::Libzmq);
    }
    let ringmq_config = ringmq::Config {
        shards: args.shards,
        cores: args.cores.clone(),
        busy_poll_us: args.busy_poll_us,
        ..ringmq::Config::default()
    }
    .with_env()?;
    let mut report = Report::new(report::Setup {
        shards: ringmq_config.shards,
        cores: ringmq_config.cores.clone(),
        busy_poll_us: ringmq_config.busy_poll_us,
        api: if args.blocking { "blocking" } else { "async" }.into(),
        libzmq_version: ringmq_interop::libzmq::version()
            .ok()
            .map(|(a, b, c)| format!("{a}.{b}.{c}")),
    });
    for w in workloads(args) {
        for &peer in &peers {
            let row: Row = match peer {
                Peer::Ringmq => ringmq_runs::run(&w, &ringmq_config, args.blocking)?,
                Peer::Libzmq => libzmq_runs::run(&w)?,
            };
            report.push(row);
        }
    }
    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        eprintln!("loadgen: wrote {}", path.display());
    }
    if let Some(name) = &args.report {
        let base = if name.components().count() > 1 {
            name.clone()
        } else {
            PathBuf::from("perf-reports").join(name)
        };
        if let Some(dir) = base.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = base.with_extension("json");
        std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
        let svg = base.with_extension("svg");
        let plotted = plot::write_svg(&report, &svg)?;
        let md = base.with_extension("md");
        std::fs::write(
            &md,
            report.markdown(
                &std::env::args().collect::<Vec<_>>().join(" "),
                plotted.then_some(&svg),
            ),
        )?;
        eprintln!(
            "loadgen: wrote {}, {}{}",
            md.display(),
            json.display(),
            if plotted {
                format!(", {}", svg.display())
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
