//! `signalr-mock`: a fully featured ASP.NET Core SignalR hub server for tests.
//!
//! It is the passing reference of `conform` and a drop-in server for client libraries: it serves
//! the conformance hub (`/conformance`, contract in `fixtures/contract/`) and the hubs
//! Microsoft's TypeScript client functional tests use (`/testhub`, `/authorizedhub`, `/echo` …),
//! with ASP.NET Core's negotiate, handshake, hub semantics and exact error texts.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use signalr_mock::{MockConfig, MockServer};
//! let server = MockServer::start(MockConfig { port: 0, ..MockConfig::default() }).await?;
//! println!("conformance hub at {}", server.hub_url("conformance"));
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod auth;
pub mod call;
pub mod config;
pub mod connection;
pub mod faults;
pub mod http;
pub mod hub;
pub mod hubs;
pub mod lifetime;
pub mod transport;

pub use config::MockConfig;
pub use faults::Fault;

/// The enabled fault modes as a bit set (cheap to copy and test on hot paths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultSet(u64);

impl FaultSet {
    /// The set of `faults`.
    pub fn new(faults: &[Fault]) -> Self {
        let mut bits = 0u64;
        for f in faults {
            if let Some(i) = Fault::ALL.iter().position(|x| x == f) {
                bits |= 1 << i;
            }
        }
        Self(bits)
    }

    /// Whether `f` is enabled.
    pub fn has(&self, f: Fault) -> bool {
        Fault::ALL
            .iter()
            .position(|x| *x == f)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// State shared by every request and connection of one server.
pub struct Shared {
    /// The options.
    pub config: MockConfig,
    /// Enabled fault modes.
    pub faults: FaultSet,
    /// Fires on shutdown.
    pub shutdown: CancellationToken,
    /// Token issuer/validator.
    pub tokens: auth::TokenService,
    /// Negotiated and connected HTTP connections.
    pub connections: http::ConnectionManager,
    /// The endpoints served.
    pub endpoints: Vec<Arc<http::Endpoint>>,
    /// `/redirect` counter of the TestHub app.
    pub redirects: std::sync::atomic::AtomicU64,
}

/// A running server.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Binds and starts serving (port 0 picks a free port).
    pub async fn start(config: MockConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind((config.bind, config.port)).await?;
        Self::serve(listener, config)
    }

    /// Serves on an already bound listener.
    pub fn serve(listener: TcpListener, config: MockConfig) -> std::io::Result<Self> {
        if config.allow_stateful_reconnects {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "allow_stateful_reconnects: stateful reconnect is not implemented by this mock-hub yet",
            ));
        }
        let addr = listener.local_addr()?;
        let faults = FaultSet::new(&config.faults);
        let shutdown = CancellationToken::new();
        let endpoints = hubs::endpoints(&config, faults);
        let tokens = auth::TokenService::new(&config.jwt_signing_key)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let shared = Arc::new(Shared {
            tokens,
            connections: http::ConnectionManager::default(),
            endpoints,
            faults,
            shutdown: shutdown.clone(),
            config,
            redirects: Default::default(),
        });
        let router = http::router(shared.clone());
        let sweeper = http::spawn_sweeper(shared.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!("server error: {e}");
            }
            sweeper.abort();
        });
        Ok(Self { addr, shared, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of a hub path, e.g. `hub_url("conformance")`.
    pub fn hub_url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url(), path.trim_start_matches('/'))
    }

    /// The server's shared state (connections, hubs), for tests and embedding.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, closes every connection (Close with allowReconnect, as an app shutdown
    /// does) and waits for the server to stop.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await;
    }

    /// Waits until the server stops (e.g. after Ctrl-C triggered [`MockServer::shutdown_token`]).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// The token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }
}
