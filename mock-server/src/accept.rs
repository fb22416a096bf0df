//! The accept loop: HTTP/1.1 connections with Kestrel's limits instead of none. A client must
//! send a request's headers within the request headers timeout, and a connection idle between
//! requests is closed after the same time (hyper measures both from the end of the previous
//! response); accepting backs off while the process is out of file descriptors instead of
//! spinning. Upgraded connections (WebSockets) and requests being answered (a poll, an SSE
//! stream) are not affected.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long accepting pauses after an error other than a failed connection (e.g. EMFILE).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` fires, then lets every connection finish its
/// current request (a graceful shutdown) and returns when all have ended.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    headers_timeout: Duration,
    shutdown: CancellationToken,
) {
    // Every connection task holds a sender; `recv` returns `None` once all have ended.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let mut reported = false;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (tcp, _peer) = match accepted {
            Ok(a) => {
                reported = false;
                a
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors (or memory): wait for connections to end rather than
                // retrying at once; the error is logged once per episode, not per attempt.
                if !reported {
                    tracing::error!("accept error (retrying): {e}");
                    reported = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let (alive, shutdown) = (alive.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(headers_timeout)
                .keep_alive(true);
            let conn = builder
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(alive);
        });
    }
    drop(alive);
    drop(listener);
    let _ = all_done.recv().await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
