//! One configured check: what every check has ([`CheckConfig`]), and the kit
//! a check kind uses to read and validate its own keys ([`CheckSchema`],
//! [`KindKeys`], [`KindSettings`]).
//!
//! The kinds themselves live in `checks/<kind>.rs`, above this module: each
//! hands its [`CheckSchema`] to the loader, which resolves `kind:`, refuses
//! keys the kind does not have and calls the kind's `settings` function with
//! a [`KindKeys`]. Nothing here knows a particular kind.

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde::de::DeserializeOwned;

use super::Global;
use super::error::{ConfigError, Loc};
use super::oauth::{MailProtocol, Mailbox, Tenant};
use super::proxy::{Proxy, ProxyKeys, effective_proxy};
use super::raw::KindKey;
pub use super::target::{Target, parse_target};
use super::validate::Validator;
use crate::reason::Kind;

/// One configured check, validated.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    pub name: String,
    /// Where the check's `name` is written, for errors found after validation.
    pub loc: Loc,
    pub kind: Kind,
    pub interval: Duration,
    pub timeout: Duration,
    /// The kind's own settings (`checks/<kind>.rs` declares the type).
    pub settings: Arc<dyn DynSettings>,
    /// The mailbox whose token the authenticated steps use (mail and token checks).
    pub mailbox: Option<Arc<Mailbox>>,
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
            && self.settings.same_as(other.settings.as_ref())
            && self.mailbox.as_deref() == other.mailbox.as_deref()
    }
}

impl CheckConfig {
    /// What the check talks to, as shown in the `target` label.
    pub fn target_label(&self) -> String {
        self.settings.target_label()
    }

    /// The kind's settings as their own type; `None` for another kind's.
    pub fn settings<T: KindSettings>(&self) -> Option<&T> {
        self.settings.as_any().downcast_ref::<T>()
    }
}

/// The validated settings of one kind of check.
pub trait KindSettings: fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The `host:port` the check connects to, if it is one.
    fn endpoint(&self) -> Option<&Target> {
        None
    }

    /// What the check talks to, as shown in the `target` label: by default
    /// its `host:port`.
    fn target_label(&self) -> String {
        self.endpoint().map(Target::to_string).unwrap_or_default()
    }

    /// The HTTP proxy the check connects through, if it has one (the report
    /// names it; never its credentials).
    fn proxy(&self) -> Option<&Proxy> {
        None
    }

    /// A mailbox this check writes test messages into and deletes them
    /// from (a mail flow check's `to`), with its key and where it is
    /// written. The loader refuses a config in which a check that reads
    /// ECE's mail (IMAP or POP3 with `mailbox:`) uses that mailbox.
    fn probe_mailbox(&self) -> Option<(&str, &'static str, Loc)> {
        None
    }
}

/// [`KindSettings`] behind a pointer: what [`CheckConfig`] holds.
pub trait DynSettings: fmt::Debug + Send + Sync {
    fn target_label(&self) -> String;
    fn endpoint(&self) -> Option<&Target>;
    fn proxy(&self) -> Option<&Proxy>;
    fn probe_mailbox(&self) -> Option<(&str, &'static str, Loc)>;
    fn as_any(&self) -> &dyn Any;
    /// Equal to `other` (false when `other` is another kind's).
    fn same_as(&self, other: &dyn DynSettings) -> bool;
}

impl<T: KindSettings> DynSettings for T {
    fn target_label(&self) -> String {
        KindSettings::target_label(self)
    }

    fn endpoint(&self) -> Option<&Target> {
        KindSettings::endpoint(self)
    }

    fn proxy(&self) -> Option<&Proxy> {
        KindSettings::proxy(self)
    }

    fn probe_mailbox(&self) -> Option<(&str, &'static str, Loc)> {
        KindSettings::probe_mailbox(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same_as(&self, other: &dyn DynSettings) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

/// What the loader needs to know of a kind: its name, its keys, how it uses
/// a mailbox, and the function that reads its keys into its settings.
#[derive(Clone, Copy)]
pub struct CheckSchema {
    pub kind: Kind,
    /// Its keys besides `name`, `kind`, `interval`, `timeout` and `mailbox`.
    pub keys: &'static [&'static str],
    pub mailbox: MailboxUse,
    /// Reads and validates the kind's keys. Every key it does not take is
    /// refused afterwards, so a key in `keys` it forgets to read is a bug the
    /// registry's test finds.
    pub settings: fn(&mut KindKeys<'_>) -> Result<Arc<dyn DynSettings>, ConfigError>,
}

/// Whether a kind takes `mailbox:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxUse {
    NotUsed,
    /// Optional; the mailbox must list this protocol.
    Optional(MailProtocol),
    /// Required (a token check).
    Required,
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

/// Whether a kind's checks use `global.proxy` when they name none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inherit {
    /// `tcp`, `tls`: they check the paths ECE's own HTTPS traffic takes.
    Global,
    /// Mail kinds: ECE's own mail connections are usually direct.
    OwnOnly,
}

/// A check's own keys while its kind reads them. Every error names the
/// file, the line and `checks[i].<key>`.
pub struct KindKeys<'a> {
    pub(super) validator: &'a Validator<'a>,
    pub(super) index: usize,
    pub(super) kind: Kind,
    pub(super) name_loc: Loc,
    pub(super) global: &'a Global,
    pub(super) mailbox: Option<&'a Arc<Mailbox>>,
    pub(super) tenants: &'a [Arc<Tenant>],
    pub(super) mailboxes: &'a [Arc<Mailbox>],
    /// The check's interval (its own or `global.interval`), and where its
    /// own is written.
    pub(super) interval: (Duration, Option<Loc>),
    /// The check's timeout, and where its own is written.
    pub(super) timeout: (Duration, Option<Loc>),
    pub(super) keys: Vec<KindKey>,
}

impl KindKeys<'_> {
    /// The kind being read.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The check's mailbox, if it names one.
    pub fn mailbox(&self) -> Option<&Arc<Mailbox>> {
        self.mailbox
    }

    /// `tenant: NAME`, required: one of `tenants:`, with where it is written.
    pub fn tenant(&mut self) -> Result<(Arc<Tenant>, Loc), ConfigError> {
        let Some((name, loc)) = self.take::<String>("tenant")? else {
            return Err(self.missing("tenant", format!("a {} check needs `tenant: NAME` (one of `tenants:`)", self.kind)));
        };
        match self.tenants.iter().find(|t| t.name == name) {
            Some(t) => Ok((t.clone(), loc)),
            None => {
                let known: Vec<String> = self.tenants.iter().map(|t| format!("`{}`", t.name)).collect();
                let known = if known.is_empty() {
                    "none is configured".to_string()
                } else {
                    known.join(", ")
                };
                Err(self.error(loc, "tenant", format!("no tenant named `{name}` under `tenants:` ({known})")))
            }
        }
    }

    /// The check's interval, and where it is written (the check's name when
    /// it is `global.interval`'s).
    pub fn interval(&self) -> (Duration, Loc) {
        (self.interval.0, self.interval.1.unwrap_or(self.name_loc))
    }

    /// The check's timeout, and where it is written (the check's name when
    /// it is `global.timeout`'s).
    pub fn timeout(&self) -> (Duration, Loc) {
        (self.timeout.0, self.timeout.1.unwrap_or(self.name_loc))
    }

    /// `key: NAME`, required: one of `mailboxes:`, with where it is written.
    pub fn mailbox_named(&mut self, key: &str) -> Result<(Arc<Mailbox>, Loc), ConfigError> {
        let Some((name, loc)) = self.take::<String>(key)? else {
            return Err(self.missing(key, format!("a {} check needs `{key}: NAME` (one of `mailboxes:`)", self.kind)));
        };
        match self.mailboxes.iter().find(|m| m.name == name) {
            Some(m) => Ok((m.clone(), loc)),
            None => Err(self.error(loc, key, format!("no mailbox named `{name}` under `mailboxes:`"))),
        }
    }

    /// `checks[i].<key>`.
    pub fn field(&self, key: &str) -> String {
        format!("checks[{}].{key}", self.index)
    }

    /// An error at `loc` about `key`.
    pub fn error(&self, loc: Loc, key: &str, message: impl Into<String>) -> ConfigError {
        self.validator.err(loc, self.field(key), message)
    }

    /// An error about a key that is missing (located at the check's name).
    pub fn missing(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.error(self.name_loc, key, message)
    }

    /// Takes `key` and reads it as a `T`, with where its value is written.
    pub fn take<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<(T, Loc)>, ConfigError> {
        let Some(i) = self.keys.iter().position(|k| k.key == key) else {
            return Ok(None);
        };
        let k = self.keys.remove(i);
        let loc = Loc::from(k.value.referenced);
        let value = k.value.value;
        // A plain scalar that YAML reads as a number or a boolean is still
        // text where the key wants text (`ehlo_name: 12345`), as it is for
        // the keys every check has.
        let as_text = match &value {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match T::deserialize(value) {
            Ok(v) => Ok(Some((v, loc))),
            Err(e) => match as_text.map(|t| T::deserialize(serde_json::Value::String(t))) {
                Some(Ok(v)) => Ok(Some((v, loc))),
                _ => Err(self.error(loc, key, e.to_string())),
            },
        }
    }

    /// Where `key` is written, if it still is to be read.
    pub fn loc_of(&self, key: &str) -> Option<Loc> {
        self.keys.iter().find(|k| k.key == key).map(|k| Loc::from(k.value.referenced))
    }

    /// `target: host:port`, required.
    pub fn target(&mut self) -> Result<Target, ConfigError> {
        self.target_at("target")
    }

    /// `key: host:port`, required (`target`, or a second endpoint's key).
    pub fn target_at(&mut self, key: &str) -> Result<Target, ConfigError> {
        match self.take::<String>(key)? {
            Some((text, loc)) => parse_target(&text).map_err(|m| self.error(loc, key, m)),
            None => Err(self.missing(key, format!("a {} check needs `{key}: host:port`", self.kind))),
        }
    }

    /// `key`: a name for SNI and certificate verification, if written.
    pub fn server_name_at(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        let server_name = self.take::<String>(key)?;
        if let Some((sn, loc)) = &server_name
            && rustls_pki_types::ServerName::try_from(sn.as_str()).is_err()
        {
            return Err(self.error(*loc, key, format!("`{sn}` is not a valid DNS name or IP address")));
        }
        Ok(server_name.map(|(s, _)| s))
    }

    /// `server_name`, `ca_file` and `expected_issuer`.
    pub fn tls_settings(&mut self) -> Result<TlsSettings, ConfigError> {
        let extra_ca = match self.take::<PathBuf>("ca_file")? {
            Some((path, loc)) => self.validator.ca_set(&path, loc, &self.field("ca_file"), self.global)?,
            None => self.global.extra_ca.clone(),
        };
        Ok(TlsSettings {
            server_name: self.server_name_at("server_name")?,
            extra_ca,
            expected_issuer: self.take::<String>("expected_issuer")?.map(|(s, _)| s),
        })
    }

    /// `dns_servers`, defaulting to `global.dns_servers`.
    pub fn dns_servers(&mut self) -> Result<Vec<SocketAddr>, ConfigError> {
        match self.take::<Vec<String>>("dns_servers")? {
            Some((list, loc)) => self.validator.dns_servers(&list, loc, &self.field("dns_servers")),
            None => Ok(self.global.dns_servers.clone()),
        }
    }

    /// `proxy`, `proxy_user` and `proxy_password` (the kind lists all three
    /// in its keys): the proxy a connection to `target` goes through, if
    /// any. Without `proxy:` on the check, `global.proxy` applies when the
    /// kind `inherits` it (`tcp`, `tls`), else the connection is direct.
    pub fn proxy(&mut self, target: &Target, inherits: Inherit) -> Result<Option<Proxy>, ConfigError> {
        let mut text = |key: &str| -> Result<Option<(String, Loc)>, ConfigError> { self.take::<String>(key) };
        let (proxy, user, password) = (text("proxy")?, text("proxy_user")?, text("proxy_password")?);
        let index = self.index;
        let setting = self.validator.proxy_setting(ProxyKeys {
            proxy,
            user,
            password,
            field: &|k| format!("checks[{index}].{k}"),
            quiet: false,
        })?;
        let inherited = (inherits == Inherit::Global).then_some(&self.global.proxy);
        Ok(effective_proxy(setting.as_ref(), inherited, target))
    }

    /// Refuses the first key nobody took: not one of this kind's.
    pub(super) fn finish(self, schemas: &[&CheckSchema]) -> Result<(), ConfigError> {
        let Some(k) = self.keys.first() else {
            return Ok(());
        };
        Err(not_for_kind(
            self.validator,
            self.index,
            self.kind,
            &k.key,
            Loc::from(k.value.referenced),
            schemas,
        ))
    }
}

/// The error for a key the check's kind does not have: which kinds have it,
/// or, when none does, every key a check of this kind may have.
pub(super) fn not_for_kind(
    validator: &Validator<'_>,
    index: usize,
    kind: Kind,
    key: &str,
    value_loc: Loc,
    schemas: &[&CheckSchema],
) -> ConfigError {
    let field = format!("checks[{index}].{key}");
    let owners: Vec<&str> = schemas
        .iter()
        .filter(|s| s.keys.contains(&key) || (key == "mailbox" && s.mailbox != MailboxUse::NotUsed))
        .map(|s| s.kind.as_str())
        .collect();
    if owners.is_empty() {
        let mut known: Vec<&str> = super::raw::COMMON_KEYS.to_vec();
        if let Some(schema) = schemas.iter().find(|s| s.kind == kind) {
            known.extend(schema.keys);
        }
        let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        return validator.err(
            validator.key_loc(key, value_loc),
            field,
            format!("unknown field `{key}`, expected one of {}", known.join(", ")),
        );
    }
    validator.err(
        value_loc,
        field,
        format!("`{key}` does not apply to a {kind} check (it applies to: {})", owners.join(", ")),
    )
}
