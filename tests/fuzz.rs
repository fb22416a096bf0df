//! `conform fuzz` against in-process mock-hubs: a short clean search with a fixed seed finds
//! nothing, a fault is found and shrunk, the shrunk case replays (FAIL on the faulty server, PASS
//! on a correct one), and a seed generates the same sequences every time.

use signalr_conform::embedded;
use signalr_conform::fuzz::{self, model, FuzzOptions, FuzzTarget};
use signalr_conform::result::Verdict;
use signalr_conform::runner;

async fn target(faults: &[&str]) -> (embedded::Embedded, FuzzTarget) {
    let mut config = embedded::mock_config();
    for f in faults {
        config.faults.push(f.parse().expect("a fault name"));
    }
    let e = embedded::start(config).await.expect("mock-hub starts");
    let mut opts = e.opts.clone();
    opts.step_timeout = std::time::Duration::from_secs(3);
    let t = FuzzTarget::probe(opts).await.expect("probe");
    (e, t)
}

async fn replay(case: &str, t: &FuzzTarget) -> Verdict {
    let cases = signalr_conform::cases::parse_file("found.toml", case).expect("the case loads");
    let execs = signalr_conform::cases::expand(&cases);
    assert_eq!(execs.len(), 1, "one transport and protocol per sequence");
    runner::run_execution(&execs[0], &t.info, &t.opts, runner::http_client(), 1)
        .await
        .verdict
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_mock_hub_breaks_no_property() {
    let (e, t) = target(&[]).await;
    let o = FuzzOptions {
        seed: 20_261_203,
        runs: 200,
        ..FuzzOptions::default()
    };
    let r = fuzz::fuzz(&t, None, &o, |_| {}).await;
    e.shutdown().await;
    assert!(
        r.finding.is_none(),
        "{}",
        signalr_conform::fuzz::cli::text(&r, false)
    );
    assert_eq!(r.runs, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_is_found_shrunk_and_replays() {
    let (faulty, ft) = target(&["others-includes-caller"]).await;
    let o = FuzzOptions {
        seed: 7,
        runs: 500,
        ..FuzzOptions::default()
    };
    let r = fuzz::fuzz(&ft, None, &o, |_| {}).await;
    let f = r.finding.clone().expect("the fault is found");
    assert_eq!(f.target.verdict, Verdict::Fail, "{}", f.target.detail);
    assert!(f.shrunk_len <= f.original_len);
    assert!(
        f.shrunk_len <= 3,
        "shrunk to {} operations:\n{}",
        f.shrunk_len,
        f.case
    );
    assert!(f.case.contains("SendToOthers"), "{}", f.case);
    // The written case replays: FAIL on the faulty server, PASS on a correct one.
    assert_eq!(replay(&f.case, &ft).await, Verdict::Fail);
    let (clean, ct) = target(&[]).await;
    assert_eq!(replay(&f.case, &ct).await, Verdict::Pass, "{}", f.case);
    // Differential mode reports the same sequence as a difference.
    let d = fuzz::fuzz(&ft, Some(&ct), &o, |_| {}).await;
    let df = d.finding.expect("the targets differ");
    assert_eq!(df.reference.map(|c| c.verdict), Some(Verdict::Pass));
    faulty.shutdown().await;
    clean.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_generates_the_same_sequences() {
    let (e, t) = target(&[]).await;
    let caps = t.caps();
    e.shutdown().await;
    let o = FuzzOptions {
        seed: 99,
        ..FuzzOptions::default()
    };
    let text = |i| {
        let s = fuzz::generate(&caps, &o, i).expect("a sequence");
        model::case_text(&s, fuzz::Facts { sequential: true }, "fuzz/x", "")
    };
    let first: Vec<String> = (0..30).map(text).collect();
    let again: Vec<String> = (0..30).map(text).collect();
    assert_eq!(first, again);
    let other = FuzzOptions {
        seed: 100,
        ..o.clone()
    };
    let different = (0..30)
        .filter(|&i| {
            let s = fuzz::generate(&caps, &other, i).expect("a sequence");
            model::case_text(&s, fuzz::Facts { sequential: true }, "fuzz/x", "")
                != first[i as usize]
        })
        .count();
    assert!(different > 20, "another seed, other sequences");
}
