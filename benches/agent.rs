//! The agent binary measured from outside, as it runs in production: against
//! Debian's `prometheus-blackbox-exporter` on the same work, and at scale.
//!
//! # Versus blackbox_exporter (default)
//!
//! One run starts the loopback TLS and SMTP servers (a child process, shared
//! by both sides and never measured), then for each scenario, one side after
//! the other:
//!
//! * **agent**: the real `ece-o365-exporter` binary with `rate x 2` checks of
//!   the scenario's kind at a 2 s interval, so its own scheduler runs `rate`
//!   checks per second. After a warm-up of three intervals, the window is
//!   measured with two scrapes of `/metrics` (`ece_o365_check_runs_total`).
//! * **blackbox**: `prometheus-blackbox-exporter` with the equivalent module,
//!   driven by `GET /probe` at the same `rate` (what Prometheus would do with
//!   one scrape job per target), each answer checked for `probe_success 1`.
//!
//! Work per check: `tls` is TCP connect + TLS handshake with certificate
//! verification (CA file, server name); `smtp` is greeting, EHLO, STARTTLS,
//! TLS handshake, EHLO, QUIT (blackbox: `query_response` with `starttls`).
//!
//! For each side: CPU milliseconds per check (`utime + stime` of that
//! process over the window, divided by the checks it finished), checks per
//! second finished, peak RSS (`VmHWM`, since the process started), failures.
//! Blackbox's CPU includes answering the `/probe` request: in production
//! every check costs it one such request, while the agent's runs cost no
//! request (its `/metrics` is scraped once per scrape interval for all checks).
//!
//! # Scale (`--scale N@INTERVAL[,N@INTERVAL...]`)
//!
//! The agent with N checks (half `tls`, half `smtp` STARTTLS) at INTERVAL,
//! against the same servers. After one interval of warm-up it measures over
//! one interval: checks finished per minute, failures, CPU share of one core,
//! RSS at the end and peak RSS, and the wall time of `GET /metrics` (five
//! scrapes spread over the window; median and max) with the body size.
//!
//! # Idle (`--idle SECONDS`)
//!
//! The agent on the project's `config.example.yaml` (real Office 365 names;
//! on a machine without a resolver its checks fail at DNS), three times: after
//! SECONDS and one scrape, its RSS (`VmRSS`, of it `RssAnon` and `RssFile`)
//! and its proportional set size (`Pss` in `smaps_rollup`, shared libraries
//! counted once for all the processes that map them).
//!
//! # Running
//!
//! ```text
//! cargo bench --bench agent                                 # versus blackbox, 100 checks/s, 20 s windows
//! cargo bench --bench agent -- --quick                      # 50 checks/s, 6 s windows
//! cargo bench --bench agent -- --rate 200 --seconds 30
//! cargo bench --bench agent -- --scale 1000@6s,10000@60s    # the scale run
//! cargo bench --bench agent -- --idle 30                    # idle memory on the example config
//! ```
//!
//! `ECE_BENCH_AGENT_WRAPPER="heaptrack -o /tmp/agent"` runs the agent under a
//! profiler (the CPU and RSS columns are then the wrapper process's).
//!
//! Needs `prometheus-blackbox-exporter` for the versus run (Debian package of
//! that name; `scripts/install-test-peers.sh` installs it). Without `--bench`
//! (as `cargo test --benches` runs it) it does a 2-second smoke run. Nothing
//! here asserts on timing; it exits non-zero only when checks fail, which
//! means the bench is broken. Linux only (reads `/proc`).
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The agent under test, built by cargo for this bench (release profile).
const AGENT: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");
const BLACKBOX: &str = "prometheus-blackbox-exporter";
/// Interval of the agent's checks in the versus run.
const VERSUS_INTERVAL_S: u64 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    common::serve_if_asked(&args);
    let value = |name: &str| -> Option<String> { args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()) };
    let number = |name: &str| value(name).map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{name} needs a number, got `{v}`")));
    let has = |name: &str| args.iter().any(|a| a == name);

    let dir = tempfile::Builder::new()
        .prefix("ece-o365-bench-agent-")
        .tempdir()
        .expect("cannot create a temporary directory");
    common::certs::write_tls_files(dir.path());
    let servers = common::ServerChild::spawn(dir.path());
    let env = Env {
        dir: dir.path().to_path_buf(),
        tls_port: servers.ports.tls,
        smtp_port: servers.ports.smtp,
        hz: common::clock_ticks_per_second(),
    };
    println!(
        "ece-o365-exporter agent bench: {} CPU(s), agent {AGENT}, server child pid {} (not measured)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        servers.child.id()
    );

    let failed = if let Some(spec) = value("--scale") {
        scale(&env, &spec)
    } else if let Some(seconds) = number("--idle") {
        idle(&env, Duration::from_secs(seconds));
        0
    } else {
        let (rate, seconds) = if has("--quick") {
            (50, 6)
        } else if has("--bench") {
            (100, 20)
        } else {
            println!("smoke run (no --bench given)");
            (20, 2)
        };
        versus(
            &env,
            number("--rate").unwrap_or(rate).max(1),
            number("--seconds").unwrap_or(seconds).max(1),
        )
    };
    drop(servers);
    if failed > 0 {
        eprintln!("{failed} check run(s) FAILED; the bench is broken (see the table)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Where the servers and files are.
struct Env {
    dir: PathBuf,
    tls_port: u16,
    smtp_port: u16,
    hz: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Work {
    Tls,
    Smtp,
}

impl Work {
    fn label(self) -> &'static str {
        match self {
            Work::Tls => "tls handshake",
            Work::Smtp => "smtp starttls",
        }
    }

    /// One agent check of this kind, as YAML list entry.
    fn agent_check(self, env: &Env, name: &str) -> String {
        let (kind, port, extra) = match self {
            Work::Tls => ("tls", env.tls_port, ""),
            Work::Smtp => ("smtp", env.smtp_port, "    tls: starttls\n"),
        };
        format!(
            "  - name: {name}\n    kind: {kind}\n    target: 127.0.0.1:{port}\n{extra}    server_name: localhost\n    ca_file: ca.pem\n"
        )
    }
}

// ---------------------------------------------------------------------------
// Processes measured from outside.
// ---------------------------------------------------------------------------

/// A measured child process, killed and reaped when dropped.
struct Measured {
    child: Child,
    proc_dir: PathBuf,
    addr: SocketAddr,
    /// Started in its own process group through a wrapper: stopped with
    /// SIGTERM to the group, so the agent shuts down and the wrapper (a
    /// profiler) writes its report.
    wrapped: bool,
}

impl Measured {
    fn start(program: &str, args: &[String], addr: SocketAddr, log: &Path) -> Self {
        Self::spawn(Command::new(program).args(args), false, program, addr, log)
    }

    fn start_wrapped(program: &str, args: &[String], addr: SocketAddr, log: &Path) -> Self {
        use std::os::unix::process::CommandExt as _;
        Self::spawn(Command::new(program).args(args).process_group(0), true, program, addr, log)
    }

    fn spawn(command: &mut Command, wrapped: bool, program: &str, addr: SocketAddr, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let proc_dir = PathBuf::from(format!("/proc/{}", child.id()));
        let mut me = Measured {
            child,
            proc_dir,
            addr,
            wrapped,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(addr, "/metrics").is_err() {
            if let Ok(Some(status)) = me.child.try_wait() {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                panic!("{program} exited ({status}) before serving; its log:\n{text}");
            }
            assert!(Instant::now() < deadline, "{program} did not serve {addr} within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        me
    }

    fn cpu_ticks(&self) -> u64 {
        common::stat_ticks(&self.proc_dir).expect("cannot read the measured process's CPU time")
    }

    fn kib(&self, field: &str) -> u64 {
        common::status_kib(&self.proc_dir, field).unwrap_or(0)
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        if self.wrapped {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            let _ = self.child.wait();
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address nobody listens on (bound, then released).
fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
    l.local_addr().expect("local address")
}

/// `GET path` over HTTP/1.1 with `Connection: close`: the body, or why not.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    timed_get(addr, path).map(|(body, _)| body)
}

/// `GET path`, and the wall time from connecting to the last byte read
/// (what a scraper waits; the bench's own parsing of the body is not in it).
fn timed_get(addr: SocketAddr, path: &str) -> std::io::Result<(String, Duration)> {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::with_capacity(1 << 20);
    s.read_to_end(&mut raw)?;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(std::io::Error::other("no end of HTTP headers"));
    };
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(head.lines().next().unwrap_or("").to_string()));
    }
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Ok((dechunk(body), took));
    }
    Ok((body.to_string(), took))
}

/// Joins the chunks of a chunked body (sizes in hex on their own lines).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Sum of the samples of a metric family in a text exposition.
fn sum_of(exposition: &str, metric: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| l.strip_prefix(metric).is_some_and(|r| r.starts_with('{') || r.starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Finished and failed runs so far, from the agent's `/metrics`.
fn agent_runs(agent: &Measured) -> (f64, f64) {
    let text = http_get(agent.addr, "/metrics").expect("cannot scrape the agent");
    (
        sum_of(&text, "ece_o365_check_runs_total"),
        sum_of(&text, "ece_o365_check_failures_total"),
    )
}

fn start_agent(env: &Env, name: &str, yaml: &str) -> Measured {
    let config = env.dir.join(format!("{name}.yaml"));
    std::fs::write(&config, yaml).expect("cannot write the agent config");
    let addr = free_addr();
    let args = [
        "--config.file".to_string(),
        config.display().to_string(),
        "--web.listen-address".into(),
        addr.to_string(),
        "--log.level".into(),
        "error".into(),
    ];
    let log = env.dir.join(format!("{name}.log"));
    // A heap profiler around the agent, e.g. `ECE_BENCH_AGENT_WRAPPER="heaptrack -o /tmp/agent"`:
    // the table's CPU and RSS figures are then the wrapper's, not the agent's.
    match std::env::var("ECE_BENCH_AGENT_WRAPPER") {
        Ok(wrapper) if !wrapper.trim().is_empty() => {
            let mut words = wrapper.split_whitespace().map(str::to_string);
            let program = words.next().unwrap_or_default();
            let wrapped: Vec<String> = words.chain(std::iter::once(AGENT.to_string())).chain(args).collect();
            Measured::start_wrapped(&program, &wrapped, addr, &log)
        }
        _ => Measured::start(AGENT, &args, addr, &log),
    }
}

// ---------------------------------------------------------------------------
// Versus blackbox_exporter.
// ---------------------------------------------------------------------------

/// What one side measured in one scenario.
struct Side {
    name: &'static str,
    checks: f64,
    failed: f64,
    wall: Duration,
    cpu_ticks: u64,
    peak_rss_kib: u64,
}

impl Side {
    fn cpu_ms_per_check(&self, hz: u64) -> f64 {
        self.cpu_ticks as f64 * 1e3 / hz as f64 / self.checks.max(1.0)
    }
}

fn versus(env: &Env, rate: u64, seconds: u64) -> u64 {
    let blackbox_config = env.dir.join("blackbox.yml");
    std::fs::write(&blackbox_config, blackbox_yaml(&env.dir)).expect("cannot write blackbox.yml");
    println!(
        "versus blackbox_exporter: {rate} checks/s offered to each side, {seconds} s measured per side; CPU from /proc/<pid>/stat ({} ticks/s)",
        env.hz
    );
    println!();
    println!(
        "{:<15} {:<9} {:>7} {:>8} {:>9} {:>13} {:>13}",
        "scenario", "side", "checks", "failed", "checks/s", "cpu_ms/check", "peak_rss_mib"
    );
    let mut failed = 0u64;
    for work in [Work::Tls, Work::Smtp] {
        let ours = agent_side(env, work, rate, seconds);
        let theirs = blackbox_side(env, &blackbox_config, work, rate, seconds);
        for s in [&ours, &theirs] {
            failed += s.failed as u64;
            println!(
                "{:<15} {:<9} {:>7.0} {:>8.0} {:>9.1} {:>13.3} {:>13.1}",
                work.label(),
                s.name,
                s.checks,
                s.failed,
                s.checks / s.wall.as_secs_f64(),
                s.cpu_ms_per_check(env.hz),
                s.peak_rss_kib as f64 / 1024.0
            );
        }
        println!(
            "{:<15} {:<9} agent/blackbox: CPU per check {:.2}, peak RSS {:.2}",
            work.label(),
            "ratio",
            ours.cpu_ms_per_check(env.hz) / theirs.cpu_ms_per_check(env.hz).max(f64::MIN_POSITIVE),
            ours.peak_rss_kib as f64 / (theirs.peak_rss_kib as f64).max(1.0)
        );
    }
    failed
}

fn agent_side(env: &Env, work: Work, rate: u64, seconds: u64) -> Side {
    let count = rate * VERSUS_INTERVAL_S;
    let mut yaml = format!("global: {{ interval: {VERSUS_INTERVAL_S}s, timeout: {VERSUS_INTERVAL_S}s }}\nchecks:\n");
    for i in 0..count {
        yaml.push_str(&work.agent_check(env, &format!("c{i}")));
    }
    let agent = start_agent(env, "versus", &yaml);
    std::thread::sleep(Duration::from_secs(3 * VERSUS_INTERVAL_S));
    let (runs0, failed0) = agent_runs(&agent);
    let cpu0 = agent.cpu_ticks();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu1 = agent.cpu_ticks();
    let wall = started.elapsed();
    let (runs1, failed1) = agent_runs(&agent);
    Side {
        name: "agent",
        checks: runs1 - runs0,
        failed: failed1 - failed0,
        wall,
        cpu_ticks: cpu1 - cpu0,
        peak_rss_kib: agent.kib("VmHWM"),
    }
}

/// The two modules, doing what the agent's `tls` and `smtp` checks do.
fn blackbox_yaml(dir: &Path) -> String {
    let ca = dir.join("ca.pem");
    let tls_config = format!(
        "      tls_config:\n        ca_file: {}\n        server_name: localhost\n",
        ca.display()
    );
    format!(
        "modules:\n  tls:\n    prober: tcp\n    timeout: {VERSUS_INTERVAL_S}s\n    tcp:\n      preferred_ip_protocol: ip4\n      tls: true\n{tls_config}\
         \x20 smtp:\n    prober: tcp\n    timeout: {VERSUS_INTERVAL_S}s\n    tcp:\n      preferred_ip_protocol: ip4\n{tls_config}\
         \x20     query_response:\n\
         \x20       - expect: \"^220 \"\n\
         \x20       - send: \"EHLO bench.example\\r\"\n\
         \x20       - expect: \"^250 \"\n\
         \x20       - send: \"STARTTLS\\r\"\n\
         \x20       - expect: \"^220 \"\n\
         \x20       - starttls: true\n\
         \x20       - send: \"EHLO bench.example\\r\"\n\
         \x20       - expect: \"^250 \"\n\
         \x20       - send: \"QUIT\\r\"\n\
         \x20       - expect: \"^221 \"\n"
    )
}

fn blackbox_side(env: &Env, config: &Path, work: Work, rate: u64, seconds: u64) -> Side {
    let addr = free_addr();
    let args = [
        format!("--config.file={}", config.display()),
        format!("--web.listen-address={addr}"),
        "--log.level=error".into(),
    ];
    let blackbox = Measured::start(BLACKBOX, &args, addr, &env.dir.join("blackbox.log"));
    let (module, port) = match work {
        Work::Tls => ("tls", env.tls_port),
        Work::Smtp => ("smtp", env.smtp_port),
    };
    let path = format!("/probe?module={module}&target=127.0.0.1:{port}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start tokio");
    // Warm-up as long as the agent's, then the measured window.
    let warm = runtime.block_on(drive(addr, &path, rate, 3 * VERSUS_INTERVAL_S));
    let cpu0 = blackbox.cpu_ticks();
    let started = Instant::now();
    let (ok, failed) = runtime.block_on(drive(addr, &path, rate, seconds));
    let wall = started.elapsed();
    let cpu1 = blackbox.cpu_ticks();
    if warm.1 > 0 {
        eprintln!("blackbox: {} warm-up probe(s) failed (not counted, as for the agent)", warm.1);
    }
    Side {
        name: "blackbox",
        checks: (ok + failed) as f64,
        failed: failed as f64,
        wall,
        cpu_ticks: cpu1 - cpu0,
        peak_rss_kib: blackbox.kib("VmHWM"),
    }
}

/// Sends `GET path` `rate` times a second for `seconds`, each on its own
/// task; waits for every answer. Returns (succeeded, failed).
async fn drive(addr: SocketAddr, path: &str, rate: u64, seconds: u64) -> (u64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..rate * seconds {
        tick.tick().await;
        let (ok, failed, path) = (ok.clone(), failed.clone(), path.to_string());
        set.spawn(async move {
            let good = probe(addr, &path).await.is_ok_and(|body| body.contains("\nprobe_success 1"));
            if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
        });
        while set.try_join_next().is_some() {}
    }
    while set.join_next().await.is_some() {}
    (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

async fn probe(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::other("probe answer timed out"))??;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

// ---------------------------------------------------------------------------
// Idle.
// ---------------------------------------------------------------------------

fn idle(env: &Env, wait: Duration) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    let yaml = std::fs::read_to_string(&example).unwrap_or_else(|e| panic!("{}: {e}", example.display()));
    println!(
        "idle: config.example.yaml, {} s then one scrape, three fresh agents",
        wait.as_secs()
    );
    println!();
    println!(
        "{:>4} {:>8} {:>12} {:>12} {:>8}",
        "run", "rss_mib", "anon_mib", "file_mib", "pss_mib"
    );
    for run in 1..=3 {
        let agent = start_agent(env, "idle", &yaml);
        std::thread::sleep(wait);
        http_get(agent.addr, "/metrics").expect("cannot scrape the agent");
        std::thread::sleep(Duration::from_secs(1));
        let pss = common::proc_kib(&agent.proc_dir, "smaps_rollup", "Pss").unwrap_or(0);
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "{run:>4} {:>8.2} {:>12.2} {:>12.2} {:>8.2}",
            mib(agent.kib("VmRSS")),
            mib(agent.kib("RssAnon")),
            mib(agent.kib("RssFile")),
            mib(pss)
        );
    }
}

// ---------------------------------------------------------------------------
// Scale.
// ---------------------------------------------------------------------------

fn scale(env: &Env, spec: &str) -> u64 {
    let points: Vec<(u64, Duration)> = spec
        .split(',')
        .map(|p| {
            let (n, i) = p.split_once('@').unwrap_or_else(|| panic!("--scale wants N@INTERVAL, got `{p}`"));
            let n = n.parse().unwrap_or_else(|_| panic!("--scale: `{n}` is not a number"));
            let i = humantime::parse_duration(i).unwrap_or_else(|e| panic!("--scale: `{i}`: {e}"));
            (n, i)
        })
        .collect();
    println!("scale: half tls, half smtp STARTTLS checks; warm-up one interval, then measured over one interval");
    println!();
    println!(
        "{:>7} {:>9} {:>10} {:>7} {:>10} {:>11} {:>13} {:>17} {:>11}",
        "checks", "interval", "checks/min", "failed", "cpu_share", "rss_mib", "peak_rss_mib", "metrics_ms p50/max", "metrics_kib"
    );
    let mut failed = 0u64;
    for (n, interval) in points {
        let secs = interval.as_secs().max(1);
        let timeout = secs.min(10);
        let mut yaml = format!("global: {{ interval: {secs}s, timeout: {timeout}s }}\nchecks:\n");
        for i in 0..n {
            let work = if i % 2 == 0 { Work::Tls } else { Work::Smtp };
            yaml.push_str(&work.agent_check(env, &format!("c{i}")));
        }
        let agent = start_agent(env, "scale", &yaml);
        std::thread::sleep(interval);
        let (runs0, failed0) = agent_runs(&agent);
        let cpu0 = agent.cpu_ticks();
        let started = Instant::now();
        // Five timed scrapes spread over the window.
        let mut scrapes = Vec::new();
        let mut body_len = 0;
        for k in 1..=5u32 {
            let due = interval * k / 6;
            std::thread::sleep(due.saturating_sub(started.elapsed()));
            let (body, took) = timed_get(agent.addr, "/metrics").expect("cannot scrape the agent");
            scrapes.push(took);
            body_len = body.len();
        }
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
        let cpu1 = agent.cpu_ticks();
        let wall = started.elapsed();
        let (runs1, failed1) = agent_runs(&agent);
        scrapes.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let window_failed = failed1 - failed0;
        failed += window_failed as u64;
        println!(
            "{:>7} {:>9} {:>10.0} {:>7.0} {:>10.3} {:>11.1} {:>13.1} {:>17} {:>11.0}",
            n,
            humantime::format_duration(interval).to_string(),
            (runs1 - runs0) * 60.0 / wall.as_secs_f64(),
            window_failed,
            (cpu1 - cpu0) as f64 / env.hz as f64 / wall.as_secs_f64(),
            agent.kib("VmRSS") as f64 / 1024.0,
            agent.kib("VmHWM") as f64 / 1024.0,
            format!("{:.1}/{:.1}", ms(scrapes[2]), ms(scrapes[4])),
            body_len as f64 / 1024.0
        );
    }
    println!(
        "cpu_share: agent CPU seconds per wall second (1.0 = one core); metrics_ms: GET /metrics from connect to last byte, scrapes included in cpu_share"
    );
    failed
}
