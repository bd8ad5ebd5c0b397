//! `kind: smtp`: the dispatcher's path to Exchange Online. Greeting, EHLO,
//! STARTTLS, TLS, EHLO again inside TLS, QUIT; exports the capabilities the
//! server advertised (STARTTLS before TLS, AUTH mechanisms after it). Never
//! sends mail.

use std::sync::Arc;

use super::kind::{EceUse, KindSpec};
use crate::config::{CheckSchema, ConfigError, DynSettings, KindKeys, MailProtocol, MailboxUse};
use crate::reason::Kind;

use super::mail::{MailAuth, MailSession, MailSettings, TlsMode, mail_settings, watched, watched_after_starttls};
use super::{BoxFuture, BuildContext, BuildError, Check};
use secrecy::{ExposeSecret, SecretString};

use crate::config::CheckConfig;
use crate::observation::{Failure, Probe};
use crate::proto::BoxStream;
use crate::proto::lines::{Kept, LineStream, excerpt};
use crate::proto::smtp_replies::{SmtpStep, classify_reply};
use crate::reason::{Phase, Reason};

/// Capabilities exported as `ece_o365_capability_advertised`.
pub const WATCHED: &[&str] = &[
    "STARTTLS",
    "AUTH=XOAUTH2",
    "AUTH=OAUTHBEARER",
    "AUTH=LOGIN",
    "AUTH=PLAIN",
    "SIZE",
    "PIPELINING",
    "8BITMIME",
    "ENHANCEDSTATUSCODES",
    "SMTPUTF8",
    "CHUNKING",
];

pub const KIND: Kind = Kind::new("smtp");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &[
            "target",
            "tls",
            "server_name",
            "ca_file",
            "expected_issuer",
            "ehlo_name",
            "proxy",
            "proxy_user",
            "proxy_password",
        ],
        mailbox: MailboxUse::Optional(MailProtocol::Smtp),
        settings,
    },
    build,
    guide: super::mail::guide(EceUse::Smtp),
};

fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    Ok(Arc::new(mail_settings(keys, TlsMode::Starttls)?))
}

pub struct SmtpCheck {
    session: MailSession,
    ehlo_name: String,
    auth: Option<MailAuth>,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let settings = cfg.settings::<MailSettings>().ok_or(BuildError::Mismatch)?;
    Ok(Box::new(SmtpCheck {
        session: MailSession::new(ctx, settings)?,
        ehlo_name: settings.ehlo_name.clone().unwrap_or_else(default_ehlo_name),
        auth: MailAuth::new(ctx, cfg.mailbox.as_ref())?,
    }))
}

/// This host's name, as EHLO wants it; `localhost` when unknown.
pub(crate) fn default_ehlo_name() -> String {
    let name = std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    let name = if name.is_empty() {
        std::fs::read_to_string("/etc/hostname").unwrap_or_default()
    } else {
        name
    };
    let name = name.trim();
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        name.to_ascii_lowercase()
    } else {
        "localhost".to_string()
    }
}

/// One SMTP reply: its code and the text of its lines, as far as
/// [`Kept`] keeps them (the first line always, in excerpt).
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub(crate) fn first_line(&self) -> String {
        format!("{} {}", self.code, self.lines.first().map(String::as_str).unwrap_or(""))
    }
}

/// The most of a server's line quoted in a failure's detail (which truncates further).
const QUOTE: usize = 512;

/// Reads one (possibly multi-line) reply within the codec's limits, keeping
/// a bounded excerpt of its lines.
pub async fn read_reply(ls: &mut LineStream<BoxStream>) -> Result<Reply, Failure> {
    let mut code = None;
    let mut kept = Kept::default();
    loop {
        let line = ls.read_line().await?;
        let quoted = || excerpt(&line, QUOTE);
        let (this_code, more, text) =
            parse_reply_line(&line).ok_or_else(|| Failure::new(Reason::UnexpectedReply, format!("not an SMTP reply: {}", quoted())))?;
        if *code.get_or_insert(this_code) != this_code {
            return Err(Failure::new(
                Reason::UnexpectedReply,
                format!("reply code changed inside a multi-line reply: {}", quoted()),
            ));
        }
        kept.push(text);
        if !more {
            return Ok(Reply {
                code: this_code,
                lines: kept.into_lines(),
            });
        }
    }
}

/// `250-SIZE 1000` -> (250, true, "SIZE 1000"); `220 ok` -> (220, false, "ok").
pub fn parse_reply_line(line: &str) -> Option<(u16, bool, &str)> {
    let bytes = line.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&bytes[0]) {
        return None;
    }
    let code = line[..3].parse().ok()?;
    match bytes.get(3) {
        None => Some((code, false, "")),
        Some(b' ') => Some((code, false, &line[4..])),
        Some(b'-') => Some((code, true, &line[4..])),
        Some(_) => None,
    }
}

/// EHLO keywords, upper case, with `AUTH a b` spelled `AUTH=A`, `AUTH=B`.
pub fn ehlo_capabilities(reply: &Reply) -> Vec<String> {
    let mut caps = Vec::new();
    for line in reply.lines.iter().skip(1) {
        let mut words = line.split([' ', '=']);
        let Some(keyword) = words.next() else { continue };
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "AUTH" {
            caps.extend(words.filter(|w| !w.is_empty()).map(|m| format!("AUTH={}", m.to_ascii_uppercase())));
        } else if !keyword.is_empty() {
            caps.push(keyword);
        }
    }
    caps
}

pub(crate) async fn command(ls: &mut LineStream<BoxStream>, line: &str) -> Result<Reply, Failure> {
    ls.send_line(line).await?;
    read_reply(ls).await
}

fn expect(reply: &Reply, code: u16, otherwise: Reason, what: &str) -> Result<(), Failure> {
    if reply.code == code {
        Ok(())
    } else {
        Err(Failure::new(otherwise, format!("{what}: {}", reply.first_line())))
    }
}

/// `AUTH XOAUTH2` with the initial response (phase `auth`). Never sends
/// mail. Exchange Online answers 235 on success; on failure it may first send
/// a 334 challenge (base64 JSON), which must be answered with an empty line,
/// then `535 5.7.139` (SMTP AUTH disabled for the tenant or mailbox, or
/// blocked by security defaults: the remedy's hint says which) or `535
/// 5.7.3` (token refused); [`classify_reply`] names them.
pub async fn auth_xoauth2(ls: &mut LineStream<BoxStream>, initial_response: &SecretString) -> Result<(), Failure> {
    let mut reply = command(ls, &format!("AUTH XOAUTH2 {}", initial_response.expose_secret())).await?;
    if reply.code == 334 {
        reply = command(ls, "").await?;
    }
    if reply.code == 235 {
        return Ok(());
    }
    let (reason, hint) = classify_reply(SmtpStep::Auth, reply.code, &reply.lines).unwrap_or((Reason::UnexpectedReply, None));
    Err(Failure::new(reason, format!("AUTH XOAUTH2: {}", reply.first_line())).with_hint(hint))
}

/// EHLO, with its capabilities.
async fn ehlo(ls: &mut LineStream<BoxStream>, ehlo_name: &str) -> Result<Vec<String>, Failure> {
    let reply = command(ls, &format!("EHLO {ehlo_name}")).await?;
    expect(&reply, 250, Reason::UnexpectedReply, "EHLO refused")?;
    Ok(ehlo_capabilities(&reply))
}

/// The dispatcher's session up to where it sends: greeting, EHLO,
/// STARTTLS and EHLO again when the session wants it, and with `auth`
/// `AUTH XOAUTH2` as its mailbox. Records the capabilities it saw.
pub(crate) async fn login(
    session: &MailSession,
    ehlo_name: &str,
    auth: Option<&MailAuth>,
    probe: &mut Probe,
) -> Result<LineStream<BoxStream>, Failure> {
    let mut ls = session.open(probe).await?;
    probe.enter(Phase::Banner);
    let greeting = read_reply(&mut ls).await?;
    if greeting.code != 220 {
        let reason = if greeting.code >= 400 {
            Reason::GreetingRejected
        } else {
            Reason::UnexpectedReply
        };
        return Err(Failure::new(reason, format!("greeting: {}", greeting.first_line())));
    }
    probe.enter(Phase::Ehlo);
    let mut caps = ehlo(&mut ls, ehlo_name).await?;
    let starttls_offered = caps.iter().any(|c| c == "STARTTLS");
    probe.facts.capabilities = Some(watched(WATCHED, &caps));
    if session.wants_starttls() {
        if !starttls_offered {
            return Err(Failure::new(Reason::StarttlsNotOffered, "EHLO reply does not offer STARTTLS"));
        }
        probe.enter(Phase::Starttls);
        let reply = command(&mut ls, "STARTTLS").await?;
        expect(&reply, 220, Reason::StarttlsRejected, "STARTTLS refused")?;
        ls = session.upgrade(probe, ls).await?;
        probe.enter(Phase::EhloTls);
        caps = ehlo(&mut ls, ehlo_name).await?;
        probe.facts.capabilities = Some(watched_after_starttls(WATCHED, &caps, starttls_offered));
    }
    if let Some(auth) = auth {
        let (initial_response, token) = auth.initial_response(probe, &caps).await?;
        auth_xoauth2(&mut ls, &initial_response)
            .await
            .map_err(|f| auth.explain(f, &token))?;
    }
    Ok(ls)
}

/// QUIT (phase `quit`). The verdict is in; a server that hangs up instead
/// of saying 221 is not a failure.
pub(crate) async fn quit(ls: &mut LineStream<BoxStream>, probe: &mut Probe) {
    probe.enter(Phase::Quit);
    let _ = command(ls, "QUIT").await;
}

impl Check for SmtpCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let mut ls = login(&self.session, &self.ehlo_name, self.auth.as_ref(), probe).await?;
            quit(&mut ls, probe).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_parse() {
        assert_eq!(parse_reply_line("250-SIZE 157286400"), Some((250, true, "SIZE 157286400")));
        assert_eq!(parse_reply_line("220 ready"), Some((220, false, "ready")));
        assert_eq!(parse_reply_line("250"), Some((250, false, "")));
        for bad in ["", "25", "HTTP/1.1 400", "250_x", "099 x", "2a0 x", "600 x"] {
            assert_eq!(parse_reply_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn ehlo_keywords_normalise_auth() {
        let reply = Reply {
            code: 250,
            lines: vec![
                "mx.example Hello".into(),
                "SIZE 157286400".into(),
                "AUTH LOGIN XOAUTH2".into(),
                "AUTH=PLAIN".into(),
                "starttls".into(),
            ],
        };
        assert_eq!(
            ehlo_capabilities(&reply),
            vec!["SIZE", "AUTH=LOGIN", "AUTH=XOAUTH2", "AUTH=PLAIN", "STARTTLS"]
        );
    }
}
