//! The hubs of Microsoft's TypeScript client functional tests
//! (`src/SignalR/clients/ts/FunctionalTests/` in dotnet/aspnetcore): `TestHub`,
//! `HubWithAuthorization` and `UncreatableHub`, with detailed errors on and PascalCase payloads.

use futures_util::stream::{self, StreamExt};
use signalr_protocol::{HubProtocol, Timestamp, Value};

use super::helpers::{arg_str, p};
use crate::auth::NAME_IDENTIFIER;
use crate::call::Call;
use crate::error::HubError;
use crate::hub::{Hub, Param, ParamType as T};

/// A property of a bound .NET object: System.Text.Json reads names case-insensitively (JSON),
/// MessagePack-CSharp's contractless resolver by exact member name.
fn prop<'a>(obj: &'a Value, name: &str, protocol: HubProtocol) -> &'a Value {
    obj.get(name, protocol == HubProtocol::Json)
        .unwrap_or(&Value::Null)
}

fn object(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::string(k), v))
            .collect(),
    )
}

/// Round-trips a value through a .NET `DateTime` as the payload serializer writes it.
fn date_time(v: &Value) -> Value {
    match v {
        Value::String(s) => Timestamp::parse_iso8601(s)
            .map(|t| Value::String(t.to_iso8601()))
            .unwrap_or_else(|| v.clone()),
        other => other.clone(),
    }
}

/// `ComplexObject { String, IntArray, ByteArray, Guid, DateTime }` bound and written back.
fn complex_object(call: &Call, v: &Value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    let pr = call.protocol();
    let guid = match prop(v, "Guid", pr) {
        Value::String(s) => Value::String(s.to_ascii_lowercase()),
        Value::Null => Value::string("00000000-0000-0000-0000-000000000000"),
        other => other.clone(),
    };
    object(vec![
        ("String", prop(v, "String", pr).clone()),
        ("IntArray", prop(v, "IntArray", pr).clone()),
        ("ByteArray", prop(v, "ByteArray", pr).clone()),
        ("Guid", guid),
        ("DateTime", date_time(prop(v, "DateTime", pr))),
    ])
}

/// `TestHub`.
pub(crate) fn test_hub() -> Hub {
    let mut h = Hub::new(true);
    h.sync("Echo", &[p(T::String)], super::helpers::echo_first);
    h.sync("GetCallerConnectionId", &[], |call, _| {
        Ok(Some(Value::string(call.connection_id())))
    });
    h.sync("GetNumRedirects", &[], |call, _| {
        match call.request().query_param("numRedirects") {
            Some(n) => n
                .trim()
                .parse::<i32>()
                .map(|n| Some(Value::Int(i64::from(n))))
                .map_err(|_| {
                    HubError::exception(
                        "FormatException",
                        format!("The input string '{n}' was not in a correct format."),
                    )
                }),
            None => Err(HubError::exception(
                "ArgumentNullException",
                "Value cannot be null. (Parameter 's')",
            )),
        }
    });
    h.sync("ThrowException", &[p(T::String)], |_, a| {
        Err(HubError::invalid_operation(
            arg_str(&a, 0).unwrap_or_default(),
        ))
    });
    h.sync("InvokeWithString", &[p(T::String)], |call, a| {
        call.send_caller("Message", vec![a.first().cloned().unwrap_or(Value::Null)]);
        Ok(None)
    });
    h.sync("SendCustomObject", &[p(T::Object)], |call, a| {
        let v = a.first().cloned().unwrap_or(Value::Null);
        let pr = call.protocol();
        let obj = if v.is_null() {
            Value::Null
        } else {
            let value = match prop(&v, "Value", pr) {
                Value::Null => Value::Int(0),
                other => other.clone(),
            };
            object(vec![
                ("Name", prop(&v, "Name", pr).clone()),
                ("Value", value),
            ])
        };
        call.send_caller("CustomObject", vec![obj]);
        Ok(None)
    });
    h.streaming("Stream", &[], |_, _| {
        Ok(stream::iter(["a", "b", "c"].map(|s| Ok(Value::string(s)))).boxed())
    });
    h.streaming("InfiniteStream", &[], super::helpers::infinite_stream);
    h.asynchronous("StreamingConcat", &[Param::Upload(T::String)], |call, _| {
        super::helpers::concat_upload(call)
    });
    h.streaming("EmptyStream", &[], |_, _| Ok(stream::empty().boxed()));
    h.streaming("StreamThrowException", &[p(T::String)], |_, a| {
        Err(HubError::invalid_operation(
            arg_str(&a, 0).unwrap_or_default(),
        ))
    });
    h.sync("GetActiveTransportName", &[], |call, _| {
        Ok(Some(Value::string(call.transport().name())))
    });
    h.sync("EchoComplexObject", &[p(T::Object)], |call, a| {
        Ok(Some(complex_object(
            call,
            a.first().unwrap_or(&Value::Null),
        )))
    });
    h.sync("SendComplexObject", &[], |_, _| {
        Ok(Some(object(vec![
            ("String", Value::string("hello world")),
            (
                "IntArray",
                Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
            ),
            ("ByteArray", Value::Binary(vec![1, 2, 3])),
            (
                "Guid",
                Value::string("00010203-0405-0607-0706-050403020100"),
            ),
            (
                "DateTime",
                Value::Timestamp(Timestamp {
                    seconds: 946_684_800,
                    nanoseconds: 0,
                }),
            ),
        ])))
    });
    h.sync("GetContentTypeHeader", &[], |call, _| {
        Ok(Some(
            call.request()
                .header("Content-Type")
                .map_or(Value::Null, Value::string),
        ))
    });
    h.sync("GetHeader", &[p(T::String)], |call, a| {
        Ok(Some(
            call.request()
                .header(arg_str(&a, 0).unwrap_or_default())
                .map_or(Value::Null, Value::string),
        ))
    });
    h.sync("GetCookie", &[p(T::String)], |call, a| {
        Ok(Some(
            call.request()
                .cookie(arg_str(&a, 0).unwrap_or_default())
                .map_or(Value::Null, Value::String),
        ))
    });
    h
}

/// `HubWithAuthorization` (the endpoint requires a token).
pub(crate) fn authorized_hub() -> Hub {
    let mut h = Hub::new(true);
    h.sync("Echo", &[p(T::String)], super::helpers::echo_first);
    h.sync("GetUserNameIdentifier", &[], |call, _| {
        Ok(Some(Value::string(
            call.request()
                .user
                .as_ref()
                .and_then(|u| u.claim(NAME_IDENTIFIER).or(u.name_identifier.as_deref()))
                .unwrap_or(""),
        )))
    });
    h.sync("GetUserClaim", &[p(T::String)], |call, a| {
        let ty = arg_str(&a, 0).unwrap_or_default();
        Ok(Some(Value::string(
            call.request()
                .user
                .as_ref()
                .and_then(|u| u.claim(ty))
                .unwrap_or(""),
        )))
    });
    h
}

/// `UncreatableHub`: its constructor cannot be satisfied, so the connection fails on connect.
pub(crate) fn uncreatable_hub() -> Hub {
    let mut h = Hub::new(true);
    h.on_connected(|_| {
        Err(HubError::invalid_operation(
            "Unable to resolve service for type 'System.Object' while attempting to activate 'FunctionalTests.UncreatableHub'.",
        ))
    });
    h
}
