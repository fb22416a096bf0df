//! The state every request and connection of one server shares.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::TokenService;
use crate::config::MockConfig;
use crate::endpoint::Endpoint;
use crate::faults::FaultSet;
use crate::http::connections::ConnectionManager;

/// State shared by every request and connection of one server.
pub(crate) struct Shared {
    /// The options.
    pub(crate) config: MockConfig,
    /// Enabled fault modes.
    pub(crate) faults: FaultSet,
    /// Fires on shutdown.
    pub(crate) shutdown: CancellationToken,
    /// Token issuer/validator.
    pub(crate) tokens: TokenService,
    /// Negotiated and connected HTTP connections.
    pub(crate) connections: ConnectionManager,
    /// The endpoints served, in matching order.
    pub(crate) endpoints: Vec<Arc<Endpoint>>,
    /// `/redirect` counter of the TestHub app.
    pub(crate) redirects: AtomicU64,
}
