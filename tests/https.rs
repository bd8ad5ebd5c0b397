//! `kind: https` against in-process HTTPS servers on loopback
//! (`test_support::https`): a 200 with the TLS facts, unexpected statuses,
//! `expect_status`, a redirect reported and not followed, `HEAD`, a chunked
//! body, a slow body cut off by the timeout, huge and endless headers,
//! garbage, a wrong certificate, the in-process `CONNECT` proxy, the URL's
//! credentials kept out of errors, and the agent's `/metrics` end to end.
#![allow(clippy::unwrap_used)]

mod support;
#[path = "support/verdict.rs"]
mod verdict;

use std::time::{Duration, Instant};

use ece_o365_exporter::config::Config;
use ece_o365_exporter::observation::Observation;
use ece_o365_exporter::reason::{Phase, Reason};
use support::run_first;
use test_support::agent::{Agent, parse, value};
use test_support::https::{Answer, HttpsServer, https};
use test_support::pki::{CA_NAME, LEAF_NOT_AFTER_UNIX, Leaf, Pki};
use test_support::proxy::{ConnectProxy, Mode};
use verdict::{assert_fails, assert_ok, phases};

const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");

/// An `https` check of `url` trusting the test CA, with extra lines.
fn https_check(url: &str, extra: &str) -> String {
    format!("checks:\n  - name: https-under-test\n    kind: https\n    url: {url}\n    timeout: 5s\n    ca_file: ca.pem\n{extra}")
}

async fn server(pki: &Pki, answer: Answer) -> HttpsServer {
    https(pki.server_config(Leaf::Good), answer).await
}

async fn run(pki: &Pki, server: &HttpsServer, extra: &str) -> Observation {
    run_first(pki.dir.path(), &https_check(&server.url("/system/login"), extra)).await
}

#[tokio::test]
async fn a_200_passes_with_the_tls_facts_and_the_status() {
    let pki = Pki::new();
    let server = server(&pki, Answer::status(200)).await;
    let obs = run(&pki, &server, "").await;
    assert_ok(&obs);
    assert_eq!(phases(&obs), vec![Phase::Connect, Phase::Tls, Phase::Http]);
    assert_eq!(obs.facts.http_status, Some(200));
    let tls = obs.facts.tls.clone().unwrap();
    assert_eq!(tls.earliest_expiry, Some(LEAF_NOT_AFTER_UNIX));
    assert!(tls.leaf.unwrap().issuer.contains(CA_NAME));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(request.starts_with("GET /system/login HTTP/1.1\r\n"), "{request}");
    assert!(request.contains(&format!("Host: {}\r\n", server.target())), "{request}");
    assert!(
        request.contains(&format!("User-Agent: ece-o365-exporter/{}\r\n", env!("CARGO_PKG_VERSION"))),
        "{request}"
    );
    assert!(
        request.contains("Connection: close\r\n") && request.contains("Accept: */*\r\n"),
        "{request}"
    );
}

#[tokio::test]
async fn a_chunked_body_and_head_pass() {
    let pki = Pki::new();
    let chunked = server(&pki, Answer::Chunked(vec!["hello ".into(), "world".into()])).await;
    assert_ok(&run(&pki, &chunked, "").await);

    let head = server(&pki, Answer::status(200)).await;
    let obs = run(&pki, &head, "    method: HEAD\n").await;
    assert_ok(&obs);
    assert_eq!(obs.facts.http_status, Some(200));
    assert!(head.requests()[0].starts_with("HEAD /system/login HTTP/1.1\r\n"));
}

#[tokio::test]
async fn a_404_or_a_500_is_an_unexpected_status_unless_expected() {
    let pki = Pki::new();
    for status in [404, 500] {
        let server = server(&pki, Answer::status(status)).await;
        let obs = run(&pki, &server, "").await;
        let detail = assert_fails(&obs, Reason::HttpUnexpectedStatus, Phase::Http);
        assert!(detail.contains(&format!("HTTP {status}")), "{detail}");
        assert!(detail.contains("expected 200-399"), "{detail}");
        assert_eq!(obs.facts.http_status, Some(status));
        assert!(obs.facts.tls.is_some(), "the TLS facts are kept");
    }
    let server = server(&pki, Answer::status(404)).await;
    let obs = run(&pki, &server, "    expect_status: [404]\n").await;
    assert_ok(&obs);
    assert_eq!(obs.facts.http_status, Some(404));
    let obs = run(&pki, &server, "    expect_status: [200, \"400-499\"]\n").await;
    assert_ok(&obs);
}

#[tokio::test]
async fn a_redirect_names_its_host_and_is_not_followed() {
    let pki = Pki::new();
    let server = server(&pki, Answer::redirect(301, "https://elsewhere.example/x?token=secret")).await;
    let obs = run(&pki, &server, "    expect_status: [200]\n").await;
    let detail = assert_fails(&obs, Reason::HttpUnexpectedStatus, Phase::Http);
    assert!(detail.contains("HTTP 301") && detail.contains("elsewhere.example"), "{detail}");
    assert!(detail.contains("not followed"), "{detail}");
    assert!(!detail.contains("/x") && !detail.contains("secret"), "the host only: {detail}");
    assert_eq!(server.server.connection_count(), 1);
    assert_eq!(obs.facts.http_status, Some(301));

    // A relative Location points at the same host.
    let relative = https(pki.server_config(Leaf::Good), Answer::redirect(302, "/login")).await;
    let detail = assert_fails(
        &run(&pki, &relative, "    expect_status: 200\n").await,
        Reason::HttpUnexpectedStatus,
        Phase::Http,
    );
    assert!(detail.contains("redirect to 127.0.0.1"), "{detail}");

    // By default a redirect is a pass (200-399), still not followed.
    let obs = run(&pki, &server, "").await;
    assert_ok(&obs);
    assert_eq!(server.server.connection_count(), 2);
}

#[tokio::test]
async fn a_slow_body_is_cut_off_by_the_timeout() {
    let pki = Pki::new();
    let server = server(&pki, Answer::SlowBody).await;
    let started = Instant::now();
    let obs = run_first(
        pki.dir.path(),
        &https_check(&server.url("/"), "").replace("timeout: 5s", "timeout: 2s"),
    )
    .await;
    let elapsed = started.elapsed();
    let detail = assert_fails(&obs, Reason::Timeout, Phase::Http);
    assert!(detail.contains("during http"), "{detail}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert_eq!(obs.facts.http_status, Some(200), "the status came before the body");
}

#[tokio::test]
async fn huge_headers_endless_lines_and_garbage_are_bad_responses() {
    let pki = Pki::new();
    let cases: [(Answer, &str); 4] = [
        (Answer::ManyHeaders(500), "more than 100 header lines"),
        (Answer::EndlessHeaderLine, "longer than 8192 bytes"),
        (Answer::Raw(b"SSH-2.0-OpenSSH_9.6\r\n"), "not an HTTP/1.x status line"),
        (Answer::Raw(b"<html><body>blocked</body></html>"), "ended inside a line"),
    ];
    for (answer, want) in cases {
        let server = server(&pki, answer).await;
        let started = Instant::now();
        let obs = run(&pki, &server, "").await;
        let detail = assert_fails(&obs, Reason::HttpBadResponse, Phase::Http);
        assert!(detail.contains(want), "{want}: {detail}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{want}: a verdict, no wait for the timeout"
        );
    }
    let closed = server(&pki, Answer::Raw(b"")).await;
    assert_fails(&run(&pki, &closed, "").await, Reason::ConnectionClosed, Phase::Http);
}

#[tokio::test]
async fn a_wrong_certificate_fails_in_tls_before_any_request() {
    let pki = Pki::new();
    let untrusted = https(pki.server_config(Leaf::OtherCa), Answer::status(200)).await;
    assert_fails(&run(&pki, &untrusted, "").await, Reason::TlsCertUntrusted, Phase::Tls);
    assert!(untrusted.requests().is_empty());
    let wrong_name = https(pki.server_config(Leaf::WrongName), Answer::status(200)).await;
    let obs = run(&pki, &wrong_name, "    server_name: localhost\n").await;
    assert_fails(&obs, Reason::TlsCertNameMismatch, Phase::Tls);
    assert_eq!(obs.facts.http_status, None);
}

#[tokio::test]
async fn through_the_proxy_it_passes_and_reports_the_servers_certificate() {
    let pki = Pki::new();
    let server = server(&pki, Answer::status(200)).await;
    let proxy = ConnectProxy::start(Mode::Tunnel).await;
    let obs = run(&pki, &server, &format!("    proxy: {}\n", proxy.url())).await;
    assert_ok(&obs);
    assert_eq!(phases(&obs), vec![Phase::Connect, Phase::ProxyConnect, Phase::Tls, Phase::Http]);
    assert_eq!(proxy.targets(), vec![server.target()]);
    assert_eq!(obs.facts.http_status, Some(200));
    let through = obs.facts.tls.clone().unwrap().leaf.unwrap();
    let direct = run(&pki, &server, "").await.facts.tls.unwrap().leaf.unwrap();
    assert_eq!(through, direct, "the server's own certificate");
    assert!(through.issuer.contains(CA_NAME));
    // The request inside the tunnel names the URL's host, not the proxy.
    assert!(server.requests()[0].contains(&format!("Host: {}\r\n", server.target())));
}

#[test]
fn credentials_in_the_url_are_refused_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "checks:\n  - name: https-ece\n    kind: https\n    url: https://proxyuser:passw0rd@ece.example.com/\n";
    let err = Config::from_yaml(&dir.path().join("c.yaml"), yaml).unwrap_err();
    assert_eq!(err.field, "checks[0].url");
    assert!(err.message.contains("must not carry credentials"), "{}", err.message);
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("passw0rd") && !text.contains("proxyuser"), "{text}");
    }
}

#[tokio::test]
async fn the_agent_exports_the_http_status() {
    let pki = Pki::new();
    let ok = server(&pki, Answer::status(200)).await;
    let missing = server(&pki, Answer::status(404)).await;
    let ca = pki.ca_pem.display();
    let yaml = format!(
        "global:\n  interval: 60s\n  timeout: 5s\nchecks:\n\
         \x20 - {{name: https-ok, kind: https, url: \"{}\", ca_file: \"{ca}\"}}\n\
         \x20 - {{name: https-missing, kind: https, url: \"{}\", ca_file: \"{ca}\"}}\n",
        ok.url("/"),
        missing.url("/gone"),
    );
    let config = pki.dir.path().join("agent.yaml");
    std::fs::write(&config, yaml).unwrap();
    let agent = Agent::start(BIN, &config, &[]);
    agent.wait_ready().await;
    let (status, body) = agent.get("/metrics").await;
    assert_eq!(status, 200);
    let m = parse(&body);
    assert_eq!(
        value(&m, "ece_o365_http_status_code", &[("check", "https-ok")]),
        Some(200.0),
        "{body}"
    );
    assert_eq!(value(&m, "ece_o365_http_status_code", &[("check", "https-missing")]), Some(404.0));
    assert_eq!(
        value(&m, "ece_o365_check_success", &[("check", "https-ok"), ("kind", "https")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "ece_o365_check_failures_total",
            &[("check", "https-missing"), ("reason", "http_unexpected_status")]
        ),
        Some(1.0)
    );
    assert!(
        value(
            &m,
            "ece_o365_check_phase_last_duration_seconds",
            &[("check", "https-ok"), ("phase", "http")]
        )
        .is_some()
    );
    agent.terminate();
}
