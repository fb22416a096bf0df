//! The HTML report in a real headless browser (Debian's chromium, installed by `.ci/run`):
//! the page renders, the summary and the causes are there, and "hide passing" (on when
//! something failed) hides the passing rows once the page's script ran. Without chromium on
//! the machine the test says so and fails, unless CONFORM_SKIP_BROWSER=1.

use std::process::Command;
use std::sync::Arc;

use signalr_conform::{cases, embedded, report, runner};
use signalr_mock::Fault;

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

#[tokio::test]
async fn the_html_report_renders_and_filters_in_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var_os("CONFORM_SKIP_BROWSER").is_some() {
            return;
        }
        panic!("chromium is not installed (apt-get install chromium; .ci/run does it), or set CONFORM_SKIP_BROWSER=1");
    };
    let mut config = embedded::mock_config();
    config.faults = vec![Fault::AnswerNonBlocking];
    let hub = embedded::start(config).await.expect("mock-hub starts");
    let text = include_str!("data/report-cases.toml");
    let all = cases::parse_file("tests/data/report-cases.toml", text).expect("cases parse");
    let opts = Arc::new(hub.opts.clone());
    let info = Arc::new(runner::probe(&opts).await.expect("probe"));
    let r = runner::run(cases::expand(&all), info, opts, None).await;
    hub.shutdown().await;
    assert!(r.failed());

    let dir = std::env::temp_dir().join(format!("conform-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let page = dir.join("report.html");
    std::fs::write(&page, report::html(&r)).expect("write report");
    let profile = dir.join("profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("SignalR conformance: FAILED"),
        "the page did not render: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains("id=\"causes\""), "no causes table");
    // The script ran: the failing case's row is shown, the passing ones are hidden.
    let row = |name: &str| {
        dom.split("<tr class=\"case\"")
            .skip(1)
            .find(|r| r.contains(name))
            .unwrap_or_else(|| panic!("no row for {name}"))
            .split('>')
            .next()
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        !row("sample/non-blocking").contains("display: none"),
        "the failing row is hidden"
    );
    assert!(
        row("sample/echo").contains("display: none"),
        "the passing row is shown: {}",
        row("sample/echo")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
