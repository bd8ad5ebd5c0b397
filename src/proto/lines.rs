//! The bounded line codec of the mail protocols (SMTP, IMAP, POP3).
//!
//! A server can make us read at most `max_line` bytes per line and
//! `max_lines` lines per reply; memory is one buffer of `max_line` bytes
//! however much the server sends. Lines end in LF (CR before it is dropped);
//! bytes that are not UTF-8 are replaced, never trusted.

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
    /// Largest IMAP literal we are willing to skip over.
    pub max_literal: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // RFC 5321 caps SMTP reply lines at 512 octets, and IMAP servers send
        // CAPABILITY lines of a few hundred; 8 KiB leaves room for chatty servers.
        Limits {
            max_line: 8192,
            max_lines: 512,
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
            LineError::Closed | LineError::Io(_) => Reason::ConnectionClosed,
        }
    }
}

impl From<LineError> for Failure {
    fn from(e: LineError) -> Self {
        Failure::new(e.reason(), e.to_string())
    }
}

/// A stream read line by line within [`Limits`].
pub struct LineStream<S> {
    stream: S,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    limits: Limits,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineStream<S> {
    pub fn new(stream: S, limits: Limits) -> Self {
        LineStream {
            stream,
            buf: vec![0; limits.max_line].into_boxed_slice(),
            start: 0,
            end: 0,
            limits,
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Reads one line, without its terminator.
    pub async fn read_line(&mut self) -> Result<String, LineError> {
        loop {
            if let Some(pos) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') {
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

    /// Writes a command line (CRLF appended) and flushes it.
    pub async fn send_line(&mut self, line: &str) -> Result<(), LineError> {
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
}
