//! `conform fuzz`: its arguments and the command (targets, the search, the report).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{fuzz, FuzzOptions, FuzzReport, FuzzTarget};
use crate::client::Target;
use crate::embedded::Embedded;
use crate::runner::RunOptions;

/// Writes to stdout, ignoring a closed pipe (`conform fuzz | head` must not panic).
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}
macro_rules! say_raw {
    ($($t:tt)*) => {{
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `conform fuzz`.
#[derive(Args, Debug, Clone)]
pub struct FuzzArgs {
    /// The hub URL to fuzz; without it the embedded mock-hub.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Differential mode: run every sequence against this hub too and report where the
    /// verdicts differ (`mock` = an embedded mock-hub without faults).
    #[arg(long, value_name = "URL")]
    pub reference: Option<String>,
    /// Seed of the search (default: from the clock; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Most sequences to run.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub runs: u64,
    /// Stop after this long (`90`, `90s`, `5m`, `1h`), shrinking included.
    #[arg(long, value_name = "LIMIT", value_parser = parse_limit)]
    pub time: Option<Duration>,
    /// Longest generated sequence, in operations.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_len: usize,
    /// Timeout of one expectation, in milliseconds (a silent target fails after it).
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    pub timeout: u64,
    /// Sequences run at a time (a sequence that sends to every connection runs alone); the
    /// finding does not depend on it.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub jobs: usize,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the shrunk failing sequence into this directory as a case file.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Embedded mock-hub only: enable a fault mode (repeatable; `list` prints their names).
    #[arg(long = "mock-fault", value_name = "NAME")]
    pub mock_fault: Vec<String>,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

pub(crate) fn parse_limit(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 90s, 5m, 1h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "ms" => n / 1000.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (s, m, h, ms)")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("'{s}' must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// How `conform fuzz` ended (the command line maps it to its exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// No property broke (no difference from the reference).
    Pass,
    /// A property broke, or the targets differ.
    Fail,
    /// Bad arguments.
    Usage,
    /// The target could not be reached.
    Unreachable,
}

use Exit::{
    Fail as EXIT_FAIL, Pass as EXIT_PASS, Unreachable as EXIT_UNREACHABLE, Usage as EXIT_USAGE,
};

/// Entry point of `conform fuzz`.
pub fn main(a: FuzzArgs) -> Exit {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conform: cannot start the runtime: {e}");
            return EXIT_USAGE;
        }
    };
    rt.block_on(run(a))
}

enum Started {
    Remote(RunOptions),
    Embedded(Embedded),
}

async fn start(url: Option<&str>, faults: &[String]) -> Result<Started, String> {
    match url {
        Some(url) if url != "mock" => Target::parse(url, &[], None)
            .map(|t| Started::Remote(RunOptions::new(t)))
            .map_err(|e| e.to_string()),
        _ => {
            let mut config = crate::embedded::mock_config();
            for f in faults {
                config.faults.push(f.parse::<signalr_mock::Fault>()?);
            }
            crate::embedded::start(config)
                .await
                .map(Started::Embedded)
                .map_err(|e| e.to_string())
        }
    }
}

/// For an embedded mock-hub: a second one with the same faults (kept in `twins` for shutting
/// down), probed. `None` for a remote target, or when the twin does not start (the sequences
/// that must run alone then run alone on the target).
async fn twin(
    of: &Started,
    faults: &[String],
    timeout: Duration,
    twins: &mut Vec<Started>,
) -> Option<FuzzTarget> {
    let Started::Embedded(_) = of else {
        return None;
    };
    let s = start(None, faults).await.ok()?;
    let t = FuzzTarget::probe(s.opts(timeout)).await.ok();
    twins.push(s);
    t
}

impl Started {
    fn opts(&self, timeout: Duration) -> RunOptions {
        let mut o = match self {
            Started::Remote(o) => o.clone(),
            Started::Embedded(e) => e.opts.clone(),
        };
        o.step_timeout = timeout;
        // A sequence waits out at most a few server timers; a target that hangs costs this.
        o.case_timeout = Duration::from_secs(60);
        o.jobs = 1;
        o
    }

    async fn shutdown(self) {
        if let Started::Embedded(e) = self {
            e.shutdown().await;
        }
    }
}

async fn run(a: FuzzArgs) -> Exit {
    if a.mock_fault.iter().any(|f| f == "list") {
        for f in signalr_mock::Fault::ALL {
            say!("{}", f.name());
        }
        return EXIT_PASS;
    }
    if a.target.is_some() && !a.mock_fault.is_empty() {
        eprintln!("conform: --mock-fault only applies to the embedded mock-hub (no --target)");
        return EXIT_USAGE;
    }
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    let timeout = Duration::from_millis(a.timeout.max(1));
    let started = match start(a.target.as_deref(), &a.mock_fault).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("conform: {e}");
            return EXIT_USAGE;
        }
    };
    let target = match FuzzTarget::probe(started.opts(timeout)).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("conform: {e}");
            started.shutdown().await;
            return EXIT_UNREACHABLE;
        }
    };
    // The embedded mock-hub gets a twin for the sequences that must run alone.
    let mut twins = Vec::new();
    let target = match twin(&started, &a.mock_fault, timeout, &mut twins).await {
        Some(t) => target.with_alone(t),
        None => target,
    };
    let reference_started = match &a.reference {
        Some(r) => match start(Some(r), &[]).await {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("conform: --reference: {e}");
                started.shutdown().await;
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let reference = match &reference_started {
        Some(s) => match FuzzTarget::probe(s.opts(timeout)).await {
            Ok(t) => Some(match twin(s, &[], timeout, &mut twins).await {
                Some(tw) => t.with_alone(tw),
                None => t,
            }),
            Err(e) => {
                eprintln!("conform: --reference: {e}");
                return EXIT_UNREACHABLE;
            }
        },
        None => None,
    };
    let o = FuzzOptions {
        seed,
        runs: a.runs,
        time: a.time,
        max_len: a.max_len.max(1),
        jobs: a.jobs.max(1),
        ..FuzzOptions::default()
    };
    say!(
        "conform fuzz → {}{} (seed {seed}, up to {} sequences{})",
        crate::client::transcript::redact_url(target.opts.target.hub_url.as_str()),
        reference
            .as_ref()
            .map(|r| format!(
                " against reference {}",
                crate::client::transcript::redact_url(r.opts.target.hub_url.as_str())
            ))
            .unwrap_or_default(),
        o.runs,
        o.time
            .map(|t| format!(", at most {:.0} s", t.as_secs_f64()))
            .unwrap_or_default()
    );
    let show = !a.quiet && std::io::stderr().is_terminal();
    let report = fuzz(&target, reference.as_ref(), &o, |n| {
        if show && n % 50 == 0 {
            eprint!("\r{n} sequences");
        }
    })
    .await;
    if show {
        eprint!("\r");
    }
    started.shutdown().await;
    if let Some(r) = reference_started {
        r.shutdown().await;
    }
    for t in twins {
        t.shutdown().await;
    }
    say_raw!("{}", text(&report, reference.is_some()));
    if let Some(p) = &a.json {
        let json = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
        if let Err(e) = std::fs::write(p, json + "\n") {
            eprintln!("conform: cannot write {}: {e}", p.display());
            return EXIT_USAGE;
        }
    }
    if let (Some(dir), Some(f)) = (&a.out, &report.finding) {
        let name = f.case_id.replace('/', "-") + ".toml";
        let path = dir.join(name);
        if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &f.case)) {
            eprintln!("conform: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        say!("case written to {}", path.display());
    }
    if report.finding.is_some() || report.flaky_count > 0 {
        EXIT_FAIL
    } else {
        EXIT_PASS
    }
}

/// The terminal report.
pub fn text(r: &FuzzReport, differential: bool) -> String {
    let mut out = String::new();
    let rate = format!(
        "{} sequences ({} operations) in {:.1} s, {:.0} sequences/min",
        r.runs,
        r.operations,
        r.search_time.as_secs_f64(),
        r.per_minute()
    );
    match &r.finding {
        None if r.flaky_count > 0 => {
            out.push_str(&format!(
                "FLAKY  {rate}: {} failure(s) did not happen again on re-running the sequence (flaky, not reproduced; not shrunk)\n",
                r.flaky_count
            ));
        }
        None => {
            out.push_str(&format!(
                "PASS  {rate}: no property broken{}{}\n",
                if differential {
                    " and no difference from the reference"
                } else {
                    ""
                },
                if r.stopped_by_time {
                    " (stopped by --time)"
                } else {
                    ""
                }
            ));
        }
        Some(f) => {
            out.push_str(&format!(
                "FAIL  {} at run {} (seed {}): {} operations, shrunk to {} in {} steps\n",
                if differential {
                    "the targets differ"
                } else {
                    "a property broke"
                },
                f.run,
                r.seed,
                f.original_len,
                f.shrunk_len,
                f.shrink_steps
            ));
            out.push_str(&format!(
                "  target: {} {}\n",
                f.target.verdict.label(),
                f.target.detail
            ));
            if let Some(b) = &f.reference {
                out.push_str(&format!(
                    "  reference: {} {}\n",
                    b.verdict.label(),
                    b.detail
                ));
            }
            out.push_str(&format!("  {rate}\n\nThe minimal sequence as a case:\n\n"));
            out.push_str(&f.case);
        }
    }
    for f in &r.flaky {
        out.push_str(&format!(
            "\nFLAKY  run {} (seed {}): failed once, passed on re-running\n  target: {} {}\n",
            f.run,
            r.seed,
            f.target.verdict.label(),
            f.target.detail
        ));
        if let Some(b) = &f.reference {
            out.push_str(&format!(
                "  reference: {} {}\n",
                b.verdict.label(),
                b.detail
            ));
        }
        out.push_str("The sequence as a case:\n\n");
        out.push_str(&f.case);
    }
    if r.flaky_count > r.flaky.len() as u64 {
        out.push_str(&format!(
            "\n… and {} more flaky failures\n",
            r.flaky_count - r.flaky.len() as u64
        ));
    }
    out
}
