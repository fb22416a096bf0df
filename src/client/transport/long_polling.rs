//! Long Polling: held GETs in (each non-empty 200 body is bytes), POSTs out, DELETE to close.

use tokio::sync::mpsc;

use super::{post, CloseInfo, Incoming, Reader, Transport, TransportFuture};
use crate::client::error::{ClientError, OpenError};
use crate::client::http::{read_body, Http};
use crate::client::transcript::show_bytes;
use crate::client::wire::FrameKind;
use crate::result::Direction;

/// An open Long Polling connection.
pub(super) struct LongPolling {
    http: Http,
    url: reqwest::Url,
    reader: Reader,
}

pub(super) async fn open(
    http: &Http,
    url: reqwest::Url,
    tx: mpsc::Sender<Incoming>,
) -> Result<LongPolling, OpenError> {
    // The first poll returns at once and tells whether the connection exists.
    let first = http
        .request(reqwest::Method::GET, url.clone(), &[], Vec::new(), false)
        .await
        .map_err(|e| OpenError::FirstPoll(Box::new(e)))?;
    if first.status != 200 {
        return Err(OpenError::PollRefused(first.status));
    }
    let reader = Reader::spawn(poll(http.clone(), url.clone(), tx));
    Ok(LongPolling {
        http: http.clone(),
        url,
        reader,
    })
}

// Held polls are exempt from the request timeout: the server holds them by design.
async fn poll(http: Http, url: reqwest::Url, tx: mpsc::Sender<Incoming>) {
    loop {
        let mut req = http.client.get(url.clone());
        for (k, v) in &http.target.headers {
            req = req.header(k, v);
        }
        if let Some(t) = http.target.bearer(false) {
            req = req.bearer_auth(t);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let _ = tx
                    .send(Incoming::Closed(CloseInfo::lost(format!(
                        "poll failed: {e}"
                    ))))
                    .await;
                return;
            }
        };
        let status = resp.status().as_u16();
        let body = match read_body(resp).await {
            Ok(b) => b,
            Err(e) => {
                let reason = format!("poll {status}: {e}");
                http.note(Direction::Note, "lp", reason.clone());
                let _ = tx.send(Incoming::Closed(CloseInfo::lost(reason))).await;
                return;
            }
        };
        http.note(
            Direction::In,
            "lp",
            format!("poll {status} {}", show_bytes(&body)),
        );
        match status {
            200 if body.is_empty() => continue,
            200 => {
                if tx.send(Incoming::Data(body, None)).await.is_err() {
                    return;
                }
            }
            _ => {
                let _ = tx
                    .send(Incoming::Closed(CloseInfo {
                        reason: format!("poll answered {status}"),
                        http_status: Some(status),
                        ..CloseInfo::default()
                    }))
                    .await;
                return;
            }
        }
    }
}

impl Transport for LongPolling {
    fn send<'a>(
        &'a mut self,
        data: &'a [u8],
        _kind: FrameKind,
    ) -> TransportFuture<'a, Result<(), ClientError>> {
        Box::pin(post(&self.http, &self.url, data))
    }

    fn close(mut self: Box<Self>, graceful: bool) -> TransportFuture<'static, ()> {
        Box::pin(async move {
            if graceful {
                let _ = self
                    .http
                    .request(
                        reqwest::Method::DELETE,
                        self.url.clone(),
                        &[],
                        Vec::new(),
                        false,
                    )
                    .await;
                self.reader.finish().await;
            }
        })
    }
}
