//! The v2.0 token endpoint client against an in-process HTTPS token endpoint
//! that answers as Microsoft does: grants and the form they send, every
//! AADSTS family, throttling, server errors, hostile bodies, timeouts, TLS
//! trust, the device code flow, an HTTP CONNECT proxy, and that no secret
//! ever shows in an error, a `Debug` output or a log line.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ece_o365_exporter::oauth::endpoint::{DevicePoll, TokenEndpoint, TokenError, TokenResponse};
use ece_o365_exporter::observation::Failure;
use ece_o365_exporter::proto::tls::ClientConfigCache;
use ece_o365_exporter::reason::Reason;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};

use test_support::pki::Pki;
use test_support::proxy::{ConnectProxy, Mode};
use test_support::token_server::{
    ACCESS_TOKEN_PREFIX, Behaviour, CORRELATION_ID, DEVICE_CODE, HUGE_BYTES, ROTATED_REFRESH_PREFIX, TRACE_ID, TokenServer, USER_CODE,
};

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT_ID: &str = "9e5f94bc-e8a4-4e73-b8be-63364c29d753";
const CLIENT_SECRET: &str = "canary-secret-7f3a2b9c1d0e";
const REFRESH_TOKEN: &str = "canary-refresh-0a1b2c3d4e5f";
const IMAP: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const SMTP: &str = "https://outlook.office.com/SMTP.Send";
const APP_SCOPE: &str = "https://outlook.office365.com/.default";
/// Every secret either side ever sends: none may appear in an error, Debug or log.
const CANARIES: &[&str] = &[
    "canary-secret-",
    "canary-refresh-",
    "canary-access-",
    "canary-device-code-",
    CLIENT_SECRET,
    REFRESH_TOKEN,
    DEVICE_CODE,
];

/// Collects this thread's log output (the tests run on a current-thread runtime).
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// Held while a test captures logs. Tracing caches per call site whether
/// any subscriber is interested; thread-local subscribers coming and going in
/// parallel tests can leave a call site cached as "never", and a log line
/// then goes missing. One capturing test at a time avoids that.
static CAPTURE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Captures the log lines of the current thread until dropped.
fn capture_logs() -> (LogBuffer, (tracing::subscriber::DefaultGuard, std::sync::MutexGuard<'static, ()>)) {
    let serial = CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    (buffer, (guard, serial))
}

fn assert_no_canary(text: &str) {
    for c in CANARIES {
        assert!(!text.contains(c), "secret `{c}` leaked into: {text}");
    }
}

fn check_error(e: &TokenError) {
    assert_no_canary(&format!("{e} {e:?} {}", Failure::from(e.clone())));
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn tls_trusting(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let ca = CertificateDer::from_pem_file(&pki.ca_pem).expect("test CA PEM");
    ClientConfigCache::default().get(&Arc::new(vec![ca])).expect("client config")
}

fn endpoint_at(authority: &str, pki: &Pki, proxy: Option<&str>, timeout: Duration) -> TokenEndpoint {
    TokenEndpoint::new(authority, TENANT, tls_trusting(pki), proxy, timeout).expect("token endpoint")
}

fn endpoint(server: &TokenServer, pki: &Pki) -> TokenEndpoint {
    endpoint_at(&server.authority(), pki, None, Duration::from_secs(10))
}

async fn refresh(ep: &TokenEndpoint) -> Result<TokenResponse, TokenError> {
    ep.refresh_token_grant(CLIENT_ID, None, &secret(REFRESH_TOKEN), &[IMAP, SMTP, "offline_access"])
        .await
}

async fn refresh_err(ep: &TokenEndpoint) -> TokenError {
    let e = refresh(ep).await.expect_err("the token request should fail");
    check_error(&e);
    e
}

#[tokio::test]
async fn refresh_grant_without_rotation_sends_the_form() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: false }).await;
    let ep = endpoint(&server, &pki);
    assert_eq!(ep.token_url(), format!("{}/{TENANT}/oauth2/v2.0/token", server.authority()));
    let (logs, _guard) = capture_logs();

    let t = refresh(&ep).await.expect("token");
    assert_eq!(t.access_token.expose_secret(), format!("{ACCESS_TOKEN_PREFIX}1"));
    assert!(t.refresh_token.is_none());
    assert_eq!(t.expires_in, 3600);
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.scope.as_deref(), Some(format!("{IMAP} {SMTP} offline_access").as_str()));
    assert_no_canary(&format!("{t:?}"));

    let r = server.last_request();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(r.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(r.accept.as_deref(), Some("application/json"));
    assert_eq!(r.user_agent, Some(format!("ece-o365-exporter/{}", ece_o365_exporter::VERSION)));
    assert_eq!(r.field("grant_type"), Some("refresh_token"));
    assert_eq!(r.field("client_id"), Some(CLIENT_ID));
    assert_eq!(r.field("refresh_token"), Some(REFRESH_TOKEN));
    assert_eq!(r.field("scope"), Some(format!("{IMAP} {SMTP} offline_access").as_str()));
    assert_eq!(r.field("client_secret"), None, "a public client sends no secret");
    assert_no_canary(&logs.text());
}

#[tokio::test]
async fn refresh_grant_with_rotation_and_a_client_secret() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    let ep = endpoint(&server, &pki);
    let t = ep
        .refresh_token_grant(CLIENT_ID, Some(&secret(CLIENT_SECRET)), &secret(REFRESH_TOKEN), &[IMAP])
        .await
        .expect("token");
    let rotated = t.refresh_token.as_ref().expect("a rotated refresh token");
    assert_eq!(rotated.expose_secret(), format!("{ROTATED_REFRESH_PREFIX}1"));
    assert_no_canary(&format!("{t:?}"));
    let r = server.last_request();
    assert_eq!(r.field("client_secret"), Some(CLIENT_SECRET));
    assert_eq!(r.field("scope"), Some(IMAP));
}

#[tokio::test]
async fn client_credentials_sends_the_default_scope() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: false }).await;
    let ep = endpoint(&server, &pki);
    let t = ep
        .client_credentials_grant(CLIENT_ID, &secret(CLIENT_SECRET), APP_SCOPE)
        .await
        .expect("token");
    assert!(t.refresh_token.is_none());
    let r = server.last_request();
    assert_eq!(r.field("grant_type"), Some("client_credentials"));
    assert_eq!(r.field("client_id"), Some(CLIENT_ID));
    assert_eq!(r.field("client_secret"), Some(CLIENT_SECRET));
    assert_eq!(r.field("scope"), Some(APP_SCOPE));
    assert_eq!(r.field("refresh_token"), None);
}

#[tokio::test]
async fn aadsts_families_map_to_their_reasons() {
    use Reason::*;
    #[rustfmt::skip]
    let cases: &[(u16, &str, u32, &str, Reason, bool)] = &[
        (400, "invalid_grant", 70008, "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. The token was issued on 2025-01-01T00:00:00Z and was inactive for 90.00:00:00.", TokenRefreshTokenExpired, false),
        (400, "invalid_grant", 700082, "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2025-01-01T00:00:00Z and was inactive for 90.00:00:00.", TokenRefreshTokenExpired, false),
        (400, "invalid_grant", 50173, "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed.", TokenInvalidGrant, false),
        (400, "invalid_grant", 70000, "AADSTS70000: The request was denied because one or more scopes requested are unauthorized or expired.", TokenInvalidGrant, false),
        (400, "invalid_grant", 70043, "AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.", TokenInteractionRequired, false),
        (401, "invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.", TokenInvalidClient, false),
        (401, "invalid_client", 7000222, "AADSTS7000222: The provided client secret keys for app '9e5f94bc-e8a4-4e73-b8be-63364c29d753' are expired.", TokenClientSecretExpired, false),
        (400, "invalid_grant", 65001, "AADSTS65001: The user or administrator has not consented to use the application with ID '9e5f94bc-e8a4-4e73-b8be-63364c29d753'.", TokenConsentRequired, false),
        (400, "invalid_grant", 90094, "AADSTS90094: The grant requires admin permission.", TokenConsentRequired, false),
        (400, "invalid_grant", 50076, "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.", TokenInteractionRequired, false),
        (400, "invalid_grant", 50079, "AADSTS50079: Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.", TokenInteractionRequired, false),
        (400, "invalid_grant", 53003, "AADSTS53003: Access has been blocked by Conditional Access policies.", TokenInteractionRequired, false),
        (400, "invalid_grant", 50158, "AADSTS50158: External security challenge not satisfied.", TokenInteractionRequired, false),
        (400, "unauthorized_client", 700016, "AADSTS700016: Application with identifier '9e5f94bc-e8a4-4e73-b8be-63364c29d753' was not found in the directory 'Contoso'.", TokenUnknownClient, false),
        (400, "invalid_request", 90002, "AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found.", TokenUnknownTenant, false),
        (400, "temporarily_unavailable", 90055, "AADSTS90055: The server is temporarily unavailable. Too many requests.", TokenThrottled, true),
        (400, "invalid_request", 50196, "AADSTS50196: The server terminated an operation because it encountered a client request loop.", TokenThrottled, true),
        (400, "invalid_grant", 1234567, "AADSTS1234567: A code this client does not know.", TokenInvalidGrant, false),
        (400, "invalid_client", 7654321, "AADSTS7654321: Another code this client does not know.", TokenInvalidClient, false),
    ];
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: false }).await;
    let ep = endpoint(&server, &pki);
    let (logs, _guard) = capture_logs();
    for &(status, error, code, description, reason, transient) in cases {
        server.set(Behaviour::aadsts(status, error, code, description));
        let e = refresh_err(&ep).await;
        assert_eq!((e.reason, e.transient), (reason, transient), "AADSTS{code}: {e}");
        assert_eq!(e.aadsts, Some(code));
        assert_eq!(e.error.as_deref(), Some(error));
        assert_eq!(e.trace_id.as_deref(), Some(TRACE_ID));
        assert_eq!(e.correlation_id.as_deref(), Some(CORRELATION_ID));
        assert_eq!(e.retry_after, None);
        // Display: reason, code, the first line of the description, the ids.
        let shown = e.to_string();
        assert!(shown.starts_with(reason.as_str()), "{shown}");
        assert!(shown.contains(&format!("AADSTS{code}")), "{shown}");
        assert!(shown.contains(&format!("trace_id={TRACE_ID}")), "{shown}");
        assert!(shown.contains(&format!("correlation_id={CORRELATION_ID}")), "{shown}");
        assert!(!shown.contains("Timestamp:"), "only the first line of the description: {shown}");
        let failure = Failure::from(e.clone());
        assert_eq!(failure.reason, reason);
        assert!(
            failure.detail.contains(TRACE_ID) && failure.detail.contains(CORRELATION_ID),
            "{}",
            failure.detail
        );
    }
    let logs = logs.text();
    assert_no_canary(&logs);
    assert!(logs.contains("aadsts=70008") && logs.contains(TRACE_ID), "{logs}");

    // The same families through client credentials.
    server.set(Behaviour::aadsts(
        401,
        "invalid_client",
        7000222,
        "AADSTS7000222: The provided client secret keys are expired.",
    ));
    let e = ep
        .client_credentials_grant(CLIENT_ID, &secret(CLIENT_SECRET), APP_SCOPE)
        .await
        .expect_err("expired secret");
    check_error(&e);
    assert_eq!(e.reason, Reason::TokenClientSecretExpired);
}

#[tokio::test]
async fn error_without_codes_falls_back_to_the_error_string() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: false }).await;
    let ep = endpoint(&server, &pki);
    for (error, reason) in [
        ("invalid_grant", Reason::TokenInvalidGrant),
        ("invalid_client", Reason::TokenInvalidClient),
        ("interaction_required", Reason::TokenInteractionRequired),
        ("consent_required", Reason::TokenConsentRequired),
    ] {
        server.set(Behaviour::Error {
            status: 400,
            json: test_support::token_server::error_json(error, None, "Something went wrong."),
        });
        let e = refresh_err(&ep).await;
        assert_eq!((e.reason, e.aadsts, e.transient), (reason, None, false), "{error}: {e}");
    }
}

#[tokio::test]
async fn too_many_requests_is_throttled_with_retry_after() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::TooMany { retry_after: 37 }).await;
    let ep = endpoint(&server, &pki);
    let started = Instant::now();
    let e = refresh_err(&ep).await;
    assert_eq!(e.reason, Reason::TokenThrottled);
    assert!(e.transient);
    assert_eq!(e.retry_after, Some(Duration::from_secs(37)));
    assert_eq!(e.aadsts, Some(90055));
    assert!(e.to_string().contains("retry after 37s"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the client must not sleep on Retry-After"
    );
}

#[tokio::test]
async fn server_errors_are_unreachable_and_transient() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Status500).await;
    let ep = endpoint(&server, &pki);
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenEndpointUnreachable, true), "{e}");
    assert!(e.detail.contains("HTTP 500"), "{e}");

    server.set(Behaviour::Error {
        status: 503,
        json: test_support::token_server::error_json("temporarily_unavailable", None, "The service is temporarily unavailable."),
    });
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenEndpointUnreachable, true), "{e}");
    assert_eq!(e.trace_id.as_deref(), Some(TRACE_ID));
}

#[tokio::test]
async fn html_pages_are_bad_responses() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Html { status: 200 }).await;
    let ep = endpoint(&server, &pki);
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenBadResponse, false), "{e}");
    assert!(
        e.detail
            .starts_with("HTTP 200 with a `text/html` body titled `Web Filter: Access Denied`"),
        "{e}"
    );

    // From a proxy or load balancer in between: the page title names it.
    server.set(Behaviour::Html { status: 502 });
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenBadResponse, true), "{e}");
    assert!(
        e.detail.contains("text/html") && e.detail.contains("Web Filter: Access Denied"),
        "{e}"
    );

    server.set(Behaviour::Html { status: 403 });
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenBadResponse, false), "{e}");
}

#[tokio::test]
async fn malformed_json_is_a_bad_response() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::MalformedJson).await;
    let ep = endpoint(&server, &pki);
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenBadResponse, false), "{e}");
    assert!(e.detail.contains("not valid JSON"), "{e}");
}

#[tokio::test]
async fn huge_body_is_cut_off_at_the_cap() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Huge).await;
    let ep = endpoint(&server, &pki);
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenBadResponse, false), "{e}");
    assert!(e.detail.contains("64 KiB"), "{e}");
    // The client hung up: the server's connection ends in an error before the body is out.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats.connection_errors.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.stats.connection_errors.load(Ordering::SeqCst),
        1,
        "the client should drop the connection"
    );
    let sent = server.stats.huge_bytes_sent.load(Ordering::SeqCst);
    assert!(sent < HUGE_BYTES, "the server got to send all {sent} bytes");
}

#[tokio::test]
async fn slow_answer_hits_the_client_timeout() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Slow(Duration::from_secs(30))).await;
    let ep = endpoint_at(&server.authority(), &pki, None, Duration::from_millis(500));
    let started = Instant::now();
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenEndpointTimeout, true), "{e}");
    assert!(e.detail.contains("timed out"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

/// A deadline given by the caller (a run's remaining time) ends the request
/// before the client's own timeout would: a timeout, transient, that says so.
#[tokio::test]
async fn a_callers_deadline_ends_a_silent_request_as_a_timeout() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Slow(Duration::from_secs(3600))).await;
    let ep = endpoint_at(&server.authority(), &pki, None, Duration::from_secs(3600));
    let e = refresh_err(&ep.until(tokio::time::Instant::now() + Duration::from_millis(500))).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenEndpointTimeout, true), "{e}");
    assert!(e.detail.contains("no answer from the token endpoint within"), "{e}");
    // The deadline is the caller's: the endpoint it came from has none, and waits.
    let waited = tokio::time::timeout(Duration::from_millis(700), refresh(&ep)).await;
    assert!(waited.is_err(), "without a deadline the request waits for the answer");
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let pki = Pki::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let ep = endpoint_at(&format!("https://127.0.0.1:{port}"), &pki, None, Duration::from_secs(5));
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenEndpointUnreachable, true), "{e}");
    assert!(e.detail.starts_with("cannot connect"), "{e}");
}

#[tokio::test]
async fn untrusted_certificate_is_unreachable_with_the_tls_error() {
    let pki = Pki::new();
    let other = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: false }).await;
    let ep = endpoint_at(&server.authority(), &other, None, Duration::from_secs(5));
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenEndpointUnreachable, true), "{e}");
    assert!(e.detail.contains("TLS") && e.detail.contains("certificate"), "{e}");
    assert!(server.requests().is_empty(), "nothing may be sent to an untrusted server");
}

#[tokio::test]
async fn device_code_flow_pending_slow_down_then_token() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    let ep = endpoint(&server, &pki);
    let (logs, _guard) = capture_logs();
    let dc = ep.device_code(CLIENT_ID, &[IMAP, "offline_access"]).await.expect("device code");
    assert_eq!(dc.user_code, USER_CODE);
    assert_eq!(dc.device_code.expose_secret(), DEVICE_CODE);
    assert_eq!(dc.verification_uri, "https://microsoft.com/devicelogin");
    assert_eq!((dc.expires_in, dc.interval), (900, 5));
    assert!(dc.message.as_deref().unwrap_or_default().contains(USER_CODE));
    assert_no_canary(&format!("{dc:?}"));
    let r = server.last_request();
    assert_eq!(r.path, format!("/{TENANT}/oauth2/v2.0/devicecode"));
    assert_eq!(r.field("client_id"), Some(CLIENT_ID));
    assert_eq!(r.field("scope"), Some(format!("{IMAP} offline_access").as_str()));

    server.script([Behaviour::pending(), Behaviour::slow_down()]);
    assert!(matches!(
        ep.poll_device_code(CLIENT_ID, &dc.device_code).await,
        Ok(DevicePoll::Pending)
    ));
    assert!(matches!(
        ep.poll_device_code(CLIENT_ID, &dc.device_code).await,
        Ok(DevicePoll::SlowDown)
    ));
    let Ok(DevicePoll::Token(t)) = ep.poll_device_code(CLIENT_ID, &dc.device_code).await else {
        panic!("the third poll should return the token");
    };
    assert!(t.access_token.expose_secret().starts_with(ACCESS_TOKEN_PREFIX));
    assert!(t.refresh_token.is_some());
    let r = server.last_request();
    assert_eq!(r.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(r.field("grant_type"), Some("urn:ietf:params:oauth:grant-type:device_code"));
    assert_eq!(r.field("device_code"), Some(DEVICE_CODE));
    assert_eq!(r.field("client_id"), Some(CLIENT_ID));
    assert_eq!(server.requests().len(), 4);
    let logs = logs.text();
    assert_no_canary(&logs);
    assert!(
        !logs.contains("token request failed"),
        "pending and slow_down are not failures: {logs}"
    );
}

#[tokio::test]
async fn device_code_flow_expired_denied_declined() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: true }).await;
    let ep = endpoint(&server, &pki);
    let dc = ep.device_code(CLIENT_ID, &[IMAP, "offline_access"]).await.expect("device code");
    for (step, reason) in [
        (Behaviour::expired_token(), Reason::TokenInvalidGrant),
        (Behaviour::access_denied(), Reason::TokenInteractionRequired),
        (Behaviour::authorization_declined(), Reason::TokenInteractionRequired),
    ] {
        server.script([step]);
        let e = ep.poll_device_code(CLIENT_ID, &dc.device_code).await.expect_err("a final error");
        check_error(&e);
        assert_eq!((e.reason, e.transient), (reason, false), "{e}");
    }
    // The device authorization request itself can fail like any other.
    server.set(Behaviour::aadsts(
        400,
        "unauthorized_client",
        700016,
        "AADSTS700016: Application with identifier 'x' was not found in the directory 'Contoso'.",
    ));
    let e = ep.device_code(CLIENT_ID, &[IMAP]).await.expect_err("unknown client");
    assert_eq!(e.reason, Reason::TokenUnknownClient);
}

#[tokio::test]
async fn requests_go_through_the_configured_proxy() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: false }).await;
    let proxy = ConnectProxy::start(Mode::Tunnel).await;
    let ep = endpoint_at(&server.authority(), &pki, Some(&proxy.url()), Duration::from_secs(10));
    refresh(&ep).await.expect("token through the proxy");
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(proxy.targets(), vec![server.addr.to_string()]);
    assert_eq!(server.requests().len(), 1);

    // Without a proxy configured, none is used (not even one from the environment).
    let direct = endpoint(&server, &pki);
    refresh(&direct).await.expect("direct token");
    assert_eq!(proxy.tunnels(), 1);

    // A proxy that is down: unreachable, transient.
    let url = proxy.url();
    drop(proxy);
    let ep = endpoint_at(&server.authority(), &pki, Some(&url), Duration::from_secs(5));
    let e = refresh_err(&ep).await;
    assert_eq!((e.reason, e.transient), (Reason::TokenEndpointUnreachable, true), "{e}");
}

/// The tenant's token endpoint as the configuration resolves its proxy:
/// `tenants[].proxy` (with `proxy_user`/`proxy_password`), else `global.proxy`.
fn configured_endpoint(server: &TokenServer, pki: &Pki, dir: &std::path::Path, global: &str, tenant: &str) -> TokenEndpoint {
    let yaml = format!(
        "global:\n  timeout: 5s\n{global}tenants:\n  - name: contoso\n    tenant_id: {TENANT}\n    client_id: {CLIENT_ID}\n    \
         authority: {}\n{tenant}checks:\n  - name: tcp\n    kind: tcp\n    target: 127.0.0.1:1\n",
        server.authority()
    );
    let file = dir.join("config.yaml");
    std::fs::write(&file, yaml).unwrap();
    let config = ece_o365_exporter::config::Config::load(&file).expect("config");
    let t = &config.tenants[0];
    TokenEndpoint::through(
        &t.authority,
        &t.tenant_id,
        tls_trusting(pki),
        t.proxy.as_ref(),
        Duration::from_secs(10),
    )
    .expect("token endpoint")
}

#[tokio::test]
async fn the_token_endpoint_follows_global_proxy_unless_the_tenant_says_none() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: false }).await;
    let proxy = ConnectProxy::start(Mode::Tunnel).await;
    let global = format!("  proxy: {}\n", proxy.url());

    // No proxy on the tenant: global.proxy.
    let ep = configured_endpoint(&server, &pki, dir.path(), &global, "");
    refresh(&ep).await.expect("token through global.proxy");
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(proxy.targets(), vec![server.addr.to_string()]);

    // The tenant's own `proxy: none` overrides it: direct.
    let ep = configured_endpoint(&server, &pki, dir.path(), &global, "    proxy: none\n");
    refresh(&ep).await.expect("direct token");
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(server.requests().len(), 2);

    // The tenant's own proxy URL wins over global.proxy.
    let other = ConnectProxy::start(Mode::Tunnel).await;
    let ep = configured_endpoint(&server, &pki, dir.path(), &global, &format!("    proxy: {}\n", other.url()));
    refresh(&ep).await.expect("token through the tenant's proxy");
    assert_eq!((proxy.tunnels(), other.tunnels()), (1, 1));
}

#[tokio::test]
async fn the_token_endpoint_sends_the_proxy_credentials() {
    const USER: &str = "ece-svc";
    const PASSWORD: &str = "canary-token-proxy-pass-5d1e";
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("proxy-password"), PASSWORD).unwrap();
    let server = TokenServer::start(&pki, Behaviour::Success { rotate: false }).await;
    let proxy = ConnectProxy::start(Mode::BasicAuth {
        user: USER.into(),
        password: PASSWORD.into(),
    })
    .await;

    // Credentials beside global.proxy, and beside the tenant's own proxy.
    let creds = format!("proxy_user: {USER}\n  proxy_password: file:proxy-password\n");
    let global = format!("  proxy: {}\n  {creds}", proxy.url());
    let ep = configured_endpoint(&server, &pki, dir.path(), &global, "");
    refresh(&ep).await.expect("token through the authenticating proxy");
    assert_eq!(proxy.tunnels(), 1);
    let tenant = format!("    proxy: {}\n    {}", proxy.url(), creds.replace("\n  ", "\n    "));
    let ep = configured_endpoint(&server, &pki, dir.path(), "", &tenant);
    refresh(&ep).await.expect("token through the tenant's authenticating proxy");
    assert_eq!(proxy.tunnels(), 2);
    let debug = format!("{ep:?}");
    assert!(!debug.contains(PASSWORD), "{debug}");

    // Without credentials the proxy answers 407: the endpoint is not reached.
    let ep = configured_endpoint(&server, &pki, dir.path(), &format!("  proxy: {}\n", proxy.url()), "");
    let e = refresh_err(&ep).await;
    assert_eq!(proxy.tunnels(), 2);
    assert_eq!(server.requests().len(), 2);
    assert!(!e.to_string().contains(PASSWORD), "{e}");
    assert_ne!(e.reason, Reason::TokenInvalidGrant, "{e}");
}
