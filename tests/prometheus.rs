//! The Prometheus side of the project: `prometheus/alerts.yaml` passes
//! `promtool check rules` and its unit tests (`prometheus/alerts_test.yaml`),
//! every failure reason is routed to exactly one alert that names it,
//! `grafana/ece-o365-exporter.json` is a well-formed dashboard, and every
//! dashboard and alert expression runs on a real Prometheus (Debian's
//! `prometheus` package, see scripts/install-test-peers.sh) that scrapes the
//! real agent checking in-process servers, with the alert rules loaded.
//!
//! Nothing here passes or fails on speed: the test waits (bounded) for
//! conditions, never for a time.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ece_o365_exporter::oauth::store::{StoredToken, TokenStore};
use ece_o365_exporter::reason::Reason;
use rcgen::{CertificateParams, DnType, KeyPair, date_time_ymd};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use test_support::agent::{self, Agent};
use test_support::https;
use test_support::jwt::{self, OAuthKey};
use test_support::net::free_port;
use test_support::pki::{self, Leaf, Pki};
use test_support::prometheus::{PROMTOOL, Prometheus, tool};
use test_support::servers::{self, DnsMode, Mail};
use test_support::token_server::{Behaviour, TokenServer};
use test_support::{now, repo};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

/// The agent binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");

/// The scrape job name the alert rules and the dashboard assume.
const JOB: &str = "ece-o365-exporter";
/// The issuer of the certificate `tls-changing` switches to.
const INSPECTION_CA: &str = "Contoso TLS Inspection CA";
/// How long the end-to-end test waits for everything to show up before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

// ---------------------------------------------------------------------------
// The rule files
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RuleTests {
    tests: Vec<RuleTest>,
}

#[derive(Deserialize)]
struct RuleTest {
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Deserialize)]
struct AlertTest {
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<Value>,
}

fn alert_rules() -> Vec<Rule> {
    let file: RuleFile = serde_saphyr::from_str(&read("prometheus/alerts.yaml")).expect("prometheus/alerts.yaml parses");
    file.groups.into_iter().flat_map(|g| g.rules).collect()
}

fn run_promtool(args: &[&str]) {
    let out = Command::new(tool(PROMTOOL))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    run_promtool(&["check", "rules", "prometheus/alerts.yaml"]);
    run_promtool(&["test", "rules", "prometheus/alerts_test.yaml"]);

    let rules = alert_rules();
    assert!(rules.len() >= 16, "{} alerts", rules.len());
    let tests: RuleTests = serde_saphyr::from_str(&read("prometheus/alerts_test.yaml")).expect("alerts_test.yaml parses");
    let cases: Vec<&AlertTest> = tests.tests.iter().flat_map(|t| &t.alert_rule_test).collect();
    for rule in &rules {
        let name = &rule.alert;
        assert!(name.starts_with("ECEO365"), "{name}");
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(matches!(severity, Some("warning" | "critical")), "{name}: severity {severity:?}");
        for key in ["summary", "description", "runbook"] {
            let text = rule.annotations.get(key).map(|s| s.trim()).unwrap_or_default();
            assert!(text.len() > 20, "{name}: annotation {key} is missing or too short");
        }
        let description = &rule.annotations["description"];
        assert!(
            description.starts_with('[') && description.contains("First thing to do:"),
            "{name}: the description names the guide's check item in brackets and the first thing to do"
        );
        assert!(
            cases.iter().any(|c| &c.alertname == name && !c.exp_alerts.is_empty()),
            "{name}: no unit test where it fires"
        );
        assert!(
            cases.iter().any(|c| &c.alertname == name && c.exp_alerts.is_empty()),
            "{name}: no unit test where it must not fire"
        );
    }
}

/// Whether `reason` matches a `reason=~"..."` regex of the restricted form the
/// rules use: alternatives that are literals or a literal followed by `.*`.
/// (Prometheus anchors label regexes at both ends.)
fn reason_matches(regex: &str, reason: &str) -> bool {
    regex.split('|').any(|alt| match alt.strip_suffix(".*") {
        Some(prefix) => reason.starts_with(prefix),
        None => reason == alt,
    })
}

#[test]
fn every_failure_reason_has_exactly_one_alert_that_names_it() {
    let routed: Vec<(String, String, String)> = alert_rules()
        .into_iter()
        .filter(|r| r.expr.contains("ece_o365_check_failures_total"))
        .map(|r| {
            let regex = r
                .expr
                .split("reason=~\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("{}: no reason=~ matcher", r.alert))
                .to_string();
            for alt in regex.split('|') {
                let literal = alt.strip_suffix(".*").unwrap_or(alt);
                assert!(
                    !literal.is_empty() && literal.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{}: `{alt}` is not a literal or literal.* alternative; this test cannot follow it",
                    r.alert
                );
            }
            (r.alert, regex, r.annotations["description"].clone())
        })
        .collect();
    assert_eq!(
        routed.len(),
        12,
        "DNS, ports, the HTTP proxy, TLS, HTTPS, session, mailbox login, mail submission, mail flow and its cleanup, token, the agent's own resources"
    );
    for reason in Reason::ALL {
        let reason = reason.as_str();
        let owners: Vec<&(String, String, String)> = routed.iter().filter(|(_, re, _)| reason_matches(re, reason)).collect();
        assert_eq!(
            owners.len(),
            1,
            "reason {reason} is routed to {:?}",
            owners.iter().map(|o| &o.0).collect::<Vec<_>>()
        );
        let (alert, _, description) = owners[0];
        assert!(
            description.contains(&format!("\"{reason}\"")),
            "{alert}: the description has no branch for {reason}"
        );
    }
}

// ---------------------------------------------------------------------------
// The dashboard
// ---------------------------------------------------------------------------

fn dashboard() -> Value {
    serde_json::from_str(&read("grafana/ece-o365-exporter.json")).expect("the dashboard is JSON")
}

/// Every panel, rows included, and the panels inside collapsed rows.
fn all_panels(dash: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// (panel title, refId, expr) of every query of every panel.
fn panel_exprs(dash: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in all_panels(dash).into_iter().filter(|p| p["type"] != "row") {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or_default().to_string(),
                t["refId"].as_str().unwrap_or_default().to_string(),
                t["expr"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// (name, query) of the query variables: `label_values(selector, label)`.
fn variable_queries(dash: &Value) -> Vec<(String, String)> {
    dash["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let query = v["query"]["query"].as_str().or_else(|| v["query"].as_str()).unwrap_or_default();
            (v["name"].as_str().unwrap_or_default().to_string(), query.to_string())
        })
        .collect()
}

/// Splits `label_values(selector, label)`.
fn label_values(query: &str) -> (String, String) {
    let inner = query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not label_values(selector, label): {query}"));
    let (selector, label) = inner.rsplit_once(',').unwrap_or_else(|| panic!("no label in {query}"));
    (selector.trim().to_string(), label.trim().to_string())
}

/// The expression as Grafana sends it with every variable at "All".
fn substitute(expr: &str) -> String {
    let out = expr
        .replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$__interval", "15s")
        .replace("${instance}", ".*")
        .replace("${check}", ".*")
        .replace("${mailbox}", ".*")
        .replace("$instance", ".*")
        .replace("$check", ".*")
        .replace("$mailbox", ".*");
    assert!(!out.contains('$'), "unknown variable left in {out}");
    out
}

#[test]
fn dashboard_is_well_formed() {
    let dash = dashboard();
    assert!(
        dash["schemaVersion"].as_u64().unwrap_or(0) >= 39,
        "schemaVersion {}",
        dash["schemaVersion"]
    );
    assert_eq!(dash["uid"], "ece-o365-exporter");
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dash["id"].is_null(), "no instance-specific id in a provisioned dashboard");

    let vars = dash["templating"]["list"].as_array().expect("templating.list");
    let datasource = vars.iter().find(|v| v["name"] == "datasource").expect("a datasource variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let queries: BTreeMap<String, String> = variable_queries(&dash).into_iter().collect();
    for name in ["instance", "check", "mailbox"] {
        let query = queries.get(name).unwrap_or_else(|| panic!("no `{name}` query variable"));
        let (_, label) = label_values(query);
        assert_eq!(label, name, "{query}");
        let var = vars.iter().find(|v| v["name"] == name).unwrap();
        assert_eq!(var["datasource"]["uid"], "${datasource}", "{name}");
        assert_eq!(var["includeAll"], true, "{name}");
        assert_eq!(var["allValue"], ".*", "{name}: `All` must be a regex for =~");
    }

    let panels = all_panels(&dash);
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(&str, [u64; 4])> = Vec::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {p}");
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate id in {title}");
        let g = &p["gridPos"];
        let b = ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap_or_else(|| panic!("{title}: gridPos.{k}")));
        assert!(b[0] + b[2] <= 24, "{title} is wider than the dashboard");
        for (other, o) in &boxes {
            let overlap = b[0] < o[0] + o[2] && o[0] < b[0] + b[2] && b[1] < o[1] + o[3] && o[1] < b[1] + b[3];
            assert!(!overlap, "{title} overlaps {other}");
        }
        boxes.push((title, b));
        if p["type"] == "row" {
            continue;
        }
        let description = p["description"].as_str().unwrap_or_default();
        assert!(
            description.len() > 40,
            "{title}: the description must say what to check when it goes red"
        );
        assert_eq!(p["datasource"]["type"], "prometheus", "{title}");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "{title}: a target without expr"
            );
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
    // Rows top to bottom in the order of the guide's check items.
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap_or_default())
        .collect();
    let wanted = [
        "Connectivity Test",
        "URLs",
        "Ports",
        "SMTP / IMAP / POP3",
        "Token Generation",
        "Mailbox backlog",
        "Mail flow",
    ];
    assert_eq!(rows.len(), wanted.len(), "{rows:?}");
    for (row, want) in rows.iter().zip(wanted) {
        assert!(row.contains(want), "row `{row}` should be about {want}");
    }
    // Every metric of the exporter is on the dashboard.
    let exprs: String = panel_exprs(&dash).into_iter().map(|(_, _, e)| e + "\n").collect();
    for metric in [
        "ece_o365_check_success",
        "ece_o365_check_duration_seconds_bucket",
        "ece_o365_check_phase_duration_seconds_bucket",
        "ece_o365_check_last_duration_seconds",
        "ece_o365_check_phase_last_duration_seconds",
        "ece_o365_check_runs_total",
        "ece_o365_check_failures_total",
        "ece_o365_check_last_run_timestamp_seconds",
        "ece_o365_check_last_success_timestamp_seconds",
        "ece_o365_tls_earliest_cert_expiry_timestamp_seconds",
        "ece_o365_tls_version_info",
        "ece_o365_tls_cert_info",
        "ece_o365_capability_advertised",
        "ece_o365_dns_answers",
        "ece_o365_token_expiry_timestamp_seconds",
        "ece_o365_token_lifetime_seconds",
        "ece_o365_refresh_token_last_rotated_timestamp_seconds",
        "ece_o365_client_secret_expiry_timestamp_seconds",
        "ece_o365_mailbox_messages",
        "ece_o365_mailbox_oldest_message_timestamp_seconds",
        "ece_o365_mailflow_last_delivery_seconds",
        "ece_o365_mailflow_delivery_seconds_bucket",
        "ece_o365_build_info",
        "ece_o365_config_last_reload_successful",
        "ece_o365_config_last_reload_success_timestamp_seconds",
    ] {
        assert!(exprs.contains(metric), "no panel shows {metric}");
    }
    for (title, ref_id, expr) in panel_exprs(&dash) {
        let _ = substitute(&expr);
        assert!(
            !expr.contains("ece_o365_") || expr.contains("instance=~\"$instance\""),
            "{title}/{ref_id}: filter by $instance"
        );
    }
}

/// The dashboard's "failures by reason" panels: no reason is shown by two of
/// them, and the HTTP proxy's reasons are shown by exactly one, whose
/// description says what each means.
#[test]
fn the_dashboard_shows_the_proxy_and_https_reasons() {
    let dash = dashboard();
    let mut by_reason: Vec<(String, String)> = Vec::new();
    for (title, _, expr) in panel_exprs(&dash) {
        for part in expr.split("reason=~\"").skip(1) {
            let regex = part.split('"').next().unwrap_or_default().to_string();
            by_reason.push((title.clone(), regex));
        }
    }
    for reason in Reason::ALL {
        let reason = reason.as_str();
        let panels: Vec<&String> = by_reason
            .iter()
            .filter(|(_, re)| reason_matches(re, reason))
            .map(|(t, _)| t)
            .collect();
        assert!(panels.len() <= 1, "{reason} is shown by {panels:?}");
        if reason.starts_with("proxy_") || reason.starts_with("http_") {
            assert_eq!(panels.len(), 1, "{reason} is on no failures-by-reason panel");
            let panel = all_panels(&dash).into_iter().find(|p| p["title"] == panels[0].as_str()).unwrap();
            let description = panel["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(reason),
                "{}: the description does not explain {reason}",
                panels[0]
            );
        }
    }
}

/// The dashboard type-checked against Grafana's own schema types
/// (@grafana/schema from npm, see grafana/schema-check/check.mjs). The test
/// command (`scripts/test`) runs `npm ci` there first.
#[test]
fn dashboard_matches_grafana_schema() {
    let dir = repo("grafana/schema-check");
    assert!(
        dir.join("node_modules/@grafana/schema/package.json").exists(),
        "the schema checker is not installed: run `npm ci` in grafana/schema-check (scripts/test does)"
    );
    let out = Command::new("node")
        .arg("check.mjs")
        .current_dir(&dir)
        .output()
        .expect("node runs the schema checker");
    assert!(
        out.status.success(),
        "the dashboard does not match @grafana/schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// The servers the agent checks
// ---------------------------------------------------------------------------

/// `YYYY-MM-DD` of the UTC day `days` days from now.
fn date_in(days: i64) -> (i32, u8, u8) {
    // Howard Hinnant's days-to-civil algorithm.
    let z = (now() as i64).div_euclid(86_400) + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8, day as u8)
}

fn iso_date(days: i64) -> String {
    let (y, m, d) = date_in(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A TLS inspection box: its own CA (written to `ca_pem`) and a leaf for
/// localhost it signed, expiring in 10 days.
fn inspection_box(ca_pem: &Path) -> Arc<ServerConfig> {
    let (ca, ca_der) = pki::make_ca(INSPECTION_CA);
    std::fs::write(ca_pem, pki::pem("CERTIFICATE", &ca_der)).expect("write the inspection CA");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.not_before = date_time_ymd(2020, 1, 1);
    let (y, m, d) = date_in(10);
    params.not_after = date_time_ymd(y, m, d);
    let key = KeyPair::generate().expect("leaf key");
    let leaf = params.signed_by(&key, &ca).expect("leaf cert");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    pki::server_config_for(vec![leaf.der().clone(), ca_der], key)
}

/// A TLS server presenting `before` until `switched` is set, then `after`
/// (TLS inspection starting on the path).
async fn switching_tls(before: Arc<ServerConfig>, after: Arc<ServerConfig>, switched: Arc<AtomicBool>) -> servers::TestServer {
    servers::serve(move |stream| {
        let cfg = if switched.load(Ordering::SeqCst) {
            after.clone()
        } else {
            before.clone()
        };
        async move {
            let mut tls = TlsAcceptor::from(cfg).accept(stream).await?;
            let _ = tokio::io::copy(&mut tls, &mut tokio::io::sink()).await;
            Ok(())
        }
    })
    .await
}

/// POP3 on implicit TLS that accepts any XOAUTH2 login and answers STAT with
/// an inbox that grows by 10 messages per STAT, from 150 (nobody retrieves).
async fn growing_pop3(tls: Arc<ServerConfig>) -> servers::TestServer {
    let stats = Arc::new(AtomicUsize::new(0));
    servers::serve(move |stream| {
        let acceptor = TlsAcceptor::from(tls.clone());
        let stats = stats.clone();
        async move {
            let mut conn = tokio::io::BufReader::new(acceptor.accept(stream).await?);
            conn.get_mut()
                .write_all(b"+OK The Microsoft Exchange POP3 service is ready.\r\n")
                .await?;
            conn.get_mut().flush().await?;
            let mut line = String::new();
            loop {
                line.clear();
                if conn.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let command = line.trim_end().to_ascii_uppercase();
                let reply = match command.split(' ').next().unwrap_or_default() {
                    "CAPA" => "+OK\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN XOAUTH2\r\n.\r\n".to_string(),
                    "AUTH" => "+OK User successfully authenticated.\r\n".to_string(),
                    "STAT" => {
                        let n = 150 + 10 * stats.fetch_add(1, Ordering::SeqCst);
                        format!("+OK {n} {}\r\n", n * 4096)
                    }
                    // The oldest message's header: it has waited since 2024.
                    "TOP" => "+OK\r\nReceived: from AM0PR01MB1234.eurprd01.prod.exchangelabs.com\r\n by AM0PR01MB5678.eurprd01.prod.exchangelabs.com with HTTPS; Mon, 1 Jan 2024\r\n 09:00:00 +0000\r\nSubject: order 1\r\n\r\n.\r\n"
                        .to_string(),
                    "QUIT" => "+OK Microsoft Exchange Server POP3 server signing off.\r\n".to_string(),
                    _ => "-ERR Protocol error. 14\r\n".to_string(),
                };
                conn.get_mut().write_all(reply.as_bytes()).await?;
                conn.get_mut().flush().await?;
                if command == "QUIT" {
                    return Ok(());
                }
            }
        }
    })
    .await
}

fn seed_token_store(path: &Path, rotated_at: i64) {
    TokenStore::new(path.to_path_buf())
        .save(&StoredToken {
            refresh_token: SecretString::from("prometheus-test-seed-refresh-token".to_string()),
            rotated_at,
            account: None,
            public_client: false,
        })
        .expect("seed the token store");
}

/// A delegated Exchange token for `user` that expires `expires_in` seconds
/// from now and lasted 60 minutes in all.
fn exchange_jwt(user: &str, expires_in: u64) -> String {
    let key = OAuthKey {
        key_id: "prometheus-test".into(),
        hs256_secret: b"prometheus-test-signing-key-0123456789".to_vec(),
        issuer: String::new(),
    };
    let exp = now() + expires_in;
    let claims = format!(
        r#"{{"aud":"https://outlook.office.com","upn":"{user}","scp":"IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send","iat":{}}}"#,
        exp - 3600
    );
    jwt::mint_hs256_jwt(&key, user, &claims, exp)
}

/// Which alerts this setup makes active (pending or firing), by the label
/// that tells their instances apart. Every alert of alerts.yaml is listed.
fn expected_active(instance: &str, dead_target: &str) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        ("ECEO365DNSResolutionFailing", "check", v(&["dns-nxdomain"])),
        ("ECEO365PortBlocked", "check", v(&["tcp-closed"])),
        // No check here goes through a proxy (tests/proxy.rs has them; the rule has its promtool cases).
        ("ECEO365ProxyFailing", "check", vec![]),
        ("ECEO365TLSFailing", "check", v(&["tls-untrusted"])),
        ("ECEO365HttpsFailing", "check", v(&["https-redirected"])),
        ("ECEO365MailSessionFailing", "check", v(&["smtp-stripped"])),
        ("ECEO365MailboxAuthFailing", "check", v(&["smtp-auth-disabled"])),
        // Only a `mailflow` check submits mail and waits for it; its interval
        // is at least 5 minutes, too slow for this setup (tests/mailflow.rs
        // and the promtool cases cover them).
        ("ECEO365MailSubmissionFailing", "check", vec![]),
        ("ECEO365MailFlowFailing", "check", vec![]),
        ("ECEO365MailFlowCleanupFailing", "check", vec![]),
        ("ECEO365MailDeliverySlow", "check", vec![]),
        // No check here runs out of file descriptors: the agent's own server is fine.
        ("ECEO365AgentResourceExhausted", "check", vec![]),
        ("ECEO365TokenRefreshFailing", "check", v(&["token-sales"])),
        ("ECEO365AccessTokenExpiring", "mailbox", v(&["ops"])),
        // ops's refresh token was issued yesterday; sales never got a token.
        ("ECEO365RefreshTokenNotRotated", "mailbox", v(&["support"])),
        ("ECEO365ClientSecretExpiringIn30Days", "tenant", v(&["contoso"])),
        ("ECEO365ClientSecretExpiringIn7Days", "tenant", v(&["fabrikam"])),
        ("ECEO365CertificateExpiringSoon", "check", v(&["tls-changing"])),
        ("ECEO365TLSIssuerChanged", "check", v(&["tls-changing"])),
        ("ECEO365MailboxBacklogGrowing", "mailbox", v(&["support"])),
        // support's oldest message (TOP 1 0) arrived in 2024.
        ("ECEO365MailboxBacklog", "mailbox", v(&["support"])),
        ("ECEO365ExporterDown", "instance", vec![dead_target.to_string()]),
        // Every check runs each second: none can go 10 minutes without a run here.
        ("ECEO365ChecksStale", "check", vec![]),
        ("ECEO365ConfigReloadFailed", "instance", vec![instance.to_string()]),
    ]
}

/// The series names an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in expr.match_indices("ece_o365_") {
        let name: String = expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        out.insert(name);
    }
    if expr.contains("up{") {
        out.insert("up".to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_and_alert_expressions_run_on_a_real_prometheus_scraping_the_agent() {
    const TAILSPIN: &str = "0f0e0d0c-0b0a-4909-8807-060504030201";
    let started = Instant::now();
    let pki = Pki::new();
    let dir = pki.dir.path();

    // The path ECE uses, healthy and broken in every way the rows show.
    let good = pki.server_config(Leaf::Good);
    let dns_ok = servers::dns(DnsMode::Answer(vec![Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11)])).await;
    let dns_nx = servers::dns(DnsMode::NxDomain).await;
    let closed = free_port();
    let tls_good = servers::tls(good.clone()).await;
    let tls_untrusted = servers::tls(pki.server_config(Leaf::OtherCa)).await;
    let switched = Arc::new(AtomicBool::new(false));
    let tls_changing = switching_tls(good.clone(), inspection_box(&dir.join("inspection-ca.pem")), switched.clone()).await;
    let smtp_good = servers::smtp(Mail::new(good.clone())).await;
    let mut stripped = Mail::new(good.clone());
    stripped.offer_starttls = false;
    let smtp_stripped = servers::smtp(stripped).await;
    let mut auth_disabled = Mail::new(good.clone());
    auth_disabled.auth_replies = &["535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."];
    let smtp_auth_disabled = servers::smtp(auth_disabled).await;
    let imap_good = servers::imap(Mail::new(good.clone()).implicit()).await;
    // Mail flow as Exchange serves it: the message arrives at once.
    let flow = servers::flow(servers::Flow::new(good.clone())).await;
    let pop3_support = growing_pop3(good.clone()).await;
    let https_redirected = https::https(good.clone(), https::Answer::redirect(302, "https://blocked.example/")).await;
    let tenant_metadata = https::https(
        good.clone(),
        https::Answer::Status {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: format!(
                r#"{{"issuer":"https://login.microsoftonline.com/{TAILSPIN}/v2.0","token_endpoint":"{{origin}}/{TAILSPIN}/oauth2/v2.0/token"}}"#
            ),
        },
    )
    .await;

    // Tokens: support refreshes fine (no rotation, stored 2023); sales's
    // refresh token was revoked; ops gets tokens that expire in 4 minutes.
    let token_good = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: exchange_jwt("support@contoso.com", 3600),
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    let token_refused = TokenServer::start(
        &pki,
        Behaviour::aadsts(
            400,
            "invalid_grant",
            70000,
            "AADSTS70000: The provided value for the 'refresh_token' is not valid.",
        ),
    )
    .await;
    let token_short = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: exchange_jwt("ops@northwind.com", 240),
            expires_in: 240,
            rotate: false,
        },
    )
    .await;
    let token_probe = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: exchange_jwt("ece-probe@contoso.com", 3600),
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    seed_token_store(&dir.join("support.token"), 1_700_000_000);
    seed_token_store(&dir.join("probe.token"), now() as i64 - 86_400);
    seed_token_store(&dir.join("sales.token"), 1_700_000_000);
    seed_token_store(&dir.join("ops.token"), now() as i64 - 86_400);

    let ca_bundle = std::fs::read_to_string(&pki.ca_pem).unwrap() + &std::fs::read_to_string(dir.join("inspection-ca.pem")).unwrap();
    std::fs::write(dir.join("cas.pem"), ca_bundle).unwrap();
    let tls = "    server_name: localhost\n";
    let yaml = format!(
        "global:
  interval: 1s
  timeout: 1s
  extra_ca_file: cas.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    client_secret_expires: {in_20}
    authority: {good_authority}
  - name: fabrikam
    tenant_id: fabrikam.onmicrosoft.com
    client_id: 66666666-7777-8888-9999-000000000000
    client_secret: file:client-secret.txt
    client_secret_expires: {in_3}
    authority: {refused_authority}
  - name: northwind
    tenant_id: northwind.onmicrosoft.com
    client_id: 12345678-1234-1234-1234-123456789012
    client_secret: file:client-secret.txt
    client_secret_expires: {in_60}
    authority: {short_authority}
  - name: contoso-probe
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    authority: {probe_authority}
  - name: tailspin
    tenant_id: {TAILSPIN}
    client_id: 22222222-3333-4444-5555-666666666666
    authority: https://{tenant_metadata}
mailboxes:
  - name: support
    address: support@contoso.com
    tenant: contoso
    token_store: support.token
    protocols: [imap, pop3, smtp]
  - name: sales
    address: sales@fabrikam.com
    tenant: fabrikam
    token_store: sales.token
  - name: ops
    address: ops@northwind.com
    tenant: northwind
    token_store: ops.token
  - name: probe
    address: ece-probe@contoso.com
    tenant: contoso-probe
    token_store: probe.token
    protocols: [imap]
checks:
  - name: dns-good
    kind: dns
    query: outlook.office365.com
    dns_servers: [\"{dns_ok}\"]
  - name: dns-nxdomain
    kind: dns
    query: outlook.office365.com
    dns_servers: [\"{dns_nx}\"]
  - name: tcp-closed
    kind: tcp
    target: 127.0.0.1:{closed}
  - name: tls-good
    kind: tls
    target: {tls_good}
{tls}  - name: tls-untrusted
    kind: tls
    target: {tls_untrusted}
{tls}  - name: tls-changing
    kind: tls
    target: {tls_changing}
{tls}  - name: smtp-good
    kind: smtp
    target: {smtp_good}
    mailbox: support
{tls}  - name: smtp-stripped
    kind: smtp
    target: {smtp_stripped}
{tls}  - name: smtp-auth-disabled
    kind: smtp
    target: {smtp_auth_disabled}
    mailbox: support
{tls}  - name: imap-good
    kind: imap
    target: {imap_good}
{tls}  - name: pop3-support
    kind: pop3
    target: {pop3_support}
    mailbox: support
{tls}  - name: https-redirected
    kind: https
    url: {https_redirected}
    expect_status: [200]
{tls}  - name: token-support
    kind: token
    mailbox: support
  - name: token-sales
    kind: token
    mailbox: sales
  - name: token-ops
    kind: token
    mailbox: ops
  - name: tenant-tailspin
    kind: tenant
    tenant: tailspin
  - name: mailflow-support
    kind: mailflow
    mailbox: support
    to: probe
    target: {flow_smtp}
    receive_target: {flow_imap}
    receive_server_name: localhost
    interval: 5m
    timeout: 30s
{tls}",
        in_20 = iso_date(20),
        in_3 = iso_date(3),
        in_60 = iso_date(60),
        good_authority = token_good.authority(),
        refused_authority = token_refused.authority(),
        short_authority = token_short.authority(),
        probe_authority = token_probe.authority(),
        flow_smtp = flow.smtp.target(),
        flow_imap = flow.imap.target(),
        dns_ok = dns_ok.addr,
        dns_nx = dns_nx.addr,
        tls_good = tls_good.target(),
        tls_untrusted = tls_untrusted.target(),
        tls_changing = tls_changing.target(),
        smtp_good = smtp_good.target(),
        smtp_stripped = smtp_stripped.target(),
        smtp_auth_disabled = smtp_auth_disabled.target(),
        imap_good = imap_good.target(),
        pop3_support = pop3_support.target(),
        https_redirected = https_redirected.url("/"),
        tenant_metadata = tenant_metadata.target(),
    );
    std::fs::write(dir.join("client-secret.txt"), "prometheus-test-client-secret").unwrap();
    let config = dir.join("agent.yaml");
    std::fs::write(&config, yaml).unwrap();
    let agent = Agent::start(BIN, &config, &[]);
    let instance = agent.addr.to_string();
    agent.wait_ready().await;
    // Someone breaks the file and reloads: the agent keeps its last good
    // configuration and says so in ece_o365_config_last_reload_successful.
    std::fs::write(&config, "checks:\n  - name: broken\n    kind: nonsense\n").unwrap();
    let (status, body) = agent::request(agent.addr, "POST", "/-/reload").await;
    assert_eq!(status, 500, "a broken file is refused: {body}");
    // A second target of the job where nothing listens: `up` is 0 there.
    let dead_target = format!("127.0.0.1:{}", free_port());

    let prometheus = Prometheus::start(&format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ['{instance}', '{dead_target}']
",
        rules = repo("prometheus/alerts.yaml").display(),
    ))
    .await;

    let dash = dashboard();
    let dashboard_exprs: Vec<(String, String)> = panel_exprs(&dash)
        .into_iter()
        .map(|(title, ref_id, expr)| (format!("panel `{title}` {ref_id}"), substitute(&expr)))
        .collect();
    let rules = alert_rules();
    let expected = expected_active(&instance, &dead_target);
    assert_eq!(
        rules.iter().map(|r| r.alert.as_str()).collect::<BTreeSet<_>>(),
        expected.iter().map(|e| e.0).collect::<BTreeSet<_>>(),
        "expected_active() must list every alert of alerts.yaml"
    );
    let never_active: BTreeSet<&str> = expected.iter().filter(|e| e.2.is_empty()).map(|e| e.0).collect();

    // Every expression must parse right away; data comes with the scrapes.
    for (what, expr) in dashboard_exprs
        .iter()
        .map(|(w, e)| (w, e))
        .chain(rules.iter().map(|r| (&r.alert, &r.expr)))
    {
        if let Err(e) = prometheus.query(expr).await {
            panic!("{what} does not run on Prometheus: {e}\n{expr}");
        }
    }

    // Poll until every condition holds; fail with what is still missing.
    let deadline = Instant::now() + PATIENCE;
    let mut missing: Vec<String>;
    loop {
        missing = Vec::new();
        let up = prometheus
            .query(&format!("up{{job=\"{JOB}\", instance=\"{instance}\"}} == 1"))
            .await
            .unwrap();
        if up.is_empty() {
            missing.push(format!("up{{instance=\"{instance}\"}} is not 1 yet"));
        }
        // TLS inspection starts once Prometheus has seen the first issuer.
        if !switched.load(Ordering::SeqCst) {
            let first = format!("ece_o365_tls_cert_info{{check=\"tls-changing\", issuer=\"CN={}\"}}", pki::CA_NAME);
            if prometheus.query(&first).await.unwrap().is_empty() {
                missing.push("the first issuer of tls-changing is not scraped yet".into());
            } else {
                switched.store(true, Ordering::SeqCst);
                missing.push("tls-changing switched issuer just now".into());
            }
        }
        for (what, expr) in &dashboard_exprs {
            if prometheus.query(expr).await.unwrap().is_empty() {
                missing.push(format!("{what} has no data: {expr}"));
            }
        }
        for (name, selector) in variable_queries(&dash) {
            let (selector, label) = label_values(&substitute(&selector));
            if prometheus.label_values(&selector, &label).await.is_empty() {
                missing.push(format!("variable ${name} has no values: {selector}"));
            }
        }
        for rule in &rules {
            for metric in metric_names(&rule.expr) {
                if prometheus
                    .query(&format!("count({{__name__=\"{metric}\"}})"))
                    .await
                    .unwrap()
                    .is_empty()
                {
                    missing.push(format!("{}: no series {metric}", rule.alert));
                }
            }
            let data = !prometheus.query(&rule.expr).await.unwrap().is_empty();
            if data == never_active.contains(rule.alert.as_str()) {
                missing.push(format!(
                    "{}: the expression {} data",
                    rule.alert,
                    if data { "has" } else { "has no" }
                ));
            }
        }
        let states = prometheus.alert_rules().await;
        for (alert, label, want) in &expected {
            let Some((health, state, alerts)) = states.get(*alert) else {
                missing.push(format!("{alert}: not loaded by Prometheus"));
                continue;
            };
            if health != "ok" {
                missing.push(format!("{alert}: rule health {health}"));
            }
            let active: BTreeSet<String> = alerts
                .iter()
                .map(|a| a["labels"][*label].as_str().unwrap_or_default().to_string())
                .collect();
            let want: BTreeSet<String> = want.iter().cloned().collect();
            if !want.is_subset(&active) || (want.is_empty() && state != "inactive") {
                missing.push(format!("{alert}: active for {active:?} (state {state}), want {want:?}"));
            }
            // Other instances only for a healthy check whose run timed out on a loaded machine.
            for a in alerts {
                let key = a["labels"][*label].as_str().unwrap_or_default();
                assert!(
                    want.contains(key) || a["labels"]["reason"] == "timeout",
                    "{alert} is active for {label}={key}, which this setup keeps healthy: {a}"
                );
            }
        }
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {PATIENCE:?}, still missing:\n  {}\n\nagent log:\n{}\n\nprometheus log:\n{}",
            missing.join("\n  "),
            agent.log_text(),
            prometheus.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The job's targets as the alert rules and the dashboard assume them.
    let up = prometheus.query(&format!("up{{job=\"{JOB}\"}}")).await.unwrap();
    let up: BTreeMap<String, String> = up
        .iter()
        .map(|s| {
            (
                s["metric"]["instance"].as_str().unwrap_or_default().to_string(),
                s["value"][1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(up.get(&instance).map(String::as_str), Some("1"), "{up:?}");
    assert_eq!(up.get(&dead_target).map(String::as_str), Some("0"), "{up:?}");

    // The template variables list what the agent exports.
    let checks = prometheus.label_values("ece_o365_check_success{instance=~\".*\"}", "check").await;
    assert_eq!(checks.len(), 17, "{checks:?}");
    let mailboxes = prometheus
        .label_values("ece_o365_token_expiry_timestamp_seconds{instance=~\".*\"}", "mailbox")
        .await;
    assert_eq!(mailboxes, vec!["ops".to_string(), "probe".to_string(), "support".to_string()]);

    // The issuer alert's description ran its queries on this Prometheus.
    let states = prometheus.alert_rules().await;
    let issuer_alert = &states["ECEO365TLSIssuerChanged"].2[0];
    let description = issuer_alert["annotations"]["description"].as_str().unwrap_or_default();
    assert!(
        description.contains(&format!("(CN={INSPECTION_CA}; CN={}; now: CN={INSPECTION_CA})", pki::CA_NAME)),
        "both issuers, sorted, and the current one: {description}"
    );
    // Days left as the dashboard shows them: the inspection box's leaf, 9 to 10 days.
    let days = prometheus
        .query("(min by (check) (ece_o365_tls_earliest_cert_expiry_timestamp_seconds{check=\"tls-changing\"}) - time()) / 86400")
        .await
        .unwrap();
    let days: f64 = days[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((9.0..=10.0).contains(&days), "{days}");

    eprintln!(
        "{} dashboard expressions, {} alert expressions and 3 variables checked on Prometheus in {:?}",
        dashboard_exprs.len(),
        rules.len(),
        started.elapsed()
    );
    drop(prometheus);
    drop(agent);
}
