//! Interop with real mail servers: Dovecot 2.3 (IMAP and POP3, implicit TLS
//! and STARTTLS/STLS) and Postfix 3.7 (submission with STARTTLS), started on
//! loopback high ports. The checks must succeed and see the capabilities
//! these servers really advertise.
//!
//! Needs the servers installed (`scripts/test` does it; or
//! `scripts/install-test-peers.sh`) and root for Postfix's master.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/tokens.rs"]
mod tokens;

#[path = "support/mailflow.rs"]
mod mailflow_setup;

use ece_o365_exporter::report;
use test_support::dovecot::Dovecot;
use test_support::jwt::OAuthKey;
use test_support::pki::Pki;
use test_support::postfix::Postfix;

fn capability(entry: &report::Entry, name: &str) -> Option<bool> {
    let caps = entry.observation.facts.capabilities.as_ref()?;
    caps.iter().find(|(c, _)| *c == name).map(|(_, on)| *on)
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_pass_against_dovecot_and_postfix() {
    let pki = Pki::new();
    let tls_files = pki.tls_files();
    let peers_dir = tempfile::tempdir().unwrap();
    let key = OAuthKey {
        key_id: "interop".into(),
        hs256_secret: b"interop-secret-0123456789abcdef!".to_vec(),
        issuer: String::new(),
    };
    let dovecot = Dovecot::start(peers_dir.path(), &tls_files, &key)
        .unwrap_or_else(|e| panic!("Dovecot did not start (install it with scripts/install-test-peers.sh): {e}"));
    let postfix = Postfix::start(peers_dir.path(), &tls_files, &dovecot)
        .unwrap_or_else(|e| panic!("Postfix did not start (needs root; install with scripts/install-test-peers.sh): {e}"));

    let tls = "    server_name: localhost\n    ca_file: ca.pem\n";
    let yaml = format!(
        "checks:
  - name: imap-993
    kind: imap
    tls: implicit
    target: 127.0.0.1:{imaps}
{tls}  - name: imap-143
    kind: imap
    tls: starttls
    target: 127.0.0.1:{imap}
{tls}  - name: pop3-995
    kind: pop3
    tls: implicit
    target: 127.0.0.1:{pop3s}
{tls}  - name: pop3-110
    kind: pop3
    tls: starttls
    target: 127.0.0.1:{pop3}
{tls}  - name: smtp-587
    kind: smtp
    tls: starttls
    target: 127.0.0.1:{submission}
{tls}  - name: tls-993
    kind: tls
    target: 127.0.0.1:{imaps}
{tls}",
        imaps = dovecot.imaps_port,
        imap = dovecot.imap_port,
        pop3s = dovecot.pop3s_port,
        pop3 = dovecot.pop3_port,
        submission = postfix.submission_port,
    );
    let checks = support::checks_from_yaml(pki.dir.path(), &yaml);
    let entries = report::run_all(&checks).await;
    let failures: Vec<String> = entries
        .iter()
        .filter_map(|e| {
            e.observation
                .outcome
                .as_ref()
                .err()
                .map(|f| format!("{}: {f} in {:?}", e.meta.name, e.observation.failed_phase))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{}\n--- dovecot log ---\n{}\n--- postfix log ---\n{}",
        failures.join("\n"),
        dovecot.log_tail(30),
        postfix.log_tail(30)
    );

    let by_name = |n: &str| entries.iter().find(|e| e.meta.name == n).unwrap();
    let imaps = by_name("imap-993");
    for cap in ["IMAP4REV1", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER", "SASL-IR", "IDLE"] {
        assert_eq!(capability(imaps, cap), Some(true), "imap-993 {cap}");
    }
    assert_eq!(capability(imaps, "STARTTLS"), Some(false), "no STARTTLS inside implicit TLS");
    let imap = by_name("imap-143");
    assert_eq!(capability(imap, "STARTTLS"), Some(true));
    assert_eq!(capability(imap, "AUTH=XOAUTH2"), Some(true));
    // With only OAuth mechanisms configured, Dovecot keeps LOGINDISABLED even
    // inside TLS (the LOGIN command could never succeed), as Exchange does for
    // mailboxes without basic auth.
    assert_eq!(capability(imap, "LOGINDISABLED"), Some(true));

    for name in ["pop3-995", "pop3-110"] {
        let e = by_name(name);
        for cap in ["AUTH=XOAUTH2", "AUTH=OAUTHBEARER", "UIDL", "TOP", "USER"] {
            assert_eq!(capability(e, cap), Some(true), "{name} {cap}");
        }
    }
    assert_eq!(capability(by_name("pop3-110"), "STARTTLS"), Some(true), "Dovecot's STLS");

    let smtp = by_name("smtp-587");
    assert_eq!(capability(smtp, "STARTTLS"), Some(true));
    assert_eq!(
        capability(smtp, "AUTH=XOAUTH2"),
        Some(true),
        "Postfix offers XOAUTH2 through Dovecot SASL after STARTTLS"
    );
    assert_eq!(capability(smtp, "AUTH=OAUTHBEARER"), Some(true));
    assert_eq!(capability(smtp, "PIPELINING"), Some(true));

    let tls_facts = by_name("tls-993").observation.facts.tls.clone().unwrap();
    assert!(
        tls_facts.version == "TLSv1.3" || tls_facts.version == "TLSv1.2",
        "{}",
        tls_facts.version
    );
    assert!(tls_facts.leaf.unwrap().issuer.contains(test_support::pki::CA_NAME));
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_certificate_is_untrusted_without_the_test_ca() {
    // The same Postfix, checked without our CA: the certificate is untrusted.
    let pki = Pki::new();
    let tls_files = pki.tls_files();
    let peers_dir = tempfile::tempdir().unwrap();
    let key = OAuthKey {
        key_id: "interop2".into(),
        hs256_secret: b"another-secret-0123456789abcdef!".to_vec(),
        issuer: String::new(),
    };
    let dovecot = Dovecot::start(peers_dir.path(), &tls_files, &key).expect("Dovecot");
    let postfix = Postfix::start(peers_dir.path(), &tls_files, &dovecot).expect("Postfix");
    let yaml = test_support::one_check(
        "smtp",
        &format!("127.0.0.1:{}", postfix.submission_port),
        "    server_name: localhost\n",
    );
    let obs = support::run_first(pki.dir.path(), &yaml).await;
    let f = obs.outcome.expect_err("must fail without the CA");
    assert_eq!(f.reason, ece_o365_exporter::reason::Reason::TlsCertUntrusted, "{f}");
    assert_eq!(
        obs.facts.capabilities.unwrap().iter().find(|(c, _)| *c == "STARTTLS").map(|x| x.1),
        Some(true)
    );
}

/// A minimal IMAP client on Dovecot's plaintext port (loopback counts as
/// secured): one tagged command, its reply read to the tagged completion;
/// an APPEND's literal is sent after the server's `+`.
struct ImapClient {
    conn: tokio::io::BufReader<tokio::net::TcpStream>,
    tag: u32,
}

impl ImapClient {
    async fn login(port: u16, user: &str, token: &str) -> ImapClient {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut client = ImapClient {
            conn: tokio::io::BufReader::new(stream),
            tag: 0,
        };
        let greeting = client.line().await;
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let ir = test_support::jwt::xoauth2_initial_response(user, token);
        let reply = client.command(&format!("AUTHENTICATE XOAUTH2 {ir}"), None).await;
        assert!(reply.last().unwrap().contains(" OK"), "{reply:?}");
        client
    }

    async fn line(&mut self) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        assert!(self.conn.read_line(&mut line).await.unwrap() > 0, "Dovecot hung up");
        line.trim_end().to_string()
    }

    /// Sends `command` (with `literal` after the continuation) and returns every line up to the tagged one.
    async fn command(&mut self, command: &str, literal: Option<&str>) -> Vec<String> {
        use tokio::io::AsyncWriteExt;
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.conn
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            if line.starts_with('+') {
                let body = literal.expect("a continuation only for a literal");
                self.conn.get_mut().write_all(format!("{body}\r\n").as_bytes()).await.unwrap();
                continue;
            }
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// APPENDs `message` (CRLF lines) to the INBOX with this INTERNALDATE.
    async fn append(&mut self, date: &str, message: &str) {
        let reply = self
            .command(&format!("APPEND INBOX \"{date}\" {{{}}}", message.len()), Some(message))
            .await;
        assert!(reply.last().unwrap().contains(" OK"), "APPEND: {reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oldest_message_date_against_dovecot() {
    use test_support::token_server::{Behaviour, TokenServer};

    const ADDRESS: &str = "support@contoso.com";
    let pki = Pki::new();
    let dir = pki.dir.path();
    let tls_files = pki.tls_files();
    let peers_dir = tempfile::tempdir().unwrap();
    let key = OAuthKey {
        key_id: "backlog".into(),
        hs256_secret: b"backlog-secret-0123456789abcdef!".to_vec(),
        issuer: String::new(),
    };
    let dovecot = Dovecot::start(peers_dir.path(), &tls_files, &key)
        .unwrap_or_else(|e| panic!("Dovecot did not start (install it with scripts/install-test-peers.sh): {e}"));
    let scp = "IMAP.AccessAsUser.All POP.AccessAsUser.All";
    let token = test_support::jwt::delegated_exchange_jwt(&key, ADDRESS, scp, 3600);
    let tokens = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: token.clone(),
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    std::fs::write(dir.join("client-secret.txt"), "interop-client-secret").unwrap();
    tokens::seed_token_store(&dir.join("support.token"), "interop-refresh-token", 1_700_000_000);
    let yaml = format!(
        "global:\n  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    authority: {authority}
mailboxes:
  - name: support
    address: {ADDRESS}
    tenant: contoso
    grant: refresh_token
    token_store: support.token
    protocols: [imap, pop3]
checks:
  - name: imap-support
    kind: imap
    target: 127.0.0.1:{imaps}
    server_name: localhost
    mailbox: support
  - name: pop3-support
    kind: pop3
    target: 127.0.0.1:{pop3s}
    server_name: localhost
    mailbox: support
",
        authority = tokens.authority(),
        imaps = dovecot.imaps_port,
        pop3s = dovecot.pop3s_port,
    );
    let checks = support::checks_from_yaml(dir, &yaml);

    // Empty: each check says so, and no date.
    for entry in report::run_all(&checks).await {
        let obs = &entry.observation;
        assert!(
            obs.outcome.is_ok(),
            "{}: {:?}\n{}",
            entry.meta.name,
            obs.outcome,
            dovecot.log_tail(20)
        );
        assert_eq!(obs.facts.mailbox_messages, Some(("INBOX", 0)), "{}", entry.meta.name);
        assert_eq!(obs.facts.oldest_message, Some(("INBOX", None)), "{}", entry.meta.name);
    }

    // Two customer messages with known dates: the first arrived on
    // 1 Jan 2026 at 08:00 UTC (given in +01:30), its Received: header two
    // seconds earlier; the second a month later.
    let mut imap = ImapClient::login(dovecot.imap_port, ADDRESS, &token).await;
    let message = |received: &str, subject: &str| {
        format!(
            "Received: from mail.example.com by mx.contoso.com with ESMTPS;\r\n {received}\r\nFrom: customer@example.com\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\n\r\nWhere is my order?\r\n"
        )
    };
    imap.append("01-Jan-2026 09:30:00 +0130", &message("Thu, 1 Jan 2026 07:59:58 +0000", "order 1"))
        .await;
    imap.append("01-Feb-2026 12:00:00 +0000", &message("Sun, 1 Feb 2026 11:59:58 +0000", "order 2"))
        .await;

    let entries = report::run_all(&checks).await;
    let by_name = |n: &str| &entries.iter().find(|e| e.meta.name == n).unwrap().observation;
    for name in ["imap-support", "pop3-support"] {
        let obs = by_name(name);
        assert!(obs.outcome.is_ok(), "{name}: {:?}\n{}", obs.outcome, dovecot.log_tail(20));
        assert_eq!(obs.facts.mailbox_messages, Some(("INBOX", 2)), "{name}");
    }
    // IMAP: INTERNALDATE, the APPEND's date. POP3: the first Received: header.
    assert_eq!(by_name("imap-support").facts.oldest_message, Some(("INBOX", Some(1_767_254_400))));
    assert_eq!(by_name("pop3-support").facts.oldest_message, Some(("INBOX", Some(1_767_254_398))));

    // Read-only: neither check marked a message as seen (EXAMINE, FETCH INTERNALDATE, TOP).
    imap.command("EXAMINE INBOX", None).await;
    let flags = imap.command("FETCH 1:2 (FLAGS)", None).await;
    assert_eq!(flags.iter().filter(|l| l.contains("FETCH (FLAGS")).count(), 2, "{flags:?}");
    assert!(!flags.iter().any(|l| l.contains("\\Seen")), "a check changed a flag: {flags:?}");
}

/// The mail flow round trip through real servers: Postfix takes the message
/// on submission (STARTTLS, SASL XOAUTH2 through Dovecot) and delivers it
/// over LMTP into Dovecot, where the check finds it over IMAP with the probe
/// mailbox's own token and deletes it; a customer's message in the same
/// INBOX stays.
#[tokio::test(flavor = "multi_thread")]
async fn mail_flows_through_postfix_into_dovecot_and_the_test_message_is_removed() {
    use ece_o365_exporter::checks::run_check;
    use ece_o365_exporter::reason::Phase;
    use mailflow_setup::PROBE;
    let pki = Pki::new();
    let dir = pki.dir.path();
    let tls_files = pki.tls_files();
    let peers_dir = tempfile::tempdir().unwrap();
    let key = OAuthKey {
        key_id: "mailflow".into(),
        hs256_secret: b"mailflow-secret-0123456789abcdef!".to_vec(),
        issuer: String::new(),
    };
    let dovecot = Dovecot::start(peers_dir.path(), &tls_files, &key)
        .unwrap_or_else(|e| panic!("Dovecot did not start (install it with scripts/install-test-peers.sh): {e}"));
    let postfix = Postfix::start_delivering(peers_dir.path(), &tls_files, &dovecot)
        .unwrap_or_else(|e| panic!("Postfix did not start (needs root; install with scripts/install-test-peers.sh): {e}"));
    let tokens = mailflow_setup::token_servers(&pki, &key).await;
    let yaml = mailflow_setup::config(
        &tokens,
        &format!("127.0.0.1:{}", postfix.submission_port),
        &format!("127.0.0.1:{}", dovecot.imaps_port),
        "2m",
    );
    let probe_token = test_support::jwt::delegated_exchange_jwt(&key, PROBE, "IMAP.AccessAsUser.All", 3600);
    let mut imap = ImapClient::login(dovecot.imap_port, PROBE, &probe_token).await;
    imap.append(
        "01-Dec-2026 09:00:00 +0000",
        "From: customer@example.com\r\nTo: ece-probe@contoso.com\r\nSubject: a customer's question\r\n\r\nHello\r\n",
    )
    .await;

    let checks = support::checks_from_yaml(dir, &yaml);
    let obs = run_check(&checks[0]).await;
    assert!(
        obs.outcome.is_ok(),
        "{:?} in {:?}\n--- postfix log ---\n{}\n--- dovecot log ---\n{}",
        obs.outcome,
        obs.failed_phase,
        postfix.log_tail(30),
        dovecot.log_tail(30)
    );
    let phases: Vec<Phase> = obs.phases.iter().map(|(p, _)| *p).collect();
    for phase in [Phase::Starttls, Phase::Auth, Phase::Submit, Phase::Deliver, Phase::Cleanup] {
        assert!(phases.contains(&phase), "{phase} not in {phases:?}");
    }
    let delivery = obs.facts.delivery.expect("a delivery time");
    assert!(delivery < std::time::Duration::from_secs(120), "{delivery:?}");
    // ... and exported: the histogram per check and the last delivery's gauge.
    let metrics = ece_o365_exporter::metrics::Metrics::new("0.0.0", "interop");
    metrics.observe(&checks[0].meta, obs.clone());
    let text = metrics.render();
    assert!(
        text.contains("ece_o365_mailflow_delivery_seconds_count{check=\"mailflow-support\"} 1"),
        "{text}"
    );
    let last = format!(
        "ece_o365_mailflow_last_delivery_seconds{{check=\"mailflow-support\"}} {}",
        delivery.as_secs_f64()
    );
    assert!(text.lines().any(|l| l.starts_with(&last[..last.find('}').unwrap() + 1])), "{text}");
    // Postfix really delivered it (not a shortcut): its log names the LMTP delivery.
    let log = std::fs::read_to_string(postfix.log_path()).unwrap_or_default();
    assert!(log.contains("status=sent") && log.contains("lmtp"), "{}", postfix.log_tail(30));

    // Only the customer's message is left, unread.
    imap.command("SELECT INBOX", None).await;
    let all = imap.command("UID SEARCH ALL", None).await;
    let uids: Vec<&str> = all
        .iter()
        .filter_map(|l| l.strip_prefix("* SEARCH"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    assert_eq!(uids.len(), 1, "{all:?}");
    let fetched = imap.command("FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])", None).await;
    assert!(fetched.iter().any(|l| l.contains("a customer's question")), "{fetched:?}");
    assert!(
        !fetched.iter().any(|l| l.contains("\\Seen") || l.contains("\\Deleted")),
        "{fetched:?}"
    );
}
