//! A running server: binds, maps the endpoints (the built-in hubs and any added with
//! [`ServerBuilder::hub`]), serves until shut down.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::TokenService;
use crate::config::MockConfig;
use crate::faults::FaultSet;
use crate::http::connections::ConnectionManager;
use crate::hub::Hub;
use crate::lifetime::HubLifetime;
use crate::shared::Shared;

/// A running server.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// A server being configured: options and hubs of your own (see [`MockServer::builder`]).
pub struct ServerBuilder {
    config: MockConfig,
    hubs: Vec<(String, Hub)>,
}

impl ServerBuilder {
    /// Maps `hub` at `path` (matched case-insensitively; every transport, no authorization).
    /// A path the server already serves keeps its built-in endpoint.
    pub fn hub(mut self, path: &str, hub: Hub) -> Self {
        let path = format!("/{}", path.trim_start_matches('/')).to_ascii_lowercase();
        self.hubs.push((path, hub));
        self
    }

    /// Binds `config.bind:config.port` and starts serving (port 0 picks a free port).
    pub async fn start(self) -> std::io::Result<MockServer> {
        let listener = TcpListener::bind((self.config.bind, self.config.port)).await?;
        self.serve(listener)
    }

    /// Serves on an already bound listener.
    pub fn serve(self, listener: TcpListener) -> std::io::Result<MockServer> {
        let ServerBuilder { mut config, hubs } = self;
        if config.has_variation(crate::variations::Variation::DetailedErrors) {
            config.enable_detailed_errors = true;
        }
        let addr = listener.local_addr()?;
        let faults = FaultSet::new(&config.faults);
        let shutdown = CancellationToken::new();
        let endpoints = crate::hubs::endpoints(&config, faults, hubs);
        let tokens = TokenService::new(&config.jwt_signing_key)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let shared = Arc::new(Shared {
            tokens,
            connections: ConnectionManager::default(),
            endpoints,
            faults,
            shutdown: shutdown.clone(),
            config,
            redirects: AtomicU64::new(0),
        });
        let router = crate::http::router(shared.clone());
        let sweeper = spawn_sweeper(shared.clone());
        let headers_timeout = shared.config.request_headers_timeout();
        let task = tokio::spawn(async move {
            crate::accept::serve(listener, router, headers_timeout, shutdown).await;
            sweeper.abort();
        });
        Ok(MockServer { addr, shared, task })
    }
}

impl MockServer {
    /// The paths this server maps (`/conformance`, `/testhub` …), in mapping order.
    pub fn endpoint_paths(&self) -> Vec<String> {
        self.shared
            .endpoints
            .iter()
            .map(|e| e.path.clone())
            .collect()
    }

    /// Binds and starts serving the built-in hubs (port 0 picks a free port).
    pub async fn start(config: MockConfig) -> std::io::Result<Self> {
        Self::builder(config).start().await
    }

    /// Serves the built-in hubs on an already bound listener.
    pub fn serve(listener: TcpListener, config: MockConfig) -> std::io::Result<Self> {
        Self::builder(config).serve(listener)
    }

    /// A server with these options, to which hubs of your own can be added.
    pub fn builder(config: MockConfig) -> ServerBuilder {
        ServerBuilder {
            config,
            hubs: Vec::new(),
        }
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

    /// The connections, groups and users of the hub mapped at `path` (e.g. `"/conformance"`).
    pub fn lifetime(&self, path: &str) -> Option<Arc<HubLifetime>> {
        let path = format!("/{}", path.trim_start_matches('/')).to_ascii_lowercase();
        self.shared
            .endpoints
            .iter()
            .find(|ep| ep.path == path)
            .and_then(|ep| ep.lifetime().cloned())
    }

    /// How many negotiated connections the server still holds (any transport, pending, open
    /// or ended but not yet disposed): what a hostile or vanished client can make it keep.
    pub fn http_connections(&self) -> usize {
        self.shared.connections.len()
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

/// Disposes of negotiated connections that never connected, and of ended ones whose client did
/// not come back within `DisconnectTimeout`.
fn spawn_sweeper(shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => shared.connections.sweep(shared.config.disconnect_timeout()),
                _ = shared.shutdown.cancelled() => break,
            }
        }
    })
}
