//! Capability gating of the reconnect area: against a hub without stateful reconnect every
//! case that needs it is UNIMPLEMENTED with the reason (never FAIL), and the ordinary-reconnect
//! cases still run and pass. (Against a hub that allows it, `tests/cases.rs` runs them all.)

use std::sync::Arc;

use signalr_conform::result::Verdict;
use signalr_conform::{cases, embedded, runner};

async fn run_reconnect_area(stateful: bool) -> Vec<signalr_conform::result::Outcome> {
    let all = cases::embedded().expect("the embedded cases load");
    let executions = cases::select(
        cases::expand(&all),
        &cases::Selection {
            tags: vec!["reconnect".into()],
            ..Default::default()
        },
    )
    .expect("selection");
    assert!(!executions.is_empty());
    let mut config = embedded::mock_config();
    config.allow_stateful_reconnects = stateful;
    let hub = embedded::start(config).await.expect("mock-hub starts");
    let mut opts = hub.opts.clone();
    opts.jobs = 8;
    let opts = Arc::new(opts);
    let info = Arc::new(runner::probe(&opts).await.expect("mock-hub answers"));
    let r = runner::run(executions, info, opts, None).await;
    hub.shutdown().await;
    r.outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_stateful_reconnect_the_area_is_unimplemented_not_failed() {
    let outcomes = run_reconnect_area(false).await;
    let mut gated = std::collections::BTreeSet::new();
    for o in &outcomes {
        let needs_it = cases::embedded()
            .expect("cases")
            .iter()
            .find(|c| c.id == o.case_id)
            .is_some_and(|c| c.requires.iter().any(|r| r == "stateful-reconnect"));
        if needs_it {
            assert_eq!(o.verdict, Verdict::Unimplemented, "{}", o.name);
            assert!(
                o.reason
                    .as_deref()
                    .is_some_and(|r| r.contains("does not allow stateful reconnect")),
                "{}: {:?}",
                o.name,
                o.reason
            );
            gated.insert(o.case_id.clone());
        } else {
            assert_eq!(o.verdict, Verdict::Pass, "{}: {:?}", o.name, o.reason);
        }
    }
    assert!(gated.len() >= 25, "only {} gated cases", gated.len());
}
