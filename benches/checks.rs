//! Client-side cost of the `tls` and `smtp` (STARTTLS) checks.
//!
//! # What it measures
//!
//! Many runs of a `kind: tls` check and a `kind: smtp` / `tls: starttls`
//! check, built from YAML and run with the crate's public API
//! (`Config::from_yaml`, `build_all`, `run_check`) against servers on
//! 127.0.0.1. For each scenario it prints: checks run, concurrency, wall time,
//! checks per second, **CPU milliseconds per check of the client process
//! only** (the agent's work), mean/p50/p99 of the check's own `duration`, the
//! share of TLS handshakes the server resumed, and the client's peak RSS.
//!
//! The servers run in a *child process* (this binary re-executed with
//! `--serve-bench-servers <dir>`), so their CPU never shows up in the client's
//! numbers. The child serves four ports:
//!
//! * TLS and SMTP servers that do **not** offer resumption: every check does a
//!   full handshake with certificate verification (the worst case);
//! * the same two with TLS 1.3 session tickets enabled, as public servers
//!   usually have. (The `tls` check closes right after its handshake, before
//!   the server's tickets arrive, so it never resumes; the `resumed` column
//!   shows what actually happened.)
//!
//! The certificates are made fresh by `rcgen` on each run: a CA and an
//! ECDSA P-256 leaf for `localhost`/127.0.0.1 (Exchange Online serves RSA
//! chains, so absolute numbers there differ somewhat).
//!
//! CPU time is the sum over the client's threads of
//! `/proc/self/task/*/schedstat` (nanoseconds on CPU), falling back to
//! `utime + stime` from `/proc/self/stat` (clock ticks). Peak RSS is `VmHWM`
//! from `/proc/self/status`, reset before each scenario through
//! `/proc/self/clear_refs` when the kernel allows it. Linux only.
//!
//! Nothing here asserts on timing. The process exits non-zero only when a
//! check fails, which would mean the bench itself is broken.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench checks              # 2000 checks per scenario, 200 for latency
//! cargo bench --bench checks -- --quick   # 200 per scenario, 100 for latency
//! cargo bench --bench checks -- --checks 5000 --concurrency 64
//! ```
//!
//! Run without `--bench` (as `cargo test --benches` does) it only does a
//! tiny smoke run. Other arguments are ignored. On a busy machine wall time
//! and checks/s are noisy; CPU per check is the steadier number.

#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ece_o365_exporter::checks::{ScheduledCheck, build_all, run_check};
use ece_o365_exporter::config::Config;

/// The argument that turns this binary into the server child.
const SERVE_ARG: &str = "--serve-bench-servers";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == SERVE_ARG) {
        let dir = args.get(i + 1).expect("--serve-bench-servers needs a directory");
        server::serve(Path::new(dir));
    }
    client::main(&args)
}

// ---------------------------------------------------------------------------
// Client side: the process being measured.
// ---------------------------------------------------------------------------
mod client {
    use super::*;
    use tokio::sync::Semaphore;
    use tokio::task::JoinSet;

    /// How much to run, from the command line.
    struct Options {
        mode: &'static str,
        /// Checks per throughput scenario.
        checks: usize,
        /// Checks per latency (concurrency 1) scenario.
        latency_checks: usize,
        concurrency: usize,
        /// Unmeasured runs before each scenario (connections, caches, allocator).
        warmup: usize,
    }

    /// Hand-rolled parsing: cargo passes `--bench` (and maybe a filter) to a
    /// `harness = false` bench, so unknown arguments are ignored.
    fn parse_options(args: &[String]) -> Options {
        let value = |name: &str| -> Option<usize> {
            let i = args.iter().position(|a| a == name)?;
            let v = args.get(i + 1).unwrap_or_else(|| panic!("{name} needs a number"));
            Some(v.parse().unwrap_or_else(|_| panic!("{name} needs a number, got `{v}`")))
        };
        let has = |name: &str| args.iter().any(|a| a == name);
        let (mode, checks, warmup) = if has("--quick") {
            ("quick", 200, 50)
        } else if has("--bench") {
            ("full", 2000, 50)
        } else {
            ("smoke (no --bench given)", 20, 5)
        };
        let checks = value("--checks").unwrap_or(checks).max(1);
        let latency_checks = if mode.starts_with("smoke") {
            checks
        } else {
            (checks / 10).max(100)
        };
        let concurrency = value("--concurrency").unwrap_or(32).max(1);
        Options {
            mode,
            checks,
            latency_checks,
            concurrency,
            warmup,
        }
    }

    /// One line of the table.
    struct Scenario {
        label: &'static str,
        /// Index into the checks built from [`bench_yaml`].
        check: usize,
        checks: usize,
        concurrency: usize,
    }

    /// What one scenario measured.
    struct Row {
        label: &'static str,
        checks: usize,
        concurrency: usize,
        wall: Duration,
        cpu_ns: Option<u64>,
        /// Failed runs in the measured batch (latency is over the others).
        failed: usize,
        durations: Vec<Duration>,
        resumed: Option<(u64, u64)>,
        peak_rss_kib: Option<u64>,
    }

    /// Outcomes of a batch of runs.
    #[derive(Default)]
    struct Batch {
        durations: Vec<Duration>,
        failed: usize,
        /// The first few failure messages, for the report.
        examples: Vec<String>,
    }

    /// The checks: index 0/1 full handshakes, 2/3 with resumption offered.
    fn bench_yaml(p: &super::Ports) -> String {
        let mut yaml = String::from("global: { interval: 60s, timeout: 10s }\nchecks:\n");
        let entries = [
            ("bench-tls", "tls", p.tls, ""),
            ("bench-smtp", "smtp", p.smtp, "    tls: starttls\n"),
            ("bench-tls-resumption", "tls", p.tls_resumption, ""),
            ("bench-smtp-resumption", "smtp", p.smtp_resumption, "    tls: starttls\n"),
        ];
        for (name, kind, port, extra) in entries {
            yaml.push_str(&format!(
                "  - name: {name}\n    kind: {kind}\n    target: 127.0.0.1:{port}\n{extra}    server_name: localhost\n    ca_file: ca.pem\n"
            ));
        }
        yaml
    }

    pub fn main(args: &[String]) -> ExitCode {
        let opts = parse_options(args);
        let dir = tempfile::Builder::new()
            .prefix("ece-o365-bench-")
            .tempdir()
            .expect("cannot create a temporary directory");
        super::certs::write_tls_files(dir.path());
        // Killed (and reaped) when dropped, also on panic.
        let mut servers = super::ServerChild::spawn(dir.path());

        let yaml_path = dir.path().join("bench.yaml");
        let yaml = bench_yaml(&servers.ports);
        let config = Config::from_yaml(&yaml_path, &yaml).unwrap_or_else(|e| panic!("bench config rejected: {e}\n{yaml}"));
        let checks = build_all(&config).unwrap_or_else(|e| panic!("cannot build the bench checks: {e}"));
        assert_eq!(checks.len(), 4, "expected four checks from the bench config");

        let c = opts.concurrency;
        let scenarios = [
            Scenario {
                label: "tls handshake",
                check: 0,
                checks: opts.checks,
                concurrency: c,
            },
            Scenario {
                label: "smtp starttls",
                check: 1,
                checks: opts.checks,
                concurrency: c,
            },
            Scenario {
                label: "tls, tickets offered",
                check: 2,
                checks: opts.checks,
                concurrency: c,
            },
            Scenario {
                label: "smtp, tickets offered",
                check: 3,
                checks: opts.checks,
                concurrency: c,
            },
            Scenario {
                label: "tls handshake",
                check: 0,
                checks: opts.latency_checks,
                concurrency: 1,
            },
            Scenario {
                label: "smtp starttls",
                check: 1,
                checks: opts.latency_checks,
                concurrency: 1,
            },
        ];

        let cpu = CpuClock::detect();
        let rss_resets = reset_peak_rss();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        println!(
            "ece-o365-exporter check bench: mode {}, {} warm-up runs per scenario, {cores} CPU(s), server child pid {}",
            opts.mode,
            opts.warmup,
            servers.child.id()
        );
        println!(
            "client CPU from {}; peak RSS {}",
            cpu.source(),
            if rss_resets {
                "reset per scenario"
            } else {
                "since process start (clear_refs not writable)"
            }
        );

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("cannot start the tokio runtime");
        let mut rows = Vec::new();
        let mut failed = 0;
        let mut examples: Vec<String> = Vec::new();
        for s in &scenarios {
            let check = &checks[s.check];
            let warm = runtime.block_on(run_batch(check, opts.warmup, s.concurrency));
            // Let the server finish counting the warm-up's handshakes.
            std::thread::sleep(Duration::from_millis(100));
            let stats_before = servers.handshake_stats();
            reset_peak_rss();
            let cpu_before = cpu.read();
            let started = Instant::now();
            let batch = runtime.block_on(run_batch(check, s.checks, s.concurrency));
            let wall = started.elapsed();
            let cpu_after = cpu.read();
            let peak_rss_kib = peak_rss_kib();
            std::thread::sleep(Duration::from_millis(100));
            let stats_after = servers.handshake_stats();

            for b in [&warm, &batch] {
                failed += b.failed;
                examples.extend(
                    b.examples
                        .iter()
                        .take(5usize.saturating_sub(examples.len()))
                        .map(|e| format!("{}: {e}", check.meta.name)),
                );
            }
            let resumed = match (stats_before, stats_after) {
                (Some((f0, r0)), Some((f1, r1))) => Some((f1.saturating_sub(f0), r1.saturating_sub(r0))),
                _ => None,
            };
            rows.push(Row {
                label: s.label,
                checks: s.checks,
                concurrency: s.concurrency,
                wall,
                cpu_ns: cpu_before.zip(cpu_after).map(|(a, b)| b.saturating_sub(a)),
                failed: batch.failed,
                durations: batch.durations,
                resumed,
                peak_rss_kib,
            });
            // Print progressively: the full run takes a while.
            if rows.len() == 1 {
                print_header();
            }
            print_row(rows.last().expect("a row was just pushed"));
        }
        drop(runtime);
        drop(servers);

        println!(
            "cpu_ms/check: client process only; mean/p50/p99: the check's own duration; resumed: share of server-side handshakes that were resumptions"
        );
        if failed > 0 {
            eprintln!("\n{failed} check run(s) FAILED; the bench is broken. First failures:");
            for e in &examples {
                eprintln!("  {e}");
            }
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    }

    /// Runs `check` `n` times with at most `concurrency` runs in flight.
    async fn run_batch(check: &ScheduledCheck, n: usize, concurrency: usize) -> Batch {
        let permits = Arc::new(Semaphore::new(concurrency));
        let mut set = JoinSet::new();
        let mut batch = Batch {
            durations: Vec::with_capacity(n),
            ..Batch::default()
        };
        let collect = |batch: &mut Batch, joined: Result<ece_o365_exporter::observation::Observation, tokio::task::JoinError>| match joined
        {
            Ok(obs) => match &obs.outcome {
                Ok(()) => batch.durations.push(obs.duration),
                Err(f) => {
                    batch.failed += 1;
                    if batch.examples.len() < 5 {
                        let phase = obs.failed_phase.map(|p| format!(" (in {p})")).unwrap_or_default();
                        batch.examples.push(format!("{f}{phase}"));
                    }
                }
            },
            Err(e) => {
                batch.failed += 1;
                batch.examples.push(format!("task failed: {e}"));
            }
        };
        for _ in 0..n {
            let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
            let check = check.clone();
            set.spawn(async move {
                let obs = run_check(&check).await;
                drop(permit);
                obs
            });
            // Reap finished runs as we go so the set stays at ~`concurrency`.
            while let Some(joined) = set.try_join_next() {
                collect(&mut batch, joined);
            }
        }
        while let Some(joined) = set.join_next().await {
            collect(&mut batch, joined);
        }
        batch
    }

    fn print_header() {
        println!();
        println!(
            "{:<22} {:>6} {:>5} {:>7} {:>9} {:>13} {:>8} {:>7} {:>7} {:>8} {:>13}",
            "scenario", "checks", "conc", "wall_s", "checks/s", "cpu_ms/check", "mean_ms", "p50_ms", "p99_ms", "resumed", "peak_rss_mib"
        );
    }

    fn print_row(r: &Row) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut sorted = r.durations.clone();
        sorted.sort_unstable();
        // Latency of the successful runs; "n/a" when there were none.
        let fmt_ms = |d: Option<f64>| d.map(|v| format!("{v:.2}")).unwrap_or_else(|| "n/a".into());
        let mean = (!sorted.is_empty()).then(|| sorted.iter().map(|d| ms(*d)).sum::<f64>() / sorted.len() as f64);
        let cpu = r
            .cpu_ns
            .map(|ns| format!("{:.3}", ns as f64 / 1e6 / r.checks as f64))
            .unwrap_or_else(|| "n/a".into());
        let resumed = match r.resumed {
            Some((full, resumed)) if full + resumed > 0 => format!("{:.0}%", 100.0 * resumed as f64 / (full + resumed) as f64),
            _ => "n/a".into(),
        };
        let rss = r
            .peak_rss_kib
            .map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a".into());
        println!(
            "{:<22} {:>6} {:>5} {:>7.2} {:>9.0} {:>13} {:>8} {:>7} {:>7} {:>8} {:>13}{}",
            r.label,
            r.checks,
            r.concurrency,
            r.wall.as_secs_f64(),
            r.checks as f64 / r.wall.as_secs_f64(),
            cpu,
            fmt_ms(mean),
            fmt_ms(percentile(&sorted, 0.50).map(ms)),
            fmt_ms(percentile(&sorted, 0.99).map(ms)),
            resumed,
            rss,
            if r.failed > 0 {
                format!("  ({} FAILED)", r.failed)
            } else {
                String::new()
            },
        );
    }

    /// Nearest-rank percentile of sorted samples.
    fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
        if sorted.is_empty() {
            return None;
        }
        let rank = (p * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    /// Where the process's CPU time comes from.
    enum CpuClock {
        /// Sum of the first field of `/proc/self/task/*/schedstat`: ns on CPU.
        Schedstat,
        /// `utime + stime` of `/proc/self/stat`, in ticks of this many per second.
        StatTicks(u64),
        Unavailable,
    }

    impl CpuClock {
        fn detect() -> Self {
            if schedstat_ns().is_some() {
                CpuClock::Schedstat
            } else if stat_ticks().is_some() {
                CpuClock::StatTicks(clock_ticks_per_second())
            } else {
                CpuClock::Unavailable
            }
        }

        fn source(&self) -> String {
            match self {
                CpuClock::Schedstat => "/proc/self/task/*/schedstat (ns, all threads)".into(),
                CpuClock::StatTicks(hz) => format!("/proc/self/stat utime+stime ({hz} ticks/s)"),
                CpuClock::Unavailable => "nowhere (no /proc): cpu_ms/check is n/a".into(),
            }
        }

        /// CPU time used by this process so far, in nanoseconds.
        fn read(&self) -> Option<u64> {
            match self {
                CpuClock::Schedstat => schedstat_ns(),
                CpuClock::StatTicks(hz) => stat_ticks().map(|t| t * 1_000_000_000 / (*hz).max(1)),
                CpuClock::Unavailable => None,
            }
        }
    }

    /// Sum over all threads of the time spent on CPU (ns). Threads that exit
    /// take their time with them, but the runtime's worker threads live for
    /// the whole run and the checks spawn no blocking threads (IP targets).
    fn schedstat_ns() -> Option<u64> {
        let mut total = 0u64;
        let mut found = false;
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let Ok(entry) = entry else { continue };
            // A thread may exit between listing and reading; skip it.
            let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
                continue;
            };
            if let Some(ns) = text.split_whitespace().next().and_then(|f| f.parse::<u64>().ok()) {
                total += ns;
                found = true;
            }
        }
        found.then_some(total)
    }

    /// `utime + stime` of the whole process (clock ticks), dead threads included.
    fn stat_ticks() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name may contain spaces; fields resume after its `)`.
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15 of proc(5); `rest` starts at field 3.
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    }

    fn clock_ticks_per_second() -> u64 {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    }

    /// Resets `VmHWM` to the current RSS (Linux >= 4.0). False when not allowed.
    fn reset_peak_rss() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// `VmHWM` (peak resident set size) in KiB.
    fn peak_rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

// ---------------------------------------------------------------------------
// The server child, seen from the parent.
// ---------------------------------------------------------------------------

/// The child's listening ports.
struct Ports {
    tls: u16,
    smtp: u16,
    tls_resumption: u16,
    smtp_resumption: u16,
}

/// The server child process. Dropping it kills and reaps the child; the child
/// also exits by itself when its stdin closes (if this process dies hard).
struct ServerChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    ports: Ports,
}

impl ServerChild {
    fn spawn(dir: &Path) -> Self {
        let exe = std::env::current_exe().expect("cannot find this bench's executable");
        let mut child = Command::new(exe)
            .arg(SERVE_ARG)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the server child process");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("child stdout is piped"));
        let mut me = ServerChild {
            child,
            stdin,
            stdout,
            ports: Ports {
                tls: 0,
                smtp: 0,
                tls_resumption: 0,
                smtp_resumption: 0,
            },
        };
        // First line: `ports <tls> <smtp> <tls_resumption> <smtp_resumption>`.
        let line = me
            .read_line()
            .expect("the server child exited before reporting its ports (see its stderr above)");
        let ports: Vec<u16> = line
            .strip_prefix("ports ")
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        let [tls, smtp, tls_resumption, smtp_resumption] = ports[..] else {
            panic!("unexpected first line from the server child: {line:?}");
        };
        me.ports = Ports {
            tls,
            smtp,
            tls_resumption,
            smtp_resumption,
        };
        me
    }

    fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Some(line.trim_end().to_string()),
            _ => None,
        }
    }

    /// Handshakes the child has completed so far: (full, resumed).
    fn handshake_stats(&mut self) -> Option<(u64, u64)> {
        let stdin = self.stdin.as_mut()?;
        writeln!(stdin, "stats").ok()?;
        stdin.flush().ok()?;
        let line = self.read_line()?;
        let mut it = line.strip_prefix("stats ")?.split_whitespace().map(|v| v.parse::<u64>().ok());
        Some((it.next()??, it.next()??))
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Certificates, written by the parent for the child.
// ---------------------------------------------------------------------------
mod certs {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

    /// Writes `ca.pem`, `cert.pem` (leaf, then CA) and `key.pem` (leaf key,
    /// PKCS#8) into `dir`. The leaf is for `localhost` and 127.0.0.1; rustls
    /// refuses a CA certificate as the end entity, hence the two levels.
    pub fn write_tls_files(dir: &Path) {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "ece-o365-exporter bench CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-signed CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let mut leaf_params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("leaf parameters");
        leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.use_authority_key_identifier_extension = true;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf certificate signed by the CA");

        let write = |name: &str, text: String| {
            std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("cannot write {}: {e}", dir.join(name).display()))
        };
        write("ca.pem", ca_cert.pem());
        write("cert.pem", format!("{}{}", leaf_cert.pem(), ca_cert.pem()));
        write("key.pem", leaf_key.serialize_pem());
    }
}

// ---------------------------------------------------------------------------
// Server child: TLS and SMTP test servers. Not measured; kept simple.
// ---------------------------------------------------------------------------
mod server {
    use super::*;
    use rustls::HandshakeKind;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::server::NoServerSessionStorage;
    use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::TlsAcceptor;

    /// Longest command line the SMTP server reads before hanging up.
    const MAX_LINE: u64 = 1024;

    static FULL_HANDSHAKES: AtomicU64 = AtomicU64::new(0);
    static RESUMED_HANDSHAKES: AtomicU64 = AtomicU64::new(0);

    /// Runs the servers until stdin closes, then exits the process.
    pub fn serve(dir: &Path) -> ! {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("server: cannot start tokio");
        let listeners = runtime.block_on(async {
            let mut ls = Vec::new();
            for _ in 0..4 {
                ls.push(TcpListener::bind("127.0.0.1:0").await.expect("server: cannot bind 127.0.0.1:0"));
            }
            ls
        });
        let port = |l: &TcpListener| l.local_addr().expect("server: local address").port();
        let line = format!(
            "ports {} {} {} {}",
            port(&listeners[0]),
            port(&listeners[1]),
            port(&listeners[2]),
            port(&listeners[3])
        );

        let full = TlsAcceptor::from(Arc::new(server_config(dir, false)));
        let resumption = TlsAcceptor::from(Arc::new(server_config(dir, true)));
        let mut listeners = listeners.into_iter();
        let mut next = || listeners.next().expect("four listeners");
        runtime.spawn(accept_loop(next(), full.clone(), false));
        runtime.spawn(accept_loop(next(), full, true));
        runtime.spawn(accept_loop(next(), resumption.clone(), false));
        runtime.spawn(accept_loop(next(), resumption, true));

        let mut out = io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .expect("server: cannot write to stdout");
        // The parent's commands on stdin; EOF means the parent is gone.
        for cmd in io::stdin().lock().lines() {
            let Ok(cmd) = cmd else { break };
            if cmd.trim() == "stats" {
                let (f, r) = (FULL_HANDSHAKES.load(Ordering::Relaxed), RESUMED_HANDSHAKES.load(Ordering::Relaxed));
                if writeln!(out, "stats {f} {r}").and_then(|_| out.flush()).is_err() {
                    break;
                }
            }
        }
        std::process::exit(0);
    }

    /// rustls server config with the ring provider; with `resumption` the
    /// server issues TLS 1.3 tickets (stateless, ring ticketer), without it
    /// every handshake is a full one.
    fn server_config(dir: &Path, resumption: bool) -> rustls::ServerConfig {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("cert.pem"))
            .expect("server: cannot open cert.pem")
            .collect::<Result<_, _>>()
            .expect("server: cannot parse cert.pem");
        let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).expect("server: cannot read key.pem");
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("server: protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server: certificate and key do not match");
        if resumption {
            cfg.ticketer = rustls::crypto::ring::Ticketer::new().expect("server: ticketer");
        } else {
            cfg.session_storage = Arc::new(NoServerSessionStorage {});
            cfg.send_tls13_tickets = 0;
        }
        cfg
    }

    async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, smtp: bool) {
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // Per-connection errors are the client's to report.
                        let _ = if smtp {
                            smtp_session(tcp, acceptor).await
                        } else {
                            tls_session(tcp, acceptor).await
                        };
                    });
                }
                Err(e) => {
                    // e.g. out of file descriptors: back off instead of spinning.
                    eprintln!("bench server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn count<S>(tls: &tokio_rustls::server::TlsStream<S>) {
        match tls.get_ref().1.handshake_kind() {
            Some(HandshakeKind::Resumed) => RESUMED_HANDSHAKES.fetch_add(1, Ordering::Relaxed),
            _ => FULL_HANDSHAKES.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// `kind: tls` peer: handshake, then read until the client closes.
    async fn tls_session(tcp: TcpStream, acceptor: TlsAcceptor) -> io::Result<()> {
        let mut tls = acceptor.accept(tcp).await?;
        count(&tls);
        let mut buf = [0u8; 1024];
        while tls.read(&mut buf).await? > 0 {}
        tls.shutdown().await
    }

    /// What ended a stretch of SMTP commands.
    enum After {
        Starttls,
        Closed,
    }

    /// `kind: smtp` peer: greeting, EHLO, STARTTLS, TLS, EHLO, QUIT; the
    /// EHLO replies look like Exchange Online's.
    async fn smtp_session(tcp: TcpStream, acceptor: TlsAcceptor) -> io::Result<()> {
        let mut plain = tokio::io::BufReader::new(tcp);
        send(&mut plain, b"220 bench ESMTP\r\n").await?;
        if let After::Closed = smtp_commands(&mut plain, false).await? {
            return Ok(());
        }
        // Anything the client sent after STARTTLS would be discarded here (it sends nothing).
        let tls = acceptor.accept(plain.into_inner()).await?;
        count(&tls);
        let mut secure = tokio::io::BufReader::new(tls);
        smtp_commands(&mut secure, true).await?;
        secure.get_mut().shutdown().await
    }

    async fn send<S: AsyncRead + AsyncWrite + Unpin>(r: &mut tokio::io::BufReader<S>, bytes: &[u8]) -> io::Result<()> {
        r.get_mut().write_all(bytes).await?;
        r.get_mut().flush().await
    }

    /// Reads one line of at most [`MAX_LINE`] bytes; `false` at EOF or when too long.
    async fn read_line_capped<R: AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        let n = (&mut *r).take(MAX_LINE).read_until(b'\n', buf).await?;
        Ok(n > 0 && buf.ends_with(b"\n"))
    }

    async fn smtp_commands<S: AsyncRead + AsyncWrite + Unpin>(r: &mut tokio::io::BufReader<S>, in_tls: bool) -> io::Result<After> {
        const EHLO_PLAIN: &[u8] = b"250-bench Hello [127.0.0.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n\
            250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
        const EHLO_TLS: &[u8] = b"250-bench Hello [127.0.0.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n\
            250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
        let mut line = Vec::with_capacity(128);
        loop {
            if !read_line_capped(r, &mut line).await? {
                return Ok(After::Closed);
            }
            let text = String::from_utf8_lossy(&line);
            let verb = text.trim_end().split(' ').next().unwrap_or("").to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => send(r, if in_tls { EHLO_TLS } else { EHLO_PLAIN }).await?,
                "STARTTLS" if !in_tls => {
                    send(r, b"220 2.0.0 Ready to start TLS\r\n").await?;
                    return Ok(After::Starttls);
                }
                "QUIT" => {
                    send(r, b"221 2.0.0 bye\r\n").await?;
                    return Ok(After::Closed);
                }
                "NOOP" | "RSET" => send(r, b"250 2.0.0 OK\r\n").await?,
                "STARTTLS" => send(r, b"503 5.5.1 TLS already active\r\n").await?,
                _ => send(r, b"502 5.5.2 Command not implemented\r\n").await?,
            }
        }
    }
}
