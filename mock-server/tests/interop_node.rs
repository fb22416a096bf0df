//! Interop with the official JavaScript client: runs `tests/interop/node/interop.js`
//! (`@microsoft/signalr` + `@microsoft/signalr-protocol-msgpack`, versions pinned in its
//! package.json) under Node against an in-process mock-hub, over every transport, with JSON and
//! MessagePack, with and without negotiation; accessTokenFactory on every transport, including a
//! refreshed token after the server closed a connection whose token expired.
//!
//! Needs `node` (20+) on PATH (or `NODE=/path/to/node`) and the npm packages installed once:
//!
//! ```text
//! npm ci --prefix tests/interop/node
//! ```
//!
//! Without them the test fails (it does not skip). Run it alone with
//! `cargo test -p signalr-mock --test interop_node -- --nocapture` to see every check.

mod interop_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use interop_support::{run_child, Run};
use signalr_mock::{Fault, MockConfig, MockServer};
use tokio::process::Command;

/// Bound of one `node interop.js` run (the full suite takes about 25 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

const INSTALL: &str = "npm ci --prefix tests/interop/node";

fn interop_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/interop/node"
    ))
    .to_path_buf()
}

/// Fails (never skips) when Node or the npm packages are missing.
fn require_node_setup(dir: &Path) -> String {
    for pkg in ["@microsoft/signalr", "@microsoft/signalr-protocol-msgpack"] {
        let manifest = dir.join("node_modules").join(pkg).join("package.json");
        assert!(
            manifest.is_file(),
            "{} is missing: the Node interop test needs its npm packages. From the workspace \
             root run:\n\n    {INSTALL}\n",
            manifest.display()
        );
    }
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    match std::process::Command::new(&node).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`{node} --version` failed ({}): the Node interop test needs Node.js 20+",
            o.status
        ),
        Err(e) => panic!(
            "cannot run `{node}` ({e}): the Node interop test needs Node.js 20+ on PATH \
             (or NODE=/path/to/node)"
        ),
    }
    node
}

/// Runs `node interop.js <base-url> <args…>` with a bounded wait; stdout and stderr are
/// collected (also what was printed before a timeout).
async fn run_interop(server: &MockServer, args: &[&str]) -> Run {
    let dir = interop_dir();
    let node = require_node_setup(&dir);
    let mut cmd = Command::new(&node);
    cmd.arg("interop.js")
        .arg(server.base_url())
        .args(args)
        .current_dir(&dir);
    run_child(cmd, &format!("`{node} interop.js`"), RUN_TIMEOUT).await
}

async fn start(config: MockConfig) -> MockServer {
    MockServer::start(MockConfig { port: 0, ..config })
        .await
        .expect("mock-hub starts")
}

/// The official client passes every check against mock-hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_js_client_against_mock_hub() {
    let server = start(MockConfig {
        close_on_authentication_expiration: true,
        ..MockConfig::default().fast_timers()
    })
    .await;
    let run = run_interop(&server, &[]).await;
    server.shutdown().await;
    println!("{}", run.output);
    assert!(
        !run.timed_out,
        "node interop.js did not finish within {RUN_TIMEOUT:?}; output so far:\n{}",
        run.output
    );
    assert_eq!(
        run.code,
        Some(0),
        "node interop.js failed (exit {:?}) after {:.1?}:\n{}",
        run.code,
        run.elapsed,
        run.output
    );
    assert!(
        run.output.lines().any(|l| l.starts_with("ok - ")),
        "no check ran:\n{}",
        run.output
    );
    assert!(
        !run.output.lines().any(|l| l.starts_with("not ok")),
        "a check failed:\n{}",
        run.output
    );
}

/// The harness reports a broken server: a failing check makes node exit non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_run_fails_against_a_broken_server() {
    let server = start(MockConfig {
        faults: vec![Fault::GroupSendLeaks],
        ..MockConfig::default().fast_timers()
    })
    .await;
    let run = run_interop(&server, &["--only", "^WebSockets/json: groups"]).await;
    server.shutdown().await;
    assert!(!run.timed_out, "timed out:\n{}", run.output);
    assert_eq!(run.code, Some(1), "expected exit 1:\n{}", run.output);
    assert!(
        run.output.lines().any(|l| l.starts_with(
            "not ok - WebSockets/json: groups: SendToGroup reaches members only: non-member must not get the group message"
        )),
        "expected the groups check to fail:\n{}",
        run.output
    );
}
