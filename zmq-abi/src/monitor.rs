//! `zmq_socket_monitor`: a socket's events, sent as libzmq sends them to a PAIR socket bound at an
//! inproc endpoint of the socket's context.
//!
//! Each event is a two-frame message: 6 bytes (the `ZMQ_EVENT_*` number as a native-endian
//! `uint16_t`, then a native-endian `uint32_t` value) and the endpoint. The value is the retry
//! interval in ms for `CONNECT_RETRIED`, a `ZMQ_PROTOCOL_ERROR_*` code for
//! `HANDSHAKE_FAILED_PROTOCOL`, the ZAP status code (300, 400, 500) for `HANDSHAKE_FAILED_AUTH`,
//! on the server and on the refused client alike, and 0 where
//! libzmq gives a file descriptor (ringmq's descriptors are the shard's, not the program's).
//!
//! A thread per monitor moves events from ringmq's [`Monitor`] to the PAIR socket. When the
//! monitored socket closes or the monitor is stopped it sends `ZMQ_EVENT_MONITOR_STOPPED` and
//! keeps the PAIR socket until its context is terminated, so the reader gets every event.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use ringmq::{
    BlockingSocket, HandshakeFailure, Message, Monitor, MonitorEvent, Options, SocketType,
};

use crate::context::ContextShared;
use crate::error::fail;
use crate::socket::{endpoint_str, with_socket, Socket};

/// `ZMQ_EVENT_DISCONNECTED`.
const EVENT_DISCONNECTED: u16 = 0x0200;
/// `ZMQ_EVENT_MONITOR_STOPPED`.
const EVENT_MONITOR_STOPPED: u16 = 0x0400;
/// `ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED`.
const PROTOCOL_ERROR_ZMTP_UNSPECIFIED: u32 = 0x1000_0000;
/// The ZAP status code of a refused peer.
const ZAP_STATUS_DENIED: u32 = 400;

/// How often the thread looks whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// A running monitor, held by the monitored socket.
pub(crate) struct SocketMonitor {
    stop: Arc<AtomicBool>,
}

impl Drop for SocketMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The event's value (see the module doc).
fn event_value(event: &MonitorEvent) -> u32 {
    match event {
        MonitorEvent::ConnectRetried { interval, .. } => {
            u32::try_from(interval.as_millis()).unwrap_or(u32::MAX)
        }
        MonitorEvent::HandshakeFailed {
            reason: HandshakeFailure::Auth(reason),
            ..
        } => zap_status(reason),
        MonitorEvent::HandshakeFailed {
            reason: HandshakeFailure::Connection { errno, .. },
            ..
        } => u32::try_from(*errno).unwrap_or(0),
        MonitorEvent::HandshakeFailed { reason, .. } => reason
            .zmq_protocol_error()
            .unwrap_or(PROTOCOL_ERROR_ZMTP_UNSPECIFIED),
        _ => 0,
    }
}

/// The ZAP status code in an authentication failure's reason ("ZAP 300: ..."), or 400.
fn zap_status(reason: &str) -> u32 {
    reason
        .strip_prefix("ZAP ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u32>().ok())
        .filter(|code| (300..600).contains(code))
        .unwrap_or(ZAP_STATUS_DENIED)
}

fn event_message(event: u16, value: u32, endpoint: &str) -> Message {
    let mut head = Vec::with_capacity(6);
    head.extend_from_slice(&event.to_ne_bytes());
    head.extend_from_slice(&value.to_ne_bytes());
    Message::from_frames([
        Bytes::from(head),
        Bytes::copy_from_slice(endpoint.as_bytes()),
    ])
}

/// Send `message` on `pair`, waiting for a reader until the context is terminated.
fn deliver(pair: &mut BlockingSocket, context: &ContextShared, message: Message) {
    pair.set_sndtimeo(Some(STOP_CHECK));
    let mut message = message;
    loop {
        match pair.send(message) {
            Ok(()) => return,
            Err(ringmq::SendError::Full(back)) if !context.is_terminated() => message = back,
            Err(_) => return,
        }
    }
}

fn run(
    monitor: Monitor,
    mut pair: BlockingSocket,
    mask: u16,
    stop: Arc<AtomicBool>,
    context: Arc<ContextShared>,
) {
    let send = |pair: &mut BlockingSocket, event: MonitorEvent| {
        let number = event.zmq_event();
        if number & mask != 0 {
            let message = event_message(number, event_value(&event), event.endpoint());
            deliver(pair, &context, message);
        }
        // libzmq reports every connection that ends, a failed handshake's too, as DISCONNECTED
        // after the failure itself.
        if matches!(event, MonitorEvent::HandshakeFailed { .. }) && EVENT_DISCONNECTED & mask != 0 {
            let message = event_message(EVENT_DISCONNECTED, 0, event.endpoint());
            deliver(pair, &context, message);
        }
    };
    while !stop.load(Ordering::SeqCst) && !context.is_terminated() {
        if let Some(event) = monitor.recv_timeout(STOP_CHECK) {
            send(&mut pair, event);
        }
    }
    while let Some(event) = monitor.try_recv() {
        send(&mut pair, event);
    }
    drop(monitor);
    if mask & EVENT_MONITOR_STOPPED != 0 {
        deliver(
            &mut pair,
            &context,
            event_message(EVENT_MONITOR_STOPPED, 0, ""),
        );
    }
    // Keep the PAIR socket (and what it has queued) for the reader until the context goes.
    while !context.is_terminated() {
        std::thread::sleep(STOP_CHECK);
    }
}

/// Start monitoring `s`, sending its events in `mask` to a PAIR socket bound at `endpoint`.
fn start(s: &mut Socket, endpoint: &str, mask: u16) -> Result<JoinHandle<()>, c_int> {
    if !endpoint.starts_with("inproc://") {
        return Err(libc::EPROTONOSUPPORT);
    }
    let monitor = s
        .inner()?
        .monitor()
        .map_err(|e| crate::error::errno_of(e.kind()))?;
    let pair = BlockingSocket::new(&s.shard, SocketType::Pair, Options::default())
        .map_err(|e| crate::error::errno_of(e.kind()))?;
    pair.bind(endpoint)
        .map_err(|e| crate::error::errno_of(e.kind()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let context = s.context.clone();
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("zmq-monitor".into())
        .spawn(move || run(monitor, pair, mask, thread_stop, context))
        .map_err(|_| libc::EMFILE)?;
    s.monitor = Some(SocketMonitor { stop });
    Ok(thread)
}

/// Send the socket's events in `events` (`ZMQ_EVENT_*` bits) to a PAIR socket bound at the inproc
/// `endpoint`, which the caller connects a PAIR socket to; NULL `endpoint` stops monitoring.
/// `EPROTONOSUPPORT` for a non-inproc endpoint, `EADDRINUSE` if it is taken.
///
/// # Safety
/// `socket` as in `zmq_close`; `endpoint` null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn zmq_socket_monitor(
    socket: *mut c_void,
    endpoint: *const c_char,
    events: c_int,
) -> c_int {
    let call = |s: &mut Socket| {
        // Stop the one running, as libzmq does before starting another.
        s.monitor = None;
        if endpoint.is_null() {
            return Ok(0);
        }
        // SAFETY: non-null and, by the contract, NUL-terminated.
        let endpoint = unsafe { endpoint_str(endpoint) }?;
        let mask = u16::try_from(events & 0xFFFF).unwrap_or(u16::MAX);
        let thread = start(s, endpoint, mask)?;
        s.context.add_monitor(thread);
        Ok(0)
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    unsafe { with_socket(socket, call) }.unwrap_or_else(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zap_status_from_the_reason() {
        assert_eq!(zap_status("ZAP 300: try later"), 300);
        assert_eq!(zap_status("ZAP 500: refused by the server"), 500);
        assert_eq!(zap_status("unknown CURVE key"), 400);
        assert_eq!(zap_status("ZAP 2"), 400);
    }
}
