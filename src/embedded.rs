//! The embedded target: an in-process mock-hub with short timers, so the timing cases run in
//! the default tier. `conform` without `--target` and the test suites start it the same way.

use signalr_mock::{MockConfig, MockServer};

use crate::client::Target;
use crate::runner::RunOptions;

/// mock-hub's configuration for conform: an ephemeral port, fast timers, and the authorized
/// hub closing connections whose token expires (so the expiration cases run).
pub fn mock_config() -> MockConfig {
    MockConfig {
        port: 0,
        close_on_authentication_expiration: true,
        // The default run covers stateful reconnect; cases that do not ask for it get ordinary
        // connections, as from ASP.NET Core with `AllowStatefulReconnects`.
        allow_stateful_reconnects: true,
        ..MockConfig::default().fast_timers()
    }
}

/// A running embedded mock-hub and the run options that reach its conformance hub.
pub struct Embedded {
    /// The server (shut it down with [`Embedded::shutdown`]).
    pub server: MockServer,
    /// Options with the target set and `embedded` on; the rest at their defaults.
    pub opts: RunOptions,
}

/// Why the embedded mock-hub did not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the embedded mock-hub: {0}")]
pub struct StartError(String);

/// Starts mock-hub with `config` (see [`mock_config`]).
pub async fn start(config: MockConfig) -> Result<Embedded, StartError> {
    let server = MockServer::start(config)
        .await
        .map_err(|e| StartError(e.to_string()))?;
    let hub_url = reqwest::Url::parse(&server.hub_url("conformance"))
        .map_err(|e| StartError(format!("its URL: {e}")))?;
    let mut opts = RunOptions::new(Target {
        hub_url,
        headers: Vec::new(),
        access_token: None,
        token_in: Default::default(),
        tls: Default::default(),
    });
    opts.embedded = true;
    Ok(Embedded { server, opts })
}

impl Embedded {
    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
