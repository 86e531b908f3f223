//! A small fault-injecting TCP proxy for chaos tests: it forwards every connection made to it to
//! a target, and can be told at any time to delay what it forwards, drop it, stall (hold the
//! connection open and forward nothing, as a peer that vanished without a FIN looks), or reset
//! every connection. Plain threads, one pair per connection; meant for a handful of connections.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with the bytes it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward at once.
    Pass,
    /// Forward each chunk after this delay.
    Delay(Duration),
    /// Read and throw away (the stream the far side sees is cut short mid-frame).
    Drop,
    /// Read nothing and forward nothing; keep the connections open.
    Stall,
}

struct Shared {
    fault: Mutex<Fault>,
    /// Bumped by `reset_all`: connections of an older generation are reset.
    generation: AtomicU64,
    stopped: AtomicBool,
    connections: Mutex<Vec<(u64, TcpStream, TcpStream)>>,
    forwarded: AtomicU64,
}

/// The proxy; stops (and resets its connections) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listen on an ephemeral loopback port and forward to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::Pass),
            generation: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
            forwarded: AtomicU64::new(0),
        });
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept_shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let generation = accept_shared.generation.load(Ordering::SeqCst);
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    accept_shared
                        .connections
                        .lock()
                        .unwrap()
                        .push((generation, c, s));
                }
                for (from, to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ] {
                    if let (Ok(from), Ok(to)) = (from, to) {
                        let shared = accept_shared.clone();
                        std::thread::spawn(move || pump(from, to, shared));
                    }
                }
            }
        });
        Ok(FaultProxy { addr, shared })
    }

    /// Where to connect to reach the target through the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp://` endpoint of [`FaultProxy::addr`].
    pub fn endpoint(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// From now on, do `fault` with the bytes of every connection.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    /// Reset every connection open now (RST to both sides); later ones are not affected.
    pub fn reset_all(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        for (_, a, b) in self.shared.connections.lock().unwrap().drain(..) {
            reset(&a);
            reset(&b);
        }
    }

    /// Bytes forwarded so far, both directions.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect(self.addr);
        self.reset_all();
    }
}

/// Close `stream` with an RST (linger 0) rather than a FIN.
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a descriptor this stream owns, with a live `linger` of the size
    // given; an error only means the socket is already gone.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn pump(mut from: TcpStream, mut to: TcpStream, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 64 * 1024];
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    loop {
        if shared.stopped.load(Ordering::SeqCst) {
            break;
        }
        let fault = *shared.fault.lock().unwrap();
        if fault == Fault::Stall {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        match fault {
            Fault::Drop => continue,
            Fault::Delay(d) => std::thread::sleep(d),
            Fault::Pass | Fault::Stall => {}
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        shared.forwarded.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = to.shutdown(Shutdown::Write);
}
