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
//! Nothing here asserts on timing; it only prints.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench render                       # 1000 and 10000 checks
//! cargo bench --bench render -- --checks 100,50000 # other sizes
//! ```
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ece_o365_exporter::checks::CheckMeta;
use ece_o365_exporter::config::Config;
use ece_o365_exporter::i18n::Lang;
use ece_o365_exporter::metrics::Metrics;
use ece_o365_exporter::observation::{CertSummary, Facts, Observation, TlsFacts};
use ece_o365_exporter::reason::Phase;
use ece_o365_exporter::report;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--checks")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(|n| n.parse().expect("--checks wants N[,N...]")).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
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
    }
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
