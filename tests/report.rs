//! The troubleshooting report end to end: the real binary's `check` run
//! against in-process SMTP, IMAP, TLS and token endpoint servers, for a
//! healthy setup and one failure per check item of the guide, compared with
//! golden files (text and JSON) under `tests/golden/`. One case is also kept
//! in every language.
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files after a deliberate
//! change, then review the diff.
#![allow(clippy::unwrap_used)]

#[path = "support/tokens.rs"]
mod tokens;

use std::path::{Path, PathBuf};

use serde_json::Value;
use test_support::jwt::{self, OAuthKey};
use test_support::pki::{Leaf, Pki};
use test_support::repo;
use test_support::servers::{self, Mail, TestServer};
use test_support::token_server::{Behaviour, TokenServer};

const ADDRESS: &str = "support@contoso.com";
const DELEGATE: &str = "ece-service@contoso.com";
/// The mail flow check's probe mailbox.
const PROBE: &str = "ece-probe@contoso.com";
const SCOPES: &str = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send";

/// What one case changes from the healthy setup.
#[derive(Default)]
struct Case {
    name: &'static str,
    version: Option<&'static str>,
    redirect_host: Option<&'static str>,
    token: Option<Behaviour>,
    token_user: Option<&'static str>,
    smtp_auth: Option<&'static [&'static str]>,
    no_mailbox: bool,
    /// IMAP: what STATUS/EXAMINE get after login (`servers::Mail::after_login`).
    imap_after_login: Option<&'static str>,
    shared: bool,
    closed_port_check: bool,
    /// Adds a `mailflow` check (support to a probe mailbox) against the
    /// in-process Exchange stand-in, set up by this function.
    mailflow: Option<fn(&mut servers::Flow)>,
}

struct Running {
    pki: Pki,
    _servers: Vec<TestServer>,
    _token: TokenServer,
    _flow: Option<(servers::FlowServers, TokenServer)>,
    /// `127.0.0.1:PORT` -> a stable placeholder, for the golden files.
    names: Vec<(String, &'static str)>,
}

fn key() -> OAuthKey {
    OAuthKey {
        key_id: "report-test".into(),
        hs256_secret: b"report-test-secret-0123456789abcd".to_vec(),
        issuer: String::new(),
    }
}

async fn start(case: &Case) -> (Running, PathBuf) {
    let pki = Pki::new();
    let user = if case.shared { DELEGATE } else { ADDRESS };
    let behaviour = case.token.clone().unwrap_or_else(|| Behaviour::Issue {
        access_token: jwt::delegated_exchange_jwt(&key(), case.token_user.unwrap_or(user), SCOPES, 3600),
        expires_in: 3599,
        rotate: false,
    });
    let token = TokenServer::start(&pki, behaviour).await;
    let tls = pki.server_config(Leaf::Good);
    let mut smtp_mail = Mail::new(tls.clone());
    if let Some(replies) = case.smtp_auth {
        smtp_mail.auth_replies = replies;
    }
    let smtp = servers::smtp(smtp_mail).await;
    let mut imap_mail = Mail::new(tls.clone()).implicit();
    imap_mail.no_mailbox = case.no_mailbox;
    imap_mail.after_login = case.imap_after_login;
    let imap = servers::imap(imap_mail).await;
    let https = servers::tls(tls.clone()).await;
    let flow = match case.mailflow {
        Some(configure) => {
            let mut f = servers::Flow::new(tls);
            configure(&mut f);
            let probe_token = TokenServer::start(
                &pki,
                Behaviour::Issue {
                    access_token: jwt::delegated_exchange_jwt(&key(), PROBE, SCOPES, 3600),
                    expires_in: 3599,
                    rotate: false,
                },
            )
            .await;
            Some((servers::flow(f).await, probe_token))
        }
        None => None,
    };
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();

    let dir = pki.dir.path().to_path_buf();
    std::fs::write(dir.join("client-secret.txt"), "canary-report-client-secret").unwrap();
    tokens::seed_token_store(&dir.join("support.token"), "canary-report-refresh", 1_700_000_000);
    let auth_user = if case.shared {
        format!("    auth_user: {DELEGATE}\n")
    } else {
        String::new()
    };
    let (probe_tenant, probe_mailbox, mailflow_check) = match &flow {
        Some((f, probe_token)) => {
            tokens::seed_token_store(&dir.join("probe.token"), "canary-report-refresh", 1_700_000_000);
            (
                format!(
                    "  - name: contoso-probe\n    tenant_id: contoso.onmicrosoft.com\n    client_id: 11111111-2222-3333-4444-555555555555\n    client_secret: file:client-secret.txt\n    client_secret_expires: 2099-06-30\n    authority: {}\n",
                    probe_token.authority()
                ),
                format!(
                    "  - name: probe\n    address: {PROBE}\n    tenant: contoso-probe\n    token_store: probe.token\n    protocols: [imap]\n"
                ),
                format!(
                    "  - name: mailflow-support\n    kind: mailflow\n    mailbox: support\n    to: probe\n    target: {}\n    server_name: localhost\n    receive_target: {}\n    receive_server_name: localhost\n    interval: 15m\n    timeout: 1m\n",
                    f.smtp.target(),
                    f.imap.target()
                ),
            )
        }
        None => Default::default(),
    };
    let closed_check = if case.closed_port_check {
        format!("  - name: tcp-closed\n    kind: tcp\n    target: {closed}\n")
    } else {
        String::new()
    };
    let yaml = format!(
        "ece:
  version: \"{version}\"
  external_url: https://ece.example.com
  redirect_uri: https://{redirect}/system/templates/oauth/redirect.html
  role: services
global:
  timeout: 10s
  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    client_secret_expires: 2099-06-30
    authority: {authority}
{probe_tenant}mailboxes:
  - name: support
    address: {ADDRESS}
{auth_user}    tenant: contoso
    token_store: support.token
    protocols: [imap, smtp]
{probe_mailbox}checks:
  - name: tls-login
    kind: tls
    target: {https}
    server_name: localhost
  - name: token-support
    kind: token
    mailbox: support
  - name: smtp-support
    kind: smtp
    target: {smtp}
    server_name: localhost
    mailbox: support
  - name: imap-support
    kind: imap
    target: {imap}
    tls: implicit
    server_name: localhost
    mailbox: support
{closed_check}{mailflow_check}",
        version = case.version.unwrap_or("12.5(1) ES3"),
        redirect = case.redirect_host.unwrap_or("ece.example.com"),
        authority = token.authority(),
        https = https.target(),
        smtp = smtp.target(),
        imap = imap.target(),
    );
    let path = dir.join(format!("{}.yaml", case.name));
    std::fs::write(&path, yaml).unwrap();
    let closed_port = format!("port {}", closed.rsplit_once(':').unwrap().1);
    let mut names = vec![
        (token.authority().trim_start_matches("https://").to_string(), "TOKEN_ENDPOINT"),
        (https.target(), "HTTPS_SERVER"),
        (smtp.target(), "SMTP_SERVER"),
        (imap.target(), "IMAP_SERVER"),
        (closed, "CLOSED_PORT"),
        (closed_port, "port CLOSED_PORT_NUMBER"),
    ];
    if let Some((f, probe_token)) = &flow {
        names.push((
            probe_token.authority().trim_start_matches("https://").to_string(),
            "PROBE_TOKEN_ENDPOINT",
        ));
        names.push((f.smtp.target(), "MAILFLOW_SMTP_SERVER"));
        names.push((f.imap.target(), "MAILFLOW_IMAP_SERVER"));
    }
    (
        Running {
            pki,
            _servers: vec![smtp, imap, https],
            _token: token,
            _flow: flow,
            names,
        },
        path,
    )
}

/// Runs `check` with `args`; returns stdout with the servers' addresses
/// replaced by placeholders, and the exit code.
async fn check(running: &Running, config: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ece-o365-exporter"));
    cmd.arg("check").arg("--config.file").arg(config).args(args);
    for v in ["LC_ALL", "LC_MESSAGES", "LANG", "NO_COLOR"] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().await.expect("run the binary");
    let mut text = String::from_utf8(out.stdout).expect("utf-8 output");
    for (addr, name) in &running.names {
        text = text.replace(addr.as_str(), name);
    }
    let _ = &running.pki;
    (text, out.status.code().unwrap_or(-1))
}

fn golden_path(file: &str) -> PathBuf {
    repo("tests/golden").join(file)
}

#[track_caller]
fn assert_golden(file: &str, actual: &str) {
    let path = golden_path(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n--- expected\n{}\n--- actual\n{}\n(UPDATE_GOLDEN=1 rewrites it after a deliberate change)",
            path.display(),
            first + 1,
            expected.lines().nth(first).unwrap_or("<end>"),
            actual.lines().nth(first).unwrap_or("<end>")
        );
    }
}

/// The guide part of the JSON report (the `checks` part carries timings and
/// certificates that change every run; its shape is asserted separately).
fn stable_json(json: &str) -> String {
    let mut v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    let checks = v.as_object_mut().unwrap().remove("checks").expect("checks array");
    for c in checks.as_array().unwrap() {
        assert!(
            c["check"].is_string() && c["success"].is_boolean() && c["duration_seconds"].is_number(),
            "{c}"
        );
    }
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

/// Runs a case in English, text and JSON, against its golden files; returns the parsed JSON.
async fn golden_case(case: Case, want_exit: i32) -> Value {
    let (running, config) = start(&case).await;
    let (text, code) = check(&running, &config, &["--lang", "en"], &[]).await;
    assert_eq!(code, want_exit, "exit code of {}:\n{text}", case.name);
    assert_golden(&format!("{}.en.txt", case.name), &text);
    let (json, code) = check(&running, &config, &["--lang", "en", "--output", "json"], &[]).await;
    assert_eq!(code, want_exit);
    assert_golden(&format!("{}.en.json", case.name), &stable_json(&json));
    for canary in ["canary-report-client-secret", "canary-report-refresh"] {
        assert!(!text.contains(canary) && !json.contains(canary), "a secret reached the report");
    }
    serde_json::from_str(&json).unwrap()
}

/// The status of one item in a JSON report.
fn item_status(report: &Value, item: &str) -> String {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == item)
        .unwrap_or_else(|| panic!("no item {item}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Asserts that exactly `item` failed, with a finding whose evidence names `reason`.
#[track_caller]
fn only_failed(report: &Value, item: &str, reason: Option<&str>) {
    for i in report["items"].as_array().unwrap() {
        let want = if i["item"] == item { "failed" } else { "passed|not_checked" };
        assert!(
            want.contains(i["status"].as_str().unwrap()),
            "{} is {}: {i:#}",
            i["item"],
            i["status"]
        );
    }
    if let Some(reason) = reason {
        let item = report["items"].as_array().unwrap().iter().find(|i| i["item"] == item).unwrap();
        assert!(
            item["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["evidence"]["reason"] == reason && f["remedy"].is_string()),
            "{item:#}"
        );
    }
    assert_eq!(report["passed"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_setup_passes_every_item_it_can_see() {
    let report = golden_case(
        Case {
            name: "healthy",
            ..Case::default()
        },
        0,
    )
    .await;
    assert_eq!(report["passed"], true);
    for item in [
        "minimum_version",
        "system_configuration",
        "azure_ad_application",
        "token_generation",
        "mailbox_configuration",
        "exchange_license",
        "mailbox_rights",
        "network_connectivity",
        "token_refresh",
    ] {
        assert_eq!(item_status(&report, item), "passed", "{item}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn minimum_version_below_the_guides_table() {
    let report = golden_case(
        Case {
            name: "minimum_version",
            version: Some("12.5(1) ES2"),
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "minimum_version", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn system_configuration_redirect_uri_on_another_host() {
    let report = golden_case(
        Case {
            name: "system_configuration",
            redirect_host: Some("ece-old.example.com"),
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "system_configuration", None);
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_ad_application_client_secret_expired() {
    let report = golden_case(
        Case {
            name: "azure_ad_application",
            token: Some(Behaviour::aadsts(
                401,
                "invalid_client",
                7_000_222,
                "AADSTS7000222: The provided client secret keys for app '11111111-2222-3333-4444-555555555555' are expired.",
            )),
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "azure_ad_application", Some("token_client_secret_expired"));
    let text = report.to_string();
    assert!(
        text.contains("\"aadsts\":\"AADSTS7000222\"") && text.contains(test_support::token_server::TRACE_ID),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_generation_token_of_another_user() {
    let report = golden_case(
        Case {
            name: "token_generation",
            token_user: Some("admin@contoso.com"),
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "token_generation", Some("token_wrong_user"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mailbox_configuration_smtp_auth_disabled() {
    let report = golden_case(
        Case {
            name: "mailbox_configuration",
            smtp_auth: Some(&["535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox."]),
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "mailbox_configuration", Some("smtp_auth_disabled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn exchange_license_no_mailbox_behind_the_account() {
    let report = golden_case(
        Case {
            name: "exchange_license",
            no_mailbox: true,
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "exchange_license", Some("mailbox_not_found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mailbox_rights_shared_account_without_full_access() {
    let report = golden_case(
        Case {
            name: "mailbox_rights",
            shared: true,
            smtp_auth: Some(&["535 5.7.3 Authentication unsuccessful"]),
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "mailbox_rights", Some("auth_rejected"));
}

/// Exchange's answer to a shared account without Full Access (issue 14):
/// AUTHENTICATE passes, then every command gets `BAD User is authenticated
/// but not connected.`; the report says so in every language.
#[tokio::test(flavor = "multi_thread")]
async fn mailbox_rights_missing_in_every_language() {
    let case = Case {
        name: "mailbox_rights_missing",
        shared: true,
        imap_after_login: Some("{tag} BAD User is authenticated but not connected."),
        ..Case::default()
    };
    let (running, config) = start(&case).await;
    let (json, code) = check(&running, &config, &["--lang", "en", "--output", "json"], &[]).await;
    assert_eq!(code, 1);
    only_failed(
        &serde_json::from_str(&json).unwrap(),
        "mailbox_rights",
        Some("mailbox_rights_missing"),
    );
    for lang in ["en", "fr", "nl", "es", "zh"] {
        let (text, code) = check(&running, &config, &["--lang", lang], &[]).await;
        assert_eq!(code, 1);
        assert_golden(&format!("mailbox_rights_missing.{lang}.txt"), &text);
    }
}

/// A mail flow check whose message Exchange refuses (`SendAsDenied`): the
/// report files it under Mailbox Rights and says so in every language; a
/// healthy mail flow check passes the items it goes through.
#[tokio::test(flavor = "multi_thread")]
async fn send_as_denied_in_every_language() {
    let case = Case {
        name: "send_as_denied",
        mailflow: Some(|f| {
            f.data_end_reply = Some(
                "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.",
            )
        }),
        ..Case::default()
    };
    let (running, config) = start(&case).await;
    let (json, code) = check(&running, &config, &["--lang", "en", "--output", "json"], &[]).await;
    assert_eq!(code, 1);
    only_failed(&serde_json::from_str(&json).unwrap(), "mailbox_rights", Some("send_as_denied"));
    for lang in ["en", "fr", "nl", "es", "zh"] {
        let (text, code) = check(&running, &config, &["--lang", lang], &[]).await;
        assert_eq!(code, 1);
        assert_golden(&format!("send_as_denied.{lang}.txt"), &text);
    }

    let healthy = Case {
        name: "mailflow_healthy",
        mailflow: Some(|_| {}),
        ..Case::default()
    };
    let (running, config) = start(&healthy).await;
    let (json, code) = check(&running, &config, &["--lang", "en", "--output", "json"], &[]).await;
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(code, 0, "{json}");
    assert_eq!(item_status(&report, "mailbox_rights"), "passed");
}

#[tokio::test(flavor = "multi_thread")]
async fn network_connectivity_port_closed() {
    let report = golden_case(
        Case {
            name: "network_connectivity",
            closed_port_check: true,
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "network_connectivity", Some("connect_refused"));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_refresh_refresh_token_expired() {
    let report = golden_case(
        Case {
            name: "token_refresh",
            token: Some(Behaviour::aadsts(
                400,
                "invalid_grant",
                70_008,
                "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.",
            )),
            ..Case::default()
        },
        1,
    )
    .await;
    only_failed(&report, "token_refresh", Some("token_refresh_token_expired"));
}

/// A token answer whose lifetime no clock can hold (`expires_in` at the u64
/// limit) once panicked the three checks that use the token, and `check`
/// silently left them out. Every configured check is reported, exactly once,
/// in JSON and in text, and none of them passes on such a token.
#[tokio::test(flavor = "multi_thread")]
async fn check_reports_every_configured_check_exactly_once() {
    let case = Case {
        name: "absurd_expiry",
        token: Some(Behaviour::Issue {
            access_token: jwt::delegated_exchange_jwt(&key(), ADDRESS, SCOPES, 3600),
            expires_in: u64::MAX,
            rotate: false,
        }),
        closed_port_check: true,
        ..Case::default()
    };
    let (running, config) = start(&case).await;
    let configured = ["tls-login", "token-support", "smtp-support", "imap-support", "tcp-closed"];
    let (json, code) = check(&running, &config, &["--lang", "en", "--output", "json"], &[]).await;
    assert_eq!(code, 1, "{json}");
    let report: Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(names, configured, "one entry per configured check, in config order");
    for c in report["checks"].as_array().unwrap() {
        if ["token-support", "smtp-support", "imap-support"].contains(&c["check"].as_str().unwrap()) {
            assert_eq!(c["success"], false, "{c:#}");
        }
    }
    let (text, code) = check(&running, &config, &["--lang", "en"], &[]).await;
    assert_eq!(code, 1);
    for name in configured {
        assert!(text.contains(name), "{name} is missing from the text report:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_case_in_every_language_and_the_locale_picks_it() {
    let case = Case {
        name: "token_generation",
        token_user: Some("admin@contoso.com"),
        ..Case::default()
    };
    let (running, config) = start(&case).await;
    for lang in ["en", "fr", "nl", "es", "zh"] {
        let (text, code) = check(&running, &config, &["--lang", lang], &[]).await;
        assert_eq!(code, 1);
        assert_golden(&format!("token_generation.{lang}.txt"), &text);
    }
    // No --lang: the locale decides, English when it names no language of ours.
    let (fr, _) = check(&running, &config, &[], &[("LANG", "fr_FR.UTF-8")]).await;
    let (fr_flag, _) = check(&running, &config, &["--lang", "fr"], &[]).await;
    assert_eq!(fr, fr_flag);
    let (de, _) = check(&running, &config, &[], &[("LANG", "de_DE.UTF-8")]).await;
    let (en, _) = check(&running, &config, &["--lang", "en"], &[]).await;
    assert_eq!(de, en);
}

#[tokio::test(flavor = "multi_thread")]
async fn textfile_is_written_atomically_and_promtool_accepts_it() {
    let case = Case {
        name: "textfile",
        closed_port_check: true,
        ..Case::default()
    };
    let (running, config) = start(&case).await;
    let path = running.pki.dir.path().join("ece_o365.prom");
    let (_, code) = check(&running, &config, &["--textfile", path.to_str().unwrap()], &[]).await;
    assert_eq!(code, 1);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("ece_o365_check_success{check=\"tcp-closed\""), "{text}");
    assert!(
        text.contains("ece_o365_guide_item_status{item=\"network_connectivity\",status=\"failed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ece_o365_guide_item_status{item=\"minimum_version\",status=\"passed\"} 1"),
        "{text}"
    );
    assert!(!text.contains("# EOF") && !text.contains("_created"), "{text}");
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(running.pki.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    // node_exporter's own textfile collector (installed with the test peers) reads it.
    node_exporter_reads(running.pki.dir.path()).await;
    // A textfile that cannot be written is an error that says so, not a silent success.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ece-o365-exporter"))
        .args(["check", "--textfile", "/nonexistent-dir/x.prom", "--config.file"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the textfile /nonexistent-dir/x.prom"));
}

/// Starts Debian's node_exporter with only the textfile collector on `dir`,
/// scrapes it, and asserts it parsed our file (no scrape error, our series there).
async fn node_exporter_reads(dir: &Path) {
    const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
    if !Path::new(NODE_EXPORTER).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "node_exporter is missing in CI: scripts/install-test-peers.sh installs it"
        );
        eprintln!("skipping the node_exporter part: {NODE_EXPORTER} is missing (scripts/install-test-peers.sh installs it)");
        return;
    }
    let port = test_support::net::free_port();
    let mut child = tokio::process::Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start node_exporter");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut body = String::new();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            body = test_support::agent::request(addr, "GET", "/metrics").await.1;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill().await;
    assert!(
        body.contains("node_textfile_scrape_error 0"),
        "node_exporter could not parse the textfile:\n{body}"
    );
    assert!(
        body.contains("ece_o365_guide_item_status{item=\"network_connectivity\",status=\"failed\"} 1"),
        "{body}"
    );
    assert!(body.contains("ece_o365_check_success{check=\"tcp-closed\""), "{body}");
    // Types survive (node_exporter would make them untyped if it could not match them).
    for declared in [
        "# TYPE ece_o365_check_runs_total counter",
        "# TYPE ece_o365_check_duration_seconds histogram",
        "# TYPE ece_o365_build_info gauge",
    ] {
        assert!(body.contains(declared), "{declared}: {body}");
    }
    assert!(!body.contains("_created"), "{body}");
}
