//! The configuration file: typed, validated once at load, with errors that
//! name file, line, column and field.
//!
//! Loading happens in two steps. `raw` mirrors the YAML with source
//! locations (`deny_unknown_fields` everywhere); [`Config::from_yaml`] then
//! checks every rule (kinds, targets, durations, files) and produces plain
//! typed values. Nothing after loading needs to re-validate or can fail on
//! configuration. This module reads files named in the config (CA bundles)
//! but opens no network connection. Errors and `Debug` never show the
//! credentials of a URL (a proxy's password): [`redact_url`] and
//! [`redact_urls`] are the one place that hides them, for every caller.

mod ece;
mod error;
mod oauth;
mod raw;
mod redact;
mod version;

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_saphyr::Spanned;

pub use ece::{EceSettings, ServerRole};
pub use error::{ConfigError, Loc};
pub use oauth::{DEFAULT_AUTHORITY, Grant, MailProtocol, Mailbox, SecretSource, Tenant};
pub(crate) use raw::parse_yaml;
pub use raw::{RecordType, TlsMode};
pub use redact::{REDACTED, redact_url, redact_urls};
pub use version::EceVersion;

use crate::reason::Kind;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_NAME_LEN: usize = 64;

/// A validated configuration.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub file: PathBuf,
    pub global: Global,
    pub tenants: Vec<Arc<Tenant>>,
    pub mailboxes: Vec<Arc<Mailbox>>,
    pub checks: Vec<Arc<CheckConfig>>,
    /// The `ece:` section (empty when absent).
    pub ece: EceSettings,
}

#[derive(Clone, Debug, Default)]
pub struct Global {
    pub interval: Duration,
    pub timeout: Duration,
    /// Empty: the system resolver.
    pub dns_servers: Vec<SocketAddr>,
    /// Certificates trusted in addition to the system roots (corporate TLS inspection).
    pub extra_ca: Arc<Vec<CertificateDer<'static>>>,
}

/// `host:port`, as written in the config.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// TLS client settings of one check.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsSettings {
    /// Name for SNI and certificate verification; defaults to the target host.
    pub server_name: Option<String>,
    /// Certificates trusted in addition to the system roots and `extra_ca_file`.
    pub extra_ca: Arc<Vec<CertificateDer<'static>>>,
    /// A substring the leaf certificate's issuer must contain.
    pub expected_issuer: Option<String>,
}

/// One configured check, validated.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    pub name: String,
    /// Where the check's `name` is written, for errors found after validation.
    pub loc: Loc,
    pub kind: Kind,
    pub interval: Duration,
    pub timeout: Duration,
    pub settings: CheckSettings,
    /// The mailbox whose token the authenticated steps use (mail and token checks).
    pub mailbox: Option<Arc<Mailbox>>,
}

/// The kind-specific part of a check.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckSettings {
    Dns {
        query: String,
        record: RecordType,
        servers: Vec<SocketAddr>,
    },
    Tcp {
        target: Target,
    },
    Tls {
        target: Target,
        tls: TlsSettings,
    },
    /// SMTP, IMAP and POP3.
    Mail {
        target: Target,
        mode: TlsMode,
        tls: TlsSettings,
        ehlo_name: Option<String>,
    },
    /// A token refresh for the check's mailbox.
    Token,
}

/// Two checks are the same when everything that changes what they do is
/// the same; where they are written in the file (`loc`) does not count, so a
/// reload that only moves a check keeps it running.
impl PartialEq for CheckConfig {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.interval == other.interval
            && self.timeout == other.timeout
            && self.settings == other.settings
            && self.mailbox.as_deref() == other.mailbox.as_deref()
    }
}

impl CheckConfig {
    /// What the check talks to, as shown in the `target` label.
    pub fn target_label(&self) -> String {
        match &self.settings {
            CheckSettings::Dns { query, record, .. } => format!("{query}/{}", record.as_str()),
            CheckSettings::Tcp { target } | CheckSettings::Tls { target, .. } | CheckSettings::Mail { target, .. } => target.to_string(),
            CheckSettings::Token => self.mailbox.as_ref().map(|m| m.address.clone()).unwrap_or_default(),
        }
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::file(path, format!("cannot read the configuration file: {e}")))?;
        Config::from_yaml(path, &text)
    }

    /// Validates configuration text; `path` is used for messages and to
    /// resolve relative file names.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw = raw::parse(path, text)?;
        Validator {
            file: path,
            source: text,
            base: path.parent().unwrap_or(Path::new(".")),
            ca_sets: Default::default(),
        }
        .validate(raw)
    }
}

struct Validator<'a> {
    file: &'a Path,
    source: &'a str,
    base: &'a Path,
    /// Trust sets (global extra CAs + one `ca_file`) by the file's path: ten
    /// thousand checks naming one CA file share one set, and with it one TLS
    /// client configuration (see `proto::tls::ClientConfigCache`).
    ca_sets: std::cell::RefCell<std::collections::HashMap<PathBuf, Arc<Vec<CertificateDer<'static>>>>>,
}

impl Validator<'_> {
    fn err(&self, loc: impl Into<Loc>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, Some(self.source), loc.into(), field, message)
    }

    fn at<T>(&self, spanned: &Spanned<T>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        self.err(spanned.referenced, field, message)
    }

    fn validate(&self, raw: raw::ConfigFile) -> Result<Config, ConfigError> {
        let g = raw.global.unwrap_or_default();
        let interval = g.interval.as_ref().map(|d| d.value.0).unwrap_or(DEFAULT_INTERVAL);
        let timeout = g.timeout.as_ref().map(|d| d.value.0).unwrap_or(DEFAULT_TIMEOUT);
        if let Some(i) = &g.interval {
            self.check_interval(i, "global.interval")?;
        }
        if let Some(t) = &g.timeout {
            self.check_timeout(t, interval, "global.timeout")?;
        }
        let dns_servers = match &g.dns_servers {
            Some(s) => self.dns_servers(s, "global.dns_servers")?,
            None => Vec::new(),
        };
        let extra_ca = match &g.extra_ca_file {
            Some(f) => self.ca_file(f, "global.extra_ca_file")?,
            None => Arc::default(),
        };
        let global = Global {
            interval,
            timeout,
            dns_servers,
            extra_ca,
        };
        let ece = match raw.ece {
            Some(spec) => self.ece(spec)?,
            None => EceSettings::default(),
        };
        let tenants = self.tenants(raw.tenants.unwrap_or_default())?;
        let mailboxes = self.mailboxes(raw.mailboxes.unwrap_or_default(), &tenants)?;

        let Some(raw_checks) = raw.checks else {
            return Err(self.err(Loc::default(), "checks", "at least one check is required"));
        };
        if raw_checks.value.is_empty() {
            return Err(self.at(&raw_checks, "checks", "at least one check is required"));
        }
        let mut names = HashSet::new();
        let mut checks = Vec::with_capacity(raw_checks.value.len());
        for (i, c) in raw_checks.value.into_iter().enumerate() {
            let name_loc: Loc = c.name.referenced.into();
            let check = self.check(i, c, &global, &mailboxes)?;
            if !names.insert(check.name.clone()) {
                return Err(self.err(
                    name_loc,
                    format!("checks[{i}].name"),
                    format!("duplicate check name `{}`: every check needs a unique name", check.name),
                ));
            }
            checks.push(Arc::new(check));
        }
        Ok(Config {
            file: self.file.to_path_buf(),
            global,
            tenants,
            mailboxes,
            checks,
            ece,
        })
    }

    fn check_interval(&self, i: &Spanned<raw::HumanDuration>, field: &str) -> Result<(), ConfigError> {
        if i.value.0 < MIN_INTERVAL {
            return Err(self.at(
                i,
                field,
                format!("interval must be at least {}", humantime::format_duration(MIN_INTERVAL)),
            ));
        }
        Ok(())
    }

    fn check_timeout(&self, t: &Spanned<raw::HumanDuration>, interval: Duration, field: &str) -> Result<(), ConfigError> {
        if t.value.0.is_zero() {
            return Err(self.at(t, field, "timeout must be greater than zero"));
        }
        if t.value.0 > interval {
            return Err(self.at(
                t,
                field,
                format!(
                    "timeout ({}) is longer than the interval ({}): a run would still be going when the next is due",
                    humantime::format_duration(t.value.0),
                    humantime::format_duration(interval)
                ),
            ));
        }
        Ok(())
    }

    fn dns_servers(&self, s: &Spanned<Vec<String>>, field: &str) -> Result<Vec<SocketAddr>, ConfigError> {
        let mut out = Vec::new();
        for (i, text) in s.value.iter().enumerate() {
            let addr = text
                .parse::<SocketAddr>()
                .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| {
                    self.at(
                        s,
                        format!("{field}[{i}]"),
                        format!("`{text}` is not an IP address or IP:port (name servers are given by address)"),
                    )
                })?;
            out.push(addr);
        }
        if out.is_empty() {
            return Err(self.at(
                s,
                field,
                "give at least one name server, or remove the key to use the system resolver",
            ));
        }
        Ok(out)
    }

    fn ca_file(&self, f: &Spanned<PathBuf>, field: &str) -> Result<Arc<Vec<CertificateDer<'static>>>, ConfigError> {
        let path = if f.value.is_absolute() {
            f.value.clone()
        } else {
            self.base.join(&f.value)
        };
        let pem = std::fs::read(&path).map_err(|e| self.at(f, field, format!("cannot read CA file {}: {e}", path.display())))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| self.at(f, field, format!("CA file {} is not valid PEM: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(self.at(f, field, format!("CA file {} holds no PEM certificate", path.display())));
        }
        Ok(Arc::new(certs))
    }

    fn target(&self, t: &Spanned<String>, field: &str) -> Result<Target, ConfigError> {
        parse_target(&t.value).map_err(|m| self.at(t, field, m))
    }

    /// Errors about tenants never show the source line: it may hold a secret.
    fn secret_err(&self, loc: impl Into<Loc>, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, None, loc.into(), field, message)
    }

    fn tenants(&self, specs: Vec<raw::TenantSpec>) -> Result<Vec<Arc<Tenant>>, ConfigError> {
        let mut out: Vec<Arc<Tenant>> = Vec::new();
        for (i, t) in specs.into_iter().enumerate() {
            let p = |f: &str| format!("tenants[{i}].{f}");
            if out.iter().any(|o| o.name == t.name.value) {
                return Err(self.secret_err(t.name.referenced, p("name"), format!("duplicate tenant name `{}`", t.name.value)));
            }
            let client_secret = match &t.client_secret {
                Some(s) => Some(SecretSource::parse(&s.value, self.base).ok_or_else(|| {
                    self.secret_err(
                        s.referenced,
                        p("client_secret"),
                        "write the secret as env:NAME or file:PATH, never inline",
                    )
                })?),
                None => None,
            };
            if let Some(source) = &client_secret {
                source.read().map_err(|e| {
                    self.secret_err(
                        t.client_secret.as_ref().map(|s| Loc::from(s.referenced)).unwrap_or_default(),
                        p("client_secret"),
                        e,
                    )
                })?;
            }
            let client_secret_expires = match &t.client_secret_expires {
                Some(d) => Some(parse_date(&d.value).ok_or_else(|| {
                    self.secret_err(
                        d.referenced,
                        p("client_secret_expires"),
                        format!("`{}` is not a date like 2027-06-30", d.value),
                    )
                })?),
                None => None,
            };
            if let Some(v) = &t.authority {
                let shown = redact_url(&v.value);
                if !(v.value.starts_with("https://") || v.value.starts_with("http://")) {
                    return Err(self.secret_err(v.referenced, p("authority"), format!("`{shown}` is not an http(s):// URL")));
                }
                if url::Url::parse(&v.value).is_ok_and(|u| !u.username().is_empty() || u.password().is_some()) {
                    return Err(self.secret_err(
                        v.referenced,
                        p("authority"),
                        format!("`{shown}` carries credentials; the authority is a public URL such as {DEFAULT_AUTHORITY}"),
                    ));
                }
            }
            if let Some(v) = &t.proxy {
                self.proxy(v, p("proxy"))?;
            }
            out.push(Arc::new(Tenant {
                name: t.name.value.clone(),
                tenant_id: t.tenant_id.value.clone(),
                client_id: t.client_id.value.clone(),
                client_secret,
                client_secret_expires,
                authority: t
                    .authority
                    .as_ref()
                    .map(|a| a.value.trim_end_matches('/').to_string())
                    .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string()),
                proxy: t.proxy.as_ref().map(|p| p.value.clone()),
            }));
        }
        Ok(out)
    }

    /// A proxy URL: `http(s)://[user:password@]host[:port][/]`. Errors show
    /// it with its credentials redacted.
    fn proxy(&self, v: &Spanned<String>, field: String) -> Result<(), ConfigError> {
        let shown = redact_url(&v.value);
        let bad = |why: String| self.secret_err(v.referenced, field.clone(), format!("`{shown}` {why}"));
        let url = url::Url::parse(&v.value)
            .map_err(|e| bad(format!("is not a proxy URL ({e}); write it like http://proxy.corp.example:8080")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!(
                "has the scheme `{}`: only HTTP CONNECT proxies (http:// or https://) are supported",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("names no proxy host".to_string()));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "must be scheme, host and port only, without a path, query or fragment".to_string()
            ));
        }
        Ok(())
    }

    fn mailboxes(&self, specs: Vec<raw::MailboxSpec>, tenants: &[Arc<Tenant>]) -> Result<Vec<Arc<Mailbox>>, ConfigError> {
        let mut out: Vec<Arc<Mailbox>> = Vec::new();
        for (i, m) in specs.into_iter().enumerate() {
            let p = |f: &str| format!("mailboxes[{i}].{f}");
            if out.iter().any(|o| o.name == m.name.value) {
                return Err(self.at(&m.name, p("name"), format!("duplicate mailbox name `{}`", m.name.value)));
            }
            for (key, addr) in [("address", Some(&m.address)), ("auth_user", m.auth_user.as_ref())] {
                if let Some(a) = addr
                    && (!a.value.contains('@') || a.value.contains(char::is_whitespace))
                {
                    return Err(self.at(a, p(key), format!("`{}` is not an e-mail address", a.value)));
                }
            }
            let tenant = tenants.iter().find(|t| t.name == m.tenant.value).cloned().ok_or_else(|| {
                let names: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
                self.at(
                    &m.tenant,
                    p("tenant"),
                    format!("no tenant named `{}` (tenants: {})", m.tenant.value, names.join(", ")),
                )
            })?;
            let grant = m.grant.as_ref().map(|g| g.value).unwrap_or(Grant::RefreshToken);
            let token_store = m.token_store.as_ref().map(|t| {
                if t.value.is_absolute() {
                    t.value.clone()
                } else {
                    self.base.join(&t.value)
                }
            });
            match grant {
                Grant::RefreshToken if token_store.is_none() => {
                    return Err(self.at(
                        &m.name,
                        p("token_store"),
                        "the refresh_token grant needs `token_store: PATH` (written by `token init`)",
                    ));
                }
                Grant::ClientCredentials if tenant.client_secret.is_none() => {
                    return Err(self.at(
                        &m.tenant,
                        p("grant"),
                        format!("client_credentials needs a client_secret in tenant `{}`", tenant.name),
                    ));
                }
                Grant::ClientCredentials if m.token_store.is_some() => {
                    let loc = m.token_store.as_ref().map(|t| Loc::from(t.referenced)).unwrap_or_default();
                    return Err(self.err(
                        loc,
                        p("token_store"),
                        "client_credentials keeps no refresh token: remove token_store",
                    ));
                }
                _ => {}
            }
            let protocols = m
                .protocols
                .as_ref()
                .map(|p| p.value.clone())
                .unwrap_or_else(|| vec![MailProtocol::Imap, MailProtocol::Smtp]);
            out.push(Arc::new(Mailbox {
                name: m.name.value.clone(),
                address: m.address.value.clone(),
                tenant,
                grant,
                token_store,
                auth_user: m.auth_user.as_ref().map(|a| a.value.clone()),
                protocols,
            }));
        }
        Ok(out)
    }

    fn check(&self, i: usize, c: raw::CheckSpec, global: &Global, mailboxes: &[Arc<Mailbox>]) -> Result<CheckConfig, ConfigError> {
        let p = |f: &str| format!("checks[{i}].{f}");
        let name = c.name.value.clone();
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
            return Err(self.at(
                &c.name,
                p("name"),
                format!(
                    "check names are 1 to {MAX_NAME_LEN} characters of letters, digits, `-`, `_` and `.` (they become the `check` label)"
                ),
            ));
        }
        let kind = c.kind.value;

        // Which optional keys apply to which kinds; anything else is an error.
        let present: [(&str, Option<Loc>, &[Kind]); 10] = [
            (
                "mailbox",
                c.mailbox.as_ref().map(|s| s.referenced.into()),
                &[Kind::Smtp, Kind::Imap, Kind::Pop3, Kind::Token],
            ),
            (
                "target",
                c.target.as_ref().map(|s| s.referenced.into()),
                &[Kind::Tcp, Kind::Tls, Kind::Smtp, Kind::Imap, Kind::Pop3],
            ),
            ("query", c.query.as_ref().map(|s| s.referenced.into()), &[Kind::Dns]),
            ("record", c.record.as_ref().map(|s| s.referenced.into()), &[Kind::Dns]),
            ("dns_servers", c.dns_servers.as_ref().map(|s| s.referenced.into()), &[Kind::Dns]),
            (
                "tls",
                c.tls.as_ref().map(|s| s.referenced.into()),
                &[Kind::Smtp, Kind::Imap, Kind::Pop3],
            ),
            (
                "server_name",
                c.server_name.as_ref().map(|s| s.referenced.into()),
                &[Kind::Tls, Kind::Smtp, Kind::Imap, Kind::Pop3],
            ),
            (
                "ca_file",
                c.ca_file.as_ref().map(|s| s.referenced.into()),
                &[Kind::Tls, Kind::Smtp, Kind::Imap, Kind::Pop3],
            ),
            (
                "expected_issuer",
                c.expected_issuer.as_ref().map(|s| s.referenced.into()),
                &[Kind::Tls, Kind::Smtp, Kind::Imap, Kind::Pop3],
            ),
            ("ehlo_name", c.ehlo_name.as_ref().map(|s| s.referenced.into()), &[Kind::Smtp]),
        ];
        for (key, loc, kinds) in present {
            if let Some(loc) = loc
                && !kinds.contains(&kind)
            {
                let list: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                return Err(self.err(
                    loc,
                    p(key),
                    format!("`{key}` does not apply to a {kind} check (it applies to: {})", list.join(", ")),
                ));
            }
        }

        let interval = match &c.interval {
            Some(d) => {
                self.check_interval(d, &p("interval"))?;
                d.value.0
            }
            None => global.interval,
        };
        let timeout = match &c.timeout {
            Some(t) => {
                self.check_timeout(t, interval, &p("timeout"))?;
                t.value.0
            }
            None if global.timeout > interval => {
                return Err(self.at(
                    &c.name,
                    p("interval"),
                    format!(
                        "interval ({}) is shorter than the global timeout ({}): set a `timeout` for this check",
                        humantime::format_duration(interval),
                        humantime::format_duration(global.timeout)
                    ),
                ));
            }
            None => global.timeout,
        };

        let need_target = || -> Result<Target, ConfigError> {
            match &c.target {
                Some(t) => self.target(t, &p("target")),
                None => Err(self.at(&c.name, p("target"), format!("a {kind} check needs `target: host:port`"))),
            }
        };
        let tls_settings = || -> Result<TlsSettings, ConfigError> {
            let extra_ca = match &c.ca_file {
                Some(f) => {
                    if let Some(set) = self.ca_sets.borrow().get(&f.value) {
                        set.clone()
                    } else {
                        let mut all = global.extra_ca.as_ref().clone();
                        all.extend(self.ca_file(f, &p("ca_file"))?.iter().cloned());
                        let all = Arc::new(all);
                        self.ca_sets.borrow_mut().insert(f.value.clone(), all.clone());
                        all
                    }
                }
                None => global.extra_ca.clone(),
            };
            if let Some(sn) = &c.server_name
                && rustls_pki_types::ServerName::try_from(sn.value.as_str()).is_err()
            {
                return Err(self.at(
                    sn,
                    p("server_name"),
                    format!("`{}` is not a valid DNS name or IP address", sn.value),
                ));
            }
            Ok(TlsSettings {
                server_name: c.server_name.as_ref().map(|s| s.value.clone()),
                extra_ca,
                expected_issuer: c.expected_issuer.as_ref().map(|s| s.value.clone()),
            })
        };

        let mailbox = match &c.mailbox {
            Some(name) => {
                let m = mailboxes
                    .iter()
                    .find(|m| m.name == name.value)
                    .cloned()
                    .ok_or_else(|| self.at(name, p("mailbox"), format!("no mailbox named `{}` under `mailboxes:`", name.value)))?;
                let protocol = match kind {
                    Kind::Smtp => Some(MailProtocol::Smtp),
                    Kind::Imap => Some(MailProtocol::Imap),
                    Kind::Pop3 => Some(MailProtocol::Pop3),
                    _ => None,
                };
                if let Some(protocol) = protocol
                    && !m.protocols.contains(&protocol)
                {
                    return Err(self.at(
                        name,
                        p("mailbox"),
                        format!("mailbox `{}` does not list {kind} in its protocols", m.name),
                    ));
                }
                Some(m)
            }
            None if kind == Kind::Token => return Err(self.at(&c.name, p("mailbox"), "a token check needs `mailbox: NAME`")),
            None => None,
        };

        let settings = match kind {
            Kind::Token => CheckSettings::Token,
            Kind::Dns => {
                let Some(query) = &c.query else {
                    return Err(self.at(&c.name, p("query"), "a dns check needs `query: host.name`"));
                };
                if query.value.is_empty() || query.value.len() > 253 || query.value.contains(char::is_whitespace) {
                    return Err(self.at(query, p("query"), format!("`{}` is not a DNS name", query.value)));
                }
                let servers = match &c.dns_servers {
                    Some(s) => self.dns_servers(s, &p("dns_servers"))?,
                    None => global.dns_servers.clone(),
                };
                CheckSettings::Dns {
                    query: query.value.clone(),
                    record: c.record.as_ref().map(|r| r.value).unwrap_or(RecordType::A),
                    servers,
                }
            }
            Kind::Tcp => CheckSettings::Tcp { target: need_target()? },
            Kind::Tls => CheckSettings::Tls {
                target: need_target()?,
                tls: tls_settings()?,
            },
            Kind::Smtp | Kind::Imap | Kind::Pop3 => {
                let default_mode = if kind == Kind::Smtp { TlsMode::Starttls } else { TlsMode::Implicit };
                let mode = c.tls.as_ref().map(|m| m.value).unwrap_or(default_mode);
                if mode == TlsMode::None {
                    for (key, loc) in [
                        ("server_name", c.server_name.as_ref().map(|s| s.referenced)),
                        ("ca_file", c.ca_file.as_ref().map(|s| s.referenced)),
                        ("expected_issuer", c.expected_issuer.as_ref().map(|s| s.referenced)),
                    ] {
                        if let Some(loc) = loc {
                            return Err(self.err(loc, p(key), format!("`{key}` needs TLS, but this check has `tls: none`")));
                        }
                    }
                }
                let ehlo_name = c.ehlo_name.as_ref().map(|s| s.value.clone());
                if let Some(e) = &c.ehlo_name
                    && (e.value.is_empty() || !e.value.chars().all(|ch| ch.is_ascii_alphanumeric() || "-.[]:".contains(ch)))
                {
                    return Err(self.at(e, p("ehlo_name"), "ehlo_name must be a domain name or address literal"));
                }
                CheckSettings::Mail {
                    target: need_target()?,
                    mode,
                    tls: tls_settings()?,
                    ehlo_name,
                }
            }
        };
        Ok(CheckConfig {
            name,
            loc: c.name.referenced.into(),
            kind,
            interval,
            timeout,
            settings,
            mailbox,
        })
    }
}

/// `YYYY-MM-DD` as Unix seconds at midnight UTC.
fn parse_date(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(&format!("{} 00:00:00", text.trim())).ok()?;
    Some(crate::clock::unix_seconds(t))
}

/// Parses `host:port` or `[v6addr]:port`.
pub fn parse_target(text: &str) -> Result<Target, String> {
    let bad = || format!("`{text}` is not host:port (IPv6 addresses go in brackets: [2001:db8::1]:993)");
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        (host, port)
    } else {
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        if host.contains(':') {
            return Err(bad());
        }
        (host, port)
    };
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(format!("`{text}`: port 0 is not a port to connect to"));
    }
    Ok(Target {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            parse_target("smtp.office365.com:587").unwrap(),
            Target {
                host: "smtp.office365.com".into(),
                port: 587
            }
        );
        assert_eq!(parse_target("[::1]:993").unwrap().to_string(), "[::1]:993");
        for bad in ["smtp.office365.com", "::1:993", "host:0", "host:99999", ":25", "[::1]993", "a b:25"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxies_are_http_urls_shown_without_credentials() {
        let yaml = |proxy: &str| {
            format!(
                "tenants:\n  - name: t\n    tenant_id: t.example\n    client_id: c\n    proxy: {proxy}\nchecks:\n  - name: a\n    kind: tcp\n    target: h:1\n"
            )
        };
        for good in [
            "http://proxy:3128",
            "https://proxy:3128/",
            "http://u:s3cret@proxy:3128",
            "http://[::1]:3128",
        ] {
            let cfg = Config::from_yaml(Path::new("t.yaml"), &yaml(good)).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(cfg.tenants[0].proxy.as_deref(), Some(good));
            assert!(!format!("{cfg:?}").contains("s3cret"));
        }
        for bad in [
            "socks5://u:s3cret@h:1080",
            "http://u:s3cret@h:99999",
            "http://u:s3cret@/",
            "u:s3cret@h:3128",
            "http://u:s3cret@h:1/path",
        ] {
            let e = Config::from_yaml(Path::new("t.yaml"), &yaml(bad)).expect_err(bad);
            assert_eq!((e.loc.line, e.field.as_str()), (5, "tenants[0].proxy"), "{bad}");
            assert!(!e.to_string().contains("s3cret") && e.to_string().contains("***@"), "{e}");
        }
    }

    #[test]
    fn defaults_apply() {
        let cfg = Config::from_yaml(
            Path::new("t.yaml"),
            "checks:\n  - name: s\n    kind: smtp\n    target: h:587\n  - name: i\n    kind: imap\n    target: h:993\n",
        )
        .unwrap();
        assert_eq!(cfg.checks[0].interval, DEFAULT_INTERVAL);
        assert_eq!(cfg.checks[0].timeout, DEFAULT_TIMEOUT);
        assert!(matches!(
            cfg.checks[0].settings,
            CheckSettings::Mail {
                mode: TlsMode::Starttls,
                ..
            }
        ));
        assert!(matches!(
            cfg.checks[1].settings,
            CheckSettings::Mail {
                mode: TlsMode::Implicit,
                ..
            }
        ));
    }
}
