//! `token init`: the device code bootstrap of a mailbox's refresh token,
//! against the in-process v2.0 token endpoint. The library is driven on
//! paused tokio time, so polling intervals cost nothing; one run of the real
//! binary covers the command line. Checks that the right user's token is
//! stored (0600), the wrong user's never is, every failure says what to do,
//! and no device code or token reaches the output.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use ece_o365_exporter::config::Config;
use ece_o365_exporter::oauth::init::{self, InitError, InitOutcome, Stage};
use ece_o365_exporter::oauth::store::{StoredToken, TokenStore};
use secrecy::{ExposeSecret, SecretString};
use test_support::jwt::{self, OAuthKey};
use test_support::now;
use test_support::pki::Pki;
use test_support::token_server::{
    ACCESS_TOKEN_PREFIX, Behaviour, CORRELATION_ID, DEVICE_CODE, ROTATED_REFRESH_PREFIX, TRACE_ID, TokenServer, USER_CODE,
};

const ADDRESS: &str = "support@contoso.com";
const ADMIN: &str = "admin@contoso.com";
const CLIENT_SECRET: &str = "canary-client-secret-5a4b3c";
const PRIVATE_WINDOW: &str = "Open it in a private (incognito) browser window and sign in as support@contoso.com, not as yourself.";

/// A delegated Exchange token for `user`, valid an hour.
fn jwt_for(user: &str) -> String {
    let key = OAuthKey {
        key_id: "token-init-test".into(),
        hs256_secret: b"token-init-test-secret-0123456789".to_vec(),
        issuer: String::new(),
    };
    let claims = format!(
        r#"{{"aud":"https://outlook.office.com","upn":"{user}","scp":"IMAP.AccessAsUser.All SMTP.Send","tid":"contoso","iat":{}}}"#,
        now()
    );
    jwt::mint_hs256_jwt(&key, user, &claims, now() + 3600)
}

fn issue(access_token: String, rotate: bool) -> Behaviour {
    Behaviour::Issue {
        access_token,
        expires_in: 3599,
        rotate,
    }
}

/// The config text: mailbox `support` (refresh_token, IMAP and SMTP) and
/// mailbox `app` (client_credentials), both at `authority`.
fn yaml(dir: &Path, authority: &str) -> String {
    std::fs::write(dir.join("client-secret.txt"), CLIENT_SECRET).unwrap();
    format!(
        "global:
  timeout: 10s
  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    authority: {authority}
  - name: contoso-app
    tenant_id: contoso.onmicrosoft.com
    client_id: 66666666-7777-8888-9999-000000000000
    client_secret: file:client-secret.txt
    authority: {authority}
mailboxes:
  - name: support
    address: {ADDRESS}
    tenant: contoso
    grant: refresh_token
    token_store: support.token
    protocols: [imap, smtp]
  - name: app
    address: app@contoso.com
    tenant: contoso-app
    grant: client_credentials
    protocols: [imap]
checks:
  - name: token-support
    kind: token
    mailbox: support
"
    )
}

fn config(dir: &Path, authority: &str) -> Config {
    let path = dir.join("config.yaml");
    let text = yaml(dir, authority);
    std::fs::write(&path, &text).unwrap();
    Config::from_yaml(&path, &text).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

/// Runs `token init` for `mailbox` through the library; returns the result and the output.
async fn run(cfg: &Config, mailbox: &str) -> (Result<InitOutcome, InitError>, String) {
    let mailbox = init::find_mailbox(cfg, mailbox).expect("mailbox");
    let endpoint = init::endpoint(&mailbox, &cfg.global.extra_ca).expect("endpoint");
    let mut out = Vec::new();
    let result = init::device_code_init(&mailbox, &endpoint, &cfg.file, &mut out).await;
    (result, String::from_utf8(out).expect("utf-8 output"))
}

#[track_caller]
fn assert_no_secret(text: &str, jwts: &[&str]) {
    for secret in [DEVICE_CODE, ACCESS_TOKEN_PREFIX, ROTATED_REFRESH_PREFIX, CLIENT_SECRET, "canary-"] {
        assert!(!text.contains(secret), "`{secret}` leaked:\n{text}");
    }
    for jwt in jwts {
        assert!(!text.contains(jwt), "the access token leaked:\n{text}");
    }
}

fn store_path(dir: &Path) -> std::path::PathBuf {
    dir.join("support.token")
}

fn stored(dir: &Path) -> Option<StoredToken> {
    TokenStore::new(store_path(dir)).load().expect("readable store")
}

#[tokio::test(start_paused = true)]
async fn pending_slow_down_then_the_right_users_token_is_stored() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    // The claim's case differs from the configured address: still the same user.
    let jwt = jwt_for("Support@Contoso.com");
    server.script([Behaviour::pending(), Behaviour::slow_down(), issue(jwt.clone(), true)]);
    let cfg = config(dir, &server.authority());

    let started = tokio::time::Instant::now();
    let (result, out) = run(&cfg, "support").await;
    let waited = started.elapsed();
    let outcome = result.unwrap_or_else(|e| panic!("init failed: {e}\n{out}"));
    assert_eq!(
        outcome,
        InitOutcome {
            store: store_path(dir),
            account: Some("Support@Contoso.com".into()),
            user_verified: true,
        }
    );

    // Polled at the server's interval, 5 s longer after slow_down: 5 + 5 + 10.
    assert!(waited >= Duration::from_secs(20) && waited < Duration::from_secs(25), "{waited:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "one device code request and three polls");
    assert!(requests[0].path.ends_with("/oauth2/v2.0/devicecode"));
    assert_eq!(requests[0].field("client_id"), Some("11111111-2222-3333-4444-555555555555"));
    assert_eq!(
        requests[0].field("scope"),
        Some("https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access")
    );
    for poll in &requests[1..] {
        assert!(poll.path.ends_with("/oauth2/v2.0/token"));
        assert_eq!(poll.field("grant_type"), Some("urn:ietf:params:oauth:grant-type:device_code"));
        assert_eq!(poll.field("device_code"), Some(DEVICE_CODE));
        assert_eq!(poll.field("client_secret"), None, "a public client flow sends no secret");
    }

    let token = stored(dir).expect("a stored token");
    assert_eq!(token.refresh_token.expose_secret(), format!("{ROTATED_REFRESH_PREFIX}4"));
    assert_eq!(token.account.as_deref(), Some("Support@Contoso.com"));
    assert!(
        token.public_client,
        "a device code token is marked public, to be refreshed without the secret"
    );
    assert!(
        (token.rotated_at - now() as i64).abs() < 600,
        "rotated_at is now: {}",
        token.rotated_at
    );
    let mode = std::fs::metadata(store_path(dir)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");

    assert!(out.contains(USER_CODE), "{out}");
    assert!(out.contains("https://microsoft.com/devicelogin"), "{out}");
    assert!(out.contains(PRIVATE_WINDOW), "{out}");
    assert!(out.contains(&store_path(dir).display().to_string()), "{out}");
    assert!(out.contains("ece-o365-exporter check --config.file"), "{out}");
    assert!(!out.contains("warning"), "{out}");
    assert_no_secret(&out, &[&jwt]);
}

#[tokio::test(start_paused = true)]
async fn a_token_for_another_user_is_refused_and_never_stored() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    let cfg = config(dir, &server.authority());
    let jwt = jwt_for(ADMIN);

    // No store yet: none is created.
    server.script([Behaviour::pending(), issue(jwt.clone(), true)]);
    let (result, out) = run(&cfg, "support").await;
    let err = result.expect_err("the admin's token must be refused");
    assert!(
        matches!(&err, InitError::WrongUser { got, want } if got == ADMIN && want == ADDRESS),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "the token was issued to {ADMIN}, not {ADDRESS}: sign in from a private browser window as {ADDRESS}"
        )),
        "{text}"
    );
    assert!(!store_path(dir).exists(), "nothing may be stored");
    assert_no_secret(&format!("{out}{text}{err:?}"), &[&jwt]);

    // An existing store is left exactly as it was.
    TokenStore::new(store_path(dir))
        .save(&StoredToken {
            refresh_token: SecretString::from("previous-refresh-token-value".to_string()),
            rotated_at: 1_700_000_000,
            account: Some(ADDRESS.into()),
            public_client: false,
        })
        .unwrap();
    let before = std::fs::read(store_path(dir)).unwrap();
    server.script([issue(jwt.clone(), true)]);
    let (result, _) = run(&cfg, "support").await;
    assert!(matches!(result, Err(InitError::WrongUser { .. })), "{result:?}");
    assert_eq!(std::fs::read(store_path(dir)).unwrap(), before, "the store must be unchanged");
}

#[tokio::test(start_paused = true)]
async fn expired_and_declined_sign_ins_fail_clearly_and_store_nothing() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    let cfg = config(dir, &server.authority());

    let cases = [
        (Behaviour::expired_token(), "expired", Some("AADSTS70019")),
        (Behaviour::access_denied(), "declined", None),
        (Behaviour::authorization_declined(), "declined", None),
    ];
    for (step, want, code) in cases {
        server.script([Behaviour::pending(), step]);
        let (result, out) = run(&cfg, "support").await;
        let err = result.expect_err("a final error");
        assert!(matches!(&err, InitError::Token { stage: Stage::Poll, .. }), "{err:?}");
        assert_eq!(err.exit_code(), 1);
        let text = err.to_string();
        assert!(text.contains(want), "{text}");
        if let Some(code) = code {
            assert!(text.contains(code), "{text}");
        }
        assert!(text.contains(TRACE_ID) && text.contains(CORRELATION_ID), "{text}");
        assert!(text.contains("run this command again"), "{text}");
        assert_no_secret(&format!("{out}{text}{err:?}"), &[]);
        assert!(!store_path(dir).exists());
    }

    // The server keeps saying "pending": give up when the code expires.
    server.set_device_timing(5, 30);
    server.script(std::iter::repeat_n(Behaviour::pending(), 50));
    let before = server.requests().len();
    let started = tokio::time::Instant::now();
    let (result, out) = run(&cfg, "support").await;
    let err = result.expect_err("the code expires");
    assert!(matches!(err, InitError::Expired(d) if d == Duration::from_secs(30)), "{err:?}");
    assert!(started.elapsed() <= Duration::from_secs(30), "{:?}", started.elapsed());
    assert_eq!(server.requests().len() - before, 1 + 6, "polls at 5, 10, ... 30 s");
    assert!(out.contains("expires in 30s"), "{out}");
    assert!(err.to_string().contains("run this command again"), "{err}");
    assert!(!store_path(dir).exists());
}

#[tokio::test(start_paused = true)]
async fn an_app_without_public_client_flows_is_told_what_to_change() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    let cfg = config(dir, &server.authority());
    let public_client = || {
        Behaviour::aadsts(
            401,
            "invalid_client",
            7000218,
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    };

    // Refused at the device code request...
    server.set(public_client());
    let (result, out) = run(&cfg, "support").await;
    let err = result.expect_err("invalid_client");
    assert!(
        matches!(
            &err,
            InitError::Token {
                stage: Stage::DeviceCode,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    for want in [
        "allow public client flows",
        "Authentication > Advanced settings > Allow public client flows = Yes",
        "AADSTS7000218",
        TRACE_ID,
        CORRELATION_ID,
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}");
    }
    assert!(out.is_empty(), "no sign-in instruction without a code: {out}");

    // ... or, as Entra ID does, when the token is redeemed after the sign-in.
    server.set(Behaviour::Success { rotate: true });
    server.script([public_client()]);
    let (result, _) = run(&cfg, "support").await;
    let err = result.expect_err("invalid_client");
    assert!(matches!(&err, InitError::Token { stage: Stage::Poll, .. }), "{err:?}");
    assert!(err.to_string().contains("Allow public client flows = Yes"), "{err}");

    // Other setup mistakes name their fix.
    let others = [
        (
            Behaviour::aadsts(
                400,
                "invalid_grant",
                65001,
                "AADSTS65001: The user or administrator has not consented to use the application.",
            ),
            "Grant admin consent",
        ),
        (
            Behaviour::aadsts(
                400,
                "unauthorized_client",
                700016,
                "AADSTS700016: Application with identifier 'x' was not found in the directory 'Contoso'.",
            ),
            "check `client_id`",
        ),
        (
            Behaviour::aadsts(400, "invalid_request", 90002, "AADSTS90002: Tenant 'x' not found."),
            "check `tenant_id`",
        ),
    ];
    for (behaviour, want) in others {
        server.set(behaviour);
        let (result, _) = run(&cfg, "support").await;
        let text = result.expect_err("a setup error").to_string();
        assert!(text.contains(want) && text.contains(TRACE_ID), "{text}");
    }
    assert!(!store_path(dir).exists());
}

#[tokio::test(start_paused = true)]
async fn no_refresh_token_opaque_tokens_and_app_only_mailboxes() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    let cfg = config(dir, &server.authority());

    // offline_access not granted: no refresh token, nothing stored.
    let jwt = jwt_for(ADDRESS);
    server.script([issue(jwt.clone(), false)]);
    let (result, out) = run(&cfg, "support").await;
    let err = result.expect_err("no refresh token");
    assert!(matches!(err, InitError::NoRefreshToken), "{err:?}");
    assert!(err.to_string().contains("offline_access"), "{err}");
    assert_no_secret(&out, &[&jwt]);
    assert!(!store_path(dir).exists());

    // An opaque access token: stored, with a warning that the user is unverified.
    server.script([Behaviour::Success { rotate: true }]);
    let (result, out) = run(&cfg, "support").await;
    let outcome = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(!outcome.user_verified && outcome.account.is_none(), "{outcome:?}");
    assert!(out.contains("warning") && out.contains("could not be verified"), "{out}");
    assert_no_secret(&out, &[]);
    assert!(
        stored(dir)
            .expect("stored")
            .refresh_token
            .expose_secret()
            .starts_with(ROTATED_REFRESH_PREFIX)
    );

    // client_credentials: nothing to bootstrap, and nothing is asked of the endpoint.
    let before = server.requests().len();
    let (result, out) = run(&cfg, "app").await;
    let err = result.expect_err("client_credentials");
    assert!(matches!(err, InitError::NotDelegated(_)), "{err:?}");
    assert!(err.to_string().contains("nothing to bootstrap"), "{err}");
    assert_eq!(err.exit_code(), 2);
    assert!(out.is_empty());
    assert_eq!(server.requests().len(), before);

    // Unknown mailbox: the configured ones are listed.
    let err = init::find_mailbox(&cfg, "sales").expect_err("unknown");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("(mailboxes: support, app)"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_bootstraps_a_token_and_rejects_an_unknown_mailbox() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    // A one-second interval keeps the real wait short.
    server.set_device_timing(1, 900);
    let jwt = jwt_for(ADDRESS);
    server.script([issue(jwt.clone(), true)]);
    let config_file = dir.join("config.yaml");
    std::fs::write(&config_file, yaml(dir, &server.authority())).unwrap();

    let run_binary = |mailbox: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_ece-o365-exporter"))
            .args(["token", "init", "--mailbox", mailbox, "--config.file"])
            .arg(&config_file)
            .kill_on_drop(true)
            .output()
    };
    let output = tokio::time::timeout(Duration::from_secs(60), run_binary("support"))
        .await
        .expect("token init finishes")
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains(USER_CODE) && stdout.contains(PRIVATE_WINDOW), "{stdout}");
    assert!(stdout.contains("Signed in as support@contoso.com."), "{stdout}");
    assert_no_secret(&format!("{stdout}{stderr}"), &[&jwt]);
    let token = stored(dir).expect("stored");
    assert_eq!(token.refresh_token.expose_secret(), format!("{ROTATED_REFRESH_PREFIX}2"));
    let mode = std::fs::metadata(store_path(dir)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");

    let output = run_binary("sales").await.expect("run the binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no mailbox named `sales`") && stderr.contains("(mailboxes: support, app)"),
        "{stderr}"
    );
}
