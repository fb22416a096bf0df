//! The paths a server maps (`MapHub` / `MapConnectionHandler`) and what each serves.

use std::sync::Arc;

use signalr_protocol::TransportKind;

use crate::hub::Hub;
use crate::lifetime::HubLifetime;

/// What an endpoint serves.
pub(crate) enum EndpointKind {
    /// A hub.
    Hub {
        /// The hub's methods.
        hub: Arc<Hub>,
        /// Its connections, groups and users (shared by endpoints of the same hub type).
        lifetime: Arc<HubLifetime>,
    },
    /// A raw connection that echoes every byte (`EchoConnectionHandler`).
    Echo,
}

/// A mapped path.
pub(crate) struct Endpoint {
    /// Lower-case path, e.g. `/testhub`.
    pub(crate) path: String,
    /// What it serves.
    pub(crate) kind: EndpointKind,
    /// Enabled transports.
    pub(crate) transports: Vec<TransportKind>,
    /// `[Authorize]` on the hub: negotiate and transports need a valid token.
    pub(crate) require_auth: bool,
    /// `CloseOnAuthenticationExpiration` on this endpoint.
    pub(crate) close_on_auth_expiration: bool,
    /// Belongs to the TestHub app (cookies on negotiate, 204 for every OPTIONS).
    pub(crate) test_app: bool,
    /// `HttpConnectionDispatcherOptions.AllowStatefulReconnects` for this path.
    pub(crate) allow_stateful_reconnects: bool,
}

impl Endpoint {
    /// The lifetime of the hub served here, if it is a hub.
    pub(crate) fn lifetime(&self) -> Option<&Arc<HubLifetime>> {
        match &self.kind {
            EndpointKind::Hub { lifetime, .. } => Some(lifetime),
            EndpointKind::Echo => None,
        }
    }
}
