//! Checks through an HTTP `CONNECT` proxy, on loopback: in-process proxies
//! (`test_support::proxy`) that really tunnel to in-process TLS and SMTP
//! servers, want Basic credentials, refuse, close, answer garbage or an
//! endless header, or intercept TLS with their own CA; `global.proxy` and
//! who inherits it; `proxy: none`, `proxy: env` with `HTTPS_PROXY` and
//! `NO_PROXY` (through the binary, whose environment a test can set); and a
//! canary proxy password that no output may show.
#![allow(clippy::unwrap_used)]

mod support;
#[path = "support/verdict.rs"]
mod verdict;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ece_o365_exporter::config::Config;
use ece_o365_exporter::reason::{Phase, Reason};
use support::{checks_from_yaml, run_first};
use test_support::agent::Agent;
use test_support::net::free_port;
use test_support::pki::{self, CA_NAME, Leaf, Pki};
use test_support::proxy::{ConnectProxy, Mode};
use test_support::servers::{self, Mail, TestServer};
use verdict::{assert_fails, assert_ok, phases};

const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");
const PROXY_PASSWORD: &str = "canary-proxy-password-b7e2c41d";
const PASSWORD_ENV: &str = "ECE_O365_TEST_PROXY_PASSWORD";

/// A `tls` check of `server` (trusting the test CA) with extra lines.
fn tls_check(server: &TestServer, extra: &str) -> String {
    format!(
        "checks:\n  - name: tls-through\n    kind: tls\n    target: {}\n    timeout: 5s\n    server_name: localhost\n    ca_file: ca.pem\n{extra}",
        server.target()
    )
}

async fn tls_server(pki: &Pki) -> TestServer {
    servers::tls(pki.server_config(Leaf::Good)).await
}

#[tokio::test]
async fn a_tls_check_through_the_tunnel_reports_the_servers_certificate() {
    let pki = Pki::new();
    let server = tls_server(&pki).await;
    let proxy = ConnectProxy::start(Mode::Tunnel).await;
    let dir = pki.dir.path();
    let obs = run_first(dir, &tls_check(&server, &format!("    proxy: {}\n", proxy.url()))).await;
    assert_ok(&obs);
    assert_eq!(phases(&obs), vec![Phase::Connect, Phase::ProxyConnect, Phase::Tls]);
    assert_eq!(proxy.targets(), vec![server.target()]);
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(server.connection_count(), 1, "the server saw the tunnel");
    let through = obs.facts.tls.clone().unwrap().leaf.unwrap();
    assert!(through.issuer.contains(CA_NAME), "{through:?}");
    // The same certificate as a direct connection sees.
    let direct = run_first(dir, &tls_check(&server, "")).await;
    assert_ok(&direct);
    assert_eq!(phases(&direct), vec![Phase::Connect, Phase::Tls]);
    assert_eq!(direct.facts.tls.unwrap().leaf.unwrap(), through);
    assert_eq!(proxy.tunnels(), 1, "no proxy configured: none used");
}

#[tokio::test]
async fn global_proxy_applies_to_tcp_and_tls_and_a_mail_check_only_uses_its_own() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let tls = tls_server(&pki).await;
    let smtp = servers::smtp(Mail::new(pki.server_config(Leaf::Good))).await;
    let proxy = ConnectProxy::start(Mode::Tunnel).await;
    let yaml = format!(
        "global:\n  proxy: {url}\nchecks:\n  - name: tcp\n    kind: tcp\n    target: {tls}\n    timeout: 5s\n\
         \x20 - name: tls\n    kind: tls\n    target: {tls}\n    timeout: 5s\n    server_name: localhost\n    ca_file: ca.pem\n\
         \x20 - name: smtp-direct\n    kind: smtp\n    target: {smtp}\n    timeout: 5s\n    server_name: localhost\n    ca_file: ca.pem\n\
         \x20 - name: smtp-proxied\n    kind: smtp\n    target: {smtp}\n    timeout: 5s\n    server_name: localhost\n    ca_file: ca.pem\n    proxy: {url}\n",
        url = proxy.url(),
        tls = tls.target(),
        smtp = smtp.target()
    );
    let checks = checks_from_yaml(dir, &yaml);
    let mut seen = Vec::new();
    for check in &checks {
        let obs = ece_o365_exporter::checks::run_check(check).await;
        assert_ok(&obs);
        seen.push((
            check.meta.name.clone(),
            phases(&obs).contains(&Phase::ProxyConnect),
            proxy.tunnels(),
        ));
    }
    let want: Vec<(String, bool, usize)> = vec![
        ("tcp".into(), true, 1),
        ("tls".into(), true, 2),
        ("smtp-direct".into(), false, 2),
        // The SMTP greeting, sent right after the tunnel opened, was not lost.
        ("smtp-proxied".into(), true, 3),
    ];
    assert_eq!(seen, want);
    assert_eq!(proxy.targets(), vec![tls.target(), tls.target(), smtp.target()]);
}

#[tokio::test]
async fn proxy_none_overrides_the_global_proxy() {
    let pki = Pki::new();
    let server = tls_server(&pki).await;
    let proxy = ConnectProxy::start(Mode::Close).await;
    let yaml = format!("global:\n  proxy: {}\n{}", proxy.url(), tls_check(&server, "    proxy: none\n"));
    let obs = run_first(pki.dir.path(), &yaml).await;
    assert_ok(&obs);
    assert!(proxy.requests().is_empty());
    // Without `none`, the global (closing) proxy is in the path.
    let yaml = format!("global:\n  proxy: {}\n{}", proxy.url(), tls_check(&server, ""));
    let obs = run_first(pki.dir.path(), &yaml).await;
    assert_fails(&obs, Reason::ProxyConnectFailed, Phase::ProxyConnect);
}

#[tokio::test]
async fn basic_credentials_open_the_tunnel_and_none_get_407() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = tls_server(&pki).await;
    let proxy = ConnectProxy::start(Mode::BasicAuth {
        user: "ece-svc".into(),
        password: PROXY_PASSWORD.into(),
    })
    .await;
    std::fs::write(dir.join("proxy-password"), format!("{PROXY_PASSWORD}\n")).unwrap();
    std::fs::write(dir.join("wrong-password"), "not-the-password").unwrap();
    let with = |file: &str| {
        format!(
            "    proxy: {}\n    proxy_user: ece-svc\n    proxy_password: file:{file}\n",
            proxy.url()
        )
    };

    let obs = run_first(dir, &tls_check(&server, &with("proxy-password"))).await;
    assert_ok(&obs);
    assert_eq!(proxy.tunnels(), 1);

    let obs = run_first(dir, &tls_check(&server, &format!("    proxy: {}\n", proxy.url()))).await;
    let detail = assert_fails(&obs, Reason::ProxyAuthRequired, Phase::ProxyConnect);
    assert!(detail.contains("407") && detail.contains("Basic"), "{detail}");
    assert!(detail.contains("no proxy_user"), "{detail}");

    let obs = run_first(dir, &tls_check(&server, &with("wrong-password"))).await;
    let detail = assert_fails(&obs, Reason::ProxyAuthRequired, Phase::ProxyConnect);
    assert!(detail.contains("ece-svc") && !detail.contains("not-the-password"), "{detail}");
    assert_eq!(proxy.tunnels(), 1);
}

#[tokio::test]
async fn a_refusing_proxy_is_proxy_denied_with_its_status() {
    let pki = Pki::new();
    let server = tls_server(&pki).await;
    for (line, code) in [
        ("403 Forbidden", "403"),
        ("502 Bad Gateway", "502"),
        ("301 Moved Permanently", "301"),
    ] {
        let proxy = ConnectProxy::start(Mode::Status(line)).await;
        let obs = run_first(pki.dir.path(), &tls_check(&server, &format!("    proxy: {}\n", proxy.url()))).await;
        let detail = assert_fails(&obs, Reason::ProxyDenied, Phase::ProxyConnect);
        assert!(detail.contains(code) && detail.contains(&server.target()), "{detail}");
    }
    assert_eq!(server.connection_count(), 0);
}

#[tokio::test]
async fn a_broken_proxy_is_proxy_connect_failed() {
    let pki = Pki::new();
    let server = tls_server(&pki).await;
    let cases: [(Mode, &str); 3] = [
        (Mode::Close, "closed the connection"),
        (Mode::Raw(b"SSH-2.0-OpenSSH_9.2p1\r\n\r\n"), "not HTTP"),
        (Mode::Raw(b"\x16\x03\x01\x00\x05hello\n\n"), "not HTTP"),
    ];
    for (mode, says) in cases {
        let proxy = ConnectProxy::start(mode).await;
        let obs = run_first(pki.dir.path(), &tls_check(&server, &format!("    proxy: {}\n", proxy.url()))).await;
        let detail = assert_fails(&obs, Reason::ProxyConnectFailed, Phase::ProxyConnect);
        assert!(detail.contains(says) && detail.contains(&proxy.url()), "{detail}");
    }
    // Nobody listening where the proxy should be.
    let url = format!("http://127.0.0.1:{}", free_port());
    let obs = run_first(pki.dir.path(), &tls_check(&server, &format!("    proxy: {url}\n"))).await;
    let detail = assert_fails(&obs, Reason::ProxyConnectFailed, Phase::Connect);
    assert!(detail.contains(&url) && detail.contains("refused"), "{detail}");
}

/// An answer whose header line never ends is cut at 8 KiB: the verdict
/// comes long before the check's timeout, and the flood stops being read.
#[tokio::test]
async fn an_endless_header_line_is_bounded() {
    let pki = Pki::new();
    let server = tls_server(&pki).await;
    let proxy = ConnectProxy::start(Mode::EndlessHeader).await;
    let obs = run_first(pki.dir.path(), &tls_check(&server, &format!("    proxy: {}\n", proxy.url()))).await;
    let detail = assert_fails(&obs, Reason::ProxyConnectFailed, Phase::ProxyConnect);
    assert!(detail.contains("8192 bytes"), "{detail}");
    assert!(obs.duration < Duration::from_secs(5), "{:?}", obs.duration);
}

/// A proxy that never answers gets its own verdict before the runner's
/// cut-off, not a bare `timeout`.
#[tokio::test]
async fn a_silent_proxy_is_proxy_connect_failed_within_the_timeout() {
    let pki = Pki::new();
    let server = tls_server(&pki).await;
    let proxy = ConnectProxy::start(Mode::Silent).await;
    let obs = run_first(pki.dir.path(), &tls_check(&server, &format!("    proxy: {}\n", proxy.url()))).await;
    let detail = assert_fails(&obs, Reason::ProxyConnectFailed, Phase::ProxyConnect);
    assert!(detail.contains("did not answer CONNECT"), "{detail}");
    assert!(obs.duration < Duration::from_secs(5), "{:?}", obs.duration);
    assert_eq!(proxy.requests().len(), 1);
}

/// An inspecting proxy presents its own certificate, from a CA this server
/// trusts: the handshake succeeds, and `expected_issuer` catches it.
#[tokio::test]
async fn tls_inspection_is_tls_unexpected_issuer() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = tls_server(&pki).await;
    let (inspection_ca, inspection_der) = pki::make_ca("Contoso TLS Inspection CA");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    let leaf = params.signed_by(&key, &inspection_ca).unwrap();
    let leaf_key = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let cfg = pki::server_config_for(vec![leaf.der().clone(), inspection_der.clone()], leaf_key);
    // The corporate CA is trusted here, next to the test CA.
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&pki.ca_pem).unwrap(),
        pki::pem("CERTIFICATE", &inspection_der)
    );
    std::fs::write(dir.join("ca.pem"), both).unwrap();
    let proxy = ConnectProxy::start(Mode::Intercept(cfg)).await;
    let extra = format!("    expected_issuer: \"{CA_NAME}\"\n    proxy: {}\n", proxy.url());
    let obs = run_first(dir, &tls_check(&server, &extra)).await;
    let detail = assert_fails(&obs, Reason::TlsUnexpectedIssuer, Phase::Tls);
    assert!(detail.contains("Contoso TLS Inspection CA"), "{detail}");
    let leaf = obs.facts.tls.unwrap().leaf.unwrap();
    assert!(leaf.issuer.contains("Contoso TLS Inspection CA"), "{leaf:?}");
    assert_eq!(server.connection_count(), 0, "the proxy answered in the server's place");
    // The same check directly: the real issuer, and a pass.
    let obs = run_first(dir, &tls_check(&server, &format!("    expected_issuer: \"{CA_NAME}\"\n"))).await;
    assert_ok(&obs);
}

/// `check` run with `env` values, and what its text report says of `name`.
fn check_with_env(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> String {
    let path = dir.join("env-config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut cmd = Command::new(BIN);
    for var in ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).args(["check", "--config.file"]).arg(&path);
    let out = cmd.output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_env_takes_https_proxy_and_honours_no_proxy() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = tls_server(&pki).await;
    let proxy = ConnectProxy::start(Mode::Tunnel).await;
    let yaml = format!("global:\n  proxy: env\n{}", tls_check(&server, ""));
    let passed = "[+] tls-through reached";
    let cases: [(&[(&str, &str)], usize); 7] = [
        (&[("HTTPS_PROXY", &proxy.url())], 1),
        // Lowercase too, and a value without a scheme.
        (&[("https_proxy", &proxy.addr.to_string())], 2),
        (&[("HTTPS_PROXY", &proxy.url()), ("NO_PROXY", "example.com, 127.0.0.1")], 2),
        (&[("HTTPS_PROXY", &proxy.url()), ("no_proxy", "*")], 2),
        (&[("HTTPS_PROXY", &proxy.url()), ("NO_PROXY", "127.0.0.0/8")], 2),
        (&[("HTTPS_PROXY", &proxy.url()), ("NO_PROXY", "127.0.0.2,localhost")], 3),
        // No HTTPS_PROXY: direct.
        (&[], 3),
    ];
    for (env, tunnels) in cases {
        let out = check_with_env(dir, &yaml, env);
        assert!(out.contains(passed) && !out.contains("failed (reason:"), "{env:?}:\n{out}");
        assert_eq!(proxy.tunnels(), tunnels, "{env:?}:\n{out}");
    }
    // A per-check `proxy: env`, and `proxy: none` beside a global `env`.
    let yaml = tls_check(&server, "    proxy: env\n");
    check_with_env(dir, &yaml, &[("HTTPS_PROXY", &proxy.url())]);
    assert_eq!(proxy.tunnels(), 4);
    let yaml = format!("global:\n  proxy: env\n{}", tls_check(&server, "    proxy: none\n"));
    check_with_env(dir, &yaml, &[("HTTPS_PROXY", &proxy.url())]);
    assert_eq!(proxy.tunnels(), 4);
    // Credentials in HTTPS_PROXY are refused like inline ones, unshown.
    let yaml = format!("global:\n  proxy: env\n{}", tls_check(&server, ""));
    let out = check_with_env(dir, &yaml, &[("HTTPS_PROXY", &format!("http://u:{PROXY_PASSWORD}@{}", proxy.addr))]);
    assert!(out.contains("global.proxy") && out.contains("proxy_user"), "{out}");
    assert!(!out.contains(PROXY_PASSWORD), "{out}");
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(PROXY_PASSWORD), "{what} shows the proxy password:\n{text}");
}

/// The proxy password in no output: the agent's log at trace level and
/// `/metrics`, `check` (text and JSON) and `config check`, a refused
/// password's detail, an inline password's error, and `Debug`.
#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_password_appears_in_no_output() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = tls_server(&pki).await;
    let proxy = ConnectProxy::start(Mode::BasicAuth {
        user: "ece-svc".into(),
        password: PROXY_PASSWORD.into(),
    })
    .await;
    let yaml = format!(
        "global:\n  proxy: {}\n  proxy_user: ece-svc\n  proxy_password: env:{PASSWORD_ENV}\n{}",
        proxy.url(),
        tls_check(&server, "")
    );
    let config = dir.join("canary.yaml");
    std::fs::write(&config, &yaml).unwrap();

    let mut launcher = Command::new(BIN);
    launcher.env(PASSWORD_ENV, PROXY_PASSWORD);
    let agent = Agent::spawn(launcher, &config, "127.0.0.1:0", &["--log.level", "trace"]);
    agent.wait_ready().await;
    let (_, metrics) = agent.get("/metrics").await;
    let (_, page) = agent.get("/").await;
    assert!(
        metrics.contains("ece_o365_check_success{check=\"tls-through\"") && proxy.tunnels() >= 1,
        "{metrics}"
    );
    assert_clean("/metrics", &metrics);
    assert_clean("the status page", &page);
    let log = agent.log_text();
    drop(agent);
    assert_clean("the log", &log);

    for (password, args) in [
        (PROXY_PASSWORD, &["check"][..]),
        (PROXY_PASSWORD, &["check", "--output", "json"][..]),
        (PROXY_PASSWORD, &["config", "check"][..]),
        ("wrong-password", &["check"][..]),
    ] {
        let out = Command::new(BIN)
            .env(PASSWORD_ENV, password)
            .args(args)
            .arg("--config.file")
            .arg(&config)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_clean(&args.join(" "), &text);
        assert!(!text.contains("wrong-password"), "{text}");
        if password != PROXY_PASSWORD {
            assert!(text.contains("proxy_auth_required"), "{text}");
        }
    }

    // Inline, the password is refused without being echoed.
    let inline = yaml.replace(&format!("env:{PASSWORD_ENV}"), PROXY_PASSWORD);
    let e = Config::from_yaml(&dir.join("inline.yaml"), &inline).unwrap_err();
    assert!(e.message.contains("never inline"), "{e}");
    assert_clean("the inline password's error", &format!("{e}\n{e:?}"));
    // Nor is a password inside the URL.
    let in_url = yaml.replace(&proxy.url(), &format!("http://ece-svc:{PROXY_PASSWORD}@{}", proxy.addr));
    let e = Config::from_yaml(&dir.join("in-url.yaml"), &in_url).unwrap_err();
    assert!(e.message.contains("proxy_user") && e.field == "global.proxy", "{e}");
    assert_clean("the URL's error", &format!("{e}\n{e:?}"));

    // Loaded with the password in a file: the config's and the checks' Debug.
    std::fs::write(dir.join("pw"), PROXY_PASSWORD).unwrap();
    let by_file = yaml.replace(&format!("env:{PASSWORD_ENV}"), "file:pw");
    let cfg = Config::from_yaml(&dir.join("by-file.yaml"), &by_file).unwrap();
    assert_clean("the config's Debug", &format!("{cfg:?}"));
    assert!(format!("{cfg:?}").contains("ece-svc"));
}

/// The report's network item names the proxy a check went through
/// (`host:port`, never the credentials): in the passed sentence, and in the
/// evidence of a failure at the proxy, in text and JSON; a direct check's
/// sentence does not mention one.
#[tokio::test(flavor = "multi_thread")]
async fn the_report_names_the_proxy_in_the_path() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = tls_server(&pki).await;
    let proxy = ConnectProxy::start(Mode::Tunnel).await;
    let denying = ConnectProxy::start(Mode::Status("403 Forbidden")).await;
    std::fs::write(dir.join("pw"), PROXY_PASSWORD).unwrap();
    let yaml = format!(
        "global:\n  proxy: {}\n  proxy_user: ece-svc\n  proxy_password: file:pw\n{}\
         \x20 - name: tls-denied\n    kind: tls\n    target: {}\n    timeout: 5s\n    server_name: localhost\n    ca_file: ca.pem\n    \
         proxy: {}\n\
         \x20 - name: tls-direct\n    kind: tls\n    target: {}\n    timeout: 5s\n    server_name: localhost\n    ca_file: ca.pem\n    \
         proxy: none\n",
        proxy.url(),
        tls_check(&server, ""),
        server.target(),
        denying.url(),
        server.target()
    );
    let text = check_with_env(dir, &yaml, &[]);
    assert!(
        text.contains(&format!(
            "tls-through reached {} through the HTTP proxy {}.",
            server.target(),
            proxy.addr
        )),
        "{text}"
    );
    assert!(text.contains(&format!("HTTP proxy in the path: {}", denying.addr)), "{text}");
    assert!(text.contains(&format!("tls-direct reached {}.", server.target())), "{text}");
    assert!(!text.contains("ece-svc") && !text.contains(PROXY_PASSWORD), "{text}");

    let path = dir.join("env-config.yaml");
    let out = Command::new(BIN)
        .args(["check", "--output", "json", "--config.file"])
        .arg(&path)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let evidence: Vec<&serde_json::Value> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["findings"].as_array().unwrap())
        .filter_map(|f| f.get("evidence"))
        .collect();
    assert_eq!(evidence.len(), 1, "{json}");
    assert_eq!(evidence[0]["proxy"], denying.addr.to_string(), "{json}");
    assert_eq!(evidence[0]["reason"], "proxy_denied", "{json}");
}
