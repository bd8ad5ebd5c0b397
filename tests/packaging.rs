//! Linux packaging (`packaging/`): the systemd unit passes `systemd-analyze
//! verify` and stays hardened; the .deb installs into the real system (the
//! files, their modes, the conffiles, the service user, the enabled unit),
//! its binary serves `/metrics` as the service user, an edited config survives
//! a reinstall, and purge removes everything; the .rpm holds the same files
//! with the config `%config(noreplace)`, checked by installing it into a
//! private root.
//!
//! The packages are built by `packaging/build-deb.sh` and
//! `packaging/build-rpm.sh` (`scripts/test` runs them first); the paths may be
//! given as `ECE_O365_DEB` and `ECE_O365_RPM`. A missing package, a missing
//! tool or not being root is a failure that says what to do, never a skip.
//! The .deb test needs root and a machine where the package is not installed
//! for real: it refuses to touch an installation it did not make.
#![allow(clippy::unwrap_used)]
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};
use test_support::repo;

const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const PKG: &str = "ece-o365-exporter";
const USER: &str = "ece-o365-exporter";
const UNIT_SOURCE: &str = "packaging/linux/ece-o365-exporter.service";
const INSTALLED_BIN: &str = "/usr/bin/ece-o365-exporter";
const INSTALLED_UNIT: &str = "/usr/lib/systemd/system/ece-o365-exporter.service";
const CONFIG: &str = "/etc/ece-o365-exporter/config.yaml";
const ENVIRONMENT: &str = "/etc/ece-o365-exporter/environment";
const STATE_DIR: &str = "/var/lib/ece-o365-exporter";
const WANTS_LINK: &str = "/etc/systemd/system/multi-user.target.wants/ece-o365-exporter.service";
/// Left in the state directory while the .deb test has the package installed,
/// so a later run knows an installation with it is its own leftover.
const TEST_MARKER: &str = "/var/lib/ece-o365-exporter/.installed-by-tests-packaging";
/// `systemd-analyze security` scale (0 to 100, printed divided by 10): the
/// unit scores 1.1 today; 1.5 leaves room for systemd's weights to move.
const MAX_EXPOSURE: &str = "15";

/// The two .deb tests one at a time: the container boots this machine's live
/// root file system, which must not change under it.
static SYSTEM: Mutex<()> = Mutex::new(());

/// Runs a command to completion; panics with a hint when it cannot start.
fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is it installed? see packaging/README.md)"))
}

/// Runs a command that must succeed and returns its stdout.
fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed with {}:\n{}", out.status, describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mode(path: &str) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{path} is not installed: {e}"))
        .permissions()
        .mode()
        & 0o7777
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn is_root() -> bool {
    run_ok(Command::new("id").arg("-u")).trim() == "0"
}

/// The package given by `var`, or else `target/packages/<name>`, which must exist.
fn package(var: &str, name: &str, script: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("target/packages").join(name));
    assert!(
        path.is_file(),
        "{} does not exist: run `{script}` first (scripts/test does), or set {var} to the package",
        path.display()
    );
    path
}

/// `systemd-analyze verify`: exit 0 and not one line about the unit (an
/// unknown directive, a bad value or a missing binary is only a warning).
fn verify_unit(unit: &Path) {
    let out = run(Command::new("systemd-analyze").arg("verify").arg(unit));
    let text = describe(&out);
    assert!(out.status.success(), "systemd-analyze verify {} failed:\n{text}", unit.display());
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    let about_unit: Vec<&str> = text.lines().filter(|l| l.contains(&name)).collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify warns about the unit:\n{text}");
}

#[test]
fn unit_verifies_and_is_hardened() {
    let source = read(repo(UNIT_SOURCE));
    for directive in [
        "User=ece-o365-exporter",
        "ExecStart=/usr/bin/ece-o365-exporter --config.file=/etc/ece-o365-exporter/config.yaml $ARGS",
        "EnvironmentFile=-/etc/ece-o365-exporter/environment",
        "Restart=on-failure",
        "RestartSec=5s",
        // Soft and hard: the filter below (@resources) forbids raising it at run time.
        "LimitNOFILE=65536",
        "StateDirectory=ece-o365-exporter",
        "StateDirectoryMode=0700",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "WantedBy=multi-user.target",
    ] {
        assert!(source.lines().any(|l| l == directive), "{UNIT_SOURCE} lacks the line `{directive}`");
    }

    assert!(
        !source.contains("\nConfigurationDirectory="),
        "ConfigurationDirectory= bind-mounts /etc/ece-o365-exporter read-write, undoing ProtectSystem=strict"
    );

    // verify checks that ExecStart's binary exists: point it at this build's.
    assert_eq!(source.matches("ExecStart=/usr/bin/ece-o365-exporter ").count(), 1);
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("ece-o365-exporter.service");
    std::fs::write(
        &unit,
        source.replace("ExecStart=/usr/bin/ece-o365-exporter ", &format!("ExecStart={BIN} ")),
    )
    .unwrap();
    verify_unit(&unit);

    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--threshold={MAX_EXPOSURE}"))
        .arg(&unit));
    let text = describe(&out);
    let overall = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or("(no overall line)");
    eprintln!("systemd-analyze security: {overall}");
    assert!(
        out.status.success(),
        "exposure above {MAX_EXPOSURE}/100 (`{overall}`): a hardening directive was lost\n{text}"
    );
}

/// What the .deb test changed on the system, undone on drop, even after a
/// failed assertion: the package purged, the user it created removed, the
/// agent it started killed.
struct Installed {
    created_user: bool,
    purged: bool,
    agent: Option<Child>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        if !self.purged {
            let _ = run(Command::new("dpkg").args(["--purge", PKG]));
        }
        if self.created_user {
            let _ = run(Command::new("userdel").arg(USER));
        }
    }
}

fn dpkg_status() -> String {
    let out = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", PKG]));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn user_exists() -> bool {
    run(Command::new("getent").args(["passwd", USER])).status.success()
}

fn dpkg_install(deb: &Path) {
    run_ok(Command::new("dpkg").arg("-i").arg(deb).env("DEBIAN_FRONTEND", "noninteractive"));
    assert_eq!(dpkg_status(), "install ok installed");
}

/// The checks a config defines: `  - name: X` lines under `checks:`.
fn check_names(yaml: &str) -> Vec<String> {
    yaml.lines()
        .skip_while(|l| *l != "checks:")
        .filter_map(|l| l.strip_prefix("  - name: "))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_string())
        .collect()
}

/// Starts the installed binary as the service user on a free loopback port.
fn start_agent(installed: &mut Installed) -> SocketAddr {
    let mut child = Command::new("setpriv")
        .args(["--reuid", USER, "--regid", USER, "--init-groups", "--"])
        .args([INSTALLED_BIN, "--config.file", CONFIG, "--web.listen-address", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the installed binary with setpriv");
    let stderr = child.stderr.take().unwrap();
    installed.agent = Some(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut log = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("address=").nth(1) {
                let addr: String = addr.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
                let _ = tx.send(Ok(addr));
            }
            log.push(line);
        }
        let _ = tx.send(Err(log.join("\n")));
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(addr)) => addr.parse().unwrap_or_else(|e| panic!("listen address `{addr}`: {e}")),
        Ok(Err(log)) => panic!("the installed binary exited before listening:\n{log}"),
        Err(_) => panic!("the installed binary did not say where it listens within 30 s"),
    }
}

/// GET over HTTP/1.1: status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to the agent");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the response");
    test_support::agent::split_response(&raw)
}

/// SIGTERM, then the exit code (bounded wait; on a timeout `Installed`'s drop kills it).
fn terminate(installed: &mut Installed) -> Option<i32> {
    let agent = installed.agent.as_mut().expect("agent running");
    run_ok(Command::new("kill").arg("-TERM").arg(agent.id().to_string()));
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(status) = agent.try_wait().unwrap() {
            installed.agent = None;
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the installed binary did not stop within 15 s of SIGTERM");
}

fn deb() -> PathBuf {
    let arch = run_ok(Command::new("dpkg").arg("--print-architecture")).trim().to_string();
    let deb = package("ECE_O365_DEB", &format!("{PKG}_{VERSION}-1_{arch}.deb"), "packaging/build-deb.sh");
    assert!(
        is_root(),
        "installing the .deb needs root (CI runs as root): run `sudo cargo test --test packaging`"
    );
    deb
}

/// The unit under a real systemd: packaging/test-in-systemd.sh boots this
/// machine's root in a throwaway container (nothing is installed here).
#[test]
fn deb_service_runs_under_systemd_in_a_container() {
    let deb = deb();
    let _serial = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
    let out = run(Command::new(repo("packaging/test-in-systemd.sh")).arg(&deb));
    let text = describe(&out);
    assert!(out.status.success(), "the service under systemd failed:\n{text}");
    let checked = text.lines().filter(|l| l.starts_with("ok: ")).count();
    assert!(checked >= 19, "only {checked} checks ran under systemd:\n{text}");
}

#[test]
fn deb_installs_serves_metrics_keeps_an_edited_config_and_purges() {
    let deb = deb();
    let _serial = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
    match dpkg_status().as_str() {
        "" => {}
        status if Path::new(TEST_MARKER).exists() => {
            eprintln!("purging the leftover of an earlier run of this test ({status})");
            run_ok(Command::new("dpkg").args(["--purge", PKG]));
        }
        status => panic!("{PKG} is already on this machine ({status}) and not by this test: refusing to touch it"),
    }
    let mut installed = Installed {
        created_user: !user_exists(),
        purged: false,
        agent: None,
    };

    dpkg_install(&deb);

    // The files, their modes, and what they hold.
    for (path, want) in [
        (INSTALLED_BIN, 0o755),
        (INSTALLED_UNIT, 0o644),
        (CONFIG, 0o644),
        (ENVIRONMENT, 0o640),
        ("/usr/share/doc/ece-o365-exporter/README.md", 0o644),
        ("/usr/lib/sysusers.d/ece-o365-exporter.conf", 0o644),
        ("/usr/lib/tmpfiles.d/ece-o365-exporter.conf", 0o644),
    ] {
        assert_eq!(mode(path), want, "mode of {path}: {:o}", mode(path));
        assert_eq!(std::fs::metadata(path).unwrap().uid(), 0, "{path} is owned by root");
    }
    // The README's links into docs/ work in the installed copy too.
    let pages = doc_pages();
    assert!(pages.len() >= 8, "docs/ lost pages: {pages:?}");
    for page in &pages {
        assert_eq!(mode(page), 0o644, "mode of {page}: {:o}", mode(page));
    }
    assert_eq!(
        read(CONFIG),
        read(repo("config.example.yaml")),
        "the default config is config.example.yaml"
    );
    assert_eq!(read(ENVIRONMENT), read(repo("packaging/linux/environment")));
    assert_eq!(read(INSTALLED_UNIT), read(repo(UNIT_SOURCE)));
    let conffiles = run_ok(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}\n", PKG]));
    for path in [CONFIG, ENVIRONMENT] {
        assert!(conffiles.contains(&format!("{path} ")), "{path} is not a conffile:\n{conffiles}");
    }

    // postinst: the system user (sysusers.d) and the unit enabled (the start is skipped without systemd).
    let passwd = run_ok(Command::new("getent").args(["passwd", USER]));
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    assert_eq!(fields.get(5), Some(&STATE_DIR), "home of {USER}: {passwd}");
    assert!(fields.get(6).is_some_and(|s| s.ends_with("nologin")), "shell of {USER}: {passwd}");
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "{USER} is a system user: {passwd}");
    let link = std::fs::read_link(WANTS_LINK).unwrap_or_else(|e| panic!("the unit is not enabled ({WANTS_LINK}: {e})"));
    assert!(link.ends_with("ece-o365-exporter.service"), "{WANTS_LINK} -> {}", link.display());

    // The unit as installed, against the installed binary.
    verify_unit(Path::new(INSTALLED_UNIT));

    // The state directory, as postinst creates it when systemd runs.
    run_ok(Command::new("systemd-tmpfiles").args(["--create", "ece-o365-exporter.conf"]));
    let state = std::fs::metadata(STATE_DIR).expect("state directory");
    assert_eq!((state.uid(), state.mode() & 0o7777), (uid, 0o700), "owner and mode of {STATE_DIR}");
    std::fs::write(TEST_MARKER, "").unwrap();
    // The service user can write a token store there (what `token init` does, run as README says).
    run_ok(Command::new("runuser").args(["-u", USER, "--", "touch", "/var/lib/ece-o365-exporter/probe.token"]));

    // The installed binary, as the service user: the config is valid and /metrics serves it.
    let valid = run_ok(Command::new("runuser").args(["-u", USER, "--", INSTALLED_BIN, "config", "check", "--config.file", CONFIG]));
    assert!(valid.contains("valid"), "config check: {valid}");
    let addr = start_agent(&mut installed);
    let deadline = Instant::now() + Duration::from_secs(90);
    while get(addr, "/-/ready").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready within 90 s (every check runs once, failing without Internet)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, metrics) = get(addr, "/metrics");
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ece_o365_build_info{") && l.contains(&format!("version=\"{VERSION}\""))),
        "no build info of {VERSION}:\n{metrics}"
    );
    let checks = check_names(&read(CONFIG));
    assert!(!checks.is_empty(), "no checks found in {CONFIG}");
    for check in &checks {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("ece_o365_check_success{") && l.contains(&format!("check=\"{check}\""))),
            "no ece_o365_check_success for {check}:\n{metrics}"
        );
    }
    assert_eq!(terminate(&mut installed), Some(0), "exit code after SIGTERM");

    // Upgrade path: dpkg -i again keeps the admin's edits of both conffiles and the token stores.
    let edited_config = format!("{}# edited by tests/packaging.rs\n", read(CONFIG));
    let edited_environment = format!("{}ECE_O365_CLIENT_SECRET=edited-by-tests-packaging\n", read(ENVIRONMENT));
    std::fs::write(CONFIG, &edited_config).unwrap();
    std::fs::write(ENVIRONMENT, &edited_environment).unwrap();
    dpkg_install(&deb);
    assert_eq!(read(CONFIG), edited_config, "the edited config survives an upgrade");
    assert_eq!(read(ENVIRONMENT), edited_environment, "the edited environment survives an upgrade");
    assert_eq!(mode(ENVIRONMENT), 0o640);
    for leftover in [".dpkg-new", ".dpkg-dist", ".dpkg-old"] {
        assert!(
            !Path::new(&format!("{CONFIG}{leftover}")).exists(),
            "{CONFIG}{leftover} left behind"
        );
    }
    assert!(
        Path::new("/var/lib/ece-o365-exporter/probe.token").exists(),
        "token stores survive an upgrade"
    );
    assert!(std::fs::symlink_metadata(WANTS_LINK).is_ok(), "still enabled after an upgrade");

    // Purge: everything goes, the edited config and the token stores included.
    run_ok(Command::new("dpkg").args(["--purge", PKG]).env("DEBIAN_FRONTEND", "noninteractive"));
    installed.purged = true;
    assert_eq!(dpkg_status(), "");
    for gone in [INSTALLED_BIN, INSTALLED_UNIT, "/etc/ece-o365-exporter", STATE_DIR, WANTS_LINK] {
        assert!(std::fs::symlink_metadata(gone).is_err(), "{gone} is still there after purge");
    }
}

#[test]
fn rpm_holds_the_same_files_and_keeps_an_edited_config() {
    let arch = run_ok(Command::new("uname").arg("-m")).trim().to_string();
    let rpm = package("ECE_O365_RPM", &format!("{PKG}-{VERSION}-1.{arch}.rpm"), "packaging/build-rpm.sh");
    let listing = run(Command::new("rpm")
        .args([
            "-qp",
            "--qf",
            "[%{FILENAMES}\t%{FILEFLAGS:fflags}\t%{FILEMODES:perms}\t%{FILEUSERNAME}:%{FILEGROUPNAME}\n]",
        ])
        .arg(&rpm));
    assert!(
        listing.status.success(),
        "rpm -qp failed (apt-get install rpm):\n{}",
        describe(&listing)
    );
    let files: BTreeMap<String, String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| {
            let (name, rest) = l.split_once('\t').unwrap();
            (name.to_string(), rest.to_string())
        })
        .collect();
    let want: BTreeMap<String, String> = [
        (CONFIG, "cn\t-rw-r--r--"),
        (ENVIRONMENT, "cn\t-rw-r-----"),
        (INSTALLED_BIN, "\t-rwxr-xr-x"),
        (INSTALLED_UNIT, "\t-rw-r--r--"),
        ("/usr/lib/sysusers.d/ece-o365-exporter.conf", "\t-rw-r--r--"),
        ("/usr/lib/tmpfiles.d/ece-o365-exporter.conf", "\t-rw-r--r--"),
        ("/usr/share/doc/ece-o365-exporter/README.md", "d\t-rw-r--r--"),
    ]
    .into_iter()
    .map(|(path, flags)| (path.to_string(), format!("{flags}\troot:root")))
    .chain(doc_pages().into_iter().map(|page| (page, "d\t-rw-r--r--\troot:root".to_string())))
    .collect();
    assert_eq!(
        files, want,
        "files of the .rpm: name -> flags (c = %config, n = noreplace), mode, owner"
    );

    let scripts = run_ok(Command::new("rpm").args(["-qp", "--scripts"]).arg(&rpm));
    for needed in [
        "systemd-sysusers /usr/lib/sysusers.d/ece-o365-exporter.conf",
        "systemd-tmpfiles --create /usr/lib/tmpfiles.d/ece-o365-exporter.conf",
        "systemctl --no-reload preset ece-o365-exporter.service",
        "systemctl --no-reload disable --now ece-o365-exporter.service",
        "systemctl try-restart ece-o365-exporter.service",
    ] {
        assert!(scripts.contains(needed), "no `{needed}` in the scriptlets:\n{scripts}");
    }

    // %config(noreplace) for real: install into a private root (no scriptlets,
    // no dependencies: the root is empty), edit, reinstall, erase.
    let root = tempfile::tempdir().unwrap();
    let rpm_in_root = |args: &[&str]| {
        let mut cmd = Command::new("rpm");
        cmd.arg("--root").arg(root.path()).args(["--dbpath", "/var/lib/rpm"]).args(args);
        cmd
    };
    run_ok(&mut rpm_in_root(&["--initdb"]));
    run_ok(rpm_in_root(&["-i", "--nodeps", "--noscripts"]).arg(&rpm));
    let config = root.path().join(CONFIG.trim_start_matches('/'));
    assert_eq!(read(&config), read(repo("config.example.yaml")));
    let edited = format!("{}# edited by tests/packaging.rs\n", read(&config));
    std::fs::write(&config, &edited).unwrap();
    run_ok(rpm_in_root(&["-U", "--replacepkgs", "--nodeps", "--noscripts"]).arg(&rpm));
    assert_eq!(read(&config), edited, "the edited config survives a reinstall of the .rpm");
    assert!(
        !config.with_extension("yaml.rpmnew").exists(),
        "no .rpmnew for an unchanged packaged config"
    );
    run_ok(&mut rpm_in_root(&["-e", "--nodeps", "--noscripts", PKG]));
    assert!(!config.exists(), "erase removes the config");
    assert_eq!(
        read(config.with_extension("yaml.rpmsave")),
        edited,
        "erase keeps the edited config as .rpmsave"
    );
}

/// Where the packages install each page of `docs/`, from the repository's own list.
fn doc_pages() -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(repo("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("/usr/share/doc/ece-o365-exporter/docs/{name}"))
        .collect();
    pages.sort();
    pages
}
