//! Entry points for the fuzz targets (`fuzz/`) and the property tests: each
//! feeds bytes to one parser exactly as a server's bytes reach it, through
//! the bounded line codec, the bounded HTTP client ([`http_response`]), a
//! tenant's OpenID metadata, or the token endpoint's verdict on an answer
//! ([`judge_answer`]), with no network and no runtime, and
//! [`token_expiry`] follows a token answer's numbers (`expires_in`, the
//! JWT's `exp` and `iat`) into the expiry and lifetime the provider keeps.
//! Not an API: hidden from the docs, and it may change in any release.
//!
//! It owns nothing the agent uses and must never be called by it.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::checks::{imap, mailflow, pop3, smtp, tenant};
use crate::oauth::endpoint::{self, TokenError, TokenResponse};
use crate::oauth::jwt::{self, Claims, Expectation};
use crate::oauth::provider;
use crate::proto::BoxStream;
use crate::proto::http;
use crate::proto::lines::{Limits, LineStream};
use crate::reason::Reason;

/// Small limits, so a fuzzer reaches every bound with short inputs.
pub const LIMITS: Limits = Limits {
    max_line: 256,
    max_lines: 16,
    max_reply: 2048,
    max_literal: 1024,
};

/// Bytes already received, handed out in reads of the sizes in `chunks`
/// (cycled; 0 counts as 1), then end of stream. What is written is dropped.
struct Replay {
    data: Vec<u8>,
    pos: usize,
    chunks: Vec<usize>,
    next: usize,
}

impl AsyncRead for Replay {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let chunk = match self.chunks.len() {
            0 => usize::MAX,
            n => self.chunks[self.next % n].max(1),
        };
        self.next = self.next.wrapping_add(1);
        let n = (self.data.len() - self.pos).min(buf.remaining()).min(chunk);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A line stream over `data`, read in `chunks`-sized pieces.
fn replay(data: &[u8], chunks: &[usize], limits: Limits) -> LineStream<BoxStream> {
    let stream: BoxStream = Box::new(Replay {
        data: data.to_vec(),
        pos: 0,
        chunks: chunks.to_vec(),
        next: 0,
    });
    LineStream::new(stream, limits)
}

/// Runs a future whose only I/O is a [`Replay`], which never waits.
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a parser waited on bytes that were all there"),
    }
}

/// Every line of `data` until the codec stops, and why it stopped. Each line
/// is read as a reply of its own: the per-reply budgets are the reply
/// readers' (`smtp_reply`, `imap_response`, `pop3_reply`).
pub fn lines(data: &[u8], chunks: &[usize], limits: Limits) -> (Vec<String>, Reason) {
    let mut ls = replay(data, chunks, limits);
    run(async move {
        let mut out = Vec::new();
        loop {
            ls.begin_reply();
            match ls.read_line().await {
                Ok(line) => out.push(line),
                Err(e) => return (out, e.reason()),
            }
        }
    })
}

/// One SMTP reply: its code and lines.
pub fn smtp_reply(data: &[u8], chunks: &[usize]) -> Result<(u16, Vec<String>), Reason> {
    let mut ls = replay(data, chunks, LIMITS);
    run(async move { smtp::read_reply(&mut ls).await })
        .map(|r| (r.code, r.lines))
        .map_err(|f| f.reason)
}

/// The IMAP response to the command tagged `E1`: status, text, untagged lines.
pub fn imap_response(data: &[u8], chunks: &[usize]) -> Result<(imap::Status, String, Vec<String>), Reason> {
    let mut ls = replay(data, chunks, LIMITS);
    run(async move { imap::read_response(&mut ls, "E1").await })
        .map(|r| (r.status, r.text, r.untagged))
        .map_err(|f| f.reason)
}

/// A mail flow check's `UID FETCH` of its probe header (tagged `E1`):
/// the UID and marker of each message that has both.
pub fn mailflow_markers(data: &[u8], chunks: &[usize]) -> Result<Vec<(u64, String)>, Reason> {
    let mut ls = replay(data, chunks, LIMITS);
    run(async move { mailflow::fetch_markers(&mut ls, &mut imap::Tags(0), &[1]).await }).map_err(|f| f.reason)
}

/// A POP3 status line and, after `+OK`, a multi-line body up to the lone dot.
pub fn pop3_reply(data: &[u8], chunks: &[usize]) -> Result<(Result<String, String>, Vec<String>), Reason> {
    let mut ls = replay(data, chunks, LIMITS);
    run(async move {
        let status = pop3::read_status(&mut ls).await?;
        let body = match status {
            Ok(_) => pop3::read_multiline(&mut ls).await?,
            Err(_) => Vec::new(),
        };
        Ok((status, body))
    })
    .map_err(|f: crate::observation::Failure| f.reason)
}

/// Small budgets for the HTTP client, so a fuzzer reaches every bound.
pub const HTTP_LIMITS: http::Limits = http::Limits {
    max_line: 256,
    max_headers: 16,
    max_head: 2048,
    max_body: 1024,
};

/// One HTTP answer to a `GET`, as `kind: https` and `kind: tenant` read it:
/// the status, then the body kept (within [`HTTP_LIMITS`]`.max_body`), or
/// why the answer is not usable.
pub fn http_response(data: &[u8], chunks: &[usize]) -> Result<(u16, Vec<u8>), Reason> {
    let stream = Replay {
        data: data.to_vec(),
        pos: 0,
        chunks: chunks.to_vec(),
        next: 0,
    };
    run(async move {
        let mut ex = http::Exchange::send(stream, HTTP_LIMITS, http::Method::Get, "example.com", "/").await?;
        let head = ex.read_head().await?;
        let body = ex.read_body_kept(&head).await?;
        Ok((head.status, body))
    })
    .map_err(|e: http::HttpError| e.reason())
}

/// A tenant check's verdict on a 200's OpenID metadata document: the
/// directory id, or the reason.
pub fn tenant_metadata(body: &[u8], tenant_id: &str) -> Result<String, Reason> {
    let authority = url::Url::parse("https://login.microsoftonline.com/").map_err(|_| Reason::Internal)?;
    tenant::judge_metadata(body, tenant_id, &authority).map_err(|f| f.reason)
}

/// The verdict on one token endpoint answer (status, content type, body):
/// the token endpoint client's judgement, then the answer's JSON, as a grant
/// gets them. `device` reads a devicecode answer instead of a token answer.
#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
pub fn judge_answer(status: u16, content_type: &str, body: &[u8], device: bool) -> Result<(), TokenError> {
    if device {
        endpoint::device_code_answer(status, content_type, body).map(drop)
    } else {
        token_answer(status, content_type, body).map(drop)
    }
}

/// The token response in one token endpoint answer, as a grant returns it,
/// for the targets that follow it into the provider.
#[allow(
    clippy::result_large_err,
    reason = "TokenError is the public error shape; failures are the cold path"
)]
pub fn token_answer(status: u16, content_type: &str, body: &[u8]) -> Result<TokenResponse, TokenError> {
    endpoint::token_answer(status, content_type, body)
}

/// What the provider keeps of a usable token answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub expires_at: SystemTime,
    /// `expires_at` as exported (unix seconds).
    pub expires_at_unix: i64,
    /// `exp - iat` of the access token's claims, as exported.
    pub lifetime: Option<i64>,
    /// The verdict on the claims' lifetime (no user, scope or role expected).
    pub lifetime_verdict: Result<(), Reason>,
}

/// A 200 token answer whose `expires_in` is the JSON text `expires_in` (a
/// number, a numeric string, or anything else) and whose access token is an
/// unsigned JWT for an Exchange mailbox with these `iat` and `exp` claims.
pub fn token_answer_body(expires_in: &str, iat: Option<i64>, exp: Option<i64>) -> Vec<u8> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims = serde_json::json!({
        "aud": "https://outlook.office.com",
        "upn": "support@contoso.com",
        "scp": "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send",
    });
    if let Some(iat) = iat {
        claims["iat"] = iat.into();
    }
    if let Some(exp) = exp {
        claims["exp"] = exp.into();
    }
    let jwt = format!(
        "{}.{}.sig",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    format!(r#"{{"token_type":"Bearer","expires_in":{expires_in},"access_token":"{jwt}"}}"#).into_bytes()
}

/// A 200 token answer `body` received at `now`, through the provider's
/// conversion ([`provider::access_token`]) and the claims' lifetime check:
/// what it keeps, or the reason it refuses the answer.
pub fn token_expiry(body: &[u8], now: SystemTime) -> Result<Expiry, Reason> {
    let response = token_answer(200, "application/json", body).map_err(|e| e.reason)?;
    let token = provider::access_token(response, now).map_err(|f| f.reason)?;
    let lifetime_verdict = match &token.claims {
        Some(claims) => {
            let anything = Expectation {
                user: None,
                scopes: &[],
                roles: &[],
            };
            jwt::check(claims, &anything).map_err(|f| f.reason)
        }
        None => Ok(()),
    };
    Ok(Expiry {
        expires_at: token.expires_at,
        expires_at_unix: crate::clock::unix_seconds(token.expires_at),
        lifetime: token.claims.as_ref().and_then(Claims::lifetime),
        lifetime_verdict,
    })
}
