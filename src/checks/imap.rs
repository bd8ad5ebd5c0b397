//! `kind: imap`: the retriever's IMAP path (993 implicit TLS, or 143 with
//! STARTTLS). Greeting, CAPABILITY, STARTTLS when asked, CAPABILITY again,
//! LOGOUT; exports IMAP4rev1, AUTH=XOAUTH2, SASL-IR, IDLE and friends.
//! With a mailbox: AUTHENTICATE XOAUTH2, then STATUS and EXAMINE of the
//! INBOX (read-only: never a flag changed) and, when it is not empty,
//! `FETCH 1 (INTERNALDATE)` for the oldest message's date. Exchange's
//! replies after login are named (`mailbox_rights_missing`, an expired
//! token's `BYE`).

use super::kind::{EceUse, KindSpec};
use crate::config::{CheckSchema, MailProtocol, MailboxUse};
use crate::reason::Kind;

use super::mail::{MailAuth, MailSession, MailSettings, parse_count, watched, watched_after_starttls};
use super::{BoxFuture, BuildContext, BuildError, Check};
use secrecy::{ExposeSecret, SecretString};

use crate::config::CheckConfig;
use crate::oauth::provider::AccessToken;
use crate::observation::{Failure, Probe};
use crate::proto::BoxStream;
use crate::proto::lines::{Kept, LineError, LineStream, excerpt};
use crate::reason::{Phase, Reason};

/// Capabilities exported as `ece_o365_capability_advertised`.
pub const WATCHED: &[&str] = &[
    "IMAP4REV1",
    "STARTTLS",
    "LOGINDISABLED",
    "AUTH=XOAUTH2",
    "AUTH=OAUTHBEARER",
    "AUTH=PLAIN",
    "SASL-IR",
    "IDLE",
];

pub const KIND: Kind = Kind::new("imap");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: super::mail::MAIL_KEYS,
        mailbox: MailboxUse::Optional(MailProtocol::Imap),
        settings: super::mail::implicit_tls_settings,
    },
    build,
    guide: super::mail::guide(EceUse::Retriever),
};

pub struct ImapCheck {
    session: MailSession,
    auth: Option<MailAuth>,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let settings = cfg.settings::<MailSettings>().ok_or(BuildError::Mismatch)?;
    Ok(Box::new(ImapCheck {
        session: MailSession::new(ctx, settings)?,
        auth: MailAuth::new(ctx, cfg.mailbox.as_ref())?,
    }))
}

/// The end of a tagged command: its status and the untagged lines before it.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    /// The tagged line's text after the status.
    pub text: String,
    /// Untagged (`* `) lines, without the `* `, literals skipped.
    pub untagged: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// The most of a server's line quoted in a failure's detail (which truncates further).
const QUOTE: usize = 512;

/// Reads lines until the tagged completion of `tag`, skipping literals
/// (`{n}`) within the codec's bounds and keeping a bounded excerpt of the
/// untagged lines.
pub async fn read_response(ls: &mut LineStream<BoxStream>, tag: &str) -> Result<Response, Failure> {
    let mut untagged = Kept::default();
    // Whether the previous line announced a literal, so this one continues it.
    let mut continues_literal = false;
    loop {
        let line = ls.read_line().await?;
        let quoted = || excerpt(&line, QUOTE);
        if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            let (status, text) =
                parse_status(rest).ok_or_else(|| Failure::new(Reason::UnexpectedReply, format!("not an IMAP status: {}", quoted())))?;
            return Ok(Response {
                status,
                text: excerpt(text, QUOTE).to_string(),
                untagged: untagged.into_lines(),
            });
        }
        let after_literal = std::mem::replace(&mut continues_literal, false);
        if let Some(n) = literal_len(&line) {
            ls.skip_bytes(n).await?;
            continues_literal = true;
        }
        match line.strip_prefix("* ") {
            Some(data) if data.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("BYE ")) => return Err(bye(data)),
            Some(data) => {
                untagged.push(data);
            }
            None if line.starts_with('+') => {
                return Err(Failure::new(
                    Reason::UnexpectedReply,
                    format!("unexpected continuation request: {}", quoted()),
                ));
            }
            // The remainder of a line after a literal: part of the previous response.
            None if after_literal => {}
            None => {
                return Err(Failure::new(Reason::UnexpectedReply, format!("not an IMAP response: {}", quoted())));
            }
        }
    }
}

/// `OK [..] text` -> (Ok, "[..] text").
pub fn parse_status(rest: &str) -> Option<(Status, &str)> {
    let (word, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = match word.to_ascii_uppercase().as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        "BAD" => Status::Bad,
        _ => return None,
    };
    Some((status, text))
}

/// The size of a literal announced at the end of a line: `... {42}` or `{42+}`.
pub fn literal_len(line: &str) -> Option<usize> {
    let inner = line.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].trim_end_matches('+').parse().ok()
}

/// Capability atoms of `* CAPABILITY ...` lines, upper case.
pub fn capabilities(untagged: &[String]) -> Vec<String> {
    untagged
        .iter()
        .filter_map(|l| {
            let (word, rest) = l.split_once(' ')?;
            word.eq_ignore_ascii_case("CAPABILITY").then_some(rest)
        })
        .flat_map(|rest| rest.split_ascii_whitespace().map(str::to_ascii_uppercase))
        .collect()
}

pub(crate) struct Tags(pub(crate) u32);

impl Tags {
    pub(crate) fn next(&mut self) -> String {
        self.0 += 1;
        format!("E{}", self.0)
    }
}

pub(crate) async fn command(ls: &mut LineStream<BoxStream>, tags: &mut Tags, command: &str) -> Result<Response, Failure> {
    let tag = tags.next();
    ls.send_line(&format!("{tag} {command}")).await?;
    read_response(ls, &tag).await
}

pub(crate) async fn capability(ls: &mut LineStream<BoxStream>, tags: &mut Tags) -> Result<Vec<String>, Failure> {
    let r = command(ls, tags, "CAPABILITY").await?;
    if r.status != Status::Ok {
        return Err(Failure::new(
            Reason::UnexpectedReply,
            format!("CAPABILITY failed: {:?} {}", r.status, r.text),
        ));
    }
    Ok(capabilities(&r.untagged))
}

/// `AUTHENTICATE XOAUTH2` (phase `auth`), with SASL-IR when the server
/// offers it, a continuation otherwise. A failed attempt gets a `+` challenge
/// (base64 JSON) answered with an empty line, then `NO`; Exchange says
/// `NO AUTHENTICATE failed.` whatever the cause, so the token's claims explain it.
pub async fn authenticate(
    ls: &mut LineStream<BoxStream>,
    tag: &str,
    initial_response: &SecretString,
    sasl_ir: bool,
) -> Result<(), Failure> {
    if sasl_ir {
        ls.send_line(&format!("{tag} AUTHENTICATE XOAUTH2 {}", initial_response.expose_secret()))
            .await?;
    } else {
        ls.send_line(&format!("{tag} AUTHENTICATE XOAUTH2")).await?;
        let line = ls.read_line().await?;
        if !line.starts_with('+') {
            return Err(Failure::new(
                Reason::AuthRejected,
                format!("AUTHENTICATE XOAUTH2: {}", excerpt(&line, QUOTE)),
            ));
        }
        ls.send_line(initial_response.expose_secret()).await?;
    }
    for _ in 0..ls.limits().max_lines {
        let line = ls.read_line().await?;
        if line.starts_with('+') {
            ls.send_line("").await?;
            continue;
        }
        if let Some(data) = line.strip_prefix("* ")
            && data.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("BYE "))
        {
            return Err(bye(data));
        }
        if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            return match parse_status(rest) {
                Some((Status::Ok, _)) => Ok(()),
                Some((status, text)) => Err(refused("AUTHENTICATE XOAUTH2", status, text, Reason::AuthRejected)),
                None => Err(Failure::new(
                    Reason::AuthRejected,
                    format!("AUTHENTICATE XOAUTH2: {}", excerpt(rest, QUOTE)),
                )),
            };
        }
    }
    Err(LineError::TooManyLines(ls.limits().max_lines).into())
}

/// `MESSAGES n` from a `STATUS INBOX (MESSAGES n UNSEEN m)` line: `Ok(None)`
/// when there is none, `Err(value)` when its value is not a sane count
/// (negative, not a number, beyond 32 bits).
pub fn status_messages(untagged: &[String]) -> Result<Option<u64>, String> {
    let Some(line) = untagged
        .iter()
        .find(|l| l.get(..7).is_some_and(|w| w.eq_ignore_ascii_case("STATUS ")))
    else {
        return Ok(None);
    };
    let Some((_, inner)) = line.rsplit_once('(') else {
        return Ok(None);
    };
    let mut words = inner.trim_end_matches(')').split_ascii_whitespace();
    while let Some(w) = words.next() {
        let Some(value) = words.next() else { break };
        if w.eq_ignore_ascii_case("MESSAGES") {
            return parse_count(value).map(Some).ok_or_else(|| excerpt(value, 40).to_string());
        }
    }
    Ok(None)
}

/// `n` from a `* n EXISTS` line (EXAMINE/SELECT): as [`status_messages`].
pub fn exists_count(untagged: &[String]) -> Result<Option<u64>, String> {
    for line in untagged {
        let mut words = line.split_ascii_whitespace();
        if let (Some(n), Some(word), None) = (words.next(), words.next(), words.next())
            && word.eq_ignore_ascii_case("EXISTS")
        {
            return parse_count(n).map(Some).ok_or_else(|| excerpt(n, 40).to_string());
        }
    }
    Ok(None)
}

/// A count that is not one: the server's reply cannot be trusted.
fn absurd(what: &str, value: &str) -> Failure {
    Failure::new(Reason::UnexpectedReply, format!("{what}: absurd message count `{value}`"))
}

/// Exchange's answer, after a successful AUTHENTICATE, when the token's
/// account has no access to the `user=` mailbox (a shared account without
/// Full Access, an app's service principal without `Add-MailboxPermission`).
const NOT_CONNECTED: &str = "authenticated but not connected";

/// A command refused with `NO`/`BAD`: `mailbox_rights_missing` when it is
/// Exchange's "User is authenticated but not connected.", `otherwise` else.
pub fn refused(what: &str, status: Status, text: &str, otherwise: Reason) -> Failure {
    let lower = excerpt(text, QUOTE).to_ascii_lowercase();
    let reason = if status == Status::Bad && lower.contains(NOT_CONNECTED) {
        Reason::MailboxRightsMissing
    } else {
        otherwise
    };
    let word = match status {
        Status::Ok => "OK",
        Status::No => "NO",
        Status::Bad => "BAD",
    };
    Failure::new(reason, format!("{what}: {word} {}", excerpt(text, QUOTE)))
}

/// A refusal after login: missing rights are explained with the token's
/// account (the log then names who lacks them); others stay as they are.
pub(crate) fn after_login(auth: &MailAuth, token: &AccessToken, failure: Failure) -> Failure {
    if failure.reason == Reason::MailboxRightsMissing {
        auth.explain(failure, token)
    } else {
        failure
    }
}

/// An untagged `BYE` (without its `* `): the server ends the session.
/// Exchange's `Session invalidated - AccessTokenExpired` means the token
/// expired inside the session: `auth_rejected`, with that detail.
pub fn bye(data: &str) -> Failure {
    let text = excerpt(data, QUOTE);
    if text.to_ascii_lowercase().contains("accesstokenexpired") {
        Failure::new(
            Reason::AuthRejected,
            format!("* {text} (AccessTokenExpired: Exchange ended the session because the access token expired)"),
        )
    } else {
        Failure::new(Reason::ConnectionClosed, format!("the server ended the session: * {text}"))
    }
}

/// The INBOX's oldest message, from `FETCH 1 (INTERNALDATE)` in the
/// read-only session: `Ok(None)` when the server gives none (the message
/// went away meanwhile, or the command was refused), an absurd date is an
/// untrustworthy reply.
async fn oldest_internaldate(ls: &mut LineStream<BoxStream>, tags: &mut Tags) -> Result<Option<i64>, Failure> {
    let r = command(ls, tags, "FETCH 1 (INTERNALDATE)").await?;
    if r.status != Status::Ok {
        tracing::debug!(status = ?r.status, text = %r.text, "FETCH 1 (INTERNALDATE) refused; oldest message unknown");
        return Ok(None);
    }
    oldest_of_fetch(&r.untagged)
}

/// The date of message 1 in a `FETCH` response's untagged lines.
pub fn oldest_of_fetch(untagged: &[String]) -> Result<Option<i64>, Failure> {
    for line in untagged {
        let mut words = line.split(' ');
        if words.next() != Some("1") || !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FETCH")) {
            continue;
        }
        match crate::proto::mail_dates::fetch_internaldate(line) {
            Some(Some(t)) => return Ok(Some(t)),
            Some(None) => {
                return Err(Failure::new(
                    Reason::UnexpectedReply,
                    format!("FETCH 1 (INTERNALDATE): absurd date in `{}`", excerpt(line, 120)),
                ));
            }
            None => {}
        }
    }
    Ok(None)
}

/// The retriever's session up to login: greeting, CAPABILITY, STARTTLS
/// and CAPABILITY again when the session wants it, and with `auth`
/// `AUTHENTICATE XOAUTH2` as its mailbox. Records the capabilities it saw;
/// returns the session, the capabilities and the token used.
pub(crate) async fn login(
    session: &MailSession,
    auth: Option<&MailAuth>,
    probe: &mut Probe,
    tags: &mut Tags,
) -> Result<(LineStream<BoxStream>, Vec<String>, Option<AccessToken>), Failure> {
    let mut ls = session.open(probe).await?;
    probe.enter(Phase::Banner);
    let greeting = ls.read_line().await?;
    let upper = excerpt(&greeting, 8).to_ascii_uppercase();
    if upper.starts_with("* BYE") {
        return Err(Failure::new(
            Reason::GreetingRejected,
            format!("greeting: {}", excerpt(&greeting, QUOTE)),
        ));
    }
    if !upper.starts_with("* OK") {
        // PREAUTH included: a session that skips authentication is not
        // what ECE expects, and STARTTLS would be impossible after it.
        return Err(Failure::new(
            Reason::UnexpectedReply,
            format!("greeting: {}", excerpt(&greeting, QUOTE)),
        ));
    }
    probe.enter(Phase::Capability);
    let mut caps = capability(&mut ls, tags).await?;
    probe.facts.capabilities = Some(watched(WATCHED, &caps));
    if session.wants_starttls() {
        let offered = caps.iter().any(|c| c == "STARTTLS");
        if !offered {
            return Err(Failure::new(Reason::StarttlsNotOffered, "CAPABILITY does not list STARTTLS"));
        }
        probe.enter(Phase::Starttls);
        let r = command(&mut ls, tags, "STARTTLS").await?;
        if r.status != Status::Ok {
            return Err(Failure::new(
                Reason::StarttlsRejected,
                format!("STARTTLS refused: {:?} {}", r.status, r.text),
            ));
        }
        ls = session.upgrade(probe, ls).await?;
        probe.enter(Phase::Capability);
        caps = capability(&mut ls, tags).await?;
        probe.facts.capabilities = Some(watched_after_starttls(WATCHED, &caps, offered));
    }
    let Some(auth) = auth else {
        return Ok((ls, caps, None));
    };
    let (initial_response, token) = auth.initial_response(probe, &caps).await?;
    let tag = tags.next();
    let sasl_ir = caps.iter().any(|c| c == "SASL-IR");
    authenticate(&mut ls, &tag, &initial_response, sasl_ir)
        .await
        .map_err(|f| auth.explain(f, &token))?;
    Ok((ls, caps, Some(token)))
}

impl Check for ImapCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            if self.auth.is_some() {
                // Unknown until read: a run that cannot read it (it failed
                // earlier, the server would not say) removes the age rather
                // than leaving a stale one that ages into a backlog alert.
                probe.facts.oldest_message = Some(("INBOX", None));
            }
            let mut tags = Tags(0);
            let (mut ls, _, token) = login(&self.session, self.auth.as_ref(), probe, &mut tags).await?;
            if let (Some(auth), Some(token)) = (&self.auth, token) {
                probe.enter(Phase::Select);
                let status = command(&mut ls, &mut tags, "STATUS INBOX (MESSAGES UNSEEN)").await?;
                if status.status != Status::Ok {
                    return Err(after_login(
                        auth,
                        &token,
                        refused("STATUS INBOX", status.status, &status.text, Reason::MailboxNotFound),
                    ));
                }
                let messages = status_messages(&status.untagged).map_err(|v| absurd("STATUS INBOX", &v))?;
                if let Some(n) = messages {
                    probe.facts.mailbox_messages = Some(("INBOX", n));
                }
                // Read-only: the agent never changes a flag ECE relies on.
                let examine = command(&mut ls, &mut tags, "EXAMINE INBOX").await?;
                if examine.status != Status::Ok {
                    return Err(after_login(
                        auth,
                        &token,
                        refused("EXAMINE INBOX", examine.status, &examine.text, Reason::MailboxNotFound),
                    ));
                }
                let exists = exists_count(&examine.untagged).map_err(|v| absurd("EXAMINE INBOX", &v))?;
                if let (None, Some(n)) = (messages, exists) {
                    probe.facts.mailbox_messages = Some(("INBOX", n));
                }
                // The backlog's age: message 1 is the oldest to arrive.
                match exists.or(messages) {
                    Some(0) => probe.facts.oldest_message = Some(("INBOX", None)),
                    Some(_) => {
                        if let Some(t) = oldest_internaldate(&mut ls, &mut tags).await? {
                            probe.facts.oldest_message = Some(("INBOX", Some(t)));
                        }
                    }
                    None => {}
                }
            }
            probe.enter(Phase::Quit);
            let _ = command(&mut ls, &mut tags, "LOGOUT").await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_literals_parse() {
        assert_eq!(
            parse_status("OK CAPABILITY completed."),
            Some((Status::Ok, "CAPABILITY completed."))
        );
        assert_eq!(parse_status("no AUTHENTICATE failed."), Some((Status::No, "AUTHENTICATE failed.")));
        assert_eq!(parse_status("MAYBE"), None);
        assert_eq!(literal_len("* 1 FETCH (BODY[] {42}"), Some(42));
        assert_eq!(literal_len("* X {7+}"), Some(7));
        assert_eq!(literal_len("* OK {x}"), None);
        assert_eq!(literal_len("* OK fine"), None);
    }

    #[test]
    fn status_counts_messages() {
        assert_eq!(status_messages(&["STATUS INBOX (MESSAGES 231 UNSEEN 5)".into()]), Ok(Some(231)));
        assert_eq!(status_messages(&["STATUS \"INBOX\" (UNSEEN 5 MESSAGES 7)".into()]), Ok(Some(7)));
        assert_eq!(status_messages(&["STATUS INBOX (UNSEEN 5)".into()]), Ok(None));
        assert_eq!(status_messages(&["CAPABILITY IMAP4rev1".into()]), Ok(None));
        assert_eq!(status_messages(&["ST\u{e9}".into()]), Ok(None));
    }

    #[test]
    fn absurd_counts_are_refused_not_wrapped() {
        for bad in ["99999999999999999999", "-1", "+3", "4294967296", "x"] {
            let line = format!("STATUS INBOX (MESSAGES {bad} UNSEEN 0)");
            assert_eq!(status_messages(&[line]), Err(bad.to_string()), "{bad}");
            assert_eq!(exists_count(&[format!("{bad} EXISTS")]), Err(bad.to_string()), "{bad}");
        }
        let examine = ["FLAGS (\\Seen)".to_string(), "172 EXISTS".into(), "1 RECENT".into()];
        assert_eq!(exists_count(&examine), Ok(Some(172)));
        assert_eq!(exists_count(&["OK [UIDVALIDITY 14] ok".into()]), Ok(None));
        assert_eq!(absurd("STATUS INBOX", "-1").reason, Reason::UnexpectedReply);
    }

    #[test]
    fn exchange_refusals_after_login_are_named() {
        let f = refused(
            "STATUS INBOX",
            Status::Bad,
            "User is authenticated but not connected.",
            Reason::MailboxNotFound,
        );
        assert_eq!(f.reason, Reason::MailboxRightsMissing);
        assert_eq!(f.detail, "STATUS INBOX: BAD User is authenticated but not connected.");
        let f = refused(
            "STATUS INBOX",
            Status::No,
            "Mailbox does not exist or access is denied.",
            Reason::MailboxNotFound,
        );
        assert_eq!(f.reason, Reason::MailboxNotFound);
        // The same words with NO are not Exchange's answer.
        let f = refused("X", Status::No, "User is authenticated but not connected.", Reason::AuthRejected);
        assert_eq!(f.reason, Reason::AuthRejected);

        let f = bye("BYE Session invalidated - AccessTokenExpired");
        assert_eq!(f.reason, Reason::AuthRejected);
        assert!(f.detail.contains("AccessTokenExpired"), "{f}");
        assert_eq!(bye("BYE Connection closed. 14").reason, Reason::ConnectionClosed);
    }

    #[test]
    fn the_oldest_date_is_message_ones() {
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            oldest_of_fetch(&lines(&[
                "2 FETCH (INTERNALDATE \"01-Jan-2020 00:00:00 +0000\")",
                "1 FETCH (INTERNALDATE \"03-Dec-2026 10:00:00 +0000\")"
            ])),
            Ok(Some(1_796_292_000))
        );
        assert_eq!(oldest_of_fetch(&lines(&["1 FETCH (FLAGS (\\Seen))"])), Ok(None));
        assert_eq!(oldest_of_fetch(&lines(&["1 EXPUNGE"])), Ok(None));
        let absurd = oldest_of_fetch(&lines(&["1 FETCH (INTERNALDATE \"31-Feb-2026 00:00:00 +0000\")"]));
        assert_eq!(absurd.map_err(|f| f.reason), Err(Reason::UnexpectedReply));
    }

    #[test]
    fn capability_atoms_are_upper_cased() {
        let caps = capabilities(&["CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR idle".into(), "OK whatever".into()]);
        assert_eq!(caps, vec!["IMAP4REV1", "AUTH=XOAUTH2", "SASL-IR", "IDLE"]);
    }
}
