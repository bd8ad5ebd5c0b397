//! Canary secrets: with unique client secret, refresh token and access
//! token values, every path runs (token refresh with rotation, XOAUTH2 on
//! SMTP, a refused refresh, a refresh through a proxy with credentials) with
//! logging at trace level for every crate, and none of the values may appear
//! in the logs, `/metrics`, the status page, the `check` and `config check`
//! outputs, or `Debug` output. A proxy password in an invalid `proxy:` never
//! appears in the config error, wherever it is shown (`config check`,
//! `check`, the agent's start, `POST /-/reload`'s 500 answer, the log).
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use ece_o365_exporter::config::Config;
use ece_o365_exporter::oauth::store::{StoredToken, TokenStore};
use secrecy::SecretString;
use test_support::jwt::{self, OAuthKey};
use test_support::net::free_port as closed_port;
use test_support::pki::{Leaf, Pki};
use test_support::servers::{self, Mail};
use test_support::token_server::{Behaviour, ROTATED_REFRESH_PREFIX, TokenServer};

const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");
const CLIENT_SECRET: &str = "canary-client-secret-5d1e0c93b7";
const SEED_REFRESH: &str = "canary-refresh-seed-77f2aa04d1";
const SECRET_ENV: &str = "ECE_O365_CANARY_CLIENT_SECRET";
const PROXY_USER: &str = "canary-proxy-user-3a9f";
const PROXY_PASSWORD: &str = "canary-proxy-pass-9c41e7";

fn assert_clean(what: &str, text: &str, canaries: &[&str]) {
    for c in canaries {
        assert!(!text.contains(c), "{what} contains the secret `{c}`:\n{text}");
    }
}

async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    // The head as sent, the body joined (a secret split across chunks would hide).
    let (_, body) = test_support::agent::split_response(&out);
    let head = out.split_once("\r\n\r\n").map(|(h, _)| h).unwrap_or_default();
    format!("{head}\r\n\r\n{body}")
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_any_output() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let key = OAuthKey {
        key_id: "canary".into(),
        hs256_secret: b"canary-signing-key-00112233445566".to_vec(),
        issuer: String::new(),
    };
    let access = jwt::delegated_exchange_jwt(&key, "support@contoso.com", "IMAP.AccessAsUser.All SMTP.Send", 3600);
    let good = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: access.clone(),
            expires_in: 3600,
            rotate: true,
        },
    )
    .await;
    let refused = TokenServer::start(
        &pki,
        Behaviour::aadsts(
            400,
            "invalid_grant",
            70000,
            "AADSTS70000: The provided value for the 'refresh_token' is not valid.",
        ),
    )
    .await;
    let mut m = Mail::new(pki.server_config(Leaf::Good));
    m.auth_replies = &["235 2.7.0 Authentication successful"];
    let smtp = servers::smtp(m).await;

    for name in ["support", "sales", "proxied"] {
        TokenStore::new(dir.join(format!("{name}.token")))
            .save(&StoredToken {
                refresh_token: SecretString::from(SEED_REFRESH.to_string()),
                rotated_at: 1_700_000_000,
                account: None,
                public_client: false,
            })
            .unwrap();
    }
    let yaml = format!(
        "global:\n  timeout: 10s\n  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: env:{SECRET_ENV}
    authority: {good}
  - name: broken
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: env:{SECRET_ENV}
    authority: {refused}
  - name: proxied
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: env:{SECRET_ENV}
    authority: {good}
    proxy: http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{proxy_port}
mailboxes:
  - name: support
    address: support@contoso.com
    tenant: contoso
    token_store: support.token
    protocols: [imap, smtp]
  - name: sales
    address: sales@contoso.com
    tenant: broken
    token_store: sales.token
  - name: proxied
    address: support@contoso.com
    tenant: proxied
    token_store: proxied.token
checks:
  - name: token-support
    kind: token
    mailbox: support
  - name: smtp-support
    kind: smtp
    target: {smtp}
    server_name: localhost
    mailbox: support
  - name: token-sales
    kind: token
    mailbox: sales
  - name: token-proxied
    kind: token
    mailbox: proxied
",
        proxy_port = closed_port(),
        good = good.authority(),
        refused = refused.authority(),
        smtp = smtp.target(),
    );
    let config = dir.join("canary.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let canaries = [
        CLIENT_SECRET,
        SEED_REFRESH,
        ROTATED_REFRESH_PREFIX,
        access.as_str(),
        access.split('.').nth(2).unwrap(),
        PROXY_USER,
        PROXY_PASSWORD,
    ];

    // The running agent at trace level.
    let mut child = Command::new(BIN)
        .env(SECRET_ENV, CLIENT_SECRET)
        .args(["--log.level", "trace", "--web.listen-address", "127.0.0.1:0", "--config.file"])
        .arg(&config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut buf = [0u8; 4096];
        let mut sent = false;
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            if !sent && let Some(addr) = all.split("msg=listening address=").nth(1) {
                let addr: String = addr.chars().take_while(|c| !c.is_whitespace()).collect();
                if !addr.is_empty() {
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        }
        all
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("agent address");
    let mut ready = false;
    for _ in 0..300 {
        if http_get(&addr, "/-/ready").await.starts_with("HTTP/1.1 200") {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the agent never got ready");
    let metrics = http_get(&addr, "/metrics").await;
    let page = http_get(&addr, "/").await;
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let logs = reader.join().unwrap();

    // The paths really ran: a rotation, an AUTH, a refused refresh.
    assert!(
        metrics.contains("ece_o365_check_success{check=\"smtp-support\",kind=\"smtp\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("ece_o365_token_expiry_timestamp_seconds{mailbox=\"support\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("reason=\"token_invalid_grant\""), "{metrics}");
    assert!(
        metrics.contains("ece_o365_check_success{check=\"token-proxied\",kind=\"token\""),
        "the refresh through the proxy ran: {metrics}"
    );
    let stored = TokenStore::new(dir.join("support.token")).load().unwrap().unwrap();
    assert!(format!("{:?}", stored.account).contains("support@contoso.com"));
    assert!(logs.contains("level=trace"), "trace logging was on");
    assert!(
        good.requests().iter().any(|r| r.field("client_secret") == Some(CLIENT_SECRET)),
        "the secret was really used"
    );

    assert_clean("the logs", &logs, &canaries);
    assert_clean("/metrics", &metrics, &canaries);
    assert_clean("the status page", &page, &canaries);
    assert_clean("the store's Debug", &format!("{stored:?}"), &canaries);

    // One-shot commands.
    for args in [&["check"][..], &["check", "--output", "json"][..], &["config", "check"][..]] {
        let out = Command::new(BIN)
            .env(SECRET_ENV, CLIENT_SECRET)
            .args(args)
            .arg("--config.file")
            .arg(&config)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_clean(&format!("`{}`", args.join(" ")), &text, &canaries);
    }
    // The same config with the secret in a file, loaded in this process.
    std::fs::write(dir.join("secret.txt"), CLIENT_SECRET).unwrap();
    let by_file = dir.join("canary-file.yaml");
    std::fs::write(&by_file, yaml.replace(&format!("env:{SECRET_ENV}"), "file:secret.txt")).unwrap();
    let cfg = Config::load(&by_file).unwrap();
    assert_clean("the config's Debug", &format!("{cfg:?}"), &canaries);
    // The rotations above left no temporary copy of the token behind (the
    // store writes `.support.token.tmp-PID-N`, then renames it), and the
    // token file is the owner's alone.
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".support.token.tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary token files left behind: {leftovers:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("support.token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "token file mode {mode:o}");
    }
}

/// An invalid `proxy:` with credentials, in the shapes a user writes: the
/// error names file, line and field wherever it is shown, never the
/// credentials.
#[tokio::test(flavor = "multi_thread")]
async fn no_proxy_password_in_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = |proxy: &str| {
        format!(
            "tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    proxy: {proxy}
checks:
  - name: tcp-closed
    kind: tcp
    target: 127.0.0.1:{}
",
            closed_port()
        )
    };
    let creds = format!("{PROXY_USER}:{PROXY_PASSWORD}");
    let shapes = [
        // (the proxy: value, the field the error names)
        (format!("socks5://{creds}@proxy.corp.example:1080"), "tenants[0].proxy"),
        (format!("http://{creds}@proxy.corp.example:99999"), "tenants[0].proxy"),
        (format!("http://{creds}@/"), "tenants[0].proxy"),
        // Not YAML at all: the error is about the line, which it shows.
        (format!("http://{creds}@proxy.corp.example:3128: x"), ""),
    ];
    let canaries = [PROXY_USER, PROXY_PASSWORD];

    let config = dir.path().join("proxy.yaml");
    std::fs::write(&config, tenant("http://proxy.corp.example:3128")).unwrap();
    let agent = test_support::agent::Agent::start(BIN, &config, &["--log.level", "trace"]);
    for (proxy, field) in &shapes {
        let bad = dir.path().join("bad-proxy.yaml");
        std::fs::write(&bad, tenant(proxy)).unwrap();
        let head = format!("{}:5:", bad.display());
        for args in [
            &["config", "check"][..],
            &["check"][..],
            &["--web.listen-address", "127.0.0.1:0"][..],
        ] {
            let out = Command::new(BIN).args(args).arg("--config.file").arg(&bad).output().unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.code(), Some(2), "`{}` on {proxy}: {text}", args.join(" "));
            assert!(
                text.contains(&head) && text.contains(field),
                "`{}` on {proxy}: {text}",
                args.join(" ")
            );
            assert_clean(&format!("`{}` on {proxy}", args.join(" ")), &text, &canaries);
        }
        std::fs::write(&config, tenant(proxy)).unwrap();
        let (status, body) = test_support::agent::request(agent.addr, "POST", "/-/reload").await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains(&format!("{}:5:", config.display())) && body.contains(field), "{body}");
        assert_clean(&format!("the reload answer on {proxy}"), &body, &canaries);
    }
    let log = agent.log_text();
    assert!(log.contains("configuration reload failed"), "{log}");
    assert_clean("the log", &log, &canaries);
    assert_eq!(agent.terminate(), Some(0));

    // A valid proxy with credentials: Debug shows where, not who.
    let good = dir.path().join("good-proxy.yaml");
    std::fs::write(&good, tenant(&format!("http://{creds}@proxy.corp.example:3128"))).unwrap();
    let cfg = Config::load(&good).unwrap();
    let debug = format!("{cfg:?}");
    assert!(debug.contains("http://***@proxy.corp.example:3128"), "{debug}");
    assert_clean("the config's Debug", &debug, &canaries);
}

/// The token endpoint's client holds the proxy with its credentials (it
/// sends them); its `Debug` (reqwest's) must not show them.
#[test]
fn the_token_endpoints_debug_hides_the_proxy_password() {
    let tls = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    );
    let endpoint = ece_o365_exporter::oauth::endpoint::TokenEndpoint::new(
        ece_o365_exporter::config::DEFAULT_AUTHORITY,
        "common",
        tls,
        Some(&format!("http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:3128")),
        Duration::from_secs(5),
    )
    .unwrap();
    let debug = format!("{endpoint:?}");
    assert!(debug.contains("127.0.0.1:3128"), "{debug}");
    assert_clean("the token endpoint's Debug", &debug, &[PROXY_USER, PROXY_PASSWORD]);
}

/// A tenant's `proxy_password` (read from its file when the token endpoint
/// is built) in no output: the config's `Debug`, `config check`, `check`
/// against a proxy that wants other credentials, and the token endpoint's
/// `Debug`. Also through `global.proxy`'s credentials.
#[tokio::test(flavor = "multi_thread")]
async fn no_tenant_proxy_password_in_any_output() {
    const TENANT_PROXY_PASSWORD: &str = "canary-tenant-proxy-pass-e41c";
    let pki = Pki::new();
    let dir = pki.dir.path();
    std::fs::write(dir.join("proxy-password"), TENANT_PROXY_PASSWORD).unwrap();
    std::fs::write(dir.join("client-secret"), CLIENT_SECRET).unwrap();
    let proxy = test_support::proxy::ConnectProxy::start(test_support::proxy::Mode::BasicAuth {
        user: "someone-else".into(),
        password: "not-the-canary".into(),
    })
    .await;
    let creds = format!("proxy_user: {PROXY_USER}\n  proxy_password: file:proxy-password\n");
    for (global, tenant) in [
        (format!("  proxy: {}\n  {creds}", proxy.url()), String::new()),
        (
            "  timeout: 5s\n".to_string(),
            format!("    proxy: {}\n    {}", proxy.url(), creds.replace("\n  ", "\n    ")),
        ),
    ] {
        let yaml = format!(
            "global:\n{global}tenants:\n  - name: contoso\n    tenant_id: contoso.onmicrosoft.com\n    \
             client_id: 11111111-2222-3333-4444-555555555555\n    client_secret: file:client-secret\n{tenant}\
             mailboxes:\n  - name: app\n    address: support@contoso.com\n    tenant: contoso\n    grant: client_credentials\n\
             checks:\n  - name: token\n    kind: token\n    mailbox: app\n    timeout: 5s\n"
        );
        let config = dir.join("tenant-proxy.yaml");
        std::fs::write(&config, &yaml).unwrap();
        let cfg = Config::load(&config).unwrap();
        let debug = format!("{cfg:?}");
        assert!(
            debug.contains("proxy-password") && debug.contains(PROXY_USER),
            "where, and who: {debug}"
        );
        assert_clean("the config's Debug", &debug, &[TENANT_PROXY_PASSWORD]);
        let t = &cfg.tenants[0];
        let tls = std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        );
        let endpoint = ece_o365_exporter::oauth::endpoint::TokenEndpoint::through(
            &t.authority,
            &t.tenant_id,
            tls,
            t.proxy.as_ref(),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_clean("the token endpoint's Debug", &format!("{endpoint:?}"), &[TENANT_PROXY_PASSWORD]);
        for args in [&["check"][..], &["check", "--output", "json"][..], &["config", "check"][..]] {
            let out = std::process::Command::new(BIN)
                .args(args)
                .arg("--config.file")
                .arg(&config)
                .output()
                .unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_clean(&args.join(" "), &text, &[TENANT_PROXY_PASSWORD, CLIENT_SECRET]);
        }
    }
    assert!(!proxy.requests().is_empty(), "the token requests went to the proxy");
}
