//! What SMTP, IMAP and POP3 share: opening the session (plain or implicit
//! TLS), upgrading it in place after STARTTLS/STLS, normalising the
//! capabilities they advertise, the mailbox's token for XOAUTH2, and the
//! optional proxy tunnel (a mail check's own `proxy`; `global.proxy` does
//! not apply: ECE's own mail connections are usually direct). The
//! protocol exchanges themselves stay in each protocol's file.

use std::sync::Arc;

use secrecy::SecretString;

use serde::Deserialize;

use crate::config::{ConfigError, Inherit, KindKeys, KindSettings, Mailbox, Proxy, Target, TlsSettings};
use crate::oauth::provider::{AccessToken, TokenProvider, xoauth2};
use crate::observation::{Failure, Probe};
use crate::proto::BoxStream;
use crate::proto::lines::{Limits, LineStream};
use crate::proto::proxy;
use crate::proto::tls::TlsClient;
use crate::reason::{Phase, Reason};

use super::kind::{Covers, EceUse, KindGuide};
use super::{BuildContext, BuildError};

/// The items an authenticated mail check passes through, in order: the
/// network, the token (application, refresh, claims), then the mailbox.
pub(crate) const AUTHENTICATED_CHAIN: &[crate::reason::GuideItem] = {
    use crate::reason::GuideItem::*;
    &[
        NetworkConnectivity,
        AzureAdApplication,
        TokenRefresh,
        TokenGeneration,
        MailboxConfiguration,
        MailboxRights,
        ExchangeLicense,
    ]
};

/// Where a mail check of `use_` goes in the guide: the network, then with
/// a mailbox the token and the mailbox's items.
pub(crate) const fn guide(use_: EceUse) -> KindGuide {
    KindGuide {
        chain_with_mailbox: AUTHENTICATED_CHAIN,
        covers: Covers::Use(use_),
        ..KindGuide::network(Covers::Nothing)
    }
}

/// The settings of an IMAP or POP3 check: implicit TLS unless `tls:` says otherwise.
pub(crate) fn implicit_tls_settings(keys: &mut KindKeys<'_>) -> Result<std::sync::Arc<dyn crate::config::DynSettings>, ConfigError> {
    Ok(std::sync::Arc::new(mail_settings(keys, TlsMode::Implicit)?))
}

/// How a mail check gets TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (SMTP 587, IMAP 143) or STLS (POP3 110).
    Starttls,
    /// TLS from the first byte (SMTP 465, IMAP 993, POP3 995).
    Implicit,
    /// No TLS at all (lab use only; Exchange Online requires TLS).
    None,
}

/// The settings of an `smtp`, `imap` or `pop3` check.
#[derive(Clone, Debug, PartialEq)]
pub struct MailSettings {
    pub target: Target,
    pub mode: TlsMode,
    pub tls: TlsSettings,
    /// SMTP only.
    pub ehlo_name: Option<String>,
    /// Only the check's own `proxy`, never `global.proxy`.
    pub proxy: Option<Proxy>,
}

impl KindSettings for MailSettings {
    fn endpoint(&self) -> Option<&Target> {
        Some(&self.target)
    }

    fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }
}

/// The keys of every mail kind (SMTP adds `ehlo_name`).
pub(crate) const MAIL_KEYS: &[&str] = &[
    "target",
    "tls",
    "server_name",
    "ca_file",
    "expected_issuer",
    "proxy",
    "proxy_user",
    "proxy_password",
];

/// Reads a mail check's keys; `tls:` defaults to `default_mode`.
pub(crate) fn mail_settings(keys: &mut KindKeys<'_>, default_mode: TlsMode) -> Result<MailSettings, ConfigError> {
    let mode = keys.take::<TlsMode>("tls")?.map_or(default_mode, |(m, _)| m);
    if mode == TlsMode::None {
        for key in ["server_name", "ca_file", "expected_issuer"] {
            if let Some(loc) = keys.loc_of(key) {
                return Err(keys.error(loc, key, format!("`{key}` needs TLS, but this check has `tls: none`")));
            }
        }
    }
    let ehlo_name = keys.take::<String>("ehlo_name")?;
    if let Some((e, loc)) = &ehlo_name
        && (e.is_empty() || !e.chars().all(|ch| ch.is_ascii_alphanumeric() || "-.[]:".contains(ch)))
    {
        return Err(keys.error(*loc, "ehlo_name", "ehlo_name must be a domain name or address literal"));
    }
    let target = keys.target()?;
    let proxy = keys.proxy(&target, Inherit::OwnOnly)?;
    Ok(MailSettings {
        target,
        mode,
        tls: keys.tls_settings()?,
        ehlo_name: ehlo_name.map(|(e, _)| e),
        proxy,
    })
}

/// How to reach a mail server and secure the session.
pub(crate) struct MailSession {
    pub target: Target,
    pub mode: TlsMode,
    tls: Option<TlsClient>,
    proxy: Option<Proxy>,
    limits: Limits,
}

impl MailSession {
    pub fn new(ctx: &mut BuildContext<'_>, settings: &MailSettings) -> Result<Self, BuildError> {
        let MailSettings {
            target, mode, tls, proxy, ..
        } = settings;
        let mode = *mode;
        let tls = match mode {
            TlsMode::None => None,
            TlsMode::Starttls | TlsMode::Implicit => Some(TlsClient::new(&mut ctx.tls, tls, target)?),
        };
        Ok(MailSession {
            target: target.clone(),
            mode,
            tls,
            proxy: proxy.clone(),
            limits: Limits::default(),
        })
    }

    /// Connects, and with `tls: implicit` runs the handshake first.
    pub async fn open(&self, probe: &mut Probe) -> Result<LineStream<BoxStream>, Failure> {
        let tcp = proxy::connect(probe, &self.target, self.proxy.as_ref()).await?;
        let stream: BoxStream = match (&self.tls, self.mode) {
            (Some(tls), TlsMode::Implicit) => Box::new(tls.handshake(probe, tcp).await?),
            _ => Box::new(tcp),
        };
        Ok(LineStream::new(stream, self.limits))
    }

    /// Whether the session must be upgraded with STARTTLS/STLS.
    pub fn wants_starttls(&self) -> bool {
        self.mode == TlsMode::Starttls
    }

    /// Runs the TLS handshake on a session the server has just agreed to
    /// upgrade. Anything it sent after its go-ahead is dropped unread.
    pub async fn upgrade(&self, probe: &mut Probe, lines: LineStream<BoxStream>) -> Result<LineStream<BoxStream>, Failure> {
        let Some(tls) = &self.tls else {
            return Ok(lines);
        };
        let injected = lines.buffered();
        if injected > 0 {
            tracing::warn!(
                bytes = injected,
                "server sent data after its STARTTLS go-ahead; discarded unread (possible command injection)"
            );
        }
        let tls_stream = tls.handshake(probe, lines.into_inner()).await?;
        Ok(LineStream::new(Box::new(tls_stream), self.limits))
    }
}

/// The most messages a count may say: IMAP's `number` is 32-bit (RFC 3501),
/// and a POP3 maildrop beyond it is as absurd.
pub(crate) const MAX_COUNT: u64 = u32::MAX as u64;

/// A message count a server sent: ASCII digits only (no sign, no space, no
/// `+`), at most [`MAX_COUNT`]; `None` for anything else. Checked arithmetic:
/// no number a server sends can panic or wrap.
pub(crate) fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: u64 = 0;
    for b in text.bytes() {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (n <= MAX_COUNT).then_some(n)
}

/// Marks which of `watched` appear in `advertised` (both upper case).
pub(crate) fn watched(watched: &[&'static str], advertised: &[String]) -> Vec<(&'static str, bool)> {
    watched.iter().map(|w| (*w, advertised.iter().any(|a| a == w))).collect()
}

/// The capabilities seen inside TLS, with STARTTLS taken from before the
/// upgrade: servers rightly stop offering it once TLS is up.
pub(crate) fn watched_after_starttls(list: &[&'static str], advertised: &[String], starttls_offered: bool) -> Vec<(&'static str, bool)> {
    let mut seen = watched(list, advertised);
    for (cap, on) in seen.iter_mut() {
        if *cap == "STARTTLS" {
            *on = starttls_offered;
        }
    }
    seen
}

/// The mailbox a mail check authenticates as, and its token source.
pub(crate) struct MailAuth {
    provider: Arc<TokenProvider>,
}

impl MailAuth {
    pub fn new(ctx: &mut BuildContext<'_>, mailbox: Option<&Arc<Mailbox>>) -> Result<Option<MailAuth>, BuildError> {
        mailbox
            .map(|m| {
                Ok(MailAuth {
                    provider: ctx.provider(m)?,
                })
            })
            .transpose()
    }

    /// Gets the mailbox's token (phase `token_request`) and returns the
    /// XOAUTH2 initial response, entering phase `auth`. Fails with
    /// `auth_mechanism_not_offered` when the server does not offer XOAUTH2.
    pub async fn initial_response(&self, probe: &mut Probe, advertised: &[String]) -> Result<(SecretString, AccessToken), Failure> {
        if !advertised.iter().any(|c| c == "AUTH=XOAUTH2") {
            return Err(Failure::new(
                Reason::AuthMechanismNotOffered,
                "the server does not offer AUTH XOAUTH2 (is OAuth enabled for the tenant, and the protocol for the mailbox?)",
            ));
        }
        let token = self.provider.token(probe).await?;
        probe.enter(Phase::Auth);
        Ok((xoauth2(&self.provider.mailbox().address, &token.secret), token))
    }

    /// Whether the token is another account's than the mailbox's own: a
    /// shared account's (`auth_user`) or an app's (client credentials, no
    /// user claim). `false` when the token says nothing (not a JWT).
    pub fn token_of_another_account(&self, token: &AccessToken) -> bool {
        let address = &self.provider.mailbox().address;
        token
            .claims
            .as_ref()
            .is_some_and(|c| c.user().is_none_or(|u| !u.eq_ignore_ascii_case(address)))
    }

    /// Adds what the token says to an authentication failure, so the log
    /// points at the likely cause (the server's text is the same for every cause).
    pub fn explain(&self, failure: Failure, token: &AccessToken) -> Failure {
        let who = token
            .claims
            .as_ref()
            .and_then(|c| c.user().map(str::to_string))
            .unwrap_or_else(|| "an app-only token".into());
        let server: String = failure.detail.chars().take(160).collect();
        // The remedy (translated) says what to do; the detail is evidence:
        // the server's words and whose token it was.
        let detail = format!("{server}; token for {who}");
        Failure::new(failure.reason, detail).with_hint(failure.hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_digits_within_bounds() {
        assert_eq!(parse_count("0"), Some(0));
        assert_eq!(parse_count("231"), Some(231));
        assert_eq!(parse_count("4294967295"), Some(MAX_COUNT));
        for bad in [
            "",
            "-1",
            "+5",
            " 5",
            "5 ",
            "4294967296",
            "99999999999999999999",
            "999999999999999999999999999999999999999999",
            "1e3",
            "\u{663}",
        ] {
            assert_eq!(parse_count(bad), None, "{bad}");
        }
    }
}
