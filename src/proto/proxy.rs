//! Tunnels through an HTTP proxy: `CONNECT host:port HTTP/1.1` (RFC 9110
//! §9.3.6), with `Proxy-Authorization: Basic` (RFC 7617) when the check has
//! credentials. Connecting to the proxy is [`net::connect`]'s (phases
//! `resolve`/`connect`); the exchange is phase `proxy_connect`; what runs in
//! the tunnel (TLS, a mail protocol) is the caller's.
//!
//! The proxy's answer is bounded like every server reply: at most
//! [`MAX_HEAD`] bytes and [`MAX_HEAD_LINES`] lines, and never a byte past its
//! end is read, so what the target sends first (an SMTP greeting) stays in
//! the stream. The wait ends shortly before the run's deadline (carried by
//! the [`Probe`]) with the proxy's own verdict. The password is
//! read when the request is made and goes nowhere but into that request:
//! no detail, log line or error shows it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::{Proxy, Target};
use crate::observation::{Failure, Probe, sanitize};
use crate::reason::{Phase, Reason};

use super::net;

/// The most bytes of a proxy's answer to `CONNECT` read before giving up
/// (a real one is well under 1 KiB).
pub const MAX_HEAD: usize = 8192;
/// The most lines (status line and header fields) in that answer.
pub const MAX_HEAD_LINES: usize = 64;

/// Connects to `target`: directly, or through a tunnel of `proxy`.
pub async fn connect(probe: &mut Probe, target: &Target, proxy: Option<&Proxy>) -> Result<TcpStream, Failure> {
    match proxy {
        None => net::connect(probe, target).await,
        Some(proxy) => tunnel(probe, proxy, target).await,
    }
}

/// Opens a tunnel to `target` through `proxy`. Failing to reach the proxy
/// is `proxy_connect_failed` (in phase `resolve` or `connect`), except this
/// machine running out of sockets; the proxy's answer decides the rest.
pub async fn tunnel(probe: &mut Probe, proxy: &Proxy, target: &Target) -> Result<TcpStream, Failure> {
    let mut stream = net::connect(probe, &proxy.address).await.map_err(|f| match f.reason {
        Reason::LocalResourceExhausted => f,
        _ => Failure::new(Reason::ProxyConnectFailed, format!("proxy {proxy}: {}", f.detail)),
    })?;
    probe.enter(Phase::ProxyConnect);
    tracing::debug!(%proxy, %target, "opening a tunnel through the proxy");
    let request = request(proxy, target)?;
    let closed = |e: std::io::Error| Failure::new(Reason::ProxyConnectFailed, format!("proxy {proxy}: {e}"));
    stream.write_all(request.expose_secret().as_bytes()).await.map_err(closed)?;
    drop(request);
    // A silent proxy gets its own verdict just before the runner would cut
    // the run off with a bare `timeout`: on the way to the proxy, silence
    // is the proxy's (or its path to the target's), never Microsoft's.
    let head = match probe.deadline() {
        Some(deadline) => match tokio::time::timeout_at(answer_by(deadline), read_head(&mut stream)).await {
            Ok(head) => head,
            Err(_) => {
                return Err(Failure::new(
                    Reason::ProxyConnectFailed,
                    format!("proxy {proxy} did not answer CONNECT {target} within the check's timeout"),
                ));
            }
        },
        None => read_head(&mut stream).await,
    };
    let status = match &head {
        Ok(head) => parse_status(head),
        // A complete status line before the failure still says most.
        Err(HeadError::Read(partial, _)) | Err(HeadError::TooLarge(partial, _)) => {
            parse_status(partial).filter(|(code, _)| !(200..300).contains(code))
        }
    };
    let Some((code, text)) = status else {
        let why = match head {
            Ok(head) => format!("answered something that is not HTTP: `{}`", sanitize(first_line(&head))),
            Err(HeadError::Read(partial, e)) if partial.is_empty() => format!("closed the connection without answering ({e})"),
            Err(HeadError::Read(partial, e)) => format!("answered `{}` and then failed ({e})", sanitize(first_line(&partial))),
            Err(HeadError::TooLarge(_, what)) => what,
        };
        return Err(Failure::new(Reason::ProxyConnectFailed, format!("proxy {proxy} {why}")));
    };
    let head = head.unwrap_or_default();
    match code {
        // The tunnel is open: every byte from here on is the target's.
        200..=299 => Ok(stream),
        // 407 is the standard answer; some proxies (tinyproxy 1.11) answer 401
        // to credentials they refuse. Either way: the proxy's credentials.
        401 | 407 => {
            let offered = header_values(&head, "proxy-authenticate");
            let sent = match &proxy.auth {
                Some(auth) => format!("the credentials of proxy_user `{}` were refused", sanitize(&auth.user)),
                None => "no proxy_user/proxy_password configured".to_string(),
            };
            Err(Failure::new(
                Reason::ProxyAuthRequired,
                format!(
                    "proxy {proxy} answered {code} {} to CONNECT {target}: {sent}; it offers: {}",
                    sanitize(&text),
                    if offered.is_empty() {
                        "no scheme".to_string()
                    } else {
                        sanitize(&offered.join(", "))
                    }
                ),
            ))
        }
        _ => Err(Failure::new(
            Reason::ProxyDenied,
            format!("proxy {proxy} answered {code} {} to CONNECT {target}", sanitize(&text)),
        )),
    }
}

/// The share of a run's remaining time kept back from waiting for the
/// proxy's answer, so its verdict comes before the runner's cut-off...
const MARGIN_SHARE: u32 = 10;
/// ...but never more than this.
const MARGIN_MAX: Duration = Duration::from_secs(1);

/// When the proxy's answer must be in, for a run cut off at `deadline`.
fn answer_by(deadline: Instant) -> Instant {
    let now = Instant::now();
    let left = deadline.saturating_duration_since(now);
    now + (left - (left / MARGIN_SHARE).min(MARGIN_MAX))
}

/// The `CONNECT` request, credentials included: secret as a whole.
fn request(proxy: &Proxy, target: &Target) -> Result<secrecy::SecretString, Failure> {
    let mut text = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: ece-o365-exporter/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(auth) = &proxy.auth {
        let password = auth.password.read().map_err(|e| {
            Failure::new(
                Reason::ProxyConnectFailed,
                format!("proxy {proxy}: the proxy password cannot be read: {e}"),
            )
        })?;
        let pair = secrecy::SecretString::from(format!("{}:{}", auth.user, password.expose_secret()));
        text.push_str("Proxy-Authorization: Basic ");
        text.push_str(&STANDARD.encode(pair.expose_secret()));
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    Ok(secrecy::SecretString::from(text))
}

/// Why the answer's head could not be read whole: what was read, and why.
enum HeadError {
    Read(Vec<u8>, std::io::Error),
    TooLarge(Vec<u8>, String),
}

/// Reads the status line and header fields up to the empty line, and not a
/// byte further: each read takes only bytes already seen by `peek` to
/// belong to the head.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut head: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let room = MAX_HEAD - head.len();
        if room == 0 {
            return Err(HeadError::TooLarge(
                head,
                format!("sent an answer to CONNECT longer than {MAX_HEAD} bytes"),
            ));
        }
        let want = room.min(chunk.len());
        let n = match stream.peek(&mut chunk[..want]).await {
            Ok(0) => return Err(HeadError::Read(head, std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => n,
            Err(e) => return Err(HeadError::Read(head, e)),
        };
        let before = head.len();
        head.extend_from_slice(&chunk[..n]);
        // An end inside what was read before would have been found then.
        let end = head_end(&head, before.saturating_sub(3));
        let take = end.map_or(n, |end| end.saturating_sub(before));
        if let Err(e) = stream.read_exact(&mut chunk[..take]).await {
            head.truncate(before);
            return Err(HeadError::Read(head, e));
        }
        head.truncate(end.unwrap_or(head.len()).max(before));
        // The empty line that ends the head is not counted.
        let lines = head.iter().filter(|b| **b == b'\n').count() - usize::from(end.is_some());
        if lines > MAX_HEAD_LINES {
            return Err(HeadError::TooLarge(
                head,
                format!("sent more than {MAX_HEAD_LINES} lines in its answer to CONNECT"),
            ));
        }
        if end.is_some() {
            return Ok(head);
        }
    }
}

/// Where the head ends (after its empty line: CRLF CRLF, or bare LFs as
/// RFC 9112 §2.2 lets a recipient accept), searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len()).find_map(|i| {
        let rest = &buf[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else if rest.starts_with(b"\n\r\n") {
            Some(i + 3)
        } else {
            None
        }
    })
}

fn first_line(head: &[u8]) -> &str {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    std::str::from_utf8(line).unwrap_or("(not text)")
}

/// `HTTP/1.x NNN text`: the code and the text; `None` when it is not one.
fn parse_status(head: &[u8]) -> Option<(u16, String)> {
    if !head.contains(&b'\n') {
        return None;
    }
    let line = first_line(head);
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let minor = parts.next()?;
    let code = parts.next()?;
    if minor.len() != 1 || !minor.bytes().all(|b| b.is_ascii_digit()) || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, parts.next().unwrap_or_default().to_string()))
}

/// The values of a header field (case-insensitive name), each cut short.
fn header_values(head: &[u8], name: &str) -> Vec<String> {
    String::from_utf8_lossy(head)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().chars().take(80).collect())
        .take(4)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Some((200, "Connection established".into()))
        );
        assert_eq!(parse_status(b"HTTP/1.0 407\r\n\r\n"), Some((407, String::new())));
        assert_eq!(parse_status(b"HTTP/1.1 403 Forbidden\n"), Some((403, "Forbidden".into())));
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 20 x\r\n",
            b"HTTP/2 200\r\n",
            b"HTTP/1.1 200",
            b"220 smtp ready\r\n",
        ] {
            assert_eq!(parse_status(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn head_ends_at_the_empty_line() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\n220 greeting", 0), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\n\nxx", 0), Some(17));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0), None);
    }

    #[test]
    fn proxy_authenticate_values() {
        let head =
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nproxy-authenticate: NTLM\r\n\r\n";
        assert_eq!(header_values(head, "Proxy-Authenticate"), vec!["Basic realm=\"corp\"", "NTLM"]);
    }

    /// Serves `answer` in two writes split at `at`, and returns what the
    /// reader made of it and the bytes left in the stream after it.
    async fn read_split(answer: &'static [u8], at: usize) -> (Result<Vec<u8>, String>, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(&answer[..at]).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            s.write_all(&answer[at..]).await.unwrap();
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = read_head(&mut stream).await.map_err(|e| match e {
            HeadError::Read(_, e) => e.to_string(),
            HeadError::TooLarge(_, what) => what,
        });
        server.await.unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        (head, rest)
    }

    /// Wherever the proxy's answer is split, the head is the same and the
    /// target's first bytes stay in the stream.
    #[tokio::test]
    async fn a_head_split_anywhere_reads_the_same_and_no_further() {
        const ANSWER: &[u8] = b"HTTP/1.1 200 Connection established\r\nVia: 1.1 proxy\r\n\r\n220 ready\r\n";
        let head_len = ANSWER.len() - b"220 ready\r\n".len();
        for at in 0..=ANSWER.len() {
            let (head, rest) = read_split(ANSWER, at).await;
            assert_eq!(head.as_deref(), Ok(&ANSWER[..head_len]), "split at {at}");
            assert_eq!(rest, b"220 ready\r\n", "split at {at}");
        }
    }

    #[tokio::test]
    async fn too_many_header_lines_are_refused_even_when_the_head_ends() {
        let answer = |fields: usize| -> &'static [u8] {
            let mut a = b"HTTP/1.1 200 OK\r\n".to_vec();
            a.extend(b"A: 1\r\n".repeat(fields));
            a.extend_from_slice(b"\r\n");
            Box::leak(a.into_boxed_slice())
        };
        // The status line and 63 fields: 64 lines, accepted.
        let (head, _) = read_split(answer(MAX_HEAD_LINES - 1), 10).await;
        assert!(head.is_ok(), "{head:?}");
        let (head, _) = read_split(answer(MAX_HEAD_LINES), 10).await;
        assert!(head.unwrap_err().contains("more than 64 lines"));
        let (head, _) = read_split(answer(MAX_HEAD_LINES * 3), 3).await;
        assert!(head.unwrap_err().contains("more than 64 lines"));
    }

    #[tokio::test]
    async fn the_request_carries_basic_credentials_and_nothing_past_the_head_is_read() {
        use crate::config::{ProxyAuth, SecretSource};
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            // The answer and the target's greeting in one segment.
            s.write_all(b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n220 ready\r\n")
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let proxy = Proxy {
            address: Target {
                host: "127.0.0.1".into(),
                port: addr.port(),
            },
            auth: Some(ProxyAuth {
                user: "ece".into(),
                password: SecretSource::File(pw),
            }),
            from_env: false,
        };
        let target = Target {
            host: "outlook.office365.com".into(),
            port: 993,
        };
        let mut probe = Probe::default();
        let mut stream = tunnel(&mut probe, &proxy, &target).await.unwrap();
        let request = server.await.unwrap();
        assert!(
            request.starts_with("CONNECT outlook.office365.com:993 HTTP/1.1\r\nHost: outlook.office365.com:993\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("Proxy-Authorization: Basic {}\r\n", STANDARD.encode("ece:s3cret"))),
            "{request}"
        );
        let mut greeting = [0u8; 11];
        stream.read_exact(&mut greeting).await.unwrap();
        assert_eq!(&greeting, b"220 ready\r\n");
        assert_eq!(probe.current_phase(), Some(Phase::ProxyConnect));
    }
}
