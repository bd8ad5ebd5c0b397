//! The web endpoint: `/metrics`, `/-/healthy`, `/-/ready`, `POST /-/reload`
//! and a small status page at `/`. It only reads what the scheduler already recorded (the
//! [`RunningState`] the agent writes; it never imports the agent): a scrape
//! never runs a check, and no request can name a target (no SSRF surface).
//!
//! It also owns the listening socket (`:PORT` is every interface, IPv6 and
//! IPv4) and bounds what clients can hold: at most `--web.max-connections`
//! connections at once (more are closed as soon as they are accepted), each
//! with a deadline for its request headers. Idle clients must not use up the
//! file descriptors the checks need.

use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

mod encoding;

pub use encoding::GZIP_LEVEL;

use crate::i18n::Lang;
use crate::state::RunningState;
use crate::web::{AuthOutcome, WebConfig, WebGuard};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// A client gets this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once unless `--web.max-connections` says otherwise:
/// far below the usual 1,024 open files, so the checks keep theirs.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// At most one warning about refused connections this often.
const REFUSED_WARN_EVERY: Duration = Duration::from_secs(60);
/// Connections the kernel queues before they are accepted.
const LISTEN_BACKLOG: i32 = 1024;

/// Why the web endpoint cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("--web.listen-address `{0}` is not HOST:PORT (an IP address and a port, or :PORT for every interface)")]
    BadAddress(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Listens on `--web.listen-address`: `IP:PORT`, `[IPv6]:PORT`, or `:PORT`
/// for every interface, which is `[::]` accepting IPv6 and IPv4 alike, or
/// `0.0.0.0` on a host without IPv6. Call it inside a tokio runtime.
pub fn listen(text: &str) -> Result<TcpListener, ListenError> {
    let bad = || ListenError::BadAddress(text.to_string());
    let Some(port) = text.strip_prefix(':') else {
        let addr: SocketAddr = text.parse().map_err(|_| bad())?;
        return bind(addr, false).map_err(|source| ListenError::Bind { addr, source });
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    match bind(any6, true) {
        Ok(listener) => return Ok(listener),
        // The port is taken or forbidden: IPv4 alone would hide that.
        Err(source) if matches!(source.kind(), std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied) => {
            return Err(ListenError::Bind { addr: any6, source });
        }
        Err(e) => tracing::info!(error = %e, "no dual-stack IPv6 socket on this host; listening on IPv4 only"),
    }
    let any4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    bind(any4, false).map_err(|source| ListenError::Bind { addr: any4, source })
}

/// A non-blocking listening socket on `addr`; `dual_stack` lets an IPv6
/// socket accept IPv4 too (`IPV6_V6ONLY` off, whatever the system default).
fn bind(addr: SocketAddr, dual_stack: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    // As tokio does: a restart may bind while old connections are in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// A response body: small ones whole, `/metrics` in chunks, plain or gzip.
type Body = Either<Full<Bytes>, Either<encoding::Plain, encoding::Gzip>>;

/// What the handlers read: the agent's running state and the web settings.
struct AppState {
    running: Arc<RunningState>,
    /// TLS and basic auth from `--web.config.file` (none without it).
    web: Arc<WebGuard>,
}

/// Serves until `shutdown` is cancelled, at most [`DEFAULT_MAX_CONNECTIONS`] connections at once.
pub async fn serve(listener: TcpListener, running: Arc<RunningState>, web: WebGuard, shutdown: CancellationToken) {
    serve_capped(listener, running, web, DEFAULT_MAX_CONNECTIONS, shutdown).await;
}

/// Serves until `shutdown` is cancelled, at most `max_connections` at once:
/// a connection over the cap is accepted and closed at once (its descriptor
/// freed), with a warning at most every `REFUSED_WARN_EVERY`. `web` is the
/// TLS and basic auth of `--web.config.file` ([`WebGuard::open`] without it).
pub async fn serve_capped(
    listener: TcpListener,
    running: Arc<RunningState>,
    web: WebGuard,
    max_connections: usize,
    shutdown: CancellationToken,
) {
    let state = Arc::new(AppState {
        running,
        web: Arc::new(web),
    });
    let max_connections = max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut refused = Refused::default();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, don't spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            if let Some(refused) = refused.note(tokio::time::Instant::now()) {
                tracing::warn!(
                    max_connections,
                    refused,
                    "too many open web connections: closing new ones at once (see --web.max-connections)"
                );
            }
            continue;
        };
        let state = state.clone();
        let conn_shutdown = shutdown.clone();
        conns.spawn(async move {
            // Held until the connection ends.
            let _slot = slot;
            // The settings of the moment: a rotated certificate applies to the next connection.
            let web = state.web.current();
            match web.tls.clone() {
                None => serve_connection(stream, state, web, conn_shutdown).await,
                Some(tls) => {
                    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                    match tokio::time::timeout(HEADER_TIMEOUT, handshake).await {
                        Ok(Ok(tls_stream)) => serve_connection(tls_stream, state, web, conn_shutdown).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake with a client failed"),
                        Err(_) => tracing::debug!("TLS handshake with a client timed out"),
                    }
                }
            }
        });
    }
    while conns.join_next().await.is_some() {}
}

/// Connections refused over the cap since the last warning.
#[derive(Default)]
struct Refused {
    since_warning: u64,
    warned_at: Option<tokio::time::Instant>,
}

impl Refused {
    /// Counts one refused connection; returns how many to warn about when a
    /// warning is due (the first refusal, then at most every [`REFUSED_WARN_EVERY`]).
    fn note(&mut self, now: tokio::time::Instant) -> Option<u64> {
        self.since_warning += 1;
        if self.warned_at.is_some_and(|at| now.duration_since(at) < REFUSED_WARN_EVERY) {
            return None;
        }
        self.warned_at = Some(now);
        Some(std::mem::take(&mut self.since_warning))
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS) until it ends or `shutdown`.
async fn serve_connection<IO>(io: IO, state: Arc<AppState>, web: WebConfig, shutdown: CancellationToken)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let web = Arc::new(web);
    let service = service_fn(move |req| {
        let state = state.clone();
        let web = web.clone();
        async move { Ok::<_, Infallible>(authorized(&state, &web, &req).await) }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// Basic auth (when configured) for every path, then the route, then the
/// configured extra headers.
async fn authorized(state: &AppState, web: &Arc<WebConfig>, req: &Request<Incoming>) -> Response<Body> {
    if web.requires_auth() {
        let header = req.headers().get(hyper::header::AUTHORIZATION).map(|v| v.as_bytes().to_vec());
        let (guard, config) = (state.web.clone(), web.clone());
        // bcrypt is slow by design: keep it off the async workers.
        let outcome = tokio::task::spawn_blocking(move || guard.check(&config, header.as_deref()))
            .await
            .unwrap_or(AuthOutcome::Denied);
        if outcome != AuthOutcome::Allowed {
            let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized.\n");
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ece-o365-exporter\""),
            );
            return with_headers(r, web);
        }
    }
    with_headers(route(state, req).await, web)
}

fn with_headers(mut r: Response<Body>, web: &WebConfig) -> Response<Body> {
    for (name, value) in &web.headers {
        r.headers_mut().insert(name.clone(), value.clone());
    }
    r
}

async fn route(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    if req.uri().path() == "/-/reload" {
        return reload(state, req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Only GET and HEAD are supported.\n");
        r.headers_mut().insert("allow", HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => metrics(state, req),
        "/-/healthy" => text(StatusCode::OK, "Healthy.\n"),
        "/-/ready" => {
            let ran = state.running.ran();
            let configured = state.running.configured();
            if ran >= configured {
                text(StatusCode::OK, "Ready: every check has run.\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("Not ready: {ran} of {configured} checks have run.\n"),
                )
            }
        }
        "/" => {
            let lang = req
                .headers()
                .get(hyper::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Lang::from_accept_language)
                .unwrap_or(Lang::En);
            let config = state.running.config();
            let page = crate::report::status_page(config.as_deref(), &state.running.last_runs(), state.running.configured(), lang);
            let mut r = Response::new(Either::Left(Full::new(Bytes::from(page))));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r.headers_mut()
                .insert(hyper::header::VARY, HeaderValue::from_static("Accept-Language"));
            r
        }
        _ => text(StatusCode::NOT_FOUND, "Not found. Try /metrics.\n"),
    }
}

/// `GET /metrics`: the exposition in chunks, compressed with gzip when the
/// scraper accepts it (Prometheus always does). Streamed, so no
/// `Content-Length`; HEAD gets the same headers.
fn metrics(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    let chunks: encoding::Chunks = Box::new(state.running.metrics.exposition());
    let coding = encoding::negotiate(req.headers());
    let mut r = Response::new(Either::Right(match coding {
        encoding::Coding::Identity => Either::Left(encoding::Plain(chunks)),
        encoding::Coding::Gzip => Either::Right(encoding::Gzip::new(chunks)),
    }));
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    // Caches between the agent and a scraper must tell the two apart.
    headers.insert(hyper::header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if coding == encoding::Coding::Gzip {
        headers.insert(hyper::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

/// `POST /-/reload`: reloads the configuration file; 200 with what changed,
/// or 500 with the file/line/field error (the old configuration keeps running).
async fn reload(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::POST {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Use POST to reload the configuration.\n");
        r.headers_mut().insert("allow", HeaderValue::from_static("POST"));
        return r;
    }
    let Some(sender) = &state.running.reload else {
        return text(StatusCode::NOT_FOUND, "Reloading is not enabled.\n");
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    if sender.send(Some(tx)).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Shutting down.\n");
    }
    match rx.await {
        Ok(Ok(message)) => text(StatusCode::OK, &message),
        Ok(Err(error)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("Reload failed; the last good configuration keeps running.\n{error}"),
        ),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "Shutting down.\n"),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Either::Left(Full::new(Bytes::from(body.to_string()))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this host can listen on IPv6 loopback at all.
    fn has_ipv6_loopback() -> bool {
        std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
    }

    #[tokio::test]
    async fn colon_port_listens_on_ipv6_and_ipv4() {
        let listener = listen(":0").unwrap();
        let local = listener.local_addr().unwrap();
        assert!(local.ip().is_unspecified(), "{local}");
        let port = local.port();
        tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap_or_else(|e| panic!("{local} refuses IPv4: {e}"));
        if !has_ipv6_loopback() {
            eprintln!("skipped the [::1] half: this host has no IPv6 loopback");
            return;
        }
        assert!(local.is_ipv6(), "IPv6 works here, yet `:0` bound {local}");
        tokio::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port))
            .await
            .unwrap_or_else(|e| panic!("{local} refuses IPv6: {e}"));
        // Both reached this one listener.
        for _ in 0..2 {
            tokio::time::timeout(Duration::from_secs(10), listener.accept())
                .await
                .expect("a queued connection")
                .unwrap();
        }
    }

    #[test]
    fn refusals_are_warned_about_at_most_once_a_minute() {
        let start = tokio::time::Instant::now();
        let mut refused = Refused::default();
        assert_eq!(refused.note(start), Some(1));
        for _ in 0..1000 {
            assert_eq!(refused.note(start + Duration::from_secs(1)), None);
        }
        assert_eq!(refused.note(start + REFUSED_WARN_EVERY - Duration::from_millis(1)), None);
        // The next warning counts every refusal since the last one.
        assert_eq!(refused.note(start + REFUSED_WARN_EVERY), Some(1002));
        assert_eq!(refused.note(start + REFUSED_WARN_EVERY), None);
    }

    #[tokio::test]
    async fn explicit_addresses_and_errors() {
        let v4 = listen("127.0.0.1:0").unwrap();
        let taken = v4.local_addr().unwrap();
        assert_eq!(taken.ip(), Ipv4Addr::LOCALHOST);
        match listen(&taken.to_string()) {
            Err(e @ ListenError::Bind { .. }) => assert!(e.to_string().starts_with(&format!("cannot listen on {taken}: ")), "{e}"),
            other => panic!("{other:?}"),
        }
        for bad in ["localhost:9865", ":", ":99999", "9865", "[::1]"] {
            assert!(matches!(listen(bad), Err(ListenError::BadAddress(_))), "{bad}");
        }
    }
}
