//! Client results: the server invokes the client and waits for its Completion
//! (DefaultHubLifetimeManager.InvokeConnectionAsync; HubConnectionHandlerTests.ClientResult).
mod common;

use common::*;
use signalr_mock::MockConfig;
use signalr_protocol::{HubMessage, HubProtocol, Invocation};

/// Waits for the server's client-result Invocation and returns it.
async fn server_invocation(c: &mut Client) -> Invocation {
    match c.expect_msg().await {
        HubMessage::Invocation(i) => i,
        other => panic!("expected an Invocation, got {other:?}"),
    }
}

fn is_result_id(id: &str) -> bool {
    id.strip_prefix('s')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `InvokeCaller("Ask", [], timeout_ms)`: the hub asks the caller for a result.
fn ask_caller(id: &str, timeout_ms: i64) -> HubMessage {
    HubMessage::invoke(
        id,
        "InvokeCaller",
        vec![s("Ask"), arr(vec![]), int(timeout_ms)],
    )
}

/// `InvokeConnection(connection, "Ask", [], timeout_ms)`: the hub asks another connection.
fn ask_connection(id: &str, connection: &str, timeout_ms: i64) -> HubMessage {
    HubMessage::invoke(
        id,
        "InvokeConnection",
        vec![s(connection), s("Ask"), arr(vec![]), int(timeout_ms)],
    )
}

#[tokio::test]
async fn invoke_caller_round_trip() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&HubMessage::invoke(
            "1",
            "InvokeCaller",
            vec![s("Ask"), arr(vec![s("q"), int(1)]), int(0)],
        ))
        .await;
        let inv = server_invocation(&mut c).await;
        let id = inv
            .invocation_id
            .clone()
            .expect("a client result has an id");
        assert!(is_result_id(&id), "{id}");
        assert_eq!(inv.target, "Ask");
        assert_eq!(inv.arguments, vec![s("q"), int(1)]);
        assert_eq!(inv.stream_ids, None);
        c.send(&ok(&id, map(vec![("answer", int(42))]))).await;
        assert_eq!(
            c.expect_msg().await,
            ok("1", map(vec![("answer", int(42))]))
        );
        // A Completion without a result fails the wait (ClientResultsManager throws
        // `new HubException(null)`), so the hub method's caller gets an error.
        c.send(&ask_caller("2", 0)).await;
        let id2 = server_invocation(&mut c).await.invocation_id.unwrap();
        assert_ne!(id, id2, "each client result gets a fresh id");
        c.send(&void(&id2)).await;
        assert_eq!(
            c.expect_msg().await,
            HubMessage::completion(
                "2",
                signalr_protocol::CompletionResult::Error(
                    "An unexpected error occurred invoking 'InvokeCaller' on the server. HubException: Exception of type 'Microsoft.AspNetCore.SignalR.HubException' was thrown."
                        .into()
                )
            )
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn json_wire_form_of_a_client_result() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send_text("{\"type\":1,\"invocationId\":\"1\",\"target\":\"InvokeCaller\",\"arguments\":[\"Ask\",[\"q\"],0]}\x1e")
        .await;
    let text = c.recv_text().await;
    let id = match decode(HubProtocol::Json, text.as_bytes()) {
        HubMessage::Invocation(i) => i.invocation_id.unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        text,
        format!(
            "{{\"type\":1,\"invocationId\":\"{id}\",\"target\":\"Ask\",\"arguments\":[\"q\"]}}\x1e"
        )
    );
    c.send_text(&format!(
        "{{\"type\":3,\"invocationId\":\"{id}\",\"result\":10}}\x1e"
    ))
    .await;
    assert_eq!(
        c.recv_text().await,
        "{\"type\":3,\"invocationId\":\"1\",\"result\":10}\x1e"
    );
    assert_no_panics();
}

#[tokio::test]
async fn client_error_surfaces_as_hub_exception() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&ask_caller("1", 0)).await;
        let id = server_invocation(&mut c).await.invocation_id.unwrap();
        c.send(&err(&id, "Client didn't provide a result.")).await;
        assert_eq!(
            c.expect_msg().await,
            err(
                "1",
                "An unexpected error occurred invoking 'InvokeCaller' on the server. HubException: Client didn't provide a result."
            )
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn waiting_for_a_result_does_not_block_the_connection() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&ask_caller("1", 0)).await;
    let id = server_invocation(&mut c).await.invocation_id.unwrap();
    // The slot is given back while waiting: other invocations run.
    assert_eq!(c.invoke("2", "Echo", vec![int(2)]).await, ok("2", int(2)));
    c.send(&ok(&id, s("late"))).await;
    assert_eq!(c.expect_msg().await, ok("1", s("late")));
    assert_no_panics();
}

#[tokio::test]
async fn disconnect_while_waiting() {
    let srv = detailed_server().await;
    let mut a = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let mut b = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    let b_id = b.server_connection_id().await;
    a.send(&ask_connection("1", &b_id, 0)).await;
    let inv = server_invocation(&mut b).await;
    assert!(is_result_id(inv.invocation_id.as_deref().unwrap()));
    b.close_socket().await;
    drop(b);
    assert_eq!(
        a.expect_msg().await,
        err(
            "1",
            &format!("An unexpected error occurred invoking 'InvokeConnection' on the server. IOException: Connection '{b_id}' disconnected.")
        )
    );
    // A connection that does not exist.
    assert_eq!(
        a.invoke(
            "2",
            "InvokeConnection",
            vec![s("nobody"), s("Ask"), arr(vec![]), int(0)]
        )
        .await,
        err(
            "2",
            "An unexpected error occurred invoking 'InvokeConnection' on the server. IOException: Connection 'nobody' does not exist."
        )
    );
    assert_no_panics();
}

#[tokio::test]
async fn disconnect_while_waiting_without_detailed_errors() {
    let srv = default_server().await;
    let mut a = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let mut b = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let b_id = b.server_connection_id().await;
    a.send(&ask_connection("1", &b_id, 0)).await;
    server_invocation(&mut b).await;
    // Gone without a goodbye.
    drop(b);
    assert_eq!(
        a.expect_msg().await,
        err(
            "1",
            "An unexpected error occurred invoking 'InvokeConnection' on the server."
        )
    );
    assert_no_panics();
}

#[tokio::test]
async fn timeout_argument() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&ask_caller("1", 200)).await;
    let id = server_invocation(&mut c).await.invocation_id.unwrap();
    // Nobody answers. ASP.NET Core completes a canceled client result with a HubException,
    // whose text reaches the caller even without detailed errors.
    assert_eq!(
        c.expect_msg().await,
        err(
            "1",
            "An unexpected error occurred invoking 'InvokeCaller' on the server. HubException: Invocation canceled by the server."
        )
    );
    // A late answer is ignored.
    c.send(&ok(&id, int(1))).await;
    assert_eq!(c.invoke("2", "Echo", vec![int(2)]).await, ok("2", int(2)));
    c.expect_silence().await;
    assert_no_panics();
}

#[tokio::test]
async fn timeout_from_the_server_options() {
    let srv = server(MockConfig {
        client_result_timeout_ms: 200,
        enable_detailed_errors: true,
        ..MockConfig::default()
    })
    .await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&ask_caller("1", 0)).await;
    server_invocation(&mut c).await;
    assert_eq!(
        c.expect_msg().await,
        err(
            "1",
            "An unexpected error occurred invoking 'InvokeCaller' on the server. HubException: Invocation canceled by the server."
        )
    );
    assert_no_panics();
}

/// A Completion for another connection's client result closes the intruder with an error
/// (detailed or not, in the intruder's protocol); the result stays pending for its owner.
#[tokio::test]
async fn completion_from_the_wrong_connection_closes_it() {
    for (detailed, intruder_protocol) in
        [(true, HubProtocol::Json), (false, HubProtocol::MessagePack)]
    {
        let srv = if detailed {
            detailed_server().await
        } else {
            default_server().await
        };
        let mut a = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        let mut b = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        let mut intruder = Client::connect(&srv, "conformance", intruder_protocol).await;
        let b_id = b.server_connection_id().await;
        let intruder_id = intruder.server_connection_id().await;
        a.send(&ask_connection("1", &b_id, 0)).await;
        let id = server_invocation(&mut b).await.invocation_id.unwrap();
        intruder.send(&ok(&id, s("forged"))).await;
        let close = if detailed {
            json_close(Some(&format!(
                "Connection closed with an error. InvalidOperationException: Connection ID '{intruder_id}' is not valid for invocation ID '{id}'."
            )), true)
        } else {
            // MessagePack Close: [7, "Connection closed with an error.", true].
            msgpack_close_with_error("Connection closed with an error.", true)
        };
        intruder.expect_close_bytes(&close).await;
        // The result is still pending for b.
        b.send(&ok(&id, s("genuine"))).await;
        assert_eq!(a.expect_msg().await, ok("1", s("genuine")));
    }
    assert_no_panics();
}
