//! Hub definitions: methods with typed parameters, binding of wire values to those types, and
//! the error texts ASP.NET Core builds from exceptions.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use signalr_protocol::{HubProtocol, Value};

use crate::call::Call;
use crate::error::HubError;

/// The parameter types a hub method can declare; binding follows System.Text.Json (JSON) and
/// MessagePack-CSharp (MessagePack) for the corresponding .NET type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `object` / `JsonElement`: anything.
    Any,
    /// `string`: a string or null.
    String,
    /// `int`.
    Int32,
    /// `long`.
    Int64,
    /// `double`.
    Double,
    /// `bool`.
    Bool,
    /// `byte[]`: base64 string (JSON) or bin (MessagePack), or null.
    Bytes,
    /// `DateTime`: ISO 8601 string (JSON) or timestamp (MessagePack).
    DateTime,
    /// `string[]`: an array of strings or nulls, or null.
    StringArray,
    /// A class: an object (JSON) or map (MessagePack), or null.
    Object,
}

impl ParamType {
    /// Whether `v`, as received over `protocol`, binds to this type.
    pub fn accepts(&self, v: &Value, protocol: HubProtocol) -> bool {
        match (self, v) {
            (ParamType::Any, _) => true,
            (ParamType::String, Value::String(_) | Value::Null) => true,
            (ParamType::Int32, Value::Int(i)) => i32::try_from(*i).is_ok(),
            (ParamType::Int64, Value::Int(_)) => true,
            (ParamType::Double, Value::Int(_) | Value::UInt(_) | Value::F64(_) | Value::F32(_)) => {
                true
            }
            (ParamType::Bool, Value::Bool(_)) => true,
            (ParamType::Bytes, Value::Null) => true,
            (ParamType::Bytes, Value::Binary(_)) => protocol == HubProtocol::MessagePack,
            (ParamType::Bytes, Value::String(s)) => {
                use base64::Engine as _;
                protocol == HubProtocol::Json
                    && base64::engine::general_purpose::STANDARD.decode(s).is_ok()
            }
            (ParamType::DateTime, Value::Timestamp(_)) => protocol == HubProtocol::MessagePack,
            (ParamType::DateTime, Value::String(s)) => {
                protocol == HubProtocol::Json && looks_like_iso_date(s)
            }
            (ParamType::StringArray, Value::Null) => true,
            (ParamType::StringArray, Value::Array(items)) => items
                .iter()
                .all(|i| matches!(i, Value::String(_) | Value::Null)),
            (ParamType::Object, Value::Map(_) | Value::Null) => true,
            _ => false,
        }
    }
}

fn looks_like_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// One declared parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// A value taken from `arguments`.
    Value(ParamType),
    /// A client-to-server stream (`ChannelReader<T>` / `IAsyncEnumerable<T>`), fed by `streamIds`.
    Upload(ParamType),
}

/// What a non-streaming method returns: `None` for `void`/`Task`.
pub type Reply = Option<Value>;

/// A synchronous method: runs on the connection's own task (no await points).
pub type SyncFn = dyn Fn(&Call, Vec<Value>) -> Result<Reply, HubError> + Send + Sync;
/// An asynchronous method.
pub type AsyncFn =
    dyn Fn(Call, Vec<Value>) -> BoxFuture<'static, Result<Reply, HubError>> + Send + Sync;
/// A streaming method: fails up front (an exception before the first item) or yields a stream
/// whose items may fail (an exception while streaming).
pub type StreamFn = dyn Fn(Call, Vec<Value>) -> Result<BoxStream<'static, Result<Value, HubError>>, HubError>
    + Send
    + Sync;

/// How a method runs.
#[derive(Clone)]
pub enum Handler {
    /// Returns at once.
    Sync(Arc<SyncFn>),
    /// Returns a future.
    Async(Arc<AsyncFn>),
    /// Returns a stream (a server-to-client streaming method).
    Stream(Arc<StreamFn>),
}

/// A hub method.
#[derive(Clone)]
pub struct HubMethod {
    /// Its name as declared (lookup is case-insensitive).
    pub name: String,
    /// Its parameters in order.
    pub params: Vec<Param>,
    /// Its body.
    pub handler: Handler,
    /// Whether it carries `[Authorize]` (the caller needs a user).
    pub authorize: bool,
    /// `[Authorize(Roles = "a,b")]`: the caller needs one of these roles (empty = any user).
    pub roles: Vec<String>,
    /// `[Authorize(Policy = …)]` with `RequireClaim(type, value)`: claims the caller needs.
    pub claims: Vec<(String, String)>,
}

impl HubMethod {
    /// Whether `user` may call it (`DefaultHubDispatcher.IsHubMethodAuthorized`).
    pub fn allows(&self, user: Option<&crate::auth::User>) -> bool {
        if !self.authorize {
            return true;
        }
        let Some(u) = user else { return false };
        (self.roles.is_empty() || self.roles.iter().any(|r| u.in_role(r)))
            && self.claims.iter().all(|(t, v)| u.has_claim(t, v))
    }
}

impl HubMethod {
    /// Whether it is a server-to-client streaming method.
    pub fn is_streaming(&self) -> bool {
        matches!(self.handler, Handler::Stream(_))
    }

    /// Number of upload-stream parameters.
    pub fn upload_count(&self) -> usize {
        self.params
            .iter()
            .filter(|p| matches!(p, Param::Upload(_)))
            .count()
    }

    /// Types of the parameters taken from `arguments`.
    pub fn value_params(&self) -> impl Iterator<Item = ParamType> + '_ {
        self.params.iter().filter_map(|p| match p {
            Param::Value(t) => Some(*t),
            Param::Upload(_) => None,
        })
    }

    /// Binds `arguments` like the protocol's binder does; `Err` is the binding exception text.
    pub fn bind(&self, args: &[Value], protocol: HubProtocol) -> Result<(), String> {
        let expected = self.value_params().count();
        match protocol {
            // JsonHubProtocol.BindTypes: types are checked while reading, then the count.
            HubProtocol::Json => {
                for (v, t) in args.iter().zip(self.value_params()) {
                    if !t.accepts(v, protocol) {
                        return Err("Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.".into());
                    }
                }
                if args.len() != expected {
                    return Err(format!(
                        "Invocation provides {} argument(s) but target expects {expected}.",
                        args.len(),
                    ));
                }
            }
            // MessagePackHubProtocolWorker.BindArguments: the count first, then each value.
            HubProtocol::MessagePack => {
                if args.len() != expected {
                    return Err(format!(
                        "Invocation provides {} argument(s) but target expects {expected}.",
                        args.len(),
                    ));
                }
                // Every value's failure is wrapped in the same text (ASP.NET Core 10, observed).
                for (v, t) in args.iter().zip(self.value_params()) {
                    if !t.accepts(v, protocol) {
                        return Err("Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.".into());
                    }
                }
            }
        }
        Ok(())
    }
}

/// What runs when a connection has completed its handshake (`OnConnectedAsync`).
pub type OnConnectedFn = dyn Fn(&Call) -> Result<(), HubError> + Send + Sync;

/// A hub: its methods and options.
#[derive(Clone, Default)]
pub struct Hub {
    methods: HashMap<String, Arc<HubMethod>>,
    /// `EnableDetailedErrors`.
    pub detailed_errors: bool,
    /// `OnConnectedAsync`.
    pub on_connected: Option<Arc<OnConnectedFn>>,
}

impl Hub {
    /// An empty hub.
    pub fn new(detailed_errors: bool) -> Self {
        Self {
            detailed_errors,
            ..Self::default()
        }
    }

    fn add(&mut self, name: &str, params: &[Param], handler: Handler) -> &mut Self {
        let key = name.to_ascii_lowercase();
        assert!(
            !self.methods.contains_key(&key),
            "Duplicate definitions of '{name}'. Overloading is not supported."
        );
        self.methods.insert(
            key,
            Arc::new(HubMethod {
                name: name.to_owned(),
                params: params.to_vec(),
                handler,
                authorize: false,
                roles: Vec::new(),
                claims: Vec::new(),
            }),
        );
        self
    }

    /// Adds a method that returns at once.
    pub fn sync(
        &mut self,
        name: &str,
        params: &[Param],
        f: impl Fn(&Call, Vec<Value>) -> Result<Reply, HubError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.add(name, params, Handler::Sync(Arc::new(f)))
    }

    /// Adds an asynchronous method.
    pub fn asynchronous<F>(
        &mut self,
        name: &str,
        params: &[Param],
        f: impl Fn(Call, Vec<Value>) -> F + Send + Sync + 'static,
    ) -> &mut Self
    where
        F: std::future::Future<Output = Result<Reply, HubError>> + Send + 'static,
    {
        self.add(
            name,
            params,
            Handler::Async(Arc::new(move |c, a| Box::pin(f(c, a)))),
        )
    }

    /// Adds a server-to-client streaming method.
    pub fn streaming(
        &mut self,
        name: &str,
        params: &[Param],
        f: impl Fn(Call, Vec<Value>) -> Result<BoxStream<'static, Result<Value, HubError>>, HubError>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.add(name, params, Handler::Stream(Arc::new(f)))
    }

    /// Marks the last-added method `name` as `[Authorize]`.
    pub fn authorize(&mut self, name: &str) -> &mut Self {
        if let Some(m) = self.methods.get_mut(&name.to_ascii_lowercase()) {
            Arc::make_mut(m).authorize = true;
        }
        self
    }

    /// Marks method `name` as `[Authorize(Roles = "…")]`: the caller needs one of `roles`.
    pub fn authorize_roles(&mut self, name: &str, roles: &[&str]) -> &mut Self {
        if let Some(m) = self.methods.get_mut(&name.to_ascii_lowercase()) {
            let m = Arc::make_mut(m);
            m.authorize = true;
            m.roles = roles.iter().map(|r| (*r).to_owned()).collect();
        }
        self
    }

    /// Marks method `name` as `[Authorize(Policy = …)]` for a policy that requires the claim
    /// `claim_type` with `value`.
    pub fn authorize_claim(&mut self, name: &str, claim_type: &str, value: &str) -> &mut Self {
        if let Some(m) = self.methods.get_mut(&name.to_ascii_lowercase()) {
            let m = Arc::make_mut(m);
            m.authorize = true;
            m.claims.push((claim_type.to_owned(), value.to_owned()));
        }
        self
    }

    /// Sets `OnConnectedAsync`.
    pub fn on_connected(
        &mut self,
        f: impl Fn(&Call) -> Result<(), HubError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.on_connected = Some(Arc::new(f));
        self
    }

    /// Finds a method: case-insensitive, as ASP.NET Core's dispatcher does, unless
    /// `case_sensitive` (a fault mode) is set.
    pub(crate) fn method(&self, name: &str, case_sensitive: bool) -> Option<&Arc<HubMethod>> {
        // Looked up on every invocation: short names are lower-cased on the stack.
        let mut buf = [0u8; 64];
        let m = match buf.get_mut(..name.len()) {
            Some(short) => {
                short.copy_from_slice(name.as_bytes());
                short.make_ascii_lowercase();
                let lower = std::str::from_utf8(short).ok()?;
                self.methods.get(lower)?
            }
            None => self.methods.get(&name.to_ascii_lowercase())?,
        };
        (!case_sensitive || m.name == name).then_some(m)
    }

    /// All method names.
    pub fn method_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.methods.values().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        names
    }
}
