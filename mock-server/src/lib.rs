//! `signalr-mock`: a fully featured ASP.NET Core SignalR hub server for tests.
//!
//! It is the passing reference of `conform` and a drop-in server for client libraries: it serves
//! the conformance hub (`/conformance`, contract in `fixtures/contract/`) and the hubs
//! Microsoft's TypeScript client functional tests use (`/testhub`, `/authorizedhub`, `/echo` …),
//! with ASP.NET Core's negotiate, handshake, hub semantics and exact error texts.
//!
//! # Starting a server
//!
//! [`MockServer::start`] binds (port 0 picks a free port) and serves until
//! [`MockServer::shutdown`]. [`MockConfig`] holds ASP.NET Core's options (keep-alive, timeouts,
//! message size, parallel invocations …); [`MockConfig::fast_timers`] shortens the timers for
//! tests.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use signalr_mock::{MockConfig, MockServer};
//! let server = MockServer::start(MockConfig { port: 0, ..MockConfig::default() }).await?;
//! println!("conformance hub at {}", server.hub_url("conformance"));
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Faults
//!
//! Each [`Fault`] breaks exactly one behaviour (`MockConfig { faults: vec![…], .. }`), so a
//! client library can be tested against a misbehaving server.
//!
//! # Variations
//!
//! Each [`Variation`] is the opposite of a fault: a behaviour the protocol leaves open that
//! correct, real deployments show (a backplane's ordering, chunked error bodies, random
//! client-result ids, detailed errors), which a conformance runner must accept
//! (`MockConfig { variations: vec![…], .. }`, `mock-hub --variation NAME`).
//!
//! # Hubs of your own
//!
//! A [`Hub`] is a set of methods with typed parameters ([`Param`], [`ParamType`]): arguments
//! are bound as ASP.NET Core binds them, and a method that fails returns a [`HubError`] (whose
//! text reaches the client as ASP.NET Core's would). Each method gets a [`Call`]: the caller's
//! identity and request ([`RequestInfo`]), upload streams ([`Upload`]), cancellation, client
//! results, and the hub's connections, groups and users ([`HubLifetime`]) to send to. Map it
//! with [`MockServer::builder`]; `examples/custom_hub.rs` is a complete program.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use signalr_mock::{Hub, HubError, MockConfig, MockServer, Param, ParamType, Value};
//! let mut chat = Hub::new(false);
//! chat.sync("Shout", &[Param::Value(ParamType::String)], |_, args| {
//!     let text = args.first().and_then(Value::as_str).ok_or_else(|| HubError::hub("no text"))?;
//!     Ok(Some(Value::String(text.to_uppercase())))
//! });
//! let server = MockServer::builder(MockConfig::default()).hub("/chat", chat).start().await?;
//! # server.shutdown().await; Ok(()) }
//! ```
//!
//! # Rooms
//!
//! Imports only go down this list (no cycles): `server` (start, shutdown, sweeper) → `http`
//! (route table, negotiate, transport requests) → `shared` (per-server state; it holds
//! `http::connections`, the connection table, which imports only `transport` and `faults`) → `hubs` (built-in hubs) → `endpoint` → `connection` (handshake, receive loop,
//! dispatcher) → `transport` (WebSockets, SSE, Long Polling) → `hub` → `call` → `lifetime` →
//! `handle` (a connection's queue) → `outgoing` (encoding, fault shaping) → `request`, `auth`,
//! `config`, `error`, `faults`, `variations`, `timer`.
#![forbid(unsafe_code)]

mod accept;
mod auth;
mod backplane;
mod call;
mod config;
mod connection;
mod endpoint;
mod error;
mod faults;
mod handle;
mod http;
mod hub;
mod hubs;
mod lifetime;
mod outgoing;
mod request;
mod server;
mod shared;
mod timer;
mod transport;
mod variations;

pub use auth::{User, NAME_IDENTIFIER};
pub use call::{Call, Upload};
pub use config::MockConfig;
pub use error::HubError;
pub use faults::Fault;
pub use hub::{Hub, Param, ParamType, Reply};
pub use lifetime::HubLifetime;
pub use request::{RequestHeaders, RequestInfo};
pub use server::{MockServer, ServerBuilder};
pub use signalr_protocol::{HubMessage, TransportKind, Value};
pub use transport::SUPPORTED_TRANSPORTS;
pub use variations::Variation;
