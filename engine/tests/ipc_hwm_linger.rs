//! The ipc transport (paths, abstract names, file modes, stale files, cleanup), high-water marks
//! per socket type as zmq_socket(3) describes them, LINGER flushing everything at close, and
//! REQ/REP over ipc. Blocking and async APIs.

mod support;

use support::{runtime, socket, socket_with, wait_until, WAIT};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringmq::{
    BlockingSocket, Bytes, ErrorKind, Message, Options, Runtime, SendError, ShardId, Socket,
    SocketType,
};

/// Upper bound of every wait in this file; reached only when something is broken.
/// Large enough that a few of them fill a socket buffer in the kernel.
const LARGE: usize = 64 * 1024;

/// Options for a socket whose queued messages will never be taken: do not linger at shutdown.
fn no_linger() -> Options {
    Options {
        linger: Some(Duration::ZERO),
        ..Options::default()
    }
}

/// `<pid>-<n>`, unique within this machine for the life of the process.
fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh directory for socket files, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("ringmq-ipc-{}", unique()));
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn endpoint(&self, name: &str) -> String {
        format!("ipc://{}", self.path(name).display())
    }

    fn set_mode(&self, mode: u32) {
        std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Permission bits (with setuid, setgid and sticky) of `path`.
fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Message `i` of a numbered stream: `size` bytes (at least 4), the index big-endian first, the
/// rest filled with the index's low byte.
fn numbered(i: u32, size: usize) -> Message {
    let mut body = vec![i as u8; size.max(4)];
    body[..4].copy_from_slice(&i.to_be_bytes());
    Message::single(body)
}

fn check_numbered(msg: &Message, i: u32, size: usize) -> Result<(), String> {
    let frames = msg.frames();
    if frames.len() != 1 || frames[0].len() != size.max(4) {
        return Err(format!(
            "message {i}: expected one frame of {} bytes, got {} frames of {:?} bytes",
            size.max(4),
            frames.len(),
            frames.iter().map(Bytes::len).collect::<Vec<_>>()
        ));
    }
    let body = &frames[0];
    let got = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    if got != i {
        return Err(format!("expected message {i}, got message {got}"));
    }
    if body[4..].iter().any(|&b| b != i as u8) {
        return Err(format!("message {i}: corrupted body"));
    }
    Ok(())
}

/// Receive messages `0..count` of `size` bytes in order on another thread, then check that
/// nothing more is queued. The error says how far it got.
fn spawn_reader(pull: BlockingSocket, count: u32, size: usize) -> JoinHandle<Result<(), String>> {
    std::thread::spawn(move || {
        for i in 0..count {
            let msg = pull.recv_timeout(WAIT).map_err(|e| {
                format!("received {i} of {count} messages, then {:?}: {e}", e.kind())
            })?;
            check_numbered(&msg, i, size)?;
        }
        match pull.try_recv() {
            Ok(None) => Ok(()),
            Ok(Some(m)) => Err(format!("a message after the last one: {} bytes", m.size())),
            Err(e) => Err(format!("try_recv after the last message: {e}")),
        }
    })
}

/// Receive within `timeout` on a shard (the async API has no receive timeout of its own).
async fn recv_within(socket: &Socket, timeout: Duration) -> Result<Message, String> {
    futures_lite::future::or(
        async {
            socket
                .recv()
                .await
                .map_err(|e| format!("recv: {:?}: {e}", e.kind()))
        },
        async {
            ringmq::sleep(timeout).await;
            Err(format!("no message within {timeout:?}"))
        },
    )
    .await
}

fn describe(result: &Result<(), SendError>) -> String {
    match result {
        Ok(()) => "Ok".to_owned(),
        Err(SendError::Full(_)) => "Full".to_owned(),
        Err(SendError::Failed(e, _)) => format!("Failed({:?}: {e})", e.kind()),
    }
}

// ---------------------------------------------------------------------------------------------
// ipc basics.

fn ipc_push_pull(pull_binds: bool) {
    let rt = runtime(2);
    let dir = TempDir::new();
    let ep = dir.endpoint("push-pull.sock");
    let pull = socket(&rt, SocketType::Pull);
    let push = socket(&rt, SocketType::Push);
    if pull_binds {
        assert_eq!(pull.bind(&ep).unwrap(), ep);
        push.connect(&ep).unwrap();
    } else {
        assert_eq!(push.bind(&ep).unwrap(), ep);
        pull.connect(&ep).unwrap();
    }
    assert!(dir.path("push-pull.sock").exists());
    for i in 0..1000u32 {
        push.send(numbered(i, 4)).unwrap();
    }
    for i in 0..1000u32 {
        check_numbered(&pull.recv().unwrap(), i, 4).unwrap();
    }
    let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    push.send(Message::from_frames([big.clone(), b"tail".to_vec()]))
        .unwrap();
    let m = pull.recv().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m.frames()[0][..], big[..]);
    assert_eq!(m.frames()[1], "tail");
}

#[test]
fn ipc_push_pull_in_order_pull_binds() {
    ipc_push_pull(true);
}

#[test]
fn ipc_push_pull_in_order_push_binds() {
    ipc_push_pull(false);
}

#[test]
fn ipc_abstract_namespace() {
    let rt = runtime(1);
    let name = format!("@ringmq-test-{}", unique());
    let ep = format!("ipc://{name}");
    let pull = socket(&rt, SocketType::Pull);
    assert_eq!(pull.bind(&ep).unwrap(), ep);
    // Abstract names live in no directory: nothing appears in the working directory.
    assert!(!Path::new(&name).exists());
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    for i in 0..100u32 {
        push.send(numbered(i, 100)).unwrap();
    }
    for i in 0..100u32 {
        check_numbered(&pull.recv().unwrap(), i, 100).unwrap();
    }
    // The name is taken while the first socket listens.
    let other = socket(&rt, SocketType::Pull);
    assert_eq!(other.bind(&ep).unwrap_err().kind(), ErrorKind::BindFailed);
}

// ---------------------------------------------------------------------------------------------
// ipc security.

/// Bind a PULL with `options` in `dir`, check that a PUSH gets a message through, return the
/// socket file's mode as it was right after bind.
fn bind_and_use(dir: &TempDir, options: Options) -> u32 {
    let rt = runtime(1);
    let ep = dir.endpoint("s.sock");
    let pull = socket_with(&rt, SocketType::Pull, options);
    pull.bind(&ep).unwrap();
    let mode = mode_of(&dir.path("s.sock"));
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    push.send("through").unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("through"));
    mode
}

#[test]
fn ipc_socket_file_is_owner_only_by_default() {
    let dir = TempDir::new();
    let mode = bind_and_use(&dir, Options::default());
    assert_eq!(mode, 0o600, "socket file mode {mode:o}");
}

#[test]
fn ipc_mode_sets_the_socket_file_mode() {
    let dir = TempDir::new();
    let options = Options {
        ipc_mode: 0o660,
        ..Options::default()
    };
    let mode = bind_and_use(&dir, options);
    assert_eq!(mode, 0o660, "socket file mode {mode:o}");
}

#[test]
fn ipc_refuses_world_writable_dir_without_sticky_bit() {
    let dir = TempDir::new();
    dir.set_mode(0o777);
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let err = pull.bind(&dir.endpoint("s.sock")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BindFailed, "{err}");
    assert!(err.to_string().contains("sticky"), "message: {err}");
    assert!(!dir.path("s.sock").exists());
}

#[test]
fn ipc_allow_insecure_dir_binds_in_world_writable_dir() {
    let dir = TempDir::new();
    dir.set_mode(0o777);
    let options = Options {
        ipc_allow_insecure_dir: true,
        ..Options::default()
    };
    let mode = bind_and_use(&dir, options);
    assert_eq!(mode, 0o600, "socket file mode {mode:o}");
}

#[test]
fn ipc_accepts_world_writable_dir_with_sticky_bit() {
    let dir = TempDir::new();
    dir.set_mode(0o1777);
    assert_eq!(mode_of(&dir.0), 0o1777);
    let mode = bind_and_use(&dir, Options::default());
    assert_eq!(mode, 0o600, "socket file mode {mode:o}");
}

// ---------------------------------------------------------------------------------------------
// ipc stale files.

#[test]
fn ipc_bind_replaces_a_stale_socket_file() {
    let dir = TempDir::new();
    let path = dir.path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "the dead listener's file stays");
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let ep = dir.endpoint("stale.sock");
    pull.bind(&ep).unwrap();
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    push.send("after stale").unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("after stale"));
}

#[test]
fn ipc_bind_refuses_a_path_with_a_live_listener() {
    let dir = TempDir::new();
    let path = dir.path("live.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let err = pull.bind(&dir.endpoint("live.sock")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BindFailed, "{err}");
    assert!(err.to_string().contains("in use"), "message: {err}");
    // The other listener keeps its file and still takes connections.
    assert!(path.exists());
    let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    drop(listener);
}

#[test]
fn ipc_bind_refuses_a_regular_file() {
    let dir = TempDir::new();
    let path = dir.path("regular.sock");
    std::fs::write(&path, b"precious").unwrap();
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let err = pull.bind(&dir.endpoint("regular.sock")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BindFailed, "{err}");
    assert!(err.to_string().contains("not a socket"), "message: {err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

// ---------------------------------------------------------------------------------------------
// ipc cleanup.

#[test]
fn ipc_socket_file_removed_after_close() {
    let dir = TempDir::new();
    let path = dir.path("cleanup.sock");
    let ep = dir.endpoint("cleanup.sock");
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    pull.bind(&ep).unwrap();
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    push.send("x").unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("x"));
    assert!(path.exists());
    drop(push);
    drop(pull);
    drop(rt);
    assert!(!path.exists(), "{} left behind", path.display());
}

#[test]
fn ipc_socket_file_removed_after_async_close() {
    let dir = TempDir::new();
    let path = dir.path("cleanup.sock");
    let ep = dir.endpoint("cleanup.sock");
    let rt = runtime(1);
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let pull = Socket::new(SocketType::Pull).map_err(|e| e.to_string())?;
            pull.bind(&ep).map_err(|e| e.to_string())?;
            pull.close().await;
            Ok::<(), String>(())
        })
        .unwrap();
    ringmq::block_on(task).unwrap();
    drop(rt);
    assert!(!path.exists(), "{} left behind", path.display());
}

// ---------------------------------------------------------------------------------------------
// High-water marks (zmq_socket(3): PUSH and DEALER block, PUB drops, ROUTER drops unless
// ROUTER_MANDATORY).

/// An async socket of `socket_type` with `sndhwm: 7` and a peer that never comes takes exactly 7
/// messages, then hands the 8th back; `send` waits.
fn exact_sndhwm_without_peer_async(socket_type: SocketType) {
    let rt = runtime(1);
    let dir = TempDir::new();
    let ep = dir.endpoint("nobody.sock");
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let options = Options {
                sndhwm: 7,
                ..no_linger()
            };
            let s = Socket::with_options(socket_type, options).map_err(|e| e.to_string())?;
            s.connect(&ep).map_err(|e| e.to_string())?;
            for i in 0..7u32 {
                let r = s.try_send(numbered(i, 4));
                if r.is_err() {
                    return Err(format!("try_send {i} below the HWM: {}", describe(&r)));
                }
            }
            match s.try_send(numbered(7, 4)) {
                Err(SendError::Full(m)) if m == numbered(7, 4) => {}
                Err(SendError::Full(m)) => return Err(format!("Full handed back {m:?}")),
                other => return Err(format!("try_send at the HWM: {}", describe(&other))),
            }
            let sent =
                futures_lite::future::or(async { Some(s.send(numbered(7, 4)).await) }, async {
                    ringmq::sleep(Duration::from_millis(100)).await;
                    None
                })
                .await;
            match sent {
                None => Ok(()),
                Some(r) => Err(format!("send at the HWM did not wait: {r:?}")),
            }
        })
        .unwrap();
    ringmq::block_on(task).unwrap();
}

/// The same with a blocking socket: it takes between HWM and twice the HWM (the hand-off queue
/// adds up to HWM), then `try_send` says `Full` and a timed `send` gives up with `WouldBlock`.
fn bounded_sndhwm_without_peer_blocking(socket_type: SocketType) {
    let rt = runtime(1);
    let dir = TempDir::new();
    let options = Options {
        sndhwm: 7,
        ..no_linger()
    };
    let mut s = BlockingSocket::new(rt.next_shard(), socket_type, options).unwrap();
    s.connect(&dir.endpoint("nobody.sock")).unwrap();
    let mut sent = 0u32;
    loop {
        match s.try_send(numbered(sent, 4)) {
            Ok(()) => sent += 1,
            Err(SendError::Full(m)) => {
                assert_eq!(m, numbered(sent, 4), "Full hands the message back");
                break;
            }
            Err(e) => panic!("try_send {sent}: {e}"),
        }
        assert!(sent <= 100, "HWM never reached");
    }
    // The hand-off queue alone holds sndhwm - 1 before the shard moves anything on.
    assert!(sent >= 6, "Full after {sent} with sndhwm 7");
    // A `Full` from the hand-off queue may come before the shard has moved the messages on: fill
    // whatever room that frees, until a timed send times out.
    s.set_sndtimeo(Some(Duration::from_millis(50)));
    loop {
        let start = Instant::now();
        match s.send(numbered(sent, 4)) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
                assert!(start.elapsed() >= Duration::from_millis(50));
                break;
            }
        }
        assert!(sent <= 100, "HWM never reached");
    }
    assert!(
        (7..=14).contains(&sent),
        "accepted {sent} messages with sndhwm 7 (at most 7 in the pipe and 7 in the hand-off queue)"
    );
}

#[test]
fn push_sndhwm_exact_without_peer_async() {
    exact_sndhwm_without_peer_async(SocketType::Push);
}

#[test]
fn push_sndhwm_bounded_without_peer_blocking() {
    bounded_sndhwm_without_peer_blocking(SocketType::Push);
}

#[test]
fn dealer_sndhwm_exact_without_peer_async() {
    exact_sndhwm_without_peer_async(SocketType::Dealer);
}

#[test]
fn dealer_sndhwm_bounded_without_peer_blocking() {
    bounded_sndhwm_without_peer_blocking(SocketType::Dealer);
}

/// A SUB that reads one message at a time at most, for a publisher to overwhelm.
fn slow_subscriber(rt: &Runtime, ep: &str) -> BlockingSocket {
    let options = Options {
        rcvhwm: 1,
        ..no_linger()
    };
    let sub = socket_with(rt, SocketType::Sub, options);
    sub.subscribe(b"").unwrap();
    sub.connect(ep).unwrap();
    sub
}

#[test]
fn pub_never_blocks_and_drops_for_a_slow_subscriber_async() {
    let rt = runtime(2);
    let dir = TempDir::new();
    let ep = dir.endpoint("pub.sock");
    let (bound_tx, bound_rx) = mpsc::channel::<()>();
    let (subscribed_tx, subscribed_rx) = mpsc::channel::<()>();
    let task_ep = ep.clone();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let options = Options {
                sndhwm: 4,
                ..no_linger()
            };
            let publ = Socket::with_options(SocketType::Pub, options).map_err(|e| e.to_string())?;
            publ.bind(&task_ep).map_err(|e| e.to_string())?;
            let _ = bound_tx.send(());
            // Probe until the subscriber has seen one message (its subscription arrived).
            let deadline = Instant::now() + WAIT;
            while subscribed_rx.try_recv().is_err() {
                if Instant::now() > deadline {
                    return Err("the subscription never arrived".to_owned());
                }
                let r = publ.try_send("probe");
                if r.is_err() {
                    return Err(format!("PUB try_send: {}", describe(&r)));
                }
                ringmq::sleep(Duration::from_millis(5)).await;
            }
            let body = Bytes::from(vec![7u8; LARGE]);
            let mut sent = 0u64;
            while publ.dropped_messages() == 0 {
                if sent >= 20_000 || Instant::now() > deadline {
                    return Err(format!("no drop after {sent} messages of {LARGE} bytes"));
                }
                let r = publ.try_send(Message::single(body.clone()));
                if r.is_err() {
                    return Err(format!("PUB try_send {sent}: {}", describe(&r)));
                }
                sent += 1;
                if sent.is_multiple_of(4) {
                    // Let the connection write what it can.
                    ringmq::sleep(Duration::from_millis(1)).await;
                }
            }
            Ok::<_, String>((sent, publ.dropped_messages()))
        })
        .unwrap();
    bound_rx.recv_timeout(WAIT).unwrap();
    let sub = slow_subscriber(&rt, &ep);
    sub.recv().unwrap();
    subscribed_tx.send(()).unwrap();
    let (sent, dropped) = ringmq::block_on(task).unwrap();
    assert!(
        dropped > 0 && dropped <= sent,
        "sent {sent}, dropped {dropped}"
    );
    // The subscriber is still served once it reads again.
    sub.recv().unwrap();
}

#[test]
fn pub_never_blocks_and_drops_for_a_slow_subscriber_blocking() {
    let rt = runtime(2);
    let dir = TempDir::new();
    let ep = dir.endpoint("pub.sock");
    let options = Options {
        sndhwm: 4,
        ..no_linger()
    };
    let publ = socket_with(&rt, SocketType::Pub, options);
    publ.bind(&ep).unwrap();
    let sub = slow_subscriber(&rt, &ep);
    let deadline = Instant::now() + WAIT;
    loop {
        let r = publ.try_send("probe");
        assert!(r.is_ok(), "PUB try_send: {}", describe(&r));
        if sub.recv_timeout(Duration::from_millis(5)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the subscription never arrived");
    }
    let body = Bytes::from(vec![7u8; LARGE]);
    let mut sent = 0u64;
    let mut refused = 0u64;
    loop {
        match publ.try_send(Message::single(body.clone())) {
            Ok(()) => sent += 1,
            Err(SendError::Full(_)) => refused += 1,
            Err(e) => panic!("PUB try_send: {e}"),
        }
        if (sent + refused).is_multiple_of(64) && publ.dropped_messages().unwrap() > 0 {
            break;
        }
        assert!(
            sent + refused < 50_000 && Instant::now() < deadline,
            "no drop after {sent} messages of {LARGE} bytes"
        );
    }
    assert_eq!(
        refused, 0,
        "PUB try_send returned Full {refused} times (accepted {sent}); PUB must never block"
    );
    sub.recv().unwrap();
}

/// A ROUTER on shard 0 (async) with `options`, and a DEALER `peer-a` (blocking, shard 1) that
/// says hello and then never reads. `body` runs on the ROUTER's shard once the hello is in.
fn router_with_stalled_dealer<T, F, Fut>(options: Options, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce(Socket) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>> + 'static,
{
    let rt = runtime(2);
    let dir = TempDir::new();
    let ep = dir.endpoint("router.sock");
    let (bound_tx, bound_rx) = mpsc::channel::<()>();
    let task_ep = ep.clone();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let router =
                Socket::with_options(SocketType::Router, options).map_err(|e| e.to_string())?;
            router.bind(&task_ep).map_err(|e| e.to_string())?;
            let _ = bound_tx.send(());
            let hello = recv_within(&router, WAIT).await?;
            if hello != Message::from_frames(["peer-a", "hello"]) {
                return Err(format!("ROUTER received {hello:?}"));
            }
            body(router).await
        })
        .unwrap();
    bound_rx.recv_timeout(WAIT).unwrap();
    let dealer_options = Options {
        rcvhwm: 1,
        routing_id: Some(Bytes::from_static(b"peer-a")),
        ..no_linger()
    };
    let dealer = BlockingSocket::new(
        rt.shard(ShardId(1)).unwrap(),
        SocketType::Dealer,
        dealer_options,
    )
    .unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("hello").unwrap();
    let result = ringmq::block_on(task).unwrap();
    // The stalled peer is still served once it reads.
    let m = dealer.recv_timeout(WAIT).unwrap();
    assert_eq!(m.size(), LARGE);
    result
}

fn to_peer_a(body: &Bytes) -> Message {
    Message::from_frames([Bytes::from_static(b"peer-a"), body.clone()])
}

#[test]
fn router_mandatory_reports_a_full_peer_async() {
    let options = Options {
        sndhwm: 4,
        router_mandatory: true,
        ..no_linger()
    };
    let sent = router_with_stalled_dealer(options, |router| async move {
        let body = Bytes::from(vec![1u8; LARGE]);
        let deadline = Instant::now() + WAIT;
        let mut sent = 0u64;
        loop {
            match router.try_send(to_peer_a(&body)) {
                Ok(()) => sent += 1,
                Err(SendError::Full(m)) if m == to_peer_a(&body) => return Ok(sent),
                Err(SendError::Full(m)) => {
                    return Err(format!("Full handed back {} frames", m.len()))
                }
                Err(e) => return Err(format!("ROUTER try_send {sent}: {e}")),
            }
            if sent >= 20_000 || Instant::now() > deadline {
                return Err(format!("never Full after {sent} messages of {LARGE} bytes"));
            }
            if sent.is_multiple_of(4) {
                ringmq::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    assert!(sent >= 4, "Full after {sent} messages with sndhwm 4");
}

#[test]
fn router_without_mandatory_drops_silently_async() {
    let options = Options {
        sndhwm: 4,
        ..no_linger()
    };
    let (sent, dropped) = router_with_stalled_dealer(options, |router| async move {
        let body = Bytes::from(vec![1u8; LARGE]);
        let deadline = Instant::now() + WAIT;
        let mut sent = 0u64;
        while router.dropped_messages() == 0 {
            let r = router.try_send(to_peer_a(&body));
            if r.is_err() {
                return Err(format!("ROUTER try_send {sent}: {}", describe(&r)));
            }
            sent += 1;
            if sent >= 20_000 || Instant::now() > deadline {
                return Err(format!("no drop after {sent} messages of {LARGE} bytes"));
            }
            if sent.is_multiple_of(4) {
                ringmq::sleep(Duration::from_millis(1)).await;
            }
        }
        // Unroutable: dropped silently too.
        let r = router.try_send(Message::from_frames(["nobody", "x"]));
        if r.is_err() {
            return Err(format!("unroutable try_send: {}", describe(&r)));
        }
        Ok((sent, router.dropped_messages()))
    });
    assert!(
        dropped > 0 && dropped <= sent,
        "sent {sent}, dropped {dropped}"
    );
}

#[test]
fn router_mandatory_unroutable_is_host_unreachable_async() {
    let rt = runtime(1);
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let options = Options {
                router_mandatory: true,
                ..no_linger()
            };
            let router =
                Socket::with_options(SocketType::Router, options).map_err(|e| e.to_string())?;
            match router.try_send(Message::from_frames(["nobody", "x"])) {
                Err(SendError::Failed(e, m)) => Ok((e.kind(), m)),
                other => Err(format!("unroutable try_send: {}", describe(&other))),
            }
        })
        .unwrap();
    let (kind, msg) = ringmq::block_on(task).unwrap();
    assert_eq!(kind, ErrorKind::HostUnreachable);
    assert_eq!(msg, Message::from_frames(["nobody", "x"]));
}

#[test]
fn router_mandatory_unroutable_is_host_unreachable_blocking() {
    let rt = runtime(1);
    let options = Options {
        router_mandatory: true,
        ..no_linger()
    };
    let router = socket_with(&rt, SocketType::Router, options);
    let r = router.send(Message::from_frames(["nobody", "x"]));
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::HostUnreachable),
        "unroutable send on a mandatory ROUTER: {}",
        describe(&r)
    );
}

#[test]
fn router_mandatory_turned_on_after_bind_refuses_and_peer_state_tells() {
    // libzmq lets ZMQ_ROUTER_MANDATORY change on a live socket (its own test sets it after
    // binding): from then on an unknown routing id is refused, and `peer_state` names who is
    // there (what a frame-by-frame sender checks at a message's first frame).
    let rt = runtime(2);
    let router = socket_with(&rt, SocketType::Router, no_linger());
    let ep = router.bind("tcp://127.0.0.1:0").unwrap();
    // Default: an unknown peer's message is dropped without error.
    router
        .send(Message::from_frames(["nobody", "x"]))
        .expect("dropped silently without router_mandatory");
    assert_eq!(router.peer_state(b"nobody").unwrap(), None);
    router
        .set_options(Options {
            router_mandatory: true,
            ..router.options().unwrap()
        })
        .unwrap();
    let r = router.send(Message::from_frames(["nobody", "x"]));
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::HostUnreachable),
        "unroutable send once router_mandatory is on: {}",
        describe(&r)
    );
    let dealer = socket_with(
        &rt,
        SocketType::Dealer,
        Options {
            routing_id: Some(Bytes::from_static(b"X")),
            ..no_linger()
        },
    );
    dealer.connect(&ep).unwrap();
    dealer.send("hello").unwrap();
    assert_eq!(router.recv().unwrap(), Message::from_frames(["X", "hello"]));
    assert_eq!(router.peer_state(b"X").unwrap(), Some(true));
    assert_eq!(router.peer_state(b"nobody").unwrap(), None);
    router.send(Message::from_frames(["X", "back"])).unwrap();
    assert_eq!(dealer.recv().unwrap(), Message::single("back"));
    // And off again: dropped silently.
    router
        .set_options(Options {
            router_mandatory: false,
            ..router.options().unwrap()
        })
        .unwrap();
    router
        .send(Message::from_frames(["nobody", "x"]))
        .expect("dropped silently once router_mandatory is off");
}

#[test]
fn router_mandatory_reports_a_full_peer_blocking() {
    let rt = runtime(2);
    let dir = TempDir::new();
    let ep = dir.endpoint("router.sock");
    let options = Options {
        sndhwm: 4,
        router_mandatory: true,
        ..no_linger()
    };
    let router = socket_with(&rt, SocketType::Router, options);
    router.bind(&ep).unwrap();
    let dealer_options = Options {
        rcvhwm: 1,
        routing_id: Some(Bytes::from_static(b"peer-a")),
        ..no_linger()
    };
    let dealer = socket_with(&rt, SocketType::Dealer, dealer_options);
    dealer.connect(&ep).unwrap();
    dealer.send("hello").unwrap();
    assert_eq!(
        router.recv().unwrap(),
        Message::from_frames(["peer-a", "hello"])
    );
    let body = Bytes::from(vec![1u8; LARGE]);
    let deadline = Instant::now() + WAIT;
    let mut sent = 0u64;
    loop {
        match router.try_send(to_peer_a(&body)) {
            Ok(()) => sent += 1,
            Err(SendError::Full(m)) => {
                assert_eq!(m, to_peer_a(&body), "Full hands the message back");
                break;
            }
            Err(e) => panic!("ROUTER try_send {sent}: {e}"),
        }
        assert!(
            sent < 20_000 && Instant::now() < deadline,
            "never Full after {sent} messages of {LARGE} bytes"
        );
    }
    assert!(sent >= 4, "Full after {sent} messages with sndhwm 4");
    assert_eq!(dealer.recv().unwrap().size(), LARGE);
}

// ---------------------------------------------------------------------------------------------
// LINGER: a socket closed right after its last send still delivers everything (libzmq may lose
// the last batch here; ringmq must not).

#[derive(Clone, Copy)]
enum Transport {
    Tcp,
    Ipc,
}

/// A PULL on its own runtime, bound on `transport`, read by another thread.
struct Receiver {
    reader: JoinHandle<Result<(), String>>,
    endpoint: String,
    _rt: Runtime,
    _dir: TempDir,
}

impl Receiver {
    fn start(transport: Transport, count: u32, size: usize) -> Receiver {
        let rt = runtime(1);
        let dir = TempDir::new();
        let pull = socket(&rt, SocketType::Pull);
        let endpoint = match transport {
            Transport::Tcp => pull.bind("tcp://127.0.0.1:0").unwrap(),
            Transport::Ipc => pull.bind(&dir.endpoint("linger.sock")).unwrap(),
        };
        Receiver {
            reader: spawn_reader(pull, count, size),
            endpoint,
            _rt: rt,
            _dir: dir,
        }
    }

    fn finish(self) {
        let result = self.reader.join().expect("reader thread");
        result.unwrap();
    }
}

/// A blocking PUSH sends `count` messages, is dropped at once, and its runtime with it.
fn linger_blocking(transport: Transport, count: u32, size: usize) {
    let receiver = Receiver::start(transport, count, size);
    let rt = runtime(1);
    let push = socket(&rt, SocketType::Push);
    push.connect(&receiver.endpoint).unwrap();
    for i in 0..count {
        push.send(numbered(i, size)).unwrap();
    }
    drop(push);
    // Waits for the lingering socket.
    drop(rt);
    receiver.finish();
}

/// An async PUSH sends `count` messages and is closed (`close().await`, or dropped when `drop`)
/// right after the last one; then its runtime is dropped.
fn linger_async(transport: Transport, count: u32, size: usize, drop_it: bool) {
    let receiver = Receiver::start(transport, count, size);
    let rt = runtime(1);
    let ep = receiver.endpoint.clone();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let push = Socket::new(SocketType::Push).map_err(|e| e.to_string())?;
            push.connect(&ep).map_err(|e| e.to_string())?;
            for i in 0..count {
                push.send(numbered(i, size))
                    .await
                    .map_err(|e| format!("send {i}: {e}"))?;
            }
            if drop_it {
                drop(push);
            } else {
                push.close().await;
            }
            Ok::<(), String>(())
        })
        .unwrap();
    ringmq::block_on(task).unwrap();
    drop(rt);
    receiver.finish();
}

#[test]
fn linger_flushes_100k_small_messages_tcp() {
    linger_blocking(Transport::Tcp, 100_000, 4);
}

#[test]
fn linger_flushes_100k_small_messages_ipc() {
    linger_blocking(Transport::Ipc, 100_000, 4);
}

#[test]
fn linger_flushes_200_large_messages_tcp() {
    linger_blocking(Transport::Tcp, 200, LARGE);
}

#[test]
fn linger_flushes_200_large_messages_ipc() {
    linger_blocking(Transport::Ipc, 200, LARGE);
}

#[test]
fn async_close_flushes_100k_small_messages_tcp() {
    linger_async(Transport::Tcp, 100_000, 4, false);
}

#[test]
fn async_close_flushes_100k_small_messages_ipc() {
    linger_async(Transport::Ipc, 100_000, 4, false);
}

#[test]
fn async_close_flushes_200_large_messages_tcp() {
    linger_async(Transport::Tcp, 200, LARGE, false);
}

#[test]
fn async_close_flushes_200_large_messages_ipc() {
    linger_async(Transport::Ipc, 200, LARGE, false);
}

#[test]
fn async_drop_flushes_100k_small_messages_ipc() {
    linger_async(Transport::Ipc, 100_000, 4, true);
}

// ---------------------------------------------------------------------------------------------
// REQ/REP over ipc.

#[test]
fn req_rep_strict_alternation_ipc() {
    let rt = runtime(2);
    let dir = TempDir::new();
    let ep = dir.endpoint("reqrep.sock");
    let rep = socket(&rt, SocketType::Rep);
    rep.bind(&ep).unwrap();
    let req = socket(&rt, SocketType::Req);
    req.connect(&ep).unwrap();
    assert_eq!(req.recv().unwrap_err().kind(), ErrorKind::InvalidState);
    assert_eq!(
        rep.send("unasked").unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    for round in 0..3 {
        let request = Message::from_frames(["hello", "world"]);
        req.send(request.clone()).unwrap();
        assert_eq!(
            req.send("again").unwrap_err().kind(),
            ErrorKind::InvalidState,
            "round {round}: second request"
        );
        // The envelope is the REP's business: the application sees the request as sent.
        assert_eq!(rep.recv().unwrap(), request, "round {round}");
        assert_eq!(
            rep.recv_timeout(Duration::from_millis(10))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidState,
            "round {round}: REP receiving before replying"
        );
        rep.send(Message::from_frames(["re", "hello"])).unwrap();
        assert_eq!(
            rep.send("twice").unwrap_err().kind(),
            ErrorKind::InvalidState,
            "round {round}: second reply"
        );
        assert_eq!(
            req.recv().unwrap(),
            Message::from_frames(["re", "hello"]),
            "round {round}"
        );
        assert_eq!(
            req.recv_timeout(Duration::from_millis(10))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidState,
            "round {round}: REQ receiving twice"
        );
    }
}

#[test]
fn req_rep_strict_alternation_async() {
    let rt = runtime(2);
    let dir = TempDir::new();
    let ep = dir.endpoint("reqrep.sock");
    let (bound_tx, bound_rx) = mpsc::channel::<()>();
    let rep_ep = ep.clone();
    let rep_task = rt
        .spawn_on(ShardId(0), move || async move {
            let rep = Socket::new(SocketType::Rep).map_err(|e| e.to_string())?;
            rep.bind(&rep_ep).map_err(|e| e.to_string())?;
            let _ = bound_tx.send(());
            match rep.try_send("unasked") {
                Err(SendError::Failed(e, _)) if e.kind() == ErrorKind::InvalidState => {}
                other => return Err(format!("REP send first: {}", describe(&other))),
            }
            for _ in 0..3 {
                let request = recv_within(&rep, WAIT).await?;
                match rep.try_recv() {
                    Err(e) if e.kind() == ErrorKind::InvalidState => {}
                    other => return Err(format!("REP receiving twice: {other:?}")),
                }
                let mut reply = request.clone();
                reply.push("done");
                rep.send(reply).await.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })
        .unwrap();
    bound_rx.recv_timeout(WAIT).unwrap();
    let req_task = rt
        .spawn_on(ShardId(1), move || async move {
            let req = Socket::new(SocketType::Req).map_err(|e| e.to_string())?;
            req.connect(&ep).map_err(|e| e.to_string())?;
            match req.try_recv() {
                Err(e) if e.kind() == ErrorKind::InvalidState => {}
                other => return Err(format!("REQ receiving first: {other:?}")),
            }
            for round in 0..3u32 {
                let request = Message::from_frames([format!("request {round}"), "x".to_owned()]);
                req.send(request.clone()).await.map_err(|e| e.to_string())?;
                match req.try_send("again") {
                    Err(SendError::Failed(e, _)) if e.kind() == ErrorKind::InvalidState => {}
                    other => return Err(format!("REQ sending twice: {}", describe(&other))),
                }
                let reply = recv_within(&req, WAIT).await?;
                let mut expected = request;
                expected.push("done");
                if reply != expected {
                    return Err(format!("round {round}: reply {reply:?}"));
                }
            }
            Ok::<(), String>(())
        })
        .unwrap();
    let req_result = ringmq::block_on(req_task);
    let rep_result = ringmq::block_on(rep_task);
    req_result.unwrap();
    rep_result.unwrap();
}

/// A REP on its own thread that answers `count` requests with `<name>: <request>`.
fn spawn_echo_rep(
    rep: BlockingSocket,
    name: &'static str,
    count: usize,
) -> JoinHandle<Result<(), String>> {
    std::thread::spawn(move || {
        for i in 0..count {
            let request = rep
                .recv_timeout(WAIT)
                .map_err(|e| format!("{name}: request {i}: {:?}: {e}", e.kind()))?;
            let body = String::from_utf8_lossy(&request.frames()[0]).into_owned();
            rep.send(Message::single(format!("{name}: {body}")))
                .map_err(|e| format!("{name}: reply {i}: {e}"))?;
        }
        Ok(())
    })
}

#[test]
fn req_round_robins_across_two_reps_ipc() {
    let rt = runtime(2);
    let dir = TempDir::new();
    let rep_a = socket(&rt, SocketType::Rep);
    let ep_a = rep_a.bind(&dir.endpoint("a.sock")).unwrap();
    let rep_b = socket(&rt, SocketType::Rep);
    let ep_b = rep_b.bind(&dir.endpoint("b.sock")).unwrap();
    let req = socket(&rt, SocketType::Req);
    req.connect(&ep_a).unwrap();
    req.connect(&ep_b).unwrap();
    wait_until("both REPs connected", || {
        req.connected_peers().unwrap() == 2
    });
    let a = spawn_echo_rep(rep_a, "a", 5);
    let b = spawn_echo_rep(rep_b, "b", 5);
    let answered_by = (|| -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        for i in 0..10 {
            req.send(Message::single(format!("request {i}")))
                .map_err(|e| format!("send {i}: {e}"))?;
            let reply = req
                .recv()
                .map_err(|e| format!("reply {i}: {:?}: {e}", e.kind()))?;
            let reply = String::from_utf8_lossy(&reply.frames()[0]).into_owned();
            let (name, body) = reply
                .split_once(": ")
                .ok_or_else(|| format!("reply {reply:?}"))?;
            if body != format!("request {i}") {
                return Err(format!("reply {i} is {reply:?}"));
            }
            names.push(name.to_owned());
        }
        Ok(names)
    })();
    let result_a = a.join().expect("REP a thread");
    let result_b = b.join().expect("REP b thread");
    let names = answered_by.unwrap();
    result_a.unwrap();
    result_b.unwrap();
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "not round-robin: {names:?}");
    }
}

#[test]
fn rep_routes_replies_to_the_right_req_ipc() {
    let rt = runtime(2);
    let dir = TempDir::new();
    let rep = socket(&rt, SocketType::Rep);
    let ep = rep.bind(&dir.endpoint("rep.sock")).unwrap();
    let req_a = socket(&rt, SocketType::Req);
    req_a.connect(&ep).unwrap();
    let req_b = socket(&rt, SocketType::Req);
    req_b.connect(&ep).unwrap();
    for round in 0..20 {
        // Both requests are in before the REP answers either.
        req_a.send(Message::single(format!("a{round}"))).unwrap();
        req_b.send(Message::single(format!("b{round}"))).unwrap();
        for _ in 0..2 {
            let request = rep.recv().unwrap();
            let mut reply = Message::single("re");
            reply.push(request.frames()[0].clone());
            rep.send(reply).unwrap();
        }
        assert_eq!(
            req_a.recv().unwrap(),
            Message::from_frames(["re".to_owned(), format!("a{round}")]),
            "round {round}"
        );
        assert_eq!(
            req_b.recv().unwrap(),
            Message::from_frames(["re".to_owned(), format!("b{round}")]),
            "round {round}"
        );
    }
}
