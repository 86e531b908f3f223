//! The other Rust ZeroMQ implementations as peers (cargo feature `peers`): rzmq 0.5 on plain tokio
//! and on its io_uring backend, and zmq.rs (crate `zeromq`) 0.7 on tokio. Each is measured the way
//! `libzmq_runs` measures libzmq: the binding end receives and counts (throughput) or echoes
//! (round trips), the clock starts at the first message received (after the warm-up round trips),
//! every message is checked for its frame count and body size, and a throughput sender stays
//! connected until its receiver has counted everything.
//!
//! Every row gets a fresh tokio multi-thread runtime (the default worker count), both ends run as
//! tasks on it, and the runtime is shut down at the end of the row. A row during which nothing
//! arrives for [`STALL`] fails instead of hanging.
//!
//! What runs:
//! - rzmq has no PAIR socket (no pair-rtt rows), and no security mechanism on inproc (no inproc
//!   rows with `--curve`). Its io_uring sessions carry tcp and ipc connections, so `rzmq/io-uring`
//!   has no inproc rows (they would repeat the `rzmq` row). Built with its io-uring feature,
//!   rzmq starts no context at all where io_uring cannot start: then no rzmq rows run.
//! - zmq.rs has no PAIR socket, no inproc transport and only the NULL mechanism (no `--curve`).
//!
//! rzmq runs in the configuration its documentation gives its best figures with: the adaptive
//! I/O throttle off and, on io_uring, multishot receives plus zero-copy sends for messages at or
//! above its zero-copy threshold. Not TCP_CORK, which its figures also use: rzmq corks a
//! PUSH/PULL connection for good and uncorks it only on close, so the kernel holds the last
//! partial segment of a row for its 200 ms cork timeout while the sender waits, connected, for
//! the receiver to count it (the smoke rows ran at 2000 messages per 0.2 s). Over tcp and ipc
//! DEALER and ROUTER turn off rzmq's automatic delimiter (`AUTO_DELIMITER`), so the wire carries
//! libzmq's framing, as in every other row: a DEALER sends [body] and its ROUTER receives
//! [routing id, body]. zmq.rs has no tuning options beyond its receive buffer sizing, which stays
//! at its defaults.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringmq::Bytes;

use crate::report::Row;
use crate::{Pattern, Transport, Workload};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WARMUP_ROUND_TRIPS: u64 = 200;

/// A row fails when nothing arrives for this long (setup included).
const STALL: Duration = Duration::from_secs(30);

/// How long an rzmq context may take to close its sockets at the end of a row, and the runtime to
/// stop what is left.
const TEARDOWN: Duration = Duration::from_secs(10);

/// rzmq's default `IO_URING_ZC_SEND_THRESHOLD` (API_REFERENCE.md): smaller messages are copied
/// even with zero-copy on. Below it the option only costs: it caps rzmq's send batches at 64 KiB.
const RZMQ_ZERO_COPY_FROM: usize = 16 * 1024;

/// One peer implementation's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    /// rzmq on a tokio multi-thread runtime.
    Rzmq,
    /// rzmq with its sessions on its io_uring backend.
    RzmqIoUring,
    /// zmq.rs on a tokio multi-thread runtime.
    Zmqrs,
}

impl Library {
    /// The row's label, as `Row::label` prints it.
    fn label(self) -> &'static str {
        match self {
            Library::Rzmq => "rzmq",
            Library::RzmqIoUring => "rzmq/io-uring",
            Library::Zmqrs => "zmq.rs",
        }
    }

    fn implementation(self) -> &'static str {
        match self {
            Library::Rzmq | Library::RzmqIoUring => "rzmq",
            Library::Zmqrs => "zmq.rs",
        }
    }

    fn backend(self) -> Option<&'static str> {
        match self {
            Library::RzmqIoUring => Some("io-uring"),
            Library::Rzmq | Library::Zmqrs => None,
        }
    }

    /// Why this library has no row for `w`; `None` when it has one.
    fn unsupported(self, w: &Workload) -> Option<&'static str> {
        let rzmq = matches!(self, Library::Rzmq | Library::RzmqIoUring);
        // With its io-uring feature, every rzmq context needs the backend running.
        if rzmq && uring_backend().is_err() {
            return Some("rzmq built with its io-uring feature starts no context without io_uring");
        }
        Some(match (self, w.pattern, w.transport) {
            (Library::Rzmq | Library::RzmqIoUring, Pattern::PairRtt, _) => {
                "rzmq has no PAIR socket"
            }
            (Library::Zmqrs, Pattern::PairRtt, _) => "zmq.rs has no PAIR socket",
            (Library::Zmqrs, _, Transport::Inproc) => "zmq.rs has no inproc transport",
            (Library::RzmqIoUring, _, Transport::Inproc) => {
                "rzmq's io_uring carries tcp and ipc connections, not inproc"
            }
            (Library::Rzmq, _, Transport::Inproc) if w.curve.is_some() => {
                "rzmq's inproc has no security mechanism"
            }
            (Library::Zmqrs, _, _) if w.curve.is_some() => "zmq.rs has no CURVE",
            _ => return None,
        })
    }
}

/// The libraries of `libraries` that have a row for `w`. Prints one line to stderr naming those
/// that have none and why.
pub fn runnable(w: &Workload, libraries: &[Library]) -> Vec<Library> {
    let mut runnable = Vec::new();
    // (reason, labels), in the order first met.
    let mut skipped: Vec<(&str, Vec<&str>)> = Vec::new();
    for &library in libraries {
        match library.unsupported(w) {
            None => runnable.push(library),
            Some(reason) => match skipped.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, labels)) => labels.push(library.label()),
                None => skipped.push((reason, vec![library.label()])),
            },
        }
    }
    if !skipped.is_empty() {
        let parts: Vec<String> = skipped
            .iter()
            .map(|(reason, labels)| format!("{} ({reason})", labels.join(" and ")))
            .collect();
        eprintln!("loadgen: skipped for {}: {}", w.name(), parts.join("; "));
    }
    runnable
}

/// Starts rzmq's io_uring backend the first time it is asked for, with the configuration of its
/// documented best figures (multishot receives, a zero-copy send pool), and says whether it runs.
/// It must start before the first rzmq context: a context started first would start it with the
/// defaults. It is process-wide, and stays up for the rest of the run.
fn uring_backend() -> &'static Result<(), String> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    STARTED.get_or_init(|| {
        let config = rzmq::uring::UringConfig {
            default_recv_multishot: true,
            default_send_zerocopy: true,
            ..rzmq::uring::UringConfig::default()
        };
        rzmq::uring::initialize_uring_backend(config).map_err(|e| {
            eprintln!("loadgen: no rzmq io-uring rows: {e}");
            e.to_string()
        })
    })
}

/// Runs one row of `library`, which must be one that [`runnable`] returned for `w`.
pub fn run(w: &Workload, library: Library) -> Result<Row, Box<dyn std::error::Error>> {
    // Declared first so that an ipc socket file outlives the sockets bound to it.
    let bind = w.bind_endpoint("0");
    let progress = crate::report::progress(&format!("{} {}", library.label(), w.name()), w.count);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let measured = runtime.block_on(async {
        match library {
            Library::Rzmq => rzmq_row(w, bind.as_str(), false, &progress).await,
            Library::RzmqIoUring => rzmq_row(w, bind.as_str(), true, &progress).await,
            Library::Zmqrs => zmqrs_row(w, bind.as_str(), &progress).await,
        }
    });
    // Whatever a failed row left running stops with its runtime.
    runtime.shutdown_timeout(TEARDOWN);
    progress.finish_and_clear();
    let measured = measured.map_err(|e| -> Box<dyn std::error::Error> {
        format!("{}: {e}", library.label()).into()
    })?;
    let mut row = match measured {
        Measured::Throughput { messages, elapsed } => Row::throughput(
            w.name(),
            library.implementation(),
            w.size,
            messages,
            elapsed.as_secs_f64(),
        ),
        Measured::Latency { histogram, seconds } => Row::latency(
            w.name(),
            library.implementation(),
            w.size,
            &histogram,
            seconds,
        ),
    };
    row.backend = library.backend();
    Ok(row)
}

enum Measured {
    /// Messages counted after the first, and the time from the first to the last.
    Throughput { messages: u64, elapsed: Duration },
    /// Round-trip times in nanoseconds, and the seconds the measured round trips took.
    Latency {
        histogram: Histogram<u64>,
        seconds: f64,
    },
}

/// One end of a row in one library: the library's socket behind the three things a row does.
trait PeerSocket: Send + 'static {
    /// A received message, as the library hands it over (to be sent back by an echo server).
    type Message: Send;

    /// Sends `body` as a one-frame message.
    fn send_body(&mut self, body: &Bytes) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Receives one message and checks that it has `frames` frames, the last `size` bytes long.
    fn recv_checked(
        &mut self,
        frames: usize,
        size: usize,
    ) -> impl Future<Output = Result<Self::Message, BoxError>> + Send;

    /// Sends a received message back as it came.
    fn send_back(
        &mut self,
        message: Self::Message,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

fn shape_error(frames: &[usize], expected_frames: usize, size: usize) -> BoxError {
    format!(
        "received a message of {} frame(s) ({frames:?} bytes), expected {expected_frames} ending with {size} bytes",
        frames.len()
    )
    .into()
}

/// Runs the row's measurement on two connected ends: `server` bound, `client` connected.
async fn measure<S: PeerSocket>(
    w: &Workload,
    server: S,
    client: S,
    progress: &indicatif::ProgressBar,
) -> Result<Measured, BoxError> {
    if w.pattern.is_round_trip() {
        latency(w, server, client, progress.clone()).await
    } else {
        throughput(w, server, client, progress.clone()).await
    }
}

/// Messages the measuring end has received so far, watched for a stall.
type Heard = Arc<AtomicU64>;

/// Returns once nothing has been heard for [`STALL`].
async fn stalled(heard: &AtomicU64) -> BoxError {
    let mut last = heard.load(Ordering::Relaxed);
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = heard.load(Ordering::Relaxed);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= STALL {
            return format!(
                "nothing received for {} s, after {now} message(s)",
                STALL.as_secs()
            )
            .into();
        }
    }
}

/// The result of a row's task; a task that panicked or was cancelled fails the row.
async fn joined<T>(task: &mut tokio::task::JoinHandle<Result<T, BoxError>>) -> Result<T, BoxError> {
    (&mut *task).await?
}

async fn throughput<S: PeerSocket>(
    w: &Workload,
    mut receiver: S,
    mut sender: S,
    progress: indicatif::ProgressBar,
) -> Result<Measured, BoxError> {
    let count = w.count;
    let size = w.size;
    let frames = w.pattern.server_frames();
    let cap = w.duration;
    let heard = Heard::default();
    let heard_rx = heard.clone();
    let mut receiving = tokio::spawn(async move {
        receiver.recv_checked(frames, size).await?;
        let start = Instant::now();
        let mut received = 1u64;
        heard_rx.store(received, Ordering::Relaxed);
        while received < count {
            receiver.recv_checked(frames, size).await?;
            received += 1;
            heard_rx.store(received, Ordering::Relaxed);
            if received.is_multiple_of(65_536) {
                progress.set_position(received);
                if cap.is_some_and(|c| start.elapsed() >= c) {
                    break;
                }
            }
        }
        Ok::<_, BoxError>(Measured::Throughput {
            messages: received - 1,
            elapsed: start.elapsed(),
        })
    });
    let mut sending = tokio::spawn(async move {
        let payload = Bytes::from(vec![0x5a; size]);
        for _ in 0..count {
            sender.send_body(&payload).await?;
        }
        // Stay connected until the receiver has counted everything: this task is aborted
        // then (and sooner when a row cut short by --duration leaves it blocked at its HWM).
        std::future::pending::<Result<(), BoxError>>().await
    });
    let measured = tokio::select! {
        counted = joined(&mut receiving) => counted,
        sent = joined(&mut sending) => Err(sent.err().unwrap_or_else(|| "the sender stopped".into())),
        stall = stalled(&heard) => Err(stall),
    };
    sending.abort();
    receiving.abort();
    measured
}

/// The echo server: sends back every message it receives, until it fails or is aborted.
async fn echo<S: PeerSocket>(mut server: S, frames: usize, size: usize) -> Result<(), BoxError> {
    loop {
        let message = server.recv_checked(frames, size).await?;
        server.send_back(message).await?;
    }
}

async fn latency<S: PeerSocket>(
    w: &Workload,
    server: S,
    mut client: S,
    progress: indicatif::ProgressBar,
) -> Result<Measured, BoxError> {
    let total = w.count + WARMUP_ROUND_TRIPS;
    let size = w.size;
    let frames = w.pattern.server_frames();
    let cap = w.duration;
    let heard = Heard::default();
    let heard_rx = heard.clone();
    let mut echoing = tokio::spawn(echo(server, frames, size));
    let mut timing = tokio::spawn(async move {
        let payload = Bytes::from(vec![0x5a; size]);
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
        let start = Instant::now();
        let mut measured_from = start;
        for i in 0..total {
            if i == WARMUP_ROUND_TRIPS {
                measured_from = Instant::now();
            }
            let t0 = Instant::now();
            client.send_body(&payload).await?;
            client.recv_checked(1, size).await?;
            heard_rx.store(i + 1, Ordering::Relaxed);
            if i >= WARMUP_ROUND_TRIPS {
                histogram.record(t0.elapsed().as_nanos() as u64)?;
                if i.is_multiple_of(1024) {
                    progress.set_position(i - WARMUP_ROUND_TRIPS);
                }
                if cap.is_some_and(|c| start.elapsed() >= c) {
                    break;
                }
            }
        }
        Ok::<_, BoxError>(Measured::Latency {
            histogram,
            seconds: measured_from.elapsed().as_secs_f64(),
        })
    });
    let measured = tokio::select! {
        timed = joined(&mut timing) => timed,
        echoed = joined(&mut echoing) => Err(echoed.err().unwrap_or_else(|| "the echo server stopped".into())),
        stall = stalled(&heard) => Err(stall),
    };
    echoing.abort();
    timing.abort();
    measured
}

/// Which end of a row a socket is: the binding one (CURVE server) or the connecting one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

// --- rzmq ---------------------------------------------------------------------------------------

struct RzmqEnd(rzmq::Socket);

enum RzmqMessage {
    Body(rzmq::Msg),
    Frames(Vec<rzmq::Msg>),
}

impl PeerSocket for RzmqEnd {
    type Message = RzmqMessage;

    async fn send_body(&mut self, body: &Bytes) -> Result<(), BoxError> {
        self.0.send(rzmq::Msg::from_bytes(body.clone())).await?;
        Ok(())
    }

    async fn recv_checked(&mut self, frames: usize, size: usize) -> Result<RzmqMessage, BoxError> {
        if frames == 1 {
            // One frame: `recv` saves the Vec that `recv_multipart` would allocate.
            let message = self.0.recv().await?;
            if message.is_more() || message.size() != size {
                let mut sizes = vec![message.size()];
                if message.is_more() {
                    sizes.push(self.0.recv().await?.size());
                }
                return Err(shape_error(&sizes, frames, size));
            }
            Ok(RzmqMessage::Body(message))
        } else {
            let message = self.0.recv_multipart().await?;
            if message.len() != frames || message[frames - 1].size() != size {
                let sizes: Vec<usize> = message.iter().map(|m| m.size()).collect();
                return Err(shape_error(&sizes, frames, size));
            }
            Ok(RzmqMessage::Frames(message))
        }
    }

    async fn send_back(&mut self, message: RzmqMessage) -> Result<(), BoxError> {
        match message {
            RzmqMessage::Body(body) => self.0.send(body).await?,
            RzmqMessage::Frames(frames) => self.0.send_multipart(frames).await?,
        }
        Ok(())
    }
}

async fn rzmq_row(
    w: &Workload,
    endpoint: &str,
    io_uring: bool,
    progress: &indicatif::ProgressBar,
) -> Result<Measured, BoxError> {
    use rzmq::SocketType;
    let (server_type, client_type) = match w.pattern {
        Pattern::PushPull => (SocketType::Pull, SocketType::Push),
        Pattern::ReqRep => (SocketType::Rep, SocketType::Req),
        Pattern::DealerRouter | Pattern::RouterDealerRtt => {
            (SocketType::Router, SocketType::Dealer)
        }
        Pattern::PairRtt => return Err("rzmq has no PAIR socket".into()),
    };
    uring_backend().clone()?;
    // One context per end, as libzmq's rows have, except over inproc, which needs one.
    let mut contexts = vec![rzmq::Context::new()?];
    if w.transport != Transport::Inproc {
        contexts.push(rzmq::Context::new()?);
    }
    let (server_context, client_context) = (&contexts[0], &contexts[contexts.len() - 1]);
    let connected = tokio::time::timeout(STALL, async {
        let server = server_context.socket(server_type)?;
        rzmq_options(&server, w, io_uring, Role::Server).await?;
        server.bind(endpoint).await?;
        let bound = String::from_utf8(
            server
                .get_option(rzmq::socket::options::LAST_ENDPOINT)
                .await?,
        )?;
        let client = client_context.socket(client_type)?;
        rzmq_options(&client, w, io_uring, Role::Client).await?;
        client.connect(&bound).await?;
        Ok::<_, BoxError>((RzmqEnd(server), RzmqEnd(client)))
    })
    .await
    .unwrap_or_else(|_| {
        Err(format!("binding and connecting took over {} s", STALL.as_secs()).into())
    });
    let measured = match connected {
        Ok((server, client)) => measure(w, server, client, progress).await,
        Err(e) => Err(e),
    };
    // Close every socket (and with it its connections on the process-wide io_uring backend)
    // before the next row; LINGER 0 leaves nothing to deliver.
    let mut closed = Ok(());
    for context in &contexts {
        match tokio::time::timeout(TEARDOWN, context.term()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => closed = Err(format!("terminating its context: {e}")),
            Err(_) => {
                closed = Err(format!(
                    "its context took over {} s to terminate",
                    TEARDOWN.as_secs()
                ))
            }
        }
    }
    let measured = measured?;
    closed?;
    Ok(measured)
}

/// The options of one end of an rzmq row, set before it binds or connects.
async fn rzmq_options(
    socket: &rzmq::Socket,
    w: &Workload,
    io_uring: bool,
    role: Role,
) -> Result<(), rzmq::ZmqError> {
    use rzmq::socket::options as opt;
    // The row tears its sockets down only once everything has been received.
    socket.set_option(opt::LINGER, 0i32).await?;
    // Off, as for rzmq's own headline figures; both directions of a row are balanced anyway.
    socket.set_option(opt::ADAPTIVE_THROTTLE, 0i32).await?;
    if matches!(w.pattern, Pattern::DealerRouter | Pattern::RouterDealerRtt)
        && w.transport != Transport::Inproc
    {
        // libzmq's framing on the wire. Not over inproc, where rzmq's ROUTER hands the DEALER
        // the routing id too, and only rzmq's own framing strips it again.
        socket.set_option(opt::AUTO_DELIMITER, false).await?;
    }
    if io_uring {
        socket
            .set_option(opt::IO_URING_SESSION_ENABLED, true)
            .await?;
        socket.set_option(opt::IO_URING_RCVMULTISHOT, true).await?;
        if w.size >= RZMQ_ZERO_COPY_FROM {
            socket.set_option(opt::IO_URING_SNDZEROCOPY, true).await?;
        }
    }
    if let Some(keys) = &w.curve {
        match role {
            Role::Server => {
                socket.set_option(opt::CURVE_SERVER, true).await?;
                socket
                    .set_option(opt::CURVE_SECRET_KEY, keys.server.secret.to_z85().as_str())
                    .await?;
            }
            Role::Client => {
                socket
                    .set_option(opt::CURVE_SERVER_KEY, keys.server.public.to_z85().as_str())
                    .await?;
                socket
                    .set_option(opt::CURVE_PUBLIC_KEY, keys.client.public.to_z85().as_str())
                    .await?;
                socket
                    .set_option(opt::CURVE_SECRET_KEY, keys.client.secret.to_z85().as_str())
                    .await?;
            }
        }
    }
    Ok(())
}

// --- zmq.rs -------------------------------------------------------------------------------------

/// A zmq.rs socket of one of the types the rows use (each is its own Rust type there).
enum ZmqrsEnd {
    Pull(zeromq::PullSocket),
    Push(zeromq::PushSocket),
    Rep(zeromq::RepSocket),
    Req(zeromq::ReqSocket),
    Router(zeromq::RouterSocket),
    Dealer(zeromq::DealerSocket),
}

/// `$body` with `$s` bound to the socket inside any variant of a [`ZmqrsEnd`].
macro_rules! zmqrs_any {
    ($end:expr, $s:ident => $body:expr) => {
        match $end {
            ZmqrsEnd::Pull($s) => $body,
            ZmqrsEnd::Push($s) => $body,
            ZmqrsEnd::Rep($s) => $body,
            ZmqrsEnd::Req($s) => $body,
            ZmqrsEnd::Router($s) => $body,
            ZmqrsEnd::Dealer($s) => $body,
        }
    };
}

impl ZmqrsEnd {
    fn new(socket_type: zeromq::SocketType) -> Result<ZmqrsEnd, BoxError> {
        use zeromq::{Socket as _, SocketType};
        Ok(match socket_type {
            SocketType::PULL => ZmqrsEnd::Pull(zeromq::PullSocket::new()),
            SocketType::PUSH => ZmqrsEnd::Push(zeromq::PushSocket::new()),
            SocketType::REP => ZmqrsEnd::Rep(zeromq::RepSocket::new()),
            SocketType::REQ => ZmqrsEnd::Req(zeromq::ReqSocket::new()),
            SocketType::ROUTER => ZmqrsEnd::Router(zeromq::RouterSocket::new()),
            SocketType::DEALER => ZmqrsEnd::Dealer(zeromq::DealerSocket::new()),
            other => return Err(format!("loadgen has no zmq.rs {other} rows").into()),
        })
    }

    /// Binds and returns the endpoint bound (with the port the OS picked).
    async fn bind(&mut self, endpoint: &str) -> Result<String, BoxError> {
        use zeromq::Socket as _;
        let bound = zmqrs_any!(self, s => s.bind(endpoint).await?);
        Ok(bound.to_string())
    }

    /// Connects; zmq.rs returns once the handshake is done.
    async fn connect(&mut self, endpoint: &str) -> Result<(), BoxError> {
        use zeromq::Socket as _;
        zmqrs_any!(self, s => s.connect(endpoint).await?);
        Ok(())
    }

    async fn send(&mut self, message: zeromq::ZmqMessage) -> Result<(), BoxError> {
        use zeromq::SocketSend as _;
        match self {
            ZmqrsEnd::Push(s) => s.send(message).await?,
            ZmqrsEnd::Rep(s) => s.send(message).await?,
            ZmqrsEnd::Req(s) => s.send(message).await?,
            ZmqrsEnd::Router(s) => s.send(message).await?,
            ZmqrsEnd::Dealer(s) => s.send(message).await?,
            ZmqrsEnd::Pull(_) => return Err("a PULL socket does not send".into()),
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<zeromq::ZmqMessage, BoxError> {
        use zeromq::SocketRecv as _;
        Ok(match self {
            ZmqrsEnd::Pull(s) => s.recv().await?,
            ZmqrsEnd::Rep(s) => s.recv().await?,
            ZmqrsEnd::Req(s) => s.recv().await?,
            ZmqrsEnd::Router(s) => s.recv().await?,
            ZmqrsEnd::Dealer(s) => s.recv().await?,
            ZmqrsEnd::Push(_) => return Err("a PUSH socket does not receive".into()),
        })
    }
}

impl PeerSocket for ZmqrsEnd {
    type Message = zeromq::ZmqMessage;

    async fn send_body(&mut self, body: &Bytes) -> Result<(), BoxError> {
        self.send(zeromq::ZmqMessage::from(body.clone())).await
    }

    async fn recv_checked(
        &mut self,
        frames: usize,
        size: usize,
    ) -> Result<zeromq::ZmqMessage, BoxError> {
        let message = self.recv().await?;
        if message.len() != frames || message.get(frames - 1).map(Bytes::len) != Some(size) {
            let sizes: Vec<usize> = message.iter().map(Bytes::len).collect();
            return Err(shape_error(&sizes, frames, size));
        }
        Ok(message)
    }

    async fn send_back(&mut self, message: zeromq::ZmqMessage) -> Result<(), BoxError> {
        self.send(message).await
    }
}

async fn zmqrs_row(
    w: &Workload,
    endpoint: &str,
    progress: &indicatif::ProgressBar,
) -> Result<Measured, BoxError> {
    use zeromq::SocketType;
    let (server_type, client_type) = match w.pattern {
        Pattern::PushPull => (SocketType::PULL, SocketType::PUSH),
        Pattern::ReqRep => (SocketType::REP, SocketType::REQ),
        Pattern::DealerRouter | Pattern::RouterDealerRtt => {
            (SocketType::ROUTER, SocketType::DEALER)
        }
        Pattern::PairRtt => return Err("zmq.rs has no PAIR socket".into()),
    };
    let (server, client) = tokio::time::timeout(STALL, async {
        let mut server = ZmqrsEnd::new(server_type)?;
        let bound = server.bind(endpoint).await?;
        let mut client = ZmqrsEnd::new(client_type)?;
        client.connect(&bound).await?;
        Ok::<_, BoxError>((server, client))
    })
    .await
    .unwrap_or_else(|_| {
        Err(format!("binding and connecting took over {} s", STALL.as_secs()).into())
    })?;
    // The sockets close when the row's tasks drop them.
    measure(w, server, client, progress).await
}
