//! `tcp`/`tls`/mail checks through a real forward proxy: tinyproxy 1.11
//! (Debian), started by `test_support::tinyproxy` on a loopback port. A
//! `tls` check and an `smtp` check (STARTTLS against the in-process SMTP
//! server) pass through it and report the server's certificate; an instance
//! with `BasicAuth` lets the right credentials through and answers 407
//! without them; a port outside its `ConnectPort`s is refused (403). An
//! `https` check and a `tenant` check (an OpenID metadata server) go
//! through it the same way.
//!
//! Needs tinyproxy: `sudo scripts/install-test-peers.sh`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod support;

use ece_o365_exporter::observation::Observation;
use ece_o365_exporter::reason::{Phase, Reason};
use support::run_first;
use test_support::https::{Answer, https};
use test_support::pki::{CA_NAME, Leaf, Pki};
use test_support::servers::{self, Mail, TestServer};
use test_support::tinyproxy::{Tinyproxy, TinyproxyOptions};

const USER: &str = "ece-svc";
const PASSWORD: &str = "canary-tinyproxy-pass-6b0e";

fn phases(obs: &Observation) -> Vec<Phase> {
    obs.phases.iter().map(|(p, _)| *p).collect()
}

#[track_caller]
fn assert_ok(obs: &Observation, proxy: &Tinyproxy) {
    if let Err(f) = &obs.outcome {
        panic!(
            "check failed in {:?}: {f}\n--- tinyproxy log ---\n{}",
            obs.failed_phase,
            proxy.log_tail(20)
        );
    }
}

#[track_caller]
fn assert_fails(obs: &Observation, reason: Reason, proxy: &Tinyproxy) -> String {
    let failure = obs.outcome.as_ref().expect_err("the check should have failed");
    assert_eq!(
        (failure.reason, obs.failed_phase),
        (reason, Some(Phase::ProxyConnect)),
        "detail: {}\n--- tinyproxy log ---\n{}",
        failure.detail,
        proxy.log_tail(20)
    );
    failure.detail.clone()
}

fn start(pki: &Pki, options: TinyproxyOptions) -> Tinyproxy {
    Tinyproxy::start(pki.dir.path(), &options).unwrap_or_else(|e| panic!("tinyproxy: {e}"))
}

/// A check of `kind` on `server` (trusting the test CA) with extra lines.
fn check(kind: &str, server: &TestServer, extra: &str) -> String {
    format!(
        "checks:\n  - name: through-tinyproxy\n    kind: {kind}\n    target: {}\n    timeout: 10s\n    server_name: localhost\n    \
         ca_file: ca.pem\n{extra}",
        server.target()
    )
}

#[tokio::test]
async fn tls_and_smtp_checks_through_tinyproxy_report_the_servers_certificate() {
    let pki = Pki::new();
    let tls = servers::tls(pki.server_config(Leaf::Good)).await;
    let smtp = servers::smtp(Mail::new(pki.server_config(Leaf::Good))).await;
    let proxy = start(
        &pki,
        TinyproxyOptions {
            connect_ports: vec![tls.addr.port(), smtp.addr.port()],
            basic_auth: None,
        },
    );
    let via = format!("    proxy: {}\n", proxy.url());
    for (kind, server) in [("tls", &tls), ("smtp", &smtp)] {
        let obs = run_first(pki.dir.path(), &check(kind, server, &via)).await;
        assert_ok(&obs, &proxy);
        assert!(phases(&obs).contains(&Phase::ProxyConnect), "{kind}: {:?}", phases(&obs));
        let leaf = obs.facts.tls.clone().unwrap().leaf.unwrap();
        assert!(leaf.issuer.contains(CA_NAME), "{kind}: {leaf:?}");
        // The same certificate as a direct connection sees.
        let direct = run_first(pki.dir.path(), &check(kind, server, "")).await;
        assert_ok(&direct, &proxy);
        assert_eq!(direct.facts.tls.unwrap().leaf.unwrap(), leaf, "{kind}");
    }
    assert_eq!(proxy.connects(), vec![tls.target(), smtp.target()], "{}", proxy.log_tail(20));
    assert_eq!(tls.connection_count(), 2);
}

#[tokio::test]
async fn tinyproxy_with_basic_auth_wants_the_credentials() {
    let pki = Pki::new();
    std::fs::write(pki.dir.path().join("proxy-password"), PASSWORD).unwrap();
    let tls = servers::tls(pki.server_config(Leaf::Good)).await;
    let proxy = start(
        &pki,
        TinyproxyOptions {
            connect_ports: vec![],
            basic_auth: Some((USER.into(), PASSWORD.into())),
        },
    );
    let with = format!(
        "    proxy: {}\n    proxy_user: {USER}\n    proxy_password: file:proxy-password\n",
        proxy.url()
    );
    let obs = run_first(pki.dir.path(), &check("tls", &tls, &with)).await;
    assert_ok(&obs, &proxy);
    assert_eq!(tls.connection_count(), 1);

    let without = format!("    proxy: {}\n", proxy.url());
    let obs = run_first(pki.dir.path(), &check("tls", &tls, &without)).await;
    let detail = assert_fails(&obs, Reason::ProxyAuthRequired, &proxy);
    assert!(detail.contains("407"), "{detail}");
    assert_eq!(tls.connection_count(), 1, "the server was not reached");

    // A wrong password: tinyproxy 1.11 answers `401 Unauthorized` (not
    // 407) to credentials it refuses; still the proxy's credentials, at the
    // proxy, with that status, and the password is never shown.
    std::fs::write(pki.dir.path().join("proxy-password"), "canary-wrong-pass").unwrap();
    let obs = run_first(pki.dir.path(), &check("tls", &tls, &with)).await;
    let failure = obs.outcome.as_ref().expect_err("a wrong password fails");
    assert_eq!(failure.reason, Reason::ProxyAuthRequired, "{}", failure.detail);
    assert_eq!(obs.failed_phase, Some(Phase::ProxyConnect), "{}", failure.detail);
    assert!(failure.detail.contains("401"), "{}", failure.detail);
    assert!(failure.detail.contains("were refused"), "{}", failure.detail);
    assert!(!failure.detail.contains("canary"), "{}", failure.detail);
    assert_eq!(tls.connection_count(), 1, "the server was not reached");
}

#[tokio::test]
async fn a_port_tinyproxy_does_not_allow_is_proxy_denied_with_the_status() {
    let pki = Pki::new();
    let tls = servers::tls(pki.server_config(Leaf::Good)).await;
    let allowed = tls.addr.port().wrapping_add(1).max(1);
    let proxy = start(
        &pki,
        TinyproxyOptions {
            connect_ports: vec![allowed],
            basic_auth: None,
        },
    );
    let obs = run_first(pki.dir.path(), &check("tls", &tls, &format!("    proxy: {}\n", proxy.url()))).await;
    let detail = assert_fails(&obs, Reason::ProxyDenied, &proxy);
    assert!(detail.contains("403"), "{detail}");
    assert_eq!(tls.connection_count(), 0);
}

#[tokio::test]
async fn https_and_tenant_checks_through_tinyproxy() {
    const DIRECTORY: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let pki = Pki::new();
    let page = https(pki.server_config(Leaf::Good), Answer::status(200)).await;
    let metadata = https(
        pki.server_config(Leaf::Good),
        Answer::Status {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: format!(
                r#"{{"issuer":"https://login.microsoftonline.com/{DIRECTORY}/v2.0","token_endpoint":"{{origin}}/{DIRECTORY}/oauth2/v2.0/token"}}"#
            ),
        },
    )
    .await;
    let port = |target: String| target.rsplit_once(':').unwrap().1.parse::<u16>().unwrap();
    let proxy = start(
        &pki,
        TinyproxyOptions {
            connect_ports: vec![port(page.target()), port(metadata.target())],
            basic_auth: None,
        },
    );
    let yaml = format!(
        "global:\n  proxy: {}\n\
         tenants:\n  - name: contoso\n    tenant_id: {DIRECTORY}\n    client_id: 11111111-2222-3333-4444-555555555555\n    \
         authority: https://{}\n\
         checks:\n  - name: https-through-tinyproxy\n    kind: https\n    url: {}\n    ca_file: ca.pem\n    timeout: 10s\n  \
         - name: tenant-through-tinyproxy\n    kind: tenant\n    tenant: contoso\n    ca_file: ca.pem\n    timeout: 10s\n",
        proxy.url(),
        metadata.target(),
        page.url("/system"),
    );
    let checks = support::checks_from_yaml(pki.dir.path(), &yaml);
    assert_eq!(checks.len(), 2);
    for check in &checks {
        let obs = ece_o365_exporter::checks::run_check(check).await;
        assert_ok(&obs, &proxy);
        assert_eq!(
            phases(&obs),
            vec![Phase::Connect, Phase::ProxyConnect, Phase::Tls, Phase::Http],
            "{}",
            check.meta.name
        );
        assert_eq!(obs.facts.http_status, Some(200));
        assert!(obs.facts.tls.clone().unwrap().leaf.unwrap().issuer.contains(CA_NAME));
    }
    assert_eq!(proxy.connects(), vec![page.target(), metadata.target()], "{}", proxy.log_tail(20));
    assert_eq!(page.requests().len(), 1);
    assert_eq!(metadata.requests().len(), 1);
    assert!(metadata.requests()[0].starts_with(&format!("GET /{DIRECTORY}/v2.0/.well-known/openid-configuration ")));
}
