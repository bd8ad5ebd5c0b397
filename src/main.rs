//! The `ece-o365-exporter` binary: command line, logging and wiring. All
//! behaviour lives in the library; errors reach the user here, through anyhow.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use ece_o365_exporter::agent::Agent;
use ece_o365_exporter::config::Config;
use ece_o365_exporter::i18n::Lang;
use ece_o365_exporter::logging::{self, LogFormat};
use ece_o365_exporter::metrics::Metrics;
use ece_o365_exporter::oauth::init;
#[cfg(windows)]
use ece_o365_exporter::service;
use ece_o365_exporter::state::{ReloadSender, RunningState};
use ece_o365_exporter::web::WebGuard;
use ece_o365_exporter::{REVISION, VERSION, checks, http, limits, report, secret};
// Links exp and pow into the binary, so that libm.so.6 is not loaded.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
use libm_symbols as _;

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
    /// Configuration file (on Windows: %ProgramData%\ece-o365-exporter\config.yaml).
    #[arg(long = "config.file", global = true, default_value_os_t = default_config_file(), value_name = "PATH")]
    config_file: PathBuf,
    /// Address to serve /metrics on.
    #[arg(long = "web.listen-address", global = true, default_value = ":9865", value_name = "HOST:PORT")]
    listen_address: String,
    /// Most web connections served at once; more are closed as soon as they are accepted.
    #[arg(long = "web.max-connections", global = true, default_value_t = http::DEFAULT_MAX_CONNECTIONS as u32,
          value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    max_connections: u32,
    /// TLS and basic auth for the web endpoint (exporter-toolkit web configuration format).
    #[arg(long = "web.config.file", global = true, value_name = "PATH")]
    web_config_file: Option<PathBuf>,
    /// Log level (error, warn, info, debug, trace, off), or levels by target (`warn,ece_o365_exporter=debug`).
    #[arg(long = "log.level", global = true, default_value = "info", value_name = "LEVEL")]
    log_level: String,
    /// Log line format.
    #[arg(long = "log.format", global = true, value_enum, default_value_t = LogFormat::Logfmt)]
    log_format: LogFormat,
    /// Log to this file instead of stderr (moved to PATH.1 at 10 MiB); a Windows service logs to
    /// %ProgramData%\ece-o365-exporter\ece-o365-exporter.log unless this is given.
    #[arg(long = "log.file", global = true, value_name = "PATH")]
    log_file: Option<PathBuf>,
}

#[cfg(not(windows))]
fn default_config_file() -> PathBuf {
    PathBuf::from("config.yaml")
}

#[cfg(windows)]
fn default_config_file() -> PathBuf {
    service::default_config_file()
}

#[derive(Subcommand)]
enum Command {
    /// Run the exporter (the default).
    Run,
    /// Run every check once and print the guide's check items with evidence and remedies;
    /// exit 0 (nothing failed), 1 (some item failed) or 2 (bad config).
    Check {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// Language of the report (default: from the locale, else English).
        #[arg(long, value_enum)]
        lang: Option<Lang>,
        /// Also write the results as a Prometheus textfile (atomically), for
        /// node_exporter's or windows_exporter's textfile collector.
        #[arg(long, value_name = "PATH")]
        textfile: Option<PathBuf>,
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
    /// Secrets at rest (Windows DPAPI).
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Windows service tools (as Administrator).
    #[cfg(windows)]
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
}

#[cfg(windows)]
#[derive(Subcommand)]
enum ServiceCommand {
    /// Register the service (automatic start, LocalSystem) with this program, --config.file, --web.listen-address,
    /// --log.level/--log.format and --log.file, and restrict the token directory to SYSTEM and Administrators.
    Install,
    /// Set the installed service's restart on failure (10 s, 30 s, then 60 s; the count reset after a day), as
    /// `install` does; the MSI runs it after installing the service.
    Recovery,
    /// Stop and remove the service.
    Uninstall,
    /// Run as the service; only the service control manager starts this.
    Run,
    /// Print the access list (SDDL) of a file or directory, e.g. the token directory.
    #[command(hide = true)]
    Acl {
        #[arg(value_name = "PATH")]
        path: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration file and exit 0 (valid) or 2 (invalid).
    Check,
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Read a secret from standard input (one trailing newline removed) and write it to PATH protected with
    /// DPAPI for this machine, for `client_secret: dpapi:PATH` or `proxy_password: dpapi:PATH` (Windows only).
    Protect {
        /// The file to write (replaced atomically).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
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
    // Before any thread allocates (each would take an arena of its own);
    // an admin's MALLOC_ARENA_MAX wins. docs/scaling.md, Memory, says why.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() && !glibc_malloc::use_one_arena() {
        eprintln!("warning: glibc did not take M_ARENA_MAX=1; each thread keeps its own malloc arena");
    }
    let cli = Cli::parse();
    let log_file = cli.global.log_file.clone();
    #[cfg(windows)]
    let as_service = matches!(
        cli.command,
        Some(Command::Service {
            command: ServiceCommand::Run
        })
    );
    #[cfg(windows)]
    let log_file = if as_service {
        log_file.or_else(|| Some(service::default_log_file()))
    } else {
        log_file
    };
    // The service also writes its start, stop, configuration errors and checks' changes to the Event Log.
    #[cfg(windows)]
    let (extra, event_log) = match as_service.then(ece_o365_exporter::eventlog::windows_layer) {
        Some(Ok(layer)) => (Some(layer), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    #[cfg(not(windows))]
    let extra = None;
    if let Err(e) = logging::init(&cli.global.log_level, cli.global.log_format, log_file.as_deref(), extra) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_BAD_CONFIG);
    }
    #[cfg(windows)]
    if let Some(e) = event_log {
        tracing::warn!(error = %e, "cannot open the Event Log; events go to the log file only");
    }
    #[cfg(windows)]
    if let Some(Command::Service { command }) = &cli.command {
        return windows::service_command(command, cli.global);
    }
    block_on(async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => run(&cli.global, console_shutdown()).await,
            Command::Check { output, lang, textfile } => check(&cli.global, output, lang, textfile.as_deref()).await,
            Command::Config {
                command: ConfigCommand::Check,
            } => config_check(&cli.global),
            Command::Token {
                command: TokenCommand::Init { mailbox },
            } => token_init(&cli.global, &mailbox).await,
            Command::Secret {
                command: SecretCommand::Protect { out },
            } => secret_protect(&out),
            #[cfg(windows)]
            // Handled above, before a runtime starts: the service builds its own.
            Command::Service { .. } => ExitCode::FAILURE,
        }
    })
}

/// Async worker threads at most, whatever the number of cores: the agent
/// mostly waits (10,000 checks a minute take a tenth of one core), and each
/// worker costs memory of its own (its stack, its malloc arena, its share of
/// what the allocator cannot give back). Two keep a scrape being compressed
/// from holding up the checks. `TOKIO_WORKER_THREADS` still overrides it.
const MAX_WORKER_THREADS: usize = 2;

/// Runs `work` on a multi-threaded tokio runtime of at most [`MAX_WORKER_THREADS`] workers.
fn block_on(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        builder.worker_threads(cores.min(MAX_WORKER_THREADS));
    }
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
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

fn secret_protect(out: &Path) -> ExitCode {
    match secret::protect_to_file(std::io::stdin().lock(), out) {
        Ok(()) => {
            println!("{}: written, protected with DPAPI for this machine.", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
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

async fn check(global: &GlobalArgs, output: Output, lang: Option<Lang>, textfile: Option<&Path>) -> ExitCode {
    raise_open_file_limit();
    let (cfg, checks) = match load(global) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let entries = report::run_all(&checks).await;
    let assessment = report::assess(&cfg, &entries);
    let lang = lang.unwrap_or_else(Lang::from_environment);
    if let Some(path) = textfile
        && let Err(e) = report::write_atomically(path, &report::render_textfile(&cfg, &entries, &assessment))
    {
        eprintln!("error: cannot write the textfile {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    match output {
        Output::Text => {
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            print!("{}", report::render_text(&assessment, lang, colour));
        }
        Output::Json => println!("{}", report::render_json(&assessment, &entries, lang)),
    }
    if assessment.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// On a console: cancelled by ctrl-c or SIGTERM.
fn console_shutdown() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        trigger.cancel();
    });
    shutdown
}

/// Raises the soft open-file limit to the hard one, so that web clients and
/// checks do not run out of descriptors; a failure is logged, not fatal.
fn raise_open_file_limit() {
    match limits::raise_nofile_limit() {
        Ok(Some(limit)) if limit.raised() => {
            tracing::info!(
                from = limit.before,
                to = limit.after,
                hard = limit.hard,
                "raised the open-file limit"
            )
        }
        Ok(Some(limit)) => tracing::debug!(soft = limit.after, hard = limit.hard, "open-file limit"),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "keeping the open-file limit"),
    }
}

/// Runs the exporter until `shutdown` is cancelled (a signal, or the Windows service being stopped).
async fn run(global: &GlobalArgs, shutdown: CancellationToken) -> ExitCode {
    raise_open_file_limit();
    let cfg = match Config::load(&global.config_file) {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!(error = %e, "configuration load failed");
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match serve(global, cfg, shutdown).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(global: &GlobalArgs, cfg: Config, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let web = match &global.web_config_file {
        Some(path) => match WebGuard::from_file(path) {
            Ok(web) => web,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(EXIT_BAD_CONFIG));
            }
        },
        None => WebGuard::open(),
    };
    let listener = match http::listen(&global.listen_address) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(address = %global.listen_address, error = %e, "cannot listen");
            return Ok(ExitCode::FAILURE);
        }
    };
    let local = listener.local_addr().context("listener address")?;
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(4);
    let state = Arc::new(RunningState::new(
        Arc::new(Metrics::new(VERSION, REVISION)),
        Some(reload_tx.clone()),
    ));
    let file = cfg.file.clone();
    let agent = match Agent::start(cfg, state.clone(), shutdown.clone()).await {
        Ok(agent) => agent,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    tracing::info!(version = VERSION, revision = REVISION, config = %file.display(), checks = state.configured(), "starting");
    tracing::info!(address = %local, "listening");

    let max_connections = usize::try_from(global.max_connections).unwrap_or(http::DEFAULT_MAX_CONNECTIONS);
    let server = tokio::spawn(http::serve_capped(listener, state, web, max_connections, shutdown.clone()));
    let reloads = tokio::spawn(agent.serve_reloads(reload_rx, shutdown.clone()));
    tokio::spawn(forward_hangups(reload_tx));

    shutdown.cancelled().await;
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

/// `service install|uninstall|run`: the SCM plumbing is in the library's `service` module.
#[cfg(windows)]
mod windows {
    use std::ffi::OsString;
    use std::process::ExitCode;

    use ece_o365_exporter::eventlog;

    use super::{EXIT_BAD_CONFIG, GlobalArgs, LogFormat, ServiceCommand, block_on, http, run, service};

    pub fn service_command(command: &ServiceCommand, global: GlobalArgs) -> ExitCode {
        let result = match command {
            ServiceCommand::Install => install(&global),
            ServiceCommand::Acl { path } => service::access_list(path).map(|sddl| println!("{sddl}")),
            ServiceCommand::Recovery => {
                service::recovery().map(|()| println!("Service `{}` restarts 10 s, 30 s and 60 s after a failure.", service::SERVICE_NAME))
            }
            ServiceCommand::Uninstall => service::uninstall().map(|()| {
                match eventlog::unregister_source() {
                    Ok(_) => {}
                    Err(e) => eprintln!("warning: cannot remove the event source `{}`: {e}", eventlog::SOURCE),
                }
                println!("Service `{}` removed.", service::SERVICE_NAME)
            }),
            ServiceCommand::Run => {
                let body = Box::new(move |shutdown| {
                    let code = block_on(run(&global, shutdown));
                    match code {
                        ExitCode::SUCCESS => 0,
                        code if code == ExitCode::from(EXIT_BAD_CONFIG) => EXIT_BAD_CONFIG,
                        _ => 1,
                    }
                });
                service::run(body).map(|_| ())
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn install(global: &GlobalArgs) -> Result<(), service::ServiceError> {
        let tokens = service::token_dir();
        service::restrict_to_administrators(&tokens)?;
        let config = std::path::absolute(&global.config_file).unwrap_or_else(|_| global.config_file.clone());
        let log_file = global.log_file.clone().unwrap_or_else(service::default_log_file);
        let mut args: Vec<OsString> = vec![
            "--config.file".into(),
            config.clone().into(),
            "--web.listen-address".into(),
            global.listen_address.clone().into(),
            "--log.level".into(),
            global.log_level.clone().into(),
            "--log.format".into(),
            match global.log_format {
                LogFormat::Logfmt => "logfmt",
                LogFormat::Json => "json",
            }
            .into(),
            "--log.file".into(),
            log_file.clone().into(),
        ];
        if global.max_connections as usize != http::DEFAULT_MAX_CONNECTIONS {
            args.extend(["--web.max-connections".into(), global.max_connections.to_string().into()]);
        }
        service::install(args)?;
        // The service runs without an event source too (Event Viewer then shows the text with a preamble).
        if let Err(e) = eventlog::register_source() {
            eprintln!("warning: cannot register the event source `{}`: {e}", eventlog::SOURCE);
        }
        println!(
            "Service `{}` installed (automatic start): config {}, log {}, token stores in {} (SYSTEM and Administrators only).",
            service::SERVICE_NAME,
            config.display(),
            log_file.display(),
            tokens.display()
        );
        println!("Start it with `sc start {}`.", service::SERVICE_NAME);
        Ok(())
    }
}
