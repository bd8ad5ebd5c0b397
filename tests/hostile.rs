//! Hostile servers: a table of misbehaviours, each run against every check
//! kind it applies to (SMTP, IMAP and POP3 with STARTTLS and implicit TLS,
//! TLS, DNS, the token endpoint), all on loopback. Every run must end within
//! its timeout (plus a margin that only catches hangs) in `success 0` with the
//! reason and phase the table names, open at most one connection (no retry
//! storm), and leave no socket behind on either side.
//!
//! The memory tests run the real agent binary against flooding servers and
//! check that its peak RSS does not grow with the bytes they send, nor with
//! the length of the lines of a reply. Another runs the agent's `check` with
//! too few file descriptors: that is this machine's problem, never the network's.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ece_o365_exporter::checks::{build_all, run_check};
use ece_o365_exporter::config::Config;
use ece_o365_exporter::observation::Observation;
use ece_o365_exporter::reason::{Phase, Reason};
use rustls::ServerConfig;
use test_support::pki::{Leaf, Pki};
use test_support::servers::{self, Act, DnsMode, Hostile, Proto, Sent, Stage, TestServer};
use test_support::token_server::{Behaviour, TokenServer};

/// The agent binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_ece-o365-exporter");

/// Each check's timeout in the table. All cases run at once, so the
/// handshakes and replies of the well-behaved steps before each misbehaviour
/// share two cores; this leaves them ample time on a loaded machine, so the
/// timeout lands in the phase the table names. The slow cases (drips, silence)
/// take exactly this long, and all of them together take it once.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How far past its timeout a run may end before the test calls it a hang.
/// Generous: the machine is shared; this catches hangs, it measures nothing.
const HANG_MARGIN: Duration = Duration::from_secs(15);

/// What a check runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    SmtpStarttls,
    SmtpImplicit,
    ImapStarttls,
    ImapImplicit,
    Pop3Starttls,
    Pop3Implicit,
    Tls,
    Dns,
    Token,
}

use Kind::*;

const ALL: [Kind; 9] = [
    SmtpStarttls,
    SmtpImplicit,
    ImapStarttls,
    ImapImplicit,
    Pop3Starttls,
    Pop3Implicit,
    Tls,
    Dns,
    Token,
];

impl Kind {
    fn proto(self) -> Option<Proto> {
        match self {
            SmtpStarttls | SmtpImplicit => Some(Proto::Smtp),
            ImapStarttls | ImapImplicit => Some(Proto::Imap),
            Pop3Starttls | Pop3Implicit => Some(Proto::Pop3),
            Tls | Dns | Token => None,
        }
    }

    fn implicit(self) -> bool {
        matches!(self, SmtpImplicit | ImapImplicit | Pop3Implicit)
    }

    fn starttls(self) -> bool {
        matches!(self, SmtpStarttls | ImapStarttls | Pop3Starttls)
    }

    /// A TLS handshake is the first thing on the wire.
    fn tls_first(self) -> bool {
        self.implicit() || matches!(self, Tls | Token)
    }

    /// The phase after the greeting, in which the reply to the first command is read.
    fn first_reply_phase(self) -> Phase {
        match self.proto() {
            Some(Proto::Smtp) => Phase::Ehlo,
            _ => Phase::Capability,
        }
    }
}

/// The server a case starts.
#[derive(Clone)]
enum Server {
    Mail(Hostile),
    /// Raw TCP, no protocol at all (for TLS, the token endpoint and a mail port with implicit TLS).
    Raw(Stage, Act),
    /// A TLS server that completes handshakes with this certificate.
    Tls(Leaf),
    Dns(DnsMode),
    Token(Leaf, Behaviour),
    /// `openssl s_server` speaking TLS 1.0 only; `Some(proto)`: behind a STARTTLS go-ahead.
    Tls10(Option<Proto>),
}

struct Case {
    behaviour: &'static str,
    kind: Kind,
    server: Server,
    reason: Reason,
    phase: Phase,
}

/// The certificates the table uses, made once.
struct Certs {
    by_leaf: Vec<(Leaf, Arc<ServerConfig>)>,
    /// The good chain and key as PEM files, for openssl.
    files: test_support::pki::TlsFiles,
}

impl Certs {
    fn new(pki: &Pki) -> Certs {
        let leaves = [
            Leaf::Good,
            Leaf::Expired,
            Leaf::NotYetValid,
            Leaf::WrongName,
            Leaf::SelfSigned,
            Leaf::OtherCa,
        ];
        Certs {
            by_leaf: leaves.iter().map(|l| (*l, pki.server_config(*l))).collect(),
            files: pki.tls_files(),
        }
    }

    fn get(&self, leaf: Leaf) -> Arc<ServerConfig> {
        self.by_leaf
            .iter()
            .find(|(l, _)| *l == leaf)
            .map(|(_, c)| c.clone())
            .expect("leaf made")
    }
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// Per mail protocol (in [`Proto`]'s order), a flood of lines of 8,000 `byte`s
/// in the reply to the first command: (prefix, repeated unit).
fn long_line_floods(byte: u8) -> [(&'static [u8], &'static [u8]); 3] {
    let body = vec![byte; 8000];
    let line = |head: &[u8]| leak([head, &body, b"\r\n"].concat());
    [(b"", line(b"250-")), (b"", line(b"* CAPABILITY ")), (b"+OK\r\n", line(b""))]
}

/// A TLS alert record: fatal, handshake_failure.
const TLS_ALERT: &[u8] = b"\x15\x03\x03\x00\x02\x02\x28";
const HTTP_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\nBad Request";

/// The table: behaviour x kind -> expected reason and phase.
fn table(certs: &Certs) -> Vec<Case> {
    let mut cases = Vec::new();
    let huge_line = leak([b"220 ".as_slice(), &vec![b'x'; 1 << 20]].concat());
    // Lines just under the codec's 8 KiB line limit, without end: a reply of
    // them is bounded by its byte budget (64 KiB), whatever the bytes decode to.
    let long_lines = long_line_floods(b'x');
    let invalid_lines = long_line_floods(0xff);
    for kind in ALL {
        let proto = kind.proto();
        let good = certs.get(Leaf::Good);
        // A mail server misbehaving at `stage` (inside TLS for implicit kinds).
        let mail = |stage: Stage, act: Act| {
            Server::Mail(Hostile {
                proto: proto.unwrap_or(Proto::Smtp),
                implicit: kind.implicit().then(|| good.clone()),
                stage,
                act,
            })
        };
        // Per mail protocol: (smtp, imap, pop3).
        let pick = |smtp: &'static [u8], imap: &'static [u8], pop3: &'static [u8]| match proto {
            Some(Proto::Smtp) | None => smtp,
            Some(Proto::Imap) => imap,
            Some(Proto::Pop3) => pop3,
        };
        let mut add = |behaviour: &'static str, server: Server, reason: Reason, phase: Phase| {
            cases.push(Case {
                behaviour,
                kind,
                server,
                reason,
                phase,
            })
        };
        let token_tls = (Reason::TokenEndpointUnreachable, Phase::TokenRequest);
        let handshake = (Reason::TlsHandshakeFailed, Phase::Tls);
        // What a raw server before the TLS handshake causes: the handshake fails (or, for the token endpoint, the request).
        let broken_tls = if kind == Token { token_tls } else { handshake };

        // ---- silence and early closes
        match kind {
            Dns => add(
                "silent after connect",
                Server::Dns(DnsMode::Silent),
                Reason::DnsTimeout,
                Phase::Resolve,
            ),
            Tls => add(
                "silent after connect",
                Server::Raw(Stage::Connect, Act::Silent),
                Reason::Timeout,
                Phase::Tls,
            ),
            Token => add(
                "silent after connect",
                Server::Raw(Stage::Connect, Act::Silent),
                Reason::TokenEndpointTimeout,
                Phase::TokenRequest,
            ),
            _ => add(
                "silent after connect",
                mail(Stage::Greeting, Act::Silent),
                Reason::Timeout,
                Phase::Banner,
            ),
        }
        match kind {
            Dns => {}
            Tls | Token => add(
                "close before greeting",
                Server::Raw(Stage::Connect, Act::Close),
                broken_tls.0,
                broken_tls.1,
            ),
            _ => add(
                "close before greeting",
                mail(Stage::Greeting, Act::Close),
                Reason::ConnectionClosed,
                Phase::Banner,
            ),
        }
        match kind {
            Dns | Token => {}
            // A TLS record header announcing 80 bytes, and 1 of them.
            Tls => add(
                "close mid-reply",
                Server::Raw(Stage::Connect, Act::SendClose(b"\x16\x03\x03\x00\x50\x02")),
                handshake.0,
                handshake.1,
            ),
            _ => add(
                "close mid-reply",
                mail(
                    Stage::FirstReply,
                    Act::SendClose(pick(
                        b"250-mx.test Hello\r\n250-SIZE",
                        b"* CAPABILITY IMAP4rev1\r\n* CAPA",
                        b"+OK\r\nTOP\r\nUI",
                    )),
                ),
                Reason::ConnectionClosed,
                kind.first_reply_phase(),
            ),
        }

        // ---- slow and endless
        let gap = Duration::from_millis(50);
        match kind {
            Dns => {}
            // A handshake record of 16 KiB, dripped.
            Tls | Token => add(
                "slow drip",
                Server::Raw(
                    Stage::Connect,
                    Act::Drip {
                        prefix: b"\x16\x03\x03\x40\x00",
                        unit: b"\x02",
                        gap,
                    },
                ),
                if kind == Tls {
                    Reason::Timeout
                } else {
                    Reason::TokenEndpointTimeout
                },
                if kind == Tls { Phase::Tls } else { Phase::TokenRequest },
            ),
            // Complete lines keep coming, slower than the deadline allows for the reply.
            _ => add(
                "slow drip",
                mail(
                    Stage::FirstReply,
                    Act::Drip {
                        prefix: pick(b"", b"", b"+OK\r\n"),
                        unit: pick(b"250-drip\r\n", b"* CAPABILITY drip\r\n", b"DRIP\r\n"),
                        gap,
                    },
                ),
                Reason::Timeout,
                kind.first_reply_phase(),
            ),
        }
        match kind {
            Dns | Token => {}
            Tls => add(
                "endless line",
                Server::Raw(Stage::Connect, Act::Flood { prefix: b"", unit: b"x" }),
                handshake.0,
                handshake.1,
            ),
            _ => add(
                "endless line",
                mail(
                    Stage::Greeting,
                    Act::Flood {
                        prefix: pick(b"220 ", b"* OK ", b"+OK "),
                        unit: b"x",
                    },
                ),
                Reason::LineTooLong,
                Phase::Banner,
            ),
        }
        if proto.is_some() {
            add(
                "one huge line without CRLF",
                mail(Stage::Greeting, Act::Send(huge_line)),
                Reason::LineTooLong,
                Phase::Banner,
            );
            add(
                "endless multi-line reply",
                mail(
                    Stage::FirstReply,
                    Act::Flood {
                        prefix: pick(b"", b"", b"+OK\r\n"),
                        unit: pick(b"250-flood\r\n", b"* CAPABILITY flood\r\n", b"FLOOD\r\n"),
                    },
                ),
                Reason::TooManyLines,
                kind.first_reply_phase(),
            );
        }

        if let Some(p) = proto {
            for (behaviour, units) in [
                ("endless reply of long lines", &long_lines),
                ("endless reply of long invalid UTF-8 lines", &invalid_lines),
            ] {
                let (prefix, unit) = units[p as usize];
                add(
                    behaviour,
                    mail(Stage::FirstReply, Act::Flood { prefix, unit }),
                    Reason::ReplyTooLarge,
                    kind.first_reply_phase(),
                );
            }
        }

        // ---- bytes a line reader must not trust
        if proto.is_some() {
            // A bare LF ends a line: what follows it is judged as a line of its own.
            add(
                "bare LF",
                mail(
                    Stage::Greeting,
                    Act::Send(pick(b"220-mx.test\nbogus\r\n", b"* OK ready\nbogus\r\n", b"+OK ready\nbogus\r\n")),
                ),
                Reason::UnexpectedReply,
                if proto == Some(Proto::Smtp) {
                    Phase::Banner
                } else {
                    kind.first_reply_phase()
                },
            );
            add(
                "NUL bytes",
                mail(Stage::Greeting, Act::Send(b"\0\0\0\0 ready\r\n")),
                Reason::UnexpectedReply,
                Phase::Banner,
            );
            // Invalid UTF-8 in a greeting's text is only text; in place of a reply it is no reply.
            add(
                "invalid UTF-8",
                mail(
                    Stage::Greeting,
                    Act::Send(pick(
                        b"220 \xff\xfe mx\r\n\xc3\x28\xa0\xa1\r\n",
                        b"* OK \xff\xfe\r\n\xc3\x28\xa0\xa1\r\n",
                        b"+OK \xff\xfe\r\n\xc3\x28\xa0\xa1\r\n",
                    )),
                ),
                Reason::UnexpectedReply,
                kind.first_reply_phase(),
            );
            add(
                "4xx greeting",
                mail(
                    Stage::Greeting,
                    Act::SendClose(pick(
                        b"421 4.3.2 Too many connections\r\n",
                        b"* BYE Too many connections\r\n",
                        b"-ERR [IN-USE] Too many connections\r\n",
                    )),
                ),
                Reason::GreetingRejected,
                Phase::Banner,
            );
            add(
                "5xx greeting",
                mail(
                    Stage::Greeting,
                    Act::Send(pick(
                        b"554 5.3.2 Service not available\r\n",
                        b"* BYE [UNAVAILABLE] Service not available\r\n",
                        b"-ERR [SYS/PERM] Service not available\r\n",
                    )),
                ),
                Reason::GreetingRejected,
                Phase::Banner,
            );
            add(
                "another mail protocol",
                mail(
                    Stage::Greeting,
                    Act::Send(pick(Proto::Imap.greeting(), Proto::Smtp.greeting(), Proto::Imap.greeting())),
                ),
                Reason::UnexpectedReply,
                Phase::Banner,
            );
        }
        match kind {
            Dns => {}
            // HTTP on 993: plaintext where a TLS handshake was due.
            _ if kind.tls_first() => add(
                "HTTP instead",
                Server::Raw(Stage::Connect, Act::Send(HTTP_400)),
                broken_tls.0,
                broken_tls.1,
            ),
            _ => add(
                "HTTP instead",
                Server::Raw(Stage::Connect, Act::Send(HTTP_400)),
                Reason::UnexpectedReply,
                Phase::Banner,
            ),
        }

        // ---- STARTTLS and IMAP specials
        if kind.starttls() {
            // The injected bytes are a complete, successful reply; read as TLS data
            // they would turn the failure inside TLS into a success.
            let inside = |injected: &'static [u8]| {
                mail(
                    Stage::InsideStarttls {
                        tls: good.clone(),
                        injected,
                    },
                    Act::SendClose(b"BOGUS after TLS\r\n"),
                )
            };
            let injected = pick(
                b"250-mx.test\r\n250 AUTH XOAUTH2\r\n",
                b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\nE3 OK CAPABILITY completed.\r\n",
                b"+OK\r\nSASL XOAUTH2\r\n.\r\n",
            );
            let after = if proto == Some(Proto::Smtp) {
                Phase::EhloTls
            } else {
                Phase::Capability
            };
            add("STARTTLS injection", inside(injected), Reason::UnexpectedReply, after);
            add(
                "STARTTLS injection (control: nothing injected)",
                inside(b""),
                Reason::UnexpectedReply,
                after,
            );
        }
        if proto == Some(Proto::Imap) {
            add(
                "IMAP PREAUTH",
                mail(Stage::Greeting, Act::Send(b"* PREAUTH IMAP4rev1 server logged in as support\r\n")),
                Reason::UnexpectedReply,
                Phase::Banner,
            );
            add(
                "IMAP literal {999999999}",
                mail(Stage::FirstReply, Act::Send(b"* CAPABILITY {999999999}\r\n")),
                Reason::LineTooLong,
                Phase::Capability,
            );
        }

        // ---- TLS handshakes gone wrong
        let tls_raw = |act: Act| match kind {
            _ if kind.starttls() => mail(Stage::AfterGoAhead, act),
            _ => Server::Raw(Stage::Connect, act),
        };
        if kind != Dns {
            add(
                "TLS alert in the handshake",
                tls_raw(Act::Answer(TLS_ALERT)),
                broken_tls.0,
                broken_tls.1,
            );
            add(
                "plaintext in the handshake",
                tls_raw(Act::Answer(pick(
                    b"500 5.3.3 Unrecognized command\r\n",
                    b"* BAD Command Error. 10\r\n",
                    b"-ERR Protocol error. 14\r\n",
                ))),
                broken_tls.0,
                broken_tls.1,
            );
            let old_tls = if kind == Token {
                token_tls
            } else {
                (Reason::TlsVersionUnsupported, Phase::Tls)
            };
            add(
                "TLS 1.0 only",
                Server::Tls10(kind.starttls().then_some(proto).flatten()),
                old_tls.0,
                old_tls.1,
            );
        }
        let certificates = [
            ("expired certificate", Leaf::Expired, Reason::TlsCertExpired),
            ("not yet valid certificate", Leaf::NotYetValid, Reason::TlsCertNotYetValid),
            ("wrong-name certificate", Leaf::WrongName, Reason::TlsCertNameMismatch),
            ("self-signed certificate", Leaf::SelfSigned, Reason::TlsCertUntrusted),
            ("untrusted CA", Leaf::OtherCa, Reason::TlsCertUntrusted),
        ];
        for (behaviour, leaf, reason) in certificates {
            let cfg = certs.get(leaf);
            match kind {
                Dns => {}
                Tls => add(behaviour, Server::Tls(leaf), reason, Phase::Tls),
                Token => add(
                    behaviour,
                    Server::Token(leaf, Behaviour::Success { rotate: false }),
                    token_tls.0,
                    token_tls.1,
                ),
                _ if kind.starttls() => add(
                    behaviour,
                    mail(Stage::InsideStarttls { tls: cfg, injected: b"" }, Act::Silent),
                    reason,
                    Phase::Tls,
                ),
                _ => add(
                    behaviour,
                    Server::Mail(Hostile {
                        proto: proto.unwrap_or(Proto::Smtp),
                        implicit: Some(cfg),
                        stage: Stage::Greeting,
                        act: Act::Silent,
                    }),
                    reason,
                    Phase::Tls,
                ),
            }
        }

        // ---- DNS and the token endpoint
        if kind == Dns {
            add(
                "DNS truncated (TC bit)",
                Server::Dns(DnsMode::Truncated),
                Reason::DnsError,
                Phase::Resolve,
            );
            add(
                "DNS malformed answer",
                Server::Dns(DnsMode::Malformed),
                Reason::DnsError,
                Phase::Resolve,
            );
            add(
                "DNS mismatched id",
                Server::Dns(DnsMode::WrongId),
                Reason::DnsTimeout,
                Phase::Resolve,
            );
        }
        if kind == Token {
            let bad = (Reason::TokenBadResponse, Phase::TokenRequest);
            let token = |b: Behaviour| Server::Token(Leaf::Good, b);
            add("token HTML page", token(Behaviour::Html { status: 200 }), bad.0, bad.1);
            add("token huge body", token(Behaviour::Huge), bad.0, bad.1);
            add("token invalid JSON", token(Behaviour::MalformedJson), bad.0, bad.1);
            add(
                "token slow body",
                token(Behaviour::SlowBody(gap)),
                Reason::TokenEndpointTimeout,
                Phase::TokenRequest,
            );
        }
    }
    cases
}

/// A started server and how to count what it saw.
enum Running {
    Tcp(TestServer),
    Dns(servers::DnsServer),
    Token(TokenServer),
    Tls10(Tls10, Option<TestServer>),
}

impl Running {
    fn addr(&self) -> SocketAddr {
        match self {
            Running::Tcp(s) | Running::Tls10(_, Some(s)) => s.addr,
            Running::Dns(s) => s.addr,
            Running::Token(s) => s.addr,
            Running::Tls10(t, None) => t.addr,
        }
    }

    /// Connections (or DNS queries) the server received.
    fn connections(&self) -> usize {
        match self {
            Running::Tcp(s) | Running::Tls10(_, Some(s)) => s.connection_count(),
            Running::Dns(s) => s.queries.load(Ordering::SeqCst),
            Running::Token(s) => s.stats.connections.load(Ordering::SeqCst),
            // openssl does not count; the relay-less case relies on the fd check.
            Running::Tls10(_, None) => 1,
        }
    }

    /// Sessions the server still has open (its side of a socket the client left open).
    fn open_sessions(&self) -> usize {
        match self {
            Running::Tcp(s) | Running::Tls10(_, Some(s)) => s.open_sessions(),
            _ => 0,
        }
    }
}

async fn start(server: &Server, certs: &Certs, pki: &Pki, sent: &Sent) -> Option<Running> {
    Some(match server {
        Server::Mail(h) => Running::Tcp(servers::hostile(h.clone(), sent.clone()).await),
        Server::Raw(stage, act) => {
            let h = Hostile {
                proto: Proto::Smtp,
                implicit: None,
                stage: stage.clone(),
                act: *act,
            };
            Running::Tcp(servers::hostile(h, sent.clone()).await)
        }
        Server::Tls(leaf) => Running::Tcp(servers::tls(certs.get(*leaf)).await),
        Server::Dns(mode) => Running::Dns(servers::dns(mode.clone()).await),
        Server::Token(leaf, behaviour) => Running::Token(TokenServer::start_with(pki, *leaf, behaviour.clone()).await),
        Server::Tls10(proto) => {
            let openssl = Tls10::start(&certs.files).await?;
            let relay = match proto {
                Some(p) => Some(
                    servers::hostile(
                        Hostile {
                            proto: *p,
                            implicit: None,
                            stage: Stage::AfterGoAhead,
                            act: Act::Relay(openssl.addr),
                        },
                        sent.clone(),
                    )
                    .await,
                ),
                None => None,
            };
            Running::Tls10(openssl, relay)
        }
    })
}

/// The YAML of the one check a case runs, in `dir` (which holds `ca.pem`).
fn check_yaml(kind: Kind, addr: SocketAddr, dir: &Path) -> String {
    let timeout = humantime::format_duration(TIMEOUT);
    let tls = "    server_name: localhost\n    ca_file: ca.pem\n";
    let mail = |name: &str, mode: &str| {
        format!("checks:\n  - name: under-test\n    kind: {name}\n    target: {addr}\n    tls: {mode}\n    timeout: {timeout}\n{tls}")
    };
    match kind {
        SmtpStarttls => mail("smtp", "starttls"),
        SmtpImplicit => mail("smtp", "implicit"),
        ImapStarttls => mail("imap", "starttls"),
        ImapImplicit => mail("imap", "implicit"),
        Pop3Starttls => mail("pop3", "starttls"),
        Pop3Implicit => mail("pop3", "implicit"),
        Tls => format!("checks:\n  - name: under-test\n    kind: tls\n    target: {addr}\n    timeout: {timeout}\n{tls}"),
        Dns => format!(
            "checks:\n  - name: under-test\n    kind: dns\n    query: outlook.office365.com\n    record: A\n    timeout: {timeout}\n    dns_servers: [\"{addr}\"]\n"
        ),
        Token => {
            std::fs::write(dir.join("client-secret.txt"), "canary-hostile-secret-5d1e").expect("write secret");
            format!(
                "global:\n  extra_ca_file: ca.pem
tenants:
  - name: contoso
    tenant_id: contoso.onmicrosoft.com
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: file:client-secret.txt
    client_secret_expires: 2027-06-30
    authority: https://{addr}
mailboxes:
  - name: support
    address: support@contoso.com
    tenant: contoso
    grant: client_credentials
    protocols: [imap, pop3, smtp]
checks:
  - name: under-test
    kind: token
    mailbox: support
    timeout: {timeout}
"
            )
        }
    }
}

/// Runs one case; returns what went wrong, if anything.
async fn run_case(case: Case, certs: Arc<Certs>, pki: Arc<Pki>, sent: Sent) -> Result<(), String> {
    let label = format!("{} / {:?}", case.behaviour, case.kind);
    let Some(server) = start(&case.server, &certs, &pki, &sent).await else {
        return Ok(()); // openssl missing outside CI; Tls10::start said why
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&pki.ca_pem, dir.path().join("ca.pem")).expect("copy ca.pem");
    let yaml = check_yaml(case.kind, server.addr(), dir.path());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &yaml).expect("write config");
    let config = Config::from_yaml(&path, &yaml).map_err(|e| format!("{label}: config: {e}"))?;
    let checks = build_all(&config).map_err(|e| format!("{label}: build: {e}"))?;
    let started = Instant::now();
    let obs: Observation = run_check(&checks[0]).await;
    let took = started.elapsed();
    drop(checks);

    if let Err(f) = &obs.outcome {
        eprintln!("{label}: {} in {:?} after {took:.1?}: {}", f.reason, obs.failed_phase, f.detail);
    }
    let mut problems = Vec::new();
    match &obs.outcome {
        Ok(()) => problems.push("succeeded".to_string()),
        Err(f) if (f.reason, obs.failed_phase) != (case.reason, Some(case.phase)) => problems.push(format!(
            "got {} in {:?}, expected {} in {} ({})",
            f.reason, obs.failed_phase, case.reason, case.phase, f.detail
        )),
        Err(_) => {}
    }
    if took > TIMEOUT + HANG_MARGIN {
        problems.push(format!("took {took:?}: a hang"));
    }
    let connections = server.connections();
    // A DNS client retransmits the same query (same id) over UDP about once a
    // second within its one attempt; everything else connects exactly once.
    let bound = if case.kind == Dns { 1 + TIMEOUT.as_secs() as usize } else { 1 };
    if connections > bound {
        problems.push(format!("{connections} connections or queries for one run"));
    }
    // The client's socket is gone: the server side sees the close (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.open_sessions() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if server.open_sessions() > 0 {
        problems.push(format!(
            "{} server session(s) still open: the client kept its socket",
            server.open_sessions()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{label}: {}", problems.join("; ")))
    }
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// One hostile test at a time (the namespace test's outer half too): the fd
/// count and the memory figures are per process.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_table() {
    let _serial = SERIAL.lock().await;
    let pki = Arc::new(Pki::new());
    let certs = Arc::new(Certs::new(&pki));
    let cases = table(&certs);
    let behaviours: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.behaviour).collect();
    assert!(behaviours.len() >= 25, "only {} behaviours", behaviours.len());
    let total = cases.len();
    let fds_before = open_fds();

    let sent = Sent::default();
    let mut runs = tokio::task::JoinSet::new();
    for case in cases {
        runs.spawn(run_case(case, certs.clone(), pki.clone(), sent.clone()));
    }
    let mut failures = Vec::new();
    while let Some(result) = runs.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => failures.push(problem),
            Err(e) => failures.push(format!("a case panicked: {e}")),
        }
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every server is dropped and every check with it: no socket stays behind.
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_fds() > fds_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        open_fds() <= fds_before,
        "{} fds before the table, {} after",
        fds_before,
        open_fds()
    );
    eprintln!(
        "{total} cases, {} behaviours, {} MiB sent by the hostile servers",
        behaviours.len(),
        sent.load(Ordering::Relaxed) >> 20
    );
}

/// `openssl s_server` accepting TLS 1.0 only, on a free loopback port.
struct Tls10 {
    addr: SocketAddr,
    child: std::process::Child,
}

impl Tls10 {
    /// None when openssl is missing outside CI (said on stderr); in CI a missing openssl fails the test.
    async fn start(files: &test_support::pki::TlsFiles) -> Option<Tls10> {
        let Some(openssl) = test_support::process::find_binary("openssl") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "openssl is missing (scripts/install-test-peers.sh installs it)"
            );
            eprintln!("skipping the TLS 1.0 cases: openssl is not installed (scripts/install-test-peers.sh installs it)");
            return None;
        };
        // openssl binds port 0 itself and says which port it got: choosing a
        // free port here and handing it over raced with the table's other
        // servers (another one could take the port first and answer in its place).
        let mut child = std::process::Command::new(openssl)
            .args(["s_server", "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0", "-accept", "127.0.0.1:0"])
            .arg("-cert")
            .arg(&files.cert_chain_pem)
            .arg("-key")
            .arg(&files.key_pem)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        // Reads `ACCEPT 127.0.0.1:PORT`, then drains the rest so openssl never blocks on a full pipe.
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            let mut port_tx = Some(port_tx);
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("ACCEPT ").and_then(|a| a.rsplit(':').next()?.parse::<u16>().ok())
                    && let Some(tx) = port_tx.take()
                {
                    let _ = tx.send(port);
                }
            }
        });
        let mut server = Tls10 {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            child,
        };
        match tokio::time::timeout(Duration::from_secs(20), port_rx).await {
            Ok(Ok(port)) => server.addr.set_port(port),
            _ => panic!("openssl s_server never said which port it listens on"),
        }
        Some(server)
    }
}

impl Drop for Tls10 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One flooding server: (protocol, stage, flood prefix, flood unit).
type Flood = (Proto, Stage, &'static [u8], &'static [u8]);

/// Runs the real agent with `checks` checks spread over one server per
/// flood (interval and timeout 1s) until the servers have sent `target`
/// bytes; returns the agent's peak RSS (`VmHWM`) in KiB, after checking that
/// it kept reading and stopped cleanly.
async fn flood_the_agent(floods: &[Flood], checks: usize, target: usize) -> u64 {
    let sent = Sent::default();
    let mut servers = Vec::new();
    for (proto, stage, prefix, unit) in floods.iter().cloned() {
        let h = Hostile {
            proto,
            implicit: None,
            stage,
            act: Act::Flood { prefix, unit },
        };
        servers.push((proto, servers::hostile(h, sent.clone()).await));
    }
    let mut yaml = String::from("global:\n  interval: 1s\n  timeout: 1s\nchecks:\n");
    for i in 0..checks {
        let (proto, server) = &servers[i % servers.len()];
        let kind = match proto {
            Proto::Smtp => "smtp",
            Proto::Imap => "imap",
            Proto::Pop3 => "pop3",
        };
        yaml.push_str(&format!(
            "  - name: flood-{i}\n    kind: {kind}\n    tls: none\n    target: {}\n",
            server.addr
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, yaml).expect("write config");
    let agent = test_support::agent::Agent::start(BIN, &config, &[]);
    let pid = agent.child.id();

    let started = Instant::now();
    let mut early = None;
    // Every check runs twice or more (the kernel buffers much of what a
    // server sends, so bytes alone can be reached before every check read a
    // reply). Bounded only to catch a stuck agent; on this machine it takes seconds.
    let runs = || servers.iter().map(|(_, s)| s.connection_count()).sum::<usize>();
    while (sent.load(Ordering::Relaxed) < target || runs() < 2 * checks) && started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if early.is_none() && sent.load(Ordering::Relaxed) >= target / 8 {
            early = Some(memory_kib(pid));
        }
    }
    let (rss, hwm) = memory_kib(pid);
    let total = sent.load(Ordering::Relaxed);
    let runs = runs();
    let log = agent.log_text();
    assert_eq!(agent.terminate(), Some(0), "the agent stopped cleanly");
    eprintln!(
        "flood: {checks} checks, {} MiB sent over {runs} runs in {:.1?}; agent RSS {} KiB, peak {} KiB (after {} MiB: {:?})",
        total >> 20,
        started.elapsed(),
        rss,
        hwm,
        (target / 8) >> 20,
        early
    );
    assert!(
        total >= target && runs >= 2 * checks,
        "only {} MiB sent over {runs} runs: the agent stopped reading? log:\n{log}",
        total >> 20
    );
    assert!(hwm > 0, "no VmHWM for the agent");
    assert!(!log.contains("panicked"), "{log}");
    hwm
}

/// The agent's memory does not grow with what servers send: every check
/// reads through the bounded line codec, whatever the flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_memory_stays_bounded_under_floods() {
    const BOUND_KIB: u64 = 64 * 1024;
    const TARGET_SENT: usize = (4 * 64) << 20;
    let _serial = SERIAL.lock().await;
    let floods: [Flood; 8] = [
        (Proto::Smtp, Stage::Greeting, b"220 ", b"x"),
        (Proto::Smtp, Stage::FirstReply, b"", b"250-flood\r\n"),
        (Proto::Imap, Stage::Greeting, b"* OK ", b"x"),
        (Proto::Imap, Stage::FirstReply, b"", b"* CAPABILITY flood\r\n"),
        (Proto::Imap, Stage::FirstReply, b"* CAPABILITY {999999999}\r\n", b"x"),
        // A literal the client skips (64 KiB, its limit), then an endless line.
        (Proto::Imap, Stage::FirstReply, b"* CAPABILITY {65536}\r\n", b"x"),
        (Proto::Pop3, Stage::Greeting, b"+OK ", b"x"),
        (Proto::Pop3, Stage::FirstReply, b"+OK\r\n", b"FLOOD\r\n"),
    ];
    let hwm = flood_the_agent(&floods, floods.len(), TARGET_SENT).await;
    assert!(hwm < BOUND_KIB, "peak RSS {hwm} KiB over {BOUND_KIB} KiB");
}

/// Memory per reply is bounded in bytes, not lines: 256 checks (the
/// scheduler's bound on runs in flight) reading replies of 8,000-byte lines
/// of `0xFF` (three bytes each once decoded) at once keep the agent's peak
/// RSS under 128 MiB. (Keeping every line of such a reply, up to 512 of
/// them, meant megabytes per check.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_memory_is_bounded_per_reply_with_256_checks_flooded() {
    const BOUND_KIB: u64 = 128 * 1024;
    const TARGET_SENT: usize = 1 << 30;
    let _serial = SERIAL.lock().await;
    let floods: Vec<Flood> = long_line_floods(0xff)
        .into_iter()
        .zip([Proto::Smtp, Proto::Imap, Proto::Pop3])
        .map(|((prefix, unit), proto)| (proto, Stage::FirstReply, prefix, unit))
        .collect();
    let hwm = flood_the_agent(&floods, 256, TARGET_SENT).await;
    assert!(hwm < BOUND_KIB, "peak RSS {hwm} KiB over {BOUND_KIB} KiB with 256 checks");
}

/// A local problem is never the network's: the agent's `check`, its open
/// files limited (soft and hard: the agent may raise its soft limit to the
/// hard one) to fewer than its checks need at once, reports the checks that
/// could not open a socket as `local_resource_exhausted`, not as a network
/// reason. The target is a black hole, so every socket that did open stays
/// open (and ends in `connect_timeout`) while the others are tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_is_local_resource_exhausted() {
    const CHECKS: usize = 64;
    const NOFILE: usize = 40;
    let _serial = SERIAL.lock().await;
    let hole = test_support::net::black_hole(Ipv4Addr::LOCALHOST.into()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut yaml = String::from("checks:\n");
    for i in 0..CHECKS {
        yaml.push_str(&format!(
            "  - name: tcp-{i}\n    kind: tcp\n    target: {}\n    timeout: 2s\n",
            hole.addr
        ));
    }
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, yaml).expect("write config");
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -Sn {NOFILE} && ulimit -Hn {NOFILE} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .arg("--config.file")
        .arg(&config)
        .args(["check", "--output", "json"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the check command hung")
        .expect("run the check command under ulimit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let count = |reason: &str| stdout.matches(&format!("\"{reason}\"")).count();
    eprintln!(
        "{CHECKS} checks with {NOFILE} files: local_resource_exhausted mentioned {} times, connect_timeout {} times",
        count("local_resource_exhausted"),
        count("connect_timeout")
    );
    assert!(
        count("local_resource_exhausted") > 0,
        "no check said local_resource_exhausted (exit {:?}); stdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for network in ["network_unreachable", "connect_refused", "resolve_failed"] {
        assert_eq!(count(network), 0, "a local shortage reported as {network}:\n{stdout}");
    }
    // In the guide's terms: this server's System Configuration, with its remedy.
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("the report is JSON");
    let system = report["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["item"] == "system_configuration"))
        .unwrap_or_else(|| panic!("no system_configuration item: {report:#}"));
    assert_eq!(system["status"], "failed", "{system:#}");
    let remedies: Vec<&str> = system["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["evidence"]["reason"] == "local_resource_exhausted")
        .filter_map(|f| f["remedy"].as_str())
        .collect();
    assert!(
        remedies.iter().any(|r| r.contains("LimitNOFILE")),
        "no remedy naming the open-file limit: {system:#}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Set in the copy of this test binary that runs inside its own network namespace.
const NETNS_INNER: &str = "ECE_O365_TEST_NETNS_INNER";
/// Routed into `lo` inside that namespace only: its packets vanish there, a silent drop.
const NETNS_DROPPED: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// RFC 8305 connecting, in a network namespace this test creates (`unshare
/// --net`, as root) where the first address silently drops packets: the
/// connection is made to the second address (loopback) instead of the first
/// attempt eating the whole timeout. The namespace holds only `lo` and a route
/// of 10.99.0.0/24 into it; nothing leaves it.
#[test]
fn a_silently_dropping_first_address_in_a_network_namespace() {
    if std::env::var_os(NETNS_INNER).is_some() {
        return inside_the_namespace();
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let unshare = test_support::process::find_binary("unshare");
    let ip = test_support::process::find_binary("ip");
    let (true, Some(unshare), Some(_)) = (root, unshare, ip) else {
        let why = format!("not root ({root}) or unshare/ip (util-linux, iproute2) missing");
        assert!(
            std::env::var_os("CI").is_none(),
            "the network namespace test cannot run in CI: {why}"
        );
        eprintln!("SKIPPED: the network namespace test needs root, unshare and ip: {why}");
        return;
    };
    // Its child's pipes are open files of this process: not while the table counts them.
    let _serial = SERIAL.blocking_lock();
    let exe = std::env::current_exe().expect("this test binary");
    let mut child = std::process::Command::new(unshare)
        .args(["--net", "--"])
        .arg(exe)
        .args(["--exact", "a_silently_dropping_first_address_in_a_network_namespace", "--nocapture"])
        .env(NETNS_INNER, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start this test in a new network namespace");
    // Bounded: a hang here is a failure, not a wait.
    let mut status = None;
    for _ in 0..1200 {
        if let Some(s) = child.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.is_some_and(|s| s.success()) && stdout.contains("inside: connected to 127.0.0.1:"),
        "the run inside the namespace failed ({status:?}):\n{stdout}\n{stderr}"
    );
}

fn inside_the_namespace() {
    // Never outside the namespace this test made: there the dropped address
    // would be sent to the real network. A new namespace has `lo` alone.
    let interfaces: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .expect("read /proc/net/dev")
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
        .collect();
    assert_eq!(interfaces, ["lo"], "not inside a new network namespace: refusing to connect");
    for args in [&["link", "set", "lo", "up"][..], &["route", "add", "10.99.0.0/24", "dev", "lo"]] {
        let ok = std::process::Command::new("ip").args(args).status().expect("run ip");
        assert!(ok.success(), "ip {args:?} failed in the namespace");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        use ece_o365_exporter::proto::net::{ATTEMPT_DELAY, connect_any};
        let good = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let good_addr = good.local_addr().expect("addr");
        let dropped = SocketAddr::from((NETNS_DROPPED, good_addr.port()));
        // The address really drops: a lone attempt to it is still pending
        // when the race has connected.
        let mut alone = std::pin::pin!(tokio::net::TcpStream::connect(dropped));
        let raced = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::select! {
                r = &mut alone => panic!("{dropped} answered: {r:?}"),
                r = connect_any(vec![dropped, good_addr], ATTEMPT_DELAY) => r,
            }
        });
        let (_stream, addr) = raced.await.expect("a hang").expect("connected");
        assert_eq!(addr, good_addr);
        println!("inside: connected to {addr}");
    });
}
