//! Interop with the Python SignalR clients: runs `tests/interop/python/pysignalr_interop.py`
//! (`pysignalr`: WebSockets, JSON and MessagePack) and `signalrcore_interop.py` (`signalrcore`:
//! WebSockets, Server-Sent Events and Long Polling, JSON and MessagePack) against an in-process
//! mock-hub with fast timers. Versions are pinned in `tests/interop/python/requirements.txt`.
//!
//! Needs the virtualenv `tests/interop/python/.venv`, created once (idempotent) with:
//!
//! ```text
//! bash tests/interop/python/install.sh
//! ```
//!
//! Without it the test fails (it does not skip). Run it alone with
//! `cargo test -p signalr-mock --test interop_python -- --nocapture` to see every check.

mod interop_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use interop_support::{run_child, Run};
use signalr_mock::{Fault, MockConfig, MockServer};
use tokio::process::Command;

/// Bound of one program run (signalrcore's full run takes about 30 s, pysignalr's 10 s). The
/// programs' own watchdog (`INTEROP_RUN_TIMEOUT`) fires first and still prints their output.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
const PROGRAM_WATCHDOG_SECS: &str = "200";

const INSTALL: &str = "bash tests/interop/python/install.sh";

fn interop_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/interop/python"
    ))
    .to_path_buf()
}

/// The venv's interpreter; fails (never skips) when the venv is missing.
fn venv_python(dir: &Path) -> PathBuf {
    let python = if cfg!(windows) {
        dir.join(".venv").join("Scripts").join("python.exe")
    } else {
        dir.join(".venv").join("bin").join("python")
    };
    assert!(
        python.is_file(),
        "{} is missing: the Python interop test needs its virtualenv with pysignalr and \
         signalrcore. From the workspace root run:\n\n    {INSTALL}\n",
        python.display()
    );
    python
}

/// Runs `python -u <program> <base-url> <args…>` with a bounded wait; stdout and stderr are
/// collected (also what was printed before a timeout).
async fn run_program(server: &MockServer, program: &'static str, args: &[&str]) -> Run {
    let dir = interop_dir();
    let python = venv_python(&dir);
    let mut cmd = Command::new(&python);
    cmd.arg("-u")
        .arg(program)
        .arg(server.base_url())
        .args(args)
        .current_dir(&dir)
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("INTEROP_RUN_TIMEOUT", PROGRAM_WATCHDOG_SECS)
        .env_remove("MOCK_HUB_URL");
    let what = format!("`{} {program}`", python.display());
    run_child(cmd, &what, RUN_TIMEOUT).await
}

async fn start(config: MockConfig) -> MockServer {
    MockServer::start(MockConfig { port: 0, ..config })
        .await
        .expect("mock-hub starts")
}

/// Every check passed or was skipped for a stated client-library limitation.
fn assert_all_passed(program: &str, run: &Run) {
    println!("{program} ({:.1?}):\n{}", run.elapsed, run.output);
    assert!(
        !run.timed_out,
        "{program} did not finish within {RUN_TIMEOUT:?}; output so far:\n{}",
        run.output
    );
    assert_eq!(
        run.code,
        Some(0),
        "{program} failed (exit {:?}) after {:.1?}:\n{}",
        run.code,
        run.elapsed,
        run.output
    );
    assert!(
        run.output
            .lines()
            .any(|l| l.starts_with("ok - ") && !l.contains(" # SKIP ")),
        "{program}: no check ran:\n{}",
        run.output
    );
    assert!(
        !run.output.lines().any(|l| l.starts_with("not ok")),
        "{program}: a check failed:\n{}",
        run.output
    );
}

/// pysignalr over WebSockets, JSON and MessagePack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysignalr_against_mock_hub() {
    let server = start(MockConfig::default().fast_timers()).await;
    let run = run_program(&server, "pysignalr_interop.py", &[]).await;
    server.shutdown().await;
    assert_all_passed("pysignalr_interop.py", &run);
}

/// signalrcore over WebSockets, Server-Sent Events and Long Polling, JSON and MessagePack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalrcore_against_mock_hub() {
    let server = start(MockConfig::default().fast_timers()).await;
    let run = run_program(&server, "signalrcore_interop.py", &[]).await;
    server.shutdown().await;
    assert_all_passed("signalrcore_interop.py", &run);
}

/// The harness reports a broken server: a failing check makes the program exit non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_interop_fails_against_a_broken_server() {
    let cases: [(Fault, &'static str, &str, &str); 2] = [
        (
            Fault::GroupSendLeaks,
            "pysignalr_interop.py",
            "^WebSockets/json: groups",
            "not ok - WebSockets/json: groups: JoinGroup + SendToGroup reach members only: \
             the non-member sender got the group message",
        ),
        (
            Fault::RequireNegotiateVersion,
            "signalrcore_interop.py",
            "^WebSockets/json: connect with negotiation",
            "not ok - WebSockets/json: connect with negotiation (negotiateVersion 0, handshake \
             version 0): HTTPError: HTTP Error 400",
        ),
    ];
    for (fault, program, only, expected) in cases {
        let server = start(MockConfig {
            faults: vec![fault],
            ..MockConfig::default().fast_timers()
        })
        .await;
        let run = run_program(&server, program, &["--only", only]).await;
        server.shutdown().await;
        assert!(!run.timed_out, "{program} timed out:\n{}", run.output);
        assert_eq!(
            run.code,
            Some(1),
            "{program}: expected exit 1:\n{}",
            run.output
        );
        assert!(
            run.output.lines().any(|l| l.starts_with(expected)),
            "{program}: expected a line starting with {expected:?}:\n{}",
            run.output
        );
    }
}
