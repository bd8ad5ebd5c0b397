//! Hostile mail servers: they greet like Exchange Online's SMTP, IMAP or POP3,
//! then misbehave at a chosen stage (silence, floods, garbage, a hang-up, a
//! relay elsewhere), counting the bytes they send.
//!
//! Owns only the misbehaviour; listening and connection bookkeeping are
//! [`super::serve`]'s. The well-behaved servers with failure switches are the
//! parent module's.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::{Stream, TestServer, serve};

/// The mail protocol a [`hostile`] server pretends to speak until it misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Smtp,
    Imap,
    Pop3,
}

impl Proto {
    pub fn greeting(self) -> &'static [u8] {
        match self {
            Proto::Smtp => b"220 mx.test Microsoft ESMTP MAIL Service ready\r\n",
            Proto::Imap => b"* OK The Microsoft Exchange IMAP4 service is ready.\r\n",
            Proto::Pop3 => b"+OK The Microsoft Exchange POP3 service is ready.\r\n",
        }
    }

    /// The reply to the client's first command (EHLO, `tag CAPABILITY`, CAPA), offering STARTTLS.
    fn offer_starttls(self, tag: &str) -> Vec<u8> {
        match self {
            Proto::Smtp => b"250-mx.test Hello\r\n250 STARTTLS\r\n".to_vec(),
            Proto::Imap => format!("* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK CAPABILITY completed.\r\n").into_bytes(),
            Proto::Pop3 => b"+OK\r\nSTLS\r\n.\r\n".to_vec(),
        }
    }

    /// The go-ahead to the client's STARTTLS / STLS.
    fn go_ahead(self, tag: &str) -> Vec<u8> {
        match self {
            Proto::Smtp => b"220 2.0.0 SMTP server ready\r\n".to_vec(),
            Proto::Imap => format!("{tag} OK Begin TLS negotiation now.\r\n").into_bytes(),
            Proto::Pop3 => b"+OK Begin TLS negotiation\r\n".to_vec(),
        }
    }
}

/// Where in the session a [`hostile`] server starts to misbehave.
#[derive(Clone)]
pub enum Stage {
    /// At once, before any TLS or greeting.
    Connect,
    /// Instead of the greeting (inside TLS when `implicit`).
    Greeting,
    /// Instead of the reply to the client's first command (EHLO, CAPABILITY, CAPA).
    FirstReply,
    /// Right after the STARTTLS go-ahead, in place of the TLS handshake.
    AfterGoAhead,
    /// Inside the TLS session STARTTLS set up with `tls`, after `injected` was
    /// sent in the same write as the go-ahead (RFC 3207 section 4.2: such bytes
    /// must be discarded, never read as if TLS protected them).
    InsideStarttls { tls: Arc<ServerConfig>, injected: &'static [u8] },
}

/// What a [`hostile`] server does once it misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Act {
    /// Sends nothing; reads until the client leaves.
    Silent,
    /// Hangs up.
    Close,
    /// Sends the bytes, then reads until the client leaves.
    Send(&'static [u8]),
    /// Sends the bytes, then hangs up.
    SendClose(&'static [u8]),
    /// Waits for the client to send something (a TLS ClientHello), answers
    /// with the bytes, then reads until the client leaves.
    Answer(&'static [u8]),
    /// Sends `prefix`, then `unit` over and over, one byte per `gap`, until the client leaves.
    Drip {
        prefix: &'static [u8],
        unit: &'static [u8],
        gap: std::time::Duration,
    },
    /// Sends `prefix`, then `unit` over and over as fast as the client reads,
    /// until it leaves (or [`FLOOD_CAP`] bytes, so a broken client cannot hang the test).
    Flood { prefix: &'static [u8], unit: &'static [u8] },
    /// Relays the connection to another server (e.g. a TLS 1.0 one after the go-ahead).
    Relay(SocketAddr),
}

/// The most a flood sends on one connection.
pub const FLOOD_CAP: usize = 1 << 30;

/// A scripted mail server that behaves until `stage`, then does `act`.
#[derive(Clone)]
pub struct Hostile {
    pub proto: Proto,
    /// TLS from the first byte with this config.
    pub implicit: Option<Arc<ServerConfig>>,
    pub stage: Stage,
    pub act: Act,
}

/// Bytes the hostile servers have sent, across their connections.
pub type Sent = Arc<AtomicUsize>;

/// Starts a [`Hostile`] server; `sent` counts every byte it writes.
pub async fn hostile(h: Hostile, sent: Sent) -> TestServer {
    serve(move |stream| hostile_session(stream, h.clone(), sent.clone())).await
}

async fn hostile_session(stream: TcpStream, h: Hostile, sent: Sent) -> io::Result<()> {
    let stream: Box<dyn Stream> = Box::new(stream);
    if matches!(h.stage, Stage::Connect) {
        return act(stream, h.act, &sent).await;
    }
    let mut conn: Box<dyn Stream> = match &h.implicit {
        Some(tls) => Box::new(TlsAcceptor::from(tls.clone()).accept(stream).await?),
        None => stream,
    };
    if matches!(h.stage, Stage::Greeting) {
        return act(conn, h.act, &sent).await;
    }
    write_counted(&mut conn, h.proto.greeting(), &sent).await?;
    let first = read_command(&mut conn).await?;
    if matches!(h.stage, Stage::FirstReply) {
        return act(conn, h.act, &sent).await;
    }
    let tag = |line: &str| line.split(' ').next().unwrap_or_default().to_string();
    write_counted(&mut conn, &h.proto.offer_starttls(&tag(&first)), &sent).await?;
    let starttls = read_command(&mut conn).await?;
    let mut go_ahead = h.proto.go_ahead(&tag(&starttls));
    match h.stage {
        Stage::InsideStarttls { tls, injected } => {
            go_ahead.extend_from_slice(injected);
            write_counted(&mut conn, &go_ahead, &sent).await?;
            let conn = TlsAcceptor::from(tls).accept(conn).await?;
            act(Box::new(conn), h.act, &sent).await
        }
        _ => {
            write_counted(&mut conn, &go_ahead, &sent).await?;
            act(conn, h.act, &sent).await
        }
    }
}

async fn write_counted(conn: &mut Box<dyn Stream>, data: &[u8], sent: &Sent) -> io::Result<()> {
    conn.write_all(data).await?;
    conn.flush().await?;
    sent.fetch_add(data.len(), Ordering::Relaxed);
    Ok(())
}

/// One command line from the client, read byte by byte so nothing after it is consumed.
async fn read_command(conn: &mut Box<dyn Stream>) -> io::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 4096 {
        if conn.read(&mut byte).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

async fn act(mut conn: Box<dyn Stream>, act: Act, sent: &Sent) -> io::Result<()> {
    let drain = |mut conn: Box<dyn Stream>| async move {
        let _ = tokio::io::copy(&mut conn, &mut tokio::io::sink()).await;
        Ok(())
    };
    match act {
        Act::Silent => drain(conn).await,
        Act::Close => Ok(()),
        Act::Send(bytes) => {
            write_counted(&mut conn, bytes, sent).await?;
            drain(conn).await
        }
        Act::SendClose(bytes) => write_counted(&mut conn, bytes, sent).await,
        Act::Answer(bytes) => {
            use tokio::io::AsyncReadExt;
            let mut first = [0u8; 512];
            if conn.read(&mut first).await? > 0 {
                write_counted(&mut conn, bytes, sent).await?;
            }
            drain(conn).await
        }
        Act::Drip { prefix, unit, gap } => {
            write_counted(&mut conn, prefix, sent).await?;
            for byte in unit.iter().cycle() {
                write_counted(&mut conn, std::slice::from_ref(byte), sent).await?;
                tokio::time::sleep(gap).await;
            }
            Ok(())
        }
        Act::Flood { prefix, unit } => {
            write_counted(&mut conn, prefix, sent).await?;
            let chunk = unit.repeat((64 * 1024 / unit.len().max(1)).max(1));
            let mut total = prefix.len();
            while total < FLOOD_CAP {
                write_counted(&mut conn, &chunk, sent).await?;
                total += chunk.len();
            }
            drain(conn).await
        }
        Act::Relay(upstream) => {
            let mut up = TcpStream::connect(upstream).await?;
            tokio::io::copy_bidirectional(&mut conn, &mut up).await?;
            Ok(())
        }
    }
}
