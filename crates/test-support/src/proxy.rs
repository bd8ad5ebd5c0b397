//! In-process HTTP `CONNECT` proxies on 127.0.0.1:0 (RFC 9110 §9.3.6): one
//! that really tunnels to the target, and the misbehaving or refusing ones
//! the tests need (Basic auth required, a status, a close, silence, garbage, an
//! endless header line, TLS interception with its own certificate). Each
//! stops, with its connections, when its handle is dropped.
//!
//! They stand in for a corporate proxy, never for the agent's own code.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// How a test proxy answers `CONNECT`.
#[derive(Clone)]
pub enum Mode {
    /// Tunnels to the target (502 when the target does not accept).
    Tunnel,
    /// Tunnels only with `Proxy-Authorization: Basic` for these
    /// credentials; 407 with `Proxy-Authenticate: Basic` otherwise.
    BasicAuth { user: String, password: String },
    /// Answers this status line (`403 Forbidden`) and closes.
    Status(&'static str),
    /// Reads the request and closes without a word.
    Close,
    /// Reads the request and never answers (holds the connection a minute).
    Silent,
    /// Answers these bytes (not HTTP) and closes.
    Raw(&'static [u8]),
    /// Answers `200` and then one header line that never ends (bounded at
    /// 64 MiB so the server stops by itself).
    EndlessHeader,
    /// Answers `200` and terminates TLS itself with this configuration, as
    /// an inspecting proxy does; nothing reaches the target.
    Intercept(Arc<ServerConfig>),
}

/// A running test proxy.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    tunnels: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConnectProxy {
    pub async fn start(mode: Mode) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let tunnels = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (t, r) = (tunnels.clone(), requests.clone());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                conns.spawn(serve(client, mode.clone(), t.clone(), r.clone()));
            }
        });
        ConnectProxy {
            addr,
            tunnels,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:port`, for `proxy:`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Tunnels opened to a target (or intercepted) so far.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }

    /// The request heads received, as text.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `host:port` of every `CONNECT` received.
    pub fn targets(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|h| {
                let mut words = h.lines().next()?.split(' ');
                (words.next() == Some("CONNECT")).then(|| words.next().map(str::to_string))?
            })
            .collect()
    }
}

async fn serve(mut client: TcpStream, mode: Mode, tunnels: Arc<AtomicUsize>, requests: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    requests.lock().unwrap_or_else(|e| e.into_inner()).push(head.clone());
    let mut words = head.lines().next().unwrap_or_default().split(' ');
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    let target = target.to_string();
    match mode {
        Mode::Tunnel => tunnel(client, &target, &tunnels).await,
        Mode::BasicAuth { user, password } => {
            let want = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            // The scheme is case-insensitive, the credentials are not.
            let ok = head.lines().any(|l| {
                l.split_once(':').is_some_and(|(n, v)| {
                    let (scheme, token) = v.trim().split_once(' ').unwrap_or_default();
                    n.trim().eq_ignore_ascii_case("proxy-authorization") && scheme.eq_ignore_ascii_case("basic") && token.trim() == want
                })
            });
            if ok {
                tunnel(client, &target, &tunnels).await;
            } else {
                let _ = client
                    .write_all(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n",
                    )
                    .await;
            }
        }
        Mode::Status(line) => {
            let _ = client
                .write_all(format!("HTTP/1.1 {line}\r\ncontent-length: 0\r\n\r\n").as_bytes())
                .await;
        }
        Mode::Close => {}
        Mode::Silent => tokio::time::sleep(std::time::Duration::from_secs(60)).await,
        Mode::Raw(bytes) => {
            let _ = client.write_all(bytes).await;
        }
        Mode::EndlessHeader => {
            if client.write_all(b"HTTP/1.1 200 Connection established\r\nX-Flood: ").await.is_err() {
                return;
            }
            let unit = [b'a'; 4096];
            for _ in 0..(64 * 1024 * 1024 / unit.len()) {
                if client.write_all(&unit).await.is_err() {
                    return;
                }
            }
        }
        Mode::Intercept(cfg) => {
            if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
                return;
            }
            tunnels.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut tls) = TlsAcceptor::from(cfg).accept(client).await {
                let _ = tokio::io::copy(&mut tls, &mut tokio::io::sink()).await;
            }
        }
    }
}

async fn tunnel(mut client: TcpStream, target: &str, tunnels: &AtomicUsize) {
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n").await;
        return;
    };
    tunnels.fetch_add(1, Ordering::SeqCst);
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}
