//! Each legal variation really changes the wire: the same exchange against mock-hub without
//! and with the variation shows the difference a conformance runner must accept.

mod common;

use common::*;
use signalr_mock::{MockConfig, Variation};
use signalr_protocol::{HubMessage, HubProtocol};

async fn with(variations: &[Variation]) -> signalr_mock::MockServer {
    server(MockConfig {
        variations: variations.to_vec(),
        ..MockConfig::default()
    })
    .await
}

fn is_invocation(m: &HubMessage, target: &str) -> bool {
    matches!(m, HubMessage::Invocation(i) if i.target == target)
}

fn is_completion(m: &HubMessage, id: &str) -> bool {
    matches!(m, HubMessage::Completion(c) if c.invocation_id == id)
}

/// In-process the caller's copy of a broadcast comes before the Completion of the invocation
/// that sent it; under `completion-first` (a backplane) after it, for every recipient.
#[tokio::test]
async fn completion_first_delivers_sends_after_the_completion() {
    for (variations, completion_first) in
        [(vec![], false), (vec![Variation::CompletionFirst], true)]
    {
        let srv = with(&variations).await;
        for p in HubProtocol::ALL {
            let mut a = Client::connect(&srv, "conformance", p).await;
            let mut b = Client::connect(&srv, "conformance", p).await;
            let b_id = b.server_connection_id().await;
            let group = format!("g-{p:?}-{completion_first}");
            assert!(is_completion(
                &b.invoke("j", "JoinGroup", vec![s(&group)]).await,
                "j"
            ));
            let sends = [
                ("SendToAll", vec![s("All"), int(1)], "All"),
                ("SendToCaller", vec![s("Caller"), int(2)], "Caller"),
                (
                    "SendToConnections",
                    vec![arr(vec![s(&b_id)]), s("Ids"), int(3)],
                    "Ids",
                ),
            ];
            for (i, (method, args, target)) in sends.into_iter().enumerate() {
                let id = i.to_string();
                a.send(&HubMessage::invoke(id.as_str(), method, args)).await;
                if target != "Ids" {
                    let first = a.expect_msg().await;
                    let second = a.expect_msg().await;
                    let (want_first, want_second) = if completion_first {
                        (is_completion(&first, &id), is_invocation(&second, target))
                    } else {
                        (is_invocation(&first, target), is_completion(&second, &id))
                    };
                    assert!(
                        want_first && want_second,
                        "{method} over {p:?} (completion-first {completion_first}): {first:?} then {second:?}"
                    );
                } else {
                    assert!(is_completion(&a.expect_msg().await, &id));
                }
                if target != "Caller" {
                    assert!(is_invocation(&b.expect_msg().await, target), "{method}");
                }
            }
            // A group send made by b itself: its own copy, then (or before) its Completion.
            b.send(&HubMessage::invoke(
                "g",
                "SendToGroup",
                vec![s(&group), s("Group"), int(4)],
            ))
            .await;
            let first = b.expect_msg().await;
            assert_eq!(
                is_completion(&first, "g"),
                completion_first,
                "group send: {first:?}"
            );
        }
    }
    assert_no_panics();
}

/// Non-2xx answers carry a Content-Length by default and use chunked transfer coding under
/// `chunked-errors`, on the WebSocket upgrade path and on plain requests alike. `No Connection
/// with that ID` is chunked either way, as ASP.NET Core sends it.
#[tokio::test]
async fn chunked_errors_chunk_every_error_answer() {
    for (variations, chunked) in [(vec![], false), (vec![Variation::ChunkedErrors], true)] {
        let srv = with(&variations).await;
        let token = negotiate_v1(&srv, "testhub-nowebsockets")
            .await
            .connection_token
            .expect("a token");
        let no_websockets = upgrade_request(&srv, &format!("/testhub-nowebsockets?id={token}"));
        let unknown = upgrade_request(&srv, "/conformance?id=no-such-connection");
        let get_negotiate = format!(
            "GET /conformance/negotiate HTTP/1.1\r\nHost: {}\r\n\r\n",
            srv.addr()
        );
        let ok_negotiate = format!(
            "POST /conformance/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            srv.addr()
        );
        for (request, status, chunked, body) in [
            (
                no_websockets,
                404,
                chunked,
                Some("WebSockets transport not supported by this end point type"),
            ),
            (get_negotiate, 405, chunked, None),
            (unknown, 404, true, Some("No Connection with that ID")),
        ] {
            let r = raw_http(&srv, &request).await;
            assert_eq!(r.status, status);
            let te = r.header("transfer-encoding").map(str::to_ascii_lowercase);
            assert_eq!(te.as_deref() == Some("chunked"), chunked, "{r:?}");
            assert_eq!(r.header("content-length").is_none(), chunked, "{r:?}");
            if let Some(body) = body {
                assert_eq!(r.text(), body);
            }
        }
        // A 2xx answer keeps its Content-Length either way.
        let r = raw_http(&srv, &ok_negotiate).await;
        assert_eq!(r.status, 200);
        assert!(r.header("content-length").is_some(), "{r:?}");
    }
    assert_no_panics();
}

/// Client-result ids are `s<n>` by default and random 22-character strings under
/// `random-invocation-ids`; the result still reaches the hub method.
#[tokio::test]
async fn random_invocation_ids_change_client_result_ids() {
    for (variations, random) in [
        (vec![], false),
        (vec![Variation::RandomInvocationIds], true),
    ] {
        let srv = with(&variations).await;
        let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        let mut ids = Vec::new();
        for n in 0..2 {
            let call = format!("c{n}");
            c.send(&HubMessage::invoke(
                call.as_str(),
                "InvokeCaller",
                vec![s("Ask"), arr(vec![]), int(0)],
            ))
            .await;
            let id = match c.expect_msg().await {
                HubMessage::Invocation(i) => i.invocation_id.expect("an id"),
                other => panic!("expected the client-result Invocation, got {other:?}"),
            };
            c.send(&ok(&id, int(n))).await;
            assert_eq!(c.expect_msg().await, ok(&call, int(n)));
            ids.push(id);
        }
        let counter_shaped = ids.iter().all(|id| {
            id.strip_prefix('s')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        assert_eq!(counter_shaped, !random, "{ids:?}");
        if random {
            assert!(ids.iter().all(|id| id.len() == 22), "{ids:?}");
            assert_ne!(ids[0], ids[1]);
        }
    }
    assert_no_panics();
}

/// `detailed-errors` is `EnableDetailedErrors`: the exception's type and message follow the
/// plain text.
#[tokio::test]
async fn detailed_errors_variation_details_errors() {
    let plain = "An unexpected error occurred invoking 'Throw' on the server.";
    for (variations, text) in [
        (vec![], plain.to_owned()),
        (
            vec![Variation::DetailedErrors],
            format!("{plain} InvalidOperationException: boom"),
        ),
    ] {
        let srv = with(&variations).await;
        let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        assert_eq!(
            c.invoke("1", "Throw", vec![s("boom")]).await,
            err("1", &text)
        );
    }
    assert_no_panics();
}

/// `mock-hub --list-variations` names every variation; an unknown `--variation` is a usage
/// error.
#[test]
fn mock_hub_lists_and_checks_variations() {
    let bin = env!("CARGO_BIN_EXE_mock-hub");
    let out = std::process::Command::new(bin)
        .arg("--list-variations")
        .output()
        .expect("mock-hub runs");
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    for v in Variation::ALL {
        assert!(listed.contains(v.name()), "{listed}");
    }
    let out = std::process::Command::new(bin)
        .args(["--variation", "no-such-variation", "--port", "0"])
        .output()
        .expect("mock-hub runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown variation"));
}
