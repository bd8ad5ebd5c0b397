//! The bounded line codec of the mail protocols (SMTP, IMAP, POP3).
//!
//! A server can make us read at most `max_line` bytes per line, and per reply
//! (what follows the greeting or one command) at most `max_lines` lines and
//! `max_reply` bytes, counted raw before any decoding. Memory is one buffer of
//! `max_line` bytes however much the server sends; what a check keeps of a
//! reply goes through [`Kept`], which is bounded on its own. Lines end in LF
//! (CR before it is dropped); bytes that are not UTF-8 are replaced, never
//! trusted.
//!
//! It owns no protocol: the replies' grammar stays in each check's file.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::observation::Failure;
use crate::reason::Reason;

/// Bounds on what one server may make us read.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest accepted line, terminator included.
    pub max_line: usize,
    /// Most lines in one reply (multi-line SMTP reply, IMAP untagged lines, POP3 CAPA list).
    pub max_lines: usize,
    /// Most bytes in one reply, terminators included, counted before decoding.
    /// IMAP literals are skipped, never kept, and bounded by `max_literal` instead.
    pub max_reply: usize,
    /// Largest IMAP literal we are willing to skip over.
    pub max_literal: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // RFC 5321 caps SMTP reply lines at 512 octets, and IMAP servers send
        // CAPABILITY lines of a few hundred; 8 KiB leaves room for chatty servers.
        // A real EHLO or CAPABILITY reply is well under 1 KiB in all; 64 KiB is
        // generous and still bounds a flood of long lines to a few of them.
        Limits {
            max_line: 8192,
            max_lines: 512,
            max_reply: 64 * 1024,
            max_literal: 64 * 1024,
        }
    }
}

/// Why reading lines failed.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    #[error("more than {0} lines in one reply")]
    TooManyLines(usize),
    #[error("reply larger than {0} bytes")]
    ReplyTooLarge(usize),
    #[error("the server closed the connection")]
    Closed,
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
}

impl LineError {
    pub fn reason(&self) -> Reason {
        match self {
            LineError::TooLong(_) => Reason::LineTooLong,
            LineError::TooManyLines(_) => Reason::TooManyLines,
            LineError::ReplyTooLarge(_) => Reason::ReplyTooLarge,
            LineError::Closed | LineError::Io(_) => Reason::ConnectionClosed,
        }
    }
}

impl From<LineError> for Failure {
    fn from(e: LineError) -> Self {
        Failure::new(e.reason(), e.to_string())
    }
}

/// The longest piece of one line a check keeps (an SMTP reply line is at most
/// 512 octets by RFC 5321; a CAPABILITY line a few hundred).
pub const KEEP_LINE: usize = 2048;
/// The most text a check keeps of one reply, over all its lines.
pub const KEEP_REPLY: usize = 8192;

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn excerpt(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The lines of one reply a check keeps: each cut to [`KEEP_LINE`] bytes, and
/// none once [`KEEP_REPLY`] bytes are kept. The codec's budget bounds what is
/// read; this bounds what stays in memory while the check runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kept {
    lines: Vec<String>,
    bytes: usize,
}

impl Kept {
    /// Keeps (an excerpt of) `line` if the budget allows; says whether it did.
    pub fn push(&mut self, line: &str) -> bool {
        let piece = excerpt(line, KEEP_LINE);
        if self.bytes + piece.len() > KEEP_REPLY {
            return false;
        }
        self.bytes += piece.len();
        self.lines.push(piece.to_string());
        true
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn into_lines(self) -> Vec<String> {
        self.lines
    }
}

/// A stream read line by line within [`Limits`].
pub struct LineStream<S> {
    stream: S,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    limits: Limits,
    /// Lines and raw bytes of the reply being read.
    reply_lines: usize,
    reply_bytes: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineStream<S> {
    pub fn new(stream: S, limits: Limits) -> Self {
        LineStream {
            stream,
            buf: vec![0; limits.max_line].into_boxed_slice(),
            start: 0,
            end: 0,
            limits,
            reply_lines: 0,
            reply_bytes: 0,
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Starts a new reply: the line and byte budgets start over. Sending a
    /// command does this too, so a reader only calls it where a reply starts
    /// without one (a greeting is covered by [`LineStream::new`]).
    pub fn begin_reply(&mut self) {
        self.reply_lines = 0;
        self.reply_bytes = 0;
    }

    /// Reads one line, without its terminator, within the reply's budgets.
    pub async fn read_line(&mut self) -> Result<String, LineError> {
        loop {
            if let Some(pos) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') {
                // Counted raw, before decoding: invalid bytes decode to three each.
                self.reply_lines += 1;
                self.reply_bytes += pos + 1;
                if self.reply_lines > self.limits.max_lines {
                    return Err(LineError::TooManyLines(self.limits.max_lines));
                }
                if self.reply_bytes > self.limits.max_reply {
                    return Err(LineError::ReplyTooLarge(self.limits.max_reply));
                }
                let mut line = &self.buf[self.start..self.start + pos];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let text = String::from_utf8_lossy(line).into_owned();
                self.start += pos + 1;
                return Ok(text);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                return Err(LineError::TooLong(self.limits.max_line));
            }
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Err(LineError::Closed);
            }
            self.end += n;
        }
    }

    /// Reads and drops exactly `n` bytes (an IMAP literal), within `max_literal`.
    pub async fn skip_bytes(&mut self, mut n: usize) -> Result<(), LineError> {
        if n > self.limits.max_literal {
            return Err(LineError::TooLong(self.limits.max_literal));
        }
        let buffered = (self.end - self.start).min(n);
        self.start += buffered;
        n -= buffered;
        let mut scratch = [0u8; 1024];
        while n > 0 {
            let want = n.min(scratch.len());
            let got = self.stream.read(&mut scratch[..want]).await?;
            if got == 0 {
                return Err(LineError::Closed);
            }
            n -= got;
        }
        Ok(())
    }

    /// Reads exactly `n` bytes (a small IMAP literal the caller wants to
    /// read), counted in the reply's byte budget; at most `max_line` bytes.
    pub async fn read_bytes(&mut self, n: usize) -> Result<Vec<u8>, LineError> {
        if n > self.limits.max_line {
            return Err(LineError::TooLong(self.limits.max_line));
        }
        self.reply_bytes += n;
        if self.reply_bytes > self.limits.max_reply {
            return Err(LineError::ReplyTooLarge(self.limits.max_reply));
        }
        let mut out = Vec::with_capacity(n);
        let buffered = (self.end - self.start).min(n);
        out.extend_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        while out.len() < n {
            let mut scratch = [0u8; 1024];
            let want = (n - out.len()).min(scratch.len());
            let got = self.stream.read(&mut scratch[..want]).await?;
            if got == 0 {
                return Err(LineError::Closed);
            }
            out.extend_from_slice(&scratch[..got]);
        }
        Ok(out)
    }

    /// Writes a command line (CRLF appended) and flushes it; what the server
    /// sends next is a new reply.
    pub async fn send_line(&mut self, line: &str) -> Result<(), LineError> {
        self.begin_reply();
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.stream.write_all(&bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Bytes received but not yet read as lines.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Gives the stream back, dropping anything buffered. Before a TLS
    /// upgrade that is what RFC 3207 section 4.2 asks: bytes a server sent
    /// after its STARTTLS go-ahead must never be read as part of the TLS session.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_from(input: &[u8], limits: Limits) -> Vec<Result<String, String>> {
        let (mut client, server) = tokio::io::duplex(64);
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&input).await;
            drop(client);
        });
        let mut ls = LineStream::new(server, limits);
        let mut out = Vec::new();
        loop {
            match ls.read_line().await {
                Ok(l) => out.push(Ok(l)),
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        // Hang up first: a writer blocked on a full pipe would wait forever.
        drop(ls);
        writer.await.unwrap();
        out
    }

    #[tokio::test]
    async fn splits_crlf_and_bare_lf_lines() {
        let got = lines_from(b"220 hi\r\n250-A\n250 B\r\n", Limits::default()).await;
        assert_eq!(
            got,
            vec![
                Ok("220 hi".into()),
                Ok("250-A".into()),
                Ok("250 B".into()),
                Err("the server closed the connection".into())
            ]
        );
    }

    #[tokio::test]
    async fn a_line_longer_than_the_limit_fails_without_growing() {
        let limits = Limits {
            max_line: 16,
            ..Limits::default()
        };
        let got = lines_from(&[b'x'; 1000], limits).await;
        assert_eq!(got, vec![Err("line longer than 16 bytes".into())]);
        // exactly at the limit, terminator included, still fits
        let got = lines_from(b"123456789012345\n", limits).await;
        assert_eq!(got[0], Ok("123456789012345".into()));
    }

    #[tokio::test]
    async fn invalid_utf8_and_nul_are_replaced_not_trusted() {
        let got = lines_from(b"220 \xff\xfe\x00ok\r\n", Limits::default()).await;
        assert_eq!(got[0], Ok("220 \u{fffd}\u{fffd}\u{0}ok".into()));
    }

    #[tokio::test]
    async fn skip_bytes_is_bounded() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"abcdefgh\r\nnext\r\n").await.unwrap();
        let mut ls = LineStream::new(
            server,
            Limits {
                max_literal: 8,
                ..Limits::default()
            },
        );
        assert!(matches!(ls.skip_bytes(9).await, Err(LineError::TooLong(8))));
        ls.skip_bytes(8).await.unwrap();
        assert_eq!(ls.read_line().await.unwrap(), "");
        assert_eq!(ls.read_line().await.unwrap(), "next");
    }

    #[tokio::test]
    async fn a_reply_is_bounded_in_raw_bytes_before_decoding() {
        let limits = Limits {
            max_reply: 64,
            ..Limits::default()
        };
        // 20 bytes of 0xFF per line decode to 60 bytes: the budget counts 22.
        let line = [[0xffu8; 20].as_slice(), b"\r\n"].concat();
        let got = lines_from(&line.repeat(4), limits).await;
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[2], Err("reply larger than 64 bytes".into()));
        assert_eq!(got[0].as_ref().map(|l| l.len()), Ok(60));
    }

    #[tokio::test]
    async fn a_command_starts_a_new_reply() {
        let (mut client, server) = tokio::io::duplex(4096);
        client.write_all(b"a\r\nb\r\nc\r\nd\r\n").await.unwrap();
        let limits = Limits {
            max_lines: 2,
            ..Limits::default()
        };
        let mut ls = LineStream::new(server, limits);
        assert_eq!(ls.read_line().await.unwrap(), "a");
        assert_eq!(ls.read_line().await.unwrap(), "b");
        ls.send_line("NOOP").await.unwrap();
        assert_eq!(ls.read_line().await.unwrap(), "c");
        assert_eq!(ls.read_line().await.unwrap(), "d");
        client.write_all(b"e\r\n").await.unwrap();
        assert!(matches!(ls.read_line().await, Err(LineError::TooManyLines(2))));
        assert_eq!(LineError::ReplyTooLarge(1).reason(), Reason::ReplyTooLarge);
    }

    #[test]
    fn kept_text_is_bounded() {
        assert_eq!(excerpt("h\u{e9}llo", 2), "h");
        assert_eq!(excerpt("hello", 9), "hello");
        let mut kept = Kept::default();
        let long = "\u{fffd}".repeat(KEEP_LINE);
        assert!(kept.push(&long));
        assert!(kept.lines()[0].len() <= KEEP_LINE);
        while kept.push(&long) {}
        let total: usize = kept.lines().iter().map(String::len).sum();
        assert!(total <= KEEP_REPLY, "{total}");
        assert!(!kept.push("x".repeat(KEEP_REPLY).as_str()));
    }
}
