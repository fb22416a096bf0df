//! `mock-hub`: run the reference SignalR hub server.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use signalr_mock::{Fault, MockConfig, MockServer, Variation};

/// A fully featured ASP.NET Core SignalR hub server for tests.
///
/// Serves the conformance hub at /conformance and the hubs of Microsoft's TypeScript client
/// functional tests (/testhub, /testhub-nowebsockets, /authorizedhub, /uncreatable, /echo …).
#[derive(Parser, Debug)]
#[command(name = "mock-hub", version)]
struct Args {
    /// Port to listen on (0 = any free port) [default: 5000]
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind [default: 127.0.0.1]
    #[arg(long)]
    bind: Option<std::net::IpAddr>,
    /// TOML config file (see mock-server/mock-hub.example.toml); flags override it
    #[arg(long)]
    config: Option<PathBuf>,
    /// Enable a fault mode (repeatable); `--fault list` prints them all
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<String>,
    /// Enable a legal variation of behaviour (repeatable); see --list-variations
    #[arg(long = "variation", value_name = "NAME")]
    variations: Vec<String>,
    /// Print the legal variations and exit
    #[arg(long)]
    list_variations: bool,
    /// EnableDetailedErrors for the conformance hub
    #[arg(long)]
    detailed_errors: bool,
    /// AllowStatefulReconnects on the hubs (WebSockets with a version 2 handshake)
    #[arg(long)]
    stateful_reconnect: bool,
    /// Short timers for tests: 1 s keep-alive, 3 s client timeout, 2 s handshake timeout
    #[arg(long)]
    fast_timers: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr, coloured only on a terminal (and never with NO_COLOR set).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if args.faults.iter().any(|f| f == "list") {
        let width = Fault::ALL.iter().map(|f| f.name().len()).max().unwrap_or(0);
        // `mock-hub --fault list | head` closes stdout early: ignore it, never panic.
        let mut out = std::io::stdout().lock();
        for f in Fault::ALL {
            let _ = writeln!(out, "{:<width$}  {}", f.name(), f.description());
        }
        return ExitCode::SUCCESS;
    }
    if args.list_variations {
        let mut out = std::io::stdout().lock();
        for v in Variation::ALL {
            let _ = writeln!(out, "{:<28} {}", v.name(), v.description());
        }
        return ExitCode::SUCCESS;
    }
    let mut config = match &args.config {
        Some(path) => match MockConfig::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("mock-hub: {e}");
                return ExitCode::from(2);
            }
        },
        None => MockConfig::default(),
    };
    if let Some(p) = args.port {
        config.port = p;
    }
    if let Some(b) = args.bind {
        config.bind = b;
    }
    if args.detailed_errors {
        config.enable_detailed_errors = true;
    }
    if args.stateful_reconnect {
        config.allow_stateful_reconnects = true;
    }
    if args.fast_timers {
        config = config.fast_timers();
    }
    for name in &args.faults {
        match name.parse::<Fault>() {
            Ok(f) => config.faults.push(f),
            Err(e) => {
                eprintln!("mock-hub: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for name in &args.variations {
        match name.parse::<Variation>() {
            Ok(v) if !config.variations.contains(&v) => config.variations.push(v),
            Ok(_) => {}
            Err(e) => {
                eprintln!("mock-hub: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let address = std::net::SocketAddr::new(config.bind, config.port);
    let server = match MockServer::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mock-hub: cannot listen on {address}: {e}");
            return ExitCode::from(1);
        }
    };
    // A closed stdout (`mock-hub | head -1`) must not panic the server: ignore write errors.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "mock-hub listening on {}", server.base_url());
    for path in server.endpoint_paths() {
        let _ = writeln!(out, "  {}", server.hub_url(&path));
    }
    let _ = out.flush();
    drop(out);
    let token = server.shutdown_token();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        token.cancel();
    });
    server.wait().await;
    ExitCode::SUCCESS
}
