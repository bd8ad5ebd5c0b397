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
//! The exchange is here; the rest is split by what it owns: `wire` (the
//! JSON of a successful answer), `body` (reading an answer, capped),
//! `classify` (the verdict on a failure, with the AADSTS table: see
//! [`classify()`]).
//!
//! Numbers in an answer are the server's: `expires_in`, `interval` and
//! `Retry-After` are parsed as `u64` seconds (anything else is
//! `token_bad_response`), and `Retry-After` is clamped here; whoever turns
//! them into an instant bounds or checks them first (the provider's
//! [`access_token`](super::provider::access_token), `token init`'s clamps).

mod body;
mod classify;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

pub use body::MAX_BODY_BYTES;
use body::{Body, ReadError, content_type, read_capped, retry_after};
pub use classify::{TokenError, classify};
use classify::{chain, judge, transport_error};
pub use wire::{DeviceCode, DevicePoll, TokenResponse};
use wire::{parse_device_code, parse_token};

use crate::config::TokenProxy;
use crate::observation::sanitize;
use crate::reason::Reason;

/// Microsoft's global authority; national clouds have their own.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The longest `Retry-After` we pass on; anything longer is clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// The device code grant type (RFC 8628).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

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
    /// Names the variable or file, never the value.
    #[error("the proxy password could not be read: {0}")]
    ProxyPassword(String),
    #[error("the HTTPS client could not be built: {0}")]
    Client(String),
}

impl EndpointSetupError {
    pub fn reason(&self) -> Reason {
        Reason::Internal
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
        let proxy = proxy.map(|url| TokenProxy::Url(url.to_string()));
        Self::through(authority, tenant, tls, proxy.as_ref(), timeout)
    }

    /// As [`TokenEndpoint::new`], through a tenant's effective proxy
    /// ([`Tenant::proxy`](crate::config::Tenant::proxy), resolved by the
    /// configuration, `NO_PROXY` included): reqwest sends `CONNECT` to it,
    /// with `Proxy-Authorization: Basic` when it has credentials (the
    /// password is read here, from its variable or file).
    pub fn through(
        authority: &str,
        tenant: &str,
        tls: Arc<rustls::ClientConfig>,
        proxy: Option<&TokenProxy>,
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
        match proxy {
            None => {}
            Some(TokenProxy::Url(url)) => {
                let proxy = reqwest::Proxy::all(url).map_err(|e| EndpointSetupError::BadProxy(chain(&e)))?;
                builder = builder.proxy(proxy);
            }
            Some(TokenProxy::Proxy(p)) => {
                let mut proxy = reqwest::Proxy::https(p.to_string()).map_err(|e| EndpointSetupError::BadProxy(chain(&e)))?;
                if let Some(auth) = &p.auth {
                    let password = auth.password.read().map_err(EndpointSetupError::ProxyPassword)?;
                    proxy = proxy.basic_auth(&auth.user, password.expose_secret());
                }
                builder = builder.proxy(proxy);
            }
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

/// The token response in one answer (status, content type, body), as a
/// grant gets it, with no I/O: for the fuzz targets and property tests
/// (`crate::fuzzing`), never the agent.
#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
pub(crate) fn token_answer(status: u16, content_type: &str, body: &[u8]) -> Result<TokenResponse, TokenError> {
    parse_token(judge(answer_status(status)?, content_type, Body(body.to_vec()), &[])?)
}

/// [`token_answer`] for a devicecode answer.
#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
pub(crate) fn device_code_answer(status: u16, content_type: &str, body: &[u8]) -> Result<DeviceCode, TokenError> {
    parse_device_code(judge(answer_status(status)?, content_type, Body(body.to_vec()), &[])?)
}

#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
fn answer_status(status: u16) -> Result<StatusCode, TokenError> {
    StatusCode::from_u16(status).map_err(|_| TokenError::new(Reason::TokenBadResponse, false, "bad status"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
