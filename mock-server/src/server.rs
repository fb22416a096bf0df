//! A running server: binds, maps the endpoints (the built-in hubs and any added with
//! [`ServerBuilder::hub`]), serves until shut down.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthSettings, TokenService};
use crate::config::MockConfig;
use crate::faults::{Fault, FaultSet};
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
        if let Some(url) = &config.redis {
            attach_backplanes(&endpoints, url, &config, faults, &shutdown)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        }
        let tokens = token_service(&config, faults)
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
        let timeouts = shared.config.http_timeouts();
        let task = tokio::spawn(async move {
            crate::accept::serve(listener, router, timeouts, shutdown).await;
            sweeper.abort();
        });
        Ok(MockServer { addr, shared, task })
    }
}

/// Joins every hub to the Redis backplane: `/conformance` as `config.hub_name`, the others
/// under their path (a lifetime shared by two paths joins once).
fn attach_backplanes(
    endpoints: &[Arc<crate::endpoint::Endpoint>],
    url: &str,
    config: &MockConfig,
    faults: FaultSet,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let mut joined: Vec<&Arc<HubLifetime>> = Vec::new();
    for ep in endpoints {
        let Some(lifetime) = ep.lifetime() else {
            continue;
        };
        if joined.iter().any(|l| Arc::ptr_eq(l, lifetime)) {
            continue;
        }
        joined.push(lifetime);
        let hub_name = if ep.path == "/conformance" {
            config.hub_name.clone()
        } else {
            ep.path.trim_start_matches('/').to_owned()
        };
        let settings = crate::backplane::Settings {
            url: url.to_owned(),
            prefix: config.redis_prefix.clone(),
            hub_name,
        };
        let weak = Arc::downgrade(lifetime);
        let local: std::sync::Weak<dyn crate::backplane::LocalHub> = weak;
        let bp = crate::backplane::Backplane::start(&settings, local, faults, shutdown.clone())?;
        lifetime.attach_backplane(bp);
    }
    Ok(())
}

impl MockServer {
    /// With a Redis backplane: resolves once every hub reached Redis and subscribed its own
    /// channels (at once without one). Redis may be down: bound the wait with a timeout.
    pub async fn backplane_ready(&self) {
        for ep in &self.shared.endpoints {
            if let Some(bp) = ep.lifetime().and_then(|l| l.backplane()) {
                bp.ready().await;
            }
        }
    }

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
                _ = tick.tick() => shared.connections.sweep(
                    shared.config.disconnect_timeout(),
                    shared.faults.has(Fault::PendingNeverExpire),
                ),
                _ = shared.shutdown.cancelled() => break,
            }
        }
    })
}

/// The token validator as the config describes it (the key files read here).
fn token_service(config: &MockConfig, faults: FaultSet) -> Result<TokenService, String> {
    let rsa_public_key_pem = match &config.jwt_rsa_public_key_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            format!(
                "jwt_rsa_public_key_file {}: cannot read it: {e}",
                path.display()
            )
        })?),
        None => None,
    };
    let mut tokens = TokenService::new(AuthSettings {
        signing_key: config.jwt_signing_key.clone(),
        rsa_public_key_pem,
        issuer: config.jwt_issuer.clone(),
        audience: config.jwt_audience.clone(),
        clock_skew_secs: if faults.has(Fault::NoClockSkew) {
            0
        } else {
            i64::try_from(config.jwt_clock_skew_secs).unwrap_or(i64::MAX / 4)
        },
        user_id_claim: config.user_id_claim.clone(),
    })?;
    tokens.skip_signature = faults.has(Fault::SkipTokenSignature);
    tokens.skip_lifetime = faults.has(Fault::AcceptExpiredTokens);
    tokens.hs256_only = faults.has(Fault::Hs256Only);
    if faults.has(Fault::WrongSigningKey) {
        tokens.validate_with_another_key();
    }
    Ok(tokens)
}
