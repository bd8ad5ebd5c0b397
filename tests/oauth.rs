//! The token side and the authenticated steps, end to end: the `token`
//! check and the mail checks with a `mailbox`, against the in-process v2.0
//! token endpoint, in-process SMTP servers, and real Dovecot and Postfix
//! validating the JWTs the tests mint. Also what a token answer's numbers,
//! a definitive refusal and a silent endpoint do to the runs of a mailbox's
//! checks: a verdict each, and exactly as many requests as docs/configuration.md says.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ece_o365_exporter::checks::{Providers, ScheduledCheck, build_with, run_check};
use ece_o365_exporter::config::Config;
use ece_o365_exporter::oauth::provider::{DEFINITIVE_BACKOFF_MIN, MAX_EXPIRES_IN, TokenProvider};
use ece_o365_exporter::oauth::store::{StoredToken, TokenStore};
use ece_o365_exporter::observation::{Observation, Probe};
use ece_o365_exporter::reason::{Phase, Reason};
use secrecy::{ExposeSecret, SecretString};
use test_support::dovecot::Dovecot;
use test_support::jwt::{self, OAuthKey};
use test_support::now;
use test_support::pki::{Leaf, Pki};
use test_support::postfix::Postfix;
use test_support::servers::{self, Mail};
use test_support::token_server::{self, Behaviour, ROTATED_REFRESH_PREFIX, TokenServer};

const ADDRESS: &str = "support@contoso.com";
const SEED_REFRESH: &str = "canary-refresh-seed-0b1d2f";
const CLIENT_SECRET: &str = "canary-client-secret-9e8d7c";

fn key() -> OAuthKey {
    OAuthKey {
        key_id: "oauth-test".into(),
        hs256_secret: b"oauth-test-secret-0123456789abcdef".to_vec(),
        issuer: String::new(),
    }
}

/// Writes the client secret file and seeds the token store; returns the config head.
fn setup(dir: &Path, authority: &str, grant: &str) -> String {
    std::fs::write(dir.join("client-secret.txt"), CLIENT_SECRET).unwrap();
    let store = if grant == "refresh_token" {
        TokenStore::new(dir.join("support.token"))
            .save(&StoredToken {
                refresh_token: SecretString::from(SEED_REFRESH.to_string()),
                rotated_at: 1_700_000_000,
                account: None,
                public_client: false,
            })
            .unwrap();
        "    token_store: support.token\n"
    } else {
        ""
    };
    format!(
        "global:\n  timeout: 10s\n  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    client_secret_expires: 2027-06-30
    authority: {authority}
mailboxes:
  - name: support
    address: {ADDRESS}
    tenant: contoso
    grant: {grant}
{store}    protocols: [imap, pop3, smtp]
checks:
"
    )
}

fn token_check() -> &'static str {
    "  - name: token-support\n    kind: token\n    mailbox: support\n"
}

fn stored_refresh(dir: &Path) -> String {
    TokenStore::new(dir.join("support.token"))
        .load()
        .unwrap()
        .unwrap()
        .refresh_token
        .expose_secret()
        .to_string()
}

#[track_caller]
fn assert_fails(obs: &Observation, reason: Reason) {
    let f = obs.outcome.as_ref().expect_err("should fail");
    assert_eq!(f.reason, reason, "{f}");
    for canary in [
        SEED_REFRESH,
        CLIENT_SECRET,
        ROTATED_REFRESH_PREFIX,
        token_server::ACCESS_TOKEN_PREFIX,
    ] {
        assert!(!f.detail.contains(canary), "a secret leaked into the failure: {f}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_check_refreshes_persists_the_rotated_token_first_and_caches() {
    let pki = Pki::new();
    let jwt = jwt::delegated_exchange_jwt(&key(), ADDRESS, "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send", 3600);
    let server = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: jwt,
            expires_in: 3599,
            rotate: true,
        },
    )
    .await;
    let dir = pki.dir.path();
    let yaml = setup(dir, &server.authority(), "refresh_token") + token_check();
    let checks = support::checks_from_yaml(dir, &yaml);

    let before = now() as i64;
    let obs = run_check(&checks[0]).await;
    assert!(obs.outcome.is_ok(), "{:?}", obs.outcome);
    assert_eq!(obs.phases.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![Phase::TokenRequest]);
    let facts = obs.facts.token.clone().expect("token facts");
    assert_eq!(facts.mailbox, "support");
    assert_eq!(facts.lifetime, Some(3600));
    assert!(facts.expires_at >= before + 3590 && facts.expires_at <= now() as i64 + 3600);
    assert!(
        facts.refresh_token_rotated_at.unwrap() >= before,
        "the rotation time is the new token's"
    );

    let sent = server.last_request();
    assert_eq!(sent.field("grant_type"), Some("refresh_token"));
    assert_eq!(sent.field("refresh_token"), Some(SEED_REFRESH));
    assert_eq!(sent.field("client_secret"), Some(CLIENT_SECRET));
    let scope = sent.field("scope").unwrap_or_default().to_string();
    for s in [
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/POP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "offline_access",
    ] {
        assert!(scope.split(' ').any(|x| x == s), "scope {scope} lacks {s}");
    }

    let stored = stored_refresh(dir);
    assert!(
        stored.starts_with(ROTATED_REFRESH_PREFIX),
        "the rotated refresh token was persisted: {stored}"
    );
    let mode = std::fs::metadata(dir.join("support.token")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Refresh ahead of expiry, not on every run: the second run uses the cache.
    let again = run_check(&checks[0]).await;
    assert!(again.outcome.is_ok());
    assert_eq!(server.requests().len(), 1, "no second request while the token is fresh");
}

/// A refresh token from `token init` (device code: a public-client flow) is
/// redeemed without the client secret, as Entra ID requires (AADSTS700025
/// otherwise), and keeps that mark when it rotates; one from a confidential
/// flow keeps getting the secret (asserted in the test above).
#[tokio::test(flavor = "multi_thread")]
async fn a_public_client_refresh_token_is_refreshed_without_the_secret() {
    let pki = Pki::new();
    let jwt = jwt::delegated_exchange_jwt(&key(), ADDRESS, "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send", 3600);
    let server = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: jwt,
            expires_in: 3599,
            rotate: true,
        },
    )
    .await;
    let dir = pki.dir.path();
    let yaml = setup(dir, &server.authority(), "refresh_token") + token_check();
    let store = TokenStore::new(dir.join("support.token"));
    store
        .save(&StoredToken {
            refresh_token: SecretString::from(SEED_REFRESH.to_string()),
            rotated_at: 1_700_000_000,
            account: None,
            public_client: true,
        })
        .unwrap();
    let checks = support::checks_from_yaml(dir, &yaml);
    let obs = run_check(&checks[0]).await;
    assert!(obs.outcome.is_ok(), "{:?}", obs.outcome);
    let sent = server.last_request();
    assert_eq!(sent.field("refresh_token"), Some(SEED_REFRESH));
    assert_eq!(sent.field("client_id"), Some("11111111-2222-3333-4444-555555555555"));
    assert_eq!(sent.field("client_secret"), None, "no secret for a public client's token");
    let rotated = store.load().unwrap().unwrap();
    assert!(rotated.refresh_token.expose_secret().starts_with(ROTATED_REFRESH_PREFIX));
    assert!(rotated.public_client, "the rotated token stays a public client's");
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_catch_the_wrong_user_and_a_short_lifetime() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let cases = [
        (
            jwt::delegated_exchange_jwt(
                &key(),
                "admin@contoso.com",
                "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send",
                3600,
            ),
            Reason::TokenWrongUser,
        ),
        (
            jwt::delegated_exchange_jwt(&key(), ADDRESS, "IMAP.AccessAsUser.All SMTP.Send", 3600),
            Reason::TokenMissingScope,
        ),
        (
            jwt::delegated_exchange_jwt(&key(), ADDRESS, "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send", 1800),
            Reason::TokenLifetimeTooShort,
        ),
    ];
    for (jwt, reason) in cases {
        let server = TokenServer::start(
            &pki,
            Behaviour::Issue {
                access_token: jwt,
                expires_in: 1800,
                rotate: false,
            },
        )
        .await;
        let yaml = setup(dir, &server.authority(), "refresh_token") + token_check();
        let checks = support::checks_from_yaml(dir, &yaml);
        assert_fails(&run_check(&checks[0]).await, reason);
        // The same token is kept: the next run fails the same way without asking again.
        let again = run_check(&checks[0]).await;
        assert_fails(&again, reason);
        assert_eq!(again.failed_phase, Some(Phase::TokenRequest));
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_definitive_error_keeps_the_stored_token() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(
        &pki,
        Behaviour::aadsts(
            400,
            "invalid_grant",
            70008,
            "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.",
        ),
    )
    .await;
    let yaml = setup(dir, &server.authority(), "refresh_token") + token_check();
    let checks = support::checks_from_yaml(dir, &yaml);
    let obs = run_check(&checks[0]).await;
    assert_fails(&obs, Reason::TokenRefreshTokenExpired);
    assert!(obs.outcome.unwrap_err().detail.contains("70008"));
    assert_eq!(stored_refresh(dir), SEED_REFRESH, "the store is never emptied");
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_errors_back_off_and_never_touch_the_store() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, Behaviour::Status500).await;
    let yaml = setup(dir, &server.authority(), "refresh_token") + token_check();
    let checks = support::checks_from_yaml(dir, &yaml);
    assert_fails(&run_check(&checks[0]).await, Reason::TokenEndpointUnreachable);
    // Within the backoff the endpoint is not asked again; the verdict stays.
    assert_fails(&run_check(&checks[0]).await, Reason::TokenEndpointUnreachable);
    assert_eq!(server.requests().len(), 1, "backoff after a transient error");
    assert_eq!(stored_refresh(dir), SEED_REFRESH);

    let throttled = TokenServer::start(&pki, Behaviour::TooMany { retry_after: 120 }).await;
    let yaml = setup(dir, &throttled.authority(), "refresh_token") + token_check();
    let checks = support::checks_from_yaml(dir, &yaml);
    assert_fails(&run_check(&checks[0]).await, Reason::TokenThrottled);
    assert_fails(&run_check(&checks[0]).await, Reason::TokenThrottled);
    assert_eq!(throttled.requests().len(), 1, "Retry-After honoured");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_checks_the_app_roles() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let app = |roles: &str| {
        let claims = format!(r#"{{"aud":"https://outlook.office365.com","roles":{roles}}}"#);
        jwt::mint_hs256_jwt(&key(), "app-object-id", &claims, now() + 3600)
    };
    let server = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: app(r#"["IMAP.AccessAsApp","POP.AccessAsApp","SMTP.SendAsApp"]"#),
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    let yaml = setup(dir, &server.authority(), "client_credentials") + token_check();
    let checks = support::checks_from_yaml(dir, &yaml);
    let obs = run_check(&checks[0]).await;
    assert!(obs.outcome.is_ok(), "{:?}", obs.outcome);
    let sent = server.last_request();
    assert_eq!(sent.field("grant_type"), Some("client_credentials"));
    assert_eq!(sent.field("scope"), Some("https://outlook.office365.com/.default"));

    let server = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: app(r#"["IMAP.AccessAsApp"]"#),
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    let yaml = setup(dir, &server.authority(), "client_credentials") + token_check();
    let checks = support::checks_from_yaml(dir, &yaml);
    assert_fails(&run_check(&checks[0]).await, Reason::TokenMissingScope);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_auth_disabled_and_refused_tokens_are_told_apart() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let jwt = jwt::delegated_exchange_jwt(&key(), ADDRESS, "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send", 3600);
    let tokens = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: jwt,
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    let cases: [(&'static [&'static str], Result<(), Reason>); 3] = [
        (&["235 2.7.0 Authentication successful"], Ok(())),
        (
            &[
                "334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL291dGxvb2sub2ZmaWNlMzY1LmNvbS8ifQ==",
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
            ],
            Err(Reason::SmtpAuthDisabled),
        ),
        (
            &["535 5.7.3 Authentication unsuccessful [SN4PR0601CA0002.namprd06.prod.outlook.com]"],
            Err(Reason::AuthRejected),
        ),
    ];
    for (replies, want) in cases {
        let mut m = Mail::new(pki.server_config(Leaf::Good));
        m.auth_replies = replies;
        let smtp = servers::smtp(m).await;
        let yaml = setup(dir, &tokens.authority(), "refresh_token")
            + &format!(
                "  - name: smtp-support\n    kind: smtp\n    target: {}\n    server_name: localhost\n    mailbox: support\n",
                smtp.target()
            );
        let obs = support::run_first(dir, &yaml).await;
        match want {
            Ok(()) => {
                assert!(obs.outcome.is_ok(), "{:?}", obs.outcome);
                let phases: Vec<Phase> = obs.phases.iter().map(|(p, _)| *p).collect();
                assert!(
                    phases.ends_with(&[Phase::EhloTls, Phase::TokenRequest, Phase::Auth, Phase::Quit]),
                    "{phases:?}"
                );
            }
            Err(reason) => {
                assert_fails(&obs, reason);
                assert_eq!(obs.failed_phase, Some(Phase::Auth));
                assert!(
                    obs.outcome.unwrap_err().detail.contains("535 5.7."),
                    "the server's reply is in the detail"
                );
            }
        }
    }

    // A server that does not offer XOAUTH2 (before STARTTLS, AUTH is not offered at all).
    let smtp = servers::smtp(Mail::new(pki.server_config(Leaf::Good))).await;
    let yaml = setup(dir, &tokens.authority(), "refresh_token")
        + &format!(
            "  - name: smtp-plain\n    kind: smtp\n    target: {}\n    tls: none\n    mailbox: support\n",
            smtp.target()
        );
    assert_fails(&support::run_first(dir, &yaml).await, Reason::AuthMechanismNotOffered);
}

#[tokio::test(flavor = "multi_thread")]
async fn xoauth2_against_dovecot_and_postfix() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let tls_files = pki.tls_files();
    let peers_dir = tempfile::tempdir().unwrap();
    let key = key();
    let dovecot = Dovecot::start(peers_dir.path(), &tls_files, &key).unwrap_or_else(|e| panic!("Dovecot: {e}"));
    let postfix = Postfix::start(peers_dir.path(), &tls_files, &dovecot).unwrap_or_else(|e| panic!("Postfix: {e}"));
    let scp = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send";
    let mail_checks = format!(
        "  - name: imap-support\n    kind: imap\n    target: 127.0.0.1:{}\n    server_name: localhost\n    mailbox: support
  - name: imap-starttls\n    kind: imap\n    tls: starttls\n    target: 127.0.0.1:{}\n    server_name: localhost\n    mailbox: support
  - name: pop3-support\n    kind: pop3\n    target: 127.0.0.1:{}\n    server_name: localhost\n    mailbox: support
  - name: smtp-support\n    kind: smtp\n    target: 127.0.0.1:{}\n    server_name: localhost\n    mailbox: support\n",
        dovecot.imaps_port, dovecot.imap_port, dovecot.pop3s_port, postfix.submission_port
    );

    // A token the servers accept: every check authenticates and reads the inbox.
    // The four checks run at the same time: one refresh in flight, one token shared.
    let good = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: jwt::delegated_exchange_jwt(&key, ADDRESS, scp, 3600),
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    let checks = support::checks_from_yaml(dir, &(setup(dir, &good.authority(), "refresh_token") + &mail_checks));
    for entry in ece_o365_exporter::report::run_all(&checks).await {
        let obs = &entry.observation;
        assert!(
            obs.outcome.is_ok(),
            "{}: {:?} in {:?}\n{}\n{}",
            entry.meta.name,
            obs.outcome,
            obs.failed_phase,
            dovecot.log_tail(20),
            postfix.log_tail(20)
        );
        if entry.meta.kind != ece_o365_exporter::checks::smtp::KIND {
            assert_eq!(obs.facts.mailbox_messages, Some(("INBOX", 0)), "{}", entry.meta.name);
        }
    }
    assert_eq!(
        good.requests().len(),
        1,
        "one token for the mailbox, shared by its four concurrent checks"
    );

    // A token signed with another key: each server refuses it.
    let forged = OAuthKey {
        hs256_secret: b"not-the-servers-key-0123456789ab".to_vec(),
        ..key.clone()
    };
    let bad = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: jwt::delegated_exchange_jwt(&forged, ADDRESS, scp, 3600),
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    let checks = support::checks_from_yaml(dir, &(setup(dir, &bad.authority(), "refresh_token") + &mail_checks));
    for check in &checks {
        let obs = run_check(check).await;
        assert_fails(&obs, Reason::AuthRejected);
        assert_eq!(obs.failed_phase, Some(Phase::Auth), "{}", check.meta.name);
        let detail = obs.outcome.unwrap_err().detail;
        // The log carries the evidence: the server's words and whose token
        // it was (the advice is the reason's remedy, in the report's language).
        assert!(
            detail.contains("AUTH") && detail.ends_with(&format!("token for {ADDRESS}")),
            "the log names whose token the server refused: {detail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_without_sasl_ir_uses_a_continuation_and_reads_the_inbox() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let jwt = jwt::delegated_exchange_jwt(&key(), ADDRESS, "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send", 3600);
    let tokens = TokenServer::start(
        &pki,
        Behaviour::Issue {
            access_token: jwt,
            expires_in: 3600,
            rotate: false,
        },
    )
    .await;
    for sasl_ir in [false, true] {
        let mut m = Mail::new(pki.server_config(Leaf::Good)).implicit();
        m.sasl_ir = sasl_ir;
        let imap = servers::imap(m).await;
        let yaml = setup(dir, &tokens.authority(), "refresh_token")
            + &format!(
                "  - name: imap-support\n    kind: imap\n    target: {}\n    server_name: localhost\n    mailbox: support\n",
                imap.target()
            );
        let obs = support::run_first(dir, &yaml).await;
        assert!(obs.outcome.is_ok(), "sasl_ir={sasl_ir}: {:?}", obs.outcome);
        assert_eq!(obs.facts.mailbox_messages, Some(("INBOX", 17)));
        let phases: Vec<Phase> = obs.phases.iter().map(|(p, _)| *p).collect();
        assert!(
            phases.ends_with(&[Phase::TokenRequest, Phase::Auth, Phase::Select, Phase::Quit]),
            "{phases:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_mailbox_takes_the_delegates_token() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let scp = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send";
    for (token_user, want) in [("ece-service@contoso.com", Ok(())), (ADDRESS, Err(Reason::TokenWrongUser))] {
        let jwt = jwt::delegated_exchange_jwt(&key(), token_user, scp, 3600);
        let tokens = TokenServer::start(
            &pki,
            Behaviour::Issue {
                access_token: jwt,
                expires_in: 3600,
                rotate: false,
            },
        )
        .await;
        let yaml = setup(dir, &tokens.authority(), "refresh_token").replace(
            "    tenant: contoso\n    grant:",
            "    auth_user: ece-service@contoso.com\n    tenant: contoso\n    grant:",
        ) + token_check();
        assert!(yaml.contains("auth_user: ece-service@contoso.com"), "{yaml}");
        let obs = support::run_first(dir, &yaml).await;
        match want {
            Ok(()) => assert!(obs.outcome.is_ok(), "{:?}", obs.outcome),
            Err(reason) => assert_fails(&obs, reason),
        }
    }
}

/// The scopes every mailbox of [`setup`] needs.
const ALL_SCOPES: &str = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send";

/// An unsigned JWT for the mailbox with these raw `iat` and `exp` claims.
fn jwt_with_times(iat: i64, exp: i64) -> String {
    let claims = serde_json::json!({
        "aud": "https://outlook.office.com",
        "upn": ADDRESS,
        "scp": ALL_SCOPES,
        "iat": iat,
        "exp": exp,
    });
    format!(
        "{}.{}.sig",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// `n` token checks of the one mailbox.
fn token_checks(n: usize) -> String {
    (0..n)
        .map(|i| format!("  - name: token-{i}\n    kind: token\n    mailbox: support\n"))
        .collect()
}

fn rewrite_store(dir: &Path, refresh_token: &str) {
    TokenStore::new(dir.join("support.token"))
        .save(&StoredToken {
            refresh_token: SecretString::from(refresh_token.to_string()),
            rotated_at: 1_800_000_000,
            account: None,
            public_client: false,
        })
        .unwrap();
}

/// Moves tokio's clock on by `d` at once, between runs. The runs themselves
/// go on real time: the refresh runs in a task of its own, and paused time
/// would jump past its timeouts while it waits on a real socket.
async fn skip(d: Duration) {
    tokio::time::pause();
    tokio::time::advance(d).await;
    tokio::time::resume();
}

/// One run of each check, each refused with the stored verdict or a fresh one.
async fn refused_round(checks: &[ScheduledCheck]) {
    for check in checks {
        let obs = run_check(check).await;
        assert_fails(&obs, Reason::TokenInvalidGrant);
        assert_eq!(obs.failed_phase, Some(Phase::TokenRequest));
        assert!(obs.outcome.unwrap_err().detail.contains("70000"));
    }
}

fn invalid_grant() -> Behaviour {
    Behaviour::aadsts(
        400,
        "invalid_grant",
        70000,
        "AADSTS70000: The provided value for the 'refresh_token' is not valid.",
    )
}

/// A token answer whose `expires_in` no clock or policy allows ends the run in
/// `token_bad_response`, and the check keeps running; JWT times at the
/// integer limits or in the wrong order are a verdict too, never a panic.
#[tokio::test(flavor = "multi_thread")]
async fn absurd_token_numbers_are_verdicts_not_panics() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let good = jwt::delegated_exchange_jwt(&key(), ADDRESS, ALL_SCOPES, 3600);
    for expires_in in [u64::MAX, i64::MAX as u64, MAX_EXPIRES_IN.as_secs() + 1] {
        let server = TokenServer::start(
            &pki,
            Behaviour::Issue {
                access_token: good.clone(),
                expires_in,
                rotate: false,
            },
        )
        .await;
        let yaml = setup(dir, &server.authority(), "refresh_token") + token_check();
        let checks = support::checks_from_yaml(dir, &yaml);
        let obs = run_check(&checks[0]).await;
        assert_fails(&obs, Reason::TokenBadResponse);
        assert_eq!(obs.failed_phase, Some(Phase::TokenRequest));
        let detail = obs.outcome.unwrap_err().detail;
        assert!(
            detail.contains("expires_in") && detail.contains(&expires_in.to_string()),
            "{detail}"
        );
        // The check runs again (no panic took it down) and keeps its verdict.
        assert_fails(&run_check(&checks[0]).await, Reason::TokenBadResponse);
        assert_eq!(stored_refresh(dir), SEED_REFRESH);
    }

    let cases = [
        // exp before iat: expires before it is issued.
        (
            jwt_with_times(2_000_000_000, 1_000_000_000),
            Err(Reason::TokenLifetimeTooShort),
            None,
        ),
        (jwt_with_times(i64::MAX, i64::MIN), Err(Reason::TokenLifetimeTooShort), None),
        // exp - iat does not fit an i64: no lifetime to judge or export.
        (jwt_with_times(i64::MIN, i64::MAX), Ok(()), None),
        (jwt_with_times(0, i64::MAX), Ok(()), Some(i64::MAX)),
    ];
    for (jwt, want, lifetime) in cases {
        let server = TokenServer::start(
            &pki,
            Behaviour::Issue {
                access_token: jwt,
                expires_in: 3599,
                rotate: false,
            },
        )
        .await;
        let yaml = setup(dir, &server.authority(), "refresh_token") + token_check();
        let obs = support::run_first(dir, &yaml).await;
        match want {
            Ok(()) => {
                assert!(obs.outcome.is_ok(), "{:?}", obs.outcome);
                assert_eq!(obs.facts.token.expect("token facts").lifetime, lifetime);
            }
            Err(reason) => assert_fails(&obs, reason),
        }
    }
}

/// After a definitive refusal the mailbox's checks get the verdict without
/// asking: four checks every 2 s ask once, not once a run. The endpoint is
/// asked again when the backoff (5 minutes, then doubling) runs out, and at
/// once when the token store is rewritten (a new `token init`).
#[tokio::test]
async fn a_definitive_refusal_is_asked_once_per_backoff_and_again_after_token_init() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, invalid_grant()).await;
    let yaml = setup(dir, &server.authority(), "refresh_token") + &token_checks(4);
    let checks = support::checks_from_yaml(dir, &yaml);
    let asked = || server.requests().len();
    let round = || refused_round(&checks);
    for _ in 0..6 {
        round().await;
        skip(Duration::from_secs(2)).await;
    }
    assert_eq!(asked(), 1, "24 runs of 4 checks in 12 s: one request");

    // The backoff runs out: one request, then twice as long a wait.
    skip(DEFINITIVE_BACKOFF_MIN).await;
    round().await;
    assert_eq!(asked(), 2);
    skip(DEFINITIVE_BACKOFF_MIN).await;
    round().await;
    assert_eq!(asked(), 2, "the second wait is twice the first");
    skip(DEFINITIVE_BACKOFF_MIN + Duration::from_secs(1)).await;
    round().await;
    assert_eq!(asked(), 3);

    // A new `token init` rewrites the store: asked at once, with the new token.
    rewrite_store(dir, "canary-refresh-reinit-1-5d0c");
    round().await;
    assert_eq!(asked(), 4);
    assert_eq!(server.last_request().field("refresh_token"), Some("canary-refresh-reinit-1-5d0c"));
    // Still refused: the backoff starts over from 5 minutes, not from where it was.
    round().await;
    assert_eq!(asked(), 4);
    skip(DEFINITIVE_BACKOFF_MIN + Duration::from_secs(1)).await;
    round().await;
    assert_eq!(asked(), 5);

    server.set(Behaviour::Issue {
        access_token: jwt::delegated_exchange_jwt(&key(), ADDRESS, ALL_SCOPES, 3600),
        expires_in: 3600,
        rotate: false,
    });
    rewrite_store(dir, "canary-refresh-reinit-2-77e1");
    for check in &checks {
        let obs = run_check(check).await;
        assert!(obs.outcome.is_ok(), "{:?}", obs.outcome);
    }
    assert_eq!(asked(), 6, "one token for the four checks");
}

/// A successful reload lets a definitively refused mailbox ask again at
/// once, even when the mailbox's configuration is unchanged (its provider,
/// and its cached verdict, carry over).
#[tokio::test]
async fn a_reload_lets_a_refused_mailbox_ask_again() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, invalid_grant()).await;
    let yaml = setup(dir, &server.authority(), "refresh_token") + &token_checks(2);
    let path = dir.join("test-config.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let config = Config::from_yaml(&path, &yaml).unwrap();
    let mut providers = Providers::default();

    let checks = build_with(&config, &mut providers).unwrap();
    assert_fails(&run_check(&checks[0]).await, Reason::TokenInvalidGrant);
    assert_fails(&run_check(&checks[1]).await, Reason::TokenInvalidGrant);
    assert_eq!(server.requests().len(), 1);

    // Rebuilt from the same file: the provider carries over with its verdict...
    let checks = build_with(&config, &mut providers).unwrap();
    assert_fails(&run_check(&checks[0]).await, Reason::TokenInvalidGrant);
    assert_eq!(server.requests().len(), 1);
    // ...until the reload resets the backoff, as the agent does after each successful reload.
    providers.reset_backoff();
    assert_fails(&run_check(&checks[0]).await, Reason::TokenInvalidGrant);
    assert_fails(&run_check(&checks[1]).await, Reason::TokenInvalidGrant);
    assert_eq!(server.requests().len(), 2);
}

/// The run that started a refresh may be cut off by its timeout mid-request:
/// the refresh goes on without it, records the refusal and its backoff, and
/// the next caller gets that verdict without a second request.
#[tokio::test]
async fn a_refresh_cut_off_with_its_run_still_records_the_refusal() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    // The answer cannot come before 2 s: the caller, cut off at 0.2 s, never sees it.
    let server = TokenServer::start(&pki, Behaviour::After(Duration::from_secs(2), Box::new(invalid_grant()))).await;
    let yaml = setup(dir, &server.authority(), "refresh_token") + token_check();
    let path = dir.join("test-config.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let config = Config::from_yaml(&path, &yaml).unwrap();
    let mailbox = config.mailboxes[0].clone();
    let endpoint = ece_o365_exporter::oauth::init::endpoint(&mailbox, &config.global.extra_ca).unwrap();
    let provider = TokenProvider::new(mailbox, endpoint);

    // No deadline in the probe: only the caller's own timeout stops it, as a runner's would.
    let cut = tokio::time::timeout(Duration::from_millis(200), provider.token(&mut Probe::default())).await;
    assert!(cut.is_err(), "the caller is dropped mid-request");

    let f = provider.token(&mut Probe::default()).await.unwrap_err();
    assert_eq!(f.reason, Reason::TokenInvalidGrant, "{f}");
    let f = provider.token(&mut Probe::default()).await.unwrap_err();
    assert_eq!(f.reason, Reason::TokenInvalidGrant, "{f}");
    assert_eq!(
        server.requests().len(),
        1,
        "the refusal was recorded by the refresh that outlived its caller"
    );
}

/// A listener that accepts connections, counts them, and never says a word.
async fn silent_listener() -> (std::net::SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(tcp);
        }
    });
    (addr, accepted, task)
}

/// A token endpoint that takes the connection (or the request) and never
/// answers ends the run in `token_endpoint_timeout` within the check's
/// timeout, in phase `token_request`: a token verdict, not the session's
/// `timeout`. Its backoff is recorded like any transient failure's. (Real
/// time, 2 s a run: the provider answers first, and were it late, the
/// runner's own cut-off in phase `token_request` gives the same reason.)
#[tokio::test]
async fn a_silent_token_endpoint_is_a_token_timeout_within_the_checks_timeout() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let within = |timeout: &str, authority: &str, checks: &str| {
        let yaml = setup(dir, authority, "refresh_token").replace("  timeout: 10s\n", &format!("  timeout: {timeout}\n")) + checks;
        assert!(yaml.contains(&format!("timeout: {timeout}")), "{yaml}");
        support::checks_from_yaml(dir, &yaml)
    };
    let short = |authority: &str, checks: &str| within("2s", authority, checks);

    // Accepts the TCP connection, never speaks TLS.
    let (addr, accepted, _task) = silent_listener().await;
    let checks = short(&format!("https://{addr}"), token_check());
    let obs = run_check(&checks[0]).await;
    assert_fails(&obs, Reason::TokenEndpointTimeout);
    assert_eq!(obs.failed_phase, Some(Phase::TokenRequest));
    assert_fails(&run_check(&checks[0]).await, Reason::TokenEndpointTimeout);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "backing off after the timeout");

    // Takes the request over TLS, never answers.
    let server = TokenServer::start(&pki, Behaviour::Slow(Duration::from_secs(3600))).await;
    let checks = short(&server.authority(), token_check());
    assert_fails(&run_check(&checks[0]).await, Reason::TokenEndpointTimeout);
    assert_eq!(server.requests().len(), 1);

    // A mail check whose token endpoint is silent fails on the token, not in the
    // session (a longer timeout: the session must get to the token in real time).
    let imap = servers::imap(Mail::new(pki.server_config(Leaf::Good)).implicit()).await;
    let checks = within(
        "5s",
        &server.authority(),
        &format!(
            "  - name: imap-support\n    kind: imap\n    target: {}\n    server_name: localhost\n    mailbox: support\n",
            imap.target()
        ),
    );
    let obs = run_check(&checks[0]).await;
    assert_fails(&obs, Reason::TokenEndpointTimeout);
    assert_eq!(obs.failed_phase, Some(Phase::TokenRequest));
}
