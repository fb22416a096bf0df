//! `mock-hub`: run the reference SignalR hub server.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use signalr_mock::{Fault, MockConfig, MockServer, Variation};

/// A fully featured ASP.NET Core SignalR hub server for tests.
///
/// Serves the conformance hub at /conformance and the hubs of Microsoft's TypeScript client
/// functional tests (/testhub, /testhub-nowebsockets, /authorizedhub, /uncreatable, /echo …),
/// and the contract's authorized hub at /authhub.
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
    /// Symmetric key for issued tokens and for validating HS256/HS384/HS512 tokens
    #[arg(long, value_name = "KEY")]
    jwt_key: Option<String>,
    /// RSA public key (PEM file) for validating RS256 tokens
    #[arg(long, value_name = "FILE")]
    jwt_rsa_public_key: Option<PathBuf>,
    /// Validate the token issuer (`iss`) against this
    #[arg(long, value_name = "ISSUER")]
    jwt_issuer: Option<String>,
    /// Validate the token audience (`aud`) against this
    #[arg(long, value_name = "AUDIENCE")]
    jwt_audience: Option<String>,
    /// Clock skew allowed when validating token lifetimes, in seconds [default: 300]
    #[arg(long, value_name = "SECONDS")]
    jwt_clock_skew: Option<u64>,
    /// Claim whose value is the user id (Context.UserIdentifier) [default: the name identifier]
    #[arg(long, value_name = "CLAIM")]
    user_id_claim: Option<String>,
    /// CloseOnAuthenticationExpiration on /authhub: close a connection when its token expires
    #[arg(long)]
    close_on_auth_expiration: bool,
    /// Scale out: share the hubs with other nodes through this Redis server (redis://host:port),
    /// in ASP.NET Core's backplane format
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Prefix of every Redis channel name (ASP.NET Core's ChannelPrefix) [default: none]
    #[arg(long, value_name = "P")]
    redis_prefix: Option<String>,
    /// The conformance hub's name in Redis channels (ASP.NET Core uses the hub type's full name)
    /// [default: SignalRConform.Reference.ConformanceHub]
    #[arg(long, value_name = "NAME")]
    hub_name: Option<String>,
    /// Kestrel's RequestHeadersTimeout: a request's headers must be complete this long after
    /// its first byte [default: 30000]
    #[arg(long, value_name = "MS")]
    request_headers_timeout_ms: Option<u64>,
    /// Kestrel's KeepAliveTimeout: a connection with no request in progress is closed after
    /// this [default: 130000]
    #[arg(long, value_name = "MS")]
    keep_alive_timeout_ms: Option<u64>,
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
    if let Some(k) = args.jwt_key {
        config.jwt_signing_key = k;
    }
    if let Some(f) = args.jwt_rsa_public_key {
        config.jwt_rsa_public_key_file = Some(f);
    }
    if let Some(i) = args.jwt_issuer {
        config.jwt_issuer = Some(i);
    }
    if let Some(a) = args.jwt_audience {
        config.jwt_audience = Some(a);
    }
    if let Some(s) = args.jwt_clock_skew {
        config.jwt_clock_skew_secs = s;
    }
    if let Some(c) = args.user_id_claim {
        config.user_id_claim = c;
    }
    if args.close_on_auth_expiration {
        config.close_on_authentication_expiration = true;
    }
    if let Some(url) = args.redis {
        config.redis = Some(url);
    }
    if let Some(p) = args.redis_prefix {
        config.redis_prefix = p;
    }
    if let Some(n) = args.hub_name {
        config.hub_name = n;
    }
    let redis = config.redis.clone();
    if let Some(ms) = args.request_headers_timeout_ms {
        config.request_headers_timeout_ms = ms;
    }
    if let Some(ms) = args.keep_alive_timeout_ms {
        config.keep_alive_timeout_ms = ms;
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
        Err(e) if e.to_string().starts_with("--redis") => {
            eprintln!("mock-hub: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("mock-hub: cannot listen on {address}: {e}");
            return ExitCode::from(1);
        }
    };
    if redis.is_some() {
        // Serve at once either way; the backplane keeps retrying (and logs) until Redis answers.
        let ready =
            tokio::time::timeout(std::time::Duration::from_secs(5), server.backplane_ready());
        if ready.await.is_err() {
            tracing::warn!("redis backplane: Redis not reachable yet; serving, and retrying");
        }
    }
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
