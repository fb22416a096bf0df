//! Cross-node conformance (`conform --target A --peer B [--peer C]`, the `scaleout` cases):
//! against three mock-hub nodes on a real `redis-server` (started on a free port of 127.0.0.1)
//! every case passes (with two, all but the three-node cases, which say why they did not run),
//! and each `backplane-*` fault mode of mock-hub makes the cases that check it FAIL. A peer
//! that declares other hub options than the target makes the cases with clients on it
//! UNIMPLEMENTED, naming the difference.
//! Without `redis-server` those tests say so and pass, except in CI (`CI=true`), where a
//! missing Redis fails them (as mock-server/tests/backplane.rs). Without `--peer` the cases are
//! UNIMPLEMENTED, and a `--peer` that is not the conformance hub, or not a node of the
//! target's hub, stops the run (exit 2): no Redis needed for those.

use std::path::PathBuf;
use std::process::{Command, Output};

use signalr_conform::embedded;
use signalr_mock::{Fault, MockServer};

// ---------------------------------------------------------------------------------------------
// A real redis-server (one helper for both crates' scale-out tests)

#[path = "../mock-server/tests/support/redis_server.rs"]
mod redis_server;
use redis_server::{redis_available, RedisServer as Redis};

// ---------------------------------------------------------------------------------------------
// Nodes and runs

/// A mock-hub node as conform's embedded one (fast timers), on the backplane under `prefix`.
async fn node(redis: &Redis, prefix: &str, faults: &[Fault]) -> MockServer {
    node_with(redis, prefix, faults, |_| {}).await
}

/// As [`node`], its configuration changed by `change` first.
async fn node_with(
    redis: &Redis,
    prefix: &str,
    faults: &[Fault],
    change: impl FnOnce(&mut signalr_mock::MockConfig),
) -> MockServer {
    let mut config = embedded::mock_config();
    change(&mut config);
    config.redis = Some(redis.url());
    config.redis_prefix = prefix.to_owned();
    config.faults = faults.to_vec();
    MockServer::start(config)
        .await
        .expect("mock-hub node starts")
}

/// `conform` with `args` and `--json FILE`; the exit code and the report.
async fn conform(args: Vec<String>) -> (Output, serde_json::Value) {
    let dir = std::env::temp_dir().join(format!(
        "conform-scaleout-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json: PathBuf = dir.join("report.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_conform"));
    cmd.args(&args)
        .arg("--json")
        .arg(&json)
        .arg("--color=never");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("conform runs"))
        .await
        .expect("conform's thread");
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
    (out, report)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `(execution name, verdict)` of every outcome of a report.
fn verdicts(report: &serde_json::Value) -> Vec<(String, String)> {
    report["outcomes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    (
                        o["name"].as_str().unwrap_or_default().to_owned(),
                        o["verdict"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// Without Redis

#[tokio::test]
async fn without_peer_the_scaleout_cases_are_unimplemented() {
    let args = ["--tag", "scaleout"].map(String::from).to_vec();
    let (out, report) = conform(args).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    assert!(outcomes.len() >= 9, "{}", show(&out));
    for o in outcomes {
        assert_eq!(o["verdict"], "UNIMPLEMENTED", "{o}");
        assert!(o.to_string().contains("needs --peer"), "{o}");
    }
}

#[tokio::test]
async fn a_peer_that_is_not_the_hub_stops_the_run() {
    let hub = embedded::start(embedded::mock_config())
        .await
        .expect("mock-hub starts");
    let target = hub.opts.target.hub_url.to_string();
    let peer = hub.server.hub_url("no-such-hub");
    let args = vec![
        "--target".into(),
        target,
        "--peer".into(),
        peer.clone(),
        "--tag".into(),
        "scaleout".into(),
    ];
    let (out, _) = conform(args).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "--peer {peer} is not a node of the conformance hub"
        )),
        "{err}"
    );
    // One clear error, not a run.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PASS"));

    // The target given again as its own peer would test nothing across nodes.
    let args = vec![
        "--target".into(),
        hub.opts.target.hub_url.to_string(),
        "--peer".into(),
        hub.opts.target.hub_url.to_string(),
    ];
    let (out, _) = conform(args).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the --target itself"));
    hub.shutdown().await;

    // --peer without --target is a usage error.
    let (out, _) = conform(vec![
        "--peer".into(),
        "http://127.0.0.1:1/conformance".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--peer needs --target"));
}

/// Two conformance hubs that share no backplane are not nodes of one hub: the run stops
/// before any case (which would all FAIL, blaming the server), and says what to check.
#[tokio::test]
async fn a_peer_of_another_hub_stops_the_run() {
    let (one, other) = (
        embedded::start(embedded::mock_config())
            .await
            .expect("mock-hub starts"),
        embedded::start(embedded::mock_config())
            .await
            .expect("mock-hub starts"),
    );
    let peer = other.opts.target.hub_url.to_string();
    let args = vec![
        "--target".into(),
        one.opts.target.hub_url.to_string(),
        "--peer".into(),
        peer.clone(),
    ];
    let (out, report) = conform(args).await;
    one.shutdown().await;
    other.shutdown().await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "--peer {peer} does not serve the target's hub: a SendToConnection from the target to a connection on the peer did not arrive"
        )),
        "{err}"
    );
    assert!(
        err.contains("the same backplane, with the same channel prefix and hub name"),
        "{err}"
    );
    assert_eq!(report, serde_json::Value::Null, "no run: {}", show(&out));
}

/// The target under another URL (`localhost` for `127.0.0.1`) is not another node: every
/// cross-node case would pass without crossing anything. The run stops and says so.
#[tokio::test]
async fn the_target_under_another_url_is_not_a_peer() {
    let hub = embedded::start(embedded::mock_config())
        .await
        .expect("mock-hub starts");
    let target = hub.opts.target.hub_url.to_string();
    let peer = target.replace("127.0.0.1", "localhost");
    assert_ne!(peer, target, "the embedded hub listens on 127.0.0.1");
    let (out, report) = conform(vec![
        "--target".into(),
        target,
        "--peer".into(),
        peer.clone(),
    ])
    .await;
    hub.shutdown().await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "--peer {peer} is the target itself, not another node: it knows the target's connection (DELETE with the target's connection token answered 400"
        )),
        "{err}"
    );
    assert_eq!(report, serde_json::Value::Null, "no run: {}", show(&out));
}

// ---------------------------------------------------------------------------------------------
// Nodes on Redis

/// The cases that need three nodes (two peers).
const THREE_NODE_CASES: &[&str] = &[
    "scaleout/group-on-three-nodes-each-send-once",
    "scaleout/user-on-three-nodes",
    "scaleout/all-except-on-three-nodes",
    "scaleout/group-except-on-three-nodes",
];

fn needs_three(name: &str) -> bool {
    THREE_NODE_CASES
        .iter()
        .any(|c| name.strip_prefix(c).is_some_and(|r| r.starts_with('[')))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_pass_every_scaleout_case_and_two_run_all_but_the_three_node_ones() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let (a, b, c) = (
        node(&redis, "", &[]).await,
        node(&redis, "", &[]).await,
        node(&redis, "", &[]).await,
    );
    let run = |peers: Vec<String>| {
        let mut args = vec!["--target".to_owned(), a.hub_url("conformance")];
        for p in peers {
            args.extend(["--peer".to_owned(), p]);
        }
        // A loaded machine must not turn a pass into a timeout (a fault run needs no margin:
        // a late message there is still a FAIL).
        args.extend(["--tag", "scaleout", "--time-scale", "3"].map(String::from));
        conform(args)
    };
    let (out3, report3) = run(vec![b.hub_url("conformance"), c.hub_url("conformance")]).await;
    let (out2, report2) = run(vec![b.hub_url("conformance")]).await;
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;

    let v = verdicts(&report3);
    assert!(v.len() >= 65, "{}", show(&out3));
    assert!(
        v.iter().filter(|(n, _)| needs_three(n)).count() >= 20,
        "{}",
        show(&out3)
    );
    let not_passed: Vec<_> = v.iter().filter(|(_, v)| v != "PASS").collect();
    assert!(not_passed.is_empty(), "{not_passed:?}\n{}", show(&out3));
    assert_eq!(out3.status.code(), Some(0), "{}", show(&out3));

    // With one peer: the three-node cases say why they did not run; the others pass.
    assert_eq!(out2.status.code(), Some(0), "{}", show(&out2));
    for o in report2["outcomes"].as_array().expect("outcomes") {
        let name = o["name"].as_str().unwrap_or_default();
        if needs_three(name) {
            assert_eq!(o["verdict"], "UNIMPLEMENTED", "{o}");
            assert!(
                o.to_string()
                    .contains("needs 2 --peer nodes of the same hub, 1 given"),
                "{o}"
            );
        } else {
            assert_eq!(o["verdict"], "PASS", "{o}\n{}", show(&out2));
        }
    }
}

/// A peer that is a node of the same hub but declares other hub options: the cases with
/// clients on it are UNIMPLEMENTED with the difference named, never FAIL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_configured_unlike_the_target_is_named_not_blamed() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start().await;
    let a = node(&redis, "", &[]).await;
    let b = node_with(&redis, "", &[], |c| c.enable_detailed_errors = true).await;
    let peer = b.hub_url("conformance");
    let args = vec![
        "--target".into(),
        a.hub_url("conformance"),
        "--peer".into(),
        peer.clone(),
        "--tag".into(),
        "scaleout".into(),
    ];
    let (out, report) = conform(args).await;
    a.shutdown().await;
    b.shutdown().await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    assert!(outcomes.len() >= 65, "{}", show(&out));
    for o in outcomes {
        assert_eq!(o["verdict"], "UNIMPLEMENTED", "{o}");
        let name = o["name"].as_str().unwrap_or_default();
        if !needs_three(name) {
            let why = format!(
                "the nodes differ: --peer {peer} (node 1) declares detailedErrors true, the target false"
            );
            assert!(o.to_string().contains(&why), "{o}");
        }
    }
}

/// Each backplane fault and a case that must catch it.
const CAUGHT_BY: &[(Fault, &str)] = &[
    (
        Fault::BackplaneLocalGroups,
        "scaleout/group-send-reaches-other-node",
    ),
    (Fault::BackplaneLocalUsers, "scaleout/user-on-other-node"),
    (
        Fault::BackplaneIgnoresExcluded,
        "scaleout/all-except-across-nodes",
    ),
    (
        Fault::BackplaneIgnoresExcluded,
        "scaleout/group-except-across-nodes",
    ),
    (Fault::BackplaneDeliversTwice, "scaleout/no-duplicates"),
    (
        Fault::BackplaneLocalClientResults,
        "scaleout/client-result-across-nodes",
    ),
    (
        Fault::BackplaneIgnoresGroupCommands,
        "scaleout/add-to-group-from-other-node",
    ),
    (
        Fault::BackplaneIgnoresGroupCommands,
        "scaleout/remove-from-group-from-other-node",
    ),
    (
        Fault::BackplaneLeaveIgnored,
        "scaleout/nothing-after-leaving",
    ),
    // Three nodes.
    (
        Fault::BackplaneLocalGroups,
        "scaleout/group-on-three-nodes-each-send-once",
    ),
    (
        Fault::BackplaneDeliversTwice,
        "scaleout/group-on-three-nodes-each-send-once",
    ),
    (Fault::BackplaneLocalUsers, "scaleout/user-on-three-nodes"),
    (
        Fault::BackplaneDeliversTwice,
        "scaleout/user-on-three-nodes",
    ),
    (
        Fault::BackplaneIgnoresExcluded,
        "scaleout/all-except-on-three-nodes",
    ),
    (
        Fault::BackplaneIgnoresExcluded,
        "scaleout/group-except-on-three-nodes",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_backplane_fault_fails_its_case() {
    if !redis_available() {
        return;
    }
    // Every backplane fault has a case here.
    for f in Fault::ALL.iter().filter(|f| f.needs_backplane()) {
        assert!(
            CAUGHT_BY.iter().any(|(c, _)| c == f),
            "no scale-out case is known to catch {f}"
        );
    }
    let redis = Redis::start().await;
    let mut failures = Vec::new();
    for (i, (fault, case)) in CAUGHT_BY.iter().enumerate() {
        // Every node broken alike, on a prefix of their own.
        let prefix = format!("f{i}");
        let count = if needs_three(&format!("{case}[")) {
            3
        } else {
            2
        };
        let mut nodes = Vec::new();
        for _ in 0..count {
            nodes.push(node(&redis, &prefix, &[*fault]).await);
        }
        let mut args = vec!["--target".to_owned(), nodes[0].hub_url("conformance")];
        for peer in &nodes[1..] {
            args.extend(["--peer".to_owned(), peer.hub_url("conformance")]);
        }
        args.extend(["--case".to_owned(), format!("{case}[websockets,json]")]);
        let (out, report) = conform(args).await;
        for n in nodes {
            n.shutdown().await;
        }
        let v = verdicts(&report);
        let name = format!("{case}[websockets,json]");
        match v.iter().find(|(n, _)| *n == name) {
            Some((_, verdict)) if verdict == "FAIL" => {
                assert_eq!(out.status.code(), Some(1), "{}", show(&out));
                println!("{fault:<36} FAIL {name}");
            }
            other => failures.push(format!("{fault}: {name} gave {other:?}\n{}", show(&out))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
