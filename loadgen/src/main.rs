//! `loadgen`: throughput and latency of ringmq and of libzmq, side by side in one run.
//!
//! With no arguments it runs the embedded default on loopback tcp: PUSH/PULL throughput at 16 B,
//! 1 KiB and 64 KiB, and PAIR ping-pong round-trip latency at 64 B, for ringmq. `--pattern` picks
//! other workloads (REQ/REP and DEALER/ROUTER round trips, DEALER to ROUTER throughput, or `all`)
//! and `--transport ipc` runs them over Unix domain sockets. `--peer libzmq` runs the same
//! workload with libzmq on both ends; `--compare` runs both and prints the ratio ringmq/libzmq per
//! row. libzmq is loaded at run time (Debian's `libzmq5`), so loadgen builds and runs its ringmq
//! rows on machines without it. `--api` picks the ringmq API the rows use: tasks on the shards
//! (the default), `AsyncSocket` from tokio's threads, `BlockingSocket` from plain threads, or all
//! three side by side. Built with the cargo feature `peers`, `--peer rzmq` and `--peer zmq-rs` run
//! the other Rust implementations (`peer_runs`), and `--compare` adds their rows after libzmq's.

mod libzmq_runs;
#[cfg(feature = "peers")]
mod peer_runs;
mod plot;
mod report;
mod ringmq_runs;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::{Parser, ValueEnum};

use report::Report;

/// One workload shape. Throughput patterns count messages at the binding (receiving) end;
/// round-trip patterns time a request from the connecting client until its echo comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// PUSH sends, PULL counts.
    PushPull,
    /// PAIR client, PAIR echo server.
    PairRtt,
    /// REQ client, REP echo server (each strips and adds the empty delimiter itself).
    ReqRep,
    /// DEALER sends, ROUTER counts messages of [routing id, body].
    DealerRouter,
    /// DEALER client, ROUTER echo server: receives [routing id, body] and sends it back.
    RouterDealerRtt,
}

impl Pattern {
    /// Every pattern, in the order `--pattern all` runs them.
    const ALL: [Pattern; 5] = [
        Pattern::PushPull,
        Pattern::PairRtt,
        Pattern::ReqRep,
        Pattern::DealerRouter,
        Pattern::RouterDealerRtt,
    ];

    fn name(self) -> &'static str {
        match self {
            Pattern::PushPull => "push-pull",
            Pattern::PairRtt => "pair-rtt",
            Pattern::ReqRep => "req-rep",
            Pattern::DealerRouter => "dealer-router",
            Pattern::RouterDealerRtt => "router-dealer-rtt",
        }
    }

    /// Round-trip latency (true) or one-way throughput (false).
    pub fn is_round_trip(self) -> bool {
        match self {
            Pattern::PushPull | Pattern::DealerRouter => false,
            Pattern::PairRtt | Pattern::ReqRep | Pattern::RouterDealerRtt => true,
        }
    }

    /// Frames per message at the binding end: a ROUTER sees the routing id before the body.
    pub fn server_frames(self) -> usize {
        match self {
            Pattern::DealerRouter | Pattern::RouterDealerRtt => 2,
            Pattern::PushPull | Pattern::PairRtt | Pattern::ReqRep => 1,
        }
    }

    fn default_sizes(self) -> &'static [usize] {
        match self {
            Pattern::PushPull => &[16, 1024, 65536],
            Pattern::DealerRouter => &[16, 1024],
            Pattern::PairRtt | Pattern::ReqRep | Pattern::RouterDealerRtt => &[64],
        }
    }
}

/// `--pattern` values: one pattern, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PatternArg {
    /// PUSH/PULL throughput (default sizes 16 B, 1 KiB, 64 KiB).
    PushPull,
    /// PAIR ping-pong round-trip latency (64 B).
    PairRtt,
    /// REQ/REP round-trip latency: REQ client, REP echo server (64 B).
    ReqRep,
    /// DEALER to ROUTER throughput; the ROUTER receives [routing id, body] (16 B, 1 KiB).
    DealerRouter,
    /// DEALER client, ROUTER echo server, round-trip latency (64 B).
    RouterDealerRtt,
    /// Every pattern above at its default sizes.
    All,
}

impl PatternArg {
    fn patterns(self) -> &'static [Pattern] {
        match self {
            PatternArg::PushPull => &[Pattern::PushPull],
            PatternArg::PairRtt => &[Pattern::PairRtt],
            PatternArg::ReqRep => &[Pattern::ReqRep],
            PatternArg::DealerRouter => &[Pattern::DealerRouter],
            PatternArg::RouterDealerRtt => &[Pattern::RouterDealerRtt],
            PatternArg::All => &Pattern::ALL,
        }
    }
}

/// The ringmq API a row's two ends use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `Socket` in tasks spawned on the shards (`Runtime::spawn_on`): the fast path.
    Shard,
    /// `AsyncSocket` in tasks on a tokio multi-thread runtime (application threads).
    Any,
    /// `BlockingSocket` on plain threads.
    Blocking,
}

impl Api {
    /// Every API, in the order `--api all` runs them (the reference first).
    const ALL: [Api; 3] = [Api::Shard, Api::Any, Api::Blocking];

    pub fn name(self) -> &'static str {
        match self {
            Api::Shard => "shard",
            Api::Any => "any",
            Api::Blocking => "blocking",
        }
    }
}

/// `--api` values: one API, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ApiArg {
    /// `Socket` in tasks on the shards (`Runtime::spawn_on`).
    Shard,
    /// `AsyncSocket` driven from a tokio multi-thread runtime on application threads.
    Any,
    /// `BlockingSocket` from plain threads.
    Blocking,
    /// The three above side by side, with any/shard and blocking/shard ratios.
    All,
}

impl ApiArg {
    fn apis(self) -> &'static [Api] {
        match self {
            ApiArg::Shard => &[Api::Shard],
            ApiArg::Any => &[Api::Any],
            ApiArg::Blocking => &[Api::Blocking],
            ApiArg::All => &Api::ALL,
        }
    }
}

/// The ringmq APIs to run the rows on: `--api`, else `--blocking` (its old spelling), else shard.
fn apis(args: &Args) -> &'static [Api] {
    match (args.api, args.blocking) {
        (Some(api), _) => api.apis(),
        (None, true) => &[Api::Blocking],
        (None, false) => &[Api::Shard],
    }
}

/// How the two ends of a row are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Loopback tcp, 127.0.0.1 on an ephemeral port.
    Tcp,
    /// Unix domain sockets, ipc:///tmp/loadgen-PID-N.sock (the file is removed after the row).
    Ipc,
    /// In-process: ringmq's zero-copy inproc across two shards; libzmq's inproc with both ends
    /// in one context.
    Inproc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Peer {
    /// ringmq on both ends.
    Ringmq,
    /// libzmq on both ends.
    Libzmq,
    /// rzmq on both ends: on tokio, then on its io_uring backend (cargo feature `peers`).
    #[cfg(feature = "peers")]
    Rzmq,
    /// zmq.rs (crate `zeromq`) on both ends, on tokio (cargo feature `peers`).
    #[cfg(feature = "peers")]
    #[value(name = "zmq-rs")]
    Zmqrs,
}

/// ringmq's I/O backends, as `--backend` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Auto,
    IoUring,
    Epoll,
}

impl From<BackendArg> for ringmq::Backend {
    fn from(b: BackendArg) -> ringmq::Backend {
        match b {
            BackendArg::Auto => ringmq::Backend::Auto,
            BackendArg::IoUring => ringmq::Backend::IoUring,
            BackendArg::Epoll => ringmq::Backend::Epoll,
        }
    }
}

/// The ringmq backends to run the rows on, each resolved to what will really run.
fn backends(args: &Args, from_env: ringmq::Backend) -> Result<Vec<ringmq::Backend>, ringmq::Error> {
    use ringmq::Backend;
    if let Some(b) = args.backend {
        return Ok(vec![Backend::from(b).resolve()?]);
    }
    if from_env != Backend::Auto || !args.compare {
        return Ok(vec![from_env.resolve()?]);
    }
    let mut out = Vec::new();
    match Backend::IoUring.resolve() {
        Ok(b) => out.push(b),
        Err(e) => eprintln!("loadgen: no io-uring rows: {e}"),
    }
    out.push(Backend::Epoll);
    Ok(out)
}

/// Measure ringmq (and libzmq) message rate and latency on loopback tcp or ipc.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Which workloads to run, repeatable (default: the embedded set: push-pull at 16 B, 1 KiB,
    /// 64 KiB and pair-rtt at 64 B; `all` adds req-rep, dealer-router and router-dealer-rtt).
    #[arg(long, value_enum)]
    pattern: Vec<PatternArg>,
    /// Message sizes in bytes, for every pattern (default per pattern: 16,1024,65536 for
    /// push-pull, 16,1024 for dealer-router, 64 for the round-trip patterns).
    #[arg(long, value_delimiter = ',')]
    size: Vec<usize>,
    /// Connect the two ends over loopback tcp or over ipc (Unix domain sockets under /tmp).
    /// Rows over ipc are named with a trailing "ipc".
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    transport: Transport,
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
    /// Run ringmq and libzmq (and rzmq and zmq.rs, built with the `peers` feature) on the same
    /// workload and print the ratio.
    #[arg(long)]
    compare: bool,
    /// ringmq shards (each side gets its own when there are two or more).
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// Cores to pin ringmq shards to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// ringmq's I/O backend. Default: what `auto` picks here (io-uring where it works, else
    /// epoll); with --compare and no --backend (nor RINGMQ_BACKEND), every backend that runs here.
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// ringmq busy-poll before parking, in microseconds.
    #[arg(long, default_value_t = 0)]
    busy_poll_us: u64,
    /// ringmq's adaptive spin before parking: the most, in microseconds, a shard spins for what
    /// its recent idle gaps suggest (0: off, park at once; ignored with --busy-poll-us)
    /// [default: the library's, 100].
    #[arg(long)]
    adaptive_spin_us: Option<u64>,
    /// Run every row over CURVE (both implementations), to measure the crypto's cost: compare
    /// with the same run without it.
    #[arg(long)]
    curve: bool,
    /// The ringmq API of the rows: `shard` (tasks on the shards), `any` (`AsyncSocket` from a
    /// tokio runtime's threads), `blocking` (`BlockingSocket` from plain threads), or `all` three
    /// side by side with their ratios to `shard` [default: shard].
    #[arg(long, value_enum)]
    api: Option<ApiArg>,
    /// The old spelling of `--api blocking`.
    #[arg(long, hide = true, conflicts_with = "api")]
    blocking: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a report (NAME.json, NAME.md with the table and setup, NAME.svg with the ratios)
    /// under perf-reports/ (or the directory NAME names).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Scaling runs: for each N given (e.g. `--pairs 1,2`), N independent sender/receiver pairs
    /// at once, and the rate per pair. ringmq gets N shards, each pair wholly on its own shard;
    /// libzmq gets one context (one I/O thread) per pair, each end on its own thread. Only the
    /// throughput patterns (push-pull, dealer-router) run.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..))]
    pairs: Vec<u16>,
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

/// CURVE keys for a row: the binding end is the server, the connecting end the client.
#[derive(Debug, Clone)]
pub struct CurveKeys {
    pub server: ringmq::KeyPair,
    pub client: ringmq::KeyPair,
}

impl CurveKeys {
    fn generate() -> Result<CurveKeys, ringmq::Error> {
        Ok(CurveKeys {
            server: ringmq::generate_keypair()?,
            client: ringmq::generate_keypair()?,
        })
    }

    /// ringmq options for the binding (server) end.
    pub fn server_options(keys: &Option<CurveKeys>) -> ringmq::Options {
        match keys {
            Some(k) => ringmq::Options::default().curve_server(k.server.clone()),
            None => ringmq::Options::default(),
        }
    }

    /// ringmq options for the connecting (client) end.
    pub fn client_options(keys: &Option<CurveKeys>) -> ringmq::Options {
        match keys {
            Some(k) => ringmq::Options::default().curve_client(k.client.clone(), k.server.public),
            None => ringmq::Options::default(),
        }
    }

    /// Make a libzmq socket the CURVE server.
    pub fn libzmq_server(
        keys: &Option<CurveKeys>,
        s: &ringmq_interop::libzmq::Socket,
    ) -> Result<(), ringmq_interop::ZmqError> {
        use ringmq_interop::libzmq as zmq;
        if let Some(k) = keys {
            s.set_int(zmq::ZMQ_CURVE_SERVER, 1)?;
            s.set_bytes(
                zmq::ZMQ_CURVE_SECRETKEY,
                k.server.secret.to_z85().as_bytes(),
            )?;
        }
        Ok(())
    }

    /// Make a libzmq socket a CURVE client of the server.
    pub fn libzmq_client(
        keys: &Option<CurveKeys>,
        s: &ringmq_interop::libzmq::Socket,
    ) -> Result<(), ringmq_interop::ZmqError> {
        use ringmq_interop::libzmq as zmq;
        if let Some(k) = keys {
            s.set_bytes(
                zmq::ZMQ_CURVE_SERVERKEY,
                k.server.public.to_z85().as_bytes(),
            )?;
            s.set_bytes(
                zmq::ZMQ_CURVE_PUBLICKEY,
                k.client.public.to_z85().as_bytes(),
            )?;
            s.set_bytes(
                zmq::ZMQ_CURVE_SECRETKEY,
                k.client.secret.to_z85().as_bytes(),
            )?;
        }
        Ok(())
    }
}

/// One workload row to run.
#[derive(Debug, Clone)]
pub struct Workload {
    pattern: Pattern,
    transport: Transport,
    /// Run the row over CURVE (`--curve`).
    pub curve: Option<CurveKeys>,
    size: usize,
    count: u64,
    duration: Option<Duration>,
    /// A scaling row (`--pairs`): this many independent pairs at once, each sending `count`.
    pairs: Option<usize>,
}

impl Workload {
    fn name(&self) -> String {
        let mut name = format!("{} {}", self.pattern.name(), human_size(self.size));
        match self.transport {
            Transport::Ipc => name.push_str(" ipc"),
            Transport::Inproc => name.push_str(" inproc"),
            Transport::Tcp => {}
        }
        if self.curve.is_some() {
            name.push_str(" curve");
        }
        match self.pairs {
            Some(1) => name.push_str(", 1 pair"),
            Some(n) => name.push_str(&format!(", {n} pairs")),
            None => {}
        }
        name
    }

    /// The same workload for one of its pairs (a scaling row runs `pairs` of these at once).
    fn one_pair(&self) -> Workload {
        Workload {
            pairs: None,
            ..self.clone()
        }
    }

    /// A fresh endpoint for this row's binding end. `tcp_any_port` is how the library spells an
    /// ephemeral port (ringmq: "0", libzmq: "*"); the bound endpoint the library reports is the
    /// one to connect to.
    pub fn bind_endpoint(&self, tcp_any_port: &str) -> BindEndpoint {
        match self.transport {
            Transport::Tcp => BindEndpoint {
                endpoint: format!("tcp://127.0.0.1:{tcp_any_port}"),
                ipc_path: None,
            },
            Transport::Inproc => {
                static INPROC_NAMES: AtomicU64 = AtomicU64::new(0);
                let n = INPROC_NAMES.fetch_add(1, Ordering::Relaxed);
                BindEndpoint {
                    endpoint: format!("inproc://loadgen-{n}"),
                    ipc_path: None,
                }
            }
            Transport::Ipc => {
                static IPC_SOCKETS: AtomicU64 = AtomicU64::new(0);
                let n = IPC_SOCKETS.fetch_add(1, Ordering::Relaxed);
                let path = PathBuf::from(format!("/tmp/loadgen-{}-{n}.sock", std::process::id()));
                BindEndpoint {
                    endpoint: format!("ipc://{}", path.display()),
                    ipc_path: Some(path),
                }
            }
        }
    }
}

/// Where a row's binding end listens. An ipc endpoint names a socket file under /tmp (sticky, so
/// ringmq's directory check passes), which is removed when this is dropped: both libraries remove
/// it when their listener closes, but not if a row fails half-way.
#[derive(Debug)]
pub struct BindEndpoint {
    endpoint: String,
    ipc_path: Option<PathBuf>,
}

impl BindEndpoint {
    pub fn as_str(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for BindEndpoint {
    fn drop(&mut self) {
        if let Some(path) = &self.ipc_path {
            // Already gone when the listener removed it.
            let _ = std::fs::remove_file(path);
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
    // The embedded default stays push-pull and pair-rtt so the headline numbers stay comparable
    // from run to run; the other patterns run when asked for.
    let mut patterns = Vec::new();
    let asked = if args.pattern.is_empty() {
        &[PatternArg::PushPull, PatternArg::PairRtt][..]
    } else {
        &args.pattern[..]
    };
    for p in asked.iter().flat_map(|a| a.patterns()) {
        if !patterns.contains(p) {
            patterns.push(*p);
        }
    }
    if !args.pairs.is_empty() {
        patterns.retain(|p| !p.is_round_trip());
    }
    let pairs: Vec<Option<usize>> = if args.pairs.is_empty() {
        vec![None]
    } else {
        args.pairs.iter().map(|&n| Some(usize::from(n))).collect()
    };
    let mut out = Vec::new();
    for p in patterns {
        let sizes = if args.size.is_empty() {
            p.default_sizes().to_vec()
        } else {
            args.size.clone()
        };
        for size in sizes {
            let mut count = if p.is_round_trip() {
                args.round_trips
            } else {
                args.count.unwrap_or_else(|| default_count(size))
            };
            if args.smoke {
                count = count.min(2_000);
            }
            for &pairs in &pairs {
                out.push(Workload {
                    pattern: p,
                    transport: args.transport,
                    curve: None,
                    size,
                    count,
                    duration: args.duration,
                    pairs,
                });
            }
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
    #[cfg(feature = "peers")]
    for peer in [Peer::Rzmq, Peer::Zmqrs] {
        if args.compare || args.peer == peer {
            peers.push(peer);
        }
    }
    let mut ringmq_config = ringmq::Config {
        shards: args.shards,
        cores: args.cores.clone(),
        busy_poll_us: args.busy_poll_us,
        ..ringmq::Config::default()
    };
    if let Some(us) = args.adaptive_spin_us {
        ringmq_config.adaptive_spin_us = us;
    }
    let ringmq_config = ringmq_config.with_env()?;
    let ringmq_backends = if peers.contains(&Peer::Ringmq) {
        backends(args, ringmq_config.backend)?
    } else {
        Vec::new()
    };
    let mut report = Report::new(report::Setup {
        backends: ringmq_backends
            .iter()
            .map(|b| b.name().to_owned())
            .collect(),
        shards: ringmq_config.shards,
        cores: ringmq_config.cores.clone(),
        busy_poll_us: ringmq_config.busy_poll_us,
        adaptive_spin_us: ringmq_config.adaptive_spin_us,
        api: apis(args)
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", "),
        transport: match args.transport {
            Transport::Tcp => "loopback tcp",
            Transport::Ipc => "ipc (Unix domain sockets under /tmp)",
            Transport::Inproc => "inproc (ringmq: across two shards; libzmq: one context)",
        }
        .into(),
        libzmq_version: ringmq_interop::libzmq::version()
            .ok()
            .map(|(a, b, c)| format!("{a}.{b}.{c}")),
    });
    for mut w in workloads(args) {
        if args.curve {
            w.curve = Some(CurveKeys::generate()?);
        }
        for &peer in &peers {
            match peer {
                Peer::Ringmq => {
                    for &backend in &ringmq_backends {
                        let config = ringmq::Config {
                            backend,
                            shards: w.pairs.unwrap_or(ringmq_config.shards),
                            ..ringmq_config.clone()
                        };
                        if w.pairs.is_some() {
                            report.push(report::with_cpu(|| ringmq_runs::run_pairs(&w, &config))?);
                            continue;
                        }
                        for &api in apis(args) {
                            report.push(report::with_cpu(|| ringmq_runs::run(&w, &config, api))?);
                        }
                    }
                }
                Peer::Libzmq if w.pairs.is_some() => {
                    report.push(report::with_cpu(|| libzmq_runs::run_pairs(&w))?)
                }
                Peer::Libzmq => report.push(report::with_cpu(|| libzmq_runs::run(&w))?),
                #[cfg(feature = "peers")]
                Peer::Rzmq | Peer::Zmqrs if w.pairs.is_some() => {
                    eprintln!("loadgen: no {peer:?} rows in a --pairs run (ringmq and libzmq only)")
                }
                #[cfg(feature = "peers")]
                Peer::Rzmq | Peer::Zmqrs => {
                    let libraries: &[peer_runs::Library] = match peer {
                        Peer::Rzmq => &[peer_runs::Library::Rzmq, peer_runs::Library::RzmqIoUring],
                        _ => &[peer_runs::Library::Zmqrs],
                    };
                    for library in peer_runs::runnable(&w, libraries) {
                        report.push(report::with_cpu(|| peer_runs::run(&w, library))?);
                    }
                }
            }
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
