//! What SMTP, IMAP and POP3 share: opening the session (plain or implicit
//! TLS), upgrading it in place after STARTTLS/STLS, and normalising the
//! capabilities they advertise.

use crate::config::{Target, TlsMode, TlsSettings};
use crate::observation::{Failure, Probe};
use crate::proto::BoxStream;
use crate::proto::lines::{Limits, LineStream};
use crate::proto::net;
use crate::proto::tls::TlsClient;

use super::{BuildContext, BuildError};

/// How to reach a mail server and secure the session.
pub(crate) struct MailSession {
    pub target: Target,
    pub mode: TlsMode,
    tls: Option<TlsClient>,
    limits: Limits,
}

impl MailSession {
    pub fn new(ctx: &mut BuildContext, target: &Target, mode: TlsMode, tls: &TlsSettings) -> Result<Self, BuildError> {
        let tls = match mode {
            TlsMode::None => None,
            TlsMode::Starttls | TlsMode::Implicit => Some(TlsClient::new(&mut ctx.tls, tls, target)?),
        };
        Ok(MailSession {
            target: target.clone(),
            mode,
            tls,
            limits: Limits::default(),
        })
    }

    /// Connects, and with `tls: implicit` runs the handshake first.
    pub async fn open(&self, probe: &mut Probe) -> Result<LineStream<BoxStream>, Failure> {
        let tcp = net::connect(probe, &self.target).await?;
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
