//! In-process HTTPS servers on 127.0.0.1:0 for `https` checks: TLS with a
//! certificate of [`crate::pki`], then one answer per connection, good or
//! broken on purpose (a status with a body, a redirect, a slow body, huge
//! headers, a header line that never ends, garbage). Each records the
//! requests it read and stops, with its connections, when dropped.
//!
//! They stand in for ECE's web server or Microsoft's login page, never for
//! the agent's own code; the misbehaving proxy is [`crate::proxy`]'s.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use crate::servers::{TestServer, serve};

/// The most a test server writes of an endless answer, so it stops by itself.
pub const ENDLESS_CAP: usize = 16 * 1024 * 1024;

/// How a test HTTPS server answers every request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// `HTTP/1.1 <status> <reason>`, these extra headers, and `body` with
    /// its `Content-Length` (none for a `HEAD` request). `{origin}` in the
    /// body is the server's own `https://127.0.0.1:port` (a document that
    /// names its server, as OpenID metadata does).
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A 200 whose body comes chunked.
    Chunked(Vec<String>),
    /// A 200 announcing 1000 bytes of body, then one byte a second.
    SlowBody,
    /// A 200 with this many header lines of 100 bytes each.
    ManyHeaders(usize),
    /// A 200 and then one header line that never ends (up to [`ENDLESS_CAP`]).
    EndlessHeaderLine,
    /// These bytes, not HTTP, then a close.
    Raw(&'static [u8]),
}

impl Answer {
    /// A plain status with a short body.
    pub fn status(status: u16) -> Answer {
        Answer::Status {
            status,
            headers: Vec::new(),
            body: format!("status {status}\n"),
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Answer {
        Answer::Status {
            status,
            headers: vec![("Location".to_string(), location.to_string())],
            body: String::new(),
        }
    }
}

/// A running HTTPS test server.
pub struct HttpsServer {
    pub server: TestServer,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpsServer {
    /// `127.0.0.1:port`.
    pub fn target(&self) -> String {
        self.server.target()
    }

    /// `https://127.0.0.1:port<path>`, for `url:`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.server.target())
    }

    /// The request heads read so far (request line and headers).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// Serves TLS with `tls` and answers every request with `answer`.
pub async fn https(tls: Arc<ServerConfig>, answer: Answer) -> HttpsServer {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let origin = Arc::new(OnceLock::<String>::new());
    let own = origin.clone();
    let server = serve(move |stream| {
        let acceptor = TlsAcceptor::from(tls.clone());
        let (mut answer, seen) = (answer.clone(), seen.clone());
        if let (Answer::Status { body, .. }, Some(origin)) = (&mut answer, own.get()) {
            *body = body.replace("{origin}", origin);
        }
        async move {
            let mut tls = acceptor.accept(stream).await?;
            let head = read_head(&mut tls).await?;
            let is_head = head.starts_with("HEAD ");
            if let Ok(mut r) = seen.lock() {
                r.push(head);
            }
            respond(&mut tls, &answer, is_head).await?;
            let _ = tls.shutdown().await;
            Ok(())
        }
    })
    .await;
    let _ = origin.set(format!("https://{}", server.target()));
    HttpsServer { server, requests }
}

/// The request head, up to the blank line (at most 16 KiB).
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if s.read(&mut byte).await? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

async fn respond<S: AsyncWrite + Unpin>(s: &mut S, answer: &Answer, is_head: bool) -> std::io::Result<()> {
    match answer {
        Answer::Status { status, headers, body } => {
            let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(*status));
            for (name, value) in headers {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
            out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
            if !is_head {
                out.push_str(body);
            }
            s.write_all(out.as_bytes()).await
        }
        Answer::Chunked(chunks) => {
            let mut out = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
            for c in chunks {
                out.push_str(&format!("{:x}\r\n{c}\r\n", c.len()));
            }
            out.push_str("0\r\n\r\n");
            s.write_all(out.as_bytes()).await
        }
        Answer::SlowBody => {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n").await?;
            for _ in 0..1000 {
                s.write_all(b"x").await?;
                s.flush().await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        }
        Answer::ManyHeaders(n) => {
            s.write_all(b"HTTP/1.1 200 OK\r\n").await?;
            let line = format!("X-Filler: {}\r\n", "f".repeat(88));
            for _ in 0..*n {
                s.write_all(line.as_bytes()).await?;
            }
            s.write_all(b"Content-Length: 0\r\n\r\n").await
        }
        Answer::EndlessHeaderLine => {
            s.write_all(b"HTTP/1.1 200 OK\r\nX-Endless: ").await?;
            let unit = [b'a'; 4096];
            let mut sent = 0;
            while sent < ENDLESS_CAP {
                s.write_all(&unit).await?;
                sent += unit.len();
            }
            std::future::pending::<()>().await;
            Ok(())
        }
        Answer::Raw(bytes) => s.write_all(bytes).await,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}
