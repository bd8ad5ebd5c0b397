//! Black-box tests of the binary: it runs against servers in this test
//! process, is scraped over HTTP, and the exposition is parsed and compared
//! with what the servers did. Also the `check` subcommand's output and exit
//! codes, shutdown on SIGTERM, and a port already in use; `:PORT` on IPv4
//! and IPv6; idle web clients against a low open-file limit.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use test_support::agent::{Agent, parse, request, request_with, value};
use test_support::net::free_port as closed_port;
use test_support::now_f64;
use test_support::pki::{self, Leaf, Pki};
use test_support::servers::{self, After, DnsMode, Mail};

/// The agent binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");

/// A config of one `tcp` check against a port nothing listens on.
fn write_closed_port_config(path: &std::path::Path) {
    let yaml = format!(
        "checks:\n  - name: closed\n    kind: tcp\n    target: 127.0.0.1:{}\n",
        closed_port()
    );
    std::fs::write(path, yaml).unwrap();
}

const TLS: &str = "    server_name: localhost\n    ca_file: ca.pem\n";

#[tokio::test(flavor = "multi_thread")]
async fn metrics_reflect_what_the_servers_did() {
    let pki = Pki::new();
    let smtp = servers::smtp(Mail::new(pki.server_config(Leaf::Good))).await;
    let imap = servers::imap(Mail::new(pki.server_config(Leaf::Good)).implicit()).await;
    let pop3 = servers::pop3(Mail::new(pki.server_config(Leaf::Good)).implicit()).await;
    let tls = servers::tls(pki.server_config(Leaf::Good)).await;
    let dns = servers::dns(DnsMode::Answer(vec![Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11)])).await;
    let closed = closed_port();
    let yaml = format!(
        "global:\n  interval: 60s\n  timeout: 5s\nchecks:
  - name: smtp
    kind: smtp
    target: {smtp}
{TLS}  - name: imap
    kind: imap
    target: {imap}
{TLS}  - name: pop3
    kind: pop3
    target: {pop3}
{TLS}  - name: tls
    kind: tls
    target: {tls}
{TLS}  - name: dns
    kind: dns
    query: outlook.office365.com
    dns_servers: [\"{dns}\"]
  - name: closed
    kind: tcp
    target: 127.0.0.1:{closed}
",
        smtp = smtp.target(),
        imap = imap.target(),
        pop3 = pop3.target(),
        tls = tls.target(),
        dns = dns.addr,
    );
    let config = pki.dir.path().join("agent.yaml");
    std::fs::write(&config, yaml).unwrap();
    let started = now_f64();
    let agent = Agent::start(BIN, &config, &[]);
    agent.wait_ready().await;

    let (status, body) = agent.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(body.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let m = parse(&body);

    assert_eq!(
        value(&m, "ece_o365_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        Some(1.0)
    );
    for (check, kind, target, ok) in [
        ("smtp", "smtp", smtp.target(), 1.0),
        ("imap", "imap", imap.target(), 1.0),
        ("pop3", "pop3", pop3.target(), 1.0),
        ("tls", "tls", tls.target(), 1.0),
        ("dns", "dns", "outlook.office365.com/A".to_string(), 1.0),
        ("closed", "tcp", format!("127.0.0.1:{closed}"), 0.0),
    ] {
        let labels = [("check", check), ("kind", kind)];
        assert_eq!(
            value(
                &m,
                "ece_o365_check_success",
                &[("check", check), ("kind", kind), ("target", &target)]
            ),
            Some(ok),
            "{check}"
        );
        assert_eq!(value(&m, "ece_o365_check_runs_total", &labels), Some(1.0), "{check}");
        let last = value(&m, "ece_o365_check_last_duration_seconds", &labels).unwrap();
        assert!(last > 0.0 && last < 5.0, "{check}: {last}");
        // Histograms are per kind: each of these checks is the only one of its kind.
        assert_eq!(
            value(&m, "ece_o365_check_duration_seconds_count", &[("kind", kind)]),
            Some(1.0),
            "{check}"
        );
        let last_run = value(&m, "ece_o365_check_last_run_timestamp_seconds", &[("check", check)]).unwrap();
        assert!(last_run >= started - 1.0 && last_run <= now_f64() + 1.0, "{check}: {last_run}");
        let last_success = value(&m, "ece_o365_check_last_success_timestamp_seconds", &[("check", check)]);
        assert_eq!(last_success.is_some(), ok == 1.0, "{check}");
    }
    assert_eq!(
        value(
            &m,
            "ece_o365_check_failures_total",
            &[("check", "closed"), ("reason", "connect_refused")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "ece_o365_check_failures_total", &[("check", "smtp")]),
        None,
        "no failure series for a healthy check"
    );
    for phase in ["connect", "banner", "ehlo", "starttls", "tls", "ehlo_tls", "quit"] {
        assert_eq!(
            value(
                &m,
                "ece_o365_check_phase_duration_seconds_count",
                &[("kind", "smtp"), ("phase", phase)]
            ),
            Some(1.0),
            "smtp {phase}"
        );
        let last = value(
            &m,
            "ece_o365_check_phase_last_duration_seconds",
            &[("check", "smtp"), ("kind", "smtp"), ("phase", phase)],
        );
        assert!(last.is_some_and(|d| d > 0.0 && d < 5.0), "smtp {phase}: {last:?}");
    }
    // The closed port's run never got past connecting: no gauge for later phases.
    assert_eq!(
        value(
            &m,
            "ece_o365_check_phase_last_duration_seconds",
            &[("check", "closed"), ("phase", "tls")]
        ),
        None
    );
    for check in ["smtp", "imap", "pop3", "tls"] {
        assert_eq!(
            value(&m, "ece_o365_tls_earliest_cert_expiry_timestamp_seconds", &[("check", check)]),
            Some(pki::LEAF_NOT_AFTER_UNIX as f64),
            "{check}"
        );
        assert_eq!(
            value(&m, "ece_o365_tls_version_info", &[("check", check), ("version", "TLSv1.3")]),
            Some(1.0),
            "{check}"
        );
        assert_eq!(
            value(
                &m,
                "ece_o365_tls_cert_info",
                &[("check", check), ("issuer", &format!("CN={}", pki::CA_NAME))]
            ),
            Some(1.0),
            "{check}"
        );
    }
    assert_eq!(
        value(
            &m,
            "ece_o365_capability_advertised",
            &[("check", "smtp"), ("capability", "STARTTLS")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "ece_o365_capability_advertised",
            &[("check", "smtp"), ("capability", "AUTH=XOAUTH2")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "ece_o365_capability_advertised",
            &[("check", "smtp"), ("capability", "AUTH=OAUTHBEARER")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &m,
            "ece_o365_capability_advertised",
            &[("check", "imap"), ("capability", "SASL-IR")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "ece_o365_capability_advertised",
            &[("check", "pop3"), ("capability", "AUTH=XOAUTH2")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&m, "ece_o365_dns_answers", &[("check", "dns")]), Some(2.0));

    // A scrape never runs a check: many scrapes, still one connection each.
    for _ in 0..10 {
        assert_eq!(agent.get("/metrics").await.0, 200);
    }
    for server in [&smtp, &imap, &pop3, &tls] {
        assert_eq!(server.connection_count(), 1);
    }

    let (status, page) = agent.get("/").await;
    assert_eq!(status, 200);
    for check in ["smtp", "imap", "pop3", "tls", "dns", "closed", "connect_refused", "/metrics"] {
        assert!(page.contains(check), "status page lacks {check}");
    }
    // The same report as `check`, grouped by the guide's items, in the browser's language.
    assert!(
        page.contains("<html lang=\"en\">") && page.contains("Network connectivity"),
        "{page}"
    );
    assert!(
        page.contains(
            "<h2 id=\"network_connectivity\">8. Network connectivity (URLs, DNS, ports, TLS) <span class=\"failed\">FAILED</span>"
        ),
        "{page}"
    );
    for (header, lang, title) in [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr", "Version minimale"),
        ("de-DE, nl;q=0.5", "nl", "Minimale versie"),
        ("es-419", "es", "Versión mínima"),
        ("zh-CN,zh;q=0.9", "zh", "最低版本"),
    ] {
        let (status, page) = request_with(agent.addr, "GET", "/", &format!("Accept-Language: {header}\r\n")).await;
        assert_eq!(status, 200);
        assert!(
            page.contains(&format!("<html lang=\"{lang}\">")) && page.contains(title),
            "{header}: {page}"
        );
        assert!(page.contains("connect_refused"), "the evidence stays untranslated: {page}");
    }
    assert_eq!(agent.get("/-/healthy").await.0, 200);
    assert_eq!(agent.get("/nope").await.0, 404);
    assert_eq!(request(agent.addr, "POST", "/metrics").await.0, 405);

    let log = agent.log_text();
    assert!(
        log.lines().any(|l| l.contains("level=warn")
            && l.contains("check=closed")
            && l.contains("reason=connect_refused")
            && l.contains("phase=connect")),
        "one log line per failed run: {log}"
    );
    assert_eq!(agent.terminate(), Some(0), "clean exit on SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_and_a_port_in_use() {
    let pki = Pki::new();
    let config = pki.dir.path().join("agent.yaml");
    write_closed_port_config(&config);
    let agent = Agent::start(BIN, &config, &["--log.format", "json"]);
    agent.wait_ready().await;
    let log = agent.log_text();
    let failed = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["check"] == "closed")
        .unwrap_or_else(|| panic!("no JSON line for the failed check: {log}"));
    assert_eq!(failed["reason"], "connect_refused");
    assert_eq!(failed["level"], "WARN");

    // A second agent on the same port: a clear error, exit 1, no panic.
    let taken = agent.addr.to_string();
    let out = Command::new(BIN)
        .args(["--config.file"])
        .arg(&config)
        .args(["--web.listen-address", &taken])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {taken}")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(agent.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_subcommand_prints_a_table_or_json_and_sets_the_exit_code() {
    let pki = Pki::new();
    let smtp = servers::smtp(Mail::new(pki.server_config(Leaf::Good))).await;
    let silent = servers::raw(b"", After::Hold).await;
    let yaml = format!(
        "global:\n  timeout: 2s\nchecks:\n  - name: smtp-ok\n    kind: smtp\n    target: {}\n{TLS}  - name: smtp-silent\n    kind: smtp\n    target: {}\n{TLS}",
        smtp.target(),
        silent.target()
    );
    let config = pki.dir.path().join("check.yaml");
    std::fs::write(&config, yaml).unwrap();

    let text = tokio::process::Command::new(BIN)
        .args(["check", "--lang", "en", "--config.file"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert_eq!(text.status.code(), Some(1), "one check failed");
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("8. Network connectivity (URLs, DNS, ports, TLS): FAILED"),
        "{stdout}"
    );
    assert!(stdout.contains("[+] smtp-ok reached 127.0.0.1:"), "{stdout}");
    assert!(
        stdout.contains("[x] smtp-silent (127.0.0.1:") && stdout.contains("failed (reason: `timeout`, phase: `banner`)."),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed, 8 not checked."), "{stdout}");

    let json = tokio::process::Command::new(BIN)
        .args(["check", "--output", "json", "--config.file"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(doc["passed"], false);
    assert_eq!(doc["checks"][0]["check"], "smtp-ok");
    assert_eq!(doc["checks"][0]["success"], true);
    assert_eq!(doc["checks"][0]["capabilities"]["AUTH=XOAUTH2"], true);
    assert_eq!(doc["checks"][0]["tls"]["version"], "TLSv1.3");
    assert_eq!(doc["checks"][1]["reason"], "timeout");
    assert_eq!(doc["checks"][1]["phase"], "banner");

    // Only the healthy check: exit 0.
    let ok_only = pki.dir.path().join("ok.yaml");
    std::fs::write(
        &ok_only,
        format!("checks:\n  - name: smtp-ok\n    kind: smtp\n    target: {}\n{TLS}", smtp.target()),
    )
    .unwrap();
    let out = tokio::process::Command::new(BIN)
        .args(["check", "--config.file"])
        .arg(&ok_only)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn network_unreachable_inside_an_empty_network_namespace() {
    // `unshare -n` gives the process a network namespace with no route at
    // all (loopback down), so the connect fails at once with ENETUNREACH and
    // no packet leaves the machine.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("unreachable.yaml");
    std::fs::write(
        &config,
        "checks:\n  - name: smtp-unreachable\n    kind: tcp\n    target: 192.0.2.1:587\n",
    )
    .unwrap();
    let out = Command::new("unshare")
        .args(["--net", BIN, "check", "--output", "json", "--config.file"])
        .arg(&config)
        .output()
        .expect("unshare (util-linux) must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "unshare needs root or user namespaces: {stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(doc["checks"][0]["reason"], "network_unreachable", "{doc}");
    assert_eq!(doc["checks"][0]["phase"], "connect");
}

#[tokio::test(flavor = "multi_thread")]
async fn colon_port_serves_ipv4_and_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("listen.yaml");
    write_closed_port_config(&config);
    let agent = Agent::start_listening(BIN, &config, ":0", &[]);
    assert!(agent.addr.ip().is_unspecified(), "`:0` listens on {}", agent.addr);
    let port = agent.addr.port();
    let (status, _) = request(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "GET", "/-/healthy").await;
    assert_eq!(status, 200, "over IPv4");
    if std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        eprintln!("skipped the [::1] half: this host has no IPv6 loopback");
    } else {
        assert!(agent.addr.is_ipv6(), "IPv6 works here, yet `:0` listens on {}", agent.addr);
        let (status, _) = request(SocketAddr::from((Ipv6Addr::LOCALHOST, port)), "GET", "/-/healthy").await;
        assert_eq!(status, 200, "over IPv6");
    }
    assert_eq!(agent.terminate(), Some(0));
}

/// One GET that tolerates a connection the agent closes at once (over
/// `--web.max-connections`): None then.
async fn try_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    let (status, body) = test_support::agent::split_response(&String::from_utf8_lossy(&raw));
    (status != 0).then_some((status, body))
}

/// Waits (bounded) until `done` holds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never saw {what}");
}

/// Under an open-file limit of 256 (soft and hard, so raising the soft limit
/// cannot help), 400 idle clients on the web port: the ones over
/// `--web.max-connections` are closed as soon as accepted, so the agent keeps
/// descriptors for its checks (a `tcp` check keeps succeeding while the idle
/// clients stay) and serves `/metrics` again once they leave.
#[tokio::test(flavor = "multi_thread")]
async fn idle_web_connections_cannot_starve_the_checks() {
    const FD_LIMIT: usize = 256;
    const CAP: usize = 64;
    const IDLE: usize = 400;
    // This process holds the idle clients' sockets.
    rlimit::increase_nofile_limit(4 * IDLE as u64).unwrap();
    let target = servers::raw(b"", After::Close).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fd.yaml");
    std::fs::write(
        &config,
        format!(
            "global:\n  interval: 1s\n  timeout: 1s\nchecks:\n  - name: local\n    kind: tcp\n    target: {}\n",
            target.target()
        ),
    )
    .unwrap();
    // `ulimit -n` without -S/-H sets both limits; exec keeps the pid.
    let mut launcher = Command::new("sh");
    launcher.args(["-c", &format!("ulimit -n {FD_LIMIT} && exec \"$0\" \"$@\""), BIN]);
    let agent = Agent::spawn(launcher, &config, "127.0.0.1:0", &["--web.max-connections", &CAP.to_string()]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", agent.child.id())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let soft_hard: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(soft_hard, [FD_LIMIT.to_string(), FD_LIMIT.to_string()], "{line}");
    agent.wait_ready().await;

    // The idle clients: each connects, sends nothing, and waits for the agent to hang up.
    let closed = Arc::new(AtomicUsize::new(0));
    let mut idle = tokio::task::JoinSet::new();
    for i in 0..IDLE {
        let stream = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(agent.addr))
            .await
            .unwrap_or_else(|_| panic!("idle client {i}: connect timed out"))
            .unwrap_or_else(|e| panic!("idle client {i}: {e}"));
        let closed = closed.clone();
        idle.spawn(async move {
            let mut stream = stream;
            let mut buf = [0u8; 64];
            // Until EOF or a reset: the agent closed it.
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            closed.fetch_add(1, Ordering::SeqCst);
        });
    }
    // Over the cap: closed at once, their descriptors freed.
    wait_until("the idle clients over the cap closed", || {
        closed.load(Ordering::SeqCst) >= IDLE - CAP
    })
    .await;
    // While the rest stay, the check still reaches its target, twice.
    let before = target.connection_count();
    wait_until("the check connect during the flood", || target.connection_count() >= before + 2).await;

    idle.abort_all();
    while idle.join_next().await.is_some() {}
    let mut metrics = None;
    for _ in 0..600 {
        if let Some((200, body)) = try_get(agent.addr, "/metrics").await {
            metrics = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = metrics.unwrap_or_else(|| panic!("/metrics never served again; log:\n{}", agent.log_text()));
    let m = parse(&metrics);
    assert_eq!(
        value(&m, "ece_o365_check_success", &[("check", "local")]),
        Some(1.0),
        "log:\n{}",
        agent.log_text()
    );
    let failures: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("ece_o365_check_failures_total{") && k.contains("check=\"local\""))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(failures, 0.0, "a run failed under the flood: {metrics}");
    let log = agent.log_text();
    assert!(log.contains("too many open web connections"), "{log}");
    assert!(!log.to_lowercase().contains("too many open files"), "{log}");
    assert_eq!(agent.terminate(), Some(0));
}

/// The heaps glibc made for arenas other than the main one, in a process's
/// memory map: each is a mapping of its own, aligned on and spanning 64 MiB
/// (its used part read-write, the rest reserved without access).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn arena_heaps(pid: u32) -> usize {
    const HEAP: u64 = 64 << 20;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let regions: Vec<(u64, u64, String, bool)> = maps
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (start, end) = fields[0].split_once('-').unwrap();
            let start = u64::from_str_radix(start, 16).unwrap();
            let end = u64::from_str_radix(end, 16).unwrap();
            (start, end, fields[1].to_string(), fields.len() == 5)
        })
        .collect();
    regions
        .iter()
        .enumerate()
        .filter(|(i, (start, end, perms, anonymous))| {
            let reserved_to = match regions.get(i + 1) {
                Some((next_start, next_end, next_perms, true)) if next_start == end && next_perms == "---p" => *next_end,
                _ => *end,
            };
            *anonymous && perms == "rw-p" && start % HEAP == 0 && reserved_to == start + HEAP
        })
        .count()
}

/// The agent allocates from one malloc arena (docs/scaling.md, Memory):
/// after checks ran and scrapes were answered on both workers, its map has
/// no heap of another arena. An admin's `MALLOC_ARENA_MAX` wins, and then
/// the threads' arenas are there, which shows what is counted.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test(flavor = "multi_thread")]
async fn one_malloc_arena_unless_the_admin_sets_more() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let mut yaml = String::from("global: { interval: 1s, timeout: 1s }\nchecks:\n");
    for i in 0..8 {
        yaml.push_str(&format!(
            "  - {{ name: c{i}, kind: tcp, target: \"127.0.0.1:{}\" }}\n",
            closed_port()
        ));
    }
    std::fs::write(&config, yaml).unwrap();
    let mut heaps = Vec::new();
    for arenas in [None, Some("8")] {
        let mut launcher = Command::new(BIN);
        launcher.env_remove("MALLOC_ARENA_MAX");
        if let Some(n) = arenas {
            launcher.env("MALLOC_ARENA_MAX", n);
        }
        let agent = Agent::spawn(launcher, &config, "127.0.0.1:0", &[]);
        agent.wait_ready().await;
        // Runs on both workers, and scrapes beside them.
        for _ in 0..20 {
            assert_eq!(agent.get("/metrics").await.0, 200);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        heaps.push(arena_heaps(agent.child.id()));
        assert_eq!(agent.terminate(), Some(0));
    }
    assert_eq!(heaps[0], 0, "heaps of other arenas in the agent's memory map");
    assert!(heaps[1] >= 1, "MALLOC_ARENA_MAX=8 and still no other arena's heap: {heaps:?}");
}

/// exp and pow are defined in the binary (crates/libm-symbols): an agent
/// that resolved a name (hickory's decaying round-trip time calls exp) and
/// ran its scheduler (tokio's statistics call pow) has no libm.so mapped.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test(flavor = "multi_thread")]
async fn no_libm_so_is_loaded() {
    let dns = servers::dns(DnsMode::Answer(vec![Ipv4Addr::new(192, 0, 2, 10)])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let yaml = format!(
        "checks:\n  - {{ name: dns, kind: dns, query: outlook.office365.com, dns_servers: [\"{}\"] }}\n",
        dns.addr
    );
    std::fs::write(&config, yaml).unwrap();
    let agent = Agent::start(BIN, &config, &[]);
    agent.wait_ready().await;
    let m = parse(&agent.get("/metrics").await.1);
    assert_eq!(
        value(
            &m,
            "ece_o365_check_success",
            &[("check", "dns"), ("kind", "dns"), ("target", "outlook.office365.com/A")]
        ),
        Some(1.0)
    );
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", agent.child.id())).unwrap();
    let libm: Vec<&str> = maps.lines().filter(|l| l.contains("/libm.so")).collect();
    assert!(
        libm.is_empty(),
        "libm.so is mapped (a new C math function? see crates/libm-symbols): {libm:?}"
    );
    assert_eq!(agent.terminate(), Some(0));
}
