//! Exchange Online's SMTP replies, named: one pure function from the step
//! of a submission, the reply code, its enhanced status code (RFC 3463) and
//! its text to one bounded [`Reason`] (and, where one reason has several
//! causes fixed in different places, a remedy [`Hint`]).
//!
//! It reads only what it is given: no I/O, no state, no allocation beyond
//! lower-casing a bounded text. It recognises a reply by its codes plus the
//! stable part of Exchange's text (the exception names, not the prose
//! around them). It must not decide anything about the session: the caller
//! sends the commands and keeps the verdict.
//!
//! The texts below are Exchange Online's as Microsoft documents them
//! ("Fix email delivery issues for error codes 5.7.139", "5.1.8",
//! "5.1.90", "5.2.0", "5.7.57" and "5.7.60" in Exchange Online) and as
//! public field reports quote them; the unit tests hold each one.

use crate::reason::{Hint, Reason};

/// The step of an SMTP session a reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpStep {
    /// `AUTH XOAUTH2` (and the empty line after a `334` challenge).
    Auth,
    /// `MAIL FROM:<...>`.
    MailFrom,
    /// `RCPT TO:<...>`.
    RcptTo,
    /// `DATA`, and the reply after the message's final `.`.
    Data,
}

/// An enhanced status code, `class.subject.detail` (RFC 3463): class 2, 4
/// or 5, subject and detail at most three digits each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enhanced {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl Enhanced {
    /// The enhanced code at the start of a reply's text (`5.7.139 Authentication ...`).
    pub fn parse(text: &str) -> Option<Enhanced> {
        let word = text.split(' ').next()?;
        let mut parts = word.split('.');
        let class = match parts.next()? {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        let number = |p: Option<&str>| -> Option<u16> {
            let p = p?;
            (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let subject = number(parts.next())?;
        let detail = number(parts.next())?;
        if parts.next().is_some() {
            return None;
        }
        Some(Enhanced { class, subject, detail })
    }

    fn is(self, subject: u16, detail: u16) -> bool {
        self.subject == subject && self.detail == detail
    }
}

/// What an SMTP reply means for a submission: `None` when it is not a
/// failure (2xx, 3xx), otherwise the reason and the remedy's variant.
///
/// - SendAs denied (`5.2.0 ...SendAsDenied...`, `5.7.60`) -> `send_as_denied`;
/// - `5.1.8 ... bad outbound sender` -> `sender_blocked`;
/// - `5.1.90`, `RecipientRateLimitExceeded`, `MessageRateLimitExceeded`,
///   `SubmissionQuotaExceeded` -> `sending_limit_reached`;
/// - at `AUTH`: `5.7.139` -> `smtp_auth_disabled` with its cause, anything
///   else -> `auth_rejected`;
/// - `530 5.7.57` (not authenticated) -> `auth_rejected`;
/// - any other 4xx -> `submission_deferred`;
/// - any other 5xx to `RCPT TO` -> `recipient_rejected`, to `MAIL FROM` or
///   the message -> `unexpected_reply`.
pub fn classify(step: SmtpStep, code: u16, enhanced: Option<Enhanced>, text: &str) -> Option<(Reason, Option<Hint>)> {
    if !(400..600).contains(&code) {
        return None;
    }
    // Exchange's texts are short; a huge text is cut, never searched whole.
    let lower = crate::proto::lines::excerpt(text, 1024).to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    let e = enhanced.filter(|e| u16::from(e.class) == code / 100);
    let is = |subject, detail| e.is_some_and(|e| e.is(subject, detail));

    if step == SmtpStep::Auth {
        if is(7, 139) {
            return Some((Reason::SmtpAuthDisabled, smtp_auth_hint(&lower)));
        }
        return Some((Reason::AuthRejected, None));
    }
    if has("sendasdenied") || is(7, 60) {
        return Some((Reason::SendAsDenied, None));
    }
    if is(1, 8) || has("bad outbound sender") {
        return Some((Reason::SenderBlocked, None));
    }
    if is(1, 90) || has("recipientratelimitexceeded") || has("messageratelimitexceeded") || has("submissionquotaexceeded") {
        return Some((Reason::SendingLimitReached, None));
    }
    if code == 530 || is(7, 57) {
        return Some((Reason::AuthRejected, None));
    }
    if code < 500 {
        return Some((Reason::SubmissionDeferred, None));
    }
    Some(match step {
        SmtpStep::RcptTo => (Reason::RecipientRejected, None),
        SmtpStep::Auth | SmtpStep::MailFrom | SmtpStep::Data => (Reason::UnexpectedReply, None),
    })
}

/// Which switch a `535 5.7.139` names (its text, lower case).
fn smtp_auth_hint(lower: &str) -> Option<Hint> {
    if lower.contains("security defaults") {
        Some(Hint::SecurityDefaults)
    } else if lower.contains("disabled for the tenant") {
        Some(Hint::SmtpAuthTenant)
    } else if lower.contains("disabled for the mailbox") {
        Some(Hint::SmtpAuthMailbox)
    } else {
        None
    }
}

/// [`classify`] on a reply as read: its code and the text of its first line
/// (which carries the enhanced code); the remaining lines are searched too.
pub fn classify_reply(step: SmtpStep, code: u16, lines: &[String]) -> Option<(Reason, Option<Hint>)> {
    let first = lines.first().map(String::as_str).unwrap_or("");
    let enhanced = Enhanced::parse(first);
    if lines.len() <= 1 {
        return classify(step, code, enhanced, first);
    }
    let joined: String = lines.iter().take(8).map(String::as_str).collect::<Vec<_>>().join(" ");
    classify(step, code, enhanced, &joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SmtpStep::*;

    /// `code text` as Exchange sends it, classified at `step`.
    fn c(step: SmtpStep, reply: &str) -> Option<(Reason, Option<Hint>)> {
        let (code, text) = reply.split_at(3);
        let text = text.trim_start();
        classify(step, code.parse().unwrap_or(0), Enhanced::parse(text), text)
    }

    #[test]
    fn enhanced_codes_parse_strictly() {
        assert_eq!(
            Enhanced::parse("5.7.139 Authentication unsuccessful"),
            Some(Enhanced {
                class: 5,
                subject: 7,
                detail: 139
            })
        );
        assert_eq!(Enhanced::parse("4.4.2 x").map(|e| (e.subject, e.detail)), Some((4, 2)));
        for bad in [
            "",
            "5.7",
            "5.7.",
            "6.1.1 x",
            "5.7.1390 x",
            "5.7.1.1 x",
            "5.a.1 x",
            "Authentication",
            "5..1 x",
        ] {
            assert_eq!(Enhanced::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn successes_are_not_failures() {
        for (step, reply) in [
            (Auth, "235 2.7.0 Authentication successful"),
            (MailFrom, "250 2.1.0 Sender OK"),
            (RcptTo, "250 2.1.5 Recipient OK"),
            (Data, "354 Start mail input; end with <CRLF>.<CRLF>"),
            (Data, "250 2.0.0 OK <abc@x> [Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com]"),
        ] {
            assert_eq!(c(step, reply), None, "{reply}");
        }
    }

    #[test]
    fn smtp_auth_disabled_names_the_switch() {
        let cases = [
            (
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
                Some(Hint::SmtpAuthTenant),
            ),
            (
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
                Some(Hint::SmtpAuthMailbox),
            ),
            (
                "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
                Some(Hint::SecurityDefaults),
            ),
            (
                "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
                None,
            ),
        ];
        for (reply, hint) in cases {
            assert_eq!(c(Auth, reply), Some((Reason::SmtpAuthDisabled, hint)), "{reply}");
        }
        assert_eq!(
            c(
                Auth,
                "535 5.7.3 Authentication unsuccessful [SN4PR0601CA0002.namprd06.prod.outlook.com]"
            ),
            Some((Reason::AuthRejected, None))
        );
        assert_eq!(
            c(Auth, "454 4.7.0 Temporary authentication failure"),
            Some((Reason::AuthRejected, None))
        );
    }

    #[test]
    fn exchange_submission_replies_are_named() {
        let cases = [
            (
                Data,
                "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message. [Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com]",
                Reason::SendAsDenied,
            ),
            (
                MailFrom,
                "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
                Reason::SendAsDenied,
            ),
            (
                Data,
                "550 5.1.8 Access denied, bad outbound sender. AS(42003) [AM0PR01MB1234.eurprd01.prod.exchangelabs.com]",
                Reason::SenderBlocked,
            ),
            (MailFrom, "550 5.1.8 Access denied, bad outbound sender", Reason::SenderBlocked),
            (
                RcptTo,
                "550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients. [AM0PR01MB1234.eurprd01.prod.exchangelabs.com]",
                Reason::SendingLimitReached,
            ),
            (
                Data,
                "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message Cannot submit message.",
                Reason::SendingLimitReached,
            ),
            (
                Data,
                "550 5.2.2 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message",
                Reason::SendingLimitReached,
            ),
            (
                RcptTo,
                "452 4.5.3 RecipientRateLimitExceeded; Too many recipients",
                Reason::SendingLimitReached,
            ),
            (
                Data,
                "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com]",
                Reason::SubmissionDeferred,
            ),
            (
                MailFrom,
                "530 5.7.57 Client not authenticated to send mail. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
                Reason::AuthRejected,
            ),
            (
                RcptTo,
                "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [AM0PR01MB1234.eurprd01.prod.exchangelabs.com]",
                Reason::RecipientRejected,
            ),
            (RcptTo, "501 5.1.3 Invalid address", Reason::RecipientRejected),
            (
                RcptTo,
                "451 4.7.500 Server busy. Please try again later from [203.0.113.9]. (S77714) [AM0PR01MB1234.eurprd01.prod.exchangelabs.com]",
                Reason::SubmissionDeferred,
            ),
            (
                Data,
                "421 4.3.2 Service not available, closing transmission channel",
                Reason::SubmissionDeferred,
            ),
            (
                MailFrom,
                "552 5.3.4 Message size exceeds fixed maximum message size",
                Reason::UnexpectedReply,
            ),
        ];
        for (step, reply, reason) in cases {
            assert_eq!(c(step, reply), Some((reason, None)), "{step:?} {reply}");
        }
    }

    #[test]
    fn an_enhanced_code_of_another_class_is_ignored_and_huge_texts_are_cut() {
        // `450 5.1.8` is incoherent: the code's class wins, the text still counts.
        assert_eq!(c(RcptTo, "450 5.1.90 later"), Some((Reason::SubmissionDeferred, None)));
        let huge = format!("550 5.4.1 {}SendAsDenied", "x".repeat(100_000));
        assert_eq!(c(RcptTo, &huge), Some((Reason::RecipientRejected, None)));
        assert_eq!(c(Data, "600 nonsense"), None);
    }

    #[test]
    fn a_reply_as_read_is_classified_with_every_line() {
        let lines = vec![
            "5.2.0 STOREDRV.Submission.Exception:".to_string(),
            "SendAsDeniedException.MapiExceptionSendAsDenied".to_string(),
        ];
        assert_eq!(classify_reply(Data, 554, &lines), Some((Reason::SendAsDenied, None)));
        assert_eq!(classify_reply(Data, 250, &[]), None);
        assert_eq!(classify_reply(RcptTo, 550, &[]), Some((Reason::RecipientRejected, None)));
    }
}
