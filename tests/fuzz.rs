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

/// A TCP forwarder to `upstream` that drops its `drop_nth` accepted connection unanswered: one
/// sequence fails once, for a reason that does not come back when it is re-run.
async fn dropping_proxy(upstream: std::net::SocketAddr, drop_nth: usize) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("address");
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut inbound, _)) = l.accept().await {
            n += 1;
            if n == drop_nth {
                drop(inbound);
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    addr
}

/// A fuzz search through a proxy that drops one connection, re-running failures `replays` times.
async fn search_through_dropping_proxy(replays: u32) -> fuzz::FuzzReport {
    let e = embedded::start(embedded::mock_config())
        .await
        .expect("mock-hub starts");
    let mut url = e.opts.target.hub_url.clone();
    let upstream = std::net::SocketAddr::new(
        "127.0.0.1".parse().expect("an address"),
        url.port().expect("a port"),
    );
    let proxy = dropping_proxy(upstream, 40).await;
    url.set_port(Some(proxy.port())).expect("a port");
    let mut opts = e.opts.clone();
    opts.target =
        signalr_conform::client::Target::parse(url.as_str(), &[], None).expect("the proxied URL");
    opts.step_timeout = std::time::Duration::from_secs(3);
    let t = FuzzTarget::probe(opts).await.expect("probe");
    let o = FuzzOptions {
        seed: 20_261_203,
        runs: 40,
        replays,
        max_shrink: 1,
        ..FuzzOptions::default()
    };
    let r = fuzz::fuzz(&t, None, &o, |_| {}).await;
    e.shutdown().await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_does_not_reproduce_is_reported_as_flaky() {
    let r = search_through_dropping_proxy(2).await;
    let text = signalr_conform::fuzz::cli::text(&r, false);
    assert!(r.finding.is_none(), "{text}");
    assert_eq!(r.flaky_count, 1, "{text}");
    assert_eq!(r.runs, 40, "the search goes on after a flaky failure");
    assert!(text.starts_with("FLAKY"), "{text}");
    // Without re-running, the same dropped connection is taken for a finding.
    let r = search_through_dropping_proxy(0).await;
    assert!(r.finding.is_some() && r.flaky_count == 0);
}
