//! `conform bench`: its arguments, the live progress, the report, `--json` and the baseline
//! check.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use signalr_protocol::{HubProtocol, TransportKind};

use super::{BenchError, BenchOptions, BenchReport, Progress, Scenario};
use crate::client::Target;

/// `conform bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The hub URL; without it the embedded mock-hub.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The scenario.
    #[arg(long, short, value_enum, default_value_t = Scenario::Echo)]
    pub scenario: Scenario,
    /// Connections to open.
    #[arg(long, short = 'n', default_value_t = 1000, value_name = "N")]
    pub connections: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 2048, value_name = "BYTES")]
    pub size: usize,
    /// Messages per second per sending connection.
    #[arg(long, default_value_t = 1.0, value_name = "PER_SECOND")]
    pub rate: f64,
    /// Sending connections in `broadcast` and `large-group`.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub senders: usize,
    /// Members per group in `group`.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub group_size: usize,
    /// Groups in `large-group` (the connections are split among them).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub groups: usize,
    /// How long the senders send (`30s`, `2m`); in `connections`, how long they are held.
    #[arg(long, short, default_value = "30s", value_parser = crate::fuzz::cli::parse_limit, value_name = "TIME")]
    pub duration: Duration,
    /// Transport of every connection.
    #[arg(long, value_enum, default_value_t = TransportArg::Websockets)]
    pub transport: TransportArg,
    /// Hub protocol of every connection.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Json)]
    pub protocol: ProtocolArg,
    /// Connections being set up at a time.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub connect_concurrency: usize,
    /// After the senders stop, how long copies in flight are awaited before they count as lost.
    #[arg(long, default_value = "5s", value_parser = crate::fuzz::cli::parse_limit, value_name = "TIME")]
    pub drain: Duration,
    /// The target's process id: report its CPU and resident memory (Linux /proc).
    #[arg(long, value_name = "PID")]
    pub target_pid: Option<u32>,
    /// Write the report as JSON to this file (`-` = stdout, instead of the text report).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// A previous `--json` report of the same scenario to compare with.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: the largest regression tolerated, in percent (throughput in, p99
    /// latency, the target's CPU per message); more exits with 4.
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub max_regression: f64,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--transport` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// WebSockets.
    Websockets,
    /// Server-Sent Events.
    Sse,
    /// Long Polling.
    Longpolling,
}

/// `--protocol` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// JSON.
    Json,
    /// MessagePack.
    Messagepack,
}

/// How `conform bench` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done: nothing lost, duplicated or failed, no regression.
    Pass,
    /// Messages lost or duplicated, or errors.
    Fail,
    /// Bad arguments, baseline or open-files limit.
    Usage,
    /// Not even one connection could be set up.
    Unreachable,
    /// Slower than the baseline by more than `--max-regression`.
    Regression,
}

/// Exit code of a regression against `--baseline`.
pub const EXIT_REGRESSION: u8 = 4;

macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

/// Entry point of `conform bench`.
pub fn main(a: BenchArgs) -> Exit {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conform bench: cannot start the runtime: {e}");
            return Exit::Usage;
        }
    };
    rt.block_on(run(a))
}

async fn run(a: BenchArgs) -> Exit {
    let baseline = match &a.baseline {
        Some(path) => match read_baseline(path, a.scenario) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("conform bench: {e}");
                return Exit::Usage;
            }
        },
        None => None,
    };
    if !(a.max_regression.is_finite() && a.max_regression >= 0.0) {
        eprintln!("conform bench: --max-regression must be a percentage ≥ 0");
        return Exit::Usage;
    }
    let opts = BenchOptions {
        scenario: a.scenario,
        connections: a.connections,
        size: a.size,
        rate: a.rate,
        senders: a.senders,
        group_size: a.group_size,
        groups: a.groups,
        duration: a.duration,
        transport: match a.transport {
            TransportArg::Websockets => TransportKind::WebSockets,
            TransportArg::Sse => TransportKind::ServerSentEvents,
            TransportArg::Longpolling => TransportKind::LongPolling,
        },
        protocol: match a.protocol {
            ProtocolArg::Json => HubProtocol::Json,
            ProtocolArg::Messagepack => HubProtocol::MessagePack,
        },
        connect_concurrency: a.connect_concurrency,
        drain: a.drain,
        target_pid: a.target_pid,
        ..BenchOptions::default()
    };
    // The embedded mock-hub keeps ASP.NET Core's default timers (a bench is not a timing case).
    let (target, label, embedded) = match &a.target {
        Some(url) => match Target::parse(url, &[], None) {
            Ok(t) => (t, url.clone(), None),
            Err(e) => {
                eprintln!("conform bench: {e}");
                return Exit::Usage;
            }
        },
        None => {
            let config = signalr_mock::MockConfig {
                port: 0,
                ..signalr_mock::MockConfig::default()
            };
            match crate::embedded::start(config).await {
                Ok(e) => (
                    e.opts.target.clone(),
                    "embedded mock-hub".to_owned(),
                    Some(e),
                ),
                Err(e) => {
                    eprintln!("conform bench: {e}");
                    return Exit::Usage;
                }
            }
        }
    };
    let live = Live::new(a.quiet, a.connections as u64);
    let result = super::run(Arc::new(target), label, opts, embedded.is_some(), |p| {
        live.update(p)
    })
    .await;
    live.finish();
    if let Some(e) = embedded {
        e.shutdown().await;
    }
    let report = match result {
        Ok(r) => r,
        Err(BenchError::Usage(e)) => {
            eprintln!("conform bench: {e}");
            return Exit::Usage;
        }
        Err(BenchError::Unreachable(e)) => {
            eprintln!("conform bench: {e}");
            return Exit::Unreachable;
        }
    };
    if report.open_files[1] > report.open_files[0] {
        eprintln!(
            "conform bench: raised the open-files limit from {} to {}",
            report.open_files[0], report.open_files[1]
        );
    }
    let regressions = baseline
        .as_ref()
        .map(|b| regressions(b, &report, a.max_regression))
        .unwrap_or_default();
    let to_stdout = a.json.as_deref() == Some(std::path::Path::new("-"));
    if let Some(path) = &a.json {
        let mut v = match serde_json::to_value(&report) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("conform bench: cannot write the report: {e}");
                return Exit::Usage;
            }
        };
        v["passed"] = report.clean().into();
        v["regressions"] = regressions.clone().into();
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        if to_stdout {
            say!("{text}");
        } else if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("conform bench: cannot write {}: {e}", path.display());
            return Exit::Usage;
        }
    }
    if !to_stdout {
        print_report(&report, &regressions, baseline.is_some());
    }
    if !report.clean() {
        Exit::Fail
    } else if !regressions.is_empty() {
        Exit::Regression
    } else {
        Exit::Pass
    }
}

fn read_baseline(path: &std::path::Path, scenario: Scenario) -> Result<BenchReport, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the baseline {}: {e}", path.display()))?;
    let b: BenchReport = serde_json::from_str(&text).map_err(|e| {
        format!(
            "the baseline {} is not a `conform bench --json` report: {e}",
            path.display()
        )
    })?;
    if b.scenario != scenario {
        return Err(format!(
            "the baseline {} is of scenario '{}', this run is '{}'",
            path.display(),
            b.scenario.name(),
            scenario.name()
        ));
    }
    Ok(b)
}

/// What got worse than the baseline by more than `pct` percent.
pub fn regressions(base: &BenchReport, now: &BenchReport, pct: f64) -> Vec<String> {
    let mut out = Vec::new();
    let f = pct / 100.0;
    let (b, n) = (base.messages_in_per_second, now.messages_in_per_second);
    if b > 0.0 && n < b * (1.0 - f) {
        out.push(format!(
            "messages in/s {n:.1} < baseline {b:.1} by {:.1} %",
            (b - n) / b * 100.0
        ));
    }
    let (b, n) = (base.latency_ms.p99, now.latency_ms.p99);
    if b > 0.0 && n > b * (1.0 + f) {
        out.push(format!(
            "p99 latency {n:.2} ms > baseline {b:.2} ms by {:.1} %",
            (n - b) / b * 100.0
        ));
    }
    if let (Some(b), Some(n)) = (&base.target_process, &now.target_process) {
        let (b, n) = (b.cpu_micros_per_message, n.cpu_micros_per_message);
        if b > 0.0 && n > b * (1.0 + f) {
            out.push(format!(
                "target CPU {n:.1} µs/message > baseline {b:.1} by {:.1} %",
                (n - b) / b * 100.0
            ));
        }
    }
    out
}

fn print_report(r: &BenchReport, regressions: &[String], had_baseline: bool) {
    say!(
        "conform bench: {} against {}, {}/{}",
        r.scenario.name(),
        r.target,
        r.transport,
        r.protocol
    );
    say!(
        "  connections     {} of {} set up in {:.1} s",
        r.connected,
        r.connections,
        r.connect_seconds
    );
    if r.scenario != Scenario::Connections {
        say!(
            "  load            {} senders × {}/s, {} B payloads, {:.1} s",
            r.senders,
            r.rate,
            r.message_size,
            r.duration_seconds
        );
        say!(
            "  messages out    {:.1}/s ({} sent)",
            r.messages_out_per_second,
            r.messages_out
        );
        say!(
            "  messages in     {:.1}/s ({} received)",
            r.messages_in_per_second,
            r.messages_in
        );
        let l = &r.latency_ms;
        say!(
            "  latency ms      p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50,
            l.p90,
            l.p99,
            l.max
        );
    } else {
        say!("  held            {:.1} s", r.duration_seconds);
    }
    say!(
        "  lost {}  duplicated {}  errors {}",
        r.lost,
        r.duplicated,
        r.errors
    );
    for e in &r.error_samples {
        say!("    {e}");
    }
    let proc_line = |name: &str, p: &super::ProcFigures| {
        let per_message = if r.messages_out + r.messages_in > 0 {
            format!(" {:.1} µs CPU/message,", p.cpu_micros_per_message)
        } else {
            String::new()
        };
        say!(
            "  {name:<15} {:.1} % CPU,{per_message} peak RSS {:.1} MB",
            p.cpu_percent,
            p.peak_rss_bytes as f64 / 1_048_576.0
        );
    };
    if let Some(p) = &r.bench {
        proc_line("bench process", p);
    }
    if let Some(p) = &r.target_process {
        proc_line(&format!("target {}", p.pid), p);
    }
    for x in regressions {
        say!("  REGRESSION {x}");
    }
    let verdict = if !r.clean() {
        "FAIL"
    } else if !regressions.is_empty() {
        "REGRESSION"
    } else if had_baseline {
        "PASS (within the baseline)"
    } else {
        "PASS"
    };
    say!("{verdict}");
}

/// The live display: a progress bar on a terminal, a line every 5 seconds otherwise.
struct Live {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
    last_line: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Live {
    fn new(quiet: bool, connections: u64) -> Live {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(connections);
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b
        });
        Live {
            bar,
            quiet,
            last_line: std::sync::Mutex::new(None),
        }
    }

    fn text(p: &Progress) -> String {
        if p.running {
            format!(
                "{:.0} s: {} connected, {} sent, {} received, p99 {:.2} ms, {} errors",
                p.elapsed,
                p.connected,
                p.sent,
                p.received,
                p.p99_us as f64 / 1000.0,
                p.errors
            )
        } else {
            format!("connecting: {} of {}", p.connected, p.connections)
        }
    }

    fn update(&self, p: Progress) {
        if self.quiet {
            return;
        }
        if let Some(b) = &self.bar {
            b.set_message(Self::text(&p));
            b.tick();
            return;
        }
        let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            *last = Some(std::time::Instant::now());
            eprintln!("conform bench: {}", Self::text(&p));
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
