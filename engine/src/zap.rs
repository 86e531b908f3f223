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
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;
pub use ringmq_transports::zap::{ZapError, ZapReply, ZapRequest, ZAP_ENDPOINT};

use crate::error::Error;
use crate::runtime::{self, spawn_local};
use crate::security::{Authorizer, Credentials};
use crate::socket::Socket;
use ringmq_transports::SocketType;

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
    reply: Option<ZapReply>,
    waker: Option<Waker>,
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
    let dealer = Socket::new(SocketType::Dealer)?;
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
    spawn_local(async move {
        while let Ok(mut msg) = reader.dealer.recv().await {
            // DEALER <-> REP: an empty delimiter, then the reply.
            if msg.first().is_some_and(|f| f.is_empty()) {
                msg.pop_front();
            }
            match ZapReply::parse(&msg) {
                Ok(reply) => {
                    let mut state = reader.state.borrow_mut();
                    if let Some(w) = state.waiters.get_mut(&reply.request_id) {
                        let waker = w.waker.take();
                        w.reply = Some(reply);
                        drop(state);
                        if let Some(waker) = waker {
                            waker.wake();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "malformed ZAP reply ignored"),
            }
        }
    })
    .detach();
    Ok(client)
}

/// Ask the handler about a peer; resolves to its reply. Cancel-safe: dropping the future
/// forgets the request.
pub(crate) fn ask(
    endpoint: &str,
    domain: &str,
    address: Option<std::net::IpAddr>,
    identity: Bytes,
    credentials: &Credentials,
) -> Result<impl std::future::Future<Output = ZapReply>, Error> {
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
            return Poll::Ready(ZapReply {
                request_id: guard.1.clone(),
                status_code: 500,
                status_text: "ZAP request lost".into(),
                user_id: String::new(),
                metadata: Bytes::new(),
            });
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
