//! Mail flow as Exchange Online serves it, in process: an SMTP submission
//! server (STARTTLS, AUTH, MAIL/RCPT/DATA) that delivers into one shared
//! INBOX, and an IMAP server (implicit TLS) over that INBOX with SELECT,
//! `UID SEARCH HEADER`, `UID FETCH` of header fields, `UID STORE` and
//! `UID EXPUNGE`, with switches for Exchange's refusals, a message that
//! never arrives and a cleanup that fails.
//!
//! It stands in for Microsoft's servers, never for the check: the tests
//! read the INBOX afterwards to see what the check left behind.

use std::io;
use std::sync::{Arc, Mutex};

use rustls::ServerConfig;
use tokio::net::TcpStream;

use super::{Mail, TestServer, open, recv, send, serve, upgrade};

/// How the pair behaves.
#[derive(Clone)]
pub struct Flow {
    pub tls: Arc<ServerConfig>,
    /// Replaces `250` to `MAIL FROM`.
    pub mail_from_reply: Option<&'static str>,
    /// Replaces `250` to `RCPT TO`.
    pub rcpt_reply: Option<&'static str>,
    /// Replaces `250` after the message's final dot.
    pub data_end_reply: Option<&'static str>,
    /// Whether an accepted message reaches the INBOX.
    pub deliver: bool,
    /// Replaces the tagged `OK` to `UID STORE` (the tag is prepended).
    pub store_reply: Option<&'static str>,
    /// Whether IMAP advertises UIDPLUS (and so `UID EXPUNGE`).
    pub uidplus: bool,
}

impl Flow {
    pub fn new(tls: Arc<ServerConfig>) -> Flow {
        Flow {
            tls,
            mail_from_reply: None,
            rcpt_reply: None,
            data_end_reply: None,
            deliver: true,
            store_reply: None,
            uidplus: true,
        }
    }
}

/// One stored message.
#[derive(Clone, Debug)]
pub struct Stored {
    pub uid: u64,
    /// The message as received, dots unstuffed, CRLF lines.
    pub text: String,
    pub deleted: bool,
}

impl Stored {
    /// The value of header `name` (case-insensitive, unfolded), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line.trim());
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_string());
            }
        }
        value
    }
}

/// The INBOX both servers share.
#[derive(Debug, Default)]
pub struct Inbox {
    next_uid: u64,
    pub messages: Vec<Stored>,
    /// Every message the SMTP side accepted, delivered or not.
    pub received: Vec<String>,
}

impl Inbox {
    /// Puts a message in the INBOX, as delivery does; returns its UID.
    pub fn append(&mut self, text: &str) -> u64 {
        self.next_uid += 1;
        self.messages.push(Stored {
            uid: self.next_uid,
            text: text.to_string(),
            deleted: false,
        });
        self.next_uid
    }
}

/// The running pair and their INBOX.
pub struct FlowServers {
    pub smtp: TestServer,
    pub imap: TestServer,
    pub inbox: Arc<Mutex<Inbox>>,
    /// Switch delivery on and off while the servers run.
    pub deliver: Arc<std::sync::atomic::AtomicBool>,
}

impl FlowServers {
    /// A copy of the INBOX's messages.
    pub fn messages(&self) -> Vec<Stored> {
        self.inbox.lock().expect("inbox").messages.clone()
    }

    /// Every message the SMTP side accepted so far, delivered or not.
    pub fn received(&self) -> Vec<String> {
        self.inbox.lock().expect("inbox").received.clone()
    }
}

pub async fn flow(f: Flow) -> FlowServers {
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let deliver = Arc::new(std::sync::atomic::AtomicBool::new(f.deliver));
    let (i, d, ff) = (inbox.clone(), deliver.clone(), f.clone());
    let smtp = serve(move |s| smtp_session(s, ff.clone(), i.clone(), d.clone())).await;
    let (i, ff) = (inbox.clone(), f.clone());
    let imap = serve(move |s| imap_session(s, ff.clone(), i.clone())).await;
    FlowServers {
        smtp,
        imap,
        inbox,
        deliver,
    }
}

fn mail(f: &Flow, implicit: bool) -> Mail {
    let mut m = Mail::new(f.tls.clone());
    m.implicit = implicit;
    m
}

async fn smtp_session(stream: TcpStream, f: Flow, inbox: Arc<Mutex<Inbox>>, deliver: Arc<std::sync::atomic::AtomicBool>) -> io::Result<()> {
    let m = mail(&f, false);
    let mut conn = open(stream, &m).await?;
    let mut tls_on = false;
    send(&mut conn, b"220 test.example Microsoft ESMTP MAIL Service ready\r\n").await?;
    while let Some(line) = recv(&mut conn).await? {
        let verb = line.split([' ', ':']).next().unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                let mut out = String::from("250-test.example Hello [127.0.0.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n");
                if !tls_on {
                    out.push_str("250-STARTTLS\r\n");
                } else {
                    out.push_str("250-AUTH LOGIN XOAUTH2\r\n");
                }
                out.push_str("250 8BITMIME\r\n");
                send(&mut conn, out.as_bytes()).await?;
            }
            "STARTTLS" => {
                send(&mut conn, b"220 2.0.0 SMTP server ready\r\n").await?;
                conn = upgrade(conn, &m).await?;
                tls_on = true;
            }
            "AUTH" => send(&mut conn, b"235 2.7.0 Authentication successful\r\n").await?,
            "MAIL" => {
                let reply = f.mail_from_reply.unwrap_or("250 2.1.0 Sender OK");
                send(&mut conn, format!("{reply}\r\n").as_bytes()).await?;
            }
            "RCPT" => {
                let reply = f.rcpt_reply.unwrap_or("250 2.1.5 Recipient OK");
                send(&mut conn, format!("{reply}\r\n").as_bytes()).await?;
            }
            "DATA" => {
                send(&mut conn, b"354 Start mail input; end with <CRLF>.<CRLF>\r\n").await?;
                let mut text = Vec::new();
                loop {
                    let Some(l) = recv(&mut conn).await? else { return Ok(()) };
                    if l == "." {
                        break;
                    }
                    text.push(l.strip_prefix('.').map(str::to_string).unwrap_or(l));
                }
                let reply = f
                    .data_end_reply
                    .unwrap_or("250 2.0.0 OK <1@test.example> [Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com]");
                if reply.starts_with('2') {
                    let mut inbox = inbox.lock().expect("inbox");
                    let text = text.join("\r\n");
                    inbox.received.push(text.clone());
                    if deliver.load(std::sync::atomic::Ordering::SeqCst) {
                        inbox.append(&text);
                    }
                }
                send(&mut conn, format!("{reply}\r\n").as_bytes()).await?;
            }
            "QUIT" => return send(&mut conn, b"221 2.0.0 Service closing transmission channel\r\n").await,
            _ => send(&mut conn, b"500 5.3.3 Unrecognized command\r\n").await?,
        }
    }
    Ok(())
}

/// The UIDs a set names (`3,7,12`); ranges are not needed by the check.
fn uid_set(set: &str) -> Vec<u64> {
    set.split(',').filter_map(|u| u.parse().ok()).collect()
}

async fn imap_session(stream: TcpStream, f: Flow, inbox: Arc<Mutex<Inbox>>) -> io::Result<()> {
    let m = mail(&f, true);
    let mut conn = open(stream, &m).await?;
    send(&mut conn, b"* OK The Microsoft Exchange IMAP4 service is ready.\r\n").await?;
    while let Some(line) = recv(&mut conn).await? {
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or_default().to_string();
        let command = words.next().unwrap_or_default().to_ascii_uppercase();
        let rest: Vec<&str> = words.collect();
        let out = match command.as_str() {
            "CAPABILITY" => {
                let uidplus = if f.uidplus { " UIDPLUS" } else { "" };
                format!(
                    "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR{uidplus} MOVE ID IDLE\r\n{tag} OK CAPABILITY completed.\r\n"
                )
            }
            "AUTHENTICATE" => format!("{tag} OK AUTHENTICATE completed.\r\n"),
            "SELECT" => {
                let n = inbox.lock().expect("inbox").messages.len();
                format!("* {n} EXISTS\r\n* 0 RECENT\r\n{tag} OK [READ-WRITE] SELECT completed.\r\n")
            }
            "UID" => uid_command(&tag, &rest, &f, &inbox),
            "LOGOUT" => {
                return send(
                    &mut conn,
                    format!("* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n{tag} OK LOGOUT completed.\r\n").as_bytes(),
                )
                .await;
            }
            _ => format!("{tag} BAD Command Error. 12\r\n"),
        };
        send(&mut conn, out.as_bytes()).await?;
    }
    Ok(())
}

fn uid_command(tag: &str, rest: &[&str], f: &Flow, inbox: &Mutex<Inbox>) -> String {
    let mut inbox = inbox.lock().expect("inbox");
    let sub = rest.first().map(|s| s.to_ascii_uppercase()).unwrap_or_default();
    match sub.as_str() {
        // UID SEARCH HEADER <name> "<value>": substring, as RFC 3501 says.
        "SEARCH" if rest.len() >= 4 && rest[1].eq_ignore_ascii_case("HEADER") => {
            let name = rest[2];
            let value = rest[3..].join(" ").trim_matches('"').to_string();
            let uids: Vec<String> = inbox
                .messages
                .iter()
                .filter(|m| {
                    m.header(name)
                        .is_some_and(|v| v.to_ascii_lowercase().contains(&value.to_ascii_lowercase()))
                })
                .map(|m| m.uid.to_string())
                .collect();
            let list = if uids.is_empty() {
                String::new()
            } else {
                format!(" {}", uids.join(" "))
            };
            format!("* SEARCH{list}\r\n{tag} OK SEARCH completed.\r\n")
        }
        // UID FETCH <set> (UID BODY.PEEK[HEADER.FIELDS (<name>)])
        "FETCH" if rest.len() >= 3 => {
            let name = rest
                .iter()
                .find_map(|w| w.strip_prefix("(").and_then(|w| w.strip_suffix(")])")))
                .unwrap_or("X-ECE-O365-Exporter-Probe");
            let mut out = String::new();
            for uid in uid_set(rest[1]) {
                let Some((seq, msg)) = inbox.messages.iter().enumerate().find(|(_, m)| m.uid == uid) else {
                    continue;
                };
                let header = match msg.header(name) {
                    Some(v) => format!("{name}: {v}\r\n\r\n"),
                    None => "\r\n".to_string(),
                };
                out.push_str(&format!(
                    "* {} FETCH (UID {uid} BODY[HEADER.FIELDS ({})] {{{}}}\r\n{header})\r\n",
                    seq + 1,
                    name.to_ascii_uppercase(),
                    header.len()
                ));
            }
            format!("{out}{tag} OK FETCH completed.\r\n")
        }
        "STORE" if rest.len() >= 4 => {
            if let Some(reply) = f.store_reply {
                return format!("{tag} {reply}\r\n");
            }
            let uids = uid_set(rest[1]);
            for m in inbox.messages.iter_mut().filter(|m| uids.contains(&m.uid)) {
                m.deleted = true;
            }
            format!("{tag} OK STORE completed.\r\n")
        }
        "EXPUNGE" if f.uidplus && rest.len() >= 2 => {
            let uids = uid_set(rest[1]);
            let mut out = String::new();
            let mut seq = 1;
            inbox.messages.retain(|m| {
                let gone = m.deleted && uids.contains(&m.uid);
                if gone {
                    out.push_str(&format!("* {seq} EXPUNGE\r\n"));
                } else {
                    seq += 1;
                }
                !gone
            });
            format!("{out}{tag} OK EXPUNGE completed.\r\n")
        }
        _ => format!("{tag} BAD Command Error. 12\r\n"),
    }
}
