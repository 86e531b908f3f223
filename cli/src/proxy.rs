//! `ringmq proxy`: zmq_proxy(3) between two sockets, with an optional capture socket.

use std::time::{Duration, Instant};

use clap::Args;
use ringmq::{Options, Socket, SocketType};

use crate::shard::{self, race, until, Either};
use crate::socket::{any_type, parse_seconds, receives, sends, Attach};
use crate::Failure;

/// Move messages between a frontend and a backend socket, as zmq_proxy(3) does.
///
/// Each socket is TYPE@ENDPOINT and binds unless its --*-connect flag is given; bound endpoints
/// are printed on standard error in the order frontend, backend, capture. Messages go from the
/// frontend to the backend and, where the types allow, back: pull@…/push@… streams,
/// xsub@…/xpub@… forwards subscriptions too, router@…/dealer@… brokers requests. A sub side
/// subscribes to everything. Runs until killed, or for --duration.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The socket clients talk to, e.g. router@tcp://*:5559.
    #[arg(long, value_name = "TYPE@ENDPOINT", value_parser = parse_spec)]
    pub frontend: Spec,
    /// The socket workers talk to, e.g. dealer@tcp://*:5560.
    #[arg(long, value_name = "TYPE@ENDPOINT", value_parser = parse_spec)]
    pub backend: Spec,
    /// A socket that gets a copy of every message moved, e.g. pub@tcp://*:5561 (a copy is
    /// dropped rather than waited for when the capture socket is at its high-water mark).
    #[arg(long, value_name = "TYPE@ENDPOINT", value_parser = parse_spec)]
    pub capture: Option<Spec>,
    /// Connect the frontend to its endpoint instead of binding it.
    #[arg(long)]
    pub frontend_connect: bool,
    /// Connect the backend to its endpoint instead of binding it.
    #[arg(long)]
    pub backend_connect: bool,
    /// Connect the capture socket to its endpoint instead of binding it.
    #[arg(long, requires = "capture")]
    pub capture_connect: bool,
    /// Stop after SECONDS and exit 0; messages still queued in the proxy are dropped, as when it
    /// is killed. Default: run until killed.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
}

/// One proxy socket from the command line: `TYPE@ENDPOINT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub socket_type: SocketType,
    pub endpoint: String,
}

/// Parse `TYPE@ENDPOINT`; the type is any case, and the endpoint may hold `@` itself
/// (`pair@ipc://@name`).
fn parse_spec(text: &str) -> Result<Spec, String> {
    let Some((name, endpoint)) = text.split_once('@') else {
        return Err(format!(
            "{text:?} is not TYPE@ENDPOINT, e.g. router@tcp://*:5559"
        ));
    };
    if endpoint.is_empty() {
        return Err(format!("{text:?} has no endpoint after the @"));
    }
    Ok(Spec {
        socket_type: any_type(name)?,
        endpoint: endpoint.to_owned(),
    })
}

/// Refuse, before anything is bound, what the proxy itself would refuse: sockets that cannot
/// move a message either way, or a capture socket that cannot send.
fn check(
    frontend: SocketType,
    backend: SocketType,
    capture: Option<SocketType>,
) -> Result<(), Failure> {
    let forward = receives(frontend) && sends(backend);
    let reverse = receives(backend) && sends(frontend);
    if !forward && !reverse {
        return Err(Failure::new(format!(
            "a proxy cannot move messages between a {frontend} frontend and a {backend} backend"
        )));
    }
    if let Some(capture) = capture.filter(|&c| !sends(c)) {
        return Err(Failure::new(format!(
            "a {capture} socket cannot capture: it cannot send"
        )));
    }
    Ok(())
}

pub fn run(args: &ProxyArgs) -> Result<(), Failure> {
    check(
        args.frontend.socket_type,
        args.backend.socket_type,
        args.capture.as_ref().map(|c| c.socket_type),
    )?;
    let attach = |spec: &Spec, connect: bool| {
        let how = if connect {
            Attach::Connect(spec.endpoint.clone())
        } else {
            Attach::Bind(spec.endpoint.clone())
        };
        (spec.socket_type, how)
    };
    let frontend = attach(&args.frontend, args.frontend_connect);
    let backend = attach(&args.backend, args.backend_connect);
    let capture = args
        .capture
        .as_ref()
        .map(|c| attach(c, args.capture_connect));
    let end = args.duration.map(|d| Instant::now() + d);
    shard::run(move || async move {
        let frontend = open(&frontend)?;
        let backend = open(&backend)?;
        let capture = capture.as_ref().map(open).transpose()?;
        match race(
            ringmq::proxy(&frontend, &backend, capture.as_ref()),
            until(end),
        )
        .await
        {
            Either::Left(result) => result.map_err(Failure::from),
            Either::Right(()) => Ok(()),
        }
    })
}

/// Open one of the proxy's sockets, on the current shard.
fn open((socket_type, attach): &(SocketType, Attach)) -> Result<Socket, Failure> {
    let options = Options {
        // Stopping at --duration stops now, as a kill would.
        linger: Some(Duration::ZERO),
        ..Options::default()
    };
    let socket = Socket::with_options(*socket_type, options)?;
    if *socket_type == SocketType::Sub {
        // A SUB side forwards everything; an XSUB side subscribes as its XPUB peers ask.
        socket.subscribe(b"")?;
    }
    attach.on_shard(&socket)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_at_the_first_at() {
        assert_eq!(
            parse_spec("ROUTER@tcp://*:5559"),
            Ok(Spec {
                socket_type: SocketType::Router,
                endpoint: "tcp://*:5559".into()
            })
        );
        assert_eq!(
            parse_spec("pair@ipc://@name").map(|s| s.endpoint),
            Ok("ipc://@name".into())
        );
        assert!(parse_spec("tcp://*:5559").is_err());
        assert!(parse_spec("router@").is_err());
        assert!(parse_spec("stream@tcp://*:1").is_err());
    }

    #[test]
    fn pairs_that_cannot_move_are_refused() {
        use SocketType::*;
        assert!(check(Pull, Push, None).is_ok());
        assert!(check(Router, Dealer, Some(Pub)).is_ok());
        assert!(check(XSub, XPub, None).is_ok());
        assert!(check(Push, Pull, None).is_ok(), "backend to frontend only");
        assert!(check(Pub, Push, None).is_err());
        assert!(check(Pull, Push, Some(Sub)).is_err());
    }
}
