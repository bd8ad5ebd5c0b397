//! Running as a Windows service (compiled on Windows only): the service
//! control manager (SCM) glue, the `service install` / `service uninstall`
//! subcommands, and where the service keeps its files
//! (`%ProgramData%\ece-o365-exporter`: config, log, token stores).
//!
//! It owns no agent logic: the binary hands [`run`] a function that runs the
//! agent until a `CancellationToken` is cancelled, and a service stop or a
//! system shutdown cancels that token, exactly as ctrl-c does on a console.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

/// The service's name in the SCM (`sc start ece-o365-exporter`).
pub const SERVICE_NAME: &str = "ece-o365-exporter";
const DISPLAY_NAME: &str = "ECE Office 365 mail path exporter";
const DESCRIPTION: &str = "Checks the Office 365 mail path of Cisco ECE (DNS, TCP, TLS, SMTP, IMAP, POP3, OAuth2) \
                           and serves the results to Prometheus on /metrics (port 9865).";

/// What the service runs: the agent, until the token is cancelled; returns its exit code.
pub type Body = Box<dyn FnOnce(CancellationToken) -> u8 + Send>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "cannot talk to the service control manager ({0}); `service run` is for the SCM to start \
         (`sc start {SERVICE_NAME}`), run the exporter without `service run` on a console"
    )]
    Dispatcher(windows_service::Error),
    #[error("{action}: {source}")]
    Scm {
        action: &'static str,
        #[source]
        source: windows_service::Error,
    },
    #[error("the service did not stop within {0:?}")]
    StopTimeout(Duration),
    #[error("cannot restrict access to {}: {detail}", dir.display())]
    Acl { dir: PathBuf, detail: String },
    #[error("cannot find this program's path: {0}")]
    CurrentExe(io::Error),
}

fn scm(action: &'static str) -> impl FnOnce(windows_service::Error) -> ServiceError {
    move |source| ServiceError::Scm { action, source }
}

/// `%ProgramData%\ece-o365-exporter`: the service's configuration, log and tokens.
pub fn data_dir() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
        .join(SERVICE_NAME)
}

/// The configuration file when `--config.file` is not given.
pub fn default_config_file() -> PathBuf {
    data_dir().join("config.yaml")
}

/// The service's log file when `--log.file` is not given.
pub fn default_log_file() -> PathBuf {
    data_dir().join("ece-o365-exporter.log")
}

/// Where token stores belong (`token_store: tokens\NAME.token` in the default config).
pub fn token_dir() -> PathBuf {
    data_dir().join("tokens")
}

/// Creates `dir` and gives it an ACL of its own, inherited by every file
/// created in it: full control for SYSTEM (the service) and Administrators
/// (`token init`), nothing for anyone else, nothing inherited from the
/// parent (`D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)`). Set with
/// `SetNamedSecurityInfoW` (`win-ffi`), by well-known SID so it works in
/// every Windows language.
pub fn restrict_to_administrators(dir: &Path) -> Result<(), ServiceError> {
    let acl_error = |detail: String| ServiceError::Acl {
        dir: dir.to_path_buf(),
        detail,
    };
    std::fs::create_dir_all(dir).map_err(|e| acl_error(e.to_string()))?;
    win_ffi::acl::set_dacl(dir, win_ffi::acl::SYSTEM_AND_ADMINISTRATORS).map_err(|e| acl_error(e.to_string()))
}

/// The access list of `path` in SDDL, as the system reports it (`service acl PATH`).
pub fn access_list(path: &Path) -> Result<String, ServiceError> {
    win_ffi::acl::dacl(path).map_err(|e| ServiceError::Acl {
        dir: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Registers the service (LocalSystem, automatic start, restarted 10 s,
/// 30 s, then 60 s after a failure, the count reset after a day) to run this
/// program as `service run` with `args`.
pub fn install(args: Vec<OsString>) -> Result<(), ServiceError> {
    let exe = std::env::current_exe().map_err(ServiceError::CurrentExe)?;
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)
        .map_err(scm("cannot open the service control manager (run as Administrator)"))?;
    let mut launch_arguments: Vec<OsString> = vec!["service".into(), "run".into()];
    launch_arguments.extend(args);
    let info = ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe,
        launch_arguments,
        dependencies: vec![],
        account_name: None,
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
        .map_err(scm("cannot create the service"))?;
    service
        .set_description(DESCRIPTION)
        .map_err(scm("cannot set the service description"))?;
    restart_on_failure(&service)
}

/// Sets the installed service's restart on failure (10 s, 30 s, then 60 s,
/// the count reset after a day), as `install` does: the MSI runs it after
/// installing the service (wixl has no failure-actions table).
pub fn recovery() -> Result<(), ServiceError> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(scm("cannot open the service control manager (run as Administrator)"))?;
    let service = manager
        .open_service(SERVICE_NAME, ServiceAccess::CHANGE_CONFIG)
        .map_err(scm("cannot open the service"))?;
    restart_on_failure(&service)
}

fn restart_on_failure(service: &windows_service::service::Service) -> Result<(), ServiceError> {
    let restart_after = |secs| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(secs),
    };
    service
        .update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(vec![restart_after(10), restart_after(30), restart_after(60)]),
        })
        .map_err(scm("cannot set the service's restart on failure"))
}

/// Stops the service (bounded wait) and removes it.
pub fn uninstall() -> Result<(), ServiceError> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(scm("cannot open the service control manager (run as Administrator)"))?;
    let access = ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE;
    let service = manager.open_service(SERVICE_NAME, access).map_err(scm("cannot open the service"))?;
    let status = service.query_status().map_err(scm("cannot query the service"))?;
    if status.current_state != ServiceState::Stopped {
        if status.current_state != ServiceState::StopPending {
            service.stop().map_err(scm("cannot stop the service"))?;
        }
        let limit = Duration::from_secs(30);
        let started = Instant::now();
        while service.query_status().map_err(scm("cannot query the service"))?.current_state != ServiceState::Stopped {
            if started.elapsed() > limit {
                return Err(ServiceError::StopTimeout(limit));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    service.delete().map_err(scm("cannot delete the service"))
}

static BODY: Mutex<Option<Body>> = Mutex::new(None);
static EXIT_CODE: AtomicU32 = AtomicU32::new(0);

define_windows_service!(ffi_service_main, service_main);

/// Hands this thread to the SCM, which runs `body` on a thread of its own as
/// the service; returns the body's exit code once the service has stopped.
pub fn run(body: Body) -> Result<u8, ServiceError> {
    *BODY.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(body);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(ServiceError::Dispatcher)?;
    Ok(u8::try_from(EXIT_CODE.load(Ordering::SeqCst)).unwrap_or(u8::MAX))
}

fn service_main(_arguments: Vec<OsString>) {
    if let Err(e) = run_service() {
        tracing::error!(error = %e, "the service failed");
        EXIT_CODE.store(1, Ordering::SeqCst);
    }
}

fn status(state: ServiceState, exit_code: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code: if exit_code == 0 {
            ServiceExitCode::Win32(0)
        } else {
            ServiceExitCode::ServiceSpecific(exit_code)
        },
        checkpoint: 0,
        wait_hint: Duration::from_secs(if state == ServiceState::StopPending { 15 } else { 0 }),
        process_id: None,
    }
}

fn run_service() -> Result<(), ServiceError> {
    // The MSI creates the token directory but cannot set its ACL (wixl has no
    // Permission table); the service, as SYSTEM, does it on every start.
    let tokens = token_dir();
    match restrict_to_administrators(&tokens) {
        Ok(()) => tracing::debug!(dir = %tokens.display(), "token directory restricted to SYSTEM and Administrators"),
        Err(e) => tracing::warn!(error = %e, "token stores there may be readable by other users"),
    }
    let shutdown = CancellationToken::new();
    let on_control = {
        let shutdown = shutdown.clone();
        move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                tracing::info!(control = ?control, "stop requested by the service control manager");
                shutdown.cancel();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let handle = service_control_handler::register(SERVICE_NAME, on_control).map_err(scm("cannot register the service handler"))?;
    handle
        .set_service_status(status(ServiceState::Running, 0))
        .map_err(scm("cannot report the service running"))?;
    let body = BODY.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    let code = body.map_or(1, |body| body(shutdown));
    EXIT_CODE.store(u32::from(code), Ordering::SeqCst);
    handle
        .set_service_status(status(ServiceState::Stopped, u32::from(code)))
        .map_err(scm("cannot report the service stopped"))
}
