//! What both hubs share: argument accessors and the methods they both declare.

use futures_util::stream::{self, BoxStream, StreamExt};
use signalr_protocol::{HubMessage, Value};

use crate::call::Call;
use crate::error::HubError;
use crate::hub::{Param, ParamType, Reply};

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
