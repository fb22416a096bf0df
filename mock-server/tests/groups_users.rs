//! Who receives what: all, others, caller, connections, groups, users
//! (DefaultHubLifetimeManager, HubCallerClients; ASP.NET Core's HubConnectionHandlerTests).
mod common;

use common::*;
use signalr_mock::MockServer;
use signalr_protocol::{HubMessage, HubProtocol, Value};

/// A connection with its server-side id.
struct Peer {
    c: Client,
    id: String,
    /// Messages that arrived before the reply to this peer's own invocation.
    inbox: std::collections::VecDeque<HubMessage>,
}

async fn peer(srv: &MockServer, p: HubProtocol, extra: &str) -> Peer {
    let mut c = Client::connect_with(srv, "conformance", p, extra).await;
    let id = c.server_connection_id().await;
    assert_eq!(Some(&id), c.connection_id.as_ref());
    Peer {
        c,
        id,
        inbox: Default::default(),
    }
}

/// Three connections, JSON and MessagePack mixed.
async fn trio(srv: &MockServer) -> (Peer, Peer, Peer) {
    (
        peer(srv, HubProtocol::Json, "").await,
        peer(srv, HubProtocol::MessagePack, "").await,
        peer(srv, HubProtocol::Json, "").await,
    )
}

fn received(target: &str, payload: Value) -> HubMessage {
    HubMessage::send(target, vec![payload])
}

/// Expects `msg` as the next message.
async fn gets(p: &mut Peer, msg: &HubMessage) {
    let next = match p.inbox.pop_front() {
        Some(m) => m,
        None => p.c.expect_msg().await,
    };
    assert_eq!(&next, msg, "to {}", p.id);
}

/// Proves that `p` received nothing before now: its own Echo's reply comes first. (Everything
/// for one connection leaves through one queue, in order; the sender's Completion came after
/// the send was queued.)
async fn got_nothing(p: &mut Peer) {
    assert!(p.inbox.is_empty(), "{} received {:?}", p.id, p.inbox);
    assert_eq!(
        p.c.invoke("probe", "Echo", vec![int(0)]).await,
        ok("probe", int(0)),
        "{} received something",
        p.id
    );
}

/// Invokes `target` and waits for its Completion (`"result":null`: every send method is void);
/// what the peer receives meanwhile (a send that includes the caller) goes to its inbox.
async fn run(p: &mut Peer, target: &str, args: Vec<Value>) {
    p.c.send(&HubMessage::invoke("r", target, args)).await;
    loop {
        match p.c.expect_msg().await {
            HubMessage::Completion(done) if done.invocation_id == "r" => {
                assert_eq!(
                    HubMessage::Completion(done),
                    ok("r", Value::Null),
                    "{target}"
                );
                return;
            }
            other => p.inbox.push_back(other),
        }
    }
}

fn ids(v: &[&str]) -> Value {
    arr(v.iter().map(|i| s(i)).collect())
}

#[tokio::test]
async fn all_others_caller() {
    let srv = default_server().await;
    let (mut a, mut b, mut c) = trio(&srv).await;
    let bin = Value::Binary(vec![1, 2]);

    // b speaks MessagePack, so the payload reaches the hub as bin.
    run(&mut b, "SendToAll", vec![s("All"), bin.clone()]).await;
    // Each receives it in its own protocol: bin for MessagePack, base64 for JSON.
    gets(&mut a, &received("All", s("AQI="))).await;
    gets(&mut b, &received("All", bin)).await;
    gets(&mut c, &received("All", s("AQI="))).await;

    run(&mut a, "SendToOthers", vec![s("Others"), int(1)]).await;
    gets(&mut b, &received("Others", int(1))).await;
    gets(&mut c, &received("Others", int(1))).await;
    got_nothing(&mut a).await;

    run(&mut b, "SendToCaller", vec![s("Caller"), int(2)]).await;
    // The caller's message is queued before its Completion.
    gets(&mut b, &received("Caller", int(2))).await;
    got_nothing(&mut a).await;
    got_nothing(&mut c).await;

    let except = ids(&[&a.id, &c.id]);
    run(
        &mut a,
        "SendToAllExcept",
        vec![except, s("AllExcept"), int(3)],
    )
    .await;
    gets(&mut b, &received("AllExcept", int(3))).await;
    got_nothing(&mut a).await;
    got_nothing(&mut c).await;
    assert_no_panics();
}

#[tokio::test]
async fn caller_gets_its_send_before_the_completion() {
    let srv = default_server().await;
    let mut a = peer(&srv, HubProtocol::Json, "").await;
    a.c.send_text(
        "{\"type\":1,\"invocationId\":\"1\",\"target\":\"SendToCaller\",\"arguments\":[\"M\",{\"x\":1}]}\x1e",
    )
    .await;
    assert_eq!(
        a.c.recv_text().await,
        "{\"type\":1,\"target\":\"M\",\"arguments\":[{\"x\":1}]}\x1e"
    );
    assert_eq!(
        a.c.recv_text().await,
        "{\"type\":3,\"invocationId\":\"1\",\"result\":null}\x1e"
    );
    assert_no_panics();
}

#[tokio::test]
async fn connection_and_connections() {
    let srv = default_server().await;
    let (mut a, mut b, mut c) = trio(&srv).await;
    run(
        &mut a,
        "SendToConnection",
        vec![s(&b.id), s("One"), s("hi")],
    )
    .await;
    gets(&mut b, &received("One", s("hi"))).await;
    got_nothing(&mut a).await;
    got_nothing(&mut c).await;

    // Each listed connection once, unknown ids ignored.
    let list = ids(&[&a.id, &c.id, &a.id, "unknown"]);
    run(&mut b, "SendToConnections", vec![list, s("Many"), int(5)]).await;
    gets(&mut a, &received("Many", int(5))).await;
    gets(&mut c, &received("Many", int(5))).await;
    got_nothing(&mut a).await;
    got_nothing(&mut b).await;
    got_nothing(&mut c).await;

    // An unknown connection is no error.
    run(
        &mut a,
        "SendToConnection",
        vec![s("unknown"), s("X"), int(0)],
    )
    .await;
    assert_no_panics();
}

#[tokio::test]
async fn groups() {
    let srv = default_server().await;
    let (mut a, mut b, mut c) = trio(&srv).await;
    run(&mut a, "JoinGroup", vec![s("g1")]).await;
    run(&mut b, "JoinGroup", vec![s("g1")]).await;
    run(&mut b, "JoinGroup", vec![s("g2")]).await;
    // Joining twice changes nothing.
    run(&mut b, "JoinGroup", vec![s("g2")]).await;

    run(&mut c, "SendToGroup", vec![s("g1"), s("G"), int(1)]).await;
    gets(&mut a, &received("G", int(1))).await;
    gets(&mut b, &received("G", int(1))).await;
    got_nothing(&mut c).await;

    // Group names are case-sensitive.
    run(&mut c, "SendToGroup", vec![s("G1"), s("G"), int(2)]).await;
    got_nothing(&mut a).await;
    got_nothing(&mut b).await;

    // Overlapping groups: b is in both and receives twice.
    run(
        &mut c,
        "SendToGroups",
        vec![ids(&["g1", "g2"]), s("Gs"), int(3)],
    )
    .await;
    gets(&mut a, &received("Gs", int(3))).await;
    gets(&mut b, &received("Gs", int(3))).await;
    gets(&mut b, &received("Gs", int(3))).await;
    got_nothing(&mut a).await;
    got_nothing(&mut b).await;

    run(
        &mut c,
        "SendToGroupExcept",
        vec![s("g1"), ids(&[&a.id]), s("GE"), int(4)],
    )
    .await;
    gets(&mut b, &received("GE", int(4))).await;
    got_nothing(&mut a).await;

    run(
        &mut a,
        "SendToOthersInGroup",
        vec![s("g1"), s("OG"), int(5)],
    )
    .await;
    gets(&mut b, &received("OG", int(5))).await;
    got_nothing(&mut a).await;
    got_nothing(&mut c).await;

    // Leaving (and leaving a group one is not in) works.
    run(&mut b, "LeaveGroup", vec![s("g1")]).await;
    run(&mut c, "LeaveGroup", vec![s("g1")]).await;
    run(&mut c, "SendToGroup", vec![s("g1"), s("G"), int(6)]).await;
    gets(&mut a, &received("G", int(6))).await;
    got_nothing(&mut b).await;
    got_nothing(&mut c).await;

    // An empty or unknown group gets nothing and is no error.
    run(&mut c, "SendToGroup", vec![s("nobody"), s("G"), int(7)]).await;
    got_nothing(&mut a).await;
    assert_no_panics();
}

#[tokio::test]
async fn empty_group_names() {
    for detailed in [false, true] {
        let srv = if detailed {
            detailed_server().await
        } else {
            default_server().await
        };
        let mut a = peer(&srv, HubProtocol::Json, "").await;
        let with = |m: &str| {
            let plain = format!("An unexpected error occurred invoking '{m}' on the server.");
            if detailed {
                format!("{plain} InvalidOperationException: Cannot send to an empty group name.")
            } else {
                plain
            }
        };
        assert_eq!(
            a.c.invoke("1", "SendToGroups", vec![ids(&["g", ""]), s("X"), int(1)])
                .await,
            err("1", &with("SendToGroups"))
        );
        assert_eq!(
            a.c.invoke(
                "2",
                "SendToGroups",
                vec![arr(vec![Value::Null]), s("X"), int(1)]
            )
            .await,
            err("2", &with("SendToGroups"))
        );
        assert_eq!(
            a.c.invoke("3", "SendToGroup", vec![s(""), s("X"), int(1)])
                .await,
            err("3", &with("SendToGroup"))
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn users() {
    let srv = default_server().await;
    let alice_token = contract_token(&srv, "alice").await;
    let bob_token = contract_token(&srv, "bob").await;
    let mut alice1 = peer(
        &srv,
        HubProtocol::Json,
        &format!("&access_token={alice_token}"),
    )
    .await;
    let mut alice2 = peer(
        &srv,
        HubProtocol::MessagePack,
        &format!("&access_token={alice_token}"),
    )
    .await;
    let mut bob = peer(
        &srv,
        HubProtocol::Json,
        &format!("&access_token={bob_token}"),
    )
    .await;
    let mut anon = peer(&srv, HubProtocol::Json, "").await;

    run(&mut anon, "SendToUser", vec![s("alice"), s("U"), int(1)]).await;
    gets(&mut alice1, &received("U", int(1))).await;
    gets(&mut alice2, &received("U", int(1))).await;
    got_nothing(&mut bob).await;
    got_nothing(&mut anon).await;

    // User ids are case-sensitive.
    run(&mut anon, "SendToUser", vec![s("Alice"), s("U"), int(2)]).await;
    got_nothing(&mut alice1).await;

    // Each connection at most once.
    run(
        &mut alice1,
        "SendToUsers",
        vec![ids(&["bob", "alice", "bob", "nobody"]), s("Us"), int(3)],
    )
    .await;
    gets(&mut alice1, &received("Us", int(3))).await;
    gets(&mut alice2, &received("Us", int(3))).await;
    gets(&mut bob, &received("Us", int(3))).await;
    got_nothing(&mut alice1).await;
    got_nothing(&mut alice2).await;
    got_nothing(&mut bob).await;
    got_nothing(&mut anon).await;
    assert_no_panics();
}

#[tokio::test]
async fn a_closed_connection_leaves_its_groups() {
    let srv = default_server().await;
    let lifetime = lifetime(&srv, "/conformance");
    let (mut a, mut b, _c) = trio(&srv).await;
    run(&mut a, "JoinGroup", vec![s("g")]).await;
    run(&mut b, "JoinGroup", vec![s("g")]).await;
    let b_id = b.id.clone();
    b.c.close_socket().await;
    drop(b);
    wait_until("the closed connection is gone", || {
        !lifetime.is_connected(&b_id)
    })
    .await;
    run(&mut a, "SendToGroup", vec![s("g"), s("G"), int(1)]).await;
    gets(&mut a, &received("G", int(1))).await;
    got_nothing(&mut a).await;
    // A new connection starts without groups.
    let mut d = peer(&srv, HubProtocol::Json, "").await;
    run(&mut a, "SendToGroup", vec![s("g"), s("G"), int(2)]).await;
    gets(&mut a, &received("G", int(2))).await;
    got_nothing(&mut d).await;
    assert_eq!(lifetime.connection_count(), 3);
    assert_no_panics();
}

/// Contract 1.1 `group-admin` in process: AddToGroup / RemoveFromGroup of another connection;
/// an unknown id is ignored (DefaultHubLifetimeManager.AddToGroupAsync).
#[tokio::test]
async fn add_and_remove_another_connection() {
    let srv = default_server().await;
    let (mut a, mut b, mut c) = trio(&srv).await;
    run(&mut a, "AddToGroup", vec![s(&b.id), s("admin")]).await;
    run(
        &mut a,
        "AddToGroup",
        vec![s("no-such-connection"), s("admin")],
    )
    .await;
    run(&mut c, "SendToGroup", vec![s("admin"), s("G"), int(1)]).await;
    gets(&mut b, &received("G", int(1))).await;
    got_nothing(&mut a).await;
    got_nothing(&mut c).await;

    run(&mut a, "RemoveFromGroup", vec![s(&b.id), s("admin")]).await;
    run(&mut c, "SendToGroup", vec![s("admin"), s("G"), int(2)]).await;
    got_nothing(&mut b).await;
    assert_no_panics();
}
