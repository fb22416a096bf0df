//! A hub of your own on mock-hub: two methods (`Add`, `Shout`) mapped at `/calc`, a server on
//! an ephemeral port, one raw WebSocket client that negotiates, shakes hands, invokes both
//! methods and prints the results, then shutdown.
//!
//! `cargo run -p signalr-mock --example custom_hub`

use futures_util::{SinkExt, StreamExt};
use signalr_mock::{Hub, HubError, MockConfig, MockServer, Param, ParamType, Value};
use tokio_tungstenite::tungstenite::Message;

/// The hub: `Add(int, int)` and `Shout(string)`, which also tells every caller of the hub.
fn calc_hub() -> Hub {
    let mut hub = Hub::new(false);
    hub.sync(
        "Add",
        &[
            Param::Value(ParamType::Int32),
            Param::Value(ParamType::Int32),
        ],
        |_, args| {
            let n = |i: usize| args.get(i).and_then(Value::as_i64).unwrap_or(0);
            Ok(Some(Value::Int(n(0) + n(1))))
        },
    );
    hub.sync("Shout", &[Param::Value(ParamType::String)], |call, args| {
        let text = args
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| HubError::hub("Nothing to shout."))?
            .to_uppercase();
        call.lifetime().send_all(
            &[],
            signalr_mock::HubMessage::send("Shouted", vec![Value::string(text.as_str())]),
        );
        Ok(Some(Value::String(text)))
    });
    hub
}

/// Sends one JSON hub message (record separator included).
async fn send<S>(ws: &mut S, json: &str) -> Result<(), String>
where
    S: SinkExt<Message> + Unpin,
{
    ws.send(Message::Text(format!("{json}\u{1e}").into()))
        .await
        .map_err(|_| "send failed".to_owned())
}

/// Reads until `want` JSON messages (other than Pings) arrived.
async fn receive<S>(ws: &mut S, want: usize) -> Result<Vec<String>, String>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut got = Vec::new();
    while got.len() < want {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => got.extend(
                t.split('\u{1e}')
                    .filter(|m| !m.is_empty() && *m != r#"{"type":6}"#)
                    .map(str::to_owned),
            ),
            Some(Ok(_)) => {}
            _ => return Err("connection closed".into()),
        }
    }
    Ok(got)
}

/// Runs the whole exchange; returns the messages the client received after the handshake.
pub async fn run() -> Result<Vec<String>, String> {
    let server = MockServer::builder(MockConfig {
        port: 0,
        ..MockConfig::default()
    })
    .hub("/calc", calc_hub())
    .start()
    .await
    .map_err(|e| e.to_string())?;
    let url = server.hub_url("calc").replace("http://", "ws://");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    send(&mut ws, r#"{"protocol":"json","version":1}"#).await?;
    let handshake = receive(&mut ws, 1).await?;
    if handshake.first().map(String::as_str) != Some("{}") {
        return Err(format!("handshake failed: {handshake:?}"));
    }
    send(
        &mut ws,
        r#"{"type":1,"invocationId":"1","target":"Add","arguments":[2,3]}"#,
    )
    .await?;
    send(
        &mut ws,
        r#"{"type":1,"invocationId":"2","target":"shout","arguments":["hi"]}"#,
    )
    .await?;
    let replies = receive(&mut ws, 3).await?;
    let _ = ws.close(None).await;
    server.shutdown().await;
    Ok(replies)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    for reply in run().await? {
        println!("{reply}");
    }
    Ok(())
}
