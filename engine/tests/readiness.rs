//! The readiness descriptor (libzmq's `ZMQ_FD` role): a hand-written `poll(2)` loop and tokio's
//! `AsyncFd` that follow its contract never miss a message.

mod support;

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use ringmq::{AsyncSocket, Message, Options, SendError, SocketType};
use support::{runtime, socket, WAIT};

/// Wait (at most `timeout`) for `fd` to become readable; false on timeout.
fn poll_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    n == 1 && pfd.revents & libc::POLLIN != 0
}

#[test]
fn a_poll_loop_following_the_contract_never_misses_a_message() {
    let rt = runtime(2);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    let fd = pull.readiness_fd().unwrap();
    const TOTAL: u32 = 20_000;
    // The sender bursts and pauses irregularly, so messages arrive both while the loop drains
    // and while it waits.
    let sender = std::thread::spawn(move || {
        for i in 0..TOTAL {
            push.send(Message::single(i.to_be_bytes().to_vec()))
                .unwrap();
            if i % 997 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        push
    });
    let mut next = 0u32;
    let deadline = Instant::now() + WAIT * 3;
    while next < TOTAL {
        assert!(Instant::now() < deadline, "stalled at {next}");
        // The contract: wait on the fd, then read the events (clears it), then drain.
        if !poll_readable(fd, WAIT) {
            panic!("the descriptor never signalled; {next} of {TOTAL} received");
        }
        let events = pull.events();
        if !events.readable {
            continue; // a spurious signal is allowed
        }
        while let Some(m) = pull.try_recv().unwrap() {
            assert_eq!(
                u32::from_be_bytes(m.frames()[0][..].try_into().unwrap()),
                next
            );
            next += 1;
        }
    }
    let _push = sender.join().unwrap();
    assert!(pull.try_recv().unwrap().is_none());
}

#[test]
fn writable_is_signalled_when_room_appears() {
    let rt = runtime(2);
    let small = Options {
        sndhwm: 2,
        rcvhwm: 2,
        ..Options::default()
    };
    let pull = support::socket_with(&rt, SocketType::Pull, small.clone());
    let ep = pull.bind("inproc://room").unwrap();
    let push = support::socket_with(&rt, SocketType::Push, small);
    push.connect(&ep).unwrap();
    let fd = push.readiness_fd().unwrap();
    // Fill until Full is reported by both try_send and events().
    let mut sent = 0u32;
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "never filled");
        match push.try_send(Message::single("x")) {
            Ok(()) => sent += 1,
            Err(SendError::Full(_)) => {
                if !push.events().writable {
                    break;
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Reading everything makes room: the descriptor signals and events() says writable.
    let mut received = 0;
    while received < sent {
        pull.recv().unwrap();
        received += 1;
    }
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(poll_readable(fd, WAIT), "room was never signalled");
        if push.events().writable {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    push.try_send(Message::single("again")).unwrap();
    // Taken, so nothing is left for the close to linger on.
    assert_eq!(pull.recv().unwrap(), Message::single("again"));
}

#[test]
fn tokio_async_fd_drives_a_receiver() {
    use tokio::io::unix::AsyncFd;
    let rt = runtime(2);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio_rt.block_on(async {
        let pull = AsyncSocket::new(rt.next_shard(), SocketType::Pull, Options::default()).unwrap();
        let ep = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let push = AsyncSocket::new(rt.next_shard(), SocketType::Push, Options::default()).unwrap();
        push.connect(&ep).await.unwrap();
        let readiness = pull.readiness().unwrap();
        // SAFETY: `Readiness` owns a reference that keeps the descriptor open, and always
        // returns the same one, for as long as the AsyncFd holds it.
        let fd = unsafe {
            AsyncFd::register_with_interest(readiness, tokio::io::Interest::READABLE).unwrap()
        };
        const TOTAL: u32 = 5000;
        let sender = tokio::spawn(async move {
            for i in 0..TOTAL {
                push.send(Message::single(i.to_be_bytes().to_vec()))
                    .await
                    .unwrap();
                if i % 500 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            push
        });
        let mut next = 0u32;
        while next < TOTAL {
            let mut guard = tokio::time::timeout(WAIT, fd.readable())
                .await
                .expect("the descriptor signalled")
                .unwrap();
            // tokio's readiness is edge-cached: clear it, then follow the socket's contract.
            guard.clear_ready();
            fd.get_ref().events();
            while let Some(m) = pull.try_recv().unwrap() {
                assert_eq!(
                    u32::from_be_bytes(m.frames()[0][..].try_into().unwrap()),
                    next
                );
                next += 1;
            }
        }
        let _push = sender.await.unwrap();
    });
}
