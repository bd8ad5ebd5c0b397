//! The client of the Microsoft identity platform v2.0 token endpoint,
//! `{authority}/{tenant}/oauth2/v2.0/token` (and `.../devicecode` for
//! `token init`): the refresh token, client credentials and device code
//! grants, and the mapping of every way they fail to one bounded [`Reason`].
//!
//! It owns the HTTP exchange only: one request, one bounded answer, one
//! verdict. It never sleeps, retries or stores anything: the caller owns
//! backoff (it gets `retry_after` and `transient`) and the token store (it
//! must never drop a stored refresh token on a transient error).
//!
//! No client secret, refresh token, access token or device code ever reaches
//! an error, a log line or a `Debug` output: they live in [`SecretString`]s,
//! are exposed only to build the form body, and any server text we keep
//! (error descriptions, ids) is scrubbed of them before it is sanitised.
//!
//! # Error mapping
//!
//! [`classify`] branches on `error_codes[0]` (Microsoft says the texts may
//! change) and falls back to the OAuth `error` string:
//!
//! | AADSTS / `error` | reason | transient |
//! |---|---|---|
//! | 70008, 700082 (inactivity, revoked), 700084 (single-page-app refresh token past its fixed lifetime) | `token_refresh_token_expired` | no |
//! | 50173, 70000, 70019 (device code expired), `invalid_grant`, `expired_token`, `bad_verification_code` | `token_invalid_grant` | no |
//! | 70043 (sign-in frequency of a Conditional Access policy), 50076, 50079, 53003, 50158, `interaction_required`, `access_denied`, `authorization_declined` | `token_interaction_required` | no |
//! | 7000215, `invalid_client`, `unauthorized_client` | `token_invalid_client` | no |
//! | 7000222 | `token_client_secret_expired` | no |
//! | 65001, 90094, `consent_required` | `token_consent_required` | no |
//! | 700016 | `token_unknown_client` | no |
//! | 90002, 900023 | `token_unknown_tenant` | no |
//! | 70011, `invalid_scope` | `token_missing_scope` | no |
//! | 90055, 50196, HTTP 429 | `token_throttled` | yes |
//! | `temporarily_unavailable`, `server_error`, any other 5xx, HTTP 408, connect errors (a connect timeout included), TLS failures | `token_endpoint_unreachable` | yes |
//! | no complete answer within the request's timeout or before its deadline ([`TokenEndpoint::until`]) | `token_endpoint_timeout` | yes |
//! | any other OAuth error (`invalid_request`, `unsupported_grant_type`, unknown) | `internal`: the endpoint refused a request we built | no |
//! | HTML, broken JSON, a body over 64 KiB, a redirect | `token_bad_response` | yes when the status is 5xx |
//!
//! 70043 is `token_interaction_required` rather than `..._refresh_token_expired`
//! because re-running `token init` only helps until the next sign-in
//! frequency period: the fix is the Conditional Access policy. 700084 is a
//! refresh token past its lifetime, so `token_refresh_token_expired`.
//!
//! A 5xx keeps `token_endpoint_unreachable` (or `token_throttled` for a
//! throttling code) even when its JSON carries another code; a 5xx whose
//! body is not a v2.0 error (an HTML page from a proxy or load balancer) is
//! `token_bad_response`, transient. An empty 5xx body is unreachable.
//!
//! Numbers in an answer are the server's: `expires_in`, `interval` and
//! `Retry-After` are parsed as `u64` seconds (anything else is
//! `token_bad_response`), and `Retry-After` is clamped here; whoever turns
//! them into an instant bounds or checks them first (the provider's
//! [`access_token`](super::provider::access_token), `token init`'s clamps).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use crate::observation::{Failure, MAX_DETAIL_CHARS, sanitize};
use crate::reason::Reason;

/// Microsoft's global authority; national clouds have their own.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The largest response body we read; token responses are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest `Retry-After` we pass on; anything longer is clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// The device code grant type (RFC 8628).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Longest trace/correlation id kept (they are GUIDs, 36 characters).
const MAX_ID_CHARS: usize = 64;
/// Secrets shorter than this are not scrubbed from server text (too many false hits).
const MIN_SCRUB_LEN: usize = 8;

/// Why a [`TokenEndpoint`] could not be built. Configuration validation
/// should catch these first; if one gets here it is [`Reason::Internal`].
#[derive(Debug, thiserror::Error)]
pub enum EndpointSetupError {
    #[error("authority `{0}` is not an https:// URL without query, fragment or credentials")]
    BadAuthority(String),
    #[error("tenant `{0}` is not a tenant id, domain, `common`, `organizations` or `consumers`")]
    BadTenant(String),
    /// The proxy URL is not echoed: it may carry credentials.
    #[error("the proxy URL is not valid: {0}")]
    BadProxy(String),
    #[error("the HTTPS client could not be built: {0}")]
    Client(String),
}

impl EndpointSetupError {
    pub fn reason(&self) -> Reason {
        Reason::Internal
    }
}

/// A successful token response. `Debug` shows no token.
#[derive(Clone, Debug)]
pub struct TokenResponse {
    pub access_token: SecretString,
    /// Present when the grant returns one (delegated grants with
    /// `offline_access`); it replaces the stored one.
    pub refresh_token: Option<SecretString>,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
    pub scope: Option<String>,
    pub token_type: String,
}

/// The answer of the device authorization endpoint. `Debug` shows no device code.
#[derive(Clone, Debug)]
pub struct DeviceCode {
    /// What the user types at `verification_uri`; short-lived and meant to be shown.
    pub user_code: String,
    /// What we poll with; a secret until it expires.
    pub device_code: SecretString,
    pub verification_uri: String,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls (5 when the server gives none).
    pub interval: u64,
    /// Microsoft's instruction for the user; server text, sanitise before printing to a terminal.
    pub message: Option<String>,
}

/// One poll of the device code grant.
#[derive(Debug)]
pub enum DevicePoll {
    /// The user has not finished signing in: poll again after the interval.
    Pending,
    /// Poll less often: add 5 seconds to the interval (RFC 8628).
    SlowDown,
    Token(TokenResponse),
}

/// A failed token request, with everything Microsoft support asks for.
/// Contains no secret; `detail` is sanitised server or transport text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenError {
    pub reason: Reason,
    /// The OAuth `error` code (`invalid_grant`, ...), sanitised.
    pub error: Option<String>,
    /// `error_codes[0]`, the AADSTS number.
    pub aadsts: Option<u32>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    /// From HTTP `Retry-After` (seconds form), clamped to [`MAX_RETRY_AFTER`].
    pub retry_after: Option<Duration>,
    /// Network trouble, timeouts, 5xx, throttling: retry later and keep the
    /// stored refresh token.
    pub transient: bool,
    /// One sanitised line: the first line of `error_description`, or what
    /// went wrong on the way.
    pub detail: String,
}

impl TokenError {
    fn new(reason: Reason, transient: bool, detail: impl AsRef<str>) -> Self {
        TokenError {
            reason,
            error: None,
            aadsts: None,
            trace_id: None,
            correlation_id: None,
            retry_after: None,
            transient,
            detail: sanitize(detail.as_ref()),
        }
    }

    /// ` (trace_id=..., correlation_id=...)`, or empty.
    fn ids_suffix(&self) -> String {
        let mut ids = Vec::new();
        if let Some(t) = &self.trace_id {
            ids.push(format!("trace_id={t}"));
        }
        if let Some(c) = &self.correlation_id {
            ids.push(format!("correlation_id={c}"));
        }
        if ids.is_empty() {
            String::new()
        } else {
            format!(" ({})", ids.join(", "))
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)?;
        // The description usually starts with the code; name it when it does not.
        if let Some(code) = self.aadsts.filter(|c| !self.detail.contains(&format!("AADSTS{c}"))) {
            write!(f, " [AADSTS{code}]")?;
        }
        if let Some(r) = self.retry_after {
            write!(f, "; retry after {}", humantime::format_duration(r))?;
        }
        f.write_str(&self.ids_suffix())
    }
}

impl std::error::Error for TokenError {}

impl From<TokenError> for Failure {
    /// Keeps the ids whole and shortens the description to fit
    /// [`MAX_DETAIL_CHARS`].
    fn from(e: TokenError) -> Failure {
        let suffix = e.ids_suffix();
        let budget = MAX_DETAIL_CHARS.saturating_sub(suffix.len());
        let mut detail = e.detail.clone();
        if detail.chars().count() > budget {
            detail = detail.chars().take(budget.saturating_sub(3)).collect::<String>() + "...";
        }
        Failure::new(e.reason, format!("{detail}{suffix}"))
    }
}

/// The verdict on an OAuth error: the reason and whether it is transient.
///
/// Pure, so the whole table above is unit-tested. `status` is the HTTP
/// status, `aadsts` is `error_codes[0]`, `error` the OAuth `error` string.
pub fn classify(status: u16, aadsts: Option<u32>, error: Option<&str>) -> (Reason, bool) {
    let by_code = aadsts.and_then(|code| match code {
        70008 | 700082 | 700084 => Some((Reason::TokenRefreshTokenExpired, false)),
        50173 | 70000 | 70019 => Some((Reason::TokenInvalidGrant, false)),
        70043 | 50076 | 50079 | 53003 | 50158 => Some((Reason::TokenInteractionRequired, false)),
        7000215 => Some((Reason::TokenInvalidClient, false)),
        7000222 => Some((Reason::TokenClientSecretExpired, false)),
        65001 | 90094 => Some((Reason::TokenConsentRequired, false)),
        700016 => Some((Reason::TokenUnknownClient, false)),
        90002 | 900023 => Some((Reason::TokenUnknownTenant, false)),
        70011 => Some((Reason::TokenMissingScope, false)),
        90055 | 50196 => Some((Reason::TokenThrottled, true)),
        _ => None,
    });
    let verdict = by_code.or_else(|| {
        error.map(|e| match e {
            "invalid_grant" | "expired_token" | "bad_verification_code" => (Reason::TokenInvalidGrant, false),
            "invalid_client" | "unauthorized_client" => (Reason::TokenInvalidClient, false),
            "interaction_required" | "access_denied" | "authorization_declined" => (Reason::TokenInteractionRequired, false),
            "consent_required" => (Reason::TokenConsentRequired, false),
            "invalid_scope" => (Reason::TokenMissingScope, false),
            "temporarily_unavailable" | "server_error" => (Reason::TokenEndpointUnreachable, true),
            _ => (Reason::Internal, false),
        })
    });
    match (status, verdict) {
        (429, _) => (Reason::TokenThrottled, true),
        (500..=599, Some((Reason::TokenThrottled, _))) => (Reason::TokenThrottled, true),
        (500..=599, _) | (408, _) => (Reason::TokenEndpointUnreachable, true),
        (_, Some(v)) => v,
        (_, None) => (Reason::TokenBadResponse, false),
    }
}

/// A client of one tenant's v2.0 token endpoint. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TokenEndpoint {
    client: reqwest::Client,
    token_url: String,
    device_code_url: String,
    /// Requests not finished by then end in `token_endpoint_timeout`.
    deadline: Option<Instant>,
}

impl TokenEndpoint {
    /// `authority` is e.g. [`DEFAULT_AUTHORITY`]; `tls` is the shared rustls
    /// config (ring provider, system roots plus extra CAs); `proxy` is an
    /// `http://host:port` proxy (HTTPS goes through `CONNECT`), else none,
    /// not even from the environment; `timeout` bounds each whole request.
    pub fn new(
        authority: &str,
        tenant: &str,
        tls: Arc<rustls::ClientConfig>,
        proxy: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, EndpointSetupError> {
        let authority = authority.trim_end_matches('/');
        let parsed = reqwest::Url::parse(authority).map_err(|_| EndpointSetupError::BadAuthority(sanitize(authority)))?;
        if parsed.scheme() != "https"
            || parsed.host_str().is_none()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(EndpointSetupError::BadAuthority(sanitize(authority)));
        }
        if tenant.is_empty() || tenant.len() > 256 || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
            return Err(EndpointSetupError::BadTenant(sanitize(tenant)));
        }
        let mut tls = (*tls).clone();
        // reqwest is built without HTTP/2; say so in ALPN rather than leave it to the server.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A token endpoint never redirects; following one could send secrets elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .user_agent(concat!("ece-o365-exporter/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = proxy {
            let proxy = reqwest::Proxy::all(proxy).map_err(|e| EndpointSetupError::BadProxy(chain(&e)))?;
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(|e| EndpointSetupError::Client(chain(&e)))?;
        Ok(TokenEndpoint {
            client,
            token_url: format!("{authority}/{tenant}/oauth2/v2.0/token"),
            device_code_url: format!("{authority}/{tenant}/oauth2/v2.0/devicecode"),
            deadline: None,
        })
    }

    /// The same client, whose requests must also be answered by `deadline`
    /// (the caller's remaining time budget) on top of the whole-request
    /// timeout it was built with; one that is not ends in
    /// `token_endpoint_timeout`, transient.
    pub fn until(&self, deadline: Instant) -> TokenEndpoint {
        TokenEndpoint {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    /// The token URL, for logs (it holds no secret).
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The device authorization URL, for logs.
    pub fn device_code_url(&self) -> &str {
        &self.device_code_url
    }

    /// Redeems a refresh token (delegated access). A public client passes no secret.
    pub async fn refresh_token_grant(
        &self,
        client_id: &str,
        client_secret: Option<&SecretString>,
        refresh_token: &SecretString,
        scopes: &[&str],
    ) -> Result<TokenResponse, TokenError> {
        let scope = scopes.join(" ");
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token.expose_secret()),
            ("scope", scope.as_str()),
        ];
        if let Some(s) = client_secret {
            form.push(("client_secret", s.expose_secret()));
        }
        let secrets = [Some(refresh_token), client_secret];
        let result = self.token_request(&self.token_url, &form, &secrets).await.and_then(parse_token);
        self.log_failure("refresh_token", &result);
        result
    }

    /// Gets an app-only token (`scope` is e.g. `https://outlook.office365.com/.default`).
    pub async fn client_credentials_grant(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        scope: &str,
    ) -> Result<TokenResponse, TokenError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("scope", scope),
        ];
        let result = self
            .token_request(&self.token_url, &form, &[Some(client_secret)])
            .await
            .and_then(parse_token);
        self.log_failure("client_credentials", &result);
        result
    }

    /// Starts the device code flow (`token init`).
    pub async fn device_code(&self, client_id: &str, scopes: &[&str]) -> Result<DeviceCode, TokenError> {
        let scope = scopes.join(" ");
        let form = [("client_id", client_id), ("scope", scope.as_str())];
        let result = self
            .token_request(&self.device_code_url, &form, &[])
            .await
            .and_then(parse_device_code);
        self.log_failure("device_code", &result);
        result
    }

    /// Polls the device code grant once. The caller waits `interval` between polls.
    pub async fn poll_device_code(&self, client_id: &str, device_code: &SecretString) -> Result<DevicePoll, TokenError> {
        let form = [
            ("grant_type", DEVICE_CODE_GRANT),
            ("client_id", client_id),
            ("device_code", device_code.expose_secret()),
        ];
        let result = match self.token_request(&self.token_url, &form, &[Some(device_code)]).await {
            Ok(body) => parse_token(body).map(DevicePoll::Token),
            // RFC 8628's protocol states, not failures. AADSTS70016 is "authorization pending".
            Err(e) if e.error.as_deref() == Some("authorization_pending") || e.aadsts == Some(70016) => Ok(DevicePoll::Pending),
            Err(e) if e.error.as_deref() == Some("slow_down") => Ok(DevicePoll::SlowDown),
            Err(e) => Err(e),
        };
        self.log_failure("device_code_poll", &result);
        result
    }

    fn log_failure<T>(&self, grant: &'static str, result: &Result<T, TokenError>) {
        if let Err(e) = result {
            tracing::warn!(
                token_url = %self.token_url,
                grant,
                reason = %e.reason,
                error = e.error.as_deref().unwrap_or(""),
                aadsts = e.aadsts,
                trace_id = e.trace_id.as_deref().unwrap_or(""),
                correlation_id = e.correlation_id.as_deref().unwrap_or(""),
                transient = e.transient,
                retry_after_seconds = e.retry_after.map(|d| d.as_secs()),
                "token request failed"
            );
        }
    }

    /// POSTs `form` and returns the body of a 2xx answer, or the verdict on
    /// anything else. `secrets` are scrubbed from every text we keep.
    async fn token_request(&self, url: &str, form: &[(&str, &str)], secrets: &[Option<&SecretString>]) -> Result<Body, TokenError> {
        let secrets: Vec<&str> = secrets.iter().flatten().map(|s| s.expose_secret()).collect();
        let Some(deadline) = self.deadline else {
            return self.exchange(url, form, &secrets).await;
        };
        let budget = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout_at(deadline, self.exchange(url, form, &secrets)).await {
            Ok(result) => result,
            Err(_) => Err(TokenError::new(
                Reason::TokenEndpointTimeout,
                true,
                format!(
                    "no answer from the token endpoint within {} (what was left of the run's timeout)",
                    humantime::format_duration(Duration::from_millis(u64::try_from(budget.as_millis()).unwrap_or(u64::MAX)))
                ),
            )),
        }
    }

    /// One request and its capped answer, with no deadline but the client's timeout.
    async fn exchange(&self, url: &str, form: &[(&str, &str)], secrets: &[&str]) -> Result<Body, TokenError> {
        let mut response = self
            .client
            .post(url)
            .header(ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| transport_error(&e, secrets))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let content_type = content_type(response.headers());
        let body = match read_capped(&mut response, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(ReadError::Transport(e)) => return Err(transport_error(&e, secrets)),
            Err(ReadError::TooLarge) => {
                let mut err = if status == StatusCode::TOO_MANY_REQUESTS {
                    TokenError::new(Reason::TokenThrottled, true, format!("HTTP {status}"))
                } else {
                    TokenError::new(
                        Reason::TokenBadResponse,
                        status.is_server_error(),
                        format!(
                            "HTTP {} with a body over {} KiB, not a v2.0 token response",
                            status.as_u16(),
                            MAX_BODY_BYTES / 1024
                        ),
                    )
                };
                err.retry_after = retry_after;
                return Err(err);
            }
        };
        let mut result = judge(status, &content_type, body, secrets);
        if let Err(err) = &mut result {
            err.retry_after = retry_after;
        }
        result
    }
}

/// What an answer means, from its status, content type and (capped) body:
/// the body of a success to parse, or the error. No I/O, so the fuzz targets
/// and property tests reach it directly.
#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
fn judge(status: StatusCode, content_type: &str, body: Body, secrets: &[&str]) -> Result<Body, TokenError> {
    if status.is_success() {
        // A page from a captive portal or filtering proxy, not JSON at all.
        if body.0.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            let what = describe_body(&body.0, content_type, secrets);
            return Err(TokenError::new(
                Reason::TokenBadResponse,
                false,
                format!("HTTP {} with {what}, not a v2.0 token response", status.as_u16()),
            ));
        }
        return Ok(body);
    }
    Err(error_from_body(status, &body.0, content_type, secrets))
}

/// The verdict on one token endpoint answer (`judge`, then the token's JSON),
/// for the fuzz targets and property tests. `device` parses a devicecode answer.
#[doc(hidden)]
#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
pub fn judge_answer(status: u16, content_type: &str, body: &[u8], device: bool) -> Result<(), TokenError> {
    if device {
        let status = StatusCode::from_u16(status).map_err(|_| TokenError::new(Reason::TokenBadResponse, false, "bad status"))?;
        parse_device_code(judge(status, content_type, Body(body.to_vec()), &[])?).map(drop)
    } else {
        token_answer(status, content_type, body).map(drop)
    }
}

/// The token response in one token endpoint answer, as a grant returns it,
/// for the fuzz targets and property tests that follow it into the provider.
#[doc(hidden)]
#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
pub fn token_answer(status: u16, content_type: &str, body: &[u8]) -> Result<TokenResponse, TokenError> {
    let status = StatusCode::from_u16(status).map_err(|_| TokenError::new(Reason::TokenBadResponse, false, "bad status"))?;
    parse_token(judge(status, content_type, Body(body.to_vec()), &[])?)
}

/// A response body that is wiped when dropped (it may hold tokens).
struct Body(Vec<u8>);

impl Drop for Body {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads at most `cap` bytes of body; stops (dropping the connection) as
/// soon as the body is known to be larger.
async fn read_capped(response: &mut reqwest::Response, cap: usize) -> Result<Body, ReadError> {
    if response.content_length().is_some_and(|len| len > cap as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Body(Vec::new());
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.0.len() + chunk.len() > cap {
            return Err(ReadError::TooLarge);
        }
        body.0.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The seconds form of `Retry-After`; the HTTP-date form is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

fn content_type(headers: &HeaderMap) -> String {
    let value = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    short(value.split(';').next().unwrap_or("").trim(), MAX_ID_CHARS)
}

/// Network, TLS and timeout failures: always transient. A connection that
/// never came up is unreachable; one that was made but not answered in time
/// is a timeout.
fn transport_error(e: &reqwest::Error, secrets: &[&str]) -> TokenError {
    let (reason, what) = if e.is_connect() {
        (Reason::TokenEndpointUnreachable, "cannot connect")
    } else if e.is_timeout() {
        (Reason::TokenEndpointTimeout, "timed out")
    } else {
        (Reason::TokenEndpointUnreachable, "request failed")
    };
    let detail = format!("{what}: {}", chain(e));
    TokenError::new(reason, true, scrub(&detail, secrets))
}

/// The error and its sources, without reqwest's URL and without repeats.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = e.source();
    while let Some(err) = next {
        let mut text = err.to_string();
        if let Some(tls) = rustls_error(err) {
            text = format!("TLS: {tls}");
        }
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    if parts.is_empty() {
        // reqwest's own text names the URL, which holds no secret.
        parts.push(e.to_string());
    }
    parts.join(": ")
}

/// A rustls verdict, bare or wrapped in (nested) io::Errors, whose `source`
/// skips the inner error.
fn rustls_error<'a>(mut err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    for _ in 0..8 {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = err.downcast_ref::<std::io::Error>()?.get_ref()?;
        err = inner;
    }
    None
}

/// Replaces every secret (of useful length) in server or transport text.
fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SCRUB_LEN) {
        if out.contains(*s) {
            out = out.replace(*s, "[redacted]");
        }
    }
    out
}

/// Sanitised and cut to `max` characters.
fn short(text: &str, max: usize) -> String {
    sanitize(text).chars().take(max).collect()
}

fn json_str(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_string)
}

/// The verdict on a non-2xx answer, from its v2.0 error JSON if it has one.
fn error_from_body(status: StatusCode, body: &[u8], content_type: &str, secrets: &[&str]) -> TokenError {
    let code = status.as_u16();
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = json.as_ref().and_then(|v| json_str(v, "error"));
    let Some((json, error)) = json.zip(error) else {
        let (reason, transient) = classify(code, None, None);
        // A 5xx with a page instead of JSON came from something in between.
        let (reason, what) = if body.iter().all(u8::is_ascii_whitespace) {
            (reason, "an empty body".to_string())
        } else if reason == Reason::TokenEndpointUnreachable {
            (Reason::TokenBadResponse, describe_body(body, content_type, secrets))
        } else {
            (reason, describe_body(body, content_type, secrets))
        };
        return TokenError::new(reason, transient, format!("HTTP {code} with {what}, not a v2.0 error response"));
    };
    let aadsts = json
        .get("error_codes")
        .and_then(|c| c.as_array())
        .and_then(|c| c.first())
        .and_then(|c| c.as_u64())
        .and_then(|c| u32::try_from(c).ok());
    let (reason, transient) = classify(code, aadsts, Some(&error));
    let description = json_str(&json, "error_description").unwrap_or_default();
    let first_line = description.lines().next().unwrap_or("").trim();
    let error = short(&scrub(&error, secrets), MAX_ID_CHARS);
    let detail = if first_line.is_empty() {
        format!("HTTP {code} {error}")
    } else {
        format!("HTTP {code} {error}: {}", scrub(first_line, secrets))
    };
    let id = |key: &str| {
        json_str(&json, key)
            .map(|v| short(&scrub(&v, secrets), MAX_ID_CHARS))
            .filter(|v| !v.is_empty())
    };
    TokenError {
        reason,
        error: Some(error),
        aadsts,
        trace_id: id("trace_id"),
        correlation_id: id("correlation_id"),
        retry_after: None,
        transient,
        detail: sanitize(&detail),
    }
}

/// A short description of a body that is not what we expected: its type and
/// an HTML page's title (which names the proxy or portal that sent it).
fn describe_body(body: &[u8], content_type: &str, secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let title = lower
        .find("<title>")
        .map(|start| start + "<title>".len())
        .and_then(|start| lower[start..].find("</title>").map(|len| &text[start..start + len]))
        .map(|t| short(&scrub(t.trim(), secrets), 80))
        .filter(|t| !t.is_empty());
    let kind = if content_type.is_empty() {
        "an untyped body".to_string()
    } else {
        format!("a `{content_type}` body")
    };
    match title {
        Some(t) => format!("{kind} titled `{t}`"),
        None => format!("{kind} of {} bytes", body.len()),
    }
}

/// Accepts a JSON number or a numeric string (v1-style answers).
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(u64),
        S(String),
    }
    match Num::deserialize(d)? {
        Num::N(n) => Ok(n),
        Num::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("expected a number of seconds")),
    }
}

fn default_interval() -> u64 {
    5
}

// No Debug on these: they hold tokens in plain Strings until converted.
#[derive(Deserialize)]
struct RawToken {
    access_token: String,
    refresh_token: Option<String>,
    #[serde(deserialize_with = "seconds")]
    expires_in: u64,
    scope: Option<String>,
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct RawDeviceCode {
    user_code: String,
    device_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(deserialize_with = "seconds")]
    expires_in: u64,
    #[serde(default = "default_interval", deserialize_with = "seconds")]
    interval: u64,
    message: Option<String>,
}

/// A 2xx body that does not parse: never echo serde's text, which may quote a token.
fn bad_json(what: &str, e: &serde_json::Error) -> TokenError {
    let text = e.to_string();
    let why = match e.classify() {
        serde_json::error::Category::Data if text.starts_with("missing field") => {
            text.split(" at line").next().unwrap_or("missing field").to_string()
        }
        serde_json::error::Category::Data => "unexpected JSON content".to_string(),
        _ => "not valid JSON".to_string(),
    };
    TokenError::new(
        Reason::TokenBadResponse,
        false,
        format!("{what}: {why} (line {}, column {})", e.line(), e.column()),
    )
}

#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
fn parse_token(body: Body) -> Result<TokenResponse, TokenError> {
    let raw: RawToken = serde_json::from_slice(&body.0).map_err(|e| bad_json("token response", &e))?;
    if raw.access_token.is_empty() {
        return Err(TokenError::new(
            Reason::TokenBadResponse,
            false,
            "token response has an empty access_token",
        ));
    }
    Ok(TokenResponse {
        access_token: SecretString::from(raw.access_token),
        refresh_token: raw.refresh_token.filter(|t| !t.is_empty()).map(SecretString::from),
        expires_in: raw.expires_in,
        scope: raw.scope,
        token_type: raw.token_type.unwrap_or_else(|| "Bearer".to_string()),
    })
}

#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
fn parse_device_code(body: Body) -> Result<DeviceCode, TokenError> {
    let raw: RawDeviceCode = serde_json::from_slice(&body.0).map_err(|e| bad_json("device code response", &e))?;
    Ok(DeviceCode {
        user_code: raw.user_code,
        device_code: SecretString::from(raw.device_code),
        verification_uri: raw.verification_uri,
        expires_in: raw.expires_in,
        interval: raw.interval.max(1),
        message: raw.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HTTP status, `error_codes[0]`, `error`, then the expected verdict.
    type Case = (u16, Option<u32>, Option<&'static str>, Reason, bool);

    #[test]
    fn classify_table() {
        use Reason::*;
        #[rustfmt::skip]
        let table: &[Case] = &[
            (400, Some(70008), Some("invalid_grant"), TokenRefreshTokenExpired, false),
            (400, Some(700082), Some("invalid_grant"), TokenRefreshTokenExpired, false),
            (400, Some(700084), Some("invalid_grant"), TokenRefreshTokenExpired, false),
            (400, Some(50173), Some("invalid_grant"), TokenInvalidGrant, false),
            (400, Some(70000), Some("invalid_grant"), TokenInvalidGrant, false),
            (400, Some(70019), Some("expired_token"), TokenInvalidGrant, false),
            (400, None, Some("invalid_grant"), TokenInvalidGrant, false),
            (400, Some(12345678), Some("invalid_grant"), TokenInvalidGrant, false),
            (400, None, Some("expired_token"), TokenInvalidGrant, false),
            (400, Some(70043), Some("invalid_grant"), TokenInteractionRequired, false),
            (401, Some(7000215), Some("invalid_client"), TokenInvalidClient, false),
            (401, None, Some("invalid_client"), TokenInvalidClient, false),
            (401, Some(7000222), Some("invalid_client"), TokenClientSecretExpired, false),
            (400, Some(65001), Some("invalid_grant"), TokenConsentRequired, false),
            (400, Some(90094), Some("invalid_grant"), TokenConsentRequired, false),
            (400, None, Some("consent_required"), TokenConsentRequired, false),
            (400, Some(50076), Some("invalid_grant"), TokenInteractionRequired, false),
            (400, Some(50079), Some("invalid_grant"), TokenInteractionRequired, false),
            (400, Some(53003), Some("invalid_grant"), TokenInteractionRequired, false),
            (400, Some(50158), Some("invalid_grant"), TokenInteractionRequired, false),
            (400, None, Some("interaction_required"), TokenInteractionRequired, false),
            (400, None, Some("access_denied"), TokenInteractionRequired, false),
            (400, None, Some("authorization_declined"), TokenInteractionRequired, false),
            (400, Some(700016), Some("unauthorized_client"), TokenUnknownClient, false),
            (400, None, Some("unauthorized_client"), TokenInvalidClient, false),
            (400, Some(90002), Some("invalid_request"), TokenUnknownTenant, false),
            (400, Some(900023), Some("invalid_request"), TokenUnknownTenant, false),
            (400, Some(70011), Some("invalid_scope"), TokenMissingScope, false),
            (400, Some(90055), Some("temporarily_unavailable"), TokenThrottled, true),
            (400, Some(50196), Some("invalid_request"), TokenThrottled, true),
            (503, Some(90055), None, TokenThrottled, true),
            (429, None, None, TokenThrottled, true),
            (429, Some(70008), Some("invalid_grant"), TokenThrottled, true),
            (500, None, None, TokenEndpointUnreachable, true),
            (503, None, Some("temporarily_unavailable"), TokenEndpointUnreachable, true),
            (500, Some(70008), Some("invalid_grant"), TokenEndpointUnreachable, true),
            (408, None, None, TokenEndpointUnreachable, true),
            (400, None, Some("server_error"), TokenEndpointUnreachable, true),
            (400, Some(900144), Some("invalid_request"), Internal, false),
            (400, None, Some("unsupported_grant_type"), Internal, false),
            (400, None, None, TokenBadResponse, false),
            (302, None, None, TokenBadResponse, false),
        ];
        for &(status, code, error, reason, transient) in table {
            assert_eq!(classify(status, code, error), (reason, transient), "{status} {code:?} {error:?}");
        }
    }

    const CANARY: &str = "canary-secret-unit-5e1d";

    fn body(status: u16, json: &str) -> TokenError {
        error_from_body(
            StatusCode::from_u16(status).unwrap(),
            json.as_bytes(),
            "application/json",
            &[CANARY],
        )
    }

    #[test]
    fn error_json_fields_are_kept_and_scrubbed() {
        let e = body(
            400,
            r#"{"error":"invalid_grant","error_description":"AADSTS70008: The refresh token canary-secret-unit-5e1d has expired due to inactivity.\r\nTrace ID: t\r\nCorrelation ID: c","error_codes":[70008],"timestamp":"2025-01-01 00:00:00Z","trace_id":"0b9a1c2d-0000-4000-8000-000000000001","correlation_id":"5f3e9a7b-0000-4000-8000-000000000002","error_uri":"https://login.microsoftonline.com/error?code=70008"}"#,
        );
        assert_eq!(e.reason, Reason::TokenRefreshTokenExpired);
        assert_eq!(e.aadsts, Some(70008));
        assert_eq!(e.error.as_deref(), Some("invalid_grant"));
        assert_eq!(e.trace_id.as_deref(), Some("0b9a1c2d-0000-4000-8000-000000000001"));
        assert_eq!(e.correlation_id.as_deref(), Some("5f3e9a7b-0000-4000-8000-000000000002"));
        assert!(!e.transient);
        assert_eq!(
            e.detail,
            "HTTP 400 invalid_grant: AADSTS70008: The refresh token [redacted] has expired due to inactivity."
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(shown.contains("AADSTS70008") && shown.contains("trace_id=0b9a1c2d") && shown.contains("correlation_id=5f3e9a7b"));
    }

    #[test]
    fn odd_error_bodies() {
        // error_codes of the wrong type: fall back to `error`.
        let e = body(400, r#"{"error":"invalid_client","error_codes":"7000215"}"#);
        assert_eq!((e.reason, e.aadsts), (Reason::TokenInvalidClient, None));
        // JSON without `error` is not an OAuth error.
        assert_eq!(body(400, r#"{"message":"hi"}"#).reason, Reason::TokenBadResponse);
        let html = error_from_body(
            StatusCode::BAD_GATEWAY,
            b"<html><head><TITLE>Proxy Error</TITLE></head></html>",
            "text/html",
            &[],
        );
        assert_eq!((html.reason, html.transient), (Reason::TokenBadResponse, true));
        assert_eq!(
            html.detail,
            "HTTP 502 with a `text/html` body titled `Proxy Error`, not a v2.0 error response"
        );
        let empty = error_from_body(StatusCode::SERVICE_UNAVAILABLE, b"", "", &[]);
        assert_eq!((empty.reason, empty.transient), (Reason::TokenEndpointUnreachable, true));
        // A title that never closes, multibyte text: no panic.
        let weird = error_from_body(StatusCode::FORBIDDEN, "<title>é".as_bytes(), "", &[]);
        assert_eq!(weird.reason, Reason::TokenBadResponse);
    }

    #[test]
    fn retry_after_seconds_only_and_clamped() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "17".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(17)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "99999999999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn failure_keeps_ids_when_the_description_is_long() {
        let mut e = TokenError::new(Reason::TokenInvalidGrant, false, "x".repeat(500));
        e.trace_id = Some("0b9a1c2d-0000-4000-8000-000000000001".into());
        e.correlation_id = Some("5f3e9a7b-0000-4000-8000-000000000002".into());
        let f = Failure::from(e);
        assert_eq!(f.reason, Reason::TokenInvalidGrant);
        assert!(f.detail.len() <= MAX_DETAIL_CHARS, "{}", f.detail.len());
        assert!(
            f.detail.ends_with("correlation_id=5f3e9a7b-0000-4000-8000-000000000002)"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn token_parsing_hides_tokens() {
        let t = parse_token(Body(
            br#"{"token_type":"Bearer","expires_in":"3599","access_token":"canary-access-unit","refresh_token":"canary-refresh-unit"}"#
                .to_vec(),
        ))
        .unwrap();
        assert_eq!(t.expires_in, 3599);
        assert_eq!(t.access_token.expose_secret(), "canary-access-unit");
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("canary"), "{dbg}");
        // A token where a number belongs: serde would quote it; we do not.
        let e = parse_token(Body(br#"{"access_token":"a","expires_in":{"x":"canary-access-unit"}}"#.to_vec())).unwrap_err();
        assert_eq!(e.reason, Reason::TokenBadResponse);
        assert!(!format!("{e} {e:?}").contains("canary"), "{e}");
        let e = parse_token(Body(br#"{"expires_in":3600}"#.to_vec())).unwrap_err();
        assert!(e.detail.contains("missing field `access_token`"), "{}", e.detail);
        let d = parse_device_code(Body(
            br#"{"user_code":"ABCD","device_code":"canary-device-unit","verification_url":"https://microsoft.com/devicelogin","expires_in":900}"#.to_vec(),
        ))
        .unwrap();
        assert_eq!((d.interval, d.verification_uri.as_str()), (5, "https://microsoft.com/devicelogin"));
        assert!(!format!("{d:?}").contains("canary"));
    }

    fn tls() -> Arc<rustls::ClientConfig> {
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Arc::new(cfg)
    }

    #[test]
    fn setup_validates_authority_tenant_and_proxy() {
        let t = Duration::from_secs(5);
        let ep = TokenEndpoint::new("https://login.microsoftonline.us/", "contoso.onmicrosoft.com", tls(), None, t).unwrap();
        assert_eq!(
            ep.token_url(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            ep.device_code_url(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/devicecode"
        );
        for bad in [
            "http://login.microsoftonline.com",
            "login.microsoftonline.com",
            "https://u:p@login.example",
            "https://x/?a=b",
        ] {
            assert!(
                matches!(
                    TokenEndpoint::new(bad, "common", tls(), None, t),
                    Err(EndpointSetupError::BadAuthority(_))
                ),
                "{bad}"
            );
        }
        for bad in ["", "a/b", "a?b", "ten ant"] {
            assert!(
                matches!(
                    TokenEndpoint::new(DEFAULT_AUTHORITY, bad, tls(), None, t),
                    Err(EndpointSetupError::BadTenant(_))
                ),
                "{bad}"
            );
        }
        let proxied = TokenEndpoint::new(DEFAULT_AUTHORITY, "common", tls(), Some("http://proxy.example:3128"), t);
        assert!(proxied.is_ok());
        let err = TokenEndpoint::new(DEFAULT_AUTHORITY, "common", tls(), Some("http://user:pw-canary@[bad"), t).unwrap_err();
        assert!(matches!(err, EndpointSetupError::BadProxy(_)));
        assert!(!err.to_string().contains("pw-canary"), "{err}");
    }
}
