//! What one check run saw: its phases and their durations, success or one
//! [`Failure`], and the facts worth exporting (TLS certificate, advertised
//! capabilities, DNS answers, HTTP status).
//!
//! A check writes into a [`Probe`]; the check runner turns the probe into an
//! [`Observation`]. Nothing here knows about metrics or HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::reason::{Hint, Phase, Reason};

/// The longest detail kept from a server's reply or an error message.
pub const MAX_DETAIL_CHARS: usize = 300;

/// Why a run failed: one bounded reason plus a short human detail for logs
/// and reports (never for labels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    /// Sanitised and truncated: printable ASCII only, at most [`MAX_DETAIL_CHARS`].
    /// Always English: logs and tickets read it.
    pub detail: String,
    /// The same detail as a sentence of the report's language files, when
    /// the agent wrote it (never for a server's text, which stays as sent);
    /// boxed, as most failures have none and every check's task holds one.
    pub message: Option<Box<DetailMessage>>,
    /// Which variant of the reason's remedy applies, when the server's reply says.
    pub hint: Option<Hint>,
}

/// A failure's detail as a translatable sentence: a message key of the
/// report's language files (`detail-...`) and its arguments, sanitised like
/// [`Failure::detail`]. The report shows it in place of the English detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetailMessage {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Failure {
    pub fn new(reason: Reason, detail: impl AsRef<str>) -> Self {
        Failure {
            reason,
            detail: sanitize(detail.as_ref()),
            message: None,
            hint: None,
        }
    }

    /// Adds the detail's translatable sentence: message `key` with `args`
    /// (each value sanitised, as server-controlled text may be among them).
    pub fn with_message(mut self, key: &'static str, args: &[(&'static str, &str)]) -> Self {
        self.message = Some(Box::new(DetailMessage {
            key,
            args: args.iter().map(|(name, value)| (*name, sanitize(value))).collect(),
        }));
        self
    }

    /// The same failure, with the variant of its remedy that applies.
    pub fn with_hint(self, hint: Option<Hint>) -> Self {
        Failure { hint, ..self }
    }

    /// The failure for a run cut off by its timeout while in `phase`.
    pub fn timed_out(phase: Option<Phase>, timeout: Duration) -> Self {
        let reason = match phase {
            Some(Phase::Connect) => Reason::ConnectTimeout,
            Some(Phase::Resolve) => Reason::DnsTimeout,
            // Getting the token (or waiting for another check's refresh of it).
            Some(Phase::TokenRequest) => Reason::TokenEndpointTimeout,
            _ => Reason::Timeout,
        };
        let during = phase.map(|p| format!(" during {p}")).unwrap_or_default();
        Failure::new(reason, format!("no result within {}{during}", humantime::format_duration(timeout)))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// Keeps server-controlled text safe for a log line: control characters and
/// non-ASCII become `?`/escapes, and the length is bounded.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_DETAIL_CHARS + 3));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_DETAIL_CHARS {
            out.push_str("...");
            break;
        }
        out.push(if c.is_ascii_graphic() || c == ' ' { c } else { '?' });
    }
    out
}

/// Summary of the server's TLS session, from the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFacts {
    /// e.g. `TLSv1.3`.
    pub version: &'static str,
    /// Earliest `notAfter` of the served chain, Unix seconds.
    pub earliest_expiry: Option<i64>,
    pub leaf: Option<CertSummary>,
}

/// Identity of the leaf certificate; changes of issuer reveal TLS inspection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    /// Lowercase hex SHA-256 of the DER certificate.
    pub fingerprint_sha256: String,
}

/// What a run learned about its mailbox's access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFacts {
    pub mailbox: String,
    /// The access token's expiry, Unix seconds.
    pub expires_at: i64,
    /// `exp - iat` from the token's claims, when it is a JWT.
    pub lifetime: Option<i64>,
    /// When the stored refresh token was obtained (90-day inactivity limit).
    pub refresh_token_rotated_at: Option<i64>,
}

/// What a `tenant` check learned of the tenant's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantFacts {
    /// The configured tenant's name.
    pub tenant: String,
    /// The directory id (a lowercase GUID) its OpenID metadata names.
    pub directory_id: String,
}

/// Facts a run learned, exported even when a later phase failed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// The watched capabilities of this protocol and whether the server
    /// advertised each (`AUTH=XOAUTH2`, `STARTTLS`, ...).
    pub capabilities: Option<Vec<(&'static str, bool)>>,
    pub tls: Option<TlsFacts>,
    /// Records of the queried type in a DNS answer.
    pub dns_answers: Option<u64>,
    pub token: Option<TokenFacts>,
    /// Messages in a folder (IMAP STATUS or POP3 STAT): `(folder, count)`.
    pub mailbox_messages: Option<(&'static str, u64)>,
    /// The date of a folder's oldest message, Unix seconds (IMAP
    /// INTERNALDATE of message 1, POP3 the first `Received:` date of
    /// message 1): `(folder, None)` when the folder is empty or the run could
    /// not read the date (it failed first, the server refused, no date), so
    /// the series goes away rather than going stale.
    pub oldest_message: Option<(&'static str, Option<i64>)>,
    /// The address family of the connection the run opened: `ipv4` or `ipv6`.
    pub address_family: Option<&'static str>,
    /// The HTTP status an `https` check's server answered with.
    pub http_status: Option<u16>,
    /// The directory a `tenant` check found.
    pub tenant: Option<TenantFacts>,
    /// How long a mail flow check's message took from submission to the
    /// receiving mailbox.
    pub delivery: Option<std::time::Duration>,
    /// The mailbox (its configured name) and the protocol (`imap`, as in
    /// `protocols:`) a run was using when it ended, where that is not the
    /// check's own `mailbox`: a mail flow run logging in to its probe mailbox
    /// with that mailbox's token. A failure then is that mailbox's, and the
    /// guide names it.
    pub other_mailbox: Option<(Arc<str>, &'static str)>,
}

/// The recorder a check writes into while it runs.
///
/// `enter` closes the phase in progress and opens the next, so the phase in
/// progress when a check fails or times out is the failing phase.
#[derive(Debug, Default)]
pub struct Probe {
    phases: Vec<(Phase, Duration)>,
    current: Option<(Phase, Instant)>,
    /// When the runner cuts the run off (tokio time), if it will.
    deadline: Option<tokio::time::Instant>,
    pub facts: Facts,
}

impl Probe {
    /// A probe for a run that the runner cuts off at `deadline`.
    pub fn until(deadline: tokio::time::Instant) -> Self {
        Probe {
            deadline: Some(deadline),
            ..Probe::default()
        }
    }

    /// When the run will be cut off, for a step that must give its own
    /// verdict before then (the token request).
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.deadline
    }

    pub fn enter(&mut self, phase: Phase) {
        self.close();
        self.current = Some((phase, Instant::now()));
    }

    pub fn current_phase(&self) -> Option<Phase> {
        self.current.map(|(p, _)| p)
    }

    fn close(&mut self) {
        if let Some((phase, started)) = self.current.take() {
            self.phases.push((phase, started.elapsed()));
        }
    }

    /// Ends the run: closes the open phase and builds the observation.
    pub fn into_observation(mut self, outcome: Result<(), Failure>, duration: Duration) -> Observation {
        let failed_phase = if outcome.is_err() { self.current_phase() } else { None };
        self.close();
        Observation {
            outcome,
            failed_phase,
            duration,
            phases: self.phases,
            facts: self.facts,
            finished_at: SystemTime::now(),
        }
    }
}

/// The result of one run of one check.
#[derive(Clone, Debug)]
pub struct Observation {
    pub outcome: Result<(), Failure>,
    /// The phase in progress when the run failed.
    pub failed_phase: Option<Phase>,
    pub duration: Duration,
    pub phases: Vec<(Phase, Duration)>,
    pub facts: Facts,
    pub finished_at: SystemTime,
}

impl Observation {
    pub fn success(&self) -> bool {
        self.outcome.is_ok()
    }

    pub fn reason(&self) -> Option<Reason> {
        self.outcome.as_ref().err().map(|f| f.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_bounds_and_cleans_server_text() {
        assert_eq!(
            sanitize("535 5.7.139 Authentication unsuccessful\r\n"),
            "535 5.7.139 Authentication unsuccessful??"
        );
        let long = "x".repeat(10_000);
        assert_eq!(sanitize(&long).len(), MAX_DETAIL_CHARS + 3);
        assert_eq!(sanitize("a\u{0}b\u{1b}[31mé"), "a?b?[31m?");
    }

    #[test]
    fn failing_phase_is_the_one_in_progress() {
        let mut probe = Probe::default();
        probe.enter(Phase::Connect);
        probe.enter(Phase::Banner);
        let obs = probe.into_observation(Err(Failure::new(Reason::ConnectionClosed, "eof")), Duration::from_millis(5));
        assert_eq!(obs.failed_phase, Some(Phase::Banner));
        let names: Vec<Phase> = obs.phases.iter().map(|(p, _)| *p).collect();
        assert_eq!(names, vec![Phase::Connect, Phase::Banner]);
    }

    #[test]
    fn timeout_reason_depends_on_phase() {
        let t = Duration::from_secs(3);
        assert_eq!(Failure::timed_out(Some(Phase::Connect), t).reason, Reason::ConnectTimeout);
        assert_eq!(Failure::timed_out(Some(Phase::Resolve), t).reason, Reason::DnsTimeout);
        assert_eq!(Failure::timed_out(Some(Phase::Banner), t).reason, Reason::Timeout);
        assert_eq!(
            Failure::timed_out(Some(Phase::TokenRequest), t).reason,
            Reason::TokenEndpointTimeout
        );
        assert!(Failure::timed_out(Some(Phase::Banner), t).detail.contains("during banner"));
    }
}
