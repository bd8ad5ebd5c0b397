//! What one scrape of `/metrics` costs the agent at scale, without the network.
//!
//! # What it measures
//!
//! `Metrics::exposition` (the whole body of `GET /metrics`, chunk by chunk as
//! a scrape writes it) after N checks have each recorded one run, half of
//! them `kind: tls` and half `kind: smtp` with STARTTLS (the mix of the scale
//! run in `benches/agent.rs`), with realistic label values: every phase, the
//! watched capabilities, the certificate info. For each N it prints the body
//! size, bytes per check, and the wall time of writing the body (p50 and max
//! of several), plus the time to record one run (`Metrics::observe`), the
//! growth of the process's RSS with the N checks' state, and the wall time of
//! the status page `GET /` (`report::status_page`: the guide's assessment of
//! a configuration of those N checks and their last runs, then the HTML),
//! which is worked out anew on every request.
//!
//! Then, for the same N, what gzip costs and saves:
//!
//! * **in memory**: the body written and compressed chunk by chunk with
//!   flate2 (rust backend) at levels 1, 3 and 6 against writing it alone
//!   (`identity`): compressed size, ratio, and this thread's CPU time per
//!   body (from `/proc/thread-self/schedstat`, nanoseconds; p50 of 7);
//! * **over loopback**: the agent's own web endpoint (`http::serve`, a
//!   two-worker runtime as the agent has) scraped like Prometheus, with and
//!   without `Accept-Encoding: gzip`: bytes on the wire (body, after
//!   chunked transfer encoding is removed), the endpoint's CPU time per
//!   scrape (every thread of the process but the scraper's, from their
//!   `schedstat`), and the time to last byte from connect (p50/max of 7).
//!   The scraper reads as fast as loopback allows: over a real network the
//!   identity body's transfer time grows with its size, the gzip one's
//!   fifteen times less.
//!
//! Nothing here asserts on timing; it only prints.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench render                       # 1000 and 10000 checks
//! cargo bench --bench render -- --checks 100,50000 # other sizes
//! ```
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ece_o365_exporter::checks::CheckMeta;
use ece_o365_exporter::config::Config;
use ece_o365_exporter::http;
use ece_o365_exporter::i18n::Lang;
use ece_o365_exporter::metrics::Metrics;
use ece_o365_exporter::observation::{CertSummary, Facts, Observation, TlsFacts};
use ece_o365_exporter::reason::Phase;
use ece_o365_exporter::report;
use ece_o365_exporter::state::RunningState;
use ece_o365_exporter::web::WebGuard;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--checks")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(|n| n.parse().expect("--checks wants N[,N...]")).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let mut gzip_rows = Vec::new();
    println!(
        "{:>7} {:>10} {:>13} {:>18} {:>13} {:>9} {:>18}",
        "checks", "body_kib", "bytes/check", "render_ms p50/max", "observe_us", "rss_mib", "status_ms p50/max"
    );
    for n in sizes {
        // Before the RSS baseline: the configuration is not the metrics' state.
        let config = config_of(n);
        let rss0 = rss_kib();
        let metrics = Metrics::new("bench", "bench");
        let runs: Vec<(Arc<CheckMeta>, Observation)> = (0..n).map(run).collect();
        let started = Instant::now();
        for (meta, obs) in runs {
            metrics.declare(&meta);
            metrics.observe(&meta, obs);
        }
        let observe = started.elapsed() / n as u32;
        let mut times = Vec::new();
        let mut len = 0;
        for _ in 0..7 {
            // As a scrape sends it: chunk by chunk, each dropped once "sent".
            let t = Instant::now();
            len = metrics.exposition().map(|chunk| chunk.len()).sum();
            times.push(t.elapsed());
        }
        times.sort_unstable();
        let rss = rss_kib().saturating_sub(rss0);
        let mut page_times = Vec::new();
        for _ in 0..7 {
            // As `GET /` does: the last runs, the assessment, the HTML.
            let t = Instant::now();
            let page = report::status_page(Some(&config), &metrics.last_runs(), n, Lang::En);
            page_times.push(t.elapsed());
            assert!(!page.is_empty());
        }
        page_times.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:>7} {:>10.0} {:>13} {:>18} {:>13.2} {:>9.1} {:>18}",
            n,
            len as f64 / 1024.0,
            len / n.max(1),
            format!("{:.1}/{:.1}", ms(times[3]), ms(times[6])),
            observe.as_secs_f64() * 1e6,
            rss as f64 / 1024.0,
            format!("{:.1}/{:.1}", ms(page_times[3]), ms(page_times[6]))
        );
        gzip_rows.push((n, in_memory(&metrics), over_loopback(Arc::new(metrics))));
    }
    println!();
    println!("gzip in memory: the body written and compressed chunk by chunk, CPU of this thread per body (p50 of 7)");
    println!("{:>7} {:>9} {:>10} {:>7} {:>8}", "checks", "coding", "body_kib", "ratio", "cpu_ms");
    for (n, levels, _) in &gzip_rows {
        let plain = levels[0].1 as f64;
        for (coding, bytes, cpu) in levels {
            println!(
                "{:>7} {:>9} {:>10.0} {:>7.1} {:>8.1}",
                n,
                coding,
                *bytes as f64 / 1024.0,
                plain / (*bytes).max(1) as f64,
                cpu.as_secs_f64() * 1e3
            );
        }
    }
    println!();
    println!(
        "a scrape over loopback (http::serve, 2 workers; gzip at level {}): wire bytes, endpoint CPU per scrape (p50), time to last byte p50/max of 7",
        http::GZIP_LEVEL
    );
    println!(
        "{:>7} {:>9} {:>10} {:>8} {:>15}",
        "checks", "coding", "wire_kib", "cpu_ms", "ttlb_ms p50/max"
    );
    for (n, _, scrapes) in &gzip_rows {
        for s in scrapes {
            println!(
                "{:>7} {:>9} {:>10.0} {:>8.1} {:>15}",
                n,
                s.coding,
                s.bytes as f64 / 1024.0,
                s.cpu.as_secs_f64() * 1e3,
                format!("{:.1}/{:.1}", s.ttlb.0.as_secs_f64() * 1e3, s.ttlb.1.as_secs_f64() * 1e3)
            );
        }
    }
}

/// The body alone (`identity`), then written and compressed at levels 1, 3
/// and 6: (coding, bytes, CPU of this thread per body, p50 of 7).
fn in_memory(metrics: &Metrics) -> Vec<(String, usize, Duration)> {
    let mut rows = Vec::new();
    for level in [None, Some(1), Some(3), Some(6)] {
        let mut cpu = Vec::new();
        let mut bytes = 0;
        for _ in 0..7 {
            let t = thread_cpu();
            bytes = match level {
                None => metrics.exposition().map(|chunk| chunk.len()).sum(),
                Some(level) => {
                    // As the endpoint does: each chunk into the encoder, flushed, its output taken away.
                    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                    let mut sent = 0;
                    for chunk in metrics.exposition() {
                        gz.write_all(chunk.as_bytes()).unwrap();
                        gz.flush().unwrap();
                        sent += std::mem::take(gz.get_mut()).len();
                    }
                    sent + gz.finish().unwrap().len()
                }
            };
            cpu.push(thread_cpu().saturating_sub(t));
        }
        cpu.sort_unstable();
        let coding = level.map_or("identity".to_string(), |l| format!("gzip-{l}"));
        rows.push((coding, bytes, cpu[3]));
    }
    rows
}

/// One coding's scrapes over loopback.
struct Scrapes {
    coding: &'static str,
    bytes: usize,
    cpu: Duration,
    ttlb: (Duration, Duration),
}

/// Serves `metrics` with the agent's web endpoint on a two-worker runtime
/// and scrapes it 7 times without, then with, `Accept-Encoding: gzip`.
fn over_loopback(metrics: Arc<Metrics>) -> Vec<Scrapes> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let listener = runtime.block_on(async { http::listen("127.0.0.1:0") }).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(RunningState::new(metrics, None));
    let server = runtime.spawn(http::serve(listener, state, WebGuard::open(), shutdown.clone()));
    let mut out = Vec::new();
    for (coding, header) in [("identity", ""), ("gzip", "Accept-Encoding: gzip\r\n")] {
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut bytes = 0;
        for _ in 0..7 {
            let c = others_cpu();
            let (body, took) = scrape(addr, header);
            cpu.push(others_cpu().saturating_sub(c));
            times.push(took);
            bytes = body.len();
            if coding == "gzip" {
                // What the scraper does next; not timed.
                let mut text = String::new();
                flate2::read::GzDecoder::new(body.as_slice()).read_to_string(&mut text).unwrap();
            }
        }
        times.sort_unstable();
        cpu.sort_unstable();
        out.push(Scrapes {
            coding,
            bytes,
            cpu: cpu[3],
            ttlb: (times[3], times[6]),
        });
    }
    shutdown.cancel();
    let _ = runtime.block_on(server);
    out
}

/// `GET /metrics` with `Connection: close` and the extra header lines: the
/// body with chunked transfer encoding removed, and the time from connect
/// to the last byte.
fn scrape(addr: SocketAddr, headers: &str) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: bench\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::with_capacity(1 << 20);
    s.read_to_end(&mut raw).unwrap();
    let took = started.elapsed();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("the end of the headers") + 4;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let mut body = Vec::with_capacity(raw.len());
    let mut rest = &raw[end..];
    if !head.contains("transfer-encoding: chunked") {
        return (rest.to_vec(), took);
    }
    // Chunked: a hex size line, the bytes, CRLF; a zero size ends it.
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 2 + size + 2..];
    }
    (body, took)
}

/// This thread's CPU time so far (`/proc/thread-self/schedstat`, nanoseconds).
/// The kernel brings a running thread's figure up to date only at a tick or
/// when the thread is switched out: a short sleep first makes it exact.
fn thread_cpu() -> Duration {
    std::thread::sleep(Duration::from_millis(1));
    schedstat("/proc/thread-self/schedstat")
}

/// The CPU time so far of every thread of this process but the calling one.
fn others_cpu() -> Duration {
    let me = std::fs::read_link("/proc/thread-self").unwrap();
    let me = me.file_name().unwrap().to_os_string();
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|task| task.file_name() != me)
        .map(|task| schedstat(&format!("/proc/self/task/{}/schedstat", task.file_name().to_string_lossy())))
        .sum()
}

fn schedstat(path: &str) -> Duration {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    Duration::from_nanos(text.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// The configuration that runs these checks, as the agent's status page has it.
fn config_of(n: usize) -> Config {
    let mut yaml = String::from("checks:\n");
    for (meta, _) in (0..n).map(run) {
        let tls = if meta.kind == ece_o365_exporter::checks::smtp::KIND {
            ", tls: starttls"
        } else {
            ""
        };
        yaml.push_str(&format!(
            "  - {{ name: {}, kind: {}, target: \"{}\"{tls} }}\n",
            meta.name,
            meta.kind.as_str(),
            meta.target
        ));
    }
    Config::from_yaml(std::path::Path::new("render.yaml"), &yaml).expect("the bench's configuration")
}

/// One run of check `i`: even ones `tls`, odd ones SMTP with STARTTLS.
fn run(i: usize) -> (Arc<CheckMeta>, Observation) {
    let smtp = i % 2 == 1;
    let meta = CheckMeta {
        name: format!("tenant-{:05}-{}", i / 2, if smtp { "smtp" } else { "tls" }),
        kind: if smtp {
            ece_o365_exporter::checks::smtp::KIND
        } else {
            ece_o365_exporter::checks::tls::KIND
        },
        target: if smtp {
            "smtp.office365.com:587"
        } else {
            "outlook.office365.com:443"
        }
        .into(),
        interval: Duration::from_secs(60),
        timeout: Duration::from_secs(10),
        mailbox: None,
    };
    let ms = |m: u64| Duration::from_millis(m);
    let phases = if smtp {
        vec![
            (Phase::Connect, ms(12)),
            (Phase::Banner, ms(40)),
            (Phase::Ehlo, ms(15)),
            (Phase::Starttls, ms(14)),
            (Phase::Tls, ms(60)),
            (Phase::EhloTls, ms(16)),
            (Phase::Quit, ms(9)),
        ]
    } else {
        vec![(Phase::Connect, ms(12)), (Phase::Tls, ms(55))]
    };
    let capabilities = smtp.then(|| {
        ece_o365_exporter::checks::smtp::WATCHED
            .iter()
            .enumerate()
            .map(|(k, cap)| (*cap, k % 3 != 2))
            .collect()
    });
    let facts = Facts {
        capabilities,
        tls: Some(TlsFacts {
            version: "TLSv1.3",
            earliest_expiry: Some(1_800_000_000),
            leaf: Some(CertSummary {
                subject: "CN=outlook.com,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US".into(),
                issuer: "CN=DigiCert Cloud Services CA-1,O=DigiCert Inc,C=US".into(),
                fingerprint_sha256: format!("{:064x}", i),
            }),
        }),
        ..Facts::default()
    };
    let obs = Observation {
        outcome: Ok(()),
        failed_phase: None,
        duration: phases.iter().map(|(_, d)| *d).sum(),
        phases,
        facts,
        finished_at: SystemTime::now(),
    };
    (Arc::new(meta), obs)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
