//! The verdict on a token request that failed: [`TokenError`], the AADSTS
//! table ([`classify`]), reading a v2.0 error body, and transport failures.
//! Pure (no I/O), so every row of the table on [`classify`] is unit-tested.
//! It never keeps a secret: server and transport text is scrubbed of them,
//! then sanitised. It reads no socket and parses no successful answer
//! (`wire` does).

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use super::body::{Body, MAX_ID_CHARS, short};
use crate::observation::{Failure, MAX_DETAIL_CHARS, sanitize};
use crate::reason::Reason;

/// Secrets shorter than this are not scrubbed from server text (too many false hits).
const MIN_SCRUB_LEN: usize = 8;

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
    /// From HTTP `Retry-After` (seconds form), clamped to [`MAX_RETRY_AFTER`](super::MAX_RETRY_AFTER).
    pub retry_after: Option<Duration>,
    /// Network trouble, timeouts, 5xx, throttling: retry later and keep the
    /// stored refresh token.
    pub transient: bool,
    /// One sanitised line: the first line of `error_description`, or what
    /// went wrong on the way.
    pub detail: String,
}

impl TokenError {
    pub(super) fn new(reason: Reason, transient: bool, detail: impl AsRef<str>) -> Self {
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
/// Pure, so the whole table below is unit-tested. `status` is the HTTP
/// status, `aadsts` is `error_codes[0]`, `error` the OAuth `error` string.
///
/// # Error mapping
///
/// This branches on `error_codes[0]` (Microsoft says the texts may
/// change) and falls back to the OAuth `error` string; the rows without
/// one are the verdicts the client reaches on the way:
///
///
/// | AADSTS / `error` | reason | transient |
/// |---|---|---|
/// | 70008, 700082 (inactivity, revoked), 700084 (single-page-app refresh token past its fixed lifetime) | `token_refresh_token_expired` | no |
/// | 50173, 70000, 70019 (device code expired), `invalid_grant`, `expired_token`, `bad_verification_code` | `token_invalid_grant` | no |
/// | 70043 (sign-in frequency of a Conditional Access policy), 50076, 50079, 53003, 50158, `interaction_required`, `access_denied`, `authorization_declined` | `token_interaction_required` | no |
/// | 7000215, `invalid_client`, `unauthorized_client` | `token_invalid_client` | no |
/// | 7000222 | `token_client_secret_expired` | no |
/// | 65001, 90094, `consent_required` | `token_consent_required` | no |
/// | 700016 | `token_unknown_client` | no |
/// | 90002, 900023 | `token_unknown_tenant` | no |
/// | 70011, `invalid_scope` | `token_missing_scope` | no |
/// | 90055, 50196, HTTP 429 | `token_throttled` | yes |
/// | `temporarily_unavailable`, `server_error`, any other 5xx, HTTP 408, connect errors (a connect timeout included), TLS failures | `token_endpoint_unreachable` | yes |
/// | no complete answer within the request's timeout or before its deadline ([`TokenEndpoint::until`](super::TokenEndpoint::until)) | `token_endpoint_timeout` | yes |
/// | any other OAuth error (`invalid_request`, `unsupported_grant_type`, unknown) | `internal`: the endpoint refused a request we built | no |
/// | HTML, broken JSON, a body over 64 KiB, a redirect | `token_bad_response` | yes when the status is 5xx |
///
/// 70043 is `token_interaction_required` rather than `..._refresh_token_expired`
/// because re-running `token init` only helps until the next sign-in
/// frequency period: the fix is the Conditional Access policy. 700084 is a
/// refresh token past its lifetime, so `token_refresh_token_expired`.
///
/// A 5xx keeps `token_endpoint_unreachable` (or `token_throttled` for a
/// throttling code) even when its JSON carries another code; a 5xx whose
/// body is not a v2.0 error (an HTML page from a proxy or load balancer) is
/// `token_bad_response`, transient. An empty 5xx body is unreachable.
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

/// What an answer means, from its status, content type and (capped) body:
/// the body of a success to parse, or the error. No I/O, so the fuzz targets
/// and property tests reach it directly (through `token_answer`).
#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
pub(super) fn judge(status: StatusCode, content_type: &str, body: Body, secrets: &[&str]) -> Result<Body, TokenError> {
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

/// Network, TLS and timeout failures: always transient. A connection that
/// never came up is unreachable; one that was made but not answered in time
/// is a timeout.
pub(super) fn transport_error(e: &reqwest::Error, secrets: &[&str]) -> TokenError {
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
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

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
}
