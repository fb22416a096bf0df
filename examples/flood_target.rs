//! A hostile target for measuring conform's memory (a probe, not a test): it floods every
//! response. Run it, then run conform against the URL it prints under `/usr/bin/time -v`:
//!
//! ```text
//! cargo run --example flood_target -- big-negotiate   # negotiate answers a 6.8 MB body
//! cargo run --example flood_target -- flood           # every response is endless
//! cargo run --example flood_target -- silent          # negotiate answers, nothing else does
//! conform --target http://127.0.0.1:PORT/hub --assume-features all --jobs 16 -q
//! ```
//!
//! `big-negotiate`: negotiate is a valid negotiate response padded to 6.8 MB (with a
//! connection token that must not reach any report); everything else is 404 with the same
//! 6.8 MB body. `flood`: negotiate is small and valid; every other HTTP response is an endless
//! chunked body, and a WebSocket upgrade is accepted and followed by an endless message
//! (continuation frames that never end). Listens on 127.0.0.1 (port: second argument, or any).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

const TOKEN: &str = "flood-SECRET-token-0123456789";

fn negotiate(padding: usize) -> Vec<u8> {
    let pad = "x".repeat(padding);
    format!(
        r#"{{"connectionId":"cid","connectionToken":"{TOKEN}","negotiateVersion":1,"availableTransports":[{{"transport":"WebSockets","transferFormats":["Text","Binary"]}},{{"transport":"ServerSentEvents","transferFormats":["Text"]}},{{"transport":"LongPolling","transferFormats":["Text","Binary"]}}],"padding":"{pad}"}}"#
    )
    .into_bytes()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "flood".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if !matches!(mode.as_str(), "flood" | "big-negotiate" | "silent") {
        eprintln!("usage: flood_target flood|big-negotiate|silent [PORT]");
        std::process::exit(2);
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!(
        "flood_target ({mode}) on http://{}/hub",
        listener.local_addr().expect("addr")
    );
    let big = mode == "big-negotiate";
    let silent = mode == "silent";
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = serve(stream, big, silent);
        });
    }
}

fn serve(stream: TcpStream, big: bool, silent: bool) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut first = String::new();
        if reader.read_line(&mut first)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        let mut upgrade = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.to_ascii_lowercase();
            if l == "\r\n" {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if let Some(v) = line
                .strip_prefix("Sec-WebSocket-Key:")
                .or_else(|| line.strip_prefix("sec-websocket-key:"))
            {
                upgrade = Some(v.trim().to_owned());
            }
        }
        std::io::copy(&mut (&mut reader).take(length as u64), &mut std::io::sink())?;
        let is_negotiate = first.contains("/negotiate");
        if big {
            let body = negotiate(6_800_000);
            let status = if is_negotiate {
                "200 OK"
            } else {
                "404 Not Found"
            };
            write!(
                out,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body)?;
            continue;
        }
        if is_negotiate {
            let body = negotiate(0);
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body)?;
            continue;
        }
        if silent {
            // Hold the connection without a byte of answer until the client hangs up.
            std::io::copy(&mut reader, &mut std::io::sink())?;
            return Ok(());
        }
        let chunk = vec![b'{'; 64 << 10];
        if let Some(key) = upgrade {
            write!(
                out,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                accept_key(&key)
            )?;
            // A text frame without FIN, then continuation frames forever.
            let mut opcode = 0x1u8;
            loop {
                let mut frame = vec![opcode, 127];
                frame.extend_from_slice(&(chunk.len() as u64).to_be_bytes());
                frame.extend_from_slice(&chunk);
                out.write_all(&frame)?;
                opcode = 0x0;
            }
        }
        out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        )?;
        let mut framed = format!("{:x}\r\ndata: ", chunk.len() + 6).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        loop {
            out.write_all(&framed)?;
        }
    }
}

/// `Sec-WebSocket-Accept` (RFC 6455 § 4.2.2).
fn accept_key(key: &str) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes())
}
