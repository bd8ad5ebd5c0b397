//! The token endpoint's JSON, both ways out of our hands: the successful
//! token and device code answers ([`TokenResponse`], [`DeviceCode`],
//! [`DevicePoll`]) and parsing them from a body. Tokens go straight into
//! [`SecretString`]s; serde's own error text, which may quote one, is
//! never kept.

use secrecy::SecretString;
use serde::Deserialize;

use super::body::Body;
use super::classify::TokenError;
use crate::reason::Reason;

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
pub(super) fn parse_token(body: Body) -> Result<TokenResponse, TokenError> {
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
pub(super) fn parse_device_code(body: Body) -> Result<DeviceCode, TokenError> {
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
    use secrecy::ExposeSecret;

    use super::*;

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
}
