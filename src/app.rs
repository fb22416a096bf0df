//! The `conform` command line: argument definitions, and wiring the arguments to the cases,
//! the target, the runner and the reports. Decisions live in those modules, not here.
//! `bin/conform.rs` only calls [`main`].

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use signalr_protocol::HubProtocol;

use crate::baseline::Baseline;
use crate::cases::{self, Selection};
use crate::client::Target;
use crate::report;
use crate::result::{Outcome, RunResult, Verdict};
use crate::runner::{self, RunOptions};

/// Exit code: every requirement held.
pub const EXIT_PASS: u8 = 0;
/// Exit code: a conformance failure (FAIL, ERROR, NON-STRICT with --strict, stale baseline).
pub const EXIT_FAIL: u8 = 1;
/// Exit code: bad arguments, case files or baseline.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the target could not be reached, or answered nothing (the circuit breaker
/// stopped the run).
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: interrupted (Ctrl-C); the reports asked for were written, marked partial.
pub const EXIT_INTERRUPTED: u8 = 130;

/// SignalR conformance runner.
///
/// Runs data-driven conformance cases against a SignalR hub (`--target URL`, the hub's URL,
/// which must host the conformance hub contract in fixtures/contract/CONTRACT.md) or, without
/// `--target`, against the embedded mock-hub. Exit codes: 0 pass, 1 conformance failure,
/// 2 usage or configuration error (also: the URL is not the conformance hub), 3 target
/// unreachable or silent, 130 interrupted (Ctrl-C; partial reports written).
#[derive(Parser, Debug)]
#[command(
    name = "conform",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A tool instead of a run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Run options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Decode captured hub protocol bytes: one JSON line per message.
    Decode(DecodeArgs),
    /// Encode JSON lines (the decode notation) into hub protocol bytes.
    Encode(EncodeArgs),
    /// Generate sequences against a live server, check properties, shrink a failure to a case.
    Fuzz(crate::fuzz::cli::FuzzArgs),
    /// Load-test a hub: connections, messages/s, latency, loss (exit 4: a regression against
    /// --baseline).
    Bench(crate::bench::cli::BenchArgs),
    /// Print a case's requirement, level and reference (its entry in docs/requirements.md).
    Explain(ExplainArgs),
}

/// `conform explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The case id (`close/abort-sends-close-without-reconnect`) or an execution name
    /// (`…[websockets,json]`).
    pub id: String,
    /// Load cases from this directory instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,
}

/// Protocol names on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// The JSON hub protocol.
    Json,
    /// The MessagePack hub protocol.
    Messagepack,
}

impl From<ProtocolArg> for HubProtocol {
    fn from(p: ProtocolArg) -> Self {
        match p {
            ProtocolArg::Json => HubProtocol::Json,
            ProtocolArg::Messagepack => HubProtocol::MessagePack,
        }
    }
}

/// `conform decode`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Hub protocol of the bytes.
    #[arg(long, value_enum)]
    pub protocol: ProtocolArg,
    /// The input is framed (0x1E separators / VarInt prefixes) and may hold several messages.
    #[arg(long)]
    pub framed: bool,
    /// The input starts with a handshake request or response.
    #[arg(long)]
    pub handshake: bool,
    /// With @file or -: the content is hex text rather than raw bytes.
    #[arg(long)]
    pub hex_input: bool,
    /// Hex bytes, @FILE (raw bytes) or - (raw bytes on stdin).
    pub input: String,
}

/// `conform encode`.
#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Hub protocol to write.
    #[arg(long, value_enum)]
    pub protocol: ProtocolArg,
    /// Write raw bytes to stdout instead of hex.
    #[arg(long)]
    pub raw: bool,
    /// One message without its separator or length prefix.
    #[arg(long)]
    pub unframed: bool,
    /// JSON lines (one message each), @FILE, or - for stdin (the default).
    #[arg(default_value = "-")]
    pub input: String,
}

/// Options of a conformance run.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The hub URL to test (e.g. http://localhost:5000/conformance). Without it the embedded
    /// mock-hub is started and tested.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Another node of the same scaled-out hub as --target (repeatable): cases that need
    /// several nodes (`requires = ["peers"]`, the `scaleout` tag) run their clients on these;
    /// without it they are UNIMPLEMENTED.
    #[arg(long = "peer", value_name = "URL")]
    pub peer: Vec<String>,
    /// Load cases from this directory instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,
    /// Run only executions matching this glob (repeatable; `*` within a segment, `**` across,
    /// `{a,b}` alternatives, `[` `]` literal, `\` escapes).
    #[arg(long = "case", value_name = "GLOB")]
    pub case: Vec<String>,
    /// Skip executions matching this glob (repeatable).
    #[arg(long = "skip", value_name = "GLOB")]
    pub skip: Vec<String>,
    /// Run only cases with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tag: Vec<String>,
    /// List the executions that would run, then exit.
    #[arg(long)]
    pub list: bool,
    /// Parallel executions (at least 1).
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Default timeout of an expectation, in milliseconds (at least 1).
    #[arg(long, default_value_t = 5000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Multiply every timeout and wait (e.g. 3 on a slow CI machine).
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    pub time_scale: f64,
    /// Extra request header `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// Bearer token for every request.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// HTTPS: accept any certificate (development servers only).
    #[arg(long)]
    pub insecure: bool,
    /// HTTPS: also trust the CA certificate(s) in this PEM file (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Run against a hub without `Describe()` (or whose negotiate conform cannot read):
    /// `all`, or the features it has, comma-separated (fixtures/contract/CONTRACT.md).
    /// Without it conform stops before the run when the URL is not the conformance hub.
    #[arg(long, value_name = "all|FEATURE,…")]
    pub assume_features: Option<String>,
    /// Colours in the terminal output: auto (a terminal and no NO_COLOR), always, never.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorArg,
    /// NON-STRICT (a broken SHOULD) fails the run.
    #[arg(long)]
    pub strict: bool,
    /// Stop starting executions after the first one that fails the run (the rest: SKIPPED).
    #[arg(long)]
    pub fail_fast: bool,
    /// `slow` also runs cases that wait out real intervals (15 s keep-alive, 30 s timeouts).
    #[arg(long, value_enum, default_value = "default")]
    pub tier: TierArg,
    /// Write the JSON report (schema: docs/report-schema.md).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary (for $GITHUB_STEP_SUMMARY).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Known failures that must keep failing (one execution name or glob per line).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the failing executions of this run as a baseline.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Keep transcripts of passing executions too (JSON/HTML reports).
    #[arg(long)]
    pub trace: bool,
    /// Print full transcripts of failures.
    #[arg(long, short)]
    pub verbose: bool,
    /// No progress bar and no per-case lines: only failures and the tally.
    #[arg(long, short)]
    pub quiet: bool,
    /// Embedded mock-hub only: enable a fault mode (repeatable; `--mock-fault list` lists them).
    #[arg(long = "mock-fault", value_name = "NAME")]
    pub mock_fault: Vec<String>,
    /// Embedded mock-hub only: enable detailed errors (`EnableDetailedErrors`), so the cases
    /// that require them run and those that require their absence are UNIMPLEMENTED.
    #[arg(long = "mock-detailed-errors")]
    pub mock_detailed_errors: bool,
}

/// `--color`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorArg {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorArg {
    fn enabled(self) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Tiers.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TierArg {
    /// Cases that finish quickly.
    Default,
    /// Also cases that wait out real intervals.
    Slow,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Decode(a)) => decode_cmd(a),
        Some(Command::Encode(a)) => encode_cmd(a),
        Some(Command::Explain(a)) => explain_cmd(a),
        Some(Command::Fuzz(a)) => ExitCode::from(match crate::fuzz::cli::main(a) {
            crate::fuzz::cli::Exit::Pass => EXIT_PASS,
            crate::fuzz::cli::Exit::Fail => EXIT_FAIL,
            crate::fuzz::cli::Exit::Usage => EXIT_USAGE,
            crate::fuzz::cli::Exit::Unreachable => EXIT_UNREACHABLE,
        }),
        Some(Command::Bench(a)) => ExitCode::from(match crate::bench::cli::main(a) {
            crate::bench::cli::Exit::Pass => EXIT_PASS,
            crate::bench::cli::Exit::Fail => EXIT_FAIL,
            crate::bench::cli::Exit::Usage => EXIT_USAGE,
            crate::bench::cli::Exit::Unreachable => EXIT_UNREACHABLE,
            crate::bench::cli::Exit::Regression => crate::bench::cli::EXIT_REGRESSION,
        }),
        None => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("conform: cannot start the runtime: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            ExitCode::from(rt.block_on(run_cmd(cli.run)))
        }
    }
}

fn explain_cmd(a: ExplainArgs) -> ExitCode {
    let loaded = match &a.cases {
        Some(dir) => cases::load_dir(dir),
        None => cases::embedded(),
    };
    let all = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("conform: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let id = a.id.split('[').next().unwrap_or_default();
    if let Some(case) = all.iter().find(|c| c.id == id) {
        // A closed pipe (`conform explain … | head`) is not an error: ignore it, never panic.
        let _ = std::io::stdout()
            .lock()
            .write_all(cases::catalogue::entry(case).as_bytes());
        return ExitCode::from(EXIT_PASS);
    }
    let near: Vec<&str> = all
        .iter()
        .filter(|c| c.id.contains(id))
        .map(|c| c.id.as_str())
        .take(10)
        .collect();
    if near.is_empty() {
        eprintln!("conform: no case '{id}' (see docs/requirements.md or `conform --list`)");
    } else {
        eprintln!("conform: no case '{id}'; did you mean: {}", near.join(", "));
    }
    ExitCode::from(EXIT_USAGE)
}

fn read_input(arg: &str) -> Result<Vec<u8>, String> {
    if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        Ok(buf)
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
    } else {
        Err(String::new())
    }
}

fn decode_cmd(a: DecodeArgs) -> ExitCode {
    let bytes = match read_input(&a.input) {
        Ok(b) if a.hex_input => match crate::hex::parse_hex(&String::from_utf8_lossy(&b)) {
            Ok(b) => b,
            Err(e) => return fail_line(&format!("invalid hex input: {e}")),
        },
        Ok(b) => b,
        Err(e) if !e.is_empty() => return fail_line(&e),
        Err(_) => match crate::hex::parse_hex(&a.input) {
            Ok(b) => b,
            Err(e) => {
                return fail_line(&format!(
                    "invalid hex input: {e} (use @FILE or - for raw bytes)"
                ))
            }
        },
    };
    let opts = crate::inspect::DecodeOptions {
        protocol: a.protocol.into(),
        framed: a.framed,
        handshake: a.handshake,
    };
    match crate::inspect::decode(&bytes, opts) {
        Ok(lines) => {
            let mut out = std::io::stdout().lock();
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail_line(&e),
    }
}

fn encode_cmd(a: EncodeArgs) -> ExitCode {
    let text = match read_input(&a.input) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if !e.is_empty() => return fail_line(&e),
        Err(_) => a.input.clone(),
    };
    match crate::inspect::encode(&text, a.protocol.into(), !a.unframed) {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            if a.raw {
                let _ = out.write_all(&bytes);
            } else {
                let _ = writeln!(out, "{}", crate::hex::to_hex(&bytes));
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail_line(&e),
    }
}

fn fail_line(e: &str) -> ExitCode {
    eprintln!("conform: {e}");
    ExitCode::from(EXIT_FAIL)
}

fn usage(e: impl std::fmt::Display) -> u8 {
    eprintln!("conform: {e}");
    EXIT_USAGE
}

impl RunArgs {
    /// The executions `--case`, `--skip` and `--tag` select.
    pub fn selection(&self) -> Selection {
        Selection {
            cases: self.case.clone(),
            skip: self.skip.clone(),
            tags: self.tag.clone(),
        }
    }
}

/// Runs the suite; returns the exit code.
pub async fn run_cmd(a: RunArgs) -> u8 {
    if a.mock_fault.iter().any(|f| f == "list") {
        let faults = signalr_mock::Fault::ALL;
        let width = faults.iter().map(|f| f.name().len()).max().unwrap_or(0);
        let mut out = std::io::stdout().lock();
        for f in faults {
            let _ = writeln!(out, "{:<width$}  {}", f.name(), f.description());
        }
        return EXIT_PASS;
    }
    let cases = match &a.cases {
        Some(dir) => cases::load_dir(dir),
        None => cases::embedded(),
    };
    let cases = match cases {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let executions = match cases::select(cases::expand(&cases), &a.selection()) {
        Ok(e) => e,
        Err(e) => return usage(e),
    };
    if executions.is_empty() {
        return usage("no case matches the filters");
    }
    if a.list {
        let mut out = std::io::stdout().lock();
        for e in &executions {
            let _ = writeln!(out, "{}  [{}] {}", e.name, e.case.level, e.case.title);
        }
        return EXIT_PASS;
    }
    if !(a.time_scale > 0.0 && a.time_scale.is_finite()) {
        return usage("--time-scale must be a positive number");
    }
    let baseline = match &a.baseline {
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| Baseline::parse(&t))
        {
            Ok(b) => Some(b),
            Err(e) => return usage(format!("baseline {}: {e}", p.display())),
        },
        None => None,
    };
    if a.target.is_some() && !a.mock_fault.is_empty() {
        return usage("--mock-fault only applies to the embedded mock-hub (no --target)");
    }
    if a.target.is_some() && a.mock_detailed_errors {
        return usage("--mock-detailed-errors only applies to the embedded mock-hub (no --target)");
    }
    if a.target.is_none() && !a.peer.is_empty() {
        return usage("--peer needs --target (the nodes of one scaled-out hub)");
    }
    let tls = match crate::client::Tls::from_args(a.insecure, &a.ca_cert) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let mut peers = Vec::new();
    for url in &a.peer {
        match Target::parse(url, &a.header, a.token.clone()) {
            Ok(mut t) => {
                t.tls = tls.clone();
                peers.push(t);
            }
            Err(e) => return usage(e.replace("--target", "--peer")),
        }
    }
    let (mut opts, embedded) = match &a.target {
        Some(url) => match Target::parse(url, &a.header, a.token.clone()) {
            Ok(mut t) => {
                t.tls = tls;
                (RunOptions::new(t), None)
            }
            Err(e) => return usage(e),
        },
        None => {
            let mut config = crate::embedded::mock_config();
            config.enable_detailed_errors = a.mock_detailed_errors;
            for f in &a.mock_fault {
                match f.parse() {
                    Ok(f) => config.faults.push(f),
                    Err(e) => return usage(e),
                }
            }
            match crate::embedded::start(config).await {
                Ok(e) => {
                    let mut opts = e.opts.clone();
                    // `--header` and `--token` apply to the embedded target too.
                    match Target::parse(opts.target.hub_url.as_str(), &a.header, a.token.clone()) {
                        Ok(t) => opts.target = t,
                        Err(e) => return usage(e),
                    }
                    (opts, Some(e))
                }
                Err(e) => return usage(e),
            }
        }
    };
    if let Some(p) = peers.iter().find(|p| p.hub_url == opts.target.hub_url) {
        let url = crate::client::transcript::redact_url(p.hub_url.as_str());
        return usage(format!(
            "--peer {url} is the --target itself: a peer is another node of the same hub"
        ));
    }
    opts.peers = peers;
    opts.jobs = usize::from(a.jobs.max(1));
    opts.time_scale = a.time_scale;
    opts.step_timeout = Duration::from_millis(a.timeout.max(1));
    opts.strict = a.strict;
    opts.slow = a.tier == TierArg::Slow;
    opts.trace_all = a.trace;
    if a.fail_fast {
        opts.stop_on_failure();
    }
    let color = a.color.enabled();
    report::terminal::set_color(color);
    let opts = Arc::new(opts);
    let info = match runner::probe(&opts).await {
        Ok(i) => i,
        Err(e) => {
            if let Some(s) = embedded {
                s.shutdown().await;
            }
            eprintln!("conform: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    let info = match preflight(info, &a, &opts) {
        Ok(i) => Arc::new(i),
        Err(e) => {
            if let Some(s) = embedded {
                s.shutdown().await;
            }
            return usage(e);
        }
    };
    // Ctrl-C: stop starting executions, end those in flight, write what finished. The
    // handler is registered before the header is printed, so an interrupt after it is caught.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = opts.stop.clone();
        let interrupted = interrupted.clone();
        let signal = interrupt_signal();
        tokio::spawn(async move {
            if signal.await {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                stop.stop(
                    runner::StopKind::Interrupted,
                    "interrupted (Ctrl-C): the report is partial",
                );
            }
        });
    }
    // The header, at once: what is tested, and how much.
    if !a.quiet {
        eprint!("{}", run_header(&opts, &info, &executions));
    }
    let terminal = std::io::stderr().is_terminal();
    let progress = (!a.quiet && terminal).then(|| {
        let pb = indicatif::ProgressBar::new(executions.len() as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed}] {bar:40} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });
    let on_done: Option<runner::OnDone> = match progress.clone() {
        Some(pb) => Some(Arc::new(move |o: &Outcome| {
            pb.inc(1);
            if o.verdict == Verdict::Fail {
                pb.set_message(format!("last failure: {}", o.name));
            }
        }) as runner::OnDone),
        // Not a terminal (CI logs): a line every few seconds, never minutes of silence.
        None if !a.quiet => Some(log_progress(executions.len())),
        None => None,
    };
    let mut result = runner::run(executions, info, opts.clone(), on_done).await;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    if let Some(b) = &baseline {
        for unmatched in b.apply(&mut result) {
            eprintln!("conform: baseline entry '{unmatched}' matches no execution of this run");
        }
    }
    if let Some(s) = embedded {
        s.shutdown().await;
    }
    if let Err(e) = write_reports(&a, &result) {
        return usage(e);
    }
    let text = if a.quiet {
        report::terminal::quiet(&result, a.verbose)
    } else {
        report::terminal(&result, a.verbose)
    };
    // `conform … | head` closes stdout early: like ripgrep, stop writing quietly instead of
    // panicking (print! would); the exit code still reports the run.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "conform: interrupted: the results and reports cover the executions that finished"
        );
        EXIT_INTERRUPTED
    } else if let Some(why) = result
        .stopped
        .as_deref()
        .filter(|_| opts.stop.kind() == Some(runner::StopKind::Breaker))
    {
        eprintln!("conform: {}: {why}", result.target.url);
        EXIT_UNREACHABLE
    } else if result.failed() {
        EXIT_FAIL
    } else {
        EXIT_PASS
    }
}

/// Resolves `true` on Ctrl-C; the handler is installed when this is called, not when the
/// future is first polled.
fn interrupt_signal() -> impl std::future::Future<Output = bool> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let sig = signal(SignalKind::interrupt()).ok();
        async move {
            match sig {
                Some(mut s) => s.recv().await.is_some(),
                None => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async { tokio::signal::ctrl_c().await.is_ok() }
    }
}

/// Stops before the run (exit 2) when the URL is not the conformance hub, unless
/// `--assume-features` says to go on; applies `--assume-features`.
fn preflight(
    mut info: runner::TargetInfo,
    a: &RunArgs,
    opts: &RunOptions,
) -> Result<runner::TargetInfo, String> {
    if let Some(problem) = &info.peer_problem {
        return Err(problem.clone());
    }
    let url = crate::client::transcript::redact_url(opts.target.hub_url.as_str());
    match (&info.preflight, &a.assume_features) {
        (Some(problem), None) => {
            let example = {
                let mut u = opts.target.hub_url.clone();
                u.set_path("/conformance");
                u.set_query(None);
                u.to_string()
            };
            Err(format!(
                "no conformance hub at {url}: {problem} — conform needs the conformance hub's URL \
                 (see fixtures/contract/CONTRACT.md), e.g. {example}; a hub that needs \
                 authentication needs --token or --header; to run against a hub without \
                 Describe() anyway, name its features with --assume-features (or \
                 --assume-features all)"
            ))
        }
        (Some(problem), Some(features)) => {
            info.notes.push(format!(
                "preflight: {problem}; running anyway (--assume-features {features})"
            ));
            if features != "all" {
                info.features = Some(
                    features
                        .split(',')
                        .map(str::trim)
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            Ok(info)
        }
        (None, _) => Ok(info),
    }
}

/// What is tested, and how much: printed before the first execution starts.
fn run_header(
    opts: &RunOptions,
    info: &runner::TargetInfo,
    executions: &[crate::cases::Execution],
) -> String {
    let url = crate::client::transcript::redact_url(opts.target.hub_url.as_str());
    let server = info
        .describe
        .as_ref()
        .and_then(|d| {
            let name = d
                .get("server", false)
                .and_then(|v| v.as_str().map(str::to_owned));
            let version = d
                .get("version", false)
                .and_then(|v| v.as_str().map(str::to_owned));
            match (name, version) {
                (Some(n), Some(v)) => Some(format!("{n} {v}")),
                (Some(n), None) => Some(n),
                _ => None,
            }
        })
        .unwrap_or_else(|| "(no Describe())".to_owned());
    let mut ids: Vec<&str> = executions.iter().map(|e| e.case.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let transports: Vec<&str> = info.transports.iter().map(|(t, _)| t.name()).collect();
    let peers: Vec<String> = opts
        .peers
        .iter()
        .map(|p| crate::client::transcript::redact_url(p.hub_url.as_str()))
        .collect();
    let url = if peers.is_empty() {
        url
    } else {
        format!("{url} + --peer {}", peers.join(", "))
    };
    format!(
        "conform {} → {url}{}\n  server: {server}\n  transports: {}\n  {} cases, {} combinations, {} parallel\n",
        env!("CARGO_PKG_VERSION"),
        if opts.embedded { " (embedded mock-hub)" } else { "" },
        transports.join(", "),
        ids.len(),
        executions.len(),
        opts.jobs,
    )
}

/// Progress for logs (not a terminal): a line when an area is done or every 5 s.
fn log_progress(total: usize) -> runner::OnDone {
    struct State {
        done: usize,
        failed: usize,
        last: std::time::Instant,
        started: std::time::Instant,
    }
    let state = std::sync::Mutex::new(State {
        done: 0,
        failed: 0,
        last: std::time::Instant::now(),
        started: std::time::Instant::now(),
    });
    Arc::new(move |o: &Outcome| {
        let Ok(mut s) = state.lock() else { return };
        s.done += 1;
        if o.verdict.fails_run(false) {
            s.failed += 1;
        }
        if s.last.elapsed() >= Duration::from_secs(5) || s.done == total {
            s.last = std::time::Instant::now();
            eprintln!(
                "[{:>4.0} s] {}/{total} done, {} failing",
                s.started.elapsed().as_secs_f64(),
                s.done,
                s.failed
            );
        }
    })
}

fn write_reports(a: &RunArgs, r: &RunResult) -> Result<(), String> {
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let Some(p) = &a.json {
        write(p, report::json(r))?;
    }
    if let Some(p) = &a.junit {
        write(p, report::junit(r))?;
    }
    if let Some(p) = &a.html {
        write(p, report::html(r))?;
    }
    if let Some(p) = &a.markdown {
        write(p, report::markdown(r))?;
    }
    if let Some(p) = &a.write_baseline {
        write(p, Baseline::from_failures(r))?;
    }
    Ok(())
}
