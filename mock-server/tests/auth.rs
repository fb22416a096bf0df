//! Authentication and authorization of the contract's authorized hub (`/authhub`): JwtBearer's
//! 401 challenges (JwtBearerHandler), the token on every transport request
//! (HttpConnectionDispatcher, AuthorizeHelper), per-method policies (DefaultHubDispatcher),
//! CloseOnAuthenticationExpiration and negotiate redirects with an access token.
mod common;

use common::*;
use signalr_mock::MockConfig;
use signalr_protocol::{HubMessage, HubProtocol, NegotiateResponse};

async fn token(srv: &signalr_mock::MockServer, query: &str) -> String {
    let r = http()
        .get(format!("{}/contract/token?{query}", srv.base_url()))
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.expect("token")
}

/// Status and `WWW-Authenticate` of a negotiate on /authhub with this Authorization header.
async fn challenge(srv: &signalr_mock::MockServer, auth: Option<&str>) -> (u16, String) {
    let mut req = negotiate_request(srv, "authhub", "negotiateVersion=1");
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let r = req.send().await.expect("negotiate");
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), www)
}

#[tokio::test]
async fn each_bad_token_gets_jwtbearers_challenge() {
    let srv = default_server().await;
    assert_eq!(challenge(&srv, None).await, (401, "Bearer".into()));
    let good = token(&srv, "user=alice").await;
    assert_eq!(
        challenge(&srv, Some(&format!("Bearer {good}"))).await.0,
        200
    );
    assert_eq!(challenge(&srv, Some(&good)).await, (401, "Bearer".into()));
    let invalid = |d: &str| format!("Bearer error=\"invalid_token\", error_description=\"{d}\"");
    for (query, want) in [
        ("alg=none", invalid("The signature is invalid")),
        ("wrongKey=true", invalid("The signature key was not found")),
    ] {
        let t = token(&srv, &format!("user=alice&{query}")).await;
        assert_eq!(
            challenge(&srv, Some(&format!("Bearer {t}"))).await,
            (401, want)
        );
    }
    let expired = token(
        &srv,
        "user=alice&lifetimeSeconds=-3600&notBeforeSeconds=-7200",
    )
    .await;
    let (status, www) = challenge(&srv, Some(&format!("Bearer {expired}"))).await;
    assert_eq!(status, 401);
    let re = regex_lite(&www, "The token expired at '");
    assert!(re, "{www}");
    let early = token(
        &srv,
        "user=alice&notBeforeSeconds=3600&lifetimeSeconds=7200",
    )
    .await;
    let (status, www) = challenge(&srv, Some(&format!("Bearer {early}"))).await;
    assert_eq!(status, 401);
    assert!(regex_lite(&www, "The token is not valid before '"), "{www}");
    // Within the 5 minutes of clock skew an expired token still passes.
    let recent = token(
        &srv,
        "user=alice&lifetimeSeconds=-120&notBeforeSeconds=-3600",
    )
    .await;
    assert_eq!(
        challenge(&srv, Some(&format!("Bearer {recent}"))).await.0,
        200
    );
    assert_eq!(
        challenge(&srv, Some("Bearer abc.def")).await,
        (401, "Bearer error=\"invalid_token\"".into())
    );
    assert_no_panics();
}

/// `Bearer error="invalid_token", error_description="<prefix>MM/dd/yyyy HH:mm:ss'"`.
fn regex_lite(www: &str, prefix: &str) -> bool {
    let Some(rest) = www
        .strip_prefix("Bearer error=\"invalid_token\", error_description=\"")
        .and_then(|r| r.strip_prefix(prefix))
    else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == 21
        && b[2] == b'/'
        && b[5] == b'/'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && &rest[19..] == "'\""
}

#[tokio::test]
async fn the_header_wins_over_the_query_and_the_query_is_read_alone() {
    let srv = default_server().await;
    let good = token(&srv, "user=alice").await;
    let expired = token(
        &srv,
        "user=alice&lifetimeSeconds=-3600&notBeforeSeconds=-7200",
    )
    .await;
    let q = format!("negotiateVersion=1&access_token={good}");
    let r = negotiate_request(&srv, "authhub", &q)
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = negotiate_request(&srv, "authhub", &q).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let n = NegotiateResponse::parse(r.text().await.unwrap().as_bytes()).unwrap();
    let id = n.connection_token.unwrap();
    assert_eq!(
        try_ws(&ws_url(&srv, "authhub", &format!("id={id}")))
            .await
            .err(),
        Some(401)
    );
    let mut c = Client::open_url(&ws_url(
        &srv,
        "authhub",
        &format!("id={id}&access_token={good}"),
    ))
    .await;
    c.handshake(HubProtocol::Json).await;
    assert_eq!(c.call("GetUserIdentifier", vec![]).await, s("alice"));
}

#[tokio::test]
async fn every_long_polling_request_needs_the_token() {
    let srv = default_server().await;
    let good = token(&srv, "user=alice").await;
    let other = token(&srv, "user=bob").await;
    let r = negotiate_request(&srv, "authhub", "negotiateVersion=1")
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    let n = NegotiateResponse::parse(r.text().await.unwrap().as_bytes()).unwrap();
    let url = format!(
        "{}?id={}",
        srv.hub_url("authhub"),
        n.connection_token.unwrap()
    );
    let status = |r: reqwest::Response| r.status().as_u16();
    // The first poll (starts the transport) without a token, then with one.
    assert_eq!(status(http().get(&url).send().await.unwrap()), 401);
    assert_eq!(
        status(http().get(&url).bearer_auth(&good).send().await.unwrap()),
        200
    );
    let body = "{\"protocol\":\"json\",\"version\":1}\u{1e}";
    assert_eq!(
        status(http().post(&url).body(body).send().await.unwrap()),
        401
    );
    let posted = http()
        .post(&url)
        .bearer_auth(&good)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(status(posted), 200);
    assert_eq!(status(http().get(&url).send().await.unwrap()), 401);
    // Another user's valid token is accepted (ASP.NET Core does not pin the user).
    let polled = http().get(&url).bearer_auth(&other).send().await.unwrap();
    assert_eq!(status(polled), 200);
    assert_eq!(status(http().delete(&url).send().await.unwrap()), 401);
    assert_eq!(
        status(http().delete(&url).bearer_auth(&good).send().await.unwrap()),
        202
    );
}

#[tokio::test]
async fn per_method_policies_refuse_with_the_exact_text_and_the_connection_stays() {
    let srv = default_server().await;
    let plain = token(&srv, "user=alice").await;
    let admin = token(&srv, "user=root&role=admin&level=gold").await;
    let open = |t: String| {
        let srv = &srv;
        async move {
            let n = {
                let r = negotiate_request(srv, "authhub", "negotiateVersion=1")
                    .bearer_auth(&t)
                    .send()
                    .await
                    .unwrap();
                NegotiateResponse::parse(r.text().await.unwrap().as_bytes()).unwrap()
            };
            let q = format!("id={}&access_token={t}", n.connection_token.unwrap());
            let mut c = Client::open_url(&ws_url(srv, "authhub", &q)).await;
            c.handshake(HubProtocol::Json).await;
            c
        }
    };
    let mut c = open(plain).await;
    for m in ["AdminOnly", "GoldOnly"] {
        match c.invoke("1", m, vec![]).await {
            HubMessage::Completion(done) => assert_eq!(
                format!("{:?}", done.result),
                format!("Error(\"Failed to invoke '{m}' because user is unauthorized\")")
            ),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(c.call("Echo", vec![s("still here")]).await, s("still here"));
    let mut a = open(admin).await;
    assert_eq!(a.call("AdminOnly", vec![]).await, s("root"));
    assert_eq!(a.call("GoldOnly", vec![]).await, s("root"));
}

#[tokio::test]
async fn an_expiring_token_closes_the_connection_when_enabled() {
    let cfg = MockConfig {
        close_on_authentication_expiration: true,
        port: 0,
        ..MockConfig::default()
    };
    let srv = server(cfg).await;
    let t = token(&srv, "user=alice&lifetimeSeconds=2").await;
    let r = negotiate_request(&srv, "authhub", "negotiateVersion=1")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let n = NegotiateResponse::parse(r.text().await.unwrap().as_bytes()).unwrap();
    let q = format!("id={}&access_token={t}", n.connection_token.unwrap());
    let mut c = Client::open_url(&ws_url(&srv, "authhub", &q)).await;
    c.handshake(HubProtocol::Json).await;
    assert_eq!(
        c.recv_text().await,
        "{\"type\":7,\"allowReconnect\":true}\u{1e}"
    );
    assert!(matches!(c.next_event().await, WsEvent::Closed(Some(1000))));
}

#[tokio::test]
async fn redirect_chains_carry_tokens_that_the_next_hop_requires() {
    let srv = default_server().await;
    let url = format!(
        "{}/contract/redirect/negotiate?user=carol&hops=2&negotiateVersion=1",
        srv.base_url()
    );
    let body: serde_json::Value = http()
        .post(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = body["url"].as_str().unwrap().to_owned();
    let hop_token = body["accessToken"].as_str().unwrap().to_owned();
    assert!(next.contains("/contract/redirect?"), "{next}");
    let next = format!(
        "{}/negotiate?{}&negotiateVersion=1",
        next.split('?').next().unwrap(),
        next.split_once('?').unwrap().1
    );
    // Without the redirect's token (or with another user's) the next hop refuses.
    assert_eq!(
        http().post(&next).send().await.unwrap().status().as_u16(),
        401
    );
    let mine = token(&srv, "user=mallory").await;
    let r = http().post(&next).bearer_auth(&mine).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let last: serde_json::Value = http()
        .post(&next)
        .bearer_auth(&hop_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(last["url"], format!("{}/authhub", srv.base_url()));
    let final_token = last["accessToken"].as_str().unwrap();
    let r = negotiate_request(&srv, "authhub", "negotiateVersion=1")
        .bearer_auth(final_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn rs256_issuer_and_audience_from_the_config() {
    let dir = std::env::temp_dir().join(format!("mock-hub-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("public.pem");
    std::fs::write(
        &key,
        include_bytes!("../../fixtures/keys/rs256-test-public.pem"),
    )
    .unwrap();
    let cfg = MockConfig::from_toml(&format!(
        "port = 0\njwt_rsa_public_key_file = {:?}\njwt_issuer = \"signalr-conform\"\njwt_audience = \"elsewhere\"",
        key.display().to_string()
    ))
    .unwrap();
    let srv = server(cfg).await;
    // The contract's tokens carry audience "signalr-conform": refused for audience "elsewhere".
    let t = token(&srv, "user=alice").await;
    assert_eq!(
        challenge(&srv, Some(&format!("Bearer {t}"))).await,
        (
            401,
            "Bearer error=\"invalid_token\", error_description=\"The audience 'signalr-conform' is invalid\"".into()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
    // An unreadable key file is a clear start-up error.
    let bad = MockConfig {
        jwt_rsa_public_key_file: Some("/nonexistent/key.pem".into()),
        port: 0,
        ..MockConfig::default()
    };
    let err = signalr_mock::MockServer::start(bad)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("jwt_rsa_public_key_file"), "{err}");
}

#[tokio::test]
async fn a_far_future_expiry_neither_closes_nor_panics() {
    let cfg = MockConfig {
        close_on_authentication_expiration: true,
        port: 0,
        ..MockConfig::default()
    };
    let key = cfg.jwt_signing_key.clone();
    let srv = server(cfg).await;
    // Beyond i64 (read saturated) and beyond what SystemTime represents on some platforms.
    let claims = serde_json::json!({"sub": "far", "exp": u64::MAX});
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()).unwrap(),
    )
    .unwrap();
    let r = negotiate_request(&srv, "authhub", "negotiateVersion=1")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let n = NegotiateResponse::parse(r.text().await.unwrap().as_bytes()).unwrap();
    let q = format!("id={}&access_token={t}", n.connection_token.unwrap());
    let mut c = Client::open_url(&ws_url(&srv, "authhub", &q)).await;
    c.handshake(HubProtocol::Json).await;
    assert_eq!(c.call("GetUserIdentifier", vec![]).await, s("far"));
    c.expect_silence().await;
    assert_eq!(c.call("Echo", vec![s("still open")]).await, s("still open"));
    assert_no_panics();
}
