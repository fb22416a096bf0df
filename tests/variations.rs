//! The default tier against mock-hub in each legal variation (behaviours correct servers show
//! and the protocol leaves open), in all of them at once, and with raised limits
//! (MaximumReceiveMessageSize 1 MiB, MaximumParallelInvocationsPerClient 4): no FAIL, no ERROR,
//! no NON-STRICT (INFORMATIONAL, a MAY, is allowed), and nothing UNIMPLEMENTED that the plain mock-hub runs —
//! except the two plain handshake-parser texts, whose `-detailed` twins run instead, and the
//! three cases about one invocation at a time when the target runs 4 (the general case runs).
//!
//! The runs go one after another (each with the runner's own parallelism) in one test, so
//! the machine is not oversubscribed; the totals of each run are printed
//! (`cargo test --test variations -- --nocapture`).

use std::collections::HashMap;
use std::sync::Arc;

use signalr_conform::cases::{self, Execution};
use signalr_conform::result::Verdict;
use signalr_conform::runner::{self, TargetInfo};
use signalr_conform::{embedded, report::failure_details};
use signalr_mock::{MockConfig, Variation};

/// Plain executions that a detailed-errors target does not run: their checks are the
/// handshake parser's own wording, covered by their `-detailed` twins.
const DETAILED_TWINS: &[&str] = &[
    "handshake/invalid-json-error",
    "handshake/binary-before-handshake",
];

/// Cases about MaximumParallelInvocationsPerClient = 1 only; for any N,
/// `invocation/parallel-invocations-limited` checks what holds (exactly N run at once).
const SEQUENTIAL_ONLY: &[&str] = &[
    "invocation/completions-in-order",
    "invocation/shorter-invocation-does-not-overtake",
    "invocation/non-blocking-holds-the-slot",
];

struct Run {
    label: String,
    config: MockConfig,
}

fn runs() -> Vec<Run> {
    let mut runs: Vec<Run> = Variation::ALL
        .iter()
        .map(|v| Run {
            label: v.name().to_owned(),
            config: MockConfig {
                variations: vec![*v],
                ..mock_config()
            },
        })
        .collect();
    runs.push(Run {
        label: "all variations".into(),
        config: MockConfig {
            variations: Variation::ALL.to_vec(),
            ..mock_config()
        },
    });
    runs.push(Run {
        label: "1 MiB size limit, 4 parallel invocations".into(),
        config: MockConfig {
            maximum_receive_message_size: 1024 * 1024,
            maximum_parallel_invocations_per_client: 4,
            ..mock_config()
        },
    });
    runs
}

/// The embedded configuration, with a longer DisconnectTimeout and HandshakeTimeout (both
/// declared by Describe) so that a client slowed down by a busy machine is not dropped
/// between two polls or in the middle of a handshake sent one byte per request.
fn mock_config() -> MockConfig {
    MockConfig {
        disconnect_timeout_ms: 6_000,
        handshake_timeout_ms: 5_000,
        ..embedded::mock_config()
    }
}

async fn probe(config: MockConfig) -> TargetInfo {
    let hub = embedded::start(config).await.expect("mock-hub starts");
    let info = runner::probe(&hub.opts).await.expect("mock-hub answers");
    hub.shutdown().await;
    info
}

#[test]
fn default_tier_passes_in_every_variation() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let all = cases::embedded().expect("the embedded cases load");
    let executions = cases::expand(&all);
    let by_name: HashMap<String, Execution> = executions
        .iter()
        .map(|e| (e.name.clone(), e.clone()))
        .collect();
    let plain = rt.block_on(probe(mock_config()));
    let mut problems = Vec::new();
    for run in runs() {
        let result = rt.block_on(async {
            let hub = embedded::start(run.config).await.expect("mock-hub starts");
            // Fewer executions at once than a plain run: six runs back to back on a busy
            // CI machine. (No --time-scale: the server's timers stay as Describe declares.)
            let mut opts = hub.opts;
            opts.jobs = 8;
            let opts = Arc::new(opts);
            let info = Arc::new(runner::probe(&opts).await.expect("mock-hub answers"));
            let r = runner::run(executions.clone(), info, opts.clone(), None).await;
            hub.server.shutdown().await;
            (r, opts)
        });
        let (result, opts) = result;
        let t = &result.totals;
        println!(
            "{}: {} PASS, {} FAIL, {} NON-STRICT, {} INFORMATIONAL, {} UNIMPLEMENTED, {} SKIPPED, {} ERROR in {:.1} s",
            run.label,
            t.pass,
            t.fail,
            t.non_strict,
            t.informational,
            t.unimplemented,
            t.skipped,
            t.error,
            result.duration_ms as f64 / 1000.0
        );
        for o in &result.outcomes {
            let bad = match o.verdict {
                // A MAY: e.g. `s<n>` client-result ids, which random ids do not follow.
                Verdict::Pass | Verdict::Skipped | Verdict::Informational => false,
                Verdict::Unimplemented => {
                    let e = &by_name[&o.name];
                    let plain_gated = matches!(
                        runner::gate(e, &plain, &opts),
                        Some((Verdict::Unimplemented, _))
                    );
                    let twin = DETAILED_TWINS.contains(&o.case_id.as_str())
                        && o.reason
                            .as_deref()
                            .is_some_and(|r| r.contains("detailed errors"));
                    let general_form_runs = SEQUENTIAL_ONLY.contains(&o.case_id.as_str())
                        && o.reason
                            .as_deref()
                            .is_some_and(|r| r.contains("invocations of a connection in parallel"));
                    !plain_gated && !twin && !general_form_runs
                }
                _ => true,
            };
            if bad {
                problems.push(format!(
                    "[{}] {} {}: {}\n{}",
                    run.label,
                    o.verdict.label(),
                    o.name,
                    o.reason.clone().unwrap_or_default(),
                    failure_details(o, 12)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} execution(s) not passing:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
