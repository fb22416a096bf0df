//! Snapshots of the terminal, JSON, JUnit and Markdown reports of a small real run (a fault
//! mode makes one case fail), with the volatile parts (ports, ids, timings) normalised; and a
//! well-formedness check of the JUnit and HTML output.

use std::sync::Arc;

use signalr_conform::result::{Direction, RunResult};
use signalr_conform::{cases, embedded, report, runner};
use signalr_mock::Fault;

async fn small_run() -> RunResult {
    let mut config = embedded::mock_config();
    config.faults = vec![Fault::AnswerNonBlocking];
    let hub = embedded::start(config).await.expect("mock-hub starts");
    let text = include_str!("data/report-cases.toml");
    let cases = cases::parse_file("tests/data/report-cases.toml", text).expect("cases parse");
    let mut opts = hub.opts.clone();
    opts.jobs = 1;
    let opts = Arc::new(opts);
    let info = Arc::new(runner::probe(&opts).await.expect("probe"));
    let r = runner::run(cases::expand(&cases), info, opts, None).await;
    hub.shutdown().await;
    r
}

/// Replaces what changes from run to run.
fn normalise(mut r: RunResult) -> RunResult {
    let id = regex::Regex::new(r"[A-Za-z0-9_-]{22}").expect("regex");
    let port = regex::Regex::new(r"127\.0\.0\.1:[0-9]+").expect("regex");
    let fix = |s: &str| {
        id.replace_all(&port.replace_all(s, "127.0.0.1:PORT"), "<id>")
            .into_owned()
    };
    r.duration_ms = 1234;
    r.started_at = 0;
    r.target.url = fix(&r.target.url);
    r.target.describe = None;
    for o in &mut r.outcomes {
        o.duration_ms = 5;
        // How the server batches messages into frames varies with timing; the decoded
        // messages (layer `msg`) do not.
        o.transcript
            .retain(|e| !(e.dir == Direction::In && matches!(e.layer, "ws" | "sse" | "lp")));
        for e in &mut o.transcript {
            e.at_ms = 0;
            e.text = fix(&e.text);
        }
    }
    r
}

#[tokio::test]
async fn reports_of_a_small_run() {
    let r = normalise(small_run().await);
    assert!(r.failed(), "the fault must make the run fail");
    insta::assert_snapshot!("terminal", report::terminal(&r, false));
    insta::assert_snapshot!("json", report::json(&r));
    insta::assert_snapshot!("junit", report::junit(&r));
    insta::assert_snapshot!("markdown", report::markdown(&r));
}

#[tokio::test]
async fn junit_and_html_are_well_formed() {
    let r = small_run().await;
    for (what, doc) in [("junit", report::junit(&r)), ("html", report::html(&r))] {
        let mut reader = quick_xml::Reader::from_str(&doc);
        let mut names = 0;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e))
                    if e.name().as_ref() == b"testcase" =>
                {
                    assert!(
                        e.try_get_attribute("name").ok().flatten().is_some(),
                        "every testcase has a name"
                    );
                    names += 1;
                }
                Ok(_) => {}
                // HTML is not XML; only check it does not trip the parser on structure.
                Err(e) if what == "html" => {
                    let _ = e;
                    break;
                }
                Err(e) => panic!("{what} is not well-formed: {e}"),
            }
        }
        if what == "junit" {
            assert_eq!(names, r.outcomes.len());
        }
    }
    // junit-10.xsd (Jenkins xunit) allows no `skipped` on <testsuites>; a line break inside an
    // attribute value must be a character reference.
    let junit = report::junit(&r);
    let suites = junit
        .lines()
        .find(|l| l.starts_with("<testsuites"))
        .expect("testsuites");
    assert!(!suites.contains("skipped="), "{suites}");
    let raw_break = regex::Regex::new(r#"="[^"]*\n"#).expect("regex");
    assert!(!raw_break.is_match(&junit), "{junit}");
    let html = report::html(&r);
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("sample/non-blocking[websockets,json]"));
}
