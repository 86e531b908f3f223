//! ZAP (RFC 27) in ringmq: PLAIN and CURVE servers ask the handler bound at
//! `inproc://zeromq.zap.01` in their runtime about every connecting peer, and wait (up to
//! `zap_timeout`) for the answer. A handler is any REP (or ROUTER) socket bound there;
//! [`serve_authorizer`] runs the built-in [`Authorizer`] as one.
//!
//! When no handler is bound, a server uses its own `authorizer` option, or accepts the peer
//! (libzmq's behaviour without a handler). `Options::zap_endpoint` points a server at a handler
//! elsewhere (an ipc or tcp endpoint, e.g. a libzmq REP socket in another process): RFC 27 puts
//! handlers on inproc, which cannot cross from one library's context into another's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;
pub use ringmq_transports::zap::{ZapError, ZapReply, ZapRequest, ZAP_ENDPOINT};

use crate::error::Error;
use crate::runtime::{self, spawn_local};
use crate::security::{Authorizer, Credentials};
use crate::socket::Socket;
use ringmq_transports::{Message, SocketType};

/// The per-shard client side: one DEALER to the handler, replies routed by request id.
struct ZapClient {
    dealer: Socket,
    state: RefCell<ZapState>,
}

struct ZapState {
    next_id: u64,
    waiters: HashMap<Bytes, Waiter>,
}

#[derive(Default)]
struct Waiter {
    reply: Option<Result<ZapReply, ZapError>>,
    waker: Option<Waker>,
}

impl ZapState {
    /// Whether `id` is one this client asked with (numbered from 1 up to `next_id`).
    fn issued(&self, id: &[u8]) -> bool {
        std::str::from_utf8(id)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|n| n >= 1 && n < self.next_id)
    }

    /// The oldest request still waiting for its answer: the one a handler that answers in
    /// order (a REP socket, as RFC 27 has it) answered with a reply that names no request.
    fn oldest_waiting(&self) -> Option<Bytes> {
        self.waiters
            .iter()
            .filter(|(_, w)| w.reply.is_none())
            .filter_map(|(id, _)| Some((std::str::from_utf8(id).ok()?.parse::<u64>().ok()?, id)))
            .min_by_key(|(n, _)| *n)
            .map(|(_, id)| id.clone())
    }

    /// Which waiting request `reply` (as received) answers, and with what: a well-formed reply
    /// answers the request it names; a malformed one, or one naming a request never asked, fails
    /// the request it names or else the oldest waiting one (libzmq's ZAP pipe is per
    /// connection, so it always knows which). A reply to a request already given up is dropped.
    fn answer_for(&self, reply: &Message) -> Option<(Bytes, Result<ZapReply, ZapError>)> {
        let named = reply
            .frames()
            .get(1)
            .filter(|id| self.waiters.contains_key(*id))
            .cloned();
        match (ZapReply::parse(reply), named) {
            (Ok(parsed), Some(id)) => Some((id, Ok(parsed))),
            (Ok(parsed), None) if self.issued(&parsed.request_id) => None,
            (Ok(_), None) => Some((self.oldest_waiting()?, Err(ZapError::RequestId))),
            (Err(e), Some(id)) => Some((id, Err(e))),
            (Err(e), None) => Some((self.oldest_waiting()?, Err(e))),
        }
    }
}

thread_local! {
    /// One client per handler endpoint on this shard.
    static CLIENTS: RefCell<HashMap<String, Rc<ZapClient>>> = RefCell::new(HashMap::new());
}

/// Whether a ZAP handler is bound in this shard's runtime.
pub(crate) fn handler_bound() -> bool {
    runtime::current().is_some_and(|s| {
        s.shared
            .runtime_state::<crate::socket::inproc::Registry>()
            .is_bound(&ZAP_ENDPOINT["inproc://".len()..])
    })
}

fn client(endpoint: &str) -> Result<Rc<ZapClient>, Error> {
    if let Some(c) = CLIENTS.with(|c| c.borrow().get(endpoint).cloned()) {
        return Ok(c);
    }
    // Linger 0: a request still queued for a handler that went away is of no use to anyone,
    // and must not hold up the runtime's shutdown for a linger's length.
    let dealer = Socket::with_options(
        SocketType::Dealer,
        crate::socket::Options {
            linger: Some(std::time::Duration::ZERO),
            ..crate::socket::Options::default()
        },
    )?;
    // An inproc handler that goes away (unbound, closed) takes the connection with it for good:
    // the client is then forgotten, so the next request connects to whichever handler is
    // bound by then (libzmq connects each session to the handler afresh).
    let watch = endpoint.starts_with("inproc://").then(|| dealer.monitor());
    dealer.connect(endpoint)?;
    let client = Rc::new(ZapClient {
        dealer,
        state: RefCell::new(ZapState {
            next_id: 1,
            waiters: HashMap::new(),
        }),
    });
    CLIENTS.with(|c| c.borrow_mut().insert(endpoint.to_owned(), client.clone()));
    let reader = client.clone();
    let key = endpoint.to_owned();
    spawn_local(async move {
        while let Some(next) = next_reply(&reader.dealer, watch.as_ref()).await {
            let Ok(mut msg) = next else { break };
            // DEALER <-> REP: an empty delimiter, then the reply.
            if msg.first().is_some_and(|f| f.is_empty()) {
                msg.pop_front();
            }
            let mut state = reader.state.borrow_mut();
            let Some((id, answer)) = state.answer_for(&msg) else {
                tracing::debug!("ZAP reply to a request no longer waiting, dropped");
                continue;
            };
            if let Err(e) = &answer {
                tracing::warn!(error = %e, "malformed ZAP reply: the peer it was about is refused");
            }
            let Some(w) = state.waiters.get_mut(&id) else {
                continue;
            };
            let waker = w.waker.take();
            w.reply = Some(answer);
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        CLIENTS.with(|c| {
            let mut clients = c.borrow_mut();
            if clients.get(&key).is_some_and(|c| Rc::ptr_eq(c, &reader)) {
                clients.remove(&key);
            }
        });
    })
    .detach();
    Ok(client)
}

/// The next reply on `dealer`; `None` once `watch` (the dealer's monitor, for an inproc
/// handler) says the handler's connection is gone.
async fn next_reply(
    dealer: &Socket,
    watch: Option<&crate::monitor::Monitor>,
) -> Option<Result<Message, Error>> {
    let Some(monitor) = watch else {
        return Some(dealer.recv().await);
    };
    loop {
        // Both are cancel-safe: the one not ready is dropped without losing anything.
        let mut reply = std::pin::pin!(dealer.recv());
        let mut event = std::pin::pin!(monitor.recv());
        let gone = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = reply.as_mut().poll(cx) {
                return Poll::Ready(Err(r));
            }
            match event.as_mut().poll(cx) {
                Poll::Ready(Some(crate::monitor::MonitorEvent::Disconnected { .. }))
                | Poll::Ready(None) => Poll::Ready(Ok(true)),
                Poll::Ready(Some(_)) => Poll::Ready(Ok(false)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match gone {
            Err(reply) => return Some(reply),
            Ok(true) => return None,
            Ok(false) => continue,
        }
    }
}

/// Ask the handler about a peer; resolves to its reply, or to what was wrong with it.
/// Cancel-safe: dropping the future forgets the request.
pub(crate) fn ask(
    endpoint: &str,
    domain: &str,
    address: Option<std::net::IpAddr>,
    identity: Bytes,
    credentials: &Credentials,
) -> Result<impl std::future::Future<Output = Result<ZapReply, ZapError>>, Error> {
    let client = client(endpoint)?;
    let (mechanism, creds) = match credentials {
        Credentials::Null => ("NULL", Vec::new()),
        Credentials::Plain { username, password } => (
            "PLAIN",
            vec![
                Bytes::from(username.clone()),
                Bytes::copy_from_slice(password.as_bytes()),
            ],
        ),
        Credentials::Curve { client_key } => {
            ("CURVE", vec![Bytes::copy_from_slice(client_key.as_bytes())])
        }
    };
    let request_id = {
        let mut state = client.state.borrow_mut();
        let id = Bytes::from(state.next_id.to_string());
        state.next_id += 1;
        state.waiters.insert(id.clone(), Waiter::default());
        id
    };
    let request = ZapRequest {
        request_id: request_id.clone(),
        domain: domain.to_owned(),
        address: address.map(|a| a.to_string()).unwrap_or_default(),
        // RFC 27: the identity of the socket asking (its ZMQ_ROUTING_ID), as libzmq sends it.
        identity,
        mechanism: mechanism.to_owned(),
        credentials: creds,
    };
    let mut wire = request.to_message();
    wire.push_front(Bytes::new());
    client.dealer.try_send(wire).map_err(Error::from)?;
    struct Forget(Rc<ZapClient>, Bytes);
    impl Drop for Forget {
        fn drop(&mut self) {
            self.0.state.borrow_mut().waiters.remove(&self.1);
        }
    }
    let guard = Forget(client, request_id);
    Ok(std::future::poll_fn(move |cx| {
        let mut state = guard.0.state.borrow_mut();
        let Some(w) = state.waiters.get_mut(&guard.1) else {
            return Poll::Ready(Ok(ZapReply {
                request_id: guard.1.clone(),
                status_code: 500,
                status_text: "ZAP request lost".into(),
                user_id: String::new(),
                metadata: Bytes::new(),
            }));
        };
        match w.reply.take() {
            Some(reply) => Poll::Ready(reply),
            None => {
                w.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }))
}

/// Serve ZAP requests with the built-in [`Authorizer`] on the current shard: binds a REP at
/// `inproc://zeromq.zap.01` and answers until the task is dropped. Call inside a task on a
/// shard, e.g. `rt.spawn_on(ShardId(0), move || ringmq::zap::serve_authorizer(authorizer))`.
///
/// # Cancel safety
/// Dropping the future closes the handler socket; requests in flight then time out.
pub async fn serve_authorizer(authorizer: Authorizer) -> Result<(), Error> {
    serve(move |request| {
        let credentials = match request.mechanism.as_str() {
            "NULL" if request.credentials.is_empty() => Credentials::Null,
            "PLAIN" if request.credentials.len() == 2 => Credentials::Plain {
                username: String::from_utf8_lossy(&request.credentials[0]).into_owned(),
                password: zeroize::Zeroizing::new(
                    String::from_utf8_lossy(&request.credentials[1]).into_owned(),
                ),
            },
            "CURVE" if request.credentials.len() == 1 && request.credentials[0].len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&request.credentials[0]);
                Credentials::Curve {
                    client_key: crate::security::PublicKey(key),
                }
            }
            _ => return request.reply(400, "unsupported mechanism", ""),
        };
        let address = request.address.parse().ok();
        match authorizer.decide(&credentials, address) {
            Ok(user) => request.reply(200, "OK", &user),
            Err(reason) => request.reply(400, &reason, ""),
        }
    })
    .await
}

/// Serve ZAP requests with `decide` on the current shard (a REP bound at
/// `inproc://zeromq.zap.01`). Malformed requests get a 500 reply.
///
/// # Cancel safety
/// Dropping the future closes the handler socket.
pub async fn serve(decide: impl Fn(&ZapRequest) -> ZapReply) -> Result<(), Error> {
    let rep = Socket::new(SocketType::Rep)?;
    rep.bind(ZAP_ENDPOINT)?;
    loop {
        let msg = rep.recv().await?;
        let reply = match ZapRequest::parse(&msg) {
            Ok(request) => decide(&request),
            Err(e) => ZapReply {
                request_id: msg.frames().get(1).cloned().unwrap_or_default(),
                status_code: 500,
                status_text: e.to_string(),
                user_id: String::new(),
                metadata: Bytes::new(),
            },
        };
        rep.send(reply.to_message()).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_waiting_for(ids: &[u64], next_id: u64) -> ZapState {
        let mut state = ZapState {
            next_id,
            waiters: HashMap::new(),
        };
        for id in ids {
            state
                .waiters
                .insert(Bytes::from(id.to_string()), Waiter::default());
        }
        state
    }

    fn reply(version: &str, id: &str, status: &str, frames: usize) -> Message {
        let mut m = Message::from_frames([
            Bytes::copy_from_slice(version.as_bytes()),
            Bytes::copy_from_slice(id.as_bytes()),
            Bytes::copy_from_slice(status.as_bytes()),
            Bytes::from_static(b"OK"),
            Bytes::from_static(b"anonymous"),
        ]);
        while m.len() < frames {
            m.push(Bytes::new());
        }
        m
    }

    #[test]
    fn each_reply_answers_the_request_it_belongs_to() {
        let state = state_waiting_for(&[3, 4], 5);
        // Well formed, naming a waiting request.
        let (id, answer) = state.answer_for(&reply("1.0", "4", "200", 6)).unwrap();
        assert_eq!((&id[..], answer.unwrap().status_code), (&b"4"[..], 200));
        // Naming a request given up on (asked, no longer waiting): dropped.
        assert!(state.answer_for(&reply("1.0", "2", "200", 6)).is_none());
        // Naming a request never asked: the oldest waiting one fails.
        let (id, answer) = state
            .answer_for(&reply("1.0", "invalid_request_id", "200", 6))
            .unwrap();
        assert_eq!((&id[..], answer), (&b"3"[..], Err(ZapError::RequestId)));
        // Malformed, naming a waiting request: that one fails, with the fault.
        for (bad, fault) in [
            (reply("invalid_version", "4", "200", 6), ZapError::Version),
            (reply("1.0", "4", "invalid_status", 6), ZapError::Status),
            (reply("1.0", "4", "200", 7), ZapError::Frames("reply")),
        ] {
            assert_eq!(state.answer_for(&bad), Some((Bytes::from("4"), Err(fault))));
        }
        // Malformed without a usable id: the oldest waiting request fails.
        let short = Message::from_frames(["1.0"]);
        assert_eq!(
            state.answer_for(&short),
            Some((Bytes::from("3"), Err(ZapError::Frames("reply"))))
        );
        // Nothing waiting: nothing to fail.
        assert!(state_waiting_for(&[], 5)
            .answer_for(&reply("1.0", "x", "200", 6))
            .is_none());
    }
}
