//! Reads the claims of an access token and checks what the troubleshooting
//! guide warns about: a token issued to the wrong user (the Kerberos SSO
//! trap), missing scopes or roles, another audience, a lifetime under 60
//! minutes.
//!
//! `exp` and `iat` are whatever the server put there: `exp - iat` is checked
//! arithmetic (no lifetime when it does not fit), and a token whose `exp`
//! precedes its `iat` is `token_lifetime_too_short`, never a panic.
//!
//! The signature is NOT verified, on purpose: the token came straight from
//! Microsoft's token endpoint over verified TLS, Exchange Online verifies it
//! when we use it, and we read it only to explain a failure. Opaque
//! (non-JWT) tokens are fine: they simply have no claims to check.
//!
//! Each failure carries its detail twice: in English for logs, and as a
//! sentence of the report's language files ([`DETAIL_KEYS`]) with the claims
//! as arguments.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::observation::Failure;
use crate::reason::Reason;

/// Audiences of Exchange Online tokens (by URL and by application id).
pub const EXCHANGE_AUDIENCES: &[&str] = &[
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "00000002-0000-0ff1-ce00-000000000000",
];
/// The guide: "The refresh token must last 60 minutes" (it means the access token).
pub const MIN_LIFETIME_SECONDS: i64 = 3600;
/// The report's sentences for this module's failure details (keys of the
/// language files; each failure below carries one with its arguments).
pub const DETAIL_KEYS: &[&str] = &[
    "detail-token_wrong_user",
    "detail-token_no_user",
    "detail-token_audience",
    "detail-token_missing_delegated",
    "detail-token_missing_application",
    "detail-token_expires_before_issued",
    "detail-token_lifetime",
];
/// Largest token we try to decode; Entra ID tokens are 1 to 4 KiB.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The claims we look at. Unknown claims are ignored.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub upn: Option<String>,
    pub unique_name: Option<String>,
    pub preferred_username: Option<String>,
    /// Delegated scopes, space separated.
    pub scp: Option<String>,
    /// Application permissions (client credentials).
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, deserialize_with = "audience")]
    pub aud: Vec<String>,
    pub iat: Option<i64>,
    pub exp: Option<i64>,
    pub tid: Option<String>,
}

fn audience<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Aud::deserialize(d)? {
        Aud::One(a) => vec![a],
        Aud::Many(v) => v,
    })
}

impl Claims {
    /// The user the token was issued to, by the first claim present.
    pub fn user(&self) -> Option<&str> {
        self.upn
            .as_deref()
            .or(self.unique_name.as_deref())
            .or(self.preferred_username.as_deref())
    }

    /// `exp - iat` in seconds: `None` when either claim is missing or the
    /// difference does not fit an `i64` (claims at the integer limits).
    /// Negative when the token claims to expire before it was issued;
    /// [`check`] calls any such token too short, whether or not the
    /// difference fits.
    pub fn lifetime(&self) -> Option<i64> {
        self.exp?.checked_sub(self.iat?)
    }

    fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scp.as_deref().unwrap_or_default().split_ascii_whitespace()
    }
}

/// Decodes the payload of a JWT; `None` for an opaque token.
pub fn decode(token: &str) -> Option<Claims> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&json).ok()
}

/// What a mailbox's token must show.
#[derive(Clone, Debug)]
pub struct Expectation<'a> {
    /// Delegated tokens: the user they must be issued to (`auth_user` or the
    /// mailbox address). None for app-only tokens.
    pub user: Option<&'a str>,
    /// Delegated scopes needed (short names like `IMAP.AccessAsUser.All`).
    pub scopes: &'a [&'a str],
    /// Application roles needed (`IMAP.AccessAsApp`).
    pub roles: &'a [&'a str],
}

/// Checks the claims against the expectation; the first problem wins, in
/// the order an admin should fix them.
pub fn check(claims: &Claims, want: &Expectation<'_>) -> Result<(), Failure> {
    if let Some(user) = want.user {
        match claims.user() {
            Some(got) if got.eq_ignore_ascii_case(user) => {}
            Some(got) => {
                return Err(Failure::new(
                    Reason::TokenWrongUser,
                    format!("the token was issued to {got}, not {user}: regenerate it from a private browser window, signed in as {user}"),
                )
                .with_message("detail-token_wrong_user", &[("got", got), ("user", user)]));
            }
            None => {
                return Err(
                    Failure::new(Reason::TokenWrongUser, format!("the token names no user; expected {user}"))
                        .with_message("detail-token_no_user", &[("user", user)]),
                );
            }
        }
    }
    if !claims.aud.is_empty() && !claims.aud.iter().any(|a| EXCHANGE_AUDIENCES.contains(&a.trim_end_matches('/'))) {
        let audience = claims.aud.join(" ");
        return Err(Failure::new(
            Reason::TokenMissingScope,
            format!("the token is for {audience}, not Exchange Online: request the outlook.office.com scopes"),
        )
        .with_message("detail-token_audience", &[("audience", &audience)]));
    }
    let missing: Vec<&str> = want
        .scopes
        .iter()
        .copied()
        .filter(|s| !claims.scopes().any(|have| have.eq_ignore_ascii_case(s)))
        .collect();
    if !missing.is_empty() {
        let missing = missing.join(", ");
        return Err(Failure::new(
            Reason::TokenMissingScope,
            format!("the token lacks the delegated permission {missing}"),
        )
        .with_message("detail-token_missing_delegated", &[("permissions", &missing)]));
    }
    let missing: Vec<&str> = want
        .roles
        .iter()
        .copied()
        .filter(|r| !claims.roles.iter().any(|have| have.eq_ignore_ascii_case(r)))
        .collect();
    if !missing.is_empty() {
        let missing = missing.join(", ");
        return Err(Failure::new(
            Reason::TokenMissingScope,
            format!("the token lacks the application permission {missing}"),
        )
        .with_message("detail-token_missing_application", &[("permissions", &missing)]));
    }
    // Compared, not subtracted: the difference may not fit an i64.
    if let (Some(exp), Some(iat)) = (claims.exp, claims.iat)
        && exp < iat
    {
        return Err(Failure::new(
            Reason::TokenLifetimeTooShort,
            "the access token expires before it was issued (its exp claim is earlier than its iat): it cannot be used",
        )
        .with_message("detail-token_expires_before_issued", &[]));
    }
    if let Some(lifetime) = claims.lifetime()
        && lifetime < MIN_LIFETIME_SECONDS
    {
        let minutes = (lifetime / 60).to_string();
        return Err(Failure::new(
            Reason::TokenLifetimeTooShort,
            format!("the access token lasts {minutes} minutes; the guide requires 60: check token lifetime policies"),
        )
        .with_message("detail-token_lifetime", &[("minutes", &minutes)]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    const DELEGATED: &str =
        r#"{"aud":"https://outlook.office.com","upn":"Support@Contoso.com","scp":"IMAP.AccessAsUser.All SMTP.Send","iat":1000,"exp":5500}"#;

    #[test]
    fn decodes_delegated_and_app_tokens() {
        let c = decode(&jwt(DELEGATED)).unwrap();
        assert_eq!(c.user(), Some("Support@Contoso.com"));
        assert_eq!(c.lifetime(), Some(4500));
        let app = decode(&jwt(
            r#"{"aud":["https://outlook.office365.com"],"roles":["IMAP.AccessAsApp"],"iat":1,"exp":4000}"#,
        ))
        .unwrap();
        assert_eq!(app.roles, vec!["IMAP.AccessAsApp"]);
        assert_eq!(app.user(), None);
    }

    #[test]
    fn opaque_or_broken_tokens_have_no_claims() {
        for t in [
            "EwBwA8l6BAAU...opaque",
            "a.b",
            "a.b.c.d",
            "x.%%%.y",
            &jwt("not json"),
            &"a.".repeat(20_000),
        ] {
            assert_eq!(decode(t), None, "{t:.40}");
        }
    }

    #[test]
    fn checks_catch_what_the_guide_warns_about() {
        let c = decode(&jwt(DELEGATED)).unwrap();
        let ok = Expectation {
            user: Some("support@contoso.com"),
            scopes: &["IMAP.AccessAsUser.All"],
            roles: &[],
        };
        assert_eq!(check(&c, &ok), Ok(()));

        let wrong_user = Expectation {
            user: Some("sales@contoso.com"),
            ..ok.clone()
        };
        let f = check(&c, &wrong_user).unwrap_err();
        assert_eq!(f.reason, Reason::TokenWrongUser);
        assert!(
            f.detail.contains("Support@Contoso.com") && f.detail.contains("private browser window"),
            "{}",
            f.detail
        );
        let message = f.message.as_ref().unwrap();
        assert_eq!(message.key, "detail-token_wrong_user");
        assert_eq!(
            message.args,
            vec![
                ("got", "Support@Contoso.com".to_string()),
                ("user", "sales@contoso.com".to_string())
            ]
        );

        let pop = Expectation {
            scopes: &["POP.AccessAsUser.All"],
            ..ok.clone()
        };
        assert_eq!(check(&c, &pop).unwrap_err().reason, Reason::TokenMissingScope);

        let app = Expectation {
            user: None,
            scopes: &[],
            roles: &["SMTP.SendAsApp"],
        };
        assert_eq!(check(&c, &app).unwrap_err().reason, Reason::TokenMissingScope);

        let short = decode(&jwt(
            r#"{"aud":"https://outlook.office.com","upn":"support@contoso.com","scp":"IMAP.AccessAsUser.All","iat":0,"exp":1800}"#,
        ))
        .unwrap();
        assert_eq!(check(&short, &ok).unwrap_err().reason, Reason::TokenLifetimeTooShort);

        let graph = decode(&jwt(
            r#"{"aud":"https://graph.microsoft.com","upn":"support@contoso.com","scp":"IMAP.AccessAsUser.All"}"#,
        ))
        .unwrap();
        assert_eq!(check(&graph, &ok).unwrap_err().reason, Reason::TokenMissingScope);

        // Every failure carries its sentence for the report, under a listed key.
        let nameless = decode(&jwt(r#"{"scp":"IMAP.AccessAsUser.All"}"#)).unwrap();
        let backwards = decode(&jwt(
            r#"{"upn":"support@contoso.com","scp":"IMAP.AccessAsUser.All","iat":10,"exp":5}"#,
        ))
        .unwrap();
        let failures = [
            check(&c, &wrong_user),
            check(&nameless, &ok),
            check(&graph, &ok),
            check(&c, &pop),
            check(&c, &app),
            check(&backwards, &ok),
            check(&short, &ok),
        ];
        let keys: Vec<&str> = failures
            .iter()
            .map(|f| f.as_ref().unwrap_err().message.as_ref().map_or("none", |m| m.key))
            .collect();
        assert_eq!(keys, DETAIL_KEYS);
        let lifetime = failures[6].as_ref().unwrap_err().message.as_ref().unwrap();
        assert_eq!(lifetime.args, vec![("minutes", "30".to_string())]);
    }

    fn timed(iat: i64, exp: i64) -> Claims {
        Claims {
            iat: Some(iat),
            exp: Some(exp),
            ..Claims::default()
        }
    }

    #[test]
    fn lifetime_at_the_integer_limits_does_not_overflow() {
        assert_eq!(timed(i64::MIN, i64::MAX).lifetime(), None);
        assert_eq!(timed(-1, i64::MAX).lifetime(), None);
        assert_eq!(timed(1, i64::MIN).lifetime(), None);
        assert_eq!(timed(0, i64::MAX).lifetime(), Some(i64::MAX));
        assert_eq!(timed(i64::MAX, i64::MAX).lifetime(), Some(0));
        assert_eq!(timed(i64::MIN, i64::MIN).lifetime(), Some(0));
        assert_eq!(timed(5000, 1000).lifetime(), Some(-4000));
        assert_eq!(
            Claims {
                iat: Some(1),
                ..Claims::default()
            }
            .lifetime(),
            None
        );
        // Straight from a token: the JSON numbers at the limits decode and judge without a panic.
        let c = decode(&jwt(&format!(r#"{{"iat":{},"exp":{}}}"#, i64::MIN, i64::MAX))).unwrap();
        assert_eq!(c.lifetime(), None);
        let none = Expectation {
            user: None,
            scopes: &[],
            roles: &[],
        };
        assert_eq!(check(&c, &none), Ok(()), "no lifetime known: nothing to judge");
    }

    #[test]
    fn a_token_that_expires_before_it_is_issued_is_too_short() {
        let none = Expectation {
            user: None,
            scopes: &[],
            roles: &[],
        };
        for (iat, exp) in [(5000, 1000), (i64::MAX, 0), (0, i64::MIN), (i64::MAX, i64::MIN), (1, -i64::MAX)] {
            let f = check(&timed(iat, exp), &none).unwrap_err();
            assert_eq!(f.reason, Reason::TokenLifetimeTooShort, "{iat} {exp}");
            assert!(f.detail.contains("before it was issued"), "{}", f.detail);
        }
        assert_eq!(
            check(&timed(i64::MIN + 1, i64::MIN + 1), &none).unwrap_err().reason,
            Reason::TokenLifetimeTooShort
        );
        assert_eq!(check(&timed(0, i64::MAX), &none), Ok(()));
    }
}
