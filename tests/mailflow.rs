//! `kind: mailflow` against an in-process Exchange stand-in (SMTP
//! submission delivering into an INBOX that IMAP serves): the round trip,
//! what the check deletes and what it never touches, Exchange's refusals
//! at submission (reason, phase, remedy in every language), a message that
//! never arrives (paused time), and a cleanup that fails.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/tokens.rs"]
mod tokens;

#[path = "support/mailflow.rs"]
mod mailflow_setup;

#[path = "support/verdict.rs"]
mod verdict;

use std::sync::atomic::Ordering;

use ece_o365_exporter::checks::{ScheduledCheck, mailflow, run_check};
use ece_o365_exporter::config::Config;
use ece_o365_exporter::guide::Message;
use ece_o365_exporter::i18n::Lang;
use ece_o365_exporter::observation::Observation;
use ece_o365_exporter::reason::{Phase, Reason};
use ece_o365_exporter::report;
use mailflow_setup::{CHECK, PROBE, SUPPORT};
use test_support::jwt::OAuthKey;
use test_support::pki::{Leaf, Pki};
use test_support::servers::{self, Flow, FlowServers};
use test_support::token_server::TokenServer;
use verdict::{assert_fails, assert_ok, phases};

/// What the token endpoints of the tests sign with.
fn key() -> OAuthKey {
    OAuthKey {
        key_id: "mailflow-test".into(),
        hs256_secret: b"mailflow-test-secret-0123456789abc".to_vec(),
        issuer: String::new(),
    }
}

/// The token endpoints of both mailboxes and the configuration with one
/// mailflow check against `servers`.
async fn setup(pki: &Pki, servers: &FlowServers) -> ([TokenServer; 2], String) {
    let tokens = mailflow_setup::token_servers(pki, &key()).await;
    let yaml = mailflow_setup::config(&tokens, &servers.smtp.target(), &servers.imap.target(), "5m");
    (tokens, yaml)
}

/// The first remedy the guide gives for `entries` (the runs of `config`'s checks).
fn first_remedy(config: &Config, entries: &[report::Entry]) -> Option<Message> {
    report::assess(config, entries)
        .items
        .iter()
        .flat_map(|i| &i.findings)
        .find_map(|f| f.remedy.clone())
}

fn check(pki: &Pki, yaml: &str) -> ScheduledCheck {
    support::checks_from_yaml(pki.dir.path(), yaml).remove(0)
}

/// A message as some sender would have it, with the probe header `marker` if given.
fn message(subject: &str, marker: Option<&str>) -> String {
    let probe = marker.map(|m| format!("X-ECE-O365-Exporter-Probe: {m}\r\n")).unwrap_or_default();
    format!("From: <customer@example.com>\r\nTo: <{PROBE}>\r\nSubject: {subject}\r\n{probe}\r\nHello\r\n")
}

fn subjects(servers: &FlowServers) -> Vec<String> {
    servers.messages().iter().map(|m| m.header("Subject").unwrap_or_default()).collect()
}

#[tokio::test]
async fn the_message_goes_round_and_only_this_checks_own_are_deleted() {
    let pki = Pki::new();
    let flow = servers::flow(Flow::new(pki.server_config(Leaf::Good))).await;
    let host = mailflow::this_host();
    {
        let mut inbox = flow.inbox.lock().unwrap();
        inbox.append(&message("a customer", None));
        // An earlier run's message that arrived after that run gave up.
        inbox.append(&message("late arrival", Some(&format!("{CHECK}/{host}.1700000000.0.1a2b"))));
        inbox.append(&message("another check", Some(&format!("mailflow-sales/{host}.1700000000.0.1a2b"))));
        inbox.append(&message("a longer name", Some(&format!("x-{CHECK}/{host}.1700000000.0.1a2b"))));
        inbox.append(&message("another agent", Some(&format!("{CHECK}/other-server.1700000000.0.1a2b"))));
        inbox.append(&message("no run", Some(&format!("{CHECK}/{host}."))));
    }
    let (_tokens, yaml) = setup(&pki, &flow).await;
    let obs = run_check(&check(&pki, &yaml)).await;
    assert_ok(&obs);
    let p = phases(&obs);
    for phase in [Phase::Auth, Phase::Submit, Phase::Deliver, Phase::Cleanup] {
        assert!(p.contains(&phase), "{phase} not in {p:?}");
    }
    assert!(obs.facts.delivery.is_some(), "no delivery time");

    // Exactly one message sent, as the dispatcher sends: as support, to the probe.
    let sent = flow.received();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let stored = servers::Stored {
        uid: 0,
        text: sent[0].clone(),
        deleted: false,
    };
    assert_eq!(stored.header("From").as_deref(), Some(format!("<{SUPPORT}>").as_str()));
    assert_eq!(stored.header("To").as_deref(), Some(format!("<{PROBE}>").as_str()));
    assert_eq!(stored.header("Auto-Submitted").as_deref(), Some("auto-generated"));
    let marker = stored.header("X-ECE-O365-Exporter-Probe").unwrap();
    assert!(marker.starts_with(&format!("{CHECK}/{host}.")), "{marker}");
    assert!(stored.header("Message-ID").is_some_and(|id| id.ends_with("@contoso.com>")));

    // Gone: this run's message and the late arrival. Untouched: everything else.
    assert_eq!(
        subjects(&flow),
        vec!["a customer", "another check", "a longer name", "another agent", "no run"]
    );
    assert!(flow.messages().iter().all(|m| !m.deleted), "a message of someone else was flagged");
}

#[tokio::test]
async fn exchange_refusals_at_submission_are_named_with_their_remedy() {
    let pki = Pki::new();
    type Case = (&'static str, fn(&mut Flow), Reason, &'static str);
    let cases: &[Case] = &[
        (
            "550 5.7.60 to MAIL FROM",
            |f| f.mail_from_reply = Some("550 5.7.60 SMTP; Client does not have permissions to send as this sender"),
            Reason::SendAsDenied,
            "Send As",
        ),
        (
            "554 5.2.0 SendAsDenied after the message",
            |f| {
                f.data_end_reply = Some(
                    "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.",
                )
            },
            Reason::SendAsDenied,
            "Send As",
        ),
        (
            "550 5.1.8 bad outbound sender",
            |f| f.mail_from_reply = Some("550 5.1.8 Access denied, bad outbound sender"),
            Reason::SenderBlocked,
            "Restricted entities",
        ),
        (
            "550 5.1.90 daily recipient limit",
            |f| f.rcpt_reply = Some("550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients"),
            Reason::SendingLimitReached,
            "limit",
        ),
        (
            "554 5.2.2 SubmissionQuotaExceeded",
            |f| f.data_end_reply = Some("554 5.2.2 mailbox full; STOREDRV.Submission.Exception:SubmissionQuotaExceededException"),
            Reason::SendingLimitReached,
            "limit",
        ),
        (
            "550 5.1.10 recipient not found",
            |f| f.rcpt_reply = Some("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"),
            Reason::RecipientRejected,
            "recipient",
        ),
        (
            "530 5.7.57 not authenticated at MAIL FROM",
            |f| {
                f.mail_from_reply = Some("530 5.7.57 Client not authenticated to send mail. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]")
            },
            Reason::AuthRejected,
            "support@contoso.com",
        ),
        (
            "451 4.7.500 server busy",
            |f| f.mail_from_reply = Some("451 4.7.500 Server busy. Please try again later from [10.0.0.1]"),
            Reason::SubmissionDeferred,
            "temporary",
        ),
    ];
    for (what, configure, reason, marker) in cases {
        let mut f = Flow::new(pki.server_config(Leaf::Good));
        configure(&mut f);
        let flow = servers::flow(f).await;
        let (_tokens, yaml) = setup(&pki, &flow).await;
        let config = Config::from_yaml(&pki.dir.path().join("test-config.yaml"), &yaml).unwrap();
        let entries = report::run_all(&support::checks_from_yaml(pki.dir.path(), &yaml)).await;
        let obs: &Observation = &entries[0].observation;
        let detail = assert_fails(obs, *reason, Phase::Submit);
        assert!(!detail.is_empty(), "{what}");
        // Nothing delivered, and no IMAP session opened for a message that was refused.
        assert!(flow.messages().is_empty(), "{what}");
        assert_eq!(flow.imap.connection_count(), 0, "{what}");
        assert!(obs.facts.delivery.is_none(), "{what}");

        let remedy = first_remedy(&config, &entries).unwrap_or_else(|| panic!("{what}: no remedy"));
        let english = Lang::En.text(remedy.key, &remedy.args);
        assert!(english.contains(marker), "{what}: `{marker}` not in {english}");
        for lang in Lang::ALL {
            let text = lang.text(remedy.key, &remedy.args);
            assert!(text.len() > 40 && !text.starts_with("remedy-"), "{what}: {}: {text}", lang.code());
            assert!(!text.contains("{ $"), "{what}: {}: unfilled variable in {text}", lang.code());
            if lang != Lang::En {
                assert_ne!(text, english, "{what}: {} is not translated", lang.code());
            }
        }
    }
}

/// The message is accepted but never arrives: the check searches with a
/// growing wait until most of its timeout is gone, then says so itself
/// (not `timeout`). Real time, with the run's timeout cut to 8 s: paused
/// time would jump past the socket waits of the SMTP session (tokio
/// advances a paused clock whenever the runtime parks, even on I/O).
#[tokio::test]
async fn a_message_that_never_arrives_is_message_not_delivered() {
    let pki = Pki::new();
    let flow = servers::flow(Flow::new(pki.server_config(Leaf::Good))).await;
    let (_tokens, yaml) = setup(&pki, &flow).await;
    let check = check(&pki, &yaml);
    assert_ok(&run_check(&check).await);

    flow.deliver.store(false, Ordering::SeqCst);
    let mut meta = (*check.meta).clone();
    meta.timeout = std::time::Duration::from_secs(8);
    let short = ScheduledCheck {
        meta: std::sync::Arc::new(meta),
        check: check.check.clone(),
    };
    let obs = run_check(&short).await;
    let detail = assert_fails(&obs, Reason::MessageNotDelivered, Phase::Deliver);
    assert!(detail.contains(PROBE), "{detail}");
    assert!(obs.facts.delivery.is_none());
    assert_eq!(flow.received().len(), 2, "one message per run");

    // Its message arrives late: the next run deletes it with its own.
    let late = flow.received()[1].clone();
    flow.inbox.lock().unwrap().append(&late);
    flow.deliver.store(true, Ordering::SeqCst);
    assert_ok(&run_check(&check).await);
    assert!(flow.messages().is_empty(), "{:?}", subjects(&flow));
}

#[tokio::test]
async fn a_cleanup_that_fails_is_cleanup_failed_and_the_next_run_retries() {
    let pki = Pki::new();
    let mut f = Flow::new(pki.server_config(Leaf::Good));
    f.store_reply = Some("NO [ACCESSDENIED] STORE failed.");
    let flow = servers::flow(f).await;
    let (_tokens, yaml) = setup(&pki, &flow).await;
    let obs = support::run_first(pki.dir.path(), &yaml).await;
    let detail = assert_fails(&obs, Reason::CleanupFailed, Phase::Cleanup);
    assert!(detail.contains("STORE"), "{detail}");
    assert!(obs.facts.delivery.is_some(), "the message did arrive");
    assert_eq!(flow.messages().len(), 1);

    // Without UIDPLUS a plain EXPUNGE could remove other messages: the
    // check flags its own and says it could not finish.
    let mut f = Flow::new(pki.server_config(Leaf::Good));
    f.uidplus = false;
    let flow = servers::flow(f).await;
    let (_tokens, yaml) = setup(&pki, &flow).await;
    flow.inbox.lock().unwrap().append(&message("a customer", None));
    let obs = run_check(&check(&pki, &yaml)).await;
    let detail = assert_fails(&obs, Reason::CleanupFailed, Phase::Cleanup);
    assert!(detail.contains("UIDPLUS"), "{detail}");
    let messages = flow.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages.iter().filter(|m| m.deleted).count(), 1, "only its own is flagged");
    assert!(!messages[0].deleted, "the customer's message is untouched");
}

/// A failure of the probe mailbox (here its token names ECE's mailbox's
/// user, not the probe's) is reported as the probe mailbox's: the remedy
/// names the probe mailbox and its user, not the mailbox the message was
/// sent as, whose part of the run went well.
#[tokio::test]
async fn a_probe_mailbox_failure_names_the_probe_mailbox() {
    let pki = Pki::new();
    let flow = servers::flow(Flow::new(pki.server_config(Leaf::Good))).await;
    let (tokens, yaml) = setup(&pki, &flow).await;
    tokens[1].set(test_support::token_server::Behaviour::Issue {
        access_token: test_support::jwt::delegated_exchange_jwt(&key(), SUPPORT, "IMAP.AccessAsUser.All", 3600),
        expires_in: 3600,
        rotate: false,
    });
    let config = Config::from_yaml(&pki.dir.path().join("test-config.yaml"), &yaml).unwrap();
    let entries = report::run_all(&support::checks_from_yaml(pki.dir.path(), &yaml)).await;
    let obs: &Observation = &entries[0].observation;
    assert_eq!(obs.reason(), Some(Reason::TokenWrongUser), "{:?}", obs.outcome);
    assert_eq!(flow.received().len(), 1, "the message was sent before the probe mailbox failed");

    let remedy = first_remedy(&config, &entries).expect("a remedy");
    let english = Lang::En.text(remedy.key, &remedy.args);
    assert!(english.contains(PROBE), "the probe mailbox is not named: {english}");
    assert!(
        !english.contains(SUPPORT),
        "ECE's mailbox is named for the probe mailbox's failure: {english}"
    );
}
