//! `kind: pop3`: the retriever's POP3 path (995 implicit TLS, or 110 with
//! STLS). Greeting, CAPA, STLS when asked, CAPA again, QUIT (which deletes
//! nothing: no message was marked). With a mailbox: AUTH XOAUTH2, STAT and,
//! when the maildrop is not empty, `TOP 1 0` for the oldest message's first
//! `Received:` date (read-only: RETR, DELE are never sent). `STLS` is exported as `STARTTLS` and
//! `SASL` mechanisms as `AUTH=<MECH>`, so dashboards read the same across
//! protocols.

use super::kind::{EceUse, KindSpec};
use crate::config::{CheckSchema, MailProtocol, MailboxUse};
use crate::reason::Kind;

use super::mail::{MailAuth, MailSession, MailSettings, parse_count, watched, watched_after_starttls};
use super::{BoxFuture, BuildContext, BuildError, Check};
use secrecy::{ExposeSecret, SecretString};

use crate::config::CheckConfig;
use crate::observation::{Failure, Probe};
use crate::proto::BoxStream;
use crate::proto::lines::{Kept, LineStream, excerpt};
use crate::reason::{Phase, Reason};

/// Capabilities exported as `ece_o365_capability_advertised`.
pub const WATCHED: &[&str] = &[
    "STARTTLS",
    "AUTH=XOAUTH2",
    "AUTH=OAUTHBEARER",
    "AUTH=PLAIN",
    "USER",
    "UIDL",
    "TOP",
    "PIPELINING",
];

pub const KIND: Kind = Kind::new("pop3");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: super::mail::MAIL_KEYS,
        mailbox: MailboxUse::Optional(MailProtocol::Pop3),
        settings: super::mail::implicit_tls_settings,
    },
    build,
    guide: super::mail::guide(EceUse::Retriever),
};

pub struct Pop3Check {
    session: MailSession,
    auth: Option<MailAuth>,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let settings = cfg.settings::<MailSettings>().ok_or(BuildError::Mismatch)?;
    Ok(Box::new(Pop3Check {
        session: MailSession::new(ctx, settings)?,
        auth: MailAuth::new(ctx, cfg.mailbox.as_ref())?,
    }))
}

/// The most of a server's line quoted in a failure's detail (which truncates further).
const QUOTE: usize = 512;

/// Reads a `+OK`/`-ERR` status line: Ok(text) or Err(text), the text in excerpt.
pub async fn read_status(ls: &mut LineStream<BoxStream>) -> Result<Result<String, String>, Failure> {
    let line = ls.read_line().await?;
    parse_status(excerpt(&line, QUOTE))
        .ok_or_else(|| Failure::new(Reason::UnexpectedReply, format!("not a POP3 status: {}", excerpt(&line, QUOTE))))
}

pub fn parse_status(line: &str) -> Option<Result<String, String>> {
    if let Some(rest) = line.strip_prefix("+OK") {
        Some(Ok(rest.trim_start().to_string()))
    } else {
        line.strip_prefix("-ERR").map(|rest| Err(rest.trim_start().to_string()))
    }
}

/// Reads the body of a multi-line response up to the lone `.`, undoing
/// dot-stuffing; the codec bounds the reply, [`Kept`] what stays of it.
pub async fn read_multiline(ls: &mut LineStream<BoxStream>) -> Result<Vec<String>, Failure> {
    let mut kept = Kept::default();
    loop {
        let line = ls.read_line().await?;
        if line == "." {
            return Ok(kept.into_lines());
        }
        kept.push(line.strip_prefix('.').unwrap_or(&line));
    }
}

/// CAPA lines to normalised capabilities.
pub fn capabilities(lines: &[String]) -> Vec<String> {
    let mut caps = Vec::new();
    for line in lines {
        let mut words = line.split_ascii_whitespace();
        let Some(keyword) = words.next() else { continue };
        match keyword.to_ascii_uppercase().as_str() {
            "STLS" => caps.push("STARTTLS".to_string()),
            "SASL" => caps.extend(words.map(|m| format!("AUTH={}", m.to_ascii_uppercase()))),
            other => caps.push(other.to_string()),
        }
    }
    caps
}

/// CAPA; a server without CAPA (RFC 2449 is optional) advertises nothing.
async fn capa(ls: &mut LineStream<BoxStream>) -> Result<Vec<String>, Failure> {
    ls.send_line("CAPA").await?;
    match read_status(ls).await? {
        Ok(_) => Ok(capabilities(&read_multiline(ls).await?)),
        Err(_) => Ok(Vec::new()),
    }
}

/// `AUTH XOAUTH2` with the initial response (RFC 5034), phase `auth`. A
/// failure may first get a `+` challenge, answered with an empty line; then
/// `-ERR` (Exchange: `-ERR Authentication failure`).
pub async fn auth_xoauth2(ls: &mut LineStream<BoxStream>, initial_response: &SecretString) -> Result<(), Failure> {
    ls.send_line(&format!("AUTH XOAUTH2 {}", initial_response.expose_secret())).await?;
    let mut line = ls.read_line().await?;
    if line.starts_with('+') && !line.starts_with("+OK") {
        ls.send_line("").await?;
        line = ls.read_line().await?;
    }
    match parse_status(&line) {
        Some(Ok(_)) => Ok(()),
        Some(Err(text)) => Err(Failure::new(Reason::AuthRejected, format!("AUTH XOAUTH2: -ERR {text}"))),
        None => Err(Failure::new(
            Reason::UnexpectedReply,
            format!("AUTH XOAUTH2: {}", excerpt(&line, QUOTE)),
        )),
    }
}

/// `STAT` -> the number of messages in the maildrop (nothing is marked or deleted).
pub async fn stat(ls: &mut LineStream<BoxStream>) -> Result<u64, Failure> {
    ls.send_line("STAT").await?;
    match read_status(ls).await? {
        // `+OK nn mm`: messages and octets; a count that is not one (negative,
        // absurd, missing) makes the reply untrustworthy.
        Ok(text) => stat_count(&text).ok_or_else(|| Failure::new(Reason::UnexpectedReply, format!("STAT: +OK {text}"))),
        Err(text) => Err(Failure::new(Reason::MailboxNotFound, format!("STAT: -ERR {text}"))),
    }
}

/// Exchange's `-ERR Logon failure: unknown user name or bad password.`
/// to a token it accepted as a token: for a token of another account than
/// the mailbox (a shared account, an app), that account has no rights on
/// the mailbox: `mailbox_rights_missing`. Any other failure stays as it is.
pub fn rights_missing(failure: Failure, token_of_another_account: bool) -> Failure {
    if failure.reason == Reason::AuthRejected && token_of_another_account && failure.detail.contains("Logon failure") {
        Failure::new(Reason::MailboxRightsMissing, failure.detail)
    } else {
        failure
    }
}

/// `TOP 1 0`: message 1's header, whose first `Received:` header dates its
/// arrival. `Ok(None)`: the server does not say (TOP refused, no
/// `Received:`), so the age is unknown. An absurd date is an untrustworthy reply.
async fn oldest_received(ls: &mut LineStream<BoxStream>) -> Result<Option<i64>, Failure> {
    ls.send_line("TOP 1 0").await?;
    if let Err(text) = read_status(ls).await? {
        tracing::debug!(%text, "TOP 1 0 refused; oldest message unknown");
        return Ok(None);
    }
    let header = read_multiline(ls).await?;
    match crate::proto::mail_dates::first_received_date(&header) {
        Some(Some(t)) => Ok(Some(t)),
        Some(None) => Err(Failure::new(
            Reason::UnexpectedReply,
            "TOP 1 0: the first Received: header has no valid date",
        )),
        None => Ok(None),
    }
}

/// The message count of a `STAT` reply's text (`nn mm`).
pub fn stat_count(text: &str) -> Option<u64> {
    parse_count(text.split_ascii_whitespace().next()?)
}

impl Check for Pop3Check {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            if self.auth.is_some() {
                // Unknown until read: a run that cannot read it (it failed
                // earlier, the server would not say) removes the age rather
                // than leaving a stale one that ages into a backlog alert.
                probe.facts.oldest_message = Some(("INBOX", None));
            }
            let mut ls = self.session.open(probe).await?;
            probe.enter(Phase::Banner);
            if let Err(text) = read_status(&mut ls).await? {
                return Err(Failure::new(Reason::GreetingRejected, format!("greeting: -ERR {text}")));
            }
            probe.enter(Phase::Capability);
            let mut caps = capa(&mut ls).await?;
            probe.facts.capabilities = Some(watched(WATCHED, &caps));
            if self.session.wants_starttls() {
                let offered = caps.iter().any(|c| c == "STARTTLS");
                if !offered {
                    return Err(Failure::new(Reason::StarttlsNotOffered, "CAPA does not list STLS"));
                }
                probe.enter(Phase::Starttls);
                ls.send_line("STLS").await?;
                if let Err(text) = read_status(&mut ls).await? {
                    return Err(Failure::new(Reason::StarttlsRejected, format!("STLS refused: -ERR {text}")));
                }
                ls = self.session.upgrade(probe, ls).await?;
                probe.enter(Phase::Capability);
                caps = capa(&mut ls).await?;
                probe.facts.capabilities = Some(watched_after_starttls(WATCHED, &caps, offered));
            }
            if let Some(auth) = &self.auth {
                let (initial_response, token) = auth.initial_response(probe, &caps).await?;
                auth_xoauth2(&mut ls, &initial_response)
                    .await
                    .map_err(|f| rights_missing(f, auth.token_of_another_account(&token)))
                    .map_err(|f| auth.explain(f, &token))?;
                probe.enter(Phase::Select);
                let count = stat(&mut ls).await?;
                probe.facts.mailbox_messages = Some(("INBOX", count));
                if count == 0 {
                    probe.facts.oldest_message = Some(("INBOX", None));
                } else if let Some(t) = oldest_received(&mut ls).await? {
                    probe.facts.oldest_message = Some(("INBOX", Some(t)));
                }
            }
            probe.enter(Phase::Quit);
            ls.send_line("QUIT").await.ok();
            let _ = read_status(&mut ls).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            parse_status("+OK The Microsoft Exchange POP3 service is ready."),
            Some(Ok("The Microsoft Exchange POP3 service is ready.".into()))
        );
        assert_eq!(
            parse_status("-ERR Authentication failure"),
            Some(Err("Authentication failure".into()))
        );
        assert_eq!(parse_status("* OK imap"), None);
    }

    #[test]
    fn stat_counts_are_checked() {
        assert_eq!(stat_count("2 320"), Some(2));
        assert_eq!(stat_count("0 0"), Some(0));
        for bad in ["", "-1 0", "99999999999999999999 0", "4294967296 1", "+2 1", "two 1"] {
            assert_eq!(stat_count(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_logon_failure_is_missing_rights_only_for_another_accounts_token() {
        let logon = || {
            Failure::new(
                Reason::AuthRejected,
                "AUTH XOAUTH2: -ERR Logon failure: unknown user name or bad password.",
            )
        };
        assert_eq!(rights_missing(logon(), true).reason, Reason::MailboxRightsMissing);
        assert_eq!(rights_missing(logon(), false).reason, Reason::AuthRejected);
        let other = Failure::new(Reason::AuthRejected, "AUTH XOAUTH2: -ERR Authentication failure");
        assert_eq!(rights_missing(other, true).reason, Reason::AuthRejected);
        let session = Failure::new(Reason::ConnectionClosed, "Logon failure");
        assert_eq!(rights_missing(session, true).reason, Reason::ConnectionClosed);
    }

    #[test]
    fn capa_normalises_stls_and_sasl() {
        let caps = capabilities(&[
            "TOP".into(),
            "UIDL".into(),
            "SASL PLAIN XOAUTH2".into(),
            "STLS".into(),
            "USER".into(),
        ]);
        assert_eq!(caps, vec!["TOP", "UIDL", "AUTH=PLAIN", "AUTH=XOAUTH2", "STARTTLS", "USER"]);
    }
}
