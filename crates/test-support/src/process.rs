//! The real peers' processes (Dovecot, Postfix): spawned as process-group
//! leaders, waited for until every port answers with this instance's
//! greeting, and stopped with their whole group (SIGTERM, then SIGKILL) when
//! dropped, until their ports are closed. Plus the small file, user and
//! config-value helpers the peers share.
//!
//! Owns no server's configuration (that is [`crate::dovecot`]'s and
//! [`crate::postfix`]'s). Signals and ids go through rustix's safe wrappers:
//! the workspace forbids `unsafe`.

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// How long a peer may take to accept connections on all its ports.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer may take to exit after SIGTERM before it gets SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(3);
/// Attempts with fresh ports when another process grabbed one of ours.
pub(crate) const START_ATTEMPTS: usize = 3;

const SIGTERM: Signal = Signal::TERM;
const SIGKILL: Signal = Signal::KILL;

pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

pub(crate) fn egid() -> u32 {
    rustix::process::getegid().as_raw()
}

/// Sends `sig` to a process (`pid` > 0) or, negated, to a process group;
/// errors (ESRCH) are irrelevant here.
fn kill(pid: i32, sig: Signal) {
    let _ = match Pid::from_raw(pid.abs()) {
        Some(p) if pid > 0 => rustix::process::kill_process(p, sig),
        Some(p) => rustix::process::kill_process_group(p, sig),
        None => Ok(()),
    };
}

/// A server master process that leads its own process group.
pub(crate) struct PeerProcess {
    pub(crate) child: Child,
    /// TCP ports that must be closed once stop() returns.
    ports: Vec<u16>,
    /// Kill the workers before the master so that the master reaps them
    /// (Postfix's master exits on SIGTERM without reaping its children;
    /// Dovecot's master reaps them itself and would respawn killed ones).
    kill_workers_first: bool,
    stopped: bool,
}

impl PeerProcess {
    pub(crate) fn new(child: Child, ports: Vec<u16>, kill_workers_first: bool) -> Self {
        PeerProcess {
            child,
            ports,
            kill_workers_first,
            stopped: false,
        }
    }

    fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal_group(&self, sig: Signal) {
        if self.pgid() > 1 {
            kill(-self.pgid(), sig);
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM to the whole process group, bounded wait, then SIGKILL to the
    /// group; always reaps the master, then waits (bounded) until the
    /// listening ports are closed.
    pub(crate) fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.kill_workers_first && self.running() {
            let deadline = Instant::now() + STOP_GRACE;
            loop {
                let workers: Vec<i32> = group_members(self.pgid()).into_iter().filter(|&p| p != self.pgid()).collect();
                if workers.is_empty() || Instant::now() > deadline || !self.running() {
                    break;
                }
                for pid in workers {
                    kill(pid, SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if self.running() {
            self.signal_group(SIGTERM);
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline && self.running() {
                std::thread::sleep(Duration::from_millis(5));
            }
            if self.running() {
                self.signal_group(SIGKILL);
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        // Sweep stragglers (workers that inherited the listening sockets);
        // if any are left, init reaps them.
        self.signal_group(SIGKILL);
        let deadline = Instant::now() + STOP_GRACE;
        for &port in &self.ports {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            while Instant::now() < deadline && TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Processes (including zombies) whose process group is `pgid`, from /proc.
pub(crate) fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // "pid (comm) state ppid pgrp ..."; comm may contain spaces/parens.
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i32>().ok())
                    == Some(pgid)
            })
        })
        .collect()
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until each port accepts a connection and, where a greeting prefix is
/// given, sends a first line starting with it.
pub(crate) fn wait_ready(proc: &mut PeerProcess, checks: &[(u16, Option<&str>)], started: Instant) -> io::Result<()> {
    let deadline = started + START_TIMEOUT;
    for &(port, greeting) in checks {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if let Some(status) = proc.child.try_wait()? {
                return Err(io::Error::other(format!("server exited early with {status}")));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("port {port} not ready after {START_TIMEOUT:?}"),
                ));
            }
            let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let Some(mark) = greeting else { break };
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut line = String::new();
            match BufReader::new(&stream).read_line(&mut line) {
                Ok(_) if line.contains(mark) => break,
                Ok(_) if line.is_empty() => {
                    // Closed before greeting: service still starting.
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(_) => {
                    return Err(io::Error::other(format!("port {port}: unexpected greeting {:?}", line.trim_end())));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    Ok(())
}

/// This instance's mark in its greeting: its private directory's name. The
/// ports are found free, released, then bound by the server, so another
/// test's server may take one in between; a greeting without the mark is
/// someone else's, and the start is tried again on other ports.
pub(crate) fn instance_mark(root: &Path) -> String {
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("ece-test-peer-{}", name.trim_start_matches('.'))
}

/// Searches `PATH`, then /usr/sbin, /usr/bin, /sbin, /bin, /usr/local/sbin.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

pub(crate) fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Lets unprivileged server processes (nobody, postfix) pass through `dir`;
/// checks that its ancestors already allow that.
pub(crate) fn make_traversable(dir: &Path) -> io::Result<()> {
    let mode = fs::metadata(dir)?.permissions().mode();
    fs::set_permissions(dir, fs::Permissions::from_mode((mode & 0o7777) | 0o011))?;
    for a in dir.ancestors().skip(1) {
        if fs::metadata(a)?.permissions().mode() & 0o001 == 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not traversable by other users; the peers' unprivileged \
                     processes could not reach {}",
                    a.display(),
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_config_path(p: &Path) -> io::Result<()> {
    check_config_value(&p.to_string_lossy())
}

pub(crate) fn check_config_value(s: &str) -> io::Result<()> {
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'#,$%{}<>\\".contains(c))
    {
        return Err(invalid(format!("unsupported character in config value {s:?}")));
    }
    Ok(())
}

pub(crate) fn write_file(p: &Path, content: &str, mode: u32) -> io::Result<()> {
    let mut f = fs::File::create(p)?;
    f.write_all(content.as_bytes())?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
}

/// Why a peer did not start: the error, then the tails of its stderr and
/// its log. `retry` says whether another free port may help (the port was
/// taken between choosing and binding it, or another test's server
/// answered), judged on that text.
pub(crate) fn start_failure(peer: &str, e: &std::io::Error, stderr: &Path, log: &Path, retry_on: &[&str]) -> (std::io::Error, bool) {
    let diag = format!(
        "{peer} failed to start: {e}\n--- {} ---\n{}\n--- {} ---\n{}",
        stderr.display(),
        tail(stderr, 20),
        log.display(),
        tail(log, 30)
    );
    let retry = retry_on.iter().any(|needle| diag.contains(needle));
    (std::io::Error::new(e.kind(), diag), retry)
}

pub(crate) fn tail(p: &Path, lines: usize) -> String {
    match fs::read(p) {
        Ok(b) => {
            let s = String::from_utf8_lossy(&b);
            let v: Vec<&str> = s.lines().collect();
            v[v.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read: {e})"),
    }
}

pub(crate) fn not_found(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, msg.to_string())
}

pub(crate) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Field `idx` of the /etc/passwd or /etc/group line whose first field is `name`
/// (or, for `by_id`, whose third field is the given id).
pub(crate) fn db_field(file: &str, key_idx: usize, key: &str, idx: usize) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(key_idx) == Some(&key))
        .and_then(|f| f.get(idx).map(|s| s.to_string()))
}

pub(crate) fn user_uid(name: &str) -> Option<u32> {
    db_field("/etc/passwd", 0, name, 2)?.parse().ok()
}

pub(crate) fn user_gid(name: &str) -> Option<u32> {
    db_field("/etc/passwd", 0, name, 3)?.parse().ok()
}

pub(crate) fn group_gid(name: &str) -> Option<u32> {
    db_field("/etc/group", 0, name, 2)?.parse().ok()
}

pub(crate) fn group_name(gid: u32) -> Option<String> {
    db_field("/etc/group", 2, &gid.to_string(), 0)
}

pub(crate) fn user_name(uid: u32) -> Option<String> {
    db_field("/etc/passwd", 2, &uid.to_string(), 0).or_else(|| std::env::var("USER").ok())
}
