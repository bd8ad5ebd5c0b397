//! Every check kind against in-process servers on loopback: the success
//! path with its phases and facts, and each failure reason a server can
//! cause, including Exchange's own replies after login (with the guide's
//! remedy for each, in every language) and the INBOX's oldest message.
#![allow(clippy::unwrap_used)]

mod support;
#[path = "support/verdict.rs"]
mod verdict;

use std::net::Ipv4Addr;
use std::time::Duration;

use ece_o365_exporter::checks::run_check;
use ece_o365_exporter::config::Config;
use ece_o365_exporter::i18n::Lang;
use ece_o365_exporter::oauth::store::{StoredToken, TokenStore};
use ece_o365_exporter::observation::Observation;
use ece_o365_exporter::reason::{Phase, Reason};
use ece_o365_exporter::report;
use secrecy::SecretString;
use support::run_first;
use test_support::jwt::{self, OAuthKey};
use test_support::net::{black_hole, free_port};
use test_support::one_check;
use test_support::pki::{self, Leaf, Pki};
use test_support::servers::{self, After, DnsMode, Mail};
use test_support::token_server::{Behaviour, TokenServer};
use verdict::{assert_fails, assert_ok, phases};

fn capability(obs: &Observation, name: &str) -> Option<bool> {
    obs.facts.capabilities.as_ref()?.iter().find(|(c, _)| *c == name).map(|(_, on)| *on)
}

/// TLS settings pointing at the test CA, for a loopback target.
const TLS_OPTS: &str = "    server_name: localhost\n    ca_file: ca.pem\n";

// ---------------------------------------------------------------- DNS

fn dns_yaml(server: std::net::SocketAddr, query: &str, record: &str) -> String {
    format!(
        "checks:\n  - name: under-test\n    kind: dns\n    query: {query}\n    record: {record}\n    timeout: 2s\n    dns_servers: [\"{server}\"]\n"
    )
}

#[tokio::test]
async fn dns_answer_counts_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = servers::dns(DnsMode::Answer(vec![Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)])).await;
    let obs = run_first(dir.path(), &dns_yaml(server.addr, "outlook.office365.com", "A")).await;
    assert_ok(&obs);
    assert_eq!(obs.facts.dns_answers, Some(2));
    assert_eq!(phases(&obs), vec![Phase::Resolve]);
}

#[tokio::test]
async fn dns_failures_are_distinct_reasons() {
    let cases = [
        (DnsMode::NxDomain, Reason::DnsNxdomain),
        (DnsMode::ServFail, Reason::DnsServfail),
        (DnsMode::Refused, Reason::DnsRefused),
        (DnsMode::NoData, Reason::DnsNoAnswer),
    ];
    for (mode, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let server = servers::dns(mode.clone()).await;
        let obs = run_first(dir.path(), &dns_yaml(server.addr, "outlook.office365.com", "A")).await;
        assert_fails(&obs, reason, Phase::Resolve);
        assert!(
            server.queries.load(std::sync::atomic::Ordering::SeqCst) >= 1,
            "{mode:?}: server never asked"
        );
    }
}

#[tokio::test]
async fn dns_record_type_without_answers_is_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = servers::dns(DnsMode::Answer(vec![Ipv4Addr::new(192, 0, 2, 1)])).await;
    // The server only has A records; an MX query gets NOERROR with nothing.
    let obs = run_first(dir.path(), &dns_yaml(server.addr, "office365.com", "MX")).await;
    assert_fails(&obs, Reason::DnsNoAnswer, Phase::Resolve);
}

#[tokio::test(start_paused = true)]
async fn dns_silent_server_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = servers::dns(DnsMode::Silent).await;
    let obs = run_first(dir.path(), &dns_yaml(server.addr, "outlook.office365.com", "A")).await;
    assert_fails(&obs, Reason::DnsTimeout, Phase::Resolve);
    assert!(obs.duration <= Duration::from_secs(3), "took {:?}", obs.duration);
}

// ---------------------------------------------------------------- TCP

#[tokio::test]
async fn tcp_connects() {
    let dir = tempfile::tempdir().unwrap();
    let server = servers::raw(b"", After::Drain).await;
    let obs = run_first(dir.path(), &one_check("tcp", &server.target(), "")).await;
    assert_ok(&obs);
    assert_eq!(phases(&obs), vec![Phase::Connect]);
    // The kernel completes the handshake before the server task accepts it.
    let accepted = tokio::time::timeout(Duration::from_secs(10), async {
        while server.connection_count() == 0 {
            tokio::task::yield_now().await;
        }
    });
    assert!(accepted.await.is_ok(), "the server never saw the connection");
}

#[tokio::test]
async fn tcp_records_the_address_family_it_connected_over() {
    let dir = tempfile::tempdir().unwrap();
    let v4 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let obs = run_first(dir.path(), &one_check("tcp", &v4.local_addr().unwrap().to_string(), "")).await;
    assert_ok(&obs);
    assert_eq!(obs.facts.address_family, Some("ipv4"));
    let v6 = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let target = format!("\"{}\"", v6.local_addr().unwrap());
    let obs = run_first(dir.path(), &one_check("tcp", &target, "")).await;
    assert_ok(&obs);
    assert_eq!(obs.facts.address_family, Some("ipv6"));
}

#[tokio::test]
async fn tcp_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let obs = run_first(dir.path(), &one_check("tcp", &format!("127.0.0.1:{port}"), "")).await;
    assert_fails(&obs, Reason::ConnectRefused, Phase::Connect);
}

#[tokio::test]
async fn tcp_connect_timeout_when_the_backlog_is_full() {
    // A listener that never accepts, with its backlog filled: the kernel
    // drops further SYNs, which is what a firewall's DROP looks like.
    let hole = black_hole(Ipv4Addr::LOCALHOST.into()).await;
    let addr = hole.addr;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("checks:\n  - name: under-test\n    kind: tcp\n    target: {addr}\n    timeout: 1s\n");
    let obs = run_first(dir.path(), &yaml).await;
    assert_fails(&obs, Reason::ConnectTimeout, Phase::Connect);
    drop(hole);
}

#[tokio::test]
async fn unresolvable_host_is_resolve_failed() {
    let dir = tempfile::tempdir().unwrap();
    let obs = run_first(dir.path(), &one_check("tcp", "no-such-host.invalid:443", "")).await;
    assert_fails(&obs, Reason::ResolveFailed, Phase::Resolve);
}

// ---------------------------------------------------------------- TLS

#[tokio::test]
async fn tls_handshake_reports_version_issuer_and_expiry() {
    let pki = Pki::new();
    let server = servers::tls(pki.server_config(Leaf::Good)).await;
    let obs = run_first(pki.dir.path(), &one_check("tls", &server.target(), TLS_OPTS)).await;
    assert_ok(&obs);
    assert_eq!(phases(&obs), vec![Phase::Connect, Phase::Tls]);
    let tls = obs.facts.tls.expect("tls facts");
    assert_eq!(tls.version, "TLSv1.3");
    assert_eq!(
        tls.earliest_expiry,
        Some(pki::LEAF_NOT_AFTER_UNIX),
        "the leaf expires before the CA"
    );
    let leaf = tls.leaf.expect("leaf");
    assert!(leaf.issuer.contains(pki::CA_NAME), "{}", leaf.issuer);
    assert!(leaf.subject.contains("localhost"), "{}", leaf.subject);
    assert_eq!(leaf.fingerprint_sha256.len(), 64);
}

#[tokio::test]
async fn tls_certificate_failures_are_distinct_reasons() {
    let cases = [
        (Leaf::Expired, Reason::TlsCertExpired),
        (Leaf::NotYetValid, Reason::TlsCertNotYetValid),
        (Leaf::WrongName, Reason::TlsCertNameMismatch),
        (Leaf::SelfSigned, Reason::TlsCertUntrusted),
        (Leaf::OtherCa, Reason::TlsCertUntrusted),
    ];
    let pki = Pki::new();
    for (leaf, reason) in cases {
        let server = servers::tls(pki.server_config(leaf)).await;
        let obs = run_first(pki.dir.path(), &one_check("tls", &server.target(), TLS_OPTS)).await;
        assert_fails(&obs, reason, Phase::Tls);
    }
}

#[tokio::test]
async fn tls_without_the_test_ca_is_untrusted() {
    let pki = Pki::new();
    let server = servers::tls(pki.server_config(Leaf::Good)).await;
    let obs = run_first(pki.dir.path(), &one_check("tls", &server.target(), "    server_name: localhost\n")).await;
    assert_fails(&obs, Reason::TlsCertUntrusted, Phase::Tls);
}

#[tokio::test]
async fn tls_unexpected_issuer_still_records_the_certificate() {
    let pki = Pki::new();
    let server = servers::tls(pki.server_config(Leaf::Good)).await;
    let opts = format!("{TLS_OPTS}    expected_issuer: DigiCert\n");
    let obs = run_first(pki.dir.path(), &one_check("tls", &server.target(), &opts)).await;
    assert_fails(&obs, Reason::TlsUnexpectedIssuer, Phase::Tls);
    let issuer = obs.facts.tls.and_then(|t| t.leaf).map(|l| l.issuer).unwrap_or_default();
    assert!(issuer.contains(pki::CA_NAME), "{issuer}");

    let opts = format!("{TLS_OPTS}    expected_issuer: \"{}\"\n", pki::CA_NAME);
    assert_ok(&run_first(pki.dir.path(), &one_check("tls", &server.target(), &opts)).await);
}

/// A server certificate that the test swaps between runs, as a rotation
/// (or a newly installed intercepting proxy) does.
#[derive(Debug)]
struct SwappableCert(std::sync::Mutex<std::sync::Arc<rustls::sign::CertifiedKey>>);

impl rustls::server::ResolvesServerCert for SwappableCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.lock().unwrap().clone())
    }
}

fn certified(pki: &Pki) -> (std::sync::Arc<rustls::sign::CertifiedKey>, String) {
    let (chain, key) = pki.leaf(Leaf::Good);
    let digest = ring::digest::digest(&ring::digest::SHA256, chain[0].as_ref());
    let fingerprint = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let key = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    (std::sync::Arc::new(rustls::sign::CertifiedKey::new(chain, key)), fingerprint)
}

/// A server that issues TLS 1.3 session tickets (and keeps a session cache)
/// changes its certificate between two runs of one check: the second run
/// must report the new certificate. A client that resumed would carry the
/// first session's chain over, and a rotated certificate or a new
/// intercepting proxy would stay invisible. IMAP with implicit TLS, because
/// a mail check reads after the handshake and so receives the tickets.
#[tokio::test]
async fn every_run_verifies_and_reports_the_chain_the_server_presents_now() {
    let pki = Pki::new();
    let (first, first_fp) = certified(&pki);
    let (second, second_fp) = certified(&pki);
    assert_ne!(first_fp, second_fp);
    let current = std::sync::Arc::new(SwappableCert(std::sync::Mutex::new(first)));
    let mut cfg = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(current.clone());
    cfg.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
    let server = servers::imap(Mail::new(std::sync::Arc::new(cfg)).implicit()).await;
    let checks = support::checks_from_yaml(pki.dir.path(), &one_check("imap", &server.target(), TLS_OPTS));
    let fingerprint = |obs: &Observation| {
        obs.facts
            .tls
            .as_ref()
            .and_then(|t| t.leaf.as_ref())
            .map(|l| l.fingerprint_sha256.clone())
    };

    let obs = run_check(&checks[0]).await;
    assert_ok(&obs);
    assert_eq!(fingerprint(&obs), Some(first_fp));
    *current.0.lock().unwrap() = second;
    let obs = run_check(&checks[0]).await;
    assert_ok(&obs);
    assert_eq!(
        fingerprint(&obs),
        Some(second_fp),
        "the second run reported the first session's certificate"
    );
    assert_eq!(server.connection_count(), 2);
}

#[tokio::test]
async fn tls_to_a_plaintext_or_closing_server_fails_the_handshake() {
    let pki = Pki::new();
    for server in [
        servers::raw(b"220 smtp.example ESMTP\r\n", After::Drain).await,
        servers::raw(b"", After::Close).await,
        servers::raw(b"\x15\x03\x03\x00\x02\x02\x28", After::Close).await, // a TLS alert record
    ] {
        let obs = run_first(pki.dir.path(), &one_check("tls", &server.target(), TLS_OPTS)).await;
        assert_fails(&obs, Reason::TlsHandshakeFailed, Phase::Tls);
    }
}

// ---------------------------------------------------------------- SMTP

#[tokio::test]
async fn smtp_starttls_sees_capabilities_before_and_after_tls() {
    let pki = Pki::new();
    let server = servers::smtp(Mail::new(pki.server_config(Leaf::Good))).await;
    let obs = run_first(
        pki.dir.path(),
        &one_check("smtp", &server.target(), &format!("    tls: starttls\n{TLS_OPTS}")),
    )
    .await;
    assert_ok(&obs);
    assert_eq!(
        phases(&obs),
        vec![
            Phase::Connect,
            Phase::Banner,
            Phase::Ehlo,
            Phase::Starttls,
            Phase::Tls,
            Phase::EhloTls,
            Phase::Quit
        ]
    );
    assert_eq!(capability(&obs, "STARTTLS"), Some(true));
    assert_eq!(capability(&obs, "AUTH=XOAUTH2"), Some(true), "AUTH is offered inside TLS");
    assert_eq!(capability(&obs, "AUTH=LOGIN"), Some(true));
    assert_eq!(capability(&obs, "AUTH=OAUTHBEARER"), Some(false));
    assert_eq!(capability(&obs, "SIZE"), Some(true));
    assert!(obs.facts.tls.is_some());
}

#[tokio::test]
async fn smtp_implicit_tls_and_plain() {
    let pki = Pki::new();
    let server = servers::smtp(Mail::new(pki.server_config(Leaf::Good)).implicit()).await;
    let obs = run_first(
        pki.dir.path(),
        &one_check("smtp", &server.target(), &format!("    tls: implicit\n{TLS_OPTS}")),
    )
    .await;
    assert_ok(&obs);
    assert_eq!(
        phases(&obs),
        vec![Phase::Connect, Phase::Tls, Phase::Banner, Phase::Ehlo, Phase::Quit]
    );
    assert_eq!(capability(&obs, "AUTH=XOAUTH2"), Some(true));

    let server = servers::smtp(Mail::new(pki.server_config(Leaf::Good))).await;
    let obs = run_first(pki.dir.path(), &one_check("smtp", &server.target(), "    tls: none\n")).await;
    assert_ok(&obs);
    assert!(obs.facts.tls.is_none());
    assert_eq!(capability(&obs, "STARTTLS"), Some(true));
    assert_eq!(capability(&obs, "AUTH=XOAUTH2"), Some(false));
}

#[tokio::test]
async fn smtp_starttls_not_offered_or_refused() {
    let pki = Pki::new();
    let mut m = Mail::new(pki.server_config(Leaf::Good));
    m.offer_starttls = false;
    let server = servers::smtp(m).await;
    let obs = run_first(pki.dir.path(), &one_check("smtp", &server.target(), TLS_OPTS)).await;
    assert_fails(&obs, Reason::StarttlsNotOffered, Phase::Ehlo);
    assert_eq!(capability(&obs, "STARTTLS"), Some(false));

    let mut m = Mail::new(pki.server_config(Leaf::Good));
    m.accept_starttls = false;
    let server = servers::smtp(m).await;
    let obs = run_first(pki.dir.path(), &one_check("smtp", &server.target(), TLS_OPTS)).await;
    assert_fails(&obs, Reason::StarttlsRejected, Phase::Starttls);
    assert!(
        obs.outcome.unwrap_err().detail.contains("454 4.7.0"),
        "the server's reply is in the detail"
    );
}

#[tokio::test]
async fn smtp_bad_certificate_after_starttls() {
    let pki = Pki::new();
    let server = servers::smtp(Mail::new(pki.server_config(Leaf::Expired))).await;
    let obs = run_first(pki.dir.path(), &one_check("smtp", &server.target(), TLS_OPTS)).await;
    assert_fails(&obs, Reason::TlsCertExpired, Phase::Tls);
}

#[tokio::test]
async fn smtp_data_injected_after_starttls_is_discarded() {
    let pki = Pki::new();
    let mut m = Mail::new(pki.server_config(Leaf::Good));
    m.inject_after_starttls = Some(b"250-INJECTED\r\n250 AUTH=EVIL\r\n");
    let server = servers::smtp(m).await;
    let obs = run_first(pki.dir.path(), &one_check("smtp", &server.target(), TLS_OPTS)).await;
    assert_ok(&obs);
    assert_eq!(capability(&obs, "AUTH=XOAUTH2"), Some(true), "the EHLO answer came from inside TLS");
}

#[tokio::test]
async fn smtp_hostile_or_broken_servers() {
    let pki = Pki::new();
    let cases: Vec<(servers::TestServer, Reason, Phase)> = vec![
        (
            servers::raw(b"554 5.3.2 Service not available\r\n", After::Drain).await,
            Reason::GreetingRejected,
            Phase::Banner,
        ),
        (
            servers::raw(b"421 4.3.2 Too many connections\r\n", After::Close).await,
            Reason::GreetingRejected,
            Phase::Banner,
        ),
        (
            servers::raw(b"HTTP/1.1 400 Bad Request\r\n\r\n", After::Close).await,
            Reason::UnexpectedReply,
            Phase::Banner,
        ),
        (servers::raw(b"", After::Close).await, Reason::ConnectionClosed, Phase::Banner),
        (
            servers::raw(b"220-partial", After::Close).await,
            Reason::ConnectionClosed,
            Phase::Banner,
        ),
        (
            servers::raw(b"220-multi\r\n230 code changed\r\n", After::Drain).await,
            Reason::UnexpectedReply,
            Phase::Banner,
        ),
        (
            servers::flood(b"220 ", b"xxxxxxxxxxxxxxxx", 1 << 20).await,
            Reason::LineTooLong,
            Phase::Banner,
        ),
        (
            servers::flood(b"", b"220-again\r\n", 1 << 20).await,
            Reason::TooManyLines,
            Phase::Banner,
        ),
        (
            servers::raw(b"220 ok\r\n", After::Close).await,
            Reason::ConnectionClosed,
            Phase::Ehlo,
        ),
    ];
    for (server, reason, phase) in cases {
        let obs = run_first(pki.dir.path(), &one_check("smtp", &server.target(), TLS_OPTS)).await;
        assert_fails(&obs, reason, phase);
        assert_eq!(server.connection_count(), 1, "one connection per run, no retries");
    }
}

#[tokio::test(start_paused = true)]
async fn smtp_silent_server_times_out_in_the_banner_phase() {
    let pki = Pki::new();
    let server = servers::raw(b"", After::Hold).await;
    let yaml = format!(
        "checks:\n  - name: under-test\n    kind: smtp\n    target: {}\n    timeout: 3s\n{TLS_OPTS}",
        server.target()
    );
    let obs = run_first(pki.dir.path(), &yaml).await;
    assert_fails(&obs, Reason::Timeout, Phase::Banner);
    assert!(obs.outcome.unwrap_err().detail.contains("3s"));

    // A slow drip that never finishes a line is cut off by the same deadline.
    let server = servers::raw(b"220 slow", After::Hold).await;
    let yaml = format!(
        "checks:\n  - name: under-test\n    kind: smtp\n    target: {}\n    timeout: 3s\n{TLS_OPTS}",
        server.target()
    );
    assert_fails(&run_first(pki.dir.path(), &yaml).await, Reason::Timeout, Phase::Banner);
}

// ---------------------------------------------------------------- IMAP

#[tokio::test]
async fn imap_implicit_tls() {
    let pki = Pki::new();
    let server = servers::imap(Mail::new(pki.server_config(Leaf::Good)).implicit()).await;
    let obs = run_first(pki.dir.path(), &one_check("imap", &server.target(), TLS_OPTS)).await;
    assert_ok(&obs);
    assert_eq!(
        phases(&obs),
        vec![Phase::Connect, Phase::Tls, Phase::Banner, Phase::Capability, Phase::Quit]
    );
    for (cap, on) in [
        ("IMAP4REV1", true),
        ("AUTH=XOAUTH2", true),
        ("SASL-IR", true),
        ("IDLE", true),
        ("STARTTLS", false),
        ("AUTH=OAUTHBEARER", false),
    ] {
        assert_eq!(capability(&obs, cap), Some(on), "{cap}");
    }
}

#[tokio::test]
async fn imap_starttls() {
    let pki = Pki::new();
    let server = servers::imap(Mail::new(pki.server_config(Leaf::Good))).await;
    let obs = run_first(
        pki.dir.path(),
        &one_check("imap", &server.target(), &format!("    tls: starttls\n{TLS_OPTS}")),
    )
    .await;
    assert_ok(&obs);
    assert_eq!(
        phases(&obs),
        vec![
            Phase::Connect,
            Phase::Banner,
            Phase::Capability,
            Phase::Starttls,
            Phase::Tls,
            Phase::Capability,
            Phase::Quit
        ]
    );
    assert_eq!(capability(&obs, "STARTTLS"), Some(true));
    assert_eq!(capability(&obs, "AUTH=XOAUTH2"), Some(true));
    assert_eq!(capability(&obs, "LOGINDISABLED"), Some(false), "inside TLS login is allowed");
}

#[tokio::test]
async fn imap_failures() {
    let pki = Pki::new();
    let starttls = format!("    tls: starttls\n{TLS_OPTS}");

    let mut m = Mail::new(pki.server_config(Leaf::Good));
    m.offer_starttls = false;
    let obs = run_first(pki.dir.path(), &one_check("imap", &servers::imap(m).await.target(), &starttls)).await;
    assert_fails(&obs, Reason::StarttlsNotOffered, Phase::Capability);

    let mut m = Mail::new(pki.server_config(Leaf::Good));
    m.accept_starttls = false;
    let obs = run_first(pki.dir.path(), &one_check("imap", &servers::imap(m).await.target(), &starttls)).await;
    assert_fails(&obs, Reason::StarttlsRejected, Phase::Starttls);

    let cases: Vec<(servers::TestServer, Reason, Phase)> = vec![
        (
            servers::raw(b"* BYE server shutting down\r\n", After::Close).await,
            Reason::GreetingRejected,
            Phase::Banner,
        ),
        (
            servers::raw(b"* PREAUTH welcome, you are logged in\r\n", After::Drain).await,
            Reason::UnexpectedReply,
            Phase::Banner,
        ),
        (
            servers::raw(b"+OK this is POP3\r\n", After::Drain).await,
            Reason::UnexpectedReply,
            Phase::Banner,
        ),
        (
            servers::raw(b"* OK ready\r\n", After::Close).await,
            Reason::ConnectionClosed,
            Phase::Capability,
        ),
        (
            servers::flood(b"* OK ready\r\n", b"* CAPABILITY IMAP4rev1\r\n", 1 << 20).await,
            Reason::TooManyLines,
            Phase::Capability,
        ),
        (
            servers::raw(b"* OK ready\r\n* X {999999999}\r\n", After::Drain).await,
            Reason::LineTooLong,
            Phase::Capability,
        ),
    ];
    for (server, reason, phase) in cases {
        let obs = run_first(pki.dir.path(), &one_check("imap", &server.target(), &starttls)).await;
        assert_fails(&obs, reason, phase);
    }
}

#[tokio::test]
async fn imap_literals_in_untagged_lines_are_skipped() {
    let pki = Pki::new();
    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    // A literal that itself looks like a tagged completion must not end the response.
    m.before_capability = Some(b"* ID (\"name\" {12}\r\nE1 NO fake!)\r\n");
    let server = servers::imap(m).await;
    let obs = run_first(pki.dir.path(), &one_check("imap", &server.target(), TLS_OPTS)).await;
    assert_ok(&obs);
    assert_eq!(capability(&obs, "AUTH=XOAUTH2"), Some(true));
}

// ---------------------------------------------------------------- POP3

#[tokio::test]
async fn pop3_implicit_and_stls() {
    let pki = Pki::new();
    let server = servers::pop3(Mail::new(pki.server_config(Leaf::Good)).implicit()).await;
    let obs = run_first(pki.dir.path(), &one_check("pop3", &server.target(), TLS_OPTS)).await;
    assert_ok(&obs);
    assert_eq!(
        phases(&obs),
        vec![Phase::Connect, Phase::Tls, Phase::Banner, Phase::Capability, Phase::Quit]
    );
    assert_eq!(capability(&obs, "AUTH=XOAUTH2"), Some(true));
    assert_eq!(capability(&obs, "UIDL"), Some(true));
    assert_eq!(capability(&obs, "TOP"), Some(true));

    let server = servers::pop3(Mail::new(pki.server_config(Leaf::Good))).await;
    let obs = run_first(
        pki.dir.path(),
        &one_check("pop3", &server.target(), &format!("    tls: starttls\n{TLS_OPTS}")),
    )
    .await;
    assert_ok(&obs);
    assert_eq!(capability(&obs, "STARTTLS"), Some(true), "STLS is exported as STARTTLS");
    assert_eq!(capability(&obs, "AUTH=XOAUTH2"), Some(true));
}

#[tokio::test]
async fn pop3_failures() {
    let pki = Pki::new();
    let starttls = format!("    tls: starttls\n{TLS_OPTS}");
    let mut m = Mail::new(pki.server_config(Leaf::Good));
    m.offer_starttls = false;
    let obs = run_first(pki.dir.path(), &one_check("pop3", &servers::pop3(m).await.target(), &starttls)).await;
    assert_fails(&obs, Reason::StarttlsNotOffered, Phase::Capability);

    let mut m = Mail::new(pki.server_config(Leaf::Good));
    m.accept_starttls = false;
    let obs = run_first(pki.dir.path(), &one_check("pop3", &servers::pop3(m).await.target(), &starttls)).await;
    assert_fails(&obs, Reason::StarttlsRejected, Phase::Starttls);

    let server = servers::raw(b"-ERR too many connections\r\n", After::Close).await;
    let obs = run_first(pki.dir.path(), &one_check("pop3", &server.target(), &starttls)).await;
    assert_fails(&obs, Reason::GreetingRejected, Phase::Banner);

    let server = servers::flood(b"+OK\r\n", b"+OK\r\nTOP\r\n", 1 << 20).await;
    let obs = run_first(pki.dir.path(), &one_check("pop3", &server.target(), &starttls)).await;
    assert_fails(&obs, Reason::TooManyLines, Phase::Capability);
}

// ------------------------------------- Exchange's replies after login, backlog age

const ADDRESS: &str = "support@contoso.com";
/// The shared account of a mailbox used through `auth_user`.
const SHARED: &str = "ece-service@contoso.com";

/// A token endpoint issuing a delegated Exchange token for `token_user`
/// (not [`ADDRESS`]: the mailbox is used through that shared account), and
/// the configuration's head for mailbox `support`.
async fn mailbox_setup(pki: &Pki, token_user: &str) -> (TokenServer, String) {
    let key = OAuthKey {
        key_id: "checks-test".into(),
        hs256_secret: b"checks-test-secret-0123456789abcdef".to_vec(),
        issuer: String::new(),
    };
    let scp = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send";
    let tokens = TokenServer::start(
        pki,
        Behaviour::Issue {
            access_token: jwt::delegated_exchange_jwt(&key, token_user, scp, 3600),
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    let dir = pki.dir.path();
    std::fs::write(dir.join("client-secret.txt"), "checks-test-client-secret").unwrap();
    TokenStore::new(dir.join("support.token"))
        .save(&StoredToken {
            refresh_token: SecretString::from("checks-test-refresh-token".to_string()),
            rotated_at: 1_700_000_000,
            account: None,
            public_client: false,
        })
        .unwrap();
    let auth_user = if token_user == ADDRESS {
        String::new()
    } else {
        format!("    auth_user: {token_user}\n")
    };
    let head = format!(
        "global:\n  timeout: 10s\n  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    authority: {}
mailboxes:
  - name: support
    address: {ADDRESS}
{auth_user}    tenant: contoso
    grant: refresh_token
    token_store: support.token
    protocols: [imap, pop3, smtp]
checks:
",
        tokens.authority()
    );
    (tokens, head)
}

/// Runs one authenticated check of `kind` against `server` as mailbox
/// `support`, with a token for `token_user`; returns the run and the guide's
/// remedy for it (when it failed), in every language.
async fn run_as_mailbox(pki: &Pki, kind: &str, server: &servers::TestServer, token_user: &str) -> (Observation, Vec<(Lang, String)>) {
    let (_tokens, head) = mailbox_setup(pki, token_user).await;
    let yaml = format!(
        "{head}  - name: {kind}-support\n    kind: {kind}\n    target: {}\n    server_name: localhost\n    mailbox: support\n",
        server.target()
    );
    let dir = pki.dir.path();
    let config = Config::from_yaml(&dir.join("test-config.yaml"), &yaml).unwrap();
    let entries = report::run_all(&support::checks_from_yaml(dir, &yaml)).await;
    let assessment = report::assess(&config, &entries);
    let remedy = assessment.items.iter().flat_map(|i| &i.findings).find_map(|f| f.remedy.clone());
    let texts = remedy
        .map(|r| Lang::ALL.iter().map(|l| (*l, l.text(r.key, &r.args))).collect())
        .unwrap_or_default();
    let obs = entries.into_iter().next().unwrap().observation;
    (obs, texts)
}

/// The remedy is written in every language (not the key, not English in
/// a translation, every variable filled) and contains `marker` in English.
#[track_caller]
fn assert_remedy(texts: &[(Lang, String)], key: &str, marker: &str) {
    assert_eq!(texts.len(), Lang::ALL.len(), "no remedy for {key}");
    let english = &texts[0].1;
    assert!(english.contains(marker), "{key}: `{marker}` not in {english}");
    for (lang, text) in texts {
        assert!(text.len() > 40 && !text.starts_with("remedy-"), "{}: {key}: {text}", lang.code());
        assert!(
            !text.contains("{$") && !text.contains("{ $"),
            "{}: unfilled variable in {text}",
            lang.code()
        );
        if *lang != Lang::En {
            assert_ne!(text, english, "{}: {key} is not translated", lang.code());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_replies_after_login_are_named() {
    let pki = Pki::new();
    // A shared account without Full Access: Exchange lets AUTHENTICATE pass, then refuses every command.
    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    m.after_login = Some("{tag} BAD User is authenticated but not connected.");
    let server = servers::imap(m).await;
    let (obs, remedy) = run_as_mailbox(&pki, "imap", &server, SHARED).await;
    let detail = assert_fails(&obs, Reason::MailboxRightsMissing, Phase::Select);
    assert!(
        detail.contains("authenticated but not connected") && detail.contains(SHARED),
        "{detail}"
    );
    assert_remedy(&remedy, "mailbox_rights_missing", "Full Access");
    assert_eq!(obs.facts.mailbox_messages, None);

    // The token expired inside the session: Exchange ends it with BYE.
    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    m.after_login = Some("* BYE Session invalidated - AccessTokenExpired");
    let server = servers::imap(m).await;
    let (obs, remedy) = run_as_mailbox(&pki, "imap", &server, ADDRESS).await;
    let detail = assert_fails(&obs, Reason::AuthRejected, Phase::Select);
    assert!(detail.contains("AccessTokenExpired"), "{detail}");
    assert_remedy(&remedy, "auth_rejected", ADDRESS);

    // Any other BYE is the server hanging up, not a login problem.
    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    m.after_login = Some("* BYE Server shutting down.");
    let server = servers::imap(m).await;
    let (obs, _) = run_as_mailbox(&pki, "imap", &server, ADDRESS).await;
    assert_fails(&obs, Reason::ConnectionClosed, Phase::Select);
}

#[tokio::test(flavor = "multi_thread")]
async fn pop3_logon_failure_is_missing_rights_only_for_another_accounts_token() {
    let pki = Pki::new();
    let logon_failure = "-ERR Logon failure: unknown user name or bad password.";
    for (token_user, reason, marker) in [
        (SHARED, Reason::MailboxRightsMissing, "Full Access"),
        (ADDRESS, Reason::AuthRejected, "POP3"),
    ] {
        let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
        m.pop3_auth_reply = logon_failure;
        let server = servers::pop3(m).await;
        let (obs, remedy) = run_as_mailbox(&pki, "pop3", &server, token_user).await;
        let detail = assert_fails(&obs, reason, Phase::Auth);
        assert!(detail.contains("Logon failure"), "{detail}");
        assert_remedy(&remedy, reason.as_str(), marker);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_auth_disabled_remedy_names_the_switch_exchange_names() {
    let pki = Pki::new();
    let cases: [(&'static [&'static str], &str); 4] = [
        (
            &[
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
            ],
            "Set-TransportConfig",
        ),
        (
            &[
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
            ],
            "Set-CASMailbox",
        ),
        (
            &[
                "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
            ],
            "Security defaults",
        ),
        (
            &[
                "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.",
            ],
            "check that the organisation does not disable it",
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (replies, marker) in cases {
        let mut m = Mail::new(pki.server_config(Leaf::Good));
        m.auth_replies = replies;
        let server = servers::smtp(m).await;
        let (obs, remedy) = run_as_mailbox(&pki, "smtp", &server, ADDRESS).await;
        assert_fails(&obs, Reason::SmtpAuthDisabled, Phase::Auth);
        assert_remedy(&remedy, "smtp_auth_disabled", marker);
        for (_, text) in remedy {
            assert!(seen.insert(text.clone()), "two causes got the same remedy: {text}");
        }
    }
    assert_eq!(seen.len(), 4 * Lang::ALL.len(), "four remedies in each of five languages");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oldest_message_date_is_read_over_imap_and_pop3() {
    let pki = Pki::new();
    // 3 Dec 2026 10:00:00 UTC, as both servers date message 1.
    const OLDEST: i64 = 1_796_292_000;
    for kind in ["imap", "pop3"] {
        let m = Mail::new(pki.server_config(Leaf::Good)).implicit();
        let server = if kind == "imap" {
            servers::imap(m).await
        } else {
            servers::pop3(m).await
        };
        let (obs, _) = run_as_mailbox(&pki, kind, &server, ADDRESS).await;
        assert_ok(&obs);
        assert_eq!(obs.facts.mailbox_messages, Some(("INBOX", 17)), "{kind}");
        assert_eq!(obs.facts.oldest_message, Some(("INBOX", Some(OLDEST))), "{kind}");
        assert!(
            phases(&obs).ends_with(&[Phase::Auth, Phase::Select, Phase::Quit]),
            "{kind}: {:?}",
            phases(&obs)
        );

        // Empty: the age is gone, not 0.
        let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
        m.messages = 0;
        let server = if kind == "imap" {
            servers::imap(m).await
        } else {
            servers::pop3(m).await
        };
        let (obs, _) = run_as_mailbox(&pki, kind, &server, ADDRESS).await;
        assert_ok(&obs);
        assert_eq!(obs.facts.oldest_message, Some(("INBOX", None)), "{kind}");
    }

    // A POP3 message without a Received: header has no arrival date:
    // unknown (no series), not a failure.
    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    m.top_header = "From: customer@example.com\r\nSubject: no trace\r\n\r\n";
    let (obs, _) = run_as_mailbox(&pki, "pop3", &servers::pop3(m).await, ADDRESS).await;
    assert_ok(&obs);
    assert_eq!(obs.facts.oldest_message, Some(("INBOX", None)));

    // A run that fails before it reads the date says so too: no stale age.
    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    m.after_login = Some("{tag} BAD User is authenticated but not connected.");
    let (obs, _) = run_as_mailbox(&pki, "imap", &servers::imap(m).await, SHARED).await;
    assert_fails(&obs, Reason::MailboxRightsMissing, Phase::Select);
    assert_eq!(obs.facts.oldest_message, Some(("INBOX", None)));
}

#[tokio::test(flavor = "multi_thread")]
async fn absurd_dates_and_an_endless_header_are_verdicts_not_metrics() {
    let pki = Pki::new();
    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    m.internaldate = "31-Feb-99999 25:61:00 +9999";
    let (obs, _) = run_as_mailbox(&pki, "imap", &servers::imap(m).await, ADDRESS).await;
    let detail = assert_fails(&obs, Reason::UnexpectedReply, Phase::Select);
    assert!(detail.contains("absurd date"), "{detail}");
    assert_eq!(obs.facts.oldest_message, Some(("INBOX", None)), "an absurd date is no age");
    assert_eq!(obs.facts.mailbox_messages, Some(("INBOX", 17)), "the count read before stays");

    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    m.top_header = "Received: from x by y; Thu, 3 Dec 1900 10:00:00 +0000\r\n\r\n";
    let (obs, _) = run_as_mailbox(&pki, "pop3", &servers::pop3(m).await, ADDRESS).await;
    assert_fails(&obs, Reason::UnexpectedReply, Phase::Select);
    assert_eq!(obs.facts.oldest_message, Some(("INBOX", None)));

    // One header folded without end: the reply's byte budget ends it.
    let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
    m.endless_top = true;
    let server = servers::pop3(m).await;
    let (obs, _) = run_as_mailbox(&pki, "pop3", &server, ADDRESS).await;
    assert_fails(&obs, Reason::ReplyTooLarge, Phase::Select);
    assert_eq!(obs.facts.oldest_message, Some(("INBOX", None)));
}
