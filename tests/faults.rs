//! Every mock-hub fault mode is caught by at least one embedded case: the suite can fail.
//! (The `backplane-*` faults need two nodes on Redis: tests/scaleout.rs.)
//!
//! Each fault gets its own mock-hub; the whole default run goes against it and at least one
//! execution must come out FAIL, NON-STRICT or INFORMATIONAL (ERROR does not count: that is
//! the harness failing, not a case catching the fault).

use std::collections::BTreeMap;
use std::sync::Arc;

use signalr_conform::result::{Outcome, Verdict};
use signalr_conform::{cases, embedded, runner};
use signalr_mock::Fault;

/// The case caught the fault: a broken requirement, not a harness ERROR.
fn caught(o: &Outcome) -> bool {
    matches!(
        o.verdict,
        Verdict::Fail | Verdict::NonStrict | Verdict::Informational
    )
}

async fn catching_cases(fault: Fault, executions: Vec<cases::Execution>) -> Vec<String> {
    let mut config = embedded::mock_config();
    config.faults = vec![fault];
    let hub = embedded::start(config).await.expect("mock-hub starts");
    let mut opts = hub.opts.clone();
    opts.jobs = 16;
    // One catching execution is the proof; stop starting new ones after it.
    opts.stop_when = Some(Arc::new(caught));
    let opts = Arc::new(opts);
    let info = Arc::new(runner::probe(&opts).await.expect("mock-hub answers"));
    let r = runner::run(executions, info, opts, None).await;
    hub.shutdown().await;
    r.outcomes
        .into_iter()
        .filter(caught)
        .map(|o| o.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_mode_is_caught_by_a_case() {
    let all = cases::embedded().expect("the embedded cases load");
    let executions = cases::expand(&all);
    let mut caught: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    // A few faults at a time: each run is mostly waiting on sockets and timers.
    use futures_util::stream::{self, StreamExt};
    // Backplane faults change nothing on one node: tests/scaleout.rs catches them with two.
    let faults = Fault::ALL.iter().copied().filter(|f| !f.needs_backplane());
    let results: Vec<(Fault, Vec<String>)> = stream::iter(faults)
        .map(|f| {
            let e = executions.clone();
            async move { (f, catching_cases(f, e).await) }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (f, names) in results {
        caught.insert(f.name(), names);
    }
    let mut missed = Vec::new();
    for (fault, names) in &caught {
        if names.is_empty() {
            missed.push(*fault);
        } else {
            let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
            println!(
                "{fault:<30} caught by {} execution(s), e.g. {}",
                names.len(),
                shown.join(", ")
            );
        }
    }
    assert!(missed.is_empty(), "fault modes no case catches: {missed:?}");
}
