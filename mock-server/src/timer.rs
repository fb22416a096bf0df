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
