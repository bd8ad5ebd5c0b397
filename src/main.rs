//! The `ece-o365-exporter` binary: command line, logging and wiring. All
//! behaviour lives in the library; errors reach the user here, through anyhow.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use ece_o365_exporter::agent::{Agent, ReloadSender};
use ece_o365_exporter::config::Config;
use ece_o365_exporter::logging::{self, LogFormat};
use ece_o365_exporter::metrics::Metrics;
use ece_o365_exporter::oauth::init;
use ece_o365_exporter::{REVISION, VERSION, checks, http, report};

/// Exit code for a configuration that cannot be used.
const EXIT_BAD_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "ece-o365-exporter",
    version,
    about = "Checks the Office 365 mail path of Cisco ECE and exports the results to Prometheus"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct GlobalArgs {
    /// Configuration file.
    #[arg(long = "config.file", global = true, default_value = "config.yaml", value_name = "PATH")]
    config_file: PathBuf,
    /// Address to serve /metrics on.
    #[arg(long = "web.listen-address", global = true, default_value = ":9865", value_name = "HOST:PORT")]
    listen_address: String,
    /// Log level (error, warn, info, debug, trace) or a tracing filter directive.
    #[arg(long = "log.level", global = true, default_value = "info", value_name = "LEVEL")]
    log_level: String,
    /// Log line format.
    #[arg(long = "log.format", global = true, value_enum, default_value_t = LogFormat::Logfmt)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the exporter (the default).
    Run,
    /// Run every check once, print the results, and exit 0 (all passed), 1 (some failed) or 2 (bad config).
    Check {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// OAuth2 token tools.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration file and exit 0 (valid) or 2 (invalid).
    Check,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Bootstrap a mailbox's refresh token with the device code flow and write its token store:
    /// exit 0 (stored), 1 (failed or refused) or 2 (bad config or mailbox).
    Init {
        /// The mailbox, by its `name` under `mailboxes:` (grant: refresh_token).
        #[arg(long, value_name = "NAME")]
        mailbox: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(&cli.global.log_level, cli.global.log_format, None) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_BAD_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => run(&cli.global).await,
            Command::Check { output } => check(&cli.global, output).await,
            Command::Config {
                command: ConfigCommand::Check,
            } => config_check(&cli.global),
            Command::Token {
                command: TokenCommand::Init { mailbox },
            } => token_init(&cli.global, &mailbox).await,
        }
    })
}

/// Loads and builds the configured checks, or prints why not.
fn load(global: &GlobalArgs) -> Result<(Config, Vec<checks::ScheduledCheck>), ExitCode> {
    let built = Config::load(&global.config_file).and_then(|cfg| {
        let checks = checks::build_all(&cfg)?;
        Ok((cfg, checks))
    });
    built.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_BAD_CONFIG)
    })
}

fn config_check(global: &GlobalArgs) -> ExitCode {
    match load(global) {
        Ok((cfg, checks)) => {
            println!("{}: valid, {} checks", cfg.file.display(), checks.len());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn token_init(global: &GlobalArgs, mailbox: &str) -> ExitCode {
    let cfg = match Config::load(&global.config_file) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let result = async {
        let mailbox = init::find_mailbox(&cfg, mailbox)?;
        let endpoint = init::endpoint(&mailbox, &cfg.global.extra_ca)?;
        init::device_code_init(&mailbox, &endpoint, &cfg.file, &mut std::io::stdout()).await
    }
    .await;
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn check(global: &GlobalArgs, output: Output) -> ExitCode {
    let (_, checks) = match load(global) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let entries = report::run_all(&checks).await;
    match output {
        Output::Text => print!("{}", report::render_text(&entries)),
        Output::Json => println!("{}", report::render_json(&entries)),
    }
    if report::all_passed(&entries) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(global: &GlobalArgs) -> ExitCode {
    let cfg = match Config::load(&global.config_file) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match serve(global, cfg).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(global: &GlobalArgs, cfg: Config) -> anyhow::Result<ExitCode> {
    let addr = listen_addr(&global.listen_address)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("listener address")?;
    let shutdown = CancellationToken::new();
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(4);
    let state = Arc::new(http::AppState {
        metrics: Arc::new(Metrics::new(VERSION, REVISION)),
        configured: AtomicUsize::new(0),
        reload: Some(reload_tx.clone()),
    });
    let file = cfg.file.clone();
    let agent = match Agent::start(cfg, state.clone(), shutdown.clone()).await {
        Ok(agent) => agent,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    tracing::info!(version = VERSION, revision = REVISION, config = %file.display(), checks = state.configured.load(Ordering::SeqCst), "starting");
    tracing::info!(address = %local, "listening");

    let server = tokio::spawn(http::serve(listener, state, shutdown.clone()));
    let reloads = tokio::spawn(agent.serve_reloads(reload_rx, shutdown.clone()));
    tokio::spawn(forward_hangups(reload_tx));

    wait_for_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    let _ = reloads.await;
    let _ = server.await;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP reloads the configuration, as in every Prometheus exporter.
async fn forward_hangups(reloads: ReloadSender) {
    #[cfg(unix)]
    {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; use POST /-/reload");
                return;
            }
        };
        while hup.recv().await.is_some() {
            if reloads.send(None).await.is_err() {
                break;
            }
        }
    }
    #[cfg(not(unix))]
    drop(reloads);
}

/// `:9865` means every interface, as in the Go exporters.
fn listen_addr(text: &str) -> anyhow::Result<SocketAddr> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_string()
    };
    full.parse()
        .with_context(|| format!("--web.listen-address `{text}` is not HOST:PORT (an IP address and a port)"))
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only ctrl-c stops the exporter");
                return ctrl_c.await;
            }
        };
        tokio::select! {
            () = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
