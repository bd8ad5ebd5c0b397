//! An in-process HTTPS stand-in for the Microsoft identity platform v2.0
//! token endpoint on 127.0.0.1:0 (hyper 1 over tokio-rustls, test CA leaf):
//! `/{tenant}/oauth2/v2.0/token` and `/{tenant}/oauth2/v2.0/devicecode`.
//!
//! Each test sets the behaviour (success with or without refresh token
//! rotation, Microsoft-shaped AADSTS errors, 429, 500, HTML, broken JSON, a
//! 10 MiB streamed body, a slow answer) and may script the next token
//! answers (the device code flow: pending, slow_down, then a token). Every
//! request is recorded with its form fields. Dropping the handle stops the
//! server and all its connections.
//!
//! It stands in for Microsoft's endpoint, never for our own OAuth code.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::pki::{Leaf, Pki};

/// Access tokens issued are this plus a counter.
pub const ACCESS_TOKEN_PREFIX: &str = "canary-access-4c2e91d7-";
/// Rotated refresh tokens issued are this plus a counter.
pub const ROTATED_REFRESH_PREFIX: &str = "canary-refresh-rotated-b83f05aa-";
/// The device code the devicecode endpoint hands out.
pub const DEVICE_CODE: &str = "canary-device-code-61e7c3f0a9";
pub const USER_CODE: &str = "FJ4KQ2ZLM";
/// Size of the [`Behaviour::Huge`] body.
pub const HUGE_BYTES: usize = 10 * 1024 * 1024;

/// What the next token request gets.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// 200 with an access token valid 3600 s, and a new refresh token when `rotate`.
    Success { rotate: bool },
    /// `status` with this JSON body.
    Error { status: u16, json: Value },
    /// 429 with `Retry-After: retry_after` and a throttling JSON body.
    TooMany { retry_after: u64 },
    /// 500 with an empty body.
    Status500,
    /// An HTML page with this status (a proxy's or portal's answer).
    Html { status: u16 },
    /// 200, `application/json`, not JSON.
    MalformedJson,
    /// 200 with a [`HUGE_BYTES`] chunked body, streamed.
    Huge,
    /// Waits this long, then answers like `Success { rotate: false }`.
    Slow(Duration),
    /// 200 at once, then a JSON body of a few hundred bytes dripped one byte per this gap.
    SlowBody(Duration),
    /// Waits this long, then answers as the inner behaviour does.
    After(Duration, Box<Behaviour>),
    /// 200 with this access token (a JWT the test minted), valid `expires_in`
    /// seconds, and a new refresh token when `rotate`.
    Issue {
        access_token: String,
        expires_in: u64,
        rotate: bool,
    },
}

/// Fixed ids, so tests can assert they are carried through.
pub const TRACE_ID: &str = "4a7d0c1e-93b2-4f5a-8c61-2e0b7d9f3a10";
pub const CORRELATION_ID: &str = "c0ffee00-1d2e-4b3c-9a8f-7e6d5c4b3a21";

impl Behaviour {
    /// A v2.0 error as Microsoft shapes it: the AADSTS text with trace,
    /// correlation id and timestamp lines, `error_codes`, ids, `error_uri`.
    pub fn aadsts(status: u16, error: &str, code: u32, description: &str) -> Behaviour {
        Behaviour::Error {
            status,
            json: error_json(error, Some(code), description),
        }
    }

    /// The device code flow: the user has not signed in yet (AADSTS70016).
    pub fn pending() -> Behaviour {
        Behaviour::aadsts(
            400,
            "authorization_pending",
            70016,
            "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    }

    pub fn slow_down() -> Behaviour {
        Behaviour::Error {
            status: 400,
            json: error_json("slow_down", None, "The client is polling too quickly and should back off."),
        }
    }

    /// The device code expired before the user signed in (AADSTS70019).
    pub fn expired_token() -> Behaviour {
        Behaviour::aadsts(400, "expired_token", 70019, "AADSTS70019: Verification code expired.")
    }

    pub fn access_denied() -> Behaviour {
        Behaviour::Error {
            status: 400,
            json: error_json("access_denied", None, "The user denied the authorization request."),
        }
    }

    pub fn authorization_declined() -> Behaviour {
        Behaviour::Error {
            status: 400,
            json: error_json("authorization_declined", None, "The end user denied the authorization request."),
        }
    }
}

/// The body of a v2.0 error response.
pub fn error_json(error: &str, code: Option<u32>, description: &str) -> Value {
    let timestamp = "2025-06-01 12:34:56Z";
    let codes: Vec<u32> = code.into_iter().collect();
    json!({
        "error": error,
        "error_description": format!("{description}\r\nTrace ID: {TRACE_ID}\r\nCorrelation ID: {CORRELATION_ID}\r\nTimestamp: {timestamp}"),
        "error_codes": codes,
        "timestamp": timestamp,
        "trace_id": TRACE_ID,
        "correlation_id": CORRELATION_ID,
        "error_uri": format!("https://login.microsoftonline.com/error?code={}", code.unwrap_or(0)),
    })
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    pub accept: Option<String>,
    /// The decoded `application/x-www-form-urlencoded` fields, in order.
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    default: Option<Behaviour>,
    script: VecDeque<Behaviour>,
    requests: Vec<Recorded>,
    issued: usize,
    /// `interval` and `expires_in` of device code answers; None: 5 and 900.
    device_timing: Option<(u64, u64)>,
}

/// Counters the tests look at.
#[derive(Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub tls_failures: AtomicUsize,
    /// Connections that ended in an error (a client hanging up mid-body).
    pub connection_errors: AtomicUsize,
    /// Bytes of the huge body handed to hyper.
    pub huge_bytes_sent: AtomicUsize,
}

/// A running token endpoint. Dropping it stops it.
pub struct TokenServer {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenServer {
    /// Starts a server presenting the good leaf of `pki`, answering with `behaviour`.
    pub async fn start(pki: &Pki, behaviour: Behaviour) -> TokenServer {
        TokenServer::start_with(pki, Leaf::Good, behaviour).await
    }

    /// Starts a server presenting `leaf`, answering with `behaviour`.
    pub async fn start_with(pki: &Pki, leaf: Leaf, behaviour: Behaviour) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind token server");
        let addr = listener.local_addr().expect("local addr");
        let acceptor = TlsAcceptor::from(pki.server_config(leaf));
        let state = Arc::new(Mutex::new(State {
            default: Some(behaviour),
            ..State::default()
        }));
        let stats = Arc::new(Stats::default());
        let (st, sx) = (state.clone(), stats.clone());
        let task = tokio::spawn(async move {
            // Owned here, so aborting the server aborts every connection too.
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                sx.connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, st, sx) = (acceptor.clone(), st.clone(), sx.clone());
                conns.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        sx.tls_failures.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let sx2 = sx.clone();
                    let service = hyper::service::service_fn(move |req| handle(st.clone(), sx2.clone(), req));
                    if hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await
                        .is_err()
                    {
                        sx.connection_errors.fetch_add(1, Ordering::SeqCst);
                    }
                });
                // Reap finished connections.
                while conns.try_join_next().is_some() {}
            }
        });
        TokenServer { addr, stats, state, task }
    }

    /// `https://127.0.0.1:port`, the authority to give the client.
    pub fn authority(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Changes the behaviour of later requests.
    pub fn set(&self, behaviour: Behaviour) {
        self.lock().default = Some(behaviour);
    }

    /// The next token requests get these, in order, before the default again.
    pub fn script(&self, steps: impl IntoIterator<Item = Behaviour>) {
        self.lock().script.extend(steps);
    }

    /// Later device code answers carry this `interval` and `expires_in`
    /// (seconds) instead of 5 and 900.
    pub fn set_device_timing(&self, interval: u64, expires_in: u64) {
        self.lock().device_timing = Some((interval, expires_in));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The last request; panics when there was none.
    pub fn last_request(&self) -> Recorded {
        self.requests().pop().expect("the token server saw no request")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Answer = Response<BoxBody<Bytes, Infallible>>;

async fn handle(state: Arc<Mutex<State>>, stats: Arc<Stats>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (content_type, user_agent, accept) = (header("content-type"), header("user-agent"), header("accept"));
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let form = parse_form(&String::from_utf8_lossy(&body));
    let scope = form.iter().find(|(k, _)| k == "scope").map(|(_, v)| v.clone());
    let device = path.ends_with("/oauth2/v2.0/devicecode");
    let (behaviour, n, (interval, expires_in)) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            content_type,
            user_agent,
            accept,
            form,
        });
        st.issued += 1;
        let default = st.default.clone().unwrap_or(Behaviour::Success { rotate: false });
        // The script is for the token endpoint; the devicecode endpoint fails only by default.
        let behaviour = if device {
            default
        } else {
            st.script.pop_front().unwrap_or(default)
        };
        (behaviour, st.issued, st.device_timing.unwrap_or((5, 900)))
    };
    if method != "POST" || !(device || path.ends_with("/oauth2/v2.0/token")) {
        return Ok(json_answer(
            404,
            &error_json(
                "invalid_request",
                Some(900561),
                "AADSTS900561: The endpoint only accepts POST requests.",
            ),
        ));
    }
    let success = |rotate: bool| {
        if device {
            return json_answer(
                200,
                &json!({
                    "user_code": USER_CODE,
                    "device_code": DEVICE_CODE,
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": expires_in,
                    "interval": interval,
                    "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {USER_CODE} to authenticate."),
                }),
            );
        }
        let mut body = json!({
            "token_type": "Bearer",
            "scope": scope.clone().unwrap_or_default(),
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": format!("{ACCESS_TOKEN_PREFIX}{n}"),
        });
        if rotate {
            body["refresh_token"] = json!(format!("{ROTATED_REFRESH_PREFIX}{n}"));
        }
        json_answer(200, &body)
    };
    let mut behaviour = behaviour;
    while let Behaviour::After(delay, inner) = behaviour {
        tokio::time::sleep(delay).await;
        behaviour = *inner;
    }
    Ok(match behaviour {
        // Unwrapped by the loop above.
        Behaviour::After(..) => answer(500, "text/plain", Bytes::new()),
        Behaviour::Success { rotate } => success(rotate),
        Behaviour::Issue {
            access_token,
            expires_in,
            rotate,
        } => {
            let mut body = json!({ "token_type": "Bearer", "expires_in": expires_in, "access_token": access_token });
            if rotate {
                body["refresh_token"] = json!(format!("{ROTATED_REFRESH_PREFIX}{n}"));
            }
            json_answer(200, &body)
        }
        Behaviour::Error { status, json } => json_answer(status, &json),
        Behaviour::TooMany { retry_after } => {
            let mut r = json_answer(
                429,
                &error_json(
                    "temporarily_unavailable",
                    Some(90055),
                    "AADSTS90055: The server is temporarily unavailable. Too many requests.",
                ),
            );
            r.headers_mut().insert("retry-after", retry_after.into());
            r
        }
        Behaviour::Status500 => answer(500, "text/plain", Bytes::new()),
        Behaviour::Html { status } => answer(
            status,
            "text/html; charset=utf-8",
            Bytes::from_static(
                b"<!DOCTYPE html><html><head><title>Web Filter: Access Denied</title></head>\
                  <body><h1>Access to this site is blocked by your organisation.</h1></body></html>",
            ),
        ),
        Behaviour::MalformedJson => answer(
            200,
            "application/json; charset=utf-8",
            Bytes::from_static(b"{\"token_type\":\"Bearer\",\"acc"),
        ),
        Behaviour::Huge => {
            let body = HugeBody {
                remaining: HUGE_BYTES,
                started: false,
                stats,
            };
            let mut r = Response::new(body.boxed());
            r.headers_mut().insert("content-type", "application/json".parse().expect("header"));
            r
        }
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            success(false)
        }
        Behaviour::SlowBody(gap) => {
            let body = DripBody {
                text: format!(
                    "{{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"{}\"}}",
                    "x".repeat(400)
                )
                .into_bytes(),
                pos: 0,
                gap,
                sleep: Box::pin(tokio::time::sleep(gap)),
            };
            let mut r = Response::new(body.boxed());
            r.headers_mut().insert("content-type", "application/json".parse().expect("header"));
            r
        }
    })
}

/// A body sent one byte per `gap`.
struct DripBody {
    text: Vec<u8>,
    pos: usize,
    gap: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for DripBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.pos == self.text.len() {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let next = tokio::time::Instant::now() + self.gap;
        self.sleep.as_mut().reset(next);
        let byte = Bytes::copy_from_slice(&self.text[self.pos..self.pos + 1]);
        self.pos += 1;
        Poll::Ready(Some(Ok(Frame::data(byte))))
    }
}

fn answer(status: u16, content_type: &str, body: Bytes) -> Answer {
    let mut r = Response::new(Full::new(body).boxed());
    *r.status_mut() = StatusCode::from_u16(status).expect("test status");
    r.headers_mut().insert("content-type", content_type.parse().expect("header"));
    r.headers_mut()
        .insert("cache-control", "no-store, no-cache".parse().expect("header"));
    r
}

fn json_answer(status: u16, body: &Value) -> Answer {
    answer(status, "application/json; charset=utf-8", Bytes::from(body.to_string()))
}

/// A chunked body of [`HUGE_BYTES`], produced only as fast as hyper sends it.
struct HugeBody {
    remaining: usize,
    started: bool,
    stats: Arc<Stats>,
}

impl hyper::body::Body for HugeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let mut chunk = vec![b'x'; self.remaining.min(16 * 1024)];
        if !self.started {
            let prefix = b"{\"access_token\":\"";
            chunk[..prefix.len()].copy_from_slice(prefix);
            self.started = true;
        }
        self.remaining -= chunk.len();
        self.stats.huge_bytes_sent.fetch_add(chunk.len(), Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }
}

/// Decodes `application/x-www-form-urlencoded`.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
