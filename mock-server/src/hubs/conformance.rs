//! The conformance hub: the instruction-driven hub the conformance cases drive from outside.
//! Its contract (method names, parameters, behaviour) is `fixtures/contract/CONTRACT.md`;
//! `fixtures/contract/aspnetcore/` implements the same contract on ASP.NET Core.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use signalr_protocol::{HubMessage, Value};

use super::helpers::{arg_int, arg_str, arg_strings, p};
use crate::call::Call;
use crate::config::MockConfig;
use crate::error::HubError;
use crate::hub::{Hub, Param, ParamType as T};

/// Version of `fixtures/contract/CONTRACT.md` this hub implements.
pub(crate) const CONTRACT_VERSION: &str = "1.1";

/// Optional features a target may lack; `Describe` lists what this one has.
pub(crate) const FEATURES: &[&str] = &[
    "echo",
    "typed-binding",
    "errors",
    "delays",
    "server-streams",
    "upload-streams",
    "groups",
    "users",
    "broadcast",
    "client-results",
    "close",
    "identity",
    "authorize",
    "fail-on-connect",
    "authorized-hub",
    "group-admin",
];

fn describe(cfg: &MockConfig) -> Value {
    let n = |v: u64| Value::Int(v as i64);
    let entries: Vec<(&str, Value)> = vec![
        ("contractVersion", Value::string(CONTRACT_VERSION)),
        (
            "server",
            Value::string(concat!("signalr-mock ", env!("CARGO_PKG_VERSION"))),
        ),
        (
            "features",
            Value::Array(FEATURES.iter().map(|f| Value::string(*f)).collect()),
        ),
        (
            "transports",
            Value::Array(
                crate::transport::SUPPORTED_TRANSPORTS
                    .iter()
                    .map(|t| Value::string(t.name()))
                    .collect(),
            ),
        ),
        ("keepAliveIntervalMs", n(cfg.keep_alive_interval_ms)),
        ("clientTimeoutIntervalMs", n(cfg.client_timeout_interval_ms)),
        ("handshakeTimeoutMs", n(cfg.handshake_timeout_ms)),
        ("disconnectTimeoutMs", n(cfg.disconnect_timeout_ms)),
        ("longPollTimeoutMs", n(cfg.long_poll_timeout_ms)),
        (
            "maximumReceiveMessageSize",
            match cfg.maximum_receive_message_size {
                0 => Value::Null,
                m => n(m as u64),
            },
        ),
        ("streamBufferCapacity", n(cfg.stream_buffer_capacity as u64)),
        (
            "maximumParallelInvocationsPerClient",
            n(cfg.maximum_parallel_invocations_per_client as u64),
        ),
        ("detailedErrors", Value::Bool(cfg.enable_detailed_errors)),
        (
            "statefulReconnect",
            Value::Bool(cfg.allow_stateful_reconnects),
        ),
        // Contract 1.1, authentication: the authorized hub's options.
        (
            "closeOnAuthenticationExpiration",
            Value::Bool(cfg.close_on_authentication_expiration),
        ),
        (
            "statefulReconnectBufferSize",
            n(cfg.stateful_reconnect_buffer_size as u64),
        ),
    ];
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::string(k), v))
            .collect(),
    )
}

/// The conformance hub.
pub(crate) fn hub(cfg: &MockConfig) -> Hub {
    let mut h = Hub::new(cfg.enable_detailed_errors);
    let description = describe(cfg);
    h.on_connected(|call| match call.request().query_param("failOnConnect") {
        Some(msg) => Err(HubError::invalid_operation(msg)),
        None => Ok(()),
    });
    h.sync("Describe", &[], move |_, _| Ok(Some(description.clone())));

    // Values and results.
    h.sync("Echo", &[p(T::Any)], super::helpers::echo_first);
    h.sync("EchoString", &[p(T::String)], super::helpers::echo_first);
    h.sync("Add", &[p(T::Int32), p(T::Int32)], |_, a| {
        Ok(Some(Value::Int(arg_int(&a, 0) + arg_int(&a, 1))))
    });
    h.sync("Void", &[], |_, _| Ok(None));
    h.sync("Null", &[], |_, _| Ok(Some(Value::Null)));
    h.sync("Falsy", &[p(T::String)], |_, a| match arg_str(&a, 0) {
        Some("zero") => Ok(Some(Value::Int(0))),
        Some("false") => Ok(Some(Value::Bool(false))),
        Some("empty") => Ok(Some(Value::string(""))),
        Some("null") => Ok(Some(Value::Null)),
        other => Err(HubError::hub(format!(
            "Unknown falsy kind '{}' (zero, false, empty, null).",
            other.unwrap_or("null")
        ))),
    });
    h.sync("LargeResult", &[p(T::Int32)], |_, a| {
        Ok(Some(Value::String(
            "x".repeat(arg_int(&a, 0).clamp(0, 16 << 20) as usize),
        )))
    });

    // Errors.
    h.sync("Throw", &[p(T::String)], |_, a| {
        Err(HubError::invalid_operation(
            arg_str(&a, 0).unwrap_or_default(),
        ))
    });
    h.sync("ThrowHubException", &[p(T::String)], |_, a| {
        Err(HubError::hub(arg_str(&a, 0).unwrap_or_default()))
    });

    // Time.
    h.asynchronous(
        "Delay",
        &[p(T::Int32), p(T::Any)],
        |call, mut a| async move {
            let ms = arg_int(&a, 0).max(0) as u64;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = call.cancellation().cancelled() => {}
            }
            Ok(Some(a.remove(1)))
        },
    );

    // Server-to-client streams.
    h.streaming("Counter", &[p(T::Int32), p(T::Int32)], |_, a| {
        let count = arg_int(&a, 0).max(0);
        let delay = Duration::from_millis(arg_int(&a, 1).max(0) as u64);
        Ok(stream::iter(0..count)
            .then(move |i| async move {
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(Value::Int(i))
            })
            .boxed())
    });
    h.streaming("StreamFailure", &[p(T::Int32), p(T::String)], |_, a| {
        let count = arg_int(&a, 0).max(0);
        let msg = arg_str(&a, 1).unwrap_or_default().to_owned();
        Ok(stream::iter(0..count)
            .map(|i| Ok(Value::Int(i)))
            .chain(stream::once(async move {
                Err(HubError::invalid_operation(msg))
            }))
            .boxed())
    });
    h.streaming(
        "StreamHubException",
        &[p(T::Int32), p(T::String)],
        |_, a| {
            let count = arg_int(&a, 0).max(0);
            let msg = arg_str(&a, 1).unwrap_or_default().to_owned();
            Ok(stream::iter(0..count)
                .map(|i| Ok(Value::Int(i)))
                .chain(stream::once(async move { Err(HubError::hub(msg)) }))
                .boxed())
        },
    );
    h.streaming("FailingStream", &[p(T::String)], |_, a| {
        Err(HubError::invalid_operation(
            arg_str(&a, 0).unwrap_or_default(),
        ))
    });
    h.streaming("EmptyStream", &[], |_, _| Ok(stream::empty().boxed()));
    h.streaming("InfiniteStream", &[], super::helpers::infinite_stream);

    // Client-to-server streams.
    h.asynchronous("UploadConcat", &[Param::Upload(T::String)], |call, _| {
        super::helpers::concat_upload(call)
    });
    h.asynchronous(
        "UploadCollect",
        &[Param::Upload(T::Any)],
        |call, _| async move {
            let mut up = call
                .take_upload(0)
                .ok_or_else(|| HubError::invalid_operation("no stream"))?;
            let mut items = Vec::new();
            while let Some(item) = up.next().await {
                items.push(item?);
            }
            Ok(Some(Value::Array(items)))
        },
    );
    h.asynchronous(
        "UploadCollectTwo",
        &[Param::Upload(T::Any), Param::Upload(T::Any)],
        |call, _| async move {
            let mut out = Vec::new();
            for i in 0..2 {
                let mut up = call
                    .take_upload(i)
                    .ok_or_else(|| HubError::invalid_operation("no stream"))?;
                let mut items = Vec::new();
                while let Some(item) = up.next().await {
                    items.push(item?);
                }
                out.push(Value::Array(items));
            }
            Ok(Some(Value::Array(out)))
        },
    );
    h.streaming("UploadEcho", &[Param::Upload(T::Any)], |call, _| {
        let up = call
            .take_upload(0)
            .ok_or_else(|| HubError::invalid_operation("no stream"))?;
        Ok(stream::unfold(up, |mut up| async move {
            up.next().await.map(|item| (item, up))
        })
        .boxed())
    });

    // Groups. On a backplane, AddToGroupAsync completes once the group's channel is subscribed.
    if cfg.redis.is_some() {
        h.asynchronous("JoinGroup", &[p(T::String)], |call, a| async move {
            let g = arg_str(&a, 0).unwrap_or_default();
            call.lifetime()
                .add_to_group_async(call.connection_id(), g)
                .await?;
            Ok(None)
        });
        h.asynchronous("LeaveGroup", &[p(T::String)], |call, a| async move {
            let g = arg_str(&a, 0).unwrap_or_default();
            call.lifetime()
                .remove_from_group_async(call.connection_id(), g)
                .await?;
            Ok(None)
        });
        // Contract 1.1 `group-admin`: any connection, on any node (a group command and its ack).
        h.asynchronous(
            "AddToGroup",
            &[p(T::String), p(T::String)],
            |call, a| async move {
                let (id, g) = (arg_str(&a, 0).unwrap_or_default(), arg_str(&a, 1));
                call.lifetime()
                    .add_to_group_async(id, g.unwrap_or_default())
                    .await?;
                Ok(None)
            },
        );
        h.asynchronous(
            "RemoveFromGroup",
            &[p(T::String), p(T::String)],
            |call, a| async move {
                let (id, g) = (arg_str(&a, 0).unwrap_or_default(), arg_str(&a, 1));
                call.lifetime()
                    .remove_from_group_async(id, g.unwrap_or_default())
                    .await?;
                Ok(None)
            },
        );
    } else {
        h.sync("JoinGroup", &[p(T::String)], |call, a| {
            call.lifetime()
                .add_to_group(call.connection_id(), arg_str(&a, 0).unwrap_or_default());
            Ok(None)
        });
        h.sync("LeaveGroup", &[p(T::String)], |call, a| {
            call.lifetime()
                .remove_from_group(call.connection_id(), arg_str(&a, 0).unwrap_or_default());
            Ok(None)
        });
        // Contract 1.1 `group-admin`: any connection (unknown ids are ignored, as
        // DefaultHubLifetimeManager ignores them).
        h.sync("AddToGroup", &[p(T::String), p(T::String)], |call, a| {
            call.lifetime().add_to_group(
                arg_str(&a, 0).unwrap_or_default(),
                arg_str(&a, 1).unwrap_or_default(),
            );
            Ok(None)
        });
        h.sync(
            "RemoveFromGroup",
            &[p(T::String), p(T::String)],
            |call, a| {
                call.lifetime().remove_from_group(
                    arg_str(&a, 0).unwrap_or_default(),
                    arg_str(&a, 1).unwrap_or_default(),
                );
                Ok(None)
            },
        );
    }

    // Sends: each delivers Invocation{target: method, arguments: [payload]}.
    fn msg(a: &[Value], method_at: usize) -> HubMessage {
        HubMessage::send(
            arg_str(a, method_at).unwrap_or_default(),
            vec![a.get(method_at + 1).cloned().unwrap_or(Value::Null)],
        )
    }
    let group_name = |a: &[Value]| -> Result<String, HubError> {
        match arg_str(a, 0) {
            Some(g) if !g.is_empty() => Ok(g.to_owned()),
            _ => Err(HubError::invalid_operation(
                "Cannot send to an empty group name.",
            )),
        }
    };
    h.sync("SendToAll", &[p(T::String), p(T::Any)], |call, a| {
        call.lifetime().send_all(&[], msg(&a, 0));
        Ok(None)
    });
    h.sync(
        "SendToAllExcept",
        &[p(T::StringArray), p(T::String), p(T::Any)],
        |call, a| {
            let ex = arg_strings(&a, 0);
            let ex: Vec<&str> = ex.iter().map(String::as_str).collect();
            call.lifetime().send_all(&ex, msg(&a, 1));
            Ok(None)
        },
    );
    h.sync("SendToOthers", &[p(T::String), p(T::Any)], |call, a| {
        call.lifetime()
            .send_others(call.connection_id(), msg(&a, 0));
        Ok(None)
    });
    h.sync("SendToCaller", &[p(T::String), p(T::Any)], |call, a| {
        call.lifetime()
            .send_connections(&[call.connection_id()], msg(&a, 0));
        Ok(None)
    });
    h.sync(
        "SendToConnection",
        &[p(T::String), p(T::String), p(T::Any)],
        |call, a| {
            call.lifetime()
                .send_connections(&[arg_str(&a, 0).unwrap_or_default()], msg(&a, 1));
            Ok(None)
        },
    );
    h.sync(
        "SendToConnections",
        &[p(T::StringArray), p(T::String), p(T::Any)],
        |call, a| {
            let ids = arg_strings(&a, 0);
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            call.lifetime().send_connections(&ids, msg(&a, 1));
            Ok(None)
        },
    );
    h.sync(
        "SendToGroup",
        &[p(T::String), p(T::String), p(T::Any)],
        move |call, a| {
            let g = group_name(&a)?;
            call.lifetime().send_group(&g, &[], msg(&a, 1));
            Ok(None)
        },
    );
    h.sync(
        "SendToGroups",
        &[p(T::StringArray), p(T::String), p(T::Any)],
        |call, a| {
            let groups = arg_strings(&a, 0);
            if groups.iter().any(String::is_empty)
                || a.first().is_some_and(|v| {
                    v.as_array()
                        .is_some_and(|arr| arr.iter().any(Value::is_null))
                })
            {
                return Err(HubError::invalid_operation(
                    "Cannot send to an empty group name.",
                ));
            }
            let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
            call.lifetime().send_groups(&groups, msg(&a, 1));
            Ok(None)
        },
    );
    h.sync(
        "SendToGroupExcept",
        &[p(T::String), p(T::StringArray), p(T::String), p(T::Any)],
        move |call, a| {
            let g = group_name(&a)?;
            let ex = arg_strings(&a, 1);
            let ex: Vec<&str> = ex.iter().map(String::as_str).collect();
            call.lifetime().send_group(&g, &ex, msg(&a, 2));
            Ok(None)
        },
    );
    h.sync(
        "SendToOthersInGroup",
        &[p(T::String), p(T::String), p(T::Any)],
        move |call, a| {
            let g = group_name(&a)?;
            call.lifetime()
                .send_group(&g, &[call.connection_id()], msg(&a, 1));
            Ok(None)
        },
    );
    h.sync(
        "SendToUser",
        &[p(T::String), p(T::String), p(T::Any)],
        |call, a| {
            call.lifetime()
                .send_users(&[arg_str(&a, 0).unwrap_or_default()], msg(&a, 1));
            Ok(None)
        },
    );
    h.sync(
        "SendToUsers",
        &[p(T::StringArray), p(T::String), p(T::Any)],
        |call, a| {
            let users = arg_strings(&a, 0);
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            call.lifetime().send_users(&users, msg(&a, 1));
            Ok(None)
        },
    );

    // Identity of the caller.
    h.sync("GetConnectionId", &[], |call, _| {
        Ok(Some(Value::string(call.connection_id())))
    });
    h.sync("GetUserIdentifier", &[], |call, _| {
        Ok(Some(
            call.user_identifier().map_or(Value::Null, Value::string),
        ))
    });
    h.sync("GetTransport", &[], |call, _| {
        Ok(Some(Value::string(call.transport().name())))
    });
    h.sync("GetRequestHeader", &[p(T::String)], |call, a| {
        let name = arg_str(&a, 0).unwrap_or_default();
        Ok(Some(
            call.request()
                .header(name)
                .map_or(Value::Null, Value::string),
        ))
    });
    h.sync("GetQueryParameter", &[p(T::String)], |call, a| {
        let name = arg_str(&a, 0).unwrap_or_default();
        Ok(Some(
            call.request()
                .query_param(name)
                .map_or(Value::Null, Value::string),
        ))
    });
    h.sync("Authorized", &[], |call, _| {
        Ok(Some(
            call.user_identifier().map_or(Value::Null, Value::string),
        ))
    });
    h.authorize("Authorized");

    // Client results.
    h.asynchronous(
        "InvokeCaller",
        &[p(T::String), p(T::Any), p(T::Int32)],
        |call, a| async move {
            let args = a
                .get(1)
                .and_then(Value::as_array)
                .map(<[Value]>::to_vec)
                .unwrap_or_default();
            let timeout = timeout_arg(&a, 2);
            let id = call.connection_id().to_owned();
            let r = call
                .invoke_client(&id, arg_str(&a, 0).unwrap_or_default(), args, timeout)
                .await?;
            Ok(Some(r))
        },
    );
    h.asynchronous(
        "InvokeConnection",
        &[p(T::String), p(T::String), p(T::Any), p(T::Int32)],
        |call, a| async move {
            let args = a
                .get(2)
                .and_then(Value::as_array)
                .map(<[Value]>::to_vec)
                .unwrap_or_default();
            let timeout = timeout_arg(&a, 3);
            let r = call
                .invoke_client(
                    arg_str(&a, 0).unwrap_or_default(),
                    arg_str(&a, 1).unwrap_or_default(),
                    args,
                    timeout,
                )
                .await?;
            Ok(Some(r))
        },
    );

    // Closing from the server.
    h.sync("Abort", &[], |call, _| {
        call.abort();
        Ok(None)
    });
    h.sync("RequestClose", &[], |call, _| {
        call.request_close();
        Ok(None)
    });
    h
}

fn timeout_arg(a: &[Value], i: usize) -> Option<Duration> {
    match arg_int(a, i) {
        ms if ms > 0 => Some(Duration::from_millis(ms as u64)),
        _ => None,
    }
}

/// The contract's authorized hub (`/authhub`, contract 1.1): the conformance hub behind
/// `[Authorize]`, plus `AdminOnly` (`[Authorize(Roles = "admin")]`) and `GoldOnly`
/// (`[Authorize(Policy = "Gold")]`, a policy requiring the claim `level` = `gold`), each
/// returning the caller's user identifier.
pub(crate) fn authorized_hub(cfg: &MockConfig) -> Hub {
    let mut h = hub(cfg);
    fn user_id(call: &Call, _: Vec<Value>) -> Result<crate::hub::Reply, HubError> {
        Ok(Some(
            call.user_identifier().map_or(Value::Null, Value::string),
        ))
    }
    h.sync("AdminOnly", &[], user_id);
    h.authorize_roles("AdminOnly", &["admin"]);
    h.sync("GoldOnly", &[], user_id);
    h.authorize_claim("GoldOnly", "level", "gold");
    h
}
