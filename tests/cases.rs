//! Every embedded case × combination as its own test, against an in-process mock-hub.
//!
//! `cargo test --test cases -- --list` lists them; `cargo test --test cases -- 'handshake/'`
//! runs a subset. Two mock-hubs serve them: cases that require `detailed-errors` run against
//! one started with `enable_detailed_errors`, all others against one with ASP.NET Core's
//! defaults, so every case is proven against mock-hub. Executions still gated are reported as
//! ignored with the reason; everything else must PASS.

use std::sync::{Arc, OnceLock, RwLock};

use libtest_mimic::{Arguments, Failed, Trial};
use signalr_conform::report::failure_details;
use signalr_conform::result::Verdict;
use signalr_conform::runner::{self, RunOptions, TargetInfo};
use signalr_conform::{cases, embedded};

struct Env {
    rt: tokio::runtime::Runtime,
    info: Arc<TargetInfo>,
    opts: Arc<RunOptions>,
    http: reqwest::Client,
    _server: signalr_mock::MockServer,
}

/// The mock-hub for an execution: with detailed errors or with ASP.NET Core's defaults.
fn env(detailed_errors: bool) -> &'static Env {
    static DEFAULT: OnceLock<Env> = OnceLock::new();
    static DETAILED: OnceLock<Env> = OnceLock::new();
    let cell = if detailed_errors { &DETAILED } else { &DEFAULT };
    cell.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut config = embedded::mock_config();
        config.enable_detailed_errors = detailed_errors;
        let hub = rt
            .block_on(embedded::start(config))
            .expect("mock-hub starts");
        let opts = Arc::new(hub.opts);
        let info = Arc::new(rt.block_on(runner::probe(&opts)).expect("mock-hub answers"));
        Env {
            http: runner::http_client(),
            info,
            opts,
            rt,
            _server: hub.server,
        }
    })
}

fn main() {
    let mut args = Arguments::from_args();
    // Executions mostly wait on the network: run many at once unless told otherwise.
    if args.test_threads.is_none() {
        args.test_threads = Some(16);
    }
    let all = cases::embedded().expect("the embedded cases load");
    let executions = cases::expand(&all);
    // Gating needs the target; only probe it when something will actually run.
    let listing = args.list;
    let exclusive = Arc::new(RwLock::new(()));
    let trials: Vec<Trial> = executions
        .into_iter()
        .enumerate()
        .map(|(uid, e)| {
            let name = e.name.clone();
            let detailed = e.case.requires.iter().any(|r| r == "detailed-errors");
            let gated = if listing {
                None
            } else {
                let env = env(detailed);
                runner::gate(&e, &env.info, &env.opts)
            };
            let lock = exclusive.clone();
            let ignored = gated.is_some();
            let kind = gated
                .map(|(v, reason)| format!("{} — {reason}", v.label()))
                .unwrap_or_default();
            Trial::test(name, move || {
                let env = env(detailed);
                let run = || {
                    env.rt.block_on(runner::run_execution(
                        &e,
                        &env.info,
                        &env.opts,
                        env.http.clone(),
                        uid,
                    ))
                };
                // Cases that broadcast to every connection run alone.
                let o = if e.case.exclusive {
                    let _w = lock.write().unwrap_or_else(|p| p.into_inner());
                    run()
                } else {
                    let _r = lock.read().unwrap_or_else(|p| p.into_inner());
                    run()
                };
                match o.verdict {
                    Verdict::Pass => Ok(()),
                    _ => Err(Failed::from(failure_details(&o, 60))),
                }
            })
            .with_kind(kind)
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
