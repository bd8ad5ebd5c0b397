//! In-process servers on 127.0.0.1:0 that speak SMTP, IMAP, POP3, TLS and DNS
//! for real, with switches for the failures under test, plus raw scripted
//! servers for hostile behaviour. Each stops (with all its connections) when
//! its handle is dropped.
//!
//! They stand in for Microsoft's servers, never for our own code; sockets
//! without a server (free ports, the black hole) are [`crate::net`]'s.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::ServerConfig;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

mod exchange;
mod hostile;

pub use exchange::{Flow, FlowServers, Inbox, Stored, flow};
pub use hostile::{Act, FLOOD_CAP, Hostile, Proto, Sent, Stage, hostile};

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Connections whose session has ended (the client left, or the server hung up).
    pub finished: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// `127.0.0.1:port`, as a check target.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Sessions still running: a client that left has closed its socket.
    pub fn open_sessions(&self) -> usize {
        self.connection_count() - self.finished.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections and runs `handler` on each; handler errors are ignored
/// (a client hanging up mid-session is normal in these tests).
pub async fn serve<F, Fut>(handler: F) -> TestServer
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind test server");
    let addr = listener.local_addr().expect("local addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (count, done) = (connections.clone(), finished.clone());
    let task = tokio::spawn(async move {
        // Owned here, so aborting the server aborts every connection too.
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let fut = handler(stream);
            let done = done.clone();
            conns.spawn(async move {
                let _ = fut.await;
                done.fetch_add(1, Ordering::SeqCst);
            });
            while conns.try_join_next().is_some() {}
        }
    });
    TestServer {
        addr,
        connections,
        finished,
        task,
    }
}

pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
type Conn = BufReader<Box<dyn Stream>>;

/// How a mail test server behaves.
#[derive(Clone)]
pub struct Mail {
    pub tls: Arc<ServerConfig>,
    /// TLS from the first byte (465/993/995) instead of STARTTLS.
    pub implicit: bool,
    pub offer_starttls: bool,
    pub accept_starttls: bool,
    /// Replaces the greeting line (CRLF added).
    pub greeting: Option<String>,
    /// Bytes sent right after the STARTTLS go-ahead, in the same write.
    pub inject_after_starttls: Option<&'static [u8]>,
    /// Raw bytes sent before the reply to CAPABILITY (IMAP) / EHLO (SMTP).
    pub before_capability: Option<&'static [u8]>,
    /// SMTP: the replies to AUTH, in order; after a `334` the client's next
    /// line gets the next reply. Default: `235` at once.
    pub auth_replies: &'static [&'static str],
    /// IMAP: advertise SASL-IR (initial response on the AUTHENTICATE line).
    pub sasl_ir: bool,
    /// IMAP: the account has no mailbox (STATUS and EXAMINE answer NO), as
    /// Exchange Online does for a user without an Exchange license.
    pub no_mailbox: bool,
    /// IMAP: what STATUS and EXAMINE get after login instead of their data,
    /// `{tag}` replaced by the command's tag: Exchange's `{tag} BAD User is
    /// authenticated but not connected.`, or an untagged `* BYE ...` after
    /// which the server hangs up.
    pub after_login: Option<&'static str>,
    /// IMAP EXISTS/MESSAGES and POP3 STAT: the messages in the INBOX.
    pub messages: u64,
    /// IMAP: the INTERNALDATE `FETCH 1 (INTERNALDATE)` answers (message 1, the oldest).
    pub internaldate: &'static str,
    /// POP3: the reply to AUTH (after the client's initial response).
    pub pop3_auth_reply: &'static str,
    /// POP3: the header lines `TOP 1 0` answers, CRLF-separated, ending with
    /// the empty line that ends a header (the server adds the final `.`).
    pub top_header: &'static str,
    /// POP3: `TOP 1 0` answers with one header folded without end (until the
    /// client hangs up, at most 4 MiB).
    pub endless_top: bool,
}

/// Message 1's header as Exchange's POP3 gives it with `TOP 1 0`: the first
/// `Received:` (folded, as Exchange folds it) dates its arrival, 3 Dec 2026 10:00 UTC.
pub const EXCHANGE_TOP_HEADER: &str = "Received: from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208:11::1)\r\n by AM0PR01MB5678.eurprd01.prod.exchangelabs.com with HTTPS; Thu, 3 Dec 2026\r\n 10:00:00 +0000\r\nReceived: from mail.example.com by AM0PR01MB1234.eurprd01.prod.exchangelabs.com; Thu, 3 Dec 2026 09:59:58 +0000\r\nFrom: customer@example.com\r\nSubject: order 42\r\n\r\n";

impl Mail {
    pub fn new(tls: Arc<ServerConfig>) -> Mail {
        Mail {
            tls,
            implicit: false,
            offer_starttls: true,
            accept_starttls: true,
            greeting: None,
            inject_after_starttls: None,
            before_capability: None,
            auth_replies: &["235 2.7.0 Authentication successful"],
            sasl_ir: true,
            no_mailbox: false,
            after_login: None,
            messages: 17,
            internaldate: "03-Dec-2026 10:00:00 +0000",
            pop3_auth_reply: "+OK User successfully authenticated.",
            top_header: EXCHANGE_TOP_HEADER,
            endless_top: false,
        }
    }

    pub fn implicit(mut self) -> Mail {
        self.implicit = true;
        self
    }
}

pub(crate) async fn open(stream: TcpStream, m: &Mail) -> io::Result<Conn> {
    let stream: Box<dyn Stream> = if m.implicit {
        Box::new(TlsAcceptor::from(m.tls.clone()).accept(stream).await?)
    } else {
        Box::new(stream)
    };
    Ok(BufReader::new(stream))
}

pub(crate) async fn upgrade(conn: Conn, m: &Mail) -> io::Result<Conn> {
    let tls = TlsAcceptor::from(m.tls.clone()).accept(conn.into_inner()).await?;
    Ok(BufReader::new(Box::new(tls)))
}

pub(crate) async fn send(conn: &mut Conn, data: &[u8]) -> io::Result<()> {
    conn.get_mut().write_all(data).await?;
    conn.get_mut().flush().await
}

/// One command line, or None at EOF. Our client's lines are short.
pub(crate) async fn recv(conn: &mut Conn) -> io::Result<Option<String>> {
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end().to_string()))
}

pub async fn smtp(m: Mail) -> TestServer {
    serve(move |s| smtp_session(s, m.clone())).await
}

async fn smtp_session(stream: TcpStream, m: Mail) -> io::Result<()> {
    let mut conn = open(stream, &m).await?;
    let mut tls_on = m.implicit;
    let greeting = m
        .greeting
        .clone()
        .unwrap_or_else(|| "220 test.example Microsoft ESMTP MAIL Service ready".into());
    send(&mut conn, format!("{greeting}\r\n").as_bytes()).await?;
    while let Some(line) = recv(&mut conn).await? {
        let verb = line.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                if let Some(extra) = m.before_capability {
                    send(&mut conn, extra).await?;
                }
                let mut out = String::from("250-test.example Hello [127.0.0.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n");
                if !tls_on && m.offer_starttls {
                    out.push_str("250-STARTTLS\r\n");
                }
                if tls_on {
                    out.push_str("250-AUTH LOGIN XOAUTH2\r\n");
                }
                out.push_str("250 8BITMIME\r\n");
                send(&mut conn, out.as_bytes()).await?;
            }
            "STARTTLS" if m.accept_starttls => {
                let mut out = b"220 2.0.0 SMTP server ready\r\n".to_vec();
                out.extend_from_slice(m.inject_after_starttls.unwrap_or_default());
                send(&mut conn, &out).await?;
                conn = upgrade(conn, &m).await?;
                tls_on = true;
            }
            "STARTTLS" => send(&mut conn, b"454 4.7.0 TLS not available due to temporary reason\r\n").await?,
            "AUTH" => {
                for reply in m.auth_replies {
                    send(&mut conn, format!("{reply}\r\n").as_bytes()).await?;
                    if !reply.starts_with("334") {
                        break;
                    }
                    // The client answers the challenge (with an empty line).
                    let _ = recv(&mut conn).await?;
                }
            }
            "QUIT" => return send(&mut conn, b"221 2.0.0 Service closing transmission channel\r\n").await,
            _ => send(&mut conn, b"500 5.3.3 Unrecognized command\r\n").await?,
        }
    }
    Ok(())
}

pub async fn imap(m: Mail) -> TestServer {
    serve(move |s| imap_session(s, m.clone())).await
}

async fn imap_session(stream: TcpStream, m: Mail) -> io::Result<()> {
    let mut conn = open(stream, &m).await?;
    let mut tls_on = m.implicit;
    let greeting = m
        .greeting
        .clone()
        .unwrap_or_else(|| "* OK The Microsoft Exchange IMAP4 service is ready.".into());
    send(&mut conn, format!("{greeting}\r\n").as_bytes()).await?;
    while let Some(line) = recv(&mut conn).await? {
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or_default().to_string();
        let command = words.next().unwrap_or_default().to_ascii_uppercase();
        match command.as_str() {
            "CAPABILITY" => {
                if let Some(extra) = m.before_capability {
                    send(&mut conn, extra).await?;
                }
                let mut caps = String::from("* CAPABILITY IMAP4 IMAP4rev1");
                if !tls_on && m.offer_starttls {
                    caps.push_str(" STARTTLS LOGINDISABLED");
                }
                if tls_on {
                    caps.push_str(" AUTH=PLAIN AUTH=XOAUTH2");
                }
                if m.sasl_ir {
                    caps.push_str(" SASL-IR");
                }
                caps.push_str(" UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+");
                send(&mut conn, format!("{caps}\r\n{tag} OK CAPABILITY completed.\r\n").as_bytes()).await?;
            }
            "STARTTLS" if m.accept_starttls => {
                let mut out = format!("{tag} OK Begin TLS negotiation now.\r\n").into_bytes();
                out.extend_from_slice(m.inject_after_starttls.unwrap_or_default());
                send(&mut conn, &out).await?;
                conn = upgrade(conn, &m).await?;
                tls_on = true;
            }
            "STARTTLS" => send(&mut conn, format!("{tag} BAD Command received in Invalid state.\r\n").as_bytes()).await?,
            "AUTHENTICATE" => {
                let initial = words.nth(1).map(str::to_string);
                let response = match initial {
                    Some(_) if !m.sasl_ir => {
                        send(&mut conn, format!("{tag} BAD SASL-IR is not supported\r\n").as_bytes()).await?;
                        continue;
                    }
                    Some(ir) => ir,
                    None => {
                        send(&mut conn, b"+ \r\n").await?;
                        recv(&mut conn).await?.unwrap_or_default()
                    }
                };
                let reply = if response.is_empty() {
                    "NO AUTHENTICATE failed."
                } else {
                    "OK AUTHENTICATE completed."
                };
                send(&mut conn, format!("{tag} {reply}\r\n").as_bytes()).await?;
            }
            "STATUS" | "EXAMINE" if m.after_login.is_some() => {
                let reply = m.after_login.unwrap_or_default().replace("{tag}", &tag);
                send(&mut conn, format!("{reply}\r\n").as_bytes()).await?;
                if reply.starts_with("* BYE") {
                    return Ok(());
                }
            }
            "STATUS" | "EXAMINE" if m.no_mailbox => {
                send(
                    &mut conn,
                    format!("{tag} NO Mailbox does not exist or access is denied.\r\n").as_bytes(),
                )
                .await?
            }
            "STATUS" => {
                send(
                    &mut conn,
                    format!(
                        "* STATUS INBOX (MESSAGES {} UNSEEN 0)\r\n{tag} OK STATUS completed.\r\n",
                        m.messages
                    )
                    .as_bytes(),
                )
                .await?
            }
            "EXAMINE" => {
                send(
                    &mut conn,
                    format!("* {} EXISTS\r\n{tag} OK [READ-ONLY] EXAMINE completed.\r\n", m.messages).as_bytes(),
                )
                .await?
            }
            "FETCH" if m.messages > 0 && line.ends_with(" FETCH 1 (INTERNALDATE)") => {
                let date = m.internaldate;
                send(
                    &mut conn,
                    format!("* 1 FETCH (INTERNALDATE \"{date}\")\r\n{tag} OK FETCH completed.\r\n").as_bytes(),
                )
                .await?
            }
            "LOGOUT" => {
                return send(
                    &mut conn,
                    format!("* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n{tag} OK LOGOUT completed.\r\n").as_bytes(),
                )
                .await;
            }
            _ => send(&mut conn, format!("{tag} BAD Command Error. 12\r\n").as_bytes()).await?,
        }
    }
    Ok(())
}

pub async fn pop3(m: Mail) -> TestServer {
    serve(move |s| pop3_session(s, m.clone())).await
}

async fn pop3_session(stream: TcpStream, m: Mail) -> io::Result<()> {
    let mut conn = open(stream, &m).await?;
    let mut tls_on = m.implicit;
    let greeting = m
        .greeting
        .clone()
        .unwrap_or_else(|| "+OK The Microsoft Exchange POP3 service is ready.".into());
    send(&mut conn, format!("{greeting}\r\n").as_bytes()).await?;
    while let Some(line) = recv(&mut conn).await? {
        match line.to_ascii_uppercase().as_str() {
            "CAPA" => {
                let mut out = String::from("+OK\r\nTOP\r\nUIDL\r\n");
                if !tls_on && m.offer_starttls {
                    out.push_str("STLS\r\n");
                }
                out.push_str(if tls_on { "USER\r\nSASL PLAIN XOAUTH2\r\n" } else { "SASL\r\n" });
                out.push_str(".\r\n");
                send(&mut conn, out.as_bytes()).await?;
            }
            "STLS" if m.accept_starttls => {
                let mut out = b"+OK Begin TLS negotiation\r\n".to_vec();
                out.extend_from_slice(m.inject_after_starttls.unwrap_or_default());
                send(&mut conn, &out).await?;
                conn = upgrade(conn, &m).await?;
                tls_on = true;
            }
            "STLS" => send(&mut conn, b"-ERR Command is not valid in this state.\r\n").await?,
            "QUIT" => return send(&mut conn, b"+OK Microsoft Exchange Server POP3 server signing off.\r\n").await,
            auth if auth.starts_with("AUTH XOAUTH2 ") && tls_on => send(&mut conn, format!("{}\r\n", m.pop3_auth_reply).as_bytes()).await?,
            "STAT" => send(&mut conn, format!("+OK {} {}\r\n", m.messages, m.messages * 4096).as_bytes()).await?,
            "TOP 1 0" if m.messages > 0 && m.endless_top => {
                send(&mut conn, b"+OK\r\nReceived: from x\r\n").await?;
                let fold = format!(" by {} with HTTPS\r\n", "y".repeat(990));
                for _ in 0..(4 << 20) / fold.len() {
                    if send(&mut conn, fold.as_bytes()).await.is_err() {
                        return Ok(());
                    }
                }
                send(&mut conn, b" ; Thu, 3 Dec 2026 10:00:00 +0000\r\n\r\n.\r\n").await?
            }
            "TOP 1 0" if m.messages > 0 => send(&mut conn, format!("+OK\r\n{}.\r\n", m.top_header).as_bytes()).await?,
            _ => send(&mut conn, b"-ERR Protocol error. 14\r\n").await?,
        }
    }
    Ok(())
}

/// Completes TLS handshakes, then reads and discards until the client leaves.
pub async fn tls(cfg: Arc<ServerConfig>) -> TestServer {
    serve(move |stream| {
        let acceptor = TlsAcceptor::from(cfg.clone());
        async move {
            let mut tls = acceptor.accept(stream).await?;
            let _ = tokio::io::copy(&mut tls, &mut tokio::io::sink()).await;
            Ok(())
        }
    })
    .await
}

/// What a raw server does after sending its script.
#[derive(Clone, Copy, Debug)]
pub enum After {
    /// Keeps the connection open and silent.
    Hold,
    /// Closes the connection.
    Close,
    /// Reads and discards what the client sends, replying nothing.
    Drain,
}

/// Sends `script` as is, then does `after`. For garbage, wrong protocols,
/// silence and early closes.
pub async fn raw(script: &'static [u8], after: After) -> TestServer {
    serve(move |mut stream| async move {
        stream.write_all(script).await?;
        match after {
            After::Close => Ok(()),
            After::Hold => {
                std::future::pending::<()>().await;
                Ok(())
            }
            After::Drain => {
                let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
                Ok(())
            }
        }
    })
    .await
}

/// Sends `prefix`, then `unit` again and again, up to `cap` bytes in all (so
/// the test itself stays bounded), then holds the connection open.
pub async fn flood(prefix: &'static [u8], unit: &'static [u8], cap: usize) -> TestServer {
    serve(move |mut stream| async move {
        stream.write_all(prefix).await?;
        let mut sent = prefix.len();
        while sent < cap {
            stream.write_all(unit).await?;
            sent += unit.len();
        }
        std::future::pending::<()>().await;
        Ok(())
    })
    .await
}

/// How the test DNS server answers every query.
#[derive(Clone, Debug)]
pub enum DnsMode {
    /// NOERROR with these A records.
    Answer(Vec<Ipv4Addr>),
    /// NOERROR, no records (the name exists, not with this type).
    NoData,
    NxDomain,
    ServFail,
    Refused,
    /// Never answers.
    Silent,
    /// NOERROR with the TC (truncated) bit and no records, over UDP; nothing
    /// listens on TCP, so the retry over TCP the bit asks for is refused.
    Truncated,
    /// A header announcing five answers that are not there.
    Malformed,
    /// A good answer with someone else's query id (a spoofing attempt).
    WrongId,
}

/// A UDP DNS server on 127.0.0.1:0 answering every query the same way.
pub struct DnsServer {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn dns(mode: DnsMode) -> DnsServer {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
    let addr = socket.local_addr().expect("dns addr");
    let queries = Arc::new(AtomicUsize::new(0));
    let count = queries.clone();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            count.fetch_add(1, Ordering::SeqCst);
            if let Some(reply) = dns_reply(&buf[..n], &mode) {
                let _ = socket.send_to(&reply, from).await;
            }
        }
    });
    DnsServer { addr, queries, task }
}

/// Builds the reply by hand from the query's header and question (RFC 1035
/// section 4.1), so the server depends on no DNS library.
fn dns_reply(query: &[u8], mode: &DnsMode) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut pos = 12;
    while *query.get(pos)? != 0 {
        pos += 1 + usize::from(query[pos]);
    }
    let question_end = pos + 1 + 4;
    let question = query.get(12..question_end)?;
    let qtype = u16::from_be_bytes([question[question.len() - 4], question[question.len() - 3]]);
    let (rcode, answers): (u8, Vec<Ipv4Addr>) = match mode {
        DnsMode::Silent => return None,
        DnsMode::Answer(ips) if qtype == 1 => (0, ips.clone()),
        DnsMode::WrongId => (0, vec![Ipv4Addr::new(192, 0, 2, 66)]),
        DnsMode::Answer(_) | DnsMode::NoData | DnsMode::Truncated | DnsMode::Malformed => (0, vec![]),
        DnsMode::NxDomain => (3, vec![]),
        DnsMode::ServFail => (2, vec![]),
        DnsMode::Refused => (5, vec![]),
    };
    let mut out = Vec::with_capacity(512);
    let id = u16::from_be_bytes([query[0], query[1]]);
    let id = if matches!(mode, DnsMode::WrongId) { id ^ 0x5a5a } else { id };
    out.extend_from_slice(&id.to_be_bytes());
    let tc = if matches!(mode, DnsMode::Truncated) { 0x02 } else { 0 };
    out.push(0x80 | tc | (query[2] & 0x01)); // QR, opcode 0, TC, RD copied
    out.push(0x80 | rcode); // RA, rcode
    out.extend_from_slice(&[0, 1]); // one question
    let announced = if matches!(mode, DnsMode::Malformed) {
        5
    } else {
        answers.len() as u16
    };
    out.extend_from_slice(&announced.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    out.extend_from_slice(question);
    for ip in answers {
        out.extend_from_slice(&[0xc0, 0x0c]); // name: pointer to the question
        out.extend_from_slice(&[0, 1, 0, 1]); // type A, class IN
        out.extend_from_slice(&300u32.to_be_bytes());
        out.extend_from_slice(&[0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}
