//! Negotiate (TransportProtocols.md § POST [endpoint-base]/negotiate request), CORS, TestHub-app
//! cookies and hub authorization (HttpConnectionDispatcher, AuthorizeHelper).
mod common;

use common::*;
use signalr_mock::{TransportKind, SUPPORTED_TRANSPORTS};
use signalr_protocol::NegotiateResponse;

fn is_id(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `"availableTransports":[…]` as ASP.NET Core writes it for an endpoint mapped with `mapped`:
/// its fixed entries, in its order, for the transports this build serves.
fn advertised(mapped: &[TransportKind]) -> String {
    let entries: Vec<&str> = [
        (
            TransportKind::WebSockets,
            r#"{"transport":"WebSockets","transferFormats":["Text","Binary"]}"#,
        ),
        (
            TransportKind::ServerSentEvents,
            r#"{"transport":"ServerSentEvents","transferFormats":["Text"]}"#,
        ),
        (
            TransportKind::LongPolling,
            r#"{"transport":"LongPolling","transferFormats":["Text","Binary"]}"#,
        ),
    ]
    .into_iter()
    .filter(|(k, _)| mapped.contains(k) && SUPPORTED_TRANSPORTS.contains(k))
    .map(|(_, e)| e)
    .collect();
    format!(r#""availableTransports":[{}]"#, entries.join(","))
}

const ALL: &[TransportKind] = &[
    TransportKind::WebSockets,
    TransportKind::ServerSentEvents,
    TransportKind::LongPolling,
];

#[tokio::test]
async fn version_0_has_no_token() {
    let srv = default_server().await;
    let (status, body) = negotiate(&srv, "conformance", "").await;
    assert_eq!(status, 200);
    let n = NegotiateResponse::parse(body.as_bytes()).unwrap();
    let id = n.connection_id.clone().unwrap();
    assert!(is_id(&id), "{id}");
    assert_eq!(
        body,
        format!(
            r#"{{"negotiateVersion":0,"connectionId":"{id}",{}}}"#,
            advertised(ALL)
        )
    );
    assert!(!body.contains("connectionToken"));
    // A v0 client uses the id on the transport URL.
    let mut c = Client::open_url(&ws_url(&srv, "conformance", &format!("id={id}"))).await;
    c.handshake(signalr_protocol::HubProtocol::Json).await;
    assert_eq!(c.server_connection_id().await, id);
    assert_no_panics();
}

#[tokio::test]
async fn version_1_token_differs_from_id() {
    let srv = default_server().await;
    let (status, body) = negotiate(&srv, "conformance", "negotiateVersion=1").await;
    assert_eq!(status, 200);
    let n = NegotiateResponse::parse(body.as_bytes()).unwrap();
    let id = n.connection_id.clone().unwrap();
    let token = n.connection_token.clone().unwrap();
    assert!(is_id(&id) && is_id(&token), "{body}");
    assert_ne!(id, token);
    assert_eq!(
        body,
        format!(
            r#"{{"negotiateVersion":1,"connectionId":"{id}","connectionToken":"{token}",{}}}"#,
            advertised(ALL)
        )
    );
    // Every negotiate creates a fresh connection.
    let again = negotiate_v1(&srv, "conformance").await;
    assert_ne!(again.connection_id.as_deref(), Some(id.as_str()));
    assert_no_panics();
}

#[tokio::test]
async fn response_headers_and_version_clamping() {
    let srv = default_server().await;
    let r = negotiate_request(&srv, "conformance", "negotiateVersion=5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body = r.text().await.unwrap();
    let n = NegotiateResponse::parse(body.as_bytes()).unwrap();
    assert_eq!(n.negotiate_version, 1);
    assert!(n.connection_token.is_some());
    // The key is matched case-insensitively.
    let (_, body) = negotiate(&srv, "conformance", "NEGOTIATEVERSION=1").await;
    assert!(body.starts_with(r#"{"negotiateVersion":1,"#), "{body}");
    assert_no_panics();
}

#[tokio::test]
async fn non_integer_version_is_a_200_error_body() {
    let srv = default_server().await;
    for q in [
        "negotiateVersion=abc",
        "negotiateVersion=1.5",
        "negotiateVersion=%201x",
    ] {
        let (status, body) = negotiate(&srv, "conformance", q).await;
        assert_eq!(status, 200, "{q}");
        assert_eq!(
            body, r#"{"error":"The client requested a non-integer protocol version."}"#,
            "{q}"
        );
    }
    assert_no_panics();
}

#[tokio::test]
async fn get_on_negotiate_is_405_text_plain() {
    let srv = default_server().await;
    let r = http()
        .get(format!("{}/negotiate", srv.hub_url("conformance")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["content-type"].to_str().unwrap(), "text/plain");
    assert_eq!(r.text().await.unwrap(), "");
    assert_no_panics();
}

#[tokio::test]
async fn unknown_hub_is_404() {
    let srv = default_server().await;
    let (status, _) = negotiate(&srv, "nosuchhub", "negotiateVersion=1").await;
    assert_eq!(status, 404);
    let (status, _) = negotiate(&srv, "conformance/extra", "negotiateVersion=1").await;
    assert_eq!(status, 404);
    assert_no_panics();
}

#[tokio::test]
async fn paths_are_case_insensitive() {
    let srv = default_server().await;
    let (status, body) = negotiate(&srv, "CONFORMANCE", "negotiateVersion=1").await;
    assert_eq!(status, 200, "{body}");
    let n = NegotiateResponse::parse(body.as_bytes()).unwrap();
    // …and the transport URL too.
    let token = n.connection_token.unwrap();
    let mut c = Client::open_url(&ws_url(&srv, "Conformance", &format!("id={token}"))).await;
    c.handshake(signalr_protocol::HubProtocol::Json).await;
    assert_eq!(
        c.server_connection_id().await,
        n.connection_id.unwrap(),
        "the connection negotiated under another casing"
    );
    let (status, _) = negotiate(&srv, "TestHub", "negotiateVersion=1").await;
    assert_eq!(status, 200);
    assert_no_panics();
}

#[tokio::test]
async fn cors_echoes_origin_and_allows_credentials() {
    let srv = default_server().await;
    let r = negotiate_request(&srv, "testhub", "negotiateVersion=1")
        .header("Origin", "http://localhost:9876")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers();
    assert_eq!(
        h["access-control-allow-origin"].to_str().unwrap(),
        "http://localhost:9876"
    );
    assert_eq!(
        h["access-control-allow-credentials"].to_str().unwrap(),
        "true"
    );
    // Without an Origin there are no CORS headers.
    let r = negotiate_request(&srv, "testhub", "negotiateVersion=1")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_no_panics();
}

#[tokio::test]
async fn cors_preflight_is_204_echoing_method_and_headers() {
    let srv = default_server().await;
    let r = http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/negotiate?negotiateVersion=1", srv.hub_url("testhub")),
        )
        .header("Origin", "http://127.0.0.1:9876")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-signalr-user-agent,x-requested-with",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let h = r.headers();
    assert_eq!(
        h["access-control-allow-origin"].to_str().unwrap(),
        "http://127.0.0.1:9876"
    );
    assert_eq!(
        h["access-control-allow-credentials"].to_str().unwrap(),
        "true"
    );
    assert_eq!(h["access-control-allow-methods"].to_str().unwrap(), "POST");
    assert_eq!(
        h["access-control-allow-headers"].to_str().unwrap(),
        "x-signalr-user-agent,x-requested-with"
    );
    assert_eq!(r.text().await.unwrap(), "");
    assert_no_panics();
}

#[tokio::test]
async fn testhub_negotiate_sets_cookies() {
    let srv = default_server().await;
    let r = negotiate_request(&srv, "testhub", "negotiateVersion=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    assert!(
        cookies[0].starts_with("testCookie=testValue"),
        "{cookies:?}"
    );
    assert!(
        cookies[1].starts_with("testCookie2=testValue2"),
        "{cookies:?}"
    );
    assert!(
        cookies[2].starts_with("expiredCookie=doesntmatter") && cookies[2].contains("expires="),
        "{cookies:?}"
    );
    assert_no_panics();
}

#[tokio::test]
async fn testhub_without_websockets_advertises_what_it_serves() {
    let srv = default_server().await;
    let (status, body) = negotiate(&srv, "testhub-nowebsockets", "negotiateVersion=1").await;
    assert_eq!(status, 200);
    let n = NegotiateResponse::parse(body.as_bytes()).unwrap();
    // Mapped for SSE and Long Polling only: never WebSockets; SSE offers Text alone (so a
    // MessagePack client falls back to Long Polling).
    assert!(
        body.ends_with(&format!(
            "{}}}",
            advertised(&[TransportKind::ServerSentEvents, TransportKind::LongPolling])
        )),
        "{body}"
    );
    // The hub refuses a WebSocket for that connection.
    let token = n.connection_token.unwrap();
    let r = raw_http(
        &srv,
        &upgrade_request(&srv, &format!("/testhub-nowebsockets?id={token}")),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text(),
        "WebSockets transport not supported by this end point type"
    );
    assert_no_panics();
}

#[tokio::test]
async fn authorized_hub_needs_a_token() {
    let srv = default_server().await;
    let r = negotiate_request(&srv, "authorizedhub", "negotiateVersion=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.status().canonical_reason(), Some("Unauthorized"));
    assert_eq!(r.headers()["www-authenticate"].to_str().unwrap(), "Bearer");
    // A WebSocket without a token is refused too.
    assert_eq!(
        try_ws(&ws_url(&srv, "authorizedhub", "")).await.err(),
        Some(401)
    );

    let token = http()
        .get(format!("{}/generateJwtToken", srv.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let r = negotiate_request(&srv, "authorizedhub", "negotiateVersion=1")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let n = NegotiateResponse::parse(r.text().await.unwrap().as_bytes()).unwrap();
    // Browsers put the token in the query string of the WebSocket URL.
    let url = ws_url(
        &srv,
        "authorizedhub",
        &format!("id={}&access_token={token}", n.connection_token.unwrap()),
    );
    let mut c = Client::open_url(&url).await;
    c.handshake(signalr_protocol::HubProtocol::Json).await;
    assert_eq!(c.call("GetUserNameIdentifier", vec![]).await, s("testuser"));
    assert_eq!(c.call("Echo", vec![s("hi")]).await, s("hi"));
    assert_no_panics();
}

#[tokio::test]
async fn concurrent_negotiates_get_distinct_ids() {
    let srv = default_server().await;
    let url = format!(
        "{}/negotiate?negotiateVersion=1",
        srv.hub_url("conformance")
    );
    let client = http();
    let futs: Vec<_> = (0..200)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let r = client.post(url).send().await.expect("negotiate");
                assert_eq!(r.status().as_u16(), 200);
                r.text().await.unwrap()
            }
        })
        .collect();
    let bodies = futures_util::future::join_all(futs).await;
    let mut ids = std::collections::HashSet::new();
    for b in &bodies {
        let n = NegotiateResponse::parse(b.as_bytes()).unwrap();
        assert!(ids.insert(n.connection_id.unwrap()));
        assert!(ids.insert(n.connection_token.unwrap()));
    }
    assert_eq!(ids.len(), 400);
    // The server still serves a fresh connection.
    let mut c = Client::connect(&srv, "conformance", signalr_protocol::HubProtocol::Json).await;
    assert_eq!(c.call("Echo", vec![s("after")]).await, s("after"));
    assert_no_panics();
}
