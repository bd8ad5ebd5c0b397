//! A small bounded HTTP/1.1 client over any stream (the TLS stream of
//! [`super::tls`], through [`super::proxy`]'s tunnel or not): one `GET` or
//! `HEAD` with `Connection: close`, the status line and headers read within
//! byte and count budgets, then at most [`Limits::max_body`] bytes of body
//! (`Content-Length`, chunked, or until close), discarded as they come or,
//! for a caller that judges a small document, kept within that cap.
//!
//! Every answer ends in a [`Head`] or a bounded [`HttpError`], never a panic
//! or memory the server decides. Nothing here follows redirects, judges a
//! status, keeps more body than its cap, or times out: the check runner owns the deadline.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::lines::excerpt;
use crate::reason::Reason;

/// The budgets of one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest status or header line, in bytes.
    pub max_line: usize,
    /// Most header lines of one response (interim `1xx` ones included).
    pub max_headers: usize,
    /// Most bytes of the whole head (status line and headers).
    pub max_head: usize,
    /// Most bytes of body read; the rest is not read at all.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8 * 1024,
            max_headers: 100,
            max_head: 64 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// The request method: `GET` reads (some of) the body, `HEAD` has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    #[default]
    Get,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }
}

/// What the server answered, as far as a check needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// The reason phrase, clipped.
    pub reason: String,
    /// The `Location` header, clipped.
    pub location: Option<String>,
    framing: Framing,
}

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Why an answer is not a usable HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the connection closed before any answer")]
    Closed,
    #[error("the answer ended {0}")]
    Truncated(&'static str),
    #[error("reading the answer: {0}")]
    Io(#[from] io::Error),
    #[error("not an HTTP/1.x status line: {0:?}")]
    NotHttp(String),
    #[error("a header line is longer than {0} bytes")]
    LineTooLong(usize),
    #[error("more than {0} header lines")]
    TooManyHeaders(usize),
    #[error("the response head is larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("the response head is not UTF-8")]
    NotUtf8,
    #[error("malformed header line: {0:?}")]
    BadHeader(String),
    #[error("body framing broken: {0}")]
    BadFraming(String),
}

impl HttpError {
    /// The reason a check reports for this error.
    pub fn reason(&self) -> Reason {
        match self {
            HttpError::Closed | HttpError::Io(_) => Reason::ConnectionClosed,
            _ => Reason::HttpBadResponse,
        }
    }
}

/// The request line and headers of one request.
pub fn request(method: Method, authority: &str, path: &str) -> String {
    format!(
        "{} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: ece-o365-exporter/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        method.as_str(),
        env!("CARGO_PKG_VERSION"),
    )
}

/// One request/response exchange over a stream.
pub struct Exchange<S> {
    stream: S,
    limits: Limits,
    method: Method,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Exchange<S> {
    /// Sends the request (`authority` is the `Host` header's value).
    pub async fn send(mut stream: S, limits: Limits, method: Method, authority: &str, path: &str) -> Result<Self, HttpError> {
        stream.write_all(request(method, authority, path).as_bytes()).await?;
        stream.flush().await?;
        Ok(Exchange {
            stream,
            limits,
            method,
            buf: Vec::with_capacity(4096),
            pos: 0,
            eof: false,
        })
    }

    /// Reads the status line and headers, skipping interim `1xx` answers.
    pub async fn read_head(&mut self) -> Result<Head, HttpError> {
        let mut lines = 0usize;
        let mut bytes = 0usize;
        loop {
            let status_line = self.head_line(&mut lines, &mut bytes).await?;
            let (status, reason) = parse_status_line(&status_line)?;
            let mut length: Option<u64> = None;
            let mut chunked = false;
            let mut transfer_encoding = false;
            let mut location = None;
            loop {
                let line = self.head_line(&mut lines, &mut bytes).await?;
                if line.is_empty() {
                    break;
                }
                if line.starts_with([' ', '\t']) {
                    // obs-fold: a continuation of a header we do not read.
                    continue;
                }
                let (name, value) = line
                    .split_once(':')
                    .ok_or_else(|| HttpError::BadHeader(excerpt(&line, 80).to_string()))?;
                if name.is_empty() || name.contains([' ', '\t']) {
                    return Err(HttpError::BadHeader(excerpt(&line, 80).to_string()));
                }
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    let n = parse_length(value)?;
                    if length.is_some_and(|l| l != n) {
                        return Err(HttpError::BadFraming("conflicting Content-Length headers".into()));
                    }
                    length = Some(n);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    transfer_encoding = true;
                    chunked = value
                        .rsplit(',')
                        .next()
                        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
                } else if name.eq_ignore_ascii_case("location") {
                    location = Some(excerpt(value, 512).to_string());
                }
            }
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let framing = if self.method == Method::Head || (100..200).contains(&status) || status == 204 || status == 304 {
                Framing::None
            } else if transfer_encoding {
                if chunked { Framing::Chunked } else { Framing::UntilClose }
            } else if let Some(n) = length {
                Framing::Length(n)
            } else {
                Framing::UntilClose
            };
            return Ok(Head {
                status,
                reason: excerpt(&reason, 80).to_string(),
                location,
                framing,
            });
        }
    }

    /// Reads the body of `head`, discarding it, up to [`Limits::max_body`]
    /// bytes (then stops reading). Returns the bytes read.
    pub async fn read_body(&mut self, head: &Head) -> Result<usize, HttpError> {
        self.body(head, None).await
    }

    /// Reads the body of `head` and keeps it: at most [`Limits::max_body`]
    /// bytes (the rest is not read), for a check that judges a small
    /// document (the tenant's OpenID metadata).
    pub async fn read_body_kept(&mut self, head: &Head) -> Result<Vec<u8>, HttpError> {
        let mut kept = Vec::new();
        self.body(head, Some(&mut kept)).await?;
        Ok(kept)
    }

    /// The body, discarded or appended to `keep`.
    async fn body(&mut self, head: &Head, mut keep: Option<&mut Vec<u8>>) -> Result<usize, HttpError> {
        let cap = self.limits.max_body;
        match head.framing {
            Framing::None => Ok(0),
            Framing::Length(n) => {
                let want = usize::try_from(n).unwrap_or(usize::MAX).min(cap);
                let got = self.skip(want, keep.as_deref_mut()).await?;
                if got < want {
                    return Err(HttpError::BadFraming(format!("the body ended after {got} of {n} bytes")));
                }
                Ok(got)
            }
            Framing::UntilClose => self.skip(cap, keep).await,
            Framing::Chunked => {
                let mut total = 0usize;
                let mut lines = 0usize;
                let mut bytes = 0usize;
                loop {
                    let line = self.line(self.limits.max_line).await?;
                    let line = line.ok_or(HttpError::BadFraming("the body ended inside a chunk size line".into()))?;
                    let size = parse_chunk_size(&line)?;
                    if size == 0 {
                        // Trailers, up to the blank line, within the head's budgets.
                        loop {
                            match self.line(self.limits.max_line).await? {
                                Some(l) if l.is_empty() => return Ok(total),
                                Some(l) => {
                                    lines += 1;
                                    bytes += l.len();
                                    if lines > self.limits.max_headers || bytes > self.limits.max_head {
                                        return Err(HttpError::BadFraming("too many trailer lines".into()));
                                    }
                                }
                                None => return Ok(total),
                            }
                        }
                    }
                    let want = usize::try_from(size).unwrap_or(usize::MAX).min(cap - total);
                    let got = self.skip(want, keep.as_deref_mut()).await?;
                    total += got;
                    if got < want {
                        return Err(HttpError::BadFraming(format!("the body ended inside a chunk of {size} bytes")));
                    }
                    if total >= cap {
                        return Ok(total);
                    }
                    match self.line(2).await? {
                        Some(l) if l.is_empty() => {}
                        _ => return Err(HttpError::BadFraming("a chunk does not end with CRLF".into())),
                    }
                }
            }
        }
    }

    /// One line of the head, counted against its budgets.
    async fn head_line(&mut self, lines: &mut usize, bytes: &mut usize) -> Result<String, HttpError> {
        *lines += 1;
        if *lines > self.limits.max_headers + 1 {
            return Err(HttpError::TooManyHeaders(self.limits.max_headers));
        }
        let max = self.limits.max_line.min(self.limits.max_head.saturating_sub(*bytes));
        let line = match self.line(max).await {
            Err(HttpError::LineTooLong(_)) if max < self.limits.max_line => {
                return Err(HttpError::HeadTooLarge(self.limits.max_head));
            }
            other => other?,
        };
        let line = line.ok_or(if *lines == 1 {
            HttpError::Closed
        } else {
            HttpError::Truncated("inside the response head")
        })?;
        *bytes += line.len() + 2;
        Ok(line)
    }

    /// A line without its `\r\n` (or `\n`), at most `max` bytes; `None` at
    /// the end of the stream.
    async fn line(&mut self, max: usize) -> Result<Option<String>, HttpError> {
        let mut searched = 0;
        loop {
            if let Some(i) = self.buf[self.pos + searched..].iter().position(|&b| b == b'\n') {
                let end = self.pos + searched + i;
                let mut text = &self.buf[self.pos..end];
                if let [rest @ .., b'\r'] = text {
                    text = rest;
                }
                if text.len() > max {
                    return Err(HttpError::LineTooLong(max));
                }
                let line = std::str::from_utf8(text).map_err(|_| HttpError::NotUtf8)?.to_string();
                self.pos = end + 1;
                return Ok(Some(line));
            }
            searched = self.buf.len() - self.pos;
            // Room for a `\r` beyond `max` before the `\n`.
            if searched > max + 1 {
                return Err(HttpError::LineTooLong(max));
            }
            if self.fill().await? == 0 {
                return if searched == 0 {
                    Ok(None)
                } else {
                    Err(HttpError::Truncated("inside a line"))
                };
            }
        }
    }

    /// Reads more into the buffer (compacting it first); 0 at the end.
    async fn fill(&mut self) -> Result<usize, HttpError> {
        if self.eof {
            return Ok(0);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 4096];
        let n = match self.stream.read(&mut chunk).await {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: the end for a
            // response read until close, as every HTTP client treats it.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            self.eof = true;
        }
        self.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// Reads up to `n` bytes, appended to `keep` or discarded; fewer only
    /// at the end of the stream.
    async fn skip(&mut self, n: usize, mut keep: Option<&mut Vec<u8>>) -> Result<usize, HttpError> {
        let mut done = 0;
        while done < n {
            if self.pos == self.buf.len() && self.fill().await? == 0 {
                break;
            }
            let take = (self.buf.len() - self.pos).min(n - done);
            if let Some(keep) = keep.as_deref_mut() {
                keep.extend_from_slice(self.buf.get(self.pos..self.pos + take).unwrap_or_default());
            }
            self.pos += take;
            done += take;
        }
        Ok(done)
    }

    /// The stream, for a proper goodbye.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

/// `HTTP/1.x NNN reason` → status and reason phrase.
fn parse_status_line(line: &str) -> Result<(u16, String), HttpError> {
    let not_http = || HttpError::NotHttp(excerpt(line, 80).to_string());
    let rest = line.strip_prefix("HTTP/1.").ok_or_else(not_http)?;
    let mut chars = rest.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_digit()) || chars.next() != Some(' ') {
        return Err(not_http());
    }
    let rest = chars.as_str();
    let code = rest
        .get(..3)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(not_http)?;
    let after = rest.get(3..).unwrap_or_default();
    if !(after.is_empty() || after.starts_with(' ')) {
        return Err(not_http());
    }
    let status: u16 = code.parse().map_err(|_| not_http())?;
    if !(100..=599).contains(&status) {
        return Err(not_http());
    }
    Ok((status, after.trim().to_string()))
}

fn parse_length(value: &str) -> Result<u64, HttpError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::BadFraming(format!("Content-Length {:?}", excerpt(value, 40))));
    }
    value
        .parse()
        .map_err(|_| HttpError::BadFraming(format!("Content-Length {:?}", excerpt(value, 40))))
}

fn parse_chunk_size(line: &str) -> Result<u64, HttpError> {
    let hex = line.split(';').next().unwrap_or_default().trim();
    if hex.is_empty() || hex.len() > 15 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HttpError::BadFraming(format!("chunk size {:?}", excerpt(line, 40))));
    }
    u64::from_str_radix(hex, 16).map_err(|_| HttpError::BadFraming(format!("chunk size {:?}", excerpt(line, 40))))
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;

    /// A stream that answers with pre-cut pieces, one per read, and
    /// swallows what is written.
    struct Pieces {
        pieces: std::collections::VecDeque<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Pieces {
        fn split(answer: &[u8], at: &[usize]) -> Self {
            let mut pieces = std::collections::VecDeque::new();
            let mut last = 0;
            for &i in at {
                pieces.push_back(answer[last..i].to_vec());
                last = i;
            }
            pieces.push_back(answer[last..].to_vec());
            Pieces {
                pieces,
                written: Vec::new(),
            }
        }
    }

    impl AsyncRead for Pieces {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            while let Some(mut piece) = self.pieces.pop_front() {
                if piece.is_empty() {
                    continue;
                }
                let n = piece.len().min(buf.remaining());
                buf.put_slice(&piece[..n]);
                if n < piece.len() {
                    self.pieces.push_front(piece.split_off(n));
                }
                break;
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Pieces {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    async fn exchange(stream: Pieces, method: Method, limits: Limits) -> Result<(Head, usize), HttpError> {
        let mut ex = Exchange::send(stream, limits, method, "example.com", "/x").await?;
        let head = ex.read_head().await?;
        let body = ex.read_body(&head).await?;
        Ok((head, body))
    }

    fn run(answer: &[u8], at: &[usize], method: Method, limits: Limits) -> Result<(Head, usize), HttpError> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(exchange(Pieces::split(answer, at), method, limits))
    }

    /// Every way of cutting `answer` in two gives the same result.
    fn at_every_byte(answer: &[u8], method: Method, limits: Limits) -> Result<(Head, usize), String> {
        let whole = run(answer, &[], method, limits).map_err(|e| e.to_string());
        for i in 1..answer.len() {
            let cut = run(answer, &[i], method, limits).map_err(|e| e.to_string());
            assert_eq!(cut, whole, "cut at byte {i}");
            let bytewise: Vec<usize> = (1..answer.len()).collect();
            if i == 1 {
                let each = run(answer, &bytewise, method, limits).map_err(|e| e.to_string());
                assert_eq!(each, whole, "one byte per read");
            }
        }
        whole
    }

    fn kept(answer: &[u8], at: &[usize], max_body: usize) -> Result<Vec<u8>, String> {
        let limits = Limits {
            max_body,
            ..Limits::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut ex = Exchange::send(Pieces::split(answer, at), limits, Method::Get, "example.com", "/x").await?;
            let head = ex.read_head().await?;
            ex.read_body_kept(&head).await
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_kept_body_is_the_body_within_its_cap_however_it_is_framed() {
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}";
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n7\r\n:\"bcd\"}\r\n0\r\n\r\n";
        let close = b"HTTP/1.1 200 OK\r\n\r\n{\"a\":\"bcd\"}";
        for answer in [&length[..], &chunked[..], &close[..]] {
            for cut in 1..answer.len() {
                assert_eq!(kept(answer, &[cut], 1024).unwrap(), b"{\"a\":\"bcd\"}", "cut at {cut}");
            }
            // The cap is the cap: the rest is never read.
            assert_eq!(kept(answer, &[], 5).unwrap(), b"{\"a\":", "{}", String::from_utf8_lossy(answer));
        }
    }

    #[test]
    fn the_request_names_host_agent_and_closes() {
        let req = request(Method::Head, "example.com:8443", "/a?b=c");
        assert!(req.starts_with("HEAD /a?b=c HTTP/1.1\r\nHost: example.com:8443\r\n"), "{req}");
        assert!(req.contains(&format!("User-Agent: ece-o365-exporter/{}\r\n", env!("CARGO_PKG_VERSION"))));
        assert!(req.contains("Connection: close\r\n") && req.contains("Accept: */*\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn content_length_chunked_and_until_close_at_every_byte() {
        let l = Limits::default();
        let (head, n) = at_every_byte(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nLocation: x\r\n\r\nhello", Method::Get, l).unwrap();
        assert_eq!((head.status, head.reason.as_str(), n), (200, "OK", 5));
        assert_eq!(head.location.as_deref(), Some("x"));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n";
        assert_eq!(at_every_byte(chunked, Method::Get, l).unwrap().1, 8);
        let close = b"HTTP/1.0 404 Not Found\nServer: x\n\nbody until close";
        let (head, n) = at_every_byte(close, Method::Get, l).unwrap();
        assert_eq!((head.status, n), (404, 16));
        let interim =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 301 Moved\r\nLocation: https://elsewhere.example/x\r\nContent-Length: 0\r\n\r\n";
        let (head, _) = at_every_byte(interim, Method::Get, l).unwrap();
        assert_eq!(head.status, 301);
        assert_eq!(head.location.as_deref(), Some("https://elsewhere.example/x"));
    }

    #[test]
    fn head_reads_no_body_and_the_body_stops_at_its_cap() {
        let l = Limits {
            max_body: 4,
            ..Limits::default()
        };
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        assert_eq!(at_every_byte(head, Method::Head, l).unwrap().1, 0);
        let long = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
        assert_eq!(at_every_byte(long, Method::Get, l).unwrap().1, 4);
        let chunks = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef";
        assert_eq!(at_every_byte(chunks, Method::Get, l).unwrap().1, 4);
    }

    #[test]
    fn broken_answers_are_bounded_verdicts() {
        let l = Limits {
            max_line: 64,
            max_headers: 4,
            max_head: 128,
            max_body: 1024,
        };
        let cases: &[(&[u8], &str)] = &[
            (b"SSH-2.0-OpenSSH_9.6\r\n", "not an HTTP/1.x status line"),
            (b"<html>hello</html>", "ended inside a line"),
            (b"HTTP/1.1 abc OK\r\n\r\n", "not an HTTP/1.x status line"),
            (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x status line"),
            (b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", "more than 4 header lines"),
            (b"HTTP/1.1 200 OK\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "longer than 64"),
            (
                b"HTTP/1.1 200 OK\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nY: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
                "larger than 128",
            ),
            (b"HTTP/1.1 200 OK\r\nX: \xff\xfe\r\n\r\n", "not UTF-8"),
            (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed header"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "conflicting"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "ended after 3 of 10"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", "CRLF"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "inside a chunk"),
            (b"", "closed before any answer"),
        ];
        for (answer, want) in cases {
            let err = at_every_byte(answer, Method::Get, l).expect_err(want);
            assert!(err.contains(want), "{:?}: {err}", String::from_utf8_lossy(answer));
        }
    }

    /// Arbitrary answers (random bytes, and mutations of a good one) end in
    /// a head or an error, never a panic, and the buffer never holds more
    /// than a line's budget plus one read.
    #[test]
    fn arbitrary_answers_end_in_a_bounded_verdict() {
        let good = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let limits = Limits {
            max_line: 32,
            max_headers: 4,
            max_head: 96,
            max_body: 8,
        };
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for round in 0..2000 {
            let answer: Vec<u8> = if round % 2 == 0 {
                let len = (next() % 200) as usize;
                (0..len).map(|_| (next() % 256) as u8).collect()
            } else {
                let mut a = good.to_vec();
                for _ in 0..(next() % 4 + 1) {
                    let i = (next() as usize) % a.len();
                    a[i] = b"\r\n:0 9azHTTP/1.\xff"[(next() % 16) as usize];
                }
                a
            };
            let cut = (next() as usize) % (answer.len() + 1);
            rt.block_on(async {
                let stream = Pieces::split(&answer, &[cut]);
                let mut ex = Exchange::send(stream, limits, Method::Get, "h", "/").await.unwrap();
                if let Ok(head) = ex.read_head().await {
                    assert!((100..=599).contains(&head.status));
                    if let Ok(n) = ex.read_body(&head).await {
                        assert!(n <= limits.max_body);
                    }
                }
                assert!(ex.buf.len() <= limits.max_head + 4096 + 2, "{}", ex.buf.len());
            });
        }
    }

    #[test]
    fn reasons_of_the_errors() {
        assert_eq!(HttpError::Closed.reason(), Reason::ConnectionClosed);
        assert_eq!(HttpError::Truncated("x").reason(), Reason::HttpBadResponse);
        assert_eq!(HttpError::TooManyHeaders(1).reason(), Reason::HttpBadResponse);
        assert_eq!(HttpError::NotHttp("x".into()).reason(), Reason::HttpBadResponse);
    }
}
