//! Interop with real mail servers: Dovecot 2.3 (IMAP and POP3, implicit TLS
//! and STARTTLS/STLS) and Postfix 3.7 (submission with STARTTLS), started on
//! loopback high ports. The checks must succeed and see the capabilities
//! these servers really advertise.
//!
//! Needs the servers installed (`scripts/test` does it; or
//! `scripts/install-test-peers.sh`) and root for Postfix's master.
#![allow(clippy::unwrap_used)]

mod support;

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
