//! Server options, with ASP.NET Core's defaults, loadable from a TOML file.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::faults::Fault;
use crate::variations::Variation;

/// Everything that can be configured. Every field has ASP.NET Core's default; a config file
/// only names what it changes (see `mock-server/mock-hub.example.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct MockConfig {
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port (0 = any free port).
    pub port: u16,
    /// `HubOptions.KeepAliveInterval` in milliseconds (0 = no pings).
    pub keep_alive_interval_ms: u64,
    /// `HubOptions.ClientTimeoutInterval` in milliseconds, armed after the client's first Ping.
    pub client_timeout_interval_ms: u64,
    /// `HubOptions.HandshakeTimeout` in milliseconds.
    pub handshake_timeout_ms: u64,
    /// `HubOptions.MaximumReceiveMessageSize` in bytes (0 = unlimited).
    pub maximum_receive_message_size: usize,
    /// `HubOptions.StreamBufferCapacity`: items buffered per upload stream.
    pub stream_buffer_capacity: usize,
    /// `HubOptions.MaximumParallelInvocationsPerClient`.
    pub maximum_parallel_invocations_per_client: usize,
    /// `HubOptions.EnableDetailedErrors` for the conformance hub.
    pub enable_detailed_errors: bool,
    /// `HttpConnectionDispatcherOptions.AllowStatefulReconnects`.
    pub allow_stateful_reconnects: bool,
    /// `HubOptions.StatefulReconnectBufferSize` in bytes.
    pub stateful_reconnect_buffer_size: usize,
    /// `ConnectionOptions.DisconnectTimeout` in milliseconds: how long a negotiated connection
    /// may stay without a transport.
    pub disconnect_timeout_ms: u64,
    /// `LongPollingOptions.PollTimeout` in milliseconds.
    pub long_poll_timeout_ms: u64,
    /// Kestrel's `RequestHeadersTimeout` in milliseconds: once a request's first byte has
    /// arrived, its headers must be complete within it.
    pub request_headers_timeout_ms: u64,
    /// Kestrel's `KeepAliveTimeout` in milliseconds: a connection with no request in progress
    /// (before its first request, or between two) is closed after it.
    pub keep_alive_timeout_ms: u64,
    /// `HttpConnectionDispatcherOptions.TransportSendTimeout` in milliseconds: a WebSocket or
    /// SSE send that does not finish within it aborts the connection.
    pub transport_send_timeout_ms: u64,
    /// `HttpConnectionDispatcherOptions.MinimumProtocolVersion` (negotiate).
    pub minimum_negotiate_version: i32,
    /// How long a hub method waits for a client result before giving up (0 = forever, as
    /// ASP.NET Core does without a cancellation token).
    pub client_result_timeout_ms: u64,
    /// Bytes queued for one slow client before its connection is aborted (ASP.NET Core
    /// aborts a send stuck longer than `TransportSendTimeout`).
    pub max_queued_bytes_per_connection: usize,
    /// Negotiated connections that have not connected yet, at most (beyond: 429).
    pub max_pending_connections: usize,
    /// Bytes read from a WebSocket at a time, at most (256 to 16384; into a buffer on the
    /// reading thread's stack: no connection keeps a read buffer). The default is the most:
    /// it costs no memory, and a smaller one takes two reads for a 2 KB message.
    pub websocket_read_buffer_size: usize,
    /// Symmetric key (UTF-8) of the tokens mock-hub issues (`/generateJwtToken`,
    /// `/contract/token`) and validates (HS256, HS384, HS512).
    pub jwt_signing_key: String,

    // --- Authentication (JwtBearer's `TokenValidationParameters`) and authorization ---
    /// RSA public key (PEM file) for validating RS256 tokens (`IssuerSigningKey` as an
    /// `RsaSecurityKey`); none = RS256 tokens are refused.
    pub jwt_rsa_public_key_file: Option<std::path::PathBuf>,
    /// `ValidIssuer`; none = the issuer is not validated.
    pub jwt_issuer: Option<String>,
    /// `ValidAudience`; none = the audience is not validated.
    pub jwt_audience: Option<String>,
    /// `ClockSkew` in seconds (ASP.NET Core: 5 minutes).
    pub jwt_clock_skew_secs: u64,
    /// The claim whose value is `Context.UserIdentifier` (JWT names such as `sub` are mapped
    /// as ASP.NET Core maps them); default: the name identifier, as `DefaultUserIdProvider`.
    pub user_id_claim: String,
    /// `CloseOnAuthenticationExpiration` on the authorized hub (`/authhub`): a connection is
    /// closed when the token it connected with expires.
    pub close_on_authentication_expiration: bool,
    /// Deliberately broken behaviours (see `mock-hub --fault list`).
    pub faults: Vec<Fault>,
    /// Legal variations of behaviour the protocol leaves open (see `mock-hub --list-variations`).
    pub variations: Vec<Variation>,
    /// Scale-out: `redis://host:port` of a Redis server shared with other nodes (none: in process).
    pub redis: Option<String>,
    /// Prefix of every Redis channel name (ASP.NET Core's `ChannelPrefix`).
    pub redis_prefix: String,
    /// The conformance hub's name in Redis channels (ASP.NET Core: the hub type's full name).
    pub hub_name: String,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 5000,
            keep_alive_interval_ms: 15_000,
            client_timeout_interval_ms: 30_000,
            handshake_timeout_ms: 15_000,
            maximum_receive_message_size: 32_768,
            stream_buffer_capacity: 10,
            maximum_parallel_invocations_per_client: 1,
            enable_detailed_errors: false,
            allow_stateful_reconnects: false,
            stateful_reconnect_buffer_size: 100_000,
            disconnect_timeout_ms: 15_000,
            long_poll_timeout_ms: 90_000,
            transport_send_timeout_ms: 10_000,
            request_headers_timeout_ms: 30_000,
            keep_alive_timeout_ms: 130_000,
            minimum_negotiate_version: 0,
            client_result_timeout_ms: 0,
            max_queued_bytes_per_connection: 16 * 1024 * 1024,
            max_pending_connections: 100_000,
            websocket_read_buffer_size: 16 * 1024,
            jwt_signing_key: "signalr-conform mock-hub development key; never use in production"
                .to_owned(),
            jwt_rsa_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_clock_skew_secs: 300,
            user_id_claim: crate::auth::NAME_IDENTIFIER.to_owned(),
            close_on_authentication_expiration: false,
            faults: Vec::new(),
            variations: Vec::new(),
            redis: None,
            redis_prefix: String::new(),
            hub_name: "SignalRConform.Reference.ConformanceHub".to_owned(),
        }
    }
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these options.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The path.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
}

impl MockConfig {
    /// Reads a TOML config file; unknown keys are errors.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Short intervals for tests: 1 s keep-alive, 3 s client timeout, 2 s handshake timeout.
    pub fn fast_timers(mut self) -> Self {
        self.keep_alive_interval_ms = 1_000;
        self.client_timeout_interval_ms = 3_000;
        self.handshake_timeout_ms = 2_000;
        self.disconnect_timeout_ms = 2_000;
        self.long_poll_timeout_ms = 3_000;
        self
    }

    pub(crate) fn keep_alive(&self) -> Option<Duration> {
        (self.keep_alive_interval_ms > 0)
            .then(|| Duration::from_millis(self.keep_alive_interval_ms))
    }
    pub(crate) fn client_timeout(&self) -> Option<Duration> {
        (self.client_timeout_interval_ms > 0)
            .then(|| Duration::from_millis(self.client_timeout_interval_ms))
    }
    pub(crate) fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms.max(1))
    }
    pub(crate) fn max_message_size(&self) -> Option<usize> {
        (self.maximum_receive_message_size > 0).then_some(self.maximum_receive_message_size)
    }
    pub(crate) fn disconnect_timeout(&self) -> Duration {
        Duration::from_millis(self.disconnect_timeout_ms.max(1))
    }
    pub(crate) fn long_poll_timeout(&self) -> Duration {
        Duration::from_millis(self.long_poll_timeout_ms.max(1))
    }
    pub(crate) fn http_timeouts(&self) -> crate::accept::HttpTimeouts {
        crate::accept::HttpTimeouts {
            request_headers: Duration::from_millis(self.request_headers_timeout_ms.max(1)),
            keep_alive: Duration::from_millis(self.keep_alive_timeout_ms.max(1)),
        }
    }
    pub(crate) fn transport_send_timeout(&self) -> Duration {
        Duration::from_millis(self.transport_send_timeout_ms.max(1))
    }
    pub(crate) fn client_result_timeout(&self) -> Option<Duration> {
        (self.client_result_timeout_ms > 0)
            .then(|| Duration::from_millis(self.client_result_timeout_ms))
    }

    /// Whether a variation is on.
    pub fn has_variation(&self, v: Variation) -> bool {
        self.variations.contains(&v)
    }

    /// Whether a fault mode is on.
    pub fn has_fault(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_is_the_defaults() {
        let text = include_str!("../mock-hub.example.toml");
        let parsed = MockConfig::from_toml(text).expect("the example parses");
        let d = MockConfig::default();
        assert_eq!(format!("{parsed:?}"), format!("{d:?}"));
    }

    #[test]
    fn unknown_keys_and_faults_are_errors() {
        assert!(MockConfig::from_toml("keep_alive = 1").is_err());
        assert!(MockConfig::from_toml("faults = [\"nope\"]").is_err());
        let c = MockConfig::from_toml("faults = [\"no-keep-alive\"]\nport = 0").expect("parses");
        assert!(c.has_fault(Fault::NoKeepAlive));
    }
}
