//! A raw SignalR test client over real sockets for mock-hub's tests.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use signalr_mock::{MockConfig, MockServer};
use signalr_protocol::{
    handshake, HubMessage, HubProtocol, MessageReader, NegotiateResponse, Parsed,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn server(config: MockConfig) -> MockServer {
    MockServer::start(MockConfig { port: 0, ..config })
        .await
        .expect("server starts")
}

pub async fn negotiate(server: &MockServer, hub: &str, query: &str) -> (u16, String) {
    let url = format!("{}/negotiate?{query}", server.hub_url(hub));
    let r = reqwest::Client::new()
        .post(url)
        .send()
        .await
        .expect("negotiate");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub reader: MessageReader,
    pub protocol: HubProtocol,
    pub connection_id: Option<String>,
}

impl Client {
    /// Negotiates (version 1), opens the WebSocket and completes the handshake.
    pub async fn connect(server: &MockServer, hub: &str, protocol: HubProtocol) -> Client {
        Self::connect_with(server, hub, protocol, "").await
    }

    pub async fn connect_with(
        server: &MockServer,
        hub: &str,
        protocol: HubProtocol,
        extra_query: &str,
    ) -> Client {
        let mut c = Self::open(server, hub, extra_query).await;
        c.protocol = protocol;
        c.reader = MessageReader::new(protocol);
        let mut req = Vec::new();
        handshake::write_request(
            &handshake::HandshakeRequest {
                protocol: protocol.name().into(),
                version: 1,
            },
            &mut req,
        );
        c.send_raw(req).await;
        let resp = c.handshake_response().await;
        assert_eq!(resp.error, None, "handshake failed");
        c
    }

    /// Negotiates and opens the WebSocket without a handshake.
    pub async fn open(server: &MockServer, hub: &str, extra_query: &str) -> Client {
        let (status, body) =
            negotiate(server, hub, &format!("negotiateVersion=1{extra_query}")).await;
        assert_eq!(status, 200, "{body}");
        let n = NegotiateResponse::parse(body.as_bytes()).expect("negotiate body");
        let token = n.connection_token.clone().expect("token");
        let url = format!(
            "{}?id={}{}",
            server.hub_url(hub).replace("http://", "ws://"),
            token,
            extra_query
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        Client {
            ws,
            reader: MessageReader::new(HubProtocol::Json),
            protocol: HubProtocol::Json,
            connection_id: n.connection_id,
        }
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send(&mut self, msg: &HubMessage) {
        let bytes = self.protocol.encode(msg);
        match self.protocol {
            HubProtocol::Json => self.send_text(std::str::from_utf8(&bytes).unwrap()).await,
            HubProtocol::MessagePack => self.send_raw(bytes).await,
        }
    }

    /// Reads the handshake response (the bytes after it stay buffered).
    pub async fn handshake_response(&mut self) -> handshake::HandshakeResponse {
        let mut buf = Vec::new();
        loop {
            if let Some((resp, used)) =
                handshake::parse_response_frame(&buf).expect("handshake response parses")
            {
                self.reader.push(&buf[used..]);
                return resp;
            }
            match self.next_frame().await {
                Some(b) => buf.extend_from_slice(&b),
                None => panic!("closed before handshake response"),
            }
        }
    }

    async fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            let m = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("frame in time")?;
            match m.ok()? {
                Message::Text(t) => return Some(t.as_bytes().to_vec()),
                Message::Binary(b) => return Some(b.to_vec()),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next hub message, skipping Pings; `None` when the socket closed.
    pub async fn recv(&mut self) -> Option<HubMessage> {
        loop {
            match self.recv_any().await? {
                HubMessage::Ping => continue,
                m => return Some(m),
            }
        }
    }

    /// The next hub message including Pings.
    pub async fn recv_any(&mut self) -> Option<HubMessage> {
        loop {
            if let Some(p) = self.reader.next().expect("server sends valid messages") {
                match p {
                    Parsed::Message(m) => return Some(m),
                    other => panic!("unexpected {other:?}"),
                }
            }
            let b = self.next_frame().await?;
            self.reader.push(&b);
        }
    }

    pub async fn invoke(
        &mut self,
        id: &str,
        target: &str,
        args: Vec<signalr_protocol::Value>,
    ) -> HubMessage {
        self.send(&HubMessage::invoke(id, target, args)).await;
        self.recv().await.expect("a reply")
    }
}
