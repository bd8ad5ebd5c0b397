//! `token init`: the one-time bootstrap of a `grant: refresh_token`
//! mailbox's refresh token with the device code flow (RFC 8628).
//!
//! It owns the conversation with the admin: it prints Microsoft's sign-in
//! instruction with the advice the troubleshooting guide gives (a private
//! browser window, signed in as the mailbox's user, never as yourself: single
//! sign-on would otherwise issue the token to the admin), polls at the
//! server's interval (`slow_down` adds 5 seconds, it gives up when the code
//! expires), checks whose token came back and only then writes the token
//! store, atomically and with mode 0600, through [`TokenStore::save`].
//!
//! It must not print, log or put into an error the device code, the access
//! token or the refresh token; server text it shows is sanitised. It never
//! stores a token issued to another user, and never touches the store when
//! the flow fails. It sleeps with `tokio::time`, so tests run it on paused
//! time; the HTTP exchange itself is [`TokenEndpoint`]'s.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::endpoint::{DeviceCode, DevicePoll, TokenEndpoint, TokenError, TokenResponse};
use super::jwt::{self, Expectation};
use super::provider::delegated_scopes;
use super::store::{StoreError, StoredToken, TokenStore};
use crate::config::{Config, Grant, Mailbox};
use crate::observation::sanitize;
use crate::proto::tls::ClientConfigCache;
use crate::reason::Reason;

/// How long one request to the token endpoint may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// What RFC 8628 adds to the polling interval on `slow_down`.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Bounds on the polling interval, whatever the server says.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The longest we wait for a sign-in, whatever the server says (Microsoft: 15 minutes).
const MAX_EXPIRES_IN: Duration = Duration::from_secs(60 * 60);
/// Consecutive transient poll failures (network, 5xx, throttling) tolerated
/// before giving up: the admin may already have signed in.
const MAX_TRANSIENT_POLL_FAILURES: u32 = 3;
/// Where the app registration's public client switch is.
const PUBLIC_CLIENT_ADVICE: &str = "the app registration must allow public client flows: in the Entra admin center, \
     App registrations > (the app) > Authentication > Advanced settings > Allow public client flows = Yes, \
     then run this command again";

/// What a successful bootstrap did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitOutcome {
    /// The token store written.
    pub store: PathBuf,
    /// The user the token was issued to, when the access token says.
    pub account: Option<String>,
    /// Whether the user was checked against the mailbox (false for an
    /// opaque access token, whose claims cannot be read).
    pub user_verified: bool,
}

/// Which step of the flow a token endpoint error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The device authorization request (`/devicecode`).
    DeviceCode,
    /// Polling the token endpoint while the admin signs in.
    Poll,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::DeviceCode => "requesting a device code",
            Stage::Poll => "waiting for the sign-in",
        })
    }
}

/// Why `token init` did not store a token. Messages say what to do next and
/// never contain a token or the device code.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{}", unknown_mailbox(.name, .file, .known))]
    UnknownMailbox { name: String, file: PathBuf, known: Vec<String> },
    #[error(
        "mailbox `{0}` uses grant: client_credentials, which keeps no refresh token: there is nothing to bootstrap \
         (`token init` is for grant: refresh_token mailboxes)"
    )]
    NotDelegated(String),
    #[error("mailbox `{0}` has no token_store: add `token_store: PATH` to it")]
    NoTokenStore(String),
    #[error(
        "the directory of the token store {} does not exist: create it (writable by the user the exporter runs as), then run this command again",
        .0.display()
    )]
    StoreDirMissing(PathBuf),
    /// The token endpoint client or its TLS settings could not be built.
    #[error("cannot set up the token endpoint client: {0}")]
    Setup(String),
    #[error("{stage} failed: {}: {}\n  {advice}{}", .error.reason, .error.detail, support_line(.error))]
    Token {
        stage: Stage,
        error: Box<TokenError>,
        advice: String,
    },
    #[error("the code expired after {} without a completed sign-in: run this command again and sign in within that time", humantime::format_duration(*.0))]
    Expired(Duration),
    #[error(
        "the token endpoint returned no refresh token: offline_access was not granted. Check that the app registration's \
         API permissions include offline_access and that consent was granted, then run this command again. Nothing was stored."
    )]
    NoRefreshToken,
    #[error(
        "refused to store the token: the token was issued to {got}, not {want}: sign in from a private browser window as {want} \
         (a normal window signs you in as yourself through single sign-on), then run this command again. Nothing was stored."
    )]
    WrongUser { got: String, want: String },
    #[error("{0}; fix that and run this command again")]
    Store(#[from] StoreError),
    #[error("cannot write to the terminal: {0}")]
    Output(#[from] std::io::Error),
}

impl InitError {
    /// The process exit code: 2 when the command or the configuration is
    /// wrong (as for a bad config), 1 when the flow itself failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            InitError::UnknownMailbox { .. } | InitError::NotDelegated(_) | InitError::NoTokenStore(_) | InitError::Setup(_) => 2,
            _ => 1,
        }
    }

    fn token(stage: Stage, error: TokenError, mailbox: &Mailbox) -> InitError {
        let mut advice = advice(stage, &error, mailbox);
        if let Some(first) = advice.get(..1) {
            advice = first.to_ascii_uppercase() + &advice[1..];
        }
        InitError::Token {
            stage,
            error: Box::new(error),
            advice,
        }
    }
}

fn unknown_mailbox(name: &str, file: &Path, known: &[String]) -> String {
    if known.is_empty() {
        format!(
            "no mailbox named `{name}` in {}: it configures no mailboxes (add one under `mailboxes:`)",
            file.display()
        )
    } else {
        format!("no mailbox named `{name}` in {} (mailboxes: {})", file.display(), known.join(", "))
    }
}

/// `For Microsoft support: AADSTS..., trace_id=..., correlation_id=...`, or
/// nothing when the answer carried none of them (a network failure).
fn support_line(e: &TokenError) -> String {
    let mut ids = Vec::new();
    if let Some(code) = e.aadsts {
        ids.push(format!("AADSTS{code}"));
    }
    if let Some(t) = &e.trace_id {
        ids.push(format!("trace_id={t}"));
    }
    if let Some(c) = &e.correlation_id {
        ids.push(format!("correlation_id={c}"));
    }
    if ids.is_empty() {
        String::new()
    } else {
        format!("\n  For Microsoft support and the Entra ID sign-in logs: {}", ids.join(", "))
    }
}

/// What the admin should change, for a token endpoint error.
fn advice(stage: Stage, e: &TokenError, mailbox: &Mailbox) -> String {
    let tenant = &mailbox.tenant;
    let user = mailbox.token_user();
    let error = e.error.as_deref().unwrap_or("");
    // AADSTS7000218 (a confidential client must send a secret) and 70002
    // (the client must be marked as mobile) are the public client switch.
    let public_client = matches!(e.aadsts, Some(7000218 | 70002))
        || (matches!(error, "invalid_client" | "unauthorized_client")
            && !matches!(e.reason, Reason::TokenUnknownClient | Reason::TokenClientSecretExpired));
    if public_client {
        return PUBLIC_CLIENT_ADVICE.to_string();
    }
    match e.reason {
        Reason::TokenConsentRequired => format!(
            "the app's permissions have not been consented to: in the app registration's API permissions, add the delegated \
             permissions this mailbox needs ({}) and offline_access, then \"Grant admin consent\" for the tenant",
            delegated_scopes(&mailbox.protocols)
                .iter()
                .filter_map(|s| s.strip_prefix("https://outlook.office.com/"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Reason::TokenUnknownClient => format!(
            "no application with client_id {} exists in tenant {}: check `client_id` (the Application (client) ID) and \
             `tenant_id` of tenant `{}`",
            tenant.client_id, tenant.tenant_id, tenant.name
        ),
        Reason::TokenUnknownTenant => format!(
            "tenant {} was not found at {}: check `tenant_id` (the Directory (tenant) ID or a verified domain) of tenant `{}`, \
             and `authority` for a national cloud",
            tenant.tenant_id, tenant.authority, tenant.name
        ),
        Reason::TokenMissingScope => "a requested scope is not valid for this app: check the app registration's API permissions \
             (Office 365 Exchange Online delegated permissions) and the mailbox's `protocols`"
            .to_string(),
        Reason::TokenInvalidGrant if stage == Stage::Poll => {
            "the code expired or was already used before the sign-in finished: run this command again and sign in promptly".to_string()
        }
        Reason::TokenInteractionRequired if matches!(error, "access_denied" | "authorization_declined") => format!(
            "the sign-in was declined (Cancel was pressed or consent refused): run this command again, sign in as {user} \
             and accept"
        ),
        Reason::TokenInteractionRequired => format!(
            "Entra ID needs more than this sign-in (multi-factor registration or a Conditional Access policy): look up the \
             sign-in of {user} in the Entra ID sign-in logs with the correlation id below"
        ),
        Reason::TokenEndpointUnreachable | Reason::TokenEndpointTimeout | Reason::TokenThrottled => format!(
            "{} could not be reached or is busy: check the network path, the tenant's `proxy`, and `global.extra_ca_file` if a \
             proxy inspects TLS; then run this command again",
            tenant.authority
        ),
        Reason::TokenBadResponse => format!(
            "the answer did not come from Microsoft's token endpoint (a proxy or web filter?): check the path to {}",
            tenant.authority
        ),
        _ => "look the codes below up in the Entra ID sign-in logs, fix the app registration or the tenant's settings, \
              and run this command again"
            .to_string(),
    }
}

/// The configured mailbox called `name`.
pub fn find_mailbox(config: &Config, name: &str) -> Result<Arc<Mailbox>, InitError> {
    config
        .mailboxes
        .iter()
        .find(|m| m.name == name)
        .cloned()
        .ok_or_else(|| InitError::UnknownMailbox {
            name: name.to_string(),
            file: config.file.clone(),
            known: config.mailboxes.iter().map(|m| m.name.clone()).collect(),
        })
}

/// The token endpoint client of the mailbox's tenant, trusting the system
/// roots plus `extra_ca` (`global.extra_ca_file`).
pub fn endpoint(mailbox: &Mailbox, extra_ca: &Arc<Vec<CertificateDer<'static>>>) -> Result<TokenEndpoint, InitError> {
    let tenant = &mailbox.tenant;
    let tls = ClientConfigCache::default()
        .get(extra_ca)
        .map_err(|e| InitError::Setup(e.to_string()))?;
    TokenEndpoint::through(&tenant.authority, &tenant.tenant_id, tls, tenant.proxy.as_ref(), REQUEST_TIMEOUT)
        .map_err(|e| InitError::Setup(e.to_string()))
}

/// Runs the device code flow for `mailbox` and writes its token store.
///
/// Progress and instructions go to `out`; the returned error says what went
/// wrong and what to do. `config_file` is only named in the next-step hint.
/// Waiting uses `tokio::time`, so a test can run this on paused time.
pub async fn device_code_init(
    mailbox: &Mailbox,
    endpoint: &TokenEndpoint,
    config_file: &Path,
    out: &mut impl Write,
) -> Result<InitOutcome, InitError> {
    if mailbox.grant != Grant::RefreshToken {
        return Err(InitError::NotDelegated(mailbox.name.clone()));
    }
    let store = TokenStore::new(
        mailbox
            .token_store
            .clone()
            .ok_or_else(|| InitError::NoTokenStore(mailbox.name.clone()))?,
    );
    // Fail before the admin signs in, not after.
    if let Some(dir) = store.path().parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(InitError::StoreDirMissing(store.path().to_path_buf()));
    }
    let user = mailbox.token_user();
    let client_id = &mailbox.tenant.client_id;
    let scopes = delegated_scopes(&mailbox.protocols);

    let code = endpoint
        .device_code(client_id, &scopes)
        .await
        .map_err(|e| InitError::token(Stage::DeviceCode, e, mailbox))?;
    let (_, expires_in) = timing(&code);
    let deadline = Instant::now() + expires_in;
    writeln!(out, "{}", instruction(&code))?;
    writeln!(
        out,
        "Open it in a private (incognito) browser window and sign in as {user}, not as yourself."
    )?;
    writeln!(
        out,
        "Waiting for the sign-in (the code expires in {})...",
        humantime::format_duration(expires_in)
    )?;
    out.flush()?;

    let response = poll(mailbox, endpoint, &code, deadline, expires_in, out).await?;

    let Some(refresh_token) = response.refresh_token.clone() else {
        return Err(InitError::NoRefreshToken);
    };
    let claims = jwt::decode(response.access_token.expose_secret());
    let account = claims.as_ref().and_then(|c| c.user()).map(sanitize);
    match &account {
        Some(got) if !got.eq_ignore_ascii_case(user) => {
            return Err(InitError::WrongUser {
                got: got.clone(),
                want: user.to_string(),
            });
        }
        Some(got) => writeln!(out, "Signed in as {got}.")?,
        None => writeln!(
            out,
            "warning: the access token names no user that can be read, so it could not be verified that it was issued to {user}; \
             if the mailbox checks fail to authenticate, run this command again from a private browser window"
        )?,
    }
    if let Some(claims) = &claims {
        let short: Vec<&str> = scopes
            .iter()
            .filter_map(|s| s.strip_prefix("https://outlook.office.com/"))
            .collect();
        let want = Expectation {
            user: None,
            scopes: &short,
            roles: &[],
        };
        if let Err(f) = jwt::check(claims, &want) {
            writeln!(out, "warning: {} (the token is stored anyway)", f.detail)?;
        }
    }

    let replacing = store.path().exists();
    store.save(&StoredToken {
        refresh_token,
        rotated_at: crate::clock::now_unix(),
        account: account.clone(),
        // The device code flow is a public-client flow: refreshes go without the secret.
        public_client: true,
    })?;
    writeln!(
        out,
        "Refresh token of mailbox `{}` {} {} (mode 0600).",
        mailbox.name,
        if replacing { "replaced in" } else { "saved to" },
        store.path().display()
    )?;
    writeln!(
        out,
        "Next: run `ece-o365-exporter check --config.file {}` to try the mailbox's checks with it.",
        config_file.display()
    )?;
    out.flush()?;
    Ok(InitOutcome {
        store: store.path().to_path_buf(),
        user_verified: account.is_some(),
        account,
    })
}

/// Polls until a token, a final error, or the code's expiry.
async fn poll(
    mailbox: &Mailbox,
    endpoint: &TokenEndpoint,
    code: &DeviceCode,
    deadline: Instant,
    expires_in: Duration,
    out: &mut impl Write,
) -> Result<TokenResponse, InitError> {
    let (mut interval, _) = timing(code);
    let mut transient_failures = 0;
    let mut wait = interval;
    loop {
        if Instant::now() + wait > deadline {
            return Err(InitError::Expired(expires_in));
        }
        tokio::time::sleep(wait).await;
        wait = interval;
        match endpoint.poll_device_code(&mailbox.tenant.client_id, &code.device_code).await {
            Ok(DevicePoll::Token(t)) => return Ok(t),
            Ok(DevicePoll::Pending) => transient_failures = 0,
            Ok(DevicePoll::SlowDown) => {
                transient_failures = 0;
                interval = (interval + SLOW_DOWN_STEP).min(MAX_INTERVAL);
                wait = interval;
            }
            Err(e) if e.transient && transient_failures < MAX_TRANSIENT_POLL_FAILURES => {
                transient_failures += 1;
                wait = e.retry_after.unwrap_or(interval).clamp(interval, MAX_INTERVAL);
                writeln!(
                    out,
                    "The token endpoint did not answer ({}); trying again in {}.",
                    e.detail,
                    humantime::format_duration(wait)
                )?;
                out.flush()?;
            }
            Err(e) => return Err(InitError::token(Stage::Poll, e, mailbox)),
        }
    }
}

/// The polling interval and how long to wait for the sign-in, from the
/// server's numbers bounded to [`MIN_INTERVAL`]..[`MAX_INTERVAL`] and
/// [`MAX_EXPIRES_IN`]: whatever it says, the sums made with them stay small.
fn timing(code: &DeviceCode) -> (Duration, Duration) {
    (
        Duration::from_secs(code.interval).clamp(MIN_INTERVAL, MAX_INTERVAL),
        Duration::from_secs(code.expires_in).min(MAX_EXPIRES_IN),
    )
}

/// Microsoft's instruction (it holds the URL and the code), sanitised, or
/// one built from the URL and code when there is none.
fn instruction(code: &DeviceCode) -> String {
    match code.message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => sanitize(m),
        None => format!(
            "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
            sanitize(&code.verification_uri),
            sanitize(&code.user_code)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MailProtocol, Tenant};

    fn mailbox(protocols: Vec<MailProtocol>) -> Mailbox {
        Mailbox {
            name: "support".into(),
            address: "support@contoso.com".into(),
            tenant: Arc::new(Tenant {
                name: "contoso".into(),
                tenant_id: "contoso.onmicrosoft.com".into(),
                client_id: "11111111-2222-3333-4444-555555555555".into(),
                client_secret: None,
                client_secret_expires: None,
                authority: crate::config::DEFAULT_AUTHORITY.into(),
                proxy: None,
            }),
            grant: Grant::RefreshToken,
            token_store: Some(PathBuf::from("support.token")),
            auth_user: None,
            protocols,
        }
    }

    fn error(status: u16, error: &str, aadsts: Option<u32>) -> TokenError {
        let (reason, transient) = super::super::endpoint::classify(status, aadsts, Some(error));
        TokenError {
            reason,
            error: Some(error.into()),
            aadsts,
            trace_id: Some("trace-1".into()),
            correlation_id: Some("corr-1".into()),
            retry_after: None,
            transient,
            detail: format!("HTTP {status} {error}"),
        }
    }

    #[test]
    fn server_timing_is_bounded() {
        let code = |interval, expires_in| DeviceCode {
            user_code: "ABCD".into(),
            device_code: secrecy::SecretString::from("canary-device-unit".to_string()),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            expires_in,
            interval,
            message: None,
        };
        assert_eq!(timing(&code(5, 900)), (Duration::from_secs(5), Duration::from_secs(900)));
        assert_eq!(timing(&code(u64::MAX, u64::MAX)), (MAX_INTERVAL, MAX_EXPIRES_IN));
        assert_eq!(timing(&code(0, 0)), (MIN_INTERVAL, Duration::ZERO));
        // The sums the flow makes with them cannot overflow.
        let (interval, expires_in) = timing(&code(u64::MAX, u64::MAX));
        let _ = Instant::now() + expires_in + interval + SLOW_DOWN_STEP;
    }

    #[test]
    fn advice_names_the_fix() {
        let m = mailbox(vec![MailProtocol::Imap, MailProtocol::Smtp]);
        let cases: &[(u16, &str, Option<u32>, &str)] = &[
            (401, "invalid_client", Some(7000218), "Allow public client flows = Yes"),
            (400, "invalid_client", None, "Allow public client flows = Yes"),
            (400, "invalid_grant", Some(65001), "IMAP.AccessAsUser.All, SMTP.Send"),
            (
                400,
                "unauthorized_client",
                Some(700016),
                "client_id 11111111-2222-3333-4444-555555555555",
            ),
            (400, "invalid_request", Some(90002), "contoso.onmicrosoft.com was not found"),
            (400, "expired_token", Some(70019), "expired"),
            (400, "access_denied", None, "declined"),
            (400, "invalid_grant", Some(53003), "Conditional Access"),
            (503, "temporarily_unavailable", None, "could not be reached"),
        ];
        for &(status, code, aadsts, want) in cases {
            let e = InitError::token(Stage::Poll, error(status, code, aadsts), &m);
            let text = e.to_string();
            assert!(text.contains(want), "{code} {aadsts:?}: {text}");
            assert!(
                text.contains("trace_id=trace-1") && text.contains("correlation_id=corr-1"),
                "{text}"
            );
            if let Some(n) = aadsts {
                assert!(text.contains(&format!("AADSTS{n}")), "{text}");
            }
            assert_eq!(e.exit_code(), 1);
        }
    }
}
