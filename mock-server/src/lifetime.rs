//! Connections, groups and users of one hub, and the sends that address them
//! (`DefaultHubLifetimeManager`), plus pending client results.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::Bytes;
use signalr_protocol::{HubMessage, HubProtocol, Value};
use tokio::sync::oneshot;

use crate::error::ClientResultError;
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
        if let Some(user) = &conn.user_id {
            if let Ok(mut users) = self.users.lock() {
                users
                    .entry(user.clone())
                    .or_default()
                    .insert(conn.connection_id.clone());
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

    /// `Groups.AddToGroupAsync`: idempotent; unknown connections are ignored.
    pub fn add_to_group(&self, connection_id: &str, group: &str) {
        let Some(conn) = self.connection(connection_id) else {
            return;
        };
        if let Ok(mut g) = conn.groups.lock() {
            g.insert(group.to_owned());
        }
        if let Ok(mut groups) = self.groups.lock() {
            groups
                .entry(group.to_owned())
                .or_default()
                .insert(connection_id.to_owned());
        }
    }

    /// `Groups.RemoveFromGroupAsync`: harmless for non-members.
    pub fn remove_from_group(&self, connection_id: &str, group: &str) {
        if let Some(conn) = self.connection(connection_id) {
            if let Ok(mut g) = conn.groups.lock() {
                g.remove(group);
            }
        }
        if let Ok(mut groups) = self.groups.lock() {
            if let Some(members) = groups.get_mut(group) {
                members.remove(connection_id);
                if members.is_empty() {
                    groups.remove(group);
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
        let targets: Vec<_> = groups
            .iter()
            .flat_map(|g| self.group_members(g))
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
        let mut seen = HashSet::new();
        let targets: Vec<_> = users
            .iter()
            .flat_map(|u| self.user_connections(u))
            .filter(|id| seen.insert(id.clone()))
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
        let conn = self.connection(connection_id).ok_or_else(|| {
            ClientResultError::Connection(format!("Connection '{connection_id}' does not exist."))
        })?;
        let n = self.next_result_id.fetch_add(1, Ordering::Relaxed) + 1;
        let id = if self.variations.has(Variation::RandomInvocationIds) {
            random_id()
        } else {
            format!("s{n}")
        };
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

/// A random 22-character id (base64 of 16 random bytes, unpadded), as the Redis backplane's
/// client-result ids look.
fn random_id() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}
