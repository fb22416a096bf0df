//! `POST <hub>/negotiate`: creates a pending connection and describes the transports.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use signalr_protocol::negotiate::{AvailableTransport, NegotiateQuery, VersionParam};
use signalr_protocol::{NegotiateResponse, TransportKind};

use super::response::{json, text};
use crate::endpoint::Endpoint;
use crate::faults::Fault;
use crate::shared::Shared;

/// The negotiate response for endpoint `ep` and the request's query string.
pub(crate) fn negotiate(shared: &Shared, ep: &Endpoint, query: &str) -> Response {
    let mut r = negotiate_response(shared, ep, query);
    if ep.test_app {
        set_test_cookies(r.headers_mut());
    }
    r
}

fn negotiate_response(shared: &Shared, ep: &Endpoint, query: &str) -> Response {
    let q = NegotiateQuery::parse(query);
    let faults = shared.faults;
    if faults.has(Fault::RequireNegotiateVersion) && q.negotiate_version == VersionParam::Absent {
        return text(StatusCode::BAD_REQUEST, "negotiateVersion is required");
    }
    let version = match q.resolve_version(shared.config.minimum_negotiate_version) {
        Ok(v) => v,
        Err(_) if faults.has(Fault::NegotiateVersionUnchecked) => 1,
        Err(error) => return json(NegotiateResponse::error(error).to_json()),
    };
    if shared.connections.pending() >= shared.config.max_pending_connections {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many pending connections.",
        );
    }
    let conn = shared
        .connections
        .create(version, faults.has(Fault::TokenEqualsId));
    let mut transports: Vec<AvailableTransport> = AvailableTransport::defaults()
        .into_iter()
        .filter(|t| ep.transports.iter().any(|k| k.name() == t.transport))
        .collect();
    if faults.has(Fault::SseOffersBinary) {
        for t in transports
            .iter_mut()
            .filter(|t| t.transport == TransportKind::ServerSentEvents.name())
        {
            t.transfer_formats.push("Binary".to_owned());
        }
    }
    // Only when the client asked and the hub allows it (`ProcessNegotiate`); used only on
    // WebSockets with a version 2 handshake.
    let stateful = (ep.allow_stateful_reconnects && q.use_stateful_reconnect
        || faults.has(Fault::StatefulOfferedUnasked))
        && !faults.has(Fault::StatefulNeverOffered);
    conn.set_stateful(stateful);
    let body = if faults.has(Fault::NegotiateWithoutVersion) {
        NegotiateResponse {
            connection_id: Some(conn.connection_id.clone()),
            available_transports: Some(transports),
            ..NegotiateResponse::default()
        }
        .to_json()
        .replacen("\"negotiateVersion\":0,", "", 1)
    } else {
        NegotiateResponse {
            negotiate_version: version,
            has_negotiate_version: true,
            connection_id: Some(conn.connection_id.clone()),
            connection_token: Some(conn.token.clone()),
            available_transports: Some(transports),
            use_stateful_reconnect: stateful,
            ..NegotiateResponse::default()
        }
        .to_json()
    };
    if faults.has(Fault::NegotiateTextPlain) {
        return text(StatusCode::OK, &body);
    }
    json(body)
}

/// The TestHub app sets these on every negotiate (its tests read them back).
pub(super) fn set_test_cookies(h: &mut HeaderMap) {
    for c in [
        "testCookie=testValue; path=/",
        "testCookie2=testValue2; path=/",
        "expiredCookie=doesntmatter; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/",
    ] {
        h.append(header::SET_COOKIE, HeaderValue::from_static(c));
    }
}
