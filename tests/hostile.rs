//! conform against hostile and broken targets (hand-written servers on 127.0.0.1): a URL
//! that is not a hub is one error, a huge body does not blow up the output or the reports,
//! secrets never reach any output format, and a silent target stops the run early.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What the hand-written target does with one request.
#[derive(Clone)]
enum Answer {
    /// A complete response.
    Reply {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// A 404 whose text/plain body echoes the request line and headers (as some frameworks'
    /// error pages do): secrets sent to the target come back in bodies.
    EchoRequest,
    /// Read the request, answer nothing, keep the socket open.
    Silence,
}

/// Serves each connection on its own thread: `route(method, path_and_query)` decides.
fn target(route: fn(&str, &str) -> Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, route));
        }
    });
    format!("http://{addr}/hub")
}

fn serve(stream: TcpStream, route: fn(&str, &str) -> Answer) {
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = Vec::new();
        let mut line = String::new();
        let mut length = 0usize;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some(v) = line
                .to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
            {
                length = v.parse().unwrap_or(0);
            }
            head.push(line.trim_end().to_owned());
        }
        let mut body = vec![0u8; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let first = head.first().cloned().unwrap_or_default();
        let mut parts = first.split(' ');
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, content_type, body) = match route(method, path) {
            Answer::Reply {
                status,
                content_type,
                body,
            } => (status, content_type, body),
            Answer::EchoRequest => (404, "text/plain", head.join("\n").into_bytes()),
            Answer::Silence => {
                // Hold the connection until the client gives up.
                let mut sink = [0u8; 4096];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
        };
        let reason = if status == 200 { "OK" } else { "Not Found" };
        let mut response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        if out.write_all(&response).is_err() {
            return;
        }
    }
}

const CONNECTION_TOKEN: &str = "ctok-SECRET-4242abcdef";
const BEARER: &str = "bearer-SECRET-9999xyz";

fn negotiate_json() -> Vec<u8> {
    format!(
        r#"{{"connectionId":"cid-1","connectionToken":"{CONNECTION_TOKEN}","negotiateVersion":1,"availableTransports":[{{"transport":"WebSockets","transferFormats":["Text","Binary"]}},{{"transport":"ServerSentEvents","transferFormats":["Text"]}},{{"transport":"LongPolling","transferFormats":["Text","Binary"]}}]}}"#
    )
    .into_bytes()
}

fn conform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conform"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("conform runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("conform-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The report files asked for with `--json/--junit/--html/--markdown` in `dir`.
fn report_args(dir: &Path) -> Vec<String> {
    ["json", "junit", "html", "markdown"]
        .iter()
        .flat_map(|f| {
            [
                format!("--{f}"),
                dir.join(format!("report.{f}"))
                    .to_string_lossy()
                    .into_owned(),
            ]
        })
        .collect()
}

fn read_reports(dir: &Path) -> Vec<(String, String)> {
    ["json", "junit", "html", "markdown"]
        .iter()
        .map(|f| {
            let p = dir.join(format!("report.{f}"));
            let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (f.to_string(), t)
        })
        .collect()
}

#[test]
fn a_url_that_is_not_a_hub_is_one_error_with_exit_2() {
    let url = target(|_, _| Answer::Reply {
        status: 404,
        content_type: "text/html",
        body: b"<html><body><h1>Not Found</h1></body></html>".to_vec(),
    });
    let o = conform(&["--target", &url]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no conformance hub at"), "{err}");
    assert!(err.contains("answered 404"), "{err}");
    assert!(err.contains("--assume-features"), "{err}");
    // One message, not a run: nothing on stdout, the error is one line.
    assert!(text(&o.stdout).trim().is_empty(), "{}", text(&o.stdout));
    assert_eq!(
        err.lines().filter(|l| l.starts_with("conform:")).count(),
        1,
        "{err}"
    );
}

#[test]
fn a_refused_connection_says_so() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let o = conform(&["--target", &format!("http://127.0.0.1:{port}/conformance")]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("connection refused"), "{err}");
}

#[test]
fn a_huge_body_is_quoted_as_an_excerpt_in_every_output() {
    // Every request: 200 with a 1.5 MB HTML page (not a negotiate response).
    let url = target(|_, _| {
        let mut body = b"<html><body>".to_vec();
        body.extend(std::iter::repeat_n(b'x', 1_500_000));
        body.extend_from_slice(b"</body></html>");
        Answer::Reply {
            status: 200,
            content_type: "text/html",
            body,
        }
    });
    let dir = temp_dir("huge-body");
    let mut args: Vec<String> = [
        "--target",
        &url,
        "--assume-features",
        "all",
        "--case",
        "negotiate/**",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(report_args(&dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = conform(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    // 22 executions against 1.5 MB bodies (under the 2 MiB limit): the output stays small and says how big it was.
    assert!(stdout.len() < 1 << 20, "stdout is {} bytes", stdout.len());
    assert!(stdout.contains("bytes in all"), "{stdout}");
    for (format, t) in read_reports(&dir) {
        assert!(
            t.len() < 2 << 20,
            "the {format} report is {} bytes",
            t.len()
        );
    }
    let md = std::fs::read_to_string(dir.join("report.markdown")).expect("markdown");
    // The target's HTML does not land raw in the Markdown.
    assert!(!md.contains("<body>") && !md.contains("<html>"), "{md}");
    assert!(md.contains("&lt;html&gt;"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn secrets_appear_in_no_output_format() {
    // Negotiate works; every other request gets a 404 echoing the request (its id=, its
    // access_token=, its Authorization header) — as framework error pages do.
    let url = target(|method, path| {
        if method == "POST" && path.contains("/negotiate") {
            Answer::Reply {
                status: 200,
                content_type: "application/json",
                body: negotiate_json(),
            }
        } else {
            Answer::EchoRequest
        }
    });
    let dir = temp_dir("secrets");
    let mut args: Vec<String> = [
        "--target",
        &url,
        "--token",
        BEARER,
        "--assume-features",
        "all",
        "--case",
        "transports/**",
        "--case",
        "handshake/success*",
        "--time-scale",
        "0.2",
        "--verbose",
        "--trace",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(report_args(&dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = conform(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let mut outputs = read_reports(&dir);
    outputs.push(("stdout".into(), text(&o.stdout)));
    outputs.push(("stderr".into(), text(&o.stderr)));
    // The echoed requests did reach the reports (so the check below can fail) …
    let json = &outputs[0].1;
    assert!(
        json.to_ascii_lowercase()
            .contains("authorization: bearer <redacted>"),
        "the target's echo is not in the report"
    );
    for (format, t) in &outputs {
        // … but never a secret.
        for secret in [CONNECTION_TOKEN, BEARER] {
            assert!(
                !t.contains(secret),
                "{format} contains {secret}: …{}…",
                t.find(secret)
                    .map(|i| &t[i.saturating_sub(200)..(i + 50).min(t.len())])
                    .unwrap_or("")
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn auth_tokens_appear_in_no_output_format() {
    // The auth cases fetch tokens (valid, expired, wrong key, unsigned …), present them in
    // headers and queries, and save a redirect's accessToken. Against a hub that lets
    // everyone in, many fail, so their transcripts land in every report; a JWT (its header
    // `{"alg":…` is `eyJ` in base64url) must not appear in any of them.
    let dir = temp_dir("auth-secrets");
    let mut args: Vec<String> = [
        "--case",
        "auth/**",
        "--mock-fault",
        "anonymous-authorized-hub",
        "--verbose",
        "--trace",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(report_args(&dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = conform(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let mut outputs = read_reports(&dir);
    outputs.push(("stdout".into(), text(&o.stdout)));
    outputs.push(("stderr".into(), text(&o.stderr)));
    // The requests that carried tokens are in the reports (so the check below can fail) …
    assert!(
        outputs[0].1.contains("access_token=<redacted>"),
        "no token-carrying request in the JSON report"
    );
    for (format, t) in &outputs {
        // … but never a token.
        assert!(
            !t.contains("eyJ"),
            "{format} contains a JWT: …{}…",
            t.find("eyJ")
                .map(|i| &t[i.saturating_sub(200)..(i + 50).min(t.len())])
                .unwrap_or("")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_target_that_answers_nothing_trips_the_circuit_breaker() {
    // Negotiate answers; the transports never say a word.
    let url = target(|method, path| {
        if method == "POST" && path.contains("/negotiate") {
            Answer::Reply {
                status: 200,
                content_type: "application/json",
                body: negotiate_json(),
            }
        } else {
            Answer::Silence
        }
    });
    let dir = temp_dir("breaker");
    let json = dir.join("report.json");
    let o = conform(&[
        "--target",
        &url,
        "--assume-features",
        "all",
        "--time-scale",
        "0.2",
        "--jobs",
        "4",
        "--json",
        &json.to_string_lossy(),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("answered nothing"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid json");
    assert!(
        report["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("answered nothing")),
        "{}",
        report["stopped"]
    );
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    let ran = outcomes
        .iter()
        .filter(|o| o["verdict"] != "SKIPPED" && o["verdict"] != "UNIMPLEMENTED")
        .count();
    // It stopped after the first few, instead of waiting out hundreds of executions.
    assert!(ran < 40, "{ran} executions ran");
    assert!(outcomes.len() > 500, "{}", outcomes.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn option_errors_exit_2() {
    for args in [
        &["--timeout", "0"][..],
        &["--jobs", "0"][..],
        &["--list", "--case", "no-such-area/**"][..],
    ] {
        let o = conform(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    }
    let o = conform(&["--mock-fault", "list"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listed = text(&o.stdout);
    for f in signalr_mock::Fault::ALL {
        assert!(listed.contains(f.name()), "{listed}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_writes_partial_reports_and_exits_130() {
    use std::io::BufRead as _;
    let dir = temp_dir("interrupt");
    let json = dir.join("report.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_conform"))
        .args(["--json", &json.to_string_lossy()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("conform runs");
    // Wait for the header (the run is about to start), then interrupt.
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while err.read_line(&mut line).expect("stderr line") > 0 && !line.contains("combinations") {
        line.clear();
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    let status = child.wait().expect("conform ends");
    assert_eq!(status.code(), Some(130), "{rest}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report is written"))
            .expect("valid json");
    assert!(
        report["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("Ctrl-C")),
        "{}",
        report["stopped"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A WebSocket message that never ends (fragments without FIN, under the 2 MiB per-message
/// limit) counts against conform's shared receive budget while tungstenite assembles it, not
/// only against the per-connection limit, and the bytes are given back when the socket ends.
#[tokio::test]
async fn a_websocket_message_being_assembled_counts_against_the_shared_budget() {
    use signalr_conform::client::{budget_in_use, Session, Target, Transcript, TransportKind};
    use signalr_protocol::HubProtocol;
    use std::sync::Arc;

    const FRAGMENT: usize = 60_000;
    const FRAGMENTS: usize = 25; // 1.5 MB: below the per-message limit, never finished
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut out = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let mut key = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("sec-websocket-key:") {
                // The key is case-sensitive: take it from the original line.
                key = line[line.len() - v.len()..].trim().to_owned();
            }
        }
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut bytes = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        for i in 0..FRAGMENTS {
            // FIN clear; a text frame first, continuations after; unmasked (server to client).
            let opcode = if i == 0 { 0x1 } else { 0x0 };
            bytes.push(opcode);
            bytes.push(126);
            bytes.extend_from_slice(&(FRAGMENT as u16).to_be_bytes());
            bytes.extend(std::iter::repeat_n(b'a', FRAGMENT));
        }
        out.write_all(&bytes).expect("fragments");
        // Hold the socket until the test has looked at the budget.
        let _ = close_rx.recv_timeout(std::time::Duration::from_secs(30));
    });
    let target = Target {
        hub_url: format!("http://{addr}/hub").parse().expect("url"),
        headers: Vec::new(),
        access_token: None,
        token_in: Default::default(),
        tls: Default::default(),
    };
    let mut session = Session::new(
        "client",
        Arc::new(target),
        reqwest::Client::new(),
        TransportKind::WebSockets,
        HubProtocol::Json,
        Transcript::new(),
    );
    session.open(None, "").await.expect("upgraded");
    async fn wait_for(what: &str, cond: impl Fn(usize) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let seen = budget_in_use();
            if cond(seen) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {seen} bytes held"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    // Every fragment has been read into the message being assembled: all of it is counted.
    wait_for("the message being assembled is counted", |n| {
        n >= FRAGMENT * FRAGMENTS
    })
    .await;
    let _ = close_tx.send(());
    session.close(false).await;
    drop(session);
    wait_for("the bytes are given back", |n| n == 0).await;
    server.join().expect("server");
}
