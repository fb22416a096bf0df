//! Fault modes: each one breaks exactly one behaviour, so a conformance case can be shown to
//! fail and a client library can be tested against a misbehaving server. All are off by default.

use serde::Deserialize;

macro_rules! faults {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal ),* $(,)?) => {
        /// A deliberately broken behaviour.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
        pub enum Fault {
            $( $(#[doc = $doc])* #[serde(rename = $name)] $variant, )*
        }

        impl Fault {
            /// Every fault mode.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            /// The name used on the command line and in config files.
            pub fn name(&self) -> &'static str {
                match self { $(Fault::$variant => $name,)* }
            }

            /// What it breaks.
            pub fn description(&self) -> &'static str {
                match self { $(Fault::$variant => concat!($($doc),*).trim_start(),)* }
            }

            /// The fault with this name.
            pub fn from_name(name: &str) -> Option<Fault> {
                match name { $($name => Some(Fault::$variant),)* _ => None }
            }
        }
    };
}

faults! {
    /// Sends a Completion for non-blocking invocations (those without an invocation id).
    AnswerNonBlocking = "answer-non-blocking",
    /// Writes JSON messages without the trailing 0x1E record separator.
    DropRecordSeparator = "drop-record-separator",
    /// Answers invocations with a Completion whose invocation id is wrong.
    WrongCompletionId = "wrong-completion-id",
    /// Never sends keep-alive Pings.
    NoKeepAlive = "no-keep-alive",
    /// Sends the items of server-to-client streams in reverse order.
    ReorderStreamItems = "reorder-stream-items",
    /// Group sends also reach connections that are not in the group.
    GroupSendLeaks = "group-send-leaks",
    /// Leaves out `result` when the result is a falsy value (0, false, "", null).
    DropFalsyResults = "drop-falsy-results",
    /// Negotiate answers without `negotiateVersion` and without `connectionToken`.
    NegotiateWithoutVersion = "negotiate-without-version",
    /// Negotiate returns a connectionToken equal to the connectionId and accepts either on transports.
    TokenEqualsId = "token-equals-id",
    /// Hub method names are matched case-sensitively.
    CaseSensitiveMethods = "case-sensitive-methods",
    /// Error texts are replaced by a generic "error" string.
    WrongErrorTexts = "wrong-error-texts",
    /// Ignores CancelInvocation: streams run to their end.
    IgnoreCancelInvocation = "ignore-cancel-invocation",
    /// Never sends a Close message before ending a connection.
    NoCloseMessage = "no-close-message",
    /// Does not enforce MaximumReceiveMessageSize.
    NoMessageSizeLimit = "no-message-size-limit",
    /// Accepts any handshake, even unknown protocols and versions.
    AcceptAnyHandshake = "accept-any-handshake",
    /// `Clients.Others` also delivers to the caller.
    OthersIncludesCaller = "others-includes-caller",
    /// Sends a Completion with a result for server-to-client streams.
    StreamCompletionWithResult = "stream-completion-with-result",
    /// Writes MessagePack binary values (bin) as strings and timestamps as integers.
    LossyMessagePackTypes = "lossy-messagepack-types",
    /// Writes the 2-element MessagePack Close (no allowReconnect).
    ShortMessagePackClose = "short-messagepack-close",
    /// Never times out a silent client.
    NoClientTimeout = "no-client-timeout",
    /// Closes the connection on an unknown message type instead of ignoring it.
    RejectUnknownMessageTypes = "reject-unknown-message-types",
    /// Sends Ack and Sequence messages even when stateful reconnect was not negotiated.
    UnsolicitedAck = "unsolicited-ack",
    /// Negotiate answers 400 when `negotiateVersion` is missing.
    RequireNegotiateVersion = "require-negotiate-version",
    /// Runs invocations of one connection in parallel (completions can overtake each other).
    ParallelInvocations = "parallel-invocations",
    /// Sends each stream item twice.
    DuplicateStreamItems = "duplicate-stream-items",
    /// Ignores the handshake timeout.
    NoHandshakeTimeout = "no-handshake-timeout",
    /// Client results are never delivered: the server-to-client Invocation has no invocation id.
    ClientResultWithoutId = "client-result-without-id",
    /// Answers the handshake only after 16 s (past its own handshake timeout and clients' 15 s).
    SlowHandshake = "slow-handshake",
    /// Ends WebSockets with Close frame status 1001 (Going Away) instead of 1000.
    WebSocketCloseGoingAway = "websocket-close-going-away",
    /// Sends JSON hub messages in WebSocket binary frames instead of text frames.
    JsonInBinaryFrames = "json-in-binary-frames",
    /// Answers a client's empty WebSocket Close frame with an empty one (clients see 1005) instead of status 1000.
    EchoEmptyClose = "echo-empty-close",
    /// Answers a Long Polling DELETE with 200 instead of 202.
    DeleteAnswers200 = "delete-answers-200",
    /// Answers GET, PUT and DELETE on negotiate like POST instead of 405.
    NegotiateAnyMethod = "negotiate-any-method",
    /// Starts Server-Sent Events with Content-Type text/plain and without the no-cache headers.
    SsePlainHeaders = "sse-plain-headers",
    /// Ends a poll that waited out the poll timeout with 204 (connection gone) instead of an empty 200.
    PollTimeout204 = "poll-timeout-204",
    // Authentication and authorization (the authorized hub, tokens, redirects).
    /// The authorized hub (`/authhub`) lets anonymous requests in: no 401 anywhere.
    AnonymousAuthorizedHub = "anonymous-authorized-hub",
    /// The authorized hub checks the token on negotiate only: transport requests need none.
    AuthNegotiateOnly = "auth-negotiate-only",
    /// Every 401 says only `WWW-Authenticate: Bearer` (no error, no error description).
    BareAuthChallenge = "bare-auth-challenge",
    /// Token lifetimes are not validated: expired and not-yet-valid tokens are accepted.
    AcceptExpiredTokens = "accept-expired-tokens",
    /// Token signatures are not checked: `alg: none` and tokens signed with another key pass.
    SkipTokenSignature = "skip-token-signature",
    /// The `access_token` query parameter is read even when an Authorization header is present, and wins.
    QueryTokenWins = "query-token-wins",
    /// The `access_token` query parameter is never read.
    IgnoreQueryToken = "ignore-query-token",
    /// Per-method roles and policies are not checked: any authenticated user may call them.
    IgnoreMethodPolicies = "ignore-method-policies",
    /// `CloseOnAuthenticationExpiration` is not enforced: connections outlive their token.
    NoAuthExpirationClose = "no-auth-expiration-close",
    /// Negotiate redirects of the contract carry no `accessToken`.
    RedirectWithoutToken = "redirect-without-token",
    /// Tokens are validated with another key than the one they are issued with: every token is refused.
    WrongSigningKey = "wrong-signing-key",
    /// Token lifetimes are validated without clock skew.
    NoClockSkew = "no-clock-skew",
    /// Only HS256 signatures are accepted (HS384/HS512 made with the key are refused).
    Hs256Only = "hs256-only",
    /// Stateful reconnect: a reattach sends the Sequence message but not the unacknowledged messages.
    StatefulNoReplay = "stateful-no-replay",
    /// Stateful reconnect: the client's Acks do not trim the resend buffer (acknowledged messages are replayed).
    StatefulAckIgnored = "stateful-ack-ignored",
    /// Stateful reconnect: the client's Sequence is ignored and nothing waits for it, so messages it sends again are processed twice.
    StatefulNoDedup = "stateful-no-dedup",
    /// Stateful reconnect: the client's messages are never acknowledged.
    StatefulNoAck = "stateful-no-ack",
    /// Stateful reconnect: Pings are numbered like invocation messages (Ack ids run ahead).
    StatefulCountsPings = "stateful-counts-pings",
    /// Stateful reconnect: a cut connection can be reattached forever (no disconnect timeout).
    StatefulNeverExpires = "stateful-never-expires",
    /// Stateful reconnect: a connection the client ended (WebSocket Close frame, Close message) can still be reattached.
    StatefulGracefulDetaches = "stateful-graceful-detaches",
    /// Stateful reconnect is used on Server-Sent Events and Long Polling too (Acks are sent there).
    StatefulAllTransports = "stateful-all-transports",
    /// Stateful reconnect: a Sequence beyond the client's messages is accepted.
    StatefulSequenceUnchecked = "stateful-sequence-unchecked",
    /// Stateful reconnect: the unfinished bytes of a dead WebSocket are kept and read with the new one's.
    StatefulKeepsRemains = "stateful-keeps-remains",
    /// Stateful reconnect: sending goes on past StatefulReconnectBufferSize without Acks.
    StatefulNoBackpressure = "stateful-no-backpressure",
    /// Negotiate grants stateful reconnect (useStatefulReconnect: true) although the client did not ask for it.
    StatefulOfferedUnasked = "stateful-offered-unasked",
    /// Negotiate never grants stateful reconnect, although the hub allows it and the client asks.
    StatefulNeverOffered = "stateful-never-offered",
    /// With a backplane: group sends reach this node's members only (not published to Redis).
    BackplaneLocalGroups = "backplane-local-groups",
    /// With a backplane: user sends reach this node's connections of the user only (not published).
    BackplaneLocalUsers = "backplane-local-users",
    /// With a backplane: invocations from Redis reach the connections they exclude too.
    BackplaneIgnoresExcluded = "backplane-ignores-excluded",
    /// With a backplane: each invocation from Redis is delivered twice.
    BackplaneDeliversTwice = "backplane-delivers-twice",
    /// With a backplane: a client result asked of another node's connection fails with "does not exist".
    BackplaneLocalClientResults = "backplane-local-client-results",
    /// With a backplane: group commands from other nodes are acknowledged but not applied.
    BackplaneIgnoresGroupCommands = "backplane-ignores-group-commands",
    /// With a backplane: leaving a group is acknowledged but the connection stays a member.
    BackplaneLeaveIgnored = "backplane-leave-ignored",
    /// `Clients.Users` reaches a user's connections once per time the user is listed (no deduplication).
    UsersSentPerListing = "users-sent-per-listing",
    /// Handshake errors leave out the exception (` <ExceptionType>: <message>`) even with detailed errors.
    HandshakeErrorsNotDetailed = "handshake-errors-not-detailed",
    /// Negotiate treats a negotiateVersion it cannot use (not an integer, negative, too large, empty) as 1 instead of answering an error.
    NegotiateVersionUnchecked = "negotiate-version-unchecked",
    /// Negotiate answers with Content-Type text/plain instead of application/json.
    NegotiateTextPlain = "negotiate-text-plain",
    /// No CORS: preflights reach the endpoint and no Access-Control-* header is sent.
    NoCors = "no-cors",
    /// Negotiate lists Binary among ServerSentEvents' transfer formats.
    SseOffersBinary = "sse-offers-binary",
    /// A transport request naming no connection is answered 400 instead of 404.
    UnknownIdAnswers400 = "unknown-id-answers-400",
    /// The connection endpoint's 400 (no id) and 405 answers have an empty body and no Content-Type.
    BareConnectionErrors = "bare-connection-errors",
    /// Negotiated connections that never connect are never disposed.
    PendingNeverExpire = "pending-never-expire",
    /// Handshake errors carry the exception (` <ExceptionType>: <message>`) even without detailed errors.
    HandshakeErrorsAlwaysDetailed = "handshake-errors-always-detailed",
    /// `Clients.Groups` reaches a member of several listed groups once (ASP.NET Core's default lifetime manager sends once per group).
    GroupsDeduplicated = "groups-deduplicated",
}

impl Fault {
    /// Whether the fault only changes anything on a Redis backplane (`--redis`): cases with
    /// several nodes catch it (tests/scaleout.rs), the embedded run cannot.
    pub fn needs_backplane(&self) -> bool {
        self.name().starts_with("backplane-")
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::from_name(s)
            .ok_or_else(|| format!("unknown fault '{s}' (see `mock-hub --fault list`)"))
    }
}

/// The enabled fault modes as a bit set (cheap to copy and test on hot paths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FaultSet(u128);

impl FaultSet {
    /// The set of `faults`.
    pub(crate) fn new(faults: &[Fault]) -> Self {
        Self(faults.iter().fold(0, |bits, f| bits | Self::bit(*f)))
    }

    /// Whether `f` is enabled.
    pub(crate) fn has(&self, f: Fault) -> bool {
        self.0 & Self::bit(f) != 0
    }

    /// `f`'s bit: a fieldless enum's discriminant is its position in `Fault::ALL`.
    fn bit(f: Fault) -> u128 {
        const {
            assert!(
                Fault::ALL.len() <= 128,
                "a FaultSet holds at most 128 faults"
            )
        };
        1 << (f as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_set_holds_exactly_its_faults() {
        let set = FaultSet::new(&[Fault::NoKeepAlive, Fault::WebSocketCloseGoingAway]);
        for f in Fault::ALL {
            let expected = matches!(f, Fault::NoKeepAlive | Fault::WebSocketCloseGoingAway);
            assert_eq!(set.has(*f), expected, "{f}");
        }
        for (i, f) in Fault::ALL.iter().enumerate() {
            assert_eq!(
                *f as usize, i,
                "{f} is not at its discriminant's position in ALL"
            );
        }
    }
}
