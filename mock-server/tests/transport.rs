//! Transport URLs and their HTTP errors (TransportProtocols.md;
//! HttpConnectionDispatcher, WebSocketsServerTransport, AuthorizeHelper).
mod common;

use common::*;
use signalr_mock::{TransportKind, SUPPORTED_TRANSPORTS};
use signalr_protocol::{HubProtocol, Value};

#[tokio::test]
async fn connection_id_instead_of_token_is_404() {
    let srv = default_server().await;
    let n = negotiate_v1(&srv, "conformance").await;
    let id = n.connection_id.unwrap();
    let r = raw_http(
        &srv,
        &upgrade_request(&srv, &format!("/conformance?id={id}")),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "No Connection with that ID");
    // HttpConnectionDispatcher: the WebSocket path writes this 404 without a Content-Type.
    assert_eq!(r.header("content-type"), None);
    // Sent chunked (Response.WriteAsync without a Content-Length).
    assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{r:?}");
    assert_eq!(r.header("content-length"), None, "{r:?}");
    // The same for an id nobody negotiated, and on the other transports' paths (text/plain).
    let r = raw_http(&srv, &upgrade_request(&srv, "/conformance?id=nope")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "No Connection with that ID");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{r:?}");
    for request in [
        format!(
            "GET /conformance?id=nope HTTP/1.1\r\nHost: {}\r\n\r\n",
            srv.addr()
        ),
        format!(
            "POST /conformance?id=nope HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            srv.addr()
        ),
        format!(
            "DELETE /conformance?id=nope HTTP/1.1\r\nHost: {}\r\n\r\n",
            srv.addr()
        ),
    ] {
        let r = raw_http(&srv, &request).await;
        assert_eq!(r.status, 404, "{request}");
        assert_eq!(r.text(), "No Connection with that ID");
        assert_eq!(r.header("content-type"), Some("text/plain"), "{r:?}");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{r:?}");
        assert_eq!(r.header("content-length"), None, "{r:?}");
    }
    assert_no_panics();
}

#[tokio::test]
async fn second_websocket_for_a_token_is_409() {
    let srv = default_server().await;
    let first = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let token = first.token.clone().unwrap();
    let r = raw_http(
        &srv,
        &upgrade_request(&srv, &format!("/conformance?id={token}")),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.text(), "");
    assert_eq!(
        try_ws(&ws_url(&srv, "conformance", &format!("id={token}")))
            .await
            .err(),
        Some(409)
    );
    drop(first);
    assert_no_panics();
}

async fn text_response(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn post_and_delete_without_id_are_400() {
    let srv = default_server().await;
    let url = srv.hub_url("conformance");
    for req in [
        http().post(&url),
        http().delete(&url),
        http().post(format!("{url}?id=")),
    ] {
        let (status, ct, body) = text_response(req.send().await.unwrap()).await;
        assert_eq!(
            (status, ct.as_str(), body.as_str()),
            (400, "text/plain", "Connection ID required")
        );
    }
    let (status, ct, body) =
        text_response(http().post(format!("{url}?id=nope")).send().await.unwrap()).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (404, "text/plain", "No Connection with that ID")
    );
    assert_no_panics();
}

#[tokio::test]
async fn post_and_delete_on_a_websocket_connection() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let url = format!(
        "{}?id={}",
        srv.hub_url("conformance"),
        c.token.clone().unwrap()
    );
    let (status, ct, body) = text_response(
        http()
            .post(&url)
            .body("{\"type\":6}\u{1e}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (
            405,
            "text/plain",
            "POST requests are not allowed for WebSocket connections."
        )
    );
    let (status, ct, body) = text_response(http().delete(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (
            400,
            "text/plain",
            "Cannot terminate this connection using the DELETE endpoint."
        )
    );
    // Neither touched the connection.
    assert_eq!(c.call("Echo", vec![s("still here")]).await, s("still here"));
    assert_no_panics();
}

#[tokio::test]
async fn other_methods_are_405() {
    let srv = default_server().await;
    let r = http().put(srv.hub_url("conformance")).send().await.unwrap();
    let (status, ct, body) = text_response(r).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (405, "text/plain", "")
    );
    assert_no_panics();
}

#[tokio::test]
async fn transports_the_build_lacks_are_404() {
    let srv = default_server().await;
    for kind in [TransportKind::ServerSentEvents, TransportKind::LongPolling] {
        if SUPPORTED_TRANSPORTS.contains(&kind) {
            continue;
        }
        let n = negotiate_v1(&srv, "conformance").await;
        let url = format!(
            "{}?id={}",
            srv.hub_url("conformance"),
            n.connection_token.unwrap()
        );
        let mut req = http().get(&url);
        if kind == TransportKind::ServerSentEvents {
            req = req.header("Accept", "text/event-stream");
        }
        let (status, ct, body) = text_response(req.send().await.unwrap()).await;
        assert_eq!(
            (status, ct.as_str(), body.as_str()),
            (
                404,
                "text/plain",
                format!(
                    "{} transport not supported by this end point type",
                    kind.name()
                )
                .as_str()
            )
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn no_change_of_transport_mid_connection() {
    let srv = default_server().await;
    let mut c = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    let url = format!(
        "{}?id={}",
        srv.hub_url("conformance"),
        c.token.clone().unwrap()
    );
    for kind in [TransportKind::ServerSentEvents, TransportKind::LongPolling] {
        if !SUPPORTED_TRANSPORTS.contains(&kind) {
            continue;
        }
        let mut req = http().get(&url);
        if kind == TransportKind::ServerSentEvents {
            req = req.header("Accept", "text/event-stream");
        }
        let (status, ct, body) = text_response(req.send().await.unwrap()).await;
        assert_eq!(
            (status, ct.as_str(), body.as_str()),
            (400, "text/plain", "Cannot change transports mid-connection"),
            "{kind:?}"
        );
    }
    // SSE and Long Polling need an id.
    let (status, _, body) =
        text_response(http().get(srv.hub_url("conformance")).send().await.unwrap()).await;
    assert_eq!((status, body.as_str()), (400, "Connection ID required"));
    let (status, _, body) = text_response(
        http()
            .get(srv.hub_url("conformance"))
            .header("Accept", "text/event-stream")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.as_str()), (400, "Connection ID required"));
    // The WebSocket connection is untouched.
    assert_eq!(c.call("Echo", vec![s("still")]).await, s("still"));
    assert_no_panics();
}

#[tokio::test]
async fn skip_negotiation_creates_a_connection() {
    let srv = default_server().await;
    for p in HubProtocol::ALL {
        let mut c = Client::open_url(&ws_url(&srv, "conformance", "")).await;
        c.handshake(p).await;
        let id = c.server_connection_id().await;
        assert_eq!(id.len(), 22, "{id}");
        assert_eq!(c.call("Echo", vec![int(7)]).await, int(7));
        assert_eq!(c.call("GetTransport", vec![]).await, s("WebSockets"));
    }
    assert_no_panics();
}

#[tokio::test]
async fn access_token_in_the_query_identifies_the_user() {
    let srv = default_server().await;
    let token = contract_token(&srv, "alice").await;
    let mut c = Client::connect_with(
        &srv,
        "conformance",
        HubProtocol::Json,
        &format!("&access_token={token}"),
    )
    .await;
    assert_eq!(c.call("GetUserIdentifier", vec![]).await, s("alice"));
    assert_eq!(c.call("Authorized", vec![]).await, s("alice"));
    // The same token in the Authorization header is not needed on the socket: the query
    // string is enough. An anonymous connection has no user.
    let mut anon = Client::connect(&srv, "conformance", HubProtocol::Json).await;
    assert_eq!(anon.call("GetUserIdentifier", vec![]).await, Value::Null);
    assert_eq!(
        anon.invoke("1", "Authorized", vec![]).await,
        err(
            "1",
            "Failed to invoke 'Authorized' because user is unauthorized"
        )
    );
    // A bad token is just no user.
    let mut bad = Client::connect_with(
        &srv,
        "conformance",
        HubProtocol::Json,
        "&access_token=x.y.z",
    )
    .await;
    assert_eq!(bad.call("GetUserIdentifier", vec![]).await, Value::Null);
    assert_no_panics();
}

#[tokio::test]
async fn contract_token_needs_a_user() {
    let srv = default_server().await;
    let r = http()
        .get(format!("{}/contract/token", srv.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "The 'user' query parameter is required."
    );
    assert_no_panics();
}

#[tokio::test]
async fn request_details_reach_the_hub() {
    let srv = default_server().await;
    let mut c = Client::connect_with(
        &srv,
        "conformance",
        HubProtocol::MessagePack,
        "&who=me&x=%20y",
    )
    .await;
    assert_eq!(c.call("GetQueryParameter", vec![s("who")]).await, s("me"));
    assert_eq!(c.call("GetQueryParameter", vec![s("x")]).await, s(" y"));
    assert_eq!(
        c.call("GetQueryParameter", vec![s("none")]).await,
        Value::Null
    );
    assert_eq!(
        c.call("GetRequestHeader", vec![s("Upgrade")]).await,
        s("websocket")
    );
    assert_no_panics();
}

/// Data POSTed before the transport starts is kept (ASP.NET Core writes it into the
/// connection's pipe) and read once Long Polling begins.
#[tokio::test]
async fn posts_before_the_first_poll_are_kept() {
    let srv = default_server().await;
    let n = negotiate_v1(&srv, "conformance").await;
    let token = n.connection_token.unwrap();
    let url = format!("{}?id={token}", srv.hub_url("conformance"));
    let http = reqwest::Client::new();
    let r = http
        .post(&url)
        .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.bytes().await.unwrap().len(),
        0,
        "the first poll returns at once, empty"
    );
    let second = http.get(&url).send().await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(
        &second.bytes().await.unwrap()[..],
        b"{}\x1e",
        "the handshake POSTed early was answered"
    );
    let r = http.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_no_panics();
}
