//! The Windows build (`packaging/build-windows.sh`, `packaging/build-msi.sh`):
//! the MSI's tables hold the files, the service and the upgrade code, read
//! back with msitools; the cross-built `.exe` runs under wine on a console
//! and as a service (`service install`, `sc start`/`sc stop`, `service
//! uninstall`), checks servers in this test process and serves `/metrics`;
//! and the MSI installs under wine's msiexec, keeps an existing config, runs
//! the service and removes it again. Secrets at rest: `secret protect`
//! writes a DPAPI file that `dpapi:` reads in a real token request, and a
//! plain token store is rewritten protected at its rotation.
//!
//! The artifacts are given as `ECE_O365_EXE` and `ECE_O365_MSI` (scripts/test
//! builds them first), else looked for under `target/`. Under wine, the one
//! gap is `bcryptprimitives.dll` (Wine 8 lacks it, Rust's std needs it): each
//! wine prefix gets the shim in `packaging/windows/wine-shim`, compiled here
//! with mingw-w64. When an artifact, wine or msitools is missing, a test
//! fails in CI (`CI` set) and otherwise skips, saying why.
#![allow(clippy::unwrap_used)]
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use test_support::agent::{parse, request, value};
use test_support::jwt;
use test_support::net::free_port;
use test_support::pki::{Leaf, Pki};
use test_support::process::find_binary;
use test_support::repo;
use test_support::servers::{self, TestServer};
use test_support::token_server::{Behaviour, ROTATED_REFRESH_PREFIX, TokenServer};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const SERVICE: &str = "ece-o365-exporter";
/// packaging/windows/ece-o365-exporter.wxs: never changes.
const UPGRADE_CODE: &str = "{8C4A4B9E-2F3D-4E6A-9B1C-7D5E0F2A6B31}";
/// Generous bound for one wine command (a prefix's first boot is slow on a busy machine).
const WINE_TIMEOUT: Duration = Duration::from_secs(180);
/// The service's event source (src/eventlog.rs), as `reg query` names it.
const EVENT_SOURCE_KEY: &str = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\ece-o365-exporter";

/// `Some(value)` when present; else `None` after saying why the test skips,
/// or a failure in CI, where nothing may skip.
fn required<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} (CI is set, so this is a failure, not a skip; scripts/test provides it)"
        );
        eprintln!("SKIPPED: {what}; scripts/test provides it (and in CI this fails instead of skipping)");
    }
    found
}

/// The artifact in `var`, else the first of `defaults` that exists.
fn artifact(var: &str, defaults: &[&str], script: &str) -> Option<PathBuf> {
    let path = match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None => defaults.iter().map(|d| repo(d)).find(|p| p.is_file()),
    };
    required(
        path.filter(|p| p.is_file()),
        &format!("no Windows artifact: set {var} or run `{script}`"),
    )
}

fn exe() -> Option<PathBuf> {
    artifact(
        "ECE_O365_EXE",
        &[
            "target/x86_64-pc-windows-gnu/release/ece-o365-exporter.exe",
            "target/x86_64-pc-windows-gnu/debug/ece-o365-exporter.exe",
        ],
        "packaging/build-windows.sh",
    )
}

fn msi() -> Option<PathBuf> {
    let default = format!("target/packages/ece-o365-exporter-{VERSION}-x64.msi");
    artifact("ECE_O365_MSI", &[&default], "packaging/build-msi.sh")
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` to completion, killing it after `limit`. Its output goes through
/// files, not pipes: wine's helper processes (wineserver, services.exe) may
/// inherit them and would hold a pipe open long after the command is done.
fn run_bounded(cmd: &mut Command, limit: Duration, what: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {limit:?}:\n--- stdout\n{}--- stderr\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    }
}

/// `/tmp/x/y` as wine sees it: `Z:\tmp\x\y`.
fn wine_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// A private wine prefix (64-bit only, no window system) whose wineserver
/// stays up for the test, so services live from one command to the next.
/// Dropping it kills the wineserver and with it every process in the prefix.
struct Wine {
    wine: PathBuf,
    wineserver: PathBuf,
    prefix: tempfile::TempDir,
}

impl Wine {
    fn new() -> Option<Wine> {
        let wine = required(
            ["/usr/lib/wine/wine64", "/usr/bin/wine64"]
                .map(PathBuf::from)
                .into_iter()
                .find(|p| p.is_file()),
            "wine64 is not installed (scripts/install-test-peers.sh installs Debian's wine64)",
        )?;
        let wineserver = wine.with_file_name("wineserver");
        let gcc = required(
            find_binary("x86_64-w64-mingw32-gcc"),
            "x86_64-w64-mingw32-gcc is missing (scripts/install-test-peers.sh installs it)",
        )?;
        let w = Wine {
            wine,
            wineserver,
            prefix: tempfile::tempdir().expect("tempdir"),
        };
        // wineboot's exit status is not 0 on a 64-bit-only wine (no syswow64); the prefix is what counts.
        let out = w.run_ok(&["wineboot", "--init"], false);
        assert!(
            w.drive_c().join("windows/system32").is_dir(),
            "wineboot made no prefix: {}",
            describe(&out)
        );
        // Then a wineserver that stays up, started only once wineboot's own has
        // exited: on one started earlier (or beside it), the first msiexec's
        // InstallServices and StartServices race and the install rolls back.
        let out = run_bounded(w.command(&w.wineserver).arg("-w"), WINE_TIMEOUT, "wineserver -w");
        assert!(out.status.success(), "wineserver -w: {}", describe(&out));
        let out = run_bounded(w.command(&w.wineserver).arg("-p"), WINE_TIMEOUT, "wineserver -p");
        assert!(out.status.success(), "wineserver -p: {}", describe(&out));
        let shim = repo("packaging/windows/wine-shim");
        let system32 = w.drive_c().join("windows/system32");
        let out = Command::new(gcc)
            .args(["-O2", "-shared", "-o"])
            .arg(system32.join("bcryptprimitives.dll"))
            .arg(shim.join("bcryptprimitives.c"))
            .arg(shim.join("bcryptprimitives.def"))
            .arg("-ladvapi32")
            .output()
            .expect("run mingw gcc");
        assert!(out.status.success(), "the wine shim did not build: {}", describe(&out));
        Some(w)
    }

    fn drive_c(&self) -> PathBuf {
        self.prefix.path().join("drive_c")
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("WINEPREFIX", self.prefix.path())
            .env("WINEDEBUG", "-all")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null());
        cmd
    }

    fn wine(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(&self.wine);
        cmd.args(args);
        cmd
    }

    /// Runs a wine command to completion (bounded); with `check`, it must succeed.
    fn run_ok(&self, args: &[&str], check: bool) -> Output {
        self.run_with_stdin(args, Stdio::null(), check)
    }

    /// As [`Wine::run_ok`], with `stdin` as the command's standard input.
    fn run_with_stdin(&self, args: &[&str], stdin: Stdio, check: bool) -> Output {
        let out = run_bounded(self.wine(args).stdin(stdin), WINE_TIMEOUT, &format!("wine {args:?}"));
        assert!(!check || out.status.success(), "wine {args:?} failed: {}", describe(&out));
        out
    }

    /// `reg query` of the event source's key: its output, or None when there is no such key.
    fn event_source(&self) -> Option<String> {
        let out = self.run_ok(&["reg", "query", EVENT_SOURCE_KEY], false);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `sc query`'s STATE line, e.g. `4  RUNNING`, or None when there is no such service.
    fn service_state(&self) -> Option<String> {
        let out = self.run_ok(&["sc", "query", SERVICE], false);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("STATE"))
            .map(|s| s.trim_start_matches([' ', ':']).trim().to_string())
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = self
            .command(&self.wineserver)
            .arg("-k")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A TLS server and a plain TCP listener in this process, and a config that checks both.
struct Targets {
    pki: Pki,
    tls: TestServer,
    tcp: std::net::TcpListener,
}

impl Targets {
    async fn start() -> Targets {
        let pki = Pki::new();
        let tls = servers::tls(pki.server_config(Leaf::Good)).await;
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Targets { pki, tls, tcp }
    }

    fn tcp_target(&self) -> String {
        self.tcp.local_addr().unwrap().to_string()
    }

    /// The config, its CA file named by its wine path.
    fn yaml(&self) -> String {
        format!(
            "global:\n  interval: 60s\n  timeout: 10s\nchecks:
  - name: tls
    kind: tls
    target: {tls}
    server_name: localhost
    ca_file: '{ca}'
  - name: tcp
    kind: tcp
    target: {tcp}
",
            tls = self.tls.target(),
            ca = wine_path(&self.pki.ca_pem),
            tcp = self.tcp_target(),
        )
    }

    /// Scrapes `addr` until every check has run (bounded), then asserts both passed.
    async fn assert_scraped(&self, addr: SocketAddr, what: &str) {
        let started = Instant::now();
        loop {
            if let Ok(Ok((200, _))) = tokio::time::timeout(Duration::from_secs(5), try_request(addr, "/-/ready")).await {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "{what}: never ready on {addr}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (status, body) = request(addr, "GET", "/metrics").await;
        assert_eq!(status, 200, "{what}: {body}");
        let m = parse(&body);
        assert_eq!(value(&m, "ece_o365_build_info", &[("version", VERSION)]), Some(1.0), "{what}");
        for (check, target) in [("tls", self.tls.target()), ("tcp", self.tcp_target())] {
            let labels = [("check", check), ("target", target.as_str())];
            assert_eq!(value(&m, "ece_o365_check_success", &labels), Some(1.0), "{what}: {check}\n{body}");
        }
        assert!(self.tls.connection_count() >= 1, "{what}: the TLS server saw no connection");
    }
}

/// Like `request`, but a refused connection is an error, not a panic (the agent may not listen yet).
async fn try_request(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    tokio::net::TcpStream::connect(addr).await?;
    Ok(request(addr, "GET", path).await)
}

/// Reads a child's stderr into a shared log and sends the first `address=` it names.
fn watch_log(child: &mut Child) -> (Arc<Mutex<Vec<String>>>, mpsc::Receiver<String>) {
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("address=").nth(1) {
                let _ = tx.send(addr.split_whitespace().next().unwrap_or_default().to_string());
            }
            sink.lock().unwrap().push(line);
        }
    });
    (log, rx)
}

fn msi_table(msi: &Path, table: &str) -> Vec<Vec<String>> {
    let msiinfo = find_binary("msiinfo").expect("msiinfo (package msitools)");
    let out = Command::new(msiinfo)
        .arg("export")
        .arg(msi)
        .arg(table)
        .output()
        .expect("run msiinfo");
    assert!(out.status.success(), "msiinfo export {table}: {}", describe(&out));
    // Three header lines: column names, column types, table name and keys.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(3)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], key: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.first().map(String::as_str) == Some(key))
        .unwrap_or_else(|| panic!("no row {key} in {rows:?}"))
}

#[test]
fn msi_holds_the_exe_the_kept_config_and_the_service() {
    let Some(msi) = msi() else { return };
    if required(find_binary("msiinfo"), "msiinfo is missing (package msitools)").is_none() {
        return;
    }
    let property = msi_table(&msi, "Property");
    assert_eq!(row(&property, "UpgradeCode")[1], UPGRADE_CODE);
    assert_eq!(row(&property, "ProductVersion")[1], VERSION);
    assert_eq!(row(&property, "LISTEN_ADDRESS")[1], ":9865");
    assert_eq!(row(&property, "ALLUSERS")[1], "1", "a per-machine install");
    // MajorUpgrade: older versions are replaced, newer ones refuse a downgrade.
    let upgrade = msi_table(&msi, "Upgrade");
    assert!(upgrade.iter().any(|r| r[0] == UPGRADE_CODE && r[2] == VERSION), "{upgrade:?}");
    assert!(upgrade.iter().any(|r| r[0] == UPGRADE_CODE && r[1] == VERSION), "{upgrade:?}");

    let files = msi_table(&msi, "File");
    let exe = row(&files, "ExporterExe");
    assert_eq!((exe[1].as_str(), exe[2].as_str()), ("Exporter", "ece-o365-exporter.exe"));
    let exe_size: u64 = exe[3].parse().unwrap();
    assert!(exe_size > 1_000_000, "a real executable, not a placeholder: {exe_size} bytes");
    let config = row(&files, "ConfigYaml");
    assert_eq!((config[1].as_str(), config[2].as_str()), ("Config", "config.yaml"));
    let example = std::fs::metadata(repo("config.example.yaml")).unwrap().len();
    assert_eq!(config[3], example.to_string(), "the default config is config.example.yaml");

    let directories = msi_table(&msi, "Directory");
    assert_eq!(row(&directories, "INSTALLDIR")[1..], ["ProgramFiles64Folder", SERVICE]);
    assert_eq!(row(&directories, "DATADIR")[1..], ["CommonAppDataFolder", SERVICE]);
    assert_eq!(row(&directories, "TOKENSDIR")[1..], ["DATADIR", "tokens"]);

    // Attributes: 256 64-bit, 16 Permanent, 128 NeverOverwrite (set by build-msi.sh).
    let components = msi_table(&msi, "Component");
    assert_eq!(row(&components, "Exporter")[2..4], ["INSTALLDIR", "256"]);
    assert_eq!(row(&components, "Config")[2..4], ["DATADIR", "400"]);
    assert_eq!(row(&components, "Tokens")[2..4], ["TOKENSDIR", "272"]);

    let service = msi_table(&msi, "ServiceInstall");
    let service = row(&service, "ExporterService");
    // Name, own process (16), automatic start (2), normal error control (1), LocalSystem.
    assert_eq!(service[1..6], [SERVICE, "ECE Office 365 mail path exporter", "16", "2", "1"]);
    assert_eq!(service[8], "", "runs as LocalSystem");
    assert_eq!(
        service[10],
        "service run --web.listen-address [LISTEN_ADDRESS] --config.file \"[DATADIR]config.yaml\" \
         --log.file \"[DATADIR]ece-o365-exporter.log\""
    );
    assert_eq!(service[11], "Exporter");
    // The event source, removed with the product; EventMessageFile is REG_EXPAND_SZ (the `#%` prefix,
    // set by build-msi.sh) of `%SystemRoot%\...`.
    let registry = msi_table(&msi, "Registry");
    let key = r"SYSTEM\CurrentControlSet\Services\EventLog\Application\ece-o365-exporter";
    let values: Vec<[&str; 4]> = registry
        .iter()
        .map(|r| [r[1].as_str(), r[2].as_str(), r[3].as_str(), r[4].as_str()])
        .collect();
    assert_eq!(
        values,
        [
            ["2", key, "EventMessageFile", r"#%%SystemRoot%\System32\EventCreate.exe"],
            ["2", key, "TypesSupported", "#7"],
        ]
    );
    assert!(registry.iter().all(|r| r[5] == "EventSource"), "{registry:?}");
    let control = msi_table(&msi, "ServiceControl");
    // 1 start on install + 2 stop on install + 32 stop on uninstall + 128 delete on uninstall.
    assert_eq!(row(&control, "ExporterServiceControl")[1..], [SERVICE, "163", "", "1", "Exporter"]);
    // The restart on failure: the installed exe's `service recovery`, 18 (an exe installed by the
    // package) + 64 (its exit code ignored) + 1024 (deferred) + 2048 (as LocalSystem), between
    // InstallServices and StartServices, not on removal.
    let actions = msi_table(&msi, "CustomAction");
    assert_eq!(row(&actions, "ServiceRecovery")[1..4], ["3154", "ExporterExe", "service recovery"]);
    let sequence = msi_table(&msi, "InstallExecuteSequence");
    let at = |action: &str| -> u32 { row(&sequence, action)[2].parse().unwrap() };
    assert!(at("InstallServices") < at("ServiceRecovery") && at("ServiceRecovery") < at("StartServices"));
    assert_eq!(row(&sequence, "ServiceRecovery")[1], "NOT REMOVE~=\"ALL\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn exe_runs_under_wine_on_a_console_and_as_a_service() {
    let Some(exe) = exe() else { return };
    let Some(wine) = Wine::new() else { return };
    let targets = Targets::start().await;
    let config = targets.pki.dir.path().join("agent.yaml");
    std::fs::write(&config, targets.yaml()).unwrap();

    // On a console: ctrl-c (wine turns SIGINT into it) stops it cleanly.
    let mut child = wine
        .command(&wine.wine)
        .arg(&exe)
        .args(["--config.file", &wine_path(&config), "--web.listen-address", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the exe under wine");
    let (log, addresses) = watch_log(&mut child);
    let addr = addresses
        .recv_timeout(WINE_TIMEOUT)
        .unwrap_or_else(|_| panic!("the exe never said where it listens: {:?}", log.lock().unwrap()));
    targets.assert_scraped(addr.parse().expect("listen address"), "console").await;
    let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the exe did not stop within 60 s of ctrl-c; log: {:?}", log.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "exit status after ctrl-c; log: {:?}", log.lock().unwrap());
    assert!(
        log.lock().unwrap().iter().any(|l| l.contains("msg=\"shutting down\"")),
        "{:?}",
        log.lock().unwrap()
    );

    // As a service, through the SCM: install, start, scrape, stop, uninstall; one
    // more check, to a closed port, fails from its first run (an Event Log event).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    std::fs::write(
        &config,
        format!("{}  - name: closed\n    kind: tcp\n    target: {closed}\n", targets.yaml()),
    )
    .unwrap();
    let port = free_port();
    let log_file = targets.pki.dir.path().join("service.log");
    let listen = format!("127.0.0.1:{port}");
    let exe_arg = wine_path(&exe);
    let out = wine.run_ok(
        &[
            &exe_arg,
            "service",
            "install",
            "--config.file",
            &wine_path(&config),
            "--web.listen-address",
            &listen,
            "--log.file",
            &wine_path(&log_file),
            "--log.level",
            "debug",
        ],
        true,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("installed"), "{}", describe(&out));
    let source = wine.event_source().expect("the event source is registered");
    assert!(
        source.contains("EventMessageFile") && source.contains(r"%SystemRoot%\System32\EventCreate.exe"),
        "{source}"
    );
    assert!(source.contains("REG_EXPAND_SZ"), "{source}");
    assert!(source.contains("TypesSupported") && source.contains("0x7"), "{source}");
    // The token directory's access list, set with SetNamedSecurityInfoW and read back with
    // GetNamedSecurityInfoW: wine 8 accepts the DACL but keeps none (it reports one made from the
    // Unix mode), so only the calls are asserted here; docs/windows.md says what Windows must show.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("cannot"), "{}", describe(&out));
    let tokens = wine.drive_c().join("ProgramData/ece-o365-exporter/tokens");
    let acl = wine.run_ok(&[&exe_arg, "service", "acl", &wine_path(&tokens)], true);
    let sddl = String::from_utf8_lossy(&acl.stdout);
    assert!(sddl.trim().starts_with("D:") && sddl.contains(";;;SY)"), "{}", describe(&acl));
    assert!(
        wine.drive_c().join("ProgramData/ece-o365-exporter/tokens").is_dir(),
        "token directory created"
    );
    assert_eq!(wine.service_state().as_deref(), Some("1  STOPPED"));
    wine.run_ok(&["sc", "start", SERVICE], true);
    targets.assert_scraped(SocketAddr::from(([127, 0, 0, 1], port)), "service").await;
    assert_eq!(wine.service_state().as_deref(), Some("4  RUNNING"));
    wine.run_ok(&["sc", "stop", SERVICE], true);
    wait_for_state(&wine, "1  STOPPED");
    let text = std::fs::read_to_string(&log_file).expect("the service's log file");
    for line in [
        "msg=listening address=",
        "msg=\"stop requested by the service control manager\" control=Stop",
        "msg=\"shutting down\"",
        "msg=\"check failed\" check=closed",
    ] {
        assert!(text.contains(line), "`{line}` not in the service log:\n{text}");
    }
    // ReportEventW accepted each event once: start, the failing check (not once per run; its
    // first run may log before the start), stop.
    let mut written: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("msg=\"event log: wrote an event\" id=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default())
        .collect();
    written.sort_unstable();
    assert_eq!(written, ["1", "2", "20"], "events written:\n{text}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the stopped service still listens"
    );
    let out = wine.run_ok(&[&exe_arg, "service", "uninstall"], true);
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed"), "{}", describe(&out));
    assert_eq!(wine.service_state(), None, "the service is gone");
    assert_eq!(wine.event_source(), None, "the event source is gone");
}

fn wait_for_state(wine: &Wine, state: &str) {
    let started = Instant::now();
    while wine.service_state().as_deref() != Some(state) {
        assert!(started.elapsed() < Duration::from_secs(60), "the service never reached {state}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn msi_installs_the_service_under_wine_and_keeps_the_config() {
    let Some(msi) = msi() else { return };
    let Some(wine) = Wine::new() else { return };
    let targets = Targets::start().await;
    // An existing (edited) configuration: the MSI must not replace it.
    let data = wine.drive_c().join("ProgramData/ece-o365-exporter");
    std::fs::create_dir_all(&data).unwrap();
    let edited = format!("# edited by the administrator\n{}", targets.yaml());
    std::fs::write(data.join("config.yaml"), &edited).unwrap();

    let port = free_port();
    let msi_arg = wine_path(&msi);
    let listen = format!("LISTEN_ADDRESS=127.0.0.1:{port}");
    wine.run_ok(&["msiexec", "/i", &msi_arg, "/qn", &listen, "/l*v", r"C:\install.log"], true);
    // The restart on failure was set by the installed exe (wine accepts the call, and keeps
    // nothing of it to read back: docs/windows.md says what only Windows shows).
    let install_log = std::fs::read_to_string(wine.drive_c().join("install.log")).expect("msiexec's log");
    assert!(
        install_log
            .lines()
            .any(|l| l.contains("Action ended") && l.contains("ServiceRecovery. Return value 1")),
        "{install_log}"
    );
    let installed = wine.drive_c().join("Program Files/ece-o365-exporter/ece-o365-exporter.exe");
    assert!(installed.is_file(), "{} not installed", installed.display());
    assert!(data.join("tokens").is_dir(), "token directory created");
    assert_eq!(
        std::fs::read_to_string(data.join("config.yaml")).unwrap(),
        edited,
        "config replaced"
    );
    // Started on install, with the kept config and the given address.
    targets
        .assert_scraped(SocketAddr::from(([127, 0, 0, 1], port)), "MSI service")
        .await;
    assert_eq!(wine.service_state().as_deref(), Some("4  RUNNING"));
    let source = wine.event_source().expect("the MSI registered the event source");
    assert!(
        source.contains("REG_EXPAND_SZ") && source.contains(r"%SystemRoot%\System32\EventCreate.exe"),
        "{source}"
    );

    // The same command by hand, on the service the MSI installed.
    let exe_arg = wine_path(&installed);
    let out = wine.run_ok(&[&exe_arg, "service", "recovery"], true);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("restarts 10 s, 30 s and 60 s after a failure"),
        "{}",
        describe(&out)
    );

    wine.run_ok(&["msiexec", "/x", &msi_arg, "/qn", "/l*v", r"C:\remove.log"], true);
    let remove_log = std::fs::read_to_string(wine.drive_c().join("remove.log")).expect("msiexec's log");
    assert!(remove_log.contains("DeleteServices"), "{remove_log}");
    assert!(!remove_log.contains("ServiceRecovery"), "run on removal: {remove_log}");
    assert_eq!(wine.service_state(), None, "the service is removed");
    assert_eq!(wine.event_source(), None, "the event source is removed");
    assert!(!installed.exists(), "the exe is removed");
    assert_eq!(
        std::fs::read_to_string(data.join("config.yaml")).unwrap(),
        edited,
        "config kept on removal"
    );
    let log = std::fs::read_to_string(data.join("ece-o365-exporter.log")).expect("the service's log file");
    assert!(log.contains("msg=\"stop requested by the service control manager\""), "{log}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the removed service still listens"
    );
}

/// `secret protect` under wine: the secret goes in on standard input and
/// comes out of a `dpapi:` file in a real token request; the plain token
/// store an older version wrote is loaded, and rewritten protected at its
/// rotation, then loaded protected.
#[tokio::test(flavor = "multi_thread")]
async fn dpapi_secret_and_token_store_under_wine() {
    let Some(exe) = exe() else { return };
    let Some(wine) = Wine::new() else { return };
    const SECRET: &str = "canary-dpapi-secret~7f3a.Q";
    const SEED: &str = "canary-refresh-seed-under-wine-41c2";
    let pki = Pki::new();
    let key = jwt::OAuthKey {
        key_id: "wine".into(),
        hs256_secret: b"wine-test-secret-0123456789abcdef".to_vec(),
        issuer: String::new(),
    };
    let access = jwt::delegated_exchange_jwt(&key, "support@contoso.com", "IMAP.AccessAsUser.All", 3600);
    let server = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: access,
            expires_in: 3599,
            rotate: true,
        },
    )
    .await;
    let dir = pki.dir.path();
    let exe_arg = wine_path(&exe);

    // The secret on standard input, with the newline `echo` adds.
    let input = dir.join("secret-input");
    std::fs::write(&input, format!("{SECRET}\r\n")).unwrap();
    let protected = dir.join("client.dpapi");
    let out = wine.run_with_stdin(
        &[&exe_arg, "secret", "protect", "--out", &wine_path(&protected)],
        Stdio::from(std::fs::File::open(&input).unwrap()),
        true,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("protected with DPAPI"),
        "{}",
        describe(&out)
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(text).contains(SECRET),
            "the secret was printed: {}",
            describe(&out)
        );
    }
    let blob = std::fs::read(&protected).unwrap();
    assert!(blob.len() > SECRET.len(), "{} bytes", blob.len());
    assert!(
        !blob.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the secret is in the clear"
    );

    // A token store as an older version (or Linux) writes it: plain JSON.
    let store = dir.join("support.token");
    std::fs::write(
        &store,
        format!("{{\"version\":1,\"refresh_token\":\"{SEED}\",\"rotated_at\":1700000000,\"account\":null}}\n"),
    )
    .unwrap();
    let config = dir.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "global:\n  timeout: 20s\n  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: dpapi:client.dpapi
    authority: {authority}
mailboxes:
  - name: support
    address: support@contoso.com
    tenant: contoso
    grant: refresh_token
    token_store: support.token
    protocols: [imap]
checks:
  - name: token-support
    kind: token
    mailbox: support
",
            authority = server.authority()
        ),
    )
    .unwrap();
    let config_arg = wine_path(&config);
    let out = wine.run_ok(&[&exe_arg, "config", "check", "--config.file", &config_arg], true);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("valid, 1 checks"),
        "{}",
        describe(&out)
    );

    // The first run: the plain store and the DPAPI secret go to the token endpoint.
    let out = wine.run_ok(&[&exe_arg, "check", "--output", "json", "--config.file", &config_arg], false);
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}\n{}", describe(&out));
    assert_eq!(requests[0].field("client_secret"), Some(SECRET), "the secret read from dpapi:");
    assert_eq!(requests[0].field("refresh_token"), Some(SEED), "the plain store was loaded");
    // Rotated: the new refresh token was stored, protected.
    let stored = std::fs::read(&store).unwrap();
    assert_ne!(stored.first(), Some(&b'{'), "still plain JSON after the rotation");
    let text = String::from_utf8_lossy(&stored);
    assert!(
        !text.contains(SEED) && !text.contains(ROTATED_REFRESH_PREFIX),
        "a refresh token in the clear"
    );

    // The second run loads the protected store: the rotated token is sent.
    wine.run_ok(&[&exe_arg, "check", "--output", "json", "--config.file", &config_arg], false);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let sent = requests[1].field("refresh_token").unwrap_or_default();
    assert!(sent.starts_with(ROTATED_REFRESH_PREFIX), "sent {sent:?}");

    // A damaged protected file is a configuration error naming the field.
    let mut damaged = blob.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    std::fs::write(&protected, &damaged).unwrap();
    let out = wine.run_ok(&[&exe_arg, "config", "check", "--config.file", &config_arg], false);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tenants[0].client_secret"), "{err}");
    assert!(err.contains("cannot unprotect"), "{err}");
}
