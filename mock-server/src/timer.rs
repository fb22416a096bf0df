//! Optional timers for `select!`: a missing deadline never fires.

use std::time::Duration;

use tokio::time::Instant;

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Sleeps for `d`, or forever without one.
pub(crate) async fn sleep_opt(d: Option<Duration>) {
    sleep_until_opt(d.map(|d| Instant::now() + d)).await
}

/// Sleeps until `deadline` (forever without one) on a timer kept in `slot`: made on first use,
/// re-armed when the deadline moves. A `select!` that polls this holds a reference and a
/// deadline, not a timer: a loop that waits on rarely used timers (a stateful connection's Ack
/// and reattach deadlines) does not carry their space in every connection's task.
pub(crate) async fn sleep_in(
    slot: &mut Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    deadline: Option<Instant>,
) {
    let Some(at) = deadline else {
        return std::future::pending().await;
    };
    let timer = match slot {
        Some(t) => {
            if t.deadline() != at {
                t.as_mut().reset(at);
            }
            t
        }
        None => slot.insert(Box::pin(tokio::time::sleep_until(at))),
    };
    timer.as_mut().await
}
