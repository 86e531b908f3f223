//! Waiting on several sockets at once: `select_recv` for tasks on a shard, `poll` for the blocking
//! handles (zmq_poll(3) for ringmq sockets).

use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringmq_transports::Message;

use super::{BlockingSocket, Socket};
use crate::error::{Error, ErrorKind};

/// Wait until one of `sockets` has a message and take it: `(index, message)`. Sockets are tried
/// in turn from a rotating start, so a busy socket does not starve the others.
///
/// # Cancel safety
/// Cancel-safe: a message is taken only when the future completes.
pub async fn select_recv(sockets: &[&Socket]) -> Result<(usize, Message), Error> {
    if sockets.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOption,
            "select_recv needs at least one socket",
        ));
    }
    let mut start = 0usize;
    std::future::poll_fn(|cx| {
        let n = sockets.len();
        for k in 0..n {
            let i = (start + k) % n;
            let mut core = sockets[i].core.borrow_mut();
            match core.try_recv() {
                Ok(Some(m)) => {
                    start = (i + 1) % n;
                    return Poll::Ready(Ok((i, super::delivered(m))));
                }
                Ok(None) => core.register_recv(cx),
                Err(e) if e.kind() == ErrorKind::InvalidState => core.register_recv(cx),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Pending
    })
    .await
}

/// What to wait for on a socket, and what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollEvents {
    /// A message can be received without waiting (`ZMQ_POLLIN`).
    pub readable: bool,
    /// A message can be sent without waiting (`ZMQ_POLLOUT`).
    pub writable: bool,
}

impl PollEvents {
    /// Wait for readability.
    pub const READABLE: PollEvents = PollEvents {
        readable: true,
        writable: false,
    };
    /// Wait for writability.
    pub const WRITABLE: PollEvents = PollEvents {
        readable: false,
        writable: true,
    };

    /// Whether nothing is set.
    pub fn is_empty(self) -> bool {
        !self.readable && !self.writable
    }
}

/// One socket to poll.
#[derive(Debug)]
pub struct PollItem<'a> {
    /// The socket.
    pub socket: &'a BlockingSocket,
    /// What to wait for.
    pub events: PollEvents,
    /// What is ready, set by [`poll`].
    pub revents: PollEvents,
}

impl<'a> PollItem<'a> {
    /// Wait for `events` on `socket`.
    pub fn new(socket: &'a BlockingSocket, events: PollEvents) -> PollItem<'a> {
        PollItem {
            socket,
            events,
            revents: PollEvents::default(),
        }
    }
}

fn readiness(socket: &BlockingSocket, wanted: PollEvents) -> PollEvents {
    let bridge = &socket.bridge();
    PollEvents {
        readable: wanted.readable && !bridge.from_shard.is_empty(),
        writable: wanted.writable && bridge.has_room(),
    }
}

/// Wait until at least one item is ready or `timeout` passes (`None`: forever); fills each
/// item's `revents` and returns how many are ready, as zmq_poll does.
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Result<usize, Error> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let check = |items: &mut [PollItem<'_>]| {
        let mut ready = 0;
        for item in items.iter_mut() {
            item.revents = readiness(item.socket, item.events);
            if !item.revents.is_empty() {
                ready += 1;
            }
        }
        ready
    };
    loop {
        let ready = check(items);
        if ready > 0 {
            return Ok(ready);
        }
        if items
            .iter()
            .all(|i| i.socket.bridge().closed.load(Ordering::SeqCst))
        {
            return Err(Error::new(
                ErrorKind::Closed,
                "every polled socket is closed",
            ));
        }
        // Ask every socket's shard to unpark this thread, then look once more before parking.
        for item in items.iter() {
            item.socket.bridge().app.prepare();
        }
        let ready = check(items);
        let now = Instant::now();
        if ready == 0 && deadline.is_none_or(|d| now < d) {
            let slice = Duration::from_millis(100);
            let park_for = deadline.map_or(slice, |d| (d - now).min(slice));
            std::thread::park_timeout(park_for);
        }
        for item in items.iter() {
            item.socket.bridge().app.finish();
        }
        if ready > 0 {
            return Ok(ready);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(check(items));
        }
    }
}
