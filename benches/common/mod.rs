//! What the benches share: the loopback TLS and SMTP servers (run in a child
//! process, this bench binary re-executed with [`SERVE_ARG`], so their CPU is
//! never counted for the side being measured), their certificates, and
//! reading a process's CPU time and memory from `/proc`. Linux only.
//!
//! Nothing here measures or asserts; each bench prints its own table.

#![allow(dead_code)] // each bench uses its own subset

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The argument that turns a bench binary into the server child.
pub const SERVE_ARG: &str = "--serve-bench-servers";

/// Becomes the server child (and never returns) when `args` ask for it.
pub fn serve_if_asked(args: &[String]) {
    if let Some(i) = args.iter().position(|a| a == SERVE_ARG) {
        let dir = args.get(i + 1).expect("--serve-bench-servers needs a directory");
        server::serve(Path::new(dir));
    }
}

// ---------------------------------------------------------------------------
// A process's CPU time and memory, from /proc/<pid> (or /proc/self).
// ---------------------------------------------------------------------------

/// `utime + stime` of a whole process in clock ticks, its dead threads
/// included; `proc_dir` is `/proc/self` or `/proc/<pid>`.
pub fn stat_ticks(proc_dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    // The command name may contain spaces; fields resume after its `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// A field of `/proc/<pid>/status` in KiB: `VmHWM` (peak RSS) or `VmRSS`.
pub fn status_kib(proc_dir: &Path, field: &str) -> Option<u64> {
    proc_kib(proc_dir, "status", field)
}

/// A `FIELD: N kB` line of a file of `/proc/<pid>` (`status`, `smaps_rollup`), in KiB.
pub fn proc_kib(proc_dir: &Path, file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(proc_dir.join(file)).ok()?;
    let line = text.lines().find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------
// The server child, seen from the parent.
// ---------------------------------------------------------------------------

/// The child's listening ports.
pub struct Ports {
    pub tls: u16,
    pub smtp: u16,
    pub tls_resumption: u16,
    pub smtp_resumption: u16,
}

/// The server child process. Dropping it kills and reaps the child; the child
/// also exits by itself when its stdin closes (if this process dies hard).
pub struct ServerChild {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub ports: Ports,
}

impl ServerChild {
    pub fn spawn(dir: &Path) -> Self {
        let exe = std::env::current_exe().expect("cannot find this bench's executable");
        let mut child = Command::new(exe)
            .arg(SERVE_ARG)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the server child process");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("child stdout is piped"));
        let mut me = ServerChild {
            child,
            stdin,
            stdout,
            ports: Ports {
                tls: 0,
                smtp: 0,
                tls_resumption: 0,
                smtp_resumption: 0,
            },
        };
        // First line: `ports <tls> <smtp> <tls_resumption> <smtp_resumption>`.
        let line = me
            .read_line()
            .expect("the server child exited before reporting its ports (see its stderr above)");
        let ports: Vec<u16> = line
            .strip_prefix("ports ")
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        let [tls, smtp, tls_resumption, smtp_resumption] = ports[..] else {
            panic!("unexpected first line from the server child: {line:?}");
        };
        me.ports = Ports {
            tls,
            smtp,
            tls_resumption,
            smtp_resumption,
        };
        me
    }

    fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Some(line.trim_end().to_string()),
            _ => None,
        }
    }

    /// Handshakes the child has completed so far: (full, resumed).
    pub fn handshake_stats(&mut self) -> Option<(u64, u64)> {
        let stdin = self.stdin.as_mut()?;
        writeln!(stdin, "stats").ok()?;
        stdin.flush().ok()?;
        let line = self.read_line()?;
        let mut it = line.strip_prefix("stats ")?.split_whitespace().map(|v| v.parse::<u64>().ok());
        Some((it.next()??, it.next()??))
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Certificates, written by the parent for the child.
// ---------------------------------------------------------------------------
pub mod certs {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

    /// Writes `ca.pem`, `cert.pem` (leaf, then CA) and `key.pem` (leaf key,
    /// PKCS#8) into `dir`. The leaf is for `localhost` and 127.0.0.1; rustls
    /// refuses a CA certificate as the end entity, hence the two levels.
    pub fn write_tls_files(dir: &Path) {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "ece-o365-exporter bench CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-signed CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let mut leaf_params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("leaf parameters");
        leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.use_authority_key_identifier_extension = true;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf certificate signed by the CA");

        let write = |name: &str, text: String| {
            std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("cannot write {}: {e}", dir.join(name).display()))
        };
        write("ca.pem", ca_cert.pem());
        write("cert.pem", format!("{}{}", leaf_cert.pem(), ca_cert.pem()));
        write("key.pem", leaf_key.serialize_pem());
    }
}

// ---------------------------------------------------------------------------
// Server child: TLS and SMTP test servers. Not measured; kept simple.
// ---------------------------------------------------------------------------
pub mod server {
    use super::*;
    use rustls::HandshakeKind;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::server::NoServerSessionStorage;
    use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::TlsAcceptor;

    /// Longest command line the SMTP server reads before hanging up.
    const MAX_LINE: u64 = 1024;

    static FULL_HANDSHAKES: AtomicU64 = AtomicU64::new(0);
    static RESUMED_HANDSHAKES: AtomicU64 = AtomicU64::new(0);

    /// Runs the servers until stdin closes, then exits the process.
    pub fn serve(dir: &Path) -> ! {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("server: cannot start tokio");
        let listeners = runtime.block_on(async {
            let mut ls = Vec::new();
            for _ in 0..4 {
                ls.push(TcpListener::bind("127.0.0.1:0").await.expect("server: cannot bind 127.0.0.1:0"));
            }
            ls
        });
        let port = |l: &TcpListener| l.local_addr().expect("server: local address").port();
        let line = format!(
            "ports {} {} {} {}",
            port(&listeners[0]),
            port(&listeners[1]),
            port(&listeners[2]),
            port(&listeners[3])
        );

        let full = TlsAcceptor::from(Arc::new(server_config(dir, false)));
        let resumption = TlsAcceptor::from(Arc::new(server_config(dir, true)));
        let mut listeners = listeners.into_iter();
        let mut next = || listeners.next().expect("four listeners");
        runtime.spawn(accept_loop(next(), full.clone(), false));
        runtime.spawn(accept_loop(next(), full, true));
        runtime.spawn(accept_loop(next(), resumption.clone(), false));
        runtime.spawn(accept_loop(next(), resumption, true));

        let mut out = io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .expect("server: cannot write to stdout");
        // The parent's commands on stdin; EOF means the parent is gone.
        for cmd in io::stdin().lock().lines() {
            let Ok(cmd) = cmd else { break };
            if cmd.trim() == "stats" {
                let (f, r) = (FULL_HANDSHAKES.load(Ordering::Relaxed), RESUMED_HANDSHAKES.load(Ordering::Relaxed));
                if writeln!(out, "stats {f} {r}").and_then(|_| out.flush()).is_err() {
                    break;
                }
            }
        }
        std::process::exit(0);
    }

    /// rustls server config with the ring provider; with `resumption` the
    /// server issues TLS 1.3 tickets (stateless, ring ticketer), without it
    /// every handshake is a full one.
    fn server_config(dir: &Path, resumption: bool) -> rustls::ServerConfig {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("cert.pem"))
            .expect("server: cannot open cert.pem")
            .collect::<Result<_, _>>()
            .expect("server: cannot parse cert.pem");
        let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).expect("server: cannot read key.pem");
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("server: protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server: certificate and key do not match");
        if resumption {
            cfg.ticketer = rustls::crypto::ring::Ticketer::new().expect("server: ticketer");
        } else {
            cfg.session_storage = Arc::new(NoServerSessionStorage {});
            cfg.send_tls13_tickets = 0;
        }
        cfg
    }

    async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, smtp: bool) {
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // Per-connection errors are the client's to report.
                        let _ = if smtp {
                            smtp_session(tcp, acceptor).await
                        } else {
                            tls_session(tcp, acceptor).await
                        };
                    });
                }
                Err(e) => {
                    // e.g. out of file descriptors: back off instead of spinning.
                    eprintln!("bench server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn count<S>(tls: &tokio_rustls::server::TlsStream<S>) {
        match tls.get_ref().1.handshake_kind() {
            Some(HandshakeKind::Resumed) => RESUMED_HANDSHAKES.fetch_add(1, Ordering::Relaxed),
            _ => FULL_HANDSHAKES.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// `kind: tls` peer: handshake, then read until the client closes.
    async fn tls_session(tcp: TcpStream, acceptor: TlsAcceptor) -> io::Result<()> {
        let mut tls = acceptor.accept(tcp).await?;
        count(&tls);
        let mut buf = [0u8; 1024];
        while tls.read(&mut buf).await? > 0 {}
        tls.shutdown().await
    }

    /// What ended a stretch of SMTP commands.
    enum After {
        Starttls,
        Closed,
    }

    /// `kind: smtp` peer: greeting, EHLO, STARTTLS, TLS, EHLO, QUIT; the
    /// EHLO replies look like Exchange Online's.
    async fn smtp_session(tcp: TcpStream, acceptor: TlsAcceptor) -> io::Result<()> {
        let mut plain = tokio::io::BufReader::new(tcp);
        send(&mut plain, b"220 bench ESMTP\r\n").await?;
        if let After::Closed = smtp_commands(&mut plain, false).await? {
            return Ok(());
        }
        // Anything the client sent after STARTTLS would be discarded here (it sends nothing).
        let tls = acceptor.accept(plain.into_inner()).await?;
        count(&tls);
        let mut secure = tokio::io::BufReader::new(tls);
        smtp_commands(&mut secure, true).await?;
        secure.get_mut().shutdown().await
    }

    async fn send<S: AsyncRead + AsyncWrite + Unpin>(r: &mut tokio::io::BufReader<S>, bytes: &[u8]) -> io::Result<()> {
        r.get_mut().write_all(bytes).await?;
        r.get_mut().flush().await
    }

    /// Reads one line of at most [`MAX_LINE`] bytes; `false` at EOF or when too long.
    async fn read_line_capped<R: AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        let n = (&mut *r).take(MAX_LINE).read_until(b'\n', buf).await?;
        Ok(n > 0 && buf.ends_with(b"\n"))
    }

    async fn smtp_commands<S: AsyncRead + AsyncWrite + Unpin>(r: &mut tokio::io::BufReader<S>, in_tls: bool) -> io::Result<After> {
        const EHLO_PLAIN: &[u8] = b"250-bench Hello [127.0.0.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n\
            250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
        const EHLO_TLS: &[u8] = b"250-bench Hello [127.0.0.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n\
            250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
        let mut line = Vec::with_capacity(128);
        loop {
            if !read_line_capped(r, &mut line).await? {
                return Ok(After::Closed);
            }
            let text = String::from_utf8_lossy(&line);
            let verb = text.trim_end().split(' ').next().unwrap_or("").to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => send(r, if in_tls { EHLO_TLS } else { EHLO_PLAIN }).await?,
                "STARTTLS" if !in_tls => {
                    send(r, b"220 2.0.0 Ready to start TLS\r\n").await?;
                    return Ok(After::Starttls);
                }
                "QUIT" => {
                    send(r, b"221 2.0.0 bye\r\n").await?;
                    return Ok(After::Closed);
                }
                "NOOP" | "RSET" => send(r, b"250 2.0.0 OK\r\n").await?,
                "STARTTLS" => send(r, b"503 5.5.1 TLS already active\r\n").await?,
                _ => send(r, b"502 5.5.2 Command not implemented\r\n").await?,
            }
        }
    }
}
