//! Results: one row per (workload, implementation, backend, API), printed as a table with
//! ringmq/libzmq ratios, epoll/io-uring ratios, and each API's ratio to the on-shard one.

use serde::Serialize;

/// How the run was set up.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    pub shards: usize,
    pub cores: Vec<usize>,
    pub busy_poll_us: u64,
    pub adaptive_spin_us: u64,
    /// The ringmq backends the rows ran on (`io-uring`, `epoll`).
    pub backends: Vec<String>,
    /// The ringmq APIs the rows ran on (`shard`, `any`, `blocking`), comma-separated.
    pub api: String,
    pub transport: String,
    pub libzmq_version: Option<String>,
}

/// One measured row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: String,
    pub implementation: &'static str,
    /// The I/O backend of a ringmq row (`io-uring` or `epoll`).
    pub backend: Option<&'static str>,
    /// The API of a ringmq row (`shard`, `any` or `blocking`).
    pub api: Option<&'static str>,
    pub size: usize,
    pub messages: u64,
    pub seconds: f64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    pub rtt_us_p50: Option<f64>,
    pub rtt_us_p99: Option<f64>,
    pub rtt_us_p999: Option<f64>,
    /// CPU time (user + system, every thread of the process) the whole row took, setup included,
    /// per message counted (per round trip for the round-trip patterns), in nanoseconds: a
    /// busy-polling win shows here as a cost, not as a free one. Set by [`with_cpu`].
    pub cpu_ns_per_msg: Option<f64>,
    /// A scaling row (`--pairs`): how many independent pairs ran at once (the rate is theirs
    /// together).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs: Option<usize>,
}

impl Row {
    /// The implementation as the table names it: `libzmq`, `ringmq/io-uring`, `ringmq/epoll`,
    /// followed by the API (`ringmq/epoll any`) unless it is `shard` in a run of that API alone.
    pub fn label(&self, several_apis: bool) -> String {
        let mut label = match self.backend {
            Some(b) => format!("{}/{b}", self.implementation),
            None => self.implementation.to_owned(),
        };
        if let Some(api) = self.api.filter(|&a| several_apis || a != "shard") {
            label.push(' ');
            label.push_str(api);
        }
        label
    }

    pub fn throughput(
        workload: String,
        implementation: &'static str,
        size: usize,
        messages: u64,
        seconds: f64,
    ) -> Row {
        let msgs_per_sec = messages as f64 / seconds.max(1e-9);
        Row {
            workload,
            implementation,
            backend: None,
            api: None,
            size,
            messages,
            seconds,
            msgs_per_sec,
            mb_per_sec: msgs_per_sec * size as f64 / 1e6,
            rtt_us_p50: None,
            rtt_us_p99: None,
            rtt_us_p999: None,
            cpu_ns_per_msg: None,
            pairs: None,
        }
    }

    /// A row made of the best of `rows` on each column: the highest message rate and MB/s, the
    /// lowest latencies and CPU per message (each may come from a different row).
    pub fn best_of(rows: &[&Row]) -> Row {
        let max = |f: fn(&Row) -> f64| rows.iter().map(|r| f(r)).fold(0.0, f64::max);
        let min = |f: fn(&Row) -> Option<f64>| {
            rows.iter()
                .filter_map(|r| f(r))
                .min_by(|a, b| a.total_cmp(b))
        };
        let mut best = Row::throughput(String::new(), "best", 0, 0, 1.0);
        best.msgs_per_sec = max(|r| r.msgs_per_sec);
        best.mb_per_sec = max(|r| r.mb_per_sec);
        best.rtt_us_p50 = min(|r| r.rtt_us_p50);
        best.rtt_us_p99 = min(|r| r.rtt_us_p99);
        best.rtt_us_p999 = min(|r| r.rtt_us_p999);
        best.cpu_ns_per_msg = min(|r| r.cpu_ns_per_msg);
        best
    }

    pub fn latency(
        workload: String,
        implementation: &'static str,
        size: usize,
        histogram_ns: &hdrhistogram::Histogram<u64>,
        seconds: f64,
    ) -> Row {
        let us = |q: f64| histogram_ns.value_at_quantile(q) as f64 / 1000.0;
        let messages = histogram_ns.len();
        let mut row = Row::throughput(workload, implementation, size, messages, seconds);
        row.rtt_us_p50 = Some(us(0.5));
        row.rtt_us_p99 = Some(us(0.99));
        row.rtt_us_p999 = Some(us(0.999));
        row
    }
}

/// CPU time this process has used so far, user and system, over all its threads.
pub fn process_cpu_time() -> std::time::Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a writable `rusage` that outlives the call; RUSAGE_SELF is always a valid
    // `who`, so the call can only fill the struct (an all-zero `rusage` is valid if it did not).
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec as u64)
            + std::time::Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs one row and sets its CPU time per message from the process's CPU time before and after.
pub fn with_cpu<E>(run: impl FnOnce() -> Result<Row, E>) -> Result<Row, E> {
    let before = process_cpu_time();
    let mut row = run()?;
    let used = process_cpu_time().saturating_sub(before);
    row.cpu_ns_per_msg = Some(used.as_nanos() as f64 / row.messages.max(1) as f64);
    Ok(row)
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub setup: Setup,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn new(setup: Setup) -> Report {
        Report {
            setup,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The rows of each workload, in order (rows of one workload are consecutive).
    pub fn groups(&self) -> Vec<&[Row]> {
        self.rows
            .chunk_by(|a, b| a.workload == b.workload)
            .collect()
    }

    /// Whether the ringmq rows ran on more than one API (`--api all`).
    pub fn several_apis(&self) -> bool {
        let mut apis = self.rows.iter().filter_map(|r| r.api);
        apis.next()
            .is_some_and(|first| apis.any(|other| other != first))
    }

    /// The ringmq rows of one workload, each with what tells it apart from the others there:
    /// its backend when several ran, its API when several ran (`""` when it is alone).
    pub fn ringmq_variants<'a>(&self, group: &'a [Row]) -> Vec<(&'a Row, String)> {
        let ringmq: Vec<&Row> = group
            .iter()
            .filter(|r| r.implementation == "ringmq")
            .collect();
        let several_backends = ringmq.iter().any(|r| r.backend != ringmq[0].backend);
        let several_apis = self.several_apis();
        ringmq
            .into_iter()
            .map(|r| {
                let parts = [
                    r.backend.filter(|_| several_backends),
                    r.api.filter(|_| several_apis),
                ];
                let variant = parts.into_iter().flatten().collect::<Vec<_>>().join(" ");
                (r, variant)
            })
            .collect()
    }

    /// The table, with ratio lines after each workload: every ringmq row against libzmq, epoll
    /// against io_uring when both ran, and each API against `shard` when several ran.
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "-".to_owned(),
        };
        let with = |name: &str, variant: &str| {
            if variant.is_empty() {
                name.to_owned()
            } else {
                format!("{name} {variant}")
            }
        };
        let ratio_line = |name: String, a: &Row, b: &Row| -> [String; 8] {
            [
                String::new(),
                name,
                ratio(Some(a.msgs_per_sec), Some(b.msgs_per_sec)),
                ratio(Some(a.mb_per_sec), Some(b.mb_per_sec)),
                ratio(a.rtt_us_p50, b.rtt_us_p50),
                ratio(a.rtt_us_p99, b.rtt_us_p99),
                ratio(a.rtt_us_p999, b.rtt_us_p999),
                ratio(a.cpu_ns_per_msg, b.cpu_ns_per_msg),
            ]
        };
        let several_apis = self.several_apis();
        let mut lines: Vec<[String; 8]> = vec![[
            "workload",
            "impl",
            "msgs/s",
            "MB/s",
            "p50 us",
            "p99 us",
            "p99.9 us",
            "CPU ns/msg",
        ]
        .map(str::to_owned)];
        for group in self.groups() {
            for r in group {
                lines.push([
                    r.workload.clone(),
                    r.label(several_apis),
                    format!("{:.0}", r.msgs_per_sec),
                    format!("{:.1}", r.mb_per_sec),
                    opt(r.rtt_us_p50),
                    opt(r.rtt_us_p99),
                    opt(r.rtt_us_p999),
                    r.cpu_ns_per_msg
                        .map_or("-".to_owned(), |v| format!("{v:.0}")),
                ]);
            }
            let ringmq = self.ringmq_variants(group);
            if let Some(z) = group.iter().find(|r| r.implementation == "libzmq") {
                for (r, variant) in &ringmq {
                    lines.push(ratio_line(with("ratio", variant), r, z));
                }
            }
            // Against the best of every other implementation, metric by metric, once there is
            // more than libzmq to beat.
            let others: Vec<&Row> = group
                .iter()
                .filter(|r| r.implementation != "ringmq")
                .collect();
            if others.iter().any(|r| r.implementation != "libzmq") {
                let best = Row::best_of(&others);
                for (r, variant) in &ringmq {
                    lines.push(ratio_line(with("vs best peer", variant), r, &best));
                }
            }
            let find = |backend: Option<&str>, api: Option<&str>| {
                ringmq
                    .iter()
                    .map(|(r, _)| *r)
                    .find(|r| r.backend == backend && r.api == api)
            };
            let mut apis: Vec<Option<&str>> = Vec::new();
            for (r, _) in &ringmq {
                if !apis.contains(&r.api) {
                    apis.push(r.api);
                }
            }
            for &api in &apis {
                if let (Some(u), Some(e)) = (find(Some("io-uring"), api), find(Some("epoll"), api))
                {
                    let variant = api.filter(|_| several_apis).unwrap_or("");
                    lines.push(ratio_line(with("epoll/io-uring", variant), e, u));
                }
            }
            // Each API against the on-shard one on the same backend (named when several ran).
            let several_backends = ringmq.iter().any(|(r, _)| r.backend != ringmq[0].0.backend);
            for (r, _) in &ringmq {
                let Some(api) = r.api.filter(|&a| a != "shard") else {
                    continue;
                };
                if let Some(shard) = find(r.backend, Some("shard")) {
                    let variant = r.backend.filter(|_| several_backends).unwrap_or("");
                    lines.push(ratio_line(with(&format!("{api}/shard"), variant), r, shard));
                }
            }
        }
        // Wide enough for the longest name ("router-dealer-rtt 64 KiB ipc", "ringmq/io-uring").
        let width = lines.iter().map(|l| l[0].len()).max().unwrap_or(0).max(18);
        let impl_width = lines.iter().map(|l| l[1].len()).max().unwrap_or(0).max(15);
        let mut out = format!(
            "ringmq backend(s): {}\n",
            if self.setup.backends.is_empty() {
                "-".to_owned()
            } else {
                self.setup.backends.join(", ")
            }
        );
        for [workload, implementation, msgs, mb, p50, p99, p999, cpu] in &lines {
            out.push_str(&format!(
                "{workload:<width$} {implementation:<impl_width$} {msgs:>12} {mb:>10} {p50:>10} {p99:>10} {p999:>10} {cpu:>10}\n"
            ));
        }
        if self.rows.iter().any(|r| r.implementation == "libzmq")
            && self.rows.iter().any(|r| r.implementation == "ringmq")
        {
            out.push_str("ratio = ringmq / libzmq: above 1 is better for msgs/s and MB/s, below 1 is better for RTT and CPU\n");
        }
        if self.rows.iter().any(|r| r.implementation == "ringmq")
            && self
                .rows
                .iter()
                .any(|r| !matches!(r.implementation, "ringmq" | "libzmq"))
        {
            out.push_str("vs best peer = ringmq / the best other implementation on each column (highest rate, lowest RTT and CPU)\n");
        }
        if several_apis {
            out.push_str(
                "any/shard, blocking/shard = that API / tasks on the shards, read the same way\n",
            );
        }
        out.push_str(&self.scaling(several_apis));
        out
    }

    /// For the scaling rows (`--pairs`): each implementation's rate per pair at each number of
    /// pairs, and its ratio to the rate of one pair (1.00x: flat, every pair as fast as one alone).
    pub fn scaling(&self, several_apis: bool) -> String {
        // (workload without the pairs, implementation, [(pairs, rate per pair)]).
        type Series = (String, String, Vec<(usize, f64)>);
        let mut series: Vec<Series> = Vec::new();
        for r in &self.rows {
            let Some(pairs) = r.pairs else { continue };
            let base = r
                .workload
                .rsplit_once(", ")
                .map_or(r.workload.as_str(), |(base, _)| base)
                .to_owned();
            let label = r.label(several_apis);
            let per_pair = r.msgs_per_sec / pairs as f64;
            match series
                .iter_mut()
                .find(|(b, l, _)| *b == base && *l == label)
            {
                Some((_, _, points)) => points.push((pairs, per_pair)),
                None => series.push((base, label, vec![(pairs, per_pair)])),
            }
        }
        let mut out = String::new();
        for (base, label, points) in &series {
            let one = points.iter().find(|(n, _)| *n == 1).map(|&(_, rate)| rate);
            let cells: Vec<String> = points
                .iter()
                .map(|&(n, rate)| {
                    let ratio = one.map_or(String::new(), |one| format!(" ({:.2}x)", rate / one));
                    format!("{n}: {:.2} M{ratio}", rate / 1e6)
                })
                .collect();
            out.push_str(&format!(
                "scaling {base} {label}: msgs/s per pair at N pairs: {}\n",
                cells.join(", ")
            ));
        }
        out
    }
}

impl Report {
    /// A Markdown page: the command, the machine, the setup, the table and the plot.
    pub fn markdown(&self, command: &str, svg: Option<&std::path::PathBuf>) -> String {
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut out = String::new();
        out.push_str("# loadgen report\n\n");
        out.push_str(&format!("- command: `{command}`\n- commit: `{commit}`\n"));
        out.push_str(&format!(
            "- machine: {cores} cores, {cpu}, Linux {}\n",
            kernel.trim()
        ));
        out.push_str(&format!(
            "- transport: {}\n- ringmq: {} backend, {} shard(s), cores {:?}, busy-poll {} us, adaptive spin up to {} us, API {}; libzmq {}\n\n",
            self.setup.transport,
            self.setup.backends.join(" and "),
            self.setup.shards,
            self.setup.cores,
            self.setup.busy_poll_us,
            self.setup.adaptive_spin_us,
            self.setup.api,
            self.setup.libzmq_version.as_deref().unwrap_or("not loaded")
        ));
        out.push_str("```\n");
        out.push_str(&self.table());
        out.push_str("```\n");
        if let Some(svg) = svg.and_then(|p| p.file_name()) {
            out.push_str(&format!(
                "\n![ringmq / libzmq]({})\n",
                svg.to_string_lossy()
            ));
        }
        out
    }
}

/// A progress bar for one row; drawn only on a terminal, and only once a row has run for a couple
/// of seconds (short rows finish before it would appear).
pub fn progress(label: &str, total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::hidden(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_owned());
    let shown = bar.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        if !shown.is_finished() {
            shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    });
    bar
}
