//! The hubs mock-hub serves and the endpoints they are mapped to.

use std::sync::Arc;

use signalr_protocol::Value;

use crate::config::MockConfig;
use crate::http::{Endpoint, EndpointKind};
use crate::hub::{HubError, Param, ParamType};
use crate::lifetime::HubLifetime;
use crate::transport::TransportKind;
use crate::FaultSet;

pub mod conformance;
pub mod testhub;

/// Transports this build implements.
pub const SUPPORTED_TRANSPORTS: &[TransportKind] = &[
    TransportKind::WebSockets,
    TransportKind::ServerSentEvents,
    TransportKind::LongPolling,
];

fn supported(wanted: &[TransportKind]) -> Vec<TransportKind> {
    wanted
        .iter()
        .copied()
        .filter(|t| SUPPORTED_TRANSPORTS.contains(t))
        .collect()
}

/// Every endpoint, in matching order.
pub(crate) fn endpoints(config: &MockConfig, faults: FaultSet) -> Vec<Arc<Endpoint>> {
    let all = [
        TransportKind::WebSockets,
        TransportKind::ServerSentEvents,
        TransportKind::LongPolling,
    ];
    let conformance = Arc::new(conformance::hub(config));
    let test_hub = Arc::new(testhub::test_hub());
    let test_lifetime = Arc::new(HubLifetime::new(faults));
    let hub = |path: &str,
               hub: Arc<crate::hub::Hub>,
               lifetime: Arc<HubLifetime>,
               transports: &[TransportKind],
               auth: bool,
               test_app: bool| {
        Arc::new(Endpoint {
            path: path.to_owned(),
            kind: EndpointKind::Hub { hub, lifetime },
            transports: supported(transports),
            require_auth: auth,
            test_app,
        })
    };
    vec![
        hub(
            "/conformance",
            conformance,
            Arc::new(HubLifetime::new(faults)),
            &all,
            false,
            false,
        ),
        hub(
            "/testhub",
            test_hub.clone(),
            test_lifetime.clone(),
            &all,
            false,
            true,
        ),
        hub(
            "/testhub-nowebsockets",
            test_hub,
            test_lifetime,
            &[TransportKind::ServerSentEvents, TransportKind::LongPolling],
            false,
            true,
        ),
        hub(
            "/authorizedhub",
            Arc::new(testhub::authorized_hub()),
            Arc::new(HubLifetime::new(faults)),
            &all,
            true,
            true,
        ),
        hub(
            "/uncreatable",
            Arc::new(testhub::uncreatable_hub()),
            Arc::new(HubLifetime::new(faults)),
            &all,
            false,
            true,
        ),
        Arc::new(Endpoint {
            path: "/echo".to_owned(),
            kind: EndpointKind::Echo,
            transports: supported(&all),
            require_auth: false,
            test_app: true,
        }),
    ]
}

/// Shorthand for a value parameter.
pub(crate) const fn p(t: ParamType) -> Param {
    Param::Value(t)
}

/// The string argument at `i` (binding already checked the type; null → None).
pub(crate) fn arg_str(args: &[Value], i: usize) -> Option<&str> {
    args.get(i).and_then(Value::as_str)
}

/// The integer argument at `i`.
pub(crate) fn arg_int(args: &[Value], i: usize) -> i64 {
    args.get(i).and_then(Value::as_i64).unwrap_or(0)
}

/// The string-array argument at `i` (nulls dropped).
pub(crate) fn arg_strings(args: &[Value], i: usize) -> Vec<String> {
    args.get(i)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A method taking one upload stream of strings and returning them concatenated (`UploadConcat`
/// on the conformance hub, `StreamingConcat` on the TestHub); non-string items are skipped.
pub(crate) async fn concat_upload(call: crate::call::Call) -> Result<crate::hub::Reply, HubError> {
    let mut up = call
        .take_upload(0)
        .ok_or_else(|| invalid_operation("no stream"))?;
    let mut s = String::new();
    while let Some(item) = up.next().await {
        if let Some(t) = item?.as_str() {
            s.push_str(t);
        }
    }
    Ok(Some(Value::String(s)))
}

/// `new InvalidOperationException(message)`.
pub(crate) fn invalid_operation(message: impl Into<String>) -> HubError {
    HubError::exception("InvalidOperationException", message)
}
