//! `kind: https`: one HTTPS request to a URL (ECE's External URL,
//! login.microsoftonline.com), directly or through the HTTP proxy, judged by
//! its status. Connects and verifies TLS as `kind: tls` does (same facts),
//! then, in phase `http`, sends a `GET` or `HEAD` and reads the answer
//! through the bounded client in `proto/http.rs`.
//!
//! Redirects are reported (their target host, nothing more), never
//! followed: where a URL sends its users is the finding. Nothing here keeps
//! a body.

use std::sync::Arc;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use url::Url;

use super::kind::{Covers, KindGuide, KindSpec};
use super::{BoxFuture, BuildContext, BuildError, Check};
use crate::config::{
    CheckConfig, CheckSchema, ConfigError, DynSettings, Inherit, KindKeys, KindSettings, MailboxUse, Proxy, Target, TlsSettings,
};
use crate::observation::{Failure, Probe};
use crate::proto::http::{Exchange, Head, HttpError, Limits, Method};
use crate::proto::proxy;
use crate::proto::tls::TlsClient;
use crate::reason::{Kind, Phase, Reason};

pub const KIND: Kind = Kind::new("https");

pub static SPEC: KindSpec = KindSpec {
    schema: CheckSchema {
        kind: KIND,
        keys: &[
            "url",
            "method",
            "expect_status",
            "server_name",
            "ca_file",
            "expected_issuer",
            "proxy",
            "proxy_user",
            "proxy_password",
        ],
        mailbox: MailboxUse::NotUsed,
        settings,
    },
    build,
    guide: KindGuide {
        files_external_url: true,
        ..KindGuide::network(Covers::ByPort)
    },
};

/// The statuses a check accepts when it names none: success and redirects
/// (a redirect's target is still reported in the detail of other statuses).
const DEFAULT_EXPECT: &[(u16, u16)] = &[(200, 399)];

/// An `https` check's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpsSettings {
    pub url: Url,
    /// The URL's host and port.
    pub target: Target,
    pub method: Method,
    /// Accepted statuses, as inclusive ranges.
    pub expect_status: Vec<(u16, u16)>,
    pub tls: TlsSettings,
    pub proxy: Option<Proxy>,
}

impl KindSettings for HttpsSettings {
    fn endpoint(&self) -> Option<&Target> {
        Some(&self.target)
    }

    fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }
}

/// One entry of `expect_status`: a code, or a range written `"300-399"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum StatusItem {
    Code(u32),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StatusList {
    One(StatusItem),
    Many(Vec<StatusItem>),
}

/// `https://host[:port]/path` → the URL and its target, or why not.
pub fn parse_url(text: &str) -> Result<(Url, Target), String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL ({e}); write https://host[:port]/path"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            return Err(format!(
                "`{text}` is plain http://: an https check verifies TLS; write https:// (plain HTTP is not checked)"
            ));
        }
        other => return Err(format!("`{other}:` URLs are not checked; write https://host[:port]/path")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials (`name:secret@`): an https check sends none".to_string());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(format!("`{text}` has no host; write https://host[:port]/path")),
    };
    let port = url.port_or_known_default().unwrap_or(443);
    Ok((url, Target { host, port }))
}

/// `[200, "300-399"]` (or one code) → inclusive ranges, or why not.
fn parse_expect(list: StatusList) -> Result<Vec<(u16, u16)>, String> {
    let items = match list {
        StatusList::One(item) => vec![item],
        StatusList::Many(items) => items,
    };
    if items.is_empty() {
        return Err("an empty list accepts nothing; name codes like [200, \"300-399\"] or leave it out".to_string());
    }
    let code = |text: &str| -> Result<u16, String> {
        text.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .ok_or_else(|| format!("`{text}` is not an HTTP status (100-599)"))
    };
    items
        .into_iter()
        .map(|item| match item {
            StatusItem::Code(n) => code(&n.to_string()).map(|c| (c, c)),
            StatusItem::Text(t) => match t.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (code(a)?, code(b)?);
                    if a > b {
                        return Err(format!("`{t}`: the range runs backwards"));
                    }
                    Ok((a, b))
                }
                None => code(&t).map(|c| (c, c)),
            },
        })
        .collect()
}

fn settings(keys: &mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError> {
    let (url, target) = match keys.take::<String>("url")? {
        Some((text, loc)) => parse_url(&text).map_err(|m| keys.error(loc, "url", m))?,
        None => return Err(keys.missing("url", "an https check needs `url: https://host[:port]/path`")),
    };
    let method = match keys.take::<String>("method")? {
        None => Method::Get,
        Some((m, _)) if m.eq_ignore_ascii_case("GET") => Method::Get,
        Some((m, _)) if m.eq_ignore_ascii_case("HEAD") => Method::Head,
        Some((m, loc)) => return Err(keys.error(loc, "method", format!("`{m}` is not sent by an https check: GET or HEAD"))),
    };
    let expect_status = match keys.take::<StatusList>("expect_status") {
        Ok(None) => DEFAULT_EXPECT.to_vec(),
        Ok(Some((list, loc))) => parse_expect(list).map_err(|m| keys.error(loc, "expect_status", m))?,
        Err(e) => {
            return Err(ConfigError {
                message: "a status code or a list of codes and ranges, like [200, \"300-399\"]".to_string(),
                ..e
            });
        }
    };
    let proxy = keys.proxy(&target, Inherit::Global)?;
    Ok(Arc::new(HttpsSettings {
        url,
        target,
        method,
        expect_status,
        tls: keys.tls_settings()?,
        proxy,
    }))
}

pub struct HttpsCheck {
    settings: HttpsSettings,
    /// The `Host` header: the URL's host, and its port unless 443.
    authority: String,
    /// The request target: path and query.
    path: String,
    tls: TlsClient,
}

/// The `Host` header for `url`: its host, and its port when the URL writes one.
pub(crate) fn host_header(url: &Url, target: &Target) -> String {
    let host = url.host_str().unwrap_or(&target.host);
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// One HTTPS request as `https` and `tenant` checks send it: connects to
/// `target` (through `proxy` when there is one), runs the TLS handshake,
/// then in phase `http` sends the request and reads the answer's head.
pub(crate) async fn request(
    probe: &mut Probe,
    target: &Target,
    proxy: Option<&Proxy>,
    tls: &TlsClient,
    limits: Limits,
    (method, authority, path): (Method, &str, &str),
) -> Result<(Exchange<TlsStream<TcpStream>>, Head), Failure> {
    let tcp = proxy::connect(probe, target, proxy).await?;
    let stream = tls.handshake(probe, tcp).await?;
    probe.enter(Phase::Http);
    let mut exchange = Exchange::send(stream, limits, method, authority, path)
        .await
        .map_err(http_failure)?;
    let head = exchange.read_head().await.map_err(http_failure)?;
    probe.facts.http_status = Some(head.status);
    Ok((exchange, head))
}

pub fn build(cfg: &CheckConfig, ctx: &mut BuildContext<'_>) -> Result<Box<dyn Check>, BuildError> {
    let settings = cfg.settings::<HttpsSettings>().ok_or(BuildError::Mismatch)?;
    let authority = host_header(&settings.url, &settings.target);
    let path = match settings.url.query() {
        Some(q) => format!("{}?{q}", settings.url.path()),
        None => settings.url.path().to_string(),
    };
    Ok(Box::new(HttpsCheck {
        tls: TlsClient::new(&mut ctx.tls, &settings.tls, &settings.target)?,
        settings: settings.clone(),
        authority,
        path,
    }))
}

impl HttpsCheck {
    fn expected(&self, status: u16) -> bool {
        self.settings.expect_status.iter().any(|(a, b)| (*a..=*b).contains(&status))
    }

    fn expect_text(&self) -> String {
        let ranges: Vec<String> = self
            .settings
            .expect_status
            .iter()
            .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect();
        ranges.join(", ")
    }

    /// The host a redirect's `Location` points to (relative: this URL's host).
    fn redirect_host(&self, location: Option<&str>) -> String {
        location
            .and_then(|l| self.settings.url.join(l).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "(no usable Location)".to_string())
    }
}

pub(crate) fn http_failure(e: HttpError) -> Failure {
    Failure::new(e.reason(), format!("HTTP: {e}"))
}

impl Check for HttpsCheck {
    fn run<'a>(&'a self, probe: &'a mut Probe) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let s = &self.settings;
            let request_line = (s.method, self.authority.as_str(), self.path.as_str());
            let (mut exchange, head) = request(probe, &s.target, s.proxy.as_ref(), &self.tls, Limits::default(), request_line).await?;
            if !self.expected(head.status) {
                let mut detail = format!("HTTP {} {} (expected {})", head.status, head.reason, self.expect_text());
                if (300..400).contains(&head.status) {
                    let host = self.redirect_host(head.location.as_deref());
                    detail.push_str(&format!(": redirect to {host}, not followed"));
                }
                return Err(Failure::new(Reason::HttpUnexpectedStatus, detail));
            }
            exchange.read_body(&head).await.map_err(http_failure)?;
            // Say goodbye properly (close_notify); the verdict is already in.
            let _ = exchange.into_inner().shutdown().await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_without_credentials() {
        let (url, target) = parse_url("https://ece.example.com/system").unwrap();
        assert_eq!((target.host.as_str(), target.port, url.path()), ("ece.example.com", 443, "/system"));
        let (_, target) = parse_url("https://[2001:db8::1]:8443").unwrap();
        assert_eq!((target.host.as_str(), target.port), ("2001:db8::1", 8443));
        assert!(parse_url("http://ece.example.com/").unwrap_err().contains("plain http://"));
        assert!(parse_url("https://u:p@ece.example.com/").unwrap_err().contains("credentials"));
        assert!(parse_url("ftp://ece.example.com/").unwrap_err().contains("not checked"));
        assert!(parse_url("ece.example.com").is_err());
    }

    #[test]
    fn expected_statuses_are_codes_and_ranges() {
        let many = |items: Vec<StatusItem>| parse_expect(StatusList::Many(items));
        assert_eq!(
            many(vec![StatusItem::Code(200), StatusItem::Text("300-399".into())]).unwrap(),
            vec![(200, 200), (300, 399)]
        );
        assert_eq!(
            parse_expect(StatusList::One(StatusItem::Text("404".into()))).unwrap(),
            vec![(404, 404)]
        );
        assert!(many(vec![]).is_err());
        assert!(many(vec![StatusItem::Code(700)]).unwrap_err().contains("700"));
        assert!(many(vec![StatusItem::Text("399-300".into())]).unwrap_err().contains("backwards"));
        assert!(many(vec![StatusItem::Text("2xx".into())]).is_err());
    }
}
