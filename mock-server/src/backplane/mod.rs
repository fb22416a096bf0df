//! Scale-out over Redis, in ASP.NET Core's format (`RedisHubLifetimeManager`): several mock-hub
//! processes on one Redis server serve one hub, and can share it with ASP.NET Core nodes.
//!
//! A [`Backplane`] belongs to one hub's lifetime (`HubLifetime`, which implements [`LocalHub`]
//! for it: this module does not import the lifetime): the lifetime publishes what it sends
//! (`publish_*`) and says which channels it needs (`subscribe`/`unsubscribe`, on the transitions
//! ASP.NET Core subscribes on); two tasks talk to Redis — one publishes, in order, one holds the
//! subscriptions and hands what arrives back to the lifetime. Both reconnect by themselves; the
//! subscriber resubscribes everything and says what was lost meanwhile. Without `--redis` no
//! backplane exists and the lifetime delivers in process, as before.

pub(crate) mod format;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use signalr_protocol::{CompletionResult, HubMessage, HubProtocol, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::error::{ClientResultError, HubError};
use crate::faults::FaultSet;
use format::{GroupAction, GroupCommand, Invocation};

/// What a client result without a value fails with (`new HubException(null)`'s text), as the
/// dispatcher words it.
const VOID_RESULT: &str =
    "Exception of type 'Microsoft.AspNetCore.SignalR.HubException' was thrown.";
/// What a client result owed by a connection that left is answered with (RedisHubLifetimeManager).
const CONNECTION_GONE: &str = "Connection disconnected.";
/// Publishes waiting for Redis; beyond this a publish is dropped (and counted as lost).
const PUBLISH_QUEUE: usize = 65_536;
/// How long a group command for a connection on another node waits for its ack (`AckHandler`).
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// What the backplane asks of the hub it serves (`HubLifetime` implements it).
pub(crate) trait LocalHub: Send + Sync {
    /// An invocation from the `all` channel: to every local connection not excluded.
    fn deliver_all(&self, inv: &Invocation);
    /// An invocation from a connection's channel.
    fn deliver_connection(&self, id: &str, inv: &Invocation);
    /// An invocation from a group's channel: to the local members not excluded.
    fn deliver_group(&self, group: &str, inv: &Invocation);
    /// An invocation from a user's channel: to the user's local connections.
    fn deliver_user(&self, user: &str, inv: &Invocation);
    /// The protocol of a local connection; `None` if it is not here.
    fn protocol_of(&self, connection_id: &str) -> Option<HubProtocol>;
    /// Applies a group command to a local connection (subscriptions follow); `false` if the
    /// connection is not here.
    fn apply_group_command(&self, action: GroupAction, connection_id: &str, group: &str) -> bool;
    /// Registers a client result that a local connection owes.
    fn expect_result(
        &self,
        connection_id: &str,
        invocation_id: &str,
    ) -> oneshot::Receiver<Result<Value, ClientResultError>>;
    /// A client result that came back from another node.
    fn complete_remote_result(&self, invocation_id: &str, result: Result<Value, ClientResultError>);
}

/// The backplane settings of one hub.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `redis://host:port[/db]`.
    pub(crate) url: String,
    /// Prepended to every channel name (StackExchange.Redis's `ChannelPrefix`).
    pub(crate) prefix: String,
    /// The hub's name in channels (ASP.NET Core: the hub type's full name).
    pub(crate) hub_name: String,
}

/// Channel names: `<prefix><hub>:all`, `:connection:<id>`, `:group:<g>`, `:user:<u>`,
/// `:internal:groups`, `:internal:ack:<server>`, `:internal:return:<server>` (`RedisChannels.cs`).
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    /// The deployment's prefix alone.
    prefix: String,
    /// `<prefix><hub>:`.
    base: String,
    /// `<hub>:` (return channels are written into payloads without the prefix).
    hub: String,
}

/// What a channel is for, as seen from this node.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    All,
    Connection(&'a str),
    Group(&'a str),
    User(&'a str),
    GroupCommands,
    Ack(&'a str),
    Return(&'a str),
}

impl Channels {
    pub(crate) fn new(prefix: &str, hub_name: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            base: format!("{prefix}{hub_name}:"),
            hub: format!("{hub_name}:"),
        }
    }
    pub(crate) fn all(&self) -> String {
        format!("{}all", self.base)
    }
    pub(crate) fn connection(&self, id: &str) -> String {
        format!("{}connection:{id}", self.base)
    }
    pub(crate) fn group(&self, g: &str) -> String {
        format!("{}group:{g}", self.base)
    }
    pub(crate) fn user(&self, u: &str) -> String {
        format!("{}user:{u}", self.base)
    }
    pub(crate) fn group_commands(&self) -> String {
        format!("{}internal:groups", self.base)
    }
    pub(crate) fn ack(&self, server: &str) -> String {
        format!("{}internal:ack:{server}", self.base)
    }
    pub(crate) fn ret(&self, server: &str) -> String {
        format!("{}internal:return:{server}", self.base)
    }
    /// The return channel as a payload names it (no prefix: StackExchange.Redis adds it).
    pub(crate) fn ret_in_payload(&self, server: &str) -> String {
        format!("{}internal:return:{server}", self.hub)
    }
    /// The channel to publish to for a return channel named in a payload.
    pub(crate) fn publish_name(&self, in_payload: &str) -> String {
        format!("{}{in_payload}", self.prefix)
    }
    /// What a channel is for; `None` for a channel of another hub or an unknown kind.
    pub(crate) fn route<'a>(&self, channel: &'a str) -> Option<Route<'a>> {
        let rest = channel.strip_prefix(self.base.as_str())?;
        if rest == "all" {
            return Some(Route::All);
        }
        if rest == "internal:groups" {
            return Some(Route::GroupCommands);
        }
        if let Some(s) = rest.strip_prefix("internal:ack:") {
            return Some(Route::Ack(s));
        }
        if let Some(s) = rest.strip_prefix("internal:return:") {
            return Some(Route::Return(s));
        }
        if let Some(id) = rest.strip_prefix("connection:") {
            return Some(Route::Connection(id));
        }
        if let Some(g) = rest.strip_prefix("group:") {
            return Some(Route::Group(g));
        }
        rest.strip_prefix("user:").map(Route::User)
    }
}

/// The URL as logs show it: a password in it is replaced by `***`.
fn shown_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) if at > scheme.len() + 3 => {
            let host = &url[at..];
            let user = rest.split([':', '@']).next().unwrap_or_default();
            format!("{scheme}://{user}:***{host}")
        }
        _ => url.to_owned(),
    }
}

/// `<machine>_<32 hex digits>`, as ASP.NET Core names its servers.
fn server_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.len() <= 64 && !h.contains(':'))
        .unwrap_or_else(|| "mock-hub".to_owned());
    let id: u128 = rand::random();
    format!("{host}_{id:032x}")
}

struct Publish {
    channel: String,
    payload: Bytes,
    /// Told how many subscribers received it (or why it was not published).
    receivers: Option<oneshot::Sender<Result<usize, String>>>,
}

enum SubCommand {
    Subscribe(String),
    Unsubscribe(String),
    /// Answered once every command before it has been carried out (or Redis is down).
    Barrier(oneshot::Sender<()>),
}

/// One hub's link to Redis.
pub(crate) struct Backplane {
    pub(crate) channels: Channels,
    pub(crate) server_name: String,
    url: String,
    faults: FaultSet,
    lifetime: Weak<dyn LocalHub>,
    publish_tx: mpsc::Sender<Publish>,
    sub_tx: mpsc::UnboundedSender<SubCommand>,
    next_command: AtomicI64,
    acks: Mutex<HashMap<i64, oneshot::Sender<()>>>,
    /// Publishes dropped since the last report (Redis down or the queue full).
    lost: AtomicU64,
    /// Messages received and dropped because they did not decode or route.
    dropped: AtomicU64,
    publisher_down: AtomicBool,
    ready: watch::Receiver<bool>,
    /// Each local connection's group names, case folded: ASP.NET Core's Redis manager keeps
    /// them in a `HashSet<string>(StringComparer.OrdinalIgnoreCase)` (`RedisFeature.Groups`)
    /// and adds nobody to a group whose name is already there in another case.
    group_names: Mutex<HashMap<String, HashSet<String>>>,
}

/// A name as `StringComparer.OrdinalIgnoreCase` compares it: each character upper-cased by
/// its one-to-one mapping (one with no single-character upper case stays as it is).
fn fold_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

impl std::fmt::Debug for Backplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backplane")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Backplane {
    /// Starts the Redis tasks for `lifetime` (they end with `shutdown`). Never fails: an
    /// unreachable Redis is retried, and logged.
    pub(crate) fn start(
        settings: &Settings,
        lifetime: Weak<dyn LocalHub>,
        faults: FaultSet,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| format!("--redis {}: {e}", shown_url(&settings.url)))?;
        let channels = Channels::new(&settings.prefix, &settings.hub_name);
        let server_name = server_name();
        let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        let (sub_tx, sub_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready) = watch::channel(false);
        let bp = Arc::new(Self {
            channels,
            server_name,
            url: shown_url(&settings.url),
            faults,
            lifetime,
            publish_tx,
            sub_tx,
            next_command: AtomicI64::new(0),
            acks: Mutex::new(HashMap::new()),
            lost: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            publisher_down: AtomicBool::new(false),
            ready,
            group_names: Mutex::new(HashMap::new()),
        });
        // Every node listens to these from the start (`EnsureRedisServerConnection`).
        for ch in [
            bp.channels.all(),
            bp.channels.group_commands(),
            bp.channels.ack(&bp.server_name),
            bp.channels.ret(&bp.server_name),
        ] {
            bp.subscribe(ch);
        }
        tracing::info!(
            hub = %settings.hub_name,
            server = %bp.server_name,
            "redis backplane: connecting to {}",
            bp.url
        );
        tokio::spawn(publisher(
            client.clone(),
            Arc::downgrade(&bp),
            publish_rx,
            shutdown.clone(),
        ));
        tokio::spawn(subscriber(
            client,
            Arc::downgrade(&bp),
            sub_rx,
            ready_tx,
            shutdown,
        ));
        Ok(bp)
    }

    /// The hub this backplane serves (while it exists).
    pub(crate) fn lifetime(&self) -> Option<Arc<dyn LocalHub>> {
        self.lifetime.upgrade()
    }

    /// Resolves once Redis was reached and the node's own channels are subscribed.
    pub(crate) async fn ready(&self) {
        let mut r = self.ready.clone();
        let _ = r.wait_for(|ok| *ok).await;
    }

    pub(crate) fn subscribe(&self, channel: String) {
        let _ = self.sub_tx.send(SubCommand::Subscribe(channel));
    }

    pub(crate) fn unsubscribe(&self, channel: String) {
        let _ = self.sub_tx.send(SubCommand::Unsubscribe(channel));
    }

    /// Resolves once every subscription change asked for before it has reached Redis.
    pub(crate) async fn barrier(&self) {
        let (tx, rx) = oneshot::channel();
        if self.sub_tx.send(SubCommand::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    fn publish(
        &self,
        channel: String,
        payload: Bytes,
        receivers: Option<oneshot::Sender<Result<usize, String>>>,
    ) {
        let p = Publish {
            channel,
            payload,
            receivers,
        };
        if let Err(e) = self.publish_tx.try_send(p) {
            self.lost.fetch_add(1, Ordering::Relaxed);
            let p = match e {
                mpsc::error::TrySendError::Full(p) | mpsc::error::TrySendError::Closed(p) => p,
            };
            if let Some(tx) = p.receivers {
                let _ = tx.send(Err("the Redis publish queue is full".into()));
            }
        }
    }

    /// An invocation payload holding `msg` framed by every protocol mock-hub speaks.
    pub(crate) fn invocation_payload(
        &self,
        msg: &HubMessage,
        excluded: &[&str],
        result: Option<(&str, &str)>,
    ) -> Bytes {
        let json = crate::outgoing::encode(msg, HubProtocol::Json, self.faults);
        let msgpack = crate::outgoing::encode(msg, HubProtocol::MessagePack, self.faults);
        Bytes::from(format::write_invocation(
            excluded,
            &[
                (HubProtocol::Json.name(), &json),
                (HubProtocol::MessagePack.name(), &msgpack),
            ],
            result,
        ))
    }

    /// Publishes an invocation to one channel.
    pub(crate) fn publish_invocation(&self, channel: String, payload: Bytes) {
        self.publish(channel, payload, None);
    }

    /// Publishes a client-result invocation to the connection's channel; `on_receivers` learns
    /// how many nodes took it (0: nobody holds that connection).
    pub(crate) fn publish_client_result(
        &self,
        connection_id: &str,
        invocation_id: &str,
        msg: &HubMessage,
    ) -> oneshot::Receiver<Result<usize, String>> {
        let ret = self.channels.ret_in_payload(&self.server_name);
        let payload = self.invocation_payload(msg, &[], Some((invocation_id, &ret)));
        let (tx, rx) = oneshot::channel();
        self.publish(self.channels.connection(connection_id), payload, Some(tx));
        rx
    }

    /// Whether a local connection may join `group` (`AddGroupAsyncCore`: "Connection already
    /// in group" compares names ignoring case), noting it if so.
    pub(crate) fn admit_group(&self, connection_id: &str, group: &str) -> bool {
        self.group_names.lock().map_or(true, |mut m| {
            m.entry(connection_id.to_owned())
                .or_default()
                .insert(fold_case(group))
        })
    }

    /// A local connection left `group` (`RemoveGroupAsyncCore` removes the name, ignoring case).
    pub(crate) fn forget_group(&self, connection_id: &str, group: &str) {
        if let Ok(mut m) = self.group_names.lock() {
            if let Some(names) = m.get_mut(connection_id) {
                names.remove(&fold_case(group));
                if names.is_empty() {
                    m.remove(connection_id);
                }
            }
        }
    }

    /// A local connection is gone.
    pub(crate) fn forget_connection(&self, connection_id: &str) {
        if let Ok(mut m) = self.group_names.lock() {
            m.remove(connection_id);
        }
    }

    /// Sends a group command for a connection on another node and waits for its ack. Without
    /// one in time the hub method fails as ASP.NET Core's does: `AckHandler` cancels the ack's
    /// task, so the method throws `TaskCanceledException` ("A task was canceled.", what a
    /// caller sees with detailed errors); the log names the command that went unanswered.
    pub(crate) async fn group_command(
        &self,
        action: GroupAction,
        connection_id: &str,
        group: &str,
    ) -> Result<(), HubError> {
        let id = self.next_command.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut a) = self.acks.lock() {
            a.insert(id, tx);
        }
        let cmd = GroupCommand {
            id,
            server_name: self.server_name.clone(),
            action,
            group: group.to_owned(),
            connection_id: connection_id.to_owned(),
        };
        let payload = Bytes::from(format::write_group_command(&cmd));
        self.publish(self.channels.group_commands(), payload, None);
        let outcome = tokio::time::timeout(ACK_TIMEOUT, rx).await;
        if let Ok(mut a) = self.acks.lock() {
            a.remove(&id);
        }
        match outcome {
            Ok(Ok(())) => Ok(()),
            _ => {
                tracing::warn!(
                    "redis backplane: no node acknowledged group command {id} for connection '{connection_id}' within {} s",
                    ACK_TIMEOUT.as_secs()
                );
                Err(HubError::exception(
                    "TaskCanceledException",
                    "A task was canceled.",
                ))
            }
        }
    }

    fn dropped(&self, channel: &str, why: &str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(channel, "redis backplane: dropped a message: {why}");
    }

    /// Handles one message from Redis. Never panics; bad input is logged and dropped.
    fn on_message(self: &Arc<Self>, lifetime: &dyn LocalHub, channel: &str, payload: Bytes) {
        let Some(route) = self.channels.route(channel) else {
            return self.dropped(channel, "not a channel of this hub");
        };
        match route {
            Route::All | Route::Connection(_) | Route::Group(_) | Route::User(_) => {
                let inv = match format::read_invocation(&payload) {
                    Ok(inv) => inv,
                    Err(e) => return self.dropped(channel, &format!("invocation: {e}")),
                };
                for (name, _) in &inv.messages {
                    if HubProtocol::from_name(name).is_none() {
                        tracing::debug!(channel, "redis backplane: ignoring protocol '{name}'");
                    }
                }
                match route {
                    Route::All => lifetime.deliver_all(&inv),
                    Route::Connection(id) => {
                        if let Some(r) = &inv.result {
                            self.forward_client_result(lifetime, id, r.clone());
                        }
                        lifetime.deliver_connection(id, &inv);
                    }
                    Route::Group(g) => lifetime.deliver_group(g, &inv),
                    Route::User(u) => lifetime.deliver_user(u, &inv),
                    _ => {}
                }
            }
            Route::GroupCommands => {
                let cmd = match format::read_group_command(&payload) {
                    Ok(c) => c,
                    Err(e) => return self.dropped(channel, &format!("group command: {e}")),
                };
                if !lifetime.apply_group_command(cmd.action, &cmd.connection_id, &cmd.group) {
                    // Another node's connection (or nobody's): ASP.NET Core stays silent too.
                    return;
                }
                // The ack goes out once the subscription change reached Redis.
                let bp = self.clone();
                tokio::spawn(async move {
                    bp.barrier().await;
                    let ack = Bytes::from(format::write_ack(cmd.id));
                    bp.publish(bp.channels.ack(&cmd.server_name), ack, None);
                });
            }
            Route::Ack(server) => {
                if server != self.server_name {
                    return self.dropped(channel, "an ack for another node");
                }
                match format::read_ack(&payload) {
                    Ok(id) => {
                        let tx = self.acks.lock().ok().and_then(|mut a| a.remove(&id));
                        match tx {
                            Some(tx) => {
                                let _ = tx.send(());
                            }
                            None => tracing::debug!("redis backplane: ack {id} for no command"),
                        }
                    }
                    Err(e) => self.dropped(channel, &format!("ack: {e}")),
                }
            }
            Route::Return(server) => {
                if server != self.server_name {
                    return self.dropped(channel, "a client result for another node");
                }
                if let Err(e) = self.on_returned_result(lifetime, &payload) {
                    self.dropped(channel, &format!("client result: {e}"));
                }
            }
        }
    }

    fn on_returned_result(&self, lifetime: &dyn LocalHub, payload: &Bytes) -> Result<(), String> {
        let r = format::read_completion(payload)?;
        let protocol = HubProtocol::from_name(&r.protocol)
            .ok_or_else(|| format!("unknown protocol name '{}'", r.protocol))?;
        let parsed = protocol
            .decode_all(&r.completion)
            .map_err(|e| format!("the {} completion does not parse: {e}", r.protocol))?;
        let msg = parsed
            .into_iter()
            .next()
            .and_then(|p| p.into_message())
            .ok_or("no message in the serialized completion")?;
        let HubMessage::Completion(c) = msg else {
            return Err(format!(
                "a {} message instead of a Completion",
                msg.type_name()
            ));
        };
        let result = match c.result {
            CompletionResult::Value(v) => Ok(v),
            CompletionResult::Void => Err(ClientResultError::Client(VOID_RESULT.into())),
            CompletionResult::Error(e) => Err(ClientResultError::Client(e)),
        };
        lifetime.complete_remote_result(&c.invocation_id, result);
        Ok(())
    }

    /// A client result asked for by another node of a connection here: when the client
    /// answers (or leaves), the Completion goes back on the return channel.
    fn forward_client_result(
        self: &Arc<Self>,
        lifetime: &dyn LocalHub,
        connection_id: &str,
        route: format::ResultRoute,
    ) {
        let Some(protocol) = lifetime.protocol_of(connection_id) else {
            // The connection left while its channel was still subscribed: ASP.NET Core's
            // handler sees its ConnectionAborted already fired and answers at once.
            let gone = CompletionResult::Error(CONNECTION_GONE.into());
            return self.return_result(&route, HubProtocol::Json, gone);
        };
        let rx = lifetime.expect_result(connection_id, &route.invocation_id);
        let bp = self.clone();
        tokio::spawn(async move {
            let Ok(outcome) = rx.await else {
                return; // dropped without an answer (canceled here): nothing to send
            };
            let result = match outcome {
                Ok(v) => CompletionResult::Value(v),
                // The dispatcher turns a Completion without a result into this error; it goes
                // back as it came (the asking node turns it into the same error).
                Err(ClientResultError::Client(e)) if e == VOID_RESULT => CompletionResult::Void,
                Err(ClientResultError::Client(e)) => CompletionResult::Error(e),
                // `ConnectionAborted` completes it with this error (RedisHubLifetimeManager).
                Err(ClientResultError::Connection(_)) => {
                    CompletionResult::Error(CONNECTION_GONE.into())
                }
                Err(ClientResultError::Canceled) => {
                    CompletionResult::Error("Invocation canceled by the server.".into())
                }
            };
            bp.return_result(&route, protocol, result);
        });
    }

    /// Publishes a client result to the node that asked for it.
    fn return_result(
        &self,
        route: &format::ResultRoute,
        protocol: HubProtocol,
        result: CompletionResult,
    ) {
        let completion = HubMessage::completion(route.invocation_id.clone(), result);
        let bytes = crate::outgoing::encode(&completion, protocol, FaultSet::default());
        let payload = Bytes::from(format::write_completion(protocol.name(), &bytes));
        self.publish(
            self.channels.publish_name(&route.return_channel),
            payload,
            None,
        );
    }

    /// Says (once) what was lost while Redis was away.
    fn report_losses(&self, what: &str) {
        let lost = self.lost.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(
                "redis backplane: {what}; {lost} message(s) this node published meanwhile were dropped"
            );
        } else {
            tracing::info!("redis backplane: {what}");
        }
    }
}

/// Backoff between reconnection attempts.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((50u64 << attempt.min(5)).min(1_000))
}

/// Publishes in order; reconnects when a publish fails (the failed message is counted lost).
async fn publisher(
    client: redis::Client,
    bp: Weak<Backplane>,
    mut rx: mpsc::Receiver<Publish>,
    shutdown: CancellationToken,
) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    loop {
        let p = tokio::select! {
            p = rx.recv() => p,
            _ = shutdown.cancelled() => None,
        };
        let Some(p) = p else { return };
        let Some(bp) = bp.upgrade() else { return };
        if conn.is_none() {
            let c = tokio::time::timeout(
                Duration::from_secs(2),
                client.get_multiplexed_async_connection(),
            )
            .await;
            match c {
                Ok(Ok(c)) => {
                    if bp.publisher_down.swap(false, Ordering::Relaxed) {
                        bp.report_losses(&format!("publishing to {} again", bp.url));
                    }
                    conn = Some(c);
                }
                Ok(Err(e)) => {
                    fail_publish(&bp, p, &e.to_string());
                    continue;
                }
                Err(_) => {
                    fail_publish(&bp, p, "connecting timed out");
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut r = publish_once(c, &p).await;
        if r.is_err() {
            // A connection that broke while idle (Redis restarted): one fresh try.
            conn = None;
            let c = tokio::time::timeout(
                Duration::from_secs(2),
                client.get_multiplexed_async_connection(),
            )
            .await;
            if let Ok(Ok(mut c)) = c {
                r = publish_once(&mut c, &p).await;
                if r.is_ok() {
                    conn = Some(c);
                }
            }
        }
        match r {
            Ok(n) => {
                if let Some(tx) = p.receivers {
                    let _ = tx.send(Ok(n));
                }
            }
            Err(e) => {
                conn = None;
                fail_publish(&bp, p, &e.to_string());
            }
        }
    }
}

async fn publish_once(
    c: &mut redis::aio::MultiplexedConnection,
    p: &Publish,
) -> redis::RedisResult<usize> {
    redis::cmd("PUBLISH")
        .arg(&p.channel)
        .arg(p.payload.as_ref())
        .query_async(c)
        .await
}

fn fail_publish(bp: &Backplane, p: Publish, why: &str) {
    bp.lost.fetch_add(1, Ordering::Relaxed);
    if !bp.publisher_down.swap(true, Ordering::Relaxed) {
        tracing::error!(
            "redis backplane: cannot publish to {} ({why}); messages to other nodes are dropped until it is back",
            bp.url
        );
    }
    if let Some(tx) = p.receivers {
        let _ = tx.send(Err(why.to_owned()));
    }
}

/// Holds the subscriptions: applies the lifetime's changes in order, hands messages to the
/// lifetime, reconnects and resubscribes when the connection drops.
async fn subscriber(
    client: redis::Client,
    bp: Weak<Backplane>,
    mut rx: mpsc::UnboundedReceiver<SubCommand>,
    ready: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let mut wanted: HashSet<String> = HashSet::new();
    let mut attempt = 0u32;
    let mut was_connected = false;
    loop {
        // Connect, answering commands meanwhile (they only change what is wanted).
        let connect = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub());
        tokio::pin!(connect);
        let pubsub = loop {
            tokio::select! {
                c = &mut connect => break c,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => apply_offline(&mut wanted, cmd),
                    None => return,
                },
                _ = shutdown.cancelled() => return,
            }
        };
        let pubsub = match pubsub {
            Ok(Ok(p)) => p,
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "connecting timed out".to_owned(),
                };
                if attempt == 0 {
                    if let Some(bp) = bp.upgrade() {
                        tracing::error!(
                            "redis backplane: cannot reach {} ({why}); retrying",
                            bp.url
                        );
                    }
                }
                attempt += 1;
                let pause = tokio::time::sleep(backoff(attempt));
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        _ = &mut pause => break,
                        cmd = rx.recv() => match cmd {
                            Some(cmd) => apply_offline(&mut wanted, cmd),
                            None => return,
                        },
                        _ = shutdown.cancelled() => return,
                    }
                }
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let mut ok = true;
        for ch in &wanted {
            if let Err(e) = sink.subscribe(ch).await {
                tracing::error!("redis backplane: SUBSCRIBE {ch} failed: {e}");
                ok = false;
                break;
            }
        }
        if !ok {
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
            continue;
        }
        attempt = 0;
        let _ = ready.send(true);
        if let Some(bp) = bp.upgrade() {
            if was_connected {
                bp.report_losses(&format!(
                    "reconnected to {} and resubscribed {} channel(s); messages other nodes published while it was away were not received",
                    bp.url,
                    wanted.len()
                ));
            } else {
                tracing::info!(
                    "redis backplane: connected to {} ({} channel(s))",
                    bp.url,
                    wanted.len()
                );
            }
        }
        was_connected = true;
        // Connected: messages and commands until the connection drops.
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    let Some(bp) = bp.upgrade() else { return };
                    let Some(lifetime) = bp.lifetime() else {
                        return;
                    };
                    let payload = Bytes::copy_from_slice(msg.get_payload_bytes());
                    bp.on_message(&*lifetime, msg.get_channel_name(), payload);
                }
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    let r = match cmd {
                        SubCommand::Subscribe(ch) => {
                            if wanted.insert(ch.clone()) { sink.subscribe(&ch).await } else { Ok(()) }
                        }
                        SubCommand::Unsubscribe(ch) => {
                            if wanted.remove(&ch) { sink.unsubscribe(&ch).await } else { Ok(()) }
                        }
                        SubCommand::Barrier(tx) => {
                            let _ = tx.send(());
                            Ok(())
                        }
                    };
                    if let Err(e) = r {
                        tracing::warn!("redis backplane: subscription change failed: {e}");
                        break;
                    }
                }
                _ = shutdown.cancelled() => return,
            }
        }
        let _ = ready.send(false);
        if let Some(bp) = bp.upgrade() {
            tracing::error!(
                "redis backplane: lost the connection to {}; reconnecting (messages published meanwhile by other nodes are lost)",
                bp.url
            );
        }
    }
}

fn apply_offline(wanted: &mut HashSet<String>, cmd: SubCommand) {
    match cmd {
        SubCommand::Subscribe(ch) => {
            wanted.insert(ch);
        }
        SubCommand::Unsubscribe(ch) => {
            wanted.remove(&ch);
        }
        // Nothing can reach Redis now; whoever waits is not held up (it is retried on reconnect).
        SubCommand::Barrier(tx) => {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_aspnetcores() {
        let c = Channels::new("conf", "Hub.Full.Name");
        assert_eq!(c.all(), "confHub.Full.Name:all");
        assert_eq!(c.connection("a"), "confHub.Full.Name:connection:a");
        assert_eq!(c.group("g"), "confHub.Full.Name:group:g");
        assert_eq!(c.user("u"), "confHub.Full.Name:user:u");
        assert_eq!(c.group_commands(), "confHub.Full.Name:internal:groups");
        assert_eq!(c.ack("s"), "confHub.Full.Name:internal:ack:s");
        assert_eq!(c.ret("s"), "confHub.Full.Name:internal:return:s");
        assert_eq!(c.ret_in_payload("s"), "Hub.Full.Name:internal:return:s");
        assert_eq!(c.publish_name(&c.ret_in_payload("s")), c.ret("s"));
        assert_eq!(
            c.route("confHub.Full.Name:group:a:b"),
            Some(Route::Group("a:b"))
        );
        assert_eq!(c.route("confOther:all"), None);
        assert_eq!(c.route("confHub.Full.Name:nonsense"), None);
    }

    /// A hub none of whose connections is here.
    struct Empty;

    impl LocalHub for Empty {
        fn deliver_all(&self, _: &Invocation) {}
        fn deliver_connection(&self, _: &str, _: &Invocation) {}
        fn deliver_group(&self, _: &str, _: &Invocation) {}
        fn deliver_user(&self, _: &str, _: &Invocation) {}
        fn protocol_of(&self, _: &str) -> Option<HubProtocol> {
            None
        }
        fn apply_group_command(&self, _: GroupAction, _: &str, _: &str) -> bool {
            false
        }
        fn expect_result(
            &self,
            _: &str,
            _: &str,
        ) -> oneshot::Receiver<Result<Value, ClientResultError>> {
            panic!("no connection here owes a result")
        }
        fn complete_remote_result(&self, _: &str, _: Result<Value, ClientResultError>) {}
    }

    /// A client result asked of a connection that already left (its channel still subscribed
    /// for a moment) is answered at once instead of never: the answer goes to the publisher
    /// (Redis is unreachable here, so it is counted as lost).
    #[tokio::test]
    async fn a_client_result_for_a_connection_that_left_is_answered() {
        let hub: Arc<dyn LocalHub> = Arc::new(Empty);
        let settings = Settings {
            url: "redis://127.0.0.1:1".into(),
            prefix: String::new(),
            hub_name: "H".into(),
        };
        let shutdown = CancellationToken::new();
        let bp = Backplane::start(
            &settings,
            Arc::downgrade(&hub),
            FaultSet::default(),
            shutdown.clone(),
        )
        .expect("starts");
        let inv = format::write_invocation(
            &[],
            &[("json", b"{}\x1e")],
            Some(("id1", "H:internal:return:other")),
        );
        assert_eq!(bp.lost.load(Ordering::Relaxed), 0);
        bp.on_message(&*hub, "H:connection:gone", Bytes::from(inv));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while bp.lost.load(Ordering::Relaxed) == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no answer was published"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Garbage on the same channel publishes nothing.
        bp.on_message(&*hub, "H:connection:gone", Bytes::from_static(b"junk"));
        assert_eq!(bp.dropped.load(Ordering::Relaxed), 1);
        shutdown.cancel();
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            shown_url("redis://:s3cret@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(shown_url("redis://u:s3cret@h"), "redis://u:***@h");
        assert_eq!(shown_url("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn server_names_look_like_aspnetcores() {
        let n = server_name();
        let (host, id) = n.rsplit_once('_').expect("underscore");
        assert!(!host.is_empty());
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
