//! Connections, groups and users of one hub, and the sends that address them
//! (`DefaultHubLifetimeManager`), plus pending client results. With a Redis backplane attached
//! (`--redis`) sends go through Redis as `RedisHubLifetimeManager` sends them, and what Redis
//! brings is delivered here (`LocalHub::deliver_*`); without one nothing changes (one branch).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::Bytes;
use signalr_protocol::{HubMessage, HubProtocol, Value};
use tokio::sync::oneshot;

use crate::backplane::format::{GroupAction, Invocation};
use crate::backplane::{Backplane, LocalHub};
use crate::error::{ClientResultError, HubError};
use crate::faults::{Fault, FaultSet};
use crate::handle::ConnHandle;
use crate::variations::{Variation, VariationSet};

/// Deliveries an invocation made that wait for its Completion (variation `completion-first`).
pub(crate) type Deferred = Arc<Mutex<Vec<(Vec<Arc<ConnHandle>>, SharedMessage)>>>;

tokio::task_local! {
    /// The deferred deliveries of the invocation running on this task, if any.
    static DEFERRED: Deferred;
}

/// Runs a synchronous hub method with its deliveries held in `d`.
pub(crate) fn hold_deliveries<R>(d: Deferred, f: impl FnOnce() -> R) -> R {
    DEFERRED.sync_scope(d, f)
}

/// Runs an asynchronous hub method with its deliveries held in `d`.
pub(crate) async fn hold_deliveries_async<F: std::future::Future>(d: Deferred, f: F) -> F::Output {
    DEFERRED.scope(d, f).await
}

/// Delivers what an invocation held back (after its Completion was queued).
pub(crate) fn release_deliveries(d: &Deferred) {
    let held = d
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    for (targets, shared) in held {
        for conn in targets {
            conn.send_bytes(shared.bytes_for(&conn));
        }
    }
}

/// A message sent to many connections: encoded at most once per protocol.
pub(crate) struct SharedMessage {
    msg: HubMessage,
    encoded: [OnceLock<Bytes>; 2],
}

impl SharedMessage {
    /// Wraps a message.
    pub(crate) fn new(msg: HubMessage) -> Self {
        Self {
            msg,
            encoded: [OnceLock::new(), OnceLock::new()],
        }
    }

    pub(crate) fn bytes_for(&self, conn: &ConnHandle) -> Bytes {
        let slot = match conn.protocol {
            HubProtocol::Json => &self.encoded[0],
            HubProtocol::MessagePack => &self.encoded[1],
        };
        slot.get_or_init(|| conn.encode(&self.msg)).clone()
    }
}

struct PendingResult {
    connection_id: String,
    tx: oneshot::Sender<Result<Value, ClientResultError>>,
}

/// What a client's Completion for an `s<n>` id means.
pub(crate) enum ResultRouting {
    /// It answered a pending client result.
    Delivered,
    /// It belongs to another connection: this one is closed with the error.
    WrongConnection(String),
    /// Nobody waits for it: ignored.
    Unknown,
}

/// A hub's connections, groups and users (`Clients`, `Groups`), and the client results its
/// methods wait for.
#[derive(Default)]
pub struct HubLifetime {
    connections: RwLock<HashMap<String, Arc<ConnHandle>>>,
    groups: Mutex<HashMap<String, HashSet<String>>>,
    users: Mutex<HashMap<String, HashSet<String>>>,
    pending: Mutex<HashMap<String, PendingResult>>,
    next_result_id: AtomicU64,
    faults: FaultSet,
    variations: VariationSet,
    backplane: OnceLock<Arc<Backplane>>,
}

impl HubLifetime {
    pub(crate) fn new(faults: FaultSet, variations: VariationSet) -> Self {
        Self {
            faults,
            variations,
            ..Self::default()
        }
    }

    /// Number of connected clients.
    pub fn connection_count(&self) -> usize {
        self.connections.read().map(|c| c.len()).unwrap_or(0)
    }

    /// Ids of connected clients.
    pub fn connection_ids(&self) -> Vec<String> {
        self.connections
            .read()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn add(&self, conn: Arc<ConnHandle>) {
        let bp = self.backplane.get();
        if let Some(bp) = bp {
            bp.subscribe(bp.channels.connection(&conn.connection_id));
        }
        if let Some(user) = &conn.user_id {
            if let Ok(mut users) = self.users.lock() {
                let set = users.entry(user.clone()).or_default();
                if let (true, Some(bp)) = (set.is_empty(), bp) {
                    bp.subscribe(bp.channels.user(user));
                }
                set.insert(conn.connection_id.clone());
            }
        }
        if let Ok(mut c) = self.connections.write() {
            c.insert(conn.connection_id.clone(), conn);
        }
    }

    /// Forgets a connection: its groups (cost proportional to its own groups), its user entry,
    /// and fails the client results it owes.
    pub(crate) fn remove(&self, conn: &ConnHandle) {
        if let Ok(mut c) = self.connections.write() {
            c.remove(&conn.connection_id);
        }
        let bp = self.backplane.get();
        if let Some(bp) = bp {
            bp.unsubscribe(bp.channels.connection(&conn.connection_id));
            bp.forget_connection(&conn.connection_id);
        }
        let own_groups: Vec<String> = conn
            .groups
            .lock()
            .map(|mut g| g.drain().collect())
            .unwrap_or_default();
        if let Ok(mut groups) = self.groups.lock() {
            for g in own_groups {
                if let Some(members) = groups.get_mut(&g) {
                    members.remove(&conn.connection_id);
                    if members.is_empty() {
                        groups.remove(&g);
                        if let Some(bp) = bp {
                            bp.unsubscribe(bp.channels.group(&g));
                        }
                    }
                }
            }
        }
        if let Some(user) = &conn.user_id {
            if let Ok(mut users) = self.users.lock() {
                if let Some(set) = users.get_mut(user) {
                    set.remove(&conn.connection_id);
                    if set.is_empty() {
                        users.remove(user);
                        if let Some(bp) = bp {
                            bp.unsubscribe(bp.channels.user(user));
                        }
                    }
                }
            }
        }
        let owed: Vec<PendingResult> = match self.pending.lock() {
            Ok(mut p) => {
                let ids: Vec<String> = p
                    .iter()
                    .filter(|(_, r)| r.connection_id == conn.connection_id)
                    .map(|(k, _)| k.clone())
                    .collect();
                ids.into_iter().filter_map(|k| p.remove(&k)).collect()
            }
            Err(_) => Vec::new(),
        };
        for r in owed {
            let _ = r.tx.send(Err(ClientResultError::Connection(format!(
                "Connection '{}' disconnected.",
                conn.connection_id
            ))));
        }
    }

    /// The connection with this id.
    pub(crate) fn connection(&self, id: &str) -> Option<Arc<ConnHandle>> {
        self.connections.read().ok()?.get(id).cloned()
    }

    /// Whether a connection with this id is connected.
    pub fn is_connected(&self, id: &str) -> bool {
        self.connections
            .read()
            .map(|c| c.contains_key(id))
            .unwrap_or(false)
    }

    /// `Groups.AddToGroupAsync`: idempotent; unknown connections are ignored (with a backplane,
    /// a connection of another node is added there, without waiting: see
    /// [`HubLifetime::add_to_group_async`]).
    pub fn add_to_group(&self, connection_id: &str, group: &str) {
        let Some(conn) = self.connection(connection_id) else {
            if let Some(bp) = self.backplane.get().cloned() {
                let (id, g) = (connection_id.to_owned(), group.to_owned());
                tokio::spawn(async move { bp.group_command(GroupAction::Add, &id, &g).await });
            }
            return;
        };
        if let Some(bp) = self.backplane.get() {
            if !bp.admit_group(connection_id, group) {
                return;
            }
        }
        if let Ok(mut g) = conn.groups.lock() {
            g.insert(group.to_owned());
        }
        if let Ok(mut groups) = self.groups.lock() {
            let members = groups.entry(group.to_owned()).or_default();
            if let (true, Some(bp)) = (members.is_empty(), self.backplane.get()) {
                bp.subscribe(bp.channels.group(group));
            }
            members.insert(connection_id.to_owned());
        }
    }

    /// `Groups.RemoveFromGroupAsync`: harmless for non-members.
    pub fn remove_from_group(&self, connection_id: &str, group: &str) {
        if self.backplane.get().is_some() && self.faults.has(Fault::BackplaneLeaveIgnored) {
            return;
        }
        match self.connection(connection_id) {
            Some(conn) => {
                if let Ok(mut g) = conn.groups.lock() {
                    g.remove(group);
                }
                if let Some(bp) = self.backplane.get() {
                    bp.forget_group(connection_id, group);
                }
            }
            None => {
                if let Some(bp) = self.backplane.get().cloned() {
                    let (id, g) = (connection_id.to_owned(), group.to_owned());
                    tokio::spawn(
                        async move { bp.group_command(GroupAction::Remove, &id, &g).await },
                    );
                }
                return;
            }
        }
        if let Ok(mut groups) = self.groups.lock() {
            if let Some(members) = groups.get_mut(group) {
                members.remove(connection_id);
                if members.is_empty() {
                    groups.remove(group);
                    if let Some(bp) = self.backplane.get() {
                        bp.unsubscribe(bp.channels.group(group));
                    }
                }
            }
        }
    }

    /// Whether the variation `completion-first` holds deliveries back.
    pub(crate) fn completion_first(&self) -> bool {
        self.variations.has(Variation::CompletionFirst)
    }

    fn deliver(&self, targets: impl IntoIterator<Item = Arc<ConnHandle>>, msg: HubMessage) {
        let shared = SharedMessage::new(msg);
        if self.completion_first() {
            let targets: Vec<_> = targets.into_iter().collect();
            let mut item = Some((targets, shared));
            let _ = DEFERRED.try_with(|d| {
                if let (Ok(mut held), Some(i)) = (d.lock(), item.take()) {
                    held.push(i);
                }
            });
            let Some((targets, shared)) = item else {
                return;
            };
            for conn in targets {
                conn.send_bytes(shared.bytes_for(&conn));
            }
            return;
        }
        for conn in targets {
            conn.send_bytes(shared.bytes_for(&conn));
        }
    }

    fn all_except(&self, except: &[&str]) -> Vec<Arc<ConnHandle>> {
        self.connections
            .read()
            .map(|c| {
                c.values()
                    .filter(|conn| !except.contains(&conn.connection_id.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `Clients.All` / `Clients.AllExcept(ids)`.
    pub fn send_all(&self, except: &[&str], msg: HubMessage) {
        if let Some(bp) = self.backplane.get() {
            let payload = bp.invocation_payload(&msg, except, None);
            return bp.publish_invocation(bp.channels.all(), payload);
        }
        let targets = self.all_except(except);
        self.deliver(targets, msg);
    }

    /// `Clients.Others` (the caller excluded, unless a fault mode says otherwise).
    pub fn send_others(&self, caller: &str, msg: HubMessage) {
        let except: &[&str] = if self.faults.has(Fault::OthersIncludesCaller) {
            &[]
        } else {
            &[caller]
        };
        self.send_all(except, msg);
    }

    /// `Clients.Client(id)` / `Clients.Clients(ids)` (each listed connection once).
    pub fn send_connections(&self, ids: &[&str], msg: HubMessage) {
        if let Some(bp) = self.backplane.get() {
            // SendConnectionAsync shortcuts a local connection; SendConnectionsAsync publishes.
            if let ([_], Some(conn)) = (ids, ids.first().and_then(|id| self.connection(id))) {
                return self.deliver([conn], msg);
            }
            let payload = bp.invocation_payload(&msg, &[], None);
            let mut seen = HashSet::new();
            for id in ids.iter().filter(|id| seen.insert(**id)) {
                bp.publish_invocation(bp.channels.connection(id), payload.clone());
            }
            return;
        }
        let mut seen = HashSet::new();
        let targets: Vec<_> = ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| self.connection(id))
            .collect();
        self.deliver(targets, msg);
    }

    fn group_members(&self, group: &str) -> Vec<String> {
        self.groups
            .lock()
            .ok()
            .and_then(|g| g.get(group).map(|m| m.iter().cloned().collect()))
            .unwrap_or_default()
    }

    /// `Clients.Group(name)` / `GroupExcept(name, ids)` / `OthersInGroup(name)`.
    pub fn send_group(&self, group: &str, except: &[&str], msg: HubMessage) {
        if self.faults.has(Fault::GroupSendLeaks) {
            return self.send_all(except, msg);
        }
        if let Some(bp) = self.backplane_unless(Fault::BackplaneLocalGroups) {
            let payload = bp.invocation_payload(&msg, except, None);
            return bp.publish_invocation(bp.channels.group(group), payload);
        }
        let members = self.group_members(group);
        let targets: Vec<_> = members
            .iter()
            .filter(|id| !except.contains(&id.as_str()))
            .filter_map(|id| self.connection(id))
            .collect();
        self.deliver(targets, msg);
    }

    /// `Clients.Groups(names)`: a member of two listed groups receives the message twice, as
    /// with ASP.NET Core's default lifetime manager.
    pub fn send_groups(&self, groups: &[&str], msg: HubMessage) {
        if self.faults.has(Fault::GroupSendLeaks) {
            return self.send_all(&[], msg);
        }
        if let Some(bp) = self.backplane_unless(Fault::BackplaneLocalGroups) {
            let payload = bp.invocation_payload(&msg, &[], None);
            for g in groups.iter().filter(|g| !g.is_empty()) {
                bp.publish_invocation(bp.channels.group(g), payload.clone());
            }
            return;
        }
        let dedup = self.faults.has(Fault::GroupsDeduplicated);
        let mut seen = HashSet::new();
        let targets: Vec<_> = groups
            .iter()
            .flat_map(|g| self.group_members(g))
            .filter(|id| !dedup || seen.insert(id.clone()))
            .filter_map(|id| self.connection(&id))
            .collect();
        self.deliver(targets, msg);
    }

    fn user_connections(&self, user: &str) -> Vec<String> {
        self.users
            .lock()
            .ok()
            .and_then(|u| u.get(user).map(|m| m.iter().cloned().collect()))
            .unwrap_or_default()
    }

    /// `Clients.User(id)` / `Clients.Users(ids)` (each connection at most once).
    pub fn send_users(&self, users: &[&str], msg: HubMessage) {
        if let Some(bp) = self.backplane_unless(Fault::BackplaneLocalUsers) {
            // One publish per listed user, as RedisHubLifetimeManager.SendUsersAsync.
            let payload = bp.invocation_payload(&msg, &[], None);
            for u in users.iter().filter(|u| !u.is_empty()) {
                bp.publish_invocation(bp.channels.user(u), payload.clone());
            }
            return;
        }
        let mut seen = HashSet::new();
        let targets: Vec<_> = users
            .iter()
            .flat_map(|u| self.user_connections(u))
            .filter(|id| seen.insert(id.clone()) || self.faults.has(Fault::UsersSentPerListing))
            .filter_map(|id| self.connection(&id))
            .collect();
        self.deliver(targets, msg);
    }

    /// Sends an Invocation with a fresh `s<n>` id to one connection and returns where its
    /// result will arrive.
    pub(crate) fn start_client_result(
        &self,
        connection_id: &str,
        target: &str,
        arguments: Vec<Value>,
    ) -> Result<(String, oneshot::Receiver<Result<Value, ClientResultError>>), ClientResultError>
    {
        let Some(conn) = self.connection(connection_id) else {
            if let Some(bp) = self.backplane_unless(Fault::BackplaneLocalClientResults) {
                return Ok(self.start_remote_client_result(bp, connection_id, target, arguments));
            }
            return Err(ClientResultError::Connection(format!(
                "Connection '{connection_id}' does not exist."
            )));
        };
        self.start_local_client_result(&conn, target, arguments)
    }

    /// [`Self::start_client_result`] for a connection of this node, once looked up.
    fn start_local_client_result(
        &self,
        conn: &Arc<ConnHandle>,
        target: &str,
        arguments: Vec<Value>,
    ) -> Result<(String, oneshot::Receiver<Result<Value, ClientResultError>>), ClientResultError>
    {
        let connection_id = conn.connection_id.as_str();
        let n = self.next_result_id.fetch_add(1, Ordering::Relaxed) + 1;
        // RedisHubLifetimeManager draws a random id for every client result, local ones too.
        let random =
            self.variations.has(Variation::RandomInvocationIds) || self.backplane.get().is_some();
        let id = if random { random_id() } else { format!("s{n}") };
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(
                id.clone(),
                PendingResult {
                    connection_id: connection_id.to_owned(),
                    tx,
                },
            );
        }
        // The connection may have left since it was looked up, its owed results already
        // failed by `remove`, which takes it out of the table first: then this one is failed
        // here, as ASP.NET Core links the wait to the connection's `ConnectionAborted`.
        if !self
            .connection(connection_id)
            .is_some_and(|c| Arc::ptr_eq(&c, conn))
        {
            self.cancel_client_result(&id);
            return Err(ClientResultError::Connection(format!(
                "Connection '{connection_id}' disconnected."
            )));
        }
        let msg = if self.faults.has(Fault::ClientResultWithoutId) {
            HubMessage::send(target, arguments)
        } else {
            HubMessage::invoke(id.clone(), target, arguments)
        };
        conn.send(&msg);
        Ok((id, rx))
    }

    /// Drops a pending client result (timed out or canceled).
    pub(crate) fn cancel_client_result(&self, id: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(id);
        }
    }

    /// Routes a Completion from `connection_id` to the hub method waiting for it.
    pub(crate) fn complete_client_result(
        &self,
        connection_id: &str,
        invocation_id: &str,
        result: Result<Value, ClientResultError>,
    ) -> ResultRouting {
        let Ok(mut p) = self.pending.lock() else {
            return ResultRouting::Unknown;
        };
        match p.get(invocation_id) {
            None => ResultRouting::Unknown,
            Some(r) if r.connection_id != connection_id => ResultRouting::WrongConnection(format!(
                "Connection ID '{connection_id}' is not valid for invocation ID '{invocation_id}'."
            )),
            Some(_) => {
                if let Some(r) = p.remove(invocation_id) {
                    let _ = r.tx.send(result);
                }
                ResultRouting::Delivered
            }
        }
    }
}

/// The Redis backplane side (see `backplane/`).
impl HubLifetime {
    /// Joins the hub to a backplane (once, before it serves).
    pub(crate) fn attach_backplane(&self, bp: Arc<Backplane>) {
        let _ = self.backplane.set(bp);
    }

    /// The backplane, if the hub has one.
    pub(crate) fn backplane(&self) -> Option<&Arc<Backplane>> {
        self.backplane.get()
    }

    /// The backplane, unless the fault `f` makes this node act as if it had none.
    fn backplane_unless(&self, f: Fault) -> Option<&Arc<Backplane>> {
        self.backplane.get().filter(|_| !self.faults.has(f))
    }

    /// Waits until the subscription changes made so far reached Redis (no-op without one):
    /// ASP.NET Core completes `OnConnectedAsync` and `AddToGroupAsync` after SUBSCRIBE.
    pub(crate) async fn backplane_barrier(&self) {
        if let Some(bp) = self.backplane.get() {
            bp.barrier().await;
        }
    }

    /// `Groups.AddToGroupAsync` as awaited by a hub method: a local connection is added once
    /// the group's channel is subscribed; a connection on another node once that node acked.
    pub async fn add_to_group_async(
        &self,
        connection_id: &str,
        group: &str,
    ) -> Result<(), HubError> {
        self.group_change(GroupAction::Add, connection_id, group)
            .await
    }

    /// `Groups.RemoveFromGroupAsync` as awaited by a hub method (see `add_to_group_async`).
    pub async fn remove_from_group_async(
        &self,
        connection_id: &str,
        group: &str,
    ) -> Result<(), HubError> {
        self.group_change(GroupAction::Remove, connection_id, group)
            .await
    }

    async fn group_change(
        &self,
        action: GroupAction,
        connection_id: &str,
        group: &str,
    ) -> Result<(), HubError> {
        let remote = self
            .backplane
            .get()
            .filter(|_| !self.is_connected(connection_id));
        if let Some(bp) = remote {
            return bp.group_command(action, connection_id, group).await;
        }
        match action {
            GroupAction::Add => self.add_to_group(connection_id, group),
            GroupAction::Remove => self.remove_from_group(connection_id, group),
        }
        self.backplane_barrier().await;
        Ok(())
    }

    fn start_remote_client_result(
        &self,
        bp: &Arc<Backplane>,
        connection_id: &str,
        target: &str,
        arguments: Vec<Value>,
    ) -> (String, oneshot::Receiver<Result<Value, ClientResultError>>) {
        let id = random_id();
        let rx = self.expect_result(connection_id, &id);
        let msg = HubMessage::invoke(id.clone(), target, arguments);
        let receivers = bp.publish_client_result(connection_id, &id, &msg);
        // Nobody subscribed to that connection: it exists on no node (InvokeConnectionAsync).
        let bp = Arc::downgrade(bp);
        let (conn_id, inv_id) = (connection_id.to_owned(), id.clone());
        tokio::spawn(async move {
            let failure = match receivers.await {
                Ok(Ok(0)) => format!("Connection '{conn_id}' does not exist."),
                Ok(Ok(_)) => return,
                Ok(Err(e)) => format!("Connection '{conn_id}' could not be reached: {e}"),
                Err(_) => return,
            };
            if let Some(lifetime) = bp.upgrade().and_then(|bp| bp.lifetime()) {
                lifetime
                    .complete_remote_result(&inv_id, Err(ClientResultError::Connection(failure)));
            }
        });
        (id, rx)
    }

    fn deliver_serialized(
        &self,
        targets: impl IntoIterator<Item = Arc<ConnHandle>>,
        inv: &Invocation,
    ) {
        let ignore_excluded = self.faults.has(Fault::BackplaneIgnoresExcluded);
        let copies = if self.faults.has(Fault::BackplaneDeliversTwice) {
            2
        } else {
            1
        };
        for conn in targets {
            if !ignore_excluded && inv.excluded.iter().any(|e| *e == conn.connection_id) {
                continue;
            }
            match inv.message_for(conn.protocol.name()) {
                Some(bytes) => {
                    for _ in 0..copies {
                        conn.send_bytes(bytes.clone());
                    }
                }
                None => tracing::warn!(
                    "redis backplane: an invocation without a '{}' serialization; not delivered to {}",
                    conn.protocol.name(),
                    conn.connection_id
                ),
            }
        }
    }
}

/// What the backplane hands back: deliveries of what Redis brought, group commands, results.
impl LocalHub for HubLifetime {
    fn deliver_all(&self, inv: &Invocation) {
        let targets = self.all_except(&[]);
        self.deliver_serialized(targets, inv);
    }

    fn deliver_connection(&self, id: &str, inv: &Invocation) {
        self.deliver_serialized(self.connection(id), inv);
    }

    fn deliver_group(&self, group: &str, inv: &Invocation) {
        let members = self.group_members(group);
        self.deliver_serialized(members.iter().filter_map(|id| self.connection(id)), inv);
    }

    fn deliver_user(&self, user: &str, inv: &Invocation) {
        let ids = self.user_connections(user);
        self.deliver_serialized(ids.iter().filter_map(|id| self.connection(id)), inv);
    }

    fn protocol_of(&self, connection_id: &str) -> Option<HubProtocol> {
        self.connection(connection_id).map(|c| c.protocol)
    }

    fn apply_group_command(&self, action: GroupAction, connection_id: &str, group: &str) -> bool {
        if !self.is_connected(connection_id) {
            return false;
        }
        if self.faults.has(Fault::BackplaneIgnoresGroupCommands) {
            return true;
        }
        match action {
            GroupAction::Add => self.add_to_group(connection_id, group),
            GroupAction::Remove => self.remove_from_group(connection_id, group),
        }
        true
    }

    fn expect_result(
        &self,
        connection_id: &str,
        invocation_id: &str,
    ) -> oneshot::Receiver<Result<Value, ClientResultError>> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(
                invocation_id.to_owned(),
                PendingResult {
                    connection_id: connection_id.to_owned(),
                    tx,
                },
            );
        }
        rx
    }

    fn complete_remote_result(
        &self,
        invocation_id: &str,
        result: Result<Value, ClientResultError>,
    ) {
        let r = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(invocation_id));
        if let Some(r) = r {
            let _ = r.tx.send(result);
        }
    }
}

/// A random 22-character id (base64 of 16 random bytes, unpadded), as the Redis backplane's
/// client-result ids look.
fn random_id() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Identity;
    use signalr_protocol::TransportKind;
    use tokio_util::sync::CancellationToken;

    /// A connection that leaves between its lookup and the registration of a client result
    /// (its owed results already failed) fails that result at once instead of leaving it to
    /// wait forever.
    #[test]
    fn a_client_result_for_a_connection_that_just_left_fails_at_once() {
        let lifetime = HubLifetime::new(FaultSet::default(), VariationSet::default());
        let (conn, _rx) = ConnHandle::new(
            Identity {
                connection_id: "b".into(),
                transport: TransportKind::ServerSentEvents,
                protocol: HubProtocol::Json,
                request: Arc::default(),
            },
            CancellationToken::new(),
            FaultSet::default(),
            1 << 20,
        );
        lifetime.add(conn.clone());
        let looked_up = lifetime.connection("b").expect("b is connected");
        lifetime.remove(&conn);
        let r = lifetime.start_local_client_result(&looked_up, "AreYouThere", Vec::new());
        assert!(
            matches!(&r, Err(ClientResultError::Connection(m)) if m == "Connection 'b' disconnected."),
            "{:?}",
            r.map(|(id, _)| id)
        );
        assert!(lifetime.pending.lock().unwrap().is_empty());
        // While connected, the result is registered and waits.
        lifetime.add(conn.clone());
        let (id, _rx) = lifetime
            .start_local_client_result(&conn, "AreYouThere", Vec::new())
            .expect("registered");
        assert!(lifetime.pending.lock().unwrap().contains_key(&id));
    }
}
