//! `conform bench` as a user runs it, with small parameters, against the embedded mock-hub and
//! in-process mock-hubs: nothing lost, exit codes, the JSON report's shape, the baseline check.
//! No assertion here depends on how fast anything is.

use std::process::{Command, Output};

use serde_json::Value;

fn conform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conform"))
        .arg("bench")
        .args(args)
        .output()
        .expect("conform runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// Runs a bench with `--json -` and returns the report.
fn json_run(args: &[&str]) -> (Output, Value) {
    let mut all = vec!["--json", "-", "-q"];
    all.extend_from_slice(args);
    let o = conform(&all);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&o)));
    (o, v)
}

/// A short run: few connections, a high rate per sender, one second, a generous drain.
const SMALL: [&str; 8] = [
    "--connections",
    "12",
    "--rate",
    "20",
    "--duration",
    "1s",
    "--drain",
    "30s",
];

fn clean(o: &Output, v: &Value, connections: u64) {
    assert_eq!(o.status.code(), Some(0), "{}", show(o));
    assert_eq!(v["lost"], 0, "{}", show(o));
    assert_eq!(v["duplicated"], 0, "{}", show(o));
    assert_eq!(v["errors"], 0, "{}", show(o));
    assert_eq!(v["connected"], connections, "{}", show(o));
    assert_eq!(v["passed"], true);
}

#[test]
fn echo_loses_nothing_and_reports_every_field() {
    let (o, v) = json_run(&SMALL);
    clean(&o, &v, 12);
    assert_eq!(v["scenario"], "echo");
    assert_eq!(v["transport"], "WebSockets");
    assert_eq!(v["protocol"], "json");
    assert_eq!(v["messageSize"], 2048);
    let out = v["messagesOut"].as_u64().expect("messagesOut");
    assert!(out > 0, "{}", show(&o));
    // Echo: one copy back per message.
    assert_eq!(v["messagesIn"].as_u64(), Some(out));
    for k in ["p50", "p90", "p99", "max", "mean"] {
        assert!(v["latencyMs"][k].as_f64().is_some(), "latencyMs.{k}");
    }
    let l = &v["latencyMs"];
    assert!(l["p50"].as_f64() <= l["p99"].as_f64() && l["p99"].as_f64() <= l["max"].as_f64());
    for k in [
        "messagesOutPerSecond",
        "messagesInPerSecond",
        "connectSeconds",
        "durationSeconds",
    ] {
        assert!(v[k].as_f64().is_some(), "{k}");
    }
    assert!(v["bench"]["cpuMicrosPerMessage"].as_f64().is_some());
    assert!(v["bench"]["peakRssBytes"].as_u64().unwrap_or(0) > 0);
    assert!(v["targetProcess"].is_null());
    assert_eq!(v["openFiles"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["regressions"], serde_json::json!([]));
}

#[test]
fn every_scenario_loses_nothing() {
    for scenario in [
        "broadcast",
        "group",
        "large-group",
        "connection",
        "connections",
    ] {
        let mut args = SMALL.to_vec();
        args.extend(["--scenario", scenario, "--group-size", "5", "--groups", "3"]);
        let (o, v) = json_run(&args);
        clean(&o, &v, 12);
        assert_eq!(v["scenario"], scenario);
        let (out, inn) = (v["messagesOut"].as_u64(), v["messagesIn"].as_u64());
        match scenario {
            "connections" => assert_eq!((out, inn), (Some(0), Some(0))),
            // Every copy of every message: all 12, the sender's group (5, 5 and 2 members;
            // 4, 4 and 4 in the large groups), one connection.
            "broadcast" => assert_eq!(inn, out.map(|n| n * 12), "{}", show(&o)),
            "connection" => assert_eq!(inn, out, "{}", show(&o)),
            _ => assert!(inn >= out && out > Some(0), "{}", show(&o)),
        }
    }
}

#[test]
fn other_transports_and_messagepack() {
    for (transport, protocol) in [
        ("websockets", "messagepack"),
        ("sse", "json"),
        ("longpolling", "messagepack"),
    ] {
        let mut args = vec!["--transport", transport, "--protocol", protocol];
        args.extend(["--scenario", "group", "--connections", "6", "--rate", "10"]);
        args.extend(["--duration", "1s", "--drain", "30s", "--size", "100"]);
        let (o, v) = json_run(&args);
        clean(&o, &v, 6);
        assert_eq!(v["protocol"], protocol);
    }
}

#[test]
fn the_text_report_says_pass() {
    let o = conform(&[
        "-q",
        "--connections",
        "3",
        "--duration",
        "1s",
        "--drain",
        "30s",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = text(&o.stdout);
    for want in [
        "messages out",
        "messages in",
        "latency ms",
        "lost 0  duplicated 0  errors 0",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert!(out.trim_end().ends_with("PASS"), "{out}");
}

#[test]
fn a_group_send_that_leaks_is_counted_and_fails() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // ASP.NET Core's timers: the bench pings every 15 s, as its clients do.
    let mut config = signalr_mock::MockConfig {
        port: 0,
        ..signalr_mock::MockConfig::default()
    };
    config
        .faults
        .push("group-send-leaks".parse().expect("a fault"));
    let hub = rt
        .block_on(signalr_mock::MockServer::start(config))
        .expect("mock-hub starts");
    let url = hub.hub_url("conformance");
    let mut args = SMALL.to_vec();
    args.extend(["--scenario", "group", "--group-size", "4", "--target", &url]);
    let (o, v) = json_run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(v["duplicated"].as_u64().unwrap_or(0) > 0, "{}", show(&o));
    assert_eq!(v["passed"], false);
    rt.block_on(hub.shutdown());
}

#[test]
fn baseline_regressions_exit_4() {
    let dir = std::env::temp_dir().join(format!("conform-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (o, mut v) = json_run(&["--connections", "3", "--duration", "1s", "--drain", "30s"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // A baseline far faster than anything: a regression whatever the machine does.
    let fast = dir.join("fast.json");
    v["messagesInPerSecond"] = 1e12.into();
    std::fs::write(&fast, v.to_string()).expect("write");
    let run = |baseline: &std::path::Path, pct: &str| {
        conform(&[
            "--connections",
            "3",
            "--duration",
            "1s",
            "--drain",
            "30s",
            "-q",
            "--baseline",
            baseline.to_str().expect("utf-8 path"),
            "--max-regression",
            pct,
        ])
    };
    let o = run(&fast, "10");
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("REGRESSION messages in/s"),
        "{}",
        show(&o)
    );
    // A baseline nothing can be worse than.
    let slow = dir.join("slow.json");
    v["messagesInPerSecond"] = 0.0.into();
    v["latencyMs"]["p99"] = 1e12.into();
    std::fs::write(&slow, v.to_string()).expect("write");
    let o = run(&slow, "0");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // Another scenario's baseline, or no report at all: a usage error.
    v["scenario"] = "broadcast".into();
    let other = dir.join("other.json");
    std::fs::write(&other, v.to_string()).expect("write");
    let o = run(&other, "10");
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("scenario 'broadcast'"),
        "{}",
        show(&o)
    );
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").expect("write");
    let o = run(&junk, "10");
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("not a `conform bench --json` report"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_and_unreachable_exit_codes() {
    // More connections than any open-files limit here allows: said clearly, exit 2.
    let o = conform(&["--connections", "100000000", "--duration", "1s"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("open files"), "{}", show(&o));
    let o = conform(&["--transport", "sse", "--protocol", "messagepack"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let o = conform(&["--rate", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/conformance");
    let o = conform(&["--target", &url, "--connections", "2", "--duration", "1s"]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(text(&o.stderr).contains("cannot set up a connection"));
}
