//! Configuration reload, black-box: `POST /-/reload` and SIGHUP swap the
//! checks; unchanged checks keep their series and schedule, changed ones
//! restart, removed ones' series disappear, tokens survive; an invalid file
//! is refused with its file/line/field error while the last good
//! configuration keeps running.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use ece_o365_exporter::oauth::store::{StoredToken, TokenStore};
use secrecy::SecretString;
use test_support::agent::{Agent, parse, request, value};
use test_support::jwt::{self, OAuthKey};
use test_support::pki::Pki;
use test_support::servers::{self, After};
use test_support::token_server::{Behaviour, TokenServer};

/// The agent binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");

fn tcp_check(name: &str, target: &str) -> String {
    format!("  - name: {name}\n    kind: tcp\n    target: {target}\n")
}

/// Scrapes until `ok` holds for the exposition (bounded), returning it.
async fn scrape_until(
    agent: &Agent,
    what: &str,
    ok: impl Fn(&std::collections::HashMap<String, f64>) -> bool,
) -> std::collections::HashMap<String, f64> {
    for _ in 0..200 {
        let m = parse(&agent.get("/metrics").await.1);
        if ok(&m) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never saw {what}; log:\n{}", agent.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_swaps_checks_keeps_the_unchanged_and_refuses_a_bad_file() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let keep = tcp_server().await;
    let old_target = tcp_server().await;
    let new_target = tcp_server().await;
    let removed = tcp_server().await;
    let added = tcp_server().await;

    let key = OAuthKey {
        key_id: "reload".into(),
        hs256_secret: b"reload-secret-0123456789abcdefgh".to_vec(),
        issuer: String::new(),
    };
    let jwt = jwt::delegated_exchange_jwt(&key, "support@contoso.com", "IMAP.AccessAsUser.All SMTP.Send", 3600);
    let tokens = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: jwt,
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    TokenStore::new(dir.join("support.token"))
        .save(&StoredToken {
            refresh_token: SecretString::from("rt-reload".to_string()),
            rotated_at: 1,
            account: None,
            public_client: false,
        })
        .unwrap();
    let head = format!(
        "global:\n  interval: 60s\n  timeout: 5s\n  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    authority: {}
mailboxes:
  - name: support
    address: support@contoso.com
    tenant: contoso
    token_store: support.token
checks:
  - name: token-support
    kind: token
    mailbox: support
",
        tokens.authority()
    );
    let config = dir.join("reload.yaml");
    let v1 = head.clone()
        + &tcp_check("keep", &keep.target())
        + &tcp_check("change", &old_target.target())
        + &tcp_check("remove", &removed.target());
    std::fs::write(&config, &v1).unwrap();

    let agent = Agent::start(BIN, &config, &[]);
    agent.wait_ready().await;
    let m = parse(&agent.get("/metrics").await.1);
    for check in ["keep", "change", "remove", "token-support"] {
        assert_eq!(value(&m, "ece_o365_check_runs_total", &[("check", check)]), Some(1.0), "{check}");
    }
    assert_eq!(value(&m, "ece_o365_config_last_reload_successful", &[]), Some(1.0));
    assert_eq!(tokens.requests().len(), 1);
    let keep_last_run = value(&m, "ece_o365_check_last_run_timestamp_seconds", &[("check", "keep")]);
    assert!(keep_last_run.is_some());

    // v2: `keep` moves in the file but is unchanged, `change` gets another
    // target, `remove` goes, `added` arrives.
    let v2 = head.clone()
        + &tcp_check("added", &added.target())
        + &tcp_check("change", &new_target.target())
        + &tcp_check("keep", &keep.target());
    std::fs::write(&config, &v2).unwrap();
    let (status, body) = request(agent.addr, "POST", "/-/reload").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("2 checks kept, 2 started, 2 stopped"), "{body}");
    let m = scrape_until(&agent, "the new checks' first runs", |m| {
        value(m, "ece_o365_check_runs_total", &[("check", "added")]) == Some(1.0)
            && value(m, "ece_o365_check_runs_total", &[("check", "change")]) == Some(1.0)
    })
    .await;
    assert_eq!(
        value(&m, "ece_o365_check_runs_total", &[("check", "keep")]),
        Some(1.0),
        "unchanged: same schedule, not re-run"
    );
    assert_eq!(
        value(&m, "ece_o365_check_last_run_timestamp_seconds", &[("check", "keep")]),
        keep_last_run,
        "unchanged: the very same series, not a restarted check"
    );
    assert_eq!(keep.connection_count(), 1);
    assert_eq!(
        value(
            &m,
            "ece_o365_check_success",
            &[("check", "change"), ("target", &new_target.target())]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "ece_o365_check_success",
            &[("check", "change"), ("target", &old_target.target())]
        ),
        None,
        "old target's series gone"
    );
    assert!(
        !m.keys().any(|k| k.contains("check=\"remove\"")),
        "a removed check's series disappear"
    );
    assert_eq!(tokens.requests().len(), 1, "the token survived the reload");
    assert_eq!(value(&m, "ece_o365_config_last_reload_successful", &[]), Some(1.0));

    // v3 is broken: refused with file/line/field, v2 keeps running.
    std::fs::write(
        &config,
        head.clone() + "  - name: broken\n    kind: tcp\n    targett: 127.0.0.1:1\n",
    )
    .unwrap();
    let (status, body) = request(agent.addr, "POST", "/-/reload").await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("reload.yaml:") && body.contains("checks[1].targett"), "{body}");
    let m = parse(&agent.get("/metrics").await.1);
    assert_eq!(value(&m, "ece_o365_config_last_reload_successful", &[]), Some(0.0));
    for check in ["keep", "change", "added", "token-support"] {
        assert!(
            value(&m, "ece_o365_check_runs_total", &[("check", check)]).is_some(),
            "{check} still runs"
        );
    }
    agent.wait_for_log("configuration reload failed").await;

    // SIGHUP with a good file again.
    std::fs::write(&config, &v2).unwrap();
    let _ = Command::new("kill").arg("-HUP").arg(agent.child.id().to_string()).status();
    scrape_until(&agent, "a successful reload after SIGHUP", |m| {
        value(m, "ece_o365_config_last_reload_successful", &[]) == Some(1.0)
    })
    .await;

    assert_eq!(request(agent.addr, "GET", "/-/reload").await.0, 405, "reload only by POST");
    assert_eq!(agent.terminate(), Some(0));
}

/// A TCP server that accepts and reads until the client leaves.
async fn tcp_server() -> servers::TestServer {
    servers::raw(b"", After::Drain).await
}
