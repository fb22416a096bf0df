//! The hubs mock-hub serves and the endpoints they are mapped to.

use std::sync::Arc;

use futures_util::stream::{self, BoxStream, StreamExt};
use signalr_protocol::{HubMessage, TransportKind, Value};

use crate::call::Call;
use crate::config::MockConfig;
use crate::endpoint::{Endpoint, EndpointKind};
use crate::error::HubError;
use crate::faults::FaultSet;
use crate::hub::{Hub, Param, ParamType, Reply};
use crate::lifetime::HubLifetime;

pub(crate) mod conformance;
pub(crate) mod testhub;

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

/// Every endpoint, in matching order: the built-in ones, then `extra` (hubs of the embedding
/// application) at paths not taken yet.
pub(crate) fn endpoints(
    config: &MockConfig,
    faults: FaultSet,
    extra: Vec<(String, Hub)>,
) -> Vec<Arc<Endpoint>> {
    let all = [
        TransportKind::WebSockets,
        TransportKind::ServerSentEvents,
        TransportKind::LongPolling,
    ];
    let conformance = Arc::new(conformance::hub(config));
    let test_hub = Arc::new(testhub::test_hub());
    let test_lifetime = Arc::new(HubLifetime::new(faults));
    let hub = |path: &str,
               hub: Arc<Hub>,
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
    let mut endpoints = vec![
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
    ];
    for (path, h) in extra {
        if endpoints.iter().all(|ep| ep.path != path) {
            let lifetime = Arc::new(HubLifetime::new(faults));
            endpoints.push(hub(&path, Arc::new(h), lifetime, &all, false, false));
        }
    }
    endpoints
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
pub(crate) async fn concat_upload(call: Call) -> Result<Reply, HubError> {
    let mut up = call
        .take_upload(0)
        .ok_or_else(|| HubError::invalid_operation("no stream"))?;
    let mut s = String::new();
    while let Some(item) = up.next().await {
        if let Some(t) = item?.as_str() {
            s.push_str(t);
        }
    }
    Ok(Some(Value::String(s)))
}

/// `Echo(x)`: the first argument back (binding guarantees there is one).
pub(crate) fn echo_first(_: &Call, args: Vec<Value>) -> Result<Reply, HubError> {
    Ok(Some(args.into_iter().next().unwrap_or(Value::Null)))
}

/// `InfiniteStream()` (both hubs): never yields; when the stream is canceled, tells the
/// caller (`StreamCanceled`, if it is still connected) that the cancellation reached the hub.
pub(crate) fn infinite_stream(
    call: Call,
    _: Vec<Value>,
) -> Result<BoxStream<'static, Result<Value, HubError>>, HubError> {
    let token = call.cancellation().clone();
    tokio::spawn(async move {
        token.cancelled().await;
        call.lifetime().send_connections(
            &[call.connection_id()],
            HubMessage::send("StreamCanceled", vec![]),
        );
    });
    Ok(stream::pending().boxed())
}
