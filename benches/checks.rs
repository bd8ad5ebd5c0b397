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
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

mod common;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ece_o365_exporter::checks::{ScheduledCheck, build_all, run_check};
use ece_o365_exporter::config::Config;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    common::serve_if_asked(&args);
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
    fn bench_yaml(p: &common::Ports) -> String {
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
        common::certs::write_tls_files(dir.path());
        // Killed (and reaped) when dropped, also on panic.
        let mut servers = common::ServerChild::spawn(dir.path());

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
            } else if common::stat_ticks(Path::new("/proc/self")).is_some() {
                CpuClock::StatTicks(common::clock_ticks_per_second())
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
                CpuClock::StatTicks(hz) => common::stat_ticks(Path::new("/proc/self")).map(|t| t * 1_000_000_000 / (*hz).max(1)),
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

    /// Resets `VmHWM` to the current RSS (Linux >= 4.0). False when not allowed.
    fn reset_peak_rss() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    /// `VmHWM` (peak resident set size) in KiB.
    fn peak_rss_kib() -> Option<u64> {
        common::status_kib(Path::new("/proc/self"), "VmHWM")
    }
}
