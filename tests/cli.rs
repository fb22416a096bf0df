//! The `conform` binary: inspector commands, listing, exit codes, baselines.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn conform(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_conform"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("conform runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("conform finishes")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn decode_prints_one_line_per_message() {
    let o = conform(
        &[
            "decode",
            "--protocol",
            "messagepack",
            "--framed",
            "02 91 06 04 93 07 c0 c3",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "{\"type\":6}\n{\"type\":7,\"allowReconnect\":true}\n"
    );
}

#[test]
fn decode_renders_messagepack_types_unambiguously() {
    // Completion "abc" with a timestamp result (2018-01-01T11:24:00Z) and one with bin.
    let o = conform(
        &[
            "decode",
            "--protocol",
            "messagepack",
            "--framed",
            "0e 95 03 80 a3 61 62 63 03 d6 ff 5a 4a 1a 50 0c 95 03 80 a3 61 62 63 03 c4 02 01 02",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "{\"type\":3,\"invocationId\":\"abc\",\"result\":{\"$timestamp\":\"2018-01-01T11:24:00Z\"}}\n{\"type\":3,\"invocationId\":\"abc\",\"result\":{\"$bin\":\"AQI=\"}}\n"
    );
}

#[test]
fn decode_reads_raw_bytes_from_stdin_with_a_handshake() {
    let input = b"{\"protocol\":\"json\",\"version\":1}\x1e{\"type\":1,\"target\":\"Send\",\"arguments\":[1,2.5]}\x1e";
    let o = conform(
        &[
            "decode",
            "--protocol",
            "json",
            "--framed",
            "--handshake",
            "-",
        ],
        Some(input),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "{\"handshake\":\"request\",\"protocol\":\"json\",\"version\":1}\n{\"type\":1,\"target\":\"Send\",\"arguments\":[1,2.5]}\n"
    );
}

#[test]
fn explain_prints_a_cases_requirement_and_reference() {
    let o = conform(
        &[
            "explain",
            "close/abort-sends-close-without-reconnect[websockets,json]",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("### `close/abort-sends-close-without-reconnect` — MUST"),
        "{out}"
    );
    assert!(
        out.contains("- Requirement: ") && out.contains("- Reference: "),
        "{out}"
    );
    let o = conform(&["explain", "close/no-such-case"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no case 'close/no-such-case'"));
}

#[test]
fn decode_without_framed_prints_every_message_or_names_trailing_bytes() {
    let o = conform(
        &["decode", "--protocol", "json", "-"],
        Some(b"{\"type\":6}\x1e{\"type\":6}\x1e"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "{\"type\":6}\n{\"type\":6}\n");
    let o = conform(
        &["decode", "--protocol", "messagepack", "91 06 91 06"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("trailing bytes after the message"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn decode_errors_are_one_line_naming_the_problem() {
    let o = conform(
        &["decode", "--protocol", "json", "--framed", "-"],
        Some(b"{\"type\":6}\x1e{\"type\":1}\x1e"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "conform: message 2 at byte 11: Missing required property 'target'.\n"
    );
    let o = conform(&["decode", "--protocol", "messagepack", "zz"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).starts_with("conform: invalid hex input"),
        "{}",
        text(&o.stderr)
    );
    let o = conform(
        &[
            "decode",
            "--protocol",
            "messagepack",
            "--framed",
            "ff ff ff ff ff",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "conform: message 1 at byte 0: Messages over 2GB in size are not supported.\n"
    );
}

#[test]
fn encode_reverses_decode() {
    let lines = "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Echo\",\"arguments\":[{\"$bin\":\"AQID\"},{\"$f32\":1.5},2.0,2]}\n{\"type\":6}\n";
    let o = conform(
        &["encode", "--protocol", "messagepack"],
        Some(lines.as_bytes()),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let hex = text(&o.stdout);
    let o = conform(
        &[
            "decode",
            "--protocol",
            "messagepack",
            "--framed",
            hex.trim(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), lines);
    let o = conform(
        &["encode", "--protocol", "json", "--raw"],
        Some(b"{\"type\":6}\n"),
    );
    assert_eq!(o.stdout, b"{\"type\":6}\x1e");
    let o = conform(
        &["encode", "--protocol", "json"],
        Some(b"{\"type\":6,\"bogus\":1}\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "conform: line 1: unknown property 'bogus'\n"
    );
}

#[test]
fn list_names_every_execution() {
    let o = conform(&["--list", "--case", "invocation/**"], None);
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(out.lines().count() > 10, "{out}");
    assert!(out.lines().all(|l| l.starts_with("invocation/")), "{out}");
    assert!(
        !out.contains("[sse,messagepack]"),
        "MessagePack never runs over SSE"
    );
}

#[test]
fn usage_errors_exit_2_and_unreachable_targets_exit_3() {
    let o = conform(&["--case", "no-such-case/**"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = conform(&["--target", "ftp://x/y"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = conform(
        &[
            "--target",
            "http://127.0.0.1:1/conformance",
            "--mock-detailed-errors",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("only applies to the embedded mock-hub"));
    let o = conform(&["--header", "no colon", "--list"], None);
    assert_eq!(o.status.code(), Some(0), "--list does not need a target");
    let o = conform(
        &[
            "--target",
            "http://127.0.0.1:1/conformance",
            "--case",
            "invocation/**",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("unreachable"));
}

#[test]
fn baseline_known_failures_pass_and_stale_entries_fail() {
    let dir = std::env::temp_dir().join(format!("conform-baseline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let failing = "invocation/non-blocking-gets-no-reply[websockets,json]";
    let args = [
        "--quiet",
        "--case",
        failing,
        "--mock-fault",
        "answer-non-blocking",
    ];
    // Without a baseline the fault fails the run.
    let o = conform(&args, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    // Listed as a known failure it passes.
    let b = dir.join("baseline.txt");
    std::fs::write(&b, format!("# known\n{failing}\n")).expect("write baseline");
    let mut with = args.to_vec();
    let bs = b.to_string_lossy().into_owned();
    with.extend(["--baseline", &bs]);
    let o = conform(&with, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    // Without the fault the entry is stale and fails the run.
    let o = conform(&["--quiet", "--case", failing, "--baseline", &bs], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("stale"), "{}", text(&o.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A hand-written broken target on 127.0.0.1: every accepted connection is handed to `serve`
/// on its own thread. The listener thread ends with the test process.
fn broken_target(serve: fn(std::net::TcpStream)) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    format!("http://{addr}/hub")
}

#[test]
fn a_target_that_never_answers_is_unreachable_after_the_request_timeout() {
    let url = broken_target(|mut s| {
        // Read the request, then hold the connection without a byte of answer.
        let mut buf = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut buf);
        let _ = std::io::Read::read(&mut s, &mut buf);
    });
    // The request timeout is the step timeout (at least 5 s) × --time-scale: 1 s here.
    let o = conform(&["--target", &url, "--time-scale", "0.2", "--quiet"], None);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("no response within 1s"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn an_endless_response_body_is_cut_off_with_an_error_naming_it() {
    let url = broken_target(|mut s| {
        let mut buf = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        let chunk = vec![b' '; 1 << 20];
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        // Until the client hangs up.
        while s.write_all(&framed).is_ok() {}
    });
    let o = conform(&["--target", &url, "--quiet"], None);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let limit = format!(
        "the response body exceeds {} MiB",
        signalr_conform::client::MAX_RECEIVE >> 20
    );
    assert!(text(&o.stderr).contains(&limit), "{}", text(&o.stderr));
}

#[test]
fn a_response_body_that_trickles_forever_times_out() {
    let url = broken_target(|mut s| {
        let mut buf = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        // One byte at a time, until the client hangs up.
        while s.write_all(b"1\r\n \r\n").is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    let o = conform(&["--target", &url, "--time-scale", "0.2", "--quiet"], None);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("the response body did not end before the request timed out"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_bad_case_file_is_a_load_error_naming_file_case_and_step() {
    let dir = std::env::temp_dir().join(format!("conform-bad-cases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        r#"
[[case]]
id = "area/bad-timing"
title = "t"
requirement = "r"
level = "MUST"
reference = "x"
[[case.step]]
send = '{"type":6}'
[[case.step]]
expect_silence = "keepAliveInterval * "
"#,
    )
    .expect("write case file");
    let o = conform(&["--cases", &dir.to_string_lossy(), "--list"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("bad.toml (case 'area/bad-timing'): step 2: timing 'keepAliveInterval * '"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_stdout_pipe_ends_the_run_quietly() {
    // `conform … | head`: the reader is gone before conform prints its report (it first runs
    // the case against the embedded hub), so the write fails with EPIPE. print! would panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_conform"))
        .args([
            "--case",
            "invocation/non-blocking-gets-no-reply[websockets,json]",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("conform runs");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("conform finishes");
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
}

#[test]
fn case_globs_keep_brackets_literal_and_reject_invalid_globs() {
    let o = conform(&["--list", "--case", "**[{sse,longpolling},json]"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.lines().count() > 10, "{out}");
    for l in out.lines() {
        let name = l.split_whitespace().next().unwrap_or("");
        assert!(
            name.ends_with("[sse,json]") || name.ends_with("[longpolling,json]"),
            "{l}"
        );
    }
    let o = conform(&["--list", "--case", "handshake/{a"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("invalid glob 'handshake/{a'"),
        "{}",
        text(&o.stderr)
    );
}
