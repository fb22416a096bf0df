//! Scale-out: mock-hub nodes on a real Redis server (`--redis`), in ASP.NET Core's backplane
//! format (`RedisHubLifetimeManager`). Each test starts its own `redis-server` on a free port of
//! 127.0.0.1. Without `redis-server` the tests say so and pass, except in CI (`CI=true`), where
//! a missing Redis fails them (`.ci/run` installs it).
mod common;

use std::collections::VecDeque;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use signalr_mock::{Hub, MockConfig, MockServer, Param, ParamType, Value};
use signalr_protocol::{CompletionResult, HubMessage, HubProtocol};

/// The recorded payloads the format is checked against (fixtures/backplane/payloads.toml).
const FIXTURES: &str = include_str!("../../fixtures/backplane/payloads.toml");
const HUB: &str = "SignalRConform.Reference.ConformanceHub";

// ---------------------------------------------------------------------------------------------
// A real redis-server, and what these tests ask of it

#[path = "support/redis_server.rs"]
mod redis_server;
use redis_server::{redis_available, RedisServer as Redis};

impl Redis {
    async fn conn(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    async fn cmd(&self, args: &[&str]) -> redis::Value {
        let mut c = self.conn().await.expect("redis connection");
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut c).await.expect("redis command")
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> i64 {
        let mut c = self.conn().await.expect("redis connection");
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut c)
            .await
            .expect("publish")
    }

    /// Subscribers of one channel.
    async fn numsub(&self, channel: &str) -> i64 {
        match self.cmd(&["PUBSUB", "NUMSUB", channel]).await {
            redis::Value::Array(v) => match v.get(1) {
                Some(redis::Value::Int(n)) => *n,
                other => panic!("NUMSUB: {other:?}"),
            },
            other => panic!("NUMSUB: {other:?}"),
        }
    }

    /// Every channel with a subscriber.
    async fn channels(&self) -> Vec<String> {
        match self.cmd(&["PUBSUB", "CHANNELS"]).await {
            redis::Value::Array(v) => {
                let mut names: Vec<String> = v
                    .into_iter()
                    .map(|c| match c {
                        redis::Value::BulkString(b) => String::from_utf8(b).expect("utf-8"),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                names.sort();
                names
            }
            other => panic!("PUBSUB CHANNELS: {other:?}"),
        }
    }

    /// Waits until `channel` has `n` subscribers.
    async fn await_numsub(&self, channel: &str, n: i64) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let now = self.numsub(channel).await;
            if now == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{channel} has {now} subscribers, not {n}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A subscription of the test's own, to see what nodes publish.
    async fn listen(&self, channel: &str) -> redis::aio::PubSub {
        let mut ps = redis::Client::open(self.url())
            .expect("url")
            .get_async_pubsub()
            .await
            .expect("pubsub");
        ps.subscribe(channel).await.expect("subscribe");
        ps
    }
}

async fn next_payload(ps: &mut redis::aio::PubSub) -> Vec<u8> {
    let msg = tokio::time::timeout(TIMEOUT, ps.on_message().next())
        .await
        .expect("a message on the test's subscription")
        .expect("subscription open");
    msg.get_payload_bytes().to_vec()
}

// ---------------------------------------------------------------------------------------------
// Nodes and connections

/// A hub of the test's own: adds and removes any connection (of any node) to/from a group.
fn scale_hub() -> Hub {
    let mut h = Hub::new(true);
    let s = Param::Value(ParamType::String);
    h.asynchronous("Add", &[s, s], |call, a| async move {
        let (id, g) = (str_arg(&a, 0), str_arg(&a, 1));
        call.lifetime().add_to_group_async(&id, &g).await?;
        Ok(None)
    });
    h.asynchronous("Remove", &[s, s], |call, a| async move {
        let (id, g) = (str_arg(&a, 0), str_arg(&a, 1));
        call.lifetime().remove_from_group_async(&id, &g).await?;
        Ok(None)
    });
    h.sync("Id", &[], |call, _| {
        Ok(Some(Value::string(call.connection_id())))
    });
    h.sync("Group", &[s, s], |call, a| {
        let msg = HubMessage::send(str_arg(&a, 1), vec![Value::string(str_arg(&a, 0))]);
        call.lifetime().send_group(&str_arg(&a, 0), &[], msg);
        Ok(None)
    });
    h
}

fn str_arg(a: &[Value], i: usize) -> String {
    a.get(i)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn node(redis: &Redis, prefix: &str) -> MockServer {
    watch_panics();
    let mut config = MockConfig {
        port: 0,
        redis: Some(redis.url()),
        redis_prefix: prefix.to_owned(),
        ..MockConfig::default()
    };
    config.enable_detailed_errors = true;
    let srv = MockServer::builder(config)
        .hub("scale", scale_hub())
        .start()
        .await
        .expect("node starts");
    tokio::time::timeout(TIMEOUT, srv.backplane_ready())
        .await
        .expect("the node reaches Redis");
    srv
}

struct Peer {
    c: Client,
    id: String,
    inbox: VecDeque<HubMessage>,
    calls: u64,
}

impl Peer {
    async fn join(srv: &MockServer, hub: &str, p: HubProtocol, extra: &str) -> Peer {
        let mut c = Client::connect_with(srv, hub, p, extra).await;
        let method = if hub == "scale" {
            "Id"
        } else {
            "GetConnectionId"
        };
        let id = match c.invoke("id", method, vec![]).await {
            HubMessage::Completion(c) => match c.result {
                CompletionResult::Value(v) => v.as_str().expect("id").to_owned(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        Peer {
            c,
            id,
            inbox: VecDeque::new(),
            calls: 0,
        }
    }

    /// Invokes and waits for the Completion; whatever else arrives meanwhile is kept in order.
    async fn call(&mut self, target: &str, args: Vec<Value>) -> CompletionResult {
        self.calls += 1;
        let id = format!("c{}", self.calls);
        self.c
            .send(&HubMessage::invoke(id.clone(), target, args))
            .await;
        loop {
            match self.c.expect_msg().await {
                HubMessage::Completion(c) if c.invocation_id == id => return c.result,
                other => self.inbox.push_back(other),
            }
        }
    }

    async fn run(&mut self, target: &str, args: Vec<Value>) {
        if let CompletionResult::Error(e) = self.call(target, args).await {
            panic!("{target} failed: {e}");
        }
    }

    async fn next(&mut self) -> HubMessage {
        match self.inbox.pop_front() {
            Some(m) => m,
            None => self.c.expect_msg().await,
        }
    }

    async fn gets(&mut self, target: &str, payload: &str) {
        let m = self.next().await;
        assert_eq!(
            m,
            HubMessage::send(target, vec![s(payload)]),
            "to {}",
            self.id
        );
    }
}

/// Proves that everything `peers[from]`'s node published before now has been delivered, and
/// nothing more: a broadcast from the same node comes after it (Redis keeps a publisher's
/// order to every subscriber), so each peer's next message must be this fence.
async fn fence(peers: &mut [Peer], from: usize, n: i64) {
    peers[from].run("SendToAll", vec![s("fence"), int(n)]).await;
    for p in peers.iter_mut() {
        let m = p.next().await;
        assert_eq!(
            m,
            HubMessage::send("fence", vec![int(n)]),
            "to {}: something before the fence",
            p.id
        );
    }
}

fn ids(v: &[&str]) -> Value {
    arr(v.iter().map(|i| s(i)).collect())
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Every `Clients.*` target, sent from either node, reaches the right connections on both
/// nodes exactly once.
#[tokio::test]
async fn every_target_reaches_the_right_connections_on_every_node_once() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let (a, b) = (node(&redis, "t").await, node(&redis, "t").await);
    let alice = contract_token(&a, "alice").await;
    let bob = contract_token(&a, "bob").await;
    let mut p = vec![
        Peer::join(
            &a,
            "conformance",
            HubProtocol::Json,
            &format!("&access_token={alice}"),
        )
        .await,
        Peer::join(&a, "conformance", HubProtocol::MessagePack, "").await,
        Peer::join(
            &b,
            "conformance",
            HubProtocol::Json,
            &format!("&access_token={alice}"),
        )
        .await,
        Peer::join(
            &b,
            "conformance",
            HubProtocol::MessagePack,
            &format!("&access_token={bob}"),
        )
        .await,
    ];
    let id: Vec<String> = p.iter().map(|p| p.id.clone()).collect();
    let mut fences = 0;

    // All, AllExcept, Others.
    p[0].run("SendToAll", vec![s("M"), s("all")]).await;
    for q in p.iter_mut() {
        q.gets("M", "all").await;
    }
    fences += 1;
    fence(&mut p, 0, fences).await;
    p[3].run(
        "SendToAllExcept",
        vec![ids(&[&id[0], &id[3]]), s("M"), s("except")],
    )
    .await;
    p[1].gets("M", "except").await;
    p[2].gets("M", "except").await;
    fences += 1;
    fence(&mut p, 3, fences).await;
    p[2].run("SendToOthers", vec![s("M"), s("others")]).await;
    for i in [0, 1, 3] {
        p[i].gets("M", "others").await;
    }
    fences += 1;
    fence(&mut p, 2, fences).await;

    // Client(s): a connection on the other node, and a list across both.
    p[0].run("SendToConnection", vec![s(&id[3]), s("X"), s("direct")])
        .await;
    p[3].gets("X", "direct").await;
    p[0].run(
        "SendToConnections",
        vec![ids(&[&id[1], &id[2], &id[2]]), s("X"), s("many")],
    )
    .await;
    p[1].gets("X", "many").await;
    p[2].gets("X", "many").await;
    fences += 1;
    fence(&mut p, 0, fences).await;
    p[1].run("SendToCaller", vec![s("X"), s("self")]).await;
    p[1].gets("X", "self").await;
    fences += 1;
    fence(&mut p, 1, fences).await;

    // Groups: members on both nodes.
    p[0].run("JoinGroup", vec![s("g1")]).await;
    p[2].run("JoinGroup", vec![s("g1")]).await;
    p[3].run("JoinGroup", vec![s("g2")]).await;
    p[1].run("SendToGroup", vec![s("g1"), s("G"), s("grp")])
        .await;
    p[0].gets("G", "grp").await;
    p[2].gets("G", "grp").await;
    p[3].run(
        "SendToGroupExcept",
        vec![s("g1"), ids(&[&id[0]]), s("G"), s("grp-except")],
    )
    .await;
    p[2].gets("G", "grp-except").await;
    p[2].run(
        "SendToOthersInGroup",
        vec![s("g1"), s("G"), s("others-in-group")],
    )
    .await;
    p[0].gets("G", "others-in-group").await;
    p[1].run(
        "SendToGroups",
        vec![ids(&["g1", "g2"]), s("G"), s("groups")],
    )
    .await;
    p[0].gets("G", "groups").await;
    p[2].gets("G", "groups").await;
    p[3].gets("G", "groups").await;
    for from in [1, 2, 3] {
        fences += 1;
        fence(&mut p, from, fences).await;
    }
    // Leaving: the last local member's leave ends the node's subscription.
    let g1 = format!("t{HUB}:group:g1");
    redis.await_numsub(&g1, 2).await;
    p[2].run("LeaveGroup", vec![s("g1")]).await;
    redis.await_numsub(&g1, 1).await;
    p[1].run("SendToGroup", vec![s("g1"), s("G"), s("after-leave")])
        .await;
    p[0].gets("G", "after-leave").await;
    fences += 1;
    fence(&mut p, 1, fences).await;

    // Users: alice on both nodes, bob on B.
    p[1].run("SendToUser", vec![s("alice"), s("U"), s("to-alice")])
        .await;
    p[0].gets("U", "to-alice").await;
    p[2].gets("U", "to-alice").await;
    p[0].run(
        "SendToUsers",
        vec![ids(&["bob", "alice", "nobody"]), s("U"), s("to-users")],
    )
    .await;
    p[3].gets("U", "to-users").await;
    p[0].gets("U", "to-users").await;
    p[2].gets("U", "to-users").await;
    fence(&mut p, 1, fences + 1).await;
    fence(&mut p, 0, fences + 2).await;
    assert_no_panics();
}

/// A connection of node B is added to (and removed from) a group by node A: A waits for B's
/// ack, and sends from either node honour the membership.
#[tokio::test]
async fn group_membership_of_a_connection_on_another_node_is_acknowledged() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let (a, b) = (node(&redis, "").await, node(&redis, "").await);
    let mut on_a = Peer::join(&a, "scale", HubProtocol::Json, "").await;
    let mut on_b = Peer::join(&b, "scale", HubProtocol::MessagePack, "").await;
    let mut watch = redis.listen("scale:internal:groups").await;

    let (ida, idb) = (on_a.id.clone(), on_b.id.clone());
    on_a.run("Add", vec![s(&idb), s("g9")]).await;
    // The command went over Redis (B's connection is not on A), and B subscribed before acking.
    let cmd = next_payload(&mut watch).await;
    assert_eq!(
        cmd[..2],
        [0x95, 0x01],
        "[id 1, server, add, group, connection]"
    );
    assert!(cmd.ends_with(idb.as_bytes()));
    assert_eq!(redis.numsub("scale:group:g9").await, 1);
    on_a.run("Group", vec![s("g9"), s("remote-added")]).await;
    on_b.gets("remote-added", "g9").await;
    on_b.run("Group", vec![s("g9"), s("from-b")]).await;
    on_b.gets("from-b", "g9").await;

    on_b.run("Add", vec![s(&ida), s("g9")]).await;
    on_a.run("Group", vec![s("g9"), s("both")]).await;
    on_a.gets("both", "g9").await;
    on_b.gets("both", "g9").await;

    on_a.run("Remove", vec![s(&idb), s("g9")]).await;
    let _add_a = next_payload(&mut watch).await;
    let remove = next_payload(&mut watch).await;
    assert_eq!(remove[0], 0x95);
    assert_eq!(
        remove[remove.len() - idb.len() - 4 - 1],
        0x02,
        "action 2 = remove: {remove:?}"
    );
    assert_eq!(
        redis.numsub("scale:group:g9").await,
        1,
        "only A has a member left"
    );
    on_b.run("Group", vec![s("g9"), s("after-remove")]).await;
    on_a.gets("after-remove", "g9").await;
    // B got nothing: its own next message is the reply to a fresh call.
    assert!(matches!(
        on_b.call("Id", vec![]).await,
        CompletionResult::Value(_)
    ));
    assert!(on_b.inbox.is_empty(), "{:?}", on_b.inbox);
    assert_no_panics();
}

/// `Clients.Client(id).InvokeAsync` for a connection on another node: the invocation travels to
/// its node with a return channel, the answer comes back; a connection on no node fails at once.
#[tokio::test]
async fn client_results_work_across_nodes() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let (a, b) = (node(&redis, "").await, node(&redis, "").await);
    let mut caller = Peer::join(&a, "conformance", HubProtocol::Json, "").await;
    for proto in [HubProtocol::Json, HubProtocol::MessagePack] {
        let mut answerer = Peer::join(&b, "conformance", proto, "").await;
        let target = answerer.id.clone();
        caller
            .c
            .send(&HubMessage::invoke(
                "ask",
                "InvokeConnection",
                vec![s(&target), s("Ask"), arr(vec![int(42)]), int(0)],
            ))
            .await;
        let inv = match answerer.next().await {
            HubMessage::Invocation(i) => i,
            other => panic!("{other:?}"),
        };
        assert_eq!(inv.target, "Ask");
        assert_eq!(inv.arguments, vec![int(42)]);
        let rid = inv
            .invocation_id
            .clone()
            .expect("a client result has an id");
        assert_eq!(
            rid.len(),
            22,
            "random 16 bytes, base64 without padding: {rid}"
        );
        answerer
            .c
            .send(&HubMessage::completion(
                rid,
                CompletionResult::Value(s("answer-42")),
            ))
            .await;
        assert_eq!(caller.next().await, ok("ask", s("answer-42")));

        // An error answer.
        caller
            .c
            .send(&HubMessage::invoke(
                "ask2",
                "InvokeConnection",
                vec![s(&target), s("Ask"), arr(vec![]), int(0)],
            ))
            .await;
        let HubMessage::Invocation(inv) = answerer.next().await else {
            panic!("an invocation")
        };
        answerer
            .c
            .send(&HubMessage::completion(
                inv.invocation_id.expect("id"),
                CompletionResult::Error("no answer".into()),
            ))
            .await;
        let HubMessage::Completion(c) = caller.next().await else {
            panic!("a completion")
        };
        match c.result {
            CompletionResult::Error(e) => assert!(e.ends_with("HubException: no answer"), "{e}"),
            other => panic!("{other:?}"),
        }

        // A Completion without a result: the caller fails as it would in process.
        caller
            .c
            .send(&HubMessage::invoke(
                "ask-void",
                "InvokeConnection",
                vec![s(&target), s("Ask"), arr(vec![]), int(0)],
            ))
            .await;
        let HubMessage::Invocation(inv) = answerer.next().await else {
            panic!("an invocation")
        };
        answerer
            .c
            .send(&HubMessage::completion(
                inv.invocation_id.expect("id"),
                CompletionResult::Void,
            ))
            .await;
        let HubMessage::Completion(c) = caller.next().await else {
            panic!("a completion")
        };
        match c.result {
            CompletionResult::Error(e) => assert!(
                e.ends_with(
                    "Exception of type 'Microsoft.AspNetCore.SignalR.HubException' was thrown."
                ),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }

        // The answerer leaves before answering: the caller learns it.
        caller
            .c
            .send(&HubMessage::invoke(
                "ask3",
                "InvokeConnection",
                vec![s(&target), s("Ask"), arr(vec![]), int(0)],
            ))
            .await;
        let HubMessage::Invocation(_) = answerer.next().await else {
            panic!("an invocation")
        };
        answerer.c.close_socket().await;
        let HubMessage::Completion(c) = caller.next().await else {
            panic!("a completion")
        };
        match c.result {
            CompletionResult::Error(e) => assert!(e.contains("Connection disconnected."), "{e}"),
            other => panic!("{other:?}"),
        }
    }
    // A client result for a connection on the caller's own node: no Redis, but a random id
    // as RedisHubLifetimeManager draws.
    caller
        .c
        .send(&HubMessage::invoke(
            "self",
            "InvokeCaller",
            vec![s("Ask"), arr(vec![]), int(0)],
        ))
        .await;
    let HubMessage::Invocation(inv) = caller.next().await else {
        panic!("an invocation")
    };
    let rid = inv.invocation_id.expect("id");
    assert_eq!(rid.len(), 22, "{rid}");
    caller
        .c
        .send(&HubMessage::completion(
            rid,
            CompletionResult::Value(int(7)),
        ))
        .await;
    assert_eq!(caller.next().await, ok("self", int(7)));

    // A connection that no node holds: nobody received the publish.
    let r = caller
        .call(
            "InvokeConnection",
            vec![s("nobody-has-this"), s("Ask"), arr(vec![]), int(0)],
        )
        .await;
    match r {
        CompletionResult::Error(e) => {
            assert!(
                e.contains("Connection 'nobody-has-this' does not exist."),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_no_panics();
}

/// A connection's group names are compared ignoring case, as ASP.NET Core's Redis manager
/// does (`RedisFeature.Groups` is a `HashSet<string>(StringComparer.OrdinalIgnoreCase)`):
/// joining "team" while in "Team" is "already in group" and does nothing; leaving "TEAM"
/// forgets the name "Team" but not the membership, so "team" can then be joined. (In process
/// names are ordinal throughout, as `DefaultHubLifetimeManager`'s.)
#[tokio::test]
async fn a_connections_group_names_ignore_case_as_aspnetcores_redis_manager() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let a = node(&redis, "").await;
    let mut p = vec![
        Peer::join(&a, "conformance", HubProtocol::Json, "").await,
        Peer::join(&a, "conformance", HubProtocol::Json, "").await,
    ];
    p[0].run("JoinGroup", vec![s("Team")]).await;
    p[0].run("JoinGroup", vec![s("team")]).await;
    p[1].run("JoinGroup", vec![s("team")]).await;
    p[1].run("SendToGroup", vec![s("team"), s("M"), s("lower")])
        .await;
    p[1].gets("M", "lower").await;
    // p[0] is not in "team": the fence, published after, is its next message.
    fence(&mut p, 1, 1).await;
    p[1].run("SendToGroup", vec![s("Team"), s("M"), s("upper")])
        .await;
    p[0].gets("M", "upper").await;
    fence(&mut p, 1, 2).await;

    // Leaving "TEAM" forgets the name "Team"; the membership of "Team" stays.
    p[0].run("LeaveGroup", vec![s("TEAM")]).await;
    p[0].run("JoinGroup", vec![s("team")]).await;
    p[1].run("SendToGroup", vec![s("team"), s("M"), s("now both")])
        .await;
    p[0].gets("M", "now both").await;
    p[1].gets("M", "now both").await;
    p[1].run("SendToGroup", vec![s("Team"), s("M"), s("still")])
        .await;
    p[0].gets("M", "still").await;
    fence(&mut p, 1, 3).await;
    a.shutdown().await;
}

/// A group command for a connection no node holds is never acknowledged: after the ack
/// timeout (30 s) the hub method fails as ASP.NET Core's does, its `AckHandler` cancelling the
/// ack's task (detailed errors show `TaskCanceledException: A task was canceled.`).
#[tokio::test]
async fn an_unacknowledged_group_command_fails_the_method_as_aspnetcores() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let a = node(&redis, "").await;
    let mut p = Peer::join(&a, "conformance", HubProtocol::Json, "").await;
    p.c.send(&HubMessage::invoke(
        "add",
        "AddToGroup",
        vec![s("no-such-connection"), s("g")],
    ))
    .await;
    // The ack timeout, with a generous margin for a loaded machine; Pings come meanwhile.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let completion = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let raw =
            p.c.recv_raw_any_within(left)
                .await
                .expect("the Completion within 90 s")
                .expect("the connection stays open");
        match decode(HubProtocol::Json, &raw) {
            HubMessage::Ping => continue,
            m => break m,
        }
    };
    assert_eq!(
        completion,
        HubMessage::completion(
            "add",
            CompletionResult::Error(
                "An unexpected error occurred invoking 'AddToGroup' on the server. \
                 TaskCanceledException: A task was canceled."
                    .into()
            )
        )
    );
    a.shutdown().await;
}

/// A node that stops leaves no subscription behind; the other node goes on.
#[tokio::test]
async fn a_stopped_node_leaves_nothing_behind() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let a = node(&redis, "").await;
    let before = redis.channels().await;
    let b = node(&redis, "").await;
    let alice = contract_token(&b, "alice").await;
    let mut on_a = Peer::join(&a, "conformance", HubProtocol::Json, "").await;
    let mut on_b = Peer::join(
        &b,
        "conformance",
        HubProtocol::Json,
        &format!("&access_token={alice}"),
    )
    .await;
    on_b.run("JoinGroup", vec![s("g")]).await;
    let during = redis.channels().await;
    for ch in [
        format!("{HUB}:connection:{}", on_b.id),
        format!("{HUB}:group:g"),
        format!("{HUB}:user:alice"),
    ] {
        assert!(during.contains(&ch), "{ch} in {during:?}");
    }
    b.shutdown().await;
    drop(on_b);
    let all = format!("{HUB}:all");
    redis.await_numsub(&all, 1).await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let now = redis.channels().await;
        let expected: Vec<String> = before
            .iter()
            .cloned()
            .chain([format!("{HUB}:connection:{}", on_a.id)])
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if now == expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "left behind: {now:?} (expected {expected:?})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    on_a.run("SendToAll", vec![s("M"), s("still")]).await;
    on_a.gets("M", "still").await;
    assert_no_panics();
}

/// Redis restarts: both nodes reconnect and resubscribe by themselves, and delivery across
/// nodes works again, on the same client connections.
#[tokio::test]
async fn nodes_survive_a_redis_restart() {
    if !redis_available() {
        return;
    }
    let mut redis = Redis::start().await;
    let (a, b) = (node(&redis, "").await, node(&redis, "").await);
    let mut p = vec![
        Peer::join(&a, "conformance", HubProtocol::Json, "").await,
        Peer::join(&b, "conformance", HubProtocol::MessagePack, "").await,
    ];
    p[1].run("JoinGroup", vec![s("g")]).await;
    p[0].run("SendToGroup", vec![s("g"), s("G"), s("before")])
        .await;
    p[1].gets("G", "before").await;

    let port = redis.port;
    redis.kill();
    redis = Redis::start_on(port).await;
    // Both nodes resubscribe: their own channels, the connections', the group.
    let all = format!("{HUB}:all");
    redis.await_numsub(&all, 2).await;
    redis.await_numsub(&format!("{HUB}:group:g"), 1).await;
    redis
        .await_numsub(&format!("{HUB}:connection:{}", p[0].id), 1)
        .await;
    redis
        .await_numsub(&format!("{HUB}:connection:{}", p[1].id), 1)
        .await;
    p[0].run("SendToGroup", vec![s("g"), s("G"), s("after")])
        .await;
    p[1].gets("G", "after").await;
    p[1].run("SendToAll", vec![s("M"), s("all-after")]).await;
    p[0].gets("M", "all-after").await;
    p[1].gets("M", "all-after").await;
    fence(&mut p, 0, 1).await;
    assert_no_panics();
}

/// Garbage on every channel a node listens to is logged and dropped: no panic, and delivery
/// to everyone goes on.
#[tokio::test]
async fn bad_input_from_redis_is_dropped_and_delivery_goes_on() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let a = node(&redis, "").await;
    let mut p = [
        Peer::join(&a, "conformance", HubProtocol::Json, "").await,
        Peer::join(&a, "conformance", HubProtocol::MessagePack, "").await,
    ];
    p[1].run("JoinGroup", vec![s("g")]).await;
    let server = match redis
        .channels()
        .await
        .into_iter()
        .find(|c| c.contains(":internal:ack:"))
    {
        Some(c) => c.rsplit(':').next().expect("name").to_owned(),
        None => panic!("no ack channel"),
    };
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        b"not messagepack".to_vec(),
        vec![0x92, 0x90],
        vec![
            0x92, 0x90, 0x81, 0xa4, b'j', b's', b'o', b'n', 0xc6, 0xff, 0xff, 0xff, 0xff,
        ],
        vec![0xdd, 0xff, 0xff, 0xff, 0xff],
        // An invocation with only an unknown protocol's serialization.
        vec![0x92, 0x90, 0x81, 0xa3, b'x', b'm', b'l', 0xc4, 0x01, b'<'],
    ];
    let channels = [
        format!("{HUB}:all"),
        format!("{HUB}:connection:{}", p[0].id),
        format!("{HUB}:group:g"),
        format!("{HUB}:internal:groups"),
        format!("{HUB}:internal:ack:{server}"),
        format!("{HUB}:internal:return:{server}"),
    ];
    for ch in &channels {
        for g in &garbage {
            redis.publish(ch, g).await;
        }
    }
    // A returned client result in an unknown protocol, and one that is not a Completion.
    let ret = format!("{HUB}:internal:return:{server}");
    redis
        .publish(&ret, &[0x92, 0xa3, b'x', b'm', b'l', 0xc4, 0x01, b'<'])
        .await;
    redis
        .publish(
            &ret,
            &[
                0x92, 0xa4, b'j', b's', b'o', b'n', 0xc4, 0x0b, b'{', b'"', b't', b'y', b'p', b'e',
                b'"', b':', b'6', b'}', 0x1e,
            ],
        )
        .await;
    // A group command for an unknown action, an ack nobody waits for.
    redis
        .publish(
            &channels[3],
            &[0x95, 0x01, 0xa1, b's', 0x09, 0xa1, b'g', 0xa1, b'c'],
        )
        .await;
    redis.publish(&channels[4], &[0x91, 0x63]).await;

    // Nothing of it reached a client, and delivery goes on.
    p[0].run("SendToAll", vec![s("M"), s("after-garbage")])
        .await;
    for q in p.iter_mut() {
        q.gets("M", "after-garbage").await;
    }
    assert_no_panics();
}

/// What mock-hub publishes is what ASP.NET Core publishes for the same sends, byte for byte
/// (the recorded payloads), and what ASP.NET Core publishes reaches mock-hub's clients as
/// recorded, in each client's protocol.
#[tokio::test]
async fn the_wire_format_is_aspnetcores() {
    if !redis_available() {
        return;
    }
    let fixtures = recorded();
    let redis = Redis::start().await;
    let a = node(&redis, "conf").await;
    let mut json = Peer::join(&a, "conformance", HubProtocol::Json, "").await;
    let mut msgpack = Peer::join(&a, "conformance", HubProtocol::MessagePack, "").await;

    // mock-hub → Redis: the recorded `all` payload for SendToAll("M", {"v":1,"s":"all"}).
    let mut all = redis.listen(&format!("conf{HUB}:all")).await;
    let obj = signalr_protocol::json::parse_value(br#"{"v":1,"s":"all"}"#).expect("json");
    json.run("SendToAll", vec![s("M"), obj]).await;
    assert_eq!(
        next_payload(&mut all).await,
        fixtures["all-all"],
        "SendToAll"
    );
    json.run("SendToOthers", vec![s("M"), s("others")]).await;
    let mut expected = fixtures["all-others"].clone();
    replace(&mut expected, b"gga6dvdEThifwYFqJxK9rw", json.id.as_bytes());
    assert_eq!(next_payload(&mut all).await, expected, "SendToOthers");
    drop(all);
    let mut group = redis.listen(&format!("conf{HUB}:group:g1")).await;
    json.run("SendToGroup", vec![s("g1"), s("G"), s("grp")])
        .await;
    assert_eq!(
        next_payload(&mut group).await,
        fixtures["group-grp"],
        "SendToGroup"
    );
    let mut user = redis.listen(&format!("conf{HUB}:user:bob")).await;
    json.run("SendToUser", vec![s("bob"), s("U"), s("to-bob")])
        .await;
    assert_eq!(
        next_payload(&mut user).await,
        fixtures["user-to-bob"],
        "SendToUser"
    );
    // The broadcasts came back through Redis to both clients.
    let obj = signalr_protocol::json::parse_value(br#"{"v":1,"s":"all"}"#).expect("json");
    assert_eq!(json.next().await, HubMessage::send("M", vec![obj.clone()]));
    assert_eq!(msgpack.next().await, HubMessage::send("M", vec![obj]));
    assert_eq!(
        msgpack.next().await,
        HubMessage::send("M", vec![s("others")])
    );
    assert!(json.inbox.is_empty() && msgpack.inbox.is_empty());

    // Redis → mock-hub: recorded invocations reach each client as its protocol's recorded bytes.
    for (name, channel) in [
        ("all-all", format!("conf{HUB}:all")),
        (
            "connection-direct",
            format!("conf{HUB}:connection:{}", json.id),
        ),
    ] {
        redis.publish(&channel, &fixtures[name]).await;
        let raw = json.c.recv_raw().await.expect("bytes");
        assert_eq!(
            String::from_utf8_lossy(&raw),
            fixture_field(name, "json") + "\u{1e}",
            "{name}"
        );
        if name == "all-all" {
            let raw = msgpack.c.recv_raw().await.expect("bytes");
            assert_eq!(hex(&raw), fixture_field(name, "messagepack"), "{name}");
        }
    }

    // A client result asked for by an ASP.NET Core node: the answer goes back on its return
    // channel as ASP.NET Core writes it.
    let inv = fixtures["connection-client-result"].clone();
    let their_return = b"SignalRConform.Reference.ConformanceHub:internal:return:vm_97d43e46cc9d4763a69f786951be9944";
    assert!(inv.ends_with(their_return));
    let mut ret = redis
        .listen(&format!(
            "conf{}",
            std::str::from_utf8(their_return).expect("utf-8")
        ))
        .await;
    assert_eq!(
        redis
            .publish(&format!("conf{HUB}:connection:{}", json.id), &inv)
            .await,
        1
    );
    let HubMessage::Invocation(i) = json.next().await else {
        panic!("an invocation")
    };
    assert_eq!(i.invocation_id.as_deref(), Some("Byx+lr8gFU+tzaGuo2P/RQ"));
    json.c
        .send(&HubMessage::completion(
            "Byx+lr8gFU+tzaGuo2P/RQ",
            CompletionResult::Value(s("answer-42")),
        ))
        .await;
    assert_eq!(
        next_payload(&mut ret).await,
        fixtures["completion"],
        "returned result"
    );

    // A group command from an ASP.NET Core node for our connection: acked as it acks.
    let server = "vm_53869ef1246a4f8da48f0125ccc5e0b8";
    let mut ack = redis
        .listen(&format!("conf{HUB}:internal:ack:{server}"))
        .await;
    let mut cmd = fixtures["group-command-1"].clone();
    let their_conn = b"\xb6e-AAjrveqLPyVRxd3I2oJg";
    assert!(cmd.ends_with(their_conn));
    cmd.truncate(cmd.len() - their_conn.len());
    cmd.push(0xa0 | msgpack.id.len() as u8);
    cmd.extend_from_slice(msgpack.id.as_bytes());
    redis
        .publish(&format!("conf{HUB}:internal:groups"), &cmd)
        .await;
    assert_eq!(next_payload(&mut ack).await, fixtures["ack-1"], "ack");
    redis
        .publish(
            &format!("conf{HUB}:group:g9"),
            &fixtures["group-remote-added"],
        )
        .await;
    let raw = msgpack.c.recv_raw().await.expect("bytes");
    assert_eq!(
        hex(&raw),
        fixture_field("group-remote-added", "messagepack")
    );
    assert_no_panics();
}

fn replace(v: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len(), "connection ids have one length");
    let at = v
        .windows(from.len())
        .position(|w| w == from)
        .expect("present");
    v[at..at + from.len()].copy_from_slice(to);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn fixture_table(name: &str) -> toml::Table {
    let t: toml::Table = FIXTURES.parse().expect("fixtures parse");
    t["payload"]
        .as_array()
        .expect("payloads")
        .iter()
        .filter_map(|p| p.as_table())
        .find(|p| p["name"].as_str() == Some(name))
        .cloned()
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

fn fixture_field(name: &str, field: &str) -> String {
    fixture_table(name)[field]
        .as_str()
        .expect("a string")
        .to_owned()
}

fn recorded() -> std::collections::HashMap<String, Vec<u8>> {
    let t: toml::Table = FIXTURES.parse().expect("fixtures parse");
    t["payload"]
        .as_array()
        .expect("payloads")
        .iter()
        .filter_map(|p| p.as_table())
        .map(|p| {
            (
                p["name"].as_str().expect("name").to_owned(),
                unhex(p["hex"].as_str().expect("hex")),
            )
        })
        .collect()
}
