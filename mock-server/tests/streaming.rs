//! Server-to-client streams and client-to-server uploads (HubProtocol.md § Streaming,
//! § Upload streaming; DefaultHubDispatcher; ASP.NET Core's HubConnectionHandlerTests).
mod common;

use common::*;
use signalr_protocol::{CompletionResult, HubMessage, HubProtocol};

#[tokio::test]
async fn counter_items_then_completion_without_result() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send_text(
        "{\"type\":4,\"invocationId\":\"s\",\"target\":\"Counter\",\"arguments\":[3,0]}\x1e",
    )
    .await;
    for i in 0..3 {
        assert_eq!(
            c.recv_text().await,
            format!("{{\"type\":2,\"invocationId\":\"s\",\"item\":{i}}}\x1e")
        );
    }
    assert_eq!(
        c.recv_text().await,
        "{\"type\":3,\"invocationId\":\"s\"}\x1e"
    );

    let mut m = Client::connect(&srv, "conformance", HubProtocol::MessagePack).await;
    m.send(&stream_invocation(
        "xyz",
        "Counter",
        vec![int(2), int(1)],
        None,
    ))
    .await;
    // StreamItem "xyz" 0: 94 02 80 A3 "xyz" 00.
    assert_eq!(
        m.recv_raw().await.unwrap(),
        framed(&[0x94, 0x02, 0x80, 0xa3, b'x', b'y', b'z', 0x00])
    );
    assert_eq!(m.expect_msg().await, HubMessage::stream_item("xyz", int(1)));
    assert_eq!(
        m.recv_raw().await.unwrap(),
        framed(&[0x94, 0x03, 0x80, 0xa3, b'x', b'y', b'z', 0x02])
    );
    assert_no_panics();
}

#[tokio::test]
async fn stream_errors() {
    for detailed in [false, true] {
        let srv = if detailed {
            detailed_server().await
        } else {
            default_server().await
        };
        let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
        let streaming = "An error occurred on the server while streaming results.";

        c.send(&stream_invocation(
            "1",
            "StreamFailure",
            vec![int(2), s("boom")],
            None,
        ))
        .await;
        assert_eq!(c.expect_msg().await, HubMessage::stream_item("1", int(0)));
        assert_eq!(c.expect_msg().await, HubMessage::stream_item("1", int(1)));
        let text = if detailed {
            format!("{streaming} InvalidOperationException: boom")
        } else {
            streaming.to_owned()
        };
        assert_eq!(c.expect_msg().await, err("1", &text));

        c.send(&stream_invocation(
            "2",
            "StreamHubException",
            vec![int(1), s("hub boom")],
            None,
        ))
        .await;
        assert_eq!(c.expect_msg().await, HubMessage::stream_item("2", int(0)));
        assert_eq!(
            c.expect_msg().await,
            err("2", &format!("{streaming} HubException: hub boom"))
        );

        c.send(&stream_invocation(
            "3",
            "FailingStream",
            vec![s("early")],
            None,
        ))
        .await;
        let plain = "An unexpected error occurred invoking 'FailingStream' on the server.";
        let text = if detailed {
            format!("{plain} InvalidOperationException: early")
        } else {
            plain.to_owned()
        };
        assert_eq!(c.expect_msg().await, err("3", &text));
    }
    assert_no_panics();
}

#[tokio::test]
async fn cancel_invocation_ends_the_stream_without_error() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&stream_invocation("inf", "InfiniteStream", vec![], None))
            .await;
        // The stream does not block the connection.
        assert_eq!(c.invoke("e", "Echo", vec![int(1)]).await, ok("e", int(1)));
        c.send(&cancel("inf")).await;
        let mut got = vec![c.expect_msg().await, c.expect_msg().await];
        got.sort_by_key(|m| m.message_type());
        assert_eq!(
            got,
            vec![HubMessage::send("StreamCanceled", vec![]), void("inf")]
        );
        // Canceling again, or an unknown id, is ignored.
        c.send(&cancel("inf")).await;
        c.send(&cancel("nope")).await;
        assert_eq!(c.invoke("e", "Echo", vec![int(2)]).await, ok("e", int(2)));
        c.expect_silence().await;
    }
    assert_no_panics();
}

#[tokio::test]
async fn counter_can_be_canceled_midway() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&stream_invocation(
        "c",
        "Counter",
        vec![int(1000), int(20)],
        None,
    ))
    .await;
    assert_eq!(c.expect_msg().await, HubMessage::stream_item("c", int(0)));
    c.send(&cancel("c")).await;
    // Items already on their way may still arrive; the stream ends with an empty Completion.
    loop {
        match c.expect_msg().await {
            HubMessage::StreamItem(i) => assert_eq!(i.invocation_id, "c"),
            other => {
                assert_eq!(other, void("c"));
                break;
            }
        }
    }
    c.expect_silence().await;
    assert_no_panics();
}

#[tokio::test]
async fn duplicate_stream_invocation_id() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&stream_invocation("dup", "InfiniteStream", vec![], None))
        .await;
    c.send(&stream_invocation(
        "dup",
        "Counter",
        vec![int(1), int(0)],
        None,
    ))
    .await;
    assert_eq!(
        c.expect_msg().await,
        err("dup", "Invocation ID 'dup' is already in use.")
    );
    // Once a stream has ended, its id can be used again.
    c.send(&stream_invocation("again", "EmptyStream", vec![], None))
        .await;
    assert_eq!(c.expect_msg().await, void("again"));
    c.send(&stream_invocation(
        "again",
        "Counter",
        vec![int(1), int(0)],
        None,
    ))
    .await;
    assert_eq!(
        c.expect_msg().await,
        HubMessage::stream_item("again", int(0))
    );
    assert_eq!(c.expect_msg().await, void("again"));
    assert_no_panics();
}

#[tokio::test]
async fn empty_stream() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&stream_invocation("1", "EmptyStream", vec![], None))
            .await;
        assert_eq!(c.expect_msg().await, void("1"));
    }
    assert_no_panics();
}

#[tokio::test]
async fn upload_concat() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&upload_invocation("1", "UploadConcat", vec!["u"]))
            .await;
        for piece in ["B", "E", "A", "N", "E", "D"] {
            c.send(&HubMessage::stream_item("u", s(piece))).await;
        }
        c.expect_silence().await;
        c.send(&void("u")).await;
        assert_eq!(c.expect_msg().await, ok("1", s("BEANED")));
    }
    assert_no_panics();
}

#[tokio::test]
async fn upload_collect_keeps_item_types() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&upload_invocation("1", "UploadCollect", vec!["u"]))
            .await;
        let items = vec![
            int(1),
            s("two"),
            signalr_protocol::Value::Null,
            arr(vec![int(3)]),
            map(vec![("k", signalr_protocol::Value::Bool(true))]),
        ];
        for i in &items {
            c.send(&HubMessage::stream_item("u", i.clone())).await;
        }
        c.send(&void("u")).await;
        assert_eq!(c.expect_msg().await, ok("1", arr(items)));
    }
    assert_no_panics();
}

#[tokio::test]
async fn two_uploads_interleaved() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&upload_invocation("1", "UploadCollectTwo", vec!["a", "b"]))
        .await;
    for i in 0..4 {
        c.send(&HubMessage::stream_item("b", int(10 + i))).await;
        c.send(&HubMessage::stream_item("a", int(i))).await;
    }
    c.send(&void("b")).await;
    c.send(&void("a")).await;
    assert_eq!(
        c.expect_msg().await,
        ok(
            "1",
            arr(vec![
                arr((0..4).map(int).collect()),
                arr((10..14).map(int).collect()),
            ])
        )
    );
    assert_no_panics();
}

#[tokio::test]
async fn upload_completed_with_an_error() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&upload_invocation("1", "UploadConcat", vec!["u"]))
            .await;
        c.send(&HubMessage::stream_item("u", s("partial"))).await;
        c.send(&err("u", "Something bad")).await;
        assert_eq!(
            c.expect_msg().await,
            err(
                "1",
                "An unexpected error occurred invoking 'UploadConcat' on the server. HubException: Something bad"
            )
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn upload_echo_streams_items_back() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&stream_invocation(
            "1",
            "UploadEcho",
            vec![],
            Some(vec!["u"]),
        ))
        .await;
        c.send(&HubMessage::stream_item("u", s("x"))).await;
        assert_eq!(c.expect_msg().await, HubMessage::stream_item("1", s("x")));
        c.send(&HubMessage::stream_item("u", int(2))).await;
        assert_eq!(c.expect_msg().await, HubMessage::stream_item("1", int(2)));
        c.send(&void("u")).await;
        assert_eq!(c.expect_msg().await, void("1"));
    }
    assert_no_panics();
}

#[tokio::test]
async fn items_for_unknown_streams_are_ignored() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::connect(&srv, "conformance", p).await;
        c.send(&HubMessage::stream_item("nope", int(1))).await;
        c.send(&void("nope")).await;
        c.send(&err("nope2", "x")).await;
        c.send(&HubMessage::completion(
            "nope3",
            CompletionResult::Value(int(1)),
        ))
        .await;
        assert_eq!(c.invoke("1", "Echo", vec![int(1)]).await, ok("1", int(1)));
        c.expect_silence().await;
    }
    assert_no_panics();
}

#[tokio::test]
async fn items_after_the_upload_ended_are_ignored() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&upload_invocation("1", "UploadConcat", vec!["u"]))
        .await;
    c.send(&HubMessage::stream_item("u", s("a"))).await;
    c.send(&void("u")).await;
    assert_eq!(c.expect_msg().await, ok("1", s("a")));
    c.send(&HubMessage::stream_item("u", s("late"))).await;
    c.send(&void("u")).await;
    assert_eq!(c.invoke("2", "Echo", vec![int(2)]).await, ok("2", int(2)));
    assert_no_panics();
}

/// A second invocation that reuses an open upload's stream id takes the id over
/// (`StreamTracker.AddStream` replaces the entry): its items and completion go to the second
/// invocation, and the first one never completes while the connection lives.
#[tokio::test]
async fn a_reused_stream_id_belongs_to_the_newest_invocation() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    c.send(&upload_invocation("1", "UploadConcat", vec!["u"]))
        .await;
    c.send(&HubMessage::stream_item("u", s("a"))).await;
    c.send(&upload_invocation("2", "UploadConcat", vec!["u"]))
        .await;
    c.send(&HubMessage::stream_item("u", s("b"))).await;
    c.send(&void("u")).await;
    assert_eq!(c.expect_msg().await, ok("2", s("b")));
    // Everything sent so far has been dispatched once Echo answers: invocation 1 is still open.
    assert_eq!(c.invoke("3", "Echo", vec![int(3)]).await, ok("3", int(3)));
    assert_no_panics();
}
