//! `kind: mailflow` (opt-in): mail flow as ECE does it. Sends one small
//! plain-text message as ECE's mailbox (SMTP AUTH XOAUTH2 with its token,
//! `MAIL FROM` its address: the dispatcher's path), then reads a probe
//! mailbox over IMAP with that mailbox's own token until the message
//! arrives, records the delivery time, and deletes the message.
//!
//! Owns the message's shape (its `X-ECE-O365-Exporter-Probe` header names
//! the check, this host and the run) and the rules an Exchange
//! administrator expects of such a client: at most one message per run;
//! delete only messages carrying this check's and this host's header (its
//! own late arrivals included), verified header by header, never anything
//! else; a log line for each message sent and removed. It must not read or
//! touch a mailbox ECE retrieves from: the loader refuses such a `to`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::imap::{self, Status, Tags};
use super::kind::{EceUse, KindSpec};
use super::mail::{MailAuth, MailSession, MailSettings, TlsMode, mail_settings, parse_count};
use super::smtp::{self, Reply};
use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{
    CheckConfig, CheckSchema, ConfigError, DynSettings, KindKeys, KindSettings, Loc, MailProtocol, Mailbox, MailboxUse, Proxy, Target,
};
use crate::observation::{Failure, Probe};
use crate::proto::BoxStream;
use crate::proto::lines::{LineStream, excerpt};
use crate::proto::smtp_replies::{SmtpStep, classify_reply};
use crate::reason::{Kind, Phase, Reason};

pub const KIND: Kind = Kind::new("mailflow");

/// The header that marks a test message: `<check>/<host>.<run>`.
pub const PROBE_HEADER: &str = "X-ECE-O365-Exporter-Probe";

/// The shortest interval allowed: each run sends a message.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The shortest timeout allowed: it includes waiting for delivery.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of the timeout kept for the cleanup after the wait.
const CLEANUP_RESERVE: Duration = Duration::from_secs(20);
/// The first wait between two searches, doubled up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_secs(1);
const MAX_POLL: Duration = Duration::from_secs(15);
/// The most test messages one run deletes (its own and earlier late ones).
const MAX_CLEANUP: usize = 50;

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
            "to",
            "receive_target",
            "receive_tls",
            "receive_server_name",
        ],
        mailbox: MailboxUse::Optional(MailProtocol::Smtp),
        settings,
    },
    build,
    guide: super::mail::guide(EceUse::Smtp),
};

/// The settings of a `mailflow` check.
#[derive(Clone, Debug)]
pub struct MailflowSettings {
    /// The submission side (the dispatcher's: `target`, `tls`, ...).
    pub send: MailSettings,
    /// The IMAP side (`receive_target`, `receive_tls`, `receive_server_name`;
    /// `ca_file`, `expected_issuer` and the proxy as the submission side's).
    pub receive: MailSettings,
    /// The probe mailbox the message is sent to and read from.
    pub to: Arc<Mailbox>,
    to_loc: Loc,
}

/// Where `to` is written does not count: a reload that only moves the check keeps it running.
impl PartialEq for MailflowSettings {
    fn eq(&self, other: &Self) -> bool {
        self.send == other.send && self.receive == other.receive && self.to == other.to
    }
}

impl KindSettings for MailflowSettings {
    fn endpoint(&self) -> Option<&Target> {
        Some(&self.send.target)
    }

    fn proxy(&self) -> Option<&Proxy> {
        self.send.proxy.as_ref()
    }

    fn probe_mailbox(&self) -> Option<(&str, &'static str, Loc)> {
        Some((&self.to.name, "to", self.to_loc))
    }
}

/// An address that can stand in `MAIL FROM:<...>`/`RCPT TO:<...>` and a header as it is.
fn plain_address(address: &str) -> bool {
    !address.is_empty() && address.chars().all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"".contains(c))
}

fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    let Some(sender) = keys.mailbox().cloned() else {
        return Err(keys.missing(
            "mailbox",
            "a mailflow check needs `mailbox: NAME`: ECE's mailbox the message is sent as",
        ));
    };
    let (interval, interval_loc) = keys.interval();
    if interval < MIN_INTERVAL {
        return Err(keys.error(
            interval_loc,
            "interval",
            format!(
                "a mailflow check sends a message each run: its interval must be at least {} (it is {})",
                humantime::format_duration(MIN_INTERVAL),
                humantime::format_duration(interval)
            ),
        ));
    }
    let (timeout, timeout_loc) = keys.timeout();
    if timeout < MIN_TIMEOUT {
        return Err(keys.error(
            timeout_loc,
            "timeout",
            format!(
                "a mailflow check waits for its message within its timeout: set `timeout:` to at least {} (5m is usual; it is {})",
                humantime::format_duration(MIN_TIMEOUT),
                humantime::format_duration(timeout)
            ),
        ));
    }
    let (to, to_loc) = keys.mailbox_named("to")?;
    if to.name == sender.name {
        return Err(keys.error(
            to_loc,
            "to",
            format!(
                "`to` must be another mailbox than `mailbox` (`{}`): a probe mailbox ECE never retrieves from",
                sender.name
            ),
        ));
    }
    if !to.protocols.contains(&MailProtocol::Imap) {
        return Err(keys.error(
            to_loc,
            "to",
            format!(
                "mailbox `{}` does not list imap in its protocols: the check reads it over IMAP",
                to.name
            ),
        ));
    }
    for (m, key) in [(&sender, "mailbox"), (&to, "to")] {
        if !plain_address(&m.address) {
            let message = format!(
                "the address of mailbox `{}` cannot be used in a test message as it is written",
                m.name
            );
            return Err(if key == "to" {
                keys.error(to_loc, key, message)
            } else {
                keys.missing(key, message)
            });
        }
    }
    let receive_tls = keys.take::<TlsMode>("receive_tls")?.map_or(TlsMode::Implicit, |(m, _)| m);
    let receive_server_name = keys.server_name_at("receive_server_name")?;
    let receive_target = keys.target_at("receive_target")?;
    let send = mail_settings(keys, TlsMode::Starttls)?;
    let mut receive_tls_settings = send.tls.clone();
    receive_tls_settings.server_name = receive_server_name;
    let receive = MailSettings {
        target: receive_target,
        mode: receive_tls,
        tls: receive_tls_settings,
        ehlo_name: None,
        proxy: send.proxy.clone(),
    };
    Ok(Arc::new(MailflowSettings { send, receive, to, to_loc }))
}

pub struct MailflowCheck {
    name: String,
    send: MailSession,
    receive: MailSession,
    ehlo_name: String,
    sender: MailAuth,
    from: String,
    to: String,
    /// The probe mailbox's configured name, for the guide when it fails.
    to_name: Arc<str>,
    receiver: MailAuth,
    /// This host, as the header names it: a run deletes only the late
    /// arrivals of its own host, never another agent's messages.
    host: String,
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let settings = cfg.settings::<MailflowSettings>().ok_or(BuildError::Mismatch)?;
    let sender = cfg.mailbox.as_ref().ok_or(BuildError::Mismatch)?;
    let host = this_host();
    Ok(Box::new(MailflowCheck {
        name: cfg.name.clone(),
        send: MailSession::new(ctx, &settings.send)?,
        receive: MailSession::new(ctx, &settings.receive)?,
        ehlo_name: settings.send.ehlo_name.clone().unwrap_or_else(|| host.clone()),
        sender: MailAuth::new(ctx, Some(sender))?.ok_or(BuildError::Mismatch)?,
        from: sender.address.clone(),
        to: settings.to.address.clone(),
        to_name: Arc::from(settings.to.name.as_str()),
        receiver: MailAuth::new(ctx, Some(&settings.to))?.ok_or(BuildError::Mismatch)?,
        host,
    }))
}

/// This host's name as the test messages carry it (the EHLO name's rule:
/// the computer's name, lower case, or `localhost`).
pub fn this_host() -> String {
    smtp::default_ehlo_name()
}

/// Runs in this process, for unique run ids even within one second.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// One run's test message.
struct TestMessage {
    /// The header's value: `<check>/<host>.<run>`.
    marker: String,
    message_id: String,
    subject: String,
    text: String,
}

impl MailflowCheck {
    /// What this check's and this host's messages' markers start with.
    fn own_prefix(&self) -> String {
        format!("{}/{}.", self.name, self.host)
    }

    fn message(&self, now: std::time::SystemTime) -> TestMessage {
        let unix = crate::clock::unix_seconds(now);
        let run = format!("{}.{:x}.{:x}", unix, RUNS.fetch_add(1, Ordering::Relaxed), rand::random::<u32>());
        let marker = format!("{}{run}", self.own_prefix());
        let domain = self.from.rsplit_once('@').map_or("localhost", |(_, d)| d);
        let message_id = format!("<ece-o365-exporter.{}.{run}@{domain}>", self.host);
        let subject = format!("ECE mail flow test {} {run}", self.name);
        let text = [
            format!("From: <{}>", self.from),
            format!("To: <{}>", self.to),
            format!("Subject: {subject}"),
            format!("Date: {}", rfc5322_date(unix)),
            format!("Message-ID: {message_id}"),
            format!("{PROBE_HEADER}: {marker}"),
            "Auto-Submitted: auto-generated".to_string(),
            "MIME-Version: 1.0".to_string(),
            "Content-Type: text/plain; charset=us-ascii".to_string(),
            "Content-Transfer-Encoding: 7bit".to_string(),
            String::new(),
            format!(
                "A test message from ece-o365-exporter's mail flow check \"{}\" on {}.",
                self.name, self.host
            ),
            format!("It was sent as {} to {} to measure delivery,", self.from, self.to),
            "and the check deletes it as soon as it arrives.".to_string(),
        ]
        .join("\r\n");
        TestMessage {
            marker,
            message_id,
            subject,
            text,
        }
    }

    /// Phase `submit`: `MAIL FROM`, `RCPT TO`, `DATA`, the message and its
    /// final dot; Exchange's refusals are named by [`classify_reply`].
    async fn submit(&self, ls: &mut LineStream<BoxStream>, message: &TestMessage) -> Result<(), Failure> {
        let mail_from = smtp::command(ls, &format!("MAIL FROM:<{}>", self.from)).await?;
        accepted(&mail_from, &[250], SmtpStep::MailFrom, "MAIL FROM")?;
        let rcpt = smtp::command(ls, &format!("RCPT TO:<{}>", self.to)).await?;
        accepted(&rcpt, &[250, 251], SmtpStep::RcptTo, "RCPT TO")?;
        let data = smtp::command(ls, "DATA").await?;
        accepted(&data, &[354], SmtpStep::Data, "DATA")?;
        let mut body = String::with_capacity(message.text.len() + 64);
        for line in message.text.split("\r\n") {
            // Dot-stuffing (RFC 5321 section 4.5.2).
            if line.starts_with('.') {
                body.push('.');
            }
            body.push_str(line);
            body.push_str("\r\n");
        }
        body.push('.');
        let end = smtp::command(ls, &body).await?;
        accepted(&end, &[250], SmtpStep::Data, "end of message")
    }
}

/// `Ok` for one of `codes`, else the reason Exchange's reply names.
fn accepted(reply: &Reply, codes: &[u16], step: SmtpStep, what: &str) -> Result<(), Failure> {
    if codes.contains(&reply.code) {
        return Ok(());
    }
    let (reason, hint) = classify_reply(step, reply.code, &reply.lines).unwrap_or((Reason::UnexpectedReply, None));
    Err(Failure::new(reason, format!("{what}: {}", reply.first_line())).with_hint(hint))
}

/// `Thu, 03 Dec 2026 10:00:00 +0000` (RFC 5322 section 3.3), in UTC.
pub fn rfc5322_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = crate::clock::civil_date(unix);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[unix.div_euclid(86_400).rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The UIDs of a `UID SEARCH` response (`* SEARCH 3 7`), at most 50 (what one run deletes).
pub fn search_uids(untagged: &[String]) -> Vec<u64> {
    untagged
        .iter()
        .filter_map(|l| l.strip_prefix("SEARCH").or_else(|| l.strip_prefix("search")))
        .flat_map(|rest| rest.split_ascii_whitespace())
        .filter_map(parse_count)
        .filter(|uid| *uid > 0)
        .take(MAX_CLEANUP)
        .collect()
}

/// `HEADER` search text: the marker quoted (it has no `"` or `\`).
fn header_search(value: &str) -> String {
    format!("UID SEARCH HEADER {PROBE_HEADER} \"{value}\"")
}

/// The marker in a fetched header block (`X-ECE-O365-Exporter-Probe: v`,
/// possibly folded), if it has one.
pub fn marker_of(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut value: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if let Some(v) = value.as_mut()
            && line.starts_with([' ', '\t'])
        {
            v.push_str(line.trim());
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((name, v)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case(PROBE_HEADER)
        {
            value = Some(v.trim().to_string());
        }
    }
    value
}

/// `UID n` in a FETCH line.
fn uid_in(line: &str) -> Option<u64> {
    let mut words = line.split([' ', '(', ')']);
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("UID") {
            return words.next().and_then(parse_count);
        }
    }
    None
}

/// `UID FETCH uids (UID BODY.PEEK[HEADER.FIELDS (X-ECE-O365-Exporter-Probe)])`:
/// each message's UID and marker. Never sets `\Seen` (`PEEK`).
pub(crate) async fn fetch_markers(ls: &mut LineStream<BoxStream>, tags: &mut Tags, uids: &[u64]) -> Result<Vec<(u64, String)>, Failure> {
    let set: Vec<String> = uids.iter().map(u64::to_string).collect();
    let tag = tags.next();
    ls.send_line(&format!(
        "{tag} UID FETCH {} (UID BODY.PEEK[HEADER.FIELDS ({PROBE_HEADER})])",
        set.join(",")
    ))
    .await?;
    // One entry per FETCH response: its UID (in the line or after the
    // literal) and the marker of its literal.
    let mut found: Vec<(Option<u64>, Option<String>)> = Vec::new();
    for _ in 0..ls.limits().max_lines {
        let line = ls.read_line().await?;
        if let Some(rest) = line.strip_prefix(&tag).and_then(|r| r.strip_prefix(' ')) {
            return match imap::parse_status(rest) {
                Some((Status::Ok, _)) => Ok(found.into_iter().filter_map(|(u, m)| Some((u?, m?))).collect()),
                Some((status, text)) => Err(imap::refused("UID FETCH", status, text, Reason::CleanupFailed)),
                None => Err(Failure::new(Reason::UnexpectedReply, format!("UID FETCH: {}", excerpt(rest, 200)))),
            };
        }
        let is_fetch = line.starts_with("* ") && line.split(' ').nth(2).is_some_and(|w| w.eq_ignore_ascii_case("FETCH"));
        if is_fetch {
            found.push((uid_in(&line), None));
        } else if let Some(last) = found.last_mut()
            && last.0.is_none()
        {
            // The rest of a response after its literal.
            last.0 = uid_in(&line);
        }
        if let Some(n) = imap::literal_len(&line) {
            if n <= ls.limits().max_line {
                let header = ls.read_bytes(n).await?;
                if is_fetch && let Some(last) = found.last_mut() {
                    last.1 = marker_of(&header);
                }
            } else {
                ls.skip_bytes(n).await?;
            }
        }
    }
    Err(crate::proto::lines::LineError::TooManyLines(ls.limits().max_lines).into())
}

/// A tagged command that must end in `OK`; else `otherwise`, with the server's words.
async fn must(ls: &mut LineStream<BoxStream>, tags: &mut Tags, line: &str, otherwise: Reason) -> Result<imap::Response, Failure> {
    let r = imap::command(ls, tags, line).await?;
    if r.status == Status::Ok {
        Ok(r)
    } else {
        let what = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
        Err(imap::refused(&what, r.status, &r.text, otherwise))
    }
}

impl MailflowCheck {
    /// Phase `deliver`: searches the INBOX for this run's marker, with a
    /// growing wait between searches, until it is there or `give_up`.
    async fn wait_for(
        &self,
        ls: &mut LineStream<BoxStream>,
        tags: &mut Tags,
        marker: &str,
        give_up: tokio::time::Instant,
    ) -> Result<(), Failure> {
        let mut wait = FIRST_POLL;
        let mut searches = 0u32;
        loop {
            let r = must(ls, tags, &header_search(marker), Reason::UnexpectedReply).await?;
            searches += 1;
            if !search_uids(&r.untagged).is_empty() {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            if now >= give_up {
                return Err(Failure::new(
                    Reason::MessageNotDelivered,
                    format!(
                        "the test message ({PROBE_HEADER}: {marker}) was not in {}'s INBOX after {searches} searches",
                        self.to
                    ),
                ));
            }
            tokio::time::sleep_until((now + wait).min(give_up)).await;
            wait = (wait * 2).min(MAX_POLL);
        }
    }

    /// Phase `cleanup`: deletes every message of this check and host (this
    /// run's and earlier late arrivals), each one's marker verified first.
    async fn clean_up(&self, ls: &mut LineStream<BoxStream>, tags: &mut Tags, caps: &[String], marker: &str) -> Result<(), Failure> {
        let prefix = self.own_prefix();
        let r = must(ls, tags, &header_search(&prefix), Reason::CleanupFailed).await?;
        let candidates = search_uids(&r.untagged);
        if candidates.is_empty() {
            return Ok(());
        }
        let ours: Vec<(u64, String)> = fetch_markers(ls, tags, &candidates)
            .await?
            .into_iter()
            .filter(|(_, m)| m.strip_prefix(&prefix).is_some_and(|run| !run.is_empty()))
            .collect();
        if ours.is_empty() {
            return Ok(());
        }
        let set: Vec<String> = ours.iter().map(|(u, _)| u.to_string()).collect();
        let set = set.join(",");
        must(
            ls,
            tags,
            &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
            Reason::CleanupFailed,
        )
        .await?;
        if !caps.iter().any(|c| c == "UIDPLUS") {
            return Err(Failure::new(
                Reason::CleanupFailed,
                format!(
                    "the server does not offer UIDPLUS: the test messages (UIDs {set}) are flagged \\Deleted but not expunged, as a plain EXPUNGE could remove other messages"
                ),
            ));
        }
        must(ls, tags, &format!("UID EXPUNGE {set}"), Reason::CleanupFailed).await?;
        for (uid, m) in &ours {
            let late = if m == marker { "" } else { " (a late arrival of an earlier run)" };
            tracing::info!(check = %self.name, mailbox = %self.to, uid, marker = %m, "mail flow: deleted the test message{late}");
        }
        Ok(())
    }
}

impl Check for MailflowCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let message = self.message(std::time::SystemTime::now());
            let mut ls = smtp::login(&self.send, &self.ehlo_name, Some(&self.sender), probe).await?;
            probe.enter(Phase::Submit);
            self.submit(&mut ls, &message).await?;
            let submitted = tokio::time::Instant::now();
            tracing::info!(
                check = %self.name, from = %self.from, to = %self.to, message_id = %message.message_id,
                subject = %message.subject, "mail flow: sent the test message"
            );
            smtp::quit(&mut ls, probe).await;
            drop(ls);

            // The receiving side: its capabilities are not the dispatcher's.
            let capabilities = probe.facts.capabilities.take();
            let mut tags = Tags(0);
            probe.facts.other_mailbox = Some((self.to_name.clone(), MailProtocol::Imap.as_str()));
            let (mut ls, _, token) = imap::login(&self.receive, Some(&self.receiver), probe, &mut tags).await?;
            probe.facts.capabilities = capabilities;
            probe.enter(Phase::Deliver);
            // A server may list more after login (Dovecot adds UIDPLUS only then).
            let caps = imap::capability(&mut ls, &mut tags).await?;
            let selected = imap::command(&mut ls, &mut tags, "SELECT INBOX").await?;
            if selected.status != Status::Ok {
                let failure = imap::refused("SELECT INBOX", selected.status, &selected.text, Reason::MailboxNotFound);
                return Err(match &token {
                    Some(t) => imap::after_login(&self.receiver, t, failure),
                    None => failure,
                });
            }
            // From here a failure is the flow's (delivery, cleanup), named for the sending mailbox.
            probe.facts.other_mailbox = None;
            // Keep some of the timeout to delete the message once it is there.
            let give_up = match probe.deadline() {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    deadline - (left / 4).min(CLEANUP_RESERVE)
                }
                None => tokio::time::Instant::now() + MIN_INTERVAL,
            };
            self.wait_for(&mut ls, &mut tags, &message.marker, give_up).await?;
            let took = submitted.elapsed();
            probe.facts.delivery = Some(took);
            tracing::info!(check = %self.name, to = %self.to, seconds = took.as_secs_f64(), "mail flow: the test message arrived");
            probe.enter(Phase::Cleanup);
            self.clean_up(&mut ls, &mut tags, &caps, &message.marker).await?;
            probe.enter(Phase::Quit);
            let _ = imap::command(&mut ls, &mut tags, "LOGOUT").await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_796_292_000), "Thu, 03 Dec 2026 10:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc5322_date(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
    }

    #[test]
    fn search_results_are_bounded_positive_uids() {
        assert_eq!(search_uids(&["SEARCH 3 7 12".into(), "5 EXISTS".into()]), vec![3, 7, 12]);
        assert_eq!(search_uids(&["SEARCH".into()]), Vec::<u64>::new());
        assert_eq!(search_uids(&["SEARCH 0 -1 x 99999999999 4".into()]), vec![4]);
        let many = format!("SEARCH {}", (1..=200).map(|n| n.to_string()).collect::<Vec<_>>().join(" "));
        assert_eq!(search_uids(&[many]).len(), MAX_CLEANUP);
    }

    #[test]
    fn markers_are_read_from_the_header_block() {
        let h = b"X-ECE-O365-Exporter-Probe: flow/host.1.0.ab\r\n\r\n";
        assert_eq!(marker_of(h).as_deref(), Some("flow/host.1.0.ab"));
        let folded = b"x-ece-o365-exporter-probe:\r\n flow/host.1.0.ab\r\n\r\n";
        assert_eq!(marker_of(folded).as_deref(), Some("flow/host.1.0.ab"));
        assert_eq!(marker_of(b"\r\n"), None);
        assert_eq!(marker_of(b"Subject: x\r\n\r\n"), None);
    }

    #[test]
    fn uids_are_found_anywhere_in_a_fetch_line() {
        assert_eq!(uid_in("* 3 FETCH (UID 17 BODY[HEADER.FIELDS (X)] {40}"), Some(17));
        assert_eq!(uid_in(" UID 18)"), Some(18));
        assert_eq!(uid_in(")"), None);
        assert_eq!(uid_in("* 3 FETCH (UID -4)"), None);
    }

    #[test]
    fn addresses_fit_a_command_as_written() {
        assert!(plain_address("support@contoso.com"));
        for bad in ["", "a b@c", "a>@c", "<a@c>", "a@c\r\n", "\"a\"@c"] {
            assert!(!plain_address(bad), "{bad}");
        }
    }
}
