//! Commands that run as a task on a shard, with async sockets: the proxy (which must run where
//! its sockets live), and the monitor (which waits on its event stream and its socket at once).

use std::future::{pending, poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use crate::socket::runtime;
use crate::Failure;

/// Run the future `task` builds on a shard of a fresh runtime, blocking until it finishes and
/// every socket it opened has lingered.
pub fn run<F, Fut>(task: F) -> Result<(), Failure>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), Failure>> + 'static,
{
    let runtime = runtime()?;
    let shard = runtime.next_shard().id();
    let result = ringmq::block_on(runtime.spawn_on(shard, task)?);
    // The runtime's drop waits for the task's sockets to finish lingering.
    drop(runtime);
    result
}

/// Which of two futures finished first.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Wait for whichever of `left` and `right` finishes first, and drop the other. `left` is looked
/// at first, so it wins a tie.
pub async fn race<A: Future, B: Future>(left: A, right: B) -> Either<A::Output, B::Output> {
    let mut left = pin!(left);
    let mut right = pin!(right);
    poll_fn(|cx| {
        if let Poll::Ready(v) = left.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = right.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// Sleep until `deadline` on the current shard; without one, forever.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => ringmq::sleep(deadline.saturating_duration_since(Instant::now())).await,
        None => pending().await,
    }
}
